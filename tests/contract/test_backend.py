"""The interCEde contract against the real ARC 7 CE (A-REX + Slurm), in the selected config."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from arc_intercede import (
    ARCBackend,
    ConfigurationError,
    CredentialError,
    FileRef,
    JobStatus,
    OutputSpec,
    Resources,
    SubmissionSpec,
)
from tests.contract.helpers import backend_config, shell_job, wait_status, wait_terminal


def test_submit_status_done_and_fetch(client_config_path: Path, tmp_path: Path) -> None:
    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit(shell_job("echo hello-$((6*7)); echo oops >&2"))
            assert sub.failures == {}
            (job_id,) = sub.ids.values()
            states = await wait_terminal(ce, [job_id])
            assert states[job_id] is JobStatus.DONE
            out = (await ce.fetch_output([job_id], tmp_path))[job_id]
            assert out.complete, out.reason
            assert out.stdout is not None and out.stdout.read_text() == "hello-42\n"
            assert out.stderr is not None and out.stderr.read_text() == "oops\n"
            assert out.log is not None and out.log.stat().st_size > 0
            info = (await ce.info([job_id]))[job_id]
            assert info is not None and info.exit_code == 0
            await ce.purge([job_id])

    asyncio.run(body())


def test_bulk_submit_with_input_file_keeps_copy_order(client_config_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "input.txt"
    data.write_text("payload-ü\n")
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\ncat input.txt\n")
    spec = SubmissionSpec(
        executable="run.sh",
        input_sandbox=(FileRef(name="run.sh", source=script), FileRef(name="input.txt", source=data)),
        output_sandbox=OutputSpec(stdout="out.txt", stderr="err.txt"),
    )

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit(spec, count=3)
            assert sub.failures == {}
            assert sorted(sub.ids) == [0, 1, 2]
            assert len(set(sub.ids.values())) == 3
            states = await wait_terminal(ce, list(sub.ids.values()))
            assert set(states.values()) == {JobStatus.DONE}
            outs = await ce.fetch_output(list(sub.ids.values()), tmp_path / "out")
            for out in outs.values():
                assert out.stdout is not None and out.stdout.read_text() == "payload-ü\n"
            await ce.purge(list(sub.ids.values()))

    asyncio.run(body())


def test_count_with_creation_failures_reports_every_copy(client_config_path: Path) -> None:
    spec = shell_job("true", resources=Resources(queue="no-such-queue"))

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit(spec, count=2)
            assert sub.ids == {}
            assert sorted(sub.failures) == [0, 1]
            assert all("queue" in reason.lower() for reason in sub.failures.values()), sub.failures

    asyncio.run(body())


def test_counts_move_when_jobs_queue(client_config_path: Path) -> None:
    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            before = await ce.counts()
            sub = await ce.submit(shell_job("sleep 120"), count=4)  # more jobs than the node's CPUs
            ids = list(sub.ids.values())
            try:
                deadline = time.monotonic() + 120
                seen = before
                while time.monotonic() < deadline:
                    seen = await ce.counts()
                    if seen.running >= 1 and seen.running + seen.waiting >= before.running + before.waiting + 3:
                        break
                    await asyncio.sleep(3)
                else:
                    raise AssertionError(f"counts did not move: before {before}, last {seen}")
            finally:
                await ce.kill(ids)
                await wait_terminal(ce, ids)
                await ce.purge(ids)

    asyncio.run(body())


def test_diagnostics_before_and_after_completion(client_config_path: Path) -> None:
    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit(shell_job("sleep 20; exit 3"))
            (job_id,) = sub.ids.values()
            fake = uuid.uuid4().hex[:12]
            early = await ce.diagnostics([job_id, fake])
            assert early[job_id].found and not early[fake].found
            assert early[fake].reason and early[fake].files == {}
            await wait_status(ce, [job_id], lambda s: s is JobStatus.RUNNING)
            live = (await ce.diagnostics([job_id]))[job_id]
            assert "errors" in live.files, sorted(live.files)  # the CE's job log, while running
            states = await wait_terminal(ce, [job_id])
            late = (await ce.diagnostics([job_id]))[job_id]
            assert "diag" in late.files, sorted(late.files)
            info = (await ce.info([job_id]))[job_id]
            assert info is not None
            assert states[job_id] is JobStatus.FAILED or info.exit_code == 3, (states, info)
            await ce.purge([job_id])

    asyncio.run(body())


HOSTILE = (
    'double "quoted"', "single 'quoted'", "(paren) [bracket] {brace}", "$HOME ${PATH} $(id)",
    "`uname`", "semi; amp & pipe | redirect > x", "tab\there", "back\\slash", "caret ^ tilde ~ star *",
    "xml <a href='x'>&amp;</a>", "unicode é ✓ 日本", "(* not a comment *)", "", " leading space",
    'mixed "\'` $', "percent %s %n", "hash # bang !",
)


def test_hostile_arguments_and_environment_round_trip(client_config_path: Path, tmp_path: Path) -> None:
    program = (
        "import json, os, sys; "
        "json.dump({'argv': sys.argv[1:], 'env': os.environ.get('HOSTILE_VALUE')},"
        " open('result.json', 'w', encoding='utf-8'))"
    )
    spec = SubmissionSpec(
        executable="/usr/bin/python3",
        arguments=("-c", program, *HOSTILE),
        environment={"HOSTILE_VALUE": "".join(HOSTILE)},
        output_sandbox=OutputSpec(stdout="o.txt", stderr="e.txt", files=("result.json",)),
        tag="hostile-values",
    )

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit(spec, count=2)  # "(*" in a value: one description per request
            assert sub.failures == {} and len(sub.ids) == 2
            ids = list(sub.ids.values())
            states = await wait_terminal(ce, ids)
            outs = await ce.fetch_output(ids, tmp_path)
            for job_id in ids:
                out = outs[job_id]
                assert states[job_id] is JobStatus.DONE, (out.stderr and out.stderr.read_text())
                result = json.loads(out.files["result.json"].read_text(encoding="utf-8"))
                assert result["argv"] == list(HOSTILE)
                assert result["env"] == "".join(HOSTILE)
            await ce.purge(ids)

    asyncio.run(body())


def test_line_breaks_are_refused_before_anything_is_submitted(client_config_path: Path) -> None:
    async def body() -> None:
        tag = f"line-breaks-{uuid.uuid4().hex[:12]}"
        async with ARCBackend(client_config_path) as ce:
            before = set(await ce.jobs())
            for spec in (SubmissionSpec(executable="/bin/echo", arguments=("two\nlines",), tag=tag),
                         SubmissionSpec(executable="/bin/true", environment={"X": "a\r\nb"}, tag=tag)):
                with pytest.raises(ConfigurationError, match="line breaks"):
                    await ce.submit(spec)
            # The listing also moves with other tests' jobs (created ones appear late, purged ones go):
            # a job of ours would carry the tag as its name.
            new = sorted(set(await ce.jobs()) - before)
            infos = await ce.info(new) if new else {}
            ours = [job for job, info in infos.items() if info is not None and info.raw.get("Name") == tag]
            assert not ours, f"refused specs created jobs {ours}"

    asyncio.run(body())


def test_library_example_through_entry_point(client_config_path: Path) -> None:
    code = f"""
