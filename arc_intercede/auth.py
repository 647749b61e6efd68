"""Credentials: bearer-token sources, RFC 3820 proxies, and the verifying TLS context.

* Tokens are opaque strings. A :class:`TokenSource` is asked for the current token before every
  request, so a refreshed token file is picked up without rebuilding the backend.
* A proxy is an RFC 3820 proxy PEM (certificate, key, chain). It is used as the TLS client
  certificate in proxy mode, and to sign A-REX delegation requests in every mode that has one.
* TLS is always verified against the configured CA directory or bundle, with hostname checks
  against the certificate's subjectAltName only (no fallback to the subject CN), and against the
  CRLs of the CA directory (:class:`~arc_intercede.config.CRLPolicy`; see :func:`make_ssl_context`).
* :class:`TLSContextProvider` hands every new connection the context for the *current* proxy file:
  it rebuilds the context when the file changes (mtime, size, inode) and refuses an expired proxy.
* No token, key or pass phrase ever appears in a message: errors name only where a credential came
  from. Credential files readable by others are refused (private keys) or warned about.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import os
import re
import secrets
import ssl
import stat
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

from arc_intercede.config import CRLPolicy
from arc_intercede.errors import ConfigurationError, CredentialError, LocalCredentialError

__all__ = [
    "FileToken",
    "ProxyCredential",
    "StaticToken",
    "TLSContextProvider",
    "TokenSource",
    "check_token",
    "make_ssl_context",
    "shared_ssl_context",
    "token_expiry",
    "warn_if_exposed",
]

_log = logging.getLogger(__name__)

NEW_PROXY_HINT: Final = "make a new one with 'arc-intercede proxy'"
"""What to run when the proxy is missing, expired or unusable."""

# RFC 3820 proxyCertInfo extension with the "inherit all" policy (id-ppl-inheritAll).
_PROXY_CERT_INFO_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_PROXY_CERT_INFO_INHERIT_ALL: Final = b"0\x0c0\n\x06\x08+\x06\x01\x05\x05\x07\x15\x01"
# ARC back-dates delegated proxies by five minutes to absorb clock skew (DelegationInterface.cpp).
_BACKDATE: Final = dt.timedelta(minutes=5)


def file_stamp(path: Path, what: str) -> tuple[int, int]:
    """Return a (mtime, size) stamp that changes when a credential file is replaced or rewritten.

    Raises:
        LocalCredentialError: The file cannot be read.
    """
    st = _stat(path, what)
    return st.st_mtime_ns, st.st_size


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        hint = f": {NEW_PROXY_HINT}" if what == "proxy" else ""
        raise LocalCredentialError(f"{what} file {path} not found{hint}") from exc
    except OSError as exc:
        raise LocalCredentialError(f"cannot read {what} {path}: {exc.strerror}") from exc


_warned: set[tuple[str, int, int]] = set()
_warned_lock = threading.Lock()


def warn_if_exposed(path: Path, what: str) -> None:
    """Log a warning (once per file version) if ``path`` is readable by its group or by others.

    Used for files that hold or lead to secrets: proxies, tokens, pass phrases, configuration files
    (which may hold an inline token). Private keys are refused instead (:func:`check_private_key_file`).
    """
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        return
    key = (str(path), st.st_mtime_ns, st.st_mode)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _log.warning("%s %s is readable by %s (mode %04o): run 'chmod 600 %s'", what, path,
                 "others" if st.st_mode & stat.S_IROTH else "its group", stat.S_IMODE(st.st_mode), path)


def check_private_key_file(path: Path, what: str = "key file") -> None:
    """Refuse a private key file that its group or others may access, as Globus and ARC do.

    Raises:
        CredentialError: The file's mode grants any permission to group or others.
    """
    try:
        st = os.stat(path)
    except OSError:
        return  # reading it reports the problem
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise LocalCredentialError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"a private key must be private: run 'chmod 600 {path}'"
        )


# Visible ASCII only: a bearer token (RFC 6750 b64token, a JWT) never needs more, and a line break
# or control character would let http.client echo the whole header, token included, in its error.
_TOKEN_CHARS: Final = re.compile(r"[\x21-\x7e]+")


def check_token(value: str, source: str) -> str:
    """Return ``value`` if it can be sent as a bearer token, else raise naming only ``source``.

    Raises:
        CredentialError: The token is empty, or holds whitespace, line breaks, control or non-ASCII
            characters. The message never contains the token.
    """
    if not value:
        raise LocalCredentialError(f"{source} is empty")
    if _TOKEN_CHARS.fullmatch(value) is None:
        raise LocalCredentialError(
            f"{source} holds a line break, space, control or non-ASCII character: a bearer token is "
            "one line of visible ASCII characters"
        )
    return value


def token_expiry(token: str) -> dt.datetime | None:
    """Return a JWT's ``exp`` (UTC), read without verifying it; None for opaque tokens."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp: Any = json.loads(payload).get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return None
        return dt.datetime.fromtimestamp(exp, dt.UTC)
    except (ValueError, binascii.Error, AttributeError, OverflowError, OSError, RecursionError):
        return None


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
        """Return the token.

        Raises:
            CredentialError: The token cannot be sent in an HTTP header (never quoted).
        """
        return check_token(self.value, "the configured token")


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
                except OSError as exc:
                    raise LocalCredentialError(f"cannot read token file {self.path}: {exc.strerror}") from exc
                except UnicodeDecodeError as exc:  # its text would quote the token's bytes
                    raise LocalCredentialError(f"token file {self.path} is not UTF-8 text") from exc
                check_token(value, f"token file {self.path}")
                warn_if_exposed(self.path, "token file")
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

    def check_valid(self, now: dt.datetime | None = None) -> None:
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


