/* The worker loop: exchange rings, sources, I/O completions, timers, idle sleep. */
#include "core/worker.h"

#include <mimalloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "connectors/file/encode.h"
#include "core/checkpoint.h"
#include "core/engine.h"
#include "core/expr.h"
#include "state/table.h"

#define WORKER_URING_ENTRIES 256u
#define WORKER_POP_BURST 8u
#define WORKER_SCRATCH_BYTES (256u * 1024u)

/* ---- message queues towards other workers ---- */

static int msgq_push(struct sl_msgq *q, const struct sl_msg *m)
{
	if (q->tail - q->head == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 64;
		struct sl_msg *nm = mi_malloc(cap * sizeof(*nm));
		if (!nm)
			return -ENOMEM;
		for (uint32_t i = 0; i < q->tail - q->head; i++)
			nm[i] = q->m[(q->head + i) & (q->cap - 1)];
		q->tail -= q->head;
		q->head = 0;
		mi_free(q->m);
		q->m = nm;
		q->cap = cap;
	}
	q->m[q->tail++ & (q->cap - 1)] = *m;
	return 0;
}

static bool try_push(struct sl_worker *w, uint32_t dest, const struct sl_msg *m)
{
	if (m->type == SL_MSG_DATA && w->credit[dest] >= SL_RING_SLOTS)
		return false;
	if (!sl_ring_push(sl_engine_ring(w->eng, w->id, dest), m))
		return false;
	if (m->type == SL_MSG_DATA) {
		w->credit[dest]++;
		sl_counter_add(&w->m->batches_sent, 1);
	}
	sl_worker_kick(&w->eng->workers[dest]);
	return true;
}

static void enqueue(struct sl_worker *w, uint32_t dest, const struct sl_msg *m)
{
	struct sl_msgq *q = &w->out[dest];
	if (q->tail == q->head && try_push(w, dest, m))
		return;
	if (msgq_push(q, m) < 0) {
		sl_worker_fail(w, NULL, -ENOMEM, "out of memory queueing a batch");
		return;
	}
	w->n_out_waiting++;
}

static uint32_t flush_out(struct sl_worker *w)
{
	uint32_t moved = 0;
	for (uint32_t d = 0; d < w->n_workers && w->n_out_waiting; d++) {
		struct sl_msgq *q = &w->out[d];
		while (q->head != q->tail && try_push(w, d, &q->m[q->head & (q->cap - 1)])) {
			q->head++;
			w->n_out_waiting--;
			moved++;
		}
	}
	return moved;
}

