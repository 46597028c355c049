"""Helpers shared by the integration tests: the binary, temp dirs, output readers."""
import atexit
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

SLUICE = os.environ.get("SLUICE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "sluice")
SRC = os.environ.get("SLUICE_SRC") or os.path.join(os.path.dirname(__file__), "..", "..")


def tmpdir(name):
    """A fresh directory, removed when the test exits (SLUICE_KEEP_TMP=1 keeps it)."""
    d = tempfile.mkdtemp(prefix=f"sluice-{name}-")
    if not os.environ.get("SLUICE_KEEP_TMP"):
        atexit.register(shutil.rmtree, d, True)
    return d


def run(args, timeout=300, check=True, env=None, **kw):
    """Runs sluice with args; returns the CompletedProcess (text)."""
    e = dict(os.environ)
    e.pop("CI", None)
    if env:
        e.update(env)
    p = subprocess.run([SLUICE] + args, capture_output=True, text=True, timeout=timeout,
                       env=e, **kw)
    if check and p.returncode != 0:
        fail(f"sluice {' '.join(args)} exited {p.returncode}\nstdout:\n{p.stdout[-3000:]}\n"
             f"stderr:\n{p.stderr[-3000:]}")
    return p


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def part_files(d):
    return sorted(glob.glob(os.path.join(d, "part-*")))


def read_text(path):
    if path.endswith(".zst"):
        return subprocess.run(["zstd", "-dc", path], capture_output=True, check=True).stdout.decode()
    with open(path, encoding="utf-8") as f:
        return f.read()


def read_jsonl_dir(d):
    """Every row of every part file, in file order per file."""
    rows = []
    for p in part_files(d):
        for line in read_text(p).splitlines():
            rows.append(json.loads(line))
    return rows


def summary(path):
    with open(path) as f:
        return json.load(f)


def ok(msg):
    print(f"ok: {msg}")
