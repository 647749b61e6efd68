from __future__ import annotations

from pathlib import Path

import pytest

from arc_intercede.contract import FileRef, OutputSpec, Resources, SubmissionSpec
from arc_intercede.descriptions.yaml_jobspec import (
    JobFile,
    JobSpecError,
    build_spec,
    load_jobspec,
    parse_duration,
    parse_input,
    with_extras,
)

FULL = """\
executable: run.sh
arguments: [--n, 3, "a b", 2.5]
inputs:
  run.sh: scripts/run.sh
  data.txt: https://example.org/data.txt?x=1
outputs:
  stdout: out.txt
  stderr: err.txt
  files: [result.dat, plots/]
queue: batch
cpus: 4
memory_mb: 2000
wall_time: 1h30m
runtime_environments: [ENV/PROXY, APPS/X-1.0]
environment: {OMP_NUM_THREADS: 4, NAME: "it's $HOME"}
stdin: data.txt
tag: my-analysis
count: 10
"""


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_full_example(tmp_path: Path) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("#!/bin/sh\n")
    job = load_jobspec(write(tmp_path, FULL))
    assert job == JobFile(
        count=10,
        spec=SubmissionSpec(
            executable="run.sh",
            arguments=("--n", "3", "a b", "2.5"),
            input_sandbox=(
                FileRef(name="run.sh", source=tmp_path / "scripts" / "run.sh", executable=True),
                FileRef(name="data.txt", source="https://example.org/data.txt?x=1"),
            ),
            output_sandbox=OutputSpec(stdout="out.txt", stderr="err.txt", files=("result.dat", "plots/")),
            resources=Resources(queue="batch", cpus=4, memory_mb=2000, wall_time_s=5400,
                                runtime_environments=("ENV/PROXY", "APPS/X-1.0")),
            environment={"OMP_NUM_THREADS": "4", "NAME": "it's $HOME"},
            stdin="data.txt",
            tag="my-analysis",
        ),
    )


def test_minimal_and_defaults(tmp_path: Path) -> None:
    job = load_jobspec(write(tmp_path, "executable: /bin/hostname\n"))
    assert job == JobFile(spec=SubmissionSpec(executable="/bin/hostname"), count=1)


def test_input_list_form_and_local_executable_upload(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "tool.sh").write_text("#!/bin/sh\n")
    text = """\
executable: ./tool.sh
inputs:
  - a.txt
  - {name: b.txt, source: a.txt}
  - {source: "gsiftp://host/dir/c.dat"}
outputs: {stdout: null, stderr: out.txt}
"""
    spec = load_jobspec(write(tmp_path, text)).spec
    assert spec.executable == "tool.sh"
    assert spec.input_sandbox == (
        FileRef(name="tool.sh", source=tmp_path / "tool.sh", executable=True),
        FileRef(name="a.txt", source=tmp_path / "a.txt"),
        FileRef(name="b.txt", source=tmp_path / "a.txt"),
        FileRef(name="c.dat", source="gsiftp://host/dir/c.dat"),
    )
    assert spec.output_sandbox == OutputSpec(stdout=None, stderr="out.txt")


def test_bare_command_name_is_not_uploaded(tmp_path: Path) -> None:
    job = build_spec({"executable": "hostname"}, base_dir=tmp_path)
    assert job.spec.executable == "hostname"
    assert job.spec.input_sandbox == ()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("arguments: [a]\n", "executable: this field is required"),
        ("executable: x\nfoo: 1\n", "unknown field(s): foo"),
        ("executable: [a]\n", "executable: expected a string"),
        ("executable: /bin/true\narguments: a b\n", "arguments: expected a list"),
        ("executable: /bin/true\narguments: [a, {b: 1}]\n", "arguments[1]: expected a string"),
        ("executable: /bin/true\ninputs: {x.txt: missing.txt}\n", "inputs.x.txt: local file"),
        ("executable: /bin/true\ninputs: [{name: x}]\n", "inputs[0].source: this field is required"),
        ("executable: /bin/true\ninputs: [{source: 'http://h/x', executable: yes-please}]\n",
         "inputs[0].executable"),
        ("executable: /bin/true\ninputs: [{source: 'http://h/x', mode: 1}]\n", "inputs[0]: unknown field(s): mode"),
        ("executable: /bin/true\noutputs: {stdout: a, extra: b}\n", "outputs: unknown field(s): extra"),
        ("executable: /bin/true\noutputs: {files: [../x]}\n", "outputs.files[0]"),
        ("executable: /bin/true\ncpus: 0\n", "cpus: expected a positive integer"),
        ("executable: /bin/true\nmemory_mb: lots\n", "memory_mb: expected a positive integer"),
        ("executable: /bin/true\nwall_time: soon\n", "wall_time: expected a duration"),
        ("executable: /bin/true\ncount: -1\n", "count: expected a positive integer"),
        ("executable: /bin/true\nenvironment: [A]\n", "environment: expected a mapping"),
        ("executable: /bin/true\nenvironment: {1X: a}\n", "environment: '1X' is not a valid variable name"),
        ("executable: /bin/true\nenvironment: {X: [1]}\n", "environment.X: expected a string"),
        ("executable: /bin/true\nstdin: nothere\n", "stdin: 'nothere' is not one of the inputs"),
        ("executable: ./nothere.sh\n", "executable: local file"),
        ("- a\n- b\n", "must be a YAML mapping"),
    ],
)
def test_errors_name_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(JobSpecError) as info:
        load_jobspec(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert field in message


def test_duplicate_input_names(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("")
    with pytest.raises(JobSpecError, match="two inputs are named 'a'"):
        build_spec({"executable": "/bin/true", "inputs": ["a", {"name": "a", "source": "http://x/a"}]},
                   base_dir=tmp_path)


def test_missing_and_bad_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(JobSpecError, match="not found"):
        load_jobspec(tmp_path / "nope.yaml")
    with pytest.raises(JobSpecError, match=r"not valid YAML: .*line 2"):
        load_jobspec(write(tmp_path, "executable: [unclosed\n"))


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("90m", 5400), ("1h30m", 5400), ("1h 30m", 5400), ("2d", 172800),
     ("1w", 604800), ("12H", 43200)],
)
def test_parse_duration(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["", "abc", "1x", "h", "0", "-5", "1h30", "1.5h", True, 0, [1]])
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(JobSpecError, match="wall"):
        parse_duration(value, field="wall")  # type: ignore[arg-type]


def test_parse_input_and_extras(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d.txt").write_text("x")
    assert parse_input("d.txt") == FileRef(name="d.txt", source=tmp_path / "d.txt")
    assert parse_input("in.txt=d.txt") == FileRef(name="in.txt", source=tmp_path / "d.txt")
    assert parse_input("https://h/p/f.dat?a=b") == FileRef(name="f.dat", source="https://h/p/f.dat?a=b")
    with pytest.raises(JobSpecError, match="--input: local file"):
        parse_input("missing.txt")
    job = build_spec({"executable": "/bin/cat", "arguments": ["d.txt"]})
    job = with_extras(job, inputs=[parse_input("d.txt")], outputs=["r.txt"], queue="q", wall_time_s=60, cpus=None)
    assert job.spec.input_sandbox == (FileRef(name="d.txt", source=tmp_path / "d.txt"),)
    assert job.spec.output_sandbox.files == ("r.txt",)
    assert job.spec.resources == Resources(queue="q", wall_time_s=60)
