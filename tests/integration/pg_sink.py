#!/usr/bin/env python3
"""Sink `postgres` against a real PostgreSQL server (started here; exit 77 when
the server binaries are absent):

1. exactly_once under SIGKILL: generated customer-cdc events -> upsert ->
   postgres sink, killed >= 10 times at random moments and restarted with
   --restore latest (worker counts 1-3); at the end the table equals the
   latest image per key computed independently from `sluice gen`, no prepared
   transaction is left, and sluice_sink_state names the last run's workers.
2. A server restart (pg_ctl restart) mid-run: the job reconnects and the
   table is again exactly right, exactly_once (the open transaction replayed,
   COPY data included) and at_least_once (the temporary stage made again).
   And a connection cut right after the server ran a barrier's PREPARE
   TRANSACTION, before its answer (a proxy in between): the sink finds the
   transaction prepared instead of replaying it (which would wait forever on
   its locks).
3. Bad values (a string too long for varchar(n), text into an integer
   column) go to the dead-letter sink with the server's message; the good
   rows land; the job goes on. With both methods (copy, insert), at least and
   exactly once.
4. Awkward strings (tab, newline, CR, backslash, \\N and \\. as text, quotes,
   non-ASCII, empty string vs NULL) arrive byte for byte with both methods,
   also when a bad value in the same batch sends it through the row-by-row
   retry; the dead letter is the same with both methods.
   A row of empty strings (its dead-letter tuple outgrows its COPY line).
5. Append mode with every method (copy goes straight into the table): rows
   appended byte for byte, a refused one alone to the dead letters.
6. The password comes from the environment and never shows in the output.
Sections 1 and 2 run with the default method (copy)."""
import json
import os
import random
import socket
import subprocess
import sys
import threading
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
# Each start drops the staging tables of earlier runs; the last run's
# workers made theirs again.
stages = sorted(r[0] for r in pg.sql("SELECT relname FROM pg_class WHERE relpersistence = 'u' "
                                     "AND relname LIKE 'sluice_stage_%'"))
check(stages == [f"sluice_stage_pgsink_db_{i}" for i in range(workers)],
      f"staging tables {stages}, the last run had {workers} workers")
ok(f"staging tables: the last run's {workers}, none of earlier runs")

# 2. Server restart mid-run.
for delivery in ("exactly_once", "at_least_once"):
    pg.sql("TRUNCATE archive; TRUNCATE sluice_sink_state")
    j2 = os.path.join(d, "restart-" + delivery)
    os.makedirs(j2)
    write(os.path.join(j2, "job.yaml"),
          (JOB % {"records": RECORDS, "keys": KEYS, "rate": 150000, "dsn": dsn})
          .replace("delivery: exactly_once", "delivery: " + delivery))
    with open(os.path.join(j2, "log"), "w") as lf:
        p = subprocess.Popen([SLUICE, "run", "job.yaml", "--workers", "2"], cwd=j2,
                             stdout=subprocess.DEVNULL, stderr=lf, env=ENV)
    time.sleep(1.0)
    pg.restart()
    rc = p.wait(timeout=300)
    text = open(os.path.join(j2, "log")).read()
    check(rc == 0, f"run across a server restart exited {rc} ({delivery}):\n{text[-3000:]}")
    check("reconnect" in text, f"no reconnection logged ({delivery})")
    check(PASSWORD not in text, "the password appears in the log")
    compare_table(latest, f"across pg_ctl restart ({delivery})")

