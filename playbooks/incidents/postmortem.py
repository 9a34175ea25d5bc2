"""The post-mortem of an incident: what people write (prefilled from what the incident already
knows), draft → published through core's state machine, the guard that keeps an S1/S2
incident open until its post-mortem is published, the timeline read from the audit log, and
"Draft the catalog update" (the catalog's own services; its steward publishes).

Impact, root causes and detection are prefilled when the post-mortem is started; after that
the text is the authors'. The timeline and the affected-prediction figures are read live.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from catalog import services as catalog_services
from catalog.models import Category, FailureMode
from reviewapp.core import clock, state
from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.models import AuditEvent, AuditSubject
from reviewapp.core.params import unstorable
from reviewapp.core.selectors import audit_events
from reviewapp.core.state import transition
from reviewapp.core.time import human_duration

from ..models import Hypothesis, Incident, PostMortem
from . import ledger
from .selectors import may_run
from .services import SUBJECT, actor_of, record

S = Incident.Status
# A post-mortem is written once the fix is in.
STARTABLE = (S.REMEDIATED, S.VERIFIED, S.CLOSED)
# Closing these needs a published post-mortem (the guard below).
NEEDS_POSTMORTEM = ("S1", "S2")
TEXT_FIELDS = (
    "summary", "impact", "root_causes", "trigger", "detection", "resolution",
    "went_well", "went_wrong", "got_lucky",
)  # fmt: skip
MAX_TEXT = 20_000
TIMELINE_LIMIT = 200
SECTION_LABELS = {
    "summary": gettext_lazy("Summary"),
    "impact": gettext_lazy("Impact"),
    "root_causes": gettext_lazy("Root causes"),
    "trigger": gettext_lazy("Trigger"),
    "detection": gettext_lazy("Detection"),
    "resolution": gettext_lazy("Resolution"),
    "went_well": gettext_lazy("What went well"),
    "went_wrong": gettext_lazy("What went wrong"),
    "got_lucky": gettext_lazy("Where we got lucky"),
}

POSTMORTEM = state.Machine(
    model=PostMortem,
    events={
        "publish": transition(
            PostMortem.Status.DRAFT, PostMortem.Status.PUBLISHED, "playbooks.postmortem.published"
        ),
    },
    match=("version",),
)


# -- what the incident already knows (the prefills) -----------------------------------------


@dataclass(frozen=True)
class Impact:
    passed: int
    since: dt.datetime
    until: dt.datetime
    ongoing: bool  # not contained yet: counted up to now


def affected_predictions(incident: Incident, *, now: dt.datetime | None = None) -> Impact:
    """Predictions of the incident's models that passed without review between impact start
    (or detection) and containment (or now): the ledger's count (ledger.py)."""
    since, until = ledger.window(incident, now=now)
    passed = ledger.affected_predictions(incident, now=now).count()
    return Impact(passed=passed, since=since, until=until, ongoing=incident.contained_at is None)


def impact_text(incident: Incident) -> str:
    figures = affected_predictions(incident)
    models = ", ".join(sorted(incident.model_links.values_list("model__slug", flat=True)))
    return _(
        "%(n)d predictions of %(models)s passed without review between %(since)s and %(until)s "
        "(%(duration)s%(ongoing)s)."
    ) % {
        "n": figures.passed,
        "models": models or "—",
        "since": figures.since.strftime("%Y-%m-%d %H:%M %Z"),
        "until": figures.until.strftime("%Y-%m-%d %H:%M %Z"),
        "duration": human_duration((figures.until - figures.since).total_seconds()),
        "ongoing": _(", not contained yet") if figures.ongoing else "",
    }


def root_causes_text(incident: Incident) -> str:
    confirmed = Hypothesis.objects.filter(
        incident=incident, status=Hypothesis.Status.CONFIRMED
    ).order_by("id")
    lines = []
    for h in confirmed:
        line = f"- {h.statement}"
        if h.evidence:
            line += f" ({_('evidence')}: {h.evidence})"
        lines.append(line)
    return "\n".join(lines)


def detection_text(incident: Incident) -> str:
    alerts = list(incident.alert_links.select_related("alert").order_by("alert__since", "alert_id"))
    if alerts:
        first = alerts[0].alert
        how = _("Alert #%(id)d from monitor “%(monitor)s” (%(severity)s, %(shape)s).") % {
            "id": first.pk,
            "monitor": first.monitor,
            "severity": first.severity,
            "shape": first.shape,
        }
    elif incident.opened_by_monitor:
        how = _("Opened by monitor “%s”.") % incident.opened_by_monitor
    elif incident.opened_by_id:
        how = _("Noticed by %s, who opened the incident.") % incident.opened_by.get_username()
    else:
        how = _("Opened without a named source.")
    if incident.impact_started_at:
        ttd = human_duration((incident.detected_at - incident.impact_started_at).total_seconds())
        how += " " + _("Time to detect: %s (impact start to detection).") % ttd
    else:
        how += " " + _("Impact start unknown, so no time to detect.")
    return how


