"""Export and import the whole catalog as JSON, so teams can share catalogs across projects.

The document is deterministic (everything sorted by slug) and uses slugs and usernames, never
database ids. Revision history and the audit log are not exported: they belong to the project
that wrote them; nor are who created or published an entry applied on import (the importer is
the author of what it writes). Import merges by slug in one transaction, through the same
services as the forms: every problem is reported with its path and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from reviewapp.core.audit import Actor, audit_record
from reviewapp.core.exceptions import PermissionDenied, ServiceError
from reviewapp.core.forms import normalize_line_endings
from reviewapp.core.time import iso_utc

from . import services
from .models import (
    CaseStudy,
    Category,
    FailureMode,
    MitigationTemplate,
    Occurrence,
)
from .services import (
    CASE_STUDY_FIELDS,
    FM_CONTENT_FIELDS,
    MIT_FIELDS,
    failure_mode_snapshot,
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
    proposed: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


TOP_KEYS = {"format", "format_version", "categories", "mitigations", "failure_modes",
            "case_studies"}  # fmt: skip
# Written by the export, read by nobody: the importer is the actor of everything an import
# writes, so who created or published an entry in the source catalog is never applied.
IDENTITY_KEYS = {"created_by", "published_by", "published_at"}
FM_KEYS = {*FM_CONTENT_FIELDS, "status", "mitigations", "occurrences", *IDENTITY_KEYS}
MIT_KEYS = {*MIT_FIELDS, *IDENTITY_KEYS}
CS_KEYS = {*CASE_STUDY_FIELDS, *IDENTITY_KEYS}
LINK_KEYS = {"mitigation", "effectiveness", "note"}
OCCURRENCE_KEYS = {"source_type", "source_id", "occurred_at"}


def _normalized_text(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalized_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalized_text(v) for v in value]
    return normalize_line_endings(value)


def _parse_dt(value: Any, path: str, errors: dict) -> dt.datetime | None:
    if not value:
        errors.setdefault(path, []).append("Required: an ISO 8601 date-time.")
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
    for key, messages in (exc.errors or {"detail": [exc.message]}).items():
        name = key if key.startswith("[") else f".{key}"
        errors.setdefault(f"{prefix}{name}", []).extend(str(m) for m in messages)


def _unknown(item: dict, allowed: set[str], path: str, errors: dict) -> bool:
    unknown = sorted(set(item) - allowed)
    for key in unknown:
        errors.setdefault(f"{path}.{key}", []).append("Unknown field.")
    return bool(unknown)


def _parents_first(cats: list) -> list[tuple[int, Any]]:
    """The categories in an order where a parent in the document comes before its children."""
    pending = list(enumerate(cats))
    ordered: list[tuple[int, Any]] = []
    placed: set[str] = set()
    in_doc = {c.get("slug") for c in cats if isinstance(c, dict)}
    while pending:
        rest = []
        for i, item in pending:
            parent = item.get("parent") if isinstance(item, dict) else None
            if not parent or parent not in in_doc or parent in placed:
                ordered.append((i, item))
                if isinstance(item, dict):
                    placed.add(item.get("slug"))
            else:
                rest.append((i, item))
        if len(rest) == len(pending):  # a cycle: let validation name it
            ordered.extend(rest)
            break
        pending = rest
    return ordered


def catalog_import(*, data: Any, user: Any = None, restore_status: bool = False) -> ImportResult:
    """Merge a catalog document (from ``catalog_export``) into this one, by slug.

    Every entry goes through the catalog's services, as if typed into the forms by the
    importer: the same validation, the same revisions and audit events, the importer as the
    author. New failure modes are drafts; a published entry's changes become a pending
    revision. ``restore_status`` (superusers, and ``manage.py load_catalog``) brings each
    entry to the document's status through the workflow instead (docs/catalog.md).

    ``user`` None is the shell (``load_catalog``), which acts as the system. All or nothing:
    any problem is a ServiceError naming every bad ``path.field``; nothing is written.
    """
    if user is not None and not user.has_perm("catalog.change_failuremode"):
        raise PermissionDenied("Only catalog editors may import a catalog.")
    # Text as the forms store it (``\n`` line endings), so an import of an unchanged entry
    # written on another system shows no change in the revision diff.
    data = _normalized_text(data)
    if restore_status and user is not None and not user.is_superuser:
        raise PermissionDenied(
            "Only an administrator may import workflow statuses.", field="restore_status"
        )
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
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ServiceError(
            f"Unknown keys: {', '.join(unknown)}.", errors={k: ["Unknown key."] for k in unknown}
        )
    for key in ("categories", "mitigations", "failure_modes", "case_studies"):
        if not isinstance(data.get(key, []), list):
            raise ServiceError(f"{key} must be a list.", errors={key: ["Must be a list."]})
    with transaction.atomic():
        result, errors = _import(data, user=user, restore_status=restore_status)
        if errors:
            first_path, first = next(iter(errors.items()))
            # Raising rolls the whole import back: nothing is written.
            raise ServiceError(
                f"The catalog was not imported: {first_path}: {first[0]}", errors=errors
            )
        audit_record(
            actor=Actor.user(user) if getattr(user, "pk", None) else Actor.system("catalog.import"),
            verb="catalog.bundle.imported",
            target=("catalog.catalog", "import"),
            data={
                "created": result.created,
                "updated": result.updated,
                "proposed": result.proposed,
                "restore_status": restore_status,
                "warnings": result.warnings[:50],
            },
        )
    return result


def _import(
    data: dict, *, user: Any, restore_status: bool
) -> tuple[ImportResult, dict[str, list[str]]]:
    result = ImportResult()
    errors: dict[str, list[str]] = {}

    def count(bucket: dict, kind: str) -> None:
        bucket[kind] = bucket.get(kind, 0) + 1

    def ignored_identity(item: dict, path: str) -> None:
        given = sorted(k for k in IDENTITY_KEYS if item.get(k))
        if given:
            result.warnings.append(
                f"{path}: {', '.join(given)} not applied; the importer is the author."
            )

    def run(path: str, fn: Any, **kwargs: Any) -> Any:
        try:
            with transaction.atomic():
                return fn(**kwargs)
        except ServiceError as exc:
            _prefixed(exc, path, errors)
            return None

    for i, item in _parents_first(data.get("categories", [])):
        path = f"categories[{i}]"
        if not isinstance(item, dict):
            errors.setdefault(path, []).append("Must be an object.")
            continue
        existed = Category.objects.filter(slug=item.get("slug") or "").exists()
        if run(path, services.category_save, user=user, data=item) is not None:
            count(result.updated if existed else result.created, "categories")

    for i, item in enumerate(data.get("mitigations", [])):
        path = f"mitigations[{i}]"
        if not isinstance(item, dict):
            errors.setdefault(path, []).append("Must be an object.")
            continue
        if _unknown(item, MIT_KEYS, path, errors):
            continue
        if not services.is_slug(item.get("slug")):
            errors.setdefault(f"{path}.slug", []).append(
                "Required: lowercase letters, digits and hyphens."
            )
            continue
        ignored_identity(item, path)
        content = {k: item[k] for k in MIT_FIELDS if k in item}
        m = MitigationTemplate.objects.filter(slug=item["slug"]).first()
        if m is None:
            if run(
                path,
                services.mitigation_create_unchecked,
                user=user,
                data=content,
                strict_slug=True,
            ):
                count(result.created, "mitigations")
        elif run(path, services.mitigation_update_unchecked, mitigation=m, user=user, data=content,
                 note="Imported", strict_slug=True):  # fmt: skip
            count(result.updated, "mitigations")

    for i, item in enumerate(data.get("failure_modes", [])):
        _import_failure_mode(i, item, user=user, restore_status=restore_status,
                             result=result, errors=errors, run=run, count=count,
                             ignored_identity=ignored_identity)  # fmt: skip

    for i, item in enumerate(data.get("case_studies", [])):
        path = f"case_studies[{i}]"
        if not isinstance(item, dict):
            errors.setdefault(path, []).append("Must be an object.")
            continue
        if _unknown(item, CS_KEYS, path, errors):
            continue
        if not services.is_slug(item.get("slug")):
            errors.setdefault(f"{path}.slug", []).append(
                "Required: lowercase letters, digits and hyphens."
            )
            continue
        ignored_identity(item, path)
        content = {k: item[k] for k in CASE_STUDY_FIELDS if k in item}
        cs = CaseStudy.objects.filter(slug=item["slug"]).first()
        if cs is None:
            if run(
                path,
                services.case_study_create_unchecked,
                user=user,
                data=content,
                strict_slug=True,
            ):
                count(result.created, "case_studies")
        elif run(path, services.case_study_update_unchecked, case_study=cs, user=user, data=content,
                 strict_slug=True):  # fmt: skip
            count(result.updated, "case_studies")
    return result, errors


def _import_failure_mode(
    i: int, item: Any, *, user: Any, restore_status: bool, result: ImportResult,
    errors: dict, run: Any, count: Any, ignored_identity: Any,
) -> None:  # fmt: skip
    path = f"failure_modes[{i}]"
    if not isinstance(item, dict):
        errors.setdefault(path, []).append("Must be an object.")
        return
    if _unknown(item, FM_KEYS, path, errors):
        return
    if not services.is_slug(item.get("slug")):
        errors.setdefault(f"{path}.slug", []).append(
            "Required: lowercase letters, digits and hyphens."
        )
        return
    status = item.get("status", FailureMode.Status.DRAFT)
    if status not in FailureMode.Status.values:
        errors.setdefault(f"{path}.status", []).append(
            f"Choose one of: {', '.join(FailureMode.Status.values)}."
        )
        return
    links = item.get("mitigations", [])
    occurrences = item.get("occurrences", [])
    for key, value in (("mitigations", links), ("occurrences", occurrences)):
        if not isinstance(value, list):
            errors.setdefault(f"{path}.{key}", []).append("Must be a list.")
            return
    ok = True
    for j, link in enumerate(links):
        lpath = f"{path}.mitigations[{j}]"
        if not isinstance(link, dict):
            errors.setdefault(lpath, []).append("Must be an object.")
            ok = False
        elif _unknown(link, LINK_KEYS, lpath, errors):
            ok = False
        elif not isinstance(link.get("note", ""), str) or len(link.get("note", "")) > 300:
            errors.setdefault(f"{lpath}.note", []).append("Text of at most 300 characters.")
            ok = False
    parsed_occurrences = []
    for j, occ in enumerate(occurrences):
        opath = f"{path}.occurrences[{j}]"
        if not isinstance(occ, dict):
            errors.setdefault(opath, []).append("Must be an object.")
            ok = False
            continue
        if _unknown(occ, OCCURRENCE_KEYS, opath, errors):
            ok = False
            continue
        when = _parse_dt(occ.get("occurred_at"), f"{opath}.occurred_at", errors)
        source_id = occ.get("source_id")
        if (
            not isinstance(source_id, str | int)
            or isinstance(source_id, bool)
            or not (0 < len(str(source_id)) <= 64)
        ):
            errors.setdefault(f"{opath}.source_id", []).append("Text of 1 to 64 characters.")
            ok = False
        if occ.get("source_type") not in Occurrence.SourceType.values:
            errors.setdefault(f"{opath}.source_type", []).append(
                f"Choose one of: {', '.join(Occurrence.SourceType.values)}."
            )
            ok = False
        if when is None:
            ok = False
        else:
            parsed_occurrences.append((occ["source_type"], str(source_id), when))
    if not ok:
        return
    ignored_identity(item, path)
    content = {k: item[k] for k in FM_CONTENT_FIELDS if k in item}
    fm = FailureMode.objects.filter(slug=item["slug"]).first()
    if fm is None:
        fm = run(path, services.failure_mode_create_unchecked, user=user, data=content, note="Imported",
                 strict_slug=True)  # fmt: skip
        if fm is None:
            return
        count(result.created, "failure_modes")
    else:
        fm = FailureMode.objects.select_for_update().get(pk=fm.pk)
        if user is not None and not services.can_edit(user, fm):
            errors.setdefault(path, []).append("You may not edit this entry in its status.")
            return
        fm = run(path, services.failure_mode_update_unchecked, fm=fm, user=user, data=content,
                 note="Imported", strict_slug=True, direct=restore_status)  # fmt: skip
        if fm is None:
            return
        if fm.proposed_revision is not None:
            count(result.proposed, "failure_modes")
            result.warnings.append(
                f"{path}: “{fm.slug}” is published; its changes wait for review as a revision."
            )
        else:
            count(result.updated, "failure_modes")
    wanted = {link["mitigation"]: link for link in links}
    for existing in list(fm.links.select_related("mitigation")):
        if existing.mitigation.slug not in wanted:
            run(path, services.failure_mode_unlink_unchecked, failure_mode=fm,
                mitigation_slug=existing.mitigation.slug, user=user)  # fmt: skip
    for j, link in enumerate(links):
        run(f"{path}.mitigations[{j}]", services.failure_mode_link_unchecked, failure_mode=fm,
            mitigation_slug=str(link.get("mitigation") or ""),
            effectiveness=link.get("effectiveness"), user=user,
            note=link.get("note", ""))  # fmt: skip
    for j, (source_type, source_id, when) in enumerate(parsed_occurrences):
        run(f"{path}.occurrences[{j}]", services.occurrence_record,
            failure_mode_slug=fm.slug, source_type=source_type, source_id=source_id,
            occurred_at=when, actor=services.actor_for(user))  # fmt: skip
    if restore_status:
        if status != fm.status:
            run(path, services.failure_mode_restore_status, fm=fm, user=user,
                status=status)  # fmt: skip
    elif status != fm.status:
        result.warnings.append(
            f"{path}: status “{status}” not applied; “{fm.slug}” is {fm.status}. Submit and "
            "publish it through the workflow."
        )
