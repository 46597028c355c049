/* Checkpoints: configuration, the coordinator thread, the on-disk layout, restore. */
#ifndef SL_CHECKPOINT_H
#define SL_CHECKPOINT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/config.h"
#include "core/diag.h"
#include "core/options.h"
#include "state/snap.h"

struct sl_job;
struct sl_engine;

enum sl_ckpt_mode { SL_CKPT_EXACTLY_ONCE = 0, SL_CKPT_AT_LEAST_ONCE = 1, SL_CKPT_NONE = 2 };

/* `checkpoint:` of the job file. */
struct sl_ckpt_conf {
	int64_t interval_ms;
	const char *dir;
	int mode; /* enum sl_ckpt_mode */
	int64_t retained;
	int64_t timeout_ms;
	int64_t min_pause_ms;
	int64_t tolerable_failures;
	int64_t zstd_level;
	struct sl_pos pos;
};

enum sl_restart_strategy {
	SL_RESTART_FIXED_DELAY = 0,
	SL_RESTART_EXPONENTIAL = 1,
	SL_RESTART_FAILURE_RATE = 2,
	SL_RESTART_NONE = 3,
};

/* `restart:` of the job file (used by `sluice run --supervise`). */
struct sl_restart_conf {
	int strategy; /* enum sl_restart_strategy */
	int64_t attempts;     /* fixed-delay, exponential: restarts before giving up (-1: no limit) */
	int64_t delay_ms;     /* fixed-delay, failure-rate: wait before a restart */
	int64_t initial_delay_ms; /* exponential */
	int64_t max_delay_ms;     /* exponential */
	double multiplier;        /* exponential */
	int64_t reset_after_ms;   /* exponential: a run this long resets the backoff */
	int64_t max_failures;     /* failure-rate: failures allowed per interval */
	int64_t interval_ms;      /* failure-rate */
};

/* `state:` of the job file. */
struct sl_state_conf {
	int64_t memory_budget; /* bytes of keyed state over all workers; 0: no limit */
};

extern const struct sl_option sl_state_options[];
extern const struct sl_option sl_ckpt_options[];
extern const struct sl_option sl_restart_options[];

/* Parses `checkpoint:`, `restart:` and `state:` of root into the job (control thread). */
int sl_ckpt_parse(struct sl_job *job, struct sl_cfg_node *root, struct sl_diag *d);

/* ---- on-disk layout ---- */

/*
 * DIR/chk-<id>/ (checkpoints) and DIR/sp-<id>/ (savepoints), each with one
 * snapshot file per worker (w<i>.snap.zst: zstd of the worker's node
 * records) and `_manifest`, written last (temp name, fsync, rename, fsync of
 * the directory): a directory without a valid manifest is not a checkpoint.
 * DIR/LOCK is held (flock) by the running job and holds its pid.
 */
#define SL_CKPT_MANIFEST "_manifest"
#define SL_CKPT_MAX_FILES 1024u

struct sl_manifest_file {
	char name[64];
	uint64_t bytes;     /* on disk */
	uint64_t raw_bytes; /* decompressed */
	uint64_t xxh64;     /* of the bytes on disk */
};

struct sl_manifest {
	uint64_t id;
	bool savepoint;
	bool finished; /* every node had ended: the job was complete */
	bool stop;     /* taken to stop the job */
	char job[64];
	int64_t created_ms;
	int64_t duration_ms;
	uint32_t workers;
	uint32_t max_parallelism;
	char nonce[64];
	char ended[1024]; /* comma-separated nodes that had ended on every worker ("-": none) */
	uint32_t n_files;
	struct sl_manifest_file files[SL_CKPT_MAX_FILES];
};

