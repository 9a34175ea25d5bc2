"""The payload side table's upkeep: monthly partitions created ahead (PostgreSQL), and each
model's payload retention policy (export what is dropped, then drop it), both run by beat.

The routing record (Prediction: status, reason codes, policy, ``routing_facts``) is never
touched here: replay and evidence read it, not the payload (docs/architecture.md).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.time import iso_utc
from reviewapp.models import MLModel, Prediction, PredictionPayload, partitions

logger = logging.getLogger(__name__)
MAINTENANCE = Actor.system("payload-maintenance")
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired


def payload_partitions_ensure(
    *, now: dt.datetime | None = None, months_ahead: int | None = None, actor: Actor = MAINTENANCE
) -> list[str]:
    """Create the payload table's partitions for this month and the next ``months_ahead``
    (PAYLOAD_PARTITIONS_AHEAD) that do not exist yet; returns the months created (YYYY-MM).

    Idempotent, and audited only when it created something. Nothing to do off PostgreSQL
    (a plain table) or before the table is partitioned. A row received for a month nobody
    created lands in the DEFAULT partition, so an insert never fails for want of one.
    """
    if connection.vendor != "postgresql":
        return []
    ahead = settings.PAYLOAD_PARTITIONS_AHEAD if months_ahead is None else months_ahead
    month = partitions.month_start(now or clock.now())
    wanted = [month]
    for _ in range(ahead):
        wanted.append(month := partitions.next_month(month))
    created: list[str] = []
    with transaction.atomic(), connection.cursor() as cursor:
        # One creator at a time (two beat runs, or beat beside a manual run).
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [partitions.PAYLOAD_TABLE])
        for month in wanted:
            if partitions.create_month_partition(cursor, month):
                created.append(f"{month:%Y-%m}")
        if created:
            audit_record(
                actor=actor,
                verb="queue.payload_partition.created",
                target=("reviewapp.predictionpayload", partitions.PAYLOAD_TABLE),
                data={"months": created},
            )
    if created:
        logger.info("Created payload partitions for %s.", ", ".join(created))
    return created


# --- retention ------------------------------------------------------------------------------
@dataclass
class RetentionExport:
    """What a model's run exported before dropping it (and names in the audit event)."""

    model_id: int
    model_slug: str
    cutoff: dt.datetime
    last_id: int = 0
    count: int = 0
    months: set[str] = field(default_factory=set)
    path: str = ""
    sha256: str = ""


def payload_retention_apply(
    *, now: dt.datetime | None = None, actor: Actor = MAINTENANCE
) -> list[dict[str, Any]]:
    """Apply every model's payload retention policy (``payload_retention_days``, a governed
    model setting; null keeps payloads forever). Returns one summary per model that lost rows.

    For each model, the payload rows received before ``now - days`` are first exported
    (JSONL, gzip, under PAYLOAD_EXPORT_DIR, with its sha256 and row count), then removed, a
    short transaction per step: on PostgreSQL a monthly partition every row of which is past
    its model's retention is detached and dropped whole (skipped, and its rows deleted in
    chunks instead, if its lock is not granted within PAYLOAD_DETACH_LOCK_TIMEOUT); the
    other expired rows are deleted in chunks, a transaction each. The
    predictions keep their routing record and get ``payload_removed_at``; one audit event per
    model names the count, months, export file and its sha256. A second run finds nothing.
    """
    now = now or clock.now()
    exports = []
    for model in MLModel.objects.filter(payload_retention_days__isnull=False).order_by("id"):
        cutoff = now - dt.timedelta(days=model.payload_retention_days)
        export = _export_expired(model, cutoff, now)
        if export.count:
            exports.append(export)
    if not exports:
        return []
    # Each step commits on its own, so the payload table is never locked for longer than one
    # partition's detach or one chunk's delete: ingest goes on while a run works through
    # months of rows. A run cut short leaves rows that the next run exports and removes.
    for export in exports:
        # The routing record stays; it only learns when its payload went (before any drop).
        with transaction.atomic():
            Prediction.objects.filter(
                pk__in=_expired(export).values("prediction_id"), payload_removed_at__isnull=True
            ).update(payload_removed_at=now)
    dropped = _drop_whole_partitions(exports)
    summaries = []
    for export in exports:
        deleted = _delete_in_chunks(_expired(export))
        summary = {
            "model": export.model_slug,
            "retention_days": (now - export.cutoff).days,
            "cutoff": iso_utc(export.cutoff),
            "count": export.count,
            "deleted_rows": deleted,
            "months": sorted(export.months),
            "partitions_dropped": sorted(dropped),
            "export": export.path,
            "sha256": export.sha256,
        }
        audit_record(
            actor=actor,
            verb="queue.prediction_payload.removed",
            target=MLModel(pk=export.model_id, slug=export.model_slug),
            data=summary,
        )
        summaries.append(summary)
    for summary in summaries:
        logger.info(
            "Payload retention: %s rows of %s removed (export %s).",
            summary["count"],
            summary["model"],
            summary["export"],
        )
    return summaries


