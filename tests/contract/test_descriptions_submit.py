"""xRSL/ADL files submitted to the real A-REX through ``submit_descriptions``: run, fetch, recorded job info."""

from __future__ import annotations

import asyncio
from pathlib import Path

from arc_intercede import ARCBackend, JobStatus
from arc_intercede.descriptions.prepare import load_descriptions
from tests.contract.helpers import wait_terminal

# ARC's own example (src/hed/libs/compute/examples/helloworld.xrsl), with a local script and data file.
HELLO = """&
(executable = "run.sh")
(arguments = "data.txt" "Hello World")
(inputfiles = ("data.txt" ""))
(stdout = "std.out")
(join = "yes")(* Join stdout and stderr into stdout*)
(cputime = 1)
(walltime = "5 minutes")
(jobname = "Hello World")
(outputfiles = ("result" ""))
(gmlog = "joblog")(* Grid manager log files should be included when retrieving job results (arcget) *)
"""


def test_documented_xrsl_with_local_inputs_runs_and_fetches(client_config_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "run.sh").write_text('#!/bin/sh\ncat "$1"; echo "$2" > result; echo err >&2\n')
    (src / "data.txt").write_text("data (* not a comment *) ü\n")
    (src / "hello.xrsl").write_text(HELLO)
    (job,) = load_descriptions(src / "hello.xrsl")

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            sub = await ce.submit_descriptions([job])
            assert sub.failures == {}
            (job_id,) = sub.ids.values()
            states = await wait_terminal(ce, [job_id])
            assert states[job_id] is JobStatus.DONE
            info = (await ce.info([job_id]))[job_id]
            assert info is not None and info.exit_code == 0
            raw = {k.lower(): v for k, v in info.raw.items()}
            assert str(raw.get("name")) == "Hello World"
            assert int(str(raw.get("requestedtotalwalltime"))) == 300  # 5 minutes, user side
            assert int(str(raw.get("requestedtotalcputime"))) == 60  # bare 1 = one minute
            out = (await ce.fetch_output([job_id], tmp_path / "out"))[job_id]
            assert out.complete, out.reason
            assert out.stdout is not None
            assert out.stdout.read_text() == "data (* not a comment *) ü\nerr\n"  # join: stderr into std.out
            assert out.files["result"].read_text() == "Hello World\n"
            await ce.purge([job_id])

    asyncio.run(body())


def test_bulk_files_matchmaking_refuses_per_job_before_any_post(client_config_path: Path, tmp_path: Path) -> None:
    (tmp_path / "multi.xrsl").write_text(
        '+(&(executable=/bin/echo)(arguments="a""b" "it\'s" "(*")(stdout=o)(jobname=j1))'
        '(&(executable=/bin/echo)(arguments=two)(stdout=o)(jobname=j2)(runtimeenvironment>=NO/SUCH-1.0))\n')
    (tmp_path / "one.adl").write_text(
        '<ActivityDescription xmlns="http://www.eu-emi.eu/es/2010/12/adl"><ActivityIdentification><Name>j3</Name>'
        '</ActivityIdentification><Application><Executable><Path>/bin/echo</Path><Argument>x &amp; &lt;y&gt;</Argument>'
        '</Executable><Output>o</Output></Application><Resources><WallTime>120</WallTime></Resources>'
        '</ActivityDescription>')
    jobs = load_descriptions(tmp_path / "multi.xrsl") + load_descriptions(tmp_path / "one.adl")

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            before = set(await ce.jobs())
            sub = await ce.submit_descriptions(jobs)
            assert set(sub.ids) == {0, 2}
            assert set(sub.failures) == {1}
            assert "NO/SUCH-1.0" in sub.failures[1] and "runtimeenvironment" in sub.failures[1]
            # A-REX's listing may lag jobs it has just created: wait (bounded) for both, then count.
            new = set(await ce.jobs()) - before
            for _ in range(30):
                if {sub.ids[0], sub.ids[2]} <= new:
                    break
                await asyncio.sleep(2)
                new = set(await ce.jobs()) - before
            assert new == {sub.ids[0], sub.ids[2]}  # nothing was created for the refused job
            ids = [sub.ids[0], sub.ids[2]]
            states = await wait_terminal(ce, ids)
            assert all(states[i] is JobStatus.DONE for i in ids), states
            outs = await ce.fetch_output(ids, tmp_path / "out")
            assert outs[sub.ids[0]].stdout is not None
            assert outs[sub.ids[0]].stdout.read_text() == 'a"b it\'s (*\n'  # byte-exact through ADL
            assert outs[sub.ids[2]].stdout is not None
            assert outs[sub.ids[2]].stdout.read_text() == "x & <y>\n"
            info = await ce.info(ids)
            assert str({k.lower(): v for k, v in (info[sub.ids[2]].raw or {}).items()}.get("name")) == "j3"
            await ce.purge(ids)

    asyncio.run(body())
