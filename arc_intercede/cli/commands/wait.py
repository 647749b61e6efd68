"""``wait``: poll until every job is terminal or unknown, or the timeout passes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import Mapping
from typing import Any

from arc_intercede.cli import base
from arc_intercede.cli.base import EXIT_FAILED, EXIT_OK, EXIT_TIMEOUT, PROG, Target, run_async
from arc_intercede.cli.cmdoptions import (
    LOCAL_JOBS,
    _ce_names,
    _duration_arg,
    _ids_arg,
    _positive_float,
    _select_ids,
    _sub,
)
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.cli.output import _print_json, _print_states, _status_rows
from arc_intercede.contract import InterCEdeError, JobStatus

_log = logging.getLogger(__name__)


def _is_final(state: JobStatus) -> bool:
    return state.is_terminal or state is JobStatus.UNKNOWN


def cmd_wait(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``wait``: poll until every job is terminal (or unknown), or the timeout passes."""
    ids = _select_ids(args, target, store)
    if not ids:
        if args.json:
            _print_json([])
        return EXIT_OK
    show = not args.quiet

    async def body() -> tuple[dict[str, JobStatus], bool]:
        deadline = None if args.timeout is None else time.monotonic() + args.timeout
        states: dict[str, JobStatus] = {}
        last = ""
        async with base._backend(target) as ce:
            while True:
                pending = [j for j in ids if j not in states or not _is_final(states[j])]
                try:
                    states.update(await ce.status(pending))
                except InterCEdeError as exc:
                    if not getattr(exc, "transient", False):
                        raise
                    _log.warning("status poll failed, retrying: %s", exc)
                summary = _summary(states, len(ids))
                if show and summary != last:
                    print(f"{PROG}: wait: {summary}", file=sys.stderr, flush=True)
                    last = summary
                if len(states) == len(ids) and all(_is_final(s) for s in states.values()):
                    return states, False
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return states, True
                await asyncio.sleep(args.interval if deadline is None else min(args.interval, deadline - now))

    states, timed_out = run_async(body)
    final = {j: states.get(j, JobStatus.UNKNOWN) for j in ids}
    _print_states(_status_rows(final, ids, _ce_names(store, target), target), args.json)
    if timed_out:
        print(f"{PROG}: wait: timed out after {args.timeout:g} s", file=sys.stderr)
        return EXIT_TIMEOUT
    return EXIT_OK if all(s is JobStatus.DONE for s in final.values()) else EXIT_FAILED


def _summary(states: Mapping[str, JobStatus], total: int) -> str:
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state.value] = counts.get(state.value, 0) + 1
    parts = [f"{n} {name}" for name, n in sorted(counts.items())]
    if len(states) < total:
        parts.append(f"{total - len(states)} not polled yet")
    return ", ".join(parts) + f" ({total} job{'s' if total != 1 else ''})"


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "wait", help="wait until jobs end",
             description="Poll until every job is terminal (done, failed, aborted) or unknown, then print their "
                         "states. Progress goes to stderr.\n\nexit codes: 0 all done; 1 any failed, aborted or "
                         "unknown; 3 timed out (some job still active).",
             examples=f"  {PROG} wait\n  {PROG} wait --timeout 1h --interval 30 ID1 ID2\n"
                      f"  {PROG} submit job.yaml | {PROG} wait -\n")
    _ids_arg(p, LOCAL_JOBS)
    p.add_argument("--timeout", type=_duration_arg, metavar="DURATION", help="give up after this long (default: never)")
    p.add_argument("--interval", type=_positive_float, default=10.0, metavar="SECONDS",
                   help="seconds between polls (default 10)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print the final states as JSON")
    p.set_defaults(func=cmd_wait)
