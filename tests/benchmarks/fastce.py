"""A fast fake CE for scale benchmarks: many ARC REST endpoints answered from memory over HTTPS.

Unlike ``tests/fake_arex.py`` (a faithful, misbehaving A-REX for tests), this server is built to
cost as little CPU per id as possible, so a benchmark measures the client and not the server:

* one asyncio process serves every CE whose path prefix reaches it: ``https://localhost:PORT/ceK``
  (the part of the path before ``/rest`` is the CE's name, so one port carries many CEs);
* bulk ``status``/``info``/``kill``/``clean`` replies are joined from per-id JSON entries that are
  built once per id and kept (the first round of a benchmark fills the cache);
* ``GET info``, ``GET jobs``, ``GET rest`` and the session listing are precomputed bytes; session
  files are ``--file-bytes`` bytes of one precomputed buffer; diagnose items are 404 (no log);
* no authentication is checked (the client's credentials are sent but not looked at).

States: an id whose last hex digit is ``f`` is unknown (404 entry); the others cycle through
``RUNNING, FINISHED, QUEUING, FAILED, PREPARING, HELD`` by that digit. ``info`` always says FINISHED
(so that every known job is fetchable). Run several processes (``bench_scale`` does) so the
server is not the bottleneck::

    python -m tests.benchmarks.fastce --port 0 --cert server.pem --key server.key
    # prints "PORT <n>" once listening
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys

_STATES = ("RUNNING", "FINISHED", "QUEUING", "FAILED", "PREPARING", "HELD")
FILES_PER_JOB = 10
"""Files in every job's session directory (``f0.txt`` ... ``f9.txt``)."""

_VERSIONS = b'{"version":["1.0","1.1"]}'
_INFO = json.dumps({"Domains": {"AdminDomain": {"Services": {"ComputingService": {
    "Name": "fastce", "ComputingShare": [{"Name": "batch", "MappingQueue": "batch", "RunningJobs": "3",
                                          "WaitingJobs": "4", "LocalRunningJobs": "3", "LocalWaitingJobs": "4"}],
}}}}}).encode()
_LISTING = json.dumps({"file": [f"f{i}.txt" for i in range(FILES_PER_JOB)], "dir": []}).encode()


def state_of(job_id: str) -> str | None:
    """The state the fake reports for ``job_id`` (None: unknown to the CE)."""
    digit = int(job_id[-1], 16) if job_id and job_id[-1] in "0123456789abcdef" else 15
    return None if digit == 15 else _STATES[digit % len(_STATES)]


def _entry(action: str, job_id: str) -> bytes:
    state = state_of(job_id)
    q = json.dumps(job_id)
    if state is None:
        return f'{{"status-code":"404","reason":"Job not found","id":{q},"state":"None"}}'.encode()
    if action == "status":
        return f'{{"status-code":"200","reason":"OK","id":{q},"state":"{state}"}}'.encode()
    if action == "info":
        return (f'{{"status-code":"200","reason":"OK","id":{q},"info_document":{{"ComputingActivity":'
                f'{{"State":["nordugrid:FINISHED","arcrest:FINISHED"],"ExitCode":"0","Owner":"/CN=fake",'
                f'"Queue":"batch","StdOut":"f0.txt","StdErr":"f1.txt"}}}}}}').encode()
    return f'{{"status-code":"202","reason":"Queued","id":{q}}}'.encode()


class _Cache(dict[tuple[str, str], bytes]):
    def __missing__(self, key: tuple[str, str]) -> bytes:
        value = self[key] = _entry(*key)
        return value


_cache = _Cache()


def _head(status: str, ctype: str, length: int) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {length}\r\n\r\n".encode()


def _reply(body: bytes, status: str = "200 OK", ctype: str = "application/json") -> bytes:
    return _head(status, ctype, len(body)) + body


_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_R_VERSIONS, _R_INFO, _R_LISTING = _reply(_VERSIONS), _reply(_INFO), _reply(_LISTING)


def _route(method: str, target: str, body: bytes, file_reply: bytes) -> bytes:
    path, _, query = target.partition("?")
    _, _, rest = path.partition("/rest")
    segs = rest.split("/")  # ['', '1.1', 'jobs', id, 'session', name]
    if len(segs) <= 2:
        return _R_VERSIONS
    kind = segs[2]
    if kind == "info":
        return _R_INFO
    if kind != "jobs":
        return _NOT_FOUND
    if len(segs) == 3:
        if method == "GET":
            return _reply(b'{"job":[]}')
        action = query.partition("action=")[2].partition("&")[0]
        ids = [j["id"] for j in json.loads(body)["job"]]
        cache = _cache
        out = b'{"job":[' + b",".join([cache[action, i] for i in ids]) + b"]}"
        return _reply(out, "201 Created")
    if len(segs) >= 5 and segs[4] == "session" and state_of(segs[3]) is not None:
        return _R_LISTING if len(segs) == 5 or not segs[5] else file_reply
    return _NOT_FOUND


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, file_reply: bytes) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            first, _, rest = head.partition(b"\r\n")
            method, target, _ = first.decode("latin-1").split(" ", 2)
            length = 0
            for line in rest.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            writer.write(_route(method, target, body, file_reply))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError, ValueError, OSError):
        pass
    finally:
        writer.close()


async def _main(args: argparse.Namespace) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.cert, args.key)
    file_reply = _reply(os.urandom(args.file_bytes // 2).hex().encode()[: args.file_bytes],
                        ctype="application/octet-stream")
    server = await asyncio.start_server(lambda r, w: _serve(r, w, file_reply), "127.0.0.1", args.port,
                                        ssl=ctx, backlog=4096, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--file-bytes", type=int, default=2048)
    args = parser.parse_args()
    try:
        asyncio.run(_main(args))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
