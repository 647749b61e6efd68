"""The grid's credential conventions where a configuration names none (proxy, CA dir, WLCG token discovery)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from arc_intercede.cli import resolve_target
from arc_intercede.credentials.discovery import apply_conventions, discover_proxy, discover_token

UID = 4242424


def test_proxy_from_the_environment_or_tmp(tmp_path: Path) -> None:
    assert discover_proxy({"X509_USER_PROXY": "/x/p"}, UID).source == "$X509_USER_PROXY"  # type: ignore[union-attr]
    assert discover_proxy({}, UID) is None  # /tmp/x509up_u4242424 does not exist
    path = Path(f"/tmp/x509up_u{UID}")
    path.write_text("x")
    try:
        found = discover_proxy({}, UID)
        assert found is not None and found.value == str(path) and found.source == str(path)
    finally:
        path.unlink()


def test_bearer_token_discovery_order(tmp_path: Path) -> None:
    xdg = tmp_path / "run"
    xdg.mkdir()
    (xdg / f"bt_u{UID}").write_text("tok")
    env = {"BEARER_TOKEN": "secret-value", "BEARER_TOKEN_FILE": "/f", "XDG_RUNTIME_DIR": str(xdg)}
    first = discover_token(env, UID)
    assert first is not None and first.key == "token" and first.source == "$BEARER_TOKEN"
    assert "secret-value" not in first.note()
    del env["BEARER_TOKEN"]
    assert discover_token(env, UID).source == "$BEARER_TOKEN_FILE"  # type: ignore[union-attr]
    del env["BEARER_TOKEN_FILE"]
    found = discover_token(env, UID)
    assert found is not None and found.value == str(xdg / f"bt_u{UID}")
    assert found.source == f"$XDG_RUNTIME_DIR/bt_u{UID}"
    assert discover_token({}, UID) is None


def test_apply_conventions_fills_only_what_is_missing() -> None:
    env = {"X509_USER_PROXY": "/p.pem", "X509_CERT_DIR": "/ca", "BEARER_TOKEN": "t"}
    config: dict[str, object] = {"endpoint": "https://ce"}
    found = apply_conventions(config, env, UID)
    assert config["proxy"] == "/p.pem" and config["ca_dir"] == "/ca" and "token" not in config
    assert [d.source for d in found] == ["$X509_CERT_DIR", "$X509_USER_PROXY"]
    configured: dict[str, object] = {"endpoint": "https://ce", "ca_file": "/c.pem", "token_file": "/t"}
    assert apply_conventions(configured, env, UID) == [] and "proxy" not in configured
    token_only = {"endpoint": "https://ce", "ca_dir": "/ca"}
    assert [d.key for d in apply_conventions(token_only, {"BEARER_TOKEN": "t"}, UID)] == ["token"]


def test_the_cli_says_what_it_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, ca = tmp_path / "proxy.pem", tmp_path / "ca"
    ca.mkdir()
    monkeypatch.setenv("X509_USER_PROXY", str(proxy))
    monkeypatch.setenv("X509_CERT_DIR", str(ca))
    monkeypatch.setenv("ARC_INTERCEDE_CONFIG", str(tmp_path / "none.yaml"))
    args = argparse.Namespace(endpoint="https://ce.example:443/arex", client_config=None, config=None, ce=None)
    monkeypatch.delenv("ARC_INTERCEDE_CONFIG")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    target = resolve_target(args)
    assert target.config.proxy == proxy and target.config.ca_dir == ca
    assert [d.note() for d in target.discovered] == [f"ca_dir: {ca} ($X509_CERT_DIR)",
                                                     f"proxy: {proxy} ($X509_USER_PROXY)"]
