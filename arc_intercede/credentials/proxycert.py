"""The one RFC 3820 proxy certificate builder, used by ``make_proxy`` and by delegation signing.

A proxy certificate carries a critical proxyCertInfo extension with the inherit-all policy,
critical KeyUsage (digitalSignature, keyEncipherment) and BasicConstraints (CA:false), and an
AuthorityKeyIdentifier derived from the issuer's key.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed448, ed25519
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, CertificatePublicKeyTypes

__all__ = ["BACKDATE", "PROXY_CERT_INFO_OID", "PROXY_POLICY_INHERIT_ALL", "build_proxy_certificate"]

PROXY_CERT_INFO_OID: Final = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
"""id-pe-proxyCertInfo (RFC 3820)."""
PROXY_POLICY_INHERIT_ALL: Final = b"0\x0c0\n\x06\x08+\x06\x01\x05\x05\x07\x15\x01"
"""DER of ProxyCertInfo { proxyPolicy { policyLanguage id-ppl-inheritAll } }, no path length limit."""
BACKDATE: Final = timedelta(minutes=5)
"""How far a new proxy is back-dated to absorb clock skew (as ARC does for delegated proxies)."""

_KEY_USAGE: Final = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=True, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
)


def build_proxy_certificate(
    *,
    issuer: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    public_key: CertificatePublicKeyTypes,
    subject: x509.Name,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """Sign a proxy certificate for ``public_key`` with ``issuer_key`` (the key of ``issuer``).

    Args:
        issuer: The certificate of the signer (a user certificate or a proxy).
        issuer_key: Its private key.
        public_key: The key the proxy certifies.
        subject: The proxy's subject (the issuer's subject plus one ``CN``).
        serial: The serial number.
        not_before: Start of validity.
        not_after: End of validity.
        extensions: Further non-critical extensions (e.g. VOMS's attribute certificate sequence).

    Returns:
        The signed certificate (SHA-256, or the key's own algorithm for Ed25519/Ed448).
    """
    aki = x509.AuthorityKeyIdentifier(
        key_identifier=x509.SubjectKeyIdentifier.from_public_key(issuer_key.public_key()).digest,
        authority_cert_issuer=None,
        authority_cert_serial_number=None,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO_OID, PROXY_POLICY_INHERIT_ALL), critical=True)
        .add_extension(_KEY_USAGE, critical=True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(aki, critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    ed_key = isinstance(issuer_key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
    return builder.sign(issuer_key, None if ed_key else hashes.SHA256())
