"""Store flagged predictions durably and hand them to the routing worker after commit."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
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

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record, audit_record_many, build_event
from reviewapp.core.context import get_request_id
from reviewapp.core.models import AuditEvent
from reviewapp.core.publish import publish_is_eager, task_publish_many
from reviewapp.envelope import (
    CleanEnvelope,
    parse_json,
    safe_text,
    storable_copy,
    validate_envelope,
)
from reviewapp.governance.rules import output_inconsistent
from reviewapp.models import (
    MLModel,
    Mode,
    ModelMode,
    Prediction,
    PredictionPayload,
    RejectedEnvelope,
    ServiceAccount,
)
from reviewapp.models.ingest import PAYLOAD_DEFAULTS

from .accounts import allowed_model_ids
from .route_coalesce import RouteCoalescer
from .routing import predictions_route

logger = logging.getLogger(__name__)

# Registered names of the tasks this module publishes (see reviewapp/tasks.py): routing by
# ids (batches, the sweeper) and coalesced routing of a model's waiting rows (single requests).
ROUTE_TASK = "failsafe.route_predictions"
ROUTE_MODEL_TASK = "failsafe.route_model"


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: str  # accepted | duplicate | error
    id: int | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    http_status: int = 202
    # The model's operating mode when the prediction was received (``mode_at_receipt``):
    # every answer naming a prediction carries it. None for a refused item.
    model_mode: str | None = None


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
        elif (
            clean is not None
            and models[clean.model_slug].strict_output
            and output_inconsistent(clean.label, clean.top_scores)
        ):
            errors, status, clean = inconsistent_output_errors(clean), 400, None
        if clean is None:
            results.append(ItemResult(index, "error", errors=errors, http_status=status))
        else:
            results.append(ItemResult(index, "accepted"))
            valid.append((index, clean))
    return results, valid


def inconsistent_output_errors(clean: CleanEnvelope) -> dict[str, list[str]]:
    """A strict model's refusal of a label its own scores contradict, naming both fields."""
    summary = clean.top_scores or {}
    best = max(summary.values())
    top = ", ".join(sorted(f"'{k[:100]}' ({v:g})" for k, v in summary.items() if v == best))
    own = summary.get(clean.label)
    label = clean.label[:100]
    has = f"its score is {own:g}" if own is not None else "it has no score"
    return {
        "output.label": [
            f"'{label}' is not the label the scores rank highest ({has}); this model is strict "
            "and refuses a label its own scores contradict."
        ],
        "output.scores": [f"Rank {top} highest, not the label '{label}'."],
    }


def prediction_ingest(
    *,
    envelope: Any,
    account: ServiceAccount | None,
    actor: Actor | None = None,
    enqueue: bool = True,
) -> ItemResult:
    """Validate and store one prediction: the single endpoint and the ingest task.

    The result is `accepted` (stored here, 202), `duplicate` (stored earlier, 200, with its id)
    or `error` with the fields named and the HTTP status (nothing stored).
    """
    return _ingest([envelope], account=account, actor=actor, body_size=0, enqueue=enqueue)[0]


def prediction_batch_ingest(
    *,
    envelopes: Sequence[Any],
    account: ServiceAccount | None,
    actor: Actor | None = None,
    body_size: int = 0,
    enqueue: bool = True,
) -> list[ItemResult]:
    """Validate and store many predictions, each accepted or refused on its own; one result each.

    `body_size` is the size of the request the batch came in: when it is larger than the
    single-prediction limit, each valid item must fit that limit on its own.
    """
    return _ingest(envelopes, account=account, actor=actor, body_size=body_size, enqueue=enqueue)


def _ingest(
    envelopes: Sequence[Any],
    *,
    account: ServiceAccount | None,
    actor: Actor | None,
    body_size: int,
    enqueue: bool,
) -> list[ItemResult]:
    if actor is None:
        if account is None:
            raise ValueError("Name the actor when no service account sends the predictions.")
        actor = Actor.service(account.name, account.pk)
    models = model_catalogue()
    results, valid = check_envelopes(envelopes, account=account, models=models)
    if body_size > settings.INGEST_MAX_BODY_BYTES:
        results, valid = _refuse_oversized_items(envelopes, results, valid)
    stored = predictions_store(
        valid=valid, models=models, account=account, actor=actor, enqueue=enqueue
    )
    return [stored.get(result.index, result) for result in results]


