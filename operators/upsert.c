/* upsert: the latest row per primary key as a changelog (Flink's ChangelogNormalize), with
 * optional version ordering, event-id dedup and per-key change frequency. */
#include <inttypes.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "core/job.h"
#include "core/keygroup.h"
#include "core/value.h"
#include "core/worker.h"
#include "state/rowstore.h"
#include "state/snap.h"
#include "state/table.h"

/*
 * Per input row, by the kind it acts as (its own; +I/+U turn into -D when
 * delete_when holds):
 *   +I, +U  upsert: a new key emits +I(new); a changed row emits -U(old),
 *           +U(new); a row equal to the stored one (byte for byte, but for
 *           the `ignore` columns) emits nothing and is not stored.
 *   -D      delete: a live key emits -D(old) and is gone; an absent key
 *           emits nothing.
 *   -U      ignored: the before-image of an update whose +U follows.
 * Before that, in order: a row whose event id the key saw within the dedup
 * horizon is dropped (dedup), then a row whose version is below the stored
 * one is dropped as stale (version; equal versions apply in arrival order,
 * except that an upsert does not undo a delete of its own version).
 * Emitted rows carry the input row's ingest and event times; -U and -D
 * carry the changes_1h of the row they retract, +I and +U the count with
 * this change.
 *
 * State per key (state/table, fixed size): a header with the image's
 * pointer, the last version, the changes_1h value last emitted, then the
 * dedup ring (id hash, time) and the change-time ring. Images (every input
 * column serialized) live out of line in a per-worker state/rowstore. A key
 * whose row is deleted keeps its entry while it remembers something (a
 * version, seen ids, change times): a tombstone, so a late older row cannot
 * bring it back; with version or dedup, even a delete of an absent key
 * leaves one. Tombstones are not expired (no TTL yet).
 */

/*
 * A row's state costs three dependent cache misses: its index slot, its
 * entry, its image. Rows go through a software pipeline: the key of row
 * r + UPS_SLOT_AHEAD is encoded and its slot prefetched, the entry of row
 * r + UPS_ENTRY_AHEAD and the image of row r + UPS_IMAGE_AHEAD are
 * prefetched, then row r is applied; so the misses of many rows overlap.
 */
#define UPS_SLOT_AHEAD 16u
#define UPS_ENTRY_AHEAD 8u
#define UPS_IMAGE_AHEAD 4u
#define UPS_RING 32u /* encoded keys in flight: > UPS_SLOT_AHEAD, a power of two */
static_assert(UPS_RING > UPS_SLOT_AHEAD && (UPS_RING & (UPS_RING - 1)) == 0, "key ring");
static_assert(UPS_SLOT_AHEAD > UPS_ENTRY_AHEAD && UPS_ENTRY_AHEAD > UPS_IMAGE_AHEAD,
	      "each stage after the one it depends on");
/* Bytes of an image prefetched ahead (most images are smaller). */
#define UPS_IMAGE_PREFETCH_BYTES 128u
/* Bounds of the per-key rings (their counters are 8-bit). */
#define UPS_MAX_IDS_MAX 64
#define UPS_MAX_COUNT_MAX 255
/* st->kind of a row to skip (delete_when failed on it). */
#define UPS_KIND_SKIP 0xffu

struct upsert_conf {
	struct sl_strlist key;
	const char *version;
	const char *time;
	const char *delete_when;
	struct sl_strlist ignore;
	struct sl_cfg_node *dedup;
	struct sl_cfg_node *frequency;
	int64_t ttl_ms;
};

struct dedup_conf {
	const char *id;
	int64_t horizon_ms;
	int64_t max_ids;
};

struct frequency_conf {
	const char *column;
	int64_t horizon_ms;
	int64_t max_count;
};

static const struct sl_option upsert_options[] = {
	{.name = "key", .type = SL_OPT_STRING_LIST, .required = true,
	 .offset = offsetof(struct upsert_conf, key),
	 .help = "primary key columns (the input is partitioned by them; a key_by is added if "
		 "needed)"},
	{.name = "version", .type = SL_OPT_STRING, .offset = offsetof(struct upsert_conf, version),
	 .help = "column ordering a key's rows (INT, BIGINT, DATE, TIMESTAMP, FLOAT, DOUBLE): a "
		 "row below the stored version is stale and dropped (counted; a delete wins a "
		 "tie); NULL is a bad row"},
	{.name = "time", .type = SL_OPT_STRING, .offset = offsetof(struct upsert_conf, time),
	 .help = "TIMESTAMP or BIGINT (ms) column giving the row's time for the dedup and "
		 "frequency horizons; default the row's event time, else the processing time"},
	{.name = "delete_when", .type = SL_OPT_STRING,
	 .offset = offsetof(struct upsert_conf, delete_when),
	 .help = "SQL condition: a row for which it is TRUE deletes its key (inputs that mark "
		 "deletes in a column, e.g. \"op = 'd'\"); -D rows always delete"},
	{.name = "ignore", .type = SL_OPT_STRING_LIST, .def = "[]",
	 .offset = offsetof(struct upsert_conf, ignore),
	 .help = "columns the no-op check leaves out (e.g. an event id): a row equal to the "
		 "stored one but for them emits nothing and is not stored"},
	{.name = "dedup", .type = SL_OPT_NODE, .offset = offsetof(struct upsert_conf, dedup),
	 .help = "{id: col, horizon: 1h, max_ids: 8}: drop a row whose id this key saw within "
		 "horizon of its time; exact while a key sees at most max_ids (1..64) ids per "
		 "horizon"},
	{.name = "frequency", .type = SL_OPT_NODE,
	 .offset = offsetof(struct upsert_conf, frequency),
	 .help = "{column: changes_1h, horizon: 1h, max_count: 32}: add a BIGINT column, the "
		 "key's changes in (time - horizon, time]; exact up to max_count (1..255), "
		 "saturating there"},
	{.name = "ttl", .type = SL_OPT_DURATION_MS, .def = "0",
	 .offset = offsetof(struct upsert_conf, ttl_ms),
	 .help = "state time-to-live: a key not written for this long is forgotten (processing "
		 "time, whole seconds; 0: kept forever); checked on access and swept incrementally"},
	{0},
};

