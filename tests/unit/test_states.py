"""arc_intercede.states: the ARC REST state table (states.py docstring) and the UNKNOWN fallback."""

from __future__ import annotations

import logging
import threading

import pytest

from arc_intercede import states
from arc_intercede.contract import JobStatus
from arc_intercede.states import ARC_STATES, to_status

# The table in states.py's docstring, written out independently.
EXPECTED = {
    **dict.fromkeys(["ACCEPTING", "ACCEPTED", "PREPARING", "PREPARED", "SUBMITTING", "QUEUING"], JobStatus.WAITING),
    **dict.fromkeys(["RUNNING", "EXITINGLRMS", "OTHER", "EXECUTED", "FINISHING"], JobStatus.RUNNING),
    "HELD": JobStatus.HELD,
    "FINISHED": JobStatus.DONE,
    "FAILED": JobStatus.FAILED,
    "KILLING": JobStatus.ABORTED,
    "KILLED": JobStatus.ABORTED,
    "WIPED": JobStatus.UNKNOWN,
    "None": JobStatus.UNKNOWN,
}


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(states, "_warned", set())


@pytest.mark.parametrize(("raw", "expected"), EXPECTED.items())
def test_every_arc_state_maps(raw: str, expected: JobStatus, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="arc_intercede.states")
    assert to_status(raw) is expected
    assert to_status(f"arcrest:{raw}") is expected
    assert to_status(raw.lower()) is expected
    assert to_status(f"  arcrest:{raw} ") is expected
    assert caplog.records == []  # known states are never warned about


def test_table_covers_exactly_the_rest_states() -> None:
    assert set(ARC_STATES) == {k.upper() for k in EXPECTED}
    with pytest.raises(TypeError):
        ARC_STATES["NEW"] = JobStatus.WAITING  # type: ignore[index]


def test_only_finished_failed_killed_are_terminal() -> None:
    terminal = {raw for raw in EXPECTED if to_status(raw).is_terminal}
    assert terminal == {"FINISHED", "FAILED", "KILLING", "KILLED"}


def test_other_prefixes_are_not_stripped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="arc_intercede.states")
    assert to_status("emies:terminal") is JobStatus.UNKNOWN
    assert to_status("nordugrid:FINISHED") is JobStatus.UNKNOWN
    assert len(caplog.records) == 2


def test_unknown_values_warn_once_per_distinct_value(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="arc_intercede.states")
    for raw in [None, "", "BOGUS", None, "BOGUS", "arcrest:BOGUS", "Mystery", "mystery", "BOGUS"]:
        assert to_status(raw) is JobStatus.UNKNOWN
    records = [r for r in caplog.records if r.name == "arc_intercede.states"]
    assert all(r.levelno == logging.WARNING for r in records)
    messages = [r.getMessage() for r in records]
    # Distinct after normalisation: "" (None and ""), "BOGUS" (also with prefix), "MYSTERY" (any case).
    assert len(messages) == 3
    assert "None" in messages[0] and "'BOGUS'" in messages[1] and "'Mystery'" in messages[2]


def test_unknown_warning_is_thread_safe() -> None:
    seen: list[JobStatus] = []

    def work() -> None:
        seen.extend(to_status(f"X{i % 7}") for i in range(200))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen) == {JobStatus.UNKNOWN} and len(seen) == 800
    assert states._warned == {f"X{i}" for i in range(7)}
