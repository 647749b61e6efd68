r"""``SubmissionSpec`` -> xRSL job description, in pure Python (no ARC bindings).

Why xRSL (not ADL): it is what ARC users and DIRAC's AREX CE write, it carries many copies in one
creation request as multi-xRSL (``+(&…)(&…)``), and A-REX parses it the same way for REST 1.0 and 1.1.

Quoting (ARC ``src/hed/acc/JobDescriptionParser/RSLParser.cpp``, ``RSLParser::ParseString`` and
``RSLParser::Parse``):

* Every value is a double-quoted literal. Inside it, the only special character is ``"``, written
  twice (``""``); newlines, tabs, parentheses, ``$``, backticks, ``^``, non-ASCII bytes and XML
  metacharacters are taken verbatim.
* Before parsing, the parser scans the **raw text** for ``(*`` … ``*)`` comments without regard to
  quoting, and fails on a ``(*`` with no ``*)`` after it. So a value is split between ``(`` and
  ``*`` and joined again with RSL's concatenation operator ``#`` (``"a(" # "*b"`` is the literal
  ``a(*b``); the raw text then never contains ``(*``.
* NUL cannot pass through a C string, an environment or an argument vector: it is rejected.

What A-REX does with the values (seen on ARC 7.0 with Slurm and read in its job script):

* Environment values are exported single-quoted (``export 'NAME=value'`` with ``'\''``): exact.
* Arguments are written inside **double quotes**, escaping only ``"`` and ``\``; the job script's
  shell then expands ``$`` and backticks. An argument containing ``$`` or a backtick is therefore
  passed through an exported variable ``ARC_INTERCEDE_ARG_<n>`` and written as ``$ARC_INTERCEDE_ARG_<n>``:
  the shell's own expansion of that reference yields exactly the value, unsplit and unexpanded.
* Carriage returns and line feeds are **removed** from both arguments and environment values, so
  values containing them are rejected with :class:`DescriptionError` rather than altered silently.

Units: ``memory`` is MiB per slot (xRSL ``memory``, MB); ``walltime`` is given in whole minutes
(xRSL's unit for a bare number), rounded up from ``wall_time_s``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import urlsplit

from arc_intercede.contract import SubmissionSpec

__all__ = ["DescriptionError", "RenderedJob", "Upload", "quote", "render_bulk", "render_xrsl"]

_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
ARG_VAR_PREFIX: Final = "ARC_INTERCEDE_ARG_"
"""Environment variables carrying arguments that the job script's shell would expand."""
_SHELL_EXPANDED: Final = ("$", "`")


class DescriptionError(ValueError):
    """The specification cannot be expressed as a job description (the message names the field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A local input file the client PUTs into the session directory after creation."""

    name: str
    path: Path
    executable: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedJob:
    """One xRSL description (starting with ``&``) and the local inputs to upload."""

    text: str
    uploads: tuple[Upload, ...]


def quote(value: str, field: str = "value") -> str:
    """Return ``value`` as an xRSL literal that A-REX parses back byte-exact."""
    if "\x00" in value:
        raise DescriptionError(f"{field}: NUL characters cannot be passed to a job")
    parts = value.split("(*")
    return " # ".join(
        '"' + part.replace('"', '""') + '"'
        for part in _rejoin(parts)
    )


def _rejoin(parts: list[str]) -> list[str]:
    # "a(*b(*c".split("(*") == ["a", "b", "c"] -> ["a(", "*b(", "*c"]: no piece holds "(*".
    out = []
    for i, part in enumerate(parts):
        piece = ("*" if i else "") + part + ("(" if i < len(parts) - 1 else "")
        out.append(piece)
    return out


