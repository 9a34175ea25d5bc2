"""Review-queue benchmark (prints figures; not a test).

With 1,000,000 pending review items on PostgreSQL (bulk-generated with INSERT … SELECT
generate_series into a dedicated database), 8 reviewers claim and decide concurrently over
HTTP against a gunicorn server on 127.0.0.1. Reports claim p50/p99 (POST /queue/next/),
decisions per second, and p95 render time of the queue and review pages.

    DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/failsafe_bench_claim \\
        .venv/bin/python bench/claim.py [--items 1000000] [--seconds 60] [--reviewers 8]

The database named in DATABASE_URL is dropped and re-created: never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

from bench_env import PRODUCTION_SECRETS, recreate_database, wide_create, wide_split

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres:postgres@127.0.0.1:5432/failsafe_bench_claim"
PASSWORD = "bench-password-1"  # noqa: S105 - throwaway users in a throwaway database


# (start, what, seconds) of every timed request and recount, for --trace.
EVENTS: list[tuple[float, str, float]] = []


def timed(what: str, started: float) -> float:
    took = time.perf_counter() - started
    EVENTS.append((started, what, took))
    return took


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(url: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "SECRET_KEY": "bench-only-secret",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "FAILSAFE_VAR_DIR": str(var_dir),
            "STATIC_ROOT": str(var_dir / "static"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings",
            **PRODUCTION_SECRETS,
        }
    )
    return env


def generate(n_items: int, n_decided: int, reviewers: int) -> dict:
    """Models, policies, users and pools through the ORM; the million rows in SQL."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import connection

    from reviewapp import demo
    from reviewapp.core.audit import Actor
    from reviewapp.governance.services import policy_version_create
    from reviewapp.models import MLModel, PoolMembership

    actor = Actor.system("bench")
    models = []
    for spec in demo.DEMO_MODELS:
        m = MLModel.objects.create(
            **{k: spec[k] for k in ("slug", "name", "owner_team", "criticality", "labels")}
        )
        policy_version_create(
            model_slug=m.slug, rules=spec["rules"], labels=m.labels, activate=True, actor=actor
        )
        models.append(m)
    User = get_user_model()
    group = Group.objects.get(name="reviewer")
    users = []
    for i in range(reviewers):
        u = User.objects.create_user(f"bench{i}", password=PASSWORD)
        u.groups.add(group)
        for m in models:
            PoolMembership.objects.create(model=m, user=u)
        users.append(u)
    lead = User.objects.create_user("bench-lead", password=PASSWORD)
    lead.groups.add(Group.objects.get(name="lead"))
    model_ids = [m.pk for m in models]
    total = n_items + n_decided
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        wide_create(cur)
        cur.execute(
            """
            INSERT INTO bench_wide_prediction (model_id, external_id, model_version, input, output,
              label, confidence, signals, lineage, occurred_at, received_at, receipt, status,
              routed, reason_codes, reason_details, threshold, policy_version_id, policy_hash,
              fallback, routed_at, mode_at_receipt, routing_mode)
            SELECT m.id, 'b-' || g, '1.0',
              jsonb_build_object('amount', round((random() * 900)::numeric, 2), 'country', 'NL',
                                 'merchant_category', '5411', 'txn_count_24h', g %% 30),
              jsonb_build_object('label', m.labels->>0),
              m.labels->>0, 0.40 + (g %% 400) / 1000.0,
              jsonb_build_object('ood_score', (g %% 100) / 100.0,
                                 'attributions', jsonb_build_object('amount', 0.3, 'country', 0.1)),
              jsonb_build_object('dataset', 'bench', 'pipeline_run', 'run-' || (g %% 7)),
              now() - interval '1 hour', now() - interval '1 hour', gen_random_uuid(),
              CASE WHEN g <= %(decided)s THEN 'decided' ELSE 'in_review' END,
              true, '["low_confidence"]'::jsonb,
              jsonb_build_object('threshold', 0.8, 'confidence', 0.40 + (g %% 400) / 1000.0),
              0.8, p.id, p.rules_hash, '{"action": "hold"}'::jsonb, now() - interval '1 hour',
              'normal', 'normal'
            FROM generate_series(1, %(total)s) AS g
            JOIN reviewapp_mlmodel m ON m.id = (%(ids)s)[1 + g %% %(nm)s]
            JOIN governance_policyversion p ON p.model_slug = m.slug AND p.is_active
            """,
            {"total": total, "decided": n_decided, "ids": model_ids, "nm": len(model_ids)},
        )
        wide_split(cur)
        cur.execute(
            """
            INSERT INTO reviewapp_reviewitem (prediction_id, model_id, status, priority, sla_due_at,
              created_at, updated_at, decided_at, claim_generation, defer_count, purpose)
            SELECT p.id, p.model_id, CASE WHEN p.status = 'decided' THEN 'decided' ELSE 'pending' END,
              (p.id * 7919) %% 100, now() + ((p.id * 104729) %% 2880) * interval '1 minute',
              p.received_at, p.received_at,
              CASE WHEN p.status = 'decided' THEN now() - interval '30 minutes' END, 1, 0, 'routed'
            FROM reviewapp_prediction p
            """.replace("%%", "%"),
        )
        cur.execute(
            """
            INSERT INTO reviewapp_decision (item_id, prediction_id, model_id, reviewer_id, action,
              predicted_label, final_label, reason, note, failure_mode_tags, model_confidence,
              decided_at, deliver_after)
            SELECT i.id, p.id, p.model_id, %(reviewer)s,
              CASE WHEN i.id %% 5 = 0 THEN 'override' ELSE 'accept' END,
              p.label, p.label, '', '', '[]'::jsonb, p.confidence,
              now() - interval '30 minutes', now() - interval '30 minutes'
            FROM reviewapp_reviewitem i JOIN reviewapp_prediction p ON p.id = i.prediction_id
            WHERE i.status = 'decided'
            """,
            {"reviewer": users[0].pk},
        )
        cur.execute("ANALYZE")
    generated = time.perf_counter() - t0
    # The worker keeps the dashboard rollups folded as rows arrive; here, fold them once.
    from reviewapp.dashboards.services import rollups_fold

    t1 = time.perf_counter()
    while not rollups_fold(batch_size=20_000, max_batches=50).caught_up:
        pass
    return {
        "generate_seconds": generated,
        "fold_seconds": time.perf_counter() - t1,
        "users": [u.username for u in users],
    }


