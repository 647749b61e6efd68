"""arc_intercede._rest against a real HTTPS A-REX look-alike: one regression test per pyarcrest 0.5 defect.

Where practical a ``test_plain_pyarcrest_*`` test shows the defect on unwrapped pyarcrest against the same
fake server, so each regression test is known to guard something that really breaks.
"""

from __future__ import annotations

import http.client
import importlib.util
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarcrest.arc
import pyarcrest.http
import pytest
from pyarcrest.errors import ARCHTTPError
from pytest_mock import MockerFixture

import arc_intercede._rest.operations
from arc_intercede._rest import ClientSettings, Rest10, Rest11, negotiate
from arc_intercede._rest.errors import map_arc_errors
from arc_intercede.credentials import StaticToken, make_ssl_context
from arc_intercede.errors import (
    APIVersionError,
    CEResponseError,
    CETimeoutError,
    CredentialError,
    ReplyTooLargeError,
    TransportError,
)
from tests.fake_arex import ALWAYS, PKI, Endless, FakeAREX, Stall, make_pki

TOKEN = "tok-5ecr3t-f00d-c0ffee"
ROOT = Path(__file__).resolve().parents[2]
XRSL = "&(executable=/bin/true)"

Connect = Callable[..., Rest10 | Rest11]
Plain = Callable[..., pyarcrest.arc.ARCRest_1_1]


# --- fixtures and helpers ------------------------------------------------------------------------------




def settings(ce: FakeAREX, pki: PKI, *, token: str | None = TOKEN, host: str = "localhost",
             ca_file: Path | None = None, read_timeout: float = 5.0) -> ClientSettings:
    return ClientSettings(
        host=host, port=ce.port, api_base="/arex",
        ssl_context=make_ssl_context(ca_dir=None, ca_file=ca_file or pki.ca_file),
        connect_timeout_s=5, read_timeout_s=read_timeout,
        token_source=StaticToken(token) if token else None,
    )


@pytest.fixture
def connect() -> Iterator[Connect]:
    """negotiate(), closing every client at teardown."""
    clients: list[Rest10 | Rest11] = []

    def make(s: ClientSettings, version: str | None = None) -> Rest10 | Rest11:
        client = negotiate(s, version)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


_DEFAULTS_OWNERS = (
    pyarcrest.http.HTTPClient.request,
    pyarcrest.arc.ARCRest._request,
    pyarcrest.arc.ARCRest._requestJSON,
    pyarcrest.arc.ARCRest._requestJSONStatic.__func__,
)


def _default_dicts() -> list[dict[str, object]]:
    return [d for f in _DEFAULTS_OWNERS for d in (f.__defaults__ or ()) if isinstance(d, dict)]


@pytest.fixture
def pristine_defaults() -> Iterator[None]:
    """Plain pyarcrest writes into its shared default dicts; put them back as they were afterwards."""
    saved = [(d, dict(d)) for d in _default_dicts()]
    yield
    for d, old in saved:
        d.clear()
        d.update(old)


