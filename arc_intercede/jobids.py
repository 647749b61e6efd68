r"""Job ids as people see them: plain ids, ids with stray whitespace, and job URLs.

ARC's own client and aCT print a job as a URL: ``https://host:443/arex/<id>`` (the job's
``JobID``), or the REST resource ``https://host:443/arex/rest/1.x/jobs/<id>``. Everything that
takes job ids (the backend's bulk methods and the command line) passes them through
:func:`normalise_ids` first:

* surrounding whitespace is stripped (``" abc\n"`` is ``abc``, never a separate ``unknown`` id);
* a job URL of the configured endpoint (same host and port, path under its A-REX path) becomes the
  bare id;
* a job URL of another CE is refused with :class:`~arc_intercede.errors.ConfigurationError`;
* anything else is passed on unchanged (an id the CE does not know is answered ``UNKNOWN``).

Results are keyed by the ids exactly as given (so every id passed in is in the result once); ids
that name the same job share its answer, and the request carries each job once (:class:`IdMap`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final, TypeVar
from urllib.parse import unquote, urlsplit

from arc_intercede.config import describe
from arc_intercede.errors import ConfigurationError

__all__ = ["IdMap", "normalise_id", "normalise_ids"]

R = TypeVar("R")

_REST_JOBS: Final = re.compile(r"rest/[0-9]+\.[0-9]+/jobs/([^/]+)/?")


def _host_port(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:
        return None
    return (parts.hostname or "").lower(), port


def normalise_id(job_id: str, endpoint: str) -> str:
    """Return the bare job id for ``job_id`` (an id or a job URL) addressed to ``endpoint``.

    Args:
        job_id: A job id, possibly with surrounding whitespace, or a job URL.
        endpoint: The backend's A-REX endpoint, ``https://host[:port]/arex``.

    Raises:
        ConfigurationError: ``job_id`` is a job URL of another CE, or a URL that names no job.
    """
    text = str(job_id).strip()
    if "://" not in text:
        return text
    parts = urlsplit(text)
    if "@" in parts.netloc:  # never echo user information: it may hold a password
        raise ConfigurationError("a job URL with user information ('user:password@') is not a job id")
    if parts.scheme.lower() not in ("https", "http"):
        raise ConfigurationError(f"job id {describe(text)} is not a job id or an https:// job URL")
    base = urlsplit(endpoint)
    base_path = base.path.rstrip("/") or "/arex"
    if _host_port(text) != _host_port(endpoint):
        raise ConfigurationError(
            f"job URL {describe(text)} belongs to another CE ({parts.hostname}:{parts.port or 443}), "
            f"not to {base.hostname}:{base.port or 443}"
        )
    path = parts.path
    if not path.startswith(base_path + "/"):
        raise ConfigurationError(f"job URL {describe(text)} is not under this CE's A-REX path {base_path}")
    rest = path[len(base_path) + 1:]
    match = _REST_JOBS.fullmatch(rest)
    if match is not None:
        return unquote(match.group(1))
    rest = rest.rstrip("/")
    if not rest or "/" in rest:
        raise ConfigurationError(f"job URL {describe(text)} names no job (expected {base_path}/<id>)")
    return unquote(rest)


def normalise_ids(ids: Iterable[str], endpoint: str) -> list[str]:
    """Return :func:`normalise_id` of every id, in order (duplicates kept; the caller dedupes).

    Raises:
        ConfigurationError: An id is a job URL of another CE.
    """
    if isinstance(ids, str):
        raise ConfigurationError("job ids must be a list of ids, not one string")
    return [normalise_id(j, endpoint) for j in ids]


class IdMap:
    """The ids a caller gave, the bare ids sent to the CE, and the way back.

    Args:
        ids: Job ids as given (plain, with stray whitespace, or job URLs of ``endpoint``).
        endpoint: The backend's A-REX endpoint.

    Raises:
        ConfigurationError: As :func:`normalise_ids`.
    """

    __slots__ = ("_pairs", "ids")

    def __init__(self, ids: Iterable[str], endpoint: str) -> None:
        if isinstance(ids, str):
            raise ConfigurationError("job ids must be a list of ids, not one string")
        given = list(dict.fromkeys(ids))
        try:  # the common case, plain ids, without a Python call per id
            plain = "://" not in "\n".join(given) and list(map(str.strip, given)) == given
        except TypeError:
            plain = False
        sent = given if plain else normalise_ids(given, endpoint)
        self.ids: list[str] = list(dict.fromkeys(sent))
        """The distinct bare ids, in order."""
        self._pairs = None if sent == given else list(zip(given, sent, strict=True))

    def rekey(self, out: Mapping[str, R]) -> dict[str, R]:
        """Return ``out`` (keyed by bare id) keyed by every id as given."""
        if self._pairs is None:
            return out if isinstance(out, dict) else dict(out)
        return {given: out[sent] for given, sent in self._pairs}
