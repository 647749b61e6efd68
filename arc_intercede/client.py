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
17. Unbounded bodies: every reply body is read with a byte cap (refused at once when its
    ``Content-Length`` is over it), every request has a wall-clock deadline a trickling server
    cannot stretch, and listings are parsed as they stream, keeping at most ``max_entries`` names.
18, 19. Empty delegation list, ``int("")`` exit codes, ``State`` as a string: parsed defensively.
20. Hard-coded ``/tmp/x509up_u<uid>`` and a new connection per worker: credentials are explicit.

Error mapping travels with the connection and its responses: nothing a client method raises is a
raw ``OSError``, ``ssl`` or ``http.client`` error. A failure to reach the CE is a
:class:`~arc_intercede.errors.TransportError` with an empty ``kind``; a failure of one exchange on
an established connection carries its reason code in ``kind``. A connection that saw a protocol
violation (bytes past the end of a reply, a bad status line) or an interrupted exchange is closed
and never reused. Another thread stops an exchange only by shutting the socket down
(:meth:`_Connection.interrupt`); closing is always done by the thread that uses the connection, so
nothing ever waits on a lock a blocked reader holds.
"""

from __future__ import annotations

import codecs
import heapq
import http.client
import itertools
import json
import logging
import os
import re
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final
from urllib.parse import quote, urlencode

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from pyarcrest.arc import ARCRest as _PyARCRest
from pyarcrest.arc import ARCRest_1_0 as _PyARCRest10
from pyarcrest.arc import ARCRest_1_1 as _PyARCRest11
from pyarcrest.errors import ARCError, ARCHTTPError
from pyarcrest.http import HTTPClient as _PyHTTPClient

from arc_intercede.auth import TokenSource, current_context
from arc_intercede.errors import (
    APIVersionError,
    ARCBackendError,
    CEResponseError,
    CETimeoutError,
    ReplyTooLargeError,
    TransportError,
    http_error,
    is_credential_failure,
    map_arc_errors,
)

__all__ = [
    "ClientSettings",
    "JobInfo",
    "JobReply",
    "Listing",
    "Rest10",
    "Rest11",
    "RestClient",
    "negotiate",
    "possible_job_id",
]

_log = logging.getLogger(__name__)

MAX_JSON_BYTES: Final = 256 * 1024 * 1024
"""Cap on one JSON response (a 5 000-id info reply is a few MiB)."""
MAX_ERROR_BYTES: Final = 64 * 1024
"""Cap on the body of an error response kept for the message."""
MAX_LISTING_BYTES: Final = 64 * 1024 * 1024
"""Cap on one session-directory listing (streamed: only the names kept cost memory)."""
MAX_REPLY_BYTES: Final = 1024 * 1024
"""Cap on any other reply body: versions, creation, delegations, uploads, an unexpected 2xx."""
MAX_NAME_TOKEN: Final = 16 * 1024
"""Longest JSON string accepted in a listing (a 255-byte name escaped byte by byte is ~1.5 KiB)."""

# Bulk actions A-REX may safely receive twice (arc-rest-facts §17).
_IDEMPOTENT_ACTIONS: Final = frozenset({"info", "status", "delegations", "kill", "clean", "get"})
# A keep-alive connection the CE closed while idle shows up as one of these; over TLS, writing to
# it can also raise SSLEOFError (no close_notify) or SSLZeroReturnError (close_notify received).
_RETRY_ON: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
# A reused connection whose previous reply ran past its end shows the surplus as a bad status line;
# an idempotent request is then sent again over a fresh connection.
_RETRY_ON_REUSED: Final = (http.client.BadStatusLine, http.client.LineTooLong)
_NOT_SENT: Final = (http.client.CannotSendRequest, http.client.ResponseNotReady)


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


_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class _Deadline:
    """One armed request deadline (see :class:`_Deadlines`)."""

    __slots__ = ("active", "conn", "limit")

    def __init__(self, conn: _Connection, limit: float) -> None:
        self.conn, self.limit, self.active = conn, limit, True


class _Deadlines:
    """One daemon thread that interrupts the connections whose request ran past its deadline.

    Arming and disarming are O(log n) and never block on I/O; a request that ends in time just
    disarms its entry. The interrupt only shuts the socket down (see :meth:`_Connection.interrupt`).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Deadline]] = []
        self._seq = itertools.count()
        self._stale = 0
        self._thread: threading.Thread | None = None

    def arm(self, conn: _Connection, seconds: float) -> _Deadline:
        entry = _Deadline(conn, seconds)
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + seconds, next(self._seq), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="arc-intercede-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()
        return entry

    def disarm(self, entry: _Deadline | None) -> None:
        if entry is None or not entry.active:
            return
        with self._cond:
            entry.active = False
            self._stale += 1
            if self._stale > 64 and self._stale > len(self._heap) // 2:  # drop disarmed entries
                self._heap = [item for item in self._heap if item[2].active]
                heapq.heapify(self._heap)
                self._stale = 0

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][2].active:
                    heapq.heappop(self._heap)
                    self._stale = max(0, self._stale - 1)
                if not self._heap:
                    self._cond.wait(60.0)
                    continue
                due, _, entry = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                entry.active = False
                entry.conn.interrupt(
                    "limit:timeout", f"no complete reply within the request deadline of {entry.limit:g} s"
                )