# 2b. The connection cut after PREPARE TRANSACTION ran, before its answer.
class CutAfterPrepare:
    """TCP proxy to the server that, once, forwards a PREPARE TRANSACTION,
    relays nothing more of that connection's answers, gives the server time
    to run it, then closes both sides."""

    def __init__(self, port):
        self.port, self.cut = port, threading.Event()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.listen_port = self.lsock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            c, _ = self.lsock.accept()
            s = socket.create_connection(("127.0.0.1", self.port))
            muted = threading.Event()  # the server's answers stop here
            threading.Thread(target=self.pipe, args=(c, s, muted, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(s, c, muted, False), daemon=True).start()

    def pipe(self, src, dst, muted, to_server):
        tail = b""
        try:
            while True:
                data = src.recv(65536)
                if not data or (not to_server and muted.is_set()):
                    break
                if to_server and not self.cut.is_set() and b"PREPARE TRANSACTION" in tail + data:
                    self.cut.set()
                    muted.set()
                    dst.sendall(data)
                    time.sleep(0.5)  # the server runs it; the client never hears
                    break
                dst.sendall(data)
                tail = data[-32:]
        except OSError:
            pass
        for sk in (src, dst):
            try:
                sk.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sk.close()


proxy = CutAfterPrepare(pg.port)
pg.sql("TRUNCATE archive; TRUNCATE sluice_sink_state")
j2 = os.path.join(d, "cut-prepare")
os.makedirs(j2)
write(os.path.join(j2, "job.yaml"),
      JOB % {"records": RECORDS, "keys": KEYS, "rate": 150000,
             "dsn": dsn.replace(f"port={pg.port}", f"port={proxy.listen_port}")})
with open(os.path.join(j2, "log"), "w") as lf:
    p = subprocess.Popen([SLUICE, "run", "job.yaml", "--workers", "2"], cwd=j2,
                         stdout=subprocess.DEVNULL, stderr=lf, env=ENV)
try:
    rc = p.wait(timeout=120)
except subprocess.TimeoutExpired:
    p.kill()
    fail("the job hung after its connection was cut behind a PREPARE TRANSACTION:\n" +
         open(os.path.join(j2, "log")).read()[-3000:])
text = open(os.path.join(j2, "log")).read()
check(proxy.cut.is_set(), "the proxy never saw a PREPARE TRANSACTION")
check(rc == 0, f"run with a cut after PREPARE exited {rc}:\n{text[-3000:]}")
check("reconnect" in text, "no reconnection logged")
compare_table(latest, "connection cut after PREPARE TRANSACTION")
check(pg.value("SELECT count(*) FROM pg_prepared_xacts") == "0", "prepared transactions left")

# 3. Bad values go to the dead letters, with either method and delivery.
pg.sql("CREATE TABLE people (id int PRIMARY KEY, name varchar(5), age int)")
for method in ("copy", "insert", "unnest"):
    for delivery in ("at_least_once", "exactly_once"):
        pg.sql("TRUNCATE people")
        j3 = os.path.join(d, f"bad-{method}-{delivery}")
        os.makedirs(j3)
        write(os.path.join(j3, "in.ndjson"),
              '{"id": 1, "name": "ann", "age": "31"}\n'
              '{"id": 2, "name": "far too long", "age": "40"}\n'
              '{"id": 3, "name": "bob", "age": "not a number"}\n'
              '{"id": 4, "name": "cy", "age": "22"}\n')
        ckpt = "checkpoint: {interval: 200ms, dir: ./state}" if delivery == "exactly_once" else ""
        write(os.path.join(j3, "job.yaml"), f"""
job: bad
admin: off
{ckpt}
sources:
  in: {{type: file, path: in.ndjson, format: json, fields: {{id: INT, name: STRING, age: STRING}}}}
sinks:
  db: {{from: in, type: postgres, dsn: "{dsn}", password_env: SLUICE_PG_PASSWORD, table: people,
       key: [id], method: {method}, delivery: {delivery}}}
dead_letter: {{type: file, path: dlq}}
""")
        p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "1"], cwd=j3,
                           capture_output=True, text=True, env=ENV, timeout=120)
        what = f"bad values ({method}, {delivery})"
        check(p.returncode == 0, f"{what}: run exited {p.returncode}:\n{p.stderr[-2000:]}")
        rows = pg.sql("SELECT id, name, age FROM people ORDER BY id")
        check(rows == [["1", "ann", "31"], ["4", "cy", "22"]], f"{what}: people: {rows}")
        dlq = read_jsonl_dir(os.path.join(j3, "dlq"))
        reasons = sorted(r["reason"] for r in dlq)
        check(len(dlq) == 2 and any("too long" in r for r in reasons) and
              any("invalid input syntax" in r for r in reasons), f"{what}: dead letters: {dlq}")
        check(all(r["source"] == "db" for r in dlq), f"{what}: dead letters name the sink: {dlq}")
        check(PASSWORD not in p.stderr and PASSWORD not in json.dumps(dlq), "password leaked")
        ok(f"{what}: 2 dead letters with the server's reasons, 2 good rows written")

