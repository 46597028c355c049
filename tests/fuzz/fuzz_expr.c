/* libFuzzer target: compiles arbitrary text as an expression against a schema of every type
 * and, when it compiles, evaluates it on rows with NULLs and edge values, checking what the
 * compiler promised (type, nullability, constness) against what evaluation produced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"

static struct sl_schema schema, out_schema[SL_T__COUNT];
static struct sl_batch *in, *out;
static struct sl_expr_scratch *scratch, *tiny;

#define ROWS 5u

static struct sl_batch *new_batch(const struct sl_schema *s)
{
	void *block = aligned_alloc(64, sl_batch_block_bytes(SL_MAX_COLS));
	if (!block)
		abort();
	struct sl_batch *b = sl_batch_format(block, SL_MAX_COLS, 0);
	sl_batch_reset(b, s);
	return b;
}

static void str(struct sl_batch *b, uint32_t c, uint32_t r, const char *s)
{
	if (!sl_batch_set_str(b, c, r, s, strlen(s)))
		abort();
}

static void setup(void)
{
	static const struct {
		const char *name;
		enum sl_type t;
		bool not_null;
	} cols[] = {
		{"i", SL_T_INT, false},     {"b", SL_T_BIGINT, false}, {"f", SL_T_FLOAT, false},
		{"d", SL_T_DOUBLE, false},  {"s", SL_T_STRING, false}, {"t", SL_T_BOOL, false},
		{"dt", SL_T_DATE, false},   {"ts", SL_T_TIMESTAMP, false}, {"n", SL_T_STRING, true},
		{"k", SL_T_BIGINT, true},   {"a b", SL_T_INT, false},
	};
	for (size_t c = 0; c < sizeof(cols) / sizeof(cols[0]); c++)
		if (sl_schema_add(&schema, cols[c].name, cols[c].t, cols[c].not_null) != 0)
			abort();
	/* A type the language does not compute with (added after TIMESTAMP), if any. */
	bool later = SL_T__COUNT > SL_T_TIMESTAMP + 1;
	if (later && sl_schema_add(&schema, "x", (enum sl_type)(SL_T_TIMESTAMP + 1), false) != 0)
		abort();
	in = new_batch(&schema);
	/* Row 0 ordinary, 1 all NULL, 2 extremes, 3 zeros and empties, 4 NaN and UTF-8. */
	static const int64_t iv[ROWS] = {7, 0, INT32_MIN, 0, -1};
	static const int64_t bv[ROWS] = {123456789012, 0, INT64_MIN, 0, INT64_MAX};
	static const double dv[ROWS] = {0.1, 0, 1e308, 0.0, NAN};
	static const char *const sv[ROWS] = {"hello", NULL, "%_!\\", "", "张三 x"};
	static const int64_t dtv[ROWS] = {19753, 0, INT64_MAX / 2, 0, -719528};
	static const int64_t tsv[ROWS] = {1706702400123, 0, INT64_MIN, 0, -1};
	static const char *const nv[ROWS] = {"  Alice ", "", "2024-01-31", "0", "广东省深圳市"};
	for (uint32_t r = 0; r < ROWS; r++) {
		uint32_t o = sl_batch_begin_row(in, SL_KIND_INSERT, 0, 0);
		if (r != 1) {
			sl_batch_set_i(in, 0, o, iv[r]);
			sl_batch_set_i(in, 1, o, bv[r]);
			sl_batch_set_f(in, 2, o, (double)(float)(r == 2 ? 3.4e38 : dv[r]));
			sl_batch_set_f(in, 3, o, dv[r]);
			str(in, 4, o, sv[r]);
			sl_batch_set_i(in, 5, o, r & 1 ? 0 : 1);
			sl_batch_set_i(in, 6, o, dtv[r]);
			sl_batch_set_i(in, 7, o, tsv[r]);
			sl_batch_set_i(in, 10, o, iv[r]);
			if (later)
				sl_batch_set_i(in, 11, o, bv[r]);
		}
		str(in, 8, o, nv[r]);
		sl_batch_set_i(in, 9, o, bv[r]);
		sl_batch_commit_row(in);
	}
	for (int t = 0; t < SL_T__COUNT; t++)
		sl_schema_add(&out_schema[t], "x", t == SL_T_NULL ? SL_T_STRING : (enum sl_type)t,
			      false);
	out = new_batch(&out_schema[SL_T_STRING]);
	scratch = sl_expr_scratch_new(SL_EXPR_SCRATCH_BYTES_DEFAULT);
	tiny = sl_expr_scratch_new(16);
	if (!scratch || !tiny)
		abort();
}

