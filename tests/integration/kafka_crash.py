"""Kafka source, exactly once across crashes: a kafka -> files job (exactly_once
checkpoints every 100 ms, stop_at: end) over 50000 records on 12 partitions is SIGKILLed
at >= 10 random moments (most at random shares of its published output, some early in a
run) and restarted each time with --restore latest and a random worker count (1-3,
so partitions move between workers) until it finishes. The published part files then
hold every record exactly once (compared row by row with what was produced) and the
per-key counts match. The mock broker gets 60 ms of round-trip time and the source small
fetches during the crash runs, so a run lasts seconds, not tenths of one.

SLUICE_CRASH_SEED=N repeats a kill schedule (the seed is printed)."""
import collections
import glob
import json
import os
import random
import subprocess
import time

from common import SLUICE, check, fail, ok, tmpdir, write
from kafka_common import KafkaMock

SLUICE = os.path.abspath(SLUICE)
SEED = int(os.environ.get("SLUICE_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
print(f"seed {SEED} (SLUICE_CRASH_SEED={SEED} repeats the kill schedule)", flush=True)
rng = random.Random(SEED)
N, KEYS, PARTS = 50000, 3000, 12
ENV = dict(os.environ)
ENV.pop("CI", None)

d = tmpdir("kafka-crash")
k = KafkaMock(topics={"ev": PARTS})
data = random.Random(3)
parts = [[] for _ in range(PARTS)]
want_cnt = collections.Counter()
for i in range(N):
    key = data.randrange(KEYS)
    parts[data.randrange(PARTS)].append(json.dumps({"id": i, "k": key, "pad": "p" * (i % 13)}))
    want_cnt[key] += 1
for p in range(PARTS):
    k.produce("ev", parts[p], partition=p, batch_messages=50)
want_rows = sorted((p, o, json.loads(v)["id"]) for p, o, _, v in k.consume("ev"))
check(len(want_rows) == N, f"kcat read back {len(want_rows)} records")

JOB = """
job: kafka-crash
admin: off
checkpoint: {{interval: 100ms, dir: ./state, mode: exactly_once, retained: 2}}
sources:
  ev:
    type: kafka
    brokers: "{brokers}"
    topics: [ev]
    stop_at: end
    schema: "id BIGINT NOT NULL, k INT"
    metadata: [partition, offset]
    properties: {{max.partition.fetch.bytes: "{fetch}"}}
steps:
  cnt: {{from: ev, op: aggregate, key: [k], aggregates: {{n: count}}, emit: final}}
sinks:
  rows: {{from: ev, type: file, path: out/rows, format: jsonl}}
  counts: {{from: cnt, type: file, path: out/cnt, format: jsonl}}
"""


def job_dir(name, fetch):
    jd = os.path.join(d, name)
    os.mkdir(jd)
    write(os.path.join(jd, "job.yaml"), JOB.format(brokers=k.bootstrap, fetch=fetch))
    return jd


def published(jd, sink):
    return [p for p in sorted(glob.glob(os.path.join(jd, "out", sink, "part-*")))]


def published_bytes(jd):
    return sum(os.path.getsize(p) for p in published(jd, "rows"))


def results(jd):
    rows, cnt = [], {}
    for path in published(jd, "rows"):
        with open(path, "rb") as f:
            data_ = f.read()
        check(data_.endswith(b"\n") or not data_, f"{path}: torn last line")
        for line in data_.splitlines():
            r = json.loads(line)
            rows.append((r["kafka_partition"], r["kafka_offset"], r["id"]))
    for path in published(jd, "cnt"):
        with open(path, "rb") as f:
            for line in f.read().splitlines():
                r = json.loads(line)
                check(r["k"] not in cnt, f"key {r['k']} counted twice")
                cnt[r["k"]] = r["n"]
    return sorted(rows), cnt


def verify(label, jd):
    rows, cnt = results(jd)
    if rows != want_rows:
        cg, cw = collections.Counter(rows), collections.Counter(want_rows)
        fail(f"{label}: {len(rows)} rows published, {N} expected: "
             f"missing {list((cw - cg).elements())[:5]}, extra {list((cg - cw).elements())[:5]}")
    check(cnt == dict(want_cnt), f"{label}: per-key counts differ")


# ---- an uninterrupted run (fast broker): the output's size, and a first check ----
ref = job_dir("ref", 1048576)
t0 = time.monotonic()
p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "2"], cwd=ref, capture_output=True,
                   text=True, timeout=120, env=ENV)
