#!/usr/bin/env python3
"""Sink `postgres` against a real PostgreSQL server (started here; exit 77 when
the server binaries are absent):

1. exactly_once under SIGKILL: generated customer-cdc events -> upsert ->
   postgres sink, killed >= 10 times at random moments and restarted with
   --restore latest (worker counts 1-3); at the end the table equals the
   latest image per key computed independently from `sluice gen`, no prepared
   transaction is left, and sluice_sink_state names the last run's workers.
2. A server restart (pg_ctl restart) mid-run: the job reconnects and the
   table is again exactly right.
3. Bad values (a string too long for varchar(n), text into an integer
   column) go to the dead-letter sink with the server's message; the good
   rows land; the job goes on.
4. The password comes from the environment and never shows in the output."""
import json
import os
import random
import subprocess
import sys
import time

from common import SLUICE, check, fail, ok, read_jsonl_dir, run, tmpdir, write
from pg_common import PgServer

SLUICE = os.path.abspath(SLUICE)
SEED = int(os.environ.get("SLUICE_PG_SEED") or random.SystemRandom().randrange(1 << 31))
print(f"seed {SEED}", flush=True)
rng = random.Random(SEED)
RECORDS, KEYS = 400000, 20000

pg = PgServer()
d = tmpdir("pg-sink")
PASSWORD = "s3cret-pw"
ENV = dict(os.environ, SLUICE_PG_PASSWORD=PASSWORD)
ENV.pop("CI", None)
dsn = pg.dsn(password=False)

TABLE = ("CREATE TABLE archive (customer_id bigint PRIMARY KEY, name text, address text, "
         "phone text, id_number varchar(18), updated_time timestamptz)")
pg.sql(TABLE)

JOB = """
job: pgsink
admin: off
checkpoint: {interval: 150ms, dir: ./state}
sources:
  ev: {type: generator, records: %(records)d, keys: %(keys)d, seed: 7, rate: %(rate)d}
steps:
  latest: {from: ev, op: upsert, key: [customer_id]}
sinks:
  db: {from: latest, type: postgres, dsn: "%(dsn)s", password_env: SLUICE_PG_PASSWORD,
       table: archive, key: [customer_id], delivery: exactly_once, batch_rows: 2000}
"""


def expected_latest():
    """Latest row per key, straight from the generator's Debezium events."""
    out = subprocess.run([SLUICE, "gen", "customer-cdc", "--records", str(RECORDS), "--keys",
                          str(KEYS), "--seed", "7"], capture_output=True, text=True,
                         check=True).stdout
    latest = {}
    for line in out.splitlines():
        e = json.loads(line)
        if e["op"] == "d":
            latest.pop(e["before"]["customer_id"], None)
        else:
            a = e["after"]
            latest[a["customer_id"]] = a
    return latest


def compare_table(latest, what):
    rows = pg.sql("SELECT customer_id, coalesce(name, '~'), coalesce(address, '~'), "
                  "coalesce(phone, '~'), coalesce(id_number, '~'), "
                  "(extract(epoch FROM updated_time) * 1000)::bigint FROM archive")
    db = {int(r[0]): r[1:] for r in rows}
    bad = []
    for k, a in latest.items():
        want = [a["name"] or "~", a["address"] or "~", a["phone"] or "~", a["id_number"] or "~",
                str(a["updated_time"])]
        if db.get(k) != want:
            bad.append((k, want, db.get(k)))
    extra = sorted(set(db) - set(latest))
    check(not bad and not extra,
          f"{what}: table differs from the latest images: {len(bad)} wrong/missing "
          f"(e.g. {bad[:2]}), {len(extra)} extra (e.g. {extra[:3]})")
    ok(f"{what}: the table holds exactly the {len(latest)} latest rows")


latest = expected_latest()

# 1. SIGKILL and restore.
j1 = os.path.join(d, "kill")
os.makedirs(j1)
write(os.path.join(j1, "job.yaml"), JOB % {"records": RECORDS, "keys": KEYS, "rate": 250000,
                                           "dsn": dsn})
