"""RFC 3820 proxy certificates in pure Python (``cryptography``), like ``arcproxy`` without VOMS.

The proxy is signed by the user's key; its subject is the user's subject plus ``CN=<serial number>``.
It carries a critical proxyCertInfo extension (OID 1.3.6.1.5.5.7.1.14) with the inherit-all policy,
critical KeyUsage (digitalSignature, keyEncipherment) and BasicConstraints (CA:false), and an
AuthorityKeyIdentifier derived from the user's key. It is valid from 5 minutes ago (clock skew) for the
requested time, never beyond the user certificate.

The output file holds, in PEM: the proxy certificate, the proxy's private key (unencrypted), the user
certificate and any further chain certificates from the certificate file. It is written atomically
with mode 0600.

A proxy made here has **no VOMS attributes**.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from arc_intercede.errors import LocalCredentialError

__all__ = [
    "PROXY_CERT_INFO_OID",
    "PROXY_POLICY_INHERIT_ALL",
    "ProxyError",
    "ProxyInfo",
    "default_proxy_path",
    "make_proxy",
    "slash_subject",
]

_log = logging.getLogger(__name__)

PROXY_CERT_INFO_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
"""id-pe-proxyCertInfo (RFC 3820)."""
PROXY_POLICY_INHERIT_ALL: Final = b"0\x0c0\n\x06\x08+\x06\x01\x05\x05\x07\x15\x01"
"""DER of ProxyCertInfo { proxyPolicy { policyLanguage id-ppl-inheritAll } }, no path length limit."""
BACKDATE: Final = timedelta(minutes=5)


class ProxyError(LocalCredentialError):
    """The user certificate or key cannot be used to make a proxy (the message says why)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyInfo:
    """What :func:`make_proxy` wrote.

    Attributes:
        path: The proxy file.
        subject: The proxy's subject, ``/DC=.../CN=...`` style.
        issuer: The user's subject (the proxy's issuer), same style.
        not_before: Start of validity (UTC).
        not_after: End of validity (UTC).
        clamped: Whether the end was cut to the user certificate's expiry.
    """

    path: Path
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    clamped: bool


def default_proxy_path() -> Path:
    """Return ``$X509_USER_PROXY`` or ``/tmp/x509up_u<uid>``."""
    env = os.environ.get("X509_USER_PROXY")
    if env:
        return Path(env).expanduser()
    return Path(f"/tmp/x509up_u{os.getuid()}")  # noqa: S108 - the grid's conventional location


def slash_subject(name: x509.Name) -> str:
    """Render a distinguished name in the grid's ``/DC=org/CN=Name`` order."""
    parts = []
    for rdn in name.rdns:
        parts.append("+".join(f"{a.rfc4514_attribute_name}={a.value!s}" for a in rdn))
    return "/" + "/".join(parts)


