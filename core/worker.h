/* A worker: one pinned thread with its own io_uring, pool, and operator instances. */
#ifndef SL_WORKER_H
#define SL_WORKER_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>

#include "core/batch.h"
#include "core/hist.h"
#include "core/job.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/ring.h"
#include "state/snap.h"

struct sl_engine;
struct sl_expr_scratch;

/* Counters one worker writes and the control thread reads (relaxed). */
struct sl_worker_metrics {
	alignas(SL_CACHELINE) uint64_t records_in; /* rows emitted by sources */
	uint64_t bytes_in;                         /* bytes read by sources */
	uint64_t records_out;                      /* rows taken by sinks */
	uint64_t bytes_out;                        /* bytes written by sinks */
	uint64_t bad_records;                      /* rows that could not be read or computed */
	uint64_t dead_letters;                     /* of those, rows the dead-letter sink took */
	uint64_t blocked_ns;                       /* time sources waited on back-pressure */
	uint64_t busy_ns;                          /* time not asleep */
	uint64_t barrier_ns_last;                  /* sources paused for the last checkpoint */
	uint64_t barrier_ns_max;
	uint64_t state_bytes;                      /* keyed state held by the worker's nodes */
	uint64_t batches_sent;
	uint64_t progress_done; /* bounded sources: units done (records or bytes) */
	uint64_t progress_total;
};

static inline void sl_counter_add(uint64_t *c, uint64_t n)
{
	/* Single writer: a relaxed load and store, no locked instruction. */
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}
static inline uint64_t sl_counter_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

/* One node of the job on one worker. */
struct sl_nodeinst {
	const struct sl_node *node;
	void *state;
	struct sl_nodeinst **down;
	uint8_t *down_port; /* named output each downstream edge leaves from */
	uint32_t n_down;
	uint32_t inputs_ended;
	bool ended;
	bool dlq_chain; /* fed by the dead-letter source */
	uint64_t rows_in;
	uint64_t rows_out;
	uint64_t state_bytes; /* keyed operators: memory their state holds (relaxed) */
	/* Sources: how far behind their input they are, where they know
	 * (sl_worker_source_lag; bit k of lag_set: lag[k] reported). */
	uint64_t lag[3];
	uint8_t lag_set;
	struct sl_ratelimit rl; /* bad-record log lines */
};

/* Completion callback for I/O a node submits on the worker's ring. */
struct sl_io {
	void (*done)(struct sl_worker *w, struct sl_io *io, int res);
};

/* A queue of messages waiting for credit or ring room towards one worker. */
struct sl_msgq {
	struct sl_msg *m;
	uint32_t head, tail, cap; /* cap a power of two */
};

struct sl_worker {
	uint32_t id;
	uint32_t n_workers;
	int cpu; /* pinned CPU, or -1 */
	struct sl_engine *eng;
	struct sl_job *job;
	pthread_t thread;

	struct io_uring uring;
	bool uring_ready;
	int event_fd;
	uint64_t event_buf;
	bool event_armed;
	struct sl_io event_io;
	/* Set by the worker before it sleeps; a producer that finds it set
	 * clears it and rings event_fd. */
	alignas(SL_CACHELINE) _Atomic uint32_t sleeping;

	alignas(SL_CACHELINE) struct sl_pool pool;
	struct sl_nodeinst *ni; /* [job->n_nodes] */
	struct sl_expr_scratch *scratch;

	/* Exchange: credit[d] batches in flight to worker d; out[d] waiting. */
	uint32_t *credit;
	struct sl_msgq *out;
	uint32_t n_out_waiting;
	uint32_t *eos_seen; /* [n_exchanges]: EOS received per exchange */

	/* Dead letters: rows collected here go out through the dead_letter
	 * source node, which ends after every other node on this worker. */
	struct sl_nodeinst *dlq;
	struct sl_batch *dlq_batch;
	int64_t dlq_since_ns;
	uint32_t dlq_chain; /* nodes fed (transitively) by the dead_letter source */
	bool in_dlq;        /* re-entrancy guard: a failing dead-letter sink only logs */
	bool in_service;    /* re-entrancy guard: service callbacks running */

	uint32_t live_sources;
	uint32_t live_nodes;
	bool done;
	bool stopping_seen;
	int64_t now_ns;     /* taken once per loop turn */
	int64_t wake_at_ns; /* earliest timer a node asked for (INT64_MAX: none) */
	int64_t blocked_since_ns;
	uint32_t inflight_io; /* submitted operations not yet completed */

