/* A per-worker store of variable-size blocks (serialized row images) kept out of line
 * of the fixed-size keyed table: size classes with free lists over 1 MiB slabs. */
#ifndef SL_ROWSTORE_H
#define SL_ROWSTORE_H

#include "core/common.h"
#include "core/limits.h"

/*
 * Blocks are carved from slabs of SL_ROWSTORE_SLAB_BYTES by bumping a cursor;
 * a released block goes to the free list of its size class and is the next
 * one handed out for that class, so a steady state of updates allocates
 * nothing. Classes are 16-byte steps up to 1 KiB, then four per power of two
 * (at most 25 % slack). Blocks never move (callers keep raw pointers in
 * their table values) and memory only returns to the system at
 * sl_rowstore_free: a store whose block sizes drift keeps the free blocks of
 * the old sizes (sl_rowstore_bytes shows it). One thread only: the owning
 * worker.
 */
struct sl_rowstore;

/* Largest block: a row of SL_MAX_COLS columns whose strings fill a batch heap
 * fits (an image holds a bitmap, 8 bytes per value, 4 per string length). */
#define SL_ROWSTORE_MAX_BYTES (SL_BATCH_HEAP_BYTES + SL_MAX_COLS * 16u + 64u)
/* Slab size; blocks above a quarter of it get a slab of their own. */
#define SL_ROWSTORE_SLAB_BYTES (1u << 20)
static_assert(SL_ROWSTORE_MAX_BYTES <= SL_ROWSTORE_SLAB_BYTES, "a block fits a slab");

/* A new empty store, or NULL (out of memory). Any thread; then one. */
struct sl_rowstore *sl_rowstore_new(void);
/* Frees every slab (and so every block). NULL is fine. */
void sl_rowstore_free(struct sl_rowstore *rs);

/* A block of at least len bytes (1..SL_ROWSTORE_MAX_BYTES), 16-aligned,
 * contents undefined; NULL when memory is exhausted. The caller owns it until
 * sl_rowstore_release with the same len. */
void *sl_rowstore_alloc(struct sl_rowstore *rs, uint32_t len);
/* Gives back a block from sl_rowstore_alloc(rs, len). */
void sl_rowstore_release(struct sl_rowstore *rs, void *p, uint32_t len);
/*
 * A block for new_len bytes in place of p (allocated for old_len): p itself
 * when both lengths fall in one size class (contents kept), else a fresh
 * block (contents undefined) and p is released. NULL when memory is
 * exhausted; p is then still the caller's.
 */
void *sl_rowstore_resize(struct sl_rowstore *rs, void *p, uint32_t old_len, uint32_t new_len);

/* Snapshots: while frozen, released blocks keep their bytes (they go back
 * to the free lists at the thaw) and resize never reuses a block in place,
 * so another thread may read every block live at the freeze. */
void sl_rowstore_freeze(struct sl_rowstore *rs);
void sl_rowstore_thaw(struct sl_rowstore *rs);

/* Bytes a block for len occupies (its size class). */
uint32_t sl_rowstore_block_bytes(uint32_t len);
/* Bytes of live blocks (by size class), and bytes taken from the system. */
uint64_t sl_rowstore_live_bytes(const struct sl_rowstore *rs);
uint64_t sl_rowstore_bytes(const struct sl_rowstore *rs);
/* Live blocks. */
uint64_t sl_rowstore_count(const struct sl_rowstore *rs);

#endif
