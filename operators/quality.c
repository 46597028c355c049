/* quality: per-record scores in [0, 1] for completeness, validity, accuracy, consistency
 * (against the key's previous version, in keyed state) and timeliness, and their weighted mean. */
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/job.h"
#include "core/keygroup.h"
#include "core/value.h"
#include "core/worker.h"
#include "operators/rules.h"
#include "state/table.h"

enum role { ROLE_NAME, ROLE_PHONE, ROLE_ID_NUMBER, ROLE_ADDRESS, N_ROLES };
static const char *const role_names[N_ROLES + 1] = {"name", "phone", "id_number", "address",
						    NULL};

enum dim { DIM_COMPLETENESS, DIM_VALIDITY, DIM_ACCURACY, DIM_CONSISTENCY, DIM_TIMELINESS, N_DIMS };
static const char *const dim_names[N_DIMS + 1] = {"completeness", "validity", "accuracy",
						  "consistency", "timeliness", NULL};
static const double default_weights[N_DIMS] = {0.3, 0.3, 0.1, 0.2, 0.1};
#define N_OUT (N_DIMS + 1) /* the dimensions, then `quality` */

struct quality_conf {
	struct sl_strlist key;
	struct sl_cfg_node *fields;
	struct sl_strlist required;
	const char *time;
	int64_t fresh_ms;
	int64_t stale_ms;
	struct sl_cfg_node *weights;
	const char *birth_date;
	const char *gender;
	int64_t ttl_ms;
};

static const struct sl_option quality_options[] = {
	{.name = "key", .type = SL_OPT_STRING_LIST, .offset = offsetof(struct quality_conf, key),
	 .help = "key columns of a record: consistency compares each version with the key's "
		 "previous one (the input is partitioned by them; a key_by is added if needed); "
		 "without a key consistency is 1"},
	{.name = "fields", .type = SL_OPT_NODE, .offset = offsetof(struct quality_conf, fields),
	 .help = "map of role: STRING column (name, phone, id_number, address), as in "
		 "standardize; default: the input columns with those names. Validity reads "
		 "<col>_valid when the input has it (standardize's output), else applies the same "
		 "rules"},
	{.name = "required", .type = SL_OPT_STRING_LIST,
	 .offset = offsetof(struct quality_conf, required),
	 .help = "columns that must be non-null and not blank (completeness = share present); "
		 "default: the role columns"},
	{.name = "time", .type = SL_OPT_STRING, .offset = offsetof(struct quality_conf, time),
	 .help = "change-time column (TIMESTAMP, DATE or BIGINT epoch ms) for timeliness; "
		 "default: the row's event time. Unknown (null) change time: timeliness 0"},
	{.name = "fresh", .type = SL_OPT_DURATION_MS, .def = "1h",
	 .offset = offsetof(struct quality_conf, fresh_ms),
	 .help = "timeliness is 1 while a change is at most this old (processing time - change "
		 "time)"},
	{.name = "stale", .type = SL_OPT_DURATION_MS, .def = "7d",
	 .offset = offsetof(struct quality_conf, stale_ms),
	 .help = "timeliness falls linearly from 1 at fresh to 0 at this age"},
	{.name = "weights", .type = SL_OPT_NODE, .offset = offsetof(struct quality_conf, weights),
	 .help = "map of completeness, validity, accuracy, consistency, timeliness to weights "
		 ">= 0; quality = sum(weight * score) / sum(weight). A map replaces the default "
		 "{0.3, 0.3, 0.1, 0.2, 0.1} whole: dimensions it leaves out weigh 0"},
	{.name = "birth_date", .type = SL_OPT_STRING,
	 .offset = offsetof(struct quality_conf, birth_date),
	 .help = "declared birth-date column (DATE, TIMESTAMP or 'YYYY-MM-DD' STRING) that the ID "
		 "number must agree with (accuracy); default: birth_date if the input has it"},
	{.name = "gender", .type = SL_OPT_STRING, .offset = offsetof(struct quality_conf, gender),
	 .help = "declared gender column (M/F, male/female, 男/女, 1/2) that the ID number must "
		 "agree with (accuracy); default: gender if the input has it"},
	{.name = "ttl", .type = SL_OPT_DURATION_MS, .def = "0",
	 .offset = offsetof(struct quality_conf, ttl_ms),
	 .help = "state time-to-live: a key not written for this long is forgotten (processing "
		 "time, whole seconds; 0: kept forever); checked on access and swept incrementally"},
	{0},
};

