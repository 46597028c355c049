"""upsert and route end to end through `sluice run`.

(1) a file of changes (out-of-order versions, duplicates, deletes, no-op
    re-sends) for thousands of keys: the replayed output changelog is
    consistent (-U/-D retract exactly the live image, no no-op pairs) and
    ends at the latest image per key computed in closed form; the changelog
    per key and the counters equal a Python model of the rules; a small
    hand-made case gives exactly the expected changelog;
(2) generator -> upsert by customer_id: the replayed changelog equals the
    latest image per key decoded from `sluice gen`, and per key the output
    equals the generator's own changelog, on 1 and 2 workers; the same
    events from a debezium-json file give the same latest images;
(3) route with overlapping conditions (NULLs, an evaluation error): each row
    lands in exactly the outputs whose conditions hold, default takes the
    rest, the failing rows only in the dead letters, on 1 and 2 workers;
(4) changes_1h equals a Python count of each key's changes in the horizon
    (exact, and saturating at max_count), on 1 and 2 workers;
(5) bad options are refused with FILE:LINE:COL messages."""
import datetime
import json
import os
import random
import re

from common import check, ok, read_jsonl_dir, run, tmpdir, write

d = tmpdir("upsert-route")
T0 = 1767225600000  # 2026-01-01T00:00:00Z
MIN = 60 * 1000


def upsert_counts(stderr):
    """Sums the counters of every worker's 'upsert done' line, per node."""
    tot = {}
    for line in stderr.splitlines():
        if 'msg="upsert done"' not in line:
            continue
        node = re.search(r"node=(\S+)", line).group(1)
        c = tot.setdefault(node, {})
        for k, v in re.findall(r"(\w+)=(\d+)", line):
            if k in ("worker",):
                continue
            c[k] = c.get(k, 0) + int(v)
    return tot


def replay(rows, key_of, image_of, what):
    """Applies a changelog, checking it is consistent; returns key -> image."""
    state, before = {}, {}
    for r in rows:
        k, img, kind = key_of(r), image_of(r), r["_kind"]
        if kind == "+I":
            check(k not in state, f"{what}: +I for live key {k}: {r}")
            state[k] = img
        elif kind == "-U":
            check(state.get(k) == img, f"{what}: -U {r} does not retract {state.get(k)}")
            before[k] = state.pop(k)
        elif kind == "+U":
            check(k in before, f"{what}: +U without -U: {r}")
            check(before.pop(k) != img, f"{what}: no-op update emitted: {r}")
            state[k] = img
        elif kind == "-D":
            check(state.get(k) == img, f"{what}: -D {r} does not retract {state.get(k)}")
            del state[k]
        else:
            check(False, f"{what}: kind {kind}")
    check(not before, f"{what}: -U without +U: {list(before)[:3]}")
    return state


def per_key(rows, key_of):
    out = {}
    for r in rows:
        out.setdefault(key_of(r), []).append(r)
    return out


# ---------------------------------------------------------------------------
# (1a) the small hand-made case: the exact changelog.
FIELDS = "{id: BIGINT, eid: STRING, ver: BIGINT, ts: BIGINT, op: STRING, name: STRING}"
small = [
    (1, "a", 1, T0, "c", "x"),
    (2, "b", 1, T0, "c", "y"),
    (1, "c", 2, T0 + 1 * MIN, "u", "x2"),
    (1, "c", 2, T0 + 1 * MIN, "u", "x2"),    # duplicate event id: dropped
    (1, "d", 1, T0 + 2 * MIN, "u", "old"),   # version 1 < 2: stale
    (1, "e", 2, T0 + 1 * MIN, "u", "x2"),    # same row but for eid (ignored): no-op
    (2, "f", 2, T0 + 3 * MIN, "d", "y"),     # delete
    (2, "g", 3, T0 + 4 * MIN, "u", "z"),     # re-insert after the delete
    (3, "h", 1, T0 + 4 * MIN, "d", "q"),     # delete of an absent key
    (3, "h0", 0, T0 + 4 * MIN, "c", "q0"),   # older than that delete: stale
    (3, "h1", 1, T0 + 4 * MIN, "u", "q1"),   # the deleted version itself: stale (tie)
    (1, "c", 5, T0 + 11 * MIN, "u", "x5"),   # eid c again, 10 min later: not a duplicate
    (1, "i", 6, T0 + 12 * MIN, "u", "x6"),   # 4th change within 1h: saturates at 3
    (1, "j", 7, T0 + 120 * MIN, "u", "x7"),  # alone in its hour again
    (2, "k", 3, T0 + 4 * MIN, "u", "z"),     # no-op again
    (2, None, None, T0 + 5 * MIN, "u", "n"),  # NULL version: dead letter
]


