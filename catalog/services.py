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
    PendingRevision,
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
MAX_TTR_MINUTES = 525_600  # a year


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


def _person(user: Any) -> Any:
    """The user to stamp as author, or None for a system actor (``load_catalog``)."""
    return user if getattr(user, "pk", None) else None


def actor_for(user: Any) -> Actor:
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


SLUG_MAX = 200


def is_slug(value: Any) -> bool:
    """A slug every URL of the catalog can carry: what ``slugify`` leaves unchanged."""
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= SLUG_MAX
        and (slugify(value) == value)
    )


def _clean_slug(
    errs: _Errors, value: Any, *, model: type, exclude_pk: Any, taken: str, strict: bool
) -> str:
    """The slug of a write: the forms' free text is slugified, an import's must already be a
    slug (it is the key entries are merged by). Empty when invalid (the error is added)."""
    raw = str(value or "")
    slug = raw if strict else slugify(raw)
    if strict and not is_slug(raw):
        errs.add("slug", _("Not a slug: use lowercase letters, digits and hyphens."))
        return ""
    if not slug:
        errs.add("slug", _("Use letters, digits and hyphens."))
        return ""
    if len(slug) > SLUG_MAX:
        errs.add("slug", _("At most %d characters.") % SLUG_MAX)
        return ""
    if model.objects.filter(slug=slug).exclude(pk=exclude_pk).exists():
        errs.add("slug", taken % slug)
    return slug


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


def failure_mode_clean(
    data: dict[str, Any], *, fm: FailureMode | None, strict_slug: bool = False
) -> tuple[dict, dict]:
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
        values["slug"] = _clean_slug(
            errs,
            data["slug"],
            model=FailureMode,
            exclude_pk=getattr(fm, "pk", None),
            taken=_("Another failure mode already uses the slug “%s”."),
            strict=strict_slug,
        )
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
    return failure_mode_create_unchecked(user=user, data=data, note=note)


def failure_mode_create_unchecked(
    *, user: Any, data: dict[str, Any], note: str = "", strict_slug: bool = False
) -> FailureMode:
    """Draft an entry (permission checked by the caller: the form's service or the import)."""
    values, tags = failure_mode_clean(data, fm=None, strict_slug=strict_slug)
    for field in quality.REQUIRED_BY_STATUS[Status.DRAFT]:
        if not values.get(field):
            raise ServiceError(
                _("%s is required.") % quality.FIELD_LABELS[field],
                errors={field: [_("This field is required.")]},
            )
    if not values.get("slug"):
        values["slug"] = _unique_slug(values["title"])
    if not values.get("owner"):
        values["owner"] = _person(user)
    fm = FailureMode(created_by=_person(user), status=Status.DRAFT, version=1)
    if "next_review_on" not in values:
        days = values.get("review_interval_days", fm.review_interval_days)
        values["next_review_on"] = timezone.localdate() + dt.timedelta(days=days)
    snapshot = failure_mode_store(fm, values, tags or {})
    _revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note or "Drafted")
    audit_record(
        actor=actor_for(user),
        verb="catalog.failure_mode.created",
        target=fm,
        after={"slug": fm.slug},
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
    """Edit an entry. On a published entry, changes to reviewed fields become a pending
    revision (``fm.proposed_revision`` is set) that another editor publishes; the published
    content stays as it is until then. Fields in ``REVISION_EXEMPT`` apply at once."""
    fm = FailureMode.objects.select_for_update().get(pk=failure_mode.pk)
    if not can_edit(user, fm):
        raise PermissionDenied(_("You may not edit this entry in its current status."))
    return failure_mode_update_unchecked(
        fm=fm, user=user, data=data, base_version=base_version, note=note, verb=verb
    )


def failure_mode_update_unchecked(
    *,
    fm: FailureMode,
    user: Any,
    data: dict[str, Any],
    base_version: int | None = None,
    note: str = "",
    verb: str = "catalog.failure_mode.updated",
    direct: bool = False,
    strict_slug: bool = False,
    audit_data: dict[str, Any] | None = None,
) -> FailureMode:
    """The edit itself, on a row the caller locked and checked. ``direct`` skips the revision
    flow of published entries (only the admin restore of an import uses it)."""
    if base_version is not None and base_version != fm.version:
        raise Conflict(
            _("Someone saved this entry (now version %(now)s) after you opened version %(base)s. "
              "Reload it and apply your change again.") % {"now": fm.version, "base": base_version},
            field="base_version",
        )  # fmt: skip
    before = failure_mode_snapshot(fm)
    fm.proposed_revision = None
    if fm.status == Status.PUBLISHED and not direct:
        # Validate everything now (a bad value is a 400 now, not when someone publishes it).
        failure_mode_clean(data, fm=fm, strict_slug=strict_slug)
        submitted = {k: v for k, v in data.items() if k not in REVISION_EXEMPT}
        fm.proposed_revision = _revision_propose(
            fm=fm, user=user, before=before, submitted=submitted, note=note
        )
        data = {
            k: v
            for k, v in data.items()
            if k in REVISION_EXEMPT and _normalised(v) != _normalised(before.get(k))
        }
        if not data:
            return fm
    values, tags = failure_mode_clean(data, fm=fm, strict_slug=strict_slug)
    # The entry as it would read after this edit must still meet its status's requirements.
    _check_required({**before, **data}, fm.status)
    fm.version += 1
    snapshot = failure_mode_store(fm, values, tags)
    changed = {k: v for k, v in snapshot.items() if before.get(k) != v}
    _revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note)
    audit_record(
        actor=actor_for(user),
        verb=verb,
        target=fm,
        before={k: before[k] for k in changed},
        after=changed,
        data={"version": fm.version, **(audit_data or {})},
    )
    return fm


