"""One regression test per pyarcrest 0.5 defect (arc-rest-facts §15), on a real HTTPS server on loopback.

Where practical, a ``test_plain_pyarcrest_*`` test shows the defect on unwrapped pyarcrest against the
same server, so the regression test is known to guard something real.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pyarcrest.arc
import pyarcrest.http
import pytest

from arc_intercede.auth import StaticToken, make_ssl_context
from arc_intercede.client import ClientSettings, Rest10, Rest11, negotiate
from arc_intercede.errors import (
    APIVersionError,
    CEResponseError,
    CETimeoutError,
    TransportError,
    map_arc_errors,
)
from arc_intercede.facade import Facade
from tests.hostile_ce import Running, serve

TOKEN = "s3cr3t-token-value"


@pytest.fixture
def fake(tmp_path: Path):
    yield from serve(tmp_path / "pki")


@pytest.fixture
def connect():
    """negotiate(), with every client closed at teardown."""
    clients = []

    def make(s: ClientSettings, version: str | None = None):
        client = negotiate(s, version)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def settings(fake: Running, *, token: str | None = TOKEN, host: str = "localhost", read_timeout: float = 5.0,
             ca_file: Path | None = None) -> ClientSettings:
    return ClientSettings(
        host=host, port=fake.port, api_base="/arex",
        ssl_context=make_ssl_context(ca_dir=None, ca_file=ca_file or fake.ca_file),
        connect_timeout_s=5, read_timeout_s=read_timeout,
        token_source=StaticToken(token) if token else None,
    )


def _plain_pyarcrest(fake: Running, monkeypatch: pytest.MonkeyPatch, token: str | None) -> pyarcrest.arc.ARCRest_1_1:
    # pyarcrest's token path verifies against the default CA store: point it at our test CA.
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))
    client = pyarcrest.http.HTTPClient(host="localhost", port=fake.port, timeout=5)
    return pyarcrest.arc.ARCRest_1_1(client, token=token or None, proxypath=None if token else "/nonexistent")


# 1. shared mutable header defaults: token leak ----------------------------------------------------------------

@pytest.fixture
def restore_pyarcrest_defaults():
    saved = [(f, tuple(dict(d) if isinstance(d, dict) else d for d in f.__defaults__))
             for f in (pyarcrest.http.HTTPClient.request, pyarcrest.arc.ARCRest._requestJSON,
                       pyarcrest.arc.ARCRest._request, pyarcrest.arc.ARCRest._requestJSONStatic.__func__)]
    yield
    for f, defaults in saved:
        for current, old in zip(f.__defaults__, defaults, strict=True):
            if isinstance(current, dict):
                current.clear()
                current.update(old)


def test_plain_pyarcrest_leaks_token_to_other_clients(fake, monkeypatch, restore_pyarcrest_defaults) -> None:
    first = _plain_pyarcrest(fake, monkeypatch, TOKEN)
    first.getJobsList()
    # A second client, for another identity, without any token:
    other = _plain_pyarcrest(fake, monkeypatch, None)
    other.getJobsList()
    first.close()
    other.close()
    assert fake.ce.requests[-1].headers.get("Authorization") == f"Bearer {TOKEN}"  # the defect


def test_token_never_reaches_another_client(fake, connect) -> None:
    with_token = connect(settings(fake))
    without = connect(settings(fake, token=None))
    with_token.list_jobs()
    without.list_jobs()
    with_token.list_jobs()
    auth = [r.headers.get("Authorization") for r in fake.ce.requests]
    assert auth == [f"Bearer {TOKEN}", None, f"Bearer {TOKEN}", None, f"Bearer {TOKEN}"]
    for f in (pyarcrest.http.HTTPClient.request, pyarcrest.arc.ARCRest._requestJSON):
        assert all("Authorization" not in d for d in f.__defaults__ if isinstance(d, dict))


# 5. bearer token in debug output -----------------------------------------------------------------------------

def test_token_never_logged(fake, caplog, connect) -> None:
    caplog.set_level(logging.DEBUG)
    client = connect(settings(fake))
    client.job_status(["abc"])
    assert TOKEN not in caplog.text
    assert client.httpClient.conn.debuglevel == 0


def test_token_never_printed_in_subprocess(fake) -> None:
    code = f"""
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
from arc_intercede.auth import StaticToken, make_ssl_context
from arc_intercede.client import ClientSettings, negotiate
s = ClientSettings(host="localhost", port={fake.port}, api_base="/arex",
    ssl_context=make_ssl_context(ca_dir=None, ca_file="{fake.ca_file}"), connect_timeout_s=5,
    read_timeout_s=5, token_source=StaticToken("{TOKEN}"))
