/* Unit test of core/hist: bucket bounds and error for values over the whole
 * 64-bit range, quantiles of known distributions against an exact sorted
 * array, merge, max. */
#include <math.h>

#include "core/hist.h"
#include "tests/unit/check.h"

/* Upper bound (exclusive) of bucket i, as a double: the last bucket ends at
 * 2^64, which a uint64_t cannot hold. */
static double bucket_end(uint32_t i)
{
	if (i + 1 == SL_HIST_BUCKETS)
		return 18446744073709551616.0;
	return (double)sl_hist_bucket_low(i + 1);
}

/* low(index(v)) <= v < low(index(v) + 1), and the bucket is narrow. */
static void check_value(uint64_t v)
{
	uint32_t i = sl_hist_index(v);
	CHECKF(i < SL_HIST_BUCKETS, "v %llu: index %u", (unsigned long long)v, i);
	if (i >= SL_HIST_BUCKETS)
		return;
	uint64_t lo = sl_hist_bucket_low(i);
	/* Integer compare: (double)v rounds 2^54 - 1 up to 2^54. */
	bool below_next = i + 1 == SL_HIST_BUCKETS || v < sl_hist_bucket_low(i + 1);
	CHECKF(lo <= v && below_next, "v %llu: bucket %u is [%llu, %.0f)", (unsigned long long)v, i,
	       (unsigned long long)lo, bucket_end(i));
	/* Relative error of the bucket's low end and of its width: <= 1/32. */
	if (v > 0) {
		double width = bucket_end(i) - (double)lo;
		CHECKF((double)(v - lo) <= (double)v / 32 && width <= (double)lo / 32 + 1,
		       "v %llu: bucket [%llu, %.0f) too wide", (unsigned long long)v,
		       (unsigned long long)lo, bucket_end(i));
	}
	/* Below 32 every value has its own bucket. */
	if (v < SL_HIST_SUB)
		CHECK(i == v && lo == v);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_buckets(void)
{
	/* Bucket lows strictly increase, and every bucket's low maps back to it. */
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++) {
		uint64_t lo = sl_hist_bucket_low(i);
		CHECKF(sl_hist_index(lo) == i, "bucket %u low %llu maps to %u", i,
		       (unsigned long long)lo, sl_hist_index(lo));
		if (i > 0)
			CHECKF(lo > sl_hist_bucket_low(i - 1), "bucket %u", i);
		if (i + 1 < SL_HIST_BUCKETS)
			CHECK_EQ_U(sl_hist_index(sl_hist_bucket_low(i + 1) - 1), i);
	}
	CHECK_EQ_U(sl_hist_index(UINT64_MAX), SL_HIST_BUCKETS - 1);

	/* Edges: 0, small values, powers of two and their neighbours. */
	for (uint64_t v = 0; v < 4096; v++)
		check_value(v);
	for (uint32_t b = 0; b < 64; b++) {
		uint64_t p = 1ull << b;
		check_value(p);
		check_value(p - 1);
		check_value(p + 1);
		check_value(p + p / 2);
	}
	check_value(UINT64_MAX / 2);
	check_value(UINT64_MAX / 2 + 1);
	check_value(UINT64_MAX - 1);
	check_value(UINT64_MAX);
	/* Monotone: over a sorted sample of every magnitude the index never drops. */
	enum { N_SAMPLE = 200000 };
	uint64_t *sample = malloc(N_SAMPLE * sizeof(*sample));
	REQUIRE(sample);
	uint64_t seed = 17;
	for (uint32_t k = 0; k < N_SAMPLE; k++) {
		uint64_t x = check_rand(&seed);
		sample[k] = x >> (x % 64);
		check_value(sample[k]);
	}
	qsort(sample, N_SAMPLE, sizeof(*sample), cmp_u64);
	for (uint32_t k = 1; k < N_SAMPLE; k++)
		CHECKF(sl_hist_index(sample[k]) >= sl_hist_index(sample[k - 1]),
		       "index(%llu) < index(%llu)", (unsigned long long)sample[k],
		       (unsigned long long)sample[k - 1]);
	free(sample);
	/* Consecutive values near several magnitudes: non-decreasing. */
	static const uint64_t starts[] = {
	    0, 1000, 1ull << 20, (1ull << 40) - 500, UINT64_MAX / 2 - 300, UINT64_MAX - 1000};
	for (uint32_t s = 0; s < SL_ARRAY_LEN(starts); s++) {
		uint32_t last = sl_hist_index(starts[s]);
		for (uint64_t v = starts[s]; v < starts[s] + 1000; v++) {
			uint32_t i = sl_hist_index(v);
			CHECKF(i == last || i == last + 1, "index jumps at %llu",
			       (unsigned long long)v);
			last = i;
		}
	}
}

