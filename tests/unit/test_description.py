"""Unit tests of the xRSL renderer: golden output, validation, and round trips through ARC's rules.

``RSLReader`` re-implements ARC's ``RSLParser`` (nordugrid/arc
``src/hed/acc/JobDescriptionParser/RSLParser.cpp``: ``Parse`` comment pre-scan, ``SkipWSAndComments``,
``ParseString``, ``ParseList``, ``ParseRSL``) so that rendered text is decoded the way A-REX decodes it.
``test_values_reach_the_program_exactly_through_arex_shell_quoting`` replays A-REX's grami quoting
(``JobDescriptionHandler::write_grami``), ``parse_grami_file`` and ``add_user_env`` in bash.
"""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arc_intercede.contract import FileRef, OutputSpec, Resources, SubmissionSpec
from arc_intercede.descriptions.spec_xrsl import (
    ARG_VAR_PREFIX,
    DescriptionError,
    RenderedJob,
    Upload,
    quote,
    render_bulk,
    render_xrsl,
)

# -- a faithful model of ARC's RSLParser -------------------------------------------------------------

_WS = " \t\n\v\f\r"
_UNQUOTED_STOP = "+&|()=<>!\"'^#$" + _WS
_NAME_FORBIDDEN = "+&|()=<>!\"'^#$"

Value = str | list["Value"]  # a literal, or a sequence "( ... )"


class RSLSyntaxError(Exception):
    pass


