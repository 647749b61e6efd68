"""Fixtures shared by the unit tests: a test PKI and the fake A-REX on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_arex import PKI, FakeAREX, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def ce(pki: PKI) -> Iterator[FakeAREX]:
    with FakeAREX.start(pki) as server:
        yield server
