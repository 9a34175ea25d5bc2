"""Issue #14 end to end: a synthetic shift through the real pipeline, a real Celery worker and
its beat, contains a model by itself; a spike on another model only notifies.

What is real: the envelopes go through the ingest API (batch endpoint, service token) and are
published to the broker; one `celery worker --beat` process (tests/processes.py) routes them
(policy, the data-quality hook with the model's feature profile, review items), folds the
5-minute buckets on beat, evaluates the monitors on beat from the ``monitors`` queue (never a
direct call), opens the alerts, contains the model through ``mode_change``, writes the
notifications and sends the producer's ``model.mode_changed`` event from the delivery outbox
to a real HTTP receiver on 127.0.0.1 (allowed by the test settings' SSRF switch, as in the
delivery tests). The worker's beat intervals are shortened through its environment.

What is simulated, because 5-minute buckets need time:
* history: each model's feature profile is stored directly (learned from 300 usual inputs by
  the real learner), and the monitors document is applied by the system's bootstrap request,
  with a 10-minute duration (2 buckets) instead of the default 15;
* the clock: the envelopes are posted before the worker starts and their ``received_at`` (and
  ``occurred_at``) moved back into the buckets of the last 15-20 minutes while they wait in
  the broker, so the worker routes, and the fold counts, traffic that "arrived" over that
  time. Envelopes for the current bucket keep their real receipt time, so the outcome does
  not depend on whether a bucket boundary passes during the test.

Silence is not pushed through a worker: it needs a week of usual traffic at this hour (only
stored buckets could give it) and 15 minutes of nothing, so it stays the bucket-level test
``test_monitors_evaluate.py::test_silence_fires_when_a_producer_stops_sending``.
"""

from __future__ import annotations

import datetime as dt

import pytest
from standardwebhooks.webhooks import Webhook

from reviewapp.core.audit import Actor
from reviewapp.core.models import Notification
from reviewapp.dashboards.stats import bucket_floor
from reviewapp.delivery.models import Delivery
from reviewapp.delivery.validators import generate_callback_secret
from reviewapp.failsafe.models import Alert, FeatureProfile, ModeChange
from reviewapp.failsafe.profiles import learn_profile
from reviewapp.governance import services as governance
from reviewapp.models import Mode, ModelMode, Prediction, Purpose, ReviewItem
from tests import processes
from tests.delivery.conftest import Receiver
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory, envelope_for, make_policy
from tests.processes import received_count, wait_until

start_worker = processes.start_worker  # the fixture

pytestmark = [pytest.mark.worker]

FIVE = dt.timedelta(minutes=5)
PER_BUCKET = 6
# On a shared 2-core machine: worker start, routing, a fold and a monitors run.
TIMEOUT = 45
ONCALL_SECRET = generate_callback_secret()

CONTAIN_ON_ANOMALIES = {
    "name": "data-anomalies", "metric": "anomaly_rate", "op": ">", "bound": 0.25,
    "duration_minutes": 10, "severity": "S2", "action": "contain", "shift_sample_size": 10,
}  # fmt: skip
# 15 minutes (3 buckets): two buckets past the bound are a spike, whatever its action says.
CONTAIN_ON_UNCERTAIN = {
    "name": "uncertain-rate", "metric": "uncertain_rate", "op": ">", "bound": 0.5,
    "duration_minutes": 15, "severity": "S3", "action": "contain", "shift_sample_size": 0,
}  # fmt: skip


def _serve():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def receiver():
    """The producer's callback."""
    yield from _serve()


@pytest.fixture
def oncall():
    """The on-call tool's alert webhook (FAILSAFE_ALERT_WEBHOOK_URL)."""
    yield from _serve()


def usual_input(i: int) -> dict:
    return {"amount": 100 + (i * 37) % 800, "country": ("NL", "DE", "FR")[i % 3], "new": i % 2 == 0}