def prefills(incident: Incident) -> dict[str, str]:
    return {
        "impact": impact_text(incident),
        "root_causes": root_causes_text(incident),
        "detection": detection_text(incident),
        "resolution": _("Remediated %s.") % incident.remediated_at.strftime("%Y-%m-%d %H:%M %Z")
        if incident.remediated_at
        else "",
    }


def timeline(incident: Incident, *, limit: int = TIMELINE_LIMIT) -> list[AuditEvent]:
    """The incident's events, oldest first (one query on core's subject index)."""
    events = audit_events(target_type=SUBJECT, target_id=str(incident.pk))[:limit]
    return sorted(events, key=lambda e: e.pk)


# -- writes ---------------------------------------------------------------------------------


def _require_runner(actor: Any, incident: Incident) -> None:
    if not may_run(actor, incident):
        raise PermissionDenied(
            _("Only engineers, leads and this incident's commander write its post-mortem.")
        )


@transaction.atomic
def postmortem_start(*, incident: Incident, actor: Any) -> PostMortem:
    """Start the post-mortem (once the incident is remediated), prefilled. Starting it again
    returns the one that exists."""
    _require_runner(actor, incident)
    row = Incident.objects.select_for_update().filter(pk=incident.pk).first()
    if row is None:
        raise NotFound(_("No such incident."))
    existing = PostMortem.objects.filter(incident=row).first()
    if existing is not None:
        return existing
    if row.status not in STARTABLE:
        raise Conflict(
            _("A post-mortem is written once the incident is remediated (it is %s).")
            % row.get_status_display().lower(),
            field="status",
            code="invalid_state",
        )
    now = clock.now()
    pm = PostMortem.objects.create(
        incident=row,
        author=actor if getattr(actor, "pk", None) else None,
        created_at=now,
        updated_at=now,
        **prefills(row),
    )
    record(row, "playbooks.postmortem.started", actor, target=pm)
    return pm


def _clean(fields: dict[str, Any]) -> dict[str, str]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    for name in sorted(set(fields) - set(TEXT_FIELDS)):
        errors[name] = [_("Not a post-mortem field.")]
    for name in TEXT_FIELDS:
        if name not in fields:
            continue
        value = fields[name]
        value = "" if value is None else value
        if not isinstance(value, str):
            errors[name] = [_("Must be text.")]
        elif unstorable(value):
            errors[name] = [_("Contains a NUL character or a broken surrogate.")]
        elif len(value) > MAX_TEXT:
            errors[name] = [_("At most %d characters.") % MAX_TEXT]
        else:
            clean[name] = value.strip()
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    return clean


@transaction.atomic
def postmortem_save(
    *, postmortem: PostMortem, actor: Any, base_version: int, **fields: Any
) -> PostMortem:
    """Edit the text (a draft, or a published one: corrections stay audited). A read older
    than the row is refused with 409 ``stale`` and nothing changes."""
    _require_runner(actor, postmortem.incident)
    clean = _clean(fields)
    row = PostMortem.objects.select_for_update().filter(pk=postmortem.pk).first()
    if row is None:
        raise NotFound(_("No such post-mortem."))
    if row.version != base_version:
        raise Conflict(
            _("Someone saved this post-mortem while you were editing it. Reload and redo."),
            field="base_version",
            code="stale",
        )
    changed = {k: v for k, v in clean.items() if getattr(row, k) != v}
    if not changed:
        return row
    now = clock.now()
    PostMortem.objects.filter(pk=row.pk).update(**changed, version=row.version + 1, updated_at=now)
    for k, v in changed.items():
        setattr(row, k, v)
    row.version += 1
    row.updated_at = now
    record(
        row.incident,
        "playbooks.postmortem.edited",
        actor,
        target=row,
        data={"fields": sorted(changed), "version": row.version},
    )
    return row


