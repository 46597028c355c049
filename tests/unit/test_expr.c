/* Unit tests of the expression language: exact results, NULL logic, data errors, compile
 * errors with positions, select and eval_to. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "core/value.h"

static int failures;

#define FAIL(...)                                                  \
	do {                                                       \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                      \
		fputc('\n', stderr);                               \
		failures++;                                        \
	} while (0)

/* Columns of the test schema; rows are described below. */
enum { C_I, C_B, C_F, C_D, C_S, C_T, C_DT, C_TS, C_NAME, C_PHONE, C_Z, C_FULL, N_COLS };

static struct sl_schema schema;
static struct sl_batch *batch;

static struct sl_batch *new_batch(const struct sl_schema *s)
{
	size_t bytes = sl_batch_block_bytes(SL_MAX_COLS);
	void *block = aligned_alloc(64, bytes);
	if (!block) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	struct sl_batch *b = sl_batch_format(block, SL_MAX_COLS, 0);
	sl_batch_reset(b, s);
	return b;
}

static void put_str(struct sl_batch *b, uint32_t c, uint32_t r, const char *s)
{
	if (s && !sl_batch_set_str(b, c, r, s, strlen(s))) {
		fprintf(stderr, "heap full\n");
		exit(1);
	}
}

static int64_t ms_of(const char *ts)
{
	union sl_val v;
	if (sl_value_parse(SL_T_TIMESTAMP, ts, strlen(ts), &v) != 0) {
		fprintf(stderr, "bad timestamp %s\n", ts);
		exit(1);
	}
	return v.i;
}

/*
 * Rows:
 *   0: i=7 b=9223372036854775807 f=1.5 d=0.1 s='hello' t=TRUE dt=2024-01-31
 *      ts=2024-01-31 12:00:00.123 name='  Alice ' phone='13800138000' z=0 `full name`='Ann Lee'
 *   1: every nullable column NULL; name='' z=0
 *   2: i=-3 b=10 f=-2.25 d=2.5 s='张三' t=FALSE dt=1969-12-31 ts=1969-12-31 23:59:59.999
 *      name='bob' phone='123' z=0 `full name`='X'
 */
static void setup(void)
{
	static const struct {
		const char *name;
		enum sl_type t;
		bool not_null;
	} cols[N_COLS] = {
		{"i", SL_T_INT, false},       {"b", SL_T_BIGINT, false},   {"f", SL_T_FLOAT, false},
		{"d", SL_T_DOUBLE, false},    {"s", SL_T_STRING, false},   {"t", SL_T_BOOL, false},
		{"dt", SL_T_DATE, false},     {"ts", SL_T_TIMESTAMP, false}, {"name", SL_T_STRING, true},
		{"phone", SL_T_STRING, false}, {"z", SL_T_INT, true},       {"full name", SL_T_STRING, false},
	};
	for (int c = 0; c < N_COLS; c++)
		if (sl_schema_add(&schema, cols[c].name, cols[c].t, cols[c].not_null) != 0)
			exit(1);
	batch = new_batch(&schema);
	struct sl_batch *b = batch;
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(b, C_I, r, 7);
	sl_batch_set_i(b, C_B, r, INT64_MAX);
	sl_batch_set_f(b, C_F, r, 1.5);
	sl_batch_set_f(b, C_D, r, 0.1);
	put_str(b, C_S, r, "hello");
	sl_batch_set_i(b, C_T, r, 1);
	sl_batch_set_i(b, C_DT, r, sl_days_from_civil(2024, 1, 31));
	sl_batch_set_i(b, C_TS, r, ms_of("2024-01-31 12:00:00.123"));
	put_str(b, C_NAME, r, "  Alice ");
	put_str(b, C_PHONE, r, "13800138000");
	sl_batch_set_i(b, C_Z, r, 0);
	put_str(b, C_FULL, r, "Ann Lee");
	sl_batch_commit_row(b);
	r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	put_str(b, C_NAME, r, "");
	sl_batch_set_i(b, C_Z, r, 0);
	sl_batch_commit_row(b);
	r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(b, C_I, r, -3);
	sl_batch_set_i(b, C_B, r, 10);
	sl_batch_set_f(b, C_F, r, -2.25);
	sl_batch_set_f(b, C_D, r, 2.5);
	put_str(b, C_S, r, "张三");
	sl_batch_set_i(b, C_T, r, 0);
	sl_batch_set_i(b, C_DT, r, -1);
	sl_batch_set_i(b, C_TS, r, -1);
	put_str(b, C_NAME, r, "bob");
	put_str(b, C_PHONE, r, "123");
	sl_batch_set_i(b, C_Z, r, 0);
	put_str(b, C_FULL, r, "X");
	sl_batch_commit_row(b);
}

static struct sl_pos test_pos = {"job.yaml", 3, 10};

static const char *errno_name(int rc)
{
	switch (-rc) {
	case EDOM:
		return "EDOM";
	case ERANGE:
		return "ERANGE";
	case EINVAL:
		return "EINVAL";
	case E2BIG:
		return "E2BIG";
	default:
		return "E?";
	}
}

/* Result of expression `text` on row `row` as text: NULL, 42, 1.5, 'str', TRUE, DATE
 * 2024-01-31, TIMESTAMP ..., or "ERANGE: message"; "COMPILE: diag" when it does not compile. */
static void eval_text(const char *text, uint32_t row, char *out, size_t cap,
		      struct sl_expr_scratch *s, enum sl_type *type)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_expr *e = sl_expr_compile(text, strlen(text), &schema, test_pos, false, &d);
	if (!e) {
		snprintf(out, cap, "COMPILE: %s", sl_diag_text(&d));
		size_t n = strlen(out);
		if (n && out[n - 1] == '\n')
			out[n - 1] = '\0';
		sl_diag_fini(&d);
		*type = SL_T__COUNT;
		return;
	}
	sl_diag_fini(&d);
	*type = sl_expr_type(e);
	union sl_val v;
	bool is_null;
	const char *str;
	uint32_t len;
	int rc = sl_expr_eval(e, batch, row, s, &v, &is_null, &str, &len);
	char buf[64];
	if (rc < 0) {
		snprintf(out, cap, "%s: %s", errno_name(rc), sl_expr_error_text(s));
	} else if (is_null) {
		snprintf(out, cap, "NULL");
	} else {
		switch (*type) {
		case SL_T_BOOL:
			snprintf(out, cap, v.i ? "TRUE" : "FALSE");
			break;
		case SL_T_INT:
		case SL_T_BIGINT:
			snprintf(out, cap, "%lld", (long long)v.i);
			break;
		case SL_T_FLOAT:
		case SL_T_DOUBLE:
			sl_format_double(v.f, buf);
			snprintf(out, cap, "%s", buf);
			break;
		case SL_T_STRING:
			snprintf(out, cap, "'%.*s'", (int)len, str);
			break;
		case SL_T_DATE:
		case SL_T_TIMESTAMP:
			sl_value_format(*type, v, buf);
			snprintf(out, cap, "%s %s", *type == SL_T_DATE ? "DATE" : "TIMESTAMP", buf);
			break;
		default:
			snprintf(out, cap, "?");
		}
	}
	sl_expr_free(e);
}

