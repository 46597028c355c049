#!/usr/bin/env python3
"""PostgreSQL sink throughput next to the server's own COPY, on a local server
this script starts (tests/integration/pg_common.py). One JSON line per
measurement on stdout, also appended to bench/results-pg.jsonl.

  bench/pg.py [--rows N] [--workers W]

Measured, each into an empty table archive(customer_id bigint primary key,
name, address, phone, id_number varchar(18), updated_time timestamptz):
  pg_copy            psql COPY of N rows from a CSV file (the raw ceiling)
  pg_copy_merge      COPY into a temporary table + one INSERT … ON CONFLICT
                     merge (what an upsert through COPY would cost)
  sluice_upsert_alo_copy    the same CSV through a file source -> postgres
                            sink, method copy (COPY into the worker's
                            staging table + INSERT … SELECT … ON CONFLICT
                            per batch of 5000), at_least_once
  sluice_upsert_alo_insert  the same, method insert (one multi-row
                            INSERT … VALUES … ON CONFLICT per batch)
  sluice_upsert_eo_copy     method copy, exactly_once (checkpoint every 1 s,
                            prepared transactions)
  sluice_upsert_eo_insert   method insert, exactly_once
  sluice_upsert_*_unnest    method unnest (one INSERT … SELECT * FROM
                            unnest(array per column) … ON CONFLICT)
and the CDC source, from WAL already written (N inserts by COPY, N/2 updates,
N/4 deletes, each statement one transaction, REPLICA IDENTITY DEFAULT):
  pg_recvlogical     the server's own client decoding the slot with pgoutput
                     into /dev/null (the walsender's ceiling)
  sluice_cdc         postgres-cdc (snapshot: never) -> blackhole, checkpoint
                     every 1 s; changes/s = rows emitted / wall time
  bench/pg.py --cdc-only   skips the sink measurements
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from pg_common import PgServer  # noqa: E402

SLUICE = os.path.join(HERE, "..", "build", "sluice")
TABLE = ("CREATE TABLE archive (customer_id bigint PRIMARY KEY, name text, address text, "
         "phone text, id_number varchar(18), updated_time timestamptz)")

ap = argparse.ArgumentParser()
ap.add_argument("--rows", type=int, default=1000000)
ap.add_argument("--workers", type=int, default=2)
ap.add_argument("--cdc-only", action="store_true")
args = ap.parse_args()
N = args.rows

pg = PgServer()
work = tempfile.mkdtemp(prefix="sluice-bench-pg-")
os.chmod(work, 0o755)
results = []


def emit(name, rows, seconds, extra=None):
    r = {"bench": name, "rows": rows, "seconds": round(seconds, 3),
         "rows_per_s": round(rows / seconds, 1), "workers": args.workers}
    r.update(extra or {})
    results.append(r)
    print(json.dumps(r), flush=True)


def reset():
    pg.sql("DROP TABLE IF EXISTS archive; DROP TABLE IF EXISTS sluice_sink_state; " + TABLE)


# The rows: one per key, CSV with a header, shaped like the customer archive.
csv = os.path.join(work, "rows.csv")
with open(csv, "w") as f:
    f.write("customer_id,name,address,phone,id_number,updated_time\n")
    for i in range(1, N + 1):
        f.write(f"{i},name {i % 9973},{i % 31} Road {i % 1000} Building {i % 97} Unit {i % 7},"
                f"139{i:08d},11010519{i % 90 + 10}0101{i % 10000:04d},"
                f"2026-01-01 00:{i // 60 % 60:02d}:{i % 60:02d}.000\n")
os.chmod(csv, 0o644)


def sinks():
    reset()
    t0 = time.monotonic()
    pg.sql(f"\\copy archive FROM '{csv}' WITH (FORMAT csv, HEADER true)")
    emit("pg_copy", N, time.monotonic() - t0)

    reset()
    t0 = time.monotonic()
    pg.sql("CREATE TEMP TABLE stage (LIKE archive); "
           f"\\copy stage FROM '{csv}' WITH (FORMAT csv, HEADER true)\n"
           "INSERT INTO archive SELECT * FROM stage ON CONFLICT (customer_id) DO UPDATE SET "
           "name = EXCLUDED.name, address = EXCLUDED.address, phone = EXCLUDED.phone, "
           "id_number = EXCLUDED.id_number, updated_time = EXCLUDED.updated_time")
    emit("pg_copy_merge", N, time.monotonic() - t0)

    runs = [(f"sluice_upsert_{d}_{method}", method, delivery, ckpt)
            for d, delivery, ckpt in (("alo", "at_least_once", ""),
                                      ("eo", "exactly_once",
                                       f"checkpoint: {{interval: 1s, dir: {work}/state}}"))
            for method in ("copy", "insert", "unnest")]
    for name, method, delivery, ckpt in runs:
        reset()
        subprocess.run(["rm", "-rf", os.path.join(work, "state")], check=True)
        job = os.path.join(work, name + ".yaml")
        with open(job, "w") as f:
            f.write(f"""
