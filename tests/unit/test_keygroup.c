/* Unit test of core/keygroup: key-group ranges against Flink's formula,
 * hash stability against a hard-coded XXH3 value, and the key encoding
 * (bytes built independently here, decode round trip, limits). */
#include <math.h>
#include <xxhash.h>

#include "core/keygroup.h"
#include "tests/unit/check.h"

/* --- key groups -------------------------------------------------------------- */

/* Flink's KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup. */
static uint32_t flink_operator_index(uint32_t max_parallelism, uint32_t parallelism, uint32_t kg)
{
	return (uint32_t)((uint64_t)kg * parallelism / max_parallelism);
}

static void check_ranges(uint32_t maxp, uint32_t n)
{
	uint32_t *count = calloc(n, sizeof(*count));
	uint32_t *first = malloc(n * sizeof(*first));
	REQUIRE(count && first);
	for (uint32_t w = 0; w < n; w++)
		first[w] = UINT32_MAX;
	uint32_t prev = 0;
	for (uint32_t kg = 0; kg < maxp; kg++) {
		uint32_t w = sl_keygroup_worker(kg, maxp, n);
		if (w != flink_operator_index(maxp, n, kg) || w >= n || w < prev) {
			CHECKF(false, "maxp %u n %u: kg %u -> worker %u, Flink says %u (prev %u)",
			       maxp, n, kg, w, flink_operator_index(maxp, n, kg), prev);
			goto out;
		}
		prev = w;
		if (first[w] == UINT32_MAX)
			first[w] = kg;
		count[w]++;
	}
	CHECK_EQ_U(sl_keygroup_worker(0, maxp, n), 0);
	if (n <= maxp) /* otherwise some workers own nothing, the last one included */
		CHECK_EQ_U(sl_keygroup_worker(maxp - 1, maxp, n), n - 1);
	/* first(w) is the first kg of w; a worker with no groups (n > maxp) has
	 * the empty range [first(w+1), first(w+1)). */
	uint32_t next_first = maxp;
	for (uint32_t w = n; w-- > 0;) {
		uint32_t want = count[w] ? first[w] : next_first;
		CHECKF(sl_keygroup_first(w, maxp, n) == want,
		       "maxp %u n %u: first(%u) = %u, want %u", maxp, n, w,
		       sl_keygroup_first(w, maxp, n), want);
		next_first = want;
		if (n <= maxp)
			CHECKF(count[w] >= maxp / n && count[w] <= (maxp + n - 1) / n,
			       "maxp %u n %u: worker %u owns %u groups", maxp, n, w, count[w]);
	}
	CHECK_EQ_U(sl_keygroup_first(0, maxp, n), 0);
	CHECK_EQ_U(sl_keygroup_first(n, maxp, n), maxp);
out:
	free(count);
	free(first);
}

static void test_keygroups(void)
{
	static const uint32_t maxps[] = {1024, 128, 7, 32768, 1, 1000};
	for (uint32_t i = 0; i < SL_ARRAY_LEN(maxps); i++)
		for (uint32_t n = 1; n <= 64; n++)
			check_ranges(maxps[i], n);
	for (uint32_t n = 65; n <= SL_MAX_WORKERS; n += 17)
		check_ranges(SL_MAX_PARALLELISM_MAX, n);
	check_ranges(SL_MAX_PARALLELISM_MAX, SL_MAX_WORKERS);
	check_ranges(SL_MAX_PARALLELISM_DEFAULT, SL_MAX_WORKERS);

	/* Key group of a hash: hash mod maxp. */
	uint64_t seed = 8;
	for (uint32_t k = 0; k < 100000; k++) {
		uint64_t h = check_rand(&seed);
		uint32_t maxp = 1 + (uint32_t)(h >> 49) % SL_MAX_PARALLELISM_MAX;
		CHECK_EQ_U(sl_keygroup_of(h, maxp), h % maxp);
	}
	CHECK_EQ_U(sl_keygroup_of(UINT64_MAX, 1024), 1023);
	CHECK_EQ_U(sl_keygroup_of(UINT64_MAX, 7), UINT64_MAX % 7);
}

/* --- encoding ------------------------------------------------------------------ */

enum { N_COLS = 8 };
static const enum sl_type col_types[N_COLS] = {SL_T_BIGINT,    SL_T_DOUBLE, SL_T_STRING,
					       SL_T_INT,       SL_T_BOOL,   SL_T_DATE,
					       SL_T_TIMESTAMP, SL_T_FLOAT};

