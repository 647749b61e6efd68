"""Bounded, contained, streaming download of one job's session directory (IC-ADR-001 §4).

One job is fetched by one worker thread over one connection (see :mod:`arc_intercede.facade`).

* The session directory is listed level by level (A-REX's ``file``/``dir`` keys) and every file
  is streamed in chunks into ``dest/<job id>/<relative name>``; no file is held in memory.
* Ceilings are enforced while streaming: bytes per job, files per job, and a wall-clock
  deadline per job (a watchdog drops the connection at the deadline, so a server that trickles or
  stalls is cut off).
* Containment: every name from the server must be one plain path segment (no ``/``, ``..``,
  ``.``, empty, NUL). Directories are opened relative to their parent with ``O_NOFOLLOW``, so a
  pre-existing symlink under ``dest`` is never followed. Files are written under a temporary
  name and renamed into place only when complete, so no partial file looks complete.
* A violation ends that job's fetch with a reason starting ``limit:bytes``, ``limit:files``,
  ``limit:timeout`` or ``unsafe-path``; what was completed before stays in the manifest.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from arc_intercede.config import Limits
from arc_intercede.errors import CEResponseError, CETimeoutError, TransportError

__all__ = ["FetchResult", "SessionSource", "TransferProgress", "fetch_job", "safe_segment"]

_log = logging.getLogger(__name__)

CHUNK: Final = 1024 * 1024
"""Bytes read per call; reads block until the buffer is full (the watchdog bounds the wait)."""
_PART_PREFIX: Final = ".arc-intercede-part-"
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Listing(Protocol):
    files: tuple[str, ...]
    dirs: tuple[str, ...]


class SessionSource(Protocol):
    """The part of the client a transfer needs (one connection, used by one thread)."""

    def list_dir(self, job_id: str, path: str = "") -> _Listing:
        """List one directory level."""
        ...

    def open_file(self, job_id: str, path: str) -> Any:
        """Start streaming a file; the result has ``readinto(buffer)`` and ``close()``."""
        ...

    def abort(self) -> None:
        """Drop the connection (may be called from another thread)."""
        ...


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """Progress of one job's fetch.

    Attributes:
        job_id: The job.
        bytes_done: Bytes written so far.
        files_done: Files completed so far.
        files_seen: Files found in the listing so far (grows while directories are walked).
        finished: Whether this is the last report for the job.
    """

    job_id: str
    bytes_done: int
    files_done: int
    files_seen: int
    finished: bool = False


@dataclass(slots=True)
class FetchResult:
    """What one job's fetch produced: relative name -> local path, and why it stopped early."""

    files: dict[str, Path] = field(default_factory=dict)
    reason: str = ""

    @property
    def complete(self) -> bool:
        """Whether every member was fetched."""
        return not self.reason


class _StopFetchError(Exception):
    """Ends a job's fetch with a per-id reason."""


