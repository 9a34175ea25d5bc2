"""Who may read which queue records: ONE rule, one selector per kind of object.

Every page, API and export that reads a prediction, a review item, a decision or an export row
starts from the selector here, so a reviewer outside a model's pool cannot read its records
through a side door (the queue refused them while the prediction API served them).

The rule, by caller:

- a **service account** reads its own models (``all_models`` or ``allowed_models``);
- a **lead**, an **engineer** or a **committee member** reads every model: leads manage every
  queue, engineers read everything (DESIGN's roles), and the committee needs the queue's records
  as evidence for threshold changes. Reading is all the committee gets: it never claims or
  decides (the page and API role checks stay as they are);
- anyone else (a **reviewer**) reads the models of their pools, plus a review item they hold
  (a lead may assign an item outside the holder's pools), except a gold or qualification item
  served to someone else and a second review of their own decision (docs/quality/blind.md);
- an anonymous caller reads nothing.

An object outside the caller's visibility is answered with 404, exactly as if it did not exist,
so ids cannot be probed for existence.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from reviewapp.core import roles
from reviewapp.models import (
    PER_REVIEWER_PURPOSES,
    Decision,
    MLModel,
    PoolMembership,
    Prediction,
    ReviewItem,
)

SEES_ALL_ROLES = (roles.LEAD, roles.ENGINEER, roles.COMMITTEE)


def is_service(principal: Any) -> bool:
    return bool(getattr(principal, "is_service", False))


def sees_all(principal: Any) -> bool:
    """A person whose role reads every model's records (never a service account)."""
    return not is_service(principal) and roles.has_role(principal, *SEES_ALL_ROLES)


def visible_model_ids(principal: Any) -> set[int] | None:
    """The ids of the models whose records the caller reads; None means every model.

    Cached on the principal for the request (a page asks several times)."""
    cached = getattr(principal, "_failsafe_visible_models", False)
    if cached is not False:
        return cached
    visible: set[int] | None
    if is_service(principal):
        account = principal.account
        visible = (
            None if account.all_models else set(account.allowed_models.values_list("pk", flat=True))
        )
    elif not getattr(principal, "is_authenticated", False):
        visible = set()
    elif sees_all(principal):
        visible = None
    else:
        visible = set(
            PoolMembership.objects.filter(user=principal).values_list("model_id", flat=True)
        )
    principal._failsafe_visible_models = visible
    return visible


def _by_model(qs: QuerySet, principal: Any) -> QuerySet:
    visible = visible_model_ids(principal)
    return qs if visible is None else qs.filter(model_id__in=visible)


def models_visible_to(principal: Any) -> QuerySet[MLModel]:
    """The models whose records (and current policy) the caller may read."""
    visible = visible_model_ids(principal)
    return MLModel.objects.all() if visible is None else MLModel.objects.filter(pk__in=visible)


def predictions_visible_to(principal: Any, qs: QuerySet[Prediction] | None = None) -> QuerySet:
    """Predictions (input, output and lineage included) the caller may read."""
    return _by_model(Prediction.objects.all() if qs is None else qs, principal)


def review_items_visible_to(
    principal: Any, qs: QuerySet[ReviewItem] | None = None, *, held: bool = True
) -> QuerySet:
    """Review items the caller may read: their models' items, and any item they hold.

    ``held=False`` leaves out the second part, for lists over the whole queue: the OR would
    keep PostgreSQL from reading the queue in its index order (a sort over every open item of
    the pools), and an item held outside one's pools (the pool membership ended meanwhile) is
    still reached by "Start reviewing", which serves the held item first, and by its own page.
    Service accounts read their predictions, never the queue."""
    qs = ReviewItem.objects.all() if qs is None else qs
    if is_service(principal):
        return qs.none()
    visible = visible_model_ids(principal)
    if visible is None:
        return qs
    # --- blind (review quality, docs/quality/blind.md): a reviewer never reads a gold or
    # qualification item served to someone else, nor a second review of their own decision.
    qs = qs.exclude(
        Q(purpose__in=PER_REVIEWER_PURPOSES) & ~Q(for_reviewer_id=principal.pk)
    ).exclude(excluded_reviewer_id=principal.pk)
    # --- end blind
    if not held:
        return qs.filter(model_id__in=visible)
    return qs.filter(Q(model_id__in=visible) | Q(claimed_by_id=principal.pk))


def decisions_visible_to(principal: Any, qs: QuerySet[Decision] | None = None) -> QuerySet:
    """Decisions (the feed, an item's history, export rows) the caller may read."""
    return _by_model(Decision.objects.all() if qs is None else qs, principal)


def export_rows_visible_to(principal: Any, qs: QuerySet[Decision]) -> QuerySet:
    """Label-export rows are released decisions: the decisions' rule, applied to the export."""
    return decisions_visible_to(principal, qs)
