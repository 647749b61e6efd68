"""ARCBackend on the loopback fake CE: per-id maps, hold policy, counts, partial submissions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arc_intercede import (
    ARCBackend,
    ARCConfig,
    CredentialError,
    HoldPolicy,
    JobStatus,
    SubmissionSpec,
    TransportError,
)
from arc_intercede import backend as backend_module
from tests.hostile_ce import serve


@pytest.fixture
def fake(tmp_path: Path):
    yield from serve(tmp_path / "pki")


def _run(fake, body, **overrides):
    async def main():
        cfg = ARCConfig(endpoint=fake.endpoint, ca_file=fake.ca_file, token="t", queue="batch",
                        read_timeout_s=5, **overrides)
        async with ARCBackend(cfg) as ce:
            return await body(ce)

    return asyncio.run(main())


def test_status_answers_every_distinct_id_once(fake) -> None:
    running, held = fake.ce.add_job("RUNNING"), fake.ce.add_job("HELD")
    fake.ce.jobs[weird := fake.ce.add_job()] = "SOMETHING-NEW"
    ids = [running, "nosuchjob001", held, running, weird]
    out = _run(fake, lambda ce: ce.status(ids))
    assert out == {running: JobStatus.RUNNING, "nosuchjob001": JobStatus.UNKNOWN, held: JobStatus.HELD,
                   weird: JobStatus.UNKNOWN}


def test_transport_failure_is_an_error_never_a_state(fake) -> None:
    job = fake.ce.add_job("RUNNING")
    fake.ce.drop["POST status"] = 2  # the retry fails too

    async def body(ce):
        with pytest.raises(TransportError) as info:
            await ce.status([job])
        assert info.value.transient
        return await ce.status([job])  # recovers on the next call

    assert _run(fake, body) == {job: JobStatus.RUNNING}


def test_rejected_token_is_a_credential_error(fake) -> None:
    fake.ce.fail["POST status"] = (500, "User can't be assigned configuration")

    async def body(ce):
        with pytest.raises(CredentialError):
            await ce.status(["abc"])

    _run(fake, body)


def test_hold_policy_report_leaves_held_jobs_alone(fake) -> None:
    held = fake.ce.add_job("HELD")
    _run(fake, lambda ce: ce.status([held]), hold_policy=HoldPolicy.REPORT, hold_grace_s=0)
    assert fake.ce.count("POST", "kill") == 0


def test_hold_policy_kill_kills_jobs_held_past_the_grace_time(fake) -> None:
    held, running = fake.ce.add_job("HELD"), fake.ce.add_job("RUNNING")

    async def body(ce):
        first = await ce.status([held, running])
        assert fake.ce.count("POST", "kill") == 0  # just seen held: within the grace time
        ce._held_since[held] -= 10  # ... ten seconds later
        second = await ce.status([held, running])
        return first, second

    first, second = _run(fake, body, hold_policy=HoldPolicy.KILL, hold_grace_s=5)
    assert first[held] is JobStatus.HELD and second[held] is JobStatus.HELD
    kills = [r for r in fake.ce.requests if r.query.get("action") == "kill"]
    assert len(kills) == 1 and held.encode() in kills[0].body and running.encode() not in kills[0].body


def test_kill_and_purge_outcomes_per_id(fake) -> None:
    job = fake.ce.add_job("RUNNING")

    async def body(ce):
        return await ce.kill([job, "nosuchjob001"]), await ce.purge([job])

    kill, purge = _run(fake, body)
    assert kill[job].ok and not kill["nosuchjob001"].ok and "not found" in kill["nosuchjob001"].reason
    assert purge[job].ok


def test_counts_from_the_queue_share(fake) -> None:
    counts = _run(fake, lambda ce: ce.counts())
    assert (counts.running, counts.waiting) == (1, 2)


def test_later_creation_failure_keeps_earlier_copies(fake, monkeypatch) -> None:
    monkeypatch.setattr(backend_module, "SUBMIT_BATCH", 2)
    fake.ce.fail["POST new"] = (500, "No more jobs allowed")
    fake.ce.fail_after["POST new"] = 1
    sub = _run(fake, lambda ce: ce.submit(SubmissionSpec(executable="/bin/true"), count=5))
    assert sorted(sub.ids) == [0, 1] and sorted(sub.failures) == [2, 3, 4]
    assert all("No more jobs allowed" in r for r in sub.failures.values())


def test_first_creation_failure_raises(fake) -> None:
    fake.ce.fail["POST new"] = (500, "No more jobs allowed")

    async def body(ce):
        with pytest.raises(Exception, match="No more jobs allowed"):
            await ce.submit(SubmissionSpec(executable="/bin/true"), count=3)

    _run(fake, body)


def test_bulk_submission_is_one_request_per_batch(fake) -> None:
    sub = _run(fake, lambda ce: ce.submit(SubmissionSpec(executable="/bin/true"), count=150))
    assert sorted(sub.ids) == list(range(150)) and len(set(sub.ids.values())) == 150
    assert fake.ce.count("POST", "new") == 2  # 100 + 50 copies


def test_diagnostics_missing_item_is_not_yet(fake) -> None:
    job = fake.ce.add_job("RUNNING")
    out = _run(fake, lambda ce: ce.diagnostics([job, "nosuchjob001"]))
    assert out[job].found and out[job].files == {"errors": f"log of {job}\n"}
    assert not out["nosuchjob001"].found
