"""Ingest benchmark: HTTP → PostgreSQL → Redis → Celery routing, against the physical limit.

Starts its own stack on a dedicated PostgreSQL database (dropped and re-created unless
--reuse-db) and a Redis database number of its own: gunicorn on 127.0.0.1 and one Celery
worker. Then it posts synthetic predictions through the batch endpoint and through single
requests, waits until the worker routed every one of them, and in the same run measures a raw
COPY of the same rows into the same table (rolled back). Prints the figures; stops everything.

    .venv/bin/python bench/ingest.py                       # defaults: 20,000 batch + 5,000 single
    .venv/bin/python bench/ingest.py -n 5000 --singles 1000 --profile-worker
    .venv/bin/python bench/ingest.py --app-dir /tmp/before --json before.json   # another checkout

Phases: batch (closed loop), single requests in a closed loop (-c clients, each sending the next
request when the last one answers), single requests in an open loop (--open-rate per second
for --open-seconds, at a steady schedule; latency counts from each request's scheduled send
time, so a slow answer cannot hide the requests queued behind it), and the raw COPY.
For each single-request phase it reports received -> routed latency from the rows' own
timestamps, CPU per request per process, and PostgreSQL's WAL syncs per commit (how often a
commit waited on the disk) and their time (pg_stat_wal; track_wal_io_timing must be on for
the time).

Not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from bench_env import PRODUCTION_SECRETS, recreate_database

BASE_DIR = Path(__file__).resolve().parent.parent

DEFAULT_DB = "postgres://postgres:postgres@127.0.0.1:5432/failsafe_bench_ingest"
DEFAULT_BROKER = "redis://127.0.0.1:6379/13"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    p.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", DEFAULT_BROKER))
    p.add_argument("-n", "--predictions", type=int, default=20_000, help="batch-phase rows")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--batch-clients", type=int, default=3)
    p.add_argument("--singles", type=int, default=5000, help="single-request phase requests")
    p.add_argument("-c", "--concurrency", type=int, default=16, help="single-request clients")
    p.add_argument("--web-workers", type=int, default=3)
    p.add_argument("--web-threads", type=int, default=4)
    p.add_argument("--worker-concurrency", type=int, default=2)
    p.add_argument("--route-chunk", type=int, default=500)
    p.add_argument("--timeout", type=float, default=240, help="seconds to wait per phase")
    p.add_argument("--open-rate", type=float, default=250, help="open loop: requests per second")
    p.add_argument("--open-seconds", type=float, default=20, help="open loop: duration")
    p.add_argument("--open-clients", type=int, default=64, help="open loop: sender threads")
    p.add_argument("--skip-open", action="store_true")
    p.add_argument(
        "--app-dir",
        type=Path,
        default=BASE_DIR,
        help="the checkout whose code the stack runs (default: this one)",
    )
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--reuse-db", action="store_true", help="keep the database between runs")
    p.add_argument("--skip-singles", action="store_true")
    p.add_argument(
        "--profile-worker",
        metavar="DIR",
        help="run the Celery worker under py-spy (if installed) and write a flame graph here",
    )
    return p.parse_args()


# --- Processes ----------------------------------------------------------------------------------
class Stack:
    """Everything this run starts; stop() ends it all (also on Ctrl-C or an error)."""

    def __init__(self, args: argparse.Namespace, var_dir: Path) -> None:
        self.args = args
        self.var_dir = var_dir
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.port = _free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            **PRODUCTION_SECRETS,
            "DATABASE_URL": args.database_url,
            "CELERY_BROKER_URL": args.broker_url,
            "SECRET_KEY": "bench-" + uuid.uuid4().hex,
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "FAILSAFE_VAR_DIR": str(var_dir),
            "LOG_LEVEL": "WARNING",
            "INGEST_ROUTE_CHUNK": str(args.route_chunk),
            "PYTHONUNBUFFERED": "1",
        }
        self.env.pop("TEST_DATABASE_NAME", None)

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = (self.var_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - fixed argv
            argv,
            cwd=self.args.app_dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.var_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def start(self) -> None:
        bin_dir = Path(sys.executable).parent
        self.spawn(
            "web",
            [
                str(bin_dir / "gunicorn"),
                "reviewapp.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.args.web_workers),
                "--threads",
                str(self.args.web_threads),
                "--worker-class",
                "gthread" if self.args.web_threads > 1 else "sync",
                "--keep-alive",
                "30",
                "--backlog",
                "256",
                "--log-level",
                "warning",
            ],
        )
        worker = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewapp",
            "worker",
            "--loglevel",
            "WARNING",
            "--queues",
            "ingest,routing,default",
            "--concurrency",
            str(self.args.worker_concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--hostname",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
        ]
        if self.args.profile_worker:
            worker = [
                str(bin_dir / "py-spy"),
                "record",
                "--subprocesses",
                "--idle",
                "-r",
                "50",
                "-o",
                str(Path(self.args.profile_worker) / "worker.svg"),
                "--",
                *worker,
            ]
        self.spawn("worker", worker)
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = request(self.port, "GET", "/healthz", None, {})
                if status == 200:
                    break
            except OSError:
                pass
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise SystemExit(f"{name} exited early:\n{self.log_tail(name)}")
            if time.monotonic() > deadline:
                raise SystemExit(f"web did not become healthy:\n{self.log_tail('web')}")
            time.sleep(0.2)

    def stop(self) -> None:
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                # py-spy writes its flame graph on SIGINT; Celery and gunicorn stop on SIGTERM.
                sig = signal.SIGINT if self.args.profile_worker else signal.SIGTERM
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    continue
        for _name, proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()


def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time (user + system) used so far by each part of the stack, read from /proc.

    Processes are told apart by process group (gunicorn and the worker run in their own) and
    by name (PostgreSQL backends, Redis); the load generator is this process.
    """
    tick = os.sysconf("SC_CLK_TCK")
    groups = {proc.pid: name for name, proc in stack.procs}
    out = {"web": 0.0, "worker": 0.0, "postgres": 0.0, "redis": 0.0, "load generator": 0.0}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        pgrp, used = int(fields[2]), (int(fields[11]) + int(fields[12])) / tick
        if int(entry) == os.getpid():
            out["load generator"] += used
        elif pgrp in groups:
            out[groups[pgrp]] += used
        elif comm == "postgres":
            out["postgres"] += used
        elif comm.startswith("redis-server"):
            out["redis"] += used
    return out


