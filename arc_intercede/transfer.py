"""Bounded, contained, streaming download of one job's session directory (the contract's ``fetch_output``).

One job is fetched by one worker thread over one connection (see :mod:`arc_intercede._rest.connpool`).

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
* Any other trouble of this one job ends its fetch with a reason too (see :data:`REASON_CODES`):
  a reply cut short or breaking HTTP, a member the CE refuses, a local file-system error. Only a
  CE that cannot be reached, or refuses the credential, raises.
* ``dest`` itself may be a symbolic link to a directory (it is the caller's choice and is
  followed); nothing below it is ever followed.

Every reason is ``"<code>: <detail>"`` with a code from :data:`REASON_CODES`; codes are stable,
details are for people.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from arc_intercede.config import Limits
from arc_intercede.errors import (
    ARCBackendError,
    CEResponseError,
    CredentialError,
    ReplyTooLargeError,
    TransportError,
)

__all__ = [
    "REASON_CODES",
    "FetchResult",
    "SessionSource",
    "TransferProgress",
    "fetch_job",
    "reason_code",
    "safe_segment",
    "write_atomic",
]

LIMIT_BYTES: Final = "limit:bytes"
"""The job's outputs are larger than ``limits.max_total_bytes``."""
LIMIT_FILES: Final = "limit:files"
"""More than ``limits.max_files`` files (or as many directories)."""
LIMIT_TIMEOUT: Final = "limit:timeout"
"""``limits.transfer_timeout_s`` passed, or the CE stalled past a read or request deadline."""
LIMIT_LISTING: Final = "limit:listing"
"""A directory listing is over the listing byte cap (refused from its ``Content-Length``)."""
UNSAFE_PATH: Final = "unsafe-path"
"""A name that could leave ``dest`` or follow a local link; nothing was written for it."""
TRUNCATED: Final = "truncated"
"""A reply ended before its announced end, or the connection broke in its middle."""
PROTOCOL: Final = "protocol"
"""The CE broke HTTP or sent a malformed listing (e.g. bytes past a reply's announced end)."""
TRANSPORT: Final = "transport"
"""The connection failed before the CE answered a request of this job."""
CE_ERROR: Final = "ce-error"
"""The CE answered a request of this job with an error status."""
GONE: Final = "gone"
"""The job's session directory is gone (purged or expired)."""
LOCAL_IO: Final = "local-io"
"""A local file-system error (disk full, a plain file where a directory must go, permissions)."""
MISSING_OUTPUT: Final = "missing-output"
"""The job description declares an output the job did not leave in its session directory."""
NOT_FOUND: Final = "not-found"
"""The CE does not know the job (or the id cannot name an ARC job)."""
NOT_FINISHED: Final = "not-finished"
"""The job is not in a final state yet."""
CANCELLED: Final = "cancelled"
"""The fetch was cancelled, or the backend closed, while it ran."""
REASON_CODES: Final[tuple[str, ...]] = (
    LIMIT_BYTES, LIMIT_FILES, LIMIT_TIMEOUT, LIMIT_LISTING, UNSAFE_PATH, TRUNCATED, PROTOCOL, TRANSPORT,
    CE_ERROR, GONE, LOCAL_IO, MISSING_OUTPUT, NOT_FOUND, NOT_FINISHED, CANCELLED,
)
"""Every code a ``JobOutput.reason`` starts with (``"<code>: <detail>"``)."""


def reason_code(reason: str) -> str:
    """Return the stable code of a per-id reason (``""`` for an empty reason)."""
    return reason.partition(": ")[0]

_log = logging.getLogger(__name__)

CHUNK: Final = 1024 * 1024
"""Bytes read per call; reads block until the buffer is full (the watchdog bounds the wait)."""
_PART_PREFIX: Final = ".arc-intercede-part-"
_ROOT_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC  # dest itself may be a link
_DIR_FLAGS: Final = _ROOT_FLAGS | os.O_NOFOLLOW
_FILE_FLAGS: Final = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class _Listing(Protocol):
    files: tuple[str, ...]
    dirs: tuple[str, ...]
    more: bool


