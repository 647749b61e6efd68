"""The interCEde computing-element backend contract (IC-ADR-001, draft V1).

interCEde does not publish an implementation of its contract yet. This module is a faithful,
stdlib-only copy of the draft that interCEde issue #22 cites, to be replaced by interCEde's own
module once it ships. Nothing here does I/O.

Semantics every backend follows:

* All methods are ``async`` and bulk; backends are async context managers, construction does no
  I/O and closing is idempotent.
* A whole-operation failure (CE unreachable, credentials rejected, malformed response) raises a
  subclass of :class:`InterCEdeError`. Per-id failures go into the returned mapping.
* Every id passed to a bulk call appears in the returned mapping exactly once. Ids the backend
  does not know, or that the CE has forgotten, map to :attr:`JobStatus.UNKNOWN`.
* A transport failure is never reported as a terminal job status.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeAlias, runtime_checkable

__all__ = [
    "Cancellable",
    "Diagnostics",
    "FileRef",
    "InterCEdeError",
    "JobBackend",
    "JobCounts",
    "JobID",
    "JobOutput",
    "JobStatus",
    "LoadReporter",
    "Monitor",
    "OpOutcome",
    "OutputRetriever",
    "OutputSpec",
    "Purgeable",
    "Resources",
    "Submission",
    "SubmissionSpec",
    "Submitter",
    "SupportsLiveDiagnostics",
]

JobID: TypeAlias = str
"""The CE's identifier of one job (for ARC: the A-REX job id)."""


class InterCEdeError(Exception):
    """Root of every error a backend raises for a whole-operation failure."""


class JobStatus(enum.Enum):
    """Normalised job state, close to DIRAC's pilot states.

    ``UNKNOWN`` means the CE does not know the id (never submitted, purged, expired) or reported a
    state the backend cannot interpret. It is never used for a transport failure.
    """

    WAITING = "waiting"
    """Accepted by the CE, not yet running (staging, queued in the batch system)."""
    RUNNING = "running"
    """Running, or finishing up (stage-out) after running."""
    HELD = "held"
    """Suspended or held in the batch system."""
    DONE = "done"
    """Finished; outputs can be fetched."""
    FAILED = "failed"
    """Finished with a failure reported by the CE or batch system."""
    ABORTED = "aborted"
    """Killed on request, or removed by the CE before finishing."""
    UNKNOWN = "unknown"
    """The CE does not know this id, or its state could not be interpreted."""

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change state on its own."""
        return self in (JobStatus.DONE, JobStatus.FAILED, JobStatus.ABORTED)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileRef:
    """One input-sandbox member.

    Attributes:
        name: The file's name in the job's working directory (relative, no ``..``).
        source: A local path (uploaded by the backend) or a URL (fetched by the CE).
        executable: Whether the file gets the executable bit in the job's directory.
    """

    name: str
    source: str | Path
    executable: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputSpec:
    """What the job leaves behind for retrieval.

    Attributes:
        stdout: File name the job's standard output is written to (None: discarded).
        stderr: File name of the standard error (None: discarded; equal to ``stdout``: merged).
        files: Further relative names (files, or directories ending in ``/``) to keep.
    """

    stdout: str | None = "stdout"
    stderr: str | None = "stderr"
    files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Resources:
    """Resource requests; ``None`` leaves the CE's default.

    Attributes:
        queue: Batch queue (ARC: the CE queue name).
        cpus: Number of CPU slots.
        memory_mb: Memory per slot, in MiB.
        wall_time_s: Wall-clock limit, in seconds.
        runtime_environments: Names of CE runtime environments the job needs.
    """

    queue: str | None = None
    cpus: int | None = None
    memory_mb: int | None = None
    wall_time_s: int | None = None
    runtime_environments: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmissionSpec:
    """A backend-independent job description.

    Attributes:
        executable: Program to run: a name from ``input_sandbox`` or a path on the worker node.
        arguments: Arguments, passed to the program verbatim.
        input_sandbox: Files placed in the job's directory before it starts.
        output_sandbox: What to keep after the job ends.
        resources: Resource requests.
        environment: Environment variables set for the job, passed verbatim.
        stdin: Name of a sandbox file fed to the job's standard input.
        tag: A free-form label (ARC: the job name), reserved for list-by-tag.
    """

    executable: str
    arguments: tuple[str, ...] = ()
    input_sandbox: tuple[FileRef, ...] = ()
    output_sandbox: OutputSpec = field(default_factory=OutputSpec)
    resources: Resources = field(default_factory=Resources)
    environment: Mapping[str, str] = field(default_factory=dict)
    stdin: str | None = None
    tag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """Result of :meth:`Submitter.submit`.

    Attributes:
        ids: Job id of each copy that was created, keyed by copy index (0-based).
        failures: Reason for each copy that was not created, keyed by copy index.

    Every copy index ``0..count-1`` is in exactly one of the two mappings.
    """

    ids: Mapping[int, JobID]
    failures: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpOutcome:
    """Per-id outcome of an operation that returns no value (kill, purge)."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCounts:
    """Load on the CE as the backend sees it (see the backend's docs for what is counted)."""

    running: int
    waiting: int


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutput:
    """Manifest of a fetched job: local paths, never contents.

    Attributes:
        stdout: Local path of the job's standard output, if fetched.
        stderr: Local path of the job's standard error, if fetched.
        log: Local path of the CE's log for the job (never a payload file).
        files: Payload members only, relative name -> local path.
        complete: Whether every member was fetched.
        reason: Why the fetch is incomplete (empty when complete).
    """

    stdout: Path | None = None
    stderr: Path | None = None
    log: Path | None = None
    files: Mapping[str, Path] = field(default_factory=dict)
    complete: bool = True
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Diagnostics:
    """Live diagnostic information of one job.

    Attributes:
        found: Whether the CE knows the job.
        files: Diagnostic items the CE has so far, name -> text. A missing item means "not yet".
        reason: Why nothing could be read (empty when ``found``).
    """

    found: bool
    files: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""


