/* Unit test of core/ring.h: the SPSC ring against a FIFO model (partial
 * push_n/pop_n, full, empty, 32-bit index wrap-around), then threaded
 * stress: a pair of threads, and a 4x4 matrix where every thread produces to
 * and consumes from every other, as the engine's exchange does. */
#include <pthread.h>
#include <sched.h>

#include "core/ring.h"
#include "tests/unit/check.h"

static_assert(sizeof(uintptr_t) >= 8, "sequence numbers are encoded in a 64-bit pointer");

/* Message payload: producer, consumer and sequence number, so a message in
 * the wrong ring, a duplicate or a reordering is caught. */
static struct sl_batch *enc(uint32_t prod, uint32_t cons, uint64_t seq)
{
	return (struct sl_batch *)(uintptr_t)((uint64_t)prod << 56 | (uint64_t)cons << 48 | seq);
}
static uint64_t dec_seq(const struct sl_batch *b)
{
	return (uint64_t)(uintptr_t)b & ((1ull << 48) - 1);
}
static uint32_t dec_prod(const struct sl_batch *b)
{
	return (uint32_t)((uint64_t)(uintptr_t)b >> 56);
}
static uint32_t dec_cons(const struct sl_batch *b)
{
	return (uint32_t)((uint64_t)(uintptr_t)b >> 48) & 0xff;
}

/* Places both indices (and both caches) at start, as if start messages had
 * already gone through. */
static void ring_start_at(struct sl_ring *r, uint32_t start)
{
	sl_ring_init(r);
	atomic_store(&r->head, start);
	atomic_store(&r->tail, start);
	r->tail_cache = start;
	r->head_cache = start;
}

static void test_empty_full(void)
{
	struct sl_ring r;
	struct sl_msg m[SL_RING_SLOTS + 4];
	sl_ring_init(&r);
	CHECK(!sl_ring_nonempty(&r));
	CHECK_EQ_U(sl_ring_pop_n(&r, m, 4), 0);
	CHECK_EQ_U(sl_ring_pop_n(&r, m, 0), 0);
	CHECK_EQ_U(sl_ring_push_n(&r, m, 0), 0);
	CHECK(!sl_ring_nonempty(&r));

	for (uint32_t i = 0; i < SL_RING_SLOTS; i++) {
		struct sl_msg one = {.type = SL_MSG_DATA, .node = i, .batch = enc(1, 2, i)};
		CHECK(sl_ring_push(&r, &one));
		CHECK(sl_ring_nonempty(&r));
	}
	struct sl_msg extra = {.type = SL_MSG_EOS, .node = 99, .batch = NULL};
	CHECK(!sl_ring_push(&r, &extra)); /* full */
	CHECK_EQ_U(sl_ring_push_n(&r, &extra, 1), 0);
	CHECK_EQ_U(atomic_load(&r.head), SL_RING_SLOTS);

	/* Pop asks for more than there is: gets exactly the 16, in order. */
	memset(m, 0, sizeof(m));
	CHECK_EQ_U(sl_ring_pop_n(&r, m, SL_RING_SLOTS + 4), SL_RING_SLOTS);
	for (uint32_t i = 0; i < SL_RING_SLOTS; i++) {
		CHECK_EQ_U(m[i].type, SL_MSG_DATA);
		CHECK_EQ_U(m[i].node, i);
		CHECK(m[i].batch == enc(1, 2, i));
	}
	CHECK(!sl_ring_nonempty(&r));
	CHECK_EQ_U(sl_ring_pop_n(&r, m, 1), 0);

	/* Partial push_n: 20 offered, 16 taken; then 5 popped, 5 more fit. */
	struct sl_msg in[20];
	for (uint32_t i = 0; i < 20; i++)
		in[i] = (struct sl_msg){.type = SL_MSG_DATA, .node = 7, .batch = enc(0, 0, 100 + i)};
	CHECK_EQ_U(sl_ring_push_n(&r, in, 20), SL_RING_SLOTS);
	CHECK_EQ_U(sl_ring_pop_n(&r, m, 5), 5);
	for (uint32_t i = 0; i < 5; i++)
		CHECK(m[i].batch == enc(0, 0, 100 + i));
	CHECK_EQ_U(sl_ring_push_n(&r, in + 16, 4), 4);
	CHECK_EQ_U(sl_ring_push_n(&r, in, 20), 1);
	CHECK_EQ_U(sl_ring_pop_n(&r, m, 20), SL_RING_SLOTS);
	for (uint32_t i = 0; i < 15; i++)
		CHECK(m[i].batch == enc(0, 0, 105 + i));
	CHECK(m[15].batch == enc(0, 0, 100));
	CHECK(!sl_ring_nonempty(&r));
}

