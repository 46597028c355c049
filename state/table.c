/* Per-worker keyed table: arena of entries plus an open-addressing index, with
 * copy-on-write snapshots that another thread serializes. */
#include "state/table.h"

#include <mimalloc.h>
#include <string.h>
#include <sys/mman.h>

#include "core/keygroup.h"
#include "state/snap.h"

#define TABLE_CHUNK_BYTES (1u << 20)
#define TOMBSTONE ((struct entry *)1)

struct entry {
	uint32_t key_len;
	uint32_t touched; /* TTL: last write, seconds since the table's base */
	uint64_t hash;
	uint32_t gen;     /* the table's generation when the entry was written */
	/* 0: live; else the generation in which it was replaced or deleted
	 * (written by the worker, read by a snapshot's serializer: atomic). */
	uint32_t dead_gen;
	/* value (value_bytes, 8-aligned), then key bytes */
	uint64_t data[];
};

struct slot {
	uint64_t hash;
	struct entry *e; /* NULL empty, TOMBSTONE deleted */
};

/* Chunks are TABLE_CHUNK_BYTES-aligned allocations, so an entry finds its
 * chunk by masking its address (a bigger-than-a-chunk entry gets a chunk of
 * its own, and starts in its first TABLE_CHUNK_BYTES). */
struct chunk {
	struct chunk *next; /* older */
	struct chunk *prev; /* newer */
	size_t used;
	size_t cap;
	size_t dead; /* bytes of entries replaced, deleted or expired */
	uint64_t pad;
	char mem[]; /* 8-aligned: six 8-byte fields precede it */
};

static inline struct chunk *chunk_of(const struct entry *e)
{
	return (struct chunk *)((uintptr_t)e & ~(uintptr_t)(TABLE_CHUNK_BYTES - 1));
}

/* What a snapshot reads: the chunks as they were at the freeze. */
struct frozen_chunk {
	const char *mem;
	size_t used;
};
struct frozen {
	uint32_t gen; /* the generation the freeze began */
	uint32_t now_s;
	uint64_t live_bytes; /* of the table at the freeze: sizes the serializer's output */
	uint32_t n;
	struct frozen_chunk c[];
};

struct sl_table {
	uint32_t value_bytes; /* rounded up to 8 */
	struct slot *slots;
	uint64_t cap; /* power of two */
	uint64_t n_live; /* in both indexes */
	uint64_t n_tomb; /* of slots */
	/* Incremental rehash: after a grow, the previous index stays until
	 * every entry moved over, MIGRATE_STEP slots per write (and at once
	 * when one is looked up). An entry is in exactly one of the two; a
	 * moved slot becomes a tombstone so the old probe runs stay whole. */
	struct slot *old;
	uint64_t old_cap;
	uint64_t old_next; /* next old slot to move */
	uint64_t old_live; /* entries still in old */
	struct chunk *chunks;
	uint64_t live_bytes;
	uint64_t dead_bytes;
	/* TTL (0: none): entries not written for ttl_s seconds are gone. */
	uint32_t ttl_s;
	uint32_t now_s;
	int64_t base_ms;
	uint64_t sweep; /* next slot the incremental cleanup looks at */
	uint64_t expired;
	void (*on_expire)(void *ctx, void *value);
	void *expire_ctx;
	/* Snapshots: generation (starts at 1, +1 per freeze); while fz is set,
	 * entries of an older generation are read by another thread and never
	 * written: a write copies the entry first, compaction waits. */
	uint32_t gen;
	struct frozen *fz;
	uint64_t cow_copies;
	bool compacting; /* from dead >= live until dead <= live / 2 */
};

#define MIGRATE_STEP 64u
/* Indexes this big come zeroed from the kernel, page by page as they are
 * touched (an allocator would clear them first: ~0.4 ms per MiB, at once). */
#define INDEX_MMAP_BYTES (4u << 20)

