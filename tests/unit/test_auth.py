"""arc_intercede.credentials: the verifying TLS context, token sources, RFC 3820 proxies and delegation signing."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from arc_intercede.credentials import FileToken, ProxyCredential, StaticToken, make_ssl_context
from arc_intercede.errors import ConfigurationError, CredentialError
from tests.fake_arex import PKI, FakeAREX, make_csr_pem, make_pki

PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
INHERIT_ALL = b"0\x0c0\n\x06\x08+\x06\x01\x05\x05\x07\x15\x01"




def handshake(ctx: ssl.SSLContext, port: int, host: str = "localhost") -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host):
        pass


# --- make_ssl_context -----------------------------------------------------------------------------------


def test_context_verifies_with_ca_file(pki: PKI, ce: FakeAREX) -> None:
    ctx = make_ssl_context(ca_dir=None, ca_file=pki.ca_file)
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname is True
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert len(ctx.get_ca_certs()) == 1
    handshake(ctx, ce.port)
    with pytest.raises(ssl.SSLCertVerificationError, match=r"mismatch|match"):
        handshake(ctx, ce.port, host="127.0.0.1")


def test_context_rejects_unknown_ca(pki: PKI, ce: FakeAREX, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "stranger")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(make_ssl_context(ca_dir=None, ca_file=stranger.ca_file), ce.port)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed to hash the CA directory")
def test_context_verifies_with_hashed_ca_dir(pki: PKI, ce: FakeAREX, tmp_path: Path) -> None:
    subject_hash = subprocess.run(
        ["openssl", "x509", "-hash", "-noout", "-in", str(pki.ca_file)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    ca_dir = tmp_path / "certificates"
    ca_dir.mkdir()
    (ca_dir / f"{subject_hash}.0").write_bytes(pki.ca_file.read_bytes())
    handshake(make_ssl_context(ca_dir=ca_dir, ca_file=None), ce.port)
    other = tmp_path / "other"
    other.mkdir()
    (other / f"{subject_hash}.0").write_bytes(make_pki(tmp_path / "stranger").ca_file.read_bytes())
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(make_ssl_context(ca_dir=other, ca_file=None), ce.port)


def test_context_requires_a_ca() -> None:
    with pytest.raises(ConfigurationError, match=r"ca_dir.*ca_file"):
        make_ssl_context(ca_dir=None, ca_file=None)


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_context_rejects_bad_ca_file(tmp_path: Path, content: bytes | None) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_bytes(content)
    with pytest.raises(ConfigurationError, match="CA"):
        make_ssl_context(ca_dir=None, ca_file=ca)


def test_context_rejects_bad_client_cert(pki: PKI, tmp_path: Path) -> None:
    bad = tmp_path / "proxy.pem"
    bad.write_bytes(pki.cert_file.read_bytes())  # a certificate without its key
    with pytest.raises(CredentialError, match="proxy"):
        make_ssl_context(ca_dir=None, ca_file=pki.ca_file, client_cert=bad)


def test_context_loader_runs_last(pki: PKI) -> None:
    seen: list[ssl.SSLContext] = []
    ctx = make_ssl_context(ca_dir=None, ca_file=pki.ca_file, loader=seen.append)
    assert seen == [ctx]


# --- tokens ---------------------------------------------------------------------------------------------


def test_static_token_is_redacted() -> None:
    tok = StaticToken("s3cret-value")
    assert tok.token() == "s3cret-value"
    assert "s3cret" not in repr(tok) and "s3cret" not in str(tok) and "s3cret" not in f"{[tok]}"


def test_file_token_rereads_on_change(tmp_path: Path) -> None:
    path = tmp_path / "bt"
    path.write_text("first-token\n")
    source = FileToken(path)
    assert source.token() == "first-token"
    path.write_text("second-token-longer")
    assert source.token() == "second-token-longer"
    # Same size, content replaced: the mtime stamp still changes.
    stat = path.stat()
    path.write_text("third-token-longer!")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert source.token() == "third-token-longer!"
    # Atomic replacement, as token refreshers do.
    tmp = tmp_path / "bt.new"
    tmp.write_text("  fourth  \n")
    tmp.replace(path)
    assert source.token() == "fourth"
    assert "fourth" not in repr(source) and str(path) in repr(source)


def test_file_token_is_cached_while_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bt"
    path.write_text("tok")
    source = FileToken(path)
    assert source.token() == "tok"
    reads: list[Path] = []
    original = Path.read_text

    def counting(self: Path, *args: Any, **kwargs: Any) -> str:
        reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    assert source.token() == "tok"
    assert reads == []


def test_file_token_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope"
    with pytest.raises(CredentialError) as info:
        FileToken(path).token()
    assert str(path) in str(info.value) and "token file" in str(info.value)


@pytest.mark.parametrize("content", ["", "  \n\t\n"])
def test_file_token_empty(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bt"
    path.write_text(content)
    with pytest.raises(CredentialError, match="empty"):
        FileToken(path).token()


def test_file_token_removed_later(tmp_path: Path) -> None:
    path = tmp_path / "bt"
    path.write_text("tok")
    source = FileToken(path)
    assert source.token() == "tok"
    path.unlink()
    with pytest.raises(CredentialError):
        source.token()


# --- RFC 3820 proxies -------------------------------------------------------------------------------------


def _name(*cns: str) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Grid"), *[
        x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns]]
    return x509.Name(attrs)


def make_proxy(folder: Path, *, expires_in: dt.timedelta = dt.timedelta(hours=12), rsa_key: bool = False) -> Path:
    """User CA -> user certificate -> RFC 3820 proxy; written as proxy cert, proxy key, user cert."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("User CA")).issuer_name(_name("User CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    user_key = ec.generate_private_key(ec.SECP256R1())
    user = (x509.CertificateBuilder().subject_name(_name("Jane Doe")).issuer_name(ca.subject)
            .public_key(user_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(ca_key, hashes.SHA256()))
    proxy_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) if rsa_key
        else ec.generate_private_key(ec.SECP256R1()))
    proxy = (x509.CertificateBuilder().subject_name(_name("Jane Doe", "12345")).issuer_name(user.subject)
             .public_key(proxy_key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(days=1) if expires_in < dt.timedelta(0) else now)
             .not_valid_after(now + expires_in)
             .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO, INHERIT_ALL), critical=True)
             .sign(user_key, hashes.SHA256()))
    path = folder / "x509up"
    path.write_bytes(
        proxy.public_bytes(serialization.Encoding.PEM)
        + proxy_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption())
        + user.public_bytes(serialization.Encoding.PEM)
    )
    return path


