"""pyarcrest's API (arc_intercede.getClient) against the real ARC 7 CE, as a pyarcrest user writes it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import CEResponseError, ConfigurationError, TransportError, getClient
from arc_intercede.compat import ARCRest_1_0, ARCRest_1_1
from tests.contract.helpers import JOB_TIMEOUT_S
from tests.fake_arex import make_pki

XRSL = '&(executable="/bin/sh")(arguments="-c" "echo showcase")(stdout="out.txt")(outputfiles=("out.txt" ""))' \
    '(queue="batch")'


def _client(stack_info: dict[str, Any], **kwargs: Any) -> ARCRest_1_0 | ARCRest_1_1:
    auth: dict[str, Any]
    if stack_info["config"] == "token":
        auth = {"token": Path(stack_info["token_file"]).read_text().strip()}
    else:
        auth = {"proxypath": stack_info["proxy"]}
    return getClient(url=stack_info["endpoint"], **{"cadir": stack_info["ca_dir"], **auth, **kwargs})


def test_pyarcrest_showcase(stack_info: dict[str, Any]) -> None:
    with _client(stack_info) as client:
        assert isinstance(client, ARCRest_1_1)
        assert "1.1" in client.getAPIVersions()
        assert "Domains" in client.getCEInfo()

        (created,) = client.createJobs(XRSL, isADL=False)
        assert not created.error, created.value
        job_id, _state = created.value  # type: ignore[misc]
        # A-REX's listing may lag a job it has just created (and omit jobs while it recovers):
        # ask again for a bounded time; per-id calls below are the proof that the job exists.
        listed: list[str] = client.getJobsList()
        until = time.monotonic() + 60
        while job_id not in listed and time.monotonic() < until:
            time.sleep(2)
            listed = client.getJobsList()
        assert all(isinstance(j, str) for j in listed) and job_id in listed

        ids = [job_id, "nosuchjob001"]
        deadline = time.monotonic() + JOB_TIMEOUT_S
        while True:
            results = client.getJobsStatus(ids)
            states = {i: r.value for i, r in zip(ids, results, strict=True) if not r.error}
            if states.get(job_id) in ("FINISHED", "FAILED", "KILLED") or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert states == {job_id: "FINISHED"}
        unknown = results[1]
        assert unknown.error and isinstance(unknown.value, CEResponseError) and unknown.value.status == 404

        info = client.getJobsInfo(ids)
        assert not info[0].error and info[1].error
        assert info[0].value["state"] == "FINISHED" and info[0].value["ExitCode"] == 0  # type: ignore[index]
        listing = client.downloadListing(job_id, "")
        assert "out.txt" in listing["file"]

        delegation_id = client.createDelegation()
        listed = client.getDelegationsList()
        assert delegation_id in [d["id"] for d in listed]
        if stack_info["config"] == "token":
            assert {"id": delegation_id, "type": "jwt"} in listed
            with pytest.raises(ConfigurationError, match="create a new one"):
                client.renewDelegation(delegation_id)
        else:
            assert "BEGIN CERTIFICATE REQUEST" in client.renewDelegation(delegation_id)
            client.refreshDelegation(delegation_id)
            assert "BEGIN CERTIFICATE" in client.getDelegation(delegation_id)
        client.deleteDelegation(delegation_id)
        assert delegation_id not in [d["id"] for d in client.getDelegationsList()]

        cleaned = client.cleanJobs(ids)
        assert not cleaned[0].error and cleaned[1].error


def test_pyarcrest_api_on_rest_1_0(stack_info: dict[str, Any]) -> None:
    with _client(stack_info, version="1.0") as client:  # tokens work on 1.0 too
        assert isinstance(client, ARCRest_1_0)
        results = client.getJobsStatus(["nosuchjob001", "nosuchjob002"])
        assert [r.error for r in results] == [True, True]


def test_getclient_refuses_a_ce_whose_ca_is_not_trusted(stack_info: dict[str, Any], tmp_path: Path) -> None:
    other = make_pki(tmp_path / "other-ca")
    with pytest.raises(TransportError, match="TLS verification") as info:
        _client(stack_info, cadir=None, cafile=other.ca_file)
    assert info.value.transient is False
