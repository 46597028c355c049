"""aggregate (every function, multi-column keys, nulls, retractions), union and
key_by, on 1 and 2 workers, against results computed here in Python."""
import collections
import json
import os
import random

from common import check, ok, read_jsonl_dir, run, tmpdir, write

d = tmpdir("operators")
rnd = random.Random(4)

# --- append-only input with nulls: every aggregate function, two-column key
lines_a, lines_b = ["region,city,amount,price"], ["region,city,amount,price"]
rows = []
for i in range(30000):
    region = rnd.choice(["north", "south", "east", "west"])
    city = rnd.choice(["a", "b", "c", ""])
    amount = rnd.choice([None, rnd.randint(-1000, 1000)])
    price = rnd.choice([None, round(rnd.uniform(0, 100), 2)])
    rows.append((region, city or None, amount, price))
    (lines_a if i % 2 else lines_b).append(
        f"{region},{city},{'' if amount is None else amount},{'' if price is None else price}")
write(os.path.join(d, "a.csv"), "\n".join(lines_a) + "\n")
write(os.path.join(d, "b.csv"), "\n".join(lines_b) + "\n")

job = write(os.path.join(d, "agg.yaml"), f"""
sources:
  a: {{type: file, path: {d}/a.csv, format: csv, fields: {{region: STRING, city: STRING, amount: INT, price: DOUBLE}}}}
  b: {{type: file, path: {d}/b.csv, format: csv, fields: {{region: STRING, city: STRING, amount: INT, price: DOUBLE}}}}
steps:
  both: {{from: [a, b], op: union}}
  nz: {{from: both, op: map, fields: {{region: region, city: "if(city = '', CAST(NULL AS STRING), city)", amount: amount, price: price}}}}
  g:
    from: nz
    op: aggregate
    key: [region, city]
    emit: final
    aggregates: {{n: count, n_amount: count(amount), total: sum(amount), low: min(amount),
                  high: max(price), mean: avg(price)}}
sinks:
  out: {{from: g, type: file, path: OUT}}
""")
groups = collections.defaultdict(list)
for r in rows:
    groups[(r[0], r[1])].append(r)
want = {}
for k, rs in groups.items():
    am = [r[2] for r in rs if r[2] is not None]
    pr = [r[3] for r in rs if r[3] is not None]
    want[k] = (len(rs), len(am), sum(am) if am else None, min(am) if am else None,
               max(pr) if pr else None, sum(pr) / len(pr) if pr else None)
for workers in (1, 2):
    out = os.path.join(d, f"agg{workers}")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}"])
    got = {}
    for r in read_jsonl_dir(out):
        k = (r["region"], r["city"])
        check(k not in got, f"group {k} twice")
        got[k] = (r["n"], r["n_amount"], r["total"], r["low"], r["high"], r["mean"])
    check(got.keys() == want.keys(), f"groups differ: {list(got)} vs {list(want)}")
    for k in want:
        g, w = got[k], want[k]
        check(g[:5] == w[:5] and (g[5] is None) == (w[5] is None)
              and (w[5] is None or abs(g[5] - w[5]) <= 1e-9 * max(1, abs(w[5]))),
              f"group {k}: got {g}, want {w}")
    ok(f"{workers} worker(s): union + count/count(col)/sum/min/max/avg over {len(want)} groups")

# --- changelog input (the generator): retractions, emit updates, key_by placement
gen_args = ["--records", "200000", "--keys", "3000", "--seed", "21"]
events = os.path.join(d, "events.ndjson")
run(["gen", "customer-cdc", *gen_args, "--output", events])
alive = {}
with open(events, encoding="utf-8") as f:
    for line in f:
        ev = json.loads(line)
        if ev["op"] == "d":
            alive.pop(ev["before"]["customer_id"])
        else:
            alive[ev["after"]["customer_id"]] = ev["after"]
want = collections.defaultdict(lambda: [0, 0])
for cid in alive:
    want[cid % 10][0] += 1
    want[cid % 10][1] += cid
job = write(os.path.join(d, "cl.yaml"), f"""
sources:
  g: {{type: generator, records: 200000, keys: 3000, seed: 21}}
steps:
  m: {{from: g, op: map, fields: {{bucket: "customer_id % 10", customer_id: customer_id}}}}
  s: {{from: m, op: aggregate, key: [bucket], aggregates: {{n: count, ids: sum(customer_id)}}}}
  k: {{from: g, op: key_by, key: [customer_id]}}
sinks:
  out: {{from: s, type: file, path: OUT}}
  keyed: {{from: k, type: file, path: KEYED}}
""")
for workers in (1, 2):
    out, keyed = os.path.join(d, f"cl{workers}"), os.path.join(d, f"keyed{workers}")
    run(["run", job, "--workers", str(workers), "--set", f"sinks.out.path={out}",
         "--set", f"sinks.keyed.path={keyed}"])
    table = {}
    for r in read_jsonl_dir(out):
        b = r["bucket"]
        if r["_kind"] in ("+I", "+U"):
            check(r["_kind"] == "+U" or b not in table, f"+I for a live bucket {b}")
            table[b] = [r["n"], r["ids"]]
        elif r["_kind"] == "-U":
            check(table.get(b) == [r["n"], r["ids"]], f"-U retracts a value not current: {r}")
        else:
            table.pop(b)
    check(table == dict(want), f"{workers} workers: final {table} want {dict(want)}")
    owner = {}
    for f in sorted(os.listdir(keyed)):
        w = f.split("-")[1]
        for line in open(os.path.join(keyed, f), encoding="utf-8"):
            cid = json.loads(line)["customer_id"]
            check(owner.setdefault(cid, w) == w, f"key {cid} on workers {owner[cid]} and {w}")
    check(len(set(owner.values())) == workers, f"keys spread over {set(owner.values())}")
    ok(f"{workers} worker(s): count/sum over a changelog replay to the live table; "
       f"key_by puts each key on one worker")
