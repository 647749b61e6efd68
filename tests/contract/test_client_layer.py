"""The client layer (per-version pyarcrest subclasses + facade) against the real CE."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from arc_intercede._rest import ClientSettings, ConnectionPool, Rest10, Rest11
from arc_intercede.config import ARCConfig, AuthMode
from arc_intercede.credentials import FileToken, make_ssl_context
from arc_intercede.descriptions.spec_xrsl import render_bulk, render_xrsl
from tests.contract.helpers import shell_job

BULK_IDS = 2_500


def _facade(cfg: ARCConfig, version: str | None) -> ConnectionPool:
    client_cert = cfg.proxy if cfg.auth_mode is AuthMode.PROXY else None
    settings = ClientSettings(
        host=cfg.host, port=cfg.port, api_base=cfg.api_base,
        ssl_context=make_ssl_context(ca_dir=cfg.ca_dir, ca_file=cfg.ca_file, client_cert=client_cert),
        connect_timeout_s=10, read_timeout_s=120,
        token_source=FileToken(cfg.token_file) if cfg.token_file else None,
    )
    return ConnectionPool(settings, max_connections=3, chunk_size=1000, api_version=version)


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_client_layer_end_to_end(client_config_path: Path, stack_info, version: str) -> None:
    cfg = ARCConfig.from_file(client_config_path)

    async def body() -> None:
        facade = _facade(cfg, version)
        await facade.open()
        try:
            assert facade.api_version == version
            versions = await facade.call(lambda c: c.api_versions(), "versions")
            assert {"1.0", "1.1"} <= set(versions)
            client_cls = await facade.call(lambda c: type(c), "type")
            assert issubclass(client_cls, Rest10 if version == "1.0" else Rest11)
            info = await facade.call(lambda c: c.ce_info(), "info")
            assert "Domains" in info

            delegation = None
            if cfg.auth_mode is AuthMode.PROXY:
                from arc_intercede.credentials import ProxyCredential

                proxy = ProxyCredential.load(cfg.proxy)
                delegation, csr = await facade.call(lambda c: c.new_delegation(), "new delegation")
                pem = proxy.sign_delegation(csr)
                await facade.call(lambda c: c.put_delegation(delegation, pem), "put delegation")
                listed = await facade.call(lambda c: c.delegation_ids(), "list delegations")
                assert delegation in listed

            job = render_xrsl(shell_job("echo bulk"), queue=cfg.queue, delegation_id=delegation)
            created = await facade.call(
                lambda c: c.create_jobs(render_bulk([job.text] * 3), queue=cfg.queue, delegation_id=delegation),
                "create",
            )
            assert [r.code for r in created] == [201, 201, 201], created
            real = [r.job_id for r in created]

            fakes = [uuid.uuid4().hex[:12] for _ in range(BULK_IDS)]
            ids = fakes[:1000] + real + fakes[1000:] + real[:1]  # a duplicate too
            states = await facade.bulk(ids, lambda c, chunk: c.job_status(chunk), lambda r: r.job_id, "status")
            assert set(states) == set(ids) and len(states) == BULK_IDS + 3
            assert all(states[f].code == 404 for f in fakes)
            assert all(states[r].code == 200 and states[r].value for r in real)
            infos = await facade.bulk(ids, lambda c, chunk: c.job_info(chunk), lambda r: r[0].job_id, "info")
            assert all(infos[f][1] is None for f in fakes)
            assert all(infos[r][1] is not None and infos[r][1].owner for r in real)

            killed = await facade.bulk(real, lambda c, chunk: c.job_action(chunk, "kill"), lambda r: r.job_id, "kill")
            assert all(r.code == 202 for r in killed.values()), killed
            cleaned = await facade.bulk(real + fakes[:5], lambda c, chunk: c.job_action(chunk, "clean"),
                                        lambda r: r.job_id, "clean")
            assert all(cleaned[f].code == 404 for f in fakes[:5])
            assert all(cleaned[r].code in (202, 505) for r in real), cleaned  # 505: still being killed
        finally:
            await facade.close()

    asyncio.run(body())
