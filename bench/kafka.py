#!/usr/bin/env python3
"""Kafka source throughput next to kcat's raw consume rate, on the same data in the same
mock broker (tools/kafka-mock, tests/integration/kafka_common.py). One JSON line per
measurement on stdout, also appended to bench/results-kafka.jsonl.

  bench/kafka.py [--records N] [--partitions P] [--workers 1,2] [--repeat R]

Measured, each R times (best and median kept):
  kcat_consume   kcat -C -e -o beginning -q -f '%s\\n' > /dev/null: every record
                 fetched and written out, nothing parsed (the raw ceiling)
  kcat_consume_tuned  the same with -X queued.min.messages=1000000, the setting the
                 source uses by default (see connectors/kafka/source.c); the ratio
                 sluice_kafka_vs_kcat is against the faster kcat
  sluice_kafka   type: kafka (stop_at: end, json with a 4-column schema) -> blackhole:
                 fetched, parsed into columns, handed to a sink; W workers
Both include connecting and reading metadata; records/s is over the wall time.
The mock keeps about 5 MiB per partition: the default spreads 1 M records of ~90 bytes
over 24 partitions.
"""
import argparse
import json
import os
import random
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
ap.add_argument("--records", type=int, default=1000000)
ap.add_argument("--partitions", type=int, default=24)
ap.add_argument("--workers", default="1,2")
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()
N, P = args.records, args.partitions

k = KafkaMock(topics={"bench": P})
work = tempfile.mkdtemp(prefix="sluice-bench-kafka-")
rng = random.Random(7)
parts = [[] for _ in range(P)]
total_bytes = 0
for i in range(N):
    v = json.dumps({"id": i, "user": f"user-{rng.randrange(100000)}", "amount": rng.randrange(10**6),
                    "note": "n" * rng.randrange(20, 40)})
    total_bytes += len(v)
    parts[i % P].append(v)
t0 = time.monotonic()
for p in range(P):
    k.produce("bench", parts[p], partition=p, timeout=600)
del parts
print(f"# produced {N} records ({total_bytes / 1e6:.1f} MB) to {P} partitions in "
      f"{time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)

out_path = os.path.join(HERE, "results-kafka.jsonl")
results = []


def emit(name, seconds_list, extra):
    best = min(seconds_list)
    r = {"bench": name, "records": N, "bytes": total_bytes, "partitions": P,
         "seconds_best": round(best, 3), "seconds_median": round(statistics.median(seconds_list), 3),
         "records_per_s": round(N / best, 1)}
    r.update(extra)
    results.append(r)
    print(json.dumps(r), flush=True)
    return r


def kcat_once(tuned=False):
    t = time.monotonic()
    extra = ["-X", "queued.min.messages=1000000"] if tuned else []
    p = subprocess.run([k.kcat, "-C", "-b", k.bootstrap, "-t", "bench", "-e", "-q", "-o",
                        "beginning", "-f", "%s\n"] + extra, stdout=subprocess.PIPE, timeout=600)
    dt = time.monotonic() - t
    lines = p.stdout.count(b"\n")
    if p.returncode != 0 or lines != N:
        sys.exit(f"kcat: exit {p.returncode}, {lines} records of {N}")
    return dt


job = os.path.join(work, "job.yaml")
with open(job, "w") as f:
    f.write(f"""
job: bench-kafka
admin: off
sources:
  in:
    type: kafka
    brokers: "{k.bootstrap}"
    topics: [bench]
    stop_at: end
    schema: "id BIGINT, user STRING, amount BIGINT, note STRING"
sinks:
  out: {{from: in, type: blackhole}}
""")


def sluice_once(workers):
    summ = os.path.join(work, "summary.json")
    t = time.monotonic()
    p = subprocess.run([SLUICE, "run", job, "--workers", str(workers), "--summary-json", summ],
                       capture_output=True, text=True, timeout=600, cwd=work)
    dt = time.monotonic() - t
    if p.returncode != 0:
        sys.exit(f"sluice exited {p.returncode}: {p.stderr[-2000:]}")
    with open(summ) as f:
        s = json.load(f)
    got = s.get("records_in", s.get("totals", {}).get("records_in"))
    if got is not None and got != N:
        sys.exit(f"sluice read {got} records of {N}")
    return dt


kcat = emit("kcat_consume", [kcat_once() for _ in range(args.repeat)], {})
tuned = emit("kcat_consume_tuned", [kcat_once(True) for _ in range(args.repeat)],
             {"librdkafka": "queued.min.messages=1000000 (sluice's default)"})
if tuned["records_per_s"] > kcat["records_per_s"]:
    kcat = tuned  # compare with the faster of the two
for w in [int(x) for x in args.workers.split(",")]:
    r = emit("sluice_kafka", [sluice_once(w) for _ in range(args.repeat)], {"workers": w})
    r["records_per_s_per_worker"] = round(r["records_per_s"] / w, 1)
    r["vs_kcat"] = round(r["records_per_s"] / kcat["records_per_s"], 3)
    print(json.dumps({"bench": "sluice_kafka_vs_kcat", "workers": w,
                      "ratio": r["vs_kcat"],
                      "records_per_s_per_worker": r["records_per_s_per_worker"]}), flush=True)

with open(out_path, "a") as f:
    f.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.uname().release} "
            f"{os.cpu_count()} cpus\n")
    for r in results:
        f.write(json.dumps(r) + "\n")
k.stop()
subprocess.run(["rm", "-rf", work])
