/* Unit test of connectors/formats: Flink's own fixtures row for row, the metadata the
 * Flink tests assert, the canal/maxwell "old" rules, every error text, type
 * conversions, ignore-parse-errors, batch limits and rollback, options, Flink's
 * row notation and Java's number printing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "connectors/formats/format.h"
#include "core/value.h"
#include "io/json.h"

static struct sl_batch *B;
static char ERR[1 << 20];
static char OUT[1 << 20];
static const char *FIXTURES;

/* ---- helpers ---------------------------------------------------------------------- */

/* Builds a format; on failure returns NULL with the diagnostics in ERR. */
static struct sl_format *try_format(const char *name, const char *schema, const char *yaml)
{
	struct sl_diag d;
	static struct sl_sqlschema s;
	static const char *const no_keys[] = {NULL};
	struct sl_format *f = NULL;
	sl_diag_init(&d);
	ERR[0] = '\0';
	if (sl_sqlschema_parse(schema, strlen(schema), (struct sl_pos){"schema", 1, 1}, false, &s,
			       &d) == 0) {
		struct sl_cfg_doc *doc = sl_cfg_load_string("opts.yaml", yaml, strlen(yaml), &d);
		if (doc) {
			f = sl_format_new(name, &s, sl_cfg_root(doc), no_keys, &d);
			sl_cfg_free(doc);
		}
	}
	snprintf(ERR, sizeof(ERR), "%s", sl_diag_text(&d));
	sl_diag_fini(&d);
	return f;
}

static struct sl_format *make_format(const char *name, const char *schema, const char *yaml)
{
	struct sl_format *f = try_format(name, schema, yaml);
	if (!f)
		fprintf(stderr, "format %s (%s): %s\n", name, schema, ERR);
	REQUIRE(f);
	return f;
}

/* Appends the rows of B to OUT (one per line) and empties B. */
static void drain(size_t *o)
{
	for (uint32_t r = 0; r < B->n_rows; r++) {
		ssize_t n = sl_row_format_flink(B, r, OUT + *o, sizeof(OUT) - *o - 2);
		REQUIRE(n >= 0);
		*o += (size_t)n;
		OUT[(*o)++] = '\n';
	}
	OUT[*o] = '\0';
	sl_batch_reset(B, B->schema);
}

/*
 * Decodes every '\n'-separated line of text (a trailing newline adds no
 * line) with f and leaves the rows in OUT. Returns 0, or the first error
 * (its text in ERR, its 1-based line in *bad_line; OUT has the rows before).
 */
static int run_lines(struct sl_format *f, const char *text, int *bad_line, int *skipped)
{
	struct sl_decoder *d = sl_decoder_new(f);
	size_t o = 0;
	int rc = 0, line = 0;
	REQUIRE(d);
	sl_batch_reset(B, sl_format_schema(f));
	OUT[0] = ERR[0] = '\0';
	if (skipped)
		*skipped = 0;
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		line++;
		rc = sl_decoder_decode(d, p, len, false, B, 7, ERR, sizeof(ERR));
		if (rc == -ENOBUFS) {
			drain(&o);
			rc = sl_decoder_decode(d, p, len, false, B, 7, ERR, sizeof(ERR));
		}
		if (rc == -EINVAL && sl_format_ignore_parse_errors(f)) {
			if (skipped)
				(*skipped)++;
			rc = 0;
		}
		if (rc < 0) {
			if (bad_line)
				*bad_line = line;
			break;
		}
		rc = 0;
		p = nl ? nl + 1 : p + len;
	}
	drain(&o);
	sl_decoder_free(d);
	return rc;
}

/* Decodes text with a new format and checks the rows (and that there was no error). */
static void expect_rows(int line, const char *name, const char *schema, const char *yaml,
			const char *text, const char *want)
{
	struct sl_format *f = make_format(name, schema, yaml);
	int bad = 0;
	int rc = run_lines(f, text, &bad, NULL);
	if (rc != 0 || strcmp(OUT, want) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "%s: rc %d (line %d: %s)\ngot:\n%s\nwant:\n%s\n", name, rc, bad, ERR,
			OUT, want);
	}
	sl_format_free(f);
}
#define EXPECT_ROWS(...) expect_rows(__LINE__, __VA_ARGS__)

/* Decodes text and checks the first error's text (rows before it in OUT). */
static void expect_error(int line, const char *name, const char *schema, const char *yaml,
			 const char *text, const char *want_err)
{
	struct sl_format *f = make_format(name, schema, yaml);
	int bad = 0;
	int rc = run_lines(f, text, &bad, NULL);
	if (rc != -EINVAL || strcmp(ERR, want_err) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "%s: rc %d\ngot:  %s\nwant: %s\n", name, rc, ERR, want_err);
	}
	sl_format_free(f);
}
#define EXPECT_ERROR(...) expect_error(__LINE__, __VA_ARGS__)

static char *read_file(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	fseek(fp, 0, SEEK_END);
	long n = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	REQUIRE(s && fread(s, 1, (size_t)n, fp) == (size_t)n);
	s[n] = '\0';
	fclose(fp);
	return s;
}

/* The first line of a fixture (NUL-terminated copy). */
static char *first_line(const char *name)
{
	char *s = read_file(FIXTURES, name);
	REQUIRE(s);
	char *nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	return s;
}

static const char *const SCHEMA = "id INT NOT NULL, name STRING, description STRING, weight FLOAT";

/* ---- Flink's fixtures ------------------------------------------------------------- */

static void check_fixture(const char *format, const char *stem, const char *yaml)
{
	char name[256];
	snprintf(name, sizeof(name), "%s.txt", stem);
	char *input = read_file(FIXTURES, name);
	snprintf(name, sizeof(name), "%s.expected", stem);
	char *expected = read_file(FIXTURES, name);
	REQUIRE(input && expected);
	/* The expected rows: every line not starting with '#'. */
	static char want[1 << 16];
	size_t o = 0;
	for (char *p = expected; *p;) {
		char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len && p[0] != '#') {
			memcpy(want + o, p, len);
			o += len;
			want[o++] = '\n';
		}
		p = nl ? nl + 1 : p + len;
	}
	want[o] = '\0';
	struct sl_format *f = make_format(format, SCHEMA, yaml);
	int bad = 0;
	int rc = run_lines(f, input, &bad, NULL);
	CHECKF(rc == 0, "%s: line %d: %s", stem, bad, ERR);
	CHECKF(strcmp(OUT, want) == 0, "%s:\ngot:\n%s\nwant:\n%s", stem, OUT, want);
	int n = 0;
	for (const char *p = want; *p; p++)
		n += *p == '\n';
	printf("fixture %s: %d of %d rows exact\n", stem,
	       strcmp(OUT, want) == 0 ? n : 0, n);
	sl_format_free(f);
	free(input);
	free(expected);
}

static void test_fixtures(void)
{
	check_fixture("canal-json", "canal-data", "timestamp-format.standard: ISO-8601");
	check_fixture("canal-json", "canal-data-with-init", "ignore-parse-errors: false");
	check_fixture("canal-json", "canal-data-filter-table",
		      "database.include: '^my.*'\ntable.include: '^prod.*'");
	check_fixture("debezium-json", "debezium-data-schema-include", "schema-include: true");
	check_fixture("debezium-json", "debezium-postgres-data-schema-include",
		      "schema-include: true");
	check_fixture("debezium-json", "debezium-postgres-data-schema-exclude", "");
	check_fixture("maxwell-json", "maxwell-data", "");
	check_fixture("ogg-json", "ogg-data", "");

	/* Replica identity DEFAULT: the 9 snapshot rows, then Flink's exception at line 10. */
	char *input = read_file(FIXTURES, "debezium-postgres-data-replica-identity.txt");
	REQUIRE(input);
	struct sl_format *f = make_format("debezium-json", SCHEMA, "");
	int bad = 0;
	CHECK_EQ_I(run_lines(f, input, &bad, NULL), -EINVAL);
	CHECK_EQ_I(bad, 10);
	CHECK(strstr(ERR, "The \"before\" field of UPDATE message is null, if you are using "
			  "Debezium Postgres Connector, please check the Postgres table has been "
			  "set REPLICA IDENTITY to FULL level.") != NULL);
	CHECK(strncmp(ERR, "Corrupt Debezium JSON message '{\"before\":null,\"after\":{\"id\":106,",
		      62) == 0);
	CHECK(strstr(ERR, "\"transaction\":null}'. Caused by: The \"before\"") != NULL);
	CHECK_STR(OUT, "+I(101,scooter,Small 2-wheel scooter,3.14)\n"
		       "+I(102,car battery,12V car battery,8.1)\n"
		       "+I(103,12-pack drill bits,12-pack of drill bits with sizes ranging from #40 "
		       "to #3,0.8)\n"
		       "+I(104,hammer,12oz carpenter's hammer,0.75)\n"
		       "+I(105,hammer,14oz carpenter's hammer,0.875)\n"
		       "+I(106,hammer,16oz carpenter's hammer,1.0)\n"
		       "+I(107,rocks,box of assorted rocks,5.3)\n"
		       "+I(108,jacket,water resistent black wind breaker,0.1)\n"
		       "+I(109,spare tire,24 inch spare tire,22.2)\n");
	sl_format_free(f);
	/* With ignore-parse-errors: 11 rows, the four u and the d dropped whole. */
	f = make_format("debezium-json", SCHEMA, "ignore-parse-errors: true");
	int skipped;
	CHECK_EQ_I(run_lines(f, input, &bad, &skipped), 0);
	CHECK_EQ_I(skipped, 5);
	CHECK(strstr(OUT, "+I(109,spare tire,24 inch spare tire,22.2)\n"
			  "+I(110,jacket,water resistent white wind breaker,0.2)\n"
			  "+I(111,scooter,Big 2-wheel scooter ,5.18)\n") != NULL);
	int n = 0;
	for (const char *p = OUT; *p; p++)
		n += *p == '\n';
	CHECK_EQ_I(n, 11);
	sl_format_free(f);
	free(input);

	/* Without the filters, the "project" INSERT ("A101" is no INT) aborts the run. */
	input = read_file(FIXTURES, "canal-data-filter-table.txt");
	f = make_format("canal-json", SCHEMA, "");
	CHECK_EQ_I(run_lines(f, input, &bad, NULL), -EINVAL);
	CHECK_EQ_I(bad, 16);
	CHECK(strstr(ERR, "'. Caused by: Fail to deserialize at field: id: \"A101\" is not a valid "
			  "INT") != NULL);
	sl_format_free(f);
	free(input);
}

