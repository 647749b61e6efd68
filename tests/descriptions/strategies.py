"""Hypothesis strategies: job models, and xRSL texts written in every way the grammar allows.

:func:`jobs` draws a :class:`JobDescription` with hostile values; :func:`xrsl_texts` draws the text
of such a job written with random attribute-name spelling (case, underscores, quotes), quoting style
(double, single, ``^D…D``, bare), concatenation (``#``, implicit) and comments between tokens.
Values never contain ``(*`` (ARC's comment pre-scan reads that differently on purpose, see README).
"""

from __future__ import annotations

from hypothesis import strategies as st

from arc_intercede.descriptions.model import InputFile, JobDescription, OutputFile, RuntimeEnvironment
from arc_intercede.descriptions.rsl import REL_OPS

_HOSTILE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12,
).filter(lambda s: "(*" not in s)
_PUNCT = st.text(alphabet=st.sampled_from(list("ab\"'^#$()=<>!&|+*: \t\n\\/é✓")), max_size=8).filter(
    lambda s: "(*" not in s)
_VALUE = st.one_of(_HOSTILE, _PUNCT)
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NAME = st.builds(lambda a, b: a + b, st.sampled_from(_ALNUM), st.text(alphabet=_ALNUM + "._-", max_size=10))
_HOST = st.builds(lambda a, b, tld: a + b + tld, st.sampled_from("abcxyz"), st.text(alphabet="abc0123", max_size=8),
                  st.sampled_from([".org", ".eu"]))
_URL = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
                 st.sampled_from(["https", "http", "gsiftp", "root"]), _HOST, _NAME)
_RTE = st.builds(lambda a, b, v: f"{a}/{b}" + (f"-{v}" if v else ""),
                 st.sampled_from(["APPS", "ENV", "X"]), _NAME.filter(lambda s: "-" not in s),
                 st.one_of(st.none(), st.lists(st.integers(0, 99), min_size=1, max_size=3).map(
                     lambda v: ".".join(map(str, v)))))


@st.composite
def jobs(draw: st.DrawFn) -> JobDescription:
    """A job with hostile strings and the numeric/list attributes the model carries."""
    inputs = {f.name: f for f in draw(st.lists(st.builds(lambda n, u: InputFile(name=n, source=u), _NAME, _URL),
                                               max_size=3))}.values()
    outputs = {f.name: f for f in draw(st.lists(st.builds(lambda n, u: OutputFile(name=n, target=u or ""), _NAME,
                                                          st.one_of(st.none(), _URL)), max_size=3))}.values()
    opt_int = st.one_of(st.none(), st.integers(1, 100000))
    return JobDescription(
        executable=draw(st.one_of(_NAME.map(lambda s: "/bin/" + s), _VALUE.filter(bool))),
        arguments=tuple(draw(st.lists(_VALUE, max_size=4))),
        stdout=draw(st.one_of(st.none(), _NAME)),
        job_name=draw(st.one_of(st.none(), _VALUE.filter(bool))),
        inputs=tuple(inputs), outputs=tuple(outputs),
        queue=draw(st.one_of(st.none(), _NAME)),
        wall_time_s=draw(opt_int.map(lambda v: None if v is None else v * 60)),
        cpu_time_s=draw(opt_int.map(lambda v: None if v is None else v * 60)),
        memory_mb=draw(opt_int), count=draw(opt_int),
        runtime_environments=tuple(draw(st.lists(st.builds(
            lambda n, op: RuntimeEnvironment(name=n, op=op), _RTE, st.sampled_from(REL_OPS)), max_size=3))),
        environment=tuple(draw(st.lists(st.tuples(_NAME.map(lambda s: "V" + s.replace(".", "_").replace("-", "_")),
                                                  _VALUE), max_size=2))),
    )


def _spell(draw: st.DrawFn, name: str) -> str:
    chars = [c.upper() if draw(st.booleans()) else c for c in name]
    if draw(st.booleans()):
        chars.insert(draw(st.integers(0, len(chars))), "_")
    spelled = "".join(chars)
    return f'"{spelled}"' if draw(st.integers(0, 4)) == 0 else spelled


