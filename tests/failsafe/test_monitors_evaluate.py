"""The monitors on beat: spike vs persistent shift, actions, dedup, resolve, silence, no data."""

from __future__ import annotations

import datetime as dt

import pytest

from reviewapp.core import registry
from reviewapp.core.models import AuditEvent
from reviewapp.dashboards.models import MetricBucket
from reviewapp.failsafe import monitors
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.failsafe.services.modes import mode_change
from reviewapp.failsafe.tasks import monitors_evaluate as monitors_task
from reviewapp.models import Mode, ModelMode
from tests.factories import MLModelFactory

from .monitor_helpers import FIVE, NOW, T, bucket, buckets, folded, hook_spy

pytestmark = pytest.mark.django_db
NORMAL = {"received": 100, "anomalies": 0}
BAD = {"received": 100, "anomalies": 50}


def run(now=NOW):
    folded(now)
    return monitors.monitors_evaluate(now=now)


def states(model, now=NOW):
    _monitors, found = monitors.states_of([model], now=now)[model.pk]
    return {s.name: s.as_dict() for s in found}


def alert_of(model, monitor="data-anomalies"):
    return Alert.objects.get(model=model, monitor=monitor)


def test_a_spike_only_notifies(fraud_model):
    buckets(fraud_model, end=T - FIVE, count=12, **NORMAL)
    bucket(fraud_model, T - FIVE, **BAD)  # the newest bucket only: 5 of 15 minutes
    with hook_spy("failsafe.alert_opened", "failsafe.mode_changed") as calls:
        counts = run()
    assert counts["spike"] == 1 and counts["shift"] == 0
    alert = alert_of(fraud_model)
    assert (alert.shape, alert.state, alert.action_taken) == ("spike", "open", "")
    assert alert.value == 0.5 and alert.since == T - FIVE and alert.severity == "S2"
    assert len(calls["failsafe.alert_opened"]) == 1
    assert calls["failsafe.alert_opened"][0]["alert"] == alert
    assert not calls["failsafe.mode_changed"]
    assert not ModelMode.objects.filter(model=fraud_model).exclude(mode="normal").exists()
    assert not ModeChange.objects.exists()
    assert AuditEvent.objects.filter(verb="failsafe.alert.opened").count() == 1


def test_a_persistent_shift_contains_once_and_records_the_metric_values(fraud_model):
    buckets(fraud_model, end=T - 3 * FIVE, count=9, **NORMAL)
    buckets(fraud_model, end=T, count=3, **BAD)  # 15 minutes past 0.25: the duration
    with hook_spy("failsafe.alert_opened", "failsafe.mode_changed") as calls:
        run()
        run(NOW + dt.timedelta(seconds=30))  # again: deduplicated, acted on once
    alert = alert_of(fraud_model)
    assert (alert.shape, alert.action_taken) == ("shift", "contain")
    assert alert.since == T - 3 * FIVE
    assert Alert.objects.filter(model=fraud_model).count() == 1
    assert len(calls["failsafe.alert_opened"]) == 1
    row = ModelMode.objects.get(model=fraud_model)
    assert row.mode == Mode.CONTAINED and row.set_by is None
    assert row.set_by_monitor == "data-anomalies" and row.alert_id == alert.pk
    change = ModeChange.objects.get()
    assert change.is_automatic and change.alert == alert and change.to_mode == "contained"
    assert change.rule["metric"] == "anomaly_rate" and change.rule["bound"] == 0.25
    assert change.metrics["data-anomalies"] == {
        "value": 0.5, "bound": 0.25, "state": "shift", "severity": "S2", "metric": "anomaly_rate",
    }  # fmt: skip
    assert change.metrics["uncertain-rate"]["state"] == "ok"
    assert change.metrics["silence"]["state"] == "no_data"
    assert "data-anomalies" in change.reason and "persistent shift" in change.reason
    assert len(calls["failsafe.mode_changed"]) == 1


def test_a_spike_that_lasts_becomes_a_shift_on_the_same_alert(fraud_model):
    buckets(fraud_model, end=T - FIVE, count=12, **NORMAL)
    bucket(fraud_model, T - FIVE, **BAD)
    run()
    spike = alert_of(fraud_model)
    bucket(fraud_model, T, **BAD)
    bucket(fraud_model, T + FIVE, **BAD)
    with hook_spy("failsafe.alert_escalated", "failsafe.alert_opened") as calls:
        run(NOW + 2 * FIVE)
    alert = alert_of(fraud_model)
    assert alert.pk == spike.pk and alert.shape == "shift" and alert.action_taken == "contain"
    assert len(calls["failsafe.alert_escalated"]) == 1 and not calls["failsafe.alert_opened"]
    assert AuditEvent.objects.filter(verb="failsafe.alert.escalated").count() == 1


