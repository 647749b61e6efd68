"""TLS verification of the CE through the backend: CRLs (every policy, every auth mode), no CN fallback,
wrong CA settings, and the TLS client certificate following the current proxy file.

Every test talks to a real HTTPS server on loopback (the fake A-REX) whose certificate comes from a
throwaway CA made here, with real CRLs in a real hashed CA directory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from arc_intercede import ARCBackend, ARCConfig
from arc_intercede.config import CRLPolicy
from arc_intercede.credentials import TLSContextProvider, make_proxy, make_ssl_context
from arc_intercede.errors import ConfigurationError, CredentialError, LocalCredentialError, TransportError
from tests.fake_arex import PKI, FakeAREX, _Handler, _Server

NOW = dt.datetime.now(dt.UTC)


@dataclass
class CA:
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str | None = None) -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(cn or f"tls test CA {uuid.uuid4().hex[:8]}")
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CA(key, cert)


def issue_server(ca: CA, folder: Path, *, san: bool = True) -> tuple[PKI, int]:
    """A ``localhost`` server certificate from ``ca`` (with or without a SAN); returns the PKI and its serial."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.cert.subject)
        .public_key(key.public_key()).serial_number(serial)
        .not_valid_before(NOW - dt.timedelta(hours=1)).not_valid_after(NOW + dt.timedelta(days=2))
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    pki = PKI(folder, folder / "ca.pem", folder / "server.pem", folder / "server.key", ca.cert)
    pki.ca_file.write_bytes(ca.pem)
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return pki, serial


