"""``describe``: parse and prepare job files offline and show what would be sent."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arc_intercede.cli.base import EXIT_OK, EXIT_USAGE, PROG
from arc_intercede.cli.cmdoptions import _sub
from arc_intercede.cli.output import _print_json
from arc_intercede.descriptions.model import DescriptionSyntaxError, JobDescription
from arc_intercede.descriptions.prepare import detect_language, load_descriptions, prepare

_log = logging.getLogger(__name__)


def _is_description(path: str) -> bool:
    try:
        with open(Path(path).expanduser(), encoding="utf-8", errors="replace") as f:
            return detect_language(f.read(4096)) != "yaml"
    except OSError:
        return False


def _load_all(files: Sequence[str]) -> list[tuple[str, list[JobDescription] | None, str]]:
    out: list[tuple[str, list[JobDescription] | None, str]] = []
    for name in files:
        try:
            out.append((name, load_descriptions(Path(name).expanduser()), ""))
        except DescriptionSyntaxError as exc:
            out.append((name, None, str(exc)))
    return out


def cmd_describe(args: argparse.Namespace) -> int:
    """``describe``: parse and prepare job files without contacting a CE."""
    results = []
    for name, jobs, error in _load_all(args.files):
        entry: dict[str, Any] = {"file": name, "ok": jobs is not None, "error": error or None, "jobs": []}
        for job in jobs or []:
            data = job.to_json()
            try:
                prepared = prepare(job, check_files=False)
                data["missing_inputs"] = list(prepared.missing)
                data["uploads"] = [{"name": u.name, "path": str(u.path)} for u in prepared.uploads]
            except DescriptionSyntaxError as exc:
                data["prepare_error"] = str(exc)
            entry["jobs"].append(data)
        results.append(entry)
    if args.json:
        _print_json(results)
    else:
        for entry in results:
            if not entry["ok"]:
                print(f"{PROG}: error: {entry['error']}")
                continue
            for k, data in enumerate(entry["jobs"]):
                print(f"{entry['file']} job {k + 1}: {data['executable']} {' '.join(data['arguments'])}".rstrip())
                for key in ("queue", "wall_time_s", "cpu_time_s", "memory_mb", "count", "job_name"):
                    if data[key] is not None:
                        print(f"  {key}: {data[key]}")
                for rte in data["runtime_environments"]:
                    print(f"  runtime environment: {rte['op']} {rte['name']}")
                for f in data["inputs"]:
                    print(f"  input {f['name']}: {f['source'] or '(upload)'}")
                for f in data["outputs"]:
                    print(f"  output {f['name']}: {f['target'] or '(kept)'}")
                for name in data.get("missing_inputs", []):
                    print(f"  missing local input: {name}")
                if "prepare_error" in data:
                    print(f"  cannot be sent: {data['prepare_error']}")
    return EXIT_OK if all(e["ok"] for e in results) else EXIT_USAGE


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "describe", help="parse xRSL/ADL/YAML job files and show what would be sent, offline",
             description="Parse job files (xRSL, ADL or YAML, recognised by content) as ARC's client reads them, "
                         "prepare them, and show each job: user-side meaning, times in seconds, memory in MB. "
                         "Contacts no CE; local inputs need not exist (missing ones are listed). Exit code 2 "
                         "if a file is invalid.",
             examples=f"  {PROG} describe job.xrsl\n  {PROG} describe --json a.xrsl b.adl job.yaml\n")
    p.add_argument("files", nargs="+", metavar="FILE", help="job files")
    p.add_argument("--json", action="store_true",
                   help='print a JSON array: one {"file", "ok", "error", "jobs"} per FILE')
    p.set_defaults(func=None, offline=cmd_describe)
