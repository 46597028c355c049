"""Kafka source end to end on the mock broker (tools/kafka-mock): JSON orders on a
6-partition topic -> key_by/aggregate -> files, with metadata columns, bad records in
the dead-letter sink at topic/partition@offset; debezium-json change events (sluice gen)
-> upsert -> upsert-json; start: offsets: with a topic pattern; and jobs the
source refuses before start (FILE:LINE:COL, no secret in any message). Expected results
are computed here from what was produced (and read back with kcat)."""
import collections
import json
import os
import random

from common import check, ok, read_jsonl_dir, run, tmpdir, write
from kafka_common import KafkaMock

rng = random.Random(5)
d = tmpdir("kafka-source")
N_PART = 6
k = KafkaMock(topics={"orders": N_PART, "other": 2})

# ---- input: 30000 orders, 60 of them bad, in known partitions ----
want_count = collections.Counter()
want_sum = collections.Counter()
latest = {}
bad = []  # (partition, value)
per_part = [[] for _ in range(N_PART)]
for i in range(30000):
    p = rng.randrange(N_PART)
    if i % 500 == 7:
        v = rng.choice(["not json at all", '{"id": "x", "user": "u1", "amount": 1}', "[1,2",
                        '{"id": 1, "user": "u1", "amount": {"a": 1}}'])
        per_part[p].append(v)
        bad.append((p, v))
        continue
    user = f"u{rng.randrange(400)}"
    amount = rng.randrange(1, 1000)
    per_part[p].append(json.dumps({"id": i, "user": user, "amount": amount, "note": "x" * (i % 7)}))
    want_count[user] += 1
    want_sum[user] += amount
for p in range(N_PART):
    k.produce("orders", per_part[p], partition=p)
k.produce("other", ['{"id": 1, "user": "z", "amount": 1}'], partition=0)
produced = k.consume("orders")
check(len(produced) == 30000, f"kcat read back {len(produced)} records, not 30000")
offset_of = {}
for part, off, _, value in produced:
    offset_of.setdefault((part, value), []).append(off)
for part, off, _, value in produced:
    try:
        o = json.loads(value)
        if isinstance(o, dict) and isinstance(o.get("id"), int) and isinstance(o.get("amount"), int):
            latest[o["user"]] = (o["id"], o["amount"])  # later offsets win within a partition
    except ValueError:
        pass

JOB = """
job: kafka-orders
admin: off
sources:
  orders:
    type: kafka
    brokers: "{brokers}"
    topics: [orders]
    stop_at: end
    schema: "id INT NOT NULL, user STRING, amount BIGINT"
    metadata: [partition, offset, topic]
steps:
  totals: {{from: orders, op: aggregate, key: [user], aggregates: {{n: count, total: sum(amount)}}, emit: final}}
sinks:
  rows: {{from: orders, type: file, path: out/rows, format: jsonl}}
  totals_out: {{from: totals, type: file, path: out/totals, format: jsonl}}
dead_letter: {{type: file, path: out/dead}}
"""

for workers in (1, 2, 3):
    jd = os.path.join(d, f"w{workers}")
    os.mkdir(jd)
    job = write(os.path.join(jd, "job.yaml"), JOB.format(brokers=k.bootstrap))
    run(["run", job, "--workers", str(workers)], timeout=120, cwd=jd)
    rows = read_jsonl_dir(os.path.join(jd, "out/rows"))
    got = sorted((r["kafka_partition"], r["kafka_offset"], r["id"]) for r in rows)
    want = []
    for part, off, _, value in produced:
        try:
            o = json.loads(value)
            if isinstance(o, dict) and isinstance(o.get("id"), int) and isinstance(o.get("amount"), int):
                want.append((part, off, o["id"]))
        except ValueError:
            pass
    check(got == sorted(want), f"{workers}w: rows differ: {len(got)} rows, {len(want)} expected")
    check(all(r["kafka_topic"] == "orders" for r in rows), f"{workers}w: kafka_topic wrong")
    totals = {r["user"]: (r["n"], r["total"]) for r in read_jsonl_dir(os.path.join(jd, "out/totals"))}
    check(totals == {u: (want_count[u], want_sum[u]) for u in want_count},
          f"{workers}w: totals differ ({len(totals)} users, {len(want_count)} expected)")
    dead = read_jsonl_dir(os.path.join(jd, "out/dead"))
    got_dead = sorted((r["position"], r["raw"]) for r in dead)
    want_dead = sorted((f"orders/{p}@{o}", v) for p, v in set(bad) for o in offset_of[(p, v)])
    check(got_dead == want_dead, f"{workers}w: dead letters differ:\n{got_dead[:5]}\nvs\n{want_dead[:5]}")
    check(all(r["source"] == "orders" and r["reason"] for r in dead), "dead letters lack source/reason")
    ok(f"{workers} worker(s): {len(got)} rows with partition/offset, {len(totals)} totals, "
       f"{len(dead)} dead letters at topic/partition@offset")

