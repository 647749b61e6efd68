"""Typed values the REST client hands out: settings of one CE, per-job replies, info, listings."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from arc_intercede.credentials.tokens import TokenSource


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """What a connection to one CE needs (built by the backend from its config)."""

    host: str
    port: int
    api_base: str
    ssl_context: Any = field(repr=False)  # ssl.SSLContext or auth.TLSContextProvider (current proxy file)
    connect_timeout_s: float
    read_timeout_s: float
    token_source: TokenSource | None = field(default=None, repr=False)
    request_timeout_s: float = 300.0
    """Wall-clock deadline of one request and its whole reply (not of a streamed session file)."""

    @property
    def endpoint(self) -> str:
        """The CE endpoint URL."""
        return f"https://{self.host}:{self.port}{self.api_base}"


@dataclass(frozen=True, slots=True)
class JobReply:
    """One job's entry in a bulk reply: A-REX's per-job status code and reason, plus a value."""

    job_id: str
    code: int
    reason: str
    value: str | None = None

    @property
    def found(self) -> bool:
        """Whether A-REX knew the job (404 means it did not)."""
        return self.code != 404


@dataclass(frozen=True, slots=True, kw_only=True)
class JobInfo:
    """The parts of A-REX's per-job info document the backend uses."""

    state: str | None = None
    restart_state: str | None = None
    exit_code: int | None = None
    owner: str | None = None
    queue: str | None = None
    errors: tuple[str, ...] = ()
    stdout: str | None = None
    stderr: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Listing:
    """One session directory level: file and subdirectory names as A-REX sent them.

    ``more`` says the level had more files or more subdirectories than the ``max_entries`` asked
    for; the names beyond were not read.
    """

    files: tuple[str, ...]
    dirs: tuple[str, ...]
    more: bool = False


_IMPOSSIBLE_ID: Final = re.compile(r"[\s/\x00-\x1f\x7f-\x9f]")
_IMPOSSIBLE_BUT_SLASH: Final = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_RESERVED_IDS: Final = frozenset({"", ".", ".."})


def _all_possible(jobs: Sequence[str]) -> bool:
    """Tell at C speed whether every id of a chunk is a :func:`possible_job_id` (False: check each)."""
    try:
        joined = "/".join(jobs)
    except TypeError:
        return False
    return (joined.count("/") == len(jobs) - 1 and not _IMPOSSIBLE_BUT_SLASH.search(joined)
            and _RESERVED_IDS.isdisjoint(jobs) and max(map(len, jobs), default=0) <= 63)  # 63 chars <= 255 bytes


def possible_job_id(job_id: str) -> bool:
    """Tell whether ``job_id`` can name an ARC job at all (and may go into a URL or a path).

    Empty ids, ``.`` and ``..``, ids with whitespace, ``/``, NUL or other control characters, and
    ids over 255 bytes are answered locally (unknown) without asking the CE.
    """
    return (
        isinstance(job_id, str) and job_id not in ("", ".", "..") and not _IMPOSSIBLE_ID.search(job_id)
        and len(job_id.encode("utf-8", "surrogatepass")) <= 255
    )

