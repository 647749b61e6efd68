"""Fixtures for the contract suite: facts and credentials of the running integration stack.

Everything under tests/contract/ is marked ``remote`` and ``arc`` (tests/conftest.py) and needs
``--stack arc-slurm --config proxy|token`` with that configuration up (compose/arc-slurm/chroot-stack up ...).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.stack import load_stack_info, proxy_maker, token_minter
from tests.stack import ssl_context as make_ssl_context


@pytest.fixture(scope="session")
def stack_info(stack_name: str, stack_config_name: str, stack_state_dir: Path) -> dict[str, Any]:
    """stack.yaml of the running stack; fails if the configuration that is up is not --config."""
    try:
        info = load_stack_info(stack_state_dir, stack_config_name)
    except (OSError, RuntimeError) as exc:
        pytest.fail(f"integration stack {stack_name!r} not usable: {exc}", pytrace=False)
    if info.get("stack") != stack_name:
        pytest.fail(
            f"the stack state in {stack_state_dir} is for {info.get('stack')!r}, not {stack_name!r}", pytrace=False
        )
    return info


@pytest.fixture(scope="session")
def client_config_path(stack_info: dict[str, Any]) -> Path:
    """The library's backend config (client.yaml) for the running configuration."""
    path = Path(stack_info["client_config"])
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def mint_token(stack_info: dict[str, Any]) -> Callable[..., str]:
    """mint_token(aud=..., scope=..., lifetime=..., sub=..., scope_format="array"|"string", issuer=...) -> JWT.

    Defaults: the stack's audience, all four compute.* scopes (JSON array), 1 h, the default subject.
    """
    return token_minter(stack_info)


@pytest.fixture(scope="session")
def short_proxy(stack_info: dict[str, Any]) -> Callable[[Path, str], Path]:
    """short_proxy(out_path, validity="10M") -> out_path: a fresh RFC 3820 proxy of the test user."""
    return proxy_maker(stack_info)


@pytest.fixture(scope="session")
def ssl_context(stack_info: dict[str, Any]) -> ssl.SSLContext:
    """A verifying client context that trusts only the stack's CA dir (no client certificate)."""
    return make_ssl_context(stack_info)
