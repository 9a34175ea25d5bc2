"""A believable day and a half of traffic for looking at the dashboards (browser tests).

card-fraud: uncertain rate about 12%, a one-hour spike 20 hours ago, then a threshold raise
from 0.70 to 0.78 eight hours ago that shifts the rate up for good. chest-xray: steady.
Decisions: accepted more often the more confident the model was; a few SLA breaches.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from django.utils import timezone

from reviewapp.core.audit import Actor
from reviewapp.dashboards.services import rollups_fold
from reviewapp.dashboards.stats import bucket_floor
from reviewapp.governance.models import PolicyVersion
from reviewapp.governance.services import policy_version_create
from reviewapp.models import Decision, Prediction, ReviewItem
from tests.factories import DEFAULT_RULES, MLModelFactory, UserFactory, make_policy

HOURS = 36


def build(now: dt.datetime | None = None, seed: int = 3) -> dict:
    rng = random.Random(seed)
    now = now or timezone.now()
    fraud = MLModelFactory(
        slug="card-fraud", name="Card fraud", labels=["fraud", "legit"], criticality="critical"
    )
    xray = MLModelFactory(
        slug="chest-xray",
        name="Chest X-ray triage",
        labels=["normal", "nodule"],
        criticality="high",
    )
    make_policy(fraud)
    rules = {k: v for k, v in DEFAULT_RULES.items() if k != "min_confidence_by_label"}
    make_policy(xray, rules)
    raise_at = now - dt.timedelta(hours=8)
    old = PolicyVersion.objects.get(model_slug="card-fraud", is_active=True)
    new = policy_version_create(
        model_slug="card-fraud",
        rules={**DEFAULT_RULES, "min_confidence": 0.78},
        labels=fraud.labels,
        activate=True,
        note="Raise threshold after the October chargeback review",
        actor=Actor.system("scenario"),
    )
    start = bucket_floor(now, 60) - dt.timedelta(hours=HOURS - 1)
    for pv in (old,):
        pv.activated_at = start - dt.timedelta(days=3)
        pv.deactivated_at = raise_at
        pv.save(update_fields=["activated_at", "deactivated_at"])
    new.activated_at = raise_at
    new.save(update_fields=["activated_at"])
    xray_pv = PolicyVersion.objects.get(model_slug="chest-xray", is_active=True)
    xray_pv.activated_at = start - dt.timedelta(days=3)
    xray_pv.save(update_fields=["activated_at"])

    reviewers = [UserFactory(username=n, roles=["reviewer"]) for n in ("ana", "ravi", "mia")]
    seq = 0
    preds: list[Prediction] = []
    for hour in range(HOURS):
        bucket = start + dt.timedelta(hours=hour)
        hours_ago = HOURS - hour
        if bucket > now:
            break
        for model, volume, rate in ((fraud, 200, 0.12), (xray, 40, 0.20)):
            if model is fraud and hours_ago == 20:
                rate = 0.34  # a bad batch from one merchant
            if model is fraud and bucket >= raise_at:
                rate = 0.22  # the raised threshold sends more to people
            n = volume + rng.randint(-6, 6)
            for _ in range(n):
                seq += 1
                at = bucket + dt.timedelta(seconds=rng.randint(0, 3599))
                if at > now:
                    continue
                routed = rng.random() < rate
                conf = rng.uniform(0.3, 0.78) if routed else rng.uniform(0.78, 0.99)
                preds.append(
                    Prediction(
                        model=model,
                        external_id=f"s-{seq}",
                        model_version="2026.11.1",
                        input={},
                        output={"label": model.labels[0]},
                        label=model.labels[0],
                        confidence=round(conf, 3),
                        occurred_at=at,
                        received_at=at,
                        status=Prediction.Status.IN_REVIEW if routed else Prediction.Status.PASSED,
                        routed=routed,
                        reason_codes=["low_confidence"] if routed else [],
                        routed_at=at,
                    )
                )
    Prediction.objects.bulk_create(preds, batch_size=1000)
    routed = list(Prediction.objects.filter(routed=True).select_related("model").order_by("id"))
    items = [
        ReviewItem(
            prediction=p,
            model=p.model,
            sla_due_at=p.received_at + dt.timedelta(minutes=15 if p.model_id == fraud.pk else 60),
            created_at=p.received_at,
            updated_at=p.received_at,
        )
        for p in routed
    ]
    ReviewItem.objects.bulk_create(items, batch_size=1000)
    items = list(ReviewItem.objects.select_related("prediction").order_by("id"))
    decisions, breached = [], []
    for item in items:
        p = item.prediction
        median = 6 * 60 if item.model_id == fraud.pk else 14 * 60
        wait = rng.lognormvariate(math.log(median), 0.7)
        decided_at = p.received_at + dt.timedelta(seconds=wait)
        if decided_at > now - dt.timedelta(minutes=2):
            continue  # still in the queue
        if decided_at > item.sla_due_at:
            item.sla_breached_at = item.sla_due_at + dt.timedelta(seconds=30)
            breached.append(item)
        agree = rng.random() < min(0.99, p.confidence + 0.18)
        decisions.append(
            Decision(
                item=item,
                prediction=p,
                model_id=item.model_id,
                reviewer=rng.choice(reviewers),
                action=Decision.Action.ACCEPT if agree else Decision.Action.OVERRIDE,
                final_label=p.label if agree else "legit",
                model_confidence=p.confidence,
                decided_at=decided_at,
                deliver_after=decided_at + dt.timedelta(seconds=5),
            )
        )
    Decision.objects.bulk_create(decisions, batch_size=1000)
    ReviewItem.objects.bulk_update(breached, ["sla_breached_at"], batch_size=1000)
    decided_ids = [d.item_id for d in decisions]
    ReviewItem.objects.filter(id__in=decided_ids).update(
        status=ReviewItem.Status.DECIDED, decided_at=now
    )
    rollups_fold(now=timezone.now(), batch_size=5000)
    return {"fraud": fraud, "xray": xray, "reviewers": reviewers}


def push_shift(
    model,
    *,
    minutes: int = 20,
    per_bucket: int = 40,
    share: float = 0.5,
    reason: str = "data_anomaly",
    now: dt.datetime | None = None,
    fold: bool = True,
) -> list[Prediction]:
    """A synthetic shift for the fail-safe monitors: over the last ``minutes`` (ending at
    ``now``), ``per_bucket`` predictions per 5-minute bucket of which ``share`` are routed with
    ``reason`` (``data_anomaly`` trips the default contain monitor, ``low_confidence`` the
    uncertain rate) and the rest passed; then fold, so the buckets are there for the monitors.

    Rows are written directly like :func:`build`; a test of the real pipeline instead sends
    the same traffic as envelopes. Returns the predictions made."""
    now = now or timezone.now()
    start = bucket_floor(now - dt.timedelta(minutes=minutes), 5)
    preds = []
    moment, seq = start, Prediction.objects.count()
    while moment < now:
        for i in range(per_bucket):
            seq += 1
            at = min(now, moment + dt.timedelta(seconds=i * 300 // per_bucket))
            routed = i < per_bucket * share
            preds.append(
                Prediction(
                    model=model,
                    external_id=f"shift-{seq}",
                    model_version="2026.11.1",
                    input={},
                    output={"label": model.labels[0]},
                    label=model.labels[0],
                    confidence=0.6 if routed else 0.95,
                    occurred_at=at,
                    received_at=at,
                    status=Prediction.Status.IN_REVIEW if routed else Prediction.Status.PASSED,
                    routed=routed,
                    reason_codes=[reason] if routed else [],
                    routed_at=at,
                )  # fmt: skip
            )
        moment += dt.timedelta(minutes=5)
    preds = Prediction.objects.bulk_create(preds, batch_size=1000)
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                prediction=p,
                model=model,
                sla_due_at=p.received_at + dt.timedelta(hours=1),
                created_at=p.received_at,
                updated_at=p.received_at,
            )  # fmt: skip
            for p in preds
            if p.routed
        ],
        batch_size=1000,
    )
    if fold:
        rollups_fold(now=now + dt.timedelta(minutes=1), batch_size=5000)
    return preds