@transaction.atomic
def postmortem_publish(*, postmortem: PostMortem, actor: Any, base_version: int) -> PostMortem:
    """Publish (core's state machine: a stale read or a second publish is a 409). The summary,
    impact and root causes (or resolution) must be written first."""
    _require_runner(actor, postmortem.incident)
    row = PostMortem.objects.select_related("incident").filter(pk=postmortem.pk).first()
    if row is None:
        raise NotFound(_("No such post-mortem."))
    if row.version != base_version:
        raise Conflict(
            _("Someone saved this post-mortem while you were reading it. Reload and redo."),
            field="base_version",
            code="stale",
        )
    errors: dict[str, list[str]] = {}
    for name in ("summary", "impact"):
        if not getattr(row, name).strip():
            errors[name] = [_("Write this before publishing.")]
    if not (row.root_causes.strip() or row.resolution.strip()):
        errors["root_causes"] = [_("Name the root cause (or say how it was resolved).")]
    if errors:
        raise ServiceError(_("The post-mortem is not complete yet."), errors=errors)
    now = clock.now()
    state.apply(
        POSTMORTEM,
        instance=row,
        event="publish",
        actor=actor_of(actor),
        now=now,
        changes={"published_at": now, "version": row.version + 1},
        data={"incident": row.incident_id},
        invalid_message=_("This post-mortem is already published."),
        field="status",
    )
    # The machine's event targets the post-mortem; its subject row puts it on the incident's
    # timeline like every other event about the incident.
    event = (
        AuditEvent.objects.filter(
            verb="playbooks.postmortem.published",
            target_type="playbooks.postmortem",
            target_id=str(row.pk),
        )
        .order_by("-id")
        .first()
    )
    if event is not None:
        AuditSubject.objects.create(
            event=event, target_type=SUBJECT, target_id=str(row.incident_id)
        )
    return row


# -- the guard ------------------------------------------------------------------------------


def close_needs_postmortem(*, event: str, incident: Incident, reason: str = "") -> Any:
    """guards.CHECKS: an S1 or S2 incident closes only with a published post-mortem."""
    if event != "close" or incident.severity not in NEEDS_POSTMORTEM:
        return None
    published = PostMortem.objects.filter(
        incident_id=incident.pk, status=PostMortem.Status.PUBLISHED
    ).exists()
    if published:
        return None
    return {
        "postmortem": [
            _("An %s incident closes only once its post-mortem is published.") % incident.severity
        ]
    }


# -- the catalog feedback -------------------------------------------------------------------


def _appended(current: str, heading: str, text: str) -> str:
    text = text.strip()
    if not text:
        return current
    return (current.rstrip() + "\n\n" if current.strip() else "") + f"{heading}\n{text}"


@transaction.atomic
def postmortem_catalog_draft(*, postmortem: PostMortem, actor: Any, site: str = "") -> PostMortem:
    """Feed what was learned back into the catalog through its own services: for each failure
    mode linked to the incident, a revision (published entry: a pending revision its steward
    reviews; an unpublished one: the draft is edited); with none linked, a new draft entry.
    Plus a case study of the incident, and the incident recorded as an occurrence of each
    linked failure mode (once per incident). Nothing is published here: another catalog
    editor publishes, as the catalog's rule requires. Runs once per post-mortem."""
    incident = postmortem.incident
    _require_runner(actor, incident)
    if not catalog_services.can_create(actor):
        raise PermissionDenied(
            _("Drafting catalog entries is for engineers and catalog editors; ask one of them.")
        )
    row = PostMortem.objects.select_for_update().filter(pk=postmortem.pk).first()
    if row is None:
        raise NotFound(_("No such post-mortem."))
    if row.status != PostMortem.Status.PUBLISHED:
        raise Conflict(
            _("Publish the post-mortem first; the catalog learns from the published text."),
            field="status",
            code="invalid_state",
        )
    if row.catalog_case_study_id:
        raise Conflict(
            _("The catalog update was already drafted."), field="detail", code="already_done"
        )
    link = f"{site}{incident.get_absolute_url()}" if site else ""
    source = _("From %(ref)s (post-mortem)") % {"ref": incident.reference}
    linked = list(
        FailureMode.objects.filter(
            pk__in=incident.failure_mode_links.values("failure_mode_id")
        ).order_by("slug")
    )
    for fm in linked:
        data: dict[str, Any] = {
            "detection_signals": _appended(fm.detection_signals, f"{source}:", row.detection),
            "trigger_steps": _appended(fm.trigger_steps, f"{source}:", row.trigger),
        }
        if link:
            data["evidence_links"] = [
                *fm.evidence_links,
                {"label": f"{incident.reference}: {incident.title}", "url": link},
            ]
        locked = FailureMode.objects.select_for_update().get(pk=fm.pk)
        if locked.status == catalog_services.Status.PUBLISHED:
            # The catalog's own rule: an edit of a published entry only opens a pending
            # revision, which its steward (another editor) publishes or rejects. Engineers may
            # propose one here without the editor's right to edit drafts of others.
            catalog_services.failure_mode_update_unchecked(
                fm=locked, user=actor, data=data, note=source
            )
        else:
            catalog_services.failure_mode_update(
                failure_mode=locked, user=actor, data=data, note=source
            )
    first = linked[0] if linked else _new_failure_mode(row, incident, actor, source, link)
    # The case study names the failure modes in its text, not as links: linking would count
    # this incident a second time (as a case study) in each entry's occurrences.
    case_study = catalog_services.case_study_create(
        user=actor,
        data={
            "title": f"{incident.reference}: {incident.title}"[:200],
            "summary": row.summary or incident.title,
            "narrative": _case_study_narrative(row, incident, [*linked] or [first], link),
            "occurred_on": incident.detected_at.date().isoformat(),
            "timeline": [
                {"at": when.isoformat(), "event": str(label)}
                for label, when in milestones(incident)
                if when is not None
            ],
        },
    )
    touched = linked
    for fm in touched:
        catalog_services.occurrence_record(
            failure_mode_slug=fm.slug,
            source_type="incident",
            source_id=incident.pk,
            occurred_at=incident.impact_started_at or incident.detected_at,
            actor=actor_of(actor) if getattr(actor, "pk", None) else Actor.system("playbooks"),
        )
    PostMortem.objects.filter(pk=row.pk).update(
        catalog_failure_mode=first, catalog_case_study=case_study, updated_at=clock.now()
    )
    row.catalog_failure_mode, row.catalog_case_study = first, case_study
    record(
        incident,
        "playbooks.postmortem.catalog_drafted",
        actor,
        target=row,
        data={
            "failure_modes": [f.slug for f in touched],
            "new_failure_mode": first.slug if first and not linked else "",
            "case_study": case_study.slug,
        },
    )
    return row