def small_row(t):
    return dict(zip(["id", "eid", "ver", "ts", "op", "name"], t))


src = write(os.path.join(d, "small.ndjson"),
            "".join(json.dumps(small_row(t)) + "\n" for t in small))
job = write(os.path.join(d, "small.yaml"), f"""
sources:
  in: {{type: file, path: {src}, fields: {FIELDS}}}
steps:
  u:
    from: in
    op: upsert
    key: [id]
    version: ver
    time: ts
    delete_when: "op = 'd'"
    ignore: [eid]
    dedup: {{id: eid, horizon: 10m}}
    frequency: {{column: changes_1h, horizon: 1h, max_count: 3}}
sinks:
  out: {{from: u, type: file, path: {d}/small-out}}
dead_letter: {{type: file, path: {d}/small-dead}}
""")
p = run(["run", job, "--workers", "1"])
got = [(r["_kind"], r["id"], r["eid"], r["ver"], r["ts"], r["op"], r["name"], r["changes_1h"])
       for r in read_jsonl_dir(os.path.join(d, "small-out"))]
S = small
want = [
    ("+I",) + S[0] + (1,),
    ("+I",) + S[1] + (1,),
    ("-U",) + S[0] + (1,), ("+U",) + S[2] + (2,),
    ("-D",) + S[1] + (1,),
    ("+I",) + S[7] + (3,),          # insert, delete, insert within the hour
    ("-U",) + S[2] + (2,), ("+U",) + S[11] + (3,),
    ("-U",) + S[11] + (3,), ("+U",) + S[12] + (3,),
    ("-U",) + S[12] + (3,), ("+U",) + S[13] + (1,),
]
check(got == want, "small case:\n got  " + "\n      ".join(map(str, got)) +
      "\n want " + "\n      ".join(map(str, want)))
dead = read_jsonl_dir(os.path.join(d, "small-dead"))
check(len(dead) == 1 and dead[0]["position"] == "version" and json.loads(dead[0]["raw"])["name"] == "n",
      f"small case dead letters: {dead}")
c = upsert_counts(p.stderr)["u"]
check((c["stale"], c["duplicates"], c["noops"], c["absent_deletes"]) == (3, 1, 2, 1),
      f"small case counters {c}")
ok("hand-made case: exact changelog (dedup, stale, no-op, delete, re-insert, "
   "changes_1h saturating), NULL version to the dead letters")

# ---------------------------------------------------------------------------
# (1b) thousands of keys with every kind of disorder.
rng = random.Random(7)
N_KEYS = 3000
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "O'Brien \"Bob\"", "", None]
streams = {}
eid_n = 0


def new_eid():
    global eid_n
    eid_n += 1
    return f"e{eid_n}"


for k in range(1, N_KEYS + 1):
    m = rng.randint(1, 12)
    truth, alive = [], False
    for v in range(1, m + 1):
        op = "c" if not alive else ("d" if rng.random() < 0.15 else "u")
        alive = op != "d"
        truth.append({"id": k, "eid": new_eid(), "ver": v, "ts": T0 + v * 5 * MIN + k,
                      "op": op, "name": rng.choice(NAMES),
                      "score": rng.choice([None, 0.1, 0.25, 1e-7, 3.5, -0.0, 12345.678])})
    arr = list(truth)
    for i in range(len(arr) - 1):   # out of order: adjacent swaps
        if rng.random() < 0.2:
            arr[i], arr[i + 1] = arr[i + 1], arr[i]
    out = []
    for e in arr:
        out.append(e)
        x = rng.random()
        if x < 0.12:
            out.append(dict(e))                      # duplicate (same event id)
        elif x < 0.22:
            out.append(dict(e, eid=new_eid()))       # re-send: a no-op if current
    for i in range(len(out) - 1):   # some duplicates arrive late
        if out[i + 1]["eid"] == out[i]["eid"] and rng.random() < 0.3 and i + 2 < len(out):
            out[i + 1], out[i + 2] = out[i + 2], out[i + 1]
    streams[k] = out
