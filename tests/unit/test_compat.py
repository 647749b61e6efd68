"""arc_intercede.getClient: pyarcrest's API on the verified client, against the loopback fake CE."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pkgutil
import types
from pathlib import Path

import pytest

import arc_intercede
from arc_intercede import CEResponseError, ConfigurationError, TransportError, getClient
from arc_intercede.compat import ARCRest, ARCRest_1_0, ARCRest_1_1, Result
from arc_intercede.credentials import make_proxy
from tests.fake_arex import PKI, FakeAREX, make_pki

TOKEN = "s3cr3t-t0ken"


def _proxy(pki: PKI, tmp_path: Path) -> Path:
    out = tmp_path / "proxy.pem"
    make_proxy(pki.cert_file, pki.key_file, out, valid=dt.timedelta(hours=1))
    return out


def test_nothing_public_hands_out_a_pyarcrest_class_or_module() -> None:
    offenders = []
    for info in pkgutil.iter_modules(arc_intercede.__path__):
        module = importlib.import_module(f"arc_intercede.{info.name}")
        for name, obj in vars(module).items():
            if name.startswith("_"):
                continue
            origin = getattr(obj, "__module__", None) if inspect.isclass(obj) else getattr(obj, "__name__", "")
            from_pyarcrest = isinstance(origin, str) and origin.split(".")[0] == "pyarcrest"
            is_error = inspect.isclass(obj) and issubclass(obj, BaseException)
            if from_pyarcrest and (isinstance(obj, types.ModuleType) or not is_error):
                offenders.append(f"arc_intercede.{info.name}.{name}")
    assert offenders == []


def test_getclient_picks_the_highest_version_and_pins(ce: FakeAREX, pki: PKI) -> None:
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file) as client:
        assert isinstance(client, ARCRest_1_1) and isinstance(client, ARCRest)
        assert client.getAPIVersions() == ["1.0", "1.1"]
    ce.require_token = TOKEN
    with ARCRest.getClient(host="localhost", port=ce.port, token=TOKEN, cafile=pki.ca_file, version="1.0") as old:
        assert isinstance(old, ARCRest_1_0)  # tokens on REST 1.0 too (pyarcrest asserted them away)
        assert old.getJobsList() == []
        assert ce.by_key("GET jobs")[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_getclient_refuses_an_untrusted_ce(ce: FakeAREX, tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other")
    with pytest.raises(TransportError, match="TLS verification") as info:
        getClient(url=ce.endpoint, token=TOKEN, cafile=other.ca_file)
    assert info.value.transient is False
    assert ce.requests == []


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"url": "http://localhost:1"}, "https"), ({}, "no CE host"), ({"url": "https://h:1", "chunk_size": 0}, "chunk")],
)
def test_getclient_bad_parameters_are_configuration_errors(kwargs: dict, match: str, pki: PKI) -> None:
    with pytest.raises(ConfigurationError, match=match):
        getClient(token=TOKEN, cafile=pki.ca_file, **kwargs)


def test_getclient_needs_a_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("X509_CERT_DIR", raising=False)
    monkeypatch.setattr("arc_intercede.compat.GRID_CA_DIR", tmp_path / "missing")
    with pytest.raises(ConfigurationError, match="cadir"):
        getClient(url="https://localhost:1", token=TOKEN)


def test_bulk_results_are_aligned_chunked_and_hold_errors_in_place(ce: FakeAREX, pki: PKI) -> None:
    running, done = ce.add_job("RUNNING"), ce.add_job("FINISHED")
    ids = [running, "nosuchjob001", done, running, "nosuchjob002"]
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file, chunk_size=2) as client:
        ce.clear()
        results = client.getJobsStatus(ids)
        assert ce.count("POST jobs?status") == 3
        assert [r.error for r in results] == [False, True, False, False, True]
        assert [r.value for r in results if not r.error] == ["RUNNING", "FINISHED", "RUNNING"]
        missing = results[1].value
        assert isinstance(missing, CEResponseError) and missing.status == 404
        info = client.getJobsInfo([done, "nosuchjob001"])
        assert isinstance(info[0], Result) and not info[0].error
        assert info[0].value == {"Owner": "/CN=fake", "Queue": "grid", "ExitCode": 0, "state": "FINISHED"}
        running_info = client.getJobsInfo([running])[0].value
        assert isinstance(running_info, dict) and "ExitCode" not in running_info  # "" is skipped, not fatal
        assert info[1].error
        killed, unknown = client.killJobs([running, "nosuchjob001"])
        assert killed == Result(True) and unknown.error and getattr(unknown.value, "status", None) == 404
        assert client.getJobsDelegations([done])[0].value == ["d1"]
        assert client.getJobsStatus([]) == []


def test_create_jobs_returns_id_and_state(ce: FakeAREX, pki: PKI) -> None:
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file) as client:
        (res,) = client.createJobs('&(executable="/bin/true")', isADL=False)
        assert not res.error
        job_id, state = res.value  # type: ignore[misc]
        assert state == "ACCEPTING" and job_id in ce.jobs


def test_token_delegation_carries_the_bare_token_and_cannot_be_renewed(ce: FakeAREX, pki: PKI) -> None:
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file) as client:
        delegation_id = client.createDelegation()
        assert ce.delegations[delegation_id] == {"type": "jwt", "value": TOKEN}
        assert {"id": delegation_id, "type": "jwt"} in client.getDelegationsList()
        with pytest.raises(ConfigurationError, match="create a new one"):
            client.renewDelegation(delegation_id)
        client.deleteDelegation(delegation_id)
        assert client.getDelegationsList() == []
        with pytest.raises(CEResponseError) as info:
            client.deleteDelegation(delegation_id)
        assert info.value.status == 404


def test_x509_delegation_with_a_proxy_create_renew_get(ce: FakeAREX, pki: PKI, tmp_path: Path) -> None:
    proxy = _proxy(pki, tmp_path)
    with getClient(url=ce.endpoint, proxypath=proxy, cafile=pki.ca_file) as client:
        delegation_id = client.createDelegation()
        assert ce.delegations[delegation_id]["type"] == "x509"
        assert b"BEGIN CERTIFICATE" in ce.delegations[delegation_id]["value"]
        assert "BEGIN CERTIFICATE" in client.getDelegation(delegation_id)
        assert "BEGIN CERTIFICATE REQUEST" in client.renewDelegation(delegation_id)
        client.refreshDelegation(delegation_id)
        assert client.getDelegationsList(type="x509") == [{"id": delegation_id, "type": "x509"}]
        with pytest.raises(CEResponseError):
            client.getDelegation("nosuchdeleg")


def test_listing_has_subdirectories_and_downloads_are_percent_encoded(ce: FakeAREX, pki: PKI, tmp_path: Path) -> None:
    job = ce.add_job("FINISHED", files={"a b.txt": b"spaced\n", "sub/c.txt": b"deep\n"})
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file) as client:
        listing = client.downloadListing(job, "")
        assert listing["file"] == ["a b.txt"] and listing["dirs"] == ["sub"] == listing["dir"]
        client.downloadFile(job, "a b.txt", tmp_path / "a.txt")
        assert (tmp_path / "a.txt").read_bytes() == b"spaced\n"
        (tmp_path / "up.txt").write_bytes(b"up\n")
        client.uploadFile(job, "in put.txt", tmp_path / "up.txt")
        assert ce.jobs[job].files["in put.txt"] == b"up\n"
        with pytest.raises(CEResponseError):
            client.downloadDiagnoseFile(job, "errors", tmp_path / "errors")
        with pytest.raises(ConfigurationError):
            client.downloadDiagnoseFile(job, "../etc", tmp_path / "x")


@pytest.mark.parametrize("name", ["submitJobs", "uploadJobFiles", "downloadJobFiles", "matchJob", "updateCredential"])
def test_unsafe_pyarcrest_helpers_are_not_offered(ce: FakeAREX, pki: PKI, name: str) -> None:
    with getClient(url=ce.endpoint, token=TOKEN, cafile=pki.ca_file) as client, \
            pytest.raises(NotImplementedError, match="not offered"):
        getattr(client, name)([])
