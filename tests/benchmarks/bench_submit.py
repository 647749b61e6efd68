"""Benchmark: submitting 1, 10 and 100 copies of a job with a small input file, side by side.

Usage (stack up, proxy config)::

    python -m tests.benchmarks.bench_submit --client-config /var/lib/arc-intercede/state/proxy/client.yaml

* ``ours``: ``ARCBackend.submit(spec, count=N)`` (one delegation, one multi-xRSL request per 100
  copies, uploads in parallel over ``max_connections``);
* ``per-job``: the DIRAC way: one creation request per job, then its upload, sequentially
  (our client layer on one connection);
* ``pyarcrest``: raw ``ARCRest_1_1.createJobs`` with the same multi-xRSL text, then
  ``uploadFile`` per job, sequentially, on one verified connection (pyarcrest's own
  ``uploadJobFiles`` opens unverified connections in proxy mode, so it is not used).

Times exclude job execution; every job created is killed and purged afterwards. A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from arc_intercede import ARCBackend, ARCConfig, FileRef, OutputSpec, SubmissionSpec
from arc_intercede.descriptions.spec_xrsl import render_bulk, render_xrsl
from tests.benchmarks.raw import raw_pyarcrest

COUNTS = (1, 10, 100)


def _spec(data: Path) -> SubmissionSpec:
    return SubmissionSpec(executable="/bin/cat", arguments=("in.txt",),
                          input_sandbox=(FileRef(name="in.txt", source=data),),
                          output_sandbox=OutputSpec(stdout="out.txt", stderr=None))


_WARMUP: list[str] = []


async def _ours(cfg: ARCConfig, spec: SubmissionSpec, n: int) -> tuple[float, list[str]]:
    async with ARCBackend(cfg) as ce:
        _WARMUP.extend((await ce.submit(spec)).ids.values())  # delegation and connections warm
        t0 = time.perf_counter()
        sub = await ce.submit(spec, count=n)
        return time.perf_counter() - t0, list(sub.ids.values())


async def _per_job(cfg: ARCConfig, spec: SubmissionSpec, n: int) -> tuple[float, list[str]]:
    async with ARCBackend(cfg) as ce:
        _WARMUP.extend((await ce.submit(spec)).ids.values())
        facade = ce._open_pool()
        text = render_xrsl(spec, queue=cfg.queue, delegation_id=ce.delegation_id)
        ids: list[str] = []

        def one(client) -> str:  # type: ignore[no-untyped-def]
            (reply,) = client.create_jobs(text.text, queue=cfg.queue, delegation_id=ce.delegation_id)
            client.upload(reply.job_id, "in.txt", text.uploads[0].path)
            return reply.job_id

        t0 = time.perf_counter()
        for _ in range(n):
            ids.append(await facade.call(one, "per-job submit"))
        return time.perf_counter() - t0, ids


def _pyarcrest(cfg: ARCConfig, spec: SubmissionSpec, n: int, delegation: str) -> tuple[float, list[str]]:
    rest = raw_pyarcrest(cfg)
    job = render_xrsl(spec, queue=cfg.queue, delegation_id=delegation)
    t0 = time.perf_counter()
    results = rest.createJobs(render_bulk([job.text] * n), queue=cfg.queue, delegationID=delegation, isADL=False)
    ids = [r.value[0] for r in results if not r.error]
    for job_id in ids:
        rest.uploadFile(job_id, "in.txt", str(job.uploads[0].path))
    elapsed = time.perf_counter() - t0
    rest.close()
    return elapsed, ids


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = ARCConfig.from_file(args.client_config)
    if cfg.proxy is None or cfg.token_file is not None:
        raise SystemExit("run this benchmark with the proxy configuration's client.yaml")
    created: list[str] = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "in.txt"
        data.write_text("small input\n" * 100)
        spec = _spec(data)
        delegation = asyncio.run(_delegation(cfg, spec, created))
        for n in COUNTS:
            times: dict[str, list[float]] = {"ours": [], "per-job": [], "pyarcrest": []}
            for _ in range(args.repeat):
                for name, run in (("ours", lambda n=n: asyncio.run(_ours(cfg, spec, n))),
                                  ("per-job", lambda n=n: asyncio.run(_per_job(cfg, spec, n))),
                                  ("pyarcrest", lambda n=n: _pyarcrest(cfg, spec, n, delegation))):
                    secs, ids = run()
                    if len(ids) != n:
                        raise SystemExit(f"{name}: {len(ids)} of {n} jobs created")
                    times[name].append(secs)
                    created += ids
                asyncio.run(_cleanup(cfg, created + _WARMUP))
                created.clear()
                _WARMUP.clear()
            rows.append((n, *(statistics.median(times[k]) for k in ("ours", "per-job", "pyarcrest"))))
    print(f"submission benchmark: {cfg.endpoint}, seconds (median of {args.repeat}), one 1.2 kB input per job")
    print(f"{'copies':>7} {'ours':>8} {'per-job':>8} {'pyarcrest':>10} {'per-job/ours':>13} {'pyarcrest/ours':>15}")
    for n, ours, per_job, pyarc in rows:
        print(f"{n:>7} {ours:8.2f} {per_job:8.2f} {pyarc:10.2f} {per_job / ours:13.1f} {pyarc / ours:15.1f}")
    return 0


async def _delegation(cfg: ARCConfig, spec: SubmissionSpec, created: list[str]) -> str:
    async with ARCBackend(cfg) as ce:
        created += list((await ce.submit(spec)).ids.values())
        assert ce.delegation_id is not None
        return ce.delegation_id


async def _cleanup(cfg: ARCConfig, ids: list[str]) -> None:
    async with ARCBackend(cfg) as ce:
        await ce.kill(ids)
        await asyncio.sleep(20)
        await ce.purge(ids)


if __name__ == "__main__":
    sys.exit(main())
