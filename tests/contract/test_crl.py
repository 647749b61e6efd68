"""CRLs against the real A-REX: its host certificate revoked by a CRL of the stack's own test CA is refused.

Client side only: a copy of the stack's CA directory gets ``<hash>.r0`` CRLs signed with the test CA's key
(the throwaway CA ``arcctl test-ca`` made inside the stack's chroot); the CE itself is left untouched.
Runs in whichever configuration is up (proxy: proxy mode; token: the token configuration's auth mode).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shutil
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from arc_intercede import ARCBackend, CRLPolicy, TransportError
from tests.contract.helpers import backend_config


def _test_ca(stack_info: dict[str, Any]) -> tuple[x509.Certificate, Any]:
    root = Path(os.environ.get("ARC_STACK_ROOT", "/var/lib/arc-intercede/chroot"))
    keys = sorted((root / "etc/grid-security/certificates").glob("ARC-TestCA-*-key.pem"))
    if not keys:
        pytest.fail(f"no test CA key under {root}/etc/grid-security/certificates", pytrace=False)
    key = serialization.load_pem_private_key(keys[0].read_bytes(), None)
    cert = x509.load_pem_x509_certificate(Path(str(keys[0]).removesuffix("-key.pem") + ".pem").read_bytes())
    return cert, key


def _served_serial(stack_info: dict[str, Any], ssl_context: ssl.SSLContext) -> int:
    host, port = "localhost", int(stack_info["endpoint"].split(":")[2].split("/")[0])
    with socket.create_connection((host, port), timeout=10) as raw, \
            ssl_context.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der
    return x509.load_der_x509_certificate(der).serial_number


def _ca_dir_with_crl(src: Path, dst: Path, ca: x509.Certificate, key: Any, revoked: list[int] | None) -> Path:
    dst.mkdir()
    for entry in src.iterdir():
        shutil.copyfile(entry, dst / entry.name)  # symlinks resolved
    if revoked is not None:
        now = dt.datetime.now(dt.UTC)
        builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.subject)
                   .last_update(now - dt.timedelta(hours=1)).next_update(now + dt.timedelta(days=1)))
        for serial in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
        pem = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
        for name in os.listdir(dst):
            if re.fullmatch(r"[0-9a-f]{8}\.0", name):
                (dst / (name[:-2] + ".r0")).write_bytes(pem)
    return dst


def _jobs(cfg: Any) -> list[str]:
    async def body() -> list[str]:
        async with ARCBackend(cfg) as ce:
            return await ce.jobs()

    return asyncio.run(body())


def test_real_arex_certificate_revoked_by_a_crl_is_refused(
        stack_info: dict[str, Any], client_config_path: Path, ssl_context: ssl.SSLContext, tmp_path: Path) -> None:
    ca, key = _test_ca(stack_info)
    serial = _served_serial(stack_info, ssl_context)
    src = Path(stack_info["ca_dir"])
    revoked = _ca_dir_with_crl(src, tmp_path / "revoked", ca, key, [serial])
    fine = _ca_dir_with_crl(src, tmp_path / "fine", ca, key, [serial + 1])
    bare = _ca_dir_with_crl(src, tmp_path / "bare", ca, key, None)

    for policy in (CRLPolicy.IF_PRESENT, CRLPolicy.REQUIRE):
        with pytest.raises(TransportError) as info:
            _jobs(backend_config(client_config_path, ca_dir=revoked, crl_policy=policy))
        assert "revoked" in str(info.value) and info.value.transient is False
        assert isinstance(_jobs(backend_config(client_config_path, ca_dir=fine, crl_policy=policy)), list)
    assert isinstance(_jobs(backend_config(client_config_path, ca_dir=bare)), list)  # no CRL: tolerated
    with pytest.raises(TransportError, match="unable to get certificate CRL"):
        _jobs(backend_config(client_config_path, ca_dir=bare, crl_policy=CRLPolicy.REQUIRE))