/* Exact quantile with the histogram's rank rule: element floor(q * n). */
static uint64_t exact_quantile(const uint64_t *sorted, uint64_t n, double q)
{
	uint64_t rank = (uint64_t)(q * (double)n);
	return sorted[rank >= n ? n - 1 : rank];
}

/* Adds vals to a fresh histogram; checks quantiles against the sorted
 * values within 1/32 (the midpoint of a bucket of relative width 1/32). */
static void check_quantiles(const char *what, uint64_t *vals, uint64_t n)
{
	struct sl_hist *h = calloc(1, sizeof(*h));
	REQUIRE(h);
	uint64_t max = 0;
	for (uint64_t k = 0; k < n; k++) {
		sl_hist_add(h, vals[k], 1);
		max = SL_MAX(max, vals[k]);
	}
	CHECK_EQ_U(h->total, n);
	CHECK_EQ_U(h->max, max);
	qsort(vals, n, sizeof(*vals), cmp_u64);
	static const double qs[] = {0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1};
	for (uint32_t k = 0; k < SL_ARRAY_LEN(qs); k++) {
		uint64_t want = exact_quantile(vals, n, qs[k]);
		uint64_t got = sl_hist_quantile(h, qs[k]);
		double err = fabs((double)got - (double)want);
		CHECKF(err <= (double)want / 32 + 0.5 && got <= max, "%s: p%g = %llu, exact %llu",
		       what, qs[k] * 100, (unsigned long long)got, (unsigned long long)want);
	}
	free(h);
}

static void test_quantiles(void)
{
	/* Uniform 1..100000 (shuffled): p50 near 50000, p99 near 99000. */
	const uint64_t n = 100000;
	uint64_t *v = malloc(n * sizeof(*v));
	REQUIRE(v);
	struct sl_hist *h = calloc(1, sizeof(*h));
	REQUIRE(h);
	for (uint64_t k = 0; k < n; k++)
		v[k] = k + 1;
	uint64_t seed = 23;
	for (uint64_t k = n - 1; k > 0; k--) {
		uint64_t j = check_rand(&seed) % (k + 1), t = v[k];
		v[k] = v[j];
		v[j] = t;
	}
	for (uint64_t k = 0; k < n; k++)
		sl_hist_add(h, v[k], 1);
	uint64_t p50 = sl_hist_quantile(h, 0.5), p99 = sl_hist_quantile(h, 0.99);
	CHECKF(fabs((double)p50 - 50000) <= 0.032 * 50000, "uniform p50 %llu",
	       (unsigned long long)p50);
	CHECKF(fabs((double)p99 - 99000) <= 0.032 * 99000, "uniform p99 %llu",
	       (unsigned long long)p99);
	/* p100: the midpoint of 100000's bucket [98304, 100352). */
	CHECK_EQ_U(sl_hist_quantile(h, 1.0), 99328);
	CHECK_EQ_U(h->max, 100000);
	free(h);
	check_quantiles("uniform 1..100000", v, n);

	/* Exponential-ish latencies spanning ns to seconds. */
	for (uint64_t k = 0; k < n; k++) {
		double u = ((double)(check_rand(&seed) >> 11) + 0.5) / 9007199254740992.0;
		v[k] = (uint64_t)(-log(u) * 2e6);
	}
	check_quantiles("exponential mean 2e6", v, n);
	/* Log-uniform over 0..2^62. */
	for (uint64_t k = 0; k < n; k++) {
		uint64_t x = check_rand(&seed);
		v[k] = x >> (2 + x % 62);
	}
	check_quantiles("log-uniform", v, n);
	/* One value only. */
	for (uint64_t k = 0; k < 1000; k++)
		v[k] = 777;
	check_quantiles("constant 777", v, 1000);
	free(v);

	/* Empty: 0. Small exact values are exact. */
	struct sl_hist *e = calloc(1, sizeof(*e));
	REQUIRE(e);
	CHECK_EQ_U(sl_hist_quantile(e, 0.5), 0);
	CHECK_EQ_U(sl_hist_quantile(e, 1.0), 0);
	sl_hist_add(e, 5, 3); /* n > 1 in one call */
	sl_hist_add(e, 9, 1);
	CHECK_EQ_U(e->total, 4);
	CHECK_EQ_U(sl_hist_quantile(e, 0), 5);
	CHECK_EQ_U(sl_hist_quantile(e, 0.74), 5);
	CHECK_EQ_U(sl_hist_quantile(e, 0.75), 9);
	CHECK_EQ_U(sl_hist_quantile(e, 1), 9);
	/* A huge value: reported near itself, never above the max. */
	sl_hist_add(e, UINT64_MAX - 5, 1);
	CHECK_EQ_U(e->max, UINT64_MAX - 5);
	uint64_t top = sl_hist_quantile(e, 1);
	CHECKF(top <= UINT64_MAX - 5 && top >= UINT64_MAX - UINT64_MAX / 32, "top quantile %llu",
	       (unsigned long long)top);
	/* Capped at the max: 101 is the midpoint of 101's bucket [100, 102), but
	 * only 100 was seen. */
	memset(e, 0, sizeof(*e));
	sl_hist_add(e, 100, 1);
	CHECK_EQ_U(sl_hist_quantile(e, 0.5), 100);
	sl_hist_add(e, 101, 1);
	CHECK_EQ_U(sl_hist_quantile(e, 0.99), 101);
	free(e);
}

