"""arc_intercede.config: validation with the offending key named, file loading, derived properties."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from arc_intercede.config import DEFAULT_SCOPES, ARCConfig, AuthMode, HoldPolicy, Limits
from arc_intercede.errors import ConfigurationError

SECRET = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0.sig"
BASE: dict[str, Any] = {"endpoint": "https://ce.example.org:8443/arex", "ca_dir": "/etc/grid-security/certificates",
                        "token": SECRET}


def cfg(**overrides: Any) -> ARCConfig:
    data = {**BASE, **overrides}
    return ARCConfig.from_mapping({k: v for k, v in data.items() if v is not None})


def test_from_mapping_happy_path() -> None:
    c = ARCConfig.from_mapping({
        **BASE, "queue": "grid", "scopes": "compute.read compute.create", "api_version": "1.1",
        "connect_timeout_s": 3, "read_timeout_s": 60.5, "max_connections": 8, "chunk_size": 500,
        "hold_policy": "kill", "hold_grace_s": 0, "limits": {"max_files": 10, "transfer_timeout_s": 30},
        "transfer_concurrency": 2, "audience": "https://wlcg.cern.ch/jwt/v1/any",
    })
    assert (c.host, c.port, c.api_base) == ("ce.example.org", 8443, "/arex")
    assert c.ca_dir == Path("/etc/grid-security/certificates")
    assert c.scopes == ("compute.read", "compute.create")
    assert c.connect_timeout_s == 3.0 and isinstance(c.connect_timeout_s, float)
    assert c.hold_policy is HoldPolicy.KILL
    assert c.limits == Limits(max_files=10, transfer_timeout_s=30)
    assert c.limits.max_total_bytes == 10 * 1024**3
    assert c.effective_audience == "https://wlcg.cern.ch/jwt/v1/any"


def test_defaults() -> None:
    c = ARCConfig(endpoint="https://ce.example.org/arex", ca_file=Path("/ca.pem"), token="t")
    assert c.port == 443 and c.queue is None and c.api_version is None
    assert c.scopes == DEFAULT_SCOPES == ("compute.create", "compute.read", "compute.modify", "compute.cancel")
    assert c.hold_policy is HoldPolicy.REPORT and c.limits == Limits()
    assert c.chunk_size <= 2000  # well under A-REX's 1 MiB id-list cap


def test_none_values_mean_default() -> None:
    assert cfg(queue=None).queue is None
    assert ARCConfig.from_mapping({**BASE, "queue": None, "limits": None}).limits == Limits()


@pytest.mark.parametrize(
    ("endpoint", "host", "port", "base", "audience"),
    [
        ("https://ce.example.org/arex", "ce.example.org", 443, "/arex", "https://ce.example.org:443"),
        ("https://ce.example.org:8443/arex/", "ce.example.org", 8443, "/arex", "https://ce.example.org:8443"),
        ("https://CE.Example.org", "ce.example.org", 443, "/arex", "https://ce.example.org:443"),
        ("https://ce:9000/custom/arex", "ce", 9000, "/custom/arex", "https://ce:9000"),
    ],
)
def test_endpoint_parts_and_default_audience(endpoint: str, host: str, port: int, base: str, audience: str) -> None:
    c = cfg(endpoint=endpoint)
    assert (c.host, c.port, c.api_base, c.effective_audience) == (host, port, base, audience)


def test_from_file_resolves_relative_paths(tmp_path: Path) -> None:
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    (conf_dir / "ce.yaml").write_text(
        "endpoint: https://ce.example.org/arex\n"
        "ca_file: certs/ca.pem\n"
        "token_file: ../tokens/bt\n"
        "proxy: /abs/x509up\n"
        "ca_dir: ~/certificates\n"
        "limits: {max_total_bytes: 1000}\n"
    )
    c = ARCConfig.from_file(conf_dir / "ce.yaml")
    assert c.ca_file == conf_dir / "certs" / "ca.pem"
    assert c.token_file == conf_dir / "../tokens/bt"
    assert c.proxy == Path("/abs/x509up")
    assert c.ca_dir == Path("~/certificates").expanduser()
    assert c.limits.max_total_bytes == 1000
    assert c.auth_mode is AuthMode.TOKEN_WITH_PROXY


def test_from_mapping_without_base_dir_keeps_relative_paths() -> None:
    assert cfg(ca_file="rel/ca.pem", ca_dir=None).ca_file == Path("rel/ca.pem")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("endpoint: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "mapping"),
        ("", "'endpoint' is required"),
        ("endpoint: https://ce/arex\nca_file: ca.pem\ntoken: t\nbogus: 1\n", "bogus"),
        ("endpoint: http://ce/arex\nca_file: ca.pem\ntoken: t\n", "endpoint"),
    ],
)
def test_from_file_errors_name_file_and_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "ce.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as info:
        ARCConfig.from_file(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_from_file_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read configuration"):
        ARCConfig.from_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"colour": "blue"}, "colour"),
        ({"max_connections": "4"}, "max_connections"),
        ({"max_connections": True}, "max_connections"),
        ({"chunk_size": 1.5}, "chunk_size"),
        ({"read_timeout_s": "fast"}, "read_timeout_s"),
        ({"connect_timeout_s": False}, "connect_timeout_s"),
        ({"queue": 7}, "queue"),
        ({"token": ["a"]}, "token"),
        ({"ca_file": 5}, "ca_file"),
        ({"scopes": [1, 2]}, "scopes"),
        ({"scopes": {"a": 1}}, "scopes"),
        ({"hold_policy": "ignore"}, "hold_policy"),
        ({"limits": 5}, "limits"),
        ({"limits": {"max_files": "many"}}, "limits.max_files"),
        ({"limits": {"max_bytes": 1}}, "max_bytes"),
        ({"limits": {"max_files": 0}}, "limits.max_files"),
        ({"limits": {"max_total_bytes": -1}}, "limits.max_total_bytes"),
        ({"limits": {"transfer_timeout_s": float("inf")}}, "limits.transfer_timeout_s"),
        ({"limits": {"transfer_timeout_s": float("nan")}}, "limits.transfer_timeout_s"),
        ({"endpoint": "http://ce.example.org/arex"}, "endpoint"),
        ({"endpoint": "ce.example.org:443/arex"}, "endpoint"),
        ({"endpoint": "https:///arex"}, "endpoint"),
        ({"endpoint": "https://ce:99999/arex"}, "endpoint"),
        ({"endpoint": "https://ce/arex?x=1"}, "endpoint"),
        ({"endpoint": "https://ce/arex#frag"}, "endpoint"),
        ({"endpoint": 443}, "endpoint"),
        ({"ca_dir": None}, "ca_dir"),
        ({"token": None}, "token"),
        ({"token_file": "/run/bt"}, "token_file"),
        ({"token": "   "}, "token"),
        ({"api_version": "2.0"}, "api_version"),
        ({"api_version": 1.1}, "api_version"),
        ({"max_connections": 0}, "max_connections"),
        ({"chunk_size": -5}, "chunk_size"),
        ({"chunk_size": 6000}, "chunk_size"),
        ({"read_timeout_s": 0}, "read_timeout_s"),
        ({"transfer_concurrency": 0}, "transfer_concurrency"),
        ({"hold_grace_s": -1}, "hold_grace_s"),
        ({"delegation_renew_margin_s": -1}, "delegation_renew_margin_s"),
    ],
)
def test_invalid_values_name_the_key(overrides: dict[str, Any], key: str) -> None:
    data = {**BASE, **overrides}
    data = {k: v for k, v in data.items() if v is not None or k not in overrides}
    with pytest.raises(ConfigurationError) as info:
        ARCConfig.from_mapping(data)
    assert key in str(info.value)
    assert not info.value.transient


def test_missing_credentials_named() -> None:
    with pytest.raises(ConfigurationError) as info:
        ARCConfig.from_mapping({"endpoint": BASE["endpoint"], "ca_dir": "/ca"})
    for key in ("token", "token_file", "proxy"):
        assert key in str(info.value)


def test_missing_endpoint_named() -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        ARCConfig.from_mapping({"ca_dir": "/ca", "token": "t"})


def test_not_a_mapping() -> None:
    with pytest.raises(ConfigurationError, match="mapping"):
        ARCConfig.from_mapping(["endpoint"])  # type: ignore[arg-type]


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ConfigurationError, match="endpoint"):
        ARCConfig(endpoint="http://ce/arex", ca_dir=Path("/ca"), token="t")
    with pytest.raises(ConfigurationError, match="max_files"):
        Limits(max_files=0)


@pytest.mark.parametrize(
    ("creds", "mode"),
    [
        ({"token": "t"}, AuthMode.TOKEN),
        ({"token_file": "/run/bt"}, AuthMode.TOKEN),
        ({"proxy": "/tmp/x509up_u1"}, AuthMode.PROXY),
        ({"token": "t", "proxy": "/p"}, AuthMode.TOKEN_WITH_PROXY),
        ({"token_file": "/run/bt", "proxy": "/p"}, AuthMode.TOKEN_WITH_PROXY),
    ],
)
def test_auth_mode_matrix(creds: dict[str, str], mode: AuthMode) -> None:
    c = ARCConfig.from_mapping({"endpoint": BASE["endpoint"], "ca_file": "/ca.pem", **creds})
    assert c.auth_mode is mode


def test_token_never_in_repr_or_str() -> None:
    c = cfg()
    assert SECRET not in repr(c) and SECRET not in str(c)
    assert c.token == SECRET


def test_frozen() -> None:
    c = cfg()
    with pytest.raises(AttributeError):
        c.queue = "other"  # type: ignore[misc]
