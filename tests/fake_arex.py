"""The fake CE: an in-memory A-REX (ARC REST 1.0 + 1.1) over real HTTPS on loopback, able to misbehave.

It is the only fake CE of the tests (unit tests, the backend suite's fake target, benchmarks). Shapes
follow A-REX 7: forced JSON lists (``job``, ``file``, ``dir``,
``version``, ``delegation``), every scalar a string, errors as an HTTP *reason phrase* with an empty
body, bulk bodies parsed only for ``Content-Type: application/json`` exactly, per-job 404 entries.

Usage (a plain context manager; ``tests/unit`` wraps it in fixtures)::

    with FakeAREX.start(pki) as ce:
        job = ce.add_job("RUNNING", {"out.txt": b"hi", "sub/x": b""})
        ...  # talk to https://localhost:{ce.port}/arex, verify with ca_file=pki.ca_file
        assert ce.count("POST jobs?status") == 1

The switch grammar (one for every switch keyed by request: ``drop``, ``fail``, ``fail_after``,
``delay``, ``replies``, and for :meth:`FakeAREX.count`) is the *rule key* ``"<METHOD> <kind>"`` plus
``"?<action>"`` when the query has an ``action``; ``kind`` is the first path element after
``/rest/<v>/`` (``jobs``, ``delegations``, ``info``) or ``session``/``diagnose`` for job
sub-resources, ``rest`` for the version list. Examples: ``"GET rest"``, ``"POST jobs?new"``,
``"POST jobs?status"``, ``"POST jobs?kill"``, ``"PUT session"``, ``"GET session"``,
``"POST delegations?new"``.

File bodies (``Job.files``, ``Job.diagnose``) and listing overrides (``FakeAREX.listings``) are
bytes, :class:`Endless`, :class:`Stall`, or a *writer*: a callable given the request handler that
writes the whole raw reply itself (``overlong``, ``trickle``, ``json_stream`` and the others below).
Jobs advance through A-REX's states on their own when ``progress`` is set (one step per status
or info query about them), so a client polling for ``FINISHED`` sees the life cycle a real CE shows.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote_to_bytes, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NO_CONFIGURATION = "User can't be assigned configuration"


# --- throwaway PKI -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PKI:
    """A CA and a server certificate signed by it, written to a directory."""

    folder: Path
    ca_file: Path
    cert_file: Path
    key_file: Path
    ca_cert: x509.Certificate


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_pki(folder: Path, hostname: str = "localhost") -> PKI:
    """Create a CA and a ``hostname`` server certificate (SAN: DNS only) under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"fake-arex test CA {uuid.uuid4().hex[:8]}")
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name(hostname)).issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = PKI(folder, folder / "ca.pem", folder / "server.pem", folder / "server.key", ca)
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    pki.key_file.chmod(0o600)  # a private key must be private (the proxy maker refuses it otherwise)
    return pki


