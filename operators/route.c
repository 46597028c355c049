/* route: named outputs selected by SQL conditions; a row goes to every output whose
 * condition holds, or to `default` when none does (the IntelligentDataRouter). */
#include <ctype.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "core/job.h"
#include "core/worker.h"

/* The implicit output of rows that matched no condition. */
#define ROUTE_DEFAULT "default"

struct route_conf {
	struct sl_cfg_node *outputs;
};

static const struct sl_option route_options[] = {
	{.name = "outputs", .type = SL_OPT_NODE, .required = true,
	 .offset = offsetof(struct route_conf, outputs),
	 .help = "ordered map of output name: SQL boolean condition; read one with from: "
		 "step.output; rows matching none go to output 'default'"},
	{0},
};

struct route_shared {
	uint32_t n_conds; /* output i < n_conds has cond[i]; output n_conds is default */
	struct sl_expr *cond[SL_MAX_PORTS];
	char where[SL_MAX_PORTS][SL_NAME_MAX + 8]; /* "outputs.NAME", for bad rows */
};

struct route_state {
	uint16_t (*sel)[SL_BATCH_ROWS]; /* [n_conds]: rows each condition selected */
	uint32_t n_sel[SL_MAX_PORTS];
	uint8_t bad[SL_BATCH_ROWS];  /* a condition failed on the row: routed nowhere */
	uint8_t hits[SL_BATCH_ROWS]; /* conditions that held */
	uint16_t rest[SL_BATCH_ROWS];
};

static bool valid_port_name(const char *s)
{
	if (!*s || strlen(s) >= SL_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
			return false;
	return true;
}

/* Before wiring: the output names, in order, then `default`. */
static int route_ports(struct sl_node *n, struct sl_diag *d)
{
	const struct route_conf *c = n->conf;
	const struct sl_cfg_node *o = c->outputs;
	if (o->type != SL_CFG_MAP || o->n == 0)
		return sl_diag_error(d, o->pos,
				     "step '%s': outputs: expected a map of name: \"condition\", e.g. "
				     "{cleaning: \"quality < 0.6\"}",
				     n->name);
	if (o->n > SL_MAX_PORTS - 1)
		return sl_diag_error(d, o->pos, "step '%s': outputs: at most %u (and default)",
				     n->name, SL_MAX_PORTS - 1);
	int rc = 0;
	n->n_ports = 0;
	for (uint32_t i = 0; i < o->n; i++) {
		const char *name = o->keys[i]->str;
		if (!valid_port_name(name))
			rc = sl_diag_error(d, o->keys[i]->pos,
					   "step '%s': output name '%s' must be 1-%u letters, digits, "
					   "'_' or '-'",
					   n->name, name, SL_NAME_MAX - 1);
		else if (strcmp(name, ROUTE_DEFAULT) == 0)
			rc = sl_diag_error(d, o->keys[i]->pos,
					   "step '%s': output 'default' is implicit (rows matching no "
					   "condition); name this one otherwise",
					   n->name);
		if (o->vals[i]->type != SL_CFG_SCALAR)
			rc = sl_diag_error(d, o->vals[i]->pos,
					   "step '%s': outputs.%s: expected a SQL condition", n->name,
					   name);
		snprintf(n->ports[n->n_ports++], SL_NAME_MAX, "%s", name);
	}
	snprintf(n->ports[n->n_ports++], SL_NAME_MAX, "%s", ROUTE_DEFAULT);
	return rc;
}

static void route_release(struct sl_node *n)
{
	struct route_shared *s = n->shared;
	for (uint32_t i = 0; s && i < s->n_conds; i++)
		sl_expr_free(s->cond[i]);
	free(s);
	n->shared = NULL;
}

static int route_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct route_conf *c = n->conf;
	const struct sl_cfg_node *o = c->outputs;
	sl_node_inherit(job, n);
	struct route_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	SL_ASSERT(o->type == SL_CFG_MAP && o->n < SL_MAX_PORTS); /* route_ports checked */
	int rc = 0;
	for (uint32_t i = 0; i < o->n; i++) {
		const struct sl_cfg_node *v = o->vals[i];
		struct sl_expr *e =
			sl_expr_compile(v->str, v->len, &n->schema, v->pos, v->quoted, d);
		s->cond[i] = e; /* condition i feeds port i */
		snprintf(s->where[i], sizeof(s->where[0]), "outputs.%s", o->keys[i]->str);
		s->n_conds = i + 1;
		if (!e)
			rc = -EINVAL;
		else if (sl_expr_type(e) != SL_T_BOOL && sl_expr_type(e) != SL_T_NULL)
			rc = sl_diag_error(d, v->pos,
					   "step '%s': outputs.%s: expected a BOOLEAN condition, got %s",
					   n->name, o->keys[i]->str, sl_type_name(sl_expr_type(e)));
	}
	return rc;
}

