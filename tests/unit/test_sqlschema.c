/* Unit test of core/sqlschema: Flink SQL column lists to schemas, metadata columns and
 * primary keys, and every error with its exact text and position. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "core/sqlschema.h"

static struct sl_sqlschema S;

/* Parses text at schema.yaml:3:10; returns the diagnostics ("" if none). */
static const char *parse_q(const char *text, bool quoted, int *rc)
{
	static struct sl_diag d;
	static char out[8192];
	sl_diag_fini(&d);
	sl_diag_init(&d);
	*rc = sl_sqlschema_parse(text, strlen(text), (struct sl_pos){"schema.yaml", 3, 10}, quoted,
				 &S, &d);
	snprintf(out, sizeof(out), "%s", sl_diag_text(&d));
	return out;
}

static const char *parse(const char *text, int *rc)
{
	return parse_q(text, false, rc);
}

/* The schema parses with no error. */
#define OK(text)                                                                                   \
	do {                                                                                       \
		int rc_;                                                                           \
		const char *e_ = parse(text, &rc_);                                                \
		CHECKF(rc_ == 0 && e_[0] == '\0', "%s: rc %d, %s", text, rc_, e_);                 \
	} while (0)

/* The schema fails with exactly these diagnostics. */
#define BAD(text, want)                                                                            \
	do {                                                                                       \
		int rc_;                                                                           \
		const char *e_ = parse(text, &rc_);                                                \
		CHECK_EQ_I(rc_, -EINVAL);                                                          \
		CHECK_STR(e_, want);                                                               \
	} while (0)

static void check_field(uint32_t c, const char *name, enum sl_type t, bool not_null, int p,
			int sc)
{
	const struct sl_field *f = &S.schema.fields[c];
	CHECKF(c < S.schema.n_fields, "column %u of %u", c, S.schema.n_fields);
	CHECK_STR(f->name, name);
	CHECKF(f->type == t, "%s: type %d, want %d", name, (int)f->type, (int)t);
	CHECKF(f->not_null == not_null, "%s: not_null %d", name, f->not_null);
	if (p >= 0)
		CHECKF(f->precision == p && f->scale == sc, "%s: (%u,%u), want (%d,%d)", name,
		       f->precision, f->scale, p, sc);
}

static void test_brief_example(void)
{
	OK("id INT NOT NULL, name STRING, ts TIMESTAMP(3) METADATA FROM 'source.timestamp', "
	   "PRIMARY KEY (id) NOT ENFORCED");
	CHECK_EQ_U(S.schema.n_fields, 3);
	check_field(0, "id", SL_T_INT, true, -1, 0);
	check_field(1, "name", SL_T_STRING, false, -1, 0);
	check_field(2, "ts", SL_T_TIMESTAMP, false, 3, 0);
	CHECK_EQ_U(S.n_meta, 1);
	CHECK_EQ_U(S.meta[0].col, 2);
	CHECK_STR(S.meta[0].key, "source.timestamp");
	CHECK(!S.meta[0].is_virtual);
	/* The key's position: past the opening quote, at byte 61 of the text. */
	CHECK_STR(S.meta[0].pos.file, "schema.yaml");
	CHECK_EQ_U(S.meta[0].pos.line, 3);
	CHECK_EQ_U(S.meta[0].pos.col, 10 + 61);
	CHECK_EQ_U(S.n_pk, 1);
	CHECK_EQ_U(S.pk[0], 0);
	CHECK_EQ_I(sl_sqlschema_meta_of(&S, 2), 0);
	CHECK_EQ_I(sl_sqlschema_meta_of(&S, 0), -1);
	CHECK_EQ_U(S.col_pos[0].col, 10);
	CHECK_EQ_U(S.col_pos[1].col, 10 + 17);
}