def make_csr_pem() -> bytes:
    """Return a fresh delegation CSR (PEM), as A-REX sends for ``delegations?action=new``."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(_name("delegation")).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


# --- special file bodies -------------------------------------------------------------------------


@dataclass(frozen=True)
class Endless:
    """A session/diagnose body that never ends (chunked, written until the client goes away)."""

    chunk: bytes = b"x" * 16384


@dataclass(frozen=True)
class Stall:
    """A body announced as ``length`` bytes of which only ``prefix`` is sent before stalling."""

    prefix: bytes
    length: int


Writer = Callable[[Any], None]
"""Writes a whole raw reply to the request handler it is given (``handler.wfile`` and friends)."""

Body = bytes | Endless | Stall | Writer

LIFE_CYCLE = ("ACCEPTING", "ACCEPTED", "PREPARING", "SUBMITTING", "QUEUING", "RUNNING", "FINISHING", "FINISHED")
"""The REST states a successful job passes through on A-REX 7, in order."""

TERMINAL = ("FINISHED", "FAILED", "KILLED")

INFO_DOCUMENT: dict[str, Any] = {"Domains": {"AdminDomain": {"Services": {"ComputingService": {
    "RunningJobs": "1", "WaitingJobs": "2", "ComputingShare": {"Name": "grid"}}}}}}
"""The default ``GET info`` document: one share, ``grid``, as a single object."""

QUEUE_SHARE_INFO: dict[str, Any] = {"Domains": {"AdminDomain": {"Services": {"ComputingService": {
    "RunningJobs": "1", "WaitingJobs": "2", "StagingJobs": "0", "PreLRMSWaitingJobs": "1",
    "ComputingShare": [{"Name": "batch", "RunningJobs": "1", "WaitingJobs": "2"}]}}}}}
"""An info document whose shares are a list holding ``batch`` with its own counts."""


# --- state ----------------------------------------------------------------------------------------


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    raw_path: str
    path: str  # URL-decoded (UTF-8) path, as A-REX decodes it
    query: dict[str, str]
    headers: dict[str, str]
    body_len: int
    body: bytes
    key: str
    ids: list[str] = field(default_factory=list)  # job ids of a bulk request


@dataclass
class Job:
    """One job: its REST state, session directory and diagnose items."""

    state: str = "ACCEPTING"
    files: dict[str, Body] = field(default_factory=dict)
    diagnose: dict[str, Body] = field(default_factory=dict)
    advances: bool = False
    """Each status/info query about the job first moves it one step on (see ``FakeAREX.progress``)."""
    cleaning: bool = False
    """A clean was asked before the job ended: it goes once it is terminal."""

    def advance(self) -> None:
        """Move one step along :data:`LIFE_CYCLE` (a killed job ends ``KILLED``)."""
        if self.state == "KILLING":
            self.state = "KILLED"
        elif self.state in LIFE_CYCLE[:-1]:
            self.state = LIFE_CYCLE[LIFE_CYCLE.index(self.state) + 1]


@dataclass
class FakeAREX:
    """The fake CE's state and misbehaviour switches (all safe to change while it runs)."""

    port: int = 0
    versions: list[str] | str = field(default_factory=lambda: ["1.0", "1.1"])
    jobs: dict[str, Job] = field(default_factory=dict)
    delegations: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    connections: int = 0
    """TLS connections accepted so far."""
    # --- switches ---
    require_token: str | None = None
    """If set, job/delegation calls without ``Authorization: Bearer <it>`` get 500 NO_CONFIGURATION."""
    drop: dict[str, float] = field(default_factory=dict)
    """Rule key -> how many more times to close the connection without answering (``math.inf``: always)."""
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Rule key -> (status, reason phrase): answer with an A-REX style error."""
    delay: dict[str, float] = field(default_factory=dict)
    """Rule key -> seconds to wait before answering (cut short when the server stops)."""
    short_reply: bool = False
    """Bulk replies leave out the last job entry."""
    reverse_reply: bool = False
    """Bulk replies list the job entries in reverse order."""
    leave_out: set[str] = field(default_factory=set)
    """Job ids left out of every bulk reply about more than one id (A-REX drops ids it cannot parse)."""
    close_after_response: bool = False
    """Close every connection right after the response, though it looked keep-alive (idle timeout)."""
    byte_escaped_names: bool = False
    """Listings escape every UTF-8 byte >= 0x80 as its own ``\\u00XX`` (A-REX's XML->JSON rendering)."""
    huge_listing: int = 0
    """Listings get this many extra made-up file names."""
    max_jobs: int | None = None
    """Like ``[arex] maxjobs``: once reached, ``action=new`` is a whole-request 500 "No more jobs allowed"."""
    fail_after: dict[str, int] = field(default_factory=dict)
    """Rule key -> how many more matching requests are spared from ``drop`` and ``fail`` first."""
    stall_s: float = 0.0
    """Seconds to sleep before answering any request (after it is recorded)."""
    replies: dict[str, Writer] = field(default_factory=dict)
    """Rule key -> a writer that answers the request itself, before any routing."""
    listings: dict[tuple[str, str], dict[str, Any] | Writer] = field(default_factory=dict)
    """(job id, directory) -> the listing served for it instead of the session's: JSON data or a writer."""
    errors_log: bool = False
    """Every job without an ``errors`` diagnose item serves ``"log of <id>\\n"`` for it."""
    activity: dict[str, Any] = field(default_factory=dict)
    """Extra ``ComputingActivity`` fields of every job's info document (e.g. ``StdOut``)."""
    info: dict[str, Any] = field(default_factory=lambda: INFO_DOCUMENT)
    """The ``GET info`` document."""
    progress: bool = False
    """Jobs created by ``action=new`` advance one :data:`LIFE_CYCLE` step per status/info query about them
    (a killed one ends ``KILLED``), and ``action=clean`` removes them once they are terminal (at once, or
    as soon as they end)."""
    ca_file: Path | None = None
    """The CA file that verifies the server (set by :meth:`start`)."""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    stop: threading.Event = field(default_factory=threading.Event, repr=False)

    # --- helpers for tests ---

    @property
    def endpoint(self) -> str:
        return f"https://localhost:{self.port}/arex"

    def add_job(self, state: str = "FINISHED", files: dict[str, Body] | None = None,
                diagnose: dict[str, Body] | None = None) -> str:
        """Add a job directly (no request); return its 12-character id."""
        job_id = uuid.uuid4().hex[:12]
        with self.lock:
            self.jobs[job_id] = Job(state, dict(files or {}), dict(diagnose or {}))
        return job_id

    def state(self, job_id: str) -> str:
        """The job's current REST state."""
        with self.lock:
            return self.jobs[job_id].state

    def by_key(self, key: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.key == key]

    def count(self, key: str) -> int:
        return len(self.by_key(key))

    def clear(self) -> None:
        with self.lock:
            self.requests.clear()

    @classmethod
    @contextmanager
    def start(cls, pki: PKI, **switches: Any) -> Iterator[FakeAREX]:
        """Serve a new fake CE on 127.0.0.1 (random port) until the block ends."""
        ce = cls(**switches)
        ce.ca_file = pki.ca_file
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki.cert_file, pki.key_file)
        server = _Server(("127.0.0.1", 0), _Handler)
        server.ce, server.tls = ce, ctx
        ce.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield ce
        finally:
            ce.stop.set()
            server.shutdown()
            server.server_close()
            thread.join(5)


