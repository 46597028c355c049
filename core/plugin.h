/* Plugins: sources, steps and sinks as one const struct of callbacks plus an options table. */
#ifndef SL_PLUGIN_H
#define SL_PLUGIN_H

#include "core/diag.h"
#include "core/options.h"

struct sl_job;
struct sl_node;
struct sl_worker;
struct sl_nodeinst;
struct sl_batch;
struct sl_snapbuf;
struct sl_blob;

enum sl_node_kind { SL_NODE_SOURCE, SL_NODE_STEP, SL_NODE_SINK };

/* Phases of a sink's commit (see sl_plugin.commit). */
enum { SL_COMMIT_SYNC = 0, SL_COMMIT_PUBLISH = 1 };

/* Return values of a source's poll. */
enum {
	SL_POLL_IDLE = 0, /* nothing now: wait for I/O, a timer or a wake_at (sl_worker_wake_at) */
	SL_POLL_MORE = 1, /* emitted a batch; call again */
	SL_POLL_EOF = 2,  /* this worker's part of the source is exhausted */
};

struct sl_plugin {
	const char *name; /* `type:` of sources and sinks, `op:` of steps */
	enum sl_node_kind kind;
	const char *summary; /* one line for `sluice help` */
	const struct sl_option *options;
	size_t conf_bytes; /* the struct the options table fills (node->conf) */

	/*
	 * Control thread, before start, in topological order: the inputs'
	 * schemas are final. Sets node->schema (steps and sources),
	 * node->changelog and node->part_*, compiles what the node needs into
	 * node->shared (read-only for the workers). Errors go to d.
	 */
	int (*prepare)(struct sl_job *job, struct sl_node *node, struct sl_diag *d);
	/* Keys of the node's map the plugin reads beyond its options table
	 * (e.g. the chosen format's options); NULL-terminated. */
	const char *const *(*extra_keys)(struct sl_cfg_node *map);
	/* Named outputs: called after the options are parsed, before wiring;
	 * fills node->ports / n_ports (errors to d). */
	int (*ports)(struct sl_node *node, struct sl_diag *d);
	/* Frees node->shared. NULL: shared is one malloc'd block (or NULL),
	 * and the job frees it. */
	void (*release)(struct sl_node *node);
	/* Key columns the input must be partitioned by (NULL: none). The job
	 * inserts a key_by in front when it is not. */
	const struct sl_strlist *(*input_keys)(const struct sl_node *node);

	/* Worker thread: per-worker instance (ni->state). */
	int (*open)(struct sl_worker *w, struct sl_nodeinst *ni);
	void (*close)(struct sl_worker *w, struct sl_nodeinst *ni);
	/* Steps and sinks: consume a borrowed batch (never kept past return). */
	int (*process)(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in);
	/* Sources: emit at most one batch; returns SL_POLL_*, or a negative errno
	 * that fails the job. */
	int (*poll)(struct sl_worker *w, struct sl_nodeinst *ni);
	/* Every input ended on this worker (sources: after SL_POLL_EOF or stop):
	 * emit what is left (final aggregates), flush. */
	int (*finish)(struct sl_worker *w, struct sl_nodeinst *ni);
	/* Columns of input `input` the node reads, given the columns of its own
	 * output that are used downstream (bit per column). NULL: all of them. */
	uint64_t (*uses)(const struct sl_node *node, uint32_t input, uint64_t out_used);
	/* Where a sink's output goes, for the run summary ("out/ (part-*.jsonl)"). */
	const char *(*describe)(const struct sl_node *node, char *buf, size_t cap);
	/* Periodic (at least every 100 ms while the node is live). */
	void (*tick)(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns);
	/* While another node on the worker waits for its own I/O or a retry
	 * (sl_worker_wait_io, sl_worker_pause: a sink reconnecting to a
	 * database that is down), at least every 100 ms: keep connections
	 * alive (answer a server's keepalives). Never emits, never blocks,
	 * and returns at once when the node itself is the one waiting. */
	void (*service)(struct sl_worker *w, struct sl_nodeinst *ni);

	/*
	 * Checkpoints. NULL callbacks: the node keeps nothing across restarts.
	 *
	 * snapshot (worker): the barrier reached the node (every input delivered
	 * it; sources: at a batch boundary). Buffered output goes downstream now
	 * (it belongs before the barrier); then the node appends what a restore
	 * needs to out: keyed state (tagged by key hash), source positions, a
	 * sink's pre-committed output. Called for ended nodes too.
	 */
	int (*snapshot)(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out);
	/* restore (worker, after open): the node's blobs in the checkpoint, one
	 * per worker that took it (any count); keeps what is now this worker's
	 * (its key groups, its splits). Errors fail the start. */
	int (*restore)(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *blobs,
		       uint32_t n_blobs);
	/* commit (sinks, checkpoint thread), for one worker's blob: phase
	 * SL_COMMIT_SYNC makes the pre-committed output durable, before the
	 * manifest; SL_COMMIT_PUBLISH makes it visible, after the manifest is
	 * durable. Idempotent: a restore repeats PUBLISH. 0 or a negative errno
	 * with the reason in err. */
	int (*commit)(const struct sl_node *n, const struct sl_blob *blob, int phase, char *err,
		      size_t cap);
	/* recover (sinks, control thread, before workers start, checkpointing
	 * on): removes uncommitted leftovers of earlier runs, keeping what the
	 * blobs of the restored checkpoint name (none on a fresh start). */
	int (*recover)(const struct sl_node *n, const struct sl_blob *keep, uint32_t n_keep);
	/* committed (worker): checkpoint id is complete and published; forget
	 * what it covered. */
	void (*committed)(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id);
	/* snapshot_written (worker): the coordinator is done with what this
	 * node deferred (sl_worker_snap_defer) for checkpoint id, written or
	 * failed: thaw it. */
	void (*snapshot_written)(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id);
};

/* Every built-in plugin, NULL-terminated (plugin.c: adding one is one line). */
extern const struct sl_plugin *const sl_plugins[];
const struct sl_plugin *sl_plugin_find(enum sl_node_kind kind, const char *name);
const char *sl_node_kind_name(enum sl_node_kind k);

#endif
