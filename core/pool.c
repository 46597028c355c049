/* Per-worker batch pool. */
#include "core/pool.h"

#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sl_pool_init(struct sl_pool *p, uint16_t owner, uint32_t max_cols, uint32_t budget,
		 uint32_t reserve)
{
	memset(p, 0, sizeof(*p));
	SL_ASSERT(reserve < budget);
	p->owner = owner;
	p->max_cols = max_cols ? max_cols : 1;
	p->budget = budget;
	p->reserve = reserve;
	p->block_bytes = sl_batch_block_bytes(p->max_cols);
	p->blocks_cap = budget * 2;
	p->blocks = mi_calloc(p->blocks_cap, sizeof(void *));
	return p->blocks ? 0 : -ENOMEM;
}

void sl_pool_fini(struct sl_pool *p)
{
	for (uint32_t i = 0; i < p->n_total; i++)
		mi_free(p->blocks[i]);
	mi_free(p->blocks);
	memset(p, 0, sizeof(*p));
}

static struct sl_batch *pool_grow(struct sl_pool *p)
{
	if (p->n_total == p->blocks_cap) {
		uint32_t cap = p->blocks_cap * 2;
		void **nb = mi_realloc(p->blocks, cap * sizeof(void *));
		if (!nb)
			return NULL;
		p->blocks = nb;
		p->blocks_cap = cap;
	}
	void *block = mi_malloc_aligned(p->block_bytes, 4096);
	if (!block)
		return NULL;
	p->blocks[p->n_total++] = block;
	if (p->n_total > p->budget)
		p->overflow++;
	return sl_batch_format(block, p->max_cols, p->owner);
}

struct sl_batch *sl_pool_get(struct sl_pool *p, const struct sl_schema *s)
{
	struct sl_batch *b = p->free;
	if (SL_LIKELY(b)) {
		p->free = b->next;
		p->n_free--;
	} else {
		b = pool_grow(p);
		if (!b) {
			fprintf(stderr, "sluice: out of memory allocating a batch (%zu bytes)\n",
				p->block_bytes);
			abort();
		}
	}
	sl_batch_reset(b, s);
	return b;
}
