"""An incident's timeline: everything that happened, in time order, from four sources.

- the incident's own audit events (core's subject index: lifecycle, people, links, notes, and
  whatever the checklist, hypotheses, recovery and post-mortem record);
- the operating-mode changes of its models;
- its models' alerts opening, acknowledged and resolved;
- its models' routing-policy and settings changes (governance's change request applied,
  emergency rollback).

The last three are read between the impact start (or detection) less an hour and the closing
(or now). Each source reads at most ``LIMIT`` rows, and the merged list keeps the newest
``LIMIT``: five queries, whatever the incident's size.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock
from reviewapp.core import verbs as core_verbs
from reviewapp.core.models import AuditEvent
from reviewapp.core.selectors import audit_events
from reviewapp.failsafe.models import Alert, ModeChange
from reviewapp.governance.models import ChangeRequest

from ..models import Incident
from .services import SUBJECT

LIMIT = 500
BEFORE = dt.timedelta(hours=1)
GOVERNANCE_VERBS = ("governance.change_request.applied", "governance.change_request.rolled_back")

# The filter chips: key, label.
KINDS = (
    ("all", gettext_lazy("All")),
    ("lifecycle", gettext_lazy("Lifecycle")),
    ("checklist", gettext_lazy("Checklist")),
    ("notes", gettext_lazy("Notes")),
    ("modes", gettext_lazy("Modes & alerts")),
    ("policy", gettext_lazy("Policy")),
)
KIND_KEYS = tuple(k for k, _label in KINDS)


@dataclass
class Entry:
    at: dt.datetime
    kind: str
    what: str
    who: str
    who_kind: str  # "person", "monitor", "system"
    detail: str = ""
    link: str = ""
    # Ties in time keep their source's order (the audit id, then the row id).
    order: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "what": self.what,
            "who": self.who,
            "who_kind": self.who_kind,
            "detail": self.detail,
            "link": self.link,
        }


def window(incident: Incident, now: dt.datetime | None = None) -> tuple[dt.datetime, dt.datetime]:
    """From the impact start (or detection) less an hour, to the closing (or cancelling, or
    now)."""
    start = (incident.impact_started_at or incident.detected_at) - BEFORE
    end = incident.closed_at or incident.cancelled_at or (now or clock.now())
    return start, end


def kind_of_verb(verb: str) -> str:
    if verb.endswith(".noted") or ".note" in verb:
        return "notes"
    if "step" in verb or "checklist" in verb:
        return "checklist"
    return "lifecycle"


def _who_of_event(event: AuditEvent) -> tuple[str, str]:
    if event.actor_type == AuditEvent.ActorType.USER:
        return event.actor_label, "person"
    label = event.actor_label or ""
    if label.startswith("monitor:"):
        return _("monitor %s") % label.split(":", 1)[1], "monitor"
    return label or _("system"), "system"


def _event_detail(event: AuditEvent) -> str:
    data = event.data or {}
    for key in ("body", "reason", "note", "statement", "title"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:300]
    if event.verb == "playbooks.incident.commander_set":
        return _("to %s") % ((event.after or {}).get("commander") or "—")
    if event.verb == "playbooks.incident.linked":
        parts = [f"{k}: {', '.join(map(str, v))}" for k, v in data.items()
                 if isinstance(v, list) and v]  # fmt: skip
        return "; ".join(parts)
    return ""


def _incident_entries(incident: Incident) -> list[Entry]:
    events = audit_events(target_type=SUBJECT, target_id=str(incident.pk)).select_related(None)[
        :LIMIT
    ]
    out = []
    for e in events:
        who, who_kind = _who_of_event(e)
        out.append(
            Entry(
                at=e.occurred_at, kind=kind_of_verb(e.verb), what=core_verbs.label(e.verb),
                who=who, who_kind=who_kind, detail=_event_detail(e), order=(0, e.pk),
            )
        )  # fmt: skip
    return out


def _mode_entries(model_ids: list[int], start: dt.datetime, end: dt.datetime) -> list[Entry]:
    changes = (
        ModeChange.objects.filter(
            model_id__in=model_ids, created_at__gte=start, created_at__lte=end
        )
        .select_related("model", "actor")
        .order_by("-created_at", "-id")[:LIMIT]
    )
    out = []
    for c in changes:
        if c.actor_id:
            who, who_kind = c.actor.get_username(), "person"
        elif c.monitor:
            who, who_kind = _("monitor %s") % c.monitor, "monitor"
        else:
            who, who_kind = _("system"), "system"
        out.append(
            Entry(
                at=c.created_at, kind="modes",
                what=_("%(model)s: mode %(from)s → %(to)s")
                % {"model": c.model.slug, "from": c.from_mode, "to": c.to_mode},
                who=who, who_kind=who_kind, detail=c.reason[:300],
                link=reverse("failsafe:model", args=[c.model.slug]), order=(1, c.pk),
                extra={"to_mode": c.to_mode},
            )
        )  # fmt: skip
    return out


def _alert_entries(model_ids: list[int], start: dt.datetime, end: dt.datetime) -> list[Entry]:
    def inside(name: str) -> Q:
        return Q(**{f"{name}__gte": start, f"{name}__lte": end})

    alerts = (
        Alert.objects.filter(model_id__in=model_ids)
        .filter(inside("opened_at") | inside("acknowledged_at") | inside("resolved_at"))
        .select_related("model", "acknowledged_by")
        .order_by("-opened_at", "-id")[:LIMIT]
    )
    out = []
    for a in alerts:
        link = reverse("failsafe:alert", args=[a.pk])
        name = _("Alert #%(id)s %(monitor)s on %(model)s (%(severity)s)") % {
            "id": a.pk, "monitor": a.monitor, "model": a.model.slug, "severity": a.severity,
        }  # fmt: skip
        monitor = _("monitor %s") % a.monitor
        if start <= a.opened_at <= end:
            out.append(Entry(at=a.opened_at, kind="modes", what=_("%s opened") % name,
                             who=monitor, who_kind="monitor", detail=a.get_shape_display(),
                             link=link, order=(2, a.pk)))  # fmt: skip
        if a.acknowledged_at and start <= a.acknowledged_at <= end:
            who = a.acknowledged_by.get_username() if a.acknowledged_by_id else _("system")
            out.append(Entry(at=a.acknowledged_at, kind="modes", what=_("%s acknowledged") % name,
                             who=who, who_kind="person" if a.acknowledged_by_id else "system",
                             detail=a.acknowledge_note[:300], link=link,
                             order=(2, a.pk)))  # fmt: skip
        if a.resolved_at and start <= a.resolved_at <= end:
            out.append(Entry(at=a.resolved_at, kind="modes", what=_("%s resolved") % name,
                             who=monitor, who_kind="monitor", link=link,
                             order=(2, a.pk)))  # fmt: skip
    return out


def _policy_entries(slugs: list[str], start: dt.datetime, end: dt.datetime) -> list[Entry]:
    # Change requests name their target by id as text: compare as text.
    ids = [str(pk) for pk in ChangeRequest.objects.filter(model_slug__in=slugs).values_list(
        "pk", flat=True)[:LIMIT]]  # fmt: skip
    events = AuditEvent.objects.filter(
        target_type=ChangeRequest._meta.label_lower,
        target_id__in=ids,
        verb__in=GOVERNANCE_VERBS,
        occurred_at__gte=start,
        occurred_at__lte=end,
    ).order_by("-id")[:LIMIT]
    out = []
    for e in events:
        who, who_kind = _who_of_event(e)
        data = e.data or {}
        label = _("Change request #%(id)s: %(what)s") % {
            "id": e.target_id, "what": core_verbs.label(e.verb),
        }  # fmt: skip
        detail = " · ".join(
            str(v) for v in (data.get("model"), data.get("kind"), data.get("reason")) if v
        )
        out.append(Entry(at=e.occurred_at, kind="policy", what=label, who=who, who_kind=who_kind,
                         detail=detail[:300],
                         link=reverse("governance:request", args=[int(e.target_id)]),
                         order=(3, e.pk)))  # fmt: skip
    return out


def timeline(
    incident: Incident,
    *,
    models: list[Any] | None = None,
    kind: str = "all",
    now: dt.datetime | None = None,
) -> list[Entry]:
    """The incident's timeline, oldest first, the newest ``LIMIT`` entries; ``kind`` one of
    KIND_KEYS keeps only that kind. ``models``: its models if the caller has them."""
    if models is None:
        models = [link.model for link in incident.model_links.select_related("model")]
    model_ids = [m.pk for m in models]
    slugs = [m.slug for m in models]
    start, end = window(incident, now)
    wanted = kind if kind in KIND_KEYS else "all"
    entries: list[Entry] = []
    if wanted in ("all", "lifecycle", "checklist", "notes"):
        entries += _incident_entries(incident)
    if wanted in ("all", "modes") and model_ids:
        entries += _mode_entries(model_ids, start, end)
        entries += _alert_entries(model_ids, start, end)
    if wanted in ("all", "policy") and slugs:
        entries += _policy_entries(slugs, start, end)
    if wanted != "all":
        entries = [e for e in entries if e.kind == wanted]
    entries.sort(key=lambda e: (e.at, e.order))
    return entries[-LIMIT:]


# -- the page's section ---------------------------------------------------------------------


def section_context(request: Any, incident: Incident, can_run: bool) -> dict[str, Any]:
    chosen = request.GET.get("timeline", "all")
    chosen = chosen if chosen in KIND_KEYS else "all"
    entries = timeline(incident, kind=chosen)
    start, end = window(incident)
    return {
        "entries": entries,
        "chosen": chosen,
        "chips": [(key, label, f"?timeline={key}#timeline") for key, label in KINDS],
        "start": start,
        "end": end,
        "limit": LIMIT,
        "full": len(entries) >= LIMIT,
    }


def sections() -> list[Any]:
    from .page import Section

    return [
        Section(
            key="timeline",
            title=str(gettext_lazy("Timeline")),
            template="playbooks/incidents/_timeline.html",
            context=section_context,
        )
    ]
