"""``diagnose``: the CE's diagnose items of each job."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from typing import Any

from arc_intercede.backend import DIAGNOSE_ITEMS, ARCBackend
from arc_intercede.cli.base import EXIT_FAILED, EXIT_OK, PROG, Target, UsageError, with_ce
from arc_intercede.cli.cmdoptions import _read_ids, _sub
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.cli.output import _print_json
from arc_intercede.jobids import normalise_ids

_log = logging.getLogger(__name__)


def cmd_diagnose(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``diagnose``: print the CE's diagnose items of each job."""
    ids = list(dict.fromkeys(normalise_ids(_read_ids(args.ids), target.config.endpoint)))
    if not ids:
        raise UsageError("diagnose: give at least one job id")
    items = list(dict.fromkeys(args.items)) if args.items else list(DIAGNOSE_ITEMS)

    async def body(ce: ARCBackend) -> Mapping[str, Any]:
        return await ce.diagnostics(ids)

    diags = with_ce(target, body)
    if args.json:
        _print_json({j: {"found": d.found, "reason": d.reason,
                         "items": {k: v for k, v in d.files.items() if k in items}} for j, d in diags.items()})
    else:
        for job_id in ids:
            d = diags[job_id]
            if not d.found:
                print(f"{job_id}: {d.reason or 'job not found on the CE'}")
                continue
            print(f"=== {job_id}")
            for item in items:
                text = d.files.get(item)
                print(f"--- {item}" + ("" if text is not None else " (not available yet)"))
                if text:
                    print(text, end="" if text.endswith("\n") else "\n")
    return EXIT_OK if all(d.found for d in diags.values()) else EXIT_FAILED


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "diagnose", help="show the CE's diagnostics of jobs",
             description="Print the CE's diagnose items of jobs (available while they run): "
                         f"{', '.join(DIAGNOSE_ITEMS)}. Exit code 1 if a job is not found.",
             examples=f"  {PROG} diagnose ID\n  {PROG} diagnose --item errors --item failed ID1 ID2\n")
    p.add_argument("ids", nargs="*", metavar="ID", help="job ids ('-' reads them from stdin)")
    p.add_argument("--item", dest="items", action="append", choices=DIAGNOSE_ITEMS, metavar="ITEM",
                   help=f"only this item (repeatable): {', '.join(DIAGNOSE_ITEMS)}")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_diagnose)
