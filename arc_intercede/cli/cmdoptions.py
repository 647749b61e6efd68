"""Shared options and arguments: CE selection, durations and counts, job ids (also from stdin), help texts."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, Final

from arc_intercede.cli.base import PROG, Target, UsageError
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.descriptions.yaml_jobspec import JobSpecError, parse_duration
from arc_intercede.jobids import normalise_ids

_log = logging.getLogger(__name__)


def _duration_arg(text: str) -> int:
    try:
        return parse_duration(text, field="duration")
    except JobSpecError as exc:
        raise argparse.ArgumentTypeError(f"invalid duration {text!r} (use seconds or e.g. 90m, 1h30m, 2d)") from exc


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _read_ids(words: Sequence[str]) -> list[str]:
    """Job ids from the command line; ``-`` reads more ids from standard input (one per line)."""
    ids: list[str] = []
    for word in words:
        if word == "-":
            ids.extend(line.strip() for line in sys.stdin if line.strip())
        elif word.strip():
            ids.append(word.strip())
    return list(dict.fromkeys(ids))


def _select_ids(args: argparse.Namespace, target: Target, store: JobStore, *, verb: str | None = None) -> list[str]:
    """The given ids (job URLs of the CE mapped to ids), or the target CE's jobs in the local job list.

    Without ids, ``verb`` (if given) requires ``--all``.
    """
    ids = list(dict.fromkeys(normalise_ids(_read_ids(args.ids), target.config.endpoint)))
    if ids:
        return ids
    if verb is not None and not getattr(args, "all", False):
        raise UsageError(f"{args.command}: give job ids, or --all to {verb} every job in the local job list "
                         f"of CE {target.name!r}")
    ids = [r.job_id for r in store.jobs(endpoint=target.config.endpoint)]
    if not ids:
        print(f"{PROG}: no jobs in the local job list for CE {target.name!r} ({store.path})", file=sys.stderr)
    return ids


def _ce_names(store: JobStore, target: Target) -> dict[str, str]:
    try:
        return {r.job_id: r.ce for r in store.jobs(endpoint=target.config.endpoint)}
    except OSError as exc:
        _log.warning("cannot read the local job list %s: %s", store.path, exc.strerror)
        return {}


LOCAL_JOBS: Final = "every job of the selected CE in the local job list"
"""Default selection of commands given no job ids."""

_CONFIG_HELP = f"""\
configuration file (-c; default $ARC_INTERCEDE_CONFIG, else $XDG_CONFIG_HOME/arc-intercede/config.yaml,
i.e. ~/.config/arc-intercede/config.yaml):

  default: local                    # the CE used without --ce (optional with a single CE)
  ces:
    local:                          # any ARCConfig keys; relative paths are relative to this file
      endpoint: https://localhost:8443/arex
      queue: batch
      ca_dir: /var/lib/arc-intercede/state/ca
      proxy: /var/lib/arc-intercede/state/user/proxy.pem    # and/or token_file: ...

--client-config FILE uses one CE configuration file (the keys of a single CE above) instead.
--endpoint/--queue/--ca-dir/--token-file/--proxy override the selected CE's settings; --endpoint
with --ca-dir and a credential works without any file.

local job list: jobs submitted with '{PROG} submit' (or imported from ARC's client with
'{PROG} import-arc') are remembered in $ARC_INTERCEDE_STATE/jobs.db, else
$XDG_STATE_HOME/arc-intercede/jobs.db (i.e. ~/.local/state/arc-intercede/jobs.db; a jobs.jsonl of
earlier versions there is moved into it on first use); commands given no job ids act on the jobs of
the selected CE in that list. A job id '-' reads ids from standard input, one per line.

exit codes: 0 success; 1 an operation failed (CE error, failed job, copy not created, incomplete
output); 2 bad usage, configuration or input, or an unusable local credential (missing or expired
proxy: run '{PROG} proxy'); 3 'wait' timed out; 130 interrupted.

