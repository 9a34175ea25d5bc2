"""What the review page shows about an item: inputs that matter, similar decisions, failure modes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from catalog import selectors as catalog_selectors
from catalog.models import FailureMode
from reviewapp import presentation
from reviewapp.governance.anomalies import describe_findings, flagged_fields
from reviewapp.governance.rules import REASON_LABELS, describe_reasons
from reviewapp.models import (
    Decision,
    GuidelineVersion,
    ReviewItem,
)
from reviewapp.models.ingest import PAYLOAD_DEFAULTS, adopt_payload_values, payload_subqueries
from reviewapp.selectors.blind import ShownPrediction, shown_prediction
from reviewapp.selectors.history import item_decisions
from reviewapp.selectors.purposes import UNCOUNTED, reviewer_note
from reviewapp.selectors.visibility import review_items_visible_to

S = ReviewItem.Status


# --- the review page ------------------------------------------------------------------------
def review_item_for_page(item_id: int, *, user: Any = None) -> ReviewItem | None:
    """The item with what its page shows; with ``user``, only if that user may read it
    (``visibility.review_items_visible_to``), else None."""
    qs = ReviewItem.objects.all() if user is None else review_items_visible_to(user)
    item = (
        qs.select_related(
            "model", "prediction", "prediction__policy_version", "claimed_by", "assigned_by"
        )
        # The payload (side table) in the same query: the page reads all four fields.
        .annotate(
            **payload_subqueries(
                PAYLOAD_DEFAULTS, outer="prediction_id", received_at="prediction__received_at"
            )
        )
        .filter(pk=item_id)
        .first()
    )
    if item is not None:
        adopt_payload_values(item, item.prediction)
    return item


def important_inputs(
    prediction: Any,
    *,
    shown: int = 6,
    long_chars: int = 80,
    first: set[str] | None = None,
    exclude: set[str] | None = None,
) -> dict[str, Any]:
    """The inputs that matter most: by |attribution| when the producer sent attributions,
    else all in the order sent; the fields named in ``first`` (the data-quality findings')
    before the rest; the fields in ``exclude`` (an image or text the page draws itself) left
    out. Long values are marked so the page can collapse them."""
    features = (
        prediction.input if isinstance(prediction.input, dict) else {"input": prediction.input}
    )
    if exclude:
        features = {k: v for k, v in features.items() if k not in exclude}
    attributions = (prediction.signals or {}).get("attributions") or {}
    rows = []
    for name, value in features.items():
        text = value if isinstance(value, str) else str(value)
        attr = attributions.get(name)
        attr = float(attr) if isinstance(attr, int | float) and not isinstance(attr, bool) else None
        rows.append(
            {"name": name, "value": text, "attribution": attr, "long": len(text) > long_chars}
        )
    if attributions:
        rows.sort(key=lambda r: (r["attribution"] is None, -abs(r["attribution"] or 0)))
    if first:
        rows.sort(key=lambda r: r["name"] not in first)
    max_attr = max((abs(r["attribution"]) for r in rows if r["attribution"] is not None), default=0)
    for r in rows:
        r["bar"] = (
            round(100 * abs(r["attribution"]) / max_attr) if r["attribution"] and max_attr else 0
        )
    # Attributions that name spans of a text field (docs/presentation.md) rank no row.
    ranked = any(r["attribution"] is not None for r in rows)
    return {"top": rows[:shown], "rest": rows[shown:], "by_attribution": ranked}


def similar_decisions(item: ReviewItem, *, limit: int = 4) -> list[Decision]:
    """Final decisions on the same model and predicted label with the nearest confidence:
    two index range scans (above and below), merged by distance. Gold and qualification
    decisions are not shown (they never count, and would give a gold item's answer away), nor
    other decisions on the same prediction (a sample's reviewer must judge afresh): this also
    leaves out every other item of the prediction, blind or not, so a gold, qualification or
    second-review item never shows its source item's answer at the identical confidence."""
    prediction = item.prediction
    base = (
        Decision.objects.filter(
            model_id=item.model_id,
            predicted_label=prediction.label,
            action__in=[Decision.Action.ACCEPT, Decision.Action.OVERRIDE],
            undone_at__isnull=True,
        )
        .exclude(prediction_id=item.prediction_id)
        .exclude(item__purpose__in=UNCOUNTED)
    )
    c = prediction.confidence
    above = list(base.filter(model_confidence__gte=c).order_by("model_confidence", "-id")[:limit])
    below = list(base.filter(model_confidence__lt=c).order_by("-model_confidence", "-id")[:limit])
    merged = sorted(above + below, key=lambda d: (abs(d.model_confidence - c), -d.pk))
    return merged[:limit]


def matching_failure_modes(
    item: ReviewItem, *, reason_codes: list[str] | None = None
) -> list[FailureMode]:
    """Catalog entries that fit the item, best first (the catalog's matching); a blind
    item matches by the reasons its page shows (``reason_codes``), a masked item without the
    predicted label, which would rank them by it."""
    prediction = item.prediction
    if reason_codes is None:
        reason_codes = list(prediction.reason_codes or [])
    return catalog_selectors.failure_modes_matching(
        model_slug=item.model.slug,
        label="" if item.suggestion_masked else prediction.label,
        reason_codes=reason_codes,
        drift_features=list((prediction.signals or {}).get("drift_features") or []),
        limit=5,
    )


def current_guideline(model_id: int) -> GuidelineVersion | None:
    return (
        GuidelineVersion.objects.filter(model_id=model_id)
        .select_related("created_by")
        .order_by("-version")
        .first()
    )


@dataclass
class ReviewContext:
    item: ReviewItem
    reasons: list[str]
    threshold: float | None
    margin: float | None
    inputs: dict[str, Any]
    similar: list[Decision]
    failure_modes: list[FailureMode]
    guideline: GuidelineVersion | None
    decisions: list[Decision]
    ood_score: float | None
    ood_limit: float | None
    drift_features: list[str]
    scores: list[tuple[str, float]]
    # The data-quality findings routing stored, as sentences, and the input fields they name.
    diagnostics: list[str]
    flagged: set[str]
    # Why a sample or recheck is in the queue (a confident prediction needs saying why); empty
    # for routed items and for gold and qualification, which look like routed ones.
    purpose_note: str = ""
    # How the model's declaration presents the input (an image, a text, key–value pairs).
    presented: presentation.Presented | None = None
    # Suggestion masking: the model's label, confidence, scores, threshold line and the
    # similar decisions (keyed on the label) are left out; the reviewer picks a label.
    masked: bool = False
    # The prediction's received time, ids, reasons and model version as the viewer sees them
    # (a blind item shows a live item's kind of values: selectors.blind).
    shown: ShownPrediction | None = None


def data_findings(prediction: Any) -> list[dict[str, Any]]:
    """What the data-quality check found when the prediction was routed: the routing facts
    hold them (also when the policy does not route on them, and under a halted model); the
    reason details of older records as a fallback."""
    facts = prediction.routing_facts or {}
    found = facts.get("anomalies") or (prediction.reason_details or {}).get("anomalies") or []
    return [f for f in found if isinstance(f, dict)]


def masked_reasons(codes: list[str]) -> list[str]:
    """Why a masked item was flagged, in words that carry no label and no number (the full
    sentences name the confidence, the threshold or the label the scores disagree with)."""
    return list(dict.fromkeys(REASON_LABELS.get(code, code) for code in codes))


def review_context(item: ReviewItem, *, viewer: Any = None) -> ReviewContext:
    """The review page's context for ``viewer`` (None: the system, which sees everything)."""
    prediction = item.prediction
    shown = shown_prediction(item, viewer=viewer)
    signals = prediction.signals or {}
    threshold = prediction.threshold
    margin = round(prediction.confidence - threshold, 4) if threshold is not None else None
    policy = prediction.policy_version
    ood = signals.get("ood_score")
    scores = (prediction.output or {}).get("scores") or {}
    findings = data_findings(prediction)
    flagged = flagged_fields(findings)
    presented = presentation.present(
        item.model.presentation,
        prediction.input,
        signals,
        max_image_bytes=settings.INGEST_MAX_BODY_BYTES,
    )
    details = shown.reason_details
    if findings:
        # The diagnostics line lists every finding: the reason says only what kind it is.
        details = {k: v for k, v in details.items() if k != "anomalies"}
    context = ReviewContext(
        item=item,
        reasons=describe_reasons(shown.reason_codes, details),
        threshold=threshold,
        margin=margin,
        inputs=important_inputs(prediction, first=flagged, exclude=presented.fields),
        similar=[] if item.suggestion_masked else similar_decisions(item),
        failure_modes=matching_failure_modes(item, reason_codes=shown.reason_codes),
        guideline=current_guideline(item.model_id),
        decisions=item_decisions(item.pk),
        ood_score=float(ood) if isinstance(ood, int | float) else None,
        ood_limit=(policy.rules or {}).get("max_ood_score") if policy else None,
        drift_features=list(signals.get("drift_features") or []),
        scores=sorted(
            ((str(k), float(v)) for k, v in scores.items() if isinstance(v, int | float)),
            key=lambda kv: -kv[1],
        ),
        diagnostics=describe_findings(findings),
        flagged=flagged,
        purpose_note=reviewer_note(item.purpose),
        presented=presented,
        shown=shown,
    )
    if item.suggestion_masked:
        # --- suggestion masking ---
        context.masked = True
        context.reasons = masked_reasons(shown.reason_codes)
        context.threshold = context.margin = None
        context.similar = []
        context.scores = []
    return context