static struct sl_schema make_schema(void)
{
	struct sl_schema s = {0};
	char name[8];
	for (uint32_t c = 0; c < N_COLS; c++) {
		snprintf(name, sizeof(name), "k%u", c);
		REQUIRE(sl_schema_add(&s, name, col_types[c], false) == 0);
	}
	return s;
}

static struct sl_batch *new_batch(const struct sl_schema *s)
{
	size_t bytes = sl_batch_block_bytes(N_COLS);
	void *block = aligned_alloc(4096, bytes);
	REQUIRE(block);
	struct sl_batch *b = sl_batch_format(block, N_COLS, 0);
	sl_batch_reset(b, s);
	return b;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* The documented encoding, built byte by byte. */
static size_t expected_key(const struct sl_batch *b, uint32_t r, const uint32_t *cols, uint32_t n,
			   uint8_t *out)
{
	size_t o = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t c = cols[k];
		if (!sl_batch_is_valid(b, c, r)) {
			out[o++] = 0;
			continue;
		}
		out[o++] = 1;
		enum sl_type t = b->schema->fields[c].type;
		if (t == SL_T_STRING) {
			uint32_t len;
			const char *s = sl_batch_str(b, c, r, &len);
			for (int b4 = 0; b4 < 4; b4++)
				out[o++] = (uint8_t)(len >> (8 * b4));
			memcpy(out + o, s, len);
			o += len;
		} else if (t == SL_T_DOUBLE || t == SL_T_FLOAT) {
			double d = b->cols[c].v[r].f;
			uint64_t bits;
			if (d == 0)
				bits = 0; /* -0.0 folded */
			else if (isnan(d))
				bits = 0x7ff8000000000000ull; /* the canonical quiet NaN */
			else
				memcpy(&bits, &d, 8);
			put_le64(out + o, bits);
			o += 8;
		} else {
			put_le64(out + o, (uint64_t)b->cols[c].v[r].i);
			o += 8;
		}
	}
	return o;
}

static double bits_double(uint64_t bits)
{
	double d;
	memcpy(&d, &bits, 8);
	return d;
}

/* Fills row r with random values: nulls, -0.0, NaNs, empty strings. */
static void fill_row(struct sl_batch *b, uint64_t *seed)
{
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	char str[80];
	for (uint32_t c = 0; c < N_COLS; c++) {
		uint64_t x = check_rand(seed);
		if (x % 6 == 0)
			continue; /* null */
		switch (col_types[c]) {
		case SL_T_STRING: {
			uint32_t len = (x >> 8) % 3 == 0 ? 0 : (uint32_t)(x >> 16) % 70;
			for (uint32_t k = 0; k < len; k++)
				str[k] = (char)(x >> (k % 56));
			REQUIRE(sl_batch_set_str(b, c, r, str, len));
			break;
		}
		case SL_T_DOUBLE:
		case SL_T_FLOAT: {
			static const uint64_t special[] = {
			    0x0000000000000000ull, 0x8000000000000000ull, /* 0.0, -0.0 */
			    0x7ff8000000000000ull, 0xfff8000000000000ull, /* NaN, -NaN */
			    0x7ff0000000000001ull, 0x7ffc0000deadbeefull, /* sNaN, payload */
			    0x7ff0000000000000ull, 0x3ff0000000000000ull, /* inf, 1.0 */
			};
			double d = (x >> 8) % 2 ? bits_double(special[(x >> 9) % 8])
						: (double)(int64_t)(x >> 20) / 1024;
			if (col_types[c] == SL_T_FLOAT && !isnan(d))
				d = (double)(float)d;
			sl_batch_set_f(b, c, r, d);
			break;
		}
		case SL_T_INT:
			sl_batch_set_i(b, c, r, (int32_t)x);
			break;
		case SL_T_BOOL:
			sl_batch_set_i(b, c, r, (int64_t)(x >> 63));
			break;
		default:
			sl_batch_set_i(b, c, r, (int64_t)x);
		}
	}
	sl_batch_commit_row(b);
}

/* Same logical value: bit-equal, except -0.0 == 0.0 and any NaN == NaN. */
static bool same_value(enum sl_type t, union sl_val a, union sl_val b)
{
	if (t == SL_T_DOUBLE || t == SL_T_FLOAT) {
		if (isnan(a.f) || isnan(b.f))
			return isnan(a.f) && isnan(b.f);
		return a.f == b.f;
	}
	return a.i == b.i;
}

