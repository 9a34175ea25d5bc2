"""Dashboard fold benchmark (prints figures; not a test).

Generates predictions, review items, decisions and SLA breaches spread over recent days in a
dedicated PostgreSQL database (INSERT … SELECT generate_series), then times full folds from an
empty watermark (``rollups_rebuild`` + ``rollups_fold`` until caught up), best of ``--runs``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/failsafe_bench_fold \\
        .venv/bin/python bench/fold.py [--predictions 200000] [--decisions 20000] [--runs 3]

The database named in DATABASE_URL is dropped and re-created: never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_env import PRODUCTION_SECRETS, recreate_database, wide_create, wide_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/failsafe_bench_fold"


def generate(n_predictions: int, n_decisions: int, days: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from reviewapp import demo
    from reviewapp.core.audit import Actor
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel

    actor = Actor.system("bench")
    model_ids = []
    for spec in demo.DEMO_MODELS:
        m = MLModel.objects.create(
            **{k: spec[k] for k in ("slug", "name", "owner_team", "criticality", "labels")}
        )
        policy_version_create(
            model_slug=m.slug, rules=spec["rules"], labels=m.labels, activate=True, actor=actor
        )
        model_ids.append(m.pk)
    reviewer = get_user_model().objects.create_user("bench-reviewer")
    minutes = days * 24 * 60
    # Every tenth prediction is routed; decisions go to the first n_decisions routed ones.
    with connection.cursor() as cur:
        wide_create(cur)
        cur.execute(
            """
            INSERT INTO bench_wide_prediction (model_id, external_id, model_version, input, output,
              label, confidence, signals, lineage, occurred_at, received_at, receipt, status,
              routed, reason_codes, reason_details, threshold, policy_version_id, policy_hash,
              fallback, routed_at)
            SELECT m.id, 'b-' || g, '1.0', '{}'::jsonb, jsonb_build_object('label', m.labels->>0),
              m.labels->>0, 0.40 + (g %% 600) / 1000.0, '{}'::jsonb, '{}'::jsonb,
              t.at, t.at, gen_random_uuid(),
              CASE WHEN g %% 10 = 0 THEN 'in_review' ELSE 'passed' END,
              g %% 10 = 0,
              CASE WHEN g %% 10 = 0 THEN
                CASE WHEN g %% 30 = 0 THEN '["qa_sample"]' ELSE '["low_confidence"]' END
              ELSE '[]' END::jsonb,
              '{}'::jsonb, 0.8, p.id, p.rules_hash, '{"action": "hold"}'::jsonb, t.at
            FROM generate_series(1, %(total)s) AS g
            CROSS JOIN LATERAL (SELECT now() - interval '1 hour'
              - ((%(total)s - g) * %(minutes)s / %(total)s) * interval '1 minute' AS at) t
            JOIN reviewapp_mlmodel m ON m.id = (%(ids)s)[1 + g %% %(nm)s]
            JOIN governance_policyversion p ON p.model_slug = m.slug AND p.is_active
            """,
            {"total": n_predictions, "minutes": minutes, "ids": model_ids, "nm": len(model_ids)},
        )
        wide_split(cur)
        cur.execute(
            """
            INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority, sla_due_at,
              created_at, updated_at, claim_generation, defer_count, sla_breached_at)
            SELECT p.id, p.model_id, 'pending', 0, p.received_at + interval '2 hours',
              p.received_at, p.received_at, 0, 0,
              CASE WHEN p.id % 7 = 0 THEN p.received_at + interval '2 hours' END
            FROM reviewapp_prediction p WHERE p.routed
            """
        )
        cur.execute(
            """
            WITH chosen AS (
              SELECT i.id, i.prediction_id, i.model_id, p.label, p.confidence, p.received_at
              FROM reviewapp_reviewitem i JOIN reviewapp_prediction p ON p.id = i.prediction_id
              ORDER BY i.id LIMIT %(n)s)
            INSERT INTO reviewapp_decision (item_id, prediction_id, model_id, reviewer_id, action,
              predicted_label, final_label, reason, note, failure_mode_tags, model_confidence,
              decided_at, deliver_after)
            SELECT c.id, c.prediction_id, c.model_id, %(reviewer)s,
              (ARRAY['accept', 'accept', 'accept', 'override', 'escalate', 'defer'])[1 + c.id %% 6],
              c.label, c.label, '', '', '[]'::jsonb, c.confidence,
              c.received_at + interval '20 minutes', c.received_at + interval '20 minutes'
            FROM chosen c ORDER BY c.id
            """,
            {"n": n_decisions, "reviewer": reviewer.pk},
        )
        cur.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--predictions", type=int, default=200_000)
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="reuse the data already generated")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    if not args.keep:
        recreate_database(url)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-only-secret",
            "DEBUG": "0",
            "FAILSAFE_VAR_DIR": tempfile.mkdtemp(prefix="bench-fold-"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            **PRODUCTION_SECRETS,
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    from reviewapp.core.audit import Actor
    from reviewapp.dashboards.services import rollups_fold, rollups_rebuild

    print("code imported", flush=True)

    call_command("migrate", verbosity=0)
    if not args.keep:
        t0 = time.perf_counter()
        generate(args.predictions, args.decisions, args.days)
        print(f"generated in {time.perf_counter() - t0:.1f} s")

    timings = []
    for _ in range(args.runs):
        rollups_rebuild(actor=Actor.system("bench"))
        t0 = time.perf_counter()
        c0 = time.process_time()
        rows = batches = 0
        while True:
            result = rollups_fold(batch_size=args.batch_size, max_batches=1000)
            rows += result.rows
            batches += result.batches
            if result.caught_up:
                break
        timings.append(time.perf_counter() - t0)
        cpu = time.process_time() - c0
        print(
            f"full fold: {timings[-1]:.2f} s wall, {cpu:.2f} s CPU in this process, "
            f"{rows} rows, {batches} batches",
            flush=True,
        )
    print(f"best of {args.runs}: {min(timings):.2f} s")


if __name__ == "__main__":
    main()
