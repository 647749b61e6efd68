"""Benchmark: many CEs polled from one process and one event loop -- client cost per id, threads, memory.

Usage (fast fake CEs only; a few minutes)::

    python -m tests.benchmarks.bench_scale

    # the real stack for truth (hold the stack lock; proxy or token config):
    flock /var/lock/arc-stack.lock python -m tests.benchmarks.bench_scale --skip-fake --skip-fetch \\
        --real /var/lib/arc-intercede/state/proxy/client.yaml

What runs:

* **fake CEs**: ``--servers`` processes of :mod:`tests.benchmarks.fastce` on loopback (real HTTPS, a
  throwaway CA made with ``cryptography``, verified by the client through a hashed ``ca_dir``), each
  answering bulk status, info, listings and files from memory. CE ``k`` is
  ``https://localhost:<port k mod servers>/ce<k>``, so every backend has an endpoint of its own.
* **configurations**: N backends (``--backends``, default 1, 10, 100, 500) x ``--ids`` ids each (default
  2 000; plus one 1 x 20 000 row). Each configuration runs in a fresh subprocess, so its peak RSS
  (``VmHWM``) is its own: open all N backends, one warm-up round (connections, server caches), then
  ``--rounds`` measured rounds of ``status`` on every backend at once; known ids cycle through the ARC
  states and 1 in 16 is unknown to the CE (404 entry).
* **clients** side by side:

  - ``ours``: N :class:`~arc_intercede.ARCBackend` objects in one asyncio loop; a round is one
    ``asyncio.gather`` of ``backend.status(ids)`` over all of them. Event-loop lag is sampled by a task
    sleeping 5 ms in a loop during the measured rounds (lag = how late it wakes).
  - ``pyarcrest``: raw pyarcrest ``ARCRest_1_1.getJobsStatus(ids)`` (one unchunked request per CE) on one
    verified connection per CE, called in sequence from the main thread (it is synchronous).
  - ``xrdarc``: the pure-Python sync ARC client from PyPI (``pip install xrdarc`` into the benchmark's
    venv only; it is not a dependency): one ``xrdarc.transport.Session`` (its pooled, thread-safe session,
    token credentials, same ``ca_dir``) shared by N ``xrdarc.rest.RESTClient(endpoint, session,
    version="1.1")``; a round calls ``client.status(ids)`` per CE in sequence from the main thread
    (xrdarc chunks at 500 ids itself).

* **figures** per configuration: client CPU us per status id (the client process's CPU time over the
  measured rounds divided by the ids answered; the servers are other processes), ids/s (wall), threads and
  open fds after the rounds (pools and connections persist, so this is the peak), peak RSS (``VmHWM``)
  and, above the process's RSS after imports, per backend and per 100 000 tracked ids; loop lag p99.
* **fetch at scale** (``ours`` only): 10 fake CEs x 100 finished jobs x 10 files of ``--file-bytes``; one
  ``gather`` of ``fetch_output`` over the 10 backends (bulk info, listing, files, CE log per job), against
  a floor of one curl process per CE (10 at once), each fetching the same listings and files over one
  kept-alive connection with the same CA.
* **real stack** (``--real client.yaml``): N backends (``--real-backends``) all on the one local CE with
  ``--real-ids`` ids each (5 real jobs, the rest made-up): the truth, where A-REX is the bottleneck.

A report, not a test: every loop is bounded (``--rounds``, child timeout ``--child-timeout``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

TOKEN = "bench-token"  # the fake CE checks no credentials
FETCH_CES, FETCH_JOBS, FETCH_FILES = 10, 100, 10


# --- child side: one configuration per process ----------------------------------------------------


def _ids(k: int, m: int) -> list[str]:
    return [f"{k:04x}{i:08x}" for i in range(m)]


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _Lag:
    """Samples event-loop lag: a task sleeping ``period`` s in a loop, recording how late it wakes."""

    def __init__(self, period: float = 0.005) -> None:
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(self.period)
            self.samples.append(loop.time() - t - self.period)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> float | None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if len(self.samples) < 2:
            return None
        return statistics.quantiles(self.samples, n=100, method="inclusive")[98] * 1000


def _result(spec: dict[str, Any], base_kib: int, cpu: float, wall: float, n_ids: int,
            lag: float | None) -> dict[str, Any]:
    from tests.benchmarks.raw import peak_rss_kib

    return {"client": spec["client"], "backends": spec["n"], "ids": spec["m"], "rounds": spec["rounds"],
            "cpu_us_per_id": cpu / n_ids * 1e6, "ids_per_s": n_ids / wall, "wall_s": wall,
            "threads": threading.active_count(), "fds": _fds(), "peak_kib": peak_rss_kib(),
            "base_kib": base_kib, "lag_p99_ms": lag}


def _configs(spec: dict[str, Any]) -> list[dict[str, Any]]:
    if spec.get("real"):
        import yaml

        real = yaml.safe_load(Path(spec["real"]).read_text())
        return [dict(real, **spec.get("set", {})) for _ in range(spec["n"])]
    return [{"endpoint": f"https://localhost:{spec['ports'][k % len(spec['ports'])]}/ce{k}",
             "ca_dir": spec["ca_dir"], "token": TOKEN, **spec.get("set", {})} for k in range(spec["n"])]


def _idsets(spec: dict[str, Any]) -> list[list[str]]:
    if spec.get("real"):
        real = spec["real_ids"]
        return [real + _ids(k, spec["m"] - len(real)) for k in range(spec["n"])]
    return [_ids(k, spec["m"]) for k in range(spec["n"])]


def _child_ours(spec: dict[str, Any]) -> dict[str, Any]:
    from arc_intercede import ARCBackend
    from tests.benchmarks.raw import peak_rss_kib

    base = peak_rss_kib()
    idsets = _idsets(spec)

    async def run() -> dict[str, Any]:
        backends = [ARCBackend(c) for c in _configs(spec)]
        await asyncio.gather(*(b.open() for b in backends))

        async def one_round() -> int:
            replies = await asyncio.gather(*(b.status(ids) for b, ids in zip(backends, idsets, strict=True)))
            for r, ids in zip(replies, idsets, strict=True):
                if len(r) != len(set(ids)):
                    raise RuntimeError(f"{len(r)} results for {len(ids)} ids")
            return sum(len(r) for r in replies)

        await one_round()
        lag = _Lag()
        lag.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        n = 0
        for _ in range(spec["rounds"]):
            n += await one_round()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        p99 = await lag.stop()
        out = _result(spec, base, cpu, wall, n, p99)
        await asyncio.gather(*(b.aclose() for b in backends))
        return out

    return asyncio.run(run())


def _child_pyarcrest(spec: dict[str, Any]) -> dict[str, Any]:
    from arc_intercede import ARCConfig
    from tests.benchmarks.raw import peak_rss_kib, raw_pyarcrest

    base = peak_rss_kib()
    idsets = _idsets(spec)
    clients = [raw_pyarcrest(ARCConfig.from_mapping(c)) for c in _configs(spec)]

    def one_round() -> int:
        n = 0
        for client, ids in zip(clients, idsets, strict=True):
            states = client.getJobsStatus(ids)
            if len(states) != len(ids):
                raise RuntimeError(f"{len(states)} results for {len(ids)} ids")
            n += len(states)
        return n

    one_round()
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = sum(one_round() for _ in range(spec["rounds"]))
    return _result(spec, base, time.process_time() - cpu0, time.perf_counter() - t0, n, None)


def _child_xrdarc(spec: dict[str, Any]) -> dict[str, Any]:
    from xrdarc.creds import Auth, Credentials
    from xrdarc.rest import RESTClient
    from xrdarc.transport import Session

    from tests.benchmarks.raw import peak_rss_kib

    base = peak_rss_kib()
    idsets = _idsets(spec)
    cfgs = _configs(spec)
    first = cfgs[0]
    if first.get("token") or first.get("token_file"):
        token = first.get("token") or Path(first["token_file"]).read_text().strip()
        creds = Credentials(token=token, ca_dir=first.get("ca_dir"), ca_file=first.get("ca_file"), auth=Auth.TOKEN)
    else:
        creds = Credentials(cert=first["proxy"], key=first["proxy"], ca_dir=first.get("ca_dir"),
                            ca_file=first.get("ca_file"))
    session = Session(creds, timeout=120.0)
    clients = [RESTClient(c["endpoint"], session, version="1.1") for c in cfgs]

    def one_round() -> int:
        n = 0
        for client, ids in zip(clients, idsets, strict=True):
            results = client.status(ids)
            if len(results) != len(ids):
                raise RuntimeError(f"{len(results)} results for {len(ids)} ids")
            n += len(results)
        return n

    one_round()
    cpu0, t0 = time.process_time(), time.perf_counter()
    n = sum(one_round() for _ in range(spec["rounds"]))
    out = _result(spec, base, time.process_time() - cpu0, time.perf_counter() - t0, n, None)
    session.close()
    return out


def _child_fetch(spec: dict[str, Any]) -> dict[str, Any]:
    from arc_intercede import ARCBackend
    from tests.benchmarks.raw import peak_rss_kib

    base = peak_rss_kib()
    dest = Path(spec["dest"])
    idsets = [[i for i in _ids(k, FETCH_JOBS + FETCH_JOBS // 8) if not i.endswith("f")][:FETCH_JOBS]
              for k in range(FETCH_CES)]

    async def run() -> dict[str, Any]:
        backends = [ARCBackend(c) for c in _configs(dict(spec, n=FETCH_CES))]
        await asyncio.gather(*(b.open() for b in backends))
        lag = _Lag()
        lag.start()
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await asyncio.gather(*(b.fetch_output(ids, dest / f"ce{k}")
                                         for k, (b, ids) in enumerate(zip(backends, idsets, strict=True))))
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
        p99 = await lag.stop()
        files = 0
        for r in results:
            for job_id, out in r.items():
                if not out.complete:
                    raise RuntimeError(f"{job_id}: {out.reason}")
                files += len(out.files) + (out.stdout is not None) + (out.stderr is not None)
        threads, fds = threading.active_count(), _fds()
        await asyncio.gather(*(b.aclose() for b in backends))
        return {"client": "ours fetch", "files": files, "bytes": files * spec["file_bytes"], "wall_s": wall,
                "cpu_s": cpu, "threads": threads, "fds": fds, "peak_kib": peak_rss_kib(), "base_kib": base,
                "lag_p99_ms": p99}

    return asyncio.run(run())


_CHILDREN = {"ours": _child_ours, "pyarcrest": _child_pyarcrest, "xrdarc": _child_xrdarc,
             "fetch": _child_fetch}


# --- parent side: servers, children, table ---------------------------------------------------------


def _idle_lag(seconds: float = 3.0) -> float:
    """Loop lag p99 (ms) of an event loop with nothing to do: what the machine's load alone costs."""
    async def run() -> float:
        lag = _Lag()
        lag.start()
        await asyncio.sleep(seconds)
        return await lag.stop() or 0.0

    return asyncio.run(run())