void sl_worker_kick(struct sl_worker *w)
{
	/* Pairs with the fence in worker_sleep: either the sleeper sees our
	 * message when it re-checks its rings, or we see its flag here. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
	    atomic_exchange_explicit(&w->sleeping, 0, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t r = write(w->event_fd, &one, sizeof(one));
		(void)r;
	}
}

/* ---- node lifecycle ---- */

static void node_inputs_done(struct sl_worker *w, struct sl_nodeinst *ni);

static void input_ended(struct sl_worker *w, struct sl_nodeinst *ni)
{
	SL_ASSERT(ni->inputs_ended < ni->node->n_inputs);
	if (++ni->inputs_ended == ni->node->n_inputs)
		node_inputs_done(w, ni);
}

static void exchange_eos(struct sl_worker *w, const struct sl_node *x)
{
	struct sl_nodeinst *ni = &w->ni[x->id];
	SL_ASSERT(w->eos_seen[x->exchange] < w->n_workers);
	if (++w->eos_seen[x->exchange] == w->n_workers)
		for (uint32_t k = 0; k < ni->n_down; k++)
			input_ended(w, ni->down[k]);
}

static void node_inputs_done(struct sl_worker *w, struct sl_nodeinst *ni)
{
	SL_ASSERT(!ni->ended);
	/* Relaxed store: the admin server reads it from the control thread. */
	__atomic_store_n(&ni->ended, true, __ATOMIC_RELAXED);
	if (ni->node->kind == SL_NODE_SOURCE && !ni->node->is_dead_letter)
		w->live_sources--;
	if (ni->node->plugin->finish) {
		int rc = ni->node->plugin->finish(w, ni);
		if (rc < 0)
			sl_worker_fail(w, ni, rc, "finishing failed: %s", strerror(-rc));
	}
	w->live_nodes--;
	/* An exchange's downstream ends when every worker's EOS arrived
	 * (its finish sent ours); others end their downstream now. */
	if (!ni->node->is_exchange)
		for (uint32_t k = 0; k < ni->n_down; k++)
			input_ended(w, ni->down[k]);
}

static int emit(struct sl_worker *w, struct sl_nodeinst *ni, int port, struct sl_batch *b)
{
	if (b->n_rows == 0)
		return 0;
	if (ni->node->kind != SL_NODE_SOURCE)
		sl_counter_add(&ni->rows_out, b->n_rows);
	for (uint32_t k = 0; k < ni->n_down; k++) {
		if (port >= 0 && ni->down_port[k] != port)
			continue;
		struct sl_nodeinst *d = ni->down[k];
		sl_counter_add(&d->rows_in, b->n_rows);
		int rc = d->node->plugin->process(w, d, b);
		if (SL_UNLIKELY(rc < 0)) {
			sl_worker_fail(w, d, rc, "processing failed: %s", strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int sl_emit(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *b)
{
	return emit(w, ni, -1, b);
}

int sl_emit_port(struct sl_worker *w, struct sl_nodeinst *ni, uint32_t port, struct sl_batch *b)
{
	return emit(w, ni, (int)port, b);
}

void sl_worker_send(struct sl_worker *w, const struct sl_node *x, uint32_t dest,
		    struct sl_batch *b)
{
	SL_ASSERT(dest != w->id && dest < w->n_workers);
	struct sl_msg m = {.type = SL_MSG_DATA, .node = x->id, .batch = b};
	enqueue(w, dest, &m);
}

void sl_worker_send_eos(struct sl_worker *w, const struct sl_node *x)
{
	struct sl_msg m = {.type = SL_MSG_EOS, .node = x->id, .batch = NULL};
	for (uint32_t d = 0; d < w->n_workers; d++)
		if (d != w->id)
			enqueue(w, d, &m);
	exchange_eos(w, x);
}

/* ---- metrics, errors ---- */

void sl_worker_sink_rows(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_batch *b,
			 uint64_t bytes)
{
	int64_t now = sl_now_ns();
	for (uint32_t r = 0; r < b->n_rows && !ni->dlq_chain; r++) {
		int64_t lat = now - b->ingest_ns[r];
		sl_hist_add(w->latency, lat > 0 ? (uint64_t)lat : 0, 1);
	}
	if (ni->dlq_chain) {
		sl_counter_add(&w->m->dead_letters, b->n_rows);
		return;
	}
	sl_counter_add(&w->m->records_out, b->n_rows);
	sl_counter_add(&w->m->bytes_out, bytes);
}

#define DLQ_RAW_MAX (128u * 1024u)

static void dlq_flush(struct sl_worker *w)
{
	struct sl_batch *b = w->dlq_batch;
	if (!b)
		return;
	w->dlq_batch = NULL;
	w->in_dlq = true;
	sl_emit(w, w->dlq, b);
	w->in_dlq = false;
	sl_worker_put(w, b);
}

static void dlq_add(struct sl_worker *w, struct sl_nodeinst *ni, const char *where,
		    const char *reason, const char *raw, size_t raw_len)
{
	char why[600];
	if (raw_len > DLQ_RAW_MAX) {
		snprintf(why, sizeof(why), "%s (raw record of %zu bytes cut to %u)", reason, raw_len,
			 DLQ_RAW_MAX);
		reason = why;
		raw_len = DLQ_RAW_MAX;
	}
	size_t need = strlen(ni->node->name) + strlen(where) + strlen(reason) + raw_len;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!w->dlq_batch) {
			w->dlq_batch = sl_worker_batch(w, &w->dlq->node->schema);
			w->dlq_since_ns = w->now_ns;
		}
		struct sl_batch *b = w->dlq_batch;
		if (sl_batch_full(b) || need > sl_batch_heap_free(b)) {
			dlq_flush(w);
			continue;
		}
		uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, sl_now_ns(), INT64_MIN);
		sl_batch_set_str(b, 0, r, ni->node->name, strlen(ni->node->name));
		sl_batch_set_str(b, 1, r, where, strlen(where));
		sl_batch_set_str(b, 2, r, reason, strlen(reason));
		if (raw)
			sl_batch_set_str(b, 3, r, raw, raw_len);
		sl_batch_set_i(b, 4, r, sl_wall_ms());
		sl_batch_commit_row(b);
		sl_counter_add(&w->dlq->rows_out, 1);
		return;
	}
}

void sl_worker_bad_row(struct sl_worker *w, struct sl_nodeinst *ni, const char *where,
		       const char *reason, const struct sl_batch *b, uint32_t r)
{
	if (!w->dlq || w->in_dlq) {
		sl_worker_bad_input(w, ni, where, reason, NULL, 0);
		return;
	}
	/* The row as JSON is its raw form: enough to see and replay it. */
	struct sl_encoder enc;
	sl_encoder_init(&enc, SL_ENC_JSONL, b->schema, true, ',');
	static __thread char buf[DLQ_RAW_MAX];
	ssize_t n = sl_encode_row(&enc, b, r, buf, sizeof(buf));
	if (n > 0)
		n--; /* no newline */
	sl_worker_bad_input(w, ni, where, reason, n > 0 ? buf : NULL, n > 0 ? (size_t)n : 0);
}

void sl_worker_bad_input(struct sl_worker *w, struct sl_nodeinst *ni, const char *where,
			 const char *reason, const char *raw, size_t raw_len)
{
	sl_counter_add(&w->m->bad_records, 1);
	if (w->dlq && !w->in_dlq)
		dlq_add(w, ni, where, reason, raw, raw_len);
	uint64_t suppressed;
	if (!sl_ratelimit_ok(&ni->rl, &suppressed))
		return;
	char q1[512], q2[1024];
	sl_log(SL_LOG_WARN, (int)w->id, ni->node->name, "msg=\"bad record\" at=%s reason=%s%s",
	       sl_log_quote(where, strlen(where), q1, sizeof(q1)),
	       sl_log_quote(reason, strlen(reason), q2, sizeof(q2)),
	       suppressed ? " (more suppressed)" : "");
	if (suppressed)
		sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
		       "msg=\"bad records not logged\" suppressed=%llu",
		       (unsigned long long)suppressed);
}

void sl_worker_fail(struct sl_worker *w, struct sl_nodeinst *ni, int err, const char *fmt, ...)
{
	char msg[1400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char full[1536];
	snprintf(full, sizeof(full), "%s%s%s", ni ? ni->node->name : "", ni ? ": " : "", msg);
	if (!w->error)
		w->error = err ? err : -EIO;
	sl_engine_fail(w->eng, w->error, full);
}

bool sl_worker_stopping(const struct sl_worker *w)
{
	return atomic_load_explicit(&w->eng->stop, memory_order_relaxed);
}

/* ---- io_uring ---- */

struct io_uring_sqe *sl_worker_sqe(struct sl_worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->uring);
	if (!sqe) {
		io_uring_submit(&w->uring);
		sqe = io_uring_get_sqe(&w->uring);
	}
	SL_ASSERT(sqe);
	return sqe;
}

static uint32_t reap(struct sl_worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&w->uring, head, cqe)
	{
		struct sl_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		n++;
		/* Mark the CQE seen before the callback, which may submit. */
		io_uring_cq_advance(&w->uring, 1);
		if (io)
			io->done(w, io, res);
	}
	return n;
}

