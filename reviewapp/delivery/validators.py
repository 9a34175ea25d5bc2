"""Callback URL safety and callback secret format.

A callback URL is fetched by our workers, so it must not become a way to reach our own
network (SSRF): only http(s), and every address the host resolves to must be globally
routable unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` is on. Checked when a URL is saved and again
before every send, because DNS answers change.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

SECRET_PREFIX = "whsec_"


class UnsafeCallbackURL(ValueError):
    """The URL may not be called; the message says why in words a lead can act on."""


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for attr, label in (
        ("is_loopback", _("a loopback address")),
        ("is_link_local", _("a link-local address")),
        ("is_multicast", _("a multicast address")),
        ("is_unspecified", _("an unspecified address")),
        ("is_private", _("a private address")),
        ("is_reserved", _("a reserved address")),
    ):
        if getattr(ip, attr):
            return label
    if not ip.is_global:
        # Shared (carrier-grade NAT) and other special-purpose ranges.
        return _("a non-public address")
    return None


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


def check_callback_url(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeCallbackURL if ``url`` may not be called. Resolves the host (DNS)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeCallbackURL(_("The URL is malformed: %(error)s.") % {"error": exc}) from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeCallbackURL(_("Only http and https callback URLs are allowed."))
    host = parts.hostname
    if not host:
        raise UnsafeCallbackURL(_("The URL has no host."))
    if parts.username or parts.password:
        raise UnsafeCallbackURL(_("Put credentials in the signing secret, not in the URL."))
    if getattr(settings, "WEBHOOK_ALLOW_PRIVATE_NETWORKS", False) or not resolve:
        return
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = _resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeCallbackURL(
                _("The host %(host)s does not resolve (%(error)s).") % {"host": host, "error": exc}
            ) from None
    for address in addresses:
        problem = _address_problem(ipaddress.ip_address(address.split("%", 1)[0]))
        if problem:
            raise UnsafeCallbackURL(
                _(
                    "The host %(host)s resolves to %(address)s, %(kind)s; callbacks may only "
                    "go to public addresses."
                )
                % {"host": host, "address": address, "kind": problem}
            )


def validate_callback_url(value: str) -> None:
    """Django validator for forms and the admin (empty means: no callback, use the feed)."""
    if not value:
        return
    try:
        check_callback_url(value)
    except UnsafeCallbackURL as exc:
        raise ValidationError(str(exc), code="unsafe_callback_url") from None


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the Standard Webhooks format)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(_("The signing secret must look like whsec_<base64>."))
    try:
        encoded = secret[len(SECRET_PREFIX) :]
        # Padding is optional, as in the spec's own libraries.
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(_("The part after whsec_ is not valid base64.")) from None
    if not 24 <= len(key) <= 64:
        raise ValueError(_("The signing key must be 24 to 64 bytes long."))
    return key


def validate_callback_secret(value: str) -> None:
    if not value:
        return
    try:
        secret_key_bytes(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="bad_callback_secret") from None


def generate_callback_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
