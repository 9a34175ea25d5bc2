"""Evidence for a routing-policy change request, computed on the model's real traffic.

Replays the stored routing facts of the model's recent predictions under the base (active)
version and under the proposal with the same pure :func:`decide` live routing uses, and reads
what reviewers did with them. Nothing here writes: the change-request mechanism stores the
:class:`Evidence` (its ``hash`` is what an approval is bound to). Semantics and formulas:
docs/policies.md ("Evidence"); cost: docs/performance.md ("Evidence").

One of the two governance modules that read the queue (with replay; see the import-linter
contracts in pyproject.toml).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from django.conf import settings
from django.db.models import Count, TextField
from django.db.models.functions import Cast, TruncDate
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.db_router import reads_from_replica
from reviewapp.core.exceptions import NotFound, ServiceError
from reviewapp.core.models import AuditEvent
from reviewapp.models import Decision, MLModel, Prediction, ReviewItem
from reviewapp.selectors.purposes import LABELS
from reviewapp.services.routing import facts_for

from . import evidence_math as em
from .compiled import compile_policy
from .hashes import evidence_hash
from .models import PolicyVersion
from .rules import (
    HALTED,
    QA_SAMPLE,
    facts_record,
    referenced_paths,
    rules_hash,
    validate_rules,
)

FINAL = (Decision.Action.ACCEPT, Decision.Action.OVERRIDE)
CLAIMED_VERB = "queue.review_item.claimed"
NONE = "(none)"


@dataclass(frozen=True)
class Evidence:
    """The evidence of one proposal against one base version over one window.

    ``summary`` is JSON-ready and deterministic for the same data; ``timings`` (where the
    seconds went) is not part of the hash.
    """

    model_slug: str
    base_version: int | None
    base_rules_hash: str
    proposed_rules_hash: str
    window_start: dt.datetime
    window_end: dt.datetime
    summary: dict[str, Any]
    flags: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def hash(self) -> str:
        """What an approver's vote is bound to: base, proposal, window and result (summary and
        flags), through the one definition votes are checked against (``hashes.evidence_hash``)."""
        return evidence_hash(
            base_hash=self.base_rules_hash,
            proposed_hash=self.proposed_rules_hash,
            window_start=self.window_start,
            window_end=self.window_end,
            replay_result={"summary": self.summary, "flags": self.flags},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "model": self.model_slug,
            "base_version": self.base_version,
            "base_rules_hash": self.base_rules_hash,
            "proposed_rules_hash": self.proposed_rules_hash,
            "window": {"start": _iso(self.window_start), "end": _iso(self.window_end)},
            "flags": dict(self.flags),
            **self.summary,
            "timings": dict(self.timings),
        }


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _r(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


# --- reads (selectors: values only, no ORM instances on the hot path) -------------------------
# JSON columns are read as text and decoded here (orjson, several times faster than the
# stdlib); the routing time is read as its UTC date, as text (a handful of distinct values,
# parsed once each). With no column needing a converter Django hands the database's rows
# through untouched: converters were half the read time of a 200,000-row replay
# (docs/performance.md, "Evidence").
_ROW = (
    "id",
    "day",
    "facts_text",
    "routed",
    "reasons_text",
    "details_text",
    "threshold",
    "policy_version_id",
)


def routed_rows(
    *, model_id: int, since: dt.datetime, until: dt.datetime, limit: int, chunk: int
) -> Iterator[list[tuple]]:
    """The model's predictions routed in [since, until), newest first, ``chunk`` at a time by
    id (keyset), at most ``limit`` rows, as tuples in the order of ``_ROW`` (JSON as text)."""
    base = (
        Prediction.objects.filter(model_id=model_id, routed_at__gte=since, routed_at__lt=until)
        .annotate(
            day=Cast(TruncDate("routed_at", tzinfo=dt.UTC), TextField()),
            facts_text=Cast("routing_facts", TextField()),
            reasons_text=Cast("reason_codes", TextField()),
            details_text=Cast("reason_details", TextField()),
        )
        .order_by("-id")
    )
    last: int | None = None
    left = limit
    while left > 0:
        qs = base if last is None else base.filter(id__lt=last)
        rows = list(qs.values_list(*_ROW)[: min(chunk, left)])
        if not rows:
            return
        left -= len(rows)
        last = rows[-1][0]
        yield rows


def final_actions(*, model_id: int, low: int, high: int) -> dict[int, str]:
    """{prediction id: the action of its latest final, not undone decision} for ids in
    [low, high], of the items whose decision is a label (``purposes.LABELS``): a shift
    sample's override of a passed prediction is an error that escaped review; gold,
    qualification and second reviews are not labels of the model's traffic."""
    rows = (
        Decision.objects.filter(
            model_id=model_id,
            prediction_id__gte=low,
            prediction_id__lte=high,
            action__in=FINAL,
            undone_at__isnull=True,
            item__purpose__in=LABELS,
        )
        .order_by("id")
        .values_list("prediction_id", "action")
    )
    return dict(rows)  # ordered by id: the latest decision wins