/* ---- metadata, as the Flink tests assert it ----------------------------------------- */

/* Decodes one message into B and checks the row count. */
static void decode_one(struct sl_format *f, const char *msg, int want_rows)
{
	struct sl_decoder *d = sl_decoder_new(f);
	sl_batch_reset(B, sl_format_schema(f));
	int rc = sl_decoder_decode(d, msg, strlen(msg), false, B, 7, ERR, sizeof(ERR));
	CHECKF(rc == want_rows, "rc %d, want %d: %s", rc, want_rows, ERR);
	sl_decoder_free(d);
}

static const char *str_at(uint32_t c, uint32_t r)
{
	static char buf[65536];
	uint32_t len;
	if (!sl_batch_is_valid(B, c, r))
		return "(null)";
	const char *s = sl_batch_str(B, c, r, &len);
	snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
	return buf;
}

static int64_t int_at(uint32_t c, uint32_t r)
{
	return sl_batch_is_valid(B, c, r) ? B->cols[c].v[r].i : INT64_MIN;
}

/* Members of the JSON object text in column c of row r. */
static int json_size(uint32_t c, uint32_t r)
{
	struct sl_json_parser *p = sl_json_parser_new(1 << 20, 64);
	struct sl_json_elem root, v;
	struct sl_json_iter it;
	const char *s = str_at(c, r);
	int n = -1;
	if (sl_json_parse(p, s, strlen(s), false, &root) == 0 && sl_json_iter_init(root, &it))
		for (n = 0; sl_json_iter_next(&it, NULL, NULL, &v);)
			n++;
	sl_json_parser_free(p);
	return n;
}

static void test_metadata(void)
{
	struct sl_format *f;
	char *line;

	/* CanalJsonSerDeSchemaTest.testDeserializationWithMetadata */
	f = make_format("canal-json",
			"id INT NOT NULL, name STRING, description STRING, weight FLOAT, "
			"db STRING METADATA FROM 'database', tbl STRING METADATA FROM 'table', "
			"st STRING METADATA FROM 'sql-type', pk STRING METADATA FROM 'pk-names', "
			"ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
			"es TIMESTAMP_LTZ(3) METADATA FROM 'value.event-timestamp'",
			"");
	line = first_line("canal-data.txt");
	decode_one(f, line, 9);
	CHECK_EQ_I(int_at(0, 0), 101);
	CHECK_STR(str_at(1, 0), "scooter");
	CHECK(B->cols[3].v[0].f == (double)3.14f);
	CHECK_STR(str_at(4, 0), "inventory");
	CHECK_STR(str_at(5, 0), "products2");
	CHECK_STR(str_at(6, 0), "{\"id\":4,\"name\":12,\"description\":12,\"weight\":7}");
	CHECK_EQ_I(json_size(6, 0), 4);
	CHECK_STR(str_at(7, 0), "[\"id\"]");
	CHECK_EQ_I(int_at(8, 0), 1589373515477ll);
	CHECK_EQ_I(int_at(9, 0), 1589373515000ll);
	/* Every row of the message carries the message's metadata. */
	CHECK_STR(str_at(5, 8), "products2");
	CHECK_EQ_I(int_at(9, 8), 1589373515000ll);
	CHECK_EQ_I(int_at(0, 8), 109);
	CHECK_EQ_I(B->ingest_ns[8], 7);
	CHECK(B->event_ms[8] == INT64_MIN);
	free(line);
	sl_format_free(f);

	/* The same with the exact filters of the filter-table metadata test. */
	f = make_format("canal-json",
			"id INT NOT NULL, name STRING, description STRING, weight FLOAT, "
			"db STRING METADATA FROM 'database', tbl STRING METADATA FROM 'table', "
			"ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
			"es TIMESTAMP_LTZ(3) METADATA FROM 'event-timestamp'",
			"database.include: mydb\ntable.include: product");
	line = first_line("canal-data-filter-table.txt");
	decode_one(f, line, 9);
	CHECK_STR(str_at(4, 0), "mydb");
	CHECK_STR(str_at(5, 0), "product");
	CHECK_EQ_I(int_at(6, 0), 1598944146308ll);
	CHECK_EQ_I(int_at(7, 0), 1598944132000ll);
	free(line);
	sl_format_free(f);

	/* DebeziumJsonSerDeSchemaTest.testDeserializationWithMetadata, schema included. */
	static const char *const dbz_meta =
	    "id INT NOT NULL, name STRING, description STRING, weight FLOAT, "
	    "sch STRING METADATA FROM 'schema', "
	    "ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
	    "sts TIMESTAMP_LTZ(3) METADATA FROM 'source.timestamp', "
	    "db STRING METADATA FROM 'source.database', "
	    "ss STRING METADATA FROM 'source.schema', "
	    "tb STRING METADATA FROM 'source.table', "
	    "props STRING METADATA FROM 'source.properties'";
	f = make_format("debezium-json", dbz_meta, "schema-include: true");
	line = first_line("debezium-data-schema-include.txt");
	decode_one(f, line, 1);
	CHECK_EQ_I(int_at(0, 0), 101);
	CHECK(strncmp(str_at(4, 0),
		      "{\"type\":\"struct\",\"fields\":[{\"type\":\"struct\",\"fields\":[{\"type\":"
		      "\"int32\",\"optional\":false,\"field\":\"id\"},",
		      96) == 0);
	CHECK_EQ_I(int_at(5, 0), 1589355606100ll);
	CHECK_EQ_I(int_at(6, 0), 0);
	CHECK_STR(str_at(7, 0), "inventory");
	CHECK_STR(str_at(8, 0), "(null)");
	CHECK_STR(str_at(9, 0), "products");
	CHECK_EQ_I(json_size(10, 0), 14);
	free(line);
	sl_format_free(f);

	/* Postgres, no schema envelope. */
	f = make_format("debezium-json", dbz_meta, "");
	line = first_line("debezium-postgres-data-schema-exclude.txt");
	decode_one(f, line, 1);
	CHECK_STR(str_at(4, 0), "(null)");
	CHECK_EQ_I(int_at(5, 0), 1596001099434ll);
	CHECK_EQ_I(int_at(6, 0), 1596001099434ll);
	CHECK_STR(str_at(7, 0), "postgres");
	CHECK_STR(str_at(8, 0), "inventory");
	CHECK_STR(str_at(9, 0), "products");
	CHECK_EQ_I(json_size(10, 0), 11);
	/* MAP<STRING, STRING>: every value as its text. */
	CHECK(strstr(str_at(10, 0), "\"ts_ms\":\"1596001099434\",\"snapshot\":\"true\"") != NULL);
	CHECK(strstr(str_at(10, 0), "\"xmin\":null}") != NULL);
	free(line);
	sl_format_free(f);

	/* MaxwellJsonSerDerTest.testDeserializationWithMetadata */
	f = make_format("maxwell-json",
			"id INT NOT NULL, name STRING, description STRING, weight FLOAT, "
			"db STRING METADATA FROM 'database', tb STRING METADATA FROM 'table', "
			"pk STRING METADATA FROM 'primary-key-columns', "
			"ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp'",
			"");
	line = first_line("maxwell-data.txt");
	decode_one(f, line, 1);
	CHECK_STR(str_at(4, 0), "test");
	CHECK_STR(str_at(5, 0), "product");
	CHECK_STR(str_at(6, 0), "[\"id\"]");
	CHECK_EQ_I(int_at(7, 0), 1596684883000ll);
	free(line);
	sl_format_free(f);

	/* OggJsonSerDeSchemaTest.testDeserializationWithMetadata */
	f = make_format("ogg-json",
			"id INT NOT NULL, name STRING, description STRING, weight FLOAT, "
			"tb STRING METADATA FROM 'table', pk STRING METADATA FROM 'primary-keys', "
			"ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
			"es TIMESTAMP(3) METADATA FROM 'event-timestamp'",
			"");
	line = first_line("ogg-data.txt");
	decode_one(f, line, 1);
	CHECK(B->cols[3].v[0].f == (double)3.140000104904175f);
	CHECK_STR(str_at(4, 0), "OGG.TBL_TEST");
	CHECK_STR(str_at(5, 0), "[\"id\"]");
	CHECK_EQ_I(int_at(6, 0), 1589377175766ll);
	CHECK_EQ_I(int_at(7, 0), 1589384406000ll);
	ssize_t n = sl_row_format_flink(B, 0, OUT, sizeof(OUT));
	CHECK(n > 0);
	OUT[n > 0 ? n : 0] = '\0';
	CHECK_STR(OUT, "+I(101,scooter,Small 2-wheel scooter,3.14,OGG.TBL_TEST,[\"id\"],"
		       "2020-05-13T13:39:35.766,2020-05-13T15:40:06)");
	free(line);
	sl_format_free(f);

	/* Ogg's timestamp fallbacks: current_ts as Timestamp.valueOf, op_ts lenient;
	 * a bad current_ts is NULL, a bad op_ts an error. */
	f = make_format("ogg-json",
			"id INT, ts TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', "
			"es TIMESTAMP_LTZ(3) METADATA FROM 'event-timestamp'",
			"");
	decode_one(f,
		   "{\"op_type\":\"I\",\"after\":{\"id\":1},\"current_ts\":\"2020-5-3 1:02:03\","
		   "\"op_ts\":\"2020-5-3 1:2:3.4567\"}",
		   1);
	CHECK_EQ_I(int_at(1, 0), INT64_MIN); /* Timestamp.valueOf wants hh:mm:ss */
	CHECK_EQ_I(int_at(2, 0), sl_days_from_civil(2020, 5, 3) * 86400000ll + 3723456);
	decode_one(f,
		   "{\"op_type\":\"I\",\"after\":{\"id\":1},\"current_ts\":\" 2020-5-3 01:02:03.5 \","
		   "\"op_ts\":\"2020-05-03\"}",
		   1);
	CHECK_EQ_I(int_at(1, 0), sl_days_from_civil(2020, 5, 3) * 86400000ll + 3723500);
	CHECK_EQ_I(int_at(2, 0), sl_days_from_civil(2020, 5, 3) * 86400000ll);
	decode_one(f, "{\"op_type\":\"I\",\"after\":{\"id\":1},\"op_ts\":\"yesterday\"}", -EINVAL);
	CHECK(strstr(ERR, "Caused by: op_ts: Text 'yesterday' could not be parsed") != NULL);
	sl_format_free(f);
}