static const struct sl_option dedup_options[] = {
	{.name = "id", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct dedup_conf, id), .help = "event id column (NULL: never a duplicate)"},
	{.name = "horizon", .type = SL_OPT_DURATION_MS, .def = "1h", .min = 1, .max = INT64_MAX / 4,
	 .offset = offsetof(struct dedup_conf, horizon_ms), .help = "how long an id is remembered"},
	{.name = "max_ids", .type = SL_OPT_INT, .def = "8", .min = 1, .max = UPS_MAX_IDS_MAX,
	 .offset = offsetof(struct dedup_conf, max_ids), .help = "ids remembered per key"},
	{0},
};

static const struct sl_option frequency_options[] = {
	{.name = "column", .type = SL_OPT_STRING, .def = "changes_1h",
	 .offset = offsetof(struct frequency_conf, column), .help = "name of the added column"},
	{.name = "horizon", .type = SL_OPT_DURATION_MS, .def = "1h", .min = 1, .max = INT64_MAX / 4,
	 .offset = offsetof(struct frequency_conf, horizon_ms), .help = "sliding window"},
	{.name = "max_count", .type = SL_OPT_INT, .def = "32", .min = 1, .max = UPS_MAX_COUNT_MAX,
	 .offset = offsetof(struct frequency_conf, max_count),
	 .help = "change times kept per key: counts are exact up to it"},
	{0},
};

struct upsert_shared {
	/* The key_by in front, when its batches carry the hashes of our key
	 * (batch->hash_src == its id + 1): no need to hash again. */
	const struct sl_node *hash_src;
	uint32_t n_keys;
	uint32_t key_cols[SL_MAX_KEYS];
	uint32_t n_cols; /* input columns: what an image holds */
	uint32_t n_cmp;  /* of which the no-op comparison covers perm[0..n_cmp) */
	uint8_t perm[SL_MAX_COLS]; /* image column order: compared, then ignored */
	bool is_str[SL_MAX_COLS];
	int version_col; /* -1: none */
	enum sl_type version_type;
	int time_col; /* -1: the row's event time */
	struct sl_expr *delete_when; /* NULL: only -D rows delete */
	int id_col;   /* -1: no dedup */
	bool id_is_str;
	int64_t dedup_horizon_ms;
	uint32_t max_ids;
	int freq_col; /* output column of changes_1h, -1: none */
	int64_t freq_horizon_ms;
	uint32_t max_count;
	uint32_t seen_off, change_off, value_bytes;
};

/* The value of one key in the table; the rings follow it. */
struct ups_head {
	uint8_t *image;     /* rowstore block; NULL: no live row */
	uint32_t image_len;
	uint32_t cmp_len; /* the image's compared prefix */
	uint8_t has_version;
	uint8_t n_seen;
	uint8_t n_changes;
	uint8_t pad;
	union sl_val version;
	int64_t changes; /* changes_1h of the row last emitted for the key */
};
struct ups_seen {
	uint64_t id_hash;
	int64_t t_ms;
};

struct upsert_counts {
	uint64_t inserts, updates, deletes;
	uint64_t noops;          /* +I/+U identical to the stored image */
	uint64_t stale;          /* version below the stored one */
	uint64_t duplicates;     /* event id seen within the horizon */
	uint64_t before_images;  /* -U rows, ignored */
	uint64_t absent_deletes; /* -D for a key with no live row */
};

struct upsert_state {
	struct sl_table *table;
	struct sl_rowstore *images;
	uint8_t *keys; /* [UPS_RING][SL_KEY_MAX_BYTES]: encoded keys in flight */
	uint32_t key_len[UPS_RING]; /* UINT32_MAX: no key (skipped row, or too long) */
	uint64_t key_hash[UPS_RING];
	uint8_t *img;  /* the image being built */
	struct sl_batch *out;
	int64_t now_ms; /* processing time of this batch (rows without event time) */
	struct upsert_counts n;
	struct sl_ratelimit stale_rl;
	uint8_t kind[SL_BATCH_ROWS]; /* the kind each row acts as; 0xff: skip (bad row) */
	uint16_t sel[SL_BATCH_ROWS];
};

static const struct sl_strlist *upsert_input_keys(const struct sl_node *n)
{
	const struct upsert_conf *c = n->conf;
	return &c->key;
}

/* Column `name` of s for option `opt` of n, of one of the types in ok[] (n_ok 0: any);
 * -1 with an error in d. */
