from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from arc_intercede.cli.jobstore import JobRecord, JobStore, default_store_path

EP = "https://ce.example.org:443/arex"


def rec(job_id: str, ce: str = "local", endpoint: str = EP, tag: str | None = None) -> JobRecord:
    return JobRecord.now(job_id, ce=ce, endpoint=endpoint, tag=tag)


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARC_INTERCEDE_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "arc-intercede" / "jobs.jsonl"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "state" / "arc-intercede" / "jobs.jsonl"
    monkeypatch.setenv("ARC_INTERCEDE_STATE", str(tmp_path / "st"))
    assert default_store_path() == tmp_path / "st" / "jobs.jsonl"


def test_append_read_forget(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "state" / "jobs.jsonl")
    assert store.records() == []
    store.add([rec("a", tag="t1"), rec("b"), rec("c", ce="other", endpoint="https://other/arex")])
    assert [r.job_id for r in store.records()] == ["a", "b", "c"]
    assert [r.job_id for r in store.jobs(endpoint=EP + "/")] == ["a", "b"]
    first = store.records()[0]
    assert first.tag == "t1"
    assert first.ce == "local"
    assert first.submitted.endswith("+00:00")
    store.forget(["a", "zzz"])
    assert [r.job_id for r in store.records()] == ["b", "c"]
    lines = store.path.read_text().splitlines()
    assert json.loads(lines[-2]) == {"job_id": "a", "forgotten": True}
    assert set(json.loads(lines[0])) == {"job_id", "ce", "endpoint", "submitted", "tag"}
    assert (store.path.stat().st_mode & 0o777) == 0o600
    store.add([rec("a")])  # re-added after being forgotten
    assert [r.job_id for r in store.records()] == ["b", "c", "a"]


def _worker(path: str, worker: int, n: int) -> None:
    store = JobStore(Path(path))
    for i in range(n):
        store.add([rec(f"w{worker}-{i}-x"), rec(f"w{worker}-{i}-y")])
        if i % 5 == 0:
            store.records()


def test_concurrent_appends_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(path), w, 50)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    ids = [r.job_id for r in JobStore(path).records()]
    assert len(ids) == 6 * 50 * 2
    assert set(ids) == {f"w{w}-{i}-{s}" for w in range(6) for i in range(50) for s in "xy"}
    for w in range(6):  # each writer's records stay in its own order
        mine = [j for j in ids if j.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}-{s}" for i in range(50) for s in "xy"]


def test_torn_last_line_is_skipped_and_next_append_is_safe(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JobStore(tmp_path / "jobs.jsonl")
    store.add([rec("a"), rec("b")])
    with store.path.open("ab") as fh:
        fh.write(b'{"job_id": "c", "ce": "lo')  # an interrupted write
    with caplog.at_level(logging.WARNING, logger="arc_intercede.jobstore"):
        assert [r.job_id for r in store.records()] == ["a", "b"]
    assert "torn last line" in caplog.text
    store.add([rec("d")])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="arc_intercede.jobstore"):
        assert [r.job_id for r in store.records()] == ["a", "b", "d"]
    assert "unreadable line 3" in caplog.text


def test_complete_record_without_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text(json.dumps(rec("a").to_json()))
    os.chmod(path, 0o600)
    store = JobStore(path)
    assert [r.job_id for r in store.records()] == ["a"]
    store.add([rec("b")])
    assert [r.job_id for r in store.records()] == ["a", "b"]


def test_garbage_lines_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('[1, 2]\n{"job_id": "x"}\n\n{"job_id": "a", "ce": "c", "endpoint": "e"}\n')
    with caplog.at_level(logging.WARNING, logger="arc_intercede.jobstore"):
        records = JobStore(path).records()
    assert [(r.job_id, r.submitted, r.tag) for r in records] == [("a", "", None)]
    assert "not a JSON object" in caplog.text
    assert "without 'ce'" in caplog.text
