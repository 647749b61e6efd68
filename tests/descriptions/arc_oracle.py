"""ARC 7's own job-description parser as an oracle: runs INSIDE the stack chroot (python3 + ``arc``).

Reads a JSON list of ``{"text": ..., "mode": "parse"|"prepare"}`` on stdin and writes a JSON list of
``{"ok", "error", "jobs": [...]}`` on stdout, in the same order: one process for a whole corpus.
Each job is reduced to the fields the differential suite compares (user-side meaning, seconds, MB).
Local inputs resolve against a fresh temporary cwd; their sources are reported relative to it.

Self-contained on purpose (the chroot has no arc_intercede); keep it Python 3.9+ and stdlib only.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time

import arc

_RTE = re.compile(r'\( runtimeenvironment (=|!=|<=|>=|<|>) "((?:[^"]|"")*)"')


def _num(value):
    return None if value is None or value < 0 else int(value)


def _url(u, cwd):
    if u.Protocol() == "file":
        path = u.Path()
        return {"local": os.path.relpath(path, cwd) if path.startswith(cwd + "/") else path}
    opts = {}
    try:
        opts = dict(u.Options())
    except Exception:
        pass
    return {"scheme": u.Protocol(), "host": u.Host(), "path": u.Path(), "options": opts}


def _job(j, cwd):
    app, res, ds = j.Application, j.Resources, j.DataStaging
    ok, user = j.UnParse("nordugrid:xrsl")
    user = user.split("( clientxrsl =")[0] if ok else ""
    ops = [m.group(1) for m in _RTE.finditer(user)]
    rtes = []
    for k, s in enumerate(res.RunTimeEnvironment.getSoftwareList()):
        rtes.append({"name": str(s), "op": ops[k] if k < len(ops) else "?", "options": list(s.getOptions())})
    other = dict(j.OtherAttributes)
    return {
        "executable": app.Executable.Path or None,
        "arguments": list(app.Executable.Argument),
        "stdin": app.Input or None,
        "stdout": app.Output or None,
        "stderr": app.Error or None,
        "job_name": j.Identification.JobName or None,
        "inputs": [{"name": f.Name, "sources": [_url(s, cwd) for s in f.Sources], "executable": bool(f.IsExecutable)}
                   for f in ds.InputFiles],
        "outputs": [{"name": f.Name, "targets": [_url(t, cwd) for t in f.Targets]} for f in ds.OutputFiles],
        "queue": res.QueueName or None,
        "rejected_queue": other.get("nordugrid:broker;reject_queue"),
        "wall_time_s": _num(res.TotalWallTime.range.max),
        "cpu_time_s": _num(res.TotalCPUTime.range.max),
        "memory_mb": _num(res.IndividualPhysicalMemory.max),
        "disk_mb": _num(res.DiskSpaceRequirement.DiskSpace.max),
        "count": _num(res.SlotRequirement.NumberOfSlots),
        "runtime_environments": rtes,
        "environment": [list(p) for p in app.Environment],
        "gmlog": app.LogDir or None,
        "alternatives": len(j.GetAlternatives()),
        "adl": j.UnParse("emies:adl")[1] if ok else None,
    }


def main():
    items = json.load(sys.stdin)
    out = []
    t0 = time.perf_counter()
    for item in items:
        cwd = tempfile.mkdtemp()
        os.chdir(cwd)
        jobs = arc.JobDescriptionList()
        res = arc.JobDescription.Parse(item["text"], jobs)
        if not res:
            out.append({"ok": False, "error": res.str(), "jobs": []})
            continue
        done = []
        for j in jobs:
            if item.get("mode") == "prepare":
                p = arc.JobDescription(j)
                p.Prepare()
                done.append(None)
            else:
                done.append(_job(j, cwd))
        out.append({"ok": True, "error": "", "jobs": done})
    json.dump({"results": out, "seconds": time.perf_counter() - t0}, sys.stdout)


if __name__ == "__main__":
    main()