static int find_col(const struct sl_node *n, const struct sl_schema *s, const char *name,
		    struct sl_pos pos, const char *opt, const enum sl_type *ok, uint32_t n_ok,
		    const char *ok_text, struct sl_diag *d)
{
	int c = sl_schema_find(s, name);
	if (c < 0) {
		const char *known[SL_MAX_COLS + 1];
		for (uint32_t k = 0; k < s->n_fields; k++)
			known[k] = s->fields[k].name;
		known[s->n_fields] = NULL;
		const char *near = sl_cfg_suggest(name, strlen(name), known);
		sl_diag_error(d, pos, "step '%s': %s: no column '%s'%s%s%s", n->name, opt, name,
			      near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
		return -1;
	}
	bool good = n_ok == 0;
	for (uint32_t i = 0; i < n_ok; i++)
		good |= s->fields[c].type == ok[i];
	if (!good) {
		sl_diag_error(d, pos, "step '%s': %s: column '%s' is %s; expected %s", n->name, opt,
			      name, sl_type_name(s->fields[c].type), ok_text);
		return -1;
	}
	return c;
}

static int upsert_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct upsert_conf *c = n->conf;
	const struct sl_node *in = sl_node_input(job, n, 0);
	const struct sl_schema *is = &in->schema;
	struct upsert_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->version_col = s->time_col = s->id_col = s->freq_col = -1;
	int rc = 0;
	if (c->key.n == 0 || c->key.n > SL_MAX_KEYS)
		return sl_diag_error(d, sl_node_pos_of(n, "key"), "step '%s': key: 1 to %u columns",
				     n->name, SL_MAX_KEYS);
	s->n_keys = c->key.n;
	char what[SL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "step '%s': key", n->name);
	if (sl_node_resolve_cols(is, &c->key, n, "key", what, s->key_cols, d) < 0)
		rc = -EINVAL;
	s->n_cols = is->n_fields;
	for (uint32_t i = 0; i < s->n_cols; i++)
		s->is_str[i] = is->fields[i].type == SL_T_STRING;
	uint32_t ignore[SL_MAX_COLS];
	bool ignored[SL_MAX_COLS] = {false};
	snprintf(what, sizeof(what), "step '%s': ignore", n->name);
	if (c->ignore.n > SL_MAX_COLS)
		rc = sl_diag_error(d, sl_node_pos_of(n, "ignore"), "%s: too many columns", what);
	else if (sl_node_resolve_cols(is, &c->ignore, n, "ignore", what, ignore, d) < 0)
		rc = -EINVAL;
	else
		for (uint32_t i = 0; i < c->ignore.n; i++)
			ignored[ignore[i]] = true;
	for (uint32_t i = 0; i < s->n_cols; i++)
		if (!ignored[i])
			s->perm[s->n_cmp++] = (uint8_t)i;
	for (uint32_t i = 0, k = s->n_cmp; i < s->n_cols; i++)
		if (ignored[i])
			s->perm[k++] = (uint8_t)i;

	if (c->version) {
		static const enum sl_type ok[] = {SL_T_INT,	 SL_T_BIGINT, SL_T_DATE,
						  SL_T_TIMESTAMP, SL_T_FLOAT,  SL_T_DOUBLE};
		s->version_col = find_col(n, is, c->version, sl_node_pos_of(n, "version"), "version",
					  ok, SL_ARRAY_LEN(ok),
					  "INT, BIGINT, DATE, TIMESTAMP, FLOAT or DOUBLE", d);
		if (s->version_col < 0)
			rc = -EINVAL;
		else
			s->version_type = is->fields[s->version_col].type;
	}
	if (c->time) {
		static const enum sl_type ok[] = {SL_T_TIMESTAMP, SL_T_BIGINT};
		s->time_col = find_col(n, is, c->time, sl_node_pos_of(n, "time"), "time", ok,
				       SL_ARRAY_LEN(ok), "TIMESTAMP or BIGINT (ms)", d);
		if (s->time_col < 0)
			rc = -EINVAL;
	}
	if (c->delete_when) {
		struct sl_cfg_node *dw = sl_cfg_get(n->cfg, "delete_when");
		s->delete_when = sl_expr_compile(c->delete_when, strlen(c->delete_when), is, dw->pos,
						 dw->quoted, d);
		if (!s->delete_when)
			rc = -EINVAL;
		else if (sl_expr_type(s->delete_when) != SL_T_BOOL &&
			 sl_expr_type(s->delete_when) != SL_T_NULL)
			rc = sl_diag_error(d, dw->pos,
					   "step '%s': delete_when: expected a BOOLEAN condition, got %s",
					   n->name, sl_type_name(sl_expr_type(s->delete_when)));
	}
	char sub[SL_NAME_MAX + 32];
	if (c->dedup && c->dedup->type != SL_CFG_NULL) {
		struct dedup_conf dc = {0};
		snprintf(sub, sizeof(sub), "step '%s': dedup", n->name);
		if (c->dedup->type != SL_CFG_MAP)
			rc = sl_diag_error(d, c->dedup->pos,
					   "%s: expected a map like {id: event_id, horizon: 1h}", sub);
		else if (sl_options_parse(dedup_options, job->doc, c->dedup, sub, NULL, &dc, d) < 0)
			rc = -EINVAL;
		if (dc.id) { /* also after errors in other dedup keys */
			struct sl_pos pos = c->dedup->pos;
			for (uint32_t i = 0; i < c->dedup->n; i++)
				if (strcmp(c->dedup->keys[i]->str, "id") == 0)
					pos = c->dedup->vals[i]->pos;
			s->id_col = find_col(n, is, dc.id, pos, "dedup.id", NULL, 0, "", d);
			if (s->id_col < 0)
				rc = -EINVAL;
			else
				s->id_is_str = is->fields[s->id_col].type == SL_T_STRING;
			s->dedup_horizon_ms = dc.horizon_ms;
			s->max_ids = (uint32_t)dc.max_ids;
		}
	}
	n->schema = *is;
	if (c->frequency && c->frequency->type != SL_CFG_NULL) {
		struct frequency_conf fc = {0};
		snprintf(sub, sizeof(sub), "step '%s': frequency", n->name);
		if (c->frequency->type != SL_CFG_MAP)
			rc = sl_diag_error(d, c->frequency->pos,
					   "%s: expected a map like {column: changes_1h, horizon: 1h}",
					   sub);
		else if (sl_options_parse(frequency_options, job->doc, c->frequency, sub, NULL, &fc,
					  d) < 0)
			rc = -EINVAL;
		if (fc.column) {
			int ar = sl_schema_add(&n->schema, fc.column, SL_T_BIGINT, true);
			struct sl_pos pos = c->frequency->pos;
			for (uint32_t i = 0; i < c->frequency->n; i++)
				if (strcmp(c->frequency->keys[i]->str, "column") == 0)
					pos = c->frequency->vals[i]->pos;
			if (ar < 0)
				rc = sl_diag_error(d, pos,
						   "%s: column '%s' %s", sub, fc.column,
						   ar == -EEXIST ? "clashes with an input column"
								 : "cannot be added");
			s->freq_col = (int)is->n_fields;
			s->freq_horizon_ms = fc.horizon_ms;
			s->max_count = (uint32_t)fc.max_count;
		}
	}
	s->seen_off = (uint32_t)sizeof(struct ups_head);
	s->change_off = s->seen_off + (s->id_col >= 0 ? s->max_ids : 0) * (uint32_t)sizeof(struct ups_seen);
	s->value_bytes = s->change_off + (s->freq_col >= 0 ? s->max_count : 0) * 8u;
	if (in->is_exchange && in->n_part == c->key.n) {
		bool same = true;
		for (uint32_t k = 0; k < c->key.n; k++)
			same &= strcmp(in->part[k], c->key.v[k]) == 0;
		if (same)
			s->hash_src = in;
	}
	n->changelog = true;
	sl_node_set_part(n, &c->key);
	return rc;
}

