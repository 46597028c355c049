/* Unit test of core/pool: lazy growth up to the budget, reserve and
 * sl_pool_low, overflow past the budget, LIFO reuse, block layout for
 * max_cols, and that fini frees every block (checked by walking mimalloc's
 * heap, which ASan/LSan cannot see into). */
#include <mimalloc.h>

#include "core/pool.h"
#include "tests/unit/check.h"

static struct sl_schema schema_of(uint32_t n_cols)
{
	struct sl_schema s = {0};
	char name[16];
	for (uint32_t c = 0; c < n_cols; c++) {
		snprintf(name, sizeof(name), "c%u", c);
		REQUIRE(sl_schema_add(&s, name, c % 2 ? SL_T_STRING : SL_T_BIGINT, false) == 0);
	}
	return s;
}

/* Layout of a pooled batch: max_cols columns with disjoint arrays inside the
 * block, none past it, a full heap, the owner stamped. */
static void check_layout(const struct sl_pool *p, const struct sl_batch *b, uint32_t max_cols,
			 uint16_t owner)
{
	const char *lo = (const char *)b, *hi = lo + p->block_bytes;
	CHECK_EQ_U((uintptr_t)b % 4096, 0);
	CHECK_EQ_U(b->max_cols, max_cols);
	CHECK_EQ_U(b->owner, owner);
	CHECK_EQ_U(b->heap_cap, SL_BATCH_HEAP_BYTES);
	CHECK((const char *)b->heap >= lo + sizeof(*b) && b->heap + SL_BATCH_HEAP_BYTES <= hi);
	for (uint32_t c = 0; c < SL_MAX_COLS; c++) {
		if (c >= max_cols) {
			CHECK(b->cols[c].valid == NULL && b->cols[c].v == NULL);
			continue;
		}
		const char *v = (const char *)b->cols[c].valid, *x = (const char *)b->cols[c].v;
		CHECK(v >= lo + sizeof(*b) && v + SL_BATCH_ROWS / 8 <= b->heap);
		CHECK(x >= lo + sizeof(*b) && x + SL_BATCH_ROWS * 8 <= b->heap);
		if (c > 0) {
			CHECK((const char *)b->cols[c - 1].valid + SL_BATCH_ROWS / 8 <= v);
			CHECK((const char *)b->cols[c - 1].v + SL_BATCH_ROWS * 8 <= x);
		}
		CHECK((const char *)b->cols[max_cols - 1].valid + SL_BATCH_ROWS / 8 <=
		      (const char *)b->cols[0].v);
	}
}

/* Every byte of a pooled batch's arrays and heap can be written. */
static void scribble(struct sl_batch *b, uint8_t byte)
{
	for (uint32_t c = 0; c < b->max_cols; c++) {
		memset(b->cols[c].valid, byte, SL_BATCH_ROWS / 8);
		memset(b->cols[c].v, byte, SL_BATCH_ROWS * sizeof(union sl_val));
	}
	memset(b->heap, byte, b->heap_cap);
}

static void test_layout(void)
{
	static const uint32_t cols[] = {1, 3, 17, SL_MAX_COLS};
	for (uint32_t i = 0; i < SL_ARRAY_LEN(cols); i++) {
		struct sl_pool p;
		struct sl_schema s = schema_of(cols[i]);
		REQUIRE(sl_pool_init(&p, (uint16_t)(100 + i), cols[i], 4, 1) == 0);
		CHECK_EQ_U(p.block_bytes, sl_batch_block_bytes(cols[i]));
		struct sl_batch *b = sl_pool_get(&p, &s);
		check_layout(&p, b, cols[i], (uint16_t)(100 + i));
		CHECK(b->schema == &s);
		CHECK_EQ_U(b->n_cols, cols[i]);
		CHECK_EQ_U(b->n_rows, 0);
		CHECK_EQ_U(b->heap_len, 0);
		CHECK(b->next == NULL);
		scribble(b, 0x5a);
		sl_pool_put(&p, b);
		sl_pool_fini(&p);
	}
	/* max_cols 0 means 1. */
	struct sl_pool p;
	struct sl_schema s0 = {0};
	REQUIRE(sl_pool_init(&p, 0, 0, 2, 1) == 0);
	CHECK_EQ_U(p.max_cols, 1);
	struct sl_batch *b = sl_pool_get(&p, &s0);
	CHECK_EQ_U(b->max_cols, 1);
	CHECK_EQ_U(b->n_cols, 0);
	sl_pool_fini(&p);
}

