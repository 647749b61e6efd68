"""Credentials: bearer-token sources, RFC 3820 proxies, VOMS attributes, and the verifying TLS context.

* Tokens are opaque strings. A :class:`TokenSource` is asked for the current token before every
  request, so a refreshed token file is picked up without rebuilding the backend (:mod:`.tokens`).
* A proxy is an RFC 3820 proxy PEM (certificate, key, chain). It is used as the TLS client
  certificate in proxy mode, and to sign A-REX delegation requests in every mode that has one;
  ``arc-intercede proxy`` makes one (:mod:`.proxy`). Both build certificates with
  :func:`~.proxycert.build_proxy_certificate`.
* VOMS attribute certificates are requested, verified and embedded in proxies by :mod:`.voms`;
  :mod:`.discovery` finds credentials by the grid's conventions; :mod:`.renewal` keeps delegations fresh.
* TLS is always verified against the configured CA directory or bundle, and its CRLs (:mod:`.tls`).
* No token, key or pass phrase ever appears in a message: errors name only where a credential came
  from. Credential files readable by others are refused (private keys) or warned about (:mod:`.files`).
"""

from __future__ import annotations

from arc_intercede.credentials.files import file_stamp, warn_if_exposed
from arc_intercede.credentials.proxy import ProxyCredential, ProxyError, ProxyInfo, default_proxy_path, make_proxy
from arc_intercede.credentials.tls import TLSContextProvider, current_context, make_ssl_context, shared_ssl_context
from arc_intercede.credentials.tokens import FileToken, StaticToken, TokenSource, check_token, token_expiry

__all__ = [
    "FileToken",
    "ProxyCredential",
    "ProxyError",
    "ProxyInfo",
    "StaticToken",
    "TLSContextProvider",
    "TokenSource",
    "check_token",
    "current_context",
    "default_proxy_path",
    "file_stamp",
    "make_proxy",
    "make_ssl_context",
    "shared_ssl_context",
    "token_expiry",
    "warn_if_exposed",
]
