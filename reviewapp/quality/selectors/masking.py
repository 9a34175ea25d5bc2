"""Automation bias: how much more often reviewers agree with the model when they see its answer.

On a share of routed items (the model's ``suggestion_mask_rate``) the review page hides the
model's answer and the reviewer picks a label (reviewapp/services/decisions.py, action
``label``); the decision records ``suggestion_shown=False``. Comparing the agreement on shown
and masked items of the same reviewer estimates how far the suggestion sways them
(docs/quality/masking.md).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q

from reviewapp.models import Decision, Purpose

# Below this many decisions on either side the difference is "few": no interval is given.
MIN_N = 20
Z95 = 1.959964


@dataclass(frozen=True)
class BiasFigures:
    shown_n: int
    shown_agree: int
    masked_n: int
    masked_agree: int
    shown_rate: float | None
    masked_rate: float | None
    # shown − masked: how much more often the reviewer agrees when the model's answer is shown.
    bias: float | None
    ci_low: float | None
    ci_high: float | None
    # Either side has fewer than MIN_N decisions: the figure is shown, the interval is not.
    few: bool


def bias_figures(shown_n: int, shown_agree: int, masked_n: int, masked_agree: int) -> BiasFigures:
    """The difference of two proportions with a 95% normal-approximation (Wald) interval."""
    shown_rate = shown_agree / shown_n if shown_n else None
    masked_rate = masked_agree / masked_n if masked_n else None
    bias = ci_low = ci_high = None
    if shown_rate is not None and masked_rate is not None:
        bias = shown_rate - masked_rate
    few = shown_n < MIN_N or masked_n < MIN_N
    if bias is not None and not few:
        se = math.sqrt(
            shown_rate * (1 - shown_rate) / shown_n + masked_rate * (1 - masked_rate) / masked_n
        )
        ci_low, ci_high = max(-1.0, bias - Z95 * se), min(1.0, bias + Z95 * se)
    return BiasFigures(
        shown_n=shown_n,
        shown_agree=shown_agree,
        masked_n=masked_n,
        masked_agree=masked_agree,
        shown_rate=shown_rate,
        masked_rate=masked_rate,
        bias=bias,
        ci_low=ci_low,
        ci_high=ci_high,
        few=few,
    )


def automation_bias(
    *, model_id: int | None = None, reviewer_id: int | None = None, since: dt.datetime | None = None
) -> dict[str, Any]:
    """Agreement with the model with and without its answer shown, per reviewer and overall.

    Counted: final decisions (accept or override, not undone) on routed items. Shown: the
    share of decisions with ``suggestion_shown`` that accept. Masked: the share of masked
    decisions whose label is the model's. One grouped query.

    ``{"overall": {...}, "reviewers": [{"reviewer_id", "reviewer", ...}], "min_n": 20}``, each
    entry holding the fields of :class:`BiasFigures`; reviewers by name.
    """
    qs = Decision.objects.filter(
        action__in=[Decision.Action.ACCEPT, Decision.Action.OVERRIDE],
        undone_at__isnull=True,
        item__purpose=Purpose.ROUTED,
    )
    if model_id is not None:
        qs = qs.filter(model_id=model_id)
    if reviewer_id is not None:
        qs = qs.filter(reviewer_id=reviewer_id)
    if since is not None:
        qs = qs.filter(decided_at__gte=since)
    rows = (
        qs.values("reviewer_id", "suggestion_shown")
        .annotate(
            n=Count("id"),
            accepted=Count("id", filter=Q(action=Decision.Action.ACCEPT)),
            same=Count("id", filter=Q(final_label=F("predicted_label"))),
        )
        .order_by()
    )
    counts: dict[int, list[int]] = {}
    for row in rows:
        c = counts.setdefault(row["reviewer_id"], [0, 0, 0, 0])
        if row["suggestion_shown"]:
            c[0] += row["n"]
            c[1] += row["accepted"]
        else:
            c[2] += row["n"]
            c[3] += row["same"]
    names = dict(get_user_model().objects.filter(pk__in=counts).values_list("pk", "username"))
    reviewers = [
        {"reviewer_id": pk, "reviewer": names.get(pk, ""), **asdict(bias_figures(*c))}
        for pk, c in counts.items()
    ]
    reviewers.sort(key=lambda r: r["reviewer"])
    total = [sum(c[i] for c in counts.values()) for i in range(4)]
    return {"overall": asdict(bias_figures(*total)), "reviewers": reviewers, "min_n": MIN_N}
