"""Scale benchmark: ingest and the queue pages as months of history pile up (prints figures).

Builds a database holding N predictions received evenly over M months (most passed; one in
twenty routed to review and decided, with its review item, decision and audit subject rows),
the payloads in their month partitions when the schema has the side table, and the same
live queue at every size (a fixed number of pending items received in the last hour). Then
it measures, against gunicorn and a Celery worker on 127.0.0.1:

- ingest: single requests in a closed loop and batches (bench/ingest.py's phases);
- the queue: reviewers claiming, opening the review page, deciding and reloading the queue
  page (bench/claim.py's reviewers), p50/p95 per step;
- EXPLAIN (ANALYZE, BUFFERS) of the hot statements: the ingest INSERT, routing's selection,
  the claim, and the queue page's queries; plans written in full to a file.

    .venv/bin/python bench/scale.py build --predictions 1000000 --database-url .../fs_bench_1m
    .venv/bin/python bench/scale.py build --predictions 10000000 --database-url .../fs_bench_10m
    .venv/bin/python bench/scale.py compare --rounds 3 .../fs_bench_1m .../fs_bench_10m

`compare` measures the databases in turn, round after round, and prints the medians side by
side with the ratio. `build` drops and re-creates the database named (it must contain
"bench"). Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from bench_env import recreate_database

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_BROKER = "redis://127.0.0.1:6379/14"


def environment(url: str, broker: str, var_dir: Path) -> dict[str, str]:
    """bench/claim.py's production-settings environment (the reviewers log in over HTTP), with
    this run's broker."""
    import claim

    return {**claim.env_for(url, var_dir), "CELERY_BROKER_URL": broker}


def _setup(url: str, broker: str, var_dir: Path) -> None:
    os.environ.update(environment(url, broker, var_dir))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


# --- build ---------------------------------------------------------------------------------------
def build(args: argparse.Namespace) -> None:
    var_dir = Path(tempfile.mkdtemp(prefix="scale-build-"))
    env = environment(args.database_url, args.broker_url, var_dir)
    recreate_database(args.database_url)
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    _setup(args.database_url, args.broker_url, var_dir)
    import claim
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from reviewapp import demo
    from reviewapp.core.audit import Actor
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel, PoolMembership
    from reviewapp.services.accounts import service_account_create

    actor = Actor.system("bench")
    models = []
    for spec in demo.DEMO_MODELS:
        model = MLModel.objects.create(
            **{k: spec[k] for k in ("slug", "name", "owner_team", "criticality", "labels")},
            strict_output=spec.get("strict_output", False),
        )
        policy_version_create(
            model_slug=model.slug,
            rules=spec["rules"],
            labels=model.labels,
            activate=True,
            actor=actor,
        )
        models.append(model)
    User = get_user_model()
    reviewer_group = Group.objects.get(name="reviewer")
    for i in range(args.reviewers):
        user = User.objects.create_user(f"bench{i}", password=claim.PASSWORD)
        user.groups.add(reviewer_group)
        for model in models:
            PoolMembership.objects.create(model=model, user=user)
    token = service_account_create(name="bench-scale", model_slugs=None, actor=actor).token
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE bench_scale_info (key text PRIMARY KEY, value text NOT NULL)")
        cur.execute(
            "INSERT INTO bench_scale_info VALUES ('token', %s), ('predictions', %s), "
            "('months', %s)",
            [token, str(args.predictions), str(args.months)],
        )
    started = time.perf_counter()
    generate(args.predictions, args.months, args.pending, [m.pk for m in models])
    print(
        f"built {urlsplit(args.database_url).path[1:]}: {args.predictions:,} predictions over "
        f"{args.months} months and {args.pending:,} pending items in "
        f"{time.perf_counter() - started:,.0f} s"
    )
    report_sizes()