def _hashed_ca_dir(ca_file: Path, folder: Path) -> Path:
    folder.mkdir()
    digest = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(ca_file)], check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.copyfile(ca_file, folder / f"{digest}.0")
    return folder


class _Servers:
    def __init__(self, n: int, pki: Any, file_bytes: int) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        self.ports: list[int] = []
        for _ in range(n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.benchmarks.fastce", "--cert", str(pki.cert_file),
                 "--key", str(pki.key_file), "--file-bytes", str(file_bytes)],
                stdout=subprocess.PIPE, text=True,
            )
            self.procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith("PORT "):
                self.close()
                raise RuntimeError(f"fake CE did not start: {line!r}")
            self.ports.append(int(line.split()[1]))

    def cpu_s(self) -> float:
        total = 0.0
        for p in self.procs:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def close(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def _run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any] | str:
    try:
        proc = subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_scale", "--child", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f} s"
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["failed"])[-1][:200]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def _row(label: str, r: dict[str, Any] | str) -> str:
    if isinstance(r, str):
        return f"| {label} | {r} |"
    tracked = r["backends"] * r["ids"]
    extra = max(0, r["peak_kib"] - r["base_kib"])
    lag = f"{r['lag_p99_ms']:.1f}" if r["lag_p99_ms"] is not None else "-"
    return (f"| {label} | {r['backends']} x {r['ids']} | {r['cpu_us_per_id']:.1f} | {r['ids_per_s']:,.0f} | "
            f"{r['threads']} | {r['fds']} | {_mib(r['peak_kib'])} | {_mib(extra / r['backends'])} | "
            f"{_mib(extra / tracked * 100_000)} | {lag} |")


