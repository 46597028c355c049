/* Loading a job file into a validated graph: nodes, edges, schemas, exchanges. */
#include "core/job.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "core/checkpoint.h"
#include "operators/key_by.h"

/* Nodes while building: creation order; inputs are creation indices. */
struct build {
	struct sl_job *job;
	struct sl_diag *d;
	uint32_t n;
	struct sl_node *nodes[SL_MAX_NODES];
	struct sl_cfg_node *from[SL_MAX_NODES];
	bool bad[SL_MAX_NODES]; /* its options had errors: not prepared */
};

struct sl_pos sl_node_pos_of(const struct sl_node *n, const char *key)
{
	const struct sl_cfg_node *c = n->cfg;
	if (c && c->type == SL_CFG_MAP)
		for (uint32_t i = 0; i < c->n; i++)
			if (strcmp(c->keys[i]->str, key) == 0)
				return c->vals[i]->pos;
	return n->pos;
}

int sl_node_resolve_cols(const struct sl_schema *s, const struct sl_strlist *names,
			 const struct sl_node *n, const char *key, const char *what, uint32_t *cols,
			 struct sl_diag *d)
{
	int rc = 0;
	struct sl_pos list_pos = sl_node_pos_of(n, key);
	const struct sl_cfg_node *list = NULL;
	for (uint32_t i = 0; n->cfg && n->cfg->type == SL_CFG_MAP && i < n->cfg->n; i++)
		if (strcmp(n->cfg->keys[i]->str, key) == 0)
			list = n->cfg->vals[i];
	for (uint32_t i = 0; i < names->n; i++) {
		int c = sl_schema_find(s, names->v[i]);
		struct sl_pos pos = list && list->type == SL_CFG_SEQ && i < list->n ? list->vals[i]->pos
										    : list_pos;
		if (c < 0) {
			const char *known[SL_MAX_COLS + 1];
			for (uint32_t k = 0; k < s->n_fields; k++)
				known[k] = s->fields[k].name;
			known[s->n_fields] = NULL;
			const char *near = sl_cfg_suggest(names->v[i], strlen(names->v[i]), known);
			rc = sl_diag_error(d, pos, "%s: no column '%s'%s%s%s", what, names->v[i],
					   near ? " (did you mean '" : "", near ? near : "",
					   near ? "'?)" : "");
			continue;
		}
		cols[i] = (uint32_t)c;
	}
	return rc;
}

