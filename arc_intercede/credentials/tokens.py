"""Bearer tokens: sources asked before every request (static or a file re-read on change), JWT expiry."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from arc_intercede.credentials.files import file_stamp, warn_if_exposed
from arc_intercede.errors import LocalCredentialError

_log = logging.getLogger(__name__)

_TOKEN_CHARS: Final = re.compile(r"[\x21-\x7e]+")


def check_token(value: str, source: str) -> str:
    """Return ``value`` if it can be sent as a bearer token, else raise naming only ``source``.

    Raises:
        CredentialError: The token is empty, or holds whitespace, line breaks, control or non-ASCII
            characters. The message never contains the token.
    """
    if not value:
        raise LocalCredentialError(f"{source} is empty")
    if _TOKEN_CHARS.fullmatch(value) is None:
        raise LocalCredentialError(
            f"{source} holds a line break, space, control or non-ASCII character: a bearer token is "
            "one line of visible ASCII characters"
        )
    return value


def token_expiry(token: str) -> dt.datetime | None:
    """Return a JWT's ``exp`` (UTC), read without verifying it; None for opaque tokens."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        exp: Any = json.loads(payload).get("exp")
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return None
        return dt.datetime.fromtimestamp(exp, dt.UTC)
    except (ValueError, binascii.Error, AttributeError, OverflowError, OSError, RecursionError):
        return None


class TokenSource(Protocol):
    """Something that returns the bearer token to send with the next request."""

    def token(self) -> str:
        """Return the current token (without the ``Bearer`` prefix)."""
        ...


@dataclass(frozen=True, slots=True)
class StaticToken:
    """A fixed token string."""

    value: str

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"

    def token(self) -> str:
        """Return the token.

        Raises:
            CredentialError: The token cannot be sent in an HTTP header (never quoted).
        """
        return check_token(self.value, "the configured token")


class FileToken:
    """A token read from a file, re-read whenever the file changes (WLCG bearer-token files)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._value = ""

    def __repr__(self) -> str:
        return f"FileToken({str(self.path)!r})"

    def token(self) -> str:
        """Return the token in the file, reading it again if it changed since the last call."""
        stamp = file_stamp(self.path, "token file")
        with self._lock:
            if stamp != self._stamp:
                try:
                    value = self.path.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise LocalCredentialError(f"cannot read token file {self.path}: {exc.strerror}") from exc
                except UnicodeDecodeError as exc:  # its text would quote the token's bytes
                    raise LocalCredentialError(f"token file {self.path} is not UTF-8 text") from exc
                check_token(value, f"token file {self.path}")
                warn_if_exposed(self.path, "token file")
                self._value, self._stamp = value, stamp
            return self._value
