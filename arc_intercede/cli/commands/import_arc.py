"""``arc-intercede import-arc``: add the jobs of ARC's own client job list to the local job list.

Offline: reads ``~/.arc/jobs.dat`` (or the given file) with :meth:`arc_intercede.cli.jobstore.JobStore.import_arc`
and names each job's CE after the configuration file's CE with the same endpoint (else ``host:port``).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from arc_intercede.cli.base import EXIT_OK, PROG, UsageError, config_file_path
from arc_intercede.cli.cmdoptions import _sub
from arc_intercede.cli.jobstore import JobStore, JobStoreError, default_store_path
from arc_intercede.config import load_yaml

__all__ = ["add_parser", "run"]

_log = logging.getLogger(__name__)

DEFAULT_ARC_JOBLIST = "~/.arc/jobs.dat"


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    prog = PROG
    p = _sub(subs, "import-arc", help="add the jobs of ARC's client job list (arcsub's ~/.arc/jobs.dat)",
            description="Add the REST jobs of ARC's own client job list (ARC 6/7 SQLite jobs.dat, as written by "
                        "arcsub) to the local job list, with their names, prepared descriptions, submission "
                        "times and last states, so status, fetch, kill, ... manage them too. Jobs already in "
                        "the local list are left as they are; the ARC file is only read. Contacts no CE.",
            examples=f"  {prog} import-arc\n  {prog} import-arc ~/arc/old-jobs.dat --json\n", ce_options=False)
    p.add_argument("file", nargs="?", default=DEFAULT_ARC_JOBLIST, metavar="FILE",
                   help=f"ARC's job list (default {DEFAULT_ARC_JOBLIST})")
    p.add_argument("-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
                   help="configuration file naming the CEs (default: as for the other commands)")
    p.add_argument("--json", action="store_true", help='print {"added": [...], "known": [...]} (job ids)')
    p.set_defaults(func=None, offline=run)


def _ce_names(config: str | None) -> Mapping[str, str]:
    path, _ = config_file_path(config)
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:  # the names are a nicety: say so, import anyway
        _log.warning("%s: cannot read the CE names (%s); naming CEs by host:port", path, type(exc).__name__)
        return {}
    ces = data.get("ces") if isinstance(data, Mapping) else None
    if not isinstance(ces, Mapping):
        return {}
    return {str(c["endpoint"]).rstrip("/"): str(name) for name, c in ces.items()
            if isinstance(c, Mapping) and isinstance(c.get("endpoint"), str)}


def run(args: argparse.Namespace) -> int:
    """Import the file; print one line per added job (or JSON). Exit 2 if the file is not ARC's job list."""
    path = Path(args.file).expanduser()
    store = JobStore(default_store_path())
    try:
        result = store.import_arc(path, ce_names=_ce_names(getattr(args, "config", None)))
    except FileNotFoundError as exc:
        raise UsageError(f"import-arc: {path}: no such file (ARC's job list is ~/.arc/jobs.dat)") from exc
    except JobStoreError as exc:
        if Path(exc.filename) == path:
            raise UsageError(f"import-arc: {exc}") from exc
        raise
    finally:
        store.close()
    if args.json:
        print(json.dumps({"added": [r.job_id for r in result.added], "known": result.known}, indent=2))
        return EXIT_OK
    for record in result.added:
        print(f"{record.job_id}  {record.ce}  {record.tag or ''}".rstrip())
    print(f"{len(result.added)} job(s) added to {store.path}, {len(result.known)} already there")
    return EXIT_OK
