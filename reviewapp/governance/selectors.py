from __future__ import annotations

from collections.abc import Iterable

from .models import PolicyVersion


def active_policies(model_slugs: Iterable[str]) -> dict[str, PolicyVersion]:
    return {
        p.model_slug: p
        for p in PolicyVersion.objects.filter(model_slug__in=set(model_slugs), is_active=True)
    }


def policy_versions_for(model_slug: str):
    return PolicyVersion.objects.filter(model_slug=model_slug).select_related("created_by")
