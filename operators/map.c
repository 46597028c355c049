/* map: computes output columns from SQL expressions (project, rename, cast, functions). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "core/job.h"
#include "core/worker.h"

struct map_conf {
	struct sl_cfg_node *fields;
};

static const struct sl_option map_options[] = {
	{.name = "fields", .type = SL_OPT_NODE, .required = true,
	 .offset = offsetof(struct map_conf, fields),
	 .help = "output columns in order: a map name: \"SQL expression\", or a list of input "
		 "column names to keep"},
	{0},
};

struct map_shared {
	uint32_t n;
	struct sl_expr *expr[SL_MAX_COLS];
};

static void map_release(struct sl_node *n)
{
	struct map_shared *s = n->shared;
	for (uint32_t i = 0; s && i < s->n; i++)
		sl_expr_free(s->expr[i]);
	free(s);
	n->shared = NULL;
}

static int add_field(struct sl_node *n, struct map_shared *s, const struct sl_schema *in,
		     const char *name, struct sl_cfg_node *val, struct sl_pos name_pos,
		     struct sl_diag *d)
{
	if (val->type != SL_CFG_SCALAR)
		return sl_diag_error(d, val->pos, "step '%s': fields.%s: expected an expression",
				     n->name, name);
	struct sl_expr *e = sl_expr_compile(val->str, val->len, in, val->pos, val->quoted, d);
	if (!e)
		return -EINVAL;
	s->expr[s->n++] = e;
	enum sl_type t = sl_expr_type(e);
	int rc = sl_schema_add(&n->schema, name, t == SL_T_NULL ? SL_T_STRING : t,
			       !sl_expr_nullable(e));
	if (rc == -EEXIST)
		return sl_diag_error(d, name_pos, "step '%s': column '%s' defined twice", n->name,
				     name);
	if (rc == -ENOSPC)
		return sl_diag_error(d, name_pos, "step '%s': more than %u columns", n->name,
				     SL_MAX_COLS);
	if (rc < 0)
		return sl_diag_error(d, name_pos, "step '%s': column name '%s' is too long",
				     n->name, name);
	/* A column passed through keeps what its type alone does not say. */
	int src = sl_expr_column(e);
	if (src >= 0) {
		struct sl_field *f = &n->schema.fields[n->schema.n_fields - 1];
		f->precision = in->fields[src].precision;
		f->scale = in->fields[src].scale;
		f->not_null = in->fields[src].not_null;
	}
	return 0;
}

static int map_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct map_conf *c = n->conf;
	const struct sl_node *in = sl_node_input(job, n, 0);
	struct map_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	n->changelog = in->changelog;
	memset(&n->schema, 0, sizeof(n->schema));
	struct sl_cfg_node *f = c->fields;
	int rc = 0;
	if (f->type == SL_CFG_MAP) {
		for (uint32_t i = 0; i < f->n; i++)
			if (add_field(n, s, &in->schema, f->keys[i]->str, f->vals[i], f->keys[i]->pos,
				      d) < 0)
				rc = -EINVAL;
	} else if (f->type == SL_CFG_SEQ) {
		for (uint32_t i = 0; i < f->n; i++) {
			struct sl_cfg_node *v = f->vals[i];
			if (v->type != SL_CFG_SCALAR) {
				rc = sl_diag_error(d, v->pos, "step '%s': fields: expected column names",
						   n->name);
				continue;
			}
			/* A bare name in a list is a projection of that column. */
			if (sl_schema_find(&in->schema, v->str) < 0) {
				const char *known[SL_MAX_COLS + 1];
				for (uint32_t k = 0; k < in->schema.n_fields; k++)
					known[k] = in->schema.fields[k].name;
				known[in->schema.n_fields] = NULL;
				const char *near = sl_cfg_suggest(v->str, v->len, known);
				rc = sl_diag_error(d, v->pos, "step '%s': no column '%s'%s%s%s", n->name,
						   v->str, near ? " (did you mean '" : "",
						   near ? near : "", near ? "'?)" : "");
				continue;
			}
			struct sl_cfg_node ref = *v;
			ref.quoted = false;
			if (add_field(n, s, &in->schema, v->str, &ref, v->pos, d) < 0)
				rc = -EINVAL;
		}
	} else {
		rc = sl_diag_error(d, f->pos,
				   "step '%s': fields: expected a map (name: expression) or a list "
				   "of column names",
				   n->name);
	}
	if (rc == 0 && n->schema.n_fields == 0)
		rc = sl_diag_error(d, f->pos, "step '%s': fields: no columns", n->name);
	/* Partitioning survives when every key column passes through unchanged. */
	n->n_part = 0;
	bool keep = in->n_part > 0;
	for (uint32_t k = 0; keep && k < in->n_part; k++) {
		int oc = sl_schema_find(&n->schema, in->part[k]);
		int ic = sl_schema_find(&in->schema, in->part[k]);
		keep = oc >= 0 && sl_expr_column(s->expr[oc]) == ic;
	}
	if (keep) {
		n->n_part = in->n_part;
		memcpy(n->part, in->part, sizeof(n->part));
	}
	return rc;
}

static int map_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct map_shared *s = ni->node->shared;
	const struct sl_schema *os = &ni->node->schema;
	struct sl_batch *out = sl_worker_batch(w, os);
	int rc = 0;
	for (uint32_t r = 0; r < in->n_rows; r++) {
		uint32_t mark = out->heap_len;
		uint32_t o = sl_batch_begin_row(out, in->kind[r], in->ingest_ns[r], in->event_ms[r]);
		uint32_t c;
		int er = 0;
		for (c = 0; c < s->n; c++) {
			er = sl_expr_eval_to(s->expr[c], in, r, w->scratch, out, c, o);
			if (er < 0)
				break;
		}
		if (er == -ENOBUFS && out->n_rows > 0) {
			/* The heap is full: send what we have, redo this row. */
			sl_batch_rollback(out, mark);
			rc = sl_emit(w, ni, out);
			sl_batch_reset(out, os);
			r--;
			continue;
		}
		if (er < 0) {
			sl_batch_rollback(out, mark);
			char where[96];
			snprintf(where, sizeof(where), "fields.%s", os->fields[c].name);
			sl_worker_bad_row(w, ni, where,
					  er == -ENOBUFS ? "row larger than a batch"
							 : sl_expr_error_text(w->scratch),
					  in, r);
			continue;
		}
		sl_batch_commit_row(out);
	}
	if (rc == 0)
		rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	return rc;
}

const struct sl_plugin sl_plugin_map = {
	.name = "map",
	.kind = SL_NODE_STEP,
	.summary = "compute columns: project, rename, cast, arithmetic, string functions",
	.options = map_options,
	.conf_bytes = sizeof(struct map_conf),
	.prepare = map_prepare,
	.release = map_release,
	.process = map_process,
};