static void check(bool ok, const char *what, const uint8_t *data, size_t size)
{
	if (ok)
		return;
	fprintf(stderr, "invariant broken: %s\nexpression: %.*s\n", what, (int)size,
		(const char *)data);
	abort();
}

static bool data_error(int rc)
{
	return rc == -EDOM || rc == -ERANGE || rc == -EINVAL || rc == -E2BIG;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!in)
		setup();
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_pos pos = {"fuzz.yaml", 1, 1};
	struct sl_expr *e = sl_expr_compile((const char *)data, size, &schema, pos, size & 1, &d);
	check((e == NULL) == (d.n_errors > 0), "an error iff no expression", data, size);
	if (!e) {
		const char *t = sl_diag_text(&d);
		check(strncmp(t, "fuzz.yaml:", 10) == 0, "error has a position", data, size);
		sl_diag_fini(&d);
		return 0;
	}
	sl_diag_fini(&d);
	enum sl_type type = sl_expr_type(e);
	bool nullable = sl_expr_nullable(e), constant = sl_expr_is_constant(e);
	check(type < SL_T__COUNT, "type in range", data, size);
	check(type != SL_T_NULL || nullable, "NULL type is nullable", data, size);
	int col = sl_expr_column(e);
	check(col < 0 || (col < (int)schema.n_fields && schema.fields[col].type == type),
	      "column reference", data, size);
	int first_rc = 0;
	union sl_val first = {0};
	bool first_null = false;
	for (uint32_t r = 0; r < ROWS; r++) {
		union sl_val v;
		bool is_null;
		const char *s;
		uint32_t len;
		int rc = sl_expr_eval(e, in, r, scratch, &v, &is_null, &s, &len);
		check(rc == 0 || data_error(rc), "known error code", data, size);
		if (rc < 0) {
			check(sl_expr_error_text(scratch)[0] != '\0', "error text", data, size);
		} else {
			check(nullable || !is_null, "not nullable, yet NULL", data, size);
			if (!is_null) {
				switch (type) {
				case SL_T_BOOL:
					check(v.i == 0 || v.i == 1, "BOOLEAN is 0 or 1", data, size);
					break;
				case SL_T_INT:
					check(v.i >= INT32_MIN && v.i <= INT32_MAX, "INT range", data, size);
					break;
				case SL_T_FLOAT:
					check(isnan(v.f) || (double)(float)v.f == v.f, "FLOAT precision", data,
					      size);
					break;
				case SL_T_STRING: {
					volatile char sum = 0; /* touch every byte for ASan */
					for (uint32_t k = 0; k < len; k++)
						sum = (char)(sum + s[k]);
					(void)sum;
					break;
				}
				default:
					break;
				}
			}
		}
		if (constant) {
			if (r == 0) {
				first_rc = rc;
				first = v;
				first_null = is_null;
			} else {
				check(rc == first_rc && is_null == first_null &&
					      (rc < 0 || is_null || type == SL_T_STRING ||
					       memcmp(&v, &first, sizeof(v)) == 0),
				      "a constant is the same on every row", data, size);
			}
		}
		/* eval_to, into a column of the result's type. */
		sl_batch_reset(out, &out_schema[type]);
		uint32_t o = sl_batch_begin_row(out, SL_KIND_INSERT, 0, 0);
		int rc2 = sl_expr_eval_to(e, in, r, scratch, out, 0, o);
		check(rc2 == rc || rc2 == -ENOBUFS, "eval_to agrees with eval", data, size);
		/* A tiny scratch fails cleanly. */
		rc = sl_expr_eval(e, in, r, tiny, &v, &is_null, &s, &len);
		check(rc == 0 || data_error(rc), "known error code (tiny scratch)", data, size);
	}
	if (type == SL_T_BOOL || type == SL_T_NULL) {
		uint16_t sel[SL_BATCH_ROWS];
		uint32_t n_sel = 0, bad = 0, first_row = 0;
		int rc;
		unsigned rounds = 0;
		while ((rc = sl_expr_select(e, in, first_row, scratch, sel, &n_sel, &bad)) < 0) {
			check(data_error(rc) && bad >= first_row && bad < ROWS, "select error row", data,
			      size);
			first_row = bad + 1;
			check(++rounds <= ROWS, "select terminates", data, size);
		}
		check((uint32_t)rc == n_sel && n_sel <= ROWS, "select count", data, size);
		for (uint32_t k = 1; k < n_sel; k++)
			check(sel[k] > sel[k - 1], "select order", data, size);
	}
	sl_expr_free(e);
	return 0;
}
