/* Unit test of state/rowstore: size classes (fit, slack, monotone), random
 * alloc/release/resize against a shadow copy of every block's bytes (no
 * overlap, no corruption), free-list reuse, accounting, big blocks. */
#include "state/rowstore.h"
#include "tests/unit/check.h"

#define N_BLOCKS 20000u

struct shadow {
	uint8_t *p;
	uint32_t len;
	uint8_t fill;
};

static void fill(struct shadow *b, uint64_t *rng)
{
	b->fill = (uint8_t)check_rand(rng);
	memset(b->p, b->fill, b->len);
}

static bool intact(const struct shadow *b)
{
	for (uint32_t i = 0; i < b->len; i++)
		if (b->p[i] != b->fill)
			return false;
	return true;
}

static uint32_t rand_len(uint64_t *rng)
{
	uint64_t r = check_rand(rng);
	switch (r % 8) {
	case 0:
		return 1 + (uint32_t)(r >> 8) % 16;
	case 1:
		return 1 + (uint32_t)(r >> 8) % 4096;
	case 2:
		return 1 + (uint32_t)(r >> 8) % 70000;
	default:
		return 100 + (uint32_t)(r >> 8) % 300; /* row images */
	}
}

static void test_classes(void)
{
	uint32_t prev = 0;
	for (uint32_t len = 1; len <= SL_ROWSTORE_MAX_BYTES; len += len < 5000 ? 1 : 97) {
		uint32_t b = sl_rowstore_block_bytes(len);
		CHECKF(b >= len, "len %u block %u", len, b);
		CHECKF(b % 16 == 0, "len %u block %u", len, b);
		CHECKF(b >= prev, "len %u block %u prev %u", len, b, prev);
		CHECKF(len <= 16 || (uint64_t)b * 4 <= (uint64_t)len * 5 + 64,
		       "len %u block %u: more than 25 %% slack", len, b);
		prev = b;
	}
	CHECK_EQ_U(sl_rowstore_block_bytes(1), 16);
	CHECK_EQ_U(sl_rowstore_block_bytes(16), 16);
	CHECK_EQ_U(sl_rowstore_block_bytes(17), 32);
	CHECK_EQ_U(sl_rowstore_block_bytes(1024), 1024);
	CHECK_EQ_U(sl_rowstore_block_bytes(1025), 1280);
	CHECK_EQ_U(sl_rowstore_block_bytes(2048), 2048);
	CHECK_EQ_U(sl_rowstore_block_bytes(2049), 2560);
	CHECK(sl_rowstore_block_bytes(SL_ROWSTORE_MAX_BYTES) >= SL_ROWSTORE_MAX_BYTES);
}

