"""The quality app's answer to every decision (the queue's ``queue.decision_recorded`` hook)
and every undo (``queue.decision_undone``), in the deciding transaction.

Each part registers a handler per purpose here: gold and qualification items are scored, a
routed decision may be held for a blind second review, a second review is compared with the
first decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# purpose -> handlers fn(decision=, item=); "*" runs for every purpose.
ON_DECIDED: dict[str, list[Callable[..., Any]]] = {}
ON_UNDONE: dict[str, list[Callable[..., Any]]] = {}


def on_decided(purpose: str, fn: Callable[..., Any]) -> None:
    handlers = ON_DECIDED.setdefault(purpose, [])
    if fn not in handlers:
        handlers.append(fn)


def on_undone(purpose: str, fn: Callable[..., Any]) -> None:
    handlers = ON_UNDONE.setdefault(purpose, [])
    if fn not in handlers:
        handlers.append(fn)


def decision_recorded(*, decision: Any, item: Any) -> None:
    for fn in (*ON_DECIDED.get(item.purpose, ()), *ON_DECIDED.get("*", ())):
        fn(decision=decision, item=item)


def decision_undone(*, decision: Any, item: Any, user: Any) -> None:
    for fn in (*ON_UNDONE.get(item.purpose, ()), *ON_UNDONE.get("*", ())):
        fn(decision=decision, item=item, user=user)
