"""The change-request pages: committee home, list, request page and its actions, propose and
edit, as each role; forbidden actions are 403, bad input names the field, queries bounded."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.urls import reverse
from django.utils import timezone

from reviewapp.governance import services
from reviewapp.governance.models import ChangeRequest, PolicyVersion
from tests.factories import UserFactory

from .cr_helpers import approve, give_evidence, other_hash, proposal, submitted
from .test_evidence import rules, traffic  # noqa: F401 - traffic: two days of routed traffic

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status


def page_of(cr) -> str:
    return reverse("governance:request", args=[cr.pk])


def action(cr, name: str) -> str:
    return reverse("governance:request-action", args=[cr.pk, name])


def propose_url(slug: str = "card-fraud", kind: str = "routing_policy") -> str:
    return f"{reverse('governance:propose')}?model={slug}&kind={kind}"


def form_data(client, url: str, **changes) -> dict:
    """What the browser posts: every input of the form as rendered, then ``changes``."""
    response = client.get(url)
    assert response.status_code == 200
    form = response.context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if value is None:
            continue
        data[name] = field.widget.format_value(value) if hasattr(field.widget, "format_value") and not isinstance(value, str) else value  # fmt: skip
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(changes)
    return data


@pytest.fixture
def lead(db):
    return UserFactory(username="lee", roles=["lead"])


@pytest.fixture
def reviewer(db):
    return UserFactory(username="ana", roles=["reviewer"])


# --- access -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("roles", "status"),
    [(["committee"], 200), (["engineer"], 200), (["lead"], 200), (["reviewer"], 403),
     (["catalog_editor"], 403), ([], 403)],
)  # fmt: skip
def test_who_opens_the_governance_pages(client, fraud_model, proposer, roles, status):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(UserFactory(roles=roles))
    for url in (reverse("governance:home"), reverse("governance:requests"), page_of(cr)):
        assert client.get(url).status_code == status, url


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get(reverse("governance:home"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_committee_lands_on_governance_and_sees_the_section(client, committee):
    client.force_login(committee[0])
    assert client.get("/")["Location"] == reverse("governance:home")
    page = client.get(reverse("governance:home")).content.decode()
    assert 'href="/governance/"' in page


# --- committee home ---------------------------------------------------------------------------
def test_home_lists_what_waits_for_my_vote_and_not_what_i_voted(
    client, fraud_model, proposer, committee
):
    waiting, digest = submitted(fraud_model, proposer)
    done, digest2 = submitted(fraud_model, proposer, proposal(min_confidence=0.8))
    approve(done, committee[0], digest2)
    client.force_login(committee[0])
    response = client.get(reverse("governance:home"))
    assert [cr.pk for cr in response.context["waiting"]] == [waiting.pk]
    # The proposer sees their own proposals, not a vote queue.
    client.force_login(proposer)
    response = client.get(reverse("governance:home"))
    assert response.context["waiting"] == []
    assert {cr.pk for cr in response.context["mine"]} == {waiting.pk, done.pk}
    assert "Propose a change" in response.content.decode()


def test_an_empty_home_says_what_comes_and_how_to_act(client, committee, proposer):
    client.force_login(committee[0])
    page = client.get(reverse("governance:home")).content.decode()
    assert "Nothing waits for your vote" in page
    assert "notified when a request is submitted" in page
    client.force_login(proposer)
    page = client.get(reverse("governance:home")).content.decode()
    assert "You have proposed no change yet" in page
    assert reverse("governance:propose") in page


def test_home_flags_an_emergency_rollback_with_its_due_time(client, fraud_model, committee, lead):
    cr, digest = submitted(fraud_model, lead)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)  # v2 active
    rollback = services.emergency_rollback(
        model_slug="card-fraud", to_version=1, reason="Queue exploded.", user=lead
    )
    client.force_login(committee[2])
    response = client.get(reverse("governance:home"))
    assert [c.pk for c in response.context["emergencies"]] == [rollback.pk]
    page = response.content.decode()
    assert "Emergency rollbacks awaiting ratification" in page
    assert "ratify" in page and "in 23 h" in page


# --- list -------------------------------------------------------------------------------------
def test_list_filters_by_model_status_and_kind_with_counts(client, fraud_model, proposer):
    submitted(fraud_model, proposer)
    services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(min_confidence=0.9),
        rationale="Draft idea.",
    )  # fmt: skip
    client.force_login(proposer)
    response = client.get(reverse("governance:requests"), {"status": "draft"})
    assert [cr.status for cr in response.context["page"].object_list] == ["draft"]
    assert dict((v, n) for v, _l, n in response.context["statuses"])["in_review"] == 1
    response = client.get(reverse("governance:requests"), {"kind": "model_settings"})
    assert list(response.context["page"].object_list) == []
    response = client.get(reverse("governance:requests"), {"model": "card-fraud"})
    assert len(response.context["page"].object_list) == 2


def test_list_refuses_an_unknown_status_naming_it(client, proposer):
    client.force_login(proposer)
    response = client.get(reverse("governance:requests"), {"status": "nope"})
    assert response.status_code == 400
    assert "status" in response.content.decode()


# --- propose ----------------------------------------------------------------------------------
def test_propose_without_a_model_shows_the_picker(client, fraud_model, proposer):
    client.force_login(proposer)
    response = client.get(reverse("governance:propose"))
    assert response.status_code == 200
    assert "card-fraud" in response.content.decode()


def test_the_form_shows_every_rule_with_its_current_value(client, fraud_model, proposer):
    client.force_login(proposer)
    response = client.get(propose_url())
    rows = {row.path: row for row in response.context["rows"]}
    assert rows["min_confidence"].current_text == "0.7"
    assert rows["sla_minutes.high"].current_text == "60"
    assert rows["fallback.action"].current_text == "hold_for_step_up_auth"
    # Rules the active version leaves out can be set too.
    assert not rows["max_auto_error_rate"].is_set
    assert "escalation.deferrals_before_escalation" in rows


def test_an_engineer_proposes_in_the_table_and_submits(client, fraud_model, proposer):
    client.force_login(proposer)
    data = form_data(
        client, propose_url(), **{"rule:min_confidence": "0.75", "rationale": "Fewer alarms."}
    )
    data["submit"] = "1"
    response = client.post(propose_url(), data)
    cr = ChangeRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == page_of(cr)
    assert cr.status == S.IN_REVIEW
    assert cr.document["min_confidence"] == 0.75
    assert cr.document["fallback"] == {"label": "fraud", "action": "hold_for_step_up_auth"}
    assert cr.proposer == proposer and cr.rationale == "Fewer alarms."


def test_save_as_draft_with_schedule_in_my_zone_triggers_and_shadow(client, fraud_model, proposer):
    from reviewapp.core.models import UserPreference

    UserPreference.objects.update_or_create(
        user=proposer, defaults={"time_zone": "Europe/Amsterdam"}
    )
    client.force_login(proposer)
    when = (timezone.now() + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=1)))
    data = form_data(
        client,
        propose_url(),
        **{
            "rule:qa_sample_rate": "0.05",
            "rationale": "More QA.",
            "scheduled_for": when.strftime("%Y-%m-%dT%H:%M"),
            "shadow_minutes": "30",
            "trigger_0_metric": "override_rate",
            "trigger_0_op": ">",
            "trigger_0_bound": "0.15",
            "trigger_0_duration_minutes": "30",
        },
    )
    response = client.post(propose_url(), data)
    assert response.status_code == 302
    cr = ChangeRequest.objects.get()
    assert cr.status == S.DRAFT
    assert cr.document["qa_sample_rate"] == 0.05
    # Typed in Amsterdam's winter time (UTC+1), stored in UTC.
    assert cr.scheduled_for == when.replace(second=0, microsecond=0)
    assert cr.scheduled_for.utcoffset() == dt.timedelta(0)
    assert cr.shadow_minutes == 30
    assert cr.rollback_triggers == [
        {"metric": "override_rate", "op": ">", "bound": 0.15, "duration_minutes": 30}
    ]


def test_the_json_view_wins_when_changed(client, fraud_model, proposer):
    client.force_login(proposer)
    data = form_data(client, propose_url(), rationale="JSON edit.")
    document = json.loads(data["document_json"])
    document["min_confidence"] = 0.8
    data["document_json"] = json.dumps(document)
    data["rule:min_confidence"] = "0.9"  # the table says otherwise: the JSON wins
    assert client.post(propose_url(), data).status_code == 302
    assert ChangeRequest.objects.get().document["min_confidence"] == 0.8


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"rule:min_confidence": "2"}, "rules.min_confidence"),
        ({"rule:min_confidence": "high"}, "rules.min_confidence"),
        ({"rule:sla_minutes.high": ""}, "rules.sla_minutes.high"),
        ({"document_json": "{not json"}, "Not valid JSON"),
        ({"rule:min_confidence": "0.75", "rationale": ""}, "Rationale"),
        ({"rule:min_confidence": "0.75", "trigger_0_metric": "override_rate",
          "trigger_0_bound": ""}, "Required: a finite number"),
        ({"rule:min_confidence": "0.75", "scheduled_for": "2001-01-01T10:00"},
         "Must be in the future"),
        ({}, "Equal to the active version"),
    ],
)  # fmt: skip
def test_bad_input_re_renders_naming_the_field_and_saves_nothing(
    client, fraud_model, proposer, changes, named
):
    client.force_login(proposer)
    data = form_data(client, propose_url(), rationale="Why not.")
    data.update(changes)
    response = client.post(propose_url(), data)
    assert response.status_code == 400
    assert named in response.content.decode()
    assert not ChangeRequest.objects.exists()


def test_a_segment_rule_error_names_its_path(client, fraud_model, proposer):
    client.force_login(proposer)
    data = form_data(client, propose_url(), rationale="Segments.")
    document = json.loads(data["document_json"])
    document.update(
        schema=2,
        max_auto_error_rate=0.02,
        segments=[{"name": "big", "min_confidence": 7,
                   "conditions": [{"field": "input.amount", "op": ">=", "value": 10000}]}],
    )  # fmt: skip
    data["document_json"] = json.dumps(document)
    response = client.post(propose_url(), data)
    assert response.status_code == 400
    assert "rules.segments[0].min_confidence" in response.content.decode()
    assert not ChangeRequest.objects.exists()


@pytest.mark.parametrize("roles", [["committee"], ["reviewer"], ["catalog_editor"]])
def test_only_engineers_and_leads_propose(client, fraud_model, roles):
    client.force_login(UserFactory(roles=roles))
    assert client.get(propose_url()).status_code == 403
    assert client.post(propose_url(), {"rationale": "x"}).status_code == 403


def test_an_unknown_model_is_404_and_an_unknown_kind_400(client, fraud_model, proposer):
    client.force_login(proposer)
    assert client.get(propose_url("no-such-model")).status_code == 404
    assert client.get(propose_url(kind="no_such_kind")).status_code == 400


def test_model_settings_are_proposed_with_the_same_form(client, fraud_model, proposer):
    client.force_login(proposer)
    response = client.get(propose_url(kind="model_settings"))
    assert response.status_code == 200  # no settings version yet: the rows start empty


def first_settings_version() -> None:
    """Card-fraud's first model-settings version, so the form shows the optional rows beside it."""
    from reviewapp.core.audit import Actor

    services.change_request_bootstrap(
        model_slug="card-fraud", kind="model_settings", rationale="First.",
        document={"criticality": "critical", "cost_of_wrong_decision": 250,
                  "cost_per_hour_of_delay": 40, "regulatory_class": "regulated"},
        actor=Actor.system("tests"),
    )  # fmt: skip


