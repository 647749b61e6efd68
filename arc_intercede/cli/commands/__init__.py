"""One module per command: each has ``add_parser(subs)`` and the handler it registers."""

from __future__ import annotations

from types import ModuleType

from arc_intercede.cli.commands import (
    action,
    describe,
    diagnose,
    fetch,
    import_arc,
    info,
    proxy,
    status,
    submit,
    wait,
)

__all__ = ["COMMANDS"]

COMMANDS: tuple[ModuleType, ...] = (info, submit, describe, import_arc, status, wait, fetch, action, diagnose,
                                     proxy)
"""The commands in the order ``--help`` lists them."""
