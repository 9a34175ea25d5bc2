"""The incident's checklist: the facts its step conditions read, the checklist as computed
(checklist.compute), recording a step, and pinning a playbook to an incident that has none.

Recording is open to whoever runs the incident and to its members whose incident role is the
step's role (a scribe records the scribe's steps). Every record is audited with the incident as
a subject; an escalation point, when done, notifies the role it escalates to.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from reviewapp.core import clock, notifications
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable
from reviewapp.core.roles import COMMITTEE, LEAD
from reviewapp.failsafe.models import Alert
from reviewapp.governance.models import DocumentKind
from reviewapp.governance.services.documents import active_version

from .. import conditions
from ..models import Incident, IncidentMember, IncidentStep, Playbook, PlaybookIndex
from . import checklist
from .selectors import OPEN_STATUSES, may_run
from .services import record

ESCALATED = "playbooks.incident_escalated"
MAX_NOTE = 5000
MAX_VALUE = 2000
MAX_ARTIFACTS = 8
# How long the author of the last record may take it back (a mis-click, the wrong branch).
UNDO_MINUTES = 5
# Incident roles a member may hold that make them the one to do a step of that role.
MEMBER_ROLES = ("scribe", "liaison", "participant")
_URL = URLValidator(schemes=["http", "https"])
# The outcomes as a tuple, for the API schema's enum name (settings.ENUM_NAME_OVERRIDES).
OUTCOME_VALUES = tuple(IncidentStep.Outcome.values)


def register_notification_kinds() -> None:
    """Called from PlaybooksConfig.ready()."""
    notifications.register_kind(
        key=ESCALATED,
        label=gettext_lazy("An incident's playbook escalated to you"),
        channels=[notifications.IN_APP, notifications.EMAIL],
        description=gettext_lazy(
            "Leads, the committee or an incident's commander: a playbook's escalation point "
            "was reached in an incident."
        ),
        order=60,
    )


# -- reads ----------------------------------------------------------------------------------


def _gravest(values: list[str], scale: tuple[str, ...]) -> str | None:
    known = [v for v in values if v in scale]
    return max(known, key=scale.index) if known else None


def incident_facts(incident: Incident) -> dict[str, str | None]:
    """What the condition language reads, from the incident: its severity; the gravest
    criticality, regulatory class and mode among its models; its first alert's kind and
    monitor; its first failure mode. A fact it does not have is None (the condition is then
    unknown, never silently false)."""
    links = list(incident.model_links.select_related("model__mode_row").order_by("model__slug"))
    models = [link.model for link in links]
    modes = [(getattr(m, "mode_row", None) and m.mode_row.mode) or "normal" for m in models]
    classes = []
    for m in models:
        settings_doc = active_version(model_slug=m.slug, kind=DocumentKind.MODEL_SETTINGS)
        if settings_doc is not None:
            classes.append(str(settings_doc.document.get("regulatory_class", "")))
    alert = (
        Alert.objects.filter(pk__in=incident.alert_links.values("alert_id")).order_by("pk").first()
    )
    fm = incident.failure_mode_links.select_related("failure_mode").order_by("pk").first()
    ordered = conditions.ORDERED
    return {
        "severity": incident.severity,
        "model.criticality": _gravest([m.criticality for m in models],
                                      ordered["model.criticality"]),
        "model.regulatory_class": _gravest(classes, ordered["model.regulatory_class"]),
        "model.mode": _gravest(modes, ("normal", "contained", "halted")),
        "alert.kind": alert.shape if alert else None,
        "alert.monitor": alert.monitor if alert else None,
        "failure_mode": fm.failure_mode.slug if fm else None,
    }  # fmt: skip


def records_of(incident: Incident) -> list[checklist.Record]:
    rows = IncidentStep.objects.filter(incident=incident).select_related("done_by").order_by("seq")
    return [
        checklist.Record(
            seq=r.seq,
            step_key=r.step_key,
            outcome=r.outcome,
            branch=r.branch or {},
            artifacts=tuple(r.artifacts or ()),
            note=r.note,
            done_by=r.done_by.get_username() if r.done_by_id else None,
            done_at=r.done_at,
        )
        for r in rows
    ]


def incident_checklist(incident: Incident) -> checklist.Checklist | None:
    """The checklist of the pinned version (None: no playbook pinned yet)."""
    if incident.playbook_version_id is None:
        return None
    return checklist.compute(
        incident.playbook_version.document, records_of(incident), incident_facts(incident)
    )


def playbook_proposals(incident: Incident) -> list[tuple[Playbook, str]]:
    """Active playbooks for an incident without one: those for its failure modes first, then
    those a monitor of its alerts triggers, each with why it is proposed."""
    active = {
        p.current_id: p
        for p in Playbook.objects.filter(status=Playbook.Status.ACTIVE, current__isnull=False)
        .select_related("current")
        .order_by("slug")
    }
    fms = list(incident.failure_mode_links.values_list("failure_mode__slug", flat=True))
    monitors = list(
        Alert.objects.filter(pk__in=incident.alert_links.values("alert_id")).values_list(
            "monitor", flat=True
        )
    )
    hits = PlaybookIndex.objects.filter(version_id__in=list(active)).filter(
        kind=PlaybookIndex.Kind.FAILURE_MODE, value__in=fms
    ) | PlaybookIndex.objects.filter(version_id__in=list(active)).filter(
        kind=PlaybookIndex.Kind.MONITOR, value__in=monitors
    )
    by_fm: dict[int, str] = {}
    by_monitor: dict[int, str] = {}
    for hit in hits.order_by("value"):
        (by_fm if hit.kind == PlaybookIndex.Kind.FAILURE_MODE else by_monitor).setdefault(
            hit.version_id, hit.value
        )
    out = [(active[v], _("for the failure mode %s") % value) for v, value in by_fm.items()]
    out += [
        (active[v], _("triggered by the monitor %s") % value)
        for v, value in by_monitor.items()
        if v not in by_fm
    ]
    out.sort(key=lambda pair: (pair[0].current_id not in by_fm, pair[0].current.title))
    return out


# -- writes ---------------------------------------------------------------------------------


def _locked(incident: Incident) -> Incident:
    row = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("playbook_version", "commander")
        .filter(pk=incident.pk)
        .first()
    )
    if row is None:
        raise NotFound(_("No such incident."))
    return row


def may_record(user: Any, incident: Incident, step: Mapping[str, Any]) -> bool:
    """Whoever runs the incident; a member whose incident role is the step's role."""
    if may_run(user, incident):
        return True
    if not getattr(user, "pk", None) or step.get("role") not in MEMBER_ROLES:
        return False
    return IncidentMember.objects.filter(
        incident=incident, user_id=user.pk, role=step["role"]
    ).exists()