/*
 * Random push/push_n/pop/pop_n against a model (a FIFO is two counters when
 * the payloads are consecutive sequence numbers), starting with the 32-bit
 * indices at start so they wrap part way.
 */
static void test_model(uint32_t start, uint64_t seed, uint32_t steps)
{
	struct sl_ring r;
	ring_start_at(&r, start);
	uint64_t pushed = 0, popped = 0;
	struct sl_msg m[24];
	for (uint32_t s = 0; s < steps; s++) {
		uint64_t x = check_rand(&seed);
		uint32_t n = (uint32_t)(x >> 8) % 21; /* 0..20: around the 16 slots */
		uint32_t q = (uint32_t)(pushed - popped);
		switch (x & 3) {
		case 0: /* push_n */
		case 1: {
			for (uint32_t i = 0; i < n; i++)
				m[i] = (struct sl_msg){.type = SL_MSG_DATA, .node = (uint32_t)(pushed + i),
						       .batch = enc(3, 4, pushed + i)};
			uint32_t want = SL_MIN(n, SL_RING_SLOTS - q);
			uint32_t got = (x & 1) ? sl_ring_push_n(&r, m, n)
					       : (n ? (uint32_t)sl_ring_push(&r, m) : 0);
			if (!(x & 1))
				want = SL_MIN(want, 1u);
			CHECKF(got == want, "start %u step %u: push %u with %u queued gave %u",
			       start, s, n, q, got);
			pushed += got;
			break;
		}
		default: { /* pop_n */
			memset(m, 0xa5, sizeof(m));
			uint32_t got = sl_ring_pop_n(&r, m, n);
			CHECKF(got == SL_MIN(n, q),
			       "start %u step %u: pop %u with %u queued gave %u", start, s, n, q,
			       got);
			for (uint32_t i = 0; i < got; i++) {
				CHECKF(m[i].batch == enc(3, 4, popped + i) &&
					   m[i].node == (uint32_t)(popped + i) &&
					   m[i].type == SL_MSG_DATA,
				       "start %u step %u: message %u is seq %llu, want %llu", start,
				       s, i, (unsigned long long)dec_seq(m[i].batch),
				       (unsigned long long)(popped + i));
			}
			/* Nothing past what was popped is touched. */
			for (uint32_t i = got; i < SL_ARRAY_LEN(m); i++)
				CHECK(m[i].type == 0xa5a5a5a5u);
			popped += got;
			break;
		}
		}
		CHECK(sl_ring_nonempty(&r) == (pushed != popped));
		CHECK_EQ_U(atomic_load(&r.head), (uint32_t)(start + pushed));
		CHECK_EQ_U(atomic_load(&r.tail), (uint32_t)(start + popped));
	}
	/* Drain: everything left comes out in order. */
	while (pushed != popped) {
		uint32_t got = sl_ring_pop_n(&r, m, 7);
		REQUIRE(got > 0);
		for (uint32_t i = 0; i < got; i++)
			CHECK(m[i].batch == enc(3, 4, popped + i));
		popped += got;
	}
	CHECK(!sl_ring_nonempty(&r));
	/* The indices really went past UINT32_MAX when asked to. */
	if (start > UINT32_MAX - 1000u)
		CHECK(atomic_load(&r.head) < start);
}

/* --- threads ------------------------------------------------------------- */

#define MAX_THREADS 8

struct matrix {
	uint32_t n_threads;
	uint64_t n_msgs;      /* per (producer, consumer) pair */
	struct sl_ring *ring; /* ring[p * n_threads + c]: p produces, c consumes */
	atomic_uint ready;
};

struct thread_arg {
	struct matrix *mx;
	uint32_t id;
	uint64_t seed;
	uint64_t received;
	uint64_t yields;
};

static void spin_start(struct matrix *mx)
{
	atomic_fetch_add(&mx->ready, 1);
	while (atomic_load(&mx->ready) < mx->n_threads)
		sched_yield();
}

/* One worker of the matrix: sends n_msgs DATA then an EOS to every other
 * thread, in random-sized push_n bursts, while draining its inputs and
 * checking each producer's sequence. */
