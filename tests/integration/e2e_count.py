"""sluice gen 1M events -> file source -> key_by -> count per key, on 1 and 2 workers,
compared with a count computed here in Python from the same file."""
import collections
import json
import os

from common import check, ok, read_jsonl_dir, run, summary, tmpdir, write

d = tmpdir("e2e-count")
events = os.path.join(d, "events.ndjson")
run(["gen", "customer-cdc", "--records", "1000000", "--keys", "50000", "--seed", "3",
     "--bad-ratio", "0.02", "--output", events])

# Independent count: Python reads the same file.
expected = collections.Counter()
n_lines = 0
with open(events, encoding="utf-8") as f:
    for line in f:
        ev = json.loads(line)
        after = ev.get("after")
        expected[after["customer_id"] if after else None] += 1
        n_lines += 1
check(n_lines == 1000000, f"gen wrote {n_lines} lines")

job = write(os.path.join(d, "job.yaml"), f"""
job: counts
sources:
  events: {{type: file, path: {events}, format: json,
           fields: {{customer_id: {{path: after.customer_id, type: BIGINT}}, op: {{path: op, type: string}}}}}}
steps:
  keyed:  {{from: events, op: key_by, key: [customer_id]}}
  counts: {{from: keyed, op: aggregate, key: [customer_id], aggregates: {{n: count}}, emit: final}}
sinks:
  out: {{from: counts, type: file, path: {d}/out, format: jsonl}}
""")

for workers in (1, 2):
    out = os.path.join(d, f"out-{workers}")
    sj = os.path.join(d, f"summary-{workers}.json")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}",
         "--summary-json", sj])
    rows = read_jsonl_dir(out)
    got = collections.Counter()
    for r in rows:
        check(r["_kind"] == "+I", f"final rows are inserts: {r}")
        check(r["customer_id"] not in got, f"key {r['customer_id']} emitted twice")
        got[r["customer_id"]] = r["n"]
    check(got == expected, f"{workers} workers: counts differ from Python's "
          f"({len(got)} keys vs {len(expected)})")
    s = summary(sj)
    check(s["records_in"] == 1000000, f"records_in {s['records_in']}")
    check(s["records_out"] == len(expected), f"records_out {s['records_out']}")
    check(s["workers"] == workers, f"workers {s['workers']}")
    check(s["bad_records"] == 0, f"bad_records {s['bad_records']}")
    ok(f"{workers} worker(s): {len(got)} keys, counts equal Python's")

# emit: updates produces a changelog whose replay is the same final table.
out = os.path.join(d, "out-updates")
run(["run", job, "--workers", "2", "--set", f"sinks.out.path={out}",
     "--set", "steps.counts.emit=updates"])
table = {}
for r in read_jsonl_dir(out):
    k, kind = r["customer_id"], r["_kind"]
    if kind == "+I":
        check(k not in table, f"+I for existing key {k}")
        table[k] = r["n"]
    elif kind == "-U":
        check(table.get(k) == r["n"], f"-U does not retract the current value of {k}")
    elif kind == "+U":
        check(k in table, f"+U for missing key {k}")
        table[k] = r["n"]
    else:
        table.pop(k)
check(table == dict(expected), "replayed changelog differs from Python's counts")
ok("emit: updates changelog replays to the same counts")
