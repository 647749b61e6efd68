"""Test-session options: which integration stack and configuration the remote (contract) tests use.

    pytest                                                      unit tests (pyproject: -m "not remote")
    pytest -m "remote and arc" --stack arc-slurm --config proxy tests/contract
    pytest -m "remote and arc" --stack arc-slurm --config token tests/contract

Without --stack the remote tests are skipped, except under CI (env CI set), where selecting a remote
test without a stack is an error: the contract suite never silently skips in CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.stack import CONFIGS, STACKS, default_state_dir

CONTRACT_DIR = Path(__file__).resolve().parent / "contract"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stack", "integration stack for the remote (contract) tests")
    group.addoption(
        "--stack",
        choices=sorted(STACKS),
        default=None,
        help="integration stack to run remote tests against (compose/<name>)",
    )
    group.addoption(
        "--config",
        dest="stack_config",
        choices=CONFIGS,
        default=None,
        help="stack configuration that is up: proxy, token or voms",
    )
    group.addoption(
        "--stack-state",
        default=None,
        help="the stack's exported state dir (default: $ARC_STACK_STATE or /var/lib/arc-intercede/state)",
    )


def pytest_configure(config: pytest.Config) -> None:
    stack, cfg = config.getoption("--stack"), config.getoption("stack_config")
    if stack and not cfg:
        raise pytest.UsageError("--stack needs --config proxy|token")
    if cfg and not stack:
        raise pytest.UsageError("--config needs --stack arc-slurm")


@pytest.hookimpl(tryfirst=True)  # before the -m filter deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CONTRACT_DIR in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.remote)
            item.add_marker(pytest.mark.arc)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("remote") is None or item.config.getoption("--stack"):
        return
    if os.environ.get("CI"):
        pytest.fail(
            "CI is set and a remote test was selected without --stack/--config: the contract suite "
            "never silently skips in CI (pass --stack arc-slurm --config proxy|token)",
            pytrace=False,
        )
    pytest.skip("remote test: no integration stack selected (pass --stack arc-slurm --config proxy|token)")


@pytest.fixture(scope="session")
def stack_name(pytestconfig: pytest.Config) -> str:
    name = pytestconfig.getoption("--stack")
    if not name:
        pytest.skip("no integration stack selected (--stack)")
    return name


@pytest.fixture(scope="session")
def stack_config_name(pytestconfig: pytest.Config) -> str:
    cfg = pytestconfig.getoption("stack_config")
    if not cfg:
        pytest.skip("no stack configuration selected (--config)")
    return cfg


@pytest.fixture(scope="session")
def stack_state_dir(pytestconfig: pytest.Config) -> Path:
    opt = pytestconfig.getoption("--stack-state")
    return Path(opt) if opt else default_state_dir()
