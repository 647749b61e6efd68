"""Benchmark: bulk status of 100, 1 000 and 20 000 ids on the same CE, side by side.

Usage (stack up, proxy or token config)::

    python -m tests.benchmarks.bench_status --client-config /var/lib/arc-intercede/state/proxy/client.yaml

Compared in one run, each the median of ``--repeat`` timings (ours and pyarcrest alternate, both on warm
connections, so drift on the CE hits both alike):

* ``ours``: ``ARCBackend.status`` (chunks of ``chunk_size``, parallel connections, state mapping);
* ``pyarcrest``: raw ``ARCRest_1_1.getJobsStatus`` with all ids in one request, on a verified
  connection (pyarcrest's own connection set-up would not verify the CE);
* ``per-id``: one ``getJobsStatus([id])`` request per id with raw pyarcrest, and ``per-id ours``: one
  ``ARCBackend.status([id])`` call per id, in sequence (100 and 1 000 ids only);
* ``arcstat``: ARC's own client (ARC 7, in the stack's chroot) over the same ids: one process per run, see
  ``tests/benchmarks/arcclient.py``;
* ``curl``: the same single bulk request sent by curl (the floor: no Python at all).

The ids are a few real jobs mixed with made-up ones (A-REX answers those 404 per id). A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from arc_intercede import ARCBackend, ARCConfig, SubmissionSpec
from tests.benchmarks.arcclient import arcstat_timer
from tests.benchmarks.raw import bearer_token, raw_pyarcrest

SIZES = (100, 1_000, 20_000)
PER_ID_MAX = 1_000


def _timed(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _curl(cfg: ARCConfig, body: Path) -> None:
    token = bearer_token(cfg)
    auth = ["-H", f"Authorization: Bearer {token}"] if token else ["--cert", str(cfg.proxy), "--key", str(cfg.proxy)]
    subprocess.run(
        ["curl", "-sf", "-o", "/dev/null", "--capath", str(cfg.ca_dir), *auth, "-H", "Accept: application/json",
         "-H", "Content-Type: application/json", "--data-binary", f"@{body}",
         f"{cfg.endpoint}/rest/1.1/jobs?action=status"],
        check=True,
    )


def _measure(cfg: ARCConfig, raw, ids: list[str], repeat: int, arcstat):  # type: ignore[no-untyped-def]
    loop = asyncio.new_event_loop()
    backend = ARCBackend(cfg)
    loop.run_until_complete(backend.open())
    loop.run_until_complete(backend.status(ids))  # warm connections, and the CE for these ids (both variants)
    raw.getJobsStatus(ids)
    ours_t, pyarc_t = [], []
    for _ in range(repeat):  # alternate, so that a slow moment of the CE is shared
        ours_t.append(_timed(lambda: loop.run_until_complete(backend.status(ids)), 1))
        pyarc_t.append(_timed(lambda: raw.getJobsStatus(ids), 1))

    async def one_by_one() -> None:
        for i in ids:
            await backend.status([i])

    per_id = per_id_ours = None
    if len(ids) <= PER_ID_MAX:
        per_id = _timed(lambda: [raw.getJobsStatus([i]) for i in ids], 1)
        per_id_ours = _timed(lambda: loop.run_until_complete(one_by_one()), 1)
    loop.run_until_complete(backend.aclose())
    loop.close()
    arc = _timed(arcstat, repeat) if arcstat is not None else None
    with tempfile.NamedTemporaryFile("w", suffix=".json") as body:
        json.dump({"job": [{"id": i} for i in ids]}, body)
        body.flush()
        curl = _timed(lambda: _curl(cfg, Path(body.name)), repeat)
    return ours_t, pyarc_t, per_id, per_id_ours, arc, curl


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/arc-intercede/state"),
                        help="the stack's state dir (for arcstat in its chroot)")
    parser.add_argument("--no-arcstat", action="store_true", help="leave ARC's own client out")
    args = parser.parse_args(argv)
    cfg = ARCConfig.from_file(args.client_config)

    async def submit_real() -> list[str]:
        async with ARCBackend(cfg) as ce:
            return list((await ce.submit(SubmissionSpec(executable="/bin/true"), count=5)).ids.values())

    real = asyncio.run(submit_real())
    raw = raw_pyarcrest(cfg)
    rows = []
    for size in SIZES:
        ids = real + [uuid.uuid4().hex[:12] for _ in range(size - len(real))]
        arcstat = None if args.no_arcstat else arcstat_timer(cfg, ids, args.state_dir, real=real)
        try:
            rows.append((size, *_measure(cfg, raw, ids, args.repeat, arcstat)))
        finally:
            if arcstat is not None:
                arcstat.close()  # type: ignore[attr-defined]
    raw.close()

    def col(x: float | None, width: int) -> str:
        return f"{x:{width}.3f}" if x is not None else f"{'-':>{width}}"

    auth = "token" if bearer_token(cfg) else "proxy"
    print(f"status benchmark: {cfg.endpoint} ({auth}), median of {args.repeat} (per-id: 1 run), seconds")
    print(f"{'ids':>7} {'ours':>8} {'pyarcrest':>10} {'per-id':>8} {'per-id ours':>11} {'arcstat':>8} {'curl':>8}"
          f" {'ours/pyarcrest':>15}"
          f"  {'ours min-max':>14}  {'pyarcrest min-max':>17}")
    for size, ours_t, pyarc_t, per_id, per_id_ours, arc, curl in rows:
        ours, pyarc = statistics.median(ours_t), statistics.median(pyarc_t)
        print(f"{size:>7} {ours:8.3f} {pyarc:10.3f} {col(per_id, 8)} {col(per_id_ours, 11)} {col(arc, 8)} {curl:8.3f}"
              f" {ours / pyarc:15.2f}"
              f"  {min(ours_t):6.3f}-{max(ours_t):<7.3f}  {min(pyarc_t):8.3f}-{max(pyarc_t):<8.3f}")
    print("ours chunks at chunk_size (default 1000) over max_connections (default 4) connections;"
          " pyarcrest sends one unchunked request (over A-REX's ~1 MiB cap ids would be silently dropped);"
          " arcstat and curl start a process and a TLS session per run")

    async def cleanup() -> None:
        async with ARCBackend(cfg) as ce:
            await ce.kill(real)
            await asyncio.sleep(15)
            await ce.purge(real)

    asyncio.run(cleanup())
    return 0


if __name__ == "__main__":
    sys.exit(main())
