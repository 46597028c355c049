#!/usr/bin/env python3
"""Regenerates the pgoutput fixtures of tests/unit/test_pgoutput.c from a real server.

    python3 tests/unit/pgoutput/capture.py [OUT_DIR]     (default: this directory)

Starts a throw-away server (tests/integration/pg_common.py), makes the changes in
CHANGES below on two tables (REPLICA IDENTITY DEFAULT and FULL) of every mapped
type, and reads the slot twice over the streaming replication protocol with a
minimal client (the frontend/backend wire protocol by hand; no libpq, no
psycopg): once with the walsender's TimeZone UTC, once Asia/Kolkata. Each
CopyData payload ('w' XLogData with the pgoutput message inside, 'k'
keepalive) is one line of hex in stream-<tz>.hex; the fuzz seeds
(tests/fuzz/seeds/pgoutput/) are the same frames as binary files.
The unit test asserts the decoded rows against the values written here, so a
change to CHANGES needs the same change in test_pgoutput.c.
"""
import os
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration"))
from pg_common import PgServer  # noqa: E402
from common import fail  # noqa: E402

# The big TOASTed value: 20000 letters from a 64-bit LCG (test_pgoutput.c has
# the same generator), incompressible enough to be stored out of line.
BIG_LEN = 20000


