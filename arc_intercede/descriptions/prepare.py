"""Turn parsed jobs into what A-REX is sent, as ARC's client does before submitting.

:func:`prepare` does ``JobDescription::Prepare`` (nordugrid/arc ``JobDescription.cpp``): a relative
executable or stdin that is a local file becomes an input (the executable marked executable);
stdout, stderr and the gmlog directory become kept outputs; local inputs are resolved against the
description's directory (ARC uses the process's cwd) and listed as uploads. :func:`to_wire` writes
the result as ADL (the default, see the README's "Job descriptions" section) or A-REX-side xRSL.

:func:`load_descriptions` recognises a file's language by content: ``<`` ADL, ``&``/``+``/``|``/``(*``
xRSL; YAML job specifications are read by :mod:`arc_intercede.descriptions.yaml_jobspec` and converted here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from arc_intercede.contract import SubmissionSpec
from arc_intercede.descriptions.adl import parse_adl, write_adl_bulk
from arc_intercede.descriptions.model import (
    DescriptionSyntaxError,
    InputFile,
    JobDescription,
    OutputFile,
    RuntimeEnvironment,
    evolve,
)
from arc_intercede.descriptions.spec_xrsl import Upload
from arc_intercede.descriptions.xrsl import parse_xrsl, write_xrsl

__all__ = [
    "UNSUPPORTED", "PreparedJob", "detect_language", "from_spec", "load_descriptions", "parse_description",
    "prepare", "to_wire",
]

_log = logging.getLogger(__name__)

UNSUPPORTED: Final = frozenset({
    "exclusiveexecution", "architecture", "opsys", "middleware", "nodeaccess", "dryrun", "acl",
    "credentialserver", "jobreport", "benchmarks", "replicacollection", "notify", "starttime",
})
"""ARC attributes that change the job but are not carried yet: refused before any request."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedJob:
    """A job ready for A-REX.

    Attributes:
        job: The description to send (inputs/outputs completed, local sources cleared).
        uploads: Local files to PUT into the session directory after creation.
        missing: Local inputs that do not exist (``describe`` reports them; submission refuses).
    """

    job: JobDescription
    uploads: tuple[Upload, ...]
    missing: tuple[str, ...] = ()


def detect_language(text: str) -> Literal["adl", "xrsl", "yaml"]:
    """Recognise a description by its first non-blank characters."""
    head = text.lstrip()
    if head.startswith("<"):
        return "adl"
    if head[:1] in ("&", "+", "|") or head.startswith("(*"):
        return "xrsl"
    return "yaml"


def parse_description(text: str, *, base_dir: Path | None = None) -> list[JobDescription]:
    """Parse xRSL or ADL text (recognised by content) into its jobs.

    Raises:
        DescriptionSyntaxError: Not xRSL/ADL, or invalid (the message has line:column when known).
    """
    language = detect_language(text)
    if language == "adl":
        return parse_adl(text, base_dir=base_dir)
    if language == "xrsl":
        return parse_xrsl(text, base_dir=base_dir)
    raise DescriptionSyntaxError("neither xRSL (starts with '&' or '+') nor ADL (starts with '<')")


def load_descriptions(path: Path | str) -> list[JobDescription]:
    """Read a file of xRSL, ADL or YAML (recognised by content) into its jobs.

    Relative local inputs are relative to the file's directory.

    Raises:
        DescriptionSyntaxError: The file cannot be read or is invalid; the message starts with the path.
    """
    from arc_intercede.descriptions.yaml_jobspec import JobSpecError, load_jobspec

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not a UTF-8 text file"
        raise DescriptionSyntaxError(f"{path}: cannot read: {reason}") from None
    if detect_language(text) == "yaml":
        try:
            job_file = load_jobspec(path)
        except JobSpecError as exc:
            raise DescriptionSyntaxError(str(exc)) from None
        return [from_spec(job_file.spec, base_dir=path.parent)] * job_file.count
    try:
        return parse_description(text, base_dir=path.parent.resolve())
    except DescriptionSyntaxError as exc:
        raise DescriptionSyntaxError(f"{path}: {exc}") from None


def from_spec(spec: SubmissionSpec, *, base_dir: Path | None = None) -> JobDescription:
    """The model of a :class:`SubmissionSpec` (our YAML), so every format takes the same path."""
    out = spec.output_sandbox
    outputs = [OutputFile(name=n) for n in out.files]
    res = spec.resources
    return JobDescription(
        executable=spec.executable, arguments=tuple(spec.arguments), stdin=spec.stdin,
        stdout=out.stdout, stderr=out.stderr, job_name=spec.tag,
        inputs=tuple(InputFile(name=f.name, source=str(f.source), executable=f.executable)
                     for f in spec.input_sandbox),
        outputs=tuple(outputs), queue=res.queue, wall_time_s=res.wall_time_s, memory_mb=res.memory_mb,
        count=res.cpus, count_per_node=res.cpus,
        runtime_environments=tuple(RuntimeEnvironment(name=r) for r in res.runtime_environments),
        environment=tuple(spec.environment.items()), base_dir=base_dir,
    )


