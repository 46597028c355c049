"""A real Prometheus (Debian `prometheus`) scrapes sluice every second while a
bounded job runs; afterwards its query API must return the record counts of
--summary-json, and `promtool check metrics` must accept a scrape.
Skips (77) when prometheus or promtool is not installed (tools/deps installs
them)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from admin_common import Run, parse_metrics, total, wait_for
from common import check, fail, ok, tmpdir, write

PROM, PROMTOOL = shutil.which("prometheus"), shutil.which("promtool")
if not PROM or not PROMTOOL:
    print("SKIP: prometheus/promtool not installed (Debian package 'prometheus'; tools/deps)")
    sys.exit(77)

d = tmpdir("prometheus")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


job = write(os.path.join(d, "job.yaml"), """
job: prom
admin: {listen: 127.0.0.1:0, linger: 8s}
sources:
  gen: {type: generator, records: 80000, rate: 10000, keys: 2000, seed: 5}
steps:
  valid: {from: gen, op: filter, where: "phone IS NOT NULL AND length(phone) = 11"}
  per_key: {from: valid, op: aggregate, key: [customer_id], aggregates: {n: count}, emit: final}
sinks:
  rows: {from: valid, type: blackhole}
  counts: {from: per_key, type: blackhole}
""")
sj = os.path.join(d, "summary.json")
run = Run(job, ["--workers", "2", "--summary-json", sj], d=d)
prom = None
try:
    port = run.wait_listening()
    # sluice labels its series job="prom"; honor_labels keeps that label
    # instead of renaming it exported_job.
    pport = free_port()
    cfg = write(os.path.join(d, "prometheus.yml"), f"""
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: sluice
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
    plog = open(os.path.join(d, "prometheus.log"), "w")
    prom = subprocess.Popen([PROM, f"--config.file={cfg}", f"--storage.tsdb.path={d}/tsdb",
                             f"--web.listen-address=127.0.0.1:{pport}", "--log.level=warn"],
                            stdout=plog, stderr=plog)

    def api(query, at=None):
        q = {"query": query}
        if at:
            q["time"] = f"{at:.3f}"
        url = f"http://127.0.0.1:{pport}/api/v1/query?" + urllib.parse.urlencode(q)
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body["status"] != "success":
            fail(f"{query}: {body}")
        return body["data"]["result"]

    def ready():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{pport}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            if prom.poll() is not None:
                fail(f"prometheus exited {prom.returncode}: {open(plog.name).read()[-2000:]}")
            return False
    wait_for(ready, 60, "prometheus ready")

    # promtool accepts a scrape taken while the job runs.
    text = run.metrics()
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    check(p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(),
          f"promtool check metrics: rc={p.returncode}\n{p.stdout}\n{p.stderr}")
    ok(f"promtool check metrics: clean ({len(text)} bytes, {text.count(chr(10))} lines)")

    def scraped_up():
        r = api('up{job="sluice"}')
        return r and r[0]["value"][1] == "1"
    wait_for(scraped_up, 30, "Prometheus scraping sluice (up == 1)")
    mid = time.time()
    wait_for(lambda: run.get_json("/jobs/prom")["state"] == "FINISHED", 60, "job finished")
    fin_text = run.metrics()
    time.sleep(3)  # at least two scrapes of the final state while sluice lingers
    check(run.wait(60) == 0, run.log()[-2000:])

    with open(sj) as f:
        s = json.load(f)
    fin, _ = parse_metrics(fin_text)
    check(total(fin, "sluice_records_in_total") == s["records_in"], "final scrape == summary")

    def prom_total(expr):
        r = api(f"sum(max_over_time({expr}[5m]))")
        return float(r[0]["value"][1]) if r else None
    got_in = prom_total('sluice_records_in_total{job="prom"}')
    got_out = prom_total('sluice_records_out_total{job="prom"}')
    got_rows = prom_total('sluice_node_records_in_total{job="prom",node="rows"}')
    got_counts = prom_total('sluice_node_records_in_total{job="prom",node="counts"}')
    check(got_in == s["records_in"], f"Prometheus records_in {got_in} != summary {s['records_in']}")
    check(got_out == s["records_out"], f"Prometheus records_out {got_out} != {s['records_out']}")
    check(got_rows + got_counts == s["records_out"], "per-node sink rows add up")
    # Quantiles are derivable from the histogram: p99 of the whole run from
    # the final buckets agrees with the engine's own within a bucket
    # (powers of two).
    q = api("histogram_quantile(0.99, sum by (le) (max_over_time(sluice_latency_seconds_bucket"
            '{job="prom"}[5m])))')
    p99 = float(q[0]["value"][1]) if q else float("nan")
    want = s["latency_p99_us"] / 1e6
    check(want / 2 <= p99 <= want * 2, f"p99 from Prometheus {p99} vs summary {want}")
    rate = api('sum(rate(sluice_records_in_total{job="prom"}[4s]))', at=mid + 3)
    check(rate and float(rate[0]["value"][1]) > 0, f"rate while running: {rate}")
    sd = api('max_over_time(scrape_duration_seconds{job="sluice"}[5m])')
    samples = api('max_over_time(scrape_samples_scraped{job="sluice"}[5m])')
    ok(f"Prometheus: records_in {int(got_in)}, records_out {int(got_out)} == summary; "
       f"p99 {p99 * 1e3:.2f} ms (engine {want * 1e3:.2f}); slowest scrape "
       f"{float(sd[0]['value'][1]) * 1e3:.2f} ms for {samples[0]['value'][1]} samples")
finally:
    run.kill()
    if prom:
        prom.terminate()
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