# 4. Awkward strings, byte for byte through both methods.
AWKWARD = ["tab\there", "new\nline", "cr\rlf\r\n", "back\\slash", "\\N", "\\.", "\\",
           "trailing\\", "it's \"quoted\"", "caf\u00e9 \u65e5\u672c \U0001f600", "", None,
           "  spaces  ", "comma,semi;pipe|", "\\t not a tab", "\x01\x7f ctl", "NULL", "\\N\t\\N"]
events = [{"id": i + 1, "s": v, "v": "ok"} for i, v in enumerate(AWKWARD)]
# One row the server refuses in the same batch: the others go through the
# row-by-row retry, which must render them just as well.
BAD_ID = len(AWKWARD) + 1
events.append({"id": BAD_ID, "s": "line\none\ttab \\ \u00e9", "v": "far too long\nfor 8"})
dead = {}
for method in ("copy", "insert", "unnest"):
    table = f"awk_{method}"
    pg.sql(f"CREATE TABLE {table} (id int PRIMARY KEY, s text, v varchar(8))")
    for retry in (False, True):
        pg.sql(f"TRUNCATE {table}")
        j4 = os.path.join(d, f"awk-{method}-{retry}")
        os.makedirs(j4)
        rows_in = events if retry else events[:-1]
        write(os.path.join(j4, "in.ndjson"), "".join(json.dumps(e) + "\n" for e in rows_in))
        write(os.path.join(j4, "job.yaml"), f"""
job: awk
admin: off
sources:
  in: {{type: file, path: in.ndjson, format: json, fields: {{id: INT, s: STRING, v: STRING}}}}
sinks:
  db: {{from: in, type: postgres, dsn: "{dsn}", password_env: SLUICE_PG_PASSWORD, table: {table},
       key: [id], method: {method}}}
dead_letter: {{type: file, path: dlq}}
""")
        p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "1"], cwd=j4,
                           capture_output=True, text=True, env=ENV, timeout=120)
        what = f"awkward strings ({method}{', row retry' if retry else ''})"
        check(p.returncode == 0, f"{what}: run exited {p.returncode}:\n{p.stderr[-2000:]}")
        got = pg.sql(f"SELECT id, s IS NULL, encode(convert_to(coalesce(s, ''), 'UTF8'), 'hex') "
                     f"FROM {table} ORDER BY id")
        want = [[str(i + 1), "t" if v is None else "f", (v or "").encode().hex()]
                for i, v in enumerate(AWKWARD)]
        check(got == want, f"{what}: table differs:\n" + "\n".join(
            f"  got {g} want {w}" for g, w in zip(got, want) if g != w) + f"\n({len(got)} rows)")
        dlq = read_jsonl_dir(os.path.join(j4, "dlq")) if os.path.isdir(
            os.path.join(j4, "dlq")) else []
        if retry:
            check(len(dlq) == 1 and "too long" in dlq[0]["reason"], f"{what}: dead letters {dlq}")
            check(dlq[0]["position"] == table, f"{what}: dead letter position {dlq[0]}")
            dead[method] = {k: v for k, v in dlq[0].items() if k not in ("position", "time")}
        else:
            check(not dlq, f"{what}: dead letters {dlq}")
        ok(f"{what}: {len(AWKWARD)} values arrive byte for byte")
check(dead["copy"] == dead["insert"] == dead["unnest"],
      f"the dead letter differs between the methods: {dead}")
ok(f"the dead letter is the same with both methods: {dead['copy']}")

# Many empty strings in one refused row: its tuple for the dead letter is
# longer than its COPY line by 3 bytes a field.
pg.sql("CREATE TABLE wide (id int PRIMARY KEY, a text, b text, c text, d text, e text, f text, "
       "g text, v varchar(2))")