def handling_seconds(
    *, model_id: int, since: dt.datetime, until: dt.datetime, sample: int
) -> list[float]:
    """Seconds from the last claim to the final decision of the model's most recent ``sample``
    decisions in the window. The item's claim columns are cleared when it is decided, so the
    claim time comes from its audit events."""
    decided = list(
        Decision.objects.filter(
            model_id=model_id,
            decided_at__gte=since,
            decided_at__lt=until,
            action__in=FINAL,
            undone_at__isnull=True,
        )
        .order_by("-id")
        .values_list("item_id", "decided_at")[:sample]
    )
    if not decided:
        return []
    claims: dict[str, list[dt.datetime]] = defaultdict(list)
    for target, at in AuditEvent.objects.filter(
        target_type=ReviewItem._meta.label_lower,
        target_id__in=[str(item) for item, _at in decided],
        verb=CLAIMED_VERB,
    ).values_list("target_id", "occurred_at"):
        claims[target].append(at)
    out = []
    for item, decided_at in decided:
        before = [at for at in claims.get(str(item), ()) if at <= decided_at]
        if before:
            out.append((decided_at - max(before)).total_seconds())
    return out


def decisions_per_day(*, model_id: int, until: dt.datetime, days: int) -> list[int]:
    """Final decisions on the model per UTC day over the ``days`` days before ``until``
    (counted by the database: one row per day, not one per decision)."""
    since = until - dt.timedelta(days=days)
    counts: dict[dt.date, int] = {}
    for day, n in (
        Decision.objects.filter(
            model_id=model_id,
            decided_at__gte=since,
            decided_at__lt=until,
            action__in=FINAL,
            undone_at__isnull=True,
        )
        .annotate(day=Cast(TruncDate("decided_at", tzinfo=dt.UTC), TextField()))
        .order_by()
        .values_list("day")
        .annotate(n=Count("id"))
    ):
        counts[dt.date.fromisoformat(day)] = n
    start = since.astimezone(dt.UTC).date()
    return [counts.get(start + dt.timedelta(days=i), 0) for i in range(days)]


def _reconstructed_facts(ids: list[int], paths: tuple[str, ...]) -> dict[int, Any]:
    """Facts of rows routed before facts were stored: read from the live row, as replay does."""
    rows = Prediction.objects.filter(pk__in=ids).select_related("model").with_payload()
    return {p.pk: facts_for(p, paths=paths) for p in rows}


# --- the computation ----------------------------------------------------------------------
@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector paused for the replay: it builds a few small dicts and lists
    per row (four hundred thousand decisions), none of them in a reference cycle, so reference
    counting frees every one; the collector would only walk them again and again, which was a
    third of the replay's CPU (docs/performance.md, "Evidence"). Restored on the way out;
    leaves it off if someone else had turned it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Side:
    """Routed counts per day and reasons of one set of rules."""

    def __init__(self) -> None:
        self.per_day: Counter = Counter()
        self.sla: Counter = Counter()


