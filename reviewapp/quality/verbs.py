"""The review-quality app's audit verbs (``quality.``)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from reviewapp.core import verbs as core_verbs

PREFIX = "quality."

VERBS = {
    "quality.gold_item.marked": _("Gold item marked"),
    "quality.gold_item.retired": _("Gold item retired"),
    "quality.gold_item.served": _("Gold item served to a reviewer"),
    "quality.gold_serving.scored": _("Gold answer scored"),
    # --- gold ---
    "quality.gold_serving.reset": _("Gold answer's score withdrawn (decision undone)"),
    # --- end gold ---
    "quality.second_review.requested": _("Blind second review requested"),
    "quality.second_review.agreed": _("Second review agreed; decision released"),
    "quality.second_review.disagreed": _("Second review disagreed; sent to adjudication"),
    "quality.second_review.adjudicated": _("Disagreement adjudicated"),
    "quality.second_review.cancelled": _("Second review cancelled"),
    # --- double ---
    "quality.second_review.reopened": _("Second review reopened (a decision was undone)"),
    "quality.decision.superseded": _("Decision superseded by adjudication"),
    "quality.alert.raised": _("Review-quality alert raised"),
    "quality.alert.resolved": _("Review-quality alert resolved"),
    "quality.reviewer.paused": _("Reviewer paused from a pool"),
    "quality.reviewer.resumed": _("Reviewer resumed in a pool"),
    "quality.qualification.started": _("Qualification set served"),
    "quality.qualification.passed": _("Qualification passed"),
    "quality.qualification.failed": _("Qualification not passed"),
    "quality.qualification.skipped": _("Qualification not served: too few gold items"),
    "quality.guideline.acknowledged": _("Guideline acknowledged"),
    "quality.guideline.ack_requested": _("Guideline acknowledgement requested"),
}


def register_audit_verbs() -> None:
    core_verbs.register(prefix=PREFIX, verbs=VERBS)