import asyncio
from importlib.metadata import entry_points
from arc_intercede import SubmissionSpec, JobStatus
(ep,) = [e for e in entry_points(group="intercede.backends") if e.name == "arc"]
Backend = ep.load()

async def main():
    async with Backend({str(client_config_path)!r}) as ce:
        sub = await ce.submit(SubmissionSpec(executable="/bin/sleep", arguments=("300",)), count=2)
        ids = list(sub.ids.values())
        print("states", sorted(s.value for s in (await ce.status(ids)).values()))
        print("kill", all(o.ok for o in (await ce.kill(ids)).values()))
        while not all(s.is_terminal for s in (await ce.status(ids)).values()):
            await asyncio.sleep(2)
        print("purge", all(o.ok for o in (await ce.purge(ids)).values()))

asyncio.run(main())
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "kill True" in proc.stdout and "purge True" in proc.stdout, proc.stdout


def test_wrong_audience_or_expired_token_is_a_credential_error(stack_info, client_config_path, mint_token,
                                                                tmp_path: Path) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")
    wrong_aud = mint_token(aud="https://elsewhere.example:443")
    expired = mint_token(lifetime=-60)

    async def body(token: str) -> None:
        async with ARCBackend(backend_config(client_config_path, token_file=None, token=token)) as ce:
            with pytest.raises(CredentialError):
                await ce.status(["abcdef123456"])
            with pytest.raises(CredentialError):
                await ce.submit(shell_job("true"))

    asyncio.run(body(wrong_aud))
    asyncio.run(body(expired))


