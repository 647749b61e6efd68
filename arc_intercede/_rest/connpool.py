"""Async bridge over the blocking client: a bounded pool of connections, chunked bulk calls.

* Every blocking call runs in the process-wide worker pool (:mod:`arc_intercede.pool`), so the
  event loop never blocks and the threads of all backends together stay under one cap.
* A connection (one :class:`~arc_intercede._rest.Rest10`/``Rest11`` object) is checked out by
  exactly one thread at a time; there are at most ``max_connections`` of them, the second and
  later ones taken from the process-wide connection budget.
* Bulk id lists are de-duplicated (first occurrence wins, order kept) and cut into chunks well
  under A-REX's ~1 MiB request cap; chunks run in parallel over the pool.
* Every error of a lower layer is translated in one place (:func:`~arc_intercede._rest.errors.map_arc_errors`).
* Cancelling a call, and closing the pool, never wait for a worker thread: the connection's
  socket is shut down (which wakes a blocked read) and the worker closes it when its call ends; a
  connection goes back to the pool only once its worker is done with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar

from arc_intercede._rest.errors import map_arc_errors
from arc_intercede._rest.models import ClientSettings, JobInfo, JobReply
from arc_intercede._rest.versions import RestClient, negotiate
from arc_intercede.errors import CEResponseError
from arc_intercede.pool import (
    DEFAULT_SHARED_CONNECTIONS,
    DEFAULT_SHARED_THREADS,
    ConnectionBudget,
    SharedExecutor,
    connection_budget,
    shared_executor,
)

__all__ = ["ConnectionPool", "unique"]

_log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def _being_cancelled() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[RestClient], None], client: RestClient) -> None:
    try:
        loop.call_soon_threadsafe(fn, client)
    except RuntimeError:  # the loop is closed: nobody will use the pool again
        pass


def unique(ids: Iterable[str]) -> list[str]:
    """Return ``ids`` without duplicates, keeping the first occurrence's position."""
    return list(dict.fromkeys(ids))


def _reply_id(reply: JobReply) -> str:
    return reply.job_id


def _info_id(reply: tuple[JobReply, JobInfo | None]) -> str:
    return reply[0].job_id