/* ---- the "old" rules of canal and maxwell -------------------------------------------- */

static void test_old_rules(void)
{
	static const char *const s = "id INT, name STRING, description STRING, weight FLOAT";
	/* findValue searches the whole "old" array: "name" changed in row 0 only, yet row
	 * 1's before image gets NULL for it instead of a copy. */
	EXPECT_ROWS("canal-json", s, "",
		    "{\"data\":[{\"id\":\"1\",\"name\":\"b\",\"description\":\"d1\",\"weight\":\"1\"},"
		    "{\"id\":\"2\",\"name\":\"x\",\"description\":\"d2\",\"weight\":\"3\"}],"
		    "\"old\":[{\"name\":\"a\"},{\"weight\":\"2\"}],\"type\":\"UPDATE\"}",
		    "-U(1,a,d1,null)\n+U(1,b,d1,1.0)\n-U(2,null,d2,2.0)\n+U(2,x,d2,3.0)\n");
	/* A key anywhere inside "old" counts, at any depth; an explicit null stays null. */
	EXPECT_ROWS("canal-json", s, "",
		    "{\"data\":[{\"id\":\"1\",\"name\":\"n\",\"description\":\"d\",\"weight\":\"1\"}],"
		    "\"old\":[{\"x\":{\"deep\":[{\"description\":1}]},\"name\":null}],"
		    "\"type\":\"UPDATE\"}",
		    "-U(1,null,null,1.0)\n+U(1,n,d,1.0)\n");
	/* Maxwell: a single "old" object, same rules. */
	EXPECT_ROWS("maxwell-json", s, "",
		    "{\"type\":\"update\",\"data\":{\"id\":1,\"name\":\"n\",\"description\":\"d\","
		    "\"weight\":2.5},\"old\":{\"description\":null,\"weight\":1}}",
		    "-U(1,n,null,1.0)\n+U(1,n,d,2.5)\n");
	/* More "old" than "data": the extra elements are converted, not used. */
	EXPECT_ROWS("canal-json", s, "",
		    "{\"data\":[{\"id\":\"1\"}],\"old\":[{\"id\":\"0\"},{\"id\":\"9\"}],"
		    "\"type\":\"UPDATE\"}",
		    "-U(0,null,null,null)\n+U(1,null,null,null)\n");
	EXPECT_ERROR("canal-json", s, "",
		     "{\"data\":[{\"id\":\"1\"}],\"old\":[{\"id\":\"0\"},{\"id\":\"x\"}],"
		     "\"type\":\"UPDATE\"}",
		     "Corrupt Canal JSON message '{\"data\":[{\"id\":\"1\"}],\"old\":[{\"id\":\"0\"},"
		     "{\"id\":\"x\"}],\"type\":\"UPDATE\"}'. Caused by: Fail to deserialize at field: "
		     "id: \"x\" is not a valid INT");
	/* Fewer: Flink's index out of bounds. */
	EXPECT_ERROR("canal-json", s, "",
		     "{\"data\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"old\":[{}],\"type\":\"UPDATE\"}",
		     "Corrupt Canal JSON message '{\"data\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"old\":[{}],"
		     "\"type\":\"UPDATE\"}'. Caused by: \"old\" has 1 elements for 2 in \"data\" "
		     "(Index 1 out of bounds for length 1)");
}

/* ---- changelog mapping and errors ----------------------------------------------------- */