struct quality_shared {
	uint32_t n_in;
	uint32_t out_col; /* first score column: completeness, …, timeliness, quality */
	/* Roles: column and, when the input has it, its <col>_valid column (-1). */
	int role_col[N_ROLES];
	int role_valid_col[N_ROLES];
	uint32_t n_roles;
	uint32_t n_required;
	uint32_t required[SL_MAX_COLS];
	uint32_t n_keys;
	uint32_t key_cols[SL_MAX_KEYS];
	/* The key_by right before us, when it hashes exactly our key: its
	 * batches carry the hashes (batch->hash_src == its id + 1). */
	const struct sl_node *hash_src;
	int time_col; /* -1: the row's event time */
	enum sl_type time_type;
	int birth_col, gender_col; /* declared; -1: none */
	bool accuracy;             /* either is set */
	enum sl_type birth_type;
	int64_t fresh_ms, stale_ms;
	double weight[N_DIMS];
	double weight_sum;
};

/* What keyed state holds per key: the last added image and the scores it got,
 * so its retraction (-U, -D) carries the same scores. */
struct prev_image {
	uint64_t id_hash;
	uint64_t name_hash;
	double consistency;
	double timeliness;
};

/* Rows whose keys are hashed and prefetched together. */
#define Q_GROUP 32u

struct quality_state {
	struct sl_table *table; /* NULL without a key */
	uint8_t *keys;          /* encoded keys of one group of rows */
	char scratch[SL_RULES_IN_MAX_BYTES + SL_RULES_GROWTH_BYTES];
	bool *drop; /* [SL_BATCH_ROWS] */
};

static const struct sl_strlist *quality_input_keys(const struct sl_node *n)
{
	const struct quality_conf *c = n->conf;
	return c->key.n ? &c->key : NULL;
}

static bool has_key(const struct sl_node *n, const char *key)
{
	const struct sl_cfg_node *c = n->cfg;
	for (uint32_t i = 0; c && c->type == SL_CFG_MAP && i < c->n; i++)
		if (strcmp(c->keys[i]->str, key) == 0 && c->vals[i]->type != SL_CFG_NULL)
			return true;
	return false;
}