# --- HTTP ------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ce: FakeAREX
    tls: ssl.SSLContext

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # TLS handshake failures and client aborts are expected in these tests


class _DroppedError(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 20
    server: _Server

    def setup(self) -> None:
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        self.server.ce.connections += 1
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.request.close()  # the TLS socket; socketserver only closes the (detached) raw one

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing ---

    @property
    def ce(self) -> FakeAREX:
        return self.server.ce

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, reason: str | None = None, body: bytes = b"",
              ctype: str | None = "application/json", headers: dict[str, str] | None = None) -> None:
        self.send_response(status, reason)
        if ctype and body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if self.ce.close_after_response:
            self.close_connection = True

    def _error(self, status: int, reason: str) -> None:
        # A-REX's HTTPFault: the message is the reason phrase, the body is empty.
        self._send(status, reason)

    def _json(self, data: Any, status: int = 200, reason: str | None = None) -> None:
        self._send(status, reason, json.dumps(data).encode())

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        raise _DroppedError

    def _body_out(self, body: Body, ctype: str) -> None:
        if callable(body):
            body(self)
            return
        if isinstance(body, bytes):
            self._send(200, None, body, ctype)
            return
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if isinstance(body, Stall):
            self.send_header("Content-Length", str(body.length))
            self.end_headers()
            self.wfile.write(body.prefix)
            self.wfile.flush()
            self.ce.stop.wait(30)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while not self.ce.stop.is_set():
                self.wfile.write(b"%x\r\n%s\r\n" % (len(body.chunk), body.chunk))
        except OSError:
            pass

    # --- dispatch ---

    def _handle(self, method: str) -> None:
        ce = self.ce
        parts = urlsplit(self.path)
        path = unquote_to_bytes(parts.path).decode("utf-8", "surrogateescape")
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        body = self._read_body()
        segs = path.split("/")  # "", "arex", "rest", <v>, <kind>, ...
        kind = "?"
        if segs[1:3] == ["arex", "rest"]:
            if len(segs) == 3 or (len(segs) == 4 and segs[3] == ""):
                kind = "rest"
            else:
                kind = segs[4] if len(segs) > 4 else ""
            if kind == "jobs" and len(segs) > 6:
                kind = segs[6]
        key = f"{method} {kind}" + (f"?{query['action']}" if "action" in query else "")
        rec = Recorded(method, self.path, path, query, dict(self.headers.items()), len(body), body, key)
        if kind == "jobs" and method == "POST" and query.get("action") != "new":
            rec.ids = self._bulk_ids(body)
        with ce.lock:
            ce.requests.append(rec)
            spared = ce.fail_after.get(key, 0) > 0
            if spared:
                ce.fail_after[key] -= 1
            remaining = 0 if spared else ce.drop.get(key, 0)
            if remaining > 0:
                ce.drop[key] = remaining - 1
        try:
            if remaining > 0:
                self._drop()
            if ce.stall_s:
                time.sleep(ce.stall_s)
            if key in ce.delay:
                ce.stop.wait(ce.delay[key])
            writer = ce.replies.get(key)
            if writer is not None:
                writer(self)
                return
            if key in ce.fail and not spared:
                self._error(*ce.fail[key])
                return
            self._route(method, segs, kind, query, body, rec)
        except _DroppedError:
            return

    def _bulk_ids(self, body: bytes) -> list[str]:
        # A-REX compares the Content-Type exactly; anything else yields zero ids.
        if self.headers.get("Content-Type") != "application/json":
            return []
        try:
            jobs = json.loads(body).get("job", [])
        except (ValueError, AttributeError):
            return []
        jobs = jobs if isinstance(jobs, list) else [jobs]
        # Like A-REX (rest.cpp ParseJobIds), an empty id is skipped: no entry answers it.
        return [str(j["id"]) for j in jobs if isinstance(j, dict) and str(j.get("id", ""))]

    def _authorised(self) -> bool:
        want = self.ce.require_token
        return want is None or self.headers.get("Authorization") == f"Bearer {want}"

    def _route(self, method: str, segs: list[str], kind: str, query: dict[str, str], body: bytes,
               rec: Recorded) -> None:
        ce = self.ce
        if kind == "?":
            self._error(404, "Not Found")
            return
        if kind == "rest":
            if method not in ("GET", "HEAD"):
                self._error(501, "Not Implemented")
                return
            self._json({"version": ce.versions})
            return
        offered = ce.versions if isinstance(ce.versions, list) else [ce.versions]
        if segs[3] not in offered:
            self._error(404, "Version Not Supported")
            return
        if kind == "info":
            self._json(ce.info)
            return
        if not self._authorised():
            self._error(500, NO_CONFIGURATION)
            return
        if kind == "jobs" and len(segs) == 5:
            self._jobs(method, query, body, rec)
        elif kind in ("session", "diagnose"):
            self._job_sub(method, segs, kind, body)
        elif kind == "delegations":
            self._delegations(method, segs, query, body)
        else:
            self._error(404, "Functionality Not Supported")

    def _jobs(self, method: str, query: dict[str, str], body: bytes, rec: Recorded) -> None:
        ce = self.ce
        if method == "GET":
            with ce.lock:
                self._json({"job": [{"id": j} for j in ce.jobs]})
            return
        if method != "POST":
            self._error(501, "Not Implemented")
            return
        action = query.get("action")
        if action == "new":
            text = body.lstrip()
            if text[:1] not in (b"&", b"+", b"<"):
                self._error(500, "Payload is not recognized")
                return
            with ce.lock:
                if ce.max_jobs is not None and len(ce.jobs) >= ce.max_jobs:
                    self._error(500, "No more jobs allowed")
                    return
            groups = max(1, text.count(b"(&")) if text[:1] != b"<" else 1
            entries = []
            for _ in range(groups):
                job_id = ce.add_job("ACCEPTING")
                ce.jobs[job_id].advances = ce.progress
                entries.append({"status-code": "201", "reason": "Created", "id": job_id, "state": "ACCEPTING"})
            self._json({"job": entries}, 201, "Created")
            return
        if action not in ("status", "info", "kill", "clean", "restart", "delegations"):
            self._error(501, "Action not implemented")
            return
        entries = [self._entry(action, job_id) for job_id in rec.ids
                   if len(rec.ids) == 1 or job_id not in ce.leave_out]
        if ce.short_reply and entries:
            entries = entries[:-1]
        if ce.reverse_reply:
            entries.reverse()
        self._json({"job": entries}, 201, "Created")

    def _entry(self, action: str, job_id: str) -> dict[str, Any]:
        with self.ce.lock:
            job = self.ce.jobs.get(job_id)
            if job is None:
                return {"id": job_id, "status-code": "404", "reason": "Job not found", "state": "None"}
            if job.advances and action in ("status", "info"):
                job.advance()
                if job.cleaning and job.state in TERMINAL:
                    del self.ce.jobs[job_id]
                    return {"id": job_id, "status-code": "404", "reason": "Job not found", "state": "None"}
            if action == "status":
                return {"id": job_id, "status-code": "200", "reason": "OK", "state": job.state}
            if action == "info":
                return {"id": job_id, "status-code": "200", "reason": "OK", "info_document": {
                    "ComputingActivity": {"State": [f"nordugrid:{job.state}", f"arcrest:{job.state}"],
                                          "ExitCode": "0" if job.state == "FINISHED" else "",
                                          "Owner": "/CN=fake", "Queue": "grid", **self.ce.activity}}}
            if action == "delegations":
                return {"id": job_id, "status-code": "200", "reason": "OK", "delegation_id": "d1"}
            if action == "restart" and job.state != "FAILED":
                return {"id": job_id, "status-code": "505", "reason": "Job has not failed"}
            if action == "kill":
                job.state = "KILLING"
            if action == "clean" and job.advances:
                # As on A-REX: a cleaned job is gone at once if it has ended, else once it ends.
                if job.state in TERMINAL:
                    del self.ce.jobs[job_id]
                else:
                    job.cleaning = True
            return {"id": job_id, "status-code": "202", "reason": f"Queued for {action}ing"}

    def _listing(self, names: list[str], dirs: list[str]) -> bytes:
        ce = self.ce
        names = names + [f"extra-{i:07d}.dat" for i in range(ce.huge_listing)]
        if ce.byte_escaped_names:
            # ARC-QUIRK: each UTF-8 byte >= 0x80 rendered as its own \u00XX escape.
            names = [n.encode("utf-8").decode("latin-1") for n in names]
            dirs = [d.encode("utf-8").decode("latin-1") for d in dirs]
        return json.dumps({"file": names, "dir": dirs}).encode()

    def _job_sub(self, method: str, segs: list[str], kind: str, body: bytes) -> None:
        ce = self.ce
        job_id = segs[5]
        rel = "/".join(s for s in segs[7:] if s)
        with ce.lock:
            job = ce.jobs.get(job_id)
        if job is None:
            self._error(404, "Job not found")
            return
        if ".." in rel.split("/"):
            self._error(404, "Wrong path")
            return
        if kind == "diagnose":
            item = job.diagnose.get(rel)
            if item is None and rel == "errors" and ce.errors_log:
                item = f"log of {job_id}\n".encode()
            if item is None:
                self._error(404, "Not found")
            else:
                self._body_out(item, "text/plain")
            return
        if method == "PUT":
            if not rel:
                self._error(500, "Missing payload")
                return
            with ce.lock:
                job.files[rel] = body
            self._send(200, "OK")
            return
        if method == "DELETE":
            with ce.lock:
                if rel:
                    job.files.pop(rel, None)
                else:
                    job.files.clear()
            self._send(202, "Accepted")
            return
        override = ce.listings.get((job_id, rel))
        if override is not None:
            if callable(override):
                override(self)
            else:
                self._json(override)
            return
        if rel in job.files:
            self._body_out(job.files[rel], "application/octet-stream")
            return
        prefix = f"{rel}/" if rel else ""
        below = [n[len(prefix):] for n in job.files if n.startswith(prefix)]
        if rel and not below:
            self._error(404, "Not found")
            return
        files = sorted(n for n in below if "/" not in n)
        dirs = sorted({n.split("/", 1)[0] for n in below if "/" in n})
        self._send(200, None, self._listing(files, dirs))

    def _delegations(self, method: str, segs: list[str], query: dict[str, str], body: bytes) -> None:
        ce = self.ce
        version = segs[3]
        action = query.get("action")
        deleg_id = segs[5] if len(segs) > 5 else ""
        if not deleg_id:
            if method == "GET":
                with ce.lock:
                    items = [{"id": d, "type": v["type"]} for d, v in ce.delegations.items()]
                self._json({"delegation": items})
                return
            if method == "POST" and action == "new":
                new_id = uuid.uuid4().hex[:10]
                location = {"Location": f"/arex/rest/{version}/delegations/{new_id}"}
                if query.get("type") == "jwt" and version != "1.0":
                    token = self.headers.get("X-Token-Delegation")
                    if not token:
                        self._error(501, "Missing X-Token-Delegation header for jwt delegation")
                        return
                    with ce.lock:
                        ce.delegations[new_id] = {"type": "jwt", "value": token}
                    self._send(201, "Created", headers=location)
                    return
                with ce.lock:
                    ce.delegations[new_id] = {"type": "x509", "value": None}
                self._send(201, "Created", make_csr_pem(), "application/x-pem-file", location)
                return
            self._error(501, "Action not implemented")
            return
        with ce.lock:
            known = ce.delegations.get(deleg_id)
        if method == "PUT":
            if known is None:
                self._error(500, "Failed accepting delegation")
                return
            with ce.lock:
                known["value"] = body
            self._send(200, "OK")
            return
        if known is None:
            self._error(404, "No delegation found" if action == "get" else "No such delegation")
            return
        if action == "get":
            self._send(200, None, bytes(known["value"] or b""), "application/x-pem-file")
        elif action == "renew":
            self._send(201, "Created", make_csr_pem(), "application/x-pem-file")
        elif action == "delete":
            with ce.lock:
                ce.delegations.pop(deleg_id, None)
            self._send(202, "Accepted")
        else:
            self._error(501, "Action not implemented")


