"""The dashboard in headless Chromium (Debian `chromium`), driven over the
DevTools protocol on a pipe: the page loads, shows the job graph and live
numbers that move, and logs no console errors or exceptions; with a token,
the page works once given /#token=... . Skips (77) without chromium."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from admin_common import Run, wait_for
from common import check, fail, ok, tmpdir, write

CHROME = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
               if shutil.which(n)), None)
if not CHROME:
    print("SKIP: chromium not installed (Debian package 'chromium')")
    sys.exit(77)

d = tmpdir("dashboard")


class Browser:
    """Chromium with --remote-debugging-pipe: JSON messages ended by NUL on
    fds 3 (to the browser) and 4 (from it)."""

    def __init__(self):
        r_to, w_to = os.pipe()      # we write, chromium reads on fd 3
        r_from, w_from = os.pipe()  # chromium writes on fd 4, we read
        self.profile = tempfile.mkdtemp(prefix="sluice-chromium-")
        args = [CHROME, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-extensions",
                "--remote-debugging-pipe", f"--user-data-dir={self.profile}", "about:blank"]

        def fds():
            os.dup2(r_to, 3)
            os.dup2(w_from, 4)
        self.log = open(os.path.join(d, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=self.log, pass_fds=(3, 4), preexec_fn=fds)
        os.close(r_to)
        os.close(w_from)
        self.w, self.r = w_to, r_from
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def _read_msg(self, timeout):
        end = time.time() + timeout
        import select
        while b"\0" not in self.buf:
            left = end - time.time()
            if left <= 0:
                return None
            rl, _, _ = select.select([self.r], [], [], left)
            if rl:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    fail("chromium closed the DevTools pipe")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        m = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            m["sessionId"] = self.session
        os.write(self.w, json.dumps(m).encode() + b"\0")
        end = time.time() + timeout
        while time.time() < end:
            r = self._read_msg(end - time.time())
            if r is None:
                break
            if r.get("id") == self.next_id:
                if "error" in r:
                    fail(f"{method}: {r['error']}")
                return r.get("result", {})
            self.events.append(r)
        fail(f"{method}: no answer in {timeout} s")

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r = self._read_msg(end - time.time())
            if r is not None:
                self.events.append(r)

    def open(self, url):
        t = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        a = self.call("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True},
                      session=False)
        self.session = a["sessionId"]
        for m in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(m)
        self.call("Page.navigate", {"url": url})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True})
        if "exceptionDetails" in r:
            fail(f"evaluate {expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def problems(self):
        """Console errors, uncaught exceptions, failed loads."""
        out = []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p["exceptionDetails"])[:400])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.error: " + json.dumps(p.get("args"))[:400])
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append("log: " + p["entry"].get("text", "")[:400])
        return out

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except SystemExit:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


SNAP = """(() => {
  const t = id => { const e = document.getElementById(id); return e ? e.textContent : ""; };
  return {state: t("state"), job: t("job"), tin: t("k-tin"), rate: t("k-in"), p99: t("k-p99"),
          err: t("err"), rects: document.querySelectorAll("#graph rect").length,
          edges: document.querySelectorAll("#graph path").length,
          nodes: document.querySelectorAll("#nodes tbody tr").length,
          alerts: document.querySelectorAll("#alerts tbody tr").length,
          lines: document.querySelectorAll("#c-tp path").length,
          ckpt: t("ckpt")};
})()"""


def number(s):
    m = {"k": 1e3, "M": 1e6, "G": 1e9}
    s = s.strip()
    return float(s[:-1]) * m[s[-1]] if s and s[-1] in m else float(s)


def check_page(b, url, job_name, n_nodes, n_edges):
    b.open(url)
    wait_for(lambda: b.eval(SNAP)["state"] == "RUNNING", 20, "the page shows RUNNING")
    b.pump(2.5)
    s1 = b.eval(SNAP)
    b.pump(2.5)
    s2 = b.eval(SNAP)
    check(s1["job"] == job_name and s1["err"] == "", s1)
    check(s1["rects"] == n_nodes and s1["edges"] == n_edges and s1["nodes"] == n_nodes, s1)
    check(s1["alerts"] == 1 and s1["lines"] == 2, s1)
    check("not configured" in s1["ckpt"], s1)
    check(number(s2["tin"]) > number(s1["tin"]) > 0, f"records in moves: {s1['tin']} -> {s2['tin']}")
    check(number(s2["rate"]) > 0 and s2["p99"].endswith(("s", "ms")), s2)
    probs = b.problems()
    check(not probs, "console errors:\n" + "\n".join(probs))
    return s1, s2


job = write(os.path.join(d, "job.yaml"), """
job: dash
admin: {listen: 127.0.0.1:0}
alerts: ["backpressure > 0.8 for 5m"]
sources:
  gen: {type: generator, records: -1, rate: 5000}
steps:
  f: {from: gen, op: filter, where: "phone IS NOT NULL"}
  agg: {from: f, op: aggregate, key: [customer_id], aggregates: {n: count}, emit: updates}
sinks:
  rows: {from: f, type: blackhole}
  counts: {from: agg, type: blackhole}
""")
run = Run(job, ["--workers", "2"], d=d)
b = None
try:
    port = run.wait_listening()
    b = Browser()
    # nodes: gen, f, agg.key_by (inserted), agg, rows, counts; edges: 5
    s1, s2 = check_page(b, f"http://127.0.0.1:{port}/", "dash", 6, 5)
    ok(f"dashboard: graph of 6 nodes, records in {s1['tin']} -> {s2['tin']}, "
       f"{s2['rate']}/s, p99 {s2['p99']}, no console errors")
    b.close()
    b = None
    st, _, _ = run.request("PATCH", "/jobs/dash?mode=cancel")
    check(st == 202, st)
    check(run.wait(60) == 0, run.log()[-2000:])
finally:
    run.kill()
    if b:
        b.close()

# With a token: the page itself loads without one, its data needs /#token=.
tok = "dash-" + os.urandom(6).hex()
tf = write(os.path.join(d, "token"), tok)
job2 = write(os.path.join(d, "tok.yaml"), f"""
job: dash2
admin: {{listen: 127.0.0.1:0, token_file: {tf}}}
alerts: ["records_per_s < 1 for 1m"]
sources:
  gen: {{type: generator, records: -1, rate: 5000}}
sinks:
  out: {{from: gen, type: blackhole}}
""")
run = Run(job2, ["--workers", "1"], d=d)
b = None
try:
    port = run.wait_listening()
    b = Browser()
    b.open(f"http://127.0.0.1:{port}/")
    wait_for(lambda: "unauthorized" in b.eval(SNAP)["err"], 20, "the page says unauthorized")
    b.close()
    b = Browser()
    s1, s2 = check_page(b, f"http://127.0.0.1:{port}/#token={tok}", "dash2", 2, 1)
    check(b.eval("location.hash") == "", "the token leaves the address bar")
    ok("dashboard with a token: unauthorized without, live with /#token=")
finally:
    run.kill()
    if b:
        b.close()
