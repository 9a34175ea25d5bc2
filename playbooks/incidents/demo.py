"""Demo incidents: three months of handled incidents on the demo models, so the incident list,
an incident's page and the metrics page have something to show under ``make run``.

Seven closed incidents with their milestones (some with an impact start before detection,
two without one), every severity, failure modes from the catalog, a confirmed root cause, a
published post-mortem and action items (most done, one overdue owned by sam, one open and not
due yet); one failure mode that comes back after the first incident's actions were done; one
cancelled incident; and one open incident on card-fraud, triaged, commanded by sam, following
the data-drift playbook.

The lifecycle goes through the incident services (each step at its own time, with the clock
moved there so the audit log reads in order); hypotheses, post-mortems and action items are
written as rows (history, not actions someone takes now). Idempotent: nothing is added when
the demo incidents are there, and nothing when the demo models, people or catalog entries
they need are missing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from catalog.models import FailureMode
from reviewapp.core import clock
from reviewapp.models import MLModel

from ..models import ActionItem, Hypothesis, Incident, Playbook, PostMortem
from . import services

H = dt.timedelta(hours=1)
D = dt.timedelta(days=1)
PEOPLE = ("sam", "lee")
PLAYBOOKS = {
    "drift": "Data drift: inputs move away from training",
    "schema": "Upstream schema change breaks features",
    "calibration": "Miscalibration after a retrain",
    "latency": "Model service latency or outage",
    "labels": "Label-quality regression",
}

# Each incident: when it was detected (days before now, hour of day UTC), the offsets of its
# milestones from detection (impact start before it), and what the post-mortem found.
INCIDENTS: list[dict[str, Any]] = [
    {
        "title": "Currency mix drift after the Dutch market launch",
        "model": "card-fraud", "severity": "S2", "playbook": "drift", "commander": "sam",
        "failure_modes": ["currency-mix-drift"],
        "detected": (84, 6), "impact": -4.5 * H,
        "triage": 20 * 60, "contain": 1 * H, "remediate": 1 * D, "verify": 2 * D, "close": 3 * D,
        "hypothesis": ("EUR share of traffic doubled after the NL launch; the model never saw it.",
                       "Compare the currency mix of the last week with the training window.",
                       "EUR went from 18 % to 41 % of transactions; PSI 0.31 on `currency`."),
        "summary": "Fraud scores drifted after the Dutch launch changed the currency mix.",
        "actions": [
            ("detect", "Alert on currency-mix PSI above 0.2", "lee", 14, 12),
            ("prevent", "Add a currency-mix check to the market launch checklist", "sam", 21, 14),
        ],
    },
    {
        "title": "Overconfident scores after the October retrain",
        "model": "radiology-triage", "severity": "S2", "playbook": "calibration",
        "commander": "lee", "failure_modes": ["overconfident-after-retrain"],
        "detected": (47, 9), "impact": -3 * D,
        "triage": 30 * 60, "contain": 2 * H, "remediate": 2 * D, "verify": 3 * D, "close": 4 * D,
        "hypothesis": ("The retrain dropped temperature scaling, so confidences ran high.",
                       "Reliability diagram of the new version on the holdout set.",
                       "ECE rose from 0.03 to 0.11; the calibration step was missing."),
        "summary": "A retrain shipped without its calibration step; confidences ran high.",
        "actions": [("process", "Make calibration a required stage of the retrain", "lee", 10, 8)],
    },
    {
        "title": "Schema rename broke the channel feature",
        "model": "support-triage", "severity": "S1", "playbook": "schema", "commander": "sam",
        "failure_modes": ["schema-rename-breaks-feature"],
        "detected": (62, 14), "impact": None,
        "triage": 10 * 60, "contain": 25 * 60, "remediate": 5 * H, "verify": 1 * D,
        "close": 2 * D,
        "hypothesis": ("The producer renamed `channel` to `source_channel`; it arrived empty.",
                       "Diff the payload schema before and after the producer's deploy.",
                       "The field was renamed in the producer's release 4.12."),
        "summary": "An upstream rename left a key feature empty for five hours.",
        "actions": [
            ("detect", "Refuse payloads missing required features at ingest", "sam", 7, 5),
            ("prevent", "Contract test between the producer and the model's schema", "sam",
             -10, None),
        ],
    },
    {
        "title": "Scoring latency timeouts at the evening peak",
        "model": "card-fraud", "severity": "S3", "playbook": "latency", "commander": "sam",
        "failure_modes": ["inference-latency-timeouts"],
        "detected": (20, 19), "impact": None,
        "triage": 5 * 60, "contain": 15 * 60, "remediate": 3 * H, "verify": 1 * D,
        "close": 1 * D + 2 * H,
        "hypothesis": ("The model service ran out of workers at peak traffic.",
                       "Worker saturation and p99 latency over the peak hour.",
                       "All workers busy from 19:02; p99 at 2.4 s against a 500 ms ceiling."),
        "summary": "The scoring service timed out at the evening peak; fallbacks were served.",
        "actions": [("mitigate", "Autoscale scoring workers on queue depth", "sam", 5, 3)],
    },
    {
        "title": "Currency mix drift again after the Belgian launch",
        "model": "card-fraud", "severity": "S3", "playbook": "drift", "commander": "lee",
        "failure_modes": ["currency-mix-drift"],
        "detected": (30, 11), "impact": -2 * H,
        "triage": 15 * 60, "contain": 40 * 60, "remediate": 20 * H, "verify": 2 * D,
        "close": 2 * D + 4 * H,
        "hypothesis": ("Same cause as the Dutch launch: a new market moved the currency mix.",
                       "PSI on `currency` since the BE launch.",
                       "PSI 0.24; the new alert fired, 2 hours after impact."),
        "summary": "The currency mix moved again with the Belgian launch; detected sooner.",
        "actions": [
            ("prevent", "Retrain with a market-weighted sample before each launch", "lee", 5, 4),
            ("follow_up", "Review the launch calendar with the payments team", "sam", 45, None),
        ],
    },
    {
        "title": "Label noise from chargeback lag",
        "model": "support-triage", "severity": "S4", "playbook": "labels", "commander": "lee",
        "failure_modes": ["label-noise-from-chargeback-lag"],
        "detected": (9, 10), "impact": -5 * D,
        "triage": 2 * H, "contain": None, "remediate": 2 * D, "verify": 3 * D, "close": 3 * D,
        "hypothesis": ("Late labels were exported before they settled.",
                       "Compare label agreement for items older and younger than 30 days.",
                       "Agreement 0.71 under 30 days against 0.93 over."),
        "summary": "Labels exported before they settled made the weekly evaluation look worse.",
        "actions": [("process", "Export labels only after 30 days", "lee", 4, 2)],
    },
    {
        "title": "Upstream enrichment outage",
        "model": "radiology-triage", "severity": "S2", "playbook": "latency", "commander": "sam",
        "failure_modes": ["upstream-enrichment-outage"],
        "detected": (6, 8), "impact": -40 * 60,
        "triage": 10 * 60, "contain": 30 * 60, "remediate": 6 * H, "verify": 1 * D,
        "close": 1 * D + 1 * H,
        "hypothesis": ("The enrichment service was down; features fell back to defaults.",
                       "Share of requests with default enrichment values.",
                       "97 % defaults from 07:20 to 13:40."),
        "summary": "An enrichment outage fed default values to the model for six hours.",
        "actions": [("mitigate", "Halt the model when enrichment defaults exceed 20 %", "sam",
                     3, 1)],
    },
]  # fmt: skip
CANCELLED = {
    "title": "Holiday traffic spike (not an incident)",
    "model": "card-fraud", "severity": "S3", "commander": "sam",
    "failure_modes": ["seasonal-concept-drift"], "detected": (40, 16),
    "cancel": 50 * 60,
    "reason": "Expected seasonal traffic; the monitor's band was widened instead.",
}  # fmt: skip
OPEN = {
    "title": "Fraud scores drifting on a new merchant category",
    "model": "card-fraud", "severity": "S2", "playbook": "drift", "commander": "sam",
    "failure_modes": ["seasonal-concept-drift"],
    "impact": -5 * H, "detected": -3 * H, "triage": -2.5 * H,
}  # fmt: skip
TITLES = [i["title"] for i in [*INCIDENTS, CANCELLED, OPEN]]


def _seconds(value: Any) -> dt.timedelta:
    return value if isinstance(value, dt.timedelta) else dt.timedelta(seconds=value)


def _move(incident: Incident, event: str, actor: Any, at: dt.datetime, reason: str = "") -> None:
    with clock.travel(at):
        incident.refresh_from_db()
        services.incident_transition(
            incident=incident, event=event, actor=actor, base_version=incident.version, at=at,
            reason=reason,
        )  # fmt: skip


def _open(spec: dict[str, Any], people: dict[str, Any], playbooks: dict[str, str], *,
          detected: dt.datetime, impact: dt.datetime | None) -> Incident:  # fmt: skip
    with clock.travel(detected):
        return services.incident_open(
            actor=people[spec["commander"]], title=spec["title"], severity=spec["severity"],
            model_slugs=[spec["model"]], summary=spec.get("summary", ""),
            playbook_slug=playbooks.get(spec.get("playbook", ""), ""),
            failure_mode_slugs=spec["failure_modes"], impact_started_at=impact,
            detected_at=detected,
            source=Incident.Source.PLAYBOOK if spec.get("playbook") else Incident.Source.MANUAL,
        )  # fmt: skip


def _detected(days_ago: int, hour: int, now: dt.datetime) -> dt.datetime:
    return (now - days_ago * D).replace(hour=hour, minute=0, second=0, microsecond=0)


def _closed(spec: dict[str, Any], people: dict[str, Any], playbooks: dict[str, str],
            now: dt.datetime) -> Incident:  # fmt: skip
    detected = _detected(*spec["detected"], now)
    impact = detected + _seconds(spec["impact"]) if spec["impact"] is not None else None
    incident = _open(spec, people, playbooks, detected=detected, impact=impact)
    commander = people[spec["commander"]]
    at = {k: detected + _seconds(spec[k]) for k in ("triage", "remediate", "verify", "close")}
    _move(incident, "triage", commander, at["triage"])
    if spec["contain"] is not None:
        _move(incident, "contain", commander, detected + _seconds(spec["contain"]))
    statement, test, evidence = spec["hypothesis"]
    confirmed_at = at["remediate"] - 2 * H
    Hypothesis.objects.create(
        incident=incident, statement=statement, test=test, evidence=evidence,
        result="Confirmed.", confidence=90, status=Hypothesis.Status.CONFIRMED,
        created_by=commander, decided_by=commander, decided_at=confirmed_at,
        created_at=at["triage"], updated_at=confirmed_at,
    )  # fmt: skip
    _move(incident, "remediate", commander, at["remediate"])
    _move(incident, "verify", commander, at["verify"])
    PostMortem.objects.create(
        incident=incident, status=PostMortem.Status.PUBLISHED, summary=spec["summary"],
        impact=f"{spec['model']} served degraded decisions until containment.",
        root_causes=statement, trigger=evidence,
        detection="Impact start from the monitor's history." if impact else
                  "Detected by the monitor; no impact start could be established.",
        resolution="Fixed and verified against a fresh sample.",
        went_well="The playbook's containment step was quick.",
        went_wrong="Detection lagged the impact." if impact else "Nobody owned the alert.",
        got_lucky="Traffic was low at the time.",
        author=commander, published_at=at["close"], created_at=at["verify"],
        updated_at=at["close"],
    )  # fmt: skip
    rows = []
    for kind, title, owner, due_days, done_days in spec["actions"]:
        # due_days: after closing (negative: before now, i.e. overdue); done_days: after
        # closing (None: still open).
        due_on = (at["close"] + due_days * D if due_days > 0 else now + due_days * D).date()
        done_at = at["close"] + done_days * D if done_days is not None else None
        rows.append(
            ActionItem(
                incident=incident,
                kind=kind,
                title=title,
                owner=people[owner],
                due_on=due_on,
                status=ActionItem.Status.DONE if done_at else ActionItem.Status.OPEN,
                done_at=done_at,
                created_by=commander,
                created_at=at["close"],
                updated_at=done_at or at["close"],
            )  # fmt: skip
        )
    ActionItem.objects.bulk_create(rows)
    _move(incident, "close", commander, at["close"])
    return incident


def seed_incidents(*, now: dt.datetime | None = None) -> int:
    """Create the demo incidents if none of them exists yet; the number created (0 when they
    are there, or when the demo models, people or failure modes are missing)."""
    now = now or clock.now()
    if Incident.objects.filter(title__in=TITLES).exists():
        return 0
    people = {u.username: u for u in get_user_model().objects.filter(username__in=PEOPLE)}
    specs = [*INCIDENTS, CANCELLED, OPEN]
    models = {s["model"] for s in specs}
    modes = {fm for s in specs for fm in s["failure_modes"]}
    if (
        len(people) != len(PEOPLE)
        or MLModel.objects.filter(slug__in=models).count() != len(models)
        or FailureMode.objects.filter(slug__in=modes).count() != len(modes)
    ):
        return 0
    playbooks = dict(
        Playbook.objects.filter(
            status=Playbook.Status.ACTIVE, current__title__in=PLAYBOOKS.values()
        ).values_list("current__title", "slug")
    )
    playbooks = {key: playbooks[title] for key, title in PLAYBOOKS.items() if title in playbooks}
    with transaction.atomic():
        for spec in INCIDENTS:
            # The recurrence: the second currency-mix incident was detected after the first
            # one's action items were all done (they are, 14 days after it closed).
            _closed(spec, people, playbooks, now)
        spec = CANCELLED
        detected = _detected(*spec["detected"], now)
        incident = _open(spec, people, playbooks, detected=detected, impact=None)
        _move(incident, "cancel", people[spec["commander"]],
              detected + _seconds(spec["cancel"]), reason=spec["reason"])  # fmt: skip
        spec = OPEN
        incident = _open(spec, people, playbooks, detected=now + spec["detected"],
                         impact=now + spec["impact"])  # fmt: skip
        _move(incident, "triage", people[spec["commander"]], now + spec["triage"])
    return len(specs)