# Interleave the keys, keeping each key's order.
lines, pos = [], {k: 0 for k in streams}
live_keys = list(streams)
while live_keys:
    i = rng.randrange(len(live_keys))
    k = live_keys[i]
    lines.append(json.dumps(streams[k][pos[k]], ensure_ascii=False))
    pos[k] += 1
    if pos[k] == len(streams[k]):
        live_keys[i] = live_keys[-1]
        live_keys.pop()
big = write(os.path.join(d, "changes.ndjson"), "\n".join(lines) + "\n")
COLS = ["id", "eid", "ver", "ts", "op", "name", "score"]

# Closed form: among the arrivals (duplicates aside) with the highest
# version, a delete means the key is gone (deletes win ties), else the last
# one decides. Compared without eid: a no-op re-send keeps the stored row's
# event id.
expect_final = {}
for k, arr in streams.items():
    seen, cand = set(), []
    for e in arr:
        if e["eid"] in seen:
            continue
        seen.add(e["eid"])
        cand.append(e)
    top = max(e["ver"] for e in cand)
    tops = [e for e in cand if e["ver"] == top]
    last = tops[-1]
    if all(e["op"] != "d" for e in tops):
        expect_final[k] = tuple(last[c] for c in COLS if c != "eid")


def model(arr, horizon_ms):
    """The rules, row by row: (changelog rows, counters) for one key."""
    img, ver, seen, out = None, None, {}, []
    n = {"stale": 0, "duplicates": 0, "noops": 0, "absent_deletes": 0}
    for e in arr:
        t = e["ts"]
        if e["eid"] in seen and abs(t - seen[e["eid"]]) < horizon_ms:
            n["duplicates"] += 1
            continue
        seen[e["eid"]] = t
        tie_lost = e["op"] != "d" and img is None  # after a delete of this version
        if ver is not None and (e["ver"] < ver or (tie_lost and e["ver"] == ver)):
            n["stale"] += 1
            continue
        ver = e["ver"]
        row = tuple(e[c] for c in COLS)
        if e["op"] == "d":
            if img is None:
                n["absent_deletes"] += 1
            else:
                out.append(("-D",) + img)
                img = None
        elif img is not None and img[:1] + img[2:] == row[:1] + row[2:]:
            n["noops"] += 1
        else:
            if img is not None:
                out.append(("-U",) + img)
            out.append(("+U" if img is not None else "+I",) + row)
            img = row
    return out, n


want_rows, want_n = {}, {"stale": 0, "duplicates": 0, "noops": 0, "absent_deletes": 0}
for k, arr in streams.items():
    rows, n = model(arr, 10 * MIN)
    want_rows[k] = rows
    for x in n:
        want_n[x] += n[x]
check(all(want_n[x] > 100 for x in want_n), f"the data lacks disorder: {want_n}")

job = write(os.path.join(d, "big.yaml"), f"""
sources:
  in: {{type: file, path: {big},
        fields: {{id: BIGINT, eid: STRING, ver: BIGINT, ts: BIGINT, op: STRING, name: STRING,
                 score: DOUBLE}}}}
steps:
  u: {{from: in, op: upsert, key: [id], version: ver, time: ts, delete_when: "op = 'd'",
       ignore: [eid], dedup: {{id: eid, horizon: 10m}}}}
sinks:
  out: {{from: u, type: file, path: OUT}}
""")
for workers in (1, 2):
    out = os.path.join(d, f"big-out{workers}")
    p = run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}"])
    rows = read_jsonl_dir(out)
    state = replay(rows, lambda r: r["id"], lambda r: tuple(r[c] for c in COLS if c != "eid"),
                   f"file, {workers} worker(s)")
    check(state == expect_final,
          f"{workers} worker(s): final images differ from the closed form "
          f"({len(state)} vs {len(expect_final)} keys; first differing: "
          f"{next((k for k in set(state) | set(expect_final) if state.get(k) != expect_final.get(k)), None)})")
    got_rows = {k: [(r["_kind"],) + tuple(r[c] for c in COLS) for r in v]
                for k, v in per_key(rows, lambda r: r["id"]).items()}
    for k in want_rows:
        check(got_rows.get(k, []) == want_rows[k],
              f"{workers} worker(s): key {k}:\n got  {got_rows.get(k)}\n want {want_rows[k]}\n"
              f" input {streams[k]}")
    c = upsert_counts(p.stderr)["u"]
    check(all(c[x] == want_n[x] for x in want_n), f"counters {c} want {want_n}")
    ok(f"file of {len(lines)} changes for {N_KEYS} keys, {workers} worker(s): consistent "
       f"changelog of {len(rows)} rows ending at the latest images; per-key changelog and "
       f"counters {want_n} as modelled")

