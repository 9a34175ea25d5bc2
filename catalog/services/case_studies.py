"""Case studies, and the occurrences they record for their failure modes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core import clock
from reviewapp.core.audit import audit_record
from reviewapp.core.exceptions import PermissionDenied

from ..models import CaseStudy, FailureMode, MitigationTemplate
from .common import (
    MAX_TEXT,
    Errors,
    actor_for,
    can_create,
    clean_date,
    clean_list,
    clean_slug,
    person_for,
)
from .occurrences import occurrence_record

CASE_STUDY_FIELDS = [
    "title", "slug", "summary", "narrative", "occurred_on", "metrics", "timeline",
    "failure_modes", "mitigations",
]  # fmt: skip


def _case_study_clean(
    data: dict[str, Any], *, cs: CaseStudy | None, strict_slug: bool = False
) -> tuple[dict[str, Any], list[FailureMode], list[MitigationTemplate]]:
    errs = Errors()
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
        values["occurred_on"] = clean_date(errs, "occurred_on", data.get("occurred_on"))
    fm_slugs = clean_list(errs, "failure_modes", data.get("failure_modes"))
    mit_slugs = clean_list(errs, "mitigations", data.get("mitigations"))
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
        slug = clean_slug(
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
    cs = CaseStudy.objects.create(created_by=person_for(user), **values)
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
    cs.updated_at = clock.now()
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
