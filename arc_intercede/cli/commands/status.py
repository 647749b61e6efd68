"""``status``: one state per job."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any

from arc_intercede.backend import ARCBackend
from arc_intercede.cli.base import EXIT_OK, PROG, Target, with_ce
from arc_intercede.cli.cmdoptions import LOCAL_JOBS, _ce_names, _ids_arg, _select_ids, _sub
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.cli.output import _print_json, _print_states, _status_rows
from arc_intercede.contract import JobStatus

_log = logging.getLogger(__name__)


def cmd_status(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``status``: one state per job."""
    ids = _select_ids(args, target, store)
    if not ids:
        if args.json:
            _print_json([])
        return EXIT_OK

    async def body(ce: ARCBackend) -> Mapping[str, JobStatus]:
        return await ce.status(ids)

    states = with_ce(target, body)
    _print_states(_status_rows(states, ids, _ce_names(store, target), target), args.json)
    return EXIT_OK


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "status", help="show job states",
             description="Show the state of jobs: waiting, running, held, done, failed, aborted, or unknown (the "
                         "CE does not know the id).",
             examples=f"  {PROG} status\n  {PROG} status ID1 ID2 --json\n")
    _ids_arg(p, LOCAL_JOBS)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)