WIDE = "abcdefg"
for method in ("copy", "insert", "unnest"):
    pg.sql("TRUNCATE wide")
    j5 = os.path.join(d, f"wide-{method}")
    os.makedirs(j5)
    write(os.path.join(j5, "in.ndjson"),
          json.dumps(dict({"id": 1, "v": ""}, **{k: "" for k in WIDE})) + "\n" +
          json.dumps(dict({"id": 2, "v": "too long"}, **{k: "" for k in WIDE})) + "\n")
    fields = ", ".join(f"{k}: STRING" for k in WIDE)
    write(os.path.join(j5, "job.yaml"), f"""
job: wide
admin: off
sources:
  in: {{type: file, path: in.ndjson, format: json, fields: {{id: INT, {fields}, v: STRING}}}}
sinks:
  db: {{from: in, type: postgres, dsn: "{dsn}", password_env: SLUICE_PG_PASSWORD, table: wide,
       key: [id], method: {method}}}
dead_letter: {{type: file, path: dlq}}
""")
    p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "1"], cwd=j5,
                       capture_output=True, text=True, env=ENV, timeout=120)
    what = f"empty strings ({method})"
    check(p.returncode == 0, f"{what}: run exited {p.returncode}:\n{p.stderr[-2000:]}")
    got = pg.sql("SELECT id, " + ", ".join(f"{k} = ''" for k in WIDE) + ", v = '' FROM wide")
    check(got == [["1"] + ["t"] * (len(WIDE) + 1)], f"{what}: wide: {got}")
    dlq = read_jsonl_dir(os.path.join(j5, "dlq"))
    want = "('2'," + "'',"*len(WIDE) + "'too long')"
    check(len(dlq) == 1 and dlq[0]["raw"] == want, f"{what}: dead letters {dlq}, want raw {want}")
    ok(f"{what}: a row of empty strings written, the refused one a dead letter as {want}")


# Append mode: method copy copies straight into the table; a refused row
# still goes to the dead letters alone.
pg.sql("CREATE TABLE events (id int, name varchar(5), note text)")
for method in ("copy", "insert", "unnest"):
    pg.sql("TRUNCATE events")
    j6 = os.path.join(d, f"append-{method}")
    os.makedirs(j6)
    write(os.path.join(j6, "in.ndjson"),
          '{"id": 1, "name": "ann", "note": "a\\tb"}\n'
          '{"id": 1, "name": "ann", "note": "again"}\n'
          '{"id": 2, "name": "far too long", "note": null}\n'
          '{"id": 3, "name": "", "note": "back\\\\slash"}\n')
    write(os.path.join(j6, "job.yaml"), f"""
job: append
admin: off
sources:
  in: {{type: file, path: in.ndjson, format: json, fields: {{id: INT, name: STRING, note: STRING}}}}
sinks:
  db: {{from: in, type: postgres, dsn: "{dsn}", password_env: SLUICE_PG_PASSWORD, table: events,
       mode: append, method: {method}}}
dead_letter: {{type: file, path: dlq}}
""")
    p = subprocess.run([SLUICE, "run", "job.yaml", "--workers", "1"], cwd=j6,
                       capture_output=True, text=True, env=ENV, timeout=120)
    what = f"append ({method})"
    check(p.returncode == 0, f"{what}: run exited {p.returncode}:\n{p.stderr[-2000:]}")
    got = pg.sql("SELECT id, name, encode(convert_to(note, 'UTF8'), 'hex') FROM events "
                 "ORDER BY id, note")
    want = [["1", "ann", "a\tb".encode().hex()], ["1", "ann", b"again".hex()],
            ["3", "", b"back\\slash".hex()]]
    check(got == want, f"{what}: events {got}, want {want}")
    dlq = read_jsonl_dir(os.path.join(j6, "dlq"))
    check(len(dlq) == 1 and "too long" in dlq[0]["reason"] and
          dlq[0]["raw"] == "('2','far too long',NULL)", f"{what}: dead letters {dlq}")
    ok(f"{what}: 3 rows appended byte for byte, the refused one a dead letter")