static void service_nodes(struct sl_worker *w)
{
	if (w->in_service)
		return;
	w->in_service = true;
	for (uint32_t i = 0; i < w->job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (ni->node->plugin->service && ni->state)
			ni->node->plugin->service(w, ni);
	}
	w->in_service = false;
}

static int wait_some(struct sl_worker *w, int64_t ns)
{
	struct io_uring_cqe *cqe = NULL;
	struct __kernel_timespec ts = {.tv_sec = ns / 1000000000ll, .tv_nsec = ns % 1000000000ll};
	int rc = io_uring_submit_and_wait_timeout(&w->uring, &cqe, 1, &ts, NULL);
	if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -ETIME)
		return rc;
	reap(w);
	service_nodes(w);
	return 0;
}

int sl_worker_wait_io(struct sl_worker *w)
{
	return wait_some(w, 100000000ll);
}

void sl_worker_pause(struct sl_worker *w, int64_t ms)
{
	int64_t until = sl_now_ns() + ms * 1000000;
	for (int64_t now = sl_now_ns(); now < until; now = sl_now_ns()) {
		if (atomic_load(&w->eng->exit_now) || atomic_load(&w->eng->failed))
			return;
		int64_t left = until - now;
		if (wait_some(w, left < 100000000ll ? left : 100000000ll) < 0)
			return;
	}
}

static void event_done(struct sl_worker *w, struct sl_io *io, int res)
{
	(void)io;
	(void)res;
	w->event_armed = false;
}

static void arm_event(struct sl_worker *w)
{
	if (w->event_armed)
		return;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_read(sqe, w->event_fd, &w->event_buf, sizeof(w->event_buf), 0);
	io_uring_sqe_set_data(sqe, &w->event_io);
	w->event_armed = true;
}

/* ---- checkpoint barriers ---- */

/*
 * Barrier n starts at this worker's sources, at a batch boundary: sources
 * then stay paused until every node on the worker passed n, so no row of
 * the next epoch can overtake it on a local path. A node passes n once
 * each of its inputs delivered it: it snapshots (flushing what it buffered
 * downstream first) and hands n on. An exchange hands n to every worker
 * through the rings, behind the rows it sent; its downstream passes n once
 * n arrived from every worker. Exactly-once aligns: after n arrived on a
 * ring, that ring is not read until the exchange has n from every worker.
 */

#define SNAP_MAGIC "SLSNAP01"

static void barrier_pass(struct sl_worker *w, struct sl_nodeinst *ni);

void sl_worker_snap_defer(struct sl_worker *w, struct sl_nodeinst *ni,
			  int (*fn)(void *ctx, struct sl_snapsink *out), void *ctx)
{
	SL_ASSERT(w->ckpt_active && w->n_defer < w->job->n_nodes);
	w->defer[w->n_defer++] = (struct sl_deferred){ni->node->id, fn, ctx};
}

static int serialize_table(void *table, struct sl_snapsink *out)
{
	return sl_table_serialize(table, out, NULL, NULL);
}

void sl_worker_snap_table(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_table *t,
			  struct sl_snapbuf *out)
{
	if (sl_table_freeze(t) == 0)
		sl_worker_snap_defer(w, ni, serialize_table, t);
	else
		sl_table_snapshot(t, out);
}

