"""``fetch_output``: which jobs can be fetched, concurrent bounded transfers, the manifests.

For every requested id, exactly once, the result is a :class:`JobOutput`; every reason is
``"<code>: <detail>"`` with a code from :data:`arc_intercede.transfer.REASON_CODES`:

* unknown job, or an id that cannot name an ARC job -> ``not-found``;
* job not finished -> ``not-finished`` (with its state);
* otherwise the session directory is streamed by :func:`arc_intercede.transfer.fetch_job` into
  ``dest/<job id>/``; ``stdout``/``stderr`` are the job's declared names, ``files`` the other
  payload members; the CE's job log (diagnose ``errors``) is written to
  ``dest/<job id>.ce/errors`` and is ``log`` whenever it was written — outside the payload tree,
  so it never collides with a payload member.

``complete`` is True exactly when every member the session directory listed was fetched in full
(its announced length, no protocol violation), no ceiling was hit, no name was refused, every
output the job description declares (A-REX's diagnose ``output`` item) is there, and the log, if
the CE has one, was written. Otherwise ``reason`` says why (the first trouble met); a declared
output the job never wrote gives ``missing-output`` naming it.

Transfers of different jobs run concurrently (``transfer_concurrency``, and at most the pool's
connections); a slow or failing job does not hold up the others, and one job's trouble (its
streams, its listing, its local files) is only that job's outcome. Only a CE that cannot be
reached or refuses the credential raises.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from arc_intercede._rest import ConnectionPool, JobInfo, RestClient, possible_job_id, unique
from arc_intercede.config import Limits
from arc_intercede.contract import JobID, JobOutput
from arc_intercede.errors import ARCBackendError, CEResponseError, CredentialError, TransportError
from arc_intercede.transfer import (
    LOCAL_IO,
    MISSING_OUTPUT,
    NOT_FINISHED,
    NOT_FOUND,
    FetchResult,
    TransferProgress,
    fetch_job,
    write_atomic,
)

__all__ = ["OutputFetcher", "declared_outputs"]

_log = logging.getLogger(__name__)

FETCHABLE_STATES: Final = frozenset({"FINISHED", "FAILED", "KILLED"})
LOG_SUFFIX: Final = ".ce"
MAX_LOG_BYTES: Final = 16 * 1024 * 1024
MAX_OUTPUT_LIST_BYTES: Final = 1024 * 1024


def _rel(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lstrip("/")
    return name or None


def declared_outputs(text: str) -> list[str]:
    """Parse A-REX's ``output`` diagnose item: the user-downloadable outputs the job declares.

    Each line is ``/name [url [credential]]`` with space and backslash escaped by a backslash
    (``ControlFileContent.cpp``); a line with a URL is uploaded by the CE, not left for download,
    and ``/@name`` names a file that lists outputs only known at run time. Directories end with ``/``.
    """
    names = []
    for line in text.splitlines():
        tokens: list[str] = []
        cur: list[str] = []
        escaped = False
        for c in line.strip():
            if escaped:
                cur.append(c)
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == " ":
                if cur:
                    tokens.append("".join(cur))
                    cur = []
            else:
                cur.append(c)
        if cur:
            tokens.append("".join(cur))
        name = tokens[0].lstrip("/") if len(tokens) == 1 else ""
        if name and not name.startswith("@"):
            names.append(name)
    return names


def _missing(result: FetchResult, declared: list[str]) -> list[str]:
    missing = []
    for name in declared:
        if name.endswith("/"):
            if name.rstrip("/") not in result.dirs:
                missing.append(name)
        elif name not in result.files:
            missing.append(name)
    return missing


class OutputFetcher:
    """Fetches the outputs of a batch of jobs through a connection pool."""

    def __init__(self, pool: ConnectionPool, limits: Limits, concurrency: int) -> None:
        self._pool = pool
        self._limits = limits
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(
        self, ids: Sequence[JobID], dest: Path, progress: Callable[[TransferProgress], None] | None
    ) -> dict[JobID, JobOutput]:
        """Return one manifest per distinct id (see the module docstring)."""
        wanted = unique(ids)
        infos = await self._pool.job_info(wanted)
        out: dict[JobID, JobOutput] = {}
        todo: list[tuple[JobID, JobInfo]] = []
        for job_id in wanted:
            _, info = infos[job_id]
            if not possible_job_id(job_id):
                out[job_id] = JobOutput(complete=False, reason=f"{NOT_FOUND}: {job_id!r} is not a valid ARC job id")
            elif info is None:
                out[job_id] = JobOutput(complete=False, reason=f"{NOT_FOUND}: job not found on the CE")
            elif (info.state or "").upper() not in FETCHABLE_STATES:
                out[job_id] = JobOutput(complete=False, reason=f"{NOT_FINISHED}: job not finished (state {info.state})")
            else:
                todo.append((job_id, info))
        loop = asyncio.get_running_loop()

        def on_loop(p: TransferProgress) -> None:
            if progress is not None:
                loop.call_soon_threadsafe(progress, p)

        results = await asyncio.gather(*(self._one(job_id, info, dest, on_loop) for job_id, info in todo))
        out.update(results)
        return {job_id: out[job_id] for job_id in wanted}

    async def _one(
        self, job_id: JobID, info: JobInfo, dest: Path, progress: Callable[[TransferProgress], None]
    ) -> tuple[JobID, JobOutput]:
        async with self._slots:
            # The CE's log and the declared outputs come over a second connection while the payload streams.
            payload, extras = await asyncio.gather(
                self._pool.call(lambda c: fetch_job(c, job_id, dest, self._limits, progress), f"fetch {job_id}"),
                self._pool.call(lambda c: _log_and_outputs(c, job_id, dest), f"log of {job_id}"),
                return_exceptions=True,
            )
        for res in (payload, extras):
            if isinstance(res, BaseException):
                raise res
        assert isinstance(payload, FetchResult) and not isinstance(extras, BaseException)
        log, log_trouble, declared = extras
        result = payload
        reason = result.reason
        if not reason and declared is not None:
            missing = _missing(result, declared)
            if missing:
                # The gmlog directory is declared as an output but is the CE's own job log, not in the
                # session directory (its ``errors`` item is in ``log``): leave it out.
                gmlog = await self._pool.call(lambda c: _gmlog_name(c, job_id), f"local of {job_id}")
                missing = [m for m in missing if m.rstrip("/") != gmlog]
            if missing:
                reason = f"{MISSING_OUTPUT}: declared but not in the session directory: {', '.join(map(repr, missing))}"
        if not reason and log_trouble:
            reason = log_trouble
        files = dict(result.files)
        out_name, err_name = _rel(info.stdout), _rel(info.stderr)
        stdout = files.pop(out_name, None) if out_name else None
        stderr = stdout if err_name == out_name else files.pop(err_name, None) if err_name else None
        return job_id, JobOutput(stdout=stdout, stderr=stderr, log=log, files=files,
                                 complete=not reason, reason=reason)


def _log_and_outputs(client: RestClient, job_id: str, dest: Path) -> tuple[Path | None, str, list[str] | None]:
    """Write the CE's job log to ``dest/<job id>.ce/errors`` and read the declared outputs.

    Returns:
        The log's path (None when the CE has none or it could not be read or written), the
        per-id reason when it could not be written locally (else ""), and the declared outputs
        (None when the CE does not say).

    Raises:
        CredentialError, TransportError: Only what concerns the whole CE.
    """
    log: Path | None = None
    trouble = ""
    text = _diagnose_item(client, job_id, "errors", MAX_LOG_BYTES)
    if text is not None:
        try:
            log = write_atomic(dest, f"{job_id}{LOG_SUFFIX}", "errors", text.encode("utf-8"))
        except OSError as exc:
            trouble = f"{LOCAL_IO}: cannot write the CE's log under {str(dest)!r}: {exc.strerror or exc}"
    declared: list[str] | None = None
    listed = _diagnose_item(client, job_id, "output", MAX_OUTPUT_LIST_BYTES)
    if listed is not None and not listed.endswith("[truncated]"):
        declared = declared_outputs(listed)
    return log, trouble, declared


def _gmlog_name(client: RestClient, job_id: str) -> str | None:
    """Return the job's gmlog directory name from A-REX's ``local`` diagnose item (``gmlog=NAME``)."""
    text = _diagnose_item(client, job_id, "local", MAX_OUTPUT_LIST_BYTES)
    for line in (text or "").splitlines():
        key, _, value = line.partition("=")
        if key == "gmlog" and value.strip():
            return value.strip().strip("/")
    return None


def _diagnose_item(client: RestClient, job_id: str, item: str, cap: int) -> str | None:
    """Read one diagnose item; None when this job's item cannot be had (CE-wide failures raise)."""
    try:
        return client.diagnose(job_id, item, cap)
    except ARCBackendError as exc:
        _whole_ce(exc)
        _log.debug("diagnose %s of %s not read: %s", item, job_id, exc)
        return None


def _whole_ce(exc: ARCBackendError) -> None:
    """Re-raise an error that concerns the whole CE (credential refused, CE unreachable)."""
    if isinstance(exc, CredentialError) or (isinstance(exc, TransportError) and not exc.kind):
        raise exc
    if not isinstance(exc, CEResponseError | TransportError):
        raise exc