def _expired(export: RetentionExport) -> Any:
    """The model's payload rows past its retention, as exported (no later row: ``last_id``)."""
    return PredictionPayload.objects.filter(
        model_id=export.model_id, received_at__lt=export.cutoff, prediction_id__lte=export.last_id
    )


def _export_expired(model: MLModel, cutoff: dt.datetime, now: dt.datetime) -> RetentionExport:
    export = RetentionExport(model_id=model.pk, model_slug=model.slug, cutoff=cutoff)
    rows = (
        PredictionPayload.objects.filter(model_id=model.pk, received_at__lt=cutoff)
        .order_by("prediction_id")
        .values_list("prediction_id", "received_at", "input", "output", "signals", "lineage")
    )
    if not rows.exists():
        return export
    folder = Path(settings.PAYLOAD_EXPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{model.slug}-{now:%Y%m%dT%H%M%S%fZ}.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for line in _export_lines(rows.iterator(chunk_size=settings.PAYLOAD_RETENTION_CHUNK)):
            pk, received_at, text = line
            out.write(text)
            export.count += 1
            export.last_id = max(export.last_id, pk)
            export.months.add(f"{received_at:%Y-%m}")
    digest = hashlib.sha256()
    with path.open("rb") as done:
        for block in iter(lambda: done.read(1 << 20), b""):
            digest.update(block)
    export.path, export.sha256 = str(path), digest.hexdigest()
    manifest = {"model": model.slug, "rows": export.count, "sha256": export.sha256}
    path.with_suffix(".manifest.json").write_text(json.dumps(manifest) + "\n")
    return export


def _export_lines(rows: Any) -> Iterator[tuple[int, dt.datetime, str]]:
    for pk, received_at, input_, output, signals, lineage in rows:
        record = {
            "prediction_id": pk,
            "received_at": iso_utc(received_at),
            "input": input_,
            "output": output,
            "signals": signals,
            "lineage": lineage,
        }
        yield pk, received_at, json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


def _delete_in_chunks(expired: Any) -> int:
    chunk = settings.PAYLOAD_RETENTION_CHUNK
    deleted = 0
    while keys := list(
        expired.order_by("prediction_id").values_list("prediction_id", flat=True)[:chunk]
    ):
        with transaction.atomic():
            count, _ = expired.filter(prediction_id__in=keys).delete()
        deleted += count
    return deleted


def _drop_whole_partitions(exports: list[RetentionExport]) -> list[str]:
    """PostgreSQL: detach and drop the monthly partitions every row of which is expired (past
    its own model's retention and exported); returns their months. Elsewhere nothing."""
    if connection.vendor != "postgresql":
        return []
    expired_sql = " OR ".join(
        "(model_id = %s AND received_at < %s AND prediction_id <= %s)" for _ in exports
    )
    params: list[Any] = [v for e in exports for v in (e.model_id, e.cutoff, e.last_id)]
    newest_cutoff = max(e.cutoff for e in exports)
    dropped = []
    with connection.cursor() as cursor:
        for month, name in sorted(partitions.existing_month_partitions(cursor).items()):
            if partitions.month_bounds(month)[1] > newest_cutoff:
                continue
            cursor.execute(f'SELECT EXISTS (SELECT 1 FROM "{name}")')  # noqa: S608
            if not cursor.fetchone()[0]:
                continue
            cursor.execute(
                f'SELECT EXISTS (SELECT 1 FROM "{name}" WHERE NOT ({expired_sql}))',  # noqa: S608
                params,
            )
            if cursor.fetchone()[0]:
                continue
            if _detach_and_drop(cursor, name):
                dropped.append(f"{month:%Y-%m}")
    return dropped


def _detach_and_drop(cursor: Any, name: str) -> bool:
    """Detach and drop one partition in its own transaction. DETACH locks the whole payload
    table, so it waits at most PAYLOAD_DETACH_LOCK_TIMEOUT for a long reader or writer (ingest
    would queue behind a waiting DETACH); on a timeout the partition stays and its rows are
    deleted in chunks. (DETACH ... CONCURRENTLY is not allowed beside a DEFAULT partition.)"""
    timeout_ms = int(settings.PAYLOAD_DETACH_LOCK_TIMEOUT * 1000)
    try:
        with transaction.atomic():
            cursor.execute(f"SET LOCAL lock_timeout = {timeout_ms}")
            cursor.execute(f'ALTER TABLE "{partitions.PAYLOAD_TABLE}" DETACH PARTITION "{name}"')
            cursor.execute(f'DROP TABLE "{name}"')
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE:
            raise
        logger.warning("Payload retention: %s was busy; its rows are deleted in chunks.", name)
        return False
    return True
