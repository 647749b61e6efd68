"""Per-operation REST calls both API versions share (``_RestMixin``): jobs, delegations, session files."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import eq, getitem
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from pyarcrest.errors import ARCHTTPError

from arc_intercede._rest.listing import _ListingParser, _MalformedListingError
from arc_intercede._rest.models import ClientSettings, JobInfo, JobReply, Listing, _all_possible, possible_job_id
from arc_intercede._rest.transport import (
    _RETRY_ON,
    MAX_ERROR_BYTES,
    MAX_JSON_BYTES,
    MAX_LISTING_BYTES,
    MAX_REPLY_BYTES,
    SafeHTTPClient,
    _FileStream,
    _read_capped,
    _Response,
)
from arc_intercede.errors import (
    APIVersionError,
    CEResponseError,
    TransportError,
    http_error,
)

_log = logging.getLogger(__name__)

_PLAIN_CODES: Final = frozenset({"200", "404"})
_get: Final = dict.get  # map(_get, entries, repeat(key)): one key of every entry at C speed, TypeError on a non-dict


def _aligned(entries: list[Any], jobs: list[str]) -> bool:
    """Whether ``entries`` are dicts carrying exactly the ids of ``jobs``, in order (checked at C speed)."""
    if len(entries) != len(jobs):
        return False
    try:
        return list(map(_get, entries, repeat("id"))) == jobs
    except TypeError:  # an entry that is not a dict
        return False


def _bulk_body(jobs: Sequence[str]) -> bytes:
    """``{"job": [{"id": "a"}, ...]}`` for ``jobs``, encoded by one C-level ``json.dumps`` of the id list.

    In the encoded list, ``", "`` only occurs between two items: a quote inside an id is escaped.
    """
    items = json.dumps(list(jobs))[1:-1]  # ids are str: checked by possible_job_id / _all_possible
    return ('{"job": [{"id": ' + items.replace('", "', '"}, {"id": "') + "}]}").encode()


def _as_list(value: Any) -> list[Any]:
    # ARC-QUIRK(rest-1.0): one element comes as a bare value, none as an absent key.
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
        """Close the connection (the next request reopens it). Only from the thread using it."""
        self.httpClient.close()

    def shutdown(self) -> None:
        """Close the connection for good, also against a request still running in another thread.

        Never blocks: a blocked read is woken by shutting the socket down; the thread using the
        connection closes it when its call ends.
        """
        self.httpClient.conn.shutdown()

    def cancel(self) -> None:
        """From any thread: make the call using this connection stop at once (never blocks)."""
        self.httpClient.conn.cancel()

    def begin_call(self) -> None:
        """Start a call (in the worker thread about to use this client)."""
        self.httpClient.begin_call()

    def end_call(self) -> None:
        """End a call (in the worker thread that used this client)."""
        self.httpClient.end_call()

    def new_connection(self) -> SafeHTTPClient:
        """Return another verified connection to the same CE (for a parallel worker)."""
        return SafeHTTPClient(self._settings)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request for ``path`` (under this version's API path) over this client's connection.

        Keyword arguments are :meth:`SafeHTTPClient.request`'s (``headers``, ``params``, ``data``,
        ``jsonData``); the response is returned unread.
        """
        return self.httpClient.request(method, f"{self.apiPath}{path}", **kwargs)

    def _read_capped(self, resp: Any, cap: int, what: str) -> bytes:
        return _read_capped(resp, cap, what, self.httpClient.conn)

    def _json(self, method: str, path: str, what: str, *, ok: int = 200, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        resp = self._send(method, path, headers=headers, **kwargs)
        try:
            if resp.status != ok:
                text = resp.read().decode("utf-8", "replace")
                raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
            raw = self._read_capped(resp, MAX_JSON_BYTES, what)
        except BaseException:
            resp.close()  # a read cut short leaves the response open, and with it the socket
            raise
        if not raw.strip():
            return {}  # ARC-QUIRK(json): an empty root is a 0-byte body, not {}
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CEResponseError(f"{what}: malformed JSON: {exc}", endpoint=self.endpoint) from exc

    def _manageJobs(self, jobs: Sequence[str], action: str) -> list[dict[str, Any]]:
        """POST a bulk action; return one entry per id, in order, whatever the CE left out (defect 15).

        Impossible ids (:func:`possible_job_id`) are answered here as unknown, never sent. Entries
        are matched by their ``id``; an id the CE left out of its reply is asked again alone
        (``restart``, which must not be repeated blindly, reports it as not answered instead).
        """
        entries: dict[str, dict[str, Any]] = {} if _all_possible(jobs) else {
            job: {"id": job, "status-code": "404", "reason": "not a valid ARC job id"}
            for job in jobs if not possible_job_id(job)
        }
        asked = list(jobs) if not entries else [job for job in jobs if job not in entries]
        if asked:
            reply = self._post(asked, action)
            if not entries and _aligned(reply, asked):
                return reply  # the common case: one entry per id, in order, no per-id work here
            entries.update(self._match(reply, asked, action))
        missing = [job for job in asked if job not in entries]
        if missing and action == "restart":
            entries.update((job, {"id": job, "status-code": "0",
                                  "reason": "the CE's reply left this id out: check its state"}) for job in missing)
        elif missing:
            _log.warning("jobs %s: the CE left %d of %d ids out of its reply; asking for each alone",
                         action, len(missing), len(asked))
            for job in missing:
                alone = self._ask([job], action)
                if job not in alone:
                    # Seen from A-REX while it restarts (an empty list for 100 ids): the next call may be whole.
                    raise CEResponseError(
                        f"jobs {action}: CE answered {len(asked) - len(missing)} of {len(asked)} ids and "
                        f"nothing about {job!r} asked alone", endpoint=self.endpoint, transient=True,
                    )
                entries[job] = alone[job]
        return [entries[job] for job in jobs]

    def _ask(self, jobs: Sequence[str], action: str) -> dict[str, dict[str, Any]]:
        """One bulk request; return its entries by id (an entry without id only when it is alone)."""
        return self._match(self._post(jobs, action), jobs, action)

    def _post(self, jobs: Sequence[str], action: str) -> list[Any]:
        """One bulk request; return the reply's ``job`` entries as sent (nothing checked yet)."""
        reply = self._json("POST", "/jobs", f"jobs {action}", ok=201, data=_bulk_body(jobs),
                           headers={"Content-Type": "application/json"}, params={"action": action})
        return _as_list(reply.get("job") if isinstance(reply, dict) else None)

    def _match(self, entries: list[Any], jobs: Sequence[str], action: str) -> dict[str, dict[str, Any]]:
        """The reply ``entries`` by the id they answer; ids not asked for are dropped with a warning."""
        if len(entries) == len(jobs):
            try:  # fast path: every entry a dict whose id (if any) is the id asked for, in order
                if [e.get("id", j) for e, j in zip(entries, jobs, strict=True)] == list(jobs):
                    return dict(zip(jobs, entries, strict=True))
            except AttributeError:
                pass
        out: dict[str, dict[str, Any]] = {}
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise CEResponseError(f"jobs {action}: malformed entry in reply", endpoint=self.endpoint)
            if "id" in entry:
                job = str(entry["id"])
            elif len(jobs) == len(entries):
                job = jobs[position]  # ARC-QUIRK: an entry without id, aligned by position
            else:
                raise CEResponseError(f"jobs {action}: reply entries without ids cannot be matched",
                                      endpoint=self.endpoint)
            if job in out:
                raise CEResponseError(f"jobs {action}: reply answers {job!r} twice", endpoint=self.endpoint)
            out[job] = entry
        extra = set(out) - set(jobs)
        if extra:
            _log.warning("jobs %s: the CE answered about %d id(s) not asked for; ignored", action, len(extra))
            for job in extra:
                del out[job]
        return out

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

    def job_states(self, ids: Sequence[str]) -> list[str | None]:
        """Return the REST state per id, in order; None where A-REX did not answer 200 (e.g. 404).

        The lean form of :meth:`job_status` for polling: no per-id object besides the state string.
        """
        entries = self._manageJobs(ids, "status")
        codes = list(map(_get, entries, repeat("status-code")))
        try:
            plain = _PLAIN_CODES.issuperset(codes)  # A-REX sends "200"/"404"
        except TypeError:  # an unhashable code from a broken CE
            plain = False
        if not plain:
            codes = ["200" if _int(c) == 200 else None for c in codes]
        # (None, state)[code == "200"] per entry, at C speed: A-REX's 404 entries carry state "None".
        pairs = zip(repeat(None), map(_get, entries, repeat("state")))
        return list(map(getitem, pairs, map(eq, codes, repeat("200"))))

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

    def job_delegations(self, ids: Sequence[str]) -> list[JobReply]:
        """A-REX's ``delegations`` action: each job's delegation ids (``value``, comma-separated)."""
        out = []
        for job, e in zip(ids, self._manageJobs(ids, "delegations"), strict=True):
            found = e.get("delegation_id")
            names = [str(d) for d in (found if isinstance(found, list) else [found]) if d]
            out.append(JobReply(job, _int(e.get("status-code")) or 0, str(e.get("reason", "")),
                                ",".join(names) or None))
        return out

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
        resp = self._send("POST", "/delegations", params={"action": "new"})
        text = self._read_capped(resp, MAX_ERROR_BYTES, "new delegation").decode("utf-8", "replace")
        if resp.status != 201:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="new delegation")
        location = resp.getheader("Location") or ""
        # Old and new A-REX build Location differently; the id is always the last segment.
        delegation_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not delegation_id or "-----BEGIN" not in text:
            raise CEResponseError("new delegation: no Location or no CSR in reply", endpoint=self.endpoint)
        return delegation_id, text

    def renew_delegation(self, delegation_id: str) -> str:
        """Ask for a fresh CSR of an existing delegation (A-REX answers 201, defect 11)."""
        resp = self._send(
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
        resp = self._send(
            "POST", "/delegations", headers={"X-Token-Delegation": token},
            params={"action": "new", "type": "jwt"},
        )
        text = self._read_capped(resp, MAX_ERROR_BYTES, "new token delegation").decode("utf-8", "replace")
        if resp.status != 201:
            raise http_error(resp.status, text, endpoint=self.endpoint, what="new token delegation")
        return (resp.getheader("Location") or "").rstrip("/").rsplit("/", 1)[-1]

    # --- session directory ---------------------------------------------------------------------

    def list_dir(self, job_id: str, path: str = "", *, max_entries: int | None = None) -> Listing:
        """List one level of a job's session directory (A-REX's ``file``/``dir`` keys, defect 8).

        The listing is parsed as it streams: at most ``max_entries`` file names and as many
        directory names are kept (``more`` tells there were more; the rest is not read).

        Raises:
            ReplyTooLargeError: The listing is over :data:`MAX_LISTING_BYTES` (refused from its
                ``Content-Length`` when announced).
            CEResponseError: An error status, or a malformed listing.
        """
        url = f"/jobs/{quote(job_id, safe='')}/session/{quote_path(path)}" if path else \
            f"/jobs/{quote(job_id, safe='')}/session"
        what = f"list session of {job_id}" + (f" at {path!r}" if path else "")
        headers = {"Accept": "application/json"}
        resp = self._send("GET", url, headers=headers)
        if resp.status != 200:
            text = resp.read().decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
        assert isinstance(resp, _Response)
        if resp.length is not None and resp.length > MAX_LISTING_BYTES:
            resp.body_cap, resp.what = MAX_LISTING_BYTES, what
            resp._refuse(f"announces {resp.length} bytes")
        parser = _ListingParser(max_entries)
        total = 0
        buf = bytearray(1 << 16)
        try:
            while not parser.full and (n := resp.readinto(buf)):
                total += n
                if total > MAX_LISTING_BYTES:
                    resp.body_cap, resp.what = MAX_LISTING_BYTES, what
                    resp._refuse("is longer")
                parser.feed(bytes(buf[:n]))
            if parser.full:
                resp._drop()  # the rest is not wanted: never reuse the connection it is on
            else:
                parser.end()
        except _MalformedListingError as exc:
            resp._drop()
            raise CEResponseError(f"{what}: malformed listing: {exc}", endpoint=self.endpoint) from exc
        return Listing(tuple(_fix_utf8(f) for f in parser.files), tuple(_fix_utf8(d) for d in parser.dirs),
                       parser.full)

    def open_file(self, job_id: str, path: str) -> Any:
        """Start streaming one session file; return the response to read in chunks.

        The stream's ``readinto`` raises only :class:`~arc_intercede.errors.TransportError`
        (``kind`` set) for a broken body, including bytes past its announced end. The caller must
        read it to the end or call :meth:`abort`. Only the transfer's own deadline bounds it.
        """
        url = f"/jobs/{quote(job_id, safe='')}/session/{quote_path(path)}"
        what = f"download {path} of {job_id}"
        resp = self._send("GET", url)
        if resp.status != 200:
            text = resp.read().decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
        assert isinstance(resp, _Response)
        resp.release_deadline()
        resp.what = what
        return _FileStream(resp)

    def abort(self) -> None:
        """Drop the connection now, also from another thread, without blocking.

        The exchange in progress fails at once (the socket is shut down, which wakes a blocked
        read); the thread using the connection closes it and reconnects on its next request.
        """
        self.httpClient.conn.interrupt("cancelled", "the transfer was stopped by the client")

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
                    resp = self._send("PUT", url, headers=headers, data=body)
                except TransportError as exc:
                    if attempt == 2 or not isinstance(exc.__cause__, _RETRY_ON):
                        raise
                    _log.debug("re-uploading %s after a connection reset", name)
                    time.sleep(0.2)
                    continue
            text = self._read_capped(resp, MAX_REPLY_BYTES, what).decode("utf-8", "replace")
            if resp.status not in (200, 201, 204):
                raise http_error(resp.status, text, endpoint=self.endpoint, what=what)
            return

    def diagnose(self, job_id: str, name: str, max_bytes: int) -> str | None:
        """Return one diagnose item's text, or None while A-REX has none (404)."""
        resp = self._send("GET", f"/jobs/{quote(job_id, safe='')}/diagnose/{quote(name, safe='')}")
        if resp.status == 404:
            resp.read()
            return None
        if resp.status != 200:
            text = self._read_capped(resp, MAX_ERROR_BYTES, f"diagnose {name} of {job_id}").decode("utf-8", "replace")
            raise http_error(resp.status, text, endpoint=self.endpoint, what=f"diagnose {name} of {job_id}")
        assert isinstance(resp, _Response)
        data = resp.read(max_bytes)
        if resp.read(1):
            resp._drop()  # the rest stays unread: never reuse the connection
            data += b"\n[truncated]"
        return bytes(data).decode("utf-8", "replace")


