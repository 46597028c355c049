"""File sink: csv and jsonl, zstd, rolling by size; only complete part files visible."""
import csv
import io
import os
import re

from common import check, ok, part_files, read_jsonl_dir, read_text, run, tmpdir, write

d = tmpdir("file-sink")
job = write(os.path.join(d, "job.yaml"), f"""
sources:
  gen: {{type: generator, records: 100000, keys: 3000, seed: 5}}
sinks:
  j: {{from: gen, type: file, path: {d}/j}}
  c: {{from: gen, type: file, path: {d}/c, format: csv, compression: zstd, max_bytes: 1MiB}}
""")
run(["run", job, "--workers", "2"])
ref = read_jsonl_dir(os.path.join(d, "j"))
files = part_files(os.path.join(d, "c"))
check(len(files) > 4, f"expected several rolled files, got {files}")
for f in files:
    check(re.fullmatch(r"part-[01]-\d+\.csv\.zst", os.path.basename(f)), f"name {f}")
check(not [f for f in os.listdir(os.path.join(d, "c")) if f.startswith(".")], "hidden files left")
rows = []
for f in files:
    text = read_text(f)
    r = list(csv.reader(io.StringIO(text)))
    check(r[0] == ["_kind", "customer_id", "name", "address", "phone", "id_number", "updated_time"],
          f"header of {f}: {r[0]}")
    check(len(text.encode()) <= 1024 * 1024 + 4096, f"{f} is larger than max_bytes + one row")
    rows += r[1:]


def norm(v):
    return "" if v is None else str(v)


want = sorted([r["_kind"], str(r["customer_id"]), norm(r["name"]), norm(r["address"]),
               norm(r["phone"]), norm(r["id_number"]), norm(r["updated_time"])] for r in ref)
check(sorted(rows) == want, "csv rows differ from the jsonl rows")
ok(f"{len(files)} rolled zstd csv parts hold the same {len(rows)} rows as jsonl")

# A second run into the same directory adds parts; it never overwrites.
before = set(part_files(os.path.join(d, "j")))
run(["run", job, "--workers", "2"])
after = set(part_files(os.path.join(d, "j")))
check(before < after and len(after) == 2 * len(before), f"{before} -> {after}")
ok("a second run adds new part files")

# Change-event sink formats: debezium-json read back through the debezium-json
# source gives the changelog with updates as delete + insert; upsert-json
# replays to the latest image per key.
job = write(os.path.join(d, "formats.yaml"), f"""
sources:
  gen: {{type: generator, records: 30000, keys: 700, seed: 8}}
steps:
  m: {{from: gen, op: map, fields: {{customer_id: customer_id, name: name, phone: phone}}}}
sinks:
  j: {{from: m, type: file, path: {d}/fj}}
  dbz: {{from: m, type: file, path: {d}/fdbz, format: debezium-json}}
  up: {{from: m, type: file, path: {d}/fup, format: upsert-json, key: [customer_id]}}
""")
run(["run", job, "--workers", "2"])
changelog = read_jsonl_dir(os.path.join(d, "fj"))
back = write(os.path.join(d, "back.yaml"), f"""
sources:
  in: {{type: file, path: {d}/fdbz, format: debezium-json,
        schema: "customer_id BIGINT, name STRING, phone STRING"}}
sinks:
  out: {{from: in, type: file, path: {d}/fback}}
""")
run(["run", back, "--workers", "1"])
as_events = {"+I": "+I", "+U": "+I", "-U": "-D", "-D": "-D"}


def per_key(rows, kind_map=None):
    out = {}
    for r in rows:
        k = kind_map[r["_kind"]] if kind_map else r["_kind"]
        out.setdefault(r["customer_id"], []).append((k, r["name"], r["phone"]))
    return out


check(per_key(read_jsonl_dir(os.path.join(d, "fback"))) == per_key(changelog, as_events),
      "debezium-json round trip differs")
ok("debezium-json sink read back by the debezium-json source: same changes")
latest = {}
for r in changelog:
    if r["_kind"] in ("+I", "+U"):
        latest[r["customer_id"]] = {"customer_id": r["customer_id"], "name": r["name"], "phone": r["phone"]}
    elif r["_kind"] == "-D":
        latest.pop(r["customer_id"])
table = {}
for r in read_jsonl_dir(os.path.join(d, "fup")):
    k = r["key"]["customer_id"]
    if r["value"] is None:
        table.pop(k)
    else:
        table[k] = r["value"]
check(table == latest, "upsert-json replay differs from the latest images")
ok(f"upsert-json replays to the latest image of {len(table)} keys")