static bool valid_name(const char *s)
{
	if (!*s || strlen(s) >= SL_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
			return false;
	return true;
}

static int find_built(struct build *b, const char *name)
{
	for (uint32_t i = 0; i < b->n; i++)
		if (strcmp(b->nodes[i]->name, name) == 0)
			return (int)i;
	return -1;
}

static struct sl_node *new_node(struct build *b, const char *name, enum sl_node_kind kind,
				struct sl_pos pos)
{
	if (b->n >= SL_MAX_NODES) {
		sl_diag_error(b->d, pos, "too many nodes (at most %u)", SL_MAX_NODES);
		return NULL;
	}
	struct sl_node *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->kind = kind;
	n->pos = pos;
	/* Until finish_graph renumbers them, job->nodes mirrors creation order
	 * so plugins can resolve inputs with sl_node_input during prepare. */
	b->job->nodes[b->n] = n;
	b->nodes[b->n++] = n;
	b->job->n_nodes = b->n;
	return n;
}

static const char *const *plugin_names(enum sl_node_kind kind, const char **buf)
{
	uint32_t k = 0;
	for (const struct sl_plugin *const *p = sl_plugins; *p; p++)
		if ((*p)->kind == kind)
			buf[k++] = (*p)->name;
	buf[k] = NULL;
	return buf;
}

static int parse_node(struct build *b, enum sl_node_kind kind, struct sl_cfg_node *key,
		      struct sl_cfg_node *val, bool implicit_from)
{
	struct sl_diag *d = b->d;
	const char *kname = sl_node_kind_name(kind);
	if (!valid_name(key->str))
		return sl_diag_error(d, key->pos,
				     "%s name '%s' must be 1-%u letters, digits, '_', '-' or '.'",
				     kname, key->str, SL_NAME_MAX - 1);
	if (find_built(b, key->str) >= 0)
		return sl_diag_error(d, key->pos,
				     "duplicate node name '%s' (sources, steps and sinks share "
				     "one namespace)",
				     key->str);
	if (val->type != SL_CFG_MAP)
		return sl_diag_error(d, val->pos, "%s '%s': expected a map of options", kname,
				     key->str);
	struct sl_node *n = new_node(b, key->str, kind, key->pos);
	if (!n)
		return -ENOMEM;
	n->cfg = val;
	const char *selector = kind == SL_NODE_STEP ? "op" : "type";
	struct sl_cfg_node *sel = sl_cfg_get(val, selector);
	struct sl_cfg_node *from =
		kind == SL_NODE_SOURCE || implicit_from ? NULL : sl_cfg_get(val, "from");
	b->from[b->n - 1] = from;
	if (kind != SL_NODE_SOURCE && !from && !implicit_from)
		sl_diag_error(d, val->pos, "%s '%s': missing 'from' (the source or step it reads)",
			      kname, key->str);
	int rc_from = (kind != SL_NODE_SOURCE && !from && !implicit_from) ? -EINVAL : 0;
	const char *names_buf[64];
	const char *const *names = plugin_names(kind, names_buf);
	const char *type = NULL;
	if (!sel) {
		/* A step reading several inputs with no op is a union. */
		if (kind == SL_NODE_STEP && from && from->type == SL_CFG_SEQ && from->n > 1) {
			type = "union";
		} else {
			char list[512] = "";
			for (const char *const *p = names; *p; p++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 p == names ? "" : ", ", *p);
			return sl_diag_error(d, val->pos, "%s '%s': missing '%s' (one of: %s)",
					     kname, key->str, selector, list);
		}
	} else if (sl_cfg_as_string(sel, selector, &type, d) < 0) {
		return -EINVAL;
	}
	n->plugin = sl_plugin_find(kind, type);
	if (!n->plugin) {
		const char *near = sl_cfg_suggest(type, strlen(type), names);
		char list[512] = "";
		for (const char *const *p = names; *p; p++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
				 p == names ? "" : ", ", *p);
		if (near)
			return sl_diag_error(d, sel->pos, "%s '%s': unknown %s '%s' (did you mean '%s'?)",
					     kname, key->str, selector, type, near);
		return sl_diag_error(d, sel->pos, "%s '%s': unknown %s '%s' (one of: %s)", kname,
				     key->str, selector, type, list);
	}
	n->conf = sl_cfg_alloc(b->job->doc, n->plugin->conf_bytes ? n->plugin->conf_bytes : 1);
	if (!n->conf)
		return -ENOMEM;
	static const char *const extra_src[] = {"type", NULL};
	static const char *const extra_step[] = {"op", "from", NULL};
	static const char *const extra_sink[] = {"type", "from", NULL};
	const char *const *extra = kind == SL_NODE_SOURCE ? extra_src
				   : kind == SL_NODE_STEP ? extra_step
							  : extra_sink;
	const char *merged[256];
	if (n->plugin->extra_keys) {
		uint32_t k = 0;
		for (const char *const *e = extra; *e && k < 250; e++)
			merged[k++] = *e;
		for (const char *const *e = n->plugin->extra_keys(val); e && *e && k < 255; e++)
			merged[k++] = *e;
		merged[k] = NULL;
		extra = merged;
	}
	char what[SL_NAME_MAX + 16];
	snprintf(what, sizeof(what), "%s '%s'", kname, key->str);
	static const struct sl_option none[] = {{0}};
	int rc = sl_options_parse(n->plugin->options ? n->plugin->options : none, b->job->doc, val,
				  what, extra, n->conf, d);
	if (rc == 0 && n->plugin->ports)
		rc = n->plugin->ports(n, d);
	return rc < 0 ? rc : rc_from;
}

static int parse_section(struct build *b, struct sl_cfg_node *root, const char *section,
			 enum sl_node_kind kind)
{
	struct sl_cfg_node *m = sl_cfg_get(root, section);
	if (!m || m->type == SL_CFG_NULL)
		return 0;
	if (m->type != SL_CFG_MAP)
		return sl_diag_error(b->d, m->pos, "'%s' must be a map of named %ss", section,
				     sl_node_kind_name(kind));
	int rc = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		uint32_t before = b->n;
		if (parse_node(b, kind, m->keys[i], m->vals[i], false) < 0) {
			rc = -EINVAL;
			if (b->n > before)
				b->bad[b->n - 1] = true;
		}
	}
	return rc;
}

