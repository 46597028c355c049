/* aggregate: count, sum, min, max, avg per key, as a changelog or one final row per key. */
#include <math.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/job.h"
#include "core/keygroup.h"
#include "core/worker.h"
#include "state/snap.h"
#include "state/table.h"

/* Rows are handled in groups: encode and hash a group's keys and prefetch
 * their index slots, then fold them, so the table's cache misses overlap. */
#define AGG_GROUP 32u

enum agg_fn { AGG_COUNT_STAR, AGG_COUNT, AGG_SUM, AGG_MIN, AGG_MAX, AGG_AVG };
enum { EMIT_UPDATES, EMIT_FINAL };

struct aggregate_conf {
	struct sl_strlist key;
	struct sl_cfg_node *aggregates;
	int emit;
	int64_t ttl_ms;
};

static const char *const emit_choices[] = {"updates", "final", NULL};

static const struct sl_option aggregate_options[] = {
	{.name = "key", .type = SL_OPT_STRING_LIST, .required = true,
	 .offset = offsetof(struct aggregate_conf, key),
	 .help = "group-by columns (the input is partitioned by them; a key_by is added if "
		 "needed)"},
	{.name = "aggregates", .type = SL_OPT_NODE, .required = true,
	 .offset = offsetof(struct aggregate_conf, aggregates),
	 .help = "map of output column: count | count(col) | sum(col) | min(col) | max(col) | "
		 "avg(col)"},
	{.name = "emit", .type = SL_OPT_ENUM, .def = "updates",
	 .offset = offsetof(struct aggregate_conf, emit), .choices = emit_choices,
	 .help = "updates: a changelog (+I, -U/+U, -D) per input batch; final: one row per key "
		 "at end of input"},
	{.name = "ttl", .type = SL_OPT_DURATION_MS, .def = "0",
	 .offset = offsetof(struct aggregate_conf, ttl_ms),
	 .help = "state time-to-live: a key not written for this long is forgotten (processing "
		 "time, whole seconds; 0: kept forever); checked on access and swept incrementally"},
	{0},
};

struct agg_spec {
	enum agg_fn fn;
	int col;             /* input column, -1 for count(*) */
	enum sl_type in_type;
	enum sl_type out_type;
};

struct aggregate_shared {
	uint32_t n_keys;
	uint32_t key_cols[SL_MAX_KEYS];
	uint32_t out_key_cols[SL_MAX_KEYS];
	uint32_t n_aggs;
	struct agg_spec agg[SL_MAX_COLS];
	uint32_t value_bytes;
	int emit;
	/* The key_by right before us, when it hashes exactly our key: its
	 * batches carry the hashes (batch->hash_src == its id + 1). */
	const struct sl_node *hash_src;
};

/* The value of one key: a header, then one accumulator per aggregate. */
struct acc_head {
	int64_t rows;    /* +1 per added row, -1 per retracted row */
	uint64_t epoch; /* batch that last touched the key (0: none) */
};
struct acc {
	int64_t n; /* non-null values */
	union {
		int64_t i;
		double f;
	} v;
};

struct touched {
	char *value;       /* the key's entry in the table */
	uint64_t hash;
	int64_t ingest_ns; /* of the first row that touched it */
	bool existed;      /* the key had rows before this batch */
};

struct aggregate_state {
	struct sl_table *table;
	uint64_t epoch;
	uint32_t n_touched;
	struct touched touched[SL_BATCH_ROWS];
	char *before; /* [SL_BATCH_ROWS * value_bytes]: images before this batch */
	uint8_t *keys; /* encoded keys of one group of rows */
};

static const struct sl_strlist *aggregate_input_keys(const struct sl_node *n)
{
	const struct aggregate_conf *c = n->conf;
	return &c->key;
}

