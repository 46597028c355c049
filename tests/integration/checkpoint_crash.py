"""Checkpoints survive crashes (exactly_once): a job over >= 1M generated CDC
events, SIGKILLed at random moments (>= 20 times, with changing worker counts,
some kills while a checkpoint is being written) and restarted with --restore
latest each time, publishes exactly the rows of an uninterrupted run. Then
SIGTERM (a stop checkpoint, on a third of the input) and --restore latest;
--supervise restarting SIGKILLed children. Last, savepoints on request and
with --stop, and the stop savepoint restored to an uninterrupted run's output.

SLUICE_CRASH_SEED=N repeats a kill schedule (the seed is printed);
SLUICE_CRASH_RECORDS=N changes the input size (default 1000000). Needs about
1 GB of temp space (the input is 600 MB) and 30-60 s on 2 cores."""
import atexit
import collections
import glob
import json
import os
import random
import re
import signal
import subprocess
import time

from common import SLUICE, check, fail, ok, tmpdir, write

SLUICE = os.path.abspath(SLUICE)  # the runs' cwd is their job directory

T_START = time.monotonic()
SEED = int(os.environ.get("SLUICE_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
print(f"seed {SEED} (SLUICE_CRASH_SEED={SEED} repeats the kill schedule)", flush=True)
rng = random.Random(SEED)
RECORDS = int(os.environ.get("SLUICE_CRASH_RECORDS") or 1000000)
KEYS = 50000
N_FILES = 64  # ~10 MB each: one file = one 16 MiB range = one reader, so per-key order is fixed
KILLS = 20
ENV = dict(os.environ)
ENV.pop("CI", None)
PART_RX = re.compile(r"part-\d+-\d+\.jsonl")
SINKS = ("rows", "cnt")

d = tmpdir("checkpoint-crash")
indir = os.path.join(d, "in")
os.mkdir(indir)

# ---- input: every key's events in one small file, in generation order ----
t0 = time.monotonic()
key_rx = re.compile(rb'"customer_id":(\d+)')  # the first image (before or after) names the key
outs = [open(os.path.join(indir, f"part-{i:02d}.ndjson"), "wb", buffering=1 << 20)
        for i in range(N_FILES)]
gen = subprocess.Popen([SLUICE, "gen", "customer-cdc", "--records", str(RECORDS), "--keys",
                        str(KEYS), "--seed", "23"], stdout=subprocess.PIPE, env=ENV)
per_file = [0] * N_FILES
for line in gen.stdout:
    i = int(key_rx.search(line).group(1)) % N_FILES
    outs[i].write(line)
    per_file[i] += 1
n_events = sum(per_file)
for f in outs:
    f.close()
check(gen.wait() == 0 and n_events == RECORDS,
      f"sluice gen: exit {gen.returncode}, {n_events} lines")
print(f"input: {n_events} events in {N_FILES} files ({time.monotonic() - t0:.1f} s)", flush=True)

JOB = """
job: ck
admin: off
checkpoint: {{interval: 100ms, dir: ./state, mode: exactly_once, retained: 3}}
sources:
  ev: {{type: file, path: "{files}", format: debezium-json, schema: "customer_id BIGINT NOT NULL, name STRING, address STRING, phone STRING, id_number STRING, updated_time BIGINT, PRIMARY KEY (customer_id) NOT ENFORCED"}}
steps:
  latest: {{from: ev, op: upsert, key: [customer_id]}}
  counts: {{from: ev, op: aggregate, key: [customer_id], aggregates: {{n: count}}, emit: final}}
sinks:
  rows: {{from: latest, type: file, path: out/rows, format: jsonl}}
  cnt: {{from: counts, type: file, path: out/cnt, format: jsonl}}
"""


def job_dir(name, extra="", files="*.ndjson"):
    jd = os.path.join(d, name)
    os.mkdir(jd)
    write(os.path.join(jd, "job.yaml"), JOB.format(files=os.path.join(indir, files)) + extra)
    return jd


procs = []


@atexit.register
def stop_procs():
    """A failed check can leave a run (or a supervisor and its child) running."""
    for p in procs:
        if p.poll() is None:
            kids = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
            for pid in kids.stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.kill()
            p.wait()


def spawn(jd, args, log):
    """sluice ARGS in job directory jd, stdout and stderr appended to log."""
    with open(log, "ab") as f:
        f.write(f"==== sluice {' '.join(args)}\n".encode())
        f.flush()
        p = subprocess.Popen([SLUICE] + args, cwd=jd, stdout=f, stderr=subprocess.STDOUT,
                             env=ENV)
    procs.append(p)
    return p


def sluice(jd, args, timeout=60):
    return subprocess.run([SLUICE] + args, cwd=jd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)


def tail(log, n=4000):
    with open(log, "rb") as f:
        return f.read()[-n:].decode(errors="replace")


def read_log(log):
    with open(log, encoding="utf-8", errors="replace") as f:
        return f.read()


def ckpt_dirs(jd):
    """{name: has a _manifest} of the chk-N / sp-N directories of the job's state dir."""
    st = os.path.join(jd, "state")
    try:
        names = os.listdir(st)
    except FileNotFoundError:
        return {}
    return {n: os.path.exists(os.path.join(st, n, "_manifest")) for n in names
            if re.fullmatch(r"(chk|sp)-\d+", n)}


def max_id(dirs):
    return max([int(n.split("-")[1]) for n in dirs] or [0])


def manifest(path):
    with open(os.path.join(path, "_manifest"), encoding="utf-8") as f:
        return dict(line.split(" ", 1) for line in f.read().splitlines() if " " in line)


def hidden_parts(jd):
    return [n for s in SINKS for n in os.listdir(os.path.join(jd, "out", s))
            if n.startswith(".part-")] if os.path.isdir(os.path.join(jd, "out")) else []


def committed_bytes(jd, sink="rows"):
    return sum(os.path.getsize(p) for p in glob.glob(os.path.join(jd, "out", sink, "part-*")))


def published(jd, sink):
    """The published part files of a sink (names checked; hidden files never count)."""
    od = os.path.join(jd, "out", sink)
    files = []
    for name in sorted(os.listdir(od)):
        if name.startswith("."):
            continue
        check(PART_RX.fullmatch(name), f"{od}: published file with an unexpected name: {name}")
        files.append(os.path.join(od, name))
    return files


def lines_of(jd, sink):
    for path in published(jd, sink):
        with open(path, "rb") as f:
            data = f.read()
        check(data.endswith(b"\n") or not data, f"{path}: torn last line")
        yield from data.splitlines()


def committed_rows(jd, sinks=SINKS):
    """Per sink, the multiset of published rows (JSON lines, byte for byte) as a sorted
    list of 64-bit line hashes: 2 x 1.7M lines as bytes would take > 1 GB of memory.
    compare() shows the differing lines themselves."""
    return {s: sorted(map(hash, lines_of(jd, s))) for s in sinks}


def compare(label, got, want, got_dir, want_dir, args=("--workers", "2")):
    """Fails, showing counts and some differing lines, unless got == want."""
    for s in want:
        g, w = got[s], want[s]
        if g == w:
            continue
        cg, cw = collections.Counter(g), collections.Counter(w)
        missing, extra = cw - cg, cg - cw
        dups = sum(n for h, n in extra.items() if h in cw)
        msg = [f"{label}: sink {s}: {len(g)} rows published, {len(w)} expected; "
               f"{sum(missing.values())} missing, {sum(extra.values())} extra "
               f"({dups} of them duplicates of expected rows)"]
        if not os.path.isdir(os.path.join(want_dir, "out")):  # removed to save space: again
            sluice(want_dir, ["run", "job.yaml", *args], timeout=300)
        for what, jd, hs in (("missing", want_dir, missing), ("extra", got_dir, extra)):
            shown = set()
            for line in lines_of(jd, s):
                h = hash(line)
                if h in hs and h not in shown and len(shown) < 5:
                    shown.add(h)
                    msg.append(f"  {what} x{hs[h]}: {line.decode(errors='replace')[:300]}")
        fail("\n".join(msg))


def rm_out(jd):
    subprocess.run(["rm", "-rf", os.path.join(jd, "out")], check=True)


# ---- 1. the expected output: one uninterrupted run ----
ref = job_dir("ref")
t0 = time.monotonic()
p = sluice(ref, ["run", "job.yaml", "--workers", "2"], timeout=300)
ref_time = time.monotonic() - t0
check(p.returncode == 0, f"uninterrupted run exited {p.returncode}:\n{p.stderr[-3000:]}")
ref_bytes = committed_bytes(ref)
want = committed_rows(ref)
check(not hidden_parts(ref), f"uninterrupted run left hidden files: {hidden_parts(ref)}")
check(len(want["cnt"]) > 0 and len(want["rows"]) > RECORDS // 2, f"too few rows: "
      f"{len(want['rows'])} rows, {len(want['cnt'])} counts")
rm_out(ref)  # a failing compare() runs it again to show rows
ok(f"uninterrupted run: {len(want['rows'])} changelog rows, {len(want['cnt'])} counts "
   f"in {ref_time:.2f} s")

# ---- 2. SIGKILL at random moments, restart with --restore latest ----
# The kill moments follow the job's progress, read from the share of the
# expected output already published (committed part files): 12 "progress"
# kills at sorted random targets between 2% and 75% of the output, each once
# its target is published and then either at once, when the next checkpoint's
# directory appears (still without _manifest), or after 0-150 ms more; and 8
# kills early in a run, shuffled in: 5-80 ms after the start (restore and the
# sinks' recovery), or while the run's first checkpoint is being written.
# Timing-only schedules either let a fast machine finish before the 20th kill
# or crowd every kill into the first checkpoints.
crash = job_dir("crash")
log = os.path.join(crash, "log.txt")
targets = sorted(rng.uniform(0.02, 0.75) for _ in range(12))
hows = ["now", "ckpt", "delay"] * 4
rng.shuffle(hows)
plan = [("progress", t, how) for t, how in zip(targets, hows)]
hows = ["delay", "ckpt"] * ((KILLS - len(plan)) // 2)
rng.shuffle(hows)
for how in hows:
    plan.insert(rng.randint(0, len(plan)), ("early", 0, how))
kills = mid_ckpt = with_pending = 0


def wait_new_ckpt(p, base, t0, limit=10):
    """Until a chk dir with an id above base exists; True if it did."""
    while time.monotonic() - t0 < limit and p.poll() is None:
        if any(n.startswith("chk-") and int(n.split("-")[1]) > base for n in ckpt_dirs(crash)):
            return True
        time.sleep(0.001)
    return False


t_crash = time.monotonic()
for kind, target, how in plan:
    workers = rng.choice([1, 2, 2, 2, 3])
    before = ckpt_dirs(crash)
    base = max_id(before)
    old_pend = {n for n in hidden_parts(crash) if n.endswith(".pending")}
    p = spawn(crash, ["run", "job.yaml", "--restore", "latest", "--workers", str(workers)], log)
    t0 = time.monotonic()
    if kind == "early" and how == "delay":
        wait = rng.uniform(0.005, 0.08)
        what = f"early, {wait * 1000:.0f} ms after the start"
        time.sleep(wait)
    elif kind == "early":
        lag = rng.uniform(0, 0.02)
        what = f"early, in the run's first checkpoint +{lag * 1000:.0f} ms"
        if wait_new_ckpt(p, base, t0):
            time.sleep(lag)
    else:
        what = f"at {100 * target:.0f}% published"
        while (committed_bytes(crash) < target * ref_bytes and p.poll() is None and
               time.monotonic() - t0 < 60):
            time.sleep(0.002)
        check(p.poll() is not None or committed_bytes(crash) >= target * ref_bytes,
              f"kill {kills + 1}: no progress to {100 * target:.0f}% in 60 s\n{tail(log)}")
        if how == "ckpt":
            lag = rng.uniform(0, 0.02)
            what += f", then in the next checkpoint +{lag * 1000:.0f} ms"
            if wait_new_ckpt(p, max_id(ckpt_dirs(crash)), t0, limit=70):
                time.sleep(lag)
        elif how == "delay":
            wait = rng.uniform(0, 0.15)
            what += f", then {wait * 1000:.0f} ms more"
            time.sleep(wait)
    if p.poll() is not None:
        fail(f"kill {kills + 1} (workers {workers}, {what}): the run ended on its own with "
             f"{p.returncode}; expected to be killed\n{tail(log)}")
    p.kill()
    p.wait()
    kills += 1
    after = ckpt_dirs(crash)
    # checkpoints this run left half-written (above the newest complete one; an
    # incomplete one below it is an old one being removed); pending parts it created
    newest = max_id([n for n, c in after.items() if c])
    ids = sorted((int(n.split("-")[1]), n) for n, c in after.items() if not c)
    torn = [n for i, n in ids if i > base and i > newest]
    removing = [n for i, n in ids if i < newest and before.get(n, True)]
    pend = [n for n in hidden_parts(crash) if n.endswith(".pending") and n not in old_pend]
    mid_ckpt += bool(torn)
    with_pending += bool(pend)
    print(f"kill {kills:2d}: workers {workers}, {what} (ran {time.monotonic() - t0:.3f} s): "
          f"{100 * committed_bytes(crash) / ref_bytes:.0f}% published, latest complete "
          f"chk-{newest}"
          + (f", killed while writing {' '.join(torn)}" if torn else "")
          + (f", killed while removing {' '.join(removing)}" if removing else "")
          + (f", {len(pend)} new pending files" if pend else ""), flush=True)
workers = rng.choice([1, 2, 2, 2, 3])
p = spawn(crash, ["run", "job.yaml", "--restore", "latest", "--workers", str(workers)], log)
try:
    rc = p.wait(timeout=300)
except subprocess.TimeoutExpired:
    p.kill()
    fail(f"the last run (workers {workers}) did not finish in 300 s\n{tail(log)}")
check(rc == 0, f"the last run (workers {workers}) exited {rc}\n{tail(log)}")
t_crash = time.monotonic() - t_crash
text = read_log(log)
check(text.count('msg="restoring"') >= 10,
      f"fewer than 10 runs restored a checkpoint\n{tail(log)}")
check('msg="no complete checkpoint to restore: starting fresh"' in text,
      f"the first run did not log its fresh start\n{tail(log)}")
rescaled = sum(a != b for a, b in re.findall(r'msg="restoring".* workers_then=(\d+) '
                                             r'workers_now=(\d+)', text))
check(rescaled >= 1, f"no restore changed the worker count\n{tail(log)}")
check(mid_ckpt >= 3, f"only {mid_ckpt} kills landed while a checkpoint was being written")
got = committed_rows(crash)
compare(f"after {kills} kills", got, want, crash, ref)
check(not hidden_parts(crash), f"hidden files left after the last run: {hidden_parts(crash)[:10]}")
ok(f"{kills} kills ({mid_ckpt} while a checkpoint was being written, {with_pending} with "
   f"pending files, {rescaled} restores to another worker count), then a clean finish in "
   f"{t_crash:.1f} s: published rows = the uninterrupted run's "
   f"({len(got['rows'])} + {len(got['cnt'])})")

# The finished job restores to nothing; the listing holds complete entries.
p = sluice(crash, ["run", "job.yaml", "--restore", "latest"])
check(p.returncode == 0 and "nothing left to do" in p.stderr,
      f"--restore latest of a finished job: exit {p.returncode}\n{p.stderr[-2000:]}")
p = sluice(crash, ["checkpoints", "--job", "job.yaml", "--json"])
check(p.returncode == 0, f"sluice checkpoints: exit {p.returncode}: {p.stderr}")
entries = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
check(entries, f"sluice checkpoints lists nothing: {p.stdout!r}")
for e in entries:
    check(e["complete"] is True and e["kind"] == "checkpoint" and
          os.path.exists(os.path.join(crash, e["path"], "_manifest")),
          f"incomplete or missing checkpoint listed: {e}")
    with open(os.path.join(crash, e["path"], "_manifest"), encoding="utf-8") as f:
        files = [line.split()[1] for line in f if line.startswith("file ")]
    missing = [n for n in files if not os.path.exists(os.path.join(crash, e["path"], n))]
    check(files and not missing,
          f"checkpoint {e['path']} listed as complete lacks {missing or 'files'}")
check(entries[-1]["finished"] is True, f"the newest checkpoint is not the finished one: {entries}")
check([e["id"] for e in entries] == sorted(e["id"] for e in entries),
      f"ids out of order: {entries}")
ok(f"--restore latest of the finished job: nothing left to do; {len(entries)} complete "
   f"checkpoints listed, the newest finished")
rm_out(crash)

# ---- 3. SIGTERM: a stop checkpoint, then --restore latest finishes ----
# This one reads a third of the input (20 of the 64 files).
SMALL = "part-[01]*.ndjson"
ref_small = job_dir("ref-small", files=SMALL)
p = sluice(ref_small, ["run", "job.yaml", "--workers", "2"], timeout=300)
check(p.returncode == 0, f"uninterrupted run (small): exit {p.returncode}:\n{p.stderr[-3000:]}")
small_bytes = committed_bytes(ref_small)
want_small = committed_rows(ref_small)
rm_out(ref_small)
# SIGTERM once 5-40% of the output is published. Should the input have ended
# first anyway (a busy machine), the checkpoint is the finished one: try again.
for attempt in range(3):
    term = job_dir(f"term{attempt}", files=SMALL)
    log = os.path.join(term, "log.txt")
    p = spawn(term, ["run", "job.yaml", "--workers", "2"], log)
    t0 = time.monotonic()
    target = rng.uniform(0.05, 0.4)
    while ((committed_bytes(term) < target * small_bytes or not any(ckpt_dirs(term).values()))
           and p.poll() is None and time.monotonic() - t0 < 60):
        time.sleep(0.002)
    check(p.poll() is None, f"the job ended before SIGTERM: {p.returncode}\n{tail(log)}")
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        fail(f"SIGTERM: not stopped in 30 s\n{tail(log)}")
    check(rc == 0, f"SIGTERM: exit {rc}\n{tail(log)}")
    dirs = ckpt_dirs(term)
    last = os.path.join(term, "state", f"chk-{max_id(dirs)}")
    m = manifest(last)
    if m.get("finished") == "1" and attempt < 2:
        print(f"SIGTERM came after the end of the input ({last} is the finished checkpoint); "
              "again", flush=True)
        rm_out(term)
        continue
    check(m.get("stop") == "1" and m.get("finished") == "0", f"{last}: not a stop checkpoint: {m}")
    break
check(all(dirs.values()), f"SIGTERM left an incomplete checkpoint: {dirs}")
check(not hidden_parts(term), f"SIGTERM left hidden files: {hidden_parts(term)[:10]}")
partial = committed_bytes(term) / small_bytes
p = spawn(term, ["run", "job.yaml", "--restore", "latest", "--workers", "3"], log)
rc = p.wait(timeout=300)
check(rc == 0 and 'msg="restoring"' in read_log(log),
      f"restore after SIGTERM: exit {rc}\n{tail(log)}")
compare("SIGTERM then --restore latest", committed_rows(term), want_small, term, ref_small)
check(not hidden_parts(term), f"hidden files left: {hidden_parts(term)[:10]}")
ok(f"SIGTERM at {100 * partial:.0f}% of the output ({sum(per_file[:20])} events): stop "
   f"checkpoint chk-{max_id(dirs)}, exit 0; --restore latest (3 workers) completes it exactly")
rm_out(term)

# ---- 4. --supervise restarts a SIGKILLed child from the latest checkpoint ----
# Each child is killed once it has completed a checkpoint and 5-50% of the
# output is published (the whole input: ~10 checkpoints before its end).
sup = job_dir("sup", "restart: {strategy: fixed-delay, delay: 100ms}\n")
log = os.path.join(sup, "log.txt")
p = spawn(sup, ["run", "job.yaml", "--supervise", "--workers", "2"], log)
killed = []
for i, target in enumerate(sorted(rng.uniform(0.05, 0.5) for _ in range(3))):
    t0 = time.monotonic()
    child = None
    while child is None and time.monotonic() - t0 < 30:
        check(p.poll() is None, f"supervisor ended after {i} kills: {p.returncode}\n{tail(log)}")
        q = subprocess.run(["pgrep", "-P", str(p.pid)], capture_output=True, text=True)
        pids = [int(x) for x in q.stdout.split() if int(x) not in killed]
        child = pids[0] if pids else None
        time.sleep(0.005)
    check(child is not None, f"no child of the supervisor after 30 s\n{tail(log)}")
    base = max_id(ckpt_dirs(sup))
    while ((committed_bytes(sup) < target * ref_bytes or
            max_id([n for n, c in ckpt_dirs(sup).items() if c]) <= base) and
           p.poll() is None and time.monotonic() - t0 < 60):
        time.sleep(0.002)
    time.sleep(rng.uniform(0, 0.03))
    check(p.poll() is None, f"supervisor ended after {i} kills: {p.returncode}\n{tail(log)}")
    os.kill(child, signal.SIGKILL)
    killed.append(child)
    print(f"supervise: killed child {i + 1} at {100 * committed_bytes(sup) / ref_bytes:.0f}% "
          f"published", flush=True)
try:
    rc = p.wait(timeout=300)
except subprocess.TimeoutExpired:
    p.kill()
    fail(f"--supervise did not finish in 300 s\n{tail(log)}")
check(rc == 0, f"--supervise exited {rc}\n{tail(log)}")
text = read_log(log)
restarts = re.findall(r'msg="job crashed: restarting from the latest checkpoint" '
                      r'cause="killed by signal 9 \(Killed\)"[^\n]*strategy=fixed-delay', text)
check(len(restarts) == 3, f"{len(restarts)} restart lines, expected 3\n{tail(log)}")
check(re.search(r'msg="job finished" restarts=3\b', text),
      f"no 'job finished restarts=3' line\n{tail(log)}")
compare("--supervise with 3 kills", committed_rows(sup), want, sup, ref)
check(not hidden_parts(sup), f"hidden files left: {hidden_parts(sup)[:10]}")
ok(f"--supervise: 3 SIGKILLed children restarted from the latest checkpoint; output = the "
   f"uninterrupted run's ({len(want['rows'])} + {len(want['cnt'])} rows)")
rm_out(sup)
subprocess.run(["rm", "-rf", indir], check=True)

# ---- 5. savepoints on request; --stop ends the job ----
SP_JOB = """
job: sp
admin: off
checkpoint: {interval: 100ms, dir: ./state}
sources:
  gen: {type: generator, records: 200000, keys: 1000, rate: 20000}
steps:
  latest: {from: gen, op: upsert, key: [customer_id]}
sinks:
  rows: {from: latest, type: file, path: out/rows}
"""
spd = os.path.join(d, "sp")
os.mkdir(spd)
write(os.path.join(spd, "job.yaml"), SP_JOB)
log = os.path.join(spd, "log.txt")
p = spawn(spd, ["run", "job.yaml", "--workers", "2"], log)
t0 = time.monotonic()
while not any(ckpt_dirs(spd).values()) and p.poll() is None and time.monotonic() - t0 < 30:
    time.sleep(0.01)
check(p.poll() is None, f"the generator job ended early: {p.returncode}\n{tail(log)}")
paths = []
for stop in (False, True):
    q = sluice(spd, ["savepoint", "--job", "job.yaml"] + (["--stop"] if stop else []), timeout=90)
    check(q.returncode == 0, f"sluice savepoint{' --stop' if stop else ''}: exit {q.returncode}\n"
          f"{q.stdout}{q.stderr}\n{tail(log)}")
    sp = q.stdout.strip()
    full = os.path.join(spd, sp)
    check(re.fullmatch(r"(.*/)?sp-\d+", sp) and os.path.isdir(full), f"savepoint path {sp!r}")
    m = manifest(full)
    check(m.get("kind") == "savepoint" and m.get("finished") == "0" and
          m.get("stop") == ("1" if stop else "0"), f"{sp}: manifest {m}")
    paths.append(sp)
try:
    rc = p.wait(timeout=10)
except subprocess.TimeoutExpired:
    p.kill()
    fail(f"savepoint --stop: the job still runs 10 s later\n{tail(log)}")
check(rc == 0, f"savepoint --stop: the job exited {rc}\n{tail(log)}")
check(time.monotonic() - t0 < 9, "savepoint --stop: the job ran to its end instead of stopping")
q = sluice(spd, ["checkpoints", "--job", "job.yaml", "--json"])
sps = [e for e in map(json.loads, q.stdout.splitlines()) if e["kind"] == "savepoint"]
check(len(sps) == 2 and all(e["complete"] for e in sps), f"savepoints listed: {q.stdout}")
ok(f"savepoint {paths[0]} taken on request, {paths[1]} with --stop: the job exited 0")

# The stop savepoint restores (unthrottled) to exactly an uninterrupted run's output.
p = spawn(spd, ["run", "job.yaml", "--workers", "2", "--restore", paths[1],
                "--set", "sources.gen.rate=-1"], log)
rc = p.wait(timeout=120)
check(rc == 0, f"--restore {paths[1]}: exit {rc}\n{tail(log)}")
spref = os.path.join(d, "spref")
os.mkdir(spref)
write(os.path.join(spref, "job.yaml"), SP_JOB)
q = sluice(spref, ["run", "job.yaml", "--workers", "2", "--set", "sources.gen.rate=-1"],
           timeout=120)
check(q.returncode == 0, f"uninterrupted generator run: exit {q.returncode}\n{q.stderr[-2000:]}")
got = committed_rows(spd, ("rows",))
compare(f"--restore {paths[1]}", got, committed_rows(spref, ("rows",)), spd, spref,
        ("--workers", "2", "--set", "sources.gen.rate=-1"))
ok(f"--restore {paths[1]} completes the job: {len(got['rows'])} rows, as uninterrupted")

print(f"total {time.monotonic() - T_START:.1f} s")