def prewarm() -> None:
    """Read the tables and indexes into PostgreSQL's buffers: a run measures the steady state
    of a server that has been up, not the first minute after a restart (when every random
    read of a million-row table goes to disk)."""
    from django.db import DatabaseError, connection

    t = time.perf_counter()
    try:
        with connection.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            cur.execute(
                """
                SELECT coalesce(sum(pg_prewarm(c.oid)), 0) FROM pg_class c
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')
                """
            )
            blocks = cur.fetchone()[0]
    except DatabaseError as exc:  # no postgresql-contrib, or no right to create extensions
        print(f"not prewarmed ({exc}); the first minutes may read from disk")
        return
    print(f"prewarmed {blocks * 8 / 1024:,.0f} MB in {time.perf_counter() - t:.1f} s")


class DashboardViewer(threading.Thread):
    """A lead who keeps the dashboards open: the overview and each model page, in turn."""

    def __init__(self, base: str, slugs: list[str], deadline: float, pause: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.base, self.slugs, self.deadline, self.pause = base, slugs, deadline, pause
        self.logged_in, self.go = threading.Event(), threading.Event()
        self.go.set()  # a measured run clears it and starts everyone at once after login
        self.overview: list[float] = []
        self.model_pages: list[float] = []
        self.errors: list[str] = []

    def run(self) -> None:
        import requests

        s = requests.Session()
        s.get(f"{self.base}/accounts/login/")
        s.post(
            f"{self.base}/accounts/login/",
            data={"username": "bench-lead", "password": PASSWORD},
            headers={"X-CSRFToken": s.cookies.get("csrftoken", "")},
            allow_redirects=False,
        )
        self.logged_in.set()
        self.go.wait()
        paths = ["/dashboards/"] + [f"/dashboards/models/{slug}/" for slug in self.slugs]
        n = 0
        while time.perf_counter() < self.deadline:
            path = paths[n % len(paths)]
            n += 1
            t = time.perf_counter()
            r = s.get(f"{self.base}{path}")
            took = timed(path, t)
            (self.overview if path == "/dashboards/" else self.model_pages).append(took)
            if r.status_code != 200:
                self.errors.append(f"{path} {r.status_code}")
            time.sleep(self.pause)


class Reviewer(threading.Thread):
    def __init__(
        self,
        base: str,
        username: str,
        deadline: float,
        max_decisions: int,
        think: float = 0.0,
        queue_only: bool = False,
        offset: float = 0.0,
    ) -> None:
        super().__init__(daemon=True)
        self.base, self.username, self.deadline, self.max = base, username, deadline, max_decisions
        self.think = think
        self.offset = offset
        self.logged_in, self.go = threading.Event(), threading.Event()
        self.go.set()
        self.queue_only = queue_only
        self.claims: list[float] = []
        self.reviews: list[float] = []
        self.decides: list[float] = []
        self.queues: list[float] = []
        self.errors: list[str] = []
        self.decided = 0

    def run(self) -> None:
        import requests

        s = requests.Session()
        s.get(f"{self.base}/accounts/login/")
        r = s.post(
            f"{self.base}/accounts/login/",
            data={"username": self.username, "password": PASSWORD},
            headers={"X-CSRFToken": s.cookies.get("csrftoken", "")},
            allow_redirects=False,
        )
        if r.status_code != 302:
            self.errors.append(f"login {r.status_code}")
            self.logged_in.set()
            return
        csrf = {"X-CSRFToken": s.cookies.get("csrftoken", "")}
        # Logging in hashes a password (~0.3 s of CPU): done before the clock starts.
        self.logged_in.set()
        self.go.wait()
        while self.queue_only and time.perf_counter() < self.deadline:
            s.get(f"{self.base}/queue/")
        # Reviewers do not all press "Start reviewing" in the same millisecond.
        time.sleep(self.offset)
        n = 0
        while time.perf_counter() < self.deadline and self.decided < self.max:
            n += 1
            if n % 5 == 1:
                t = time.perf_counter()
                r = s.get(f"{self.base}/queue/")
                self.queues.append(timed("queue page", t))
                if r.status_code != 200:
                    self.errors.append(f"queue {r.status_code}")
            t = time.perf_counter()
            r = s.post(f"{self.base}/queue/next/", headers=csrf, allow_redirects=False)
            self.claims.append(timed("claim", t))
            location = r.headers.get("Location", "")
            m = re.search(r"/queue/items/(\d+)/review/", location)
            if r.status_code != 302 or not m:
                self.errors.append(f"claim {r.status_code} {location}")
                continue
            item_id = m.group(1)
            time.sleep(self.think / 2)
            t = time.perf_counter()
            r = s.get(f"{self.base}/queue/items/{item_id}/review/")
            self.reviews.append(timed("review page", t))
            g = re.search(r'name="generation" value="(\d+)"', r.text)
            if r.status_code != 200 or not g:
                self.errors.append(f"review {r.status_code}")
                continue
            time.sleep(self.think / 2)  # the reviewer reads the item
            t = time.perf_counter()
            r = s.post(
                f"{self.base}/queue/items/{item_id}/decide/",
                data={"action": "accept", "generation": g.group(1), "next": "0"},
                headers=csrf,
                allow_redirects=False,
            )
            self.decides.append(timed("decide", t))
            if r.status_code == 302:
                self.decided += 1
            else:
                self.errors.append(f"decide {r.status_code}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--decided", type=int, default=20_000, help="past decisions for 'similar'")
    ap.add_argument("--reviewers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-decisions", type=int, default=2000, help="per reviewer")
    ap.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    ap.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    ap.add_argument("--keep", action="store_true", help="reuse the generated database")
    ap.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds each reviewer spends per item (0 = saturate the server)",
    )
    ap.add_argument(
        "--trace",
        action="store_true",
        help="list every request over 100 ms and every recount, by time into the run",
    )
    args = ap.parse_args()

    url = os.environ.get("DATABASE_URL", DEFAULT_URL)
    var_dir = Path(os.environ.get("BENCH_VAR_DIR", "/tmp/failsafe-bench-claim"))
    var_dir.mkdir(parents=True, exist_ok=True)
    env = env_for(url, var_dir)
    os.environ.update(env)
    py = sys.executable
    if not args.keep:
        recreate_database(url)
    subprocess.run([py, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    if not args.keep:
        info = generate(args.items, args.decided, args.reviewers)
        print(
            f"generated {args.items:,} pending + {args.decided:,} decided items in "
            f"{info['generate_seconds']:.1f} s; rollups folded in {info['fold_seconds']:.1f} s"
        )
    else:
        info = {"users": [f"bench{i}" for i in range(args.reviewers)]}
    shutil.rmtree(var_dir / "static", ignore_errors=True)
    subprocess.run(
        [py, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )

    import django

    django.setup()
    prewarm()
    # The uncached cost of the queue's filter counts (cached REVIEW_COUNTS_CACHE_SECONDS per process).
    from django.utils import timezone

    from reviewapp.selectors.queue import count_rows

    t = time.perf_counter()
    count_rows(timezone.now())
    counts_ms = (time.perf_counter() - t) * 1000

    port = free_port()
    stop = threading.Event()
    server = subprocess.Popen(
        [
            str(Path(py).parent / "gunicorn"),
            "reviewapp.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        import requests

        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        # Beat's job in production: keep the queue-count snapshot fresh (every 15 s).
        from reviewapp.models import QueueCountSnapshot
        from reviewapp.services.sweeps import queue_counts_refresh

        def beat() -> None:
            while not stop.is_set():
                t = time.perf_counter()
                before = QueueCountSnapshot.objects.filter(pk=1).values("computed_at").first()
                after = queue_counts_refresh(only_if_due=True)
                if before is None or after.computed_at != before["computed_at"]:
                    timed("RECOUNT (beat)", t)
                stop.wait(15)

        threading.Thread(target=beat, daemon=True).start()
        # Warm each worker (imports, first connection) outside the measurement.
        warm = [Reviewer(base, u, time.perf_counter() + 8, 3) for u in info["users"]]
        for th in warm:
            th.start()
        for th in warm:
            th.join()
        # ...and make every worker render each page once (template compilation, first
        # queries), from as many parallel sessions as there are workers.
        from reviewapp import demo

        slugs = [m["slug"] for m in demo.DEMO_MODELS]
        page_warmers = [
            DashboardViewer(base, slugs, time.perf_counter() + 6, pause=0.0)
            for _ in range(args.workers)
        ]
        queue_warmers = [
            Reviewer(base, u, time.perf_counter() + 6, 0, queue_only=True)
            for u in info["users"][: args.workers]
        ]
        for th in [*page_warmers, *queue_warmers]:
            th.start()
        for th in [*page_warmers, *queue_warmers]:
            th.join()
        deadline = time.perf_counter() + args.seconds  # reset once everyone is logged in
        threads = [
            Reviewer(
                base,
                u,
                deadline,
                args.max_decisions,
                args.think,
                offset=i * args.think / len(info["users"]),
            )
            for i, u in enumerate(info["users"])
        ]
        viewer = DashboardViewer(base, [m["slug"] for m in demo.DEMO_MODELS], deadline)
        for th in [*threads, viewer]:
            th.go.clear()
            th.start()
        for th in [*threads, viewer]:
            th.logged_in.wait()
        start = time.perf_counter()
        for th in [*threads, viewer]:
            th.deadline = start + args.seconds
            th.go.set()
        for th in [*threads, viewer]:
            th.join()
        elapsed = time.perf_counter() - start
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=20)

    claims = [x for th in threads for x in th.claims]
    reviews = [x for th in threads for x in th.reviews]
    decides = [x for th in threads for x in th.decides]
    queues = [x for th in threads for x in th.queues]
    decided = sum(th.decided for th in threads)
    errors = [e for th in threads for e in th.errors]
    ms = 1000
    print(
        f"database: {urlparse(url).path.lstrip('/')}  pending items: {args.items:,}  "
        f"reviewers: {args.reviewers}  think: {args.think} s  "
        f"gunicorn: {args.workers} workers x {args.threads} threads  "
        f"run: {elapsed:.1f} s  load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"claim (POST /queue/next/)   n={len(claims):5d}  p50 {pct(claims, 50) * ms:6.1f} ms  p99 {pct(claims, 99) * ms:6.1f} ms"
    )
    print(
        f"decide (POST …/decide/)     n={len(decides):5d}  p50 {pct(decides, 50) * ms:6.1f} ms  p99 {pct(decides, 99) * ms:6.1f} ms"
    )
    print(
        f"review page (GET)           n={len(reviews):5d}  p50 {pct(reviews, 50) * ms:6.1f} ms  p95 {pct(reviews, 95) * ms:6.1f} ms"
    )
    print(
        f"queue page (GET /queue/)    n={len(queues):5d}  p50 {pct(queues, 50) * ms:6.1f} ms  p95 {pct(queues, 95) * ms:6.1f} ms"
    )
    ov, mp = viewer.overview, viewer.model_pages
    print(
        f"dashboard overview (GET)    n={len(ov):5d}  p50 {pct(ov, 50) * ms:6.1f} ms  p95 {pct(ov, 95) * ms:6.1f} ms"
    )
    print(
        f"dashboard model page (GET)  n={len(mp):5d}  p50 {pct(mp, 50) * ms:6.1f} ms  p95 {pct(mp, 95) * ms:6.1f} ms"
    )
    errors += viewer.errors
    print(f"decisions/s                 {decided / elapsed:.1f}  ({decided} decisions)")
    print(f"queue counts (beat's job)   {counts_ms:.0f} ms per recount")
    print(f"errors                      {len(errors)} {errors[:5]}")
    if claims:
        print(f"mean claim {statistics.mean(claims) * ms:.1f} ms")
    if args.trace:
        print("slow requests (> 100 ms) and recounts, seconds into the run:")
        for t, what, took in sorted(EVENTS):
            if t >= start and (took > 0.1 or what.startswith("RECOUNT")):
                print(f"  {t - start:7.2f} s  {what:40s} {took * ms:7.1f} ms")


if __name__ == "__main__":
    main()
