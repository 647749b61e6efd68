"""A backend kept open while its proxy file is renewed keeps working past the first proxy's expiry (real A-REX).

Proxy configuration only: the proxy is the TLS client certificate. Proxies come from the stack's test CA
(``chroot-stack proxy --validity 2M``); the test waits for the first one to expire (about two minutes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import ARCBackend, JobStatus
from arc_intercede.credentials import ProxyCredential
from arc_intercede.errors import LocalCredentialError
from tests.contract.helpers import backend_config, shell_job, wait_terminal


def test_renewed_proxy_file_is_used_past_the_first_proxys_expiry(
        stack_info: dict[str, Any], client_config_path: Path, short_proxy: Any, tmp_path: Path) -> None:
    if stack_info["config"] != "proxy":
        pytest.skip("proxy configuration only")
    renewed, stale = tmp_path / "renewed.pem", tmp_path / "stale.pem"
    short_proxy(renewed, "2M")
    short_proxy(stale, "2M")
    first_expiry = max(ProxyCredential.load(renewed).not_after, ProxyCredential.load(stale).not_after)

    async def body() -> None:
        async with ARCBackend(backend_config(client_config_path, proxy=renewed)) as ce, \
                ARCBackend(backend_config(client_config_path, proxy=stale)) as old:
            (first,) = (await ce.submit(shell_job("true"))).ids.values()
            assert await old.jobs() is not None
            short_proxy(renewed, "2H")  # the user renews the proxy file; `stale` is left to expire
            wait = (first_expiry - dt.datetime.now(dt.UTC)).total_seconds() + 5
            await asyncio.sleep(max(0.0, wait))
            assert dt.datetime.now(dt.UTC) > first_expiry
            # A creation request always opens a new connection: it must present the renewed proxy.
            (second,) = (await ce.submit(shell_job("true"))).ids.values()
            states = await wait_terminal(ce, [first, second])
            assert states == {first: JobStatus.DONE, second: JobStatus.DONE}
            assert {first, second} <= set(await ce.jobs())
            await ce.purge([first, second])
            with pytest.raises(LocalCredentialError) as info:  # the backend whose file was not renewed
                await old.jobs()
            assert "expired at" in str(info.value) and "arc-intercede proxy" in str(info.value)
            assert info.value.transient is False

    asyncio.run(body())
