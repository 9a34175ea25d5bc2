"""Find a review item from the top bar: by item id, prediction id or the producer's external id.

Only items the caller may read are searched (``review_items_visible_to``): for a reviewer an
item outside their pools is exactly as "not found" as an id that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext as _

from reviewapp.models import ReviewItem
from reviewapp.selectors.blind import shows_prediction_ids
from reviewapp.selectors.purposes import BLIND
from reviewapp.selectors.visibility import review_items_visible_to

QUERY_MAX = 200  # the longest external id a producer may send
LIMIT = 50


@dataclass
class FindResult:
    query: str
    # The items whose id, prediction id or external id is exactly the query.
    exact: list[ReviewItem] = field(default_factory=list)
    # Items whose external id starts with the query (only when nothing matched exactly).
    partial: list[ReviewItem] = field(default_factory=list)
    error: str = ""

    @property
    def only(self) -> ReviewItem | None:
        """The one item to jump to: a single exact match."""
        return self.exact[0] if len(self.exact) == 1 and not self.partial else None

    @property
    def items(self) -> list[ReviewItem]:
        return self.exact or self.partial


def _number(text: str) -> int | None:
    """ "41", "#41" → 41; anything else None (an id is a positive bigint)."""
    digits = text[1:] if text.startswith("#") else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        value = int(digits)
        return value if value > 0 else None
    return None


def find_items(*, user: Any, query: str | None) -> FindResult:
    text = (query or "").strip()
    result = FindResult(query=text)
    if not text:
        result.error = _("Type an item number, a prediction number or an external id.")
        return result
    if len(text) > QUERY_MAX:
        result.error = _("At most %(n)s characters: no id is longer.") % {"n": QUERY_MAX}
        return result
    if any(ord(c) < 32 for c in text):
        result.error = _("An id has no control characters (tabs, line breaks).")
        return result
    visible = review_items_visible_to(user).select_related("model", "prediction", "claimed_by")
    number = _number(text)
    # --- blind (docs/quality/blind.md): for a reviewer (not a lead, engineer or committee
    # member), a gold, qualification or second-review item is found only by its own number,
    # never through its prediction's ids, so nothing leads from the item one holds to the
    # source item that was decided.
    by_prediction = Q(prediction__external_id=text)
    if number is not None:
        by_prediction |= Q(prediction_id=number)
    if not shows_prediction_ids(user):
        by_prediction &= ~Q(purpose__in=BLIND)
    exact = by_prediction | Q(pk=number) if number is not None else by_prediction
    result.exact = list(visible.filter(exact).order_by("-id")[:LIMIT])
    if not result.exact and not text.startswith("#"):
        partial = Q(prediction__external_id__startswith=text)
        if not shows_prediction_ids(user):
            partial &= ~Q(purpose__in=BLIND)
        result.partial = list(visible.filter(partial).order_by("-id")[:LIMIT])
    return result