/* Renders m as text (returns its length, or -ENOSPC). */
int sl_manifest_format(const struct sl_manifest *m, char *buf, size_t cap);
/* Parses manifest text; on error, -EINVAL and "line N: why" in err. */
int sl_manifest_parse(const char *text, size_t len, struct sl_manifest *m, char *err, size_t cap);
/* Reads DIR/_manifest of one checkpoint directory. */
int sl_manifest_read(const char *ckpt_dir, struct sl_manifest *m, char *err, size_t cap);

/* One entry of a state directory listing. */
struct sl_ckpt_entry {
	char path[4200];
	uint64_t id;
	bool savepoint;
	bool complete; /* manifest valid */
	int64_t created_ms;
	int64_t duration_ms;
	uint64_t bytes;
	bool finished;
	char nonce[64];
};

/* Lists the checkpoints and savepoints of dir, by id (caller frees *out). */
int sl_ckpt_list(const char *dir, struct sl_ckpt_entry **out, uint32_t *n);
/* The newest complete checkpoint or savepoint of dir into path; -ENOENT if none. */
int sl_ckpt_latest(const char *dir, char *path, size_t cap);

/* ---- restore ---- */

/* A checkpoint loaded for restore: every worker file read, verified and
 * decompressed, its records indexed by the job's nodes. */
struct sl_restore {
	struct sl_manifest m;
	char path[4200];
	uint32_t n_old;         /* workers that took it */
	uint8_t **raw;          /* [n_old] decompressed files */
	struct sl_blob *blobs;  /* [n_nodes * n_old]: node i's blob of old worker k at i*n_old+k */
	bool *ended;            /* [n_nodes]: ended on every worker */
};

/* Loads path for job (control thread). Errors name the file and the cause. */
int sl_restore_load(struct sl_job *job, const char *path, struct sl_restore **out, char *err,
		    size_t cap);
void sl_restore_free(struct sl_restore *r);

/* ---- the coordinator ---- */

struct sl_ckpt_stats {
	uint64_t completed;
	uint64_t failed;
	uint64_t declined; /* a source could not take part yet (not failures) */
	uint64_t restored_id; /* 0: fresh start */
	uint64_t last_id;
	int64_t last_duration_ms;
	uint64_t last_bytes;
	int64_t last_completed_ms; /* wall clock */
	uint64_t max_stall_ns; /* longest time a worker spent at a barrier */
};

/* One checkpoint attempt, for the admin API (the last SL_CKPT_HISTORY). */
#define SL_CKPT_HISTORY 64u
struct sl_ckpt_hist {
	uint64_t id;
	bool savepoint;
	bool ok;
	bool final;
	int64_t trigger_ms; /* wall clock */
	int64_t duration_ms;
	uint64_t bytes;
	uint64_t raw_bytes; /* serialized state before compression */
	uint64_t stall_ns; /* longest worker stall at its barrier */
	char nonce[64];
	char path[256];
	char error[256];
};

/* Copies the history, oldest first; returns how many. *in_progress: the id
 * being taken (0: none). */
uint32_t sl_ckpt_history(struct sl_engine *e, struct sl_ckpt_hist *out, uint32_t max,
			 uint64_t *in_progress);

/* Starts the coordinator thread of engine e (checkpointing enabled). */
int sl_ckpt_start(struct sl_engine *e);
/* Asks for a savepoint (any thread); stop: the job stops after it. */
void sl_ckpt_request_savepoint(struct sl_engine *e, const char *nonce, bool stop);
/* Workers: wake the coordinator (an ack or a finished graph). */
void sl_ckpt_notify(struct sl_engine *e);
/* Joins the coordinator; then frees it. */
void sl_ckpt_join(struct sl_engine *e);
void sl_ckpt_free(struct sl_engine *e);
void sl_ckpt_get_stats(struct sl_engine *e, struct sl_ckpt_stats *s);

/* Commits the sinks' blobs of a restored checkpoint and removes leftovers
 * (control thread, before workers start). */
int sl_ckpt_recover_sinks(struct sl_job *job, const struct sl_restore *r);

#endif
