"""Route received predictions by their model's active policy version."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record
from reviewapp.governance.rules import PredictionFacts, decide
from reviewapp.governance.selectors import active_policies
from reviewapp.models import Prediction, ReviewItem

ROUTER = Actor.system("router")
_ROUTE_FIELDS = [
    "status",
    "routed",
    "reason_codes",
    "reason_details",
    "threshold",
    "policy_version",
    "policy_hash",
    "fallback",
    "routed_at",
]


_LOAD_FIELDS = [
    "id",
    "external_id",
    "label",
    "confidence",
    "signals",
    "received_at",
    "status",
    "model__slug",
    "model__criticality",
]


def _write_decisions(predictions: list[Prediction]) -> None:
    """Store the decisions of a routed chunk.

    On PostgreSQL one `UPDATE ... FROM (VALUES ...)` statement: Django's bulk_update builds a
    CASE WHEN per field and row, which cost ~10 ms per row to compile (see docs/performance.md).
    Elsewhere the portable bulk_update.
    """
    if connection.vendor != "postgresql":
        Prediction.objects.bulk_update(predictions, _ROUTE_FIELDS, batch_size=500)
        return
    table = connection.ops.quote_name(Prediction._meta.db_table)
    row = (
        "(%s::bigint, %s::varchar, %s::boolean, %s::jsonb, %s::jsonb, %s::double precision,"
        " %s::bigint, %s::varchar, %s::jsonb, %s::timestamptz)"
    )
    for start in range(0, len(predictions), 500):
        part = predictions[start : start + 500]
        params: list = []
        for p in part:
            params += [
                p.pk,
                p.status,
                p.routed,
                json.dumps(p.reason_codes),
                json.dumps(p.reason_details),
                p.threshold,
                p.policy_version_id,
                p.policy_hash,
                None if p.fallback is None else json.dumps(p.fallback),
                p.routed_at,
            ]
        sql = (
            f"UPDATE {table} AS p SET status = v.status, routed = v.routed,"
            " reason_codes = v.reason_codes, reason_details = v.reason_details,"
            " threshold = v.threshold, policy_version_id = v.policy_version_id,"
            " policy_hash = v.policy_hash, fallback = v.fallback, routed_at = v.routed_at"
            f" FROM (VALUES {', '.join([row] * len(part))}) AS v(id, status, routed,"
            " reason_codes, reason_details, threshold, policy_version_id, policy_hash,"
            " fallback, routed_at) WHERE p.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def facts_for(prediction: Prediction) -> PredictionFacts:
    signals = prediction.signals or {}
    ood = signals.get("ood_score")
    return PredictionFacts(
        model_slug=prediction.model.slug,
        external_id=prediction.external_id,
        label=prediction.label,
        confidence=prediction.confidence,
        criticality=prediction.model.criticality,
        ood_score=float(ood) if ood is not None else None,
        drift_features=tuple(signals.get("drift_features") or ()),
    )


def predictions_route(*, ids: Sequence[int], fill_to: int = 0) -> int:
    """Route the given predictions that are still waiting. Returns how many were routed now.

    With ``fill_to``, the chunk is topped up with the oldest other waiting predictions: under
    a stream of single requests (one task each) a worker then routes many per transaction, and
    the tasks of rows routed early find nothing left to do.

    Exactly once: only rows still `received` are taken, locked with SKIP LOCKED on PostgreSQL
    (a redelivered task racing the original skips them) and under SQLite's single writer
    elsewhere; the status change commits together with the review items and the audit event.
    """
    ids = list(ids)
    waiting = Prediction.objects.filter(status=Prediction.Status.RECEIVED)
    wanted = Q(id__in=ids)
    if fill_to > len(ids):
        oldest = waiting.order_by("id").values("id")[: fill_to - len(ids)]
        wanted |= Q(id__in=oldest)
    with transaction.atomic():
        qs = waiting.filter(wanted)
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        # Only what the rules read: the envelope's input and output stay in the database.
        predictions = list(qs.select_related("model").only(*_LOAD_FIELDS).order_by("id"))
        if not predictions:
            return 0
        policies = active_policies({p.model.slug for p in predictions})
        now = timezone.now()
        items: list[ReviewItem] = []
        routed_ids: list[int] = []
        passed_ids: list[int] = []
        for prediction in predictions:
            policy = policies.get(prediction.model.slug)
            decision = decide(policy.rules if policy else None, facts_for(prediction))
            prediction.routed = decision.routed
            prediction.reason_codes = decision.reasons
            prediction.reason_details = decision.details
            prediction.threshold = decision.threshold
            prediction.policy_version = policy
            prediction.policy_hash = policy.rules_hash if policy else ""
            prediction.fallback = decision.fallback
            prediction.routed_at = now
            if decision.routed:
                prediction.status = Prediction.Status.IN_REVIEW
                items.append(
                    ReviewItem(
                        prediction=prediction,
                        model=prediction.model,
                        priority=decision.priority,
                        sla_due_at=prediction.received_at
                        + dt.timedelta(minutes=decision.sla_minutes),
                        created_at=now,
                        updated_at=now,
                    )
                )
                routed_ids.append(prediction.pk)
            else:
                prediction.status = Prediction.Status.PASSED
                passed_ids.append(prediction.pk)
        _write_decisions(predictions)
        ReviewItem.objects.bulk_create(items, batch_size=500)
        audit_record(
            actor=ROUTER,
            verb="queue.prediction.routed",
            target=("reviewapp.prediction", f"{predictions[0].pk}..{predictions[-1].pk}"),
            data={
                "to_review": routed_ids,
                "passed": passed_ids,
                "policies": {slug: [p.version, p.rules_hash] for slug, p in policies.items()},
            },
            subjects={"reviewapp.prediction": [p.pk for p in predictions]},
        )
    return len(predictions)
