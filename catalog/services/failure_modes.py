"""Failure modes: validating, drafting and editing an entry."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlparse

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import audit_record
from reviewapp.core.exceptions import Conflict, PermissionDenied, ServiceError

from .. import quality
from ..models import Category, FailureMode, Severity, Tag
from .common import (
    MAX_TEXT,
    Errors,
    Status,
    actor_for,
    can_create,
    can_edit,
    check_required,
    clean_list,
    clean_slug,
    clean_stewardship,
    failure_mode_snapshot,
    normalised,
    person_for,
    revision_add,
    users_by_name,
)
from .revisions import REVISION_EXEMPT, revision_propose

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


def _clean_links(errs: Errors, value: Any) -> list[dict[str, str]]:
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


def _clean_refs(errs: Errors, value: Any) -> list[dict[str, str]]:
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
    errs = Errors()
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
            values[field] = clean_list(errs, field, data[field])
    for field, choices in FM_CHOICE_FIELDS.items():
        if field in data:
            if data[field] not in choices:
                errs.add(field, _("Choose one of: %s.") % ", ".join(choices))
            else:
                values[field] = data[field]
    if "slug" in data and data["slug"]:
        values["slug"] = clean_slug(
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
    users = users_by_name({str(data.get("owner") or ""), str(data.get("steward") or "")})
    for field in ("owner", "steward"):
        if field in data:
            name = str(data[field] or "")
            if name and name not in users:
                errs.add(field, _("No user named “%s”.") % name)
            values[field] = users.get(name)
    clean_stewardship(errs, data, values)
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
                tags[dim] = sorted({n.lower() for n in clean_list(errs, f"tags.{dim}", names)})
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


def failure_mode_store(fm: FailureMode, values: dict, tags: dict | None) -> dict[str, Any]:
    """Write cleaned values (and tags, unless None) and refresh the search keywords; returns
    the new snapshot. No checks and no audit: the caller (a service or the import) does both
    in its transaction."""
    for field, value in values.items():
        setattr(fm, field, value)
    fm.updated_at = clock.now()
    fm.save()
    if tags is not None:
        _set_tags(fm, tags)
    snapshot = failure_mode_snapshot(fm)
    fm.keywords = _keywords(fm, snapshot)
    FailureMode.objects.filter(pk=fm.pk).update(keywords=fm.keywords)
    return snapshot


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
        values["owner"] = person_for(user)
    fm = FailureMode(created_by=person_for(user), status=Status.DRAFT, version=1)
    if "next_review_on" not in values:
        days = values.get("review_interval_days", fm.review_interval_days)
        values["next_review_on"] = timezone.localdate() + dt.timedelta(days=days)
    snapshot = failure_mode_store(fm, values, tags or {})
    revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note or "Drafted")
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
        fm.proposed_revision = revision_propose(
            fm=fm, user=user, before=before, submitted=submitted, note=note
        )
        data = {
            k: v
            for k, v in data.items()
            if k in REVISION_EXEMPT and normalised(v) != normalised(before.get(k))
        }
        if not data:
            return fm
    values, tags = failure_mode_clean(data, fm=fm, strict_slug=strict_slug)
    # The entry as it would read after this edit must still meet its status's requirements.
    check_required({**before, **data}, fm.status)
    fm.version += 1
    snapshot = failure_mode_store(fm, values, tags)
    changed = {k: v for k, v in snapshot.items() if before.get(k) != v}
    revision_add(kind="failure_mode", obj=fm, snapshot=snapshot, user=user, note=note)
    audit_record(
        actor=actor_for(user),
        verb=verb,
        target=fm,
        before={k: before[k] for k in changed},
        after=changed,
        data={"version": fm.version, **(audit_data or {})},
    )
    return fm