job ids may also be given as job URLs of the selected CE (https://host:443/arex/ID).
"""


_MAIN_EXAMPLES = f"""\
examples:
  {PROG} info
  {PROG} submit job.yaml
  {PROG} submit --input data.txt --output result.txt -- ./analyse.sh data.txt
  {PROG} wait && {PROG} fetch -o results
  {PROG} --ce prod status --json
  {PROG} --client-config /var/lib/arc-intercede/state/proxy/client.yaml info
  {PROG} proxy --valid 24h

{_CONFIG_HELP}"""


_JOBSPEC_HELP = """\
job specification (YAML; every key but 'executable' is optional):

  executable: run.sh          # an input's name, a local file next to the spec (uploaded),
                              # or an absolute path / command on the worker node
  arguments: [--n, 3]
  inputs:                     # name: local path (relative to the spec) or URL
    run.sh: scripts/run.sh    #   or a list: - {name: a.txt, source: data/a.txt, executable: false}
    data.txt: https://example.org/data.txt
  outputs: {stdout: out.txt, stderr: err.txt, files: [result.dat, plots/]}
  queue: batch
  cpus: 4
  memory_mb: 2000             # per slot
  wall_time: 1h30m            # seconds, or e.g. 90m, 1h30m, 2d
  runtime_environments: [ENV/PROXY]
  environment: {OMP_NUM_THREADS: 4}
  stdin: data.txt
  tag: my-analysis
  count: 10                   # identical copies
"""


def _common(parser: argparse.ArgumentParser, *, ce_options: bool = True) -> None:
    """Options accepted both before and after the command (defaults suppressed so either place works)."""
    if ce_options:
        group = parser.add_argument_group("CE selection")
        group.add_argument("-c", "--config", metavar="FILE", default=argparse.SUPPRESS,
                           help="configuration file with named CEs (default: $ARC_INTERCEDE_CONFIG or "
                                "~/.config/arc-intercede/config.yaml)")
        group.add_argument("--ce", metavar="NAME", default=argparse.SUPPRESS,
                           help="the CE to use from the configuration file (default: its 'default:' key, or "
                                "its only CE)")
        group.add_argument("--client-config", metavar="FILE", default=argparse.SUPPRESS,
                           help="one CE's configuration file (ARCConfig keys), used instead of the named CEs")
        group.add_argument("--endpoint", metavar="URL", default=argparse.SUPPRESS,
                           help="override the A-REX endpoint, https://host[:port]/arex")
        group.add_argument("--queue", metavar="QUEUE", default=argparse.SUPPRESS,
                           help="override the queue (for submit: also the job specification's queue)")
        group.add_argument("--ca-dir", metavar="DIR", default=argparse.SUPPRESS,
                           help="override the CA directory that verifies the CE")
        group.add_argument("--token-file", metavar="FILE", default=argparse.SUPPRESS,
                           help="override the bearer token file")
        group.add_argument("--proxy", metavar="FILE", default=argparse.SUPPRESS, help="override the proxy file")
    parser.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log to stderr: -v info, -vv debug (and tracebacks)")


def _sub(subs: Any, name: str, *, help: str, description: str, examples: str,
         ce_options: bool = True, usage: str | None = None, extra: str = "") -> argparse.ArgumentParser:
    width = min(100, max(40, shutil.get_terminal_size().columns - 2))
    text = "\n\n".join(textwrap.fill(p, width) for p in description.split("\n\n"))
    parser: argparse.ArgumentParser = subs.add_parser(
        name, help=help, description=text + ("\n\n" + extra if extra else ""), epilog="examples:\n" + examples,
        formatter_class=argparse.RawDescriptionHelpFormatter, usage=usage,
    )
    _common(parser, ce_options=ce_options)
    return parser


def _ids_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("ids", nargs="*", metavar="ID",
                        help=f"job ids ('-' reads them from stdin); default: {what}")

