"""Extract the ARC part of the corpus (run in a nordugrid/arc checkout; argument: the corpus directory).

Job descriptions from ARC's own parser tests (C++ string literals), its example and ``arctest``
descriptions, and the Slurm back-end test descriptions (shell here-documents), each recorded in
MANIFEST.json with repository, commit, path and line.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

COMMIT = "97883437cb8d8cac09681f1ad2214b6645ee1caa"
PARSER_TESTS = (("XRSLParserTest.cpp", "xrsl"), ("ADLParserTest.cpp", "adl"))
EXAMPLES = ("src/hed/libs/compute/examples/helloworld.xrsl", "src/hed/libs/compute/test-job-1",
            "src/hed/libs/compute/test-job-2", "src/hed/libs/compute/test-job-3")
SLURM = "src/services/a-rex/lrms/slurm/test/submit/"


def show(path: str) -> str:
    return subprocess.run(["git", "show", f"{COMMIT}:{path}"], capture_output=True, text=True, check=True).stdout


def c_string(body: str) -> str:
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))
    return text.encode().decode("unicode_escape") if "\\" in text else text


def main(out: str) -> None:
    manifest = []

    def save(name: str, text: str, origin: str) -> None:
        with open(os.path.join(out, name), "w") as f:
            f.write(text)
        manifest.append({"file": name, "origin": origin})

    for test, ext in PARSER_TESTS:
        path = f"src/hed/acc/JobDescriptionParser/test/{test}"
        src = show(path)
        n = 0
        for m in re.finditer(r'\b(\w+)\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src):
            text = c_string(m.group(2))
            if ext == "xrsl" and not text.lstrip().startswith(("&", "+", "|", "(")):
                continue
            if ext == "adl" and "<" not in text:
                continue
            n += 1
            line = src[: m.start()].count("\n") + 1
            stem = test.split(".")[0].replace("ParserTest", "").lower()
            save(f"arc-{stem}-{n:03d}.{ext}", text, f"github:nordugrid/arc@{COMMIT}:{path}#L{line}")
    for path in EXAMPLES:
        save("arc-" + os.path.basename(path).replace(".xrsl", "") + ".xrsl", show(path),
             f"github:nordugrid/arc@{COMMIT}:{path}")
    listing = subprocess.run(["git", "ls-tree", "-r", "--name-only", COMMIT, SLURM],
                             capture_output=True, text=True, check=True).stdout.split()
    for path in listing:
        src = show(path)
        for i, m in enumerate(re.finditer(r"<<'?EOF'?\n(.*?)\nEOF", src, re.S)):
            text = m.group(1)
            if not text.lstrip().startswith(("&", "+")):
                continue
            line = src[: m.start()].count("\n") + 2
            save(f"arc-slurm-{os.path.basename(path)}-{i}.xrsl", text + "\n",
                 f"github:nordugrid/arc@{COMMIT}:{path}#L{line}")
    with open(os.path.join(out, "MANIFEST.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
