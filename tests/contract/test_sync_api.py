"""arc_intercede.sync against the real ARC 7 CE: scripts, threads, running loops, typed errors, proxy freshness."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from arc_intercede import ConfigurationError, JobStatus
from arc_intercede.credentials import make_proxy
from arc_intercede.sync import ARCBackend, ProxyRenewal
from tests.contract.helpers import JOB_TIMEOUT_S, backend_config, shell_job


def _loop_threads() -> int:
    return sum(t.name == "arc-intercede-loop" for t in threading.enumerate())


def test_sync_submit_wait_fetch_print(client_config_path: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    with ARCBackend(client_config_path) as ce:
        batch = ce.submit_and_wait(shell_job("echo sync-$((6*7)); echo warn >&2"), count=2, poll_s=2,
                                   timeout_s=JOB_TIMEOUT_S)
        assert batch.ok, batch.problems
        assert set(batch.states.values()) == {JobStatus.DONE}
        outputs = ce.fetch_and_print(batch.ids, tmp_path, out=out)
        assert all(o.complete for o in outputs.values())
        assert ce.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}
        purged = ce.purge(batch.ids)
        assert all(o.ok for o in purged.values())
    text = out.getvalue()
    assert text.count("sync-42\n") == 2 and text.count("warn\n") == 2
    for job_id in batch.ids:
        assert f"== {job_id}: " in text


def test_sync_failed_job_is_a_problem_not_ok(client_config_path: Path) -> None:
    with ARCBackend(client_config_path) as ce:
        batch = ce.submit_and_wait(shell_job("exit 3"), poll_s=2, timeout_s=JOB_TIMEOUT_S)
        ce.purge(batch.ids)
    assert not batch.ok
    assert list(batch.problems.values()) == ["failed"]


def test_sync_from_threads_and_inside_a_running_loop(client_config_path: Path) -> None:
    before = _loop_threads()
    with ARCBackend(client_config_path) as ce:
        sub = ce.submit(shell_job("sleep 1"), count=2)
        assert sub.failures == {}
        ids = list(sub.ids.values())
        seen: list[Any] = []

        def poll() -> None:
            for _ in range(3):
                seen.append(ce.status(ids))

        threads = [threading.Thread(target=poll) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert len(seen) == 12 and all(set(s) == set(ids) for s in seen)
        assert _loop_threads() == before + 1

        async def notebook_cell() -> dict[str, JobStatus]:
            return ce.wait(ids, poll_s=2, timeout_s=JOB_TIMEOUT_S)

        final = asyncio.run(notebook_cell())
        assert set(final.values()) == {JobStatus.DONE}
        ce.purge(ids)
    assert _loop_threads() == before


def test_sync_errors_are_typed(client_config_path: Path, tmp_path: Path) -> None:
    empty_ca = tmp_path / "ca"
    empty_ca.mkdir()
    ce = ARCBackend(backend_config(client_config_path, ca_dir=empty_ca, ca_file=None))
    with pytest.raises(ConfigurationError, match=r"CA directory \(ca_dir\) .* holds no CA certificates"):
        ce.open()  # refused before any connection, naming the path
    ce.close()
    ce.close()


def test_sync_proxy_renewal_keeps_a_long_script_going(
    client_config_path: Path, stack_info: dict[str, Any], tmp_path: Path
) -> None:
    proxy = tmp_path / "proxy.pem"
    cert, key = Path(stack_info["usercert"]), Path(stack_info["userkey"])

    def expiry() -> dt.datetime:
        return x509.load_pem_x509_certificate(proxy.read_bytes()).not_valid_after_utc

    make_proxy(cert, key, proxy, valid=dt.timedelta(minutes=10))  # about to run out
    renewal = ProxyRenewal(cert=cert, key=key, lifetime=dt.timedelta(hours=2), threshold=dt.timedelta(hours=1))
    config = backend_config(client_config_path, proxy=proxy)
    with ARCBackend(config, proxy_renewal=renewal) as ce:
        assert expiry() > dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), "renewed before connecting"
        sub = ce.submit(shell_job("sleep 5; echo renewed"))
        assert sub.failures == {}
        delegation = ce.delegation_id
        make_proxy(cert, key, proxy, valid=dt.timedelta(minutes=10))  # runs out again mid-script
        states = ce.wait(list(sub.ids.values()), poll_s=2, timeout_s=JOB_TIMEOUT_S)
        assert expiry() > dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), "renewed before the next call"
        assert set(states.values()) == {JobStatus.DONE}
        assert ce.delegation_id == delegation  # renewed in place, not replaced
        again = ce.submit(shell_job("true"))
        assert again.failures == {}
        ce.purge([*sub.ids.values(), *again.ids.values()])
