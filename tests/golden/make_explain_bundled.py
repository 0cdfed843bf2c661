#!/usr/bin/python3
"""Writes tests/golden/explain_bundled/: what `lumos explain` wrote for the bundled model, with
the machine's paths and the embedded pictures taken out (CliExplain.BundledOutputIsPinned):
the files' names, an explanation.json, the report's data (report_data.json, from the script in
the self-contained report.html) and summary.csv's header.

Re-run only when explain's output is meant to change, and say why in the commit:
    /usr/bin/python3 tests/golden/make_explain_bundled.py build/lumos
"""
import json
import os
import re
import subprocess
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
source = os.path.dirname(os.path.dirname(here))
samples = os.path.join(source, "samples", "faces")
golden = os.path.join(here, "explain_bundled")


def main(lumos):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out")
        subprocess.run([lumos, "--threads", "1", "explain", "-i", samples, samples + "/astronaut.png", "-o", out,
                        "--method", "gradcam,gradcam++,layercam,eigencam,lime", "--format", "json,html,npy",
                        "--lime-samples", "300"], check=True, stdout=subprocess.DEVNULL)
        files = sorted(os.path.relpath(os.path.join(d, f), out)
                       for d, dirs, names in os.walk(out) for f in dirs + names)
        record = json.load(open(os.path.join(out, "astronaut", "explanation.json")))
        models = os.path.dirname(record["model"])
        record["model"] = "<models>/" + os.path.basename(record["model"])
        record["image"] = record["image"].replace(samples, "<samples>")
        report = open(os.path.join(out, "report.html"), encoding="utf-8").read()
        report = report.replace(samples, "<samples>").replace(models, "<models>").replace(out, "<out>")
        report = re.sub(r"data:image/(png|jpeg);base64,[A-Za-z0-9+/=]+", r"data:image/\1;base64,…", report)
        start = report.index("LUMOS_DATA=") + len("LUMOS_DATA=")
        data = json.loads(report[start:report.index(";\n", start)])
        header = open(os.path.join(out, "summary.csv"), encoding="utf-8", newline="").readline()
    os.makedirs(golden, exist_ok=True)
    with open(os.path.join(golden, "files.txt"), "w") as f:
        f.write("".join(name + "\n" for name in files))
    with open(os.path.join(golden, "explanation.json"), "w") as f:
        f.write(json.dumps(record, indent=2, sort_keys=True) + "\n")
    with open(os.path.join(golden, "report_data.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    with open(os.path.join(golden, "summary_header.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(header)
    old = os.path.join(golden, "report.html")
    if os.path.exists(old):
        os.remove(old)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(source, "build", "lumos"))
