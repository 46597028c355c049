/* Unit test of core/batch (block layout, rows, validity, strings, copies),
 * core/schema (type names, columns) and core/value (parsing and formatting
 * of every type), each against values computed independently (by hand, by
 * Python's datetime, by a naive calendar in this file). */
#include <float.h>
#include <math.h>
#include <stdarg.h>

#include "core/batch.h"
#include "core/schema.h"
#include "core/value.h"
#include "tests/unit/check.h"

/* A formatted batch in its own malloc'd block, so ASan sees any overrun. */
static struct sl_batch *new_batch(uint32_t max_cols, uint16_t owner)
{
	size_t bytes = sl_batch_block_bytes(max_cols);
	void *block = aligned_alloc(4096, bytes);
	REQUIRE(block);
	memset(block, 0xcd, bytes); /* garbage, as a recycled block would hold */
	return sl_batch_format(block, max_cols, owner);
}

static struct sl_schema make_schema(const enum sl_type *types, uint32_t n)
{
	struct sl_schema s = {0};
	char name[16];
	for (uint32_t c = 0; c < n; c++) {
		snprintf(name, sizeof(name), "col%u", c);
		REQUIRE(sl_schema_add(&s, name, types[c], false) == 0);
	}
	return s;
}

/* --- block layout --------------------------------------------------------- */

struct region {
	const char *p;
	size_t len;
};

static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	return x->p < y->p ? -1 : x->p > y->p;
}

static void test_layout(void)
{
	static const uint32_t cols[] = {1, 2, 5, 33, SL_MAX_COLS};
	for (uint32_t i = 0; i < SL_ARRAY_LEN(cols); i++) {
		uint32_t m = cols[i];
		size_t bytes = sl_batch_block_bytes(m);
		size_t need = sizeof(struct sl_batch) +
			      m * (SL_BATCH_ROWS / 8 + SL_BATCH_ROWS * sizeof(union sl_val)) +
			      SL_BATCH_HEAP_BYTES;
		CHECK_EQ_U(bytes % 4096, 0);
		CHECKF(bytes >= need && bytes < need + SL_CACHELINE + 4096,
		       "max_cols %u: %zu bytes for %zu needed", m, bytes, need);

		struct sl_batch *b = new_batch(m, (uint16_t)(9 + i));
		const char *lo = (const char *)b, *hi = lo + bytes;
		CHECK_EQ_U(b->max_cols, m);
		CHECK_EQ_U(b->owner, 9 + i);
		CHECK_EQ_U(b->n_rows, 0);
		CHECK_EQ_U(b->n_cols, 0);
		CHECK_EQ_U(b->heap_len, 0);
		CHECK_EQ_U(b->heap_cap, SL_BATCH_HEAP_BYTES);
		CHECK(b->next == NULL && b->schema == NULL);

		/* Header, every column's bitmap and slots, and the heap: disjoint,
		 * inside the block, 8-aligned. */
		struct region r[2 * SL_MAX_COLS + 2];
		uint32_t n = 0;
		r[n++] = (struct region){lo, sizeof(struct sl_batch)};
		for (uint32_t c = 0; c < SL_MAX_COLS; c++) {
			if (c >= m) {
				CHECK(b->cols[c].valid == NULL && b->cols[c].v == NULL);
				continue;
			}
			CHECK_EQ_U((uintptr_t)b->cols[c].valid % 8, 0);
			CHECK_EQ_U((uintptr_t)b->cols[c].v % 8, 0);
			r[n++] = (struct region){(const char *)b->cols[c].valid, SL_BATCH_ROWS / 8};
			r[n++] = (struct region){(const char *)b->cols[c].v,
						 SL_BATCH_ROWS * sizeof(union sl_val)};
		}
		r[n++] = (struct region){b->heap, SL_BATCH_HEAP_BYTES};
		qsort(r, n, sizeof(r[0]), cmp_region);
		CHECK(r[0].p == lo);
		for (uint32_t k = 0; k + 1 < n; k++)
			CHECKF(r[k].p + r[k].len <= r[k + 1].p, "max_cols %u: regions overlap", m);
		CHECK(r[n - 1].p + r[n - 1].len <= hi);

		/* Every byte of every region is writable (ASan watches the block). */
		for (uint32_t c = 0; c < m; c++) {
			memset(b->cols[c].valid, 0xff, SL_BATCH_ROWS / 8);
			memset(b->cols[c].v, 0x11, SL_BATCH_ROWS * sizeof(union sl_val));
		}
		memset(b->heap, 'h', SL_BATCH_HEAP_BYTES);
		free(b);
	}
}

/* --- rows and validity ------------------------------------------------------ */

/* The value the tests put in row r, column c: distinct per cell. */
static int64_t cell_i(uint32_t r, uint32_t c)
{
	return (int64_t)r * 1000003 - (int64_t)c * 7919 - 5000000;
}
static bool cell_valid(uint32_t r, uint32_t c)
{
	return c == 0 || (r * 7 + c * 3) % 5 != 0 || r == 64;
}
static uint32_t cell_str(uint32_t r, char *buf)
{
	uint32_t len = r % 23; /* includes empty strings */
	for (uint32_t k = 0; k < len; k++)
		buf[k] = (char)('a' + (r + k) % 26);
	return len;
}