_HEADER = ("| client | backends x ids | CPU us/id | ids/s | threads | fds | peak RSS MiB | MiB/backend | "
           "MiB/100k ids | loop lag p99 ms |\n|---|---|---|---|---|---|---|---|---|---|")


def _scale(args: argparse.Namespace, base: dict[str, Any], shapes: list[tuple[int, int]]) -> None:
    print(_HEADER, flush=True)
    for n, m in shapes:
        for client in args.clients.split(","):
            rounds = args.rounds if n * m <= 200_000 else 1
            r = _run_child(dict(base, client=client, n=n, m=m, rounds=rounds), args.child_timeout)
            print(_row(client, r), flush=True)


def _curl_floor(ports: list[int], ca_dir: Path, dest: Path) -> tuple[float, int]:
    """One curl process per CE, all at once, each fetching its listings and files over one kept-alive connection.

    (``curl --parallel`` was slower here: it opens a TLS connection per parallel slot, 40 handshakes at once.)
    """
    cfgs = []
    n = 0
    for k in range(FETCH_CES):
        port = ports[k % len(ports)]
        ids = [i for i in _ids(k, FETCH_JOBS + FETCH_JOBS // 8) if not i.endswith("f")][:FETCH_JOBS]
        lines = []
        for job in ids:
            base = f"https://localhost:{port}/ce{k}/rest/1.1/jobs/{job}/session"
            lines.append(f'url = "{base}"\noutput = "{dest}/{k}-{job}.json"\n')
            for f in range(FETCH_FILES):
                lines.append(f'url = "{base}/f{f}.txt"\noutput = "{dest}/{k}-{job}-f{f}"\n')
                n += 1
        cfg = dest / f"curl-{k}.cfg"
        cfg.write_text("".join(lines))
        cfgs.append(cfg)
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "--no-progress-meter", "--http1.1", "--capath", str(ca_dir),
                               "-H", f"Authorization: Bearer {TOKEN}", "-K", str(cfg)]) for cfg in cfgs]
    if any(p.wait(300) != 0 for p in procs):
        raise RuntimeError("curl failed")
    return time.perf_counter() - t0, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--backends", default="1,10,100,500")
    parser.add_argument("--ids", type=int, default=2000, help="ids per backend (default 2000)")
    parser.add_argument("--big", type=int, default=20_000, help="ids of the extra 1-backend row (0: none)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds (1 above 200 000 ids)")
    parser.add_argument("--clients", default="ours,pyarcrest,xrdarc")
    parser.add_argument("--servers", type=int, default=4, help="fake CE processes")
    parser.add_argument("--file-bytes", type=int, default=2048)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra ARCConfig key for ours (YAML value), e.g. --set max_connections=2")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval in the client (default 5 ms)")
    parser.add_argument("--skip-fake", action="store_true")
    parser.add_argument("--skip-fetch", action="store_true")
    parser.add_argument("--real", type=Path, help="client.yaml of the real stack (hold the stack lock)")
    parser.add_argument("--real-backends", default="1,10,100")
    parser.add_argument("--real-ids", type=int, default=500)
    parser.add_argument("--child-timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.child:
        spec = json.loads(args.child)
        if spec.get("switch"):
            sys.setswitchinterval(spec["switch"])
        print(json.dumps(_CHILDREN[spec["client"]](spec)))
        return 0

    import yaml

    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scale.") as tmp:
        from tests.fake_arex import make_pki

        if not (args.skip_fake and args.skip_fetch):
            pki = make_pki(Path(tmp) / "pki")
            ca_dir = _hashed_ca_dir(pki.ca_file, Path(tmp) / "ca")
            servers = _Servers(args.servers, pki, args.file_bytes)
            try:
                base = {"ports": servers.ports, "ca_dir": str(ca_dir), "set": overrides,
                        "switch": args.switch_interval}
                if not args.skip_fake:
                    print(f"\nfake CEs: {args.servers} server processes, rounds={args.rounds} (1 above 200 000 ids);"
                          f" idle event loop lag p99 on this machine now: {_idle_lag():.1f} ms (control)")
                    shapes = [(int(n), args.ids) for n in args.backends.split(",")]
                    if args.big:
                        shapes.insert(1, (1, args.big))
                    cpu0 = servers.cpu_s()
                    _scale(args, base, shapes)
                    print(f"(fake CE servers used {servers.cpu_s() - cpu0:.1f} s CPU in all)")
                if not args.skip_fetch:
                    dest = Path(tmp) / "fetch"
                    dest.mkdir()
                    r = _run_child(dict(base, client="fetch", n=FETCH_CES, m=FETCH_JOBS, rounds=1,
                                        dest=str(dest), file_bytes=args.file_bytes), args.child_timeout)
                    shutil.rmtree(dest)
                    curl_dir = Path(tmp) / "curl"
                    curl_dir.mkdir()
                    curl_wall, curl_files = _curl_floor(servers.ports, ca_dir, curl_dir)
                    shutil.rmtree(curl_dir)
                    print(f"\nfetch: {FETCH_CES} fake CEs x {FETCH_JOBS} finished jobs x {FETCH_FILES} files of "
                          f"{args.file_bytes} B")
                    print("| client | files | wall s | files/s | MB/s | CPU s | threads | fds | peak RSS MiB |"
                          " loop lag p99 ms |\n|---|---|---|---|---|---|---|---|---|---|")
                    if isinstance(r, str):
                        print(f"| ours | {r} |")
                    else:
                        print(f"| ours | {r['files']} | {r['wall_s']:.2f} | {r['files'] / r['wall_s']:,.0f} | "
                              f"{r['bytes'] / r['wall_s'] / 1e6:.2f} | {r['cpu_s']:.2f} | {r['threads']} | "
                              f"{r['fds']} | {_mib(r['peak_kib'])} | {r['lag_p99_ms']:.1f} |")
                    print(f"| curl, one process per CE (floor) | {curl_files} | {curl_wall:.2f} | "
                          f"{curl_files / curl_wall:,.0f} | {curl_files * args.file_bytes / curl_wall / 1e6:.2f} |"
                          " - | - | - | - | - |")
            finally:
                servers.close()
        if args.real:
            _real(args, overrides)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    return 0


def _real(args: argparse.Namespace, overrides: dict[str, Any]) -> None:
    from arc_intercede import ARCBackend, ARCConfig, SubmissionSpec

    cfg = ARCConfig.from_file(args.real)

    async def submit() -> list[str]:
        async with ARCBackend(cfg) as ce:
            return list((await ce.submit(SubmissionSpec(executable="/bin/true"), count=5)).ids.values())

    real_ids = asyncio.run(submit())
    try:
        print(f"\nreal CE {cfg.endpoint}: {len(real_ids)} real jobs + made-up ids, rounds={args.rounds}")
        base = {"real": str(args.real), "real_ids": real_ids, "set": overrides, "switch": args.switch_interval}
        _scale(args, base, [(int(n), args.real_ids) for n in args.real_backends.split(",")])
    finally:
        async def cleanup() -> None:
            async with ARCBackend(cfg) as ce:
                await ce.kill(real_ids)
                await asyncio.sleep(10)
                await ce.purge(real_ids)

        asyncio.run(cleanup())


if __name__ == "__main__":
    sys.exit(main())
