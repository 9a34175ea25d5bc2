"""Incident page and affected-prediction ledger benchmark (prints figures; not a test).

Fills one model (``card-fraud``: three routing policy versions, the last active, and model
settings) with N passed predictions over the 6 hours before now (loaded with COPY), 5,000
routed ones with review items and final decisions (one in ten an override), an incident on it
(impact start 5 h ago, detected 4 h ago, a pinned demo playbook with some steps recorded, 3
hypotheses, about 300 audit events on its timeline through the real services) and 200 past
incidents (rows with their milestones, for the metrics page). Then times, after one warm-up,
the median and p95 of ``--runs`` runs and the SQL queries of each:

- the incident page as an engineer (the test Client, whole response) and each section's
  context function alone;
- ``ledger.affected_summary``;
- ``ledger.incident_recheck_queue``: a sample of 1,000, "all" refused on the big incident
  (more than INCIDENT_RECHECK_MAX) and "all" on a fresh incident whose window holds just under
  the cap (each run on a fresh incident, its recheck items removed afterwards, so it queues);
- the recovery ranking (``recovery.incident_recovery``);
- the metrics page (/incidents/metrics/).

    DATABASE_URL=postgres://postgres@127.0.0.1:55433/fs_bench_inc \\
        .venv/bin/python bench/incident.py [--predictions 100000] [--older 0] [--runs 5] [--keep]

The database named in DATABASE_URL is dropped and re-created (its name must contain "bench").
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench_env import WIDE, recreate_database, wide_create, wide_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:55433/fs_bench_inc"
SLUG = "card-fraud"
ROUTED = 5_000
PAST = 200
TIMELINE = 300
HISTORY_DAYS = 30
SETTINGS = {
    "criticality": "critical",
    "cost_of_wrong_decision": 250.0,
    "cost_per_hour_of_delay": 40,
    "regulatory_class": "regulated",
}


def _users() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    made = {}
    people = (("sam", "engineer"), ("ravi", "reviewer"), ("lee", "lead"),
              ("edith", "catalog_editor"), ("emil", "catalog_editor"))  # fmt: skip
    for name, role in people:
        user = get_user_model().objects.create_user(name, password="bench-only")
        user.groups.add(Group.objects.get(name=role))
        made[role] = user
    return made


def _model() -> Any:
    from reviewapp.core.audit import Actor
    from reviewapp.demo import DEMO_MODELS
    from reviewapp.governance import services as governance
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel

    model = MLModel.objects.create(
        slug=SLUG, name="Card fraud", owner_team="bench", criticality="critical",
        labels=["fraud", "legit"],
    )  # fmt: skip
    rules = DEMO_MODELS[0]["rules"]
    actor = Actor.system("bench")
    for i, confidence in enumerate((0.7, 0.65, 0.6)):
        version = {**rules, "min_confidence": confidence, "max_auto_error_rate": 0.02 + i / 100}
        policy_version_create(
            model_slug=SLUG, rules=version, labels=model.labels, activate=True, actor=actor
        )
    governance.change_request_bootstrap(
        model_slug=SLUG, kind="model_settings", document=SETTINGS, rationale="bench", actor=actor
    )
    return model


def _predictions(model: Any, n: int, now: dt.datetime, reviewer: Any, older: int) -> None:
    """n passed + ROUTED routed predictions over the 6 hours before ``now`` (COPY), the routed
    ones decided (one in ten overridden); ``older`` passed ones over the 30 days before those
    (history outside every window: what a figure must not grow with)."""
    from django.db import connection

    from reviewapp.governance.models import PolicyVersion

    policy = PolicyVersion.objects.get(model_slug=SLUG, is_active=True)
    span = 6 * 3600
    columns = (
        "model_id, external_id, model_version, input, output, label, confidence, signals, "
        "lineage, occurred_at, received_at, receipt, status, routed, reason_codes, "
        "reason_details, threshold, policy_version_id, policy_hash, routed_at, mode_at_receipt, "
        "routing_mode"
    )
    total = n + ROUTED
    every = max(1, total // ROUTED)
    with connection.cursor() as cur:
        wide_create(cur)
        with cur.cursor.copy(f"COPY {WIDE} ({columns}) FROM STDIN") as copy:
            for g in range(older):
                at = now - dt.timedelta(seconds=span + HISTORY_DAYS * 86400 * (older - g) / older)
                copy.write_row((
                    model.pk, f"o-{g}", "0.9", json.dumps({"amount": (g * 37) % 1000}),
                    json.dumps({"label": "legit"}), "legit", 0.9, "{}", "{}", at, at, uuid.uuid4(),
                    "passed", False, "[]", "{}", policy.rules["min_confidence"], policy.pk,
                    policy.rules_hash, at, "normal", "normal",
                ))  # fmt: skip
            routed_left = ROUTED
            for g in range(total):
                routed = routed_left > 0 and g % every == 0
                routed_left -= routed
                label = "fraud" if g % 5 == 0 else "legit"
                confidence = (
                    round(0.30 + (g % 300) / 1000, 3)
                    if routed
                    else round(0.61 + (g % 390) / 1000, 3)
                )
                at = now - dt.timedelta(seconds=span * (total - g) / total)
                copy.write_row((
                    model.pk, f"e-{g}", "1.0", json.dumps({"amount": (g * 37) % 1000}),
                    json.dumps({"label": label}), label, confidence,
                    json.dumps({"latency_ms": 40 + g % 60}), "{}", at, at, uuid.uuid4(),
                    "decided" if routed else "passed", routed,
                    json.dumps(["low_confidence"] if routed else []), "{}", policy.rules["min_confidence"],
                    policy.pk, policy.rules_hash, at, "normal", "normal",
                ))  # fmt: skip
        wide_split(cur)
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority,
              sla_due_at, created_at, updated_at, decided_at, claim_generation, defer_count,
              purpose, requeued)
            SELECT p.id, p.model_id, 'decided', 50, p.received_at + interval '60 minutes',
              p.received_at, p.received_at, p.received_at + interval '20 minutes', 1, 0,
              'routed', false
            FROM reviewapp_prediction p WHERE p.routed
            """
        )
        cur.execute(
            """
            INSERT INTO reviewapp_decision (item_id, prediction_id, model_id, reviewer_id, action,
              predicted_label, final_label, reason, note, failure_mode_tags, model_confidence,
              decided_at, deliver_after)
            SELECT i.id, p.id, p.model_id, %s,
              CASE WHEN i.id %% 10 = 0 THEN 'override' ELSE 'accept' END, p.label,
              CASE WHEN i.id %% 10 = 0 AND p.label = 'legit' THEN 'fraud'
                   WHEN i.id %% 10 = 0 THEN 'legit' ELSE p.label END,
              '', '', '[]'::jsonb, p.confidence, i.decided_at, i.decided_at
            FROM reviewapp_reviewitem i JOIN reviewapp_prediction p ON p.id = i.prediction_id
            """,
            [reviewer.pk],
        )