	/* Checkpoint barriers (core/worker.c). */
	uint64_t ckpt_seen;      /* last barrier id this worker began */
	uint64_t ckpt_id;        /* the one in progress */
	uint64_t committed_seen; /* last committed id its nodes were told of */
	bool ckpt_active;        /* barrier injected, not every node passed yet */
	bool paused;             /* sources stay paused (the job stops after a checkpoint) */
	bool finished;           /* every node ended: waiting for the final checkpoint */
	uint64_t state_budget;   /* this worker's share of state.memory_budget (0: none) */
	bool over_budget;
	uint32_t holds;          /* nodes whose output must wait (a sink awaiting a commit): sources pause */
	uint32_t bar_passed;     /* nodes the barrier passed */
	uint32_t bar_passed_main; /* of which outside the dead-letter chain */
	bool bar_dlq_done;        /* the dead-letter source passed it */
	uint32_t bar_records;
	uint32_t *bar_in;        /* [n_nodes]: inputs that delivered the barrier */
	uint32_t *bar_x;         /* [n_exchanges]: workers whose barrier arrived */
	uint32_t *blocked_on;    /* [n_workers]: exchange id + 1 whose alignment blocks that ring */
	int64_t ckpt_began_ns;
	struct sl_snapbuf snap;  /* this worker's part of the checkpoint */
	struct sl_deferred *defer; /* [n_nodes]: serializers the coordinator runs */
	uint32_t n_defer;
	uint64_t written_seen;     /* last checkpoint whose files were written */

	struct sl_worker_metrics *m;
	struct sl_hist *latency; /* ingest -> sink, ns */
	int error;               /* first fatal error (negative errno) */
};

/* Worker thread: hands b to every downstream node of ni. b stays the caller's. */
int sl_emit(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *b);
/* Worker thread: hands b to the nodes reading named output `port` of ni. */
int sl_emit_port(struct sl_worker *w, struct sl_nodeinst *ni, uint32_t port, struct sl_batch *b);
/* Worker thread: a fresh batch from this worker's pool. */
static inline struct sl_batch *sl_worker_batch(struct sl_worker *w, const struct sl_schema *s)
{
	return sl_pool_get(&w->pool, s);
}
/* Worker thread: gives back a batch this worker owns. */
static inline void sl_worker_put(struct sl_worker *w, struct sl_batch *b)
{
	sl_pool_put(&w->pool, b);
}
/* Sinks call this for every batch they take: counts rows, records latency. */
void sl_worker_sink_rows(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_batch *b,
			 uint64_t bytes);
/* Sources call this for every batch they emit. */
static inline void sl_worker_source_rows(struct sl_worker *w, struct sl_nodeinst *ni,
					 uint32_t rows, uint64_t bytes)
{
	sl_counter_add(&w->m->records_in, rows);
	sl_counter_add(&w->m->bytes_in, bytes);
	sl_counter_add(&ni->rows_out, rows);
}
/* A snapshot part a node leaves to the checkpoint coordinator: fn runs on
 * the coordinator's thread, after the barrier, while the worker goes on
 * (the node froze what fn reads; see sl_table_freeze). */
struct sl_deferred {
	uint32_t node;
	int (*fn)(void *ctx, struct sl_snapsink *out);
	void *ctx;
};
/* Worker thread, inside a snapshot callback: the node's state goes to the
 * checkpoint through fn instead of the snapshot buffer. Once the
 * checkpoint's files are written (or it failed), the node's
 * snapshot_written callback runs on the worker. */
void sl_worker_snap_defer(struct sl_worker *w, struct sl_nodeinst *ni,
			  int (*fn)(void *ctx, struct sl_snapsink *out), void *ctx);

struct sl_table;
/* Keyed operators with a plain table (no out-of-line data): at the barrier
 * the table is frozen and the coordinator serializes it (with no memory to
 * freeze, it is copied into out now); thaw it in snapshot_written with
 * sl_table_thaw. restore keeps the entries of this worker's key groups. */
void sl_worker_snap_table(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_table *t,
			  struct sl_snapbuf *out);
int sl_worker_restore_table(struct sl_worker *w, struct sl_table *t, const struct sl_blob *blobs,
			    uint32_t n);

