"""``fetch``: download finished jobs' outputs, with a progress display."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from arc_intercede.backend import ARCBackend
from arc_intercede.cli.base import EXIT_FAILED, EXIT_OK, PROG, Target, with_ce
from arc_intercede.cli.cmdoptions import LOCAL_JOBS, _ids_arg, _select_ids, _sub
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.cli.output import _human_bytes, _print_json
from arc_intercede.contract import JobOutput
from arc_intercede.transfer import TransferProgress

_log = logging.getLogger(__name__)


class ProgressDisplay:
    """Shows fetch progress on a stream: one updating line on a terminal, periodic lines otherwise.

    Args:
        stream: Where to write (normally standard error).
        total_jobs: Number of jobs being fetched.
        tty: Whether ``stream`` is a terminal (default: ask it).
        period: Seconds between plain lines (non-terminal output).
    """

    def __init__(self, stream: TextIO, total_jobs: int, *, tty: bool | None = None, period: float = 5.0) -> None:
        self._stream = stream
        self._total = total_jobs
        self._tty = stream.isatty() if tty is None else tty
        self._period = period
        self._jobs: dict[str, TransferProgress] = {}
        self._last = time.monotonic()
        self._drawn = False
        self._closed = False

    def __call__(self, p: TransferProgress) -> None:
        """Record one progress report and redraw if due."""
        if self._closed:
            return
        self._jobs[p.job_id] = p
        now = time.monotonic()
        if self._tty:
            if p.finished or now - self._last >= 0.1:
                self._last = now
                width = max(20, shutil.get_terminal_size().columns - 1)
                self._stream.write("\r\x1b[K" + self._line(p)[:width])
                self._stream.flush()
                self._drawn = True
        elif p.finished:
            self._stream.write(f"{PROG}: fetch: {p.job_id}: {_human_bytes(p.bytes_done)}, "
                               f"{p.files_done} file(s), done\n")
            self._stream.flush()
        elif now - self._last >= self._period:
            self._last = now
            self._stream.write(f"{PROG}: fetch: {self._totals()}; {p.job_id}: {_human_bytes(p.bytes_done)}, "
                               f"{p.files_done}/{p.files_seen} files\n")
            self._stream.flush()

    def _totals(self) -> str:
        done = sum(1 for p in self._jobs.values() if p.finished)
        nbytes = sum(p.bytes_done for p in self._jobs.values())
        files = sum(p.files_done for p in self._jobs.values())
        return f"{done}/{self._total} jobs, {_human_bytes(nbytes)}, {files} files"

    def _line(self, p: TransferProgress) -> str:
        job = p.job_id if len(p.job_id) <= 16 else p.job_id[:15] + "…"
        state = "done" if p.finished else f"{p.files_done}/{p.files_seen} files"
        return f"fetch: {self._totals()} | {job}: {_human_bytes(p.bytes_done)}, {state}"

    def close(self) -> None:
        """Finish the display (ends the updating line); later reports are ignored."""
        self._closed = True
        if self._tty and self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def _manifest_json(out: JobOutput) -> dict[str, Any]:
    return {
        "complete": out.complete, "reason": out.reason,
        "stdout": None if out.stdout is None else str(out.stdout),
        "stderr": None if out.stderr is None else str(out.stderr),
        "log": None if out.log is None else str(out.log),
        "files": {k: str(v) for k, v in out.files.items()},
    }


def cmd_fetch(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``fetch``: download finished jobs' outputs into DEST/<job id>/."""
    ids = _select_ids(args, target, store)
    if not ids:
        if args.json:
            _print_json({})
        return EXIT_OK
    dest = Path(args.output).expanduser()
    display = None if args.quiet else ProgressDisplay(sys.stderr, len(ids))

    async def body(ce: ARCBackend) -> Mapping[str, JobOutput]:
        try:
            return await ce.fetch_output(ids, dest, progress=display)
        finally:
            if display is not None:
                display.close()

    outputs = with_ce(target, body)
    if args.json:
        _print_json({j: _manifest_json(o) for j, o in outputs.items()})
    else:
        for job_id, out in outputs.items():
            print(f"{job_id}: {'complete' if out.complete else 'incomplete: ' + out.reason}")
            for label, path in (("stdout", out.stdout), ("stderr", out.stderr), ("log", out.log)):
                if path is not None:
                    print(f"  {label:<7}{path}")
            for name, path in sorted(out.files.items()):
                print(f"  file   {name} -> {path}")
    return EXIT_OK if all(o.complete for o in outputs.values()) else EXIT_FAILED


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "fetch", help="download the outputs of finished jobs",
             description="Download each finished job's outputs into DEST/<job id>/ (the CE's job log into "
                         "DEST/<job id>.ce/). Fetching is non-destructive and repeatable. Prints each job's "
                         "manifest, or why it is incomplete; exit code 1 if any job is incomplete.",
             examples=f"  {PROG} fetch\n  {PROG} fetch -o results ID1 ID2\n  {PROG} fetch --quiet --json\n")
    _ids_arg(p, LOCAL_JOBS)
    p.add_argument("-o", "--output", default="arc-output", metavar="DEST",
                   help="destination directory (default ./arc-output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the manifests as JSON")
    p.set_defaults(func=cmd_fetch)