static void test_debezium(void)
{
	static const char *const s = "id INT, name STRING";
	EXPECT_ROWS("debezium-json", s, "",
		    "{\"before\":null,\"after\":{\"id\":1,\"name\":\"a\"},\"op\":\"c\"}\n"
		    "{\"after\":{\"id\":2,\"name\":\"b\",\"extra\":[1]},\"op\":\"r\"}\n"
		    "\n"
		    "{\"before\":{\"id\":2,\"name\":\"b\"},\"after\":{\"id\":2,\"name\":\"c\"},"
		    "\"op\":\"u\"}\n"
		    "{\"before\":{\"id\":1},\"after\":null,\"op\":\"d\"}\n"
		    "{\"op\":\"c\",\"after\":{\"name\":\"dup\",\"name\":\"last\"}}\n",
		    "+I(1,a)\n+I(2,b)\n-U(2,b)\n+U(2,c)\n-D(1,null)\n+I(null,last)\n");
	/* Errors: Flink's text, then the cause. */
	EXPECT_ERROR("debezium-json", s, "", "{\"after\":{\"id\":1},\"op\":\"x\"}",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1},\"op\":\"x\"}'. Caused by: "
		     "Unknown \"op\" value \"x\".");
	EXPECT_ERROR("debezium-json", s, "", "{\"after\":{\"id\":1}}",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1}}'. Caused by: \"op\" is "
		     "missing");
	EXPECT_ERROR("debezium-json", s, "", "{\"after\":{\"id\":1},\"op\":null}",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1},\"op\":null}'. Caused by: "
		     "\"op\" is null");
	EXPECT_ERROR("debezium-json", s, "", "{\"after\":{\"id\":1},\"op\":1}",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1},\"op\":1}'. Caused by: "
		     "Unknown \"op\" value \"1\".");
	EXPECT_ERROR("debezium-json", s, "", "{\"after\":{\"id\":1},\"op\":\"c\"",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1},\"op\":\"c\"'. Caused by: "
		     "invalid JSON: The JSON document has an improper structure: missing or "
		     "superfluous commas, braces, missing keys, etc.");
	EXPECT_ERROR("debezium-json", s, "", "null",
		     "Corrupt Debezium JSON message 'null'. Caused by: the message is not a JSON "
		     "object");
	EXPECT_ERROR("debezium-json", s, "", "{\"op\":\"c\"}",
		     "Corrupt Debezium JSON message '{\"op\":\"c\"}'. Caused by: \"after\" is null for "
		     "op \"c\"");
	EXPECT_ERROR("debezium-json", s, "", "{\"op\":\"c\",\"after\":[1]}",
		     "Corrupt Debezium JSON message '{\"op\":\"c\",\"after\":[1]}'. Caused by: "
		     "\"after\" is an array, not a JSON object");
	EXPECT_ERROR("debezium-json", s, "", "{\"op\":\"d\",\"before\":null}",
		     "Corrupt Debezium JSON message '{\"op\":\"d\",\"before\":null}'. Caused by: The "
		     "\"before\" field of DELETE message is null, if you are using Debezium Postgres "
		     "Connector, please check the Postgres table has been set REPLICA IDENTITY to "
		     "FULL level.");
	/* The image that is not emitted is still converted. */
	EXPECT_ERROR("debezium-json", s, "", "{\"op\":\"c\",\"before\":{\"id\":\"q\"},\"after\":{}}",
		     "Corrupt Debezium JSON message '{\"op\":\"c\",\"before\":{\"id\":\"q\"},"
		     "\"after\":{}}'. Caused by: Fail to deserialize at field: id: \"q\" is not a "
		     "valid INT");
	/* An envelope read without schema-include has no op; with it, payload is needed. */
	EXPECT_ERROR("debezium-json", s, "",
		     "{\"schema\":{},\"payload\":{\"after\":{\"id\":1},\"op\":\"c\"}}",
		     "Corrupt Debezium JSON message '{\"schema\":{},\"payload\":{\"after\":{\"id\":1},"
		     "\"op\":\"c\"}}'. Caused by: \"op\" is missing");
	EXPECT_ROWS("debezium-json", s, "schema-include: true",
		    "{\"schema\":{},\"payload\":{\"after\":{\"id\":1},\"op\":\"c\"}}", "+I(1,null)\n");
	EXPECT_ERROR("debezium-json", s, "schema-include: true", "{\"after\":{\"id\":1},\"op\":\"c\"}",
		     "Corrupt Debezium JSON message '{\"after\":{\"id\":1},\"op\":\"c\"}'. Caused by: "
		     "\"payload\" is missing (schema-include is true)");
	/* ignore-parse-errors: a field that does not convert is NULL (Flink's nullable
	 * converters), an unreadable message is rejected for the caller to drop. */
	EXPECT_ROWS("debezium-json", s, "ignore-parse-errors: true",
		    "{\"after\":{\"id\":\"abc\",\"name\":\"ok\"},\"op\":\"c\"}\n"
		    "{\"after\":{\"id\":1},\"op\":\"zz\"}\n"
		    "{\"after\":5,\"op\":\"c\"}\n"
		    "{\"before\":[],\"after\":{\"id\":3},\"op\":\"c\"}\n"
		    "{trunc\n",
		    "+I(null,ok)\n+I(3,null)\n");
	/* Control characters of the message show as '?'; a long message is cut. */
	struct sl_format *f = make_format("debezium-json", s, "");
	struct sl_decoder *d = sl_decoder_new(f);
	char err[96];
	sl_batch_reset(B, sl_format_schema(f));
	const char msg[] = "{\"op\":\"x\",\"after\":{\"name\":\"a\\tb\"}}\t";
	CHECK_EQ_I(sl_decoder_decode(d, msg, sizeof(msg) - 1, false, B, 0, err, sizeof(err)),
		   -EINVAL);
	/* 31 + 2 + 12 + 23 bytes of text around the message leave it 27 with the NUL:
	 * 24 bytes and "...". */
	CHECK_STR(err, "Corrupt Debezium JSON message '{\"op\":\"x\",\"after\":{\"name...'. Caused by: "
		       "Unknown \"op\" value \"x\".");
	CHECK_EQ_U(strlen(err), sizeof(err) - 1);
	CHECK_EQ_I(sl_decoder_decode(d, msg, sizeof(msg) - 1, false, B, 0, ERR, sizeof(ERR)),
		   -EINVAL);
	CHECK(strstr(ERR, "\"a\\tb\"}}?'.") != NULL);
	/* Tombstones. */
	CHECK_EQ_I(sl_decoder_decode(d, "", 0, false, B, 0, err, sizeof(err)), 0);
	CHECK_EQ_I(sl_decoder_decode(d, NULL, 0, false, B, 0, err, sizeof(err)), 0);
	CHECK_EQ_U(B->n_rows, 0);
	sl_decoder_free(d);
	sl_format_free(f);
}

static void test_canal(void)
{
	static const char *const s = "id INT, name STRING";
	EXPECT_ROWS("canal-json", s, "",
		    "{\"data\":[{\"id\":\"1\",\"name\":\"a\"},{\"id\":\" 2 \"}],\"type\":\"INIT\"}\n"
		    "{\"data\":null,\"type\":\"CREATE\",\"isDdl\":true}\n"
		    "{\"data\":[{\"id\":\"1\",\"name\":\"a\"}],\"type\":\"DELETE\"}\n",
		    "+I(1,a)\n+I(2,null)\n-D(1,a)\n");
	/* Only CREATE is skipped: other DDL types are unknown to Flink, isDdl or not. */
	EXPECT_ERROR("canal-json", s, "", "{\"data\":null,\"type\":\"ALTER\",\"isDdl\":true}",
		     "Corrupt Canal JSON message '{\"data\":null,\"type\":\"ALTER\",\"isDdl\":true}'. "
		     "Caused by: Unknown \"type\" value \"ALTER\".");
	EXPECT_ERROR("canal-json", s, "", "{\"data\":null,\"type\":\"INSERT\"}",
		     "Corrupt Canal JSON message '{\"data\":null,\"type\":\"INSERT\"}'. Caused by: "
		     "\"data\" is null");
	EXPECT_ERROR("canal-json", s, "", "{\"data\":{\"id\":\"1\"},\"type\":\"INSERT\"}",
		     "Corrupt Canal JSON message '{\"data\":{\"id\":\"1\"},\"type\":\"INSERT\"}'. "
		     "Caused by: \"data\" is not a JSON array");
	EXPECT_ERROR("canal-json", s, "", "{\"data\":[null],\"type\":\"INSERT\"}",
		     "Corrupt Canal JSON message '{\"data\":[null],\"type\":\"INSERT\"}'. Caused by: "
		     "an element of \"data\" is null");
	EXPECT_ERROR("canal-json", s, "", "{\"data\":[{\"id\":\"1\"}],\"type\":\"UPDATE\"}",
		     "Corrupt Canal JSON message '{\"data\":[{\"id\":\"1\"}],\"type\":\"UPDATE\"}'. "
		     "Caused by: \"old\" is null in an UPDATE");
	/* The filters: whole-string matches on the raw fields, before any conversion;
	 * a missing field fails (Flink's NullPointerException), null reads "null". */
	EXPECT_ROWS("canal-json", s, "database.include: 'db\\d+'\ntable_include: (?:t|u).*",
		    "{\"database\":\"db1\",\"table\":\"tx\",\"data\":[{\"id\":\"1\"}],\"type\":\"INSERT\"}\n"
		    "{\"database\":\"xdb1\",\"table\":\"t\",\"data\":[{\"id\":\"A\"}],\"type\":\"?\"}\n"
		    "{\"database\":\"db2\",\"table\":\"vt\",\"data\":5,\"type\":\"INSERT\"}\n"
		    "{\"database\":\"db3\",\"table\":\"u\",\"data\":[{\"id\":\"3\"}],\"type\":\"INSERT\"}\n",
		    "+I(1,null)\n+I(3,null)\n");
	EXPECT_ERROR("canal-json", s, "table.include: t", "{\"data\":[],\"type\":\"INSERT\"}",
		     "Corrupt Canal JSON message '{\"data\":[],\"type\":\"INSERT\"}'. Caused by: the "
		     "message has no \"table\" to filter on");
	EXPECT_ROWS("canal-json", s, "table.include: 'null|5'",
		    "{\"table\":null,\"data\":[{\"id\":\"1\"}],\"type\":\"INSERT\"}\n"
		    "{\"table\":5,\"data\":[{\"id\":\"2\"}],\"type\":\"INSERT\"}\n"
		    "{\"table\":\"x\",\"data\":[{\"id\":\"3\"}],\"type\":\"INSERT\"}\n",
		    "+I(1,null)\n+I(2,null)\n");
}

