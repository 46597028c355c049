"""A throw-away PostgreSQL server for the integration tests: initdb in a temporary
directory, logical replication on, a free port on 127.0.0.1, stopped and removed
at exit. Skips the test (exit 77) with the reason when the Debian server binaries
are absent.

    from pg_common import PgServer
    pg = PgServer("cdc")                 # initdb + start
    pg.sql("CREATE TABLE t (id int PRIMARY KEY, v text)")
    rows = pg.sql("SELECT id, v FROM t ORDER BY id")   # [["1", "a"], ...]
    dsn = pg.dsn()       # host=127.0.0.1 port=N dbname=sluice user=sluice password=s3cret-pw

Roles: `sluice` (LOGIN, REPLICATION, owns database `sluice`) has the password
`s3cret-pw` and must give it over TCP (scram-sha-256), so tests can check how
secrets are handled: dsn(password=False) is refused by the server. Everything
else is trust: the superuser `postgres` over TCP or the Unix socket, and any
role over the socket (which is how sql() connects).
"""
import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from common import fail

PASSWORD = "s3cret-pw"
USER = "sluice"
DBNAME = "sluice"
SUPERUSER = "postgres"


def _skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(77)


def find_bindir():
    """The newest /usr/lib/postgresql/*/bin holding the server binaries, or None.
    SLUICE_PG_BINDIR overrides."""
    need = ("initdb", "pg_ctl", "postgres", "psql", "pg_isready")
    env = os.environ.get("SLUICE_PG_BINDIR")
    cands = [env] if env else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: [int(x) if x.isdigit() else 0 for x in re.split(r"[/.]", p)],
        reverse=True)
    for d in cands:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in need):
            return d
    return None


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_user():
    """(name, uid, gid) of the OS user the server runs as: ourselves, or when we
    are root (initdb refuses root) `postgres`, else `sluicepg`, created if needed."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return pw.pw_name, pw.pw_uid, pw.pw_gid
    for name in ("postgres", "sluicepg"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_name, pw.pw_uid, pw.pw_gid
        except KeyError:
            pass
    p = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "sluicepg"], capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"running as root and no unprivileged user for PostgreSQL: useradd sluicepg: "
             f"{p.stderr.strip()}")
    pw = pwd.getpwnam("sluicepg")
    return pw.pw_name, pw.pw_uid, pw.pw_gid


_stop_on_signal_installed = False


def _exit_on_sigterm():
    """meson's timeout sends SIGTERM: turn it into sys.exit so atexit stops the server."""
    global _stop_on_signal_installed
    if _stop_on_signal_installed:
        return
    _stop_on_signal_installed = True
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))


class PgError(Exception):
    """A statement the server refused (try_sql / sql(check=False)); .stderr has psql's text."""

    def __init__(self, query, rc, stderr):
        super().__init__(f"psql exited {rc} on {query[:200]!r}: {stderr.strip()}")
        self.query, self.rc, self.stderr = query, rc, stderr


