"""fetch_output against a hostile CE over real HTTPS on loopback: containment, ceilings, memory."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from pathlib import Path

import pytest

from arc_intercede import ARCBackend, ARCConfig, Limits
from tests.fake_arex import endless, short_body


def _config(fake, **limits) -> ARCConfig:
    return ARCConfig(endpoint=fake.endpoint, ca_file=fake.ca_file, token="t", read_timeout_s=10,
                     limits=Limits(**{"max_total_bytes": 50 << 20, "max_files": 1000, "transfer_timeout_s": 30,
                                      **limits}))


def _fetch(fake, ids, dest: Path, **limits):
    async def body():
        async with ARCBackend(_config(fake, **limits)) as ce:
            return await ce.fetch_output(ids, dest)

    return asyncio.run(body())


def _all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink())


@pytest.mark.parametrize("hostile", ["..", ".", "", "../escape", "../../etc/x", "/etc/passwd", "a/../../b",
                                     "nul\x00byte", "sub/../../x"])
def test_escaping_names_never_leave_dest(fake, tmp_path: Path, hostile: str) -> None:
    job = fake.add_job(files={"good.txt": b"ok", "out.txt": b"stdout"})
    fake.listings[(job, "")] = {"file": ["good.txt", "out.txt", hostile], "dir": []}
    dest = tmp_path / "dest"
    out = _fetch(fake, [job], dest)[job]
    assert not out.complete and out.reason.startswith("unsafe-path"), out.reason
    assert out.files == {"good.txt": dest / job / "good.txt"}
    outside = [p for p in _all_files(tmp_path) if not p.startswith(("dest/", "pki/"))]
    assert outside == []


@pytest.mark.parametrize("hostile", ["..", "../up", "/abs", "", "x/y"])
def test_escaping_directory_names_never_leave_dest(fake, tmp_path: Path, hostile: str) -> None:
    job = fake.add_job()
    fake.listings[(job, "")] = {"file": [], "dir": [hostile]}
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert out.reason.startswith("unsafe-path")
    assert [p for p in _all_files(tmp_path) if not p.startswith(("dest/", "pki/"))] == []


def test_huge_listing_hits_the_file_ceiling_with_flat_memory(fake, tmp_path: Path) -> None:
    names = [f"f{i:06d}" for i in range(100_000)]
    job = fake.add_job(files=dict.fromkeys(names[:200], b"x"))
    fake.listings[(job, "")] = {"file": names, "dir": []}
    tracemalloc.start()
    try:
        out = _fetch(fake, [job], tmp_path / "dest", max_files=200)[job]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.reason.startswith("limit:files") and len(out.files) == 200
    assert peak < 64 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_endless_body_is_cut_at_the_byte_ceiling(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={"a.txt": b"a" * 1000, "zz-endless.bin": endless()})
    tracemalloc.start()
    try:
        out = _fetch(fake, [job], tmp_path / "dest", max_total_bytes=20 << 20)[job]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.reason.startswith("limit:bytes"), out.reason
    assert set(out.files) == {"a.txt"}
    assert _all_files(tmp_path / "dest" / job) == ["a.txt"]  # no partial endless.bin under any name
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB while streaming past 20 MiB"


def test_file_larger_than_the_ceiling(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={"big.bin": b"b" * (3 << 20)})
    out = _fetch(fake, [job], tmp_path / "dest", max_total_bytes=1 << 20)[job]
    assert out.reason.startswith("limit:bytes") and out.files == {}
    assert _all_files(tmp_path / "dest" / job) == []


def test_stalled_stream_is_cut_off_and_does_not_hold_up_others(fake, tmp_path: Path) -> None:
    slow = fake.add_job(files={"slow.bin": short_body(b"x" * 1000, 10_000, stall_s=20)})
    fast = fake.add_job(files={"fast.txt": b"done"})
    t0 = time.monotonic()
    out = _fetch(fake, [slow, fast], tmp_path / "dest", transfer_timeout_s=2)
    assert time.monotonic() - t0 < 8
    assert out[slow].reason.startswith("limit:timeout"), out[slow].reason
    assert out[fast].complete and out[fast].files["fast.txt"].read_bytes() == b"done"
    assert _all_files(tmp_path / "dest" / slow) == []


def test_unknown_unfinished_and_wiped_jobs_are_per_id_reasons(fake, tmp_path: Path) -> None:
    running = fake.add_job("RUNNING")
    wiped = fake.add_job()
    fake.listings.pop((wiped, ""), None)
    fake.jobs[wiped].files.clear()
    fake.listings[(wiped, "")] = {"file": [], "dir": []}
    out = _fetch(fake, ["nosuchjob123", running, "nosuchjob123"], tmp_path / "dest")
    assert set(out) == {"nosuchjob123", running}
    assert "not found" in out["nosuchjob123"].reason and "not finished" in out[running].reason


def test_fetch_is_repeatable(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={"out.txt": b"o", "d/e/f.txt": b"f", "err.txt": b"e"})
    first = _fetch(fake, [job], tmp_path / "dest")[job]
    second = _fetch(fake, [job], tmp_path / "dest")[job]
    assert first == second and first.complete
    base = tmp_path / "dest" / job
    assert first.stdout == base / "out.txt" and first.files == {"d/e/f.txt": base / "d" / "e" / "f.txt"}
    assert first.log is not None and first.log.read_text() == f"log of {job}\n"
    assert _all_files(tmp_path / "dest") == sorted([f"{job}/out.txt", f"{job}/err.txt", f"{job}/d/e/f.txt",
                                                    f"{job}.ce/errors"])


def test_truncated_body_leaves_no_file_that_looks_complete(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={"a.txt": b"a", "cut.bin": short_body(b"c" * 1000, 10_000)})
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert out.reason.startswith("truncated") and set(out.files) == {"a.txt"}
    assert _all_files(tmp_path / "dest" / job) == ["a.txt"]