static void test_rows(void)
{
	static const enum sl_type types[] = {SL_T_BIGINT, SL_T_DOUBLE, SL_T_STRING, SL_T_INT,
					     SL_T_BOOL};
	struct sl_schema s = make_schema(types, 5);
	struct sl_batch *b = new_batch(8, 3);
	sl_batch_reset(b, &s);
	CHECK(b->schema == &s);
	CHECK_EQ_U(b->n_cols, 5);
	char buf[32];
	uint64_t heap = 0;
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
		CHECK(!sl_batch_full(b));
		uint32_t got = sl_batch_begin_row(b, (uint8_t)(r % 4), 1000 + r, -(int64_t)r);
		CHECK_EQ_U(got, r);
		CHECK_EQ_U(b->n_rows, r); /* not counted until commit */
		for (uint32_t c = 0; c < 5; c++) {
			CHECK(!sl_batch_is_valid(b, c, r)); /* begins all null */
			if (!cell_valid(r, c))
				continue;
			switch (c) {
			case 1:
				sl_batch_set_f(b, c, r, (double)cell_i(r, c) / 8);
				break;
			case 2: {
				uint32_t len = cell_str(r, buf);
				CHECK(sl_batch_set_str(b, c, r, buf, len));
				heap += len;
				break;
			}
			default:
				sl_batch_set_i(b, c, r, cell_i(r, c));
			}
		}
		sl_batch_commit_row(b);
		CHECK_EQ_U(b->n_rows, r + 1);
	}
	CHECK(sl_batch_full(b));
	CHECK_EQ_U(b->heap_len, heap);
	CHECK_EQ_U(sl_batch_heap_free(b), SL_BATCH_HEAP_BYTES - heap);
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
		CHECK_EQ_U(b->kind[r], r % 4);
		CHECK_EQ_I(b->ingest_ns[r], 1000 + r);
		CHECK_EQ_I(b->event_ms[r], -(int64_t)r);
		for (uint32_t c = 0; c < 5; c++) {
			CHECKF(sl_batch_is_valid(b, c, r) == cell_valid(r, c), "row %u col %u", r,
			       c);
			if (!cell_valid(r, c))
				continue;
			if (c == 1) {
				CHECK(b->cols[c].v[r].f == (double)cell_i(r, c) / 8);
			} else if (c == 2) {
				uint32_t want = cell_str(r, buf), len;
				const char *p = sl_batch_str(b, c, r, &len);
				CHECK(len == want && memcmp(p, buf, len) == 0);
			} else {
				CHECK_EQ_I(b->cols[c].v[r].i, cell_i(r, c));
			}
		}
	}

	/* Raw bitmap words of column 3 around the word boundary 63/64/65. */
	uint64_t w0 = b->cols[3].valid[0], w1 = b->cols[3].valid[1];
	for (uint32_t r = 0; r < 128; r++)
		CHECK((((r < 64 ? w0 : w1) >> (r & 63)) & 1) == cell_valid(r, 3));
	sl_batch_set_null(b, 3, 63);
	sl_batch_set_null(b, 3, 64);
	sl_batch_set_null(b, 3, 65);
	CHECK_EQ_U(b->cols[3].valid[0], w0 & ~(1ull << 63));
	CHECK_EQ_U(b->cols[3].valid[1], w1 & ~3ull);
	sl_batch_set_valid(b, 3, 64, true);
	CHECK_EQ_U(b->cols[3].valid[0], w0 & ~(1ull << 63));
	CHECK_EQ_U(b->cols[3].valid[1], (w1 & ~3ull) | 1);
	sl_batch_set_valid(b, 3, 63, true);
	CHECK_EQ_U(b->cols[3].valid[0], w0 | (1ull << 63));
	sl_batch_set_valid(b, 3, 65, true);
	CHECK_EQ_U(b->cols[3].valid[1], w1 | 3ull);
	CHECK(sl_batch_is_valid(b, 3, 63) && sl_batch_is_valid(b, 3, 64) &&
	      sl_batch_is_valid(b, 3, 65));
	/* Neighbouring rows and other columns are untouched. */
	for (uint32_t r = 50; r < 80; r++) {
		if (r < 63 || r > 65)
			CHECKF(sl_batch_is_valid(b, 3, r) == cell_valid(r, 3), "row %u", r);
		CHECKF(sl_batch_is_valid(b, 4, r) == cell_valid(r, 4), "row %u", r);
	}

	/* A reused batch: every row begun and committed with nothing set is
	 * all null, whatever the previous rows left in the bitmaps. */
	sl_batch_reset(b, &s);
	CHECK_EQ_U(b->n_rows, 0);
	CHECK_EQ_U(b->heap_len, 0);
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
		sl_batch_begin_row(b, SL_KIND_DELETE, 0, 0);
		sl_batch_commit_row(b);
	}
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++)
		for (uint32_t c = 0; c < 5; c++)
			CHECKF(!sl_batch_is_valid(b, c, r), "reused batch: row %u col %u not null",
			       r, c);
	free(b);
}

/* A begun row that is rolled back and begun again starts all null, and its
 * string bytes are reused. */
static void test_rollback(void)
{
	static const enum sl_type types[] = {SL_T_BIGINT, SL_T_STRING, SL_T_DOUBLE};
	struct sl_schema s = make_schema(types, 3);
	struct sl_batch *b = new_batch(3, 0);
	sl_batch_reset(b, &s);
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 1, 2);
	sl_batch_set_i(b, 0, r, 5);
	CHECK(sl_batch_set_str(b, 1, r, "first", 5));
	sl_batch_commit_row(b);

	for (uint32_t attempt = 0; attempt < 3; attempt++) {
		uint32_t mark = b->heap_len;
		CHECK_EQ_U(mark, 5);
		r = sl_batch_begin_row(b, SL_KIND_INSERT, 3, 4);
		CHECK_EQ_U(r, 1);
		for (uint32_t c = 0; c < 3; c++)
			CHECKF(!sl_batch_is_valid(b, c, r),
			       "row 1 begun after a rollback (attempt %u): column %u not null",
			       attempt, c);
		sl_batch_set_i(b, 0, r, 6);
		CHECK(sl_batch_set_str(b, 1, r, "bad record", 10));
		sl_batch_set_f(b, 2, r, 1.5);
		CHECK_EQ_U(b->heap_len, 15);
		sl_batch_rollback(b, mark);
		CHECK_EQ_U(b->heap_len, 5);
		CHECK_EQ_U(b->n_rows, 1);
	}
	/* The retried row: only column 1 set; its string reuses the bytes. */
	r = sl_batch_begin_row(b, SL_KIND_UPDATE_AFTER, 7, 8);
	CHECK(sl_batch_set_str(b, 1, r, "ok", 2));
	sl_batch_commit_row(b);
	CHECK_EQ_U(b->cols[1].v[1].s.off, 5);
	CHECK_EQ_U(b->heap_len, 7);
	CHECK(!sl_batch_is_valid(b, 0, 1));
	CHECK(!sl_batch_is_valid(b, 2, 1));
	uint32_t len;
	const char *p = sl_batch_str(b, 1, 0, &len);
	CHECK(len == 5 && memcmp(p, "first", 5) == 0);
	p = sl_batch_str(b, 1, 1, &len);
	CHECK(len == 2 && memcmp(p, "ok", 2) == 0);
	free(b);
}

/* --- strings and a full heap ---------------------------------------------- */