def _log_root() -> Path:
    root = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/failsafe-bench-ingest"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HTTP ---------------------------------------------------------------------------------------
_local = threading.local()


def request(port: int, method: str, path: str, body: bytes | None, headers: dict) -> tuple:
    """One request on this thread's keep-alive connection (reopened when the server closed it)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (http.client.HTTPException, OSError):
        conn.close()
        _local.conn = None
        raise
    if response.will_close:
        conn.close()
    return response.status, data


# --- Database -----------------------------------------------------------------------------------
def migrate_and_seed(stack: Stack) -> str:
    subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=stack.args.app_dir,
        env=stack.env,
        check=True,
    )
    os.environ.update({k: v for k, v in stack.env.items() if k != "PYTHONUNBUFFERED"})
    import django

    django.setup()
    from reviewapp import demo
    from reviewapp.core.audit import Actor
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel
    from reviewapp.services.accounts import service_account_create

    actor = Actor.system("bench")
    for spec in demo.DEMO_MODELS:
        model, created = MLModel.objects.get_or_create(
            slug=spec["slug"],
            defaults={
                **{k: spec[k] for k in ("name", "owner_team", "criticality", "labels")},
                # The demo's strict model: the bench goes through the label/score check.
                "strict_output": spec.get("strict_output", False),
            },
        )
        if created:
            policy_version_create(
                model_slug=model.slug,
                rules=spec["rules"],
                labels=model.labels,
                activate=True,
                actor=actor,
            )
    name = f"bench-{uuid.uuid4().hex[:8]}"
    return service_account_create(name=name, model_slugs=None, actor=actor).token


def flush_broker(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def newest_id() -> int:
    """The newest prediction's id: a phase's rows all come after it, so the polls below read
    them by primary-key range instead of scanning a table of millions (bench/scale.py), which
    took seconds per poll at 10 M rows and was counted as routing time and PostgreSQL CPU."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM reviewapp_prediction")
        return cursor.fetchone()[0]