static void test_types(void)
{
	OK("a DECIMAL(10, 2), b DECIMAL, c DEC(5), d NUMERIC(18,18), e TIMESTAMP_LTZ(3), "
	   "f TIMESTAMP(3) WITH LOCAL TIME ZONE, g TIMESTAMP WITHOUT TIME ZONE, "
	   "h DOUBLE PRECISION, i VARCHAR(255), j CHAR(1), k BOOLEAN, l BIGINT, m TINYINT, "
	   "n DATE, o TIMESTAMP_LTZ, p timestamp ( 0 ), q float, r DOUBLE, s SMALLINT, "
	   "t TIMESTAMP  (3)   with   local  time zone, u STRING");
	CHECK_EQ_U(S.schema.n_fields, 21);
	check_field(0, "a", SL_T_DECIMAL, false, 10, 2);
	check_field(1, "b", SL_T_DECIMAL, false, 10, 0);
	check_field(2, "c", SL_T_DECIMAL, false, 5, 0);
	check_field(3, "d", SL_T_DECIMAL, false, 18, 18);
	check_field(4, "e", SL_T_TIMESTAMP_LTZ, false, 3, 0);
	check_field(5, "f", SL_T_TIMESTAMP_LTZ, false, 3, 0);
	check_field(6, "g", SL_T_TIMESTAMP, false, 3, 0);
	check_field(7, "h", SL_T_DOUBLE, false, -1, 0);
	check_field(8, "i", SL_T_STRING, false, -1, 0);
	check_field(9, "j", SL_T_STRING, false, -1, 0);
	check_field(10, "k", SL_T_BOOL, false, -1, 0);
	check_field(11, "l", SL_T_BIGINT, false, -1, 0);
	check_field(12, "m", SL_T_INT, false, -1, 0);
	check_field(13, "n", SL_T_DATE, false, -1, 0);
	check_field(14, "o", SL_T_TIMESTAMP_LTZ, false, 3, 0);
	check_field(15, "p", SL_T_TIMESTAMP, false, 0, 0);
	check_field(16, "q", SL_T_FLOAT, false, -1, 0);
	check_field(17, "r", SL_T_DOUBLE, false, -1, 0);
	check_field(18, "s", SL_T_INT, false, -1, 0);
	check_field(19, "t", SL_T_TIMESTAMP_LTZ, false, 3, 0);
	check_field(20, "u", SL_T_STRING, false, -1, 0);
	CHECK_EQ_U(S.n_meta, 0);
	CHECK_EQ_U(S.n_pk, 0);

	/* sl_type_parse_ps directly: the job-file spelling. */
	enum sl_type t;
	uint8_t p, sc;
	CHECK(sl_type_parse_ps("decimal(7,3)", 12, &t, &p, &sc) && t == SL_T_DECIMAL && p == 7 &&
	      sc == 3);
	CHECK(!sl_type_parse_ps("DECIMAL(3,4)", 12, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("DECIMAL(0)", 10, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("DECIMAL(19)", 11, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("DECIMAL(10,2", 12, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("DECIMALS", 8, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("TIMESTAMP_LTZ(6)", 16, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("TIMESTAMP(3) WITH TIME ZONE", 27, &t, &p, &sc));
	CHECK(!sl_type_parse_ps("VARCHAR(0)", 10, &t, &p, &sc));
	CHECK(sl_type_parse_ps("TIMESTAMP_LTZ(3)", 16, &t, &p, &sc) && t == SL_T_TIMESTAMP_LTZ);
	CHECK_STR(sl_type_name(SL_T_DECIMAL), "DECIMAL");
	CHECK_STR(sl_type_name(SL_T_TIMESTAMP_LTZ), "TIMESTAMP_LTZ(3)");
	char buf[32];
	struct sl_field fd = {.type = SL_T_DECIMAL, .precision = 12, .scale = 4};
	CHECK_EQ_I(sl_field_type_text(&fd, buf, sizeof(buf)), 13);
	CHECK_STR(buf, "DECIMAL(12,4)");
}

static void test_names_and_clauses(void)
{
	OK("`order` BIGINT, `a``b` STRING, `with space` INT, CamelCase int not null, "
	   "x_1$ STRING COMMENT 'it''s', -- a comment, ignored\n"
	   "  meta STRING metadata, v TIMESTAMP_LTZ(3) METADATA FROM 'value.source.timestamp' "
	   "VIRTUAL,\n");
	CHECK_EQ_U(S.schema.n_fields, 7);
	check_field(0, "order", SL_T_BIGINT, false, -1, 0);
	check_field(1, "a`b", SL_T_STRING, false, -1, 0);
	check_field(2, "with space", SL_T_INT, false, -1, 0);
	check_field(3, "CamelCase", SL_T_INT, true, -1, 0);
	check_field(4, "x_1$", SL_T_STRING, false, -1, 0);
	check_field(5, "meta", SL_T_STRING, false, -1, 0);
	CHECK_EQ_U(S.n_meta, 2);
	CHECK_STR(S.meta[0].key, "meta"); /* no FROM: the column name */
	CHECK(!S.meta[0].is_virtual);
	CHECK_EQ_U(S.meta[0].pos.line, 4); /* line 2 of the text */
	CHECK_EQ_U(S.meta[0].pos.col, 3);
	CHECK_STR(S.meta[1].key, "value.source.timestamp");
	CHECK(S.meta[1].is_virtual);
	CHECK_EQ_U(S.meta[1].col, 6);

	OK("a INT PRIMARY KEY NOT ENFORCED, b STRING");
	CHECK_EQ_U(S.n_pk, 1);
	CHECK_EQ_U(S.pk[0], 0);
	check_field(0, "a", SL_T_INT, true, -1, 0);

	OK("CONSTRAINT pk PRIMARY KEY (b, a) NOT ENFORCED, a INT, b STRING NULL");
	CHECK_EQ_U(S.n_pk, 2);
	CHECK_EQ_U(S.pk[0], 1);
	CHECK_EQ_U(S.pk[1], 0);
	check_field(0, "a", SL_T_INT, true, -1, 0); /* key columns become NOT NULL */
	check_field(1, "b", SL_T_STRING, true, -1, 0);

	OK("a INT CONSTRAINT k PRIMARY KEY NOT ENFORCED");
	CHECK_EQ_U(S.n_pk, 1);

	/* 64 columns fit; names up to 63 bytes. */
	char big[64 * 16 + 1];
	size_t o = 0;
	for (int i = 0; i < 64; i++)
		o += (size_t)sprintf(big + o, "%sc%d INT", i ? ", " : "", i);
	OK(big);
	CHECK_EQ_U(S.schema.n_fields, 64);
	char name[80];
	memset(name, 'n', 63);
	snprintf(name + 63, sizeof(name) - 63, " INT");
	OK(name);
}

static void test_errors(void)
{
	BAD("", "schema.yaml:3:10: schema: no columns\n");
	BAD("  -- only a comment", "schema.yaml:3:10: schema: no columns\n");
	BAD("id INTEGERS",
	    "schema.yaml:3:13: schema: unknown type 'INTEGERS' (BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, "
	    "DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n");
	BAD("id INT, id STRING", "schema.yaml:3:18: schema: column 'id' is declared twice\n");
	BAD("a TIMESTAMP(6)", "schema.yaml:3:12: schema: type 'TIMESTAMP(6)': sluice keeps "
			  "timestamps in milliseconds, precision at most 3\n");
	BAD("a TIMESTAMP_LTZ(9)", "schema.yaml:3:12: schema: type 'TIMESTAMP_LTZ(9)': sluice "
			      "keeps timestamps in milliseconds, precision at most 3\n");
	BAD("a DECIMAL(20, 2)",
	    "schema.yaml:3:12: schema: type 'DECIMAL(20, 2)': DECIMAL precision is at most 18\n");
	BAD("a INT, PRIMARY KEY (b) NOT ENFORCED",
	    "schema.yaml:3:30: schema: PRIMARY KEY column 'b' is not declared\n");
	BAD("a INT, PRIMARY KEY (a)",
	    "schema.yaml:3:17: schema: PRIMARY KEY must be declared NOT ENFORCED (Flink supports "
	    "only NOT ENFORCED)\n");
	BAD("a INT PRIMARY KEY NOT ENFORCED, PRIMARY KEY (a) NOT ENFORCED",
	    "schema.yaml:3:42: schema: more than one PRIMARY KEY\n");
	BAD("a INT, PRIMARY KEY (a, a) NOT ENFORCED",
	    "schema.yaml:3:33: schema: PRIMARY KEY names column 'a' twice\n");
	BAD("a INT, m STRING METADATA, PRIMARY KEY (m) NOT ENFORCED",
	    "schema.yaml:3:49: schema: PRIMARY KEY column 'm' is a METADATA column; a primary key "
	    "must be declared on physical columns\n");
	BAD("a AS b + 1",
	    "schema.yaml:3:12: schema: column 'a': computed columns (AS ...) are not supported\n");
	BAD("a INT METADATA FROM source",
	    "schema.yaml:3:30: schema: column 'a': METADATA FROM expects a quoted key such as "
	    "'source.timestamp', got 'source'\n");
	BAD("ts TIMESTAMP(3), WATERMARK FOR ts AS ts",
	    "schema.yaml:3:27: schema: WATERMARK is not supported here (declare event time on the "
	    "source)\n");
	BAD("a INT VIRTUAL", "schema.yaml:3:16: schema: column 'a': VIRTUAL needs METADATA\n");
	BAD("a INT METADATA NOT NULL",
	    "schema.yaml:3:25: schema: column 'a': write NOT NULL before METADATA, and each clause "
	    "once\n");
	BAD("a INT b STRING",
	    "schema.yaml:3:12: schema: unknown type 'INT b STRING' (BOOLEAN, INT, BIGINT, FLOAT, "
	    "DOUBLE, DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n");
	BAD("a", "schema.yaml:3:11: schema: expected a column type, got end of schema\n");
	BAD(", a INT", "schema.yaml:3:10: schema: expected a column name, got ','\n");
	BAD("`a INT", "schema.yaml:3:10: schema: expected a column name, got '`a INT'\n");
	BAD("a ARRAY<STRING>",
	    "schema.yaml:3:12: schema: unknown type 'ARRAY<STRING>' (BOOLEAN, INT, BIGINT, FLOAT, "
	    "DOUBLE, DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n");
	BAD("a INT NOT", "schema.yaml:3:19: schema: expected NULL after NOT, got end of schema\n");
	BAD("a INT COMMENT x",
	    "schema.yaml:3:24: schema: COMMENT expects a quoted string, got 'x'\n");
	/* Every bad column is reported, the good ones kept. */
	BAD("a FOO, b INT, c BAR",
	    "schema.yaml:3:12: schema: unknown type 'FOO' (BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, "
	    "DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n"
	    "schema.yaml:3:26: schema: unknown type 'BAR' (BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, "
	    "DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n");
	CHECK_EQ_U(S.schema.n_fields, 1);
	/* A name one byte too long. */
	char name[80];
	memset(name, 'n', 64);
	snprintf(name + 64, sizeof(name) - 64, " INT");
	char want[200];
	snprintf(want, sizeof(want), "schema.yaml:3:10: schema: name '%.64s' is longer than 63 bytes\n",
		 name);
	BAD(name, want);
	/* Line and column on a later line. */
	BAD("a INT,\n  b BLOB",
	    "schema.yaml:4:5: schema: unknown type 'BLOB' (BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, "
	    "DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), TIMESTAMP_LTZ(3))\n");
	/* A quoted scalar starts one column later. */
	int rc;
	const char *e = parse_q("a BLOB", true, &rc);
	CHECK_EQ_I(rc, -EINVAL);
	CHECK(strncmp(e, "schema.yaml:3:13: ", 18) == 0);
	/* 65 columns are one too many. */
	char big[65 * 16 + 1];
	size_t o = 0;
	for (int i = 0; i < 65; i++)
		o += (size_t)sprintf(big + o, "%sc%d INT", i ? ", " : "", i);
	e = parse(big, &rc);
	CHECK_EQ_I(rc, -EINVAL);
	CHECK(strstr(e, "schema: column 'c64' is one column too many\n") != NULL);
}

int main(void)
{
	test_brief_example();
	test_types();
	test_names_and_clauses();
	test_errors();
	return check_exit("test_sqlschema");
}