@pytest.fixture(scope="module")
def proxy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_proxy(tmp_path_factory.mktemp("proxy"))


def test_proxy_load(proxy_file: Path) -> None:
    proxy = ProxyCredential.load(proxy_file)
    certs = x509.load_pem_x509_certificates(proxy_file.read_bytes())
    assert proxy.certificate == certs[0]
    assert x509.load_pem_x509_certificates(proxy.chain_pem) == certs  # proxy + user cert, no key
    assert b"PRIVATE KEY" not in proxy.chain_pem
    assert 11 * 3600 < proxy.seconds_left() <= 12 * 3600
    assert proxy.not_after == certs[0].not_valid_after_utc
    assert "PRIVATE" not in repr(proxy) and "x509up" in repr(proxy) and "expires=" in repr(proxy)


@pytest.mark.parametrize("rsa_key", [False, True])
def test_sign_delegation(tmp_path: Path, rsa_key: bool) -> None:
    proxy = ProxyCredential.load(make_proxy(tmp_path, rsa_key=rsa_key))
    csr_pem = make_csr_pem()
    before = dt.datetime.now(dt.UTC)
    chain = x509.load_pem_x509_certificates(proxy.sign_delegation(csr_pem))
    new = chain[0]
    assert chain[1:] == x509.load_pem_x509_certificates(proxy.chain_pem)
    assert new.issuer == proxy.certificate.subject
    assert list(new.subject)[:-1] == list(proxy.certificate.subject)  # proxy subject + one CN
    assert new.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[-1].value.isdigit()
    new.verify_directly_issued_by(proxy.certificate)
    csr = x509.load_pem_x509_csr(csr_pem)
    assert new.public_key() == csr.public_key()
    backdate = before - new.not_valid_before_utc
    assert dt.timedelta(minutes=4) < backdate <= dt.timedelta(minutes=5, seconds=2)
    assert new.not_valid_after_utc == proxy.not_after  # never outlives the proxy
    ext = new.extensions.get_extension_for_oid(PROXY_CERT_INFO)
    assert ext.critical
    assert new.serial_number != proxy.certificate.serial_number


