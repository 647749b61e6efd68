"""Benchmark: output fetch throughput and peak memory, arc_intercede vs curl, same CE, same file.

Usage (with the stack up; proxy or token config)::

    python -m tests.benchmarks.bench_fetch --client-config /var/lib/arc-intercede/state/proxy/client.yaml

Submits one job that writes a 10 MB and a 1 GB file, waits for it, then fetches each file
``--repeat`` times with (a) ``ARCBackend.fetch_output`` in a fresh subprocess (peak RSS measured
with ``getrusage``) and (b) ``curl`` with the same TLS credentials. Prints a table with MB/s, the
ratio to curl, and peak memory. This is a report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from arc_intercede import ARCBackend, ARCConfig, JobStatus, OutputSpec, SubmissionSpec

SIZES_MB = (10, 1024)

_CHILD = r"""
import asyncio, json, resource, sys, time
from pathlib import Path
from arc_intercede import ARCBackend, ARCConfig
cfg, job, dest = ARCConfig.from_file(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
async def main():
    async with ARCBackend(cfg) as ce:
        t0 = time.perf_counter()
        out = (await ce.fetch_output([job], dest))[job]
        return time.perf_counter() - t0, out.complete, out.reason
secs, ok, reason = asyncio.run(main())
print(json.dumps({"secs": secs, "ok": ok, "reason": reason,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


async def _make_job(cfg: ARCConfig, size_mb: int) -> str:
    script = f"head -c {size_mb}M /dev/zero | tr '\\0' 'x' > blob.bin"
    spec = SubmissionSpec(executable="/bin/sh", arguments=("-c", script),
                          output_sandbox=OutputSpec(stdout=None, stderr=None, files=("blob.bin",)))
    async with ARCBackend(cfg) as ce:
        (job_id,) = (await ce.submit(spec)).ids.values()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            state = (await ce.status([job_id]))[job_id]
            if state.is_terminal:
                if state is not JobStatus.DONE:
                    raise SystemExit(f"benchmark job {job_id} ended {state}")
                return job_id
            await asyncio.sleep(3)
    raise SystemExit(f"benchmark job {job_id} did not finish")


def _ours(config_path: Path, job_id: str, dest: Path) -> tuple[float, int]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(config_path), job_id, str(dest)],
                          capture_output=True, text=True, check=True)
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if not res["ok"]:
        raise SystemExit(f"fetch failed: {res['reason']}")
    return res["secs"], res["maxrss_kb"]


def _curl(cfg: ARCConfig, job_id: str, version: str, dest: Path) -> tuple[float, int]:
    url = f"{cfg.endpoint}/rest/{version}/jobs/{job_id}/session/blob.bin"
    cmd = ["curl", "-sf", "-o", str(dest), "--capath", str(cfg.ca_dir)]
    if cfg.token_file:
        cmd += ["-H", f"Authorization: Bearer {Path(cfg.token_file).read_text().strip()}"]
    elif cfg.proxy:
        cmd += ["--cert", str(cfg.proxy), "--key", str(cfg.proxy)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([*cmd, url], check=True)
    secs = time.perf_counter() - t0
    return secs, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        raise SystemExit("curl is required")
    cfg = ARCConfig.from_file(args.client_config)

    async def version() -> str:
        async with ARCBackend(cfg) as ce:
            return ce.api_version

    api = asyncio.run(version())
    rows = []
    for size in SIZES_MB:
        job_id = asyncio.run(_make_job(cfg, size))
        ours, curls, rss = [], [], 0
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                secs, kb = _ours(args.client_config, job_id, Path(tmp))
                ours.append(secs)
                rss = max(rss, kb)
            with tempfile.TemporaryDirectory() as tmp:
                secs, _ = _curl(cfg, job_id, api, Path(tmp) / "blob.bin")
                curls.append(secs)
        mb = size * 1024 * 1024 / 1e6
        rows.append((size, mb / median(ours), mb / median(curls), median(curls) / median(ours), rss / 1024))
        asyncio.run(_purge(cfg, job_id))
    print(f"fetch benchmark: {cfg.endpoint} REST {api}, median of {args.repeat}, {os.cpu_count()} cores")
    print(f"{'size':>8} {'ours MB/s':>10} {'curl MB/s':>10} {'ours/curl':>10} {'ours peak RSS MiB':>18}")
    for size, o, c, ratio, peak in rows:
        print(f"{size:>6}MB {o:>10.1f} {c:>10.1f} {ratio:>10.2f} {peak:>18.1f}")
    print("peak RSS is the whole fetching process (interpreter + library), measured with getrusage")
    return 0


async def _purge(cfg: ARCConfig, job_id: str) -> None:
    async with ARCBackend(cfg) as ce:
        await ce.purge([job_id])


if __name__ == "__main__":
    sys.exit(main())
