"""The lean status path: request body encoding, per-id states, state mapping (fake A-REX on loopback)."""

from __future__ import annotations

import asyncio
import json

import pytest

from arc_intercede.backend import _statuses
from arc_intercede.client import _bulk_body
from arc_intercede.contract import JobStatus
from tests.fake_arex import PKI, FakeAREX
from tests.unit.test_facade import make_facade

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
        facade = make_facade(ce, pki)
        await facade.open()
        try:
            return await facade.call(lambda c: c.job_states(ids), "status")
        finally:
            await facade.close()

    assert asyncio.run(main()) == ["RUNNING", None, "FINISHED"]
