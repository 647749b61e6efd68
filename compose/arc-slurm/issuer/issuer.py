#!/usr/bin/env python3
"""Minimal OIDC-style token issuer for the arc-slurm test stack (stdlib + cryptography only).

Subcommands:
  init  --dir D --url URL                      RSA key (D/issuer-key.pem) and D/issuer.json {"issuer", "kid"}
  serve --dir D --cert C --key K --port P [--bind A]
                                               HTTPS on 127.0.0.1 (or A): discovery document + JWKS
  mint  --dir D --sub S --aud A --scope "..." --lifetime N [--scope-format array|string]
        [--not-before-offset N] [--out FILE]   a signed RS256 JWT (kid header; iss sub aud iat nbf exp scope wlcg.ver)

``mint()`` is importable: load this file by path and call ``mint(issuer_dir, sub=..., aud=..., ...)``.
ARC 7.0.0 quirk: with ``tokenscopes = wlcg`` A-REX matches WLCG scopes only in a JSON-array ``scope`` claim,
so array is the default scope format.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.server
import json
import os
import ssl
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_SCOPES = "compute.read compute.create compute.modify compute.cancel"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _uint(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def _load_key(issuer_dir: Path):
    return serialization.load_pem_private_key((issuer_dir / "issuer-key.pem").read_bytes(), password=None)


def _meta(issuer_dir: Path) -> dict:
    return json.loads((issuer_dir / "issuer.json").read_text())


def init(issuer_dir: str | Path, url: str) -> dict:
    """Create the signing key and issuer.json (kept if they exist)."""
    d = Path(issuer_dir)
    d.mkdir(parents=True, exist_ok=True)
    keyfile = d / "issuer-key.pem"
    if not keyfile.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    key = _load_key(d)
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    meta = {"issuer": url.rstrip("/"), "kid": hashlib.sha256(der).hexdigest()[:16]}
    (d / "issuer.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def jwks(issuer_dir: str | Path) -> dict:
    """The public key set."""
    d = Path(issuer_dir)
    pub = _load_key(d).public_key().public_numbers()
    return {
        "keys": [
            {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": _meta(d)["kid"], "n": _uint(pub.n), "e": _uint(pub.e)}
        ]
    }


def mint(
    issuer_dir: str | Path,
    *,
    sub: str = "arc-intercede-test",
    aud: str | list[str] | None = "https://localhost:8443",
    scope: str | list[str] | None = DEFAULT_SCOPES,
    lifetime: int = 43200,
    scope_format: str = "array",
    not_before_offset: int = 0,
    issuer: str | None = None,
    extra: dict | None = None,
) -> str:
    """A signed RS256 JWT. ``lifetime`` may be negative (already expired); ``issuer`` overrides iss."""
    d = Path(issuer_dir)
    meta = _meta(d)
    now = int(time.time())
    claims: dict = {
        "iss": issuer or meta["issuer"],
        "sub": sub,
        "iat": now,
        "nbf": now + not_before_offset,
        "exp": now + lifetime,
        "wlcg.ver": "1.0",
        "jti": _b64url(os.urandom(12)),
    }
    if aud is not None:
        claims["aud"] = aud
    if scope is not None:
        items = scope.split() if isinstance(scope, str) else list(scope)
        if scope_format == "array":
            claims["scope"] = items
        elif scope_format == "string":
            claims["scope"] = " ".join(items)
        else:
            raise ValueError(f"scope_format must be array or string, not {scope_format!r}")
    if extra:
        claims.update(extra)
    header = {"alg": "RS256", "typ": "JWT", "kid": meta["kid"]}
    signing_input = (
        _b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = _load_key(d).sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + _b64url(sig)


def serve(
    issuer_dir: str | Path, cert: str, key: str, port: int, log: str | None = None, bind: str = "127.0.0.1"
) -> None:
    """Serve discovery and JWKS over HTTPS on ``bind`` (default 127.0.0.1) until killed."""
    d = Path(issuer_dir)
    meta = _meta(d)
    base = meta["issuer"]
    docs = {
        "/.well-known/openid-configuration": {
            "issuer": base,
            "jwks_uri": base + "/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": DEFAULT_SCOPES.split(),
        },
        "/jwks": jwks(d),
    }
    logf = open(log, "a", buffering=1) if log else sys.stderr

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            doc = docs.get(self.path.split("?")[0])
            body = json.dumps(doc if doc is not None else {"error": "not found"}).encode()
            self.send_response(200 if doc is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            logf.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {self.client_address[0]} {fmt % args}\n")

    httpd = http.server.ThreadingHTTPServer((bind, port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    logf.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} issuer {base} (kid {meta['kid']}) on {bind}:{port}\n")
    httpd.serve_forever()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="cmd", required=True)
    pi = sp.add_parser("init")
    pi.add_argument("--dir", required=True)
    pi.add_argument("--url", default="https://localhost:8444")
    ps = sp.add_parser("serve")
    ps.add_argument("--dir", required=True)
    ps.add_argument("--cert", required=True)
    ps.add_argument("--key", required=True)
    ps.add_argument("--port", type=int, default=8444)
    ps.add_argument("--log")
    ps.add_argument("--bind", default="127.0.0.1")
    pm = sp.add_parser("mint")
    pm.add_argument("--dir", required=True)
    pm.add_argument("--sub", default="arc-intercede-test")
    pm.add_argument("--aud", default="https://localhost:8443")
    pm.add_argument("--scope", default=DEFAULT_SCOPES)
    pm.add_argument("--lifetime", type=int, default=43200)
    pm.add_argument("--scope-format", choices=["array", "string"], default="array")
    pm.add_argument("--not-before-offset", type=int, default=0)
    pm.add_argument("--issuer", help="override the iss claim (to test an untrusted issuer)")
    pm.add_argument("--out")
    a = p.parse_args(argv)
    if a.cmd == "init":
        print(json.dumps(init(a.dir, a.url)))
    elif a.cmd == "serve":
        serve(a.dir, a.cert, a.key, a.port, a.log, a.bind)
    else:
        tok = mint(
            a.dir,
            sub=a.sub,
            aud=a.aud,
            scope=a.scope,
            lifetime=a.lifetime,
            scope_format=a.scope_format,
            not_before_offset=a.not_before_offset,
            issuer=a.issuer,
        )
        if a.out:
            fd = os.open(a.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(tok)
        else:
            print(tok)
    return 0


if __name__ == "__main__":
    sys.exit(main())
