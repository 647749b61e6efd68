"""The ``proxy --voms`` and ``proxy --info`` parts of the ``arc-intercede`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from arc_intercede.credentials.proxy import default_proxy_path
from arc_intercede.credentials.voms.builder import make_voms_proxy
from arc_intercede.credentials.voms.info import describe_proxy, format_proxy_info
from arc_intercede.errors import ConfigurationError

__all__ = ["EXAMPLES", "add_voms_arguments", "cmd_proxy_info", "cmd_voms_proxy"]

EXAMPLES = ("  {prog} proxy --voms testvo:/testvo/analysis\n"
            "  {prog} proxy --voms testvo:/testvo/analysis/Role=production --voms othervo\n"
            "  {prog} proxy --info            # like voms-proxy-info --all\n"
            "  {prog} proxy --info --json /tmp/x509up_u1000\n")


def add_voms_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--voms``, ``--voms-protocol``, ``--info``, ``--json`` and ``FILE`` to the ``proxy`` parser."""
    parser.add_argument("--voms", action="append", default=[], metavar="VO[:FQAN]",
                        help="ask VOMS for attributes (repeatable, in order; the first is the primary), e.g. "
                             "testvo:/testvo/analysis/Role=production; servers from vomses ($VOMS_USERCONF, "
                             "~/.voms/vomses, /etc/vomses), trust from $X509_VOMS_DIR or /etc/grid-security/vomsdir")
    parser.add_argument("--voms-protocol", choices=("auto", "rest", "legacy"), default="auto",
                        help="AC request protocol (default auto: REST, then the legacy XML protocol)")
    parser.add_argument("--info", action="store_true",
                        help="show a proxy instead of making one: identity, type, time left, VOMS attributes")
    parser.add_argument("--json", action="store_true", help="with --info: print JSON")
    parser.add_argument("file", nargs="?", metavar="FILE",
                        help="with --info: the proxy to show (default $X509_USER_PROXY or /tmp/x509up_u<uid>)")


def cmd_proxy_info(args: argparse.Namespace) -> int:
    """``proxy --info [--json] [FILE]``; exit 0 if the proxy is valid and every AC verifies, else 1."""
    path = Path(args.file).expanduser() if args.file else default_proxy_path()
    info = describe_proxy(path)
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
    else:
        print(format_proxy_info(info))
    good = info["seconds_left"] > 0 and all(vo["verified"] for vo in info["vo"]) and "voms_error" not in info
    return 0 if good else 1


def cmd_voms_proxy(args: argparse.Namespace, cert: Path, key: Path, out: Path,
                   password: bytes | Callable[[], bytes]) -> int:
    """``proxy --voms ...``: make a proxy carrying the ACs asked for and say what it holds."""
    if args.file:
        raise ConfigurationError(f"proxy: FILE ({args.file}) is only for --info; use --out to choose the output")
    try:
        made = make_voms_proxy(cert, key, out, args.voms, valid=timedelta(seconds=args.valid), bits=args.bits,
                               password=password, protocol=args.voms_protocol)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from exc
    info = made.proxy
    left = int((info.not_after - datetime.now(UTC)).total_seconds())
    hours, rest = divmod(max(0, left), 3600)
    print(f"Proxy written to {info.path}")
    print(f"  identity:    {info.issuer}")
    print(f"  valid until: {info.not_after:%Y-%m-%d %H:%M:%S} UTC ({hours}h{rest // 60:02d}m left)")
    for ac, proto in zip(made.acs, made.protocols, strict=True):
        print(f"  VO {ac.vo} ({ac.uri}, {proto}): {', '.join(ac.fqans)}; until {ac.not_after:%Y-%m-%d %H:%M:%S} UTC")
    for warning in made.warnings:
        print(f"  warning: {warning}")
    return 0
