"""Benchmark: wire format for parsed descriptions - bulk creation time and byte-exactness, ADL vs A-REX xRSL.

Usage (stack up, proxy config; inside the stack lock)::

    python -m tests.benchmarks.bench_wire --client-config /var/lib/arc-intercede/state/proxy/client.yaml [--n 100]

Creates N ``/bin/echo`` jobs with hostile arguments (``"``, ``'``, ``(*``, ``<&>``, backslash,
non-ASCII; ``$`` and backticks are expanded by A-REX's job script in either format, as with ``arcsub``)
through ``ARCBackend.submit_descriptions`` once with ``wire="adl"`` (one
``ActivityDescriptions`` request per 100 jobs) and once with ``wire="xrsl"`` (multi-xRSL), prints the
creation time of each, then runs one job of each and compares its stdout with the arguments byte for byte.
All jobs are purged. A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from arc_intercede import ARCBackend, JobStatus
from arc_intercede.descriptions.xrsl import parse_xrsl
from tests.contract.helpers import wait_terminal

ARGS = ('a"b', "it's", "x (* y *) z", "<&>", "é✓", "  two  spaces ", "back\\slash")


def _job_text() -> str:
    quoted = " ".join('"' + a.replace('"', '""') + '"' for a in ARGS)
    return f"&(executable=/bin/echo)(arguments={quoted})(stdout=o)(jobname=wire)"


async def run(config: Path, n: int) -> None:
    async with ARCBackend(config) as ce:
        base = parse_xrsl(_job_text())
        print(f"{n} jobs, one bulk creation path, hostile arguments {ARGS!r}")
        expected = " ".join(ARGS) + "\n"
        for wire in ("adl", "xrsl"):
            t0 = time.perf_counter()
            sub = await ce.submit_descriptions(base * n, matchmaking=False, wire=wire)
            took = time.perf_counter() - t0
            ids = list(sub.ids.values())
            first = ids[0] if ids else None
            exact = "n/a"
            if first is not None:
                await ce.kill(ids[1:])
                states = await wait_terminal(ce, [first])
                if states[first] is JobStatus.DONE:
                    with tempfile.TemporaryDirectory() as tmp:
                        out = (await ce.fetch_output([first], Path(tmp)))[first]
                        got = out.stdout.read_text(encoding="utf-8") if out.stdout else ""
                        exact = "yes" if got == expected else f"NO: {got!r}"
                else:
                    exact = f"job {states[first].value}"
            print(f"{wire:5} created {len(ids)}/{n} in {took:6.2f} s ({n / took:6.1f} jobs/s); "
                  f"failures {len(sub.failures)}; byte-exact: {exact}")
            await ce.purge(ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client-config", type=Path, required=True)
    ap.add_argument("--n", type=int, default=100)
    args = ap.parse_args()
    asyncio.run(run(args.client_config, args.n))


if __name__ == "__main__":
    main()
