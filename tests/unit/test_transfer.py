from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from arc_intercede.config import Limits
from arc_intercede.errors import CEResponseError, CredentialError, TransportError
from arc_intercede.transfer import TransferProgress, fetch_job


@dataclass
class _Listing:
    files: tuple[str, ...]
    dirs: tuple[str, ...]
    more: bool = False


class _Stream:
    """A response body: fixed bytes, optionally endless or slow."""

    def __init__(self, data: bytes, *, endless: bool = False, delay: float = 0.0, aborted=None) -> None:
        self._buf = io.BytesIO(data)
        self._endless = endless
        self._delay = delay
        self._aborted = aborted

    def readinto(self, buf) -> int:
        if self._aborted is not None and self._aborted.is_set():
            raise TransportError("connection dropped", kind="cancelled")
        if self._delay:
            time.sleep(self._delay)
        if self._endless:
            n = min(len(buf), 65536)
            buf[:n] = b"x" * n
            return n
        return self._buf.readinto(buf)


class FakeSession:
    """In-memory session directory: {path: bytes} and directories by trailing-slash-free names."""

    def __init__(self, tree: dict[str, bytes], listings: dict[str, _Listing] | None = None, **stream_kw) -> None:
        self.tree = tree
        self.listings = listings
        self.stream_kw = stream_kw
        self.aborted = threading.Event()
        self.requests: list[str] = []

    def list_dir(self, job_id: str, path: str = "", *, max_entries: int | None = None) -> _Listing:
        self.requests.append(f"list {path}")
        if self.listings is not None:
            return self.listings[path]
        prefix = f"{path}/" if path else ""
        files, dirs = set(), set()
        for name in self.tree:
            if name.startswith(prefix):
                rest = name[len(prefix):]
                (dirs.add(rest.split("/", 1)[0]) if "/" in rest else files.add(rest))
        return _Listing(tuple(sorted(files)), tuple(sorted(dirs)))

    def open_file(self, job_id: str, path: str):
        self.requests.append(f"get {path}")
        if path not in self.tree:
            raise CEResponseError("Not found", status=404)
        return _Stream(self.tree[path], aborted=self.aborted, **self.stream_kw)

    def abort(self) -> None:
        self.aborted.set()


LIMITS = Limits(max_total_bytes=1 << 20, max_files=100, transfer_timeout_s=5)


def _files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_fetch_writes_tree_and_manifest(tmp_path: Path) -> None:
    src = FakeSession({"a.txt": b"A", "d/b.txt": b"B", "d/e/c.txt": b"C", "empty": b""})
    result = fetch_job(src, "job1", tmp_path, LIMITS)
    assert result.complete
    assert set(result.files) == {"a.txt", "d/b.txt", "d/e/c.txt", "empty"}
    assert result.files["d/e/c.txt"] == tmp_path / "job1" / "d" / "e" / "c.txt"
    assert result.files["d/e/c.txt"].read_bytes() == b"C"
    assert _files_under(tmp_path) == ["job1/a.txt", "job1/d/b.txt", "job1/d/e/c.txt", "job1/empty"]


def test_fetch_twice_is_identical(tmp_path: Path) -> None:
    src = FakeSession({"a.txt": b"A" * 1000, "d/b.txt": b"B"})
    first = fetch_job(src, "job1", tmp_path, LIMITS)
    second = fetch_job(src, "job1", tmp_path, LIMITS)
    assert first.files == second.files and second.complete
    assert _files_under(tmp_path) == ["job1/a.txt", "job1/d/b.txt"]


@pytest.mark.parametrize("name", ["..", ".", "", "../escape", "/etc/passwd", "a/../../b", "nul\x00byte"])
def test_unsafe_names_are_rejected_and_nothing_escapes(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "dest"
    src = FakeSession({}, listings={"": _Listing(("ok.txt", name), ())})
    src.tree = {"ok.txt": b"fine", name: b"evil"}
    result = fetch_job(src, "job1", dest, LIMITS)
    assert result.reason.startswith("unsafe-path"), result.reason
    assert set(result.files) == {"ok.txt"}  # fetched before the bad member stays listed
    assert _files_under(tmp_path) == ["dest/job1/ok.txt"]


@pytest.mark.parametrize("name", ["..", "../up", "/abs"])
def test_unsafe_directory_names_are_rejected(tmp_path: Path, name: str) -> None:
    src = FakeSession({}, listings={"": _Listing((), (name,))})
    result = fetch_job(src, "job1", tmp_path / "dest", LIMITS)
    assert result.reason.startswith("unsafe-path")
    assert _files_under(tmp_path) == []


def test_unsafe_job_id_is_rejected(tmp_path: Path) -> None:
    result = fetch_job(FakeSession({"a": b"x"}), "../job", tmp_path / "dest", LIMITS)
    assert result.reason.startswith("unsafe-path") and result.files == {}
    assert _files_under(tmp_path) == []


def test_preexisting_symlink_directory_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "job1").mkdir(parents=True)
    os.symlink(outside, dest / "job1" / "d")
    result = fetch_job(FakeSession({"d/b.txt": b"B"}), "job1", dest, LIMITS)
    assert result.reason.startswith("unsafe-path")
    assert list(outside.iterdir()) == []