int sl_worker_restore_table(struct sl_worker *w, struct sl_table *t, const struct sl_blob *blobs,
			    uint32_t n)
{
	for (uint32_t k = 0; k < n; k++) {
		int rc = sl_table_restore(t, &blobs[k], w->job->max_parallelism, w->n_workers, w->id);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void sl_worker_ckpt_hold(struct sl_worker *w, struct sl_nodeinst *ni, const char *why)
{
	struct sl_engine *e = w->eng;
	atomic_store_explicit(&e->ckpt_hold_why, why, memory_order_relaxed);
	atomic_store_explicit(&e->ckpt_hold_node, ni->node, memory_order_relaxed);
	atomic_fetch_add_explicit(&e->ckpt_holds, 1, memory_order_seq_cst);
}

void sl_worker_ckpt_release(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)ni;
	uint32_t was = atomic_fetch_sub_explicit(&w->eng->ckpt_holds, 1, memory_order_seq_cst);
	SL_ASSERT(was > 0);
}

static void snap_node(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct sl_snapbuf *b = &w->snap;
	sl_snap_u32(b, ni->node->id);
	sl_snap_str(b, ni->node->name);
	size_t flags_at = b->len;
	sl_snap_u8(b, ni->ended);
	uint32_t deferred = w->n_defer;
	size_t len_at = b->len;
	sl_snap_u64(b, 0);
	size_t start = b->len;
	if (ni->node->plugin->snapshot) {
		int rc = ni->node->plugin->snapshot(w, ni, b);
		if (rc < 0)
			sl_worker_fail(w, ni, rc, "checkpoint %llu: snapshot failed: %s",
				       (unsigned long long)w->ckpt_id, strerror(-rc));
	}
	if (!b->err) {
		uint64_t n = b->len - start;
		memcpy(b->p + len_at, &n, 8);
		if (w->n_defer > deferred) /* its state is a file of its own */
			b->p[flags_at] |= 2;
	}
	w->bar_records++;
}

static void barrier_input(struct sl_worker *w, struct sl_nodeinst *d)
{
	if (++w->bar_in[d->node->id] == d->node->n_inputs) {
		w->bar_in[d->node->id] = 0;
		barrier_pass(w, d);
	}
}

static void barrier_arrived(struct sl_worker *w, const struct sl_node *x, uint32_t from)
{
	if (from != w->id && w->eng->ckpt_aligned)
		w->blocked_on[from] = x->id + 1;
	if (++w->bar_x[x->exchange] < w->n_workers)
		return;
	w->bar_x[x->exchange] = 0;
	for (uint32_t j = 0; j < w->n_workers; j++)
		if (w->blocked_on[j] == x->id + 1)
			w->blocked_on[j] = 0;
	struct sl_nodeinst *ni = &w->ni[x->id];
	for (uint32_t k = 0; k < ni->n_down; k++)
		barrier_input(w, ni->down[k]);
}

static void barrier_pass(struct sl_worker *w, struct sl_nodeinst *ni)
{
	snap_node(w, ni);
	w->bar_passed++;
	w->bar_passed_main += !ni->dlq_chain;
	const struct sl_node *n = ni->node;
	if (n->is_exchange) {
		struct sl_msg m = {.type = SL_MSG_BARRIER, .node = n->id, .id = w->ckpt_id};
		for (uint32_t d = 0; d < w->n_workers; d++)
			if (d != w->id)
				enqueue(w, d, &m);
		barrier_arrived(w, n, w->id);
		return;
	}
	for (uint32_t k = 0; k < ni->n_down; k++)
		barrier_input(w, ni->down[k]);
}

static void dlq_flush(struct sl_worker *w);

static void barrier_check(struct sl_worker *w)
{
	if (!w->ckpt_active)
		return;
	uint32_t n = w->job->n_nodes;
	if (w->dlq && !w->bar_dlq_done && w->bar_passed_main == n - w->dlq_chain) {
		w->bar_dlq_done = true;
		/* Every node that can produce dead letters passed: theirs go
		 * out before the barrier does. */
		dlq_flush(w);
		barrier_pass(w, w->dlq);
	}
	if (w->bar_passed < n)
		return;
	struct sl_snapbuf *b = &w->snap;
	if (!b->err) {
		memcpy(b->p + 24, &w->bar_records, 4);
	} else {
		sl_worker_fail(w, NULL, b->err, "checkpoint %llu: out of memory for the snapshot",
			       (unsigned long long)w->ckpt_id);
	}
	struct sl_engine *e = w->eng;
	e->ckpt_snap[w->id] = *b;
	sl_snap_init(b);
	memcpy(e->ckpt_defer[w->id], w->defer, w->n_defer * sizeof(*w->defer));
	e->ckpt_n_defer[w->id] = w->n_defer;
	int64_t stall = sl_now_ns() - w->ckpt_began_ns;
	__atomic_store_n(&w->m->barrier_ns_last, (uint64_t)stall, __ATOMIC_RELAXED);
	if ((uint64_t)stall > sl_counter_read(&w->m->barrier_ns_max))
		__atomic_store_n(&w->m->barrier_ns_max, (uint64_t)stall, __ATOMIC_RELAXED);
	w->ckpt_active = false;
	if (atomic_load_explicit(&e->ckpt_pause, memory_order_acquire))
		w->paused = true;
	atomic_fetch_add_explicit(&e->ckpt_acks, 1, memory_order_release);
	sl_ckpt_notify(e);
}

static void barrier_begin(struct sl_worker *w, uint64_t id)
{
	SL_ASSERT(!w->ckpt_active && id > w->ckpt_seen);
	w->ckpt_seen = id;
	w->ckpt_id = id;
	w->ckpt_active = true;
	w->ckpt_began_ns = sl_now_ns();
	w->bar_passed = 0;
	w->bar_passed_main = 0;
	w->bar_dlq_done = false;
	w->bar_records = 0;
	w->n_defer = 0;
	struct sl_snapbuf *b = &w->snap;
	b->len = 0;
	sl_snap_put(b, SNAP_MAGIC, 8);
	sl_snap_u32(b, w->id);
	sl_snap_u32(b, w->n_workers);
	sl_snap_u64(b, id);
	sl_snap_u32(b, 0); /* records, at offset 24: filled in at the end */
	for (uint32_t i = 0; i < w->job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (ni->node->kind == SL_NODE_SOURCE && !ni->node->is_dead_letter)
			barrier_pass(w, ni);
	}
	barrier_check(w);
}

/* Loop top: a snapshot written, a commit, a new barrier, an exit — in that
 * order, so a node thaws from checkpoint n before it freezes for n+1. */
static void written_check(struct sl_worker *w)
{
	uint64_t wr = atomic_load_explicit(&w->eng->ckpt_written, memory_order_acquire);
	if (wr > w->written_seen) {
		w->written_seen = wr;
		for (uint32_t i = 0; i < w->job->n_nodes; i++)
			if (w->ni[i].node->plugin->snapshot_written)
				w->ni[i].node->plugin->snapshot_written(w, &w->ni[i], wr);
	}
}

/* What the coordinator finished before it triggered the next barrier. */
static void ckpt_notices(struct sl_worker *w)
{
	written_check(w);
	uint64_t c = atomic_load_explicit(&w->eng->ckpt_committed, memory_order_acquire);
	if (c > w->committed_seen) {
		w->committed_seen = c;
		for (uint32_t i = 0; i < w->job->n_nodes; i++)
			if (w->ni[i].node->plugin->committed)
				w->ni[i].node->plugin->committed(w, &w->ni[i], c);
	}
}

static void ckpt_poll(struct sl_worker *w)
{
	struct sl_engine *e = w->eng;
	ckpt_notices(w);
	uint64_t req = atomic_load_explicit(&e->ckpt_req, memory_order_acquire);
	if (req > w->ckpt_seen && !w->ckpt_active)
		barrier_begin(w, req);
	/* Set after the final commit, or when the job failed (a barrier in
	 * progress is then abandoned: it never completes). */
	if (atomic_load_explicit(&e->exit_now, memory_order_acquire))
		w->done = true;
}

static bool ckpt_news(struct sl_worker *w)
{
	struct sl_engine *e = w->eng;
	return e->ckpt_on &&
	       (atomic_load_explicit(&e->ckpt_req, memory_order_relaxed) > w->ckpt_seen ||
		atomic_load_explicit(&e->ckpt_committed, memory_order_relaxed) > w->committed_seen ||
		atomic_load_explicit(&e->ckpt_written, memory_order_relaxed) > w->written_seen ||
		atomic_load_explicit(&e->exit_now, memory_order_relaxed));
}

/* ---- the loop ---- */

static uint32_t drain_returns(struct sl_worker *w)
{
	uint32_t n = 0;
	struct sl_msg m[WORKER_POP_BURST];
	for (uint32_t j = 0; j < w->n_workers; j++) {
		if (j == w->id)
			continue;
		uint32_t k;
		while ((k = sl_ring_pop_n(sl_engine_ret(w->eng, j, w->id), m, WORKER_POP_BURST))) {
			for (uint32_t i = 0; i < k; i++) {
				SL_ASSERT(m[i].type == SL_MSG_FREE && m[i].batch->owner == w->id);
				sl_pool_put(&w->pool, m[i].batch);
				SL_ASSERT(w->credit[j] > 0);
				w->credit[j]--;
			}
			n += k;
		}
	}
	return n;
}

static void give_back(struct sl_worker *w, struct sl_batch *b)
{
	struct sl_msg m = {.type = SL_MSG_FREE, .node = 0, .batch = b};
	/* Credit bounds the batches in flight to us, so there is always room. */
	bool ok = sl_ring_push(sl_engine_ret(w->eng, w->id, b->owner), &m);
	SL_ASSERT(ok);
	sl_worker_kick(&w->eng->workers[b->owner]);
}

static uint32_t drain_inbound(struct sl_worker *w)
{
	uint32_t n = 0;
	struct sl_msg m;
	for (uint32_t j = 0; j < w->n_workers; j++) {
		if (j == w->id)
			continue;
		/* One message at a time: a barrier may block the ring behind it. */
		for (uint32_t k = 0; k < WORKER_POP_BURST && !w->blocked_on[j]; k++) {
			if (!sl_ring_pop_n(sl_engine_ring(w->eng, j, w->id), &m, 1))
				break;
			n++;
			const struct sl_node *x = w->job->nodes[m.node];
			SL_ASSERT(x->is_exchange);
			if (m.type == SL_MSG_DATA) {
				sl_emit(w, &w->ni[x->id], m.batch);
				give_back(w, m.batch);
			} else if (m.type == SL_MSG_EOS) {
				exchange_eos(w, x);
			} else {
				SL_ASSERT(m.type == SL_MSG_BARRIER);
				/* A barrier may come before the coordinator's word. */
				if (m.id > w->ckpt_seen && !w->ckpt_active) {
					ckpt_notices(w);
					barrier_begin(w, m.id);
				}
				SL_ASSERT(m.id == w->ckpt_id);
				barrier_arrived(w, x, j);
				barrier_check(w);
			}
		}
	}
	return n;
}

static bool inbound_pending(struct sl_worker *w)
{
	for (uint32_t j = 0; j < w->n_workers; j++) {
		if (j == w->id)
			continue;
		if ((!w->blocked_on[j] && sl_ring_nonempty(sl_engine_ring(w->eng, j, w->id))) ||
		    sl_ring_nonempty(sl_engine_ret(w->eng, j, w->id)))
			return true;
	}
	return false;
}

/* state.memory_budget: over its share, a worker's sources pause (back-
 * pressure); they go on once state is back under 90 % of it. */
static void check_budget(struct sl_worker *w)
{
	uint64_t bytes = 0;
	for (uint32_t i = 0; i < w->job->n_nodes; i++)
		bytes += __atomic_load_n(&w->ni[i].state_bytes, __ATOMIC_RELAXED);
	__atomic_store_n(&w->m->state_bytes, bytes, __ATOMIC_RELAXED);
	if (!w->over_budget && bytes > w->state_budget) {
		w->over_budget = true;
		sl_log(SL_LOG_WARN, (int)w->id, NULL,
		       "msg=\"keyed state over its memory budget: sources paused\" "
		       "state_bytes=%llu budget_bytes=%llu",
		       (unsigned long long)bytes, (unsigned long long)w->state_budget);
	} else if (w->over_budget && bytes < w->state_budget / 10 * 9) {
		w->over_budget = false;
		sl_log(SL_LOG_INFO, (int)w->id, NULL,
		       "msg=\"keyed state back under its memory budget: sources resume\" "
		       "state_bytes=%llu",
		       (unsigned long long)bytes);
	}
	if (w->over_budget)
		sl_worker_wake_at(w, w->now_ns + 10000000); /* look again in 10 ms */
}

static uint32_t poll_sources(struct sl_worker *w)
{
	uint32_t work = 0;
	bool stopping = sl_worker_stopping(w);
	for (uint32_t i = 0; i < w->job->n_nodes && w->live_sources; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (ni->node->kind != SL_NODE_SOURCE || ni->ended || ni->node->is_dead_letter)
			continue;
		if (stopping) {
			node_inputs_done(w, ni);
			work++;
			continue;
		}
		int rc = ni->node->plugin->poll(w, ni);
		if (rc == SL_POLL_MORE) {
			work++;
		} else if (rc == SL_POLL_EOF) {
			node_inputs_done(w, ni);
			work++;
		} else if (rc < 0) {
			sl_worker_fail(w, ni, rc, "source failed: %s", strerror(-rc));
			node_inputs_done(w, ni);
		}
	}
	return work;
}

#define DLQ_FLUSH_NS 10000000ll

static void tick(struct sl_worker *w)
{
	if (w->dlq_batch) {
		if (w->now_ns - w->dlq_since_ns >= DLQ_FLUSH_NS)
			dlq_flush(w);
		else
			sl_worker_wake_at(w, w->dlq_since_ns + DLQ_FLUSH_NS);
	}
	for (uint32_t i = 0; i < w->job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (ni->node->plugin->tick && !ni->ended)
			ni->node->plugin->tick(w, ni, w->now_ns);
	}
}

static void worker_sleep(struct sl_worker *w)
{
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	/* Pairs with the fence in sl_worker_kick. */
	atomic_thread_fence(memory_order_seq_cst);
	bool stop_news = sl_worker_stopping(w) && !w->stopping_seen;
	if (inbound_pending(w) || stop_news || io_uring_cq_ready(&w->uring) || ckpt_news(w)) {
		atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
		return;
	}
	arm_event(w);
	int64_t start = sl_now_ns();
	struct io_uring_cqe *cqe = NULL;
	if (w->wake_at_ns != INT64_MAX) {
		int64_t d = w->wake_at_ns - start;
		if (d < 0)
			d = 0;
		struct __kernel_timespec ts = {.tv_sec = d / 1000000000ll,
					       .tv_nsec = d % 1000000000ll};
		io_uring_submit_and_wait_timeout(&w->uring, &cqe, 1, &ts, NULL);
	} else {
		io_uring_submit_and_wait(&w->uring, 1);
	}
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
	/* Busy time excludes sleeping. */
	w->now_ns = sl_now_ns();
	(void)start;
}

void sl_worker_run(struct sl_worker *w)
{
	int64_t busy_from = sl_now_ns();
	while (!w->done) {
		w->now_ns = sl_now_ns();
		/* Nodes ask again every turn for the timers they still need. */
		w->wake_at_ns = INT64_MAX;
		uint32_t work = 0;
		if (w->eng->ckpt_on) {
			ckpt_poll(w);
			if (w->done)
				break;
		}
		work += drain_returns(w);
		if (w->n_out_waiting)
			work += flush_out(w);
		work += drain_inbound(w);
		if (w->state_budget)
			check_budget(w);
		if (w->live_sources && !w->ckpt_active && !w->paused) {
			bool blocked = w->n_out_waiting || sl_pool_low(&w->pool) || w->over_budget ||
				       w->holds;
			bool stopping = sl_worker_stopping(w);
			if (!blocked || stopping) {
				if (w->blocked_since_ns) {
					sl_counter_add(&w->m->blocked_ns,
						       (uint64_t)(w->now_ns - w->blocked_since_ns));
					w->blocked_since_ns = 0;
				}
				work += poll_sources(w);
			} else if (!w->blocked_since_ns) {
				w->blocked_since_ns = w->now_ns;
			}
		}
		if (io_uring_cq_ready(&w->uring))
			work += reap(w);
		tick(w);
		if (sl_worker_stopping(w))
			w->stopping_seen = true;
		if (w->dlq && !w->dlq->ended && w->live_nodes == w->dlq_chain &&
		    w->n_out_waiting == 0) {
			/* Everything that could fail has ended: close the dead letters. */
			dlq_flush(w);
			node_inputs_done(w, w->dlq);
			continue;
		}
		if (w->live_nodes == 0 && w->n_out_waiting == 0 && w->inflight_io == 0) {
			if (!w->eng->ckpt_on) {
				w->done = true;
				break;
			}
			/* Checkpointing: the final checkpoint commits what the
			 * sinks wrote; the coordinator says when to leave. */
			if (!w->finished) {
				w->finished = true;
				atomic_fetch_add_explicit(&w->eng->n_finished, 1,
							  memory_order_release);
				sl_ckpt_notify(w->eng);
			}
		}
		if (!work) {
			/* Nothing moved: submit what nodes queued, then sleep. */
			io_uring_submit(&w->uring);
			sl_counter_add(&w->m->busy_ns, (uint64_t)(sl_now_ns() - busy_from));
			worker_sleep(w);
			busy_from = sl_now_ns();
		}
	}
	io_uring_submit(&w->uring);
	sl_counter_add(&w->m->busy_ns, (uint64_t)(sl_now_ns() - busy_from));
}

/* ---- set-up ---- */

/* A node that had ended everywhere when the restored checkpoint was taken
 * is ended again without finishing twice (a final aggregate emitted its rows
 * then, and they are in the checkpoint's output). */
static void pre_end(struct sl_worker *w, struct sl_nodeinst *ni)
{
	ni->ended = true;
	w->live_nodes--;
	if (ni->node->kind == SL_NODE_SOURCE && !ni->node->is_dead_letter)
		w->live_sources--;
	if (ni->node->is_exchange)
		w->eos_seen[ni->node->exchange] = w->n_workers;
	for (uint32_t k = 0; k < ni->n_down; k++)
		ni->down[k]->inputs_ended++;
}

static int restore_nodes(struct sl_worker *w)
{
	const struct sl_restore *rs = w->eng->restore;
	struct sl_job *job = w->job;
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (!ni->node->plugin->restore)
			continue;
		int rc = ni->node->plugin->restore(w, ni, &rs->blobs[(size_t)i * rs->n_old], rs->n_old);
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "restoring from %s failed: %s", rs->path,
				       strerror(-rc));
			return rc;
		}
	}
	for (uint32_t i = 0; i < job->n_nodes; i++)
		if (rs->ended[i])
			pre_end(w, &w->ni[i]);
	/* Anything whose inputs all ended but which had not: finish it now. */
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (!ni->ended && ni->node->n_inputs && ni->inputs_ended == ni->node->n_inputs)
			node_inputs_done(w, ni);
	}
	return 0;
}

