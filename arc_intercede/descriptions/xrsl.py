"""User-side xRSL: what ``arcsub`` makes of a description, as :class:`JobDescription` objects.

Follows ``XRSLParser.cpp`` (nordugrid/arc 7.0.0) in the default (user) dialect: attribute names
case- and underscore-insensitive, bare times in minutes, ``join`` applied, ``gridtime`` converted,
``executables`` and ``cache`` applied to the inputs, ``|`` alternatives expanded, ``+`` multi-job.

Where ARC silently mangles a value this module refuses it with a one-line error instead:

* a duration ARC cannot read (``1.5``, ``1:30``, ``hours 5``, ``P1Y``) — ARC reads **0 s**;
* ``memory``/``disk`` with a unit or a fraction (``2GB``) — ARC reads the leading digits (2 MB);
* ``priority``/``rerun`` that is not a whole number — ARC reads 0;
* a trailing bare number after seconds (``10s 5`` — ARC reads milliseconds and drops them).

Unknown attributes are carried in ``extras`` (ARC ignores them with a log line); ``action`` is an
error in a user-side description, as in ARC.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from arc_intercede.descriptions.model import (
    DescriptionSyntaxError,
    InputFile,
    JobDescription,
    OutputFile,
    RuntimeEnvironment,
    evolve,
)
from arc_intercede.descriptions.rsl import Evaluated, Relation, RSLError, Value, evaluate
from arc_intercede.descriptions.spec_xrsl import quote

__all__ = ["MAX_ALTERNATIVES", "parse_period", "parse_xrsl", "write_xrsl"]

MAX_ALTERNATIVES: Final = 1024
"""Most variants one job's ``|`` alternatives may expand to."""

_UNIT_WORDS: Final = {
    "w": 604800, "week": 604800, "weeks": 604800,
    "d": 86400, "day": 86400, "days": 86400,
    "h": 3600, "hour": 3600, "hours": 3600,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
}
_NEXT_UNIT: Final = {604800: 86400, 86400: 3600, 3600: 60, 60: 1}
_ISO: Final = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_PART: Final = re.compile(r"\s*(\d+)\s*([A-Za-z]*)\s*")
_INT: Final = re.compile(r"\s*[+-]?\d+\s*")
_SINGLE: Final = frozenset({
    "executable", "stdin", "stdout", "stderr", "join", "jobname", "gmlog", "walltime", "cputime",
    "gridtime", "lifetime", "memory", "disk", "count", "countpernode", "cache", "rerun", "priority",
    "starttime", "delegationid", "queue", "ftpthreads", "exclusiveexecution", "dryrun",
})
_LIST: Final = frozenset({"arguments", "executables", "notify"})
_SEQUENCES: Final = frozenset({"inputfiles", "outputfiles", "environment"})
_ACCUMULATE: Final = frozenset({"runtimeenvironment", "environment"})
_LAST_WINS: Final = frozenset({"queue", "memory", "count"})