static void upsert_release(struct sl_node *n)
{
	struct upsert_shared *s = n->shared;
	if (s && s->delete_when)
		sl_expr_free(s->delete_when);
	free(n->shared);
	n->shared = NULL;
}

/* TTL: an expired key's image goes back to the store. */
static void expire_image(void *ctx, void *value)
{
	struct upsert_state *st = ctx;
	struct ups_head *h = value;
	if (h->image)
		sl_rowstore_release(st->images, h->image, h->image_len);
	h->image = NULL;
	h->image_len = 0;
}

static int upsert_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->table = sl_table_new(s->value_bytes);
	st->images = sl_rowstore_new();
	if (st->table)
		sl_table_set_ttl(st->table, ((const struct upsert_conf *)ni->node->conf)->ttl_ms,
				 expire_image, st);
	st->keys = mi_malloc((size_t)UPS_RING * SL_KEY_MAX_BYTES);
	st->img = mi_malloc(SL_ROWSTORE_MAX_BYTES);
	return st->table && st->images && st->keys && st->img ? 0 : -ENOMEM;
}

static void upsert_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct upsert_state *st = ni->state;
	if (!st)
		return;
	sl_table_free(st->table);
	sl_rowstore_free(st->images);
	mi_free(st->keys);
	mi_free(st->img);
	mi_free(st);
	ni->state = NULL;
}

/*
 * Image of row r: two segments, the compared columns (all but `ignore`) then
 * the ignored ones, each a null bitmap (bit i set: the segment's i-th column
 * has a value) followed, per non-null column in order, by its 8-byte slot or
 * for a string a 4-byte length and the bytes. The first segment is the
 * no-op comparison's prefix; it is bitwise (FLOATs compare by bits, so -0.0
 * and 0.0 differ). Strings of one row fit one batch heap, so an image fits
 * SL_ROWSTORE_MAX_BYTES.
 */
static uint8_t *seg_encode(const struct upsert_shared *s, const uint8_t *cols, uint32_t n,
			   const struct sl_batch *b, uint32_t r, uint8_t *buf)
{
	memset(buf, 0, (n + 7) / 8);
	uint8_t *p = buf + (n + 7) / 8;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t c = cols[i];
		if (!sl_batch_is_valid(b, c, r))
			continue;
		buf[i >> 3] |= (uint8_t)(1u << (i & 7));
		union sl_val v = b->cols[c].v[r];
		if (s->is_str[c]) {
			memcpy(p, &v.s.len, 4);
			memcpy(p + 4, b->heap + v.s.off, v.s.len);
			p += 4 + v.s.len;
		} else {
			memcpy(p, &v, 8);
			p += 8;
		}
	}
	return p;
}

/* Encodes row r into buf; returns the length, *cmp_len the compared prefix's. */
static uint32_t image_encode(const struct upsert_shared *s, const struct sl_batch *b, uint32_t r,
			     uint8_t *buf, uint32_t *cmp_len)
{
	uint8_t *p = seg_encode(s, s->perm, s->n_cmp, b, r, buf);
	*cmp_len = (uint32_t)(p - buf);
	if (s->n_cmp < s->n_cols)
		p = seg_encode(s, s->perm + s->n_cmp, s->n_cols - s->n_cmp, b, r, p);
	uint32_t len = (uint32_t)(p - buf);
	SL_DASSERT(len <= SL_ROWSTORE_MAX_BYTES);
	return len;
}