/* A column of the input by name, with an error (at pos) if missing; -1 if so. */
static int find_col(const struct sl_node *n, const struct sl_schema *in, const char *name,
		    const char *what, struct sl_pos pos, struct sl_diag *d)
{
	int c = sl_schema_find(in, name);
	if (c >= 0)
		return c;
	const char *known[SL_MAX_COLS + 1];
	for (uint32_t q = 0; q < in->n_fields; q++)
		known[q] = in->fields[q].name;
	known[in->n_fields] = NULL;
	const char *near = sl_cfg_suggest(name, strlen(name), known);
	sl_diag_error(d, pos, "step '%s': %s: no column '%s'%s%s%s", n->name, what, name,
		      near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
	return -1;
}

static int prepare_roles(struct sl_node *n, struct quality_shared *s, const struct sl_schema *in,
			 struct sl_cfg_node *f, struct sl_diag *d)
{
	int rc = 0;
	for (int r = 0; r < N_ROLES; r++)
		s->role_col[r] = s->role_valid_col[r] = -1;
	if (!f || f->type == SL_CFG_NULL) {
		for (int r = 0; r < N_ROLES; r++) {
			int c = sl_schema_find(in, role_names[r]);
			if (c < 0)
				continue;
			if (in->fields[c].type != SL_T_STRING) {
				rc = sl_diag_error(
				    d, n->pos,
				    "step '%s': column '%s' is %s, not STRING: name the "
				    "role columns with fields",
				    n->name, role_names[r], sl_type_name(in->fields[c].type));
				continue;
			}
			s->role_col[r] = c;
		}
	} else if (f->type != SL_CFG_MAP) {
		return sl_diag_error(d, f->pos, "step '%s': fields: expected a map of role: column",
				     n->name);
	} else {
		for (uint32_t i = 0; i < f->n; i++) {
			const struct sl_cfg_node *k = f->keys[i], *v = f->vals[i];
			int role = -1;
			for (int r = 0; r < N_ROLES; r++)
				if (strcmp(k->str, role_names[r]) == 0)
					role = r;
			if (role < 0) {
				const char *near = sl_cfg_suggest(k->str, k->len, role_names);
				rc = sl_diag_error(
				    d, k->pos,
				    "step '%s': fields: unknown role '%s'%s%s%s (roles: "
				    "name, phone, id_number, address)",
				    n->name, k->str, near ? " (did you mean '" : "",
				    near ? near : "", near ? "'?)" : "");
				continue;
			}
			const char *colname;
			if (sl_cfg_as_string(v, k->str, &colname, d) < 0) {
				rc = -EINVAL;
				continue;
			}
			char what[SL_NAME_MAX + 32];
			snprintf(what, sizeof(what), "fields.%s", k->str);
			int c = find_col(n, in, colname, what, v->pos, d);
			if (c < 0) {
				rc = -EINVAL;
				continue;
			}
			if (in->fields[c].type != SL_T_STRING) {
				rc = sl_diag_error(d, v->pos,
						   "step '%s': %s: column '%s' is %s, expected "
						   "STRING",
						   n->name, what, colname,
						   sl_type_name(in->fields[c].type));
				continue;
			}
			s->role_col[role] = c;
		}
	}
	for (int r = 0; r < N_ROLES; r++) {
		if (s->role_col[r] < 0)
			continue;
		s->n_roles++;
		char name[SL_NAME_MAX + 8];
		snprintf(name, sizeof(name), "%s_valid", in->fields[s->role_col[r]].name);
		int vc = sl_schema_find(in, name);
		if (vc >= 0 && in->fields[vc].type == SL_T_BOOL)
			s->role_valid_col[r] = vc;
	}
	return rc;
}

static int prepare_weights(struct sl_node *n, struct quality_shared *s, struct sl_cfg_node *wn,
			   struct sl_diag *d)
{
	if (!wn || wn->type == SL_CFG_NULL) {
		memcpy(s->weight, default_weights, sizeof(s->weight));
	} else if (wn->type != SL_CFG_MAP) {
		return sl_diag_error(
		    d, wn->pos,
		    "step '%s': weights: expected a map like {completeness: 0.3, "
		    "validity: 0.3, accuracy: 0.1, consistency: 0.2, timeliness: 0.1}",
		    n->name);
	} else {
		int rc = 0;
		for (uint32_t i = 0; i < wn->n; i++) {
			const struct sl_cfg_node *k = wn->keys[i];
			int dim = -1;
			for (int q = 0; q < N_DIMS; q++)
				if (strcmp(k->str, dim_names[q]) == 0)
					dim = q;
			if (dim < 0) {
				const char *near = sl_cfg_suggest(k->str, k->len, dim_names);
				rc = sl_diag_error(
				    d, k->pos, "step '%s': weights: unknown dimension '%s'%s%s%s",
				    n->name, k->str, near ? " (did you mean '" : "",
				    near ? near : "", near ? "'?)" : "");
				continue;
			}
			double v;
			if (sl_cfg_as_double(wn->vals[i], k->str, &v, d) < 0) {
				rc = -EINVAL;
				continue;
			}
			if (v < 0) {
				rc = sl_diag_error(d, wn->vals[i]->pos,
						   "step '%s': weights.%s: must be >= 0", n->name,
						   k->str);
				continue;
			}
			s->weight[dim] = v;
		}
		if (rc < 0)
			return rc;
	}
	for (int q = 0; q < N_DIMS; q++)
		s->weight_sum += s->weight[q];
	if (!(s->weight_sum > 0))
		return sl_diag_error(d, wn ? wn->pos : n->pos,
				     "step '%s': weights: at least one must be > 0", n->name);
	return 0;
}

static int quality_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct quality_conf *c = n->conf;
	const struct sl_node *in = sl_node_input(job, n, 0);
	const struct sl_schema *is = &in->schema;
	struct quality_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	sl_node_inherit(job, n);
	s->n_in = is->n_fields;
	s->fresh_ms = c->fresh_ms;
	s->stale_ms = c->stale_ms;
	int rc = 0;
	if (c->stale_ms <= c->fresh_ms)
		rc = sl_diag_error(d, sl_node_pos_of(n, "stale"),
				   "step '%s': stale (%lld ms) must be longer than fresh (%lld ms)",
				   n->name, (long long)c->stale_ms, (long long)c->fresh_ms);
	if (c->key.n > SL_MAX_KEYS)
		rc = sl_diag_error(d, sl_node_pos_of(n, "key"),
				   "step '%s': key: at most %u columns", n->name, SL_MAX_KEYS);
	else if (c->key.n) {
		char what[SL_NAME_MAX + 32];
		snprintf(what, sizeof(what), "step '%s': key", n->name);
		if (sl_node_resolve_cols(is, &c->key, n, "key", what, s->key_cols, d) < 0)
			rc = -EINVAL;
		s->n_keys = c->key.n;
		bool same = in->is_exchange && in->n_part == c->key.n;
		for (uint32_t k = 0; same && k < c->key.n; k++)
			same = strcmp(in->part[k], c->key.v[k]) == 0;
		s->hash_src = same ? in : NULL;
	}
	if (prepare_roles(n, s, is, c->fields, d) < 0)
		rc = -EINVAL;
	if (has_key(n, "required")) {
		if (c->required.n > SL_MAX_COLS) {
			rc = sl_diag_error(d, sl_node_pos_of(n, "required"),
					   "step '%s': required: too many columns", n->name);
		} else {
			char what[SL_NAME_MAX + 32];
			snprintf(what, sizeof(what), "step '%s': required", n->name);
			if (sl_node_resolve_cols(is, &c->required, n, "required", what, s->required,
						 d) < 0)
				rc = -EINVAL;
			s->n_required = c->required.n;
		}
	} else {
		for (int r = 0; r < N_ROLES; r++)
			if (s->role_col[r] >= 0)
				s->required[s->n_required++] = (uint32_t)s->role_col[r];
	}
	s->time_col = -1;
	if (c->time) {
		s->time_col = find_col(n, is, c->time, "time", sl_node_pos_of(n, "time"), d);
		if (s->time_col < 0) {
			rc = -EINVAL;
		} else {
			s->time_type = is->fields[s->time_col].type;
			if (s->time_type != SL_T_TIMESTAMP && s->time_type != SL_T_DATE &&
			    s->time_type != SL_T_BIGINT)
				rc = sl_diag_error(d, sl_node_pos_of(n, "time"),
						   "step '%s': time: column '%s' is %s; expected "
						   "TIMESTAMP, DATE or BIGINT (epoch ms)",
						   n->name, c->time, sl_type_name(s->time_type));
		}
	}
	s->birth_col = s->gender_col = -1;
	if (c->birth_date) {
		s->birth_col = find_col(n, is, c->birth_date, "birth_date",
					sl_node_pos_of(n, "birth_date"), d);
		rc = s->birth_col < 0 ? -EINVAL : rc;
	} else {
		s->birth_col = sl_schema_find(is, "birth_date");
	}
	if (s->birth_col >= 0) {
		s->birth_type = is->fields[s->birth_col].type;
		if (s->birth_type != SL_T_DATE && s->birth_type != SL_T_TIMESTAMP &&
		    s->birth_type != SL_T_STRING)
			rc = sl_diag_error(
			    d, sl_node_pos_of(n, c->birth_date ? "birth_date" : "from"),
			    "step '%s': birth_date: column '%s' is %s; expected DATE, "
			    "TIMESTAMP or STRING",
			    n->name, is->fields[s->birth_col].name, sl_type_name(s->birth_type));
	}
	if (c->gender) {
		s->gender_col =
		    find_col(n, is, c->gender, "gender", sl_node_pos_of(n, "gender"), d);
		rc = s->gender_col < 0 ? -EINVAL : rc;
	} else {
		s->gender_col = sl_schema_find(is, "gender");
	}
	if (s->gender_col >= 0 && is->fields[s->gender_col].type != SL_T_STRING)
		rc = sl_diag_error(d, sl_node_pos_of(n, c->gender ? "gender" : "from"),
				   "step '%s': gender: column '%s' is %s; expected STRING", n->name,
				   is->fields[s->gender_col].name,
				   sl_type_name(is->fields[s->gender_col].type));
	s->accuracy = s->birth_col >= 0 || s->gender_col >= 0;
	if (prepare_weights(n, s, c->weights, d) < 0)
		rc = -EINVAL;
	s->out_col = n->schema.n_fields;
	for (int q = 0; q <= N_DIMS; q++) {
		const char *name = q < N_DIMS ? dim_names[q] : "quality";
		int ar = sl_schema_add(&n->schema, name, SL_T_DOUBLE, true);
		if (ar < 0)
			rc = sl_diag_error(d, n->pos, "step '%s': cannot add column '%s' (%s)",
					   n->name, name,
					   ar == -EEXIST ? "the input has a column of that name"
							 : "too many columns");
	}
	return rc;
}

