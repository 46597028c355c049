#!/usr/bin/env python3
"""Kafka sink throughput next to kcat's raw produce rate, on librdkafka's mock cluster
(tools/kafka-mock, started here through tests/integration/kafka_common.py). One JSON line
per measurement on stdout, also appended to bench/results-kafka-sink.jsonl.

  bench/kafka_sink.py [--records N] [--workers W] [--partitions P]

The rows: the generator's customer-cdc events (N events, about 1.7 N rows: an update is
-U and +U) encoded as the sink's json format. Measured, each into a fresh topic:
  kcat_produce       kcat -P of the same rows (written once by a file sink), one message
                     per line, lz4 off, linger 5 ms: the raw client + broker ceiling
  sluice_kafka_alo   generator -> kafka sink, at_least_once (idempotent producer)
  sluice_kafka_alo_ckpt  the same with at_least_once checkpoints every 1 s (each barrier
                     waits for every delivery report)
  sluice_kafka_eo    the same, exactly_once (checkpoint every 1 s: a transaction per
                     worker per second, committed after the manifest)
  sluice_kafka_eo_200ms  exactly_once with a checkpoint (and a commit) every 200 ms
rows_per_s_per_worker divides by the worker count. The mock broker runs on the same
cores as sluice (and kcat), so every figure includes its cost.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("SLUICE", os.path.join(HERE, "..", "build", "sluice"))
from kafka_common import KafkaMock  # noqa: E402

SLUICE = os.environ["SLUICE"]
ap = argparse.ArgumentParser()
ap.add_argument("--records", type=int, default=300000)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--partitions", type=int, default=16)
args = ap.parse_args()

k = KafkaMock()
work = tempfile.mkdtemp(prefix="sluice-bench-kafka-")
results = []


def emit(name, rows, seconds, extra=None):
    r = {"bench": name, "rows": rows, "seconds": round(seconds, 3),
         "rows_per_s": round(rows / seconds, 1), "workers": args.workers,
         "rows_per_s_per_worker": round(rows / seconds / args.workers, 1)}
    r.update(extra or {})
    results.append(r)
    print(json.dumps(r), flush=True)


def job(name, sink, ckpt=""):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""
job: {name}
admin: off
{ckpt}
sources:
  ev: {{type: generator, records: {args.records}, keys: 100000, seed: 1}}
sinks:
  out: {{from: ev, {sink}}}
""")
    return path


def run(path):
    summary = path + ".json"
    t0 = time.monotonic()
    subprocess.run([SLUICE, "run", path, "--workers", str(args.workers), "-q",
                    "--summary-json", summary], check=True, cwd=work)
    dt = time.monotonic() - t0
    with open(summary) as f:
        s = json.load(f)
    return dt, s


# The rows as the sink encodes them, for kcat.
dt, s = run(job("rows", f"type: file, path: {work}/rows"))
rows_file = os.path.join(work, "rows.jsonl")
subprocess.run(f"cat {work}/rows/part-* > {rows_file}", shell=True, check=True)
n_rows = sum(1 for _ in open(rows_file, "rb"))

k.create_topic("raw", args.partitions)
t0 = time.monotonic()
with open(rows_file, "rb") as f:
    subprocess.run([k.kcat, "-P", "-b", k.bootstrap, "-t", "raw", "-z", "none",
                    "-X", "linger.ms=5", "-X", "queue.buffering.max.messages=100000",
                    "-X", "enable.idempotence=true"], stdin=f, check=True)
dt = time.monotonic() - t0
results.append({"bench": "kcat_produce", "rows": n_rows, "seconds": round(dt, 3),
                "rows_per_s": round(n_rows / dt, 1), "workers": 1,
                "rows_per_s_per_worker": round(n_rows / dt, 1)})
print(json.dumps(results[-1]), flush=True)

for name, delivery, ckpt in (("sluice_kafka_alo", "at_least_once", ""),
                             ("sluice_kafka_alo_ckpt", "at_least_once",
                              f"checkpoint: {{interval: 1s, dir: {work}/state0, "
                              f"mode: at_least_once}}"),
                             ("sluice_kafka_eo", "exactly_once",
                              f"checkpoint: {{interval: 1s, dir: {work}/state}}"),
                             ("sluice_kafka_eo_200ms", "exactly_once",
                              f"checkpoint: {{interval: 200ms, dir: {work}/state2}}")):
    k.create_topic(name, args.partitions)
    dt, s = run(job(name, f"type: kafka, brokers: \"{k.bootstrap}\", topic: {name}, "
                          f"delivery: {delivery}, key: [customer_id]", ckpt))
    rows = s.get("records_out", n_rows)
    if rows != n_rows:
        sys.exit(f"{name}: {rows} rows out, want {n_rows}")
    emit(name, rows, dt, {"checkpoints": s.get("checkpoints", 0)})

alo = next(r for r in results if r["bench"] == "sluice_kafka_alo")
for name in ("sluice_kafka_eo", "sluice_kafka_eo_200ms"):
    eo = next(r for r in results if r["bench"] == name)
    results.append({"bench": name + "_vs_alo",
                    "ratio": round(eo["rows_per_s"] / alo["rows_per_s"], 3)})
    print(json.dumps(results[-1]), flush=True)
with open(os.path.join(HERE, "results-kafka-sink.jsonl"), "a") as f:
    f.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cpus\n")
    for r in results:
        f.write(json.dumps(r) + "\n")
subprocess.run(["rm", "-rf", work])
