"""A month of demo history, written through the real services with core's clock set to the
moment each step happens (``reviewapp.core.clock.travel``).

``seed_demo`` calls :func:`history_build`. It plays a timeline forward, oldest first:

* **traffic**: every hour, that hour's predictions of each demo model go through batch ingest
  and routing (one call each), the way a producer and the worker would; daily volume follows a
  weekly rhythm (quiet weekends) and a working-day curve;
* **reviews**: each item the routing sends to the queue is taken and decided by a demo
  reviewer after a wait inside its SLA (a few percent wait too long and breach) and a handling
  time drawn per model (log-normal); the reviewer overrides when the hidden "truth" differs
  from the model's label, sometimes tagging a failure mode from the catalog; some items are
  escalated to lee or deferred and picked up later;
* **a drift episode**: for a few days support-triage's inputs drift, so its confidence drops
  (more items routed) and reviewers override more; the dashboards' uncertain-rate chart shows
  it as a persistent shift;
* **a policy change**: halfway through, sam proposes a stricter pneumothorax threshold for
  radiology-triage; the committee votes on the evidence computed then, and it is applied at
  quorum;
* **the fail-safe week** (``reviewapp.failsafe.demo.history_steps``): yesterday's containment
  of card-fraud and today's open spike, in their place in the timeline;
* **SLA sweeps** every simulated hour, so late items are stamped as breached when they were.

The last stretch of traffic before "now" is left open, item by item, only while its SLA
deadline is comfortably ahead, so a session starts with a queue whose SLAs are met. Every
generated record is self-consistent: the label is the arg-max of its scores.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max

from reviewapp import demo
from reviewapp.core import clock
from reviewapp.models import MLModel, ReviewItem, ServiceAccount
from reviewapp.services.claims import review_item_take
from reviewapp.services.decisions import review_item_decide
from reviewapp.services.ingest import prediction_batch_ingest
from reviewapp.services.routing import predictions_route
from reviewapp.services.sweeps import review_sla_sweep

# Share of each day's traffic per model, and of the fresh traffic left open at the start.
SHARE = {"card-fraud": 0.45, "support-triage": 0.35, "radiology-triage": 0.20}
FRESH_SHARE = {"card-fraud": 0.10, "support-triage": 0.55, "radiology-triage": 0.35}
# Monday .. Sunday, and the hours of a UTC day (a working-day curve).
WEEKDAY = (1.0, 1.06, 1.08, 1.03, 0.94, 0.55, 0.45)
HOURS = (
    0.25, 0.2, 0.18, 0.18, 0.22, 0.32, 0.5, 0.8, 1.2, 1.5, 1.6, 1.6,
    1.4, 1.5, 1.6, 1.5, 1.4, 1.2, 1.0, 0.85, 0.65, 0.5, 0.4, 0.3,
)  # fmt: skip
# Median seconds from claim to decision, per model (overrides take longer).
HANDLING_SECONDS = {"card-fraud": 35.0, "support-triage": 55.0, "radiology-triage": 95.0}
# How far back the fresh traffic (left open) reaches, per model.
FRESH_WINDOW = {
    "card-fraud": dt.timedelta(minutes=5),
    "support-triage": dt.timedelta(minutes=150),
    "radiology-triage": dt.timedelta(minutes=15),
}
# An item stays open at the start only while this share of its SLA is still ahead.
OPEN_MARGIN = 0.35
_HOUR = dt.timedelta(hours=1)
_FRESH_SLOT = dt.timedelta(minutes=5)
BREACH_SHARE = 0.03
ESCALATE_SHARE = 0.02
DEFER_SHARE = 0.03  # support-triage only: ravi and ana hand tickets to each other
DRIFT_MODEL = "support-triage"
DRIFT_TAG = "seasonal-concept-drift"
TAGS = {
    "card-fraud": [
        "card-testing-adversarial-probing",
        "currency-mix-drift",
        "label-noise-from-chargeback-lag",
    ],
    "support-triage": [
        "subgroup-degradation-language",
        "training-serving-skew-tokenizer",
        "seasonal-concept-drift",
    ],
    "radiology-triage": [
        "new-scanner-ood-images",
        "subgroup-degradation-language",
        "missing-values-silently-imputed",
    ],
}
OVERRIDE_REASONS = {
    "card-fraud": [
        "Cardholder confirmed the purchase by phone.",
        "Same device and merchant as last month's orders.",
        "Rapid small amounts across merchants: card testing.",
        "Shipping address differs from billing and the card is new.",
    ],
    "support-triage": [
        "The customer asks about an invoice, not the app.",
        "The error message is a login problem, not a crash.",
        "Threatening language further down the ticket.",
        "Asks to close the account, not to fix billing.",
    ],
    "radiology-triage": [
        "Small apical pneumothorax visible on the PA view.",
        "Rounded opacity in the right mid zone: nodule.",
        "Blunted costophrenic angle: effusion.",
        "Artefact from positioning, no finding.",
    ],
}


@dataclass
class HistoryStats:
    predictions: int = 0
    decisions: int = 0
    open_items: int = 0
    breaches: int = 0
    days: int = 0


@dataclass(order=True)
class _Event:
    at: dt.datetime
    seq: int
    run: Callable[[], None] = field(compare=False)


@dataclass
class _Truth:
    slug: str
    label: str
    truth: str
    drifting: bool


def consistent(body: dict[str, Any], labels: list[str]) -> dict[str, Any]:
    """``body`` with its scores made to agree with its label (the label is the arg-max; the
    other labels share the rest), whatever the generator produced."""
    output = body.get("output") or {}
    scores = output.get("scores") or {}
    label = output.get("label")
    if scores and label in scores and scores[label] >= max(scores.values()):
        return body
    confidence = float(body["confidence"])
    floor = 1.0 / len(labels) + 0.02
    confidence = max(confidence, floor)
    rest = [lbl for lbl in labels if lbl != label]
    share = round((1 - confidence) / len(rest), 4)
    fixed = {lbl: share for lbl in rest}
    fixed[label] = round(confidence, 4)
    return {**body, "confidence": round(confidence, 4), "output": {**output, "scores": fixed}}


def with_confidence(
    body: dict[str, Any], labels: list[str], confidence: float, rng: random.Random
) -> dict[str, Any]:
    """``body`` with its confidence set to ``confidence`` (never below what keeps its label
    the arg-max) and its scores redrawn around it."""
    label = body["output"]["label"]
    rest = [lbl for lbl in labels if lbl != label]
    confidence = min(0.9999, max(confidence, 1.0 / len(labels) + 0.05))
    weights = [rng.random() + 0.2 for _ in rest]
    total = sum(weights)
    scores = {
        lbl: round((1 - confidence) * w / total, 4) for lbl, w in zip(rest, weights, strict=True)
    }
    scores[label] = round(confidence, 4)
    return consistent(
        {
            **body,
            "confidence": round(confidence, 4),
            "output": {**body["output"], "scores": scores},
        },
        labels,
    )


@contextlib.contextmanager
def _eager_tasks() -> Iterator[None]:
    """Run published tasks in-process while the block runs (the historical evidence must be
    computed at its historical moment, not by the worker later)."""
    conf = current_app.conf
    before = conf.task_always_eager
    conf.task_always_eager = True
    try:
        yield
    finally:
        conf.task_always_eager = before


class _History:
    def __init__(
        self,
        *,
        account: ServiceAccount,
        days: int,
        rate: float,
        fresh: int,
        now: dt.datetime,
        seed: int,
        extra_steps: list[tuple[dt.datetime, Callable[[], None]]],
    ) -> None:
        self.account = account
        self.days = days
        self.rate = rate
        self.fresh = fresh
        self.now = now
        self.rng = random.Random(seed)
        self.specs = {m["slug"]: m for m in demo.DEMO_MODELS}
        self.models = {m.slug: m for m in MLModel.objects.filter(slug__in=self.specs)}
        users = get_user_model().objects.in_bulk(
            ["ana", "ravi", "lee", "sam", "cora", "cole", "cleo"], field_name="username"
        )
        self.users = users
        self.events: list[_Event] = []
        self.seq = itertools.count()
        self.serial = itertools.count()
        self.truths: dict[int, _Truth] = {}
        self.stats = HistoryStats(days=days)
        # --days 0: no history, only the fresh traffic.
        self.start = (
            (now - dt.timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
            if days
            else now
        )
        drift_len = 5 if days >= 14 else 0
        drift_begin = now - dt.timedelta(days=round(days * 0.4))
        self.drift = (drift_begin - dt.timedelta(days=drift_len), drift_begin)
        for at, step in extra_steps:
            self._at(at, self._reviewing_new_items(step))

    # --- the timeline --------------------------------------------------------------------
    def _at(self, at: dt.datetime, run: Callable[[], None]) -> None:
        heapq.heappush(self.events, _Event(at, next(self.seq), run))

    def _reviewing_new_items(self, step: Callable[[], None]) -> Callable[[], None]:
        """``step`` (another app's history: a containment, a monitor run), then the review of
        the items it opened (mode and shift samples), as for routed traffic: a sample left
        pending would sit in the open queue past its deadline."""

        def run() -> None:
            before = ReviewItem.objects.aggregate(last=Max("id"))["last"] or 0
            step()
            for item in ReviewItem.objects.filter(id__gt=before, status="pending").values(
                "id",
                "prediction_id",
                "created_at",
                "sla_due_at",
                "model__slug",
                "prediction__label",
            ):
                label = item["prediction__label"]
                self.truths.setdefault(
                    item["prediction_id"], _Truth(item["model__slug"], label, label, False)
                )
                self._plan_review(item)

        return run

    def run(self) -> HistoryStats:
        self._plan_traffic()
        if self.days >= 4:
            self._plan_policy_change()
        while self.events:
            event = heapq.heappop(self.events)
            with clock.travel(event.at):
                event.run()
        return self.stats

    def _plan_traffic(self) -> None:
        """One batch per slot for all models together (the producers' batch endpoint and one
        routing call each): hourly slots in the last two days (the 24-hour charts' buckets),
        3-hour ones in the week before and 6-hour ones earlier (the 7-day charts' buckets), so
        a month costs under two hundred batches."""
        slot_start = self.start
        hourly_from = self.now - dt.timedelta(days=2)
        three_hourly_from = self.now - dt.timedelta(days=7)
        while slot_start < self.now:
            hours = 1 if slot_start >= hourly_from else 3 if slot_start >= three_hourly_from else 6
            width = dt.timedelta(hours=hours)
            at = slot_start + width * self.rng.uniform(0.1, 0.9)
            counts = {}
            for slug, share in SHARE.items():
                # The fresh traffic below covers each model's last stretch before now, so
                # the open queue's size does not depend on --days or --rate.
                if at >= self.now - FRESH_WINDOW[slug]:
                    continue
                mean = sum(
                    self.rate * share * WEEKDAY[h.weekday()] * HOURS[h.hour] / sum(HOURS)
                    for h in (slot_start + dt.timedelta(hours=i) for i in range(width // _HOUR))
                )
                counts[slug] = self._poisson(mean)
            if any(counts.values()):
                self._at(at, self._ingest_step(counts))
            slot_start += width
        # Fresh traffic: spread over each model's window before now, in 5-minute batches.
        fresh: dict[int, dict[str, int]] = {}
        totals = {slug: round(self.fresh * share) for slug, share in FRESH_SHARE.items()}
        totals[DRIFT_MODEL] += self.fresh - sum(totals.values())  # exactly --predictions
        for slug, total in totals.items():
            slots = max(1, int(FRESH_WINDOW[slug] / _FRESH_SLOT))
            for i in range(slots):
                count = total // slots + (1 if i < total % slots else 0)
                if count:
                    fresh.setdefault(slots - i, {})[slug] = count
        for back, counts in fresh.items():
            self._at(self.now - (back - 0.5) * _FRESH_SLOT, self._ingest_step(counts))
        self._at(self.now - dt.timedelta(seconds=5), self._sweep)

    def _poisson(self, mean: float) -> int:
        # Knuth's method is fine for the small hourly means here; a normal beyond 30.
        if mean > 30:
            return max(0, round(self.rng.gauss(mean, math.sqrt(mean))))
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def _sweep(self) -> None:
        self.stats.breaches += review_sla_sweep().get("breached", 0)

    # --- traffic ---------------------------------------------------------------------------
    def _ingest_step(self, counts: dict[str, int]) -> Callable[[], None]:
        def step() -> None:
            at = clock.now()
            bodies: list[tuple[str, bool, dict[str, Any]]] = []
            for slug, count in counts.items():
                drifting = slug == DRIFT_MODEL and self.drift[0] <= at < self.drift[1]
                labels = self.specs[slug]["labels"]
                for _ in range(count):
                    body = demo.envelope(slug, next(self.serial), self.rng, prefix="demo")
                    bodies.append((slug, drifting, self._settled(body, labels, drifting)))
            # Routed here, as the worker would: nothing to enqueue for it.
            results = prediction_batch_ingest(
                envelopes=[body for _, _, body in bodies], account=self.account, enqueue=False
            )
            ids = []
            for result, (slug, drifting, body) in zip(results, bodies, strict=True):
                if result.status != "accepted":
                    continue
                ids.append(result.id)
                self.truths[result.id] = self._truth(slug, body, drifting)
            self.stats.predictions += len(ids)
            predictions_route(ids=ids)
            for item in ReviewItem.objects.filter(prediction_id__in=ids, status="pending").values(
                "id", "prediction_id", "created_at", "sla_due_at"
            ):
                self._plan_review(item)

        return step

    def _settled(self, body: dict[str, Any], labels: list[str], drifting: bool) -> dict[str, Any]:
        """A month-old model is surer than the generator's raw draw (a fifth to a third of its
        traffic reaches people, not half); while drifting it is much less sure."""
        confidence = float(body["confidence"])
        if drifting:
            confidence *= self.rng.uniform(0.62, 0.78)
        else:
            confidence += (1 - confidence) * 0.4
        return with_confidence(body, labels, confidence, self.rng)

    def _truth(self, slug: str, body: dict[str, Any], drifting: bool) -> _Truth:
        label = body["output"]["label"]
        confidence = float(body["confidence"])
        p_wrong = 0.75 * (1 - confidence) + 0.02
        if drifting:
            p_wrong = min(0.85, p_wrong * 2.6 + 0.1)
        truth = label
        if self.rng.random() < p_wrong:
            truth = self.rng.choice([lbl for lbl in self.specs[slug]["labels"] if lbl != label])
        return _Truth(slug, label, truth, drifting)

    # --- reviews ---------------------------------------------------------------------------
    def _plan_review(self, item: dict[str, Any]) -> None:
        truth = self.truths.get(item["prediction_id"])
        if truth is None:
            return
        created, due = item["created_at"], item["sla_due_at"]
        sla = max(due - created, dt.timedelta(minutes=1))
        late = self.rng.random() < BREACH_SHARE
        wait = sla * (self.rng.uniform(1.05, 1.6) if late else self.rng.uniform(0.04, 0.6))
        claim_at = created + wait
        if late and due < self.now:
            # The SLA sweep (beat's every minute) stamps the breach while the item waits.
            self._at(due + dt.timedelta(seconds=30), self._sweep)
        if claim_at >= self.now:
            if due - self.now >= sla * OPEN_MARGIN:
                self.stats.open_items += 1
                return  # left open: its deadline is comfortably ahead
            claim_at = max(created + dt.timedelta(seconds=20), self.now - dt.timedelta(minutes=2))
            if claim_at >= self.now:
                self.stats.open_items += 1
                return
        self._at(claim_at, lambda: self._review(item["id"], truth))

    def _reviewer(self, slug: str) -> Any:
        if slug == "support-triage" and self.rng.random() < 0.65:
            return self.users["ravi"]
        return self.users["ana"]

    def _handling(self, slug: str, override: bool) -> dt.timedelta:
        seconds = self.rng.lognormvariate(math.log(HANDLING_SECONDS[slug]), 0.55)
        return dt.timedelta(seconds=seconds * (1.6 if override else 1.0))

    def _review(self, item_id: int, truth: _Truth, *, user: Any = None, second: bool = False):
        user = user or self._reviewer(truth.slug)
        # --- double: a blind second review goes to someone but the first reviewer (issue 17) ---
        if ReviewItem.objects.filter(pk=item_id, excluded_reviewer=user).exists():
            user = self.users["lee"]
        # --- end double ---
        roll = self.rng.random()
        if not second and roll < ESCALATE_SHARE:
            action = "escalate"
        elif not second and truth.slug == "support-triage" and roll < ESCALATE_SHARE + DEFER_SHARE:
            action = "defer"
        else:
            action = "override" if truth.truth != truth.label else "accept"
        item = review_item_take(item_id=item_id, user=user)
        decide_at = clock.now() + self._handling(truth.slug, action == "override")
        if decide_at >= self.now:
            decide_at = self.now - dt.timedelta(seconds=30)
        kwargs: dict[str, Any] = {}
        if action == "override":
            kwargs["label"] = truth.truth
            kwargs["reason"] = self.rng.choice(OVERRIDE_REASONS[truth.slug])
            tag_share = 0.7 if truth.drifting else 0.35
            if self.rng.random() < tag_share:
                tags = TAGS[truth.slug]
                kwargs["failure_mode_tags"] = [
                    DRIFT_TAG if truth.drifting else self.rng.choice(tags)
                ]
        elif action == "escalate":
            kwargs["note"] = "Not sure from what I can see here; can you check with the team?"
        elif action == "defer":
            kwargs["note"] = "Waiting for the customer's reply before routing this."
        with clock.travel(max(decide_at, clock.now())):
            review_item_decide(
                item_id=item_id,
                user=user,
                action=action,
                generation=item.claim_generation,
                **kwargs,
            )
        self.stats.decisions += 1
        # --- double: a decision held for a blind second review: that item is reviewed too ---
        for second in ReviewItem.objects.filter(
            prediction_id=item.prediction_id, purpose="second_review", status="pending"
        ).values("id", "prediction_id", "created_at", "sla_due_at"):
            self._plan_review(second)
        # --- end double ---
        if action in ("escalate", "defer"):
            later = clock.now() + dt.timedelta(minutes=self.rng.uniform(20, 90))
            if later < self.now - dt.timedelta(minutes=1):
                other = (
                    self.users["lee"]
                    if action == "escalate"
                    else (self.users["ana"] if user == self.users["ravi"] else self.users["ravi"])
                )
                self._at(later, lambda: self._review(item_id, truth, user=other, second=True))

    # --- governance ------------------------------------------------------------------------
    def _plan_policy_change(self) -> None:
        from reviewapp.governance.services import change_request_create, change_request_submit
        from reviewapp.governance.services.evidence import change_request_evidence_request

        day = (self.now - dt.timedelta(days=self.days // 2)).replace(
            hour=10, minute=5, second=0, microsecond=0
        )
        spec = self.specs["radiology-triage"]
        rules = {
            **spec["rules"],
            "min_confidence_by_label": {
                **spec["rules"]["min_confidence_by_label"],
                "pneumothorax": 0.93,
            },
        }
        holder: dict[str, int] = {}

        def propose() -> None:
            with transaction.atomic():
                cr = change_request_create(
                    model_slug="radiology-triage",
                    user=self.users["sam"],
                    document=rules,
                    rationale=(
                        "Two pneumothoraces scored 0.90-0.92 passed without review last week "
                        "(found in QA samples). Review pneumothorax below 0.93."
                    ),
                )
            holder["id"] = cr.pk
            with _eager_tasks():
                change_request_submit(change_request_id=cr.pk, user=self.users["sam"])
                cr.refresh_from_db()
                if not cr.evidence_hash:
                    # Inside an enclosing transaction (the tests) the submit's after-commit
                    # request has not run yet: ask for the evidence of this moment now.
                    change_request_evidence_request(change_request_id=cr.pk, revision=cr.revision)

        self._at(day, propose)
        for hours, name in ((2, "cora"), (3.5, "cole"), (5, "cleo")):
            self._at(day + dt.timedelta(hours=hours), self._vote(holder, name))

    def _vote(self, holder: dict[str, int], username: str) -> Callable[[], None]:
        def step() -> None:
            from reviewapp.governance.models import ChangeRequest
            from reviewapp.governance.services import change_request_approve

            cr = ChangeRequest.objects.get(pk=holder["id"])
            if cr.status != ChangeRequest.Status.IN_REVIEW or not cr.evidence_hash:
                return
            change_request_approve(
                change_request_id=cr.pk,
                user=self.users[username],
                evidence_hash=cr.evidence_hash,
                comment="The QA misses justify it; the extra volume is small in the evidence.",
                acknowledge_risk=True,
            )

        return step


def history_build(
    *,
    account: ServiceAccount,
    days: int,
    rate: float,
    fresh: int,
    now: dt.datetime | None = None,
    seed: int = 29,
    extra_steps: list[tuple[dt.datetime, Callable[[], None]]] = (),
) -> HistoryStats:
    """Play ``days`` days of traffic (``rate`` predictions a day on average, all models) and
    ``fresh`` predictions in the last minutes to hours before ``now`` through the services,
    with ``extra_steps`` (moment, step) run in their place. Deterministic for a seed."""
    history = _History(
        account=account,
        days=days,
        rate=rate,
        fresh=fresh,
        now=now or clock.now(),
        seed=seed,
        extra_steps=list(extra_steps),
    )
    return history.run()
