/* Unit test of state/table: millions of random upserts, finds and deletes
 * (1..64-byte keys, small and large key spaces, good and colliding hashes)
 * against a naive reference map, pointer and value stability across
 * growth, compaction, iteration, key_of, peek and counts. */
#include <inttypes.h>
#include <pthread.h>
#include <xxhash.h>

#include "state/snap.h"
#include "state/table.h"
#include "tests/unit/check.h"

#define VALUE_BYTES 20u /* not a multiple of 8: the table rounds it up */
#define KEY_MAX 64u

/* --- the reference: every distinct key once, with its state ----------------- */

struct ref {
	uint8_t key[KEY_MAX];
	uint32_t len;
	bool live;
	uint8_t value[VALUE_BYTES];
	void *ptr;     /* where the table said the value is, while stable */
	uint32_t next; /* chain of the naive map */
	uint32_t seen; /* iteration epoch */
};

struct refmap {
	struct ref *e;
	uint32_t n, cap;
	uint32_t *bucket; /* n_buckets heads, UINT32_MAX empty */
	uint32_t n_buckets;
	uint64_t n_live;
};

/* FNV-1a: deliberately unrelated to the hash the table is given. */
static uint32_t fnv(const uint8_t *p, uint32_t len)
{
	uint32_t h = 2166136261u;
	for (uint32_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void ref_init(struct refmap *m, uint32_t cap)
{
	m->e = calloc(cap, sizeof(*m->e));
	m->cap = cap;
	m->n = 0;
	m->n_live = 0;
	m->n_buckets = 1;
	while (m->n_buckets < cap * 2)
		m->n_buckets *= 2;
	m->bucket = malloc(m->n_buckets * sizeof(*m->bucket));
	REQUIRE(m->e && m->bucket);
	memset(m->bucket, 0xff, m->n_buckets * sizeof(*m->bucket));
}

static void ref_fini(struct refmap *m)
{
	free(m->e);
	free(m->bucket);
}

static struct ref *ref_find(struct refmap *m, const void *key, uint32_t len)
{
	uint32_t b = fnv(key, len) & (m->n_buckets - 1);
	for (uint32_t i = m->bucket[b]; i != UINT32_MAX; i = m->e[i].next)
		if (m->e[i].len == len && memcmp(m->e[i].key, key, len) == 0)
			return &m->e[i];
	return NULL;
}

/* The entry of key, added (not live) if new. */
static uint32_t ref_intern(struct refmap *m, const uint8_t *key, uint32_t len)
{
	struct ref *r = ref_find(m, key, len);
	if (r)
		return (uint32_t)(r - m->e);
	REQUIRE(m->n < m->cap);
	uint32_t i = m->n++;
	r = &m->e[i];
	memcpy(r->key, key, len);
	r->len = len;
	uint32_t b = fnv(key, len) & (m->n_buckets - 1);
	r->next = m->bucket[b];
	m->bucket[b] = i;
	return i;
}

/*
 * A key space of about n keys: random lengths 1..64 and bytes, plus the
 * awkward ones — all-zero keys of every length (equal but for the length),
 * prefixes of one another, keys differing only in the last byte.
 * ids[k] is the reference entry of key k (duplicates share one).
 */
static uint32_t *make_keys(struct refmap *m, uint32_t n, uint64_t seed)
{
	uint32_t *ids = malloc(n * sizeof(*ids));
	REQUIRE(ids);
	uint8_t key[KEY_MAX];
	uint32_t k = 0;
	memset(key, 0, sizeof(key));
	for (uint32_t len = 1; len <= KEY_MAX && k < n; len++)
		ids[k++] = ref_intern(m, key, len);
	memset(key, 'p', sizeof(key));
	for (uint32_t len = 1; len <= KEY_MAX && k < n; len += 3)
		ids[k++] = ref_intern(m, key, len);
	for (uint32_t last = 0; last < 40 && k < n; last++) {
		key[KEY_MAX - 1] = (uint8_t)last;
		ids[k++] = ref_intern(m, key, KEY_MAX);
	}
	while (k < n) {
		uint64_t x = check_rand(&seed);
		uint32_t len = 1 + (uint32_t)(x % KEY_MAX);
		for (uint32_t i = 0; i < len; i += 8) {
			uint64_t y = check_rand(&seed);
			memcpy(key + i, &y, SL_MIN(8u, len - i));
		}
		ids[k++] = ref_intern(m, key, len);
	}
	return ids;
}

enum hash_mode { HASH_GOOD, HASH_8_VALUES, HASH_LENGTH };

static uint64_t key_hash(enum hash_mode mode, const uint8_t *key, uint32_t len)
{
	uint64_t h = XXH3_64bits(key, len);
	switch (mode) {
	case HASH_8_VALUES:
		return h & 7; /* long probe chains of equal hashes */
	case HASH_LENGTH:
		return (uint64_t)len << 40; /* equal low bits too */
	default:
		return h;
	}
}

static void make_value(uint8_t *v, uint32_t id, uint64_t version)
{
	for (uint32_t i = 0; i < VALUE_BYTES; i++)
		v[i] = (uint8_t)((id * 31 + version * 7 + i * 13) ^ (version >> (i % 8)));
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Iteration visits each live key exactly once, with its current value. */
static void check_iteration(struct sl_table *t, struct refmap *m, uint32_t epoch)
{
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	uint64_t visited = 0;
	while (sl_table_next(t, &it, &key, &len, &value)) {
		visited++;
		struct ref *r = len <= KEY_MAX ? ref_find(m, key, len) : NULL;
		if (!r || !r->live || r->seen == epoch ||
		    memcmp(value, r->value, VALUE_BYTES) != 0) {
			const char *why = !r		     ? "unknown"
					  : !r->live	     ? "deleted"
					  : r->seen == epoch ? "visited twice"
							     : "with a wrong value";
			CHECKF(false, "iteration: key of %u bytes %s", len, why);
			continue;
		}
		r->seen = epoch;
		if (r->ptr)
			CHECK(value == r->ptr);
		uint32_t klen = UINT32_MAX;
		CHECK(sl_table_key_of(t, value, &klen) == key && klen == len);
	}
	CHECK_EQ_U(visited, m->n_live);
	CHECK_EQ_U(sl_table_count(t), m->n_live);
}

/* sl_table_peek: a live entry with the same hash (with a good hash, the
 * key's own), or NULL only when no live entry has that hash. */
static void check_peek(struct sl_table *t, enum hash_mode mode, const struct ref *r, uint64_t h,
		       void *p)
{
	void *q = sl_table_peek(t, h);
	if (mode == HASH_GOOD) {
		CHECKF(q == p, "peek of a %s key: %p, want %p", r->live ? "live" : "deleted", q, p);
		return;
	}
	if (r->live)
		CHECK(q != NULL);
	if (q) {
		uint32_t klen;
		const uint8_t *k = sl_table_key_of(t, q, &klen);
		CHECK(key_hash(mode, k, klen) == h);
	}
}

/* Every reference key: found iff live, with its value; refreshes pointers
 * (after a compaction they may have moved). */
static void check_all(struct sl_table *t, struct refmap *m, enum hash_mode mode, bool refresh)
{
	for (uint32_t i = 0; i < m->n; i++) {
		struct ref *r = &m->e[i];
		void *p = sl_table_find(t, r->key, r->len, key_hash(mode, r->key, r->len));
		check_peek(t, mode, r, key_hash(mode, r->key, r->len), p);
		if (!r->live) {
			CHECKF(p == NULL, "deleted key %u found", i);
			continue;
		}
		CHECKF(p && memcmp(p, r->value, VALUE_BYTES) == 0, "live key %u: %s", i,
		       p ? "wrong value" : "not found");
		if (refresh)
			r->ptr = p;
		else
			CHECKF(p == r->ptr, "key %u moved without a compaction", i);
	}
}

/*
 * n_ops random operations on n_keys keys. Mix (percent): upsert 45, find 30,
 * delete del_pct, the rest nothing; every compact_every ops a
 * sl_table_maybe_compact; every verify_every ops a full check.
 */
static void run_random(const char *what, uint32_t n_keys, uint64_t n_ops, enum hash_mode mode,
		       uint32_t del_pct, uint64_t seed)
{
	struct refmap m;
	ref_init(&m, n_keys);
	uint32_t *ids = make_keys(&m, n_keys, seed);
	struct sl_table *t = sl_table_new(VALUE_BYTES);
	REQUIRE(t);
	const uint64_t compact_every = n_ops / 7 + 1, verify_every = n_ops / 5 + 1;
	uint64_t version = 0, peak = 0;
	uint32_t epoch = 0, n_compact = 0;
	for (uint64_t op = 0; op < n_ops; op++) {
		uint64_t x = check_rand(&seed);
		/* Skewed pick: half the ops on the first sixteenth of the keys. */
		uint32_t k = (uint32_t)((x >> 8) % ((x & 1) ? n_keys : (n_keys + 15) / 16));
		uint32_t id = ids[k];
		struct ref *r = &m.e[id];
		uint64_t h = key_hash(mode, r->key, r->len);
		uint32_t pct = (uint32_t)(x >> 40) % 100;
		sl_table_prefetch(t, h); /* a hint only: nothing to observe but safety */
		if (pct < 45) {
			bool created = !r->live;
			void *p = sl_table_upsert(t, r->key, r->len, h, &created);
			REQUIRE(p);
			CHECKF(created == !r->live, "%s op %llu: created %d for a %s key", what,
			       (unsigned long long)op, created, r->live ? "live" : "absent");
			if (!r->live) {
				CHECK(is_zero(p, VALUE_BYTES));
				r->live = true;
				m.n_live++;
			} else {
				CHECK(p == r->ptr);
				CHECK(memcmp(p, r->value, VALUE_BYTES) == 0);
			}
			r->ptr = p;
			uint32_t klen = UINT32_MAX;
			const void *kp = sl_table_key_of(t, p, &klen);
			CHECK(klen == r->len && memcmp(kp, r->key, r->len) == 0);
			/* Written through the returned pointer, read back later. */
			make_value(r->value, id, ++version);
			memcpy(p, r->value, VALUE_BYTES);
		} else if (pct < 75) {
			void *p = sl_table_find(t, r->key, r->len, h);
			if (r->live)
				CHECKF(p == r->ptr && memcmp(p, r->value, VALUE_BYTES) == 0,
				       "%s op %llu: live key %u %s", what, (unsigned long long)op,
				       id, p ? "has a wrong value or moved" : "not found");
			else
				CHECKF(p == NULL, "%s op %llu: absent key %u found", what,
				       (unsigned long long)op, id);
		} else if (pct < 75 + del_pct) {
			sl_table_delete(t, r->key, r->len, h);
			if (r->live) {
				r->live = false;
				r->ptr = NULL;
				m.n_live--;
			}
		}
		if (sl_table_count(t) != m.n_live) {
			CHECKF(false, "%s op %llu: count %llu, want %llu", what,
			       (unsigned long long)op, (unsigned long long)sl_table_count(t),
			       (unsigned long long)m.n_live);
			break;
		}
		peak = SL_MAX(peak, m.n_live);
		if (op % compact_every == compact_every - 1) {
			uint64_t before = sl_table_bytes(t);
			sl_table_maybe_compact(t);
			n_compact += sl_table_bytes(t) < before;
			check_all(t, &m, mode, true);
		}
		if (op % verify_every == verify_every - 1) {
			check_all(t, &m, mode, false);
			check_iteration(t, &m, ++epoch);
		}
	}
	check_all(t, &m, mode, false);
	check_iteration(t, &m, ++epoch);
	/* Delete everything: empty, nothing found, iteration visits nothing. */
	for (uint32_t i = 0; i < m.n; i++) {
		struct ref *r = &m.e[i];
		sl_table_delete(t, r->key, r->len, key_hash(mode, r->key, r->len));
		if (r->live) {
			r->live = false;
			m.n_live--;
		}
	}
	CHECK_EQ_U(sl_table_count(t), 0);
	sl_table_maybe_compact(t);
	check_all(t, &m, mode, true);
	check_iteration(t, &m, ++epoch);
	printf("%s: %u distinct keys, %llu ops, peak %llu live, %u compactions\n", what, m.n,
	       (unsigned long long)n_ops, (unsigned long long)peak, n_compact);
	sl_table_free(t);
	free(ids);
	ref_fini(&m);
}

/* Most keys deleted, then compaction: every live key and value kept, the
 * dead bytes given back, and the table fully usable afterwards. */
static void test_compaction(void)
{
	const uint32_t n = 60000;
	struct refmap m;
	ref_init(&m, n);
	uint32_t *ids = make_keys(&m, n, 4242);
	struct sl_table *t = sl_table_new(VALUE_BYTES);
	REQUIRE(t);
	for (uint32_t i = 0; i < m.n; i++) {
		struct ref *r = &m.e[i];
		bool created;
		void *p = sl_table_upsert(t, r->key, r->len, XXH3_64bits(r->key, r->len), &created);
		REQUIRE(p && created);
		make_value(r->value, i, 1);
		memcpy(p, r->value, VALUE_BYTES);
		r->ptr = p;
		r->live = true;
		m.n_live++;
	}
	CHECK_EQ_U(sl_table_count(t), m.n);

	/* A few deletions: dead bytes far below live, so nothing moves. */
	for (uint32_t i = 0; i < m.n; i += 50) {
		struct ref *r = &m.e[i];
		sl_table_delete(t, r->key, r->len, XXH3_64bits(r->key, r->len));
		r->live = false;
		r->ptr = NULL;
		m.n_live--;
	}
	sl_table_maybe_compact(t);
	check_all(t, &m, HASH_GOOD, false); /* pointers unchanged */

	/* Now most of them: keep one in ten. */
	uint64_t bytes_before = sl_table_bytes(t), dead_min = 0;
	for (uint32_t i = 0; i < m.n; i++) {
		struct ref *r = &m.e[i];
		if (i % 10 == 3 || !r->live)
			continue;
		sl_table_delete(t, r->key, r->len, XXH3_64bits(r->key, r->len));
		r->live = false;
		r->ptr = NULL;
		m.n_live--;
		dead_min += 8 + 24 + r->len; /* entry header + rounded value + key */
	}
	CHECK_EQ_U(sl_table_count(t), m.n_live);
	CHECK_EQ_U(sl_table_bytes(t), bytes_before); /* deleting frees nothing yet */
	CHECK(dead_min > (1u << 20));
	/* As a worker does, after batch after batch: compaction and the
	 * index's tombstone cleanup go a step at a time. */
	for (int k = 0; k < 64; k++)
		sl_table_maybe_compact(t);
	uint64_t bytes_after = sl_table_bytes(t);
	CHECKF(bytes_after + dead_min <= bytes_before,
	       "compaction: %llu bytes before, %llu after, at least %llu were dead",
	       (unsigned long long)bytes_before, (unsigned long long)bytes_after,
	       (unsigned long long)dead_min);
	CHECK_EQ_U(sl_table_count(t), m.n_live);
	check_all(t, &m, HASH_GOOD, true);
	check_iteration(t, &m, 1);

	/* New pointers work: rewrite every live value through them. */
	for (uint32_t i = 0; i < m.n; i++) {
		struct ref *r = &m.e[i];
		if (!r->live)
			continue;
		bool created = true;
		void *p = sl_table_upsert(t, r->key, r->len, XXH3_64bits(r->key, r->len), &created);
		CHECK(!created && p == r->ptr);
		make_value(r->value, i, 2);
		memcpy(p, r->value, VALUE_BYTES);
	}
	/* Bring every deleted key back: tombstones are gone, nothing is lost. */
	for (uint32_t i = 0; i < m.n; i++) {
		struct ref *r = &m.e[i];
		if (r->live)
			continue;
		bool created = false;
		void *p = sl_table_upsert(t, r->key, r->len, XXH3_64bits(r->key, r->len), &created);
		REQUIRE(p);
		CHECK(created && is_zero(p, VALUE_BYTES));
		make_value(r->value, i, 3);
		memcpy(p, r->value, VALUE_BYTES);
		r->ptr = p;
		r->live = true;
		m.n_live++;
	}
	CHECK_EQ_U(sl_table_count(t), m.n);
	check_all(t, &m, HASH_GOOD, false);
	check_iteration(t, &m, 2);
	sl_table_free(t);
	free(ids);
	ref_fini(&m);
}

/* A sliding window: each key inserted once, deleted a little later, so the
 * keys ever seen far outnumber the slots while few are live. Tombstones must
 * not fill the index (a lookup would then never meet an empty slot). */
static void test_churn(void)
{
	const uint32_t window = 100, n = 300000;
	struct sl_table *t = sl_table_new(VALUE_BYTES);
	REQUIRE(t);
	uint64_t checked = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t k = (uint64_t)i * 0x9e3779b97f4a7c15ull;
		bool created = false;
		uint8_t *p = sl_table_upsert(t, &k, 8, XXH3_64bits(&k, 8), &created);
		REQUIRE(p && created);
		memcpy(p, &k, 8);
		if (i >= window) {
			uint64_t old = (uint64_t)(i - window) * 0x9e3779b97f4a7c15ull;
			sl_table_delete(t, &old, 8, XXH3_64bits(&old, 8));
			CHECK(sl_table_find(t, &old, 8, XXH3_64bits(&old, 8)) == NULL);
		}
		if (i % 997 == 0) {
			/* The whole window is there with its values. */
			for (uint32_t j = i >= window - 1 ? i - (window - 1) : 0; j <= i; j++) {
				uint64_t w = (uint64_t)j * 0x9e3779b97f4a7c15ull;
				uint8_t *f = sl_table_find(t, &w, 8, XXH3_64bits(&w, 8));
				CHECK(f && memcmp(f, &w, 8) == 0);
				checked++;
			}
		}
		if (i % 50000 == 0)
			sl_table_maybe_compact(t);
	}
	CHECK_EQ_U(sl_table_count(t), window);
	CHECK(checked > 0);
	sl_table_free(t);
}

/* Small things: empty table, a zero-length key, deleting what is absent,
 * a value size that is a multiple of 8 and a big one. */
static void test_edges(void)
{
	struct sl_table *t = sl_table_new(VALUE_BYTES);
	REQUIRE(t);
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	CHECK(!sl_table_next(t, &it, &key, &len, &value));
	CHECK_EQ_U(sl_table_count(t), 0);
	CHECK(sl_table_find(t, "a", 1, 1) == NULL);
	sl_table_prefetch(t, UINT64_MAX);
	sl_table_delete(t, "a", 1, 1); /* absent: nothing happens */
	CHECK_EQ_U(sl_table_count(t), 0);
	bool created = false;
	void *p = sl_table_upsert(t, "", 0, 5, &created);
	CHECK(p && created);
	CHECK(sl_table_find(t, "", 0, 5) == p);
	CHECK(sl_table_find(t, "x", 1, 5) == NULL); /* same hash, other key */
	void *q = sl_table_upsert(t, "x", 1, 5, &created);
	CHECK(q && created && q != p);
	CHECK_EQ_U(sl_table_count(t), 2);
	sl_table_delete(t, "", 0, 5);
	CHECK(sl_table_find(t, "", 0, 5) == NULL);
	CHECK(sl_table_find(t, "x", 1, 5) == q); /* found past the tombstone */
	CHECK_EQ_U(sl_table_count(t), 1);
	it = (struct sl_table_iter){0};
	CHECK(sl_table_next(t, &it, &key, &len, &value));
	CHECK(len == 1 && memcmp(key, "x", 1) == 0 && value == q);
	CHECK(!sl_table_next(t, &it, &key, &len, &value));
	sl_table_free(t);
	sl_table_free(NULL);

	/* value_bytes 0, 8 and 1000: values are writable in full (ASan cannot
	 * see inside the arena, so neighbours are checked instead). */
	static const uint32_t vbs[] = {0, 8, 1000};
	for (uint32_t v = 0; v < SL_ARRAY_LEN(vbs); v++) {
		t = sl_table_new(vbs[v]);
		REQUIRE(t);
		enum { N = 3000 };
		void *ptr[N];
		for (uint32_t i = 0; i < N; i++) {
			uint32_t k = i * 2654435761u;
			ptr[i] = sl_table_upsert(t, &k, 4, XXH3_64bits(&k, 4), &created);
			REQUIRE(ptr[i] && created);
			memset(ptr[i], (int)(i & 0xff), vbs[v]);
		}
		for (uint32_t i = 0; i < N; i++) {
			uint32_t k = i * 2654435761u;
			void *f = sl_table_find(t, &k, 4, XXH3_64bits(&k, 4));
			CHECK(f == ptr[i]);
			for (uint32_t b = 0; b < vbs[v]; b++)
				if (((uint8_t *)f)[b] != (uint8_t)i) {
					CHECKF(false, "value_bytes %u: key %u byte %u", vbs[v], i,
					       b);
					break;
				}
		}
		/* Keys are intact too (they sit right after the value). */
		struct sl_table_iter it2 = {0};
		uint32_t seen = 0;
		while (sl_table_next(t, &it2, &key, &len, &value)) {
			uint32_t k;
			REQUIRE(len == 4);
			memcpy(&k, key, 4);
			uint32_t i = k * 0x0e8b2f51u; /* inverse of 2654435761 mod 2^32 */
			CHECK(i < N && value == ptr[i]);
			seen++;
		}
		CHECK_EQ_U(seen, N);
		sl_table_free(t);
	}
}

/* TTL: expiry on find, restart on upsert, the sweep, snapshots leave expired
 * entries out, on_expire sees each expired value once. */
static uint32_t expired_seen;
static void count_expired(void *ctx, void *value)
{
	(void)ctx;
	(void)value;
	expired_seen++;
}

static void test_ttl(void)
{
	struct sl_table *t = sl_table_new(8);
	sl_table_set_ttl(t, 10000, count_expired, NULL); /* 10 s */
	int64_t t0 = sl_wall_ms();
	sl_table_tick(t, t0);
	bool created;
	for (uint64_t k = 0; k < 1000; k++) {
		uint64_t *v = sl_table_upsert(t, &k, 8, XXH3_64bits(&k, 8), &created);
		CHECK(created);
		*v = k + 1;
	}
	/* 5 s later: keys 0..499 are written again. */
	sl_table_tick(t, t0 + 5000);
	for (uint64_t k = 0; k < 500; k++) {
		uint64_t *v = sl_table_upsert(t, &k, 8, XXH3_64bits(&k, 8), &created);
		CHECK(!created);
		CHECK_EQ_U(*v, k + 1);
	}
	/* 12 s: keys 500.. are 12 s old (gone), 0..499 are 7 s old (kept). */
	sl_table_tick(t, t0 + 12000);
	uint64_t k = 700;
	CHECK(sl_table_find(t, &k, 8, XXH3_64bits(&k, 8)) == NULL);
	k = 800;
	uint64_t *v = sl_table_upsert(t, &k, 8, XXH3_64bits(&k, 8), &created);
	CHECK(created);
	CHECK_EQ_U(*v, 0); /* starts over zeroed */
	k = 100;
	v = sl_table_find(t, &k, 8, XXH3_64bits(&k, 8));
	CHECK(v && *v == 101);
	struct sl_snapbuf sb;
	sl_snap_init(&sb);
	sl_table_snapshot(t, &sb);
	struct sl_table *copy = sl_table_new(8);
	struct sl_blob blob = {sb.p, sb.len};
	CHECK_EQ_I(sl_table_restore(copy, &blob, 128, 1, 0), 0);
	CHECK_EQ_U(sl_table_count(copy), 501); /* 0..499 and the restarted 800 */
	sl_table_free(copy);
	sl_snap_free(&sb);
	/* The sweep removes what nobody reads: enough ticks cover every slot. */
	for (int i = 0; i < 200; i++)
		sl_table_tick(t, t0 + 12000);
	CHECK_EQ_U(sl_table_count(t), 501);
	CHECK_EQ_U(expired_seen, 500);
	CHECK_EQ_U(sl_table_expired(t), 500);
	sl_table_free(t);
}

/* Copy-on-write snapshots: freeze, then a second thread serializes while
 * this one updates, deletes, inserts and re-updates keys; the image must be
 * exactly the table at the freeze, and the table after it exactly what the
 * writes made. Run over several freeze/thaw rounds. */
struct ser_job {
	struct sl_table *t;
	struct sl_snapsink sink;
	struct sl_snapbuf all;
	int rc;
};

static int ser_flush(struct sl_snapsink *s)
{
	struct ser_job *j = (struct ser_job *)((char *)s - offsetof(struct ser_job, sink));
	sl_snap_put(&j->all, s->buf.p, s->buf.len);
	s->buf.len = 0;
	return 0;
}

static void *ser_main(void *arg)
{
	struct ser_job *j = arg;
	j->rc = sl_table_serialize(j->t, &j->sink, NULL, NULL);
	if (j->rc == 0)
		ser_flush(&j->sink);
	return NULL;
}

static void test_cow_snapshot(void)
{
	enum { KEYS = 60000, ROUNDS = 6 };
	struct sl_table *t = sl_table_new(8);
	static uint64_t model[KEYS]; /* 0: absent, else the value */
	static uint64_t at_freeze[KEYS];
	uint64_t rng = 42;
	for (int round = 0; round < ROUNDS; round++) {
		/* Some work while not frozen (in place). */
		for (int i = 0; i < KEYS; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t k = (rng >> 33) % KEYS, h = XXH3_64bits(&k, 8);
			bool created;
			if ((rng >> 20) % 5 == 0) {
				sl_table_delete(t, &k, 8, h);
				model[k] = 0;
			} else {
				uint64_t *v = sl_table_upsert(t, &k, 8, h, &created);
				*v = rng | 1;
				model[k] = *v;
			}
		}
		sl_table_maybe_compact(t);
		memcpy(at_freeze, model, sizeof(model));
		CHECK_EQ_I(sl_table_freeze(t), 0);
		struct ser_job j = {.t = t};
		sl_snap_init(&j.sink.buf);
		sl_snap_init(&j.all);
		j.sink.flush = ser_flush;
		j.sink.flush_at = SL_SNAPSINK_FLUSH_BYTES;
		pthread_t th;
		pthread_create(&th, NULL, ser_main, &j);
		/* Writes while the serializer reads: updates (copies), deletes,
		 * inserts, finds that write. */
		for (int i = 0; i < 2 * KEYS; i++) {
			rng = rng * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t k = (rng >> 33) % KEYS, h = XXH3_64bits(&k, 8);
			bool created;
			switch ((rng >> 20) % 4) {
			case 0:
				sl_table_delete(t, &k, 8, h);
				model[k] = 0;
				break;
			case 1: {
				uint64_t *v = sl_table_find(t, &k, 8, h);
				CHECK((v != NULL) == (model[k] != 0));
				if (v) {
					*v += 2;
					model[k] = *v;
				}
				break;
			}
			default: {
				uint64_t *v = sl_table_upsert(t, &k, 8, h, &created);
				CHECK(created == (model[k] == 0));
				*v = rng | 1;
				model[k] = *v;
			}
			}
			sl_table_maybe_compact(t); /* must wait while frozen */
		}
		pthread_join(th, NULL);
		CHECK_EQ_I(j.rc, 0);
		sl_table_thaw(t);
		/* The image is the table at the freeze. */
		struct sl_table *img = sl_table_new(8);
		struct sl_blob b = {j.all.p, j.all.len};
		CHECK_EQ_I(sl_table_restore(img, &b, 128, 1, 0), 0);
		uint64_t live = 0;
		for (uint64_t k = 0; k < KEYS; k++) {
			uint64_t *v = sl_table_find(img, &k, 8, XXH3_64bits(&k, 8));
			live += at_freeze[k] != 0;
			CHECKF((v ? *v : 0) == at_freeze[k], "round %d key %" PRIu64 ": image %" PRIu64
				  ", at the freeze %" PRIu64, round, k, v ? *v : 0, at_freeze[k]);
		}
		CHECK_EQ_U(sl_table_count(img), live);
		sl_table_free(img);
		/* And the table is what the writes made. */
		for (uint64_t k = 0; k < KEYS; k++) {
			uint64_t *v = sl_table_find(t, &k, 8, XXH3_64bits(&k, 8));
			CHECKF((v ? *v : 0) == model[k], "round %d key %" PRIu64, round, k);
		}
		sl_snap_free(&j.sink.buf);
		sl_snap_free(&j.all);
	}
	CHECK(sl_table_cow_copies(t) > 0);
	sl_table_free(t);
}

int main(void)
{
	test_ttl();
	test_cow_snapshot();
	const uint64_t scale = CHECK_SANITIZED ? 4 : 1;
	test_edges();
	test_compaction();
	test_churn();
	run_random("small space, good hash", 500, 2000000 / scale, HASH_GOOD, 20, 1);
	run_random("small space, 8 hash values", 300, 600000 / scale, HASH_8_VALUES, 20, 2);
	run_random("small space, hash = length", 300, 600000 / scale, HASH_LENGTH, 20, 3);
	run_random("large space, good hash", 400000, 3000000 / scale, HASH_GOOD, 8, 4);
	run_random("large space, delete-heavy", 200000, 2000000 / scale, HASH_GOOD, 25, 5);
	return check_exit("test_table");
}
