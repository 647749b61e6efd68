"""Read ARC's own client job list (``~/.arc/jobs.dat``), so jobs submitted with ``arcsub`` are managed here too.

ARC 6 and 7 keep the list in SQLite (``joblisttype = SQLITE``, the default), one row per job in a table
``jobs`` (``JobInformationStorageSQLite.cpp``): ``id`` is the job URL
(``<endpoint>/rest/1.0/jobs/<id>`` for REST jobs), ``idfromendpoint`` the CE's id, ``name`` the job name,
``serviceinformationurl`` the CE's endpoint, ``managementinterfacename`` the interface
(``org.nordugrid.arcrest`` for REST), ``descriptiondocument`` the prepared description sent to the CE,
``localsubmissiontime`` seconds since the epoch, ``state`` ARC's general state name. ARC writes each value
with ``'``, ``#``, CR, LF, backspace, NUL and ``%`` escaped as ``%xx`` (lower-case hex); this reader undoes
that. Jobs of other interfaces (EMI-ES, GridFTP) cannot be managed over REST and are skipped with a warning.

The file is opened read-only and never changed.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit

from arc_intercede.cli.jobstore import JobRecord, JobStoreError

__all__ = ["REST_INTERFACE", "arc_state_to_status", "import_arc_jobs"]

_log = logging.getLogger(__name__)

REST_INTERFACE: Final = "org.nordugrid.arcrest"
_REQUIRED: Final = ("id", "idfromendpoint", "name", "managementinterfacename", "serviceinformationurl",
                    "descriptiondocument", "localsubmissiontime")
_OPTIONAL: Final = ("managementurl", "state")
_BDB: Final = frozenset((b"\x00\x05\x31\x62", b"\x62\x31\x05\x00", b"\x00\x06\x15\x61",
                           b"\x61\x15\x06\x00"))  # Berkeley DB btree/hash magic, either byte order
_ESCAPE: Final = re.compile(r"%([0-9a-fA-F]{2})")
_STATES: Final = {  # ARC's general states (JobState::StateTypeString) to JobStatus values
    "Accepted": "waiting", "Preparing": "waiting", "Submitting": "waiting", "Queuing": "waiting",
    "Hold": "held", "Running": "running", "Finishing": "running", "Finished": "done", "Failed": "failed",
    "Killed": "aborted", "Deleted": "aborted",
}


def arc_state_to_status(state: str | None) -> str | None:
    """Map ARC's general state name (``Finished``, ...) to a JobStatus value; ``None`` if it says nothing."""
    return _STATES.get(state or "")


def _unescape(value: object) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text) if "%" in text else text


def _ce_name(endpoint: str, ce_names: Mapping[str, str]) -> str:
    name = ce_names.get(endpoint) or ce_names.get(endpoint + "/")
    if name:
        return name
    parts = urlsplit(endpoint)
    return parts.netloc or endpoint


def _format_of(description: str) -> str | None:
    head = description.lstrip()[:1]
    if not head:
        return None
    return "adl" if head == "<" else "xrsl" if head in "&+(" else None


def import_arc_jobs(path: Path, *, ce_names: Mapping[str, str] | None = None) -> list[JobRecord]:
    """Read ARC's client job list and return its REST jobs as job-list records, in the file's order.

    Args:
        path: ARC's job list, e.g. ``~/.arc/jobs.dat``.
        ce_names: CE endpoint URL to the CE's name in this configuration; an endpoint not in it is named
            by its ``host:port``.

    Returns:
        One record per REST job, with its name, endpoint, submission time, prepared description
        (``description_format`` ``"adl"`` or ``"xrsl"``) and the state ARC last saw (``state`` mapped to a
        JobStatus value, ``arc_state`` as ARC wrote it).

    Raises:
        JobStoreError: The file is not ARC's SQLite job list (e.g. the older XML or Berkeley DB formats) or
            is damaged; one line saying so.
        OSError: The file cannot be read.
    """
    names = {k.rstrip("/"): v for k, v in (ce_names or {}).items()}
    with path.open("rb") as fh:  # a missing or unreadable file: the OSError of the open
        head = fh.read(16)
    if head != b"SQLite format 3\x00":
        hint = " (ARC's XML job list: set joblisttype = SQLITE and run arcsync)" if head.lstrip()[:1] == b"<" \
            else " (ARC's Berkeley DB job list: set joblisttype = SQLITE and run arcsync)" if head[12:16] in _BDB \
            else ""
        raise JobStoreError(path, f"not ARC's SQLite job list{hint}")
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=30.0)
    except sqlite3.Error as exc:
        raise JobStoreError(path, f"cannot open ARC's job list: {exc}") from exc
    try:
        columns = {row[1] for row in db.execute("PRAGMA table_info(jobs)")}
        missing = [c for c in _REQUIRED if c not in columns]
        if missing:
            raise JobStoreError(path, f"not ARC's job list: table 'jobs' lacks column '{missing[0]}'"
                                if columns else "not ARC's job list: no table 'jobs'")
        wanted = [*_REQUIRED, *(c for c in _OPTIONAL if c in columns)]
        rows = db.execute(f"SELECT {', '.join(wanted)} FROM jobs ORDER BY rowid").fetchall()  # noqa: S608
    except sqlite3.Error as exc:
        raise JobStoreError(path, f"ARC's job list is damaged or unreadable ({exc}); it is left untouched") from exc
    finally:
        db.close()
    records: list[JobRecord] = []
    skipped: dict[str, int] = {}
    for row in rows:
        job = {k: _unescape(v) for k, v in zip(wanted, row, strict=True)}
        interface = job["managementinterfacename"]
        if interface != REST_INTERFACE:
            skipped[interface or "(none)"] = skipped.get(interface or "(none)", 0) + 1
            continue
        endpoint = job["serviceinformationurl"].rstrip("/")
        job_id = job["idfromendpoint"] or job["id"].rstrip("/").rsplit("/", 1)[-1]
        if not endpoint or not job_id:
            skipped["(no endpoint or id)"] = skipped.get("(no endpoint or id)", 0) + 1
            continue
        try:
            submitted = datetime.fromtimestamp(int(job["localsubmissiontime"]), UTC).isoformat()
        except (ValueError, OverflowError, OSError):
            submitted = ""
        description = job["descriptiondocument"] or None
        arc_state = job.get("state") or None
        records.append(JobRecord(
            job_id=job_id, ce=_ce_name(endpoint, names), endpoint=endpoint, submitted=submitted,
            tag=job["name"] or None, description=description,
            description_format=_format_of(description) if description else None,
            state=arc_state_to_status(arc_state), arc_state=arc_state if arc_state != "Undefined" else None,
        ))
    for interface, n in sorted(skipped.items()):
        _log.warning("%s: skipping %d job(s) of interface %s (only %s jobs can be managed here)", path, n,
                     interface, REST_INTERFACE)
    return records
