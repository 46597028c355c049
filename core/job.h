/* A job: the validated graph of sources, steps and sinks loaded from a job file. */
#ifndef SL_JOB_H
#define SL_JOB_H

#include "core/config.h"
#include "core/log.h"
#include "core/plugin.h"
#include "core/schema.h"

struct sl_node {
	char name[SL_NAME_MAX];
	enum sl_node_kind kind;
	const struct sl_plugin *plugin;
	struct sl_cfg_node *cfg; /* NULL for nodes the job inserted */
	struct sl_pos pos;
	uint32_t id; /* index in job->nodes: topological order */
	uint32_t n_inputs;
	uint32_t inputs[SL_MAX_INPUTS];
	uint8_t in_port[SL_MAX_INPUTS]; /* which named output of the input */
	uint32_t n_outputs;
	uint32_t outputs[SL_MAX_NODES];
	uint8_t out_port[SL_MAX_NODES]; /* the named output each edge leaves from */
	/* Named outputs (a route's): downstream nodes say `from: node.port`.
	 * Nodes without any have one unnamed output. */
	uint32_t n_ports;
	char ports[SL_MAX_PORTS][SL_NAME_MAX];

	struct sl_schema schema; /* rows this node emits (sinks: their input's) */
	bool changelog;          /* may emit -U/-D rows */
	/* Rows are partitioned by these columns of schema (key_by output). */
	uint32_t n_part;
	char part[SL_MAX_KEYS][SL_NAME_MAX];

	bool is_exchange;        /* a key_by: rows cross workers here */
	bool is_dead_letter;     /* the job's dead-letter source (fed by bad records) */
	uint32_t exchange;       /* index among the job's exchanges */
	/* Columns of this node's output that some downstream node reads (bit
	 * per column): a source may leave the others null (column pruning). */
	uint64_t out_used;
	void *conf;              /* filled by the plugin's options table */
	void *shared;            /* plugin data, read-only once workers run */
};

struct sl_admin_conf;
struct sl_ckpt_conf;
struct sl_restart_conf;
struct sl_state_conf;

struct sl_job {
	struct sl_cfg_doc *doc;
	const char *path;
	char name[SL_NAME_MAX];
	int64_t workers; /* 0 = one per CPU the process may use */
	uint32_t max_parallelism;
	enum sl_log_level log_level;
	uint32_t n_nodes;
	struct sl_node *nodes[SL_MAX_NODES];
	uint32_t n_exchanges;
	uint32_t max_cols; /* widest schema: sizes the batch blocks */
	struct sl_admin_conf *admin; /* admin: and alerts: (core/admin.h), in doc */
	struct sl_ckpt_conf *ckpt;   /* checkpoint: (core/checkpoint.h); NULL: none */
	struct sl_restart_conf *restart; /* restart: (--supervise) */
	struct sl_state_conf *state;     /* state: */
};

/*
 * Loads, overrides (environment, then each "a.b=v" of sets) and validates a
 * job. On error returns -EINVAL with `FILE:LINE:COL: message` lines in d.
 * text/len: load from memory (name is then used in messages) instead of path.
 */
int sl_job_load(const char *path, const char *text, size_t len, char *const *sets,
		uint32_t n_sets, char **envp, struct sl_diag *d, struct sl_job **out);
void sl_job_free(struct sl_job *job);
struct sl_node *sl_job_find(struct sl_job *job, const char *name);
/* Input i of node n. */
static inline struct sl_node *sl_node_input(struct sl_job *job, const struct sl_node *n, uint32_t i)
{
	return job->nodes[n->inputs[i]];
}
/* Column indices of names (the list under `key` in n's config) in s;
 * reports unknown names at their own positions, with a did-you-mean. */
int sl_node_resolve_cols(const struct sl_schema *s, const struct sl_strlist *names,
			 const struct sl_node *n, const char *key, const char *what, uint32_t *cols,
			 struct sl_diag *d);
/* Position of key `key` in the node's config (or the node's position). */
struct sl_pos sl_node_pos_of(const struct sl_node *n, const char *key);

/* Marks n's output as partitioned by the columns named in keys. */
void sl_node_set_part(struct sl_node *n, const struct sl_strlist *keys);
/* For pass-through nodes: schema, changelog flag and partitioning of input 0. */
void sl_node_inherit(struct sl_job *job, struct sl_node *n);

#endif
