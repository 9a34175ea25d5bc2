"""Exact replay of past routing decisions.

A routed prediction carries the facts routing read (``Prediction.routing_facts``) and the
policy version that routed it. Replay runs the same pure decision live routing runs (the
compiled policy, ``compiled.compile_policy``, held to ``rules.decide`` by tests) on those two
alone, never on the live model row or the raw input, and compares the result with what was
recorded.
Predictions routed before the facts were stored are replayed from their live row instead, and
say so (``facts: "reconstructed"``).

The one governance module besides evidence that reads the queue (see the import-linter
contracts in pyproject.toml): governance's models and rules import nothing from it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.db.models import prefetch_related_objects
from django.utils.translation import gettext as _

from reviewapp.core.db_router import replica_iter
from reviewapp.core.exceptions import Conflict
from reviewapp.core.time import iso_utc
from reviewapp.models import Prediction, Purpose, ReviewItem
from reviewapp.services.routing import facts_for

from .compiled import CompiledPolicy, compile_policy
from .models import PolicyVersion
from .rules import NORMAL, facts_from_record, referenced_paths, rules_hash

STORED = "stored"
RECONSTRUCTED = "reconstructed"
CHUNK = 500


@dataclass(frozen=True)
class RoutingOutcome:
    """One side of the comparison: what routing wrote, or what replay computes."""

    routed: bool
    reasons: list[str]
    details: dict[str, Any]
    threshold: float | None
    fallback: dict[str, Any] | None
    policy_hash: str
    # The routed item's deadline (received + SLA minutes). Priority is not compared: the SLA
    # sweep and leads change it after routing.
    sla_due_at: dt.datetime | None
    # The operating mode it was routed under, and for a halted model whether it fell in the
    # share queued for review (a ``mode_sample`` item).
    mode: str = NORMAL
    mode_sample: bool = False


@dataclass(frozen=True)
class RoutingReplay:
    prediction_id: int
    model_slug: str
    policy_version: int | None
    facts: str  # STORED or RECONSTRUCTED
    recorded: RoutingOutcome
    replayed: RoutingOutcome
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (times as ISO 8601 UTC), for an API answer or a page."""

        def side(outcome: RoutingOutcome) -> dict[str, Any]:
            data = asdict(outcome)
            data["sla_due_at"] = iso_utc(data["sla_due_at"])
            return data

        return {
            "prediction": self.prediction_id,
            "model": self.model_slug,
            "policy_version": self.policy_version,
            "facts": self.facts,
            "recorded": side(self.recorded),
            "replayed": side(self.replayed),
            "matches": self.matches,
            "differences": list(self.differences),
        }


def routing_replay(prediction: Prediction) -> RoutingReplay:
    """Replay one prediction's routing decision; Conflict (409) if it was never routed."""
    if prediction.routed_at is None:
        raise Conflict(_("This prediction has not been routed yet."), code="not_routed")
    [result] = routing_replay_many([prediction])
    return result


def routing_replay_many(predictions: Iterable[Prediction]) -> list[RoutingReplay]:
    """Replay routed predictions in a few queries: their policy versions and routed items."""
    predictions = [p for p in predictions if p.routed_at is not None]
    version_ids = {p.policy_version_id for p in predictions if p.policy_version_id}
    versions = PolicyVersion.objects.in_bulk(version_ids)
    # The items routing made: the routed one (its deadline) and a halted model's sample. Other
    # purposes (shift samples, rechecks, second reviews) came later and are no routing record.
    deadlines: dict[int, dt.datetime] = {}
    sampled: set[int] = set()
    for pk, purpose, due in ReviewItem.objects.filter(
        prediction_id__in=[p.pk for p in predictions],
        purpose__in=(Purpose.ROUTED, Purpose.MODE_SAMPLE),
    ).values_list("prediction_id", "purpose", "sla_due_at"):
        if purpose == Purpose.ROUTED:
            deadlines[pk] = due
        else:
            sampled.add(pk)
    compiled = {pk: compile_policy(version.rules) for pk, version in versions.items()}
    no_policy = compile_policy(None)
    return [
        _replay(
            p,
            versions.get(p.policy_version_id),
            compiled.get(p.policy_version_id, no_policy),
            deadlines.get(p.pk),
            mode_sampled=p.pk in sampled,
        )
        for p in predictions
    ]


