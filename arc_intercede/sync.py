"""Synchronous API for scripts and notebooks: :class:`ARCBackend` over one background event loop.

The async :class:`arc_intercede.backend.ARCBackend` does the work; this wrapper owns **one**
long-lived event loop in a daemon thread and hands each call to it with
:func:`asyncio.run_coroutine_threadsafe`, so connections, the delegation and the negotiated API
version are reused across calls (never an ``asyncio.run()`` per call)::

    from arc_intercede.sync import ARCBackend

    with ARCBackend("ce.yaml") as ce:
        batch = ce.submit_and_wait(spec, count=3, timeout_s=3600)
        outputs = ce.fetch_and_print(batch.ids, Path("outputs"))

Guarantees: the async backend's, method for method (same names, arguments, return values and
errors, see :class:`arc_intercede.backend.ARCBackend`), plus:

* **Threads**: one object may be used from several threads at once; the calls run concurrently
  on the background loop (bounded by ``max_connections``).
* **Running loops** (Jupyter, or code inside ``asyncio.run``): calls work, because the work runs
  on the background loop, not on the caller's; the caller's loop is blocked for the duration of
  the call, as with any blocking function. Inside a coroutine prefer the async backend.
* **Callbacks**: ``fetch_output``'s ``progress`` runs in the background thread and must not call
  back into this object (that would wait on itself, so it raises ``RuntimeError``).
* **close()** is synchronous and idempotent: it closes the connections, cancels calls still
  running (their callers get ``RuntimeError``) and stops the thread. ``with`` calls it.
* **Interrupts**: Ctrl-C in the caller cancels the call on the loop and re-raises.
* **Proxy freshness** (opt-in, like jasmin-arc-py's ``PROXY_RENEWAL_THRESHOLD``): with
  ``proxy_renewal=ProxyRenewal(...)`` the configured proxy file is regenerated from the user's
  certificate and key before it runs out; see :class:`ProxyRenewal`.

Polling and ``UNKNOWN``: :meth:`ARCBackend.wait` stops waiting for a job once it is terminal
**or** ``UNKNOWN``. A-REX answers status per id; ``UNKNOWN`` means it does not know the id (never
created there, purged, expired) or sent a state this library cannot read (logged), so waiting longer
does not help: treat it as a failure. A poll that fails as a whole (transport, CE error) is never a
state: transient ones are retried until the timeout, others raise.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import enum
import functools
import inspect
import logging
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Concatenate, Final, Generic, ParamSpec, Self, TypeVar, overload

from cryptography import x509

from arc_intercede.backend import ARCBackend as AsyncARCBackend
from arc_intercede.backend import CredentialRequirements
from arc_intercede.config import ARCConfig
from arc_intercede.contract import JobID, JobOutput, JobStatus, Submission, SubmissionSpec
from arc_intercede.credentials import file_stamp, make_proxy
from arc_intercede.errors import ARCBackendError, ConfigurationError, CredentialError

__all__ = ["ARCBackend", "BatchResult", "ProxyRenewal", "WaitTimeoutError"]

_log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_POLL_S: Final = 10.0
"""Seconds between status polls in :meth:`ARCBackend.wait` (A-REX updates states every ~10-60 s)."""
PRINT_LIMIT: Final = 64 * 1024
"""Bytes of each stdout/stderr file :meth:`ARCBackend.fetch_and_print` prints (the files stay whole)."""


class WaitTimeoutError(TimeoutError):
    """:meth:`ARCBackend.wait` gave up before every job was final.

    Attributes:
        states: The last state seen for every id (``UNKNOWN`` for ids never polled successfully).
    """

    def __init__(self, message: str, states: Mapping[JobID, JobStatus]) -> None:
        super().__init__(message)
        self.states = dict(states)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyRenewal:
    """Keep the configured proxy file fresh from the user's certificate and key (opt-in).

    Before every call (and before connecting) the proxy file named by the configuration's
    ``proxy`` is checked; when it is missing or has less than ``threshold`` left, a new one is
    written with :func:`arc_intercede.credentials.make_proxy`. New connections then present it, idle
    ones are closed, and an existing delegation is renewed with it, so running jobs get it too.
    The proxy carries no VOMS attributes (as :func:`~arc_intercede.credentials.make_proxy` makes it).

    Attributes:
        cert: The user certificate (PEM).
        key: The user's private key (PEM, may be encrypted).
        lifetime: Lifetime of each new proxy (cut to the certificate's expiry).
        threshold: Regenerate when less than this is left; must be shorter than ``lifetime``.
        password: The key's pass phrase, or a function returning it (called only when needed).
    """

    cert: Path = field(default_factory=lambda: Path("~/.globus/usercert.pem").expanduser())
    key: Path = field(default_factory=lambda: Path("~/.globus/userkey.pem").expanduser())
    lifetime: dt.timedelta = dt.timedelta(hours=12)
    threshold: dt.timedelta = dt.timedelta(hours=1)
    password: bytes | Callable[[], bytes] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not dt.timedelta(0) < self.threshold < self.lifetime:
            raise ConfigurationError(
                f"proxy renewal: threshold ({self.threshold}) must be positive and shorter than the"
                f" lifetime ({self.lifetime})"
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchResult:
    """What :meth:`ARCBackend.submit_and_wait` saw: the submission and every job's final state.

    Attributes:
        submission: Ids by copy index, and the copies that could not be created.
        states: Final state of every created job (terminal or ``UNKNOWN``).
    """

    submission: Submission
    states: Mapping[JobID, JobStatus]

    @property
    def ids(self) -> list[JobID]:
        """The created jobs' ids, in copy order."""
        return [self.submission.ids[k] for k in sorted(self.submission.ids)]

    @property
    def problems(self) -> dict[str, str]:
        """Everything that did not end ``DONE``: ``"copy N"`` or a job id -> why."""
        out = {f"copy {k}": reason for k, reason in sorted(self.submission.failures.items())}
        out.update((j, s.value) for j in self.ids if (s := self.states.get(j, JobStatus.UNKNOWN)) is not JobStatus.DONE)
        return out

    @property
    def ok(self) -> bool:
        """Whether every copy was created and every job ended ``DONE``."""
        return not self.problems


class _Sync(Generic[P, T]):
    """A method of the sync :class:`ARCBackend` that runs the async backend's method on the loop.

    One line per method (``status = _Sync(AsyncARCBackend.status)``) keeps names, parameters,
    return types and docstrings those of the async backend, checked by mypy, with no twin to
    maintain.
    """

    def __init__(self, method: Callable[Concatenate[AsyncARCBackend, P], Coroutine[Any, Any, T]]) -> None:
        self._method = method
        self.__name__ = method.__name__
        self.__doc__ = method.__doc__
        sig = inspect.signature(method)
        self._signature = sig.replace(parameters=list(sig.parameters.values())[1:])

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> Self: ...
    @overload
    def __get__(self, obj: ARCBackend, owner: type[Any]) -> Callable[P, T]: ...
    def __get__(self, obj: ARCBackend | None, owner: type[Any]) -> Self | Callable[P, T]:
        if obj is None:
            return self
        method = self._method

        def call(*args: P.args, **kwargs: P.kwargs) -> T:
            return obj._submit(lambda backend: method(backend, *args, **kwargs))

        functools.update_wrapper(call, method)
        call.__signature__ = self._signature  # type: ignore[attr-defined]
        return call


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


class ARCBackend:
    """Synchronous twin of :class:`arc_intercede.backend.ARCBackend` for scripts (see the module).

    Construction does no I/O and starts no thread; ``with`` (or :meth:`open`) starts the loop
    thread and connects; :meth:`close` ends both.

    Args:
        config: An :class:`ARCConfig`, a mapping of its fields, or a path to a YAML file.
        proxy_renewal: Keep the configured proxy file fresh (see :class:`ProxyRenewal`).

    Raises:
        ConfigurationError: ``proxy_renewal`` without a ``proxy`` path in the configuration.
    """

    destructive: bool = False
    """Fetching leaves the outputs on the CE; fetching twice gives the same result."""

    def __init__(
        self, config: ARCConfig | Mapping[str, Any] | str | Path, *, proxy_renewal: ProxyRenewal | None = None
    ) -> None:
        self._backend = AsyncARCBackend(config)
        if proxy_renewal is not None and self._backend.config.proxy is None:
            raise ConfigurationError("proxy renewal needs 'proxy' in the configuration: the file to keep fresh")
        self._renewal = proxy_renewal
        self._renew_lock = threading.Lock()
        self._proxy_seen: tuple[tuple[int, int], dt.datetime] | None = None
        self._lock = threading.Lock()
        self._state = _State.NEW
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"sync.ARCBackend({self.config.endpoint!r}, {self._state.value})"

    # --- the async backend's methods, run on the background loop --------------------------------

    submit = _Sync(AsyncARCBackend.submit)
    submit_descriptions = _Sync(AsyncARCBackend.submit_descriptions)
    status = _Sync(AsyncARCBackend.status)
    info = _Sync(AsyncARCBackend.info)
    counts = _Sync(AsyncARCBackend.counts)
    ce_info = _Sync(AsyncARCBackend.ce_info)
    queues = _Sync(AsyncARCBackend.queues)
    jobs = _Sync(AsyncARCBackend.jobs)
    kill = _Sync(AsyncARCBackend.kill)
    purge = _Sync(AsyncARCBackend.purge)
    restart = _Sync(AsyncARCBackend.restart)
    renew_delegation = _Sync(AsyncARCBackend.renew_delegation)
    renew_jobs = _Sync(AsyncARCBackend.renew_jobs)
    reload_proxy = _Sync(AsyncARCBackend.reload_proxy)
    diagnostics = _Sync(AsyncARCBackend.diagnostics)
    fetch_output = _Sync(AsyncARCBackend.fetch_output)

    @property
    def config(self) -> ARCConfig:
        """The backend's configuration."""
        return self._backend.config

    @property
    def credential_requirements(self) -> CredentialRequirements:
        """The credentials this backend needs: kinds, token audience and scopes."""
        return self._backend.credential_requirements

    @property
    def api_version(self) -> str:
        """The REST API version in use (after opening)."""
        return self._backend.api_version

    @property
    def delegation_id(self) -> str | None:
        """The delegation used for submissions (None before the first one, or without a proxy)."""
        return self._backend.delegation_id

    # --- lifecycle ------------------------------------------------------------------------------

    def open(self) -> Self:
        """Start the loop thread, connect and negotiate the REST version. Idempotent while open.

        If connecting fails the thread is stopped again and ``open`` may be retried.

        Raises:
            ConfigurationError, CredentialError, TransportError, APIVersionError.
        """
        with self._lock:
            if self._state is _State.CLOSED:
                raise RuntimeError("ARCBackend is closed")
            if self._state is _State.OPEN:
                return self
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_serve, args=(loop,), name="arc-intercede-loop", daemon=True)
            thread.start()
            try:
                if self._renewal is not None:
                    self._refresh_proxy(connected=False)
                _wait(asyncio.run_coroutine_threadsafe(self._backend.open(), loop))
            except BaseException:
                _stop(loop, thread)
                raise
            self._loop, self._thread, self._state = loop, thread, _State.OPEN
        return self

    def close(self) -> None:
        """Close the connections, cancel calls still running, stop the thread. Idempotent."""
        if self._thread is not None and threading.current_thread() is self._thread:
            raise RuntimeError("ARCBackend.close() called from its own event-loop thread (a callback?)")
        with self._lock:
            loop, thread = self._loop, self._thread
            self._state, self._loop, self._thread = _State.CLOSED, None, None
        if loop is None or thread is None:
            return
        try:
            _wait(asyncio.run_coroutine_threadsafe(_shutdown(self._backend), loop))
        finally:
            _stop(loop, thread)

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _submit(self, make: Callable[[AsyncARCBackend], Coroutine[Any, Any, T]]) -> T:
        """Run ``make(backend)`` on the loop and wait for it in the calling thread."""
        if self._renewal is not None and self._state is _State.OPEN:
            self._refresh_proxy(connected=True)
        with self._lock:
            if self._state is _State.CLOSED:
                raise RuntimeError("ARCBackend is closed")
            if self._state is _State.NEW or self._loop is None:
                raise RuntimeError("ARCBackend is not open: use 'with ARCBackend(...) as ce:' or call open()")
            if threading.current_thread() is self._thread:
                raise RuntimeError(
                    "ARCBackend called from its own event-loop thread (e.g. a progress callback): it would"
                    " wait on itself; use the async backend there"
                )
            future = asyncio.run_coroutine_threadsafe(make(self._backend), self._loop)
        return _wait(future)

    # --- proxy freshness ------------------------------------------------------------------------

    def _refresh_proxy(self, *, connected: bool) -> None:
        """Regenerate the proxy file if it is missing or close to expiry (see :class:`ProxyRenewal`)."""
        renewal, path = self._renewal, self.config.proxy
        assert renewal is not None and path is not None
        with self._renew_lock:
            now = dt.datetime.now(dt.UTC)
            expires = self._proxy_expiry(path)
            if expires is not None and expires - now > renewal.threshold:
                return
            info = make_proxy(renewal.cert, renewal.key, path, valid=renewal.lifetime, password=renewal.password)
            if info.not_after - now <= renewal.threshold:
                raise CredentialError(
                    f"proxy renewal: the certificate {renewal.cert} expires at {info.not_after:%Y-%m-%d %H:%M} UTC,"
                    f" within the renewal threshold"
                )
            self._proxy_seen = None
            _log.info("regenerated proxy %s (valid until %s)", path, info.not_after.isoformat())
            loop = self._loop
            if connected and loop is not None:
                _wait(asyncio.run_coroutine_threadsafe(self._backend.reload_proxy(), loop))

    def _proxy_expiry(self, path: Path) -> dt.datetime | None:
        """The proxy file's expiry, re-read only when the file changed; None if missing or unreadable."""
        try:
            stamp = file_stamp(path, "proxy")
        except ARCBackendError:
            return None
        if self._proxy_seen is not None and self._proxy_seen[0] == stamp:
            return self._proxy_seen[1]
        try:
            expires = x509.load_pem_x509_certificate(path.read_bytes()).not_valid_after_utc
        except (OSError, ValueError):
            return None
        self._proxy_seen = (stamp, expires)
        return expires

    # --- conveniences for small scripts ---------------------------------------------------------

    def wait(
        self, ids: Sequence[JobID], *, poll_s: float = DEFAULT_POLL_S, timeout_s: float | None = None
    ) -> dict[JobID, JobStatus]:
        """Poll until every job is terminal or ``UNKNOWN`` (see the module on ``UNKNOWN``).

        Args:
            ids: Jobs to wait for.
            poll_s: Seconds between polls.
            timeout_s: Give up after this many seconds (None: wait as long as it takes).

        Returns:
            The final state of every distinct id.

        Raises:
            WaitTimeoutError: ``timeout_s`` passed first (``.states`` holds the last states).
            ARCBackendError: A poll failed as a whole and the error is not transient.
        """
        wanted = list(dict.fromkeys(ids))
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        states: dict[JobID, JobStatus] = {}
        while True:
            pending = [j for j in wanted if not _final(states.get(j))]
            if not pending:
                return {j: states[j] for j in wanted}
            try:
                states.update(self.status(pending))
            except ARCBackendError as exc:
                if not exc.transient:
                    raise
                _log.warning("status poll failed, retrying: %s", exc)
            if all(_final(states.get(j)) for j in wanted):
                continue
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                last = {j: states.get(j, JobStatus.UNKNOWN) for j in wanted}
                left = sum(not _final(s) for s in last.values())
                raise WaitTimeoutError(f"{left} of {len(wanted)} job(s) still not final after {timeout_s:g} s", last)
            time.sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - now)))

    def submit_and_wait(
        self, spec: SubmissionSpec, count: int = 1, *, poll_s: float = DEFAULT_POLL_S, timeout_s: float | None = None
    ) -> BatchResult:
        """Submit ``count`` copies of ``spec`` and wait until every created job is final.

        Returns:
            The submission and the final states; ``.ok`` tells whether everything ended ``DONE``
            and ``.problems`` says what did not.

        Raises:
            WaitTimeoutError: The jobs were created but ``timeout_s`` passed first.
            ARCBackendError: As :meth:`submit`, or a poll failed for good.
        """
        submission = self.submit(spec, count)
        ids = [submission.ids[k] for k in sorted(submission.ids)]
        states = self.wait(ids, poll_s=poll_s, timeout_s=timeout_s) if ids else {}
        return BatchResult(submission=submission, states=states)

    def fetch_and_print(
        self, ids: Sequence[JobID], dest: Path, *, out: IO[str] | None = None, limit: int = PRINT_LIMIT
    ) -> Mapping[JobID, JobOutput]:
        """Fetch each job's outputs into ``dest/<job id>/`` and print its stdout and stderr.

        For every id, a header line (``== <id>: <n> file(s) in <dir>``, or why the fetch is
        incomplete), then the stdout and stderr files, each cut at ``limit`` bytes.

        Args:
            ids: Jobs to fetch.
            dest: Destination directory (created if missing).
            out: Where to print (default: ``sys.stdout``).
            limit: Bytes printed per file.

        Returns:
            The manifests, as :meth:`fetch_output`; check ``complete`` on each.
        """
        stream = out if out is not None else sys.stdout
        outputs = self.fetch_output(ids, Path(dest))
        for job_id, output in outputs.items():
            if output.complete:
                stream.write(f"== {job_id}: {len(output.files)} file(s) in {Path(dest) / job_id}\n")
            else:
                stream.write(f"== {job_id}: incomplete: {output.reason}\n")
            streams = [("stdout", output.stdout)]
            if output.stderr != output.stdout:
                streams.append(("stderr", output.stderr))
            for label, path in streams:
                if path is None or not path.is_file():
                    continue
                with path.open("rb") as fh:
                    data = fh.read(limit + 1)
                if not data:
                    continue
                text = data[:limit].decode("utf-8", "replace")
                stream.write(f"-- {label}:\n{text}")
                if not text.endswith("\n"):
                    stream.write("\n")
                if len(data) > limit:
                    stream.write(f"[... cut at {limit} bytes; whole file: {path}]\n")
        stream.flush()
        return outputs


def _final(state: JobStatus | None) -> bool:
    return state is not None and (state.is_terminal or state is JobStatus.UNKNOWN)


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run until stopped, then release the loop (all in this thread)."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()


async def _shutdown(backend: AsyncARCBackend) -> None:
    """Close the backend, then cancel whatever calls are still running on the loop."""
    try:
        await backend.aclose()
    finally:
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not me]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)


def _wait(future: concurrent.futures.Future[T]) -> T:
    """Wait for a call on the loop; Ctrl-C (or any interruption) cancels it there."""
    try:
        return future.result()
    except concurrent.futures.CancelledError:
        raise RuntimeError("ARCBackend was closed while the call was running") from None
    except BaseException:
        future.cancel()
        raise
