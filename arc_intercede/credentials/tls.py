"""The verifying TLS context: CA directory or bundle, CRLs, and a context per current proxy file.

* TLS is always verified against the configured CA directory or bundle, with hostname checks
  against the certificate's subjectAltName only (no fallback to the subject CN), and against the
  CRLs of the CA directory (:class:`~arc_intercede.config.CRLPolicy`; see :func:`make_ssl_context`).
* :class:`TLSContextProvider` hands every new connection the context for the *current* proxy file:
  it rebuilds the context when the file changes (mtime, size, inode) and refuses an expired proxy.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import ssl
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from cryptography import x509

from arc_intercede.config import CRLPolicy
from arc_intercede.credentials.files import NEW_PROXY_HINT, _stat
from arc_intercede.credentials.proxy import ProxyCredential
from arc_intercede.errors import ConfigurationError, LocalCredentialError

_log = logging.getLogger(__name__)

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
