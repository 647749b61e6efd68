"""Helpers for talking to the integration stack (compose/arc-slurm) from tests.

Stack-level helpers only: reading the exported state, minting tokens with the stack's issuer, making
short-lived proxies, and a verified-TLS SSL context. No dependency on arc_intercede.
"""

from __future__ import annotations

import importlib.util
import os
import ssl
import subprocess
from collections.abc import Callable
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
STACKS = {"arc-slurm": REPO / "compose" / "arc-slurm"}
CONFIGS = ("proxy", "token", "voms")
DEFAULT_STATE = "/var/lib/arc-intercede/state"


def default_state_dir() -> Path:
    return Path(os.environ.get("ARC_STACK_STATE") or DEFAULT_STATE)


def load_stack_info(state_dir: Path, config: str) -> dict[str, Any]:
    """stack.yaml of ``config``, after checking that ``config`` is the one that is up."""
    current_file = state_dir / "current"
    if not current_file.is_file():
        raise RuntimeError(
            f"no stack is up: {current_file} is missing (run compose/arc-slurm/chroot-stack up {config})"
        )
    current = current_file.read_text().strip()
    if current != config:
        raise RuntimeError(f"the stack runs configuration {current!r}, not {config!r} (chroot-stack up {config})")
    info = yaml.safe_load((state_dir / config / "stack.yaml").read_text())
    if not isinstance(info, dict) or info.get("config") != config:
        raise RuntimeError(f"{state_dir / config / 'stack.yaml'} does not describe configuration {config!r}")
    return info


@cache
def issuer_module(stack: str = "arc-slurm") -> ModuleType:
    """compose/<stack>/issuer/issuer.py, loaded by path."""
    path = STACKS[stack] / "issuer" / "issuer.py"
    spec = importlib.util.spec_from_file_location(f"_stack_issuer_{stack.replace('-', '_')}", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def token_minter(info: dict[str, Any]) -> Callable[..., str]:
    """mint(aud=..., scope=..., lifetime=..., sub=..., scope_format=..., issuer=...) -> JWT from the stack's issuer."""
    issuer = issuer_module(info["stack"])

    def mint(
        *,
        aud: str | list[str] | None = None,
        scope: str | list[str] | None = None,
        lifetime: int = 3600,
        sub: str | None = None,
        **kw: Any,
    ) -> str:
        return issuer.mint(
            info["issuer_dir"],
            sub=sub if sub is not None else info["token_sub"],
            aud=aud if aud is not None else info["audience"],
            scope=scope if scope is not None else issuer.DEFAULT_SCOPES,
            lifetime=lifetime,
            **kw,
        )

    return mint


def proxy_maker(info: dict[str, Any]) -> Callable[[Path, str], Path]:
    """make(out_path, validity) -> out_path: a fresh test-user proxy (arcproxy validity: 10M, 2H, 7d)."""

    def make(out: Path, validity: str = "10M") -> Path:
        out = Path(out)
        subprocess.run(
            [info["runner"], "proxy", "--validity", validity, "--out", str(out)],
            check=True,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=60,
        )
        return out

    return make


def ssl_context(info: dict[str, Any], *, client_cert: str | Path | None = None) -> ssl.SSLContext:
    """A VERIFYING client context trusting only the stack's CA dir (optionally with a client proxy/cert)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, capath=info["ca_dir"])
    if client_cert is not None:
        ctx.load_cert_chain(str(client_cert))
    return ctx
