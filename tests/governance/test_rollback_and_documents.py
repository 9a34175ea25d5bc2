"""Rollbacks, emergency rollback and ratification, model settings, bootstrap."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.governance import selectors, services, tasks
from reviewapp.governance.models import ChangeRequest, DocumentVersion, PolicyVersion
from reviewapp.models import MLModel
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory

from .cr_helpers import approve, give_evidence, proposal, submitted

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status
SETTINGS = {
    "criticality": "critical",
    "cost_of_wrong_decision": 250.0,
    "cost_per_hour_of_delay": 40,
    "regulatory_class": "regulated",
}


def applied(model, proposer, committee, document):
    cr, digest = submitted(model, proposer, document)
    approve(cr, committee[0], digest)
    return approve(cr, committee[1], digest)


# --- rollback through a request -------------------------------------------------------------
def test_a_rollback_writes_a_new_version_equal_to_the_old_one(fraud_model, proposer, committee):
    applied(fraud_model, proposer, committee, proposal())  # v2
    cr = services.change_request_rollback_draft(
        model_slug="card-fraud", to_version=1, user=proposer, rationale="v2 routes too little."
    )
    assert cr.restores_version == 1 and cr.base_version == 2
    services.change_request_submit(change_request_id=cr.pk, user=proposer)
    digest = give_evidence(cr)
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)
    v1, v3 = (PolicyVersion.objects.get(model_slug="card-fraud", version=n) for n in (1, 3))
    assert cr.applied_version == 3 and v3.is_active
    assert v3.rules_hash == v1.rules_hash and v3.rules == v1.rules


def test_rolling_back_to_the_active_version_is_refused(fraud_model, proposer):
    with pytest.raises(ServiceError) as caught:
        services.change_request_rollback_draft(
            model_slug="card-fraud", to_version=1, user=proposer, rationale="x"
        )
    assert "rules" in caught.value.errors


# --- emergency rollback -----------------------------------------------------------------------
def test_a_lead_rolls_back_to_the_previous_version_at_once(fraud_model, proposer, committee, lead):
    applied(fraud_model, proposer, committee, proposal())  # v2
    with pytest.raises(Conflict) as caught:
        services.emergency_rollback(model_slug="card-fraud", to_version=2, reason="x", user=lead)
    assert "to_version" in caught.value.errors
    with pytest.raises(ServiceError) as caught:
        services.emergency_rollback(model_slug="card-fraud", to_version=1, reason=" ", user=lead)
    assert "reason" in caught.value.errors
    with pytest.raises(PermissionDenied):
        services.emergency_rollback(
            model_slug="card-fraud", to_version=1, reason="x", user=proposer
        )

    cr = services.emergency_rollback(
        model_slug="card-fraud", to_version=1, reason="Queue flooded", user=lead
    )
    assert cr.status == S.APPLIED and cr.is_emergency and cr.applied_version == 3
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert active.version == 3
    assert (
        active.rules_hash
        == PolicyVersion.objects.get(model_slug="card-fraud", version=1).rules_hash
    )
    assert cr.ratification_due - cr.applied_at == pytest.approx(
        dt.timedelta(hours=24), abs=dt.timedelta(seconds=5)
    )
    assert list(selectors.emergency_rollbacks_awaiting_ratification()) == [cr]
    assert AuditEvent.objects.filter(verb="governance.change_request.rolled_back").count() == 1


def test_only_the_version_active_just_before_can_be_restored(
    fraud_model, proposer, committee, lead
):
    applied(fraud_model, proposer, committee, proposal())  # v2
    applied(fraud_model, proposer, committee, proposal(min_confidence=0.8))  # v3
    with pytest.raises(Conflict):
        services.emergency_rollback(model_slug="card-fraud", to_version=1, reason="x", user=lead)
    cr = services.emergency_rollback(model_slug="card-fraud", to_version=2, reason="x", user=lead)
    assert cr.restores_version == 2


def test_ratification_by_one_committee_member(fraud_model, proposer, committee):
    lead = UserFactory(username="lee", roles=["lead", "committee"])
    applied(fraud_model, proposer, committee, proposal())
    cr = services.emergency_rollback(model_slug="card-fraud", to_version=1, reason="x", user=lead)
    with pytest.raises(PermissionDenied):
        services.change_request_ratify(change_request_id=cr.pk, user=lead)  # their own
    with pytest.raises(PermissionDenied):
        services.change_request_ratify(change_request_id=cr.pk, user=proposer)
    services.change_request_ratify(change_request_id=cr.pk, user=committee[0])
    cr.refresh_from_db()
    assert cr.ratified_by == committee[0] and cr.ratified_at
    with pytest.raises(Conflict):
        services.change_request_ratify(change_request_id=cr.pk, user=committee[1])
    assert not selectors.emergency_rollbacks_awaiting_ratification().exists()
    assert tasks.ratifications_overdue() == 0


def test_without_ratification_in_24_h_it_becomes_an_open_request(
    fraud_model, proposer, committee, lead
):
    applied(fraud_model, proposer, committee, proposal())  # v2
    cr = services.emergency_rollback(model_slug="card-fraud", to_version=1, reason="x", user=lead)
    assert tasks.ratifications_overdue() == 0  # not due yet
    ChangeRequest.objects.filter(pk=cr.pk).update(
        ratification_due=timezone.now() - dt.timedelta(minutes=1)
    )
    assert tasks.ratifications_overdue() == 1
    assert tasks.ratifications_overdue() == 0  # once
    cr.refresh_from_db()
    follow_up = cr.follow_up
    assert follow_up.status == S.IN_REVIEW and follow_up.base_version == 3
    assert follow_up.document == proposal() and follow_up.restores_version == 2
    # the lead (its proposer) cannot make it go away
    with pytest.raises(Conflict):
        services.change_request_withdraw(change_request_id=follow_up.pk, user=lead)
    # ratifying late withdraws the revert request
    services.change_request_ratify(change_request_id=cr.pk, user=committee[0])
    follow_up.refresh_from_db()
    assert follow_up.status == S.WITHDRAWN


def test_the_overdue_revert_request_can_be_approved(fraud_model, proposer, committee, lead):
    applied(fraud_model, proposer, committee, proposal())
    cr = services.emergency_rollback(model_slug="card-fraud", to_version=1, reason="x", user=lead)
    ChangeRequest.objects.filter(pk=cr.pk).update(ratification_due=timezone.now())
    tasks.ratifications_overdue()
    cr.refresh_from_db()
    digest = give_evidence(cr.follow_up)
    approve(cr.follow_up, committee[0], digest)
    follow_up = approve(cr.follow_up, committee[1], digest)
    assert follow_up.status == S.APPLIED
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert active.rules == proposal()


# --- model settings and bootstrap ----------------------------------------------------------------
def test_model_settings_bootstrap_then_a_change_sets_the_models_criticality(
    fraud_model, proposer, committee
):
    boot = services.change_request_bootstrap(
        model_slug="card-fraud", kind="model_settings", document=SETTINGS,
        rationale="Initial settings.", actor=Actor.system("install"),
    )  # fmt: skip
    assert boot.status == S.APPLIED and boot.base_version is None and boot.proposer is None
    # No earlier version to replay against: the evidence is the document, on the record.
    assert boot.evidence_state == "ready" and len(boot.evidence_hash) == 64
    assert boot.evidence_summary == {"bootstrap": True}
    with pytest.raises(Conflict):
        services.change_request_bootstrap(
            model_slug="card-fraud", kind="model_settings", document=SETTINGS,
            rationale="Again.", actor=Actor.system("install"),
        )  # fmt: skip
    lower = {**SETTINGS, "criticality": "medium"}
    cr, digest = submitted(fraud_model, proposer, lower, kind="model_settings")
    assert cr.base_version == 1
    approve(cr, committee[0], digest)
    cr = approve(cr, committee[1], digest)  # critical while voting: 2 approvals
    assert cr.status == S.APPLIED
    assert MLModel.objects.get(slug="card-fraud").criticality == "medium"
    active = DocumentVersion.objects.get(
        model_slug="card-fraud", kind="model_settings", is_active=True
    )
    assert active.version == 2 and active.document == lower and active.change_request == cr
    assert AuditEvent.objects.filter(verb="queue.ml_model.settings_applied").count() == 2
    # medium now: the next request needs one approval
    nxt, _ = submitted(fraud_model, proposer, proposal())
    assert selectors.quorum(nxt).required == 1
    # the policy's versions are untouched by a settings change
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


def test_strict_output_is_a_model_setting_applied_and_audited(fraud_model, proposer, committee):
    """Set through a model_settings change request (absent means off), written on the model's
    row, audited before/after like the criticality, and read by the next ingest at once."""
    from reviewapp.services.ingest import model_catalogue

    services.change_request_bootstrap(
        model_slug="card-fraud", kind="model_settings", document=SETTINGS,
        rationale="Initial settings.", actor=Actor.system("install"),
    )  # fmt: skip
    assert MLModel.objects.get(slug="card-fraud").strict_output is False
    assert model_catalogue()["card-fraud"].strict_output is False
    cr, digest = submitted(
        fraud_model, proposer, {**SETTINGS, "strict_output": True}, kind="model_settings"
    )
    approve(cr, committee[0], digest)
    assert approve(cr, committee[1], digest).status == S.APPLIED
    assert MLModel.objects.get(slug="card-fraud").strict_output is True
    assert model_catalogue()["card-fraud"].strict_output is True
    event = AuditEvent.objects.filter(verb="queue.ml_model.settings_applied").latest("id")
    assert event.before == {"criticality": "critical", "strict_output": False}
    assert event.after == {"criticality": "critical", "strict_output": True}
    # Leaving it out of the next version turns it off again.
    cr, digest = submitted(fraud_model, proposer, SETTINGS, kind="model_settings")
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    assert MLModel.objects.get(slug="card-fraud").strict_output is False


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({**SETTINGS, "criticality": "urgent"}, "rules.criticality"),
        ({**SETTINGS, "cost_of_wrong_decision": -1}, "rules.cost_of_wrong_decision"),
        ({**SETTINGS, "cost_per_hour_of_delay": True}, "rules.cost_per_hour_of_delay"),
        ({**SETTINGS, "regulatory_class": "eu"}, "rules.regulatory_class"),
        ({**SETTINGS, "colour": "red"}, "rules.colour"),
        ({**SETTINGS, "strict_output": "yes"}, "rules.strict_output"),
        ([1], "rules"),
    ],
)
def test_bad_model_settings_name_the_field(fraud_model, proposer, document, field):
    with pytest.raises(ServiceError) as caught:
        services.change_request_create(
            model_slug="card-fraud", kind="model_settings", user=proposer, document=document,
            rationale="x",
        )  # fmt: skip
    assert field in caught.value.errors


def test_a_models_first_policy_is_a_request_with_no_base(db, proposer, committee):
    MLModelFactory(slug="churn", labels=["stay", "leave"], criticality="low")
    rules = {**DEFAULT_RULES, "min_confidence_by_label": {}}
    cr, digest = submitted(MLModelFactory(slug="churn"), proposer, rules)
    assert cr.base_version is None and cr.base_hash == ""
    assert approve(cr, committee[0], digest).applied_version == 1


def test_leads_may_not_change_models_in_the_admin(lead):
    assert not lead.has_perm("reviewapp.change_mlmodel")
    assert lead.has_perm("reviewapp.configure_callback")
    assert not Group.objects.get(name="lead").permissions.filter(codename="change_mlmodel").exists()


def test_the_admin_shows_governed_documents_read_only(client, fraud_model):
    admin_user = UserFactory(username="root", is_superuser=True, is_staff=True)
    client.force_login(admin_user)
    assert client.get("/admin/governance/policyversion/").status_code == 200
    assert client.get("/admin/governance/changerequest/").status_code == 200
    assert client.get("/admin/governance/policyversion/add/").status_code == 403
    policy = PolicyVersion.objects.get(model_slug="card-fraud")
    response = client.post(
        "/admin/governance/policyversion/",
        {"action": "activate_selected", "_selected_action": [policy.pk]},
    )
    assert response.status_code in (200, 302)
    assert PolicyVersion.objects.filter(model_slug="card-fraud").count() == 1


def test_an_emergency_rollback_asks_for_its_evidence_for_the_ratifiers(
    fraud_model, proposer, committee, lead, django_capture_on_commit_callbacks
):
    from reviewapp.core import registry
    from reviewapp.governance.services.common import EVIDENCE_REQUESTED_HOOK

    applied(fraud_model, proposer, committee, proposal())  # v2
    asked = []

    def record(**kwargs):
        asked.append(kwargs)

    registry.register_hook(EVIDENCE_REQUESTED_HOOK, record)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            cr = services.emergency_rollback(
                model_slug="card-fraud", to_version=1, reason="Queue flooded", user=lead
            )
    finally:
        registry.unregister_hook(EVIDENCE_REQUESTED_HOOK, record)
    assert {"change_request_id": cr.pk, "revision": cr.revision} in asked
