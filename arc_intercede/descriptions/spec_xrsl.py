r"""``SubmissionSpec`` -> ARC xRSL job description, in pure Python (no ARC bindings).

Why xRSL (not ADL): it is what ARC users and DIRAC's AREX CE write, it carries many copies in one
creation request as multi-xRSL (``+(&…)(&…)``), and A-REX's parser is the same for REST 1.0 and 1.1.

Everything below was read in nordugrid/arc (the stored copies carry no line numbers, so functions are
named; ``RSLParser.cpp`` at 1161816, ``XRSLParser.cpp`` at 906fa8b, A-REX C++ at 01ee7b7,
``lrms_common.sh.in`` at 064cee6 and 8892c6c, ``submit_common.sh`` at 0145c29).

**Literal quoting** (``src/hed/acc/JobDescriptionParser/RSLParser.cpp``):

* ``RSLParser::ParseString``, ``"`` branch: a literal runs from ``"`` to the next ``"``; a ``"`` right
  after it is an embedded quote and the literal continues. Nothing else is special inside: newlines,
  tabs, ``)``, ``$``, backticks, ``^``, ``#``, ``\``, non-ASCII and XML metacharacters are copied
  byte for byte. So every value is written ``"`` + value with ``"`` doubled + ``"``. (The ``'…'`` and
  ``^X…X`` forms follow the same doubling rule and gain nothing.)
* ``RSLParser::Parse`` first scans the **raw text** with ``s.find("(*")`` / ``s.find("*)")``,
  ignoring quotes, and fails with "End of comment not found" on a ``(*`` without a later ``*)``. A
  value containing ``(*`` is therefore cut between ``(`` and ``*`` and joined again with RSL's
  concatenation operator (``RSLParser::ParseList``, ``#``; ``RSLValue::Evaluate`` joins the two
  literals): ``"a(" # "*b"`` is the literal ``a(*b``, and the text never contains ``(*``. Literals
  are always separated by a space, so ParseList's implicit concatenation never applies.
* NUL cannot travel in a C string, an environment or an argument vector: rejected.

**What A-REX does with the values** (``src/services/a-rex/grid-manager/jobs/JobDescriptionHandler.cpp``
``write_grami``/``value_for_shell``, ``src/services/a-rex/lrms/lrms_common.sh.in``
``parse_grami_file``, ``src/services/a-rex/lrms/submit_common.sh`` ``add_user_env``/``cd_and_run``):

* The grami file holds every value single-quoted with ``'\''`` (exact). The submit script then
  writes **arguments** into the bash job script inside double quotes, escaping only ``\`` and ``"``,
  so ``$`` and backticks would be expanded on the worker node. An argument containing ``$`` or a
  backtick is passed in an exported variable ``ARC_INTERCEDE_ARG_<n>`` and written as
  ``$ARC_INTERCEDE_ARG_<n>``: the shell expands that reference once, without re-expanding or
  splitting the result, so the program receives exactly the value.
* **Environment values** are written as ``export 'NAME=value'`` (``'`` -> ``'\''``): exact.
* Line breaks: the values pass through ``$(…)``/backticks (trailing newlines are dropped), older
  releases quote arguments with ``echo -- … | cut -f2- -d' '`` (mangles multi-line values), and a
  live ARC 7.0 + Slurm run lost CR/LF. Arguments and environment values containing CR or LF are
  therefore rejected; pass multi-line content in an input file.
* The **executable** is trimmed, prefixed with ``./`` unless it starts with ``/`` (no ``PATH``
  lookup: a bare command name can never run), written raw between single quotes
  (``executable='…'``) and inside the double-quoted command line. It must be an absolute path or an
  input name, without surrounding blanks, ``'``, ``$``, backticks or control characters.
* ``stdin``/``stdout``/``stderr`` are written **unquoted** into the job script
  (``RUNTIME_JOB_STDOUT=…``, ``1>$RUNTIME_JOB_STDOUT``): restricted to ``[A-Za-z0-9._+,=/-]``.
* File names must be relative, canonical (no ``.``/``..``/empty segments), free of control
  characters (A-REX's control files are line based) and of ``(*`` (XRSLParser re-parses the
  printed ``executables`` list); an output name must not start with ``@`` (a dynamic output list).
* ``delegationid`` is emitted as asked, but the XRSLParser at 906fa8b has no branch for it (it is
  ignored as an unknown attribute); the delegation that A-REX uses comes from the REST creation
  request's ``delegation_id`` parameter.

**Bulk**: for a multi-xRSL request, A-REX's REST handler (``src/services/a-rex/rest/rest.cpp``,
``'+'`` case) parses the text, re-serialises each job with ``XRSLParser::UnParse``/``Assemble``
(``RSLLiteral::Print`` only doubles quotes) and parses that again, so a value containing ``(*``
reappears raw and the job fails. Such a job has ``bulk_safe=False`` and :func:`render_bulk` refuses
to bundle it; submit its copies one description per request.

**Units** (``XRSLParser`` ``memory``/``walltime`` branches, ``DateTime.cpp`` ``Period``):
``memory`` is MB (MiB) per slot (``stringto<int>``; the Slurm backend passes ``--mem …mb``).
``walltime``: a bare number means *seconds* in A-REX's GRIDMANAGER dialect (which A-REX uses to
parse what the client sends) but *minutes* in the user dialect, so it is sent as an ISO 8601
duration ``PT<n>S``, which ``Period`` reads as seconds in either dialect. ``count`` is the number of
slots, sent with ``countpernode`` equal to it (all slots on one node, as pilots need, and what lets
A-REX use node-local scratch). Integers are limited to 2**31-1 (ARC reads them as ``int``).
``gmlog`` is not requested: A-REX's REST ``diagnose`` endpoint serves the CE's job log without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from arc_intercede.contract import SubmissionSpec

__all__ = [
    "ARG_VAR_PREFIX", "INT_MAX", "DescriptionError", "RenderedJob", "Upload",
    "quote", "render_bulk", "render_xrsl",
]

ARG_VAR_PREFIX: Final = "ARC_INTERCEDE_ARG_"
"""Prefix of the exported variables that carry arguments the job script's shell would expand."""

