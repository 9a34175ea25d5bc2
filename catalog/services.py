"""Every write to the catalog: one function per use case, transactional, audited.

Content is handled as a *snapshot* dict (plain JSON: slugs and usernames instead of ids).
The same shape is what a revision stores, what restore copies back, and what export and
import exchange, so "restore version 3" and "import this catalog" share one code path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core import state
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import Conflict, NotFound, PermissionDenied, ServiceError
from reviewapp.core.params import DB_INT_MAX
from reviewapp.core.state import transition

from . import quality
from .models import (
    CaseStudy,
    Category,
    FailureMode,
    FailureModeMitigation,
    MitigationTemplate,
    MitigationUse,
    Occurrence,
    Revision,
    Severity,
    Tag,
)

Status = FailureMode.Status

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

FM_TEXT_FIELDS = [
    "title", "summary", "cause", "effect", "latent_conditions", "trigger_steps",
    "detection_signals", "business_impact",
]  # fmt: skip
FM_LIST_FIELDS = ["signal_keys", "kpis", "affected_datasets", "affected_models", "affected_systems"]
FM_CHOICE_FIELDS = {
    "severity": Severity.values,
    "frequency": FailureMode.Frequency.values,
    "maturity": FailureMode.Maturity.values,
}
FM_CONTENT_FIELDS = [
    "title", "slug", "summary", "category", "cause", "effect", "latent_conditions",
    "trigger_steps", "detection_signals", "signal_keys", "severity", "frequency",
    "business_impact", "kpis", "tags", "owner", "steward", "review_interval_days",
    "next_review_on", "affected_datasets", "affected_models", "affected_systems", "maturity",
    "evidence_links", "external_refs",
]  # fmt: skip
MAX_TEXT = 20000


# --- Permissions ----------------------------------------------------------------------------
def can_create(user: Any) -> bool:
    return user.has_perm("catalog.add_failuremode") or user.has_perm("catalog.change_failuremode")


def can_edit(user: Any, fm: FailureMode) -> bool:
    if user.has_perm("catalog.change_failuremode"):
        return True
    is_author = fm.created_by_id == user.pk
    return (
        is_author
        and user.has_perm("catalog.add_failuremode")
        and fm.status
        in (
            Status.DRAFT,
            Status.IN_REVIEW,
        )
    )


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


# --- Snapshots ------------------------------------------------------------------------------
def failure_mode_snapshot(fm: FailureMode) -> dict[str, Any]:
    tags: dict[str, list[str]] = {dim: [] for dim in Tag.Dimension.values}
    for tag in fm.tags.all():
        tags[tag.dimension].append(tag.name)
    return {
        "title": fm.title,
        "slug": fm.slug,
        "summary": fm.summary,
        "category": fm.category.slug if fm.category_id else "",
        "cause": fm.cause,
        "effect": fm.effect,
        "latent_conditions": fm.latent_conditions,
        "trigger_steps": fm.trigger_steps,
        "detection_signals": fm.detection_signals,
        "signal_keys": list(fm.signal_keys),
        "severity": fm.severity,
        "frequency": fm.frequency,
        "business_impact": fm.business_impact,
        "kpis": list(fm.kpis),
        "tags": {dim: sorted(names) for dim, names in tags.items()},
        "owner": fm.owner.get_username() if fm.owner_id else "",
        "steward": fm.steward.get_username() if fm.steward_id else "",
        "review_interval_days": fm.review_interval_days,
        "next_review_on": fm.next_review_on.isoformat() if fm.next_review_on else "",
        "affected_datasets": list(fm.affected_datasets),
        "affected_models": list(fm.affected_models),
        "affected_systems": list(fm.affected_systems),
        "maturity": fm.maturity,
        "evidence_links": list(fm.evidence_links),
        "external_refs": list(fm.external_refs),
    }


def mitigation_snapshot(m: MitigationTemplate) -> dict[str, Any]:
    return {
        "title": m.title,
        "slug": m.slug,
        "kind": m.kind,
        "summary": m.summary,
        "detector_signals": m.detector_signals,
        "alert_thresholds": m.alert_thresholds,
        "procedure_steps": list(m.procedure_steps),
        "rollback_procedure": m.rollback_procedure,
        "fallback_plan": m.fallback_plan,
        "expected_ttr_minutes": m.expected_ttr_minutes,
        "trade_offs": m.trade_offs,
        "owner": m.owner.get_username() if m.owner_id else "",
        "review_interval_days": m.review_interval_days,
        "next_review_on": m.next_review_on.isoformat() if m.next_review_on else "",
    }


def _revision_add(*, kind: str, obj: Any, snapshot: dict, user: Any, note: str = "") -> Revision:
    return Revision.objects.create(
        kind=kind,
        object_id=obj.pk,
        number=obj.version,
        snapshot=snapshot,
        author=user if getattr(user, "pk", None) else None,
        note=note[:300],
    )


def _actor(user: Any) -> Actor:
    if user is None or not getattr(user, "pk", None):
        return Actor.system("catalog")
    return Actor.user(user)


# --- Validation -----------------------------------------------------------------------------
class _Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            first = next(iter(self.errors.values()))[0]
            raise ServiceError(first, status=400, errors=self.errors)


def _users_by_name(names: set[str]) -> dict[str, Any]:
    User = get_user_model()
    names = {n for n in names if n}
    if not names:
        return {}
    return {u.get_username(): u for u in User.objects.filter(username__in=names)}


def _clean_list(errs: _Errors, field: str, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errs.add(field, _("Must be a list of strings."))
        return []
    return [v.strip() for v in value if v.strip()]


def _clean_stewardship(errs: _Errors, data: dict[str, Any], values: dict[str, Any]) -> None:
    """The review interval and next review date, shared by entries and mitigations."""
    if "review_interval_days" in data:
        days = data["review_interval_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 7 <= days <= 730:
            errs.add("review_interval_days", _("Between 7 and 730 days."))
        else:
            values["review_interval_days"] = days
    if "next_review_on" in data:
        date = _clean_date(errs, "next_review_on", data["next_review_on"])
        if date:
            values["next_review_on"] = date


def _clean_date(errs: _Errors, field: str, value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        errs.add(field, _("Not a date; use YYYY-MM-DD."))
        return None


def _clean_links(errs: _Errors, value: Any) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(value or []):
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            errs.add(f"evidence_links[{i}]", _("Each link needs a url (and optionally a label)."))
            continue
        url = item["url"].strip()
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            errs.add(f"evidence_links[{i}]", _("Link must be an http(s) address: %s") % url)
            continue
        out.append({"label": str(item.get("label") or url).strip(), "url": url})
    return out


def _clean_refs(errs: _Errors, value: Any) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(value or []):
        if (
            not isinstance(item, dict)
            or not str(item.get("source", "")).strip()
            or not str(item.get("id", "")).strip()
        ):
            errs.add(f"external_refs[{i}]", _("Each reference needs a source and an id."))
            continue
        out.append({"source": str(item["source"]).strip(), "id": str(item["id"]).strip()})
    return out


def failure_mode_clean(data: dict[str, Any], *, fm: FailureMode | None) -> tuple[dict, dict]:
    """Validate a (partial) snapshot. Returns (model field values, tag names by dimension)."""
    errs = _Errors()
    unknown = set(data) - set(FM_CONTENT_FIELDS)
    for field in sorted(unknown):
        errs.add(field, _("Unknown field."))
    values: dict[str, Any] = {}
    for field in FM_TEXT_FIELDS:
        if field in data:
            value = data[field]
            if not isinstance(value, str):
                errs.add(field, _("Must be text."))
                continue
            if len(value) > MAX_TEXT:
                errs.add(field, _("At most %d characters.") % MAX_TEXT)
            values[field] = value.strip()
    if "title" in values and not values["title"]:
        errs.add("title", _("A failure mode needs a title."))
    if "title" in values and len(values["title"]) > 200:
        errs.add("title", _("At most 200 characters."))
    for field in FM_LIST_FIELDS:
        if field in data:
            values[field] = _clean_list(errs, field, data[field])
    for field, choices in FM_CHOICE_FIELDS.items():
        if field in data:
            if data[field] not in choices:
                errs.add(field, _("Choose one of: %s.") % ", ".join(choices))
            else:
                values[field] = data[field]
    if "slug" in data and data["slug"]:
        slug = slugify(str(data["slug"]))
        if not slug:
            errs.add("slug", _("Use letters, digits and hyphens."))
        elif FailureMode.objects.filter(slug=slug).exclude(pk=getattr(fm, "pk", None)).exists():
            errs.add("slug", _("Another failure mode already uses the slug “%s”.") % slug)
        values["slug"] = slug
    if "category" in data:
        category = Category.objects.filter(slug=data["category"] or "").first()
        if category is None:
            errs.add("category", _("Unknown category “%s”.") % data["category"])
        values["category"] = category
    users = _users_by_name({str(data.get("owner") or ""), str(data.get("steward") or "")})
    for field in ("owner", "steward"):
        if field in data:
            name = str(data[field] or "")
            if name and name not in users:
                errs.add(field, _("No user named “%s”.") % name)
            values[field] = users.get(name)
    _clean_stewardship(errs, data, values)
    if "evidence_links" in data:
        values["evidence_links"] = _clean_links(errs, data["evidence_links"])
    if "external_refs" in data:
        values["external_refs"] = _clean_refs(errs, data["external_refs"])
    tags: dict[str, list[str]] | None = None
    if "tags" in data:
        raw = data["tags"] or {}
        if not isinstance(raw, dict):
            errs.add("tags", _("Tags must map a dimension to a list of names."))
        else:
            tags = {}
            for dim, names in raw.items():
                if dim not in Tag.Dimension.values:
                    errs.add(f"tags.{dim}", _("Unknown tag dimension."))
                    continue
                tags[dim] = sorted({n.lower() for n in _clean_list(errs, f"tags.{dim}", names)})
                for name in tags[dim]:
                    if len(name) > 80:
                        errs.add(f"tags.{dim}", _("A tag is at most 80 characters."))
    errs.raise_if_any()
    return values, tags


def _unique_slug(base: str) -> str:
    base = slugify(base)[:180] or "failure-mode"
    slug, n = base, 2
    while FailureMode.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _set_tags(fm: FailureMode, tags: dict[str, list[str]]) -> None:
    wanted = []
    for dim, names in tags.items():
        for name in names:
            tag, _created = Tag.objects.get_or_create(dimension=dim, name=name)
            wanted.append(tag)
    fm.tags.set(wanted)


def _keywords(fm: FailureMode, snapshot: dict[str, Any]) -> str:
    tag_names = [n for names in snapshot["tags"].values() for n in names]
    return " ".join([*tag_names, *fm.kpis, *fm.affected_models, *fm.signal_keys])


def _check_required(fm_snapshot: dict[str, Any], status: str) -> None:
    missing = quality.missing_for_status(fm_snapshot, status)
    if missing:
        label = dict(Status.choices)[status]
        raise ServiceError(
            _("Required before “%s”: %s.")
            % (label, ", ".join(str(quality.FIELD_LABELS.get(f, f)) for f in missing)),
            status=400,
            errors={f: [_("Required when the status is “%s”.") % label] for f in missing},
        )


def failure_mode_store(fm: FailureMode, values: dict, tags: dict | None) -> dict[str, Any]:
    """Write cleaned values (and tags, unless None) and refresh the search keywords; returns
    the new snapshot. No checks and no audit: the caller (a service or the import) does both
    in its transaction."""
    for field, value in values.items():
        setattr(fm, field, value)
    fm.updated_at = timezone.now()
    fm.save()
    if tags is not None:
        _set_tags(fm, tags)
    snapshot = failure_mode_snapshot(fm)
    fm.keywords = _keywords(fm, snapshot)
    FailureMode.objects.filter(pk=fm.pk).update(keywords=fm.keywords)
    return snapshot


# --- Failure modes --------------------------------------------------------------------------
@transaction.atomic
def failure_mode_create(*, user: Any, data: dict[str, Any], note: str = "") -> FailureMode:
    if not can_create(user):
        raise PermissionDenied(_("You may not draft catalog entries."))
    values, tags = failure_mode_clean(data, fm=None)
    for field in quality.REQUIRED_BY_STATUS[Status.DRAFT]:
        if not values.get(field):
            raise ServiceError(
                _("%s is required.") % quality.FIELD_LABELS[field],
                errors={field: [_("This field is required.")]},
            )
    if not values.get("slug"):
        values["slug"] = _unique_slug(values["title"])
    if not values.get("owner"):
        values["owner"] = user
    fm = FailureMode(created_by=user, status=Status.DRAFT, version=1)
    if "next_review_on" not in values:
        days = values.get("review_interval_days", fm.review_interval_days)
        values["next_review_on"] = timezone.localdate() + dt.timedelta(days=days)
    snapshot = failure_mode_store(fm, values, tags or {})
    _revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note or "Drafted")
    audit_record(
        actor=_actor(user), verb="catalog.failure_mode.created", target=fm, after={"slug": fm.slug}
    )
    return fm


@transaction.atomic
def failure_mode_update(
    *,
    failure_mode: FailureMode,
    user: Any,
    data: dict[str, Any],
    base_version: int | None = None,
    note: str = "",
    verb: str = "catalog.failure_mode.updated",
) -> FailureMode:
    fm = FailureMode.objects.select_for_update().get(pk=failure_mode.pk)
    if not can_edit(user, fm):
        raise PermissionDenied(_("You may not edit this entry in its current status."))
    if base_version is not None and base_version != fm.version:
        raise Conflict(
            _("Someone saved this entry (now version %(now)s) after you opened version %(base)s. "
              "Reload it and apply your change again.") % {"now": fm.version, "base": base_version},
            field="base_version",
        )  # fmt: skip
    before = failure_mode_snapshot(fm)
    values, tags = failure_mode_clean(data, fm=fm)
    # The entry as it would read after this edit must still meet its status's requirements.
    _check_required({**before, **data}, fm.status)
    fm.version += 1
    snapshot = failure_mode_store(fm, values, tags)
    changed = {k: v for k, v in snapshot.items() if before.get(k) != v}
    _revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note)
    audit_record(
        actor=_actor(user),
        verb=verb,
        target=fm,
        before={k: before[k] for k in changed},
        after=changed,
        data={"version": fm.version},
    )
    return fm


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
    to = FAILURE_MODE.target(action)
    who = WHO_MAY[action]
    if who == "publisher" and fm.created_by_id == user.pk:
        raise PermissionDenied(
            _("You wrote this entry; another catalog editor must publish it."), field="action"
        )
    if not _may(user, fm, who):
        raise PermissionDenied(_("You may not %s this entry.") % action, field="action")
    _check_required(failure_mode_snapshot(fm), to)
    before = fm.status
    now = timezone.now()
    changes: dict[str, Any] = {"version": fm.version + 1}
    if to == Status.PUBLISHED:
        changes.update(published_by=user, published_at=now)
    state.apply(
        FAILURE_MODE,
        instance=fm,
        event=action,
        actor=_actor(user),
        now=now,
        changes=changes,
        data={"note": note} if note else None,
        field="action",
    )
    _revision_add(
        kind="failure_mode",
        obj=fm,
        snapshot=failure_mode_snapshot(fm),
        user=user,
        note=note or f"{action}: {before} → {to}",
    )
    return fm


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


@transaction.atomic
def failure_mode_mark_reviewed(*, failure_mode: FailureMode, user: Any) -> FailureMode:
    fm = FailureMode.objects.select_for_update().get(pk=failure_mode.pk)
    if not (user.pk in (fm.owner_id, fm.steward_id) or user.has_perm("catalog.change_failuremode")):
        raise PermissionDenied(
            _("Only the owner, the steward or an editor may mark this reviewed.")
        )
    before = fm.next_review_on
    fm.next_review_on = timezone.localdate() + dt.timedelta(days=fm.review_interval_days)
    fm.last_reminded_at = None
    fm.save(update_fields=["next_review_on", "last_reminded_at"])
    audit_record(
        actor=_actor(user),
        verb="catalog.failure_mode.reviewed",
        target=fm,
        before={"next_review_on": before.isoformat()},
        after={"next_review_on": fm.next_review_on.isoformat()},
    )
    return fm


@transaction.atomic
def failure_mode_link_mitigation(
    *,
    failure_mode: FailureMode,
    mitigation_slug: str,
    effectiveness: str,
    user: Any,
    note: str = "",
) -> FailureModeMitigation:
    if not can_edit(user, failure_mode):
        raise PermissionDenied(_("You may not edit this entry."))
    mitigation = MitigationTemplate.objects.filter(slug=mitigation_slug).first()
    if mitigation is None:
        raise NotFound(_("No mitigation template “%s”.") % mitigation_slug, field="mitigation")
    if effectiveness not in FailureModeMitigation.Effectiveness.values:
        raise ServiceError(
            _("Choose prevents, detects or reduces impact."),
            errors={"effectiveness": [_("Choose prevents, detects or reduces impact.")]},
        )
    link, created = FailureModeMitigation.objects.update_or_create(
        failure_mode=failure_mode,
        mitigation=mitigation,
        defaults={"effectiveness": effectiveness, "note": note[:300]},
    )
    audit_record(
        actor=_actor(user),
        verb="catalog.failure_mode.mitigation_linked",
        target=failure_mode,
        after={"mitigation": mitigation.slug, "effectiveness": effectiveness},
        data={"created": created},
    )
    return link


@transaction.atomic
def failure_mode_unlink_mitigation(
    *, failure_mode: FailureMode, mitigation_slug: str, user: Any
) -> None:
    if not can_edit(user, failure_mode):
        raise PermissionDenied(_("You may not edit this entry."))
    deleted, _rows = FailureModeMitigation.objects.filter(
        failure_mode=failure_mode, mitigation__slug=mitigation_slug
    ).delete()
    if not deleted:
        raise NotFound(_("That mitigation is not linked."), field="mitigation")
    audit_record(
        actor=_actor(user),
        verb="catalog.failure_mode.mitigation_unlinked",
        target=failure_mode,
        before={"mitigation": mitigation_slug},
    )


# --- Mitigation templates -------------------------------------------------------------------
MIT_FIELDS = [
    "title", "slug", "kind", "summary", "detector_signals", "alert_thresholds",
    "procedure_steps", "rollback_procedure", "fallback_plan", "expected_ttr_minutes",
    "trade_offs", "owner", "review_interval_days", "next_review_on",
]  # fmt: skip


def mitigation_clean(data: dict[str, Any], *, m: MitigationTemplate | None) -> dict[str, Any]:
    """Validate a (partial) mitigation snapshot; returns the model field values."""
    errs = _Errors()
    values: dict[str, Any] = {}
    for field in sorted(set(data) - set(MIT_FIELDS)):
        errs.add(field, _("Unknown field."))
    for field in ("title", "summary", "detector_signals", "alert_thresholds",
                  "rollback_procedure", "fallback_plan", "trade_offs"):  # fmt: skip
        if field in data:
            if not isinstance(data[field], str):
                errs.add(field, _("Must be text."))
            else:
                values[field] = data[field].strip()
    for field in ("title", "summary"):
        if (m is None or field in data) and not values.get(field):
            errs.add(field, _("This field is required."))
    if "kind" in data or m is None:
        if data.get("kind") not in MitigationTemplate.Kind.values:
            errs.add("kind", _("Choose one of: %s.") % ", ".join(MitigationTemplate.Kind.values))
        else:
            values["kind"] = data["kind"]
    if "procedure_steps" in data:
        values["procedure_steps"] = _clean_list(errs, "procedure_steps", data["procedure_steps"])
    if "expected_ttr_minutes" in data:
        ttr = data["expected_ttr_minutes"]
        if ttr in (None, ""):
            values["expected_ttr_minutes"] = None
        elif not isinstance(ttr, int) or isinstance(ttr, bool) or not 0 <= ttr <= DB_INT_MAX:
            # The column is an integer: a larger number is refused here, not by the database.
            errs.add("expected_ttr_minutes", _("A whole number of minutes."))
        else:
            values["expected_ttr_minutes"] = ttr
    if "owner" in data:
        users = _users_by_name({str(data["owner"] or "")})
        if data["owner"] and data["owner"] not in users:
            errs.add("owner", _("No user named “%s”.") % data["owner"])
        values["owner"] = users.get(data["owner"] or "")
    _clean_stewardship(errs, data, values)
    if data.get("slug"):
        slug = slugify(str(data["slug"]))
        if MitigationTemplate.objects.filter(slug=slug).exclude(pk=getattr(m, "pk", None)).exists():
            errs.add("slug", _("Another mitigation already uses the slug “%s”.") % slug)
        values["slug"] = slug
    errs.raise_if_any()
    return values


@transaction.atomic
def mitigation_create(*, user: Any, data: dict[str, Any]) -> MitigationTemplate:
    if not (user.has_perm("catalog.add_mitigationtemplate")):
        raise PermissionDenied(_("You may not create mitigation templates."))
    values = mitigation_clean(data, m=None)
    if not values.get("slug"):
        base, n = slugify(values["title"])[:180] or "mitigation", 2
        slug = base
        while MitigationTemplate.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        values["slug"] = slug
    if not values.get("owner"):
        values["owner"] = user
    m = MitigationTemplate(created_by=user, **values)
    m.save()
    _revision_add(kind="mitigation", obj=m, snapshot=mitigation_snapshot(m), user=user)
    audit_record(actor=_actor(user), verb="catalog.mitigation.created", target=m)
    return m


@transaction.atomic
def mitigation_update(
    *, mitigation: MitigationTemplate, user: Any, data: dict[str, Any], note: str = ""
) -> MitigationTemplate:
    if not user.has_perm("catalog.change_mitigationtemplate"):
        raise PermissionDenied(_("You may not edit mitigation templates."))
    m = MitigationTemplate.objects.select_for_update().get(pk=mitigation.pk)
    before = mitigation_snapshot(m)
    values = mitigation_clean(data, m=m)
    for field, value in values.items():
        setattr(m, field, value)
    m.version += 1
    m.updated_at = timezone.now()
    m.save()
    after = mitigation_snapshot(m)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    _revision_add(kind="mitigation", obj=m, snapshot=after, user=user, note=note)
    audit_record(
        actor=_actor(user),
        verb="catalog.mitigation.updated",
        target=m,
        before={k: before[k] for k in changed},
        after=changed,
    )
    return m


@transaction.atomic
def mitigation_use_record(
    *,
    mitigation_slug: str,
    source_type: str,
    source_id: str,
    observed_ttr_minutes: int | None = None,
    recurred: bool | None = None,
) -> MitigationUse:
    """Playbooks call this when an incident applied a mitigation; idempotent per source."""
    mitigation = MitigationTemplate.objects.filter(slug=mitigation_slug).first()
    if mitigation is None:
        raise NotFound(_("No mitigation template “%s”.") % mitigation_slug, field="mitigation_slug")
    use, _created = MitigationUse.objects.update_or_create(
        mitigation=mitigation,
        source_type=source_type,
        source_id=str(source_id),
        defaults={"observed_ttr_minutes": observed_ttr_minutes, "recurred": recurred},
    )
    audit_record(
        actor=Actor.system("catalog"),
        verb="catalog.mitigation.used",
        target=mitigation,
        after={"source": f"{source_type}:{source_id}", "ttr": observed_ttr_minutes},
    )
    return use


# --- Case studies ---------------------------------------------------------------------------
@transaction.atomic
def case_study_create(*, user: Any, data: dict[str, Any]) -> CaseStudy:
    if not can_create(user):
        raise PermissionDenied(_("You may not write case studies."))
    errs = _Errors()
    title = str(data.get("title") or "").strip()
    summary = str(data.get("summary") or "").strip()
    if not title:
        errs.add("title", _("This field is required."))
    if not summary:
        errs.add("summary", _("This field is required."))
    occurred_on = _clean_date(errs, "occurred_on", data.get("occurred_on"))
    fm_slugs = _clean_list(errs, "failure_modes", data.get("failure_modes"))
    mit_slugs = _clean_list(errs, "mitigations", data.get("mitigations"))
    fms = list(FailureMode.objects.filter(slug__in=fm_slugs))
    mits = list(MitigationTemplate.objects.filter(slug__in=mit_slugs))
    for slug in sorted(set(fm_slugs) - {f.slug for f in fms}):
        errs.add("failure_modes", _("Unknown failure mode “%s”.") % slug)
    for slug in sorted(set(mit_slugs) - {m.slug for m in mits}):
        errs.add("mitigations", _("Unknown mitigation “%s”.") % slug)
    for field in ("metrics", "timeline"):
        if not isinstance(data.get(field, []), list):
            errs.add(field, _("Must be a list."))
    errs.raise_if_any()
    slug = slugify(str(data.get("slug") or title))[:180] or "case-study"
    base, n = slug, 2
    while CaseStudy.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    cs = CaseStudy.objects.create(
        title=title,
        slug=slug,
        summary=summary,
        narrative=str(data.get("narrative") or ""),
        occurred_on=occurred_on,
        metrics=data.get("metrics") or [],
        timeline=data.get("timeline") or [],
        created_by=user,
    )
    cs.failure_modes.set(fms)
    cs.mitigations.set(mits)
    when = dt.datetime.combine(occurred_on or timezone.localdate(), dt.time(12), tzinfo=dt.UTC)
    for fm in fms:
        occurrence_record(
            failure_mode_slug=fm.slug, source_type="case_study", source_id=cs.slug, occurred_at=when
        )
    audit_record(actor=_actor(user), verb="catalog.case_study.created", target=cs)
    return cs


# --- Occurrences ----------------------------------------------------------------------------
@transaction.atomic
def occurrence_record(
    *,
    failure_mode_slug: str,
    source_type: str,
    source_id: str | int,
    occurred_at: dt.datetime,
    actor: Actor | None = None,
) -> Occurrence:
    """Count one report of a failure mode. Idempotent per (failure mode, source).

    The review queue calls this when a reviewer tags a decision (source_type
    "review_decision", source_id the decision id); playbooks call it per incident.
    Runs inside the caller's transaction when there is one.
    """
    if source_type not in Occurrence.SourceType.values:
        raise ServiceError(
            _("Unknown source type."),
            errors={
                "source_type": [_("Use one of: %s.") % ", ".join(Occurrence.SourceType.values)]
            },
        )
    if not isinstance(occurred_at, dt.datetime) or timezone.is_naive(occurred_at):
        raise ServiceError(
            _("occurred_at must be an aware datetime."),
            errors={"occurred_at": [_("Must be an aware datetime.")]},
        )
    fm = FailureMode.objects.filter(slug=failure_mode_slug).only("pk").first()
    if fm is None:
        raise NotFound(_("No failure mode “%s”.") % failure_mode_slug, field="failure_mode_slug")
    key = {"failure_mode_id": fm.pk, "source_type": source_type, "source_id": str(source_id)}
    existed = Occurrence.objects.filter(**key).first()
    if existed is not None:
        return existed
    # ON CONFLICT DO NOTHING: a concurrent recorder of the same source wins without an error.
    Occurrence.objects.bulk_create(
        [Occurrence(occurred_at=occurred_at, **key)], ignore_conflicts=True
    )
    occurrence = Occurrence.objects.get(**key)
    # Recount instead of incrementing, so a lost race cannot double count.
    FailureMode.objects.filter(pk=fm.pk).update(
        occurrence_count=Subquery(
            Occurrence.objects.filter(failure_mode=OuterRef("pk"))
            .values("failure_mode")
            .annotate(n=Count("id"))
            .values("n")[:1]
        )
    )
    audit_record(
        actor=actor or Actor.system("catalog"),
        verb="catalog.occurrence.recorded",
        target=("catalog.failuremode", fm.pk),
        after={"source_type": source_type, "source_id": str(source_id)},
        data={"occurred_at": occurred_at.isoformat()},
    )
    return occurrence


# --- Stewardship ----------------------------------------------------------------------------
REMIND_EVERY = dt.timedelta(days=7)


@transaction.atomic
def stewardship_remind(*, now: dt.datetime | None = None) -> int:
    """Remind stewards of overdue entries and mitigations, at most once a week per object.

    A reminder is an email to the steward (or owner) plus an audit event; the overdue list
    in the app shows the same set. Returns how many objects were reminded.
    """
    from django.core.mail import send_mail

    now = now or timezone.now()
    today = timezone.localdate(now)
    cutoff = now - REMIND_EVERY
    due_fms = list(
        FailureMode.objects.filter(next_review_on__lt=today)
        .exclude(status=Status.DEPRECATED)
        .exclude(last_reminded_at__gte=cutoff)
        .select_related("owner", "steward")
    )
    due_mits = list(
        MitigationTemplate.objects.filter(next_review_on__lt=today)
        .exclude(last_reminded_at__gte=cutoff)
        .select_related("owner")
    )
    by_person: dict[Any, list[str]] = {}
    for fm in due_fms:
        person = fm.steward or fm.owner
        if person is not None:
            by_person.setdefault(person, []).append(
                f"failure mode: {fm.title} (due {fm.next_review_on})"
            )
    for m in due_mits:
        if m.owner is not None:
            by_person.setdefault(m.owner, []).append(
                f"mitigation: {m.title} (due {m.next_review_on})"
            )
    for person, lines in by_person.items():
        if person.email:
            send_mail(
                subject=_("Failsafe catalog: %d entries are due for review") % len(lines),
                message="\n".join(lines),
                from_email=None,
                recipient_list=[person.email],
                fail_silently=True,
            )
    FailureMode.objects.filter(pk__in=[f.pk for f in due_fms]).update(last_reminded_at=now)
    MitigationTemplate.objects.filter(pk__in=[m.pk for m in due_mits]).update(last_reminded_at=now)
    if due_fms or due_mits:
        audit_record(
            actor=Actor.system("catalog.stewardship"),
            verb="catalog.stewardship.reminded",
            target=("catalog.catalog", "stewardship"),
            data={
                "failure_modes": [f.slug for f in due_fms],
                "mitigations": [m.slug for m in due_mits],
                "people": sorted(p.get_username() for p in by_person),
            },
            subjects={
                FailureMode._meta.label_lower: [f.pk for f in due_fms],
                MitigationTemplate._meta.label_lower: [m.pk for m in due_mits],
            },
        )
    return len(due_fms) + len(due_mits)
