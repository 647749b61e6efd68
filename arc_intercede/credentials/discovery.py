"""The grid's credential conventions, used where a CE configuration names none.

* proxy: ``$X509_USER_PROXY``, else ``/tmp/x509up_u<uid>`` (if it exists);
* CA directory: ``$X509_CERT_DIR``, else ``/etc/grid-security/certificates`` (if it exists);
* token, by WLCG Bearer Token Discovery: ``$BEARER_TOKEN`` (the token itself), ``$BEARER_TOKEN_FILE``,
  ``$XDG_RUNTIME_DIR/bt_u<uid>``, ``/tmp/bt_u<uid>`` (first found).

A configuration without a credential gets the proxy if one is found, else the token. What was taken, and
from where, is returned as notes (``info`` prints them); a token's value never appears in a note.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Discovered", "apply_conventions", "discover_ca_dir", "discover_proxy", "discover_token"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Discovered:
    """One conventional credential that was found.

    Attributes:
        key: The configuration key it fills (``proxy``, ``ca_dir``, ``token`` or ``token_file``).
        value: The path, or for ``token`` the token (never logged or printed).
        source: Where it came from, e.g. ``$X509_USER_PROXY`` or ``/tmp/x509up_u1000``.
    """

    key: str
    value: str
    source: str

    def note(self) -> str:
        """One line for ``info``, without the token."""
        shown = "(from the environment)" if self.key == "token" else self.value
        return f"{self.key}: {shown} ({self.source})"


def discover_proxy(env: Mapping[str, str] | None = None, uid: int | None = None) -> Discovered | None:
    """``$X509_USER_PROXY`` (even if missing: the user named it), else ``/tmp/x509up_u<uid>`` if it exists."""
    env = os.environ if env is None else env
    if env.get("X509_USER_PROXY"):
        return Discovered("proxy", str(Path(env["X509_USER_PROXY"]).expanduser()), "$X509_USER_PROXY")
    path = Path(f"/tmp/x509up_u{os.getuid() if uid is None else uid}")  # noqa: S108 - the convention
    return Discovered("proxy", str(path), str(path)) if path.is_file() else None


def discover_ca_dir(env: Mapping[str, str] | None = None) -> Discovered | None:
    """``$X509_CERT_DIR``, else ``/etc/grid-security/certificates`` if it exists."""
    env = os.environ if env is None else env
    if env.get("X509_CERT_DIR"):
        return Discovered("ca_dir", str(Path(env["X509_CERT_DIR"]).expanduser()), "$X509_CERT_DIR")
    path = Path("/etc/grid-security/certificates")
    return Discovered("ca_dir", str(path), str(path)) if path.is_dir() else None


def discover_token(env: Mapping[str, str] | None = None, uid: int | None = None) -> Discovered | None:
    """WLCG Bearer Token Discovery: the first of ``$BEARER_TOKEN``, ``$BEARER_TOKEN_FILE``, ``$XDG_RUNTIME_DIR/bt_u<uid>``, ``/tmp/bt_u<uid>``."""  # noqa: E501
    env = os.environ if env is None else env
    token = env.get("BEARER_TOKEN", "").strip()
    if token:
        return Discovered("token", token, "$BEARER_TOKEN")
    if env.get("BEARER_TOKEN_FILE"):
        return Discovered("token_file", str(Path(env["BEARER_TOKEN_FILE"]).expanduser()), "$BEARER_TOKEN_FILE")
    uid = os.getuid() if uid is None else uid
    candidates = []
    if env.get("XDG_RUNTIME_DIR"):
        candidates.append((Path(env["XDG_RUNTIME_DIR"]) / f"bt_u{uid}", f"$XDG_RUNTIME_DIR/bt_u{uid}"))
    candidates.append((Path(f"/tmp/bt_u{uid}"), f"/tmp/bt_u{uid}"))  # noqa: S108 - the convention
    for path, source in candidates:
        if path.is_file():
            return Discovered("token_file", str(path), source)
    return None


def apply_conventions(config: MutableMapping[str, Any], env: Mapping[str, str] | None = None,
                      uid: int | None = None) -> list[Discovered]:
    """Fill the credential keys a CE configuration leaves out; return what was filled.

    The CA directory is filled when neither ``ca_dir`` nor ``ca_file`` is set; a credential when none of
    ``proxy``, ``token`` and ``token_file`` is: the proxy if one is found, else a token.
    """
    found: list[Discovered] = []
    if config.get("ca_dir") is None and config.get("ca_file") is None:
        ca = discover_ca_dir(env)
        if ca is not None:
            found.append(ca)
    if all(config.get(k) is None for k in ("proxy", "token", "token_file")):
        credential = discover_proxy(env, uid) or discover_token(env, uid)
        if credential is not None:
            found.append(credential)
    for item in found:
        config[item.key] = item.value
        _log.info("no %s configured: using %s", item.key, item.note())
    return found
