"""The command line's local job list: an SQLite database (standard library), safe for concurrent runs.

Location: ``$ARC_INTERCEDE_STATE/jobs.db`` if that variable is set, else
``$XDG_STATE_HOME/arc-intercede/jobs.db`` (default ``~/.local/state/arc-intercede/jobs.db``).

Per job it keeps the CE name and endpoint, the submission time, the job's name (``tag``), the
prepared description sent to the CE (if the caller gave it), the lineage of resubmissions
(``predecessor``/``successor``) and the last known state. A forgotten job's row is deleted and the
file shrinks with it (``auto_vacuum = FULL``): the list never grows beyond the jobs it remembers.
Lookups by endpoint, by id and by name use indexes, so a command reads only the rows it needs.

Concurrency: every change is one ``BEGIN IMMEDIATE`` transaction (SQLite's own file locks, with a
generous busy timeout), every lookup one statement; several command-line processes may use the list
at once. The file keeps SQLite's default rollback journal (as ARC's own client does), which also
works where a home directory is on a network file system.

Migration: a ``jobs.jsonl`` beside the database (the former append-only format, see
:mod:`arc_intercede.cli.jobstore_jsonl`) is folded into the database on first use, in the same
transaction, and renamed to ``jobs.jsonl.migrated``; nothing is deleted.

A file that is not such a database gives :class:`JobStoreError` (one line, the file left untouched).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

__all__ = ["ArcImport", "JobRecord", "JobStore", "JobStoreError", "default_store_path"]

_log = logging.getLogger(__name__)

FILE_NAME: Final = "jobs.db"
LEGACY_FILE_NAME: Final = "jobs.jsonl"
SCHEMA_VERSION: Final = 1
APPLICATION_ID: Final = 0x41524349  # "ARCI": marks the file as this job list
BUSY_TIMEOUT_S: Final = 120.0
_CHUNK: Final = 500  # ids per IN (...) list, well below SQLite's variable limit

_SCHEMA: Final = (
    """CREATE TABLE jobs(
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL UNIQUE,
        ce TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        endpoint_key TEXT NOT NULL,
        submitted TEXT NOT NULL,
        tag TEXT,
        predecessor TEXT,
        successor TEXT,
        state TEXT,
        arc_state TEXT,
        state_time TEXT)""",
    "CREATE INDEX jobs_by_endpoint ON jobs(endpoint_key, seq)",
    "CREATE INDEX jobs_by_tag ON jobs(tag)",
    """CREATE TABLE descriptions(
        job_id TEXT PRIMARY KEY,
        format TEXT,
        text TEXT NOT NULL) WITHOUT ROWID""",
)
_COLUMNS: Final = ("job_id", "ce", "endpoint", "submitted", "tag", "predecessor", "successor", "state",
                   "arc_state", "state_time")
_SELECT: Final = "SELECT " + ", ".join(f"j.{c}" for c in _COLUMNS)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRecord:
    """One job in the local job list.

    Attributes:
        job_id: The CE's job id.
        ce: Name of the CE (from the configuration file) it was submitted to.
        endpoint: The CE's A-REX endpoint URL.
        submitted: Submission time, UTC, ISO 8601.
        tag: The job's name, if any (also :attr:`name`).
        description: The prepared description sent to the CE, if recorded. Listings return it only
            when asked (``descriptions=True``); :meth:`JobStore.get` returns it.
        description_format: Its language, e.g. ``"adl"`` or ``"xrsl"``.
        predecessor: The job this one was resubmitted from.
        successor: The job resubmitted from this one (set by the store when the successor is added).
        state: The last known state (a :class:`arc_intercede.contract.JobStatus` value), if any.
        arc_state: The last known ARC state, if any.
        state_time: When ``state`` was recorded, UTC, ISO 8601.
    """

    job_id: str
    ce: str
    endpoint: str
    submitted: str
    tag: str | None = None
    description: str | None = None
    description_format: str | None = None
    predecessor: str | None = None
    successor: str | None = None
    state: str | None = None
    arc_state: str | None = None
    state_time: str | None = None

    @property
    def name(self) -> str | None:
        """The job's name (the same as ``tag``)."""
        return self.tag

    @classmethod
    def now(cls, job_id: str, *, ce: str, endpoint: str, tag: str | None = None, description: str | None = None,
            description_format: str | None = None, predecessor: str | None = None) -> JobRecord:
        """Make a record stamped with the current UTC time."""
        return cls(job_id=job_id, ce=ce, endpoint=endpoint, submitted=_now(), tag=tag, description=description,
                   description_format=description_format, predecessor=predecessor)

    def to_json(self) -> dict[str, Any]:
        """Return the record as a JSON-ready mapping (the optional fields only when set)."""
        data: dict[str, Any] = {"job_id": self.job_id, "ce": self.ce, "endpoint": self.endpoint,
                                "submitted": self.submitted, "tag": self.tag}
        for key in ("description", "description_format", "predecessor", "successor", "state", "arc_state",
                    "state_time"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


_ROW_FIELDS: Final = (*_COLUMNS, "description", "description_format")
if set(_ROW_FIELDS) != {f.name for f in fields(JobRecord)}:  # pragma: no cover - a field added without a column
    raise RuntimeError("JobStore rows do not cover every JobRecord field")
_SETTERS: Final = tuple(getattr(JobRecord, name).__set__ for name in _ROW_FIELDS)


@dataclass(frozen=True, slots=True)
class ArcImport:
    """What :meth:`JobStore.import_arc` did.

    Attributes:
        added: The jobs now in the list, in the file's order.
        known: Ids that were already in the list (left as they were).
    """

    added: list[JobRecord]
    known: list[str]


class JobStoreError(OSError):
    """The job list (or a job list to import) cannot be used; the file is left untouched.

    ``filename`` is the file, ``strerror`` the reason, ``str()`` both on one line.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(0, reason, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.filename, self.strerror)


def default_store_path() -> Path:
    """Return the job list's path from ``ARC_INTERCEDE_STATE`` or ``XDG_STATE_HOME``."""
    override = os.environ.get("ARC_INTERCEDE_STATE")
    if override:
        return Path(override).expanduser() / FILE_NAME
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg).expanduser() if xdg and os.path.isabs(os.path.expanduser(xdg)) else Path.home() / ".local/state"
    return base / "arc-intercede" / FILE_NAME


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _empty() -> sqlite3.Connection:
    """An empty job list in memory, for lookups before the file exists."""
    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for statement in _SCHEMA:
        db.execute(statement)
    return db


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


