#!/usr/bin/env python3
"""The admin API with checkpoints: /jobs/<job>/checkpoints (counts, latest,
history), /health's checkpoint part, checkpoint metrics (promtool accepts
them), POST /jobs/<job>/savepoints and its result, PATCH ?mode=stop (stop
with a savepoint), and a restore from that savepoint finishing the job with
the same final counts as one uninterrupted run."""
import glob
import json
import os
import shutil
import subprocess
import time

from admin_common import Run
from common import SLUICE, check, fail, ok, read_jsonl_dir, run, tmpdir, write

d = tmpdir("admin-ckpt")
JOB = """
job: ck
workers: 2
admin: {listen: 127.0.0.1:0}
checkpoint: {interval: 200ms, dir: %(dir)s/state}
sources:
  ev: {type: generator, records: 60000, keys: 500, seed: 4, rate: %(rate)s}
steps:
  counts: {from: ev, op: aggregate, key: [customer_id], aggregates: {n: count}, emit: final}
sinks:
  out: {from: counts, type: file, path: %(dir)s/out}
"""

# Expected: one uninterrupted run without a rate limit.
exp_dir = os.path.join(d, "exp")
os.makedirs(exp_dir)
job_exp = write(os.path.join(exp_dir, "job.yaml"), JOB % {"dir": exp_dir, "rate": -1})
run(["run", job_exp, "--set", "admin=off"])
expected = sorted(json.dumps(r, sort_keys=True) for r in read_jsonl_dir(os.path.join(exp_dir, "out")))
check(len(expected) > 300, f"expected most of the 500 keys, got {len(expected)}")

job = write(os.path.join(d, "job.yaml"), JOB % {"dir": d, "rate": 10000})
r = Run(job, d=d)
r.wait_listening()


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        if r.proc.poll() is not None:
            fail(f"sluice exited {r.proc.returncode} waiting for {what}:\n{r.log()[-3000:]}")
        time.sleep(0.05)
    fail(f"timed out waiting for {what}:\n{r.log()[-3000:]}")


# Checkpoints complete, and the API says so.
cp = wait_for(lambda: (lambda j: j if j["counts"]["completed"] >= 2 else None)(
    r.get_json("/jobs/ck/checkpoints")), 20, "two checkpoints")
check(cp["status"] == "exactly_once", f"status {cp['status']}")
latest = cp["latest"]["completed"]
check(latest and latest["status"] == "COMPLETED" and os.path.isdir(latest["external_path"]),
      f"latest completed: {latest}")
check(os.path.exists(os.path.join(latest["external_path"], "_manifest")), "manifest exists")
check(cp["history"] and cp["history"][0]["id"] >= cp["history"][-1]["id"], "history newest first")
check(cp["summary"]["checkpointed_size"]["max"] > 0, f"size summary {cp['summary']}")
ok(f"/jobs/ck/checkpoints: {cp['counts']['completed']} completed, latest {latest['id']}")

h = r.get_json("/health")
check(h["checkpoints"]["status"] == "UP" and h["checkpoints"]["completed"] >= 2,
      f"health checkpoints: {h['checkpoints']}")
ok("/health reports the checkpoints UP")

text = r.metrics()
for name in ("sluice_checkpoints_completed_total", "sluice_checkpoints_failed_total",
             "sluice_checkpoint_duration_seconds", "sluice_checkpoint_size_bytes",
             "sluice_checkpoint_age_seconds", "sluice_restores_total", "sluice_state_bytes"):
    check(f"\n{name}{{" in text, f"/metrics lacks {name}")
promtool = shutil.which("promtool")
if promtool:
    p = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          f"promtool check metrics: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    ok("checkpoint metrics pass promtool check metrics")

# A savepoint through the API.
st, hd, body = r.request("POST", "/jobs/ck/savepoints", body=b"{}",
                         headers={"Content-Type": "application/json"})
check(st == 202, f"POST savepoints: {st} {body!r}")
rid = json.loads(body)["request-id"]


def sp_done():
    j = r.get_json(f"/jobs/ck/savepoints/{rid}")
    return j if j["status"]["id"] == "COMPLETED" else None


res = wait_for(sp_done, 20, "the savepoint")
loc = res["operation"]["location"]
check(os.path.basename(loc).startswith("sp-") and os.path.exists(os.path.join(loc, "_manifest")),
      f"savepoint location {loc}")
with open(os.path.join(loc, "_manifest")) as f:
    check("kind savepoint" in f.read(), "manifest says savepoint")
st, _, _ = r.request("GET", "/jobs/ck/savepoints/no-such-request")
check(st == 404, f"unknown request id: {st}")
ok(f"POST /jobs/ck/savepoints -> {rid} -> {loc}")

# Stop with a savepoint: the job exits 0 on its own.
st, _, body = r.request("PATCH", "/jobs/ck?mode=stop")
check(st == 202, f"PATCH mode=stop: {st} {body!r}")
rc = r.wait(30)
check(rc == 0, f"exit code after stop: {rc}\n{r.log()[-2000:]}")
sps = sorted(glob.glob(os.path.join(d, "state", "sp-*")), key=lambda p: int(p.rsplit("-", 1)[1]))
check(len(sps) >= 2, f"savepoints: {sps}")
with open(os.path.join(sps[-1], "_manifest")) as f:
    check("stop 1" in f.read(), "the last savepoint is the stop one")
ok(f"PATCH ?mode=stop took {os.path.basename(sps[-1])} and the job exited 0")

# Restore from the stop savepoint, unthrottled: the same final counts.
p = run(["run", job, "--restore", sps[-1], "--set", "admin=off",
         "--set", "sources.ev.rate=-1"])
check('msg="restoring"' in p.stderr, "restore logged")
got = sorted(json.dumps(x, sort_keys=True) for x in read_jsonl_dir(os.path.join(d, "out")))
check(got == expected, f"counts after stop+restore differ: {len(got)} rows vs {len(expected)}")
check(not [f for f in os.listdir(os.path.join(d, "out")) if f.startswith(".")],
      "no hidden part files left")
ok("restore from the stop savepoint: final counts equal one uninterrupted run")

# Without checkpoints the same endpoints answer 409.
job2 = write(os.path.join(d, "nock.yaml"), JOB.replace("checkpoint:", "#") % {"dir": d,
                                                                              "rate": 1000})
r2 = Run(job2, d=d)
r = r2
r2.wait_listening()
st, _, _ = r2.request("POST", "/jobs/ck/savepoints", body=b"{}")
check(st == 409, f"POST savepoints without checkpoints: {st}")
st, _, _ = r2.request("PATCH", "/jobs/ck?mode=stop")
check(st == 409, f"PATCH stop without checkpoints: {st}")
r2.request("PATCH", "/jobs/ck?mode=cancel")
r2.wait(30)
ok("without checkpoint: savepoint and stop answer 409")
