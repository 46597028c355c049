"""The reference job (examples/customer-archive.yaml) end to end on generated
events with bad values: the archive is the latest image per customer, every
change lands in exactly one route (the one its flags select), and the counts
add up. Expected results are computed here from `sluice gen`'s events."""
import datetime
import json
import os

from common import SRC, check, ok, read_jsonl_dir, run, summary, tmpdir

d = tmpdir("reference")
job = os.path.join(SRC, "examples", "customer-archive.yaml")
GEN = {"records": 60000, "keys": 4000, "seed": 17, "bad_ratio": 0.1}
routes = ["id_check", "phone_check", "address_fix", "cleaning", "anomaly", "standard"]


def id_valid(s):
    if s is None or len(s) != 18 or not s[:17].isdigit():
        return False
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * k for c, k in zip(s, w)) % 11] == s[17].upper()


def ts(ms):
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def phone_valid(s):
    return s is not None and len(s) == 11 and s.isdigit() and s[0] == "1" and s[1] in "3456789"


# Independent: the latest image per customer from the generator's events.
events = os.path.join(d, "events.ndjson")
run(["gen", "customer-cdc", "--records", str(GEN["records"]), "--keys", str(GEN["keys"]),
     "--seed", str(GEN["seed"]), "--bad-ratio", str(GEN["bad_ratio"]), "--output", events])
latest = {}
with open(events, encoding="utf-8") as f:
    for line in f:
        ev = json.loads(line)
        if ev["op"] == "d":
            latest.pop(ev["before"]["customer_id"], None)
        else:
            latest[ev["after"]["customer_id"]] = ev["after"]

sets = [f"sources.customers.{k}={v}" for k, v in GEN.items()]
sets += [f"sinks.{r}.path={d}/routes/{r}" for r in routes]
sets += [f"sinks.archive.path={d}/archive", f"dead_letter.path={d}/dead",
         f"sinks.changes={{from: latest, type: file, path: {d}/changes}}"]
for workers in (1, 2):
    sj = os.path.join(d, f"s{workers}.json")
    for r in routes + ["archive", "changes", "dead"]:
        os.system(f"rm -rf {d}/routes/{r} {d}/{r}")
    args = ["run", job, "--workers", str(workers), "--summary-json", sj]
    for s in sets:
        args += ["--set", s]
    run(args, timeout=600)

    # 1. The archive replays to the latest image per customer.
    archive = {}
    for r in read_jsonl_dir(os.path.join(d, "archive")):
        k = r["key"]["customer_id"]
        if r["value"] is None:
            archive.pop(k, None)
        else:
            archive[k] = r["value"]
    check(archive.keys() == latest.keys(), f"{workers}w: archive keys differ "
          f"({len(archive)} vs {len(latest)})")
    for k, img in latest.items():
        a = archive[k]
        check(a["updated_time"] == ts(img["updated_time"]),
              f"key {k}: updated_time {a['updated_time']} vs {img['updated_time']}")
        check(a["id_number_valid"] == id_valid(img["id_number"]),
              f"key {k}: id {img['id_number']!r} valid={a['id_number_valid']}")
        check(a["phone_valid"] == phone_valid(img["phone"]),
              f"key {k}: phone {img['phone']!r} valid={a['phone_valid']}")
        check(0.0 <= a["quality"] <= 1.0, f"key {k}: quality {a['quality']}")
        check((a["name"] or "") == (img["name"] or "").strip() or not a["name_valid"],
              f"key {k}: name {a['name']!r} vs {img['name']!r}")
    ok(f"{workers} worker(s): archive = latest image of {len(latest)} customers, flags correct")

    # 2. Every change of `latest` is in exactly one route, the one its flags pick.
    changes = read_jsonl_dir(os.path.join(d, "changes"))
    key = lambda r: json.dumps(r, sort_keys=True)
    placed = {}
    for name in routes:
        for r in read_jsonl_dir(os.path.join(d, "routes", name)):
            placed.setdefault(key(r), []).append(name)

    def expected_route(r):
        if not r["id_number_valid"]:
            return "id_check"
        if not r["phone_valid"]:
            return "phone_check"
        if not r["address_valid"]:
            return "address_fix"
        if r["quality"] < 0.6:
            return "cleaning"
        if r["changes_1h"] > 10:
            return "anomaly"
        return "standard"

    seen = {}
    for r in changes:
        seen[key(r)] = seen.get(key(r), 0) + 1
    for k, n in seen.items():
        r = json.loads(k)
        check(placed.get(k) == [expected_route(r)] * n,
              f"change {r['_kind']} {r['customer_id']} in {placed.get(k)}, want {expected_route(r)}")
    check(sum(len(v) for v in placed.values()) == len(changes), "routes hold extra rows")
    s = summary(sj)
    dead = read_jsonl_dir(os.path.join(d, "dead")) if os.path.isdir(os.path.join(d, "dead")) else []
    check(s["dead_letters"] == len(dead), f"dead letters {s['dead_letters']} vs {len(dead)}")
    bad = sum(1 for r in changes if expected_route(r) in ("id_check", "phone_check", "address_fix"))
    ok(f"{workers} worker(s): {len(changes)} changes routed = sum of routes; "
       f"{bad} with bad values, each in one queue; {len(dead)} dead letters")