static struct slot *index_alloc(uint64_t cap)
{
	size_t bytes = cap * sizeof(struct slot);
	if (bytes < INDEX_MMAP_BYTES)
		return mi_zalloc(bytes);
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void index_free(struct slot *slots, uint64_t cap)
{
	if (!slots)
		return;
	size_t bytes = cap * sizeof(struct slot);
	if (bytes < INDEX_MMAP_BYTES)
		mi_free(slots);
	else
		munmap(slots, bytes);
}

/* Slot i of both indexes: the current one, then the previous one. */
static inline struct slot *slot_at(const struct sl_table *t, uint64_t i)
{
	return i < t->cap ? &t->slots[i] : &t->old[i - t->cap];
}

static inline uint64_t all_slots(const struct sl_table *t)
{
	return t->cap + (t->old ? t->old_cap : 0);
}

static inline bool is_expired(const struct sl_table *t, const struct entry *e)
{
	return t->ttl_s && t->now_s - e->touched > t->ttl_s;
}

static void expire_slot(struct sl_table *t, struct slot *s);

static size_t entry_bytes(const struct sl_table *t, uint32_t key_len)
{
	return (sizeof(struct entry) + t->value_bytes + key_len + 7) & ~(size_t)7;
}

static inline void *entry_value(struct entry *e)
{
	return e->data;
}

static inline const void *entry_key(const struct sl_table *t, struct entry *e)
{
	return (const char *)e->data + t->value_bytes;
}

struct sl_table *sl_table_new(uint32_t value_bytes)
{
	struct sl_table *t = mi_zalloc(sizeof(*t));
	if (!t)
		return NULL;
	t->value_bytes = (value_bytes + 7) & ~7u;
	t->gen = 1;
	t->cap = 1024;
	t->slots = index_alloc(t->cap);
	if (!t->slots) {
		mi_free(t);
		return NULL;
	}
	return t;
}

static void free_chunks(struct chunk *c)
{
	while (c) {
		struct chunk *n = c->next;
		mi_free(c);
		c = n;
	}
}

void sl_table_free(struct sl_table *t)
{
	if (!t)
		return;
	free_chunks(t->chunks);
	mi_free(t->fz);
	index_free(t->slots, t->cap);
	index_free(t->old, t->old_cap);
	mi_free(t);
}

static struct entry *arena_alloc(struct sl_table *t, size_t n)
{
	struct chunk *c = t->chunks;
	if (!c || c->cap - c->used < n) {
		size_t total = sizeof(*c) + n <= TABLE_CHUNK_BYTES
				   ? TABLE_CHUNK_BYTES
				   : (sizeof(*c) + n + TABLE_CHUNK_BYTES - 1) & ~(size_t)(TABLE_CHUNK_BYTES - 1);
		c = mi_malloc_aligned(total, TABLE_CHUNK_BYTES);
		if (!c)
			return NULL;
		c->next = t->chunks;
		c->prev = NULL;
		if (t->chunks)
			t->chunks->prev = c;
		c->used = 0;
		c->dead = 0;
		c->cap = total - sizeof(*c);
		t->chunks = c;
	}
	struct entry *e = (struct entry *)(c->mem + c->used);
	c->used += n;
	return e;
}

/* Puts an entry that is in neither index into slots (the key is absent). */
static void place(struct sl_table *t, uint64_t hash, struct entry *e)
{
	uint64_t mask = t->cap - 1;
	for (uint64_t j = hash & mask;; j = (j + 1) & mask) {
		struct slot *s = &t->slots[j];
		if (!s->e || s->e == TOMBSTONE) {
			if (s->e == TOMBSTONE)
				t->n_tomb--;
			s->hash = hash;
			s->e = e;
			return;
		}
	}
}

/* Moves up to budget slots of the previous index; frees it once empty. */
static void migrate(struct sl_table *t, uint64_t budget)
{
	if (!t->old)
		return;
	while (budget-- && t->old_live && t->old_next < t->old_cap) {
		struct slot *s = &t->old[t->old_next++];
		if (s->e && s->e != TOMBSTONE) {
			place(t, s->hash, s->e);
			s->e = TOMBSTONE;
			t->old_live--;
		}
	}
	if (t->old_live == 0) {
		index_free(t->old, t->old_cap);
		t->old = NULL;
		t->old_cap = t->old_next = t->old_live = 0;
	}
}

/* A bigger index (or one without tombstones). The entries move over
 * incrementally: no write waits for a whole rehash. */
static int grow(struct sl_table *t)
{
	if (t->old)
		migrate(t, UINT64_MAX); /* the one before is done first (rare) */
	uint64_t cap = t->cap;
	/* Only tombstones: a fresh index of the same size. */
	if ((t->n_live + 1) * 2 > cap)
		cap *= 2;
	struct slot *ns = index_alloc(cap);
	if (!ns)
		return -ENOMEM;
	t->old = t->slots;
	t->old_cap = t->cap;
	t->old_next = 0;
	t->old_live = t->n_live;
	t->slots = ns;
	t->cap = cap;
	t->n_tomb = 0;
	migrate(t, MIGRATE_STEP);
	return 0;
}

/* Key equality without a libc call for the common short keys. */
static inline bool key_eq(const void *a, const void *b, uint32_t len)
{
	if (len <= 16) {
		const unsigned char *x = a, *y = b;
		for (uint32_t i = 0; i < len; i++)
			if (x[i] != y[i])
				return false;
		return true;
	}
	return memcmp(a, b, len) == 0;
}

static struct slot *probe(const struct sl_table *t, struct slot *slots, uint64_t cap,
			  const void *key, uint32_t len, uint64_t hash, struct slot **first_free)
{
	uint64_t mask = cap - 1;
	*first_free = NULL;
	for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
		struct slot *s = &slots[i];
		if (!s->e) {
			if (!*first_free)
				*first_free = s;
			return NULL;
		}
		if (s->e == TOMBSTONE) {
			if (!*first_free)
				*first_free = s;
			continue;
		}
		if (s->hash == hash && s->e->key_len == len && key_eq(entry_key(t, s->e), key, len))
			return s;
	}
}

