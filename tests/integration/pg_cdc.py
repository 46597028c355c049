#!/usr/bin/env python3
"""Source `postgres-cdc` against a real PostgreSQL server (started here; exit 77 when
the server binaries are absent). Tables with rows before the job starts plus a
concurrent stream of inserts, updates (some changing the primary key), deletes
and multi-statement transactions; the job copies them through the postgres sink
(exactly_once) into target tables; at the end each target table equals its
source table, compared with SQL (EXCEPT both ways).

1. Two tables in one source: `customers` (REPLICA IDENTITY DEFAULT: updates are
   upserts) and `accounts` (FULL: -U/+U with old images), routed by _table;
   every column type of the mapping (int2/4/8, numeric, float8, text, varchar,
   bool, date, timestamp, timestamptz, jsonb, uuid, bytea); no kill.
2. The same with SIGKILL of sluice at >= 10 random moments (some during the
   initial snapshot, which declines checkpoints: the restart takes a new one)
   and `--restore latest` (a restore refuses to start if the slot was confirmed
   past the restored position, so that is checked on every restart too).
3. A server restart (pg_ctl restart) while streaming: the source reconnects.
4. Clear errors before start: wal_level not logical, the slot missing with
   create_slot: false, a role without REPLICATION; the password never shows.
5. A row the source cannot read (an infinite timestamp) goes to the dead
   letters with slot, table and commit LSN; the next row lands.
6. Unchanged TOASTed values: filled from the old row under REPLICA IDENTITY
   FULL; under DEFAULT the update goes to the dead letters, never a null.
Run 3 also reads sluice_source_lag_bytes/_seconds from /metrics.
"""
import glob
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request

from common import SLUICE, check, fail, ok, read_jsonl_dir, run, tmpdir, write
from pg_common import PgServer, free_port

SLUICE = os.path.abspath(SLUICE)
SEED = int(os.environ.get("SLUICE_CDC_SEED") or random.SystemRandom().randrange(1 << 31))
print(f"seed {SEED}", flush=True)
rng = random.Random(SEED)

pg = PgServer("cdc")
d = tmpdir("pg-cdc")
PASSWORD = "s3cret-pw"
ENV = dict(os.environ, SLUICE_PG_PASSWORD=PASSWORD)
ENV.pop("CI", None)
DSN = pg.dsn(password=False)

CUSTOMERS = """(id bigint PRIMARY KEY, name text, phone varchar(20), score numeric(12,2),
  active bool, born date, updated timestamptz(3), doc jsonb, tag uuid, raw bytea,
  ratio float8, small int2, visits int4)"""
ACCOUNTS = "(acct_id int PRIMARY KEY, owner text, balance numeric(14,2), opened timestamp(3))"
CUST_COLS = ["id", "name", "phone", "score", "active", "born", "updated", "doc", "tag", "raw",
             "ratio", "small", "visits"]
ACCT_COLS = ["acct_id", "owner", "balance", "opened"]


def make_tables(prefix, n_customers, n_accounts):
    pg.sql(f"""
CREATE TABLE {prefix}customers {CUSTOMERS};
CREATE TABLE {prefix}accounts {ACCOUNTS};
ALTER TABLE {prefix}accounts REPLICA IDENTITY FULL;
CREATE TABLE {prefix}customers_copy {CUSTOMERS};
CREATE TABLE {prefix}accounts_copy {ACCOUNTS};
INSERT INTO {prefix}customers
  SELECT g, 'name ' || g || E'\\ttab\\\\slash''q', '+86-' || (13800000000 + g), g * 1.25,
         g % 3 = 0, DATE '1950-01-01' + (g % 20000),
         TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * interval '1.001 second',
         jsonb_build_object('g', g, 'tags', jsonb_build_array('a', g % 5)),
         md5(g::text)::uuid, decode(md5(g::text), 'hex'), g / 7.0, (g % 30000)::int2, g * 3
  FROM generate_series(1, {n_customers}) g;
INSERT INTO {prefix}accounts
  SELECT g, 'owner ' || g, g * 10.5, TIMESTAMP '2020-02-29 12:00:00' + g * interval '1 day'
  FROM generate_series(1, {n_accounts}) g;
""")


