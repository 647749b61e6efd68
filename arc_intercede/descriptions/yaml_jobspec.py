"""Job specification files for the command line: a small YAML format mapped onto :class:`SubmissionSpec`.

A complete example (every key but ``executable`` is optional)::

    executable: run.sh                 # a name from inputs, a local file next to this spec (uploaded),
                                       # or an absolute path / command name on the worker node
    arguments: [--n, 3, "a b"]         # a list; numbers are turned into strings
    inputs:                            # name: local path (relative to this file) or URL
      run.sh: scripts/run.sh
      data.txt: https://example.org/data.txt
    # or as a list:
    # inputs:
    #   - {name: run.sh, source: scripts/run.sh, executable: true}
    #   - data/input.txt               # a bare path or URL: the name is its last component
    outputs:
      stdout: out.txt                  # default "stdout"; null discards it
      stderr: err.txt                  # default "stderr"; the same name as stdout merges them
      files: [result.dat, plots/]      # a trailing "/" keeps a whole directory
    queue: batch
    cpus: 4
    memory_mb: 2000                    # per slot, MiB
    wall_time: 1h30m                   # seconds, or a duration such as 90m, 1h30m, 2d
    runtime_environments: [ENV/PROXY]
    environment: {OMP_NUM_THREADS: 4}
    stdin: data.txt                    # a sandbox file fed to standard input
    tag: my-analysis                   # the job name on the CE
    count: 10                          # number of identical copies

Every error names the offending field (``inputs[1].source: ...``) and is a :class:`JobSpecError`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from arc_intercede.config import describe, read_yaml_file
from arc_intercede.contract import FileRef, OutputSpec, Resources, SubmissionSpec

__all__ = ["JobFile", "JobSpecError", "build_spec", "load_jobspec", "parse_duration", "parse_input", "with_extras"]

_KEYS: Final = frozenset({
    "executable", "arguments", "inputs", "outputs", "queue", "cpus", "memory_mb", "wall_time",
    "runtime_environments", "environment", "stdin", "tag", "count",
})
_OUTPUT_KEYS: Final = frozenset({"stdout", "stderr", "files"})
_INPUT_KEYS: Final = frozenset({"name", "source", "executable"})
_UNITS: Final = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_PART: Final = re.compile(r"(\d+)\s*([wdhms])", re.IGNORECASE)


class JobSpecError(ValueError):
    """A job specification (file or command-line flags) is invalid; the message names the field."""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFile:
    """A parsed job specification.

    Attributes:
        spec: The job description.
        count: Number of identical copies to submit.
    """

    spec: SubmissionSpec
    count: int = 1


def parse_duration(value: str | int | float, *, field: str = "duration") -> int:
    """Parse a duration into whole seconds.

    Accepts a number of seconds (``5400``, ``"5400"``) or a sequence of ``<number><unit>`` parts with
    units ``w``, ``d``, ``h``, ``m``, ``s`` (``"1h30m"``, ``"90m"``, ``"2d 12h"``).

    Args:
        value: The duration.
        field: Name used in error messages.

    Returns:
        The duration in seconds (positive).

    Raises:
        JobSpecError: The value is not a positive duration.
    """
    if isinstance(value, bool):
        raise JobSpecError(f"{field}: expected a duration such as 3600 or 1h30m, got {describe(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise JobSpecError(f"{field}: expected a duration such as 3600 or 1h30m, got {describe(value)}")
    if isinstance(value, int | float):
        seconds = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 40:  # int() of more than 4300 digits raises; no duration needs 40 characters
            raise JobSpecError(f"{field}: expected a duration such as 3600 or 1h30m, got {describe(value)}")
        if text.isdigit():
            seconds = int(text)
        else:
            compact = re.sub(r"\s+", "", text)
            parts = _DURATION_PART.findall(compact)
            if not parts or "".join(n + u for n, u in parts) != compact:
                raise JobSpecError(f"{field}: expected a duration such as 3600 or 1h30m, got {describe(value)}")
            seconds = sum(int(n) * _UNITS[u.lower()] for n, u in parts)
    else:
        raise JobSpecError(f"{field}: expected a duration such as 3600 or 1h30m, got {type(value).__name__}")
    if seconds <= 0:
        raise JobSpecError(f"{field}: must be a positive duration, got {describe(value)}")
    return seconds


def load_jobspec(path: Path | str) -> JobFile:
    """Read a YAML job specification file.

    Relative local paths in the file are relative to the file's directory.

    Raises:
        JobSpecError: The file cannot be read, is not YAML, or a field is invalid (named in the message).
    """
    path = Path(path)
    data = read_yaml_file(path, "job specification", JobSpecError)
    if not isinstance(data, Mapping):
        raise JobSpecError(f"{path}: a job specification must be a YAML mapping with at least 'executable'")
    try:
        return build_spec(data, base_dir=path.parent)
    except JobSpecError as exc:
        raise JobSpecError(f"{path}: {exc}") from exc


def build_spec(data: Mapping[str, Any], *, base_dir: Path | None = None) -> JobFile:
    """Build a job from plain data (the YAML format of this module).

    Args:
        data: The parsed specification.
        base_dir: Relative local paths are resolved against it (default: the current directory).

    Raises:
        JobSpecError: A field is missing or invalid (named in the message).
    """
    base = base_dir if base_dir is not None else Path.cwd()
    unknown = sorted(str(k) for k in set(data) - _KEYS)
    if unknown:
        raise JobSpecError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    if "executable" not in data:
        raise JobSpecError("executable: this field is required")
    executable = _string(data["executable"], "executable")
    arguments = _string_list(data.get("arguments"), "arguments")
    inputs = list(_inputs(data.get("inputs"), base))
    executable, inputs = _local_executable(executable, inputs, base)
    outputs = _outputs(data.get("outputs"))
    resources = Resources(
        queue=_opt_string(data.get("queue"), "queue"),
        cpus=_opt_positive_int(data.get("cpus"), "cpus"),
        memory_mb=_opt_positive_int(data.get("memory_mb"), "memory_mb"),
        wall_time_s=None if data.get("wall_time") is None else parse_duration(data["wall_time"], field="wall_time"),
        runtime_environments=tuple(_string_list(data.get("runtime_environments"), "runtime_environments",
                                                split=True)),
    )
    count = _opt_positive_int(data.get("count"), "count") or 1
    spec = SubmissionSpec(
        executable=executable,
        arguments=tuple(arguments),
        input_sandbox=tuple(inputs),
        output_sandbox=outputs,
        resources=resources,
        environment=_environment(data.get("environment")),
        stdin=_opt_string(data.get("stdin"), "stdin"),
        tag=_opt_string(data.get("tag"), "tag"),
    )
    _check_names(spec)
    return JobFile(spec=spec, count=count)


def parse_input(text: str, *, field: str = "--input") -> FileRef:
    """Parse a command-line input: ``PATH``, ``URL``, ``NAME=PATH`` or ``NAME=URL``.

    The name defaults to the last path component; a local path must exist.

    Raises:
        JobSpecError: The path does not exist or no name can be derived.
    """
    name: str | None = None
    source = text
    head, sep, tail = text.partition("=")
    if sep and head and "/" not in head and ":" not in head:
        name, source = head, tail
    return _file_ref(name, source, False, Path.cwd(), field)


def with_extras(job: JobFile, *, inputs: Sequence[FileRef] = (), outputs: Sequence[str] = (),
                **resources: Any) -> JobFile:
    """Return ``job`` with more inputs and output files, and some resource fields replaced.

    Raises:
        JobSpecError: Two inputs end up with the same name.
    """
    spec = job.spec
    res = dataclasses.replace(spec.resources, **{k: v for k, v in resources.items() if v is not None})
    spec = dataclasses.replace(
        spec,
        input_sandbox=spec.input_sandbox + tuple(inputs),
        output_sandbox=dataclasses.replace(spec.output_sandbox, files=spec.output_sandbox.files + tuple(outputs)),
        resources=res,
    )
    _check_names(spec)
    return dataclasses.replace(job, spec=spec)


# --- field converters ---------------------------------------------------------------------------


def _string(value: Any, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise JobSpecError(f"{field}: expected a string, got {_kind(value)}")
    text = str(value)
    if not text:
        raise JobSpecError(f"{field}: must not be empty")
    return text


def _opt_string(value: Any, field: str) -> str | None:
    return None if value is None else _string(value, field)


def _string_list(value: Any, field: str, *, split: bool = False) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) and split:
        return value.split()
    if not isinstance(value, list | tuple):
        raise JobSpecError(f"{field}: expected a list, got {_kind(value)}")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise JobSpecError(f"{field}[{i}]: expected a string, got {_kind(item)}")
        out.append(str(item))
    return out


def _opt_positive_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise JobSpecError(f"{field}: expected a positive integer, got {describe(value)}")
    return value


def _environment(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise JobSpecError(f"environment: expected a mapping NAME: value, got {_kind(value)}")
    env: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise JobSpecError(f"environment: {describe(key)} is not a valid variable name")
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise JobSpecError(f"environment.{key}: expected a string, got {_kind(item)}")
        env[key] = str(item)
    return env


def _inputs(value: Any, base: Path) -> Iterable[FileRef]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for name, source in value.items():
            field = f"inputs.{name}"
            if not isinstance(name, str):
                raise JobSpecError(f"inputs: name {describe(name)} must be a string")
            yield _file_ref(name, _string(source, field), False, base, field)
        return
    if not isinstance(value, list):
        raise JobSpecError(f"inputs: expected a mapping name: source or a list, got {_kind(value)}")
    for i, item in enumerate(value):
        field = f"inputs[{i}]"
        if isinstance(item, str):
            yield _file_ref(None, item, False, base, field)
            continue
        if not isinstance(item, Mapping):
            raise JobSpecError(f"{field}: expected a path, a URL or a mapping {{name, source, executable}}")
        unknown = sorted(str(k) for k in set(item) - _INPUT_KEYS)
        if unknown:
            raise JobSpecError(f"{field}: unknown field(s): {', '.join(unknown)}")
        if "source" not in item:
            raise JobSpecError(f"{field}.source: this field is required")
        executable = item.get("executable", False)
        if not isinstance(executable, bool):
            raise JobSpecError(f"{field}.executable: expected true or false, got {describe(executable)}")
        yield _file_ref(_opt_string(item.get("name"), f"{field}.name"), _string(item["source"], f"{field}.source"),
                        executable, base, field)


def _file_ref(name: str | None, source: str, executable: bool, base: Path, field: str) -> FileRef:
    is_url = "://" in source
    if name is None:
        name = source.rstrip("/").rsplit("/", 1)[-1]
        if is_url:
            name = name.split("?", 1)[0]
    if not name or name in (".", "..") or name.startswith("/") or ".." in name.split("/"):
        raise JobSpecError(f"{field}: cannot use {describe(name)} as a file name in the job's directory")
    if is_url:
        return FileRef(name=name, source=source, executable=executable)
    path = Path(source).expanduser()
    if not path.is_absolute():
        path = base / path
    if not path.is_file():
        raise JobSpecError(f"{field}: local file {path} not found")
    return FileRef(name=name, source=path, executable=executable)


def _local_executable(executable: str, inputs: list[FileRef], base: Path) -> tuple[str, list[FileRef]]:
    """A relative executable path naming a local file (and no input) is uploaded as an executable input."""
    names = {ref.name for ref in inputs}
    if executable in names:
        return executable, [dataclasses.replace(r, executable=True) if r.name == executable else r for r in inputs]
    if os.path.isabs(executable) or "://" in executable:
        return executable, inputs
    local = base / Path(executable).expanduser()
    if "/" not in executable and not local.is_file():
        return executable, inputs  # a command name on the worker node (found via PATH)
    if not local.is_file():
        raise JobSpecError(f"executable: local file {local} not found")
    name = local.name
    if name in names:
        raise JobSpecError(f"executable: {describe(name)} clashes with an input of the same name")
    return name, [FileRef(name=name, source=local, executable=True), *inputs]


def _outputs(value: Any) -> OutputSpec:
    if value is None:
        return OutputSpec()
    if not isinstance(value, Mapping):
        raise JobSpecError(f"outputs: expected a mapping with stdout, stderr, files; got {_kind(value)}")
    unknown = sorted(str(k) for k in set(value) - _OUTPUT_KEYS)
    if unknown:
        raise JobSpecError(f"outputs: unknown field(s): {', '.join(unknown)} (known: files, stderr, stdout)")
    default = OutputSpec()
    stdout = _opt_string(value["stdout"], "outputs.stdout") if "stdout" in value else default.stdout
    stderr = _opt_string(value["stderr"], "outputs.stderr") if "stderr" in value else default.stderr
    files = _string_list(value.get("files"), "outputs.files")
    for i, name in enumerate(files):
        if name.startswith("/") or ".." in name.split("/"):
            raise JobSpecError(
                f"outputs.files[{i}]: {describe(name)} must be a relative name inside the job's directory")
    return OutputSpec(stdout=stdout, stderr=stderr, files=tuple(files))


def _check_names(spec: SubmissionSpec) -> None:
    seen: set[str] = set()
    for ref in spec.input_sandbox:
        if ref.name in seen:
            raise JobSpecError(f"inputs: two inputs are named {describe(ref.name)}")
        seen.add(ref.name)
    if spec.stdin is not None and spec.stdin not in seen and not spec.stdin.startswith("/"):
        raise JobSpecError(f"stdin: {describe(spec.stdin)} is not one of the inputs")


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {describe(value)}"
