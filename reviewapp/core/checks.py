"""System checks of what apps registered with core."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register
from django.urls import NoReverseMatch, reverse

from . import registry


@register(Tags.urls)
def check_nav_urls(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """A nav section or tool whose URL does not reverse is an error, never a hidden entry."""
    errors = []
    entries = [("section", s.key, s.url_name) for s in registry.nav_sections()]
    entries += [("tool", t.key, t.url_name) for t in registry.tools()]
    entries += [("counter", c.key, c.url_name) for c in registry.nav_counters()]
    for kind, key, url_name in entries:
        try:
            reverse(url_name)
        except NoReverseMatch:
            errors.append(
                Error(
                    f"The {kind} '{key}' links to '{url_name}', which does not reverse.",
                    hint="Register the entry with the app that serves the page, once it exists.",
                    id="core.E001",
                )
            )
    return errors


@register(Tags.security, deploy=False)
def check_field_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Every key in FIELD_ENCRYPTION_KEYS must be a Fernet key, before anything is stored."""
    from django.core.exceptions import ImproperlyConfigured

    from .fields import fernet

    try:
        fernet()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="core.E002")]
    return []
