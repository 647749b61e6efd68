"""Benchmark: event-loop responsiveness while 10 large operations run.

Usage (stack up, proxy config)::

    python -m tests.benchmarks.bench_loop_lag --client-config /var/lib/arc-intercede/state/proxy/client.yaml

A ticker coroutine asks to wake every 10 ms and records how late it wakes (loop lag) while ten bulk
status calls of 5 000 ids each run, and then while ten fetches of a 100 MB output run:

* ``ours``: the ``ARCBackend`` calls, awaited concurrently (blocking work runs in the facade's threads);
* ``blocking``: the same requests made with raw pyarcrest directly in a coroutine, the way a naive
  async wrapper would, which blocks the loop.

Prints p50/p99/max lag. A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from arc_intercede import ARCBackend, ARCConfig, JobStatus, OutputSpec, SubmissionSpec
from tests.benchmarks.raw import raw_pyarcrest

TICK = 0.010


async def _lag_during(work: Callable[[], Awaitable[object]]) -> list[float]:
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            t0 = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - t0 - TICK)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await work()
    done.set()
    await task
    return lags


def _stats(lags: list[float]) -> str:
    ms = sorted(x * 1000 for x in lags) or [0.0]
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"{statistics.median(ms):7.1f} {p99:8.1f} {ms[-1]:8.1f}"


async def main_async(cfg: ARCConfig) -> list[tuple[str, str, str]]:
    rows = []
    ids = [uuid.uuid4().hex[:12] for _ in range(5_000)]
    spec = SubmissionSpec(executable="/bin/sh", arguments=("-c", "head -c 100000000 /dev/zero > blob.bin"),
                          output_sandbox=OutputSpec(stdout=None, stderr=None, files=("blob.bin",)))
    async with ARCBackend(cfg) as ce:
        (job_id,) = (await ce.submit(spec)).ids.values()
        for _ in range(150):  # poll the CE until the output exists (at most 5 minutes)
            if (await ce.status([job_id]))[job_id] is JobStatus.DONE:
                break
            await asyncio.sleep(2)
        else:
            raise SystemExit(f"benchmark job {job_id} did not finish")

        async def ours_status() -> None:
            await asyncio.gather(*(ce.status(ids) for _ in range(10)))

        async def blocking_status() -> None:
            raw = raw_pyarcrest(cfg)

            async def one() -> None:
                raw.getJobsStatus(ids)

            await asyncio.gather(*(one() for _ in range(10)))
            raw.close()

        rows.append(("10 x status(5000 ids)", "ours", _stats(await _lag_during(ours_status))))
        rows.append(("10 x status(5000 ids)", "blocking", _stats(await _lag_during(blocking_status))))

        with tempfile.TemporaryDirectory() as tmp:
            async def ours_fetch() -> None:
                await asyncio.gather(*(ce.fetch_output([job_id], Path(tmp) / f"o{i}") for i in range(10)))

            async def blocking_fetch() -> None:
                raw = raw_pyarcrest(cfg)

                async def one(i: int) -> None:
                    raw.downloadFile(job_id, "blob.bin", str(Path(tmp) / f"b{i}" / "blob.bin"))

                await asyncio.gather(*(one(i) for i in range(10)))
                raw.close()

            rows.append(("10 x fetch(100 MB)", "ours", _stats(await _lag_during(ours_fetch))))
            rows.append(("10 x fetch(100 MB)", "blocking", _stats(await _lag_during(blocking_fetch))))
        await ce.purge([job_id])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-config", type=Path, required=True)
    args = parser.parse_args(argv)
    cfg = ARCConfig.from_file(args.client_config)
    if cfg.proxy is None or cfg.token_file is not None:
        raise SystemExit("run this benchmark with the proxy configuration's client.yaml")
    rows = asyncio.run(main_async(cfg))
    print(f"event-loop lag (ms) for a {TICK * 1000:.0f} ms ticker while the operations run")
    print(f"{'operations':<24} {'variant':<9} {'p50':>7} {'p99':>8} {'max':>8}")
    for ops, variant, stats in rows:
        print(f"{ops:<24} {variant:<9} {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
