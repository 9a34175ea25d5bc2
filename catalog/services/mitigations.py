"""Mitigation templates, their links to failure modes, and where incidents used them."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import NotFound, PermissionDenied, ServiceError

from ..models import FailureMode, FailureModeMitigation, MitigationTemplate, MitigationUse
from .common import (
    Errors,
    actor_for,
    can_edit,
    clean_list,
    clean_slug,
    clean_stewardship,
    mitigation_snapshot,
    person_for,
    revision_add,
    users_by_name,
)

MAX_TTR_MINUTES = 525_600  # a year


MIT_FIELDS = [
    "title", "slug", "kind", "summary", "detector_signals", "alert_thresholds",
    "procedure_steps", "rollback_procedure", "fallback_plan", "expected_ttr_minutes",
    "trade_offs", "owner", "review_interval_days", "next_review_on",
]  # fmt: skip


def mitigation_clean(
    data: dict[str, Any], *, m: MitigationTemplate | None, strict_slug: bool = False
) -> dict[str, Any]:
    """Validate a (partial) mitigation snapshot; returns the model field values."""
    errs = Errors()
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
        values["procedure_steps"] = clean_list(errs, "procedure_steps", data["procedure_steps"])
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
        users = users_by_name({str(data["owner"] or "")})
        if data["owner"] and data["owner"] not in users:
            errs.add("owner", _("No user named “%s”.") % data["owner"])
        values["owner"] = users.get(data["owner"] or "")
    clean_stewardship(errs, data, values)
    if data.get("slug"):
        values["slug"] = clean_slug(
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
        values["owner"] = person_for(user)
    m = MitigationTemplate(created_by=person_for(user), **values)
    m.save()
    revision_add(kind="mitigation", obj=m, snapshot=mitigation_snapshot(m), user=user)
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
    m.updated_at = clock.now()
    m.save()
    after = mitigation_snapshot(m)
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    revision_add(kind="mitigation", obj=m, snapshot=after, user=user, note=note)
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


# --- Links to failure modes -----------------------------------------------------------------
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
