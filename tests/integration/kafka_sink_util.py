"""Helpers of the Kafka sink tests: the rows the generator's events become, computed from
`sluice gen` (Debezium JSON) independently of the engine, and a kcat reader that keeps
headers."""
import datetime
import json
import subprocess

from common import fail
from kafka_common import FIELD_DELIM


def ts(ms):
    d = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return d.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


def image(kind, a):
    row = {"_kind": kind}
    row.update(a)
    if row.get("updated_time") is not None:
        row["updated_time"] = ts(row["updated_time"])
    return row


def expected_rows(sluice, records, keys, seed):
    """[(kind, row dict)] in event order: c/r -> +I after; u -> -U before, +U after;
    d -> -D before."""
    out = subprocess.run([sluice, "gen", "customer-cdc", "--records", str(records), "--keys",
                          str(keys), "--seed", str(seed)], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for line in out.splitlines():
        e = json.loads(line)
        if e["op"] == "u":
            rows.append(image("-U", e["before"]))
            rows.append(image("+U", e["after"]))
        elif e["op"] == "d":
            rows.append(image("-D", e["before"]))
        else:
            rows.append(image("+I", e["after"]))
    return rows


def event_id(job, row):
    return f"{job}/{row['_kind']}/{row['customer_id']}/{row['updated_time']}"


def canon(row):
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def consume(k, topic, timeout=120):
    """Every record of topic, committed or not: [(partition, offset, key, headers, value)]."""
    fmt = FIELD_DELIM.join(["%p", "%o", "%k", "%h", "%s"]) + "\n"
    # read_uncommitted: the tests decide from the sink's transaction log which records a
    # read_committed reader of a real broker would see; the mock's own notion of open
    # transactions must not hide any.
    p = subprocess.run([k.kcat, "-C", "-b", k.bootstrap, "-t", topic, "-e", "-q", "-o",
                        "beginning", "-X", "isolation.level=read_uncommitted", "-f", fmt],
                       capture_output=True, timeout=timeout)
    if p.returncode != 0:
        fail(f"kcat consume {topic} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
    out = []
    for line in p.stdout.decode().split("\n"):
        if not line:
            continue
        part, off, key, hdrs, value = line.split(FIELD_DELIM, 4)
        h = {}
        if hdrs:
            for kv in hdrs.split(","):
                name, _, v = kv.partition("=")
                h[name] = v
        out.append((int(part), int(off), key, h, value))
    out.sort(key=lambda r: (r[0], r[1]))
    return out