class SessionSource(Protocol):
    """The part of the client a transfer needs (one connection, used by one thread)."""

    def list_dir(self, job_id: str, path: str = "", *, max_entries: int | None = None) -> _Listing:
        """List one directory level, keeping at most ``max_entries`` files and as many directories."""
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
    """What one job's fetch produced: relative name -> local path, and why it stopped early.

    ``dirs`` are the relative names of the directories listed (complete or not).
    """

    files: dict[str, Path] = field(default_factory=dict)
    reason: str = ""
    dirs: set[str] = field(default_factory=set)

    @property
    def complete(self) -> bool:
        """Whether every member was fetched."""
        return not self.reason


class _StopFetchError(Exception):
    """Ends a job's fetch with a per-id reason."""


def safe_segment(name: str) -> str:
    """Return ``name`` if it is one safe path segment, else raise :class:`_StopFetchError` (unsafe-path)."""
    if not name or name in (".", "..") or "/" in name or "\x00" in name \
            or len(name.encode("utf-8", "surrogatepass")) > 255:
        raise _StopFetchError(f"{UNSAFE_PATH}: {name!r}")
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
            raise _StopFetchError(f"{UNSAFE_PATH}: {name!r} exists locally and is not a directory") from exc
        raise


def _remote_reason(exc: ARCBackendError, what: str, *, listing: bool = False) -> str:
    """The per-id reason for a CE error while doing ``what``; re-raise what concerns the whole CE."""
    if isinstance(exc, CredentialError):
        raise exc
    if isinstance(exc, ReplyTooLargeError):
        return f"{LIMIT_LISTING if listing else PROTOCOL}: {what}: {exc}"
    if isinstance(exc, CEResponseError):
        if exc.status is None:
            return f"{PROTOCOL}: {what}: {exc}"
        return f"{CE_ERROR}: {what}: {exc}"
    if isinstance(exc, TransportError) and exc.kind:
        return f"{exc.kind}: {what}: {exc}"
    raise exc  # the CE cannot be reached: a whole-operation failure