static void test_random(void)
{
	struct sl_rowstore *rs = sl_rowstore_new();
	REQUIRE(rs);
	struct shadow *b = calloc(N_BLOCKS, sizeof(*b));
	REQUIRE(b);
	uint64_t rng = 42, live = 0, live_bytes = 0;
	uint32_t steps = CHECK_SANITIZED ? 200000 : 1000000;
	for (uint32_t step = 0; step < steps; step++) {
		struct shadow *x = &b[check_rand(&rng) % N_BLOCKS];
		uint32_t op = (uint32_t)(check_rand(&rng) % 3);
		if (!x->p) {
			x->len = rand_len(&rng);
			x->p = sl_rowstore_alloc(rs, x->len);
			REQUIRE(x->p);
			CHECK(((uintptr_t)x->p & 15u) == 0);
			fill(x, &rng);
			live++;
			live_bytes += sl_rowstore_block_bytes(x->len);
		} else if (op == 0) {
			CHECKF(intact(x), "step %u: block of %u bytes changed", step, x->len);
			sl_rowstore_release(rs, x->p, x->len);
			live_bytes -= sl_rowstore_block_bytes(x->len);
			x->p = NULL;
			live--;
		} else if (op == 1) {
			CHECKF(intact(x), "step %u: block of %u bytes changed", step, x->len);
			uint32_t nl = rand_len(&rng);
			bool same = sl_rowstore_block_bytes(nl) == sl_rowstore_block_bytes(x->len);
			uint8_t *q = sl_rowstore_resize(rs, x->p, x->len, nl);
			REQUIRE(q);
			CHECK(same == (q == x->p));
			if (same) { /* contents kept */
				uint32_t keep = SL_MIN(nl, x->len);
				for (uint32_t i = 0; i < keep; i++)
					if (q[i] != x->fill) {
						CHECKF(false, "step %u: resize in place lost bytes",
						       step);
						break;
					}
			}
			live_bytes += sl_rowstore_block_bytes(nl);
			live_bytes -= sl_rowstore_block_bytes(x->len);
			x->p = q;
			x->len = nl;
			fill(x, &rng);
		} else {
			CHECKF(intact(x), "step %u: block of %u bytes changed", step, x->len);
		}
		if (step % 65536 == 0) {
			CHECK_EQ_U(sl_rowstore_count(rs), live);
			CHECK_EQ_U(sl_rowstore_live_bytes(rs), live_bytes);
			CHECK(sl_rowstore_bytes(rs) >= live_bytes);
		}
	}
	for (uint32_t i = 0; i < N_BLOCKS; i++)
		if (b[i].p)
			CHECKF(intact(&b[i]), "block %u of %u bytes changed", i, b[i].len);
	CHECK_EQ_U(sl_rowstore_count(rs), live);
	CHECK_EQ_U(sl_rowstore_live_bytes(rs), live_bytes);
	/* Slabs: what is taken from the system stays within a small factor of
	 * the peak live bytes for this mix. */
	CHECKF(sl_rowstore_bytes(rs) < 4 * (uint64_t)N_BLOCKS * 70000, "%llu bytes taken",
	       (unsigned long long)sl_rowstore_bytes(rs));
	free(b);
	sl_rowstore_free(rs);
}

/* A steady state of same-sized replacements allocates nothing new. */
static void test_reuse(void)
{
	struct sl_rowstore *rs = sl_rowstore_new();
	REQUIRE(rs);
	void *p[1000];
	for (int i = 0; i < 1000; i++)
		REQUIRE((p[i] = sl_rowstore_alloc(rs, 200)));
	uint64_t bytes = sl_rowstore_bytes(rs);
	/* Lengths drift within one class (193..208 bytes): blocks are reused. */
	uint32_t len = 200;
	for (int round = 0; round < 100; round++) {
		uint32_t next = 193 + (uint32_t)round % 16;
		for (int i = 0; i < 1000; i++) {
			sl_rowstore_release(rs, p[i], len);
			REQUIRE((p[i] = sl_rowstore_alloc(rs, next)));
		}
		len = next;
	}
	CHECK_EQ_U(sl_rowstore_bytes(rs), bytes);
	/* A freed block is the next one handed out for its class. */
	sl_rowstore_release(rs, p[7], len);
	CHECK(sl_rowstore_alloc(rs, 199) == p[7]);
	/* Big blocks (own slab) and the max. */
	void *big = sl_rowstore_alloc(rs, SL_ROWSTORE_MAX_BYTES);
	REQUIRE(big);
	memset(big, 0xab, SL_ROWSTORE_MAX_BYTES);
	sl_rowstore_release(rs, big, SL_ROWSTORE_MAX_BYTES);
	CHECK(sl_rowstore_alloc(rs, SL_ROWSTORE_MAX_BYTES - 1) == big);
	CHECK_EQ_U(sl_rowstore_count(rs), 1001);
	sl_rowstore_free(rs);
	sl_rowstore_free(NULL);
}

int main(void)
{
	test_classes();
	test_reuse();
	test_random();
	return check_exit("test_rowstore");
}