def generate(total: int, months: int, pending: int, model_ids: list[int]) -> None:
    """The rows in SQL, in slices of a million (one transaction each, so a slice's WAL and
    memory stay bounded). Row g is received at ``months`` × 30 days × (1 - g / total) ago: ids
    rise with time, as they do in production."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT to_regclass('reviewapp_predictionpayload') IS NOT NULL, "
            "EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = "
            "'reviewapp_prediction' AND column_name = 'input')"
        )
        has_payload_table, wide = cur.fetchone()
        if has_payload_table:
            # Month partitions for the whole history, as beat would have made them.
            import datetime as dt

            from reviewapp.services.payloads import payload_partitions_ensure

            first = dt.datetime.now(dt.UTC) - dt.timedelta(days=months * 30 + 1)
            payload_partitions_ensure(now=first, months_ahead=months + 4)
    envelope = (
        "jsonb_build_object('amount', round((random() * 900)::numeric, 2), 'country', 'NL', "
        "'merchant_category', '5411', 'txn_count_24h', g % 30, 'note', repeat('x', 300))",
        "jsonb_build_object('label', m.labels->>0, 'scores', jsonb_build_object(m.labels->>0, "
        "0.6, m.labels->>1, 0.4))",
        "jsonb_build_object('ood_score', (g % 100) / 100.0, 'attributions', "
        "jsonb_build_object('amount', 0.3, 'country', 0.1))",
        "jsonb_build_object('dataset', 'bench', 'pipeline_run', 'run-' || (g % 7))",
    )
    span = f"interval '{months * 30} days'"
    step = 1_000_000
    for low in range(1, total + 1, step):
        high = min(total, low + step - 1)
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("BEGIN")
            wide_columns = "input, output, signals, lineage, " if wide else ""
            wide_values = ", ".join(envelope) + ", " if wide else ""
            cur.execute(
                f"""
                INSERT INTO reviewapp_prediction (model_id, external_id, model_version,
                  {wide_columns} label, confidence, top_scores, occurred_at, received_at,
                  receipt, request_id, status, enqueued_at, routed, reason_codes,
                  reason_details, threshold, policy_version_id, policy_hash, fallback,
                  routed_at, mode_at_receipt, routing_mode, routing_facts)
                SELECT m.id, 'h-' || g, '1.0', {wide_values} m.labels->>0,
                  CASE WHEN g % 20 = 0 THEN 0.5 ELSE 0.97 END, NULL,
                  now() - {span} * (1 - g::float / %(total)s),
                  now() - {span} * (1 - g::float / %(total)s),
                  gen_random_uuid(), '', CASE WHEN g % 20 = 0 THEN 'decided' ELSE 'passed' END,
                  NULL, g % 20 = 0,
                  CASE WHEN g % 20 = 0 THEN '["low_confidence"]'::jsonb ELSE '[]'::jsonb END,
                  '{{}}'::jsonb, 0.8, p.id, p.rules_hash, '{{}}'::jsonb,
                  now() - {span} * (1 - g::float / %(total)s), 'normal', 'normal', '{{}}'::jsonb
                FROM generate_series(%(low)s, %(high)s) AS g
                JOIN reviewapp_mlmodel m ON m.id = (%(ids)s)[1 + g % %(nm)s]
                JOIN governance_policyversion p ON p.model_slug = m.slug AND p.is_active
                """.replace("%", "%%").replace("%%(", "%("),
                {"total": total, "low": low, "high": high, "ids": model_ids, "nm": len(model_ids)},
            )
            if has_payload_table:
                cur.execute(
                    f"""
                    INSERT INTO reviewapp_predictionpayload (prediction_id, received_at,
                      model_id, input, output, signals, lineage)
                    SELECT pr.id, pr.received_at, pr.model_id, {", ".join(envelope)}
                    FROM (SELECT p.*, substr(p.external_id, 3)::bigint AS g
                          FROM reviewapp_prediction p
                          WHERE p.external_id LIKE 'h-%%'
                            AND substr(p.external_id, 3)::bigint BETWEEN %(low)s AND %(high)s) pr
                    JOIN reviewapp_mlmodel m ON m.id = pr.model_id
                    """.replace("%", "%%")
                    .replace("%%(", "%(")
                    .replace("%%%%", "%%"),
                    {"low": low, "high": high},
                )
            _items_decisions_audit(
                cur,
                f"external_id LIKE 'h-%%' AND routed AND id >= "
                f"(SELECT min(id) FROM reviewapp_prediction "
                f"WHERE external_id = 'h-{low}')",
            )
            cur.execute("COMMIT")
        print(f"  rows {low:,} – {high:,} in {time.perf_counter() - t:,.0f} s", flush=True)
    _live_queue(pending, model_ids, has_payload_table, wide, envelope)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def _items_decisions_audit(cur, where: str) -> None:
    """Review items, decisions and the routing audit (one event per 500 rows, a subject row
    per prediction) for the routed rows of a slice that have none yet."""
    cur.execute(
        f"""
        INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority, sla_due_at,
          created_at, updated_at, decided_at, claim_generation, defer_count, purpose,
          suggestion_masked)
        SELECT p.id, p.model_id, 'decided', 50, p.received_at + interval '4 hours',
          p.received_at, p.received_at, p.received_at + interval '20 minutes', 1, 0, 'routed',
          false
        FROM reviewapp_prediction p
        WHERE {where} AND NOT EXISTS (SELECT 1 FROM reviewapp_reviewitem i
                                      WHERE i.prediction_id = p.id)
        """
    )
    cur.execute(
        """
        INSERT INTO reviewapp_decision (item_id, prediction_id, model_id, reviewer_id, action,
          predicted_label, final_label, reason, note, failure_mode_tags, model_confidence,
          decided_at, deliver_after, held, suggestion_shown)
        SELECT i.id, i.prediction_id, i.model_id,
          (SELECT min(id) FROM auth_user WHERE username LIKE 'bench%%'),
          'accept', p.label, p.label, '', '', '[]'::jsonb, p.confidence, i.decided_at,
          i.decided_at, false, true
        FROM reviewapp_reviewitem i JOIN reviewapp_prediction p ON p.id = i.prediction_id
        WHERE i.status = 'decided' AND NOT EXISTS (SELECT 1 FROM reviewapp_decision d
                                                   WHERE d.item_id = i.id)
        """
    )
    cur.execute(
        f"""
        WITH chunks AS (
          SELECT p.id / 500 AS chunk, min(p.id) AS first, max(p.id) AS last,
                 min(p.routed_at) AS at, count(*) AS n
          FROM reviewapp_prediction p
          WHERE {where.replace(" AND routed", "")}
          GROUP BY 1
        ), events AS (
          INSERT INTO core_auditevent (occurred_at, actor_type, actor_id, actor_label, verb,
            target_type, target_id, before, after, data, request_id)
          SELECT at, 'system', '', 'router', 'queue.prediction.routed', 'reviewapp.prediction',
            first || '..' || last, NULL, NULL, jsonb_build_object('count', n), ''
          FROM chunks ORDER BY chunk
          RETURNING id, target_id
        )
        INSERT INTO core_auditsubject (event_id, target_type, target_id)
        SELECT e.id, 'reviewapp.prediction', p.id::text
        FROM events e JOIN reviewapp_prediction p
          ON p.id BETWEEN split_part(e.target_id, '..', 1)::bigint
                      AND split_part(e.target_id, '..', 2)::bigint
        """
    )


def _live_queue(pending: int, model_ids, has_payload_table: bool, wide: bool, envelope) -> None:
    """The same live queue at every size: ``pending`` routed rows of the last hour, pending."""
    from django.db import connection

    with connection.cursor() as cur:
        wide_columns = "input, output, signals, lineage, " if wide else ""
        wide_values = ", ".join(envelope) + ", " if wide else ""
        cur.execute(
            f"""
            INSERT INTO reviewapp_prediction (model_id, external_id, model_version,
              {wide_columns} label, confidence, top_scores, occurred_at, received_at, receipt,
              request_id, status, routed, reason_codes, reason_details, threshold,
              policy_version_id, policy_hash, fallback, routed_at, mode_at_receipt,
              routing_mode, routing_facts)
            SELECT m.id, 'q-' || g, '1.0', {wide_values} m.labels->>0, 0.5, NULL,
              now() - interval '1 hour', now() - interval '1 hour', gen_random_uuid(), '',
              'in_review', true, '["low_confidence"]'::jsonb, '{{}}'::jsonb, 0.8, p.id,
              p.rules_hash, '{{}}'::jsonb, now() - interval '1 hour', 'normal', 'normal',
              '{{}}'::jsonb
            FROM generate_series(1, %(n)s) AS g
            JOIN reviewapp_mlmodel m ON m.id = (%(ids)s)[1 + g % %(nm)s]
            JOIN governance_policyversion p ON p.model_slug = m.slug AND p.is_active
            """.replace("%", "%%").replace("%%(", "%("),
            {"n": pending, "ids": model_ids, "nm": len(model_ids)},
        )
        if has_payload_table:
            cur.execute(
                f"""
                INSERT INTO reviewapp_predictionpayload (prediction_id, received_at, model_id,
                  input, output, signals, lineage)
                SELECT pr.id, pr.received_at, pr.model_id, {", ".join(envelope)}
                FROM (SELECT p.*, substr(p.external_id, 3)::bigint AS g
                      FROM reviewapp_prediction p WHERE p.external_id LIKE 'q-%') pr
                JOIN reviewapp_mlmodel m ON m.id = pr.model_id
                """
            )
        cur.execute(
            """
            INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority,
              sla_due_at, created_at, updated_at, claim_generation, defer_count, purpose,
              suggestion_masked)
            SELECT p.id, p.model_id, 'pending', (p.id * 7919) % 100,
              now() + ((p.id * 104729) % 2880) * interval '1 minute', p.received_at,
              p.received_at, 0, 0, 'routed', false
            FROM reviewapp_prediction p WHERE p.external_id LIKE 'q-%'
            """
        )


def report_sizes() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, pg_total_relation_size(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relispartition = false
            ORDER BY 2 DESC LIMIT 8
            """
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
            "WHERE inhparent = to_regclass('reviewapp_predictionpayload')"
        )
        (partitions,) = cur.fetchone()
    rows = sorted(
        [(n, s) for n, s in rows if n != "reviewapp_predictionpayload"]
        + [("reviewapp_predictionpayload (all months)", partitions)],
        key=lambda row: -row[1],
    )
    for name, size in rows:
        print(f"  {name:<42} {size / 2**30:8.2f} GiB")