def _ws(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ", "\n", "\t ", " (* note *) ", "(*c*)"]))


def _literal(draw: st.DrawFn, value: str) -> str:
    """``value`` in a random but exact spelling: one or more quoted/bare pieces, concatenated."""
    pieces: list[str] = []
    rest = value
    while True:
        cut = draw(st.integers(1, len(rest))) if rest and draw(st.booleans()) else len(rest)
        pieces.append(rest[:cut])
        rest = rest[cut:]
        if not rest:
            break
    out: list[str] = []
    for k, piece in enumerate(pieces):
        if "(" in piece[-1:] or "*" in piece[:1]:
            style = "double"  # keep "(" and "*" in separate quotes so no "(*" appears in the text
        else:
            style = draw(st.sampled_from(["double", "single", "caret", "bare"]))
        bare_ok = piece and not any(c in piece for c in "+&|()=<>!\"'^#$ \t\n\v\f\r")
        if style == "bare" and bare_ok:
            text = piece
        elif style == "single":
            text = "'" + piece.replace("'", "''") + "'"
        elif style == "caret":
            delim = next((d for d in "~%@,;:" if d not in piece), None)
            text = f"^{delim}{piece}{delim}" if delim else '"' + piece.replace('"', '""') + '"'
        else:
            text = '"' + piece.replace('"', '""') + '"'
        if k:
            sep = " # " if draw(st.booleans()) else "#"
            out.append(sep + text)
        else:
            out.append(text)
    joined = "".join(out)
    return joined


@st.composite
def xrsl_texts(draw: st.DrawFn, job: JobDescription | None = None) -> tuple[JobDescription, str]:
    """``(job, text)``: a job and a user-side xRSL text that means exactly it."""
    job = job if job is not None else draw(jobs())
    rels: list[str] = []

    def rel(name: str, values: list[str], op: str = "=") -> None:
        rels.append("(" + _ws(draw) + _spell(draw, name) + _ws(draw) + op + _ws(draw)
                    + " ".join(values) + _ws(draw) + ")")

    lit = lambda v: _literal(draw, v)  # noqa: E731
    if job.executable is not None:
        rel("executable", [lit(job.executable)])
    if job.arguments:
        rel("arguments", [lit(a) for a in job.arguments])
    if job.stdout is not None:
        rel("stdout", [lit(job.stdout)])
    if job.job_name is not None:
        rel("jobname", [lit(job.job_name)])
    if job.inputs:
        rel("inputfiles", ["(" + lit(i.name) + " " + lit(i.source) + ")" for i in job.inputs])
    if job.outputs:
        rel("outputfiles", ["(" + lit(o.name) + " " + (lit(o.target) if o.target else '""') + ")"
                            for o in job.outputs])
    if job.queue is not None:
        rel("queue", [lit(job.queue)])
    for attr, name in (("wall_time_s", "walltime"), ("cpu_time_s", "cputime")):
        seconds = getattr(job, attr)
        if seconds is not None:
            minutes = seconds // 60
            form = draw(st.sampled_from(["bare", "hm", "iso", "words"]))
            text = {"bare": str(minutes), "hm": f"{minutes // 60}h{minutes % 60}m",
                    "iso": f"PT{minutes}M", "words": f"{minutes} minutes"}[form]
            rel(name, ['"' + text + '"'])
    if job.memory_mb is not None:
        rel("memory", [lit(str(job.memory_mb))])
    if job.count is not None:
        rel("count", [lit(str(job.count))])
    for r in job.runtime_environments:
        rel("runtimeenvironment", [lit(r.name)], op=r.op)
    if job.environment:
        rel("environment", ["(" + lit(k) + " " + lit(v) + ")" for k, v in job.environment])
    text = _ws(draw) + "&" + _ws(draw) + "".join(r + _ws(draw) for r in rels)
    return job, text