_DEADLINES: Final = _Deadlines()


class _Response(http.client.HTTPResponse):
    """A response that caps whole-body reads, maps every read error, and checks for bytes past its end.

    Made by :class:`_Connection` (its ``response_class``), read by the thread that owns the
    connection. Bytes found past the end of a finished reply mark the connection as poisoned (it is
    closed before the next request) and set :attr:`surplus`.
    """

    body_cap: int = MAX_REPLY_BYTES
    what: str = "CE reply"

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self._sock = sock
        self.conn: _Connection | None = None
        self.surplus = False
        self._at_end = False
        self._deadline: _Deadline | None = None

    # --- reads --------------------------------------------------------------------------------------

    def read(self, amt: int | None = None) -> bytes:
        if amt is None:
            return self._read_all()
        with self._mapped():
            data = super().read(amt)
        if not data and amt and self.length:
            raise self._broken("truncated", f"reply ended {self.length} bytes short", None)
        return data

    def readinto(self, b: Any) -> int:
        with self._mapped():
            n = super().readinto(b)
        if not n and len(b) and self.length:  # http.client returns 0 at a premature end
            raise self._broken("truncated", f"reply ended {self.length} bytes short", None)
        return n

    def _read_all(self) -> bytes:
        cap = self.body_cap
        if self.length is not None and self.length > cap:
            self._refuse(f"announces {self.length} bytes")
        parts: list[bytes] = []
        total = 0
        while data := self.read(min(1 << 16, cap + 1 - total)):
            total += len(data)
            if total > cap:
                self._refuse("is longer")
            parts.append(data)
        return b"".join(parts)

    def _refuse(self, detail: str) -> None:
        self._drop()
        endpoint = self.conn.endpoint if self.conn is not None else ""
        raise ReplyTooLargeError(
            f"{self.what}: reply {detail}, more than the {self.body_cap} bytes accepted",
            endpoint=endpoint, limit=self.body_cap,
        )

    # --- errors ------------------------------------------------------------------------------------

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        try:
            yield
        except ARCBackendError:
            raise
        except TimeoutError as exc:
            raise self._broken("limit:timeout", "no data within the read timeout", exc) from exc
        except (OSError, http.client.IncompleteRead) as exc:
            raise self._broken("truncated", f"connection broke mid-reply ({type(exc).__name__})", exc) from exc
        except (http.client.HTTPException, ValueError) as exc:
            raise self._broken("protocol", f"malformed reply body ({type(exc).__name__}: {exc})", exc) from exc

    def _broken(self, kind: str, detail: str, exc: BaseException | None) -> TransportError:
        """Close this reply's connection and build the error for ``kind`` (an interrupt wins)."""
        self._drop()
        conn = self.conn
        endpoint = conn.endpoint if conn is not None else ""
        if conn is not None and conn.interrupted is not None:
            kind, detail = conn.interrupted
        if kind == "limit:timeout":
            return CETimeoutError(f"{self.what}: {detail}", endpoint=endpoint, kind=kind)
        return TransportError(f"{self.what}: {detail}", endpoint=endpoint, kind=kind)

    def _drop(self) -> None:
        """Give up this reply: the rest of its body is unread, so its connection is never reused."""
        if self.conn is not None:
            self.conn.poisoned = True
        try:
            self.close()
        except (OSError, ValueError):
            pass

    # --- end of the body -----------------------------------------------------------------------------

    def _read_and_discard_trailer(self) -> None:
        super()._read_and_discard_trailer()  # type: ignore[misc]
        self._at_end = True

    def _close_conn(self) -> None:
        fp = self.fp
        finished = self._at_end or self.length == 0
        if fp is not None and not self.will_close and finished and _has_surplus(fp, self._sock):
            self.surplus = True
            if self.conn is not None:
                self.conn.poisoned = True
            _log.warning("%s: the CE sent bytes past the end of the reply; dropping the connection", self.what)
        if fp is not None:
            _DEADLINES.disarm(self._deadline)
        super()._close_conn()  # type: ignore[misc]

    def close(self) -> None:
        _DEADLINES.disarm(self._deadline)
        super().close()

    def release_deadline(self) -> None:
        """Stop the request deadline (a streamed file is bounded by the transfer's own deadline)."""
        _DEADLINES.disarm(self._deadline)


