/* Source `generator`: the customer-cdc changelog, split over workers, optionally rate-limited. */
#include <math.h>
#include <mimalloc.h>
#include <string.h>

#include "connectors/generator/customer.h"
#include "core/job.h"
#include "core/worker.h"
#include "state/snap.h"

struct gen_conf {
	int profile;
	int64_t records; /* -1: unbounded */
	int64_t keys;
	int64_t seed;
	double bad_ratio;
	double rate; /* records/s over the whole job; -1: as fast as possible */
};

static const char *const profiles[] = {"customer-cdc", NULL};

static const struct sl_option gen_options[] = {
	{.name = "profile", .type = SL_OPT_ENUM, .def = "customer-cdc", .choices = profiles,
	 .offset = offsetof(struct gen_conf, profile),
	 .help = "customer-cdc: change events of the customer_archive table"},
	{.name = "records", .type = SL_OPT_INT, .def = "-1", .min = -1, .max = INT64_MAX,
	 .offset = offsetof(struct gen_conf, records),
	 .help = "change events in all (-1: unbounded); the job ends when they are done"},
	{.name = "keys", .type = SL_OPT_INT, .def = "100000", .min = 1, .max = 1000000000,
	 .offset = offsetof(struct gen_conf, keys), .help = "distinct customer_id values"},
	{.name = "seed", .type = SL_OPT_INT, .def = "1", .min = 0, .max = INT64_MAX,
	 .offset = offsetof(struct gen_conf, seed), .help = "same seed, same events"},
	{.name = "bad_ratio", .type = SL_OPT_DOUBLE, .def = "0",
	 .offset = offsetof(struct gen_conf, bad_ratio),
	 .help = "share (0..1) of images with a deliberately bad value"},
	{.name = "rate", .type = SL_OPT_DOUBLE, .def = "-1",
	 .offset = offsetof(struct gen_conf, rate),
	 .help = "events per second over the whole job, open loop (-1: unlimited; 0: none)"},
	{0},
};

/* A rate-limited generator wakes at most once per tick and emits every event
 * due by then: one wake-up per event would cost more than the event. The
 * ingest time stays each event's own due time, so the wait shows as latency. */
#define GEN_TICK_NS 1000000ll

/* Only the columns someone downstream reads are filled (node->out_used). */
#define USED(u, c) (((u) >> (c)) & 1u)

enum { COL_ID, COL_NAME, COL_ADDRESS, COL_PHONE, COL_ID_NUMBER, COL_UPDATED };

struct gen_state {
	struct sl_customer_params params;
	uint32_t n_splits;
	struct sl_customer_split **splits; /* this worker's */
	uint32_t next;                     /* round-robin position */
	uint64_t produced;                 /* events */
	uint64_t total;                    /* events this worker will produce */
	double rate;                       /* this worker's events per second */
	int64_t start_ns;
	struct sl_customer_event ev;
	bool have_ev; /* ev did not fit the last batch */
	uint32_t ev_split;  /* index in splits of ev's split */
	uint32_t *split_id; /* global split number of each of this worker's */
	uint64_t *emitted;  /* events of each split emitted (checkpoints) */
	uint32_t fields;
};

static int gen_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	(void)job;
	const struct gen_conf *c = n->conf;
	if (c->bad_ratio < 0 || c->bad_ratio > 1)
		return sl_diag_error(d, sl_node_pos_of(n, "bad_ratio"),
				     "source '%s': bad_ratio must be between 0 and 1", n->name);
	if (c->rate < 0 && c->rate != -1)
		return sl_diag_error(d, sl_node_pos_of(n, "rate"),
				     "source '%s': rate must be >= 0 (or -1 for unlimited)", n->name);
	struct sl_schema *s = &n->schema;
	memset(s, 0, sizeof(*s));
	sl_schema_add(s, "customer_id", SL_T_BIGINT, true);
	sl_schema_add(s, "name", SL_T_STRING, false);
	sl_schema_add(s, "address", SL_T_STRING, false);
	sl_schema_add(s, "phone", SL_T_STRING, false);
	sl_schema_add(s, "id_number", SL_T_STRING, false);
	sl_schema_add(s, "updated_time", SL_T_TIMESTAMP, false);
	n->changelog = true;
	n->n_part = 0;
	return 0;
}