INT_MAX: Final = 2**31 - 1
"""Largest count, memory or wall time ARC can read (it parses them into a C ``int``)."""

_COMMENT_OPEN: Final = "(*"
_SPLIT_MARKER: Final = '(" # "*'  # only ever produced by quote() splitting a "(*"
_SHELL_EXPANDED: Final = ("$", "`")
_LINE_BREAKS: Final = ("\n", "\r")
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_STD_NAME: Final = re.compile(r"[A-Za-z0-9._+,=/-]+")
_RTE_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+/-]*")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_BLANK: Final = re.compile(r"\s")
_EXECUTABLE_FORBIDDEN: Final = ("'", "$", "`")


class DescriptionError(ValueError):
    """The specification cannot be expressed as a job description (the message names the field)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Upload:
    """A local input file the client PUTs into the session directory after creation.

    Attributes:
        name: Relative name in the session directory.
        path: The local file.
        executable: Whether the job needs it executable (A-REX sets the bit itself).
    """

    name: str
    path: Path
    executable: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedJob:
    """One xRSL description and the local inputs to upload.

    Attributes:
        text: One xRSL description, starting with ``&``.
        uploads: Local inputs to PUT into the session directory, in input-sandbox order.
        bulk_safe: Whether the description survives A-REX's multi-xRSL re-serialisation (false when
            a value contains ``(*``; such a job must be created one description per request).
    """

    text: str
    uploads: tuple[Upload, ...]
    bulk_safe: bool = True


def quote(value: str, field: str = "value") -> str:
    """Return ``value`` as xRSL that ARC's RSL parser reads back as exactly ``value``.

    Args:
        value: Any string without NUL.
        field: Name used in the error message.

    Raises:
        DescriptionError: ``value`` is not a string, contains NUL or is not encodable as UTF-8.
    """
    _text(value, field)
    parts = value.split(_COMMENT_OPEN)
    last = len(parts) - 1
    # "a(*b(*c" -> "a(", "*b(", "*c": no piece contains "(*", and neither does " # " between them.
    pieces = [("*" if i else "") + part + ("(" if i < last else "") for i, part in enumerate(parts)]
    return " # ".join('"' + piece.replace('"', '""') + '"' for piece in pieces)


def render_xrsl(
    spec: SubmissionSpec, *, queue: str | None = None, delegation_id: str | None = None
) -> RenderedJob:
    """Render one job description and list the local inputs to upload.

    Args:
        spec: The job.
        queue: The backend's default queue; ``spec.resources.queue`` wins over it.
        delegation_id: A-REX delegation id for the job (also pass it on the creation request).

    Returns:
        The description and the uploads.

    Raises:
        DescriptionError: The spec is invalid or cannot reach the job exactly; the message names
            the field.
    """
    inputs, uploads, executables = _inputs(spec)
    executable = _executable(spec.executable, set(inputs))
    program = executable if executable in inputs else executable.removeprefix("./")
    if program in inputs and program not in executables:
        executables.append(program)
        uploads = [replace(u, executable=True) if u.name == program else u for u in uploads]
    environment = _environment(spec)
    words: list[str] = []
    for i, arg in enumerate(spec.arguments):
        field = f"arguments[{i}]"
        _text(arg, field)
        _no_line_breaks(arg, field)
        if any(c in arg for c in _SHELL_EXPANDED):
            environment.append((f"{ARG_VAR_PREFIX}{i}", arg))
            arg = f"${ARG_VAR_PREFIX}{i}"
        words.append(quote(arg, field))

    attrs = [f"(executable = {quote(executable, 'executable')})"]
    if words:
        attrs.append("(arguments = " + " ".join(words) + ")")
    if spec.stdin is not None:
        attrs.append(f"(stdin = {quote(_std_name(spec.stdin, 'stdin'))})")
    out = spec.output_sandbox
    outputs: list[str] = []
    for field, value in (("stdout", out.stdout), ("stderr", out.stderr)):
        if value is not None:
            name = _output_name(_std_name(value, f"output_sandbox.{field}"), f"output_sandbox.{field}")
            attrs.append(f"({field} = {quote(name)})")
            if name not in outputs:
                outputs.append(name)
    for i, value in enumerate(out.files):
        field = f"output_sandbox.files[{i}]"
        name = _output_name(_name(value, field, directory=True), field)
        if name not in outputs:
            outputs.append(name)
    if inputs:
        attrs.append("(inputfiles = " + " ".join(f"({quote(n)} {quote(s)})" for n, s in inputs.items()) + ")")
    if executables:
        attrs.append("(executables = " + " ".join(quote(n) for n in executables) + ")")
    if outputs:
        attrs.append("(outputfiles = " + " ".join(f'({quote(n)} "")' for n in outputs) + ")")
    if environment:
        attrs.append("(environment = " + " ".join(f"({quote(k)} {quote(v)})" for k, v in environment) + ")")
    attrs.extend(_resources(spec, queue))
    if spec.tag is not None and spec.tag != "":
        attrs.append(f"(jobname = {quote(_label(spec.tag, 'tag'))})")
    if delegation_id is not None:
        _label(delegation_id, "delegation_id")
        if not delegation_id or _BLANK.search(delegation_id):
            raise DescriptionError(f"delegation_id: {delegation_id!r} must be non-empty without blanks")
        attrs.append(f"(delegationid = {quote(delegation_id)})")
    text = "&" + "".join(attrs)
    return RenderedJob(text=text, uploads=tuple(uploads), bulk_safe=_SPLIT_MARKER not in text)


def render_bulk(descriptions: Sequence[str]) -> str:
    """Join single xRSL descriptions into the text of one creation request.

    Args:
        descriptions: Texts of :class:`RenderedJob` (each starting with ``&``).

    Returns:
        The only description unchanged, or the multi-xRSL ``+(&…)(&…)`` of all of them.

    Raises:
        DescriptionError: No description, one that is not a single ``&`` description, or (for more
            than one) a description that is not bulk safe (a value containing ``(*``).
    """
    if not descriptions:
        raise DescriptionError("descriptions: nothing to render")
    for i, text in enumerate(descriptions):
        if not isinstance(text, str) or not text.startswith("&"):
            raise DescriptionError(f"descriptions[{i}]: not a single xRSL description starting with '&'")
    if len(descriptions) == 1:
        return descriptions[0]
    for i, text in enumerate(descriptions):
        if _SPLIT_MARKER in text:
            raise DescriptionError(
                f"descriptions[{i}]: a value containing '(*' does not survive A-REX's multi-xRSL "
                "re-serialisation; create such jobs one description per request"
            )
    return "+" + "".join(f"({text})" for text in descriptions)


# -- validation helpers ----------------------------------------------------------------------------


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise DescriptionError(f"{field}: expected a string, got {type(value).__name__}")
    if "\x00" in value:
        raise DescriptionError(f"{field}: NUL characters cannot be passed to a job")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise DescriptionError(f"{field}: not encodable as UTF-8 ({exc.reason})") from None
    return value


def _no_line_breaks(value: str, field: str) -> None:
    if any(c in value for c in _LINE_BREAKS):
        raise DescriptionError(
            f"{field}: line breaks (CR, LF) are not passed exactly by ARC; "
            "put multi-line content in an input file"
        )


def _label(value: object, field: str) -> str:
    text = _text(value, field)
    if _CONTROL.search(text):
        raise DescriptionError(f"{field}: control characters are not allowed in {text!r}")
    return text


def _name(value: object, field: str, *, directory: bool = False) -> str:
    name = _label(value, field)
    if not name:
        raise DescriptionError(f"{field}: empty name")
    if name.startswith("/"):
        raise DescriptionError(f"{field}: {name!r} must be relative (no leading '/')")
    if _COMMENT_OPEN in name:
        raise DescriptionError(f"{field}: {name!r} contains '(*', which ARC's parser takes for a comment")
    segments = name[:-1].split("/") if directory and name.endswith("/") else name.split("/")
    if any(s in ("", ".", "..") for s in segments):
        raise DescriptionError(f"{field}: {name!r} must be a canonical relative path (no '..', '.' or '//')")
    return name


def _std_name(value: object, field: str) -> str:
    name = _name(value, field)
    if not _STD_NAME.fullmatch(name):
        raise DescriptionError(
            f"{field}: {name!r} may only use letters, digits and ._+,=/- "
            "(A-REX puts it unquoted into the job script)"
        )
    return name


def _output_name(name: str, field: str) -> str:
    if name.startswith("@"):
        raise DescriptionError(f"{field}: {name!r} starts with '@', which ARC reads as a dynamic output list")
    return name


def _positive(value: object, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= INT_MAX:
        raise DescriptionError(f"{field}: must be a positive integer up to {INT_MAX}, got {value!r}")
    return value


def _executable(value: object, inputs: set[str]) -> str:
    executable = _label(value, "executable")
    if not executable:
        raise DescriptionError("executable: must not be empty")
    if executable != executable.strip():
        raise DescriptionError(f"executable: {executable!r} has surrounding blanks (A-REX strips them)")
    for c in _EXECUTABLE_FORBIDDEN:
        if c in executable:
            raise DescriptionError(f"executable: {executable!r} contains {c!r} (the job script misquotes it)")
    if not (executable.startswith("/") or executable in inputs or executable.removeprefix("./") in inputs):
        raise DescriptionError(
            f"executable: {executable!r} is neither an absolute path nor an input_sandbox name; A-REX runs "
            f"./{executable.removeprefix('./')} in the session directory and does not search PATH"
        )
    return executable


def _inputs(spec: SubmissionSpec) -> tuple[dict[str, str], list[Upload], list[str]]:
    inputs: dict[str, str] = {}
    uploads: list[Upload] = []
    executables: list[str] = []
    for i, ref in enumerate(spec.input_sandbox):
        field = f"input_sandbox[{i}]"
        name = _name(ref.name, f"{field}.name")
        if name in inputs:
            raise DescriptionError(f"{field}.name: duplicate input name {name!r}")
        source = ref.source
        url = source if isinstance(source, str) and _URL.match(source) else None
        if url is not None and urlsplit(url).scheme.lower() != "file":
            _label(url, f"{field}.source")
            if _BLANK.search(url):
                raise DescriptionError(f"{field}.source: URL {url!r} must not contain blanks")
            inputs[name] = url
        else:
            path = Path(unquote(urlsplit(url).path)) if url is not None else Path(source)
            if not path.is_file():
                raise DescriptionError(f"{field}.source: {name!r}: local file {str(path)!r} does not exist "
                                       "or is not a regular file")
            inputs[name] = ""  # empty source: A-REX waits for the client's upload
            uploads.append(Upload(name=name, path=path, executable=bool(ref.executable)))
        if ref.executable:
            executables.append(name)
    return inputs, uploads, executables


def _environment(spec: SubmissionSpec) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in spec.environment.items():
        if not isinstance(key, str) or not _ENV_NAME.fullmatch(key):
            raise DescriptionError(f"environment: invalid variable name {key!r}")
        if key.startswith(ARG_VAR_PREFIX):
            raise DescriptionError(f"environment.{key}: names starting with {ARG_VAR_PREFIX} are reserved")
        _text(value, f"environment.{key}")
        _no_line_breaks(value, f"environment.{key}")
        pairs.append((key, value))
    return pairs


def _resources(spec: SubmissionSpec, default_queue: str | None) -> list[str]:
    res = spec.resources
    attrs: list[str] = []
    queue, field = (res.queue, "resources.queue") if res.queue is not None else (default_queue, "queue")
    if queue is not None:
        _label(queue, field)
        if not queue or _BLANK.search(queue):
            raise DescriptionError(f"{field}: {queue!r} must be a non-empty name without blanks")
        attrs.append(f"(queue = {quote(queue)})")
    cpus = _positive(res.cpus, "resources.cpus")
    if cpus is not None:
        attrs.append(f'(count = "{cpus}")(countpernode = "{cpus}")')
    memory = _positive(res.memory_mb, "resources.memory_mb")
    if memory is not None:
        attrs.append(f'(memory = "{memory}")')
    wall = _positive(res.wall_time_s, "resources.wall_time_s")
    if wall is not None:
        attrs.append(f'(walltime = "PT{wall}S")')
    for i, rte in enumerate(res.runtime_environments):
        field = f"resources.runtime_environments[{i}]"
        if not isinstance(rte, str) or not _RTE_NAME.fullmatch(rte):
            raise DescriptionError(f"{field}: {rte!r} is not a runtime environment name ([A-Za-z0-9._+/-])")
        attrs.append(f"(runtimeenvironment = {quote(rte)})")
    return attrs