_CA_NAME: Final = re.compile(r"[0-9a-f]{8}\.\d+")
_CRL_NAME: Final = re.compile(r"[0-9a-f]{8}\.r\d+")
_X509_V_ERR_CERT_REVOKED: Final = 23
_X509_V_ERR_CRL_SIGNATURE_FAILURE: Final = 8
_X509_V_ERR_CRL_HAS_EXPIRED: Final = 12


def _check_ca_dir(ca_dir: Path) -> None:
    if not ca_dir.exists():
        raise ConfigurationError(f"CA directory (ca_dir) {ca_dir} does not exist")
    if not ca_dir.is_dir():
        raise ConfigurationError(f"CA directory (ca_dir) {ca_dir} is not a directory (a CA bundle goes in ca_file)")
    try:
        names = os.listdir(ca_dir)
    except OSError as exc:
        raise ConfigurationError(f"cannot read CA directory (ca_dir) {ca_dir}: {exc.strerror}") from exc
    if not any(_CA_NAME.fullmatch(n) for n in names):
        raise ConfigurationError(
            f"CA directory (ca_dir) {ca_dir} holds no CA certificates named <hash>.0 (a hashed CA directory such as "
            "/etc/grid-security/certificates; run 'openssl rehash' on it)"
        )


def _check_ca_file(ca_file: Path) -> None:
    if not ca_file.exists():
        raise ConfigurationError(f"CA bundle (ca_file) {ca_file} does not exist")
    if not ca_file.is_file():
        raise ConfigurationError(f"CA bundle (ca_file) {ca_file} is not a file (a hashed CA directory goes in ca_dir)")


