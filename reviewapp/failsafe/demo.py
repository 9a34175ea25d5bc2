"""The fail-safe part of ``seed_demo``: each demo model's owners and a week that reads like a
real one, written through the real services.

* Yesterday morning an upstream release renamed a card-fraud input field: the
  ``data-anomalies`` monitor saw a spike at 09:20 UTC that lasted its 15 minutes (a persistent
  shift) and contained the model; lee acknowledged the alert, the producer rolled the rename
  back, the metric came back inside its bound and the alert resolved, and lee lifted the
  containment with a note two hours after it began.
* Today radiology-triage's uncertain rate spiked (S3, notify only): one open alert, so the
  alerts page is not empty and a lead or engineer has something to acknowledge.

No model is left contained: the reviewers' queue works normally after seeding.

Every step calls the service a beat run or a person would, with core's clock
(``reviewapp.core.clock``) set to the moment it happened, so the alerts, the mode history, the
notifications and the audit log all tell the same times. ``history_steps`` hands the steps out
with their times, so ``seed_demo``'s month of traffic can run them in their place in the
timeline (the containment then really holds the predictions that arrive while it lasts);
``seed_history`` runs them on their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model

from reviewapp.core import clock
from reviewapp.models import MLModel

from .models import Alert, ModeChange
from .monitors import DEFAULT_MONITORS, NO_DATA, OK, SHIFT, SPIKE, MonitorState, rule_of
from .services.acknowledge import alert_acknowledge
from .services.alerts import alert_act, alert_open, alert_resolve, alert_update
from .services.modes import mode_change
from .services.owners import model_owners_set

# Who is told when each demo model's monitors fire (usernames of seed_demo's users).
DEMO_OWNERS = {
    "card-fraud": ["lee", "sam"],
    "support-triage": ["lee"],
    "radiology-triage": ["sam"],
}


Step = tuple[dt.datetime, Callable[[], None]]


def _monitor(name: str) -> dict[str, Any]:
    return dict(next(m for m in DEFAULT_MONITORS if m["name"] == name))


def _state(
    name: str, state: str, value: float | None, since: dt.datetime | None, as_of: dt.datetime
) -> MonitorState:
    monitor = _monitor(name)
    return MonitorState(
        monitor=monitor, rule=rule_of(monitor), state=state, value=value, since=since, as_of=as_of
    )


def _snapshot(values: dict[str, tuple[str, float | None]]) -> dict[str, Any]:
    """Every default monitor's reading at a moment, as a beat run records it with a switch:
    ``values`` names the ones that were not simply "no data"."""
    out = {}
    for monitor in DEFAULT_MONITORS:
        state, value = values.get(monitor["name"], (NO_DATA, None))
        out[monitor["name"]] = {
            "state": state,
            "value": value,
            "bound": float(monitor["bound"]),
            "severity": monitor["severity"],
            "metric": monitor["metric"],
        }
    return out


def seed_owners() -> None:
    """Name each demo model's owners, unless someone already has (a lead's later choice
    stands on a re-run)."""
    lead = get_user_model().objects.get(username="lee")
    for model in MLModel.objects.filter(slug__in=DEMO_OWNERS).prefetch_related("owners"):
        if not model.owners.all():
            model_owners_set(model=model, owners=DEMO_OWNERS[model.slug], user=lead)


def history_steps(*, now: dt.datetime | None = None) -> list[Step]:
    """The week's fail-safe history as (moment, step) pairs, oldest first; empty when any
    demo model already has an alert or a mode change (a re-run, or a demo whose monitors
    already fired). Each step runs under ``clock.travel(moment)``."""
    slugs = list(DEMO_OWNERS)
    models = {m.slug: m for m in MLModel.objects.filter(slug__in=slugs)}
    if len(models) < len(slugs):
        return []
    ids = [m.pk for m in models.values()]
    if (
        Alert.objects.filter(model_id__in=ids).exists()
        or ModeChange.objects.filter(model_id__in=ids).exists()
    ):
        return []
    now = now or clock.now()
    users = get_user_model().objects.in_bulk(["lee", "sam"], field_name="username")
    steps = _card_fraud_contained_yesterday(models["card-fraud"], users["lee"], now)
    steps += _radiology_spike_today(models["radiology-triage"], now)
    return sorted(steps, key=lambda step: step[0])


def seed_history(*, now: dt.datetime | None = None) -> bool:
    """Write the week's fail-safe history once (see :func:`history_steps`). Returns whether
    it wrote."""
    steps = history_steps(now=now)
    for at, step in steps:
        with clock.travel(at):
            step()
    return bool(steps)


def _card_fraud_contained_yesterday(model: MLModel, lee: Any, now: dt.datetime) -> list[Step]:
    day = (now - dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    at = {k: day + dt.timedelta(minutes=m) for k, m in {
        "began": 20, "spike": 25, "shift": 35, "ack": 47, "inside": 130, "resolved": 145,
        "lifted": 155,
    }.items()}  # fmt: skip
    name = "data-anomalies"
    opened: list[Alert] = []

    def spike() -> None:
        opened.append(
            alert_open(
                model=model,
                monitor_state=_state(name, SPIKE, 0.61, at["began"], at["spike"]),
                version=None,
                now=at["spike"],
            )
        )

    def shift() -> None:
        state = _state(name, SHIFT, 0.94, at["began"], at["shift"])
        alert_update(alert=opened[0], monitor_state=state, now=at["shift"])
        metrics = _snapshot({
            name: (SHIFT, 0.94), "uncertain-rate": (OK, 0.31), "override-rate": (OK, 0.08),
            "ood-rate": (OK, 0.04), "rejected-envelopes": (OK, 0.0), "open-queue": (OK, 38.0),
            "oldest-waiting": (OK, 21.0), "sla-breach-rate": (OK, 0.0),
            "silence": (OK, 0.97),
        })  # fmt: skip
        alert_act(alert=opened[0], monitor_state=state, metrics=metrics, now=at["shift"])

    def acknowledge() -> None:
        alert_acknowledge(
            alert=opened[0],
            user=lee,
            note=(
                "Payments gateway 4.12 renamed device_seen_before to device_known: every "
                "prediction since 09:20 lacks the field. Asked Payments to roll the rename back."
            ),
        )

    def resolve() -> None:
        alert = opened[0]
        alert.refresh_from_db()
        alert_resolve(
            alert=alert,
            monitor_state=_state(name, OK, 0.02, at["inside"], at["resolved"]),
            now=at["resolved"],
        )

    def lift() -> None:
        mode_change(
            model=model,
            mode="normal",
            reason=(
                "Gateway 4.12.1 sends device_seen_before again; the anomaly rate has been "
                "back under 0.05 since 11:10 UTC. Sampled 20 predictions made during the "
                "containment: all fine."
            ),
            user=lee,
            metrics=_snapshot(
                {
                    name: (OK, 0.02),
                    "uncertain-rate": (OK, 0.29),
                    "override-rate": (OK, 0.07),
                    "ood-rate": (OK, 0.03),
                    "rejected-envelopes": (OK, 0.0),
                    "open-queue": (OK, 12.0),
                    "oldest-waiting": (OK, 9.0),
                    "sla-breach-rate": (OK, 0.0),
                    "silence": (OK, 1.04),
                }
            ),  # fmt: skip
        )

    return [
        (at["spike"], spike),
        (at["shift"], shift),
        (at["ack"], acknowledge),
        (at["resolved"], resolve),
        (at["lifted"], lift),
    ]


def _radiology_spike_today(model: MLModel, now: dt.datetime) -> list[Step]:
    """An S3 spike of the uncertain rate 20 minutes ago: notify only, still open."""
    began = now - dt.timedelta(minutes=20)
    opened = now - dt.timedelta(minutes=15)

    def spike() -> None:
        alert_open(
            model=model,
            monitor_state=_state("uncertain-rate", SPIKE, 0.58, began, opened),
            version=None,
            now=opened,
        )

    return [(opened, spike)]
