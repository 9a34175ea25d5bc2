"""Change-request evidence benchmark (prints figures; not a test).

Fills one model with 200,000 routed predictions spread over 14 days (routing facts and the
recorded decision computed by the real ``decide`` and loaded with COPY), review items for the
routed ones, final decisions for most of them (one in ten an override) and their claim events,
then times ``evidence_compute`` for a proposal several times and says where the time went.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/failsafe_bench_evidence \\
        .venv/bin/python bench/evidence.py [--predictions 200000] [--runs 3] [--keep]

The database named in DATABASE_URL is dropped and re-created: never point it at real data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench_env import WIDE, recreate_database, wide_create, wide_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres:postgres@127.0.0.1:5432/failsafe_bench_evidence"
SLA = {"critical": 15, "high": 60, "medium": 240, "low": 1440}
SEGMENT = {
    "name": "high-value",
    "conditions": [{"field": "input.amount", "op": ">=", "value": 800}],
    "min_confidence": 0.9,
}
ACTIVE = {
    "schema": 2,
    "min_confidence": 0.70,
    "max_ood_score": 0.9,
    "route_on_drift": True,
    "qa_sample_rate": 0.02,
    "sla_minutes": SLA,
    "fallback": {"action": "hold"},
    "max_auto_error_rate": 0.02,
    "segments": [SEGMENT],
}
PROPOSAL = {**ACTIVE, "min_confidence": 0.75, "segments": [{**SEGMENT, "min_confidence": 0.85}]}


def generate(n: int, until: dt.datetime) -> None:
    from django.db import connection

    from reviewapp.core.audit import Actor
    from reviewapp.governance.rules import PredictionFacts, decide, facts_record
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel

    model = MLModel.objects.create(
        slug="bench-fraud",
        name="Bench fraud",
        owner_team="bench",
        criticality="high",
        labels=["fraud", "legit"],
    )
    policy = policy_version_create(
        model_slug=model.slug,
        rules=ACTIVE,
        labels=model.labels,
        activate=True,
        actor=Actor.system("bench"),
    )
    from django.contrib.auth import get_user_model

    reviewer = get_user_model().objects.create_user("bench-reviewer")
    span = 14 * 86400
    t0 = time.perf_counter()
    columns = (
        "model_id, external_id, model_version, input, output, label, confidence, signals, "
        "lineage, occurred_at, received_at, receipt, status, routed, reason_codes, "
        "reason_details, threshold, policy_version_id, policy_hash, fallback, routed_at, "
        "routing_facts"
    )
    with connection.cursor() as cur:
        wide_create(cur)
        with cur.cursor.copy(f"COPY {WIDE} ({columns}) FROM STDIN") as copy:
            for g in range(n):
                amount = (g * 37) % 1000
                label = "fraud" if g % 3 == 0 else "legit"
                confidence = round(0.40 + ((g * 7919) % 600) / 1000, 3)
                ood = ((g * 104729) % 100) / 100
                drift = ("amount",) if g % 97 == 0 else ()
                facts = PredictionFacts(
                    model_slug=model.slug,
                    external_id=f"e-{g}",
                    label=label,
                    confidence=confidence,
                    criticality="high",
                    ood_score=ood,
                    drift_features=drift,
                    fields={"input.amount": amount},
                )
                d = decide(ACTIVE, facts)
                at = until - dt.timedelta(seconds=span * (n - g) / n)
                copy.write_row(
                    (
                        model.pk,
                        f"e-{g}",
                        "1.0",
                        json.dumps({"amount": amount}),
                        json.dumps({"label": label}),
                        label,
                        confidence,
                        json.dumps({"ood_score": ood, "drift_features": list(drift)}),
                        "{}",
                        at,
                        at,
                        uuid.uuid4(),
                        "in_review" if d.routed else "passed",
                        d.routed,
                        json.dumps(d.reasons),
                        json.dumps(d.details),
                        d.threshold,
                        policy.pk,
                        policy.rules_hash,
                        json.dumps(d.fallback) if d.fallback else None,
                        at,
                        json.dumps(facts_record(facts)),
                    )
                )
        wide_split(cur)
    loaded = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute(
            """
            INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority,
              sla_due_at, created_at, updated_at, decided_at, claim_generation, defer_count)
            SELECT p.id, p.model_id, CASE WHEN p.id % 10 < 8 THEN 'decided' ELSE 'pending' END,
              50, p.received_at + interval '60 minutes', p.received_at, p.received_at,
              CASE WHEN p.id % 10 < 8 THEN p.received_at + interval '40 minutes' END, 1, 0
            FROM reviewapp_prediction p WHERE p.routed
            """
        )
        cur.execute(
            """
            INSERT INTO reviewapp_decision (item_id, prediction_id, model_id, reviewer_id, action,
              predicted_label, final_label, reason, note, failure_mode_tags, model_confidence,
              decided_at, deliver_after)
            SELECT i.id, p.id, p.model_id, %s,
              CASE WHEN i.id %% 10 = 0 THEN 'override' ELSE 'accept' END,
              p.label, p.label, '', '', '[]'::jsonb, p.confidence,
              i.decided_at, i.decided_at
            FROM reviewapp_reviewitem i JOIN reviewapp_prediction p ON p.id = i.prediction_id
            WHERE i.status = 'decided'
            """,
            [reviewer.pk],
        )
        cur.execute(
            """
            INSERT INTO core_auditevent (occurred_at, actor_type, actor_id, actor_label, verb,
              target_type, target_id, data, request_id)
            SELECT i.decided_at - ((i.id %% 7 + 1) * interval '1 minute'), 'user', %s,
              'bench-reviewer', 'queue.review_item.claimed', 'reviewapp.reviewitem',
              i.id::text, '{}'::jsonb, ''
            FROM reviewapp_reviewitem i WHERE i.status = 'decided'
            """,
            [str(reviewer.pk)],
        )
        cur.execute("SELECT count(*) FILTER (WHERE routed), count(*) FROM reviewapp_prediction")
        routed, total = cur.fetchone()
        cur.execute("SELECT count(*) FROM reviewapp_decision")
        (decisions,) = cur.fetchone()
        cur.execute("ANALYZE")
    print(
        f"generated {total:,} predictions ({routed:,} routed, {decisions:,} decisions) "
        f"in {time.perf_counter() - t0:.1f} s (COPY {loaded:.1f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--predictions", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="reuse the generated database")
    args = ap.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings_test")
    if not args.keep:
        recreate_database(url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"],
            cwd=ROOT,
            check=True,
            env=dict(os.environ),
        )
    import django

    django.setup()
    from django.db import connection

    from reviewapp.governance.evidence import evidence_compute

    until_file = Path(os.environ.get("BENCH_VAR_DIR", "/tmp")) / "failsafe-bench-evidence-until"
    if not args.keep:
        until = dt.datetime.now(dt.UTC).replace(microsecond=0)
        until_file.write_text(until.isoformat())
        generate(args.predictions, until)
    until = dt.datetime.fromisoformat(until_file.read_text()) + dt.timedelta(seconds=1)
    load = os.getloadavg()[0]
    print(
        f"PostgreSQL {connection.pg_version}; {os.cpu_count()} cores, load average {load:.1f}; "
        f"window 14 days to {until.isoformat()}"
    )
    hashes = set()
    for run in range(args.runs):
        t = time.perf_counter()
        evidence = evidence_compute(model_slug="bench-fraud", proposed_rules=PROPOSAL, until=until)
        took = time.perf_counter() - t
        hashes.add(evidence.hash)
        timings = evidence.timings
        print(
            f"run {run + 1}: {took:.2f} s  (read {timings['read']:.2f} s, decide "
            f"{timings['decide']:.2f} s, aggregate {timings['aggregate']:.2f} s; this "
            f"process's CPU {timings['cpu']:.2f} s)"
        )
    s = evidence.summary
    print(
        f"predictions {s['traffic']['predictions']:,}; routed active "
        f"{s['impact']['totals']['active']:,} → proposal {s['impact']['totals']['proposal']:,}; "
        f"escaping {s['impact']['escaping_errors']['count']:,}; replay mismatches "
        f"{s['replay_check']['mismatches']} of {s['replay_check']['compared']:,}; "
        f"QA samples above threshold {s['calibration']['samples']:,}; flags {evidence.flags}; "
        f"same hash every run: {len(hashes) == 1}"
    )


if __name__ == "__main__":
    main()