def _refuse_oversized_items(
    envelopes: Sequence[Any], results: list[ItemResult], valid: list[tuple[int, CleanEnvelope]]
) -> tuple[list[ItemResult], list[tuple[int, CleanEnvelope]]]:
    """Each batch item must fit the single-prediction limit. Measured only when the whole
    body is larger than that limit (otherwise no item can be), on compact re-serialised JSON."""
    limit = settings.INGEST_MAX_BODY_BYTES
    refused: dict[int, ItemResult] = {}
    for index, _ in valid:  # invalid items are refused already
        size = len(json.dumps(envelopes[index], separators=(",", ":"), ensure_ascii=False).encode())
        if size > limit:
            refused[index] = ItemResult(
                index,
                "error",
                errors={"body": [f"This item is larger than the limit of {limit} bytes."]},
                http_status=413,
            )
    if not refused:
        return results, valid
    return (
        [refused.get(result.index, result) for result in results],
        [(index, clean) for index, clean in valid if index not in refused],
    )


def prediction_ingest_published(*, envelope: Any, service_account: Any) -> int | None:
    """The `failsafe.ingest_prediction` task's use case: a producer published one envelope.

    Same validation and permissions as POST /api/v1/predictions, then routed at once (this
    already runs on a worker). An invalid envelope or unknown account is kept as a rejected
    record (leads see it under Ingest → Rejected); a duplicate does nothing. Returns the
    prediction's id, or None when refused.
    """
    # Only a well-formed name reaches the query (a NUL byte would make PostgreSQL raise).
    name = service_account if isinstance(service_account, str) else ""
    account = (
        ServiceAccount.objects.filter(name=name, revoked_at__isnull=True).first()
        if _ACCOUNT_NAME.fullmatch(name)
        else None
    )
    if account is None:
        shown = safe_text(str(service_account))[:100]
        envelope_reject(
            envelope=envelope,
            errors={"service_account": [f"No active service account named '{shown}'."]},
            account_name=shown,
            status=403,
        )
        return None
    # Celery's JSON decoder lets NaN / Infinity through as floats; re-parse so validation
    # names those fields instead of the database refusing them later.
    envelope, _ = parse_json(json.dumps(envelope, default=str).encode())
    result = prediction_ingest(envelope=envelope, account=account, enqueue=False)
    if result.status == "error":
        envelope_reject(
            envelope=envelope,
            errors=result.errors,
            account_name=account.name,
            status=result.http_status,
        )
        return None
    if result.status == "accepted":
        predictions_route(ids=[result.id])
    return result.id


_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_-]{1,100}")


def predictions_store(
    *,
    valid: list[tuple[int, CleanEnvelope]],
    models: dict[str, MLModel],
    account: ServiceAccount | None,
    actor: Actor,
    enqueue: bool = True,
) -> dict[int, ItemResult]:
    """Insert the valid envelopes in one transaction; returns each one's result by its index.

    Idempotent on (model, external_id) without catching IntegrityError: rows are inserted with
    ON CONFLICT DO NOTHING and read back; a row carrying this call's receipt was created here,
    any other (an earlier request, or one racing this one) makes the item a duplicate.

    Each new row stores its model's operating mode as the insert read it
    (``mode_at_receipt``); a duplicate answers the mode stored at its first receipt, so a
    retried request gets the same answer. On PostgreSQL the mode is read inside the INSERT
    (a scalar subquery per row, no extra round trip); elsewhere by one query for the batch's
    models, in the same transaction.
    """
    if not valid:
        return {}
    receipt = uuid.uuid4()
    request_id = get_request_id()
    now = clock.now()
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
                "top_scores": env.top_scores,
                "lineage": env.lineage,
                "occurred_at": env.occurred_at or now,
                "received_at": now,
                "submitted_by_id": account_id,
                "receipt": receipt,
                "request_id": request_id,
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
            modes = _modes_now({row["model_id"] for row in rows})
            for row in rows:
                row["mode_at_receipt"] = modes.get(row["model_id"], Mode.NORMAL)
            Prediction.objects.bulk_create(
                [Prediction(**_without_payload(row)) for row in rows],
                ignore_conflicts=True,
                batch_size=1000,
            )
            stored = _read_back(list(first_index))
            _insert_payloads(rows, stored, receipt)
        created: list[int] = []
        results: dict[int, ItemResult] = {}
        for index, env in valid:
            key = (models[env.model_slug].pk, env.external_id)
            pk, row_receipt, mode = stored[key]
            if row_receipt == receipt and first_index[key] == index:
                results[index] = ItemResult(
                    index, "accepted", id=pk, http_status=202, model_mode=mode
                )
                created.append(pk)
            else:
                results[index] = ItemResult(
                    index, "duplicate", id=pk, http_status=200, model_mode=mode
                )
        # Rows a service account sent get no audit row here: the routing chunk that takes them
        # writes their "ingested" event (services/routing.py), naming each as a subject with its
        # sender and request id, so a single request costs one INSERT and its commit. Rows a
        # system actor stores (the demo, tools) name no account to audit later: audited now.
        if created:
            if account is None:
                audit_record_many(_ingested_events(created, actor=actor))
            if enqueue:
                by_model = _ids_by_model(created, stored)
                transaction.on_commit(lambda: enqueue_routing(created, models=by_model))
    return results