# ---- debezium-json change events (sluice gen) -> upsert -> upsert-json: the archive
# replays to the latest image per customer; per-key order holds (one key, one partition) ----
events = os.path.join(d, "events.ndjson")
run(["gen", "customer-cdc", "--records", "20000", "--keys", "2000", "--seed", "9", "--output",
     events])
cdc_latest = {}
cdc_parts = [[] for _ in range(4)]
with open(events, encoding="utf-8") as f:
    for line in f:
        ev = json.loads(line)
        img = ev["before"] if ev["op"] == "d" else ev["after"]
        cdc_parts[img["customer_id"] % 4].append(line.rstrip("\n"))
        if ev["op"] == "d":
            cdc_latest.pop(img["customer_id"], None)
        else:
            cdc_latest[img["customer_id"]] = ev["after"]
k.create_topic("cdc", 4)
for p_ in range(4):
    k.produce("cdc", cdc_parts[p_], partition=p_)
jd = os.path.join(d, "cdc")
os.mkdir(jd)
job = write(os.path.join(jd, "job.yaml"), f"""
job: kafka-cdc
admin: off
sources:
  cdc:
    type: kafka
    brokers: "{k.bootstrap}"
    topics: [cdc]
    stop_at: end
    format: debezium-json
    schema: "customer_id BIGINT NOT NULL, name STRING, address STRING, phone STRING, id_number STRING, updated_time BIGINT"
steps:
  latest: {{from: cdc, op: upsert, key: [customer_id]}}
sinks:
  archive: {{from: latest, type: file, path: out/archive, format: upsert-json, key: [customer_id]}}
""")
run(["run", job, "--workers", "2"], timeout=120, cwd=jd)
archive = {}
for r in read_jsonl_dir(os.path.join(jd, "out/archive")):
    if r["value"] is None:
        archive.pop(r["key"]["customer_id"], None)
    else:
        archive[r["key"]["customer_id"]] = r["value"]
check(archive.keys() == cdc_latest.keys(), f"cdc: {len(archive)} customers, {len(cdc_latest)} expected")
for cid, img in cdc_latest.items():
    a = archive[cid]
    check(all(a[c] == img[c] for c in ("name", "address", "phone", "id_number", "updated_time")),
          f"customer {cid}: {a} vs {img}")
ok(f"debezium-json from Kafka -> upsert: the archive is the latest image of {len(archive)} customers")

# ---- start: offsets: and a regex topic list ----
jd = os.path.join(d, "offsets")
os.mkdir(jd)
job = write(os.path.join(jd, "job.yaml"), JOB.format(brokers=k.bootstrap).replace(
    "topics: [orders]", "topics: ['^ord.*']\n    start: \"offsets:orders:0=100,orders:3=7\""))
run(["run", job, "--workers", "2"], timeout=120, cwd=jd)
rows = read_jsonl_dir(os.path.join(jd, "out/rows"))
got = sorted((r["kafka_partition"], r["kafka_offset"]) for r in rows)
want = sorted((p, o) for p, o, _, v in produced
              if o >= {0: 100, 3: 7}.get(p, 0) and (p, v) not in set(bad))