/* Resolves node i's `from:` into input indices; errors go to b->d. */
static void link_one(struct build *b, uint32_t i, const char *const *known)
{
	int rc = 0;
	{
		struct sl_node *n = b->nodes[i];
		struct sl_cfg_node *from = b->from[i];
		if (!from || !n->plugin)
			return;
		struct sl_cfg_node *items[SL_MAX_INPUTS];
		uint32_t k = 0;
		if (from->type == SL_CFG_SCALAR) {
			items[k++] = from;
		} else if (from->type == SL_CFG_SEQ && from->n > 0) {
			if (from->n > SL_MAX_INPUTS) {
				rc = sl_diag_error(b->d, from->pos, "'from' lists %u inputs (at most %u)",
						   from->n, SL_MAX_INPUTS);
				return;
			}
			for (uint32_t j = 0; j < from->n; j++)
				items[k++] = from->vals[j];
		} else {
			rc = sl_diag_error(b->d, from->pos,
					   "'from' must name a source or step, or list several");
			return;
		}
		if (k > 1 && n->plugin != sl_plugin_find(SL_NODE_STEP, "union")) {
			rc = sl_diag_error(b->d, from->pos,
					   "%s '%s' reads one input; to merge several use a step "
					   "with op: union",
					   sl_node_kind_name(n->kind), n->name);
			return;
		}
		for (uint32_t j = 0; j < k; j++) {
			if (items[j]->type != SL_CFG_SCALAR) {
				rc = sl_diag_error(b->d, items[j]->pos, "'from' items must be names");
				continue;
			}
			int src = find_built(b, items[j]->str);
			int port = 0;
			const char *dot = strrchr(items[j]->str, '.');
			if (src < 0 && dot) {
				/* `from: route.output`: a named output of a node. */
				char base[SL_NAME_MAX];
				size_t bl = (size_t)(dot - items[j]->str);
				if (bl < sizeof(base)) {
					memcpy(base, items[j]->str, bl);
					base[bl] = '\0';
					src = find_built(b, base);
				}
				if (src >= 0) {
					const struct sl_node *sn = b->nodes[src];
					port = -1;
					for (uint32_t q = 0; q < sn->n_ports; q++)
						if (strcmp(sn->ports[q], dot + 1) == 0)
							port = (int)q;
					if (port < 0) {
						char list[SL_MAX_PORTS * (SL_NAME_MAX + 2)] = "";
						for (uint32_t q = 0; q < sn->n_ports; q++)
							snprintf(list + strlen(list), sizeof(list) - strlen(list),
								 "%s%s", q ? ", " : "", sn->ports[q]);
						rc = sl_diag_error(b->d, items[j]->pos,
								   "'%s' has no output '%s'%s%s%s", base,
								   dot + 1, sn->n_ports ? " (outputs: " : "",
								   list, sn->n_ports ? ")" : "");
						continue;
					}
				}
			} else if (src >= 0 && b->nodes[src]->n_ports > 0) {
				rc = sl_diag_error(b->d, items[j]->pos,
						   "'%s' has named outputs: read one, e.g. from: %s.%s",
						   items[j]->str, items[j]->str, b->nodes[src]->ports[0]);
				continue;
			}
			if (src < 0) {
				const char *near = sl_cfg_suggest(items[j]->str, items[j]->len, known);
				rc = sl_diag_error(b->d, items[j]->pos,
						   "'from: %s' names no source or step%s%s%s",
						   items[j]->str, near ? " (did you mean '" : "",
						   near ? near : "", near ? "'?)" : "");
				continue;
			}
			if (b->nodes[src]->kind == SL_NODE_SINK) {
				rc = sl_diag_error(b->d, items[j]->pos,
						   "'from: %s' names a sink; sinks produce nothing",
						   items[j]->str);
				continue;
			}
			if ((uint32_t)src == i) {
				rc = sl_diag_error(b->d, items[j]->pos, "'%s' reads from itself",
						   n->name);
				continue;
			}
			for (uint32_t q = 0; q < n->n_inputs; q++)
				if (n->inputs[q] == (uint32_t)src && n->in_port[q] == port) {
					rc = sl_diag_error(b->d, items[j]->pos,
							   "'from' lists '%s' twice", items[j]->str);
					src = -1;
					break;
				}
			if (src >= 0) {
				n->in_port[n->n_inputs] = (uint8_t)port;
				n->inputs[n->n_inputs++] = (uint32_t)src;
			}
		}
	}
	(void)rc;
}

