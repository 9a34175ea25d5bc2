"""Callback URL safety and callback secret format.

A callback URL is fetched by our workers, so it must not become a way to reach our own
network (SSRF): only http(s), and every address the host resolves to must be globally
routable unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` is on (``WEBHOOK_ALLOW_LOOPBACK`` admits
loopback only, for local development). IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, 6to4, NAT64, Teredo) are judged by the IPv4 address inside.

Checked when a URL is saved and again before every send; the send resolves the host once,
checks the answer and connects to exactly that address (``resolve_callback_url`` gives the
sender its target), so a DNS answer that changes between check and connect (rebinding) cannot
lead the request elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

SECRET_PREFIX = "whsec_"
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class UnsafeCallbackURL(ValueError):
    """The URL may not be called; the message says why in words a lead can act on."""


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries, and the name of the form, or None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if int(ip) >> 32 == 0 and int(ip) > 1:
        # ::a.b.c.d, the deprecated IPv4-compatible form (:: and ::1 are not).
        return ipaddress.IPv4Address(int(ip)), "IPv4-compatible"
    return None


def _kind(ip: IPAddress) -> str | None:
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


def _address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be called, or None. Loopback passes when WEBHOOK_ALLOW_LOOPBACK."""
    wrapped = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
    if wrapped is not None:
        inner, form = wrapped
        if form == "IPv4-mapped" and inner.is_loopback and settings.WEBHOOK_ALLOW_LOOPBACK:
            return None
        problem = _kind(inner)
        if problem:
            return _("%(kind)s inside an %(form)s IPv6 address") % {"kind": problem, "form": form}
        if form in ("IPv4-mapped", "NAT64"):
            # A public IPv4 address written as IPv6, or reached through the network's NAT64
            # gateway (IPv6-only hosts with DNS64 see every IPv4 receiver this way).
            return None
        # Otherwise the IPv6 range itself is judged too (Teredo's 2001::/32 and the old
        # IPv4-compatible ::/96 are not public).
    if ip.is_loopback and settings.WEBHOOK_ALLOW_LOOPBACK:
        return None
    return _kind(ip)


def _resolve(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order (tests replace this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


@dataclass(frozen=True)
class CallbackTarget:
    """Where a send goes: the URL's own host name and port, and the one checked address the
    connection is made to."""

    scheme: str
    host: str
    port: int
    # host[:port] as written in the URL: the Host header.
    netloc: str
    address: str


def _parse(url: str):
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
    return parts, host, port or (443 if parts.scheme == "https" else 80)


def resolve_callback_url(url: str) -> CallbackTarget:
    """Resolve the URL's host once and check every address; the target to connect to.

    Raises UnsafeCallbackURL if the URL or any address it resolves to may not be called.
    """
    parts, host, port = _parse(url)
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
        if not addresses:
            raise UnsafeCallbackURL(_("The host %(host)s does not resolve.") % {"host": host})
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        for address in addresses:
            problem = _address_problem(ipaddress.ip_address(address.split("%", 1)[0]))
            if problem:
                raise UnsafeCallbackURL(
                    _(
                        "The host %(host)s resolves to %(address)s, %(kind)s; callbacks may "
                        "only go to public addresses."
                    )
                    % {"host": host, "address": address, "kind": problem}
                )
    return CallbackTarget(
        scheme=parts.scheme, host=host, port=port, netloc=parts.netloc, address=addresses[0]
    )


def check_callback_url(url: str, *, resolve: bool = True) -> None:
    """Raise UnsafeCallbackURL if ``url`` may not be called. Resolves the host (DNS) unless
    ``resolve`` is False or private networks are allowed (then only the form is checked)."""
    if not resolve or settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        _parse(url)
        return
    resolve_callback_url(url)


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
