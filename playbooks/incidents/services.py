"""Every write of an incident's core: open, move through the lifecycle, edit its milestones,
set its people and links, and take notes. One function per use case, transactional, audited.

Every event names the incident as a subject (``playbooks.incident``), so its timeline is one
query on core's subject index. The other parts of an incident (checklist, hypotheses,
recovery, re-review, post-mortem) have their own modules beside this one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from catalog.models import FailureMode
from reviewapp.core import clock, state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import unstorable
from reviewapp.failsafe.models import Alert
from reviewapp.models import MLModel, ReviewItem
from reviewapp.selectors.visibility import models_visible_to, review_items_visible_to

from ..models import (
    Incident,
    IncidentAlert,
    IncidentFailureMode,
    IncidentItem,
    IncidentMember,
    IncidentModel,
    IncidentNote,
    Playbook,
    PlaybookVersion,
)
from . import guards
from .counts import open_count_forget
from .machine import INCIDENT, MILESTONE_OF
from .selectors import OPEN_STATUSES, may_open, may_run

SEVERITIES = ("S1", "S2", "S3", "S4")
MAX_TITLE = 200
MAX_TEXT = 20_000
MAX_LINKS = 500
# The order the milestones must keep (each may be unset), with the words of the refusal.
ORDER = (
    ("impact_started_at", _("impact start")),
    ("detected_at", _("detection")),
    ("contained_at", _("containment")),
    ("remediated_at", _("resolution")),
    ("verified_at", _("verification")),
    ("closed_at", _("closing")),
)
EDITABLE_TIMES = (
    "impact_started_at",
    "detected_at",
    "triaged_at",
    "contained_at",
    "remediated_at",
    "verified_at",
    "closed_at",
    "next_update_at",
)
SUBJECT = "playbooks.incident"


def actor_of(user: Any) -> Actor:
    return Actor.user(user) if getattr(user, "pk", None) else Actor.system("playbooks")


def subjects_of(incident: Incident, **more: Iterable[Any]) -> dict[str, list[Any]]:
    """The subject rows an incident's events carry: the incident itself, plus ``more``."""
    found: dict[str, list[Any]] = {SUBJECT: [incident.pk]}
    for kind, ids in more.items():
        found[kind.replace("__", ".")] = list(ids)
    return found


def record(incident: Incident, verb: str, actor: Any, *, target: Any = None, **kwargs: Any) -> None:
    """An audit event about ``incident`` (or one of its rows, ``target``) with the incident as
    a subject; ``subjects`` in kwargs are added."""
    subjects = {SUBJECT: [incident.pk]}
    subjects.update(kwargs.pop("subjects", {}) or {})
    audit_record(
        actor=actor if isinstance(actor, Actor) else actor_of(actor),
        verb=verb,
        target=target if target is not None else incident,
        subjects=subjects,
        **kwargs,
    )


# -- checks ---------------------------------------------------------------------------------


def milestone_problems(values: Mapping[str, dt.datetime | None]) -> dict[str, list[str]]:
    """Each milestone out of order, by field: impact start ≤ detection ≤ containment ≤
    resolution ≤ verification ≤ closing, and detection ≤ triage (unset ones are skipped).
    Pure; the database holds the same rule as check constraints."""
    errors: dict[str, list[str]] = {}
    known = [(f, label, values.get(f)) for f, label in ORDER]
    for i, (_field, label, when) in enumerate(known):
        if when is None:
            continue
        for later_field, later_label, later in known[i + 1 :]:
            if later is not None and when > later:
                errors.setdefault(later_field, []).append(
                    _("The %(later)s (%(b)s) cannot be before the %(earlier)s (%(a)s).")
                    % {
                        "later": later_label,
                        "earlier": label,
                        "a": when.isoformat(timespec="minutes"),
                        "b": later.isoformat(timespec="minutes"),
                    }
                )
    detected, triaged = values.get("detected_at"), values.get("triaged_at")
    if detected and triaged and triaged < detected:
        errors.setdefault("triaged_at", []).append(_("The triage cannot be before the detection."))
    now = clock.now()
    for field in ("impact_started_at", "detected_at"):
        when = values.get(field)
        if when is not None and when > now + dt.timedelta(minutes=5):
            errors.setdefault(field, []).append(_("Cannot be in the future."))
    return errors


