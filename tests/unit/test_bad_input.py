"""Bad input and credentials through the library: every mistake a clear, bounded error, no secret in it.

The backend runs against the fake A-REX on loopback (tests/fake_arex.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import ARCBackend, ARCConfig, JobStatus, SubmissionSpec
from arc_intercede.cli.jobstore import JobStore
from arc_intercede.config import describe, load_yaml
from arc_intercede.credentials import FileToken, ProxyError, StaticToken, check_token, make_proxy, token_expiry
from arc_intercede.descriptions.yaml_jobspec import JobSpecError, build_spec, load_jobspec
from arc_intercede.errors import ConfigurationError, CredentialError, LocalCredentialError
from arc_intercede.jobids import normalise_id, normalise_ids
from tests.fake_arex import PKI, FakeAREX
from tests.unit.test_tls import user_credentials

SECRET = "s3cr3t-T0KEN-value"


def run(cfg: ARCConfig, body: Any) -> Any:
    async def main() -> Any:
        async with ARCBackend(cfg) as backend:
            return await body(backend)

    return asyncio.run(main())


# --- item 1: a token with a line break ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [f"{SECRET}\r\nX-Evil: 1", f"{SECRET}\nsecond-line", f"{SECRET} x", f"{SECRET}\x00",
                                 f"{SECRET}é"])
def test_token_with_line_break_is_a_credential_error_naming_only_its_source(
        pki: PKI, ce: FakeAREX, tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bt"
    path.write_text(bad, encoding="utf-8")
    path.chmod(0o600)
    cfg = ARCConfig(endpoint=ce.endpoint, ca_file=pki.ca_file, token_file=path)
    with pytest.raises(LocalCredentialError) as info:
        run(cfg, lambda b: b.jobs())
    assert str(path) in str(info.value) and SECRET not in str(info.value)
    assert SECRET not in repr(info.value) and all(SECRET not in str(e) for e in _chain(info.value))
    assert ce.requests == [] or all("Authorization" not in r.headers for r in ce.requests)
    with pytest.raises(ConfigurationError) as cfg_info:  # inline in a configuration
        ARCConfig(endpoint=ce.endpoint, ca_file=pki.ca_file, token=bad)
    assert SECRET not in str(cfg_info.value) and "token" in str(cfg_info.value)
    with pytest.raises(LocalCredentialError) as static:
        StaticToken(bad).token()
    assert SECRET not in str(static.value)


def _chain(exc: BaseException | None) -> list[BaseException]:
    out = []
    while exc is not None:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def test_check_token_accepts_jwt_characters() -> None:
    token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.abc-_~+/="
    assert check_token(token, "x") == token
    with pytest.raises(LocalCredentialError, match="x is empty"):
        check_token("", "x")


def test_token_expiry_reads_jwt_exp_only() -> None:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"exp": 2000000000}).encode()).rstrip(b"=").decode()
    assert token_expiry(f"aGVhZA.{payload}.sig") == dt.datetime.fromtimestamp(2000000000, dt.UTC)
    assert token_expiry("opaque-token") is None
    assert token_expiry("a.!!!.c") is None
    assert token_expiry("a." + base64.urlsafe_b64encode(b'{"exp": "soon"}').decode() + ".c") is None


# --- item 4: permissions -----------------------------------------------------------------------------------------


def test_private_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    cert, key = user_credentials(tmp_path)
    key.chmod(0o644)
    with pytest.raises(ProxyError, match=r"accessible by group or others \(mode 0644\).*chmod 600"):
        make_proxy(cert, key, tmp_path / "proxy.pem")
    key.chmod(0o640)
    with pytest.raises(ProxyError, match="mode 0640"):
        make_proxy(cert, key, tmp_path / "proxy.pem")
    assert not (tmp_path / "proxy.pem").exists()
    key.chmod(0o600)
    make_proxy(cert, key, tmp_path / "proxy.pem")


def test_exposed_credential_files_are_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "arc_intercede")
    token = tmp_path / "bt"
    token.write_text("tok")
    token.chmod(0o644)
    assert FileToken(token).token() == "tok"
    cert, key = user_credentials(tmp_path)
    proxy = make_proxy(cert, key, tmp_path / "x509up").path
    proxy.chmod(0o640)
    from arc_intercede.credentials import ProxyCredential

    ProxyCredential.load(proxy)
    cfg = tmp_path / "ce.yaml"
    cfg.write_text(f"endpoint: https://ce.example/arex\nca_dir: /x\ntoken: {SECRET}\n")
    cfg.chmod(0o644)
    ARCConfig.from_file(cfg)
    plain = tmp_path / "plain.yaml"
    plain.write_text(f"endpoint: https://ce.example/arex\nca_dir: /x\ntoken_file: {token}\n")
    plain.chmod(0o644)
    ARCConfig.from_file(plain)  # no secret inside: no warning
    text = caplog.text
    assert f"token file {token} is readable by others (mode 0644)" in text
    assert f"proxy file {proxy} is readable by its group (mode 0640)" in text
    assert f"configuration file with an inline token {cfg} is readable by others" in text
    assert str(plain) not in text and SECRET not in text
    caplog.clear()
    FileToken(token).token()  # same file version: warned once
    assert caplog.text == ""


# --- item 8: user information in the endpoint --------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [f"https://user:{SECRET}@ce.example/arex", f"https://ce.example:443@{SECRET}/arex",
                                      f"https://{SECRET}@ce.example:8443/arex"])
def test_endpoint_with_user_information_is_refused_without_echo(endpoint: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ARCConfig(endpoint=endpoint, ca_dir=Path("/x"), token="t")
    assert "user information" in str(info.value) and SECRET not in str(info.value)


# --- item 9: bounded values in messages --------------------------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, n in zip("abcde", "bcdef", strict=True))  # f: 10^6 leaves; repr of it is megabytes


def test_alias_bomb_in_config_values_gives_a_short_message(tmp_path: Path) -> None:
    for key in ("hold_policy", "crl_policy", "connect_timeout_s", "endpoint"):
        path = tmp_path / "ce.yaml"
        path.write_text(BOMB + f"endpoint: https://ce.example/arex\nca_dir: /x\ntoken: t\n{key}: *f\n"
                        .replace("endpoint: https://ce.example/arex\n", "" if key == "endpoint" else
                                 "endpoint: https://ce.example/arex\n"))
        data = load_yaml(path.read_text())
        data = {k: v for k, v in data.items() if k not in "abcdef"}
        with pytest.raises(ConfigurationError) as info:
            ARCConfig.from_mapping(data)
        assert key in str(info.value) and len(str(info.value)) < 200


@pytest.mark.parametrize("field", ["cpus", "memory_mb", "count", "wall_time", "tag"])
def test_alias_bomb_in_jobspec_values_gives_a_short_message(tmp_path: Path, field: str) -> None:
    data = load_yaml(BOMB)
    with pytest.raises(JobSpecError) as info:
        build_spec({"executable": "/bin/true", field: data["f"]}, base_dir=tmp_path)
    assert field in str(info.value) and len(str(info.value)) < 200
    with pytest.raises(JobSpecError) as info:
        build_spec({"executable": "/bin/true", "inputs": [{"source": "x", "executable": data["f"]}]},
                   base_dir=tmp_path)
    assert "executable" in str(info.value) and len(str(info.value)) < 200


def test_describe_is_bounded() -> None:
    assert describe(10**5000) == "an integer of 16610 bits"
    assert describe("x" * 1000).endswith("(1000 characters)") and len(describe("x" * 1000)) < 80
    assert describe([1] * 10) == "a list" and describe({"a": 1}) == "a mapping" and describe(1.5) == "1.5"
    with pytest.raises(JobSpecError, match="cpus: expected a positive integer, got an integer of"):
        build_spec({"executable": "/bin/true", "cpus": -(10**5000)}, base_dir=Path())
    with pytest.raises(JobSpecError, match="wall_time"):
        build_spec({"executable": "/bin/true", "wall_time": "9" * 5000}, base_dir=Path())
    with pytest.raises(JobSpecError, match="wall_time"):
        build_spec({"executable": "/bin/true", "wall_time": float("inf")}, base_dir=Path())
    with pytest.raises(ConfigurationError, match="max_connections must be a positive number, got an integer"):
        ARCConfig(endpoint="https://ce.example/arex", ca_dir=Path("/x"), token="t", max_connections=-(10**5000))


# --- item 10: corrupt job list lines -----------------------------------------------------------------------------


def test_job_list_skips_any_unparseable_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "jobs.jsonl"
    good = {"job_id": "j1", "ce": "c", "endpoint": "https://ce/arex", "submitted": "t"}
    lines = [json.dumps(good), '{"job_id": "j2", "ce": ' + "9" * 5000 + "}",  # > 4300 digits
             "[" * 100000 + "]" * 100000,  # deeper than the recursion limit
             '{"job_id": "j3", "ce": ' + "[" * 500 + "]" * 500 + ', "endpoint": "e"}',
             '{"job_id": "j4", "ce": "c", "endpoint": "e", "tag": {"x": 1}}',
             json.dumps({**good, "job_id": "j5"})]
    path.write_text("\n".join(lines) + "\n")
    caplog.set_level(logging.WARNING, "arc_intercede")
    assert [r.job_id for r in JobStore(path).records()] == ["j1", "j5"]
    assert caplog.text.count("skipping") == 4


# --- item 11: the spec is validated before the CE is touched -------------------------------------------------------


def test_invalid_spec_creates_no_delegation(pki: PKI, ce: FakeAREX, tmp_path: Path) -> None:
    cert, key = user_credentials(tmp_path)
    proxy = make_proxy(cert, key, tmp_path / "x509up").path
    cfg = ARCConfig(endpoint=ce.endpoint, ca_file=pki.ca_file, token="t", proxy=proxy)
    spec = SubmissionSpec(executable="/bin/echo", arguments=("bad\x00nul",))
    with pytest.raises(ConfigurationError, match="NUL characters"):
        run(cfg, lambda b: b.submit(spec))
    assert ce.count("POST delegations?new") == 0 and ce.count("POST jobs?new") == 0
    assert run(cfg, lambda b: b.submit(SubmissionSpec(executable="/bin/true"))).failures == {}
    assert ce.count("POST delegations?new") == 1


# --- item 12: small gaps ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["https://ce.example:0/arex", "https://ce.example:/arex"])
def test_port_zero_or_empty_is_refused(endpoint: str) -> None:
    with pytest.raises(ConfigurationError, match="port must be 1-65535"):
        ARCConfig(endpoint=endpoint, ca_dir=Path("/x"), token="t")


def test_limits_counts_must_be_integers() -> None:
    with pytest.raises(ConfigurationError, match=r"limits.max_files must be an integer, got 1.5"):
        ARCConfig.from_mapping({"endpoint": "https://ce/arex", "ca_dir": "/x", "token": "t",
                                "limits": {"max_files": 1.5}})
    with pytest.raises(ConfigurationError, match=r"limits.max_total_bytes must be an integer"):
        ARCConfig.from_mapping({"endpoint": "https://ce/arex", "ca_dir": "/x", "token": "t",
                                "limits": {"max_total_bytes": 1e9}})
    from arc_intercede.config import Limits

    with pytest.raises(ConfigurationError, match="max_files must be an integer"):
        Limits(max_files=2.5)  # type: ignore[arg-type]
    assert Limits(transfer_timeout_s=1.5).transfer_timeout_s == 1.5


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ce.yaml"
    path.write_text("endpoint: https://a/arex\nca_dir: /x\ntoken: t\nendpoint: https://b/arex\n")
    with pytest.raises(ConfigurationError, match=r"duplicate key 'endpoint' \(line 4, column 1\)"):
        ARCConfig.from_file(path)
    path.write_text("executable: /bin/true\ncpus: 2\ncpus: 4\n")
    with pytest.raises(JobSpecError, match="duplicate key 'cpus'"):
        load_jobspec(path)
    path.write_text("limits: {max_files: 1, max_files: 2}\n")
    with pytest.raises(Exception, match="duplicate key 'max_files'"):
        load_yaml(path.read_text())
    assert load_yaml("a: &x {b: 1}\nc:\n  <<: *x\n  b: 2\n") == {"a": {"b": 1}, "c": {"b": 2}}  # merge keys


def test_non_utf8_config_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "ce.yaml"
    path.write_bytes(b"endpoint: https://ce/arex\nqueue: \xff\xfe\n")
    with pytest.raises(ConfigurationError, match="not a UTF-8 text file"):
        ARCConfig.from_file(path)


# --- item 13: job URLs and whitespace -------------------------------------------------------------------------------

EP = "https://ce.example.org/arex"


@pytest.mark.parametrize(("given", "want"), [
    ("abc123", "abc123"), ("  abc123\n", "abc123"),
    ("https://ce.example.org:443/arex/abc123", "abc123"), ("https://ce.example.org/arex/abc123/", "abc123"),
    ("https://CE.example.org/arex/rest/1.0/jobs/abc123", "abc123"),
    ("https://ce.example.org:443/arex/rest/1.1/jobs/abc123/", "abc123"),
    (" https://ce.example.org/arex/abc%20123 ", "abc 123")])
def test_normalise_id(given: str, want: str) -> None:
    assert normalise_id(given, EP) == want


@pytest.mark.parametrize(("given", "fragment"), [
    ("https://other.example.org/arex/abc123", "belongs to another CE (other.example.org:443)"),
    ("https://ce.example.org:8443/arex/abc123", "another CE"),
    ("https://ce.example.org/other/abc123", "not under this CE's A-REX path /arex"),
    ("https://ce.example.org/arex/", "names no job"),
    ("https://ce.example.org/arex/a/b", "names no job"),
    ("ftp://ce.example.org/arex/abc", "not a job id"),
    (f"https://u:{SECRET}@ce.example.org/arex/abc", "user information")])
def test_normalise_id_refuses_foreign_urls(given: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        normalise_id(given, EP)
    assert fragment in str(info.value) and SECRET not in str(info.value)
    with pytest.raises(ConfigurationError, match="not one string"):
        normalise_ids("abc", EP)


def test_backend_accepts_job_urls_and_stray_whitespace(pki: PKI, ce: FakeAREX) -> None:
    done, running = ce.add_job("FINISHED"), ce.add_job("RUNNING")
    cfg = ARCConfig(endpoint=ce.endpoint, ca_file=pki.ca_file, token="t")
    url = f"https://localhost:{ce.port}/arex/{done}"
    rest = f"https://localhost:{ce.port}/arex/rest/1.0/jobs/{running}"

    async def body(b: ARCBackend) -> Any:
        states = await b.status([url, f" {done}\n", rest, "nosuchjob"])
        kills = await b.kill([rest])
        diags = await b.diagnostics([url])
        infos = await b.info([f"{done} "])
        with pytest.raises(ConfigurationError, match="another CE"):
            await b.status([f"https://elsewhere:{ce.port}/arex/{done}"])
        return states, kills, diags, infos

    states, kills, diags, infos = run(cfg, body)
    # Keyed by every id exactly as given; ids naming the same job share its answer.
    assert states == {url: JobStatus.DONE, f" {done}\n": JobStatus.DONE, rest: JobStatus.RUNNING,
                      "nosuchjob": JobStatus.UNKNOWN}
    assert list(kills) == [rest] and kills[rest].ok
    assert list(diags) == [url] and diags[url].found
    assert list(infos) == [f"{done} "] and infos[f"{done} "] is not None
    poll = next(r for r in ce.requests if r.method == "POST" and r.body and b"nosuchjob" in r.body)
    assert poll.body.count(done.encode()) == 1  # one job, asked once


# --- item 14 (library side): proxy trouble is a clear local credential error ----------------------------------------


def test_proxy_problems_are_local_credential_errors(pki: PKI, ce: FakeAREX, tmp_path: Path) -> None:
    cert, key = user_credentials(tmp_path)
    expired = make_proxy(cert, key, tmp_path / "old", valid=dt.timedelta(minutes=1),
                         now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).path
    cases = {tmp_path / "absent": "not found: make a new one with 'arc-intercede proxy'",
             cert: "holds a certificate but no private key: it is not a proxy",
             expired: "expired at"}
    for path, fragment in cases.items():
        cfg = ARCConfig(endpoint=ce.endpoint, ca_file=pki.ca_file, proxy=path)
        with pytest.raises(LocalCredentialError) as info:
            run(cfg, lambda b: b.jobs())
        assert fragment in str(info.value) and "arc-intercede proxy" in str(info.value)
        assert isinstance(info.value, CredentialError) and not info.value.transient
