"""Export and import the whole catalog as JSON, so teams can share catalogs across projects.

The document is deterministic (everything sorted by slug) and uses slugs and usernames, never
database ids, so ``export(import(export(A)))`` equals ``export(A)``. Revision history and the
audit log are not exported: they belong to the project that wrote them. Import merges by slug
in one transaction: every problem is reported with its path and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import ServiceError
from reviewapp.core.time import iso_utc

from .models import (
    CaseStudy,
    Category,
    FailureMode,
    FailureModeMitigation,
    MitigationTemplate,
    Occurrence,
    Revision,
)
from .services import (
    FM_CONTENT_FIELDS,
    MIT_FIELDS,
    failure_mode_clean,
    failure_mode_snapshot,
    failure_mode_store,
    mitigation_clean,
    mitigation_snapshot,
)

FORMAT = "failsafe-catalog"
FORMAT_VERSION = 1


def _username(user: Any) -> str:
    return user.get_username() if user is not None else ""


def catalog_export() -> dict[str, Any]:
    categories = [
        {
            "slug": c.slug,
            "name": c.name,
            "parent": c.parent.slug if c.parent_id else "",
            "description": c.description,
            "position": c.position,
        }
        for c in Category.objects.select_related("parent").order_by("slug")
    ]
    mitigations = [
        {**mitigation_snapshot(m), "created_by": _username(m.created_by)}
        for m in MitigationTemplate.objects.select_related("owner", "created_by").order_by("slug")
    ]
    fms = []
    for fm in (
        FailureMode.objects.select_related(
            "category", "owner", "steward", "created_by", "published_by"
        )
        .prefetch_related("tags", "links__mitigation", "occurrences")
        .order_by("slug")
    ):
        fms.append(
            {
                **failure_mode_snapshot(fm),
                "status": fm.status,
                "created_by": _username(fm.created_by),
                "published_by": _username(fm.published_by),
                # The export has always written "+00:00", and "" for no time.
                "published_at": iso_utc(fm.published_at, utc_designator="+00:00") or "",
                "mitigations": sorted(
                    (
                        {
                            "mitigation": link.mitigation.slug,
                            "effectiveness": link.effectiveness,
                            "note": link.note,
                        }  # fmt: skip
                        for link in fm.links.all()
                    ),
                    key=lambda d: d["mitigation"],
                ),
                "occurrences": sorted(
                    (
                        {
                            "source_type": o.source_type,
                            "source_id": o.source_id,
                            "occurred_at": iso_utc(o.occurred_at, utc_designator="+00:00") or "",
                        }  # fmt: skip
                        for o in fm.occurrences.all()
                    ),
                    key=lambda d: (d["occurred_at"], d["source_type"], d["source_id"]),
                ),
            }
        )
    case_studies = [
        {
            "title": cs.title,
            "slug": cs.slug,
            "summary": cs.summary,
            "narrative": cs.narrative,
            "occurred_on": cs.occurred_on.isoformat() if cs.occurred_on else "",
            "metrics": cs.metrics,
            "timeline": cs.timeline,
            "failure_modes": sorted(f.slug for f in cs.failure_modes.all()),
            "mitigations": sorted(m.slug for m in cs.mitigations.all()),
            "created_by": _username(cs.created_by),
        }
        for cs in CaseStudy.objects.select_related("created_by")
        .prefetch_related("failure_modes", "mitigations")
        .order_by("slug")
    ]
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "categories": categories,
        "mitigations": mitigations,
        "failure_modes": fms,
        "case_studies": case_studies,
    }


@dataclass
class ImportResult:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def _parse_dt(value: str, path: str, errors: dict) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        errors.setdefault(path, []).append("Not an ISO 8601 date-time.")
        return None
    if timezone.is_naive(parsed):
        errors.setdefault(path, []).append("Date-time needs a UTC offset.")
        return None
    return parsed


def _prefixed(exc: ServiceError, prefix: str, errors: dict) -> None:
    for key, messages in exc.errors.items():
        errors.setdefault(f"{prefix}.{key}", []).extend(messages)


@transaction.atomic
def catalog_import(*, data: Any, user: Any = None) -> ImportResult:
    """Merge a catalog document (from ``catalog_export``) into this one, by slug."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ServiceError(
            "Not a Failsafe catalog document.",
            errors={"format": [f"Expected format “{FORMAT}”."]},
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise ServiceError(
            "Unsupported catalog format version.",
            errors={"format_version": [f"This Failsafe reads version {FORMAT_VERSION}."]},
        )
    for key in ("categories", "mitigations", "failure_modes", "case_studies"):
        if not isinstance(data.get(key, []), list):
            raise ServiceError(f"{key} must be a list.", errors={key: ["Must be a list."]})
    result = ImportResult()
    errors: dict[str, list[str]] = {}
    User = get_user_model()
    users = {u.get_username(): u for u in User.objects.all()}

    def user_or_blank(name: str, path: str) -> str:
        if name and name not in users:
            result.warnings.append(f"{path}: no user “{name}” here; left empty.")
            return ""
        return name or ""

    def count(bucket: dict, kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    # Categories: parents before children (two passes).
    cats = data.get("categories", [])
    existing = {c.slug: c for c in Category.objects.all()}
    for i, item in enumerate(cats):
        if not isinstance(item, dict) or not item.get("slug") or not item.get("name"):
            errors.setdefault(f"categories[{i}]", []).append("Needs a slug and a name.")
            continue
        cat = existing.get(item["slug"]) or Category(slug=item["slug"])
        count(result.updated if cat.pk else result.created, "categories")
        cat.name = item["name"]
        cat.description = item.get("description", "")
        cat.position = int(item.get("position") or 0)
        cat.save()
        existing[cat.slug] = cat
    for i, item in enumerate(cats):
        if isinstance(item, dict) and item.get("slug") in existing:
            parent = item.get("parent") or ""
            if parent and parent not in existing:
                errors.setdefault(f"categories[{i}].parent", []).append(f"Unknown “{parent}”.")
                continue
            cat = existing[item["slug"]]
            cat.parent = existing.get(parent) if parent else None
            cat.save(update_fields=["parent"])

    for i, item in enumerate(data.get("mitigations", [])):
        path = f"mitigations[{i}]"
        if not isinstance(item, dict) or not item.get("slug"):
            errors.setdefault(path, []).append("Needs a slug.")
            continue
        content = {k: item[k] for k in MIT_FIELDS if k in item}
        content["owner"] = user_or_blank(item.get("owner", ""), f"{path}.owner")
        m = MitigationTemplate.objects.filter(slug=item["slug"]).first()
        try:
            values = mitigation_clean(content, m=m)
        except ServiceError as exc:
            _prefixed(exc, path, errors)
            continue
        if m is None:
            m = MitigationTemplate(created_by=users.get(item.get("created_by") or ""))
            count(result.created, "mitigations")
        else:
            m.version += 1
            count(result.updated, "mitigations")
        for k, v in values.items():
            setattr(m, k, v)
        m.updated_at = timezone.now()
        m.save()
        Revision.objects.create(
            kind="mitigation", object_id=m.pk, number=m.version,
            snapshot=mitigation_snapshot(m), author=user, note="Imported",
        )  # fmt: skip

    mitigations = {m.slug: m for m in MitigationTemplate.objects.all()}
    for i, item in enumerate(data.get("failure_modes", [])):
        path = f"failure_modes[{i}]"
        if not isinstance(item, dict) or not item.get("slug"):
            errors.setdefault(path, []).append("Needs a slug.")
            continue
        content = {k: item[k] for k in FM_CONTENT_FIELDS if k in item}
        for who in ("owner", "steward"):
            content[who] = user_or_blank(item.get(who, ""), f"{path}.{who}")
        status = item.get("status", FailureMode.Status.DRAFT)
        if status not in FailureMode.Status.values:
            errors.setdefault(f"{path}.status", []).append("Unknown status.")
            continue
        fm = FailureMode.objects.filter(slug=item["slug"]).first()
        try:
            values, tags = failure_mode_clean(content, fm=fm)
        except ServiceError as exc:
            _prefixed(exc, path, errors)
            continue
        published_at = _parse_dt(item.get("published_at", ""), f"{path}.published_at", errors)
        links = item.get("mitigations", [])
        for j, link in enumerate(links):
            if not isinstance(link, dict) or link.get("mitigation") not in mitigations:
                errors.setdefault(f"{path}.mitigations[{j}]", []).append("Unknown mitigation.")
            elif link.get("effectiveness") not in FailureModeMitigation.Effectiveness.values:
                errors.setdefault(f"{path}.mitigations[{j}].effectiveness", []).append(
                    "Use prevents, detects or reduces_impact."
                )
        occurrences = []
        for j, occ in enumerate(item.get("occurrences", [])):
            when = _parse_dt(
                (occ or {}).get("occurred_at", ""), f"{path}.occurrences[{j}].occurred_at", errors
            )
            if when and occ.get("source_type") in Occurrence.SourceType.values:
                occurrences.append((occ["source_type"], str(occ.get("source_id", "")), when))
            elif when:
                errors.setdefault(f"{path}.occurrences[{j}].source_type", []).append("Unknown.")
        if errors:
            continue
        if fm is None:
            fm = FailureMode(created_by=users.get(item.get("created_by") or ""))
            count(result.created, "failure_modes")
        else:
            fm.version += 1
            count(result.updated, "failure_modes")
        # Import restores the source catalog's workflow state as it was; it is not a
        # transition (no one here published it), so it bypasses the state machine and is
        # audited as one import event below.
        fm.status = status
        fm.published_by = users.get(item.get("published_by") or "")
        fm.published_at = published_at
        snapshot = failure_mode_store(fm, values, tags or {})
        Revision.objects.create(
            kind="failure_mode", object_id=fm.pk, number=fm.version, snapshot=snapshot,
            author=user, note="Imported",
        )  # fmt: skip
        FailureModeMitigation.objects.filter(failure_mode=fm).delete()
        FailureModeMitigation.objects.bulk_create(
            FailureModeMitigation(
                failure_mode=fm,
                mitigation=mitigations[link["mitigation"]],
                effectiveness=link["effectiveness"],
                note=str(link.get("note", ""))[:300],
            )
            for link in links
        )
        Occurrence.objects.bulk_create(
            [
                Occurrence(failure_mode=fm, source_type=s, source_id=sid, occurred_at=when)
                for s, sid, when in occurrences
            ],
            ignore_conflicts=True,
        )
    FailureMode.objects.update(
        occurrence_count=Coalesce(
            Subquery(
                Occurrence.objects.filter(failure_mode=OuterRef("pk"))
                .values("failure_mode")
                .annotate(n=Count("id"))
                .values("n")[:1]
            ),
            0,
        )
    )

    fms = {f.slug: f for f in FailureMode.objects.all()}
    for i, item in enumerate(data.get("case_studies", [])):
        path = f"case_studies[{i}]"
        if not isinstance(item, dict) or not item.get("slug") or not item.get("title"):
            errors.setdefault(path, []).append("Needs a slug and a title.")
            continue
        missing = [s for s in item.get("failure_modes", []) if s not in fms]
        missing += [s for s in item.get("mitigations", []) if s not in mitigations]
        if missing:
            errors.setdefault(path, []).append(f"Unknown links: {', '.join(missing)}.")
            continue
        try:
            occurred_on = (
                dt.date.fromisoformat(item["occurred_on"]) if item.get("occurred_on") else None
            )
        except ValueError:
            errors.setdefault(f"{path}.occurred_on", []).append("Not a date.")
            continue
        cs = CaseStudy.objects.filter(slug=item["slug"]).first()
        if cs is None:
            cs = CaseStudy(slug=item["slug"], created_by=users.get(item.get("created_by") or ""))
            count(result.created, "case_studies")
        else:
            cs.version += 1
            count(result.updated, "case_studies")
        cs.title, cs.summary = item["title"], item.get("summary", "")
        cs.narrative, cs.occurred_on = item.get("narrative", ""), occurred_on
        cs.metrics, cs.timeline = item.get("metrics", []), item.get("timeline", [])
        cs.updated_at = timezone.now()
        cs.save()
        cs.failure_modes.set([fms[s] for s in item.get("failure_modes", [])])
        cs.mitigations.set([mitigations[s] for s in item.get("mitigations", [])])

    if errors:
        first = next(iter(errors.values()))[0]
        raise ServiceError(f"The catalog was not imported: {first}", errors=errors)
    audit_record(
        actor=Actor.user(user) if getattr(user, "pk", None) else Actor.system("catalog.import"),
        verb="catalog.bundle.imported",
        target=("catalog.catalog", "import"),
        data={
            "created": result.created,
            "updated": result.updated,
            "warnings": result.warnings[:50],
        },
    )
    return result