def _raise(errors: dict[str, list[str]], message: str | None = None) -> None:
    if errors:
        raise ServiceError(message or next(iter(errors.values()))[0], errors=errors)


def _text(errors: dict, field: str, value: Any, *, required: bool, limit: int) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors[field] = [_("Must be text.")]
        return ""
    value = value.strip()
    if unstorable(value):
        errors[field] = [_("Contains a NUL character or a broken surrogate.")]
    elif required and not value:
        errors[field] = [_("Required.")]
    elif len(value) > limit:
        errors[field] = [_("At most %d characters.") % limit]
    return value


def _when(errors: dict, field: str, value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            errors[field] = [_("Give a time zone.")]
            return None
        return value
    errors[field] = [_("Must be a date and time.")]
    return None


def _ids(errors: dict, field: str, values: Any) -> list[Any]:
    values = list(values or [])
    if len(values) > MAX_LINKS:
        errors[field] = [_("At most %d.") % MAX_LINKS]
        return []
    return list(dict.fromkeys(values))


def _require_runner(user: Any, incident: Incident) -> None:
    if not may_run(user, incident):
        raise PermissionDenied(_("Only engineers, leads and this incident's commander run it."))


def _locked(incident: Incident, base_version: int | None) -> Incident:
    row = Incident.objects.select_for_update().filter(pk=incident.pk).first()
    if row is None:
        raise NotFound(_("No such incident."))
    if base_version is not None and row.version != base_version:
        raise Conflict(
            _("Someone changed this incident while you were looking at it. Reload to see it."),
            code="stale",
        )
    return row


# -- open -----------------------------------------------------------------------------------


@transaction.atomic
def incident_open(
    *,
    actor: Any,
    title: str,
    severity: str,
    model_slugs: Iterable[str],
    summary: str = "",
    playbook_slug: str = "",
    failure_mode_slugs: Iterable[str] = (),
    alert_ids: Iterable[int] = (),
    review_item_ids: Iterable[int] = (),
    impact_started_at: dt.datetime | None = None,
    detected_at: dt.datetime | None = None,
    source: str = Incident.Source.MANUAL,
    monitor: str = "",
) -> Incident:
    """Open an incident on the given models, following ``playbook_slug``'s current version
    (pinned). ``actor`` None with ``monitor``: opened by that monitor (no commander yet);
    otherwise the actor must be an engineer or a lead and becomes its commander.

    Refuses with 400 naming the field: no title, a severity not S1–S4, no model or one the
    actor cannot see, a playbook that is not active, an unknown failure mode, an alert or a
    review item not about the incident's models, milestones out of order."""
    if actor is not None and not may_open(actor):
        raise PermissionDenied(_("Only engineers and leads open incidents."))
    if actor is None and not monitor:
        raise ValueError("an incident is opened by a person or a monitor")
    errors: dict[str, list[str]] = {}
    title = _text(errors, "title", title, required=True, limit=MAX_TITLE)
    summary = _text(errors, "summary", summary, required=False, limit=MAX_TEXT)
    if severity not in SEVERITIES:
        errors["severity"] = [_("Must be one of %s.") % ", ".join(SEVERITIES)]
    if source not in Incident.Source.values:
        errors["source"] = [_("Must be one of %s.") % ", ".join(Incident.Source.values)]
    slugs = _ids(errors, "models", model_slugs)
    visible = MLModel.objects.all() if actor is None else models_visible_to(actor)
    models = list(visible.filter(slug__in=[s for s in slugs if isinstance(s, str)]))
    if not slugs:
        errors["models"] = [_("Name at least one model.")]
    elif len(models) != len(slugs):
        missing = sorted(set(map(str, slugs)) - {m.slug for m in models})
        errors["models"] = [_("No model you can see: %s.") % ", ".join(missing)]
    version: PlaybookVersion | None = None
    if playbook_slug:
        playbook = Playbook.objects.select_related("current").filter(slug=playbook_slug).first()
        if playbook is None or playbook.current is None:
            errors["playbook"] = [_("No playbook “%s”.") % playbook_slug]
        elif playbook.status != Playbook.Status.ACTIVE:
            errors["playbook"] = [_("This playbook is %s; only active ones run.") % playbook.status]
        else:
            version = playbook.current
    fm_slugs = _ids(errors, "failure_modes", failure_mode_slugs)
    failure_modes = list(FailureMode.objects.filter(slug__in=fm_slugs))
    if len(failure_modes) != len(fm_slugs):
        missing = sorted(set(map(str, fm_slugs)) - {f.slug for f in failure_modes})
        errors["failure_modes"] = [_("No catalog entry: %s.") % ", ".join(missing)]
    model_ids = {m.pk for m in models}
    alert_ids = _ids(errors, "alerts", alert_ids)
    alerts = list(Alert.objects.filter(pk__in=alert_ids, model_id__in=model_ids))
    if len(alerts) != len(alert_ids):
        errors["alerts"] = [_("Every alert must be about one of the incident's models.")]
    item_ids = _ids(errors, "review_items", review_item_ids)
    items = (
        list(
            review_items_visible_to(actor, ReviewItem.objects.filter(pk__in=item_ids))
            if actor is not None
            else ReviewItem.objects.filter(pk__in=item_ids)
        )
        if item_ids
        else []
    )
    items = [i for i in items if i.model_id in model_ids]
    if len(items) != len(item_ids):
        errors["review_items"] = [_("Every review item must be one you can see, of the models.")]
    now = clock.now()
    impact_started_at = _when(errors, "impact_started_at", impact_started_at)
    detected_at = _when(errors, "detected_at", detected_at) or now
    if not errors:
        errors.update(
            milestone_problems({"impact_started_at": impact_started_at, "detected_at": detected_at})
        )
    _raise(errors)
    person = actor if getattr(actor, "pk", None) else None
    incident = Incident.objects.create(
        title=title,
        summary=summary,
        severity=severity,
        source=source,
        playbook_version=version,
        commander=person,
        opened_by=person,
        opened_by_monitor=monitor if person is None else "",
        impact_started_at=impact_started_at,
        detected_at=detected_at,
        created_at=now,
        updated_at=now,
    )
    IncidentModel.objects.bulk_create([IncidentModel(incident=incident, model=m) for m in models])
    IncidentAlert.objects.bulk_create([IncidentAlert(incident=incident, alert=a) for a in alerts])
    IncidentItem.objects.bulk_create(
        [IncidentItem(incident=incident, review_item=i) for i in items]
    )
    IncidentFailureMode.objects.bulk_create(
        [IncidentFailureMode(incident=incident, failure_mode=f) for f in failure_modes]
    )
    record(
        incident,
        "playbooks.incident.opened",
        actor if person else Actor.system(f"monitor:{monitor}"),
        after={"status": incident.status, "severity": severity, "title": title},
        data={
            "source": source,
            "models": sorted(m.slug for m in models),
            "playbook": version.playbook.slug if version else "",
            "playbook_version": version.number if version else None,
            "failure_modes": sorted(f.slug for f in failure_modes),
            "alerts": sorted(a.pk for a in alerts),
            "review_items": sorted(i.pk for i in items),
        },
        subjects={
            "reviewapp.mlmodel": [m.pk for m in models],
            "failsafe.alert": [a.pk for a in alerts],
            "reviewapp.reviewitem": [i.pk for i in items],
        },
    )
    open_count_forget()  # the top bar's cached count
    return incident


# -- lifecycle ------------------------------------------------------------------------------


@transaction.atomic
def incident_transition(
    *,
    incident: Incident,
    event: str,
    actor: Any,
    base_version: int | None = None,
    at: dt.datetime | None = None,
    reason: str = "",
) -> Incident:
    """Move ``incident`` by ``event`` (core's state machine), stamping the milestone it
    reaches at ``at`` (default now; earlier when recorded after the fact). Refuses: a person
    who may not run it (403), an event the table does not allow from its status or a stale
    read (409), a time out of order or a guard's objection (400, naming the field)."""
    _require_runner(actor, incident)
    if event not in INCIDENT.events:
        raise ServiceError(
            _("Unknown action “%s”.") % event,
            errors={"event": [_("Must be one of %s.") % ", ".join(INCIDENT.events)]},
        )
    row = _locked(incident, base_version)
    errors: dict[str, list[str]] = {}
    reason = _text(errors, "reason", reason, required=event == "cancel", limit=MAX_TEXT)
    when = _when(errors, "at", at) or clock.now()
    if when > clock.now() + dt.timedelta(minutes=5):
        errors["at"] = [_("Cannot be in the future.")]
    _raise(errors)
    if not INCIDENT.allows(event, row.status):
        raise Conflict(
            _("This incident is %(status)s; it cannot be moved by “%(event)s”.")
            % {"status": row.get_status_display().lower(), "event": event},
            field="event",
            code="invalid_state",
        )
    changes: dict[str, Any] = {"version": row.version + 1}
    milestone = MILESTONE_OF.get(event)
    if milestone and getattr(row, milestone) is None:
        changes[milestone] = when
    if event == "cancel":
        changes["cancel_reason"] = reason
    if event == "reopen":
        changes["verified_at"] = None
    values = {f: getattr(row, f) for f, _label in ORDER}
    values["triaged_at"] = row.triaged_at
    values.update({k: v for k, v in changes.items() if k.endswith("_at")})
    problems = milestone_problems(values)
    if problems:
        first = next(iter(problems.values()))[0]
        raise ServiceError(first, errors={"at": [first], **problems})
    _raise(guards.problems(event=event, incident=row, reason=reason))
    if event == "verify" and reason:
        changes["no_root_cause_reason"] = reason
    state.apply(
        INCIDENT,
        instance=row,
        event=event,
        actor=actor_of(actor),
        changes=changes,
        data={
            "at": when.isoformat(),
            **({"milestone": milestone} if milestone in changes else {}),
            **({"reason": reason} if reason else {}),
        },
    )
    # The state machine's own event names the incident as its target; the subject row makes
    # it part of the timeline query like every other event.
    open_count_forget()  # the top bar's cached count
    return row


@transaction.atomic
def incident_edit(*, incident: Incident, actor: Any, base_version: int, **fields: Any) -> Incident:
    """Change the title, summary, severity or any milestone time. An edit that breaks the
    milestones' order is refused with the reason, and nothing changes."""
    _require_runner(actor, incident)
    row = _locked(incident, base_version)
    allowed = {"title", "summary", "severity", *EDITABLE_TIMES}
    unknown = sorted(set(fields) - allowed)
    errors: dict[str, list[str]] = {}
    for name in unknown:
        errors[name] = [_("Not editable.")]
    clean: dict[str, Any] = {}
    if "title" in fields:
        clean["title"] = _text(errors, "title", fields["title"], required=True, limit=MAX_TITLE)
    if "summary" in fields:
        clean["summary"] = _text(
            errors, "summary", fields["summary"], required=False, limit=MAX_TEXT
        )
    if "severity" in fields:
        if fields["severity"] not in SEVERITIES:
            errors["severity"] = [_("Must be one of %s.") % ", ".join(SEVERITIES)]
        else:
            clean["severity"] = fields["severity"]
    for name in EDITABLE_TIMES:
        if name in fields:
            clean[name] = _when(errors, name, fields[name])
    if "detected_at" in clean and clean["detected_at"] is None and "detected_at" not in errors:
        errors["detected_at"] = [_("Required: an incident is always detected at some time.")]
    reached = {
        "triaged_at": Incident.Status.TRIAGED,
        "contained_at": Incident.Status.CONTAINED,
        "remediated_at": Incident.Status.REMEDIATED,
        "verified_at": Incident.Status.VERIFIED,
        "closed_at": Incident.Status.CLOSED,
    }
    for name in reached:
        if name in clean and clean[name] is not None and getattr(row, name) is None:
            errors.setdefault(name, []).append(
                _("Not reached yet: record it with the lifecycle action, not an edit.")
            )
    _raise(errors)
    values = {f: getattr(row, f) for f in EDITABLE_TIMES}
    values.update({k: v for k, v in clean.items() if k in EDITABLE_TIMES})
    _raise(milestone_problems(values))
    changed = {k: v for k, v in clean.items() if getattr(row, k) != v}
    if not changed:
        return row
    before = {k: _jsonable(getattr(row, k)) for k in changed}
    now = clock.now()
    try:
        with transaction.atomic():
            Incident.objects.filter(pk=row.pk).update(
                **changed, version=row.version + 1, updated_at=now
            )
    except IntegrityError as exc:  # the check constraints: a concurrent transition
        raise Conflict(_("The milestones moved meanwhile; reload and redo."), code="stale") from exc
    for k, v in changed.items():
        setattr(row, k, v)
    row.version += 1
    row.updated_at = now
    record(
        row,
        "playbooks.incident.edited",
        actor,
        before=before,
        after={k: _jsonable(v) for k, v in changed.items()},
    )
    return row


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


# -- people ---------------------------------------------------------------------------------


def _person_named(username: Any, field: str) -> Any:
    user_model = get_user_model()
    if not isinstance(username, str) or not username:
        raise ServiceError(_("Name a person."), errors={field: [_("Name a person.")]})
    user = user_model.objects.filter(
        is_active=True, **{user_model.USERNAME_FIELD: username}
    ).first()
    if user is None:
        raise ServiceError(
            _("No active user “%s”.") % username, errors={field: [_("No such active user.")]}
        )
    return user


@transaction.atomic
def incident_commander_set(
    *, incident: Incident, actor: Any, username: str, base_version: int | None = None
) -> Incident:
    """Hand the command to an engineer or a lead (the commander may contain its models)."""
    _require_runner(actor, incident)
    row = _locked(incident, base_version)
    user = _person_named(username, "commander")
    if not may_open(user):
        raise ServiceError(
            _("A commander must be an engineer or a lead."),
            errors={"commander": [_("Must be an engineer or a lead.")]},
        )
    if row.commander_id == user.pk:
        return row
    before = row.commander.get_username() if row.commander_id else None
    Incident.objects.filter(pk=row.pk).update(
        commander=user, version=row.version + 1, updated_at=clock.now()
    )
    row.commander, row.version = user, row.version + 1
    record(
        row,
        "playbooks.incident.commander_set",
        actor,
        before={"commander": before},
        after={"commander": user.get_username()},
    )
    return row


@transaction.atomic
def incident_member_add(*, incident: Incident, actor: Any, username: str, role: str) -> None:
    _require_runner(actor, incident)
    if role not in IncidentMember.Role.values:
        raise ServiceError(
            _("Unknown role."),
            errors={"role": [_("Must be one of %s.") % ", ".join(IncidentMember.Role.values)]},
        )
    user = _person_named(username, "username")
    _member, created = IncidentMember.objects.get_or_create(
        incident=incident, user=user, role=role, defaults={"added_by": _person(actor)}
    )
    if not created:
        raise Conflict(_("%(u)s is already %(r)s.") % {"u": username, "r": role}, field="role")
    record(
        incident,
        "playbooks.incident.member_added",
        actor,
        data={"username": user.get_username(), "role": role},
    )


@transaction.atomic
def incident_member_remove(*, incident: Incident, actor: Any, username: str, role: str) -> None:
    _require_runner(actor, incident)
    user = _person_named(username, "username")
    deleted, _rows = IncidentMember.objects.filter(incident=incident, user=user, role=role).delete()
    if not deleted:
        raise NotFound(_("%(u)s is not %(r)s here.") % {"u": username, "r": role}, field="role")
    record(
        incident,
        "playbooks.incident.member_removed",
        actor,
        data={"username": user.get_username(), "role": role},
    )


def _person(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


# -- links ----------------------------------------------------------------------------------


@transaction.atomic
def incident_link(
    *,
    incident: Incident,
    actor: Any,
    model_slugs: Iterable[str] = (),
    alert_ids: Iterable[int] = (),
    review_item_ids: Iterable[int] = (),
    failure_mode_slugs: Iterable[str] = (),
) -> dict[str, list[Any]]:
    """Link more models, alerts, review items or failure modes; returns what was added."""
    _require_runner(actor, incident)
    errors: dict[str, list[str]] = {}
    slugs = _ids(errors, "models", model_slugs)
    models = list(models_visible_to(actor).filter(slug__in=slugs))
    if len(models) != len(slugs):
        errors["models"] = [_("No model you can see with one of these names.")]
    model_ids = {m.pk for m in models} | set(
        incident.model_links.values_list("model_id", flat=True)
    )
    alert_ids = _ids(errors, "alerts", alert_ids)
    alerts = list(Alert.objects.filter(pk__in=alert_ids, model_id__in=model_ids))
    if len(alerts) != len(alert_ids):
        errors["alerts"] = [_("Every alert must be about one of the incident's models.")]
    item_ids = _ids(errors, "review_items", review_item_ids)
    items = [
        i
        for i in review_items_visible_to(actor, ReviewItem.objects.filter(pk__in=item_ids))
        if i.model_id in model_ids
    ]
    if len(items) != len(item_ids):
        errors["review_items"] = [_("Every review item must be one you can see, of the models.")]
    fm_slugs = _ids(errors, "failure_modes", failure_mode_slugs)
    failure_modes = list(FailureMode.objects.filter(slug__in=fm_slugs))
    if len(failure_modes) != len(fm_slugs):
        errors["failure_modes"] = [_("No catalog entry with one of these names.")]
    _raise(errors)
    added = {
        "models": [
            m.slug
            for m in models
            if IncidentModel.objects.get_or_create(incident=incident, model=m)[1]
        ],
        "alerts": [
            a.pk
            for a in alerts
            if IncidentAlert.objects.get_or_create(incident=incident, alert=a)[1]
        ],
        "review_items": [
            i.pk
            for i in items
            if IncidentItem.objects.get_or_create(incident=incident, review_item=i)[1]
        ],
        "failure_modes": [
            f.slug
            for f in failure_modes
            if IncidentFailureMode.objects.get_or_create(incident=incident, failure_mode=f)[1]
        ],
    }
    if any(added.values()):
        record(
            incident,
            "playbooks.incident.linked",
            actor,
            data=added,
            subjects={
                "reviewapp.mlmodel": [m.pk for m in models if m.slug in added["models"]],
                "failsafe.alert": added["alerts"],
                "reviewapp.reviewitem": added["review_items"],
            },
        )
    return added


# -- notes ----------------------------------------------------------------------------------


@transaction.atomic
def incident_note_add(*, incident: Incident, actor: Any, body: str) -> IncidentNote:
    """A note on the timeline (anyone who runs the incident, its scribe and participants)."""
    if not (
        may_run(actor, incident)
        or IncidentMember.objects.filter(
            incident=incident,
            user_id=getattr(actor, "pk", None),
            role__in=[IncidentMember.Role.SCRIBE, IncidentMember.Role.PARTICIPANT,
                      IncidentMember.Role.LIAISON],
        ).exists()
    ):  # fmt: skip
        raise PermissionDenied(_("Only the incident's team writes on its timeline."))
    errors: dict[str, list[str]] = {}
    body = _text(errors, "body", body, required=True, limit=MAX_TEXT)
    _raise(errors)
    note = IncidentNote.objects.create(incident=incident, author=_person(actor), body=body)
    record(incident, "playbooks.incident.noted", actor, target=note, data={"body": body[:500]})
    return note


# -- the fail-safe hook ---------------------------------------------------------------------


def commander_may_stop(*, user: Any, model: MLModel, mode: str) -> bool:
    """failsafe.may_stop_model: the commander of an open incident on ``model`` may contain or
    halt it (lifting stays with leads; the switch checks that)."""
    if not getattr(user, "pk", None):
        return False
    return Incident.objects.filter(
        commander_id=user.pk,
        model_links__model_id=model.pk,
        status__in=OPEN_STATUSES,
    ).exists()