check(p.returncode == 0, f"uninterrupted run exited {p.returncode}:\n{p.stderr[-3000:]}")
verify("uninterrupted run", ref)
ref_bytes = published_bytes(ref)
ok(f"uninterrupted run: {N} rows, {len(want_cnt)} counts in {time.monotonic() - t0:.2f} s")

# ---- SIGKILL at random moments, --restore latest ----
k.command("rtt -1 60")
crash = job_dir("crash", 4096)
log = os.path.join(crash, "log.txt")
# A progress kill waits until the run has published a random share (5-35 %) of what
# is left, then 0-100 ms more; an early kill comes 50-600 ms after the start (while
# the run reads the partitions' offsets, restores or takes its first checkpoint).
plan = [("progress", rng.uniform(0.05, 0.35)) for _ in range(9)]
for _ in range(3):
    plan.insert(rng.randint(0, len(plan)), ("early", rng.uniform(0.05, 0.6)))
kills = 0
finished = False
for kind, x in plan:
    workers = rng.choice([1, 2, 2, 3])
    with open(log, "ab") as f:
        f.write(f"==== run {kills + 1}: --workers {workers}\n".encode())
        f.flush()
        p = subprocess.Popen([SLUICE, "run", "job.yaml", "--restore", "latest", "--workers",
                              str(workers)], cwd=crash, stdout=f, stderr=subprocess.STDOUT, env=ENV)
    t0 = time.monotonic()
    if kind == "early":
        what = f"{x * 1000:.0f} ms after the start"
        time.sleep(x)
    else:
        base = published_bytes(crash)
        target = base + x * (ref_bytes - base)
        what = f"at {100 * target / ref_bytes:.0f}% published"
        while (published_bytes(crash) < target and p.poll() is None and
               time.monotonic() - t0 < 60):
            time.sleep(0.003)
        extra = rng.uniform(0, 0.1)
        time.sleep(extra)
        what += f" +{extra * 1000:.0f} ms"
    if p.poll() is not None:
        check(p.returncode == 0, f"run {kills + 1} exited {p.returncode}:\n"
              f"{open(log, errors='replace').read()[-3000:]}")
        print(f"the job finished on its own before kill {kills + 1} ({what})", flush=True)
        finished = True
        break
    p.kill()
    p.wait()
    kills += 1
    print(f"kill {kills:2d}: workers {workers}, {what} (ran {time.monotonic() - t0:.2f} s): "
          f"{100 * published_bytes(crash) / ref_bytes:.0f}% published", flush=True)
if not finished:
    workers = rng.choice([1, 2, 3])
    with open(log, "ab") as f:
        p = subprocess.run([SLUICE, "run", "job.yaml", "--restore", "latest", "--workers",
                            str(workers)], cwd=crash, stdout=f, stderr=subprocess.STDOUT,
                           env=ENV, timeout=300)
    check(p.returncode == 0, f"the last run exited {p.returncode}:\n"
          f"{open(log, errors='replace').read()[-3000:]}")
check(kills >= 10, f"only {kills} kills before the job finished (seed {SEED})")
text = open(log, errors="replace").read()
restored = text.count('msg="restoring"')
check(restored >= 6, f"only {restored} runs restored a checkpoint:\n{text[-3000:]}")
verify(f"after {kills} kills", crash)
ok(f"{kills} SIGKILLs, restarts with --restore latest on 1-3 workers: every one of {N} "
   f"records published exactly once, {len(want_cnt)} counts exact")