def _has_surplus(fp: Any, sock: Any) -> bool:
    """Tell, without blocking, whether bytes are waiting past the end of a finished reply."""
    try:
        timeout = sock.gettimeout()
        sock.settimeout(0)
        try:
            return bool(fp.peek(1))
        finally:
            sock.settimeout(timeout)
    except (OSError, ValueError):  # nothing there (SSLWantReadError, EAGAIN) or already closed
        return False


class _Connection(http.client.HTTPSConnection):
    """Verified HTTPS connection with separate connect and read deadlines, owned by one thread.

    Other threads may only call :meth:`interrupt`, :meth:`cancel` and :meth:`shutdown`, which shut
    the socket down (waking a blocked read) and never close or wait on anything.
    """

    response_class = _Response

    def __init__(self, settings: ClientSettings) -> None:
        tls = settings.ssl_context
        super().__init__(settings.host, settings.port, timeout=settings.connect_timeout_s,
                         context=getattr(tls, "current", tls))
        self._tls = tls
        self.endpoint = settings.endpoint
        self._read_timeout = settings.read_timeout_s
        self._shut = False
        self.cancelled = False
        self.interrupted: tuple[str, str] | None = None
        self.poisoned = False
        self.served = 0
        self._live: socket.socket | None = None  # kept while http.client may drop self.sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None and current_context(self._tls) is not self._context:
            self.close()  # the proxy file was renewed: reconnect with the new certificate
        super().request(*args, **kwargs)

    def connect(self) -> None:
        if self._shut or self.cancelled:
            raise ConnectionAbortedError("the connection was shut down by its owner")
        self._context = current_context(self._tls)  # the current proxy file (CredentialError if expired)
        super().connect()
        self._live = self.sock
        self.served = 0
        self.sock.settimeout(self._read_timeout)
        if self._shut or self.cancelled:  # shut down while connecting, from another thread
            self.close()
            raise ConnectionAbortedError("the connection was shut down by its owner")

    def close(self) -> None:
        """Close the connection (only ever from the thread that uses it)."""
        super().close()
        self._live = None
        self.interrupted = None
        self.poisoned = False

    def interrupt(self, kind: str, message: str) -> None:
        """From any thread: make the exchange in progress fail at once as ``kind``; never blocks.

        Only the socket is shut down (which wakes a read blocked in another thread); the owner
        closes the connection before its next request.
        """
        if self.interrupted is None:
            self.interrupted = (kind, message)
        sock = self._live
        if sock is not None:
            try:  # the plain socket's shutdown: SSLSocket.shutdown would also reset its TLS state
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        """From any thread: stop the call using this connection (no further request of it is sent)."""
        self.cancelled = True
        self.interrupt("cancelled", "the call was cancelled")

    def shutdown(self) -> None:
        """From any thread: close for good; a worker still using this connection cannot reopen it."""
        self._shut = True
        self.interrupt("cancelled", "the connection pool was closed")

    @property
    def is_shut(self) -> bool:
        """Whether :meth:`shutdown` was called."""
        return self._shut

    def stale(self) -> bool:
        """Whether the idle connection has something to read (the CE closed it, or sent surplus)."""
        sock = self.sock
        if sock is None:
            return False
        try:
            if isinstance(sock, ssl.SSLSocket) and sock.pending():
                return True
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        except (OSError, ValueError):
            return True

    def getresponse(self) -> http.client.HTTPResponse:
        # A-REX writes a response in several pieces with Nagle's algorithm on: the second piece
        # waits for our ACK of the first, which Linux delays by up to 40 ms once a connection looks
        # interactive. Ask for an immediate ACK (the flag is one-shot, so per response).
        if _QUICKACK is not None and self.sock is not None:
            try:
                self.sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            except OSError:
                pass
        live = self._live
        resp = super().getresponse()
        # http.client closes a connection at once when the reply says it will close; its socket
        # lives on in the reply, and must stay reachable for interrupt().
        self._live = live
        assert isinstance(resp, _Response)
        resp.conn = self
        self.served += 1
        return resp