static struct sl_expr_scratch *scratch;

/* The result of text on row, and its type when want_type is not NULL. */
static void check(int line, const char *text, uint32_t row, const char *want, const char *want_type)
{
	char got[512];
	enum sl_type t;
	eval_text(text, row, got, sizeof(got), scratch, &t);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "%s:%d: FAIL: `%s` on row %u\n  got:  %s\n  want: %s\n", __FILE__,
			line, text, row, got, want);
		failures++;
	}
	if (want_type && t != SL_T__COUNT) {
		const char *tn = t == SL_T_NULL ? "NULL" : sl_type_name(t);
		if (strcmp(tn, want_type) != 0) {
			fprintf(stderr, "%s:%d: FAIL: `%s`: type %s, want %s\n", __FILE__, line, text, tn,
				want_type);
			failures++;
		}
	}
}

#define CHECK(text, row, want) check(__LINE__, text, row, want, NULL)
#define CHECK_T(text, row, want, type) check(__LINE__, text, row, want, type)
/* The same result on every row (constants, folded). */
#define CHECK_ALL(text, want)               \
	do {                                \
		for (uint32_t r_ = 0; r_ < 3; r_++) \
			CHECK(text, r_, want);      \
	} while (0)

static void compile_error(int line, const char *text, bool quoted, const char *want)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_expr *e = sl_expr_compile(text, strlen(text), &schema, test_pos, quoted, &d);
	if (e) {
		fprintf(stderr, "%s:%d: FAIL: `%s` compiled\n", __FILE__, line, text);
		failures++;
		sl_expr_free(e);
	} else if (strcmp(sl_diag_text(&d), want) != 0) {
		fprintf(stderr, "%s:%d: FAIL: `%s`\n  got:  %s  want: %s", __FILE__, line, text,
			sl_diag_text(&d), want);
		failures++;
	}
	sl_diag_fini(&d);
}

#define CERR(text, want) compile_error(__LINE__, text, false, want "\n")
#define CERR_Q(text, want) compile_error(__LINE__, text, true, want "\n")

static void test_arithmetic(void)
{
	CHECK_T("1 + 2", 0, "3", "BIGINT");
	CHECK_T("42", 0, "42", "INT");
	CHECK_T("3000000000", 0, "3000000000", "BIGINT");
	CHECK_T("-2147483648", 0, "-2147483648", "INT");
	CHECK_T("-9223372036854775808", 0, "-9223372036854775808", "BIGINT");
	CHECK_T("i + 1", 0, "8", "BIGINT");
	CHECK_T("i * 2 - 1", 2, "-7", "BIGINT");
	CHECK_T("i + 0.5", 0, "7.5", "DOUBLE");
	CHECK_T("f * 2", 0, "3.0", "DOUBLE");
	CHECK_T("i / 2", 0, "3", "BIGINT");      /* truncates like Java */
	CHECK_T("i / 2", 2, "-1", "BIGINT");     /* toward zero */
	CHECK_T("i % 4", 2, "-3", "BIGINT");     /* sign of the dividend */
	CHECK_T("mod(i, 4)", 0, "3", "BIGINT");
	CHECK_T("i / 2.0", 0, "3.5", "DOUBLE");
	CHECK_T("7.5 % 2", 0, "1.5", "DOUBLE");
	CHECK("2 + 3 * 4", 0, "14");
	CHECK("(2 + 3) * 4", 0, "20");
	CHECK("2 - 3 - 4", 0, "-5");
	CHECK("-i", 0, "-7");
	CHECK("- -i", 0, "7");
	CHECK("+i", 0, "7");
	CHECK("1e3", 0, "1000.0");
	CHECK("2.5E-1", 0, "0.25");
	CHECK(".5 + 1.", 0, "1.5");
	CHECK("b - 1", 0, "9223372036854775806");
	CHECK("i + NULL", 0, "NULL");
	CHECK("i + 1", 1, "NULL");
	CHECK_T("NULL + NULL", 0, "NULL", "NULL");
	/* Data errors. */
	CHECK("b + 1", 0, "ERANGE: BIGINT overflow in + in `b + 1`");
	CHECK("b * 2", 0, "ERANGE: BIGINT overflow in * in `b * 2`");
	CHECK("-b - 2", 0, "ERANGE: BIGINT overflow in - in `-b - 2`");
	CHECK("-(-9223372036854775808)", 0,
	      "ERANGE: BIGINT overflow in unary - in `-(-9223372036854775808)`");
	CHECK("(-9223372036854775808) / -1", 0,
	      "ERANGE: BIGINT overflow in / in `(-9223372036854775808) / -1`");
	CHECK("(-9223372036854775808) % -1", 0, "0");
	CHECK("i / z", 0, "EDOM: division by zero in `i / z`");
	CHECK("i % z", 0, "EDOM: modulo by zero in `i % z`");
	CHECK("mod(i, z)", 0, "EDOM: modulo by zero in `mod(i, z)`");
	CHECK("i / 0", 0, "EDOM: division by zero in `i / 0`");
	CHECK("1 / 0", 0, "EDOM: division by zero in `1 / 0`"); /* constant, fails every row */
	CHECK("i / z", 1, "NULL");                                 /* NULL first */
	/* IEEE for doubles. */
	CHECK("1.0 / 0", 0, "Infinity");
	CHECK("-1.0 / z", 0, "-Infinity");
	CHECK("d / z", 0, "Infinity");
	CHECK("0.0 / 0", 0, "NaN");
	/* Functions on numbers. */
	CHECK_T("abs(i)", 2, "3", "BIGINT");
	CHECK_T("abs(f)", 2, "2.25", "DOUBLE");
	CHECK("abs(-9223372036854775808)", 0,
	      "ERANGE: BIGINT overflow in abs in `abs(-9223372036854775808)`");
	CHECK_T("round(2.5)", 0, "3.0", "DOUBLE");
	CHECK("round(-2.5)", 0, "-3.0");
	CHECK("round(2.675, 2)", 0, "2.68"); /* on the decimal 2.675, as BigDecimal */
	CHECK("round(1.005, 2)", 0, "1.01");
	CHECK("round(1234.5678, -2)", 0, "1200.0");
	CHECK("round(0.004, 2)", 0, "0.0");
	CHECK("round(9.995, 2)", 0, "10.0");
	CHECK("round(d, 0)", 2, "3.0");
	CHECK_T("round(i)", 0, "7", "BIGINT");
	CHECK("round(1250, -2)", 0, "1300");
	CHECK("round(-1250, -2)", 0, "-1300");
	CHECK("round(1249, -2)", 0, "1200");
	CHECK("round(b, -1)", 0, "ERANGE: BIGINT overflow in round in `round(b, -1)`");
	CHECK("round(i, NULL)", 0, "NULL");
	CHECK("round(2.5, 9223372036854775807)", 0, "2.5");
	CHECK("round(2.5, -9223372036854775808)", 0, "0.0");
	CHECK("round(i, -9223372036854775808)", 0, "0");
	CHECK_T("floor(-2.5)", 0, "-3.0", "DOUBLE");
	CHECK_T("ceil(2.1)", 0, "3.0", "DOUBLE");
	CHECK_T("ceiling(i)", 0, "7", "INT");
	CHECK_T("floor(i)", 2, "-3", "INT");
	CHECK_T("power(2, 10)", 0, "1024.0", "DOUBLE");
	CHECK("sqrt(16)", 0, "4.0");
	CHECK("sqrt(-1)", 0, "NaN");
	CHECK("ln(1)", 0, "0.0");
	CHECK("log10(1000)", 0, "3.0");
	CHECK("exp(0)", 0, "1.0");
}

