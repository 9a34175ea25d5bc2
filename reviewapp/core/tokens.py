"""Bearer secrets as Failsafe issues them: ``<kind>_<12 hex prefix>_<43 url-safe characters>``.

One shape and one digest for every kind of token (producers' service tokens, people's API
tokens), so they are stored, looked up and compared the same way. The kind tag tells one from
another before any query: a token of one kind is never looked up among another's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from django.utils.translation import gettext as _

_PREFIX_SHAPE = re.compile(r"[0-9a-f]{12}")


def token_digest(token: str) -> str:
    # The token carries 256 random bits, so a plain sha256 cannot be brute-forced; no salt or
    # slow hash is needed, and lookups stay cheap on every request.
    return hashlib.sha256(token.encode()).hexdigest()


def token_new(kind: str) -> tuple[str, str]:
    """A new token of ``kind``: (its lookup prefix, the whole token, shown once)."""
    prefix = secrets.token_hex(6)
    return prefix, f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"


def token_prefix(token: str, kind: str) -> str | None:
    """The lookup prefix of a token of ``kind``; None for anything we did not issue as that kind.

    Anything but the 12 hex digits we issue is refused before it reaches a query (a NUL byte
    in a header would otherwise make PostgreSQL raise).
    """
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != kind or not _PREFIX_SHAPE.fullmatch(parts[1]):
        return None
    return parts[1]


def token_matches(stored_digest: str, token: str) -> bool:
    return hmac.compare_digest(stored_digest, token_digest(token))


def token_from_header(request: Any, keyword: str) -> str | None:
    """The token of an ``Authorization: <keyword> <token>`` header; None when the header names
    another scheme (so the next authentication class may try), AuthenticationFailed when it
    names this one but is malformed."""
    from rest_framework import authentication, exceptions

    header = authentication.get_authorization_header(request).split()
    if not header or header[0].lower() != keyword.lower().encode():
        return None
    if len(header) != 2:
        raise exceptions.AuthenticationFailed(
            _("Invalid token header: expected '%(keyword)s <token>'.") % {"keyword": keyword}
        )
    try:
        return header[1].decode()
    except UnicodeError:
        raise exceptions.AuthenticationFailed(_("Invalid token header.")) from None