class RSLReader:
    """Mirror of RSLParser: conditions as (attribute, operator, values), concatenations evaluated."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = 0
        self.comments: dict[int, int] = {}
        pos = text.find("(*")  # RSLParser::Parse: raw scan, quotes are NOT honoured
        while pos != -1:
            end = text.find("*)", pos)
            if end == -1:
                raise RSLSyntaxError("End of comment not found")
            self.comments[pos] = end + 2
            pos = text.find("(*", end + 2)

    def peek(self) -> str:
        return self.s[self.n] if self.n < len(self.s) else ""

    def skip(self) -> None:  # SkipWSAndComments: a comment is skipped only where a token could start
        prev = -1
        while prev != self.n:
            prev = self.n
            while self.n < len(self.s) and self.s[self.n] in _WS:
                self.n += 1
            self.n = self.comments.get(self.n, self.n)

    def string(self) -> str | None:  # ParseString
        c = self.peek()
        if c in ('"', "'", "^") and c:
            if c == "^":
                self.n += 1
                c = self.peek()
                if not c:
                    raise RSLSyntaxError("no user delimiter")
            out = ""
            while True:
                end = self.s.find(c, self.n + 1)
                if end == -1:
                    raise RSLSyntaxError("End of quoted string not found")
                out += self.s[self.n + 1:end]
                self.n = end + 1
                if self.peek() != c:
                    return out
                out += c
        end = self.n
        while end < len(self.s) and self.s[end] not in _UNQUOTED_STOP:
            end += 1
        if end == self.n:
            return None
        word, self.n = self.s[self.n:end], end
        return word

    def values(self) -> list[Value]:  # ParseList; concat 0 = no, 1 = explicit '#', 2 = implicit
        values: list[Value] = []
        left: Value | None = None
        concat = 0
        while True:
            right: Value | None = None
            nextconcat = 0
            nsave = self.n
            self.skip()
            if self.n != nsave:
                concat = 0
            if self.peek() == "#":
                self.n += 1
                self.skip()
                concat = 1
            if self.peek() == "(":
                self.n += 1
                seq = self.values()
                self.skip()
                if self.peek() != ")":
                    raise RSLSyntaxError("')' expected")
                self.n += 1
                right = seq
            elif self.peek() == "$":
                raise RSLSyntaxError("RSL variables are never rendered")
            else:
                right = self.string()
                nextconcat = 2 if right is not None else 0
            if concat == 0:
                if left is not None:
                    values.append(left)
                left = right
            elif concat == 1:
                if left is None or right is None:
                    raise RSLSyntaxError("concatenation operand missing")
                left = _concat(left, right)
            elif left is not None:
                if right is not None:
                    left = _concat(left, right)
            else:
                left = right
            concat = nextconcat
            if left is None and right is None:
                return values

    def rsl(self) -> tuple[str, object]:  # ParseRSL
        self.skip()
        op = self.peek()
        if op and op in "+&|":
            self.n += 1
            self.skip()
            items = []
            while True:
                if self.peek() != "(":
                    raise RSLSyntaxError("'(' expected")
                self.n += 1
                self.skip()
                items.append(self.rsl())
                self.skip()
                if self.peek() != ")":
                    raise RSLSyntaxError("')' expected")
                self.n += 1
                self.skip()
                if self.peek() != "(":
                    return op, items
        attr = self.string()
        if attr is None or any(c in attr for c in _NAME_FORBIDDEN):
            raise RSLSyntaxError("Attribute name expected")
        self.skip()
        relop = next((o for o in ("!=", "<=", ">=", "=", "<", ">") if self.s.startswith(o, self.n)), None)
        if relop is None:
            raise RSLSyntaxError("Relation operator expected")
        self.n += len(relop)
        self.skip()
        return "cond", (attr.lower().replace("_", ""), relop, self.values())

    def parse(self) -> tuple[str, object]:
        tree = self.rsl()
        self.skip()
        if self.n != len(self.s):
            raise RSLSyntaxError(f"Junk at end of RSL at {self.n}")
        return tree


def _concat(left: Value, right: Value) -> str:
    if not isinstance(left, str) or not isinstance(right, str):
        raise RSLSyntaxError("concatenation operand is not a literal")
    return left + right


def conditions(text: str) -> list[tuple[str, list[Value]]]:
    op, items = RSLReader(text).parse()
    assert op == "&", text
    out = []
    for kind, cond in items:  # type: ignore[attr-defined]
        assert kind == "cond"
        attr, relop, values = cond
        assert relop == "="
        out.append((attr, values))
    return out


def attributes(text: str) -> dict[str, list[Value]]:
    """Attribute -> values; a repeated attribute (runtimeenvironment) collects all its values."""
    result: dict[str, list[Value]] = {}
    for attr, values in conditions(text):
        assert attr not in result or attr == "runtimeenvironment", f"{attr} repeated in {text}"
        result.setdefault(attr, []).extend(values)
    return result


def literal(text: str) -> str:
    """Decode one rendered value (as it would appear after '=')."""
    (value,) = attributes(f"&(x = {text})")["x"]
    assert isinstance(value, str)
    return value


def job_view(text: str) -> tuple[list[str], dict[str, str]]:
    """What the job receives: argv (with ARC_INTERCEDE_ARG_n resolved, as the worker's shell does) and env."""
    attrs = attributes(text)
    pairs = [pair for pair in attrs.get("environment", []) if isinstance(pair, list)]
    env = {str(k): str(v) for k, v in pairs}
    argv = [str(a) for a in attrs.get("arguments", [])]
    resolved = [env[a[1:]] if a.startswith("$" + ARG_VAR_PREFIX) else a for a in argv]
    user_env = {k: v for k, v in env.items() if not k.startswith(ARG_VAR_PREFIX)}
    return resolved, user_env


HOSTILE = [
    'double "quoted"', '""', '"', "'", "single 'q'", "(paren)", ")", "(", "(*", "*)", "(*)", "a(*b(*c*)",
    "((**))", "(**", "*(", "$HOME", "${HOME}", "$(id)", "$((6*7))", "`id`", "^x^", "^", "tab\there",
    "back\\slash", "\\", "\\n", "\\c", "é✓日本", "<a href='x'>&amp;</a>", "<>&'", "", " ", "  lead",
    "trail  ",
    "#", "a # b", "&", "|", ";", "&&", "a|b;c&d", "!", "!!", "~", "*", "?", "[a]", "{a,b}", "-n", "-e", "--",
    "=", "a=b", "%s", "\x01\x1f\x7f", "+(&(x=y))", '") (executable = "/bin/evil',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_quote_round_trips_through_the_arc_parser_rules(value: str) -> None:
    rendered = quote(value)
    assert "(*" not in rendered
    assert literal(rendered) == value


def test_quote_round_trips_random_strings() -> None:
    rng = random.Random(20240601)
    alphabet = "\"'()*#^$`\\ \t\n\r&|;<>=!+a é✓"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 14)))
        rendered = quote(value)
        assert "(*" not in rendered
        assert literal(rendered) == value, (value, rendered)


def test_quote_splits_comment_openers_with_concatenation() -> None:
    assert quote("plain") == '"plain"'
    assert quote('say "hi"') == '"say ""hi"""'
    assert quote("a(*b") == '"a(" # "*b"'
    assert quote("(*") == '"(" # "*"'


