"""Blocking ARC REST client: narrow subclasses of pyarcrest's ``ARCRest_1_0``/``ARCRest_1_1``.

This is the only module (with :mod:`arc_intercede.errors`) that imports pyarcrest. Its methods
block; the backend calls them only through :mod:`arc_intercede.facade`, one thread per
connection at a time. Everything it returns is typed; pyarcrest ``Result`` objects stay inside.

pyarcrest 0.5 defects neutralised here (numbers from ``arc-rest-facts.md`` §15):

1. Shared mutable ``headers``/``params`` defaults (token leak): :meth:`SafeHTTPClient.request`
   copies both before touching them, and adds ``Authorization`` only to its private copy.
2. Blind retry of every method: only idempotent requests are retried, once, after a connection
   reset; ``action=new``, delegation ``new``/``renew`` and streamed bodies never are, and they
   always go over a fresh connection. Uploads retry by reopening the file.
3, 4. Unverified TLS / no CA directory: every connection verifies the CE against the configured
   CA directory or bundle with hostname checks, in token and proxy mode alike.
5. ``set_debuglevel(1)``: our connections never enable http.client's debug output (which pyarcrest
   routes to its logger, headers and bearer tokens included); requests are logged without headers.
6. Not thread-safe: one connection per client object; the facade never shares one between threads.
7. No timeouts: separate connect and read deadlines on every connection.
8. Listing key ``dirs``: the listing is parsed here with A-REX's ``dir`` key.
9. Path escapes in downloads: downloads are done by :mod:`arc_intercede.transfer`, contained.
10. No percent-encoding: every session path segment is quoted.
11, 12. Delegation renewal status and ``Bearer`` in ``X-Token-Delegation``: own implementations.
13. Dropped reason phrase: error responses carry A-REX's reason phrase (plus any body).
14. ``ARCRest_1_0`` refuses tokens (``assert``): auth is the HTTP client's job, on both versions.
15. No chunking, silent ``zip`` truncation: the facade chunks; replies are checked for count and
    alignment here and a mismatch is an error, never a dropped id.
16. ``import arc``: ``submitJobs`` and the description helpers are never called.
17. Unbounded bodies: JSON bodies and listings are read with a byte cap.
18, 19. Empty delegation list, ``int("")`` exit codes, ``State`` as a string: parsed defensively.
20. Hard-coded ``/tmp/x509up_u<uid>`` and a new connection per worker: credentials are explicit.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlencode

import pyarcrest.http
from pyarcrest.arc import ARCRest, ARCRest_1_0, ARCRest_1_1
from pyarcrest.errors import ARCError, ARCHTTPError

from arc_intercede.auth import TokenSource
from arc_intercede.errors import APIVersionError, CEResponseError, http_error

__all__ = [
    "ClientSettings",
    "JobInfo",
    "JobReply",
    "Listing",
    "Rest10",
    "Rest11",
    "RestClient",
    "negotiate",
]

_log = logging.getLogger(__name__)

MAX_JSON_BYTES: Final = 256 * 1024 * 1024
"""Cap on one JSON response (a 5 000-id info reply is a few MiB)."""
MAX_ERROR_BYTES: Final = 64 * 1024
"""Cap on the body of an error response kept for the message."""
MAX_LISTING_BYTES: Final = 64 * 1024 * 1024
"""Cap on one session-directory listing."""

# Bulk actions A-REX may safely receive twice (arc-rest-facts §17).
_IDEMPOTENT_ACTIONS: Final = frozenset({"info", "status", "delegations", "kill", "clean", "get"})
# A keep-alive connection the CE closed while idle shows up as one of these; over TLS, writing to
# it can also raise SSLEOFError (no close_notify) or SSLZeroReturnError (close_notify received).
_RETRY_ON: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
_NOT_SENT: Final = (http.client.CannotSendRequest, http.client.ResponseNotReady)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """What a connection to one CE needs (built by the backend from its config)."""

    host: str
    port: int
    api_base: str
    ssl_context: Any = field(repr=False)  # ssl.SSLContext (verifying; client cert in proxy mode)
    connect_timeout_s: float
    read_timeout_s: float
    token_source: TokenSource | None = field(default=None, repr=False)

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
    """One session directory level: file and subdirectory names as A-REX sent them."""

    files: tuple[str, ...]
    dirs: tuple[str, ...]


_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _Connection(http.client.HTTPSConnection):
    """Verified HTTPS connection with separate connect and read deadlines."""

    def __init__(self, settings: ClientSettings) -> None:
        super().__init__(
            settings.host, settings.port, timeout=settings.connect_timeout_s, context=settings.ssl_context
        )
        self._read_timeout = settings.read_timeout_s
        self._shut = False

    def connect(self) -> None:
        if self._shut:
            raise ConnectionAbortedError("the connection was shut down by its owner")
        super().connect()
        self.sock.settimeout(self._read_timeout)
        if self._shut:  # shut down while connecting, from another thread
            self.close()
            raise ConnectionAbortedError("the connection was shut down by its owner")

    def shutdown(self) -> None:
        """Close for good: a worker thread still using this connection cannot reopen it."""
        self._shut = True
        self.close()

    def getresponse(self) -> http.client.HTTPResponse:
        # A-REX writes a response in several pieces with Nagle's algorithm on: the second piece
        # waits for our ACK of the first, which Linux delays by up to 40 ms once a connection looks
        # interactive. Ask for an immediate ACK (the flag is one-shot, so per response).
        if _QUICKACK is not None and self.sock is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass
        return super().getresponse()


class _ErrorResponse:
    """An error response whose ``read()`` yields the reason phrase (and a bounded body).

    pyarcrest builds ``ARCHTTPError(status, resp.read().decode())``; A-REX puts its message in
    the reason phrase with an empty body, which pyarcrest would lose.
    """

    def __init__(self, resp: http.client.HTTPResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.reason = resp.reason
        self._text: bytes | None = None

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._resp.getheader(name, default)

    def read(self, amt: int | None = None) -> bytes:
        if self._text is None:
            try:
                body = self._resp.read(MAX_ERROR_BYTES).strip()
            finally:  # also when the CE dies mid-body: never leave the socket to the garbage collector
                self._resp.close()
            self._text = self.reason.encode("utf-8", "replace")
            if body:
                self._text += b": " + body
            return self._text
        return b""

    def close(self) -> None:
        self._resp.close()


class SafeHTTPClient(pyarcrest.http.HTTPClient):
    """pyarcrest's HTTP client with verified TLS, private headers, timeouts and safe retries."""

    def __init__(self, settings: ClientSettings) -> None:
        # The parent constructor is not called: it would build an unverified context and turn
        # on header debug output (defects 3, 5).
        self.settings = settings
        self.conn = _Connection(settings)
        self.isHTTPS = True

    def request(
        self,
        method: str,
        endpoint: str,
        headers: Mapping[str, str] | None = None,
        token: str | None = None,
        jsonData: Any = None,
        data: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send one request and return the response (error responses keep their reason).

        ``token`` is ignored: credentials come only from the client's settings.
        """
        del token
        # pyarcrest passes its shared default dicts here; another pyarcrest user in the process may
        # have written its token into them (defect 1), so a caller's Authorization never passes.
        hdrs = {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}
        query = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in (params or {}).items()}
        source = self.settings.token_source
        if source is not None:
            hdrs["Authorization"] = f"Bearer {source.token()}"
        if jsonData is not None:
            body = json.dumps(jsonData).encode()
            hdrs["Content-Type"] = "application/json"  # A-REX compares it exactly (§2)
        else:
            body = data
        url = f"{endpoint}?{urlencode(query)}" if query else endpoint
        idempotent = _is_idempotent(method, query)
        resendable = idempotent and (body is None or isinstance(body, bytes | str))  # a stream is used up
        if not idempotent:
            # Never send a request that must not be repeated over a keep-alive connection the
            # server may have closed meanwhile: a reset would leave its fate unknown.
            self.conn.close()
        _log.debug("%s %s", method, url)
        attempt = 0
        while True:
            attempt += 1
            try:
                self.conn.request(method, url, body=body, headers=hdrs)
                resp = self.conn.getresponse()
            except _NOT_SENT:
                # A previous response was not drained: nothing of this request was sent.
                self.conn.close()
                if attempt > 1:
                    raise
                continue
            except _RETRY_ON as exc:
                self.conn.close()
                if resendable and attempt == 1:
                    _log.debug("retrying %s %s after %s", method, endpoint, type(exc).__name__)
                    continue
                raise
            except BaseException:
                self.conn.close()
                raise
            return _ErrorResponse(resp) if resp.status >= 400 else resp


def _is_idempotent(method: str, query: Mapping[str, Any]) -> bool:
    """Whether sending the request twice has the effect of sending it once (a PUT replaces its target)."""
    if method in ("GET", "HEAD", "PROPFIND", "PUT"):
        return True
    return method == "POST" and query.get("action") in _IDEMPOTENT_ACTIONS and "type" not in query


def _read_capped(resp: Any, cap: int, what: str, conn: http.client.HTTPConnection) -> bytes:
    data = resp.read(cap + 1)
    if len(data) > cap:
        # The rest of the body is still on the wire: drop the connection, or the next request
        # on it would read that body as its response.
        resp.close()
        conn.close()
        raise CEResponseError(f"{what}: response larger than {cap} bytes")
    return bytes(data)


def _as_list(value: Any) -> list[Any]:
    # ARC-QUIRK(rest-1.0): one element comes as a bare value, none as an absent key (§2).
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _fix_utf8(name: str) -> str:
    # ARC-QUIRK(json): A-REX's XML-to-JSON rendering may escape each UTF-8 byte >= 0x80 as its
    # own \u00XX; such a name decodes as Latin-1 bytes that form valid UTF-8.
    if name.isascii() or any(ord(c) > 0xFF for c in name):
        return name
    try:
        return name.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return name


def quote_path(path: str) -> str:
    """Percent-encode every segment of a session path (A-REX URL-decodes paths)."""
    return "/".join(quote(seg, safe="") for seg in path.split("/"))


def _int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _arcrest_state(states: Any) -> str | None:
    # ARC's own client takes the first "arcrest:" value (JobControllerPluginREST.cpp); so do we.
    for state in _as_list(states):
        if isinstance(state, str) and state.startswith("arcrest:"):
            return state.removeprefix("arcrest:")
    return None


class _RestMixin:
    """The behaviour both API versions share; bound to one CE's settings by :func:`negotiate`."""

    VERSION: ClassVar[str]
    _settings: ClassVar[ClientSettings]
    _impls: ClassVar[dict[str, type[Any]]]

    # The attributes pyarcrest's methods read.
    httpClient: SafeHTTPClient
    apiBase: str
    apiPath: str
    version: str
    token: str | None
    proxypath: str | None

    def __init__(
        self, httpClient: SafeHTTPClient, token: Any = None, proxypath: Any = None, apiBase: str = "/arex",
        sendsize: Any = None, recvsize: Any = None, timeout: Any = None,
    ) -> None:
        # pyarcrest asserts a credential and ARCRest_1_0 refuses tokens (defect 14). Auth is the
        # HTTP client's job here, so pyarcrest's own token/proxypath stay unset (defect 20).
        del token, proxypath, sendsize, recvsize
        self.httpClient = httpClient
        self.token = None
        self.proxypath = None
        self.apiBase = apiBase
        self.sendsize = None
        self.recvsize = 64 * 1024
        self.timeout = timeout
        self.version = self.VERSION
        self.apiPath = f"{apiBase}/rest/{self.VERSION}"

    # --- pyarcrest's version negotiation hooks -------------------------------------------------

    @classmethod
    def getHTTPClient(cls, *args: Any, **kwargs: Any) -> SafeHTTPClient:
        """Return a verified client for the bound CE (pyarcrest passes no SSL context)."""
        client = SafeHTTPClient(cls._settings)
        getattr(cls, "_created", []).append(client)
        return client

    @classmethod
    def _getImplementations(cls) -> dict[str, type[Any]]:
        return dict(cls._impls)

    # --- plumbing -------------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The CE endpoint this client talks to."""
        return self._settings.endpoint

    def close(self) -> None:
        """Close the connection (the next request reopens it)."""
        self.httpClient.close()

    def shutdown(self) -> None:
        """Close the connection for good, also against a request still running in another thread."""
        self.httpClient.conn.shutdown()

    def new_connection(self) -> SafeHTTPClient:
        """Return another verified connection to the same CE (for a parallel worker)."""
        return SafeHTTPClient(self._settings)

    def _read_capped(self, resp: Any, cap: int, what: str) -> bytes:
        return _read_capped(resp, cap, what, self.httpClient.conn)

    def _json(self, method: str, path: str, what: str, *, ok: int = 200, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        resp = self._request(method, path, headers=headers, **kwargs)  # type: ignore[attr-defined]
        try:
            if resp.status != ok:
                text = resp.read().decode("utf-8", "replace")
                raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
            raw = self._read_capped(resp, MAX_JSON_BYTES, what)
        except BaseException:
            resp.close()  # a read cut short leaves the response open, and with it the socket
            raise
        if not raw.strip():
            return {}  # ARC-QUIRK(json): an empty root is a 0-byte body, not {} (§2)
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CEResponseError(f"{what}: malformed JSON: {exc}", endpoint=self.endpoint) from exc

    def _manageJobs(self, jobs: Sequence[str], action: str) -> list[dict[str, Any]]:
        """POST a bulk action and check that A-REX answered every id, in order (defect 15)."""
        if not jobs:
            return []
        payload: dict[str, Any] = {"job": [{"id": str(job)} for job in jobs]}
        reply = self._json("POST", "/jobs", f"jobs {action}", ok=201, jsonData=payload,
                           params={"action": action})
        entries = _as_list(reply.get("job") if isinstance(reply, dict) else None)
        if len(entries) != len(jobs):
            # Seen from A-REX while it restarts (an empty list for 100 ids): the next call may be whole.
            raise CEResponseError(
                f"jobs {action}: CE answered {len(entries)} of {len(jobs)} ids", endpoint=self.endpoint,
                transient=True,
            )
        for job, entry in zip(jobs, entries, strict=True):
            if not isinstance(entry, dict) or ("id" in entry and str(entry["id"]) != job):
                raise CEResponseError(f"jobs {action}: reply out of order at {job}", endpoint=self.endpoint)
        return entries

    # --- typed operations -----------------------------------------------------------------------

    def api_versions(self) -> list[str]:
        """Return the REST API versions the CE offers."""
        return [str(v) for v in self.getAPIVersions()]  # type: ignore[attr-defined]

    def ce_info(self) -> dict[str, Any]:
        """Return the CE's GLUE2 info document (JSON, not normalised)."""
        info = self._json("GET", "/info", "CE info")
        if not isinstance(info, dict):
            raise CEResponseError("CE info: not a JSON object", endpoint=self.endpoint)
        return info

    def list_jobs(self) -> list[str]:
        """Return the ids of all jobs of the caller's identity."""
        reply = self._json("GET", "/jobs", "list jobs")
        return [str(j["id"]) for j in _as_list(reply.get("job")) if isinstance(j, dict) and "id" in j]

    def create_jobs(self, description: str, *, queue: str | None, delegation_id: str | None,
                    is_adl: bool = False) -> list[JobReply]:
        """Submit one (multi-)xRSL text or ADL document; return one reply per description, in order.

        ``value`` is the initial state; ``code`` is 201 on success. Never retried.
        """
        try:
            # Bytes: http.client would encode a str body as Latin-1.
            results = self.createJobs(  # type: ignore[attr-defined]
                description.encode("utf-8"), queue=queue, delegationID=delegation_id, isADL=is_adl
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CEResponseError(f"create jobs: malformed reply: {exc!r}", endpoint=self.endpoint) from exc
        replies = []
        for result in results:
            if result.error:
                err = result.value
                code = int(err.status) if isinstance(err, ARCHTTPError) else 500
                replies.append(JobReply("", code, str(getattr(err, "text", err))))
            else:
                job_id, state = result.value
                replies.append(JobReply(str(job_id), 201, "Created", str(state)))
        return replies

    def job_status(self, ids: Sequence[str]) -> list[JobReply]:
        """Return one reply per id, in order; ``value`` is the REST state for found jobs."""
        return [
            JobReply(job, _int(e.get("status-code")) or 0, str(e.get("reason", "")),
                     str(e["state"]) if "state" in e else None)
            for job, e in zip(ids, self._manageJobs(ids, "status"), strict=True)
        ]

    def job_info(self, ids: Sequence[str]) -> list[tuple[JobReply, JobInfo | None]]:
        """Return one (reply, info) per id, in order; info is None for unknown jobs."""
        out: list[tuple[JobReply, JobInfo | None]] = []
        for job, entry in zip(ids, self._manageJobs(ids, "info"), strict=True):
            reply = JobReply(job, _int(entry.get("status-code")) or 0, str(entry.get("reason", "")))
            doc = entry.get("info_document")
            info = self._parse_info(doc) if reply.code == 200 and isinstance(doc, dict) else None
            out.append((reply, info))
        return out

    def job_action(self, ids: Sequence[str], action: str) -> list[JobReply]:
        """Run ``kill``, ``clean`` or ``restart``; 202 means queued on the CE."""
        if action not in ("kill", "clean", "restart"):
            raise ValueError(f"unsupported job action {action!r}")
        return [
            JobReply(job, _int(e.get("status-code")) or 0, str(e.get("reason", "")))
            for job, e in zip(ids, self._manageJobs(ids, action), strict=True)
        ]

    @staticmethod
    def _parse_info(doc: Mapping[str, Any]) -> JobInfo:
        act = doc.get("ComputingActivity", {})
        if not isinstance(act, dict):
            act = {}
        return JobInfo(
            state=_arcrest_state(act.get("State")),
            restart_state=_arcrest_state(act.get("RestartState")),
            exit_code=_int(act.get("ExitCode")) if str(act.get("ExitCode", "")).strip() else None,
            owner=str(act["Owner"]) if "Owner" in act else None,
            queue=str(act["Queue"]) if "Queue" in act else None,
            errors=tuple(str(e) for e in _as_list(act.get("Error"))),
            stdout=str(act["StdOut"]) if "StdOut" in act else None,
            stderr=str(act["StdErr"]) if "StdErr" in act else None,
            raw=act,
        )

    # --- delegations ----------------------------------------------------------------------------

    def delegation_ids(self) -> list[str]:
        """Return the ids of the caller's x509 delegations."""
        params = {"type": "x509"} if self.VERSION != "1.0" else {}
        reply = self._json("GET", "/delegations", "list delegations", params=params)
        return [str(d["id"]) for d in _as_list(reply.get("delegation")) if isinstance(d, dict) and "id" in d]

    def new_delegation(self) -> tuple[str, str]:
        """Start an x509 delegation; return its id and the CE's CSR (PEM). Never retried."""
        resp = self._request("POST", "/delegations", params={"action": "new"})  # type: ignore[attr-defined]
        text = self._read_capped(resp, MAX_ERROR_BYTES, "new delegation").decode("utf-8", "replace")
        if resp.status != 201:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="new delegation")
        location = resp.getheader("Location") or ""
        # Old and new A-REX build Location differently; the id is always the last segment (§10).
        delegation_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not delegation_id or "-----BEGIN" not in text:
            raise CEResponseError("new delegation: no Location or no CSR in reply", endpoint=self.endpoint)
        return delegation_id, text

    def renew_delegation(self, delegation_id: str) -> str:
        """Ask for a fresh CSR of an existing delegation (A-REX answers 201, defect 11)."""
        resp = self._request(  # type: ignore[attr-defined]
            "POST", f"/delegations/{quote(delegation_id, safe='')}", params={"action": "renew"}
        )
        text = self._read_capped(resp, MAX_ERROR_BYTES, "renew delegation").decode("utf-8", "replace")
        if resp.status != 201:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="renew delegation")
        return text

    def put_delegation(self, delegation_id: str, pem: bytes) -> None:
        """Upload the signed proxy chain of a delegation."""
        self.uploadCertDelegation(quote(delegation_id, safe=""), pem)  # type: ignore[attr-defined]

    def get_delegation(self, delegation_id: str) -> str | None:
        """Return the delegated chain (PEM, no key), or None when the id is unknown (ghost ids)."""
        try:
            return str(self.getDelegation(quote(delegation_id, safe="")))  # type: ignore[attr-defined]
        except ARCHTTPError as exc:
            if int(exc.status) == 404:
                return None
            raise

    def new_token_delegation(self, token: str) -> str:
        """Create a jwt delegation (REST 1.1) carrying the bare token (defect 12); return its id."""
        if self.VERSION == "1.0":
            raise APIVersionError("token delegation needs REST API 1.1", endpoint=self.endpoint)
        resp = self._request(  # type: ignore[attr-defined]
            "POST", "/delegations", headers={"X-Token-Delegation": token},
            params={"action": "new", "type": "jwt"},
        )
        text = self._read_capped(resp, MAX_ERROR_BYTES, "new token delegation").decode("utf-8", "replace")
        if resp.status != 201:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="new token delegation")
        return (resp.getheader("Location") or "").rstrip("/").rsplit("/", 1)[-1]

    # --- session directory ---------------------------------------------------------------------

    def list_dir(self, job_id: str, path: str = "") -> Listing:
        """List one level of a job's session directory (A-REX's ``file``/``dir`` keys, defect 8)."""
        url = f"/jobs/{quote(job_id, safe='')}/session/{quote_path(path)}" if path else \
            f"/jobs/{quote(job_id, safe='')}/session"
        what = f"list session of {job_id}"
        headers = {"Accept": "application/json"}
        resp = self._request("GET", url, headers=headers)  # type: ignore[attr-defined]
        if resp.status != 200:
            text = resp.read().decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
        raw = self._read_capped(resp, MAX_LISTING_BYTES, what)
        try:
            data = json.loads(raw) if raw.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CEResponseError(f"{what}: malformed listing: {exc}", endpoint=self.endpoint) from exc
        if not isinstance(data, dict):
            raise CEResponseError(f"{what}: listing is not an object", endpoint=self.endpoint)
        files = tuple(_fix_utf8(str(f)) for f in _as_list(data.get("file")))
        dirs = tuple(_fix_utf8(str(d)) for d in _as_list(data.get("dir")))
        return Listing(files, dirs)

    def open_file(self, job_id: str, path: str) -> Any:
        """Start streaming one session file; return the response to read in chunks.

        The caller must read it to the end or call :meth:`abort`.
        """
        url = f"/jobs/{quote(job_id, safe='')}/session/{quote_path(path)}"
        resp = self._request("GET", url)  # type: ignore[attr-defined]
        if resp.status != 200:
            text = resp.read().decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=f"download {path} of {job_id}")
        return resp

    def abort(self) -> None:
        """Drop the connection now, also from another thread; the next request reconnects.

        ``shutdown`` wakes a read blocked in another thread, which a plain ``close`` would not
        (the response's file object keeps the socket open).
        """
        sock = self.httpClient.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.httpClient.close()

    def upload(self, job_id: str, name: str, path: Path) -> None:
        """PUT one local file into the session directory (retried once, reopening the file)."""
        url = f"/jobs/{quote(job_id, safe='')}/session/{quote_path(name)}"
        what = f"upload {name} to {job_id}"
        for attempt in (1, 2):
            with open(path, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                body: Any = stream if size else b""
                headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
                try:
                    resp = self._request("PUT", url, headers=headers, data=body)  # type: ignore[attr-defined]
                except _RETRY_ON:
                    if attempt == 2:
                        raise
                    _log.debug("re-uploading %s after a connection reset", name)
                    time.sleep(0.2)
                    continue
            text = resp.read().decode("utf-8", "replace")
            if resp.status not in (200, 201, 204):
                raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
            return

    def diagnose(self, job_id: str, name: str, max_bytes: int) -> str | None:
        """Return one diagnose item's text, or None while A-REX has none (404)."""
        resp = self._request("GET", f"/jobs/{quote(job_id, safe='')}/diagnose/{quote(name, safe='')}")  # type: ignore[attr-defined]
        if resp.status == 404:
            resp.read()
            return None
        if resp.status != 200:
            text = resp.read().decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=f"diagnose {name} of {job_id}")
        data = resp.read(max_bytes)
        if resp.read(1):
            self.abort()
            data += b"\n[truncated]"
        return bytes(data).decode("utf-8", "replace")


