"""Real processes for pipeline and fault tests: Celery workers (optionally with beat) and a
private redis-server, all pointed at the pytest-django test database.

Everything started here runs in its own session (process group) so that a SIGKILL reaches the
prefork children too, and every fixture kills what it started in its finalizer.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection
from kombu import pools as kombu_pools

BASE_DIR = Path(__file__).resolve().parent.parent
QUEUES = "ingest,routing,delivery,monitors,maintenance,default"


# --- Small helpers ------------------------------------------------------------------------------
def wait_until(
    predicate: Callable[[], Any], *, timeout: float, interval: float = 0.2, message: str = ""
) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {timeout:.0f} s: {message or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """A DATABASE_URL naming the database this test run uses (the test database, not the real one)."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(conf["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("Worker tests need a file-backed SQLite test database.")
        return f"sqlite:///{Path(name).resolve()}"
    if connection.vendor == "postgresql":
        user = quote(conf.get("USER") or "", safe="")
        password = quote(conf.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = conf.get("HOST") or "127.0.0.1"
        port = f":{conf['PORT']}" if conf.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(conf['NAME'], safe='')}"
    raise RuntimeError(f"No worker support for database vendor {connection.vendor!r}.")


def routed_counts() -> collections.Counter[int]:
    """How many `prediction.routed` audit events name each prediction id (exactly once = 1)."""
    from reviewapp.core.models import AuditEvent

    counts: collections.Counter[int] = collections.Counter()
    for data in AuditEvent.objects.filter(verb="queue.prediction.routed").values_list(
        "data", flat=True
    ):
        counts.update(data.get("to_review", []))
        counts.update(data.get("passed", []))
    return counts


def audit_subject_counts(
    verb: str, target_type: str = "reviewapp.prediction"
) -> collections.Counter[int]:
    """How many ``verb`` events name each subject through core's subject rows (not the
    events' data, whose shape a service may change)."""
    from reviewapp.core.models import AuditSubject

    rows = AuditSubject.objects.filter(event__verb=verb, target_type=target_type)
    return collections.Counter(int(pk) for pk in rows.values_list("target_id", flat=True))


def received_count(ids: list[int] | None = None) -> int:
    from reviewapp.models import Prediction

    qs = Prediction.objects.filter(status=Prediction.Status.RECEIVED)
    if ids is not None:
        qs = qs.filter(id__in=ids)
    return qs.count()


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen, *, grace: float = 3.0) -> None:
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    # Children of a warm-shut-down or killed parent may linger: make sure the group is gone.
    _kill_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


# --- Broker -------------------------------------------------------------------------------------
def current_broker_url() -> str:
    from reviewapp.celery import app

    return app.conf.broker_url or settings.CELERY_BROKER_URL


def purge_broker() -> None:
    """Drop messages a previous test left behind (they name rows of a flushed database)."""
    from reviewapp.celery import app

    if current_broker_url().startswith("filesystem"):
        folder = Path(app.conf.broker_transport_options["data_folder_in"])
        for path in folder.glob("*.msg"):
            path.unlink(missing_ok=True)
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        channel = conn.default_channel
        for queue in QUEUES.split(","):
            channel.queue_purge(queue)


def reset_broker_breaker() -> None:
    """Forget a broker failure an earlier test made this process remember."""
    from reviewapp.services import ingest

    ingest._broker_down_until = 0.0


def point_celery_at(broker_url: str) -> Callable[[], None]:
    """Make this process publish to ``broker_url``; returns a function that undoes it."""
    from reviewapp.celery import app

    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset_pools() -> None:
        # kombu keeps its pools in global registries keyed by connection: clear those too.
        kombu_pools.reset()
        app._pool = None
        app.amqp._producer_pool = None

    reset_pools()
    app.conf.broker_url = broker_url
    app.conf.broker_transport_options = {
        "visibility_timeout": 3600,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }

    def restore() -> None:
        reset_pools()
        reset_broker_breaker()
        app.conf.broker_url, app.conf.broker_transport_options = saved

    return restore


# --- Celery worker ------------------------------------------------------------------------------
# Celery's INFO lines about one task: "Task <name>[<id>] received", then "... succeeded in",
# "... retry:", "... raised unexpected:" and so on once the pool is done with it.
TASK_LINE = re.compile(r"Task [\w.]+\[([0-9a-f-]{36})\] (\w+)")


