"""Shadow periods: approved → shadow → applied (beat), what routing records meanwhile, the
summary the request page shows, withdraw and staleness during the period."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict
from reviewapp.core.models import AuditEvent
from reviewapp.governance import selectors, services, shadow, tasks
from reviewapp.governance.models import ChangeRequest, PolicyVersion, ShadowOutcome
from reviewapp.governance.rules import decide, facts_from_record
from reviewapp.governance.services.shadow import ShadowRow
from reviewapp.models import Prediction
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import envelope_for, make_policy

from .cr_helpers import approve, proposal, submitted

pytestmark = pytest.mark.django_db
S = ChangeRequest.Status

# The proposal lowers the fraud threshold from 0.8 to 0.6 and drops QA sampling: a fraud
# prediction at 0.7 is routed live and would pass under the proposal.
SHADOW_RULES = proposal(min_confidence_by_label={"fraud": 0.6}, qa_sample_rate=0)


def store_and_route(model, *specs: tuple[str, float, str]) -> list[int]:
    envelopes = [
        envelope_for(model, ext, confidence=conf, output={"label": label}, signals={})
        for ext, conf, label in specs
    ]
    results = prediction_batch_ingest(
        envelopes=envelopes, account=None, actor=Actor.system("tests"), enqueue=False
    )
    ids = [r.id for r in results]
    predictions_route(ids=ids)
    return ids


def in_shadow(model, proposer, committee, minutes=60, **kwargs) -> ChangeRequest:
    cr, digest = submitted(model, proposer, SHADOW_RULES, shadow_minutes=minutes, **kwargs)
    approve(cr, committee[0], digest)
    return approve(cr, committee[1], digest)


def end_shadow_now(cr: ChangeRequest) -> None:
    ChangeRequest.objects.filter(pk=cr.pk).update(
        shadow_ends_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_quorum_starts_the_shadow_period_instead_of_applying(fraud_model, proposer, committee):
    before = timezone.now()
    cr = in_shadow(fraud_model, proposer, committee, minutes=90)
    assert cr.status == S.SHADOW and cr.applied_version is None
    assert before <= cr.shadow_started_at <= timezone.now()
    assert cr.shadow_ends_at - cr.shadow_started_at == dt.timedelta(minutes=90)
    assert PolicyVersion.objects.get(model_slug="card-fraud", is_active=True).version == 1
    event = AuditEvent.objects.get(verb="governance.change_request.shadow_started")
    assert event.after["status"] == "shadow"


def test_routing_records_what_the_proposal_would_decide(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    ids = store_and_route(
        fraud_model,
        ("low", 0.5, "fraud"),  # routed by both
        ("mid", 0.7, "fraud"),  # routed live (below 0.8), passes under the proposal (0.6)
        ("high", 0.95, "legit"),  # passes under both (unless the live QA sample takes it)
    )
    outcomes = {o.prediction_id: o for o in ShadowOutcome.objects.filter(change_request=cr)}
    assert set(outcomes) == set(ids)
    for prediction in Prediction.objects.filter(pk__in=ids):
        outcome = outcomes[prediction.pk]
        # The same facts routing stored, the proposal's rules.
        expected = decide(SHADOW_RULES, facts_from_record(prediction.routing_facts))
        assert (outcome.routed, outcome.reasons) == (expected.routed, expected.reasons)
        assert outcome.recorded_routed == prediction.routed
    low, mid = outcomes[ids[0]], outcomes[ids[1]]
    assert (low.routed, low.recorded_routed) == (True, True)
    assert (mid.routed, mid.recorded_routed) == (False, True) and not mid.agrees
    # Live routing itself is untouched by the shadow.
    assert Prediction.objects.get(pk=ids[1]).routed is True

    summary = selectors.shadow_summary(cr)
    agreed = sum(o.agrees for o in outcomes.values())
    assert summary["predictions"] == 3 and summary["agreed"] == agreed
    assert summary["agreement_rate"] == round(agreed / 3, 6)
    assert summary["would_route"] == sum(o.routed for o in outcomes.values())
    assert summary["routed"] == sum(o.recorded_routed for o in outcomes.values())
    [day] = summary["days"]
    assert day["day"] == timezone.now().astimezone(dt.UTC).date().isoformat()
    assert day["predictions"] == 3 and day["would_route"] == summary["would_route"]
    assert summary["ends_at"] == cr.shadow_ends_at.astimezone(dt.UTC).isoformat()
    assert AuditEvent.objects.filter(verb="governance.shadow_outcome.recorded").count() == 1


def test_summary_before_any_prediction(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    summary = selectors.shadow_summary(cr)
    assert summary["predictions"] == 0 and summary["agreement_rate"] is None
    assert summary["days"] == []


def test_a_segment_the_active_policy_does_not_read_is_read_from_the_envelope(
    fraud_model, proposer, committee
):
    rules = proposal(
        schema=2,
        max_auto_error_rate=0.02,
        qa_sample_rate=0,
        segments=[
            {
                "name": "high-value",
                "conditions": [{"field": "input.amount", "op": ">=", "value": 500}],
                "min_confidence": 0.99,
            }
        ],
    )
    cr, digest = submitted(fraud_model, proposer, rules, shadow_minutes=30)
    approve(cr, committee[0], digest)
    approve(cr, committee[1], digest)
    [pk] = store_and_route(fraud_model, ("big", 0.97, "legit"))  # amount 912.5 in the envelope
    outcome = ShadowOutcome.objects.get(change_request=cr, prediction_id=pk)
    assert outcome.routed is True and outcome.reasons == ["low_confidence"]


def test_recording_the_same_chunk_twice_stores_it_once(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    row = ShadowRow(cr.pk, 41, True, ("low_confidence",), True)
    services.shadow_outcomes_record(rows=[row])
    services.shadow_outcomes_record(rows=[row])
    assert ShadowOutcome.objects.filter(change_request=cr).count() == 1


def test_the_beat_applies_the_request_when_the_shadow_period_ends(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    assert tasks.apply_due() == 0  # not over yet
    end_shadow_now(cr)
    assert tasks.apply_due() == 1
    cr.refresh_from_db()
    assert cr.status == S.APPLIED and cr.applied_version == 2
    active = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    assert active.rules == SHADOW_RULES and active.change_request_id == cr.pk
    assert tasks.apply_due() == 0  # once
    # Nothing more is recorded for it: routing now uses the applied version.
    [pk] = store_and_route(fraud_model, ("after", 0.7, "fraud"))
    assert not ShadowOutcome.objects.filter(prediction_id=pk).exists()
    assert Prediction.objects.get(pk=pk).routed is False  # the new threshold


def test_a_later_scheduled_time_schedules_it_when_the_shadow_ends(fraud_model, proposer, committee):
    later = timezone.now() + dt.timedelta(days=2)
    cr = in_shadow(fraud_model, proposer, committee, scheduled_for=later)
    assert cr.status == S.SHADOW  # the shadow comes first
    end_shadow_now(cr)
    tasks.apply_due()
    cr.refresh_from_db()
    assert cr.status == S.SCHEDULED and cr.applied_version is None
    assert services.change_requests_apply_due(now=later + dt.timedelta(seconds=1)) == [cr.pk]
    cr.refresh_from_db()
    assert cr.status == S.APPLIED


def test_the_shadow_end_is_refused_before_its_time(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    with pytest.raises(Conflict):
        services.change_request_shadow_end(change_request_id=cr.pk, actor=Actor.system("t"))


def test_the_proposer_may_withdraw_during_the_shadow(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    services.change_request_withdraw(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.status == S.WITHDRAWN
    [pk] = store_and_route(fraud_model, ("gone", 0.7, "fraud"))
    assert not ShadowOutcome.objects.filter(prediction_id=pk).exists()
    end_shadow_now(cr)
    assert tasks.apply_due() == 0


def test_stale_during_the_shadow_suspends_it(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    make_policy(fraud_model, proposal(min_confidence=0.61))  # the active version moves
    cr.refresh_from_db()
    assert cr.stale and cr.status == S.SHADOW
    [pk] = store_and_route(fraud_model, ("stale", 0.7, "fraud"))
    assert not ShadowOutcome.objects.filter(prediction_id=pk).exists()  # records nothing
    end_shadow_now(cr)
    assert tasks.apply_due() == 0  # suspended, like a scheduled one
    cr.refresh_from_db()
    assert cr.status == S.SHADOW
    services.change_request_rebase(change_request_id=cr.pk, user=proposer)
    cr.refresh_from_db()
    assert cr.status == S.IN_REVIEW and not cr.stale


def test_a_stale_shadow_request_expires_when_untouched(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    make_policy(fraud_model, proposal(min_confidence=0.61))
    ChangeRequest.objects.filter(pk=cr.pk).update(updated_at=timezone.now() - dt.timedelta(days=30))
    assert tasks.expire_requests() == 1
    cr.refresh_from_db()
    assert cr.status == S.EXPIRED


def test_no_shadow_costs_routing_no_query_when_cached(fraud_model, settings):
    settings.GOVERNANCE_SHADOW_LOOKUP_SECONDS = 60
    shadow.clear_cache()
    store_and_route(fraud_model, ("warm", 0.5, "fraud"))  # the lookup, once
    with CaptureQueriesContext(connection) as ctx:
        assert shadow.proposals_in_shadow() == {}
    assert len(ctx.captured_queries) == 0
    shadow.clear_cache()


def test_a_failing_shadow_never_stops_live_routing(fraud_model, proposer, committee, monkeypatch):
    cr = in_shadow(fraud_model, proposer, committee)

    def broken(*args, **kwargs):
        raise RuntimeError("bug in the shadow")

    monkeypatch.setattr(shadow, "decide", broken)
    [pk] = store_and_route(fraud_model, ("safe", 0.5, "fraud"))
    assert Prediction.objects.get(pk=pk).status == Prediction.Status.IN_REVIEW
    assert not ShadowOutcome.objects.filter(change_request=cr).exists()


def test_a_shadow_period_is_for_routing_policies_only(fraud_model, proposer):
    from reviewapp.core.exceptions import ServiceError

    settings_doc = {
        "criticality": "medium",
        "cost_of_wrong_decision": 10,
        "cost_per_hour_of_delay": 1,
        "regulatory_class": "none",
    }
    with pytest.raises(ServiceError) as caught:
        services.change_request_create(
            model_slug="card-fraud", kind="model_settings", user=proposer,
            document=settings_doc, rationale="Lower tier.", shadow_minutes=30,
        )  # fmt: skip
    assert list(caught.value.errors) == ["shadow_minutes"]
    cr = services.change_request_create(
        model_slug="card-fraud", kind="model_settings", user=proposer,
        document=settings_doc, rationale="Lower tier.",
    )  # fmt: skip
    with pytest.raises(ServiceError) as caught:
        services.change_request_edit(change_request_id=cr.pk, user=proposer, shadow_minutes=30)
    assert list(caught.value.errors) == ["shadow_minutes"]
    assert ChangeRequest.objects.get(pk=cr.pk).shadow_minutes is None


def test_the_summary_counts_only_the_current_shadow_period(fraud_model, proposer, committee):
    cr = in_shadow(fraud_model, proposer, committee)
    store_and_route(fraud_model, ("p1", 0.5, "fraud"), ("p2", 0.9, "fraud"))
    assert selectors.shadow_summary(cr)["predictions"] == 2
    # A new period (a rebase approved again) starts from zero; the old outcomes stay stored.
    ChangeRequest.objects.filter(pk=cr.pk).update(
        shadow_started_at=timezone.now() + dt.timedelta(seconds=1)
    )
    cr.refresh_from_db()
    summary = selectors.shadow_summary(cr)
    assert summary["predictions"] == 0 and summary["agreement_rate"] is None
    assert ShadowOutcome.objects.filter(change_request=cr).count() == 2
