"""The review-quality settings document: how a model's reviewers are checked.

A governed document of its own kind (``review_quality``), versioned and hashed apart from the
routing policy and the model settings, changed only by a change request. Pure: a document in,
problems by path out; :func:`effective` fills what a version leaves out from :data:`DEFAULTS`
(the values a model without any version runs with). The quality app reads the active version
(reviewapp/quality/settings.py; docs/quality.md says what each setting does).

Shape (every key optional)::

    {"gold_rate": 0.02, "adversarial_gold_share": 0.3,
     "second_review_rate": 0.05, "risky_override_confidence": 0.9, "risky_labels": ["fraud"],
     "suggestion_mask_rate": 0.05,
     "qualification_size": 10, "qualification_pass": 0.8,
     "gold_accuracy_alert": 0.7, "fast_accept_ratio": 0.35, "guideline_ack_required": true}
"""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Shares (0..1) of work: gold items per live item a reviewer decides; of the gold served, the
# share drawn from cases where the model was wrong; routed decisions sent to a blind second
# review (risky ones always are); items whose model answer is hidden from the reviewer.
RATES = ("gold_rate", "adversarial_gold_share", "second_review_rate", "suggestion_mask_rate")
# Bounds (0..1): an override of a prediction more confident than this is risky; the share of
# a qualification set to get right; gold accuracy below which leads are alerted; a reviewer
# whose median seconds per accepted item fall below this fraction of their peers' is alerted.
BOUNDS = (
    "risky_override_confidence",
    "qualification_pass",
    "gold_accuracy_alert",
    "fast_accept_ratio",
)
DEFAULTS: dict[str, Any] = {
    "gold_rate": 0.0,
    "adversarial_gold_share": 0.3,
    "second_review_rate": 0.0,
    "risky_override_confidence": 0.9,
    "risky_labels": [],
    "suggestion_mask_rate": 0.0,
    "qualification_size": 0,
    "qualification_pass": 0.8,
    "gold_accuracy_alert": 0.7,
    "fast_accept_ratio": 0.35,
    "guideline_ack_required": True,
}
# --- labels: what the change-request form, the diff and the model page call each setting ---
LABELS = {
    "gold_rate": gettext_lazy("Gold rate"),
    "adversarial_gold_share": gettext_lazy("Adversarial share of gold"),
    "second_review_rate": gettext_lazy("Blind second-review rate"),
    "risky_override_confidence": gettext_lazy("Risky override above confidence"),
    "risky_labels": gettext_lazy("Risky labels (always second-reviewed)"),
    "suggestion_mask_rate": gettext_lazy("Suggestion masking rate"),
    "qualification_size": gettext_lazy("Qualification set size"),
    "qualification_pass": gettext_lazy("Qualification pass mark"),
    "gold_accuracy_alert": gettext_lazy("Gold accuracy alert below"),
    "fast_accept_ratio": gettext_lazy("Fast-accept alert ratio"),
    "guideline_ack_required": gettext_lazy("Guideline acknowledgement required"),
}
HELP = {
    "gold_rate": gettext_lazy(
        "Share 0–1: gold items served per live item a reviewer decides (0.02 = one in 50). "
        "0 serves none."
    ),
    "adversarial_gold_share": gettext_lazy(
        "Share 0–1 of served gold drawn from cases where the model was wrong, to catch "
        "agreeing with the model by habit."
    ),
    "second_review_rate": gettext_lazy(
        "Share 0–1 of routed decisions sent to a blind second reviewer; held from the "
        "producer until the two agree or a lead adjudicates. Risky decisions always are."
    ),
    "risky_override_confidence": gettext_lazy(
        "Confidence 0–1: overriding a prediction more confident than this is risky (always "
        "second-reviewed)."
    ),
    "risky_labels": gettext_lazy(
        "Labels of this model whose decisions are always second-reviewed, as a JSON list: "
        '["fraud"]. [] for none.'
    ),
    "suggestion_mask_rate": gettext_lazy(
        "Share 0–1 of items shown without the model's answer and confidence; the reviewer "
        "picks a label. Measures automation bias."
    ),
    "qualification_size": gettext_lazy(
        "Gold items a new pool member decides before taking live items (0 to 100; 0: no "
        "qualification)."
    ),
    "qualification_pass": gettext_lazy(
        "Share 0–1 of the qualification set to get right to join the live queue."
    ),
    "gold_accuracy_alert": gettext_lazy(
        "Share 0–1: leads are alerted when a reviewer's gold accuracy falls below this."
    ),
    "fast_accept_ratio": gettext_lazy(
        "Ratio 0–1: leads are alerted when a reviewer's median seconds per accepted item fall "
        "below this fraction of their peers' on the same model."
    ),
    "guideline_ack_required": gettext_lazy(
        "When true, reviewers acknowledge a new guideline version before claiming again."
    ),
}
# --- end labels ---
MAX_QUALIFICATION = 100
MAX_LABELS = 50


def _share(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= 1
    )


def validate_review_quality(
    document: Any, *, labels: list[str] | None = None
) -> dict[str, list[str]]:
    """Problems by key; empty when the document is valid. ``labels``: the model's labels."""
    if not isinstance(document, dict):
        return {"": [_("Must be a JSON object.")]}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(document) - set(DEFAULTS)):
        errors[key] = [_("Unknown key.")]
    for key in (*RATES, *BOUNDS):
        if key in document and not _share(document[key]):
            errors[key] = [_("Must be a number from 0 to 1.")]
    size = document.get("qualification_size", 0)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= MAX_QUALIFICATION:
        errors["qualification_size"] = [
            _("Must be a whole number from 0 to %(n)s.") % {"n": MAX_QUALIFICATION}
        ]
    if not isinstance(document.get("guideline_ack_required", True), bool):
        errors["guideline_ack_required"] = [_("Must be true or false.")]
    risky = document.get("risky_labels", [])
    if not isinstance(risky, list) or not all(isinstance(x, str) and x for x in risky):
        errors["risky_labels"] = [_("Must be a list of labels.")]
    elif len(risky) > MAX_LABELS:
        errors["risky_labels"] = [_("At most %(n)s labels.") % {"n": MAX_LABELS}]
    elif labels:
        unknown = [x for x in risky if x not in labels]
        if unknown:
            errors["risky_labels"] = [
                _("Not labels of this model: %(unknown)s (it has %(labels)s).")
                % {"unknown": ", ".join(unknown), "labels": ", ".join(labels)}
            ]
    return errors


def effective(document: dict[str, Any] | None) -> dict[str, Any]:
    """The settings a model runs with: its active version over the defaults."""
    return {**DEFAULTS, **(document or {})}
