"""An incident as a document: the facts, milestones and durations, timeline, hypotheses,
recovery decisions, affected-prediction figures, post-mortem and action items. One context
for the print page, and the same content as Markdown for the download."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from reviewapp.core import verbs as core_verbs

from ..models import ActionItem, Hypothesis, Incident, PostMortem, RecoveryDecision
from . import postmortem


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z")


def context(incident: Incident) -> dict[str, Any]:
    pm = PostMortem.objects.filter(incident=incident).select_related("author").first()
    events = postmortem.timeline(incident)
    return {
        "incident": incident,
        "models": sorted(incident.model_links.values_list("model__slug", flat=True)),
        "failure_modes": list(
            incident.failure_mode_links.select_related("failure_mode").order_by(
                "failure_mode__slug"
            )
        ),
        "milestones": postmortem.milestones(incident),
        "durations": postmortem.durations(incident),
        "impact": postmortem.affected_predictions(incident),
        "timeline": [(e, core_verbs.label(e.verb)) for e in events],
        "hypotheses": list(Hypothesis.objects.filter(incident=incident).order_by("id")),
        "decisions": list(
            RecoveryDecision.objects.filter(incident=incident)
            .select_related("authorised_by")
            .order_by("decided_at", "id")
        ),
        "pm": pm,
        "pm_sections": [
            (postmortem.SECTION_LABELS[f], getattr(pm, f)) for f in postmortem.TEXT_FIELDS
        ]
        if pm
        else [],
        "items": list(
            ActionItem.objects.filter(incident=incident)
            .select_related("owner")
            .order_by("due_on", "id")
        ),
    }


def _block(text: str) -> str:
    return text.strip() or "—"


def markdown(incident: Incident) -> str:
    """The incident as Markdown (headings, lists and tables a reader of a wiki expects)."""
    c = context(incident)
    out: list[str] = []
    add = out.append
    add(f"# {incident.reference}: {incident.title}\n")
    add(f"- {_('Severity')}: {incident.severity}")
    add(f"- {_('Status')}: {incident.get_status_display()}")
    add(f"- {_('Models')}: {', '.join(c['models']) or '—'}")
    if c["failure_modes"]:
        add(
            f"- {_('Failure modes')}: "
            + ", ".join(link.failure_mode.title for link in c["failure_modes"])
        )
    add(f"- {_('Commander')}: {incident.commander.get_username() if incident.commander else '—'}")
    if incident.playbook_version_id:
        pv = incident.playbook_version
        add(f"- {_('Playbook')}: {pv.title} v{pv.number}")
    if incident.summary:
        add(f"\n{incident.summary.strip()}")
    add(f"\n## {_('Milestones')}\n")
    add(f"| {_('Milestone')} | {_('When')} |\n|---|---|")
    for label, when in c["milestones"]:
        add(f"| {label} | {_when(when)} |")
    if c["durations"]:
        add("")
        for label, value in c["durations"]:
            add(f"- {label}: {value}")
    impact = c["impact"]
    add(f"\n## {_('Affected predictions')}\n")
    add(
        _("%(n)d predictions passed without review between %(a)s and %(b)s%(ongoing)s.")
        % {
            "n": impact.passed,
            "a": _when(impact.since),
            "b": _when(impact.until),
            "ongoing": _(" (not contained yet)") if impact.ongoing else "",
        }
    )
    pm = c["pm"]
    add(f"\n## {_('Post-mortem')}\n")
    if pm is None:
        add(_("Not started."))
    else:
        state = _("published %s") % _when(pm.published_at) if pm.published_at else _("draft")
        add(f"*{_('Status')}: {state}*")
        for label, text in c["pm_sections"]:
            add(f"\n### {label}\n\n{_block(text)}")
    add(f"\n## {_('Action items')}\n")
    if c["items"]:
        add(f"| {_('Kind')} | {_('What')} | {_('Owner')} | {_('Due')} | {_('Status')} |")
        add("|---|---|---|---|---|")
        for item in c["items"]:
            title = item.title.replace("|", "\\|")
            add(
                f"| {item.get_kind_display()} | {title} | {item.owner.get_username()} | "
                f"{item.due_on.isoformat()} | {item.get_status_display()} |"
            )
    else:
        add(_("None."))
    add(f"\n## {_('Hypotheses')}\n")
    for h in c["hypotheses"]:
        add(f"- **{h.get_status_display()}** ({h.confidence}%): {h.statement}")
        if h.evidence:
            add(f"  - {_('Evidence')}: {h.evidence}")
    if not c["hypotheses"]:
        add(_("None."))
    add(f"\n## {_('Recovery decisions')}\n")
    for d in c["decisions"]:
        add(f"- {_when(d.decided_at)}: **{d.path}** ({d.authorised_by.get_username()})"
            + (f": {d.reason}" if d.reason else ""))  # fmt: skip
    if not c["decisions"]:
        add(_("None."))
    add(f"\n## {_('Timeline')}\n")
    for event, label in c["timeline"]:
        add(f"- {_when(event.occurred_at)}: {label} ({event.actor_label or event.actor_type})")
    add("")
    return "\n".join(out)
