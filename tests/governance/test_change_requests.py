"""Change requests: proposing, every transition allowed and forbidden, votes and quorum."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.governance import selectors, services
from reviewapp.governance.hashes import document_hash
from reviewapp.governance.models import Approval, ChangeRequest, PolicyVersion
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory, make_policy

from .cr_helpers import approve, give_evidence, other_hash, proposal, submitted

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status


def create(model, user, **kwargs):
    args = {"document": proposal(), "rationale": "Because."} | kwargs
    return services.change_request_create(model_slug=model.slug, user=user, **args)


# --- proposing ----------------------------------------------------------------------------
def test_a_draft_records_base_document_hash_and_proposer(fraud_model, proposer):
    cr = create(fraud_model, proposer)
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert cr.status == S.DRAFT and cr.kind == "routing_policy"
    assert (cr.base_version, cr.base_hash) == (active.version, active.rules_hash)
    assert cr.document_hash == document_hash(proposal())
    assert cr.proposer == proposer and not cr.stale
    assert AuditEvent.objects.filter(verb="governance.change_request.created").count() == 1


@pytest.mark.parametrize("role", ["reviewer", "committee", "catalog_editor"])
def test_only_engineers_and_leads_propose(fraud_model, role):
    with pytest.raises(PermissionDenied):
        create(fraud_model, UserFactory(roles=[role]))


def test_a_lead_proposes(fraud_model, lead):
    assert create(fraud_model, lead).proposer == lead


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rationale": "  "}, "rationale"),
        ({"document": {**DEFAULT_RULES, "min_confidence": 2}}, "rules.min_confidence"),
        ({"document": DEFAULT_RULES}, "rules"),  # equal to the active version
        ({"kind": "no_such_kind"}, "kind"),
        ({"shadow_minutes": 0}, "shadow_minutes"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for"),
        (
            {
                "rollback_triggers": [
                    {"metric": "nope", "op": ">", "bound": 1, "duration_minutes": 30}
                ]
            },
            "rollback_triggers[0].metric",
        ),
        (
            {
                "rollback_triggers": [
                    {"metric": "override_rate", "op": ">=", "bound": 0.15, "duration_minutes": 30}
                ]
            },
            "rollback_triggers[0].op",
        ),  # fmt: skip
        ({"rollback_triggers": {"metric": "x"}}, "rollback_triggers"),
    ],
)
def test_bad_proposals_name_the_field_and_write_nothing(fraud_model, proposer, kwargs, field):
    with pytest.raises(ServiceError) as caught:
        create(fraud_model, proposer, **kwargs)
    assert caught.value.status == 400
    assert field in caught.value.errors
    assert not ChangeRequest.objects.exists()


def test_an_unknown_model_is_a_404_naming_model(db, proposer):
    with pytest.raises(NotFound) as caught:
        services.change_request_create(
            model_slug="ghost", user=proposer, document=proposal(), rationale="x"
        )
    assert "model" in caught.value.errors


def test_rollback_triggers_on_known_metrics_are_stored(fraud_model, proposer):
    triggers = [{"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 30}]
    cr = create(fraud_model, proposer, rollback_triggers=triggers, shadow_minutes=60)
    assert cr.rollback_triggers == triggers and cr.shadow_minutes == 60


# --- the happy path -------------------------------------------------------------------------
def test_two_approvals_on_a_critical_model_apply_the_next_version(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    assert cr.status == S.IN_REVIEW
    cr = approve(cr, committee[0], digest)
    assert cr.status == S.IN_REVIEW  # critical: 2 approvals
    cr = approve(cr, committee[1], digest)
    assert cr.status == S.APPLIED and cr.applied_version == 2 and cr.applied_at
    new = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert new.version == 2 and new.change_request == cr and new.rules == proposal()
    assert new.rules_hash == cr.document_hash
    verbs = list(
        AuditEvent.objects.filter(target_id=str(cr.pk), target_type="governance.changerequest")
        .order_by("id")
        .values_list("verb", flat=True)
    )
    assert verbs == [
        "governance.change_request.created",
        "governance.change_request.submitted",
        "governance.change_request.evidence_recorded",
        "governance.change_request.voted",
        "governance.change_request.voted",
        "governance.change_request.approved",
        "governance.change_request.applied",
    ]


def test_a_medium_model_needs_one_approval(db, proposer, committee):
    model = MLModelFactory(slug="churn", labels=["stay", "leave"], criticality="medium")
    make_policy(model, {**DEFAULT_RULES, "min_confidence_by_label": {}})
    cr, digest = submitted(model, proposer, document={**DEFAULT_RULES, "min_confidence_by_label": {},
                                                      "min_confidence": 0.8})  # fmt: skip
    assert approve(cr, committee[0], digest).status == S.APPLIED


# --- forbidden votes ------------------------------------------------------------------------
def test_self_approval_is_refused_even_for_a_superuser(fraud_model, committee):
    boss = UserFactory(username="root", is_superuser=True)
    cr, digest = submitted(fraud_model, boss)
    with pytest.raises(PermissionDenied) as caught:
        approve(cr, boss, digest)
    assert caught.value.status == 403
    assert not Approval.objects.exists()


def test_a_second_vote_by_the_same_member_is_a_409(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    with pytest.raises(Conflict) as caught:
        approve(cr, committee[0], digest)
    assert caught.value.code == "duplicate_vote"
    assert Approval.objects.count() == 1


@pytest.mark.parametrize("role", ["engineer", "lead", "reviewer"])
def test_only_committee_members_vote(fraud_model, proposer, committee, role):
    cr, digest = submitted(fraud_model, proposer)
    with pytest.raises(PermissionDenied):
        approve(cr, UserFactory(roles=[role]), digest)


def test_a_named_approver_group_replaces_the_committee(fraud_model, proposer, committee):
    risk = Group.objects.create(name="fraud-risk")
    member = UserFactory(username="rita")
    member.groups.add(risk)
    admin = UserFactory(username="root", is_superuser=True)
    services.approval_rule_set(
        model_slug="card-fraud", user=admin, approver_group=risk, required_approvals=1
    )
    cr, digest = submitted(fraud_model, proposer)
    with pytest.raises(PermissionDenied):
        approve(cr, committee[0], digest)
    assert approve(cr, member, digest).status == S.APPLIED


def test_only_an_administrator_sets_the_approval_rule(fraud_model, committee):
    with pytest.raises(PermissionDenied):
        services.approval_rule_set(model_slug="card-fraud", user=committee[0], required_approvals=1)


def test_approving_a_stale_request_is_a_409(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    other, other_digest = submitted(
        fraud_model, UserFactory(roles=["lead"]), proposal(min_confidence=0.6)
    )
    approve(other, committee[0], other_digest)
    approve(other, committee[1], other_digest)  # applied: cr's base moved
    with pytest.raises(Conflict) as caught:
        approve(cr, committee[2], digest)
    assert caught.value.code == "stale"


def test_an_old_evidence_hash_is_refused(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    with pytest.raises(Conflict) as caught:
        approve(cr, committee[0], other_hash())
    assert caught.value.code == "evidence_changed" and "evidence_hash" in caught.value.errors
    newer = give_evidence(cr, reviewed_volume_change=0.1)
    with pytest.raises(Conflict):
        approve(cr, committee[0], digest)
    approve(cr, committee[0], newer)


def test_no_vote_before_the_evidence_is_stored(fraud_model, proposer, committee):
    cr = create(fraud_model, proposer)
    services.change_request_submit(change_request_id=cr.pk, user=proposer)
    with pytest.raises(Conflict) as caught:
        approve(cr, committee[0], "")
    assert caught.value.code == "evidence_pending"


def test_recomputed_evidence_lapses_votes_cast_on_the_old_one(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    give_evidence(cr, reviewed_volume_change=0.05)
    assert selectors.quorum(cr).approvals == 0
    assert Approval.objects.get().lapsed_at is not None


def test_evidence_of_an_older_revision_is_refused(fraud_model, proposer):
    cr, _digest = submitted(fraud_model, proposer)
    services.change_request_edit(change_request_id=cr.pk, user=proposer, rationale="Better words.")
    with pytest.raises(Conflict):
        services.change_request_evidence_set(
            change_request_id=cr.pk,
            revision=1,
            evidence_hash=other_hash(),
            summary={},
            actor=Actor.system("evidence"),
        )


def test_a_replay_mismatch_blocks_approval(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"replay_mismatches": 3})
    with pytest.raises(Conflict) as caught:
        approve(cr, committee[0], digest)
    assert caught.value.code == "replay_mismatch"


def test_a_calibration_warning_needs_an_acknowledgement(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"calibration_warning": True})
    with pytest.raises(ServiceError) as caught:
        approve(cr, committee[0], digest)
    assert caught.value.status == 400 and "acknowledge_risk" in caught.value.errors
    approve(cr, committee[0], digest, acknowledge_risk=True)
    assert Approval.objects.get().acknowledge_risk


# --- quorum -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "summary",
    [
        {"reviewed_volume_change": 0.3},
        {"reviewed_volume_change": -0.26},
        {"escaping_errors_delta": 1},
        {"calibration_warning": True},
    ],
)
def test_proportional_quorum_asks_one_more_approval(fraud_model, proposer, committee, summary):
    cr, digest = submitted(fraud_model, proposer, summary=summary)
    q = selectors.quorum(cr)
    assert (q.base, q.wanted, q.required) == (2, 3, 3) and q.reasons
    for member in committee[:2]:
        cr = approve(cr, member, digest, acknowledge_risk=True)
    assert cr.status == S.IN_REVIEW
    assert approve(cr, committee[2], digest, acknowledge_risk=True).status == S.APPLIED


def test_small_changes_need_no_extra_approval(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.25,
                                                      "escaping_errors_delta": 0})  # fmt: skip
    q = selectors.quorum(cr)
    assert q.required == 2 and q.reasons == ()


def test_required_approvals_never_exceed_eligible_voters(fraud_model, proposer):
    only = UserFactory(username="cora", roles=["committee"])
    cr, digest = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.9})
    q = selectors.quorum(cr)
    assert (q.wanted, q.eligible, q.required, q.committee_too_small) == (3, 1, 1, True)
    assert approve(cr, only, digest).status == S.APPLIED


def test_the_proposer_is_not_an_eligible_voter(fraud_model, committee):
    member = committee[0]
    member.groups.add(Group.objects.get(name="engineer"))
    cr, _ = submitted(fraud_model, member)
    assert selectors.quorum(cr).eligible == 2


# --- edits ----------------------------------------------------------------------------------
def test_an_edit_of_the_rationale_clears_the_votes(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    services.change_request_edit(change_request_id=cr.pk, user=proposer, rationale="New words.")
    cr.refresh_from_db()
    assert cr.revision == 2 and selectors.quorum(cr).approvals == 0
    assert Approval.objects.get().lapsed_at is not None
    # the first member votes again on the new revision
    digest = give_evidence(cr)
    approve(cr, committee[0], digest)
    assert selectors.quorum(cr).approvals == 1


def test_an_edit_of_the_document_clears_votes_and_evidence(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    services.change_request_edit(
        change_request_id=cr.pk, user=proposer, document=proposal(min_confidence=0.72)
    )
    cr.refresh_from_db()
    assert cr.evidence_hash == "" and cr.document_hash == document_hash(
        proposal(min_confidence=0.72)
    )
    with pytest.raises(Conflict):
        approve(cr, committee[1], digest)


def test_only_the_proposer_edits_and_not_after_approval(fraud_model, proposer, committee, lead):
    cr, digest = submitted(fraud_model, proposer, scheduled_for=None)
    with pytest.raises(PermissionDenied):
        services.change_request_edit(change_request_id=cr.pk, user=lead, rationale="Mine now.")
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    with pytest.raises(Conflict):
        services.change_request_edit(change_request_id=cr.pk, user=proposer, rationale="Late.")


# --- transitions ----------------------------------------------------------------------------
def test_changes_requested_then_resubmitted(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    services.change_request_request_changes(
        change_request_id=cr.pk, user=committee[0], comment="Show the **weekend** traffic."
    )
    cr.refresh_from_db()
    assert cr.status == S.CHANGES_REQUESTED
    assert "<strong>weekend</strong>" in cr.comments.get().html
    with pytest.raises(PermissionDenied):
        services.change_request_resubmit(change_request_id=cr.pk, user=committee[0])
    services.change_request_resubmit(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.status == S.IN_REVIEW


def test_a_rejection_needs_a_comment_and_a_voter(fraud_model, proposer, committee):
    cr, _ = submitted(fraud_model, proposer)
    with pytest.raises(ServiceError) as caught:
        services.change_request_reject(change_request_id=cr.pk, user=committee[0], comment=" ")
    assert "comment" in caught.value.errors
    with pytest.raises(PermissionDenied):
        services.change_request_reject(change_request_id=cr.pk, user=proposer, comment="No.")
    services.change_request_reject(change_request_id=cr.pk, user=committee[0], comment="Too risky.")
    cr.refresh_from_db()
    assert cr.status == S.REJECTED and cr.comments.get().body == "Too risky."


@pytest.mark.parametrize(
    "status", [S.DRAFT, S.IN_REVIEW, S.CHANGES_REQUESTED, S.APPROVED, S.SCHEDULED]
)
def test_the_proposer_withdraws_an_open_request(fraud_model, proposer, status):
    cr = create(fraud_model, proposer)
    ChangeRequest.objects.filter(pk=cr.pk).update(status=status)
    with pytest.raises(PermissionDenied):
        services.change_request_withdraw(change_request_id=cr.pk, user=UserFactory(roles=["lead"]))
    services.change_request_withdraw(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.status == S.WITHDRAWN


FORBIDDEN = [
    # (status, service, who)
    (S.DRAFT, "approve", "committee"),
    (S.DRAFT, "reject", "committee"),
    (S.DRAFT, "request_changes", "committee"),
    (S.DRAFT, "resubmit", "proposer"),
    (S.IN_REVIEW, "submit", "proposer"),
    (S.IN_REVIEW, "resubmit", "proposer"),
    (S.CHANGES_REQUESTED, "approve", "committee"),
    (S.CHANGES_REQUESTED, "reject", "committee"),
    (S.APPROVED, "submit", "proposer"),
    (S.APPROVED, "approve", "committee"),
    (S.SCHEDULED, "reject", "committee"),
    (S.APPLIED, "withdraw", "proposer"),
    (S.APPLIED, "approve", "committee"),
    (S.REJECTED, "submit", "proposer"),
    (S.REJECTED, "withdraw", "proposer"),
    (S.WITHDRAWN, "submit", "proposer"),
    (S.EXPIRED, "resubmit", "proposer"),
    (S.EXPIRED, "withdraw", "proposer"),
]


@pytest.mark.parametrize(("status", "action", "who"), FORBIDDEN)
def test_forbidden_transitions_are_409_and_write_nothing(
    fraud_model, proposer, committee, status, action, who
):
    cr, digest = submitted(fraud_model, proposer)
    ChangeRequest.objects.filter(pk=cr.pk).update(status=status)
    user = proposer if who == "proposer" else committee[0]
    events = AuditEvent.objects.count()
    calls = {
        "approve": lambda: services.change_request_approve(
            change_request_id=cr.pk, user=user, evidence_hash=digest
        ),
        "reject": lambda: services.change_request_reject(
            change_request_id=cr.pk, user=user, comment="No."
        ),
        "request_changes": lambda: services.change_request_request_changes(
            change_request_id=cr.pk, user=user
        ),
        "submit": lambda: services.change_request_submit(change_request_id=cr.pk, user=user),
        "resubmit": lambda: services.change_request_resubmit(change_request_id=cr.pk, user=user),
        "withdraw": lambda: services.change_request_withdraw(change_request_id=cr.pk, user=user),
    }
    with pytest.raises(Conflict) as caught:
        calls[action]()
    assert caught.value.status == 409
    cr.refresh_from_db()
    assert cr.status == status
    assert AuditEvent.objects.count() == events
    assert not Approval.objects.exists()


def test_apply_without_quorum_is_refused(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    with pytest.raises(Conflict):  # in review: not approved
        services.change_request_apply(change_request_id=cr.pk, actor=Actor.system("t"))
    # even marked approved by hand, one vote of two does not apply
    ChangeRequest.objects.filter(pk=cr.pk).update(status=S.APPROVED)
    with pytest.raises(Conflict) as caught:
        services.change_request_apply(change_request_id=cr.pk, actor=Actor.system("t"))
    assert caught.value.code == "no_quorum"
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


def test_comments_from_participants_only(fraud_model, proposer, committee, reviewer):
    cr, _ = submitted(fraud_model, proposer)
    services.change_request_comment(
        change_request_id=cr.pk, user=committee[0], body="Looks <b>ok</b><script>x</script>"
    )
    assert "<script>" not in cr.comments.get().html
    with pytest.raises(PermissionDenied):
        services.change_request_comment(change_request_id=cr.pk, user=reviewer, body="Hi")
    with pytest.raises(ServiceError):
        services.change_request_comment(change_request_id=cr.pk, user=proposer, body=" ")


def test_a_deactivated_members_vote_and_comment_stay(fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    services.change_request_comment(change_request_id=cr.pk, user=committee[0], body="Fine.")
    committee[0].is_active = False
    committee[0].save()
    assert Approval.objects.filter(user=committee[0]).exists()
    assert cr.comments.filter(author=committee[0]).exists()