# ---------------------------------------------------------------------------
# (2) generator -> upsert: the latest image per key, as `sluice gen` says.
gen = run(["gen", "customer-cdc", "--records", "200000", "--keys", "5000", "--seed", "1",
           "--bad-ratio", "0.1"]).stdout.splitlines()


def ts(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


GCOLS = ["customer_id", "name", "address", "phone", "id_number", "updated_time"]


def gimg(img):
    return tuple(ts(img[c]) if c == "updated_time" and img[c] is not None else img[c]
                 for c in GCOLS)


events = [json.loads(line) for line in gen]
latest, gen_changelog = {}, {}
for ev in events:
    op = ev["op"]
    k = (ev["after"] or ev["before"])["customer_id"]
    ch = gen_changelog.setdefault(k, [])
    if op in ("c", "r"):
        latest[k] = gimg(ev["after"])
        ch.append(("+I",) + gimg(ev["after"]))
    elif op == "u":
        latest[k] = gimg(ev["after"])
        ch += [("-U",) + gimg(ev["before"]), ("+U",) + gimg(ev["after"])]
    else:
        latest.pop(k, None)
        ch.append(("-D",) + gimg(ev["before"]))

job = write(os.path.join(d, "gen.yaml"), """
sources:
  gen: {type: generator, records: 200000, keys: 5000, seed: 1, bad_ratio: 0.1}
steps:
  latest: {from: gen, op: upsert, key: [customer_id]}
sinks:
  out: {from: latest, type: file, path: OUT}
""")
for workers in (1, 2):
    out = os.path.join(d, f"gen-out{workers}")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}"])
    rows = read_jsonl_dir(out)
    state = replay(rows, lambda r: r["customer_id"], lambda r: tuple(r[c] for c in GCOLS),
                   f"generator, {workers} worker(s)")
    check(state == latest, f"{workers} worker(s): latest images differ "
          f"({len(state)} vs {len(latest)} keys)")
    got = {k: [(r["_kind"],) + tuple(r[c] for c in GCOLS) for r in v]
           for k, v in per_key(rows, lambda r: r["customer_id"]).items()}
    check(got == gen_changelog, f"{workers} worker(s): per-key changelog differs from gen's")
    ok(f"generator (200000 events, 5000 keys, bad_ratio 0.1), {workers} worker(s): replayed "
       f"changelog = latest image of {len(latest)} keys; per key = gen's changelog")

# The same events read back from a Debezium JSON file (the file source's
# changelog format). The file is bigger than a split, so both workers read
# part of it and a key's events reach upsert from two sources in any
# interleaving: the version (updated_time) restores the order.
dbz = write(os.path.join(d, "gen.debezium.ndjson"), "\n".join(gen) + "\n")
job = write(os.path.join(d, "dbz.yaml"), f"""
sources:
  in: {{type: file, path: {dbz}, format: debezium-json,
        schema: "customer_id BIGINT NOT NULL, name STRING, address STRING, phone STRING,
                 id_number STRING, updated_time BIGINT"}}
steps:
  latest: {{from: in, op: upsert, key: [customer_id], version: updated_time}}
sinks:
  out: {{from: latest, type: file, path: {d}/dbz-out}}
""")
run(["run", job, "--workers", "2"])
rows = read_jsonl_dir(os.path.join(d, "dbz-out"))
state = replay(rows, lambda r: r["customer_id"],
               lambda r: tuple(ts(r[c]) if c == "updated_time" else r[c] for c in GCOLS),
               "debezium file")
