"""A throwaway VOMS world for unit tests: a PKI, an AC writer (as vomsd writes ACs), and a loopback VOMS
server speaking both protocols (REST ``/generate-ac`` and the legacy XML one) whose answers a test chooses.

The AC writer is also used by contract tests to forge expired or untrusted ACs.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from arc_intercede.credentials.voms import der
from arc_intercede.credentials.voms.ac import AC_CERTS_OID, FQAN_OID, oneline

SHA256_RSA = "1.2.840.113549.1.1.11"


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@dataclass
class VomsPKI:
    """A CA (hashed CA dir), an AA/server certificate ``CN=localhost``, a user, a vomsdir with the LSC."""

    folder: Path
    ca_dir: Path
    vomsdir: Path
    ca_key: rsa.RSAPrivateKey
    ca_cert: x509.Certificate
    aa_key: rsa.RSAPrivateKey
    aa_cert: x509.Certificate
    aa_cert_file: Path
    aa_key_file: Path
    user_key: rsa.RSAPrivateKey
    user_cert: x509.Certificate
    user_cert_file: Path
    user_key_file: Path
    vo: str = "testvo"


def _cert(subject: x509.Name, issuer: x509.Name, key: rsa.RSAPrivateKey, signer: rsa.RSAPrivateKey, *,
          ca: bool, san: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def hash_dir(folder: Path, *certs: x509.Certificate) -> None:
    """Write ``certs`` into ``folder`` under OpenSSL's subject-hash names (``openssl x509 -hash``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for cert in certs:
        pem = cert.public_bytes(serialization.Encoding.PEM)
        digest = subprocess.run(["openssl", "x509", "-noout", "-hash"], input=pem, capture_output=True,
                                check=True).stdout.decode().strip()
        n = 0
        while (folder / f"{digest}.{n}").exists():
            n += 1
        (folder / f"{digest}.{n}").write_bytes(pem)


def make_voms_pki(folder: Path, tag: str = "VOMS Test") -> VomsPKI:
    """Create the PKI under ``folder`` (DNs like the stack recipe's, ``/C=XX/O=<tag>/...``)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, aa_key, user_key = _key(), _key(), _key()
    ca_name = _name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, tag), (NameOID.COMMON_NAME, f"{tag} CA"))
    aa_name = _name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, tag), (NameOID.COMMON_NAME, "localhost"))
    user_name = _name((NameOID.COUNTRY_NAME, "XX"), (NameOID.ORGANIZATION_NAME, tag),
                      (NameOID.ORGANIZATIONAL_UNIT_NAME, "Users"), (NameOID.COMMON_NAME, "Test User"))
    ca = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    aa = _cert(aa_name, ca_name, aa_key, ca_key, ca=False, san=True)
    user = _cert(user_name, ca_name, user_key, ca_key, ca=False)
    ca_dir = folder / "certificates"
    hash_dir(ca_dir, ca)
    files = {}
    for label, cert, key in (("aa", aa, aa_key), ("user", user, user_key)):
        files[label] = (folder / f"{label}cert.pem", folder / f"{label}key.pem")
        files[label][0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        files[label][1].write_bytes(_pem_key(key))
        files[label][1].chmod(0o600)
    vomsdir = folder / "vomsdir"
    (vomsdir / "testvo").mkdir(parents=True)
    (vomsdir / "testvo" / "localhost.lsc").write_text(f"{oneline(aa.subject)}\n{oneline(aa.issuer)}\n")
    return VomsPKI(folder=folder, ca_dir=ca_dir, vomsdir=vomsdir, ca_key=ca_key, ca_cert=ca, aa_key=aa_key,
                   aa_cert=aa, aa_cert_file=files["aa"][0], aa_key_file=files["aa"][1], user_key=user_key,
                   user_cert=user, user_cert_file=files["user"][0], user_key_file=files["user"][1])


def _ext(oid: str, value: bytes) -> bytes:
    return der.encode(der.SEQUENCE, der.encode_oid(oid), der.encode(der.OCTET_STRING, value))


def _gentime(when: dt.datetime) -> bytes:
    return der.encode(der.GENERALIZED_TIME, when.strftime("%Y%m%d%H%M%SZ").encode())


def write_ac(*, holder: x509.Certificate, fqans: Sequence[str], aa_cert: x509.Certificate,
             aa_key: rsa.RSAPrivateKey, uri: str = "localhost:15000", vo: str = "testvo",
             not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
             newformat: bool = False, extra_chain: Sequence[x509.Certificate] = (),
             critical_extension: str | None = None) -> bytes:
    """An AC as vomsd 2.1 writes it (holder by subject DN unless ``newformat``); returns its DER."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    not_before = not_before or now
    not_after = not_after or now + dt.timedelta(hours=12)
    holder_name = (holder.issuer if newformat else holder.subject).public_bytes()
    alg = der.encode(der.SEQUENCE, der.encode_oid(SHA256_RSA), der.encode(der.NULL))
    names = der.encode(der.SEQUENCE, der.context(4, holder_name))
    holder_el = der.encode(der.SEQUENCE, der.context(0, names, der.encode_int(holder.serial_number)))
    issuer_el = der.context(0, der.encode(der.SEQUENCE, der.context(4, aa_cert.subject.public_bytes())))
    authority = der.context(0, der.encode(0x86, f"{vo}://{uri}".encode()))
    values = der.encode(der.SEQUENCE, *(der.encode(der.OCTET_STRING, f.encode()) for f in fqans))
    attribute = der.encode(der.SEQUENCE, der.encode_oid(FQAN_OID),
                           der.encode(der.SET, der.encode(der.SEQUENCE, authority, values)))
    chain = der.encode(der.SEQUENCE, der.encode(der.SEQUENCE, *(
        c.public_bytes(serialization.Encoding.DER) for c in (aa_cert, *extra_chain))))
    key_id = x509.SubjectKeyIdentifier.from_public_key(aa_cert.public_key()).digest
    extensions = [_ext(AC_CERTS_OID, chain), _ext("2.5.29.56", der.encode(der.NULL)),
                  _ext("2.5.29.35", der.encode(der.SEQUENCE, der.encode(0x80, key_id)))]
    if critical_extension:
        extensions.append(der.encode(der.SEQUENCE, der.encode_oid(critical_extension),
                                     der.encode(der.BOOLEAN, b"\xff"),
                                     der.encode(der.OCTET_STRING, der.encode(der.NULL))))
    acinfo = der.encode(der.SEQUENCE, der.encode_int(1), holder_el, issuer_el, alg,
                        der.encode_int(int.from_bytes(secrets.token_bytes(15), "big")),
                        der.encode(der.SEQUENCE, _gentime(not_before), _gentime(not_after)),
                        der.encode(der.SEQUENCE, attribute), der.encode(der.SEQUENCE, *extensions))
    signature = aa_key.sign(acinfo, padding.PKCS1v15(), hashes.SHA256())
    return der.encode(der.SEQUENCE, acinfo, alg, der.encode(der.BIT_STRING, b"\x00" + signature))


