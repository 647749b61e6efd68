"""Requesting an attribute certificate from a VOMS server, over the legacy XML protocol or REST.

Both protocols run on the same TLS port with client authentication (the user's certificate or a proxy):

* legacy: one XML ``<voms>`` request written in one TLS record; the answer ``<vomsans>`` is followed by a
  close without close_notify; ``<ac>`` is standard base64, or VOMS's own alphabet; an error answer still
  carries a dummy ``<ac>``.
* REST: ``GET /generate-ac?fqans=...&lifetime=...`` with ``fqans`` not percent-encoded (vomsd does not
  decode it); the answer is ``<voms><ac>`` or ``<voms><error>``; vomsd 2.1 sends HTTP 500 for an answer that
  only carries a warning, so the body decides, never the status.

``lifetime`` is always sent and positive: vomsd issues an already expired AC otherwise.
"""

from __future__ import annotations

import base64
import logging
import re
import socket
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, Literal
from xml.etree import ElementTree

from arc_intercede.credentials.voms.ac import oneline
from arc_intercede.credentials.voms.errors import (
    BAD_ANSWER,
    NOT_MEMBER,
    SERVER_ERROR,
    SUSPENDED,
    UNKNOWN_ATTRIBUTE,
    UNREACHABLE,
    UNTRUSTED_SERVER,
    VomsError,
)
from arc_intercede.credentials.voms.vomses import VomsServer

__all__ = ["Protocol", "decode_ac_text", "legacy_commands", "legacy_request", "parse_legacy_answer",
           "parse_rest_answer", "request_ac", "rest_request"]

_log = logging.getLogger(__name__)

Protocol = Literal["auto", "rest", "legacy"]
MAX_ANSWER: Final = 1 << 20
_VOMS_ALPHABET: Final = bytes.maketrans(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789[]",
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_FQAN_RE: Final = re.compile(r"^(/[^/=]+(?:/[^/=]+)*)?(?:/Role=([^/]+))?(?:/Capability=([^/]+))?$")


def _split_fqan(fqan: str) -> tuple[str, str]:
    match = _FQAN_RE.match(fqan)
    if not match or fqan in ("", "/"):
        raise ValueError(f"{fqan!r} is not an FQAN (/vo[/group...][/Role=role])")
    group, role, capability = match.group(1) or "", match.group(2) or "", match.group(3) or ""
    if capability and capability != "NULL":
        raise ValueError(f"{fqan!r}: capabilities are not supported by VOMS")
    return group, "" if role == "NULL" else role


def legacy_commands(fqans: Sequence[str]) -> list[str]:
    """The legacy ``<command>`` of each FQAN: ``G/vo/g``, ``B/vo/g:role``, ``Rrole``, ``A`` for ``all``.

    Raises:
        ValueError: Not an FQAN.
    """
    out = []
    for fqan in fqans:
        if fqan.lower() == "all":
            out.append("A")
            continue
        group, role = _split_fqan(fqan)
        out.append(f"B{group}:{role}" if group and role else f"R{role}" if role else f"G{group}")
    return out


def legacy_request(fqans: Sequence[str], lifetime: int) -> bytes:
    """The legacy XML request, as the C++ API writes it."""
    if lifetime <= 0:
        raise ValueError("the AC lifetime must be positive")
    commands = "".join(f"<command>{_xml_escape(c)}</command>" for c in legacy_commands(fqans))
    order = ",".join(f for f in fqans if f.lower() != "all")
    order_xml = f"<order>{_xml_escape(order)}</order>" if len(fqans) > 1 and order else ""
    return (f'<?xml version="1.0" encoding="US-ASCII"?><voms>{commands}{order_xml}<base64>1</base64>'
            f"<version>4</version><lifetime>{lifetime}</lifetime></voms>").encode("ascii")


def rest_request(server: VomsServer, fqans: Sequence[str], lifetime: int) -> bytes:
    """The REST request (``fqans`` deliberately not percent-encoded)."""
    if lifetime <= 0:
        raise ValueError("the AC lifetime must be positive")
    for fqan in fqans:
        _split_fqan(fqan)
        if any(c in fqan for c in " &?#,\r\n"):
            raise ValueError(f"{fqan!r}: characters the REST protocol cannot carry")
    query = f"fqans={','.join(fqans)}&lifetime={lifetime}" if fqans else f"lifetime={lifetime}"
    return (f"GET /generate-ac?{query} HTTP/1.0\r\nHost: {server.address}\r\nUser-Agent: arc-intercede\r\n"
            "Accept: */*\r\nConnection: close\r\n\r\n").encode("ascii")


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def decode_ac_text(text: str) -> bytes:
    """Decode ``<ac>``: standard base64 if it contains a newline, else VOMS's alphabet (``a-zA-Z0-9[]``).

    Raises:
        ValueError: Neither.
    """
    raw = text.encode("ascii", "strict")
    if b"\n" not in raw:
        raw = raw.translate(_VOMS_ALPHABET)
    raw = b"".join(raw.split())
    raw += b"=" * (-len(raw) % 4)
    return base64.b64decode(raw, validate=True)


def _parse_xml(body: bytes, what: str, server: VomsServer) -> ElementTree.Element:
    text = body.strip()
    if not text:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) sent an empty {what} answer",
                        kind=BAD_ANSWER, vo=server.vo)
    # The answer comes from the server we authenticated; the stdlib parser does not fetch entities.
    try:
        return ElementTree.fromstring(text)  # noqa: S314
    except ElementTree.ParseError as exc:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) sent a malformed {what} answer ({exc})",
                        kind=BAD_ANSWER, vo=server.vo) from exc