def _open_root(dest: Path) -> int:
    """Create ``dest`` if needed and open it (it may be a link to a directory: the caller's choice)."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        return os.open(dest, _ROOT_FLAGS)
    except OSError as exc:
        raise _StopFetchError(f"{LOCAL_IO}: cannot use {str(dest)!r} as destination: {exc.strerror}") from exc


def fetch_job(
    source: SessionSource,
    job_id: str,
    dest: Path,
    limits: Limits,
    progress: Callable[[TransferProgress], None] | None = None,
) -> FetchResult:
    """Fetch one job's session directory into ``dest/<job_id>/`` within ``limits``.

    Returns:
        The files fetched and, if the fetch stopped early, the per-id reason (``"<code>: ..."``,
        codes in :data:`REASON_CODES`); ``gone`` when the session directory no longer exists.

    Raises:
        CredentialError: The CE refused the credential.
        TransportError: The CE could not be reached (``kind`` empty).
    """
    job = _JobFetch(source, job_id, dest, limits, progress)
    with _watchdog(job.deadline, source) as job.expired:
        try:
            root_fd = _open_root(dest)
            try:
                job_fd = _open_dir(root_fd, safe_segment(job_id))
                try:
                    job.walk("", job_fd, dest / job_id)
                finally:
                    os.close(job_fd)
            finally:
                os.close(root_fd)
        except _StopFetchError as stop:
            job.result.reason = job.timeout_reason() if job.expired.is_set() else str(stop)
        except ARCBackendError as exc:
            if job.expired.is_set() and not isinstance(exc, CredentialError):
                job.result.reason = job.timeout_reason()
                _log.debug("fetch of %s cut off at the deadline: %s", job_id, exc)
            else:
                job.result.reason = _remote_reason(exc, "fetch")
        except OSError as exc:  # the client raises no OSError: this is the local file system
            job.result.reason = f"{LOCAL_IO}: {exc.strerror or exc}" + (f": {exc.filename!r}" if exc.filename else "")
    job.report(finished=True)
    return job.result


def write_atomic(dest: Path, folder: str, name: str, data: bytes) -> Path:
    """Write ``dest/<folder>/<name>`` under a unique temporary name, then rename it into place.

    A symbolic link at ``dest/<folder>`` is replaced by a directory, never followed.

    Raises:
        OSError: A local file-system error.
    """
    dest.mkdir(parents=True, exist_ok=True)
    root_fd = os.open(dest, _ROOT_FLAGS)
    try:
        try:
            dir_fd = _open_dir(root_fd, folder)
        except _StopFetchError:
            st = os.lstat(folder, dir_fd=root_fd)
            if not stat.S_ISLNK(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, "exists and is not a directory", str(dest / folder)) from None
            try:
                os.unlink(folder, dir_fd=root_fd)
            except FileNotFoundError:
                pass
            dir_fd = _open_dir(root_fd, folder)
        try:
            part = f"{_PART_PREFIX}{secrets.token_hex(6)}"
            fd = os.open(part, _FILE_FLAGS, 0o644, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb", closefd=False) as out:
                    out.write(data)
                os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                try:
                    os.unlink(part, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
                raise
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)
    finally:
        os.close(root_fd)
    return dest / folder / name


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
        self.dirs = 0
        self.seen = 0

    def timeout_reason(self) -> str:
        return f"{LIMIT_TIMEOUT}: fetch took longer than {self.limits.transfer_timeout_s:g} s"

    def report(self, finished: bool = False) -> None:
        if self.progress is not None:
            self.progress(TransferProgress(self.job_id, self.bytes, self.files, self.seen, finished))

    def check_deadline(self) -> None:
        if self.expired.is_set() or time.monotonic() >= self.deadline:
            raise _StopFetchError(self.timeout_reason())

    def walk(self, rel: str, dir_fd: int, local: Path) -> None:
        self.check_deadline()
        budget = self.limits.max_files - min(self.files, self.dirs) + 1
        try:
            listing = self.source.list_dir(self.job_id, rel, max_entries=budget)
        except CEResponseError as exc:
            if not rel and exc.status == 404:
                raise _StopFetchError(f"{GONE}: the session directory is gone (purged or expired)") from exc
            raise _StopFetchError(_remote_reason(exc, f"listing {rel or '.'!r}", listing=True)) from exc
        except TransportError as exc:
            raise _StopFetchError(_remote_reason(exc, f"listing {rel or '.'!r}", listing=True)) from exc
        if rel:
            self.result.dirs.add(rel)
        for name in listing.files:
            member = f"{rel}/{safe_segment(name)}" if rel else safe_segment(name)
            self.seen += 1
            if self.files >= self.limits.max_files:
                raise _StopFetchError(f"{LIMIT_FILES}: more than {self.limits.max_files} files")
            self.download(member, dir_fd, name)
            self.files += 1
            self.result.files[member] = local / name
            self.report()
        if listing.more and len(listing.dirs) >= budget:
            raise _StopFetchError(f"{LIMIT_FILES}: more than {self.limits.max_files} directories")
        for name in listing.dirs:
            member = f"{rel}/{safe_segment(name)}" if rel else safe_segment(name)
            self.dirs += 1
            if self.dirs > self.limits.max_files:
                raise _StopFetchError(f"{LIMIT_FILES}: more than {self.limits.max_files} directories")
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
            except (CEResponseError, TransportError) as exc:
                raise _StopFetchError(_remote_reason(exc, f"download of {member!r}")) from exc
            length = getattr(resp, "length", None)  # a 1 MiB buffer per small file costs more than its transfer
            buf = bytearray(CHUNK if not isinstance(length, int) else max(1, min(CHUNK, length)))
            view = memoryview(buf)
            with os.fdopen(fd, "wb", closefd=False) as out:
                while True:
                    try:
                        n = resp.readinto(view)
                    except TransportError as exc:
                        raise _StopFetchError(_remote_reason(exc, f"download of {member!r}")) from exc
                    if not n:
                        break
                    self.bytes += n
                    if self.bytes > self.limits.max_total_bytes:
                        self.source.abort()
                        raise _StopFetchError(f"{LIMIT_BYTES}: more than {self.limits.max_total_bytes} bytes")
                    out.write(view[:n])
            # A stream that ends early raises; this guards a source that only returns 0.
            missing = getattr(resp, "length", None)
            if missing:
                self.check_deadline()
                raise _StopFetchError(f"{TRUNCATED}: {member!r} ended {missing} bytes short")
            try:
                os.replace(part, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except IsADirectoryError as exc:  # a local directory of that name
                raise _StopFetchError(f"{UNSAFE_PATH}: cannot place {member!r}: {exc.strerror}") from exc
            done = True
        finally:
            os.close(fd)
            if not done:
                try:
                    os.unlink(part, dir_fd=dir_fd)
                except FileNotFoundError:
                    pass
