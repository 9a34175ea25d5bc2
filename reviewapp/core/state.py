"""One state machine mechanism for every entity.

An app declares a :class:`Machine` per entity: the model, its status column, the events
(``event -> Transition(sources, targets, verb)``) and the columns its audit events record
before and after. Every status change then goes through one of two functions:

* :func:`apply` changes one row as the caller last read it: it checks the table, writes a
  conditional ``UPDATE … WHERE pk = … AND status = <seen> AND <expectations>``, checks the
  row count (409 ``stale`` when the row moved meanwhile, with nothing written), stamps
  ``updated_at`` and writes the audit event in the caller's transaction.
* :func:`apply_many` is the set-based form for bulk work: one statement per chunk,
  ``WHERE pk IN (…) AND status IN <sources>``, returning the keys it changed; the caller
  writes the audit (one event per chunk), so a hot path never writes an event per row.

Core names no app: machines are declared by the apps, next to their services.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from reviewapp.core import clock

from .audit import Actor, audit_record
from .exceptions import Conflict

# Rows per statement in apply_many: well below SQLite's bound-parameter limit even with a
# dozen columns per row, and large enough that a routed chunk is one or two statements.
CHUNK = 500


@dataclass(frozen=True)
class Transition:
    sources: frozenset[str]
    targets: frozenset[str]
    verb: str

    @property
    def default_target(self) -> str:
        return min(self.targets)


def transition(sources: Iterable[str] | str, targets: Iterable[str] | str, verb: str) -> Transition:
    """A table row: ``transition({"pending"}, "claimed", "queue.review_item.claimed")``."""

    def as_set(value: Iterable[str] | str) -> frozenset[str]:
        return frozenset({value} if isinstance(value, str) else (str(v) for v in value))

    return Transition(as_set(sources), as_set(targets), verb)


@dataclass(frozen=True)
class Machine:
    """The transition table of one entity.

    ``snapshot`` maps an audit key to a column attname (``{"claimed_by": "claimed_by_id"}``);
    ``match`` names version-like columns whose seen value must still hold for any change
    (e.g. a claim generation), on top of the status.
    """

    model: type[Model]
    events: Mapping[str, Transition]
    status_field: str = "status"
    snapshot: Mapping[str, str] = field(default_factory=lambda: {"status": "status"})
    match: tuple[str, ...] = ()

    def __getitem__(self, event: str) -> Transition:
        return self.events[event]

    def target(self, event: str, to: str | None = None) -> str:
        """The target of ``event``; ``to`` picks one where the event has several."""
        t = self.events[event]
        target = t.default_target if to is None else str(to)
        if target not in t.targets:
            raise ValueError(f"{event} cannot lead to {target}")
        return target

    def allows(self, event: str, status: str) -> bool:
        t = self.events.get(event)
        return t is not None and status in t.sources

    def events_from(self, status: str) -> list[str]:
        """Events allowed from ``status``, in table order."""
        return [name for name, t in self.events.items() if status in t.sources]

    def snapshot_of(self, instance: Model) -> dict[str, Any]:
        return {key: getattr(instance, column) for key, column in self.snapshot.items()}

    @property
    def stamps_updated_at(self) -> bool:
        try:
            self.model._meta.get_field("updated_at")
        except FieldDoesNotExist:
            return False
        return True


def apply(
    machine: Machine,
    *,
    instance: Model,
    event: str,
    actor: Actor,
    to: str | None = None,
    expect: Mapping[str, Any] | None = None,
    changes: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
    invalid_message: str | None = None,
    stale_message: str | None = None,
    field: str = "detail",
) -> Model:
    """Apply ``event`` to ``instance`` (as last read), or raise Conflict if it moved meanwhile.

    ``expect`` adds conditions to the UPDATE (``claimed_by=user``); ``changes`` are the other
    columns to write (plain values: they are also set on the instance). Raises Conflict with
    code ``invalid_state`` when the table does not allow the event from the seen status, and
    ``stale`` when the row no longer matches; in both cases before anything is written.
    """
    target = machine.target(event, to)
    status_field = machine.status_field
    seen = getattr(instance, status_field)
    if not machine.allows(event, seen):
        raise Conflict(
            invalid_message
            or _("This %(entity)s is %(status)s; it cannot be %(verb)s now.")
            % {"entity": machine.model._meta.verbose_name, "status": seen, "verb": event},
            field=field,
            code="invalid_state",
        )
    values: dict[str, Any] = {status_field: target}
    if machine.stamps_updated_at:
        values["updated_at"] = now or clock.now()
    values.update(changes or {})
    conditions = {"pk": instance.pk, status_field: seen}
    conditions.update({column: getattr(instance, column) for column in machine.match})
    conditions.update(expect or {})
    before = machine.snapshot_of(instance)
    # Inside the caller's transaction no savepoint of its own: the Conflict below is raised
    # before anything is written, so the caller may catch it and go on (and hot paths save
    # two round trips). Outside one, the update and its audit event commit together.
    with nullcontext() if connection.in_atomic_block else transaction.atomic():
        updated = machine.model._default_manager.filter(**conditions).update(**values)
        if updated != 1:
            raise Conflict(
                stale_message
                or _(
                    "This %(entity)s changed while you were looking at it. Reload to see its state."
                )
                % {"entity": machine.model._meta.verbose_name},
                field=field,
                code="stale",
            )
        for name, value in values.items():
            setattr(instance, name, value)
        audit_record(
            actor=actor,
            verb=machine.events[event].verb,
            target=instance,
            before=before,
            after=machine.snapshot_of(instance),
            data=dict(data or {}),
        )
    return instance


def apply_many(
    machine: Machine,
    *,
    event: str,
    ids: Iterable[Any] = (),
    to: str | None = None,
    changes: Mapping[str, Any] | None = None,
    rows: Mapping[Any, Mapping[str, Any]] | None = None,
    now: dt.datetime | None = None,
) -> list[Any]:
    """Apply ``event`` to every row that is still in one of its sources; return their keys.

    Either ``ids`` (all to ``to`` with the same ``changes``) or ``rows``: ``{pk: {column:
    value}}`` with values per row, each naming its target in the status column (or taking
    ``to``). Rows no longer in a source status are left alone and not returned. Writes no
    audit event: the caller records the batch (one event per chunk).
    """
    t = machine.events[event]
    sources = sorted(t.sources)
    stamp = {"updated_at": now or clock.now()} if machine.stamps_updated_at else {}
    changed: list[Any] = []
    with nullcontext() if connection.in_atomic_block else transaction.atomic():
        if rows is None:
            values = {machine.status_field: machine.target(event, to), **stamp, **(changes or {})}
            keys = list(ids)
            for start in range(0, len(keys), CHUNK):
                changed += _update_set(machine, keys[start : start + CHUNK], sources, values)
            return changed
        common = {machine.status_field: machine.target(event, to), **stamp, **(changes or {})}
        prepared: dict[Any, dict[str, Any]] = {}
        for pk, row in rows.items():
            values = {**common, **row}
            if values[machine.status_field] not in t.targets:
                machine.target(event, values[machine.status_field])  # raises, naming it
            prepared[pk] = values
        keys = list(prepared)
        for start in range(0, len(keys), CHUNK):
            part = {pk: prepared[pk] for pk in keys[start : start + CHUNK]}
            changed += _update_rows(machine, part, sources)
    return changed


def _db_value(model: type[Model], name: str, value: Any) -> tuple[Any, str, Any]:
    """(field, quoted column, value prepared for the database) of one assignment."""
    f = model._meta.get_field(name)
    if isinstance(value, Model):
        value = value.pk
    return f, connection.ops.quote_name(f.column), f.get_db_prep_save(value, connection)


# Columns whose plain Python values the drivers take as they are: preparing them through the
# field is an identity that costs a few microseconds per value, which a routed chunk of 500
# rows (9 columns each) would pay thousands of times.
_PLAIN = {
    "AutoField", "BigAutoField", "SmallAutoField", "IntegerField", "BigIntegerField",
    "SmallIntegerField", "PositiveIntegerField", "PositiveBigIntegerField",
    "PositiveSmallIntegerField", "CharField", "TextField", "SlugField", "BooleanField",
    "FloatField",
}  # fmt: skip
_PLAIN_TYPES = (str, bool, int, float, type(None))


def _column(f: Any, values: list[Any], conn: Any) -> list[Any]:
    """One column's values prepared for the database, column-wise (it is a hot path)."""
    kind = f.get_internal_type()
    if kind in ("ForeignKey", "OneToOneField"):
        kind = f.target_field.get_internal_type()
        values = [v.pk if isinstance(v, Model) else v for v in values]
    if kind == "JSONField":
        # Text cast to jsonb on PostgreSQL, the text SQLite stores: what the field would send.
        return [None if v is None else json.dumps(v, cls=f.encoder) for v in values]
    if kind in _PLAIN and all(isinstance(v, _PLAIN_TYPES) for v in values):
        return values
    prep = f.get_db_prep_save
    out, last, prepared = [], object(), None
    for v in values:
        # A chunk often writes one object to every row (the time it was routed): prepare once.
        if v is not last:
            last, prepared = v, prep(v, conn)
        out.append(prepared)
    return out


