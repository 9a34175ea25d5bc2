"""The editorial workflow of a failure mode: the FAILURE_MODE machine and who may take each
action, deciding pending revisions, restoring a status or an earlier version."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.state import transition

from ..models import FailureMode, PendingRevision, Revision
from .common import (
    Status,
    actor_for,
    can_edit,
    check_required,
    failure_mode_snapshot,
    person_for,
    revision_add,
    username_of,
)
from .failure_modes import FM_CONTENT_FIELDS, failure_mode_update, failure_mode_update_unchecked
from .revisions import REVISION

# The editorial workflow of a failure mode (core's state machine): action -> transition.
FAILURE_MODE = state.Machine(
    model=FailureMode,
    events={
        "submit": transition(Status.DRAFT, Status.IN_REVIEW, "catalog.failure_mode.submitted"),
        "return": transition(Status.IN_REVIEW, Status.DRAFT, "catalog.failure_mode.returned"),
        "publish": transition(Status.IN_REVIEW, Status.PUBLISHED, "catalog.failure_mode.published"),
        "deprecate": transition(
            Status.PUBLISHED, Status.DEPRECATED, "catalog.failure_mode.deprecated"
        ),
        "reopen": transition(Status.PUBLISHED, Status.IN_REVIEW, "catalog.failure_mode.reopened"),
        "revive": transition(Status.DEPRECATED, Status.DRAFT, "catalog.failure_mode.revived"),
    },
    # Every save bumps the version: a workflow action never lands on an edit it did not see.
    match=("version",),
)

# Who may take each action (the catalog's rule, beside the machine's table):
#   "author_or_editor": the entry's author, or anyone with change_failuremode
#   "publisher": publish_failuremode, and never the entry's author
#   "editor": change_failuremode
WHO_MAY: dict[str, str] = {
    "submit": "author_or_editor",
    "return": "author_or_editor",
    "publish": "publisher",
    "deprecate": "publisher",
    "reopen": "editor",
    "revive": "editor",
}

ACTION_TARGETS = {action: FAILURE_MODE.target(action) for action in FAILURE_MODE.events}


def allowed_actions(user: Any, fm: FailureMode) -> list[str]:
    return [
        action for action in FAILURE_MODE.events_from(fm.status) if _may(user, fm, WHO_MAY[action])
    ]


def _may(user: Any, fm: FailureMode, who: str) -> bool:
    if who == "editor":
        return user.has_perm("catalog.change_failuremode")
    if who == "publisher":
        return user.has_perm("catalog.publish_failuremode") and fm.created_by_id != user.pk
    return can_edit(user, fm)


@transaction.atomic
def failure_mode_transition(
    *, failure_mode: FailureMode, user: Any, action: str, note: str = ""
) -> FailureMode:
    """Apply one workflow action (submit, return, publish, deprecate, reopen, revive)."""
    fm = FailureMode.objects.select_for_update().get(pk=failure_mode.pk)
    if not FAILURE_MODE.allows(action, fm.status):
        raise Conflict(
            _("Cannot %(action)s an entry that is “%(status)s”.")
            % {"action": action, "status": fm.get_status_display()},
            field="action",
        )
    who = WHO_MAY[action]
    if who == "publisher" and fm.created_by_id == user.pk:
        raise PermissionDenied(
            _("You wrote this entry; another catalog editor must publish it."), field="action"
        )
    if not _may(user, fm, who):
        raise PermissionDenied(_("You may not %s this entry.") % action, field="action")
    return _failure_mode_apply(fm=fm, user=user, action=action, note=note)


def _failure_mode_apply(
    *, fm: FailureMode, user: Any, action: str, note: str = "", data: dict | None = None
) -> FailureMode:
    """One workflow step on a locked row whose actor the caller checked: the target status's
    required fields, the machine's conditional update and verb, a revision."""
    to = FAILURE_MODE.target(action)
    check_required(failure_mode_snapshot(fm), to)
    before = fm.status
    now = clock.now()
    changes: dict[str, Any] = {"version": fm.version + 1}
    if to == Status.PUBLISHED:
        changes.update(published_by=person_for(user), published_at=now)
    state.apply(
        FAILURE_MODE,
        instance=fm,
        event=action,
        actor=actor_for(user),
        now=now,
        changes=changes,
        data={**({"note": note} if note else {}), **(data or {})} or None,
        field="action",
    )
    revision_add(
        kind="failure_mode",
        obj=fm,
        snapshot=failure_mode_snapshot(fm),
        user=user,
        note=note or f"{action}: {before} → {to}",
    )
    return fm