def voms_base64(data: bytes) -> str:
    """VOMS's own base64 (``a-zA-Z0-9[]``, lower case first, no padding, no newlines)."""
    std = base64.b64encode(data).rstrip(b"=")
    return std.translate(bytes.maketrans(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789[]")).decode()


def wrapped_base64(data: bytes) -> str:
    """Standard base64 with a newline every 64 characters, as vomsd sends with ``<base64>1``."""
    text = base64.b64encode(data).decode()
    return "".join(text[i:i + 64] + "\n" for i in range(0, len(text), 64))


Answer = Callable[[str, str, x509.Certificate], bytes]
"""answer(protocol, request_text, client_cert) -> the raw bytes to send back."""


@dataclass
class FakeVoms:
    """A loopback VOMS server; ``requests`` records ``(protocol, request text)``."""

    port: int
    requests: list[tuple[str, str]] = field(default_factory=list)


@contextmanager
def fake_voms(pki: VomsPKI, answer: Answer, *, cert_file: Path | None = None,
              key_file: Path | None = None) -> Iterator[FakeVoms]:
    """Run a VOMS server on 127.0.0.1 (random port) that answers every request with ``answer``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_file or pki.aa_cert_file), str(key_file or pki.aa_key_file))
    ctx.load_verify_locations(cafile=None, capath=str(pki.ca_dir))
    ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    server = FakeVoms(port=listener.getsockname()[1])
    stop = threading.Event()

    def serve_one(conn: socket.socket) -> None:
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                data = tls.recv(65536)
                if not data:
                    return  # the client gave up (e.g. it does not trust this server)
                if data.startswith(b"GET") and b"\r\n\r\n" not in data:
                    data += tls.recv(65536)
                client = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True) or b"")
                proto = "rest" if data.startswith(b"GET") else "legacy"
                server.requests.append((proto, data.decode("ascii", "replace")))
                tls.sendall(answer(proto, data.decode("ascii", "replace"), client))
        except (OSError, ssl.SSLError, ValueError):
            return
        finally:
            conn.close()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def legacy_ok(ac: bytes, *, encoding: str = "wrapped", warning: str | None = None) -> bytes:
    """A legacy success answer (``encoding``: ``wrapped`` standard base64, or ``voms``'s own alphabet)."""
    text = wrapped_base64(ac) if encoding == "wrapped" else voms_base64(ac)
    items = (f"<error><item><number>2</number><message>{warning}</message></item></error>" if warning else "")
    return (f'<?xml version="1.0" encoding = "US-ASCII"?><vomsans><version>3</version>{items}<ac>{text}</ac>'
            "</vomsans>").encode()


def legacy_error(number: int, message: str) -> bytes:
    """A legacy error answer, with the dummy ``<ac>QQ==`` vomsd adds."""
    return (f'<?xml version="1.0" encoding = "US-ASCII"?><vomsans><version>3</version><error><item><number>'
            f"{number}</number><message>{message}</message></item></error><ac>QQ==\n</ac></vomsans>").encode()


def rest(status: str, body: str) -> bytes:
    """An HTTP answer as vomsd's REST handler sends it."""
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n"
            f"Content-Length: {len(body.encode())}\r\n\r\n{body}").encode()


def rest_ok(ac: bytes, *, warning: str | None = None) -> bytes:
    """A REST success answer; with a warning it is HTTP 500, as vomsd 2.1.2 sends it."""
    extra = f"<warning>{warning}</warning>" if warning else ""
    status = "500 Internal Server Error" if warning else "200 OK"
    return rest(status, f'<?xml version="1.0" encoding="UTF-8"?><voms><ac>{wrapped_base64(ac)}</ac>{extra}</voms>')


def rest_error(status: str, code: str, message: str) -> bytes:
    """A REST error answer."""
    return rest(status, f'<?xml version="1.0" encoding="UTF-8"?><voms><error><code>{code}</code>'
                        f"<message>{message}</message></error></voms>")