# --- measure -------------------------------------------------------------------------------------
def measure(args: argparse.Namespace) -> None:
    import claim
    import ingest

    var_dir = Path(tempfile.mkdtemp(prefix="scale-run-"))
    _setup(args.database_url, args.broker_url, var_dir)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT key, value FROM bench_scale_info")
        info = dict(cur.fetchall())
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=environment(args.database_url, args.broker_url, var_dir),
        check=True,
    )
    claim.prewarm()
    explains = explain_hot_paths(args.plans)
    stack_args = SimpleNamespace(
        database_url=args.database_url,
        broker_url=args.broker_url,
        web_workers=args.web_workers,
        web_threads=args.web_threads,
        worker_concurrency=2,
        route_chunk=500,
        profile_worker=None,
        app_dir=ROOT,
        predictions=args.batch,
        batch_size=1000,
        batch_clients=2,
        singles=args.singles,
        concurrency=args.clients,
        timeout=300,
    )
    ingest.flush_broker(args.broker_url)
    stack = ingest.Stack(stack_args, var_dir)
    stack.env.update(environment(args.database_url, args.broker_url, var_dir))
    run = uuid.uuid4().hex[:6]
    try:
        stack.start()
        singles = ingest.singles_phase(stack_args, stack, info["token"], f"s{run}-")
        batch = ingest.batch_phase(stack_args, stack, info["token"], f"b{run}-")
        queue = queue_phase(f"http://127.0.0.1:{stack.port}", args)
    finally:
        stack.stop()
    figures = {
        "predictions": int(info["predictions"]),
        "single": {
            "accepted_per_s": singles["rows"] / singles["accept_s"],
            "p50_ms": singles["p50_ms"],
            "p99_ms": singles["p99_ms"],
            "cpu_ms": sum(singles["cpu_ms_per_request"].values()),
            "postgres_cpu_ms": singles["cpu_ms_per_request"]["postgres"],
        },
        "batch": {
            "accepted_per_s": batch["rows"] / batch["accept_s"],
            "routed_per_s": batch["rows"] / batch["routed_s"] if batch["routed_s"] else 0,
        },
        "queue": queue,
        "explain": explains,
    }
    Path(args.json).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


