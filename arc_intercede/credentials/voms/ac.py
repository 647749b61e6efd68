"""VOMS attribute certificates (RFC 5755 + GFD.182): parse, verify, and find them in proxies.

An AC is parsed from DER into :class:`AttributeCertificate`; :func:`verify_ac` checks what voms-proxy-info
and ARC check (signature by the AA certificate the AC carries, that certificate against the ``vomsdir``
``.lsc`` file of the VO and the CA directory, validity, holder, critical extensions) and returns the
problems found. :func:`proxy_acs` returns the ACs of every certificate of a proxy chain (acseq extension).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from arc_intercede.credentials.voms import der

__all__ = [
    "ACSEQ_OID",
    "AC_CERTS_OID",
    "FQAN_OID",
    "AttributeCertificate",
    "acseq_extension_value",
    "default_ca_dir",
    "default_vomsdir",
    "oneline",
    "parse_ac",
    "parse_acseq",
    "proxy_acs",
    "verify_ac",
]

_log = logging.getLogger(__name__)

ACSEQ_OID: Final = "1.3.6.1.4.1.8005.100.100.5"
"""The proxy extension that carries the ACs (``acseq``)."""
FQAN_OID: Final = "1.3.6.1.4.1.8005.100.100.4"
"""The AC attribute that lists the FQANs (``idatcap``)."""
AC_CERTS_OID: Final = "1.3.6.1.4.1.8005.100.100.10"
"""The AC extension with the AA certificate chain (``certseq``)."""
TAGS_OID: Final = "1.3.6.1.4.1.8005.100.100.11"
TARGETS_OID: Final = "2.5.29.55"
NO_REV_AVAIL_OID: Final = "2.5.29.56"
AKID_OID: Final = "2.5.29.35"
_KNOWN_EXTENSIONS: Final = frozenset({AC_CERTS_OID, TAGS_OID, TARGETS_OID, NO_REV_AVAIL_OID, AKID_OID})
ARC_SKEW_SECONDS: Final = 300

_NAME_KEYS: Final = {
    "2.5.4.6": "C", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST",
    "2.5.4.5": "serialNumber", "2.5.4.9": "street", "2.5.4.12": "title", "2.5.4.4": "SN", "2.5.4.42": "GN",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID", "1.2.840.113549.1.9.1": "emailAddress",
}
_SIGNATURE_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "1.2.840.113549.1.1.5": hashes.SHA1, "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384, "1.2.840.113549.1.1.13": hashes.SHA512,
    "1.2.840.10045.4.3.2": hashes.SHA256, "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}


def oneline(name: x509.Name | bytes) -> str:
    """A distinguished name in OpenSSL ``X509_NAME_oneline`` form (``/C=XX/O=VOMS Test/CN=localhost``).

    Args:
        name: A parsed name, or the DER of a Name.
    """
    data = name.public_bytes() if isinstance(name, x509.Name) else name
    parts = []
    for rdn in der.parse(data).expect(der.SEQUENCE, "Name").children():
        for atv in rdn.children():
            oid_el, value_el = atv.children()[:2]
            oid = der.parse_oid(oid_el)
            if value_el.tag == 0x1E:  # BMPString
                text = value_el.value.decode("utf-16-be", "replace")
            else:
                text = value_el.value.decode("utf-8", "replace")
            parts.append(f"/{_NAME_KEYS.get(oid, oid)}={text}")
    return "".join(parts)


def _gentime(element: der.Element) -> datetime:
    text = element.value.decode("ascii")
    if element.tag == der.GENERALIZED_TIME:
        return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)
    if element.tag == der.UTC_TIME:
        return datetime.strptime(text, "%y%m%d%H%M%SZ").replace(tzinfo=UTC)
    raise der.DERError(f"expected a time, found tag 0x{element.tag:02x}")


def _find_names(element: der.Element) -> list[bytes]:
    """The DER of every directoryName ([4] Name) inside GeneralNames."""
    out = []
    for child in element.children():
        if child.tag == 0xA4:
            out.append(child.value)
    return out


def _certs_in(element: der.Element) -> list[x509.Certificate]:
    try:
        return [x509.load_der_x509_certificate(element.raw)]
    except ValueError:
        pass
    if not element.constructed:
        return []
    out: list[x509.Certificate] = []
    for child in element.children():
        out.extend(_certs_in(child))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributeCertificate:
    """One parsed VOMS attribute certificate.

    Attributes:
        der: The AC's DER encoding.
        vo: The VO (from the policyAuthority ``vo://host:port``).
        uri: ``host:port`` of the issuing server.
        fqans: The FQANs in the AC's order (the first is the primary one).
        issuer: The AA's name (oneline).
        holder_issuer: The name the AC names its holder by (oneline; the holder's subject or issuer).
        holder_serial: The holder certificate's serial number.
        serial: The AC's serial number.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        aa_certs: The AA certificate chain carried in the AC (first: the signer).
        targets: Target URIs, if the AC is restricted to some.
        critical_extensions: OIDs of critical extensions.
        tbs: The DER of acinfo (what the signature covers).
        signature_algorithm: The signature algorithm's OID.
        signature: The signature bytes.
    """

    der: bytes
    vo: str
    uri: str
    fqans: tuple[str, ...]
    issuer: str
    holder_issuer: str
    holder_serial: int
    serial: int
    not_before: datetime
    not_after: datetime
    aa_certs: tuple[x509.Certificate, ...] = field(repr=False)
    targets: tuple[str, ...] = ()
    critical_extensions: tuple[str, ...] = ()
    tbs: bytes = field(repr=False, default=b"")
    signature_algorithm: str = ""
    signature: bytes = field(repr=False, default=b"")

    @property
    def host(self) -> str:
        """The server host of :attr:`uri` (names the ``.lsc`` file)."""
        return self.uri.rsplit(":", 1)[0] if ":" in self.uri else self.uri

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds until the AC expires (negative once expired)."""
        return (self.not_after - (now or datetime.now(UTC))).total_seconds()


def parse_ac(data: bytes) -> AttributeCertificate:
    """Parse the DER of a VOMS attribute certificate.

    Raises:
        DERError: Not an AC, or one without VOMS FQANs.
    """
    top = der.parse(data).expect(der.SEQUENCE, "AttributeCertificate").children()
    if len(top) != 3:
        raise der.DERError("AttributeCertificate: expected acinfo, algorithm, signature")
    info_el, alg_el, sig_el = top
    info = info_el.expect(der.SEQUENCE, "acinfo").children()
    if len(info) < 7:
        raise der.DERError("acinfo: too few fields")
    if info[0].integer() != 1:
        raise der.DERError(f"acinfo: version {info[0].integer()} is not v2")
    holder_issuer, holder_serial = "", -1
    for part in info[1].expect(der.SEQUENCE, "holder").children():
        if part.tag == 0xA0:  # baseCertificateID [0] IMPLICIT IssuerSerial
            fields = part.children()
            names = _find_names(fields[0])
            holder_issuer = oneline(names[0]) if names else ""
            holder_serial = fields[1].integer()
    issuer_el = info[2]
    issuer_names: list[bytes] = []
    if issuer_el.tag == 0xA0:  # v2Form
        for child in issuer_el.children():
            if child.tag == der.SEQUENCE:
                issuer_names.extend(_find_names(child))
            elif child.tag == 0xA4:
                issuer_names.append(child.value)
    else:
        issuer_names = _find_names(issuer_el)
    serial = info[4].integer()
    validity = info[5].expect(der.SEQUENCE, "validity").children()
    not_before, not_after = _gentime(validity[0]), _gentime(validity[1])
    vo = uri = ""
    fqans: list[str] = []
    for attribute in info[6].expect(der.SEQUENCE, "attributes").children():
        oid_el, values = attribute.children()[:2]
        if der.parse_oid(oid_el) != FQAN_OID:
            continue
        for syntax in values.children():
            parts = syntax.children()
            if parts and parts[0].tag == 0xA0:
                for general_name in parts[0].children():
                    if general_name.tag == 0x86:
                        authority = general_name.value.decode("utf-8", "replace")
                        vo, _, uri = authority.partition("://")
                parts = parts[1:]
            for value in parts[0].children() if parts else []:
                fqans.append(value.value.decode("utf-8", "replace"))
    if not fqans:
        raise der.DERError("the AC carries no VOMS FQANs")
    aa_certs: list[x509.Certificate] = []
    targets: list[str] = []
    critical: list[str] = []
    for ext_el in info[7:]:
        if ext_el.tag != der.SEQUENCE:
            continue  # issuerUniqueID
        for ext in ext_el.children():
            parts = ext.children()
            oid = der.parse_oid(parts[0])
            is_critical = len(parts) == 3 and parts[1].tag == der.BOOLEAN and parts[1].value != b"\x00"
            value = der.parse(parts[-1].expect(der.OCTET_STRING, "extension value").value)
            if is_critical:
                critical.append(oid)
            if oid == AC_CERTS_OID:
                aa_certs = _certs_in(value)
            elif oid == TARGETS_OID:
                targets.extend(_target_uris(value))
    alg = der.parse_oid(alg_el.expect(der.SEQUENCE, "signatureAlgorithm").children()[0])
    signature = sig_el.expect(der.BIT_STRING, "signature").value[1:]
    return AttributeCertificate(
        der=data, vo=vo, uri=uri, fqans=tuple(fqans),
        issuer=oneline(issuer_names[0]) if issuer_names else "", holder_issuer=holder_issuer,
        holder_serial=holder_serial, serial=serial, not_before=not_before, not_after=not_after,
        aa_certs=tuple(aa_certs), targets=tuple(targets), critical_extensions=tuple(critical),
        tbs=info_el.raw, signature_algorithm=alg, signature=signature)


def _target_uris(element: der.Element) -> list[str]:
    out = []
    if element.tag == 0x86:
        return [element.value.decode("utf-8", "replace")]
    if element.constructed:
        for child in element.children():
            out.extend(_target_uris(child))
    return out


def parse_acseq(value: bytes) -> list[AttributeCertificate]:
    """Parse the value of a proxy's acseq extension (``SEQUENCE { SEQUENCE OF AC }``)."""
    outer = der.parse(value).expect(der.SEQUENCE, "acseq")
    acs = []
    for inner in outer.children():
        for ac in inner.expect(der.SEQUENCE, "acseq entry").children():
            acs.append(parse_ac(ac.raw))
    return acs


def acseq_extension_value(acs: Iterable[bytes]) -> bytes:
    """The DER value of an acseq extension carrying ``acs`` (DER each), as voms-proxy-init writes it."""
    return der.encode(der.SEQUENCE, der.encode(der.SEQUENCE, *acs))


def proxy_acs(chain: Sequence[x509.Certificate]) -> list[AttributeCertificate]:
    """Every AC found in the acseq extensions of ``chain`` (first certificate first)."""
    out: list[AttributeCertificate] = []
    oid = x509.ObjectIdentifier(ACSEQ_OID)
    for cert in chain:
        try:
            ext = cert.extensions.get_extension_for_oid(oid)
        except x509.ExtensionNotFound:
            continue
        raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
        out.extend(parse_acseq(raw))
    return out


def default_vomsdir() -> Path:
    """``$X509_VOMS_DIR`` or ``/etc/grid-security/vomsdir``."""
    return Path(os.environ.get("X509_VOMS_DIR") or "/etc/grid-security/vomsdir")


def default_ca_dir() -> Path:
    """``$X509_CERT_DIR`` or ``/etc/grid-security/certificates``."""
    return Path(os.environ.get("X509_CERT_DIR") or "/etc/grid-security/certificates")


def _lsc_chains(path: Path) -> list[list[str]]:
    chains: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("------"):
            chains.append([])
            continue
        chains[-1].append(line)
    return [c for c in chains if c]


def _verify_signature(signer: x509.Certificate, algorithm: str, signature: bytes, data: bytes) -> bool:
    hash_type = _SIGNATURE_HASHES.get(algorithm)
    if hash_type is None:
        return False
    key = signer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, padding.PKCS1v15(), hash_type())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hash_type()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _load_ca_dir(ca_dir: Path) -> list[x509.Certificate]:
    certs = []
    try:
        names = sorted(os.listdir(ca_dir))
    except OSError:
        return []
    for name in names:
        if not (name.endswith(".pem") or (len(name) > 2 and name[-2] == "." and name[-1].isdigit())):
            continue
        try:
            certs.extend(x509.load_pem_x509_certificates((ca_dir / name).read_bytes()))
        except (OSError, ValueError):
            continue
    return certs


def _chains_to_ca(chain: Sequence[x509.Certificate], ca_dir: Path, now: datetime) -> str | None:
    """None if ``chain`` (signer first) verifies to a CA of ``ca_dir``, else the reason."""
    anchors = _load_ca_dir(ca_dir)
    if not anchors:
        return f"no CA certificates in {ca_dir}"
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"the AA certificate {oneline(cert.subject)} is not valid now"
    current = chain[0]
    pool = list(chain[1:]) + anchors
    for _ in range(8):
        for candidate in pool:
            if candidate.subject != current.issuer:
                continue
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if candidate in anchors:
                return None
            current = candidate
            break
        else:
            return f"the AA certificate's issuer {oneline(current.issuer)} is not a trusted CA in {ca_dir}"
    return "the AA certificate chain is too long"


def verify_ac(ac: AttributeCertificate, *, holder: x509.Certificate | None = None, vomsdir: Path | None = None,
              ca_dir: Path | None = None, now: datetime | None = None,
              skew_seconds: float = 0.0) -> list[str]:
    """Check an AC as VOMS verifiers do; return the problems found (empty: the AC is good).

    Args:
        ac: The AC.
        holder: The end-entity certificate the AC must name as its holder (not checked if None).
        vomsdir: The ``vomsdir`` with ``<vo>/<host>.lsc`` files (default :func:`default_vomsdir`).
        ca_dir: The CA directory (default ``$X509_CERT_DIR`` or ``/etc/grid-security/certificates``).
        now: The current time (for tests).
        skew_seconds: Clock skew to tolerate on the validity.
    """
    vomsdir = vomsdir if vomsdir is not None else default_vomsdir()
    ca_dir = ca_dir if ca_dir is not None else default_ca_dir()
    now = now or datetime.now(UTC)
    problems: list[str] = []
    if not ac.aa_certs:
        return ["the AC carries no AA certificate"]
    signer = ac.aa_certs[0]
    if not _verify_signature(signer, ac.signature_algorithm, ac.signature, ac.tbs):
        problems.append("the AC signature does not verify with the AA certificate it carries")
    if oneline(signer.subject) != ac.issuer:
        problems.append(f"the AC issuer {ac.issuer} is not the AA certificate's subject {oneline(signer.subject)}")
    lsc = vomsdir / ac.vo / f"{ac.host}.lsc"
    try:
        chains = _lsc_chains(lsc)
    except FileNotFoundError:
        problems.append(f"no trust for VO {ac.vo} server {ac.host}: {lsc} does not exist")
        chains = None
    except OSError as exc:
        problems.append(f"cannot read {lsc}: {exc.strerror}")
        chains = None
    if chains is not None:
        names = []
        for cert in ac.aa_certs:
            names += [oneline(cert.subject), oneline(cert.issuer)]
        if not any(names[:len(chain)] == chain for chain in chains):
            problems.append(f"the AA certificate {oneline(signer.subject)} does not match {lsc}")
    reason = _chains_to_ca(ac.aa_certs, ca_dir, now)
    if reason:
        problems.append(reason)
    if not (ac.not_before.timestamp() - skew_seconds <= now.timestamp() <= ac.not_after.timestamp() + skew_seconds):
        state = "expired" if now > ac.not_after else "not yet valid"
        problems.append(f"the AC is {state} (valid {ac.not_before:%Y-%m-%d %H:%M:%S} to "
                        f"{ac.not_after:%Y-%m-%d %H:%M:%S} UTC)")
    if holder is not None:
        if ac.holder_serial != holder.serial_number:
            problems.append(f"the AC holder serial {ac.holder_serial} is not the certificate's {holder.serial_number}")
        if ac.holder_issuer not in (oneline(holder.subject), oneline(holder.issuer)):
            problems.append(f"the AC holder {ac.holder_issuer} is not {oneline(holder.subject)}")
        elif ac.holder_issuer != oneline(holder.subject):
            _log.warning("the AC names its holder by the issuer DN (--newformat server): ARC ignores such ACs")
    unknown = [oid for oid in ac.critical_extensions if oid not in _KNOWN_EXTENSIONS]
    if unknown:
        problems.append(f"the AC has unknown critical extensions: {', '.join(unknown)}")
    return problems