int sl_worker_init(struct sl_worker *w)
{
	struct sl_job *job = w->job;
	int rc;
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		/* Best effort: a cpuset may forbid it; the mask already limits us. */
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	rc = io_uring_queue_init_params(WORKER_URING_ENTRIES, &w->uring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(WORKER_URING_ENTRIES, &w->uring, &p);
	}
	if (rc < 0)
		return rc;
	w->uring_ready = true;
	w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->event_fd < 0)
		return -errno;
	w->event_io.done = event_done;
	atomic_init(&w->sleeping, 0);
	uint32_t budget = SL_POOL_BATCHES_MIN + 2 * w->n_workers * SL_RING_SLOTS;
	rc = sl_pool_init(&w->pool, (uint16_t)w->id, job->max_cols, budget, 16 + 2 * w->n_workers);
	if (rc < 0)
		return rc;
	w->scratch = sl_expr_scratch_new(WORKER_SCRATCH_BYTES);
	w->credit = mi_zalloc(w->n_workers * sizeof(*w->credit));
	w->out = mi_zalloc(w->n_workers * sizeof(*w->out));
	w->eos_seen = mi_zalloc((job->n_exchanges + 1) * sizeof(*w->eos_seen));
	w->ni = mi_zalloc(job->n_nodes * sizeof(*w->ni));
	if (!w->scratch || !w->credit || !w->out || !w->eos_seen || !w->ni)
		return -ENOMEM;
	w->wake_at_ns = INT64_MAX;
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		const struct sl_node *n = job->nodes[i];
		ni->node = n;
		ni->n_down = n->n_outputs;
		ni->down = mi_zalloc((n->n_outputs + 1) * sizeof(*ni->down));
		ni->down_port = mi_zalloc(n->n_outputs + 1);
		if (!ni->down || !ni->down_port)
			return -ENOMEM;
		for (uint32_t k = 0; k < n->n_outputs; k++) {
			ni->down[k] = &w->ni[n->outputs[k]];
			ni->down_port[k] = n->out_port[k];
		}
		if (n->kind == SL_NODE_SOURCE && !n->is_dead_letter)
			w->live_sources++;
		if (n->is_dead_letter)
			w->dlq = ni;
		w->live_nodes++;
	}
	if (w->dlq) {
		/* Count the dead-letter source and every node it feeds. */
		bool *mark = mi_zalloc(job->n_nodes);
		if (!mark)
			return -ENOMEM;
		mark[w->dlq->node->id] = true;
		for (uint32_t i = w->dlq->node->id; i < job->n_nodes; i++) /* topological */
			for (uint32_t q = 0; q < job->nodes[i]->n_inputs; q++)
				if (mark[job->nodes[i]->inputs[q]])
					mark[i] = true;
		for (uint32_t i = 0; i < job->n_nodes; i++) {
			w->dlq_chain += mark[i];
			w->ni[i].dlq_chain = mark[i];
		}
		mi_free(mark);
	}
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		struct sl_nodeinst *ni = &w->ni[i];
		if (ni->node->plugin->open) {
			rc = ni->node->plugin->open(w, ni);
			if (rc < 0) {
				sl_worker_fail(w, ni, rc, "could not start: %s", strerror(-rc));
				return rc;
			}
		}
	}
	if (job->state && job->state->memory_budget > 0)
		w->state_budget = (uint64_t)job->state->memory_budget / w->n_workers;
	/* Barrier bookkeeping (read by the loop with or without checkpoints). */
	w->bar_in = mi_zalloc(job->n_nodes * sizeof(*w->bar_in));
	w->bar_x = mi_zalloc((job->n_exchanges + 1) * sizeof(*w->bar_x));
	w->blocked_on = mi_zalloc(w->n_workers * sizeof(*w->blocked_on));
	w->defer = mi_zalloc((job->n_nodes + 1) * sizeof(*w->defer));
	if (!w->bar_in || !w->bar_x || !w->blocked_on || !w->defer)
		return -ENOMEM;
	if (w->eng->restore)
		return restore_nodes(w);
	return 0;
}