/* Walks one segment: writes its columns to row r of out (out NULL: only
 * counts); adds its string bytes to *str_bytes; returns the segment's end. */
static const uint8_t *seg_decode(const struct upsert_shared *s, const uint8_t *cols, uint32_t n,
				 const uint8_t *img, struct sl_batch *out, uint32_t r,
				 uint32_t *str_bytes)
{
	const uint8_t *p = img + (n + 7) / 8;
	for (uint32_t i = 0; i < n; i++) {
		if (!((img[i >> 3] >> (i & 7)) & 1))
			continue;
		uint32_t c = cols[i];
		if (s->is_str[c]) {
			uint32_t len;
			memcpy(&len, p, 4);
			*str_bytes += len;
			if (out) {
				bool ok = sl_batch_set_str(out, c, r, (const char *)p + 4, len);
				SL_ASSERT(ok); /* the caller made room */
			}
			p += 4 + len;
		} else {
			if (out) {
				memcpy(&out->cols[c].v[r], p, 8);
				sl_batch_set_valid(out, c, r, true);
			}
			p += 8;
		}
	}
	return p;
}

/* Writes an image as columns 0..n_cols of row r of out (out NULL: nothing);
 * returns the string bytes it holds. */
static uint32_t image_decode(const struct upsert_shared *s, const uint8_t *img, uint32_t len,
			     struct sl_batch *out, uint32_t r)
{
	uint32_t str_bytes = 0;
	const uint8_t *p = seg_decode(s, s->perm, s->n_cmp, img, out, r, &str_bytes);
	if (s->n_cmp < s->n_cols)
		p = seg_decode(s, s->perm + s->n_cmp, s->n_cols - s->n_cmp, p, out, r, &str_bytes);
	SL_ASSERT(p == img + len);
	return str_bytes;
}

/* Appends (kind, image, changes) with row r's times to st->out, sending it
 * downstream first when it has no room. */
static int put_row(struct sl_worker *w, struct sl_nodeinst *ni, uint8_t kind, const uint8_t *img,
		   uint32_t len, int64_t changes, const struct sl_batch *in, uint32_t r)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	struct sl_batch *out = st->out;
	int rc = 0;
	uint32_t need = len <= sl_batch_heap_free(out) ? 0 : image_decode(s, img, len, NULL, 0);
	if (sl_batch_full(out) || need > sl_batch_heap_free(out)) {
		rc = sl_emit(w, ni, out);
		sl_batch_reset(out, &ni->node->schema);
	}
	SL_ASSERT(!sl_batch_full(out) && need <= sl_batch_heap_free(out));
	uint32_t o = sl_batch_begin_row(out, kind, in->ingest_ns[r], in->event_ms[r]);
	image_decode(s, img, len, out, o);
	if (s->freq_col >= 0)
		sl_batch_set_i(out, (uint32_t)s->freq_col, o, changes);
	sl_batch_commit_row(out);
	return rc;
}

/* The row's time for the horizons: the time column, else its event time,
 * else the batch's processing time. */
static inline int64_t row_time_ms(const struct upsert_shared *s, const struct upsert_state *st,
				  const struct sl_batch *in, uint32_t r)
{
	if (s->time_col >= 0 && sl_batch_is_valid(in, (uint32_t)s->time_col, r))
		return in->cols[s->time_col].v[r].i;
	if (in->event_ms[r] != INT64_MIN)
		return in->event_ms[r];
	return st->now_ms;
}

/* |a - b| without overflow (times come from user columns). */
static inline uint64_t dist_ms(int64_t a, int64_t b)
{
	return a > b ? (uint64_t)a - (uint64_t)b : (uint64_t)b - (uint64_t)a;
}

/* Dedup: true if h's ring holds id within the horizon of t; otherwise
 * records (id, t) in the slot of the same id, a free slot, or the oldest. */
static bool seen_before(const struct upsert_shared *s, struct ups_head *h, uint64_t id, int64_t t)
{
	struct ups_seen *ring = (struct ups_seen *)((char *)h + s->seen_off);
	SL_DASSERT(h->n_seen <= s->max_ids);
	uint32_t victim = h->n_seen;
	for (uint32_t i = 0; i < h->n_seen; i++) {
		if (ring[i].id_hash == id) {
			if (dist_ms(t, ring[i].t_ms) < (uint64_t)s->dedup_horizon_ms)
				return true;
			victim = i; /* expired: remember it afresh */
			break;
		}
	}
	if (victim == h->n_seen) {
		if (h->n_seen < s->max_ids) {
			h->n_seen++;
		} else {
			victim = 0;
			for (uint32_t i = 1; i < h->n_seen; i++)
				if (ring[i].t_ms < ring[victim].t_ms)
					victim = i;
		}
	}
	ring[victim].id_hash = id;
	ring[victim].t_ms = t;
	return false;
}

/* Frequency: records a change at t; returns the key's changes in
 * (t - horizon, t], this one included, at most max_count. The ring keeps the
 * max_count latest change times (it drops the oldest). */
