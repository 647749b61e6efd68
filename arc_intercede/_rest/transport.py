"""The HTTP transport under pyarcrest: verified connections, capped replies, safe retries, file streams."""

from __future__ import annotations

import http.client
import json
import logging
import select
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final
from urllib.parse import urlencode

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.
from pyarcrest.http import HTTPClient as _PyHTTPClient

from arc_intercede._rest.deadlines import _DEADLINES, _Deadline
from arc_intercede._rest.errors import map_arc_errors
from arc_intercede._rest.models import ClientSettings
from arc_intercede.credentials.tls import current_context
from arc_intercede.errors import (
    ARCBackendError,
    CETimeoutError,
    ReplyTooLargeError,
    RequestNotSentError,
    TransportError,
    is_credential_failure,
)

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

# Bulk actions A-REX may safely receive twice.
_IDEMPOTENT_ACTIONS: Final = frozenset({"info", "status", "delegations", "kill", "clean", "get"})
# A keep-alive connection the CE closed while idle shows up as one of these; over TLS, writing to
# it can also raise SSLEOFError (no close_notify) or SSLZeroReturnError (close_notify received).
_RETRY_ON: Final = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    ConnectionAbortedError, ssl.SSLEOFError, ssl.SSLZeroReturnError)
# A reused connection whose previous reply ran past its end shows the surplus as a bad status line;
# an idempotent request is then sent again over a fresh connection.
_RETRY_ON_REUSED: Final = (http.client.BadStatusLine, http.client.LineTooLong)
_NOT_SENT: Final = (http.client.CannotSendRequest, http.client.ResponseNotReady)


_QUICKACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)  # Linux only


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
            hdrs["Content-Type"] = "application/json"  # A-REX compares it exactly
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
                self._connect(what)
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

    def _connect(self, what: str) -> None:
        """Open the connection; a refused connection is a :class:`RequestNotSentError`."""
        try:
            with map_arc_errors(self.conn.endpoint, f"connect for {what}"):
                self.conn.connect()
        except TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, ConnectionRefusedError):
                raise RequestNotSentError(exc.args[0], endpoint=exc.endpoint, transient=exc.transient) from cause
            raise

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


