"""``submit``: jobs from a YAML job file or a command line; several or xRSL/ADL files in one bulk call."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from arc_intercede.backend import ARCBackend
from arc_intercede.cli import base
from arc_intercede.cli.base import EXIT_FAILED, EXIT_OK, PROG, Target, UsageError, run_async, with_ce
from arc_intercede.cli.cmdoptions import _JOBSPEC_HELP, _duration_arg, _positive_int, _sub
from arc_intercede.cli.commands.describe import _is_description, _load_all
from arc_intercede.cli.jobstore import JobRecord, JobStore
from arc_intercede.cli.output import _print_json
from arc_intercede.contract import Submission, SubmissionSpec
from arc_intercede.descriptions.matchmaking import MatchError, match, targets_from_info
from arc_intercede.descriptions.model import DescriptionSyntaxError
from arc_intercede.descriptions.prepare import from_spec, prepare, to_wire
from arc_intercede.descriptions.yaml_jobspec import JobFile, build_spec, load_jobspec, parse_input, with_extras

_log = logging.getLogger(__name__)


def _submit_job(args: argparse.Namespace) -> JobFile:
    command: list[str] = args.command_line
    if args.spec is not None and command:
        raise UsageError("submit: give a job specification file or a command after --, not both")
    if args.spec is None and not command:
        raise UsageError("submit: give a job specification file (submit job.yaml) or a command "
                         "(submit -- EXECUTABLE [ARGS...])")
    if args.spec is not None:
        job = load_jobspec(Path(args.spec).expanduser())
    else:
        job = build_spec({"executable": command[0], "arguments": command[1:]}, base_dir=Path.cwd())
    inputs = [parse_input(text) for text in args.inputs]
    job = with_extras(job, inputs=inputs, outputs=args.outputs, queue=getattr(args, "queue", None),
                      cpus=args.cpus, memory_mb=args.memory_mb, wall_time_s=args.wall_time)
    spec: SubmissionSpec = job.spec
    if args.tag is not None:
        spec = dataclasses.replace(spec, tag=args.tag)
    if args.env:
        env = dict(spec.environment)
        for item in args.env:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(f"submit: --env expects NAME=VALUE, got {item!r}")
            env[name] = value
        spec = dataclasses.replace(spec, environment=env)
    return JobFile(spec=spec, count=args.count if args.count is not None else job.count)


def cmd_submit(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``submit``: create jobs from job files (YAML, xRSL, ADL) or from a command line."""
    files: list[str] = args.spec or []
    if files and (len(files) > 1 or args.dump or any(_is_description(f) for f in files)):
        return cmd_submit_descriptions(args, target, store, files)
    args.spec = files[0] if files else None
    job = _submit_job(args)

    async def body(ce: ARCBackend) -> Any:
        return await ce.submit(job.spec, count=job.count)

    sub = with_ce(target, body)
    ids = [sub.ids[i] for i in sorted(sub.ids)]
    try:
        store.add(JobRecord.now(j, ce=target.name, endpoint=target.config.endpoint, tag=job.spec.tag) for j in ids)
    except OSError as exc:
        _log.error("the jobs were submitted but could not be recorded in the local job list %s: %s",
                   store.path, exc.strerror or exc)
    if args.json:
        _print_json({
            "ce": target.name, "endpoint": target.config.endpoint, "count": job.count,
            "jobs": [{"copy": i, "job_id": sub.ids[i]} for i in sorted(sub.ids)],
            "failures": [{"copy": i, "reason": sub.failures[i]} for i in sorted(sub.failures)],
        })
    else:
        for job_id in ids:
            print(job_id)
        for i in sorted(sub.failures):
            print(f"{PROG}: copy {i} was not created: {sub.failures[i]}", file=sys.stderr)
    return EXIT_FAILED if sub.failures else EXIT_OK