class ConnectionPool:
    """Runs blocking client calls off the event loop over a pool of connections to one CE."""

    def __init__(
        self, settings: ClientSettings, *, max_connections: int, chunk_size: int, api_version: str | None,
        shared_threads: int = DEFAULT_SHARED_THREADS, shared_connections: int = DEFAULT_SHARED_CONNECTIONS,
    ) -> None:
        self._settings = settings
        self._max = max_connections
        self.chunk_size = chunk_size
        self._api_version = api_version
        self._shared = (shared_threads, shared_connections)
        self._budget: ConnectionBudget | None = None
        self._pending: set[Future[Any]] = set()
        self._executor: SharedExecutor | None = None
        self._idle: asyncio.Queue[RestClient | None] | None = None
        self._all: list[RestClient] = []
        self._first: RestClient | None = None
        self._grow = asyncio.Lock()

    @property
    def endpoint(self) -> str:
        """The CE endpoint."""
        return self._settings.endpoint

    @property
    def api_version(self) -> str:
        """The negotiated REST API version (after :meth:`open`)."""
        if self._first is None:
            raise RuntimeError("connection pool is not open")
        return self._first.VERSION

    async def open(self) -> None:
        """Negotiate the API version over the first connection."""
        self._executor = shared_executor(max(self._shared[0], self._max))  # one backend: as before
        self._budget = connection_budget(self._shared[1])
        self._idle = asyncio.Queue()
        loop = asyncio.get_running_loop()
        with map_arc_errors(self.endpoint, "API version negotiation"):
            first = await loop.run_in_executor(self._executor, negotiate, self._settings, self._api_version)
        self._first = first
        self._all.append(first)
        self._idle.put_nowait(first)

    async def close(self) -> None:
        """Close every connection (the shared worker pool stays). Safe to call twice; never blocks.

        A call still running in a worker thread fails at once (its socket is shut down) and cannot
        reconnect; its worker closes the connection. Idle connections are closed here.
        """
        clients, self._all = self._all, []
        for client in clients:
            client.shutdown()
        if self._idle is not None:
            while not self._idle.empty():
                idle = self._idle.get_nowait()
                if idle is not None:
                    idle.close()  # nobody uses an idle connection
            for _ in range(self._max + 1):
                self._idle.put_nowait(None)  # wake every call waiting for a connection
        if clients and self._budget is not None:
            self._budget.give_back(len(clients) - 1)  # all but the first came from the budget
        for work in list(self._pending):
            work.cancel()  # queued in the shared pool, not started: it never runs
        self._executor = None  # shared by the process: never shut down here

    async def close_idle(self) -> None:
        """Close the idle connections; the next call on each reconnects (e.g. after a CE restart)."""
        if self._idle is None:
            return
        idle = []
        while not self._idle.empty():
            idle.append(self._idle.get_nowait())
        for client in idle:
            if client is not None:
                client.close()
            self._idle.put_nowait(client)

    async def _checkout(self) -> RestClient:
        assert self._idle is not None and self._first is not None and self._budget is not None
        if self._idle.empty() and len(self._all) < self._max:
            async with self._grow:
                if self._idle.empty() and len(self._all) < self._max and self._budget.try_take():
                    # Same negotiated class, new connection: no second version probe.
                    cls = type(self._first)
                    client: RestClient = cls(self._first.new_connection(), apiBase=self._settings.api_base)
                    self._all.append(client)
                    return client
        got = await self._idle.get()
        if got is None:  # closed meanwhile
            self._idle.put_nowait(None)
            raise RuntimeError("ARCBackend is closed")
        return got

    def _release(self, client: RestClient) -> None:
        if self._idle is not None and client in self._all:
            self._idle.put_nowait(client)

    @staticmethod
    def _run(fn: Callable[[RestClient], T], client: RestClient) -> T:
        """In the worker thread: the call, with the connection owned by this thread throughout."""
        client.begin_call()
        try:
            return fn(client)
        finally:
            client.end_call()

    async def call(self, fn: Callable[[RestClient], T], what: str) -> T:
        """Run ``fn(client)`` in a worker thread with a connection of its own.

        Raises:
            ARCBackendError: The translated whole-operation failure (original chained).
        """
        if self._executor is None or self._idle is None:
            raise RuntimeError("connection pool is not open")
        client = await self._checkout()
        loop = asyncio.get_running_loop()
        if self._executor is None:
            raise RuntimeError("ARCBackend is closed")
        try:
            work: Future[T] = self._executor.submit(self._run, fn, client)
            self._pending.add(work)
            work.add_done_callback(self._pending.discard)
        except RuntimeError:  # the pool was shut down meanwhile
            raise RuntimeError("ARCBackend is closed") from None
        try:
            with map_arc_errors(self.endpoint, what):
                return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            if work.cancelled() and not _being_cancelled():
                raise RuntimeError("ARCBackend is closed") from None
            client.cancel()  # wakes the worker; never waits for it
            raise
        finally:
            if work.done():
                self._release(client)
            else:  # back to the pool only when its worker is done with it
                work.add_done_callback(lambda _: _call_soon(loop, self._release, client))

    async def bulk(
        self,
        ids: Sequence[str],
        fn: Callable[[RestClient, list[str]], Sequence[R]],
        key: Callable[[R], str] | None,
        what: str,
    ) -> dict[str, R]:
        """Run a bulk call over ``ids`` in chunks and return one result per distinct id.

        ``fn(client, chunk)`` returns one result per id of the chunk, in order; ``key`` gives
        the id a result is about (None: ``fn`` checked the order itself, only the count is
        checked here). A reply that misses or adds ids fails the whole operation.
        """
        wanted = unique(ids)
        chunks = [wanted[i:i + self.chunk_size] for i in range(0, len(wanted), self.chunk_size)]

        def run(chunk: list[str]) -> Callable[[RestClient], Sequence[R]]:
            return lambda client: fn(client, chunk)

        replies = await asyncio.gather(*(self.call(run(c), what) for c in chunks))
        out: dict[str, R] = {}
        for chunk, results in zip(chunks, replies, strict=True):
            if len(results) != len(chunk) if key is None else [key(r) for r in results] != chunk:
                raise CEResponseError(f"{what}: reply does not match the requested ids", endpoint=self.endpoint)
            out.update(zip(chunk, results, strict=True))
        return out

    async def job_status(self, ids: Sequence[str]) -> dict[str, JobReply]:
        """A-REX's per-id status reply (code, reason, state) for every distinct id of ``ids``."""
        return await self.bulk(ids, lambda c, chunk: c.job_status(chunk), _reply_id, "job status")

    async def job_states(self, ids: Sequence[str], convert: Callable[[list[str | None]], Sequence[R]]) -> dict[str, R]:
        """Every distinct id's ARC state, turned into a result by ``convert`` in the worker thread (order kept)."""
        return await self.bulk(ids, lambda c, chunk: convert(c.job_states(chunk)), None, "job status")

    async def job_info(self, ids: Sequence[str]) -> dict[str, tuple[JobReply, JobInfo | None]]:
        """A-REX's per-id info reply and parsed info document (None when the job is unknown)."""
        return await self.bulk(ids, lambda c, chunk: c.job_info(chunk), _info_id, "job info")

    async def job_delegations(self, ids: Sequence[str]) -> dict[str, JobReply]:
        """Each job's delegation ids (``value``, comma-separated; None when it has none)."""
        return await self.bulk(ids, lambda c, chunk: c.job_delegations(chunk), _reply_id, "jobs delegations")

    async def job_action(self, ids: Sequence[str], action: str) -> dict[str, JobReply]:
        """A-REX's per-id reply to a bulk ``action`` (``kill``, ``clean``, ``restart``)."""
        return await self.bulk(ids, lambda c, chunk: c.job_action(chunk, action), _reply_id, f"jobs {action}")

    async def each(self, items: Sequence[T], fn: Callable[[RestClient, T], R], what: str) -> list[R | BaseException]:
        """Run ``fn(client, item)`` for every item over the pool; exceptions are returned, not raised."""
        def run(item: T) -> Callable[[RestClient], R]:
            return lambda client: fn(client, item)

        results: list[Any] = await asyncio.gather(
            *(self.call(run(i), what) for i in items), return_exceptions=True
        )
        return results