def make_proxy(
    cert: Path,
    key: Path,
    out: Path,
    *,
    valid: timedelta = timedelta(hours=12),
    bits: int = 2048,
    password: bytes | Callable[[], bytes] | None = None,
    now: datetime | None = None,
    extensions: Sequence[x509.UnrecognizedExtension] = (),
) -> ProxyInfo:
    """Create an RFC 3820 proxy from a user certificate and key, and write it to ``out``.

    Args:
        cert: PEM file with the user certificate first (further certificates: its chain).
        key: PEM file with the user's private key (may be encrypted).
        out: Where to write the proxy (atomically, mode 0600).
        valid: Requested lifetime (clamped to the user certificate's expiry).
        bits: RSA key size of the proxy key (at least 1024).
        password: The key's pass phrase, or a function returning it that is called only if the key is
            encrypted.
        now: The current time (for tests).
        extensions: Further non-critical extensions for the proxy certificate (e.g. VOMS's acseq).

    Returns:
        What was written.

    Raises:
        ProxyError: A file cannot be read or parsed, the pass phrase is wrong or missing, the key does
            not belong to the certificate, or the certificate is expired.
        OSError: The output cannot be written.
    """
    if bits < 1024:
        raise ProxyError(f"proxy key size {bits} is too small (use at least 1024 bits)")
    if valid <= timedelta(0):
        raise ProxyError("proxy lifetime must be positive")
    certs = _load_certs(cert)
    user_cert = certs[0]
    user_key = _load_key(key, password)
    if not _same_key(user_key, user_cert):
        raise ProxyError(f"the key in {key} does not belong to the certificate in {cert}")
    now = now or datetime.now(UTC)
    user_start, user_end = user_cert.not_valid_before_utc, user_cert.not_valid_after_utc
    if user_end <= now:
        raise ProxyError(f"the certificate in {cert} expired on {user_end:%Y-%m-%d %H:%M} UTC")
    not_before = max(now - BACKDATE, user_start)
    not_after = now + valid
    clamped = not_after > user_end
    if clamped:
        not_after = user_end
        _log.warning("proxy lifetime cut to the user certificate's expiry (%s UTC)", f"{user_end:%Y-%m-%d %H:%M}")

    proxy_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    serial = secrets.randbelow(2**31 - 2) + 1
    subject = x509.Name([*user_cert.subject.rdns, x509.RelativeDistinguishedName(
        [x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(user_cert.subject)
        .public_key(proxy_key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, PROXY_POLICY_INHERIT_ALL), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=True, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(user_cert.public_key()),  # type: ignore[arg-type]
                       critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    algorithm = None if isinstance(user_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey) else hashes.SHA256()
    proxy_cert = builder.sign(user_key, algorithm)
    pem = b"".join([
        proxy_cert.public_bytes(serialization.Encoding.PEM),
        proxy_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()),
        *(c.public_bytes(serialization.Encoding.PEM) for c in certs),
    ])
    write_private(out, pem)
    _log.info("wrote proxy %s (serial %d)", out, serial)
    return ProxyInfo(path=out, subject=slash_subject(subject), issuer=slash_subject(user_cert.subject),
                     not_before=not_before, not_after=not_after, clamped=clamped)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically with mode 0600 (temporary file, fsync, rename).

    Raises:
        OSError: The directory is not writable or the rename failed.
    """
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # pragma: no cover - directory vanished or not openable; the file is written
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ProxyError(f"{what} {path} not found") from exc
    except OSError as exc:
        raise ProxyError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _load_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path, "certificate file")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ProxyError(f"{path} holds no PEM certificate: {exc}") from exc
    if not certs:  # pragma: no cover - cryptography raises for an empty file
        raise ProxyError(f"{path} holds no PEM certificate")
    return certs


def _check_key_mode(path: Path) -> None:
    """Refuse a key file its group or others may access (Globus and ARC refuse it too)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return  # reading it reports the problem
    if mode & 0o077:
        raise ProxyError(f"key file {path} is accessible by group or others (mode {mode:04o}); a private key "
                         f"must be private: run 'chmod 600 {path}'")


def _passphrase(password: Callable[[], bytes], path: Path) -> bytes:
    try:
        value = password()
    except EOFError as exc:
        raise ProxyError(f"{path} is encrypted and no pass phrase was given (end of input); "
                         "use --password-file FILE") from exc
    except OSError as exc:  # no terminal to ask on
        raise ProxyError(f"{path} is encrypted and the pass phrase cannot be asked for ({exc.strerror or exc}); "
                         "use --password-file FILE") from exc
    if not value:
        raise ProxyError(f"{path} is encrypted and the pass phrase given is empty")
    return value


def _load_key(path: Path, password: bytes | Callable[[], bytes] | None) -> CertificateIssuerPrivateKeyTypes:
    data = _read(path, "key file")
    if b"-----BEGIN" not in data:
        raise ProxyError(f"{path} is not a PEM private key")
    _check_key_mode(path)
    pw = password if isinstance(password, bytes) else None
    try:
        key = serialization.load_pem_private_key(data, pw)
    except TypeError as exc:
        # Encrypted key without a password, or a password for an unencrypted key.
        if pw is None and callable(password):
            try:
                key = serialization.load_pem_private_key(data, _passphrase(password, path))
            except (ValueError, TypeError) as exc2:
                raise ProxyError(f"cannot decrypt {path}: wrong pass phrase?") from exc2
        elif pw is None:
            raise ProxyError(f"{path} is encrypted and no pass phrase was given") from exc
        else:
            key = serialization.load_pem_private_key(data, None)
    except ValueError as exc:
        if pw is not None:
            raise ProxyError(f"cannot decrypt {path}: wrong pass phrase?") from exc
        raise ProxyError(f"{path} is not a usable private key") from exc
    except ProxyError:
        raise
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise ProxyError(f"{path} is not a usable private key ({type(exc).__name__})") from exc
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
                      | ed448.Ed448PrivateKey):
        raise ProxyError(f"{path}: unsupported key type {type(key).__name__} (use RSA or EC)")
    return key


def _same_key(key: CertificateIssuerPrivateKeyTypes, cert: x509.Certificate) -> bool:
    fmt = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, fmt)
    return ours == cert.public_key().public_bytes(serialization.Encoding.DER, fmt)
