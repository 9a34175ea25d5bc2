"""``make run``'s last word: once the web process answers ``/healthz``, print the demo's
sign-in details in a box, after the worker's and beat's start-up logs, so they do not scroll
away; then stay quiet until Ctrl-C (honcho stops every process when one exits)."""

from __future__ import annotations

import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Wait until the app answers /healthz, print the demo credentials once, then wait."

    def add_arguments(self, parser):
        parser.add_argument("--url", required=True, help="The /healthz address to wait for.")
        parser.add_argument("--timeout", type=float, default=120.0)

    def handle(self, *args: Any, url: str, timeout: float, **options: Any) -> None:
        # Ctrl-C reaches every process of the group and honcho then sends SIGTERM: leave
        # without a traceback either way.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: sys.exit(0))
        deadline = time.monotonic() + timeout
        while not self._healthy(url):
            if time.monotonic() > deadline:
                self.stdout.write(f"{url} did not answer within {timeout:.0f} s; see the web log.")
                break
            time.sleep(0.5)
        else:
            self.stdout.write(self.box())
        self.stdout.flush()
        while True:
            signal.pause()

    @staticmethod
    def _healthy(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def box() -> str:
        path = Path(settings.VAR_DIR) / "demo-credentials.txt"
        try:
            lines = path.read_text().splitlines()
        except OSError:
            lines = []
        lines = [
            *lines,
            "",
            f"These lines are kept in {path}",
            "Ctrl-C stops everything.",
        ]
        width = max(len(line) for line in lines)
        rule = "+" + "-" * (width + 2) + "+"
        body = [f"| {line.ljust(width)} |" for line in lines]
        return "\n".join([rule, *body, rule])
