"""Benchmark: ``fetch_output`` over a mix of good and misbehaving jobs — every id, bounded time and memory.

Usage (no stack needed; the misbehaving CE runs on loopback in a child process)::

    python -m tests.benchmarks.bench_fetch_hostile [--good 20] [--rounds 3]

The child process serves the fake CE (``tests/fake_arex.py``) with good jobs (a 4 MiB file and a few small ones
each) and one job per way of misbehaving: bytes past ``Content-Length``, a truncated body, a stall
with ``Connection: close``, a trickling chunked stream, an endless body, a listing announced over
the cap, a 48 MB chunked listing, a malformed listing, an unsafe name, an error status on a member,
a declared output never written, plus an unknown and an impossible id. This process fetches them
all in one call (``transfer_timeout_s`` 3 s, ``max_files`` 200, ``max_total_bytes`` 64 MiB) and
prints, per round, the wall time, this process's peak RSS (``VmHWM``) before and after, and the
reason code each id got; then how long ``aclose()`` takes while a transfer is blocked in a read.
This is a report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from arc_intercede import ARCBackend, ARCConfig, Limits
from arc_intercede.transfer import reason_code


def _vm(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def serve(good: int) -> None:
    """Child process: run the fake CE, print its address and jobs, serve until stdin closes."""
    from tests import fake_arex as h

    pki = h.make_pki(Path(tempfile.mkdtemp(prefix="bench-hostile-")))
    with h.FakeAREX.start(pki, errors_log=True, activity={"StdOut": "out.txt", "StdErr": "err.txt"}) as ce:
        _serve_jobs(h, ce, good)


def _serve_jobs(h: Any, ce: Any, good: int) -> None:
    jobs: dict[str, str] = {}
    for i in range(good):
        jobs[ce.add_job(files={"big.bin": b"b" * (4 << 20), "out.txt": b"o", "err.txt": b"e",
                               "d/small.txt": b"s" * 1000})] = f"good-{i}"
    jobs[ce.add_job(files={"a.txt": h.overlong(b"A" * 100, b"junk\r\n" * 50), "b.txt": b"B"})] = "overlong"
    jobs[ce.add_job(files={"cut.bin": h.short_body(b"c" * 1000, 100_000)})] = "truncated"
    jobs[ce.add_job(files={"s.bin": h.stall_closing(b"x" * 1000, 1 << 20, stall_s=60)})] = "stall-close"
    jobs[ce.add_job(files={"t.bin": h.trickle(b"t" * 100, 0.01)})] = "trickle"
    jobs[ce.add_job(files={"e.bin": h.endless()})] = "endless"
    big = ce.add_job()
    ce.listings[(big, "")] = h.json_stream(h.many_names(6_000_000), length=96 << 20)
    jobs[big] = "listing-over-cap"
    many = ce.add_job(files={f"n{i:09d}.dat": b"" for i in range(200)})
    ce.listings[(many, "")] = h.json_stream(h.many_names(3_000_000))
    jobs[many] = "listing-48MB"
    bad = ce.add_job()
    ce.listings[(bad, "")] = h.json_stream(lambda: iter([b'{"file": ["a", }']))
    jobs[bad] = "listing-malformed"
    unsafe = ce.add_job(files={"ok.txt": b"k"})
    ce.listings[(unsafe, "")] = {"file": ["ok.txt", "../escape"], "dir": []}
    jobs[unsafe] = "unsafe-name"
    gone = ce.add_job()
    ce.listings[(gone, "")] = {"file": ["vanished.txt"], "dir": []}
    jobs[gone] = "member-404"
    missing = ce.add_job(files={"out.txt": b"o"})
    ce.jobs[missing].diagnose = {"output": b"/out.txt\n/never.dat\n"}
    jobs[missing] = "missing-output"
    jobs["nosuchjob000"] = "unknown"
    jobs[".."] = "impossible"
    print(json.dumps({"port": ce.port, "ca": str(ce.ca_file), "endpoint": ce.endpoint,
                      "jobs": jobs, "stall": next(j for j, k in jobs.items() if k == "stall-close")}), flush=True)
    sys.stdin.read()


async def _fetch_round(cfg: ARCConfig, ids: list[str], dest: Path) -> tuple[float, Any]:
    async with ARCBackend(cfg) as ce:
        t0 = time.monotonic()
        out = await ce.fetch_output(ids, dest)
        return time.monotonic() - t0, out


async def _aclose_while_blocked(cfg: ARCConfig, job: str, dest: Path) -> tuple[float, float]:
    ce = ARCBackend(cfg)
    await ce.open()
    task = asyncio.create_task(ce.fetch_output([job], dest))
    await asyncio.sleep(2.0)  # the transfer is now blocked reading the stalled body
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not stop.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    t0 = time.monotonic()
    await ce.aclose()
    took = time.monotonic() - t0
    try:
        await asyncio.wait_for(task, 30)
    except Exception as exc:  # the figure is the time, not the outcome
        del exc
    stop.set()
    await tick
    return took, max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--good", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.good)
        return
    child = subprocess.Popen([sys.executable, "-m", "tests.benchmarks.bench_fetch_hostile", "--serve",
                              "--good", str(args.good)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        jobs: dict[str, str] = info["jobs"]
        limits = Limits(max_total_bytes=64 << 20, max_files=200, transfer_timeout_s=3)
        cfg = ARCConfig(endpoint=info["endpoint"], ca_file=Path(info["ca"]), token="t", read_timeout_s=30,
                        limits=limits, transfer_concurrency=8, max_connections=16)
        print(f"{len(jobs)} ids ({args.good} good jobs of 4 MiB + 3 small files each, "
              f"{len(jobs) - args.good} misbehaving/unknown); transfer_timeout_s 3, read_timeout_s 30, "
              "max_files 200")
        print(f"{'round':>5} {'wall s':>7} {'ids out':>8} {'VmHWM before MiB':>17} {'VmHWM after MiB':>16}")
        last: Any = None
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                before = _vm("VmHWM")
                took, out = asyncio.run(_fetch_round(cfg, list(jobs), Path(tmp) / f"r{r}"))
                after = _vm("VmHWM")
                assert list(out) == list(jobs)
                print(f"{r + 1:>5} {took:>7.2f} {len(out):>8} {before / 2**20:>17.1f} {after / 2**20:>16.1f}")
                last = out
            codes = Counter(reason_code(o.reason) or "complete" for j, o in last.items()
                            if not jobs[j].startswith("good"))
            print("\nper misbehaving id (last round):")
            for job_id, kind in jobs.items():
                if not kind.startswith("good"):
                    o = last[job_id]
                    print(f"  {kind:<18} -> {reason_code(o.reason) or 'complete':<15} log={'yes' if o.log else 'no'}")
            good_ok = sum(1 for j, o in last.items() if jobs[j].startswith("good") and o.complete)
            print(f"  good jobs complete: {good_ok}/{args.good}; codes: {dict(codes)}")
            print(f"\n{'aclose() during a blocked read':<34} {'aclose s':>9} {'max loop gap s':>15}")
            for r in range(args.rounds):
                took, gap = asyncio.run(_aclose_while_blocked(cfg, info["stall"], Path(tmp) / f"c{r}"))
                print(f"{'  round ' + str(r + 1):<34} {took:>9.3f} {gap:>15.3f}")
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(10)


if __name__ == "__main__":
    main()