def _incident(users: dict[str, Any], now: dt.datetime) -> Any:
    from django.core.management import call_command

    from playbooks.demo import seed_playbooks
    from playbooks.incidents import rca, services, steps
    from playbooks.models import Playbook
    from reviewapp.core.exceptions import ServiceError
    from reviewapp.core.selectors import audit_events

    call_command("load_catalog", stdout=io.StringIO(), stderr=io.StringIO())
    seed_playbooks(owner=users["engineer"].username)
    playbook = Playbook.objects.order_by("slug").first()
    for candidate in Playbook.objects.order_by("slug"):
        if "drift" in candidate.slug:
            playbook = candidate
    engineer = users["engineer"]
    incident = services.incident_open(
        actor=engineer, title="Card fraud slipping through", severity="S2", model_slugs=[SLUG],
        playbook_slug=playbook.slug, impact_started_at=now - dt.timedelta(hours=5),
        detected_at=now - dt.timedelta(hours=4),
    )  # fmt: skip
    recorded = 0
    for step in (incident.playbook_version.document.get("steps") or [])[:8]:
        branches = step.get("branches") or []
        try:
            steps.incident_step_record(
                incident=incident, actor=engineer, step_key=step["key"], outcome="done",
                branch=branches[0]["label"] if branches else "", note="bench",
            )  # fmt: skip
            recorded += 1
        except ServiceError:
            continue
    for i, statement in enumerate(("Upstream schema change", "Drift in amount", "Retrain")):
        rca.hypothesis_add(
            incident=incident, actor=engineer, statement=statement, test=f"Check {i}",
            evidence="bench", confidence=30 + 20 * i,
        )  # fmt: skip

    def on_timeline() -> int:
        return audit_events(target_type="playbooks.incident", target_id=str(incident.pk)).count()

    notes = 0
    while on_timeline() < TIMELINE:
        for _ in range(TIMELINE - on_timeline()):
            services.incident_note_add(incident=incident, actor=engineer, body=f"Note {notes}")
            notes += 1
    incident.refresh_from_db()
    print(f"incident #{incident.pk}: playbook {playbook.slug}, {recorded} steps recorded, "
          f"3 hypotheses, {notes} notes, {on_timeline()} events on its timeline")  # fmt: skip
    return incident


