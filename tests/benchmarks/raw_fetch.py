"""pyarcrest's own ``downloadJobFiles`` on verified connections, run as the fetch benchmark's child process.

    python -m tests.benchmarks.raw_fetch CLIENT_CONFIG JOB_ID DEST

Prints one JSON line: seconds spent in ``downloadJobFiles``, its per-job errors, and the process's
peak RSS. Files land in ``DEST/<job id>/`` (the CE's job log in ``DEST/<job id>/gmlog/errors``).

TLS: with a token, plain ``ARCRest.getClient`` is used; pyarcrest then passes no SSL context and
http.client's default context verifies the CE (certificate and host name) against
``SSL_CERT_FILE``/``SSL_CERT_DIR``, which the parent sets with :func:`trust_env`. Proxy only: pyarcrest
would give every connection an unverified ``SSLContext(PROTOCOL_TLS)``, so ``getHTTPClient`` is
replaced by one returning a verified connection (as :mod:`tests.benchmarks.raw` builds it); the
download code itself is pyarcrest's, unmodified.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
from typing import Any

from arc_intercede import ARCConfig
from tests.benchmarks.raw import bearer_token, peak_rss_kib, verified_http_client


def trust_env(cfg: ARCConfig, *, trust: bool = True) -> dict[str, str]:
    """Return the environment that makes http.client trust only ``cfg``'s CAs (or none at all)."""
    env = dict(os.environ)
    env["SSL_CERT_FILE"] = str(cfg.ca_file) if trust and cfg.ca_file else os.devnull
    env["SSL_CERT_DIR"] = str(cfg.ca_dir) if trust and cfg.ca_dir else os.devnull
    return env


def _client(cfg: ARCConfig) -> Any:
    from pyarcrest.arc import ARCRest, ARCRest_1_1
    from pyarcrest.http import HTTPClient

    if token := bearer_token(cfg):
        return ARCRest.getClient(host=cfg.host, port=cfg.port, token=token, apiBase=cfg.api_base)

    class Verified(ARCRest_1_1):  # type: ignore[misc]
        @classmethod
        def getHTTPClient(cls, *args: Any, **kwargs: Any) -> HTTPClient:  # downloadJobFiles' workers too
            return verified_http_client(cfg, cfg.proxy)

        @classmethod
        def _getImplementations(cls) -> dict[str, type[Any]]:  # so the workers are Verified as well
            return {"1.1": cls}

    return Verified.getClient(host=cfg.host, port=cfg.port, proxypath=str(cfg.proxy), apiBase=cfg.api_base,
                              version="1.1")


def main() -> None:
    """Fetch one job's session directory and its CE job log with ``downloadJobFiles`` (one worker)."""
    cfg, job, dest = ARCConfig.from_file(sys.argv[1]), sys.argv[2], sys.argv[3]
    rest = _client(cfg)
    ctx = rest.httpClient.conn._context
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname, "pyarcrest connection is not verified"
    t0 = time.perf_counter()
    (errors,) = rest.downloadJobFiles(dest, [job], diagnoseFiles={job: ["errors"]}, workers=1)
    secs = time.perf_counter() - t0
    rest.close()
    print(json.dumps({"secs": secs, "errors": [repr(e) for e in errors],
                      "maxrss_kb": peak_rss_kib()}))


if __name__ == "__main__":
    main()
