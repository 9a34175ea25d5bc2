"""Store flagged predictions durably and hand them to the routing worker after commit."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record, audit_record_many, build_event
from reviewapp.envelope import CleanEnvelope, safe_text, storable_copy, validate_envelope
from reviewapp.models import MLModel, Prediction, RejectedEnvelope, ServiceAccount

from .accounts import allowed_model_ids

logger = logging.getLogger(__name__)


@dataclass
class ItemResult:
    index: int
    status: str  # accepted | duplicate | error
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    http_status: int = 202


_catalogue: tuple[float, dict[str, MLModel]] | None = None


def model_catalogue() -> dict[str, MLModel]:
    """Registered models by slug, cached per process for INGEST_CATALOGUE_CACHE_SECONDS.

    Every ingest request needs it; models change rarely. A change saved in this process clears
    the cache at once (signals below); other processes see it within the cache time.
    """
    global _catalogue
    ttl = settings.INGEST_CATALOGUE_CACHE_SECONDS
    cached = _catalogue
    if ttl > 0 and cached is not None and cached[0] > time.monotonic():
        return cached[1]
    catalogue = {m.slug: m for m in MLModel.objects.all()}
    _catalogue = (time.monotonic() + ttl, catalogue)
    return catalogue


@receiver([post_save, post_delete], sender=MLModel, dispatch_uid="ingest-catalogue-reset")
def _reset_catalogue(**kwargs: Any) -> None:
    global _catalogue
    _catalogue = None


def check_envelopes(
    raws: Sequence[Any],
    *,
    account: ServiceAccount | None,
    models: dict[str, MLModel],
    check_non_finite: bool = True,
) -> tuple[list[ItemResult], list[tuple[int, CleanEnvelope]]]:
    """Validate each envelope on its own; returns per-item results and the valid ones."""
    labels_for = {slug: m.labels for slug, m in models.items()}
    allowed = allowed_model_ids(account) if account is not None else None
    results: list[ItemResult] = []
    valid: list[tuple[int, CleanEnvelope]] = []
    for index, raw in enumerate(raws):
        clean, errors, status = validate_envelope(
            raw, labels_for=labels_for, check_non_finite=check_non_finite
        )
        if clean is not None and allowed is not None and models[clean.model_slug].pk not in allowed:
            errors = {"model": [f"This token may not send predictions for '{clean.model_slug}'."]}
            status, clean = 403, None
        if clean is None:
            results.append(ItemResult(index, "error", errors=errors, http_status=status))
        else:
            results.append(ItemResult(index, "accepted"))
            valid.append((index, clean))
    return results, valid


def predictions_store(
    *,
    valid: list[tuple[int, CleanEnvelope]],
    results: list[ItemResult],
    models: dict[str, MLModel],
    account: ServiceAccount | None,
    actor: Actor,
    enqueue: bool = True,
) -> list[int]:
    """Insert the valid envelopes in one transaction; returns the ids of rows created here.

    Idempotent on (model, external_id) without catching IntegrityError: rows are inserted with
    ON CONFLICT DO NOTHING and read back; a row carrying this call's receipt was created here,
    any other (an earlier request, or one racing this one) makes the item a duplicate.
    """
    if not valid:
        return []
    receipt = uuid.uuid4()
    now = timezone.now()
    first_index: dict[tuple[int, str], int] = {}
    rows: list[dict[str, Any]] = []
    account_id = account.pk if account is not None else None
    for index, env in valid:
        model_id = models[env.model_slug].pk
        key = (model_id, env.external_id)
        if key in first_index:
            continue
        first_index[key] = index
        rows.append(
            {
                "model_id": model_id,
                "external_id": env.external_id,
                "model_version": env.model_version,
                "input": env.input,
                "output": env.output,
                "label": env.label,
                "confidence": env.confidence,
                "signals": env.signals,
                "lineage": env.lineage,
                "occurred_at": env.occurred_at or now,
                "received_at": now,
                "submitted_by_id": account_id,
                "receipt": receipt,
                "enqueued_at": now,
            }
        )
    # One global insert order (by key): two batches sharing keys in opposite orders would
    # otherwise wait on each other's uncommitted rows and deadlock on PostgreSQL.
    rows.sort(key=lambda row: (row["model_id"], row["external_id"]))
    with transaction.atomic():
        if connection.vendor == "postgresql":
            stored = _insert_returning(rows)
            missing = [key for key in first_index if key not in stored]
            if missing:
                stored.update(_read_back(missing))
        else:
            Prediction.objects.bulk_create(
                [Prediction(**row) for row in rows], ignore_conflicts=True, batch_size=1000
            )
            stored = _read_back(list(first_index))
        created: list[int] = []
        for index, env in valid:
            key = (models[env.model_slug].pk, env.external_id)
            pk, row_receipt = stored[key]
            result = results[index]
            result.id = pk
            if row_receipt == receipt and first_index[key] == index:
                result.status, result.http_status = "accepted", 202
                created.append(pk)
            else:
                result.status, result.http_status = "duplicate", 200
        if created:
            chunk = settings.INGEST_ROUTE_CHUNK
            audit_record_many(
                build_event(
                    actor=actor,
                    verb="queue.prediction.ingested",
                    target=(
                        "reviewapp.prediction",
                        part[0] if len(part) == 1 else f"{part[0]}..{part[-1]}",
                    ),
                    data={"count": len(part), "ids": part},
                    subjects={"reviewapp.prediction": part},
                )
                for part in (created[i : i + chunk] for i in range(0, len(created), chunk))
            )
            if enqueue:
                transaction.on_commit(lambda: enqueue_routing(created))
    return created


def _read_back(keys: list[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, uuid.UUID]]:
    by_model: dict[int, list[str]] = {}
    for model_id, external_id in keys:
        by_model.setdefault(model_id, []).append(external_id)
    condition = Q()
    for model_id, external_ids in by_model.items():
        condition |= Q(model_id=model_id, external_id__in=external_ids)
    return {
        (m, e): (pk, r)
        for pk, m, e, r in Prediction.objects.filter(condition).values_list(
            "id", "model_id", "external_id", "receipt"
        )
    }


@functools.cache
def _insert_sql() -> tuple[str, tuple[tuple[str, str, Any], ...]]:
    fields = [f for f in Prediction._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    record = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
    sql = (
        f"INSERT INTO {qn(Prediction._meta.db_table)} ({columns}) SELECT {columns}"
        f" FROM jsonb_to_recordset(%s::jsonb) AS r({record})"
        " ON CONFLICT DO NOTHING RETURNING id, model_id, external_id, receipt"
    )
    return sql, tuple((f.attname, f.column, f) for f in fields)


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _insert_returning(
    rows: list[dict[str, Any]],
) -> dict[tuple[int, str], tuple[int, uuid.UUID]]:
    """PostgreSQL: the whole batch in one INSERT ... SELECT FROM jsonb_to_recordset(...).

    One parameter (a JSON array) instead of Django's per-column arrays, which psycopg quotes
    element by element in Python, and no model instances; ON CONFLICT DO NOTHING RETURNING
    tells which keys were new without a second query. Same semantics as
    bulk_create(ignore_conflicts=True); columns not given take the field's default.
    """
    sql, fields = _insert_sql()
    given = rows[0].keys()
    defaults = {
        column: _json_value(field.get_default())
        for attname, column, field in fields
        if attname not in given
    }
    names = [(attname, column) for attname, column, _ in fields if attname in given]
    payload = json.dumps(
        [
            {**defaults, **{column: _json_value(row[attname]) for attname, column in names}}
            for row in rows
        ],
        default=str,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [payload])
        return {(m, e): (pk, r) for pk, m, e, r in cursor.fetchall()}


# After a failed publish this process leaves new rows to the sweeper for a few seconds instead
# of paying a broker connect timeout on every request during an outage.
_broker_down_until = 0.0


def enqueue_routing(ids: list[int]) -> bool:
    """Publish routing tasks. A broker outage is not an error here: the sweeper retries.

    Fails fast: one connection attempt (no kombu retry loop), so a request whose broker is
    down still answers promptly; the rows are marked for the sweeper's next pass.
    """
    global _broker_down_until
    from reviewapp.tasks import route_predictions

    if not ids:
        return True
    chunk = settings.INGEST_ROUTE_CHUNK
    try:
        if time.monotonic() < _broker_down_until:
            raise ConnectionError("broker marked down")
        with route_predictions.app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=0)
            for i in range(0, len(ids), chunk):
                route_predictions.apply_async(
                    args=[ids[i : i + chunk]], retry=False, producer=producer
                )
    except Exception as exc:  # noqa: BLE001 - any broker failure; the inbox row is durable
        _broker_down_until = time.monotonic() + settings.INGEST_BROKER_RETRY_AFTER_SECONDS
        logger.warning(
            "Broker unavailable (%s); %d prediction(s) wait for the sweeper.", exc, len(ids)
        )
        _mark_for_sweeper(ids)
        return False
    return True


def _mark_for_sweeper(ids: list[int]) -> None:
    """Clear enqueued_at so the sweeper's next pass takes these rows without waiting."""
    try:
        Prediction.objects.filter(id__in=ids, status=Prediction.Status.RECEIVED).update(
            enqueued_at=None
        )
    except DatabaseError:
        logger.exception("Could not mark %d prediction(s) for the sweeper.", len(ids))


