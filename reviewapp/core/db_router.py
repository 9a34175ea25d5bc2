"""Reads from a read replica, inside an explicit scope only (docs/architecture.md, "Read replica").

With ``DATABASE_REPLICA_URL`` set, settings add the database alias ``replica``. Nothing reads
from it unless the code says so: a block under :func:`reads_from_replica` (a context manager and
a decorator) sends its reads there, and only while the default connection has no transaction
open, so a read inside an atomic block still sees the writes made before it in that block.
Everything else reads and writes the primary: writes always, claims and every service that
changes state, and any read outside the scope. :func:`reads_from_primary` pins a block to the
primary even inside a replica scope (a service called from replica-reading code).

The scope is a context variable: it reaches the code in that block only, never another thread,
request or Celery task. A streamed response runs its generator after the view has returned, so
the generator itself must be wrapped (:func:`replica_iter`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
_ALIASES = frozenset({DEFAULT_DB_ALIAS, REPLICA})

# True inside reads_from_replica, False inside reads_from_primary (which wins when nested).
_replica_reads: ContextVar[bool] = ContextVar("failsafe_replica_reads", default=False)

T = TypeVar("T")


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def read_alias() -> str:
    """The alias a read issued now goes to: the replica inside a replica scope, when one is
    configured and the primary has no transaction open; else the primary."""
    if not _replica_reads.get() or not replica_configured():
        return DEFAULT_DB_ALIAS
    # Read-your-writes: inside a transaction on the primary (a service, a claim, a test's
    # wrapping transaction) every read stays on the primary.
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA


@contextlib.contextmanager
def _scope(value: bool) -> Iterator[None]:
    token = _replica_reads.set(value)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def reads_from_replica() -> contextlib.AbstractContextManager[None]:
    """Reads in this block (or decorated function) may come from the replica, which may lag the
    primary by a few seconds: only for pages and jobs that accept that."""
    return _scope(True)


def reads_from_primary() -> contextlib.AbstractContextManager[None]:
    """Reads in this block (or decorated function) come from the primary, even when called
    inside a replica scope: for claims and services that change state."""
    return _scope(False)


def replica_iter(iterable: Iterable[T]) -> Iterator[T]:
    """``iterable`` advanced one step at a time inside a replica scope: for a streamed
    response, whose generator runs after the view (and its scope) has returned. The scope is
    entered and left within each step, so it never leaks into the code between steps."""
    iterator = iter(iterable)
    while True:
        with reads_from_replica():
            try:
                item = next(iterator)
            except StopIteration:
                return
        yield item


class ReplicaRouter:
    """Django's database router for the two aliases (settings.DATABASE_ROUTERS)."""

    def db_for_read(self, model: Any, **hints: Any) -> str:
        # Outside a scope, the primary even for an object loaded from the replica: only code
        # that asked for the replica gets it.
        return read_alias()

    def db_for_write(self, model: Any, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        # The replica is a copy of the primary: a row read from either may refer to the other.
        if obj1._state.db in _ALIASES and obj2._state.db in _ALIASES:
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        # The replica receives the schema by replication, never by migrate.
        if db == REPLICA:
            return False
        return None
