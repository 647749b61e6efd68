"""Errors raised by arc_intercede, and the single place lower-layer errors are translated.

The tree::

    InterCEdeError                 contract root: catch this to catch everything
    └── ARCBackendError            .endpoint, .transient
        ├── ConfigurationError     bad config, unsupported spec feature, bad URL        transient=False
        ├── CredentialError        missing/expired/rejected credential, 401/403,        transient=False
        │   │                      500 "User can't be assigned configuration"
        │   └── LocalCredentialError  a local credential is unusable (missing, expired,  transient=False
        │                          not a proxy, unsafe permissions): fix it, no CE was asked
        ├── TransportError         unreachable, TLS failure, reset, OSError             transient=True
        │   └── CETimeoutError     a connect/read/request deadline was exceeded         transient=True
        ├── CEResponseError        unexpected whole-call status or malformed body       transient for 5xx
        │   └── ReplyTooLargeError a reply body over its byte cap (refused early from Content-Length)
        └── APIVersionError        no REST version in common with the CE                transient=False

``transient`` tells the caller whether the same call may succeed if repeated later unchanged.
A :class:`TransportError` whose ``kind`` is set broke one exchange on a connection that was
established (a reply cut short, a protocol violation, a read or request deadline); an empty
``kind`` means the CE could not be reached at all. ``fetch_output`` turns the former into that
job's reason and raises only the latter.
These errors are only raised for whole-operation failures; a per-id failure is an
:class:`~arc_intercede.contract.OpOutcome` (or a status/manifest) in the returned mapping.
"""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from pyarcrest.errors import ARCError, ARCHTTPError, HTTPClientError, X509Error

from arc_intercede.contract import InterCEdeError

__all__ = [
    "APIVersionError",
    "ARCBackendError",
    "CEResponseError",
    "CETimeoutError",
    "ConfigurationError",
    "CredentialError",
    "LocalCredentialError",
    "ReplyTooLargeError",
    "TransportError",
    "map_arc_errors",
]

# A-REX answers a rejected or expired token with this 500 reason (arc-rest-facts §11).
_NO_CONFIGURATION: Final = "user can't be assigned configuration"


class ARCBackendError(InterCEdeError):
    """A whole operation against an ARC CE failed.

    Attributes:
        endpoint: The CE endpoint the operation was addressed to (may be empty).
        transient: Whether repeating the same call later may succeed.
    """

    default_transient: bool = False

    def __init__(self, message: str, *, endpoint: str = "", transient: bool | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.transient = self.default_transient if transient is None else transient

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text} [{self.endpoint}]" if self.endpoint else text


class ConfigurationError(ARCBackendError):
    """The configuration, a URL or a job specification cannot be used."""


class CredentialError(ARCBackendError):
    """A credential is missing, unreadable, expired, or was rejected by the CE."""


class LocalCredentialError(CredentialError):
    """A local credential cannot be used as it is (missing, unreadable, expired, malformed, exposed).

    Raised before anything is sent; the message names the file or setting, never the secret.
    """


class TransportError(ARCBackendError):
    """The CE could not be reached or the connection failed (TLS, reset, refused).

    Attributes:
        kind: For a failure of one exchange on an established connection, the per-id reason code
            it stands for (``truncated``, ``protocol``, ``transport``, ``limit:timeout``,
            ``cancelled``); empty when the CE could not be reached.
    """

    default_transient = True

    def __init__(
        self, message: str, *, endpoint: str = "", transient: bool | None = None, kind: str = ""
    ) -> None:
        super().__init__(message, endpoint=endpoint, transient=transient)
        self.kind = kind


class CETimeoutError(TransportError):
    """A connect or read deadline was exceeded."""


class CEResponseError(ARCBackendError):
    """The CE answered a whole call with an unexpected status or a malformed body.

    Attributes:
        status: The HTTP status, or None when the body was malformed.
    """

    def __init__(
        self, message: str, *, endpoint: str = "", status: int | None = None, transient: bool | None = None
    ) -> None:
        if transient is None:
            transient = status is not None and status >= 500
        super().__init__(message, endpoint=endpoint, transient=transient)
        self.status = status


class ReplyTooLargeError(CEResponseError):
    """A reply body is larger than the cap for its kind of reply.

    It is refused before its body is read when its ``Content-Length`` already says so.

    Attributes:
        limit: The cap in bytes.
    """

    def __init__(self, message: str, *, endpoint: str = "", limit: int) -> None:
        super().__init__(message, endpoint=endpoint)
        self.limit = limit


class APIVersionError(ARCBackendError):
    """The CE offers no REST API version this library supports (or not the one pinned)."""


def is_credential_failure(status: int, reason: str) -> bool:
    """Tell whether an HTTP status and reason phrase from A-REX mean "credential rejected"."""
    if status in (401, 403):
        return True
    return status == 500 and _NO_CONFIGURATION in reason.lower()


def http_error(status: int, reason: str, *, endpoint: str, what: str) -> ARCBackendError:
    """Build the error for a whole-call HTTP failure ``status``/``reason`` while doing ``what``."""
    message = f"{what}: HTTP {status} {reason}".rstrip()
    if is_credential_failure(status, reason):
        return CredentialError(message, endpoint=endpoint)
    return CEResponseError(message, endpoint=endpoint, status=status)


@contextmanager
def map_arc_errors(endpoint: str, what: str = "ARC CE request") -> Iterator[None]:
    """Translate errors of pyarcrest, ``ssl``, sockets and JSON into :class:`ARCBackendError`.

    The most specific match wins; the original exception is chained. Errors of this module pass
    through unchanged, and anything unexpected passes through untouched so it shows up as a bug.
    """
    try:
        yield
    except ARCBackendError:
        raise
    except ARCHTTPError as exc:
        raise http_error(int(exc.status), str(exc.text or ""), endpoint=endpoint, what=what) from exc
    except X509Error as exc:
        raise CredentialError(f"{what}: credential problem: {exc}", endpoint=endpoint) from exc
    except HTTPClientError as exc:
        raise ConfigurationError(f"{what}: {exc}", endpoint=endpoint) from exc
    except TimeoutError as exc:
        raise CETimeoutError(f"{what}: timed out", endpoint=endpoint) from exc
    except ssl.SSLCertVerificationError as exc:
        raise TransportError(
            f"{what}: TLS verification of the CE failed: {exc.verify_message}", endpoint=endpoint,
            transient=False,
        ) from exc
    except (ssl.SSLError, OSError, http.client.HTTPException) as exc:
        raise TransportError(f"{what}: {type(exc).__name__}: {exc}", endpoint=endpoint) from exc
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError) as exc:
        raise CEResponseError(f"{what}: malformed response: {exc!r}", endpoint=endpoint) from exc
    except ARCError as exc:
        raise CEResponseError(f"{what}: {exc}", endpoint=endpoint) from exc