static void test_maxwell_ogg(void)
{
	static const char *const s = "id INT, name STRING";
	EXPECT_ROWS("maxwell-json", s, "",
		    "{\"type\":\"insert\",\"data\":{\"id\":1,\"name\":\"a\"}}\n"
		    "{\"type\":\"delete\",\"data\":{\"id\":1,\"name\":\"a\"}}\n",
		    "+I(1,a)\n-D(1,a)\n");
	EXPECT_ERROR("maxwell-json", s, "", "{\"type\":\"bootstrap-insert\",\"data\":{}}",
		     "Corrupt Maxwell JSON message '{\"type\":\"bootstrap-insert\",\"data\":{}}'. "
		     "Caused by: Unknown \"type\" value \"bootstrap-insert\".");
	EXPECT_ERROR("maxwell-json", s, "", "{\"type\":\"update\",\"data\":{\"id\":1}}",
		     "Corrupt Maxwell JSON message '{\"type\":\"update\",\"data\":{\"id\":1}}'. Caused "
		     "by: \"old\" is null in an update");
	EXPECT_ROWS("ogg-json", s, "",
		    "{\"op_type\":\"I\",\"after\":{\"id\":1,\"name\":\"a\"}}\n"
		    "{\"op_type\":\"U\",\"before\":{\"id\":1,\"name\":\"a\"},\"after\":{\"id\":1,"
		    "\"name\":\"b\"}}\n"
		    "{\"op_type\":\"D\",\"before\":{\"id\":1,\"name\":\"b\"}}\n",
		    "+I(1,a)\n-U(1,a)\n+U(1,b)\n-D(1,b)\n");
	/* T (truncate) is declared by Flink, never handled. */
	EXPECT_ERROR("ogg-json", s, "", "{\"op_type\":\"T\"}",
		     "Corrupt Ogg JSON message '{\"op_type\":\"T\"}'. Caused by: Unknown \"op_type\" "
		     "value \"T\".");
	EXPECT_ERROR("ogg-json", s, "", "{\"op_type\":\"U\",\"after\":{\"id\":1}}",
		     "Corrupt Ogg JSON message '{\"op_type\":\"U\",\"after\":{\"id\":1}}'. Caused by: "
		     "The \"before\" field of UPDATE message is null, if you are using Ogg Postgres "
		     "Connector, please check the Postgres table has been set REPLICA IDENTITY to "
		     "FULL level.");
	struct sl_format *f = make_format("ogg-json", s, "");
	int skipped;
	CHECK(!sl_format_ignore_parse_errors(f));
	CHECK(sl_format_is_changelog(f));
	CHECK_STR(sl_format_name(f), "ogg-json");
	sl_format_free(f);
	f = make_format("ogg-json", s, "ignore-parse-errors: yes");
	CHECK(sl_format_ignore_parse_errors(f));
	CHECK_EQ_I(run_lines(f, "{\"op_type\":\"T\"}\n{\"op_type\":\"I\",\"after\":{\"id\":2}}", NULL,
			     &skipped),
		   0);
	CHECK_EQ_I(skipped, 1);
	CHECK_STR(OUT, "+I(2,null)\n");
	sl_format_free(f);
}

/* ---- conversions (plain json, one column per type) --------------------------------- */

static void conv(int line, const char *type, const char *json_value, const char *want)
{
	char schema[128], msg[512];
	snprintf(schema, sizeof(schema), "v %s", type);
	snprintf(msg, sizeof(msg), "{\"v\":%s}", json_value);
	struct sl_format *f = make_format("json", schema, "");
	int rc = run_lines(f, msg, NULL, NULL);
	const char *got = rc == 0 ? OUT : ERR;
	char w[1200];
	if (want[0] == '!')
		snprintf(w, sizeof(w), "Failed to deserialize JSON '%s'. Caused by: %s", msg, want + 1);
	else
		snprintf(w, sizeof(w), "+I(%s)\n", want);
	if (strcmp(got, w) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "%s from %s: got %s, want %s\n", type, json_value, got, w);
	}
	sl_format_free(f);
}
#define CONV(...) conv(__LINE__, __VA_ARGS__)

static void test_conversions(void)
{
	CONV("INT", "42", "42");
	CONV("INT", "\" 42 \"", "42");
	CONV("INT", "\"+7\"", "7");
	CONV("INT", "42.9", "42"); /* canConvertToInt, then truncated */
	CONV("INT", "-2147483648", "-2147483648");
	CONV("INT", "2147483648", "!Fail to deserialize at field: v: \"2147483648\" is not a valid INT");
	CONV("INT", "3e9", "!Fail to deserialize at field: v: \"3.0E9\" is not a valid INT");
	CONV("INT", "true", "!Fail to deserialize at field: v: a boolean is not a valid INT");
	CONV("INT", "\"1.0\"", "!Fail to deserialize at field: v: \"1.0\" is not a valid INT");
	CONV("INT", "{}", "!Fail to deserialize at field: v: an object is not a valid INT");
	CONV("INT", "null", "null");
	CONV("BIGINT", "9223372036854775807", "9223372036854775807");
	CONV("BIGINT", "\"-9223372036854775808\"", "-9223372036854775808");
	CONV("BIGINT", "1e18", "1000000000000000000");
	CONV("BIGINT", "9.3e18", "!Fail to deserialize at field: v: \"9.3E18\" is not a valid BIGINT");
	CONV("BIGINT", "18446744073709551615",
	     "!Fail to deserialize at field: v: \"18446744073709551615\" is not a valid BIGINT");
	CONV("FLOAT", "3.140000104904175", "3.14");
	CONV("FLOAT", "1", "1.0");
	CONV("FLOAT", "16777217", "1.6777216E7");
	CONV("FLOAT", "\"1e3\"", "1000.0");
	CONV("FLOAT", "\"0x1p3\"", "8.0");
	CONV("FLOAT", "\" 1f \"", "1.0");
	CONV("FLOAT", "\"+.5e1D\"", "5.0");
	CONV("FLOAT", "\"NaN\"", "NaN");
	CONV("FLOAT", "\"-Infinity\"", "-Infinity");
	CONV("FLOAT", "\"1e39\"", "Infinity");
	CONV("FLOAT", "\"inf\"", "!Fail to deserialize at field: v: \"inf\" is not a valid FLOAT");
	CONV("FLOAT", "\"1.5e\"", "!Fail to deserialize at field: v: \"1.5e\" is not a valid FLOAT");
	CONV("FLOAT", "\"\"", "!Fail to deserialize at field: v: \"\" is not a valid FLOAT");
	CONV("FLOAT", "[1]", "!Fail to deserialize at field: v: an array is not a valid FLOAT");
	CONV("DOUBLE", "1e300", "1.0E300");
	CONV("DOUBLE", "0.1", "0.1");
	CONV("DOUBLE", "1e23", "9.999999999999999E22");
	CONV("DOUBLE", "\"1e23\"", "9.999999999999999E22");
	CONV("DOUBLE", "123456789012345678", "1.2345678901234568E17");
	CONV("BOOLEAN", "true", "true");
	CONV("BOOLEAN", "\" TRUE \"", "true");
	CONV("BOOLEAN", "\"yes\"", "false");
	CONV("BOOLEAN", "1", "false");
	CONV("BOOLEAN", "{}", "false");
	CONV("STRING", "3.0", "3.0");
	CONV("STRING", "1e20", "1.0E20");
	CONV("STRING", "12", "12");
	CONV("STRING", "-0", "0");
	CONV("STRING", "true", "true");
	CONV("STRING", "{\"a\":[1,2,{\"b\":null}]}", "{\"a\":[1,2,{\"b\":null}]}");
	CONV("STRING", "\"\\u00e9\\n\"", "\xc3\xa9\n");
	CONV("STRING", "18446744073709551615", "18446744073709551615");
	CONV("DECIMAL(5, 2)", "\"3.14159\"", "3.14");
	CONV("DECIMAL(5, 2)", "\"2.675\"", "2.68");
	CONV("DECIMAL(5, 2)", "2.675", "2.68");
	CONV("DECIMAL(5, 2)", "\"-0.005\"", "-0.01");
	CONV("DECIMAL(5, 2)", "7", "7.00");
	CONV("DECIMAL(5, 2)", "\"1E+2\"", "100.00");
	CONV("DECIMAL(5, 2)", "\"12345.6\"", "null"); /* too many digits: NULL, as Flink */
	CONV("DECIMAL(5, 2)", "\" 1\"", "!Fail to deserialize at field: v: \" 1\" is not a valid "
					"DECIMAL(5,2)");
	CONV("DECIMAL", "\".5\"", "1");
	CONV("DECIMAL(18,0)", "\"999999999999999999\"", "999999999999999999");
	CONV("DECIMAL(18,18)", "\"0.123456789012345678\"", "0.123456789012345678");
	CONV("DATE", "\"2020-02-29\"", "18321");
	CONV("DATE", "\"1969-12-31\"", "-1");
	CONV("DATE", "\"2021-02-29\"",
	     "!Fail to deserialize at field: v: \"2021-02-29\" is not a valid DATE");
	CONV("DATE", "18321", "!Fail to deserialize at field: v: \"18321\" is not a valid DATE");
	CONV("TIMESTAMP(3)", "\"2020-07-30 10:08:22.123\"", "2020-07-30T10:08:22.123");
	CONV("TIMESTAMP(3)", "\"2020-07-30 10:08:00\"", "2020-07-30T10:08");
	CONV("TIMESTAMP(3)", "\"2020-07-30 10:08:22.1239\"", "2020-07-30T10:08:22.123");
	CONV("TIMESTAMP(3)", "\"1969-12-31 23:59:59.5\"", "1969-12-31T23:59:59.500");
	CONV("TIMESTAMP(3)", "\"2020-07-30T10:08:22\"",
	     "!Fail to deserialize at field: v: \"2020-07-30T10:08:22\" is not a valid TIMESTAMP(3)");
	CONV("TIMESTAMP(3)", "1596103702123",
	     "!Fail to deserialize at field: v: \"1596103702123\" is not a valid TIMESTAMP(3)");
	CONV("TIMESTAMP_LTZ(3)", "\"2020-07-30 10:08:22Z\"", "2020-07-30T10:08:22");
	CONV("TIMESTAMP_LTZ(3)", "\"2020-07-30 10:08:22\"",
	     "!Fail to deserialize at field: v: \"2020-07-30 10:08:22\" is not a valid "
	     "TIMESTAMP_LTZ(3)");

	/* ISO-8601: 'T', seconds optional. */
	EXPECT_ROWS("json", "a TIMESTAMP(3), b TIMESTAMP_LTZ(3)", "timestamp_format.standard: ISO-8601",
		    "{\"a\":\"2020-07-30T10:08\",\"b\":\"2020-07-30T10:08:22.5Z\"}",
		    "+I(2020-07-30T10:08,2020-07-30T10:08:22.500)\n");
	/* JSON null, a non-object, fail-on-missing-field. */
	EXPECT_ROWS("json", "a INT", "", "null\n{}\n{\"a\":null}\n", "+I(null)\n+I(null)\n");
	EXPECT_ERROR("json", "a INT", "", "[1]",
		     "Failed to deserialize JSON '[1]'. Caused by: the message is an array, not a "
		     "JSON object");
	EXPECT_ROWS("json", "a INT", "ignore-parse-errors: true", "[1]\n{\"a\":1}", "+I(1)\n");
	EXPECT_ERROR("json", "a INT, b INT", "fail-on-missing-field: true", "{\"a\":1}",
		     "Failed to deserialize JSON '{\"a\":1}'. Caused by: Could not find field with "
		     "name 'b'.");
}