def _load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    if b"-----BEGIN X509 CRL-----" not in data:
        return [x509.load_der_x509_crl(data)]
    out = []
    for block in re.findall(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", data, re.DOTALL):
        out.append(x509.load_pem_x509_crl(block))
    return out


def _load_certs(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" not in data:
        return []
    return x509.load_pem_x509_certificates(data)


class _RevocationCheck:
    """Checks the CE certificate against the CRLs of the CA directory (policy ``if-present``).

    CRLs and CA certificates are read on first use and indexed by issuer/subject name. A leaf whose
    issuer has no CRL passes (ARC's client and Globus treat that as site policy); one listed in a
    CRL, or whose issuer's CRL is expired or badly signed, is refused, as OpenSSL's own check would.
    """

    def __init__(self, ca_dir: Path | None, ca_file: Path | None) -> None:
        self._ca_dir = ca_dir
        self._ca_file = ca_file
        self._lock = threading.Lock()
        self._crls: dict[x509.Name, list[tuple[str, x509.CertificateRevocationList]]] | None = None
        self._cas: dict[x509.Name, list[x509.Certificate]] = {}
        self._verified: dict[int, bool] = {}

    def _index(self) -> dict[x509.Name, list[tuple[str, x509.CertificateRevocationList]]]:
        with self._lock:
            if self._crls is not None:
                return self._crls
            crls: dict[x509.Name, list[tuple[str, x509.CertificateRevocationList]]] = {}
            sources: list[tuple[Path, bool]] = []
            if self._ca_file is not None:
                sources.append((self._ca_file, True))
            if self._ca_dir is not None:
                try:
                    names = sorted(os.listdir(self._ca_dir))
                except OSError:
                    names = []
                sources += [(self._ca_dir / n, False) for n in names if _CA_NAME.fullmatch(n) or _CRL_NAME.fullmatch(n)]
            for path, bundle in sources:
                try:
                    data = path.read_bytes()
                except OSError as exc:
                    _log.warning("cannot read %s: %s", path, exc.strerror)
                    continue
                try:
                    if bundle or _CA_NAME.fullmatch(path.name):
                        for cert in _load_certs(data):
                            self._cas.setdefault(cert.subject, []).append(cert)
                    if bundle and b"-----BEGIN X509 CRL-----" not in data:
                        continue
                    if bundle or _CRL_NAME.fullmatch(path.name):
                        for crl in _load_crls(data):
                            crls.setdefault(crl.issuer, []).append((str(path), crl))
                except ValueError as exc:
                    _log.warning("skipping unreadable %s in the CA directory: %s", path, exc)
            self._crls = crls
            return crls

    def __call__(self, der: bytes) -> None:
        """Raise :class:`ssl.SSLCertVerificationError` if the certificate ``der`` must be refused."""
        cert = x509.load_der_x509_certificate(der)
        crls = self._index().get(cert.issuer, [])
        if not crls:
            _log.debug("no CRL for %s in the CA directory: accepted (crl policy if-present)",
                       cert.issuer.rfc4514_string())
            return
        now = dt.datetime.now(dt.UTC)
        issuers = self._cas.get(cert.issuer, [])
        for path, crl in crls:
            with self._lock:
                good = self._verified.get(id(crl))
                if good is None:  # verified once per CRL: a big CRL's signature is costly to check
                    good = self._verified[id(crl)] = any(_signed_by(crl, ca) for ca in issuers)
            if not good:
                _refuse(_X509_V_ERR_CRL_SIGNATURE_FAILURE, f"CRL signature failure ({path})")
            next_update = crl.next_update_utc
            if next_update is not None and next_update < now:
                _refuse(_X509_V_ERR_CRL_HAS_EXPIRED,
                        f"CRL has expired ({path}, at {next_update:%Y-%m-%d %H:%M} UTC: update the CA directory, "
                        "e.g. with fetch-crl)")
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                _refuse(_X509_V_ERR_CERT_REVOKED, f"certificate revoked ({path})")


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _refuse(code: int, message: str) -> None:
    exc = ssl.SSLCertVerificationError(1, f"certificate verify failed: {message}")
    exc.verify_code = code
    exc.verify_message = message
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    raise exc


class _CheckedSocket(ssl.SSLSocket):
    """An SSLSocket that runs the context's revocation check right after the handshake."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        check: _RevocationCheck | None = getattr(self.context, "_arc_revocation_check", None)
        if check is not None:
            der = self.getpeercert(binary_form=True)
            if der:
                check(der)


def _no_passphrase() -> bytes:
    raise LocalCredentialError(f"the proxy's private key is encrypted: {NEW_PROXY_HINT}")


def make_ssl_context(
    *,
    ca_dir: Path | None,
    ca_file: Path | None,
    client_cert: Path | None = None,
    loader: Callable[[ssl.SSLContext], None] | None = None,
    crl_policy: CRLPolicy = CRLPolicy.IF_PRESENT,
) -> ssl.SSLContext:
    """Build a TLS client context that verifies the CE (CA directory and/or bundle, hostname, CRLs).

    Hostnames are checked against the certificate's subjectAltName only: a certificate without one
    is refused (no fallback to the subject CN). CRLs are the CA directory's ``<hash>.r0..rN`` files
    (and any CRL in ``ca_file``); with ``crl_policy``:

    * ``IF_PRESENT`` (default, like ARC's client): the CE certificate is refused if its issuer's CRL
      lists it, or if that CRL is expired or badly signed; an issuer without a CRL is accepted.
    * ``REQUIRE``: OpenSSL's own leaf CRL check; an issuer without a CRL is refused too.
    * ``OFF``: CRLs are ignored.

    ``.signing_policy`` and ``.namespaces`` files are not evaluated: every CA in the directory is
    trusted for any subject, as by DIRAC and Python/OpenSSL clients (see the README).

    Args:
        ca_dir: A hashed CA directory such as ``/etc/grid-security/certificates``.
        ca_file: A PEM bundle of CA certificates (and optionally CRLs).
        client_cert: A proxy PEM presented as the TLS client certificate (proxy mode).
        loader: Extra set-up applied last (tests).
        crl_policy: How CRLs are used (above).

    Raises:
        ConfigurationError: No CA given, a CA path is wrong (named), or it cannot be loaded.
        CredentialError: The client certificate cannot be loaded (never prompts for a pass phrase).
    """
    if ca_dir is None and ca_file is None:
        raise ConfigurationError("a CA directory (ca_dir) or CA bundle (ca_file) is required")
    if ca_dir is not None:
        _check_ca_dir(Path(ca_dir))
    if ca_file is not None:
        _check_ca_file(Path(ca_file))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.hostname_checks_common_name = False
    try:
        ctx.load_verify_locations(
            cafile=str(ca_file) if ca_file else None, capath=str(ca_dir) if ca_dir else None
        )
    except (OSError, ssl.SSLError) as exc:
        where = ca_file if ca_file is not None else ca_dir
        raise ConfigurationError(f"cannot load CA certificates from {where}: {exc}") from exc
    if crl_policy is CRLPolicy.REQUIRE:
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    elif crl_policy is CRLPolicy.IF_PRESENT:
        ctx.sslsocket_class = _CheckedSocket
        ctx._arc_revocation_check = _RevocationCheck(  # type: ignore[attr-defined]
            Path(ca_dir) if ca_dir else None, Path(ca_file) if ca_file else None
        )
    if client_cert is not None:
        try:
            ctx.load_cert_chain(str(client_cert), password=_no_passphrase)
        except (OSError, ssl.SSLError) as exc:
            raise LocalCredentialError(
                f"cannot use proxy {client_cert} as TLS client certificate: {exc} ({NEW_PROXY_HINT})"
            ) from exc
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
    return str(path), st.st_mtime_ns, st.st_size, st.st_ino


def shared_ssl_context(*, ca_dir: Path | None, ca_file: Path | None, client_cert: Path | None = None,
                       crl_policy: CRLPolicy = CRLPolicy.IF_PRESENT) -> ssl.SSLContext:
    """Return :func:`make_ssl_context`'s context, one per set of unchanged CA and certificate files.

    Backends of many CEs with the same credentials share one context (a CA bundle is held once, not
    once per CE). A file rewritten since (a renewed proxy, an updated bundle, a CA directory whose
    CRLs changed) gives a new context; a context nobody uses any more is dropped.
    """
    key = (_file_key(ca_dir), _file_key(ca_file), _file_key(client_cert), crl_policy)
    with _contexts_lock:
        ctx = _contexts.get(key)
    if ctx is None:
        made = make_ssl_context(ca_dir=ca_dir, ca_file=ca_file, client_cert=client_cert, crl_policy=crl_policy)
        with _contexts_lock:
            ctx = _contexts.setdefault(key, made)
    return ctx


class TLSContextProvider:
    """Gives each new connection the TLS context for the current proxy file (and CA directory).

    The context is rebuilt when the proxy file (proxy mode) or the CA directory changes: a stamp of
    the file's mtime, size and inode and the directory's mtime is compared on every call, which costs
    one ``stat`` each. An expired proxy is refused before any connection is made.

    Args:
        ca_dir: Hashed CA directory.
        ca_file: CA bundle.
        client_cert: The proxy file presented as the TLS client certificate (proxy mode), or None.
        crl_policy: See :func:`make_ssl_context`.

    Raises:
        ConfigurationError, CredentialError: As :func:`make_ssl_context` and
            :meth:`ProxyCredential.load`, at construction (the first context is built at once).
    """

    def __init__(self, *, ca_dir: Path | None, ca_file: Path | None, client_cert: Path | None,
                 crl_policy: CRLPolicy = CRLPolicy.IF_PRESENT) -> None:
        self._ca_dir = ca_dir
        self._ca_file = ca_file
        self._client_cert = client_cert
        self._crl_policy = crl_policy
        self._lock = threading.Lock()
        self._stamp: tuple[object, ...] | None = None
        self._proxy: ProxyCredential | None = None
        self.current: ssl.SSLContext = self.context()

    def __repr__(self) -> str:
        return f"TLSContextProvider(client_cert={str(self._client_cert)!r})"

    @property
    def proxy(self) -> ProxyCredential | None:
        """The proxy the current context presents (None without a client certificate)."""
        return self._proxy

    def _stamp_now(self) -> tuple[object, ...]:
        stamp: list[object] = []
        if self._client_cert is not None:
            st = _stat(self._client_cert, "proxy")
            stamp.append((st.st_mtime_ns, st.st_size, st.st_ino))
        if self._ca_dir is not None:
            try:
                stamp.append(os.stat(self._ca_dir).st_mtime_ns)
            except OSError:
                stamp.append(None)
        return tuple(stamp)

    def context(self) -> ssl.SSLContext:
        """Return the context to use for a new connection, rebuilt if the files changed.

        Raises:
            CredentialError: The proxy file is missing, unusable or expired (non-transient).
            ConfigurationError: The CA setting became unusable.
        """
        with self._lock:
            stamp = self._stamp_now()
            if stamp != self._stamp:
                proxy = ProxyCredential.load(self._client_cert) if self._client_cert is not None else None
                ctx = shared_ssl_context(ca_dir=self._ca_dir, ca_file=self._ca_file, client_cert=self._client_cert,
                                         crl_policy=self._crl_policy)
                if self._stamp is not None:
                    _log.info("TLS context rebuilt (%s changed)", "proxy file" if proxy is not None else "CA directory")
                self.current, self._proxy, self._stamp = ctx, proxy, stamp
            if self._proxy is not None:
                self._proxy.check_valid()
            return self.current


def current_context(source: ssl.SSLContext | TLSContextProvider) -> ssl.SSLContext:
    """The context a new connection uses: ``source`` itself, or a provider's current one."""
    return source.context() if isinstance(source, TLSContextProvider) else source
