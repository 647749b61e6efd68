"""What a proxy file holds, like ``arcproxy -I`` / ``voms-proxy-info --all``.

Identity, type, time left, and per VO its FQANs, issuer, server URI, validity and whether it verifies here.

Works for any proxy (ours, voms-proxy-init's, arcproxy's); never shows key material.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from arc_intercede.credentials.proxy import ProxyError
from arc_intercede.credentials.proxycert import PROXY_CERT_INFO_OID
from arc_intercede.credentials.voms import der
from arc_intercede.credentials.voms.ac import default_ca_dir, default_vomsdir, oneline, proxy_acs, verify_ac

__all__ = ["describe_proxy", "format_proxy_info", "proxy_type"]

_POLICIES = {
    "1.3.6.1.5.5.7.21.1": "RFC 3820 compliant impersonation proxy",
    "1.3.6.1.5.5.7.21.2": "RFC 3820 compliant independent proxy",
    "1.3.6.1.4.1.3536.1.1.1.9": "RFC 3820 compliant limited proxy",
}


def proxy_type(cert: x509.Certificate) -> str | None:
    """The kind of proxy ``cert`` is, or None for an end-entity certificate."""
    try:
        ext = cert.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
    except x509.ExtensionNotFound:
        ext = None
    except ValueError:  # pragma: no cover - cryptography parses the PCI OID as unknown
        ext = None
    if ext is not None:
        value = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        try:
            policy = next(e for e in der.parse(value).children() if e.tag == der.SEQUENCE)
            language = der.parse_oid(policy.children()[0])
        except (der.DERError, IndexError, StopIteration):
            return "RFC 3820 proxy (unreadable policy)"
        return _POLICIES.get(language, f"RFC 3820 proxy with policy {language}")
    last = cert.subject.rdns[-1] if cert.subject.rdns else None
    if last is not None:
        attrs = list(last)
        text = str(attrs[0].value) if len(attrs) == 1 else ""
        if text == "proxy":
            return "legacy Globus proxy"
        if text == "limited proxy":
            return "legacy Globus limited proxy"
    return None


def describe_proxy(path: Path, *, vomsdir: Path | None = None, ca_dir: Path | None = None,
                   now: datetime | None = None) -> dict[str, Any]:
    """Describe the proxy in ``path`` as a JSON-ready mapping.

    Raises:
        ProxyError: The file cannot be read or holds no certificate.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ProxyError(f"proxy file {path} not found") from exc
    except OSError as exc:
        raise ProxyError(f"cannot read proxy file {path}: {exc.strerror}") from exc
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ProxyError(f"{path} holds no PEM certificate") from exc
    now = now or datetime.now(UTC)
    first = chain[0]
    key = first.public_key()
    eec = next((c for c in chain if proxy_type(c) is None), chain[-1])
    kind = proxy_type(first) or "end-entity certificate (not a proxy)"
    not_after = min(c.not_valid_after_utc for c in chain[:chain.index(eec) + 1])
    out: dict[str, Any] = {
        "path": str(path),
        "subject": oneline(first.subject),
        "issuer": oneline(first.issuer),
        "identity": oneline(eec.subject),
        "type": kind,
        "strength": key.key_size if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey) else None,
        "not_before": first.not_valid_before_utc.isoformat(),
        "not_after": not_after.isoformat(),
        "seconds_left": max(0, int((not_after - now).total_seconds())),
        "vo": [],
    }
    try:
        acs = proxy_acs(chain)
    except der.DERError as exc:
        out["voms_error"] = f"the VOMS extension does not parse: {exc}"
        acs = []
    for ac in acs:
        problems = verify_ac(ac, holder=eec, vomsdir=vomsdir if vomsdir is not None else default_vomsdir(),
                             ca_dir=ca_dir if ca_dir is not None else default_ca_dir(), now=now)
        out["vo"].append({
            "vo": ac.vo,
            "fqans": list(ac.fqans),
            "issuer": ac.issuer,
            "holder": ac.holder_issuer,
            "uri": ac.uri,
            "serial": format(ac.serial, "x"),
            "not_before": ac.not_before.isoformat(),
            "not_after": ac.not_after.isoformat(),
            "seconds_left": max(0, int(ac.seconds_left(now))),
            "verified": not problems,
            "problems": problems,
        })
    return out


def _left(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def format_proxy_info(info: dict[str, Any]) -> str:
    """Render :func:`describe_proxy`'s mapping as text, in ``voms-proxy-info --all``'s layout."""
    lines = [
        f"subject   : {info['subject']}",
        f"issuer    : {info['issuer']}",
        f"identity  : {info['identity']}",
        f"type      : {info['type']}",
        f"strength  : {info['strength']}" if info["strength"] else "strength  : -",
        f"path      : {info['path']}",
        f"timeleft  : {_left(info['seconds_left'])}",
    ]
    if info.get("voms_error"):
        lines.append(f"VOMS      : {info['voms_error']}")
    if not info["vo"]:
        lines.append("VOMS      : no attributes")
    for vo in info["vo"]:
        lines += [f"=== VO {vo['vo']} extension information ===",
                  f"VO        : {vo['vo']}",
                  f"subject   : {vo['holder']}",
                  f"issuer    : {vo['issuer']}"]
        lines += [f"attribute : {fqan}" for fqan in vo["fqans"]]
        lines += [f"timeleft  : {_left(vo['seconds_left'])}",
                  f"uri       : {vo['uri']}",
                  f"validity  : {vo['not_before']} to {vo['not_after']}",
                  "verified  : yes" if vo["verified"] else f"verified  : NO: {'; '.join(vo['problems'])}"]
    return "\n".join(lines)