static void *matrix_thread(void *p)
{
	struct thread_arg *a = p;
	struct matrix *mx = a->mx;
	const uint32_t n = mx->n_threads, me = a->id;
	uint64_t sent[MAX_THREADS] = {0}, next[MAX_THREADS] = {0};
	bool eos_sent[MAX_THREADS] = {0}, eos_seen[MAX_THREADS] = {0};
	uint32_t left = 2 * (n - 1); /* EOS to send plus EOS to see */
	struct sl_msg m[16];

	spin_start(mx);
	while (left) {
		bool progress = false;
		for (uint32_t c = 0; c < n; c++) {
			if (c == me || eos_sent[c])
				continue;
			struct sl_ring *r = &mx->ring[me * n + c];
			if (sent[c] < mx->n_msgs) {
				uint64_t x = check_rand(&a->seed);
				uint32_t k = 1 + (uint32_t)(x % 12);
				if (k > mx->n_msgs - sent[c])
					k = (uint32_t)(mx->n_msgs - sent[c]);
				for (uint32_t i = 0; i < k; i++)
					m[i] = (struct sl_msg){.type = SL_MSG_DATA, .node = me,
							       .batch = enc(me, c, sent[c] + i)};
				uint32_t got = (x >> 32) & 1 ? sl_ring_push_n(r, m, k)
							     : (uint32_t)sl_ring_push(r, m);
				CHECK(got <= k);
				sent[c] += got;
				progress |= got > 0;
			} else {
				struct sl_msg eos = {.type = SL_MSG_EOS, .node = me, .batch = enc(me, c, sent[c])};
				if (sl_ring_push(r, &eos)) {
					eos_sent[c] = true;
					left--;
					progress = true;
				}
			}
		}
		for (uint32_t s = 0; s < n; s++) {
			if (s == me || eos_seen[s])
				continue;
			struct sl_ring *r = &mx->ring[s * n + me];
			uint64_t x = check_rand(&a->seed);
			uint32_t want = 1 + (uint32_t)(x % 16), got;
			if ((x >> 40) & 1) {
				/* nonempty() is a promise: the next pop gets one. */
				if (!sl_ring_nonempty(r))
					continue;
				got = sl_ring_pop_n(r, m, 1);
				CHECKF(got == 1, "thread %u: ring from %u nonempty but pop got 0",
				       me, s);
			} else {
				got = sl_ring_pop_n(r, m, want);
				CHECK(got <= want);
			}
			progress |= got > 0;
			for (uint32_t i = 0; i < got; i++) {
				const struct sl_msg *g = &m[i];
				CHECKF(!eos_seen[s], "thread %u: message from %u after its EOS", me,
				       s);
				CHECKF(g->node == s && dec_prod(g->batch) == s &&
					   dec_cons(g->batch) == me,
				       "thread %u: message node %u prod %u cons %u in ring %u->%u",
				       me, g->node, dec_prod(g->batch), dec_cons(g->batch), s, me);
				if (g->type == SL_MSG_EOS) {
					CHECKF(next[s] == mx->n_msgs &&
						   dec_seq(g->batch) == next[s],
					       "thread %u: EOS from %u after %llu of %llu", me, s,
					       (unsigned long long)next[s],
					       (unsigned long long)mx->n_msgs);
					eos_seen[s] = true;
					left--;
					continue;
				}
				CHECKF(g->type == SL_MSG_DATA && dec_seq(g->batch) == next[s],
				       "thread %u: from %u got type %u seq %llu, want seq %llu", me,
				       s, g->type, (unsigned long long)dec_seq(g->batch),
				       (unsigned long long)next[s]);
				next[s]++;
				a->received++;
			}
		}
		if (!progress) {
			a->yields++;
			sched_yield();
		}
	}
	return NULL;
}

/* n threads, each producing n_msgs to and consuming from every other; ring
 * p->c starts its indices at start[p][c]-ish values near UINT32_MAX for some. */
