"""arc_intercede.pool: one worker pool and one connection budget for all backends of a process."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from arc_intercede._rest import ConnectionPool
from arc_intercede._rest import connpool as facade_mod
from arc_intercede.credentials import shared_ssl_context
from arc_intercede.pool import ConnectionBudget, SharedExecutor, shared_executor
from tests.fake_arex import PKI, FakeAREX
from tests.unit.test_facade import make_pool


class Gauge:
    """Counts calls running at once (thread-safe) and remembers the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self.lock:
            self.now -= 1


def test_executor_never_exceeds_its_cap() -> None:
    ex = SharedExecutor(3)
    gauge, gate = Gauge(), threading.Event()

    def work(i: int) -> int:
        with gauge:
            gate.wait(10)
        return i

    futures = [ex.submit(work, i) for i in range(40)]
    gate.set()
    assert [f.result(10) for f in futures] == list(range(40))
    assert ex.threads == 3
    assert gauge.most <= 3
    ex.shutdown()


def test_executor_reuses_an_idle_thread() -> None:
    ex = SharedExecutor(8)
    for i in range(30):
        assert ex.submit(lambda x: x * 2, i).result(10) == i * 2
    assert ex.threads == 1  # one call at a time: one thread, however many calls
    ex.shutdown()


def test_executor_passes_kwargs_and_exceptions() -> None:
    ex = SharedExecutor(2)
    assert ex.submit(lambda a, b=0: a + b, 1, b=2).result(10) == 3

    def boom() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        ex.submit(boom).result(10)
    ex.raise_cap(1)
    assert ex.max_workers == 2  # never lowered
    ex.raise_cap(5)
    assert ex.max_workers == 5
    ex.shutdown()
    with pytest.raises(RuntimeError):
        ex.submit(lambda: None)


def test_budget_counts_extra_connections() -> None:
    budget = ConnectionBudget(2)
    assert budget.try_take() and budget.try_take()
    assert not budget.try_take()
    budget.give_back()
    assert budget.try_take()
    budget.give_back(5)
    assert budget.used == 0


def test_many_backends_stay_within_the_shared_caps(
    ce: FakeAREX, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 facades of 4 connections each want 80 threads and connections; the process gives 3 and 20 + 2."""
    ex, budget = SharedExecutor(3), ConnectionBudget(2)
    monkeypatch.setattr(facade_mod, "shared_executor", lambda n: ex)
    monkeypatch.setattr(facade_mod, "connection_budget", lambda n: budget)
    jobs = [ce.add_job("RUNNING") for _ in range(8)]
    ce.delay["POST jobs?status"] = 0.05
    gauge = Gauge()

    def status(client: Any, chunk: list[str]) -> list[str | None]:
        with gauge:
            return client.job_states(chunk)

    async def main() -> tuple[list[dict[str, Any]], int]:
        facades = [make_pool(ce, pki, max_connections=4, chunk_size=2) for _ in range(20)]
        await asyncio.gather(*(f.open() for f in facades))
        try:
            replies = await asyncio.gather(*(f.bulk(jobs, status, None, "status") for f in facades))
            return replies, sum(len(f._all) for f in facades)
        finally:
            await asyncio.gather(*(f.close() for f in facades))

    replies, connections = asyncio.run(main())
    assert all(r == dict.fromkeys(jobs, "RUNNING") for r in replies)
    assert ex.threads <= 3 and gauge.most <= 3
    assert connections <= 20 + 2
    assert budget.used == 0  # given back on close
    ex.shutdown()


def test_one_backend_keeps_all_its_connections_in_parallel(ce: FakeAREX, pki: PKI) -> None:
    """A single backend still runs max_connections calls at once, also above the default thread cap."""
    n = shared_executor().max_workers + 2
    barrier = threading.Barrier(n, timeout=20)  # passes only if n calls run at the same time
    gauge = Gauge()

    def work(client: Any, item: int) -> int:
        with gauge:
            barrier.wait()
        return item

    async def main() -> list[Any]:
        facade: ConnectionPool = make_pool(ce, pki, max_connections=n)
        await facade.open()
        try:
            return await facade.each(list(range(2 * n)), work, "work")
        finally:
            await facade.close()

    assert asyncio.run(main()) == list(range(2 * n))
    assert gauge.most == n
    assert shared_executor().max_workers >= n


def test_backends_with_the_same_credentials_share_one_tls_context(pki: PKI, tmp_path: Any) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.ca_file.read_bytes())
    first = shared_ssl_context(ca_dir=None, ca_file=bundle)
    assert shared_ssl_context(ca_dir=None, ca_file=bundle) is first
    bundle.write_bytes(pki.ca_file.read_bytes() + b"\n")  # an updated bundle: a context of its own
    assert shared_ssl_context(ca_dir=None, ca_file=bundle) is not first