def renamed_input(i: int) -> dict:
    """Upstream renamed ``amount`` to ``amt``: missing + new field on every prediction."""
    x = usual_input(i)
    return {"amt": x.pop("amount"), **x}


def watched(slug: str, monitor: dict, *, owner, receiver=None):
    """A model with a policy, an owner, a monitors document and a feature profile."""
    model = MLModelFactory(slug=slug, labels=["fraud", "legit"], criticality="critical")
    make_policy(model, {**DEFAULT_RULES, "qa_sample_rate": 0.0})
    model.owners.add(owner)
    if receiver is not None:
        model.callback_url = receiver.url
        model.callback_secret = generate_callback_secret()
        model.save()
    governance.change_request_bootstrap(
        model_slug=slug, kind="monitors", document={"monitors": [monitor]},
        rationale="Pipeline test: a short duration.", actor=Actor.system("tests"),
    )  # fmt: skip
    FeatureProfile.objects.create(
        model=model,
        profile=learn_profile([usual_input(i) for i in range(300)], window_days=7),
        sample_size=300,
    )
    return model


def envelope(model, key: str, i: int, *, inp: dict, confidence: float) -> dict:
    return envelope_for(
        model, key, input=inp, confidence=confidence, signals={"ood_score": 0.05},
        output={"label": "legit", "scores": {"legit": confidence}},
    )  # fmt: skip