@pytest.mark.parametrize("hook", ["failsafe.alert_opened", "failsafe.mode_changed"])
def test_a_failing_notice_never_stops_the_containment(fraud_model, hook):
    def broken(**kwargs):
        raise RuntimeError("the mail relay is down")

    registry.register_hook(hook, broken)
    try:
        buckets(fraud_model, end=T - 3 * FIVE, count=9, **NORMAL)
        buckets(fraud_model, end=T, count=3, **BAD)
        run()
    finally:
        registry.unregister_hook(hook, broken)
    assert ModelMode.objects.get(model=fraud_model).mode == Mode.CONTAINED
    assert alert_of(fraud_model).action_taken == "contain"


def test_no_stronger_mode_is_weakened(fraud_model, lead):
    mode_change(model=fraud_model, mode=Mode.HALTED, reason="Chargebacks spiking.", user=lead)
    buckets(fraud_model, end=T, count=3, **BAD)
    run()
    assert alert_of(fraud_model).action_taken == "already_halted"
    assert ModelMode.objects.get(model=fraud_model).mode == Mode.HALTED
    assert ModeChange.objects.count() == 1


def test_the_alert_resolves_only_after_the_set_time_back_inside_the_bound(fraud_model, settings):
    settings.FAILSAFE_ALERT_RESOLVE_MINUTES = 15
    buckets(fraud_model, end=T, count=3, **BAD)
    run()
    alert = alert_of(fraud_model)
    # Back inside for 5, then 10 minutes: still unresolved, the time it came back recorded.
    bucket(fraud_model, T, **NORMAL)
    run(NOW + FIVE)
    alert.refresh_from_db()
    assert alert.state == "open" and alert.inside_since == T
    bucket(fraud_model, T + FIVE, **NORMAL)
    run(NOW + 2 * FIVE)
    alert.refresh_from_db()
    assert alert.state == "open"
    # Past the bound again: the clock starts over.
    bucket(fraud_model, T + 2 * FIVE, **BAD)
    run(NOW + 3 * FIVE)
    alert.refresh_from_db()
    assert alert.state == "open" and alert.inside_since is None
    with hook_spy("failsafe.alert_resolved") as calls:
        for i in range(3, 6):
            bucket(fraud_model, T + i * FIVE, **NORMAL)
            run(NOW + (i + 1) * FIVE)
    alert.refresh_from_db()
    assert alert.state == "resolved" and alert.inside_since == T + 3 * FIVE
    assert len(calls["failsafe.alert_resolved"]) == 1
    event = AuditEvent.objects.get(verb="failsafe.alert.resolved")
    assert event.before["state"] == "open" and event.after["state"] == "resolved"
    # Resolving never lifts the containment: a lead does that, after acknowledging.
    assert ModelMode.objects.get(model=fraud_model).mode == Mode.CONTAINED
    # A new episode opens a new alert.
    for i in range(6, 9):
        bucket(fraud_model, T + i * FIVE, **BAD)
    run(NOW + 9 * FIVE)
    assert Alert.objects.filter(model=fraud_model, monitor="data-anomalies").count() == 2


def test_stale_or_missing_data_never_fires_and_never_resolves(fraud_model):
    buckets(fraud_model, end=T, count=3, **BAD)
    folded(NOW - dt.timedelta(minutes=30))  # the fold stopped half an hour ago
    assert monitors.monitors_evaluate(now=NOW)["shift"] == 0
    assert not Alert.objects.exists()
    assert states(fraud_model)["data-anomalies"]["state"] == "no_data"
    # An open alert is kept (not resolved) while there is no data.
    run()
    MetricBucket.objects.filter(model=fraud_model).delete()
    run(NOW + FIVE)
    assert alert_of(fraud_model).state == "open"


