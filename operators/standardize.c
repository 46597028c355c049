/* standardize: cleans phone numbers, ID numbers, addresses and names in place and adds,
 * per field, a validity flag, a reason code and what the value encodes (operators/rules.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/job.h"
#include "core/worker.h"
#include "operators/rules.h"

enum role { ROLE_NAME, ROLE_PHONE, ROLE_ID_NUMBER, ROLE_ADDRESS, N_ROLES };
static const char *const role_names[N_ROLES + 1] = {"name", "phone", "id_number", "address",
						    NULL};
/* Columns each role adds after <col>_valid and <col>_reason. */
#define MAX_EXTRAS 3
static const char *const role_extras[N_ROLES][MAX_EXTRAS] = {
	[ROLE_NAME] = {NULL},
	[ROLE_PHONE] = {"phone_type"},
	[ROLE_ID_NUMBER] = {"birth_date", "gender"},
	[ROLE_ADDRESS] = {"province", "city", "district"},
};
static const enum sl_type role_extra_types[N_ROLES][MAX_EXTRAS] = {
	[ROLE_PHONE] = {SL_T_STRING},
	[ROLE_ID_NUMBER] = {SL_T_DATE, SL_T_STRING},
	[ROLE_ADDRESS] = {SL_T_STRING, SL_T_STRING, SL_T_STRING},
};

struct standardize_conf {
	struct sl_cfg_node *fields;
};

static const struct sl_option standardize_options[] = {
	{.name = "fields", .type = SL_OPT_NODE, .required = true,
	 .offset = offsetof(struct standardize_conf, fields),
	 .help = "map of role: STRING column, roles name | phone | id_number | address (any "
		 "subset). Each column is replaced by its standardised value and followed (at the "
		 "end, in this order) by <col>_valid BOOLEAN and <col>_reason STRING (ok, null, "
		 "empty, bad_length, bad_char, bad_check_digit, bad_birth_date, bad_region, "
		 "converted_15, no_province, landline, bad_prefix); phone adds phone_type "
		 "(mobile/landline/invalid), id_number birth_date DATE and gender (M/F), address "
		 "province, city, district; a name the input already has becomes <col>_<name>"},
	{0},
};

struct std_role {
	enum role role;
	uint32_t col;        /* the column read and replaced */
	uint32_t valid_col;  /* <col>_valid */
	uint32_t reason_col; /* <col>_reason */
	uint32_t extra_col[MAX_EXTRAS];
};

struct standardize_shared {
	uint32_t n_in; /* input columns (the output's first n_in) */
	uint32_t n_roles;
	struct std_role roles[N_ROLES];
	int8_t role_of[SL_MAX_COLS]; /* input column -> index in roles, or -1 */
};

/* Adds column name (or <col>_<name> if the input has name) to n's schema. */
static int add_col(struct sl_node *n, const struct sl_schema *in, const char *col,
		   const char *name, enum sl_type t, bool not_null, struct sl_pos pos,
		   uint32_t *idx, struct sl_diag *d)
{
	char full[SL_NAME_MAX * 2 + 2];
	if (sl_schema_find(in, name) >= 0)
		snprintf(full, sizeof(full), "%s_%s", col, name);
	else
		snprintf(full, sizeof(full), "%s", name);
	*idx = n->schema.n_fields;
	int rc = sl_schema_add(&n->schema, full, t, not_null);
	if (rc == -EEXIST)
		return sl_diag_error(d, pos,
				     "step '%s': output column '%s' clashes with another column",
				     n->name, full);
	if (rc == -ENOSPC)
		return sl_diag_error(d, pos, "step '%s': more than %u columns", n->name,
				     SL_MAX_COLS);
	if (rc < 0)
		return sl_diag_error(d, pos, "step '%s': output column name '%s' is too long",
				     n->name, full);
	return 0;
}