class WorkerProcess:
    """One `celery -A reviewapp worker` (with `-B` when ``beat``) on the test database."""

    def __init__(
        self,
        *,
        log_dir: Path,
        broker_url: str,
        beat: bool = False,
        concurrency: int = 2,
        sweep_after: float = 600,
        sweep_interval: float = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = f"w{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"{self.name}.log"
        self.beat = beat
        self.proc: subprocess.Popen | None = None
        self._log_offset = 0  # where this start's lines begin (start() may run again)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "reviewapp.settings_test",
            "FAILSAFE_VAR_DIR": str(settings.VAR_DIR),
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "INGEST_SWEEP_AFTER_SECONDS": str(int(sweep_after)),
            "INGEST_SWEEP_INTERVAL_SECONDS": str(sweep_interval),
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": "INFO",
            **(env or {}),
        }
        # The worker must use the database named above, whatever this run's test name is.
        self.env.pop("TEST_DATABASE_NAME", None)
        self.args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reviewapp",
            "worker",
            "--loglevel",
            "INFO",
            "--queues",
            QUEUES,
            "--concurrency",
            str(concurrency),
            "--hostname",
            f"{self.name}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if beat:
            self.args += ["--beat", "--schedule", str(log_dir / f"{self.name}-beat-schedule")]

    def start(self) -> WorkerProcess:
        """Start the process; again after kill() it restarts with the same name and log."""
        log = self.log_path.open("ab")
        self._log_offset = log.tell()
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            self.args,
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    def log(self, tail: int | None = 60) -> str:
        """The last ``tail`` lines of the worker's log (all of it with None)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines if tail is None else lines[-tail:])

    def _log_since_start(self) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def task_lines(self, *, since_start: bool = True) -> list[tuple[str, str]]:
        """(task id, word) of each of Celery's lines about a task in this worker's log: the
        word is ``received``, then ``succeeded``, ``retry``, ``raised``... once it is done."""
        if since_start:
            return TASK_LINE.findall(self._log_since_start())
        return TASK_LINE.findall(self.log(tail=None))

    def tasks_in_flight(self) -> set[str]:
        """Ids of tasks this start of the worker received and has not finished (by its log)."""
        received, finished = set(), set()
        for task_id, word in self.task_lines():
            (received if word == "received" else finished).add(task_id)
        return received - finished

    def is_alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30) -> None:
        def ready() -> bool:
            if not self.is_alive():
                pytest.fail(f"Worker exited early:\n{self.log()}")
            return " ready." in self._log_since_start()

        wait_until(ready, timeout=timeout, interval=0.1, message=f"worker ready\n{self.log()}")

    def kill(self) -> None:
        """kill -9 the worker and its pool children at once."""
        if self.proc is not None:
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)


@pytest.fixture
def start_worker(transactional_db, tmp_path) -> Iterator[Callable[..., WorkerProcess]]:
    """Factory: ``start_worker(beat=True, sweep_after=2)`` starts a worker on the test database.

    Uses the broker this process publishes to (CELERY_BROKER_URL, else the filesystem transport
    under VAR_DIR, or whatever ``point_celery_at`` set). Every worker is killed at teardown,
    before pytest-django flushes the database.
    """
    workers: list[WorkerProcess] = []
    purge_broker()
    reset_broker_breaker()

    def start(**kwargs: Any) -> WorkerProcess:
        kwargs.setdefault("broker_url", current_broker_url())
        worker = WorkerProcess(log_dir=tmp_path, **kwargs).start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


# --- Private redis-server -----------------------------------------------------------------------
class RedisServer:
    """A throwaway redis-server on 127.0.0.1 with no persistence: a restart loses every message."""

    def __init__(self, *, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.dir = log_dir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(  # noqa: S603 - fixed argv
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self.answers, timeout=timeout, interval=0.05, message="redis-server up")
        return self

    def answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """Stop abruptly (SIGKILL): queued messages are lost, like a crashed broker."""
        if self.proc is not None:
            _kill_group(self.proc, signal.SIGKILL)
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, grace=3)
            self.proc = None


@pytest.fixture
def redis_server(tmp_path) -> Iterator[RedisServer]:
    server = RedisServer(log_dir=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_broker(redis_server) -> Iterator[RedisServer]:
    """This process and the workers it starts publish to a private redis-server."""
    restore = point_celery_at(redis_server.url)
    yield redis_server
    restore()