def test_quote_rejects_nul_and_unencodable() -> None:
    with pytest.raises(DescriptionError, match="NUL"):
        quote("a\x00b")
    with pytest.raises(DescriptionError, match="UTF-8"):
        quote("\ud800")


def test_reader_models_the_arc_comment_trap() -> None:
    # Sanity of the model itself: this is why quote() never lets "(*" into the text.
    with pytest.raises(RSLSyntaxError, match="End of comment"):
        RSLReader('&(x = "a(*b")').parse()
    assert attributes('&(x = "a" (* comment *) "b")')["x"] == ["a", "b"]
    assert attributes('&(x = "a""b" \'c\'\'d\' ^!e!!f! g)')["x"] == ['a"b', "c'd", "e!f", "g"]
    assert attributes('&(x = "a"#"b" "c""d"\'e\')')["x"] == ["ab", 'c"de']


def test_hostile_values_reach_the_description_exactly() -> None:
    env = {f"V{i}": v for i, v in enumerate(HOSTILE)}
    tag = "".join(v for v in HOSTILE if v.isprintable())  # a label: no control characters
    job = render_xrsl(SubmissionSpec(executable="/usr/bin/env", arguments=tuple(HOSTILE), environment=env,
                                     tag=tag))
    assert "(*" not in job.text
    argv, user_env = job_view(job.text)
    assert argv == list(HOSTILE)
    assert user_env == env
    assert attributes(job.text)["jobname"] == [tag]
    # Every argument the job script's shell would expand travels by reference.
    raw = attributes(job.text)["arguments"]
    assert all(not any(c in str(a) for c in "$`") or str(a).startswith("$" + ARG_VAR_PREFIX) for a in raw)


# -- A-REX's shell layer, replayed in bash -----------------------------------------------------------

_PARSE_GRAMI = r"""
. ./grami
arg_i=0
joboption_args=
eval "var_is_set=\${joboption_arg_$arg_i+yes}"
while [ ! -z "${var_is_set}" ] ; do
   eval "var_value=\${joboption_arg_$arg_i}"
   var_value=$(printf '%s\n' "$var_value" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
   joboption_args="$joboption_args \"${var_value}\""
   arg_i=$(( $arg_i + 1 ))
   eval "var_is_set=\${joboption_arg_$arg_i+yes}"
done
LRMS_JOB_SCRIPT=job.sh
echo "#!/bin/bash" > $LRMS_JOB_SCRIPT
i=0
eval "var_is_set=\${joboption_env_$i+yes}"
while [ ! -z "${var_is_set}" ] ; do
   eval "var_value=\${joboption_env_$i}"
   var_escaped=`echo "$var_value" | sed "s/'/'\\\\\''/g"`
   echo "export '${var_escaped}'" >> $LRMS_JOB_SCRIPT
   i=$(( $i + 1 ))
   eval "var_is_set=\${joboption_env_$i+yes}"
done
cat >> $LRMS_JOB_SCRIPT <<EOSCR
executable='$joboption_arg_0'
$joboption_args
EOSCR
"""


def _value_for_shell(value: str) -> str:  # JobDescriptionHandler value_for_shell(..., true)
    return "'" + value.replace("'", "'\\''") + "'"


