/* Log-linear latency histograms: one writer (a worker), readers merge copies. */
#ifndef SL_HIST_H
#define SL_HIST_H

#include "core/common.h"

/*
 * Values (nanoseconds) fall into 2^SUB_BITS linear sub-buckets per power of
 * two: relative error below 1/2^SUB_BITS (3 %) from 1 ns to 2^63 ns.
 */
#define SL_HIST_SUB_BITS 5
#define SL_HIST_SUB (1u << SL_HIST_SUB_BITS)
#define SL_HIST_BUCKETS ((64 - SL_HIST_SUB_BITS + 1) * SL_HIST_SUB)

struct sl_hist {
	uint64_t count[SL_HIST_BUCKETS];
	uint64_t total;
	uint64_t max;
	uint64_t sum; /* of all values (ns), wrapping only after ~584 years of latency */
};

static inline uint32_t sl_hist_index(uint64_t v)
{
	if (v < SL_HIST_SUB)
		return (uint32_t)v;
	uint32_t msb = 63u - (uint32_t)__builtin_clzll(v);
	uint32_t shift = msb - SL_HIST_SUB_BITS;
	return ((shift + 1) << SL_HIST_SUB_BITS) + (uint32_t)((v >> shift) & (SL_HIST_SUB - 1));
}

/* Worker only. Relaxed stores so a reader on another thread sees whole words. */
static inline void sl_hist_add(struct sl_hist *h, uint64_t v, uint64_t n)
{
	uint32_t i = sl_hist_index(v);
	__atomic_store_n(&h->count[i], __atomic_load_n(&h->count[i], __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&h->total, __atomic_load_n(&h->total, __ATOMIC_RELAXED) + n,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&h->sum, __atomic_load_n(&h->sum, __ATOMIC_RELAXED) + v * n,
			 __ATOMIC_RELAXED);
	if (v > __atomic_load_n(&h->max, __ATOMIC_RELAXED))
		__atomic_store_n(&h->max, v, __ATOMIC_RELAXED);
}

/* Smallest value of bucket i, and the value reported for it (its midpoint). */
uint64_t sl_hist_bucket_low(uint32_t i);
/* Adds src into dst (any thread; src may be written concurrently). */
void sl_hist_merge(struct sl_hist *dst, const struct sl_hist *src);
/* Value at quantile q in [0,1] (0 if empty), never above the max seen. */
uint64_t sl_hist_quantile(const struct sl_hist *h, double q);

#endif
