"""Who is told what about a model's operating mode (docs/failsafe.md, "Modes and the API").

Through core's one mechanism (``core.notifications.notify``), after the switch commits
(``transaction.on_commit``, robust): a rolled-back switch tells nobody, and a failing notice
never undoes a containment (it is logged). The recipients are the model's owners, the
containment's owner and the leads, worked out inside the switch's transaction; the person who
switched is not told of their own action.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import notifications
from reviewapp.core.audit import Actor
from reviewapp.core.roles import LEAD
from reviewapp.models import MLModel, Mode

from .models import ModeChange

logger = logging.getLogger(__name__)

MODE_CHANGED = "failsafe.mode_changed"
REVIEW_DUE = "failsafe.review_due"

MODE_WORDS = {
    Mode.NORMAL: gettext_lazy("back to normal"),
    Mode.CONTAINED: gettext_lazy("contained: every prediction goes to human review"),
    Mode.HALTED: gettext_lazy("halted: its output is not used, producers serve the fallback"),
}


def register_notification_kinds() -> None:
    """Called from FailsafeConfig.ready()."""
    both = [notifications.IN_APP, notifications.EMAIL]
    notifications.register_kind(
        key=MODE_CHANGED,
        label=gettext_lazy("A model was contained, halted or lifted"),
        channels=both,
        description=gettext_lazy("The model's owners and the leads: every switch of its mode."),
        order=60,
    )
    notifications.register_kind(
        key=REVIEW_DUE,
        label=gettext_lazy("A containment is past its review time"),
        channels=both,
        description=gettext_lazy(
            "The containment's owner, the model's owners and the leads: until someone extends "
            "or lifts it."
        ),
        order=61,
    )


def lead_ids() -> list[int]:
    return list(
        get_user_model()
        ._default_manager.filter(groups__name=LEAD, is_active=True)
        .values_list("pk", flat=True)
    )


def recipients_for(model: MLModel, *, owner_id: int | None) -> set[int]:
    """The model's owners, the containment's owner and the leads."""
    ids = set(model.owners.values_list("pk", flat=True))
    ids.update(lead_ids())
    if owner_id is not None:
        ids.add(owner_id)
    return ids


def model_link(model: MLModel) -> str:
    """The model's dashboard: its mode, its metrics, and (the pages part) the switch."""
    return reverse("dashboards:model", args=[model.slug])


def _send(*, recipients: Iterable[int], kind: str, title: str, body: str, link: str,
          actor: Actor | None) -> None:  # fmt: skip
    ids = sorted(set(recipients))
    if not ids:
        return
    title = title[: notifications.TITLE_MAX]

    def send() -> None:
        notifications.notify(
            recipients=ids, kind=kind, title=title, body=body, link=link, actor=actor
        )

    transaction.on_commit(send, robust=True)


def mode_changed(*, model: MLModel, change: ModeChange) -> None:
    """The ``failsafe.mode_changed`` hook: tell the owners and the leads."""
    by = (
        _("by %(who)s") % {"who": change.actor.get_username()}
        if change.actor is not None
        else _("automatically by monitor %(monitor)s") % {"monitor": change.monitor}
    )
    title = _("%(model)s %(what)s (%(by)s)") % {
        "model": model.slug,
        "what": MODE_WORDS.get(change.to_mode, change.to_mode),
        "by": by,
    }
    lines = [_("Reason: %(reason)s") % {"reason": change.reason}]
    if change.review_by is not None and change.to_mode != Mode.NORMAL:
        lines.append(
            _("To be reviewed by %(when)s UTC.")
            % {"when": change.review_by.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")}
        )
    actor = Actor.user(change.actor) if change.actor is not None else None
    skip = change.actor_id
    _send(
        recipients=(pk for pk in recipients_for(model, owner_id=change.owner_id) if pk != skip),
        kind=MODE_CHANGED,
        title=title,
        body="\n".join(lines),
        link=model_link(model),
        actor=actor,
    )


def review_due(*, model: MLModel, mode: str, since: Any, review_by: Any,
               owner_id: int | None) -> int:  # fmt: skip
    """Remind the containment's owner, the model's owners and the leads (called by the
    reminders service, inside its transaction). Returns how many people are asked."""
    ids = recipients_for(model, owner_id=owner_id)
    title = _("%(model)s is still %(mode)s: its review time has passed") % {
        "model": model.slug,
        "mode": mode,
    }
    body = _(
        "%(mode)s since %(since)s UTC, to be reviewed by %(when)s UTC. Extend the containment "
        "or lift it."
    ) % {
        "mode": mode,
        "since": since.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "when": review_by.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }
    _send(recipients=ids, kind=REVIEW_DUE, title=title, body=body, link=model_link(model),
          actor=Actor.system("failsafe.reminders"))  # fmt: skip
    return len(ids)
