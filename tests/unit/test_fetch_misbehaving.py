"""fetch_output and the transport against a CE that misbehaves on purpose (real HTTPS on loopback).

One test (or a few) per way a CE can break a fetch: every id is answered, one job's trouble stays that
job's reason, nothing raw escapes, closing never blocks the event loop. Time and memory are asserted as
generous bounds only.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

import arc_intercede._rest.operations
from arc_intercede import (
    ARCBackend,
    ARCConfig,
    CEResponseError,
    CETimeoutError,
    FileRef,
    InterCEdeError,
    JobStatus,
    Limits,
    SubmissionSpec,
)
from arc_intercede.outputs import declared_outputs
from arc_intercede.transfer import REASON_CODES, reason_code
from tests.fake_arex import (
    endless_reply,
    json_stream,
    many_names,
    overlong,
    stall_closing,
    trickle,
    trickle_reply,
)


def _config(fake, *, limits: dict[str, Any] | None = None, **overrides: Any) -> ARCConfig:
    lim = {"max_total_bytes": 50 << 20, "max_files": 1000, "transfer_timeout_s": 60, **(limits or {})}
    return ARCConfig(endpoint=fake.endpoint, ca_file=fake.ca_file, token="t",
                     **{"read_timeout_s": 20, **overrides}, limits=Limits(**lim))


def _with_backend(fake, body: Callable[[ARCBackend], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        async with ARCBackend(_config(fake, **kw)) as ce:
            return await body(ce)

    return asyncio.run(main())


def _fetch(fake, ids: list[str], dest: Path, **kw: Any) -> Any:
    return _with_backend(fake, lambda ce: ce.fetch_output(ids, dest), **kw)


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _check_vocabulary(out: Any) -> None:
    for job_id, o in out.items():
        assert o.complete == (o.reason == ""), (job_id, o)
        if o.reason:
            assert reason_code(o.reason) in REASON_CODES, o.reason


# --- 1. bytes past Content-Length on a keep-alive connection ------------------------------------------------


def test_bytes_past_the_announced_end_are_that_jobs_trouble(fake, tmp_path: Path) -> None:
    bad = fake.add_job(files={"a.txt": overlong(b"A" * 100, b"HTTP/1.1 999 garbage\r\n" * 20), "b.txt": b"B"})
    good = fake.add_job(files={"c.txt": b"C"})
    # One connection: whatever the bad job leaves on it would reach the good job's requests.
    out = _fetch(fake, [bad, good, "nosuchjob999"], tmp_path / "dest", max_connections=1, transfer_concurrency=1)
    assert list(out) == [bad, good, "nosuchjob999"]
    assert out[good].complete and out[good].files["c.txt"].read_bytes() == b"C"
    assert out[bad].reason.startswith("protocol: "), out[bad]
    assert "a.txt" not in out[bad].files  # a member whose reply broke HTTP is never placed
    assert out[bad].log is not None
    _check_vocabulary(out)


def test_late_bytes_past_the_end_never_reach_another_request(fake, tmp_path: Path) -> None:
    bad = fake.add_job(files={"a.txt": overlong(b"A" * 100, b"junk\r\n" * 20, later_s=0.3), "b.txt": b"B"})
    good = fake.add_job(files={"c.txt": b"C"})
    out = _fetch(fake, [bad, good], tmp_path / "dest", max_connections=1, transfer_concurrency=1)
    assert out[good].complete
    assert out[bad].complete or reason_code(out[bad].reason) == "protocol", out[bad]
    _check_vocabulary(out)


# --- 2. a trickling chunked stream cut at the deadline -----------------------------------------------------------


def test_trickling_streams_cut_at_the_deadline_are_per_id_timeouts(fake, tmp_path: Path) -> None:
    jobs = [fake.add_job(files={"t.bin": trickle(b"t" * 50, 0.002)}) for _ in range(6)]
    good = fake.add_job(files={"g.txt": b"G"})
    for attempt in range(3):
        out = _fetch(fake, [*jobs, good], tmp_path / f"dest{attempt}", max_connections=16, transfer_concurrency=8,
                     limits={"transfer_timeout_s": 2})
        assert out[good].complete
        for job in jobs:
            assert out[job].reason.startswith("limit:timeout"), out[job]
            assert _files(tmp_path / f"dest{attempt}" / job) == []
        _check_vocabulary(out)


# --- 3. aclose() and the transfer deadline while a read is blocked ---------------------------------------------


def test_transfer_deadline_holds_while_a_read_is_blocked(fake, tmp_path: Path) -> None:
    slow = fake.add_job(files={"s.bin": stall_closing(b"x" * 1000, 1 << 20, stall_s=40)})
    good = fake.add_job(files={"g.txt": b"G"})
    t0 = time.monotonic()
    out = _fetch(fake, [slow, good], tmp_path / "dest", read_timeout_s=40, limits={"transfer_timeout_s": 3})
    assert time.monotonic() - t0 < 20  # the read timeout (40 s) was never waited for
    assert out[slow].reason.startswith("limit:timeout"), out[slow]
    assert out[good].complete


def test_aclose_during_a_blocked_read_is_prompt_and_never_blocks_the_loop(fake, tmp_path: Path) -> None:
    slow = fake.add_job(files={"s.bin": stall_closing(b"x" * 1000, 1 << 20, stall_s=40)})
    seen: dict[str, Any] = {}

    async def main() -> None:
        ce = ARCBackend(_config(fake, read_timeout_s=40))
        await ce.open()
        fetch = asyncio.create_task(ce.fetch_output([slow], tmp_path / "dest"))
        while not any(r.path.endswith("/s.bin") for r in fake.requests):  # noqa: ASYNC110 - a server thread's list
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the worker is now blocked reading s.bin
        gaps: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        t0 = time.monotonic()
        await ce.aclose()
        seen["aclose"] = time.monotonic() - t0
        try:
            seen["result"] = await asyncio.wait_for(fetch, 15)
        except (InterCEdeError, RuntimeError) as exc:
            seen["result"] = exc
        stop.set()
        await tick
        seen["gap"] = max(gaps)

    asyncio.run(main())
    assert seen["aclose"] < 5, seen  # measured well under 1 s; generous for a loaded machine
    assert seen["gap"] < 3, seen  # the event loop never waited for the blocked reader
    result = seen["result"]
    if isinstance(result, dict):
        assert not result[slow].complete and reason_code(result[slow].reason) in REASON_CODES


def test_cancelling_a_blocked_fetch_is_prompt_and_the_pool_recovers(fake, tmp_path: Path) -> None:
    slow = fake.add_job(files={"s.bin": stall_closing(b"x" * 1000, 1 << 20, stall_s=40)})
    running = fake.add_job("RUNNING")
    seen: dict[str, Any] = {}

    async def body(ce: ARCBackend) -> None:
        fetch = asyncio.create_task(ce.fetch_output([slow], tmp_path / "dest"))
        while not any(r.path.endswith("/s.bin") for r in fake.requests):  # noqa: ASYNC110 - a server thread's list
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the worker is now blocked reading s.bin
        t0 = time.monotonic()
        fetch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fetch
        seen["cancel"] = time.monotonic() - t0
        seen["status"] = await asyncio.wait_for(ce.status([running] * 3), 20)  # the pool still serves

    _with_backend(fake, body, read_timeout_s=40, max_connections=2)
    assert seen["cancel"] < 5, seen  # the loop never waited for the blocked reader
    assert seen["status"] == {running: JobStatus.RUNNING}


# --- 4. the CE log is reported whenever it was written ---------------------------------------------------------


def test_log_is_reported_when_the_listing_is_refused(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arc_intercede._rest.operations, "MAX_LISTING_BYTES", 10_000)
    job = fake.add_job(files={"a": b"x"})
    fake.listings[(job, "")] = {"file": [f"f{i:05d}" for i in range(5000)], "dir": []}
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert out.reason.startswith("limit:listing: "), out.reason
    assert out.log == tmp_path / "dest" / f"{job}.ce" / "errors" and out.log.read_text() == f"log of {job}\n"


# --- 5. listing memory ----------------------------------------------------------------------------------------------


def _peak(body: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = body()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_listing_announced_over_the_cap_is_refused_before_reading(fake, tmp_path: Path) -> None:
    job = fake.add_job()
    fake.listings[(job, "")] = json_stream(many_names(6_000_000), length=96 << 20)
    out, peak = _peak(lambda: _fetch(fake, [job], tmp_path / "dest")[job])
    assert out.reason.startswith("limit:listing: "), out.reason
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_listing_memory_is_bounded_by_max_files(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={f"n{i:09d}.dat": b"" for i in range(1000)})
    fake.listings[(job, "")] = json_stream(many_names(3_000_000))  # ~48 MB, chunked, under the cap
    out, peak = _peak(lambda: _fetch(fake, [job], tmp_path / "dest", limits={"max_files": 1000})[job])
    assert out.reason.startswith("limit:files: "), out.reason
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


# --- 6. local file-system trouble ------------------------------------------------------------------------------------


def test_dest_may_be_a_symlink_to_a_directory(fake, tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    job = fake.add_job(files={"a.txt": b"A"})
    out = _fetch(fake, [job], tmp_path / "link")[job]
    assert out.complete, out
    assert out.files["a.txt"] == tmp_path / "link" / job / "a.txt" and (real / job / "a.txt").read_bytes() == b"A"


def test_a_plain_file_where_the_log_folder_goes_is_that_jobs_local_io(fake, tmp_path: Path) -> None:
    job, other = fake.add_job(files={"a.txt": b"A"}), fake.add_job(files={"b.txt": b"B"})
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / f"{job}.ce").write_text("in the way")
    out = _fetch(fake, [job, other], dest)
    assert out[job].reason.startswith("local-io: "), out[job]
    assert out[job].files == {"a.txt": dest / job / "a.txt"} and out[job].log is None
    assert out[other].complete and out[other].log is not None


def test_a_write_failing_like_a_full_disk_is_that_jobs_local_io(fake, tmp_path: Path) -> None:
    big, small = fake.add_job(files={"big.bin": b"b" * (3 << 20)}), fake.add_job(files={"s.txt": b"S"})
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))  # writes past 1 MiB fail (EFBIG)
    try:
        out = _fetch(fake, [big, small], tmp_path / "dest")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert out[big].reason.startswith("local-io: "), out[big]
    assert out[big].files == {} and _files(tmp_path / "dest" / big) == []
    assert out[small].complete


def test_concurrent_fetches_of_one_job_into_one_dest(fake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    job = fake.add_job(files={"a.txt": b"A", "d/b.txt": b"B"})
    replace = os.replace

    def slow_replace(*args: Any, **kwargs: Any) -> None:  # widen the window between write and rename
        time.sleep(0.05)
        replace(*args, **kwargs)

    monkeypatch.setattr(os, "replace", slow_replace)

    async def body(ce: ARCBackend) -> list[Any]:
        return await asyncio.gather(*(ce.fetch_output([job], tmp_path / "dest") for _ in range(8)))

    results = _with_backend(fake, body, max_connections=8, transfer_concurrency=8)
    assert all(r[job].complete for r in results), [r[job].reason for r in results]
    assert _files(tmp_path / "dest") == sorted([f"{job}/a.txt", f"{job}/d/b.txt", f"{job}.ce/errors"])


# --- 8. declared outputs the job never wrote ------------------------------------------------------------------------


def test_declared_output_never_written_is_missing_output(fake, tmp_path: Path) -> None:
    job = fake.add_job(files={"out.txt": b"o", "err.txt": b"e", "a.dat": b"a", "res/x": b"x"})
    fake.jobs[job].diagnose = {"output": b"/out.txt\n/err.txt\n/a.dat\n/res/\n/never.dat\n/with\\ space.txt\n"
                                       b"/up.dat gsiftp://se.example.org/up.dat\n"}
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert not out.complete and out.reason.startswith("missing-output: "), out.reason
    assert "'never.dat'" in out.reason and "'with space.txt'" in out.reason and "up.dat" not in out.reason
    assert set(out.files) == {"a.dat", "res/x"}  # what is there is still in the manifest
    fake.jobs[job].diagnose = {"output": b"/out.txt\n/err.txt\n/res/\n"}
    again = _fetch(fake, [job], tmp_path / "dest2")[job]
    assert again.complete, again


def test_declared_gmlog_directory_is_not_a_missing_output(fake, tmp_path: Path) -> None:
    # A-REX declares the gmlog directory as an output ("/joblog") but keeps it out of the session
    # directory; its name is the "gmlog=" line of the job's "local" item (seen on ARC 7.0).
    job = fake.add_job(files={"o": b"hi\n"})
    fake.jobs[job].diagnose = {"output": b"/o\n/joblog\n", "local": b"globalid=x\ngmlog=joblog\nqueue=batch\n"}
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert out.complete, out.reason
    fake.jobs[job].diagnose = {"output": b"/o\n/joblog\n/lost\n", "local": b"gmlog=joblog\n"}
    again = _fetch(fake, [job], tmp_path / "dest2")[job]
    assert again.reason == "missing-output: declared but not in the session directory: 'lost'"


def test_declared_outputs_parse_like_arex_writes_them() -> None:
    text = "/out.txt\n/with\\ space\\\\and\\ backslash\n/dir/\n/up gsiftp://h/x\n\n/\n/@dynamic.list\n"
    assert declared_outputs(text) == ["out.txt", "with space\\and backslash", "dir/"]


# --- 9. ids that cannot be ARC job ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "  ", ".", "..", "a/b", "nul\x00"])
def test_impossible_ids_in_fetch_are_answered_locally(fake, tmp_path: Path, bad: str) -> None:
    job = fake.add_job(files={"a": b"A"})
    out = _fetch(fake, [job, bad], tmp_path / "dest")
    assert list(out) == [job, bad]
    assert out[job].complete and out[bad].reason.startswith("not-found: ")
    asked = [str(j["id"]) for r in fake.requests if r.method == "POST" and r.body
             for j in json.loads(r.body)["job"]]
    assert asked == [job]  # the impossible id never went to the CE
    assert all(r.path.count("/") <= 8 and "/jobs/" + bad + "/" not in r.path for r in fake.requests)


# --- 7. every reply body is capped, every request has a wall-clock deadline ----------------------------------------


def test_endless_version_reply_is_refused_with_bounded_memory(fake) -> None:
    fake.replies["GET rest"] = endless_reply()

    async def main() -> None:
        async with ARCBackend(_config(fake)):
            pass

    tracemalloc.start()
    try:
        with pytest.raises(CEResponseError, match="more than") as info:
            asyncio.run(main())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not info.value.transient
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("rule", ["POST jobs?new", "PUT session", "POST jobs?status"])
def test_endless_replies_are_refused(fake, tmp_path: Path, rule: str) -> None:
    status = {"POST jobs?new": 201, "PUT session": 200, "POST jobs?status": 201}[rule]
    data = tmp_path / "in.txt"
    data.write_text("x")

    async def body(ce: ARCBackend) -> Any:
        fake.replies[rule] = endless_reply(status)
        if rule == "POST jobs?new":
            return await ce.submit(SubmissionSpec(executable="/bin/true"))
        if rule == "POST jobs?status":
            return await ce.status(["abc"])
        return await ce.submit(SubmissionSpec(executable="/bin/cat", input_sandbox=(FileRef(source=data, name="in"),)))

    if rule == "PUT session":
        # the upload's reply is endless: that copy fails (and is cancelled), nothing hangs or grows
        sub = _with_backend(fake, body, upload_retry_s=0)
        assert sub.ids == {} and "more than" in sub.failures[0], sub
    else:
        with pytest.raises(CEResponseError, match="more than"):
            _with_backend(fake, body)


def test_unexpected_2xx_listing_body_is_capped(fake, tmp_path: Path) -> None:
    job = fake.add_job()
    fake.listings[(job, "")] = endless_reply(202)
    out = _fetch(fake, [job], tmp_path / "dest")[job]
    assert reason_code(out.reason) in ("limit:listing", "protocol") and "more than" in out.reason, out.reason


def test_a_trickling_reply_cannot_stretch_the_request_deadline(fake) -> None:
    fake.replies["POST jobs?status"] = trickle_reply(201, pause_s=0.3, total_s=60)
    t0 = time.monotonic()
    with pytest.raises(CETimeoutError, match="request deadline"):
        _with_backend(fake, lambda ce: ce.status(["abc"]), read_timeout_s=5, request_timeout_s=2)
    assert time.monotonic() - t0 < 20  # the CE would have kept it alive for 60 s


# --- 9. status/info/kill/purge/diagnostics: the map is always whole -------------------------------------------------


def test_status_with_an_id_the_ce_leaves_out(fake) -> None:
    good = [fake.add_job("RUNNING") for _ in range(3)]
    fake.leave_out = {good[1]}
    ids = [good[0], "", good[1], " ", good[2], ".."]

    async def body(ce: ARCBackend) -> Any:
        return (await ce.status(ids), await ce.info(ids), await ce.kill(ids), await ce.diagnostics(ids),
                await ce.purge(ids))

    status, info, kill, diags, purge = _with_backend(fake, body)
    for result in (status, info, kill, diags, purge):
        assert list(result) == ["" if i == "" else i for i in dict.fromkeys(ids)]
    assert [status[i] for i in good] == [JobStatus.RUNNING] * 3
    assert {status[i] for i in ("", " ", "..")} == {JobStatus.UNKNOWN}
    assert info[""] is None and not kill[""].ok and not diags[".."].found and not purge[" "].ok
    assert all(kill[i].ok for i in good)
    asked = [str(j["id"]) for r in fake.requests if r.method == "POST" and r.body
             for j in json.loads(r.body)["job"]]
    assert not {"", " ", ".."} & set(asked)
