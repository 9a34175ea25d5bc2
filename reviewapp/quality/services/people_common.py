"""What the people services share: the notification kinds, the leads, a lead's check and a
member's row (reviewapp/quality/services/{alerts,pauses,qualification,guidelines}.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import notifications
from reviewapp.core.exceptions import NotFound, PermissionDenied
from reviewapp.core.roles import LEAD, has_role
from reviewapp.models import PoolMembership

REVIEWER_ALERT = "quality.reviewer_alert"
REVIEWER_STATE = "quality.reviewer_state"
# The leads' nav counter of open alerts (selectors.people.open_alert_count).
OPEN_COUNT_KEY = "quality:open-alerts"
OPEN_COUNT_SECONDS = 30


def open_count_forget() -> None:
    """Now and again after the write commits, so a reader in between cannot keep the count
    from before it."""
    cache.delete(OPEN_COUNT_KEY)
    transaction.on_commit(lambda: cache.delete(OPEN_COUNT_KEY))


def register_notification_kinds() -> None:
    both = [notifications.IN_APP, notifications.EMAIL]
    notifications.register_kind(
        key=REVIEWER_ALERT,
        label=gettext_lazy("A reviewer's speed or accuracy needs a look"),
        channels=both,
        description=gettext_lazy(
            "The leads: fast accepts against peers, gold accuracy below the bound, a failed "
            "qualification set."
        ),
        order=70,
    )
    notifications.register_kind(
        key=REVIEWER_STATE,
        label=gettext_lazy("Your reviewing in a pool was paused, resumed or qualified"),
        channels=[notifications.IN_APP],
        description=gettext_lazy("The reviewer: a lead paused or resumed them, or they passed."),
        order=71,
    )


def lead_ids() -> list[int]:
    return list(
        get_user_model()
        ._default_manager.filter(groups__name=LEAD, is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lead_names() -> list[str]:
    return list(
        get_user_model()
        ._default_manager.filter(groups__name=LEAD, is_active=True)
        .order_by("username")
        .values_list("username", flat=True)
    )


def require_lead(user: Any) -> None:
    if not has_role(user, LEAD):
        raise PermissionDenied(_("Only leads manage reviewers in pools."))


def membership_for_update(*, model_id: Any, user_id: Any) -> PoolMembership:
    """The member's row, locked; 404 naming the field when there is none."""
    membership = (
        PoolMembership.objects.select_for_update(of=("self",))
        .select_related("model", "user")
        .filter(model_id=model_id, user_id=user_id)
        .first()
    )
    if membership is None:
        raise NotFound(_("This person is not in the model's pool."), field="user_id")
    return membership
