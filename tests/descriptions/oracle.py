"""Drive ARC 7's own parser (``arc_oracle.py`` in the stack chroot) and compare its reading with ours.

One chroot process per batch: JSON in on stdin, JSON out. :func:`oracle_available` says why the
chroot cannot be used; :func:`compare` lists field-by-field differences between ARC's reading
and :class:`JobDescription` objects from our parser.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from arc_intercede.descriptions.model import JobDescription

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "compose" / "arc-slurm" / "chroot-stack"
SCRIPT = Path(__file__).with_name("arc_oracle.py")
CORPUS = Path(__file__).with_name("corpus")


def chroot_root() -> Path:
    return Path(os.environ.get("ARC_STACK_ROOT", "/var/lib/arc-intercede/chroot"))


def oracle_available() -> str | None:
    """None if ARC's parser can be run, else the reason."""
    if os.geteuid() != 0:
        return "the stack chroot needs root"
    if not (chroot_root() / "usr/lib/python3/dist-packages/arc").exists():
        return f"no python3-nordugrid-arc in the stack chroot {chroot_root()} (run chroot-stack up proxy first)"
    return None


def run_oracle(items: list[dict[str, str]], timeout: float = 600) -> tuple[list[dict[str, Any]], float]:
    """Parse every ``{"text", "mode"}`` with ARC's parser in one chroot process.

    Returns:
        Per item ``{"ok", "error", "jobs"}``, and the seconds ARC spent parsing.
    """
    proc = subprocess.run(
        [str(RUNNER), "exec", "python3", "-c", SCRIPT.read_text()],
        input=json.dumps(items), capture_output=True, text=True, timeout=timeout, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"ARC oracle failed ({proc.returncode}): {proc.stderr[-2000:]}")
    data = json.loads(proc.stdout)
    return data["results"], float(data["seconds"])


def _split_url(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    netloc, _, opts = parts.netloc.partition(";")
    options = dict(o.split("=", 1) for o in opts.split(";") if "=" in o)
    host = netloc.rsplit("@", 1)[-1]
    host = host[1:].split("]")[0] if host.startswith("[") else host.split(":")[0]
    return {"scheme": parts.scheme.lower(), "host": host, "path": parts.path or "/", "options": options}


def _our_source(name: str, source: str, options: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    if not source:
        return {"local": name}
    if "://" not in source or source.lower().startswith("file:"):
        path = urlsplit(source).path if source.lower().startswith("file:") else source
        return {"local": path}
    d = _split_url(source)
    for key, value in options:  # options after a location= belong to that replica
        if key == "location":
            break
        d["options"][key] = value
    return d


def _oracle_source(src: dict[str, Any]) -> dict[str, Any]:
    if "local" in src:
        return src
    path = src["path"] if src["path"].startswith("/") else "/" + src["path"]
    return {"scheme": src["scheme"].lower(), "host": src["host"], "path": path, "options": src["options"]}


def reduce_ours(job: JobDescription) -> dict[str, Any]:
    """The fields of ``job`` in the oracle's shape."""
    return {
        "executable": job.executable,
        "arguments": list(job.arguments),
        "stdin": job.stdin,
        "stdout": job.stdout,
        "stderr": job.stderr,
        "job_name": job.job_name,
        "inputs": [{"name": i.name, "sources": [_our_source(i.name, i.source, i.options)]
                    + [_our_source(i.name, a, ()) for a in i.alternates],
                    "executable": i.executable} for i in job.inputs],
        "outputs": [{"name": o.name,
                     "targets": [] if (not o.target or "://" not in o.target
                                       or o.target.lower().startswith("file:"))
                     else [_our_source(o.name, o.target, o.options)]
                     + [_our_source(o.name, a, (o.options[0],) if o.options[:1] == (("mandatory", "false"),)
                                    or o.options[:1] == (("mandatory", "true"),) else ())
                        for a in o.alternates]} for o in job.outputs],
        "queue": job.queue,
        "rejected_queue": job.rejected_queues[-1] if job.rejected_queues else None,
        "wall_time_s": job.wall_time_s,
        "cpu_time_s": job.cpu_time_s,
        "memory_mb": job.memory_mb,
        "disk_mb": job.disk_mb,
        "count": job.count,
        "runtime_environments": [{"name": r.name, "op": r.op, "options": list(r.options)}
                                 for r in job.runtime_environments],
        "environment": [list(p) for p in job.environment],
        "gmlog": job.gmlog,
        "alternatives": len(job.alternatives),
    }


def reduce_oracle(job: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in job.items() if k != "adl"}
    out["inputs"] = [dict(i, sources=[_oracle_source(s) for s in i["sources"]]) for i in job["inputs"]]
    out["outputs"] = [dict(o, targets=[_oracle_source(t) for t in o["targets"]]) for o in job["outputs"]]
    return out


def compare(ours: list[JobDescription], theirs: list[dict[str, Any]]) -> list[str]:
    """Differences between our jobs and ARC's, as ``field: ours != ARC's`` lines (empty: same meaning)."""
    if len(ours) != len(theirs):
        return [f"number of jobs: {len(ours)} != {len(theirs)}"]
    diffs: list[str] = []
    for k, (a_job, b_job) in enumerate(zip(ours, theirs, strict=True)):
        a, b = reduce_ours(a_job), reduce_oracle(b_job)
        for key in a:
            if a[key] != b.get(key):
                diffs.append(f"job {k}: {key}: ours {a[key]!r} != ARC {b.get(key)!r}")
    return diffs
