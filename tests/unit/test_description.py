from __future__ import annotations

from pathlib import Path

import pytest

from arc_intercede.contract import FileRef, OutputSpec, Resources, SubmissionSpec
from arc_intercede.description import (
    ARG_VAR_PREFIX,
    DescriptionError,
    quote,
    render_bulk,
    render_xrsl,
)


def parse_literals(text: str) -> list[str]:
    """Decode a sequence of xRSL literals the way ARC's RSLParser::ParseString/ParseList does.

    Double-quoted strings use "" for a quote; `#` concatenates; comments are found by a raw scan for
    "(*" before parsing (which is why a value must never put "(*" into the text).
    """
    assert "(*" not in text, "raw text must not contain a comment opener"
    values: list[str] = []
    i, concat = 0, False
    while i < len(text):
        c = text[i]
        if c in " \t":
            i += 1
            continue
        if c == "#":
            concat = True
            i += 1
            continue
        assert c == '"', f"unexpected {c!r} at {i} in {text!r}"
        out = ""
        while True:
            end = text.index('"', i + 1)
            out += text[i + 1:end]
            i = end + 1
            if i < len(text) and text[i] == '"':
                out += '"'
                continue
            break
        if concat:
            values[-1] += out
            concat = False
        else:
            values.append(out)
    return values


HOSTILE = [
    'double "quoted"', '""', '"', "single 'q'", "(paren)", "(*", "*)", "a(*b(*c*)", "((**))", "$HOME",
    "`id`", "^x^", "tab\there", "back\\slash", "é✓日本", "<a href='x'>&amp;</a>", "", " ", "#", "a # b",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_through_the_arc_parser_rules(value: str) -> None:
    assert parse_literals(quote(value)) == [value]


def test_quote_rejects_nul() -> None:
    with pytest.raises(DescriptionError, match="NUL"):
        quote("a\x00b")


def test_golden_full_spec(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    data = tmp_path / "data.txt"
    data.write_text("x")
    spec = SubmissionSpec(
        executable="run.sh",
        arguments=("--n", "3", "cost=$5"),
        input_sandbox=(
            FileRef(name="run.sh", source=script),
            FileRef(name="data.txt", source=data),
            FileRef(name="remote.dat", source="https://example.org/remote.dat"),
            FileRef(name="tool", source=data, executable=True),
        ),
        output_sandbox=OutputSpec(stdout="out.txt", stderr="err.txt", files=("results/", "summary.json")),
        resources=Resources(queue="grid", cpus=2, memory_mb=2000, wall_time_s=3601,
                            runtime_environments=("ENV/PROXY",)),
        environment={"MODE": "fast"},
        stdin="data.txt",
        tag="my job",
    )
    job = render_xrsl(spec, queue="batch", delegation_id="deleg123")
    assert job.text == (
        '&(executable = "run.sh")'
        '(arguments = "--n" "3" "$ARC_INTERCEDE_ARG_2")'
        '(stdin = "data.txt")'
        '(stdout = "out.txt")(stderr = "err.txt")'
        '(inputfiles = ("run.sh" "") ("data.txt" "") ("remote.dat" "https://example.org/remote.dat") ("tool" ""))'
        '(executables = "run.sh" "tool")'
        '(outputfiles = ("out.txt" "") ("err.txt" "") ("results/" "") ("summary.json" ""))'
        '(environment = ("MODE" "fast") ("ARC_INTERCEDE_ARG_2" "cost=$5"))'
        '(queue = "grid")'
        '(count = "2")(countpernode = "2")'
        '(memory = "2000")'
        '(walltime = "61")'
        '(runtimeenvironment = "ENV/PROXY")'
        '(jobname = "my job")'
        '(delegationid = "deleg123")'
    )
    assert [(u.name, u.path, u.executable) for u in job.uploads] == [
        ("run.sh", script, False), ("data.txt", data, False), ("tool", data, True)
    ]


def test_minimal_spec_and_default_queue() -> None:
    job = render_xrsl(SubmissionSpec(executable="/bin/true", output_sandbox=OutputSpec(stdout=None, stderr=None)),
                      queue="batch")
    assert job.text == '&(executable = "/bin/true")(queue = "batch")'
    assert job.uploads == ()


def test_shell_expanded_arguments_travel_in_the_environment() -> None:
    job = render_xrsl(SubmissionSpec(executable="/bin/echo", arguments=("plain", "$x", "`y`")))
    assert '(arguments = "plain" "$ARC_INTERCEDE_ARG_1" "$ARC_INTERCEDE_ARG_2")' in job.text
    assert '("ARC_INTERCEDE_ARG_1" "$x") ("ARC_INTERCEDE_ARG_2" "`y`")' in job.text


def test_bulk_rendering() -> None:
    one = render_xrsl(SubmissionSpec(executable="/bin/true")).text
    assert render_bulk([one]) == one
    assert render_bulk([one, one]) == f"+({one})({one})"
    with pytest.raises(DescriptionError):
        render_bulk([])


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (SubmissionSpec(executable=""), "executable"),
        (SubmissionSpec(executable="/bin/echo", arguments=("a\nb",)), "arguments[0]"),
        (SubmissionSpec(executable="/bin/echo", environment={"X": "a\rb"}), "environment.X"),
        (SubmissionSpec(executable="/bin/echo", environment={"1BAD": "x"}), "environment"),
        (SubmissionSpec(executable="/bin/echo", environment={f"{ARG_VAR_PREFIX}0": "x"}), "reserved"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="../x", source="https://h/x"),)), "input_sandbox"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="/abs", source="https://h/x"),)), "input_sandbox"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a", source="https://h/a"),
                                                       FileRef(name="a", source="https://h/b"))), "duplicate"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a", source="/no/such/file"),)), "not a readable"),
        (SubmissionSpec(executable="x", output_sandbox=OutputSpec(files=("../up",))), "output_sandbox.files"),
        (SubmissionSpec(executable="x", resources=Resources(cpus=0)), "resources.cpus"),
        (SubmissionSpec(executable="x", resources=Resources(memory_mb=-1)), "resources.memory_mb"),
        (SubmissionSpec(executable="x", resources=Resources(wall_time_s=True)), "resources.wall_time_s"),
    ],
)
def test_invalid_specs_name_the_field(spec: SubmissionSpec, field: str) -> None:
    with pytest.raises(DescriptionError, match=field.replace("[", r"\[").replace("]", r"\]")):
        render_xrsl(spec)
