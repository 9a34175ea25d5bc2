"""Feature profiles in the running system: learning from accepted traffic (audited), the
routing hook and its per-process cache, routing with reason data_anomaly, exact replay
without the profile, the review page's diagnostics, the beat task and seed_demo."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.core.models import AuditEvent
from reviewapp.failsafe.models import FeatureProfile
from reviewapp.failsafe.profiles import learn_profile
from reviewapp.failsafe.services.profiles import (
    checkers_forget,
    data_quality_checks,
    feature_profile_learn,
)
from reviewapp.failsafe.tasks import learn_feature_profiles
from reviewapp.governance.replay import routing_replay
from reviewapp.models import Decision, Prediction, PredictionPayload, Purpose, ReviewItem
from reviewapp.selectors.context import review_context
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from tests.factories import DEFAULT_RULES, UserFactory, envelope_for, make_policy

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_checkers():
    """Compiled checkers are cached per process: none from another test, none left behind."""
    checkers_forget()
    yield
    checkers_forget()


def usual_input(i: int) -> dict:
    return {"amount": 100 + (i * 37) % 800, "country": ("NL", "DE", "FR")[i % 3], "new": i % 2 == 0}


def store(model, *inputs: dict, confidence: float = 0.99, prefix: str = "p") -> list[int]:
    results = prediction_batch_ingest(
        envelopes=[
            {
                **envelope_for(model, f"{prefix}-{n}"),
                "input": x,
                "confidence": confidence,
                "output": {"label": "legit", "scores": {"legit": confidence}},
                "signals": {"ood_score": 0.1},
            }
            for n, x in enumerate(inputs)
        ],
        account=None,
        actor=Actor.system("tests"),
        enqueue=False,
    )
    assert all(r.status == "accepted" for r in results), [r.errors for r in results]
    return [r.id for r in results]


def route(model, *inputs: dict, **kwargs) -> list[Prediction]:
    ids = store(model, *inputs, **kwargs)
    predictions_route(ids=ids)
    return list(Prediction.objects.filter(pk__in=ids).order_by("id"))


@pytest.fixture
def profiled(fraud_model):
    """card-fraud with a profile learned from 300 usual inputs (stored directly)."""
    FeatureProfile.objects.create(
        model=fraud_model,
        profile=learn_profile([usual_input(i) for i in range(300)], window_days=7),
        sample_size=300,
    )
    return fraud_model


# --- learning -------------------------------------------------------------------------------
def test_a_profile_is_learned_from_recent_accepted_traffic_only(fraud_model, reviewer):
    passed = store(fraud_model, *[{"kind": "passed"}] * 6, prefix="ok")
    routed = store(fraud_model, *[{"kind": "routed"}] * 5, confidence=0.3, prefix="low")
    predictions_route(ids=passed + routed)
    items = {i.prediction_id: i for i in ReviewItem.objects.filter(prediction_id__in=routed)}
    accepted, overridden, pending, gold = routed[0], routed[1], routed[2], routed[3]
    for pk, action in ((accepted, "accept"), (overridden, "override"), (routed[4], "accept")):
        p = Prediction.objects.get(pk=pk)
        Decision.objects.create(item=items[pk], prediction=p, model=fraud_model, reviewer=reviewer,
                                action=action, model_confidence=p.confidence)  # fmt: skip
    # routed[4]'s accept was undone; a gold item's accept is no evidence of usual traffic.
    Decision.objects.filter(prediction_id=routed[4]).update(undone_at=timezone.now())
    gold_item = ReviewItem.objects.create(
        prediction_id=gold, model=fraud_model, purpose=Purpose.GOLD,
        sla_due_at=timezone.now(), for_reviewer=reviewer,
    )  # fmt: skip
    Decision.objects.create(item=gold_item, prediction_id=gold, model=fraud_model,
                            reviewer=reviewer, action="accept", model_confidence=0.3)  # fmt: skip
    PredictionPayload.objects.filter(prediction_id__in=routed).update(input={"kind": "accepted"})
    PredictionPayload.objects.filter(
        prediction_id__in=[overridden, pending, gold, routed[4]]
    ).update(input={"kind": "not accepted"})
    # Older than the window: left out.
    Prediction.objects.filter(pk=passed[0]).update(
        received_at=timezone.now() - dt.timedelta(days=8)
    )
    PredictionPayload.objects.filter(prediction_id=passed[0]).update(input={"kind": "old"})

    with override_settings(FAILSAFE_PROFILE_MIN_ROWS=5):
        row = feature_profile_learn(model=fraud_model)

    assert row.sample_size == 6 and row.window_days == 7
    cats = dict(map(tuple, row.profile["fields"]["kind"]["cats"]))
    assert cats == {"passed": round(5 / 6, 4), "accepted": round(1 / 6, 4)}
    event = AuditEvent.objects.get(verb="failsafe.feature_profile.learned")
    assert event.actor_label == "profiler" and event.target_id == str(fraud_model.pk)
    assert event.after["sample_size"] == 6 and event.before is None
    assert event.data == {"fields": 1, "truncated": False, "window_days": 7}

    # At most FAILSAFE_PROFILE_SAMPLE rows, the newest first.
    with override_settings(FAILSAFE_PROFILE_MIN_ROWS=2, FAILSAFE_PROFILE_SAMPLE=3):
        assert feature_profile_learn(model=fraud_model).sample_size == 3
    assert AuditEvent.objects.filter(verb="failsafe.feature_profile.learned").count() == 2


def test_too_little_traffic_learns_nothing_and_keeps_the_profile_there_was(profiled):
    before = FeatureProfile.objects.get(model=profiled)
    route(profiled, *[usual_input(i) for i in range(10)])
    assert feature_profile_learn(model=profiled) is None
    assert FeatureProfile.objects.get(model=profiled).learned_at == before.learned_at
    assert not AuditEvent.objects.filter(verb="failsafe.feature_profile.learned").exists()


def test_the_beat_task_learns_every_active_models_profile(fraud_model):
    assert "failsafe-learn-feature-profiles" in settings.CELERY_BEAT_SCHEDULE
    route(fraud_model, *[usual_input(i) for i in range(30)])
    with override_settings(FAILSAFE_PROFILE_MIN_ROWS=20):
        assert learn_feature_profiles.apply().get() == 1
    assert FeatureProfile.objects.get(model=fraud_model).sample_size == 30


# --- the hook and its cache -------------------------------------------------------------------
def test_checkers_are_cached_per_process_and_forgotten_when_learned(
    profiled, django_assert_num_queries
):
    with django_assert_num_queries(1):
        checks = data_quality_checks(model_slugs={"card-fraud", "no-such-model"})
    assert set(checks) == {"card-fraud"}
    with django_assert_num_queries(0):
        assert set(data_quality_checks(model_slugs={"card-fraud", "no-such-model"})) == {
            "card-fraud"
        }
    route(profiled, *[usual_input(i) for i in range(5)])
    with override_settings(FAILSAFE_PROFILE_MIN_ROWS=5):
        feature_profile_learn(model=profiled)
    with django_assert_num_queries(1):
        data_quality_checks(model_slugs={"card-fraud"})
    with override_settings(FAILSAFE_PROFILE_CACHE_SECONDS=0):
        checkers_forget()
        for _ in range(2):
            with django_assert_num_queries(1):
                data_quality_checks(model_slugs={"card-fraud"})


def test_an_unreadable_profile_checks_nothing_and_routing_goes_on(fraud_model, caplog):
    FeatureProfile.objects.create(
        model=fraud_model,
        profile={"fields": {"amount": {"types": {"number": 1.0}, "num": {"p1": 1}}}},
    )
    assert data_quality_checks(model_slugs={"card-fraud"}) == {}
    assert "unreadable" in caplog.text
    [p] = route(fraud_model, usual_input(1))
    assert p.status == "passed" and p.routing_facts["anomalies"] == []


# --- routing --------------------------------------------------------------------------------
def test_an_anomalous_input_is_routed_with_data_anomaly_and_the_findings_are_stored(profiled):
    clean, odd, low = route(
        profiled,
        usual_input(1),
        {"amount": 48210, "country": "XX", "new": True},
        {**usual_input(2), "amount": 48210},
    )
    assert clean.status == "passed" and clean.routing_facts["anomalies"] == []
    assert odd.status == "in_review" and odd.reason_codes == ["data_anomaly"]
    assert [(f["field"], f["kind"]) for f in odd.routing_facts["anomalies"]] == [
        ("amount", "out_of_range"),
        ("country", "unseen_category"),
    ]
    assert odd.reason_details["anomalies"] == odd.routing_facts["anomalies"]
    assert odd.review_item.purpose == "routed"

    [low] = route(profiled, {**usual_input(3), "amount": 48210}, confidence=0.5, prefix="low")
    assert low.reason_codes == ["low_confidence", "data_anomaly"]


def test_a_policy_may_leave_anomalies_unrouted_but_they_are_still_recorded(fraud_model):
    make_policy(fraud_model, {**DEFAULT_RULES, "route_on_data_anomaly": False})
    FeatureProfile.objects.create(
        model=fraud_model,
        profile=learn_profile([usual_input(i) for i in range(300)], window_days=7),
    )
    [odd] = route(fraud_model, {"amount": 48210, "country": "NL", "new": True})
    assert odd.status == "passed" and odd.reason_codes == []
    assert [f["field"] for f in odd.routing_facts["anomalies"]] == ["amount"]


def test_a_renamed_field_routes_every_prediction_to_review(profiled):
    """A producer renames ``country`` to ``country_code``: every prediction has findings, so
    the anomaly rate is 100 % and the anomaly-rate monitor contains the model."""
    renamed = [
        {k if k != "country" else "country_code": v for k, v in usual_input(i).items()}
        for i in range(40)
    ]
    predictions = route(profiled, *renamed)
    assert all(p.status == "in_review" and "data_anomaly" in p.reason_codes for p in predictions)
    assert {(f["field"], f["kind"]) for p in predictions for f in p.routing_facts["anomalies"]} == {
        ("country", "missing"),
        ("country_code", "new_field"),
    }


def test_replay_reproduces_the_findings_without_the_profile_of_that_day(profiled):
    [odd] = route(profiled, {"amount": 48210, "country": "XX", "new": True})
    [clean] = route(profiled, usual_input(4), prefix="clean")
    # The profile changes (a new day's traffic had large amounts) and then is gone entirely.
    FeatureProfile.objects.filter(model=profiled).update(
        profile=learn_profile(
            [{**usual_input(i), "amount": 50000} for i in range(300)], window_days=7
        )
    )
    checkers_forget()
    for prediction in (odd, clean):
        assert routing_replay(prediction).matches
    FeatureProfile.objects.filter(model=profiled).delete()
    checkers_forget()
    replay = routing_replay(Prediction.objects.get(pk=odd.pk))
    assert replay.matches and replay.replayed.reasons == ["data_anomaly"]
    assert replay.replayed.details["anomalies"] == odd.routing_facts["anomalies"]


# --- the review page --------------------------------------------------------------------------
def test_the_review_page_shows_the_findings_in_words(client, profiled):
    from reviewapp.models import PoolMembership

    [odd] = route(profiled, {"amount": 48210, "new": "yes"})
    ana = UserFactory(username="ana", roles=["reviewer"])
    PoolMembership.objects.create(model=profiled, user=ana)
    ctx = review_context(odd.review_item)
    assert ctx.diagnostics == [
        "amount 48,210 is 54× the 99th percentile of the last 7 days",
        "country missing (present in 100 % of recent predictions)",
        "new is text, usually true/false",
    ]
    assert ctx.flagged == {"amount", "country", "new"}
    client.force_login(ana)
    body = client.get(f"/queue/items/{odd.review_item.pk}/review/").content.decode()
    assert "Data diagnostics" in body
    for line in ctx.diagnostics:
        assert line.replace("'", "&#x27;") in body
    # The reason says what kind; the diagnostics line says what exactly.
    assert ctx.reasons == ["Input unlike the model's recent traffic"]
    # The inputs the findings name come first.
    assert {row["name"] for row in ctx.inputs["top"][:2]} == {"amount", "new"}


def test_seed_demo_learns_profiles_and_queues_predictions_with_diagnostics(tmp_path):
    with override_settings(VAR_DIR=tmp_path):
        call_command(
            "seed_demo", "--predictions", "300", "--days", "2", "--rate", "150", stdout=StringIO()
        )
    assert set(FeatureProfile.objects.values_list("model__slug", flat=True)) >= {"card-fraud"}
    odd = Prediction.objects.filter(external_id__startswith="demo-anomaly-").order_by("id")
    assert odd.count() == 3
    for p in odd:
        assert p.status == "in_review" and p.reason_codes == ["data_anomaly"], p.reason_codes
        assert review_context(p.review_item).diagnostics
    kinds = {f["kind"] for p in odd for f in p.routing_facts["anomalies"]}
    assert kinds >= {"out_of_range", "unseen_category", "missing", "type_changed"}