static int gen_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct gen_conf *c = ni->node->conf;
	struct gen_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->params.keys = (uint64_t)c->keys;
	st->params.seed = (uint64_t)c->seed;
	st->params.bad_ratio = c->bad_ratio;
	uint32_t n_splits = sl_customer_n_splits(&st->params);
	st->params.records =
		c->records >= 0 ? (uint64_t)c->records : (uint64_t)n_splits * (UINT32_MAX - 1ull);
	st->splits = mi_zalloc((n_splits / w->n_workers + 1) * sizeof(*st->splits));
	st->split_id = mi_zalloc((n_splits / w->n_workers + 1) * sizeof(*st->split_id));
	st->emitted = mi_zalloc((n_splits / w->n_workers + 1) * sizeof(*st->emitted));
	if (!st->splits || !st->split_id || !st->emitted)
		return -ENOMEM;
	/* Build only the strings someone downstream reads (column pruning). */
	uint64_t used = ni->node->out_used;
	uint32_t fields = (USED(used, COL_NAME) ? SL_CUSTOMER_F_NAME : 0) |
			  (USED(used, COL_ADDRESS) ? SL_CUSTOMER_F_ADDRESS : 0) |
			  (USED(used, COL_PHONE) ? SL_CUSTOMER_F_PHONE : 0) |
			  (USED(used, COL_ID_NUMBER) ? SL_CUSTOMER_F_ID_NUMBER : 0);
	for (uint32_t s = w->id; s < n_splits; s += w->n_workers) {
		int rc = sl_customer_split_init(&st->splits[st->n_splits], &st->params, s);
		if (rc < 0)
			return rc;
		sl_customer_split_set_fields(st->splits[st->n_splits], fields);
		st->split_id[st->n_splits] = s;
		st->total += sl_customer_split_records(st->splits[st->n_splits]);
		st->n_splits++;
	}
	st->fields = fields;
	st->rate = c->rate < 0 ? -1
				: c->rate * (double)st->total / (double)st->params.records;
	if (c->records >= 0)
		sl_counter_add(&w->m->progress_total, st->total);
	return 0;
}

static void gen_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct gen_state *st = ni->state;
	if (!st)
		return;
	for (uint32_t i = 0; i < st->n_splits; i++)
		sl_customer_split_free(st->splits[i]);
	mi_free(st->splits);
	mi_free(st->split_id);
	mi_free(st->emitted);
	mi_free(st);
	ni->state = NULL;
}

static bool next_event(struct gen_state *st)
{
	for (uint32_t tries = 0; tries < st->n_splits; tries++) {
		struct sl_customer_split *sp = st->splits[st->next];
		st->ev_split = st->next;
		st->next = (st->next + 1) % st->n_splits;
		if (sl_customer_split_next(sp, &st->ev))
			return true;
	}
	return false;
}

static bool put_image(struct sl_batch *b, uint8_t kind, const struct sl_customer_row *img,
		      int64_t ingest_ns, int64_t event_ms, uint64_t used)
{
	uint32_t need = img->name_len + img->address_len + img->phone_len + img->id_number_len;
	if (sl_batch_full(b) || need > sl_batch_heap_free(b))
		return false;
	uint32_t r = sl_batch_begin_row(b, kind, ingest_ns, event_ms);
	if (USED(used, COL_ID))
		sl_batch_set_i(b, COL_ID, r, img->customer_id);
	if (!img->name_null && USED(used, COL_NAME))
		sl_batch_set_str(b, COL_NAME, r, img->name, img->name_len);
	if (!img->address_null && USED(used, COL_ADDRESS))
		sl_batch_set_str(b, COL_ADDRESS, r, img->address, img->address_len);
	if (!img->phone_null && USED(used, COL_PHONE))
		sl_batch_set_str(b, COL_PHONE, r, img->phone, img->phone_len);
	if (!img->id_number_null && USED(used, COL_ID_NUMBER))
		sl_batch_set_str(b, COL_ID_NUMBER, r, img->id_number, img->id_number_len);
	if (USED(used, COL_UPDATED))
		sl_batch_set_i(b, COL_UPDATED, r, img->updated_time_ms);
	sl_batch_commit_row(b);
	return true;
}

/* Appends the rows of st->ev; false (batch unchanged) if they do not fit. */
static bool put_event(struct sl_batch *b, const struct sl_customer_event *ev, int64_t ingest_ns,
		      uint64_t used)
{
	uint32_t rows = ev->op == 'u' ? 2 : 1;
	if (b->n_rows + rows > SL_BATCH_ROWS)
		return false;
	uint32_t n0 = b->n_rows, h0 = b->heap_len;
	bool ok;
	switch (ev->op) {
	case 'u':
		ok = put_image(b, SL_KIND_UPDATE_BEFORE, &ev->before, ingest_ns, ev->ts_ms, used) &&
		     put_image(b, SL_KIND_UPDATE_AFTER, &ev->after, ingest_ns, ev->ts_ms, used);
		break;
	case 'd':
		ok = put_image(b, SL_KIND_DELETE, &ev->before, ingest_ns, ev->ts_ms, used);
		break;
	default: /* 'c', 'r' */
		ok = put_image(b, SL_KIND_INSERT, &ev->after, ingest_ns, ev->ts_ms, used);
	}
	if (!ok) {
		b->n_rows = n0;
		b->heap_len = h0;
	}
	return ok;
}

