"""The hashes a change request is bound to: pure functions, no database.

``evidence_hash`` is what an approval is bound to: the evidence module computes it from the
evidence it stored and hands it to ``change_request_evidence_set``; an approver sends back the
hash of the evidence their page showed, and the vote is refused when it is no longer current.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from .rules import canonical_json, rules_hash


def document_hash(document: Mapping[str, Any]) -> str:
    """sha256 of a governed document's canonical JSON (the same as a policy's rules hash)."""
    return rules_hash(dict(document))


def evidence_hash(
    *,
    base_hash: str | None,
    proposed_hash: str,
    window_start: dt.datetime,
    window_end: dt.datetime,
    replay_result: Mapping[str, Any],
) -> str:
    """sha256 of the canonical JSON of the base version's hash (None for a model's first
    version), the proposed document's hash, the replay window (ISO 8601 UTC) and the replay
    result (any JSON object: the figures the approvers read).

    Changing any of them (an edit, a rebase, evidence recomputed on newer traffic) changes the
    hash, so a vote cast on what an approver saw cannot be counted for something else.
    """
    for name, value in (("window_start", window_start), ("window_end", window_end)):
        if value.tzinfo is None:
            raise ValueError(f"{name}: must be an aware datetime")
    payload = {
        "base": base_hash or None,
        "proposed": proposed_hash,
        "window": [
            window_start.astimezone(dt.UTC).isoformat(),
            window_end.astimezone(dt.UTC).isoformat(),
        ],
        "result": dict(replay_result),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