/*
 * Worker thread: no checkpoint can include the node for now (e.g. a source
 * reading an initial database snapshot, which can be taken again but not
 * resumed). While any hold is taken the coordinator triggers no barrier: it
 * declines each due checkpoint (logged, counted apart from failures), and a
 * stop request stops without one. Taken in open, a hold is in place before
 * the first checkpoint. why: a string that outlives the hold.
 */
void sl_worker_ckpt_hold(struct sl_worker *w, struct sl_nodeinst *ni, const char *why);
void sl_worker_ckpt_release(struct sl_worker *w, struct sl_nodeinst *ni);

/* Keyed operators report the memory their state holds after each batch. */
static inline void sl_worker_state_bytes(struct sl_nodeinst *ni, uint64_t bytes)
{
	__atomic_store_n(&ni->state_bytes, bytes, __ATOMIC_RELAXED);
}
/* What a source's lag is counted in (sluice_source_lag_<unit> in /metrics). */
enum sl_lag_unit {
	SL_LAG_RECORDS = 0, /* e.g. Kafka: offsets behind the high watermark */
	SL_LAG_BYTES = 1,   /* e.g. CDC: WAL bytes behind the server */
	SL_LAG_MS = 2,      /* e.g. CDC: age of the last change emitted while behind */
};
/* Sources report their lag (any time; read by the admin thread). */
static inline void sl_worker_source_lag(struct sl_nodeinst *ni, enum sl_lag_unit u, uint64_t v)
{
	__atomic_store_n(&ni->lag[u], v, __ATOMIC_RELAXED);
	if (!(ni->lag_set >> u & 1))
		__atomic_store_n(&ni->lag_set, (uint8_t)(ni->lag_set | 1u << u), __ATOMIC_RELAXED);
}

/* Asks the loop to come back no later than t (monotonic ns). */
static inline void sl_worker_wake_at(struct sl_worker *w, int64_t t)
{
	if (t < w->wake_at_ns)
		w->wake_at_ns = t;
}
/* An SQE on the worker's ring (submits to make room when full). */
struct io_uring_sqe *sl_worker_sqe(struct sl_worker *w);
/* Waits for completions (at most ~100 ms) and dispatches them, then lets
 * the nodes with a service callback keep their connections alive; used by a
 * node that cannot go on until its own I/O finishes (e.g. both write
 * buffers busy), in a loop on its own condition. */
int sl_worker_wait_io(struct sl_worker *w);
/* Sleeps up to ms while the other nodes' service callbacks run (a node
 * waiting to retry; use instead of sleeping). Returns early when the job is
 * exiting. */
void sl_worker_pause(struct sl_worker *w, int64_t ms);
/* True once the job was asked to stop (signal, fatal error elsewhere). */
bool sl_worker_stopping(const struct sl_worker *w);
/*
 * Bad data is counted, logged (rate-limited) and, when the job has a
 * dead_letter sink, written there with the reason, where it came from and
 * its raw bytes. Never fatal.
 *   bad_input: a record a source could not read (raw = its bytes).
 *   bad_row:   row r of b failed in a step (raw = the row as JSON).
 */
void sl_worker_bad_input(struct sl_worker *w, struct sl_nodeinst *ni, const char *where,
			 const char *reason, const char *raw, size_t raw_len);
void sl_worker_bad_row(struct sl_worker *w, struct sl_nodeinst *ni, const char *where,
		       const char *reason, const struct sl_batch *b, uint32_t r);
/* Fails the job with err (negative errno) and a message. */
void sl_worker_fail(struct sl_worker *w, struct sl_nodeinst *ni, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Exchange (key_by): sends batch b of exchange node x to worker dest. The
 * batch is then the receiver's until it comes back through the return ring. */
void sl_worker_send(struct sl_worker *w, const struct sl_node *x, uint32_t dest,
		    struct sl_batch *b);
/* Exchange: marks exchange x finished on this worker towards every worker. */
void sl_worker_send_eos(struct sl_worker *w, const struct sl_node *x);

/* Engine side. */
int sl_worker_init(struct sl_worker *w); /* on the worker thread */
void sl_worker_run(struct sl_worker *w); /* on the worker thread, returns when done */
void sl_worker_fini(struct sl_worker *w);
/* Any thread: wake w if it sleeps. */
void sl_worker_kick(struct sl_worker *w);

#endif
