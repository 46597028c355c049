/* The engine: starts the workers of a job, supervises them, and reports. */
#ifndef SL_ENGINE_H
#define SL_ENGINE_H

#include <stdatomic.h>

#include "core/job.h"
#include "core/worker.h"

struct sl_restore;
struct sl_ckpt;
struct sl_ckpt_hist;

struct sl_run_opts {
	int64_t workers;          /* >0 overrides the job and the CPU count */
	bool progress;            /* live progress line on stderr (a terminal) */
	const char *summary_json; /* write the summary here at exit */
	bool quiet;               /* no human summary */
	const char *restore;      /* "latest" or a checkpoint/savepoint directory */
	/* If set: the checkpoint history at exit, oldest first (up to
	 * SL_CKPT_HISTORY entries; their count in *ckpt_history_n). */
	struct sl_ckpt_hist *ckpt_history;
	uint32_t *ckpt_history_n;
};

struct sl_summary {
	uint64_t records_in;
	uint64_t records_out;
	uint64_t bytes_in;
	uint64_t bytes_out;
	uint64_t bad_records;
	uint64_t dead_letters;
	double elapsed_s;
	double records_per_s;
	double latency_p50_us;
	double latency_p99_us;
	double latency_max_us;
	double backpressure_ratio;
	uint32_t workers;
	int64_t peak_rss_kb;
	uint64_t checkpoints;        /* completed */
	uint64_t checkpoints_failed;
	uint64_t restored_from;      /* checkpoint id restored (0: fresh start) */
	double checkpoint_stall_max_us; /* longest barrier stall of a worker */
	double checkpoint_last_ms;      /* duration of the last completed checkpoint */
	uint64_t checkpoint_last_bytes;
	bool already_complete;       /* the restored checkpoint was the job's last */
	double restore_load_ms; /* reading, checking, decompressing the checkpoint (control thread) */
	double restore_ms;      /* from the start of the restore (finding the checkpoint) until
				 * every worker restored its nodes' state and is about to run */
};

struct sl_engine {
	struct sl_job *job;
	uint32_t n_workers;
	struct sl_worker *workers;
	struct sl_ring *rings; /* [from * n + to]: DATA and EOS */
	struct sl_ring *rets;  /* [consumer * n + owner]: batches going home */
	struct sl_worker_metrics *metrics;
	struct sl_hist *latency;
	int cpus[SL_MAX_WORKERS];
	uint32_t n_cpus;
	_Atomic bool stop;
	_Atomic int failed; /* first fatal error, negative errno */
	_Atomic uint32_t n_done;
	pthread_barrier_t ready;
	char error[1536];
	pthread_mutex_t error_lock;
	int64_t start_ns;
	int64_t end_ns;

	/* Checkpoints (core/checkpoint.c); ckpt_on false: none. */
	bool ckpt_on;
	bool ckpt_aligned;          /* exactly_once: barriers block rings until aligned */
	struct sl_restore *restore; /* what workers restore at start (NULL: fresh) */
	_Atomic uint64_t ckpt_req;       /* barrier id the workers are to take */
	_Atomic uint64_t ckpt_committed; /* last published checkpoint */
	_Atomic uint32_t ckpt_acks;      /* workers done with barrier ckpt_req */
	_Atomic uint32_t n_finished;     /* workers whose every node ended */
	_Atomic bool ckpt_pause;         /* sources stay paused after this barrier */
	_Atomic bool exit_now;           /* workers leave their loops */
	struct sl_snapbuf *ckpt_snap;    /* [n_workers]: each worker's part, handed over */
	struct sl_deferred **ckpt_defer; /* [n_workers]: their deferred parts */
	uint32_t *ckpt_n_defer;          /* [n_workers] */
	_Atomic uint64_t ckpt_written;   /* last checkpoint whose deferred parts were read */
	/* Holds sources took (sl_worker_ckpt_hold): while any is taken, the
	 * coordinator declines checkpoints, naming the last node that took one. */
	_Atomic uint32_t ckpt_holds;
	_Atomic(const struct sl_node *) ckpt_hold_node;
	_Atomic(const char *) ckpt_hold_why;
	struct sl_ckpt *ckpt;            /* the coordinator */
	int64_t restore_t0_ns;           /* restore began (finding the checkpoint) */
	int64_t load_t0_ns, load_t1_ns;  /* sl_restore_load: start, end */
	int lock_fd;
};

static inline struct sl_ring *sl_engine_ring(struct sl_engine *e, uint32_t from, uint32_t to)
{
	return &e->rings[(size_t)from * e->n_workers + to];
}
static inline struct sl_ring *sl_engine_ret(struct sl_engine *e, uint32_t consumer, uint32_t owner)
{
	return &e->rets[(size_t)consumer * e->n_workers + owner];
}

/*
 * CPUs this process may run on: the affinity mask, lowered by a cgroup v2
 * cpu.max (or v1 cfs) quota. Fills cpus (up to max) and returns how many
 * workers that makes.
 */
uint32_t sl_engine_cpus(int *cpus, uint32_t max, uint32_t *n_cpus);
/* Checks that io_uring can be set up here; on failure writes an explanation
 * naming cause and fix into msg and returns the negative errno. */
int sl_engine_probe_uring(char *msg, size_t cap);
/* Runs job to completion (bounded input) or until sl_engine_request_stop.
 * Returns 0, or a negative errno with the reason logged. */
int sl_engine_run(struct sl_job *job, const struct sl_run_opts *opts, struct sl_summary *out);
/* Async-signal-safe: asks the running engine to stop (drain and exit;
 * with checkpoints: a final checkpoint, then exit). */
void sl_engine_request_stop(void);
/* The request file `sluice savepoint` leaves in the state directory (then
 * SIGUSR1 to the pid in DIR/LOCK): "NONCE STOP\n". */
#define SL_SAVEPOINT_REQUEST "_savepoint_request"
/* Records the job's first fatal error (any thread). */
void sl_engine_fail(struct sl_engine *e, int err, const char *msg);
/* Summary as one JSON object line. */
void sl_summary_write_json(const struct sl_summary *s, FILE *f);

#endif
