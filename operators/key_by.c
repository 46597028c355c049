/* key_by: routes each row to the worker owning its key group, in batches. */
#include <mimalloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "core/keygroup.h"
#include "core/worker.h"
#include "operators/key_by.h"

static const struct sl_option key_by_options[] = {
	{.name = "key", .type = SL_OPT_STRING_LIST, .required = true,
	 .offset = offsetof(struct sl_key_by_conf, key),
	 .help = "key columns: rows with equal keys go to the same worker"},
	{0},
};

struct key_by_shared {
	uint32_t n_keys;
	uint32_t cols[SL_MAX_KEYS];
	uint32_t max_parallelism;
};

struct key_by_state {
	struct sl_batch **pending;  /* [n_workers]: partial batch per destination */
	int64_t *pending_since_ns; /* when its first row arrived */
	uint32_t n_pending;
};

static int key_by_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct sl_key_by_conf *c = n->conf;
	sl_node_inherit(job, n);
	struct sl_pos pos = sl_node_pos_of(n, "key");
	if (c->key.n == 0 || c->key.n > SL_MAX_KEYS)
		return sl_diag_error(d, pos, "step '%s': key: 1 to %u columns", n->name, SL_MAX_KEYS);
	struct key_by_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->n_keys = c->key.n;
	s->max_parallelism = job->max_parallelism;
	char what[SL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "step '%s': key", n->name);
	if (sl_node_resolve_cols(&n->schema, &c->key, n, "key", what, s->cols, d) < 0)
		return -EINVAL;
	n->is_exchange = true;
	sl_node_set_part(n, &c->key);
	return 0;
}

static int key_by_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct key_by_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->pending = mi_zalloc(w->n_workers * sizeof(*st->pending));
	st->pending_since_ns = mi_zalloc(w->n_workers * sizeof(*st->pending_since_ns));
	ni->state = st;
	return st->pending && st->pending_since_ns ? 0 : -ENOMEM;
}

static void key_by_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct key_by_state *st = ni->state;
	if (!st)
		return;
	mi_free(st->pending);
	mi_free(st->pending_since_ns);
	mi_free(st);
	ni->state = NULL;
}

static int flush_dest(struct sl_worker *w, struct sl_nodeinst *ni, uint32_t dest)
{
	struct key_by_state *st = ni->state;
	struct sl_batch *b = st->pending[dest];
	int rc = 0;
	st->pending[dest] = NULL;
	st->n_pending--;
	if (dest == w->id) {
		rc = sl_emit(w, ni, b);
		sl_worker_put(w, b);
	} else {
		sl_worker_send(w, ni->node, dest, b);
	}
	return rc;
}