@pytest.fixture
def plain(ce: FakeAREX, pki: PKI, monkeypatch: pytest.MonkeyPatch,
          pristine_defaults: None) -> Iterator[Plain]:
    """Unwrapped pyarcrest talking to ``ce`` (its token path verifies against the default CA store)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    made: list[pyarcrest.arc.ARCRest] = []

    def make(token: str | None = TOKEN, server: FakeAREX | None = None) -> pyarcrest.arc.ARCRest_1_1:
        http_client = pyarcrest.http.HTTPClient(host="localhost", port=(server or ce).port, timeout=5)
        rest = pyarcrest.arc.ARCRest_1_1(http_client, token=token, proxypath=None if token else "/unused")
        made.append(rest)
        return rest

    yield make
    for rest in made:
        rest.close()


def _auth_headers(ce: FakeAREX) -> list[str | None]:
    return [next((v for k, v in r.headers.items() if k.lower() == "authorization"), None) for r in ce.requests]


# --- 1. shared mutable defaults: token leak --------------------------------------------------------------


def test_plain_pyarcrest_leaks_token_to_another_client_and_ce(pki: PKI, plain: Plain) -> None:
    with FakeAREX.start(pki) as first_ce, FakeAREX.start(pki) as other_ce:
        plain(TOKEN, first_ce).getJobsList()
        plain(None, other_ce).getJobsList()  # another CE, a client that has no token at all
        assert _auth_headers(other_ce) == [f"Bearer {TOKEN}"]  # the defect
    assert any(d.get("Authorization") == f"Bearer {TOKEN}" for d in _default_dicts())


def test_token_never_reaches_another_client_or_ce(pki: PKI, connect: Connect) -> None:
    with FakeAREX.start(pki) as ce_a, FakeAREX.start(pki) as ce_b:
        with_token = connect(settings(ce_a, pki))
        without = connect(settings(ce_b, pki, token=None))
        job_a, job_b = ce_a.add_job(files={"f": b"1"}), ce_b.add_job(files={"f": b"1"})
        for _ in range(2):
            with_token.job_status([job_a])
            without.job_status([job_b])
            with_token.list_dir(job_a)
            without.list_dir(job_b)
            without.delegation_ids()
            without.get_delegation("ghost")
        assert _auth_headers(ce_a) == [f"Bearer {TOKEN}"] * len(ce_a.requests)
        assert _auth_headers(ce_b) == [None] * len(ce_b.requests)
        assert len(ce_b.requests) == 9
    for d in _default_dicts():
        assert "Authorization" not in d and TOKEN not in repr(d)


def test_polluted_pyarcrest_defaults_do_not_leak_through_our_client(
    ce: FakeAREX, pki: PKI, connect: Connect, pristine_defaults: None
) -> None:
    # Another pyarcrest user in the same process has written its token into the shared defaults.
    for d in _default_dicts():
        d["Authorization"] = "Bearer LEAKED-BY-SOMEONE-ELSE"
    without = connect(settings(ce, pki, token=None))
    without.list_jobs()
    without.get_delegation("ghost")
    with_token = connect(settings(ce, pki))
    with_token.list_jobs()
    assert _auth_headers(ce) == [None, None, None, f"Bearer {TOKEN}", f"Bearer {TOKEN}"]


# --- 5. debug output: bearer token in logs ---------------------------------------------------------------


def test_plain_pyarcrest_logs_bearer_token(plain: Plain, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    plain(TOKEN).getJobsList()
    assert TOKEN in caplog.text  # the defect: http.client debug output routed to pyarcrest's logger


def test_token_never_logged(ce: FakeAREX, pki: PKI, connect: Connect, caplog: pytest.LogCaptureFixture,
                            tmp_path: Path) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("pyarcrest", "pyarcrest.http", "pyarcrest.arc", "arc_intercede", "http.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    ce.fail["POST jobs?kill"] = (500, "Internal error")
    client = connect(settings(ce, pki))
    job = ce.add_job(files={"a": b"x"})
    client.job_status([job, "missing"])
    client.job_info([job])
    client.list_dir(job)
    src = tmp_path / "in"
    src.write_bytes(b"data")
    client.upload(job, "in", src)
    with pytest.raises(CEResponseError):
        client.job_action([job], "kill")
    assert "POST" in caplog.text  # requests were logged at DEBUG...
    assert TOKEN not in caplog.text  # ...without headers
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert client.httpClient.conn.debuglevel == 0


_LOG_SCRIPT = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
port, ca, token, mode = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
if mode == "ours":
    from arc_intercede.credentials import StaticToken, make_ssl_context
    from arc_intercede._rest import ClientSettings, negotiate
    s = ClientSettings(host="localhost", port=int(port), api_base="/arex",
                       ssl_context=make_ssl_context(ca_dir=None, ca_file=ca), connect_timeout_s=5,
                       read_timeout_s=5, token_source=StaticToken(token))
    client = negotiate(s)
    client.list_jobs()
    client.job_status(["x"])
    client.close()
else:
    import pyarcrest.arc, pyarcrest.http
    rest = pyarcrest.arc.ARCRest_1_1(pyarcrest.http.HTTPClient(host="localhost", port=int(port), timeout=5),
                                     token=token)
    rest.getJobsList()
    rest.close()
print("done")
"""


@pytest.mark.parametrize("mode", ["plain", "ours"])
def test_token_not_printed_in_subprocess(ce: FakeAREX, pki: PKI, mode: str) -> None:
    env = {**os.environ, "SSL_CERT_FILE": str(pki.ca_file), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _LOG_SCRIPT, str(ce.port), str(pki.ca_file), TOKEN, mode],
        capture_output=True, text=True, timeout=60, env=env, cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout
    assert "DEBUG" in proc.stderr  # debug logging really was on
    if mode == "plain":
        assert TOKEN in proc.stderr  # the defect
    else:
        assert TOKEN not in proc.stdout + proc.stderr
        assert len(ce.requests) == 3 and all(h == f"Bearer {TOKEN}" for h in _auth_headers(ce))


# --- 2. blind retries: duplicate job creation, empty re-upload --------------------------------------------


