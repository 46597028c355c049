/* Key groups: hash(key) -> key group -> owning worker, as Flink assigns them. */
#ifndef SL_KEYGROUP_H
#define SL_KEYGROUP_H

#include "core/batch.h"

/*
 * Keys are hashed over a canonical byte encoding of their columns (see
 * sl_key_encode), so the same logical key hashes the same on every worker
 * and in every run.
 */
uint64_t sl_key_hash(const void *key, size_t len);

static inline uint32_t sl_keygroup_of(uint64_t hash, uint32_t max_parallelism)
{
	return (uint32_t)(hash % max_parallelism);
}

/* Worker owning key group kg: contiguous ranges, Flink's
 * computeOperatorIndexForKeyGroup(maxParallelism, parallelism, kg). */
static inline uint32_t sl_keygroup_worker(uint32_t kg, uint32_t max_parallelism,
					  uint32_t n_workers)
{
	return (uint32_t)(((uint64_t)kg * n_workers) / max_parallelism);
}

/* First key group of worker w's range ([first(w), first(w+1))). */
uint32_t sl_keygroup_first(uint32_t w, uint32_t max_parallelism, uint32_t n_workers);

/* Largest encoded key: per column a tag byte plus 8 bytes or a 4-byte length
 * and the string. */
#define SL_KEY_MAX_BYTES 4096u

/*
 * Encodes the key columns cols[0..n) of row r into buf: per column one tag
 * byte (0 null, 1 value), then 8 little-endian bytes (ints, dates,
 * timestamps, booleans; doubles with -0.0 folded into 0.0 and NaN
 * canonical) or a 4-byte length and the bytes (strings). Returns the length,
 * or -E2BIG past cap.
 */
int sl_key_encode(const struct sl_batch *b, uint32_t r, const uint32_t *cols, uint32_t n,
		  uint8_t *buf, size_t cap);
/* Writes an encoded key back as columns out_cols of row r of out (strings go
 * to out's heap). Returns 0, or -ENOSPC if the heap is full. */
int sl_key_decode(const uint8_t *key, size_t len, const struct sl_schema *key_schema,
		  const uint32_t *key_types_cols, uint32_t n, struct sl_batch *out, uint32_t r,
		  const uint32_t *out_cols);

#endif