def _relative_name(name: str, field: str) -> str:
    if not name or "\x00" in name:
        raise DescriptionError(f"{field}: empty name or NUL in {name!r}")
    path = PurePosixPath(name.rstrip("/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise DescriptionError(f"{field}: {name!r} must be a relative path without '..'")
    return name


def _positive(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise DescriptionError(f"{field} must be a positive integer, got {value!r}")
    return value


def render_xrsl(spec: SubmissionSpec, *, queue: str | None = None, delegation_id: str | None = None) -> RenderedJob:
    """Render one job description and list the local inputs to upload.

    Args:
        spec: The job.
        queue: Default queue (``spec.resources.queue`` wins).
        delegation_id: A-REX delegation the job uses for its proxy and data staging.

    Raises:
        DescriptionError: The spec is invalid or cannot be expressed (the field is named).
    """
    if not spec.executable or "\x00" in spec.executable:
        raise DescriptionError("executable must be a non-empty string without NUL")
    attrs: list[str] = []
    add = attrs.append
    inputs: list[tuple[str, str]] = []
    uploads: list[Upload] = []
    executables: list[str] = []
    names: set[str] = set()
    for ref in spec.input_sandbox:
        name = _relative_name(ref.name, "input_sandbox.name")
        if name in names:
            raise DescriptionError(f"input_sandbox: duplicate name {name!r}")
        names.add(name)
        source = str(ref.source)
        if _URL.match(source) and urlsplit(source).scheme != "file":
            inputs.append((name, source))
        else:
            path = Path(urlsplit(source).path if source.startswith("file:") else source)
            if not path.is_file():
                raise DescriptionError(f"input_sandbox: {name!r}: {path} is not a readable file")
            inputs.append((name, ""))
            uploads.append(Upload(name=name, path=path, executable=ref.executable))
        if ref.executable or name == spec.executable:
            executables.append(name)

    add(f"(executable = {quote(spec.executable, 'executable')})")
    environment = _environment(spec)
    if spec.arguments:
        words = []
        for i, arg in enumerate(spec.arguments):
            _no_line_breaks(arg, f"arguments[{i}]")
            if any(c in arg for c in _SHELL_EXPANDED):
                environment.append((f"{ARG_VAR_PREFIX}{i}", arg))
                arg = f"${ARG_VAR_PREFIX}{i}"
            words.append(quote(arg, f"arguments[{i}]"))
        add("(arguments = " + " ".join(words) + ")")
    if spec.stdin is not None:
        add(f"(stdin = {quote(_relative_name(spec.stdin, 'stdin'), 'stdin')})")
    out = spec.output_sandbox
    outputs: list[str] = []
    for field, value in (("stdout", out.stdout), ("stderr", out.stderr)):
        if value is not None:
            add(f"({field} = {quote(_relative_name(value, 'output_sandbox.' + field), field)})")
            if value not in outputs:
                outputs.append(value)
    for name in out.files:
        _relative_name(name, "output_sandbox.files")
        if name not in outputs:
            outputs.append(name)
    if inputs:
        add("(inputfiles = " + " ".join(f"({quote(n)} {quote(s)})" for n, s in inputs) + ")")
    if executables:
        add("(executables = " + " ".join(quote(n) for n in executables) + ")")
    if outputs:
        add("(outputfiles = " + " ".join(f'({quote(n)} "")' for n in outputs) + ")")
    if environment:
        add("(environment = " + " ".join(f"({quote(k)} {quote(v, 'environment.' + k)})"
                                         for k, v in environment) + ")")
    res = spec.resources
    target = res.queue or queue
    if target:
        add(f"(queue = {quote(target, 'queue')})")
    cpus = _positive(res.cpus, "resources.cpus")
    if cpus is not None:
        add(f'(count = "{cpus}")(countpernode = "{cpus}")')
    memory = _positive(res.memory_mb, "resources.memory_mb")
    if memory is not None:
        add(f'(memory = "{memory}")')
    wall = _positive(res.wall_time_s, "resources.wall_time_s")
    if wall is not None:
        add(f'(walltime = "{math.ceil(wall / 60)}")')
    for rte in res.runtime_environments:
        if not rte:
            raise DescriptionError("resources.runtime_environments: empty name")
        add(f"(runtimeenvironment = {quote(rte, 'runtime_environments')})")
    if spec.tag:
        add(f"(jobname = {quote(spec.tag, 'tag')})")
    if delegation_id:
        add(f"(delegationid = {quote(delegation_id, 'delegation_id')})")
    return RenderedJob(text="&" + "".join(attrs), uploads=tuple(uploads))


def _no_line_breaks(value: str, field: str) -> None:
    if "\n" in value or "\r" in value:
        raise DescriptionError(f"{field}: ARC removes line breaks from arguments and environment values; "
                               "pass multi-line content as an input file")


def _environment(spec: SubmissionSpec) -> list[tuple[str, str]]:
    pairs = []
    for key, value in spec.environment.items():
        if not isinstance(key, str) or not _ENV_NAME.match(key):
            raise DescriptionError(f"environment: invalid variable name {key!r}")
        if key.startswith(ARG_VAR_PREFIX):
            raise DescriptionError(f"environment: {key!r}: names starting {ARG_VAR_PREFIX} are reserved")
        value = str(value)
        _no_line_breaks(value, f"environment.{key}")
        pairs.append((key, value))
    return pairs


def render_bulk(descriptions: Sequence[str]) -> str:
    """Join single xRSL descriptions into one multi-xRSL text (one creation request)."""
    if not descriptions:
        raise DescriptionError("no descriptions to render")
    if len(descriptions) == 1:
        return descriptions[0]
    return "+" + "".join(f"({d})" for d in descriptions)