def test_strict_output_is_proposed_in_the_settings_form(client, fraud_model, proposer):
    """An optional row (a true/false select) beside the required settings; absent = off."""
    first_settings_version()
    client.force_login(proposer)
    url = propose_url(kind="model_settings")
    page = client.get(url)
    rows = {r.path: r for r in page.context["rows"]}
    assert "strict_output" in rows and not rows["strict_output"].is_set
    data = form_data(client, url, **{"rule:strict_output": "true", "rationale": "Refuse them."})
    data["submit"] = "1"
    assert client.post(url, data).status_code == 302
    cr = ChangeRequest.objects.get(kind="model_settings", proposer=proposer)
    assert cr.document["strict_output"] is True
    assert cr.document["criticality"] == "critical"


def test_payload_retention_is_proposed_as_a_number_of_days(client, fraud_model, proposer):
    """The retention row takes a number (not a true/false select); empty keeps forever."""
    first_settings_version()
    client.force_login(proposer)
    url = propose_url(kind="model_settings")
    page = client.get(url)
    html = page.content.decode()
    assert 'name="rule:payload_retention_days"' in html
    assert '<select name="rule:payload_retention_days"' not in html
    data = form_data(
        client, url, **{"rule:payload_retention_days": "90", "rationale": "A quarter."}
    )
    data["submit"] = "1"
    assert client.post(url, data).status_code == 302
    cr = ChangeRequest.objects.get(kind="model_settings", proposer=proposer)
    assert cr.document["payload_retention_days"] == 90


