"""Matchmaking against a CE's GLUE2 ``/info`` document, as ARC's broker (``Broker::genericMatch``) does.

Checks, per share (a ``ComputingShare`` without ``MappingPolicy``): requested queue, rejected queues,
wall time within ``MinWallTime``..``MaxWallTime``, CPU time within ``MaxCPUTime`` (times slots for
``MaxTotalCPUTime``), memory within the execution environment's ``MainMemorySize`` or the share's
``MaxMainMemory``, slots within ``MaxSlotsPerJob``/``TotalSlots``, and runtime environments among the
published ``AppName-AppVersion`` (exact, case-sensitive; ``<``/``>`` compare numeric version parts;
the highest satisfying version is chosen). ``|`` alternatives are tried in order. An attribute a CE
does not publish does not reject it (as ARC for times). The job is returned with the queue set and
every runtime environment resolved to an exact ``=`` name, ready to send.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from arc_intercede.descriptions.model import JobDescription, RuntimeEnvironment

__all__ = ["MatchError", "Target", "match", "resolve_rte", "targets_from_info"]


class MatchError(ValueError):
    """No share of the CE satisfies the job; the message names the unmet requirement."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What one CE share offers (``None``: not published)."""

    queue: str
    max_wall_s: int | None = None
    min_wall_s: int | None = None
    max_cpu_s: int | None = None
    max_total_cpu_s: int | None = None
    memory_mb: int | None = None
    max_slots: int | None = None
    rtes: tuple[str, ...] = ()


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            yield item


def _num(entry: Mapping[str, Any], key: str) -> int | None:
    try:
        return int(str(entry[key]).strip())
    except (KeyError, ValueError):
        return None


def targets_from_info(info: Mapping[str, Any]) -> list[Target]:
    """The shares of a GLUE2 info document (A-REX's ``/info`` as JSON) as :class:`Target` objects."""
    out: list[Target] = []
    for domains in _items(info.get("Domains", info)):
        for admin in _items(domains.get("AdminDomain")):
            for services in _items(admin.get("Services")):
                for service in _items(services.get("ComputingService")):
                    rtes: list[str] = []
                    memory: int | None = None
                    for manager in _items(service.get("ComputingManager")):
                        for envs in _items(manager.get("ApplicationEnvironments")):
                            for env in _items(envs.get("ApplicationEnvironment")):
                                name, version = str(env.get("AppName", "")), str(env.get("AppVersion", "") or "")
                                if name:
                                    rtes.append(f"{name}-{version}" if version else name)
                        for ee in _items(manager.get("ExecutionEnvironments", {}).get("ExecutionEnvironment")
                                         if isinstance(manager.get("ExecutionEnvironments"), Mapping) else None):
                            memory = _num(ee, "MainMemorySize") or memory
                    for share in _items(service.get("ComputingShare")):
                        if "MappingPolicy" in share or "Name" not in share:
                            continue
                        out.append(Target(
                            queue=str(share.get("MappingQueue") or share["Name"]),
                            max_wall_s=_num(share, "MaxWallTime"), min_wall_s=_num(share, "MinWallTime"),
                            max_cpu_s=_num(share, "MaxCPUTime"), max_total_cpu_s=_num(share, "MaxTotalCPUTime"),
                            memory_mb=memory if memory is not None else _num(share, "MaxMainMemory"),
                            max_slots=_num(share, "MaxSlotsPerJob"), rtes=tuple(rtes),
                        ))
    return out


def _version_key(version: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in version.replace("-", ".").split("."))
    except ValueError:
        return None


def resolve_rte(req: RuntimeEnvironment, published: tuple[str, ...]) -> str | None:
    """The published RTE chosen for a requirement (highest satisfying version), or None."""
    name, version = req.split
    if req.op == "=":
        return req.name if req.name in published else None
    candidates = []
    for pub in published:
        pub_name, pub_version = RuntimeEnvironment(name=pub).split
        if pub_name != name:
            continue
        if req.op == "!=":
            if pub != req.name:
                candidates.append(pub)
            continue
        want, have = _version_key(version), _version_key(pub_version)
        if want is None or have is None:
            continue
        ok = {"<": have < want, "<=": have <= want, ">": have > want, ">=": have >= want}[req.op]
        if ok:
            candidates.append(pub)
    if not candidates:
        return None
    return max(candidates, key=lambda p: _version_key(RuntimeEnvironment(name=p).split[1]) or ())


def _check(job: JobDescription, t: Target) -> str | None:
    if job.queue is not None and job.queue != t.queue:
        return f"queue {job.queue!r} (share {t.queue!r})"
    if t.queue in job.rejected_queues:
        return f"queue != {t.queue!r}"
    if job.wall_time_s is not None:
        if t.max_wall_s is not None and job.wall_time_s > t.max_wall_s:
            return f"walltime {job.wall_time_s} s > MaxWallTime {t.max_wall_s} s of queue {t.queue!r}"
        if t.min_wall_s is not None and job.wall_time_s < t.min_wall_s:
            return f"walltime {job.wall_time_s} s < MinWallTime {t.min_wall_s} s of queue {t.queue!r}"
    if job.cpu_time_s is not None:
        limit = t.max_cpu_s * (job.count or 1) if t.max_cpu_s is not None else t.max_total_cpu_s
        if limit is not None and job.cpu_time_s > limit:
            return f"cputime {job.cpu_time_s} s > {limit} s allowed in queue {t.queue!r}"
    if job.memory_mb is not None and t.memory_mb is not None and job.memory_mb > t.memory_mb:
        return f"memory {job.memory_mb} MB > {t.memory_mb} MB of queue {t.queue!r}"
    if job.count is not None and t.max_slots is not None and job.count > t.max_slots:
        return f"count {job.count} > MaxSlotsPerJob {t.max_slots} of queue {t.queue!r}"
    for r in job.runtime_environments:
        if resolve_rte(r, t.rtes) is None:
            return f"runtimeenvironment {r.op} {r.name!r} not published by the CE"
    return None


def match(job: JobDescription, targets: list[Target]) -> JobDescription:
    """The first variant of ``job`` (then its ``|`` alternatives) that a share accepts, resolved for it.

    Raises:
        MatchError: Nothing matches; the message names the unmet requirement of each variant.
    """
    if not targets:
        raise MatchError("the CE publishes no queue")
    reasons: list[str] = []
    for variant in (job, *job.alternatives):
        for t in targets:
            why = _check(variant, t)
            if why is None:
                rtes = tuple(RuntimeEnvironment(name=resolve_rte(r, t.rtes) or r.name, options=r.options)
                             for r in variant.runtime_environments)
                return dataclasses.replace(variant, queue=t.queue, runtime_environments=rtes, alternatives=(),
                                           rejected_queues=())
            reasons.append(why)
    unique = list(dict.fromkeys(reasons))
    raise MatchError("no queue of the CE matches: " + "; ".join(unique))
