"""The targets the backend behaviour suite runs against: the fake CE and the real stack.

Every test that takes the ``target`` fixture runs once per target (``pytest_generate_tests``):

- ``fake``: the fake CE (``tests/fake_arex.py``) with ``progress`` on, so jobs move through A-REX's
  states as they are polled; runs in the unit run.
- ``arc-slurm``: the real ARC 7 + Slurm stack, marked ``remote`` and ``arc``; selected by the contract run
  (``-m "remote and arc" --stack arc-slurm --config proxy|token``), skipped without a stack (an error in CI).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import ARCBackend, ARCConfig
from tests.contract.conftest import client_config_path, stack_info  # noqa: F401 - fixtures of the real target
from tests.contract.helpers import backend_config
from tests.fake_arex import PKI, FakeAREX, make_pki

REAL = "arc-slurm"


@dataclass(frozen=True)
class Target:
    """One CE the suite talks to, and how often it is worth polling."""

    name: str
    config: ARCConfig | Path
    poll_s: float

    def backend(self, **overrides: Any) -> ARCBackend:
        """A backend for this target, with config field overrides."""
        if not overrides:
            return ARCBackend(self.config)
        if isinstance(self.config, Path):
            return ARCBackend(backend_config(self.config, **overrides))
        return ARCBackend(dataclasses.replace(self.config, **overrides))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" in metafunc.fixturenames:
        metafunc.parametrize("target", [
            pytest.param("fake", id="fake"),
            pytest.param(REAL, id=REAL, marks=[pytest.mark.remote, pytest.mark.arc]),
        ], indirect=True)


@pytest.fixture(scope="session")
def behaviour_pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    if request.param == REAL:
        yield Target(REAL, request.getfixturevalue("client_config_path"), poll_s=2.0)
        return
    with FakeAREX.start(request.getfixturevalue("behaviour_pki"), progress=True, errors_log=True) as ce:
        yield Target("fake", ARCConfig(endpoint=ce.endpoint, ca_file=ce.ca_file, token="t"), poll_s=0.01)