def _artifacts(step: Mapping[str, Any], raw: Any, errors: dict[str, list[str]]) -> list[dict]:
    """[{"kind", "label", "value"}] checked against what the step expects: each label one the
    step names, a link an http(s) URL, a number a number, every value bounded."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors["artifacts"] = [_("Must be a list of {label, value}.")]
        return []
    if len(raw) > MAX_ARTIFACTS:
        errors["artifacts"] = [_("At most %d.") % MAX_ARTIFACTS]
        return []
    expected = {a["label"]: a["kind"] for a in step.get("artifacts") or []}
    out = []
    for i, art in enumerate(raw):
        at = f"artifacts[{i}]"
        if not isinstance(art, Mapping):
            errors[at] = [_("Must be {label, value}.")]
            continue
        label, value = art.get("label"), art.get("value")
        if not isinstance(label, str) or label not in expected:
            errors[f"{at}.label"] = [
                _("This step records: %s.") % (", ".join(expected) or _("no artifacts"))
            ]
            continue
        kind = expected[label]
        if art.get("kind") not in (None, "", kind):
            errors[f"{at}.kind"] = [_("“%(l)s” is a %(k)s.") % {"l": label, "k": kind}]
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            errors[f"{at}.value"] = [_("Must be text.")]
            continue
        value = value.strip()
        if not value:
            continue  # an empty box: nothing recorded
        if unstorable(value) or len(value) > MAX_VALUE:
            errors[f"{at}.value"] = [_("At most %d characters, no NUL.") % MAX_VALUE]
            continue
        if kind == "link":
            try:
                _URL(value)
            except ValidationError:
                errors[f"{at}.value"] = [_("A link is an http:// or https:// address.")]
                continue
        if kind == "number":
            try:
                number = float(value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                errors[f"{at}.value"] = [_("Must be a number, e.g. 0.42.")]
                continue
        out.append({"kind": kind, "label": label, "value": value})
    return out


@transaction.atomic
def incident_step_record(
    *,
    incident: Incident,
    actor: Any,
    step_key: str,
    outcome: str,
    branch: str = "",
    artifacts: Any = None,
    note: str = "",
) -> IncidentStep:
    """Record that a step of the pinned playbook was done, skipped or does not apply.

    Refuses, naming the field: a step the version does not have (``step_key``), an outcome
    that is not one of done/skipped/not_applicable, or one the condition forbids (a step whose
    condition is false is only marked not applicable; not applicable needs a false condition),
    a decision point without one of its branches (``branch``), artifacts the step does not
    expect or whose value is not of its kind. 403 for someone who neither runs the incident
    nor holds the step's role in it; 409 when it has no playbook or is over."""
    row = _locked(incident)
    version = row.playbook_version
    steps = (version.document.get("steps") if version else None) or []
    step = next((s for s in steps if s.get("key") == step_key), None)
    if not may_run(actor, row) and (step is None or not may_record(actor, row, step)):
        raise PermissionDenied(
            _("Only the people running this incident, or its members in the step's role, "
              "record its steps.")
        )  # fmt: skip
    if row.status not in OPEN_STATUSES:
        raise Conflict(_("This incident is over; its checklist is closed."), code="invalid_state")
    if version is None:
        raise Conflict(_("Pin a playbook to this incident first."), field="playbook")
    errors: dict[str, list[str]] = {}
    if step is None:
        raise ServiceError(
            _("This playbook version has no step “%s”.") % step_key,
            errors={"step_key": [_("Not a step of the pinned playbook version.")]},
        )
    if outcome not in IncidentStep.Outcome.values:
        errors["outcome"] = [_("Must be one of %s.") % ", ".join(IncidentStep.Outcome.values)]
    facts = incident_facts(row)
    result = checklist.condition_result(step, facts)
    if result is False and outcome in (IncidentStep.Outcome.DONE, IncidentStep.Outcome.SKIPPED):
        errors["outcome"] = [
            _("Its condition is false here (%s): mark it not applicable.")
            % conditions.in_words(step.get("condition", ""))
        ]
    elif result is not False and outcome == IncidentStep.Outcome.NOT_APPLICABLE:
        errors["outcome"] = [
            _("Only a step whose condition is false is not applicable: mark it skipped.")
        ]
    chosen: dict[str, str] = {}
    if step.get("kind") == "decision":
        labels = {b["label"]: b for b in step.get("branches") or []}
        if not isinstance(branch, str) or branch not in labels:
            errors["branch"] = [_("Choose one of: %s.") % ", ".join(labels)]
        else:
            chosen = {"label": branch, "target": labels[branch]["target"]}
    elif branch:
        errors["branch"] = [_("Only a decision point has branches.")]
    kept = _artifacts(step, artifacts, errors)
    if note is None:
        note = ""
    if not isinstance(note, str) or unstorable(note) or len(note) > MAX_NOTE:
        errors["note"] = [_("Text of at most %d characters.") % MAX_NOTE]
    if errors:
        raise ServiceError(next(iter(errors.values()))[0], errors=errors)
    seq = (IncidentStep.objects.filter(incident=row).aggregate(m=Max("seq"))["m"] or 0) + 1
    person = actor if getattr(actor, "pk", None) else None
    saved = IncidentStep.objects.create(
        incident=row,
        seq=seq,
        step_key=step_key,
        outcome=outcome,
        branch=chosen,
        artifacts=kept,
        condition={
            "expression": step.get("condition", ""),
            "result": checklist.RESULT_WORDS[result],
        },
        note=note.strip(),
        done_by=person,
        done_at=clock.now(),
    )
    record(
        row,
        "playbooks.incident.step_recorded",
        actor,
        target=saved,
        data={
            "step_key": step_key,
            "seq": seq,
            "outcome": outcome,
            "branch": chosen,
            "artifacts": kept,
            "condition": saved.condition,
            "playbook_version": version.number,
        },
    )
    if step.get("kind") == "escalation" and outcome == IncidentStep.Outcome.DONE:
        _escalate(row, step, actor)
    return saved


