"""filter and map over generated events, on 1 and 2 workers, compared with the same
logic written independently in Python."""
import json
import os

from common import check, ok, read_jsonl_dir, run, tmpdir, write

d = tmpdir("filter-map")
events = os.path.join(d, "events.ndjson")
run(["gen", "customer-cdc", "--records", "300000", "--keys", "20000", "--seed", "9",
     "--bad-ratio", "0.1", "--output", events])

job = write(os.path.join(d, "job.yaml"), f"""
job: fm
sources:
  ev:
    type: file
    path: {events}
    fields:
      id: {{path: after.customer_id, type: BIGINT}}
      op: {{path: op, type: STRING}}
      name: {{path: after.name, type: STRING}}
      phone: {{path: after.phone, type: STRING}}
      ts: {{path: ts_ms, type: BIGINT}}
steps:
  picked:
    from: ev
    op: filter
    where: "op IN ('c', 'u') AND id % 7 = 3 AND phone IS NOT NULL AND length(phone) <> 11 OR (op = 'r' AND id BETWEEN 100 AND 120)"
  shaped:
    from: picked
    op: map
    fields:
      id: id
      label: "concat(upper(op), ':', coalesce(name, '?'))"
      name_len: "char_length(name)"
      bucket: "id / 1000"
      half: "cast(id AS DOUBLE) / 2"
      late: "ts - 1767225600000 > 100000"
      area: "substr(phone, 1, 3)"
      kind: "CASE WHEN op = 'r' THEN 'snapshot' WHEN op = 'c' THEN 'create' ELSE 'update' END"
sinks:
  out: {{from: shaped, type: file, path: {d}/out}}
""")


def expected_rows():
    rows = []
    with open(events, encoding="utf-8") as f:
        for line in f:
            ev = json.loads(line)
            a = ev["after"] or {}
            op, i, ph = ev["op"], a.get("customer_id"), a.get("phone")
            # SQL: AND binds tighter than OR; NULLs make comparisons unknown (false).
            left = (op in ("c", "u") and i is not None and i % 7 == 3 and ph is not None
                    and len(ph) != 11)
            right = op == "r" and i is not None and 100 <= i <= 120
            if not (left or right):
                continue
            name = a.get("name")
            rows.append({
                "_kind": "+I", "id": i,
                "label": f"{op.upper()}:{name if name is not None else '?'}",
                "name_len": len(name) if name is not None else None,
                "bucket": i // 1000, "half": i / 2,
                "late": ev["ts_ms"] - 1767225600000 > 100000,
                "area": ph[:3] if ph is not None else None,
                "kind": {"r": "snapshot", "c": "create"}.get(op, "update"),
            })
    return rows


want = sorted(expected_rows(), key=lambda r: json.dumps(r, sort_keys=True))
check(len(want) > 500, f"test data too small: {len(want)}")
for workers in (1, 2):
    out = os.path.join(d, f"out{workers}")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}"])
    got = sorted(read_jsonl_dir(out), key=lambda r: json.dumps(r, sort_keys=True))
    if got != want:
        for g, w in zip(got, want):
            if g != w:
                check(False, f"{workers} workers: first difference\n got  {g}\n want {w}")
        check(False, f"{workers} workers: {len(got)} rows, want {len(want)}")
    ok(f"{workers} worker(s): {len(got)} rows equal Python's filter and map")
