"""The ``arc-intercede`` entry point: the parser of all commands, logging to stderr, exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import arc_intercede
from arc_intercede.cli.base import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    UsageError,
    _Parser,
    resolve_target,
)
from arc_intercede.cli.cmdoptions import _MAIN_EXAMPLES, _common
from arc_intercede.cli.commands import COMMANDS
from arc_intercede.cli.jobstore import JobStore, default_store_path
from arc_intercede.contract import InterCEdeError
from arc_intercede.credentials import ProxyError
from arc_intercede.descriptions.model import DescriptionSyntaxError
from arc_intercede.descriptions.yaml_jobspec import JobSpecError
from arc_intercede.errors import ConfigurationError, LocalCredentialError

__all__ = ["build_parser", "main"]

_log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Build the ``arc-intercede`` argument parser."""
    parser = _Parser(
        prog=PROG,
        description="Submit, monitor and retrieve jobs on ARC 7 computing elements over the ARC REST API.",
        epilog=_MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {arc_intercede.__version__}")
    _common(parser)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(subs)
    return parser


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"
        if record.levelno <= logging.DEBUG:
            text = f"{PROG}: debug: [{record.name}] {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _split_command(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split ``submit ... -- EXECUTABLE ARGS`` into the options and the job's command line."""
    if "--" in argv:
        at = argv.index("--")
        if "submit" in argv[:at]:
            return argv[:at], argv[at + 1:]
    return argv, []


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    words = list(sys.argv[1:] if argv is None else argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger = logging.getLogger("arc_intercede")
    saved_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    verbose = 0
    try:
        parser = build_parser()
        options, command_line = _split_command(words)
        try:
            args, extra = parser.parse_known_args(options)
        except SystemExit as exc:  # --help, --version
            return exc.code if isinstance(exc.code, int) else EXIT_OK
        if extra:
            where = f"{PROG} {args.command}" if args.command else PROG
            raise UsageError(f"{args.command + ': ' if args.command else ''}unrecognized arguments: "
                             f"{' '.join(extra)} (see '{where} --help')")
        verbose = getattr(args, "verbose", 0) or 0
        logger.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING)
        args.command_line = command_line
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        if command_line and args.command != "submit":  # pragma: no cover - _split_command only splits submit
            raise UsageError(f"{args.command}: unexpected '--'")
        if getattr(args, "offline", None) is not None:
            return int(args.offline(args))
        target = resolve_target(args)
        store = JobStore(default_store_path())
        status: int = args.func(args, target, store)
        return status
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UsageError, JobSpecError, ProxyError, ConfigurationError, LocalCredentialError,
            DescriptionSyntaxError) as exc:
        return _fail(exc, EXIT_USAGE, verbose)
    except InterCEdeError as exc:
        return _fail(exc, EXIT_FAILED, verbose)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(exc, EXIT_FAILED, verbose, f"{where}{exc.strerror or exc}")
    except Exception as exc:
        return _fail(exc, EXIT_FAILED, verbose, f"internal error: {type(exc).__name__}: {exc} "
                                                "(run with -vv for the traceback)")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)


def _fail(exc: BaseException, code: int, verbose: int, message: str | None = None) -> int:
    if verbose >= 2:
        _log.debug("traceback:", exc_info=exc)
    text = " ".join((message if message is not None else str(exc) or type(exc).__name__).split())
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return code
