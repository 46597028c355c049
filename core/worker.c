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
#include "core/engine.h"
#include "core/expr.h"

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

int sl_worker_wait_io(struct sl_worker *w)
{
	struct io_uring_cqe *cqe;
	int rc = io_uring_submit_and_wait(&w->uring, 1);
	if (rc < 0 && rc != -EINTR && rc != -EBUSY)
		return rc;
	rc = io_uring_peek_cqe(&w->uring, &cqe);
	(void)cqe;
	reap(w);
	return 0;
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
	struct sl_msg m[WORKER_POP_BURST];
	for (uint32_t j = 0; j < w->n_workers; j++) {
		if (j == w->id)
			continue;
		uint32_t k = sl_ring_pop_n(sl_engine_ring(w->eng, j, w->id), m, WORKER_POP_BURST);
		for (uint32_t i = 0; i < k; i++) {
			const struct sl_node *x = w->job->nodes[m[i].node];
			SL_ASSERT(x->is_exchange);
			if (m[i].type == SL_MSG_DATA) {
				sl_emit(w, &w->ni[x->id], m[i].batch);
				give_back(w, m[i].batch);
			} else {
				SL_ASSERT(m[i].type == SL_MSG_EOS);
				exchange_eos(w, x);
			}
		}
		n += k;
	}
	return n;
}

static bool inbound_pending(struct sl_worker *w)
{
	for (uint32_t j = 0; j < w->n_workers; j++) {
		if (j == w->id)
			continue;
		if (sl_ring_nonempty(sl_engine_ring(w->eng, j, w->id)) ||
		    sl_ring_nonempty(sl_engine_ret(w->eng, j, w->id)))
			return true;
	}
	return false;
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
	if (inbound_pending(w) || stop_news || io_uring_cq_ready(&w->uring)) {
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
		work += drain_returns(w);
		if (w->n_out_waiting)
			work += flush_out(w);
		work += drain_inbound(w);
		if (w->live_sources) {
			bool blocked = w->n_out_waiting || sl_pool_low(&w->pool);
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
			w->done = true;
			break;
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
