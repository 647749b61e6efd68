"""A refused connection is a RequestNotSentError: the request never left, so a creation cannot have happened."""

from __future__ import annotations

import socket

import pytest

from arc_intercede._rest import ClientSettings, negotiate
from arc_intercede.backend import _creation_failure
from arc_intercede.credentials import make_ssl_context
from arc_intercede.errors import RequestNotSentError, TransportError
from tests.fake_arex import PKI


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again: nothing listens there


def test_refused_connection_is_request_not_sent(pki: PKI) -> None:
    s = ClientSettings(host="localhost", port=_closed_port(), api_base="/arex",
                       ssl_context=make_ssl_context(ca_dir=None, ca_file=pki.ca_file),
                       connect_timeout_s=5, read_timeout_s=5)
    with pytest.raises(RequestNotSentError) as info:
        negotiate(s)
    assert isinstance(info.value, TransportError) and info.value.transient and info.value.kind == ""
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert str(info.value).startswith("connect for GET ") and "ConnectionRefusedError" in str(info.value)


def test_creation_failure_tells_never_sent_from_lost_reply() -> None:
    never_sent = RequestNotSentError("connect for POST /arex/rest/1.1/jobs: refused", endpoint="https://ce:443/arex")
    lost = TransportError("POST /arex/rest/1.1/jobs: reset", endpoint="https://ce:443/arex", kind="transport")
    assert _creation_failure(never_sent).startswith("not submitted: ")
    assert "the CE may have created this copy" in _creation_failure(lost)
