"""VOMS in pure Python: vomses, both AC request protocols, AC parsing and verification, VOMS proxies.

* :func:`make_voms_proxy` -- request one AC per VO (REST ``/generate-ac`` or the legacy XML protocol),
  check it against the ``vomsdir`` ``.lsc`` chain and the CA directory, embed it as voms-proxy-init does.
* :func:`describe_proxy` -- identity, type, time left and per VO the FQANs of any proxy.
* :func:`proxy_acs`, :func:`parse_ac`, :func:`verify_ac` -- the ACs of a certificate chain, and their checks.
"""
from __future__ import annotations

from arc_intercede.credentials.voms.ac import AttributeCertificate, parse_ac, proxy_acs, verify_ac
from arc_intercede.credentials.voms.builder import VomsProxyInfo, fetch_acs, make_voms_proxy, parse_voms_spec
from arc_intercede.credentials.voms.errors import VomsError
from arc_intercede.credentials.voms.info import describe_proxy, format_proxy_info
from arc_intercede.credentials.voms.protocol import request_ac
from arc_intercede.credentials.voms.vomses import VomsServer, find_servers, load_vomses

__all__ = [
    "AttributeCertificate", "VomsError", "VomsProxyInfo", "VomsServer", "describe_proxy", "fetch_acs",
    "find_servers", "format_proxy_info", "load_vomses", "make_voms_proxy", "parse_ac", "parse_voms_spec",
    "proxy_acs", "request_ac", "verify_ac",
]