def post(api, envelopes: list[dict]) -> list[int]:
    response = api.post("/api/v1/predictions/batch", {"predictions": envelopes}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert all(r["status"] == "accepted" for r in results), results
    return [r["id"] for r in results]


def backdate(ids: list[int], start: dt.datetime) -> None:
    """Spread these received predictions over the bucket that begins at ``start``."""
    for n, pk in enumerate(ids):
        at = start + dt.timedelta(seconds=10 + n * (280 // len(ids)))
        Prediction.objects.filter(pk=pk, status=Prediction.Status.RECEIVED).update(
            received_at=at, occurred_at=at
        )


def kinds_for(user, model) -> set[str]:
    """The kinds of in-app notifications ``user`` got about ``model`` (titles name its slug)."""
    return set(
        Notification.objects.filter(recipient=user, title__contains=model.slug).values_list(
            "kind", flat=True
        )
    )


def test_a_shift_through_the_real_pipeline_contains_the_model_and_a_spike_only_notifies(
    start_worker, api, receiver, oncall
):
    owner = UserFactory(username="olga", roles=["engineer"])
    lead = UserFactory(username="lee", roles=["lead"])
    fraud = watched("card-fraud", CONTAIN_ON_ANOMALIES, owner=owner, receiver=receiver)
    xray = watched("chest-xray", CONTAIN_ON_UNCERTAIN, owner=owner)

    # This bucket's traffic first, at its real receipt time: the buckets before it are
    # counted from the bucket it landed in (not from a clock read that a boundary may pass).
    ids = post(
        api,
        [envelope(fraud, f"f0-{i}", i, confidence=0.97,
                  inp=usual_input(i) if i == 0 else renamed_input(i))
         for i in range(PER_BUCKET)]
        + [envelope(xray, f"x0-{i}", i, inp=usual_input(i), confidence=0.3)
           for i in range(PER_BUCKET)],
    )  # fmt: skip
    first = Prediction.objects.filter(pk__in=ids).order_by("received_at").first()
    current = bucket_floor(first.received_at, 5)
    # card-fraud: 5 of 6 predictions per bucket with the renamed field (anomaly rate 0.83),
    # in the three buckets before this one and in this one; all confident.
    # chest-xray: a calm bucket, then two buckets of unsure predictions (uncertain rate 1.0).
    backdated: list[tuple[list[dict], dt.datetime]] = []
    for ago in (3, 2, 1):
        backdated.append((
            [envelope(fraud, f"f{ago}-{i}", i, confidence=0.97,
                      inp=usual_input(i) if i == 0 else renamed_input(i))
             for i in range(PER_BUCKET)],
            current - ago * FIVE,
        ))  # fmt: skip
    backdated.append((
        [envelope(xray, f"x2-{i}", i, inp=usual_input(i), confidence=0.97)
         for i in range(PER_BUCKET)],
        current - 2 * FIVE,
    ))  # fmt: skip
    backdated.append((
        [envelope(xray, f"x1-{i}", i, inp=usual_input(i), confidence=0.3)
         for i in range(PER_BUCKET)],
        current - FIVE,
    ))  # fmt: skip
    for envelopes, start in backdated:
        posted = post(api, envelopes)
        backdate(posted, start)
        ids += posted
    assert received_count(ids) == len(ids)  # nothing routed yet: no worker runs

    worker = start_worker(
        beat=True,
        sweep_after=3600,  # the backdated rows are not the sweeper's business
        env={
            "FAILSAFE_MONITOR_INTERVAL_SECONDS": "1",
            "DASHBOARD_FOLD_INTERVAL_SECONDS": "1",
            "DASHBOARD_SETTLE_SECONDS": "2",
            "WEBHOOK_SEND_INTERVAL_SECONDS": "1",
            "FAILSAFE_ALERT_WEBHOOK_URL": oncall.url,
            "FAILSAFE_ALERT_WEBHOOK_SECRET": ONCALL_SECRET,
        },
    )

    def log() -> str:
        return worker.log(tail=200)

    wait_until(lambda: received_count(ids) == 0, timeout=TIMEOUT,
               message=f"the worker routed the shift\n{log()}")  # fmt: skip
    reasons = Prediction.objects.filter(model=fraud).values_list("reason_codes", flat=True)
    assert sum("data_anomaly" in r for r in reasons) == 4 * (PER_BUCKET - 1)

    # The fold and the monitors on beat open the alert and contain the model.
    wait_until(
        lambda: ModelMode.objects.filter(model=fraud, mode=Mode.CONTAINED).exists(),
        timeout=TIMEOUT, message=f"beat contained card-fraud\n{log()}",
    )  # fmt: skip
    alert = Alert.objects.get(model=fraud, monitor="data-anomalies")
    assert (alert.shape, alert.action_taken, alert.severity) == ("shift", "contain", "S2")
    assert alert.since <= current - 2 * FIVE
    row = ModelMode.objects.get(model=fraud)
    assert row.set_by_monitor and "data-anomalies" in row.set_by_monitor
    assert row.alert_id == alert.pk and row.review_by is not None
    change = ModeChange.objects.get(model=fraud)
    assert (change.from_mode, change.to_mode, change.monitor) == ("normal", "contained",
                                                                   "data-anomalies")  # fmt: skip
    assert change.actor is None and change.alert_id == alert.pk
    assert change.rule["metric"] == "anomaly_rate" and change.rule["bound"] == 0.25
    recorded = change.metrics["data-anomalies"]
    assert recorded["value"] == pytest.approx((PER_BUCKET - 1) / PER_BUCKET)
    assert recorded["bound"] == 0.25 and recorded["state"] == "shift"
    # Humans re-check what passed while it drifted (the usual-input predictions).
    passed_since = set(
        Prediction.objects.filter(
            model=fraud, status=Prediction.Status.PASSED, received_at__gte=alert.since
        ).values_list("id", flat=True)
    )
    sampled = set(
        ReviewItem.objects.filter(model=fraud, purpose=Purpose.SHIFT_SAMPLE).values_list(
            "prediction_id", flat=True
        )
    )
    assert len(passed_since) >= 3 and sampled == passed_since

    # The owner and the leads are told, in the app.
    for person in (owner, lead):
        wait_until(
            lambda person=person: {"failsafe.alert_opened", "failsafe.mode_changed"}
            <= kinds_for(person, fraud),
            timeout=TIMEOUT, message=f"{person.username} notified\n{log()}",
        )  # fmt: skip

    # What they read says what the monitor did (it said "notified only" before the fix in
    # services/alerts.py: the notice was written before the action).
    title = (
        Notification.objects.filter(recipient=owner, kind="failsafe.alert_opened")
        .filter(title__contains=fraud.slug)[0]
        .title
    )
    assert "persistent shift" in title and "model contained" in title, title

    # The on-call tool gets the alert, signed, saying the model was contained.
    def oncall_events() -> list[dict]:
        out = []
        for r in list(oncall.requests):
            headers = {k.lower(): v for k, v in r["headers"].items()}
            out.append(Webhook(ONCALL_SECRET).verify(r["body"], headers))
        return out

    wait_until(
        lambda: any(e["data"]["id"] == alert.pk for e in oncall_events()),
        timeout=TIMEOUT, message=f"the on-call webhook got the alert\n{log()}",
    )  # fmt: skip
    (told,) = [e for e in oncall_events() if e["data"]["id"] == alert.pk]
    assert told["type"] in ("alert.opened", "alert.escalated")
    assert told["data"]["action_taken"] == "contain" and told["data"]["shape"] == "shift"

    # The producer's receiver gets a signed model.mode_changed event from the outbox.
    wait_until(lambda: receiver.requests, timeout=TIMEOUT,
               message=f"the producer's event was sent\n{log()}")  # fmt: skip
    request = receiver.requests[0]
    headers = {k.lower(): v for k, v in request["headers"].items()}
    event = Webhook(fraud.callback_secret).verify(request["body"], headers)
    assert event["type"] == "model.mode_changed"
    data = event["data"]
    assert (data["model"], data["mode"], data["previous_mode"]) == ("card-fraud", "contained",
                                                                    "normal")  # fmt: skip
    assert data["changed_by"] == "monitor" and data["monitor"] == "data-anomalies"
    delivery = Delivery.objects.get(model=fraud, kind=Delivery.Kind.MODE_CHANGED)
    assert headers["webhook-id"] == delivery.message_id

    # The next confident, usual prediction is routed to people by the worker.
    answer = api.post(
        "/api/v1/predictions",
        envelope(fraud, "after-1", 1, inp=usual_input(1), confidence=0.99),
        format="json",
    )
    assert answer.status_code == 202, answer.content
    assert answer.json()["model_mode"] == "contained"
    pk = answer.json()["id"]
    wait_until(lambda: received_count([pk]) == 0, timeout=TIMEOUT,
               message=f"the worker routed the next prediction\n{log()}")  # fmt: skip
    record = api.get(f"/api/v1/predictions/{pk}").json()
    assert record["routing"]["mode"] == "contained", record
    assert "model_contained" in record["routing"]["reason_codes"], record
    assert record["status"] == "in_review"

    # chest-xray: its bound was crossed for two buckets of the three it needs: a spike.
    wait_until(
        lambda: Alert.objects.filter(model=xray, monitor="uncertain-rate").exists(),
        timeout=TIMEOUT, message=f"beat opened the spike alert\n{log()}",
    )  # fmt: skip
    spike = Alert.objects.get(model=xray, monitor="uncertain-rate")
    assert (spike.shape, spike.action_taken, spike.state) == ("spike", "", "open")
    assert not ModelMode.objects.filter(model=xray).exclude(mode=Mode.NORMAL).exists()
    assert not ModeChange.objects.filter(model=xray).exists()
    for person in (owner, lead):
        wait_until(
            lambda person=person: "failsafe.alert_opened" in kinds_for(person, xray),
            timeout=TIMEOUT, message=f"{person.username} told of the spike\n{log()}",
        )  # fmt: skip
    assert "failsafe.mode_changed" not in kinds_for(owner, xray)
    assert not Delivery.objects.filter(model=xray, kind=Delivery.Kind.MODE_CHANGED).exists()
    worker.stop()