static void test_heap_full(void)
{
	static const enum sl_type types[] = {SL_T_STRING, SL_T_STRING};
	struct sl_schema s = make_schema(types, 2);
	struct sl_batch *b = new_batch(2, 0);
	sl_batch_reset(b, &s);
	static char big[4000];
	memset(big, 'x', sizeof(big));
	uint32_t r = 0, n_ok = 0;
	/* Strings of 4000 bytes until the heap refuses one. */
	for (;;) {
		r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
		big[0] = (char)('A' + r % 26);
		uint32_t before = b->heap_len;
		if (!sl_batch_set_str(b, 0, r, big, sizeof(big))) {
			CHECK_EQ_U(b->heap_len, before); /* nothing set */
			CHECK(!sl_batch_is_valid(b, 0, r));
			break;
		}
		n_ok++;
		sl_batch_commit_row(b);
	}
	CHECK_EQ_U(n_ok, SL_BATCH_HEAP_BYTES / sizeof(big));
	uint32_t left = SL_BATCH_HEAP_BYTES - n_ok * (uint32_t)sizeof(big);
	CHECK_EQ_U(sl_batch_heap_free(b), left);
	/* The rows written are intact. */
	for (uint32_t k = 0; k < n_ok; k++) {
		uint32_t len;
		const char *p = sl_batch_str(b, 0, k, &len);
		CHECK(len == sizeof(big) && p[0] == (char)('A' + k % 26) && p[len - 1] == 'x');
	}
	/* A refused string leaves a value already in the slot alone. */
	CHECK(sl_batch_set_str(b, 1, r, "kept", 4));
	CHECK(!sl_batch_set_str(b, 1, r, big, left + 1));
	uint32_t len;
	const char *p = sl_batch_str(b, 1, r, &len);
	CHECK(len == 4 && memcmp(p, "kept", 4) == 0);
	left -= 4;
	CHECK_EQ_U(sl_batch_heap_free(b), left);
	/* Exactly the free bytes fit; then only empty strings do. */
	CHECK(sl_batch_set_str(b, 0, r, big, left));
	CHECK_EQ_U(sl_batch_heap_free(b), 0);
	CHECK_EQ_U(b->heap_len, SL_BATCH_HEAP_BYTES);
	CHECK(!sl_batch_set_str(b, 1, r, "y", 1));
	CHECK(sl_batch_str_reserve(b, 1, r, 1) == NULL);
	CHECK(sl_batch_set_str(b, 1, r, "", 0));
	p = sl_batch_str(b, 1, r, &len);
	CHECK_EQ_U(len, 0);
	CHECK(sl_batch_is_valid(b, 1, r));
	sl_batch_commit_row(b);

	/* str_reserve hands out the next heap bytes and records them. */
	sl_batch_reset(b, &s);
	r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	CHECK(sl_batch_set_str(b, 0, r, "abc", 3));
	char *w = sl_batch_str_reserve(b, 1, r, 6);
	REQUIRE(w);
	CHECK(w == b->heap + 3);
	memcpy(w, "filled", 6);
	sl_batch_commit_row(b);
	p = sl_batch_str(b, 1, 0, &len);
	CHECK(len == 6 && memcmp(p, "filled", 6) == 0);
	CHECK(sl_batch_is_valid(b, 1, 0));
	CHECK_EQ_U(b->heap_len, 9);
	free(b);
}

/* --- copy_row ---------------------------------------------------------------- */

static void test_copy_row(void)
{
	static const enum sl_type types[] = {SL_T_BIGINT, SL_T_DOUBLE, SL_T_STRING, SL_T_STRING,
					     SL_T_TIMESTAMP};
	struct sl_schema s = make_schema(types, 5);
	struct sl_batch *src = new_batch(5, 1), *dst = new_batch(5, 2);
	size_t bytes = sl_batch_block_bytes(5);
	sl_batch_reset(src, &s);
	sl_batch_reset(dst, &s);
	char buf[64];
	uint64_t seed = 99;
	const uint32_t n = 700;
	for (uint32_t r = 0; r < n; r++) {
		uint64_t x = check_rand(&seed);
		sl_batch_begin_row(src, (uint8_t)(x % 4), (int64_t)x, (int64_t)(x >> 3));
		for (uint32_t c = 0; c < 5; c++) {
			bool null = (x >> (8 + c)) % 4 == 0;
			if (null) {
				/* A null string's slot holds garbage that must not count. */
				src->cols[c].v[r].s.off = 0xfffffff0u;
				src->cols[c].v[r].s.len = 0xfffffff0u;
				continue;
			}
			if (c == 1)
				sl_batch_set_f(src, c, r, r % 7 == 0 ? -0.0 : (double)x / 3);
			else if (c == 2 || c == 3) {
				uint32_t len = (uint32_t)(x >> (20 + 5 * c)) % 40;
				for (uint32_t k = 0; k < len; k++)
					buf[k] = (char)(' ' + (x + k * c) % 90);
				CHECK(sl_batch_set_str(src, c, r, buf, len));
			} else
				sl_batch_set_i(src, c, r, (int64_t)(x * (c + 1)));
		}
		sl_batch_commit_row(src);
	}
	/* Copy in a scrambled order; dst row k is src row perm(k). */
	uint32_t perm[700];
	for (uint32_t k = 0; k < n; k++)
		perm[k] = (k * 263) % n; /* 263 is coprime with 700 */
	for (uint32_t k = 0; k < n; k++)
		CHECK(sl_batch_copy_row(dst, src, perm[k]));
	CHECK_EQ_U(dst->n_rows, n);
	for (uint32_t k = 0; k < n; k++) {
		uint32_t r = perm[k];
		CHECK_EQ_U(dst->kind[k], src->kind[r]);
		CHECK_EQ_I(dst->ingest_ns[k], src->ingest_ns[r]);
		CHECK_EQ_I(dst->event_ms[k], src->event_ms[r]);
		for (uint32_t c = 0; c < 5; c++) {
			bool v = sl_batch_is_valid(src, c, r);
			CHECKF(sl_batch_is_valid(dst, c, k) == v, "dst row %u col %u validity", k,
			       c);
			if (!v)
				continue;
			if (c == 2 || c == 3) {
				uint32_t la, lb;
				const char *a = sl_batch_str(src, c, r, &la);
				const char *b2 = sl_batch_str(dst, c, k, &lb);
				CHECK(la == lb && memcmp(a, b2, la) == 0);
			} else {
				/* Bit-exact, -0.0 included. */
				CHECK(memcmp(&dst->cols[c].v[k], &src->cols[c].v[r], 8) == 0);
			}
		}
	}
	CHECK_EQ_U(dst->heap_len, src->heap_len); /* same strings, same bytes */

	/* A full dst refuses and is left exactly as it was. */
	while (!sl_batch_full(dst))
		CHECK(sl_batch_copy_row(dst, src, dst->n_rows % n));
	char *snap = malloc(bytes);
	REQUIRE(snap);
	memcpy(snap, dst, bytes);
	CHECK(!sl_batch_copy_row(dst, src, 0));
	CHECK(memcmp(snap, dst, bytes) == 0);

	/* A dst whose heap cannot take the row's strings refuses, unchanged;
	 * a row whose strings are null still fits. */
	static const enum sl_type one[] = {SL_T_STRING, SL_T_STRING};
	struct sl_schema s2 = make_schema(one, 2);
	struct sl_batch *a = new_batch(2, 1), *d = new_batch(2, 2);
	sl_batch_reset(a, &s2);
	sl_batch_reset(d, &s2);
	static char fill[SL_BATCH_HEAP_BYTES];
	memset(fill, 'f', sizeof(fill));
	uint32_t r = sl_batch_begin_row(a, SL_KIND_INSERT, 0, 0); /* row 0: 6 + 4 bytes */
	CHECK(sl_batch_set_str(a, 0, r, "sixsix", 6));
	CHECK(sl_batch_set_str(a, 1, r, "four", 4));
	sl_batch_commit_row(a);
	r = sl_batch_begin_row(a, SL_KIND_INSERT, 0, 0); /* row 1: both null, garbage slots */
	a->cols[0].v[r].s.len = 1u << 30;
	a->cols[1].v[r].s.len = 1u << 30;
	sl_batch_commit_row(a);
	r = sl_batch_begin_row(d, SL_KIND_INSERT, 0, 0);
	CHECK(sl_batch_set_str(d, 0, r, fill, SL_BATCH_HEAP_BYTES - 9)); /* 9 bytes left */
	sl_batch_commit_row(d);
	size_t bytes2 = sl_batch_block_bytes(2);
	char *snap2 = malloc(bytes2);
	REQUIRE(snap2);
	memcpy(snap2, d, bytes2);
	CHECK(!sl_batch_copy_row(d, a, 0)); /* needs 10 */
	CHECK(memcmp(snap2, d, bytes2) == 0);
	CHECK(sl_batch_copy_row(d, a, 1));
	CHECK_EQ_U(d->n_rows, 2);
	CHECK(!sl_batch_is_valid(d, 0, 1) && !sl_batch_is_valid(d, 1, 1));
	CHECK_EQ_U(sl_batch_heap_free(d), 9);
	/* With exactly 10 left it fits. */
	sl_batch_reset(d, &s2);
	r = sl_batch_begin_row(d, SL_KIND_INSERT, 0, 0);
	CHECK(sl_batch_set_str(d, 0, r, fill, SL_BATCH_HEAP_BYTES - 10));
	sl_batch_commit_row(d);
	CHECK(sl_batch_copy_row(d, a, 0));
	CHECK_EQ_U(sl_batch_heap_free(d), 0);
	uint32_t len;
	const char *p = sl_batch_str(d, 1, 1, &len);
	CHECK(len == 4 && memcmp(p, "four", 4) == 0);
	free(snap);
	free(snap2);
	free(a);
	free(d);
	free(src);
	free(dst);
}