static void test_logic(void)
{
	/* Three-valued logic, at run time: t is TRUE, NULL, FALSE on rows 0, 1, 2. */
	static const char *const and_tab[3][3] = {
		/* t AND TRUE, t AND NULL, t AND FALSE */
		{"TRUE", "NULL", "FALSE"},  /* t = TRUE */
		{"NULL", "NULL", "FALSE"},  /* t = NULL */
		{"FALSE", "FALSE", "FALSE"}, /* t = FALSE */
	};
	static const char *const or_tab[3][3] = {
		{"TRUE", "TRUE", "TRUE"},
		{"TRUE", "NULL", "NULL"},
		{"TRUE", "NULL", "FALSE"},
	};
	static const char *const lit[3] = {"TRUE", "NULL", "FALSE"};
	char text[64];
	for (uint32_t r = 0; r < 3; r++) {
		for (int k = 0; k < 3; k++) {
			snprintf(text, sizeof(text), "t AND %s", lit[k]);
			CHECK(text, r, and_tab[r][k]);
			snprintf(text, sizeof(text), "%s AND t", lit[k]);
			CHECK(text, r, and_tab[r][k]);
			snprintf(text, sizeof(text), "t OR %s", lit[k]);
			CHECK(text, r, or_tab[r][k]);
			snprintf(text, sizeof(text), "%s OR t", lit[k]);
			CHECK(text, r, or_tab[r][k]);
			/* Folded at compile time: the same table. */
			snprintf(text, sizeof(text), "%s AND %s", lit[r], lit[k]);
			CHECK(text, 0, and_tab[r][k]);
			snprintf(text, sizeof(text), "%s OR %s", lit[r], lit[k]);
			CHECK(text, 0, or_tab[r][k]);
		}
	}
	CHECK("NOT t", 0, "FALSE");
	CHECK("NOT t", 1, "NULL");
	CHECK("NOT t", 2, "TRUE");
	CHECK("NOT NULL", 0, "NULL");
	CHECK("t IS NULL", 1, "TRUE");
	CHECK("t IS NOT NULL", 1, "FALSE");
	CHECK("t IS TRUE", 1, "FALSE");
	CHECK("t IS NOT TRUE", 1, "TRUE");
	CHECK("t IS FALSE", 2, "TRUE");
	CHECK("t IS NOT FALSE", 1, "TRUE");
	CHECK("t IS UNKNOWN", 1, "TRUE");
	CHECK("t IS NOT UNKNOWN", 0, "TRUE");
	CHECK("s IS NULL", 0, "FALSE");
	/* Short circuits: the right side is not evaluated. */
	CHECK("FALSE AND i / z > 0", 0, "FALSE");
	CHECK("t AND i / z > 0", 2, "FALSE");
	CHECK("t OR i / z > 0", 0, "TRUE");
	CHECK("t AND i / z > 0", 0, "EDOM: division by zero in `i / z`");
	/* Precedence: NOT binds looser than comparison, AND tighter than OR. */
	CHECK("NOT i = 7", 0, "FALSE");
	CHECK("TRUE OR FALSE AND FALSE", 0, "TRUE");
	CHECK("(TRUE OR FALSE) AND FALSE", 0, "FALSE");
	CHECK("not TRUE or TRUE", 0, "TRUE");
	/* The job file's example filter. */
	const char *where = "phone IS NOT NULL AND length(phone) = 11 AND NOT (name = '' OR name IS NULL)";
	CHECK(where, 0, "TRUE");
	CHECK(where, 1, "FALSE");
	CHECK(where, 2, "FALSE");
}

static void test_compare(void)
{
	/* Every comparison operator on every type class. */
	CHECK("i = 7", 0, "TRUE");
	CHECK("i == 7", 0, "TRUE");
	CHECK("i != 7", 0, "FALSE");
	CHECK("i <> 7", 0, "FALSE");
	CHECK("i < 8", 0, "TRUE");
	CHECK("i <= 7", 0, "TRUE");
	CHECK("i > 7", 0, "FALSE");
	CHECK("i >= 8", 0, "FALSE");
	CHECK("i = 7", 1, "NULL");
	CHECK("i = NULL", 0, "NULL");
	CHECK("i < b", 0, "TRUE");
	CHECK("i = 7.0", 0, "TRUE");   /* INT vs DOUBLE */
	CHECK("f = 1.5", 0, "TRUE");   /* FLOAT vs DOUBLE */
	CHECK("f > i", 2, "TRUE");     /* -2.25 > -3 */
	CHECK("d < 0.2", 0, "TRUE");
	CHECK("b = 9223372036854775807", 0, "TRUE");
	CHECK("b > 9223372036854775806", 0, "TRUE"); /* exact in 64 bits, not as doubles */
	CHECK("0.0 / 0 = 0.0 / 0", 0, "FALSE");        /* NaN */
	CHECK("0.0 / 0 <> 0.0 / 0", 0, "TRUE");
	CHECK("s = 'hello'", 0, "TRUE");
	CHECK("s < 'help'", 0, "TRUE");
	CHECK("s > 'hell'", 0, "TRUE");
	CHECK("'abc' < 'abd'", 0, "TRUE");
	CHECK("'' < 'a'", 0, "TRUE");
	CHECK("'Z' < 'a'", 0, "TRUE"); /* bytewise */
	CHECK("s = '张三'", 2, "TRUE");
	CHECK("t = TRUE", 0, "TRUE");
	CHECK("t > FALSE", 0, "TRUE");
	CHECK("t = FALSE", 2, "TRUE");
	CHECK("dt = DATE '2024-01-31'", 0, "TRUE");
	CHECK("dt = '2024-01-31'", 0, "TRUE"); /* a string literal read as a DATE */
	CHECK("dt > '2024-1-30'", 0, "TRUE");
	CHECK("dt < DATE '1970-01-01'", 2, "TRUE");
	CHECK("ts > TIMESTAMP '2024-01-31 12:00:00.122'", 0, "TRUE");
	CHECK("ts = '2024-01-31 12:00:00.123'", 0, "TRUE");
	CHECK("ts > dt", 0, "TRUE"); /* a DATE compares as its midnight */
	CHECK("ts < dt", 2, "FALSE");
	CHECK("ts >= DATE '2024-01-31'", 0, "TRUE");
	CHECK("ts = NULL || ''", 0, "NULL"); /* a folded NULL STRING is no literal to read */
	CHECK("dt IN ('2024-01-31', upper(NULL))", 0, "TRUE");
	CHECK("dt = TIMESTAMP '2024-01-31 00:00:00'", 0, "TRUE");
	/* BETWEEN and IN. */
	CHECK("i BETWEEN 1 AND 7", 0, "TRUE");
	CHECK("i BETWEEN 8 AND 9", 0, "FALSE");
	CHECK("i NOT BETWEEN 8 AND 9", 0, "TRUE");
	CHECK("i BETWEEN -5 AND 0.5", 2, "TRUE");
	CHECK("i BETWEEN 1 AND 7", 1, "NULL");
	CHECK("i BETWEEN NULL AND 5", 0, "FALSE"); /* NULL AND FALSE */
	CHECK("i BETWEEN NULL AND 9", 0, "NULL");
	CHECK("s BETWEEN 'a' AND 'z'", 0, "TRUE");
	CHECK("dt BETWEEN '2024-01-01' AND '2024-12-31'", 0, "TRUE");
	CHECK("i BETWEEN 1 AND 7 AND TRUE", 0, "TRUE");
	CHECK("i IN (1, 7, 9)", 0, "TRUE");
	CHECK("i IN (1, 2)", 0, "FALSE");
	CHECK("i IN (1, NULL)", 0, "NULL");
	CHECK("i IN (7, NULL)", 0, "TRUE");
	CHECK("i NOT IN (1, 2)", 0, "TRUE");
	CHECK("i NOT IN (1, NULL)", 0, "NULL");
	CHECK("i IN (1, 2)", 1, "NULL");
	CHECK("i IN (7.0, 8.5)", 0, "TRUE");
	CHECK("i IN (b, 7)", 0, "TRUE");
	CHECK("s IN ('x', 'hello')", 0, "TRUE");
	CHECK("s IN ('x', '张三')", 2, "TRUE");
	CHECK("s NOT IN ('x', 'y')", 2, "TRUE");
	CHECK("dt IN ('2024-01-31')", 0, "TRUE");
}

