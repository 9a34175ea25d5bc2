"""HTTP to one checked address: the connection goes where the URL check looked, nowhere else.

``requests`` would resolve the host name again when it connects, after our check, and a DNS
answer that changed in between (rebinding) would reach an address nobody checked. Here the
host is resolved once (``validators.resolve_callback_url``), and an adapter connects to that
address while everything else keeps the host name: the URL, the ``Host`` header, TLS SNI and
the certificate check (urllib3's ``server_hostname`` and ``assert_hostname``). Proxies from
the environment are ignored (a proxy would resolve the name itself).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.certs import where as ca_bundle
from urllib3.connectionpool import HTTPConnectionPool

from .signing import webhook_headers
from .validators import CallbackTarget

USER_AGENT = "Failsafe-Webhooks/1.0"


class PinnedAddressAdapter(HTTPAdapter):
    def __init__(self, target: CallbackTarget) -> None:
        self.target = target
        super().__init__(max_retries=0, pool_connections=1, pool_maxsize=1)

    def get_connection_with_tls_context(
        self, request, verify, proxies=None, cert=None
    ) -> HTTPConnectionPool:
        pool_kwargs: dict = {}
        if self.target.scheme == "https":
            pool_kwargs = {
                "cert_reqs": "CERT_REQUIRED",
                "ca_certs": verify if isinstance(verify, str) else ca_bundle(),
                "server_hostname": self.target.host,
                "assert_hostname": self.target.host,
            }
        return self.poolmanager.connection_from_host(
            host=self.target.address,
            port=self.target.port,
            scheme=self.target.scheme,
            pool_kwargs=pool_kwargs,
        )


def pinned_session(target: CallbackTarget) -> requests.Session:
    """A session whose every request to ``target``'s URL connects to ``target.address``."""
    session = requests.Session()
    session.trust_env = False
    adapter = PinnedAddressAdapter(target)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def signed_post(
    *,
    url: str,
    target: CallbackTarget,
    key: bytes,
    message_id: str,
    payload: dict[str, Any],
    at: dt.datetime,
    timeout: float,
    excerpt_bytes: int = 0,
) -> tuple[int, bytes]:
    """POST ``payload`` as compact JSON, signed (Standard Webhooks) with ``key``, to exactly
    ``target``'s checked address; no redirects (a redirect could lead to an address the URL
    check never saw). Returns the status code and the first ``excerpt_bytes`` of the answer.
    ``requests``' exceptions (timeouts, connection errors) reach the caller."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = webhook_headers(
        key=key, message_id=message_id, timestamp=int(at.timestamp()), body=body
    )
    headers["User-Agent"] = USER_AGENT
    headers["Host"] = target.netloc
    with (
        pinned_session(target) as session,
        session.post(
            url,
            data=body,
            headers=headers,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
        ) as response,
    ):
        excerpt = next(response.iter_content(excerpt_bytes), b"") if excerpt_bytes else b""
        return response.status_code, excerpt[:excerpt_bytes]
