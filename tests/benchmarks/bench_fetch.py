"""Benchmark: output fetch time and peak memory, arc_intercede vs pyarcrest vs curl, same CE, same files.

Usage (with the stack up; proxy or token config)::

    python -m tests.benchmarks.bench_fetch --client-config /var/lib/arc-intercede/state/token/client.yaml

Submits one job per case (a 10 MiB file, a 1 GiB file, 1 000 files of 1-10 kB each listed as an
output), waits for them, then fetches each job's outputs ``--repeat`` times (order rotated) with:

* ours: ``ARCBackend.fetch_output`` in a fresh process: job info, then the session directory
  (listing per directory level, files one by one over one connection) and, over a second
  connection, the CE's job log;
* pyarcrest: its own ``downloadJobFiles`` in a fresh process (:mod:`tests.benchmarks.raw_fetch`), one
  worker, diagnose files limited to the same job log: a version probe on the worker's new
  connection, then the same listings and files over that one connection, and the log;
* curl: one process, one connection (``curl -K`` listing every URL), one GET per file with the names
  given (no job info, listing or log): the floor for large files.

A-REX writes a response in pieces with Nagle's algorithm on, and Linux delays the client's ACK of the
first piece by ~40 ms on a busy keep-alive connection: every small file then costs ~44 ms. Ours asks
for immediate ACKs (``TCP_QUICKACK``); curl and pyarcrest cannot, so on small files they are not a floor.

Ours and pyarcrest are timed around the fetch call only (their first connection is already open),
curl from process start. Every fetch is checked: the job's directory must hold exactly the
expected files with the expected sizes (and ours must say ``complete``, pyarcrest return no
errors, curl exit 0). pyarcrest's TLS is checked to verify: with a token it gets only the config's
CA through ``SSL_CERT_FILE``/``SSL_CERT_DIR``, and a control run with an empty trust store must fail.
Prints seconds and MB/s or files/s per method, time ratios, and the peak RSS of the two Python
processes (``VmHWM``). This is a report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from statistics import median

from arc_intercede import ARCBackend, ARCBackendError, ARCConfig, JobStatus, OutputSpec, SubmissionSpec
from tests.benchmarks.raw import bearer_token
from tests.benchmarks.raw_fetch import trust_env


@dataclass(frozen=True)
class Case:
    label: str
    script: str
    files: tuple[str, ...]
    members: dict[str, int]  # relative name -> size, what every method must deliver

    @property
    def nbytes(self) -> int:
        return sum(self.members.values())


def _blob(mib: int, label: str) -> Case:
    return Case(label, f"head -c {mib}M /dev/zero | tr '\\0' 'x' > blob.bin", ("blob.bin",),
                {"blob.bin": mib << 20})


# Listed one by one at the top level: pyarcrest 0.5 reads a listing's subdirectories under "dirs", A-REX
# sends "dir", so downloadJobFiles never descends into an output directory such as "outdir/".
_SMALL = {f"f{i}": 1000 + i % 10 * 1000 for i in range(1000)}
CASES = {
    "10MiB": _blob(10, "10 MiB"),
    "1GiB": _blob(1024, "1 GiB"),
    "1000files": Case("1000 x 1-10 kB", "i=0; while [ $i -lt 1000 ]; do "
                      "head -c $((1000 + i % 10 * 1000)) /dev/zero > f$i; i=$((i + 1)); done",
                      tuple(_SMALL), _SMALL),
}

_OURS = r"""
import asyncio, json, sys, time
from pathlib import Path
from arc_intercede import ARCBackend, ARCConfig
from tests.benchmarks.raw import peak_rss_kib
cfg, job, dest = ARCConfig.from_file(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
async def main():
    async with ARCBackend(cfg) as ce:
        t0 = time.perf_counter()
        out = (await ce.fetch_output([job], dest))[job]
        return time.perf_counter() - t0, out.complete, out.reason
secs, ok, reason = asyncio.run(main())
print(json.dumps({"secs": secs, "errors": [] if ok else [reason],
                  "maxrss_kb": peak_rss_kib()}))
"""


class FetchFailedError(Exception):
    """One fetch did not deliver everything."""


def _check(root: Path, case: Case, what: str) -> None:
    got = {p.relative_to(root).as_posix(): p.stat().st_size for p in root.rglob("*") if p.is_file()}
    got.pop("gmlog/errors", None)  # pyarcrest's copy of the CE's job log
    if got != case.members:
        missing, extra = case.members.keys() - got.keys(), got.keys() - case.members.keys()
        wrong = [k for k in case.members.keys() & got.keys() if got[k] != case.members[k]]
        raise FetchFailedError(f"{what}: {len(missing)} missing, {len(extra)} extra, {len(wrong)} wrong size")


def _python(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    proc = subprocess.run([sys.executable, *cmd], capture_output=True, text=True, env=env)
    if proc.returncode:
        raise FetchFailedError(f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    if res["errors"]:
        raise FetchFailedError(f"errors: {res['errors'][:3]}")
    return res["secs"], res["maxrss_kb"]


def _ours(path: Path, job: str, dest: Path) -> tuple[float, int]:
    return _python(["-c", _OURS, str(path), job, str(dest)])


def _pyarcrest(cfg: ARCConfig, path: Path, job: str, dest: Path) -> tuple[float, int]:
    return _python(["-m", "tests.benchmarks.raw_fetch", str(path), job, str(dest)], trust_env(cfg))


def _curl(cfg: ARCConfig, api: str, job: str, case: Case, dest: Path) -> tuple[float, int]:
    lines = ["silent", "show-error", "fail", "fail-early", "create-dirs"]
    lines += [f'capath = "{cfg.ca_dir}"'] if cfg.ca_dir else []
    lines += [f'cacert = "{cfg.ca_file}"'] if cfg.ca_file else []
    if token := bearer_token(cfg):
        lines.append(f'header = "Authorization: Bearer {token}"')
    else:
        lines += [f'cert = "{cfg.proxy}"', f'key = "{cfg.proxy}"']
    base = f"{cfg.endpoint}/rest/{api}/jobs/{job}/session"
    lines += [f'url = "{base}/{name}"\noutput = "{dest / job / name}"' for name in case.members]
    conf = dest / "curl.conf"
    conf.write_text("\n".join(lines) + "\n")
    conf.chmod(0o600)
    t0 = time.perf_counter()
    proc = subprocess.run(["curl", "-K", str(conf)], capture_output=True, text=True)
    secs = time.perf_counter() - t0
    conf.unlink()
    if proc.returncode:
        raise FetchFailedError(f"curl exit {proc.returncode}: {proc.stderr.strip()[-200:]}")
    return secs, 0


def _measure(fn: Callable[[Path], tuple[float, int]], case: Case, job: str, what: str) -> tuple[float, int]:
    """Run one fetch into a fresh directory and check it; retry twice (A-REX may be restarting)."""
    for attempt in (1, 2, 3):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                res = fn(Path(tmp))
                _check(Path(tmp) / job, case, what)
                return res
            except FetchFailedError as exc:
                if attempt == 3:
                    raise SystemExit(f"{case.label}: {what} failed: {exc}") from exc
                print(f"{case.label}: {what} failed ({exc}), retrying in 20 s", file=sys.stderr)
        time.sleep(20)
    raise AssertionError


def _check_pyarcrest_verifies(cfg: ARCConfig, path: Path, job: str) -> None:
    if not bearer_token(cfg):
        return  # proxy mode: raw_fetch builds the context itself with make_ssl_context
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.raw_fetch", str(path), job, tmp],
                              capture_output=True, text=True, env=trust_env(cfg, trust=False))
    if proc.returncode == 0 or "CERTIFICATE_VERIFY_FAILED" not in proc.stderr:
        raise SystemExit(f"pyarcrest did not fail without a trusted CA: {proc.stderr[-300:]}")


async def _submit(cfg: ARCConfig, cases: list[Case], jobs: list[str]) -> str:
    async with ARCBackend(cfg) as ce:
        for case in cases:
            spec = SubmissionSpec(executable="/bin/sh", arguments=("-c", case.script),
                                  output_sandbox=OutputSpec(stdout=None, stderr=None, files=case.files))
            jobs += (await ce.submit(spec)).ids.values()
        return ce.api_version


async def _wait(cfg: ARCConfig, jobs: list[str]) -> None:
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        try:
            async with ARCBackend(cfg) as ce:
                states = await ce.status(jobs)
        except ARCBackendError as exc:  # e.g. A-REX restarting
            print(f"status failed ({exc}), retrying", file=sys.stderr)
            states = {}
        if states and all(s.is_terminal for s in states.values()):
            if bad := {j: s for j, s in states.items() if s is not JobStatus.DONE}:
                raise SystemExit(f"benchmark jobs ended badly: {bad}")
            return
        await asyncio.sleep(3)
    raise SystemExit("benchmark jobs did not finish")


async def _purge(cfg: ARCConfig, jobs: list[str]) -> None:
    async with ARCBackend(cfg) as ce:
        await ce.purge(jobs)


def _cell(secs: float, case: Case) -> str:
    rate = f"{case.nbytes / 1e6 / secs:6.1f} MB/s" if len(case.members) == 1 else \
        f"{len(case.members) / secs:6.0f} f/s "
    return f"{secs:7.3f} s {rate}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client-config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args(argv)
    if shutil.which("curl") is None:
        raise SystemExit("curl is required")
    cfg, path = ARCConfig.from_file(args.client_config), args.client_config
    cases = [CASES[c] for c in args.cases]
    jobs: list[str] = []
    rows = []
    try:
        api = asyncio.run(_submit(cfg, cases, jobs))
        asyncio.run(_wait(cfg, jobs))
        _check_pyarcrest_verifies(cfg, path, jobs[0])
        for case, job in zip(cases, jobs, strict=True):
            methods: dict[str, Callable[[Path], tuple[float, int]]] = {
                "ours": partial(_ours, path, job),
                "pyarcrest": partial(_pyarcrest, cfg, path, job),
                "curl": partial(_curl, cfg, api, job, case),
            }
            secs: dict[str, list[float]] = {m: [] for m in methods}
            rss = dict.fromkeys(methods, 0)
            names = list(methods)
            for r in range(args.repeat):
                for m in names[r % len(names):] + names[:r % len(names)]:
                    s, kb = _measure(methods[m], case, job, m)
                    secs[m].append(s)
                    rss[m] = max(rss[m], kb)
            t = {m: median(v) for m, v in secs.items()}
            rows.append((case, t, rss))
    finally:
        if jobs:
            asyncio.run(_purge(cfg, jobs))
    print(f"fetch benchmark: {cfg.endpoint} REST {api}, {cfg.auth_mode.value}, median of {args.repeat}, "
          f"{os.cpu_count()} cores; ratios are time-based (other's seconds / ours' seconds): >1 = ours faster")
    print(f"{'case':<15} {'ours':>21} {'pyarcrest':>21} {'curl':>21} {'ours/curl':>9} {'ours/pyarc':>10} "
          f"{'RSS ours':>9} {'RSS pyarc':>9}")
    for case, t, rss in rows:
        print(f"{case.label:<15} {_cell(t['ours'], case)} {_cell(t['pyarcrest'], case)} {_cell(t['curl'], case)} "
              f"{t['curl'] / t['ours']:>9.2f} {t['pyarcrest'] / t['ours']:>10.2f} "
              f"{rss['ours'] / 1024:>5.1f} MiB {rss['pyarcrest'] / 1024:>5.1f} MiB")
    print("peak RSS: the whole fetching Python process (interpreter + library), from VmHWM; MB = 10^6 bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
