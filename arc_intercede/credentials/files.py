"""Credential files: change stamps, and the checks that keep secrets private (warn or refuse)."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path
from typing import Final

from arc_intercede.errors import LocalCredentialError

_log = logging.getLogger(__name__)

NEW_PROXY_HINT: Final = "make a new one with 'arc-intercede proxy'"
"""What to run when the proxy is missing, expired or unusable."""




def file_stamp(path: Path, what: str) -> tuple[int, int]:
    """Return a (mtime, size) stamp that changes when a credential file is replaced or rewritten.

    Raises:
        LocalCredentialError: The file cannot be read.
    """
    st = _stat(path, what)
    return st.st_mtime_ns, st.st_size


def _stat(path: Path, what: str) -> os.stat_result:
    try:
        return os.stat(path)
    except FileNotFoundError as exc:
        hint = f": {NEW_PROXY_HINT}" if what == "proxy" else ""
        raise LocalCredentialError(f"{what} file {path} not found{hint}") from exc
    except OSError as exc:
        raise LocalCredentialError(f"cannot read {what} {path}: {exc.strerror}") from exc


_warned: set[tuple[str, int, int]] = set()
_warned_lock = threading.Lock()


def warn_if_exposed(path: Path, what: str) -> None:
    """Log a warning (once per file version) if ``path`` is readable by its group or by others.

    Used for files that hold or lead to secrets: proxies, tokens, pass phrases, configuration files
    (which may hold an inline token). Private keys are refused instead (:func:`check_private_key_file`).
    """
    try:
        st = os.stat(path)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or not st.st_mode & (stat.S_IRGRP | stat.S_IROTH):
        return
    key = (str(path), st.st_mtime_ns, st.st_mode)
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    _log.warning("%s %s is readable by %s (mode %04o): run 'chmod 600 %s'", what, path,
                 "others" if st.st_mode & stat.S_IROTH else "its group", stat.S_IMODE(st.st_mode), path)


def check_private_key_file(path: Path, what: str = "key file") -> None:
    """Refuse a private key file that its group or others may access, as Globus and ARC do.

    Raises:
        CredentialError: The file's mode grants any permission to group or others.
    """
    try:
        st = os.stat(path)
    except OSError:
        return  # reading it reports the problem
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise LocalCredentialError(
            f"{what} {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"a private key must be private: run 'chmod 600 {path}'"
        )


# Visible ASCII only: a bearer token (RFC 6750 b64token, a JWT) never needs more, and a line break
# or control character would let http.client echo the whole header, token included, in its error.