static void test_kinds(void)
{
	CHECK_STR(sl_kind_str(SL_KIND_INSERT), "+I");
	CHECK_STR(sl_kind_str(SL_KIND_UPDATE_BEFORE), "-U");
	CHECK_STR(sl_kind_str(SL_KIND_UPDATE_AFTER), "+U");
	CHECK_STR(sl_kind_str(SL_KIND_DELETE), "-D");
	CHECK_STR(sl_kind_str((enum sl_kind)4), "??");
	CHECK_STR(sl_kind_str((enum sl_kind) - 1), "??");
	CHECK(sl_kind_is_add(SL_KIND_INSERT) && sl_kind_is_add(SL_KIND_UPDATE_AFTER));
	CHECK(!sl_kind_is_add(SL_KIND_UPDATE_BEFORE) && !sl_kind_is_add(SL_KIND_DELETE));
	CHECK(!sl_kind_is_add(7));
}

/* --- schema --------------------------------------------------------------------- */

static void check_type(const char *text, bool ok, enum sl_type want)
{
	enum sl_type t = SL_T__COUNT;
	bool got = sl_type_parse(text, strlen(text), &t);
	CHECKF(got == ok && (!ok || t == want), "sl_type_parse(\"%s\") = %d, type %d", text, got,
	       (int)t);
}

static void test_schema(void)
{
	check_type("BOOLEAN", true, SL_T_BOOL);
	check_type("bool", true, SL_T_BOOL);
	check_type("INT", true, SL_T_INT);
	check_type("integer", true, SL_T_INT);
	check_type("SmallInt", true, SL_T_INT);
	check_type("TINYINT", true, SL_T_INT);
	check_type("BIGINT", true, SL_T_BIGINT);
	check_type("long", true, SL_T_BIGINT);
	check_type("FLOAT", true, SL_T_FLOAT);
	check_type("real", true, SL_T_FLOAT);
	check_type("DOUBLE", true, SL_T_DOUBLE);
	check_type("double precision", true, SL_T_DOUBLE);
	check_type("STRING", true, SL_T_STRING);
	check_type("varchar", true, SL_T_STRING);
	check_type("VARCHAR(10)", true, SL_T_STRING);
	check_type("varchar(255)", true, SL_T_STRING);
	check_type("CHAR(3)", true, SL_T_STRING);
	check_type("Text", true, SL_T_STRING);
	check_type("DATE", true, SL_T_DATE);
	check_type("TIMESTAMP", true, SL_T_TIMESTAMP);
	check_type("timestamp(3)", true, SL_T_TIMESTAMP);
	check_type("", false, 0);
	check_type("FOO", false, 0);
	check_type("INT(3)", false, 0);
	check_type("VARCHAR(", false, 0);
	check_type("VARCHAR10)", false, 0);
	check_type("CHARS(3)", false, 0);
	check_type("TIMESTAMP(6)", false, 0);
	check_type("DOUBLEPRECISION", false, 0);
	check_type(" INT", false, 0);
	check_type("INTEGERS", false, 0);
	/* Only len bytes are looked at. */
	enum sl_type t;
	CHECK(sl_type_parse("INTEGERS", 7, &t) && t == SL_T_INT);
	CHECK(sl_type_parse("DATE)", 4, &t) && t == SL_T_DATE);
	CHECK(!sl_type_parse("INT", 0, &t));
	/* Every type's name parses back to it. */
	for (int k = SL_T_BOOL; k < SL_T__COUNT; k++) {
		const char *name = sl_type_name((enum sl_type)k);
		CHECKF(sl_type_parse(name, strlen(name), &t) && t == (enum sl_type)k, "type %d %s",
		       k, name);
	}
	CHECK_STR(sl_type_name(SL_T_TIMESTAMP), "TIMESTAMP(3)");
	CHECK_STR(sl_type_name(SL_T_BIGINT), "BIGINT");
	CHECK_STR(sl_type_name(SL_T__COUNT), "?");

	struct sl_schema s = {0};
	char name[SL_NAME_MAX + 8];
	CHECK_EQ_I(sl_schema_find(&s, "a"), -1);
	CHECK_EQ_I(sl_schema_add(&s, "a", SL_T_INT, true), 0);
	CHECK_EQ_I(sl_schema_add(&s, "b", SL_T_STRING, false), 0);
	CHECK_EQ_I(sl_schema_add(&s, "a", SL_T_BIGINT, false), -EEXIST);
	CHECK_EQ_I(sl_schema_add(&s, "A", SL_T_BIGINT, false), 0); /* names are case-sensitive */
	CHECK_EQ_U(s.n_fields, 3);
	memset(name, 'n', SL_NAME_MAX);
	name[SL_NAME_MAX] = '\0';
	CHECK_EQ_I(sl_schema_add(&s, name, SL_T_INT, false), -ENAMETOOLONG); /* 64 chars */
	name[SL_NAME_MAX - 1] = '\0';
	CHECK_EQ_I(sl_schema_add(&s, name, SL_T_INT, false), 0); /* 63 chars */
	CHECK_EQ_U(s.n_fields, 4);
	CHECK_EQ_I(sl_schema_find(&s, "a"), 0);
	CHECK_EQ_I(sl_schema_find(&s, "b"), 1);
	CHECK_EQ_I(sl_schema_find(&s, "A"), 2);
	CHECK_EQ_I(sl_schema_find(&s, name), 3);
	CHECK_EQ_I(sl_schema_find(&s, "c"), -1);
	CHECK_EQ_I(sl_schema_find(&s, ""), -1);
	CHECK(s.fields[0].not_null && !s.fields[1].not_null);
	CHECK(s.fields[0].type == SL_T_INT && s.fields[1].type == SL_T_STRING);
	for (uint32_t c = s.n_fields; c < SL_MAX_COLS; c++) {
		snprintf(name, sizeof(name), "f%u", c);
		CHECK_EQ_I(sl_schema_add(&s, name, SL_T_DOUBLE, false), 0);
	}
	CHECK_EQ_U(s.n_fields, SL_MAX_COLS);
	CHECK_EQ_I(sl_schema_add(&s, "one_more", SL_T_INT, false), -ENOSPC);
	CHECK_EQ_U(s.n_fields, SL_MAX_COLS);
	CHECK_EQ_I(sl_schema_find(&s, "f63"), 63);

	struct sl_schema x = {0}, y = {0};
	CHECK(sl_schema_equal(&x, &y));
	sl_schema_add(&x, "k", SL_T_BIGINT, false);
	sl_schema_add(&x, "v", SL_T_STRING, false);
	CHECK(!sl_schema_equal(&x, &y));
	sl_schema_add(&y, "k", SL_T_BIGINT, false);
	CHECK(!sl_schema_equal(&x, &y));
	sl_schema_add(&y, "v", SL_T_STRING, false);
	CHECK(sl_schema_equal(&x, &y));
	y.fields[1].type = SL_T_INT;
	CHECK(!sl_schema_equal(&x, &y));
	y.fields[1].type = SL_T_STRING;
	y.fields[1].name[0] = 'w';
	CHECK(!sl_schema_equal(&x, &y));
}