class _ErrorResponse:
    """An error response whose ``read()`` yields the reason phrase (and a bounded body).

    pyarcrest builds ``ARCHTTPError(status, resp.read().decode())``; A-REX puts its message in
    the reason phrase with an empty body, which pyarcrest would lose.
    """

    def __init__(self, resp: _Response) -> None:
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
                if not self._resp.isclosed():
                    self._resp._drop()  # more than we keep: the rest stays on the wire
            finally:  # also when the CE dies mid-body: never leave the socket to the garbage collector
                self._resp.close()
            self._text = self.reason.encode("utf-8", "replace")
            if body:
                self._text += b": " + body
            return self._text
        return b""

    def close(self) -> None:
        self._resp.close()


class SafeHTTPClient(_PyHTTPClient):
    """pyarcrest's HTTP client with verified TLS, private headers, timeouts and safe retries."""

    def __init__(self, settings: ClientSettings) -> None:
        # The parent constructor is not called: it would build an unverified context and turn
        # on header debug output (defects 3, 5).
        self.settings = settings
        self.conn = _Connection(settings)
        self.isHTTPS = True
        self._deadline: _Deadline | None = None

    def begin_call(self) -> None:
        """Start a new call on this connection (in the thread that will use it)."""
        self.conn.cancelled = False

    def end_call(self) -> None:
        """End a call: a connection shut down meanwhile is closed here, by its owner."""
        _DEADLINES.disarm(self._deadline)
        if self.conn.is_shut:
            self.conn.close()

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

        Raises:
            TransportError: The CE could not be reached (``kind`` empty) or the exchange broke
                (``kind`` says how); CETimeoutError for deadlines.
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
        what = f"{method} {endpoint}"
        idempotent = _is_idempotent(method, query)
        streamed = not (body is None or isinstance(body, bytes | str))
        resendable = idempotent and not streamed  # a stream is used up
        conn = self.conn
        _DEADLINES.disarm(self._deadline)
        if conn.is_shut or conn.cancelled:
            conn.close()
            raise TransportError(f"{what}: the connection was shut down", endpoint=conn.endpoint,
                                 kind="cancelled")
        if conn.interrupted is not None or conn.poisoned or not idempotent or conn.stale():
            # Never send a request that must not be repeated over a keep-alive connection the
            # server may have closed meanwhile: a reset would leave its fate unknown.
            conn.close()
        _log.debug("%s %s", method, url)
        attempt = 0
        while True:
            attempt += 1
            if conn.sock is None:
                with map_arc_errors(conn.endpoint, f"connect for {what}"):
                    conn.connect()
            reused = conn.served > 0
            deadline = None if streamed else _DEADLINES.arm(conn, self.settings.request_timeout_s)
            try:
                conn.request(method, url, body=body, headers=hdrs)
                if deadline is None:
                    deadline = _DEADLINES.arm(conn, self.settings.request_timeout_s)
                resp = conn.getresponse()
            except _NOT_SENT:
                # A previous response was not drained: nothing of this request was sent.
                _DEADLINES.disarm(deadline)
                conn.close()
                if attempt > 1:
                    raise self._exchange_error(what, "transport", "the connection was not ready") from None
                continue
            except (*_RETRY_ON, *_RETRY_ON_REUSED) as exc:
                _DEADLINES.disarm(deadline)
                interrupted = conn.interrupted
                conn.close()
                retry = isinstance(exc, _RETRY_ON) or reused
                if interrupted is None and resendable and attempt == 1 and retry:
                    _log.debug("retrying %s %s after %s", method, endpoint, type(exc).__name__)
                    continue
                raise self._mapped_error(what, exc, interrupted) from exc
            except BaseException as exc:
                _DEADLINES.disarm(deadline)
                interrupted = conn.interrupted
                conn.close()
                if isinstance(exc, Exception) and not isinstance(exc, ARCBackendError):
                    raise self._mapped_error(what, exc, interrupted) from exc
                raise
            assert isinstance(resp, _Response)
            resp.what = what
            resp._deadline = deadline
            self._deadline = deadline
            if resp.isclosed():  # an empty body: the deadline ended with the headers
                _DEADLINES.disarm(deadline)
            if is_credential_failure(resp.status, resp.reason or ""):
                # ARC-QUIRK: A-REX keeps the identity it assigned to a connection; a refreshed token
                # is only seen on a new one.
                conn.poisoned = True
            return _ErrorResponse(resp) if resp.status >= 400 else resp

    def _exchange_error(self, what: str, kind: str, detail: str) -> TransportError:
        return TransportError(f"{what}: {detail}", endpoint=self.conn.endpoint, kind=kind)

    def _mapped_error(self, what: str, exc: BaseException, interrupted: tuple[str, str] | None) -> TransportError:
        """The error for a request whose exchange failed before a response arrived."""
        endpoint = self.conn.endpoint
        if interrupted is not None:
            kind, detail = interrupted
        elif isinstance(exc, TimeoutError):
            kind, detail = "limit:timeout", "no reply within the read timeout"
        elif isinstance(exc, http.client.HTTPException) and not isinstance(exc, http.client.RemoteDisconnected):
            kind, detail = "protocol", f"malformed reply ({type(exc).__name__}: {exc})"
        else:
            kind, detail = "transport", f"{type(exc).__name__}: {exc}"
        if kind == "limit:timeout":
            return CETimeoutError(f"{what}: {detail}", endpoint=endpoint, kind=kind)
        return TransportError(f"{what}: {detail}", endpoint=endpoint, kind=kind)