/* ---- batch room, rollback ----------------------------------------------------------- */

static void test_batch_limits(void)
{
	struct sl_format *f = make_format("debezium-json", "id INT, name STRING", "");
	struct sl_decoder *d = sl_decoder_new(f);
	const char *ins = "{\"op\":\"c\",\"after\":{\"id\":1,\"name\":\"abc\"}}";
	const char *upd = "{\"op\":\"u\",\"before\":{\"id\":1,\"name\":\"abc\"},\"after\":{\"id\":1,"
			  "\"name\":\"xyz\"}}";
	sl_batch_reset(B, sl_format_schema(f));
	for (int i = 0; i < (int)SL_BATCH_ROWS - 1; i++)
		REQUIRE(sl_decoder_decode(d, ins, strlen(ins), false, B, 0, ERR, sizeof(ERR)) == 1);
	uint32_t heap = B->heap_len;
	/* Two rows do not fit in the last slot: nothing of the message stays. */
	CHECK_EQ_I(sl_decoder_decode(d, upd, strlen(upd), false, B, 0, ERR, sizeof(ERR)), -ENOBUFS);
	CHECK_STR(ERR, "batch full");
	CHECK_EQ_U(B->n_rows, SL_BATCH_ROWS - 1);
	CHECK_EQ_U(B->heap_len, heap);
	CHECK(!sl_batch_is_valid(B, 0, SL_BATCH_ROWS - 1) && !sl_batch_is_valid(B, 1, SL_BATCH_ROWS - 1));
	CHECK_EQ_I(sl_decoder_decode(d, ins, strlen(ins), false, B, 0, ERR, sizeof(ERR)), 1);
	CHECK(sl_batch_full(B));

	/* A failed message leaves no values behind for the next row. */
	sl_batch_reset(B, sl_format_schema(f));
	const char *bad = "{\"op\":\"u\",\"before\":{\"name\":\"zz\",\"id\":1},\"after\":{\"name\":"
			  "\"zz\",\"id\":\"bad\"}}";
	CHECK_EQ_I(sl_decoder_decode(d, bad, strlen(bad), false, B, 0, ERR, sizeof(ERR)), -EINVAL);
	CHECK_EQ_U(B->n_rows, 0);
	CHECK_EQ_U(B->heap_len, 0);
	const char *only_id = "{\"op\":\"u\",\"before\":{},\"after\":{\"id\":2}}";
	CHECK_EQ_I(sl_decoder_decode(d, only_id, strlen(only_id), false, B, 0, ERR, sizeof(ERR)), 2);
	size_t o = 0;
	drain(&o);
	CHECK_STR(OUT, "-U(null,null)\n+U(2,null)\n");

	/* The string heap: a name of 200 KiB fits once, not twice. */
	size_t big = 200 * 1024;
	char *msg = malloc(2 * big + 1024);
	int n = sprintf(msg, "{\"op\":\"c\",\"after\":{\"id\":1,\"name\":\"");
	memset(msg + n, 'x', big);
	n += (int)big;
	n += sprintf(msg + n, "\"}}");
	sl_batch_reset(B, sl_format_schema(f));
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, false, B, 0, ERR, sizeof(ERR)), 1);
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, false, B, 0, ERR, sizeof(ERR)), -ENOBUFS);
	CHECK_EQ_U(B->n_rows, 1);
	/* Two such images in one message never fit: -E2BIG on an empty batch. */
	n = sprintf(msg, "{\"op\":\"u\",\"before\":{\"name\":\"");
	memset(msg + n, 'y', big);
	n += (int)big;
	n += sprintf(msg + n, "\"},\"after\":{\"name\":\"");
	memset(msg + n, 'y', 100);
	n += 100;
	n += sprintf(msg + n, "\"},");
	sl_batch_reset(B, sl_format_schema(f));
	/* (truncated on purpose: the JSON error wins over room) */
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, false, B, 0, ERR, sizeof(ERR)), -EINVAL);
	n = sprintf(msg, "{\"op\":\"u\",\"before\":{\"name\":\"");
	memset(msg + n, 'y', big);
	n += (int)big;
	n += sprintf(msg + n, "\"},\"after\":{\"name\":\"");
	memset(msg + n, 'y', 100 * 1024);
	n += 100 * 1024;
	n += sprintf(msg + n, "\"},\"op\":\"u\"}");
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, false, B, 0, ERR, sizeof(ERR)), -E2BIG);
	CHECK(strncmp(ERR, "message yields more rows or string bytes than one batch holds", 61) == 0);
	CHECK_EQ_U(B->n_rows, 0);
	CHECK_EQ_U(B->heap_len, 0);
	free(msg);
	sl_decoder_free(d);
	sl_format_free(f);

	/* A canal message of more rows than a batch holds. */
	f = make_format("canal-json", "id INT", "");
	d = sl_decoder_new(f);
	msg = malloc(32 * 2000);
	n = sprintf(msg, "{\"type\":\"INSERT\",\"data\":[");
	for (int i = 0; i < (int)SL_BATCH_ROWS + 1; i++)
		n += sprintf(msg + n, "%s{\"id\":\"%d\"}", i ? "," : "", i);
	n += sprintf(msg + n, "]}");
	sl_batch_reset(B, sl_format_schema(f));
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, false, B, 0, ERR, sizeof(ERR)), -E2BIG);
	CHECK_EQ_U(B->n_rows, 0);
	/* Padded input is read in place. */
	n = sprintf(msg, "{\"type\":\"INSERT\",\"data\":[{\"id\":\"5\"}]}");
	memset(msg + n, 0, SL_JSON_PADDING);
	CHECK_EQ_I(sl_decoder_decode(d, msg, (size_t)n, true, B, 0, ERR, sizeof(ERR)), 1);
	CHECK_EQ_I(B->cols[0].v[0].i, 5);
	free(msg);
	sl_decoder_free(d);
	sl_format_free(f);
}