def job_text(name, prefix, interval="200ms", extra="", admin="off"):
    cust_map = ", ".join(f"{c}: {c}" for c in CUST_COLS)
    acct_map = ", ".join(f"{c}: {c}" for c in ACCT_COLS)
    return f"""
job: {name}
admin: {admin}
checkpoint: {{interval: {interval}, dir: ./state-{name}}}
sources:
  src:
    type: postgres-cdc
    dsn: "{DSN}"
    password_env: SLUICE_PG_PASSWORD
    tables: [{prefix}customers, public.{prefix}accounts]
    stop_on_message: sluice-stop-{name}
    status_interval: 500ms
    {extra}
steps:
  cust: {{from: src, op: filter, where: "_table = 'public.{prefix}customers'"}}
  acct: {{from: src, op: filter, where: "_table = 'public.{prefix}accounts'"}}
sinks:
  c: {{from: cust, type: postgres, dsn: "{DSN}", password_env: SLUICE_PG_PASSWORD,
       table: {prefix}customers_copy, key: [id], delivery: exactly_once,
       columns: {{{cust_map}}}}}
  a: {{from: acct, type: postgres, dsn: "{DSN}", password_env: SLUICE_PG_PASSWORD,
       table: {prefix}accounts_copy, key: [acct_id], delivery: exactly_once,
       columns: {{{acct_map}}}}}
dead_letter: {{type: file, path: ./dlq-{name}}}
"""


class Writer(threading.Thread):
    """Random changes to both tables in many transactions, until stopped or
    `rounds` scripts ran. Keeps the ids it knows are live, roughly (a wrong guess
    only makes an UPDATE or DELETE touch nothing)."""

    def __init__(self, prefix, n_customers, n_accounts, rounds, seed):
        super().__init__(daemon=True)
        self.p = prefix
        self.rng = random.Random(seed)
        self.cust = set(range(1, n_customers + 1))
        self.acct = set(range(1, n_accounts + 1))
        self.next_c = n_customers + 1
        self.next_a = n_accounts + 1
        self.rounds = rounds
        self.stop = threading.Event()
        self.done = 0
        self.error = None

    def stmt(self):
        r, p = self.rng, self.p
        k = r.random()
        if k < 0.3:
            i = self.next_c
            self.next_c += 1
            self.cust.add(i)
            nm = "'" + r.choice(["新 客户", "O''Brien", "x" * r.randrange(1, 300), "tab\there"]) + "'"
            return (f"INSERT INTO {p}customers VALUES ({i}, {nm}, '+1-{r.randrange(10**9)}', "
                    f"{r.randrange(-10**6, 10**6) / 100}, {r.choice(['true', 'false', 'NULL'])}, "
                    f"DATE '2000-01-01' + {r.randrange(9000)}, now(), "
                    f"'{{\"k\": {r.randrange(100)}}}', gen_random_uuid(), "
                    f"'\\x{r.randrange(1 << 32):08x}', {r.random() * 1e6}, {r.randrange(-300, 300)}, "
                    f"{r.randrange(-2**31, 2**31)});")
        if k < 0.55 and self.cust:
            i = r.choice(tuple(self.cust))
            col = r.choice(["name = name || '+'", "score = score + 1", "active = NOT active",
                            "doc = doc || '{\"u\": 1}'", "updated = now()", "raw = NULL",
                            "phone = NULL, ratio = 'NaN'", "born = born + 1"])
            return f"UPDATE {p}customers SET {col} WHERE id = {i};"
        if k < 0.62 and self.cust:
            i = r.choice(tuple(self.cust))
            self.cust.discard(i)
            return f"DELETE FROM {p}customers WHERE id = {i};"
        if k < 0.66 and self.cust:
            i = r.choice(tuple(self.cust))
            j = self.next_c
            self.next_c += 1
            self.cust.discard(i)
            self.cust.add(j)
            return f"UPDATE {p}customers SET id = {j} WHERE id = {i};"
        if k < 0.75:
            i = self.next_a
            self.next_a += 1
            self.acct.add(i)
            return (f"INSERT INTO {p}accounts VALUES ({i}, 'o{i}', {r.randrange(10**6) / 100}, "
                    f"TIMESTAMP '2021-01-01' + interval '{r.randrange(10**6)} second');")
        if k < 0.9 and self.acct:
            i = r.choice(tuple(self.acct))
            return f"UPDATE {p}accounts SET balance = balance - 1.5, owner = owner || '.' WHERE acct_id = {i};"
        if k < 0.94 and self.acct:
            i = r.choice(tuple(self.acct))
            j = self.next_a
            self.next_a += 1
            self.acct.discard(i)
            self.acct.add(j)
            return f"UPDATE {p}accounts SET acct_id = {j} WHERE acct_id = {i};"
        if self.acct:
            i = r.choice(tuple(self.acct))
            self.acct.discard(i)
            return f"DELETE FROM {p}accounts WHERE acct_id = {i};"
        return "SELECT 1;"

    def script(self):
        out = []
        for _ in range(40):
            if self.rng.random() < 0.3:
                out.append("BEGIN;")
                out += [self.stmt() for _ in range(self.rng.randrange(2, 30))]
                out.append("COMMIT;")
            else:
                out.append(self.stmt())
        if self.rng.random() < 0.1:  # a bigger transaction, many changes
            out.append(f"UPDATE {self.p}customers SET visits = visits + 1 WHERE id % 17 = "
                       f"{self.rng.randrange(17)};")
        return "\n".join(out)

    def run(self):
        try:
            while not self.stop.is_set() and self.done < self.rounds:
                pg.sql(self.script(), check=False)
                self.done += 1
        except Exception as e:  # reported by the main thread
            self.error = e