def test_sign_delegation_lifetime_is_clamped(proxy_file: Path) -> None:
    proxy = ProxyCredential.load(proxy_file)
    short = x509.load_pem_x509_certificates(
        proxy.sign_delegation(make_csr_pem().decode(), lifetime=dt.timedelta(hours=1)))[0]
    left = short.not_valid_after_utc - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=59) < left <= dt.timedelta(hours=1)
    long = x509.load_pem_x509_certificates(
        proxy.sign_delegation(make_csr_pem(), lifetime=dt.timedelta(days=30)))[0]
    assert long.not_valid_after_utc == proxy.not_after


def test_sign_delegation_rejects_bad_csr(proxy_file: Path) -> None:
    proxy = ProxyCredential.load(proxy_file)
    with pytest.raises(CredentialError, match="CSR"):
        proxy.sign_delegation(b"-----BEGIN CERTIFICATE REQUEST-----\ngarbage\n-----END CERTIFICATE REQUEST-----\n")
    with pytest.raises(CredentialError):
        proxy.sign_delegation("")


def test_expired_proxy(tmp_path: Path) -> None:
    path = make_proxy(tmp_path, expires_in=-dt.timedelta(minutes=1))
    with pytest.raises(CredentialError, match="expired"):
        ProxyCredential.load(path)


def test_missing_or_broken_proxy(tmp_path: Path, proxy_file: Path) -> None:
    with pytest.raises(CredentialError, match="not found: make a new one with 'arc-intercede proxy'"):
        ProxyCredential.load(tmp_path / "absent")
    no_key = tmp_path / "nokey.pem"
    no_key.write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in x509.load_pem_x509_certificates(proxy_file.read_bytes())))
    with pytest.raises(CredentialError, match="no private key: it is not a proxy"):
        ProxyCredential.load(no_key)
    junk = tmp_path / "junk.pem"
    junk.write_text("hello")
    with pytest.raises(CredentialError):
        ProxyCredential.load(junk)


def test_signed_delegation_is_accepted_by_the_ce(proxy_file: Path, pki: PKI, ce: FakeAREX) -> None:
    from arc_intercede._rest import ClientSettings, negotiate

    client = negotiate(ClientSettings(
        host="localhost", port=ce.port, api_base="/arex",
        ssl_context=make_ssl_context(ca_dir=None, ca_file=pki.ca_file), connect_timeout_s=5, read_timeout_s=5,
        token_source=StaticToken("tok"),
    ))
    try:
        deleg, csr = client.new_delegation()
        pem = ProxyCredential.load(proxy_file).sign_delegation(csr)
        client.put_delegation(deleg, pem)
        stored = client.get_delegation(deleg)
    finally:
        client.close()
    assert stored is not None
    assert x509.load_pem_x509_certificates(stored.encode())[0].public_key() == \
        x509.load_pem_x509_csr(csr.encode()).public_key()
