"""The routing side of shadow periods: decide each routed prediction again under the
proposals in shadow for its model, on the same facts, and record both outcomes.

Live routing (``reviewapp/services/routing.py``) makes one call, :func:`shadow_record`, per
routed chunk. It costs nothing when no request is in shadow: the proposals are looked up at
most once per ``GOVERNANCE_SHADOW_LOOKUP_SECONDS`` per process (so a shadow period that just
started is seen by every worker within that time; rows for one that just ended are dropped by
the service). Recording runs in a savepoint and never fails the routing of the chunk.

Like replay and evidence, this module reads the queue (the envelope of predictions whose
proposal reads input/output paths the active policy did not): see the import-linter contracts.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import transaction

from reviewapp.models import Prediction, PredictionPayload

from .conditions import extract_fields
from .rules import decide, facts_from_record, referenced_paths
from .selectors import shadow_proposals
from .services.shadow import ShadowRow, shadow_outcomes_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proposal:
    change_request_id: int
    rules: dict[str, Any]
    paths: tuple[str, ...]


_cache: dict[str, Any] = {"at": None, "proposals": {}}


def proposals_in_shadow() -> dict[str, list[Proposal]]:
    """{model slug: its proposals in shadow}, looked up at most once per
    GOVERNANCE_SHADOW_LOOKUP_SECONDS in this process (0: every call)."""
    ttl = settings.GOVERNANCE_SHADOW_LOOKUP_SECONDS
    clock = time.monotonic()
    if ttl <= 0 or _cache["at"] is None or clock - _cache["at"] >= ttl:
        _cache["proposals"] = {
            slug: [Proposal(pk, rules, referenced_paths(rules)) for pk, rules in found]
            for slug, found in shadow_proposals().items()
        }
        _cache["at"] = clock
    return _cache["proposals"]


def clear_cache() -> None:
    _cache["at"] = None


def shadow_record(predictions: Sequence[Prediction], *, now: dt.datetime) -> int:
    """Record, for each prediction just routed (``routing_facts`` and ``routed`` set) whose
    model has proposals in shadow, what each proposal decides on the same facts."""
    proposals = proposals_in_shadow()
    if not proposals:
        return 0
    mine = [p for p in predictions if p.model.slug in proposals and p.routing_facts]
    if not mine:
        return 0
    try:
        with transaction.atomic():
            return shadow_outcomes_record(rows=_decide_all(mine, proposals), now=now)
    except Exception:
        # A shadow period is an observation: it must never stop live routing.
        logger.exception("Shadow outcomes of %d predictions not recorded", len(mine))
        return 0


def _decide_all(
    predictions: list[Prediction], proposals: dict[str, list[Proposal]]
) -> list[ShadowRow]:
    # Segment conditions the proposal reads but the active policy did not are not in the
    # stored facts: read those values from the envelope (one query, only then).
    needing = [p.pk for p in predictions if any(pr.paths for pr in proposals[p.model.slug])]
    envelopes = {}
    if needing:
        envelopes = {
            pk: (input_, output)
            for pk, input_, output in PredictionPayload.objects.filter(
                prediction_id__in=needing
            ).values_list("prediction_id", "input", "output")
        }
    rows = []
    for prediction in predictions:
        facts = facts_from_record(prediction.routing_facts)
        for proposal in proposals[prediction.model.slug]:
            shadow_facts = facts
            if proposal.paths and prediction.pk in envelopes:
                input_, output = envelopes[prediction.pk]
                fields = {**facts.fields, **extract_fields(proposal.paths, input_, output)}
                shadow_facts = replace(facts, fields=fields)
            decision = decide(proposal.rules, shadow_facts)
            rows.append(
                ShadowRow(
                    change_request_id=proposal.change_request_id,
                    prediction_id=prediction.pk,
                    routed=decision.routed,
                    reasons=tuple(decision.reasons),
                    recorded_routed=bool(prediction.routed),
                )
            )
    return rows