def _ids_by_model(created: list[int], stored: Stored) -> dict[int, list[int]]:
    new = set(created)
    by_model: dict[int, list[int]] = {}
    for (model_id, _), (pk, _, _) in stored.items():
        if pk in new:
            by_model.setdefault(model_id, []).append(pk)
    return by_model


def _ingested_events(created: list[int], *, actor: Actor) -> list[AuditEvent]:
    """One event per routing chunk of rows stored by a system actor."""
    chunk = settings.INGEST_ROUTE_CHUNK
    return [
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
    ]


def _modes_now(model_ids: set[int]) -> dict[int, str]:
    """{model id: mode} of the models not in normal mode (no row means normal)."""
    rows = ModelMode.objects.filter(model_id__in=model_ids).exclude(mode=Mode.NORMAL)
    return dict(rows.values_list("model_id", "mode"))


Stored = dict[tuple[int, str], tuple[int, uuid.UUID, str]]


def _read_back(keys: list[tuple[int, str]]) -> Stored:
    by_model: dict[int, list[str]] = {}
    for model_id, external_id in keys:
        by_model.setdefault(model_id, []).append(external_id)
    condition = Q()
    for model_id, external_ids in by_model.items():
        condition |= Q(model_id=model_id, external_id__in=external_ids)
    return {
        (m, e): (pk, r, mode)
        for pk, m, e, r, mode in Prediction.objects.filter(condition).values_list(
            "id", "model_id", "external_id", "receipt", "mode_at_receipt"
        )
    }


def _without_payload(row: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in row.items() if name not in PAYLOAD_DEFAULTS}


def _insert_payloads(rows: list[dict[str, Any]], stored: Stored, receipt: uuid.UUID) -> None:
    """SQLite and others: the payload rows of the predictions this call created, in the
    same transaction as the predictions (PostgreSQL writes them inside its one INSERT)."""
    PredictionPayload.objects.bulk_create(
        [
            PredictionPayload(
                prediction_id=stored[key][0],
                model_id=row["model_id"],
                received_at=row["received_at"],
                **{name: row[name] for name in PAYLOAD_DEFAULTS},
            )
            for row in rows
            if stored[key := (row["model_id"], row["external_id"])][1] == receipt
        ],
        batch_size=1000,
    )