static int quality_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	const struct quality_shared *s = ni->node->shared;
	struct quality_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->drop = mi_zalloc(SL_BATCH_ROWS * sizeof(*st->drop));
	if (!st->drop)
		return -ENOMEM;
	if (s->n_keys) {
		st->table = sl_table_new(sizeof(struct prev_image));
		if (st->table)
			sl_table_set_ttl(st->table,
					 ((const struct quality_conf *)ni->node->conf)->ttl_ms, NULL,
					 NULL);
		st->keys = mi_malloc((size_t)Q_GROUP * SL_KEY_MAX_BYTES);
		if (!st->table || !st->keys)
			return -ENOMEM;
	}
	return 0;
}

static void quality_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct quality_state *st = ni->state;
	if (!st)
		return;
	if (st->table)
		sl_table_free(st->table);
	mi_free(st->keys);
	mi_free(st->drop);
	mi_free(st);
	ni->state = NULL;
}

/* ---- Scores of one row ---- */

/* What the rules make of one role's value. */
struct role_eval {
	bool valid;
	bool has_info; /* id holds what a valid ID number encodes */
	const char *std; /* standardised bytes (the input's own, or scratch) */
	uint32_t std_len;
	struct sl_rules_id_info id; /* ROLE_ID_NUMBER, when valid */
};

