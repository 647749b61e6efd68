"""EMI ADL with the nordugrid-adl extensions: read into :class:`JobDescription`, and write for A-REX.

Reading follows ``ADLParser.cpp`` (nordugrid/arc 7.0.0): elements are matched by namespace, any
prefix; times are whole seconds, memory and disk bytes (rounded up to MiB); a missing ``Source``
means the client uploads the input. A bulk ``<ActivityDescriptions>`` body (what A-REX's REST
interface accepts) is read as several jobs; ARC's own client parser rejects that root.

Writing produces what ARC's REST client sends (``emies:adl``): the ``nordugrid-adl`` extensions for
the delegation id, the logging directory and rerun, and XML escaping, so every value - quotes,
``(*``, ``$``, non-ASCII - reaches A-REX byte for byte.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from arc_intercede.descriptions.model import (
    DescriptionSyntaxError,
    InputFile,
    JobDescription,
    OutputFile,
    RuntimeEnvironment,
)

__all__ = ["ADL_NS", "NG_NS", "parse_adl", "write_adl", "write_adl_bulk"]

ADL_NS: Final = "http://www.eu-emi.eu/es/2010/12/adl"
NG_NS: Final = "http://www.nordugrid.org/es/2011/12/nordugrid-adl"
_A: Final = "{" + ADL_NS + "}"
_N: Final = "{" + NG_NS + "}"
_MB: Final = 1024 * 1024


def _text(el: ET.Element | None) -> str | None:
    return None if el is None else (el.text or "").strip()


def _int(el: ET.Element | None, what: str) -> int | None:
    value = _text(el)
    if value is None:
        return None
    if not value.isdigit():
        raise DescriptionSyntaxError(f"ADL {what}: {value!r} is not a whole number")
    return int(value)


def _mb(el: ET.Element | None, what: str) -> int | None:
    value = _int(el, what + " (bytes)")
    return None if value is None else (value + _MB - 1) // _MB


def _flag(el: ET.Element | None) -> bool:
    value = _text(el)
    return value not in (None, "", "false", "0")


def _options(parent: ET.Element) -> tuple[tuple[str, str], ...]:
    return tuple((_text(o.find(_A + "Name")) or "", _text(o.find(_A + "Value")) or "")
                 for o in parent.findall(_A + "Option"))


def parse_adl(text: str, *, base_dir: Path | None = None) -> list[JobDescription]:
    """Parse an ``ActivityDescription`` (one job) or an ``ActivityDescriptions`` bulk body.

    Raises:
        DescriptionSyntaxError: Not well-formed XML (with line:column), not ADL, or a value ARC
            refuses (non-integer times, an unnamed input, an element A-REX cannot run).
    """
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise DescriptionSyntaxError("ADL: document type declarations and entities are not allowed")
    try:
        root = ET.fromstring(text)  # noqa: S314 - no DTD/entities (checked above)
    except ET.ParseError as exc:
        line, col = exc.position
        reason = re.sub(r": line \d+, column \d+$", "", str(exc))
        raise DescriptionSyntaxError(f"line {line}:{col + 1}: not well-formed XML: {reason}") from None
    if root.tag == _A + "ActivityDescriptions":
        activities = root.findall(_A + "ActivityDescription")
        if not activities:
            raise DescriptionSyntaxError("ADL: ActivityDescriptions holds no ActivityDescription")
    elif root.tag == _A + "ActivityDescription":
        activities = [root]
    else:
        raise DescriptionSyntaxError(f"ADL: root element {root.tag!r} is not an adl:ActivityDescription")
    return [_job(a, base_dir) for a in activities]


def _job(root: ET.Element, base_dir: Path | None) -> JobDescription:
    ident = root.find(_A + "ActivityIdentification")
    app = root.find(_A + "Application")
    res = root.find(_A + "Resources")
    staging = root.find(_A + "DataStaging")
    f: dict[str, object] = {"base_dir": base_dir}
    extras: list[tuple[str, str, tuple[object, ...]]] = []
    if ident is not None:
        f["job_name"] = _text(ident.find(_A + "Name"))
    if app is not None:
        exe = app.find(_A + "Executable")
        if exe is not None:
            f["executable"] = _text(exe.find(_A + "Path"))
            f["arguments"] = tuple((a.text or "") for a in exe.findall(_A + "Argument"))
        for key, tag in (("stdin", "Input"), ("stdout", "Output"), ("stderr", "Error")):
            f[key] = _text(app.find(_A + tag))
        f["environment"] = tuple((_text(e.find(_A + "Name")) or "", _text(e.find(_A + "Value")) or "")
                                 for e in app.findall(_A + "Environment"))
        log = app.find(_A + "LoggingDirectory")
        if log is None:
            log = app.find(_N + "LoggingDirectory")
        f["gmlog"] = _text(log)
        f["rerun"] = _int(app.find(_N + "Rerun"), "Rerun")
        f["priority"] = _int(app.find(_N + "Priority"), "Priority")
        f["start_time"] = _text(app.find(_N + "StartTime"))
        for tag in ("PreExecutable", "PostExecutable"):
            for pre in app.findall(_A + tag):
                extras.append((f"adl:{tag}", "=", (_text(pre.find(_A + "Path")) or "",)))
    if res is not None:
        f["queue"] = _text(res.find(_A + "QueueName"))
        f["wall_time_s"] = _int(res.find(_A + "WallTime"), "WallTime")
        f["cpu_time_s"] = _int(res.find(_A + "TotalCPUTime"), "TotalCPUTime")
        f["memory_mb"] = _mb(res.find(_A + "IndividualPhysicalMemory"), "IndividualPhysicalMemory")
        disk = _mb(res.find(_A + "DiskSpaceRequirement"), "DiskSpaceRequirement")
        if disk == 0:
            raise DescriptionSyntaxError("ADL DiskSpaceRequirement: must be positive")
        f["disk_mb"] = disk
        slots = res.find(_A + "SlotRequirement")
        if slots is not None:
            f["count"] = _int(slots.find(_A + "NumberOfSlots"), "NumberOfSlots")
            f["count_per_node"] = _int(slots.find(_A + "SlotsPerHost"), "SlotsPerHost")
        for tag in ("NetworkInfo", "Benchmark"):
            if res.find(_A + tag) is not None:
                raise DescriptionSyntaxError(f"ADL Resources/{tag}: not supported by ARC")
        rtes = []
        for rte in res.findall(_A + "RuntimeEnvironment"):
            name, version = _text(rte.find(_A + "Name")) or "", _text(rte.find(_A + "Version"))
            rtes.append(RuntimeEnvironment(name=f"{name}-{version}" if version else name,
                                           options=tuple(o.text or "" for o in rte.findall(_A + "Option"))))
        f["runtime_environments"] = tuple(rtes)
    if staging is not None:
        f["inputs"] = tuple(_input(i) for i in staging.findall(_A + "InputFile"))
        f["outputs"] = tuple(out for o in staging.findall(_A + "OutputFile") for out in _outputs(o))
        f["delegation_id"] = _text(staging.find(_N + "DelegationID"))
    for section in (ident, app, res, staging):
        for child in section if section is not None else ():
            if child.tag.startswith(_N) and child.tag[len(_N):] not in _KNOWN_NG:
                extras.append((f"nordugrid-adl:{child.tag[len(_N):]}", "=", (_text(child) or "",)))
    f["extras"] = tuple(extras)
    return JobDescription(**f)  # type: ignore[arg-type]


_KNOWN_NG: Final = frozenset({"LoggingDirectory", "Rerun", "Priority", "StartTime", "DelegationID"})


def _input(el: ET.Element) -> InputFile:
    name = _text(el.find(_A + "Name"))
    if not name:
        raise DescriptionSyntaxError("ADL InputFile: missing or empty Name")
    sources = el.findall(_A + "Source")
    uri = _text(sources[0].find(_A + "URI")) if sources else ""
    return InputFile(name=name, source=uri or "", executable=_flag(el.find(_A + "IsExecutable")),
                     options=_options(sources[0]) if sources else (),
                     alternates=tuple(_text(s.find(_A + "URI")) or "" for s in sources[1:]))


def _outputs(el: ET.Element) -> Iterable[OutputFile]:
    name = _text(el.find(_A + "Name"))
    if not name:
        raise DescriptionSyntaxError("ADL OutputFile: missing or empty Name")
    targets = el.findall(_A + "Target")
    if not targets:
        yield OutputFile(name=name)
        return
    target = targets[0]
    flag = _text(target.find(_A + "CreationFlag"))
    if flag is not None and flag not in ("overwrite", "append", "dontOverwrite"):
        raise DescriptionSyntaxError(f"ADL OutputFile {name!r}: CreationFlag {flag!r} is not supported")
    options = _options(target)
    # in ADL every option belongs to the target; locations go last (xRSL's order: replica options follow)
    ordered = tuple(o for o in options if o[0] != "location") + tuple(o for o in options if o[0] == "location")
    mandatory = ("mandatory", "true" if _flag(target.find(_A + "Mandatory")) else "false")
    yield OutputFile(name=name, target=_text(target.find(_A + "URI")) or "", options=(mandatory, *ordered),
                     alternates=tuple(_text(t.find(_A + "URI")) or "" for t in targets[1:]))


# -- writer ------------------------------------------------------------------------------------------


_ESCAPES: Final = {"\r": "&#13;"}  # a literal CR would reach A-REX as LF (XML end-of-line handling)


def _el(tag: str, value: object, ns: str = "") -> str:
    return f"<{ns}{tag}>{escape(str(value), _ESCAPES)}</{ns}{tag}>"


def write_adl(job: JobDescription, *, delegation_id: str | None = None, namespaces: bool = True) -> str:
    """Serialise a prepared job as one ``ActivityDescription`` (what A-REX is sent).

    Args:
        job: The job, already prepared (the executable listed as an input when it is uploaded,
            stdout/stderr/gmlog as outputs, RTEs resolved to exact names).
        delegation_id: Put into every remote ``Source``/``Target`` and ``DataStaging``.
        namespaces: Declare the namespaces (False inside an ``ActivityDescriptions`` body).

    Raises:
        DescriptionSyntaxError: A value ADL cannot carry (an RTE with an operator other than
            ``=``, a rejected queue, a NUL or other character XML 1.0 forbids, extras).
    """
    for r in job.runtime_environments:
        if r.op != "=":
            raise DescriptionSyntaxError(
                f"runtimeenvironment {r.op} {r.name!r}: resolve it against the CE first (matchmaking)")
    if job.extras:
        names = ", ".join(n for n, _, _ in job.extras)
        raise DescriptionSyntaxError(f"ADL cannot carry the attributes {names}; remove them or send xRSL")
    parts: list[str] = []
    decl = f' xmlns="{ADL_NS}" xmlns:nordugrid-adl="{NG_NS}"' if namespaces else ""
    parts.append(f"<ActivityDescription{decl}>")
    if job.job_name is not None:
        parts.append("<ActivityIdentification>" + _el("Name", job.job_name) + "</ActivityIdentification>")
    parts.append("<Application>")
    if job.executable is not None:
        parts.append("<Executable>" + _el("Path", job.executable)
                     + "".join(_el("Argument", a) for a in job.arguments) + "</Executable>")
    for tag, value in (("Input", job.stdin), ("Output", job.stdout), ("Error", job.stderr)):
        if value is not None:
            parts.append(_el(tag, value))
    for name, value in job.environment:
        parts.append("<Environment>" + _el("Name", name) + _el("Value", value) + "</Environment>")
    if job.gmlog is not None:
        parts.append(_el("LoggingDirectory", job.gmlog))
    if job.rerun is not None:
        parts.append(_el("Rerun", job.rerun, "nordugrid-adl:"))
    if job.priority is not None:
        parts.append(_el("Priority", min(job.priority, 100), "nordugrid-adl:"))
    if job.lifetime_s is not None:
        parts.append(_el("WipeTime", f"PT{job.lifetime_s}S"))
    parts.append("</Application><Resources>")
    if job.queue is not None:
        parts.append(_el("QueueName", job.queue))
    if job.wall_time_s is not None:
        parts.append(_el("WallTime", job.wall_time_s))
    if job.cpu_time_s is not None:
        parts.append(_el("TotalCPUTime", job.cpu_time_s))
    if job.memory_mb is not None:
        parts.append(_el("IndividualPhysicalMemory", job.memory_mb * _MB))
    if job.disk_mb is not None:
        parts.append(_el("DiskSpaceRequirement", job.disk_mb * _MB))
    for r in job.runtime_environments:
        name, version = r.split
        parts.append("<RuntimeEnvironment>" + _el("Name", name) + (_el("Version", version) if version else "")
                     + "".join(_el("Option", o) for o in r.options) + "</RuntimeEnvironment>")
    if job.count is not None or job.count_per_node is not None:
        parts.append("<SlotRequirement>" + (_el("NumberOfSlots", job.count) if job.count is not None else "")
                     + (_el("SlotsPerHost", job.count_per_node) if job.count_per_node is not None else "")
                     + "</SlotRequirement>")
    parts.append("</Resources><DataStaging>")
    deleg = _el("DelegationID", delegation_id) if delegation_id else ""
    for i in job.inputs:
        if any(k == "location" for k, _ in i.options):
            raise DescriptionSyntaxError(
                f"inputfiles {i.name!r}: replica locations of an input cannot be expressed in ADL; send xRSL")
        parts.append("<InputFile>" + _el("Name", i.name))
        if not i.is_local:
            parts.append("<Source>" + _el("URI", i.source) + deleg + _options_xml(i.options) + "</Source>")
            parts.extend("<Source>" + _el("URI", a) + deleg + "</Source>" for a in i.alternates)
        if i.executable:
            parts.append("<IsExecutable>true</IsExecutable>")
        parts.append("</InputFile>")
    for o in job.outputs:
        keys = [k for k, _ in o.options]
        if "location" in keys and any(k != "location" for k in keys[keys.index("location"):]):
            raise DescriptionSyntaxError(
                f"outputfiles {o.name!r}: options of a replica location cannot be expressed in ADL; send xRSL")
        parts.append("<OutputFile>" + _el("Name", o.name))
        if o.target and "://" in o.target and not o.target.lower().startswith("file:"):
            opts = tuple(p for p in o.options if p[0] != "mandatory")
            mandatory = dict(o.options).get("mandatory")
            parts.append("<Target>" + _el("URI", o.target) + deleg + _options_xml(opts)
                         + (_el("Mandatory", mandatory) if mandatory else "") + "</Target>")
            parts.extend("<Target>" + _el("URI", a) + deleg + "</Target>" for a in o.alternates)
        parts.append("</OutputFile>")
    if delegation_id:
        parts.append(_el("DelegationID", delegation_id, "nordugrid-adl:"))
    parts.append("</DataStaging></ActivityDescription>")
    text = "".join(parts)
    _check_xml_chars(text)
    return text


def write_adl_bulk(jobs: Sequence[JobDescription], *, delegation_id: str | None = None) -> str:
    """One ``ActivityDescriptions`` body for A-REX's bulk creation (a single job: its own document)."""
    if len(jobs) == 1:
        return write_adl(jobs[0], delegation_id=delegation_id)
    body = "".join(write_adl(j, delegation_id=delegation_id, namespaces=False) for j in jobs)
    return f'<ActivityDescriptions xmlns="{ADL_NS}" xmlns:nordugrid-adl="{NG_NS}">{body}</ActivityDescriptions>'


def _options_xml(options: Iterable[tuple[str, str]]) -> str:
    return "".join("<Option>" + _el("Name", k) + _el("Value", v) + "</Option>" for k, v in options)


def _check_xml_chars(text: str) -> None:
    for c in text:
        o = ord(c)
        if (o < 0x20 and c not in "\t\n\r") or 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF):
            raise DescriptionSyntaxError(f"character U+{o:04X} cannot be carried in ADL (XML 1.0)")
