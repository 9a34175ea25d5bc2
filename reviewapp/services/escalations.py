"""Items escalated to the leads: the top bar's count and the notice the leads get.

The count is one indexed COUNT (``review_status_sla_idx``: status first), cached for
``REVIEW_ESCALATIONS_COUNT_SECONDS`` and dropped when an item is escalated, so a lead's pages
pay for it at most once in that time and a new escalation shows on their next page. Leads
read every model, so one global count serves every lead.

The notice goes through core's one mechanism after the escalation commits (a rolled-back
decision tells nobody) and in its own transaction: a failing notice is logged and never
undoes the reviewer's decision.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import notifications
from reviewapp.core.audit import Actor
from reviewapp.core.roles import LEAD
from reviewapp.models import Decision, ReviewItem

logger = logging.getLogger(__name__)

ESCALATED = "queue.escalated"
COUNT_KEY = "failsafe:escalated-count"
NOTE_MAX = 500


def register_notification_kinds() -> None:
    """Called from ReviewAppConfig.ready()."""
    notifications.register_kind(
        key=ESCALATED,
        label=gettext_lazy("An item was escalated to the leads"),
        # In the app by default: escalations can come in dozens a shift; email is a choice.
        channels=[notifications.IN_APP],
        description=gettext_lazy(
            "Leads: a reviewer escalated an item, or deferred it once too often."
        ),
        order=20,
    )


def escalated_count(user: Any = None) -> int:
    """Items waiting for a lead (status ``escalated``), across every model."""
    n = cache.get(COUNT_KEY)
    if n is None:
        n = ReviewItem.objects.filter(status=ReviewItem.Status.ESCALATED).count()
        cache.set(COUNT_KEY, n, int(settings.REVIEW_ESCALATIONS_COUNT_SECONDS))
    return n


def escalated_count_forget() -> None:
    cache.delete(COUNT_KEY)


def _lead_ids() -> list[int]:
    return list(
        get_user_model()
        ._default_manager.filter(groups__name=LEAD, is_active=True)
        .values_list("pk", flat=True)
    )


def escalation_notify(*, item: ReviewItem, decision: Decision, auto: bool) -> None:
    """Tell the leads (not the person who escalated) after the escalation commits."""
    item_id, model_slug = item.pk, item.model.slug
    reviewer, note = decision.reviewer, decision.note

    def send() -> None:
        escalated_count_forget()
        who = reviewer.get_username()
        if auto:
            title = _("Item #%(id)s (%(model)s) escalated: deferred by %(who)s once too often") % {
                "id": item_id,
                "model": model_slug,
                "who": who,
            }
        else:
            title = _("Item #%(id)s (%(model)s) escalated by %(who)s") % {
                "id": item_id,
                "model": model_slug,
                "who": who,
            }
        body = note if len(note) <= NOTE_MAX else note[: NOTE_MAX - 1] + "…"
        try:
            with transaction.atomic():
                notifications.notify(
                    recipients=[pk for pk in _lead_ids() if pk != reviewer.pk],
                    kind=ESCALATED,
                    title=title[: notifications.TITLE_MAX],
                    body=body,
                    link=reverse("queue:item", args=[item_id]),
                    actor=Actor.user(reviewer),
                )
        except Exception:  # a notice never undoes the decision it reports
            logger.exception("Could not tell the leads about escalated item %s", item_id)

    transaction.on_commit(send)
