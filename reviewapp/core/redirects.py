"""Where a ``next`` / ``back`` parameter may send the browser: a path on this site, nothing else.

Every view that redirects to a URL taken from the request goes through ``safe_next``, so an
open redirect (``//evil.example``, ``https://evil.example``, ``/\\evil.example``,
``javascript:``) cannot come back through one forgotten view.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def is_same_origin_path(value: str | None) -> bool:
    """True for a path on this site ("/queue/?page=2"); False for anything naming a host or a
    scheme, protocol-relative URLs and backslash tricks included (Django's check, with no
    host allowed, so only host-less URLs pass), and for anything not starting with "/"."""
    if not value or not value.startswith("/"):
        return False
    return url_has_allowed_host_and_scheme(value, allowed_hosts=None, require_https=False)


def safe_next(request: HttpRequest, *names: str, default: str) -> str:
    """The first of the request's ``names`` (POST, then GET) that is a same-origin path, else
    ``default``."""
    for name in names:
        for source in (request.POST, request.GET):
            value = source.get(name, "")
            if is_same_origin_path(value):
                return value
    return default