/*
 * `dead_letter: {type: file, path: dlq/}`: a sink (any sink type, without
 * `from`) fed by the internal dead_letter source, which workers fill with
 * the records that could not be read or failed a step.
 */
static int parse_dead_letter(struct build *b, struct sl_cfg_node *root)
{
	struct sl_cfg_node *v = sl_cfg_get(root, "dead_letter");
	if (!v || v->type == SL_CFG_NULL)
		return 0;
	if (v->type != SL_CFG_MAP)
		return sl_diag_error(b->d, v->pos,
				     "dead_letter: expected a sink, e.g. {type: file, path: dlq/}");
	int taken = find_built(b, "dead_letter");
	if (taken >= 0)
		return sl_diag_error(b->d, b->nodes[taken]->pos,
				     "the name 'dead_letter' is reserved for the dead-letter source");
	struct sl_node *src = new_node(b, "dead_letter", SL_NODE_SOURCE, v->pos);
	if (!src)
		return -ENOMEM;
	src->plugin = sl_plugin_find(SL_NODE_SOURCE, "dead_letter");
	src->conf = sl_cfg_alloc(b->job->doc, 1);
	uint32_t src_idx = b->n - 1;
	/* The sink's name is fixed; its position is the dead_letter key's. */
	struct sl_cfg_node key = {.type = SL_CFG_SCALAR, .pos = v->pos, .str = "dead_letter.sink"};
	key.len = strlen(key.str);
	for (uint32_t i = 0; i < root->n; i++)
		if (strcmp(root->keys[i]->str, "dead_letter") == 0)
			key.pos = root->keys[i]->pos;
	uint32_t before = b->n;
	int rc = parse_node(b, SL_NODE_SINK, &key, v, true);
	if (b->n > before) {
		struct sl_node *sink = b->nodes[b->n - 1];
		sink->inputs[0] = src_idx;
		sink->n_inputs = 1;
		if (rc < 0)
			b->bad[b->n - 1] = true;
	}
	return rc;
}

/* Wires every node; a node whose `from:` had errors is marked bad. */
static void link_inputs(struct build *b)
{
	const char *known[SL_MAX_NODES + 1];
	for (uint32_t i = 0; i < b->n; i++)
		known[i] = b->nodes[i]->name;
	known[b->n] = NULL;
	for (uint32_t i = 0; i < b->n; i++) {
		unsigned errors_before = b->d->n_errors;
		link_one(b, i, known);
		if (b->d->n_errors != errors_before)
			b->bad[i] = true;
	}
}

/* Kahn's algorithm over creation indices; order[] gets the topological
 * order. Returns the number ordered (< b->n when there is a cycle). */
static uint32_t topo_order(struct build *b, uint32_t *order)
{
	uint32_t indeg[SL_MAX_NODES] = {0};
	for (uint32_t i = 0; i < b->n; i++)
		indeg[i] = b->nodes[i]->n_inputs;
	uint32_t k = 0;
	for (uint32_t i = 0; i < b->n; i++)
		if (indeg[i] == 0)
			order[k++] = i;
	for (uint32_t h = 0; h < k; h++) {
		uint32_t u = order[h];
		for (uint32_t v = 0; v < b->n; v++)
			for (uint32_t q = 0; q < b->nodes[v]->n_inputs; q++)
				if (b->nodes[v]->inputs[q] == u && --indeg[v] == 0)
					order[k++] = v;
	}
	return k;
}

