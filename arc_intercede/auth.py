"""Credentials: bearer-token sources, RFC 3820 proxies, and the verifying TLS context.

* Tokens are opaque strings. A :class:`TokenSource` is asked for the current token before every
  request, so a refreshed token file is picked up without rebuilding the backend.
* A proxy is an RFC 3820 proxy PEM (certificate, key, chain). It is used as the TLS client
  certificate in proxy mode, and to sign A-REX delegation requests in every mode that has one.
* TLS is always verified against the configured CA directory or bundle, with hostname checks.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import ssl
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from arc_intercede.errors import ConfigurationError, CredentialError

__all__ = [
    "FileToken",
    "ProxyCredential",
    "StaticToken",
    "TokenSource",
    "make_ssl_context",
    "shared_ssl_context",
]

# RFC 3820 proxyCertInfo extension with the "inherit all" policy (id-ppl-inheritAll).
_PROXY_CERT_INFO_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_PROXY_CERT_INFO_INHERIT_ALL: Final = b"0\x0c0\n\x06\x08+\x06\x01\x05\x05\x07\x15\x01"
# ARC back-dates delegated proxies by five minutes to absorb clock skew (DelegationInterface.cpp).
_BACKDATE: Final = dt.timedelta(minutes=5)


def file_stamp(path: Path, what: str) -> tuple[int, int]:
    """Return a (mtime, size) stamp that changes when a credential file is replaced or rewritten.

    Raises:
        CredentialError: The file cannot be read.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise CredentialError(f"cannot read {what} {path}: {exc.strerror}") from exc
    return st.st_mtime_ns, st.st_size


class TokenSource(Protocol):
    """Something that returns the bearer token to send with the next request."""

    def token(self) -> str:
        """Return the current token (without the ``Bearer`` prefix)."""
        ...


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed token string."""

    value: str

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"

    def token(self) -> str:
        """Return the token."""
        return self.value


class FileToken:
    """A token read from a file, re-read whenever the file changes (WLCG bearer-token files)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value = ""

    def __repr__(self) -> str:
        return f"FileToken({str(self.path)!r})"

    def token(self) -> str:
        """Return the token in the file, reading it again if it changed since the last call."""
        stamp = file_stamp(self.path, "token file")
        with self._lock:
            if stamp != self._stamp:
                try:
                    value = self.path.read_text(encoding="utf-8").strip()
                except (OSError, UnicodeDecodeError) as exc:
                    raise CredentialError(f"cannot read token file {self.path}: {exc}") from exc
                if not value:
                    raise CredentialError(f"token file {self.path} is empty")
                self._value, self._stamp = value, stamp
            return self._value


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
        except OSError as exc:
            raise CredentialError(f"cannot read proxy {path}: {exc.strerror}") from exc
        try:
            certs = x509.load_pem_x509_certificates(pem)
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise CredentialError(f"{path} is not a PEM proxy with certificate and key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise CredentialError(f"{path}: unsupported proxy key type {type(key).__name__}")
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
        proxy = cls(path=Path(path), certificate=certs[0], chain_pem=chain, key=key)
        if proxy.seconds_left() <= 0:
            raise CredentialError(f"proxy {path} expired at {proxy.not_after.isoformat()}")
        return proxy

    @property
    def not_after(self) -> dt.datetime:
        """When the proxy expires (UTC)."""
        return self.certificate.not_valid_after_utc

    def seconds_left(self, now: dt.datetime | None = None) -> float:
        """Seconds until the proxy expires (negative once expired)."""
        now = now or dt.datetime.now(dt.UTC)
        return (self.not_after - now).total_seconds()

    def sign_delegation(self, csr_pem: bytes | str, lifetime: dt.timedelta | None = None) -> bytes:
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
        now = dt.datetime.now(dt.UTC)
        not_after = self.not_after if lifetime is None else min(self.not_after, now + lifetime)
        subject = x509.Name(
            [*self.certificate.subject, x509.NameAttribute(NameOID.COMMON_NAME, str(secrets.randbits(31)))]
        )
        issuer_key_id = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        builder = (
            x509.CertificateBuilder()
            .issuer_name(self.certificate.subject)
            .subject_name(subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, content_commitment=False, key_encipherment=True,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier(
                    key_identifier=issuer_key_id.digest,
                    authority_cert_issuer=None,
                    authority_cert_serial_number=None,
                ),
                critical=False,
            )
            .add_extension(
                x509.UnrecognizedExtension(_PROXY_CERT_INFO_OID, _PROXY_CERT_INFO_INHERIT_ALL), critical=True
            )
        )
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM) + self.chain_pem


def make_ssl_context(
    *,
    ca_dir: Path | None,
    ca_file: Path | None,
    client_cert: Path | None = None,
    loader: Callable[[ssl.SSLContext], None] | None = None,
) -> ssl.SSLContext:
    """Build a TLS client context that verifies the CE (CA directory and/or bundle, hostname).

    Args:
        ca_dir: A hashed CA directory such as ``/etc/grid-security/certificates``.
        ca_file: A PEM bundle of CA certificates.
        client_cert: A proxy PEM presented as the TLS client certificate (proxy mode).
        loader: Extra set-up applied last (tests).

    Raises:
        ConfigurationError: No CA given, or it cannot be loaded.
        CredentialError: The client certificate cannot be loaded.
    """
    if ca_dir is None and ca_file is None:
        raise ConfigurationError("a CA directory (ca_dir) or CA bundle (ca_file) is required")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(
            cafile=str(ca_file) if ca_file else None, capath=str(ca_dir) if ca_dir else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigurationError(f"cannot load CA certificates: {exc}") from exc
    if client_cert is not None:
        try:
            ctx.load_cert_chain(str(client_cert))
        except (OSError, ssl.SSLError) as exc:
            raise CredentialError(f"cannot use proxy {client_cert} as TLS client certificate: {exc}") from exc
    if loader is not None:
        loader(ctx)
    return ctx


_contexts: weakref.WeakValueDictionary[tuple[Any, ...], ssl.SSLContext] = weakref.WeakValueDictionary()
_contexts_lock = threading.Lock()


def _file_key(path: Path | None) -> tuple[Any, ...] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (str(path),)  # make_ssl_context reports the error
    return str(path), st.st_mtime_ns, st.st_size


def shared_ssl_context(*, ca_dir: Path | None, ca_file: Path | None, client_cert: Path | None = None) -> ssl.SSLContext:
    """Return :func:`make_ssl_context`'s context, one per set of unchanged CA and certificate files.

    Backends of many CEs with the same credentials share one context (a CA bundle is held once, not
    once per CE). A file rewritten since (a renewed proxy, an updated bundle) gives a new context; a
    context nobody uses any more is dropped.
    """
    key = (_file_key(ca_dir), _file_key(ca_file), _file_key(client_cert))
    with _contexts_lock:
        ctx = _contexts.get(key)
    if ctx is None:
        made = make_ssl_context(ca_dir=ca_dir, ca_file=ca_file, client_cert=client_cert)
        with _contexts_lock:
            ctx = _contexts.setdefault(key, made)
    return ctx