def test_plain_pyarcrest_sends_job_creation_twice(ce: FakeAREX, plain: Plain) -> None:
    ce.drop["POST jobs?new"] = 1
    results = plain(TOKEN).createJobs(XRSL, isADL=False)
    assert len(results) == 1
    assert ce.count("POST jobs?new") == 2  # the defect: the CE saw the submission twice


@pytest.mark.parametrize("times", [1, ALWAYS])
def test_job_creation_is_never_sent_twice(ce: FakeAREX, pki: PKI, connect: Connect, times: float) -> None:
    client = connect(settings(ce, pki))
    client.list_jobs()  # a keep-alive connection is open when the submission goes out
    ce.drop["POST jobs?new"] = times
    with pytest.raises(TransportError) as info:  # mapped at client level, the reset chained
        client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert isinstance(info.value.__cause__, ConnectionError) and info.value.kind == "transport"
    assert ce.count("POST jobs?new") == 1
    assert ce.jobs == {}


def test_a_shut_down_connection_never_reopens(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    """The facade shuts its clients down on close; a worker thread still holding one cannot reconnect."""
    job = ce.add_job("RUNNING")
    client = connect(settings(ce, pki))
    client.job_status([job])
    before = ce.connections
    client.shutdown()
    with pytest.raises(TransportError), map_arc_errors(ce.endpoint, "status"):
        client.job_status([job])
    assert ce.connections == before and client.httpClient.conn.sock is None
    client.close()  # harmless afterwards


def test_job_creation_failure_maps_to_transport_error(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    ce.drop["POST jobs?new"] = 1
    with pytest.raises(TransportError) as info, map_arc_errors(ce.endpoint, "submit"):
        client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert info.value.transient
    assert isinstance(info.value.__cause__, ConnectionError)
    assert ce.count("POST jobs?new") == 1


def test_status_over_dropped_keepalive_connection_is_retried(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    job = ce.add_job("RUNNING")
    client = connect(settings(ce, pki))
    ce.drop["POST jobs?status"] = 1
    (reply,) = client.job_status([job])
    assert (reply.job_id, reply.code, reply.value) == (job, 200, "RUNNING")
    assert ce.count("POST jobs?status") == 2


@pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="TCP_QUICKACK is Linux-only")
def test_every_response_is_read_with_quick_acks(ce: FakeAREX, pki: PKI, connect: Connect,
                                                mocker: MockerFixture) -> None:
    """A-REX sends a response in pieces with Nagle on: a delayed ACK would stall each small call ~40 ms."""
    job = ce.add_job("RUNNING")
    client = connect(settings(ce, pki))
    calls: list[tuple[int, ...]] = []

    def setsockopt(sock: socket.socket, *args: int) -> None:
        calls.append(args)
        socket.socket.setsockopt(sock, *args)

    mocker.patch.object(ssl.SSLSocket, "setsockopt", setsockopt)
    for _ in range(3):
        client.job_status([job])
    assert calls.count((socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)) == 3  # once per response


def test_status_dropped_every_time_fails_after_one_retry(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    ce.drop["POST jobs?status"] = ALWAYS
    with pytest.raises(TransportError) as info:
        client.job_status(["x"])
    assert isinstance(info.value.__cause__, ConnectionError)
    assert ce.count("POST jobs?status") == 2


def test_idle_closed_keepalive_connection(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    """The CE closes idle connections silently: reads are retried, a submission goes out once on a fresh one."""
    job = ce.add_job("QUEUING")
    client = connect(settings(ce, pki))
    ce.close_after_response = True
    for _ in range(3):
        assert client.job_status([job])[0].value == "QUEUING"
    (created,) = client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert created.code == 201 and created.job_id in ce.jobs
    assert ce.count("POST jobs?status") == 3
    assert ce.count("POST jobs?new") == 1


def test_uploads_reuse_the_keepalive_connection(ce: FakeAREX, pki: PKI, connect: Connect, tmp_path: Path) -> None:
    """A PUT replaces its target, so it goes over the open connection (no TLS handshake per input file)."""
    jobs = [ce.add_job("PREPARING") for _ in range(5)]
    src = tmp_path / "in.dat"
    src.write_bytes(b"q" * 5000)
    client = connect(settings(ce, pki))
    before = ce.connections
    for job in jobs:
        client.upload(job, "in.dat", src)
    assert ce.connections == before and all(ce.jobs[j].files["in.dat"] == b"q" * 5000 for j in jobs)
    client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert ce.connections == before + 1  # job creation still goes over a fresh connection


def test_plain_pyarcrest_reupload_sends_empty_file(ce: FakeAREX, plain: Plain, tmp_path: Path) -> None:
    job = ce.add_job("PREPARING")
    src = tmp_path / "in.dat"
    src.write_bytes(b"q" * 50_000)
    ce.drop["PUT session"] = 1
    plain(TOKEN).uploadFile(job, "in.dat", str(src))  # reports success...
    assert [r.body_len for r in ce.by_key("PUT session")] == [50_000, 0]
    assert ce.jobs[job].files["in.dat"] == b""  # ...and the CE now holds a complete, empty input


def test_upload_retry_sends_the_whole_file(ce: FakeAREX, pki: PKI, connect: Connect, tmp_path: Path) -> None:
    job = ce.add_job("PREPARING")
    src = tmp_path / "in.dat"
    src.write_bytes(os.urandom(200_000))
    client = connect(settings(ce, pki))
    ce.drop["PUT session"] = 1
    client.upload(job, "in.dat", src)
    puts = ce.by_key("PUT session")
    assert [r.body_len for r in puts] == [200_000, 200_000]
    assert all(r.headers["Content-Length"] == "200000" for r in puts)
    assert ce.jobs[job].files["in.dat"] == src.read_bytes()


def test_upload_reset_every_time_gives_up_after_two_attempts(
    ce: FakeAREX, pki: PKI, connect: Connect, tmp_path: Path
) -> None:
    job = ce.add_job("PREPARING")
    src = tmp_path / "in.dat"
    src.write_bytes(b"abc")
    client = connect(settings(ce, pki))
    ce.drop["PUT session"] = ALWAYS
    with pytest.raises(TransportError) as info:
        client.upload(job, "in.dat", src)
    assert isinstance(info.value.__cause__, ConnectionError)
    assert [r.body_len for r in ce.by_key("PUT session")] == [3, 3]
    assert "in.dat" not in ce.jobs[job].files


def test_empty_file_uploads_as_zero_bytes(ce: FakeAREX, pki: PKI, connect: Connect, tmp_path: Path) -> None:
    job = ce.add_job("PREPARING")
    src = tmp_path / "empty"
    src.write_bytes(b"")
    connect(settings(ce, pki)).upload(job, "empty", src)
    (put,) = ce.by_key("PUT session")
    assert put.headers.get("Content-Length") == "0"
    assert "Transfer-Encoding" not in put.headers
    assert put.body_len == 0
    assert ce.jobs[job].files["empty"] == b""


# --- 8. listing key "dir" ---------------------------------------------------------------------------------


def test_plain_pyarcrest_misses_subdirectories(ce: FakeAREX, plain: Plain) -> None:
    job = ce.add_job(files={"a.txt": b"a", "sub/b.txt": b"b", "sub/deeper/c": b"c"})
    listing = plain(TOKEN).downloadListing(job, "")
    assert listing["dirs"] == []  # the defect: A-REX sends "dir"
    assert listing["dir"] == ["sub"]


def test_listing_returns_subdirectories(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    job = ce.add_job(files={"a.txt": b"a", "sub/b.txt": b"b", "sub/deeper/c": b"c", "other/d": b"d"})
    client = connect(settings(ce, pki))
    top = client.list_dir(job)
    assert top.files == ("a.txt",)
    assert top.dirs == ("other", "sub")
    sub = client.list_dir(job, "sub")
    assert (sub.files, sub.dirs) == (("b.txt",), ("deeper",))
    assert client.list_dir(job, "sub/deeper").files == ("c",)


# --- 10. percent-encoding, byte-escaped names --------------------------------------------------------------

ODD_NAMES = ["with space.txt", "hash#frag.txt", "q?x=1.txt", "pct%41.txt", "ünïcødé ✓.txt"]


def test_plain_pyarcrest_cannot_address_odd_names(ce: FakeAREX, plain: Plain, tmp_path: Path) -> None:
    job = ce.add_job(files={"with space.txt": b"1"})
    rest = plain(TOKEN)
    with pytest.raises(http.client.InvalidURL):
        rest.downloadListing(job, "with space.txt")
    src = tmp_path / "x"
    src.write_bytes(b"payload")
    rest.close()
    rest.uploadFile(job, "q?x=1.txt", str(src))
    assert "q" in ce.jobs[job].files  # misrouted: "?x=1.txt" became a query string
    assert "q?x=1.txt" not in ce.jobs[job].files


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_names_round_trip(ce: FakeAREX, pki: PKI, connect: Connect, tmp_path: Path, name: str) -> None:
    job = ce.add_job("PREPARING")
    src = tmp_path / "src"
    src.write_bytes(b"payload " + name.encode())
    client = connect(settings(ce, pki))
    client.upload(job, f"d ir/{name}", src)
    assert ce.jobs[job].files == {f"d ir/{name}": src.read_bytes()}  # the server decoded it back
    (put,) = ce.by_key("PUT session")
    assert " " not in put.raw_path and "#" not in put.raw_path and "?" not in put.raw_path
    assert put.raw_path.isascii()
    assert client.list_dir(job).dirs == ("d ir",)
    assert client.list_dir(job, "d ir").files == (name,)
    resp = client.open_file(job, f"d ir/{name}")
    assert resp.read() == src.read_bytes()


def test_plain_pyarcrest_keeps_byte_escaped_names_mangled(ce: FakeAREX, plain: Plain) -> None:
    ce.byte_escaped_names = True
    job = ce.add_job(files={"ünï.txt": b"u"})
    assert plain(TOKEN).downloadListing(job, "")["file"] == ["Ã¼nÃ¯.txt"]


def test_byte_escaped_names_are_repaired(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ce.byte_escaped_names = True
    job = ce.add_job(files={"ünï ✓.txt": b"u", "plain.txt": b"p", "dïr/x": b"x"})
    client = connect(settings(ce, pki))
    listing = client.list_dir(job)
    assert listing.files == ("plain.txt", "ünï ✓.txt")
    assert listing.dirs == ("dïr",)
    assert client.open_file(job, "ünï ✓.txt").read() == b"u"


# --- 13. the CE's reason phrase reaches the caller --------------------------------------------------------


def test_plain_pyarcrest_drops_reason_phrase(ce: FakeAREX, plain: Plain) -> None:
    ce.fail["POST jobs?new"] = (500, "No more jobs allowed")
    with pytest.raises(ARCHTTPError) as info:
        plain(TOKEN).createJobs(XRSL, isADL=False)
    assert (info.value.status, info.value.text) == (500, "")  # the defect


def test_reason_phrase_reaches_caller(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ce.max_jobs = 0
    client = connect(settings(ce, pki))
    with pytest.raises(ARCHTTPError) as raw:
        client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert raw.value.status == 500 and "No more jobs allowed" in raw.value.text
    with pytest.raises(CEResponseError) as mapped, map_arc_errors(ce.endpoint, "submit"):
        client.create_jobs(XRSL, queue=None, delegation_id=None)
    assert "No more jobs allowed" in str(mapped.value)
    assert mapped.value.status == 500 and mapped.value.transient
    assert mapped.value.__cause__ is not None


def test_rejected_token_is_a_credential_error(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ce.require_token = "a-different-token"
    client = connect(settings(ce, pki))  # the version list is public
    with pytest.raises(CredentialError) as info, map_arc_errors(ce.endpoint, "status"):
        client.job_status(["x"])
    assert "User can't be assigned configuration" in str(info.value)
    assert not info.value.transient


def test_session_error_reason_in_message(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    job = ce.add_job()
    client = connect(settings(ce, pki))
    with pytest.raises(CEResponseError, match="Not found") as info:
        client.list_dir(job, "no/such/dir")
    assert info.value.status == 404 and not info.value.transient
    with pytest.raises(CEResponseError, match="Job not found"):
        client.list_dir("nojob")


# --- 14. tokens on REST 1.0 ------------------------------------------------------------------------------


def test_plain_pyarcrest_refuses_token_on_rest_1_0(ce: FakeAREX, plain: Plain) -> None:
    ce.versions = ["1.0"]
    http_client = plain(TOKEN).httpClient
    with pytest.raises(AssertionError):
        pyarcrest.arc.ARCRest_1_0(http_client, token=TOKEN)


@pytest.mark.parametrize("offered", [["1.0"], ["1.0", "1.1"]])
def test_token_works_on_rest_1_0(ce: FakeAREX, pki: PKI, connect: Connect, offered: list[str]) -> None:
    ce.versions = offered
    ce.require_token = TOKEN
    job = ce.add_job("RUNNING")
    client = connect(settings(ce, pki), "1.0")
    assert isinstance(client, Rest10) and client.VERSION == "1.0"
    assert client.job_status([job])[0].value == "RUNNING"
    (status,) = ce.by_key("POST jobs?status")
    assert status.path == "/arex/rest/1.0/jobs"
    assert _auth_headers(ce) == [f"Bearer {TOKEN}"] * len(ce.requests)


# --- 16. no ARC SWIG bindings -----------------------------------------------------------------------------


def test_plain_pyarcrest_submit_imports_arc_bindings() -> None:
    if importlib.util.find_spec("arc") is not None:  # pragma: no cover - libarc bindings installed
        pytest.skip("the ARC bindings are installed here")
    rest = pyarcrest.arc.ARCRest_1_1(None, token="unused")
    with pytest.raises(ModuleNotFoundError, match="arc"):
        rest.submitJobs([XRSL])


_IMPORT_SCRIPT = """
import importlib, pkgutil, sys
import arc_intercede
names = [m.name for m in pkgutil.walk_packages(arc_intercede.__path__, "arc_intercede.")]
for name in names:
    importlib.import_module(name)
assert "arc_intercede._rest.operations" in sys.modules and "arc_intercede._rest.connpool" in sys.modules
print(len(names), "arc" in sys.modules, sorted(m for m in sys.modules if m == "arc" or m.startswith("arc.")))
"""


def test_nothing_imports_arc_bindings(tmp_path: Path) -> None:
    # A stand-in "arc" package on the path: any import of it would succeed and show in sys.modules.
    (tmp_path / "arc").mkdir()
    (tmp_path / "arc" / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.run(
        [sys.executable, "-c", _IMPORT_SCRIPT], capture_output=True, text=True, timeout=60, env=env,
        cwd=ROOT, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    count, present, modules = proc.stdout.split(" ", 2)
    assert int(count) >= 10
    assert (present, modules.strip()) == ("False", "[]")


_ARC_IMPORT = re.compile(
    r"^\s*(?:import\s+arc\b(?!_)|from\s+arc(?:\.\w+)*\s+import\b)|import_module\(\s*['\"]arc['\"]", re.M
)


def test_no_module_imports_arc_statically() -> None:
    sources = sorted((ROOT / "arc_intercede").rglob("*.py"))
    assert len(sources) >= 10
    offenders = [str(p) for p in sources if _ARC_IMPORT.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
    # The pattern itself catches what it should, and not our own package name.
    assert _ARC_IMPORT.search("import arc\n") and _ARC_IMPORT.search("    from arc import X\n")
    assert not _ARC_IMPORT.search("import arc_intercede\nfrom arc_intercede import client\n")


# --- 3, 4. TLS verification --------------------------------------------------------------------------------


def test_plain_pyarcrest_proxy_mode_does_not_verify(pki: PKI, tmp_path: Path) -> None:
    proxy = tmp_path / "proxy.pem"
    proxy.write_bytes(pki.cert_file.read_bytes() + pki.key_file.read_bytes())
    with pytest.warns(DeprecationWarning):  # ssl.PROTOCOL_TLS
        client = pyarcrest.http.HTTPClient(host="localhost", port=1, proxypath=str(proxy))
    ctx = client.conn._context
    assert ctx.verify_mode == ssl.CERT_NONE and not ctx.check_hostname  # the defect
    client.close()


def test_our_connection_verifies(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    ctx = client.httpClient.conn._context  # type: ignore[attr-defined]
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_wrong_ca_is_rejected(ce: FakeAREX, pki: PKI, tmp_path: Path) -> None:
    stranger = make_pki(tmp_path / "other")
    s = settings(ce, pki, ca_file=stranger.ca_file)
    with pytest.raises(TransportError) as info:
        negotiate(s)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError) and info.value.kind == ""
    assert not info.value.transient
    assert "verif" in str(info.value).lower()
    assert ce.requests == []  # nothing, token included, was ever sent


def test_hostname_mismatch_is_rejected(ce: FakeAREX, pki: PKI) -> None:
    s = settings(ce, pki, host="127.0.0.1")  # the certificate names localhost only
    with pytest.raises(TransportError) as info, map_arc_errors(s.endpoint, "connect"):
        negotiate(s)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert not info.value.transient
    assert ce.requests == []


# --- 7. timeouts --------------------------------------------------------------------------------------------


def test_plain_pyarcrest_has_no_default_timeout() -> None:
    client = pyarcrest.http.HTTPClient(host="localhost", port=1)
    assert client.conn.timeout is socket._GLOBAL_DEFAULT_TIMEOUT  # type: ignore[attr-defined]  # blocks forever
    client.close()


def test_stalled_reply_times_out(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki, read_timeout=0.5))
    ce.delay["POST jobs?status"] = 30
    start = time.monotonic()
    with pytest.raises(CETimeoutError) as info, map_arc_errors(ce.endpoint, "status"):
        client.job_status(["x"])
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 1.0
    assert isinstance(info.value.__cause__, TimeoutError) and info.value.transient
    assert ce.count("POST jobs?status") == 1  # a timeout is not blindly retried
    del ce.delay["POST jobs?status"]
    assert client.job_status(["x"])[0].code == 404  # the client recovers on a new connection


def test_stalled_body_times_out(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    job = ce.add_job(files={"big": Stall(b"abc", 10_000)})
    client = connect(settings(ce, pki, read_timeout=0.5))
    resp = client.open_file(job, "big")
    start = time.monotonic()
    with pytest.raises(CETimeoutError) as info:
        resp.read()
    assert info.value.kind == "limit:timeout" and isinstance(info.value.__cause__, TimeoutError)
    assert time.monotonic() - start < 1.0
    client.abort()


def test_endless_diagnose_is_cut(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    job = ce.add_job(diagnose={"errors": Endless(), "failed": b"boom"})
    client = connect(settings(ce, pki))
    text = client.diagnose(job, "errors", max_bytes=5000)
    assert text is not None and text.endswith("[truncated]") and len(text) < 5100
    assert client.diagnose(job, "failed", max_bytes=5000) == "boom"
    assert client.diagnose(job, "comment", max_bytes=5000) is None


def test_huge_listing_is_capped(ce: FakeAREX, pki: PKI, connect: Connect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arc_intercede._rest.operations, "MAX_LISTING_BYTES", 20_000)
    ce.huge_listing = 5_000
    job = ce.add_job(files={"a": b""})
    client = connect(settings(ce, pki))
    with pytest.raises(ReplyTooLargeError, match="announces"):
        client.list_dir(job)
    ce.huge_listing = 100
    assert len(client.list_dir(job).files) == 101


# --- 15. bulk replies: short or out of order ---------------------------------------------------------------


def test_plain_pyarcrest_silently_drops_and_misaligns(ce: FakeAREX, plain: Plain) -> None:
    a, b = ce.add_job("RUNNING"), ce.add_job("FINISHED")
    rest = plain(TOKEN)
    ce.short_reply = True
    assert len(rest.getJobsStatus([a, b])) == 1  # b silently vanished
    ce.short_reply, ce.reverse_reply = False, True
    assert [r.value for r in rest.getJobsStatus([a, b])] == ["FINISHED", "RUNNING"]  # a gets b's state


@pytest.mark.parametrize("action", ["status", "info", "kill"])
def test_reply_out_of_order_is_matched_by_id(ce: FakeAREX, pki: PKI, connect: Connect, action: str) -> None:
    ids = [ce.add_job("RUNNING"), ce.add_job("FAILED"), "made-up"]
    client = connect(settings(ce, pki))
    calls: dict[str, Callable[[list[str]], list[Any]]] = {
        "status": client.job_status, "info": client.job_info, "kill": lambda i: client.job_action(i, "kill")}
    straight = calls[action](ids)
    ce.reverse_reply = True
    assert calls[action](ids) == straight


@pytest.mark.parametrize("action", ["status", "info", "kill"])
def test_an_id_left_out_is_asked_again_alone(ce: FakeAREX, pki: PKI, connect: Connect, action: str) -> None:
    ids = [ce.add_job("RUNNING"), ce.add_job("FAILED"), ce.add_job("QUEUING")]
    client = connect(settings(ce, pki))
    ce.leave_out = {ids[1]}  # left out of every reply about more than one id
    calls: dict[str, Callable[[list[str]], list[Any]]] = {
        "status": client.job_status, "info": client.job_info, "kill": lambda i: client.job_action(i, "kill")}
    replies = calls[action](ids)
    got = [r[0].job_id if isinstance(r, tuple) else r.job_id for r in replies]
    assert got == ids
    codes = [(r[0] if isinstance(r, tuple) else r).code for r in replies]
    assert codes == [202] * 3 if action == "kill" else codes == [200] * 3
    assert [r.ids for r in ce.by_key(f"POST jobs?{action}")] == [ids, [ids[1]]]


def test_an_id_the_ce_never_answers_fails_the_call_transiently(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ids = [ce.add_job("RUNNING"), ce.add_job("FAILED")]
    client = connect(settings(ce, pki))
    ce.short_reply = True  # the last entry is left out, also of a reply about one id
    with pytest.raises(CEResponseError, match="asked alone") as info:
        client.job_status(ids)
    assert info.value.transient  # A-REX answers short while it restarts


@pytest.mark.parametrize("bad", ["", " ", "\t\n", ".", "..", "a/b", "/", "nul\x00", "x" * 300, "has space"])
def test_impossible_ids_are_answered_locally(ce: FakeAREX, pki: PKI, connect: Connect, bad: str) -> None:
    good = ce.add_job("RUNNING")
    client = connect(settings(ce, pki))
    replies = client.job_status([good, bad])
    assert [(r.job_id, r.found) for r in replies] == [(good, True), (bad, False)]
    assert [r.ids for r in ce.by_key("POST jobs?status")] == [[good]]
    assert client.job_action([bad], "kill")[0].code == 404
    assert client.job_info([bad])[0][1] is None
    assert ce.count("POST jobs?kill") == 0 and ce.count("POST jobs?info") == 0


def test_bulk_request_shape(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ids = [ce.add_job("RUNNING"), "made-up", ce.add_job("FAILED")]
    client = connect(settings(ce, pki))
    replies = client.job_status(ids)
    assert [(r.job_id, r.found, r.value) for r in replies] == [
        (ids[0], True, "RUNNING"), ("made-up", False, "None"), (ids[2], True, "FAILED")]
    (req,) = ce.by_key("POST jobs?status")
    assert req.headers["Content-Type"] == "application/json"  # exact, or A-REX reads zero ids
    assert req.ids == ids
    single = client.job_status([ids[0]])
    assert single[0].value == "RUNNING"
    info = client.job_info(ids)
    assert [i.state if i else None for _, i in info] == ["RUNNING", None, "FAILED"]
    actions = client.job_action(ids, "restart")
    assert [r.code for r in actions] == [505, 404, 202]
    assert client.job_status([]) == [] and ce.count("POST jobs?status") == 2


# --- version negotiation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offered", "pinned", "expected"),
    [
        (["1.0", "1.1"], None, Rest11),
        (["1.0"], None, Rest10),
        ("1.0", None, Rest10),  # ARC 6: a bare string
        (["1.0", "1.1"], "1.0", Rest10),
        (["1.0", "1.1"], "1.1", Rest11),
        (["1.0", "1.1", "9.9"], None, Rest11),
    ],
)
def test_version_negotiation(ce: FakeAREX, pki: PKI, connect: Connect, offered: list[str] | str,
                             pinned: str | None, expected: type) -> None:
    ce.versions = offered
    client = connect(settings(ce, pki), pinned)
    assert isinstance(client, expected)
    client.list_jobs()
    assert ce.requests[-1].path == f"/arex/rest/{client.VERSION}/jobs"
    assert ce.count("GET rest") == 1


@pytest.mark.parametrize(("offered", "pinned"), [(["1.0"], "1.1"), ([], None), (["2.0"], None), (["1.1"], "3.0")])
def test_version_negotiation_failures(ce: FakeAREX, pki: PKI, offered: list[str], pinned: str | None) -> None:
    ce.versions = offered
    with pytest.raises(APIVersionError) as info:
        negotiate(settings(ce, pki), pinned)
    assert not info.value.transient
    assert info.value.endpoint == f"https://localhost:{ce.port}/arex"


# --- 11, 12. delegations ------------------------------------------------------------------------------------


def test_plain_pyarcrest_renew_with_token_always_fails(ce: FakeAREX, plain: Plain) -> None:
    rest = plain(TOKEN)
    deleg, _ = rest.newDelegation(proxypath="/unused")
    with pytest.raises(ARCHTTPError) as info:
        rest.renewDelegation(deleg)
    assert info.value.status == 201  # the defect: A-REX's success is treated as a failure


def test_delegation_cycle(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    assert client.delegation_ids() == []
    deleg, csr = client.new_delegation()
    assert csr.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert deleg in ce.delegations
    client.put_delegation(deleg, b"-----BEGIN CERTIFICATE-----\nfake\n")
    assert client.get_delegation(deleg) == "-----BEGIN CERTIFICATE-----\nfake\n"
    assert "BEGIN CERTIFICATE REQUEST" in client.renew_delegation(deleg)
    assert client.delegation_ids() == [deleg]
    assert client.get_delegation("ghost") is None
    assert ce.count("POST delegations?new") == 1


def test_token_delegation_sends_bare_token(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    deleg = client.new_token_delegation("jwt-for-staging")
    (req,) = ce.by_key("POST delegations?new")
    assert req.headers["X-Token-Delegation"] == "jwt-for-staging"  # not "Bearer ..."
    assert req.query == {"action": "new", "type": "jwt"}
    assert ce.delegations[deleg] == {"type": "jwt", "value": "jwt-for-staging"}


def test_token_delegation_needs_rest_1_1(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    ce.versions = ["1.0"]
    client = connect(settings(ce, pki))
    with pytest.raises(APIVersionError):
        client.new_token_delegation("jwt")
    assert ce.count("POST delegations?new") == 0


def test_new_delegation_is_never_retried(ce: FakeAREX, pki: PKI, connect: Connect) -> None:
    client = connect(settings(ce, pki))
    client.list_jobs()
    ce.drop["POST delegations?new"] = 1
    with pytest.raises(TransportError) as info:
        client.new_delegation()
    assert isinstance(info.value.__cause__, ConnectionError)
    assert ce.count("POST delegations?new") == 1
