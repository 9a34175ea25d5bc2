"""Acknowledge an alert: a lead or an engineer says "I have it", with an optional note.

Acknowledging changes nothing about the model: it records who took the alert and when, stops
it counting as unattended, and (for an automatic containment or halt) lets a lead lift the
mode. The outbound alert webhook sends ``alert.acknowledged`` after commit.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from reviewapp.core import clock, state
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable

from ..alert_selectors import may_acknowledge
from ..models import Alert
from . import alert_notices
from .alert_state import ALERT

NOTE_MAX = 2000


def alert_acknowledge(*, alert: Alert, user: Any, note: str = "") -> Alert:
    """Move ``alert`` from open to acknowledged on behalf of ``user`` (a lead or an engineer).

    Refuses, writing nothing: another role or a service token (403); a note that is too long
    or not storable (400, ``note``); an alert already acknowledged or resolved (409 naming its
    state, and who acknowledged it)."""
    if not may_acknowledge(user):
        raise PermissionDenied(_("Only leads and engineers acknowledge alerts."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise ServiceError(
            _("At most %d characters.") % NOTE_MAX,
            errors={"note": [_("At most %d characters.") % NOTE_MAX]},
        )
    if unstorable(note):
        message = _("The note holds characters that cannot be stored (NUL).")
        raise ServiceError(message, errors={"note": [message]})
    now = clock.now()
    seen = alert  # the caller's copy: brought up to date on success
    with transaction.atomic():
        # Read it again, locked: the 409 names the state it is in now, not as the page saw it.
        current = (
            Alert.objects.select_for_update(of=("self",))
            .select_related("model", "acknowledged_by")
            .filter(pk=alert.pk)
            .first()
        )
        if current is None:
            raise NotFound(_("No such alert."), field="alert")
        if current.state != Alert.State.OPEN:
            raise _already(current)
        alert = current
        state.apply(
            ALERT,
            instance=alert,
            event="acknowledge",
            actor=Actor.user(user),
            changes={"acknowledged_by": user, "acknowledged_at": now, "acknowledge_note": note},
            data={
                "note": note,
                "model": alert.model.slug,
                "monitor": alert.monitor,
                "acknowledged_at": now.isoformat(),
            },
            now=now,
            stale_message=_(
                "Alert #%(id)s changed meanwhile (someone acknowledged it, or it resolved). "
                "Reload to see its state."
            )
            % {"id": alert.pk},
            field="state",
        )
        alert_notices.alert_webhook_enqueue(alert=alert, event="alert.acknowledged")
    for name in ("state", "acknowledged_by", "acknowledged_at", "acknowledge_note"):
        setattr(seen, name, getattr(alert, name))
    return alert


def _already(alert: Alert) -> Conflict:
    if alert.state == Alert.State.ACKNOWLEDGED:
        who = alert.acknowledged_by.get_username() if alert.acknowledged_by_id else "?"
        message = _("Alert #%(id)s is already acknowledged (by %(who)s).") % {
            "id": alert.pk,
            "who": who,
        }
    else:
        message = _("Alert #%(id)s is already %(state)s.") % {
            "id": alert.pk,
            "state": alert.get_state_display().lower(),
        }
    return Conflict(message, field="state", code="invalid_state")
