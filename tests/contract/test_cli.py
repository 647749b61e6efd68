"""The arc-intercede command line against the real CE (remote; needs --stack/--config)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arc_intercede.cli import main
from arc_intercede.cli.jobstore import JobStore

RUN_SH = """\
#!/bin/sh
tr a-z A-Z < input.txt > result.txt
echo second-output > extra.txt
echo hello-stdout
echo hello-stderr >&2
"""

SPEC = """\
executable: run.sh
inputs:
  run.sh: run.sh
  input.txt: data/input.txt
outputs:
  stdout: out.txt
  stderr: err.txt
  files: [result.txt, extra.txt]
wall_time: 10m
tag: cli-contract
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ARC_INTERCEDE_STATE", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "state" / "jobs.db"


def test_cli_submit_wait_fetch_status_purge(client_config_path: Path, tmp_path: Path, state: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cc = ("--client-config", str(client_config_path))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "input.txt").write_text("payload-abc\n")
    (tmp_path / "run.sh").write_text(RUN_SH)
    (tmp_path / "job.yaml").write_text(SPEC)

    code, out, err = cli(capsys, *cc, "submit", "job.yaml")
    assert code == 0, err
    (job_id,) = out.split()
    records = JobStore(state).records()
    assert [(r.job_id, r.tag, r.ce) for r in records] == [(job_id, "cli-contract", "client")]

    code, out, err = cli(capsys, *cc, "wait", "--timeout", "240", "--interval", "2", "--json")
    if code != 0:
        _, diag, _ = cli(capsys, *cc, "diagnose", job_id)
        pytest.fail(f"wait exited {code}: {out} {err}\n{diag}")
    assert json.loads(out) == [{"job_id": job_id, "state": "done", "ce": "client"}]

    code, out, err = cli(capsys, *cc, "fetch", "-o", "results", "--json")
    assert code == 0, err
    manifest: dict[str, Any] = json.loads(out)[job_id]
    assert manifest["complete"] is True
    job_dir = tmp_path / "results" / job_id
    assert Path(manifest["stdout"]) == Path("results") / job_id / "out.txt"
    assert (job_dir / "out.txt").read_text() == "hello-stdout\n"
    assert (job_dir / "err.txt").read_text() == "hello-stderr\n"
    assert (job_dir / "result.txt").read_text() == "PAYLOAD-ABC\n"
    assert (job_dir / "extra.txt").read_text() == "second-output\n"
    assert {"result.txt", "extra.txt"} <= set(manifest["files"])

    code, out, _ = cli(capsys, *cc, "status", "--json")
    assert code == 0
    assert json.loads(out) == [{"job_id": job_id, "state": "done", "ce": "client"}]

    code, out, _ = cli(capsys, *cc, "purge", "--all")
    assert (code, out) == (0, f"{job_id}: purged\n")
    code, out, err = cli(capsys, *cc, "status")
    assert (code, out) == (0, "")
    assert "no jobs in the local job list" in err
    code, out, _ = cli(capsys, *cc, "status", "--json", job_id)
    assert json.loads(out) == [{"job_id": job_id, "state": "unknown", "ce": "client"}]


def test_cli_info_and_generated_proxy(client_config_path: Path, stack_info: dict[str, Any], tmp_path: Path,
                                      state: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cc = ("--client-config", str(client_config_path))
    code, out, err = cli(capsys, *cc, "info", "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["endpoint"] == stack_info["endpoint"]
    assert info["api_version"] in ("1.0", "1.1")
    assert stack_info["queue"] in info["queues"]
    assert set(info["counts"]) == {"running", "waiting"}

    proxy = tmp_path / "proxy.pem"
    code, out, err = cli(capsys, "proxy", "--cert", stack_info["usercert"], "--key", stack_info["userkey"],
                         "--out", str(proxy), "--valid", "1h")
    assert code == 0, err
    assert f"subject:     {stack_info['user_dn']}/CN=" in out
    assert "NO VOMS" in out
    # In the proxy configuration the pure-Python proxy is the TLS client certificate the CE accepts.
    code, out, err = cli(capsys, *cc, "--proxy", str(proxy), "info", "--json")
    assert code == 0, err
    assert json.loads(out)["endpoint"] == stack_info["endpoint"]
