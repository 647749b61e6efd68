"""Input uploads of newly created jobs: concurrent, retried while transient, failed copies cancelled."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from arc_intercede._rest import ConnectionPool
from arc_intercede.contract import JobID, OpOutcome
from arc_intercede.descriptions.spec_xrsl import Upload
from arc_intercede.errors import ARCBackendError

__all__ = ["upload_inputs"]

_log = logging.getLogger(__name__)

_Action = Callable[[Sequence[JobID]], Awaitable[Mapping[JobID, OpOutcome]]]


def _transient(exc: Exception) -> bool:
    return isinstance(exc, ARCBackendError) and exc.transient


async def upload_inputs(pool: ConnectionPool, ids: dict[int, JobID], failures: dict[int, str],
                        uploads: Sequence[Upload], *, retry_s: float, kill: _Action, purge: _Action) -> None:
    """Upload every copy's inputs; retry transient failures, then cancel the copies still missing some.

    A copy moves from ``ids`` to ``failures`` only if its inputs could not be uploaded within
    ``retry_s``. Its job is then killed and purged (``kill``, ``purge``); if even that fails (the CE is
    down), the failure names the job id, so a job is never left on the CE unknown to the caller.
    """
    pending = [(i, job_id, up) for i, job_id in ids.items() for up in uploads]
    deadline = time.monotonic() + retry_s
    pause = 1.0
    broken: dict[int, str] = {}
    while pending:
        results = await pool.each(pending, lambda c, w: c.upload(w[1], w[2].name, w[2].path), "upload inputs")
        again = []
        for work, res in zip(pending, results, strict=True):
            if not isinstance(res, BaseException):
                continue
            if not isinstance(res, Exception):
                raise res
            if _transient(res) and time.monotonic() + pause < deadline:
                again.append(work)
            else:
                broken.setdefault(work[0], f"upload of {work[2].name!r} failed: {res}")
        pending = [w for w in again if w[0] not in broken]
        if pending:
            _log.warning("retrying %d input upload(s) in %.0f s after transient errors", len(pending), pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
    if not broken:
        return
    doomed = {ids.pop(i): i for i in broken}
    _log.warning("cancelling %d job(s) whose inputs could not be uploaded", len(doomed))
    not_cancelled: dict[JobID, str] = {}
    try:
        killed = await kill(list(doomed))
        not_cancelled = {j: o.reason for j, o in killed.items() if not o.ok}
        await purge([j for j in doomed if j not in not_cancelled])
    except ARCBackendError as exc:
        not_cancelled = dict.fromkeys(doomed, str(exc))
    for job_id, i in doomed.items():
        reason = broken[i]
        if job_id in not_cancelled:
            reason += (f"; the job was created as {job_id} and could not be cancelled"
                       f" ({not_cancelled[job_id]}): kill and purge it")
        failures[i] = reason
    if not_cancelled:
        _log.warning("could not cancel %d job(s) with failed uploads: %s", len(not_cancelled),
                     ", ".join(not_cancelled))