def safe_segment(name: str) -> str:
    """Return ``name`` if it is one safe path segment, else raise :class:`_StopFetchError` (unsafe-path)."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name or len(name.encode()) > 255:
        raise _StopFetchError(f"unsafe-path: {name!r}")
    return name


@contextmanager
def _watchdog(deadline: float, source: SessionSource) -> Iterator[threading.Event]:
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        source.abort()

    timer = threading.Timer(max(0.0, deadline - time.monotonic()), fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


def _open_dir(parent_fd: int, name: str) -> int:
    try:
        os.mkdir(name, 0o755, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise _StopFetchError(f"unsafe-path: {name!r} exists locally and is not a directory") from exc
        raise


def fetch_job(
    source: SessionSource,
    job_id: str,
    dest: Path,
    limits: Limits,
    progress: Callable[[TransferProgress], None] | None = None,
) -> FetchResult:
    """Fetch one job's session directory into ``dest/<job_id>/`` within ``limits``.

    Returns:
        The files fetched and, if the fetch stopped early, the per-id reason.

    Raises:
        CredentialError, TransportError: Whole-operation failures (CE unreachable, auth).
        CEResponseError: The CE answered the listing of the job's root with an error.
    """
    dest.mkdir(parents=True, exist_ok=True)
    job = _JobFetch(source, job_id, dest, limits, progress)
    root_fd = os.open(dest, _DIR_FLAGS)
    try:
        with _watchdog(job.deadline, source) as job.expired:
            try:
                job_fd = _open_dir(root_fd, safe_segment(job_id))
                try:
                    job.walk("", job_fd, dest / job_id)
                finally:
                    os.close(job_fd)
            except _StopFetchError as stop:
                job.result.reason = str(stop)
            except (TransportError, OSError) as exc:
                if not job.expired.is_set():
                    raise
                job.result.reason = job.timeout_reason()
                _log.debug("fetch of %s cut off at the deadline: %s", job_id, exc)
    finally:
        os.close(root_fd)
    job.report(finished=True)
    return job.result


class _JobFetch:
    """The state of one job's fetch."""

    def __init__(
        self, source: SessionSource, job_id: str, dest: Path, limits: Limits,
        progress: Callable[[TransferProgress], None] | None,
    ) -> None:
        self.source = source
        self.job_id = job_id
        self.limits = limits
        self.progress = progress
        self.deadline = time.monotonic() + limits.transfer_timeout_s
        self.expired = threading.Event()
        self.result = FetchResult()
        self.bytes = 0
        self.files = 0
        self.seen = 0

    def timeout_reason(self) -> str:
        return f"limit:timeout: fetch took longer than {self.limits.transfer_timeout_s:g} s"

    def report(self, finished: bool = False) -> None:
        if self.progress is not None:
            self.progress(TransferProgress(self.job_id, self.bytes, self.files, self.seen, finished))

    def check_deadline(self) -> None:
        if self.expired.is_set() or time.monotonic() >= self.deadline:
            raise _StopFetchError(self.timeout_reason())

    def walk(self, rel: str, dir_fd: int, local: Path) -> None:
        self.check_deadline()
        try:
            listing = self.source.list_dir(self.job_id, rel)
        except CEResponseError as exc:
            if not rel:
                raise
            raise _StopFetchError(f"listing {rel!r} failed: {exc}") from exc
        for name in listing.files:
            member = f"{rel}/{safe_segment(name)}" if rel else safe_segment(name)
            self.seen += 1
            if self.files >= self.limits.max_files:
                raise _StopFetchError(f"limit:files: more than {self.limits.max_files} files")
            self.download(member, dir_fd, name)
            self.files += 1
            self.result.files[member] = local / name
            self.report()
        for name in listing.dirs:
            member = f"{rel}/{safe_segment(name)}" if rel else safe_segment(name)
            sub_fd = _open_dir(dir_fd, name)
            try:
                self.walk(member, sub_fd, local / name)
            finally:
                os.close(sub_fd)

    def download(self, member: str, dir_fd: int, name: str) -> None:
        self.check_deadline()
        part = f"{_PART_PREFIX}{secrets.token_hex(6)}"
        fd = os.open(part, _FILE_FLAGS, 0o644, dir_fd=dir_fd)
        done = False
        try:
            try:
                resp = self.source.open_file(self.job_id, member)
            except CEResponseError as exc:
                raise _StopFetchError(f"download of {member!r} failed: {exc}") from exc
            length = getattr(resp, "length", None)  # a 1 MiB buffer per small file costs more than its transfer
            buf = bytearray(CHUNK if not isinstance(length, int) else max(1, min(CHUNK, length)))
            view = memoryview(buf)
            with os.fdopen(fd, "wb", closefd=False) as out:
                while n := resp.readinto(view):
                    self.bytes += n
                    if self.bytes > self.limits.max_total_bytes:
                        self.source.abort()
                        raise _StopFetchError(f"limit:bytes: more than {self.limits.max_total_bytes} bytes")
                    out.write(view[:n])
            # http.client's readinto returns 0 at a premature EOF instead of raising: a dropped
            # connection must not leave a truncated file under its final name.
            missing = getattr(resp, "length", None)
            if missing:
                self.check_deadline()
                raise _StopFetchError(f"truncated: {member!r} ended {missing} bytes short")
            try:
                os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except OSError as exc:  # e.g. a local directory of that name
                raise _StopFetchError(f"unsafe-path: cannot place {member!r}: {exc.strerror}") from exc
            done = True
        except (TimeoutError, CETimeoutError) as exc:
            self.source.abort()
            raise _StopFetchError(f"limit:timeout: download of {member!r} stalled") from exc
        finally:
            os.close(fd)
            if not done:
                try:
                    os.unlink(part, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
