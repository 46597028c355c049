"""dead_letter: every record a source cannot read and every row a step rejects
lands in the dead-letter sink with source, position, reason and raw bytes;
good + dead = input, nothing lost, the job goes on."""
import json
import os

from common import check, ok, read_jsonl_dir, run, summary, tmpdir, write

d = tmpdir("dead-letter")
lines, bad_read, bad_step = [], {}, set()
for i in range(1, 5001):
    if i % 997 == 0:
        lines.append('{"id": %d, "name": "cut' % i)
        bad_read[i] = "invalid JSON"
    elif i % 499 == 0:
        lines.append(json.dumps({"id": "n%d" % i}))
        bad_read[i] = "not a valid BIGINT"
    else:
        lines.append(json.dumps({"id": i, "name": f"c{i}", "div": i % 50}))
        if i % 50 == 0:
            bad_step.add(i)
src = write(os.path.join(d, "in.ndjson"), "\n".join(lines) + "\n")
job = write(os.path.join(d, "job.yaml"), f"""
sources:
  in: {{type: file, path: {src}, fields: {{id: BIGINT, name: STRING, div: INT}}}}
steps:
  m: {{from: in, op: map, fields: {{id: id, q: "1000 / div"}}}}
sinks:
  out: {{from: m, type: file, path: {d}/out}}
dead_letter: {{type: file, path: {d}/dead}}
""")
sj = os.path.join(d, "s.json")
run(["run", job, "--workers", "2", "--summary-json", sj])
out = read_jsonl_dir(os.path.join(d, "out"))
dead = read_jsonl_dir(os.path.join(d, "dead"))
good = {i for i in range(1, 5001) if i not in bad_read and i not in bad_step}
check(sorted(r["id"] for r in out) == sorted(good), "good rows differ")
check(all(r["q"] == 1000 // (r["id"] % 50) for r in out), "computed column wrong")
by_pos = {}
for r in dead:
    if r["source"] == "in":
        ln = int(r["position"].rsplit(":", 1)[1])
        check(r["position"] == f"{src}:{ln}", f"position {r['position']}")
        check(bad_read.get(ln, "?") in r["reason"], f"line {ln}: reason {r['reason']}")
        check(r["raw"] == lines[ln - 1], f"line {ln}: raw {r['raw']!r}")
        by_pos[ln] = r
    else:
        check(r["source"] == "m" and r["position"] == "fields.q", f"step dead letter {r}")
        check("division by zero" in r["reason"], r["reason"])
        row = json.loads(r["raw"])
        check(row["id"] in bad_step and row["div"] == 0, f"raw row {row}")
        by_pos[("m", row["id"])] = r
check(set(k for k in by_pos if isinstance(k, int)) == set(bad_read), "source dead letters differ")
check({k[1] for k in by_pos if isinstance(k, tuple)} == bad_step, "step dead letters differ")
s = summary(sj)
check(len(out) + len(dead) == 5000, f"{len(out)} + {len(dead)} != 5000")
check(s["dead_letters"] == len(dead) == s["bad_records"], f"summary {s}")
check(s["records_out"] == len(out), f"records_out {s['records_out']}")
ok(f"{len(out)} rows out + {len(dead)} dead letters = 5000 input lines, each with its reason")
