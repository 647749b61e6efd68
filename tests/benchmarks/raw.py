"""The baseline the benchmarks compare against: plain pyarcrest on a verified connection.

pyarcrest's own connection set-up does not verify the CE in proxy mode, so the benchmarks give its
``ARCRest_1_1`` a verifying connection and otherwise call it unmodified. With a token configuration
the token is passed to pyarcrest as its ``token`` (sent as ``Authorization: Bearer``).
"""

from __future__ import annotations

import http.client
from pathlib import Path
from typing import Any

from arc_intercede import ARCConfig
from arc_intercede.credentials import make_ssl_context


def peak_rss_kib() -> int:
    """This process's peak resident memory in KiB since it was exec'd (``VmHWM``).

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is no good in a child: Linux carries the forking parent's
    high-water mark across ``execve``, so every child would report at least the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def bearer_token(cfg: ARCConfig) -> str | None:
    """The configuration's bearer token (read from ``token_file`` if that is how it is given)."""
    if cfg.token is not None:
        return cfg.token
    return Path(cfg.token_file).read_text().strip() if cfg.token_file is not None else None


def verified_http_client(cfg: ARCConfig, client_cert: Path | None) -> Any:
    """A pyarcrest ``HTTPClient`` whose connection verifies ``cfg``'s CE (its own set-up would not)."""
    from pyarcrest.http import HTTPClient

    ctx = make_ssl_context(ca_dir=cfg.ca_dir, ca_file=cfg.ca_file, client_cert=client_cert)
    client = HTTPClient.__new__(HTTPClient)
    client.conn = http.client.HTTPSConnection(cfg.host, cfg.port, context=ctx, timeout=300)
    client.isHTTPS = True
    return client


def raw_pyarcrest(cfg: ARCConfig) -> Any:
    """Return a pyarcrest ``ARCRest_1_1`` for ``cfg``'s CE over a verified connection (token or proxy)."""
    from pyarcrest.arc import ARCRest_1_1

    token = bearer_token(cfg)
    client = verified_http_client(cfg, None if token is not None else cfg.proxy)
    if token is not None:
        return ARCRest_1_1(client, token=token, apiBase=cfg.api_base)
    return ARCRest_1_1(client, proxypath=str(cfg.proxy), apiBase=cfg.api_base)