static int64_t record_change(const struct upsert_shared *s, struct ups_head *h, int64_t t)
{
	int64_t *ring = (int64_t *)((char *)h + s->change_off);
	SL_DASSERT(h->n_changes <= s->max_count);
	int64_t count = 1;
	uint32_t oldest = 0;
	int64_t after = t < INT64_MIN + s->freq_horizon_ms ? INT64_MIN : t - s->freq_horizon_ms;
	for (uint32_t i = 0; i < h->n_changes; i++) {
		count += ring[i] <= t && ring[i] > after;
		if (ring[i] < ring[oldest])
			oldest = i;
	}
	if (h->n_changes < s->max_count)
		ring[h->n_changes++] = t;
	else if (ring[oldest] < t)
		ring[oldest] = t;
	return count < (int64_t)s->max_count ? count : (int64_t)s->max_count;
}

/* Whether a row of version v is stale against the stored version. A delete
 * carries the version of the row it deletes (a before-image), so after a
 * delete an upsert of the same version is that row again, late: deletes win
 * ties. Otherwise equal versions apply in arrival order. */
static inline bool version_stale(const struct upsert_shared *s, const struct ups_head *h,
				 union sl_val v, bool is_delete)
{
	bool tie_lost = !is_delete && !h->image; /* h holds a tombstone's version */
	if (sl_type_is_float(s->version_type))
		return v.f < h->version.f || (tie_lost && v.f == h->version.f);
	return v.i < h->version.i || (tie_lost && v.i == h->version.i);
}

static void log_stale(struct sl_worker *w, struct sl_nodeinst *ni, union sl_val v,
		      union sl_val stored)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	uint64_t suppressed;
	if (!sl_log_enabled(SL_LOG_DEBUG) || !sl_ratelimit_ok(&st->stale_rl, &suppressed))
		return;
	char a[48], b[48];
	sl_value_format(s->version_type, v, a);
	sl_value_format(s->version_type, stored, b);
	sl_log(SL_LOG_DEBUG, (int)w->id, ni->node->name,
	       "msg=\"stale row ignored\" version=\"%s\" stored=\"%s\" stale_total=%" PRIu64 "%s",
	       a, b, st->n.stale, suppressed ? " (more suppressed)" : "");
}

/* Applies row r of in to its key's value h. Returns 0 or a negative errno
 * that fails the job. */
static int apply_row(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_batch *in,
		     uint32_t r, struct ups_head *h)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	bool is_delete = st->kind[r] == SL_KIND_DELETE;
	SL_DASSERT(!h->image == !h->image_len && st->kind[r] != SL_KIND_UPDATE_BEFORE);
	int64_t t = 0;
	if (s->id_col >= 0 || s->freq_col >= 0)
		t = row_time_ms(s, st, in, r);
	if (s->id_col >= 0 && sl_batch_is_valid(in, (uint32_t)s->id_col, r)) {
		union sl_val v = in->cols[s->id_col].v[r];
		uint64_t id = s->id_is_str ? sl_key_hash(in->heap + v.s.off, v.s.len)
					   : sl_key_hash(&v, sizeof(v));
		if (seen_before(s, h, id, t)) {
			st->n.duplicates++;
			return 0;
		}
	}
	if (s->version_col >= 0) {
		if (!sl_batch_is_valid(in, (uint32_t)s->version_col, r)) {
			sl_worker_bad_row(w, ni, "version", "version column is NULL: row ignored", in,
					  r);
			return 0;
		}
		union sl_val v = in->cols[s->version_col].v[r];
		if (h->has_version && version_stale(s, h, v, is_delete)) {
			st->n.stale++;
			log_stale(w, ni, v, h->version);
			return 0;
		}
		h->version = v;
		h->has_version = 1;
	}
	int rc = 0;
	if (is_delete) {
		if (!h->image) {
			st->n.absent_deletes++;
			return 0;
		}
		/* The delete counts as a change; the -D itself retracts the row
		 * last emitted, so it carries that row's count. */
		if (s->freq_col >= 0)
			record_change(s, h, t);
		rc = put_row(w, ni, SL_KIND_DELETE, h->image, h->image_len, h->changes, in, r);
		sl_rowstore_release(st->images, h->image, h->image_len);
		h->image = NULL;
		h->image_len = 0;
		h->changes = 0;
		st->n.deletes++;
		return rc;
	}
	uint32_t cmp_len;
	uint32_t len = image_encode(s, in, r, st->img, &cmp_len);
	SL_ASSERT(cmp_len <= len && len <= SL_ROWSTORE_MAX_BYTES);
	if (h->image && h->cmp_len == cmp_len && memcmp(h->image, st->img, cmp_len) == 0) {
		st->n.noops++;
		return 0;
	}
	int64_t changes = s->freq_col >= 0 ? record_change(s, h, t) : 0;
	uint8_t kind = h->image ? SL_KIND_UPDATE_AFTER : SL_KIND_INSERT;
	uint8_t *block;
	if (h->image) {
		rc = put_row(w, ni, SL_KIND_UPDATE_BEFORE, h->image, h->image_len, h->changes, in, r);
		/* The -U is a copy in the output batch now: the block may be reused. */
		block = sl_rowstore_resize(st->images, h->image, h->image_len, len);
		st->n.updates++;
	} else {
		block = sl_rowstore_alloc(st->images, len);
		st->n.inserts++;
	}
	if (!block)
		return -ENOMEM;
	memcpy(block, st->img, len);
	h->image = block;
	h->image_len = len;
	h->cmp_len = cmp_len;
	h->changes = changes;
	if (rc == 0)
		rc = put_row(w, ni, kind, block, len, changes, in, r);
	return rc;
}