def routing_replay_range(
    *,
    model_slug: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    chunk: int = CHUNK,
) -> Iterator[RoutingReplay]:
    """Replay every prediction of a model routed in [since, until), in id order, ``chunk``
    rows at a time (bounded memory on any range). Read from the replica when one is configured:
    each chunk's predictions and their items come from one copy, and an item is committed with
    its routed prediction, so a lagging replica misses whole predictions, never half of one.
    (One prediction's replay, ``routing_replay``, stays on the primary: its row was read there.)"""
    return replica_iter(_replay_range(model_slug=model_slug, since=since, until=until, chunk=chunk))


def _replay_range(
    *, model_slug: str, since: dt.datetime | None, until: dt.datetime | None, chunk: int
) -> Iterator[RoutingReplay]:
    rows = Prediction.objects.filter(model__slug=model_slug, routed_at__isnull=False)
    if since is not None:
        rows = rows.filter(routed_at__gte=since)
    if until is not None:
        rows = rows.filter(routed_at__lt=until)
    rows = rows.select_related("model").order_by("id")
    last = 0
    while batch := list(rows.filter(id__gt=last)[:chunk]):
        last = batch[-1].pk
        # The payload (signals, segment paths) only for rows routed before facts were stored,
        # one query per chunk then; replay reads routing_facts, kept when a payload is removed.
        if old := [p for p in batch if p.routing_facts is None]:
            prefetch_related_objects(old, "payloads")
        yield from routing_replay_many(batch)


def _replay(
    prediction: Prediction,
    policy: PolicyVersion | None,
    compiled: CompiledPolicy,
    sla_due_at: dt.datetime | None,
    *,
    mode_sampled: bool = False,
) -> RoutingReplay:
    rules = policy.rules if policy is not None else None
    if prediction.routing_facts is not None:
        facts, source = facts_from_record(prediction.routing_facts), STORED
    else:
        facts, source = facts_for(prediction, paths=referenced_paths(rules)), RECONSTRUCTED
    decision = compiled.decide(facts)
    recorded = RoutingOutcome(
        routed=bool(prediction.routed),
        reasons=list(prediction.reason_codes or []),
        details=dict(prediction.reason_details or {}),
        threshold=prediction.threshold,
        fallback=prediction.fallback,
        policy_hash=prediction.policy_hash,
        sla_due_at=sla_due_at,
        # Rows routed before modes existed have no routing_mode: they were normal.
        mode=prediction.routing_mode or NORMAL,
        mode_sample=mode_sampled,
    )
    replayed = RoutingOutcome(
        routed=decision.routed,
        reasons=list(decision.reasons),
        details=dict(decision.details),
        threshold=decision.threshold,
        fallback=decision.fallback,
        # Recomputed from the stored rules, so a version whose rules changed under it shows.
        policy_hash=rules_hash(rules) if rules is not None else "",
        sla_due_at=prediction.received_at + dt.timedelta(minutes=decision.sla_minutes)
        if decision.routed
        else None,
        mode=facts.mode,
        mode_sample=decision.mode_sample,
    )
    differences = tuple(
        name
        for name in (
            "routed",
            "reasons",
            "details",
            "threshold",
            "fallback",
            "policy_hash",
            "mode",
            "mode_sample",
        )
        if getattr(recorded, name) != getattr(replayed, name)
    )
    # A routed prediction always has its item (created in routing's transaction, never
    # deleted): a missing one is a difference too.
    if recorded.routed and recorded.sla_due_at != replayed.sla_due_at:
        differences += ("sla_due_at",)
    if policy is not None and policy.model_slug != facts.model_slug:
        differences += ("policy_version",)
    return RoutingReplay(
        prediction_id=prediction.pk,
        model_slug=facts.model_slug,
        policy_version=policy.version if policy is not None else None,
        facts=source,
        recorded=recorded,
        replayed=replayed,
        differences=differences,
    )