negotiate(s).list_jobs()
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert TOKEN not in proc.stdout + proc.stderr
    assert "GET" in proc.stderr  # debug logging was on


# 2. blind retries -----------------------------------------------------------------------------------------------

def test_plain_pyarcrest_sends_job_creation_twice(fake, monkeypatch, restore_pyarcrest_defaults) -> None:
    fake.ce.drop["POST new"] = 1
    rest = _plain_pyarcrest(fake, monkeypatch, TOKEN)
    rest.getJobsList()  # a keep-alive connection exists; the drop hits the next request
    rest.createJobs("&(executable=/bin/true)", isADL=False)
    rest.close()
    assert fake.ce.count("POST", "new") == 2  # the defect: a second job was created


def test_job_creation_is_never_retried(fake, connect) -> None:
    fake.ce.drop["POST new"] = 1
    client = connect(settings(fake))
    client.list_jobs()
    with pytest.raises(TransportError), map_arc_errors("test"):
        client.create_jobs("&(executable=/bin/true)", queue=None, delegation_id=None)
    assert fake.ce.count("POST", "new") == 1
    assert len(fake.ce.jobs) == 0


def test_idempotent_status_is_retried_once(fake, connect) -> None:
    job = fake.ce.add_job("RUNNING")
    client = connect(settings(fake))
    fake.ce.drop["POST status"] = 1
    (reply,) = client.job_status([job])
    assert reply.value == "RUNNING"
    assert fake.ce.count("POST", "status") == 2


def test_upload_retry_resends_the_whole_file(fake, tmp_path: Path, connect) -> None:
    job = fake.ce.add_job("PREPARING")
    data = tmp_path / "in.bin"
    data.write_bytes(b"z" * 300_000)
    client = connect(settings(fake))
    fake.ce.drop["PUT"] = 1
    client.upload(job, "in.bin", data)
    puts = [r for r in fake.ce.requests if r.method == "PUT"]
    assert [len(r.body) for r in puts] == [300_000, 300_000]
    assert fake.ce.files[job]["in.bin"] == data.read_bytes()


def test_empty_upload_is_zero_bytes(fake, tmp_path: Path, connect) -> None:
    job = fake.ce.add_job("PREPARING")
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    connect(settings(fake)).upload(job, "empty", empty)
    (put,) = [r for r in fake.ce.requests if r.method == "PUT"]
    assert put.headers["Content-Length"] == "0" and fake.ce.files[job]["empty"] == b""


# 8, 10. listing key and percent-encoding -----------------------------------------------------------------------

def test_plain_pyarcrest_misses_subdirectories(fake, monkeypatch, restore_pyarcrest_defaults) -> None:
    job = fake.ce.add_job(files={"a.txt": b"a", "sub/b.txt": b"b"})
    rest = _plain_pyarcrest(fake, monkeypatch, TOKEN)
    listing = rest.downloadListing(job, "")
    rest.close()
    assert listing["dirs"] == []  # the defect: A-REX's key is "dir"


