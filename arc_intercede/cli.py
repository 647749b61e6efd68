"""``arc-intercede``: the command line over the library's public API.

Subcommands: ``info``, ``submit``, ``status``, ``wait``, ``fetch``, ``kill``, ``purge``, ``restart``,
``diagnose`` and ``proxy``; ``arc-intercede COMMAND --help`` documents each with examples.

Exit codes: 0 success; 1 an operation failed (the CE refused, a job failed, a copy was not
created, an output is incomplete); 2 bad usage, configuration or input, or a local credential that
cannot be used (missing or expired proxy, bad token file); 3 ``wait`` timed out; 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import os
import shutil
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, NoReturn, TextIO, TypeVar

import yaml

import arc_intercede
from arc_intercede import cmd_import_arc
from arc_intercede.auth import FileToken, ProxyCredential, token_expiry, warn_if_exposed
from arc_intercede.backend import DIAGNOSE_ITEMS, ARCBackend
from arc_intercede.config import ARCConfig, load_yaml, yaml_reason
from arc_intercede.contract import InterCEdeError, JobOutput, JobStatus, OpOutcome, Submission, SubmissionSpec
from arc_intercede.descriptions.matchmaking import MatchError, match, targets_from_info
from arc_intercede.descriptions.model import DescriptionSyntaxError, JobDescription
from arc_intercede.descriptions.prepare import detect_language, from_spec, load_descriptions, prepare, to_wire
from arc_intercede.errors import ConfigurationError, LocalCredentialError
from arc_intercede.jobids import normalise_ids
from arc_intercede.jobspec import (
    JobFile,
    JobSpecError,
    build_spec,
    load_jobspec,
    parse_duration,
    parse_input,
    with_extras,
)
from arc_intercede.jobstore import JobRecord, JobStore, default_store_path
from arc_intercede.proxy import ProxyError, default_proxy_path, make_proxy
from arc_intercede.transfer import TransferProgress

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_TIMEOUT", "EXIT_USAGE", "build_parser", "main"]

_log = logging.getLogger(__name__)

PROG: Final = "arc-intercede"
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 3
EXIT_INTERRUPTED: Final = 130

_OVERRIDES: Final = ("endpoint", "queue", "ca_dir", "token_file", "proxy")
_PATH_OVERRIDES: Final = frozenset({"ca_dir", "token_file", "proxy"})
_T = TypeVar("_T")


class UsageError(Exception):
    """Bad command-line input, configuration selection or input file (exit code 2)."""


class _ArgumentError(UsageError):
    """argparse found a syntax error."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports errors as one line (via :class:`UsageError`) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        """Raise instead of printing the usage and exiting."""
        command = self.prog.removeprefix(PROG).strip()
        prefix = f"{command}: " if command else ""
        raise _ArgumentError(f"{prefix}{message} (see '{self.prog} --help')")


# --- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """The CE a command talks to.

    Attributes:
        name: Its name in the configuration file (or the client configuration file's stem).
        config: The backend configuration, command-line overrides applied.
    """

    name: str
    config: ARCConfig


def default_config_path() -> Path:
    """Return ``$ARC_INTERCEDE_CONFIG`` or ``$XDG_CONFIG_HOME/arc-intercede/config.yaml``."""
    env = os.environ.get("ARC_INTERCEDE_CONFIG")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".config"
    return base / "arc-intercede" / "config.yaml"


def resolve_target(args: argparse.Namespace) -> Target:
    """Select the CE configuration from the options (see ``arc-intercede --help``).

    Raises:
        UsageError: A file is missing or not YAML, or the CE name is unknown or ambiguous.
        ConfigurationError: The selected configuration is invalid.
    """
    overrides = _overrides(args)
    client_config = getattr(args, "client_config", None)
    if client_config is not None:
        path = Path(client_config).expanduser()
        data = _read_yaml(path, "client configuration")
        name = getattr(args, "ce", None) or path.stem
        return Target(name, _config_from(data, path, overrides, where=str(path)))
    explicit = getattr(args, "config", None) or os.environ.get("ARC_INTERCEDE_CONFIG") or None
    path = Path(explicit).expanduser() if explicit is not None else default_config_path()
    if explicit is None and not path.exists():
        if "endpoint" in overrides:
            name = getattr(args, "ce", None) or "command-line"
            return Target(name, _config_from({}, None, overrides, where="command line"))
        raise UsageError(
            f"no configuration: {path} does not exist (create it, see '{PROG} --help'; or use "
            "-c FILE, --client-config FILE, or --endpoint with --ca-dir and a credential)"
        )
    data = _read_yaml(path, "configuration file")
    if isinstance(data, Mapping) and "ces" not in data and "endpoint" in data:
        name = getattr(args, "ce", None) or path.stem  # a single CE's configuration
        return Target(name, _config_from(data, path, overrides, where=str(path)))
    if not isinstance(data, Mapping) or not isinstance(data.get("ces"), Mapping) or not data["ces"]:
        raise UsageError(f"{path}: expected a mapping with 'ces:' (named CE configurations) and optionally "
                         "'default:'")
    unknown = sorted(str(k) for k in set(data) - {"ces", "default"})
    if unknown:
        raise UsageError(f"{path}: unknown key(s) {', '.join(unknown)} (expected 'ces' and 'default')")
    ces: Mapping[str, Any] = data["ces"]
    known = ", ".join(sorted(map(str, ces)))
    name = getattr(args, "ce", None) or data.get("default")
    if name is None:
        if len(ces) != 1:
            raise UsageError(f"{path}: several CEs ({known}) and no 'default:'; choose one with --ce NAME")
        name = next(iter(ces))
    name = str(name)
    if name not in ces:
        source = "--ce" if getattr(args, "ce", None) else "'default:'"
        raise UsageError(f"{path}: no CE named {name!r} ({source}); known: {known}")
    entry = ces[name]
    if not isinstance(entry, Mapping):
        raise UsageError(f"{path}: ces.{name} must be a mapping of configuration keys")
    return Target(name, _config_from(entry, path, overrides, where=f"{path}: ces.{name}"))


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _OVERRIDES:
        value = getattr(args, key, None)
        if value is None:
            continue
        out[key] = str(Path(value).expanduser().absolute()) if key in _PATH_OVERRIDES else value
    return out


def _config_from(data: Mapping[str, Any], path: Path | None, overrides: Mapping[str, Any], *, where: str) -> ARCConfig:
    merged = dict(data)
    if "token_file" in overrides:
        merged.pop("token", None)
    merged.update(overrides)
    try:
        return ARCConfig.from_mapping(merged, base_dir=path.parent if path is not None else None)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UsageError(f"{what} {path} not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a UTF-8 text file"
        raise UsageError(f"cannot read {what} {path}: {reason}") from exc
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"{path} is not valid YAML: {yaml_reason(exc)}") from exc
    if isinstance(data, Mapping):
        entries = [data, *(e for e in (data.get("ces") or {}).values() if isinstance(e, Mapping))] \
            if isinstance(data.get("ces", {}), Mapping) else [data]
        if any(e.get("token") is not None for e in entries):
            warn_if_exposed(path, f"{what} with an inline token")
    return data


# --- helpers ------------------------------------------------------------------------------------


def _run(coro: Callable[[], Awaitable[_T]]) -> _T:
    async def body() -> _T:
        return await coro()

    return asyncio.run(body())


def _backend(target: Target) -> ARCBackend:
    return ARCBackend(target.config)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _human_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


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


def _status_rows(states: Mapping[str, JobStatus], ids: Sequence[str], names: Mapping[str, str],
                 target: Target) -> list[dict[str, str]]:
    return [{"job_id": j, "state": states[j].value, "ce": names.get(j, target.name)} for j in ids]


def _print_states(rows: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        _print_json(rows)
    else:
        _table([(r["job_id"], r["state"], r["ce"]) for r in rows], ("ID", "STATE", "CE"))


# --- commands -----------------------------------------------------------------------------------


def cmd_info(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``info``: endpoint, REST API version, queues, counts, credential requirements."""

    async def body() -> dict[str, Any]:
        async with _backend(target) as ce:
            queues = await ce.queues()
            counts: dict[str, int] | None
            try:
                c = await ce.counts()
                counts, counts_error = {"running": c.running, "waiting": c.waiting}, ""
            except ConfigurationError as exc:
                counts, counts_error = None, str(exc)
            req = ce.credential_requirements
            return {**_credential_lifetimes(target.config),
                "ce": target.name, "endpoint": target.config.endpoint, "api_version": ce.api_version,
                "queue": target.config.queue, "queues": queues, "counts": counts, "counts_error": counts_error,
                "auth_mode": target.config.auth_mode.value,
                "credentials": {"kinds": sorted(req.kinds), "audience": req.audience, "scopes": sorted(req.scopes)},
            }

    info = _run(body)
    if args.json:
        _print_json(info)
        return EXIT_OK
    counts = info["counts"]
    scope = f"queue {info['queue']}" if info["queue"] else "whole CE"
    lines = [
        ("CE", info["ce"]),
        ("Endpoint", info["endpoint"]),
        ("REST API version", info["api_version"]),
        ("Queues", ", ".join(info["queues"]) or "(none advertised)"),
        ("Default queue", info["queue"] or "(none)"),
        (f"Jobs ({scope})", f"{counts['running']} running, {counts['waiting']} waiting" if counts
         else f"n/a: {info['counts_error']}"),
        ("Authentication", info["auth_mode"]),
        ("Credentials needed", ", ".join(info["credentials"]["kinds"])),
    ]
    if info["credentials"]["audience"]:
        lines.append(("Token audience", info["credentials"]["audience"]))
        lines.append(("Token scopes", " ".join(info["credentials"]["scopes"])))
    for label, key in (("Proxy", "proxy"), ("Token", "token")):
        if info[key] is not None:
            lines.append((f"{label} valid until", _lifetime_text(info[key])))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key + ':':<{width}} {value}")
    return EXIT_OK