def inbox_sweep(*, limit: int = 5000) -> int:
    """Re-enqueue inbox rows that no worker routed within INGEST_SWEEP_AFTER_SECONDS."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.INGEST_SWEEP_AFTER_SECONDS)
    with transaction.atomic():
        ids = list(
            Prediction.objects.filter(status=Prediction.Status.RECEIVED)
            .filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True))
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return 0
        Prediction.objects.filter(id__in=ids).update(enqueued_at=timezone.now())
        transaction.on_commit(lambda: enqueue_routing(ids))
    logger.info("Sweeper re-enqueued %d unrouted prediction(s).", len(ids))
    return len(ids)


def envelope_reject(
    *, envelope: Any, errors: dict[str, list[str]], account_name: str, status: int
) -> RejectedEnvelope:
    with transaction.atomic():
        rejected = RejectedEnvelope.objects.create(
            # Kept as sent as far as a database can store it (NaN, NUL: see storable_copy).
            envelope=storable_copy(envelope)
            if isinstance(envelope, dict | list)
            else {"value": safe_text(repr(envelope)[:2000])},
            errors=errors,
            service_account_name=safe_text(account_name[:100]),
            status_code=status,
        )
        audit_record(
            actor=Actor.service(safe_text(account_name[:100]) or "unknown"),
            verb="queue.prediction.rejected",
            target=rejected,
            data={"errors": errors},
        )
    return rejected