/* ---- building formats: options, metadata, errors --------------------------------------- */

static void expect_bad_format(int line, const char *name, const char *schema, const char *yaml,
			      const char *want)
{
	struct sl_format *f = try_format(name, schema, yaml);
	if (f || strcmp(ERR, want) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "format %s: got %s\n%s\nwant\n%s\n", name, f ? "a format" : "NULL", ERR,
			want);
	}
	sl_format_free(f);
}
#define EXPECT_BAD_FORMAT(...) expect_bad_format(__LINE__, __VA_ARGS__)

static void test_options(void)
{
	CHECK(sl_format_known("json") && sl_format_known("debezium-json") &&
	      sl_format_known("canal-json") && sl_format_known("maxwell-json") &&
	      sl_format_known("ogg-json"));
	CHECK(!sl_format_known("avro") && !sl_format_known(NULL));
	const char *const *o = sl_format_option_names("debezium-json");
	REQUIRE(o);
	CHECK_STR(o[0], "ignore-parse-errors");
	CHECK_STR(o[1], "schema-include");
	CHECK_STR(o[2], "timestamp-format.standard");
	CHECK(o[3] == NULL);
	o = sl_format_option_names("canal-json");
	CHECK_STR(o[2], "database.include");
	CHECK_STR(o[3], "table.include");
	CHECK(sl_format_option_names("csv") == NULL);
	CHECK_STR(sl_format_names()[4], "ogg-json");

	/* Hyphens, underscores, dots and the "<format>." prefix are the same key. */
	struct sl_format *f = make_format("debezium-json", "a INT",
					  "debezium_json.ignore_parse_errors: true\n"
					  "schema.include: false\n"
					  "timestamp-format_standard: SQL");
	CHECK(sl_format_ignore_parse_errors(f));
	sl_format_free(f);

	EXPECT_BAD_FORMAT("debezium-json", "a INT", "ignore-parse-error: true",
			  "opts.yaml:1:1: unknown key 'ignore-parse-error' for format debezium-json "
			  "(did you mean 'ignore-parse-errors'?)\n");
	EXPECT_BAD_FORMAT("json", "a INT", "schema-include: true\nfoo: 1",
			  "opts.yaml:1:1: unknown key 'schema-include' for format json\n"
			  "opts.yaml:2:1: unknown key 'foo' for format json\n");
	EXPECT_BAD_FORMAT("json", "a INT", "ignore-parse-errors: maybe",
			  "opts.yaml:1:22: ignore-parse-errors: expected boolean (true/false, "
			  "yes/no, on/off), got 'maybe'\n");
	EXPECT_BAD_FORMAT("json", "a INT", "ignore-parse-errors: true\nignore_parse_errors: false",
			  "opts.yaml:2:1: 'ignore_parse_errors' sets option ignore-parse-errors a "
			  "second time\n");
	EXPECT_BAD_FORMAT("json", "a INT", "fail-on-missing-field: true\nignore-parse-errors: true",
			  "opts.yaml:1:1: fail-on-missing-field and ignore-parse-errors shouldn't "
			  "both be true.\n");
	EXPECT_BAD_FORMAT("canal-json", "a INT", "table.include: 'a(?=b)'",
			  "opts.yaml:1:16: table.include: cannot use regex 'a(?=b)': (?...) groups "
			  "other than (?:...) not supported\n");
	EXPECT_BAD_FORMAT("canal-json", "a INT", "database.include: 'a('",
			  "opts.yaml:1:19: database.include: bad regex 'a(': Unmatched ( or \\(\n");
	EXPECT_BAD_FORMAT("json", "a INT", "timestamp-format.standard: ISO8601",
			  "opts.yaml:1:28: timestamp-format.standard: expected one of SQL, "
			  "ISO-8601, got 'ISO8601' (did you mean 'ISO-8601'?)\n");
	EXPECT_BAD_FORMAT("avro", "a INT", "",
			  "<input>:0:0: unknown format 'avro' (one of: json, debezium-json, "
			  "canal-json, maxwell-json, ogg-json)\n");
	EXPECT_BAD_FORMAT("canal-jsn", "a INT", "",
			  "<input>:0:0: unknown format 'canal-jsn' (did you mean 'canal-json'?) "
			  "(one of: json, debezium-json, canal-json, maxwell-json, ogg-json)\n");
	/* Metadata keys and the types they allow. */
	EXPECT_BAD_FORMAT("debezium-json", "a INT, m STRING METADATA FROM 'source.db'", "",
			  "schema:1:32: column 'm': debezium-json has no metadata key 'source.db' "
			  "(it has: schema, ingestion-timestamp, source.timestamp, source.database, "
			  "source.schema, source.table, source.properties)\n");
	EXPECT_BAD_FORMAT("canal-json", "a INT, m BIGINT METADATA FROM 'event-timestamp'", "",
			  "schema:1:8: column 'm': metadata 'event-timestamp' of canal-json is "
			  "TIMESTAMP_LTZ(3); declare the column TIMESTAMP_LTZ(3) (or TIMESTAMP(3)), "
			  "not BIGINT\n");
	EXPECT_BAD_FORMAT("maxwell-json", "a INT, m INT METADATA FROM 'primary-key-columns'", "",
			  "schema:1:8: column 'm': metadata 'primary-key-columns' of maxwell-json is "
			  "ARRAY<STRING>; declare the column STRING (sluice keeps it as JSON text), "
			  "not INT\n");
	EXPECT_BAD_FORMAT("json", "a INT, m STRING METADATA", "",
			  "schema:1:8: column 'm': format json has no metadata (remove METADATA)\n");
	EXPECT_BAD_FORMAT("ogg-json", "a INT, m STRING METADATA FROM 'database'", "",
			  "schema:1:32: column 'm': ogg-json has no metadata key 'database' (it has: "
			  "table, primary-keys, ingestion-timestamp, event-timestamp)\n");
	/* A metadata column is not a JSON field: a "db" field does not fill it. */
	EXPECT_ROWS("canal-json", "a INT, db STRING METADATA FROM 'database'", "",
		    "{\"database\":\"d\",\"data\":[{\"a\":\"1\",\"db\":\"no\"}],\"type\":\"INSERT\"}",
		    "+I(1,d)\n");
}

/* Connector keys are left alone; unknown keys are marked used once reported. */
static void test_connector_keys(void)
{
	struct sl_diag d;
	struct sl_sqlschema s;
	static const char *const keys[] = {"type", "path", "format", "schema", NULL};
	const char *yaml = "type: file\npath: x\nformat: canal-json\nschema: a INT\n"
			   "canal-json.table-include: t\nbogus: 1\n";
	sl_diag_init(&d);
	REQUIRE(sl_sqlschema_parse("a INT", 5, (struct sl_pos){0}, false, &s, &d) == 0);
	struct sl_cfg_doc *doc = sl_cfg_load_string("job.yaml", yaml, strlen(yaml), &d);
	REQUIRE(doc);
	struct sl_cfg_node *root = sl_cfg_root(doc);
	struct sl_format *f = sl_format_new("canal-json", &s, root, keys, &d);
	CHECK(f == NULL);
	CHECK_STR(sl_diag_text(&d), "job.yaml:6:1: unknown key 'bogus' for format canal-json\n");
	for (uint32_t i = 0; i < root->n; i++)
		CHECK_EQ_I(root->keys[i]->used, i >= 4);
	sl_cfg_free(doc);
	sl_diag_fini(&d);
	/* With no connector keys, unknown keys are the caller's to report. */
	sl_diag_init(&d);
	doc = sl_cfg_load_string("job.yaml", yaml, strlen(yaml), &d);
	root = sl_cfg_root(doc);
	f = sl_format_new("canal-json", &s, root, NULL, &d);
	CHECK(f != NULL);
	CHECK_STR(sl_diag_text(&d), "");
	CHECK(root->keys[4]->used && !root->keys[5]->used && !root->keys[0]->used);
	sl_format_free(f);
	sl_cfg_free(doc);
	sl_diag_fini(&d);
}

/* ---- row notation and Java numbers --------------------------------------------------- */

static void java_f(int line, uint32_t bits, const char *want)
{
	float f;
	char buf[32];
	memcpy(&f, &bits, 4);
	sl_java_float_to_string(f, buf);
	if (strcmp(buf, want) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "Float.toString(%08x) = %s, want %s\n", bits, buf, want);
	}
}

static void java_d(int line, uint64_t bits, const char *want)
{
	double v;
	char buf[32];
	memcpy(&v, &bits, 8);
	sl_java_double_to_string(v, buf);
	if (strcmp(buf, want) != 0) {
		check_report(__FILE__, line);
		fprintf(stderr, "Double.toString(%016llx) = %s, want %s\n", (unsigned long long)bits,
			buf, want);
	}
}