ALWAYS = math.inf


# --- raw reply writers (for file bodies, listing overrides and ``replies``) ------------------------


def _head(handler: Any, status: int, ctype: str, length: int | None, *, close: bool = False) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", ctype)
    if length is None:
        handler.send_header("Transfer-Encoding", "chunked")
    else:
        handler.send_header("Content-Length", str(length))
    if close:
        handler.send_header("Connection", "close")
    handler.end_headers()


def _chunks_forever(handler: Any, chunk: bytes, pause_s: float = 0.0) -> None:
    try:
        while True:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            if pause_s:
                time.sleep(pause_s)
    except OSError:
        handler.close_connection = True


def endless(chunk: bytes = b"x" * 65536) -> Writer:
    """A body writer that never ends (chunked transfer, no length)."""
    def write(handler: Any) -> None:
        _head(handler, 200, "application/octet-stream", None)
        _chunks_forever(handler, chunk)
    return write


def short_body(prefix: bytes, length: int, *, stall_s: float = 0.0) -> Writer:
    """A body writer that announces ``length`` bytes but sends only ``prefix``.

    With ``stall_s`` it then holds the connection open that long (a stalled stream); without, it
    closes the connection at once (a truncated body).
    """
    def write(handler: Any) -> None:
        _head(handler, 200, "application/octet-stream", length)
        handler.wfile.write(prefix)
        handler.wfile.flush()
        time.sleep(stall_s)
        handler.close_connection = True
        if not stall_s:
            handler.connection.shutdown(socket.SHUT_RDWR)
    return write