/* Runs the rule of role on v into scratch. Values too long for the rules are
 * invalid and compared as they are. */
static void eval_role(int role, const char *v, uint32_t len, int64_t today, char *scratch,
		      struct role_eval *e)
{
	if (len > SL_RULES_IN_MAX_BYTES) {
		e->valid = false;
		e->std = v;
		e->std_len = len;
		return;
	}
	struct sl_rules_result res;
	enum sl_phone_type type;
	struct sl_rules_address_info addr;
	switch (role) {
	case ROLE_NAME:
		res = sl_rules_name(v, len, scratch);
		break;
	case ROLE_PHONE:
		res = sl_rules_phone(v, len, scratch, &type);
		break;
	case ROLE_ID_NUMBER:
		res = sl_rules_id_number(v, len, scratch, today, &e->id);
		break;
	default:
		res = sl_rules_address(v, len, scratch, &addr);
		break;
	}
	e->valid = res.valid;
	e->std = scratch;
	e->std_len = res.len;
}

static inline uint64_t value_hash(const char *s, uint32_t len, bool is_null)
{
	/* 0 is null; a string's hash has its low bit set. */
	return is_null ? 0 : sl_key_hash(s, len) | 1u;
}

/* 'M', 'F', or 0 for a declared gender nobody can read. */
static char declared_gender(const char *s, uint32_t len)
{
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	static const struct {
		const char *text;
		char g;
	} forms[] = {{"m", 'M'}, {"male", 'M'},	 {"1", 'M'}, {"男", 'M'},
		     {"f", 'F'}, {"female", 'F'}, {"2", 'F'}, {"女", 'F'}};
	for (size_t i = 0; i < SL_ARRAY_LEN(forms); i++)
		if (strlen(forms[i].text) == len && strncasecmp(forms[i].text, s, len) == 0)
			return forms[i].g;
	return 0;
}

/* The declared birth date of row r in days, or false if null or unreadable. */
static bool declared_birth(const struct quality_shared *s, const struct sl_batch *in, uint32_t r,
			   int64_t *days)
{
	if (!sl_batch_is_valid(in, (uint32_t)s->birth_col, r))
		return false;
	union sl_val v = in->cols[s->birth_col].v[r];
	switch (s->birth_type) {
	case SL_T_DATE:
		*days = v.i;
		return true;
	case SL_T_TIMESTAMP:
		*days = v.i >= 0 ? v.i / 86400000ll : -((-v.i + 86399999ll) / 86400000ll);
		return true;
	default: {
		uint32_t len;
		const char *str = sl_batch_str(in, (uint32_t)s->birth_col, r, &len);
		union sl_val out;
		if (sl_value_parse(SL_T_DATE, str, len, &out) < 0)
			return false;
		*days = out.i;
		return true;
	}
	}
}

