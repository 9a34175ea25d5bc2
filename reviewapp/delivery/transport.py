"""HTTP to one checked address: the connection goes where the URL check looked, nowhere else.

``requests`` would resolve the host name again when it connects, after our check, and a DNS
answer that changed in between (rebinding) would reach an address nobody checked. Here the
host is resolved once (``validators.resolve_callback_url``), and an adapter connects to that
address while everything else keeps the host name: the URL, the ``Host`` header, TLS SNI and
the certificate check (urllib3's ``server_hostname`` and ``assert_hostname``). Proxies from
the environment are ignored (a proxy would resolve the name itself).
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from requests.certs import where as ca_bundle
from urllib3.connectionpool import HTTPConnectionPool

from .validators import CallbackTarget


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