def test_listing_sees_subdirectories(fake, connect) -> None:
    job = fake.ce.add_job(files={"a.txt": b"a", "sub/b.txt": b"b"})
    listing = connect(settings(fake)).list_dir(job, "")
    assert listing.files == ("a.txt",) and listing.dirs == ("sub",)


@pytest.mark.parametrize("name", ["with space.txt", "hash#frag.txt", "q?x=1.txt", "pct%41.txt", "ünï ✓.txt"])
def test_odd_names_are_percent_encoded(fake, name: str, connect) -> None:
    job = fake.ce.add_job(files={f"dir one/{name}": b"payload"})
    client = connect(settings(fake))
    assert client.list_dir(job, "dir one").files == (name,)
    resp = client.open_file(job, f"dir one/{name}")
    assert resp.read() == b"payload"
    assert fake.ce.requests[-1].path.endswith(f"/session/dir one/{name}")


def test_per_byte_escaped_utf8_names_are_repaired(fake, connect) -> None:
    job = fake.ce.add_job()
    mangled = "é✓".encode().decode("latin-1")  # what A-REX's JSON renderer is suspected to emit
    fake.ce.listings[(job, "")] = {"file": [mangled], "dir": []}
    assert connect(settings(fake)).list_dir(job, "").files == ("é✓",)


# 13. reason phrase ------------------------------------------------------------------------------------------------

def test_plain_pyarcrest_loses_the_reason(fake, monkeypatch, restore_pyarcrest_defaults) -> None:
    fake.ce.fail["POST new"] = (500, "No more jobs allowed")
    rest = _plain_pyarcrest(fake, monkeypatch, TOKEN)
    with pytest.raises(pyarcrest.arc.ARCHTTPError) as info:
        rest.createJobs("&(executable=/bin/true)", isADL=False)
    rest.close()
    assert "No more jobs" not in str(info.value)  # the defect


def test_reason_reaches_the_caller(fake, connect) -> None:
    fake.ce.fail["POST new"] = (500, "No more jobs allowed")
    with pytest.raises(CEResponseError, match="No more jobs allowed"), map_arc_errors("test"):
        connect(settings(fake)).create_jobs("&(executable=/bin/true)", queue=None, delegation_id=None)


# 14. tokens on REST 1.0 -------------------------------------------------------------------------------------------

def test_plain_pyarcrest_refuses_tokens_on_1_0(fake, monkeypatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(fake.ca_file))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)  # pyarcrest leaves its probe connection open
        with pytest.raises(AssertionError):
            pyarcrest.arc.ARCRest.getClient(host="localhost", port=fake.port, token=TOKEN, version="1.0")
        gc.collect()


def test_tokens_work_on_1_0(fake, connect) -> None:
    client = connect(settings(fake), version="1.0")
    assert isinstance(client, Rest10)
    client.list_jobs()
    assert fake.ce.requests[-1].path == "/arex/rest/1.0/jobs"
    assert fake.ce.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


# 16. no ARC SWIG bindings -------------------------------------------------------------------------------------------

def test_no_module_imports_the_arc_bindings() -> None:
    pattern = re.compile(r"^\s*(import arc\b|from arc\b|from arc\s+import)", re.MULTILINE)
    sources = Path(__file__).resolve().parents[2].joinpath("arc_intercede").glob("*.py")
    assert [p.name for p in sources if pattern.search(p.read_text())] == []


# 3, 4. verified TLS ------------------------------------------------------------------------------------------------

def test_plain_pyarcrest_proxy_mode_does_not_verify(fake, tmp_path: Path) -> None:
    from tests.hostile_ce import make_ca_and_server_cert

    _, cert, key = make_ca_and_server_cert(tmp_path / "client", "client")
    proxy = tmp_path / "proxy.pem"
    proxy.write_bytes(cert.read_bytes() + key.read_bytes())
    with pytest.warns(DeprecationWarning):
        client = pyarcrest.http.HTTPClient(host="localhost", port=fake.port, proxypath=str(proxy), timeout=5)
    assert client.conn._context.verify_mode == ssl.CERT_NONE  # the defect