def _classify(code: str, message: str) -> str:
    lowered = message.lower()
    if code in ("NoSuchUser",) or "unknown to this vo" in lowered or "not a member" in lowered:
        return NOT_MEMBER
    if code in ("SuspendedUser", "1004") or "suspended" in lowered:
        return SUSPENDED
    if code in ("BadRequest", "1001", "1002") or "unable to satisfy" in lowered:
        return UNKNOWN_ATTRIBUTE
    return SERVER_ERROR


_KIND_TEXT: Final = {
    NOT_MEMBER: "you are not a member of VO {vo}",
    SUSPENDED: "your membership of VO {vo} is suspended",
    UNKNOWN_ATTRIBUTE: "VO {vo} has no such group or role for you",
    SERVER_ERROR: "the VOMS server of VO {vo} failed",
}


def _answer_error(server: VomsServer, code: str, message: str) -> VomsError:
    kind = _classify(code, message)
    clean = " ".join(message.split())[:300]
    return VomsError(f"{_KIND_TEXT[kind].format(vo=server.vo)} ({server.address} says: {clean})",
                     kind=kind, vo=server.vo)


def parse_legacy_answer(body: bytes, server: VomsServer) -> tuple[bytes, list[str]]:
    """The AC and the warnings of a legacy ``<vomsans>`` answer.

    Raises:
        VomsError: An error answer (errors are checked before the dummy ``<ac>``) or a malformed one.
    """
    root = _parse_xml(body, "legacy", server)
    warnings, errors = [], []
    for item in root.iter("item"):
        number = (item.findtext("number") or "").strip()
        message = (item.findtext("message") or "").strip()
        if number.isdigit() and int(number) < 1000:
            warnings.append(message)
        else:
            errors.append((number, message))
    if errors:
        raise _answer_error(server, *errors[0])
    return _ac_of(root, server), warnings


def _ac_of(root: ElementTree.Element, server: VomsServer) -> bytes:
    text = root.findtext("ac")
    if not text or not text.strip():
        raise VomsError(f"VOMS server {server.address} ({server.vo}) answered without an AC",
                        kind=BAD_ANSWER, vo=server.vo)
    try:
        data = decode_ac_text(text.strip("\r ") if "\n" in text.strip() else text.strip())
    except ValueError as exc:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) sent an AC that is not base64",
                        kind=BAD_ANSWER, vo=server.vo) from exc
    if len(data) < 16:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) sent no real AC", kind=BAD_ANSWER,
                        vo=server.vo)
    return data


def parse_rest_answer(response: bytes, server: VomsServer) -> tuple[bytes, list[str]]:
    """The AC and the warnings of an HTTP answer to ``/generate-ac`` (the body decides, not the status).

    Raises:
        VomsError: An error answer, or no AC.
    """
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = response.partition(b"\n\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    if not status_line.startswith("HTTP/") or not sep:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) did not answer in HTTP", kind=BAD_ANSWER,
                        vo=server.vo)
    status = status_line.split(" ", 2)[1] if " " in status_line else "?"
    if not body.strip():
        raise VomsError(f"VOMS server {server.address} ({server.vo}) answered {status_line[9:].strip()} "
                        "without a body (no REST interface?)", kind=SERVER_ERROR if status != "404"
                        else BAD_ANSWER, vo=server.vo)
    root = _parse_xml(body, "REST", server)
    for error in root.iter("error"):
        code = (error.findtext("code") or "").strip()
        message = (error.findtext("message") or "").strip()
        if not code:  # IAM's legacy form <error><item>...
            item = error.find("item")
            if item is not None:
                code = (item.findtext("number") or "").strip()
                message = (item.findtext("message") or "").strip()
        raise _answer_error(server, code, message)
    warnings = [" ".join((w.text or "").split()) for w in root.iter("warning")]
    warnings += [(i.findtext("message") or "").strip() for i in root.iter("item")]
    return _ac_of(root, server), warnings