def _past(users: dict[str, Any], model: Any, now: dt.datetime) -> None:
    """PAST closed incidents over the last year, as rows with every milestone."""
    from playbooks.models import Incident, IncidentModel

    rows = []
    for i in range(PAST):
        detected = now - dt.timedelta(days=2 + i * 365 / PAST, minutes=i % 50)
        impact = detected - dt.timedelta(minutes=5 + i % 120)
        triaged = detected + dt.timedelta(minutes=3 + i % 20)
        contained = triaged + dt.timedelta(minutes=10 + i % 90)
        remediated = contained + dt.timedelta(hours=1 + i % 12)
        verified = remediated + dt.timedelta(hours=2)
        closed = verified + dt.timedelta(hours=1)
        rows.append(Incident(
            title=f"Past incident {i}", severity=f"S{1 + i % 4}", status="closed",
            commander=users["engineer"], opened_by=users["engineer"], impact_started_at=impact,
            detected_at=detected, triaged_at=triaged, contained_at=contained,
            remediated_at=remediated, verified_at=verified, closed_at=closed,
            no_root_cause_reason="bench", created_at=detected, updated_at=closed,
        ))  # fmt: skip
    made = Incident.objects.bulk_create(rows)
    IncidentModel.objects.bulk_create(
        [IncidentModel(incident=row, model=model, added_at=row.detected_at) for row in made]
    )


def generate(n: int, now: dt.datetime, older: int) -> None:
    from django.db import connection

    t0 = time.perf_counter()
    users = _users()
    model = _model()
    _predictions(model, n, now, users["reviewer"], older)
    loaded = time.perf_counter() - t0
    _past(users, model, now)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    _incident(users, now)
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
        cur.execute("SELECT count(*) FILTER (WHERE routed), count(*) FROM reviewapp_prediction")
        routed, total = cur.fetchone()
    print(f"generated {total:,} predictions ({routed:,} routed and decided, {older:,} older "
          f"than 6 h), {PAST} past "
          f"incidents in {time.perf_counter() - t0:.1f} s (predictions {loaded:.1f} s)")  # fmt: skip


