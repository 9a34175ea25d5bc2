from __future__ import annotations

from django import template
from django.utils.safestring import mark_safe

from catalog.models import SEVERITY_TONES
from reviewapp.core.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    # Safe: render_markdown returns nh3-sanitised HTML only.
    return mark_safe(render_markdown(text))  # noqa: S308


@register.filter
def severity_tone(severity: str) -> str:
    return SEVERITY_TONES.get(severity, "grey")


@register.simple_tag(takes_context=True)
def query_with(context, **changes) -> str:
    """The current query string with some parameters replaced (None or '' removes one)."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return params.urlencode()


@register.simple_tag(takes_context=True)
def query_toggle(context, key: str, value: str) -> str:
    """Toggle one facet value: add it, or remove it when it is already selected."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    current = params.getlist(key)
    if str(value) in current:
        current.remove(str(value))
    else:
        current.append(str(value))
    params.setlist(key, current)
    return params.urlencode()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


# Links and one-click actions other apps offer on an entry's page (the playbooks app: "Draft
# a playbook from this"), through core's registry so the catalog imports no app. A hook is
# ``fn(kind=, slug=, user=) -> [{"label", "url", "method"?: "post", "fields"?: {..},
# "primary"?: bool}]``.
ENTRY_ACTIONS_HOOK = "catalog.entry_actions"


@register.inclusion_tag("catalog/_entry_actions.html", takes_context=True)
def entry_actions(context, kind: str, slug: str) -> dict:
    from reviewapp.core import registry

    links: list[dict] = []
    for found in registry.run_hooks(
        ENTRY_ACTIONS_HOOK, kind=kind, slug=slug, user=context.get("user")
    ):
        links.extend(found or [])
    return {"links": links, "csrf_token": context.get("csrf_token")}