class _Tally:
    """Counts by key with the first few example ids of each."""

    def __init__(self, examples: int) -> None:
        self.count: Counter = Counter()
        self.examples: dict[str, list[int]] = defaultdict(list)
        self.limit = examples

    def add(self, key: str, pk: int) -> None:
        self.count[key] += 1
        if len(self.examples[key]) < self.limit:
            self.examples[key].append(pk)

    def as_list(self) -> list[dict[str, Any]]:
        return [
            {"key": key, "count": n, "examples": self.examples[key]}
            for key, n in sorted(self.count.items(), key=lambda kv: (-kv[1], kv[0]))
        ]


def evidence_compute(
    *,
    model_slug: str,
    proposed_rules: dict[str, Any],
    base_version: int | None = None,
    until: dt.datetime | None = None,
    window_days: int | None = None,
    max_predictions: int | None = None,
    chunk: int | None = None,
) -> Evidence:
    """The evidence for replacing ``base_version`` (default: the active version) of
    ``model_slug``'s routing policy with ``proposed_rules``, over the ``window_days`` before
    ``until`` (default: now), at most ``max_predictions`` predictions (the most recent).

    Raises NotFound for an unknown model or version, ServiceError (400) naming each bad rule.
    """
    window_days = window_days or settings.GOVERNANCE_EVIDENCE_WINDOW_DAYS
    max_predictions = max_predictions or settings.GOVERNANCE_EVIDENCE_MAX_PREDICTIONS
    chunk = chunk or settings.GOVERNANCE_EVIDENCE_CHUNK
    examples = settings.GOVERNANCE_EVIDENCE_EXAMPLES
    until = (until or clock.now()).replace(microsecond=0)
    since = until - dt.timedelta(days=window_days)

    model = MLModel.objects.filter(slug=model_slug).only("id", "slug", "labels").first()
    if model is None:
        raise NotFound(_("No model with this slug."), field="model")
    errors = validate_rules(proposed_rules, labels=model.labels)
    if errors:
        raise ServiceError(
            _("The proposed rules are not valid."),
            errors={f"rules.{path}": messages for path, messages in errors.items()},
        )
    versions = PolicyVersion.objects.filter(model_slug=model_slug)
    base = (
        versions.filter(is_active=True).first()
        if base_version is None
        else versions.filter(version=base_version).first()
    )
    if base_version is not None and base is None:
        raise NotFound(_("This model has no such policy version."), field="base_version")
    active_rules = base.rules if base is not None else None
    # Each policy read once (compiled.py): the same decision live routing makes, per row.
    active_policy, proposed_policy = compile_policy(active_rules), compile_policy(proposed_rules)
    paths = tuple(
        sorted(set(referenced_paths(active_rules)) | set(referenced_paths(proposed_rules)))
    )

    timings = {"read": 0.0, "decide": 0.0, "aggregate": 0.0}
    started, cpu_started = time.perf_counter(), time.process_time()
    # UTC calendar days touched by the window: the first and last are partial.
    first, last_day = since.astimezone(dt.UTC).date(), (until - dt.timedelta(microseconds=1)).date()
    days = [first + dt.timedelta(days=i) for i in range((last_day - first).days + 1)]
    active, proposal = _Side(), _Side()
    newly_reason, newly_segment = _Tally(examples), _Tally(examples)
    dropped_reason, dropped_segment = _Tally(examples), _Tally(examples)
    escaping, escaping_active = _Tally(examples), 0
    overrides_reviewed = 0
    qa_buckets = [[0, 0] for _i in range(em.BUCKETS)]  # at or above the proposal's threshold
    qa_all = [[0, 0] for _i in range(em.BUCKETS)]  # every reviewed QA sample: safety margin
    qa_above_threshold = 0
    mismatch_ids: list[int] = []
    compared = stored = reconstructed = total = 0
    oldest: dt.date | None = None
    reason_lists: dict[str | None, list[str]] = {}
    day_of: dict[str, dt.date] = {}
    base_pk = base.pk if base is not None else None
    override = Decision.Action.OVERRIDE

    # The model and its policy versions above come from the primary (the evidence is bound to
    # the version the committee sees); the traffic below may come from the replica, which may
    # lag by seconds at the window's end (core/db_router.py).
    with _cyclic_gc_paused(), reads_from_replica():
        rows_iter = routed_rows(
            model_id=model.pk, since=since, until=until, limit=max_predictions, chunk=chunk
        )
        while True:
            t = time.perf_counter()
            rows = next(rows_iter, None)
            if rows is None:
                timings["read"] += time.perf_counter() - t
                break
            actions = final_actions(model_id=model.pk, low=rows[-1][0], high=rows[0][0])
            missing = [row[0] for row in rows if row[2] is None]
            rebuilt = _reconstructed_facts(missing, paths) if missing else {}
            loads = orjson.loads
            records = [
                facts_record(rebuilt[row[0]]) if row[2] is None else loads(row[2]) for row in rows
            ]
            timings["read"] += time.perf_counter() - t

            t = time.perf_counter()
            was_of, now_of = active_policy.outcome_of_record, proposed_policy.outcome_of_record
            decided = [(was_of(record), now_of(record), record) for record in records]
            timings["decide"] += time.perf_counter() - t

            t = time.perf_counter()
            stored += len(rows) - len(missing)
            reconstructed += len(missing)
            total += len(rows)
            # Outcomes are tuples (compiled.Outcome): [0] routed, [1] reasons, [2] threshold,
            # [5] SLA minutes, [6] details.
            for row, (was, now, record) in zip(rows, decided, strict=True):
                pk, day_text, _facts, routed, reasons_text, details_text, threshold, version_id = (
                    row
                )
                day = day_of.get(day_text)
                if day is None:  # fourteen or fifteen distinct days: parse each once
                    day = day_of[day_text] = dt.date.fromisoformat(day_text)
                oldest = day
                reasons = reason_lists.get(reasons_text)
                if reasons is None:  # a handful of distinct lists: decode each once
                    reasons = reason_lists[reasons_text] = loads(reasons_text or "[]")
                action = actions.get(pk)
                was_routed, now_routed = was[0], now[0]
                if was_routed:
                    active.per_day[day] += 1
                    active.sla[was[5]] += 1
                if now_routed:
                    proposal.per_day[day] += 1
                    proposal.sla[now[5]] += 1
                    if not was_routed:
                        for reason in now[1]:
                            newly_reason.add(reason, pk)
                        newly_segment.add(now[6].get("segment") or NONE, pk)
                elif was_routed:
                    for reason in was[1]:
                        dropped_reason.add(reason, pk)
                    dropped_segment.add(was[6].get("segment") or NONE, pk)
                # A halted model's output was never used (the fallback was served): an
                # override of one is no error that escaped review, under either version.
                if action == override and record.get("mode") != HALTED:
                    overrides_reviewed += 1
                    if not now_routed:
                        escaping.add(",".join(reasons or ()) or NONE, pk)
                    if not was_routed:
                        escaping_active += 1
                # Calibration: QA samples only (the one unbiased sample of confident traffic).
                if reasons == [QA_SAMPLE]:
                    confidence = record["confidence"]
                    index = em.bucket_of(confidence)
                    overridden = action == override
                    if action is not None:
                        qa_all[index][0] += 1
                        qa_all[index][1] += overridden
                    if now[2] is not None and confidence >= now[2]:
                        qa_above_threshold += 1
                        if action is not None:
                            qa_buckets[index][0] += 1
                            qa_buckets[index][1] += overridden
                # Replay check: the base version must reproduce what it recorded.
                if version_id == base_pk and base_pk is not None:
                    compared += 1
                    if (
                        bool(routed) != was_routed
                        or reasons != was[1]
                        or threshold != was[2]
                        or loads(details_text or "{}") != was[6]
                    ):
                        mismatch_ids.append(pk)
            timings["aggregate"] += time.perf_counter() - t

    t = time.perf_counter()
    with reads_from_replica():
        handling = em.median(
            handling_seconds(
                model_id=model.pk,
                since=since,
                until=until,
                sample=settings.GOVERNANCE_EVIDENCE_HANDLING_SAMPLE,
            )
        )
        throughput_days = settings.GOVERNANCE_EVIDENCE_THROUGHPUT_DAYS
        throughput = decisions_per_day(model_id=model.pk, until=until, days=throughput_days)
    timings["read"] += time.perf_counter() - t

    t = time.perf_counter()
    summary = _summarise(
        days=days,
        active=active,
        proposal=proposal,
        handling=handling,
        throughput=throughput,
        proposed_rules=proposed_rules,
        newly=(newly_reason, newly_segment),
        dropped=(dropped_reason, dropped_segment),
        escaping=escaping,
        escaping_active=escaping_active,
        overrides_reviewed=overrides_reviewed,
        qa_buckets=qa_buckets,
        qa_all=qa_all,
        qa_above_threshold=qa_above_threshold,
        window_days=window_days,
        examples=examples,
    )
    summary["traffic"] = {
        "predictions": total,
        "stored_facts": stored,
        "reconstructed_facts": reconstructed,
        "truncated": total >= max_predictions,
        "oldest_day": str(oldest) if oldest is not None and total else None,
    }
    summary["replay_check"] = {
        "compared": compared,
        "mismatches": len(mismatch_ids),
        "examples": mismatch_ids[:examples],
    }
    impact, calibration = summary["impact"], summary["calibration"]
    before, after = impact["totals"]["active"], impact["totals"]["proposal"]
    flags = {
        "volume_change_over_25pct": abs(after - before) > 0.25 * before if before else after > 0,
        "escaping_errors_increase": impact["escaping_errors"]["count"] > escaping_active,
        "calibration_warning": calibration["warning"],
        "replay_mismatches": len(mismatch_ids),
    }
    timings["aggregate"] += time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    # This process's CPU seconds (the database's work is not in it): on a shared machine the
    # wall-clock figures above include waiting for a core.
    timings["cpu"] = time.process_time() - cpu_started
    return Evidence(
        model_slug=model_slug,
        base_version=base.version if base is not None else None,
        base_rules_hash=base.rules_hash if base is not None else "",
        proposed_rules_hash=rules_hash(proposed_rules),
        window_start=since,
        window_end=until,
        summary=summary,
        flags=flags,
        timings={k: round(v, 3) for k, v in timings.items()},
    )