static void test_java_numbers(void)
{
	/* Expected texts from JDK 17's Float/Double.toString. */
	java_f(__LINE__, 0x4048f5c3, "3.14");
	java_f(__LINE__, 0x501502f9, "1.0E10");
	java_f(__LINE__, 0x3727c5ac, "1.0E-5");
	java_f(__LINE__, 0x4d599fca, "2.28195488E8");
	java_f(__LINE__, 0x00000001, "1.4E-45");
	java_f(__LINE__, 0x7f7fffff, "3.4028235E38");
	java_f(__LINE__, 0x3a83126f, "0.001");
	java_f(__LINE__, 0x4b189680, "1.0E7");
	java_f(__LINE__, 0x4b18967f, "9999999.0");
	java_f(__LINE__, 0x42c80000, "100.0");
	java_f(__LINE__, 0x80000000, "-0.0");
	java_f(__LINE__, 0x4b800000, "1.6777216E7");
	java_f(__LINE__, 0x6a46db26, "6.0100552E25");
	java_f(__LINE__, 0x3dcccccd, "0.1");
	java_f(__LINE__, 0x3a82f0e1, "9.99E-4");
	java_f(__LINE__, 0x40a570a4, "5.17");
	java_f(__LINE__, 0x47f1205a, "123456.7");
	java_f(__LINE__, 0x7fc00000, "NaN");
	java_f(__LINE__, 0xff800000, "-Infinity");
	java_d(__LINE__, 0x3fb999999999999aull, "0.1");
	java_d(__LINE__, 0x44b52d02c7e14af6ull, "9.999999999999999E22");
	java_d(__LINE__, 0x0000000000000001ull, "4.9E-324");
	java_d(__LINE__, 0x7fefffffffffffffull, "1.7976931348623157E308");
	java_d(__LINE__, 0xc358f54720000000ull, "-2.8100341077639168E16");
	java_d(__LINE__, 0x437b69b4ba630f35ull, "1.2345678901234568E17");
	java_d(__LINE__, 0x4415af1d78b58c40ull, "1.0E20");
	java_d(__LINE__, 0x4008000000000000ull, "3.0");
	java_d(__LINE__, 0x3f50624dd2f1a9fcull, "0.001");
	java_d(__LINE__, 0x416312cffff7ced9ull, "9999999.999");
	java_d(__LINE__, 0x416312d000000000ull, "1.0E7");
	java_d(__LINE__, 0x4005666666666666ull, "2.675");
	java_d(__LINE__, 0x3ee4f8b588e368f1ull, "1.0E-5");
	java_d(__LINE__, 0x7ff0000000000000ull, "Infinity");
}

static void test_row_notation(void)
{
	struct sl_format *f = make_format(
	    "json", "b BOOLEAN, i INT, l BIGINT, f FLOAT, d DOUBLE, s STRING, dt DATE, "
		    "ts TIMESTAMP(3), lz TIMESTAMP_LTZ(3), dec DECIMAL(10, 3)",
	    "");
	REQUIRE(run_lines(f,
			  "{\"b\":false,\"i\":-5,\"l\":123,\"f\":0.5,\"d\":-1e-10,\"s\":\"a,b)\","
			  "\"dt\":\"0999-01-01\",\"ts\":\"1969-12-31 23:59:59.999\",\"lz\":\"2020-01-01 "
			  "00:00:00Z\",\"dec\":\"-12.3456\"}\n{}",
			  NULL, NULL) == 0);
	CHECK_STR(OUT, "+I(false,-5,123,0.5,-1.0E-10,a,b),-354650,1969-12-31T23:59:59.999,"
		       "2020-01-01T00:00,-12.346)\n+I(null,null,null,null,null,null,null,null,null,"
		       "null)\n");
	/* Years past 9999 and before 1000, as LocalDateTime prints them. */
	sl_batch_reset(B, sl_format_schema(f));
	uint32_t r = sl_batch_begin_row(B, SL_KIND_DELETE, 0, INT64_MIN);
	sl_batch_set_i(B, 7, r, 253402300800000ll + 5);
	sl_batch_set_i(B, 8, r, -62198755200000ll);
	sl_batch_commit_row(B);
	char buf[256];
	ssize_t n = sl_row_format_flink(B, 0, buf, sizeof(buf));
	REQUIRE(n > 0);
	buf[n] = '\0';
	CHECK_STR(buf, "-D(null,null,null,null,null,null,null,+10000-01-01T00:00:00.005,"
		       "-0001-01-01T00:00,null)");
	/* Too small a buffer. */
	CHECK_EQ_I(sl_row_format_flink(B, 0, buf, 10), -ENOSPC);
	CHECK_EQ_I(sl_row_format_flink(B, 0, buf, (size_t)n), n);
	CHECK_EQ_I(sl_row_format_flink(B, 0, buf, (size_t)n - 1), -ENOSPC);
	sl_format_free(f);

	/* value.c: DECIMAL and TIMESTAMP_LTZ as text. */
	struct sl_field dec = {.type = SL_T_DECIMAL, .precision = 6, .scale = 2};
	union sl_val v;
	CHECK_EQ_I(sl_value_parse_field(&dec, " 12.345 ", 8, &v), 0);
	CHECK_EQ_I(v.i, 1235);
	CHECK_EQ_I(sl_value_format_field(&dec, v, buf), 5);
	CHECK_STR(buf, "12.35");
	CHECK_EQ_I(sl_value_parse_field(&dec, "10000", 5, &v), -ERANGE);
	CHECK_EQ_I(sl_value_parse_field(&dec, "1e", 2, &v), -EINVAL);
	CHECK_EQ_I(sl_value_parse_field(&dec, ".", 1, &v), -EINVAL);
	CHECK_EQ_I(sl_value_parse_field(&dec, "-.05", 4, &v), 0);
	CHECK_EQ_I(v.i, -5);
	CHECK_EQ_I(sl_value_format_field(&dec, v, buf), 5);
	CHECK_STR(buf, "-0.05");
	CHECK_EQ_I(sl_value_parse(SL_T_DECIMAL, "42", 2, &v), 0);
	CHECK_EQ_I(v.i, 42);
	CHECK_EQ_I(sl_value_parse(SL_T_TIMESTAMP_LTZ, "1970-01-01 00:00:01Z", 20, &v), 0);
	CHECK_EQ_I(v.i, 1000);
	CHECK_EQ_I(sl_value_format(SL_T_TIMESTAMP_LTZ, v, buf), 23);
	CHECK_STR(buf, "1970-01-01 00:00:01.000");
	int64_t i;
	CHECK_EQ_I(sl_decimal_parse("999999999999999999.4", 20, 18, 0, &i), 0);
	CHECK_EQ_I(i, 999999999999999999ll);
	CHECK_EQ_I(sl_decimal_parse("999999999999999999.5", 20, 18, 0, &i), -ERANGE);
	CHECK_EQ_I(sl_decimal_parse("0.0000000000000000000000000009", 30, 18, 18, &i), 0);
	CHECK_EQ_I(i, 0);
	CHECK_EQ_I(sl_decimal_parse("5e-19", 5, 18, 18, &i), 0);
	CHECK_EQ_I(i, 1);
	CHECK_EQ_I(sl_decimal_parse("1e999999999999", 14, 18, 0, &i), -ERANGE);
}

int main(void)
{
	static const char *const tries[] = {"../shared/fixtures/flink-json",
					    "../../shared/fixtures/flink-json",
					    "/work/shared/fixtures/flink-json", NULL};
	static char dir[4096];
	const char *env = getenv("SLUICE_FIXTURES");
	FIXTURES = NULL;
	if (env) {
		snprintf(dir, sizeof(dir), "%s/flink-json", env);
		FIXTURES = dir;
	} else {
		for (int i = 0; tries[i]; i++) {
			char probe[4200];
			snprintf(probe, sizeof(probe), "%s/README.md", tries[i]);
			FILE *fp = fopen(probe, "r");
			if (fp) {
				fclose(fp);
				FIXTURES = tries[i];
				break;
			}
		}
	}
	void *block = aligned_alloc(4096, sl_batch_block_bytes(SL_MAX_COLS));
	REQUIRE(block);
	B = sl_batch_format(block, SL_MAX_COLS, 0);

	if (FIXTURES) {
		test_fixtures();
		test_metadata();
	} else {
		printf("test_formats: Flink fixtures not found (set SLUICE_FIXTURES): fixture and "
		       "metadata checks skipped\n");
	}
	test_old_rules();
	test_debezium();
	test_canal();
	test_maxwell_ogg();
	test_conversions();
	test_batch_limits();
	test_options();
	test_connector_keys();
	test_java_numbers();
	test_row_notation();
	free(block);
	return check_exit("test_formats");
}