check(got == want, f"offsets: {len(got)} rows, {len(want)} expected")
ok(f"start: offsets:orders:0=100,orders:3=7 with topics ['^ord.*']: {len(got)} rows")

# ---- refused before start, at FILE:LINE:COL; secrets stay out of messages ----
os.environ["SLUICE_TEST_KAFKA_SECRET"] = "hunter2-kafka-pw"
cases = [
    ("topics: [orders]", "topics: [nosuch]", "has no topic 'nosuch'"),
    ("topics: [orders]", "topics: [orders]\n    start: \"offsets:orders:0=x\"", "offset 'x'"),
    ("topics: [orders]", "topics: [orders]\n    start: \"offsets:orders:99=1\"",
     "does not read"),
    ("topics: [orders]", "topics: [orders]\n    group: g1\n", "stop_at: end needs"),
    ("topics: [orders]", "topics: [orders]\n    start: group", "start: group needs group:"),
    ("topics: [orders]", "topics: ['^(']", "bad topic pattern"),
    ("metadata: [partition, offset, topic]", "metadata: [partition, nope]", "unknown 'nope'"),
    ("topics: [orders]", "topics: [orders]\n    properties: {sasl.password: {env: "
     "SLUICE_TEST_KAFKA_SECRET}, fetch.wait.max.ms: banana}", "fetch.wait.max.ms"),
]
for old, new, text in cases:
    jd = os.path.join(d, "bad")
    os.makedirs(jd, exist_ok=True)
    job = write(os.path.join(jd, "job.yaml"), JOB.format(brokers=k.bootstrap).replace(old, new))
    p = run(["run", job], timeout=60, check=False, cwd=jd)
    out = p.stdout + p.stderr
    check(p.returncode != 0 and text in out, f"{new!r}: exit {p.returncode}, expected {text!r}:\n{out[-1500:]}")
    check(f"{job}:" in out, f"{new!r}: no FILE:LINE:COL in:\n{out[-1500:]}")
    check("hunter2-kafka-pw" not in out, f"{new!r}: the secret is in the output")
ok(f"{len(cases)} misconfigured jobs refused before start at FILE:LINE:COL, no secret shown")

# ---- with a group, the rebalance timeout must cover a checkpoint interval ----
jd = os.path.join(d, "mpi")
os.mkdir(jd)
job = write(os.path.join(jd, "job.yaml"), f"""
job: kafka-mpi
admin: off
checkpoint: {{interval: 5m, dir: ./state}}
sources:
  in: {{type: kafka, brokers: "{k.bootstrap}", topics: [orders], group: g, schema: "id INT"}}
sinks:
  out: {{from: in, type: blackhole}}
""")
p = run(["run", job], timeout=60, check=False, cwd=jd)
check(p.returncode != 0 and f"{job}:6:" in p.stderr and "max.poll.interval.ms (300000)" in p.stderr,
      f"a 5 min checkpoint interval with a group: exit {p.returncode}:\n{p.stderr[-1500:]}")
ok("group with a checkpoint interval beyond max.poll.interval.ms / 2 refused at FILE:LINE:COL")

# ---- a fatal client error fails the job with the reason (and without the secret) ----
jd = os.path.join(d, "auth")
os.mkdir(jd)
job = write(os.path.join(jd, "job.yaml"), f"""
job: kafka-auth
admin: off
sources:
  in:
    type: kafka
    brokers: "{k.bootstrap}"
    topics: [orders]
    group: auth-test
    schema: "id INT"
    properties: {{security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: u,
                  sasl.password: {{env: SLUICE_TEST_KAFKA_SECRET}}}}
sinks:
  out: {{from: in, type: blackhole}}
""")
p = run(["run", job], timeout=60, check=False, cwd=jd)
out = p.stdout + p.stderr
check(p.returncode != 0 and "Kafka authentication failed" in out,
      f"SASL against the mock: exit {p.returncode}:\n{out[-2000:]}")
check("hunter2-kafka-pw" not in out, "the secret is in the output")
ok("authentication failure fails the job with librdkafka's reason, no secret shown")
