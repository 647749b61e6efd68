"""``fetch_output``: which jobs can be fetched, concurrent bounded transfers, the manifests.

For every requested id, exactly once, the result is a :class:`JobOutput`:

* unknown job -> ``complete=False``, reason "job not found on the CE";
* job not finished -> ``complete=False``, reason "job not finished (state ...)";
* otherwise the session directory is streamed by :func:`arc_intercede.transfer.fetch_job` into
  ``dest/<job id>/``; ``stdout``/``stderr`` are the job's declared names, ``files`` the other
  payload members; the CE's job log (diagnose ``errors``) is written to
  ``dest/<job id>.ce/errors`` and is ``log`` — outside the payload tree, so it never collides
  with a payload member.

Transfers of different jobs run concurrently (``transfer_concurrency``, and at most the pool's
connections); a slow or failing job does not hold up the others.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from arc_intercede.client import JobInfo, RestClient
from arc_intercede.config import Limits
from arc_intercede.contract import JobID, JobOutput
from arc_intercede.errors import CEResponseError
from arc_intercede.facade import Facade, unique
from arc_intercede.transfer import TransferProgress, fetch_job, safe_segment

__all__ = ["OutputFetcher"]

_log = logging.getLogger(__name__)

FETCHABLE_STATES: Final = frozenset({"FINISHED", "FAILED", "KILLED"})
LOG_SUFFIX: Final = ".ce"
MAX_LOG_BYTES: Final = 16 * 1024 * 1024


def _rel(name: str | None) -> str | None:
    if not name:
        return None
    name = name.strip().lstrip("/")
    return name or None


class OutputFetcher:
    """Fetches the outputs of a batch of jobs through a facade."""

    def __init__(self, facade: Facade, limits: Limits, concurrency: int) -> None:
        self._facade = facade
        self._limits = limits
        self._slots = asyncio.Semaphore(concurrency)

    async def fetch(
        self, ids: Sequence[JobID], dest: Path, progress: Callable[[TransferProgress], None] | None
    ) -> dict[JobID, JobOutput]:
        """Return one manifest per distinct id (see the module docstring)."""
        wanted = unique(ids)
        infos = await self._facade.bulk(wanted, lambda c, chunk: c.job_info(chunk),
                                        lambda r: r[0].job_id, "job info")
        out: dict[JobID, JobOutput] = {}
        todo: list[tuple[JobID, JobInfo]] = []
        for job_id in wanted:
            _, info = infos[job_id]
            if info is None:
                out[job_id] = JobOutput(complete=False, reason="job not found on the CE")
            elif (info.state or "").upper() not in FETCHABLE_STATES:
                out[job_id] = JobOutput(complete=False, reason=f"job not finished (state {info.state})")
            else:
                try:
                    safe_segment(job_id)
                except Exception:
                    out[job_id] = JobOutput(complete=False, reason=f"unsafe-path: job id {job_id!r}")
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
            # The CE's log comes over a second connection while the payload streams.
            payload, log_or_error = await asyncio.gather(
                self._facade.call(lambda c: fetch_job(c, job_id, dest, self._limits, progress), f"fetch {job_id}"),
                self._facade.call(lambda c: _save_log(c, job_id, dest), f"log of {job_id}"),
                return_exceptions=True,
            )
        if isinstance(payload, CEResponseError):
            reason = "session directory is gone (purged or expired)" if payload.status == 404 else str(payload)
            return job_id, JobOutput(complete=False, reason=reason)
        if isinstance(payload, BaseException):
            raise payload
        if isinstance(log_or_error, BaseException):
            raise log_or_error
        result, log = payload, log_or_error
        files = dict(result.files)
        out_name, err_name = _rel(info.stdout), _rel(info.stderr)
        stdout = files.pop(out_name, None) if out_name else None
        stderr = stdout if err_name == out_name else files.pop(err_name, None) if err_name else None
        return job_id, JobOutput(stdout=stdout, stderr=stderr, log=log, files=files,
                                 complete=result.complete, reason=result.reason)


def _save_log(client: RestClient, job_id: str, dest: Path) -> Path | None:
    """Write the CE's job log (diagnose ``errors``) to ``dest/<job id>.ce/errors``."""
    text = client.diagnose(job_id, "errors", MAX_LOG_BYTES)
    if text is None:
        return None
    folder = dest / f"{job_id}{LOG_SUFFIX}"
    if folder.is_symlink():
        folder.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "errors"
    tmp = folder / ".errors.part"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, target)
    return target
