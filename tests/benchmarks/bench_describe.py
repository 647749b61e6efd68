"""Benchmark: parse + prepare throughput for 10 000 job descriptions, ours vs ARC 7's own parser.

Usage (needs the stack chroot, not its daemons; root)::

    python -m tests.benchmarks.bench_describe [--n 10000] [--repeat 3]

The descriptions are the differential corpus (tests/descriptions/corpus: ARC's own test descriptions,
the Slurm back-end tests, synthetic hostile ones; xRSL and ADL) that both parsers accept, cycled to N.

* ``ours``: ``parse_description`` + ``prepare(check_files=False)`` per description, in this process;
* ``ARC``: ``arc.JobDescription.Parse`` + ``JobDescription.Prepare()`` per description through ARC's Python
  bindings (python3-nordugrid-arc 7.0.0 in the stack chroot), timed inside that process (its start-up
  excluded), in the same cwd (no local files exist for either, so both check and report the same).

Prints the median seconds, descriptions per second and the ratio. A report, not a test.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import time

from arc_intercede.descriptions.model import DescriptionSyntaxError
from arc_intercede.descriptions.prepare import parse_description, prepare
from tests.descriptions.oracle import CORPUS, RUNNER

_ARC = r"""
import json, os, sys, tempfile, time, arc
data = json.load(sys.stdin)
os.chdir(tempfile.mkdtemp())
arc.Logger.getRootLogger().setThreshold(arc.FATAL)
times = []
for _ in range(data["repeat"]):
    t0 = time.perf_counter()
    for text in data["texts"]:
        jobs = arc.JobDescriptionList()
        if arc.JobDescription.Parse(text, jobs):
            for j in jobs:
                arc.JobDescription(j).Prepare()
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def corpus_texts() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.iterdir()) if p.suffix in (".xrsl", ".adl")]
    for synthetic in sorted(CORPUS.glob("synthetic-*.json")):
        texts += [c["text"] for c in json.loads(synthetic.read_text(encoding="utf-8"))]
    ok = []
    for text in texts:
        try:
            jobs = parse_description(text)
        except DescriptionSyntaxError:
            continue
        if all(j.executable for j in jobs) and not text.lstrip().startswith("<ActivityDescriptions"):
            ok.append(text)
    return ok


def ours(texts: list[str]) -> float:
    t0 = time.perf_counter()
    for text in texts:
        for job in parse_description(text):
            try:
                prepare(job, check_files=False)
            except DescriptionSyntaxError:
                pass  # e.g. a relative executable that is not a local file: reported, as ARC's Prepare fails
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    logging.getLogger("arc_intercede").setLevel(logging.ERROR)  # ARC's log is off too
    base = corpus_texts()
    texts = (base * (args.n // len(base) + 1))[: args.n]
    proc = subprocess.run([str(RUNNER), "exec", "python3", "-c", _ARC], check=True, capture_output=True, text=True,
                          input=json.dumps({"texts": texts, "repeat": args.repeat}))
    arc_times = json.loads(proc.stdout.strip().splitlines()[-1])
    our_times = [ours(texts) for _ in range(args.repeat)]
    o, a = statistics.median(our_times), statistics.median(arc_times)
    print(f"{args.n} descriptions ({len(base)} distinct corpus texts, xRSL and ADL), parse + prepare, "
          f"median of {args.repeat}")
    print(f"{'':12}{'seconds':>10}{'desc/s':>12}")
    print(f"{'ours':12}{o:>10.3f}{args.n / o:>12.0f}")
    print(f"{'ARC 7 (C++)':12}{a:>10.3f}{args.n / a:>12.0f}")
    print(f"ratio ours/ARC time: {o / a:.2f} (ours {'faster' if o < a else 'slower'})")


if __name__ == "__main__":
    main()
