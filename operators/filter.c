/* filter: keeps the rows for which a SQL boolean expression is TRUE. */
#include <stdio.h>

#include "core/expr.h"
#include "core/job.h"
#include "core/worker.h"

struct filter_conf {
	const char *where;
};

static const struct sl_option filter_options[] = {
	{.name = "where", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct filter_conf, where),
	 .help = "SQL boolean expression over the input columns, e.g. \"phone IS NOT NULL AND "
		 "length(phone) = 11\""},
	{0},
};

static int filter_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct filter_conf *c = n->conf;
	sl_node_inherit(job, n);
	struct sl_cfg_node *where = sl_cfg_get(n->cfg, "where");
	struct sl_expr *e = sl_expr_compile(c->where, strlen(c->where), &n->schema, where->pos,
					    where->quoted, d);
	if (!e)
		return -EINVAL;
	if (sl_expr_type(e) != SL_T_BOOL && sl_expr_type(e) != SL_T_NULL) {
		sl_expr_free(e);
		return sl_diag_error(d, where->pos, "step '%s': where: expected a BOOLEAN expression, "
				     "got %s", n->name, sl_type_name(sl_expr_type(e)));
	}
	n->shared = e;
	return 0;
}

static void filter_release(struct sl_node *n)
{
	sl_expr_free(n->shared);
	n->shared = NULL;
}

static int filter_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct sl_expr *e = ni->node->shared;
	uint16_t sel[SL_BATCH_ROWS];
	uint32_t n_sel = 0, first = 0, bad;
	int rc;
	while ((rc = sl_expr_select(e, in, first, w->scratch, sel, &n_sel, &bad)) < 0) {
		sl_worker_bad_row(w, ni, "where", sl_expr_error_text(w->scratch), in, bad);
		first = bad + 1;
	}
	if (n_sel == in->n_rows)
		return sl_emit(w, ni, in);
	if (n_sel == 0)
		return 0;
	struct sl_batch *out = sl_worker_batch(w, in->schema);
	uint32_t k = sl_batch_append_rows(out, in, sel, n_sel);
	SL_ASSERT(k == n_sel); /* a subset of one batch always fits in one batch */
	out->hash_src = in->hash_src;
	rc = sl_emit(w, ni, out);
	sl_worker_put(w, out);
	return rc;
}

const struct sl_plugin sl_plugin_filter = {
	.name = "filter",
	.kind = SL_NODE_STEP,
	.summary = "keep rows where a SQL boolean expression is TRUE",
	.options = filter_options,
	.conf_bytes = sizeof(struct filter_conf),
	.prepare = filter_prepare,
	.release = filter_release,
	.process = filter_process,
};