/* Merging parts equals adding everything into one. */
static void test_merge(void)
{
	struct sl_hist *part = calloc(4, sizeof(*part));
	struct sl_hist *all = calloc(1, sizeof(*all)), *merged = calloc(1, sizeof(*merged));
	REQUIRE(part && all && merged);
	uint64_t seed = 31, max = 0;
	for (uint32_t k = 0; k < 400000; k++) {
		uint64_t x = check_rand(&seed);
		uint64_t v = x >> (x % 64), n = 1 + (x >> 60);
		sl_hist_add(&part[k % 4], v, n);
		sl_hist_add(all, v, n);
		max = SL_MAX(max, v);
	}
	for (uint32_t p = 0; p < 4; p++)
		sl_hist_merge(merged, &part[p]);
	CHECK(memcmp(merged->count, all->count, sizeof(all->count)) == 0);
	CHECK_EQ_U(merged->total, all->total);
	CHECK_EQ_U(merged->max, max);
	CHECK_EQ_U(all->max, max);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++)
		sum += all->count[i];
	CHECK_EQ_U(sum, all->total);
	static const double qs[] = {0.1, 0.5, 0.9, 0.99};
	for (uint32_t k = 0; k < SL_ARRAY_LEN(qs); k++)
		CHECK_EQ_U(sl_hist_quantile(merged, qs[k]), sl_hist_quantile(all, qs[k]));
	/* Merging keeps the larger max whichever side holds it. */
	struct sl_hist *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	REQUIRE(a && b);
	sl_hist_add(a, 1000, 1);
	sl_hist_add(b, 10, 1);
	sl_hist_merge(a, b);
	CHECK_EQ_U(a->max, 1000);
	CHECK_EQ_U(a->total, 2);
	sl_hist_add(b, 5000, 2);
	sl_hist_merge(a, b);
	CHECK_EQ_U(a->max, 5000);
	CHECK_EQ_U(a->total, 5);
	free(a);
	free(b);
	free(part);
	free(all);
	free(merged);
}

/* The sum is exact (Prometheus' _sum), and merging adds sums. */
static void test_sum(void)
{
	static struct sl_hist a, b, m;
	uint64_t want = 0;
	for (uint64_t v = 1; v < 100000; v += 7) {
		sl_hist_add(v % 2 ? &a : &b, v, 3);
		want += 3 * v;
	}
	CHECK(a.sum + b.sum == want);
	sl_hist_merge(&m, &a);
	sl_hist_merge(&m, &b);
	CHECK(m.sum == want && m.total == a.total + b.total);
}

int main(void)
{
	test_sum();
	test_buckets();
	test_quantiles();
	test_merge();
	return check_exit("test_hist");
}