def _local_path(job: JobDescription, f: InputFile) -> Path:
    source = f.source or f.name
    if source.lower().startswith("file:"):
        source = source.split(":", 1)[1]
        while source.startswith("//"):
            source = source[1:]
    path = Path(source)
    return path if path.is_absolute() or job.base_dir is None else job.base_dir / path


def prepare(job: JobDescription, *, check_files: bool = True) -> PreparedJob:
    """Complete a job as ARC's client does before sending it.

    Args:
        job: A parsed job (its alternatives are not sent: resolve them with matchmaking first).
        check_files: Refuse missing local inputs (False: report them in ``missing``).

    Raises:
        DescriptionSyntaxError: No executable, duplicate input names, a missing local file (with
            ``check_files``), or an attribute that cannot be sent yet (:data:`UNSUPPORTED`).
    """
    if not job.executable:
        raise DescriptionSyntaxError("executable: missing")
    unsupported = [n for n, _, _ in job.extras
                   if n.lower().replace("_", "") in UNSUPPORTED or n.startswith(("adl:", "nordugrid-adl:"))]
    if job.notify:
        unsupported.append("notify")
    if job.start_time is not None:
        unsupported.append("starttime")
    if unsupported:
        raise DescriptionSyntaxError(f"not supported yet, refused before any request: {', '.join(unsupported)}")
    ignored = [n for n, _, _ in job.extras]
    if ignored:
        _log.warning("ignoring attributes A-REX does not use (as ARC's client does): %s", ", ".join(ignored))
    inputs = list(job.inputs)
    names = [i.name for i in inputs]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DescriptionSyntaxError(f"inputfiles: duplicate names {sorted(dup)}")
    missing: list[str] = []
    for attr, executable in (("executable", True), ("stdin", False)):
        value = getattr(job, attr)
        if value and not value.startswith("/") and value not in names:
            candidate = InputFile(name=value, executable=executable)
            if _local_path(job, candidate).is_file():
                inputs.append(candidate)
                names.append(value)
            elif attr == "executable" and check_files:
                raise DescriptionSyntaxError(
                    f"executable: {value!r} is relative but neither an input nor a local file "
                    f"in {job.base_dir or Path.cwd()} (A-REX does not search PATH)")
    if job.executable in names:
        inputs = [evolve(i, executable=True) if i.name == job.executable else i for i in inputs]
    uploads: list[Upload] = []
    wire_inputs: list[InputFile] = []
    for f in inputs:
        if f.is_local:
            path = _local_path(job, f)
            if not path.is_file():
                if check_files:
                    raise DescriptionSyntaxError(f"inputfiles: {f.name!r}: local file {str(path)!r} does not exist")
                missing.append(f.name)
            uploads.append(Upload(name=f.name, path=path, executable=f.executable))
            wire_inputs.append(evolve(f, source="", options=()))
        else:
            wire_inputs.append(f)
    outputs = list(job.outputs)
    out_names = {o.name for o in outputs}
    for extra in (job.stdout, job.stderr, job.gmlog):
        if extra and extra not in out_names:
            outputs.append(OutputFile(name=extra))
            out_names.add(extra)
    wire = evolve(job, inputs=tuple(wire_inputs), outputs=tuple(outputs), extras=(), alternatives=(),
                               rejected_queues=())
    return PreparedJob(job=wire, uploads=tuple(uploads), missing=tuple(missing))


def to_wire(jobs: Sequence[JobDescription], *, language: Literal["adl", "xrsl"] = "adl",
            delegation_id: str | None = None) -> str:
    """The creation-request body for prepared jobs: ADL (bulk ``ActivityDescriptions``) or A-REX-side xRSL.

    Raises:
        DescriptionSyntaxError: A job cannot be expressed in that language (nothing is sent).
    """
    if not jobs:
        raise DescriptionSyntaxError("no jobs")
    if language == "adl":
        return write_adl_bulk(jobs, delegation_id=delegation_id)
    texts = []
    for job in jobs:
        for r in job.runtime_environments:
            if r.op != "=":
                raise DescriptionSyntaxError(f"runtimeenvironment {r.op} {r.name!r}: resolve it against the CE first")
        text = write_xrsl(dataclasses.replace(job, delegation_id=delegation_id or job.delegation_id))
        texts.append(text.strip())
    return texts[0] if len(texts) == 1 else "+" + "".join(f"({t})" for t in texts)