/* --- value parsing ---------------------------------------------------------------- */

static void parse_i(enum sl_type t, const char *text, int rc, int64_t want)
{
	union sl_val v = {.i = 0x5eed};
	int got = sl_value_parse(t, text, strlen(text), &v);
	CHECKF(got == rc && (rc != 0 || v.i == want), "parse %s \"%s\": rc %d value %lld",
	       sl_type_name(t), text, got, (long long)v.i);
}

static void parse_f(enum sl_type t, const char *text, double want)
{
	union sl_val v = {.i = 0x5eed};
	int got = sl_value_parse(t, text, strlen(text), &v);
	bool same = isnan(want) ? isnan(v.f) : memcmp(&v.f, &want, 8) == 0;
	CHECKF(got == 0 && same, "parse %s \"%s\": rc %d value %.17g, want %.17g", sl_type_name(t),
	       text, got, v.f, want);
}

static void test_parse(void)
{
	/* INT / BIGINT. */
	parse_i(SL_T_INT, "0", 0, 0);
	parse_i(SL_T_INT, "  42\t", 0, 42);
	parse_i(SL_T_INT, "\r\n-17 ", 0, -17);
	parse_i(SL_T_INT, "+7", 0, 7);
	parse_i(SL_T_INT, "-0", 0, 0);
	parse_i(SL_T_INT, "007", 0, 7);
	parse_i(SL_T_INT, "2147483647", 0, INT32_MAX);
	parse_i(SL_T_INT, "-2147483648", 0, INT32_MIN);
	parse_i(SL_T_INT, "2147483648", -ERANGE, 0);
	parse_i(SL_T_INT, "-2147483649", -ERANGE, 0);
	parse_i(SL_T_INT, "9223372036854775807", -ERANGE, 0);
	parse_i(SL_T_INT, "", -EINVAL, 0);
	parse_i(SL_T_INT, "   ", -EINVAL, 0);
	parse_i(SL_T_INT, "-", -EINVAL, 0);
	parse_i(SL_T_INT, "+", -EINVAL, 0);
	parse_i(SL_T_INT, "--1", -EINVAL, 0);
	parse_i(SL_T_INT, "1.0", -EINVAL, 0);
	parse_i(SL_T_INT, "12a", -EINVAL, 0);
	parse_i(SL_T_INT, "0x10", -EINVAL, 0);
	parse_i(SL_T_INT, "1 2", -EINVAL, 0);
	parse_i(SL_T_INT, "1e3", -EINVAL, 0);
	parse_i(SL_T_BIGINT, "9223372036854775807", 0, INT64_MAX);
	parse_i(SL_T_BIGINT, "-9223372036854775808", 0, INT64_MIN);
	parse_i(SL_T_BIGINT, "9223372036854775808", -ERANGE, 0);
	parse_i(SL_T_BIGINT, "-9223372036854775809", -ERANGE, 0);
	parse_i(SL_T_BIGINT, "18446744073709551615", -ERANGE, 0);
	parse_i(SL_T_BIGINT, "18446744073709551616", -ERANGE, 0);
	parse_i(SL_T_BIGINT, "99999999999999999999", -ERANGE, 0);
	parse_i(SL_T_BIGINT, "00000000000000000042", 0, 42);
	parse_i(SL_T_BIGINT, "1234567890123", 0, 1234567890123ll);
	/* Only len bytes are read. */
	union sl_val v;
	CHECK(sl_value_parse(SL_T_BIGINT, "12345", 3, &v) == 0 && v.i == 123);

	/* DOUBLE / FLOAT. */
	parse_f(SL_T_DOUBLE, "1.5", 1.5);
	parse_f(SL_T_DOUBLE, " 3.25 ", 3.25);
	parse_f(SL_T_DOUBLE, "0.1", 0.1);
	parse_f(SL_T_DOUBLE, "-0.0", -0.0);
	parse_f(SL_T_DOUBLE, "-2.5E-3", -2.5e-3);
	parse_f(SL_T_DOUBLE, "1e300", 1e300);
	parse_f(SL_T_DOUBLE, "42", 42.0);
	parse_f(SL_T_DOUBLE, "1.7976931348623157e308", DBL_MAX);
	parse_f(SL_T_DOUBLE, "5e-324", 4.9406564584124654e-324);
	parse_f(SL_T_DOUBLE, "NaN", NAN);
	parse_f(SL_T_DOUBLE, "Infinity", INFINITY);
	parse_f(SL_T_DOUBLE, "-Infinity", -INFINITY);
	parse_f(SL_T_FLOAT, "3.14", 3.140000104904175);
	parse_f(SL_T_FLOAT, "0.1", (double)0.1f);
	parse_f(SL_T_FLOAT, "16777217", 16777216.0); /* rounded to float precision */
	parse_f(SL_T_FLOAT, "-1.5", -1.5);
	parse_f(SL_T_FLOAT, "NaN", NAN);
	parse_i(SL_T_DOUBLE, "", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "abc", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "1.5x", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "1,5", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "0x1p3", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "0X10", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "1e", -EINVAL, 0);
	parse_i(SL_T_DOUBLE, "--1", -EINVAL, 0);
	parse_i(SL_T_FLOAT, "", -EINVAL, 0);
	parse_i(SL_T_FLOAT, "x", -EINVAL, 0);

	/* BOOLEAN. */
	parse_i(SL_T_BOOL, "true", 0, 1);
	parse_i(SL_T_BOOL, "TRUE", 0, 1);
	parse_i(SL_T_BOOL, " False ", 0, 0);
	parse_i(SL_T_BOOL, "false", 0, 0);
	parse_i(SL_T_BOOL, "1", -EINVAL, 0);
	parse_i(SL_T_BOOL, "yes", -EINVAL, 0);
	parse_i(SL_T_BOOL, "tru", -EINVAL, 0);
	parse_i(SL_T_BOOL, "truee", -EINVAL, 0);
	parse_i(SL_T_BOOL, "", -EINVAL, 0);

	/* DATE (expected days from Python's datetime.date - date(1970,1,1)). */
	parse_i(SL_T_DATE, "1970-01-01", 0, 0);
	parse_i(SL_T_DATE, "1969-12-31", 0, -1);
	parse_i(SL_T_DATE, "2024-02-29", 0, 19782);
	parse_i(SL_T_DATE, "2000-02-29", 0, 11016);
	parse_i(SL_T_DATE, "1900-03-01", 0, -25508);
	parse_i(SL_T_DATE, "1600-03-01", 0, -135080);
	parse_i(SL_T_DATE, "2038-01-19", 0, 24855);
	parse_i(SL_T_DATE, "0001-01-01", 0, -719162);
	parse_i(SL_T_DATE, "9999-12-31", 0, 2932896);
	parse_i(SL_T_DATE, " 2024-02-29\n", 0, 19782);
	parse_i(SL_T_DATE, "2023-02-29", -EINVAL, 0);
	parse_i(SL_T_DATE, "1900-02-29", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-13-01", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-00-10", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-04-31", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-01-32", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-01-00", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-1-01", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024/01/01", -EINVAL, 0);
	parse_i(SL_T_DATE, "20240101", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-01-01x", -EINVAL, 0);
	parse_i(SL_T_DATE, "2024-01-0a", -EINVAL, 0);
	parse_i(SL_T_DATE, "", -EINVAL, 0);

	/* TIMESTAMP (expected ms from Python's datetime). */
	parse_i(SL_T_TIMESTAMP, "1970-01-01 00:00:00", 0, 0);
	parse_i(SL_T_TIMESTAMP, "1970-01-01", 0, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:34:56.5", 0, 1710506096500);
	parse_i(SL_T_TIMESTAMP, "2024-03-15T12:34:56.500Z", 0, 1710506096500);
	parse_i(SL_T_TIMESTAMP, "2024-03-15T12:34:56.50z", 0, 1710506096500);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:34:56.123456789", 0, 1710506096123);
	parse_i(SL_T_TIMESTAMP, "2024-03-15T12:34:56Z", 0, 1710506096000);
	parse_i(SL_T_TIMESTAMP, "2024-02-29 23:59:59.123", 0, 1709251199123);
	parse_i(SL_T_TIMESTAMP, "1969-12-31 23:59:59.999", 0, -1);
	parse_i(SL_T_TIMESTAMP, "1969-07-20T20:17:40Z", 0, -14182940000);
	parse_i(SL_T_TIMESTAMP, "1900-01-01 00:00:00.001", 0, -2208988799999);
	parse_i(SL_T_TIMESTAMP, "0001-01-01 00:00:00", 0, -62135596800000);
	parse_i(SL_T_TIMESTAMP, "9999-12-31T23:59:59.999Z", 0, 253402300799999);
	parse_i(SL_T_TIMESTAMP, "1710506096500", 0, 1710506096500); /* epoch ms */
	parse_i(SL_T_TIMESTAMP, "-1", 0, -1);
	parse_i(SL_T_TIMESTAMP, "0", 0, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 24:00:00", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:60:00", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:00:61", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:00", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:34:56.", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 12:34:56.1234567890", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15T12:34:56+01:00", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15T12:34:56ZZ", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15X12:34:56", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15t12:34:56", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2023-02-29 00:00:00", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "2024-03-15 1:34:56", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "12:34:56", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "", -EINVAL, 0);
	parse_i(SL_T_TIMESTAMP, "1.5", -EINVAL, 0);

	/* Strings and the NULL type are not parsed here. */
	parse_i(SL_T_STRING, "abc", -EINVAL, 0);
	parse_i(SL_T_NULL, "1", -EINVAL, 0);
}

/* --- value formatting ---------------------------------------------------------- */

static void fmt_i(enum sl_type t, int64_t i, const char *want)
{
	char buf[64];
	memset(buf, 'z', sizeof(buf));
	int n = sl_value_format(t, (union sl_val){.i = i}, buf);
	CHECKF(n == (int)strlen(want) && strcmp(buf, want) == 0,
	       "format %s %lld: \"%s\" (%d), want \"%s\"", sl_type_name(t), (long long)i, buf, n,
	       want);
}

static void fmt_f(enum sl_type t, double f, const char *want)
{
	char buf[64];
	memset(buf, 'z', sizeof(buf));
	int n = sl_value_format(t, (union sl_val){.f = f}, buf);
	CHECKF(n == (int)strlen(want) && strcmp(buf, want) == 0,
	       "format %s %.17g: \"%s\" (%d), want \"%s\"", sl_type_name(t), f, buf, n, want);
}

/* Significant digits of a formatted number ("1.25e-07" has 3). */
static int sig_digits(const char *s)
{
	int n = 0, lead = 1, trailing = 0;
	for (; *s && *s != 'e'; s++) {
		if (*s < '0' || *s > '9')
			continue;
		if (*s == '0' && lead)
			continue;
		lead = 0;
		n++;
		trailing = *s == '0' ? trailing + 1 : 0;
	}
	return n - trailing;
}

/* Text that a reader would take for an integer: no '.', exponent, NaN or
 * Infinity. The contract: whole numbers get ".0". */
static bool looks_integral(const char *s)
{
	return !strpbrk(s, ".eEIN");
}

/* Failures of one property over many random inputs: counted, the first
 * one kept as the example to print. */
struct prop {
	const char *what;
	uint32_t n_fail;
	char example[160];
};

static void prop_fail(struct prop *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prop_fail(struct prop *p, const char *fmt, ...)
{
	if (p->n_fail++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->example, sizeof(p->example), fmt, ap);
		va_end(ap);
	}
}

#define CHECK_PROP(p, n_tried)                                                                     \
	CHECKF((p).n_fail == 0, "%s: %u of %u inputs fail, e.g. %s", (p).what, (p).n_fail,         \
	       (n_tried), (p).example)

/*
 * Shortest round trip of doubles (and floats) for random values over the
 * whole exponent range: the text reads back to the same value, one digit
 * fewer would not (checked on normal numbers; subnormals are not printed
 * shortest, see the report), and a whole number never looks like an integer.
 */
static void test_format_roundtrip(void)
{
	struct prop d_back = {"double reads back"}, d_short = {"double is shortest"},
		    d_int = {"double whole numbers get \".0\" (or an exponent)"},
		    f_back = {"float reads back"}, f_short = {"float is shortest"},
		    f_int = {"float whole numbers get \".0\" (or an exponent)"},
		    len = {"returned length is strlen"};
	uint64_t seed = 5;
	const uint32_t n_tries = 300000;
	char buf[64], shorter[400];
	int n;
	for (uint32_t k = 0; k < n_tries; k++) {
		uint64_t bits = check_rand(&seed);
		if (k % 4 == 0) /* many small-mantissa values: short outputs, whole numbers */
			bits &= ~((1ull << (uint32_t)(check_rand(&seed) % 52)) - 1);
		double d;
		memcpy(&d, &bits, 8);
		if (k % 8 == 1) /* whole numbers of every size */
			d = (double)(int64_t)(bits >> (bits % 60));
		if (isnan(d) || isinf(d))
			continue;
		n = sl_value_format(SL_T_DOUBLE, (union sl_val){.f = d}, buf);
		if (n != (int)strlen(buf))
			prop_fail(&len, "%d for \"%s\"", n, buf);
		double back = strtod(buf, NULL);
		if (back != d)
			prop_fail(&d_back, "%a -> \"%s\" -> %a", d, buf, back);
		if (looks_integral(buf))
			prop_fail(&d_int, "%.17g -> \"%s\"", d, buf);
		if (fpclassify(d) == FP_NORMAL) {
			int sd = sig_digits(buf);
			if (sd > 1) {
				snprintf(shorter, sizeof(shorter), "%.*g", sd - 1, d);
				if (strtod(shorter, NULL) == d)
					prop_fail(&d_short, "%.17g -> \"%s\", \"%s\" is shorter", d,
						  buf, shorter);
			}
		}
		float f = (float)d;
		if (k % 8 == 1)
			f = (float)(int32_t)(bits >> (bits % 60));
		if (isinf(f))
			continue;
		n = sl_value_format(SL_T_FLOAT, (union sl_val){.f = (double)f}, buf);
		if (n != (int)strlen(buf))
			prop_fail(&len, "%d for \"%s\"", n, buf);
		float fb = strtof(buf, NULL);
		if (fb != f)
			prop_fail(&f_back, "%a -> \"%s\" -> %a", (double)f, buf, (double)fb);
		if (looks_integral(buf))
			prop_fail(&f_int, "%.9g -> \"%s\"", (double)f, buf);
		if (fpclassify(f) == FP_NORMAL) {
			int sd = sig_digits(buf);
			if (sd > 1) {
				snprintf(shorter, sizeof(shorter), "%.*g", sd - 1, (double)f);
				if (strtof(shorter, NULL) == f)
					prop_fail(&f_short, "%.9g -> \"%s\", \"%s\" is shorter",
						  (double)f, buf, shorter);
			}
		}
	}
	CHECK_PROP(len, n_tries);
	CHECK_PROP(d_back, n_tries);
	CHECK_PROP(d_short, n_tries);
	CHECK_PROP(d_int, n_tries);
	CHECK_PROP(f_back, n_tries);
	CHECK_PROP(f_short, n_tries);
	CHECK_PROP(f_int, n_tries);
	/* Whole numbers just past the "%lld.0" ranges (1e15 and 1e7): "16777216"
	 * would read back as an integer. Either "16777216.0" or "1.6777216e+07"
	 * keeps the contract. */
	n = sl_value_format(SL_T_DOUBLE, (union sl_val){.f = 1234567890123456.0}, buf);
	CHECKF(!looks_integral(buf) && strtod(buf, NULL) == 1234567890123456.0, "got \"%s\"", buf);
	n = sl_value_format(SL_T_FLOAT, (union sl_val){.f = 16777216.0}, buf);
	CHECKF(!looks_integral(buf) && strtod(buf, NULL) == 16777216.0, "got \"%s\"", buf);
}

static void test_format(void)
{
	fmt_i(SL_T_BOOL, 1, "true");
	fmt_i(SL_T_BOOL, 0, "false");
	fmt_i(SL_T_INT, 0, "0");
	fmt_i(SL_T_INT, -1, "-1");
	fmt_i(SL_T_INT, INT32_MIN, "-2147483648");
	fmt_i(SL_T_BIGINT, 1234567890123, "1234567890123");
	fmt_i(SL_T_BIGINT, INT64_MAX, "9223372036854775807");
	fmt_i(SL_T_BIGINT, INT64_MIN, "-9223372036854775808");
	fmt_i(SL_T_BIGINT, -10, "-10");

	fmt_f(SL_T_DOUBLE, 0.1, "0.1");
	fmt_f(SL_T_DOUBLE, 1.0, "1.0");
	fmt_f(SL_T_DOUBLE, -2.0, "-2.0");
	fmt_f(SL_T_DOUBLE, 0.0, "0.0");
	fmt_f(SL_T_DOUBLE, 2.5, "2.5");
	fmt_f(SL_T_DOUBLE, 123.456, "123.456");
	fmt_f(SL_T_DOUBLE, 0.1 + 0.2, "0.30000000000000004");
	fmt_f(SL_T_DOUBLE, 1.0 / 3, "0.3333333333333333");
	fmt_f(SL_T_DOUBLE, 1e14, "100000000000000.0");
	fmt_f(SL_T_DOUBLE, 1e300, "1e+300");
	fmt_f(SL_T_DOUBLE, -1e300, "-1e+300");
	fmt_f(SL_T_DOUBLE, 1.5e-7, "1.5e-07");
	fmt_f(SL_T_DOUBLE, DBL_MAX, "1.7976931348623157e+308");
	fmt_f(SL_T_DOUBLE, NAN, "NaN");
	fmt_f(SL_T_DOUBLE, INFINITY, "Infinity");
	fmt_f(SL_T_DOUBLE, -INFINITY, "-Infinity");
	fmt_f(SL_T_FLOAT, 3.140000104904175, "3.14");
	fmt_f(SL_T_FLOAT, (double)0.1f, "0.1");
	fmt_f(SL_T_FLOAT, 1.0, "1.0");
	fmt_f(SL_T_FLOAT, -0.5, "-0.5");
	fmt_f(SL_T_FLOAT, 1e30, "1e+30");
	fmt_f(SL_T_FLOAT, NAN, "NaN");
	fmt_f(SL_T_FLOAT, -INFINITY, "-Infinity");

	fmt_i(SL_T_DATE, 0, "1970-01-01");
	fmt_i(SL_T_DATE, -1, "1969-12-31");
	fmt_i(SL_T_DATE, 19782, "2024-02-29");
	fmt_i(SL_T_DATE, 11016, "2000-02-29");
	fmt_i(SL_T_DATE, -25508, "1900-03-01");
	fmt_i(SL_T_DATE, -135080, "1600-03-01");
	fmt_i(SL_T_DATE, -719162, "0001-01-01");
	fmt_i(SL_T_DATE, 2932896, "9999-12-31");
	fmt_i(SL_T_TIMESTAMP, 0, "1970-01-01 00:00:00.000");
	fmt_i(SL_T_TIMESTAMP, -1, "1969-12-31 23:59:59.999");
	fmt_i(SL_T_TIMESTAMP, -86400000, "1969-12-31 00:00:00.000");
	fmt_i(SL_T_TIMESTAMP, -86400001, "1969-12-30 23:59:59.999");
	fmt_i(SL_T_TIMESTAMP, 1710506096500, "2024-03-15 12:34:56.500");
	fmt_i(SL_T_TIMESTAMP, -14182940000, "1969-07-20 20:17:40.000");
	fmt_i(SL_T_TIMESTAMP, -2208988799999, "1900-01-01 00:00:00.001");
	fmt_i(SL_T_TIMESTAMP, -62135596800000, "0001-01-01 00:00:00.000");
	fmt_i(SL_T_TIMESTAMP, 253402300799999, "9999-12-31 23:59:59.999");
	fmt_i(SL_T_STRING, 5, "");

	/* parse(format(x)) == x for dates and timestamps over years 1..9999. */
	uint64_t seed = 11;
	char buf[64];
	for (uint32_t k = 0; k < 200000; k++) {
		uint64_t x = check_rand(&seed);
		int64_t day = -719162 + (int64_t)(x % (2932896 + 719162 + 1));
		int n = sl_value_format(SL_T_DATE, (union sl_val){.i = day}, buf);
		union sl_val v;
		CHECKF(sl_value_parse(SL_T_DATE, buf, (size_t)n, &v) == 0 && v.i == day,
		       "date %lld -> \"%s\"", (long long)day, buf);
		int64_t ms = -62135596800000 + (int64_t)((x >> 1) % 315537897600000ull);
		n = sl_value_format(SL_T_TIMESTAMP, (union sl_val){.i = ms}, buf);
		CHECKF(n == 23 && sl_value_parse(SL_T_TIMESTAMP, buf, (size_t)n, &v) == 0 &&
			   v.i == ms,
		       "timestamp %lld -> \"%s\"", (long long)ms, buf);
	}
}

/* --- the calendar ----------------------------------------------------------------- */

static bool leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
static unsigned month_days(int64_t y, unsigned m)
{
	static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : d[m - 1];
}

/* Walks day by day from 1970-01-01, forwards to 9999-12-31 and backwards
 * to 4800 BC (proleptic Gregorian), checking both conversions on each day. */
static void test_civil(void)
{
	int64_t y = 1970;
	unsigned m = 1, d = 1;
	for (int64_t z = 0; z <= 2932896; z++) {
		int64_t gy;
		unsigned gm, gd;
		sl_civil_from_days(z, &gy, &gm, &gd);
		if (gy != y || gm != m || gd != d || sl_days_from_civil(y, m, d) != z) {
			CHECKF(false, "day %lld: civil %lld-%u-%u, want %lld-%u-%u", (long long)z,
			       (long long)gy, gm, gd, (long long)y, m, d);
			break;
		}
		if (++d > month_days(y, m)) {
			d = 1;
			if (++m > 12) {
				m = 1;
				y++;
			}
		}
	}
	CHECK(y == 10000 && m == 1 && d == 1);
	y = 1970, m = 1, d = 1;
	for (int64_t z = 0; y >= -4800; z--) {
		int64_t gy;
		unsigned gm, gd;
		sl_civil_from_days(z, &gy, &gm, &gd);
		if (gy != y || gm != m || gd != d || sl_days_from_civil(y, m, d) != z) {
			CHECKF(false, "day %lld: civil %lld-%u-%u, want %lld-%u-%u", (long long)z,
			       (long long)gy, gm, gd, (long long)y, m, d);
			break;
		}
		if (--d == 0) {
			if (--m == 0) {
				m = 12;
				y--;
			}
			d = month_days(y, m);
		}
	}
	/* Far away: the two functions are inverse over +-2.7 billion years. */
	uint64_t seed = 3;
	for (uint32_t k = 0; k < 1000000; k++) {
		int64_t z = (int64_t)(check_rand(&seed) % 2000000000000ull) - 1000000000000ll;
		int64_t gy;
		unsigned gm, gd;
		sl_civil_from_days(z, &gy, &gm, &gd);
		CHECKF(gm >= 1 && gm <= 12 && gd >= 1 && gd <= month_days(gy, gm) &&
			   sl_days_from_civil(gy, gm, gd) == z,
		       "day %lld -> %lld-%u-%u", (long long)z, (long long)gy, gm, gd);
	}
}

/* sl_batch_append_rows agrees with sl_batch_copy_row row by row, across
 * validity-word boundaries, a non-empty destination, and a full heap. */
static void test_append_rows(void)
{
	static const enum sl_type types[] = {SL_T_BIGINT, SL_T_STRING, SL_T_DOUBLE};
	struct sl_schema s = make_schema(types, 3);
	struct sl_batch *src = new_batch(3, 1), *a = new_batch(3, 2), *b = new_batch(3, 3);
	sl_batch_reset(src, &s);
	uint64_t seed = 7;
	static char buf[2000];
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
		uint64_t x = check_rand(&seed);
		sl_batch_begin_row(src, (uint8_t)(x % 4), (int64_t)r, (int64_t)x);
		if (x % 5)
			sl_batch_set_i(src, 0, r, (int64_t)x);
		uint32_t len = (uint32_t)(x >> 8) % 200;
		memset(buf, 'a' + (int)(r % 26), len);
		if (x % 7)
			CHECK(sl_batch_set_str(src, 1, r, buf, len));
		if (x % 3)
			sl_batch_set_f(src, 2, r, (double)x);
		sl_batch_commit_row(src);
	}
	uint16_t rows[SL_BATCH_ROWS];
	uint32_t n = 0;
	for (uint32_t r = 3; r < SL_BATCH_ROWS; r += 3)
		rows[n++] = (uint16_t)r;
	for (int round = 0; round < 2; round++) {
		sl_batch_reset(a, &s);
		sl_batch_reset(b, &s);
		/* Round 2: a small heap, so it fills before the row slots do. */
		a->heap_cap = b->heap_cap = round ? 24 * 1024 : SL_BATCH_HEAP_BYTES;
		/* Start from a destination already holding 61 rows. */
		for (uint32_t r = 0; r < 61; r++) {
			CHECK(sl_batch_copy_row(a, src, r));
			CHECK(sl_batch_copy_row(b, src, r));
		}
		uint32_t got = sl_batch_append_rows(a, src, rows, n);
		uint32_t want = 0;
		while (want < n && sl_batch_copy_row(b, src, rows[want]))
			want++;
		CHECK(got == want && got > 0 && a->n_rows == b->n_rows && a->heap_len == b->heap_len);
		CHECK(round == 0 || got < n); /* round 2 stops at a full heap */
		for (uint32_t r = 0; r < a->n_rows; r++) {
			CHECK(a->kind[r] == b->kind[r] && a->ingest_ns[r] == b->ingest_ns[r] &&
			      a->event_ms[r] == b->event_ms[r]);
			for (uint32_t c = 0; c < 3; c++) {
				CHECK(sl_batch_is_valid(a, c, r) == sl_batch_is_valid(b, c, r));
				if (!sl_batch_is_valid(a, c, r))
					continue;
				if (c == 1) {
					uint32_t la, lb;
					const char *pa = sl_batch_str(a, c, r, &la);
					const char *pb = sl_batch_str(b, c, r, &lb);
					CHECK(la == lb && memcmp(pa, pb, la) == 0);
				} else {
					CHECK(a->cols[c].v[r].i == b->cols[c].v[r].i);
				}
			}
		}
	}
	free(src);
	free(a);
	free(b);
}

int main(void)
{
	test_append_rows();
	test_layout();
	test_rows();
	test_rollback();
	test_heap_full();
	test_copy_row();
	test_kinds();
	test_schema();
	test_parse();
	test_format();
	test_format_roundtrip();
	test_civil();
	return check_exit("test_batch");
}
