/* Lock-free single-producer single-consumer ring of messages between two workers. */
#ifndef SL_RING_H
#define SL_RING_H

#include <stdalign.h>
#include <stdatomic.h>

#include "core/common.h"
#include "core/limits.h"

struct sl_batch;

enum sl_msg_type {
	SL_MSG_DATA = 1, /* batch for the downstream of exchange node `node` */
	SL_MSG_EOS = 2,  /* the producer sends nothing more through exchange `node` */
	SL_MSG_FREE = 3, /* return ring: a batch the consumer is done with */
	SL_MSG_BARRIER = 4, /* checkpoint barrier `id` through exchange `node` */
};

struct sl_msg {
	uint32_t type;
	uint32_t node;
	union {
		struct sl_batch *batch;
		uint64_t id; /* SL_MSG_BARRIER */
	};
};

/*
 * head is written only by the producer, tail only by the consumer; each side
 * keeps a cached copy of the other's index so the shared line is read only
 * when the cache says full (producer) or empty (consumer).
 */
struct sl_ring {
	alignas(SL_CACHELINE) _Atomic uint32_t head;
	uint32_t tail_cache; /* producer's view of tail */
	alignas(SL_CACHELINE) _Atomic uint32_t tail;
	uint32_t head_cache; /* consumer's view of head */
	alignas(SL_CACHELINE) struct sl_msg slot[SL_RING_SLOTS];
};

static inline void sl_ring_init(struct sl_ring *r)
{
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	r->tail_cache = 0;
	r->head_cache = 0;
}

/* Producer only. Pushes up to n messages, returns how many went in. */
static inline uint32_t sl_ring_push_n(struct sl_ring *r, const struct sl_msg *m, uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t room = SL_RING_SLOTS - (head - r->tail_cache);
	if (room < n) {
		/* Pairs with the release store of tail in sl_ring_pop_n: the
		 * consumer has finished reading the slots it gave back. */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		room = SL_RING_SLOTS - (head - r->tail_cache);
	}
	SL_DASSERT(room <= SL_RING_SLOTS);
	if (n > room)
		n = room;
	for (uint32_t i = 0; i < n; i++)
		r->slot[(head + i) & (SL_RING_SLOTS - 1)] = m[i];
	/* Pairs with the acquire load of head in sl_ring_pop_n: slot writes
	 * are visible before the consumer sees the new head. */
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

static inline bool sl_ring_push(struct sl_ring *r, const struct sl_msg *m)
{
	return sl_ring_push_n(r, m, 1) == 1;
}

/* Consumer only. Pops up to n messages into m, returns how many. */
static inline uint32_t sl_ring_pop_n(struct sl_ring *r, struct sl_msg *m, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail = r->head_cache - tail;
	if (avail < n) {
		/* Pairs with the release store of head in sl_ring_push_n. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->head_cache - tail;
	}
	SL_DASSERT(avail <= SL_RING_SLOTS);
	if (n > avail)
		n = avail;
	for (uint32_t i = 0; i < n; i++)
		m[i] = r->slot[(tail + i) & (SL_RING_SLOTS - 1)];
	/* Pairs with the acquire load of tail in sl_ring_push_n: our reads of
	 * the slots are done before the producer may overwrite them. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

/* Consumer side: true if a message may be waiting (a fresh look at head). */
static inline bool sl_ring_nonempty(struct sl_ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	return atomic_load_explicit(&r->head, memory_order_acquire) != tail;
}

#endif
