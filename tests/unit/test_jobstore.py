from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import pickle
import sqlite3
from pathlib import Path

import pytest

from arc_intercede.cli.jobstore import JobRecord, JobStore, JobStoreError, default_store_path
from arc_intercede.cli.jobstore_jsonl import JsonlJobStore
from tests.unit.conftest import sqlite_file

EP = "https://ce.example.org:443/arex"


def rec(job_id: str, ce: str = "local", endpoint: str = EP, tag: str | None = None, **extra: str) -> JobRecord:
    return JobRecord.now(job_id, ce=ce, endpoint=endpoint, tag=tag, **extra)


def ids(records: list[JobRecord]) -> list[str]:
    return [r.job_id for r in records]


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ARC_INTERCEDE_STATE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "arc-intercede" / "jobs.db"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local" / "state" / "arc-intercede" / "jobs.db"
    monkeypatch.setenv("ARC_INTERCEDE_STATE", str(tmp_path / "st"))
    assert default_store_path() == tmp_path / "st" / "jobs.db"
    store = JobStore(tmp_path / "st" / "jobs.jsonl")  # the former file's name selects the same list
    assert (store.path, store.legacy_path) == (tmp_path / "st" / "jobs.db", tmp_path / "st" / "jobs.jsonl")
    assert JobStore().path == tmp_path / "st" / "jobs.db"


def test_add_read_forget(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "state" / "jobs.db")
    assert store.records() == []
    store.add([rec("a", tag="t1"), rec("b"), rec("c", ce="other", endpoint="https://other/arex")])
    assert ids(store.records()) == ["a", "b", "c"]
    assert ids(store.jobs(endpoint=EP + "/")) == ["a", "b"]
    first = store.records()[0]
    assert (first.tag, first.name, first.ce) == ("t1", "t1", "local")
    assert first.submitted.endswith("+00:00")
    assert store.forget(["a", "zzz"]) == 1
    assert ids(store.records()) == ["b", "c"]
    assert (store.path.stat().st_mode & 0o777) == 0o600
    assert (store.path.parent.stat().st_mode & 0o777) == 0o700
    store.add([rec("a")])  # re-added after being forgotten: at the end
    store.add([rec("b", tag="again")])  # re-added while known: replaced, at the end
    assert ids(store.records()) == ["c", "a", "b"]
    assert store.lookup(["b"])["b"].tag == "again"
    assert ids(JobStore(store.path).records()) == ["c", "a", "b"]  # another process sees the same
    assert store.count() == 3 and store.count(endpoint=EP) == 2


