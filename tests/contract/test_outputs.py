"""Output retrieval against the real CE: nested, odd names, many files, one large file, twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from arc_intercede import ARCBackend, FileRef, JobStatus, Limits, OutputSpec, SubmissionSpec
from tests.contract.helpers import backend_config, wait_terminal

LARGE_MB = 300
SMALL_FILES = 300

# Runs on the worker node: writes the tree and a manifest of SHA-256 sums computed there.
PROGRAM = f"""
import hashlib, json, os
names = ["data/nested/deeper/leaf.txt", "data/with space.txt", "data/ünïcødé ✓.txt", "data/empty.bin",
         "data/hash#and?query%.txt"]
names += ["data/many/f%03d.txt" % i for i in range({SMALL_FILES})]
for i, n in enumerate(names):
    os.makedirs(os.path.dirname(n), exist_ok=True)
    with open(n, "wb") as f:
        f.write(b"" if n.endswith("empty.bin") else ("content of %s %d\\n" % (n, i)).encode())
block = os.urandom(1 << 20)
with open("data/large.bin", "wb") as f:
    for i in range({LARGE_MB}):
        f.write(block[i:] + block[:i])
names.append("data/large.bin")
sums = {{}}
for n in names:
    h = hashlib.sha256()
    with open(n, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    sums[n] = h.hexdigest()
json.dump(sums, open("manifest.json", "w", encoding="utf-8"), ensure_ascii=False)
print("wrote", len(names), "files")
"""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def test_fetch_output_complete_byte_exact_and_repeatable(client_config_path: Path, tmp_path: Path) -> None:
    program = tmp_path / "gen.py"
    program.write_text(PROGRAM)
    spec = SubmissionSpec(
        executable="/usr/bin/python3",
        arguments=("gen.py",),
        input_sandbox=(FileRef(name="gen.py", source=program),),
        output_sandbox=OutputSpec(stdout="out.txt", stderr="err.txt", files=("data/", "manifest.json")),
    )
    progress_reports = []

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            (job_id,) = (await ce.submit(spec)).ids.values()
            states = await wait_terminal(ce, [job_id], within=600)
            assert states[job_id] is JobStatus.DONE
            dest = tmp_path / "out"
            first = (await ce.fetch_output([job_id], dest, progress=progress_reports.append))[job_id]
            assert first.complete, first.reason
            sums = json.loads(first.files["manifest.json"].read_text(encoding="utf-8"))
            assert len(sums) == SMALL_FILES + 6
            for name, digest in sums.items():
                assert name in first.files, name
                assert _sha256(first.files[name]) == digest, name
            assert first.files["data/empty.bin"].stat().st_size == 0
            assert first.files["data/large.bin"].stat().st_size == LARGE_MB << 20
            assert first.stdout is not None and "wrote" in first.stdout.read_text()
            assert first.log is not None and first.log.exists()
            assert set(first.files) == {*sums, "manifest.json"}  # payload only: no stdout/stderr
            assert progress_reports and progress_reports[-1].finished
            assert progress_reports[-1].files_done == len(first.files) + 2
            # Non-destructive and repeatable: the same manifest and bytes, no duplicates or leftovers.
            second = (await ce.fetch_output([job_id], dest))[job_id]
            assert second == first
            on_disk = sorted(p.relative_to(dest / job_id).as_posix()
                             for p in (dest / job_id).rglob("*") if p.is_file())
            assert on_disk == sorted([*first.files, "out.txt", "err.txt"])
            assert _sha256(second.files["data/large.bin"]) == sums["data/large.bin"]
            await ce.purge([job_id])

    asyncio.run(body())


def test_fetch_output_limits_and_per_id_reasons(client_config_path: Path, tmp_path: Path) -> None:
    spec = SubmissionSpec(
        executable="/bin/sh",
        arguments=("-c", "mkdir d; for i in 1 2 3 4 5; do head -c 100000 /dev/zero > d/f$i; done"),
        output_sandbox=OutputSpec(stdout=None, stderr=None, files=("d/",)),
    )

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            (job_id,) = (await ce.submit(spec)).ids.values()
            running = (await ce.submit(SubmissionSpec(executable="/bin/sleep", arguments=("300",)))).ids[0]
            await wait_terminal(ce, [job_id])
            out = await ce.fetch_output([job_id, running, "nosuchjob000"], tmp_path / "a")
            assert out[job_id].complete and len(out[job_id].files) == 5
            assert not out[running].complete and "not finished" in out[running].reason
            assert not out["nosuchjob000"].complete and "not found" in out["nosuchjob000"].reason
        small = backend_config(client_config_path, limits=Limits(max_total_bytes=250_000))
        async with ARCBackend(small) as ce:
            out = (await ce.fetch_output([job_id], tmp_path / "b"))[job_id]
            assert not out.complete and out.reason.startswith("limit:bytes")
            assert len(out.files) == 2  # what was completed stays listed
            leftovers = [p for p in (tmp_path / "b").rglob("*") if p.name.startswith(".arc-intercede-part")]
            assert leftovers == []
        few = backend_config(client_config_path, limits=Limits(max_files=3))
        async with ARCBackend(few) as ce:
            out = (await ce.fetch_output([job_id], tmp_path / "c"))[job_id]
            assert not out.complete and out.reason.startswith("limit:files") and len(out.files) == 3
            await ce.kill([running])
            await wait_terminal(ce, [running])
            await ce.purge([job_id, running])

    asyncio.run(body())


def test_declared_output_the_job_never_wrote_is_missing_output(client_config_path: Path, tmp_path: Path) -> None:
    spec = SubmissionSpec(
        executable="/bin/sh",
        arguments=("-c", "echo made > made.txt; mkdir -p kept; echo k > kept/k.txt"),
        output_sandbox=OutputSpec(stdout="out.txt", stderr=None,
                                  files=("made.txt", "never.txt", "kept/", "nodir/", "with space.txt")),
    )

    async def body() -> None:
        async with ARCBackend(client_config_path) as ce:
            (job_id,) = (await ce.submit(spec)).ids.values()
            states = await wait_terminal(ce, [job_id])
            assert states[job_id] is JobStatus.DONE
            out = (await ce.fetch_output([job_id], tmp_path / "out"))[job_id]
            assert not out.complete and out.reason.startswith("missing-output: "), out.reason
            for name in ("'never.txt'", "'nodir/'", "'with space.txt'"):
                assert name in out.reason, out.reason
            assert "made.txt" not in out.reason and "kept" not in out.reason
            assert set(out.files) == {"made.txt", "kept/k.txt"} and out.stdout is not None
            assert out.log is not None
            await ce.purge([job_id])

    asyncio.run(body())
