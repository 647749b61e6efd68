"""Unit tests of the xRSL/ADL readers, preparation, writers and matchmaking (no ARC needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings

from arc_intercede.cli import main
from arc_intercede.descriptions.adl import parse_adl, write_adl, write_adl_bulk
from arc_intercede.descriptions.matchmaking import MatchError, Target, match, targets_from_info
from arc_intercede.descriptions.model import DescriptionSyntaxError, RuntimeEnvironment
from arc_intercede.descriptions.prepare import detect_language, load_descriptions, prepare, to_wire
from arc_intercede.descriptions.xrsl import parse_period, parse_xrsl, write_xrsl
from tests.descriptions import strategies


def test_error_positions_are_line_and_column() -> None:
    with pytest.raises(DescriptionSyntaxError, match=r"^line 3:7: relation operator expected"):
        parse_xrsl("&\n(executable=/bin/true)\n(arg  uments=a)")
    with pytest.raises(DescriptionSyntaxError, match=r"line 1:25: junk at end of RSL"):
        parse_xrsl("&(executable=/bin/true) x")


@pytest.mark.parametrize(("text", "seconds"), [
    ("5", 300), ("1h30", 5400), ("10m 30", 630), ("1 hours", 3600), ("2 days", 172800), ("PT1H30M", 5400),
    ("P2D", 172800), ("1w", 604800), ("90s", 90),
])
def test_periods_user_side(text: str, seconds: int) -> None:
    assert parse_period(text) == seconds


@pytest.mark.parametrize("text", ["1.5", "1:30", "hours 5", "%d", "P1Y", "10s 5", "5 months"])
def test_periods_arc_would_mangle_are_refused(text: str) -> None:
    with pytest.raises(DescriptionSyntaxError, match="walltime"):
        parse_period(text, field="walltime")


def test_grammar_features() -> None:
    (job,) = parse_xrsl('(* c *)&(Exe_Cutable=$(B)/true)(rsl_substitution=("B" "/bin"))'
                        '(arguments="a""b" \'c\'\'d\' ^*e"f* g#h "i"j $(B)x "(*")'
                        '(stdout=o)(join=yes)(walltime=2)(|(queue=a)(queue=b))')
    assert job.executable == "/true"  # a use before the binding is empty, as in ARC
    assert job.arguments == ('a"b', "c'd", 'e"f', "gh", "ij", "/binx", "(*")
    assert (job.stdout, job.stderr, job.wall_time_s, job.queue) == ("o", "o", 120, "a")
    assert [a.queue for a in job.alternatives] == ["b"]


def test_multi_job_and_rte_operators() -> None:
    jobs = parse_xrsl('+(&(executable=/bin/a)(runtimeenvironment>="APPS/X-1.2" opt))(&(executable=/bin/b))')
    assert [j.executable for j in jobs] == ["/bin/a", "/bin/b"]
    assert jobs[0].runtime_environments == (RuntimeEnvironment(name="APPS/X-1.2", op=">=", options=("opt",)),)


def test_prepare_adds_executable_and_outputs(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "d.txt").write_text("x")
    (tmp_path / "j.xrsl").write_text('&(executable=run.sh)(inputfiles=("d.txt" ""))(stdout=o)(gmlog=log)')
    (job,) = load_descriptions(tmp_path / "j.xrsl")
    p = prepare(job)
    assert {u.name: (u.path, u.executable) for u in p.uploads} == {
        "d.txt": (tmp_path.resolve() / "d.txt", False), "run.sh": (tmp_path.resolve() / "run.sh", True)}
    assert [o.name for o in p.job.outputs] == ["o", "log"]
    (tmp_path / "d.txt").unlink()
    with pytest.raises(DescriptionSyntaxError, match=r"d\.txt"):
        prepare(job)
    assert prepare(job, check_files=False).missing == ("d.txt",)


def test_unsendable_attributes_are_refused_before_any_request() -> None:
    (job,) = parse_xrsl("&(executable=/bin/true)(notify=\"be a@b.c\")")
    with pytest.raises(DescriptionSyntaxError, match="notify"):
        prepare(job)
    (job,) = parse_xrsl("&(executable=/bin/true)(runtimeenvironment>=X-1)")
    with pytest.raises(DescriptionSyntaxError, match="resolve"):
        to_wire([prepare(job).job])


def test_adl_writer_escapes_and_reads_back() -> None:
    (job,) = parse_xrsl('&(executable=/bin/echo)(arguments="<&>" "(*" "a\r\nb" "é")(jobname="x\'y")(memory=3)'
                        '(inputfiles=("u" "https://h.org/u" "cache=no"))(queue=q)(walltime=1)')
    text = write_adl(prepare(job).job, delegation_id="D1")
    (back,) = parse_adl(text)
    assert back.arguments == job.arguments and back.job_name == job.job_name
    assert (back.memory_mb, back.wall_time_s, back.queue) == (3, 60, "q")
    assert back.inputs[0].options == (("cache", "no"),) and back.delegation_id == "D1"
    bulk = parse_adl(write_adl_bulk([prepare(job).job] * 3))
    assert len(bulk) == 3


@settings(max_examples=40, deadline=None)
@given(strategies.xrsl_texts())
def test_generated_texts_read_as_their_job_and_round_trip(case: tuple) -> None:
    job, text = case
    (ours,) = parse_xrsl(text)
    assert ours.to_json() == job.to_json()
    (again,) = parse_xrsl(write_xrsl(ours))
    assert again.to_json() == job.to_json()


INFO = {"Domains": {"AdminDomain": {"Services": {"ComputingService": {
    "ComputingShare": [{"Name": "batch", "MaxWallTime": "3600", "MaxMainMemory": "2000", "MaxSlotsPerJob": "4"},
                       {"Name": "vo-share", "MappingPolicy": {}}],
    "ComputingManager": {"ApplicationEnvironments": {"ApplicationEnvironment": [
        {"AppName": "APPS/X", "AppVersion": "4.5.5"}, {"AppName": "APPS/X", "AppVersion": "99"},
        {"AppName": "APPS/X", "AppVersion": "0.1"}, {"AppName": "ENV/PROXY"}]}}}}}}}


def test_matchmaking_resolves_and_names_unmet_requirement() -> None:
    targets = targets_from_info(INFO)
    assert [t.queue for t in targets] == ["batch"]
    (job,) = parse_xrsl("&(executable=/bin/true)(runtimeenvironment>=APPS/X-4.5.5)(runtimeenvironment=ENV/PROXY)")
    chosen = match(job, targets)
    assert chosen.queue == "batch"
    assert [(r.name, r.op) for r in chosen.runtime_environments] == [("APPS/X-99", "="), ("ENV/PROXY", "=")]
    for text, needle in [("(walltime=61)", "MaxWallTime"), ("(memory=3000)", "memory 3000"),
                         ("(count=5)", "MaxSlotsPerJob"), ("(queue=other)", "queue 'other'"),
                         ("(runtimeenvironment=APPS/X)", "runtimeenvironment = 'APPS/X'")]:
        (bad,) = parse_xrsl("&(executable=/bin/true)" + text)
        with pytest.raises(MatchError, match=needle):
            match(bad, targets)
    (alt,) = parse_xrsl("&(executable=/bin/true)(|(queue=other)(queue=batch))")
    assert match(alt, targets).queue == "batch"
    assert match(alt, [Target(queue="other")]).queue == "other"


def test_detect_language() -> None:
    assert detect_language("  <x/>") == "adl"
    assert detect_language("\n(* c *)&(a=b)") == "xrsl"
    assert detect_language("executable: x") == "yaml"


def test_cli_describe_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.xrsl").write_text('&(executable=run.sh)(walltime=5)(memory=10)(inputfiles=("in" ""))'
                                     "(runtimeenvironment>=APPS/BIO/BOWTIE-2.0.0)")
    (tmp_path / "b.xrsl").write_text("&(executable=/bin/true)(walltime=1.5)")
    rc = main(["describe", "--json", str(tmp_path / "a.xrsl"), str(tmp_path / "b.xrsl")])
    out = json.loads(capsys.readouterr().out)
    assert rc == 2
    assert [e["ok"] for e in out] == [True, False] and "1.5" in out[1]["error"]
    (job,) = out[0]["jobs"]
    assert (job["wall_time_s"], job["memory_mb"], job["cpu_time_s"], job["stdin"]) == (300, 10, None, None)
    assert job["inputs"] == [{"name": "in", "source": "", "executable": False}]
    assert job["runtime_environments"] == [{"name": "APPS/BIO/BOWTIE-2.0.0", "op": ">=", "options": []}]
    assert job["missing_inputs"] == ["in"]