def _is_idempotent(method: str, query: Mapping[str, Any]) -> bool:
    """Whether sending the request twice has the effect of sending it once (a PUT replaces its target)."""
    if method in ("GET", "HEAD", "PROPFIND", "PUT"):
        return True
    return method == "POST" and query.get("action") in _IDEMPOTENT_ACTIONS and "type" not in query


def _read_capped(resp: Any, cap: int, what: str, conn: http.client.HTTPConnection) -> bytes:
    """Read a whole reply body of at most ``cap`` bytes (refused early from its Content-Length)."""
    del conn
    if isinstance(resp, _Response):
        resp.body_cap = cap
        resp.what = what
        return resp.read()
    data = resp.read(cap + 1)  # an _ErrorResponse: already bounded
    return bytes(data[:cap])


class _FileStream:
    """A session file's body: ``readinto`` raises only mapped errors (the mapping travels with it)."""

    def __init__(self, resp: _Response) -> None:
        self._resp = resp

    @property
    def length(self) -> int | None:
        """Bytes still expected (None when the length was not announced)."""
        return self._resp.length

    def read(self, amt: int | None = None) -> bytes:
        data = self._resp.read(amt)
        if not data and self._resp.surplus:
            self.readinto(bytearray(1))
        return data

    def readinto(self, buf: Any) -> int:
        n = self._resp.readinto(buf)
        if not n and self._resp.surplus:
            conn = self._resp.conn
            raise TransportError(f"{self._resp.what}: the CE sent more bytes than it announced",
                                 endpoint=conn.endpoint if conn is not None else "", kind="protocol")
        return n

    def close(self) -> None:
        self._resp.close()