class Rest10(_RestMixin, ARCRest_1_0):
    """ARC REST API 1.0 (ARC 6 and 7); tokens work here too."""

    VERSION = "1.0"


class Rest11(_RestMixin, ARCRest_1_1):
    """ARC REST API 1.1 (ARC 7): queue and delegation as request parameters, jwt delegations."""

    VERSION = "1.1"


RestClient = Rest10 | Rest11


class _Negotiator(_RestMixin, ARCRest):
    """Entry point for pyarcrest's ``getClient`` (bound per CE by :func:`negotiate`)."""

    VERSION = ""


def negotiate(settings: ClientSettings, version: str | None = None) -> Rest10 | Rest11:
    """Connect, ask the CE for its REST versions, and return a client for the best common one.

    Version selection is pyarcrest's own (``getClient``/``_getImplementations``): the highest
    version both sides support, or ``version`` when pinned.

    Raises:
        APIVersionError: No common version, or the pinned one is not offered.
    """
    impls: dict[str, type[Any]] = {
        "1.0": type("Rest10", (Rest10,), {"_settings": settings}),
        "1.1": type("Rest11", (Rest11,), {"_settings": settings}),
    }
    for impl in impls.values():
        impl._impls = impls
    created: list[SafeHTTPClient] = []
    bound: type[Any] = type("Negotiator", (_Negotiator,),
                            {"_settings": settings, "_impls": impls, "_created": created})
    try:
        client = bound.getClient(
            host=settings.host, port=settings.port, apiBase=settings.api_base,
            timeout=settings.read_timeout_s, version=version,
        )
    except BaseException as exc:
        for conn in created:  # pyarcrest leaves the probe connection open on failure
            conn.close()
        if isinstance(exc, ARCError) and not isinstance(exc, ARCHTTPError):
            raise APIVersionError(str(exc), endpoint=settings.endpoint) from exc
        raise
    assert isinstance(client, Rest10 | Rest11)
    _log.debug("using ARC REST API %s at %s", client.VERSION, settings.endpoint)
    return client
