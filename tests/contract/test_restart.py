"""A-REX restarted in the middle of a bulk status poll and of a submission (real CE, real daemons).

The restart is ``chroot-stack arex stop`` then ``arex start``: the WS/REST interface goes away, the port
refuses, then A-REX comes back with its job state from disk. Shown: no id dropped or duplicated in any
answer, transport failures raised as transient whole-operation errors (never a job state), no job created
twice, every created job either reported or cancelled, and a normal answer on the next call.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import gc
import logging
import subprocess
import threading
import time
import uuid
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from arc_intercede import ARCBackend, CEResponseError, FileRef, JobStatus, TransportError
from arc_intercede.backend import SUBMIT_BATCH
from arc_intercede.contract import Submission
from tests.contract.helpers import backend_config, shell_job, wait_status, wait_terminal

# Known issue: in about one run in three, a TLS socket cut by the A-REX restart reaches the garbage
# collector unclosed (not reproduced under tracemalloc). It is no functional failure; these tests
# tolerate that warning only, and collect at teardown so it cannot surface in a later test.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


class Restarter:
    """Stops and restarts A-REX from a background thread, once, when :meth:`fire` is first called."""

    def __init__(self, runner: str) -> None:
        self.runner = runner
        self.fired = threading.Event()
        self.done = threading.Event()
        self.error: str | None = None
        self._thread: threading.Thread | None = None

    def fire(self) -> None:
        if self.fired.is_set():
            return
        self.fired.set()
        self._thread = threading.Thread(target=self._run, name="arex-restart", daemon=True)
        self._thread.start()

    def _arex(self, action: str) -> None:
        proc = subprocess.run([self.runner, "arex", action], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=240)
        if proc.returncode != 0:
            raise RuntimeError(f"chroot-stack arex {action}: {proc.stderr.strip()[-500:]}")

    def _run(self) -> None:
        try:
            self._arex("stop")
            time.sleep(2)
        except Exception as exc:  # reported by join()
            self.error = str(exc)
        try:
            self._arex("start")  # whatever happened: the next test needs A-REX
        except Exception as exc:
            self.error = f"{self.error}; {exc}" if self.error else str(exc)
        finally:
            self.done.set()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(300)
        assert self.error is None, self.error
        assert self.done.is_set() or not self.fired.is_set(), "A-REX restart did not finish"


class _OnRequest(logging.Handler):
    """Fires the restarter when the client logs the ``nth`` request whose line contains ``needle``."""

    def __init__(self, needle: str, nth: int, restarter: Restarter) -> None:
        super().__init__(logging.DEBUG)
        self.needle, self.left, self.restarter = needle, nth, restarter

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.left -= 1
            if self.left == 0:
                self.restarter.fire()


async def _listing_with(ce: ARCBackend, ids: Collection[str], within: float = 90.0) -> tuple[set[str], float]:
    """A-REX's job listing, re-read until it includes ``ids`` (it may omit jobs while A-REX recovers).

    Returns the last listing and how long it took; never fails: the listing is no oracle.
    """
    t0 = time.monotonic()
    while True:
        listed = set(await ce.jobs())
        if set(ids) <= listed or time.monotonic() - t0 > within:
            return listed, time.monotonic() - t0
        await asyncio.sleep(2)


async def _remove(ce: ARCBackend, ids: Collection[str]) -> None:
    """Kill and purge ``ids``, riding out the transient errors of a CE that has just restarted."""
    if not ids:
        return
    for attempt in range(10):
        try:
            left = set(ids)
            deadline = time.monotonic() + 600
            while left:  # a kill sent while A-REX recovers can be lost: send it again to what still runs
                await ce.kill(list(left))
                try:
                    await wait_terminal(ce, left, within=min(60.0, max(1.0, deadline - time.monotonic())))
                    left = set()
                except AssertionError:
                    if time.monotonic() >= deadline:
                        raise
                    left = {j for j, s in (await ce.status(list(left))).items() if not s.is_terminal}
            await ce.purge(list(ids))
            return
        except (TransportError, CEResponseError) as exc:
            if not exc.transient or attempt == 9:
                raise
            await asyncio.sleep(3)


@pytest.fixture
def restarter(stack_info: dict[str, Any]) -> Iterator[Restarter]:
    r = Restarter(stack_info["runner"])
    yield r
    try:
        r.join()
    finally:  # leave A-REX up for the next test whatever happened
        subprocess.run([stack_info["runner"], "arex", "start"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=240, check=True)
        gc.collect()  # anything this test's outage left for the collector goes now, under this module's filter


@contextlib.contextmanager
def _on_request(needle: str, nth: int, restarter: Restarter) -> Iterator[None]:
    log = logging.getLogger("arc_intercede._rest")
    handler, level = _OnRequest(needle, nth, restarter), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


def test_restart_mid_bulk_status_poll(client_config_path: Path, restarter: Restarter) -> None:
    """Poll 20 000 ids in small chunks while A-REX restarts: every answer is whole, every error transient."""

    async def body() -> None:
        cfg = backend_config(client_config_path, chunk_size=100, max_connections=2, connect_timeout_s=2.0)
        async with ARCBackend(cfg) as ce:
            real = list((await ce.submit(shell_job("sleep 600", tag="restart-poll"), count=3)).ids.values())
            await wait_status(ce, real, lambda s: s in {JobStatus.WAITING, JobStatus.RUNNING})
            try:
                ids = real + [uuid.uuid4().hex[:12] for _ in range(20_000 - len(real))]
                answers, errors = 0, collections.Counter[str]()
                restarter.fire()
                while not restarter.done.is_set():
                    try:
                        out = await ce.status(ids)
                    except (TransportError, CEResponseError) as exc:
                        assert exc.transient, f"non-transient error during a restart: {exc!r}"
                        errors[type(exc).__name__] += 1
                        await asyncio.sleep(0.5)
                        continue
                    answers += 1
                    assert len(out) == len(ids) and set(out) == set(ids)
                    for job_id in real:  # a CE outage is never turned into a job state
                        assert out[job_id] in {JobStatus.WAITING, JobStatus.RUNNING}, out[job_id]
                assert errors, "no poll saw the restart"
                out = await ce.status(ids)  # recovery: the first call after the restart is whole and right
                assert len(out) == len(ids)
                assert {out[i] for i in real} <= {JobStatus.WAITING, JobStatus.RUNNING}
                assert {out[i] for i in ids[len(real):]} == {JobStatus.UNKNOWN}
                logging.getLogger(__name__).info("%d whole answers, errors during the restart: %s", answers, errors)
            finally:  # never leave sleeping jobs to hold the batch system's slots
                await asyncio.to_thread(restarter.done.wait, 300)
                await _remove(ce, real)

    asyncio.run(body())


@pytest.mark.parametrize(("phase", "needle", "nth"), [
    ("first-create", "/jobs?action=new", 1),
    ("second-create", "/jobs?action=new", 2),
    ("upload", "/session/input.txt", 1),
])
def test_restart_mid_submission(client_config_path: Path, restarter: Restarter, tmp_path: Path, phase: str,
                                needle: str, nth: int) -> None:
    """A-REX goes down while 250 copies are created (3 requests) or their inputs uploaded.

    Nothing is created twice; every copy is reported once; a job the caller was told about exists; a job
    created but not reported was cancelled or is named in a failure, except those of the one creation
    request whose reply was lost (A-REX may or may not have created them: at most one request's worth).
    """
    count = 250
    data = tmp_path / "input.txt"
    data.write_text("x" * 1200)
    spec = shell_job("cat input.txt > /dev/null; sleep 600", tag=f"restart-{phase}-{uuid.uuid4().hex[:6]}")
    spec = dataclasses.replace(spec, input_sandbox=(FileRef(source=data, name="input.txt"),))

    async def body() -> None:
        async with ARCBackend(client_config_path) as direct:
            before = set(await direct.jobs())
            result: Submission | None = None
            async with ARCBackend(backend_config(client_config_path, connect_timeout_s=2.0)) as ce:
                await ce.status(["warmup000000"])
                with _on_request(needle, nth, restarter):
                    try:
                        result = await ce.submit(spec, count=count)
                    except (TransportError, CEResponseError) as exc:
                        assert exc.transient, exc
                await asyncio.to_thread(restarter.join)
                assert restarter.fired.is_set()
            reported = list(result.ids.values()) if result is not None else []
            # While A-REX recovers, its listing can omit jobs that exist: wait for it to catch up
            # (it only finds orphans and what to clean up); existence is asked per id below.
            listed, waited = await _listing_with(direct, reported)
            created = (listed - before) | set(reported)
            logging.getLogger(__name__).info("listing included every reported job after %.0f s: %s",
                                             waited, set(reported) <= listed)
            try:
                if result is not None:
                    assert set(result.ids) | set(result.failures) == set(range(count))
                    assert not set(result.ids) & set(result.failures)
                    assert len(set(reported)) == len(reported)  # no id handed out twice
                    states = await direct.status(reported)  # every reported job exists: asked per id
                    assert JobStatus.UNKNOWN not in states.values(), [j for j, s in states.items()
                                                                      if s is JobStatus.UNKNOWN]
                    orphans = created - set(reported)
                    # a created job not reported as a copy is either cancelled by the backend or named in
                    # its copy's failure (so the caller can clean it up): never left unknown and running
                    named = {j for j in orphans if any(j in why for why in result.failures.values())}
                    # the rest: cancelled by the backend, or created by the one request whose reply was lost
                    assert len(orphans - named) <= SUBMIT_BATCH, len(orphans - named)
                    logging.getLogger(__name__).info(
                        "%d copies created, %d failed, %d jobs not reported (%d named): failures e.g. %s",
                        len(result.ids), len(result.failures), len(orphans), len(named),
                        next(iter(result.failures.values()), ""))
                assert len(created) <= count  # never more jobs than copies asked for
            finally:
                await _remove(direct, created)

    asyncio.run(body())


def test_job_listing_during_recovery(client_config_path: Path, restarter: Restarter) -> None:
    """Record what A-REX's job listing does right after a restart; assert only what per-id calls show.

    Robust (asserted): every job is known per id (status and info) as soon as A-REX answers again.
    Recorded (logged): how many of the jobs the listing omits, and for how long.
    """
    log = logging.getLogger(__name__)

    async def body() -> None:
        cfg = backend_config(client_config_path, connect_timeout_s=2.0)
        async with ARCBackend(cfg) as ce:
            ours = list((await ce.submit(shell_job("sleep 600", tag="restart-listing"), count=5)).ids.values())
            try:
                await wait_status(ce, ours, lambda s: s in {JobStatus.WAITING, JobStatus.RUNNING})
                restarter.fire()
                await asyncio.to_thread(restarter.done.wait, 300)
                t0 = time.monotonic()
                samples: list[tuple[float, int]] = []
                while time.monotonic() - t0 < 90:
                    try:
                        await ce._open_pool().close_idle()
                        listed = set(await ce.jobs())
                        states = await ce.status(ours)
                        infos = await ce.info(ours)
                    except (TransportError, CEResponseError) as exc:
                        assert exc.transient, exc
                        await asyncio.sleep(1)
                        continue
                    assert JobStatus.UNKNOWN not in states.values(), states  # per id: always known
                    assert all(i is not None for i in infos.values())
                    samples.append((time.monotonic() - t0, len(set(ours) - listed)))
                    if set(ours) <= listed and len(samples) >= 3:
                        break
                    await asyncio.sleep(1)
                assert samples, "A-REX did not answer within 90 s of its restart"
                log.info("listing after restart: (seconds, jobs of %d missing) %s", len(ours), samples)
            finally:
                await _remove(ce, ours)

    asyncio.run(body())
