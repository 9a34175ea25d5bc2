"""Agreement between reviewers, per model and per label, over a window (default 90 days).

Where the labels come from:

- **Pairs** (Cohen's kappa): blind second reviews whose second decision is in: the first
  decision's label against the second's. Cancelled second reviews (the first decision was
  undone) are left out; an adjudication does not change the pair (it is what the two said).
- **Units** (Krippendorff's alpha): every final (accepted or overridden), not undone decision
  on items of the purposes in :data:`AGREEMENT_PURPOSES`, grouped by prediction, plus the two
  decisions of each closed second-review pair (kept even if a later adjudication superseded
  one). A lead's adjudicated answer is not a third independent rater and is left out. A
  prediction only one person labelled is a unit with missing labels for the others: alpha
  cannot use it and it is not counted in n.

Gold and qualification decisions are never agreement data: they test a reviewer against a
known answer (gold accuracy, on the scorecards).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q

from reviewapp.core import clock
from reviewapp.models import Decision, MLModel, Purpose
from reviewapp.selectors.visibility import models_visible_to

from .. import agreement as stats
from ..models import SecondReview

DEFAULT_DAYS = 90
MAX_DAYS = 730
AGREEMENT_PURPOSES = (
    Purpose.ROUTED,
    Purpose.SHIFT_SAMPLE,
    Purpose.MODE_SAMPLE,
    Purpose.INCIDENT_RECHECK,
    Purpose.SECOND_REVIEW,
)
# Second reviews whose two labels are both in and stay what the two reviewers said.
CLOSED_PAIR = (
    SecondReview.Status.AGREED,
    SecondReview.Status.ADJUDICATING,
    SecondReview.Status.ADJUDICATED,
)
FINAL = (Decision.Action.ACCEPT, Decision.Action.OVERRIDE)


def window_start(days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> dt.datetime:
    return (now or clock.now()) - dt.timedelta(days=days)


def closed_pairs(*, since: dt.datetime, model_ids: Iterable[int] | None = None):
    """Closed second reviews in the window (by the second decision's time), with both
    decisions loaded."""
    qs = SecondReview.objects.filter(
        status__in=CLOSED_PAIR,
        second_decision__isnull=False,
        second_decision__decided_at__gte=since,
        first_decision__action__in=FINAL,
        second_decision__action__in=FINAL,
    ).select_related("first_decision", "second_decision")
    if model_ids is not None:
        qs = qs.filter(model_id__in=list(model_ids))
    return qs


def label_pairs(*, since: dt.datetime, model_id: int) -> list[tuple[str, str]]:
    return [
        (sr.first_decision.final_label, sr.second_decision.final_label)
        for sr in closed_pairs(since=since, model_ids=[model_id])
    ]


def adjudication_decision_ids():
    """A subquery of the decisions a lead recorded as an adjudicated answer (not one of the
    two reviewers' own): not an independent label, nor a reviewer's decision to compare."""
    return (
        SecondReview.objects.filter(final_decision__isnull=False)
        .exclude(Q(final_decision=F("first_decision")) | Q(final_decision=F("second_decision")))
        .values("final_decision_id")
    )


def label_units(*, since: dt.datetime, model_id: int) -> list[list[str]]:
    """Per prediction, the labels its reviewers gave (see the module's docstring)."""
    rows = (
        Decision.objects.filter(
            model_id=model_id,
            decided_at__gte=since,
            action__in=FINAL,
            undone_at__isnull=True,
            item__purpose__in=list(AGREEMENT_PURPOSES),
        )
        .exclude(id__in=adjudication_decision_ids())
        .values_list("id", "prediction_id", "final_label")
    )
    labels: dict[int, dict[int, str]] = defaultdict(dict)
    for decision_id, prediction_id, label in rows:
        labels[prediction_id][decision_id] = label
    for sr in closed_pairs(since=since, model_ids=[model_id]):
        for d in (sr.first_decision, sr.second_decision):
            labels[sr.prediction_id][d.pk] = d.final_label
    return [list(by_decision.values()) for by_decision in labels.values()]


@dataclass
class LabelAgreement:
    label: str
    kappa: stats.Figure
    alpha: stats.Figure


@dataclass
class ModelAgreement:
    model: MLModel
    kappa: stats.Figure
    alpha: stats.Figure
    labels: list[LabelAgreement] = field(default_factory=list)
    pairs_agreeing: stats.Figure = field(default_factory=stats.empty)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.slug,
            "kappa": self.kappa.as_dict(),
            "alpha": self.alpha.as_dict(),
            "pairs_agreeing": self.pairs_agreeing.as_dict(),
            "labels": [
                {"label": la.label, "kappa": la.kappa.as_dict(), "alpha": la.alpha.as_dict()}
                for la in self.labels
            ],
        }


def model_agreement(*, model: MLModel, since: dt.datetime) -> ModelAgreement:
    pairs = label_pairs(since=since, model_id=model.pk)
    units = label_units(since=since, model_id=model.pk)
    seen = {x for a, b in pairs for x in (a, b)} | {x for u in units for x in u}
    ordered = [lab for lab in (model.labels or []) if lab in seen]
    ordered += sorted(seen - set(ordered))
    return ModelAgreement(
        model=model,
        kappa=stats.kappa_figure(pairs),
        alpha=stats.alpha_figure(units),
        pairs_agreeing=stats.wilson(sum(1 for a, b in pairs if a == b), len(pairs)),
        labels=[
            LabelAgreement(
                label=label,
                kappa=stats.kappa_figure(stats.one_vs_rest_pairs(pairs, label)),
                alpha=stats.alpha_figure(stats.one_vs_rest_units(units, label)),
            )
            for label in ordered
        ],
    )


def agreement_by_model(
    *, user: Any, days: int = DEFAULT_DAYS, model_slug: str | None = None
) -> list[ModelAgreement]:
    """Agreement figures for each model the caller reads (or the one named)."""
    since = window_start(days)
    models = models_visible_to(user).order_by("slug")
    if model_slug:
        models = models.filter(slug=model_slug)
    return [model_agreement(model=m, since=since) for m in models]