static void test_strings(void)
{
	CHECK_T("'it''s'", 0, "'it's'", "STRING");
	CHECK("s || '!'", 0, "'hello!'");
	CHECK("s || '!'", 1, "NULL");
	CHECK("'a' || 'b' || 'c'", 0, "'abc'");
	CHECK_T("upper(s)", 0, "'HELLO'", "STRING");
	CHECK("lower('ÀBC')", 0, "'Àbc'"); /* ASCII letters only */
	CHECK("upper(s)", 2, "'张三'");
	CHECK("trim(name)", 0, "'Alice'");
	CHECK("ltrim(name)", 0, "'Alice '");
	CHECK("rtrim(name)", 0, "'  Alice'");
	CHECK("trim('\t x ')", 0, "'\t x'"); /* spaces only */
	CHECK("TRIM(BOTH 'xy' FROM 'xyaxby')", 0, "'axb'");
	CHECK("TRIM(LEADING 'x' FROM 'xxaxx')", 0, "'axx'");
	CHECK("TRIM(TRAILING FROM '  a  ')", 0, "'  a'");
	CHECK("TRIM('三' FROM s)", 2, "'张'");
	CHECK("upper(trim(name))", 0, "'ALICE'");
	CHECK_T("length(s)", 0, "5", "INT");
	CHECK("length('张三')", 0, "2");
	CHECK("char_length(s)", 2, "2");
	CHECK("character_length('')", 0, "0");
	CHECK("length(s)", 1, "NULL");
	CHECK("length('abcdefgh张ijklmnopq')", 0, "18");
	CHECK("length('abcdefghijklmnop')", 0, "16");
	/* substr: 1-based characters, Flink's rules. */
	CHECK("substr(s, 2, 3)", 0, "'ell'");
	CHECK("substr(s, 2)", 0, "'ello'");
	CHECK("substr(s, 0, 2)", 0, "'he'");
	CHECK("substr(s, -3)", 0, "'llo'");
	CHECK("substr(s, -3, 2)", 0, "'ll'");
	CHECK("substr(s, -9)", 0, "''");
	CHECK("substr(s, 6)", 0, "''");
	CHECK("substr(s, 2, 100)", 0, "'ello'");
	CHECK("substr(s, 2, -1)", 0, "NULL");
	CHECK("substr(s, 2, 0)", 0, "''");
	CHECK("substr(s, 2, 1)", 2, "'三'");
	CHECK("substring(s, 1, 1)", 2, "'张'");
	CHECK("SUBSTRING(s FROM 2 FOR 2)", 0, "'el'");
	CHECK("substring(s from 3)", 0, "'llo'");
	CHECK("substr('广东省深圳市', 4, 3)", 0, "'深圳市'");
	CHECK("substr(s, NULL)", 0, "NULL");
	CHECK_T("concat(s, '-', name)", 0, "'hello-  Alice '", "STRING");
	CHECK("concat(s, '-', name)", 1, "NULL");
	CHECK("concat_ws('-', s, name, 'x')", 1, "'-x'");
	CHECK("concat_ws('-', s, name, 'x')", 0, "'hello-  Alice -x'");
	CHECK("concat_ws(NULL, 'a')", 0, "NULL");
	CHECK("replace(s, 'l', 'LL')", 0, "'heLLLLo'");
	CHECK("replace(s, 'l', '')", 0, "'heo'");
	CHECK("replace(s, '', 'x')", 0, "'hello'");
	CHECK("replace('aaa', 'aa', 'b')", 0, "'ba'");
	CHECK("replace(s, '三', '四')", 2, "'张四'");
	CHECK_T("starts_with(s, 'he')", 0, "TRUE", "BOOLEAN");
	CHECK("startswith(s, 'lo')", 0, "FALSE");
	CHECK("ends_with(s, 'lo')", 0, "TRUE");
	CHECK("endswith(s, '')", 0, "TRUE");
	CHECK("starts_with(s, 'x')", 1, "NULL");
	CHECK_T("position('l' IN s)", 0, "3", "INT");
	CHECK("position('z' IN s)", 0, "0");
	CHECK("position('三' IN s)", 2, "2");
	CHECK("position('' IN s)", 0, "1");
	CHECK("locate('l', s)", 0, "3");
	CHECK("locate('l', s, 4)", 0, "4");
	CHECK("locate('l', s, 5)", 0, "0");
	CHECK("`full name` || '!'", 0, "'Ann Lee!'");
	/* LIKE: % any characters, _ one (UTF-8) character. */
	CHECK("s LIKE 'h%'", 0, "TRUE");
	CHECK("s LIKE '%lo'", 0, "TRUE");
	CHECK("s LIKE '%ll%'", 0, "TRUE");
	CHECK("s LIKE 'hello'", 0, "TRUE");
	CHECK("s LIKE 'hell'", 0, "FALSE");
	CHECK("s LIKE 'h_llo'", 0, "TRUE");
	CHECK("s LIKE 'H%'", 0, "FALSE");
	CHECK("s LIKE '%'", 0, "TRUE");
	CHECK("s LIKE '_'", 0, "FALSE");
	CHECK("s LIKE '张_'", 2, "TRUE");
	CHECK("s LIKE '__'", 2, "TRUE");
	CHECK("s LIKE '%_三'", 2, "TRUE");
	CHECK("s LIKE 'h%l%o'", 0, "TRUE");
	CHECK("s LIKE 'h%x%o'", 0, "FALSE");
	CHECK("s NOT LIKE 'h%'", 0, "FALSE");
	CHECK("s LIKE 'h%'", 1, "NULL");
	CHECK("'50%' LIKE '50!%' ESCAPE '!'", 0, "TRUE");
	CHECK("'50x' LIKE '50!%' ESCAPE '!'", 0, "FALSE");
	CHECK("'a_b' LIKE 'a!_b' ESCAPE '!'", 0, "TRUE");
	CHECK("'axb' LIKE 'a!_b' ESCAPE '!'", 0, "FALSE");
	CHECK("s LIKE s", 0, "TRUE");        /* a pattern known only at run time */
	CHECK("'x%' LIKE s", 0, "FALSE");
	CHECK("name LIKE concat('%', 'b')", 2, "TRUE");
}

