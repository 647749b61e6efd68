"""First contract tests: the arc-slurm stack itself, through pyarcrest over VERIFIED TLS.

pyarcrest's own HTTPClient is not used for connections (its proxy path disables verification and its
token path leaks the Authorization header through a shared default dict): the tests build the
HTTPSConnection themselves and hand it to ``ARCRest_1_1``.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from pyarcrest.arc import ARCRest_1_1
from pyarcrest.http import HTTPClient

from tests.stack import ssl_context as make_ssl_context

JOB_TIMEOUT_S = 150
TERMINAL = {"FINISHED", "FAILED", "KILLED", "WIPED"}
XRSL = (
    '&(executable="/bin/sh")(arguments="-c" "echo hello-$((6*7)); hostname")'
    '(stdout="out.txt")(stderr="err.txt")(outputfiles=("out.txt" "")("err.txt" ""))(queue="batch")'
    '(jobname="arc-intercede-stack-test")'
)
REFUSED_500 = (500, "User can't be assigned configuration")
SCOPE_403 = (403, "Operation is not allowed")


class _Rest11(ARCRest_1_1):
    """ARCRest_1_1 that never shares a headers/params dict between requests (pyarcrest mutates them)."""

    def _request(self, method, endpoint, headers=None, token=None, jsonData=None, data=None, params=None):
        return super()._request(method, endpoint, dict(headers or {}), token, jsonData, data, dict(params or {}))


def _endpoint(info: dict[str, Any]) -> tuple[str, int]:
    u = urlparse(info["endpoint"])
    return u.hostname or "localhost", u.port or 443


def _connection(info: dict[str, Any], ctx: ssl.SSLContext, host: str | None = None) -> http.client.HTTPSConnection:
    h, port = _endpoint(info)
    return http.client.HTTPSConnection(host or h, port, context=ctx, timeout=30)


def _client(info: dict[str, Any], *, token: str | None = None, proxy: str | None = None) -> _Rest11:
    """A pyarcrest REST 1.1 client over a verifying connection (client cert = proxy in proxy mode)."""
    ctx = make_ssl_context(info, client_cert=proxy)
    http_client = HTTPClient.__new__(HTTPClient)
    http_client.conn = _connection(info, ctx)
    http_client.isHTTPS = True
    return _Rest11(http_client, token=token, proxypath=proxy)


def _raw(
    info: dict[str, Any],
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
    client_cert: str | None = None,
) -> tuple[int, str, bytes]:
    """One request with fresh headers; returns (status, reason, body)."""
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    conn = _connection(info, make_ssl_context(info, client_cert=client_cert))
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.reason, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def credentials(stack_info: dict[str, Any]) -> dict[str, Any]:
    if stack_info["config"] == "proxy":
        return {"proxy": stack_info["proxy"]}
    return {"token": Path(stack_info["token_file"]).read_text().strip()}


@pytest.fixture(scope="module")
def rest(stack_info: dict[str, Any], credentials: dict[str, Any]):
    client = _client(stack_info, **credentials)
    yield client
    client.close()


@pytest.fixture(scope="module")
def finished_job(stack_info: dict[str, Any], rest: _Rest11) -> dict[str, Any]:
    """One real job through Slurm, polled to a terminal state (bounded)."""
    delegation = None
    if stack_info["config"] == "proxy":
        with warnings.catch_warnings():
            # pyarcrest 0.5's x509 code uses cryptography's deprecated naive-datetime properties
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pyarcrest\.")
            warnings.filterwarnings("ignore", message="Properties that return a na", category=Warning)
            delegation = rest.createDelegation()  # x509: CSR signed with the proxy
    # token config: no delegation needed for a job without data staging
    (result,) = rest.createJobs(XRSL, queue=stack_info["queue"], delegationID=delegation, isADL=False)
    assert not result.error, result.value
    job_id, state = result.value
    t0 = time.monotonic()
    seen = [state]
    while time.monotonic() - t0 < JOB_TIMEOUT_S:
        (st,) = rest.getJobsStatus([job_id])
        assert not st.error, st.value
        if st.value != seen[-1]:
            seen.append(st.value)
        if st.value in TERMINAL:
            break
        time.sleep(2)
    (info,) = rest.getJobsInfo([job_id])
    assert not info.error, info.value
    return {
        "id": job_id,
        "state": seen[-1],
        "states": seen,
        "seconds": time.monotonic() - t0,
        "info": info.value,
        "delegation": delegation,
    }


def _diagnose(rest: _Rest11, job_id: str, name: str) -> str:
    resp = rest._request("GET", f"/jobs/{job_id}/diagnose/{name}")
    text = resp.read().decode(errors="replace")
    assert resp.status == 200, (name, resp.status, text[:300])
    return text


# 1. version discovery over verified TLS ------------------------------------------------------------------------


def test_version_discovery_over_verified_tls(stack_info: dict[str, Any], ssl_context: ssl.SSLContext) -> None:
    assert ssl_context.verify_mode == ssl.CERT_REQUIRED and ssl_context.check_hostname
    conn = _connection(stack_info, ssl_context)
    try:
        conn.request("GET", "/arex/rest", headers={"Accept": "application/json"})
        resp = conn.getresponse()
        body = resp.read().decode()
    finally:
        conn.close()
    assert resp.status == 200, body
    versions = json.loads(body)["version"]
    versions = versions if isinstance(versions, list) else [versions]
    assert {"1.0", "1.1"} <= set(versions), versions


def test_system_trust_store_does_not_verify_the_stack(stack_info: dict[str, Any]) -> None:
    conn = _connection(stack_info, ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/arex/rest")
    conn.close()


def test_dialing_the_ip_fails_hostname_verification(stack_info: dict[str, Any], ssl_context: ssl.SSLContext) -> None:
    # the host cert's SAN holds only DNS:localhost: clients must dial "localhost"
    conn = _connection(stack_info, ssl_context, host="127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)hostname|IP address mismatch"):
        conn.request("GET", "/arex/rest")
    conn.close()


# 2. one real job through Slurm -----------------------------------------------------------------------------------


def test_job_through_slurm_finishes_with_stdout(rest: _Rest11, finished_job: dict[str, Any]) -> None:
    assert finished_job["state"] == "FINISHED", finished_job
    resp = rest._request("GET", f"/jobs/{finished_job['id']}/session/out.txt")
    out = resp.read().decode()
    assert resp.status == 200, out
    assert out.splitlines()[0] == "hello-42", out
    assert finished_job["info"]["ExitCode"] == 0, finished_job["info"]


def test_job_really_ran_in_slurm(stack_info: dict[str, Any], rest: _Rest11, finished_job: dict[str, Any]) -> None:
    local = _diagnose(rest, finished_job["id"], "local")
    assert re.search(r"^lrms=SLURM$", local, re.M), local
    m = re.search(r"^localid=(\d+)$", local, re.M)
    assert m, local
    slurm_id = m.group(1)
    errors = _diagnose(rest, finished_job["id"], "errors")
    assert f"local job id: {slurm_id}" in errors, errors[-2000:]
    # Slurm itself knows the job (MinJobAge=3600 keeps finished jobs visible)
    out = subprocess.run(
        [stack_info["runner"], "exec", "scontrol", "show", "job", slurm_id],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert "JobState=COMPLETED" in out.stdout and "Partition=batch" in out.stdout, out.stdout


# 3. ownership --------------------------------------------------------------------------------------------------------


def test_job_owner_is_the_authenticated_identity(stack_info: dict[str, Any], finished_job: dict[str, Any]) -> None:
    owner = finished_job["info"].get("Owner")
    expected = stack_info["token_owner"] if stack_info["config"] == "token" else stack_info["user_dn"]
    assert owner == expected, finished_job["info"]


# 4. token refusals (token config only) -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "mint_kwargs", "list_outcome", "submit_outcome"),
    [
        ("wrong audience", {"aud": "https://elsewhere.example:443"}, REFUSED_500, REFUSED_500),
        ("expired", {"lifetime": -60}, REFUSED_500, REFUSED_500),
        ("not yet valid", {"not_before_offset": 600}, REFUSED_500, REFUSED_500),
        ("untrusted issuer", {"issuer": "https://localhost:9999"}, REFUSED_500, REFUSED_500),
        ("missing compute.create", {"scope": "compute.read compute.modify compute.cancel"}, (200, "OK"), SCOPE_403),
        # ARC 7.0.0 quirk: a space-separated scope STRING is one value for tokenscopes=wlcg -> every op refused
        ("scope as a string", {"scope_format": "string"}, SCOPE_403, SCOPE_403),
    ],
)
def test_token_refusals(
    stack_info: dict[str, Any],
    mint_token,
    case: str,
    mint_kwargs: dict[str, Any],
    list_outcome: tuple[int, str],
    submit_outcome: tuple[int, str],
) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")
    token = mint_token(**mint_kwargs)
    status, reason, body = _raw(stack_info, "GET", "/arex/rest/1.1/jobs", token=token)
    assert (status, reason) == list_outcome, (case, status, reason, body[:200])
    status, reason, body = _raw(
        stack_info,
        "POST",
        "/arex/rest/1.1/jobs?action=new",
        token=token,
        body=b'&(executable="/bin/true")(queue="batch")',
        content_type="application/rsl",
    )
    assert (status, reason) == submit_outcome, (case, status, reason, body[:200])
    if submit_outcome == SCOPE_403:
        assert b"Token scopes do not match requires scopes" in body


def test_token_config_does_not_authorise_the_certificate(stack_info: dict[str, Any]) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")
    status, reason, _ = _raw(stack_info, "GET", "/arex/rest/1.1/jobs", client_cert=stack_info["proxy"])
    assert (status, reason) == REFUSED_500


def test_good_token_is_accepted(stack_info: dict[str, Any], mint_token) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")
    status, reason, body = _raw(stack_info, "GET", "/arex/rest/1.1/jobs", token=mint_token())
    assert (status, reason) == (200, "OK"), body[:200]