def compare(prefix, what):
    for t, cols in (("customers", CUST_COLS), ("accounts", ACCT_COLS)):
        src, dst = f"{prefix}{t}", f"{prefix}{t}_copy"
        n_src = int(pg.value(f"SELECT count(*) FROM {src}"))
        missing = pg.sql(f"SELECT * FROM (SELECT * FROM {src} EXCEPT SELECT * FROM {dst}) x "
                         f"ORDER BY 1 LIMIT 5")
        extra = pg.sql(f"SELECT * FROM (SELECT * FROM {dst} EXCEPT SELECT * FROM {src}) x "
                       f"ORDER BY 1 LIMIT 5")
        n_dst = int(pg.value(f"SELECT count(*) FROM {dst}"))
        if missing or extra or n_src != n_dst:
            fail(f"{what}: {dst} differs from {src} ({n_src} vs {n_dst} rows)\n"
                 f"  in source only: {missing}\n  in target only: {extra}")
        check(n_src > 0, f"{what}: {src} is empty")
    return int(pg.value(f"SELECT count(*) FROM {prefix}customers"))


def stop_message(name):
    pg.sql(f"SELECT pg_logical_emit_message(true, 'sluice-stop-{name}', '')")


def sluice_run(job, *args, timeout=180):
    return subprocess.Popen([SLUICE, "run", job, *args], cwd=d, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_done(p, what, timeout=120):
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        fail(f"{what}: sluice did not finish in {timeout} s:\n{out[:3000]}\n...\n{out[-3000:]}")
    if p.returncode != 0:
        fail(f"{what}: sluice exited {p.returncode}:\n{out[-4000:]}")
    check(PASSWORD not in out, f"{what}: the password shows in sluice's output")
    return out


def newest_checkpoint(state):
    ids = [int(m.split("chk-")[1].split("/")[0])
           for m in glob.glob(f"{state}/chk-*/_manifest")]
    return max(ids, default=0)


def lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


# ---- 1. two tables, concurrent changes, no kill -----------------------------------------
make_tables("a_", 5000, 800)
write(f"{d}/a.yaml", job_text("cdca", "a_"))
p = sluice_run("a.yaml")
w = Writer("a_", 5000, 800, rounds=60, seed=rng.randrange(1 << 30))
w.start()
w.join(120)
check(not w.is_alive() and w.error is None, f"writer: {w.error}")
stop_message("cdca")
out = wait_done(p, "run 1")
check("initial snapshot read; streaming" in out,
      f"run 1: the snapshot log line is missing:\n{out[-3000:]}")
n = compare("a_", "run 1")
ok(f"two tables, {w.done * 40}+ statements while streaming: targets equal sources ({n} customers)")
slot = pg.sql("SELECT confirmed_flush_lsn, restart_lsn FROM pg_replication_slots "
              "WHERE slot_name = 'sluice_cdca_src'")
check(slot and slot[0][0], f"run 1: slot sluice_cdca_src: {slot}")

# ---- 2. SIGKILL at random moments, --restore latest ------------------------------------
make_tables("b_", 20000, 2000)
write(f"{d}/b.yaml", job_text("cdcb", "b_", interval="150ms"))
w = Writer("b_", 20000, 2000, rounds=400, seed=rng.randrange(1 << 30))
kills = 0
kills_in_snapshot = 0
kills_restored = 0
restarts = 0
started_writer = False
deadline = time.time() + 150
stop_sent = False
while True:
    args = ["--restore", "latest"] if restarts else []
    p = sluice_run("b.yaml", *args)
    restarts += 1
    base = newest_checkpoint(f"{d}/state-cdcb")
    if kills >= 10 and not stop_sent:
        # Enough kills: let the writer finish, then ask the job to end.
        w.join(120)
        check(not w.is_alive() and w.error is None, f"writer: {w.error}")
        stop_message("cdcb")
        stop_sent = True
    if stop_sent:
        out = wait_done(p, "run 2 (last)")
        break
    if kills < 2:
        time.sleep(rng.uniform(0.05, 0.4))  # likely inside the initial snapshot
    else:
        # Streaming: once a checkpoint of this run is complete, at a random
        # moment (a loaded machine slows everything; fixed delays would only
        # ever hit the snapshot).
        end = time.time() + 60
        while newest_checkpoint(f"{d}/state-cdcb") <= base and time.time() < end \
                and p.poll() is None:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.6))
    if not started_writer and kills >= 1:
        w.start()
        started_writer = True
    if p.poll() is not None:
        out, _ = p.communicate()
        fail(f"run 2: sluice ended before it was killed (rc {p.returncode}):\n{out[-3000:]}")
    p.send_signal(signal.SIGKILL)
    out, _ = p.communicate()
    kills += 1
    if "initial snapshot begins" in out and "initial snapshot read" not in out:
        kills_in_snapshot += 1
    if "msg=\"restoring\"" in out:
        kills_restored += 1
    if time.time() > deadline:
        fail("run 2: took too long")