# --- edit -------------------------------------------------------------------------------------
def test_the_proposer_edits_and_votes_lapse(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    client.force_login(proposer)
    url = reverse("governance:request-edit", args=[cr.pk])
    response = client.get(url)
    assert {r.path: r for r in response.context["rows"]}["min_confidence"].changed
    data = form_data(client, url, **{"rule:min_confidence": "0.72"})
    assert client.post(url, data).status_code == 302
    cr.refresh_from_db()
    assert cr.document["min_confidence"] == 0.72 and cr.revision == 2
    assert not cr.approvals.filter(lapsed_at__isnull=True).exists()


def test_nobody_else_edits(client, fraud_model, proposer, committee, lead):
    cr, _digest = submitted(fraud_model, proposer)
    url = reverse("governance:request-edit", args=[cr.pk])
    for user in (committee[0], lead, UserFactory(roles=["engineer"])):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"rationale": "mine now"}).status_code == 403


# --- the request page -------------------------------------------------------------------------
def test_the_page_shows_the_diff_quorum_and_buttons_by_role(
    client, fraud_model, proposer, committee, lead
):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(committee[0])
    response = client.get(page_of(cr))
    ctx = response.context
    changed = [r for r in ctx["diff"] if r["changed"]]
    assert changed == [
        {"path": "min_confidence", "current": "0.7", "proposed": "0.75", "changed": True}
    ]
    page = response.content.decode()
    assert "0 of 2 approvals" in page
    assert ctx["can_vote"] and ctx["can_decide"] and not ctx["can_edit"]
    assert 'name="evidence_hash"' in page and ">Approve<" in page
    # The proposer: edit and withdraw, no vote.
    client.force_login(proposer)
    ctx = client.get(page_of(cr)).context
    assert ctx["can_edit"] and ctx["can_withdraw"] and not ctx["can_vote"]
    # A lead who did not propose: reads and comments, nothing else.
    client.force_login(lead)
    response = client.get(page_of(cr))
    ctx = response.context
    assert ctx["can_comment"]
    assert not any(ctx[k] for k in ("can_vote", "can_decide", "can_edit", "can_withdraw"))
    assert 'name="evidence_hash"' not in response.content.decode()


