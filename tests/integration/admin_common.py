"""Helpers for the admin tests: start `sluice run` with an admin server on a
free port, plain HTTP requests, and a Prometheus text-format reader."""
import http.client
import json
import os
import re
import socket
import subprocess
import time

from common import SLUICE, fail

LISTEN_RE = re.compile(r'msg="admin listening" addr=([0-9.]+|\[[0-9a-f:]+\]):(\d+)')


class Run:
    """A `sluice run` in the background; stderr goes to a file."""

    def __init__(self, job, args=(), env=None, d=None):
        self.err_path = os.path.join(d or os.path.dirname(job), "stderr.log")
        self.err = open(self.err_path, "w")
        e = dict(os.environ)
        e.pop("CI", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([SLUICE, "run", job] + list(args), stdout=subprocess.DEVNULL,
                                     stderr=self.err, env=e)
        self.host, self.port = None, None

    def log(self):
        with open(self.err_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def wait_listening(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            m = LISTEN_RE.search(self.log())
            if m:
                self.host = "127.0.0.1" if m.group(1) in ("0.0.0.0", "127.0.0.1") else m.group(1)
                self.port = int(m.group(2))
                return self.port
            if self.proc.poll() is not None:
                fail(f"sluice exited {self.proc.returncode} before listening:\n{self.log()}")
            time.sleep(0.05)
        fail(f"no 'admin listening' line after {timeout} s:\n{self.log()}")

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"sluice did not exit within {timeout} s:\n{self.log()[-3000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def request(self, method, path, body=None, headers=None, timeout=10):
        """(status, headers dict lower-cased, body bytes) over a new connection."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def get_json(self, path, headers=None, want=200):
        st, h, body = self.request("GET", path, headers=headers)
        if st != want:
            fail(f"GET {path}: status {st}, want {want}: {body[:500]!r}")
        if not h.get("content-type", "").startswith("application/json"):
            fail(f"GET {path}: content-type {h.get('content-type')}")
        try:
            return json.loads(body)
        except ValueError as e:
            fail(f"GET {path}: not JSON ({e}): {body[:500]!r}")

    def metrics(self, headers=None):
        st, h, body = self.request("GET", "/metrics", headers=headers)
        if st != 200:
            fail(f"GET /metrics: {st} {body[:300]!r}")
        return body.decode()


def raw(port, data, timeout=5.0, read=True):
    """Sends bytes on a new connection, returns everything read until the
    server closes or goes quiet for `timeout` seconds."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def read_response(sock_file):
    """One HTTP/1.1 response from a file-like socket: (status, headers, body)."""
    line = sock_file.readline()
    if not line:
        return None
    parts = line.decode().split(" ", 2)
    status = int(parts[1])
    headers = {}
    while True:
        h = sock_file.readline().decode()
        if h in ("\r\n", "\n", ""):
            break
        k, v = h.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = sock_file.read(n) if n else b""
    return status, headers, body


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ", 3)
            types[name] = typ
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            fail(f"metrics: bad line {line!r}")
        labels = dict(LABEL_RE.findall(m.group(3) or ""))
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return samples, types


def total(samples, name, **match):
    """Sum of the samples of `name` whose labels include `match`."""
    s = 0.0
    for (n, labels), v in samples.items():
        if n == name and all((k, v2) in labels for k, v2 in match.items()):
            s += v
    return s


def wait_for(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    fail(f"timed out after {timeout} s waiting for {what}")