def _client_context(cert: Path, key: Path, password: bytes | Callable[[], bytes] | None,
                    ca_dir: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(capath=str(ca_dir))
    except (OSError, ssl.SSLError) as exc:
        raise VomsError(f"cannot use CA directory {ca_dir}: {exc}", kind=UNTRUSTED_SERVER) from exc
    try:
        ctx.load_cert_chain(str(cert), str(key), password=password)
    except ssl.SSLError as exc:
        raise VomsError(f"cannot use {cert} / {key} as the TLS credential for VOMS ({exc.reason or exc})",
                        kind=BAD_ANSWER) from exc
    return ctx


def _exchange(server: VomsServer, payload: bytes, ctx: ssl.SSLContext, timeout: float) -> bytes:
    try:
        raw = socket.create_connection((server.host, server.port), timeout=timeout)
    except TimeoutError as exc:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) did not answer within {timeout:g} s",
                        kind=UNREACHABLE, vo=server.vo) from exc
    except OSError as exc:
        raise VomsError(f"VOMS server {server.address} ({server.vo}) is unreachable: {exc.strerror or exc}",
                        kind=UNREACHABLE, vo=server.vo) from exc
    with raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server.host)
        except ssl.SSLCertVerificationError as exc:
            raise VomsError(f"VOMS server {server.address} ({server.vo}) is not trusted: "
                            f"{exc.verify_message or exc.reason}", kind=UNTRUSTED_SERVER, vo=server.vo) from exc
        except (ssl.SSLError, OSError) as exc:
            raise VomsError(f"TLS with VOMS server {server.address} ({server.vo}) failed: "
                            f"{getattr(exc, 'reason', None) or exc}", kind=UNREACHABLE, vo=server.vo) from exc
        with tls:
            peer = tls.getpeercert(binary_form=True)
            if peer and server.dn:
                from cryptography import x509

                subject = oneline(x509.load_der_x509_certificate(peer).subject)
                if subject != server.dn:
                    raise VomsError(f"VOMS server {server.address} ({server.vo}) is not trusted: its certificate "
                                    f"is {subject}, vomses says {server.dn}", kind=UNTRUSTED_SERVER, vo=server.vo)
            chunks: list[bytes] = []
            size = 0
            try:
                tls.sendall(payload)
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise VomsError(f"VOMS server {server.address} sent more than {MAX_ANSWER} bytes",
                                        kind=BAD_ANSWER, vo=server.vo)
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
                pass  # vomsd closes without close_notify
            except TimeoutError as exc:
                raise VomsError(f"VOMS server {server.address} ({server.vo}) did not answer within {timeout:g} s",
                                kind=UNREACHABLE, vo=server.vo) from exc
            except ssl.SSLError as exc:
                raise VomsError(f"VOMS server {server.address} ({server.vo}) refused the connection: "
                                f"{exc.reason or exc}", kind=UNTRUSTED_SERVER, vo=server.vo) from exc
            except OSError as exc:
                if not chunks:
                    raise VomsError(f"VOMS server {server.address} ({server.vo}) closed the connection: "
                                    f"{exc.strerror or exc}", kind=UNREACHABLE, vo=server.vo) from exc
    return b"".join(chunks)


def request_ac(server: VomsServer, fqans: Sequence[str], *, lifetime: int, cert: Path, key: Path,
               password: bytes | Callable[[], bytes] | None = None, ca_dir: Path,
               protocol: Protocol = "auto", timeout: float = 30.0) -> tuple[bytes, list[str], str]:
    """Ask ``server`` for an AC with ``fqans`` (first = primary) valid ``lifetime`` seconds.

    Args:
        server: The vomses entry.
        fqans: The FQANs wanted, e.g. ``["/testvo/analysis/Role=production"]``; empty means ``/<vo>``.
        lifetime: Requested AC lifetime in seconds (> 0; the server may shorten it).
        cert: The TLS credential's certificate chain (user certificate or proxy file).
        key: Its private key (the same file for a proxy).
        password: The key's pass phrase (or a function returning it).
        ca_dir: The CA directory to verify the server against.
        protocol: ``rest``, ``legacy``, or ``auto`` (REST, then legacy unless the server refused the user).
        timeout: Connect and read timeout in seconds.

    Returns:
        The AC's DER, the server's warnings, and the protocol that delivered it.

    Raises:
        VomsError: The server refused, failed, is unreachable or untrusted, or answered nonsense.
        ValueError: A malformed FQAN or a lifetime that is not positive.
    """
    fqans = list(fqans) or [f"/{server.vo}"]
    ctx = _client_context(cert, key, password, ca_dir)
    order: list[Literal["rest", "legacy"]] = ["rest", "legacy"] if protocol == "auto" else [protocol]
    last: VomsError | None = None
    for proto in order:
        try:
            if proto == "rest":
                data, warnings = parse_rest_answer(
                    _exchange(server, rest_request(server, fqans, lifetime), ctx, timeout), server)
            else:
                data, warnings = parse_legacy_answer(
                    _exchange(server, legacy_request(fqans, lifetime), ctx, timeout), server)
        except VomsError as exc:
            if exc.kind in (NOT_MEMBER, SUSPENDED, UNTRUSTED_SERVER, UNREACHABLE):
                raise
            _log.info("VOMS %s request to %s failed (%s)%s", proto, server.address, exc,
                      "; trying the legacy protocol" if proto != order[-1] else "")
            last = exc
            continue
        for warning in warnings:
            _log.warning("VOMS server %s: %s", server.address, warning)
        return data, warnings, proto
    assert last is not None
    raise last