def failure_mode_restore_status(*, fm: FailureMode, user: Any, status: str) -> FailureMode:
    """The admin restore of an import: walk the workflow from the entry's status to
    ``status`` (shortest path through the machine's table), each step with its required
    fields and its own audit event, marked ``restore``. The caller checked that the importer
    is a superuser (or the shell's ``load_catalog``): this is the one path on which the
    importer may publish an entry they created (docs/catalog.md)."""
    path = _workflow_path(fm.status, status)
    if path is None:
        raise ServiceError(
            _("No workflow path from “%(a)s” to “%(b)s”.") % {"a": fm.status, "b": status},
            errors={"status": [_("Cannot reach this status.")]},
        )
    for action in path:
        fm = _failure_mode_apply(
            fm=fm, user=user, action=action, note=_("Restored by import"), data={"restore": True}
        )
    return fm


def _workflow_path(start: str, goal: str) -> list[str] | None:
    paths: dict[str, list[str]] = {start: []}
    frontier = [start]
    while frontier:
        nxt = []
        for status in frontier:
            if status == goal:
                return paths[status]
            for action in FAILURE_MODE.events_from(status):
                to = FAILURE_MODE.target(action)
                if to not in paths:
                    paths[to] = [*paths[status], action]
                    nxt.append(to)
        frontier = nxt
    return None


def failure_mode_restore(*, failure_mode: FailureMode, user: Any, number: int) -> FailureMode:
    """Copy an earlier revision's content back as a new revision (history is never rewritten)."""
    revision = Revision.objects.filter(
        kind="failure_mode", object_id=failure_mode.pk, number=number
    ).first()
    if revision is None:
        raise NotFound(_("This entry has no version %s.") % number, field="number")
    data = {k: v for k, v in revision.snapshot.items() if k in FM_CONTENT_FIELDS}
    return failure_mode_update(
        failure_mode=failure_mode,
        user=user,
        data=data,
        note=_("Restored version %s") % number,
        verb="catalog.failure_mode.restored",
    )


# --- Deciding pending revisions -------------------------------------------------------------
@transaction.atomic
def failure_mode_revision_publish(*, revision_id: int, user: Any, note: str = "") -> FailureMode:
    """Another editor publishes a pending revision: its changes become the published entry."""
    pending = PendingRevision.objects.select_for_update().filter(pk=revision_id).first()
    if pending is None:
        raise NotFound(_("No such revision."), field="revision")
    fm = FailureMode.objects.select_for_update().get(pk=pending.failure_mode_id)
    if not user.has_perm("catalog.publish_failuremode"):
        raise PermissionDenied(_("You may not publish catalog entries."), field="action")
    if pending.author_id == user.pk:
        raise PermissionDenied(
            _("You proposed this revision; another catalog editor must publish it."),
            field="action",
        )
    if fm.status != Status.PUBLISHED:
        raise Conflict(
            _("The entry is no longer published; withdraw this revision and edit the entry."),
            field="action",
        )
    current = failure_mode_snapshot(fm)
    moved = sorted(k for k, v in pending.base.items() if current.get(k) != v)
    if moved:
        raise Conflict(
            _("The published entry changed since this revision was proposed (%s). Reject it and "
              "propose the change again.") % ", ".join(moved),
            field="action",
        )  # fmt: skip
    now = clock.now()
    state.apply(
        REVISION,
        instance=pending,
        event="publish",
        actor=actor_for(user),
        now=now,
        changes={"decided_by": user, "decided_at": now, "decision_note": note[:300],
                 "version": pending.version + 1},
        data={"failure_mode": fm.slug},
        field="action",
    )  # fmt: skip
    fm = failure_mode_update_unchecked(
        fm=fm,
        user=user,
        data=dict(pending.changes),
        note=note or _("Revision by %s published") % username_of(pending.author),
        direct=True,
        audit_data={"revision": pending.pk, "proposed_by": username_of(pending.author)},
    )
    FailureMode.objects.filter(pk=fm.pk).update(published_by=user, published_at=now)
    fm.published_by, fm.published_at = user, now
    return fm


@transaction.atomic
def failure_mode_revision_reject(*, revision_id: int, user: Any, note: str = "") -> PendingRevision:
    """A publisher rejects a pending revision; its author may withdraw it."""
    pending = PendingRevision.objects.select_for_update().filter(pk=revision_id).first()
    if pending is None:
        raise NotFound(_("No such revision."), field="revision")
    if pending.author_id == user.pk:
        event = "withdraw"
    elif user.has_perm("catalog.publish_failuremode"):
        event = "reject"
    else:
        raise PermissionDenied(_("You may not reject this revision."), field="action")
    now = clock.now()
    return state.apply(
        REVISION,
        instance=pending,
        event=event,
        actor=actor_for(user),
        now=now,
        changes={"decided_by": user, "decided_at": now, "decision_note": note[:300],
                 "version": pending.version + 1},
        data={"failure_mode_id": pending.failure_mode_id},
        field="action",
    )  # fmt: skip
