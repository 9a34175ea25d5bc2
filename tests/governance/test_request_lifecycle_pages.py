"""The request pages and the API where they meet the later lifecycle: the shadow period (page,
committee home, API), a model's first version proposed on the page, booleans and enumerations
as selects, and the rollback triggers' state on the request page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from reviewapp.governance import services, tasks
from reviewapp.governance.models import ChangeRequest
from tests.factories import MLModelFactory, UserFactory, make_policy

from .cr_helpers import approve, proposal, submitted
from .test_request_pages import form_data, page_of, propose_url
from .test_rollback_triggers import (
    OVERRIDE_30,
    applied_with_triggers,
    buckets,
    complete_buckets_since,
    folded,
)
from .test_shadow import end_shadow_now, in_shadow, store_and_route

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status


# --- the shadow period ------------------------------------------------------------------------
def test_the_request_page_shows_the_shadow_period(client, fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee, minutes=90)
    store_and_route(fraud_model, ("low", 0.5, "fraud"), ("mid", 0.7, "fraud"))
    client.force_login(committee[2])
    response = client.get(page_of(cr))
    shadow = response.context["shadow"]
    assert shadow["predictions"] == 2 and shadow["routed"] == 2 and shadow["would_route"] == 1
    assert shadow["change"] == -1 and 0 < shadow["left"] <= 90 * 60
    page = response.content.decode()
    assert "Shadow period" in page and "Predictions seen" in page
    assert "1 h 29 min left" in page or "1 h 30 min left" in page
    assert "Then it becomes the active version" in page
    # Per day (UTC), with the agreement rate.
    assert timezone.now().astimezone(dt.UTC).date().isoformat() in page
    assert "50.0 %" in page


def test_the_page_shows_the_shadow_after_it_applied(client, fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    store_and_route(fraud_model, ("low", 0.5, "fraud"))
    end_shadow_now(cr)
    services.change_requests_apply_due()
    cr.refresh_from_db()
    assert cr.status == S.APPLIED
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert "Shadow period" in page and "After this period the request was applied as v2" in page
    assert "ended" in page


def test_no_shadow_section_without_a_shadow_period(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer, shadow_minutes=30)  # asked, not started
    client.force_login(committee[0])
    response = client.get(page_of(cr))
    assert response.context["shadow"] is None
    assert 'id="shadow-h"' not in response.content.decode()


def test_the_committee_home_shows_the_time_left_in_shadow(client, fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee, minutes=120)
    client.force_login(committee[0])
    response = client.get(reverse("governance:home"))
    [row] = response.context["watch"]
    assert row.pk == cr.pk
    page = response.content.decode()
    assert "1 h 59 min left" in page or "2 h left" in page
    # The proposer's own list says the same (not "over").
    client.force_login(proposer)
    page = client.get(reverse("governance:home")).content.decode()
    assert page.count(" min left") + page.count("2 h left") == 2 and "over: applies" not in page


def test_the_api_adds_the_shadow_summary(fraud_model, proposer, committee):
    plain, _digest = submitted(fraud_model, proposer, proposal(min_confidence=0.9))
    cr = in_shadow(fraud_model, proposer, committee)
    store_and_route(fraud_model, ("low", 0.5, "fraud"), ("mid", 0.7, "fraud"))
    api = APIClient()
    api.force_authenticate(committee[0])
    body = api.get(f"/api/v1/change-requests/{cr.pk}").json()
    shadow = body["shadow"]
    assert shadow["predictions"] == 2 and shadow["routed"] == 2 and shadow["would_route"] == 1
    assert shadow["agreement_rate"] == 0.5 and len(shadow["days"]) == 1
    assert shadow["ends_at"] == cr.shadow_ends_at.astimezone(dt.UTC).isoformat()
    # Every field the issue fixed is still there, unrenamed.
    for field in ("id", "model", "status", "stale", "base_version", "rules", "rules_hash",
                  "rationale", "proposer", "required_approvals", "approvals", "evidence",
                  "scheduled_for", "applied_version"):  # fmt: skip
        assert field in body
    assert api.get(f"/api/v1/change-requests/{plain.pk}").json()["shadow"] is None
    # The list shows it too (one grouped query for the page, whatever its size).
    listed = {r["id"]: r["shadow"] for r in api.get("/api/v1/change-requests").json()["results"]}
    assert listed[plain.pk] is None and listed[cr.pk] == shadow
    # An action answers the request as GET shows it, shadow included.
    comment = api.post(f"/api/v1/change-requests/{cr.pk}/comment", {"body": "ok"}, format="json")
    assert comment.json()["shadow"]["predictions"] == 2


# --- a model's first version ------------------------------------------------------------------
@pytest.fixture
def new_model(db):
    """Registered, no routing policy and no settings version yet."""
    return MLModelFactory(slug="churn", labels=["stay", "leave"], criticality="medium")


def test_the_picker_offers_every_registered_model(client, fraud_model, new_model, proposer):
    client.force_login(proposer)
    response = client.get(reverse("governance:propose"))
    choices = [value for value, _label in response.context["pick"].fields["model"].choices]
    assert choices == ["card-fraud", "churn"]


def test_proposing_a_first_routing_policy(client, fraud_model, new_model, proposer, committee):
    client.force_login(proposer)
    url = propose_url("churn")
    page = client.get(url).content.decode()
    assert "the model&#x27;s first version" in page or "the model's first version" in page
    form = client.get(url).context["form"]
    assert {"rule:min_confidence", "rule:fallback.label", "rule:sla_minutes.high"} <= set(
        form.fields
    )
    data = form_data(
        client,
        url,
        **{
            "rule:min_confidence": "0.7",
            "rule:fallback.label": "stay",
            "rule:fallback.action": "hold",
            "rule:max_auto_error_rate": "0.02",
            **{f"rule:sla_minutes.{t}": "60" for t in ("critical", "high", "medium", "low")},
            "rationale": "Churn predictions start being reviewed.",
            "submit": "1",
        },
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.context["form"].errors
    cr = ChangeRequest.objects.get(model_slug="churn")
    assert cr.base_version is None and cr.status == S.IN_REVIEW
    assert cr.document["schema"] == 2 and cr.document["fallback"] == {
        "label": "stay",
        "action": "hold",
    }
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert "first version" in page and "Current (none: first version)" in page


def test_a_first_version_left_incomplete_names_the_rules(client, new_model, proposer):
    client.force_login(proposer)
    url = propose_url("churn")
    data = form_data(client, url, rationale="Start.")
    response = client.post(url, data)
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["rule:min_confidence"] and form.errors["rule:fallback.label"]
    assert not ChangeRequest.objects.exists()


def test_first_model_settings_start_from_the_registered_criticality(client, new_model, proposer):
    client.force_login(proposer)
    url = propose_url("churn", "model_settings")
    form = client.get(url).context["form"]
    assert form["rule:criticality"].value() == "medium"
    page = client.get(url).content.decode()
    assert '<select name="rule:regulatory_class"' in page
    data = form_data(
        client,
        url,
        **{
            "rule:cost_of_wrong_decision": "12.5",
            "rule:cost_per_hour_of_delay": "3",
            "rule:regulatory_class": "internal",
            "rationale": "Business profile of churn.",
        },
    )
    assert client.post(url, data).status_code == 302
    cr = ChangeRequest.objects.get()
    assert cr.document == {
        "criticality": "medium",
        "cost_of_wrong_decision": 12.5,
        "cost_per_hour_of_delay": 3,
        "regulatory_class": "internal",
    }


# --- selects for booleans and enumerations ----------------------------------------------------
def test_booleans_are_a_true_false_select(client, fraud_model, proposer):
    client.force_login(proposer)
    url = propose_url()
    page = client.get(url).content.decode()
    assert '<select name="rule:route_on_drift"' in page
    assert '<option value="true" selected>' in page
    data = form_data(client, url, **{"rule:route_on_drift": "false", "rationale": "No drift."})
    assert client.post(url, data).status_code == 302
    assert ChangeRequest.objects.get().document["route_on_drift"] is False


def test_tiers_and_operators_are_selects_of_the_allowed_values(client, proposer):
    model = MLModelFactory(slug="seg", labels=["fraud", "legit"], criticality="high")
    condition = {"field": "input.amount", "op": ">=", "value": 1000}
    make_policy(model, proposal(schema=2, max_auto_error_rate=0.02,
                                segments=[{"name": "big", "conditions": [condition]}]))  # fmt: skip
    client.force_login(proposer)
    url = propose_url("seg")
    response = client.get(url)
    form = response.context["form"]
    tier = form.fields["rule:segments[0].tier"]  # not set by the active version: optional
    assert [v for v, _label in tier.widget.choices] == ["", "critical", "high", "medium", "low"]
    op = form.fields["rule:segments[0].conditions[0].op"]
    assert ">=" in [v for v, _label in op.widget.choices]
    data = form_data(
        client, url, **{"rule:segments[0].tier": "critical", "rationale": "Big ones first."}
    )
    assert client.post(url, data).status_code == 302
    segment = ChangeRequest.objects.get().document["segments"][0]
    assert segment["tier"] == "critical" and segment["conditions"][0] == condition


# --- rollback triggers on the request page ----------------------------------------------------
def trigger_rows(client, cr):
    return client.get(page_of(cr)).context["triggers"]


def test_agreed_triggers_are_said_in_plain_words(client, fraud_model, proposer, committee):
    cr, _digest = submitted(fraud_model, proposer, rollback_triggers=[OVERRIDE_30])
    client.force_login(committee[0])
    [row] = trigger_rows(client, cr)
    assert row.state == "agreed"
    page = client.get(page_of(cr)).content.decode()
    assert "Override rate (overrides / final decisions) stays above 0.15 for 30 min" in page
    assert "not watched yet" in page


def test_an_applied_request_shows_its_triggers_watched(client, fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    client.force_login(committee[0])
    [row] = trigger_rows(client, cr)
    assert row.state == "watched" and row.since == cr.applied_at
    assert "watching" in client.get(page_of(cr)).content.decode()


def test_a_fired_trigger_shows_when_and_the_values(
    client, fraud_model, proposer, committee, django_capture_on_commit_callbacks
):
    quiet = {"metric": "open_queue", "op": ">", "bound": 5000, "duration_minutes": 30}
    cr = applied_with_triggers(fraud_model, proposer, committee, [quiet, OVERRIDE_30])
    n = complete_buckets_since(cr)
    buckets(fraud_model, cr.applied_at, [0.3] * (n + 1))
    folded()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_rollback_triggers() == 1
    cr.refresh_from_db()
    rollback = ChangeRequest.objects.get(is_emergency=True)
    client.force_login(committee[0])
    other, fired = trigger_rows(client, cr)
    assert other.state == "not_fired"
    assert fired.state == "fired" and fired.since == cr.triggers_fired_at
    assert fired.rollback_id == rollback.pk and fired.values and 0.3 in fired.values
    page = client.get(page_of(cr)).content.decode()
    assert "fired" in page and f"emergency rollback #{rollback.pk}" in page
    assert "5-minute values: 0.3, 0.3" in page and fired.breached_since.tzinfo is not None


def test_triggers_end_when_a_newer_version_is_applied(client, fraud_model, proposer, committee):
    cr = applied_with_triggers(fraud_model, proposer, committee, [OVERRIDE_30])
    later, digest = submitted(fraud_model, proposer, proposal(min_confidence=0.9))
    approve(later, committee[0], digest)
    approve(later, committee[1], digest)  # v3
    client.force_login(committee[0])
    [row] = trigger_rows(client, cr)
    assert row.state == "ended" and row.ended_by_version == 3 and row.since is not None
    assert row.ended_by_request == later.pk
    page = client.get(page_of(cr)).content.decode()
    assert "a newer version was applied" in page and f'href="{page_of(later)}"' in page


# --- what the browse-through found ------------------------------------------------------------
def test_an_emergency_rollback_page_has_no_votes_and_shows_its_evidence_for_the_ratifier(
    client, fraud_model, proposer, committee
):
    lead = UserFactory(username="lee", roles=["lead"])
    cr, digest = submitted(fraud_model, proposer)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)  # v2 active
    rollback = services.emergency_rollback(
        model_slug="card-fraud", to_version=1, reason="Queue exploded.", user=lead
    )
    client.force_login(committee[2])
    response = client.get(page_of(rollback))
    # Its evidence (what restoring v1 changes) is computed after it applied: the page waits
    # for it, for the ratification, and says so; there is no vote.
    assert response.context["polling"] is True and response.context["no_vote"] is True
    page = response.content.decode()
    assert "Replaying recent traffic to show what restoring v1 in place of v2 changes" in page
    assert "0 of" not in page and "No vote: an emergency rollback applies at once" in page
    # It names the request whose version it replaced.
    assert f'href="{page_of(cr)}"' in page and f"came from request #{cr.pk}" in page
    # Once ratified, nothing waits any more.
    services.change_request_ratify(change_request_id=rollback.pk, user=committee[2])
    response = client.get(page_of(rollback))
    assert response.context["polling"] is False
    assert 'hx-trigger="every 3s"' not in response.content.decode()


def test_model_settings_offer_no_shadow_period(client, fraud_model, proposer):
    client.force_login(proposer)
    page = client.get(propose_url(kind="model_settings")).content.decode()
    assert 'name="shadow_minutes"' not in page
    assert 'name="shadow_minutes"' in client.get(propose_url()).content.decode()


def test_the_capacity_check_on_a_model_nobody_decided_yet_says_so(
    client, fraud_model, proposer, committee
):
    from reviewapp.core.audit import Actor
    from reviewapp.governance.evidence import evidence_compute
    from reviewapp.governance.services.evidence import evidence_summary

    from .test_evidence import route

    route(fraud_model, [0.5, 0.65, 0.9], timezone.now() - dt.timedelta(days=1), "cap")
    cr, _digest = submitted(fraud_model, proposer, proposal(min_confidence=0.8))
    evidence = evidence_compute(model_slug="card-fraud", proposed_rules=cr.document)
    services.change_request_evidence_set(
        change_request_id=cr.pk, revision=cr.revision, evidence_hash=evidence.hash,
        summary=evidence_summary(evidence), actor=Actor.system("tests"),
    )  # fmt: skip
    client.force_login(committee[0])
    page = client.get(page_of(cr)).content.decode()
    assert "No reviewer decided an item of this model in the last 14 days" in page
    assert "Reviewers decided 0.0 items per day" not in page
