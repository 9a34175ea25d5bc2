"""Catalog search benchmark: 50,000 failure modes on PostgreSQL, p50/p95 of a fixed query set.

Usage (PostgreSQL must be reachable; the script creates and fills its own database):

    BENCH_PG=postgres://postgres:postgres@127.0.0.1:5432 .venv/bin/python bench/search.py

Options: --entries N (default 50000), --rounds R (default 15), --keep (reuse an existing
filled database instead of rebuilding it).

Every query goes through the selectors the search page calls: ``catalog_search`` for the
results (matching, ranking, count, the page of 20 rows with tags, highlighted snippets and
the mitigation / case-study side lists) and ``catalog_facets`` for the facet panel, which the
page loads once its results are shown. The "core" figures are the results without the side
lists (what the API does).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

from bench_env import PRODUCTION_SECRETS

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DB_NAME = "failsafe_bench_search"

QUERIES = [
    "q=drift",
    "q=currency+drift",
    "q=curency+drift",  # typo
    "q=calibration",
    "q=calibraton",  # typo
    "q=scanner&category=out-of-distribution",
    "q=tokenizer+mismatch",
    "q=tokeniser",  # spelling variant
    "q=label+noise&severity=S2",
    "q=leakage&status=published",
    "q=latency+timeout&sort=severity",
    "q=fraud&data_domain=payments",
    "q=threshold&model_family=transformer",
    "q=upstream+outage&deployment=online+api",
    "q=chargeback&sort=occurrences",
    "q=feedback+loop&status=published&severity=S1",
    "q=subgroup+fairness",
    "category=data-drift&severity=S1",
    "severity=S2&status=published&sort=recency",
    "q=adversrial+probing",  # typo
]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def ensure_database(server: str, rebuild: bool) -> bool:
    import psycopg

    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if exists and not rebuild:
            return False
        if exists:
            conn.execute(f"DROP DATABASE {DB_NAME}")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return True


def sentences_from_starter() -> tuple[list[str], list[str]]:
    data = json.loads((ROOT / "catalog" / "fixtures" / "starter_catalog.json").read_text())
    titles, sentences = [], []
    for fm in data["failure_modes"]:
        titles.append(fm["title"])
        for field in ("summary", "cause", "effect", "latent_conditions", "detection_signals",
                      "business_impact"):  # fmt: skip
            for s in re.split(r"(?<=[.!?])\s+|\n+", fm[field]):
                s = s.strip(" -0123456789.")
                if len(s) > 20:
                    sentences.append(s)
    for m in data["mitigations"]:
        titles.append(m["title"])
    return titles, sentences


def fill(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Category, FailureMode, Tag

    call_command("migrate", verbosity=0)
    rng = random.Random(20261123)
    titles, sentences = sentences_from_starter()
    extra = ["payments", "tickets", "imaging", "retail", "ads", "search", "pricing", "credit",
             "churn", "forecast", "ranking", "vision", "speech", "routing", "inventory"]  # fmt: skip
    User = get_user_model()
    owners = [User.objects.get_or_create(username=f"owner{i}")[0] for i in range(20)]
    cats = list(Category.objects.filter(parent__isnull=False))
    dims = {
        "data_domain": ["payments", "support tickets", "medical imaging", "ads", "credit"],
        "model_family": ["gradient boosting", "transformer", "cnn", "linear", "ensemble"],
        "deployment": ["online api", "batch", "edge", "hospital on-prem"],
        "segment": ["consumer", "merchants", "new markets", "enterprise", "all"],
    }
    tags = {
        (d, v): Tag.objects.get_or_create(dimension=d, name=v)[0]
        for d, values in dims.items()
        for v in values
    }
    statuses = ["published"] * 7 + ["in_review", "draft", "deprecated"]
    now = timezone.now()
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_failuremode DISABLE TRIGGER USER")
    rows = []
    for i in range(n):
        title = f"{rng.choice(titles)} in {rng.choice(extra)} {rng.choice(extra)} #{i}"

        def para(k: int) -> str:
            return " ".join(rng.sample(sentences, k))

        rows.append(
            FailureMode(
                title=title[:200],
                slug=f"bench-{i}",
                summary=para(2),
                category=rng.choice(cats),
                cause=para(2),
                effect=para(2),
                latent_conditions=para(1),
                trigger_steps=para(1),
                detection_signals=para(2),
                business_impact=para(1),
                severity=rng.choice(["S1", "S2", "S2", "S3", "S3", "S3", "S4"]),
                status=rng.choice(statuses),
                owner=rng.choice(owners),
                steward=rng.choice(owners),
                occurrence_count=int(rng.expovariate(1 / 4)),
                updated_at=now - timezone.timedelta(minutes=rng.randint(0, 500000)),
                keywords=" ".join(rng.sample(extra, 3)),
            )
        )
    with transaction.atomic():
        FailureMode.objects.bulk_create(rows, batch_size=2000)
        ids = list(FailureMode.objects.values_list("pk", flat=True))
        through = FailureMode.tags.through
        links = []
        tag_list = list(tags.values())
        for pk in ids:
            for tag in rng.sample(tag_list, 3):
                links.append(through(failuremode_id=pk, tag_id=tag.pk))
        through.objects.bulk_create(links, batch_size=5000)
    t1 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE catalog_failuremode ENABLE TRIGGER USER")
        # One UPDATE fills every search vector (the trigger computes it per row).
        cursor.execute("UPDATE catalog_failuremode SET title = title")
        # The fill wrote every row several times (insert, tag links, vectors), which leaves
        # ~70 % of the heap as free space (135 MB for 39 MB of rows) that a catalog grown
        # entry by entry would have reused. Compact it, as docs/catalog.md advises after a
        # bulk import: searches read every page their matches sit on.
        cursor.execute("VACUUM FULL ANALYZE catalog_failuremode")
        cursor.execute("ANALYZE catalog_failuremode_tags")
        cursor.execute("ANALYZE catalog_tag")
    t2 = time.perf_counter()
    print(f"inserted {n} entries (+{len(links)} tag links) in {t1 - t0:.1f} s; "
          f"search vectors filled and analysed in {t2 - t1:.1f} s")  # fmt: skip


def run(rounds: int) -> None:
    from django.db import connection, reset_queries
    from django.http import QueryDict

    from catalog.models import FailureMode
    from catalog.selectors import catalog_facets, catalog_search

    print(f"{FailureMode.objects.count()} failure modes in {connection.settings_dict['NAME']}")
    # Warm-up: one pass so plans and caches are in a steady state, as on a running server.
    for q in QUERIES:
        catalog_search(params=QueryDict(q))
        catalog_facets(params=QueryDict(q))
    page: dict[str, list[float]] = {q: [] for q in QUERIES}
    facets: dict[str, list[float]] = {q: [] for q in QUERIES}
    core: dict[str, list[float]] = {q: [] for q in QUERIES}
    totals: dict[str, int] = {}
    for _ in range(rounds):
        for q in QUERIES:
            t = time.perf_counter()
            result = catalog_search(params=QueryDict(q))
            page[q].append((time.perf_counter() - t) * 1000)
            totals[q] = result.total
            t = time.perf_counter()
            catalog_facets(params=QueryDict(q))
            facets[q].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            catalog_search(params=QueryDict(q), with_others=False)
            core[q].append((time.perf_counter() - t) * 1000)
            reset_queries()
    print(f"\n{'query':48} {'hits':>6} {'page p50':>9} {'p95':>6} {'facets p50':>11} {'p95':>6} "
          f"{'core p50':>9}")  # fmt: skip
    for q in QUERIES:
        print(f"{q:48} {totals[q]:>6} {pct(page[q], .5):>9.1f} {pct(page[q], .95):>6.1f} "
              f"{pct(facets[q], .5):>11.1f} {pct(facets[q], .95):>6.1f} "
              f"{pct(core[q], .5):>9.1f}")  # fmt: skip
    for label, figures in (
        ("results page (match, rank, count, page, snippets, side lists)", page),
        ("facet panel (every facet's counts, loaded after the results)", facets),
        ("core / API (match, rank, count, page, snippets)", core),
    ):
        values = [v for vs in figures.values() for v in vs]
        print(f"{label}, {len(values)} runs: p50 {pct(values, .5):.1f} ms, "
              f"p95 {pct(values, .95):.1f} ms, mean {statistics.mean(values):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="Reuse a filled database.")
    args = parser.parse_args()
    server = os.environ.get("BENCH_PG", "postgres://postgres:postgres@127.0.0.1:5432")
    created = ensure_database(server, rebuild=not args.keep)
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    for name, value in PRODUCTION_SECRETS.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("FAILSAFE_VAR_DIR", "/tmp/failsafe-bench")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewapp.settings")
    import django

    django.setup()
    if created:
        fill(args.entries)
    run(args.rounds)


if __name__ == "__main__":
    main()
