"""Who is told what about a change request (docs/governance.md, "Lifecycle: who is told what").

Every notice goes through core's one mechanism (``core.notifications.notify``) and is sent
after the change that caused it commits (``transaction.on_commit``): a rolled-back vote tells
nobody, and a failing notice never undoes a governance decision (``robust``: it is logged).
The recipients are worked out inside the transaction, as the request stood when it changed.
Nobody is told of their own action.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import notifications
from reviewapp.core.audit import Actor

from .. import selectors
from ..models import Approval, ChangeRequest, ChangeRequestComment

logger = logging.getLogger(__name__)

VOTE_REQUESTED = "governance.vote_requested"
REQUEST_ACTIVITY = "governance.request_activity"
REQUEST_OUTCOME = "governance.request_outcome"
EMERGENCY_ROLLBACK = "governance.emergency_rollback"
RATIFICATION_OVERDUE = "governance.ratification_overdue"


def register_notification_kinds() -> None:
    """Called from GovernanceConfig.ready()."""
    both = [notifications.IN_APP, notifications.EMAIL]
    for order, (key, label, description) in enumerate(
        (
            (
                VOTE_REQUESTED,
                gettext_lazy("Change requests to vote on"),
                gettext_lazy("Committee: a change request was submitted or resubmitted."),
            ),
            (
                REQUEST_ACTIVITY,
                gettext_lazy("Activity on my change requests"),
                gettext_lazy("Proposers: a vote, a rejection, a request for changes or a comment."),
            ),
            (
                REQUEST_OUTCOME,
                gettext_lazy("Change requests I took part in"),
                gettext_lazy(
                    "Proposer, voters and commenters: the request was applied, went stale or "
                    "expired."
                ),
            ),
            (
                EMERGENCY_ROLLBACK,
                gettext_lazy("Emergency rollbacks"),
                gettext_lazy(
                    "Committee and everyone involved in the rolled-back change: a version was "
                    "rolled back at once (by a lead or a rollback trigger)."
                ),
            ),
            (
                RATIFICATION_OVERDUE,
                gettext_lazy("Overdue ratifications"),
                gettext_lazy("Committee: daily, while an emergency rollback is not ratified."),
            ),
        )
    ):
        notifications.register_kind(
            key=key, label=label, channels=both, description=description, order=40 + order
        )


def request_link(change_request_id: int) -> str:
    return reverse("governance:request", args=[change_request_id])


def _user_id(actor: Actor | None) -> int | None:
    if actor is not None and actor.type == "user" and actor.id.isdigit():
        return int(actor.id)
    return None


def _send(
    *, recipients: Iterable[int | None], kind: str, title: str, body: str, cr_id: int,
    actor: Actor | None,
) -> None:  # fmt: skip
    """Queue one notice for after commit (nothing when the transaction rolls back)."""
    skip = _user_id(actor)
    ids = sorted({pk for pk in recipients if pk is not None and pk != skip})
    if not ids:
        return
    link = request_link(cr_id)
    title = title[: notifications.TITLE_MAX]

    def send() -> None:
        notifications.notify(
            recipients=ids, kind=kind, title=title, body=body, link=link, actor=actor
        )

    transaction.on_commit(send, robust=True)


def _name(cr: ChangeRequest) -> str:
    return _("change request #%(id)s (%(model)s)") % {"id": cr.pk, "model": cr.model_slug}


def committee_ids(cr: ChangeRequest) -> list[int]:
    """The model's eligible voters (committee or named approver group), not the proposer."""
    return list(
        selectors.eligible_voters(cr.model_slug, exclude_user_id=cr.proposer_id).values_list(
            "pk", flat=True
        )
    )


def involved_ids(cr: ChangeRequest) -> set[int | None]:
    """The proposer, everyone who voted (lapsed votes too) and everyone who commented."""
    ids: set[int | None] = {cr.proposer_id}
    ids.update(Approval.objects.filter(change_request=cr).values_list("user_id", flat=True))
    ids.update(
        ChangeRequestComment.objects.filter(change_request=cr).values_list("author_id", flat=True)
    )
    return ids


def review_requested(cr: ChangeRequest, actor: Actor, *, again: bool = False) -> None:
    title = (
        _("Resubmitted for your vote: %(cr)s") if again else _("Awaiting your vote: %(cr)s")
    ) % {"cr": _name(cr)}
    _send(recipients=committee_ids(cr), kind=VOTE_REQUESTED, title=title,
          body=cr.rationale[:2000], cr_id=cr.pk, actor=actor)  # fmt: skip


PROPOSER_TITLES = {
    "voted": gettext_lazy("%(who)s approved your %(cr)s"),
    "rejected": gettext_lazy("%(who)s rejected your %(cr)s"),
    "changes_requested": gettext_lazy("%(who)s asked for changes to your %(cr)s"),
    "commented": gettext_lazy("%(who)s commented on your %(cr)s"),
}


def proposer_told(cr: ChangeRequest, actor: Actor, what: str, body: str = "") -> None:
    """The proposer hears of every vote, rejection, request for changes and comment."""
    title = str(PROPOSER_TITLES[what]) % {"who": actor.label, "cr": _name(cr)}
    _send(recipients=[cr.proposer_id], kind=REQUEST_ACTIVITY, title=title, body=body[:2000],
          cr_id=cr.pk, actor=actor)  # fmt: skip


OUTCOME_TITLES = {
    "applied": gettext_lazy("Applied: %(cr)s is now version %(v)s"),
    "stale": gettext_lazy("Stale: %(cr)s (version %(v)s became active)"),
    "expired": gettext_lazy("Expired: %(cr)s"),
}


def involved_told(cr: ChangeRequest, actor: Actor, what: str, body: str = "") -> None:
    """Everyone involved hears when the request is applied, goes stale or expires."""
    version = cr.applied_version if what == "applied" else cr.stale_version
    title = str(OUTCOME_TITLES[what]) % {"cr": _name(cr), "v": version}
    _send(recipients=involved_ids(cr), kind=REQUEST_OUTCOME, title=title, body=body,
          cr_id=cr.pk, actor=actor)  # fmt: skip


def emergency_rollback_told(
    cr: ChangeRequest, actor: Actor, *, rolled_back: ChangeRequest | None
) -> None:
    """The committee, and everyone involved in the request whose version was rolled back."""
    recipients: set[int | None] = set(committee_ids(cr))
    if rolled_back is not None:
        recipients |= involved_ids(rolled_back)
    title = _("Emergency rollback of %(model)s to version %(v)s by %(who)s") % {
        "model": cr.model_slug,
        "v": cr.restores_version,
        "who": actor.label,
    }
    body = _("Reason: %(reason)s\nOne committee ratification is due by %(due)s (UTC).") % {
        "reason": cr.reason,
        "due": cr.ratification_due.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
        if cr.ratification_due
        else "-",
    }
    _send(recipients=recipients, kind=EMERGENCY_ROLLBACK, title=title, body=body,
          cr_id=cr.pk, actor=actor)  # fmt: skip


def ratification_overdue_told(cr: ChangeRequest, actor: Actor) -> None:
    title = _("Ratification overdue: emergency rollback %(cr)s") % {"cr": _name(cr)}
    body = _("Ratify the rollback, or approve its revert request #%(f)s.") % {
        "f": cr.follow_up_id or "-"
    }
    # The lead who rolled back may not ratify: not reminded.
    _send(recipients=committee_ids(cr), kind=RATIFICATION_OVERDUE, title=title, body=body,
          cr_id=cr.pk, actor=actor)  # fmt: skip