check(kills >= 10, f"run 2: only {kills} kills")
check(kills_restored >= 3, f"run 2: only {kills_restored} of {kills} runs restored a checkpoint")
n = compare("b_", "run 2")
ok(f"{kills} SIGKILLs ({kills_in_snapshot} before the initial snapshot was read, "
   f"{kills_restored} after restoring a checkpoint) and --restore latest: targets equal sources ({n} customers)")
prepared = pg.value("SELECT count(*) FROM pg_prepared_xacts")
check(prepared == "0", f"run 2: {prepared} prepared transactions left")

# ---- 3. server restart while streaming ---------------------------------------------------
make_tables("c_", 3000, 300)
port = free_port()
write(f"{d}/c.yaml", job_text("cdcc", "c_", admin=f"{{listen: 127.0.0.1:{port}}}"))
p = sluice_run("c.yaml")
w = Writer("c_", 3000, 300, rounds=30, seed=rng.randrange(1 << 30))
w.start()
time.sleep(1.5)
metrics = ""
for _ in range(50):
    try:
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        if 'sluice_source_lag_bytes{job="cdcc"' in metrics:
            break
    except OSError:
        pass
    time.sleep(0.1)
check('sluice_source_lag_bytes{job="cdcc",worker="0",node="src"}' in metrics and
      'sluice_source_lag_seconds{job="cdcc",worker="0",node="src"}' in metrics,
      f"run 3: no source lag in /metrics:\n{metrics[-2000:]}")