/* Change time of row r in ms, or false if unknown. */
static bool change_time(const struct quality_shared *s, const struct sl_batch *in, uint32_t r,
			int64_t *ms)
{
	if (s->time_col < 0) {
		*ms = in->event_ms[r];
		return in->event_ms[r] != INT64_MIN;
	}
	if (!sl_batch_is_valid(in, (uint32_t)s->time_col, r))
		return false;
	int64_t v = in->cols[s->time_col].v[r].i;
	*ms = s->time_type == SL_T_DATE ? v * 86400000ll : v;
	return true;
}

static double timeliness(const struct quality_shared *s, const struct sl_batch *in, uint32_t r,
			 int64_t now_ms)
{
	int64_t t;
	if (!change_time(s, in, r, &t))
		return 0;
	double age = (double)now_ms - (double)t;
	if (age <= (double)s->fresh_ms)
		return 1;
	if (age >= (double)s->stale_ms)
		return 0;
	return 1 - (age - (double)s->fresh_ms) / (double)(s->stale_ms - s->fresh_ms);
}

static bool blank(const struct sl_batch *in, uint32_t c, uint32_t r)
{
	if (!sl_batch_is_valid(in, c, r))
		return true;
	if (in->schema->fields[c].type != SL_T_STRING)
		return false;
	uint32_t len;
	const char *v = sl_batch_str(in, c, r, &len);
	return sl_rules_is_blank(v, len);
}

/* Removes the rows marked in drop from b (rare: rows whose key cannot be encoded). */
static void drop_rows(struct sl_batch *b, const bool *drop)
{
	uint32_t w = 0;
	for (uint32_t r = 0; r < b->n_rows; r++) {
		if (drop[r])
			continue;
		if (w != r) {
			for (uint32_t c = 0; c < b->n_cols; c++) {
				b->cols[c].v[w] = b->cols[c].v[r];
				sl_batch_set_valid(b, c, w, sl_batch_is_valid(b, c, r));
			}
			b->kind[w] = b->kind[r];
			b->ingest_ns[w] = b->ingest_ns[r];
			b->event_ms[w] = b->event_ms[r];
		}
		w++;
	}
	b->n_rows = w;
}

/* Row-local scores of row r: completeness, validity, accuracy; and the hashes of
 * its standardised ID number and name, for consistency. */
static void score_row(const struct quality_shared *s, struct quality_state *st,
		      const struct sl_batch *in, uint32_t r, int64_t today, double *score,
		      uint64_t *id_hash, uint64_t *name_hash)
{
	uint32_t present = 0;
	for (uint32_t i = 0; i < s->n_required; i++)
		present += !blank(in, s->required[i], r);
	score[DIM_COMPLETENESS] = s->n_required ? (double)present / s->n_required : 1;

	/* Validity, and what consistency and accuracy need from the rules. */
	struct role_eval ev[N_ROLES];
	*id_hash = *name_hash = 0;
	uint32_t valid = 0;
	for (int role = 0; role < N_ROLES; role++) {
		int c = s->role_col[role];
		if (c < 0)
			continue;
		struct role_eval *e = &ev[role];
		*e = (struct role_eval){0};
		bool is_null = !sl_batch_is_valid(in, (uint32_t)c, r);
		uint32_t len = 0;
		const char *v = is_null ? NULL : sl_batch_str(in, (uint32_t)c, r, &len);
		int vc = s->role_valid_col[role];
		bool need_info = role == ROLE_ID_NUMBER && s->accuracy;
		if (!is_null && (vc < 0 || need_info)) {
			/* Scratch is reused by the next role: hash before moving on. */
			eval_role(role, v, len, today, st->scratch, e);
			e->has_info = role == ROLE_ID_NUMBER && e->valid;
		} else {
			e->std = v;
			e->std_len = len;
		}
		/* Standardised upstream: its flag is the verdict. */
		if (vc >= 0)
			e->valid =
			    sl_batch_is_valid(in, (uint32_t)vc, r) && in->cols[vc].v[r].i != 0;
		valid += e->valid;
		if (role == ROLE_ID_NUMBER && s->n_keys)
			*id_hash = value_hash(e->std, e->std_len, is_null);
		else if (role == ROLE_NAME && s->n_keys)
			*name_hash = value_hash(e->std, e->std_len, is_null);
	}
	score[DIM_VALIDITY] = s->n_roles ? (double)valid / s->n_roles : 1;

	/* Accuracy: what the ID number encodes against what was declared. */
	uint32_t checks = 0, agree = 0;
	const struct role_eval *id = &ev[ROLE_ID_NUMBER];
	if (s->accuracy && s->role_col[ROLE_ID_NUMBER] >= 0 && id->has_info) {
		int64_t days;
		if (s->birth_col >= 0 && declared_birth(s, in, r, &days)) {
			checks++;
			agree += days == id->id.birth_days;
		}
		if (s->gender_col >= 0 && sl_batch_is_valid(in, (uint32_t)s->gender_col, r)) {
			uint32_t len;
			const char *g = sl_batch_str(in, (uint32_t)s->gender_col, r, &len);
			char dg = declared_gender(g, len);
			if (dg) {
				checks++;
				agree += dg == id->id.gender;
			}
		}
	}
	score[DIM_ACCURACY] = checks ? (double)agree / checks : 1;
}

