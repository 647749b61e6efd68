from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from arc_intercede.credentials.proxy import (
    PROXY_CERT_INFO_OID,
    PROXY_POLICY_INHERIT_ALL,
    ProxyError,
    make_proxy,
    slash_subject,
)

NOW = datetime.now(UTC).replace(microsecond=0)


def _name(*cns: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "org"),
                      x509.NameAttribute(NameOID.DOMAIN_COMPONENT, "example"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test")]
                     + [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in cns])


@pytest.fixture(scope="module")
def ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(_name("Test CA")).issuer_name(_name("Test CA"))
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


@pytest.fixture(scope="module")
def user_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def user_files(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate], key: rsa.RSAPrivateKey, *,
               valid: timedelta = timedelta(days=30), password: bytes | None = None,
               chain: bool = False) -> tuple[Path, Path, x509.Certificate]:
    ca_key, ca_cert = ca
    cert = (x509.CertificateBuilder().subject_name(_name("Jane Doe")).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + valid)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "usercert.pem", tmp_path / "userkey.pem"
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if chain:
        pem += ca_cert.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(pem)
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption())
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc))
    key_path.chmod(0o400)
    return cert_path, key_path, cert


def load_proxy(path: Path) -> tuple[list[x509.Certificate], rsa.RSAPrivateKey]:
    data = path.read_bytes()
    certs = x509.load_pem_x509_certificates(data)
    key = serialization.load_pem_private_key(data[data.index(b"-----BEGIN RSA PRIVATE KEY"):], None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return certs, key


def test_proxy_structure(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
                         user_key: rsa.RSAPrivateKey) -> None:
    cert_path, key_path, user = user_files(tmp_path, ca, user_key, chain=True)
    out = tmp_path / "proxy.pem"
    info = make_proxy(cert_path, key_path, out, valid=timedelta(hours=12), bits=1024, now=NOW)
    certs, proxy_key = load_proxy(out)
    assert [c.subject for c in certs[1:]] == [user.subject, ca[1].subject]  # user cert + chain follow
    proxy = certs[0]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    # subject = user subject + CN=<serial>
    assert list(proxy.subject.rdns)[:-1] == list(user.subject.rdns)
    last = proxy.subject.rdns[-1]
    assert [(a.oid, a.value) for a in last] == [(NameOID.COMMON_NAME, str(proxy.serial_number))]
    assert proxy.issuer == user.subject
    assert info.subject == slash_subject(proxy.subject)
    assert info.subject == f"/DC=org/DC=example/O=Test/CN=Jane Doe/CN={proxy.serial_number}"
    assert info.issuer == "/DC=org/DC=example/O=Test/CN=Jane Doe"
    # extensions
    pci = proxy.extensions.get_extension_for_oid(PROXY_CERT_INFO_OID)
    assert pci.critical
    assert isinstance(pci.value, x509.UnrecognizedExtension)
    assert pci.value.value == PROXY_POLICY_INHERIT_ALL
    ku = proxy.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature and ku.value.key_encipherment and not ku.value.key_cert_sign
    bc = proxy.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca is False
    aki = proxy.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == x509.SubjectKeyIdentifier.from_public_key(user_key.public_key()).digest
    # validity: back-dated 5 minutes, 12 h requested
    assert proxy.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert proxy.not_valid_after_utc == NOW + timedelta(hours=12)
    assert not info.clamped
    # key match and signature by the user key
    assert proxy_key.key_size == 1024
    assert proxy_key.public_key().public_numbers() == proxy.public_key().public_numbers()  # type: ignore[union-attr]
    assert proxy.signature_hash_algorithm is not None
    user_key.public_key().verify(proxy.signature, proxy.tbs_certificate_bytes, padding.PKCS1v15(),
                                 proxy.signature_hash_algorithm)
    proxy.verify_directly_issued_by(user)


def test_validity_clamped_to_user_cert(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
                                       user_key: rsa.RSAPrivateKey) -> None:
    cert_path, key_path, user = user_files(tmp_path, ca, user_key, valid=timedelta(hours=2))
    info = make_proxy(cert_path, key_path, tmp_path / "p.pem", valid=timedelta(hours=12), bits=1024, now=NOW)
    (proxy, *_), _ = load_proxy(tmp_path / "p.pem")
    assert info.clamped
    assert proxy.not_valid_after_utc == user.not_valid_after_utc == info.not_after


def test_overwrites_existing_file_atomically(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
                                             user_key: rsa.RSAPrivateKey) -> None:
    cert_path, key_path, _ = user_files(tmp_path, ca, user_key)
    out = tmp_path / "proxy.pem"
    out.write_text("old")
    out.chmod(0o644)
    make_proxy(cert_path, key_path, out, bits=1024)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_encrypted_key(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate],
                       user_key: rsa.RSAPrivateKey) -> None:
    cert_path, key_path, _ = user_files(tmp_path, ca, user_key, password=b"s3cret")
    make_proxy(cert_path, key_path, tmp_path / "p1.pem", bits=1024, password=b"s3cret")
    asked: list[int] = []

    def prompt() -> bytes:
        asked.append(1)
        return b"s3cret"

    make_proxy(cert_path, key_path, tmp_path / "p2.pem", bits=1024, password=prompt)
    assert asked == [1]
    with pytest.raises(ProxyError, match="wrong pass phrase"):
        make_proxy(cert_path, key_path, tmp_path / "p3.pem", bits=1024, password=b"nope")
    with pytest.raises(ProxyError, match="wrong pass phrase"):
        make_proxy(cert_path, key_path, tmp_path / "p3.pem", bits=1024, password=lambda: b"nope")
    with pytest.raises(ProxyError, match="encrypted and no pass phrase"):
        make_proxy(cert_path, key_path, tmp_path / "p3.pem", bits=1024)
    assert not (tmp_path / "p3.pem").exists()


def test_errors(tmp_path: Path, ca: tuple[rsa.RSAPrivateKey, x509.Certificate], user_key: rsa.RSAPrivateKey) -> None:
    cert_path, key_path, _ = user_files(tmp_path, ca, user_key)
    with pytest.raises(ProxyError, match="not found"):
        make_proxy(tmp_path / "missing.pem", key_path, tmp_path / "p.pem")
    with pytest.raises(ProxyError, match="no PEM certificate"):
        make_proxy(key_path, key_path, tmp_path / "p.pem")
    with pytest.raises(ProxyError, match="not a PEM private key"):
        (tmp_path / "junk").write_text("junk")
        make_proxy(cert_path, tmp_path / "junk", tmp_path / "p.pem")
    other = tmp_path / "other"
    other.mkdir()
    _, other_key, _ = user_files(other, ca, rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ProxyError, match="does not belong"):
        make_proxy(cert_path, other_key, tmp_path / "p.pem")
    with pytest.raises(ProxyError, match="expired"):
        make_proxy(cert_path, key_path, tmp_path / "p.pem", now=NOW + timedelta(days=31))