def queue_phase(base: str, args: argparse.Namespace) -> dict:
    import claim

    users = [f"bench{i}" for i in range(args.reviewers)]
    warm = [claim.Reviewer(base, u, time.perf_counter() + 5, 2) for u in users]
    for th in warm:
        th.start()
    for th in warm:
        th.join()
    deadline = time.perf_counter() + args.seconds + 10
    reviewers = [claim.Reviewer(base, u, deadline, 10_000) for u in users]
    for th in reviewers:
        th.go.clear()
        th.start()
    for th in reviewers:
        th.logged_in.wait(30)
    deadline = time.perf_counter() + args.seconds
    for th in reviewers:
        th.deadline = deadline
        th.go.set()
    for th in reviewers:
        th.join()

    def pct(values: list[float], p: int) -> float:
        return (
            statistics.quantiles(values, n=100, method="inclusive")[p - 1] * 1000
            if len(values) > 1
            else float("nan")
        )

    out: dict[str, float] = {}
    for name in ("claims", "reviews", "decides", "queues"):
        values = [v for th in reviewers for v in getattr(th, name)]
        out[f"{name}_p50_ms"] = pct(values, 50)
        out[f"{name}_p95_ms"] = pct(values, 95)
    out["decisions_per_s"] = sum(th.decided for th in reviewers) / args.seconds
    out["errors"] = sum(len(th.errors) for th in reviewers)
    return out