log_from = len(pg.log())
pg.restart()
# The server's shutdown waits for the replication client's answer: it came
# at once even while the sink on the same worker was reconnecting (no
# "replication timeout" in the server log).
check("replication timeout" not in pg.log()[log_from:],
      f"run 3: the walsender timed out during the restart:\n{pg.log()[log_from:][-2000:]}")
w.join(120)
check(not w.is_alive(), "writer did not finish")
# The writer's scripts that hit the restart failed as a whole or in part:
# the comparison is against the table, whatever landed.
stop_message("cdcc")
out = wait_done(p, "run 3")
check("reconnected to PostgreSQL" in out or "replication connection lost" in out,
      f"run 3: no reconnect in the log:\n{out[-3000:]}")
n = compare("c_", "run 3")
ok(f"pg_ctl restart while streaming: reconnected, targets equal sources ({n} customers)")

# ---- 4. clear errors before start ---------------------------------------------------------


def validate_fails(text, want, what, env=ENV):
    write(f"{d}/v.yaml", text)
    r = subprocess.run([SLUICE, "validate", "v.yaml"], cwd=d, env=env, capture_output=True,
                       text=True, timeout=60)
    msg = r.stdout + r.stderr
    check(r.returncode != 0 and want in msg, f"{what}: expected an error with {want!r}, "
          f"got rc {r.returncode}:\n{msg}")
    check(PASSWORD not in msg, f"{what}: the password shows")
    check("v.yaml:" in msg, f"{what}: no FILE:LINE:COL in {msg!r}")


pg.sql("CREATE ROLE plain LOGIN PASSWORD 'plain-pw'", user="postgres", dbname="postgres")
pg.sql("GRANT SELECT ON a_customers TO plain")
base = job_text("cdcv", "a_")
validate_fails(base.replace('tables: [a_customers', 'create_slot: false\n    tables: [a_customers'),
               "replication slot sluice_cdcv_src does not exist and create_slot is false",
               "missing slot")
validate_fails(base.replace("user=sluice", "user=plain"),
               "lacks the REPLICATION attribute", "role without REPLICATION")
validate_fails(base.replace("a_customers,", "no_such_table,"),
               "no table no_such_table", "unknown table")
low = PgServer("cdc-replica", settings={"wal_level": "replica", "max_replication_slots": "0",
                                        "max_wal_senders": "2"})
validate_fails(base.replace(f"port={pg.port}", f"port={low.port}"),
               "wal_level is 'replica'", "wal_level replica")
low.stop()
ok("clear errors before start: missing slot, no REPLICATION, unknown table, wal_level")

# ---- 5. a value sluice cannot hold goes to the dead letters ---------------------------------
dl = read_jsonl_dir(f"{d}/dlq-cdca")
check(dl == [], f"run 1 had dead letters: {dl[:3]}")
pg.sql("CREATE TABLE e_customers " + CUSTOMERS + ";\nCREATE TABLE e_accounts " + ACCOUNTS +
       ";\nCREATE TABLE e_customers_copy " + CUSTOMERS + ";\nCREATE TABLE e_accounts_copy " +
       ACCOUNTS + ";\nINSERT INTO e_accounts VALUES (1, 'a', 1, '2020-01-01');")
write(f"{d}/e.yaml", job_text("cdce", "e_"))
p = sluice_run("e.yaml")
time.sleep(1.5)
pg.sql("INSERT INTO e_accounts VALUES (2, 'inf', 2, 'infinity');\n"
       "INSERT INTO e_accounts VALUES (3, 'fine', 3, '2021-01-01');")