/*
 * Consistency and timeliness of row r against the key's state: an added row
 * (+I, +U) is compared with the previous image and becomes it; a retraction
 * (-U, -D) repeats the scores its image got (-D also forgets the key).
 * Returns 0 or -ENOMEM.
 */
static int keyed_scores(const struct quality_shared *s, struct quality_state *st,
			const struct sl_batch *in, uint32_t r, const uint8_t *key, uint32_t len,
			uint64_t h, uint64_t id_hash, uint64_t name_hash, int64_t now_ms,
			double *score)
{
	double cons = 1, tl = -1;
	if (sl_kind_is_add(in->kind[r])) {
		bool created;
		struct prev_image *p = sl_table_upsert(st->table, key, len, h, &created);
		if (!p)
			return -ENOMEM;
		if (!created)
			cons =
			    1 - 0.5 * (p->id_hash != id_hash) - 0.5 * (p->name_hash != name_hash);
		tl = timeliness(s, in, r, now_ms);
		*p = (struct prev_image){id_hash, name_hash, cons, tl};
	} else {
		struct prev_image *p = sl_table_find(st->table, key, len, h);
		if (p && p->id_hash == id_hash && p->name_hash == name_hash) {
			cons = p->consistency;
			tl = p->timeliness;
		}
		if (p && in->kind[r] == SL_KIND_DELETE)
			sl_table_delete(st->table, key, len, h);
	}
	score[DIM_CONSISTENCY] = cons;
	score[DIM_TIMELINESS] = tl >= 0 ? tl : timeliness(s, in, r, now_ms);
	return 0;
}

/* The input columns pass through whole: out gets them column by column. */
static void copy_columns(struct sl_batch *out, const struct sl_batch *in, uint32_t n_in)
{
	const uint32_t n = in->n_rows, words = (n + 63) / 64;
	SL_ASSERT(in->heap_len <= out->heap_cap);
	out->n_rows = n;
	memcpy(out->kind, in->kind, n);
	memcpy(out->ingest_ns, in->ingest_ns, n * sizeof(in->ingest_ns[0]));
	memcpy(out->event_ms, in->event_ms, n * sizeof(in->event_ms[0]));
	memcpy(out->heap, in->heap, in->heap_len);
	out->heap_len = in->heap_len;
	for (uint32_t c = 0; c < n_in; c++) {
		memcpy(out->cols[c].v, in->cols[c].v, n * sizeof(union sl_val));
		memcpy(out->cols[c].valid, in->cols[c].valid, words * sizeof(uint64_t));
	}
	for (uint32_t c = n_in; c < out->n_cols; c++)
		for (uint32_t k = 0; k < words; k++)
			out->cols[c].valid[k] = ~0ull;
}