# -- timing ----------------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def measure(
    fn: Callable[[], Any], runs: int, *, before: Callable[[], Any] | None = None,
    after: Callable[[Any], Any] | None = None,
) -> tuple[list[float], list[int], Any]:  # fmt: skip
    """One warm-up, then ``runs`` timed calls; (ms per run, queries per run, last result).
    ``before`` prepares a run (not timed; its result is passed to ``fn``), ``after`` cleans up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times: list[float] = []
    queries: list[int] = []
    result = None
    for run in range(runs + 1):
        arg = before() if before else None
        with CaptureQueriesContext(connection) as ctx:
            t = time.perf_counter()
            result = fn(arg) if before else fn()
            took = (time.perf_counter() - t) * 1000
        if after:
            after(arg)
        if run:
            times.append(took)
            queries.append(len(ctx.captured_queries))
    return times, queries, result


def run(runs: int) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client, RequestFactory

    from playbooks.incidents import ledger, page, recovery, services
    from playbooks.incidents.selectors import may_run
    from playbooks.models import Incident, IncidentItem
    from reviewapp.core import clock
    from reviewapp.core.exceptions import ServiceError
    from reviewapp.models import Prediction, Purpose, ReviewItem

    engineer = get_user_model().objects.get(username="sam")
    incident = Incident.objects.filter(playbook_version__isnull=False).get()
    rows: list[tuple[str, list[float], list[int], str]] = []

    def add(name: str, measured: tuple[list[float], list[int], Any], note: str = "") -> None:
        rows.append((name, measured[0], measured[1], note))

    client = Client()
    client.force_login(engineer)
    url = f"/incidents/{incident.pk}/"

    def get_page() -> int:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
        return len(response.content)

    cache.clear()
    measured = measure(get_page, runs)
    add(f"GET {url} (engineer)", measured, f"{measured[2] / 1024:.0f} KiB")
    request = RequestFactory().get(url)
    request.user = engineer
    can_run = may_run(engineer, incident)
    for section in page.sections():
        measured = measure(lambda s=section: s.context(request, incident, can_run), runs)
        add(f"  section {section.key}", measured, "" if measured[2] is not None else "hidden")

    def metrics() -> int:
        response = client.get("/incidents/metrics/")
        assert response.status_code == 200, response.status_code
        return len(response.content)

    measured = measure(metrics, runs)
    add(f"GET /incidents/metrics/ ({Incident.objects.count()} incidents)", measured,
        f"{measured[2] / 1024:.0f} KiB")  # fmt: skip

    measured = measure(lambda: ledger.affected_summary(incident), runs)
    add("ledger.affected_summary", measured, f"{measured[2]['total']:,} affected")

    def clean_rechecks(opened: Incident | None = None) -> None:
        IncidentItem.objects.filter(kind=IncidentItem.Kind.RECHECK).delete()
        ReviewItem.objects.filter(purpose=Purpose.INCIDENT_RECHECK).delete()
        if opened is not None:
            opened.model_links.all().delete()
            Incident.objects.filter(pk=opened.pk).update(
                status="cancelled", cancelled_at=clock.now(), cancel_reason="bench run"
            )

    def fresh(start: dt.datetime, detected: dt.datetime | None = None) -> Callable[[], Incident]:
        def make() -> Incident:
            return services.incident_open(
                actor=engineer, title="Bench recheck", severity="S3", model_slugs=[SLUG],
                impact_started_at=start, detected_at=detected or start,
            )  # fmt: skip

        return make

    now = clock.now()
    big = fresh(now - dt.timedelta(hours=5), now - dt.timedelta(hours=4))
    measured = measure(
        lambda i: ledger.incident_recheck_queue(incident=i, actor=engineer, mode="sample", size=1000),
        runs, before=big, after=clean_rechecks,
    )  # fmt: skip
    add("recheck_queue sample 1,000", measured, f"{measured[2]['queued']:,} queued")

    def refused(i: Incident) -> str:
        try:
            ledger.incident_recheck_queue(incident=i, actor=engineer, mode="all")
        except ServiceError as exc:
            return "refused (400)" if "mode" in exc.errors else str(exc)
        return "not refused!"

    measured = measure(refused, runs, before=big, after=clean_rechecks)
    add("recheck_queue all, over the cap", measured, measured[2])
    cap = int(settings.INCIDENT_RECHECK_MAX)
    # The newest passed predictions: a window holding just under the cap.
    edge = (
        Prediction.objects.filter(model__slug=SLUG, status="passed")
        .order_by("-received_at")
        .values_list("received_at", flat=True)[cap - 100]
    )
    measured = measure(
        lambda i: ledger.incident_recheck_queue(incident=i, actor=engineer, mode="all"),
        runs, before=fresh(edge), after=clean_rechecks,
    )  # fmt: skip
    add(f"recheck_queue all, under the cap ({cap:,})", measured,
        f"{measured[2]['queued']:,} queued")  # fmt: skip

    cache.clear()
    measured = measure(lambda: recovery.incident_recovery(incident), runs)
    add("recovery.incident_recovery (ranking)", measured,
        f"{len(measured[2][0].ranking)} paths")  # fmt: skip

    load = os.getloadavg()[0]
    passed = Prediction.objects.filter(status="passed").count()
    print(f"\nPostgreSQL {connection.pg_version}; {os.cpu_count()} cores, load average "
          f"{load:.1f}; {passed:,} passed predictions in all; {runs} runs after one warm-up\n")  # fmt: skip
    print(f"| {'what':46} | median ms | p95 ms | queries | |")
    print(f"|{'-' * 48}|----------:|-------:|--------:|---|")
    for name, times, queries, note in rows:
        q = f"{min(queries)}" if min(queries) == max(queries) else f"{min(queries)}–{max(queries)}"
        print(f"| {name:46} | {statistics.median(times):9.1f} | {p95(times):6.1f} | {q:>7} "
              f"| {note} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=100_000)
    ap.add_argument(
        "--older", type=int, default=0,
        help=f"passed predictions over the {HISTORY_DAYS} days before the 6-hour window",
    )  # fmt: skip
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--keep", action="store_true", help="reuse the generated database")
    args = ap.parse_args()
    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings_test")
    if not args.keep:
        recreate_database(url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=dict(os.environ),
        )
    import logging

    import django

    django.setup()
    logging.getLogger("axes").setLevel(logging.WARNING)
    if not args.keep:
        from reviewapp.core import clock

        generate(args.predictions, clock.now().replace(microsecond=0), args.older)
    run(args.runs)


if __name__ == "__main__":
    main()
