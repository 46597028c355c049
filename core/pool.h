/* Per-worker pool of batch blocks: the only batch allocator after start-up. */
#ifndef SL_POOL_H
#define SL_POOL_H

#include "core/batch.h"

/*
 * Blocks are allocated lazily (from the owning worker's mimalloc heap) up to
 * `budget`, then recycled through the free list. When the budget is spent the
 * worker stops pulling from its sources (sl_pool_low) — back-pressure. A
 * batch needed mid-way through a chain is still handed out past the budget
 * (counted in `overflow`) so processing can always finish what it started.
 * Blocks are freed only by sl_pool_fini, after every worker has stopped,
 * because a batch may be read by another worker after its owner finished.
 */
struct sl_pool {
	struct sl_batch *free;
	uint32_t n_free;
	uint32_t n_total;
	uint32_t budget;
	uint32_t reserve; /* sources wait while fewer than this could be handed out */
	uint32_t max_cols;
	uint16_t owner;
	uint64_t overflow;
	size_t block_bytes;
	void **blocks; /* every block ever allocated, for fini */
	uint32_t blocks_cap;
};

/* Owner thread. */
int sl_pool_init(struct sl_pool *p, uint16_t owner, uint32_t max_cols, uint32_t budget,
		 uint32_t reserve);
/* Any thread, once no thread uses any batch of p. */
void sl_pool_fini(struct sl_pool *p);
/* Owner thread. A reset batch with schema s; aborts only if memory is exhausted. */
struct sl_batch *sl_pool_get(struct sl_pool *p, const struct sl_schema *s);
/* Owner thread. */
static inline void sl_pool_put(struct sl_pool *p, struct sl_batch *b)
{
	SL_DASSERT(b->owner == p->owner);
	b->next = p->free;
	p->free = b;
	p->n_free++;
}
/* True when fewer than `reserve` batches could be handed out within budget. */
static inline bool sl_pool_low(const struct sl_pool *p)
{
	return p->n_free + (p->budget > p->n_total ? p->budget - p->n_total : 0) < p->reserve;
}

#endif