static void run_matrix(uint32_t n_threads, uint64_t n_msgs, uint64_t seed)
{
	struct matrix mx = {.n_threads = n_threads, .n_msgs = n_msgs};
	struct thread_arg args[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	REQUIRE(n_threads >= 2 && n_threads <= MAX_THREADS);
	mx.ring = aligned_alloc(SL_CACHELINE, sizeof(struct sl_ring) * n_threads * n_threads);
	REQUIRE(mx.ring);
	atomic_init(&mx.ready, 0);
	for (uint32_t p = 0; p < n_threads; p++)
		for (uint32_t c = 0; c < n_threads; c++) {
			/* Half the rings wrap their 32-bit indices during the run. */
			uint32_t start = (p + c) % 2 ? UINT32_MAX - 37u * (p * n_threads + c) : 0;
			ring_start_at(&mx.ring[p * n_threads + c], start);
		}
	for (uint32_t t = 0; t < n_threads; t++) {
		args[t] = (struct thread_arg){.mx = &mx, .id = t, .seed = seed + t};
		REQUIRE(pthread_create(&tid[t], NULL, matrix_thread, &args[t]) == 0);
	}
	uint64_t total = 0;
	for (uint32_t t = 0; t < n_threads; t++) {
		REQUIRE(pthread_join(tid[t], NULL) == 0);
		CHECK_EQ_U(args[t].received, n_msgs * (n_threads - 1));
		total += args[t].received;
	}
	CHECK_EQ_U(total, n_msgs * n_threads * (n_threads - 1));
	/* Every ring is empty and carried exactly n_msgs + 1 messages. */
	for (uint32_t p = 0; p < n_threads; p++)
		for (uint32_t c = 0; c < n_threads; c++) {
			struct sl_ring *r = &mx.ring[p * n_threads + c];
			uint32_t start = (p + c) % 2 ? UINT32_MAX - 37u * (p * n_threads + c) : 0;
			CHECK(!sl_ring_nonempty(r));
			if (p != c)
				CHECK_EQ_U(atomic_load(&r->head), (uint32_t)(start + n_msgs + 1));
		}
	free(mx.ring);
}

/* One producer, one consumer, single-message push/pop: the tightest
 * exchange of the cached indices. */
struct pair {
	struct sl_ring ring;
	uint64_t n_msgs;
	atomic_uint ready;
};

static void *pair_producer(void *p)
{
	struct pair *pr = p;
	atomic_fetch_add(&pr->ready, 1);
	while (atomic_load(&pr->ready) < 2)
		sched_yield();
	for (uint64_t i = 0; i < pr->n_msgs;) {
		struct sl_msg m = {.type = SL_MSG_DATA, .node = 1, .batch = enc(1, 0, i)};
		if (sl_ring_push(&pr->ring, &m))
			i++;
		else
			sched_yield();
	}
	return NULL;
}

static void run_pair(uint64_t n_msgs, uint32_t start)
{
	struct pair *pr = aligned_alloc(SL_CACHELINE, sizeof(*pr));
	REQUIRE(pr);
	ring_start_at(&pr->ring, start);
	pr->n_msgs = n_msgs;
	atomic_init(&pr->ready, 0);
	pthread_t tid;
	REQUIRE(pthread_create(&tid, NULL, pair_producer, pr) == 0);
	atomic_fetch_add(&pr->ready, 1);
	while (atomic_load(&pr->ready) < 2)
		sched_yield();
	uint64_t next = 0;
	struct sl_msg m[SL_RING_SLOTS];
	while (next < n_msgs) {
		uint32_t got = sl_ring_pop_n(&pr->ring, m, 1 + (uint32_t)(next % SL_RING_SLOTS));
		if (!got) {
			sched_yield();
			continue;
		}
		for (uint32_t i = 0; i < got; i++, next++)
			if (m[i].batch != enc(1, 0, next) || m[i].node != 1) {
				CHECKF(false, "pair: got seq %llu, want %llu",
				       (unsigned long long)dec_seq(m[i].batch),
				       (unsigned long long)next);
				next = n_msgs; /* stop: the rest would all fail */
				break;
			}
	}
	REQUIRE(pthread_join(tid, NULL) == 0);
	CHECK(!sl_ring_nonempty(&pr->ring));
	free(pr);
}

int main(void)
{
	test_empty_full();
	static const uint32_t starts[] = {0,	      5,	   UINT32_MAX - 40, UINT32_MAX - 15,
					  UINT32_MAX, 0x7ffffff0u, 0xfffffff0u};
	for (uint32_t i = 0; i < SL_ARRAY_LEN(starts); i++)
		test_model(starts[i], 1000 + i, 200000);

	/* Sizes: ~12 M messages through the matrix normally; sanitizers are
	 * 5-20x slower, so they get a quarter. */
	const uint64_t scale = CHECK_SANITIZED ? 4 : 1;
	run_pair(4000000 / scale, UINT32_MAX - 1000);
	run_matrix(4, 1000000 / scale, 42);
	run_matrix(3, 300000 / scale, 7);
	return check_exit("test_ring");
}