def _escalate(incident: Incident, step: Mapping[str, Any], actor: Any) -> None:
    to = step.get("escalate_to")
    if to == "commander":
        recipients = [incident.commander_id] if incident.commander_id else []
    else:
        group = {"lead": LEAD, "committee": COMMITTEE}.get(to or "")
        recipients = list(
            get_user_model()
            ._default_manager.filter(groups__name=group, is_active=True)
            .values_list("pk", flat=True)
            if group
            else []
        )
    notifications.notify(
        recipients=recipients,
        kind=ESCALATED,
        title=_("%(ref)s escalates to you: %(step)s")
        % {"ref": incident.reference, "step": step.get("title", "")},
        body=_("Severity %(sev)s. %(title)s") % {"sev": incident.severity, "title": incident.title},
        link=incident.get_absolute_url() + "#checklist",
    )


def may_undo(user: Any, last: checklist.Record | None) -> bool:
    """The author of the incident's last record, within UNDO_MINUTES of recording it."""
    return bool(
        last is not None
        and last.done_at is not None
        and getattr(user, "pk", None)
        and last.done_by == user.get_username()
        and clock.now() - last.done_at <= dt.timedelta(minutes=UNDO_MINUTES)
    )


@transaction.atomic
def incident_step_undo(*, incident: Incident, actor: Any, seq: int) -> None:
    """Take back the incident's last record (``seq``), by its author within UNDO_MINUTES.
    The row goes; the audit log keeps both the record and its undoing. A notice an
    escalation point sent is not recalled."""
    row = _locked(incident)
    last = IncidentStep.objects.filter(incident=row).order_by("-seq").first()
    if last is None or last.seq != seq:
        raise Conflict(
            _("Only the last record can be undone; the checklist moved on."), field="seq"
        )
    mine = checklist.Record(
        seq=last.seq, step_key=last.step_key, outcome=last.outcome, done_at=last.done_at,
        done_by=last.done_by.get_username() if last.done_by_id else None,
    )  # fmt: skip
    if not may_undo(actor, mine):
        raise PermissionDenied(
            _("Only its author undoes a record, within %d minutes.") % UNDO_MINUTES
        )
    if row.status not in OPEN_STATUSES:
        raise Conflict(_("This incident is over; its checklist is closed."), code="invalid_state")
    data = {"step_key": last.step_key, "seq": last.seq, "outcome": last.outcome,
            "branch": last.branch, "artifacts": last.artifacts}  # fmt: skip
    last.delete()
    record(row, "playbooks.incident.step_undone", actor, data=data)


