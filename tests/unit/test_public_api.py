from __future__ import annotations

import asyncio
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import arc_intercede
from arc_intercede import ARCBackend, ARCConfig

CONFIG = {"endpoint": "https://ce.invalid:8443/arex", "ca_file": "/nonexistent/ca.pem", "token": "t0k3n"}


def test_all_is_sorted_and_complete() -> None:
    assert arc_intercede.__all__ == sorted(arc_intercede.__all__, key=str.casefold)
    assert [n for n in arc_intercede.__all__ if not hasattr(arc_intercede, n)] == []


def test_entry_point_resolves_to_backend() -> None:
    (ep,) = [e for e in entry_points(group="intercede.backends") if e.name == "arc"]
    assert ep.load() is ARCBackend


def test_import_does_no_io_and_no_arc_bindings() -> None:
    code = (
        "import sys, socket\n"
        "def deny(*a, **k): raise AssertionError('network at import')\n"
        "socket.socket.connect = deny\n"
        "import arc_intercede, arc_intercede.backend, arc_intercede.cli, arc_intercede.sync, arc_intercede.compat\n"
        "assert 'arc' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_construction_does_no_io_and_secrets_stay_out_of_repr() -> None:
    backend = ARCBackend(CONFIG)  # CA file does not exist, host does not resolve: no I/O yet
    assert "t0k3n" not in repr(backend) and "t0k3n" not in repr(backend.config)
    req = backend.credential_requirements
    assert req.kinds == {"token"} and req.audience == "https://ce.invalid:8443"
    assert "compute.create" in req.scopes


def test_use_before_open_and_after_close_raise() -> None:
    async def body() -> None:
        backend = ARCBackend(CONFIG)
        with pytest.raises(RuntimeError, match="not open"):
            await backend.status(["x"])
        await backend.aclose()
        await backend.aclose()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            await backend.status(["x"])
        with pytest.raises(RuntimeError, match="closed"):
            await backend.open()

    asyncio.run(body())


def test_open_with_missing_ca_is_a_configuration_error() -> None:
    async def body() -> None:
        with pytest.raises(arc_intercede.ConfigurationError, match="CA"):
            async with ARCBackend(CONFIG):
                pass

    asyncio.run(body())


def test_config_accepts_mapping_and_path(tmp_path) -> None:
    path = tmp_path / "ce.yaml"
    path.write_text("endpoint: https://ce.example:443/arex\nca_dir: ca\nproxy: proxy.pem\n")
    backend = ARCBackend(path)
    assert backend.config.ca_dir == tmp_path / "ca"
    assert ARCBackend(ARCConfig.from_file(path)).config == backend.config
    assert backend.credential_requirements.kinds == {"x509-proxy"}