@runtime_checkable
class Submitter(Protocol):
    """Creates jobs."""

    async def submit(self, spec: SubmissionSpec, count: int = 1) -> Submission:
        """Create ``count`` copies of ``spec``.

        Returns:
            A :class:`Submission` in which every copy index is either an id or a failure.

        Raises:
            InterCEdeError: When nothing could be attempted (bad spec, CE unreachable, auth).
        """
        ...


@runtime_checkable
class Monitor(Protocol):
    """Reports job states."""

    async def status(self, ids: Sequence[JobID]) -> Mapping[JobID, JobStatus]:
        """Return the state of each id.

        Returns:
            Per id, exactly once: its state, ``UNKNOWN`` for ids the CE does not know.

        Raises:
            InterCEdeError: On a whole-operation failure; never mapped to a job state.
        """
        ...


@runtime_checkable
class JobBackend(Submitter, Monitor, Protocol):
    """The minimum every backend offers."""


@runtime_checkable
class OutputRetriever(Protocol):
    """Materialises job outputs locally."""

    destructive: bool
    """Whether fetching removes the outputs from the CE (then a second fetch finds nothing)."""

    async def fetch_output(self, ids: Sequence[JobID], dest: Path) -> Mapping[JobID, JobOutput]:
        """Fetch each job's outputs under ``dest``.

        Returns:
            Per id, exactly once, the manifest of what was fetched; a per-id failure is a
            manifest with ``complete=False`` and a reason.

        Raises:
            InterCEdeError: On a whole-operation failure.
        """
        ...


@runtime_checkable
class Cancellable(Protocol):
    """Kills jobs."""

    async def kill(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Ask the CE to kill each job; per id, exactly once, whether the request was accepted."""
        ...


@runtime_checkable
class Purgeable(Protocol):
    """Removes finished jobs and their files from the CE."""

    async def purge(self, ids: Sequence[JobID]) -> Mapping[JobID, OpOutcome]:
        """Ask the CE to remove each job; per id, exactly once, whether the request was accepted."""
        ...


@runtime_checkable
class LoadReporter(Protocol):
    """Reports how loaded the CE is."""

    async def counts(self) -> JobCounts:
        """Return the running and waiting job counts."""
        ...


@runtime_checkable
class SupportsLiveDiagnostics(Protocol):
    """Reads diagnostic information of jobs, also while they run."""

    async def diagnostics(self, ids: Sequence[JobID]) -> Mapping[JobID, Diagnostics]:
        """Return per id, exactly once, the diagnostics the CE has so far."""
        ...