@transaction.atomic
def incident_playbook_pin(*, incident: Incident, actor: Any, playbook_slug: str) -> Incident:
    """Pin the current version of an active playbook to an incident that has none (once: 409
    when one is pinned). Later versions of the playbook never change what is pinned."""
    if not may_run(actor, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))
    row = _locked(incident)
    if row.playbook_version_id is not None:
        raise Conflict(
            _("This incident already follows %s.") % row.playbook_version.title,
            field="playbook",
            code="pinned",
        )
    if row.status not in OPEN_STATUSES:
        raise Conflict(_("This incident is over."), code="invalid_state")
    playbook = (
        Playbook.objects.select_related("current").filter(slug=str(playbook_slug or "")).first()
    )
    if playbook is None or playbook.current_id is None:
        raise ServiceError(
            _("No playbook “%s”.") % playbook_slug, errors={"playbook": [_("No such playbook.")]}
        )
    if playbook.status != Playbook.Status.ACTIVE:
        raise ServiceError(
            _("Only an active playbook runs."),
            errors={"playbook": [_("This playbook is %s.") % playbook.status]},
        )
    now = clock.now()
    moved = Incident.objects.filter(pk=row.pk, playbook_version__isnull=True).update(
        playbook_version=playbook.current, version=row.version + 1, updated_at=now
    )
    if moved != 1:  # pragma: no cover - the row lock makes this a belt and braces check
        raise Conflict(_("A playbook was pinned meanwhile."), field="playbook", code="pinned")
    row.playbook_version, row.version, row.updated_at = playbook.current, row.version + 1, now
    record(
        row,
        "playbooks.incident.playbook_pinned",
        actor,
        after={"playbook": playbook.slug, "playbook_version": playbook.current.number},
    )
    return row
