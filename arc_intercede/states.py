"""ARC REST job states -> :class:`~arc_intercede.contract.JobStatus`.

Source of the states: https://www.nordugrid.org/arc/arc7/tech/rest/rest.html and A-REX's
``convertActivityStatusREST`` (rest.cpp). The table ports DIRAC's ``STATES_MAP`` with its
known defects fixed: HELD is its own status (DIRAC compared against "Hold" and never matched),
an unknown or missing state is ``UNKNOWN`` (DIRAC raised ``KeyError`` for the whole batch), and
WIPED is ``UNKNOWN`` because the job and its files are gone.

=============================================================  ============
ARC REST state                                                 JobStatus
=============================================================  ============
ACCEPTING, ACCEPTED, PREPARING, PREPARED, SUBMITTING, QUEUING  WAITING
RUNNING, EXITINGLRMS, OTHER, EXECUTED, FINISHING               RUNNING
HELD                                                           HELD
FINISHED                                                       DONE
FAILED                                                         FAILED
KILLING, KILLED                                                ABORTED
WIPED, None, anything else, an id the CE does not know         UNKNOWN
=============================================================  ============

KILLING is reported as ABORTED already: the kill was accepted and the job will not run on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from arc_intercede.contract import JobStatus

__all__ = ["ARC_STATES", "to_status", "to_statuses"]

_log = logging.getLogger(__name__)

ARC_STATES: Final[Mapping[str, JobStatus]] = MappingProxyType({
    "ACCEPTING": JobStatus.WAITING,
    "ACCEPTED": JobStatus.WAITING,
    "PREPARING": JobStatus.WAITING,
    "PREPARED": JobStatus.WAITING,
    "SUBMITTING": JobStatus.WAITING,
    "QUEUING": JobStatus.WAITING,
    "RUNNING": JobStatus.RUNNING,
    "EXITINGLRMS": JobStatus.RUNNING,
    "OTHER": JobStatus.RUNNING,
    "EXECUTED": JobStatus.RUNNING,
    "FINISHING": JobStatus.RUNNING,
    "HELD": JobStatus.HELD,
    "FINISHED": JobStatus.DONE,
    "FAILED": JobStatus.FAILED,
    "KILLING": JobStatus.ABORTED,
    "KILLED": JobStatus.ABORTED,
    "WIPED": JobStatus.UNKNOWN,
    "NONE": JobStatus.UNKNOWN,
})

_warned: set[str] = set()
_warned_lock = threading.Lock()


def to_status(raw: str | None) -> JobStatus:
    """Map an ARC REST state (with or without the ``arcrest:`` prefix) to a :class:`JobStatus`.

    An unrecognised value is ``UNKNOWN`` and logged once per distinct value.
    """
    key = (raw or "").strip().removeprefix("arcrest:").upper()
    status = ARC_STATES.get(key)
    if status is None:
        with _warned_lock:
            first = key not in _warned
            _warned.add(key)
        if first:
            _log.warning("unmapped ARC job state %r reported as UNKNOWN", raw)
        return JobStatus.UNKNOWN
    return status


class _StatusOf(dict[str | None, JobStatus]):
    """REST state -> JobStatus, memoised (a poll maps each id's state with one dict lookup)."""

    def __missing__(self, state: str | None) -> JobStatus:
        status = to_status(state if isinstance(state, str) else str(state))
        if len(self) < 1024:  # A-REX has a dozen states; never grow without bound on a hostile CE
            self[state] = status
        return status


_STATUS_OF: Final = _StatusOf({None: JobStatus.UNKNOWN})


def to_statuses(states: list[str | None]) -> list[JobStatus]:
    """Map REST states (None: not found) to statuses, one dict lookup each (called in a worker thread)."""
    try:
        return list(map(_STATUS_OF.__getitem__, states))
    except TypeError:  # a state that is not a string (unhashable, from a broken CE): the long way
        return [to_status(str(s)) if s is not None else JobStatus.UNKNOWN for s in states]
