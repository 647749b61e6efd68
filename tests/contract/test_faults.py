"""Fault injection between the backend and the real A-REX (loopback TCP proxy, TLS end to end)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from pathlib import Path

import pytest

from arc_intercede import (
    ARCBackend,
    ARCConfig,
    CETimeoutError,
    JobStatus,
    OutputSpec,
    SubmissionSpec,
    TransportError,
)
from tests.contract.helpers import shell_job, wait_terminal
from tests.faultproxy import FaultProxy, Faults


@pytest.fixture
def proxy(client_config_path: Path):
    cfg = ARCConfig.from_file(client_config_path)
    with FaultProxy((cfg.host, cfg.port)) as p:
        yield p


def _through(client_config_path: Path, proxy: FaultProxy, **overrides) -> ARCConfig:
    cfg = ARCConfig.from_file(client_config_path)
    return dataclasses.replace(cfg, endpoint=f"https://localhost:{proxy.port}{cfg.api_base}", **overrides)


def test_refused_connections_are_transient_and_recover(client_config_path: Path, proxy: FaultProxy) -> None:
    async def body() -> None:
        async with ARCBackend(_through(client_config_path, proxy)) as ce:
            proxy.faults = Faults(refuse=True)
            await ce._open_pool().close_idle()
            with pytest.raises(TransportError) as info:
                await ce.status(["nosuchjob001"])
            assert info.value.transient
            proxy.heal()
            await ce._open_pool().close_idle()
            assert await ce.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}

    asyncio.run(body())


def test_reset_mid_bulk_status_never_drops_an_id(client_config_path: Path, proxy: FaultProxy) -> None:
    ids = [uuid.uuid4().hex[:12] for _ in range(3000)]

    async def body() -> None:
        async with ARCBackend(_through(client_config_path, proxy, max_connections=1)) as ce:
            proxy.faults = Faults(reset_after=40_000)
            await ce._open_pool().close_idle()
            try:
                out = await ce.status(ids)
            except TransportError as exc:
                assert exc.transient
            else:  # the reset fell into a retried request: then the answer must be complete
                assert set(out) == set(ids)
            proxy.heal()
            await ce._open_pool().close_idle()
            out = await ce.status(ids)
            assert set(out) == set(ids) and set(out.values()) == {JobStatus.UNKNOWN}

    asyncio.run(body())


def test_reset_during_submission_creates_no_duplicate(client_config_path: Path, proxy: FaultProxy) -> None:
    tag = f"fault-{uuid.uuid4().hex[:8]}"

    async def body() -> None:
        async with ARCBackend(client_config_path) as direct:
            before = set(await direct.jobs())
            async with ARCBackend(_through(client_config_path, proxy)) as ce:
                await ce.status(["warmup000000"])
                proxy.faults = Faults(reset_after=0)  # the reply to the creation never arrives
                with pytest.raises(TransportError):
                    await ce.submit(shell_job("true", tag=tag))
                proxy.heal()
            created = set(await direct.jobs()) - before
            assert len(created) <= 1  # never sent twice; its fate was unknown to the caller
            if created:
                await wait_terminal(direct, created)
                await direct.purge(list(created))

    asyncio.run(body())


def test_truncated_download_is_never_complete(client_config_path: Path, proxy: FaultProxy, tmp_path: Path) -> None:
    spec = SubmissionSpec(executable="/bin/sh", arguments=("-c", "head -c 5000000 /dev/urandom > blob.bin"),
                          output_sandbox=OutputSpec(stdout=None, stderr=None, files=("blob.bin",)))

    async def body() -> None:
        async with ARCBackend(client_config_path) as direct:
            (job_id,) = (await direct.submit(spec)).ids.values()
            await wait_terminal(direct, [job_id])
            good = (await direct.fetch_output([job_id], tmp_path / "good"))[job_id]
            async with ARCBackend(_through(client_config_path, proxy, max_connections=1)) as ce:
                await ce.status([job_id])
                proxy.faults = Faults(truncate_after=1_000_000)
                await ce._open_pool().close_idle()
                # A cut stream is this job's reason, never a whole-call error.
                out = (await ce.fetch_output([job_id], tmp_path / "cut"))[job_id]
                assert not out.complete and out.reason.split(": ")[0] in ("truncated", "limit:timeout"), out
                leftovers = [p for p in (tmp_path / "cut").rglob("*") if p.is_file() and p.name != "errors"]
                assert leftovers == []  # nothing half-written under any name
                proxy.heal()
                await ce._open_pool().close_idle()  # connections opened under the fault keep it
                again = (await ce.fetch_output([job_id], tmp_path / "cut"))[job_id]
                assert again.complete
                digest = hashlib.sha256(again.files["blob.bin"].read_bytes()).hexdigest()
                assert digest == hashlib.sha256(good.files["blob.bin"].read_bytes()).hexdigest()
            await direct.purge([job_id])

    asyncio.run(body())


def test_slow_ce_within_and_beyond_the_read_timeout(client_config_path: Path, proxy: FaultProxy) -> None:
    async def body() -> None:
        cfg = _through(client_config_path, proxy, read_timeout_s=1.0, connect_timeout_s=1.0)
        async with ARCBackend(cfg) as ce:
            proxy.faults = Faults(delay=0.3)
            await ce._open_pool().close_idle()
            assert await ce.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}
            proxy.faults = Faults(delay=3.0)
            await ce._open_pool().close_idle()
            with pytest.raises(CETimeoutError):
                await ce.status(["nosuchjob001"])
            proxy.heal()
            await ce._open_pool().close_idle()
            assert await ce.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}

    asyncio.run(body())