def cmd_submit_descriptions(args: argparse.Namespace, target: Target, store: JobStore, files: Sequence[str]) -> int:
    """``submit FILE...`` with xRSL/ADL (and YAML) files: one bulk submission for all their jobs."""
    specs = [(name, load_jobspec(Path(name).expanduser())) for name in files if not _is_description(name)]
    loaded = _load_all([name for name in files if _is_description(name)])
    bad = [f"{name}: {error}" if not error.startswith(name) else error for name, jobs, error in loaded if jobs is None]
    if bad:
        raise UsageError("; ".join(bad))
    jobs = [job for _, js, _ in loaded for job in js or []]
    origin = [name for name, js, _ in loaded for _ in js or []]
    if args.dump and specs:
        raise UsageError("submit --dump: only for xRSL/ADL files, not " + ", ".join(n for n, _ in specs))

    async def dump() -> list[str]:
        async with base._backend(target) as ce:
            targets = None if args.no_matchmaking else targets_from_info(await ce.ce_info())
        texts = []
        for job in jobs:
            chosen = match(job, targets) if targets is not None else job
            texts.append(to_wire([prepare(chosen).job], language=args.wire))
        return texts

    if args.dump:
        try:
            for text in run_async(dump):
                print(text)
        except (MatchError, DescriptionSyntaxError) as exc:
            raise UsageError(str(exc)) from None
        return EXIT_OK

    async def body(ce: ARCBackend) -> Any:
        # YAML specifications keep their own path (exact arguments); their copies follow the files' jobs
        subs = [await ce.submit(job_file.spec, count=job_file.count) for _, job_file in specs]
        sub = await ce.submit_descriptions(jobs, matchmaking=not args.no_matchmaking, wire=args.wire)
        ids, failures = dict(sub.ids), dict(sub.failures)
        for (name, job_file), extra in zip(specs, subs, strict=True):
            base = len(origin)
            origin.extend([name] * job_file.count)
            jobs.extend([from_spec(job_file.spec)] * job_file.count)
            ids.update((base + k, v) for k, v in extra.ids.items())
            failures.update((base + k, v) for k, v in extra.failures.items())
        return Submission(ids=ids, failures=failures)

    sub = with_ce(target, body)
    try:
        store.add(JobRecord.now(sub.ids[i], ce=target.name, endpoint=target.config.endpoint, tag=jobs[i].job_name)
                  for i in sorted(sub.ids))
    except OSError as exc:
        _log.error("the jobs were submitted but could not be recorded in the local job list %s: %s",
                   store.path, exc.strerror or exc)
    if args.json:
        _print_json({
            "ce": target.name, "endpoint": target.config.endpoint, "count": len(jobs),
            "jobs": [{"job": i, "file": origin[i], "job_id": sub.ids[i]} for i in sorted(sub.ids)],
            "failures": [{"job": i, "file": origin[i], "reason": sub.failures[i]} for i in sorted(sub.failures)],
        })
    else:
        for i in sorted(sub.ids):
            print(sub.ids[i])
        for i in sorted(sub.failures):
            print(f"{PROG}: {origin[i]}: job {i + 1} was not created: {sub.failures[i]}", file=sys.stderr)
    return EXIT_FAILED if sub.failures else EXIT_OK


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "submit", help="submit a job from a YAML job specification or a command line",
             description="Submit a job, from a YAML job specification file or from a command given after '--'. "
                         "Prints the new job ids, one per line, and remembers them in the local job list. "
                         "A relative path to a local executable is uploaded with the job. Exit code 1 if "
                         "any copy was not created.",
             extra=_JOBSPEC_HELP,
             examples=(f"  {PROG} submit job.yaml\n"
                       f"  {PROG} submit job.yaml --count 100 --tag batch-7\n"
                       f"  {PROG} submit -- /bin/hostname\n"
                       f"  {PROG} submit --input data.txt --output result.txt --wall-time 30m -- ./run.sh data.txt\n"
                       f"  {PROG} submit --input https://example.org/big.tar -- /bin/tar xf big.tar\n"),
             usage=(f"{PROG} submit [options] JOB.yaml\n"
                    f"       {PROG} submit [options] [-i [NAME=]PATH|URL]... [-o NAME]... -- EXECUTABLE [ARGS...]"))
    p.add_argument("spec", nargs="*", metavar="FILE",
                   help="job files: YAML job specifications, xRSL or ADL (recognised by content); several "
                        "files are submitted in bulk")
    p.add_argument("--dump", action="store_true",
                   help="xRSL/ADL files: print exactly what would be sent (after matchmaking) and submit nothing")
    p.add_argument("--no-matchmaking", action="store_true",
                   help="xRSL/ADL files: do not check the jobs against the CE's published queues and RTEs")
    p.add_argument("--wire", choices=("adl", "xrsl"), default="adl",
                   help="xRSL/ADL files: description language sent to A-REX (default: adl)")
    p.add_argument("-i", "--input", dest="inputs", action="append", default=[], metavar="[NAME=]PATH|URL",
                   help="add an input file (repeatable); a local path is uploaded, a URL fetched by the CE")
    p.add_argument("-o", "--output", dest="outputs", action="append", default=[], metavar="NAME",
                   help="keep this file (or directory, with a trailing /) after the job (repeatable)")
    p.add_argument("-n", "--count", type=_positive_int, metavar="N", help="number of identical copies")
    p.add_argument("--tag", metavar="TAG", help="job name on the CE")
    p.add_argument("--cpus", type=_positive_int, metavar="N", help="CPU slots")
    p.add_argument("--memory-mb", type=_positive_int, metavar="MB", help="memory per slot, MiB")
    p.add_argument("--wall-time", type=_duration_arg, metavar="DURATION",
                   help="wall-clock limit: seconds or e.g. 90m, 1h30m")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="set an environment variable for the job (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON: ids and per-copy failures")
    p.set_defaults(func=cmd_submit)