static int standardize_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct standardize_conf *c = n->conf;
	const struct sl_node *in = sl_node_input(job, n, 0);
	struct standardize_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	sl_node_inherit(job, n);
	s->n_in = in->schema.n_fields;
	memset(s->role_of, -1, sizeof(s->role_of));
	struct sl_cfg_node *f = c->fields;
	if (f->type != SL_CFG_MAP || f->n == 0)
		return sl_diag_error(
		    d, f->pos,
		    "step '%s': fields: expected a map of role: column, e.g. {phone: "
		    "phone, id_number: id_number, address: address, name: name}",
		    n->name);
	int rc = 0;
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
			    "step '%s': fields: unknown role '%s'%s%s%s (roles: name, "
			    "phone, id_number, address)",
			    n->name, k->str, near ? " (did you mean '" : "", near ? near : "",
			    near ? "'?)" : "");
			continue;
		}
		const char *colname;
		if (sl_cfg_as_string(v, k->str, &colname, d) < 0) {
			rc = -EINVAL;
			continue;
		}
		uint32_t col;
		char what[SL_NAME_MAX + 32];
		snprintf(what, sizeof(what), "step '%s': fields.%s", n->name, k->str);
		/* Reported at the value itself (sl_node_resolve_cols would point at `fields`). */
		if (sl_schema_find(&in->schema, colname) < 0) {
			const char *known[SL_MAX_COLS + 1];
			for (uint32_t q = 0; q < in->schema.n_fields; q++)
				known[q] = in->schema.fields[q].name;
			known[in->schema.n_fields] = NULL;
			const char *near = sl_cfg_suggest(colname, strlen(colname), known);
			rc = sl_diag_error(d, v->pos, "%s: no column '%s'%s%s%s", what, colname,
					   near ? " (did you mean '" : "", near ? near : "",
					   near ? "'?)" : "");
			continue;
		}
		col = (uint32_t)sl_schema_find(&in->schema, colname);
		if (in->schema.fields[col].type != SL_T_STRING) {
			rc =
			    sl_diag_error(d, v->pos, "%s: column '%s' is %s, expected STRING", what,
					  colname, sl_type_name(in->schema.fields[col].type));
			continue;
		}
		if (s->role_of[col] >= 0) {
			rc = sl_diag_error(d, v->pos, "%s: column '%s' already has role %s", what,
					   colname, role_names[s->roles[s->role_of[col]].role]);
			continue;
		}
		struct std_role *sr = &s->roles[s->n_roles];
		sr->role = (enum role)role;
		sr->col = col;
		s->role_of[col] = (int8_t)s->n_roles++;
		char name[SL_NAME_MAX * 2];
		snprintf(name, sizeof(name), "%s_valid", colname);
		/* <col>_valid and <col>_reason are the column's own: no renaming. */
		int ar = sl_schema_add(&n->schema, name, SL_T_BOOL, true);
		sr->valid_col = n->schema.n_fields - 1;
		if (ar == 0) {
			snprintf(name, sizeof(name), "%s_reason", colname);
			ar = sl_schema_add(&n->schema, name, SL_T_STRING, true);
			sr->reason_col = n->schema.n_fields - 1;
		}
		if (ar < 0) {
			rc = sl_diag_error(d, v->pos,
					   "step '%s': cannot add column '%s' (%s)", n->name, name,
					   ar == -EEXIST ? "the input has one of that name"
					   : ar == -ENOSPC ? "too many columns"
							   : "name too long");
			continue;
		}
		for (int e = 0; e < MAX_EXTRAS && role_extras[role][e]; e++) {
			enum sl_type t = role_extra_types[role][e];
			/* phone_type is always set; the others are null when invalid. */
			if (add_col(n, &in->schema, colname, role_extras[role][e], t,
				    role == ROLE_PHONE, v->pos, &sr->extra_col[e], d) < 0) {
				rc = -EINVAL;
				break;
			}
		}
	}
	/* A key column whose values change is no longer a partitioning. */
	for (uint32_t k = 0; k < n->n_part; k++) {
		int pc = sl_schema_find(&in->schema, n->part[k]);
		if (pc >= 0 && s->role_of[pc] >= 0)
			n->n_part = 0;
	}
	return rc;
}

/* Copies a string into out's heap for column col; -ENOBUFS if the heap is full. */
static inline int put_str(struct sl_batch *out, uint32_t col, uint32_t o, const char *s, size_t len)
{
	return sl_batch_set_str(out, col, o, s, len) ? 0 : -ENOBUFS;
}

/* Copies a NUL-terminated constant (a reason, a type) for column col. */
static inline int put_lit(struct sl_batch *out, uint32_t col, uint32_t o, const char *s)
{
	return put_str(out, col, o, s, strlen(s));
}

/*
 * Writes the standardised role sr of row r of in to row o of out. Every value
 * gets its own bytes, even the repeated reasons and the city and district cut
 * from the address: steps downstream rely on a batch's strings adding up to at
 * most its heap (a subset of a batch always fits one batch).
 */