static int parse_agg(struct sl_node *n, const struct sl_schema *in, struct sl_cfg_node *v,
		     struct agg_spec *a, struct sl_diag *d)
{
	static const struct {
		const char *name;
		enum agg_fn fn;
	} fns[] = {{"count", AGG_COUNT}, {"sum", AGG_SUM}, {"min", AGG_MIN},
		   {"max", AGG_MAX},     {"avg", AGG_AVG}};
	if (v->type != SL_CFG_SCALAR)
		return sl_diag_error(d, v->pos, "step '%s': expected count, sum(col), ...", n->name);
	char text[256];
	size_t k = 0;
	for (size_t i = 0; i < v->len && k + 1 < sizeof(text); i++)
		if (v->str[i] != ' ' && v->str[i] != '\t')
			text[k++] = v->str[i];
	text[k] = '\0';
	if (strcasecmp(text, "count") == 0 || strcasecmp(text, "count(*)") == 0 ||
	    strcasecmp(text, "count(1)") == 0) {
		a->fn = AGG_COUNT_STAR;
		a->col = -1;
		a->out_type = SL_T_BIGINT;
		return 0;
	}
	char *open = strchr(text, '(');
	size_t tl = strlen(text);
	if (!open || text[tl - 1] != ')')
		return sl_diag_error(d, v->pos,
				     "step '%s': '%s' is not an aggregate: use count, count(col), "
				     "sum(col), min(col), max(col) or avg(col)",
				     n->name, v->str);
	*open = '\0';
	text[tl - 1] = '\0';
	const char *col = open + 1;
	bool found = false;
	for (size_t i = 0; i < SL_ARRAY_LEN(fns); i++)
		if (strcasecmp(text, fns[i].name) == 0) {
			a->fn = fns[i].fn;
			found = true;
		}
	if (!found)
		return sl_diag_error(d, v->pos,
				     "step '%s': unknown aggregate function '%s' (count, sum, min, "
				     "max, avg)",
				     n->name, text);
	a->col = sl_schema_find(in, col);
	if (a->col < 0)
		return sl_diag_error(d, v->pos, "step '%s': no column '%s'", n->name, col);
	a->in_type = in->fields[a->col].type;
	switch (a->fn) {
	case AGG_COUNT:
		a->out_type = SL_T_BIGINT;
		break;
	case AGG_SUM:
	case AGG_AVG:
		if (!sl_type_is_numeric(a->in_type))
			return sl_diag_error(d, v->pos, "step '%s': %s(%s): %s is not numeric",
					     n->name, text, col, sl_type_name(a->in_type));
		a->out_type = a->fn == AGG_AVG || sl_type_is_float(a->in_type) ? SL_T_DOUBLE
										: SL_T_BIGINT;
		break;
	case AGG_MIN:
	case AGG_MAX:
		if (a->in_type == SL_T_STRING)
			return sl_diag_error(d, v->pos,
					     "step '%s': %s(%s): min/max of strings is not supported",
					     n->name, text, col);
		a->out_type = a->in_type;
		break;
	default:
		break;
	}
	return 0;
}

static int aggregate_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct aggregate_conf *c = n->conf;
	const struct sl_node *in = sl_node_input(job, n, 0);
	struct sl_pos kpos = sl_node_pos_of(n, "key");
	struct aggregate_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->emit = c->emit;
	if (c->key.n == 0 || c->key.n > SL_MAX_KEYS)
		return sl_diag_error(d, kpos, "step '%s': key: 1 to %u columns", n->name,
				     SL_MAX_KEYS);
	s->n_keys = c->key.n;
	char what[SL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "step '%s': key", n->name);
	if (sl_node_resolve_cols(&in->schema, &c->key, n, "key", what, s->key_cols, d) < 0)
		return -EINVAL;
	memset(&n->schema, 0, sizeof(n->schema));
	for (uint32_t k = 0; k < s->n_keys; k++) {
		const struct sl_field *f = &in->schema.fields[s->key_cols[k]];
		sl_schema_add(&n->schema, f->name, f->type, f->not_null);
		n->schema.fields[k] = *f; /* DECIMAL precision and scale too */
		s->out_key_cols[k] = k;
	}
	struct sl_cfg_node *aggs = c->aggregates;
	if (aggs->type != SL_CFG_MAP || aggs->n == 0)
		return sl_diag_error(d, aggs->pos,
				     "step '%s': aggregates: expected a map like {n: count, total: "
				     "sum(amount)}",
				     n->name);
	int rc = 0;
	for (uint32_t i = 0; i < aggs->n; i++) {
		struct agg_spec *a = &s->agg[s->n_aggs];
		if (parse_agg(n, &in->schema, aggs->vals[i], a, d) < 0) {
			rc = -EINVAL;
			continue;
		}
		if (in->changelog && (a->fn == AGG_MIN || a->fn == AGG_MAX))
			rc = sl_diag_error(d, aggs->vals[i]->pos,
					   "step '%s': min/max over a changelog input (one with "
					   "updates or deletes) cannot retract; aggregate an "
					   "append-only input",
					   n->name);
		int ar = sl_schema_add(&n->schema, aggs->keys[i]->str, a->out_type,
				       a->fn == AGG_COUNT_STAR || a->fn == AGG_COUNT);
		if (ar < 0)
			rc = sl_diag_error(d, aggs->keys[i]->pos,
					   "step '%s': output column '%s' %s", n->name,
					   aggs->keys[i]->str,
					   ar == -EEXIST ? "clashes with another column"
							 : "cannot be added");
		s->n_aggs++;
	}
	s->value_bytes = (uint32_t)(sizeof(struct acc_head) + s->n_aggs * sizeof(struct acc));
	if (in->is_exchange && in->n_part == c->key.n) {
		bool same = true;
		for (uint32_t k = 0; k < c->key.n; k++)
			same &= strcmp(in->part[k], c->key.v[k]) == 0;
		if (same)
			s->hash_src = in;
	}
	n->changelog = s->emit == EMIT_UPDATES;
	sl_node_set_part(n, &c->key);
	return rc;
}