def big_value():
    s, out = 42, []
    for _ in range(BIG_LEN):
        s = (s * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        out.append(chr(ord("a") + (s >> 33) % 26))
    return "".join(out)


COLS = """
    id int4 PRIMARY KEY,
    c_i2 int2, c_i8 int8, c_num numeric(12,3), c_numu numeric, c_numbig numeric(30,5),
    c_f4 float4, c_f8 float8, c_text text, c_vc varchar(20), c_bpc char(5), c_name name,
    c_bool bool, c_date date, c_ts timestamp(3), c_ts6 timestamp, c_tstz timestamptz,
    c_json json, c_jsonb jsonb, c_uuid uuid, c_bytea bytea, c_mood mood, c_arr int4[],
    c_big text, c_gen int4 GENERATED ALWAYS AS (id * 2) STORED
"""
ALL = ("id, c_i2, c_i8, c_num, c_numu, c_numbig, c_f4, c_f8, c_text, c_vc, c_bpc, c_name, "
       "c_bool, c_date, c_ts, c_ts6, c_tstz, c_json, c_jsonb, c_uuid, c_bytea, c_mood, c_arr, "
       "c_big")
ROW1 = ("1, 12, 9000000000, 12345.678, 3.14159265358979323846, "
        "1234567890123456789012345.12345, 1.5, 0.1, 'hello', 'varchar', 'ab', 'pg_name', true, "
        "'2024-01-31', '2024-01-31 12:34:56.789', '2024-01-31 12:34:56.789123', "
        "'2024-01-31 12:34:56.789+00', '{\"a\": [1, 2]}', '{\"b\": {\"c\": null}, \"a\": 1}', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\\x00ff10', 'happy', '{1,2,3}', 'small'")
ROW3 = ("3, -32768, -9223372036854775808, -999999999.999, 'NaN', -0.00001, 'Infinity', "
        "'-Infinity', E'tab\\there\\nnewline ''quote'' \"dq\" \\\\ \u00e4\u20ac\U0001F600', "
        "'', 'abcde', '', false, '0044-03-15 BC', '1900-01-01 00:00:00', "
        "'1969-12-31 23:59:59.999999', '1900-01-01 00:00:00+00', '[]', '[]', "
        "'00000000-0000-0000-0000-000000000000', '\\x', 'sad', '{}', ''")
ROW4 = ("4, 32767, 9223372036854775807, 0, 0.00000000000000000001, 0, 3.4028235e38, "
        "-1.7976931348623157e308, 'four', 'x', 'a', 'n', true, '294276-12-31', "
        "'294276-12-31 23:59:59.999', '2000-02-29 00:00:00', '2000-06-15 12:00:00.5+05:30', "
        "'null', 'null', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\\xdeadbeef', 'ok', "
        "'{NULL,-1}', 'four'")
ROW7 = ("7, NULL, NULL, NULL, 'Infinity', NULL, 'NaN', 'NaN', NULL, NULL, NULL, NULL, NULL, "
        "'-infinity', 'infinity', NULL, 'infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL")

# (user, sql): each item is one psql run; every statement its own transaction
# unless BEGIN says otherwise.
CHANGES = [
    ("sluice", "SELECT pg_logical_emit_message(false, 'sluice-capture', 'nontx')"),
    ("sluice", f"INSERT INTO t_all ({ALL}) VALUES ({ROW1})"),
    ("sluice", "INSERT INTO t_all (id) VALUES (2)"),
    ("sluice", f"INSERT INTO t_all ({ALL}) VALUES ({ROW3})"),
    ("sluice", "INSERT INTO t_other VALUES (1)"),
    ("sluice", f"""BEGIN;
        INSERT INTO t_all ({ALL}) VALUES ({ROW4});
        INSERT INTO t_all (id, c_text) VALUES (5, 'five');
        UPDATE t_all SET c_text = 'hello, world' WHERE id = 1;
        UPDATE t_all SET id = 50 WHERE id = 5;
        DELETE FROM t_all WHERE id = 4;
        COMMIT"""),
    ("sluice", f"""BEGIN;
        INSERT INTO t_all (id, c_big) VALUES (6, '{big_value()}');
        COMMIT;
        UPDATE t_all SET c_i2 = 7 WHERE id = 6"""),
    ("sluice", f"""BEGIN;
        INSERT INTO t_full ({ALL}) VALUES ({ROW1.replace("'small'", "'" + big_value() + "'")});
        UPDATE t_full SET c_f8 = 2.5 WHERE id = 1;
        DELETE FROM t_full WHERE id = 1;
        COMMIT"""),
    ("sluice", f"INSERT INTO t_all ({ALL}) VALUES ({ROW7})"),
    ("sluice", "TRUNCATE t_all, t_full RESTART IDENTITY CASCADE"),
    ("postgres", """SELECT pg_replication_origin_session_setup('sluice-origin');
        BEGIN;
        SELECT pg_replication_origin_xact_setup('0/12345678', '2024-02-01 00:00:00+00');
        INSERT INTO t_full (id, c_text) VALUES (100, 'from origin');
        COMMIT"""),
    ("sluice", """ALTER TABLE t_all DROP COLUMN c_arr, ADD COLUMN c_added int4 DEFAULT 42;
        INSERT INTO t_all (id) VALUES (8)"""),
    ("sluice", "SELECT pg_logical_emit_message(true, 'sluice-capture', 'end')"),
]


class Wire:
    """The frontend side of the PostgreSQL protocol, just enough for replication."""

    def __init__(self, path, params):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.buf = b""
        body = struct.pack("!i", 196608) + b"".join(
            k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
        self.s.sendall(struct.pack("!i", len(body) + 4) + body)
        while True:
            t, m = self.read()
            if t == b"R" and struct.unpack("!i", m[:4])[0] != 0:
                fail("capture: the server asks for a password on the Unix socket")
            if t == b"Z":
                return

    def read(self):
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack("!i", self.buf[1:5])[0]
                if len(self.buf) >= 1 + n:
                    t, m = self.buf[:1], self.buf[5:1 + n]
                    self.buf = self.buf[1 + n:]
                    if t == b"E":
                        fail(f"capture: server error: {m!r}")
                    return t, m
            chunk = self.s.recv(1 << 16)
            if not chunk:
                fail("capture: the server closed the connection")
            self.buf += chunk

    def send(self, t, payload):
        self.s.sendall(t + struct.pack("!i", len(payload) + 4) + payload)

    def close(self):
        self.send(b"X", b"")
        self.s.close()


def capture(pg, slot, tz):
    """Every CopyData payload of the slot's stream up to the commit of the 'end'
    message and a keepalive that asks for a reply."""
    w = Wire(os.path.join(pg.sockdir, f".s.PGSQL.{pg.port}"),
             {"user": "sluice", "database": "sluice", "replication": "database",
              "application_name": "sluice-capture", "options": f"-c TimeZone={tz}"})
    w.send(b"Q", f"START_REPLICATION SLOT {slot} LOGICAL 0/0 (proto_version '1', "
                 f"publication_names 'pub', messages 'true')".encode() + b"\0")
    t, _ = w.read()
    if t != b"W":
        fail(f"capture: START_REPLICATION answered {t!r}, want CopyBothResponse")
    frames, seen_end, seen_end_commit = [], False, False
    deadline = time.time() + 30
    while time.time() < deadline:
        t, m = w.read()
        if t != b"d":
            fail(f"capture: unexpected message {t!r} in the copy stream")
        frames.append(m)
        if m[:1] == b"w":
            inner = m[25:]
            if inner[:1] == b"M" and b"sluice-capture\0" in inner and inner.endswith(b"end"):
                seen_end = True
            elif inner[:1] == b"C" and seen_end:
                seen_end_commit = True
        elif m[:1] == b"k" and m[-1] == 1:
            # Answer as a client that flushed nothing (0/0 does not move the slot).
            now = int(time.time() * 1e6) - 946684800000000
            w.send(b"d", b"r" + struct.pack("!QQQqB", 0, 0, 0, now, 0))
            if seen_end_commit:
                break
    else:
        fail("capture: no end marker and keepalive within 30 s")
    w.close()
    return frames


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else HERE
    seeds = os.path.join(HERE, "..", "..", "fuzz", "seeds", "pgoutput")
    pg = PgServer("capture", settings={"wal_sender_timeout": "'2s'"})
    pg.sql("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')")
    pg.sql(f"CREATE TABLE t_all ({COLS})")
    pg.sql(f"CREATE TABLE t_full ({COLS}); ALTER TABLE t_full REPLICA IDENTITY FULL")
    pg.sql("CREATE TABLE t_other (id int PRIMARY KEY)")
    pg.sql("CREATE PUBLICATION pub FOR TABLE t_all, t_full")
    pg.sql("SELECT pg_replication_origin_create('sluice-origin')", user="postgres")
    pg.sql("SELECT 1 FROM pg_create_logical_replication_slot('cap', 'pgoutput')")
    oids = pg.sql("SELECT relname, oid FROM pg_class WHERE relname IN ('t_all', 't_full') "
                  "ORDER BY relname")
    mood = pg.value("SELECT oid FROM pg_type WHERE typname = 'mood'")
    version = pg.value("SHOW server_version")
    for user, q in CHANGES:
        pg.sql(q, user=user)
    os.makedirs(seeds, exist_ok=True)
    for old in os.listdir(seeds):
        if old.startswith("stream-"):
            os.unlink(os.path.join(seeds, old))
    seen = set()
    for tz in ("UTC", "Asia/Kolkata"):
        frames = capture(pg, "cap", tz)
        name = "stream-" + tz.split("/")[-1].lower()
        with open(os.path.join(out, name + ".hex"), "w") as f:
            f.write(f"# pgoutput proto_version 1 from PostgreSQL {version}, walsender TimeZone "
                    f"{tz}, by capture.py\n")
            f.write(f"# oids: {' '.join(f'{r}={o}' for r, o in oids)} mood={mood}\n")
            f.write("# one CopyData payload per line, in hex\n")
            for m in frames:
                f.write(m.hex() + "\n")
        # Seeds: the frames up to 4 KiB (the big TOASTed ones only slow the
        # fuzzer down), each distinct payload once.
        for i, m in enumerate(frames):
            if len(m) <= 4096 and m[25:] not in seen:
                seen.add(m[25:])
                with open(os.path.join(seeds, f"{name}-{i:03d}"), "wb") as f:
                    f.write(m)
        print(f"{name}.hex: {len(frames)} frames")


if __name__ == "__main__":
    main()
