"""``info``: endpoint, REST API version, queues, counts, credential lifetimes."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from arc_intercede.backend import ARCBackend
from arc_intercede.cli.base import EXIT_OK, PROG, Target, with_ce
from arc_intercede.cli.cmdoptions import _sub
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.cli.output import _print_json
from arc_intercede.config import ARCConfig
from arc_intercede.credentials import FileToken, ProxyCredential, token_expiry
from arc_intercede.errors import ConfigurationError

_log = logging.getLogger(__name__)


def cmd_info(args: argparse.Namespace, target: Target, store: JobStore) -> int:
    """``info``: endpoint, REST API version, queues, counts, credential requirements."""

    async def body(ce: ARCBackend) -> dict[str, Any]:
        queues = await ce.queues()
        counts: dict[str, int] | None
        try:
            c = await ce.counts()
            counts, counts_error = {"running": c.running, "waiting": c.waiting}, ""
        except ConfigurationError as exc:
            counts, counts_error = None, str(exc)
        req = ce.credential_requirements
        return {**_credential_lifetimes(target.config),
            "ce": target.name, "endpoint": target.config.endpoint, "api_version": ce.api_version,
            "queue": target.config.queue, "queues": queues, "counts": counts, "counts_error": counts_error,
            "auth_mode": target.config.auth_mode.value,
            "discovered": [{"key": d.key, "source": d.source} for d in target.discovered],
            "credentials": {"kinds": sorted(req.kinds), "audience": req.audience, "scopes": sorted(req.scopes)},
        }

    info = with_ce(target, body)
    if args.json:
        _print_json(info)
        return EXIT_OK
    counts = info["counts"]
    scope = f"queue {info['queue']}" if info["queue"] else "whole CE"
    lines = [
        ("CE", info["ce"]),
        ("Endpoint", info["endpoint"]),
        ("REST API version", info["api_version"]),
        ("Queues", ", ".join(info["queues"]) or "(none advertised)"),
        ("Default queue", info["queue"] or "(none)"),
        (f"Jobs ({scope})", f"{counts['running']} running, {counts['waiting']} waiting" if counts
         else f"n/a: {info['counts_error']}"),
        ("Authentication", info["auth_mode"]),
        ("Credentials needed", ", ".join(info["credentials"]["kinds"])),
    ]
    if info["credentials"]["audience"]:
        lines.append(("Token audience", info["credentials"]["audience"]))
        lines.append(("Token scopes", " ".join(info["credentials"]["scopes"])))
    lines += [("Found by convention", d.note()) for d in target.discovered]
    for label, key in (("Proxy", "proxy"), ("Token", "token")):
        if info[key] is not None:
            lines.append((f"{label} valid until", _lifetime_text(info[key])))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key + ':':<{width}} {value}")
    return EXIT_OK


def _credential_lifetimes(config: ARCConfig) -> dict[str, Any]:
    """When the configured proxy and token expire, and how long they have left (never their content)."""
    out: dict[str, Any] = {"proxy": None, "token": None}
    now = datetime.now(UTC)
    if config.proxy is not None:
        proxy = ProxyCredential.load(config.proxy)
        out["proxy"] = {"path": str(config.proxy), "expires": proxy.not_after.isoformat(),
                        "seconds_left": int(proxy.seconds_left(now))}
    token = config.token if config.token is not None else (
        FileToken(config.token_file).token() if config.token_file is not None else None)
    if token is not None:
        exp = token_expiry(token)
        out["token"] = {"expires": exp.isoformat() if exp else None,
                        "seconds_left": int((exp - now).total_seconds()) if exp else None}
    return out


def _lifetime_text(entry: Mapping[str, Any]) -> str:
    if entry["expires"] is None:
        return "unknown (not a JWT)"
    left = int(entry["seconds_left"])
    when = datetime.fromisoformat(entry["expires"]).strftime("%Y-%m-%d %H:%M:%S UTC")
    if left <= 0:
        return f"{when} (expired)"
    hours, rest = divmod(left, 3600)
    return f"{when} ({hours}h{rest // 60:02d}m left)"


def add_parser(subs: Any) -> None:
    """Add the command's parser to ``subs``."""
    p = _sub(subs, "info", help="show the CE: endpoint, REST API version, queues, load, credentials",
             description="Show the selected CE: endpoint, negotiated REST API version, advertised queues, "
                         "running/waiting jobs (of the default queue, else the whole CE) and the credentials "
                         "the configuration needs.",
             examples=f"  {PROG} info\n  {PROG} --ce prod info --json\n")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_info)