# --- Pending revisions of published entries -------------------------------------------------
# Stewardship bookkeeping, not what a reader of the entry relies on: edits to these apply to a
# published entry at once (docs/catalog.md, "Editing a published entry").
REVISION_EXEMPT = frozenset({"owner", "steward", "review_interval_days", "next_review_on"})
RevisionStatus = PendingRevision.Status
REVISION = state.Machine(
    model=PendingRevision,
    events={
        "publish": transition(
            RevisionStatus.PENDING, RevisionStatus.PUBLISHED, "catalog.revision.published"
        ),
        "reject": transition(
            RevisionStatus.PENDING, RevisionStatus.REJECTED, "catalog.revision.rejected"
        ),
        "withdraw": transition(
            RevisionStatus.PENDING, RevisionStatus.WITHDRAWN, "catalog.revision.withdrawn"
        ),
    },
    match=("version",),
)


def _normalised(value: Any) -> Any:
    """A value as the snapshot holds it, to tell a real change from the form's re-post."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, str):  # a browser posts text back with CRLF line ends
        return value.replace("\r\n", "\n").strip()
    if isinstance(value, dict):  # tags: dimension -> names, compared as sets
        return {
            k: sorted(str(n).strip().lower() for n in v) if isinstance(v, list) else _normalised(v)
            for k, v in value.items()
            if v not in ([], "", None)
        }
    return value


def _revision_propose(
    *, fm: FailureMode, user: Any, before: dict[str, Any], submitted: dict[str, Any], note: str
) -> PendingRevision | None:
    """Open, amend (its author only) or empty the entry's one pending revision with the
    submitted values of reviewed fields; None when nothing waits for review afterwards."""
    changed = {k: v for k, v in submitted.items() if _normalised(v) != _normalised(before.get(k))}
    pending = (
        PendingRevision.objects.select_for_update()
        .filter(failure_mode=fm, status=RevisionStatus.PENDING)
        .first()
    )
    person = _person(user)
    if pending is not None and pending.author_id != getattr(person, "pk", None):
        if not changed:
            return None
        raise Conflict(
            _("A revision by %(name)s is waiting for review. Publish or reject it first.")
            % {"name": _username_of(pending.author)},
            field="detail",
        )
    if pending is None:
        if not changed:
            return None
        pending = PendingRevision(
            failure_mode=fm, author=person, base_version=fm.version, base={}, changes={}
        )
    else:
        pending.version += 1
    for key, value in submitted.items():
        if key in changed:
            pending.base.setdefault(key, before.get(key))
            pending.changes[key] = value
        else:  # changed back to what is published: no longer part of the revision
            pending.changes.pop(key, None)
            pending.base.pop(key, None)
    if not pending.changes:
        if pending.pk is not None:
            state.apply(
                REVISION,
                instance=PendingRevision.objects.get(pk=pending.pk),
                event="withdraw",
                actor=actor_for(user),
                changes={"decided_by": person, "decided_at": timezone.now()},
                data={"failure_mode_id": fm.pk, "reason": "every change reverted"},
            )
        return None
    _check_required({**before, **pending.changes}, Status.PUBLISHED)
    pending.note = (note or pending.note)[:300]
    pending.updated_at = timezone.now()
    pending.save()
    audit_record(
        actor=actor_for(user),
        verb="catalog.revision.proposed",
        target=pending,
        before={k: before.get(k) for k in changed},
        after=changed,
        data={"failure_mode": fm.slug, "base_version": pending.base_version},
    )
    return pending


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
    now = timezone.now()
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
        note=note or _("Revision by %s published") % _username_of(pending.author),
        direct=True,
        audit_data={"revision": pending.pk, "proposed_by": _username_of(pending.author)},
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
    now = timezone.now()
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


def _username_of(user: Any) -> str:
    return user.get_username() if user is not None else "system"


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
    _check_required(failure_mode_snapshot(fm), to)
    before = fm.status
    now = timezone.now()
    changes: dict[str, Any] = {"version": fm.version + 1}
    if to == Status.PUBLISHED:
        changes.update(published_by=_person(user), published_at=now)
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
    _revision_add(
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
        actor=actor_for(user),
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
    return failure_mode_link_unchecked(
        failure_mode=failure_mode,
        mitigation_slug=mitigation_slug,
        effectiveness=effectiveness,
        user=user,
        note=note,
    )


def failure_mode_link_unchecked(
    *, failure_mode: FailureMode, mitigation_slug: str, effectiveness: Any, user: Any, note: Any
) -> FailureModeMitigation:
    if not isinstance(note, str) or len(note) > 300:
        raise ServiceError(
            _("A note of at most 300 characters."),
            errors={"note": [_("A note of at most 300 characters.")]},
        )
    mitigation = MitigationTemplate.objects.filter(slug=mitigation_slug).first()
    if mitigation is None:
        raise NotFound(_("No mitigation template “%s”.") % mitigation_slug, field="mitigation")
    existing = FailureModeMitigation.objects.filter(
        failure_mode=failure_mode, mitigation=mitigation
    ).first()
    if existing and (existing.effectiveness, existing.note) == (effectiveness, note):
        return existing  # nothing changes, nothing to audit
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
        actor=actor_for(user),
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
    failure_mode_unlink_unchecked(
        failure_mode=failure_mode, mitigation_slug=mitigation_slug, user=user
    )


def failure_mode_unlink_unchecked(
    *, failure_mode: FailureMode, mitigation_slug: str, user: Any
) -> None:
    deleted, _rows = FailureModeMitigation.objects.filter(
        failure_mode=failure_mode, mitigation__slug=mitigation_slug
    ).delete()
    if not deleted:
        raise NotFound(_("That mitigation is not linked."), field="mitigation")
    audit_record(
        actor=actor_for(user),
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


def mitigation_clean(
    data: dict[str, Any], *, m: MitigationTemplate | None, strict_slug: bool = False
) -> dict[str, Any]:
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
        elif not isinstance(ttr, int) or isinstance(ttr, bool) or not 0 <= ttr <= MAX_TTR_MINUTES:
            errs.add(
                "expected_ttr_minutes",
                _("A whole number of minutes, at most %d.") % MAX_TTR_MINUTES,
            )
        else:
            values["expected_ttr_minutes"] = ttr
    if "owner" in data:
        users = _users_by_name({str(data["owner"] or "")})
        if data["owner"] and data["owner"] not in users:
            errs.add("owner", _("No user named “%s”.") % data["owner"])
        values["owner"] = users.get(data["owner"] or "")
    _clean_stewardship(errs, data, values)
    if data.get("slug"):
        values["slug"] = _clean_slug(
            errs,
            data["slug"],
            model=MitigationTemplate,
            exclude_pk=getattr(m, "pk", None),
            taken=_("Another mitigation already uses the slug “%s”."),
            strict=strict_slug,
        )
    errs.raise_if_any()
    return values


@transaction.atomic
def mitigation_create(*, user: Any, data: dict[str, Any]) -> MitigationTemplate:
    if not (user.has_perm("catalog.add_mitigationtemplate")):
        raise PermissionDenied(_("You may not create mitigation templates."))
    return mitigation_create_unchecked(user=user, data=data)


def mitigation_create_unchecked(
    *, user: Any, data: dict[str, Any], strict_slug: bool = False
) -> MitigationTemplate:
    values = mitigation_clean(data, m=None, strict_slug=strict_slug)
    if not values.get("slug"):
        base, n = slugify(values["title"])[:180] or "mitigation", 2
        slug = base
        while MitigationTemplate.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        values["slug"] = slug
    if not values.get("owner"):
        values["owner"] = _person(user)
    m = MitigationTemplate(created_by=_person(user), **values)
    m.save()
    _revision_add(kind="mitigation", obj=m, snapshot=mitigation_snapshot(m), user=user)
    audit_record(actor=actor_for(user), verb="catalog.mitigation.created", target=m)
    return m


@transaction.atomic
def mitigation_update(
    *, mitigation: MitigationTemplate, user: Any, data: dict[str, Any], note: str = ""
) -> MitigationTemplate:
    if not user.has_perm("catalog.change_mitigationtemplate"):
        raise PermissionDenied(_("You may not edit mitigation templates."))
    return mitigation_update_unchecked(mitigation=mitigation, user=user, data=data, note=note)


def mitigation_update_unchecked(
    *,
    mitigation: MitigationTemplate,
    user: Any,
    data: dict[str, Any],
    note: str = "",
    strict_slug: bool = False,
) -> MitigationTemplate:
    m = MitigationTemplate.objects.select_for_update().get(pk=mitigation.pk)
    before = mitigation_snapshot(m)
    values = mitigation_clean(data, m=m, strict_slug=strict_slug)
    for field, value in values.items():
        setattr(m, field, value)
    m.version += 1
    m.updated_at = timezone.now()
    m.save()
    after = mitigation_snapshot(m)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    _revision_add(kind="mitigation", obj=m, snapshot=after, user=user, note=note)
    audit_record(
        actor=actor_for(user),
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
CASE_STUDY_FIELDS = [
    "title", "slug", "summary", "narrative", "occurred_on", "metrics", "timeline",
    "failure_modes", "mitigations",
]  # fmt: skip


def _case_study_clean(
    data: dict[str, Any], *, cs: CaseStudy | None, strict_slug: bool = False
) -> tuple[dict[str, Any], list[FailureMode], list[MitigationTemplate]]:
    errs = _Errors()
    for field in sorted(set(data) - set(CASE_STUDY_FIELDS)):
        errs.add(field, _("Unknown field."))
    values: dict[str, Any] = {}
    for field in ("title", "summary", "narrative"):
        if field in data or cs is None:
            value = data.get(field) or ""
            if not isinstance(value, str):
                errs.add(field, _("Must be text."))
                continue
            if len(value) > MAX_TEXT:
                errs.add(field, _("At most %d characters.") % MAX_TEXT)
            values[field] = value.strip()
    for field in ("title", "summary"):
        if field in values and not values[field]:
            errs.add(field, _("This field is required."))
    if len(values.get("title", "")) > 200:
        errs.add("title", _("At most 200 characters."))
    if "occurred_on" in data or cs is None:
        values["occurred_on"] = _clean_date(errs, "occurred_on", data.get("occurred_on"))
    fm_slugs = _clean_list(errs, "failure_modes", data.get("failure_modes"))
    mit_slugs = _clean_list(errs, "mitigations", data.get("mitigations"))
    fms = list(FailureMode.objects.filter(slug__in=fm_slugs))
    mits = list(MitigationTemplate.objects.filter(slug__in=mit_slugs))
    for slug in sorted(set(fm_slugs) - {f.slug for f in fms}):
        errs.add("failure_modes", _("Unknown failure mode “%s”.") % slug)
    for slug in sorted(set(mit_slugs) - {m.slug for m in mits}):
        errs.add("mitigations", _("Unknown mitigation “%s”.") % slug)
    for field in ("metrics", "timeline"):
        if field in data or cs is None:
            value = data.get(field) or []
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                errs.add(field, _("Must be a list of objects."))
            else:
                values[field] = value
    if strict_slug or data.get("slug"):
        slug = _clean_slug(
            errs,
            data.get("slug"),
            model=CaseStudy,
            exclude_pk=getattr(cs, "pk", None),
            taken=_("Another case study already uses the slug “%s”."),
            strict=strict_slug,
        )
        if slug and strict_slug:
            values["slug"] = slug
    errs.raise_if_any()
    return values, fms, mits


@transaction.atomic
def case_study_create(*, user: Any, data: dict[str, Any]) -> CaseStudy:
    if not can_create(user):
        raise PermissionDenied(_("You may not write case studies."))
    return case_study_create_unchecked(user=user, data=data)


def case_study_create_unchecked(
    *, user: Any, data: dict[str, Any], strict_slug: bool = False
) -> CaseStudy:
    values, fms, mits = _case_study_clean(data, cs=None, strict_slug=strict_slug)
    if not values.get("slug"):
        # A form's slug (or title) is free text: slugified, and made unique.
        slug = slugify(str(data.get("slug") or values["title"]))[:180] or "case-study"
        base, n = slug, 2
        while CaseStudy.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        values["slug"] = slug
    cs = CaseStudy.objects.create(created_by=_person(user), **values)
    cs.failure_modes.set(fms)
    cs.mitigations.set(mits)
    _case_study_occurrences(cs, fms, user)
    audit_record(actor=actor_for(user), verb="catalog.case_study.created", target=cs)
    return cs


@transaction.atomic
def case_study_update(*, case_study: CaseStudy, user: Any, data: dict[str, Any]) -> CaseStudy:
    if not user.has_perm("catalog.change_casestudy"):
        raise PermissionDenied(_("You may not edit case studies."))
    return case_study_update_unchecked(case_study=case_study, user=user, data=data)


def case_study_update_unchecked(
    *, case_study: CaseStudy, user: Any, data: dict[str, Any], strict_slug: bool = False
) -> CaseStudy:
    cs = CaseStudy.objects.select_for_update().get(pk=case_study.pk)
    values, fms, mits = _case_study_clean(data, cs=cs, strict_slug=strict_slug)
    before = _case_study_snapshot(cs)
    for field, value in values.items():
        setattr(cs, field, value)
    cs.version += 1
    cs.updated_at = timezone.now()
    cs.save()
    if "failure_modes" in data:
        cs.failure_modes.set(fms)
        _case_study_occurrences(cs, fms, user)
    if "mitigations" in data:
        cs.mitigations.set(mits)
    after = _case_study_snapshot(cs)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    audit_record(
        actor=actor_for(user),
        verb="catalog.case_study.updated",
        target=cs,
        before={k: before[k] for k in changed},
        after=changed,
        data={"version": cs.version},
    )
    return cs


def _case_study_snapshot(cs: CaseStudy) -> dict[str, Any]:
    return {
        "title": cs.title,
        "slug": cs.slug,
        "summary": cs.summary,
        "narrative": cs.narrative,
        "occurred_on": cs.occurred_on.isoformat() if cs.occurred_on else "",
        "metrics": cs.metrics,
        "timeline": cs.timeline,
        "failure_modes": sorted(f.slug for f in cs.failure_modes.all()),
        "mitigations": sorted(m.slug for m in cs.mitigations.all()),
    }


def _case_study_occurrences(cs: CaseStudy, fms: list[FailureMode], user: Any) -> None:
    when = dt.datetime.combine(cs.occurred_on or timezone.localdate(), dt.time(12), tzinfo=dt.UTC)
    for fm in fms:
        occurrence_record(
            failure_mode_slug=fm.slug,
            source_type="case_study",
            source_id=cs.slug,
            occurred_at=when,
            actor=actor_for(user),
        )


# --- Categories -----------------------------------------------------------------------------
CATEGORY_FIELDS = ["slug", "name", "parent", "description", "position"]
MAX_POSITION = 2_147_483_647  # PositiveIntegerField's range on every database


def category_save(*, user: Any, data: dict[str, Any]) -> Category:
    """Create or edit a category by slug (the import's path; the admin edits the taxonomy
    through Django's forms, which check the same slug and range)."""
    errs = _Errors()
    for field in sorted(set(data) - set(CATEGORY_FIELDS)):
        errs.add(field, _("Unknown field."))
    slug = data.get("slug")
    if not is_slug(slug) or len(slug) > 120:
        errs.add("slug", _("Not a slug: use lowercase letters, digits and hyphens."))
    name = data.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 120:
        errs.add("name", _("A name of 1 to 120 characters."))
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_TEXT:
        errs.add("description", _("Text of at most %d characters.") % MAX_TEXT)
    position = data.get("position", 0)
    if position in (None, ""):
        position = 0
    if (
        not isinstance(position, int)
        or isinstance(position, bool)
        or not (0 <= position <= MAX_POSITION)
    ):
        errs.add("position", _("A whole number from 0 to %d.") % MAX_POSITION)
    parent = None
    if data.get("parent"):
        parent = Category.objects.filter(slug=data["parent"]).first()
        if parent is None or parent.slug == slug:
            errs.add("parent", _("Unknown category “%s”.") % data["parent"])
    errs.raise_if_any()
    cat = Category.objects.select_for_update().filter(slug=slug).first()
    before = None
    if cat is None:
        cat = Category(slug=slug)
    else:
        before = {"name": cat.name, "parent": cat.parent.slug if cat.parent_id else "",
                  "description": cat.description, "position": cat.position}  # fmt: skip
    cat.name, cat.description, cat.position, cat.parent = (
        name.strip(),
        description,
        position,
        parent,
    )
    cat.save()
    after = {"name": cat.name, "parent": parent.slug if parent else "",
             "description": cat.description, "position": cat.position}  # fmt: skip
    if before is None:
        audit_record(
            actor=actor_for(user), verb="catalog.category.created", target=cat, after=after
        )
    elif before != after:
        changed = [k for k in after if before[k] != after[k]]
        audit_record(
            actor=actor_for(user),
            verb="catalog.category.updated",
            target=cat,
            before={k: before[k] for k in changed},
            after={k: after[k] for k in changed},
        )
    return cat


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