def parse_period(text: str, *, base_s: int = 60, field: str = "time") -> int:
    """Read an ARC period into seconds, refusing what ARC would silently turn into 0.

    Args:
        text: ISO 8601 (``PT1H30M``, ``P2D``) or ``<n><unit>`` parts (``1h30m``, ``90``, ``2 days``);
            a trailing bare number takes the unit after the last one given (``1h30`` = 1 h 30 min).
        base_s: Unit of a bare number (60: minutes, the user side; 1: seconds, A-REX's side).
        field: Attribute name for the message.

    Raises:
        DescriptionSyntaxError: Not a duration ARC reads as written.
    """
    value = text.strip()
    if value.startswith("P"):
        m = _ISO.fullmatch(value)
        if not m or value in ("P", "PT") or value.endswith("T"):
            raise DescriptionSyntaxError(
                f"{field}: {text!r} is not an ISO 8601 duration of weeks, days, hours, minutes and "
                "seconds (ARC would read 0 s)")
        w, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
        return w * 604800 + d * 86400 + h * 3600 + mi * 60 + s
    total, pos, unit = 0, 0, base_s
    last_unit: int | None = None
    while pos < len(value):
        m = _PART.match(value, pos)
        if not m:
            raise DescriptionSyntaxError(
                f"{field}: {text!r} is not a duration such as 90, 1h30m or PT1H30M "
                "(ARC would read 0 s); write whole numbers with units w, d, h, m, s")
        number, word = int(m.group(1)), m.group(2).lower()
        if word:
            if word not in _UNIT_WORDS:
                raise DescriptionSyntaxError(f"{field}: unknown time unit {m.group(2)!r} in {text!r}")
            unit = last_unit = _UNIT_WORDS[word]
        elif last_unit is not None:
            if last_unit not in _NEXT_UNIT:
                raise DescriptionSyntaxError(
                    f"{field}: {text!r} has a bare number after seconds (ARC reads milliseconds and drops them)")
            unit = _NEXT_UNIT[last_unit]
        total += number * unit
        pos = m.end()
    if not value:
        raise DescriptionSyntaxError(f"{field}: empty duration")
    return total


def _int(text: str, field: str, what: str = "a whole number") -> int:
    if not _INT.fullmatch(text):
        raise DescriptionSyntaxError(f"{field}: {text!r} is not {what}")
    return int(text)


def _mb(text: str, field: str) -> int:
    if not _INT.fullmatch(text):
        raise DescriptionSyntaxError(
            f"{field}: {text!r} is not a whole number of megabytes (ARC would read only its leading "
            "digits); write e.g. 2048 for 2 GB")
    return int(text)


def _variants(node: Evaluated | Relation) -> list[list[Relation]]:
    if isinstance(node, Relation):
        return [[node]]
    if node.op == "+":
        raise DescriptionSyntaxError(f"line {node.line}:{node.column}: '+' is only allowed at the top level")
    if node.op == "|":
        out = [v for child in node.children for v in _variants(child)]
    else:
        # As XRSLParser: the first disjunct of a '|' applies to the job and every alternative so
        # far; each further disjunct is a new alternative copied from the job as it was before.
        out = [[]]
        for child in node.children:
            if child.__class__ is Relation:  # the common case: one option, added to every variant
                for variant in out:
                    variant.append(child)
                continue
            options = _variants(child)
            base = list(out[0])
            for variant in out:
                variant.extend(options[0])
            out.extend(base + d for d in options[1:])
            if len(out) > MAX_ALTERNATIVES:
                break
    if len(out) > MAX_ALTERNATIVES:
        raise DescriptionSyntaxError(
            f"line {node.line}:{node.column}: more than {MAX_ALTERNATIVES} '|' alternatives")
    return out


def parse_xrsl(text: str, *, base_dir: Path | None = None) -> list[JobDescription]:
    """Parse user-side xRSL text into its jobs (several for ``+(&…)(&…)``).

    Args:
        text: The description.
        base_dir: Directory relative local inputs are read from (default: none recorded).

    Raises:
        DescriptionSyntaxError: Syntax error (``line L:C: …``) or an attribute ARC would refuse or
            silently mangle.
    """
    try:
        tree = evaluate(text)
    except RSLError as exc:
        raise DescriptionSyntaxError(str(exc)) from None
    if isinstance(tree, Relation):
        raise DescriptionSyntaxError(
            f"line {tree.line}:{tree.column}: a job description starts with '&' (or '+' for several jobs)")
    roots: Iterable[Evaluated | Relation] = tree.children if tree.op == "+" else [tree]
    jobs: list[JobDescription] = []
    for k, root in enumerate(roots):
        if isinstance(root, Relation):
            raise DescriptionSyntaxError(
                f"line {root.line}:{root.column}: each job of '+' must be a '&' description")
        variants = [_job(v, base_dir) for v in _variants(root)]
        where = f"job {k + 1}: " if tree.op == "+" else ""
        if not variants:
            raise DescriptionSyntaxError(f"{where}empty description")
        jobs.append(evolve(variants[0], alternatives=tuple(variants[1:])) if len(variants) > 1 else variants[0])
    return jobs


