"""``kill``, ``purge``, ``restart``: one outcome line per job."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any, Final

from arc_intercede.backend import ARCBackend
from arc_intercede.cli.base import EXIT_FAILED, EXIT_OK, PROG, Target, with_ce
from arc_intercede.cli.cmdoptions import _select_ids, _sub
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.contract import OpOutcome

_log = logging.getLogger(__name__)


_ACTIONS: Final = {"kill": "kill requested", "purge": "purged", "restart": "restart requested"}


def cmd_action(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``kill``, ``purge``, ``restart``: per-id outcome lines; ``purge`` also forgets the ids locally."""
    action: str = args.command
    ids = _select_ids(args, target, store, verb=action)
    if not ids:
        return EXIT_OK

    async def body(ce: ARCBackend) -> Mapping[str, OpOutcome]:
        method = {"kill": ce.kill, "purge": ce.purge, "restart": ce.restart}[action]
        return await method(ids)

    outcomes = with_ce(target, body)
    for job_id in ids:
        outcome = outcomes[job_id]
        reason = f" ({outcome.reason})" if outcome.reason and not outcome.ok else ""
        print(f"{job_id}: {_ACTIONS[action] if outcome.ok else action + ' failed' + reason}")
    if action == "purge":
        gone = [j for j in ids if outcomes[j].ok or "not found" in outcomes[j].reason]
        try:
            store.forget(gone)
        except OSError as exc:
            _log.error("cannot update the local job list %s: %s", store.path, exc.strerror or exc)
    return EXIT_OK if all(o.ok for o in outcomes.values()) else EXIT_FAILED


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    for name, summary, detail in (
        ("kill", "kill jobs", "Ask the CE to kill jobs."),
        ("purge", "remove jobs and their files from the CE",
         "Ask the CE to remove jobs and their files; purged ids are also forgotten in the local job list."),
        ("restart", "restart failed jobs", "Ask the CE to re-run failed jobs from the step that failed."),
    ):
        p = _sub(subs, name, help=summary,
                 description=f"{detail} Prints one result line per job; exit code 1 if the CE refused any. Without "
                             "job ids, --all is required to act on every job of the selected CE in the local "
                             "job list.",
                 examples=f"  {PROG} {name} ID1 ID2\n  {PROG} {name} --all\n")
        p.add_argument("ids", nargs="*", metavar="ID", help="job ids ('-' reads them from stdin)")
        p.add_argument("--all", action="store_true", help=f"{name} every job of the selected CE in the local job list")
        p.set_defaults(func=cmd_action)