def _ok(response) -> None:
    if response.status_code != 200:
        raise SystemExit(f"the queue page answered {response.status_code}")


def _review_page(client, user) -> None:
    """Claim the next item and open its review page (the claim is rolled back with it)."""
    from reviewapp.services.claims import review_item_claim_next

    item = review_item_claim_next(user=user)
    _ok(client.get(f"/queue/items/{item.pk}/review/"))


def explain_hot_paths(plans_path: str | None) -> dict:
    """EXPLAIN (ANALYZE, BUFFERS) of what the hot paths run, each inside a transaction that is
    rolled back (the database is left as it was)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from reviewapp import demo
    from reviewapp.models import ServiceAccount
    from reviewapp.services.claims import review_item_claim_next
    from reviewapp.services.ingest import prediction_ingest
    from reviewapp.services.routing import predictions_route

    user = get_user_model().objects.get(username="bench0")
    account = ServiceAccount.objects.get(name="bench-scale")
    envelope = demo.envelopes(1, seed=9, prefix=f"x{uuid.uuid4().hex[:6]}-")[0]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def ingest_and_route() -> None:
        result = prediction_ingest(envelope=envelope, account=account, enqueue=False)
        predictions_route(ids=[result.id])

    paths = {
        "ingest + route": ingest_and_route,
        "claim": lambda: review_item_claim_next(user=user),
        "queue page": lambda: _ok(client.get("/queue/")),
        "review page": lambda: _review_page(client, user),
    }
    results: dict[str, list[dict]] = {}
    full: dict[str, list] = {}
    for label, call in paths.items():
        statements: list[dict] = []
        with transaction.atomic():
            with CaptureQueriesContext(connection) as captured:
                call()
            sqls = list(dict.fromkeys(q["sql"] for q in captured.captured_queries))
            for sql in sqls:
                head = sql.lstrip().split(None, 1)[0].upper()
                if head not in {"SELECT", "INSERT", "UPDATE", "WITH", "DELETE"}:
                    continue
                sid = transaction.savepoint()
                try:
                    with connection.cursor() as cur:
                        cur.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
                        plan = cur.fetchone()[0][0]
                except Exception:  # noqa: BLE001 - a statement EXPLAIN cannot take
                    transaction.savepoint_rollback(sid)
                    continue
                transaction.savepoint_rollback(sid)
                top = plan["Plan"]
                statements.append(
                    {
                        "sql": " ".join(sql.split())[:160],
                        "ms": plan["Execution Time"],
                        "planning_ms": plan.get("Planning Time", 0.0),
                        "shared_hit": top.get("Shared Hit Blocks", 0),
                        "shared_read": top.get("Shared Read Blocks", 0),
                        "seq_scans": json.dumps(plan).count('"Seq Scan"'),
                    }
                )
                full.setdefault(label, []).append({"sql": sql, "plan": plan})
            transaction.set_rollback(True)
        statements.sort(key=lambda s: -s["ms"])
        results[label] = statements[:4]
    if plans_path:
        Path(plans_path).write_text(json.dumps(full, indent=1, default=str))
    return results


# --- compare -------------------------------------------------------------------------------------
FIGURES = [
    ("single: accepted/s", ("single", "accepted_per_s"), "{:,.0f}"),
    ("single: p50 ms", ("single", "p50_ms"), "{:.1f}"),
    ("single: p99 ms", ("single", "p99_ms"), "{:.1f}"),
    ("single: CPU ms/request", ("single", "cpu_ms"), "{:.2f}"),
    ("single: PostgreSQL CPU ms/request", ("single", "postgres_cpu_ms"), "{:.2f}"),
    ("batch: accepted/s", ("batch", "accepted_per_s"), "{:,.0f}"),
    ("batch: routed/s", ("batch", "routed_per_s"), "{:,.0f}"),
    ("queue page p50 ms", ("queue", "queues_p50_ms"), "{:.1f}"),
    ("queue page p95 ms", ("queue", "queues_p95_ms"), "{:.1f}"),
    ("claim p50 ms", ("queue", "claims_p50_ms"), "{:.1f}"),
    ("claim p95 ms", ("queue", "claims_p95_ms"), "{:.1f}"),
    ("review page p50 ms", ("queue", "reviews_p50_ms"), "{:.1f}"),
    ("review page p95 ms", ("queue", "reviews_p95_ms"), "{:.1f}"),
    ("decide p50 ms", ("queue", "decides_p50_ms"), "{:.1f}"),
    ("decisions/s", ("queue", "decisions_per_s"), "{:.1f}"),
]


def compare(args: argparse.Namespace) -> None:
    out = Path(args.out or tempfile.mkdtemp(prefix="scale-compare-"))
    out.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {url: [] for url in args.databases}
    for round_ in range(1, args.rounds + 1):
        for i, url in enumerate(args.databases):
            target = out / f"db{i}-{round_}.json"
            print(f"round {round_}: {urlsplit(url).path[1:]}", flush=True)
            subprocess.run(  # noqa: S603
                [
                    sys.executable,
                    str(HERE / "scale.py"),
                    "measure",
                    "--database-url",
                    url,
                    "--broker-url",
                    args.broker_url,
                    "--json",
                    str(target),
                    "--plans",
                    str(out / f"db{i}-{round_}-plans.json"),
                    *args.measure_args,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            runs[url].append(json.loads(target.read_text()))
    names = [f"{runs[url][0]['predictions']:,}" for url in args.databases]
    print(f"\nMedians of {args.rounds} interleaved runs (JSON and plans in {out})\n")
    print("| figure | " + " | ".join(names) + " | last / first |")
    print("|---|" + "---|" * (len(names) + 1))
    for name, (part, key), fmt in FIGURES:
        medians = [statistics.median(r[part][key] for r in runs[url]) for url in args.databases]
        ratio = medians[-1] / medians[0] if medians[0] else float("nan")
        print(f"| {name} | " + " | ".join(fmt.format(m) for m in medians) + f" | {ratio:.2f} |")
    print(
        "\nHot statements (median execution ms of the slowest per path; shared blocks of "
        "the last run)\n"
    )
    for label in runs[args.databases[0]][0]["explain"]:
        for url, name in zip(args.databases, names, strict=True):
            last = runs[url][-1]["explain"].get(label, [])
            ms = statistics.median(
                (r["explain"].get(label) or [{"ms": 0}])[0]["ms"] for r in runs[url]
            )
            if last:
                top = last[0]
                print(
                    f"- {label} @ {name}: {ms:.2f} ms (planning {top.get('planning_ms', 0):.2f}"
                    f" ms), hit {top['shared_hit']} read "
                    f"{top['shared_read']} blocks, seq scans {top['seq_scans']}: {top['sql'][:90]}"
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--database-url", required=True)
    b.add_argument("--broker-url", default=DEFAULT_BROKER)
    b.add_argument("--predictions", type=int, default=1_000_000)
    b.add_argument("--months", type=int, default=12)
    b.add_argument("--pending", type=int, default=20_000)
    b.add_argument("--reviewers", type=int, default=4)
    m = sub.add_parser("measure")
    m.add_argument("--database-url", required=True)
    m.add_argument("--broker-url", default=DEFAULT_BROKER)
    m.add_argument("--json", required=True)
    m.add_argument("--plans")
    m.add_argument("--singles", type=int, default=1500)
    m.add_argument("--clients", type=int, default=8)
    m.add_argument("--batch", type=int, default=5000)
    m.add_argument("--seconds", type=float, default=20)
    m.add_argument("--reviewers", type=int, default=4)
    m.add_argument("--web-workers", type=int, default=3)
    m.add_argument("--web-threads", type=int, default=4)
    c = sub.add_parser("compare")
    c.add_argument("--rounds", type=int, default=3)
    c.add_argument("--broker-url", default=DEFAULT_BROKER)
    c.add_argument("--out")
    c.add_argument("databases", nargs="+")
    c.add_argument("--measure-args", nargs=argparse.REMAINDER, default=[])
    args = p.parse_args()
    {"build": build, "measure": measure, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