def test_an_unknown_request_is_404(client, committee):
    client.force_login(committee[0])
    assert client.get(reverse("governance:request", args=[999])).status_code == 404


def test_two_approvals_apply_it(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    for member in committee[:2]:
        client.force_login(member)
        response = client.post(
            reverse("governance:request-approve", args=[cr.pk]), {"evidence_hash": digest}
        )
        assert response.status_code == 302
    cr.refresh_from_db()
    assert cr.status == S.APPLIED
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 2
    page = client.get(page_of(cr)).content.decode()
    assert "applied as v2" in page


def test_a_vote_on_evidence_that_changed_is_refused_and_the_page_shows_the_new(
    client, fraud_model, proposer, committee
):
    cr, old = submitted(fraud_model, proposer)
    ChangeRequest.objects.filter(pk=cr.pk).update(evidence_hash=other_hash())
    client.force_login(committee[0])
    response = client.post(
        reverse("governance:request-approve", args=[cr.pk]), {"evidence_hash": old}
    )
    assert response.status_code == 409
    page = response.content.decode()
    assert "The evidence changed since the page loaded" in page
    assert f'value="{other_hash()}"' in page  # the form now carries the new evidence
    assert not cr.approvals.exists()


def test_a_calibration_warning_needs_the_acknowledgement(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"calibration_warning": True})
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert 'name="acknowledge_risk"' in page
    url = reverse("governance:request-approve", args=[cr.pk])
    response = client.post(url, {"evidence_hash": digest})
    assert response.status_code == 400
    assert "acknowledge_risk" in response.content.decode()
    assert client.post(url, {"evidence_hash": digest, "acknowledge_risk": "on"}).status_code == 302
    assert cr.approvals.get().acknowledge_risk


