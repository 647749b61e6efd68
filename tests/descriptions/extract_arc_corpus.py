import re, subprocess, json, sys, os
C = "97883437cb8d8cac09681f1ad2214b6645ee1caa"
out = sys.argv[1]
manifest = []
def show(p): return subprocess.run(["git","show",f"{C}:{p}"],capture_output=True,text=True).stdout
def cstr(body):
    # concatenate C++ string literals
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    s = "".join(parts)
    return s.encode().decode("unicode_escape") if "\\" in s else s
def save(name, text, origin, note=""):
    with open(os.path.join(out, name), "w") as f: f.write(text)
    manifest.append({"file": name, "origin": origin, "note": note})
for test, var, ext in (("XRSLParserTest.cpp","xrsl","xrsl"),("ADLParserTest.cpp","xml","adl")):
    p = f"src/hed/acc/JobDescriptionParser/test/{test}"
    src = show(p)
    n = 0
    for m in re.finditer(r'\b(\w+)\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+);', src):
        text = cstr(m.group(2))
        if ext=="xrsl" and not text.lstrip().startswith(("&","+","|","(")): continue
        if ext=="adl" and "<" not in text: continue
        line = src[:m.start()].count("\n")+1
        n += 1
        save(f"arc-{test.split('.')[0].replace('ParserTest','').lower()}-{n:03d}.{ext}", text, f"github:nordugrid/arc@{C}:{p}#L{line}")
for p in ["src/hed/libs/compute/examples/helloworld.xrsl","src/hed/libs/compute/test-job-1","src/hed/libs/compute/test-job-2","src/hed/libs/compute/test-job-3"]:
    save("arc-"+os.path.basename(p).replace(".xrsl","")+".xrsl", show(p), f"github:nordugrid/arc@{C}:{p}")
ls = subprocess.run(["git","ls-tree","-r","--name-only",C,"src/services/a-rex/lrms/slurm/test/submit/"],capture_output=True,text=True).stdout.split()
for p in ls:
    src = show(p)
    for i,m in enumerate(re.finditer(r"<<'?EOF'?\n(.*?)\nEOF", src, re.S)):
        t = m.group(1)
        if not t.lstrip().startswith(("&","+")): continue
        line = src[:m.start()].count("\n")+2
        save(f"arc-slurm-{os.path.basename(p)}-{i}.xrsl", t+"\n", f"github:nordugrid/arc@{C}:{p}#L{line}")
json.dump(manifest, open(os.path.join(out,"MANIFEST.json"),"w"), indent=1)
print(len(manifest))
