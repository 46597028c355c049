"""docs/job-file.md lists exactly the options the binary validates (regenerate with tools/gen-docs)."""
import os
import subprocess

from common import SLUICE, SRC, check, ok

tables = subprocess.run([SLUICE, "help", "--markdown"], capture_output=True, text=True,
                        check=True).stdout
doc = open(os.path.join(SRC, "docs", "job-file.md"), encoding="utf-8").read()
check(tables in doc, "docs/job-file.md is out of date: run tools/gen-docs")
for path in ("README.md", "docs/job-file.md"):
    text = open(os.path.join(SRC, path), encoding="utf-8").read()
    check("tools/demo" in text or path != "README.md", f"{path} lacks tools/demo")
ok("docs/job-file.md matches `sluice help --markdown`")
