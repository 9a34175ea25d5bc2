"""Action items of an incident: what must change so it does not happen again. Each has an
owner (an active person) and a due date; the owner is told when assigned and once when it is
overdue (a daily beat task), and sees their overdue ones in the top bar ("My actions").

One function per use case, transactional, audited on the incident's timeline.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock, notifications
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable
from reviewapp.core.selectors import audit_events

from ..models import ActionItem, Incident
from .selectors import may_run
from .services import record

ASSIGNED = "playbooks.action_assigned"
OVERDUE = "playbooks.action_overdue"
REMINDER = Actor.system("playbooks.reminders")
MAX_TITLE = 300
A = ActionItem.Status


def register_notification_kinds() -> None:
    notifications.register_kind(
        key=ASSIGNED,
        label=gettext_lazy("Incident action item assigned to me"),
        description=gettext_lazy("Someone made you the owner of an incident's action item."),
        order=60,
    )
    notifications.register_kind(
        key=OVERDUE,
        label=gettext_lazy("My incident action item is overdue"),
        description=gettext_lazy("Once, the day after an action item you own was due."),
        order=61,
    )


def today() -> dt.date:
    return timezone.localdate(clock.now())


def overdue_for(user: Any) -> QuerySet[ActionItem]:
    """The open action items ``user`` owns that were due before today."""
    return ActionItem.objects.filter(owner_id=user.pk, status=A.OPEN, due_on__lt=today())


def overdue_annotation() -> dict[str, Any]:
    """core.user_annotations: the person's overdue action items, counted inside the query
    that loads them on every request (over the owner/status/due index)."""
    overdue = (
        ActionItem.objects.filter(owner=OuterRef("pk"), status=A.OPEN, due_on__lt=today())
        .order_by()
        .values("owner")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return {"playbooks_overdue_actions": Coalesce(Subquery(overdue), Value(0))}


def overdue_count(user: Any) -> int:
    """The top bar's "My actions" count: read from the user's own query (the annotation
    above); a user loaded some other way pays one indexed count."""
    if not getattr(user, "pk", None):
        return 0
    n = getattr(user, "playbooks_overdue_actions", None)
    return overdue_for(user).count() if n is None else n


def is_overdue(item: ActionItem, *, on: dt.date | None = None) -> bool:
    return item.status == A.OPEN and item.due_on < (on or today())


# -- checks ---------------------------------------------------------------------------------


def _owner(errors: dict, value: Any) -> Any:
    user_model = get_user_model()
    if not isinstance(value, str) or not value.strip():
        errors["owner"] = [_("Name the owner (a username).")]
        return None
    user = user_model.objects.filter(
        is_active=True, **{user_model.USERNAME_FIELD: value.strip()}
    ).first()
    if user is None:
        errors["owner"] = [_("No active user “%s”.") % value.strip()[:150]]
    return user


def _due(errors: dict, value: Any) -> dt.date | None:
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            errors["due_on"] = [_("Must be a date (YYYY-MM-DD).")]
            return None
    if not isinstance(value, dt.date):
        errors["due_on"] = [_("Must be a date (YYYY-MM-DD).")]
        return None
    return value


def _clean(fields: dict[str, Any], *, creating: bool) -> tuple[dict[str, Any], Any]:
    errors: dict[str, list[str]] = {}
    allowed = {"kind", "title", "owner", "due_on"}
    for name in sorted(set(fields) - allowed):
        errors[name] = [_("Not an action item field.")]
    clean: dict[str, Any] = {}
    owner = None
    if creating or "kind" in fields:
        if fields.get("kind") not in ActionItem.Kind.values:
            errors["kind"] = [_("Must be one of %s.") % ", ".join(ActionItem.Kind.values)]
        else:
            clean["kind"] = fields["kind"]
    if creating or "title" in fields:
        title = fields.get("title")
        if not isinstance(title, str) or not title.strip():
            errors["title"] = [_("Required.")]
        elif unstorable(title):
            errors["title"] = [_("Contains a NUL character or a broken surrogate.")]
        elif len(title.strip()) > MAX_TITLE:
            errors["title"] = [_("At most %d characters.") % MAX_TITLE]
        else:
            clean["title"] = title.strip()
    if creating or "owner" in fields:
        owner = _owner(errors, fields.get("owner"))
        if owner is not None:
            clean["owner"] = owner
    if creating or "due_on" in fields:
        due = _due(errors, fields.get("due_on"))
        if due is not None:
            clean["due_on"] = due
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    return clean, owner


def _require_runner(actor: Any, incident: Incident) -> None:
    if not may_run(actor, incident):
        raise PermissionDenied(
            _("Only engineers, leads and this incident's commander manage its action items.")
        )


def _tell_owner(item: ActionItem, incident: Incident) -> None:
    notifications.notify(
        recipients=[item.owner],
        kind=ASSIGNED,
        title=_("Action item for %(ref)s: %(title)s") % {"ref": incident.reference,
                                                         "title": item.title[:150]},
        body=_("Due %s.") % item.due_on.isoformat(),
        link=reverse("incidents:detail", args=[incident.pk]) + "#postmortem",
    )  # fmt: skip


# -- writes ---------------------------------------------------------------------------------


@transaction.atomic
def action_item_add(*, incident: Incident, actor: Any, **fields: Any) -> ActionItem:
    _require_runner(actor, incident)
    clean, _owner_user = _clean(fields, creating=True)
    now = clock.now()
    item = ActionItem.objects.create(
        incident=incident,
        created_by=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        updated_at=now,
        **clean,
    )
    record(
        incident,
        "playbooks.action_item.added",
        actor,
        target=item,
        after={"kind": item.kind, "title": item.title, "owner": item.owner.get_username(),
               "due_on": item.due_on.isoformat()},
    )  # fmt: skip
    _tell_owner(item, incident)
    return item


def _locked(item: ActionItem, base_version: int | None) -> ActionItem:
    row = ActionItem.objects.select_for_update().filter(pk=item.pk).first()
    if row is None:
        raise NotFound(_("No such action item."))
    if base_version is not None and row.version != base_version:
        raise Conflict(
            _("Someone changed this action item while you were looking at it. Reload."),
            field="base_version",
            code="stale",
        )
    return row


def _snapshot(item: ActionItem) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "title": item.title,
        "owner": item.owner.get_username(),
        "due_on": item.due_on.isoformat(),
        "status": item.status,
    }


@transaction.atomic
def action_item_edit(
    *, item: ActionItem, actor: Any, base_version: int | None = None, **fields: Any
) -> ActionItem:
    """Change the kind, title, owner or due date of an open item (a new owner is told)."""
    incident = item.incident
    _require_runner(actor, incident)
    clean, _owner_user = _clean(fields, creating=False)
    row = _locked(item, base_version)
    if row.status != A.OPEN:
        raise Conflict(
            _("This action item is %s; only open ones are edited.") % row.get_status_display(),
            field="status",
            code="invalid_state",
        )
    changed = {k: v for k, v in clean.items() if getattr(row, k) != v}
    if not changed:
        return row
    before = _snapshot(row)
    new_owner = "owner" in changed
    for k, v in changed.items():
        setattr(row, k, v)
    row.version += 1
    row.updated_at = clock.now()
    row.save()
    after = _snapshot(row)
    record(
        incident,
        "playbooks.action_item.edited",
        actor,
        target=row,
        before={k: before[k] for k in after if before[k] != after[k]},
        after={k: after[k] for k in after if before[k] != after[k]},
    )
    if new_owner:
        _tell_owner(row, incident)
    return row


@transaction.atomic
def action_item_close(
    *, item: ActionItem, actor: Any, status: str, base_version: int | None = None
) -> ActionItem:
    """Mark an open item done or cancelled (the owner may too)."""
    incident = item.incident
    if not (may_run(actor, incident) or item.owner_id == getattr(actor, "pk", None)):
        raise PermissionDenied(
            _("Only the owner, engineers, leads and the commander close an action item.")
        )
    if status not in (A.DONE, A.CANCELLED):
        raise ServiceError(
            _("Unknown status."), errors={"status": [_("Must be done or cancelled.")]}
        )
    row = _locked(item, base_version)
    if row.status != A.OPEN:
        raise Conflict(
            _("This action item is already %s.") % row.get_status_display().lower(),
            field="status",
            code="invalid_state",
        )
    now = clock.now()
    row.status = status
    row.done_at = now if status == A.DONE else None
    row.version += 1
    row.updated_at = now
    row.save()
    record(
        incident,
        "playbooks.action_item.done" if status == A.DONE else "playbooks.action_item.cancelled",
        actor,
        target=row,
        before={"status": A.OPEN},
        after={"status": status},
    )
    return row


# -- the daily reminder ---------------------------------------------------------------------


def _reminded(item: ActionItem) -> bool:
    return (
        audit_events(
            verbs=["playbooks.action_item.overdue_reminded"],
            target_type="playbooks.actionitem",
            target_id=str(item.pk),
        )
        .filter(data__due_on=item.due_on.isoformat())
        .exists()
    )


def overdue_reminders_send(*, on: dt.date | None = None) -> int:
    """Tell each owner once about each open action item past its due date; returns how many
    were told. The row is locked and the audit log asked whether this item (at this due date)
    was already reminded, so a second run, or two overlapping ones, remind nobody twice. A new
    due date earns a new reminder once it has passed too."""
    on = on or today()
    told = 0
    ids = list(
        ActionItem.objects.filter(status=A.OPEN, due_on__lt=on)
        .order_by("id")
        .values_list("id", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            item = (
                ActionItem.objects.select_for_update()
                .select_related("owner", "incident")
                .filter(pk=pk)
                .first()
            )
            if item is None or not is_overdue(item, on=on) or _reminded(item):
                continue
            notifications.notify(
                recipients=[item.owner],
                kind=OVERDUE,
                title=_("Overdue: %(title)s (%(ref)s)")
                % {"title": item.title[:150], "ref": item.incident.reference},
                body=_("It was due %s.") % item.due_on.isoformat(),
                link=reverse("incidents:my-actions"),
                actor=REMINDER,
            )
            record(
                item.incident,
                "playbooks.action_item.overdue_reminded",
                REMINDER,
                target=item,
                data={"due_on": item.due_on.isoformat(), "owner": item.owner.get_username()},
            )
            told += 1
    return told
