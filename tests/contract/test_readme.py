"""README examples are tests: every ```python block of README.md runs as a program against the real CE.

Each block runs in a fresh directory holding ``ce.yaml`` (the stack's client config) and ``run.sh``, as
the README says. A block that submits jobs runs twice: with a working ``run.sh`` it must exit 0 and
leave the outputs the job wrote; with a ``run.sh`` that fails it must exit non-zero and say so. The
blocks are read from README.md at test time, so the README and this test cannot drift apart.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"^```python\n(.*?)^```$", (REPO / "README.md").read_text(encoding="utf-8"), re.M | re.S)

GOOD_JOB = """#!/bin/sh
mkdir -p results
echo "events: $2" > results/summary.txt
echo "job ran on $(hostname)"
"""
BAD_JOB = """#!/bin/sh
echo "about to fail" >&2
exit 3
"""


def _run(block: str, folder: Path, client_config: Path, job: str) -> subprocess.CompletedProcess[str]:
    shutil.copyfile(client_config, folder / "ce.yaml")
    (folder / "run.sh").write_text(job)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARC_INTERCEDE")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-c", block], cwd=folder, env=env, capture_output=True, text=True, timeout=900,
        check=False,
    )


def test_readme_has_the_documented_programs() -> None:
    joined = "\n".join(BLOCKS)
    assert len(BLOCKS) >= 3
    assert "from arc_intercede.sync import ARCBackend" in joined
    assert "async with ARCBackend(config) as ce:" in joined


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=lambda i: f"block{i}")
def test_readme_block_runs_and_fails_when_its_jobs_fail(index: int, client_config_path: Path, tmp_path: Path) -> None:
    block = BLOCKS[index]
    good = tmp_path / "good"
    good.mkdir()
    done = _run(block, good, client_config_path, GOOD_JOB)
    assert done.returncode == 0, f"README block {index} failed:\n{done.stdout}\n{done.stderr}"
    if ".submit" not in block:
        return
    summaries = sorted((good / "outputs").glob("*/results/summary.txt"))
    assert summaries, f"no job outputs under {good / 'outputs'}:\n{done.stdout}\n{done.stderr}"
    assert all(p.read_text().startswith("events: ") for p in summaries)

    bad = tmp_path / "bad"
    bad.mkdir()
    failed = _run(block, bad, client_config_path, BAD_JOB)
    assert failed.returncode != 0, f"README block {index} exited 0 although its jobs failed:\n{failed.stdout}"
    assert "failed" in failed.stderr, failed.stderr
