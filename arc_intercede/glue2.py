"""Read job counts from A-REX's GLUE2 ``/info`` document (JSON rendered from XML).

Nothing in that document is normalised: any level may be an object or a list, and numbers are
strings (as DIRAC #8354 also found). Counts cover every submitter of the share (not only
this client's jobs) and lag one infoprovider cycle.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from arc_intercede.contract import JobCounts

__all__ = ["counts_from_info", "queues_from_info"]

_WAITING_KEYS = ("WaitingJobs", "StagingJobs", "PreLRMSWaitingJobs")


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            yield item


def _services(info: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for domains in _items(info.get("Domains", info)):
        for admin in _items(domains.get("AdminDomain")):
            for services in _items(admin.get("Services")):
                yield from _items(services.get("ComputingService"))


def _num(entry: Mapping[str, Any], key: str) -> int:
    try:
        return max(0, int(str(entry.get(key, "0")).strip() or 0))
    except ValueError:
        return 0


def _counts(entry: Mapping[str, Any]) -> JobCounts:
    return JobCounts(running=_num(entry, "RunningJobs"), waiting=sum(_num(entry, k) for k in _WAITING_KEYS))


def queues_from_info(info: Mapping[str, Any]) -> list[str]:
    """Return the queue names the CE advertises (shares without a VO mapping policy)."""
    names: list[str] = []
    for service in _services(info):
        for share in _items(service.get("ComputingShare")):
            if "MappingPolicy" not in share and "Name" in share:
                names.append(str(share["Name"]))
    return names


def counts_from_info(info: Mapping[str, Any], queue: str | None) -> JobCounts | None:
    """Return running/waiting counts of ``queue`` (or of the whole CE when ``queue`` is None).

    ``waiting`` is ``WaitingJobs + StagingJobs + PreLRMSWaitingJobs`` (DIRAC PR #8208), so jobs
    still staging or waiting for A-REX's own limits count as waiting. Returns None when the
    queue is not advertised.
    """
    for service in _services(info):
        if queue is None:
            return _counts(service)
        for share in _items(service.get("ComputingShare")):
            if "MappingPolicy" not in share and str(share.get("Name")) == queue:
                return _counts(share)
    return None
