"""A model's review-quality settings: the active ``review_quality`` document over the defaults
(reviewapp/governance/review_quality.py), read through governance's selector."""

from __future__ import annotations

from typing import Any

from reviewapp.governance.selectors import review_quality_settings


def quality_settings(model_slug: str) -> dict[str, Any]:
    """What ``model_slug`` runs with now (defaults when it has no version)."""
    return review_quality_settings([model_slug])[model_slug]