def _typical_sla(side: _Side, rules: dict[str, Any] | None) -> int | None:
    """The median SLA (minutes) of the side's routed predictions, else the rules' high tier."""
    weighted = sorted(side.sla.elements())
    if weighted:
        return int(weighted[len(weighted) // 2])
    return int(rules["sla_minutes"]["high"]) if rules else None


def _summarise(
    *,
    days: list[dt.date],
    active: _Side,
    proposal: _Side,
    handling: float | None,
    throughput: list[int],
    proposed_rules: dict[str, Any],
    newly: tuple[_Tally, _Tally],
    dropped: tuple[_Tally, _Tally],
    escaping: _Tally,
    escaping_active: int,
    overrides_reviewed: int,
    qa_buckets: list[list[int]],
    qa_all: list[list[int]],
    qa_above_threshold: int,
    window_days: int,
    examples: int,
) -> dict[str, Any]:
    hours = (lambda n: n * handling / 3600) if handling is not None else (lambda n: None)
    per_day = []
    for day in days:
        a, p = active.per_day.get(day, 0), proposal.per_day.get(day, 0)
        per_day.append(
            {
                "day": day.isoformat(),
                "active": a,
                "proposal": p,
                "reviewer_hours_change": _r(hours(p - a), 3),
            }
        )
    total_active = sum(active.per_day.values())
    total_proposal = sum(proposal.per_day.values())

    # Capacity: the proposal's daily volume against what reviewers decided per day lately.
    capacity = sum(throughput) / len(throughput) if throughput else 0.0
    arrivals_active = [row["active"] for row in per_day]
    arrivals_proposal = [row["proposal"] for row in per_day]
    sla_active = _typical_sla(active, None) or 0
    sla_proposal = _typical_sla(proposal, proposed_rules) or 0
    breaches_active = em.sla_breaches(
        arrivals_active, capacity_per_day=capacity, sla_minutes=sla_active
    )
    breaches_proposal = em.sla_breaches(
        arrivals_proposal, capacity_per_day=capacity, sla_minutes=sla_proposal
    )
    peak = max(arrivals_proposal, default=0)

    # Calibration above the proposed threshold, from QA samples.
    max_rate = proposed_rules.get("max_auto_error_rate")
    buckets = []
    for i, (n, k) in enumerate(qa_buckets):
        if not n:
            continue
        low, high = em.wilson(k, n)
        buckets.append(
            {
                "from": em.bucket_floor(i),
                "to": em.bucket_floor(i + 1),
                "samples": n,
                "overrides": k,
                "rate": _r(k / n),
                "low": _r(low),
                "high": _r(high),
                "exceeds": max_rate is not None and high > max_rate,
            }
        )
    n_all = sum(n for n, _k in qa_buckets)
    k_all = sum(k for _n, k in qa_buckets)
    low_all, high_all = em.wilson(k_all, n_all)
    needed = em.samples_needed(k_all, n_all, max_rate) if max_rate is not None else None
    more = max(0, needed - n_all) if needed is not None else None
    qa_per_day = qa_above_threshold / window_days if window_days else 0.0
    threshold = float(proposed_rules["min_confidence"])
    margin = (
        em.safety_margin([tuple(b) for b in qa_all], threshold=threshold, max_rate=max_rate)
        if max_rate is not None
        else em.Margin(None, None, None)
    )
    return {
        "impact": {
            "per_day": per_day,
            "totals": {
                "active": total_active,
                "proposal": total_proposal,
                "change": total_proposal - total_active,
                "change_pct": _r((total_proposal - total_active) / total_active * 100, 2)
                if total_active
                else None,
                "reviewer_hours_change": _r(hours(total_proposal - total_active), 3),
            },
            "median_handling_seconds": _r(handling, 3),
            "newly_routed": {"by_reason": newly[0].as_list(), "by_segment": newly[1].as_list()},
            "no_longer_routed": {
                "by_reason": dropped[0].as_list(),
                "by_segment": dropped[1].as_list(),
            },
            "escaping_errors": {
                "count": sum(escaping.count.values()),
                "active_count": escaping_active,
                "overrides_reviewed": overrides_reviewed,
                "by_recorded_reason": escaping.as_list(),
                "examples": sorted(
                    {pk for ids in escaping.examples.values() for pk in ids}, reverse=True
                )[:examples],
            },
        },
        "capacity": {
            "throughput_per_day": _r(capacity, 3),
            "throughput_days": len(throughput),
            "proposal_peak_per_day": peak,
            "proposal_mean_per_day": _r(total_proposal / len(days), 3) if days else 0,
            "over_capacity_days": sum(1 for a in arrivals_proposal if a > capacity),
            "sla_minutes": {"active": sla_active, "proposal": sla_proposal},
            "sla_breaches": {
                "active": sum(breaches_active),
                "proposal": sum(breaches_proposal),
                "proposal_per_day": breaches_proposal,
            },
        },
        "calibration": {
            "threshold": threshold,
            "max_auto_error_rate": max_rate,
            "buckets": buckets,
            "samples": n_all,
            "overrides": k_all,
            "rate": _r(k_all / n_all) if n_all else None,
            "low": _r(low_all),
            "high": _r(high_all),
            "warning": max_rate is not None and high_all > max_rate,
            "samples_needed": needed,
            "more_samples_needed": more,
            "qa_samples_per_day": _r(qa_per_day, 3),
            "days_to_enough_samples": _r(more / qa_per_day, 1) if more and qa_per_day else None,
        },
        "safety_margin": {
            "threshold": threshold,
            "lowest_safe_threshold": margin.lowest_safe_threshold,
            "crossing_confidence": margin.crossing_confidence,
            "margin": margin.margin,
        },
    }