class JobStore:
    """The local job list (see the module docstring for the format and the guarantees).

    Args:
        path: The database (default: :func:`default_store_path`), created on first use. A path
            ending in ``.jsonl`` names the former file: the database is then the same path with
            ``.db``, and that file is migrated into it.

    The connection is opened on first use and kept; :meth:`close` (or ``with``) closes it. One
    object may be used from several threads.
    """

    def __init__(self, path: Path | None = None) -> None:
        given = path if path is not None else default_store_path()
        if given.suffix == ".jsonl":
            self.path, self.legacy_path = given.with_suffix(".db"), given
        else:
            self.path, self.legacy_path = given, given.with_name(LEGACY_FILE_NAME)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"JobStore({str(self.path)!r})"

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (the next call opens it again)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # --- changes ------------------------------------------------------------------------------

    def add(self, records: Iterable[JobRecord]) -> None:
        """Add jobs in one transaction; a known id is replaced (and moves to the end of the list).

        A record with a ``predecessor`` also sets that job's ``successor``.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be created or written.
        """
        batch = list(records)
        if not batch:
            return
        with self._write() as db:
            self._insert(db, batch)

    def forget(self, job_ids: Iterable[str]) -> int:
        """Remove jobs from the list (unknown ids are ignored); return how many were removed.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be written.
        """
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return 0
        with self._write() as db:
            return self._delete(db, ids)

    def set_states(self, states: Mapping[str, str], *, arc_states: Mapping[str, str] | None = None,
                   when: str | None = None) -> int:
        """Record the last known state of jobs (ids not in the list are ignored); return how many were updated.

        Args:
            states: Job id to state (a :class:`arc_intercede.contract.JobStatus` value).
            arc_states: Job id to ARC state, for the same or other ids.
            when: The time of the observation (default: now), UTC, ISO 8601.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be written.
        """
        arc = dict(arc_states or {})
        ids = list(dict.fromkeys([*states, *arc]))
        if not ids:
            return 0
        stamp = when or _now()
        rows = [(states.get(j), arc.get(j), stamp, j) for j in ids]
        with self._write() as db:
            before = db.total_changes
            db.executemany("UPDATE jobs SET state = coalesce(?, state), arc_state = coalesce(?, arc_state), "
                           "state_time = ? WHERE job_id = ?", rows)
            return db.total_changes - before

    def import_arc(self, path: Path, *, ce_names: Mapping[str, str] | None = None) -> ArcImport:
        """Add the jobs of ARC's own client job list (``~/.arc/jobs.dat``) not already in this list.

        See :func:`arc_intercede.cli.arcjobs.import_arc_jobs` for what is read and ``ce_names``.

        Raises:
            JobStoreError: ``path`` or this list is not a usable job list (nothing is changed).
            OSError: A file cannot be read or written.
        """
        from arc_intercede.cli.arcjobs import import_arc_jobs  # arcjobs imports this module

        found = import_arc_jobs(path, ce_names=ce_names)
        with self._write() as db:
            have = self._known(db, [r.job_id for r in found])
            new = [r for r in found if r.job_id not in have]
            self._insert(db, new)
        return ArcImport(added=new, known=[r.job_id for r in found if r.job_id in have])

    # --- lookups ------------------------------------------------------------------------------

    def records(self, *, descriptions: bool = False) -> list[JobRecord]:
        """Return every job in the list, oldest first (a re-added id counts from its latest addition).

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        return self.jobs(descriptions=descriptions)

    def jobs(self, *, endpoint: str | None = None, name: str | None = None, states: Iterable[str] | None = None,
             descriptions: bool = False) -> list[JobRecord]:
        """Return the jobs in the list, oldest first, filtered by what is given.

        Args:
            endpoint: Only this CE endpoint's jobs (a trailing ``/`` ignored).
            name: Only jobs whose name matches this shell pattern (``*``, ``?``, ``[...]``; case-sensitive).
            states: Only jobs whose last known state is one of these.
            descriptions: Also return each job's prepared description.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        where: list[str] = []
        params: list[str] = []
        if endpoint is not None:
            where.append("j.endpoint_key = ?")
            params.append(endpoint.rstrip("/"))
        if name is not None:
            where.append("j.tag GLOB ?")
            params.append(name)
        if states is not None:
            wanted = list(dict.fromkeys(states))
            if not wanted:
                return []
            where.append(f"j.state IN ({','.join('?' * len(wanted))})")
            params.extend(wanted)
        sql = self._query(descriptions) + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.seq"
        with self._read() as db:
            return [self._record(row) for row in db.execute(sql, params)]

    def lookup(self, job_ids: Iterable[str], *, descriptions: bool = False) -> dict[str, JobRecord]:
        """Return the given jobs that are in the list, by id, in the order given.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        ids = list(dict.fromkeys(job_ids))
        found: dict[str, JobRecord] = {}
        if not ids:
            return found
        sql = self._query(descriptions) + " WHERE j.job_id IN ({})"
        with self._read() as db:
            for chunk in _chunks(ids):
                for row in db.execute(sql.format(",".join("?" * len(chunk))), chunk):
                    found[row[0]] = self._record(row)
        return {j: found[j] for j in ids if j in found}

    def get(self, job_id: str) -> JobRecord | None:
        """Return one job with its prepared description, or ``None`` if it is not in the list.

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        return self.lookup([job_id], descriptions=True).get(job_id)

    def lineage(self, job_id: str) -> list[JobRecord]:
        """Return the chain of resubmissions through ``job_id``, first to last (jobs no longer in the list end it).

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        start = self.get(job_id)
        if start is None:
            return []
        chain = [start]
        seen = {job_id}
        while chain[0].predecessor and chain[0].predecessor not in seen:
            prev = self.get(chain[0].predecessor)
            if prev is None:
                break
            seen.add(prev.job_id)
            chain.insert(0, prev)
        while chain[-1].successor and chain[-1].successor not in seen:
            succ = self.get(chain[-1].successor)
            if succ is None:
                break
            seen.add(succ.job_id)
            chain.append(succ)
        return chain

    def count(self, *, endpoint: str | None = None) -> int:
        """Return how many jobs the list holds (of ``endpoint`` only, if given).

        Raises:
            JobStoreError: The file is not a usable job list.
            OSError: The file cannot be read.
        """
        with self._read() as db:
            if endpoint is None:
                row = db.execute("SELECT count(*) FROM jobs").fetchone()
            else:
                row = db.execute("SELECT count(*) FROM jobs WHERE endpoint_key = ?", (endpoint.rstrip("/"),)).fetchone()
        return int(row[0])

    # --- rows ---------------------------------------------------------------------------------

    @staticmethod
    def _query(descriptions: bool) -> str:
        if descriptions:
            return _SELECT + ", d.text, d.format FROM jobs j LEFT JOIN descriptions d ON d.job_id = j.job_id"
        return _SELECT + ", NULL, NULL FROM jobs j"

    @staticmethod
    def _record(row: Sequence[Any]) -> JobRecord:
        # Listings build many records: setting the slots directly skips the frozen dataclass's checked
        # __setattr__ per field (about 3x faster; tests/benchmarks/bench_jobstore.py).
        record: JobRecord = object.__new__(JobRecord)
        for put, value in zip(_SETTERS, row, strict=True):
            put(record, value)
        return record

    @staticmethod
    def _known(db: sqlite3.Connection, ids: Sequence[str]) -> set[str]:
        have: set[str] = set()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            have.update(r[0] for r in db.execute(f"SELECT job_id FROM jobs WHERE job_id IN ({marks})", chunk))  # noqa: S608
        return have

    @staticmethod
    def _delete(db: sqlite3.Connection, ids: Sequence[str]) -> int:
        removed = 0
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            removed += db.execute(f"DELETE FROM jobs WHERE job_id IN ({marks})", chunk).rowcount  # noqa: S608
            db.execute(f"DELETE FROM descriptions WHERE job_id IN ({marks})", chunk)  # noqa: S608
        return removed

    @staticmethod
    def _insert(db: sqlite3.Connection, batch: Sequence[JobRecord]) -> None:
        latest = {r.job_id: r for r in batch}  # an id given twice counts once, as its last record
        JobStore._delete(db, list(latest))
        db.executemany(
            "INSERT INTO jobs(job_id, ce, endpoint, endpoint_key, submitted, tag, predecessor, successor, state, "
            "arc_state, state_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.job_id, r.ce, r.endpoint, r.endpoint.rstrip("/"), r.submitted, r.tag, r.predecessor, r.successor,
              r.state, r.arc_state, r.state_time) for r in latest.values()])
        db.executemany("INSERT INTO descriptions(job_id, format, text) VALUES (?, ?, ?)",
                       [(r.job_id, r.description_format, r.description) for r in latest.values()
                        if r.description is not None])
        db.executemany("UPDATE jobs SET successor = ? WHERE job_id = ?",
                       [(r.job_id, r.predecessor) for r in latest.values() if r.predecessor])

    # --- the database -------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None and not self.path.exists() and not self.legacy_path.exists():
                empty = _empty()  # nothing to read: create nothing either
                try:
                    yield empty
                finally:
                    empty.close()
                return
            db = self._open()
            try:
                yield db
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._open()
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from exc
            try:
                yield db
                db.execute("COMMIT")
            except BaseException as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.DatabaseError):
                    raise self._error(exc) from exc
                raise

    def _error(self, exc: sqlite3.DatabaseError) -> JobStoreError:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                return JobStoreError(self.path, f"the job list stayed locked by another process for over "
                                                f"{BUSY_TIMEOUT_S:.0f} s ({text})")
            return JobStoreError(self.path, text)  # disk full, read-only, I/O error
        return JobStoreError(self.path, f"not a usable job list ({text}); it is left untouched: move it aside "
                                        "to start a new one")

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)  # SQLite would create it 0644
        try:
            head = os.pread(fd, 16, 0)
        finally:
            os.close(fd)
        if head and head != b"SQLite format 3\x00":
            raise JobStoreError(self.path, "not a job list: not an SQLite database; it is left untouched: move it "
                                           "aside to start a new one")
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(db)
            self._migrate(db)
        except BaseException as exc:
            db.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise self._error(exc) from exc
            raise
        self._db = db
        return db

    def _prepare(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            if db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                raise JobStoreError(self.path, "not an arc-intercede job list (another program's SQLite "
                                               "database); it is left untouched")
            return
        if version > SCHEMA_VERSION:
            raise JobStoreError(self.path, f"job list format {version} is newer than this version understands "
                                           f"({SCHEMA_VERSION}); upgrade arc-intercede")
        db.execute("PRAGMA auto_vacuum = FULL")  # only takes effect before the first table: a fresh file
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] == 0:  # another process may have won the race
                if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise JobStoreError(self.path, "not an arc-intercede job list (another program's SQLite "
                                                   "database); it is left untouched")
                for statement in _SCHEMA:
                    db.execute(statement)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Fold a former ``jobs.jsonl`` into the database, then rename it (all under both files' locks)."""
        if not self.legacy_path.exists():
            return
        from arc_intercede.cli.jobstore_jsonl import JsonlJobStore, locked  # it imports this module

        db.execute("BEGIN IMMEDIATE")
        try:
            try:
                fd = os.open(self.legacy_path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:  # another process migrated it meanwhile
                db.execute("ROLLBACK")
                return
            try:
                with locked(fd, fcntl.LOCK_EX), os.fdopen(os.dup(fd), "rb") as fh:
                    records, forgotten = JsonlJobStore(self.legacy_path).changes_from(fh.read())
                    self._delete(db, forgotten)
                    self._insert(db, records)
                    kept = self._aside(self.legacy_path)
                    try:
                        db.execute("COMMIT")
                    except BaseException:
                        os.rename(kept, self.legacy_path)
                        raise
            finally:
                os.close(fd)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        _log.info("moved %d jobs from %s into %s; the old file is kept as %s", len(records), self.legacy_path,
                  self.path, kept)

    @staticmethod
    def _aside(path: Path) -> Path:
        target = path.with_name(path.name + ".migrated")
        n = 1
        while target.exists():
            n += 1
            target = path.with_name(f"{path.name}.migrated.{n}")
        os.rename(path, target)
        return target
