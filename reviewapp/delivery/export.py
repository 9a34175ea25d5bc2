"""Label export: the decision rows a filter selects, streamed as JSON Lines or CSV.

Rows come from a server-side iterator in chunks and are written one at a time, so memory stays
flat whatever the export size.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import Q, QuerySet, prefetch_related_objects
from django.http import StreamingHttpResponse

from reviewapp.core import clock
from reviewapp.core.db_router import replica_iter
from reviewapp.models import Decision
from reviewapp.selectors.purposes import correction_q
from reviewapp.selectors.visibility import export_rows_visible_to

from .selectors import LABEL_COLUMNS, export_row, label_annotations, label_decisions

CHUNK_SIZE = 1000
CSV_COLUMNS = [
    "decision_id",
    "prediction_id",
    "model",
    "model_version",
    "external_id",
    "input",
    "model_output",
    "model_label",
    "model_confidence",
    "final_label",
    "final_output",
    "outcome",
    "reviewer",
    "reason",
    "failure_mode_tags",
    "decided_at",
    "policy_version",
    "policy_hash",
    # Appended last, so readers of the columns above by position keep working.
    "purpose",
    # --- labels (review quality): appended after purpose, for the same reason ---
    *LABEL_COLUMNS,
]
_JSON_COLUMNS = {
    "input",
    "model_output",
    "final_output",
    "failure_mode_tags",
    "routing_reason",
    "double_reviewed",
    "adjudicated",
}
# An override is "overridden", unless it corrects a prediction that had passed: "corrected".
OUTCOME_FILTERS = {
    "accepted": Q(action=Decision.Action.ACCEPT),
    "overridden": Q(action=Decision.Action.OVERRIDE) & ~correction_q(),
    "corrected": correction_q(),
}


def export_queryset(*, filters: dict[str, Any], principal: Any) -> QuerySet[Decision]:
    """The rows ``principal`` may export (the queue's visibility rule), filtered: the labels
    (``selectors.label_decisions``: routed items, samples and rechecks; never gold,
    qualification or a second review)."""
    qs = export_rows_visible_to(principal, label_decisions())
    if filters.get("model"):
        qs = qs.filter(model=filters["model"])
    if filters.get("since"):
        qs = qs.filter(decided_at__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(decided_at__lt=filters["until"])
    if filters.get("outcome"):
        qs = qs.filter(OUTCOME_FILTERS[filters["outcome"]])
    return qs.order_by("id")


def _rows(qs: QuerySet[Decision]) -> Iterator[dict[str, Any]]:
    """Export rows, a chunk at a time: the trust annotations are read once per chunk."""
    chunk: list[Decision] = []
    for decision in qs.iterator(chunk_size=CHUNK_SIZE):
        chunk.append(decision)
        if len(chunk) == CHUNK_SIZE:
            yield from _chunk_rows(chunk)
            chunk = []
    if chunk:
        yield from _chunk_rows(chunk)


def _chunk_rows(chunk: list[Decision]) -> Iterator[dict[str, Any]]:
    annotations = label_annotations(chunk)
    # The predictions' payloads (input, output: the side table), one query per chunk.
    prefetch_related_objects([decision.prediction for decision in chunk], "payloads")
    for decision in chunk:
        yield export_row(decision, annotations=annotations[decision.pk])


def _jsonl(qs: QuerySet[Decision]) -> Iterator[bytes]:
    for row in _rows(qs):
        yield json.dumps(row, ensure_ascii=False).encode() + b"\n"


class _Line:
    """A file-like object whose write returns the line, for csv.writer in a generator."""

    def write(self, value: str) -> str:
        return value


def _csv(qs: QuerySet[Decision]) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(CSV_COLUMNS)
    for row in _rows(qs):
        yield writer.writerow(
            [
                json.dumps(row[c], ensure_ascii=False) if c in _JSON_COLUMNS else row[c]
                for c in CSV_COLUMNS
            ]
        )


def export_response(
    *, qs: QuerySet[Decision], fmt: str, model_slug: str = ""
) -> StreamingHttpResponse:
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"decisions-{model_slug or 'all'}-{stamp}.{fmt}"
    # The rows are read while the response streams, from the replica when one is configured
    # (a decision made seconds ago may be missing: the export is not a producer's state).
    if fmt == "csv":
        response = StreamingHttpResponse(
            replica_iter(_csv(qs)), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            replica_iter(_jsonl(qs)), content_type="application/x-ndjson"
        )
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