def test_untrusted_ce_is_refused(fake, tmp_path: Path, connect) -> None:
    from tests.hostile_ce import make_ca_and_server_cert

    other_ca, _, _ = make_ca_and_server_cert(tmp_path / "other", fresh=True)
    with pytest.raises(TransportError) as info, map_arc_errors("test"):
        connect(settings(fake, ca_file=other_ca))
    assert info.value.transient is False and "verification" in str(info.value)


def test_hostname_is_checked(fake, connect) -> None:
    with pytest.raises(TransportError, match="verification"), map_arc_errors("test"):
        connect(settings(fake, host="127.0.0.1"))


# 7. timeouts --------------------------------------------------------------------------------------------------------

def test_stalled_ce_times_out(fake, connect) -> None:
    client = connect(settings(fake, read_timeout=0.5))
    fake.ce.stall_s = 3
    t0 = time.monotonic()
    with pytest.raises(CETimeoutError), map_arc_errors("test"):
        client.list_jobs()
    assert time.monotonic() - t0 < 2.5


# 15. bulk replies ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("knob", ["short_reply", "reverse_reply"])
def test_short_or_misordered_bulk_reply_is_an_error(fake, knob: str, connect) -> None:
    ids = [fake.ce.add_job("RUNNING") for _ in range(3)]
    setattr(fake.ce, knob, True)
    with pytest.raises(CEResponseError), map_arc_errors("test"):
        connect(settings(fake)).job_status(ids)


# version negotiation -----------------------------------------------------------------------------------------------

def test_version_negotiation(fake, connect) -> None:
    assert isinstance(connect(settings(fake)), Rest11)
    fake.ce.versions = ["1.0"]
    assert isinstance(connect(settings(fake)), Rest10)
    with pytest.raises(APIVersionError):
        connect(settings(fake), version="1.1")


# facade ---------------------------------------------------------------------------------------------------------------

def test_facade_chunks_and_answers_every_id_once(fake) -> None:
    real = [fake.ce.add_job("RUNNING") for _ in range(5)]
    ids = [f"fake{i:08d}" for i in range(2_495)] + real + real[:2]

    async def body() -> dict:
        facade = Facade(settings(fake), max_connections=3, chunk_size=100, api_version=None)
        await facade.open()
        try:
            return await facade.bulk(ids, lambda c, chunk: c.job_status(chunk), lambda r: r.job_id, "status")
        finally:
            await facade.close()

    result = asyncio.run(body())
    assert set(result) == set(ids) and len(result) == 2_500
    assert all(result[i].code == 404 for i in ids if i.startswith("fake"))
    assert all(result[i].value == "RUNNING" for i in real)
    posts = [r for r in fake.ce.requests if r.query.get("action") == "status"]
    assert len(posts) == 25 and all(r.body.count(b'"id"') <= 100 for r in posts)


def test_facade_keeps_the_event_loop_free_and_connections_unshared(fake) -> None:
    fake.ce.stall_s = 0.3
    users: dict[int, set[int]] = {}
    active: set[int] = set()
    overlaps = []

    def call(client, chunk):
        key = id(client)
        if key in active:
            overlaps.append(key)
        active.add(key)
        try:
            return client.job_status(chunk)
        finally:
            active.discard(key)

    async def body() -> int:
        facade = Facade(settings(fake), max_connections=2, chunk_size=1, api_version=None)
        await facade.open()
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        try:
            await facade.bulk([f"id{i}" for i in range(6)], call, lambda r: r.job_id, "status")
        finally:
            task.cancel()
            await facade.close()
        return ticks

    ticks = asyncio.run(body())
    assert ticks > 30  # ~0.9 s of calls ran while the loop kept ticking
    assert overlaps == []
    del users
