"""What every catalog service shares: permissions, snapshots, the acting party, validation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.text import slugify
from django.utils.translation import gettext as _

from reviewapp.core.audit import Actor
from reviewapp.core.exceptions import ServiceError

from .. import quality
from ..models import FailureMode, MitigationTemplate, Revision, Tag

Status = FailureMode.Status


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


def normalised(value: Any) -> Any:
    """A value as the snapshot holds it, to tell a real change from the form's re-post."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None:
        return ""
    if isinstance(value, str):  # a browser posts text back with CRLF line ends
        return value.replace("\r\n", "\n").strip()
    if isinstance(value, dict):  # tags: dimension -> names, compared as sets
        return {
            k: sorted(str(n).strip().lower() for n in v) if isinstance(v, list) else normalised(v)
            for k, v in value.items()
            if v not in ([], "", None)
        }
    return value


def revision_add(*, kind: str, obj: Any, snapshot: dict, user: Any, note: str = "") -> Revision:
    return Revision.objects.create(
        kind=kind,
        object_id=obj.pk,
        number=obj.version,
        snapshot=snapshot,
        author=user if getattr(user, "pk", None) else None,
        note=note[:300],
    )


def person_for(user: Any) -> Any:
    """The user to stamp as author, or None for a system actor (``load_catalog``)."""
    return user if getattr(user, "pk", None) else None


def actor_for(user: Any) -> Actor:
    if user is None or not getattr(user, "pk", None):
        return Actor.system("catalog")
    return Actor.user(user)


def username_of(user: Any) -> str:
    return user.get_username() if user is not None else "system"


# --- Validation -----------------------------------------------------------------------------
class Errors:
    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            first = next(iter(self.errors.values()))[0]
            raise ServiceError(first, status=400, errors=self.errors)


def users_by_name(names: set[str]) -> dict[str, Any]:
    User = get_user_model()
    names = {n for n in names if n}
    if not names:
        return {}
    return {u.get_username(): u for u in User.objects.filter(username__in=names)}


def clean_list(errs: Errors, field: str, value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errs.add(field, _("Must be a list of strings."))
        return []
    return [v.strip() for v in value if v.strip()]


def clean_stewardship(errs: Errors, data: dict[str, Any], values: dict[str, Any]) -> None:
    """The review interval and next review date, shared by entries and mitigations."""
    if "review_interval_days" in data:
        days = data["review_interval_days"]
        if not isinstance(days, int) or isinstance(days, bool) or not 7 <= days <= 730:
            errs.add("review_interval_days", _("Between 7 and 730 days."))
        else:
            values["review_interval_days"] = days
    if "next_review_on" in data:
        date = clean_date(errs, "next_review_on", data["next_review_on"])
        if date:
            values["next_review_on"] = date


def clean_date(errs: Errors, field: str, value: Any) -> dt.date | None:
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


def clean_slug(
    errs: Errors, value: Any, *, model: type, exclude_pk: Any, taken: str, strict: bool
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


def check_required(fm_snapshot: dict[str, Any], status: str) -> None:
    missing = quality.missing_for_status(fm_snapshot, status)
    if missing:
        label = dict(Status.choices)[status]
        raise ServiceError(
            _("Required before “%s”: %s.")
            % (label, ", ".join(str(quality.FIELD_LABELS.get(f, f)) for f in missing)),
            status=400,
            errors={f: [_("Required when the status is “%s”.") % label] for f in missing},
        )