def counts(prefix: str, after: int) -> tuple[int, int]:
    """(stored, still waiting for routing) for this phase's rows (ids above ``after``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'received') "
            "FROM reviewapp_prediction WHERE id > %s AND external_id LIKE %s",
            [after, prefix + "%"],
        )
        return cursor.fetchone()


def wait_routed(prefix: str, expected: int, timeout: float, after: int) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stored, waiting = counts(prefix, after)
        if stored >= expected and waiting == 0:
            return time.monotonic()
        time.sleep(0.05)
    return None


def routed_latency_ms(prefix: str, after: int) -> dict[str, float]:
    """received -> routed for this phase's rows, from the rows' own timestamps."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP "
            "(ORDER BY extract(epoch FROM routed_at - received_at)) "
            "FROM reviewapp_prediction "
            "WHERE id > %s AND external_id LIKE %s AND routed_at IS NOT NULL",
            [after, prefix + "%"],
        )
        (values,) = cursor.fetchone()
    return dict(zip(("p50", "p95", "p99"), (v * 1000 for v in values or (0, 0, 0)), strict=True))


def wal_counters() -> dict[str, float]:
    """PostgreSQL's WAL syncs (a commit waiting on the disk; one sync can cover many commits
    that group together) and the database's commits so far."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT wal_sync, wal_sync_time, wal_write, wal_write_time FROM pg_stat_wal")
        sync, sync_ms, write, write_ms = cursor.fetchone()
        cursor.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        )
        (commits,) = cursor.fetchone()
    return {
        "syncs": float(sync),
        "sync_ms": float(sync_ms),
        "writes": float(write),
        "write_ms": float(write_ms),
        "commits": float(commits),
    }


def wal_delta(
    before: dict[str, float], after: dict[str, float], seconds: float, requests: int
) -> dict:
    d = {k: after[k] - before[k] for k in before}
    return {
        "commits": d["commits"],
        "syncs": d["syncs"],
        "syncs_per_request": d["syncs"] / requests if requests else 0.0,
        "mean_sync_ms": d["sync_ms"] / d["syncs"] if d["syncs"] else 0.0,
        "sync_busy_share": d["sync_ms"] / 1000 / seconds if seconds else 0.0,
    }


# --- Phases -------------------------------------------------------------------------------------
def envelopes(count: int, prefix: str) -> list[dict]:
    from reviewapp import demo

    return demo.envelopes(count, seed=5, prefix=prefix)


def batch_phase(args, stack: Stack, token: str, prefix: str) -> dict:
    after = newest_id()
    items = envelopes(args.predictions, prefix)
    bodies = [
        json.dumps({"predictions": items[i : i + args.batch_size]}).encode()
        for i in range(0, len(items), args.batch_size)
    ]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    accepted = 0
    lat: list[float] = []

    def post(body: bytes) -> int:
        started = time.perf_counter()
        status, data = request(stack.port, "POST", "/api/v1/predictions/batch", body, headers)
        lat.append(time.perf_counter() - started)
        if status != 200:
            raise RuntimeError(f"batch answered {status}: {data[:300]!r}")
        return sum(r["status"] == "accepted" for r in json.loads(data)["results"])

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.batch_clients) as pool:
        for n in pool.map(post, bodies):
            accepted += n
    accepted_at = time.monotonic()
    routed_at = wait_routed(prefix, accepted, args.timeout, after)
    return {
        "rows": accepted,
        "accept_s": accepted_at - started,
        "routed_s": (routed_at - started) if routed_at else None,
        "request_p50_ms": statistics.median(lat) * 1000,
        "request_max_ms": max(lat) * 1000,
    }


def singles_phase(args, stack: Stack, token: str, prefix: str) -> dict:
    after = newest_id()
    bodies = [json.dumps(e).encode() for e in envelopes(args.singles, prefix)]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    lat: list[float] = []
    errors = 0

    def post(body: bytes) -> None:
        nonlocal errors
        started = time.perf_counter()
        status, _ = request(stack.port, "POST", "/api/v1/predictions", body, headers)
        lat.append(time.perf_counter() - started)
        if status != 202:
            errors += 1

    # Warm every gunicorn worker thread and connection so start-up cost is not measured.
    warm = [json.dumps(e).encode() for e in envelopes(args.concurrency * 2, prefix + "warm-")]
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(post, warm))
    wait_routed(prefix, len(warm), args.timeout, after)
    lat.clear()
    cpu_before, wal_before = cpu_seconds(stack), wal_counters()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
        list(pool.map(post, bodies))
    accepted_at = time.monotonic()
    wal_after = wal_counters()
    routed_at = wait_routed(prefix, len(bodies) + len(warm), args.timeout, after)
    cpu_after = cpu_seconds(stack)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "rows": len(bodies),
        "routed_latency_ms": routed_latency_ms(prefix, after),
        "wal": wal_delta(wal_before, wal_after, accepted_at - started, len(bodies)),
        "errors": errors,
        "accept_s": accepted_at - started,
        "routed_s": (routed_at - started) if routed_at else None,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": max(lat) * 1000,
        "cpu_ms_per_request": {
            k: (cpu_after[k] - cpu_before[k]) * 1000 / len(bodies) for k in cpu_after
        },
    }


def open_loop_phase(args, stack: Stack, token: str, prefix: str) -> dict:
    """Requests at a steady rate whatever the answers do; latency from the scheduled time."""
    after = newest_id()
    count = int(args.open_rate * args.open_seconds)
    bodies = [json.dumps(e).encode() for e in envelopes(count, prefix)]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    lat: list[float] = []
    errors = 0

    def post(body: bytes, scheduled: float) -> None:
        nonlocal errors
        status, _ = request(stack.port, "POST", "/api/v1/predictions", body, headers)
        lat.append(time.perf_counter() - scheduled)
        if status != 202:
            errors += 1

    interval = 1 / args.open_rate
    cpu_before, wal_before = cpu_seconds(stack), wal_counters()
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.open_clients) as pool:
        for i, body in enumerate(bodies):
            scheduled = started + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, body, scheduled)
        # How fast the schedule was kept (a starved load generator shows here), before the
        # pool drains the requests still queued.
        sent_s = time.perf_counter() - started
    wal_after = wal_counters()
    wait_routed(prefix, len(bodies), args.timeout, after)
    cpu_after = cpu_seconds(stack)
    q = statistics.quantiles(lat, n=100, method="inclusive")
    return {
        "rows": len(bodies),
        "offered_per_s": args.open_rate,
        "achieved_per_s": len(bodies) / sent_s,
        "errors": errors,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "max_ms": max(lat) * 1000,
        "routed_latency_ms": routed_latency_ms(prefix, after),
        "wal": wal_delta(wal_before, wal_after, sent_s, len(bodies)),
        "cpu_ms_per_request": {
            k: (cpu_after[k] - cpu_before[k]) * 1000 / len(bodies) for k in cpu_after
        },
    }


def copy_phase(args, prefix: str) -> dict:
    """The physical limit: COPY the same rows into the predictions table, then roll back."""
    import psycopg
    from psycopg.types.json import Jsonb

    from reviewapp.models import MLModel

    models = dict(MLModel.objects.values_list("slug", "pk"))
    items = envelopes(args.predictions, prefix)
    now = dt.datetime.now(dt.UTC)
    receipt = uuid.uuid4()

    def values(e: dict) -> dict:
        """Every column a stored prediction fills, by name; the ones this checkout's table
        lacks are left out (so the same bench runs against an older checkout)."""
        return {
            "model_id": models[e["model"]],
            "external_id": e["external_id"],
            "model_version": e["model_version"],
            "input": Jsonb(e["input"]),
            "output": Jsonb(e["output"]),
            "label": e["output"]["label"],
            "confidence": e["confidence"],
            "signals": Jsonb(e.get("signals") or {}),
            "lineage": Jsonb(e.get("lineage") or {}),
            "occurred_at": now,
            "received_at": now,
            "receipt": receipt,
            "request_id": "",
            "status": "received",
            "enqueued_at": now,
            "reason_codes": Jsonb([]),
            "reason_details": Jsonb({}),
            "policy_hash": "",
            "mode_at_receipt": "normal",
            "routing_mode": "",
        }

    with psycopg.connect(args.database_url) as conn:
        present = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'reviewapp_prediction'"
            )
        }
        columns = [c for c in values(items[0]) if c in present]
        started = time.monotonic()
        with conn.cursor() as cur:
            payload_table = cur.execute(
                "SELECT to_regclass('reviewapp_predictionpayload') IS NOT NULL"
            ).fetchone()[0]
            if not payload_table:
                with cur.copy(
                    f"COPY reviewapp_prediction ({', '.join(columns)}) FROM STDIN"
                ) as copy:
                    for e in items:
                        row = values(e)
                        copy.write_row([row[c] for c in columns])
            else:
                # The payload side table (issue 18): the narrow row, then its payload row, both
                # by COPY, with ids drawn ahead from the sequence (one query) so both name them.
                ids = [
                    pk
                    for (pk,) in cur.execute(
                        "SELECT nextval(pg_get_serial_sequence('reviewapp_prediction', 'id'))"
                        " FROM generate_series(1, %s)",
                        [len(items)],
                    )
                ]
                narrow = ["id", *columns]
                with cur.copy(
                    f"COPY reviewapp_prediction ({', '.join(narrow)}) FROM STDIN"
                ) as copy:
                    for pk, e in zip(ids, items, strict=True):
                        row = {**values(e), "id": pk}
                        copy.write_row([row[c] for c in narrow])
                wide = "prediction_id, received_at, model_id, input, output, signals, lineage"
                with cur.copy(f"COPY reviewapp_predictionpayload ({wide}) FROM STDIN") as copy:
                    for pk, e in zip(ids, items, strict=True):
                        row = values(e)
                        copy.write_row(
                            (
                                pk,
                                now,
                                row["model_id"],
                                row["input"],
                                row["output"],
                                row["signals"],
                                row["lineage"],
                            )
                        )
        elapsed = time.monotonic() - started
        conn.rollback()
    return {"rows": len(items), "seconds": elapsed}


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(args.app_dir.resolve()))
    run = uuid.uuid4().hex[:6]
    var_dir = Path(tempfile.mkdtemp(prefix=f"ingest-{run}-", dir=_log_root()))
    if args.profile_worker:
        Path(args.profile_worker).mkdir(parents=True, exist_ok=True)
    if not args.reuse_db:
        recreate_database(args.database_url)
    stack = Stack(args, var_dir)
    try:
        token = migrate_and_seed(stack)
        flush_broker(args.broker_url)
        stack.start()
        print(f"Logs: {var_dir}")
        print(
            f"Stack: gunicorn {args.web_workers}x{args.web_threads} threads on 127.0.0.1:"
            f"{stack.port}, 1 Celery worker (concurrency {args.worker_concurrency}), "
            f"PostgreSQL {urlsplit(args.database_url).path}, Redis {args.broker_url}"
        )
        batch = batch_phase(args, stack, token, f"b{run}-")
        singles = None if args.skip_singles else singles_phase(args, stack, token, f"s{run}-")
        opened = None if args.skip_open else open_loop_phase(args, stack, token, f"o{run}-")
        copy = copy_phase(args, f"c{run}-")
    finally:
        stack.stop()
    report(args, batch, singles, opened, copy)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "app_dir": str(args.app_dir),
                    "batch": batch,
                    "singles": singles,
                    "open": opened,
                    "copy": copy,
                    "batch_routed_per_copy": (batch["rows"] / batch["routed_s"])
                    / (copy["rows"] / copy["seconds"])
                    if batch["routed_s"]
                    else 0.0,
                },
                indent=1,
            )
        )


def report(args, batch: dict, singles: dict | None, opened: dict | None, copy: dict) -> None:
    copy_rate = copy["rows"] / copy["seconds"]
    print()
    print(
        f"Batch ingest: {batch['rows']:,} predictions, {args.batch_size} per request, "
        f"{args.batch_clients} clients"
    )
    print(
        f"  accepted/s            {batch['rows'] / batch['accept_s']:>10,.0f}   "
        f"({batch['accept_s']:.2f} s; per request p50 {batch['request_p50_ms']:.0f} ms, "
        f"max {batch['request_max_ms']:.0f} ms)"
    )
    if batch["routed_s"]:
        routed_rate = batch["rows"] / batch["routed_s"]
        print(
            f"  routed/s end to end   {routed_rate:>10,.0f}   ({batch['routed_s']:.2f} s "
            f"until the last one was routed)   target >= 4,000"
        )
    else:
        routed_rate = 0.0
        print(f"  routed/s end to end   not all routed within {args.timeout:.0f} s")
    if singles:
        print(
            f"Single requests: {singles['rows']:,} requests, {args.concurrency} clients "
            f"({singles['errors']} not 202)"
        )
        print(f"  accepted/s            {singles['rows'] / singles['accept_s']:>10,.0f}")
        if singles["routed_s"]:
            print(f"  routed/s end to end   {singles['rows'] / singles['routed_s']:>10,.0f}")
        print(
            f"  latency p50/p95/p99   {singles['p50_ms']:.1f} / {singles['p95_ms']:.1f} / "
            f"{singles['p99_ms']:.1f} ms (max {singles['max_ms']:.0f} ms)   target p99 <= 50 ms"
        )
        report_tail(singles)
    if opened:
        print(
            f"Single requests, open loop: {opened['offered_per_s']:.0f}/s offered for "
            f"{args.open_seconds:.0f} s ({opened['achieved_per_s']:.0f}/s sent, "
            f"{opened['errors']} not 202)"
        )
        print(
            f"  latency p50/p95/p99   {opened['p50_ms']:.1f} / {opened['p95_ms']:.1f} / "
            f"{opened['p99_ms']:.1f} ms from the scheduled send (max {opened['max_ms']:.0f} ms)"
            "   target p99 <= 50 ms"
        )
        report_tail(opened)
    print(f"Raw COPY of the same {copy['rows']:,} rows (rolled back)")
    print(f"  rows/s                {copy_rate:>10,.0f}")
    print(f"  batch routed / COPY   {routed_rate / copy_rate:>10.1%}")


def report_tail(phase: dict) -> None:
    routed = phase["routed_latency_ms"]
    print(
        f"  received -> routed    p50 {routed['p50']:.0f} / p95 {routed['p95']:.0f} / "
        f"p99 {routed['p99']:.0f} ms"
    )
    cpu = phase["cpu_ms_per_request"]
    print(
        f"  CPU per request       {sum(cpu.values()):.1f} ms on {os.cpu_count()} cores: "
        + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
    )
    wal = phase["wal"]
    print(
        f"  commits and the disk  {wal['syncs']:.0f} WAL syncs ({wal['syncs_per_request']:.2f} "
        f"per request: the others' commits rode on a neighbour's sync), mean "
        f"{wal['mean_sync_ms']:.2f} ms; the disk was syncing {wal['sync_busy_share']:.0%} of "
        "the time"
    )


if __name__ == "__main__":
    main()
