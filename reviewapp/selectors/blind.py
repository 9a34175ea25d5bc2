"""What a reviewer sees of a blind item (docs/quality/blind.md).

Gold, qualification and second-review items (``purposes.BLIND``) reuse a prediction that an
earlier item already brought to a human. A reviewer must not be able to tell them from live
routed items: every page and API that presents an item asks this module what to show
instead of reading the prediction's own received time, ids, reasons and model version.

Two rules, kept apart on purpose:

- ``reveals(viewer, item)``: only the roles that read every model and never review (lead,
  engineer, committee), and not on an item they review themselves, see a blind item's source
  facts and full history; only a lead sees its purpose (``reveals_purpose``).
- ``shows_prediction_ids(viewer)``: the producer's ids (prediction id, external id) and the
  prediction's audit trail are shown to those roles only, on *every* item, so a reviewer's
  blind item shows the same kind of field as a live one (none) rather than a made-up value
  that the top bar's search could not find.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from reviewapp.core import roles
from reviewapp.governance.rules import QA_SAMPLE
from reviewapp.models import Prediction, ReviewItem
from reviewapp.selectors.purposes import BLIND
from reviewapp.selectors.visibility import sees_all


def is_blind(item: ReviewItem) -> bool:
    return item.purpose in BLIND


def shows_prediction_ids(viewer: Any) -> bool:
    """The producer's prediction id and external id, and the prediction's audit trail, on
    every item: for the system and the roles that read every model, not for reviewers."""
    return viewer is None or sees_all(viewer)


def reveals(viewer: Any, item: ReviewItem) -> bool:
    """Whether ``viewer`` sees a blind item for what it is. Live items have nothing to hide.
    ``viewer=None`` is the system (tests, services): it sees everything."""
    if not is_blind(item) or viewer is None:
        return True
    if not sees_all(viewer):
        return False
    # A lead reviewing a gold item of their own (or holding a second review) is a reviewer.
    own = {item.for_reviewer_id, item.excluded_reviewer_id, item.claimed_by_id} - {None}
    return viewer.pk not in own


def reveals_purpose(viewer: Any, item: ReviewItem) -> bool:
    """The purpose of a blind item (gold, qualification, second review): leads only."""
    return is_blind(item) and roles.has_role(viewer, roles.LEAD) and reveals(viewer, item)


def current_model_version(model_id: int) -> str | None:
    """The model version of the model's latest prediction: what a live item shows now."""
    return (
        Prediction.objects.filter(model_id=model_id)
        .order_by("-received_at", "-id")
        .values_list("model_version", flat=True)
        .first()
    )


@dataclass(frozen=True)
class ShownPrediction:
    """The prediction's facts as the viewer sees them. For a live item (or a lead) these are
    the prediction's own; for a blind item they are what a live item would show."""

    received_at: dt.datetime
    model_version: str
    reason_codes: list[str]
    # None: not shown to this viewer (every item alike, see ``shows_prediction_ids``).
    prediction_id: int | None
    external_id: str | None
    # The routing details behind the reasons' sentences ({} when the reasons are replaced).
    reason_details: dict[str, Any] = field(default_factory=dict)
    blind: bool = False


def shown_reason_codes(item: ReviewItem, *, viewer: Any) -> list[str]:
    """The reason codes the viewer sees (lists read this without the model-version query):
    a blind item's prediction that passed reaches a live queue only as a QA sample."""
    p = item.prediction
    if reveals(viewer, item) or p.routed:
        return list(p.reason_codes or [])
    return [QA_SAMPLE]


def shown_ids(item: ReviewItem, *, viewer: Any) -> tuple[int | None, str | None]:
    """(prediction id, external id) as the viewer sees them: (None, None) for reviewers."""
    if shows_prediction_ids(viewer) and reveals(viewer, item):
        return item.prediction_id, item.prediction.external_id
    return None, None


def shown_prediction(item: ReviewItem, *, viewer: Any) -> ShownPrediction:
    p = item.prediction
    ids = shows_prediction_ids(viewer)
    if reveals(viewer, item):
        return ShownPrediction(
            received_at=p.received_at,
            model_version=p.model_version,
            reason_codes=list(p.reason_codes or []),
            prediction_id=p.pk if ids else None,
            external_id=p.external_id if ids else None,
            reason_details=dict(p.reason_details or {}),
        )
    return ShownPrediction(
        # A live routed item is created right after its prediction arrives.
        received_at=item.created_at,
        model_version=current_model_version(item.model_id) or p.model_version,
        reason_codes=shown_reason_codes(item, viewer=viewer),
        prediction_id=None,
        external_id=None,
        reason_details=dict(p.reason_details or {}) if p.routed else {},
        blind=True,
    )
