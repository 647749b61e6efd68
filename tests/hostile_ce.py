"""A small A-REX look-alike over real HTTPS on loopback that can misbehave on purpose.

It speaks enough of the ARC REST API (versions, jobs new/status/info/kill/clean, session listing and
files, diagnose, delegations) for the client layer and the backend, and records every request. Knobs
on :class:`HostileCE` make it drop connections, answer short or out of order, send reason phrases, serve
hostile listings, endless or stalling bodies.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_PKI_CACHE: dict[str, tuple[bytes, bytes, bytes]] = {}


def make_ca_and_server_cert(
    folder: Path, hostname: str = "localhost", *, fresh: bool = False
) -> tuple[Path, Path, Path]:
    """Write a throwaway CA and a server certificate for ``hostname``; return (ca, cert, key) paths.

    The key pairs are made once per process (RSA generation is slow) unless ``fresh`` is set.
    """
    if fresh or hostname not in _PKI_CACHE:
        _PKI_CACHE[hostname] = _new_pki(hostname)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    for path, data in zip(paths, _PKI_CACHE[hostname], strict=True):
        path.write_bytes(data)
    if fresh:
        del _PKI_CACHE[hostname]
    return paths


def _new_pki(hostname: str) -> tuple[bytes, bytes, bytes]:
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hostile-ce test CA {uuid.uuid4().hex[:6]}")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return (
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


@dataclass
class Request:
    """One recorded request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


Body = bytes | Callable[[Any], None]  # bytes, or a writer that streams to the handler's wfile


