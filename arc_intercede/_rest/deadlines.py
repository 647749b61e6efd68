"""Request deadlines: one daemon thread interrupts connections whose request ran too long."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import TYPE_CHECKING, Final

# Private aliases: nothing public here may hand out pyarcrest's own (unverified) classes.

if TYPE_CHECKING:
    from arc_intercede._rest.transport import _Connection


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

