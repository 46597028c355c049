"""SIGTERM and SIGINT stop an unbounded job: sources stop, everything drains and
flushes, the process exits 0 within 5 s, and every row counted is in the files."""
import os
import signal
import subprocess
import time

from common import SLUICE, check, ok, part_files, read_jsonl_dir, summary, tmpdir, write

d = tmpdir("signals")
job = write(os.path.join(d, "job.yaml"), f"""
job: forever
sources:
  gen: {{type: generator, keys: 1000, rate: 200000}}
steps:
  k: {{from: gen, op: key_by, key: [customer_id]}}
sinks:
  out: {{from: k, type: file, path: {d}/out}}
""")
for sig in (signal.SIGTERM, signal.SIGINT):
    out = os.path.join(d, f"out-{sig.name}")
    sj = os.path.join(d, f"s-{sig.name}.json")
    p = subprocess.Popen([SLUICE, "run", job, "--workers", "2", "--set", f"sinks.out.path={out}",
                          "--summary-json", sj], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    time.sleep(1.5)
    if p.poll() is not None:
        check(False, f"job ended early: {p.communicate()}")
    t0 = time.monotonic()
    p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, f"{sig.name}: not stopped within 5 s")
    took = time.monotonic() - t0
    check(p.returncode == 0, f"{sig.name}: exit {p.returncode}\n{err}")
    s = summary(sj)
    rows = read_jsonl_dir(out)
    check(s["records_in"] > 100000, f"too few records before the signal: {s['records_in']}")
    check(len(rows) == s["records_in"] == s["records_out"],
          f"rows in files {len(rows)}, in {s['records_in']}, out {s['records_out']}")
    hidden = [f for f in os.listdir(out) if f.startswith(".")]
    check(not hidden, f"in-progress files left: {hidden}")
    check(all(f.endswith(".jsonl") for f in part_files(out)), "part names")
    ok(f"{sig.name}: stopped in {took:.2f} s, {len(rows)} rows all written")

# An idle unbounded source (rate 0) also stops on SIGTERM.
p = subprocess.Popen([SLUICE, "run", job, "--set", "sources.gen.rate=0",
                      "--set", f"sinks.out.path={d}/idle"], stderr=subprocess.PIPE, text=True)
time.sleep(1.0)
p.send_signal(signal.SIGTERM)
_, err = p.communicate(timeout=5)
check(p.returncode == 0, f"idle job exit {p.returncode}: {err}")
ok("idle job stops on SIGTERM")