static int route_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	const struct route_shared *s = ni->node->shared;
	struct route_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->sel = mi_malloc(SL_MAX(s->n_conds, 1u) * sizeof(*st->sel));
	return st->sel ? 0 : -ENOMEM;
}

static void route_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct route_state *st = ni->state;
	if (!st)
		return;
	mi_free(st->sel);
	mi_free(st);
	ni->state = NULL;
}

/* Sends rows sel[0..n) of in (none of them bad) to output port. */
static int send_rows(struct sl_worker *w, struct sl_nodeinst *ni, uint32_t port,
		     struct sl_batch *in, const uint16_t *sel, uint32_t n)
{
	if (n == 0)
		return 0;
	if (n == in->n_rows) /* every row: pass the batch itself */
		return sl_emit_port(w, ni, port, in);
	struct sl_batch *out = sl_worker_batch(w, in->schema);
	uint32_t k = sl_batch_append_rows(out, in, sel, n);
	SL_ASSERT(k == n); /* a subset of one batch always fits in one batch */
	out->hash_src = in->hash_src;
	int rc = sl_emit_port(w, ni, port, out);
	sl_worker_put(w, out);
	return rc;
}

static int route_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct route_shared *s = ni->node->shared;
	struct route_state *st = ni->state;
	const uint32_t n_rows = in->n_rows;
	memset(st->bad, 0, n_rows);
	memset(st->hits, 0, n_rows);
	uint32_t n_bad = 0;
	/* Every condition on every row first: a row whose evaluation fails in
	 * any condition goes to the dead letters and to no output. */
	for (uint32_t c = 0; c < s->n_conds; c++) {
		uint32_t first = 0, bad;
		st->n_sel[c] = 0;
		while (sl_expr_select(s->cond[c], in, first, w->scratch, st->sel[c], &st->n_sel[c],
				      &bad) < 0) {
			if (!st->bad[bad]) {
				st->bad[bad] = 1;
				n_bad++;
				sl_worker_bad_row(w, ni, s->where[c], sl_expr_error_text(w->scratch),
						  in, bad);
			}
			first = bad + 1;
		}
	}
	int rc = 0;
	for (uint32_t c = 0; c < s->n_conds && rc == 0; c++) {
		uint16_t *sel = st->sel[c];
		uint32_t n = st->n_sel[c];
		for (uint32_t i = 0; i < n; i++)
			st->hits[sel[i]] = 1;
		if (n_bad) { /* drop the bad rows in place */
			uint32_t k = 0;
			for (uint32_t i = 0; i < n; i++)
				if (!st->bad[sel[i]])
					sel[k++] = sel[i];
			n = k;
		}
		rc = send_rows(w, ni, c, in, sel, n);
	}
	uint32_t n_rest = 0;
	for (uint32_t r = 0; r < n_rows; r++) {
		st->rest[n_rest] = (uint16_t)r;
		n_rest += !(st->hits[r] | st->bad[r]);
	}
	if (rc == 0)
		rc = send_rows(w, ni, s->n_conds, in, st->rest, n_rest);
	return rc;
}

const struct sl_plugin sl_plugin_route = {
	.name = "route",
	.kind = SL_NODE_STEP,
	.summary = "named outputs by SQL conditions (a row may go to several; 'default' takes "
		   "rows matching none)",
	.options = route_options,
	.conf_bytes = sizeof(struct route_conf),
	.prepare = route_prepare,
	.ports = route_ports,
	.release = route_release,
	.open = route_open,
	.close = route_close,
	.process = route_process,
};