def test_replay_mismatches_block_the_vote_and_say_so(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"replay_mismatches": 3})
    client.force_login(committee[0])
    response = client.get(page_of(cr))
    assert not response.context["can_vote"]
    assert "does not reproduce 3 recorded decisions" in response.content.decode()
    response = client.post(
        reverse("governance:request-approve", args=[cr.pk]), {"evidence_hash": digest}
    )
    assert response.status_code == 409


@pytest.mark.parametrize("who", ["proposer", "engineer", "lead", "reviewer"])
def test_forbidden_votes_and_decisions_are_403(client, fraud_model, proposer, committee, who):
    cr, digest = submitted(fraud_model, proposer)
    user = {
        "proposer": proposer,
        "engineer": UserFactory(roles=["engineer"]),
        "lead": UserFactory(roles=["lead"]),
        "reviewer": UserFactory(roles=["reviewer"]),
    }[who]
    client.force_login(user)
    approve_url = reverse("governance:request-approve", args=[cr.pk])
    assert client.post(approve_url, {"evidence_hash": digest}).status_code == 403
    assert client.post(action(cr, "reject"), {"comment": "no"}).status_code == 403
    assert client.post(action(cr, "request-changes"), {"comment": "no"}).status_code == 403
    assert client.post(action(cr, "ratify"), {}).status_code in (403, 409)
    cr.refresh_from_db()
    assert cr.status == S.IN_REVIEW and not cr.approvals.exists()


def test_a_superuser_proposer_may_not_approve_their_own(client, fraud_model, committee):
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    cr, digest = submitted(fraud_model, boss)
    client.force_login(boss)
    assert not client.get(page_of(cr)).context["can_vote"]
    response = client.post(
        reverse("governance:request-approve", args=[cr.pk]), {"evidence_hash": digest}
    )
    assert response.status_code == 403


def test_a_second_vote_is_a_conflict_on_the_page(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.5})
    client.force_login(committee[0])
    url = reverse("governance:request-approve", args=[cr.pk])
    assert client.post(url, {"evidence_hash": digest}).status_code == 302
    response = client.post(url, {"evidence_hash": digest})
    assert response.status_code == 409
    assert "already approved" in response.content.decode()


