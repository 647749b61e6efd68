"""What every command shares: exit codes, usage errors, the selected CE (``Target``), one event loop per command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, NoReturn, TypeVar

from arc_intercede.backend import ARCBackend
from arc_intercede.config import ARCConfig, read_yaml_file
from arc_intercede.credentials import warn_if_exposed
from arc_intercede.credentials.discovery import Discovered, apply_conventions
from arc_intercede.errors import ConfigurationError

_log = logging.getLogger(__name__)


PROG: Final = "arc-intercede"


EXIT_OK: Final = 0


EXIT_FAILED: Final = 1


EXIT_USAGE: Final = 2


EXIT_TIMEOUT: Final = 3


EXIT_INTERRUPTED: Final = 130


_OVERRIDES: Final = ("endpoint", "queue", "ca_dir", "token_file", "proxy")


_PATH_OVERRIDES: Final = frozenset({"ca_dir", "token_file", "proxy"})


_T = TypeVar("_T")


class UsageError(Exception):
    """Bad command-line input, configuration selection or input file (exit code 2)."""


class _ArgumentError(UsageError):
    """argparse found a syntax error."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports errors as one line (via :class:`UsageError`) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        command = self.prog.removeprefix(PROG).strip()
        prefix = f"{command}: " if command else ""
        raise _ArgumentError(f"{prefix}{message} (see '{self.prog} --help')")


@dataclass(frozen=True, slots=True)
class Target:
    """The CE a command talks to.

    Attributes:
        name: Its name in the configuration file (or the client configuration file's stem).
        config: The backend configuration, command-line overrides applied.
        discovered: Credentials taken from the grid's conventions because none was configured.
    """

    name: str
    config: ARCConfig
    discovered: tuple[Discovered, ...] = ()


def config_file_path(option: str | None) -> tuple[Path, bool]:
    """The configuration file to read: ``-c FILE``, else ``$ARC_INTERCEDE_CONFIG``, else the default path.

    Returns:
        The path, and whether the user named it (option or environment).
    """
    explicit = option or os.environ.get("ARC_INTERCEDE_CONFIG") or None
    return (Path(explicit).expanduser(), True) if explicit is not None else (default_config_path(), False)


def default_config_path() -> Path:
    """Return ``$ARC_INTERCEDE_CONFIG`` or ``$XDG_CONFIG_HOME/arc-intercede/config.yaml``."""
    env = os.environ.get("ARC_INTERCEDE_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".config"
    return base / "arc-intercede" / "config.yaml"


def resolve_target(args: argparse.Namespace) -> Target:
    """Select the CE configuration from the options (see ``arc-intercede --help``).

    Raises:
        UsageError: A file is missing or not YAML, or the CE name is unknown or ambiguous.
        ConfigurationError: The selected configuration is invalid.
    """
    overrides = _overrides(args)
    client_config = getattr(args, "client_config", None)
    if client_config is not None:
        path = Path(client_config).expanduser()
        data = _read_yaml(path, "client configuration")
        name = getattr(args, "ce", None) or path.stem
        return Target(name, *_config_from(data, path, overrides, where=str(path)))
    path, explicit = config_file_path(getattr(args, "config", None))
    if not explicit and not path.exists():
        if "endpoint" in overrides:
            name = getattr(args, "ce", None) or "command-line"
            return Target(name, *_config_from({}, None, overrides, where="command line"))
        raise UsageError(
            f"no configuration: {path} does not exist (create it, see '{PROG} --help'; or use "
            "-c FILE, --client-config FILE, or --endpoint with --ca-dir and a credential)"
        )
    data = _read_yaml(path, "configuration file")
    if isinstance(data, Mapping) and "ces" not in data and "endpoint" in data:
        name = getattr(args, "ce", None) or path.stem  # a single CE's configuration
        return Target(name, *_config_from(data, path, overrides, where=str(path)))
    if not isinstance(data, Mapping) or not isinstance(data.get("ces"), Mapping) or not data["ces"]:
        raise UsageError(f"{path}: expected a mapping with 'ces:' (named CE configurations) and optionally "
                         "'default:'")
    unknown = sorted(str(k) for k in set(data) - {"ces", "default"})
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)} (expected 'ces' and 'default')")
    ces: Mapping[str, Any] = data["ces"]
    known = ", ".join(sorted(map(str, ces)))
    name = getattr(args, "ce", None) or data.get("default")
    if name is None:
        if len(ces) != 1:
            raise UsageError(f"{path}: several CEs ({known}) and no 'default:'; choose one with --ce NAME")
        name = next(iter(ces))
    name = str(name)
    if name not in ces:
        source = "--ce" if getattr(args, "ce", None) else "'default:'"
        raise UsageError(f"{path}: no CE named {name!r} ({source}); known: {known}")
    entry = ces[name]
    if not isinstance(entry, Mapping):
        raise UsageError(f"{path}: ces.{name} must be a mapping of configuration keys")
    return Target(name, *_config_from(entry, path, overrides, where=f"{path}: ces.{name}"))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _OVERRIDES:
        value = getattr(args, key, None)
        if value is None:
            continue
        out[key] = str(Path(value).expanduser().absolute()) if key in _PATH_OVERRIDES else value
    return out


def _config_from(data: Mapping[str, Any], path: Path | None, overrides: Mapping[str, Any], *,
                 where: str) -> tuple[ARCConfig, tuple[Discovered, ...]]:
    merged = dict(data)
    if "token_file" in overrides:
        merged.pop("token", None)
    merged.update(overrides)
    found = tuple(apply_conventions(merged))
    try:
        return ARCConfig.from_mapping(merged, base_dir=path.parent if path is not None else None), found
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def _read_yaml(path: Path, what: str) -> Any:
    data = read_yaml_file(path, what, UsageError)
    if isinstance(data, Mapping):
        entries = [data, *(e for e in (data.get("ces") or {}).values() if isinstance(e, Mapping))] \
            if isinstance(data.get("ces", {}), Mapping) else [data]
        if any(e.get("token") is not None for e in entries):
            warn_if_exposed(path, f"{what} with an inline token")
    return data


def _backend(target: Target) -> ARCBackend:
    return ARCBackend(target.config)


def with_ce(target: Target, call: Callable[[ARCBackend], Awaitable[_T]]) -> _T:
    """Open the target CE's backend, await ``call`` on it, close it; the one event loop of a command."""

    async def body() -> _T:
        async with _backend(target) as ce:
            return await call(ce)

    return asyncio.run(body())


def run_async(call: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``call`` on a fresh event loop (a command that opens the backend itself)."""

    async def body() -> _T:
        return await call()

    return asyncio.run(body())
