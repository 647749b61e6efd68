from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import arc_intercede
from arc_intercede import cli
from arc_intercede.backend import CredentialRequirements
from arc_intercede.cli.jobstore import JobRecord, JobStore
from arc_intercede.contract import Diagnostics, JobCounts, JobOutput, JobStatus, OpOutcome, Submission, SubmissionSpec
from arc_intercede.errors import CredentialError, TransportError
from arc_intercede.transfer import TransferProgress

COMMANDS = ("info", "submit", "status", "wait", "fetch", "kill", "purge", "restart", "diagnose", "proxy")
EP = "https://ce.invalid:8443/arex"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A config file with two CEs at the default location, and a private state dir; cwd = tmp_path.

    Files are created private (umask 077), as credentials and a configuration with a token should be.
    """
    saved = os.umask(0o077)
    try:
        yield from _env(tmp_path, monkeypatch)
    finally:
        os.umask(saved)


def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("ARC_INTERCEDE_CONFIG", raising=False)
    monkeypatch.delenv("X509_USER_PROXY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("ARC_INTERCEDE_STATE", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "cfg" / "arc-intercede" / "config.yaml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text(f"default: local\nces:\n  local:\n    endpoint: {EP}\n    queue: batch\n    ca_dir: ca\n"
                   "    token: t0k3n\n  other:\n    endpoint: https://other.invalid/arex\n    ca_file: /x/ca.pem\n"
                   "    proxy: /x/proxy.pem\n")
    yield tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("arc-intercede: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


# --- help -------------------------------------------------------------------------------------------------


def test_main_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert command in out
    for fragment in ("--config", "--ce", "--client-config", "--endpoint", "--queue", "--ca-dir", "--token-file",
                     "--proxy", "--verbose", "--version", "examples:", "default: local", "jobs.jsonl",
                     "exit codes", "XDG_CONFIG_HOME", "ARC_INTERCEDE_STATE"):
        assert fragment in out


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("info", ["--json", "REST API version"]),
        ("submit", ["--input", "--output", "--count", "--tag", "--queue", "--wall-time", "--json", "EXECUTABLE",
                    "executable:", "inputs:", "outputs:", "runtime_environments:", "count:"]),
        ("status", ["--json", "unknown", "ID"]),
        ("wait", ["--timeout", "--interval", "exit codes", "3 timed out"]),
        ("fetch", ["--output", "arc-output", "--quiet", "--json"]),
        ("kill", ["--all"]),
        ("purge", ["--all", "forgotten"]),
        ("restart", ["--all"]),
        ("diagnose", ["--item", "errors"]),
        ("proxy", ["--cert", "--key", "--out", "--valid", "--bits", "--password-file", "--voms", "--info",
                   "x509up_u", "usercert.pem"]),
    ],
)
def test_subcommand_help_is_complete(capsys: pytest.CaptureFixture[str], command: str,
                                     fragments: list[str]) -> None:
    code, out, err = run(capsys, command, "--help")
    assert code == 0
    assert err == ""
    assert out.startswith(f"usage: arc-intercede {command}")
    assert "examples:" in out
    assert f"arc-intercede {command}" in out.split("examples:")[1]
    for fragment in fragments:
        assert fragment in out, fragment
    if command != "proxy":
        assert "--client-config" in out and "--verbose" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"arc-intercede {arc_intercede.__version__}"


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys)
    assert code == 2
    assert "usage:" in err


# --- bad input: exit 2, one line ----------------------------------------------------------------------------


def test_missing_config_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-c", str(env / "nope.yaml"), "info")
    assert (code, out) == (2, "")
    one_error_line(err, "nope.yaml", "not found")


def test_no_default_config(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "empty"))
    code, _, err = run(capsys, "status")
    assert code == 2
    one_error_line(err, "no configuration", "config.yaml")


def test_config_env_var(env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARC_INTERCEDE_CONFIG", str(env / "from-env.yaml"))
    code, _, err = run(capsys, "status")
    assert code == 2
    one_error_line(err, "from-env.yaml", "not found")


def test_bad_yaml(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = env / "bad.yaml"
    bad.write_text("ces: [unclosed\n")
    code, _, err = run(capsys, "--config", str(bad), "info")
    assert code == 2
    one_error_line(err, "bad.yaml", "not valid YAML", "line 2")


def test_unknown_ce_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--ce", "prod", "status")
    assert code == 2
    one_error_line(err, "no CE named 'prod'", "known: local, other")


def test_ce_option_after_the_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--ce", "prod")
    assert code == 2
    one_error_line(err, "no CE named 'prod'")


def test_several_ces_without_default(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = env / "two.yaml"
    cfg.write_text(f"ces:\n  a: {{endpoint: {EP}, ca_dir: /x, token: t}}\n  b: {{endpoint: {EP}, ca_dir: /x, "
                   "token: t}\n")
    code, _, err = run(capsys, "-c", str(cfg), "status")
    assert code == 2
    one_error_line(err, "several CEs (a, b)", "--ce")


def test_invalid_ce_configuration(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = env / "c.yaml"
    cfg.write_text("ces:\n  a: {endpoint: 'http://ce/arex', ca_dir: /x, token: t}\n")
    code, _, err = run(capsys, "-c", str(cfg), "status")
    assert code == 2
    one_error_line(err, "ces.a", "https://")


def test_missing_spec_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "submit", "job.yaml")
    assert code == 2
    one_error_line(err, "job.yaml", "not found")


def test_bad_spec_field(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "job.yaml").write_text("executable: /bin/true\nwall_time: soon\n")
    code, _, err = run(capsys, "submit", "job.yaml")
    assert code == 2
    one_error_line(err, "job.yaml: wall_time:")


def test_submit_needs_spec_or_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "submit")
    assert code == 2
    one_error_line(err, "submit", "--")


@pytest.mark.parametrize(
    "argv",
    [["wait", "--timeout", "soon"], ["submit", "--wall-time", "1x", "--", "/bin/true"], ["proxy", "--valid", "abc"]],
)
def test_bad_duration(env: Path, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    one_error_line(err, "invalid duration", "--help")


@pytest.mark.parametrize("command", ["kill", "purge", "restart"])
def test_action_without_ids_needs_all(env: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, err = run(capsys, command)
    assert (code, out) == (2, "")
    one_error_line(err, f"{command}: give job ids, or --all")


def test_unknown_option_is_one_line(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--frobnicate")
    assert code == 2
    one_error_line(err, "--frobnicate", "arc-intercede status --help")


def test_diagnose_needs_ids(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diagnose")
    assert code == 2
    one_error_line(err, "diagnose")


# --- configuration selection ---------------------------------------------------------------------------------


def ns(**kw: Any) -> Any:
    import argparse

    return argparse.Namespace(**kw)


def test_resolve_default_relative_paths_and_overrides(env: Path) -> None:
    target = cli.resolve_target(ns())
    assert target.name == "local"
    assert target.config.ca_dir == env / "cfg" / "arc-intercede" / "ca"
    target = cli.resolve_target(ns(ce="other", queue="q2", token_file="tok", ca_dir="cas"))
    assert target.name == "other"
    assert target.config.queue == "q2"
    assert target.config.token_file == env / "tok"
    assert target.config.ca_dir == env / "cas"
    target = cli.resolve_target(ns(token_file="tok"))  # replaces the file's token
    assert target.config.token is None
    assert target.config.token_file == env / "tok"


def test_resolve_client_config_and_endpoint_only(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = env / "client.yaml"
    client.write_text(f"endpoint: {EP}\nca_dir: ca\nproxy: p.pem\n")
    target = cli.resolve_target(ns(client_config=str(client)))
    assert (target.name, target.config.ca_dir, target.config.proxy) == ("client", env / "ca", env / "p.pem")
    target = cli.resolve_target(ns(config=str(client)))  # a single CE's file works with -c too
    assert target.config.endpoint == EP
    monkeypatch.setenv("XDG_CONFIG_HOME", str(env / "none"))
    target = cli.resolve_target(ns(endpoint=EP, ca_dir="/x", proxy="/p"))
    assert target.name == "command-line"
    assert target.config.proxy == Path("/p")


# --- commands against a fake backend -------------------------------------------------------------------------


class FakeBackend:
    """Stands in for ARCBackend (same public methods) with canned answers."""

    states: ClassVar[dict[str, JobStatus]] = {}
    submitted: ClassVar[list[tuple[SubmissionSpec, int]]] = []
    fail_copies: ClassVar[dict[int, str]] = {}
    actions: ClassVar[list[tuple[str, list[str]]]] = []
    raise_on_enter: ClassVar[BaseException | None] = None

    def __init__(self, config: Any) -> None:
        self.config = config

    async def __aenter__(self) -> FakeBackend:
        if self.raise_on_enter is not None:
            raise self.raise_on_enter
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def api_version(self) -> str:
        return "1.1"

    @property
    def credential_requirements(self) -> CredentialRequirements:
        return CredentialRequirements(kinds=frozenset({"token"}), audience="https://ce.invalid:8443",
                                      scopes=frozenset({"compute.read", "compute.create"}))

    async def queues(self) -> list[str]:
        return ["batch", "short"]

    async def counts(self) -> JobCounts:
        return JobCounts(running=3, waiting=7)

    async def submit(self, spec: SubmissionSpec, count: int = 1) -> Submission:
        FakeBackend.submitted.append((spec, count))
        ids = {i: f"job{len(FakeBackend.submitted)}-{i}" for i in range(count) if i not in self.fail_copies}
        return Submission(ids=ids, failures={i: r for i, r in self.fail_copies.items() if i < count})

    async def status(self, ids: Sequence[str]) -> Mapping[str, JobStatus]:
        return {j: self.states.get(j, JobStatus.UNKNOWN) for j in ids}

    async def _action(self, name: str, ids: Sequence[str]) -> Mapping[str, OpOutcome]:
        FakeBackend.actions.append((name, list(ids)))
        return {j: OpOutcome(ok=True) if j in self.states else OpOutcome(ok=False, reason="job not found on the CE")
                for j in ids}

    async def kill(self, ids: Sequence[str]) -> Mapping[str, OpOutcome]:
        return await self._action("kill", ids)

    async def purge(self, ids: Sequence[str]) -> Mapping[str, OpOutcome]:
        return await self._action("purge", ids)

    async def restart(self, ids: Sequence[str]) -> Mapping[str, OpOutcome]:
        return await self._action("restart", ids)

    async def diagnostics(self, ids: Sequence[str]) -> Mapping[str, Diagnostics]:
        return {j: Diagnostics(found=True, files={"errors": "log line\n", "failed": "boom"}) if j in self.states
                else Diagnostics(found=False, reason="job not found on the CE") for j in ids}

    async def fetch_output(self, ids: Sequence[str], dest: Path, progress: Any = None) -> Mapping[str, JobOutput]:
        out: dict[str, JobOutput] = {}
        for j in ids:
            if self.states.get(j) is JobStatus.DONE:
                if progress is not None:
                    progress(TransferProgress(j, 10, 1, 2))
                    progress(TransferProgress(j, 2048, 2, 2, finished=True))
                out[j] = JobOutput(stdout=dest / j / "out.txt", stderr=dest / j / "err.txt",
                                   log=dest / f"{j}.ce" / "errors", files={"r.dat": dest / j / "r.dat"})
            else:
                out[j] = JobOutput(complete=False, reason="job not finished (state INLRMS)")
        return out


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, env: Path) -> type[FakeBackend]:
    monkeypatch.setattr(FakeBackend, "states", {})
    monkeypatch.setattr(FakeBackend, "submitted", [])
    monkeypatch.setattr(FakeBackend, "fail_copies", {})
    monkeypatch.setattr(FakeBackend, "actions", [])
    monkeypatch.setattr(FakeBackend, "raise_on_enter", None)
    monkeypatch.setattr(cli.base, "_backend", lambda target: FakeBackend(target.config))
    return FakeBackend


def store(env: Path) -> JobStore:
    return JobStore(env / "state" / "jobs.jsonl")


def test_info(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "REST API version:" in out and "1.1" in out
    assert "batch, short" in out and "3 running, 7 waiting" in out and "https://ce.invalid:8443" in out
    code, out, _ = run(capsys, "info", "--json")
    data = json.loads(out)
    assert data["counts"] == {"running": 3, "waiting": 7}
    assert data["endpoint"] == EP and data["api_version"] == "1.1" and data["credentials"]["kinds"] == ["token"]


def test_submit_from_flags_uploads_local_executable(fake: type[FakeBackend], env: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (env / "run.sh").write_text("#!/bin/sh\n")
    (env / "data.txt").write_text("x")
    code, out, _ = run(capsys, "submit", "--input", "data.txt", "--output", "r.dat", "--count", "2", "--tag", "t",
                       "--queue", "short", "--env", "A=b=c", "--", "./run.sh", "-c", "--flag", "data.txt")
    assert code == 0
    assert out.split() == ["job1-0", "job1-1"]
    ((spec, count),) = fake.submitted
    assert count == 2
    assert spec.executable == "run.sh"
    assert spec.arguments == ("-c", "--flag", "data.txt")
    assert [(f.name, f.executable) for f in spec.input_sandbox] == [("run.sh", True), ("data.txt", False)]
    assert spec.output_sandbox.files == ("r.dat",)
    assert (spec.tag, spec.resources.queue, dict(spec.environment)) == ("t", "short", {"A": "b=c"})
    records = store(env).records()
    assert [(r.job_id, r.ce, r.endpoint, r.tag) for r in records] == [("job1-0", "local", EP, "t"),
                                                                     ("job1-1", "local", EP, "t")]


def test_submit_spec_with_failed_copy(fake: type[FakeBackend], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "job.yaml").write_text("executable: /bin/hostname\ncount: 3\n")
    fake.fail_copies = {1: "creation failed: 500 oops"}
    code, out, err = run(capsys, "submit", "job.yaml", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["jobs"] == [{"copy": 0, "job_id": "job1-0"}, {"copy": 2, "job_id": "job1-2"}]
    assert data["failures"] == [{"copy": 1, "reason": "creation failed: 500 oops"}]
    code, out, err = run(capsys, "submit", "job.yaml")
    assert code == 1
    assert out.split() == ["job2-0", "job2-2"]
    assert "copy 1 was not created: creation failed: 500 oops" in err


def test_job_list_of_earlier_versions_and_a_damaged_one(fake: type[FakeBackend], env: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (env / "state").mkdir()
    legacy = env / "state" / "jobs.jsonl"  # as earlier versions wrote it
    legacy.write_text(json.dumps({"job_id": "a", "ce": "local", "endpoint": EP, "submitted": "t", "tag": None})
                      + "\n" + json.dumps({"job_id": "b", "ce": "local", "endpoint": EP}) + "\n")
    fake.states = {"a": JobStatus.RUNNING, "b": JobStatus.DONE}
    code, out, _ = run(capsys, "status")
    assert code == 0 and [line.split()[:2] for line in out.splitlines()[1:]] == [["a", "running"], ["b", "done"]]
    assert not legacy.exists() and (env / "state" / "jobs.jsonl.migrated").exists()
    damaged = env / "state" / "jobs.db"
    damaged.write_bytes(b"not a database\n")
    code, _, err = run(capsys, "status")
    assert code == 1
    one_error_line(err, str(damaged), "not a job list", "left untouched")
    assert damaged.read_bytes() == b"not a database\n"


def test_status_from_local_list(fake: type[FakeBackend], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store(env).add([JobRecord.now("a", ce="local", endpoint=EP), JobRecord.now("b", ce="local", endpoint=EP),
                    JobRecord.now("z", ce="other", endpoint="https://other.invalid/arex")])
    fake.states = {"a": JobStatus.RUNNING}
    code, out, _ = run(capsys, "status")
    assert code == 0
    rows = [line.split() for line in out.strip().splitlines()]
    assert rows == [["ID", "STATE", "CE"], ["a", "running", "local"], ["b", "unknown", "local"]]
    code, out, _ = run(capsys, "status", "--json", "a", "x")
    assert json.loads(out) == [{"job_id": "a", "state": "running", "ce": "local"},
                               {"job_id": "x", "state": "unknown", "ce": "local"}]


def test_status_empty_list(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "status")
    assert (code, out) == (0, "")
    assert "no jobs in the local job list" in err


@pytest.mark.parametrize(
    ("states", "code"),
    [({"a": JobStatus.DONE, "b": JobStatus.DONE}, 0),
     ({"a": JobStatus.DONE, "b": JobStatus.FAILED}, 1),
     ({"a": JobStatus.DONE}, 1),  # b unknown
     ({"a": JobStatus.DONE, "b": JobStatus.RUNNING}, 3)],
)
def test_wait_exit_codes(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str], states: dict[str, JobStatus],
                         code: int) -> None:
    fake.states = states
    got, _, err = run(capsys, "wait", "--timeout", "1", "--interval", "0.05", "a", "b")
    assert got == code
    assert "wait:" in err
    if code == 3:
        assert "timed out" in err


def test_fetch(fake: type[FakeBackend], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake.states = {"a": JobStatus.DONE, "b": JobStatus.RUNNING}
    code, out, err = run(capsys, "fetch", "-o", "res", "a")
    assert code == 0
    assert out.splitlines() == ["a: complete", "  stdout res/a/out.txt", "  stderr res/a/err.txt",
                                "  log    res/a.ce/errors", "  file   r.dat -> res/a/r.dat"]
    assert "a: 2.0 KiB, 2 file(s), done" in err
    code, out, err = run(capsys, "fetch", "--quiet", "--json", "a", "b")
    assert code == 1
    assert err == ""
    data = json.loads(out)
    assert data["a"]["complete"] and data["a"]["files"] == {"r.dat": "arc-output/a/r.dat"}
    assert data["b"] == {"complete": False, "reason": "job not finished (state INLRMS)", "stdout": None,
                         "stderr": None, "log": None, "files": {}}


def test_progress_display_on_a_tty() -> None:
    import io

    stream = io.StringIO()
    display = cli.ProgressDisplay(stream, 2, tty=True)
    display(TransferProgress("job-a", 1024 * 1024, 1, 3))
    display(TransferProgress("job-a", 3 * 1024 * 1024, 3, 3, finished=True))
    display.close()
    display(TransferProgress("job-b", 1, 1, 1))  # after close: ignored
    text = stream.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert "\r\x1b[K" in text
    assert "1/2 jobs, 3.0 MiB, 3 files | job-a: 3.0 MiB, done" in text


def test_kill_all_and_purge_forgets(fake: type[FakeBackend], env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store(env).add([JobRecord.now(j, ce="local", endpoint=EP) for j in ("a", "b", "c")])
    fake.states = {"a": JobStatus.RUNNING, "b": JobStatus.DONE, "c": JobStatus.DONE}
    code, out, _ = run(capsys, "kill", "--all")
    assert code == 0
    assert out.splitlines() == ["a: kill requested", "b: kill requested", "c: kill requested"]
    assert fake.actions == [("kill", ["a", "b", "c"])]
    del fake.states["c"]  # c vanished from the CE
    code, out, _ = run(capsys, "purge", "b", "c")
    assert code == 1
    assert out.splitlines() == ["b: purged", "c: purge failed (job not found on the CE)"]
    assert [r.job_id for r in store(env).records()] == ["a"]
    code, out, _ = run(capsys, "restart", "a")
    assert (code, out) == (0, "a: restart requested\n")


def test_diagnose(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str]) -> None:
    fake.states = {"a": JobStatus.FAILED}
    code, out, _ = run(capsys, "diagnose", "--item", "errors", "a")
    assert code == 0
    assert out == "=== a\n--- errors\nlog line\n"
    code, out, _ = run(capsys, "diagnose", "a", "x", "--json")
    assert code == 1
    data = json.loads(out)
    assert data["a"]["items"] == {"errors": "log line\n", "failed": "boom"}
    assert data["x"]["found"] is False


def test_ids_from_stdin(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("a\n\nb\na\n"))
    fake.states = {"a": JobStatus.DONE, "b": JobStatus.DONE}
    code, out, _ = run(capsys, "status", "--json", "-")
    assert code == 0
    assert [r["job_id"] for r in json.loads(out)] == ["a", "b"]


@pytest.mark.parametrize(
    ("exc", "code", "fragment"),
    [(TransportError("connect: refused", endpoint=EP), 1, f"connect: refused [{EP}]"),
     (CredentialError("token rejected"), 1, "token rejected"),
     (KeyboardInterrupt(), 130, "interrupted"),
     (RuntimeError("bug"), 1, "internal error: RuntimeError: bug")],
)
def test_operation_errors_are_one_line(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str],
                                       exc: BaseException, code: int, fragment: str) -> None:
    fake.raise_on_enter = exc
    got, out, err = run(capsys, "status", "a")
    assert (got, out) == (code, "")
    assert fragment in err
    assert "Traceback" not in err
    if code != 130:
        one_error_line(err)


def test_traceback_with_vv(fake: type[FakeBackend], capsys: pytest.CaptureFixture[str]) -> None:
    fake.raise_on_enter = TransportError("down")
    code, _, err = run(capsys, "-vv", "status", "a")
    assert code == 1
    assert "Traceback" in err
    assert err.strip().splitlines()[-1] == "arc-intercede: error: down"


# --- proxy ----------------------------------------------------------------------------------------------------


def _user_cert(tmp_path: Path, password: bytes) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Jane")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=9))
            .sign(key, hashes.SHA256()))
    (tmp_path / "usercert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "userkey.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.BestAvailableEncryption(password)))
    return tmp_path / "usercert.pem", tmp_path / "userkey.pem"


def test_proxy_command(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = _user_cert(env, b"pw")
    (env / "pw.txt").write_text("pw\n")
    out_path = env / "proxy.pem"
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--out", str(out_path),
                         "--valid", "2h", "--bits", "1024", "--password-file", str(env / "pw.txt"))
    assert code == 0, err
    assert f"Proxy written to {out_path}" in out
    assert "subject:     /CN=Jane/CN=" in out
    assert "NO VOMS attributes" in out
    assert "1h59m left" in out or "2h00m left" in out
    (env / "pw.txt").write_text("wrong\n")
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--out", str(out_path),
                         "--password-file", str(env / "pw.txt"))
    assert (code, out) == (2, "")
    one_error_line(err, "wrong pass phrase")
    code, _, err = run(capsys, "proxy", "--cert", str(env / "none.pem"), "--key", str(key), "--out", str(out_path))
    assert code == 2
    one_error_line(err, "none.pem", "not found")


def test_proxy_default_out(env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = _user_cert(env, b"pw")
    monkeypatch.setenv("X509_USER_PROXY", str(env / "x509up"))
    monkeypatch.setattr("getpass.getpass", lambda prompt: "pw")
    code, _, _ = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--bits", "1024")
    assert code == 0
    assert (env / "x509up").is_file()


# --- credentials, TLS and bad input (issue 12): exact exit codes, no secret in any output ---------------------

SECRET = "s3cr3t-T0KEN-value"


def _user(folder: Path) -> tuple[Path, Path]:
    from tests.unit.test_tls import user_credentials

    return user_credentials(folder)


def _client_config(env: Path, ce: Any, pki: Any, **keys: Any) -> str:
    path = env / "client.yaml"
    lines = [f"endpoint: {ce.endpoint}", f"ca_file: {pki.ca_file}", *(f"{k}: {v}" for k, v in keys.items())]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def no_secret(out: str, err: str, *secrets: str) -> None:
    for secret in (SECRET, *secrets):
        assert secret not in out and secret not in err


@pytest.mark.parametrize("content", [f"{SECRET}\r\nX-Evil: 1\n", f"{SECRET}\nline-two\n"])
def test_token_file_with_line_break_exits_2_without_the_token(env: Path, ce: Any, pki: Any, content: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    (env / "bt").write_text(content)
    cc = _client_config(env, ce, pki, token_file=env / "bt")
    code, out, err = run(capsys, "--client-config", cc, "status", "abc")
    assert (code, out) == (2, "")
    one_error_line(err, f"token file {env / 'bt'}", "line break")
    no_secret(out, err, "line-two", "X-Evil")


def test_inline_token_with_crlf_exits_2_without_the_token(env: Path, ce: Any, pki: Any,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cc = _client_config(env, ce, pki, token=f'"{SECRET}\\r\\nX-Evil: 1"')
    code, out, err = run(capsys, "-vv", "--client-config", cc, "status", "abc")
    assert code == 2
    assert "token holds a line break" in err
    no_secret(out, err)


def test_proxy_trouble_is_one_line_with_what_to_run(env: Path, ce: Any, pki: Any,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime, timedelta

    from arc_intercede.credentials import make_proxy

    cert, key = _user(env)
    expired = make_proxy(cert, key, env / "old", valid=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(hours=2))
    for proxy, fragment in ((expired.path, f"expired at {expired.not_after:%Y-%m-%d %H:%M:%S} UTC"),
                            (env / "absent", "not found"),
                            (cert, "holds a certificate but no private key")):
        code, out, err = run(capsys, "--client-config", _client_config(env, ce, pki, proxy=proxy), "status", "abc")
        assert (code, out) == (2, ""), err
        one_error_line(err, str(proxy), fragment, "arc-intercede proxy")
        assert "SSL" not in err and "PEM lib" not in err
    assert ce.requests == []


def test_info_shows_proxy_and_token_lifetimes(fake: type[FakeBackend], env: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import time
    from datetime import timedelta

    from arc_intercede.credentials import make_proxy

    code, out, _ = run(capsys, "info")
    assert code == 0 and "Token valid until:" in out and "unknown (not a JWT)" in out and "t0k3n" not in out
    cert, key = _user(env)
    make_proxy(cert, key, env / "x509up", valid=timedelta(hours=3))
    payload = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) + 5400}).encode()).decode().rstrip("=")
    (env / "bt").write_text(f"aGVhZA.{payload}.c2ln")
    code, out, _ = run(capsys, "info", "--proxy", str(env / "x509up"), "--token-file", str(env / "bt"))
    assert code == 0
    lines = {line.split(":", 1)[0]: line for line in out.splitlines()}
    assert "h5" in lines["Proxy valid until"] and ("2h59m left" in lines["Proxy valid until"]
                                                    or "3h00m left" in lines["Proxy valid until"])
    assert "1h29m left" in lines["Token valid until"] or "1h30m left" in lines["Token valid until"]
    assert payload not in out
    code, out, _ = run(capsys, "info", "--json", "--proxy", str(env / "x509up"), "--token-file", str(env / "bt"))
    data = json.loads(out)
    assert 3 * 3600 - 120 < data["proxy"]["seconds_left"] <= 3 * 3600
    assert 5400 - 120 < data["token"]["seconds_left"] <= 5400


@pytest.mark.parametrize(("answer", "fragment"), [(EOFError(), "end of input"), ("", "pass phrase given is empty"),
                                                  (OSError("no tty"), "cannot be asked for")])
def test_pass_phrase_edge_cases_exit_2(env: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str], answer: Any, fragment: str) -> None:
    cert, key = _user_cert(env, b"pw-" + SECRET.encode())

    def ask(prompt: str) -> str:
        if isinstance(answer, BaseException):
            raise answer
        return str(answer)

    monkeypatch.setattr("getpass.getpass", ask)
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--out", str(env / "p.pem"))
    assert (code, out) == (2, "")
    one_error_line(err, fragment)
    assert not (env / "p.pem").exists()
    (env / "pw.txt").write_text("\n")
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--password-file",
                         str(env / "pw.txt"), "--out", str(env / "p.pem"))
    assert code == 2
    one_error_line(err, "is empty")
    (env / "pw.txt").write_text(f"wrong-{SECRET}\n")
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--password-file",
                         str(env / "pw.txt"), "--out", str(env / "p.pem"))
    assert code == 2
    one_error_line(err, "wrong pass phrase")
    no_secret(out, err)


def test_exposed_key_is_refused_and_password_file_warned(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = _user_cert(env, b"pw")
    (env / "pw.txt").write_text("pw\n")
    key.chmod(0o644)
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--password-file",
                         str(env / "pw.txt"), "--out", str(env / "p.pem"), "--bits", "2048")
    assert (code, out) == (2, "")
    one_error_line(err, str(key), "mode 0644", "chmod 600")
    key.chmod(0o600)
    (env / "pw.txt").chmod(0o644)
    code, out, err = run(capsys, "proxy", "--cert", str(cert), "--key", str(key), "--password-file",
                         str(env / "pw.txt"), "--out", str(env / "p.pem"), "--bits", "2048")
    assert code == 0
    assert f"warning: password file {env / 'pw.txt'} is readable by others" in err


def test_endpoint_with_password_exits_2_without_it(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for endpoint in (f"https://user:{SECRET}@ce.example/arex", f"https://ce.example:443@{SECRET}/arex"):
        code, out, err = run(capsys, "--endpoint", endpoint, "--ca-dir", str(env), "status", "abc")
        assert (code, out) == (2, "")
        one_error_line(err, "user information")
        no_secret(out, err)


@pytest.mark.parametrize("kind", ["missing", "empty", "file"])
def test_wrong_ca_dir_exits_2_naming_it(env: Path, ce: Any, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    path = env / "cas"
    if kind == "empty":
        path.mkdir()
    elif kind == "file":
        path.write_text("x")
    code, out, err = run(capsys, "--endpoint", ce.endpoint, "--ca-dir", str(path), "--token-file", str(env / "t"),
                         "status", "abc")
    assert (code, out) == (2, "")
    one_error_line(err, str(path), "ca_dir")
    assert "self-signed" not in err


def test_job_urls_are_ids_and_foreign_ones_exit_2(fake: type[FakeBackend], env: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    fake.states = {"a": JobStatus.DONE}
    code, out, _ = run(capsys, "status", "--json", "https://ce.invalid:8443/arex/a", " a ",
                       "https://ce.invalid:8443/arex/rest/1.1/jobs/a")
    assert code == 0
    assert json.loads(out) == [{"job_id": "a", "state": "done", "ce": "local"}]
    code, out, err = run(capsys, "kill", "https://other.invalid/arex/a")
    assert (code, out) == (2, "")
    one_error_line(err, "belongs to another CE")
    assert fake.actions == []


def test_duplicate_config_keys_exit_2(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = env / "dup.yaml"
    cfg.write_text(f"ces:\n  a: {{endpoint: {EP}, ca_dir: /x, token: t}}\n  a: {{endpoint: {EP}, ca_dir: /y, "
                   "token: t}\n")
    code, _, err = run(capsys, "-c", str(cfg), "status", "x")
    assert code == 2
    one_error_line(err, "duplicate key 'a'", "line 3")


def test_revoked_ce_exits_1_with_a_clear_line(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.fake_arex import FakeAREX
    from tests.unit.test_tls import ca_dir, issue_server, make_ca, make_crl

    ca = make_ca()
    pki, serial = issue_server(ca, tmp_path / "srv")
    cas = ca_dir(tmp_path / "cas", [ca], {0: make_crl(ca, [serial])})
    (env / "t").write_text("tok")
    with FakeAREX.start(pki) as ce:
        code, out, err = run(capsys, "--endpoint", ce.endpoint, "--ca-dir", str(cas), "--token-file",
                             str(env / "t"), "status", "abc")
    assert (code, out) == (1, "")
    one_error_line(err, "TLS verification of the CE failed: certificate revoked")
