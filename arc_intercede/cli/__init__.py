"""``arc-intercede``: the command line over the library's public API.

One module per command in :mod:`.commands`; shared options in :mod:`.cmdoptions`; what every
command shares (the selected CE, one event loop per command) in :mod:`.base`; the local job list
in :mod:`.jobstore`; the entry point in :mod:`.main`.

Subcommands: ``info``, ``submit``, ``status``, ``wait``, ``fetch``, ``kill``, ``purge``, ``restart``,
``diagnose`` and ``proxy``; ``arc-intercede COMMAND --help`` documents each with examples.

Exit codes: 0 success; 1 an operation failed (the CE refused, a job failed, a copy was not
created, an output is incomplete); 2 bad usage, configuration or input, or a local credential that
cannot be used (missing or expired proxy, bad token file); 3 ``wait`` timed out; 130 interrupted.
"""

from __future__ import annotations

from arc_intercede.cli.base import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Target,
    UsageError,
    default_config_path,
    resolve_target,
)
from arc_intercede.cli.commands.fetch import ProgressDisplay
from arc_intercede.cli.main import build_parser, main

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "ProgressDisplay",
    "Target",
    "UsageError",
    "build_parser",
    "default_config_path",
    "main",
    "resolve_target",
]