def make_crl(ca: CA, revoked: list[int], *, next_update: dt.timedelta = dt.timedelta(days=7),
             signer: ec.EllipticCurvePrivateKey | None = None) -> bytes:
    last = NOW - (dt.timedelta(days=1) if next_update < dt.timedelta(0) else dt.timedelta(hours=1))
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(last).next_update(NOW + next_update))
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - dt.timedelta(hours=2)).build())
    return builder.sign(signer or ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def subject_hash(pem: bytes) -> str:
    return subprocess.run(["openssl", "x509", "-hash", "-noout"], input=pem, capture_output=True,
                          check=True).stdout.decode().strip()


def ca_dir(folder: Path, cas: list[CA], crls: dict[int, bytes] | None = None) -> Path:
    """A hashed CA directory: ``<hash>.0`` per CA, ``<hash>.r0`` for CAs (by index) given a CRL."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, ca in enumerate(cas):
        h = subject_hash(ca.pem)
        (folder / f"{h}.0").write_bytes(ca.pem)
        (folder / f"{h}.signing_policy").write_text("# not evaluated\n")
        if crls and i in crls:
            (folder / f"{h}.r0").write_bytes(crls[i])
    return folder


@dataclass
class Setup:
    ca: CA
    pki: PKI
    serial: int
    other: CA


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    ca = make_ca()
    pki, serial = issue_server(ca, tmp_path_factory.mktemp("server"))
    return Setup(ca, pki, serial, make_ca())


@pytest.fixture(scope="module")
def proxy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("user")
    cert, key = user_credentials(folder)
    return make_proxy(cert, key, folder / "x509up", valid=dt.timedelta(hours=2), bits=2048).path


def user_credentials(folder: Path) -> tuple[Path, Path]:
    ca = make_ca("user CA")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("Jane Doe")).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
            .sign(ca.key, hashes.SHA256()))
    (folder / "ca.pem").write_bytes(ca.pem)
    (folder / "usercert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "userkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    (folder / "userkey.pem").chmod(0o600)
    return folder / "usercert.pem", folder / "userkey.pem"


MODES = ("token", "proxy", "token+proxy")


def config(ce: FakeAREX, mode: str, proxy: Path, **kw: Any) -> ARCConfig:
    creds: dict[str, Any] = {"token": "tok"} if mode == "token" else {"proxy": proxy} if mode == "proxy" \
        else {"token": "tok", "proxy": proxy}
    return ARCConfig(endpoint=ce.endpoint, **creds, **kw)


def open_and_list(cfg: ARCConfig) -> list[str]:
    async def body() -> list[str]:
        async with ARCBackend(cfg) as backend:
            return await backend.jobs()

    return asyncio.run(body())


def refused(cfg: ARCConfig, fragment: str) -> TransportError:
    with pytest.raises(TransportError) as info:
        open_and_list(cfg)
    assert fragment in str(info.value)
    assert info.value.transient is False
    return info.value


# --- CRLs (item 5) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_revoked_ce_certificate_is_refused_in_every_auth_mode(setup: Setup, proxy_file: Path, tmp_path: Path,
                                                              mode: str) -> None:
    cas = ca_dir(tmp_path / "ca", [setup.ca], {0: make_crl(setup.ca, [setup.serial])})
    with FakeAREX.start(setup.pki) as ce:
        refused(config(ce, mode, proxy_file, ca_dir=cas), "certificate revoked")
        assert ce.requests == []  # nothing was sent to a revoked CE


@pytest.mark.parametrize("mode", MODES)
def test_revoked_ce_certificate_is_refused_with_crl_required(setup: Setup, proxy_file: Path, tmp_path: Path,
                                                             mode: str) -> None:
    cas = ca_dir(tmp_path / "ca", [setup.ca], {0: make_crl(setup.ca, [setup.serial])})
    with FakeAREX.start(setup.pki) as ce:
        refused(config(ce, mode, proxy_file, ca_dir=cas, crl_policy=CRLPolicy.REQUIRE), "revoked")


@pytest.mark.parametrize("policy", [CRLPolicy.IF_PRESENT, CRLPolicy.REQUIRE])
def test_ce_certificate_not_in_the_crl_is_accepted(setup: Setup, tmp_path: Path, policy: CRLPolicy) -> None:
    cas = ca_dir(tmp_path / "ca", [setup.ca, setup.other],
                 {0: make_crl(setup.ca, [setup.serial + 1]), 1: make_crl(setup.other, [setup.serial])})
    with FakeAREX.start(setup.pki) as ce:
        assert open_and_list(config(ce, "token", Path(), ca_dir=cas, crl_policy=policy)) == []


def test_ca_without_crl_is_tolerated_by_default_and_refused_when_required(setup: Setup, tmp_path: Path) -> None:
    # Another CA's CRL revokes the same serial: it must not apply to this issuer.
    cas = ca_dir(tmp_path / "ca", [setup.ca, setup.other], {1: make_crl(setup.other, [setup.serial])})
    with FakeAREX.start(setup.pki) as ce:
        assert open_and_list(config(ce, "token", Path(), ca_dir=cas)) == []
        refused(config(ce, "token", Path(), ca_dir=cas, crl_policy=CRLPolicy.REQUIRE), "unable to get certificate CRL")


def test_crl_policy_off_ignores_revocation(setup: Setup, tmp_path: Path) -> None:
    cas = ca_dir(tmp_path / "ca", [setup.ca], {0: make_crl(setup.ca, [setup.serial])})
    with FakeAREX.start(setup.pki) as ce:
        assert open_and_list(config(ce, "token", Path(), ca_dir=cas, crl_policy=CRLPolicy.OFF)) == []


@pytest.mark.parametrize("policy", [CRLPolicy.IF_PRESENT, CRLPolicy.REQUIRE])
def test_expired_crl_is_refused(setup: Setup, tmp_path: Path, policy: CRLPolicy) -> None:
    cas = ca_dir(tmp_path / "ca", [setup.ca], {0: make_crl(setup.ca, [], next_update=-dt.timedelta(hours=1))})
    with FakeAREX.start(setup.pki) as ce:
        refused(config(ce, "token", Path(), ca_dir=cas, crl_policy=policy), "CRL has expired")


def test_crl_with_a_bad_signature_is_refused(setup: Setup, tmp_path: Path) -> None:
    forged = make_crl(setup.ca, [], signer=ec.generate_private_key(ec.SECP256R1()))  # not revoking: still refused
    cas = ca_dir(tmp_path / "ca", [setup.ca], {0: forged})
    with FakeAREX.start(setup.pki) as ce:
        refused(config(ce, "token", Path(), ca_dir=cas), "CRL signature failure")


def test_crl_in_the_ca_bundle_is_honoured(setup: Setup, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(setup.ca.pem + make_crl(setup.ca, [setup.serial]))
    with FakeAREX.start(setup.pki) as ce:
        refused(config(ce, "token", Path(), ca_file=bundle), "certificate revoked")
        bundle.write_bytes(setup.ca.pem + make_crl(setup.ca, [setup.serial + 1]))
        assert open_and_list(config(ce, "token", Path(), ca_file=bundle)) == []


def test_crl_policy_in_a_config_file(tmp_path: Path) -> None:
    path = tmp_path / "ce.yaml"
    path.write_text("endpoint: https://ce.example/arex\nca_dir: ca\ntoken: t\ncrl_policy: require\n")
    assert ARCConfig.from_file(path).crl_policy is CRLPolicy.REQUIRE
    assert ARCConfig(endpoint="https://ce.example/arex", ca_dir=tmp_path, token="t").crl_policy is CRLPolicy.IF_PRESENT
    path.write_text("endpoint: https://ce.example/arex\nca_dir: ca\ntoken: t\ncrl_policy: sometimes\n")
    with pytest.raises(ConfigurationError, match="crl_policy must be one of if-present, require, off"):
        ARCConfig.from_file(path)


# --- no CN fallback (item 6) -------------------------------------------------------------------------------------


def test_certificate_without_subject_alt_name_is_refused(setup: Setup, tmp_path: Path) -> None:
    pki, _ = issue_server(setup.ca, tmp_path / "nosan", san=False)  # CN=localhost only
    with FakeAREX.start(pki) as ce:
        refused(config(ce, "token", Path(), ca_file=pki.ca_file), "TLS verification of the CE failed")
    assert make_ssl_context(ca_dir=None, ca_file=pki.ca_file).hostname_checks_common_name is False


# --- wrong CA settings (item 7) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "fragment"), [
    ("missing", "does not exist"), ("empty", "holds no CA certificates"), ("file", "is not a directory"),
    ("unhashed", "holds no CA certificates")])
def test_wrong_ca_dir_is_a_configuration_error_naming_it(setup: Setup, tmp_path: Path, kind: str,
                                                         fragment: str) -> None:
    path = tmp_path / "cas"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_bytes(setup.ca.pem)
    elif kind == "unhashed":
        path.mkdir()
        (path / "ca.pem").write_bytes(setup.ca.pem)
    with FakeAREX.start(setup.pki) as ce, pytest.raises(ConfigurationError) as info:
        open_and_list(config(ce, "token", Path(), ca_dir=path))
    assert str(path) in str(info.value) and fragment in str(info.value) and "ca_dir" in str(info.value)


def test_wrong_ca_file_is_a_configuration_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"ca_file\) .*missing.pem does not exist"):
        make_ssl_context(ca_dir=None, ca_file=tmp_path / "missing.pem")
    with pytest.raises(ConfigurationError, match="is not a file"):
        make_ssl_context(ca_dir=None, ca_file=tmp_path)


# --- the TLS client certificate follows the proxy file (item 2) -------------------------------------------------


@contextmanager
def client_cert_ce(pki: PKI, trust: Path) -> Iterator[tuple[FakeAREX, list[x509.Certificate]]]:
    """The fake A-REX asking for a client certificate (proxies allowed); yields the certificates presented."""
    ce = FakeAREX()
    seen: list[x509.Certificate] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert_file, pki.key_file)
    ctx.load_verify_locations(trust)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.verify_flags |= 0x40  # X509_V_FLAG_ALLOW_PROXY_CERTS

    class Handler(_Handler):
        def setup(self) -> None:
            super().setup()
            der = self.request.getpeercert(binary_form=True)
            if der:
                seen.append(x509.load_der_x509_certificate(der))

    server = _Server(("127.0.0.1", 0), Handler)
    server.ce, server.tls = ce, ctx
    ce.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ce, seen
    finally:
        ce.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_renewed_proxy_is_presented_and_expired_one_refused(setup: Setup, tmp_path: Path) -> None:
    cert, key = user_credentials(tmp_path)
    path = tmp_path / "x509up"
    first = make_proxy(cert, key, path, valid=dt.timedelta(hours=1), bits=2048)
    with client_cert_ce(setup.pki, tmp_path / "ca.pem") as (ce, seen):
        cfg = ARCConfig(endpoint=ce.endpoint, ca_file=setup.pki.ca_file, proxy=path, max_connections=1)

        async def body() -> None:
            async with ARCBackend(cfg) as backend:
                await backend.jobs()
                assert seen[-1].subject.rfc4514_string().startswith(f"CN={first.subject.rsplit('=', 1)[1]}")
                second = make_proxy(cert, key, path, valid=dt.timedelta(hours=2), bits=2048)  # renewed in place
                await backend.jobs()  # the same pooled connection: reconnected with the new proxy
                assert seen[-1].subject.rfc4514_string().startswith(f"CN={second.subject.rsplit('=', 1)[1]}")
                assert seen[-1].not_valid_after_utc == second.not_after.replace(microsecond=0)
                make_proxy(cert, key, path, valid=dt.timedelta(minutes=10), bits=2048,
                           now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))  # already expired
                with pytest.raises(CredentialError) as info:
                    await backend.jobs()
                assert info.value.transient is False
                assert "expired at" in str(info.value) and "arc-intercede proxy" in str(info.value)

        asyncio.run(body())


def test_provider_rebuilds_only_when_the_file_changes(proxy_file: Path, setup: Setup) -> None:
    provider = TLSContextProvider(ca_dir=None, ca_file=setup.pki.ca_file, client_cert=proxy_file)
    first = provider.context()
    assert provider.context() is first is provider.current
    assert provider.proxy is not None and provider.proxy.path == proxy_file
    proxy_file.write_bytes(proxy_file.read_bytes())  # rewritten: new mtime
    assert provider.context() is not first


def test_encrypted_key_in_proxy_file_fails_at_once(setup: Setup, tmp_path: Path, proxy_file: Path) -> None:
    pem = proxy_file.read_bytes()
    key = serialization.load_pem_private_key(pem, None)
    certs = x509.load_pem_x509_certificates(pem)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.BestAvailableEncryption(b"secret-pass"))
    path = tmp_path / "x509up"
    path.write_bytes(certs[0].public_bytes(serialization.Encoding.PEM) + encrypted
                     + b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs[1:]))
    path.chmod(0o600)
    with FakeAREX.start(setup.pki) as ce, pytest.raises(LocalCredentialError) as info:
        open_and_list(config(ce, "proxy", path, ca_file=setup.pki.ca_file))
    assert "encrypted private key" in str(info.value) and "secret-pass" not in str(info.value)
    with pytest.raises(LocalCredentialError, match="encrypted"):
        make_ssl_context(ca_dir=None, ca_file=setup.pki.ca_file, client_cert=path)