static void test_encode_roundtrip(void)
{
	struct sl_schema s = make_schema();
	struct sl_batch *src = new_batch(&s), *dst = new_batch(&s);
	uint64_t seed = 77;
	uint8_t key[SL_KEY_MAX_BYTES], want[SL_KEY_MAX_BYTES];
	static const uint32_t sets[][N_COLS] = {
	    {0}, {2}, {1}, {7}, {2, 0}, {1, 2, 3, 4, 5, 6, 7, 0}, {6, 2, 1, 2}, {5, 4, 3},
	};
	static const uint32_t set_len[] = {1, 1, 1, 1, 2, 8, 4, 3};
	for (uint32_t round = 0; round < 40; round++) {
		sl_batch_reset(src, &s);
		for (uint32_t r = 0; r < SL_BATCH_ROWS; r++)
			fill_row(src, &seed);
		for (uint32_t si = 0; si < SL_ARRAY_LEN(sets); si++) {
			const uint32_t *cols = sets[si];
			uint32_t n = set_len[si];
			sl_batch_reset(dst, &s);
			for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
				int len = sl_key_encode(src, r, cols, n, key, sizeof(key));
				size_t wl = expected_key(src, r, cols, n, want);
				if (len != (int)wl || memcmp(key, want, wl) != 0) {
					CHECKF(false, "row %u set %u: encoded %d bytes, want %zu",
					       r, si, len, wl);
					continue;
				}
				/* Decode into the same columns of a fresh row. */
				uint32_t o = sl_batch_begin_row(dst, SL_KIND_INSERT, 0, 0);
				CHECK_EQ_I(
				    sl_key_decode(key, (size_t)len, &s, cols, n, dst, o, cols), 0);
				sl_batch_commit_row(dst);
				for (uint32_t k = 0; k < n; k++) {
					uint32_t c = cols[k];
					bool v = sl_batch_is_valid(src, c, r);
					CHECK(sl_batch_is_valid(dst, c, o) == v);
					if (!v)
						continue;
					if (col_types[c] == SL_T_STRING) {
						uint32_t la, lb;
						const char *a = sl_batch_str(src, c, r, &la);
						const char *b2 = sl_batch_str(dst, c, o, &lb);
						CHECK(la == lb && memcmp(a, b2, la) == 0);
					} else {
						CHECK(same_value(col_types[c], src->cols[c].v[r],
								 dst->cols[c].v[o]));
					}
				}
				/* Re-encoding the decoded key gives the same bytes. */
				uint8_t again[SL_KEY_MAX_BYTES];
				int l2 = sl_key_encode(dst, o, cols, n, again, sizeof(again));
				CHECK(l2 == len && memcmp(again, key, (size_t)len) == 0);
			}
		}
	}
	free(src);
	free(dst);
}