/* When the next event is due, rounded up to the generator's tick. */
static int64_t next_wake(const struct gen_state *st)
{
	int64_t next = (int64_t)((double)st->produced / st->rate * 1e9);
	return st->start_ns + (next + GEN_TICK_NS - 1) / GEN_TICK_NS * GEN_TICK_NS;
}

static int gen_poll(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct gen_state *st = ni->state;
	if (st->rate == 0)
		return SL_POLL_IDLE; /* paused: an idle source, no timer */
	if (!st->have_ev && st->produced == st->total)
		return SL_POLL_EOF;
	int64_t now = w->now_ns;
	if (!st->start_ns) /* after a restore, as if the skipped events were on time */
		st->start_ns = st->rate > 0 ? now - (int64_t)((double)st->produced / st->rate * 1e9)
					    : now;
	/* Open loop: event i is due at start + i / rate, and its ingest time is
	 * that due time, so a stall shows up as latency (no coordinated omission). */
	uint64_t due = st->produced;
	if (st->rate > 0) {
		double t = (double)(now - st->start_ns) * 1e-9 * st->rate;
		due = (uint64_t)t + 1;
		if (due <= st->produced && !st->have_ev) {
			sl_worker_wake_at(w, next_wake(st));
			return SL_POLL_IDLE;
		}
	}
	struct sl_batch *b = sl_worker_batch(w, &ni->node->schema);
	uint64_t events = 0;
	for (;;) {
		if (!st->have_ev) {
			if (st->rate > 0 && st->produced >= due)
				break;
			if (!next_event(st))
				break;
			st->have_ev = true;
			st->produced++;
		}
		int64_t ingest = st->rate > 0 ? st->start_ns + (int64_t)((double)(st->produced - 1) /
									  st->rate * 1e9)
					      : now;
		if (!put_event(b, &st->ev, ingest, ni->node->out_used))
			break;
		st->have_ev = false;
		st->emitted[st->ev_split]++;
		events++;
	}
	if (st->rate > 0 && !st->have_ev && st->produced < st->total)
		sl_worker_wake_at(w, next_wake(st));
	sl_worker_source_rows(w, ni, b->n_rows, 0);
	sl_counter_add(&w->m->progress_done, events);
	int rc = sl_emit(w, ni, b);
	sl_worker_put(w, b);
	if (rc < 0)
		return rc;
	return (!st->have_ev && st->produced == st->total) ? SL_POLL_EOF : SL_POLL_MORE;
}

/* Checkpoints: per split, the events emitted. A split is a deterministic
 * sequence, so a restore regenerates and skips that many. */
static int gen_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	(void)w;
	struct gen_state *st = ni->state;
	sl_snap_u32(out, st->n_splits);
	for (uint32_t i = 0; i < st->n_splits; i++) {
		sl_snap_u32(out, st->split_id[i]);
		sl_snap_u64(out, st->emitted[i]);
	}
	return 0;
}

static int gen_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *b,
		       uint32_t n)
{
	struct gen_state *st = ni->state;
	uint64_t skipped = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (b[k].len == 0)
			continue;
		struct sl_snapread r;
		sl_snapread_init(&r, b[k].p, b[k].len);
		uint32_t cnt = sl_snapread_u32(&r);
		for (uint32_t i = 0; i < cnt && !r.bad; i++) {
			uint32_t id = sl_snapread_u32(&r);
			uint64_t done = sl_snapread_u64(&r);
			for (uint32_t m = 0; m < st->n_splits && !r.bad; m++) {
				if (st->split_id[m] != id)
					continue;
				struct sl_customer_split *sp = st->splits[m];
				if (done > sl_customer_split_records(sp))
					return -EINVAL;
				sl_customer_split_set_fields(sp, 0); /* skipping: ids only */
				for (uint64_t e = 0; e < done; e++)
					if (!sl_customer_split_next(sp, &st->ev))
						return -EINVAL;
				sl_customer_split_set_fields(sp, st->fields);
				st->emitted[m] = done;
				skipped += done;
			}
		}
		if (!sl_snapread_done(&r))
			return -EINVAL;
	}
	st->produced += skipped;
	sl_counter_add(&w->m->progress_done, skipped);
	return 0;
}

const struct sl_plugin sl_plugin_generator_source = {
	.name = "generator",
	.kind = SL_NODE_SOURCE,
	.summary = "built-in data: the customer_archive change stream (profile customer-cdc)",
	.options = gen_options,
	.conf_bytes = sizeof(struct gen_conf),
	.prepare = gen_prepare,
	.open = gen_open,
	.close = gen_close,
	.poll = gen_poll,
	.snapshot = gen_snapshot,
	.restore = gen_restore,
};