static int quality_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct quality_shared *s = ni->node->shared;
	struct quality_state *st = ni->state;
	SL_ASSERT(in->n_cols == s->n_in);
	const int64_t now_ms = sl_wall_ms();
	const int64_t today = sl_rules_today_days(now_ms);
	if (st->table)
		sl_table_tick(st->table, now_ms);
	const uint32_t n = in->n_rows;
	struct sl_batch *out = sl_worker_batch(w, &ni->node->schema);
	copy_columns(out, in, s->n_in);

	/* Groups of rows: encode and hash the group's keys and prefetch their index
	 * slots, then their entries, so the table's cache misses overlap (as
	 * aggregate does). A key_by right before us has hashed them already. */
	bool hashed = s->hash_src && in->hash_src == s->hash_src->id + 1;
	bool any_drop = false;
	int rc = 0;
	for (uint32_t g = 0; g < n && rc == 0; g += Q_GROUP) {
		uint32_t m = SL_MIN(Q_GROUP, n - g);
		uint32_t key_off[Q_GROUP], key_len[Q_GROUP];
		uint64_t hash[Q_GROUP];
		for (uint32_t i = 0, used = 0; st->table && i < m; i++) {
			int len = sl_key_encode(in, g + i, s->key_cols, s->n_keys, st->keys + used,
						Q_GROUP * SL_KEY_MAX_BYTES - used);
			key_off[i] = used;
			key_len[i] = len < 0 ? UINT32_MAX : (uint32_t)len;
			if (len < 0)
				continue;
			used += (uint32_t)len;
			hash[i] = hashed ? in->key_hash[g + i]
					 : sl_key_hash(st->keys + key_off[i], (size_t)len);
			sl_table_prefetch(st->table, hash[i]);
		}
		for (uint32_t i = 0; st->table && i < m; i++)
			if (key_len[i] != UINT32_MAX)
				sl_table_prefetch_entry(st->table, hash[i]);
		for (uint32_t i = 0; i < m && rc == 0; i++) {
			uint32_t r = g + i;
			double score[N_OUT] = {0};
			uint64_t id_hash, name_hash;
			score_row(s, st, in, r, today, score, &id_hash, &name_hash);
			if (!st->table) {
				score[DIM_CONSISTENCY] = 1;
				score[DIM_TIMELINESS] = timeliness(s, in, r, now_ms);
			} else if (key_len[i] == UINT32_MAX) {
				sl_worker_bad_row(w, ni, "key", "key longer than 4096 bytes", in,
						  r);
				st->drop[r] = any_drop = true;
				continue;
			} else {
				rc = keyed_scores(s, st, in, r, st->keys + key_off[i], key_len[i],
						  hash[i], id_hash, name_hash, now_ms, score);
			}
			double sum = 0;
			for (int q = 0; q < N_DIMS; q++)
				sum += s->weight[q] * score[q];
			score[N_DIMS] = sum / s->weight_sum;
			for (uint32_t q = 0; q < N_OUT; q++)
				out->cols[s->out_col + q].v[r].f = score[q];
		}
	}
	if (SL_UNLIKELY(any_drop)) {
		drop_rows(out, st->drop);
		memset(st->drop, 0, n * sizeof(*st->drop));
	}
	if (st->table) {
		sl_table_maybe_compact(st->table);
		sl_worker_state_bytes(ni, sl_table_bytes(st->table));
	}
	if (rc == 0 && out->n_rows)
		rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	return rc;
}

static int quality_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	struct quality_state *st = ni->state;
	if (st->table)
		sl_worker_snap_table(w, ni, st->table, out);
	return 0;
}

static void quality_written(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	(void)w;
	(void)id;
	struct quality_state *st = ni->state;
	if (st->table)
		sl_table_thaw(st->table);
}

static int quality_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *b,
			   uint32_t n)
{
	struct quality_state *st = ni->state;
	return st->table ? sl_worker_restore_table(w, st->table, b, n) : 0;
}

const struct sl_plugin sl_plugin_quality = {
	.name = "quality",
	.kind = SL_NODE_STEP,
	.summary = "score records: completeness, validity, accuracy, consistency (keyed), "
		   "timeliness, and a weighted quality",
	.options = quality_options,
	.conf_bytes = sizeof(struct quality_conf),
	.prepare = quality_prepare,
	.input_keys = quality_input_keys,
	.open = quality_open,
	.close = quality_close,
	.process = quality_process,
	.snapshot = quality_snapshot,
	.snapshot_written = quality_written,
	.restore = quality_restore,
};
