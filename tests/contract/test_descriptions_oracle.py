"""Differential suite: our xRSL/ADL readers against ARC 7's own parser (python3-nordugrid-arc in the stack chroot).

Needs only the stack's chroot, not its daemons (no stack lock). Every corpus description and every
Hypothesis-generated one is parsed by both; the verdicts must agree and, where both accept, the
meaning must agree field by field (tests/descriptions/oracle.py lists the fields). The documented
differences (README, "Job descriptions") are in KNOWN, each checked to be exactly that difference.
In CI a missing chroot is a failure, never a skip. All corpus descriptions go to ARC in one process.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arc_intercede.descriptions.model import DescriptionSyntaxError, JobDescription
from arc_intercede.descriptions.prepare import parse_description
from arc_intercede.descriptions.xrsl import parse_xrsl, write_xrsl
from tests.descriptions import strategies
from tests.descriptions.oracle import CORPUS, compare, oracle_available, run_oracle

KNOWN: dict[str, tuple[str, str]] = {
    # name: (our verdict, reason) - ARC gives the other verdict
    "arc-test-job-1.xrsl": ("reject", "CPUTime=%d (an unsubstituted arctest template): ARC reads 0 s"),
    "mangled-walltime-decimal": ("reject", "walltime 1.5: ARC reads 0 s"),
    "mangled-walltime-colon": ("reject", "walltime 1:30: ARC reads 0 s"),
    "mangled-walltime-leading-text": ("reject", "walltime 'hours 5': ARC ignores the word"),
    "mangled-memory-unit": ("reject", "memory 2GB: ARC reads 2 MB"),
    "mangled-priority": ("reject", "priority 'high': ARC reads 0"),
    "comment-open-in-string": ("accept", "'(*' inside a quoted string is text, not a comment"),
    "comment-open-in-string-paired": ("accept", "'(*' inside a quoted string is text, not a comment"),
    "adl-bulk-root": ("accept", "the ActivityDescriptions bulk body that A-REX accepts"),
}


def _corpus() -> list[tuple[str, str]]:
    cases = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(CORPUS.iterdir())
             if p.suffix in (".xrsl", ".adl")]
    for synthetic in sorted(CORPUS.glob("synthetic-*.json")):
        cases += [(c["name"], c["text"]) for c in json.loads(synthetic.read_text(encoding="utf-8"))]
    return cases


CASES = _corpus()


def _require_oracle() -> None:
    reason = oracle_available()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI: ARC's parser is not available: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def arc_readings() -> dict[str, dict[str, Any]]:
    _require_oracle()
    results, _ = run_oracle([{"text": text} for _, text in CASES])
    return {name: r for (name, _), r in zip(CASES, results, strict=True)}


def _ours(text: str) -> tuple[list[JobDescription] | None, str]:
    try:
        return parse_description(text, base_dir=Path("/nonexistent")), ""
    except DescriptionSyntaxError as exc:
        return None, str(exc)


def test_corpus_is_recorded() -> None:
    manifest = {e["file"] for e in json.loads((CORPUS / "MANIFEST.json").read_text(encoding="utf-8"))}
    files = {p.name for p in CORPUS.iterdir() if p.suffix in (".xrsl", ".adl")}
    assert files == manifest, "every corpus file has its origin in MANIFEST.json"
    assert len(CASES) >= 150


@pytest.mark.parametrize(("name", "text"), CASES, ids=[n for n, _ in CASES])
def test_same_verdict_and_meaning_as_arc(name: str, text: str, arc_readings: dict[str, dict[str, Any]]) -> None:
    arc = arc_readings[name]
    ours, error = _ours(text)
    if name in KNOWN:
        verdict, reason = KNOWN[name]
        assert (ours is not None) == (verdict == "accept"), f"documented difference changed ({reason}): {error}"
        assert arc["ok"] == (verdict == "reject"), f"ARC no longer differs here ({reason})"
        return
    assert (ours is not None) == arc["ok"], f"ours: {error or 'accepted'} | ARC: {arc['error'] or 'accepted'}"
    if ours is not None:
        assert compare(ours, arc["jobs"]) == []
    else:
        assert error  # one clear line
        assert "\n" not in error


@settings(max_examples=10, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(strategies.xrsl_texts(), min_size=8, max_size=8))
def test_generated_descriptions_agree_with_arc_and_round_trip(batch: list[tuple[JobDescription, str]]) -> None:
    _require_oracle()
    written = [write_xrsl(job) for job, _ in batch]
    texts = [text for _, text in batch] + written
    results, _ = run_oracle([{"text": t} for t in texts])
    for k, (text, arc) in enumerate(zip(texts, results, strict=True)):
        assert arc["ok"], f"ARC refused a generated description: {arc['error']}\n{text}"
        ours = parse_xrsl(text)
        assert compare(ours, arc["jobs"]) == [], text
        job = batch[k % len(batch)][0]
        assert ours[0].to_json() == job.to_json(), "our reading is the job the text was written from"


def test_our_adl_means_the_prepared_job_to_arc() -> None:
    """What we send (ADL) is read by ARC's own ADL parser as exactly the job we prepared."""
    _require_oracle()
    from arc_intercede.descriptions.adl import write_adl
    from arc_intercede.descriptions.prepare import prepare

    prepared: list[JobDescription] = []
    for _name, text in CASES:
        ours, _ = _ours(text)
        for job in ours or []:
            try:
                ready = prepare(job, check_files=False).job
                ready = dataclasses.replace(
                    ready, runtime_environments=tuple(r for r in ready.runtime_environments if r.op == "="),
                    outputs=tuple(dataclasses.replace(o, options=tuple(p for p in o.options
                                                                       if p != ("mandatory", "false")))
                                  for o in ready.outputs))
                write_adl(ready)
            except DescriptionSyntaxError:
                continue
            prepared.append(ready)
    assert len(prepared) >= 80
    results, _ = run_oracle([{"text": write_adl(j)} for j in prepared])
    for job, arc in zip(prepared, results, strict=True):
        assert arc["ok"], arc["error"]
        for out in arc["jobs"][0]["outputs"]:  # ARC's ADL reader adds mandatory=false to every target
            for t in out["targets"]:
                if t.get("options", {}).get("mandatory") == "false":
                    del t["options"]["mandatory"]
        # inputs: local ones go without a Source in ADL (uploaded), which ARC reads as file:NAME
        diffs = [d for d in compare([job], arc["jobs"]) if "inputs" not in d]
        assert diffs == [], write_adl(job)
