"""Banners and links any app offers about a model, shown on any app's page of that model.

Core names no app: an app registers ``core.model_banners`` (``fn(model_slugs=[...]) -> list
of banner dicts``) and ``core.model_actions`` (``fn(model_slug=, user=) -> list of link
dicts``) from its ``AppConfig.ready()``; a template of any app writes
``{% load model_banners %}{% model_banners model.slug %}`` (a slug, a list of slugs or of
models) or ``{% model_actions model.slug %}``.

A banner dict: ``tone`` ("red", "amber", "blue"), ``title`` (short, bold), ``text`` (plain
text, escaped), ``link`` (a same-site path or ""), ``link_label``, ``model_slug``, and
optionally ``at`` (an aware datetime shown in the user's zone). A link dict: ``label``,
``url``, optionally ``primary`` (bool).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template

from reviewapp.core import registry

BANNERS_HOOK = "core.model_banners"
ACTIONS_HOOK = "core.model_actions"

register = template.Library()


def slugs_of(value: Any) -> list[str]:
    """A slug, a model (anything with ``slug``) or an iterable of either, as unique slugs."""
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    if hasattr(value, "slug"):
        return [value.slug]
    out: list[str] = []
    if isinstance(value, Iterable):
        for entry in value:
            slug = entry if isinstance(entry, str) else getattr(entry, "slug", None)
            if slug and slug not in out:
                out.append(slug)
    return out


def banners_for(model_slugs: list[str]) -> list[dict[str, Any]]:
    if not model_slugs:
        return []
    found: list[dict[str, Any]] = []
    for banners in registry.run_hooks(BANNERS_HOOK, model_slugs=model_slugs):
        found.extend(banners or [])
    return found


@register.inclusion_tag("core/_model_banners.html")
def model_banners(models: Any) -> dict[str, Any]:
    return {"banners": banners_for(slugs_of(models))}


@register.inclusion_tag("core/_model_actions.html", takes_context=True)
def model_actions(context: template.Context, model_slug: str) -> dict[str, Any]:
    links: list[dict[str, Any]] = []
    if model_slug:
        for found in registry.run_hooks(
            ACTIONS_HOOK, model_slug=model_slug, user=context.get("user")
        ):
            links.extend(found or [])
    return {"links": links}
