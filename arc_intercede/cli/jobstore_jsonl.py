"""The job list's former format, an append-only JSON-lines file: read for migration, kept for comparison.

Earlier versions of the command line kept the job list in ``jobs.jsonl``; :class:`arc_intercede.cli.jobstore.JobStore`
now keeps it in SQLite and migrates such a file on first use (reading it with :class:`JsonlJobStore`).
``tests/benchmarks/bench_jobstore.py`` measures both.

One JSON object per line::

    {"job_id": "...", "ce": "local", "endpoint": "https://localhost:8443/arex",
     "submitted": "2024-05-01T12:00:00+00:00", "tag": "my-analysis"}
    {"job_id": "...", "forgotten": true}

A job is in the list if it has a submission record and no later ``forgotten`` record.

Every append and every read holds ``fcntl.flock`` on the file (exclusive for appends, shared for
reads); appends are one ``O_APPEND`` write followed by ``fsync``. Nothing is rewritten in place, so an
interrupted run loses at most its own last line; a torn line (no newline, or not JSON) is skipped on
read with a warning, and the next append starts on a fresh line.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from arc_intercede.cli.jobstore import JobRecord

__all__ = ["JsonlJobStore", "locked"]

_log = logging.getLogger("arc_intercede.cli.jobstore")

class JsonlJobStore:
    """A job list in the former JSON-lines format (see the module docstring).

    Args:
        path: The JSON-lines file. Created on first append.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"JsonlJobStore({str(self.path)!r})"

    def add(self, records: Iterable[JobRecord]) -> None:
        """Append submission records (one write, one fsync).

        Raises:
            OSError: The file cannot be created or written.
        """
        self._append([r.to_json() for r in records])

    def forget(self, job_ids: Iterable[str]) -> None:
        """Append ``forgotten`` records: the ids leave the list.

        Raises:
            OSError: The file cannot be created or written.
        """
        self._append([{"job_id": j, "forgotten": True} for j in job_ids])

    def records(self) -> list[JobRecord]:
        """Return the jobs in the list, oldest first (a re-added id keeps its latest record).

        Raises:
            OSError: The file exists but cannot be read.
        """
        return self._fold(self._read())

    def changes_from(self, data: bytes) -> tuple[list[JobRecord], list[str]]:
        """Fold ``data`` (the file's content, read by the caller under the lock) into its net effect.

        Returns:
            The jobs in the list at the end, oldest first, and the ids whose last record forgets them.
        """
        forgotten: dict[str, None] = {}
        return self._fold(self._entries(data), forgotten), list(forgotten)

    def _fold(self, entries: Iterable[dict[str, Any]], forgotten: dict[str, None] | None = None) -> list[JobRecord]:
        jobs: dict[str, JobRecord] = {}
        gone: dict[str, None] = {} if forgotten is None else forgotten
        for entry in entries:
            job_id = entry.get("job_id")
            if not isinstance(job_id, str):
                continue
            if entry.get("forgotten") is True:
                jobs.pop(job_id, None)
                gone[job_id] = None
                continue
            bad = [k for k in ("ce", "endpoint") if not isinstance(entry.get(k), str)] + [
                k for k in ("submitted", "tag") if entry.get(k) is not None and not isinstance(entry[k], str)]
            if bad:  # str() of a corrupt value could be huge or raise: such a record is skipped
                _log.warning("%s: skipping a record without '%s' (a string)", self.path, bad[0])
                continue
            record = JobRecord(job_id=job_id, ce=entry["ce"], endpoint=entry["endpoint"],
                               submitted=entry.get("submitted") or "", tag=entry.get("tag"))
            jobs.pop(job_id, None)
            gone.pop(job_id, None)
            jobs[job_id] = record
        return list(jobs.values())

    def jobs(self, *, endpoint: str | None = None) -> list[JobRecord]:
        """Return the jobs in the list, only those of ``endpoint`` if given (trailing ``/`` ignored)."""
        records = self.records()
        if endpoint is None:
            return records
        want = endpoint.rstrip("/")
        return [r for r in records if r.endpoint.rstrip("/") == want]

    # --- file access ----------------------------------------------------------------------------

    def _append(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        payload = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries)
        data = payload.encode("utf-8")
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with locked(fd, fcntl.LOCK_EX):
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # a torn last line: start on a fresh line
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
        finally:
            os.close(fd)

    def _read(self) -> Iterator[dict[str, Any]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return
        try:
            with locked(fd, fcntl.LOCK_SH), os.fdopen(os.dup(fd), "rb") as fh:
                data = fh.read()
        finally:
            os.close(fd)
        yield from self._entries(data)

    def _entries(self, data: bytes) -> Iterator[dict[str, Any]]:
        lines = data.split(b"\n")
        last = len(lines) - 1
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):  # not JSON, not UTF-8, > 4300 digits, too deeply nested
                if number - 1 == last:
                    _log.warning("%s: skipping a torn last line (an interrupted write)", self.path)
                else:
                    _log.warning("%s: skipping unreadable line %d", self.path, number)
                continue
            if isinstance(entry, dict):
                yield entry
            else:
                _log.warning("%s: skipping line %d: not a JSON object", self.path, number)


@contextmanager
def locked(fd: int, mode: int) -> Iterator[None]:
    """Hold ``fcntl.flock(fd, mode)`` for the block."""
    fcntl.flock(fd, mode)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)

