"""Monitor evaluation benchmark (prints figures; not a test).

Builds 3 models x 30 days of 5-minute metric buckets (25,920 rows) in a dedicated PostgreSQL
database (INSERT … SELECT generate_series), the last 20 minutes of one model shifted (its
data-anomaly rate past the bound: an alert opens, the model is contained, a shift sample is
looked for), then times one beat run of the evaluator (``monitors_evaluate``): median and best
of ``--runs``, plus the number of queries one run makes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/failsafe_bench_monitors \\
        .venv/bin/python bench/monitors.py [--days 30] [--runs 15]

The database named in DATABASE_URL is dropped and re-created: never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_env import PRODUCTION_SECRETS, recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/failsafe_bench_monitors"


def generate(days: int, now) -> list[int]:
    from django.db import connection

    from reviewapp import demo
    from reviewapp.dashboards.models import RollupWatermark
    from reviewapp.dashboards.stats import bucket_floor
    from reviewapp.models import MLModel

    model_ids = [
        MLModel.objects.create(
            **{k: spec[k] for k in ("slug", "name", "owner_team", "criticality", "labels")}
        ).pk
        for spec in demo.DEMO_MODELS[:3]
    ]
    end = bucket_floor(now, 5)
    with connection.cursor() as cur:
        # Traffic follows the hour of day (silence has a usual level to compare with); the
        # first model's last 4 buckets are half anomalous.
        cur.execute(
            """
            INSERT INTO dashboards_metricbucket (model_id, bucket_start, received, routed, passed,
              accepted, overridden, escalated, deferred, qa_decided, qa_overridden, sla_breaches,
              confidence_sum, confidence_count, low_confidence, ood, anomalies, fallback,
              rejected, open_queue, oldest_waiting_minutes, open_queue_max, open_queue_at,
              updated_at)
            SELECT m, t.at, t.n, t.n / 10, t.n - t.n / 10, t.n / 15, t.n / 60, 1, 1, 2, 0,
              CASE WHEN g %% 50 = 0 THEN 1 ELSE 0 END,
              t.n * 0.8, t.n, t.n / 12, t.n / 100,
              CASE WHEN m = %(first)s AND g <= 4 THEN t.n / 2 ELSE 0 END, 0, 0,
              30 + g %% 7, 12.0, 40, t.at, t.at
            FROM unnest(%(ids)s::bigint[]) AS m
            CROSS JOIN generate_series(1, %(buckets)s) AS g
            CROSS JOIN LATERAL (SELECT %(end)s::timestamptz - g * interval '5 minutes' AS at,
              (60 + 40 * sin(extract(hour FROM %(end)s::timestamptz - g * interval '5 minutes')
                / 24.0 * 2 * pi()))::int AS n) t
            """,
            {"ids": model_ids, "first": model_ids[0], "buckets": days * 288, "end": end},
        )
        cur.execute("ANALYZE")
    RollupWatermark.objects.update_or_create(name="main", defaults={"folded_at": now})
    return model_ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    recreate_database(url)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-only-secret",
            "DEBUG": "0",
            "FAILSAFE_VAR_DIR": tempfile.mkdtemp(prefix="bench-monitors-"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            **PRODUCTION_SECRETS,
        }
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from reviewapp.dashboards.models import MetricBucket
    from reviewapp.failsafe.models import Alert
    from reviewapp.failsafe.monitors import monitors_evaluate

    call_command("migrate", verbosity=0)
    now = timezone.now()
    t0 = time.perf_counter()
    generate(args.days, now)
    rows = MetricBucket.objects.count()
    print(f"generated {rows} buckets in {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    first = monitors_evaluate(now=now)
    print(
        f"first run (opens the alert, contains the model): "
        f"{(time.perf_counter() - t0) * 1000:.1f} ms, states {first}, "
        f"alerts {list(Alert.objects.values_list('monitor', 'shape', 'action_taken'))}"
    )
    timings = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        monitors_evaluate(now=now)
        timings.append((time.perf_counter() - t0) * 1000)
    with CaptureQueriesContext(connection) as queries:
        monitors_evaluate(now=now)
    print(
        f"one beat run, 3 models x {args.days} days of 5-minute buckets: "
        f"median {statistics.median(timings):.1f} ms, best {min(timings):.1f} ms "
        f"over {args.runs} runs; {len(queries)} queries per run"
    )


if __name__ == "__main__":
    main()