stop_message("cdce")
out = wait_done(p, "run 5")
dl = read_jsonl_dir(f"{d}/dlq-cdce")
check(len(dl) == 1, f"run 5: expected one dead letter, got {dl}")
txt = str(dl[0])
check("slot sluice_cdce_src" in txt and "public.e_accounts" in txt and "commit" in txt,
      f"run 5: the dead letter does not say where it came from: {dl[0]}")
rows = pg.sql("SELECT acct_id FROM e_accounts_copy ORDER BY 1")
check(rows == [["1"], ["3"]], f"run 5: target rows {rows}")
ok("an infinite timestamp goes to the dead letters with slot, table and commit LSN; "
   "the job goes on")

# ---- 6. unchanged TOASTed values ----------------------------------------------------------
# An UPDATE that leaves a TOASTed column alone does not send it: with FULL the
# old image fills it in; with DEFAULT the change cannot be completed and goes to
# the dead letters saying why (never a silent null).
pg.sql("""
CREATE TABLE t_full (id int PRIMARY KEY, big text, n int);
CREATE TABLE t_def (id int PRIMARY KEY, big text, n int);
ALTER TABLE t_full REPLICA IDENTITY FULL;
ALTER TABLE t_full ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE t_def ALTER COLUMN big SET STORAGE EXTERNAL;
CREATE TABLE t_full_copy (id int PRIMARY KEY, big text, n int);
CREATE TABLE t_def_copy (id int PRIMARY KEY, big text, n int);
INSERT INTO t_full SELECT g, repeat(md5(g::text), 200), g FROM generate_series(1, 3) g;
INSERT INTO t_def SELECT g, repeat(md5(g::text), 200), g FROM generate_series(1, 3) g;
""")
write(f"{d}/t.yaml", f"""
job: cdct
admin: off
checkpoint: {{interval: 200ms, dir: ./state-cdct}}
sources:
  src: {{type: postgres-cdc, dsn: "{DSN}", password_env: SLUICE_PG_PASSWORD,
        tables: [t_full, t_def], stop_on_message: sluice-stop-cdct}}
steps:
  f: {{from: src, op: filter, where: "_table = 'public.t_full'"}}
  g: {{from: src, op: filter, where: "_table = 'public.t_def'"}}
sinks:
  a: {{from: f, type: postgres, dsn: "{DSN}", password_env: SLUICE_PG_PASSWORD,
       table: t_full_copy, key: [id], columns: {{id: id, big: big, n: n}}}}
  b: {{from: g, type: postgres, dsn: "{DSN}", password_env: SLUICE_PG_PASSWORD,
       table: t_def_copy, key: [id], columns: {{id: id, big: big, n: n}}}}
dead_letter: {{type: file, path: ./dlq-cdct}}
""")
p = sluice_run("t.yaml")
time.sleep(1.5)
pg.sql("UPDATE t_full SET n = n + 10 WHERE id = 2;\nUPDATE t_def SET n = n + 10 WHERE id = 2;\n"
       "UPDATE t_def SET n = n + 20, big = big || 'x' WHERE id = 3;")
stop_message("cdct")
wait_done(p, "run 6")
diff = pg.sql("SELECT * FROM t_full EXCEPT SELECT * FROM t_full_copy")
check(diff == [], f"run 6: t_full_copy differs: {[r[0] for r in diff]}")
rows = pg.sql("SELECT id, n, length(big) FROM t_def_copy ORDER BY id")
check(rows == [["1", "1", "6400"], ["2", "2", "6400"], ["3", "23", "6401"]],
      f"run 6: t_def_copy {rows}")
dl = read_jsonl_dir(f"{d}/dlq-cdct")
check(len(dl) == 1 and "unchanged TOASTed value" in str(dl[0]) and "t_def" in str(dl[0]),
      f"run 6: dead letters {dl}")
ok("unchanged TOASTed values: filled from the old row with FULL; with DEFAULT the update "
   "goes to the dead letters saying so")