def overlong(body: bytes, surplus: bytes, *, later_s: float = 0.0) -> Writer:
    """A body writer that announces ``len(body)`` bytes but sends ``surplus`` after them, keeping the
    connection alive (in the same write, or ``later_s`` seconds after the body)."""
    def write(handler: Any) -> None:
        _head(handler, 200, "application/octet-stream", len(body))
        if later_s:
            handler.wfile.write(body)
            time.sleep(later_s)
            handler.wfile.write(surplus)
        else:
            handler.wfile.write(body + surplus)
    return write


def trickle(chunk: bytes = b"t" * 100, pause_s: float = 0.01) -> Writer:
    """A chunked body writer that sends a small chunk every ``pause_s`` seconds, forever."""
    def write(handler: Any) -> None:
        _head(handler, 200, "application/octet-stream", None)
        _chunks_forever(handler, chunk, pause_s)
    return write


def stall_closing(prefix: bytes, length: int, stall_s: float) -> Writer:
    """A body writer for a reply marked ``Connection: close``: ``prefix`` of ``length`` bytes, then silence."""
    def write(handler: Any) -> None:
        _head(handler, 200, "application/octet-stream", length, close=True)
        handler.wfile.write(prefix)
        handler.wfile.flush()
        time.sleep(stall_s)
        handler.close_connection = True
    return write