def test_refreshed_token_file_is_picked_up(stack_info, client_config_path, mint_token, tmp_path: Path) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")
    token_file = tmp_path / "token"
    token_file.write_text(mint_token(lifetime=-60))

    async def body() -> None:
        async with ARCBackend(backend_config(client_config_path, token_file=token_file)) as ce:
            assert ce.credential_requirements.audience == "https://localhost:8443"
            with pytest.raises(CredentialError):
                await ce.jobs()
            token_file.write_text(mint_token())
            await ce.jobs()  # the same backend now works with the fresh token

    asyncio.run(body())


def test_token_with_delegated_proxy(stack_info, client_config_path: Path) -> None:
    if stack_info["config"] != "token":
        pytest.skip("token configuration only")

    async def body() -> None:
        cfg = backend_config(client_config_path, proxy=Path(stack_info["proxy"]))
        async with ARCBackend(cfg) as ce:
            assert ce.credential_requirements.kinds == {"token", "x509-proxy"}
            sub = await ce.submit(shell_job("true"))
            (job_id,) = sub.ids.values()
            assert ce.delegation_id is not None
            states = await wait_terminal(ce, [job_id])
            info = (await ce.info([job_id]))[job_id]
            assert info is not None and info.owner == stack_info["token_owner"]
            assert states[job_id] is JobStatus.DONE, info
            assert "ProxyExpirationTime" in info.raw, info.raw  # the job holds the delegated proxy
            await ce.purge([job_id])

    asyncio.run(body())


def test_delegation_reused_and_renewed(stack_info, client_config_path: Path, short_proxy, tmp_path: Path) -> None:
    if stack_info["config"] != "proxy":
        pytest.skip("proxy configuration only")
    proxy = tmp_path / "proxy.pem"
    short_proxy(proxy, "10M")

    async def body() -> None:
        cfg = backend_config(client_config_path, proxy=proxy, delegation_renew_margin_s=3600)
        async with ARCBackend(cfg) as ce:
            first = await ce.submit(shell_job("true"))
            delegation = ce.delegation_id
            first_expiry = ce._delegator.expires
            second = await ce.submit(shell_job("true"))
            assert ce.delegation_id == delegation  # reused: nothing fresher to delegate
            assert ce._delegator.expires == first_expiry
            short_proxy(proxy, "2H")  # the user renews the proxy file
            third = await ce.submit(shell_job("true"))
            assert ce.delegation_id == delegation  # same delegation, renewed in place
            assert ce._delegator.expires > first_expiry
            ids = [*first.ids.values(), *second.ids.values(), *third.ids.values()]
            states = await wait_terminal(ce, ids)
            assert set(states.values()) == {JobStatus.DONE}
            await ce.purge(ids)

    asyncio.run(body())


def test_resources_reach_the_ce_in_the_right_units(client_config_path: Path) -> None:
    spec = shell_job("true", resources=Resources(cpus=1, memory_mb=300, wall_time_s=5400))

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            (job_id,) = (await ce.submit(spec)).ids.values()
            await wait_terminal(ce, [job_id])
            info = (await ce.info([job_id]))[job_id]
            assert info is not None
            assert info.raw.get("RequestedTotalWallTime") == "5400", info.raw  # seconds, not minutes
            await ce.purge([job_id])

    asyncio.run(body())
