/* A per-worker keyed table: variable-length keys to fixed-size values. */
#ifndef SL_TABLE_H
#define SL_TABLE_H

#include "core/common.h"

/*
 * Entries live in an append-only arena of chunks; an open-addressing index
 * (linear probing, hash stored beside the pointer) finds the live entry of a
 * key. Deleting marks the entry dead and leaves a tombstone in the index;
 * when dead bytes pass half the arena the live entries are copied into a
 * fresh arena (compaction). One thread only: the owning worker.
 */
struct sl_table;

struct sl_table *sl_table_new(uint32_t value_bytes);
void sl_table_free(struct sl_table *t);
/* The value of key, or NULL. */
void *sl_table_find(struct sl_table *t, const void *key, uint32_t len, uint64_t hash);
/* The value of key, created zeroed if absent (*created says which); NULL only
 * when memory is exhausted. Pointers stay valid until sl_table_delete of that
 * key or sl_table_maybe_compact. */
void *sl_table_upsert(struct sl_table *t, const void *key, uint32_t len, uint64_t hash,
		      bool *created);
void sl_table_delete(struct sl_table *t, const void *key, uint32_t len, uint64_t hash);
/* Compacts when dead bytes exceed live bytes; invalidates value pointers. */
void sl_table_maybe_compact(struct sl_table *t);
/* The stored key of the entry whose value is `value` (valid as long as value). */
const void *sl_table_key_of(const struct sl_table *t, void *value, uint32_t *len);
/* Hints that hash's index slot will be probed soon (one cache miss less). */
void sl_table_prefetch(const struct sl_table *t, uint64_t hash);
/* Second stage, once the slot is likely cached: prefetches the entry the
 * first slot with this hash points at. Several in a row overlap their misses. */
void sl_table_prefetch_entry(const struct sl_table *t, uint64_t hash);
/*
 * A hint for prefetching, not a lookup: the value of the first live entry in
 * hash's probe run whose stored hash equals hash (almost surely, not surely,
 * the key's), or NULL. Reads only the index (prefetch it first with
 * sl_table_prefetch), so the caller can prefetch the entry's value, and once
 * that arrived, what the value points to. The pointer may be stale for a
 * caller that changed the table since: prefetch through it, never read.
 */
void *sl_table_peek(const struct sl_table *t, uint64_t hash);
uint64_t sl_table_count(const struct sl_table *t);

/*
 * State TTL (processing time, whole seconds): an entry not written through
 * sl_table_upsert for ttl_ms is gone — find does not see it, upsert starts it
 * over zeroed (*created true), checkpoints leave it out, and sl_table_tick
 * removes a few such entries per call. on_expire (may be NULL) sees the value
 * first (to free what it points to). Ages restart at a restore.
 */
void sl_table_set_ttl(struct sl_table *t, int64_t ttl_ms, void (*on_expire)(void *ctx, void *value),
		      void *ctx);
/* Sets the table's clock (call once per batch, before any lookup). */
void sl_table_tick(struct sl_table *t, int64_t now_wall_ms);
/* Entries expired so far. */
uint64_t sl_table_expired(const struct sl_table *t);
uint64_t sl_table_bytes(const struct sl_table *t);

/* Iteration over live entries (no changes to the table meanwhile). */
struct sl_table_iter {
	uint64_t slot;
};
bool sl_table_next(struct sl_table *t, struct sl_table_iter *it, const void **key, uint32_t *len,
		   void **value);

/* The same, with the entry's stored hash. */
bool sl_table_next_h(struct sl_table *t, struct sl_table_iter *it, const void **key, uint32_t *len,
		     void **value, uint64_t *hash);

struct sl_snapbuf;
struct sl_snapsink;
struct sl_blob;

/*
 * Checkpoints, synchronously: a header (value size), then every live entry
 * as (hash, key length, key, value) to the end. The hash is the key's
 * routing hash, so a restore keeps the entries of its own key groups.
 */
void sl_table_snapshot(struct sl_table *t, struct sl_snapbuf *out);
/*
 * Copy-on-write snapshots. sl_table_freeze (owner, at a barrier; O(chunks))
 * fixes what a snapshot holds: every entry live now. Until sl_table_thaw,
 * another thread may run sl_table_serialize while the owner goes on: a
 * write to an entry from before the freeze (through find or upsert)
 * copies it first and a delete only marks it, so the frozen bytes never
 * change; compaction waits for the thaw. The output format is that of
 * sl_table_snapshot. extra (may be NULL) appends per entry what the value
 * points to (upsert: the row image; such memory must stay put until the
 * thaw too).
 */
int sl_table_freeze(struct sl_table *t);
/* Ends a freeze (nothing when the table is not frozen). */
void sl_table_thaw(struct sl_table *t);
bool sl_table_frozen(const struct sl_table *t);
int sl_table_serialize(const struct sl_table *t, struct sl_snapsink *out,
		       void (*extra)(void *ctx, const void *value, struct sl_snapbuf *b), void *ctx);
/* Entries copied because a snapshot was reading them. */
uint64_t sl_table_cow_copies(const struct sl_table *t);

/* Inserts the entries of blob whose key group (hash % max_parallelism)
 * worker `worker` of n_workers owns. -EINVAL: damaged or another value size;
 * -ENOMEM. */
int sl_table_restore(struct sl_table *t, const struct sl_blob *blob, uint32_t max_parallelism,
		     uint32_t n_workers, uint32_t worker);
/* Whether worker owns the key group of hash. */
bool sl_table_owns(uint64_t hash, uint32_t max_parallelism, uint32_t n_workers, uint32_t worker);

#endif