check(state == latest, f"debezium file: latest images differ ({len(state)} vs {len(latest)} keys)")
check(os.path.getsize(dbz) > 2 * 16 * 1024 * 1024, "the debezium file fits one split")
os.remove(dbz)
ok(f"the same events as a debezium-json file read by 2 workers out of order: version "
   f"ordering ends at the latest image of {len(latest)} keys")

# ---------------------------------------------------------------------------
# (4) changes_1h: each key's changes in (t - horizon, t], event time.
H = 10 * MIN
freq_want = {8: {}, 255: {}}
for cap in freq_want:
    times, last = {}, {}
    for ev in events:
        k = (ev["after"] or ev["before"])["customer_id"]
        t = ev["source"]["ts_ms"]
        tl = times.setdefault(k, [])
        tl.append(t)
        n = min(cap, sum(1 for x in tl if t - H < x <= t))
        rows = freq_want[cap].setdefault(k, [])
        if ev["op"] in ("c", "r"):
            rows.append(("+I", n))
        elif ev["op"] == "u":
            rows += [("-U", last[k]), ("+U", n)]
        else:
            rows.append(("-D", last[k]))
        last[k] = n
top = max(n for v in freq_want[255].values() for _, n in v)
check(top > 8, f"max changes_1h {top}: saturation at 8 is not exercised")
job = write(os.path.join(d, "freq.yaml"), """
sources:
  gen: {type: generator, records: 200000, keys: 5000, seed: 1, bad_ratio: 0.1}
steps:
  exact: {from: gen, op: upsert, key: [customer_id], version: updated_time,
          frequency: {column: changes_10m, horizon: 10m, max_count: 255}}
  capped: {from: gen, op: upsert, key: [customer_id],
           frequency: {column: changes_10m, horizon: 10m, max_count: 8}}
sinks:
  exact_out: {from: exact, type: file, path: OUT/exact}
  capped_out: {from: capped, type: file, path: OUT/capped}
""")
for workers in (1, 2):
    out = os.path.join(d, f"freq-out{workers}")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.exact_out.path={out}/exact",
         "--set", f"sinks.capped_out.path={out}/capped"])
    for name, cap in (("exact", 255), ("capped", 8)):
        rows = read_jsonl_dir(os.path.join(out, name))
        got = {k: [(r["_kind"], r["changes_10m"]) for r in v]
               for k, v in per_key(rows, lambda r: r["customer_id"]).items()}
        bad = [k for k in freq_want[cap] if got.get(k) != freq_want[cap][k]]
        check(not bad, f"{workers} worker(s), {name}: key {bad[:1]}: got "
              f"{got.get(bad[0]) if bad else None}\n want {freq_want[cap][bad[0]] if bad else None}")
    ok(f"changes_10m, {workers} worker(s): exact (max {top}) and saturating at 8, "
       f"-U/-D carrying the retracted row's value")

# ---------------------------------------------------------------------------
# (3) route: overlapping conditions, NULLs and an evaluation error.
rrows = []
for i in range(1, 20001):
    rrows.append({"id": i,
                  "quality": None if i % 17 == 0 else (i * 7919 % 1000) / 1000,
                  "address_valid": None if i % 23 == 0 else i % 5 != 0,
                  "changes": i % 13,
                  "div": i % 101})