static void test_case_and_nulls(void)
{
	CHECK_T("CASE WHEN i > 5 THEN 'big' WHEN i > 0 THEN 'small' ELSE 'neg' END", 0, "'big'",
		"STRING");
	CHECK("CASE WHEN i > 5 THEN 'big' WHEN i > 0 THEN 'small' ELSE 'neg' END", 1, "'neg'");
	CHECK("CASE WHEN i > 5 THEN 'big' WHEN i > 0 THEN 'small' ELSE 'neg' END", 2, "'neg'");
	CHECK("CASE WHEN i > 100 THEN 1 END", 0, "NULL");
	CHECK_T("CASE WHEN t THEN 1 ELSE 2.5 END", 0, "1.0", "DOUBLE");
	CHECK("CASE i WHEN 7 THEN 'seven' WHEN -3 THEN 'minus three' ELSE 'other' END", 0,
	      "'seven'");
	CHECK("CASE i WHEN 7 THEN 'seven' WHEN -3 THEN 'minus three' ELSE 'other' END", 2,
	      "'minus three'");
	CHECK("CASE i WHEN 7 THEN 'seven' ELSE 'other' END", 1, "'other'");
	CHECK("case s when 'hello' then upper(s) end", 0, "'HELLO'");
	CHECK("CASE WHEN z <> 0 THEN i / z ELSE -1 END", 0, "-1"); /* lazy */
	CHECK("CASE WHEN TRUE THEN 1 ELSE 1 / 0 END", 0, "1");
	CHECK_T("coalesce(i, b, 0)", 1, "0", "BIGINT");
	CHECK("coalesce(i, b, 0)", 0, "7");
	CHECK("coalesce(s, name)", 1, "''");
	CHECK("coalesce(NULL, NULL)", 0, "NULL");
	CHECK("coalesce(i, i / z)", 0, "7"); /* lazy */
	CHECK("ifnull(s, 'none')", 1, "'none'");
	CHECK("nullif(i, 7)", 0, "NULL");
	CHECK("nullif(i, 8)", 0, "7");
	CHECK("nullif(i, 8)", 1, "NULL");
	CHECK_T("if(i > 0, 'pos', 'neg')", 2, "'neg'", "STRING");
	CHECK("if(t, 1, 2)", 1, "2");
	CHECK("if(z = 0, 0, i / z)", 0, "0"); /* lazy */
}

static void test_casts(void)
{
	CHECK_T("cast(i AS DOUBLE) / 2 + 1", 0, "4.5", "DOUBLE");
	CHECK_T("cast(i AS BIGINT)", 0, "7", "BIGINT");
	CHECK_T("CAST(d AS INT)", 2, "2", "INT");
	CHECK("CAST(-2.9 AS INT)", 0, "-2");
	CHECK_T("cast(d AS FLOAT)", 0, "0.10000000149011612", "FLOAT");
	CHECK("CAST(b AS INT)", 0, "ERANGE: cannot CAST BIGINT 9223372036854775807 to INT: out of "
				   "range in `CAST(b AS INT)`");
	CHECK("CAST(1e300 AS BIGINT)", 0,
	      "ERANGE: cannot CAST DOUBLE 1.0E300 to BIGINT: out of range in `CAST(1e300 AS BIGINT)`");
	CHECK("CAST(0.0 / 0 AS INT)", 0, "EINVAL: cannot CAST DOUBLE NaN to INT in `CAST(0.0 / 0 AS INT)`");
	CHECK_T("cast('42' AS INT)", 0, "42", "INT");
	CHECK_T("to_timestamp_ltz(1706702400123)", 0, "TIMESTAMP 2024-01-31 12:00:00.123", "TIMESTAMP(3)");
	CHECK_T("to_timestamp_ltz(1706702400, 0)", 0, "TIMESTAMP 2024-01-31 12:00:00.000", "TIMESTAMP(3)");
	CHECK("to_timestamp_ltz(NULL)", 0, "NULL");
	CHECK("cast(' 42 ' AS BIGINT)", 0, "42");
	CHECK("cast('4x' AS INT)", 0, "EINVAL: cannot CAST '4x' to INT in `cast('4x' AS INT)`");
	CHECK("cast(s AS INT)", 0, "EINVAL: cannot CAST 'hello' to INT in `cast(s AS INT)`");
	CHECK("cast('3000000000' AS INT)", 0,
	      "ERANGE: '3000000000' is out of range for INT in CAST in `cast('3000000000' AS INT)`");
	CHECK("cast(s AS INT)", 1, "NULL");
	CHECK_T("try_cast(s AS INT)", 0, "NULL", "INT");
	CHECK("try_cast('12' AS INT) + 1", 0, "13");
	CHECK("try_cast(b AS INT)", 0, "NULL");
	CHECK("try_cast(i AS STRING)", 0, "'7'");
	CHECK("cast('1.5' AS DOUBLE)", 0, "1.5");
	CHECK("cast('yes' AS BOOLEAN)", 0, "TRUE");
	CHECK("cast('F' AS BOOLEAN)", 0, "FALSE");
	CHECK("cast('maybe' AS BOOLEAN)", 0, "EINVAL: cannot CAST 'maybe' to BOOLEAN in `cast('maybe' "
					     "AS BOOLEAN)`");
	CHECK("cast('2024-2-29' AS DATE)", 0, "DATE 2024-02-29");
	CHECK("cast('2023-2-29' AS DATE)", 0, "EINVAL: cannot CAST '2023-2-29' to DATE in "
					      "`cast('2023-2-29' AS DATE)`");
	CHECK("cast('2024-01-31T08:30' AS TIMESTAMP)", 0, "TIMESTAMP 2024-01-31 08:30:00.000");
	CHECK("cast('2024-01-31 08:30:01.123456' AS TIMESTAMP(3))", 0,
	      "TIMESTAMP 2024-01-31 08:30:01.123");
	CHECK("cast(ts AS DATE)", 0, "DATE 2024-01-31");
	CHECK("cast(ts AS DATE)", 2, "DATE 1969-12-31");
	CHECK("cast(dt AS TIMESTAMP)", 0, "TIMESTAMP 2024-01-31 00:00:00.000");
	CHECK("cast(ts AS STRING)", 2, "'1969-12-31 23:59:59.999'");
	CHECK("cast(cast(-9223372036854775808 AS STRING) AS TIMESTAMP)", 0,
	      "EINVAL: cannot CAST '-9223372036854775808' to TIMESTAMP(3) in "
	      "`cast(cast(-9223372036854775808 AS STRING) AS TIMESTAMP)`");
	/* To STRING: Java's forms. */
	CHECK_T("cast(i AS STRING)", 0, "'7'", "STRING");
	CHECK("cast(i AS VARCHAR(10))", 2, "'-3'");
	CHECK("cast(d AS STRING)", 0, "'0.1'");
	CHECK("cast(f AS STRING)", 2, "'-2.25'");
	CHECK("cast(1e10 AS STRING)", 0, "'1.0E10'");
	CHECK("cast(1.5e-5 AS STRING)", 0, "'1.5E-5'");
	CHECK("cast(1234567.0 AS STRING)", 0, "'1234567.0'");
	CHECK("cast(0.001 AS STRING)", 0, "'0.001'");
	CHECK("cast(100.0 AS STRING)", 0, "'100.0'");
	CHECK("cast(cast(0.1 AS FLOAT) AS STRING)", 0, "'0.1'");
	CHECK("cast(1.0 / 0 AS STRING)", 0, "'Infinity'");
	CHECK("cast(t AS STRING)", 0, "'TRUE'");
	CHECK("cast(dt AS STRING)", 0, "'2024-01-31'");
	CHECK("cast(ts AS STRING)", 0, "'2024-01-31 12:00:00.123'");
	CHECK("cast(t AS INT) + cast(TRUE AS DOUBLE)", 0, "2.0");
	CHECK("cast(i AS BOOLEAN)", 0, "TRUE");
	CHECK("cast(NULL AS INT)", 0, "NULL");
	CHECK("'n=' || cast(i AS STRING)", 0, "'n=7'");
}

