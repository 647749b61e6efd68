"""Benchmark: the local job list's cost for ``status``-style lookups, former JSON-lines file vs SQLite.

Usage (no CE, no stack)::

    python -m tests.benchmarks.bench_jobstore [--jobs 100000] [--endpoints 10] [--repeat 5] [--dir DIR]

Both lists remember the same ``--jobs`` jobs spread over ``--endpoints`` CEs; the SQLite list also keeps a
prepared ADL description (~0.6 KB) per job, which the former format could not hold. Every operation starts
from a new store object, as each command-line run does (so SQLite's open and schema check are counted):

* ``endpoint``: all jobs of one endpoint (``status`` without ids on one CE);
* ``1000 ids``: the records of 1 000 given ids (``status ID...`` naming each job's CE);
* ``all``: every record (``status`` across every configured CE);
* ``add 100``: one call recording 100 new jobs (``submit --count 100``);
* ``forget 100``: one call forgetting 100 jobs (``purge``);
* the same lookups after ``history``: 100 000 more jobs were added and forgotten before (the former file
  keeps every line; SQLite deletes the rows and its file shrinks).

Prints median wall-clock and CPU seconds per operation side by side (CPU time is the steadier figure on a
shared machine; wall time adds the fsyncs and the wait for a core), the file sizes, and the one-off
migration time of the former file. This is the local list cost only: the CE's own time for the same
``status`` is in ``bench_status``. A report, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from arc_intercede.cli.jobstore import JobRecord, JobStore
from arc_intercede.cli.jobstore_jsonl import JsonlJobStore

_ADL = ('<?xml version="1.0" encoding="UTF-8"?><ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl" '
        'xmlns:nordugrid-adl="http://www.nordugrid.org/es/2011/12/nordugrid-adl"><ActivityIdentification>'
        '<Name>{name}</Name></ActivityIdentification><Application><Executable><Path>/bin/sh</Path>'
        '<Argument>run.sh</Argument><Argument>{n}</Argument></Executable><Output>out.txt</Output>'
        '<Error>err.txt</Error></Application><Resources><QueueName>batch</QueueName>'
        '<IndividualCPUTime>3600</IndividualCPUTime><SlotRequirement><NumberOfSlots>1</NumberOfSlots>'
        '</SlotRequirement></Resources><DataStaging><InputFile><Name>run.sh</Name></InputFile><OutputFile>'
        '<Name>out.txt</Name></OutputFile></DataStaging></ActivityDescription>')


def _endpoint(i: int) -> str:
    return f"https://ce{i:02d}.example.org:443/arex"


def _make(n: int, endpoints: int, prefix: str, rng: random.Random) -> list[JobRecord]:
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    out = []
    for k in range(n):
        job_id = prefix + "".join(rng.choice(letters) for _ in range(24))
        e = k % endpoints
        name = f"analysis-{k // 100}"
        out.append(JobRecord(job_id=job_id, ce=f"ce{e:02d}", endpoint=_endpoint(e),
                             submitted="2026-11-30T12:00:00+00:00", tag=name,
                             description=_ADL.format(name=name, n=k), description_format="adl"))
    return out


def _jsonl_lines(records: list[JobRecord]) -> str:
    return "".join(json.dumps({"job_id": r.job_id, "ce": r.ce, "endpoint": r.endpoint, "submitted": r.submitted,
                               "tag": r.tag}, separators=(",", ":")) + "\n" for r in records)


Timing = tuple[float, float]
"""Median wall-clock and CPU seconds of one call."""


def _timed(fn: Callable[[], object]) -> Timing:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def _median(samples: list[Timing]) -> Timing:
    return statistics.median(w for w, _ in samples), statistics.median(c for _, c in samples)


def _repeat(fn: Callable[[], object], repeat: int) -> Timing:
    return _median([_timed(fn) for _ in range(repeat)])


def _db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def _with_store(path: Path, fn: Callable[[JobStore], object]) -> object:
    with JobStore(path) as store:
        return fn(store)


class _Bench:
    def __init__(self, jsonl: Path, db: Path, live: list[JobRecord], repeat: int, rng: random.Random) -> None:
        self.jsonl, self.db, self.live, self.repeat, self.rng = jsonl, db, live, repeat, rng
        self.endpoint = _endpoint(3)
        self.want = [r.job_id for r in rng.sample(live, 1000)]
        self.batch = 0

    def old_endpoint(self) -> int:
        return len(JsonlJobStore(self.jsonl).jobs(endpoint=self.endpoint))

    def new_endpoint(self) -> int:
        with JobStore(self.db) as store:
            return len(store.jobs(endpoint=self.endpoint))

    def old_ids(self) -> int:
        want = set(self.want)
        return len({r.job_id: r for r in JsonlJobStore(self.jsonl).records() if r.job_id in want})

    def new_ids(self) -> int:
        with JobStore(self.db) as store:
            return len(store.lookup(self.want))

    def old_all(self) -> int:
        return len(JsonlJobStore(self.jsonl).records())

    def new_all(self) -> int:
        with JobStore(self.db) as store:
            return len(store.records())

    def _new_batch(self) -> list[JobRecord]:
        self.batch += 1
        return _make(100, 10, f"b{self.batch}-", self.rng)

    def add_forget(self) -> tuple[Timing, Timing, Timing, Timing]:
        samples: tuple[list[Timing], ...] = ([], [], [], [])
        for _ in range(self.repeat):
            batch = self._new_batch()
            ids = [r.job_id for r in batch]
            samples[0].append(_timed(lambda: JsonlJobStore(self.jsonl).add(batch)))  # noqa: B023 - called at once
            samples[1].append(_timed(lambda: JsonlJobStore(self.jsonl).forget(ids)))  # noqa: B023
            samples[2].append(_timed(lambda: _with_store(self.db, lambda s: s.add(batch))))  # noqa: B023
            samples[3].append(_timed(lambda: _with_store(self.db, lambda s: s.forget(ids))))  # noqa: B023
        return _median(samples[0]), _median(samples[1]), _median(samples[2]), _median(samples[3])

    def check(self) -> None:
        assert self.old_endpoint() == self.new_endpoint() == len([r for r in self.live if r.endpoint == self.endpoint])
        assert self.old_ids() == self.new_ids() == 1000
        assert self.old_all() == self.new_all() == len(self.live)


def main() -> None:
    """Build both lists, time the operations, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=100_000)
    ap.add_argument("--endpoints", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    args = ap.parse_args()
    rng = random.Random(16)
    work = Path(tempfile.mkdtemp(prefix="bench-jobstore.", dir=args.dir))
    try:
        live = _make(args.jobs, args.endpoints, "", rng)
        jsonl, db = work / "old" / "jobs.jsonl", work / "new" / "jobs.db"
        jsonl.parent.mkdir()
        jsonl.write_text(_jsonl_lines(live))
        t0 = time.perf_counter()
        with JobStore(db) as store:
            store.add(live)
        build_s = time.perf_counter() - t0
        migrate = work / "migrate" / "jobs.jsonl"
        migrate.parent.mkdir()
        shutil.copyfile(jsonl, migrate)
        t0 = time.perf_counter()
        with JobStore(migrate) as store:
            migrated = store.count()
        migrate_s = time.perf_counter() - t0
        assert migrated == len(live)

        bench = _Bench(jsonl, db, live, args.repeat, rng)
        bench.check()
        rows: list[tuple[str, Timing, Timing]] = []
        for label, old, new in (("endpoint", bench.old_endpoint, bench.new_endpoint),
                                ("1000 ids", bench.old_ids, bench.new_ids),
                                ("all", bench.old_all, bench.new_all)):
            rows.append((label, _repeat(old, args.repeat), _repeat(new, args.repeat)))
        old_add, old_forget, new_add, new_forget = bench.add_forget()
        rows += [("add 100", old_add, new_add), ("forget 100", old_forget, new_forget)]
        sizes = [(os.path.getsize(jsonl), _db_size(db))]

        gone = _make(args.jobs, args.endpoints, "gone-", rng)  # history: as many jobs again, added and forgotten
        with jsonl.open("a") as fh:
            fh.write(_jsonl_lines(gone))
            fh.write("".join(json.dumps({"job_id": r.job_id, "forgotten": True}) + "\n" for r in gone))
        with JobStore(db) as store:
            store.add(gone)
            store.forget(r.job_id for r in gone)
        bench.check()
        for label, old, new in (("endpoint", bench.old_endpoint, bench.new_endpoint),
                                ("1000 ids", bench.old_ids, bench.new_ids)):
            rows.append((label + ", history", _repeat(old, args.repeat), _repeat(new, args.repeat)))
        sizes.append((os.path.getsize(jsonl), _db_size(db)))

        per_ep = args.jobs // args.endpoints
        print(f"{args.jobs} remembered jobs over {args.endpoints} endpoints ({per_ep} each); median of "
              f"{args.repeat}; seconds per call, each from a new store object")
        print(f"{'operation':20}{'jsonl wall':>12}{'SQLite wall':>12}{'ratio':>8}{'jsonl CPU':>12}{'SQLite CPU':>12}"
              f"{'ratio':>8}")
        for label, (ow, oc), (nw, nc) in rows:
            print(f"{label:20}{ow:>12.4f}{nw:>12.4f}{ow / nw:>8.1f}{oc:>12.4f}{nc:>12.4f}{oc / max(nc, 1e-6):>8.1f}")
        print(f"file size              {sizes[0][0] / 2**20:>13.1f} MiB{sizes[0][1] / 2**20:>12.1f} MiB "
              "(SQLite holds a ~0.6 KB description per job)")
        print(f"after history          {sizes[1][0] / 2**20:>13.1f} MiB{sizes[1][1] / 2**20:>12.1f} MiB")
        print(f"one-off: migrating the former file {migrate_s:.2f} s; building the SQLite list in one add "
              f"{build_s:.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