src = write(os.path.join(d, "route.ndjson"), "".join(json.dumps(r) + "\n" for r in rrows))
conds = {
    "cleaning": lambda r: r["quality"] is not None and r["quality"] < 0.6,
    "address_fix": lambda r: r["address_valid"] is False,
    "anomaly": lambda r: r["changes"] > 10,
    "high_priority": lambda r: r["quality"] is not None and r["quality"] >= 0.9 and r["id"] < 1000,
    "ratio": lambda r: 100 // r["div"] > 5,
}
job = write(os.path.join(d, "route.yaml"), f"""
sources:
  in: {{type: file, path: {src},
        fields: {{id: BIGINT, quality: DOUBLE, address_valid: BOOLEAN, changes: INT, div: INT}}}}
steps:
  spread: {{from: in, op: key_by, key: [id]}}
  routed:
    from: spread
    op: route
    outputs:
      cleaning: "quality < 0.6"
      address_fix: "address_valid = FALSE"
      anomaly: "changes > 10"
      high_priority: "quality >= 0.9 AND id < 1000"
      ratio: "100 / div > 5"
sinks:
  cleaning: {{from: routed.cleaning, type: file, path: OUT/cleaning}}
  address_fix: {{from: routed.address_fix, type: file, path: OUT/address_fix}}
  anomaly: {{from: routed.anomaly, type: file, path: OUT/anomaly}}
  high_priority: {{from: routed.high_priority, type: file, path: OUT/high_priority}}
  ratio: {{from: routed.ratio, type: file, path: OUT/ratio}}
  standard: {{from: routed.default, type: file, path: OUT/standard}}
dead_letter: {{type: file, path: OUT/dead}}
""")
bad_ids = {r["id"] for r in rrows if r["div"] == 0}
want = {name: sorted(r["id"] for r in rrows if r["id"] not in bad_ids and f(r))
        for name, f in conds.items()}
want["standard"] = sorted(r["id"] for r in rrows
                          if r["id"] not in bad_ids and not any(f(r) for f in conds.values()))
check(all(len(v) > 50 for v in want.values()), {k: len(v) for k, v in want.items()})
multi = sum(1 for r in rrows if r["id"] not in bad_ids and sum(f(r) for f in conds.values()) > 1)
for workers in (1, 2):
    out = os.path.join(d, f"route-out{workers}")
    sets = []
    for name in want:
        sets += ["--set", f"sinks.{name}.path={out}/{name}"]
    run(["run", job, "--workers", str(workers), "--set", f"dead_letter.path={out}/dead"] + sets)
    for name in want:
        rows = read_jsonl_dir(os.path.join(out, name))
        got = sorted(r["id"] for r in rows)
        check(got == want[name], f"{workers} worker(s): output {name}: {len(got)} rows, "
              f"want {len(want[name])}; e.g. {sorted(set(got) ^ set(want[name]))[:5]}")
        check(all(r == dict(rrows[r["id"] - 1], _kind="+I") for r in rows),
              f"{workers} worker(s): output {name}: rows changed")
    dead = read_jsonl_dir(os.path.join(out, "dead"))
    check(sorted(json.loads(r["raw"])["id"] for r in dead) == sorted(bad_ids),
          f"{workers} worker(s): dead letters {len(dead)}, want {len(bad_ids)}")
    check(all(r["position"] == "outputs.ratio" and "division by zero" in r["reason"]
              for r in dead), f"dead letter {dead[0]}")
    ok(f"route, {workers} worker(s): 20000 rows into 5 overlapping outputs ({multi} rows in "
       f"several) + default, {len(bad_ids)} failing rows only in the dead letters")

# Route over a changelog: the generator's rows (every kind) by the same rules.
job = write(os.path.join(d, "route-gen.yaml"), """
sources:
  gen: {type: generator, records: 50000, keys: 2000, seed: 3, bad_ratio: 0.2}
steps:
  r:
    from: gen
    op: route
    outputs:
      by3: "customer_id % 3 = 0"
      bad_phone: "phone IS NULL OR char_length(phone) <> 11"
      wang: "name LIKE '王%'"
sinks:
  by3: {from: r.by3, type: file, path: OUT/by3}
  bad_phone: {from: r.bad_phone, type: file, path: OUT/bad_phone}
  wang: {from: r.wang, type: file, path: OUT/wang}
  rest: {from: r.default, type: file, path: OUT/rest}
""")
gen = run(["gen", "customer-cdc", "--records", "50000", "--keys", "2000", "--seed", "3",
           "--bad-ratio", "0.2"]).stdout.splitlines()
grows = []
for line in gen:
    ev = json.loads(line)
    if ev["op"] in ("c", "r"):
        grows.append(("+I", ev["after"]))
    elif ev["op"] == "u":
        grows += [("-U", ev["before"]), ("+U", ev["after"])]
    else:
        grows.append(("-D", ev["before"]))
gconds = {
    "by3": lambda i: i["customer_id"] % 3 == 0,
    "bad_phone": lambda i: i["phone"] is None or len(i["phone"]) != 11,
    "wang": lambda i: i["name"] is not None and i["name"].startswith("王"),
}
gwant = {n: sorted(((k,) + gimg(i) for k, i in grows if f(i)), key=repr)
         for n, f in gconds.items()}
