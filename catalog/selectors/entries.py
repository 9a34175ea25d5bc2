"""Entry pages and lists: failure modes, mitigation templates, case studies."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet

from .. import quality
from ..models import CaseStudy, FailureMode, FailureModeMitigation, MitigationTemplate


def failure_mode_detail(*, slug: str) -> FailureMode | None:
    return (
        FailureMode.objects.select_related(
            "category", "category__parent", "owner", "steward", "created_by", "published_by"
        )
        .prefetch_related(
            "tags",
            Prefetch(
                "links",
                queryset=FailureModeMitigation.objects.select_related("mitigation").order_by(
                    "effectiveness", "mitigation__title"
                ),
            ),
            Prefetch("case_studies", queryset=CaseStudy.objects.order_by("-occurred_on")),
        )
        .filter(slug=slug)
        .first()
    )


def mitigation_detail(*, slug: str) -> MitigationTemplate | None:
    return (
        MitigationTemplate.objects.select_related("owner", "created_by")
        .prefetch_related(
            Prefetch(
                "links",
                queryset=FailureModeMitigation.objects.select_related("failure_mode").order_by(
                    "failure_mode__title"
                ),
            ),
            "uses",
            "case_studies",
        )
        .filter(slug=slug)
        .first()
    )


def mitigation_outcomes(m: MitigationTemplate) -> dict[str, Any]:
    """How the mitigation worked where incidents used it (from prefetched ``uses``)."""
    uses = list(m.uses.all())
    observed = sorted(u.observed_ttr_minutes for u in uses if u.observed_ttr_minutes is not None)
    known = [u for u in uses if u.recurred is not None]
    return {
        "uses": len(uses),
        "expected_ttr": m.expected_ttr_minutes,
        "observed_ttr_median": observed[len(observed) // 2] if observed else None,
        "recurred": sum(1 for u in known if u.recurred),
        "recurrence_known": len(known),
    }


def case_study_detail(*, slug: str) -> CaseStudy | None:
    return (
        CaseStudy.objects.select_related("created_by")
        .prefetch_related("failure_modes", "mitigations")
        .filter(slug=slug)
        .first()
    )


def failure_mode_quality(fm: FailureMode, snapshot: dict[str, Any]) -> dict[str, Any]:
    next_status = {"draft": "in_review", "in_review": "published"}.get(fm.status, fm.status)
    return {
        "score": quality.completeness(snapshot),
        "gaps": [quality.FIELD_LABELS.get(f, f) for f in quality.completeness_gaps(snapshot)],
        "next_status": next_status,
        "missing_for_next": [
            quality.FIELD_LABELS.get(f, f)
            for f in quality.missing_for_status(snapshot, next_status)
        ],
    }


def missing_for_action(snapshot: dict[str, Any], target_status: str) -> list[dict[str, Any]]:
    """The fields an entry must fill before it may move to ``target_status`` (publish needs
    trigger steps, business impact, owner, steward, ...), each with its label, for the
    confirmation to name them before offering the action."""
    return [
        {"field": f, "label": quality.FIELD_LABELS.get(f, f)}
        for f in quality.missing_for_status(snapshot, target_status)
    ]


def mitigations_list() -> QuerySet[MitigationTemplate]:
    return (
        MitigationTemplate.objects.select_related("owner")
        .annotate(n_failure_modes=Count("links"))
        .order_by("title")
    )


def case_studies_list() -> QuerySet[CaseStudy]:
    return CaseStudy.objects.prefetch_related("failure_modes").order_by("-occurred_on", "title")
