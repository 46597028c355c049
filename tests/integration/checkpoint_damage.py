#!/usr/bin/env python3
"""Torn and corrupt checkpoints: `--restore latest` never loads bad bytes.

A job (generator -> upsert -> file sink, checkpoints every 100 ms) is killed
with SIGKILL; then, on copies of its state directory:
1. a byte flipped in the newest checkpoint's snapshot file: the restore says
   that checkpoint cannot be restored, falls back to the one before (its id in
   the log) and runs the job to the end; the final upsert image per key equals
   the generator's, computed independently;
2. the newest checkpoint's snapshot file truncated: the same fallback;
3. the newest manifest truncated: that checkpoint is incomplete, skipped with
   a log line, the one before is restored;
4. every complete checkpoint damaged: sluice refuses to start, saying so,
   instead of starting fresh or loading bad bytes.
"""
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time

from common import SLUICE, check, fail, ok, tmpdir, write

SLUICE = os.path.abspath(SLUICE)
d = tmpdir("ckpt-damage")
RECORDS, KEYS = 60000, 3000
JOB = f"""
job: damage
admin: off
checkpoint: {{interval: 100ms, dir: ./state, retained: 5}}
sources:
  ev: {{type: generator, records: {RECORDS}, keys: {KEYS}, seed: 3, rate: 20000}}
steps:
  latest: {{from: ev, op: upsert, key: [customer_id]}}
sinks:
  out: {{from: latest, type: file, path: ./out, format: upsert-json, key: [customer_id]}}
"""
write(f"{d}/job.yaml", JOB)
ENV = dict(os.environ)
ENV.pop("CI", None)

p = subprocess.Popen([SLUICE, "run", "job.yaml"], cwd=d, env=ENV, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
time.sleep(1.5)
if p.poll() is not None:
    fail(f"the job ended before it was killed: {p.communicate()[1][-2000:]}")
p.send_signal(signal.SIGKILL)
p.communicate()


def complete(state):
    ids = []
    for m in glob.glob(f"{state}/chk-*/_manifest"):
        ids.append(int(re.search(r"chk-(\d+)", m).group(1)))
    return sorted(ids)


ids = complete(f"{d}/state")
check(len(ids) >= 3, f"only {len(ids)} complete checkpoints after 1.5 s: {ids}")


def expected():
    out = subprocess.run([SLUICE, "gen", "customer-cdc", "--records", str(RECORDS), "--keys",
                          str(KEYS), "--seed", "3"], capture_output=True, text=True,
                         check=True).stdout
    latest = {}
    for line in out.splitlines():
        e = json.loads(line)
        if e["op"] == "d":
            latest.pop(e["before"]["customer_id"], None)
        else:
            latest[e["after"]["customer_id"]] = e["after"]["name"]
    return latest


WANT = expected()


def final_image(out_dir):
    """The upsert-json output replayed in order (a key's rows are all in one
    worker's parts, numbered in order): the last image per key."""
    def order(path):
        w, seq = re.search(r"part-(\d+)-(\d+)", path).groups()
        return int(w), int(seq)
    img = {}
    for path in sorted(glob.glob(f"{out_dir}/part-*"), key=order):
        for line in open(path, encoding="utf-8"):
            r = json.loads(line)
            k = r["key"]["customer_id"]
            if r["value"] is None:
                img.pop(k, None)
            else:
                img[k] = r["value"]["name"]
    return img


def attempt(name, damage, want_id=None, refuse=False):
    case = f"{d}/{name}"
    shutil.copytree(d, case, ignore=shutil.ignore_patterns("case-*"))
    damage(f"{case}/state")
    r = subprocess.run([SLUICE, "run", "job.yaml", "--restore", "latest"], cwd=case, env=ENV,
                       capture_output=True, text=True, timeout=120)
    log = r.stderr
    if refuse:
        check(r.returncode != 0 and "every complete checkpoint is damaged" in log,
              f"{name}: expected a refusal, rc {r.returncode}:\n{log[-2000:]}")
        check("restoring" not in log.replace("cannot restore", ""),
              f"{name}: something was restored:\n{log[-2000:]}")
        return log
    check(r.returncode == 0, f"{name}: rc {r.returncode}:\n{log[-3000:]}")
    m = re.search(r'msg="restoring" from=\S+ id=(\d+)', log)
    check(m and int(m.group(1)) == want_id,
          f"{name}: restored {m and m.group(1)}, want {want_id}:\n{log[-2000:]}")
    img = final_image(f"{case}/out")
    if img != WANT:
        diff = [k for k in set(img) | set(WANT) if img.get(k) != WANT.get(k)][:5]
        fail(f"{name}: final images differ from the generator's for keys {diff}")
    return log


newest, before = ids[-1], ids[-2]


def flip(state):
    f = f"{state}/chk-{newest}/w0.snap.zst"
    b = bytearray(open(f, "rb").read())
    b[len(b) // 2] ^= 0x40
    open(f, "wb").write(bytes(b))


log = attempt("case-flip", flip, want_id=before)
check("checkpoint cannot be restored: trying the one before" in log and f"chk-{newest}" in log,
      f"flip: no fallback log line:\n{log[-2000:]}")
ok(f"a flipped byte in chk-{newest}: restored chk-{before} instead, output exact")


def truncate_snap(state):
    f = f"{state}/chk-{newest}/w0.snap.zst"
    os.truncate(f, os.path.getsize(f) // 3)


attempt("case-trunc", truncate_snap, want_id=before)
ok(f"a truncated snapshot file in chk-{newest}: restored chk-{before}, output exact")


def truncate_manifest(state):
    f = f"{state}/chk-{newest}/_manifest"
    os.truncate(f, os.path.getsize(f) // 2)


log = attempt("case-manifest", truncate_manifest, want_id=before)
check("skipping an incomplete checkpoint" in log, f"manifest: no log line:\n{log[-2000:]}")
ok(f"a truncated manifest in chk-{newest}: skipped with a log line, restored chk-{before}")


def damage_all(state):
    for i in complete(state):
        for f in glob.glob(f"{state}/chk-{i}/w*.snap.zst"):
            b = bytearray(open(f, "rb").read())
            b[-1] ^= 1
            open(f, "wb").write(bytes(b))


attempt("case-all", damage_all, refuse=True)
ok("every checkpoint damaged: refused to start with a clear message")
