"""ARCBackend on the loopback fake CE: per-id maps, hold policy, counts, partial submissions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arc_intercede import (
    ARCBackend,
    ARCConfig,
    CredentialError,
    FileRef,
    HoldPolicy,
    JobStatus,
    SubmissionSpec,
    TransportError,
)
from arc_intercede import backend as backend_module


def _run(fake, body, **overrides):
    async def main():
        cfg = ARCConfig(endpoint=fake.endpoint, ca_file=fake.ca_file, token="t", queue="batch",
                        read_timeout_s=5, **overrides)
        async with ARCBackend(cfg) as ce:
            return await body(ce)

    return asyncio.run(main())


def test_status_answers_every_distinct_id_once(fake) -> None:
    running, held = fake.add_job("RUNNING"), fake.add_job("HELD")
    fake.jobs[weird := fake.add_job()].state = "SOMETHING-NEW"
    ids = [running, "nosuchjob001", held, running, weird]
    out = _run(fake, lambda ce: ce.status(ids))
    assert out == {running: JobStatus.RUNNING, "nosuchjob001": JobStatus.UNKNOWN, held: JobStatus.HELD,
                   weird: JobStatus.UNKNOWN}


def test_transport_failure_is_an_error_never_a_state(fake) -> None:
    job = fake.add_job("RUNNING")
    fake.drop["POST jobs?status"] = 2  # the retry fails too

    async def body(ce):
        with pytest.raises(TransportError) as info:
            await ce.status([job])
        assert info.value.transient
        return await ce.status([job])  # recovers on the next call

    assert _run(fake, body) == {job: JobStatus.RUNNING}


def test_rejected_token_is_a_credential_error(fake) -> None:
    fake.fail["POST jobs?status"] = (500, "User can't be assigned configuration")

    async def body(ce):
        with pytest.raises(CredentialError):
            await ce.status(["abc"])

    _run(fake, body)


def test_hold_policy_report_leaves_held_jobs_alone(fake) -> None:
    held = fake.add_job("HELD")
    _run(fake, lambda ce: ce.status([held]), hold_policy=HoldPolicy.REPORT, hold_grace_s=0)
    assert fake.count("POST jobs?kill") == 0


def test_hold_policy_kill_kills_jobs_held_past_the_grace_time(fake) -> None:
    held, running = fake.add_job("HELD"), fake.add_job("RUNNING")

    async def body(ce):
        first = await ce.status([held, running])
        assert fake.count("POST jobs?kill") == 0  # just seen held: within the grace time
        ce._held_since[held] -= 10  # ... ten seconds later
        second = await ce.status([held, running])
        return first, second

    first, second = _run(fake, body, hold_policy=HoldPolicy.KILL, hold_grace_s=5)
    assert first[held] is JobStatus.HELD and second[held] is JobStatus.HELD
    kills = [r for r in fake.requests if r.query.get("action") == "kill"]
    assert len(kills) == 1 and held.encode() in kills[0].body and running.encode() not in kills[0].body


def test_kill_and_purge_outcomes_per_id(fake) -> None:
    job = fake.add_job("RUNNING")

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
    fake.fail["POST jobs?new"] = (500, "No more jobs allowed")
    fake.fail_after["POST jobs?new"] = 1
    sub = _run(fake, lambda ce: ce.submit(SubmissionSpec(executable="/bin/true"), count=5))
    assert sorted(sub.ids) == [0, 1] and sorted(sub.failures) == [2, 3, 4]
    assert all("No more jobs allowed" in r for r in sub.failures.values())


def test_lost_creation_reply_says_the_copies_may_exist(fake, monkeypatch) -> None:
    monkeypatch.setattr(backend_module, "SUBMIT_BATCH", 2)
    fake.fail_after["POST jobs?new"] = 1
    fake.drop["POST jobs?new"] = 1  # the second request's connection dies before its reply

    sub = _run(fake, lambda ce: ce.submit(SubmissionSpec(executable="/bin/true"), count=5))
    assert sorted(sub.ids) == [0, 1] and sorted(sub.failures) == [2, 3, 4]
    assert all("may have created this copy" in sub.failures[k] for k in (2, 3))
    assert sub.failures[4].startswith("not submitted: an earlier creation request failed")
    assert fake.count("POST jobs?new") == 2  # never re-sent


def _with_input(tmp_path: Path) -> SubmissionSpec:
    (tmp_path / "in.txt").write_text("data")
    return SubmissionSpec(executable="/bin/true", input_sandbox=(FileRef(name="in.txt", source=tmp_path / "in.txt"),))


def test_uploads_are_retried_through_a_ce_outage(fake, tmp_path: Path) -> None:
    fake.drop["PUT session"] = 6  # every attempt of the first round (and the client's own re-send) fails

    sub = _run(fake, lambda ce: ce.submit(_with_input(tmp_path), count=2), upload_retry_s=30)
    assert sorted(sub.ids) == [0, 1] and not sub.failures
    assert all(fake.jobs[j].files["in.txt"] == b"data" for j in sub.ids.values())
    assert fake.count("POST jobs?new") == 1  # retries never create jobs again


def test_copies_that_cannot_be_uploaded_or_cancelled_are_named(fake, tmp_path: Path) -> None:
    fake.fail["PUT session"] = (503, "Service Unavailable")
    fake.fail["POST jobs?kill"] = (503, "Service Unavailable")

    sub = _run(fake, lambda ce: ce.submit(_with_input(tmp_path), count=2), upload_retry_s=0.5)
    assert not sub.ids and sorted(sub.failures) == [0, 1]
    created = set(fake.jobs)
    for why in sub.failures.values():
        named = [j for j in created if j in why]
        assert len(named) == 1 and "could not be cancelled" in why, why


def test_copies_whose_uploads_fail_are_cancelled(fake, tmp_path: Path) -> None:
    fake.fail["PUT session"] = (400, "Bad file name")

    sub = _run(fake, lambda ce: ce.submit(_with_input(tmp_path), count=2))
    assert not sub.ids and all("Bad file name" in why and "cancelled" not in why for why in sub.failures.values())
    assert fake.count("POST jobs?kill") == 1 and fake.count("PUT session") == 2  # permanent errors: no retry


def test_first_creation_failure_raises(fake) -> None:
    fake.fail["POST jobs?new"] = (500, "No more jobs allowed")

    async def body(ce):
        with pytest.raises(Exception, match="No more jobs allowed"):
            await ce.submit(SubmissionSpec(executable="/bin/true"), count=3)

    _run(fake, body)


def test_bulk_submission_is_one_request_per_batch(fake) -> None:
    sub = _run(fake, lambda ce: ce.submit(SubmissionSpec(executable="/bin/true"), count=150))
    assert sorted(sub.ids) == list(range(150)) and len(set(sub.ids.values())) == 150
    assert fake.count("POST jobs?new") == 2  # 100 + 50 copies


def test_diagnostics_missing_item_is_not_yet(fake) -> None:
    job = fake.add_job("RUNNING")
    out = _run(fake, lambda ce: ce.diagnostics([job, "nosuchjob001"]))
    assert out[job].found and out[job].files == {"errors": f"log of {job}\n"}
    assert not out["nosuchjob001"].found