def test_description_lineage_state_and_lookups(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    adl = "<ActivityDescription>\n  <Name>it's #1 100%</Name>\n</ActivityDescription>\n"
    store.add([rec("old", tag="sim-1", description=adl, description_format="adl"), rec("x", tag="other-1")])
    store.add([rec("new", tag="sim-1", description=adl, description_format="adl", predecessor="old")])
    got = store.get("new")
    assert got is not None
    assert (got.description, got.description_format, got.predecessor) == (adl, "adl", "old")
    old = store.get("old")
    assert old is not None and old.successor == "new"
    assert ids(store.lineage("old")) == ids(store.lineage("new")) == ["old", "new"]
    assert store.lineage("nope") == []
    assert all(r.description is None for r in store.records())  # listings leave descriptions out
    assert [r.description for r in store.records(descriptions=True)] == [adl, None, adl]

    assert store.set_states({"old": "failed", "gone": "done"}, arc_states={"old": "FAILED", "x": "INLRMS:Q"},
                            when="2026-01-01T00:00:00+00:00") == 2
    old = store.get("old")
    assert old is not None
    assert (old.state, old.arc_state, old.state_time) == ("failed", "FAILED", "2026-01-01T00:00:00+00:00")
    x = store.get("x")
    assert x is not None and (x.state, x.arc_state) == (None, "INLRMS:Q")
    assert ids(store.jobs(states=["failed"])) == ["old"]
    assert store.jobs(states=[]) == []
    assert ids(store.jobs(name="sim-*")) == ["old", "new"]
    assert ids(store.jobs(name="sim-*", endpoint="https://elsewhere/arex")) == []

    found = store.lookup(["x", "missing", "old", "x"])
    assert list(found) == ["x", "old"]  # the order given, unknown ids absent, each once
    many = [f"m{i}" for i in range(1_200)]  # more than one IN (...) chunk
    store.add(rec(j) for j in many)
    assert list(store.lookup(reversed(many))) == many[::-1]
    assert store.forget(many) == 1_200
    assert store.get("x") is not None and store.get("m1") is None


def test_forgotten_jobs_do_not_grow_the_file(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    store.add([rec("keep")])
    small = store.path.stat().st_size
    text = "<ActivityDescription>" + "x" * 2_000 + "</ActivityDescription>"
    for cycle in range(5):
        batch = [rec(f"c{cycle}-{i}", description=text) for i in range(500)]
        store.add(batch)
        big = store.path.stat().st_size
        assert big > 500 * 2_000
        store.forget(r.job_id for r in batch)
        after = store.path.stat().st_size
        assert after <= small + 16 * 4096, (cycle, small, big, after)
    assert ids(store.records()) == ["keep"]
    db = sqlite3.connect(store.path)
    assert db.execute("SELECT count(*) FROM descriptions").fetchone()[0] == 0
    db.close()


def _worker(path: str, worker: int, n: int) -> None:
    store = JobStore(Path(path))
    for i in range(n):
        store.add([rec(f"w{worker}-{i}-x"), rec(f"w{worker}-{i}-y", description="d" * 100)])
        store.forget([f"w{worker}-{i}-y"] if i % 2 else [])
        if i % 5 == 0:
            store.jobs(endpoint=EP)
            store.set_states({f"w{worker}-{i}-x": "running"})


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(str(path), w, 40)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    store = JobStore(path)
    got = ids(store.records())
    want = {f"w{w}-{i}-x" for w in range(6) for i in range(40)} | {
        f"w{w}-{i}-y" for w in range(6) for i in range(40) if i % 2 == 0}
    assert len(got) == len(want) and set(got) == want
    for w in range(6):  # each writer's records stay in its own order
        mine = [j for j in got if j.startswith(f"w{w}-")]
        assert mine == [f"w{w}-{i}-{s}" for i in range(40) for s in "xy" if s == "x" or i % 2 == 0]
    assert {r.job_id for r in store.jobs(states=["running"])} == {f"w{w}-{i}-x" for w in range(6)
                                                                   for i in range(0, 40, 5)}


# --- migration of the former jobs.jsonl ---------------------------------------------------------------------------


def _legacy(path: Path) -> bytes:
    old = JsonlJobStore(path)
    old.add([rec("a", tag="t1"), rec("b"), rec("c", ce="other", endpoint="https://other/arex")])
    old.forget(["b"])
    old.add([rec("a", tag="t2"), rec("d")])
    with path.open("ab") as fh:
        fh.write(b'{"job_id": "e", "ce": "lo')  # a torn last line
    return path.read_bytes()


def test_migration_keeps_every_job_and_the_old_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    legacy = tmp_path / "jobs.jsonl"
    data = _legacy(legacy)
    before = JsonlJobStore(legacy).records()
    assert ids(before) == ["c", "a", "d"]
    with caplog.at_level(logging.INFO, logger="arc_intercede.cli.jobstore"):
        store = JobStore(legacy)
        after = store.records()
    assert [r.to_json() for r in after] == [r.to_json() for r in before]
    assert "moved 3 jobs" in caplog.text and "torn last line" in caplog.text
    assert not legacy.exists()
    kept = tmp_path / "jobs.jsonl.migrated"
    assert kept.read_bytes() == data  # nothing deleted, the torn line included
    assert JobStore(tmp_path / "jobs.db").records() == after  # migrated once
    # an older version wrote a new jobs.jsonl meanwhile: merged too, kept beside the first
    JsonlJobStore(legacy).add([rec("f")])
    JsonlJobStore(legacy).forget(["c"])
    assert ids(JobStore(tmp_path / "jobs.db").records()) == ["a", "d", "f"]
    assert (tmp_path / "jobs.jsonl.migrated.2").exists() and kept.read_bytes() == data


def _open_and_count(path: str, queue: multiprocessing.Queue[int]) -> None:
    queue.put(JobStore(Path(path)).count())


def test_concurrent_first_use_migrates_once(tmp_path: Path) -> None:
    legacy = tmp_path / "jobs.jsonl"
    JsonlJobStore(legacy).add(rec(f"j{i}") for i in range(2_000))
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int] = ctx.Queue()
    procs = [ctx.Process(target=_open_and_count, args=(str(legacy), queue)) for _ in range(5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    assert sorted(queue.get(timeout=10) for _ in procs) == [2_000] * 5
    assert ids(JobStore(legacy).records()) == [f"j{i}" for i in range(2_000)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.db", "jobs.jsonl.migrated"]


def test_migration_skips_unparseable_lines_and_keeps_them(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jobs.jsonl"
    path.write_text('[1, 2]\n{"job_id": "x"}\n\n{"job_id": "a", "ce": "c", "endpoint": "e"}\nnot json\n'
                    '{"job_id": "b", "ce": "c", "endpoint": "e"}')  # a complete last record without newline
    data = path.read_bytes()
    with caplog.at_level(logging.WARNING, logger="arc_intercede.cli.jobstore"):
        records = JobStore(path).records()
    assert [(r.job_id, r.submitted, r.tag) for r in records] == [("a", "", None), ("b", "", None)]
    assert "not a JSON object" in caplog.text and "without 'ce'" in caplog.text and "unreadable line 5" in caplog.text
    assert (tmp_path / "jobs.jsonl.migrated").read_bytes() == data


# --- bad files ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"this is not a database\n" * 100, b'{"job_id": "a"}\n',
                                     b"SQLite format 3\x00" + b"\xff" * 4000])
def test_corrupt_file_is_a_one_line_error_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "jobs.db"
    path.write_bytes(content)
    store = JobStore(path)
    for call in (store.records, lambda: store.add([rec("a")]), lambda: store.forget(["a"]),
                 lambda: store.lookup(["a"])):
        with pytest.raises(JobStoreError) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: ") and "left untouched" in message
        assert isinstance(info.value, OSError) and info.value.filename == str(path)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jobs.db"]


def test_damaged_pages_are_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "jobs.db"
    store = JobStore(path)
    store.add(rec(f"j{i}", description="d" * 300) for i in range(300))
    store.close()
    data = bytearray(path.read_bytes())
    for page in range(1, len(data) // 4096):  # every page after the first: garbage
        data[page * 4096:(page + 1) * 4096] = b"\xa5" * 4096
    path.write_bytes(bytes(data))
    with pytest.raises(JobStoreError, match=r"not a usable job list .*left untouched") as info:
        JobStore(path).records()
    assert "\n" not in str(info.value)
    assert path.read_bytes() == bytes(data)


def test_other_sqlite_database_or_newer_format_is_refused(tmp_path: Path) -> None:
    other = sqlite_file(tmp_path / "other.db", "CREATE TABLE jobs(id)")
    data = other.read_bytes()
    with pytest.raises(JobStoreError, match="another program's SQLite database"):
        JobStore(other).records()
    assert other.read_bytes() == data
    newer = tmp_path / "jobs.db"
    JobStore(newer).add([rec("a")])
    sqlite_file(newer, "PRAGMA user_version = 99")
    with pytest.raises(JobStoreError, match="format 99 is newer"):
        JobStore(newer).records()


def test_error_is_picklable_and_an_oserror(tmp_path: Path) -> None:
    err = JobStoreError(tmp_path / "x", "reason")
    assert (err.filename, err.strerror, str(err)) == (str(tmp_path / "x"), "reason", f"{tmp_path / 'x'}: reason")
    assert isinstance(err, OSError)
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is JobStoreError and str(copy) == str(err)


# --- the former format's reader (used by the migration) --------------------------------------------------------------


def test_jsonl_reader_torn_last_line_and_next_append(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = JsonlJobStore(tmp_path / "jobs.jsonl")
    store.add([rec("a"), rec("b")])
    with store.path.open("ab") as fh:
        fh.write(b'{"job_id": "c", "ce": "lo')  # an interrupted write
    with caplog.at_level(logging.WARNING, logger="arc_intercede.cli.jobstore"):
        assert ids(store.records()) == ["a", "b"]
    assert "torn last line" in caplog.text
    store.add([rec("d")])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="arc_intercede.cli.jobstore"):
        assert ids(store.records()) == ["a", "b", "d"]
    assert "unreadable line 3" in caplog.text
    lines = store.path.read_text().splitlines()
    assert set(json.loads(lines[0])) == {"job_id", "ce", "endpoint", "submitted", "tag"}
    assert os.stat(store.path).st_mode & 0o777 == 0o600


def test_records_from_the_store_are_ordinary_frozen_records(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    made = JobRecord(job_id="a", ce="c", endpoint=EP, submitted="s", tag="t", description="d",
                     description_format="xrsl", predecessor="p", successor="q", state="done", arc_state="FINISHED",
                     state_time="w")
    store.add([made])
    got = store.get("a")
    assert got == made and hash(got) == hash(made)
    assert store.records()[0] == dataclasses.replace(made, description=None, description_format=None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.tag = "x"  # type: ignore[misc, union-attr]


def test_lookups_before_the_first_job_create_nothing(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "state" / "jobs.db")
    assert (store.records(), store.lookup(["a"]), store.count(), store.get("a")) == ([], {}, 0, None)
    assert not (tmp_path / "state").exists()
    store.add([rec("a")])
    assert ids(store.records()) == ["a"]
