"""Misconfiguration is refused before start: exit 2 and FILE:LINE:COL messages,
as many as can be found in one run; `validate` prints the graph of a good job."""
import os

from common import check, ok, run, tmpdir, write

d = tmpdir("validate")


def errors(text, name="job.yaml", extra=()):
    path = write(os.path.join(d, name), text)
    p = run(["validate", path, *extra], check=False)
    check(p.returncode == 2, f"exit {p.returncode} for:\n{text}\nstderr:\n{p.stderr}")
    return [l.replace(path, name) for l in p.stderr.splitlines()]


def expect(text, want, name="job.yaml", extra=()):
    got = errors(text, name, extra)
    for w in want:
        check(w in got, f"missing error line\n  {w}\ngot:\n  " + "\n  ".join(got))


expect("""job: bad
sources:
  gen: {type: generatr, records: 10}
  f: {type: file, patth: x.ndjson}
steps:
  s2: {from: nothing, op: map, fields: {a: customer_id}}
sinks:
  out: {from: s2, type: file}
""", [
    "job.yaml:3:15: source 'gen': unknown type 'generatr' (did you mean 'generator'?)",
    "job.yaml:4:6: source 'f': missing required option 'path'",
    "job.yaml:4:19: unknown key 'patth' in source 'f' (did you mean 'path'?)",
    "job.yaml:8:8: sink 'out': missing required option 'path'",
    "job.yaml:6:14: 'from: nothing' names no source or step",
])
ok("unknown type, unknown key, missing option, dangling from")

expect("""sources:
  gen: {type: generator, records: ten}
steps:
  a: {from: b, op: filter, where: "true"}
  b: {from: a, op: filter, where: "true"}
sinks:
  out: {from: [gen, b], type: blackhole}
""", [
    "job.yaml:2:35: records: expected integer >= -1, got 'ten'",
    "job.yaml:7:15: sink 'out' reads one input; to merge several use a step with op: union",
    "job.yaml:4:3: 'a' is part of a cycle: a job is a graph without loops",
    "job.yaml:5:3: 'b' is part of a cycle: a job is a graph without loops",
])
ok("wrong type, several inputs without union, cycle")

expect("sources:\n  gen: {type: generator\n",
       ["job.yaml:3:1: YAML syntax error: did not find expected ',' or '}' "
        "(while parsing a flow mapping at 2:8)"])
ok("YAML syntax error position")

expect("""sources:
  gen: {type: generator}
steps:
  k: {from: gen, op: aggregate, key: [customer_idd], aggregates: {n: count}}
  u: {from: gen}
sinks:
  o: {from: k, type: blackhole}
""", [
    "job.yaml:4:39: step 'k': key: no column 'customer_idd' (did you mean 'customer_id'?)",
    "job.yaml:5:6: step 'u': missing 'op' (one of: filter, map, key_by, aggregate, union, standardize, quality, upsert, route)",
])
ok("unknown column, missing op")

# Overrides are validated like the file: --set and environment, with their origin.
good = """job: ok
sources:
  gen: {type: generator, records: 1000, keys: 10}
steps:
  big: {from: gen, op: filter, where: "customer_id > 5"}
sinks:
  out: {from: big, type: blackhole}
"""
got = errors(good, "good.yaml", extra=["--set", "sources.gen.records=many"])
check("--set sources.gen.records:1:1: records: expected integer >= -1, got 'many'" in got, f"--set error: {got}")
path = write(os.path.join(d, "good.yaml"), good)
p = run(["validate", path, "--set", "sources.gen.records=5"])
check("ok: job 'ok', 3 nodes" in p.stdout, p.stdout)
check("customer_id BIGINT NOT NULL" in p.stdout, p.stdout)
p = run(["validate", path], check=False, env={"SLUICE__SOURCES__GEN__KEYS": "zero"})
check(p.returncode == 2 and "SLUICE__SOURCES__GEN__KEYS" in p.stderr, p.stderr)
ok("--set and environment overrides validated; a good job prints its graph")