def _credential_lifetimes(config: ARCConfig) -> dict[str, Any]:
    """When the configured proxy and token expire, and how long they have left (never their content)."""
    out: dict[str, Any] = {"proxy": None, "token": None}
    now = datetime.now(UTC)
    if config.proxy is not None:
        proxy = ProxyCredential.load(config.proxy)
        out["proxy"] = {"path": str(config.proxy), "expires": proxy.not_after.isoformat(),
                        "seconds_left": int(proxy.seconds_left(now))}
    token = config.token if config.token is not None else (
        FileToken(config.token_file).token() if config.token_file is not None else None)
    if token is not None:
        exp = token_expiry(token)
        out["token"] = {"expires": exp.isoformat() if exp else None,
                        "seconds_left": int((exp - now).total_seconds()) if exp else None}
    return out


def _lifetime_text(entry: Mapping[str, Any]) -> str:
    if entry["expires"] is None:
        return "unknown (not a JWT)"
    left = int(entry["seconds_left"])
    when = datetime.fromisoformat(entry["expires"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    if left <= 0:
        return f"{when} (expired)"
    hours, rest = divmod(left, 3600)
    return f"{when} ({hours}h{rest // 60:02d}m left)"


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

    async def body() -> Any:
        async with _backend(target) as ce:
            return await ce.submit(job.spec, count=job.count)

    sub = _run(body)
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
        async with _backend(target) as ce:
            targets = None if args.no_matchmaking else targets_from_info(await ce.ce_info())
        texts = []
        for job in jobs:
            chosen = match(job, targets) if targets is not None else job
            texts.append(to_wire([prepare(chosen).job], language=args.wire))
        return texts

    if args.dump:
        try:
            for text in _run(dump):
                print(text)
        except (MatchError, DescriptionSyntaxError) as exc:
            raise UsageError(str(exc)) from None
        return EXIT_OK

    async def body() -> Any:
        async with _backend(target) as ce:
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

    sub = _run(body)
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


def cmd_status(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``status``: one state per job."""
    ids = _select_ids(args, target, store)
    if not ids:
        if args.json:
            _print_json([])
        return EXIT_OK

    async def body() -> Mapping[str, JobStatus]:
        async with _backend(target) as ce:
            return await ce.status(ids)

    states = _run(body)
    _print_states(_status_rows(states, ids, _ce_names(store, target), target), args.json)
    return EXIT_OK


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
        async with _backend(target) as ce:
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

    states, timed_out = _run(body)
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

    async def body() -> Mapping[str, JobOutput]:
        async with _backend(target) as ce:
            try:
                return await ce.fetch_output(ids, dest, progress=display)
            finally:
                if display is not None:
                    display.close()

    outputs = _run(body)
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


_ACTIONS: Final = {"kill": "kill requested", "purge": "purged", "restart": "restart requested"}


def cmd_action(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``kill``, ``purge``, ``restart``: per-id outcome lines; ``purge`` also forgets the ids locally."""
    action: str = args.command
    ids = _select_ids(args, target, store, verb=action)
    if not ids:
        return EXIT_OK

    async def body() -> Mapping[str, OpOutcome]:
        async with _backend(target) as ce:
            method = {"kill": ce.kill, "purge": ce.purge, "restart": ce.restart}[action]
            return await method(ids)

    outcomes = _run(body)
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


def cmd_diagnose(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``diagnose``: print the CE's diagnose items of each job."""
    ids = list(dict.fromkeys(normalise_ids(_read_ids(args.ids), target.config.endpoint)))
    if not ids:
        raise UsageError("diagnose: give at least one job id")
    items = list(dict.fromkeys(args.items)) if args.items else list(DIAGNOSE_ITEMS)

    async def body() -> Mapping[str, Any]:
        async with _backend(target) as ce:
            return await ce.diagnostics(ids)

    diags = _run(body)
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


def cmd_proxy(args: argparse.Namespace) -> int:
    """``proxy``: make an RFC 3820 proxy from the user's certificate and key."""
    key = Path(args.key).expanduser()
    password: bytes | Callable[[], bytes]
    if args.password_file is not None:
        pw_path = Path(args.password_file).expanduser()
        try:
            raw = pw_path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read password file {pw_path}: {exc.strerror}") from exc
        warn_if_exposed(pw_path, "password file")
        password = raw.removesuffix(b"\n").removesuffix(b"\r")
        if not password:
            raise UsageError(f"password file {pw_path} is empty")
    else:
        def password() -> bytes:
            return getpass.getpass(f"Enter pass phrase for {key}: ").encode("utf-8")

    out = Path(args.out).expanduser() if args.out is not None else default_proxy_path()
    info = make_proxy(Path(args.cert).expanduser(), key, out, valid=timedelta(seconds=args.valid),
                      bits=args.bits, password=password)
    left = info.not_after - datetime.now(UTC)
    hours, rest = divmod(max(0, int(left.total_seconds())), 3600)
    print(f"Proxy written to {info.path}")
    print(f"  subject:     {info.subject}")
    print(f"  identity:    {info.issuer}")
    print(f"  valid until: {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({hours}h{rest // 60:02d}m left"
          + (", cut to the user certificate's expiry)" if info.clamped else ")"))
    print("  This is a plain RFC 3820 proxy: it carries NO VOMS attributes.")
    return EXIT_OK


# --- parser -------------------------------------------------------------------------------------

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
    local = "every job of the selected CE in the local job list"

    p = _sub(subs, "info", help="show the CE: endpoint, REST API version, queues, load, credentials",
             description="Show the selected CE: endpoint, negotiated REST API version, advertised queues, "
                         "running/waiting jobs (of the default queue, else the whole CE) and the credentials "
                         "the configuration needs.",
             examples=f"  {PROG} info\n  {PROG} --ce prod info --json\n")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)

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
    cmd_import_arc.add_parser(subs, _sub, PROG)

    p = _sub(subs, "status", help="show job states",
             description="Show the state of jobs: waiting, running, held, done, failed, aborted, or unknown (the "
                         "CE does not know the id).",
             examples=f"  {PROG} status\n  {PROG} status ID1 ID2 --json\n")
    _ids_arg(p, local)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)

    p = _sub(subs, "wait", help="wait until jobs end",
             description="Poll until every job is terminal (done, failed, aborted) or unknown, then print their "
                         "states. Progress goes to stderr.\n\nexit codes: 0 all done; 1 any failed, aborted or "
                         "unknown; 3 timed out (some job still active).",
             examples=f"  {PROG} wait\n  {PROG} wait --timeout 1h --interval 30 ID1 ID2\n"
                      f"  {PROG} submit job.yaml | {PROG} wait -\n")
    _ids_arg(p, local)
    p.add_argument("--timeout", type=_duration_arg, metavar="DURATION", help="give up after this long (default: never)")
    p.add_argument("--interval", type=_positive_float, default=10.0, metavar="SECONDS",
                   help="seconds between polls (default 10)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--json", action="store_true", help="print the final states as JSON")
    p.set_defaults(func=cmd_wait)

    p = _sub(subs, "fetch", help="download the outputs of finished jobs",
             description="Download each finished job's outputs into DEST/<job id>/ (the CE's job log into "
                         "DEST/<job id>.ce/). Fetching is non-destructive and repeatable. Prints each job's "
                         "manifest, or why it is incomplete; exit code 1 if any job is incomplete.",
             examples=f"  {PROG} fetch\n  {PROG} fetch -o results ID1 ID2\n  {PROG} fetch --quiet --json\n")
    _ids_arg(p, local)
    p.add_argument("-o", "--output", default="arc-output", metavar="DEST",
                   help="destination directory (default ./arc-output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the manifests as JSON")
    p.set_defaults(func=cmd_fetch)

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

    p = _sub(subs, "diagnose", help="show the CE's diagnostics of jobs",
             description="Print the CE's diagnose items of jobs (available while they run): "
                         f"{', '.join(DIAGNOSE_ITEMS)}. Exit code 1 if a job is not found.",
             examples=f"  {PROG} diagnose ID\n  {PROG} diagnose --item errors --item failed ID1 ID2\n")
    p.add_argument("ids", nargs="*", metavar="ID", help="job ids ('-' reads them from stdin)")
    p.add_argument("--item", dest="items", action="append", choices=DIAGNOSE_ITEMS, metavar="ITEM",
                   help=f"only this item (repeatable): {', '.join(DIAGNOSE_ITEMS)}")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_diagnose)

    p = _sub(subs, "proxy", help="make an RFC 3820 proxy (no VOMS) from your certificate",
             description="Make an RFC 3820 proxy certificate from your grid certificate and key, in pure Python. "
                         "The proxy file (mode 0600) holds the proxy certificate, its unencrypted key and your "
                         "certificate chain. The proxy carries NO VOMS attributes. An encrypted key's pass "
                         "phrase is asked for, or read from --password-file.",
             examples=f"  {PROG} proxy\n  {PROG} proxy --valid 24h --out ~/proxy.pem\n"
                      f"  {PROG} proxy --cert usercert.pem --key userkey.pem --password-file pw.txt\n",
             ce_options=False)
    p.add_argument("--cert", default=os.environ.get("X509_USER_CERT", "~/.globus/usercert.pem"), metavar="FILE",
                   help="your certificate, PEM (default $X509_USER_CERT or ~/.globus/usercert.pem)")
    p.add_argument("--key", default=os.environ.get("X509_USER_KEY", "~/.globus/userkey.pem"), metavar="FILE",
                   help="your private key, PEM (default $X509_USER_KEY or ~/.globus/userkey.pem)")
    p.add_argument("--out", metavar="PATH", help="proxy file (default $X509_USER_PROXY or /tmp/x509up_u<uid>)")
    p.add_argument("--valid", type=_duration_arg, default=12 * 3600, metavar="DURATION",
                   help="lifetime, e.g. 12h, 2d, 90m (default 12h; never beyond the certificate)")
    p.add_argument("--bits", type=int, default=2048, choices=(1024, 2048, 3072, 4096), metavar="BITS",
                   help="proxy RSA key size (default 2048)")
    p.add_argument("--password-file", metavar="FILE", help="read the key's pass phrase from this file")
    p.set_defaults(func=None)
    return parser


# --- entry point --------------------------------------------------------------------------------


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
        if args.func is None:
            return cmd_proxy(args)
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


if __name__ == "__main__":  # pragma: no cover - python -m arc_intercede.cli
    sys.exit(main())