/* The key's slot in the current index, or NULL with *first_free where it
 * would go. A key still in the previous index is moved over first. */
static struct slot *lookup(struct sl_table *t, const void *key, uint32_t len, uint64_t hash,
			   struct slot **first_free)
{
	struct slot *s = probe(t, t->slots, t->cap, key, len, hash, first_free);
	if (s || SL_LIKELY(!t->old))
		return s;
	struct slot *ff_old;
	struct slot *o = probe(t, t->old, t->old_cap, key, len, hash, &ff_old);
	if (!o)
		return NULL;
	struct slot *ff = *first_free;
	if (ff->e == TOMBSTONE)
		t->n_tomb--;
	ff->hash = o->hash;
	ff->e = o->e;
	o->e = TOMBSTONE;
	t->old_live--;
	return ff;
}

static inline void set_dead(struct sl_table *t, struct entry *e)
{
	__atomic_store_n(&e->dead_gen, t->gen, __ATOMIC_RELAXED);
	chunk_of(e)->dead += entry_bytes(t, e->key_len);
}

/* Before a write: an entry a snapshot is reading is copied, and the copy
 * takes its place; the original stays as the snapshot saw it. */
static struct entry *writable(struct sl_table *t, struct slot *s)
{
	struct entry *e = s->e;
	if (SL_LIKELY(!t->fz || e->gen == t->gen))
		return e;
	size_t n = entry_bytes(t, e->key_len);
	struct entry *c = arena_alloc(t, n);
	if (!c)
		return NULL;
	memcpy(c, e, n);
	c->gen = t->gen;
	c->dead_gen = 0;
	set_dead(t, e);
	s->e = c;
	t->dead_bytes += n;
	t->cow_copies++;
	return c;
}