static int aggregate_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	const struct aggregate_shared *s = ni->node->shared;
	struct aggregate_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->table = sl_table_new(s->value_bytes);
	if (st->table)
		sl_table_set_ttl(st->table, ((const struct aggregate_conf *)ni->node->conf)->ttl_ms,
				 NULL, NULL);
	st->before = mi_malloc((size_t)SL_BATCH_ROWS * s->value_bytes);
	st->keys = mi_malloc((size_t)AGG_GROUP * SL_KEY_MAX_BYTES);
	return st->table && st->before && st->keys ? 0 : -ENOMEM;
}

static void aggregate_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct aggregate_state *st = ni->state;
	if (!st)
		return;
	sl_table_free(st->table);
	mi_free(st->before);
	mi_free(st->keys);
	mi_free(st);
	ni->state = NULL;
}

/* Folds row r into the accumulators (sign +1 adds, -1 retracts). Returns
 * false on a data error (integer overflow), leaving the value unchanged. */
static bool fold(const struct aggregate_shared *s, char *value, const struct sl_batch *in,
		 uint32_t r, int sign)
{
	struct acc_head *h = (struct acc_head *)value;
	struct acc *acc = (struct acc *)(h + 1);
	struct acc next[SL_MAX_COLS];
	memcpy(next, acc, s->n_aggs * sizeof(*acc));
	for (uint32_t i = 0; i < s->n_aggs; i++) {
		const struct agg_spec *a = &s->agg[i];
		if (a->fn == AGG_COUNT_STAR || !sl_batch_is_valid(in, (uint32_t)a->col, r))
			continue;
		union sl_val v = in->cols[a->col].v[r];
		struct acc *x = &next[i];
		x->n += sign;
		switch (a->fn) {
		case AGG_COUNT:
			break;
		case AGG_SUM:
		case AGG_AVG:
			if (sl_type_is_float(a->in_type))
				x->v.f += sign * v.f;
			else if (a->out_type == SL_T_DOUBLE)
				x->v.f += sign * (double)v.i;
			else if (__builtin_add_overflow(x->v.i, sign > 0 ? v.i : -v.i, &x->v.i))
				return false;
			break;
		case AGG_MIN:
			if (sl_type_is_float(a->in_type) ? (x->n == 1 || v.f < x->v.f)
							  : (x->n == 1 || v.i < x->v.i))
				memcpy(&x->v, &v, sizeof(x->v));
			break;
		case AGG_MAX:
			if (sl_type_is_float(a->in_type) ? (x->n == 1 || v.f > x->v.f)
							  : (x->n == 1 || v.i > x->v.i))
				memcpy(&x->v, &v, sizeof(x->v));
			break;
		default:
			break;
		}
	}
	memcpy(acc, next, s->n_aggs * sizeof(*acc));
	h->rows += sign;
	return true;
}

/* Appends (key, aggregates of value) as a row of kind to out, flushing it
 * downstream when full. */
