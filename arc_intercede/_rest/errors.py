"""The one translation point for errors of pyarcrest, ``ssl``, sockets and JSON into the error tree."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from pyarcrest.errors import ARCError, ARCHTTPError, HTTPClientError, X509Error

from arc_intercede.errors import (
    ARCBackendError,
    CEResponseError,
    CETimeoutError,
    ConfigurationError,
    CredentialError,
    TransportError,
    http_error,
)

__all__ = ["map_arc_errors"]


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