void sl_worker_fini(struct sl_worker *w)
{
	if (w->ni) {
		for (uint32_t i = 0; i < w->job->n_nodes; i++) {
			struct sl_nodeinst *ni = &w->ni[i];
			if (ni->node && ni->node->plugin->close)
				ni->node->plugin->close(w, ni);
			mi_free(ni->down);
			mi_free(ni->down_port);
		}
		mi_free(w->ni);
	}
	if (w->out) {
		for (uint32_t d = 0; d < w->n_workers; d++)
			mi_free(w->out[d].m);
		mi_free(w->out);
	}
	mi_free(w->credit);
	mi_free(w->eos_seen);
	mi_free(w->bar_in);
	mi_free(w->bar_x);
	mi_free(w->blocked_on);
	mi_free(w->defer);
	w->defer = NULL;
	sl_snap_free(&w->snap);
	w->bar_in = w->bar_x = w->blocked_on = NULL;
	if (w->scratch)
		sl_expr_scratch_free(w->scratch);
	if (w->event_fd > 0)
		close(w->event_fd);
	if (w->uring_ready)
		io_uring_queue_exit(&w->uring);
	w->ni = NULL;
	w->out = NULL;
	w->credit = NULL;
	w->eos_seen = NULL;
	w->scratch = NULL;
	w->uring_ready = false;
}
