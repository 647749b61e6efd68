"""The baseline the benchmarks compare against: plain pyarcrest on a verified connection.

pyarcrest's own connection set-up does not verify the CE in proxy mode, so the benchmarks give its
``ARCRest_1_1`` a verifying connection and otherwise call it unmodified.
"""

from __future__ import annotations

import http.client
from typing import Any

from arc_intercede import ARCConfig
from arc_intercede.auth import make_ssl_context


def raw_pyarcrest(cfg: ARCConfig) -> Any:
    """Return a pyarcrest ``ARCRest_1_1`` for ``cfg``'s CE over a verified proxy-authenticated connection."""
    from pyarcrest.arc import ARCRest_1_1
    from pyarcrest.http import HTTPClient

    ctx = make_ssl_context(ca_dir=cfg.ca_dir, ca_file=cfg.ca_file, client_cert=cfg.proxy)
    client = HTTPClient.__new__(HTTPClient)
    client.conn = http.client.HTTPSConnection(cfg.host, cfg.port, context=ctx, timeout=300)
    client.isHTTPS = True
    return ARCRest_1_1(client, proxypath=str(cfg.proxy), apiBase=cfg.api_base)