static struct sl_node *insert_key_by(struct build *b, uint32_t consumer,
				     const struct sl_strlist *keys)
{
	struct sl_node *c = b->nodes[consumer];
	char name[SL_NAME_MAX];
	snprintf(name, sizeof(name), "%.*s.key_by", (int)(SL_NAME_MAX - 8), c->name);
	struct sl_node *x = new_node(b, name, SL_NODE_STEP, c->pos);
	if (!x)
		return NULL;
	x->plugin = sl_plugin_find(SL_NODE_STEP, "key_by");
	struct sl_key_by_conf *kc = sl_cfg_alloc(b->job->doc, sizeof(*kc));
	if (!kc)
		return NULL;
	kc->key = *keys;
	x->conf = kc;
	x->n_inputs = 1;
	x->inputs[0] = c->inputs[0];
	x->in_port[0] = c->in_port[0];
	c->inputs[0] = b->n - 1;
	c->in_port[0] = 0;
	return x;
}

static bool partitioned_by(const struct sl_node *n, const struct sl_strlist *keys)
{
	if (n->n_part != keys->n)
		return false;
	for (uint32_t i = 0; i < keys->n; i++)
		if (strcmp(n->part[i], keys->v[i]) != 0)
			return false;
	return true;
}

static int prepare_all(struct build *b)
{
	uint32_t order[SL_MAX_NODES];
	uint32_t k = topo_order(b, order);
	if (k < b->n) {
		bool in_order[SL_MAX_NODES] = {false};
		for (uint32_t i = 0; i < k; i++)
			in_order[order[i]] = true;
		for (uint32_t i = 0; i < b->n; i++)
			if (!in_order[i])
				sl_diag_error(b->d, b->nodes[i]->pos,
					      "'%s' is part of a cycle: a job is a graph without "
					      "loops",
					      b->nodes[i]->name);
		return -EINVAL;
	}
	int rc = 0;
	bool failed[SL_MAX_NODES] = {false};
	memcpy(failed, b->bad, sizeof(failed));
	for (uint32_t h = 0; h < k; h++) {
		uint32_t i = order[h];
		struct sl_node *n = b->nodes[i];
		if (failed[i])
			continue;
		bool skip = false;
		for (uint32_t q = 0; q < n->n_inputs; q++)
			skip |= failed[n->inputs[q]];
		if (skip) { /* errors upstream: the schema is unknown */
			failed[i] = true;
			continue;
		}
		const struct sl_strlist *keys =
			n->plugin->input_keys ? n->plugin->input_keys(n) : NULL;
		bool keys_exist = keys != NULL;
		for (uint32_t q = 0; keys && q < keys->n; q++)
			keys_exist &= sl_schema_find(&b->nodes[n->inputs[0]]->schema, keys->v[q]) >= 0;
		/* Unknown key columns: the node's own prepare reports them. */
		if (keys_exist && keys->n && !partitioned_by(b->nodes[n->inputs[0]], keys)) {
			struct sl_node *x = insert_key_by(b, i, keys);
			if (!x)
				return -ENOMEM;
			/* Prepare the new exchange now: its input is ready. */
			int xr = x->plugin->prepare(b->job, x, b->d);
			if (xr < 0) {
				failed[i] = true;
				rc = xr;
				continue;
			}
		}
		int pr = n->plugin->prepare ? n->plugin->prepare(b->job, n, b->d) : 0;
		if (pr < 0) {
			failed[i] = true;
			rc = pr;
		}
	}
	return rc;
}

