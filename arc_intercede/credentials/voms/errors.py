"""Errors of the VOMS client: one class, a ``kind`` saying which case it is."""

from __future__ import annotations

from typing import Final

from arc_intercede.errors import CredentialError

__all__ = ["BAD_ANSWER", "NOT_MEMBER", "NO_SERVER", "SERVER_ERROR", "SUSPENDED", "UNKNOWN_ATTRIBUTE",
           "UNREACHABLE", "UNTRUSTED_AC", "UNTRUSTED_SERVER", "VomsError"]

NOT_MEMBER: Final = "not-member"
SUSPENDED: Final = "suspended"
UNKNOWN_ATTRIBUTE: Final = "unknown-attribute"
UNREACHABLE: Final = "unreachable"
UNTRUSTED_SERVER: Final = "untrusted-server"
UNTRUSTED_AC: Final = "untrusted-ac"
SERVER_ERROR: Final = "server-error"
BAD_ANSWER: Final = "bad-answer"
NO_SERVER: Final = "no-server"


class VomsError(CredentialError):
    """No usable VOMS attribute certificate could be obtained; the message is one line, without secrets.

    Attributes:
        kind: One of the module's constants (``not-member``, ``unknown-attribute``, ``unreachable``,
            ``untrusted-server``, ``untrusted-ac``, ``server-error``, ``bad-answer``, ``no-server``,
            ``suspended``).
        vo: The VO concerned.
    """

    def __init__(self, message: str, *, kind: str, vo: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.vo = vo
