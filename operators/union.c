/* union: merges several inputs with the same columns into one stream. */
#include <string.h>

#include "core/job.h"
#include "core/worker.h"

static int union_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	sl_node_inherit(job, n);
	struct sl_pos pos = sl_node_pos_of(n, "from");
	int rc = 0;
	for (uint32_t i = 1; i < n->n_inputs; i++) {
		const struct sl_node *in = sl_node_input(job, n, i);
		const struct sl_node *first = sl_node_input(job, n, 0);
		if (!sl_schema_equal(&in->schema, &first->schema)) {
			char a[512] = "", b[512] = "";
			for (uint32_t k = 0; k < first->schema.n_fields; k++)
				snprintf(a + strlen(a), sizeof(a) - strlen(a), "%s%s %s", k ? ", " : "",
					 first->schema.fields[k].name,
					 sl_type_name(first->schema.fields[k].type));
			for (uint32_t k = 0; k < in->schema.n_fields; k++)
				snprintf(b + strlen(b), sizeof(b) - strlen(b), "%s%s %s", k ? ", " : "",
					 in->schema.fields[k].name,
					 sl_type_name(in->schema.fields[k].type));
			rc = sl_diag_error(d, pos,
					   "step '%s': union inputs need the same columns: '%s' has "
					   "(%s) but '%s' has (%s); add a map step to align them",
					   n->name, first->name, a, in->name, b);
		}
		n->changelog |= in->changelog;
		if (in->n_part != n->n_part || memcmp(in->part, n->part, sizeof(n->part)) != 0)
			n->n_part = 0;
	}
	return rc;
}

static int union_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	return sl_emit(w, ni, in);
}

static uint64_t union_uses(const struct sl_node *n, uint32_t input, uint64_t out_used)
{
	(void)n;
	(void)input;
	return out_used; /* same columns in and out */
}

const struct sl_plugin sl_plugin_union = {
	.uses = union_uses,
	.name = "union",
	.kind = SL_NODE_STEP,
	.summary = "merge several inputs with the same columns (from: [a, b])",
	.prepare = union_prepare,
	.process = union_process,
};