@functools.cache
def _insert_sql() -> tuple[str, tuple[tuple[str, str, Any], ...]]:
    fields = [f for f in Prediction._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    payload_fields = [PredictionPayload._meta.get_field(name) for name in PAYLOAD_DEFAULTS]
    record = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields + payload_fields)
    # The model's mode as this statement reads it: one index probe per row on the mode
    # table's unique model_id, inside the INSERT (no second round trip on the hot path).
    mode_table = qn(ModelMode._meta.db_table)
    mode_model = qn(ModelMode._meta.get_field("model").column)
    mode_now = (
        f"COALESCE((SELECT mm.{qn('mode')} FROM {mode_table} mm"
        f" WHERE mm.{mode_model} = r.{qn(Prediction._meta.get_field('model').column)}),"
        f" '{Mode.NORMAL}')"
    )
    mode_column = Prediction._meta.get_field("mode_at_receipt").column
    values = ", ".join(mode_now if f.column == mode_column else qn(f.column) for f in fields)
    # The payload rows of the new predictions (RETURNING gives only rows this statement
    # inserted) go into the side table in the same statement: both or neither.
    payload_columns = ", ".join(qn(f.column) for f in payload_fields)
    payload_values = ", ".join(f"r.{qn(f.column)}" for f in payload_fields)
    sql = (
        f"WITH r AS (SELECT * FROM jsonb_to_recordset(%s::jsonb) AS r({record})),"
        f" ins AS (INSERT INTO {qn(Prediction._meta.db_table)} ({columns}) SELECT {values}"
        " FROM r ON CONFLICT DO NOTHING"
        f" RETURNING id, model_id, external_id, receipt, {qn(mode_column)}, received_at),"
        f" pay AS (INSERT INTO {qn(PredictionPayload._meta.db_table)}"
        f" (prediction_id, received_at, model_id, {payload_columns})"
        f" SELECT ins.id, ins.received_at, ins.model_id, {payload_values} FROM ins"
        " JOIN r ON r.model_id = ins.model_id AND r.external_id = ins.external_id)"
        f" SELECT id, model_id, external_id, receipt, {qn(mode_column)} FROM ins"
    )
    payload_attrs = tuple((f.attname, f.column, f) for f in payload_fields)
    return sql, tuple((f.attname, f.column, f) for f in fields) + payload_attrs


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _insert_returning(rows: list[dict[str, Any]]) -> Stored:
    """PostgreSQL: the whole batch, predictions and their payload rows, in one statement
    (INSERT ... SELECT FROM jsonb_to_recordset(...), the payload INSERT in a CTE).

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
        return {(m, e): (pk, r, mode) for pk, m, e, r, mode in cursor.fetchall()}


# After a failed publish this process leaves new rows to the sweeper for a few seconds instead
# of paying a broker connect timeout on every request during an outage.
_broker_down_until = 0.0


def enqueue_routing(ids: list[int], *, models: dict[int, list[int]] | None = None) -> bool:
    """Announce committed rows to the routing workers. A broker outage is not an error here:
    the sweeper retries.

    A small set whose models are known (a single request, a small batch) goes through the
    coalescer: at most one "route model X" message per INGEST_ROUTE_COALESCE_MS per process,
    the routing task taking every waiting row of X. Larger sets (big batches, the sweeper)
    publish their ids in chunks of INGEST_ROUTE_CHUNK, one message per chunk.

    Fails fast: one connection attempt (no kombu retry loop), so a request whose broker is
    down still answers promptly; the rows are marked for the sweeper's next pass.
    """
    if not ids:
        return True
    chunk = settings.INGEST_ROUTE_CHUNK
    coalescer = _coalescer()
    if models and len(ids) < chunk and coalescer is not None:
        ok = True
        for model_id, model_ids in models.items():
            ok = coalescer.announce(model_id, model_ids) and ok
        return ok
    return _publish(ROUTE_TASK, [[ids[i : i + chunk]] for i in range(0, len(ids), chunk)], ids)


def _publish(name: str, args_list: list[list[Any]], ids: list[int]) -> bool:
    global _broker_down_until
    try:
        if time.monotonic() < _broker_down_until:
            raise ConnectionError("broker marked down")
        task_publish_many(name, args_list, fail_fast=True)
    except Exception as exc:  # noqa: BLE001 - any broker failure; the inbox row is durable
        _broker_down_until = time.monotonic() + settings.INGEST_BROKER_RETRY_AFTER_SECONDS
        logger.warning(
            "Broker unavailable (%s); %d prediction(s) wait for the sweeper.", exc, len(ids)
        )
        _mark_for_sweeper(ids)
        return False
    return True


def _publish_route_model(model_id: int, ids: list[int], *, deferred: bool) -> bool:
    try:
        return _publish(ROUTE_MODEL_TASK, [[model_id]], ids)
    finally:
        if deferred:
            # The coalescer's own thread: give back a connection _mark_for_sweeper opened.
            connection.close()


_route_coalescer: RouteCoalescer | None = None


def _coalescer() -> RouteCoalescer | None:
    """This process's coalescer; None when coalescing is off (a window of 0, or eager Celery:
    tests expect a request's rows routed when it answers)."""
    global _route_coalescer
    window = settings.INGEST_ROUTE_COALESCE_MS / 1000
    if window <= 0 or publish_is_eager():
        return None
    if _route_coalescer is None or _route_coalescer.window != window:
        _route_coalescer = RouteCoalescer(_publish_route_model, window_seconds=window)
    return _route_coalescer


def route_coalescer_reset() -> None:
    """Drop this process's open windows and pending announcements (for tests)."""
    if _route_coalescer is not None:
        _route_coalescer.discard()


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
    cutoff = clock.now() - dt.timedelta(seconds=settings.INGEST_SWEEP_AFTER_SECONDS)
    with transaction.atomic():
        ids = list(
            Prediction.objects.filter(status=Prediction.Status.RECEIVED)
            .filter(Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True))
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return 0
        Prediction.objects.filter(id__in=ids).update(enqueued_at=clock.now())
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
