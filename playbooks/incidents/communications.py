"""An incident's communication drafts (status update, stakeholder notice, resolution notice),
rendered from the pinned playbook version's templates (the defaults when none is pinned)
with the incident's facts, and recording that one was sent.

Recording a draft as sent audits the text as sent and sets when the next update is due
(now + INCIDENT_UPDATE_INTERVAL_MINUTES), by a conditional UPDATE on an open incident. It does
not bump the incident's version: the next update time is not part of any form a runner edits
from an older read, so sending an update never makes their lifecycle forms stale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import SEVERITY_MEANINGS
from reviewapp.core import clock
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable

from .. import messages
from ..models import Incident, IncidentMember
from ..services import DEFAULT_TEMPLATES
from . import figures
from .selectors import OPEN_STATUSES, may_run
from .services import record

KINDS = tuple(messages.KINDS)
MAX_TEXT = messages.MAX_LENGTH * 2  # a filled template is longer than the template


@dataclass(frozen=True)
class Draft:
    kind: str
    label: str
    text: str


def when_in_words(value: dt.datetime | None) -> str:
    """ "2026-12-02 15:00 CET" in the zone active for the reader ("" when unset)."""
    if value is None:
        return ""
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def placeholder_values(incident: Incident) -> dict[str, Any]:
    version = incident.playbook_version
    doc = version.document if version else {}
    meanings = doc.get("severities") or {k: str(v) for k, v in SEVERITY_MEANINGS.items()}
    fms = list(
        incident.failure_mode_links.select_related("failure_mode")
        .order_by("failure_mode__title")
        .values_list("failure_mode__title", flat=True)
    )
    models = list(
        incident.model_links.order_by("model__slug").values_list("model__slug", flat=True)
    )
    return {
        "model": ", ".join(models),
        "severity": incident.severity,
        "severity_meaning": meanings.get(incident.severity, ""),
        "impact_so_far": figures.impact_so_far(incident),
        "mode": figures.modes_in_words(incident, named=False),
        "next_update_at": when_in_words(incident.next_update_at),
        "failure_mode": ", ".join(fms),
        "incident": f"{incident.reference} {incident.title}",
        "commander": incident.commander.get_username() if incident.commander_id else "",
        "status": str(incident.get_status_display()).lower(),
        "started_at": when_in_words(incident.impact_started_at or incident.detected_at),
        "playbook": f"{version.title} v{version.number}" if version else "",
    }


def incident_drafts(incident: Incident) -> list[Draft]:
    version = incident.playbook_version
    templates = (version.document.get("templates") if version else None) or DEFAULT_TEMPLATES
    values = placeholder_values(incident)
    out = []
    for kind, label in messages.KINDS.items():
        text = templates.get(kind) or DEFAULT_TEMPLATES[kind]
        try:
            rendered = messages.render(text, values)
        except messages.TemplateError:  # a saved version was checked; fall back, never a 500
            rendered = messages.render(DEFAULT_TEMPLATES[kind], values)
        out.append(Draft(kind=kind, label=str(label), text=rendered))
    return out


def may_send(user: Any, incident: Incident) -> bool:
    """Whoever runs the incident, and its communications liaison."""
    return (
        may_run(user, incident)
        or IncidentMember.objects.filter(
            incident=incident, user_id=getattr(user, "pk", None), role=IncidentMember.Role.LIAISON
        ).exists()
    )


@transaction.atomic
def incident_communication_sent(
    *, incident: Incident, actor: Any, kind: str, text: str = ""
) -> dt.datetime:
    """Record that the ``kind`` draft went out (``text``: as sent; empty: the draft as it
    reads now). Returns when the next update is due."""
    if not may_send(actor, incident):
        raise PermissionDenied(_("Only the incident's runners and its liaison send updates."))
    errors: dict[str, list[str]] = {}
    if kind not in KINDS:
        errors["kind"] = [_("Must be one of %s.") % ", ".join(KINDS)]
    if text is None:
        text = ""
    if not isinstance(text, str) or unstorable(text) or len(text) > MAX_TEXT:
        errors["text"] = [_("Text of at most %d characters.") % MAX_TEXT]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    text = text.strip() or next(d.text for d in incident_drafts(incident) if d.kind == kind)
    now = clock.now()
    due = now + dt.timedelta(minutes=int(settings.INCIDENT_UPDATE_INTERVAL_MINUTES))
    moved = Incident.objects.filter(pk=incident.pk, status__in=OPEN_STATUSES).update(
        next_update_at=due, updated_at=now
    )
    if moved != 1:
        raise Conflict(_("This incident is over: no more updates are due."), code="invalid_state")
    before = incident.next_update_at
    incident.next_update_at, incident.updated_at = due, now
    record(
        incident,
        "playbooks.incident.communication_sent",
        actor,
        before={"next_update_at": before.isoformat() if before else None},
        after={"next_update_at": due.isoformat()},
        data={"kind": kind, "text": text},
    )
    return due