/* Pipeline stage 1: encodes and hashes row r's key, prefetches its slot. */
static inline void stage_key(const struct upsert_shared *s, struct upsert_state *st,
			     const struct sl_batch *in, uint32_t r, bool hashed)
{
	uint32_t slot = r & (UPS_RING - 1);
	st->key_len[slot] = UINT32_MAX;
	if (st->kind[r] == SL_KIND_UPDATE_BEFORE || st->kind[r] == UPS_KIND_SKIP)
		return;
	uint8_t *buf = st->keys + (size_t)slot * SL_KEY_MAX_BYTES;
	int len = sl_key_encode(in, r, s->key_cols, s->n_keys, buf, SL_KEY_MAX_BYTES);
	if (len < 0)
		return;
	st->key_len[slot] = (uint32_t)len;
	st->key_hash[slot] = hashed ? in->key_hash[r] : sl_key_hash(buf, (size_t)len);
	sl_table_prefetch(st->table, st->key_hash[slot]);
}

/* Stage 2: the entry (its slot arrived meanwhile). */
static inline void stage_entry(const struct upsert_shared *s, const struct upsert_state *st,
			       uint32_t r)
{
	uint32_t slot = r & (UPS_RING - 1);
	if (st->key_len[slot] == UINT32_MAX)
		return;
	const char *v = sl_table_peek(st->table, st->key_hash[slot]);
	if (!v)
		return;
	/* The value with its rings, and the key after it (compared by the
	 * lookup). */
	for (uint32_t o = 0; o < s->value_bytes + 16; o += SL_CACHELINE)
		__builtin_prefetch(v + o);
}

/* Stage 3: the image (its entry arrived meanwhile). */
static inline void stage_image(const struct upsert_state *st, uint32_t r)
{
	uint32_t slot = r & (UPS_RING - 1);
	if (st->key_len[slot] == UINT32_MAX)
		return;
	const struct ups_head *h = sl_table_peek(st->table, st->key_hash[slot]);
	if (!h || !h->image)
		return;
	uint32_t len = SL_MIN(h->image_len, UPS_IMAGE_PREFETCH_BYTES);
	for (uint32_t o = 0; o < len; o += SL_CACHELINE)
		__builtin_prefetch(h->image + o);
}

static int upsert_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	st->now_ms = sl_wall_ms();
	sl_table_tick(st->table, st->now_ms);
	memcpy(st->kind, in->kind, in->n_rows);
	if (s->delete_when) {
		uint32_t n_sel = 0, first = 0, bad;
		while (sl_expr_select(s->delete_when, in, first, w->scratch, st->sel, &n_sel, &bad) <
		       0) {
			sl_worker_bad_row(w, ni, "delete_when", sl_expr_error_text(w->scratch), in, bad);
			st->kind[bad] = UPS_KIND_SKIP;
			first = bad + 1;
		}
		for (uint32_t i = 0; i < n_sel; i++)
			if (st->kind[st->sel[i]] != SL_KIND_UPDATE_BEFORE)
				st->kind[st->sel[i]] = SL_KIND_DELETE;
	}
	st->out = sl_worker_batch(w, &ni->node->schema);
	const uint32_t n = in->n_rows;
	const bool hashed = s->hash_src && in->hash_src == s->hash_src->id + 1;
	for (uint32_t r = 0; r < SL_MIN(UPS_SLOT_AHEAD, n); r++)
		stage_key(s, st, in, r, hashed);
	int rc = 0;
	for (uint32_t r = 0; r < n && rc == 0; r++) {
		if (r + UPS_SLOT_AHEAD < n)
			stage_key(s, st, in, r + UPS_SLOT_AHEAD, hashed);
		if (r + UPS_ENTRY_AHEAD < n)
			stage_entry(s, st, r + UPS_ENTRY_AHEAD);
		if (r + UPS_IMAGE_AHEAD < n)
			stage_image(st, r + UPS_IMAGE_AHEAD);
		uint32_t slot = r & (UPS_RING - 1);
		if (st->kind[r] == SL_KIND_UPDATE_BEFORE) {
			st->n.before_images++;
			continue;
		}
		if (st->kind[r] == UPS_KIND_SKIP)
			continue;
		uint32_t key_len = st->key_len[slot];
		uint64_t hash = st->key_hash[slot];
		if (key_len == UINT32_MAX) {
			sl_worker_bad_row(w, ni, "key", "key longer than 4096 bytes", in, r);
			continue;
		}
		const uint8_t *key = st->keys + (size_t)slot * SL_KEY_MAX_BYTES;
		struct ups_head *h;
		bool created;
		/* A delete of an absent key still leaves its version and event
		 * id (a later, older row must not resurrect it). */
		if (st->kind[r] == SL_KIND_DELETE && s->version_col < 0 && s->id_col < 0) {
			h = sl_table_find(st->table, key, key_len, hash);
			if (!h) {
				st->n.absent_deletes++;
				continue;
			}
		} else {
			h = sl_table_upsert(st->table, key, key_len, hash, &created);
			if (!h) {
				rc = -ENOMEM;
				break;
			}
		}
		rc = apply_row(w, ni, in, r, h);
		/* An entry that remembers nothing (deleted, and no version, ids
		 * or change times) goes; others stay as tombstones. */
		if (!h->image && !h->has_version && !h->n_seen && !h->n_changes)
			sl_table_delete(st->table, key, key_len, hash);
	}
	if (rc == 0)
		rc = sl_emit(w, ni, st->out);
	sl_worker_put(w, st->out);
	st->out = NULL;
	sl_table_maybe_compact(st->table);
	sl_worker_state_bytes(ni, sl_table_bytes(st->table) + sl_rowstore_bytes(st->images));
	return rc;
}