void *sl_table_find(struct sl_table *t, const void *key, uint32_t len, uint64_t hash)
{
	struct slot *ff;
	struct slot *s = lookup(t, key, len, hash, &ff);
	if (!s)
		return NULL;
	if (SL_UNLIKELY(is_expired(t, s->e))) {
		expire_slot(t, s);
		return NULL;
	}
	struct entry *e = writable(t, s);
	return e ? entry_value(e) : NULL;
}

void *sl_table_upsert(struct sl_table *t, const void *key, uint32_t len, uint64_t hash,
		      bool *created)
{
	struct slot *ff;
	struct slot *s = lookup(t, key, len, hash, &ff);
	if (s) {
		*created = false;
		struct entry *e = writable(t, s);
		if (!e)
			return NULL;
		if (t->ttl_s) {
			if (is_expired(t, e)) {
				/* Gone: the key starts over in its old entry. */
				if (t->on_expire)
					t->on_expire(t->expire_ctx, entry_value(e));
				memset(entry_value(e), 0, t->value_bytes);
				t->expired++;
				*created = true;
			}
			e->touched = t->now_s;
		}
		return entry_value(e);
	}
	bool moved = t->old != NULL;
	if (moved)
		migrate(t, MIGRATE_STEP);
	if ((t->n_live - t->old_live + t->n_tomb + 1) * 4 > t->cap * 3) {
		if (grow(t) < 0)
			return NULL;
		moved = true;
	}
	if (moved)
		lookup(t, key, len, hash, &ff); /* the index changed under ff */
	size_t n = entry_bytes(t, len);
	struct entry *e = arena_alloc(t, n);
	if (!e)
		return NULL;
	e->key_len = len;
	e->touched = t->now_s;
	e->hash = hash;
	e->gen = t->gen;
	e->dead_gen = 0;
	memset(entry_value(e), 0, t->value_bytes);
	memcpy((char *)e->data + t->value_bytes, key, len);
	if (ff->e == TOMBSTONE)
		t->n_tomb--;
	ff->hash = hash;
	ff->e = e;
	t->n_live++;
	t->live_bytes += n;
	*created = true;
	return entry_value(e);
}

void sl_table_delete(struct sl_table *t, const void *key, uint32_t len, uint64_t hash)
{
	struct slot *ff;
	struct slot *s = lookup(t, key, len, hash, &ff);
	if (!s)
		return;
	size_t n = entry_bytes(t, len);
	set_dead(t, s->e);
	s->e = TOMBSTONE;
	t->n_live--;
	t->n_tomb++;
	t->live_bytes -= n;
	t->dead_bytes += n;
	if (t->old)
		migrate(t, MIGRATE_STEP);
}

/* Moves the live entries of chunk c (not the newest) to the newest chunk
 * and frees c. False when memory ran out (nothing freed then). */
