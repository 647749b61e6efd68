"""Process-wide limits shared by every backend: one pool of worker threads, one budget of connections.

A workload-management system keeps one :class:`~arc_intercede.ARCBackend` per CE in one process.
Without a shared limit, each backend would own up to ``max_connections`` threads and connections, so
500 CEs could mean 2 000 threads fighting for the GIL (and starving the event loop). Here:

* **threads**: every blocking call of every backend runs on one :class:`SharedExecutor`; it starts
  threads on demand, never more than its cap (the largest ``shared_threads`` of the backends opened
  in the process, default :data:`DEFAULT_SHARED_THREADS`, and never below a backend's own
  ``max_connections``), and they live as long as the process (daemon threads: a call hung on a dead
  CE never blocks interpreter exit). A CE that does not answer holds up to its ``max_connections``
  threads until its timeouts, so where many CEs may be down at once the cap should be raised;
* **connections**: each backend always has its first connection; the second and later ones
  (up to its own ``max_connections``) come from a process-wide budget of ``shared_connections``
  extra connections (the largest value configured, default :data:`DEFAULT_SHARED_CONNECTIONS`). A
  backend that finds the budget spent waits for one of its own connections instead of opening one.

A single backend with the defaults behaves as before: up to ``max_connections`` (4) parallel calls,
each on a connection and a thread of its own.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, Final, TypeVar

__all__ = [
    "DEFAULT_SHARED_CONNECTIONS",
    "DEFAULT_SHARED_THREADS",
    "ConnectionBudget",
    "SharedExecutor",
    "connection_budget",
    "shared_executor",
]

_log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_SHARED_THREADS: Final = 8
"""Worker threads for all backends of the process together (raised by a backend asking for more)."""
DEFAULT_SHARED_CONNECTIONS: Final = 64
"""Connections beyond each backend's first, for all backends of the process together."""

_Work = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class SharedExecutor(Executor):
    """A thread pool that starts a thread only when none is idle, up to a cap that can be raised.

    A worker that finishes a call marks itself idle *before* it completes the call's future, so the
    next call (submitted when a waiter sees that result) reuses it: as many threads as calls ran at
    once, never more than the cap. Calls beyond the cap wait in order for the next free thread.
    """

    def __init__(self, max_workers: int, name: str = "arc-intercede") -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._max = max_workers
        self._name = name
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle: list[queue.SimpleQueue[_Work | None]] = []  # inboxes of threads waiting for work
        self._backlog: collections.deque[_Work] = collections.deque()
        self._shut = False

    @property
    def max_workers(self) -> int:
        """The cap on worker threads."""
        return self._max

    @property
    def threads(self) -> int:
        """Worker threads started so far (they are kept for the life of the process)."""
        return len(self._threads)

    def raise_cap(self, max_workers: int) -> None:
        """Allow up to ``max_workers`` threads (a smaller value leaves the cap as it is)."""
        with self._lock:
            self._max = max(self._max, max_workers)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args, **kwargs)`` on an idle thread, a new one within the cap, or the next free one."""
        if kwargs:
            args = (fn, *args)
            fn = _call_with(kwargs)
        future: Future[T] = Future()
        work: _Work = (future, fn, args)
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot submit after shutdown")
            if self._idle:
                self._idle.pop().put(work)
            elif len(self._threads) < self._max:
                inbox: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
                thread = threading.Thread(target=self._work, args=(inbox, work),
                                          name=f"{self._name}-{len(self._threads)}", daemon=True)
                self._threads.append(thread)
                thread.start()
            else:
                self._backlog.append(work)
        return future

    def _work(self, inbox: queue.SimpleQueue[_Work | None], first: _Work) -> None:
        item: _Work | None = first
        del first
        while item is not None:
            future, fn, args = item
            result: Any = None
            error: BaseException | None = None
            run = future.set_running_or_notify_cancel()
            if run:
                try:
                    result = fn(*args)
                except BaseException as exc:  # handed to the waiting caller
                    error = exc
            with self._lock:  # idle before the caller learns the result (see the class docstring)
                if self._backlog:
                    item = self._backlog.popleft()
                elif self._shut:
                    item = None
                else:
                    item = None
                    self._idle.append(inbox)
                idle = item is None and not self._shut
            if run:
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
            del future, fn, args, result, error  # keep nothing alive while waiting
            if idle:
                item = inbox.get()  # None: shut down

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once the backlog is done (tests; the process-wide pool is never shut down)."""
        with self._lock:
            self._shut = True
            threads = list(self._threads)
            idle, self._idle = self._idle, []
            backlog = list(self._backlog) if cancel_futures else []
            if cancel_futures:
                self._backlog.clear()
        for work in backlog:
            work[0].cancel()
        for inbox in idle:
            inbox.put(None)
        if wait:
            for thread in threads:
                thread.join()


def _call_with(kwargs: dict[str, Any]) -> Callable[..., Any]:
    def call(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args, **kwargs)

    return call


class ConnectionBudget:
    """A thread-safe count of extra connections (beyond each backend's first) the process may hold."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        """The number of extra connections allowed."""
        return self._limit

    @property
    def used(self) -> int:
        """Extra connections held now."""
        return self._used

    def raise_limit(self, limit: int) -> None:
        """Allow up to ``limit`` extra connections (a smaller value leaves the limit as it is)."""
        with self._lock:
            self._limit = max(self._limit, limit)

    def try_take(self) -> bool:
        """Take one extra connection if the budget allows; return whether it did."""
        with self._lock:
            if self._used >= self._limit:
                return False
            self._used += 1
            return True

    def give_back(self, n: int = 1) -> None:
        """Return ``n`` extra connections (their owner closed them)."""
        with self._lock:
            self._used = max(0, self._used - n)


_lock = threading.Lock()
_executor: SharedExecutor | None = None
_budget: ConnectionBudget | None = None


def shared_executor(max_threads: int = DEFAULT_SHARED_THREADS) -> SharedExecutor:
    """The process-wide worker pool (made on first use), its cap raised to at least ``max_threads``."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = SharedExecutor(max_threads)
            _log.debug("shared worker pool: up to %d threads", max_threads)
        else:
            _executor.raise_cap(max_threads)
        return _executor


def connection_budget(limit: int = DEFAULT_SHARED_CONNECTIONS) -> ConnectionBudget:
    """The process-wide budget of extra connections (made on first use), raised to at least ``limit``."""
    global _budget
    with _lock:
        if _budget is None:
            _budget = ConnectionBudget(limit)
        else:
            _budget.raise_limit(limit)
        return _budget