def json_stream(parts: Callable[[], Iterator[bytes]], *, length: int | None = None, status: int = 200) -> Writer:
    """A JSON body writer that streams ``parts()`` (chunked, or announcing ``length`` bytes)."""
    def write(handler: Any) -> None:
        _head(handler, status, "application/json", length)
        try:
            for part in parts():
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(part), part) if length is None else part)
            if length is None:
                handler.wfile.write(b"0\r\n\r\n")
        except OSError:
            handler.close_connection = True
    return write


def many_names(count: int, *, batch: int = 10_000) -> Callable[[], Iterator[bytes]]:
    """The parts of a listing with ``count`` made-up file names, produced lazily."""
    def parts() -> Iterator[bytes]:
        yield b'{"file": ['
        for start in range(0, count, batch):
            names = ",".join(f'"n{i:09d}.dat"' for i in range(start, min(count, start + batch)))
            yield (names + ("," if start + batch < count else "")).encode()
        yield b'], "dir": []}'
    return parts


def endless_reply(status: int = 200, chunk: bytes = b"[" * 65536) -> Writer:
    """A reply (any request) whose chunked JSON body never ends."""
    def write(handler: Any) -> None:
        _head(handler, status, "application/json", None)
        _chunks_forever(handler, chunk)
    return write


def trickle_reply(status: int = 200, pause_s: float = 0.5, total_s: float = 60.0) -> Writer:
    """A reply that announces a large body and sends one byte every ``pause_s`` seconds."""
    def write(handler: Any) -> None:
        _head(handler, status, "application/json", 1000)
        end = time.monotonic() + total_s
        try:
            while time.monotonic() < end:
                handler.wfile.write(b" ")
                handler.wfile.flush()
                time.sleep(pause_s)
        except OSError:
            pass
        handler.close_connection = True
    return write