def _strings(rel: Relation) -> list[str]:
    out: list[str] = []
    for v in rel.values:
        if not isinstance(v, str):
            raise DescriptionSyntaxError(f"{_at(rel)}: '{rel.written}' expects strings, not a sequence")
        out.append(v)
    return out


def _at(rel: Relation) -> str:
    return f"line {rel.line}:{rel.column}: {rel.written}"


def _single(rel: Relation) -> str:
    values = _strings(rel)
    if len(values) != 1:
        raise DescriptionSyntaxError(f"{_at(rel)}: expects exactly one value, got {len(values)}")
    return values[0]


def _seqs(rel: Relation) -> list[list[str]]:
    out: list[list[str]] = []
    for v in rel.values:
        if not isinstance(v, tuple) or not all(isinstance(x, str) for x in v):
            raise DescriptionSyntaxError(f"{_at(rel)}: expects a list of sequences of strings like (a b)")
        out.append([str(x) for x in v])
    return out


def _options(values: list[str], rel: Relation, name: str) -> tuple[tuple[str, str], ...]:
    opts: list[tuple[str, str]] = []
    for opt in values:
        key, eq, val = opt.partition("=")
        if not eq:
            raise DescriptionSyntaxError(f"{_at(rel)}: option {opt!r} of {name!r} is not name=value")
        opts.append((key, val))
    return tuple(opts)


