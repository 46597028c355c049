"""`sluice decode` against Flink's own json-format fixtures: every *.expected under
SLUICE_FIXTURES/flink-json is read for its source file, format, schema and options
(its '# ' header), decoded, and compared byte for byte; then the metadata the Flink
tests assert, and malformed messages made here (truncated JSON, wrong types, missing
and unknown op, huge fields) with and without ignore-parse-errors."""
import datetime
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from common import SRC, check, fail, ok, run, tmpdir, write  # noqa: E402

FIXTURES = os.environ.get("SLUICE_FIXTURES") or os.path.join(SRC, "..", "shared", "fixtures")
DIR = os.path.join(FIXTURES, "flink-json")


def header_and_rows(path):
    """The '# ' header lines (without '# ') and the expected rows of an .expected file."""
    header, rows = [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("#"):
                header.append(line[2:] if line.startswith("# ") else line[1:])
            elif line:
                rows.append(line)
    return header, rows


def section(header, key):
    """The text of '<key>: ...' and its indented continuation lines."""
    out, inside = [], False
    for line in header:
        if line.startswith(key + ":"):
            inside = True
            out.append(line[len(key) + 1:])
        elif inside and line.startswith("  "):
            out.append(line)
        elif inside:
            break
    return " ".join(s.strip() for s in out)


def spec(header):
    """Source file, format, schema and --option list from a fixture header."""
    m = re.match(r"fixture:\s*(\S+)\s+\(format:\s*([a-z-]+)", header[0])
    check(m, f"no 'fixture:' line in {header[0]!r}")
    source, fmt = m.group(1), m.group(2)
    schema_line = section(header, "schema")
    m = re.search(r"ROW\((.*)\)", schema_line)
    check(m, f"no ROW(...) schema in {schema_line!r}")
    # The ROW(...) ends at its balanced closing parenthesis.
    text, depth, end = m.group(0)[4:], 1, None
    for i, c in enumerate(text):
        depth += c == "("
        depth -= c == ")"
        if depth == 0:
            end = i
            break
    schema = text[:end]
    opts = {}
    options = section(header, "options")
    for fm, key, quoted, bare in re.findall(
            r"([a-z]+-json)\.([a-z][a-z.-]*)=(?:'([^']*)'|([A-Za-z0-9_.-]+))", options):
        if fm == fmt:
            opts[key] = quoted if quoted else bare
    for name, key in (("schemaInclude", "schema-include"), ("ignoreParseErrors", "ignore-parse-errors")):
        m = re.search(name + r"=(true|false)", options)
        if m:
            opts.setdefault(key, m.group(1))
    m = re.search(r"setIgnoreParseErrors\((true|false)\)", options)
    if m:
        opts.setdefault("ignore-parse-errors", m.group(1))
    for name, key in (("setDatabase", "database.include"), ("setTable", "table.include")):
        m = re.search(name + r'\("([^"]*)"\)', options)
        if m:
            opts.setdefault(key, m.group(1))
    if "ISO_8601" in options or "ISO-8601" in options:
        opts.setdefault("timestamp-format.standard", "ISO-8601")
    args = []
    for k, v in sorted(opts.items()):
        args += ["--option", f"{k}={v}"]
    return source, fmt, schema, args


def decode(fmt, schema, args, path, check_rc=None):
    p = run(["decode", "--format", fmt, "--schema", schema] + args + [path], check=False)
    if check_rc is not None and p.returncode != check_rc:
        fail(f"sluice decode {fmt} {path}: exit {p.returncode}, want {check_rc}\n"
             f"stderr:\n{p.stderr[-3000:]}")
    return p


def fixture_rows():
    n_files = n_rows = 0
    for name in sorted(os.listdir(DIR)):
        if not name.endswith(".expected"):
            continue
        header, rows = header_and_rows(os.path.join(DIR, name))
        source, fmt, schema, args = spec(header)
        path = os.path.join(DIR, source)
        text = "\n".join(header)
        if "EXPECTED OUTCOME: an exception" in text:
            expect_exception(header, fmt, schema, args, path)
            n_files += 1
            continue
        p = decode(fmt, schema, args, path, check_rc=0)
        want = "".join(r + "\n" for r in rows)
        if p.stdout != want:
            got = p.stdout.split("\n")
            for i, (a, b) in enumerate(zip(got, rows)):
                if a != b:
                    fail(f"{name}: row {i + 1}: got {a!r}, want {b!r}")
            fail(f"{name}: {len(got) - 1} rows, want {len(rows)}")
        ok(f"{name}: {len(rows)} of {len(rows)} rows exact ({fmt} {' '.join(args)})")
        n_files += 1
        n_rows += len(rows)
    check(n_files == 9, f"{n_files} fixtures, want 9")
    ok(f"fixtures: {n_rows} of {n_rows} rows exact in {n_files} files")


def expect_exception(header, fmt, schema, args, path):
    """The replica-identity file: rows up to the failing line, then Flink's message."""
    text = "\n".join(header)
    i = next(k for k, line in enumerate(header) if "must contain" in line or "contains the message" in line)
    message = header[i + 1].strip()
    line_no = int(re.search(r"on line (\d+)", text).group(1))
    before = [h.strip() for h in header if re.match(r"\s+[+-][IUD]\(", h)]
    p = decode(fmt, schema, args, path, check_rc=1)
    check(p.stdout == "".join(r + "\n" for r in before),
          f"rows before the failure:\n{p.stdout}\nwant:\n{before}")
    with open(path, encoding="utf-8") as f:
        bad = f.read().split("\n")[line_no - 1]
    want = f"{path}:{line_no}: Corrupt Debezium JSON message '{bad}'. Caused by: {message}\n"
    check(p.stderr == want, f"stderr:\n{p.stderr}\nwant:\n{want}")
    # With ignore-parse-errors: the rows the header derives, every bad message skipped.
    m = re.search(r"with ignoreParseErrors=true(.*?)are dropped whole", " ".join(h.strip() for h in header))
    extra = re.findall(r"[+-][IUD]\([^)]*\)", m.group(1))
    p = decode(fmt, schema, args + ["--option", "ignore-parse-errors=true"], path, check_rc=0)
    want_rows = before + extra
    check(p.stdout == "".join(r + "\n" for r in want_rows),
          f"ignore-parse-errors rows:\n{p.stdout}\nwant:\n{want_rows}")
    check(p.stderr == "sluice decode: 5 corrupt message(s) skipped (ignore-parse-errors)\n",
          f"summary: {p.stderr!r}")
    ok(f"{os.path.basename(path)}: {len(before)} rows, then line {line_no} fails with Flink's text; "
       f"{len(want_rows)} rows with ignore-parse-errors")


def ldt(ms):
    """LocalDateTime.toString() of epoch ms (UTC), as Flink prints TimestampData."""
    t = datetime.datetime(1970, 1, 1) + datetime.timedelta(milliseconds=ms)
    s = t.strftime("%Y-%m-%dT%H:%M")
    if t.second or t.microsecond:
        s += f":{t.second:02d}"
    if t.microsecond:
        s += f".{t.microsecond // 1000:03d}"
    return s


PHYS = "id INT NOT NULL, name STRING, description STRING, weight FLOAT"
ROW101 = "101,scooter,Small 2-wheel scooter,3.14"


def first_line(name, d):
    with open(os.path.join(DIR, name), encoding="utf-8") as f:
        return write(os.path.join(d, name), f.read().split("\n")[0] + "\n")


def metadata(d):
    """The values the Flink metadata tests assert (README), through the CLI."""
    canal = (PHYS + ", db STRING METADATA FROM 'database', tb STRING METADATA FROM 'table', "
             "st STRING METADATA FROM 'sql-type', pk STRING METADATA FROM 'pk-names', "
             "ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
             "es TIMESTAMP_LTZ(3) METADATA FROM 'event-timestamp'")
    p = decode("canal-json", canal, [], first_line("canal-data.txt", d), check_rc=0)
    rows = p.stdout.split("\n")[:-1]
    check(len(rows) == 9, f"canal metadata: {len(rows)} rows, want 9")
    want = (f"+I({ROW101},inventory,products2,{{\"id\":4,\"name\":12,\"description\":12,"
            f"\"weight\":7}},[\"id\"],{ldt(1589373515477)},{ldt(1589373515000)})")
    check(rows[0] == want, f"canal metadata:\n{rows[0]}\nwant\n{want}")
    check(all(r.endswith(f"{ldt(1589373515477)},{ldt(1589373515000)})") for r in rows),
          "every canal row carries the message's metadata")
    p = decode("canal-json", canal, ["--option", "database.include=mydb", "--option", "table.include=product"],
               first_line("canal-data-filter-table.txt", d), check_rc=0)
    rows = p.stdout.split("\n")[:-1]
    check(len(rows) == 9 and rows[0].startswith(f"+I({ROW101},mydb,product,")
          and rows[0].endswith(f",{ldt(1598944146308)},{ldt(1598944132000)})"),
          f"canal filter-table metadata: {rows[:1]}")
    ok("canal-json metadata as CanalJsonSerDeSchemaTest asserts")

    dbz = (PHYS + ", ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
           "sts TIMESTAMP_LTZ(3) METADATA FROM 'source.timestamp', "
           "db STRING METADATA FROM 'source.database', ss STRING METADATA FROM 'source.schema', "
           "tb STRING METADATA FROM 'source.table'")
    p = decode("debezium-json", dbz + ", sch STRING METADATA FROM 'schema'", ["--option", "schema-include=true"],
               first_line("debezium-data-schema-include.txt", d), check_rc=0)
    prefix = (f"+I({ROW101},{ldt(1589355606100)},{ldt(0)},inventory,null,products,"
              "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":\"int32\","
              "\"optional\":false,\"field\":\"id\"},")
    check(p.stdout.startswith(prefix), f"debezium metadata:\n{p.stdout[:400]}\nwant\n{prefix}")
    p = decode("debezium-json", dbz + ", sch STRING METADATA FROM 'schema'", [],
               first_line("debezium-postgres-data-schema-exclude.txt", d), check_rc=0)
    want = f"+I({ROW101},{ldt(1596001099434)},{ldt(1596001099434)},postgres,inventory,products,null)\n"
    check(p.stdout == want, f"debezium postgres metadata:\n{p.stdout}\nwant\n{want}")
    p = decode("debezium-json", PHYS + ", props STRING METADATA FROM 'value.source.properties'", [],
               first_line("debezium-postgres-data-schema-exclude.txt", d), check_rc=0)
    props = p.stdout[len(f"+I({ROW101},"):-2]
    import json
    check(len(json.loads(props)) == 11, f"source.properties: {props}")
    ok("debezium-json metadata as DebeziumJsonSerDeSchemaTest asserts")

    p = decode("maxwell-json", PHYS + ", db STRING METADATA FROM 'database', tb STRING METADATA FROM 'table', "
               "pk STRING METADATA FROM 'primary-key-columns', ts TIMESTAMP_LTZ(3) METADATA FROM "
               "'ingestion-timestamp'", [], first_line("maxwell-data.txt", d), check_rc=0)
    want = f"+I({ROW101},test,product,[\"id\"],{ldt(1596684883000)})\n"
    check(p.stdout == want, f"maxwell metadata:\n{p.stdout}\nwant\n{want}")
    p = decode("ogg-json", PHYS + ", tb STRING METADATA FROM 'table', pk STRING METADATA FROM 'primary-keys', "
               "ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', es TIMESTAMP_LTZ(3) METADATA FROM "
               "'event-timestamp'", [], first_line("ogg-data.txt", d), check_rc=0)
    want = f"+I({ROW101},OGG.TBL_TEST,[\"id\"],{ldt(1589377175766)},{ldt(1589384406000)})\n"
    check(p.stdout == want, f"ogg metadata:\n{p.stdout}\nwant\n{want}")
    ok("maxwell-json and ogg-json metadata as their Flink tests assert")


def malformed(d):
    """Messages broken on purpose, with and without ignore-parse-errors."""
    good = '{"before":null,"after":{"id":1,"name":"a","description":"d","weight":1.5},"op":"c"}'
    cases = [
        ("truncated JSON", good[:40], "invalid JSON: A string is opened, but never closed."),
        ("truncated object", good[:-1],
         "invalid JSON: The JSON document has an improper structure: missing or superfluous "
         "commas, braces, missing keys, etc."),
        ("wrong type", good.replace('"id":1', '"id":"abc"'),
         'Fail to deserialize at field: id: "abc" is not a valid INT'),
        ("missing op", good.replace(',"op":"c"', ""), '"op" is missing'),
        ("unknown op", good.replace('"op":"c"', '"op":"x"'), 'Unknown "op" value "x".'),
        ("not an object", "[1,2]", "the message is not a JSON object"),
    ]
    for what, bad, cause in cases:
        path = write(os.path.join(d, "bad.json"), good + "\n" + bad + "\n" + good + "\n")
        p = decode("debezium-json", PHYS, [], path, check_rc=1)
        check(p.stdout == "+I(1,a,d,1.5)\n", f"{what}: rows before the error: {p.stdout!r}")
        want = f"{path}:2: Corrupt Debezium JSON message '{bad}'. Caused by: {cause}\n"
        check(p.stderr == want, f"{what}:\n{p.stderr}\nwant\n{want}")
        p = decode("debezium-json", PHYS, ["--option", "ignore-parse-errors=true"], path, check_rc=0)
        if what == "wrong type":
            # Flink's converters make a value that does not convert NULL: the row stays.
            check(p.stdout == "+I(1,a,d,1.5)\n+I(null,a,d,1.5)\n+I(1,a,d,1.5)\n", f"{what}: {p.stdout!r}")
            check(p.stderr == "sluice decode: 0 corrupt message(s) skipped (ignore-parse-errors)\n",
                  p.stderr)
        else:
            check(p.stdout == "+I(1,a,d,1.5)\n+I(1,a,d,1.5)\n", f"{what} skipped: {p.stdout!r}")
            check(p.stderr == "sluice decode: 1 corrupt message(s) skipped (ignore-parse-errors)\n",
                  p.stderr)
        ok(f"malformed ({what}): error at line 2, skipped with ignore-parse-errors")

    # Huge fields: 200 KB decodes exactly; 300 KB twice in one message passes a batch's
    # 256 KiB of strings (-E2BIG, always an error); a 2 MB line passes the record limit.
    big = "x" * (200 * 1024)
    path = write(os.path.join(d, "big.json"), good.replace('"name":"a"', f'"name":"{big}"') + "\n")
    p = decode("debezium-json", PHYS, [], path, check_rc=0)
    check(p.stdout == f"+I(1,{big},d,1.5)\n", "200 KB field")
    huge = "y" * (150 * 1024)
    msg = ('{"before":{"id":1,"name":"' + huge + '"},"after":{"id":1,"name":"' + huge + '"},"op":"u"}')
    path = write(os.path.join(d, "huge.json"), good + "\n" + msg + "\n")
    for extra in ([], ["--option", "ignore-parse-errors=true"]):
        p = decode("debezium-json", PHYS, extra, path, check_rc=1)
        check(p.stdout == "+I(1,a,d,1.5)\n", "rows before the huge message")
        check(p.stderr == f"{path}:2: message yields more rows or string bytes than one batch holds "
                          "(1024 rows, 262144 bytes)\n", p.stderr)
    line = good.replace('"name":"a"', '"name":"' + "z" * (2 << 20) + '"')
    path = write(os.path.join(d, "toolong.json"), line + "\n" + good + "\n")
    p = decode("debezium-json", PHYS, [], path, check_rc=1)
    check(p.stderr.startswith(f"{path}:1: Corrupt Debezium JSON message '{line[:100]}"), p.stderr[:300])
    check(p.stderr.endswith(f"...'. Caused by: invalid JSON: document of {len(line)} bytes exceeds "
                            "the 1048576-byte limit\n"), p.stderr[-200:])
    p = decode("debezium-json", PHYS, ["--option", "ignore-parse-errors=true"], path, check_rc=0)
    check(p.stdout == "+I(1,a,d,1.5)\n", p.stdout)
    ok("huge fields: 200 KB exact, 2x150 KB beyond a batch, 2 MB beyond the record limit")

    # Lines as Java's readAllLines: \n, \r\n and a lone \r end a line; empty lines are
    # tombstones; no newline at the end is fine.
    path = os.path.join(d, "crlf.json")
    with open(path, "wb") as f:
        f.write((good + "\r\n\r\n" + good.replace('"id":1', '"id":2') + "\r" +
                 good.replace('"id":1', '"id":3')).encode())
    p = decode("debezium-json", PHYS, [], path, check_rc=0)
    check(p.stdout == "+I(1,a,d,1.5)\n+I(2,a,d,1.5)\n+I(3,a,d,1.5)\n", repr(p.stdout))
    bad = good.replace('"id":1', '"id":"q"')
    with open(path, "wb") as f:
        f.write((good + "\r\n\r\n" + bad + "\n").encode())
    p = decode("debezium-json", PHYS, [], path, check_rc=1)
    check(p.stderr.startswith(f"{path}:3: "), p.stderr)
    ok("line ends as readAllLines; empty lines give no row")


def usage(d):
    path = write(os.path.join(d, "one.json"), '{"op":"c","after":{"id":1}}\n')
    p = run(["decode", "--schema", "id INT", path], check=False)
    check(p.returncode == 2 and "--format is required" in p.stderr, p.stderr)
    p = run(["decode", "--format", "avro", "--schema", "id INT", path], check=False)
    check(p.returncode == 2 and "unknown format 'avro'" in p.stderr, p.stderr)
    p = run(["decode", "--format", "json", "--schema", "id INTEGRAL", path], check=False)
    check(p.returncode == 2 and p.stderr.startswith("--schema:1:4: schema: unknown type 'INTEGRAL'"),
          p.stderr)
    sf = write(os.path.join(d, "schema.sql"), "id INT,\n  name BLOB\n")
    p = run(["decode", "--format", "json", "--schema-file", sf, path], check=False)
    check(p.returncode == 2 and p.stderr.startswith(f"{sf}:2:8: schema: unknown type 'BLOB'"), p.stderr)
    p = run(["decode", "--format", "debezium-json", "--schema", "id INT", "--option", "schema_includ=true",
             path], check=False)
    check(p.returncode == 2 and "unknown key 'schema_includ' for format debezium-json (did you mean "
          "'schema-include'?)" in p.stderr, p.stderr)
    p = run(["decode", "--format", "debezium-json", "--schema", "id INT", os.path.join(d, "nope")],
            check=False)
    check(p.returncode == 2 and "cannot read" in p.stderr, p.stderr)
    sf = write(os.path.join(d, "ok.sql"), "id INT")
    p = run(["decode", "--format=debezium-json", "--schema-file", sf, path], check=False)
    check(p.returncode == 0 and p.stdout == "+I(1)\n", p.stdout + p.stderr)
    ok("usage errors exit 2 with positions")


def main():
    if not os.path.isdir(DIR):
        print(f"SKIP: no Flink fixtures at {DIR} (set SLUICE_FIXTURES)")
        sys.exit(77)
    d = tmpdir("fixtures")
    fixture_rows()
    metadata(d)
    malformed(d)
    usage(d)


if __name__ == "__main__":
    main()
