"""Fixtures shared by the unit tests: a test PKI and the fake CE (``tests/fake_arex.py``) on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_arex import PKI, QUEUE_SHARE_INFO, FakeAREX, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def ce(pki: PKI) -> Iterator[FakeAREX]:
    with FakeAREX.start(pki) as server:
        yield server


@pytest.fixture
def fake(pki: PKI) -> Iterator[FakeAREX]:
    """The fake CE as the backend and fetch tests see it: a ``batch`` share, an ``errors`` log for
    every job, and ``out.txt``/``err.txt`` declared as every job's stdout/stderr."""
    with FakeAREX.start(pki, errors_log=True, info=QUEUE_SHARE_INFO,
                        activity={"StdOut": "out.txt", "StdErr": "err.txt"}) as server:
        yield server