static void test_compile_errors(void)
{
	CERR("to_timestamp_ltz(i, 2)", "job.yaml:3:30: to_timestamp_ltz: argument 2 must be the "
				       "constant 0 (seconds) or 3 (milliseconds), got INT");
	/* Positions: job.yaml:3:10 is the expression's first character. */
	CERR("nmae = 'x'", "job.yaml:3:10: unknown column 'nmae' (did you mean 'name'?)");
	CERR("i + foo", "job.yaml:3:14: unknown column 'foo'");
	CERR_Q("i + foo", "job.yaml:3:15: unknown column 'foo'"); /* after the opening quote */
	CERR("s = 5", "job.yaml:3:12: cannot compare STRING with INT (CAST one side)");
	CERR("i = 'x'", "job.yaml:3:12: cannot compare INT with STRING (CAST one side)");
	CERR("i IN (1, 'a')", "job.yaml:3:12: cannot compare INT with STRING (CAST one side)");
	CERR("t = 1", "job.yaml:3:12: cannot compare BOOLEAN with INT");
	CERR("dt = s", "job.yaml:3:13: cannot compare DATE with STRING (CAST one side)");
	CERR("s + 1", "job.yaml:3:12: operator + needs numbers, got STRING and INT");
	CERR("s + name", "job.yaml:3:12: operator + needs numbers, got STRING and STRING (use || "
		       "to concatenate strings)");
	CERR("s || i", "job.yaml:3:12: operator || needs STRING operands, got STRING and INT (CAST "
		     "the other types)");
	CERR("upper(i)", "job.yaml:3:16: upper: argument 1 must be STRING, got INT (CAST it first)");
	CERR("i AND t", "job.yaml:3:12: AND needs BOOLEAN operands, got INT and BOOLEAN");
	CERR("CASE WHEN i THEN 1 END", "job.yaml:3:20: WHEN condition must be BOOLEAN, got INT");
	CERR("CASE WHEN t THEN 1 ELSE 'x' END",
	     "job.yaml:3:10: CASE results: incompatible types INT and STRING (CAST one of them)");
	CERR("uper(s)", "job.yaml:3:10: unknown function 'uper' (did you mean 'upper'?)");
	CERR("frobnicate(s)", "job.yaml:3:10: unknown function 'frobnicate'");
	CERR("upper(s, s)", "job.yaml:3:10: upper takes 1 argument, got 2");
	CERR("substr(s)", "job.yaml:3:10: substr takes 2 to 3 arguments, got 1");
	CERR("coalesce()", "job.yaml:3:10: coalesce takes at least 1 argument, got 0");
	CERR("i + * 2", "job.yaml:3:14: syntax error: expected an expression, found '*'");
	CERR("(i + 2", "job.yaml:3:16: syntax error: expected ')', found end of expression");
	CERR("i + 2)", "job.yaml:3:15: syntax error: unexpected ')' after the expression");
	CERR("s = 'abc", "job.yaml:3:14: syntax error: unterminated string");
	CERR("name = \"x\"", "job.yaml:3:17: syntax error: unexpected '\"' (strings use 'single "
			   "quotes', names `backticks`)");
	CERR("length('张三') = 名", "job.yaml:3:25: syntax error: unexpected character '名' "
				   "(write names with other characters in `backticks`)");
	CERR("i = 1 AND", "job.yaml:3:19: syntax error: expected an expression, found end of expression");
	CERR("i NOT 5", "job.yaml:3:16: syntax error: expected IN, LIKE or BETWEEN after NOT, found '5'");
	CERR("cast(i AS GEOMETRY(10, 2))", "job.yaml:3:20: unknown type 'GEOMETRY(10,2)' (expected "
					   "INT, BIGINT, FLOAT, DOUBLE, STRING, BOOLEAN, DATE or TIMESTAMP)");
	CERR("cast(t AS DATE)", "job.yaml:3:10: cannot CAST BOOLEAN to DATE");
	CERR("DATE '2024-13-01'", "job.yaml:3:15: cannot read '2024-13-01' as DATE");
	CERR("s LIKE 'a!b' ESCAPE '!'", "job.yaml:3:17: invalid escape sequence in LIKE pattern");
	CERR("99999999999999999999", "job.yaml:3:10: integer literal 99999999999999999999 is out of "
				     "BIGINT range");
	CERR("", "job.yaml:3:10: empty expression");
	CERR("i =\x01", "job.yaml:3:13: syntax error: unexpected byte 0x01");
	CERR("end = 1", "job.yaml:3:10: syntax error: expected an expression, found keyword 'end'");
	/* Later lines count from column 1; columns count characters, not bytes. */
	CERR("s = '张三' AND\n  nope", "job.yaml:4:3: unknown column 'nope'");
	CERR("'张三' = nope", "job.yaml:3:17: unknown column 'nope'");
	/* Nesting: 32 levels are fine, 33 are not. */
	char deep[256];
	int n = 0;
	for (int k = 0; k < 32; k++)
		deep[n++] = '(';
	deep[n++] = 'i';
	for (int k = 0; k < 32; k++)
		deep[n++] = ')';
	deep[n] = '\0';
	CHECK(deep, 0, "7");
	n = 0;
	for (int k = 0; k < 33; k++)
		deep[n++] = '(';
	deep[n++] = 'i';
	for (int k = 0; k < 33; k++)
		deep[n++] = ')';
	deep[n] = '\0';
	CERR(deep, "job.yaml:3:42: expression nested too deeply (more than 32 levels)");
	n = 0;
	for (int k = 0; k < 33; k++)
		n += sprintf(deep + n, "abs(");
	deep[n++] = 'i';
	for (int k = 0; k < 33; k++)
		deep[n++] = ')';
	deep[n] = '\0';
	CERR(deep, "job.yaml:3:138: expression nested too deeply (more than 32 levels)");
	/* Node count: 256 nodes are fine, 257 are not (i + 1 + ... has 2k + 1 nodes). */
	static char big[8192];
	n = sprintf(big, "i");
	for (int k = 0; k < 127; k++)
		n += sprintf(big + n, " + 1");
	CHECK(big, 0, "134");
	n += sprintf(big + n, " + 1");
	CERR(big, "job.yaml:3:520: expression too large: more than 256 nodes");
	/* Text limit. */
	static char huge[SL_EXPR_MAX_TEXT_BYTES + 2];
	memset(huge, ' ', sizeof(huge) - 1);
	huge[0] = '1';
	huge[sizeof(huge) - 1] = '\0';
	CERR(huge, "job.yaml:3:10: expression longer than 65536 bytes");
}

