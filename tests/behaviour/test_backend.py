"""Backend behaviour every CE shows, asserted once and run against each target (see conftest.py).

Only what the fake CE can honestly show lives here (ids, states, kill, purge, cancelled copies); what needs a real batch
system (outputs, exit codes, counts) stays in ``tests/contract/``, and misbehaviour in ``tests/unit/``.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from arc_intercede import FileRef, JobStatus, OutputSpec, SubmissionSpec
from arc_intercede.contract import (
    Cancellable,
    JobBackend,
    LoadReporter,
    Monitor,
    OutputRetriever,
    Purgeable,
    Submitter,
    SupportsLiveDiagnostics,
)
from tests.behaviour.conftest import Target
from tests.contract.helpers import shell_job, wait_status, wait_terminal


def test_backend_implements_every_protocol(target: Target) -> None:
    ce = target.backend()
    for proto in (Submitter, Monitor, JobBackend, OutputRetriever, Cancellable, Purgeable, LoadReporter,
                  SupportsLiveDiagnostics):
        assert isinstance(ce, proto), proto.__name__
    assert ce.destructive is False


def test_unknown_and_purged_ids_are_unknown(target: Target) -> None:
    async def body() -> None:
        async with target.backend() as ce:
            sub = await ce.submit(shell_job("true"))
            (job_id,) = sub.ids.values()
            await wait_terminal(ce, [job_id], poll_s=target.poll_s)
            fake = uuid.uuid4().hex[:12]
            outcome = await ce.purge([job_id, fake])
            assert outcome[job_id].ok, outcome
            assert not outcome[fake].ok and "not found" in outcome[fake].reason
            states = await wait_status(ce, [job_id, fake, fake], lambda s: s is JobStatus.UNKNOWN, within=60,
                                       poll_s=target.poll_s)
            assert set(states) == {job_id, fake}

    asyncio.run(body())


def test_kill_running_job(target: Target) -> None:
    async def body() -> None:
        async with target.backend() as ce:
            sub = await ce.submit(shell_job("sleep 600"))
            (job_id,) = sub.ids.values()
            await wait_status(ce, [job_id], lambda s: s is JobStatus.RUNNING, poll_s=target.poll_s)
            outcome = await ce.kill([job_id])
            assert outcome[job_id].ok, outcome
            states = await wait_terminal(ce, [job_id], poll_s=target.poll_s)
            assert states[job_id] in (JobStatus.ABORTED, JobStatus.FAILED)
            await ce.purge([job_id])

    asyncio.run(body())

def test_count_with_a_failed_upload_cancels_that_copy(target: Target, tmp_path: Path, mocker) -> None:
    data = tmp_path / "in.txt"
    data.write_text("x")
    spec = SubmissionSpec(
        executable="/bin/cat", arguments=("in.txt",),
        input_sandbox=(FileRef(name="in.txt", source=data),),
        output_sandbox=OutputSpec(stdout="out.txt", stderr=None),
    )
    from arc_intercede._rest.operations import _RestMixin
    from arc_intercede.errors import CEResponseError

    real_upload = _RestMixin.upload
    seen: list[str] = []

    def flaky_upload(self, job_id, name, path):  # the 2nd job's upload is refused (permanent: not retried)
        seen.append(job_id)
        if len(seen) == 2:
            raise CEResponseError("upload refused (injected)", status=400)
        return real_upload(self, job_id, name, path)

    mocker.patch.object(_RestMixin, "upload", flaky_upload)

    async def body() -> None:
        async with target.backend(max_connections=1) as ce:
            sub = await ce.submit(spec, count=3)
            assert len(sub.ids) == 2 and len(sub.failures) == 1, sub
            (bad,) = sub.failures
            assert "injected" in sub.failures[bad]
            cancelled = seen[1]
            # The broken copy was killed and purged: the CE forgets it.
            states = await wait_status(ce, [cancelled], lambda s: s is JobStatus.UNKNOWN, within=120,
                                       poll_s=target.poll_s)
            assert states[cancelled] is JobStatus.UNKNOWN
            good = list(sub.ids.values())
            states = await wait_terminal(ce, good, poll_s=target.poll_s)
            assert set(states.values()) == {JobStatus.DONE}
            await ce.purge(good)

    asyncio.run(body())