@dataclass
class HostileCE:
    """State and misbehaviour switches of the fake CE."""

    versions: list[str] = field(default_factory=lambda: ["1.0", "1.1"])
    jobs: dict[str, str] = field(default_factory=dict)  # id -> REST state
    files: dict[str, dict[str, Body]] = field(default_factory=dict)  # id -> {relative path: body}
    listings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (id, dir) -> JSON
    requests: list[Request] = field(default_factory=list)
    drop: dict[str, int] = field(default_factory=dict)  # "POST new" / "POST status" / "PUT" -> times to drop
    fail: dict[str, tuple[int, str]] = field(default_factory=dict)  # "POST new" etc. -> (status, reason)
    fail_after: dict[str, int] = field(default_factory=dict)  # key -> requests spared from drop/fail first
    short_reply: bool = False
    reverse_reply: bool = False
    leave_out: set[str] = field(default_factory=set)  # ids left out of bulk replies about several ids
    stall_s: float = 0.0  # sleep before answering any request
    replies: dict[str, Callable[[Any], None]] = field(default_factory=dict)  # rule key -> writer, first
    diagnose: dict[str, dict[str, bytes]] = field(default_factory=dict)  # id -> {item: text} besides "errors"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_job(self, state: str = "FINISHED", files: dict[str, Body] | None = None) -> str:
        job_id = uuid.uuid4().hex[:12]
        self.jobs[job_id] = state
        self.files[job_id] = files or {}
        return job_id

    def count(self, method: str, action: str | None = None) -> int:
        return sum(1 for r in self.requests
                   if r.method == method and (action is None or r.query.get("action") == action))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- helpers ---------------------------------------------------------------------------------------
    def _reply(self, status: int, reason: str = "", body: bytes = b"", ctype: str = "application/json",
               headers: dict[str, str] | None = None) -> None:
        self.send_response(status, reason or None)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: Any, reason: str = "") -> None:
        self._reply(status, reason, json.dumps(data).encode())

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _handle(self, method: str) -> None:
        ce = self.server.ce
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with ce.lock:
            ce.requests.append(Request(method, path, query, dict(self.headers.items()), body))
        if ce.stall_s:
            time.sleep(ce.stall_s)
        key = f"{method} {query.get('action', '')}".strip()
        for rule in (f"{method} {path}", key):
            writer = ce.replies.get(rule)
            if writer is not None:
                writer(self)
                return
        with ce.lock:
            spared = ce.fail_after.get(key, 0) > 0
            if spared:
                ce.fail_after[key] -= 1
            elif ce.drop.get(key, 0) > 0:
                ce.drop[key] -= 1
                self._drop()
                return
        if key in ce.fail and not spared:
            status, reason = ce.fail[key]
            self._reply(status, reason)
            return
        if path in ("/arex/rest", "/arex/rest/"):
            self._json(200, {"version": ce.versions})
            return
        prefix = path.split("/")
        if len(prefix) < 5 or prefix[1] != "arex" or prefix[2] != "rest" or prefix[3] not in ce.versions:
            self._reply(404, "Version Not Supported")
            return
        rest = path.split("/", 4)[4]
        self._route(method, rest, query, body)

    def _route(self, method: str, rest: str, query: dict[str, str], body: bytes) -> None:
        ce = self.server.ce
        if rest == "jobs" and method == "POST":
            action = query.get("action")
            if action == "new":
                n = max(1, body.count(b"(&"))
                entries = []
                for _ in range(n):
                    job_id = ce.add_job("ACCEPTING")
                    entries.append({"status-code": "201", "reason": "Created", "id": job_id, "state": "ACCEPTING"})
                self._json(201, {"job": entries})
                return
            if self.headers.get("Content-Type") != "application/json":
                self._json(201, {"job": []})
                return
            # Like A-REX (rest.cpp ParseJobIds), an empty id is skipped: no entry answers it.
            ids = [str(j["id"]) for j in json.loads(body)["job"] if str(j.get("id", ""))]
            entries = [self._entry(action or "", i) for i in ids if len(ids) == 1 or i not in ce.leave_out]
            if ce.short_reply:
                entries = entries[:-1]
            if ce.reverse_reply:
                entries = entries[::-1]
            self._json(201, {"job": entries})
            return
        if rest == "jobs" and method == "GET":
            self._json(200, {"job": [{"id": i} for i in ce.jobs]})
            return
        if rest == "info":
            self._json(200, {"Domains": {"AdminDomain": {"Services": {"ComputingService": {
                "RunningJobs": "1", "WaitingJobs": "2", "StagingJobs": "0", "PreLRMSWaitingJobs": "1",
                "ComputingShare": [{"Name": "batch", "RunningJobs": "1", "WaitingJobs": "2"}]}}}}})
            return
        if rest.startswith("delegations"):
            self._delegations(method, rest, query)
            return
        bits = rest.split("/", 3)  # jobs/<id>/session|diagnose/<path>
        if len(bits) >= 3 and bits[0] == "jobs":
            job_id, kind = bits[1], bits[2]
            sub = bits[3] if len(bits) == 4 else ""
            if job_id not in ce.jobs:
                self._reply(404, "Job not found")
                return
            if kind == "diagnose":
                extra = ce.diagnose.get(job_id, {})
                if sub in extra:
                    self._reply(200, body=extra[sub], ctype="text/plain")
                elif sub == "errors":
                    self._reply(200, body=f"log of {job_id}\n".encode(), ctype="text/plain")
                else:
                    self._reply(404, "Not found")
                return
            if kind == "session":
                self._session(method, job_id, sub.rstrip("/"), body)
                return
        self._reply(404, "Functionality Not Supported")

    def _entry(self, action: str, job_id: str) -> dict[str, Any]:
        ce = self.server.ce
        if job_id not in ce.jobs:
            return {"id": job_id, "status-code": "404", "reason": "Job not found", "state": "None"}
        if action == "status":
            return {"id": job_id, "status-code": "200", "reason": "OK", "state": ce.jobs[job_id]}
        if action == "info":
            return {"id": job_id, "status-code": "200", "reason": "OK", "info_document": {"ComputingActivity": {
                "State": ["nordugrid:FINISHED", f"arcrest:{ce.jobs[job_id]}"], "ExitCode": "",
                "StdOut": "out.txt", "StdErr": "err.txt", "Owner": "/CN=test"}}}
        return {"id": job_id, "status-code": "202", "reason": f"Queued for {action}"}

    def _session(self, method: str, job_id: str, sub: str, body: bytes) -> None:
        ce = self.server.ce
        files = ce.files[job_id]
        if method == "PUT":
            files[sub] = body
            self._reply(200, "OK")
            return
        if (job_id, sub) in ce.listings:
            listing = ce.listings[(job_id, sub)]
            if callable(listing):
                listing(self)
            else:
                self._json(200, listing)
            return
        if sub in files:
            content = files[sub]
            if callable(content):
                content(self)
            else:
                self._reply(200, body=content, ctype="application/octet-stream")
            return
        prefix = f"{sub}/" if sub else ""
        names = [n[len(prefix):] for n in files if n.startswith(prefix)]
        if not names and sub:
            self._reply(404, "Not found")
            return
        self._json(200, {"file": sorted(n for n in names if "/" not in n),
                         "dir": sorted({n.split("/", 1)[0] for n in names if "/" in n})})

    def _delegations(self, method: str, rest: str, query: dict[str, str]) -> None:
        if rest == "delegations" and query.get("action") == "new":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            csr = x509.CertificateSigningRequestBuilder().subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "delegation")])).sign(key, hashes.SHA256())
            deleg = uuid.uuid4().hex[:10]
            self._reply(201, "Created", csr.public_bytes(serialization.Encoding.PEM), "application/x-pem-file",
                        {"Location": f"/arex/rest/1.1/delegations/{deleg}"})
            return
        if rest == "delegations":
            self._json(200, {"delegation": []})
            return
        self._reply(200, "OK")

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    ce: HostileCE