/*
 * Random get/put against a model: the pool allocates lazily, so n_total is
 * the peak number of batches out at once; "low" means fewer than `reserve`
 * batches could still be handed out within the budget, i.e.
 * max(peak, budget) - out < reserve; overflow counts blocks past the budget;
 * a put batch is the next one got (LIFO).
 */
static void test_model(uint32_t budget, uint32_t reserve, uint64_t seed, uint32_t steps)
{
	struct sl_pool p;
	const uint16_t owner = 7;
	struct sl_schema s1 = schema_of(2), s2 = schema_of(5);
	REQUIRE(sl_pool_init(&p, owner, 5, budget, reserve) == 0);
	CHECK_EQ_U(p.n_total, 0); /* nothing allocated up front */
	CHECK(!sl_pool_low(&p));

	uint32_t cap = budget * 4 + 64;
	struct sl_batch **out = calloc(cap, sizeof(*out));     /* batches handed out */
	struct sl_batch **freed = calloc(cap, sizeof(*freed)); /* model free stack */
	struct sl_batch **all = calloc(cap, sizeof(*all));     /* every distinct batch */
	REQUIRE(out && freed && all);
	uint32_t n_out = 0, n_freed = 0, n_all = 0, peak = 0;
	bool filling = true;

	for (uint32_t step = 0; step < steps; step++) {
		uint64_t x = check_rand(&seed);
		/* Phases that mostly get (to twice the budget) then mostly put. */
		if (n_out >= budget * 2 + 8)
			filling = false;
		else if (n_out <= 1)
			filling = true;
		bool do_get = n_out == 0 || (n_out < cap - 1 && (x % 100) < (filling ? 70u : 30u));
		if (do_get) {
			const struct sl_schema *s = (x >> 20) & 1 ? &s1 : &s2;
			struct sl_batch *b = sl_pool_get(&p, s);
			if (n_freed) {
				struct sl_batch *want = freed[--n_freed];
				CHECKF(b == want, "step %u: got %p, want the last put %p", step,
				       (void *)b, (void *)want);
			} else {
				for (uint32_t i = 0; i < n_all; i++)
					CHECKF(b != all[i],
					       "step %u: new batch %p handed out before", step,
					       (void *)b);
				all[n_all++] = b;
			}
			for (uint32_t i = 0; i < n_out; i++)
				CHECKF(b != out[i], "step %u: batch %p handed out twice", step,
				       (void *)b);
			/* Reset for the schema asked, whatever the last user left. */
			CHECK(b->schema == s);
			CHECK_EQ_U(b->n_cols, s->n_fields);
			CHECK_EQ_U(b->n_rows, 0);
			CHECK_EQ_U(b->heap_len, 0);
			CHECK(b->next == NULL);
			CHECK_EQ_U(b->owner, owner);
			CHECK_EQ_U(b->max_cols, 5);
			/* Leave it dirty for the next user. */
			b->n_rows = 1 + (uint32_t)(x % SL_BATCH_ROWS);
			b->heap_len = (uint32_t)(x >> 40) % SL_BATCH_HEAP_BYTES;
			out[n_out++] = b;
			if (n_out > peak)
				peak = n_out;
		} else {
			uint32_t i = (uint32_t)(x >> 8) % n_out;
			struct sl_batch *b = out[i];
			out[i] = out[--n_out];
			sl_pool_put(&p, b);
			freed[n_freed++] = b;
		}
		CHECK_EQ_U(p.n_total, peak);
		CHECK_EQ_U(p.n_free, peak - n_out);
		CHECK_EQ_U(p.n_free, n_freed);
		CHECK_EQ_U(p.overflow, peak > budget ? peak - budget : 0);
		uint32_t could = SL_MAX(peak, budget) - n_out;
		CHECKF(sl_pool_low(&p) == (could < reserve),
		       "step %u: low %d with %u out, peak %u, budget %u, reserve %u", step,
		       sl_pool_low(&p), n_out, peak, budget, reserve);
	}
	CHECK(peak > budget * 2); /* went past the budget and the first blocks array */
	free(out);
	free(freed);
	free(all);
	sl_pool_fini(&p);
}

