"""VOMS proxies: request ACs for the VOs asked, check them, and embed them in an RFC 3820 proxy.

The ACs go, one per VO in the order asked, into the proxy's non-critical acseq extension exactly as
voms-proxy-init writes it; the proxy never outlives the shortest AC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from arc_intercede.credentials.proxy import ProxyError, ProxyInfo, make_proxy
from arc_intercede.credentials.voms import der
from arc_intercede.credentials.voms.ac import (
    ACSEQ_OID,
    AttributeCertificate,
    acseq_extension_value,
    default_ca_dir,
    default_vomsdir,
    parse_ac,
    verify_ac,
)
from arc_intercede.credentials.voms.errors import BAD_ANSWER, SERVER_ERROR, UNREACHABLE, UNTRUSTED_AC, VomsError
from arc_intercede.credentials.voms.protocol import Protocol, request_ac
from arc_intercede.credentials.voms.vomses import VomsServer, find_servers, load_vomses

__all__ = ["VomsProxyInfo", "fetch_acs", "make_voms_proxy", "parse_voms_spec"]

_log = logging.getLogger(__name__)

_TRUST_WORDS = ("lsc", "trust", "CA ", "CA certificates", "does not match", "not a trusted")


@dataclass(frozen=True, slots=True, kw_only=True)
class VomsProxyInfo:
    """What :func:`make_voms_proxy` wrote.

    Attributes:
        proxy: The proxy itself (path, subject, validity).
        acs: The embedded ACs, in order.
        protocols: The protocol that delivered each AC (``rest`` or ``legacy``).
        warnings: The servers' warnings and the trust checks that failed (the proxy was still made).
    """

    proxy: ProxyInfo
    acs: tuple[AttributeCertificate, ...]
    protocols: tuple[str, ...]
    warnings: tuple[str, ...]


def parse_voms_spec(spec: str) -> tuple[str, str]:
    """Split ``VO[:FQAN]`` (``testvo``, ``testvo:/testvo/analysis/Role=production``) into VO and FQAN.

    Raises:
        ValueError: An empty VO or an FQAN that does not start with ``/`` (or is not ``all``).
    """
    vo, _, fqan = spec.partition(":")
    vo = vo.strip()
    if not vo:
        raise ValueError(f"--voms {spec!r}: give VO or VO:FQAN, e.g. testvo:/testvo/analysis")
    fqan = fqan.strip() or f"/{vo}"
    if not (fqan.startswith("/") or fqan == "all"):
        raise ValueError(f"--voms {spec!r}: the FQAN must start with '/' (e.g. {vo}:/{vo}/group/Role=role)")
    return vo, fqan


def _memo(password: bytes | Callable[[], bytes] | None) -> bytes | Callable[[], bytes] | None:
    if not callable(password):
        return password
    cache: list[bytes] = []

    def once() -> bytes:
        if not cache:
            cache.append(password())
        return cache[0]

    return once


def fetch_acs(specs: Sequence[str], *, cert: Path, key: Path, lifetime: int,
              password: bytes | Callable[[], bytes] | None = None, protocol: Protocol = "auto",
              servers: Sequence[VomsServer] | None = None, vomsdir: Path | None = None, ca_dir: Path | None = None,
              now: datetime | None = None, timeout: float = 30.0
              ) -> tuple[list[AttributeCertificate], list[str], list[str]]:
    """Request and check one AC per VO of ``specs`` (``VO[:FQAN]``, FQANs of one VO in the order given).

    Servers of a VO are tried in vomses order while they are unreachable or fail. An AC that does not
    parse, whose signature does not verify, that is not valid now or not for this certificate is an error;
    a trust check that fails (no ``.lsc``, AA not under a local CA) is a warning, as with voms-proxy-init
    (the machine that makes a proxy is often not the one that must trust it).

    Returns:
        The ACs, the protocol of each, and the warnings.

    Raises:
        VomsError: No AC could be obtained for a VO (the message says why, in one line).
        ValueError: A malformed spec.
    """
    wanted: dict[str, list[str]] = {}
    for spec in specs:
        vo, fqan = parse_voms_spec(spec)
        fqans = wanted.setdefault(vo, [])
        if fqan not in fqans:
            fqans.append(fqan)
    known = list(load_vomses() if servers is None else servers)
    ca_dir = ca_dir if ca_dir is not None else default_ca_dir()
    try:
        holder = x509.load_pem_x509_certificates(cert.read_bytes())[0]
    except (OSError, ValueError) as exc:
        raise ProxyError(f"cannot read the certificate {cert}: {getattr(exc, 'strerror', None) or exc}") from exc
    password = _memo(password)
    acs: list[AttributeCertificate] = []
    protocols: list[str] = []
    warnings: list[str] = []
    for vo, fqans in wanted.items():
        error: VomsError | None = None
        for server in find_servers(vo, known):
            try:
                data, server_warnings, proto = request_ac(server, fqans, lifetime=lifetime, cert=cert, key=key,
                                                          password=password, ca_dir=ca_dir, protocol=protocol,
                                                          timeout=timeout)
            except VomsError as exc:
                if exc.kind in (UNREACHABLE, SERVER_ERROR, BAD_ANSWER):
                    _log.info("%s", exc)
                    error = exc
                    continue
                raise
            break
        else:
            assert error is not None
            raise error
        try:
            ac = parse_ac(data)
        except der.DERError as exc:
            raise VomsError(f"VOMS server {server.address} ({vo}) sent an AC that does not parse: {exc}",
                            kind=BAD_ANSWER, vo=vo) from exc
        problems = verify_ac(ac, holder=holder, vomsdir=vomsdir, ca_dir=ca_dir, now=now)
        trust = [p for p in problems if any(w in p for w in _TRUST_WORDS)]
        fatal = [p for p in problems if p not in trust]
        if fatal:
            raise VomsError(f"the AC from {server.address} for VO {vo} is not usable: {'; '.join(fatal)}",
                            kind=UNTRUSTED_AC, vo=vo)
        for problem in trust:
            _log.warning("AC of VO %s: %s (a verifier without that trust will ignore it)", vo, problem)
        first = _normalise(fqans[0])
        if fqans[0] != "all" and ac.fqans and _normalise(ac.fqans[0]) != first:
            warnings.append(f"VO {vo}: the primary FQAN is {ac.fqans[0]}, not {fqans[0]}")
        warnings += [f"VO {vo}: {w}" for w in server_warnings] + [f"VO {vo}: {p}" for p in trust]
        acs.append(ac)
        protocols.append(proto)
    return acs, protocols, warnings


def _normalise(fqan: str) -> str:
    return fqan.replace("/Capability=NULL", "").replace("/Role=NULL", "")


def make_voms_proxy(cert: Path, key: Path, out: Path, voms: Sequence[str], *, valid: timedelta = timedelta(hours=12),
                    bits: int = 2048, password: bytes | Callable[[], bytes] | None = None,
                    protocol: Protocol = "auto", servers: Sequence[VomsServer] | None = None,
                    vomsdir: Path | None = None, ca_dir: Path | None = None, now: datetime | None = None,
                    ac_lifetime: timedelta | None = None, timeout: float = 30.0) -> VomsProxyInfo:
    """Make an RFC 3820 proxy carrying VOMS ACs for ``voms`` (``VO[:FQAN]`` each) and write it to ``out``.

    Args:
        cert: The user certificate (PEM; further certificates: its chain).
        key: The user's private key.
        out: The proxy file to write (atomically, mode 0600).
        voms: ``VO[:FQAN]`` items, e.g. ``["testvo:/testvo/analysis"]``.
        valid: Requested proxy lifetime; never beyond the shortest AC.
        bits: The proxy key size.
        password: The key's pass phrase, or a function returning it (asked at most once).
        protocol: ``auto`` (REST, then legacy), ``rest`` or ``legacy``.
        servers: vomses entries (default: the vomses files).
        vomsdir: Where the ``.lsc`` files are (default ``$X509_VOMS_DIR`` or ``/etc/grid-security/vomsdir``).
        ca_dir: The CA directory (default ``$X509_CERT_DIR`` or ``/etc/grid-security/certificates``).
        now: The current time (for tests).
        ac_lifetime: The AC lifetime to ask for (default: ``valid``).
        timeout: Per-server connect/read timeout in seconds.

    Raises:
        VomsError: No usable AC for a VO.
        ProxyError: The certificate or key cannot be used.
        ValueError: A malformed ``VO[:FQAN]``.
    """
    if not voms:
        raise ValueError("no VO given")
    ask = int((ac_lifetime or valid).total_seconds())
    password = _memo(password)
    acs, protocols, warnings = fetch_acs(voms, cert=cert, key=key, lifetime=max(1, ask), password=password,
                                         protocol=protocol, servers=servers, vomsdir=vomsdir or default_vomsdir(),
                                         ca_dir=ca_dir, now=now, timeout=timeout)
    current = now or datetime.now(UTC)
    shortest = min(ac.not_after for ac in acs)
    lifetime = min(valid, shortest - current)
    if lifetime <= timedelta(0):
        raise VomsError("the ACs received are already expired", kind=UNTRUSTED_AC)
    if lifetime < valid:
        _log.info("proxy lifetime cut to the AC's end (%s UTC)", f"{shortest:%Y-%m-%d %H:%M:%S}")
    extension = x509.UnrecognizedExtension(x509.ObjectIdentifier(ACSEQ_OID),
                                           acseq_extension_value(ac.der for ac in acs))
    info = make_proxy(cert, key, out, valid=lifetime, bits=bits, password=password, now=now,
                      extensions=[extension])
    return VomsProxyInfo(proxy=info, acs=tuple(acs), protocols=tuple(protocols), warnings=tuple(warnings))
