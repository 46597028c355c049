"""Kafka source through a broker outage: while an unbounded kafka -> files job
(exactly_once checkpoints) reads a 4-partition topic, the mock broker goes down for 3 s
(`down -1` on kafka-mock's stdin) and comes back. The job keeps running (its workers never
block: checkpoints go on completing during the outage), logs the outage (rate-limited),
reconnects, reads what is produced after it, and publishes every record exactly once.
/metrics shows the source's lag (sluice_source_lag_records): above 0 during the outage,
0 once everything is read."""
import glob
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

from common import SLUICE, check, fail, ok, tmpdir, write
from kafka_common import KafkaMock

SLUICE = os.path.abspath(SLUICE)
ENV = dict(os.environ)
ENV.pop("CI", None)
ENV["SLUICE_LOG"] = "debug"  # periodic checkpoints are logged at debug
d = tmpdir("kafka-outage")
k = KafkaMock(topics={"t": 4})
N = 20000


def produce(lo, hi):
    parts = [[] for _ in range(4)]
    for i in range(lo, hi):
        parts[i % 4].append(json.dumps({"id": i}))
    for p in range(4):
        k.produce("t", parts[p], partition=p, batch_messages=50)


write(os.path.join(d, "job.yaml"), f"""
job: outage
admin: {{listen: "127.0.0.1:0"}}
checkpoint: {{interval: 200ms, dir: ./state, mode: exactly_once}}
sources:
  ev:
    type: kafka
    brokers: "{k.bootstrap}"
    topics: [t]
    schema: "id BIGINT NOT NULL"
    metadata: [partition, offset]
    properties: {{max.partition.fetch.bytes: "4096", reconnect.backoff.max.ms: "500"}}
sinks:
  rows: {{from: ev, type: file, path: out/rows, format: jsonl}}
""")
log = os.path.join(d, "log.txt")


def rows():
    out = []
    for path in glob.glob(os.path.join(d, "out", "rows", "part-*")):
        with open(path) as f:
            out += [json.loads(line)["id"] for line in f]
    return out


def text():
    with open(log, errors="replace") as f:
        return f.read()


def lag():
    """sluice_source_lag_records summed over the workers, from /metrics."""
    m = re.search(r'msg="admin listening" addr=127\.0\.0\.1:(\d+)', text())
    check(m, f"no admin port in the log:\n{text()[-2000:]}")
    body = urllib.request.urlopen(f"http://127.0.0.1:{m.group(1)}/metrics", timeout=5).read()
    vals = [int(v) for v in re.findall(rb'^sluice_source_lag_records\{[^}]*node="ev"\} (\d+)$',
                                       body, re.M)]
    check(len(vals) == 2, f"expected the lag of 2 workers in /metrics, got {vals}")
    return sum(vals)


def wait(cond, what, limit=40):
    t0 = time.monotonic()
    while not cond():
        if p.poll() is not None:
            fail(f"sluice exited {p.returncode} while waiting for {what}:\n{text()[-3000:]}")
        if time.monotonic() - t0 > limit:
            fail(f"no {what} in {limit} s:\n{text()[-3000:]}")
        time.sleep(0.02)


produce(0, N)
k.command("rtt -1 20")  # a slower broker: the outage comes while records are in flight
t0 = time.monotonic()
with open(log, "wb") as f:
    p = subprocess.Popen([SLUICE, "run", "job.yaml", "--workers", "2"], cwd=d, stdout=f,
                         stderr=subprocess.STDOUT, env=ENV)
try:
    wait(lambda: len(rows()) >= N // 5, "first records")
    k.command("down -1")
    down_at = len(rows())
    ck_before = text().count('msg="checkpoint complete"')
    time.sleep(3)
    check(p.poll() is None, f"sluice exited during the outage:\n{text()[-3000:]}")
    ck_during = text().count('msg="checkpoint complete"') - ck_before
    lag_during = lag()
    k.command("up -1")
    k.command("rtt -1 0")
    produce(N, 2 * N)
    wait(lambda: len(rows()) >= 2 * N, "every record after the outage")
    time.sleep(1.0)  # duplicates, if any, would show now
    wait(lambda: lag() == 0, "source lag 0 once every record is read", limit=10)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    check(rc == 0, f"sluice exited {rc} on SIGTERM:\n{text()[-3000:]}")
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
got = sorted(rows())
check(got == list(range(2 * N)), f"{len(got)} rows, {len(set(got))} distinct; expected "
      f"{2 * N} exactly once")
check(down_at < N, f"the outage came after every record was read ({down_at})")
check(ck_during >= 3, f"only {ck_during} checkpoints completed during the 3 s outage")
check(lag_during > 0, "sluice_source_lag_records was 0 during the outage, with records unread")
t = text()
check("unreachable" in t or "Kafka client error" in t or "Kafka consumer error" in t,
      f"the outage was not logged:\n{t[-3000:]}")
ok(f"3 s broker outage at {100 * down_at // N}% of the first {N} records: "
   f"{ck_during} checkpoints and a source lag of {lag_during} during it, reconnected, "
   f"{2 * N} records exactly once (lag 0) in "
   f"{time.monotonic() - t0:.1f} s")