gwant["rest"] = sorted(((k,) + gimg(i) for k, i in grows if not any(f(i) for f in gconds.values())),
                       key=repr)
check(all(len(v) > 100 for v in gwant.values()), {k: len(v) for k, v in gwant.items()})
for workers in (1, 2):
    out = os.path.join(d, f"route-gen{workers}")
    sets = []
    for name in gwant:
        sets += ["--set", f"sinks.{name}.path={out}/{name}"]
    run(["run", job, "--workers", str(workers)] + sets)
    for name in gwant:
        got = sorted(((r["_kind"],) + tuple(r[c] for c in GCOLS)
                      for r in read_jsonl_dir(os.path.join(out, name))), key=repr)
        check(got == gwant[name], f"{workers} worker(s): generator route {name}: "
              f"{len(got)} rows, want {len(gwant[name])}")
    ok(f"route over the generator's changelog, {workers} worker(s): "
       f"{sum(len(v) for v in gwant.values())} rows into overlapping outputs as computed")

# ---------------------------------------------------------------------------
# (5) misconfiguration is refused before start, at the right place.


def refused(text, want):
    path = write(os.path.join(d, "bad.yaml"), text)
    p = run(["validate", path], check=False)
    check(p.returncode == 2, f"exit {p.returncode} for:\n{text}\n{p.stderr}")
    got = [line.replace(path, "bad.yaml") for line in p.stderr.splitlines()]
    for w in want:
        check(w in got, f"missing error line\n  {w}\ngot:\n  " + "\n  ".join(got))


refused("""sources:
  gen: {type: generator, records: 10}
steps:
  u: {from: gen, op: upsert, key: [customer_id], version: name, time: phone,
      dedup: {id: event_idd, max_idz: 3}, frequency: {column: address}}
sinks:
  o: {from: u, type: blackhole}
""", [
    "bad.yaml:4:59: step 'u': version: column 'name' is STRING; expected INT, BIGINT, DATE, "
    "TIMESTAMP, FLOAT or DOUBLE",
    "bad.yaml:4:71: step 'u': time: column 'phone' is STRING; expected TIMESTAMP or BIGINT (ms)",
    "bad.yaml:5:30: unknown key 'max_idz' in step 'u': dedup (did you mean 'max_ids'?)",
    "bad.yaml:5:19: step 'u': dedup.id: no column 'event_idd'",
    "bad.yaml:5:63: step 'u': frequency: column 'address' clashes with an input column",
])
refused("""sources:
  gen: {type: generator, records: 10}
steps:
  r:
    from: gen
    op: route
    outputs:
      default: "customer_id > 1"
      a.b: "customer_id > 2"
sinks:
  o: {from: r.default, type: blackhole}
""", [
    "bad.yaml:8:7: step 'r': output 'default' is implicit (rows matching no condition); "
    "name this one otherwise",
    "bad.yaml:9:7: step 'r': output name 'a.b' must be 1-63 letters, digits, '_' or '-'",
])
refused("""sources:
  gen: {type: generator, records: 10}
steps:
  r: {from: gen, op: route, outputs: {num: "customer_id + 1", ok: "name = 'x'"}}
sinks:
  o: {from: r.num, type: blackhole}
  p: {from: r.default, type: blackhole}
  q: {from: r, type: blackhole}
  s: {from: r.okk, type: blackhole}
""", [
    "bad.yaml:4:44: step 'r': outputs.num: expected a BOOLEAN condition, got BIGINT",
    "bad.yaml:8:13: 'r' has named outputs: read one, e.g. from: r.num",
    "bad.yaml:9:13: 'r' has no output 'okk' (outputs: num, ok, default)",
])
refused("""sources:
  gen: {type: generator, records: 10}
steps:
  r: {from: gen, op: route, outputs: {big: "customer_id > 5"}}
sinks:
  o: {from: r.big, type: blackhole}
""", [
    "bad.yaml:4:3: output 'default' of 'r' feeds nothing: read it with from: r.default "
    "(rows sent there would be lost)",
])
ok("bad upsert and route options refused with FILE:LINE:COL messages")