static int upsert_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct upsert_state *st = ni->state;
	const struct upsert_counts *c = &st->n;
	enum sl_log_level lv = c->stale || c->duplicates ? SL_LOG_INFO : SL_LOG_DEBUG;
	if (sl_log_enabled(lv))
		sl_log(lv, (int)w->id, ni->node->name,
		       "msg=\"upsert done\" keys=%" PRIu64 " live=%" PRIu64 " inserts=%" PRIu64
		       " updates=%" PRIu64 " deletes=%" PRIu64 " noops=%" PRIu64 " stale=%" PRIu64
		       " duplicates=%" PRIu64 " before_images=%" PRIu64 " absent_deletes=%" PRIu64
		       " state_bytes=%" PRIu64,
		       sl_table_count(st->table), sl_rowstore_count(st->images), c->inserts,
		       c->updates, c->deletes, c->noops, c->stale, c->duplicates, c->before_images,
		       c->absent_deletes,
		       sl_table_bytes(st->table) + sl_rowstore_bytes(st->images));
	return 0;
}

/* Checkpoints: per key its hash, key, value (the head's image pointer is
 * meaningless on disk) and the image bytes. The table and the image store
 * are frozen and written by the coordinator while the worker goes on. */
static void image_extra(void *ctx, const void *value, struct sl_snapbuf *b)
{
	(void)ctx;
	const struct ups_head *h = value;
	if (h->image_len)
		sl_snap_put(b, h->image, h->image_len);
}

static int upsert_serialize(void *ctx, struct sl_snapsink *out)
{
	struct upsert_state *st = ctx;
	return sl_table_serialize(st->table, out, image_extra, st);
}

static int upsert_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	if (sl_table_freeze(st->table) == 0) {
		sl_rowstore_freeze(st->images);
		sl_worker_snap_defer(w, ni, upsert_serialize, st);
		return 0;
	}
	/* No memory to freeze: copy now (the table's value size, rounded). */
	const uint32_t vb = (s->value_bytes + 7) & ~7u;
	sl_snap_u32(out, vb);
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	uint64_t hash;
	while (sl_table_next_h(st->table, &it, &key, &len, &value, &hash)) {
		sl_snap_u64(out, hash);
		sl_snap_u32(out, len);
		sl_snap_put(out, key, len);
		sl_snap_put(out, value, vb);
		image_extra(NULL, value, out);
	}
	return 0;
}

static void upsert_written(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	(void)w;
	(void)id;
	struct upsert_state *st = ni->state;
	if (sl_table_frozen(st->table)) {
		sl_table_thaw(st->table);
		sl_rowstore_thaw(st->images);
	}
}

static int upsert_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *b,
			  uint32_t n)
{
	const struct upsert_shared *s = ni->node->shared;
	struct upsert_state *st = ni->state;
	for (uint32_t k = 0; k < n; k++) {
		if (b[k].len == 0)
			continue;
		struct sl_snapread r;
		sl_snapread_init(&r, b[k].p, b[k].len);
		uint32_t vb = sl_snapread_u32(&r);
		if (r.bad || vb != ((s->value_bytes + 7) & ~7u))
			return -EINVAL;
		while (r.p < r.end) {
			uint64_t hash = sl_snapread_u64(&r);
			uint32_t kl = sl_snapread_u32(&r);
			const void *key = kl <= SL_KEY_MAX_BYTES ? sl_snapread_get(&r, kl) : NULL;
			const uint8_t *src = sl_snapread_get(&r, vb);
			if (r.bad || !key || !src)
				return -EINVAL;
			/* The bytes are unaligned in the snapshot: read the head from a copy. */
			struct ups_head hd;
			memcpy(&hd, src, sizeof(hd));
			if (hd.image_len > SL_ROWSTORE_MAX_BYTES || hd.cmp_len > hd.image_len)
				return -EINVAL;
			const void *img = hd.image_len ? sl_snapread_get(&r, hd.image_len) : NULL;
			if (r.bad)
				return -EINVAL;
			if (!sl_table_owns(hash, w->job->max_parallelism, w->n_workers, w->id))
				continue;
			bool created;
			struct ups_head *h = sl_table_upsert(st->table, key, kl, hash, &created);
			if (!h)
				return -ENOMEM;
			memcpy(h, src, vb);
			h->image = NULL;
			if (hd.image_len) {
				h->image = sl_rowstore_alloc(st->images, hd.image_len);
				if (!h->image)
					return -ENOMEM;
				memcpy(h->image, img, hd.image_len);
			}
		}
		if (!sl_snapread_done(&r))
			return -EINVAL;
	}
	return 0;
}

const struct sl_plugin sl_plugin_upsert = {
	.name = "upsert",
	.kind = SL_NODE_STEP,
	.summary = "latest row per key as a changelog (+I, -U/+U, -D; no-ops dropped), with "
		   "version ordering, dedup and change frequency",
	.options = upsert_options,
	.conf_bytes = sizeof(struct upsert_conf),
	.prepare = upsert_prepare,
	.release = upsert_release,
	.input_keys = upsert_input_keys,
	.open = upsert_open,
	.close = upsert_close,
	.process = upsert_process,
	.finish = upsert_finish,
	.snapshot = upsert_snapshot,
	.snapshot_written = upsert_written,
	.restore = upsert_restore,
};