def _job(relations: list[Relation], base_dir: Path | None) -> JobDescription:
    f: dict[str, Any] = {}
    seen: set[str] = set()
    extras: list[tuple[str, str, tuple[Any, ...]]] = []
    rtes: list[RuntimeEnvironment] = []
    env: list[tuple[str, str]] = []
    rejected: list[str] = []
    join = False
    executables: list[str] | None = None
    cache: str | None = None
    threads: str | None = None
    gridtime: int | None = None
    for rel in relations:
        name = rel.name
        if name == "rslsubstitution":
            continue
        if name in seen and name not in _ACCUMULATE and name not in _LAST_WINS:
            raise DescriptionSyntaxError(f"{_at(rel)}: attribute multiply defined")
        seen.add(name)
        if name == "executable":
            f["executable"] = _single(rel)
        elif name == "arguments":
            f["arguments"] = tuple(_strings(rel))
        elif name in ("stdin", "stdout", "stderr", "gmlog", "starttime"):
            f["start_time" if name == "starttime" else name] = _single(rel)
        elif name == "jobname":
            f["job_name"] = _single(rel)
        elif name == "delegationid":
            f["delegation_id"] = _single(rel)
        elif name == "join":
            join = _single(rel).lower() in ("yes", "true")
        elif name == "queue":
            if rel.op == "=":
                f["queue"] = _single(rel)
            elif rel.op == "!=":
                rejected.append(_single(rel))
            else:
                raise DescriptionSyntaxError(f"{_at(rel)}: only '=' and '!=' are allowed for queue")
        elif name in ("walltime", "cputime", "lifetime", "gridtime"):
            seconds = parse_period(_single(rel), field=rel.written)
            if name == "gridtime":
                gridtime = seconds
            else:
                f[{"walltime": "wall_time_s", "cputime": "cpu_time_s", "lifetime": "lifetime_s"}[name]] = seconds
        elif name in ("memory", "disk"):
            f[f"{name}_mb"] = _mb(_single(rel), rel.written)
        elif name == "count":
            f["count"] = _int(_single(rel), rel.written)
        elif name == "countpernode":
            f["count_per_node"] = _int(_single(rel), rel.written)
        elif name in ("rerun", "priority"):
            f[name] = _int(_single(rel), rel.written, "a whole number (ARC would read 0)")
        elif name == "notify":
            f["notify"] = tuple(_notify(v, rel) for v in _strings(rel))
        elif name == "ftpthreads":
            threads = _single(rel)  # applied below
            if not _INT.fullmatch(threads) or not 1 <= int(threads) <= 10:
                raise DescriptionSyntaxError(f"{_at(rel)}: must be a number from 1 to 10")
            threads = threads.strip()
        elif name == "exclusiveexecution":
            if _single(rel).lower() not in ("yes", "no", "true", "false"):
                raise DescriptionSyntaxError(f"{_at(rel)}: must be 'yes' or 'no'")
            extras.append((rel.written, rel.op, rel.values))
        elif name == "runtimeenvironment":
            values = _strings(rel)
            if not values:
                raise DescriptionSyntaxError(f"{_at(rel)}: expects a runtime environment name")
            rtes.append(RuntimeEnvironment(name=values[0], op=rel.op, options=tuple(values[1:])))
        elif name == "environment":
            for pair in _seqs(rel):
                if len(pair) != 2:
                    raise DescriptionSyntaxError(f"{_at(rel)}: each entry must be (NAME value)")
                env.append((pair[0], pair[1]))
        elif name == "inputfiles":
            f["inputs"] = tuple(_input(v, rel) for v in _seqs(rel))
        elif name == "outputfiles":
            f["outputs"] = tuple(_output(v, rel) for v in _seqs(rel))
        elif name == "executables":
            executables = _strings(rel)
        elif name == "cache":
            cache = _single(rel)
        elif name == "action":
            raise DescriptionSyntaxError(f"{_at(rel)}: 'action' attribute not allowed in user-side job description")
        else:
            extras.append((rel.written, rel.op, rel.values))
    if join:
        stdout, stderr = f.get("stdout"), f.get("stderr")
        if stdout is None:
            raise DescriptionSyntaxError("join: 'join' needs 'stdout'")
        if stderr is not None and stderr != stdout:
            raise DescriptionSyntaxError("join: 'stdout' and 'stderr' differ")
        f["stderr"] = stdout
    if gridtime is not None:
        if "cpu_time_s" in f or "wall_time_s" in f:
            raise DescriptionSyntaxError("gridtime: cannot be combined with cputime or walltime")
        f["cpu_time_s"] = gridtime
        f["wall_time_s"] = gridtime * (f.get("count") or 1)
    inputs: list[InputFile] = list(f.get("inputs", ()))
    if executables is not None:
        names = {i.name for i in inputs}
        for e in executables:
            if e not in names:
                raise DescriptionSyntaxError(f"executables: {e!r} is not an input file")
        inputs = [evolve(i, executable=True) if i.name in executables else i for i in inputs]
    if cache is not None:
        inputs = [i if i.executable or i.is_local else evolve(i, options=(*i.options, ("cache", cache)))
                  for i in inputs]
    if threads is not None:
        inputs = [i if i.is_local else evolve(i, options=(*i.options, ("threads", threads))) for i in inputs]
        f["outputs"] = tuple(o if _kept(o) else evolve(o, options=(*o.options, ("threads", threads)))
                             for o in f.get("outputs", ()))
    f["inputs"] = tuple(inputs)
    f["runtime_environments"] = tuple(rtes)
    f["environment"] = tuple(env)
    f["rejected_queues"] = tuple(rejected)
    f["extras"] = tuple(extras)
    return JobDescription(base_dir=base_dir, **f)


def _kept(o: OutputFile) -> bool:
    return not o.target or "://" not in o.target or o.target.lower().startswith("file:")


