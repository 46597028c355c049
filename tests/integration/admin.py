"""The admin server: job-file validation, every endpoint's JSON, /metrics
totals against --summary-json, alerts with a webhook receiver (retry,
de-duplication), cancel through the API, bearer tokens, and hostile clients
(oversized heads, slow writers, 1000 idle connections, bad methods,
traversal, pipelining) while the job runs."""
import http.server
import json
import os
import resource
import socket
import subprocess
import threading
import time

from admin_common import Run, parse_metrics, raw, read_response, total, wait_for
from common import SLUICE, check, fail, ok, tmpdir, write

d = tmpdir("admin")
with open(SLUICE, "rb") as f:
    # AddressSanitizer's shadow memory and quarantine make RSS meaningless.
    SANITIZED = b"__asan_init" in f.read()


def validate(text):
    path = write(os.path.join(d, "v.yaml"), text)
    p = subprocess.run([SLUICE, "validate", path], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stderr.replace(path, "v.yaml")


BASE = """
job: v
sources:
  gen: {type: generator, records: 10}
sinks:
  out: {from: gen, type: blackhole}
"""

# ---- validation, with positions ----
rc, err = validate(BASE + "admin: {listen: 0.0.0.0:8081}\n")
check(rc == 2 and "v.yaml:7:17: admin.listen: 0.0.0.0:8081 is not a loopback address" in err
      and "token_file" in err, f"non-loopback without token: rc={rc} {err}")
rc, err = validate(BASE + "admin: {listen: '[::]:8081'}\n")
check(rc == 2 and "not a loopback address" in err, err)
rc, err = validate(BASE + "admin: {listen: 127.0.0.1:99999}\n")
check(rc == 2 and "v.yaml:7:17: admin.listen:" in err and "port must be" in err, err)
rc, err = validate(BASE + "admin: {lisen: 127.0.0.1:1}\n")
check(rc == 2 and "did you mean 'listen'" in err, err)
rc, err = validate(BASE + "admin: [1]\n")
check(rc == 2 and "admin: expected a map" in err, err)
rc, err = validate(BASE + "alerts:\n  - latncy_p99 > 5s\n")
check(rc == 2 and "v.yaml:8:5: alert 'latncy_p99 > 5s'" in err and "did you mean 'latency_p99'" in err,
      err)
rc, err = validate(BASE + "alerts: ['latency_p99 > 5 parsecs']\n")
check(rc == 2 and "unit must be" in err, err)
rc, err = validate(BASE + "alerts: ['backpressure > 2 for 5m']\n")
check(rc == 2 and "ratio between 0 and 1" in err, err)
rc, err = validate(BASE + "alerts: ['backpressure > 0.8 for 5']\n")
check(rc == 2 and "'for' needs a duration with a unit" in err, err)
rc, err = validate(BASE + "alerts: ['records_per_s < 1000 for 30s extra']\n")
check(rc == 2 and "unexpected 'extra'" in err, err)
rc, err = validate(BASE + "alerts: [{when: 'dead_letter_rate > 0', webhook: 'https://x/y'}]\n")
check(rc == 2 and "https webhooks are not supported" in err, err)
rc, err = validate(BASE + "alerts: [{name: a, when: 'dead_letter_rate > 0'}, {name: a, when: 'backpressure > 0.5'}]\n")
check(rc == 2 and "duplicate rule name 'a'" in err, err)
rc, err = validate(BASE + "alerts: [{whn: 'dead_letter_rate > 0'}]\n")
check(rc == 2 and "did you mean 'when'" in err, err)
rc, err = validate(BASE + """admin: {listen: 0.0.0.0:0, token_file: /nonexistent/ok-at-validate}
alerts:
  webhook: http://127.0.0.1:9/hook
  rules:
    - latency_p99 > 5s for 1m
    - backpressure > 0.8 for 5m
    - dead_letter_rate > 0
    - dead_letter rate > 0
    - records_per_s < 1000 for 30s
    - {name: ckpt, when: checkpoint_failure_rate > 0.1, severity: critical}
""")
check(rc == 0, f"the issue's rules validate: {err}")
rc, err = validate(BASE + "admin: {listen: off}\n")
check(rc == 0, err)
ok("admin: and alerts: validate with positions")

# ---- a webhook receiver: the first delivery of each firing fails with 500 ----
received = []  # (idempotency key, status in body, http status returned)
lock = threading.Lock()


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        key = self.headers.get("Idempotency-Key")
        with lock:
            first = not any(k == key for k, _, _ in received)
            code = 500 if first and body["status"] == "firing" else 200
            received.append((key, body, code))
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
threading.Thread(target=hook.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hooks/s3cr3t-path"

# ---- a long-running job, probed while it runs, then cancelled ----
job = write(os.path.join(d, "job.yaml"), f"""
job: admin-test
admin: {{listen: 127.0.0.1:0, linger: 6s}}
alerts:
  - {{name: flowing, when: "records_per_s > 10 for 2s", webhook: "{hook_url}"}}
  - backpressure > 0.8 for 5m
  - dead_letter_rate > 0
  - latency_p99 > 5s for 1m
sources:
  gen: {{type: generator, records: -1, rate: 20000, keys: 5000, seed: 7, bad_ratio: 0.01}}
steps:
  valid: {{from: gen, op: filter, where: "phone IS NOT NULL"}}
  shaped: {{from: valid, op: map, fields: {{customer_id: customer_id, province: "substr(address, 1, 3)",
                                           q: "1000 / (customer_id % 50)"}}}}
  per_province: {{from: shaped, op: aggregate, key: [province], aggregates: {{n: count}}, emit: updates}}
sinks:
  rows: {{from: shaped, type: blackhole}}
  counts: {{from: per_province, type: blackhole}}
dead_letter: {{type: blackhole}}
""")
sj = os.path.join(d, "summary.json")
run = Run(job, ["--workers", "2", "--summary-json", sj], d=d)
try:
    port = run.wait_listening()
    wait_for(lambda: run.request("GET", "/health/ready")[0] == 200, 10, "/health/ready 200")
    wait_for(lambda: run.get_json("/jobs/admin-test")["metrics"]["records_out"] > 0, 10, "records")

    # -- every endpoint's JSON --
    live = run.get_json("/health/live")
    check(live == {"status": "UP"}, live)
    h = run.get_json("/health")
    check(h["status"] == "UP" and h["job"]["state"] == "RUNNING" and h["job"]["workers"] == 2, h)
    check([s["name"] for s in h["sources"]] == ["gen"] and h["sources"][0]["type"] == "generator"
          and h["sources"][0]["status"] == "UP" and h["sources"][0]["records"] > 0, h)
    check(sorted(s["name"] for s in h["sinks"]) == ["counts", "dead_letter.sink", "rows"], h)
    check(h["checkpoints"]["status"] == "not configured", h)
    check(run.get_json("/health/ready") == {"status": "UP"}, "ready")
    o = run.get_json("/overview")
    check(o["jobs-running"] == 1 and o["slots-total"] == 2 and o["jobs-finished"] == 0
          and isinstance(o["sluice-version"], str), o)
    j = run.get_json("/jobs")
    check(j == {"jobs": [{"id": "admin-test", "status": "RUNNING"}]}, j)
    jd = run.get_json("/jobs/admin-test")
    check(jd["jid"] == "admin-test" and jd["state"] == "RUNNING" and jd["parallelism"] == 2
          and jd["end-time"] == -1 and jd["duration"] > 0, jd)
    names = [v["id"] for v in jd["vertices"]]
    check(set(names) >= {"gen", "valid", "shaped", "per_province", "rows", "counts"}, names)
    kb = [v for v in jd["vertices"] if v["exchange"]]
    check(len(kb) == 1 and kb[0]["inserted"] and kb[0]["outputs"] == ["per_province"], kb)
    for v in jd["vertices"]:
        check(v["kind"] in ("source", "step", "sink") and len(v["subtasks"]) == 2, v)
        check(v["metrics"]["read-records"] == sum(s["read-records"] for s in v["subtasks"]), v)
        plan = [p for p in jd["plan"]["nodes"] if p["id"] == v["id"]][0]
        check([i["id"] for i in plan["inputs"]] == v["inputs"], (plan, v))
    ship = {i["id"]: i["ship_strategy"] for p in jd["plan"]["nodes"] for i in p["inputs"]}
    check(ship[kb[0]["id"]] == "HASH" and ship["valid"] == "FORWARD", ship)
    m = jd["metrics"]
    check(m["records_in"] > 0 and m["records_in_per_s"] > 0 and 0 <= m["backpressure"] <= 1, m)
    ck = run.get_json("/jobs/admin-test/checkpoints")
    check(ck["counts"] == {"restored": 0, "total": 0, "in_progress": 0, "completed": 0, "failed": 0}
          and ck["history"] == [] and ck["latest"]["completed"] is None, ck)
    hist = run.get_json("/jobs/admin-test/history")
    check(hist["interval_ms"] == 1000 and len(hist["samples"]) >= 1, hist)
    last = hist["samples"][-1]["t"]
    check(run.get_json(f"/jobs/admin-test/history?since={last}")["samples"] == [], "since")
    ok("health, overview, jobs, job, checkpoints, history: JSON as documented")

    # -- alerts fire (and the webhook is retried once) --
    def firing():
        a = run.get_json("/alerts")
        return a if a["alerts"][0]["state"] == "firing" else None
    al = wait_for(firing, 15, "alert 'flowing' firing")
    by = {a["name"]: a for a in al["alerts"]}
    check(by["flowing"]["state"] == "firing" and by["flowing"]["fired_count"] == 1, by)
    check(by["flowing"]["webhook"] == f"http://127.0.0.1:{hook.server_address[1]}",
          "the webhook shows as its origin only (paths may hold secrets)")
    check(by["backpressure"]["state"] == "inactive" and by["latency_p99"]["state"] == "inactive", by)
    wait_for(lambda: run.get_json("/alerts")["alerts"][2]["state"] == "firing", 5, "dead letters fire")
    check(set(by) == {"flowing", "backpressure", "dead_letter_rate", "latency_p99"}, by)
    check("alert firing\" alert=flowing" in run.log(), "firing log line")
    check("alert firing\" alert=dead_letter_rate" in run.log(), "dead letters log line")
    check("s3cr3t-path" not in run.log(), "webhook path never logged")
    wait_for(lambda: sum(1 for _, _, c in received if c == 200) >= 1, 10, "webhook delivered after retry")
    ok("alert fires, logged, webhook retried after a 500")

    # -- /metrics --
    text = run.metrics()
    samples, types = parse_metrics(text)
    for fam, typ in [("sluice_records_in_total", "counter"), ("sluice_records_out_total", "counter"),
                     ("sluice_bytes_in_total", "counter"), ("sluice_bytes_out_total", "counter"),
                     ("sluice_bad_records_total", "counter"),
                     ("sluice_dead_letter_records_total", "counter"),
                     ("sluice_backpressure_blocked_seconds_total", "counter"),
                     ("sluice_backpressure_ratio", "gauge"), ("sluice_latency_seconds", "histogram"),
                     ("sluice_node_records_in_total", "counter"),
                     ("sluice_node_records_out_total", "counter"),
                     ("sluice_process_cpu_seconds_total", "counter"),
                     ("sluice_process_resident_memory_bytes", "gauge"),
                     ("sluice_alert_firing", "gauge"), ("sluice_exchange_queued_batches", "gauge")]:
        check(types.get(fam) == typ, f"{fam}: type {types.get(fam)}, want {typ}")
    for w in ("0", "1"):
        buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in samples.items()
                          if n == "sluice_latency_seconds_bucket" and dict(l)["worker"] == w),
                         key=lambda x: x[0])
        check(len(buckets) >= 20 and buckets[-1][0] == float("inf"), buckets[:3])
        check(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), "buckets are cumulative")
        cnt = total(samples, "sluice_latency_seconds_count", worker=w)
        check(buckets[-1][1] == cnt, f"+Inf bucket {buckets[-1][1]} == count {cnt}")
    check(total(samples, "sluice_alert_firing", alert="flowing") == 1, "alert gauge")
    check(total(samples, "sluice_process_resident_memory_bytes") > 1e6, "rss")
    check(all(dict(l).get("job") == "admin-test" for (n, l) in samples
              if n.startswith("sluice_") and not n.startswith(("sluice_process", "sluice_admin",
                                                                 "sluice_build"))), "job label")
    ok(f"/metrics: {len(samples)} samples, {len(types)} families")

    # -- hostile clients, while the job runs --
    rss0 = run.rss_kb()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    idle = []
    for _ in range(1000):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        idle.append(s)

    def conns():
        smp, _ = parse_metrics(run.metrics())
        return total(smp, "sluice_admin_connections") >= 1000
    wait_for(conns, 10, "1000 idle connections open")
    t0 = time.time()
    st, _, _ = run.request("GET", "/health/live")
    check(st == 200 and time.time() - t0 < 2, "responsive with 1000 idle connections")
    rss1 = run.rss_kb()
    check(SANITIZED or rss1 - rss0 < 10 * 1024,
          f"1000 idle connections cost {rss1 - rss0} KiB (< 10 MiB)")
    ok(f"1000 idle connections: RSS +{rss1 - rss0} KiB, still answering")

    # past the 1024-connection limit the oldest idle ones make room
    extra = []
    for i in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        extra.append(s)
    for s in extra:
        f = s.makefile("rb")
        resp = read_response(f)
        check(resp and resp[0] == 200, f"connection over the limit: {resp}")
    evicted = 0
    time.sleep(0.5)
    for s in idle[:200]:
        s.settimeout(0.02)
        try:
            evicted += s.recv(1) == b""
        except socket.timeout:
            pass
        except OSError:
            evicted += 1
    check(evicted >= 76, f"{evicted} of the oldest idle connections closed for room")
    for s in extra:
        s.close()
    ok(f"over the connection limit: new clients served, {evicted} oldest idle closed")

    # slow writers: one byte a second; dropped after the 10 s request limit
    slow = []
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHo")
        slow.append(s)
    slow_start = time.time()

    def drip():
        for _ in range(14):
            time.sleep(1)
            for s in slow:
                try:
                    s.sendall(b"o")
                except OSError:
                    pass
    dripper = threading.Thread(target=drip)
    dripper.start()
    # a client that asks for a lot and never reads: dropped once its
    # responses stall for the request limit
    dropped0 = total(parse_metrics(run.metrics())[0], "sluice_admin_connections_dropped_total")
    deaf = socket.create_connection(("127.0.0.1", port), timeout=5)
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 400)

    # oversized head -> 431 and closed
    out = raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 431 "), out[:80])
    out = raw(port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 414 "), out[:80])
    out = raw(port, b"POST /jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 413 "), out[:80])
    # methods
    for req, want in [(b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
                      (b"G@T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
                      (b"DELETE /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"405"),
                      (b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", b"405"),
                      (b"GET /metrics HTTP/3.0\r\nHost: x\r\n\r\n", b"505"),
                      (b"GET /metrics HTTP/1.1\r\n\r\n", b"400"),
                      (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", b"400"),
                      (b"GET /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"501")]:
        out = raw(port, req, timeout=3)
        check(out.startswith(b"HTTP/1.1 " + want), f"{req[:40]!r}: {out[:60]!r}")
    # traversal -> 404, on one keep-alive connection
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    f = s.makefile("rb")
    for path in ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/jobs/%2e%2e/metrics",
                 "/health%2flive", "/..%5c..%5cetc/passwd", "/./metrics", "/jobs/admin-test/..",
                 "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd", "/jobs/..%2f..%2fmetrics"]:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        resp = read_response(f)
        check(resp and resp[0] == 404 and b"root:" not in resp[2], f"{path}: {resp}")
    # pipelined: 60 requests in one write, answered in order
    paths = ["/health/live", "/jobs", "/nope", "/metrics", "/jobs/admin-test/checkpoints",
             "/jobs/other"] * 10
    want = {"/health/live": 200, "/jobs": 200, "/nope": 404, "/metrics": 200,
            "/jobs/admin-test/checkpoints": 200, "/jobs/other": 404}
    s.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for p in paths))
    for p in paths:
        resp = read_response(f)
        check(resp and resp[0] == want[p], f"pipelined {p}: {resp and resp[0]}")
        if p == "/jobs":
            check(json.loads(resp[2])["jobs"][0]["id"] == "admin-test", resp)
        if p == "/metrics":
            check(resp[2].startswith(b"# HELP"), resp[2][:40])
    s.close()
    # 2000 short connections in a row
    for i in range(2000):
        out = raw(port, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if not out.startswith(b"HTTP/1.1 200 "):
            fail(f"short connection {i}: {out[:80]!r}")
    ok("oversized heads 431/414/413, bad methods 4xx, traversal 404, 60 pipelined in order, "
       "2000 short connections")

    dripper.join()
    closed = 0
    for s in slow:
        s.settimeout(5)
        try:
            data = s.recv(4096)
            closed += data.startswith(b"HTTP/1.1 408 ") or data == b""
        except OSError:
            closed += 1
        s.close()
    check(closed == len(slow), f"{closed}/{len(slow)} slow writers dropped")
    dropped = total(parse_metrics(run.metrics())[0], "sluice_admin_connections_dropped_total")
    check(dropped >= dropped0 + 21, f"dropped {dropped0} -> {dropped}: 20 slow writers + 1 deaf reader")
    deaf.close()
    check(time.time() - slow_start < 30, "slow writers dropped in time")
    ok("20 slow writers dropped with 408 after the 10 s request limit; a client that never "
       "reads dropped too")

    st, _, _ = run.request("GET", "/health/live")
    check(st == 200, "alive after the hostile clients")
    check(run.get_json("/health")["job"]["state"] == "RUNNING", "the job ran on")
    for s in idle:
        s.close()
    rss2 = run.rss_kb()
    check(SANITIZED or rss2 - rss0 < 20 * 1024,
          f"RSS grew {rss2 - rss0} KiB through the hostile clients")
    ok(f"RSS bounded: {rss0} -> {rss1} -> {rss2} KiB")

    # -- job control --
    st, _, body = run.request("PATCH", "/jobs/admin-test?mode=stop")
    check(st == 409 and b"savepoint" in body, (st, body))
    st, _, body = run.request("PATCH", "/jobs/admin-test?mode=bogus")
    check(st == 400, (st, body))
    st, _, _ = run.request("PATCH", "/jobs/nope?mode=cancel")
    check(st == 404, st)
    st, h, _ = run.request("POST", "/jobs/admin-test", body=b"")
    check(st == 405 and "PATCH" in h.get("allow", ""), (st, h))
    st, _, body = run.request("PATCH", "/jobs/admin-test?mode=cancel")
    check(st == 202 and json.loads(body) == {}, (st, body))

    def canceled():
        return run.get_json("/jobs/admin-test")["state"] == "CANCELED"
    wait_for(canceled, 20, "state CANCELED")
    st, _, body = run.request("GET", "/health/ready")
    check(st == 503 and json.loads(body)["status"] == "DOWN", (st, body))
    final, _ = parse_metrics(run.metrics())
    jfinal = run.get_json("/jobs/admin-test")
    check(jfinal["end-time"] > 0, jfinal["end-time"])
    st, _, body = run.request("PATCH", "/jobs/admin-test?mode=cancel")
    check(st == 409, (st, body))
    rc = run.wait(60)
    check(rc == 0, f"exit {rc}:\n{run.log()[-2000:]}")
finally:
    run.kill()

with open(sj) as f:
    s = json.load(f)
check(total(final, "sluice_records_in_total") == s["records_in"],
      f"records_in: metrics {total(final, 'sluice_records_in_total')} summary {s['records_in']}")
check(total(final, "sluice_records_out_total") == s["records_out"], "records_out")
check(total(final, "sluice_bad_records_total") == s["bad_records"], "bad_records")
check(total(final, "sluice_dead_letter_records_total") == s["dead_letters"], "dead_letters")
check(s["bad_records"] > 0 and s["dead_letters"] == s["bad_records"], f"bad rows went to the dead letters {s}")
check(total(final, "sluice_node_records_out_total", node="gen") == s["records_in"],
      "source node out == records_in")
sink_in = (total(final, "sluice_node_records_in_total", node="rows")
           + total(final, "sluice_node_records_in_total", node="counts"))
check(sink_in == s["records_out"], f"sinks' rows in {sink_in} == records_out {s['records_out']}")
check(total(final, "sluice_latency_seconds_count") == s["records_out"], "latency count")
check(jfinal["metrics"]["records_in"] == s["records_in"], "job JSON totals")
log = run.log()
check("cancel requested through the admin API" in log, "cancel logged")
check('alert resolved" alert=flowing' in log, "resolved when the job ended")
ok(f"cancel via PATCH; final /metrics == --summary-json ({s['records_in']} in, "
   f"{s['records_out']} out, {s['bad_records']} bad)")

# webhook: firing (failed once, retried with the same key) and resolved, each
# delivered exactly once
with lock:
    got = list(received)
firing_keys = [k for k, b, _ in got if b["status"] == "firing"]
resolved_keys = [k for k, b, _ in got if b["status"] == "resolved"]
check(len(firing_keys) == 2 and firing_keys[0] == firing_keys[1], f"firing attempts {firing_keys}")
check(len(resolved_keys) == 1 and resolved_keys[0] != firing_keys[0], f"resolved {resolved_keys}")
b = got[-1][1]
check(b["alerts"][0]["labels"] == {"alertname": "flowing", "job": "admin-test", "severity": "warning"}
      and b["alerts"][0]["annotations"]["rule"] == "records_per_s > 10 for 2s"
      and b["alerts"][0]["endsAt"] > b["alerts"][0]["startsAt"], b)
check(firing_keys[0].split("-")[0] == resolved_keys[0].split("-")[0], "one fingerprint per episode")
check(all(b2["alerts"][0]["labels"]["alertname"] == "flowing" for _, b2, _ in got), "only 'flowing'")
ok("webhook: firing retried after 500 with the same Idempotency-Key, resolved once")
hook.shutdown()

# ---- a bounded run: the final counts equal what was processed ----
job2 = write(os.path.join(d, "bounded.yaml"), """
job: bounded
admin: {listen: 127.0.0.1:0, linger: 5s}
sources:
  gen: {type: generator, records: 40000, rate: 20000, keys: 1000, seed: 3}
steps:
  f: {from: gen, op: filter, where: "phone IS NOT NULL"}
sinks:
  out: {from: f, type: blackhole}
""")
sj2 = os.path.join(d, "bounded.json")
run = Run(job2, ["--workers", "2", "--summary-json", sj2], d=d)
try:
    run.wait_listening()
    wait_for(lambda: run.get_json("/jobs/bounded")["state"] == "FINISHED", 30, "FINISHED")
    fin, _ = parse_metrics(run.metrics())
    h = run.get_json("/health")
    check(h["sources"][0]["state"] == "FINISHED" and h["status"] == "UP", h)
    o = run.get_json("/overview")
    check(o["jobs-finished"] == 1 and o["jobs-running"] == 0, o)
    check(run.request("GET", "/health/ready")[0] == 503, "not ready once finished")
    check(run.wait(30) == 0, run.log())
finally:
    run.kill()
with open(sj2) as f:
    s2 = json.load(f)
check(total(fin, "sluice_records_in_total") == s2["records_in"] > 0, (s2, "records_in"))
check(total(fin, "sluice_records_out_total") == s2["records_out"], "records_out")
check(total(fin, "sluice_node_records_in_total", node="f") == s2["records_in"], "filter in")
check(total(fin, "sluice_node_records_out_total", node="f") == s2["records_out"], "filter out")
ok(f"bounded run: /metrics after the end == summary ({s2['records_in']} rows)")

# ---- bearer token; non-loopback needs one ----
tok = "t0k-" + os.urandom(8).hex()
tf = write(os.path.join(d, "token"), tok + "\n")
job3 = write(os.path.join(d, "token.yaml"), f"""
job: tok
admin: {{listen: 0.0.0.0:0, token_file: {tf}}}
sources:
  gen: {{type: generator, records: -1, rate: 1000}}
sinks:
  out: {{from: gen, type: blackhole}}
""")
run = Run(job3, ["--workers", "1"], d=d)
try:
    run.wait_listening()
    check("addr=0.0.0.0:" in run.log() and "auth=bearer" in run.log(), run.log())
    for path in ["/metrics", "/health", "/jobs", "/alerts", "/jobs/tok"]:
        st, h, body = run.request("GET", path)
        check(st == 401 and h.get("www-authenticate", "").startswith("Bearer")
              and tok.encode() not in body, (path, st))
        st, _, _ = run.request("GET", path, headers={"Authorization": "Bearer " + tok[:-1] + "x"})
        check(st == 401, (path, st))
        st, _, body = run.request("GET", path, headers={"Authorization": "Bearer " + tok})
        check(st == 200 and tok.encode() not in body, (path, st))
    check(run.request("GET", "/health/live")[0] == 200, "/health/live needs no token")
    st, h, body = run.request("GET", "/")
    check(st == 200 and b"<title>sluice</title>" in body and tok.encode() not in body,
          "the static page needs no token (its data requests do)")
    st, _, _ = run.request("PATCH", "/jobs/tok?mode=cancel")
    check(st == 401, st)
    st, _, _ = run.request("PATCH", "/jobs/tok?mode=cancel", headers={"Authorization": "Bearer " + tok})
    check(st == 202, st)
    check(run.wait(30) == 0, run.log())
    check(tok not in run.log(), "the token is never logged")
finally:
    run.kill()
ok("bearer token: 401 without or with a wrong token, never echoed or logged")

job4 = write(os.path.join(d, "notoken.yaml"), f"""
job: nt
admin: {{listen: 127.0.0.1:0, token_file: {d}/missing-token}}
sources:
  gen: {{type: generator, records: -1, rate: 1000}}
sinks:
  out: {{from: gen, type: blackhole}}
""")
p = subprocess.run([SLUICE, "run", job4, "--workers", "1"], capture_output=True, text=True, timeout=60)
check(p.returncode != 0 and "admin.token_file" in p.stderr and "missing-token" in p.stderr,
      f"missing token file fails the job: {p.returncode} {p.stderr[-500:]}")
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen(1)
job5 = write(os.path.join(d, "busy.yaml"), f"""
job: busy
admin: {{listen: 127.0.0.1:{busy.getsockname()[1]}}}
sources:
  gen: {{type: generator, records: -1, rate: 1000}}
sinks:
  out: {{from: gen, type: blackhole}}
""")
p = subprocess.run([SLUICE, "run", job5, "--workers", "1"], capture_output=True, text=True, timeout=60)
check(p.returncode != 0 and "cannot listen on 127.0.0.1:" in p.stderr, p.stderr[-500:])
busy.close()
job6 = write(os.path.join(d, "off.yaml"), """
job: off
admin: {listen: off}
sources:
  gen: {type: generator, records: 1000}
sinks:
  out: {from: gen, type: blackhole}
""")
p = subprocess.run([SLUICE, "run", job6, "--workers", "1"], capture_output=True, text=True, timeout=60)
check(p.returncode == 0 and "admin listening" not in p.stderr, p.stderr)
ok("token file missing and address taken fail the job clearly; listen: off serves nothing")