def test_preexisting_symlink_file_is_replaced_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    dest = tmp_path / "dest"
    (dest / "job1").mkdir(parents=True)
    os.symlink(outside, dest / "job1" / "a.txt")
    result = fetch_job(FakeSession({"a.txt": b"new"}), "job1", dest, LIMITS)
    assert result.complete
    assert outside.read_text() == "keep"
    assert not (dest / "job1" / "a.txt").is_symlink()
    assert (dest / "job1" / "a.txt").read_bytes() == b"new"


def test_preexisting_symlink_job_dir_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "job1")
    result = fetch_job(FakeSession({"a.txt": b"A"}), "job1", dest, LIMITS)
    assert result.reason.startswith("unsafe-path")
    assert list(outside.iterdir()) == []


def test_byte_ceiling_holds_mid_stream_and_leaves_no_partial_file(tmp_path: Path) -> None:
    src = FakeSession({"a.bin": b"a" * 1000, "big.bin": b""}, endless=False)
    src.tree["big.bin"] = b"b" * (2 << 20)
    result = fetch_job(src, "job1", tmp_path, Limits(max_total_bytes=1 << 20, max_files=10, transfer_timeout_s=5))
    assert result.reason.startswith("limit:bytes")
    assert set(result.files) == {"a.bin"}
    assert _files_under(tmp_path) == ["job1/a.bin"]  # no .part file, no truncated big.bin


def test_endless_body_is_cut_at_the_byte_ceiling(tmp_path: Path) -> None:
    src = FakeSession({"inf": b""}, endless=True)
    result = fetch_job(src, "job1", tmp_path, Limits(max_total_bytes=1 << 20, max_files=10, transfer_timeout_s=5))
    assert result.reason.startswith("limit:bytes")
    assert src.aborted.is_set()
    assert _files_under(tmp_path) == []


def test_file_count_ceiling(tmp_path: Path) -> None:
    src = FakeSession({f"f{i:03d}": b"x" for i in range(50)})
    result = fetch_job(src, "job1", tmp_path, Limits(max_total_bytes=1 << 20, max_files=10, transfer_timeout_s=5))
    assert result.reason.startswith("limit:files")
    assert len(result.files) == 10 and len(_files_under(tmp_path)) == 10


def test_huge_listing_stops_at_file_ceiling_without_requests_per_entry(tmp_path: Path) -> None:
    names = tuple(f"f{i}" for i in range(100_000))
    src = FakeSession({}, listings={"": _Listing(names, ())})
    src.tree = dict.fromkeys(names, b"")
    result = fetch_job(src, "job1", tmp_path, Limits(max_total_bytes=1 << 20, max_files=100, transfer_timeout_s=30))
    assert result.reason.startswith("limit:files")
    assert len([r for r in src.requests if r.startswith("get")]) == 100


def test_trickling_server_is_cut_off_at_the_deadline(tmp_path: Path) -> None:
    src = FakeSession({"slow": b""}, endless=True, delay=0.05)
    t0 = time.monotonic()
    result = fetch_job(src, "job1", tmp_path, Limits(max_total_bytes=1 << 40, max_files=10, transfer_timeout_s=1))
    assert time.monotonic() - t0 < 3
    assert result.reason.startswith("limit:timeout"), result.reason
    assert _files_under(tmp_path) == []


def test_missing_member_is_a_per_job_reason(tmp_path: Path) -> None:
    src = FakeSession({}, listings={"": _Listing(("gone",), ())})
    result = fetch_job(src, "job1", tmp_path, LIMITS)
    assert "gone" in result.reason and not result.complete


def test_progress_reports(tmp_path: Path) -> None:
    reports: list[TransferProgress] = []
    fetch_job(FakeSession({"a": b"12", "d/b": b"345"}), "job1", tmp_path, LIMITS, reports.append)
    assert reports[-1] == TransferProgress("job1", 5, 2, 2, True)
    assert [r.files_done for r in reports[:-1]] == [1, 2]


def test_root_listing_errors_are_per_job_reasons(tmp_path: Path) -> None:
    class Failing(FakeSession):
        def __init__(self, error: Exception) -> None:
            super().__init__({})
            self.error = error

        def list_dir(self, job_id: str, path: str = "", *, max_entries: int | None = None):
            raise self.error

    gone = fetch_job(Failing(CEResponseError("Not found", status=404)), "job1", tmp_path, LIMITS)
    assert gone.reason.startswith("gone: ")
    failed = fetch_job(Failing(CEResponseError("HTTP 500 boom", status=500)), "job1", tmp_path, LIMITS)
    assert failed.reason.startswith("ce-error: ")
    cut = fetch_job(Failing(TransportError("reset", kind="truncated")), "job1", tmp_path, LIMITS)
    assert cut.reason.startswith("truncated: ")
    with pytest.raises(CredentialError):  # the CE refuses us: the whole call fails
        fetch_job(Failing(CredentialError("HTTP 403")), "job1", tmp_path, LIMITS)
    with pytest.raises(TransportError):  # the CE cannot be reached: the whole call fails
        fetch_job(Failing(TransportError("refused")), "job1", tmp_path, LIMITS)
