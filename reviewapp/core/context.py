"""Per-request (or per-task) context: the request id that ties audit events together, and the
request itself, so audit signal handlers (user and group changes) can name who acted."""

from __future__ import annotations

import contextvars
import uuid
from typing import Any

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def get_request_id() -> str:
    return _request_id.get()


def set_request_id(value: str | None = None) -> contextvars.Token:
    return _request_id.set(value or uuid.uuid4().hex)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


_request: contextvars.ContextVar[Any] = contextvars.ContextVar("request", default=None)


def get_request() -> Any:
    return _request.get()


def set_request(request: Any) -> contextvars.Token:
    return _request.set(request)


def reset_request(token: contextvars.Token) -> None:
    _request.reset(token)
