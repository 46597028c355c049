#!/usr/bin/env python3
"""The reference job between two Kafka topics, at-least-once and exactly-once, on the
mock broker (tools/kafka-mock). One JSON line per measurement on stdout, also appended
to bench/results-kafka-ref.jsonl.

  bench/kafka_ref.py [--records N] [--partitions P] [--workers W] [--repeat R]

The input: N customer-cdc events from `sluice gen` as debezium-json, each customer's
events in one partition (customer_id % P), so per-key order holds. The job: kafka
(debezium-json, stop_at: end) -> standardize -> quality -> upsert (latest row per
customer) -> kafka (upsert-json, keyed by customer_id):
  sluice_ref_alo   delivery at_least_once, no checkpoints
  sluice_ref_eo    delivery exactly_once, checkpoint every 1 s
records/s counts the events the source read (rows_per_s: the rows they decode to,
an update being two) over the job's wall time (connecting and
reading metadata included); each R times, the median kept. The mock keeps about 5 MiB
per partition: the defaults keep each partition's input and output under it.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("SLUICE", os.path.join(HERE, "..", "build", "sluice"))
from kafka_common import KafkaMock  # noqa: E402

SLUICE = os.path.abspath(os.environ["SLUICE"])

ap = argparse.ArgumentParser()
ap.add_argument("--records", type=int, default=200000)
ap.add_argument("--partitions", type=int, default=48)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()
N, P = args.records, args.partitions

k = KafkaMock(topics={"events": P})
work = tempfile.mkdtemp(prefix="sluice-bench-kafka-ref-")
results = []

events = subprocess.run([SLUICE, "gen", "customer-cdc", "--records", str(N), "--keys",
                         str(max(N // 10, 1)), "--seed", "11"], capture_output=True, text=True,
                        check=True).stdout.splitlines()
parts = [[] for _ in range(P)]
ROWS = 0  # the rows those events decode to: an update is two (-U, +U)
for line in events:
    e = json.loads(line)
    img = e["after"] or e["before"]
    parts[img["customer_id"] % P].append(line)
    ROWS += 2 if e["op"] == "u" else 1
t0 = time.monotonic()
for p in range(P):
    k.produce("events", parts[p], partition=p, timeout=600)
print(f"# produced {N} debezium-json events to {P} partitions in {time.monotonic() - t0:.1f} s",
      file=sys.stderr, flush=True)
del parts, events


def job(name, topic, delivery, ckpt):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(f"""
job: {name}
admin: off
{ckpt}
sources:
  customers:
    type: kafka
    brokers: "{k.bootstrap}"
    topics: [events]
    stop_at: end
    format: debezium-json
    schema: "customer_id BIGINT NOT NULL, name STRING, address STRING, phone STRING,
             id_number STRING, updated_time BIGINT"
steps:
  std: {{from: customers, op: standardize,
        fields: {{name: name, phone: phone, id_number: id_number, address: address}}}}
  scored: {{from: std, op: quality, key: [customer_id],
           required: [name, phone, id_number, address], time: updated_time}}
  latest: {{from: scored, op: upsert, key: [customer_id], time: updated_time}}
sinks:
  archive: {{from: latest, type: kafka, brokers: "{k.bootstrap}", topic: {topic},
            format: upsert-json, key: [customer_id], delivery: {delivery}}}
""")
    return path


def run(path):
    summary = path + ".json"
    t0 = time.monotonic()
    subprocess.run([SLUICE, "run", path, "--workers", str(args.workers), "-q",
                    "--summary-json", summary], check=True, cwd=work,
                   stderr=subprocess.DEVNULL)
    dt = time.monotonic() - t0
    with open(summary) as f:
        return dt, json.load(f)


for name, delivery, ckpt in (("sluice_ref_alo", "at_least_once", ""),
                             ("sluice_ref_eo", "exactly_once",
                              "checkpoint: {interval: 1s, dir: ./state-%d}")):
    rates, outs = [], []
    for i in range(args.repeat):
        topic = f"{name}_{i}"
        k.create_topic(topic, P)
        dt, s = run(job(f"{name}_{i}", topic, delivery, ckpt.replace("%d", str(i))))
        if s.get("records_in") != ROWS:
            sys.exit(f"{name}: the source emitted {s.get('records_in')} rows, want {ROWS}")
        rates.append(N / dt)
        outs.append(s.get("records_out", 0))
    r = {"bench": name, "records": N, "workers": args.workers, "partitions": P,
         "records_per_s": round(statistics.median(rates), 1),
         "records_per_s_per_worker": round(statistics.median(rates) / args.workers, 1),
         "rows_per_s": round(statistics.median(rates) * ROWS / N, 1),
         "runs": [round(x, 1) for x in rates], "rows_out": outs[0]}
    results.append(r)
    print(json.dumps(r), flush=True)

alo, eo = results[0]["records_per_s"], results[1]["records_per_s"]
results.append({"bench": "sluice_ref_eo_vs_alo", "ratio": round(eo / alo, 3)})
print(json.dumps(results[-1]), flush=True)
with open(os.path.join(HERE, "results-kafka-ref.jsonl"), "a") as f:
    f.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cpus\n")
    for r in results:
        f.write(json.dumps(r) + "\n")
subprocess.run(["rm", "-rf", work])
