"""arc_intercede.errors: the tree, and the mapping table of map_arc_errors."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl

import pytest
from pyarcrest.errors import (
    ARCError,
    ARCHTTPError,
    HTTPClientError,
    MissingDiagnoseFile,
    NoValueInARCResult,
    X509Error,
)

from arc_intercede._rest.errors import map_arc_errors
from arc_intercede.contract import InterCEdeError
from arc_intercede.errors import (
    APIVersionError,
    ARCBackendError,
    CEResponseError,
    CETimeoutError,
    ConfigurationError,
    CredentialError,
    TransportError,
    http_error,
    is_credential_failure,
)

ENDPOINT = "https://ce.example.org:443/arex"


def _cert_error() -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, "certificate verify failed")
    exc.verify_message = "unable to get local issuer certificate"
    exc.verify_code = 20
    return exc


# (raised, mapped class, transient)
TABLE: list[tuple[BaseException, type[ARCBackendError], bool]] = [
    (ARCHTTPError(401, "Unauthorized"), CredentialError, False),
    (ARCHTTPError(403, "Operation is not allowed"), CredentialError, False),
    (ARCHTTPError(500, "User can't be assigned configuration"), CredentialError, False),
    (ARCHTTPError(500, "user CAN'T be assigned configuration: body"), CredentialError, False),
    (ARCHTTPError(500, "No more jobs allowed"), CEResponseError, True),
    (ARCHTTPError(503, ""), CEResponseError, True),
    (ARCHTTPError(404, "Job not found"), CEResponseError, False),
    (ARCHTTPError(501, "Action not implemented"), CEResponseError, True),
    (X509Error("bad proxy"), CredentialError, False),
    (HTTPClientError("URL scheme not http(s) but ftp"), ConfigurationError, False),
    (TimeoutError("timed out"), CETimeoutError, True),
    (_cert_error(), TransportError, False),
    (ssl.SSLError(1, "wrong version number"), TransportError, True),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), TransportError, True),
    (ConnectionRefusedError(111, "Connection refused"), TransportError, True),
    (ConnectionResetError(104, "Connection reset by peer"), TransportError, True),
    (OSError(113, "No route to host"), TransportError, True),
    (socket.gaierror(-2, "Name or service not known"), TransportError, True),
    (http.client.RemoteDisconnected("Remote end closed connection"), TransportError, True),
    (http.client.IncompleteRead(b"abc", 10), TransportError, True),
    (http.client.LineTooLong("status line"), TransportError, True),
    (json.JSONDecodeError("Expecting value", "<html>", 0), CEResponseError, False),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), CEResponseError, False),
    (KeyError("status-code"), CEResponseError, False),
    (NoValueInARCResult("no state"), CEResponseError, False),
    (MissingDiagnoseFile("errors"), CEResponseError, False),
    (ARCError("No supported API versions on CE"), CEResponseError, False),
]


@pytest.mark.parametrize(("raised", "mapped", "transient"), TABLE, ids=lambda v: type(v).__name__)
def test_mapping_table(raised: BaseException, mapped: type[ARCBackendError], transient: bool) -> None:
    with pytest.raises(ARCBackendError) as info, map_arc_errors(ENDPOINT, "doing it"):
        raise raised
    err = info.value
    assert type(err) is mapped
    assert err.__cause__ is raised
    assert err.transient is transient
    assert err.endpoint == ENDPOINT
    assert str(err).startswith("doing it") and str(err).endswith(f"[{ENDPOINT}]")
    assert isinstance(err, InterCEdeError)


def test_reason_phrase_is_in_the_message() -> None:
    with pytest.raises(CEResponseError) as info, map_arc_errors(ENDPOINT, "submit"):
        raise ARCHTTPError(500, "No more jobs allowed")
    assert "HTTP 500 No more jobs allowed" in str(info.value)
    assert info.value.status == 500


def test_cert_error_message_names_the_verification_problem() -> None:
    with pytest.raises(TransportError) as info, map_arc_errors(ENDPOINT):
        raise _cert_error()
    assert "unable to get local issuer certificate" in str(info.value)


@pytest.mark.parametrize(
    "raised",
    [ValueError("bug"), TypeError("bug"), RuntimeError("bug"), AssertionError("bug"), AttributeError("x"),
     ZeroDivisionError(), NotImplementedError()],
    ids=lambda v: type(v).__name__,
)
def test_unexpected_exceptions_pass_through_untouched(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as info, map_arc_errors(ENDPOINT):
        raise raised
    assert info.value is raised
    assert info.value.__cause__ is None


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), asyncio.CancelledError(), SystemExit(3)],
                         ids=lambda v: type(v).__name__)
def test_base_exceptions_pass_through(raised: BaseException) -> None:
    with pytest.raises(type(raised)) as info, map_arc_errors(ENDPOINT):
        raise raised
    assert info.value is raised


@pytest.mark.parametrize(
    "raised",
    [CredentialError("expired", endpoint="x"), APIVersionError("none"), CETimeoutError("t"),
     CEResponseError("m", status=502), ConfigurationError("c")],
    ids=lambda v: type(v).__name__,
)
def test_own_errors_pass_unchanged(raised: ARCBackendError) -> None:
    with pytest.raises(ARCBackendError) as info, map_arc_errors(ENDPOINT):
        raise raised
    assert info.value is raised


def test_no_exception_no_change() -> None:
    with map_arc_errors(ENDPOINT):
        value = 42
    assert value == 42


def test_tree_and_default_transience() -> None:
    assert issubclass(ARCBackendError, InterCEdeError)
    for cls in (ConfigurationError, CredentialError, TransportError, CEResponseError, APIVersionError):
        assert issubclass(cls, ARCBackendError)
    assert issubclass(CETimeoutError, TransportError)
    assert [c("x").transient for c in (ConfigurationError, CredentialError, APIVersionError)] == [False] * 3
    assert TransportError("x").transient and CETimeoutError("x").transient
    assert TransportError("x", transient=False).transient is False
    assert CEResponseError("x").transient is False and CEResponseError("x").status is None
    assert CEResponseError("x", status=500).transient is True
    assert CEResponseError("x", status=400).transient is False
    assert CEResponseError("x", status=400, transient=True).transient is True
    assert str(ConfigurationError("plain")) == "plain"


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [(401, "", True), (403, "Not authorized: x", True), (500, "User can't be assigned configuration", True),
     (500, "No more jobs allowed", False), (404, "User can't be assigned configuration", False), (200, "", False)],
)
def test_is_credential_failure(status: int, reason: str, expected: bool) -> None:
    assert is_credential_failure(status, reason) is expected


def test_http_error_builds_the_right_class() -> None:
    err = http_error(403, "Operation is not allowed", endpoint=ENDPOINT, what="kill")
    assert type(err) is CredentialError and "kill: HTTP 403 Operation is not allowed" in str(err)
    err = http_error(502, "", endpoint=ENDPOINT, what="status")
    assert type(err) is CEResponseError and err.status == 502 and err.transient
    assert str(err) == f"status: HTTP 502 [{ENDPOINT}]"
