"""The synchronous API (arc_intercede.sync) on the loopback fake CE: one loop, threads, running loops, close."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import io
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import ConfigurationError, CredentialError, JobStatus, SubmissionSpec
from arc_intercede.backend import ARCBackend as AsyncARCBackend
from arc_intercede.credentials import make_proxy
from arc_intercede.sync import ARCBackend, BatchResult, ProxyRenewal, WaitTimeoutError, _Sync
from tests.fake_arex import PKI, FakeAREX

LOOP_THREAD = "arc-intercede-loop"


def _config(ce: FakeAREX, pki: PKI, **extra: Any) -> dict[str, Any]:
    return {"endpoint": ce.endpoint, "ca_file": str(pki.ca_file), "token": "t", "read_timeout_s": 10, **extra}


def _loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == LOOP_THREAD]


def test_every_async_method_has_a_sync_twin_with_its_signature() -> None:
    lifecycle = {"open", "aclose", "__aenter__", "__aexit__"}
    wanted = {n for n, f in inspect.getmembers(AsyncARCBackend, inspect.iscoroutinefunction)
              if not n.startswith("_") and n not in lifecycle}
    have = {n for n, v in vars(ARCBackend).items() if isinstance(v, _Sync)}
    assert wanted == have
    ce = ARCBackend({"endpoint": "https://ce.invalid:8443/arex", "ca_file": "/x", "token": "t"})
    for name in wanted:
        sync_sig = inspect.signature(getattr(ce, name))
        async_params = list(inspect.signature(getattr(AsyncARCBackend, name)).parameters.values())[1:]
        assert list(sync_sig.parameters.values()) == async_params, name
        assert getattr(ce, name).__doc__ == getattr(AsyncARCBackend, name).__doc__


def test_construction_does_no_io_and_starts_no_thread() -> None:
    before = len(_loop_threads())
    ce = ARCBackend({"endpoint": "https://ce.invalid:8443/arex", "ca_file": "/nonexistent", "token": "t0k3n"})
    assert len(_loop_threads()) == before
    assert "t0k3n" not in repr(ce)
    with pytest.raises(RuntimeError, match="not open"):
        ce.status(["x"])


def test_many_threads_share_one_loop_and_no_asyncio_run(ce: FakeAREX, pki: PKI, monkeypatch) -> None:
    made = []
    real_new_loop = asyncio.new_event_loop

    def counting_new_loop() -> asyncio.AbstractEventLoop:
        loop = real_new_loop()
        made.append(loop)
        return loop

    def no_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("asyncio.run() called")

    monkeypatch.setattr(asyncio, "new_event_loop", counting_new_loop)
    monkeypatch.setattr(asyncio, "run", no_run)
    jobs = [ce.add_job("RUNNING") for _ in range(5)]
    results: list[Any] = []
    errors: list[BaseException] = []
    before = len(_loop_threads())

    with ARCBackend(_config(ce, pki)) as backend:
        def worker() -> None:
            try:
                for _ in range(5):
                    results.append(backend.status(jobs))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(_loop_threads()) == before + 1
        assert backend.api_version == "1.1"
    assert errors == []
    assert len(results) == 40
    assert all(r == dict.fromkeys(jobs, JobStatus.RUNNING) for r in results)
    assert len(made) == 1, "one event loop for the backend's whole life"
    assert ce.count("GET rest") == 1, "the API version is negotiated once"
    assert len(_loop_threads()) == before, "close() stops the loop thread"


def test_calls_work_inside_a_running_event_loop(ce: FakeAREX, pki: PKI) -> None:
    job = ce.add_job("FINISHED")

    async def notebook_cell() -> tuple[Any, bool]:
        caller_loop = asyncio.get_running_loop()
        with ARCBackend(_config(ce, pki)) as backend:
            states = backend.status([job, "nosuchjob001"])
            return states, backend._loop is not caller_loop

    states, other_loop = asyncio.run(notebook_cell())
    assert states == {job: JobStatus.DONE, "nosuchjob001": JobStatus.UNKNOWN}
    assert other_loop


def test_close_is_idempotent_and_use_after_close_raises(ce: FakeAREX, pki: PKI) -> None:
    before = len(_loop_threads())
    backend = ARCBackend(_config(ce, pki)).open()
    assert backend.open() is backend  # idempotent while open
    backend.close()
    backend.close()
    assert len(_loop_threads()) == before
    with pytest.raises(RuntimeError, match="closed"):
        backend.status(["x"])
    with pytest.raises(RuntimeError, match="closed"):
        backend.open()
    ARCBackend(_config(ce, pki)).close()  # never opened: fine too


def test_errors_propagate_typed_and_a_failed_open_can_be_retried(ce: FakeAREX, pki: PKI, tmp_path: Path) -> None:
    before = len(_loop_threads())
    ca = tmp_path / "ca.pem"
    backend = ARCBackend(_config(ce, pki, ca_file=str(ca)))
    with pytest.raises(ConfigurationError, match="CA"):
        backend.open()
    assert len(_loop_threads()) == before, "a failed open leaves no thread behind"
    ca.write_bytes(pki.ca_file.read_bytes())
    with backend:
        ce.require_token = "another-token"
        with pytest.raises(CredentialError) as info:
            backend.status(["x"])
        assert info.value.transient is False
        ce.require_token = None
        assert backend.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}


def test_close_ends_a_call_running_in_another_thread(ce: FakeAREX, pki: PKI) -> None:
    job = ce.add_job("RUNNING")
    ce.delay["POST jobs?status"] = 60
    backend = ARCBackend(_config(ce, pki, read_timeout_s=120)).open()
    outcome: list[BaseException | object] = []

    def call() -> None:
        try:
            outcome.append(backend.status([job]))
        except BaseException as exc:
            outcome.append(exc)

    t = threading.Thread(target=call)
    t.start()
    deadline = time.monotonic() + 30
    while ce.count("POST jobs?status") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    backend.close()
    t.join(30)
    assert not t.is_alive()
    assert time.monotonic() - started < 30  # far below the 60 s the CE would take
    (err,) = outcome
    assert isinstance(err, RuntimeError) and "closed" in str(err)


def test_calling_back_from_the_loop_thread_raises_instead_of_deadlocking(ce: FakeAREX, pki: PKI) -> None:
    with ARCBackend(_config(ce, pki)) as backend:
        async def callback_like() -> None:
            backend.status(["x"])

        assert backend._loop is not None
        future = asyncio.run_coroutine_threadsafe(callback_like(), backend._loop)
        with pytest.raises(RuntimeError, match="own event-loop thread"):
            future.result(30)
        assert backend.status(["nosuchjob001"]) == {"nosuchjob001": JobStatus.UNKNOWN}


def test_wait_treats_unknown_as_final(ce: FakeAREX, pki: PKI) -> None:
    done, failed = ce.add_job("FINISHED"), ce.add_job("FAILED")
    with ARCBackend(_config(ce, pki)) as backend:
        states = backend.wait([done, failed, "nosuchjob001", done], poll_s=0.1, timeout_s=60)
    assert states == {done: JobStatus.DONE, failed: JobStatus.FAILED, "nosuchjob001": JobStatus.UNKNOWN}


def test_wait_times_out_with_the_last_states(ce: FakeAREX, pki: PKI) -> None:
    running, done = ce.add_job("RUNNING"), ce.add_job("FINISHED")
    with ARCBackend(_config(ce, pki)) as backend, pytest.raises(WaitTimeoutError) as info:
        backend.wait([running, done], poll_s=0.1, timeout_s=0.5)
    assert info.value.states == {running: JobStatus.RUNNING, done: JobStatus.DONE}
    assert "1 of 2" in str(info.value)


def test_wait_retries_a_transient_poll_failure(ce: FakeAREX, pki: PKI) -> None:
    job = ce.add_job("FINISHED")
    ce.fail["POST jobs?status"] = (503, "Service Unavailable")
    with ARCBackend(_config(ce, pki)) as backend:
        threading.Timer(0.5, lambda: ce.fail.clear()).start()
        assert backend.wait([job], poll_s=0.1, timeout_s=60) == {job: JobStatus.DONE}
    assert ce.count("POST jobs?status") >= 2


def test_submit_and_wait_reports_failed_jobs(ce: FakeAREX, pki: PKI) -> None:
    def finish_new_jobs() -> None:  # the fake CE's jobs stay ACCEPTING: play the batch system
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(ce.jobs) < 2:
            time.sleep(0.05)
        with ce.lock:
            first, second = list(ce.jobs.values())[:2]
            first.state, second.state = "FINISHED", "FAILED"

    threading.Thread(target=finish_new_jobs, daemon=True).start()
    with ARCBackend(_config(ce, pki)) as backend:
        result = backend.submit_and_wait(SubmissionSpec(executable="/bin/true"), count=2, poll_s=0.1, timeout_s=60)
    assert isinstance(result, BatchResult)
    assert len(result.ids) == 2 and result.submission.failures == {}
    assert not result.ok
    assert list(result.problems.values()) == ["failed"]


def test_fetch_and_print_says_which_jobs_are_incomplete(ce: FakeAREX, pki: PKI, tmp_path: Path) -> None:
    job = ce.add_job("FINISHED", files={"result.txt": b"42\n"})
    out = io.StringIO()
    with ARCBackend(_config(ce, pki)) as backend:
        outputs = backend.fetch_and_print([job, "nosuchjob001"], tmp_path, out=out)
    assert outputs[job].complete and not outputs["nosuchjob001"].complete
    text = out.getvalue()
    assert f"== {job}: 1 file(s) in {tmp_path / job}" in text
    assert "== nosuchjob001: incomplete:" in text


def _short_proxy(pki: PKI, path: Path, minutes: int) -> dt.datetime:
    return make_proxy(pki.cert_file, pki.key_file, path, valid=dt.timedelta(minutes=minutes)).not_after


def test_proxy_renewal_regenerates_before_expiry_and_renews_the_delegation(
    ce: FakeAREX, pki: PKI, tmp_path: Path
) -> None:
    proxy = tmp_path / "proxy.pem"
    renewal = ProxyRenewal(cert=pki.cert_file, key=pki.key_file, lifetime=dt.timedelta(hours=2),
                           threshold=dt.timedelta(minutes=30))
    with ARCBackend(_config(ce, pki, proxy=str(proxy)), proxy_renewal=renewal) as backend:
        assert proxy.is_file(), "a missing proxy is made before connecting"
        backend.submit(SubmissionSpec(executable="/bin/true"))
        assert backend.delegation_id is not None
        stamp = proxy.stat().st_mtime_ns
        backend.status(["x"])
        assert proxy.stat().st_mtime_ns == stamp, "a fresh proxy is left alone"
        short = _short_proxy(pki, proxy, minutes=10)  # inside the threshold
        renews = ce.count("POST delegations?renew")
        backend.status(["x"])
        from cryptography import x509

        now = x509.load_pem_x509_certificate(proxy.read_bytes()).not_valid_after_utc
        assert now > short + dt.timedelta(hours=1)
        assert ce.count("POST delegations?renew") == renews + 1, "running jobs get the new proxy"


def test_proxy_renewal_needs_a_proxy_path_and_a_sane_threshold(ce: FakeAREX, pki: PKI) -> None:
    with pytest.raises(ConfigurationError, match="proxy"):
        ARCBackend(_config(ce, pki), proxy_renewal=ProxyRenewal())
    with pytest.raises(ConfigurationError, match="threshold"):
        ProxyRenewal(lifetime=dt.timedelta(hours=1), threshold=dt.timedelta(hours=2))


def test_readme_programs_compile_and_use_this_api() -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```$", readme, re.M | re.S)
    for block in blocks:
        compile(block, "README.md", "exec")
    assert any("from arc_intercede.sync import ARCBackend" in b and "submit_and_wait" in b for b in blocks)
