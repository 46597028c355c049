/* Per-worker block store for variable-size row images: size classes, free lists, slabs. */
#include "state/rowstore.h"

#include <mimalloc.h>
#include <string.h>

/* Classes 1..64: 16-byte steps to 1 KiB; then four per power of two up to
 * the class holding SL_ROWSTORE_MAX_BYTES. Class 0 is unused. */
#define SMALL_STEP 16u
#define SMALL_MAX 1024u
#define SMALL_CLASSES (SMALL_MAX / SMALL_STEP)
#define N_CLASSES (SMALL_CLASSES + 4u * 12u + 1u)

struct slab {
	struct slab *next;
	uint64_t pad; /* keeps mem 16-aligned */
	char mem[];
};

struct free_block {
	struct free_block *next;
};

struct sl_rowstore {
	struct free_block *free[N_CLASSES];
	struct slab *slabs;
	char *cursor; /* bump area of the newest slab */
	char *end;
	uint64_t live_bytes;
	uint64_t live_blocks;
	uint64_t slab_bytes;
	/* Frozen (a snapshot reads blocks): released blocks are held, untouched
	 * (a free-list link would overwrite their first bytes), until the thaw. */
	bool frozen;
	struct held { void *p; uint32_t len; } *held;
	uint32_t n_held, cap_held;
};

static inline uint32_t class_of(uint32_t len)
{
	if (len <= SMALL_MAX)
		return len <= SMALL_STEP ? 1u : (len + SMALL_STEP - 1) / SMALL_STEP;
	uint32_t lg = 31u - (uint32_t)__builtin_clz(len - 1); /* >= 10 */
	uint32_t sub = ((len - 1) >> (lg - 2)) & 3u;
	return SMALL_CLASSES + (lg - 10u) * 4u + sub + 1u;
}

static inline uint32_t class_bytes(uint32_t c)
{
	if (c <= SMALL_CLASSES)
		return c * SMALL_STEP;
	uint32_t k = c - SMALL_CLASSES - 1u;
	uint32_t lg = 10u + k / 4u;
	return (1u << lg) + (k % 4u + 1u) * (1u << (lg - 2));
}

static_assert(N_CLASSES > (SMALL_CLASSES + (19u - 10u) * 4u + 4u), "classes reach 1 MiB");

uint32_t sl_rowstore_block_bytes(uint32_t len)
{
	return class_bytes(class_of(len));
}

struct sl_rowstore *sl_rowstore_new(void)
{
	SL_ASSERT(class_of(SL_ROWSTORE_MAX_BYTES) < N_CLASSES);
	return mi_zalloc(sizeof(struct sl_rowstore));
}

void sl_rowstore_free(struct sl_rowstore *rs)
{
	if (!rs)
		return;
	for (struct slab *s = rs->slabs, *n; s; s = n) {
		n = s->next;
		mi_free(s);
	}
	mi_free(rs->held);
	mi_free(rs);
}

static struct slab *new_slab(struct sl_rowstore *rs, size_t bytes)
{
	struct slab *s = mi_malloc_aligned(sizeof(*s) + bytes, 16);
	if (!s)
		return NULL;
	s->next = rs->slabs;
	rs->slabs = s;
	rs->slab_bytes += sizeof(*s) + bytes;
	return s;
}

/* The rest of the bump area goes to the free lists, biggest classes first,
 * so a new slab wastes nothing of the old one. */
static void retire_tail(struct sl_rowstore *rs)
{
	while ((size_t)(rs->end - rs->cursor) >= SMALL_STEP) {
		uint32_t room = (uint32_t)(rs->end - rs->cursor);
		uint32_t c = class_of(room);
		if (class_bytes(c) > room)
			c--;
		SL_ASSERT(c >= 1 && class_bytes(c) <= room);
		struct free_block *f = (struct free_block *)rs->cursor;
		f->next = rs->free[c];
		rs->free[c] = f;
		rs->cursor += class_bytes(c);
	}
	rs->cursor = rs->end = NULL;
}

void *sl_rowstore_alloc(struct sl_rowstore *rs, uint32_t len)
{
	SL_ASSERT(len <= SL_ROWSTORE_MAX_BYTES);
	uint32_t c = class_of(len);
	uint32_t bytes = class_bytes(c);
	void *p;
	if (rs->free[c]) {
		struct free_block *f = rs->free[c];
		rs->free[c] = f->next;
		p = f;
	} else if ((size_t)(rs->end - rs->cursor) >= bytes) {
		p = rs->cursor;
		rs->cursor += bytes;
	} else if (bytes > SL_ROWSTORE_SLAB_BYTES / 4) {
		struct slab *s = new_slab(rs, bytes); /* a slab of its own */
		if (!s)
			return NULL;
		p = s->mem;
	} else {
		struct slab *s = new_slab(rs, SL_ROWSTORE_SLAB_BYTES);
		if (!s)
			return NULL;
		retire_tail(rs);
		rs->cursor = s->mem + bytes;
		rs->end = s->mem + SL_ROWSTORE_SLAB_BYTES;
		p = s->mem;
	}
	SL_DASSERT(((uintptr_t)p & 15u) == 0);
	rs->live_bytes += bytes;
	rs->live_blocks++;
	return p;
}

static void release_now(struct sl_rowstore *rs, void *p, uint32_t len);

void sl_rowstore_release(struct sl_rowstore *rs, void *p, uint32_t len)
{
	SL_ASSERT(p && rs->live_blocks > 0);
	if (rs->frozen) {
		if (rs->n_held == rs->cap_held) {
			uint32_t cap = rs->cap_held ? rs->cap_held * 2 : 256;
			struct held *h = mi_realloc(rs->held, cap * sizeof(*h));
			if (!h)
				return; /* leaks the block until sl_rowstore_free: no harm */
			rs->held = h;
			rs->cap_held = cap;
		}
		rs->held[rs->n_held++] = (struct held){p, len};
		return;
	}
	release_now(rs, p, len);
}

static void release_now(struct sl_rowstore *rs, void *p, uint32_t len)
{
	uint32_t c = class_of(len);
	struct free_block *f = p;
	f->next = rs->free[c];
	rs->free[c] = f;
	rs->live_bytes -= class_bytes(c);
	rs->live_blocks--;
}

void *sl_rowstore_resize(struct sl_rowstore *rs, void *p, uint32_t old_len, uint32_t new_len)
{
	if (class_of(old_len) == class_of(new_len) && !rs->frozen)
		return p;
	void *q = sl_rowstore_alloc(rs, new_len);
	if (q)
		sl_rowstore_release(rs, p, old_len);
	return q;
}

uint64_t sl_rowstore_live_bytes(const struct sl_rowstore *rs)
{
	return rs->live_bytes;
}

uint64_t sl_rowstore_bytes(const struct sl_rowstore *rs)
{
	return rs->slab_bytes;
}

uint64_t sl_rowstore_count(const struct sl_rowstore *rs)
{
	return rs->live_blocks;
}

void sl_rowstore_freeze(struct sl_rowstore *rs)
{
	rs->frozen = true;
}

void sl_rowstore_thaw(struct sl_rowstore *rs)
{
	rs->frozen = false;
	for (uint32_t i = 0; i < rs->n_held; i++)
		release_now(rs, rs->held[i].p, rs->held[i].len);
	rs->n_held = 0;
}
