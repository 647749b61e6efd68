"""The parsed-job model shared by the xRSL and ADL readers: user-side meaning, units normalised.

Times are seconds, memory and disk MiB; every attribute the model has no field for is kept in
:attr:`JobDescription.extras` exactly as written, so nothing a user asked for is dropped silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "DescriptionSyntaxError", "InputFile", "JobDescription", "OutputFile", "RuntimeEnvironment", "evolve",
]

T = TypeVar("T")


class DescriptionSyntaxError(ValueError):
    """A job description cannot be read or means something ARC would mangle; one line, with position."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InputFile:
    """One input of the job's session directory.

    Attributes:
        name: Name in the session directory.
        source: ``""`` (upload the local file ``name``), a local path (uploaded as ``name``) or a URL
            the CE downloads.
        executable: Whether the job needs it executable.
        options: URL options as ``(name, value)`` pairs (``cache=no``, ``location=…``, …).
        alternates: Further source URLs (ADL allows several ``Source`` elements).
    """

    name: str
    source: str = ""
    executable: bool = False
    options: tuple[tuple[str, str], ...] = ()
    alternates: tuple[str, ...] = ()

    @property
    def is_local(self) -> bool:
        """Whether the client uploads it (no URL, or a ``file:`` URL)."""
        return "://" not in self.source or self.source.lower().startswith("file:")


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputFile:
    """One output: kept on the CE (``target == ""``) or uploaded by the CE to ``target``.

    Attributes:
        name: Name in the session directory (``@name``: a list of outputs written by the job).
        target: ``""`` (kept) or the URL the CE uploads to.
        options: URL options; in xRSL those after a ``location=`` belong to that replica.
        alternates: Further target URLs (ADL allows several ``Target`` elements).
    """

    name: str
    target: str = ""
    options: tuple[tuple[str, str], ...] = ()
    alternates: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeEnvironment:
    """A runtime-environment requirement.

    Attributes:
        name: As written (``APPS/BIO/BOWTIE-2.0.0``), name and version together.
        op: Relation operator (``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``).
        options: Further values (RTE options).
    """

    name: str
    op: str = "="
    options: tuple[str, ...] = ()

    @property
    def split(self) -> tuple[str, str]:
        """``(name, version)``: split at the first ``-`` followed by a digit, as ARC does."""
        for i, c in enumerate(self.name):
            if c == "-" and i + 1 < len(self.name) and self.name[i + 1].isdigit():
                return self.name[:i], self.name[i + 1:]
        return self.name, ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDescription:
    """One job as the user described it (user-side meaning; ``None`` = not given).

    Attributes:
        executable: Program path (relative = an input of the session directory).
        arguments: Argument vector.
        stdin: Session-relative name fed to standard input.
        stdout: Session-relative standard output name.
        stderr: Session-relative standard error name (equal to ``stdout`` after ``join``).
        job_name: ``jobname``.
        inputs: Inputs in description order (the executable is added by preparation).
        outputs: Outputs in description order.
        queue: Requested queue.
        rejected_queues: Queues named with ``queue != …`` (a broker constraint only).
        wall_time_s: Wall-clock limit in seconds.
        cpu_time_s: Total CPU time in seconds.
        memory_mb: Memory per slot in MiB.
        disk_mb: Disk space in MiB.
        count: Number of slots.
        count_per_node: Slots per node.
        runtime_environments: Requirements, in order.
        environment: ``(name, value)`` pairs.
        gmlog: Name of A-REX's diagnostics directory in the session.
        notify: ``notify`` strings as written.
        rerun: Rerun count.
        priority: Priority (0-100).
        lifetime_s: Session lifetime in seconds.
        start_time: ``starttime`` as written.
        delegation_id: ``delegationid``.
        extras: Attributes the model has no field for: ``(name as written, op, values)``; values are
            strings or nested tuples.
        alternatives: Alternative variants from ``|`` (each complete); brokering tries them in turn.
        base_dir: Directory relative local paths are read from.
    """

    executable: str | None = None
    arguments: tuple[str, ...] = ()
    stdin: str | None = None
    stdout: str | None = None
    stderr: str | None = None
    job_name: str | None = None
    inputs: tuple[InputFile, ...] = ()
    outputs: tuple[OutputFile, ...] = ()
    queue: str | None = None
    rejected_queues: tuple[str, ...] = ()
    wall_time_s: int | None = None
    cpu_time_s: int | None = None
    memory_mb: int | None = None
    disk_mb: int | None = None
    count: int | None = None
    count_per_node: int | None = None
    runtime_environments: tuple[RuntimeEnvironment, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    gmlog: str | None = None
    notify: tuple[str, ...] = ()
    rerun: int | None = None
    priority: int | None = None
    lifetime_s: int | None = None
    start_time: str | None = None
    delegation_id: str | None = None
    extras: tuple[tuple[str, str, tuple[Any, ...]], ...] = ()
    alternatives: tuple[JobDescription, ...] = ()
    base_dir: Path | None = field(default=None, compare=False)

    def with_extras(self, *extras: tuple[str, str, tuple[Any, ...]]) -> JobDescription:
        """Return a copy with raw extra attributes appended (as DIRAC's ``XRSLExtraString``).

        Each extra is ``(attribute, operator, values)``; writers emit them unchanged after the
        modelled attributes.
        """
        return dataclasses.replace(self, extras=self.extras + tuple(extras))

    def to_json(self) -> dict[str, Any]:
        """The ``describe --json`` form of the job (see the README)."""
        return {
            "executable": self.executable,
            "arguments": list(self.arguments),
            "stdin": self.stdin,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "job_name": self.job_name,
            "inputs": [{"name": f.name, "source": f.source, "executable": f.executable} for f in self.inputs],
            "outputs": [{"name": f.name, "target": f.target} for f in self.outputs],
            "queue": self.queue,
            "wall_time_s": self.wall_time_s,
            "cpu_time_s": self.cpu_time_s,
            "memory_mb": self.memory_mb,
            "count": self.count,
            "runtime_environments": [
                {"name": r.name, "op": r.op, "options": list(r.options)} for r in self.runtime_environments
            ],
            "environment": [list(p) for p in self.environment],
            "gmlog": self.gmlog,
            "disk_mb": self.disk_mb,
            "count_per_node": self.count_per_node,
            "rejected_queues": list(self.rejected_queues),
            "extras": [{"name": n, "op": o, "values": _plain(v)} for n, o, v in self.extras],
            "alternatives": len(self.alternatives),
        }


def _plain(values: Any) -> Any:
    if isinstance(values, tuple | list):
        return [_plain(v) for v in values]
    return values


_GETTERS: dict[type, tuple[tuple[str, ...], dict[str, int], Callable[[Any], tuple[Any, ...]]]] = {}
_set = object.__setattr__


def evolve(obj: T, **changes: Any) -> T:
    """``dataclasses.replace`` for the model's frozen dataclasses, several times faster.

    The classes have no ``__post_init__`` or init-only fields, so copying the slots and setting
    ``changes`` gives the same object ``replace`` would (which goes through every field's checks
    and the generated ``__init__``).

    Raises:
        TypeError: ``changes`` names a field the class does not have.
    """
    cls = type(obj)
    known = _GETTERS.get(cls)
    if known is None:
        names = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        getter: Callable[[Any], tuple[Any, ...]] = (
            attrgetter(*names) if len(names) > 1 else lambda o: (getattr(o, names[0]),))
        known = _GETTERS[cls] = (names, {n: i for i, n in enumerate(names)}, getter)
    names, index, get = known
    values: Sequence[Any] = get(obj)
    if changes:
        edited = list(values)
        for name, value in changes.items():
            if name not in index:
                raise TypeError(f"{cls.__name__} has no field {name!r}")
            edited[index[name]] = value
        values = edited
    new = object.__new__(cls)
    for name, value in zip(names, values, strict=True):
        _set(new, name, value)
    return new