static int put_role(const struct std_role *sr, const struct sl_batch *in, uint32_t r,
		    struct sl_batch *out, uint32_t o, int64_t today)
{
	if (!sl_batch_is_valid(in, sr->col, r)) {
		sl_batch_set_i(out, sr->valid_col, o, 0);
		if (sr->role == ROLE_PHONE &&
		    put_lit(out, sr->extra_col[0], o, sl_rules_phone_type_name(SL_PHONE_INVALID)) < 0)
			return -ENOBUFS;
		return put_lit(out, sr->reason_col, o, sl_rules_reason_name(SL_REASON_NULL));
	}
	uint32_t len;
	const char *v = sl_batch_str(in, sr->col, r, &len);
	if (sl_rules_out_cap(len) > sl_batch_heap_free(out))
		return -ENOBUFS;
	uint32_t off = out->heap_len;
	char *p = out->heap + off;
	struct sl_rules_result res;
	enum sl_phone_type type = SL_PHONE_INVALID;
	struct sl_rules_id_info id;
	struct sl_rules_address_info addr;
	switch (sr->role) {
	case ROLE_NAME:
		res = sl_rules_name(v, len, p);
		break;
	case ROLE_PHONE:
		res = sl_rules_phone(v, len, p, &type);
		break;
	case ROLE_ID_NUMBER:
		res = sl_rules_id_number(v, len, p, today, &id);
		break;
	default:
		res = sl_rules_address(v, len, p, &addr);
		break;
	}
	SL_DASSERT(res.len <= sl_rules_out_cap(len));
	out->heap_len += res.len;
	out->cols[sr->col].v[o].s.off = off;
	out->cols[sr->col].v[o].s.len = res.len;
	sl_batch_set_valid(out, sr->col, o, true);
	sl_batch_set_i(out, sr->valid_col, o, res.valid);
	if (put_lit(out, sr->reason_col, o, sl_rules_reason_name(res.reason)) < 0)
		return -ENOBUFS;
	switch (sr->role) {
	case ROLE_PHONE:
		return put_lit(out, sr->extra_col[0], o, sl_rules_phone_type_name(type));
	case ROLE_ID_NUMBER:
		if (!res.valid)
			return 0;
		sl_batch_set_i(out, sr->extra_col[0], o, id.birth_days);
		return put_str(out, sr->extra_col[1], o, &id.gender, 1);
	case ROLE_ADDRESS:
		if (!res.valid)
			return 0;
		/* The address stays where it was written: the heap only grows. */
		if (put_lit(out, sr->extra_col[0], o, sl_rules_provinces[addr.province].name) < 0 ||
		    (addr.city_len && put_str(out, sr->extra_col[1], o, out->heap + off + addr.city_off,
					      addr.city_len) < 0) ||
		    (addr.district_len && put_str(out, sr->extra_col[2], o,
						  out->heap + off + addr.district_off,
						  addr.district_len) < 0))
			return -ENOBUFS;
		return 0;
	default:
		return 0;
	}
}

/* Row r of in as row o of out: columns copied, roles standardised. */
static int put_row(const struct standardize_shared *s, const struct sl_batch *in, uint32_t r,
		   struct sl_batch *out, uint32_t o, int64_t today)
{
	const struct sl_schema *is = in->schema;
	for (uint32_t c = 0; c < s->n_in; c++) {
		if (s->role_of[c] >= 0 || !sl_batch_is_valid(in, c, r))
			continue;
		if (is->fields[c].type == SL_T_STRING) {
			uint32_t len;
			const char *v = sl_batch_str(in, c, r, &len);
			if (put_str(out, c, o, v, len) < 0)
				return -ENOBUFS;
		} else {
			out->cols[c].v[o] = in->cols[c].v[r];
			sl_batch_set_valid(out, c, o, true);
		}
	}
	for (uint32_t i = 0; i < s->n_roles; i++)
		if (put_role(&s->roles[i], in, r, out, o, today) < 0)
			return -ENOBUFS;
	return 0;
}

static int standardize_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct standardize_shared *s = ni->node->shared;
	const struct sl_schema *os = &ni->node->schema;
	SL_ASSERT(in->n_cols == s->n_in);
	/* Once per batch: a birth date after today (China Standard Time) is wrong. */
	int64_t today = sl_rules_today_days(sl_wall_ms());
	struct sl_batch *out = sl_worker_batch(w, os);
	int rc = 0;
	for (uint32_t r = 0; r < in->n_rows; r++) {
		uint32_t mark = out->heap_len;
		uint32_t o =
		    sl_batch_begin_row(out, in->kind[r], in->ingest_ns[r], in->event_ms[r]);
		if (SL_LIKELY(put_row(s, in, r, out, o, today) == 0)) {
			sl_batch_commit_row(out);
			continue;
		}
		sl_batch_rollback(out, mark);
		if (out->n_rows > 0) {
			/* The heap is full: send what we have, redo this row. */
			rc = sl_emit(w, ni, out);
			sl_batch_reset(out, os);
			if (rc < 0)
				break;
			r--;
			continue;
		}
		sl_worker_bad_row(w, ni, "fields", "row larger than a batch once standardised", in,
				  r);
	}
	if (rc == 0)
		rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	return rc;
}

const struct sl_plugin sl_plugin_standardize = {
	.name = "standardize",
	.kind = SL_NODE_STEP,
	.summary = "clean and validate phone numbers, ID numbers, addresses and names (validity "
		   "flag and reason per field)",
	.options = standardize_options,
	.conf_bytes = sizeof(struct standardize_conf),
	.prepare = standardize_prepare,
	.process = standardize_process,
};