def test_silence_fires_when_a_producer_stops_sending(fraud_model):
    # A week of 100 predictions per 5 minutes around noon, then nothing for 15 minutes: the
    # fold still writes its open-queue sample, so the silent buckets exist with 0 received.
    for day in range(1, 8):
        buckets(fraud_model, end=T + dt.timedelta(hours=1) - dt.timedelta(days=day), count=24,
                received=100)  # fmt: skip
    buckets(fraud_model, end=T - 3 * FIVE, count=6, received=100)
    buckets(fraud_model, end=T, count=3, received=0, open_queue=0)
    run()
    alert = alert_of(fraud_model, "silence")
    assert alert.shape == "shift" and alert.action_taken == "notify" and alert.value == 0.0
    assert not ModelMode.objects.filter(model=fraud_model).exists()
    assert states(fraud_model)["silence"] == {
        "name": "silence", "state": "shift", "value": 0.0, "bound": 0.1, "severity": "S2",
    }  # fmt: skip
    # Traffic back to its usual level: inside the bound.
    bucket(fraud_model, T, received=90)
    folded(NOW + FIVE)
    assert states(fraud_model, NOW + FIVE)["silence"]["state"] == "ok"


def test_silence_needs_a_usual_level(fraud_model):
    buckets(fraud_model, end=T, count=3, received=0)
    run()
    assert states(fraud_model)["silence"]["state"] == "no_data"


def test_the_active_monitors_version_replaces_the_defaults(fraud_model):
    from reviewapp.core.audit import Actor
    from reviewapp.governance import services

    services.change_request_bootstrap(
        model_slug="card-fraud", kind="monitors", rationale="Tighter anomaly bound.",
        actor=Actor.system("install"),
        document={"monitors": [{
            "name": "anomalies", "metric": "anomaly_rate", "op": ">", "bound": 0.6,
            "duration_minutes": 10, "severity": "S1", "action": "halt",
        }]},
    )  # fmt: skip
    buckets(fraud_model, end=T, count=3, **BAD)  # 0.5: inside 0.6
    run()
    assert not Alert.objects.exists()
    assert list(states(fraud_model)) == ["anomalies"]
    buckets(fraud_model, end=T + FIVE, count=2, received=100, anomalies=70)
    run(NOW + FIVE)
    alert = Alert.objects.get()
    assert alert.monitors_version == 1 and alert.severity == "S1"
    assert ModelMode.objects.get(model=fraud_model).mode == Mode.HALTED


def test_one_beat_run_costs_the_same_queries_for_more_models(
    fraud_model, django_assert_max_num_queries
):
    buckets(fraud_model, end=T, count=12, **NORMAL)
    folded()
    with django_assert_max_num_queries(8):
        monitors.monitors_evaluate(now=NOW)
    for i in range(5):
        other = MLModelFactory(slug=f"m{i}", labels=["a", "b"])
        buckets(other, end=T, count=12, **NORMAL)
    with django_assert_max_num_queries(8):
        monitors.monitors_evaluate(now=NOW)


def test_the_hooks_and_the_task(fraud_model):
    buckets(fraud_model, end=T, count=3, **BAD)
    folded()
    (states,) = registry.run_hooks("failsafe.monitor_states", model=fraud_model)
    assert {"name", "state", "value", "bound", "severity"} <= set(states[0])
    (snapshot,) = registry.run_hooks("failsafe.metric_snapshot", model=fraud_model)
    assert "data-anomalies" in snapshot
    # The task runs the evaluator (now, not at NOW: the buckets are old, so no data).
    assert set(monitors_task()) == {"ok", "spike", "shift", "no_data"}


def test_a_synthetic_shift_from_the_scenario_contains_the_model(fraud_model):
    from tests.dashboards.scenario import push_shift

    now = T + dt.timedelta(minutes=30)
    push_shift(fraud_model, minutes=25, now=now)
    monitors.monitors_evaluate(now=now + dt.timedelta(minutes=1))
    alert = alert_of(fraud_model)
    assert alert.shape == "shift" and alert.action_taken == "contain"
    assert ModelMode.objects.get(model=fraud_model).mode == Mode.CONTAINED


def test_a_metric_no_longer_defined_reads_as_no_data(fraud_model):
    from reviewapp.governance.models import DocumentVersion

    DocumentVersion(
        model_slug="card-fraud", kind="monitors", version=1, is_active=True,
        document={"monitors": [
            {"name": "gone", "metric": "retired_metric", "op": ">", "bound": 1,
             "duration_minutes": 5, "severity": "S4", "action": "notify"},
            {"name": "anomalies", "metric": "anomaly_rate", "op": ">", "bound": 0.25,
             "duration_minutes": 15, "severity": "S2", "action": "notify"},
        ]},
    ).save()  # fmt: skip
    buckets(fraud_model, end=T, count=3, **BAD)
    run()
    found = states(fraud_model)
    assert found["gone"]["state"] == "no_data" and found["anomalies"]["state"] == "shift"
