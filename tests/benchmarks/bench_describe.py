"""Benchmark: parse (+ prepare) throughput for 10 000 job descriptions, ours vs ARC 7's own parser.

Usage (needs the stack chroot, not its daemons; root)::

    python -m tests.benchmarks.bench_describe [--n 10000] [--repeat 5]

The descriptions are the differential corpus (tests/descriptions/corpus: ARC's own test descriptions,
the Slurm back-end tests, synthetic hostile ones; xRSL and ADL) that both parsers accept, cycled to N.

Both sides run in one long-lived process each, in the same way, and are timed around the loop only
(process start-up, imports and ARC's plugin loading excluded by a warm-up parse):

* ``ours``: ``parse_description`` (+ ``prepare(check_files=False)``) per description, in this process;
* ``ARC 7``: ``arc.JobDescription.Parse`` (+ ``JobDescription.Prepare()``) per description through ARC's
  Python bindings (python3-nordugrid-arc 7.0.0, C++ behind SWIG) in the stack chroot, in an empty cwd
  (no local files exist for either, so both check and report the same). Logging is off on both sides.

The repeats alternate between the two sides, so a busy shared machine slows both alike; CPU time
(``time.process_time``) is the primary figure, wall time is printed beside it. Prints medians and
the ratio ours/ARC (below 1: ours faster). A report, not a test.
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
os.chdir(tempfile.mkdtemp())
arc.Logger.getRootLogger().setThreshold(arc.FATAL)
warm = arc.JobDescriptionList()
arc.JobDescription.Parse("&(executable=/bin/true)", warm)  # loads the parser plugins
print("ready", flush=True)
for line in sys.stdin:
    texts, with_prepare = json.loads(line)
    t0, c0 = time.perf_counter(), time.process_time()
    for text in texts:
        jobs = arc.JobDescriptionList()
        if arc.JobDescription.Parse(text, jobs) and with_prepare:
            for j in jobs:
                arc.JobDescription(j).Prepare()
    print(json.dumps([time.perf_counter() - t0, time.process_time() - c0]), flush=True)
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


def ours(texts: list[str], with_prepare: bool) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for text in texts:
        jobs = parse_description(text)
        if with_prepare:
            for job in jobs:
                try:
                    prepare(job, check_files=False)
                except DescriptionSyntaxError:
                    pass  # e.g. a relative executable that is not a local file: reported, as ARC's Prepare fails
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    logging.getLogger("arc_intercede").setLevel(logging.ERROR)  # ARC's log is off too
    base = corpus_texts()
    texts = (base * (args.n // len(base) + 1))[: args.n]
    ours(texts[:100], True)  # warm-up, as ARC's side
    arc = subprocess.Popen([str(RUNNER), "exec", "python3", "-c", _ARC], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    assert arc.stdin is not None and arc.stdout is not None
    if arc.stdout.readline().strip() != "ready":
        raise SystemExit("ARC's Python bindings did not start in the stack chroot")
    rows = []
    try:
        for with_prepare in (False, True):
            mine: list[tuple[float, float]] = []
            theirs: list[tuple[float, float]] = []
            for _ in range(args.repeat):
                arc.stdin.write(json.dumps([texts, with_prepare]) + "\n")
                arc.stdin.flush()
                theirs.append(tuple(json.loads(arc.stdout.readline())))  # type: ignore[arg-type]
                mine.append(ours(texts, with_prepare))
            rows.append(("parse + prepare" if with_prepare else "parse only", mine, theirs))
    finally:
        arc.stdin.close()
        arc.wait()
    print(f"{args.n} descriptions ({len(base)} distinct corpus texts, xRSL and ADL), median of {args.repeat} "
          "alternating runs, one warm process per side")
    print(f"{'':16}{'ours CPU s':>11}{'ARC CPU s':>11}{'ours/ARC':>10}{'ours desc/s':>13}{'ARC desc/s':>12}"
          f"{'ours wall s':>13}{'ARC wall s':>12}{'ours/ARC':>10}")
    for label, mine, theirs in rows:
        ow, oc = (statistics.median(x[k] for x in mine) for k in (0, 1))
        aw, ac = (statistics.median(x[k] for x in theirs) for k in (0, 1))
        print(f"{label:16}{oc:>11.3f}{ac:>11.3f}{oc / ac:>10.2f}{args.n / oc:>13.0f}{args.n / ac:>12.0f}"
              f"{ow:>13.3f}{aw:>12.3f}{ow / aw:>10.2f}")


if __name__ == "__main__":
    main()