def test_reject_needs_a_comment(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(committee[0])
    response = client.post(action(cr, "reject"), {"comment": " "})
    assert response.status_code == 400
    assert "comment: Required: say why it is rejected." in response.content.decode()
    assert client.post(action(cr, "reject"), {"comment": "Too risky."}).status_code == 302
    cr.refresh_from_db()
    assert cr.status == S.REJECTED


def test_request_changes_then_resubmit(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(committee[0])
    assert client.post(action(cr, "request-changes"), {"comment": "Add QA."}).status_code == 302
    cr.refresh_from_db()
    assert cr.status == S.CHANGES_REQUESTED
    client.force_login(proposer)
    assert client.get(page_of(cr)).context["can_resubmit"]
    assert client.post(action(cr, "resubmit")).status_code == 302
    cr.refresh_from_db()
    assert cr.status == S.IN_REVIEW


def test_only_the_proposer_withdraws_and_a_bad_transition_is_a_conflict(
    client, fraud_model, proposer, committee
):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(committee[0])
    assert client.post(action(cr, "withdraw")).status_code == 403
    client.force_login(proposer)
    assert client.post(action(cr, "withdraw")).status_code == 302
    response = client.post(action(cr, "submit"))
    assert response.status_code == 409  # withdrawn: nothing to submit, said on the page
    assert "errors" in response.context


def test_an_unknown_action_is_404(client, fraud_model, proposer):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(proposer)
    assert client.post(action(cr, "explode"), {"comment": "x"}).status_code == 404
    assert client.get(action(cr, "withdraw")).status_code == 405


def test_comments_are_markdown_sanitised(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer)
    client.force_login(committee[0])
    body = "**Looks good** <script>alert(1)</script>"
    assert client.post(action(cr, "comment"), {"body": body}).status_code == 302
    page = client.get(page_of(cr)).content.decode()
    assert "<strong>Looks good</strong>" in page
    assert "<script>alert(1)" not in page
    response = client.post(action(cr, "comment"), {"body": ""})
    assert response.status_code == 400
    assert client.post(action(cr, "comment"), {"body": "hi"}).status_code == 302
    client.force_login(UserFactory(roles=["reviewer"]))
    assert client.post(action(cr, "comment"), {"body": "hi"}).status_code == 403


def test_stale_banner_names_the_version_and_the_proposer_rebases(
    client, fraud_model, proposer, committee, lead
):
    cr, _digest = submitted(fraud_model, proposer)
    other, digest = submitted(fraud_model, lead, proposal(min_confidence=0.6))
    approve(other, committee[0], digest)
    approve(other, committee[1], digest)
    cr.refresh_from_db()
    assert cr.stale
    client.force_login(committee[2])
    response = client.get(page_of(cr))
    page = response.content.decode()
    assert "Version 2 became active" in page
    assert "Rebase" not in page  # only the proposer rebases
    assert not response.context["can_vote"]
    client.force_login(proposer)
    page = client.get(page_of(cr)).content.decode()
    assert "Rebase on the active version" in page
    assert client.post(action(cr, "rebase")).status_code == 302
    cr.refresh_from_db()
    assert not cr.stale and cr.base_version == 2


def test_an_emergency_rollback_is_ratified_on_its_page(client, fraud_model, committee, lead):
    cr, digest = submitted(fraud_model, lead)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    rollback = services.emergency_rollback(
        model_slug="card-fraud", to_version=1, reason="Queue exploded.", user=lead
    )
    client.force_login(lead)
    assert "Ratify" not in client.get(page_of(rollback)).content.decode().split("Reason:")[1][:400]
    assert client.post(action(rollback, "ratify"), {}).status_code == 403
    client.force_login(committee[2])
    page = client.get(page_of(rollback)).content.decode()
    assert "Emergency rollback awaiting ratification" in page
    assert client.post(action(rollback, "ratify"), {"comment": "Right call."}).status_code == 302
    rollback.refresh_from_db()
    assert rollback.ratified_by == committee[2]
    assert client.post(action(rollback, "ratify"), {}).status_code == 409


def test_lapsed_votes_are_struck_through_with_why(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    services.change_request_edit(change_request_id=cr.pk, user=proposer, rationale="Better why.")
    give_evidence(cr)
    client.force_login(committee[1])
    page = client.get(page_of(cr)).content.decode()
    assert "<s>" in page and "edited or rebased after this vote" in page
    assert "0 of 2 approvals" in page


def test_the_committee_too_small_is_said(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer, summary={"calibration_warning": True})
    committee[2].groups.clear()
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert "The committee is too small for this rule" in page
    assert "Calibration warning" in page  # why one more approval is wanted


def test_the_timeline_comes_from_the_audit_log(client, fraud_model, proposer, committee):
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    client.force_login(committee[1])
    timeline = [e.verb for e in client.get(page_of(cr)).context["timeline"]]
    assert timeline[:2] == [
        "governance.change_request.created",
        "governance.change_request.submitted",
    ]
    assert "governance.change_request.voted" in timeline


# --- evidence ---------------------------------------------------------------------------------
def test_pending_evidence_polls_and_ready_evidence_reloads_the_page(
    client, fraud_model, proposer, committee
):
    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=proposal(), rationale="x"
    )
    services.change_request_submit(change_request_id=cr.pk, user=proposer)
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert 'hx-trigger="every 3s"' in page
    assert "Votes open when the evidence is ready" in page
    url = reverse("governance:request-evidence", args=[cr.pk])
    assert client.get(url, HTTP_HX_REQUEST="true").status_code == 200
    give_evidence(cr)
    response = client.get(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 204 and response["HX-Refresh"] == "true"


def test_failed_evidence_says_why(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer)
    ChangeRequest.objects.filter(pk=cr.pk).update(
        evidence_state="failed", evidence_hash="",
        evidence_errors={"base_version": ["This model has no such policy version."]},
    )  # fmt: skip
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert "The evidence could not be computed" in page
    assert "This model has no such policy version." in page


@pytest.mark.usefixtures("traffic")
def test_ready_evidence_on_real_traffic_is_shown(
    client,
    proposer,
    committee,
    eager,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    cr = services.change_request_create(
        model_slug="card-fraud", user=proposer, document=rules(0.80), rationale="Borderline."
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.change_request_submit(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.evidence_state == "ready"
    client.force_login(committee[0])
    response = client.get(page_of(cr))
    page = response.content.decode()
    for text in ("Impact per day", "Newly routed to reviewers", "Errors that would escape review",
                 "Capacity", "Calibration above the proposed threshold", "Safety margin",
                 "Replay check"):  # fmt: skip
        assert text in page, text
    assert "3 → 6" in page  # reviewed predictions, active → proposal
    assert f'value="{cr.evidence_hash}"' in page


# --- query counts -----------------------------------------------------------------------------
def test_the_request_page_and_home_do_not_grow_with_votes_and_comments(
    client, fraud_model, proposer, committee, django_assert_max_num_queries
):
    cr, digest = submitted(fraud_model, proposer, summary={"reviewed_volume_change": 0.9})
    services.change_request_comment(change_request_id=cr.pk, user=proposer, body="First.")
    client.force_login(committee[2])
    client.get(page_of(cr))  # warm the session
    with django_assert_max_num_queries(30) as few:
        client.get(page_of(cr))
    for member in committee[:2]:
        approve(cr, member, digest)
        for n in range(3):
            services.change_request_comment(change_request_id=cr.pk, user=member, body=f"c{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(page_of(cr))
    counts = {}
    for url in (reverse("governance:home"), reverse("governance:requests")):
        client.get(url)
        with django_assert_max_num_queries(20) as first:
            client.get(url)
        counts[url] = len(first.captured_queries)
    for n in range(5):
        other, other_digest = submitted(
            fraud_model, UserFactory(roles=["lead"]), proposal(min_confidence=0.71 + n / 100)
        )
        approve(other, committee[0], other_digest)
    for url, n in counts.items():
        with django_assert_max_num_queries(n):
            client.get(url)
