"""ConnectionPool: off-loop calls, one thread per connection, chunked bulk calls (fake A-REX on loopback)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from arc_intercede._rest import ClientSettings, ConnectionPool, JobReply, Rest11, RestClient, unique
from arc_intercede.credentials import StaticToken, make_ssl_context
from arc_intercede.errors import APIVersionError, CEResponseError, TransportError
from tests.fake_arex import PKI, FakeAREX

TOKEN = "facade-token"




def make_pool(ce: FakeAREX, pki: PKI, *, max_connections: int = 3, chunk_size: int = 100,
                api_version: str | None = None, ca_file: Path | None = None) -> ConnectionPool:
    settings = ClientSettings(
        host="localhost", port=ce.port, api_base="/arex",
        ssl_context=make_ssl_context(ca_dir=None, ca_file=ca_file or pki.ca_file),
        connect_timeout_s=5, read_timeout_s=5, token_source=StaticToken(TOKEN),
    )
    return ConnectionPool(settings, max_connections=max_connections, chunk_size=chunk_size, api_version=api_version)


def run(ce: FakeAREX, pki: PKI, body: Callable[[ConnectionPool], Any], **kwargs: Any) -> Any:
    async def main() -> Any:
        facade = make_pool(ce, pki, **kwargs)
        await facade.open()
        try:
            return await body(facade)
        finally:
            await facade.close()

    return asyncio.run(main())


def status(facade: ConnectionPool, ids: Sequence[str]) -> Any:
    return facade.bulk(ids, lambda client, chunk: client.job_status(chunk), lambda r: r.job_id, "status")


def test_unique_keeps_first_occurrence() -> None:
    assert unique(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]
    assert unique([]) == []


def test_calls_run_off_the_event_loop(ce: FakeAREX, pki: PKI) -> None:
    job = ce.add_job("RUNNING")
    ce.delay["POST jobs?status"] = 0.6
    seen: dict[str, Any] = {}

    async def body(facade: ConnectionPool) -> None:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        def blocking(client: RestClient) -> list[JobReply]:
            seen["thread"] = threading.get_ident()
            return client.job_status([job])

        task = asyncio.create_task(ticker())
        start = time.monotonic()
        replies = await facade.call(blocking, "status")
        seen["elapsed"] = time.monotonic() - start
        done.set()
        await task
        seen["ticks"], seen["loop_thread"], seen["replies"] = ticks, threading.get_ident(), replies

    run(ce, pki, body)
    assert seen["elapsed"] >= 0.6
    assert seen["ticks"] >= 20  # the loop kept running while the server was slow
    assert seen["thread"] != seen["loop_thread"]
    assert seen["replies"][0].value == "RUNNING"


def test_connection_never_used_by_two_threads_at_once(ce: FakeAREX, pki: PKI,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ids = [ce.add_job("RUNNING") for _ in range(50)] + [f"made-up-{i}" for i in range(950)]
    ce.delay["POST jobs?status"] = 0.02
    lock = threading.Lock()
    active: dict[int, int] = {}  # id(connection) -> thread using it now
    threads: dict[int, set[int]] = {}
    overlaps: list[tuple[int, int, int]] = []
    peak = 0
    original = Rest11.job_status

    def spy(self: Rest11, chunk: Sequence[str]) -> list[JobReply]:
        nonlocal peak
        conn, me = id(self.httpClient.conn), threading.get_ident()
        with lock:
            if conn in active:
                overlaps.append((conn, active[conn], me))
            active[conn] = me
            threads.setdefault(conn, set()).add(me)
            peak = max(peak, len(active))
        try:
            return original(self, chunk)
        finally:
            with lock:
                if active.get(conn) == me:
                    del active[conn]

    monkeypatch.setattr(Rest11, "job_status", spy)
    try:
        result = run(ce, pki, lambda f: status(f, ids), chunk_size=40)
    except Exception as exc:  # a shared connection may also blow up; report the overlap first
        result = exc
    assert overlaps == []
    assert isinstance(result, dict)
    assert len(result) == 1000
    assert 1 < len(threads) <= 3  # the pool grew, but never beyond max_connections
    assert peak >= 2  # requests really ran in parallel
    assert ce.count("POST jobs?status") == 25


def test_chunking_2500_ids(ce: FakeAREX, pki: PKI) -> None:
    real = [ce.add_job("QUEUING") for _ in range(30)]
    ids = real + [f"fake{i:05d}" for i in range(2470)]
    result = run(ce, pki, lambda f: status(f, ids))
    requests = ce.by_key("POST jobs?status")
    assert len(requests) == 25
    assert all(0 < len(r.ids) <= 100 for r in requests)
    sent = [i for r in requests for i in r.ids]
    assert sorted(sent) == sorted(ids)  # each id asked exactly once
    assert list(result) == ids  # every input id exactly once, in input order
    assert all(result[i].value == "QUEUING" for i in real)


def test_duplicates_are_answered_once(ce: FakeAREX, pki: PKI) -> None:
    a, b = ce.add_job("RUNNING"), ce.add_job("FINISHED")
    ids = [a, b, a, "ghost", b, a, "ghost"]
    result = run(ce, pki, lambda f: status(f, ids))
    sent = [i for r in ce.by_key("POST jobs?status") for i in r.ids]
    assert sent == [a, b, "ghost"]
    assert list(result) == [a, b, "ghost"]
    assert (result[a].value, result[b].value, result["ghost"].found) == ("RUNNING", "FINISHED", False)


def test_large_mixed_status_gives_found_and_not_found(ce: FakeAREX, pki: PKI) -> None:
    real = {ce.add_job(state): state for state in ["RUNNING", "FINISHED", "FAILED", "KILLED"] * 300}
    made_up = [f"nope-{i:05d}" for i in range(900)]
    ids = [x for pair in zip(list(real), made_up, strict=False) for x in pair] + list(real)[900:]
    assert len(ids) == 2100
    result = run(ce, pki, lambda f: status(f, ids))
    assert set(result) == set(ids) and len(result) == 2100
    for job_id, state in real.items():
        assert result[job_id].found and result[job_id].code == 200 and result[job_id].value == state
    for job_id in made_up:
        assert not result[job_id].found and result[job_id].code == 404


def test_empty_bulk_sends_nothing(ce: FakeAREX, pki: PKI) -> None:
    assert run(ce, pki, lambda f: status(f, [])) == {}
    assert ce.count("POST jobs?status") == 0


def test_reply_out_of_order_is_matched_by_id(ce: FakeAREX, pki: PKI) -> None:
    ids = [ce.add_job(state) for state in ("RUNNING", "FAILED", "QUEUING", "FINISHED", "HELD")]
    ce.reverse_reply = True
    result = run(ce, pki, lambda f: status(f, ids))
    assert [result[i].value for i in ids] == ["RUNNING", "FAILED", "QUEUING", "FINISHED", "HELD"]


def test_bulk_checks_reply_keys(ce: FakeAREX, pki: PKI) -> None:
    ids = ["a", "b", "c"]

    async def body(facade: ConnectionPool) -> Any:
        # A (buggy) per-chunk function that answers about the wrong ids must not slip through.
        return await facade.bulk(ids, lambda client, chunk: [JobReply(i + "x", 200, "OK") for i in chunk],
                                 lambda r: r.job_id, "status")

    with pytest.raises(CEResponseError, match="does not match"):
        run(ce, pki, body)


def test_errors_are_mapped_and_connection_recovers(ce: FakeAREX, pki: PKI) -> None:
    job = ce.add_job("RUNNING")

    async def body(facade: ConnectionPool) -> Any:
        ce.drop["POST jobs?status"] = 2  # first try and its one retry
        with pytest.raises(TransportError):
            await status(facade, [job])
        return await status(facade, [job])

    result = run(ce, pki, body, max_connections=1)
    assert result[job].value == "RUNNING"


def test_each_returns_exceptions_per_item(ce: FakeAREX, pki: PKI) -> None:
    good = ce.add_job(files={"f": b"1"})

    async def body(facade: ConnectionPool) -> Any:
        return await facade.each([good, "missing"], lambda client, job: client.list_dir(job), "list")

    ok, failed = run(ce, pki, body)
    assert ok.files == ("f",)
    assert isinstance(failed, CEResponseError) and failed.status == 404


def test_open_negotiates_and_maps_version_errors(ce: FakeAREX, pki: PKI) -> None:
    assert run(ce, pki, lambda f: asyncio.sleep(0, f.api_version)) == "1.1"
    ce.versions = ["1.0"]
    assert run(ce, pki, lambda f: asyncio.sleep(0, f.api_version)) == "1.0"
    with pytest.raises(APIVersionError):
        run(ce, pki, lambda f: asyncio.sleep(0), api_version="1.1")


def test_use_before_open_and_after_close(ce: FakeAREX, pki: PKI) -> None:
    async def main() -> None:
        facade = make_pool(ce, pki)
        with pytest.raises(RuntimeError):
            await facade.call(lambda c: None, "x")
        with pytest.raises(RuntimeError):
            facade.api_version  # noqa: B018
        await facade.open()
        await facade.close()
        await facade.close()  # twice is fine
        with pytest.raises(RuntimeError):
            await facade.call(lambda c: None, "x")

    asyncio.run(main())