/* Exact low/overflow transitions on a tiny pool: budget 4, reserve 2. */
static void test_low_exact(void)
{
	struct sl_pool p;
	struct sl_schema s = schema_of(1);
	struct sl_batch *b[6];
	REQUIRE(sl_pool_init(&p, 1, 1, 4, 2) == 0);
	CHECK(!sl_pool_low(&p));
	b[0] = sl_pool_get(&p, &s); /* 3 could be handed out */
	CHECK(!sl_pool_low(&p));
	b[1] = sl_pool_get(&p, &s); /* 2 */
	CHECK(!sl_pool_low(&p));
	b[2] = sl_pool_get(&p, &s); /* 1 */
	CHECK(sl_pool_low(&p));
	b[3] = sl_pool_get(&p, &s); /* 0, budget spent */
	CHECK(sl_pool_low(&p));
	CHECK_EQ_U(p.overflow, 0);
	b[4] = sl_pool_get(&p, &s); /* past the budget: still handed out */
	CHECK(b[4] != NULL);
	CHECK_EQ_U(p.overflow, 1);
	CHECK_EQ_U(p.n_total, 5);
	sl_pool_put(&p, b[4]); /* 1 could be handed out */
	CHECK(sl_pool_low(&p));
	sl_pool_put(&p, b[3]); /* 2 */
	CHECK(!sl_pool_low(&p));
	sl_pool_put(&p, b[2]); /* 3 */
	CHECK(!sl_pool_low(&p));
	CHECK_EQ_U(p.n_free, 3);
	/* LIFO: the last put comes back first. */
	CHECK(sl_pool_get(&p, &s) == b[2]);
	CHECK(sl_pool_get(&p, &s) == b[3]);
	CHECK(sl_pool_get(&p, &s) == b[4]);
	CHECK_EQ_U(p.n_total, 5); /* no growth while the free list has some */
	CHECK_EQ_U(p.overflow, 1);
	sl_pool_fini(&p);
}

/* --- fini frees everything --------------------------------------------- */

struct live_search {
	void *const *ptr;
	uint32_t n;
	uint32_t found;
};

static bool visit_block(const mi_heap_t *heap, const mi_heap_area_t *area, void *block,
			size_t block_size, void *arg)
{
	(void)heap;
	(void)area;
	struct live_search *ls = arg;
	if (!block)
		return true;
	for (uint32_t i = 0; i < ls->n; i++)
		if ((const char *)ls->ptr[i] >= (const char *)block &&
		    (const char *)ls->ptr[i] < (const char *)block + block_size)
			ls->found++;
	return true;
}

/* How many of ptr[0..n) are inside a block mimalloc counts as allocated. */
static uint32_t count_live(void *const *ptr, uint32_t n)
{
	struct live_search ls = {ptr, n, 0};
	mi_heap_visit_blocks(mi_heap_get_default(), true, visit_block, &ls);
	return ls.found;
}

static void test_fini_frees(void)
{
	struct sl_pool p;
	struct sl_schema s = schema_of(3);
	enum { N = 40 };
	void *ptr[N + 1];
	REQUIRE(sl_pool_init(&p, 2, 3, 8, 2) == 0);
	for (uint32_t i = 0; i < N; i++) /* five times the budget: the blocks array grows */
		ptr[i] = sl_pool_get(&p, &s);
	ptr[N] = p.blocks;
	for (uint32_t i = 0; i < N; i += 2)
		sl_pool_put(&p, ptr[i]); /* some free, some still out: fini frees both */
	uint32_t before = count_live(ptr, N + 1);
	sl_pool_fini(&p);
	if (before == N + 1)
		CHECK_EQ_U(count_live(ptr, N + 1), 0);
	else /* not a failure of the pool: this mimalloc cannot be walked */
		printf("note: mimalloc heap walk sees %u of %u pool blocks; leak check skipped\n",
		       before, N + 1);
	/* fini leaves the struct zeroed (a second fini is then harmless). */
	static const struct sl_pool zero;
	CHECK(memcmp(&p, &zero, sizeof(p)) == 0);
	sl_pool_fini(&p);
}

int main(void)
{
	test_layout();
	test_low_exact();
	test_model(8, 2, 1, 20000);
	test_model(3, 0, 2, 20000);
	test_model(SL_POOL_BATCHES_MIN, 32, 3, 20000);
	test_fini_frees();
	return check_exit("test_pool");
}