static bool compact_chunk(struct sl_table *t, struct chunk *c)
{
	uint64_t mask = t->cap - 1;
	for (size_t off = 0; off < c->used;) {
		struct entry *e = (struct entry *)(c->mem + off);
		size_t n = entry_bytes(t, e->key_len);
		off += n;
		if (e->dead_gen)
			continue;
		struct entry *ne = arena_alloc(t, n);
		if (!ne)
			return false;
		memcpy(ne, e, n);
		ne->gen = t->gen;
		/* Mark the old copy moved, so a second attempt skips it. */
		e->dead_gen = t->gen;
		bool found = false;
		for (uint64_t i = e->hash & mask; t->slots[i].e; i = (i + 1) & mask)
			if (t->slots[i].e == e) {
				t->slots[i].e = ne;
				found = true;
				break;
			}
		for (uint64_t m = t->old_cap - 1, i = e->hash & m; !found && t->old[i].e;
		     i = (i + 1) & m)
			if (t->old[i].e == e) {
				t->old[i].e = ne;
				found = true;
			}
		SL_ASSERT(found);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		t->chunks = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->dead_bytes -= c->dead;
	mi_free(c);
	return true;
}

/*
 * Compaction by live ratio, a little at a time: once dead bytes pass live
 * bytes, each call moves the live entries out of the chunks with the least
 * live data (at most a few chunks' worth, so no call stalls the worker) and
 * frees them. Waits while a snapshot reads the chunks.
 */
void sl_table_maybe_compact(struct sl_table *t)
{
	if (t->old)
		migrate(t, 1u << 16); /* maintenance time: more than a write's share */
	if (t->fz)
		return;
	if (!t->compacting)
		t->compacting = t->dead_bytes >= TABLE_CHUNK_BYTES && t->dead_bytes >= t->live_bytes;
	if (!t->compacting)
		return;
	size_t moved = 0;
	while (moved < 2 * (size_t)TABLE_CHUNK_BYTES && t->dead_bytes * 2 > t->live_bytes) {
		struct chunk *best = NULL;
		for (struct chunk *c = t->chunks ? t->chunks->next : NULL; c; c = c->next)
			if (c->dead * 2 >= c->used && (!best || c->dead * best->used > best->dead * c->used))
				best = c;
		if (!best)
			break;
		moved += best->used - best->dead;
		if (!compact_chunk(t, best))
			break;
	}
	if (t->dead_bytes * 2 <= t->live_bytes || moved == 0)
		t->compacting = false;
	if (t->n_tomb > t->n_live && !t->old)
		grow(t); /* drops the tombstones */
}

const void *sl_table_key_of(const struct sl_table *t, void *value, uint32_t *len)
{
	struct entry *e = (struct entry *)((char *)value - offsetof(struct entry, data));
	*len = e->key_len;
	return entry_key(t, e);
}

void sl_table_prefetch(const struct sl_table *t, uint64_t hash)
{
	__builtin_prefetch(&t->slots[hash & (t->cap - 1)]);
}

void sl_table_prefetch_entry(const struct sl_table *t, uint64_t hash)
{
	uint64_t mask = t->cap - 1;
	for (uint64_t i = hash & mask, n = 0; n < 4; i = (i + 1) & mask, n++) {
		const struct slot *s = &t->slots[i];
		if (!s->e)
			return;
		if (s->e != TOMBSTONE && s->hash == hash) {
			__builtin_prefetch(s->e);
			return;
		}
	}
}

static void *peek_in(struct slot *slots, uint64_t cap, uint64_t hash)
{
	uint64_t mask = cap - 1;
	for (uint64_t i = hash & mask;; i = (i + 1) & mask) {
		struct slot *s = &slots[i];
		if (!s->e)
			return NULL;
		if (s->e != TOMBSTONE && s->hash == hash)
			return entry_value(s->e);
	}
}

void *sl_table_peek(const struct sl_table *t, uint64_t hash)
{
	void *v = peek_in(t->slots, t->cap, hash);
	return v || !t->old ? v : peek_in(t->old, t->old_cap, hash);
}

uint64_t sl_table_count(const struct sl_table *t)
{
	return t->n_live;
}

uint64_t sl_table_bytes(const struct sl_table *t)
{
	return t->live_bytes + t->dead_bytes + all_slots(t) * sizeof(struct slot);
}

bool sl_table_next(struct sl_table *t, struct sl_table_iter *it, const void **key, uint32_t *len,
		   void **value)
{
	while (it->slot < all_slots(t)) {
		struct slot *s = slot_at(t, it->slot++);
		if (!s->e || s->e == TOMBSTONE)
			continue;
		*key = entry_key(t, s->e);
		*len = s->e->key_len;
		*value = entry_value(s->e);
		return true;
	}
	return false;
}

bool sl_table_next_h(struct sl_table *t, struct sl_table_iter *it, const void **key, uint32_t *len,
		     void **value, uint64_t *hash)
{
	while (it->slot < all_slots(t)) {
		struct slot *s = slot_at(t, it->slot++);
		if (!s->e || s->e == TOMBSTONE)
			continue;
		*key = entry_key(t, s->e);
		*len = s->e->key_len;
		*value = entry_value(s->e);
		*hash = s->hash;
		return true;
	}
	return false;
}

void sl_table_snapshot(struct sl_table *t, struct sl_snapbuf *out)
{
	sl_snap_u32(out, t->value_bytes);
	/* One reservation for everything: the copy loop then never grows. */
	if (!sl_snap_reserve(out, t->live_bytes + t->n_live * 16))
		return;
	for (uint64_t i = 0; i < all_slots(t); i++) {
		struct slot *s = slot_at(t, i);
		if (!s->e || s->e == TOMBSTONE || is_expired(t, s->e))
			continue;
		uint8_t *p = out->p + out->len;
		memcpy(p, &s->hash, 8);
		memcpy(p + 8, &s->e->key_len, 4);
		memcpy(p + 12, entry_key(t, s->e), s->e->key_len);
		memcpy(p + 12 + s->e->key_len, entry_value(s->e), t->value_bytes);
		out->len += 12 + s->e->key_len + t->value_bytes;
	}
}

/* ---- copy-on-write snapshots ---- */

int sl_table_freeze(struct sl_table *t)
{
	SL_ASSERT(!t->fz);
	uint32_t n = 0;
	for (struct chunk *c = t->chunks; c; c = c->next)
		n++;
	struct frozen *fz = mi_malloc(sizeof(*fz) + n * sizeof(fz->c[0]));
	if (!fz)
		return -ENOMEM;
	/* Oldest chunk first: the order entries were written in. */
	uint32_t i = n;
	for (struct chunk *c = t->chunks; c; c = c->next)
		fz->c[--i] = (struct frozen_chunk){c->mem, c->used};
	fz->n = n;
	fz->live_bytes = t->live_bytes;
	fz->gen = ++t->gen;
	fz->now_s = t->now_s;
	t->fz = fz;
	return 0;
}

void sl_table_thaw(struct sl_table *t)
{
	mi_free(t->fz);
	t->fz = NULL;
}

bool sl_table_frozen(const struct sl_table *t)
{
	return t->fz != NULL;
}

int sl_table_serialize(const struct sl_table *t, struct sl_snapsink *out,
		       void (*extra)(void *ctx, const void *value, struct sl_snapbuf *b), void *ctx)
{
	const struct frozen *fz = t->fz;
	const uint32_t vb = t->value_bytes;
	/* Into memory: one reservation (an entry's output is smaller than the
	 * entry) instead of doublings with copies and page faults. */
	if (out->flush_at == SIZE_MAX && !sl_snap_reserve(&out->buf, fz->live_bytes + 64))
		return out->buf.err;
	sl_snap_u32(&out->buf, vb);
	for (uint32_t k = 0; k < fz->n && !out->err; k++) {
		const char *p = fz->c[k].mem, *end = p + fz->c[k].used;
		while (p < end) {
			const struct entry *e = (const struct entry *)p;
			size_t n = entry_bytes(t, e->key_len);
			p += n;
			uint32_t dead = __atomic_load_n(&e->dead_gen, __ATOMIC_RELAXED);
			/* Live at the freeze: not replaced or deleted before it. */
			if (dead && dead < fz->gen)
				continue;
			if (t->ttl_s && fz->now_s - e->touched > t->ttl_s)
				continue;
			struct sl_snapbuf *b = &out->buf;
			if (!sl_snap_reserve(b, 12 + e->key_len + vb))
				return b->err;
			uint8_t *q = b->p + b->len;
			memcpy(q, &e->hash, 8);
			memcpy(q + 8, &e->key_len, 4);
			memcpy(q + 12, (const char *)e->data + vb, e->key_len);
			memcpy(q + 12 + e->key_len, e->data, vb);
			b->len += 12 + e->key_len + vb;
			if (extra)
				extra(ctx, e->data, b);
			if (b->len >= out->flush_at && !out->err)
				out->err = out->flush(out);
		}
	}
	return out->err ? out->err : out->buf.err;
}

uint64_t sl_table_cow_copies(const struct sl_table *t)
{
	return t->cow_copies;
}

bool sl_table_owns(uint64_t hash, uint32_t max_parallelism, uint32_t n_workers, uint32_t worker)
{
	return sl_keygroup_worker(sl_keygroup_of(hash, max_parallelism), max_parallelism,
				  n_workers) == worker;
}

int sl_table_restore(struct sl_table *t, const struct sl_blob *blob, uint32_t max_parallelism,
		     uint32_t n_workers, uint32_t worker)
{
	if (blob->len == 0)
		return 0;
	struct sl_snapread r;
	sl_snapread_init(&r, blob->p, blob->len);
	uint32_t vb = sl_snapread_u32(&r);
	if (r.bad || vb != t->value_bytes)
		return -EINVAL;
	while (r.p < r.end) {
		uint64_t hash = sl_snapread_u64(&r);
		uint32_t kl = sl_snapread_u32(&r);
		const void *key = kl <= SL_KEY_MAX_BYTES ? sl_snapread_get(&r, kl) : NULL;
		const void *val = sl_snapread_get(&r, vb);
		if (r.bad || !key || !val)
			return -EINVAL;
		if (!sl_table_owns(hash, max_parallelism, n_workers, worker))
			continue;
		bool created;
		void *v = sl_table_upsert(t, key, kl, hash, &created);
		if (!v)
			return -ENOMEM;
		memcpy(v, val, vb);
	}
	return sl_snapread_done(&r) ? 0 : -EINVAL;
}

static void expire_slot(struct sl_table *t, struct slot *s)
{
	/* on_expire may write the value (drop what it points to). */
	if (t->fz && !writable(t, s))
		return; /* no memory for the copy: it expires on a later look */
	if (t->on_expire)
		t->on_expire(t->expire_ctx, entry_value(s->e));
	size_t n = entry_bytes(t, s->e->key_len);
	set_dead(t, s->e);
	s->e = TOMBSTONE;
	t->n_live--;
	t->n_tomb++;
	t->live_bytes -= n;
	t->dead_bytes += n;
	t->expired++;
}

void sl_table_set_ttl(struct sl_table *t, int64_t ttl_ms, void (*on_expire)(void *ctx, void *value),
		      void *ctx)
{
	t->ttl_s = ttl_ms > 0 ? (uint32_t)((ttl_ms + 999) / 1000) : 0;
	t->on_expire = on_expire;
	t->expire_ctx = ctx;
	t->base_ms = sl_wall_ms();
	t->now_s = 0;
}

void sl_table_tick(struct sl_table *t, int64_t now_wall_ms)
{
	if (!t->ttl_s)
		return;
	int64_t d = (now_wall_ms - t->base_ms) / 1000;
	t->now_s = d > 0 ? (uint32_t)d : 0;
	/* Incremental cleanup: a few slots per call, so keys never read again
	 * go too (Flink's incremental cleanup). */
	if (t->old)
		migrate(t, MIGRATE_STEP); /* also when only reads come */
	for (uint32_t k = 0; k < 256; k++) {
		struct slot *s = &t->slots[t->sweep++ & (t->cap - 1)];
		if (s->e && s->e != TOMBSTONE && is_expired(t, s->e))
			expire_slot(t, s);
	}
}

uint64_t sl_table_expired(const struct sl_table *t)
{
	return t->expired;
}