static int finish_graph(struct build *b)
{
	struct sl_job *job = b->job;
	uint32_t order[SL_MAX_NODES];
	uint32_t k = topo_order(b, order);
	SL_ASSERT(k == b->n);
	uint32_t new_id[SL_MAX_NODES];
	for (uint32_t h = 0; h < k; h++)
		new_id[order[h]] = h;
	for (uint32_t h = 0; h < k; h++) {
		struct sl_node *n = b->nodes[order[h]];
		n->id = h;
		for (uint32_t q = 0; q < n->n_inputs; q++)
			n->inputs[q] = new_id[n->inputs[q]];
		n->n_outputs = 0;
		job->nodes[h] = n;
	}
	job->n_nodes = k;
	int rc = 0;
	for (uint32_t h = 0; h < k; h++) {
		struct sl_node *n = job->nodes[h];
		for (uint32_t q = 0; q < n->n_inputs; q++) {
			struct sl_node *src = job->nodes[n->inputs[q]];
			src->out_port[src->n_outputs] = n->in_port[q];
			src->outputs[src->n_outputs++] = h;
		}
		if (n->is_exchange)
			n->exchange = job->n_exchanges++;
		if (n->schema.n_fields > job->max_cols)
			job->max_cols = n->schema.n_fields;
	}
	bool has_sink = false;
	for (uint32_t h = 0; h < k; h++) {
		struct sl_node *n = job->nodes[h];
		has_sink |= n->kind == SL_NODE_SINK;
		for (uint32_t q = 0; q < n->n_ports; q++) {
			bool used = false;
			for (uint32_t k = 0; k < n->n_outputs; k++)
				used |= n->out_port[k] == q;
			if (!used)
				rc = sl_diag_error(b->d, n->pos,
						   "output '%s' of '%s' feeds nothing: read it with "
						   "from: %s.%s (rows sent there would be lost)",
						   n->ports[q], n->name, n->name, n->ports[q]);
		}
		if (n->kind != SL_NODE_SINK && n->n_outputs == 0)
			rc = sl_diag_error(b->d, n->pos,
					   "%s '%s' feeds nothing: add a sink (or a step) with "
					   "from: %s, or remove it",
					   sl_node_kind_name(n->kind), n->name, n->name);
	}
	if (!has_sink && k > 0)
		rc = sl_diag_error(b->d, (struct sl_pos){sl_cfg_name(job->doc), 1, 1},
				   "the job has no sinks: nothing would be written");
	if (job->max_cols == 0)
		job->max_cols = 1;
	/* Column pruning, from the sinks up: what each node's consumers read. */
	for (uint32_t h = k; h-- > 0;) {
		struct sl_node *n = job->nodes[h];
		for (uint32_t q = 0; q < n->n_inputs; q++) {
			struct sl_node *src = job->nodes[n->inputs[q]];
			uint64_t all = src->schema.n_fields >= 64 ? ~0ull
								  : (1ull << src->schema.n_fields) - 1;
			uint64_t u = n->plugin->uses ? n->plugin->uses(n, q, n->out_used) : all;
			src->out_used |= u & all;
		}
	}
	return rc;
}

struct sl_node *sl_job_find(struct sl_job *job, const char *name)
{
	for (uint32_t i = 0; i < job->n_nodes; i++)
		if (strcmp(job->nodes[i]->name, name) == 0)
			return job->nodes[i];
	return NULL;
}

static int parse_top(struct build *b, struct sl_cfg_node *root)
{
	struct sl_job *job = b->job;
	struct sl_diag *d = b->d;
	int rc = 0;
	struct sl_cfg_node *n;
	snprintf(job->name, sizeof(job->name), "job");
	if ((n = sl_cfg_get(root, "job"))) {
		const char *s;
		if (sl_cfg_as_string(n, "job", &s, d) < 0)
			rc = -EINVAL;
		else if (!valid_name(s))
			rc = sl_diag_error(d, n->pos,
					   "job: name '%s' must be 1-%u letters, digits, '_', '-' "
					   "or '.'",
					   s, SL_NAME_MAX - 1);
		else
			snprintf(job->name, sizeof(job->name), "%s", s);
	}
	job->workers = 0;
	if ((n = sl_cfg_get(root, "workers")) && n->type != SL_CFG_NULL) {
		if (n->type == SL_CFG_SCALAR && !n->quoted && strcmp(n->str, "auto") == 0)
			job->workers = 0;
		else if (sl_cfg_as_int64(n, "workers", 1, SL_MAX_WORKERS, &job->workers, d) < 0)
			rc = -EINVAL;
	}
	job->max_parallelism = SL_MAX_PARALLELISM_DEFAULT;
	if ((n = sl_cfg_get(root, "max_parallelism"))) {
		int64_t mp;
		if (sl_cfg_as_int64(n, "max_parallelism", 1, SL_MAX_PARALLELISM_MAX, &mp, d) < 0)
			rc = -EINVAL;
		else
			job->max_parallelism = (uint32_t)mp;
	}
	job->log_level = SL_LOG_INFO;
	if ((n = sl_cfg_get(root, "log_level"))) {
		static const char *const levels[] = {"debug", "info", "warn", "error", NULL};
		int lv;
		if (sl_cfg_as_enum(n, "log_level", levels, &lv, d) < 0)
			rc = -EINVAL;
		else
			job->log_level = (enum sl_log_level)lv;
	}
	return rc;
}