static int put_row(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch **out,
		   uint8_t kind, const void *key, uint32_t key_len, const char *value,
		   int64_t ingest_ns)
{
	const struct aggregate_shared *s = ni->node->shared;
	const struct sl_node *n = ni->node;
	int rc = 0;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct sl_batch *b = *out;
		if (sl_batch_full(b) || attempt == 1) {
			rc = sl_emit(w, ni, b);
			sl_batch_reset(b, &n->schema);
		}
		uint32_t mark = b->heap_len;
		uint32_t r = sl_batch_begin_row(b, kind, ingest_ns, INT64_MIN);
		if (sl_key_decode(key, key_len, &n->schema, s->out_key_cols, s->n_keys, b, r,
				  s->out_key_cols) < 0) {
			sl_batch_rollback(b, mark);
			SL_ASSERT(attempt == 0 && b->n_rows > 0);
			continue;
		}
		const struct acc_head *h = (const struct acc_head *)value;
		const struct acc *acc = (const struct acc *)(h + 1);
		for (uint32_t i = 0; i < s->n_aggs; i++) {
			const struct agg_spec *a = &s->agg[i];
			uint32_t c = s->n_keys + i;
			switch (a->fn) {
			case AGG_COUNT_STAR:
				sl_batch_set_i(b, c, r, h->rows);
				break;
			case AGG_COUNT:
				sl_batch_set_i(b, c, r, acc[i].n);
				break;
			case AGG_AVG:
				if (acc[i].n <= 0)
					sl_batch_set_null(b, c, r);
				else
					sl_batch_set_f(b, c, r,
						       (sl_type_is_float(a->in_type) ||
							a->out_type == SL_T_DOUBLE)
							       ? acc[i].v.f / (double)acc[i].n
							       : (double)acc[i].v.i / (double)acc[i].n);
				break;
			default:
				if (acc[i].n <= 0)
					sl_batch_set_null(b, c, r);
				else if (sl_type_is_float(a->out_type))
					sl_batch_set_f(b, c, r, acc[i].v.f);
				else
					sl_batch_set_i(b, c, r, acc[i].v.i);
			}
		}
		sl_batch_commit_row(b);
		return rc;
	}
	return rc;
}

static bool same_result(const struct aggregate_shared *s, const char *a, const char *b)
{
	const struct acc_head *ha = (const struct acc_head *)a, *hb = (const struct acc_head *)b;
	if (ha->rows != hb->rows)
		return false;
	return memcmp(ha + 1, hb + 1, s->n_aggs * sizeof(struct acc)) == 0;
}

static int aggregate_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct aggregate_shared *s = ni->node->shared;
	struct aggregate_state *st = ni->state;
	const uint32_t vb = s->value_bytes;
	st->epoch++; /* 64 bits: never wraps back to 0, which means "untouched" */
	sl_table_tick(st->table, sl_wall_ms());
	st->n_touched = 0;
	uint32_t key_off[AGG_GROUP], key_len[AGG_GROUP];
	uint64_t hash[AGG_GROUP];
	bool hashed = s->hash_src && in->hash_src == s->hash_src->id + 1;
	for (uint32_t g = 0; g < in->n_rows; g += AGG_GROUP) {
		uint32_t n = SL_MIN(AGG_GROUP, in->n_rows - g);
		uint32_t used = 0;
		for (uint32_t i = 0; i < n; i++) {
			int len = sl_key_encode(in, g + i, s->key_cols, s->n_keys, st->keys + used,
						AGG_GROUP * SL_KEY_MAX_BYTES - used);
			key_off[i] = used;
			key_len[i] = len < 0 ? UINT32_MAX : (uint32_t)len;
			if (len < 0)
				continue;
			used += (uint32_t)len;
			hash[i] = hashed ? in->key_hash[g + i]
					 : sl_key_hash(st->keys + key_off[i], (size_t)len);
			sl_table_prefetch(st->table, hash[i]);
		}
		/* The slots are on their way: start the entries' misses together. */
		for (uint32_t i = 0; i < n; i++)
			if (key_len[i] != UINT32_MAX)
				sl_table_prefetch_entry(st->table, hash[i]);
		for (uint32_t i = 0; i < n; i++) {
			uint32_t r = g + i;
			if (key_len[i] == UINT32_MAX) {
				sl_worker_bad_row(w, ni, "key", "key longer than 4096 bytes", in, r);
				continue;
			}
			int sign = sl_kind_is_add(in->kind[r]) ? 1 : -1;
			bool created;
			char *value = sl_table_upsert(st->table, st->keys + key_off[i], key_len[i],
						      hash[i], &created);
			if (!value)
				return -ENOMEM;
			struct acc_head *h = (struct acc_head *)value;
			if (s->emit == EMIT_UPDATES && h->epoch != st->epoch) {
				struct touched *t = &st->touched[st->n_touched];
				t->existed = !created && h->rows > 0;
				t->value = value;
				t->hash = hash[i];
				t->ingest_ns = in->ingest_ns[r];
				memcpy(st->before + (size_t)st->n_touched * vb, value, vb);
				h->epoch = st->epoch;
				st->n_touched++;
			}
			if (sign < 0 && h->rows <= 0) {
				sl_worker_bad_row(w, ni, "retraction",
						  "retraction (-U/-D) for a key with no rows: ignored", in, r);
				continue;
			}
			if (!fold(s, value, in, r, sign))
				sl_worker_bad_row(w, ni, "sum", "BIGINT overflow in sum: row ignored", in, r);
		}
	}
	if (s->emit != EMIT_UPDATES) {
		sl_table_maybe_compact(st->table);
		sl_worker_state_bytes(ni, sl_table_bytes(st->table));
		return 0;
	}
	/* Each touched key, in first-touch order, emits the one change this
	 * batch made to it (Flink's mini-batch output). */
	struct sl_batch *out = sl_worker_batch(w, &ni->node->schema);
	int rc = 0;
	for (uint32_t t = 0; t < st->n_touched && rc == 0; t++) {
		const struct touched *tc = &st->touched[t];
		char *value = tc->value;
		const char *before = st->before + (size_t)t * vb;
		uint32_t len;
		const void *key = sl_table_key_of(st->table, value, &len);
		struct acc_head *h = (struct acc_head *)value;
		h->epoch = 0;
		bool now = h->rows > 0;
		if (tc->existed && now) {
			if (!same_result(s, before, value)) {
				rc = put_row(w, ni, &out, SL_KIND_UPDATE_BEFORE, key, len, before,
					     tc->ingest_ns);
				rc |= put_row(w, ni, &out, SL_KIND_UPDATE_AFTER, key, len, value,
					      tc->ingest_ns);
			}
		} else if (!tc->existed && now) {
			rc = put_row(w, ni, &out, SL_KIND_INSERT, key, len, value, tc->ingest_ns);
		} else if (tc->existed && !now) {
			rc = put_row(w, ni, &out, SL_KIND_DELETE, key, len, before, tc->ingest_ns);
		}
		/* Deleting leaves the entry's bytes in the arena until compaction,
		 * which runs only below, so key stays readable. */
		if (!now)
			sl_table_delete(st->table, key, len, tc->hash);
	}
	if (rc == 0)
		rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	sl_table_maybe_compact(st->table);
	sl_worker_state_bytes(ni, sl_table_bytes(st->table));
	return rc;
}