def _returns_rows() -> bool:
    # UPDATE … RETURNING: PostgreSQL, and SQLite since 3.35.
    return connection.vendor == "postgresql" or (
        connection.vendor == "sqlite" and connection.Database.sqlite_version_info >= (3, 35)
    )


def _update_set(
    machine: Machine, keys: list[Any], sources: list[str], values: Mapping[str, Any]
) -> list[Any]:
    if not keys:
        return []
    manager = machine.model._default_manager
    status_in = {f"{machine.status_field}__in": sources}
    if not _returns_rows():
        # A correct, slower path: lock the rows still in a source status, then change them.
        found = list(
            manager.select_for_update()
            .filter(pk__in=keys, **status_in)
            .values_list("pk", flat=True)
        )
        manager.filter(pk__in=found, **status_in).update(**values)
        return found
    q = connection.ops.quote_name
    meta = machine.model._meta
    assignments, params = [], []
    for name, value in values.items():
        _f, column, prepared = _db_value(machine.model, name, value)
        assignments.append(f"{column} = %s")
        params.append(prepared)
    pk = q(meta.pk.column)
    status = q(meta.get_field(machine.status_field).column)
    sql = (
        f"UPDATE {q(meta.db_table)} SET {', '.join(assignments)}"
        f" WHERE {pk} IN ({', '.join(['%s'] * len(keys))})"
        f" AND {status} IN ({', '.join(['%s'] * len(sources))}) RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *keys, *sources])
        return [row[0] for row in cursor.fetchall()]


def _update_rows(
    machine: Machine, rows: Mapping[Any, Mapping[str, Any]], sources: list[str]
) -> list[Any]:
    """One ``UPDATE … FROM (VALUES …)`` for rows with values of their own.

    Django's bulk_update builds a CASE WHEN per field and row, which is slow to compile for
    large chunks (see docs/performance.md); VALUES columns are named column1, column2, … on
    both PostgreSQL and SQLite, so one statement serves both.
    """
    if not rows:
        return []
    model = machine.model
    manager = model._default_manager
    status_in = {f"{machine.status_field}__in": sources}
    if not _returns_rows():
        changed = []
        for pk, values in rows.items():
            if manager.filter(pk=pk, **status_in).update(**values):
                changed.append(pk)
        return changed
    q = connection.ops.quote_name
    meta = model._meta
    first = next(iter(rows.values())).keys()
    if any(values.keys() != first for values in rows.values()):
        raise ValueError("apply_many: every row must name the same columns")
    names = list(first)
    fields = [model._meta.get_field(name) for name in names]
    cast = connection.vendor == "postgresql"

    def placeholder(f: Any) -> str:
        # PostgreSQL types VALUES from its first row; cast so jsonb and timestamptz land right.
        return f"CAST(%s AS {f.cast_db_type(connection)})" if cast else "%s"

    row_sql = "(" + ", ".join(placeholder(f) for f in [meta.pk, *fields]) + ")"
    conn = connections[DEFAULT_DB_ALIAS]  # the object behind the `connection` proxy
    columns = [_column(f, [values[f_name] for values in rows.values()], conn)
               for f_name, f in zip(names, fields, strict=True)]  # fmt: skip
    params = list(chain.from_iterable(zip(rows.keys(), *columns, strict=True)))
    table = q(meta.db_table)
    pk = q(meta.pk.column)
    status = q(meta.get_field(machine.status_field).column)
    sets = ", ".join(f"{q(f.column)} = v.column{i + 2}" for i, f in enumerate(fields))
    sql = (
        f"UPDATE {table} SET {sets} FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v"
        f" WHERE {table}.{pk} = v.column1"
        f" AND {table}.{status} IN ({', '.join(['%s'] * len(sources))}) RETURNING {pk}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *sources])
        return [row[0] for row in cursor.fetchall()]
