/* Log-linear latency histograms. */
#include "core/hist.h"

uint64_t sl_hist_bucket_low(uint32_t i)
{
	if (i < SL_HIST_SUB)
		return i;
	uint32_t shift = (i >> SL_HIST_SUB_BITS) - 1;
	uint64_t sub = i & (SL_HIST_SUB - 1);
	return (SL_HIST_SUB + sub) << shift;
}

void sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src)
{
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++)
		dst->count[i] += __atomic_load_n(&src->count[i], __ATOMIC_RELAXED);
	dst->total += __atomic_load_n(&src->total, __ATOMIC_RELAXED);
	dst->sum += __atomic_load_n(&src->sum, __ATOMIC_RELAXED);
	uint64_t m = __atomic_load_n(&src->max, __ATOMIC_RELAXED);
	if (m > dst->max)
		dst->max = m;
}

uint64_t sl_hist_quantile(const struct sl_hist *h, double q)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++)
		total += h->count[i];
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)total);
	if (rank >= total)
		rank = total - 1;
	uint64_t seen = 0;
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > rank) {
			uint64_t lo = sl_hist_bucket_low(i);
			uint64_t hi = sl_hist_bucket_low(i + 1);
			uint64_t mid = lo + (hi - lo) / 2;
			return mid > h->max ? h->max : mid;
		}
	}
	return h->max;
}