@dataclass
class Running:
    """A running fake CE: its state, address and the CA that verifies it."""

    ce: HostileCE
    port: int
    ca_file: Path

    @property
    def endpoint(self) -> str:
        return f"https://localhost:{self.port}/arex"


def serve(folder: Path, ce: HostileCE | None = None) -> Iterator[Running]:
    """Run a fake CE on 127.0.0.1 (a generator for a pytest fixture)."""
    ca, cert, key = make_ca_and_server_cert(folder)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.ce = ce or HostileCE()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Running(server.ce, server.server_address[1], ca)
    finally:
        server.shutdown()
        server.server_close()


def endless(chunk: bytes = b"x" * 65536) -> Callable[[Any], None]:
    """A body writer that never ends (chunked transfer, no length)."""
    def write(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            handler.close_connection = True
    return write


def short_body(prefix: bytes, length: int, *, stall_s: float = 0.0) -> Callable[[Any], None]:
    """A body writer that announces ``length`` bytes but sends only ``prefix``.

    With ``stall_s`` it then holds the connection open that long (a stalled stream); without, it
    closes the connection at once (a truncated body).
    """
    def write(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(prefix)
        handler.wfile.flush()
        time.sleep(stall_s)
        handler.close_connection = True
        if not stall_s:
            handler.connection.shutdown(socket.SHUT_RDWR)
    return write


def overlong(body: bytes, surplus: bytes, *, later_s: float = 0.0) -> Callable[[Any], None]:
    """A body writer that announces ``len(body)`` bytes but sends ``surplus`` after them, keeping the
    connection alive (in the same write, or ``later_s`` seconds after the body)."""
    def write(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if later_s:
            handler.wfile.write(body)
            time.sleep(later_s)
            handler.wfile.write(surplus)
        else:
            handler.wfile.write(body + surplus)
    return write


def trickle(chunk: bytes = b"t" * 100, pause_s: float = 0.01) -> Callable[[Any], None]:
    """A chunked body writer that sends a small chunk every ``pause_s`` seconds, forever."""
    def write(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                time.sleep(pause_s)
        except OSError:
            handler.close_connection = True
    return write


def stall_closing(prefix: bytes, length: int, stall_s: float) -> Callable[[Any], None]:
    """A body writer for a reply marked ``Connection: close``: ``prefix`` of ``length`` bytes, then silence."""
    def write(handler: Any) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(length))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(prefix)
        handler.wfile.flush()
        time.sleep(stall_s)
        handler.close_connection = True
    return write


def json_stream(parts: Callable[[], Iterator[bytes]], *, length: int | None = None,
                status: int = 200) -> Callable[[Any], None]:
    """A JSON body writer that streams ``parts()`` (chunked, or announcing ``length`` bytes)."""
    def write(handler: Any) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        if length is None:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
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


def endless_reply(status: int = 200, chunk: bytes = b"[" * 65536) -> Callable[[Any], None]:
    """A reply (any request) whose chunked body never ends."""
    def write(handler: Any) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:
            handler.close_connection = True
    return write


def trickle_reply(status: int = 200, pause_s: float = 0.5, total_s: float = 60.0) -> Callable[[Any], None]:
    """A reply that announces a large body and sends one byte every ``pause_s`` seconds."""
    def write(handler: Any) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
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
