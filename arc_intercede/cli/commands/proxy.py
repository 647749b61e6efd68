"""``proxy``: an RFC 3820 proxy (VOMS attributes with ``--voms``) from the user's certificate, or ``--info``."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from arc_intercede.cli import proxy_voms as voms_cli
from arc_intercede.cli.base import EXIT_OK, PROG, UsageError
from arc_intercede.cli.cmdoptions import _duration_arg, _sub
from arc_intercede.credentials import default_proxy_path, make_proxy, warn_if_exposed

_log = logging.getLogger(__name__)


def cmd_proxy(args: argparse.Namespace) -> int:
    """``proxy``: make an RFC 3820 proxy from the user's certificate and key."""
    if args.info:
        return voms_cli.cmd_proxy_info(args)
    key = Path(args.key).expanduser()
    password: bytes | Callable[[], bytes]
    if args.password_file is not None:
        pw_path = Path(args.password_file).expanduser()
        try:
            raw = pw_path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read password file {pw_path}: {exc.strerror}") from exc
        warn_if_exposed(pw_path, "password file")
        password = raw.removesuffix(b"\n").removesuffix(b"\r")
        if not password:
            raise UsageError(f"password file {pw_path} is empty")
    else:
        def password() -> bytes:
            return getpass.getpass(f"Enter pass phrase for {key}: ").encode("utf-8")

    out = Path(args.out).expanduser() if args.out is not None else default_proxy_path()
    if args.voms:
        return voms_cli.cmd_voms_proxy(args, Path(args.cert).expanduser(), key, out, password)
    info = make_proxy(Path(args.cert).expanduser(), key, out, valid=timedelta(seconds=args.valid),
                      bits=args.bits, password=password)
    left = info.not_after - datetime.now(UTC)
    hours, rest = divmod(max(0, int(left.total_seconds())), 3600)
    print(f"Proxy written to {info.path}")
    print(f"  subject:     {info.subject}")
    print(f"  identity:    {info.issuer}")
    print(f"  valid until: {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({hours}h{rest // 60:02d}m left"
          + (", cut to the user certificate's expiry)" if info.clamped else ")"))
    print("  This is a plain RFC 3820 proxy: it carries NO VOMS attributes.")
    return EXIT_OK


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "proxy", help="make an RFC 3820 proxy (with --voms: VOMS attributes), or show one (--info)",
             description="Make an RFC 3820 proxy certificate from your grid certificate and key, in pure Python. "
                         "The proxy file (mode 0600) holds the proxy certificate, its unencrypted key and your "
                         "certificate chain. Without --voms it carries no VOMS attributes. An encrypted key's pass "
                         "phrase is asked for, or read from --password-file.",
             examples=f"  {PROG} proxy\n  {PROG} proxy --valid 24h --out ~/proxy.pem\n"
                      f"  {PROG} proxy --cert usercert.pem --key userkey.pem --password-file pw.txt\n"
                      + voms_cli.EXAMPLES.format(prog=PROG),
             ce_options=False)
    p.add_argument("--cert", default=os.environ.get("X509_USER_CERT", "~/.globus/usercert.pem"), metavar="FILE",
                   help="your certificate, PEM (default $X509_USER_CERT or ~/.globus/usercert.pem)")
    p.add_argument("--key", default=os.environ.get("X509_USER_KEY", "~/.globus/userkey.pem"), metavar="FILE",
                   help="your private key, PEM (default $X509_USER_KEY or ~/.globus/userkey.pem)")
    p.add_argument("--out", metavar="PATH", help="proxy file (default $X509_USER_PROXY or /tmp/x509up_u<uid>)")
    p.add_argument("--valid", type=_duration_arg, default=12 * 3600, metavar="DURATION",
                   help="lifetime, e.g. 12h, 2d, 90m (default 12h; never beyond the certificate)")
    p.add_argument("--bits", type=int, default=2048, choices=(1024, 2048, 3072, 4096), metavar="BITS",
                   help="proxy RSA key size (default 2048)")
    p.add_argument("--password-file", metavar="FILE", help="read the key's pass phrase from this file")
    voms_cli.add_voms_arguments(p)
    p.set_defaults(func=None, offline=cmd_proxy)