static void test_api(void)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_expr *e = sl_expr_compile("name", 4, &schema, test_pos, false, &d);
	if (!e || sl_expr_column(e) != C_NAME || sl_expr_nullable(e) || sl_expr_is_constant(e) ||
	    sl_expr_type(e) != SL_T_STRING)
		FAIL("column reference");
	sl_expr_free(e);
	e = sl_expr_compile("upper('a') || 'b'", 17, &schema, test_pos, false, &d);
	if (!e || !sl_expr_is_constant(e) || sl_expr_column(e) != -1 || sl_expr_nullable(e))
		FAIL("constant");
	sl_expr_free(e);
	e = sl_expr_compile("NULL", 4, &schema, test_pos, false, &d);
	if (!e || sl_expr_type(e) != SL_T_NULL || !sl_expr_nullable(e))
		FAIL("NULL literal");
	sl_expr_free(e);
	static const struct {
		const char *text;
		bool nullable;
	} nl[] = {
		{"i + 1", true},          {"z + 1", false},           {"name || 'x'", false},
		{"s IS NULL", false},     {"coalesce(i, 0)", false},  {"coalesce(i, b)", true},
		{"try_cast(name AS INT)", true}, {"cast(z AS STRING)", false},
		{"substr(name, 1, 2)", false}, {"substr(name, 1, z)", true},
		{"CASE WHEN z = 0 THEN 1 END", true}, {"CASE WHEN z = 0 THEN 1 ELSE 2 END", false},
		{"nullif(z, 1)", true},
	};
	for (size_t k = 0; k < sizeof(nl) / sizeof(nl[0]); k++) {
		e = sl_expr_compile(nl[k].text, strlen(nl[k].text), &schema, test_pos, false, &d);
		if (!e || sl_expr_nullable(e) != nl[k].nullable)
			FAIL("nullable(%s) should be %d", nl[k].text, nl[k].nullable);
		sl_expr_free(e);
	}
	if (d.n_errors)
		FAIL("unexpected errors: %s", sl_diag_text(&d));
	sl_diag_fini(&d);
	/* A scratch too small for a string result. */
	struct sl_expr_scratch *tiny = sl_expr_scratch_new(4);
	char got[256];
	enum sl_type t;
	eval_text("s || s", 0, got, sizeof(got), tiny, &t);
	if (strcmp(got, "E2BIG: string result larger than the scratch (4 bytes) in `s || s`") != 0)
		FAIL("tiny scratch: %s", got);
	eval_text("'abcdefgh'", 0, got, sizeof(got), tiny, &t); /* constants need no scratch */
	if (strcmp(got, "'abcdefgh'") != 0)
		FAIL("tiny scratch constant: %s", got);
	sl_expr_scratch_free(tiny);
}

/* Column types added to enum sl_type after TIMESTAMP (none, or DECIMAL and friends) are
 * projected and tested for NULL, and rejected with a clear error elsewhere. */
static void test_later_types(void)
{
	if (SL_T__COUNT <= SL_T_TIMESTAMP + 1)
		return;
	struct sl_schema s = {0};
	sl_schema_add(&s, "x", (enum sl_type)(SL_T_TIMESTAMP + 1), false);
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_expr *e = sl_expr_compile("x", 1, &s, test_pos, false, &d);
	if (!e || sl_expr_column(e) != 0 || sl_expr_type(e) != SL_T_TIMESTAMP + 1)
		FAIL("projecting a later type");
	sl_expr_free(e);
	e = sl_expr_compile("x IS NOT NULL", 13, &s, test_pos, false, &d);
	if (!e)
		FAIL("IS NOT NULL on a later type");
	sl_expr_free(e);
	static const char *const bad[] = {"x = x", "coalesce(x, x)", "cast(x AS STRING)",
					  "x IN (x)", "x + 1"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		sl_diag_fini(&d);
		sl_diag_init(&d);
		e = sl_expr_compile(bad[k], strlen(bad[k]), &s, test_pos, false, &d);
		if (e || !strstr(sl_diag_text(&d), k < 4 ? "not supported in expressions yet"
							  : "needs numbers"))
			FAIL("`%s` on a later type: %s", bad[k], sl_diag_text(&d));
		sl_expr_free(e);
	}
	sl_diag_fini(&d);
}

