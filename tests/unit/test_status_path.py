"""The lean status path: request body encoding, per-id states, state mapping (fake A-REX on loopback)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arc_intercede import ARCBackend
from arc_intercede._rest.models import _all_possible, possible_job_id
from arc_intercede._rest.operations import _bulk_body
from arc_intercede.contract import JobStatus
from arc_intercede.errors import CEResponseError
from arc_intercede.states import to_statuses as _statuses
from tests.fake_arex import PKI, FakeAREX
from tests.unit.test_facade import make_pool

IDS = [["a"], ["a", "b"], ['x", "y', 'q\\"', "z"], ["é", "\u2603"], [str(i) for i in range(50)]]


@pytest.mark.parametrize("ids", IDS)
def test_bulk_body_is_the_json_of_the_ids(ids: list[str]) -> None:
    assert json.loads(_bulk_body(ids)) == {"job": [{"id": i} for i in ids]}


def test_statuses_map_known_unknown_and_odd_states() -> None:
    assert _statuses(["RUNNING", "FINISHED", None, "Queuing", "arcrest:FAILED", "NoSuchState"]) == [
        JobStatus.RUNNING, JobStatus.DONE, JobStatus.UNKNOWN, JobStatus.WAITING, JobStatus.FAILED,
        JobStatus.UNKNOWN,
    ]
    # a broken CE's non-string state is UNKNOWN for that id only, not an exception for the batch
    assert _statuses(["RUNNING", ["x"], 5]) == [JobStatus.RUNNING, JobStatus.UNKNOWN, JobStatus.UNKNOWN]  # type: ignore[list-item]


def test_job_states_in_order_with_unknown_ids(ce: FakeAREX, pki: PKI) -> None:
    known = [ce.add_job("RUNNING"), ce.add_job("FINISHED")]
    ids = [known[0], "nosuchjob", known[1]]

    async def main() -> list[str | None]:
        facade = make_pool(ce, pki)
        await facade.open()
        try:
            return await facade.call(lambda c: c.job_states(ids), "status")
        finally:
            await facade.close()

    assert asyncio.run(main()) == ["RUNNING", None, "FINISHED"]


def _backend(ce: FakeAREX, pki: PKI, **extra: object) -> ARCBackend:
    return ARCBackend({"endpoint": f"https://localhost:{ce.port}/arex", "ca_file": str(pki.ca_file),
                       "token": "t", "chunk_size": 2, **extra})


def test_status_of_a_short_reply_is_an_error(ce: FakeAREX, pki: PKI) -> None:
    ids = [ce.add_job("RUNNING"), ce.add_job("FAILED"), "made-up"]
    ce.short_reply = True

    async def main() -> object:
        async with _backend(ce, pki) as backend:
            return await backend.status(ids)

    with pytest.raises(CEResponseError, match=r"CE answered \d of \d ids"):
        asyncio.run(main())


def test_status_of_a_reordered_reply_is_matched_by_id(ce: FakeAREX, pki: PKI) -> None:
    ids = [ce.add_job("RUNNING"), ce.add_job("FAILED"), "made-up"]
    ce.reverse_reply = True

    async def main() -> object:
        async with _backend(ce, pki) as backend:
            return await backend.status(ids)

    assert asyncio.run(main()) == {ids[0]: JobStatus.RUNNING, ids[1]: JobStatus.FAILED, ids[2]: JobStatus.UNKNOWN}


def test_held_jobs_are_tracked_and_forgotten(ce: FakeAREX, pki: PKI) -> None:
    held, other = ce.add_job("HELD"), ce.add_job("RUNNING")

    async def main() -> tuple[set[str], set[str], set[str]]:
        async with _backend(ce, pki) as backend:
            await backend.status([held, other])
            first = set(backend._held_since)
            await backend.status([other])  # not asked about: stays tracked
            second = set(backend._held_since)
            ce.jobs[held].state = "RUNNING"
            await backend.status([held, other])
            return first, second, set(backend._held_since)

    assert asyncio.run(main()) == ({held}, {held}, set())


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=70), st.sampled_from(["", ".", "..", "a/b", "ok", "x" * 63, "é" * 64]))))
def test_whole_chunk_id_check_never_passes_an_impossible_id(jobs: list[str]) -> None:
    if _all_possible(jobs):
        assert all(possible_job_id(j) for j in jobs)
    if jobs and all(possible_job_id(j) and len(j) <= 63 for j in jobs):
        assert _all_possible(jobs)  # plain chunks take the fast path


def _states_reference(entries: list[dict[str, object]]) -> list[object]:
    """The per-id meaning of job_states: the entry's state where its code is 200, None elsewhere."""
    def code_ok(c: object) -> bool:
        try:
            return int(c) == 200  # type: ignore[call-overload]
        except (TypeError, ValueError):
            return False
    return [e.get("state") if code_ok(e.get("status-code")) else None for e in entries]


_CODES = st.sampled_from(["200", "404", "505", 200, "0200", None, "x", ["200"], {"c": 1}])
_STATES = st.sampled_from(["RUNNING", "FINISHED", "None", None, ["x"], 5])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({"status-code": _CODES}, optional={"state": _STATES}), max_size=30))
def test_job_states_equals_the_per_id_reading(entries: list[dict[str, object]]) -> None:
    from types import SimpleNamespace

    from arc_intercede._rest.versions import Rest11

    ids = [f"j{i}" for i in range(len(entries))]
    for job, entry in zip(ids, entries, strict=True):
        entry["id"] = job
    fake = SimpleNamespace(_manageJobs=lambda jobs, action: entries)
    assert Rest11.job_states(fake, ids) == _states_reference(entries)  # type: ignore[arg-type]