static int aggregate_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct aggregate_shared *s = ni->node->shared;
	struct aggregate_state *st = ni->state;
	if (s->emit != EMIT_FINAL)
		return 0;
	struct sl_batch *out = sl_worker_batch(w, &ni->node->schema);
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	int rc = 0;
	int64_t now = sl_now_ns();
	while (rc == 0 && sl_table_next(st->table, &it, &key, &len, &value))
		if (((struct acc_head *)value)->rows > 0)
			rc = put_row(w, ni, &out, SL_KIND_INSERT, key, len, value, now);
	if (rc == 0)
		rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	return rc;
}

static int aggregate_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	sl_worker_snap_table(w, ni, ((struct aggregate_state *)ni->state)->table, out);
	return 0;
}

static void aggregate_written(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	(void)w;
	(void)id;
	sl_table_thaw(((struct aggregate_state *)ni->state)->table);
}

static int aggregate_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *b,
			     uint32_t n)
{
	return sl_worker_restore_table(w, ((struct aggregate_state *)ni->state)->table, b, n);
}

static uint64_t aggregate_uses(const struct sl_node *n, uint32_t input, uint64_t out_used)
{
	(void)input;
	(void)out_used; /* every output column comes from the keys and the state */
	const struct aggregate_shared *s = n->shared;
	uint64_t m = 0;
	for (uint32_t k = 0; s && k < s->n_keys; k++)
		m |= 1ull << s->key_cols[k];
	for (uint32_t i = 0; s && i < s->n_aggs; i++)
		if (s->agg[i].col >= 0)
			m |= 1ull << s->agg[i].col;
	return s ? m : ~0ull;
}

const struct sl_plugin sl_plugin_aggregate = {
	.uses = aggregate_uses,
	.name = "aggregate",
	.kind = SL_NODE_STEP,
	.summary = "count, sum, min, max, avg per key (changelog of updates, or final rows)",
	.options = aggregate_options,
	.conf_bytes = sizeof(struct aggregate_conf),
	.prepare = aggregate_prepare,
	.input_keys = aggregate_input_keys,
	.open = aggregate_open,
	.close = aggregate_close,
	.process = aggregate_process,
	.finish = aggregate_finish,
	.snapshot = aggregate_snapshot,
	.snapshot_written = aggregate_written,
	.restore = aggregate_restore,
};
