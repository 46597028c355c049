"""Workers follow the CPUs the process may use (affinity mask): taskset -c 0 gives
one worker; --workers and the job's workers: key override it."""
import os
import shutil
import subprocess
import sys

from common import SLUICE, check, ok, summary, tmpdir, write

if not shutil.which("taskset"):
    print("skip: taskset (util-linux) is missing")
    sys.exit(77)
d = tmpdir("affinity")
job = write(os.path.join(d, "job.yaml"), """
sources:
  g: {type: generator, records: 20000, keys: 100}
steps:
  k: {from: g, op: key_by, key: [customer_id]}
sinks:
  b: {from: k, type: blackhole}
""")
sj = os.path.join(d, "s.json")


def workers(*args, pin=None):
    cmd = ([ "taskset", "-c", pin] if pin else []) + [SLUICE, "run", job, "--summary-json", sj, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"{cmd}: {p.stderr}")
    s = summary(sj)
    check(s["records_out"] == s["records_in"] > 20000, f"rows lost: {s}")
    return s["workers"]


check(workers(pin="0") == 1, "taskset -c 0 should give one worker")
ok("taskset -c 0: 1 worker")
n = len(os.sched_getaffinity(0))
check(workers() == n, f"unpinned: expected {n} workers")
ok(f"no pinning: {n} workers (one per allowed CPU)")
check(workers("--workers", "3", pin="0") == 3, "--workers overrides the mask")
check(workers("--set", "workers=2") == 2, "the workers: key")
ok("--workers and workers: override")
