"""How far to trust a delivered label: the provider of delivery's ``delivery.label_annotations``
hook (delivery may not import this app, so it asks through core's registry).

For a batch of decisions, one query per figure: the second reviews of their predictions, and the
scored gold servings of their reviewers on their models.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from reviewapp.quality.models import GoldServing, SecondReview

SR = SecondReview.Status
AGREED, DISAGREED = "agreed", "disagreed"
# A second review that got its second decision: the two agreed, or a lead adjudicated.
_AGREEMENT = {SR.AGREED: AGREED, SR.ADJUDICATING: DISAGREED, SR.ADJUDICATED: DISAGREED}
_SCORED = (GoldServing.Result.CORRECT, GoldServing.Result.WRONG)


def second_review_flags(decisions: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """``double_reviewed``, ``adjudicated`` and ``agreement`` per decision, from the second
    review of its prediction (at most one per prediction). A single review: no entry."""
    prediction_ids = {d.prediction_id for d in decisions}
    if not prediction_ids:
        return {}
    reviews = {
        row["prediction_id"]: row
        for row in SecondReview.objects.filter(prediction_id__in=prediction_ids).values(
            "prediction_id", "status", "second_decision_id"
        )
    }
    out: dict[int, dict[str, Any]] = {}
    for d in decisions:
        review = reviews.get(d.prediction_id)
        if review is None or review["second_decision_id"] is None:
            continue
        out[d.pk] = {
            "double_reviewed": True,
            "adjudicated": review["status"] == SR.ADJUDICATED,
            "agreement": _AGREEMENT.get(review["status"]),
        }
    return out


def gold_accuracy_at(decisions: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """The deciding reviewer's gold accuracy on the decision's model when they decided:
    correct / (correct + wrong) over their gold and qualification answers scored before
    ``decided_at``, with the count. No scored answer then: no entry (the defaults say null)."""
    pairs = {(d.reviewer_id, d.model_id) for d in decisions}
    if not pairs:
        return {}
    latest = max(d.decided_at for d in decisions)
    # (reviewer, model) -> scored_at ascending, and the running count of correct answers.
    times: dict[tuple[int, int], list[dt.datetime]] = defaultdict(list)
    correct: dict[tuple[int, int], list[int]] = defaultdict(list)
    rows = (
        GoldServing.objects.filter(
            reviewer_id__in={r for r, _m in pairs},
            model_id__in={m for _r, m in pairs},
            result__in=_SCORED,
            scored_at__lt=latest,
        )
        .order_by("scored_at", "id")
        .values_list("reviewer_id", "model_id", "scored_at", "result")
    )
    for reviewer_id, model_id, scored_at, result in rows:
        key = (reviewer_id, model_id)
        if key not in pairs:
            continue
        running = correct[key][-1] if correct[key] else 0
        times[key].append(scored_at)
        correct[key].append(running + (result == GoldServing.Result.CORRECT))
    out: dict[int, dict[str, Any]] = {}
    for d in decisions:
        key = (d.reviewer_id, d.model_id)
        n = bisect.bisect_left(times.get(key, []), d.decided_at)
        if n:
            out[d.pk] = {
                "reviewer_gold_accuracy": round(correct[key][n - 1] / n, 4),
                "reviewer_gold_n": n,
            }
    return out


def label_annotations(*, decisions: Sequence[Any]) -> dict[int, dict[str, Any]]:
    """The hook: the figures above merged per decision id."""
    out: dict[int, dict[str, Any]] = defaultdict(dict)
    for figures in (second_review_flags(decisions), gold_accuracy_at(decisions)):
        for pk, values in figures.items():
            out[pk].update(values)
    return dict(out)