int sl_job_load(const char *path, const char *text, size_t len, char *const *sets,
		uint32_t n_sets, char **envp, struct sl_diag *d, struct sl_job **out)
{
	*out = NULL;
	struct sl_job *job = calloc(1, sizeof(*job));
	struct build *b = calloc(1, sizeof(*b));
	if (!job || !b) {
		free(job);
		free(b);
		return -ENOMEM;
	}
	b->job = job;
	b->d = d;
	job->path = path;
	job->doc = text ? sl_cfg_load_string(path, text, len, d) : sl_cfg_load_file(path, d);
	int rc = -EINVAL;
	if (!job->doc)
		goto out_fail;
	if (envp && sl_cfg_apply_env(job->doc, envp, d) < 0)
		goto out_fail;
	for (uint32_t i = 0; i < n_sets; i++)
		if (sl_cfg_set_arg(job->doc, sets[i], d) < 0)
			goto out_fail;
	struct sl_cfg_node *root = sl_cfg_root(job->doc);
	if (root->type != SL_CFG_MAP) {
		sl_diag_error(d, root->pos, "a job file is a map with keys job, sources, steps, sinks");
		goto out_fail;
	}
	parse_top(b, root);
	parse_section(b, root, "sources", SL_NODE_SOURCE);
	parse_section(b, root, "steps", SL_NODE_STEP);
	parse_section(b, root, "sinks", SL_NODE_SINK);
	parse_dead_letter(b, root);
	sl_admin_parse(job, root, d);
	sl_ckpt_parse(job, root, d);
	static const char *const top_known[] = {"job",   "workers", "max_parallelism", "log_level",
						"sources", "steps", "sinks", "dead_letter", "admin",
						"alerts", "checkpoint", "restart", "state", NULL};
	sl_cfg_unused(root, "the job file", top_known, d);
	if (b->n == 0) {
		sl_diag_error(d, root->pos, "the job has no sources");
		goto out_fail;
	}
	/* Go on after option errors: wiring and schema errors of the nodes
	 * that did parse are worth reporting in the same run. */
	link_inputs(b);
	rc = prepare_all(b);
	if (rc < 0 || d->n_errors)
		goto out_fail;
	if (finish_graph(b) < 0 || d->n_errors)
		goto out_fail;
	free(b);
	*out = job;
	return 0;
out_fail:
	free(b);
	sl_job_free(job);
	return -EINVAL;
}

void sl_job_free(struct sl_job *job)
{
	if (!job)
		return;
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		struct sl_node *n = job->nodes[i];
		if (n->plugin && n->plugin->release && n->shared)
			n->plugin->release(n);
		else
			free(n->shared);
		free(n);
	}
	if (job->doc)
		sl_cfg_free(job->doc);
	free(job);
}

void sl_node_set_part(struct sl_node *n, const struct sl_strlist *keys)
{
	SL_ASSERT(keys->n <= SL_MAX_KEYS);
	n->n_part = keys->n;
	for (uint32_t k = 0; k < keys->n; k++)
		snprintf(n->part[k], SL_NAME_MAX, "%s", keys->v[k]);
}

void sl_node_inherit(struct sl_job *job, struct sl_node *n)
{
	const struct sl_node *in = sl_node_input(job, n, 0);
	n->schema = in->schema;
	n->changelog = in->changelog;
	n->n_part = in->n_part;
	memcpy(n->part, in->part, sizeof(n->part));
}
