"""A throw-away Kafka broker for the integration tests: librdkafka's mock cluster run by
tools/kafka-mock (build/kafka-mock), plus kcat helpers to produce and consume. Skips the
test (exit 77) with the reason when kcat or the kafka-mock binary (librdkafka) is absent.

    from kafka_common import KafkaMock
    k = KafkaMock(topics={"orders": 12})          # started, stopped at exit
    k.produce("orders", ["{...}", ...], partition=3)
    k.produce("orders", [("key", "{...}"), ...], partition=0)   # keyed (kcat -K)
    rows = k.consume("orders")  # [(partition, offset, key, value), ...] in partition/offset order
                                # (key/value None when null)
    k.command("down 1"); k.command("up 1")

Limits of the mock (librdkafka 2.0.2): about 5 MiB kept per partition (older records are
silently dropped, so spread big inputs over partitions), it cannot restart on the same
ports, group rebalances wait for session.timeout.ms, transactions are not enforced.
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from common import SRC, fail

KEY_DELIM = "\x1f"   # kcat -K delimiter for keyed produce; never in test keys or values
FIELD_DELIM = "\x1e"  # field separator in consume()'s kcat -f format
RECORD_END = "\x1d"  # record terminator in consume()'s kcat -f format


def _skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def kcat_path():
    return shutil.which("kcat") or shutil.which("kafkacat")


def mock_path():
    """build/kafka-mock next to the sluice binary under test, or SLUICE_KAFKA_MOCK."""
    env = os.environ.get("SLUICE_KAFKA_MOCK")
    if env:
        return env
    sluice = os.environ.get("SLUICE")
    d = os.path.dirname(sluice) if sluice else os.path.join(SRC, "build")
    return os.path.join(d, "kafka-mock")


_signals_installed = False


def _exit_on_sigterm():
    """meson's timeout sends SIGTERM: turn it into sys.exit so atexit stops the broker."""
    global _signals_installed
    if _signals_installed:
        return
    _signals_installed = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))


class KafkaMock:
    """One mock cluster in a subprocess; started by the constructor, stopped at exit."""

    def __init__(self, brokers=1, topics=None):
        self.kcat = kcat_path()
        if not self.kcat:
            _skip("kcat not found (Debian package `kcat`; tools/deps installs it)")
        exe = mock_path()
        if not os.access(exe, os.X_OK):
            _skip(f"{exe} not built (needs librdkafka-dev: Debian package `librdkafka-dev`)")
        _exit_on_sigterm()
        args = [exe, "--brokers", str(brokers)]
        for name, n in (topics or {}).items():
            args += ["--topic", f"{name}:{n}"]
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        atexit.register(self.stop)
        self.bootstrap = self.proc.stdout.readline().strip()
        if not self.bootstrap:
            self.stop()
            self.stderr.seek(0)
            fail(f"kafka-mock did not start: {self.stderr.read()[-2000:]}")

    def command(self, line):
        """Sends one stdin command; returns "ok" or fails the test with the mock's error."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            fail(f"kafka-mock: {line!r}: {answer or 'no answer (exited?)'}")
        return answer

    def create_topic(self, name, partitions):
        self.command(f"topic {name}:{partitions}")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def produce(self, topic, records, partition=None, timeout=120, batch_messages=None):
        """Writes records (strings, or (key, value) pairs) with kcat, one per line, to
        partition (or kcat's partitioner when None). Values must not contain newlines.
        batch_messages: at most this many records per record batch (a fetch returns
        whole batches, so small ones make fetch size limits bite)."""
        records = list(records)
        if not records:
            return
        keyed = isinstance(records[0], tuple)
        args = [self.kcat, "-P", "-b", self.bootstrap, "-t", topic, "-z", "none",
                "-X", "linger.ms=5", "-X", "queue.buffering.max.messages=1000000"]
        if partition is not None:
            args += ["-p", str(partition)]
        if batch_messages:
            args += ["-X", f"batch.num.messages={batch_messages}"]
        if keyed:
            args += ["-K", KEY_DELIM]
            data = "".join(f"{k}{KEY_DELIM}{v}\n" for k, v in records)
        else:
            data = "".join(f"{v}\n" for v in records)
        p = subprocess.run(args, input=data, capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            fail(f"kcat produce to {topic} exited {p.returncode}: {p.stderr[-2000:]}")

    def consume(self, topic, timeout=120, headers=False, extra=()):
        """Every record of topic from the beginning: [(partition, offset, key, value)]
        (with headers=True, a fifth item: kcat's "k=v,k2=v2" header text) sorted by
        partition and offset. A null key or value (a tombstone) is None. Values may hold
        newlines; not RECORD_END or FIELD_DELIM. extra: more kcat arguments (e.g.
        ["-X", "isolation.level=read_committed"])."""
        fields = ["%p", "%o", "%K", "%k", "%S", "%s"] + (["%h"] if headers else [])
        fmt = FIELD_DELIM.join(fields) + RECORD_END
        p = subprocess.run([self.kcat, "-C", "-b", self.bootstrap, "-t", topic, "-e", "-q",
                            "-o", "beginning", "-f", fmt, *extra], capture_output=True,
                           timeout=timeout)
        if p.returncode != 0:
            fail(f"kcat consume {topic} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        out = []
        for rec in p.stdout.decode().split(RECORD_END):
            if not rec:
                continue
            f = rec.split(FIELD_DELIM, len(fields) - 1)
            key = None if f[2] == "-1" else f[3]
            value = None if f[4] == "-1" else f[5]
            r = (int(f[0]), int(f[1]), key, value)
            out.append(r + (f[6],) if headers else r)
        out.sort(key=lambda r: (r[0], r[1]))
        return out
