"""What an item's purpose means to the readers of decisions (DESIGN, "Review items have a
purpose"): which decisions reach the producer and how, which are labels, which are never counted.

One place for the rules, so the webhook outbox, the decisions feed, the label export, evidence and
the review page cannot disagree. docs/failsafe.md ("Modes in routing, replay and delivery") gives
the reasons.
"""

from __future__ import annotations

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from reviewapp.models import Decision, Prediction, Purpose

P = Purpose

# Never counted anywhere (dashboards, monitors, calibration, exports, the feed, the catalog).
UNCOUNTED = (P.GOLD, P.QUALIFICATION)
# Items a reviewer must not be able to tell from routed ones (docs/quality.md, "Blind items"):
# nothing on their page, in the API or in the lists says what they are, and nothing shows an
# earlier decision on the same prediction.
BLIND = (P.GOLD, P.QUALIFICATION, P.SECOND_REVIEW)
# Items whose decision is a label for the prediction: exported, and read by evidence. A second
# review is a second opinion on a prediction already labelled by its routed item; which of two
# disagreeing labels stands is adjudication's to say, so it is not a label of its own here.
LABELS = (P.ROUTED, P.SHIFT_SAMPLE, P.MODE_SAMPLE, P.INCIDENT_RECHECK)
# Items that look again at what routing let pass: an override of a passed prediction on one of
# them is a correction (``decision.corrected``).
CORRECTING = (P.SHIFT_SAMPLE, P.INCIDENT_RECHECK)

HALTED = "halted"

# What a reviewer reads on the review page about why they see this item, for the purposes a
# reviewer may know (gold and qualification items must look like any other item).
REVIEWER_NOTES = {
    P.SHIFT_SAMPLE: _(
        "Shift sample: this prediction passed automatically while the model's metrics shifted. "
        "Check whether the model was right; an override is sent to the producer as a correction."
    ),
    P.MODE_SAMPLE: _(
        "Halted-model sample: the model is halted and the producer served the fallback. Your "
        "decision is kept as evidence of how the model is doing; nothing is sent to the producer."
    ),
    P.INCIDENT_RECHECK: _("Incident recheck: an incident asked for this prediction to be checked."),
}
# The short label the queue lists show beside such an item.
LIST_LABELS = {
    P.SHIFT_SAMPLE: _("shift sample"),
    P.MODE_SAMPLE: _("halted sample"),
    P.INCIDENT_RECHECK: _("recheck"),
}


def correction_q(prefix: str = "") -> Q:
    """Decisions that overturn a prediction routing let pass: an override on a correcting item
    of a prediction that was not routed and not halted (a halted model's output was never
    served). ``prefix`` is the path from the queried model to the decision."""
    return (
        Q(**{f"{prefix}action": Decision.Action.OVERRIDE})
        & Q(**{f"{prefix}item__purpose__in": CORRECTING})
        & Q(**{f"{prefix}prediction__routed": False})
        & ~Q(**{f"{prefix}prediction__routing_mode": HALTED})
    )


def producer_q() -> Q:
    """Decisions the producer hears of: every final decision of a routed item
    (``decision.made``) and the corrections (``decision.corrected``)."""
    return Q(item__purpose=P.ROUTED) | correction_q()


def is_correction(*, purpose: str, action: str, prediction: Prediction) -> bool:
    """The Python form of :func:`correction_q` for one decision."""
    return (
        action == Decision.Action.OVERRIDE
        and purpose in CORRECTING
        and prediction.routed is False
        and prediction.routing_mode != HALTED
    )


def reviewer_note(purpose: str) -> str:
    """Why the reviewer sees this item, if its purpose is one a reviewer may know; else ""."""
    note = REVIEWER_NOTES.get(purpose)
    return str(note) if note else ""