job: {name}
admin: off
{ckpt}
sources:
  ev: {{type: file, path: {csv}, format: csv, fields: {{customer_id: BIGINT, name: STRING,
       address: STRING, phone: STRING, id_number: STRING, updated_time: TIMESTAMP}}}}
sinks:
  db: {{from: ev, type: postgres, dsn: "{pg.dsn()}", table: archive, key: [customer_id],
       delivery: {delivery}, method: {method}, batch_rows: 5000}}
""")
        summary = os.path.join(work, name + ".json")
        t0 = time.monotonic()
        subprocess.run([SLUICE, "run", job, "--workers", str(args.workers), "-q",
                        "--summary-json", summary], check=True)
        dt = time.monotonic() - t0
        got = int(pg.value("SELECT count(*) FROM archive"))
        if got != N:
            sys.exit(f"{name}: {got} rows in the table, want {N}")
        with open(summary) as f:
            s = json.load(f)
        emit(name, N, dt, {"method": method, "checkpoints": s.get("checkpoints", 0)})


def cdc():
    pg.sql("DROP TABLE IF EXISTS cdc_src; " + TABLE.replace("archive", "cdc_src"))
    pg.sql("CREATE PUBLICATION bench_cdc FOR TABLE cdc_src")
    for slot in ("bench_raw", "bench_sluice"):
        pg.sql(f"SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')")
    t0 = time.monotonic()
    pg.sql(f"\\copy cdc_src FROM '{csv}' WITH (FORMAT csv, HEADER true)\n"
           "UPDATE cdc_src SET name = name || '+' WHERE customer_id % 2 = 0;\n"
           "DELETE FROM cdc_src WHERE customer_id % 4 = 1;\n"
           "SELECT pg_logical_emit_message(true, 'bench-stop', '')")
    changes = N + N // 2 + (N + 3) // 4
    end = pg.value("SELECT pg_current_wal_lsn()")
    print(f"# WAL written for {changes} changes in {time.monotonic() - t0:.1f} s", flush=True)
    t0 = time.monotonic()
    subprocess.run([pg.bin("pg_recvlogical"), "-d", pg.dsn(replication="database"),
                    "-S", "bench_raw", "--start", "-o", "proto_version=1",
                    "-o", "publication_names=bench_cdc", "-E", end, "-f", "/dev/null",
                    "--no-loop"], check=True)
    emit("pg_recvlogical", changes, time.monotonic() - t0, {"unit": "changes"})
    job = os.path.join(work, "cdc.yaml")
    with open(job, "w") as f:
        f.write(f"""
job: bench_cdc
admin: off
checkpoint: {{interval: 1s, dir: {work}/state-cdc}}
sources:
  src: {{type: postgres-cdc, dsn: "{pg.dsn()}", tables: [cdc_src], slot: bench_sluice,
        publication: bench_cdc, snapshot: never, stop_on_message: bench-stop}}
sinks:
  out: {{from: src, type: blackhole}}
""")
    summary = os.path.join(work, "cdc.json")
    t0 = time.monotonic()
    subprocess.run([SLUICE, "run", job, "--workers", str(args.workers), "-q",
                    "--summary-json", summary], check=True)
    dt = time.monotonic() - t0
    with open(summary) as f:
        s = json.load(f)
    got = s.get("records_in", 0)
    if got != changes:
        sys.exit(f"sluice_cdc: {got} rows from the source, want {changes}")
    emit("sluice_cdc", changes, dt, {"unit": "changes", "checkpoints": s.get("checkpoints", 0)})


if not args.cdc_only:
    sinks()
cdc()

commit = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"],
                        capture_output=True, text=True).stdout.strip() or "unknown"
# Changes other than earlier results mark the figures as from a work tree.
if subprocess.run(["git", "-C", HERE, "diff", "--quiet", "HEAD", "--", "..",
                   ":(top,exclude)bench/results-pg.jsonl"]).returncode == 1:
    commit += "+changes"
with open(os.path.join(HERE, "results-pg.jsonl"), "a") as f:
    f.write(f"# {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {os.cpu_count()} cpus "
            f"commit {commit}\n")
    for r in results:
        f.write(json.dumps(r) + "\n")
subprocess.run(["rm", "-rf", work])
