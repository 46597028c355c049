#!/usr/bin/env python3
"""Sink `kafka` against librdkafka's mock cluster (tools/kafka-mock), read back with kcat:

1. generator -> filter -> kafka sink (at_least_once, json, key, event id header): the topic
   holds exactly the rows computed from `sluice gen` (Debezium events -> +I/-U/+U/-D), each
   once, with the right key and event id.
   The same rows as debezium-json change events ({before, after, op}) to a second topic.
2. Broker outage (mock `down 1` for 3 s mid-run, then `up 1`): the sink waits (queue full
   -> back-pressure), reconnects, and nothing is lost; the job finishes by itself.
3. Oversized rows (larger than max_message_bytes) go to the dead-letter sink with
   librdkafka's reason; the others land; the job goes on. event_id as a JSON field.
   Then the broker refuses two produce requests (mock `errors 0 87 2`, INVALID_RECORD):
   their rows go to the dead letters with the broker's reason, all others land, and topic
   plus dead letters hold exactly the expected rows.
4. Misconfigurations are refused before start as FILE:LINE:COL (exit 2).
A secret property ({env: NAME}) never shows in the output, even at log level debug."""
import json
import os
import subprocess
import threading
import time

from common import SLUICE, check, fail, ok, read_jsonl_dir, run, tmpdir, write
from kafka_common import KafkaMock
from kafka_sink_util import canon, consume, event_id, expected_rows

SLUICE = os.path.abspath(SLUICE)
k = KafkaMock(topics={"cust": 8, "outage": 8, "big": 4, "rej": 1, "dbz": 4})
d = tmpdir("kafka-sink")


def content_check(topic, rows, job, what, exactly=True):
    got = consume(k, topic)
    want = {}
    for r in rows:
        want.setdefault(canon(r), []).append(r)
    seen = {}
    for part, off, key, hdrs, value in got:
        row = json.loads(value)
        c = canon(row)
        if c not in want:
            fail(f"{what}: unexpected record at {topic}[{part}]@{off}: {value[:300]}")
        check(key == json.dumps({"customer_id": row["customer_id"]}, separators=(",", ":")),
              f"{what}: key {key!r} for {value[:120]}")
        check(hdrs.get("_event_id") == event_id(job, row),
              f"{what}: event id {hdrs.get('_event_id')!r} for {value[:120]}")
        seen[c] = seen.get(c, 0) + 1
    missing = [c for c in want if seen.get(c, 0) < len(want[c])]
    check(not missing, f"{what}: {len(missing)} rows missing, e.g. {missing[:2]}")
    if exactly:
        dup = [c for c in want if seen.get(c, 0) > len(want[c])]
        check(not dup, f"{what}: {len(dup)} rows more than once, e.g. {dup[:2]}")
    return got


# 1. the pipeline, at_least_once
RECORDS, KEYS = 30000, 3000
rows = [r for r in expected_rows(SLUICE, RECORDS, KEYS, 11) if r["customer_id"] % 5 != 0]
job = write(os.path.join(d, "p.yaml"), f"""
job: kpipe
admin: off
sources:
  ev: {{type: generator, records: {RECORDS}, keys: {KEYS}, seed: 11}}
steps:
  some: {{from: ev, op: filter, where: "customer_id % 5 <> 0"}}
sinks:
  out: {{from: some, type: kafka, brokers: "{k.bootstrap}", topic: cust, key: [customer_id],
        event_id: {{columns: [_kind, customer_id, updated_time]}},
        properties: {{compression.type: lz4, sasl.password: {{env: KSINK_SECRET}}}}}}
""")
t0 = time.time()
SECRET = "kafka-s3cret-value"
p = run(["run", job, "--set", "log_level=debug"], timeout=120, env={"KSINK_SECRET": SECRET})
check(SECRET not in p.stdout + p.stderr, "the secret property's value shows in the output")
got = content_check("cust", rows, "kpipe", "pipeline")
print(f"pipeline: {len(got)} records, exact ({time.time() - t0:.1f}s)", flush=True)

# 1b. debezium-json
job1b = write(os.path.join(d, "dbz.yaml"), f"""
job: kdbz
admin: off
sources:
  ev: {{type: generator, records: 2000, keys: 300, seed: 11}}
sinks:
  out: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: dbz, format: debezium-json,
        key: [customer_id]}}
""")
run(["run", job1b], timeout=120)
want_dbz = sorted(canon({"op": "c" if r["_kind"] in ("+I", "+U") else "d",
                         "image": {c: v for c, v in r.items() if c != "_kind"}})
                  for r in expected_rows(SLUICE, 2000, 300, 11))
got_dbz = []
for _, _, _, _, v in consume(k, "dbz"):
    e = json.loads(v)
    got_dbz.append(canon({"op": e["op"], "image": e["after"] if e["op"] == "c" else e["before"]}))
check(sorted(got_dbz) == want_dbz, f"debezium-json: {len(got_dbz)} events differ from the "
      f"{len(want_dbz)} expected")
print(f"debezium-json: {len(got_dbz)} change events, exact", flush=True)