class PgServer:
    """One server in its own temporary directory. Started by the constructor unless
    start=False; stopped and removed at interpreter exit (even when the test fails;
    SLUICE_KEEP_TMP=1 keeps the directory, the server is stopped all the same).
    settings: extra postgresql.conf lines, e.g. {"log_min_messages": "debug1"}."""

    def __init__(self, name="pg", start=True, settings=None):
        self.bindir = find_bindir()
        if not self.bindir:
            _skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb, "
                  "pg_ctl, postgres, psql, pg_isready: Debian package `postgresql`)")
        self.os_user, self.uid, self.gid = _server_user()
        self.dir = tempfile.mkdtemp(prefix=f"sluice-{name}-")
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "sock")
        self.logfile = os.path.join(self.dir, "server.log")
        self.port = free_port()
        self.running = False
        self._has_roles = False
        self._settings = dict(settings or {})
        atexit.register(self._cleanup)
        _exit_on_sigterm()
        # The server user needs to reach its files: the directory is ours (0700
        # from mkdtemp), so open it for traversal and give it the parts it writes.
        os.chmod(self.dir, 0o711)
        for d in (self.data, self.sockdir):
            os.mkdir(d, 0o700)
            os.chown(d, self.uid, self.gid)
        with open(self.logfile, "w"):
            pass
        os.chown(self.logfile, self.uid, self.gid)
        probe = self._as_server_user(["test", "-w", self.sockdir], check=False)
        if probe.returncode != 0:
            fail(f"user {self.os_user} cannot write {self.sockdir} (is {tempfile.gettempdir()} "
                 f"traversable for it? set TMPDIR to a directory that is)")
        self._initdb()
        if start:
            self.start()

    # ---- running things ---------------------------------------------------------------

    def bin(self, name):
        """Absolute path of a PostgreSQL program (pg_recvlogical, pgbench, ...)."""
        return os.path.join(self.bindir, name)

    def _env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        e["LC_ALL"] = "C"
        e["PGCONNECT_TIMEOUT"] = "10"
        return e

    def _as_server_user(self, args, check=True, timeout=120):
        cmd = list(args)
        if os.geteuid() == 0 and self.uid != 0:
            cmd = ["runuser", "-u", self.os_user, "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self._env(),
                           cwd=self.dir)
        if check and p.returncode != 0:
            fail(f"{' '.join(args)} exited {p.returncode}\nstdout:\n{p.stdout[-3000:]}\n"
                 f"stderr:\n{p.stderr[-3000:]}\nserver log:\n{self.log()[-5000:]}")
        return p

    def log(self):
        """The server's log so far."""
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # ---- set-up -------------------------------------------------------------------------

    def _initdb(self):
        self._as_server_user([self.bin("initdb"), "-D", self.data, "-U", SUPERUSER,
                              "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write(f"""# written by tests/integration/pg_common.py
# TYPE  DATABASE     USER       ADDRESS        METHOD
local   all          all                       trust
local   replication  all                       trust
host    all          {USER}     127.0.0.1/32   scram-sha-256
host    replication  {USER}     127.0.0.1/32   scram-sha-256
host    all          all        127.0.0.1/32   trust
host    replication  all        127.0.0.1/32   trust
""")
        self._write_conf()

    def _write_conf(self):
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockdir}'",
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            "max_prepared_transactions": "20",
            "max_connections": "100",
            "fsync": "on",
            "synchronous_commit": "on",
            "password_encryption": "'scram-sha-256'",
            "shared_buffers": "64MB",
            "timezone": "'UTC'",
            "log_timezone": "'UTC'",
            "datestyle": "'iso, mdy'",
            "logging_collector": "off",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        conf.update({k: str(v) for k, v in self._settings.items()})
        path = os.path.join(self.data, "postgresql.auto.conf")
        with open(path, "w") as f:
            f.write("# written by tests/integration/pg_common.py\n")
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
        os.chown(path, self.uid, self.gid)

    def _create_roles(self):
        self.sql(f"CREATE ROLE {USER} LOGIN REPLICATION PASSWORD '{PASSWORD}'", user=SUPERUSER,
                 dbname="postgres")
        self.sql(f"CREATE DATABASE {DBNAME} OWNER {USER}", user=SUPERUSER, dbname="postgres")

    # ---- start / stop -----------------------------------------------------------------

    def _pg_ctl(self, *args, check=True, timeout=120):
        return self._as_server_user([self.bin("pg_ctl"), "-D", self.data, "-l", self.logfile]
                                    + list(args), check=check, timeout=timeout)

    def _wait_ready(self, timeout):
        """Until a query over TCP succeeds (pg_isready first, as it is cheap)."""
        end = time.time() + timeout
        while time.time() < end:
            p = subprocess.run([self.bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                                str(self.port), "-d", "postgres", "-U", SUPERUSER],
                               env=self._env(), capture_output=True)
            if p.returncode == 0:
                q = self._psql("SELECT 1", SUPERUSER, "postgres", host="127.0.0.1")
                if q.returncode == 0:
                    return True
            time.sleep(0.1)
        return False

    def start(self, timeout=60):
        """Starts the server and waits until it answers queries; fails the test with
        the server log if it does not. Picks another port if ours was taken."""
        if self.running:
            return
        for attempt in range(3):
            log_from = len(self.log())
            p = self._pg_ctl("start", "-w", "-t", str(timeout), check=False, timeout=timeout + 30)
            if p.returncode == 0 and self._wait_ready(timeout):
                break
            log = self.log()[log_from:]
            self._pg_ctl("stop", "-m", "immediate", check=False)
            if "could not bind" in log or "Address already in use" in log:
                self.port = free_port()
                self._write_conf()
                continue
            fail(f"PostgreSQL did not start (pg_ctl exited {p.returncode}):\n{p.stdout}\n"
                 f"{p.stderr}\nserver log:\n{log[-5000:]}")
        else:
            fail(f"PostgreSQL: no free port after 3 attempts:\n{self.log()[-5000:]}")
        self.running = True
        if not self._has_roles:
            self._create_roles()
            self._has_roles = True

    def stop(self, mode="fast"):
        """Stops the server (mode: smart, fast, immediate)."""
        if not self.running:
            return
        p = self._pg_ctl("stop", "-w", "-t", "60", "-m", mode, check=False, timeout=90)
        if p.returncode != 0 and mode != "immediate":
            p = self._pg_ctl("stop", "-w", "-t", "30", "-m", "immediate", check=False, timeout=60)
        self.running = False
        if p.returncode != 0:
            fail(f"pg_ctl stop exited {p.returncode}: {p.stderr}\nserver log:\n"
                 f"{self.log()[-5000:]}")

    def restart(self, mode="fast", timeout=60):
        """pg_ctl restart: every client is disconnected (replication too); returns
        once the server answers queries again on the same port."""
        if not self.running:
            return self.start(timeout)
        p = self._pg_ctl("restart", "-w", "-t", str(timeout), "-m", mode, check=False,
                         timeout=timeout + 60)
        if p.returncode != 0 or not self._wait_ready(timeout):
            fail(f"PostgreSQL restart failed (pg_ctl exited {p.returncode}):\n{p.stderr}\n"
                 f"server log:\n{self.log()[-5000:]}")

    def _cleanup(self):
        try:
            if self.running:
                self.stop("immediate")
        except SystemExit:
            pass
        finally:
            self._kill_leftover()
            if not os.environ.get("SLUICE_KEEP_TMP"):
                shutil.rmtree(self.dir, True)

    def _kill_leftover(self):
        """If pg_ctl could not stop it, SIGKILL the postmaster we started: the pid in
        our pid file, and only if that process runs on our data directory (never by
        name); its children exit when they see it gone."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if self.data.encode() not in f.read():
                    return
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    # ---- connecting -------------------------------------------------------------------

    def dsn(self, password=True, user=USER, dbname=DBNAME, **extra):
        """libpq conninfo string over TCP: host=127.0.0.1 port=N dbname=sluice user=sluice
        [password=s3cret-pw]; extra keywords are appended (replication="database")."""
        parts = [f"host=127.0.0.1 port={self.port} dbname={dbname} user={user}"]
        if password:
            parts.append(f"password={PASSWORD}")
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def _psql(self, query, user, dbname, host=None, timeout=120):
        args = [self.bin("psql"), "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                "-h", host or self.sockdir, "-p", str(self.port), "-U", user, "-d", dbname,
                "-f", "-"]
        return subprocess.run(args, input=query, capture_output=True, text=True, timeout=timeout,
                              env=self._env())

    def try_sql(self, query, user=USER, dbname=DBNAME, timeout=120):
        """Runs query (any number of statements, each its own transaction unless
        the text says BEGIN) with psql over the Unix socket. Returns the rows of
        the output as lists of strings (NULL is ""); raises PgError on an error."""
        p = self._psql(query, user, dbname, timeout=timeout)
        if p.returncode != 0:
            raise PgError(query, p.returncode, p.stderr)
        return [line.split("\t") for line in p.stdout.splitlines()]

    def sql(self, query, user=USER, dbname=DBNAME, timeout=120, check=True):
        """try_sql, failing the test on an error (check=False: raise PgError instead)."""
        try:
            return self.try_sql(query, user, dbname, timeout)
        except PgError as e:
            if not check:
                raise
            fail(f"{e}\nserver log:\n{self.log()[-3000:]}")

    def value(self, query, **kw):
        """The single value query returns (first column of the first row), or None."""
        rows = self.sql(query, **kw)
        return rows[0][0] if rows else None


if __name__ == "__main__":
    # Self-test: start, write, read, restart, read again, stop.
    from common import check, ok
    pg = PgServer("pgselftest")
    check(pg.value("SHOW wal_level") == "logical", "wal_level is not logical")
    check(pg.value("SHOW max_prepared_transactions") == "20", "max_prepared_transactions")
    pg.sql("CREATE TABLE t (id int PRIMARY KEY, v text, x float8)")
    pg.sql("INSERT INTO t VALUES (1, 'one', 1.5), (2, NULL, 'NaN');\n"
           "INSERT INTO t VALUES (3, 'a b', -0.25)")
    want = [["1", "one", "1.5"], ["2", "", "NaN"], ["3", "a b", "-0.25"]]
    got = pg.sql("SELECT id, v, x FROM t ORDER BY id")
    check(got == want, f"rows {got}, want {want}")
    check(pg.value("SELECT rolreplication FROM pg_roles WHERE rolname = 'sluice'") == "t",
          "sluice has REPLICATION")
    # The password is needed over TCP, and enough.
    psql = [pg.bin("psql"), "-XAtq", "-c", "SELECT current_user"]
    p = subprocess.run(psql + ["-d", pg.dsn()], capture_output=True, text=True, env=pg._env())
    check(p.returncode == 0 and p.stdout.strip() == "sluice", f"dsn with password: {p.stderr}")
    p = subprocess.run(psql + ["-d", pg.dsn(password=False)], capture_output=True, text=True,
                       env=pg._env(), stdin=subprocess.DEVNULL)
    check(p.returncode != 0 and "password" in p.stderr, f"dsn without password: {p.stderr!r}")
    try:
        pg.try_sql("SELECT * FROM missing_table")
        fail("no error for a missing table")
    except PgError as e:
        check("missing_table" in e.stderr, e.stderr)
    port = pg.port
    pg.restart()
    check(pg.port == port, "same port after restart")
    got = pg.sql("SELECT id, v, x FROM t ORDER BY id")
    check(got == want, f"after restart: rows {got}, want {want}")
    pg.stop()
    check(not pg.running, "stopped")
    ok(f"PostgreSQL {pg.bindir}: start, sql, restart, stop")
