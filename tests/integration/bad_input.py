"""Malformed lines in a file source are reported with file and line, counted,
and do not stop the job; good lines all come through."""
import json
import os
import re

from common import check, ok, read_jsonl_dir, run, summary, tmpdir, write

d = tmpdir("bad-input")
lines = []
bad = {}
for i in range(1, 2001):
    if i == 17:
        lines.append('{"id": 17, "name": "trunc'); bad[i] = "invalid JSON"
    elif i == 500:
        lines.append('{"id": "abc", "name": "x"}'); bad[i] = "not a valid BIGINT"
    elif i == 1234:
        lines.append('[1, 2, 3]'); bad[i] = "expected a JSON object"
    elif i == 1999:
        lines.append('{"id": 1.5, "name": "y"}'); bad[i] = "expected BIGINT"
    else:
        lines.append(json.dumps({"id": i, "name": f"n{i}", "extra": {"a": [i]}}))
src = write(os.path.join(d, "bad.ndjson"), "\n".join(lines) + "\n")

job = write(os.path.join(d, "job.yaml"), f"""
job: bad
sources:
  in: {{type: file, path: {src}, format: json, fields: {{id: BIGINT, name: STRING}}}}
sinks:
  out: {{from: in, type: file, path: {d}/out}}
""")
sj = os.path.join(d, "s.json")
p = run(["run", job, "--workers", "2", "--summary-json", sj])
for ln, why in bad.items():
    pat = re.compile(re.escape(f"{src}:{ln}") + r'.*' + re.escape(why))
    check(any(pat.search(l) for l in p.stderr.splitlines()),
          f"no warning naming {src}:{ln} with '{why}' in:\n{p.stderr}")
s = summary(sj)
check(s["bad_records"] == len(bad), f"bad_records {s['bad_records']} != {len(bad)}")
rows = read_jsonl_dir(os.path.join(d, "out"))
ids = sorted(r["id"] for r in rows)
check(ids == [i for i in range(1, 2001) if i not in bad], "good rows differ")
ok(f"{len(bad)} bad lines reported with file:line, {len(rows)} good rows written")

# CSV: a row with the wrong number of columns and a bad number.
csv = write(os.path.join(d, "in.csv"), "id,amount,city\n1,10,A\n2,x,B\n3,30\n4,40,\"D, d\"\n")
job2 = write(os.path.join(d, "job2.yaml"), f"""
sources:
  in: {{type: file, path: {csv}, format: csv, fields: {{id: INT, amount: DOUBLE, city: STRING}}}}
sinks:
  out: {{from: in, type: file, path: {d}/out2}}
""")
p = run(["run", job2, "--summary-json", sj])
check(re.search(re.escape(f"{csv}:3") + ".*amount.*not a valid DOUBLE", p.stderr), p.stderr)
check(re.search(re.escape(f"{csv}:4") + ".*expected 3 columns, got 2", p.stderr), p.stderr)
rows = read_jsonl_dir(os.path.join(d, "out2"))
check(sorted((r["id"], r["amount"], r["city"]) for r in rows) == [(1, 10.0, "A"), (4, 40.0, "D, d")],
      f"csv rows {rows}")
ok("csv: bad lines reported with file:line, quoted fields read")