@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("sed") is None, reason="needs bash and sed")
def test_values_reach_the_program_exactly_through_arex_shell_quoting(tmp_path: Path) -> None:
    values = [v for v in HOSTILE if v != ""] + [""]
    program = ("import json, os, sys; "
               "json.dump({'argv': sys.argv[1:], 'env': os.environ.get('HOSTILE')}, sys.stdout)")
    spec = SubmissionSpec(executable=sys.executable, arguments=("-c", program, *values),
                          environment={"HOSTILE": "".join(values)})
    attrs = attributes(render_xrsl(spec).text)
    (executable,) = attrs["executable"]
    grami = [f"joboption_arg_0={_value_for_shell(str(executable))}"]
    grami += [f"joboption_arg_{i}={_value_for_shell(str(a))}"
              for i, a in enumerate(attrs["arguments"], start=1)]
    grami += [f"joboption_env_{i}={_value_for_shell(f'{k}={v}')}"
              for i, (k, v) in enumerate(p for p in attrs["environment"] if isinstance(p, list))]
    (tmp_path / "grami").write_text("\n".join(grami) + "\n", encoding="utf-8")
    (tmp_path / "submit.sh").write_text(_PARSE_GRAMI, encoding="utf-8")
    subprocess.run(["bash", "submit.sh"], cwd=tmp_path, check=True, timeout=60)
    result = subprocess.run(["bash", "job.sh"], cwd=tmp_path, check=True, timeout=60,
                            capture_output=True, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    seen = json.loads(result.stdout)
    assert seen["argv"] == list(values)
    assert seen["env"] == "".join(values)


# -- golden and behaviour ----------------------------------------------------------------------------


def test_golden_full_spec(tmp_path: Path) -> None:
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    data = tmp_path / "data.txt"
    data.write_text("x")
    spec = SubmissionSpec(
        executable="run.sh",
        arguments=("--n", "3", "cost=$5", 'say "hi"'),
        input_sandbox=(
            FileRef(name="run.sh", source=script),
            FileRef(name="data.txt", source=str(data)),
            FileRef(name="remote.dat", source="https://example.org/remote.dat"),
            FileRef(name="bin/tool", source=data, executable=True),
        ),
        output_sandbox=OutputSpec(stdout="out.txt", stderr="err.txt", files=("results/", "summary.json")),
        resources=Resources(queue="grid", cpus=2, memory_mb=2000, wall_time_s=3601,
                            runtime_environments=("ENV/PROXY", "ENV/SINGULARITY")),
        environment={"MODE": "fast"},
        stdin="data.txt",
        tag="my job",
    )
    job = render_xrsl(spec, queue="batch", delegation_id="deleg123")
    assert job.text == (
        '&(executable = "run.sh")'
        '(arguments = "--n" "3" "$ARC_INTERCEDE_ARG_2" "say ""hi""")'
        '(stdin = "data.txt")'
        '(stdout = "out.txt")'
        '(stderr = "err.txt")'
        '(inputfiles = ("run.sh" "") ("data.txt" "") ("remote.dat" "https://example.org/remote.dat") '
        '("bin/tool" ""))'
        '(executables = "bin/tool" "run.sh")'
        '(outputfiles = ("out.txt" "") ("err.txt" "") ("results/" "") ("summary.json" ""))'
        '(environment = ("MODE" "fast") ("ARC_INTERCEDE_ARG_2" "cost=$5"))'
        '(queue = "grid")'
        '(count = "2")(countpernode = "2")'
        '(memory = "2000")'
        '(walltime = "PT3601S")'
        '(runtimeenvironment = "ENV/PROXY")'
        '(runtimeenvironment = "ENV/SINGULARITY")'
        '(jobname = "my job")'
        '(delegationid = "deleg123")'
    )
    assert job.uploads == (
        Upload(name="run.sh", path=script, executable=True),
        Upload(name="data.txt", path=data, executable=False),
        Upload(name="bin/tool", path=data, executable=True),
    )
    assert job.bulk_safe
    assert [a for a, _ in conditions(job.text)].count("runtimeenvironment") == 2


def test_minimal_spec() -> None:
    quiet = OutputSpec(stdout=None, stderr=None)
    job = render_xrsl(SubmissionSpec(executable="/bin/true", output_sandbox=quiet))
    assert job == RenderedJob(text='&(executable = "/bin/true")', uploads=(), bulk_safe=True)


def test_default_output_sandbox_keeps_stdout_and_stderr() -> None:
    job = render_xrsl(SubmissionSpec(executable="/bin/true"))
    assert job.text == ('&(executable = "/bin/true")(stdout = "stdout")(stderr = "stderr")'
                        '(outputfiles = ("stdout" "") ("stderr" ""))')


def test_merged_stdout_and_stderr_are_one_output() -> None:
    merged = OutputSpec(stdout="log", stderr="log", files=("log", "x/"))
    job = render_xrsl(SubmissionSpec(executable="/bin/true", output_sandbox=merged))
    assert '(outputfiles = ("log" "") ("x/" ""))' in job.text


def test_queue_precedence() -> None:
    plain = SubmissionSpec(executable="/bin/true", output_sandbox=OutputSpec(stdout=None, stderr=None))
    own = SubmissionSpec(executable="/bin/true", output_sandbox=OutputSpec(stdout=None, stderr=None),
                         resources=Resources(queue="grid"))
    assert render_xrsl(plain).text == '&(executable = "/bin/true")'
    assert render_xrsl(plain, queue="batch").text == '&(executable = "/bin/true")(queue = "batch")'
    assert render_xrsl(own, queue="batch").text == '&(executable = "/bin/true")(queue = "grid")'
    assert render_xrsl(own).text == '&(executable = "/bin/true")(queue = "grid")'


def test_delegation_id_is_emitted_only_when_given() -> None:
    spec = SubmissionSpec(executable="/bin/true", output_sandbox=OutputSpec(stdout=None, stderr=None))
    assert "delegationid" not in render_xrsl(spec).text
    assert render_xrsl(spec, delegation_id="0a1b2c").text.endswith('(delegationid = "0a1b2c")')


def test_executable_may_name_an_input_with_dot_slash(tmp_path: Path) -> None:
    (tmp_path / "run.sh").write_text("#!/bin/sh\n")
    job = render_xrsl(SubmissionSpec(executable="./run.sh",
                                     input_sandbox=(FileRef(name="run.sh", source=tmp_path / "run.sh"),)))
    assert attributes(job.text)["executable"] == ["./run.sh"]
    assert attributes(job.text)["executables"] == ["run.sh"]
    assert job.uploads[0].executable


def test_file_url_sources_are_uploaded(tmp_path: Path) -> None:
    local = tmp_path / "in put.txt"
    local.write_text("x")
    job = render_xrsl(SubmissionSpec(executable="/bin/cat", input_sandbox=(
        FileRef(name="in.txt", source="file://" + str(local).replace(" ", "%20")),)))
    assert attributes(job.text)["inputfiles"] == [["in.txt", ""]]
    assert job.uploads == (Upload(name="in.txt", path=local, executable=False),)


def test_shell_expanded_arguments_travel_in_the_environment() -> None:
    job = render_xrsl(SubmissionSpec(executable="/bin/echo", arguments=("plain", "$x", "`y`", "a\\b")))
    assert '(arguments = "plain" "$ARC_INTERCEDE_ARG_1" "$ARC_INTERCEDE_ARG_2" "a\\b")' in job.text
    assert '("ARC_INTERCEDE_ARG_1" "$x") ("ARC_INTERCEDE_ARG_2" "`y`")' in job.text


def test_bulk_rendering() -> None:
    one = render_xrsl(SubmissionSpec(executable="/bin/true")).text
    other = render_xrsl(SubmissionSpec(executable="/bin/false")).text
    assert render_bulk([one]) == one
    assert render_bulk([one, other, one]) == f"+({one})({other})({one})"
    op, items = RSLReader(render_bulk([one, other])).parse()
    assert op == "+" and len(items) == 2  # type: ignore[arg-type]
    with pytest.raises(DescriptionError, match="descriptions"):
        render_bulk([])
    with pytest.raises(DescriptionError, match=r"descriptions\[1\]"):
        render_bulk([one, "+(" + one + ")"])


def test_values_with_comment_openers_are_not_bulk_safe() -> None:
    job = render_xrsl(SubmissionSpec(executable="/bin/echo", arguments=("a(*b",)))
    assert not job.bulk_safe
    assert job_view(job.text)[0] == ["a(*b"]
    assert render_bulk([job.text]) == job.text  # one description per request is exact
    with pytest.raises(DescriptionError, match=r"descriptions\[0\].*\(\*"):
        render_bulk([job.text, job.text])
    tricky = render_xrsl(SubmissionSpec(executable="/bin/echo", arguments=('(" # "*', "( #*", '"(*"')))
    assert job_view(tricky.text)[0] == ['(" # "*', "( #*", '"(*"']
    assert render_xrsl(SubmissionSpec(executable="/bin/echo", arguments=('(" # "*x', "*)"))).bulk_safe


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (SubmissionSpec(executable=""), "executable"),
        (SubmissionSpec(executable="hostname"), "executable: 'hostname' is neither"),
        (SubmissionSpec(executable=" /bin/true"), "executable"),
        (SubmissionSpec(executable="/bin/it's"), "executable"),
        (SubmissionSpec(executable="/opt/$V/run"), "executable"),
        (SubmissionSpec(executable="/bin/`x`"), "executable"),
        (SubmissionSpec(executable="/bin/a\nb"), "executable"),
        (SubmissionSpec(executable="/bin/echo", arguments=("a\nb",)), r"arguments\[0\]: line breaks"),
        (SubmissionSpec(executable="/bin/echo", arguments=("ok", "a\rb")), r"arguments\[1\]"),
        (SubmissionSpec(executable="/bin/echo", arguments=("a\x00b",)), r"arguments\[0\]: NUL"),
        (SubmissionSpec(executable="/bin/echo", arguments=("\ud800",)), r"arguments\[0\]"),
        (SubmissionSpec(executable="/bin/echo", environment={"X": "a\r\nb"}), "environment.X: line breaks"),
        (SubmissionSpec(executable="/bin/echo", environment={"X": "a\x00"}), "environment.X: NUL"),
        (SubmissionSpec(executable="/bin/echo", environment={"1BAD": "x"}), "environment: invalid"),
        (SubmissionSpec(executable="/bin/echo", environment={"A-B": "x"}), "environment: invalid"),
        (SubmissionSpec(executable="/bin/echo", environment={f"{ARG_VAR_PREFIX}0": "x"}), "reserved"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="../x", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="/abs", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a//b", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="./a", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a\nb", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a(*b", source="https://h/x"),)),
         r"input_sandbox\[0\]\.name"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a", source="https://h/a"),
                                                       FileRef(name="a", source="https://h/b"))),
         r"input_sandbox\[1\]\.name: duplicate"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a", source="/no/such/file"),)),
         r"input_sandbox\[0\]\.source: 'a'"),
        (SubmissionSpec(executable="x", input_sandbox=(FileRef(name="a", source="https://h/a b"),)),
         r"input_sandbox\[0\]\.source"),
        (SubmissionSpec(executable="x", output_sandbox=OutputSpec(files=("../up",))),
         r"output_sandbox\.files\[0\]"),
        (SubmissionSpec(executable="x", output_sandbox=OutputSpec(files=("ok", "@list"))),
         r"output_sandbox\.files\[1\]"),
        (SubmissionSpec(executable="x", output_sandbox=OutputSpec(stdout="out file")),
         r"output_sandbox\.stdout"),
        (SubmissionSpec(executable="x", output_sandbox=OutputSpec(stderr="$err")), r"output_sandbox\.stderr"),
        (SubmissionSpec(executable="x", stdin="../in"), "stdin"),
        (SubmissionSpec(executable="x", resources=Resources(cpus=0)), "resources.cpus"),
        (SubmissionSpec(executable="x", resources=Resources(cpus=2**31)), "resources.cpus"),
        (SubmissionSpec(executable="x", resources=Resources(memory_mb=-1)), "resources.memory_mb"),
        (SubmissionSpec(executable="x", resources=Resources(memory_mb="1")), "resources.memory_mb"),  # type: ignore[arg-type]
        (SubmissionSpec(executable="x", resources=Resources(wall_time_s=True)), "resources.wall_time_s"),
        (SubmissionSpec(executable="x", resources=Resources(queue="")), "resources.queue"),
        (SubmissionSpec(executable="x", resources=Resources(queue="a b")), "resources.queue"),
        (SubmissionSpec(executable="x", resources=Resources(runtime_environments=("",))),
         r"resources\.runtime_environments\[0\]"),
        (SubmissionSpec(executable="x", resources=Resources(runtime_environments=("ENV/A", "ENV B"))),
         r"resources\.runtime_environments\[1\]"),
        (SubmissionSpec(executable="x", tag="a\nb"), "tag"),
    ],
)
def test_invalid_specs_name_the_field(spec: SubmissionSpec, field: str) -> None:
    if spec.executable == "x":  # make the executable valid so that the field under test is reached
        spec = dataclasses.replace(spec, executable="/bin/x")
    with pytest.raises(DescriptionError, match=field):
        render_xrsl(spec)


def test_invalid_arguments_of_render_xrsl_name_the_field() -> None:
    spec = SubmissionSpec(executable="/bin/true")
    with pytest.raises(DescriptionError, match="delegation_id"):
        render_xrsl(spec, delegation_id="a b")
    with pytest.raises(DescriptionError, match="queue"):
        render_xrsl(spec, queue="")


def test_local_source_must_be_a_regular_file(tmp_path: Path) -> None:
    spec = SubmissionSpec(executable="/bin/true", input_sandbox=(FileRef(name="d", source=tmp_path),))
    with pytest.raises(DescriptionError, match=r"input_sandbox\[0\]\.source: 'd'.*not a regular file"):
        render_xrsl(spec)