static int key_by_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct key_by_shared *s = ni->node->shared;
	struct key_by_state *st = ni->state;
	uint8_t key[SL_KEY_MAX_BYTES];
	uint32_t hash_src = ni->node->id + 1;
	/* One worker: every key group is ours, the batch goes straight on,
	 * with its key hashes for the keyed step after us. */
	if (w->n_workers == 1) {
		for (uint32_t r = 0; r < in->n_rows; r++) {
			int len = sl_key_encode(in, r, s->cols, s->n_keys, key, sizeof(key));
			in->key_hash[r] = len < 0 ? 0 : sl_key_hash(key, (size_t)len);
		}
		in->hash_src = hash_src;
		return sl_emit(w, ni, in);
	}
	int rc = 0;
	/* Hash every row, then move the rows of each destination together,
	 * column by column (sl_batch_append_rows). */
	uint16_t dest[SL_BATCH_ROWS];
	uint16_t order[SL_BATCH_ROWS];
	uint32_t count[SL_MAX_WORKERS + 1] = {0};
	for (uint32_t r = 0; r < in->n_rows; r++) {
		int len = sl_key_encode(in, r, s->cols, s->n_keys, key, sizeof(key));
		if (len < 0) {
			sl_worker_bad_row(w, ni, "key", "key longer than 4096 bytes", in, r);
			dest[r] = UINT16_MAX;
			continue;
		}
		uint64_t hash = sl_key_hash(key, (size_t)len);
		in->key_hash[r] = hash;
		uint32_t kg = sl_keygroup_of(hash, s->max_parallelism);
		dest[r] = (uint16_t)sl_keygroup_worker(kg, s->max_parallelism, w->n_workers);
		count[dest[r] + 1]++;
	}
	for (uint32_t d = 0; d < w->n_workers; d++) /* counting sort: starts */
		count[d + 1] += count[d];
	uint32_t start[SL_MAX_WORKERS + 1];
	memcpy(start, count, sizeof(uint32_t) * (w->n_workers + 1));
	for (uint32_t r = 0; r < in->n_rows; r++)
		if (dest[r] != UINT16_MAX)
			order[count[dest[r]]++] = (uint16_t)r;
	for (uint32_t d = 0; d < w->n_workers; d++) {
		uint32_t i = start[d], end = start[d + 1];
		while (i < end) {
			struct sl_batch *b = st->pending[d];
			if (!b) {
				b = st->pending[d] = sl_worker_batch(w, in->schema);
				b->hash_src = hash_src;
				st->pending_since_ns[d] = w->now_ns;
				st->n_pending++;
			}
			uint32_t k = sl_batch_append_rows(b, in, order + i, end - i);
			i += k;
			/* Full (or no room for the next row's strings): send it. */
			if (i < end || sl_batch_full(b)) {
				SL_ASSERT(k > 0 || b->n_rows > 0);
				rc = flush_dest(w, ni, d);
			}
		}
	}
	if (st->n_pending)
		sl_worker_wake_at(w, w->now_ns + SL_FLUSH_TICK_NS);
	return rc;
}

static void key_by_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	struct key_by_state *st = ni->state;
	int64_t oldest = INT64_MAX;
	for (uint32_t d = 0; d < w->n_workers && st->n_pending; d++) {
		if (!st->pending[d])
			continue;
		if (now_ns - st->pending_since_ns[d] >= SL_FLUSH_TICK_NS)
			flush_dest(w, ni, d);
		else if (st->pending_since_ns[d] < oldest)
			oldest = st->pending_since_ns[d];
	}
	if (oldest != INT64_MAX)
		sl_worker_wake_at(w, oldest + SL_FLUSH_TICK_NS);
}

static int key_by_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct key_by_state *st = ni->state;
	int rc = 0;
	for (uint32_t d = 0; d < w->n_workers; d++)
		if (st->pending[d])
			rc = flush_dest(w, ni, d);
	sl_worker_send_eos(w, ni->node);
	return rc;
}

/* At a barrier: rows buffered for other workers go before it. */
static int key_by_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	(void)out;
	struct key_by_state *st = ni->state;
	int rc = 0;
	for (uint32_t d = 0; d < w->n_workers && st->n_pending; d++)
		if (st->pending[d] && (rc = flush_dest(w, ni, d)) < 0)
			break;
	return rc;
}

static uint64_t key_by_uses(const struct sl_node *n, uint32_t input, uint64_t out_used)
{
	(void)input;
	const struct key_by_shared *s = n->shared;
	for (uint32_t k = 0; s && k < s->n_keys; k++)
		out_used |= 1ull << s->cols[k];
	return out_used;
}

const struct sl_plugin sl_plugin_key_by = {
	.uses = key_by_uses,
	.name = "key_by",
	.kind = SL_NODE_STEP,
	.summary = "send rows to the worker owning their key group (hash exchange)",
	.options = key_by_options,
	.conf_bytes = sizeof(struct sl_key_by_conf),
	.prepare = key_by_prepare,
	.open = key_by_open,
	.close = key_by_close,
	.process = key_by_process,
	.tick = key_by_tick,
	.finish = key_by_finish,
	.snapshot = key_by_snapshot,
};