def _new_failure_mode(
    row: PostMortem, incident: Incident, actor: Any, source: str, link: str
) -> FailureMode:
    """No failure mode was linked: a new draft entry from the post-mortem's text."""
    category = Category.objects.order_by("id").values_list("slug", flat=True).first()
    data: dict[str, Any] = {
        "title": incident.title[:200],
        "summary": row.summary or incident.summary or incident.title,
        "category": category or "",
        "cause": row.root_causes,
        "trigger_steps": row.trigger,
        "detection_signals": row.detection,
        "business_impact": row.impact,
    }
    if link:
        data["evidence_links"] = [{"label": f"{incident.reference}: {incident.title}", "url": link}]
    return catalog_services.failure_mode_create(user=actor, data=data, note=source)


def _case_study_narrative(
    row: PostMortem, incident: Incident, failure_modes: list[FailureMode], link: str
) -> str:
    parts = [
        f"## {_('Impact')}\n{row.impact}",
        f"## {_('Root causes')}\n{row.root_causes}",
        f"## {_('Trigger')}\n{row.trigger}",
        f"## {_('Detection')}\n{row.detection}",
        f"## {_('Mitigation and resolution')}\n{row.resolution}",
        f"## {_('Lessons')}\n{_('Went well')}: {row.went_well}\n\n"
        f"{_('Went wrong')}: {row.went_wrong}\n\n{_('Got lucky')}: {row.got_lucky}",
        f"## {_('Failure modes')}\n"
        + "\n".join(f"- {fm.title} ({fm.slug})" for fm in failure_modes),
        f"{_('Incident')}: {incident.reference}" + (f" ({link})" if link else ""),
    ]
    return "\n\n".join(parts)


def milestones(incident: Incident) -> list[tuple[Any, dt.datetime | None]]:
    return [
        (_("Impact started"), incident.impact_started_at),
        (_("Detected"), incident.detected_at),
        (_("Triaged"), incident.triaged_at),
        (_("Contained"), incident.contained_at),
        (_("Remediated"), incident.remediated_at),
        (_("Verified"), incident.verified_at),
        (_("Closed"), incident.closed_at),
    ]


def durations(incident: Incident) -> list[tuple[Any, str]]:
    """Time to detect, contain, resolve (the usual figures), where both ends are known."""
    found = []
    pairs = [
        (_("Time to detect"), incident.impact_started_at, incident.detected_at),
        (_("Time to contain"), incident.detected_at, incident.contained_at),
        (_("Time to resolve"), incident.detected_at, incident.remediated_at),
        (_("Time to close"), incident.detected_at, incident.closed_at),
    ]
    for label, a, b in pairs:
        if a is not None and b is not None:
            found.append((label, human_duration((b - a).total_seconds())))
    return found