class _MalformedListingError(ValueError):
    pass


_WS: Final = re.compile(r"[ \t\r\n]*")
_STRING: Final = re.compile(r'"(?:[^"\\\x00-\x1f]|\\.)*"', re.S)
_SCALAR: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")


class _ListingParser:
    """Incremental JSON parser for a session listing, ``{"file": [...], "dir": [...]}``.

    Only the names under the top-level ``file`` and ``dir`` keys are kept (a list, or a bare string
    as ARC 6 sends a single entry), at most ``max_entries`` of each; any other value is checked
    and skipped. Memory is the names kept plus one token, whatever the listing's size.
    """

    def __init__(self, max_entries: int | None) -> None:
        self.max = max_entries
        self.files: list[str] = []
        self.dirs: list[str] = []
        self.full = False
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._buf = ""
        self._stack: list[list[Any]] = []  # [kind "{"/"[", state, key]
        self._root = "value"  # then "done"

    def feed(self, data: bytes, final: bool = False) -> None:
        try:
            self._buf += self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise _MalformedListingError(f"not UTF-8: {exc}") from exc
        pos, buf = 0, self._buf
        while not self.full:
            pos = _WS.match(buf, pos).end()  # type: ignore[union-attr]
            if pos >= len(buf):
                break
            c = buf[pos]
            if c == '"':
                m = _STRING.match(buf, pos)
                if m is None:
                    if len(buf) - pos > MAX_NAME_TOKEN or final:
                        raise _MalformedListingError("unterminated or overlong string")
                    break
                try:
                    text = json.loads(m.group())
                except ValueError as exc:
                    raise _MalformedListingError(str(exc)) from exc
                pos = m.end()
                self._string(text)
            elif c in "{[":
                self._value(c)
                self._stack.append([c, "key_or_end" if c == "{" else "value_or_end", None])
                pos += 1
            elif c in "}]":
                top = self._stack[-1] if self._stack else None
                want = "{" if c == "}" else "["
                if top is None or top[0] != want or top[1] not in ("key_or_end", "value_or_end", "comma_or_end"):
                    raise _MalformedListingError(f"unexpected {c!r}")
                self._stack.pop()
                self._after_value()
                pos += 1
            elif c == ":":
                top = self._stack[-1] if self._stack else None
                if top is None or top[1] != "colon":
                    raise _MalformedListingError("unexpected ':'")
                top[1] = "value"
                pos += 1
            elif c == ",":
                top = self._stack[-1] if self._stack else None
                if top is None or top[1] != "comma_or_end":
                    raise _MalformedListingError("unexpected ','")
                top[1] = "key" if top[0] == "{" else "value"
                pos += 1
            else:
                m = _SCALAR.match(buf, pos)
                if m is None or (m.end() == len(buf) and not final):
                    if m is None and len(buf) - pos >= 6:
                        raise _MalformedListingError(f"unexpected {buf[pos:pos + 10]!r}")
                    if final:
                        raise _MalformedListingError("truncated value")
                    break
                self._value()
                self._after_value()
                pos = m.end()
        self._buf = buf[pos:]

    def end(self) -> None:
        """The body is complete: check that it was one whole object (or empty)."""
        self.feed(b"", final=True)
        if self._stack or self._buf.strip():
            raise _MalformedListingError("incomplete listing")

    def _value(self, opening: str = "") -> None:
        """A value starts: check that one may come here (the root must be an object)."""
        if not self._stack:
            if self._root != "value":
                raise _MalformedListingError("data after the listing")
            if opening != "{":
                raise _MalformedListingError("the listing is not an object")
            return
        top = self._stack[-1]
        if (top[0] == "{" and top[1] != "value") or (top[0] == "[" and top[1] not in ("value", "value_or_end")):
            raise _MalformedListingError("a value where none may be")

    def _after_value(self) -> None:
        if not self._stack:
            self._root = "done"
        else:
            self._stack[-1][1] = "comma_or_end"

    def _string(self, text: str) -> None:
        top = self._stack[-1] if self._stack else None
        if top is not None and top[0] == "{" and top[1] in ("key_or_end", "key"):
            top[1], top[2] = "colon", text
            return
        if not self._stack:
            raise _MalformedListingError("the listing is not an object")
        self._value()
        key = None
        if len(self._stack) == 1:
            key = self._stack[0][2]
        elif len(self._stack) == 2 and self._stack[1][0] == "[":
            key = self._stack[0][2]
        if key in ("file", "dir"):
            names = self.files if key == "file" else self.dirs
            if self.max is not None and len(names) >= self.max:
                self.full = True
                return
            names.append(text)
        self._after_value()


