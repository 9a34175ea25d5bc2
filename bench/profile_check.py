"""Data-quality check benchmark (prints figures; not a test).

1. The pure check: a profile learned from 5,000 inputs of 10, 20 and 30 fields (numbers,
   categories, booleans, free text), then ``check(input)`` on 20,000 fresh inputs (about 2 %
   with an anomaly planted): µs per prediction, best and median of ``--runs``.
2. Its share of routing: ``predictions_route`` over ``--rows`` received predictions of one
   model (chunks of 500, as the worker routes them), once without a feature profile and once
   with one, alternating, ``--runs`` times each; this process's CPU and the wall clock.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/failsafe_bench_profile \\
        .venv/bin/python bench/profile_check.py [--rows 10000] [--runs 3] [--pure-only]

The database named in DATABASE_URL is dropped and re-created: never point it at real data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_env import recreate_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/failsafe_bench_profile"
CHUNK = 500

_WORDS = ["card", "refund", "login", "crash", "invoice", "reset", "sync", "upload", "merge"]


def make_input(rng: random.Random, fields: int) -> dict:
    """A typical model input: a quarter numbers, a quarter categories, some booleans and
    some free text, in the same order every time."""
    out: dict = {}
    for k in range(fields):
        kind = k % 5
        if kind in (0, 1):
            out[f"num_{k}"] = round(rng.lognormvariate(3 + k % 3, 1.0), 2)
        elif kind == 2:
            out[f"cat_{k}"] = rng.choice(["NL", "DE", "FR", "GB", "US", "ES", "IT", "PL"])
        elif kind == 3:
            out[f"flag_{k}"] = rng.random() < 0.8
        else:
            out[f"text_{k}"] = (
                " ".join(rng.choice(_WORDS) for _ in range(6)) + f" #{rng.randint(1, 9999)}"
            )
    return out


def plant(rng: random.Random, x: dict) -> dict:
    """About one input in fifty gets one anomaly."""
    if rng.random() >= 0.02:
        return x
    x = dict(x)
    key = rng.choice(list(x))
    if key.startswith("num_"):
        x[key] = 10**7
    elif key.startswith("cat_"):
        x[key] = "XX"
    else:
        x.pop(key)
    return x


def pure(runs: int) -> None:
    from reviewapp.failsafe.profiles import compile_checker, learn_profile

    print("pure check (one process, no database)")
    print(
        "| fields | learn 5,000 rows | profile JSON | check µs/prediction best / median | flagged |"
    )
    print("|---|---|---|---|---|")
    for fields in (10, 20, 30):
        rng = random.Random(fields)
        training = [make_input(rng, fields) for _ in range(5000)]
        t = time.perf_counter()
        profile = learn_profile(training, window_days=7)
        learn_ms = (time.perf_counter() - t) * 1000
        check = compile_checker(profile)
        fresh = [plant(rng, make_input(rng, fields)) for _ in range(20_000)]
        timings = []
        for _ in range(runs):
            t = time.perf_counter()
            flagged = sum(1 for x in fresh if check(x))
            timings.append((time.perf_counter() - t) / len(fresh) * 1e6)
        print(
            f"| {fields} | {learn_ms:.0f} ms | {len(json.dumps(profile)) / 1024:.1f} KiB | "
            f"{min(timings):.1f} / {statistics.median(timings):.1f} | "
            f"{flagged / len(fresh):.1%} |"
        )


def routing(rows: int, runs: int, fields: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from reviewapp import demo
    from reviewapp.core.audit import Actor
    from reviewapp.failsafe.models import FeatureProfile
    from reviewapp.failsafe.profiles import learn_profile
    from reviewapp.failsafe.services.profiles import checkers_forget
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel, Prediction
    from reviewapp.services.routing import predictions_route

    spec = demo.DEMO_MODELS[0]
    model = MLModel.objects.create(
        slug="bench-fraud", name="Bench fraud", owner_team="bench", criticality="critical",
        labels=spec["labels"],
    )  # fmt: skip
    policy_version_create(
        model_slug=model.slug, rules=spec["rules"], labels=model.labels, activate=True,
        actor=Actor.system("bench"),
    )  # fmt: skip
    rng = random.Random(5)
    profile = learn_profile([make_input(rng, fields) for _ in range(5000)], window_days=7)
    serial = iter(range(10**9))

    def fill() -> list[int]:
        now = timezone.now()
        batch = []
        for _ in range(rows):
            n = next(serial)
            confidence = round(rng.betavariate(5, 1.6), 4)
            label = "fraud" if rng.random() < 0.3 else "legit"
            batch.append(
                Prediction(
                    model=model, external_id=f"b-{n}", model_version="1", label=label,
                    input=plant(rng, make_input(rng, fields)),
                    output={"label": label}, confidence=confidence,
                    signals={"ood_score": round(rng.betavariate(1.5, 6), 3)},
                    occurred_at=now, received_at=now,
                )
            )  # fmt: skip
        Prediction.objects.bulk_create(batch, batch_size=1000)
        return list(
            Prediction.objects.filter(status="received").order_by("id").values_list("id", flat=True)
        )

    def run(with_profile: bool) -> tuple[float, float, int]:
        FeatureProfile.objects.filter(model=model).delete()
        if with_profile:
            FeatureProfile.objects.create(model=model, profile=profile, sample_size=5000)
        checkers_forget()
        ids = fill()
        with connection.cursor() as cur:
            cur.execute("ANALYZE reviewapp_prediction")
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(ids), CHUNK):
            predictions_route(ids=ids[start : start + CHUNK])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        anomalous = Prediction.objects.filter(
            pk__in=ids, reason_codes__contains=["data_anomaly"]
        ).count()
        return wall, cpu, anomalous

    results: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
    run(False)  # warm-up: connection, caches, the policy
    for _ in range(runs):
        for with_profile in (False, True):
            results[with_profile].append(run(with_profile))
    load = os.getloadavg()[0]
    print(
        f"\npredictions_route, {rows:,} rows of {fields} fields per run, chunks of {CHUNK}; "
        f"{connection.vendor} {getattr(connection, 'pg_version', '')}; {os.cpu_count()} cores, "
        f"load average {load:.1f}"
    )
    print("| | wall clock | this process's CPU | CPU µs/prediction | routed for data_anomaly |")
    print("|---|---|---|---|---|")
    for with_profile, label in ((False, "no profile"), (True, "with a profile")):
        rs = results[with_profile]
        walls, cpus = [r[0] for r in rs], [r[1] for r in rs]
        print(
            f"| {label} | {min(walls):.2f} – {max(walls):.2f} s | {min(cpus):.2f} – "
            f"{max(cpus):.2f} s | {statistics.median(cpus) / rows * 1e6:.0f} | {rs[-1][2]:,} |"
        )
    base = statistics.median(r[1] for r in results[False])
    with_ = statistics.median(r[1] for r in results[True])
    print(f"CPU added by the check (load the inputs, check, store the findings): "
          f"{(with_ - base) / rows * 1e6:.1f} µs/prediction, {(with_ - base) / with_:.1%} of "
          f"routing's CPU with a profile")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fields", type=int, default=20, help="input fields in the routing part")
    ap.add_argument("--pure-only", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings_test")
    if not args.pure_only:
        url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
        recreate_database(url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True,
            env=dict(os.environ),
        )  # fmt: skip
    import django

    django.setup()
    pure(args.runs)
    if not args.pure_only:
        routing(args.rows, args.runs, args.fields)


if __name__ == "__main__":
    main()
