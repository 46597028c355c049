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