log1 = os.path.join(j1, "log")
kills = 0
while True:
    workers = rng.choice([1, 2, 2, 3])
    with open(log1, "a") as lf:
        p = subprocess.Popen([SLUICE, "run", "job.yaml", "--restore", "latest", "--workers",
                              str(workers)], cwd=j1, stdout=subprocess.DEVNULL, stderr=lf,
                             env=ENV)
    if kills < 10:
        time.sleep(rng.uniform(0.1, 0.9))
        if p.poll() is None:
            p.kill()
            p.wait()
            kills += 1
            continue
    rc = p.wait(timeout=300)
    check(rc == 0, f"final run exited {rc}:\n{open(log1).read()[-3000:]}")
    if kills >= 10:
        break
    # The input ended before enough kills: start over from nothing (the
    # kills so far still count).
    pg.sql("TRUNCATE archive; TRUNCATE sluice_sink_state")
    subprocess.run(["rm", "-rf", os.path.join(j1, "state")], check=True)
text = open(log1).read()
check(PASSWORD not in text, "the password appears in the log")
check(text.count('msg="restoring"') >= 5, "restores happened")
compare_table(latest, f"exactly_once after {kills} SIGKILLs")
check(pg.value("SELECT count(*) FROM pg_prepared_xacts") == "0", "prepared transactions left")
state = pg.sql("SELECT worker, checkpoint_id FROM sluice_sink_state WHERE job = 'pgsink' "
               "AND sink = 'db'")
ids = sorted(int(c) for _, c in state)
chk = sorted(int(x.split("-")[1]) for x in os.listdir(os.path.join(j1, "state"))
             if x.startswith("chk-"))
check(state and ids[-1] <= chk[-1], f"sluice_sink_state {state} vs checkpoints {chk}")
ok(f"sluice_sink_state: {len(state)} workers, checkpoints up to {ids[-1]} (latest {chk[-1]})")

# 2. Server restart mid-run.
pg.sql("TRUNCATE archive; TRUNCATE sluice_sink_state")
j2 = os.path.join(d, "restart")
os.makedirs(j2)
write(os.path.join(j2, "job.yaml"), JOB % {"records": RECORDS, "keys": KEYS, "rate": 150000,
                                           "dsn": dsn})
with open(os.path.join(j2, "log"), "w") as lf:
    p = subprocess.Popen([SLUICE, "run", "job.yaml", "--workers", "2"], cwd=j2,
                         stdout=subprocess.DEVNULL, stderr=lf, env=ENV)
time.sleep(1.0)
pg.restart()
rc = p.wait(timeout=300)
text = open(os.path.join(j2, "log")).read()
check(rc == 0, f"run across a server restart exited {rc}:\n{text[-3000:]}")
check("reconnect" in text, "no reconnection logged")
check(PASSWORD not in text, "the password appears in the log")
compare_table(latest, "across pg_ctl restart")

# 3. Bad values go to the dead letters.
pg.sql("CREATE TABLE people (id int PRIMARY KEY, name varchar(5), age int)")
j3 = os.path.join(d, "bad")
os.makedirs(j3)
write(os.path.join(j3, "in.ndjson"),
      '{"id": 1, "name": "ann", "age": "31"}\n'
      '{"id": 2, "name": "far too long", "age": "40"}\n'
      '{"id": 3, "name": "bob", "age": "not a number"}\n'
      '{"id": 4, "name": "cy", "age": "22"}\n')
write(os.path.join(j3, "job.yaml"), f"""
job: bad
admin: off
sources:
  in: {{type: file, path: in.ndjson, format: json, fields: {{id: INT, name: STRING, age: STRING}}}}
sinks:
  db: {{from: in, type: postgres, dsn: "{dsn}", password_env: SLUICE_PG_PASSWORD, table: people,
       key: [id]}}
dead_letter: {{type: file, path: dlq}}
""")
p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "1"], cwd=j3, capture_output=True,
                   text=True, env=ENV, timeout=120)
check(p.returncode == 0, f"bad-values run exited {p.returncode}:\n{p.stderr[-2000:]}")
rows = pg.sql("SELECT id, name, age FROM people ORDER BY id")
check(rows == [["1", "ann", "31"], ["4", "cy", "22"]], f"people: {rows}")
dlq = read_jsonl_dir(os.path.join(j3, "dlq"))
reasons = sorted(r["reason"] for r in dlq)
check(len(dlq) == 2 and any("too long" in r for r in reasons) and
      any("invalid input syntax" in r for r in reasons), f"dead letters: {dlq}")
check(all(r["source"] == "db" for r in dlq), f"dead letters name the sink: {dlq}")
check(PASSWORD not in p.stderr and PASSWORD not in json.dumps(dlq), "password leaked")
ok("bad values: 2 dead letters with the server's reasons, 2 good rows written")
