"""A model's review-quality settings: the active ``review_quality`` document over the defaults
(reviewapp/governance/review_quality.py)."""

from __future__ import annotations

from typing import Any

from reviewapp.governance.models import DocumentKind, DocumentVersion
from reviewapp.governance.review_quality import effective


def quality_settings(model_slug: str) -> dict[str, Any]:
    """What ``model_slug`` runs with now (defaults when it has no version)."""
    document = (
        DocumentVersion.objects.filter(
            model_slug=model_slug, kind=DocumentKind.REVIEW_QUALITY, is_active=True
        )
        .values_list("document", flat=True)
        .first()
    )
    return effective(document)


def quality_settings_version(model_slug: str) -> int | None:
    return (
        DocumentVersion.objects.filter(
            model_slug=model_slug, kind=DocumentKind.REVIEW_QUALITY, is_active=True
        )
        .values_list("version", flat=True)
        .first()
    )