/* Decode into other positions of a differently shaped output batch. */
static void test_decode_elsewhere(void)
{
	struct sl_schema s = make_schema();
	struct sl_batch *src = new_batch(&s);
	struct sl_schema os = {0};
	REQUIRE(sl_schema_add(&os, "count", SL_T_BIGINT, false) == 0);
	REQUIRE(sl_schema_add(&os, "name", SL_T_STRING, false) == 0);
	REQUIRE(sl_schema_add(&os, "id", SL_T_BIGINT, false) == 0);
	struct sl_batch *out = new_batch(&os);
	uint32_t r = sl_batch_begin_row(src, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(src, 0, r, -5);
	REQUIRE(sl_batch_set_str(src, 2, r, "alice", 5));
	sl_batch_commit_row(src);
	static const uint32_t cols[] = {0, 2}, out_cols[] = {2, 1};
	uint8_t key[64];
	int len = sl_key_encode(src, r, cols, 2, key, sizeof(key));
	CHECK_EQ_I(len, 9 + 1 + 4 + 5);
	uint32_t o = sl_batch_begin_row(out, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(out, 0, o, 3);
	CHECK_EQ_I(sl_key_decode(key, (size_t)len, &s, cols, 2, out, o, out_cols), 0);
	sl_batch_commit_row(out);
	CHECK(sl_batch_is_valid(out, 0, 0) && out->cols[0].v[0].i == 3);
	CHECK(sl_batch_is_valid(out, 2, 0) && out->cols[2].v[0].i == -5);
	uint32_t sl;
	const char *p = sl_batch_str(out, 1, 0, &sl);
	CHECK(sl_batch_is_valid(out, 1, 0) && sl == 5 && memcmp(p, "alice", 5) == 0);

	/* A full heap: -ENOSPC. */
	static char fill[SL_BATCH_HEAP_BYTES];
	o = sl_batch_begin_row(out, SL_KIND_INSERT, 0, 0);
	REQUIRE(sl_batch_set_str(out, 1, o, fill, sl_batch_heap_free(out) - 4));
	CHECK_EQ_I(sl_key_decode(key, (size_t)len, &s, cols, 2, out, o, out_cols), -ENOSPC);
	free(src);
	free(out);
}

/* -0.0 and 0.0, and every NaN, encode the same, in DOUBLE and FLOAT. */
static void test_float_canonical(void)
{
	struct sl_schema s = make_schema();
	struct sl_batch *b = new_batch(&s);
	static const uint64_t zeros[] = {0, 0x8000000000000000ull};
	static const uint64_t nans[] = {0x7ff8000000000000ull, 0xfff8000000000000ull,
					0x7ff0000000000001ull, 0xfff0000000000001ull,
					0x7ffc0000deadbeefull, 0x7fffffffffffffffull};
	static const uint32_t cols[][1] = {{1}, {7}};
	for (uint32_t ci = 0; ci < 2; ci++) {
		uint8_t first[16], key[16];
		sl_batch_reset(b, &s);
		for (uint32_t k = 0; k < 2; k++) {
			uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
			sl_batch_set_f(b, cols[ci][0], r, bits_double(zeros[k]));
			sl_batch_commit_row(b);
			int len = sl_key_encode(b, r, cols[ci], 1, key, sizeof(key));
			CHECK_EQ_I(len, 9);
			static const uint8_t zero_key[9] = {1};
			CHECK(memcmp(key, zero_key, 9) == 0);
		}
		for (uint32_t k = 0; k < SL_ARRAY_LEN(nans); k++) {
			uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
			sl_batch_set_f(b, cols[ci][0], r, bits_double(nans[k]));
			sl_batch_commit_row(b);
			int len = sl_key_encode(b, r, cols[ci], 1, key, sizeof(key));
			CHECK_EQ_I(len, 9);
			if (k == 0)
				memcpy(first, key, 9);
			CHECKF(memcmp(key, first, 9) == 0, "NaN %016llx encodes differently",
			       (unsigned long long)nans[k]);
			CHECK(sl_key_hash(key, 9) == sl_key_hash(first, 9));
		}
		/* 1.0 and -1.0 are different keys. */
		uint8_t a[16];
		uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
		sl_batch_set_f(b, cols[ci][0], r, 1.0);
		sl_batch_commit_row(b);
		sl_key_encode(b, r, cols[ci], 1, a, sizeof(a));
		r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
		sl_batch_set_f(b, cols[ci][0], r, -1.0);
		sl_batch_commit_row(b);
		sl_key_encode(b, r, cols[ci], 1, key, sizeof(key));
		CHECK(memcmp(a, key, 9) != 0);
	}
	free(b);
}

/* A fixed key's bytes and hash never change: state and key groups depend
 * on them across runs and versions. */
static void test_stability(void)
{
	struct sl_schema s = {0};
	REQUIRE(sl_schema_add(&s, "id", SL_T_BIGINT, false) == 0);
	REQUIRE(sl_schema_add(&s, "name", SL_T_STRING, false) == 0);
	REQUIRE(sl_schema_add(&s, "x", SL_T_DOUBLE, false) == 0);
	REQUIRE(sl_schema_add(&s, "n", SL_T_INT, false) == 0);
	REQUIRE(sl_schema_add(&s, "b", SL_T_BOOL, false) == 0);
	struct sl_batch *b = new_batch(&s);
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(b, 0, r, 42);
	REQUIRE(sl_batch_set_str(b, 1, r, "hello", 5));
	sl_batch_set_f(b, 2, r, -0.0);
	sl_batch_set_null(b, 3, r);
	sl_batch_set_i(b, 4, r, 1);
	sl_batch_commit_row(b);
	static const uint8_t want[] = {
	    1, 0x2a, 0, 0, 0, 0,   0,	0,   0,	       /* BIGINT 42 */
	    1, 5,    0, 0, 0, 'h', 'e', 'l', 'l', 'o', /* STRING "hello" */
	    1, 0,    0, 0, 0, 0,   0,	0,   0,	       /* DOUBLE -0.0 as 0.0 */
	    0,					       /* INT null */
	    1, 1,    0, 0, 0, 0,   0,	0,   0,	       /* BOOL true */
	};
	/* XXH3_64bits(want, 38), seed 0, computed once with libxxhash 0.8.1. */
	const uint64_t want_hash = 0x727d8d6556b5392full;
	static const uint32_t cols[] = {0, 1, 2, 3, 4};
	uint8_t key[64];
	int len = sl_key_encode(b, r, cols, 5, key, sizeof(key));
	CHECK_EQ_I(len, (int)sizeof(want));
	CHECK(len == (int)sizeof(want) && memcmp(key, want, sizeof(want)) == 0);
	CHECK_EQ_U(XXH3_64bits(want, sizeof(want)), want_hash);
	CHECK_EQ_U(sl_key_hash(key, (size_t)len), want_hash);
	CHECK_EQ_U(sl_keygroup_of(sl_key_hash(key, (size_t)len), 1024), want_hash % 1024);
	CHECK_EQ_U(sl_keygroup_of(sl_key_hash(key, (size_t)len), 1024), 0x12f);
	/* XXH3 of the empty input, the published test vector. */
	CHECK_EQ_U(sl_key_hash("", 0), 0x2d06800538d394c2ull);
	free(b);
}

/* -E2BIG when the key does not fit in cap; never a byte written past cap. */
static void test_cap(void)
{
	struct sl_schema s = make_schema();
	struct sl_batch *b = new_batch(&s);
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(b, 0, r, 1);
	REQUIRE(sl_batch_set_str(b, 2, r, "a string", 8));
	sl_batch_set_f(b, 1, r, 2.5);
	sl_batch_commit_row(b);
	static const uint32_t cols[] = {0, 2, 1};
	const int full = 9 + 13 + 9;
	for (size_t cap = 0; cap <= (size_t)full + 2; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1); /* ASan: exactly cap bytes */
		REQUIRE(buf);
		int len = sl_key_encode(b, r, cols, 3, buf, cap);
		if (cap < (size_t)full)
			CHECKF(len == -E2BIG, "cap %zu: %d", cap, len);
		else
			CHECKF(len == full, "cap %zu: %d", cap, len);
		free(buf);
	}
	/* A big string: only the cap decides. */
	static char big[SL_KEY_MAX_BYTES];
	memset(big, 'b', sizeof(big));
	r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	REQUIRE(sl_batch_set_str(b, 2, r, big, SL_KEY_MAX_BYTES - 5));
	sl_batch_commit_row(b);
	uint8_t *buf = malloc(SL_KEY_MAX_BYTES);
	REQUIRE(buf);
	CHECK_EQ_I(sl_key_encode(b, r, &cols[1], 1, buf, SL_KEY_MAX_BYTES), SL_KEY_MAX_BYTES);
	CHECK_EQ_I(sl_key_encode(b, r, &cols[1], 1, buf, SL_KEY_MAX_BYTES - 1), -E2BIG);
	CHECK_EQ_I(sl_key_encode(b, r, cols, 2, buf, SL_KEY_MAX_BYTES), -E2BIG);
	free(buf);
	/* Keys ending in a null or a short string, at the exact cap: whatever
	 * the answer, nothing is written past cap (ASan). */
	r = sl_batch_begin_row(b, SL_KIND_INSERT, 0, 0);
	sl_batch_set_i(b, 0, r, 1);
	REQUIRE(sl_batch_set_str(b, 2, r, "", 0));
	sl_batch_commit_row(b);
	static const uint32_t c2[] = {0, 3, 2};
	for (size_t cap = 0; cap <= 20; cap++) {
		uint8_t *p = malloc(cap ? cap : 1);
		REQUIRE(p);
		int len = sl_key_encode(b, r, c2, 3, p, cap);
		CHECKF(len == -E2BIG || (len == 15 && cap >= 15), "cap %zu: %d", cap, len);
		free(p);
	}
	free(b);
}

int main(void)
{
	test_keygroups();
	test_stability();
	test_encode_roundtrip();
	test_decode_elsewhere();
	test_float_canonical();
	test_cap();
	return check_exit("test_keygroup");
}