# 2. broker outage
RECORDS2 = 20000
rows2 = expected_rows(SLUICE, RECORDS2, 2000, 5)
job2 = write(os.path.join(d, "o.yaml"), f"""
job: kout
admin: off
sources:
  ev: {{type: generator, records: {RECORDS2}, keys: 2000, seed: 5, rate: 5000}}
sinks:
  out: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: outage, key: [customer_id],
        event_id: {{columns: [_kind, customer_id, updated_time]}}, max_inflight_messages: 2000}}
""")
t0 = time.time()


def outage():
    time.sleep(1.0)
    k.command("down 1")
    time.sleep(3.0)
    k.command("up 1")


th = threading.Thread(target=outage)
th.start()
p = run(["run", job2], timeout=120)
th.join()
el = time.time() - t0
check(el > 4.0, f"outage: the job finished in {el:.1f}s, before the broker came back")
got = content_check("outage", rows2, "kout", "outage", exactly=False)
print(f"outage: {len(got)} records for {len(rows2)} rows, none lost ({el:.1f}s)", flush=True)

# 3. oversized rows to the dead letters
lines, want = [], []
for i in range(2000):
    big = i % 97 == 0
    r = {"id": i, "pad": ("x" * 3000) if big else f"p{i}"}
    lines.append(json.dumps(r))
    if not big:
        want.append(i)
write(os.path.join(d, "in.ndjson"), "\n".join(lines) + "\n")
job3 = write(os.path.join(d, "b.yaml"), f"""
job: kbig
admin: off
sources:
  f: {{type: file, path: {d}/in.ndjson, format: json, fields: {{id: BIGINT, pad: STRING}}}}
sinks:
  out: {{from: f, type: kafka, brokers: "{k.bootstrap}", topic: big, max_message_bytes: 2000,
        event_id: {{columns: [id], as: field}}}}
dead_letter: {{type: file, path: {d}/dead}}
""")
p = run(["run", job3], timeout=120)
got = consume(k, "big")
ids = sorted(json.loads(v)["id"] for _, _, _, _, v in got)
check(ids == want, f"dead letters: topic has {len(ids)} ids, want {len(want)}")
for _, _, _, _, v in got:
    o = json.loads(v)
    check(o.get("_event_id") == f"kbig/{o['id']}", f"event id field: {v[:100]}")
dead = read_jsonl_dir(os.path.join(d, "dead"))
check(len(dead) == 2000 - len(want), f"{len(dead)} dead letters, want {2000 - len(want)}")
for r in dead:
    check("Message size too large" in r["reason"], f"dead letter reason: {r['reason']}")
    check(json.loads(r["raw"])["id"] % 97 == 0, f"dead letter raw: {r['raw'][:80]}")
print(f"dead letters: {len(dead)} oversized rows with reason {dead[0]['reason']!r}", flush=True)

rows5 = expected_rows(SLUICE, 3000, 100, 1)
job5 = write(os.path.join(d, "r.yaml"), f"""
job: krej
admin: off
sources:
  ev: {{type: generator, records: 3000, keys: 100, seed: 1, rate: 3000}}
sinks:
  out: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: rej}}
dead_letter: {{type: file, path: {d}/dead5}}
""")
p5 = subprocess.Popen([SLUICE, "run", job5], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                      text=True)
time.sleep(0.4)
k.command("errors 0 87 2")
out5, _ = p5.communicate(timeout=120)
check(p5.returncode == 0, f"broker refusals: exited {p5.returncode}:\n{out5[-2000:]}")
landed = [json.loads(v) for _, _, _, _, v in consume(k, "rej")]
dead5 = read_jsonl_dir(os.path.join(d, "dead5"))
check(dead5, "broker refusals: no dead letters (did the refusal hit?)")
for r in dead5:
    check("Broker failed to validate record" in r["reason"], f"reason: {r['reason']}")
both = sorted(canon(x) for x in landed + [json.loads(r["raw"]) for r in dead5])
check(both == sorted(canon(r) for r in rows5),
      f"broker refusals: topic ({len(landed)}) + dead letters ({len(dead5)}) != {len(rows5)} rows")
print(f"broker refusals: {len(dead5)} rows dead-lettered with {dead5[0]['reason']!r}, "
      f"{len(landed)} landed", flush=True)

# 4. refused before start
bad = write(os.path.join(d, "bad.yaml"), f"""
job: kbad
sources:
  ev: {{type: generator, records: 10}}
sinks:
  a: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: "no good", delivery: exactly_once}}
  b: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: x, topic_column: name}}
  c: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: x, properties: {{linger.mss: 5}}}}
  e: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: x, event_id: {{columns: [nope]}}}}
  f: {{from: ev, type: kafka, brokers: "{k.bootstrap}", topic: x, properties: {{acks: 1}}}}
""")
p = run(["validate", bad], check=False)
check(p.returncode == 2, f"validate exited {p.returncode}")
err = p.stdout + p.stderr
for needle in ["bad.yaml:6:", "not a valid Kafka topic name", "needs checkpoint",
               "bad.yaml:7:", "exactly one of topic and topic_column", "bad.yaml:8:",
               "linger.mss", "bad.yaml:9:", "no input column 'nope'", "bad.yaml:10:",
               "acks must be all"]:
    check(needle in err, f"validate output lacks {needle!r}:\n{err}")
ok("kafka sink: pipeline, outage, dead letters, validation")
