"""Route received predictions by their model's active policy version."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from reviewapp.core import clock, registry, state
from reviewapp.core.audit import Actor, audit_record_many, build_event
from reviewapp.core.models import AuditEvent
from reviewapp.governance.compiled import compile_policy
from reviewapp.governance.conditions import extract_fields
from reviewapp.governance.rules import PredictionFacts, facts_record, referenced_paths
from reviewapp.governance.selectors import active_policies, review_quality_settings
from reviewapp.governance.shadow import shadow_record
from reviewapp.models import ModelMode, Prediction, PredictionPayload, Purpose, ReviewItem

from .review_state import PREDICTION

ROUTER = Actor.system("router")
# What routing writes on each prediction besides its status.
_ROUTE_FIELDS = [
    "routed",
    "reason_codes",
    "reason_details",
    "threshold",
    "policy_version_id",
    "policy_hash",
    "fallback",
    "routed_at",
    "routing_mode",
    "routing_facts",
]
# The data-quality check (reviewapp/failsafe registers it; the queue imports nothing from
# failsafe): called once per chunk with the chunk's model slugs, it answers {slug: check},
# where ``check(input) -> list of findings`` reads the model's learned feature profile.
DATA_QUALITY_HOOK = "queue.data_quality_checks"
# Suggestion masking (review quality): which routed items hide the model's answer. Module-level
# so tests (and a replay of a run) can seed it: ``routing.MASK_RANDOM.seed(n)``.
MASK_RANDOM = random.Random()


_LOAD_FIELDS = [
    "id",
    "external_id",
    "label",
    "confidence",
    "top_scores",
    "received_at",
    "status",
    "model__slug",
    "model__criticality",
    "request_id",
    "submitted_by__name",
]


def modes_of(model_ids: set[int]) -> dict[int, tuple[str, float]]:
    """{model id: (mode, halted sample rate)} of the models not in normal mode (one query;
    a model without a mode row is normal)."""
    rows = ModelMode.objects.filter(model_id__in=model_ids).exclude(mode="normal")
    return {
        m: (mode, rate) for m, mode, rate in rows.values_list("model_id", "mode", "sample_rate")
    }


def data_quality_checks(model_slugs: set[str]) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    for found in registry.run_hooks(DATA_QUALITY_HOOK, model_slugs=model_slugs):
        checks.update(found or {})
    return checks


def _write_decisions(predictions: list[Prediction], targets: dict[int, str]) -> set[int]:
    """Store the decisions of a routed chunk through the prediction machine's "route" event.

    One ``UPDATE … FROM (VALUES …)`` per 500 rows (core's apply_many), conditional on the rows
    still being `received`; returns the ids it changed. No event per prediction: the caller
    writes one for the chunk.
    """
    rows = {
        p.pk: {"status": targets[p.pk], **{name: getattr(p, name) for name in _ROUTE_FIELDS}}
        for p in predictions
    }
    return set(state.apply_many(PREDICTION, event="route", rows=rows))


def facts_for(
    prediction: Prediction,
    *,
    paths: tuple[str, ...] = (),
    envelope: tuple[dict, dict] | None = None,
    mode: tuple[str, float] = ("normal", 0.0),
    anomalies: tuple[dict, ...] = (),
) -> PredictionFacts:
    """What the rules read of a prediction and its model, as they are now.

    ``paths`` are the input/output paths the policy's segments read (``referenced_paths``);
    ``envelope`` is the row's (input, output) when the caller loaded them in bulk, else they
    are read from the row.
    """
    signals = prediction.signals or {}
    ood = signals.get("ood_score")
    fields = {}
    if paths:
        input_, output = envelope if envelope is not None else (prediction.input, prediction.output)
        fields = extract_fields(paths, input_, output)
    return PredictionFacts(
        model_slug=prediction.model.slug,
        external_id=prediction.external_id,
        label=prediction.label,
        confidence=prediction.confidence,
        criticality=prediction.model.criticality,
        ood_score=float(ood) if ood is not None else None,
        drift_features=tuple(signals.get("drift_features") or ()),
        fields=fields,
        mode=mode[0],
        mode_sample_rate=mode[1],
        anomalies=anomalies,
        top_scores=prediction.top_scores or {},
    )


def predictions_route_waiting(*, model_id: int, chunk: int, max_chunks: int = 20) -> int:
    """Route the waiting predictions of one model, oldest first, a chunk per transaction.

    The coalesced routing task's use case (services/route_coalesce.py): one message says
    "model X has new rows", and this takes every `received` row of X that no other worker
    holds (SKIP LOCKED), until a chunk comes back short. At most ``max_chunks`` chunks per
    call, so one message cannot keep a worker forever; later messages and the sweeper take
    the rest. Returns how many were routed.
    """
    routed = 0
    for _ in range(max_chunks):
        taken = predictions_route(model_id=model_id, fill_to=chunk)
        routed += taken
        if taken < chunk:
            break
    return routed


def predictions_route(
    *, ids: Sequence[int] = (), fill_to: int = 0, model_id: int | None = None
) -> int:
    """Route the given predictions that are still waiting. Returns how many were routed now.

    With ``fill_to``, the chunk is topped up with the oldest other waiting predictions (of
    ``model_id`` only, when given): under a stream of single requests a worker then routes
    many per transaction, and the tasks of rows routed early find nothing left to do.

    Exactly once: only rows still `received` are taken, locked with SKIP LOCKED on PostgreSQL
    (a redelivered task racing the original skips them) and under SQLite's single writer
    elsewhere; the status change commits together with the review items and the audit event.
    """
    ids = list(ids)
    waiting = Prediction.objects.filter(status=Prediction.Status.RECEIVED)
    if model_id is not None:
        waiting = waiting.filter(model_id=model_id)
    locking = connection.vendor == "postgresql"
    with transaction.atomic():
        if ids:
            wanted = Q(id__in=ids)
            if fill_to > len(ids):
                oldest = waiting.order_by("id").values("id")[: fill_to - len(ids)]
                wanted |= Q(id__in=oldest)
            qs = waiting.filter(wanted).order_by("id")
        else:
            # The oldest waiting rows that no other worker holds, in one statement
            # (… ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED): concurrent workers take
            # disjoint chunks instead of queueing on each other.
            qs = waiting.order_by("id")[:fill_to]
        if locking:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        # Only what the rules read: the envelope's input and output stay in the database.
        # Signals come from the payload side table inside the same query (payload_signals).
        predictions = list(
            qs.select_related("model", "submitted_by")
            .only(*_LOAD_FIELDS)
            .with_payload_values("signals")
        )
        if not predictions:
            return 0
        policies = active_policies({p.model.slug for p in predictions})
        paths = {slug: referenced_paths(policy.rules) for slug, policy in policies.items()}
        # Each policy read once for the chunk (the same compiled form replay and evidence use).
        compiled = {slug: compile_policy(policy.rules) for slug, policy in policies.items()}
        no_policy = compile_policy(None)
        modes = modes_of({p.model_id for p in predictions})
        checks = data_quality_checks({p.model.slug for p in predictions})
        # Each model's suggestion-mask rate, read once for the chunk (review quality).
        mask_rates = {
            slug: float(found["suggestion_mask_rate"])
            for slug, found in review_quality_settings({p.model.slug for p in predictions}).items()
        }
        # Segment conditions read the envelope, and the data-quality check reads the input:
        # load input and output only for the rows whose policy has segments or whose model has
        # a learned profile, and keep only the values at the paths a segment names.
        envelopes = {}
        if needing := [
            p.pk for p in predictions if paths.get(p.model.slug) or p.model.slug in checks
        ]:
            # The output only when a segment may read it (the check reads the input alone).
            with_output = any(paths.get(p.model.slug) for p in predictions)
            rows = PredictionPayload.objects.filter(prediction_id__in=needing)
            if with_output:
                envelopes = {
                    pk: (i, o) for pk, i, o in rows.values_list("prediction_id", "input", "output")
                }
            else:
                envelopes = {pk: (i, {}) for pk, i in rows.values_list("prediction_id", "input")}
        now = clock.now()
        items: list[ReviewItem] = []
        targets: dict[int, str] = {}
        for prediction in predictions:
            slug = prediction.model.slug
            policy = policies.get(slug)
            envelope = envelopes.get(prediction.pk)
            check = checks.get(slug)
            anomalies = tuple(check(envelope[0])) if check is not None and envelope else ()
            mode = modes.get(prediction.model_id, ("normal", 0.0))
            facts = facts_for(
                prediction,
                paths=paths.get(slug, ()),
                envelope=envelope,
                mode=mode,
                anomalies=anomalies,
            )
            decision = compiled.get(slug, no_policy).decide(facts)
            prediction.routing_facts = facts_record(facts)
            prediction.routed = decision.routed
            prediction.reason_codes = decision.reasons
            prediction.reason_details = decision.details
            prediction.threshold = decision.threshold
            prediction.policy_version = policy
            prediction.policy_hash = policy.rules_hash if policy else ""
            prediction.fallback = decision.fallback
            prediction.routed_at = now
            prediction.routing_mode = facts.mode
            if decision.halted:
                targets[prediction.pk] = Prediction.Status.FALLBACK
            elif decision.routed:
                targets[prediction.pk] = Prediction.Status.IN_REVIEW
            else:
                targets[prediction.pk] = Prediction.Status.PASSED
            if decision.routed or decision.mode_sample:
                items.append(
                    ReviewItem(
                        prediction=prediction,
                        model=prediction.model,
                        purpose=Purpose.ROUTED if decision.routed else Purpose.MODE_SAMPLE,
                        # Only routed items are masked; samples and rechecks never are.
                        suggestion_masked=decision.routed
                        and mask_rates.get(slug, 0.0) > 0
                        and MASK_RANDOM.random() < mask_rates[slug],
                        priority=decision.priority,
                        sla_due_at=prediction.received_at
                        + dt.timedelta(minutes=decision.sla_minutes),
                        created_at=now,
                        updated_at=now,
                    )
                )
        changed = _write_decisions(predictions, targets)
        if len(changed) < len(predictions):
            # A safety net (the rows are locked on PostgreSQL, SQLite has one writer): a row
            # that left `received` since it was read was routed by someone else, whose item
            # and event these are.
            predictions = [p for p in predictions if p.pk in changed]
            items = [i for i in items if i.prediction_id in changed]
            if not predictions:
                return 0
        routed_ids = [p.pk for p in predictions if p.routed]
        passed_ids = [p.pk for p in predictions if targets[p.pk] == Prediction.Status.PASSED]
        fallback_ids = [p.pk for p in predictions if targets[p.pk] == Prediction.Status.FALLBACK]
        masked_ids = [i.prediction_id for i in items if i.suggestion_masked]
        ReviewItem.objects.bulk_create(items, batch_size=500)
        shadow_record(predictions, now=now)
        # Who sent these rows is audited here rather than by each request (services/ingest.py),
        # built first so the history reads "ingested" before "routed".
        ingested = ingested_events(predictions)
        routed_event = build_event(
            actor=ROUTER,
            verb="queue.prediction.routed",
            target=("reviewapp.prediction", f"{predictions[0].pk}..{predictions[-1].pk}"),
            data={
                "to_review": routed_ids,
                "passed": passed_ids,
                **({"fallback": fallback_ids} if fallback_ids else {}),
                **({"masked": masked_ids} if masked_ids else {}),
                **({"modes": {str(m): v[0] for m, v in modes.items()}} if modes else {}),
                "policies": {slug: [p.version, p.rules_hash] for slug, p in policies.items()},
            },
            subjects={"reviewapp.prediction": [p.pk for p in predictions]},
        )
        # Both events and all their subject rows in one INSERT each.
        audit_record_many([*ingested, routed_event])
    return len(predictions)


def ingested_events(predictions: list[Prediction]) -> list[AuditEvent]:
    """The "ingested" event of a chunk's rows that service accounts sent: one per sender, naming
    each row as a subject, with the span of receipt times and the request id of each row.
    Rows stored by a system actor were audited when stored."""
    by_sender: dict[int, list[Prediction]] = {}
    for prediction in predictions:
        if prediction.submitted_by_id is not None:
            by_sender.setdefault(prediction.submitted_by_id, []).append(prediction)
    events = []
    for account_id, rows in by_sender.items():
        ids = [p.pk for p in rows]
        requests: dict[str, list[int]] = {}
        for p in rows:
            requests.setdefault(p.request_id, []).append(p.pk)
        received = sorted(p.received_at for p in rows)
        event = build_event(
            actor=Actor.service(rows[0].submitted_by.name, account_id),
            verb="queue.prediction.ingested",
            target=("reviewapp.prediction", ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]}"),
            data={
                "count": len(ids),
                "ids": ids,
                "received": [received[0].isoformat(), received[-1].isoformat()],
                "requests": requests,
            },
            subjects={"reviewapp.prediction": ids},
        )
        if len(requests) == 1:
            # One request sent them all: the event carries its id, as if written by it.
            event.request_id = next(iter(requests))
        events.append(event)
    return events
