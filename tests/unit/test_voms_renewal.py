"""Delegation renewal on the backend's timer: only from a longer-lived proxy that is not attribute-poorer."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from arc_intercede.credentials.proxy import make_proxy
from arc_intercede.credentials.renewal import RenewalTimer, poorer_reason, voms_attributes
from arc_intercede.credentials.voms.ac import ACSEQ_OID, acseq_extension_value
from arc_intercede.delegation import Delegator
from tests import voms_fake as vf
from tests.fake_arex import make_csr_pem

ROLE = ["/testvo/analysis/Role=production/Capability=NULL", "/testvo/analysis/Role=NULL/Capability=NULL"]
GROUP = ["/testvo/analysis/Role=NULL/Capability=NULL"]


class _Client:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def new_delegation(self) -> tuple[str, bytes]:
        self.calls.append(("new", None))
        return f"d{len(self.calls)}", make_csr_pem()

    def renew_delegation(self, delegation_id: str) -> bytes:
        self.calls.append(("renew", delegation_id))
        return make_csr_pem()

    def put_delegation(self, delegation_id: str, pem: bytes) -> None:
        self.calls.append(("put", x509.load_pem_x509_certificates(pem)[0].not_valid_after_utc))


class _Pool:
    def __init__(self) -> None:
        self.client = _Client()

    async def call(self, fn: Any, what: str) -> Any:
        return fn(self.client)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> vf.VomsPKI:
    return vf.make_voms_pki(tmp_path_factory.mktemp("voms"))


def _proxy(pki: vf.VomsPKI, out: Path, fqans: list[str] | None, hours: float) -> None:
    extensions = []
    if fqans:
        ac = vf.write_ac(holder=pki.user_cert, fqans=fqans, aa_cert=pki.aa_cert, aa_key=pki.aa_key)
        extensions = [x509.UnrecognizedExtension(x509.ObjectIdentifier(ACSEQ_OID), acseq_extension_value([ac]))]
    make_proxy(pki.user_cert_file, pki.user_key_file, out, valid=dt.timedelta(hours=hours), bits=1024,
               extensions=extensions)


def test_poorer_reason() -> None:
    old = {"testvo": frozenset(ROLE)}
    assert poorer_reason({"testvo": frozenset([*ROLE, "/testvo/x"])}, old) is None
    assert "lacks /testvo/analysis/Role=production" in (poorer_reason({"testvo": frozenset(GROUP)}, old) or "")
    assert "no attributes of VO testvo" in (poorer_reason({}, old) or "")
    assert poorer_reason({}, {}) is None


def test_refresh_only_from_a_longer_lived_not_poorer_proxy(pki: vf.VomsPKI, tmp_path: Path) -> None:
    path = tmp_path / "proxy.pem"
    _proxy(pki, path, ROLE, 1)

    async def body() -> None:
        pool = _Pool()
        delegator = Delegator(pool, path, margin_s=60)  # type: ignore[arg-type]
        assert not await delegator.refresh()  # nothing delegated yet
        await delegator.ensure()
        assert delegator.attributes == {"testvo": frozenset(ROLE)}
        first = delegator.expires
        assert not await delegator.refresh()  # the same proxy: nothing fresher
        _proxy(pki, path, GROUP, 5)  # longer, but without the role
        assert not await delegator.refresh()
        _proxy(pki, path, None, 5)  # longer, plain
        assert not await delegator.refresh()
        _proxy(pki, path, ROLE, 0.5)  # same attributes, shorter
        assert not await delegator.refresh()
        assert delegator.expires == first and [c for c, _ in pool.client.calls] == ["new", "put"]
        _proxy(pki, path, ROLE, 3)
        assert await delegator.refresh()
        assert [c for c, _ in pool.client.calls] == ["new", "put", "renew", "put"]
        assert delegator.expires is not None and first is not None and delegator.expires > first
        path.unlink()
        assert not await delegator.refresh()  # a missing file is skipped, not an error

    asyncio.run(body())


def test_timer_renews_without_a_submission(pki: vf.VomsPKI, tmp_path: Path) -> None:
    path = tmp_path / "proxy.pem"
    _proxy(pki, path, ROLE, 1)

    async def body() -> None:
        pool = _Pool()
        delegator = Delegator(pool, path, margin_s=60)  # type: ignore[arg-type]
        await delegator.ensure()
        timer = RenewalTimer(delegator, 0.05)
        timer.start()
        _proxy(pki, path, ROLE, 4)
        for _ in range(400):
            if len(pool.client.calls) >= 4:
                break
            await asyncio.sleep(0.05)
        await timer.aclose()
        assert [c for c, _ in pool.client.calls] == ["new", "put", "renew", "put"]

    asyncio.run(body())


def test_voms_attributes_of_a_plain_chain(pki: vf.VomsPKI) -> None:
    assert voms_attributes([pki.user_cert]) == {}