/* Select over a batch with a bad row in the middle. */
static void test_select(void)
{
	struct sl_schema s = {0};
	sl_schema_add(&s, "x", SL_T_INT, false);
	struct sl_batch *b = new_batch(&s);
	/* x = 10 - r for r in 0..19, NULL on row 3; row 10 has x = 0. */
	for (uint32_t r = 0; r < 20; r++) {
		uint32_t o = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
		if (r != 3)
			sl_batch_set_i(b, 0, o, 10 - (int64_t)r);
		sl_batch_commit_row(b);
	}
	struct sl_diag d;
	sl_diag_init(&d);
	const char *text = "100 / x > 12";
	struct sl_expr *e = sl_expr_compile(text, strlen(text), &s, test_pos, false, &d);
	if (!e) {
		FAIL("compile: %s", sl_diag_text(&d));
		goto out;
	}
	uint16_t sel[SL_BATCH_ROWS];
	uint32_t n_sel = 0, bad = 0, first = 0;
	/* Expected: 100 / x > 12 for x in 10..1 (r 0..9, r 3 NULL): x=7 (14), 6, 5, 4, 3, 2, 1:
	 * rows 4..9; r 10 fails; x < 0 (r 11..19) gives negatives. */
	int rc = sl_expr_select(e, b, first, scratch, sel, &n_sel, &bad);
	if (rc != -EDOM || bad != 10 || n_sel != 6)
		FAIL("select: rc %d bad %u n_sel %u", rc, bad, n_sel);
	if (strcmp(sl_expr_error_text(scratch), "division by zero in `100 / x`") != 0)
		FAIL("select message: %s", sl_expr_error_text(scratch));
	rc = sl_expr_select(e, b, bad + 1, scratch, sel, &n_sel, &bad);
	if (rc != 6 || n_sel != 6)
		FAIL("select continued: rc %d n_sel %u", rc, n_sel);
	for (uint32_t k = 0; k < n_sel && k < 6; k++)
		if (sel[k] != 4 + k)
			FAIL("sel[%u] = %u, want %u", k, sel[k], 4 + k);
	sl_expr_free(e);
	/* A constant predicate. */
	e = sl_expr_compile("1 < 2", 5, &s, test_pos, false, &d);
	n_sel = 0;
	if (!e || sl_expr_select(e, b, 0, scratch, sel, &n_sel, &bad) != 20 || sel[19] != 19)
		FAIL("constant select");
	sl_expr_free(e);
	e = sl_expr_compile("NULL", 4, &s, test_pos, false, &d);
	n_sel = 0;
	if (!e || sl_expr_select(e, b, 0, scratch, sel, &n_sel, &bad) != 0)
		FAIL("NULL select");
	sl_expr_free(e);
out:
	sl_diag_fini(&d);
	free(b);
}

/* eval_to into an output batch, including a full heap. */
static void test_eval_to(void)
{
	struct sl_schema os = {0};
	sl_schema_add(&os, "who", SL_T_STRING, false);
	sl_schema_add(&os, "score", SL_T_DOUBLE, false);
	sl_schema_add(&os, "tag", SL_T_STRING, true);
	sl_schema_add(&os, "big", SL_T_BOOL, false);
	sl_schema_add(&os, "nothing", SL_T_STRING, false);
	struct sl_batch *out = new_batch(&os);
	const char *texts[] = {"upper(trim(name))", "cast(i AS DOUBLE) / 2 + 1", "'vip'",
			       "b > 1000", "NULL"};
	struct sl_expr *e[5] = {0};
	struct sl_diag d;
	sl_diag_init(&d);
	for (int k = 0; k < 5; k++)
		if (!(e[k] = sl_expr_compile(texts[k], strlen(texts[k]), &schema, test_pos, true, &d)))
			FAIL("compile %s: %s", texts[k], sl_diag_text(&d));
	if (failures)
		goto out;
	for (uint32_t r = 0; r < 3; r++) {
		uint32_t o = sl_batch_begin_row(out, SL_KIND_INSERT, 0, 0);
		for (uint32_t c = 0; c < 5; c++) {
			int rc = sl_expr_eval_to(e[c], batch, r, scratch, out, c, o);
			if (rc != 0)
				FAIL("eval_to row %u col %u: %d", r, c, rc);
		}
		sl_batch_commit_row(out);
	}
	uint32_t len;
	const char *p = sl_batch_str(out, 0, 0, &len);
	if (len != 5 || memcmp(p, "ALICE", 5) != 0)
		FAIL("who[0] = %.*s", (int)len, p);
	p = sl_batch_str(out, 0, 2, &len);
	if (len != 3 || memcmp(p, "BOB", 3) != 0)
		FAIL("who[2] = %.*s", (int)len, p);
	if (out->cols[1].v[0].f != 4.5 || sl_batch_is_valid(out, 1, 1) || out->cols[1].v[2].f != -0.5)
		FAIL("score");
	p = sl_batch_str(out, 2, 1, &len);
	if (len != 3 || memcmp(p, "vip", 3) != 0)
		FAIL("tag[1]");
	if (out->cols[3].v[0].i != 1 || sl_batch_is_valid(out, 3, 1) || out->cols[3].v[2].i != 0)
		FAIL("big");
	for (uint32_t r = 0; r < 3; r++)
		if (sl_batch_is_valid(out, 4, r))
			FAIL("nothing[%u] should be NULL", r);
	/* A full heap: -ENOBUFS and nothing changed. */
	uint32_t o = sl_batch_begin_row(out, SL_KIND_INSERT, 0, 0);
	out->heap_len = out->heap_cap - 4;
	int rc = sl_expr_eval_to(e[0], batch, 0, scratch, out, 0, o);
	if (rc != -ENOBUFS || out->heap_len != out->heap_cap - 4 || sl_batch_is_valid(out, 0, o))
		FAIL("full heap: rc %d", rc);
	rc = sl_expr_eval_to(e[0], batch, 2, scratch, out, 0, o); /* "BOB" fits */
	if (rc != 0 || out->heap_len != out->heap_cap - 1 || !sl_batch_is_valid(out, 0, o))
		FAIL("heap with room: rc %d", rc);
	/* A data error leaves the column alone too. */
	const char *bad = "upper(s) || cast(i / z AS STRING)";
	struct sl_expr *eb = sl_expr_compile(bad, strlen(bad), &schema, test_pos, false, &d);
	uint32_t mark = out->heap_len;
	rc = eb ? sl_expr_eval_to(eb, batch, 0, scratch, out, 2, o) : -1;
	if (rc != -EDOM || out->heap_len != mark)
		FAIL("eval_to data error: rc %d", rc);
	sl_expr_free(eb);
out:
	for (int k = 0; k < 5; k++)
		sl_expr_free(e[k]);
	sl_diag_fini(&d);
	free(out);
}

int main(void)
{
	setup();
	scratch = sl_expr_scratch_new(SL_EXPR_SCRATCH_BYTES_DEFAULT);
	if (!scratch)
		return 1;
	if (strcmp(sl_expr_error_text(scratch), "") != 0)
		FAIL("fresh scratch has an error text");
	test_arithmetic();
	test_logic();
	test_compare();
	test_strings();
	test_case_and_nulls();
	test_casts();
	test_compile_errors();
	test_api();
	test_later_types();
	test_select();
	test_eval_to();
	sl_expr_scratch_free(scratch);
	free(batch);
	if (failures) {
		fprintf(stderr, "test_expr: %d failure(s)\n", failures);
		return 1;
	}
	printf("test_expr: ok\n");
	return 0;
}