_PLAIN_CODES: Final = frozenset({"200", "404"})


def _bulk_body(jobs: Sequence[str]) -> bytes:
    """``{"job": [{"id": "a"}, ...]}`` for ``jobs``, encoded by one C-level ``json.dumps`` of the id list.

    In the encoded list, ``", "`` only occurs between two items: a quote inside an id is escaped.
    """
    items = json.dumps([str(j) for j in jobs])[1:-1]
    return ('{"job": [{"id": ' + items.replace('", "', '"}, {"id": "') + "}]}").encode()


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
            entries.update(self._ask(asked, action))
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
        reply = self._json("POST", "/jobs", f"jobs {action}", ok=201, data=_bulk_body(jobs),
                           headers={"Content-Type": "application/json"}, params={"action": action})
        entries = _as_list(reply.get("job") if isinstance(reply, dict) else None)
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
        codes = [e.get("status-code") for e in entries]
        if not _PLAIN_CODES.issuperset(codes):  # A-REX sends "200"/"404"; anything else: the long way
            codes = ["200" if _int(c) == 200 else None for c in codes]
        return [e.get("state") if c == "200" else None for e, c in zip(entries, codes, strict=True)]

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
        resp = self._request("GET", url, headers=headers)  # type: ignore[attr-defined]
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
        resp = self._request("GET", url)  # type: ignore[attr-defined]
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
                    resp = self._request("PUT", url, headers=headers, data=body)  # type: ignore[attr-defined]
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
        resp = self._request("GET", f"/jobs/{quote(job_id, safe='')}/diagnose/{quote(name, safe='')}")  # type: ignore[attr-defined]
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


class Rest10(_RestMixin, _PyARCRest10):
    """ARC REST API 1.0 (ARC 6 and 7); tokens work here too."""

    VERSION = "1.0"


class Rest11(_RestMixin, _PyARCRest11):
    """ARC REST API 1.1 (ARC 7): queue and delegation as request parameters, jwt delegations."""

    VERSION = "1.1"


RestClient = Rest10 | Rest11


class _Negotiator(_RestMixin, _PyARCRest):
    """Entry point for pyarcrest's ``getClient`` (bound per CE by :func:`negotiate`)."""

    VERSION = ""


def negotiate(
    settings: ClientSettings, version: str | None = None, *, impls: Mapping[str, type[Rest10 | Rest11]] | None = None
) -> Rest10 | Rest11:
    """Connect, ask the CE for its REST versions, and return a client for the best common one.

    Version selection is pyarcrest's own (``getClient``/``_getImplementations``): the highest
    version both sides support, or ``version`` when pinned. ``impls`` replaces the classes per
    version (subclasses of :class:`Rest10`/:class:`Rest11`).

    Raises:
        APIVersionError: No common version, or the pinned one is not offered.
    """
    bases: Mapping[str, type[Rest10 | Rest11]] = impls or {"1.0": Rest10, "1.1": Rest11}
    impls = {v: type(cls.__name__, (cls,), {"_settings": settings}) for v, cls in bases.items()}
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