def _notify(value: str, rel: Relation) -> str:
    words = value.split()
    if not words:
        raise DescriptionSyntaxError(f"{_at(rel)}: empty value")
    if "@" not in words[0]:
        if len(words) == 1:
            raise DescriptionSyntaxError(f"{_at(rel)}: {value!r} must contain an email address")
        if not set(words[0]) <= set("bqfedc"):
            raise DescriptionSyntaxError(f"{_at(rel)}: {value!r} has unknown state flags (known: bqfedc)")
        words = words[1:]
    if any("@" not in w for w in words):
        raise DescriptionSyntaxError(f"{_at(rel)}: {value!r} must only contain email addresses after the flags")
    return value


def _input(v: list[str], rel: Relation) -> InputFile:
    if len(v) < 2:
        raise DescriptionSyntaxError(f"{_at(rel)}: each entry needs (name source)")
    if not v[0]:
        raise DescriptionSyntaxError(f"{_at(rel)}: an input name cannot be empty")
    if not v[1] and len(v) > 2:
        raise DescriptionSyntaxError(f"{_at(rel)}: options need a URL source ({v[0]!r})")
    return InputFile(name=v[0], source=v[1], options=_options(v[2:], rel, v[0]))


def _output(v: list[str], rel: Relation) -> OutputFile:
    if len(v) < 2:
        raise DescriptionSyntaxError(f"{_at(rel)}: each entry needs (name target)")
    if not v[0]:
        raise DescriptionSyntaxError(f"{_at(rel)}: an output name cannot be empty")
    return OutputFile(name=v[0], target=v[1], options=_options(v[2:], rel, v[0]))


# -- writer ------------------------------------------------------------------------------------------


def _value(v: Value) -> str:
    if isinstance(v, str):
        return quote(v)
    return "(" + " ".join(_value(x) for x in v) + ")"


def write_xrsl(job: JobDescription) -> str:
    """Write a job as user-side xRSL that :func:`parse_xrsl` (and ARC) read back as the same job.

    Times are written as ISO 8601 seconds (``PT90S``), read identically in either dialect.
    Alternatives are not written (write each variant on its own).
    """
    a: list[str] = []

    def rel(name: str, *values: Value, op: str = "=") -> None:
        a.append(f"({name} {op} " + " ".join(_value(v) for v in values) + ")")

    if job.executable is not None:
        rel("executable", job.executable)
    if job.arguments:
        rel("arguments", *job.arguments)
    for attr in ("stdin", "stdout", "stderr", "gmlog"):
        if getattr(job, attr) is not None:
            rel(attr, getattr(job, attr))
    if job.job_name is not None:
        rel("jobname", job.job_name)
    if job.inputs:
        rel("inputfiles", *((i.name, i.source, *(f"{k}={v}" for k, v in i.options)) for i in job.inputs))
        marked = [i.name for i in job.inputs if i.executable]
        if marked:
            rel("executables", *marked)
    if job.outputs:
        rel("outputfiles", *((o.name, o.target, *(f"{k}={v}" for k, v in o.options)) for o in job.outputs))
    if job.queue is not None:
        rel("queue", job.queue)
    for q in job.rejected_queues:
        rel("queue", q, op="!=")
    for attr, name in (("wall_time_s", "walltime"), ("cpu_time_s", "cputime"), ("lifetime_s", "lifetime")):
        if getattr(job, attr) is not None:
            rel(name, f"PT{getattr(job, attr)}S")
    for attr, name in (("memory_mb", "memory"), ("disk_mb", "disk"), ("count", "count"),
                       ("count_per_node", "countpernode"), ("rerun", "rerun"), ("priority", "priority")):
        if getattr(job, attr) is not None:
            rel(name, str(getattr(job, attr)))
    for r in job.runtime_environments:
        rel("runtimeenvironment", r.name, *r.options, op=r.op)
    if job.environment:
        rel("environment", *job.environment)
    if job.notify:
        rel("notify", *job.notify)
    if job.start_time is not None:
        rel("starttime", job.start_time)
    if job.delegation_id is not None:
        rel("delegationid", job.delegation_id)
    for name, op, values in job.extras:
        rel(name, *values, op=op)
    return "&" + "\n ".join(a) + "\n"

