"""Checkpoints of the audit chain, kept where the database owner cannot rewrite them.

After every sealing run that sealed something, the sealer (beat's ``failsafe.seal_audit`` and
``manage.py seal_audit``, nobody else) writes one checkpoint: the head seal's sequence number
and hash, the key id, the time and the host. Sinks:

- an append-only JSON-lines file (``AUDIT_CHECKPOINT_FILE``, by default
  ``var/audit-checkpoints.jsonl``), opened with ``O_APPEND`` for every write;
- the application log (logger ``reviewapp.core.checkpoints``), which usually leaves the host;
- optionally ``AUDIT_CHECKPOINT_URL``: a POST of the same JSON to another system. A failure
  there is logged, never fatal: the seal is already committed.

Each checkpoint carries a MAC under the chain key it names, so a line someone appended by
hand (to make a rewritten chain look anchored) is refused by verification. The file is only
as safe as the host it lives on: a deployment on several hosts has one ``var/`` per host and
should send checkpoints to one sink outside all of them (the URL, or a shipped log).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

_FIELDS = ("seq", "hash", "key_id", "at", "sealed", "host")


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    key_id: str
    at: str  # ISO 8601, UTC
    sealed: int = 0  # events this run sealed
    host: str = ""
    mac: str = ""

    @property
    def at_datetime(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromisoformat(self.at)
        except ValueError:
            return None

    def payload(self) -> bytes:
        body = {name: getattr(self, name) for name in _FIELDS}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def expected_mac(self) -> str | None:
        key = settings.AUDIT_CHAIN_KEYS.get(self.key_id)
        if key is None:
            return None
        return hmac.new(key, self.payload(), hashlib.sha256).hexdigest()

    def signed(self) -> Checkpoint:
        return Checkpoint(**{**asdict(self), "mac": self.expected_mac() or ""})

    def mac_ok(self) -> bool:
        expected = self.expected_mac()
        return expected is not None and hmac.compare_digest(expected, self.mac)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def checkpoint_make(*, seq: int, head_hash: str, key_id: str, sealed: int) -> Checkpoint:
    now = dt.datetime.now(dt.UTC).isoformat()
    return Checkpoint(
        seq=seq, hash=head_hash, key_id=key_id, at=now, sealed=sealed, host=socket.gethostname()
    ).signed()


def checkpoint_write(checkpoint: Checkpoint) -> None:
    """Send ``checkpoint`` to every configured sink. Call after the seal committed."""
    line = checkpoint.to_json()
    logger.info("audit checkpoint %s", line)
    path = settings.AUDIT_CHECKPOINT_FILE
    if path:
        try:
            _append_line(Path(path), line)
        except OSError:
            logger.exception("Could not append the audit checkpoint to %s", path)
    url = settings.AUDIT_CHECKPOINT_URL
    if url:
        _post(url, line)


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND: every write lands at the end, whatever else holds the file open; one write
    # call per line so two sealers on one host never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def _post(url: str, line: str) -> None:
    if not url.startswith(("https://", "http://")):
        logger.error("AUDIT_CHECKPOINT_URL must be an http(s) URL; checkpoint not sent.")
        return
    try:
        response = requests.post(
            url,
            data=line.encode(),
            headers={"Content-Type": "application/json"},
            timeout=settings.AUDIT_CHECKPOINT_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        if response.status_code >= 300:
            logger.warning(
                "The audit checkpoint sink answered %s; checkpoint not stored there.",
                response.status_code,
            )
    except requests.RequestException as exc:
        logger.warning("Could not send the audit checkpoint to its URL: %s", exc)


@dataclass
class CheckpointRead:
    checkpoints: list[Checkpoint]
    problems: list[str]
    source: str
    found: bool


def checkpoints_read(path: str | os.PathLike | None = None) -> CheckpointRead:
    """Every well-formed, correctly signed checkpoint of ``path`` (default: the configured
    file). Unreadable or unsigned lines are problems: someone wrote them by hand."""
    source = str(path if path is not None else settings.AUDIT_CHECKPOINT_FILE or "")
    if not source or not Path(source).is_file():
        return CheckpointRead([], [], source, found=False)
    checkpoints: list[Checkpoint] = []
    problems: list[str] = []
    with open(source, encoding="utf-8", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            raw = raw.strip()
            if not raw:
                continue
            checkpoint = _parse(raw)
            if checkpoint is None:
                problems.append(f"checkpoint file line {number}: not a checkpoint")
            elif not checkpoint.mac_ok():
                problems.append(
                    f"checkpoint file line {number}: its MAC does not match any configured key "
                    "(written by hand, or its key was removed from AUDIT_CHAIN_KEYS)"
                )
            else:
                checkpoints.append(checkpoint)
    return CheckpointRead(checkpoints, problems, source, found=True)


def _parse(raw: str) -> Checkpoint | None:
    try:
        data: Any = json.loads(raw)
        return Checkpoint(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            key_id=str(data["key_id"]),
            at=str(data["at"]),
            sealed=int(data.get("sealed", 0)),
            host=str(data.get("host", "")),
            mac=str(data["mac"]),
        )
    except (ValueError, TypeError, KeyError):
        return None
