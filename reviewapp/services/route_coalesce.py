"""Coalesced routing announcements: at most one "route model X" message per window per process.

A model service sending one prediction per request would otherwise cost a Celery message per
prediction (publish, fetch, ack: most of the worker's time per prediction). Instead the first
commit for a model in a process publishes at once and opens a window; commits inside the window
only note their ids, and when the window closes one trailing message covers them all, so a row
committed in a suppressed window is never left for the sweeper. The routing task takes every
`received` row of the model (SKIP LOCKED, in chunks), so one message routes whatever arrived.

Thread-safe (gunicorn's threads share one instance) and fork-aware (a child process starts with
an empty state and its own timer thread). Written here rather than taken from a library: no
Celery or kombu feature debounces publishes across requests, and the rule is a few lines.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# publish(model_id, prediction ids, deferred=...) -> True when the broker took the message;
# ``deferred`` is true on the coalescer's own thread (the trailing publish).
Publish = Callable[..., bool]


class RouteCoalescer:
    def __init__(self, publish: Publish, *, window_seconds: float) -> None:
        self.publish = publish
        self.window = window_seconds
        self._reset()
        atexit.register(self.flush)

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closes: dict[int, float] = {}  # model id -> when its open window closes
        self._pending: dict[int, list[int]] = {}  # model id -> ids committed inside it
        self._thread: threading.Thread | None = None

    def announce(self, model_id: int, ids: list[int]) -> bool:
        """Say these rows of this model were committed. Publishes now, or at the window's end.

        Returns False only when a publish made now failed (the caller's rows then wait for the
        sweeper); a deferred announcement returns True.
        """
        if self._pid != os.getpid():
            self._reset()
        now = time.monotonic()
        with self._lock:
            closes = self._closes.get(model_id, 0.0)
            if now < closes:
                self._pending.setdefault(model_id, []).extend(ids)
                self._start_timer()
                self._wake.notify()
                return True
            self._closes[model_id] = now + self.window
        return self.publish(model_id, ids, deferred=False)

    def flush(self) -> None:
        """Publish every pending announcement now (at exit, and in tests)."""
        with self._lock:
            due, self._pending = self._pending, {}
        for model_id, ids in due.items():
            self.publish(model_id, ids, deferred=False)

    def discard(self) -> None:
        """Forget open windows and pending announcements (tests start each case afresh)."""
        with self._lock:
            self._pending.clear()
            self._closes.clear()

    def _start_timer(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="failsafe-route-coalescer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while True:
                    now = time.monotonic()
                    due = [m for m in self._pending if self._closes.get(m, 0.0) <= now]
                    if due:
                        break
                    if not self._pending:
                        self._wake.wait()
                        continue
                    self._wake.wait(min(self._closes[m] for m in self._pending) - now)
                batch = {m: self._pending.pop(m) for m in due}
                # The trailing publish opens the next window: under steady load a process
                # publishes once per window per model.
                for model_id in due:
                    self._closes[model_id] = now + self.window
            for model_id, ids in batch.items():
                try:
                    self.publish(model_id, ids, deferred=True)
                except Exception:  # the thread must survive; the rows wait for the sweeper
                    logger.exception("Trailing routing publish for model %s failed.", model_id)
