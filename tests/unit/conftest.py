"""Fixtures shared by the unit tests: a test PKI, the fake CE (``tests/fake_arex.py``) on loopback, small
SQLite files."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

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


def sqlite_file(path: Path, *statements: str) -> Path:
    """Create an SQLite file at ``path`` by running ``statements``; return the path."""
    db = sqlite3.connect(path)
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()
    return path
