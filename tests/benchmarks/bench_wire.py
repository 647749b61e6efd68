"""Benchmark: wire format for parsed descriptions - bulk creation time and byte-exactness, ADL vs A-REX xRSL.

Usage (stack up, proxy config; inside the stack lock)::

    python -m tests.benchmarks.bench_wire --client-config /var/lib/arc-intercede/state/proxy/client.yaml \
        [--n 100] [--rounds 3]

Creates N ``/bin/echo`` jobs with hostile arguments (``"``, ``'``, ``(*``, ``<&>``, backslash,
non-ASCII; ``$`` and backticks are expanded by A-REX's job script in either format, as with ``arcsub``)
three ways, each in one creation request (N <= 100):

* ``adl``: ``ARCBackend.submit_descriptions(wire="adl")``, one ``ActivityDescriptions`` body;
* ``xrsl``: ``ARCBackend.submit_descriptions(wire="xrsl")``, one multi-xRSL ``+(&…)(&…)`` body;
* ``adl+instances``: REST 1.1 ``instances=N`` with one ``ActivityDescription`` (only for N copies of
  one description, which is this benchmark's case; A-REX refuses it with a bulk body).

Each line gives the creation time (preparation and the request; the same delegation for all), then
one job of each is run and its stdout compared with the arguments byte for byte. The other jobs are
killed, and all are purged once terminal. A report, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from arc_intercede import ARCBackend, JobStatus
from arc_intercede.descriptions.prepare import prepare, to_wire
from arc_intercede.descriptions.xrsl import parse_xrsl
from tests.contract.helpers import wait_terminal

ARGS = ('a"b', "it's", "x (* y *) z", "<&>", "é✓", "  two  spaces ", "back\\slash")


def _job_text() -> str:
    quoted = " ".join('"' + a.replace('"', '""') + '"' for a in ARGS)
    return f"&(executable=/bin/echo)(arguments={quoted})(stdout=o)(jobname=wire)"


async def _instances(ce: ARCBackend, n: int) -> tuple[list[str], int]:
    """Create N copies with REST 1.1 ``instances``; return the ids and the failures."""
    pool = ce._open_pool()
    delegation = await ce._delegator.ensure() if ce._delegator is not None else None
    body = to_wire([prepare(parse_xrsl(_job_text())[0]).job], language="adl", delegation_id=delegation)
    params = {"action": "new", "instances": str(n)}
    if delegation:
        params["delegation_id"] = delegation

    def post(client: object) -> tuple[int, str]:
        return client._requestJSON(  # type: ignore[attr-defined, no-any-return]
            "POST", "/jobs", data=body.encode("utf-8"), headers={"Content-Type": "application/xml"}, params=params)

    status, text = await pool.call(post, "create jobs with instances")
    if status != 201:
        raise SystemExit(f"instances={n}: {status} {text[:200]}")
    replies = json.loads(text)["job"]
    replies = replies if isinstance(replies, list) else [replies]
    ids = [r["id"] for r in replies if int(r["status-code"]) == 201]
    return ids, len(replies) - len(ids)


async def run(config: Path, n: int, rounds: int) -> None:
    async with ARCBackend(config) as ce:
        print(f"{n} jobs per row, one creation request each, REST {ce.api_version}, hostile arguments {ARGS!r}")
        expected = " ".join(ARGS) + "\n"
        warm = list((await ce.submit_descriptions(parse_xrsl(_job_text()), matchmaking=False)).ids.values())
        await ce.kill(warm)  # it only warmed the delegation and the connection
        print(f"{'wire':15}{'created':>9}{'seconds':>9}{'jobs/s':>8}{'failed':>8}  byte-exact")
        order = ["adl", "xrsl", "adl+instances"]
        times: dict[str, list[float]] = {w: [] for w in order}
        for wire in [w for r in range(rounds) for w in (order if r % 2 == 0 else order[::-1])]:
            t0 = time.perf_counter()
            if wire == "adl+instances":
                ids, failed = await _instances(ce, n)
            else:
                sub = await ce.submit_descriptions(parse_xrsl(_job_text()) * n, matchmaking=False, wire=wire)
                ids, failed = list(sub.ids.values()), len(sub.failures)
            took = time.perf_counter() - t0
            times[wire].append(took)
            exact = "n/a"
            if ids:
                first = ids[0]
                await ce.kill(ids[1:])
                states = await wait_terminal(ce, [first])
                if states[first] is JobStatus.DONE:
                    with tempfile.TemporaryDirectory() as tmp:
                        out = (await ce.fetch_output([first], Path(tmp)))[first]
                        got = out.stdout.read_text(encoding="utf-8") if out.stdout else ""
                        exact = "yes" if got == expected else f"NO: {got!r}"
                else:
                    exact = f"job {states[first].value}"
                await wait_terminal(ce, ids)
                await ce.purge(ids)
            print(f"{wire:15}{len(ids):>5}/{n:<3}{took:>9.2f}{n / took:>8.1f}{failed:>8}  {exact}")
        await wait_terminal(ce, warm)
        await ce.purge(warm)
        if rounds > 1:
            print("median seconds: " + ", ".join(f"{w} {statistics.median(t):.2f}" for w, t in times.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client-config", type=Path, required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=1, help="repeat the rows, every other round in reverse order")
    args = ap.parse_args()
    asyncio.run(run(args.client_config, args.n, args.rounds))


if __name__ == "__main__":
    main()
