"""RFC 3820 proxies: ``make_proxy`` (like ``arcproxy`` without VOMS) and ``ProxyCredential`` (load, sign delegations).

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

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from arc_intercede.credentials.files import NEW_PROXY_HINT, warn_if_exposed
from arc_intercede.credentials.proxycert import (
    BACKDATE,
    PROXY_CERT_INFO_OID,
    PROXY_POLICY_INHERIT_ALL,
    build_proxy_certificate,
)
from arc_intercede.errors import CredentialError, LocalCredentialError

__all__ = [
    "PROXY_CERT_INFO_OID",
    "PROXY_POLICY_INHERIT_ALL",
    "ProxyCredential",
    "ProxyError",
    "ProxyInfo",
    "default_proxy_path",
    "make_proxy",
    "slash_subject",
]

_log = logging.getLogger(__name__)



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
    proxy_cert = build_proxy_certificate(
        issuer=user_cert, issuer_key=user_key, public_key=proxy_key.public_key(), subject=subject, serial=serial,
        not_before=not_before, not_after=not_after, extensions=extensions,
    )
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


@dataclass(frozen=True, slots=True)
class ProxyCredential:
    """An RFC 3820 proxy loaded from a PEM file (certificate, private key, then the chain)."""

    path: Path
    certificate: x509.Certificate
    chain_pem: bytes
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    def __repr__(self) -> str:
        return f"ProxyCredential({str(self.path)!r}, expires={self.not_after.isoformat()})"

    @classmethod
    def load(cls, path: Path) -> ProxyCredential:
        """Read and check a proxy file.

        Raises:
            CredentialError: The file is missing, unreadable, not a proxy, or expired.
        """
        try:
            pem = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise LocalCredentialError(f"proxy file {path} not found: {NEW_PROXY_HINT}") from exc
        except OSError as exc:
            raise LocalCredentialError(f"cannot read proxy {path}: {exc.strerror}") from exc
        warn_if_exposed(Path(path), "proxy file")
        try:
            certs = x509.load_pem_x509_certificates(pem)
        except ValueError as exc:
            raise LocalCredentialError(
                f"{path} holds no PEM certificate: it is not a proxy ({NEW_PROXY_HINT})") from exc
        if b"PRIVATE KEY-----" not in pem:
            raise LocalCredentialError(
                f"{path} holds a certificate but no private key: it is not a proxy ({NEW_PROXY_HINT})"
            )
        if b"ENCRYPTED PRIVATE KEY-----" in pem or b"Proc-Type: 4,ENCRYPTED" in pem:
            # Never let OpenSSL open its pass phrase prompt on the terminal (it would block the loop).
            raise LocalCredentialError(f"{path} holds an encrypted private key: a proxy's key is unencrypted "
                                  f"({NEW_PROXY_HINT})")
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except TypeError as exc:
            raise LocalCredentialError(f"{path} holds an encrypted private key: a proxy's key is unencrypted "
                                  f"({NEW_PROXY_HINT})") from exc
        except ValueError as exc:  # the message of cryptography says nothing secret, but keep it short
            raise LocalCredentialError(f"{path}: the private key cannot be read ({NEW_PROXY_HINT})") from exc
        except Exception as exc:  # UnsupportedAlgorithm
            raise LocalCredentialError(f"{path}: unsupported proxy key ({NEW_PROXY_HINT})") from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise LocalCredentialError(f"{path}: unsupported proxy key type {type(key).__name__}")
        fmt = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, fmt) != \
                certs[0].public_key().public_bytes(serialization.Encoding.DER, fmt):
            raise LocalCredentialError(f"{path}: the private key does not belong to the first certificate "
                                  f"({NEW_PROXY_HINT})")
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        proxy = cls(path=Path(path), certificate=certs[0], chain_pem=chain, key=key)
        proxy.check_valid()
        return proxy

    def check_valid(self, now: datetime | None = None) -> None:
        """Raise unless the proxy is valid now.

        Raises:
            CredentialError: The proxy expired (the message says when and what to run), non-transient.
        """
        if self.seconds_left(now) <= 0:
            raise LocalCredentialError(
                f"proxy {self.path} expired at {self.not_after:%Y-%m-%d %H:%M:%S} UTC: {NEW_PROXY_HINT}",
                transient=False,
            )

    @property
    def not_after(self) -> datetime:
        """When the proxy expires (UTC)."""
        return self.certificate.not_valid_after_utc

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds until the proxy expires (negative once expired)."""
        now = now or datetime.now(UTC)
        return (self.not_after - now).total_seconds()

    def sign_delegation(self, csr_pem: bytes | str, lifetime: timedelta | None = None) -> bytes:
        """Sign an A-REX delegation CSR and return the PEM to upload (new cert + our chain).

        The new proxy is back-dated five minutes, never outlives this proxy, and has a fresh
        serial number.

        Raises:
            CredentialError: The CSR is malformed or its signature is invalid.
        """
        if isinstance(csr_pem, str):
            csr_pem = csr_pem.encode("ascii", "replace")
        try:
            csr = x509.load_pem_x509_csr(csr_pem)
        except ValueError as exc:
            raise CredentialError(f"delegation request from the CE is not a valid CSR: {exc}") from exc
        if not csr.is_signature_valid:
            raise CredentialError("delegation request from the CE has an invalid signature")
        now = datetime.now(UTC)
        not_after = self.not_after if lifetime is None else min(self.not_after, now + lifetime)
        subject = x509.Name(
            [*self.certificate.subject, x509.NameAttribute(NameOID.COMMON_NAME, str(secrets.randbits(31)))]
        )
        cert = build_proxy_certificate(
            issuer=self.certificate, issuer_key=self.key, public_key=csr.public_key(), subject=subject,
            serial=x509.random_serial_number(), not_before=now - BACKDATE, not_after=not_after,
        )
        return cert.public_bytes(serialization.Encoding.PEM) + self.chain_pem
