/* `checkpoint:` and `restart:` of the job file. */
#include <string.h>

#include "core/checkpoint.h"
#include "core/job.h"

static const char *const modes[] = {"exactly_once", "at_least_once", "none", NULL};
/* The last two are Flink's names for exponential and none. */
static const char *const strategies[] = {"fixed-delay", "exponential", "failure-rate", "none",
					 "exponential-delay", "no-restart", NULL};

const struct sl_option sl_ckpt_options[] = {
    {.name = "interval",
     .type = SL_OPT_DURATION_MS,
     .def = "1s",
     .min = 1,
     .max = 86400000,
     .offset = offsetof(struct sl_ckpt_conf, interval_ms),
     .help = "time between the start of one checkpoint and the next"},
    {.name = "dir",
     .type = SL_OPT_STRING,
     .def = "./state",
     .offset = offsetof(struct sl_ckpt_conf, dir),
     .help = "state directory: checkpoints (chk-N), savepoints (sp-N), the job's lock"},
    {.name = "mode",
     .type = SL_OPT_ENUM,
     .def = "exactly_once",
     .choices = modes,
     .offset = offsetof(struct sl_ckpt_conf, mode),
     .help = "exactly_once: aligned barriers and two-phase commit of the sinks; "
	     "at_least_once: barriers not aligned (replays may repeat rows); none: no "
	     "checkpoints"},
    {.name = "retained",
     .type = SL_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 1000,
     .offset = offsetof(struct sl_ckpt_conf, retained),
     .help = "complete checkpoints kept (savepoints are never deleted)"},
    {.name = "timeout",
     .type = SL_OPT_DURATION_MS,
     .def = "60s",
     .min = 1,
     .max = 86400000,
     .offset = offsetof(struct sl_ckpt_conf, timeout_ms),
     .help = "a checkpoint not complete by then is aborted and counted as failed"},
    {.name = "min_pause",
     .type = SL_OPT_DURATION_MS,
     .def = "0",
     .offset = offsetof(struct sl_ckpt_conf, min_pause_ms),
     .help = "least time from the end of one checkpoint to the start of the next"},
    {.name = "tolerable_failures",
     .type = SL_OPT_INT,
     .def = "3",
     .min = 0,
     .max = 1000000,
     .offset = offsetof(struct sl_ckpt_conf, tolerable_failures),
     .help = "checkpoint failures in a row the job survives; one more fails it"},
    {.name = "zstd_level",
     .type = SL_OPT_INT,
     .def = "-3",
     .min = -7,
     .max = 19,
     .offset = offsetof(struct sl_ckpt_conf, zstd_level),
     .help = "compression level of the snapshot files (negative: faster and larger; the "
	     "coordinator shares the CPUs with the workers)"},
    {0},
};

const struct sl_option sl_state_options[] = {
	{.name = "memory_budget", .type = SL_OPT_SIZE_BYTES, .def = "0",
	 .offset = offsetof(struct sl_state_conf, memory_budget),
	 .help = "keyed state all workers may hold in memory (each worker an equal share); "
		 "above it a worker's sources pause (back-pressure) until state shrinks (deletes, "
		 "ttl); 0: no limit"},
	{0},
};

const struct sl_option sl_restart_options[] = {
    {.name = "strategy",
     .type = SL_OPT_ENUM,
     .def = "fixed-delay",
     .choices = strategies,
     .offset = offsetof(struct sl_restart_conf, strategy),
     .help = "what `sluice run --supervise` does after a crash: restart after a fixed "
	     "delay, with exponential backoff, while failures per interval stay below a "
	     "rate, or not at all"},
    {.name = "attempts",
     .type = SL_OPT_INT,
     .def = "-1",
     .min = -1,
     .max = INT64_MAX,
     .offset = offsetof(struct sl_restart_conf, attempts),
     .help = "fixed-delay, exponential: restarts before giving up (-1: no limit)"},
    {.name = "delay",
     .type = SL_OPT_DURATION_MS,
     .def = "1s",
     .offset = offsetof(struct sl_restart_conf, delay_ms),
     .help = "fixed-delay, failure-rate: wait before each restart"},
    {.name = "initial_delay",
     .type = SL_OPT_DURATION_MS,
     .def = "1s",
     .offset = offsetof(struct sl_restart_conf, initial_delay_ms),
     .help = "exponential: the first wait"},
    {.name = "max_delay",
     .type = SL_OPT_DURATION_MS,
     .def = "5m",
     .offset = offsetof(struct sl_restart_conf, max_delay_ms),
     .help = "exponential: the longest wait"},
    {.name = "multiplier",
     .type = SL_OPT_DOUBLE,
     .def = "2",
     .offset = offsetof(struct sl_restart_conf, multiplier),
     .help = "exponential: each wait is the last one times this (>= 1)"},
    {.name = "reset_after",
     .type = SL_OPT_DURATION_MS,
     .def = "1h",
     .offset = offsetof(struct sl_restart_conf, reset_after_ms),
     .help = "exponential: a run that lasted this long resets the wait to initial_delay"},
    {.name = "max_failures",
     .type = SL_OPT_INT,
     .def = "3",
     .min = 1,
     .max = 1000000,
     .offset = offsetof(struct sl_restart_conf, max_failures),
     .help = "failure-rate: crashes allowed within interval; one more gives up"},
    {.name = "interval",
     .type = SL_OPT_DURATION_MS,
     .def = "5m",
     .min = 1,
     .max = INT64_MAX,
     .offset = offsetof(struct sl_restart_conf, interval_ms),
     .help = "failure-rate: the window the crashes are counted in"},
    /* Flink's spellings of the same (no default: they only override). */
    {.name = "initial-backoff", .type = SL_OPT_DURATION_MS,
     .offset = offsetof(struct sl_restart_conf, initial_delay_ms),
     .help = "Flink's name of initial_delay"},
    {.name = "max-backoff", .type = SL_OPT_DURATION_MS,
     .offset = offsetof(struct sl_restart_conf, max_delay_ms), .help = "Flink's name of max_delay"},
    {.name = "backoff-multiplier", .type = SL_OPT_DOUBLE,
     .offset = offsetof(struct sl_restart_conf, multiplier), .help = "Flink's name of multiplier"},
    {.name = "reset-backoff-threshold", .type = SL_OPT_DURATION_MS,
     .offset = offsetof(struct sl_restart_conf, reset_after_ms),
     .help = "Flink's name of reset_after"},
    {.name = "max-failures-per-interval", .type = SL_OPT_INT, .min = 1, .max = 1000000,
     .offset = offsetof(struct sl_restart_conf, max_failures),
     .help = "Flink's name of max_failures"},
    {.name = "failure-rate-interval", .type = SL_OPT_DURATION_MS, .min = 1, .max = INT64_MAX,
     .offset = offsetof(struct sl_restart_conf, interval_ms), .help = "Flink's name of interval"},
    {0},
};

int sl_ckpt_parse(struct sl_job *job, struct sl_cfg_node *root, struct sl_diag *d)
{
	int rc = 0;
	job->ckpt = NULL;
	struct sl_cfg_node *n = sl_cfg_get(root, "checkpoint");
	if (n && n->type != SL_CFG_NULL) {
		struct sl_ckpt_conf *c = sl_cfg_alloc(job->doc, sizeof(*c));
		if (!c)
			return -ENOMEM;
		c->pos = n->pos;
		if (n->type != SL_CFG_MAP)
			rc = sl_diag_error(d, n->pos,
					   "checkpoint: expected a map, e.g. {interval: 1s, dir: "
					   "./state, mode: exactly_once}");
		else if (sl_options_parse(sl_ckpt_options, job->doc, n, "checkpoint", NULL, c, d) <
			 0)
			rc = -EINVAL;
		else if (!c->dir[0])
			rc = sl_diag_error(d, n->pos, "checkpoint.dir: empty");
		else if (c->mode != SL_CKPT_NONE)
			job->ckpt = c;
	}
	struct sl_state_conf *sc = sl_cfg_alloc(job->doc, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	job->state = sc;
	n = sl_cfg_get(root, "state");
	if (n && n->type != SL_CFG_MAP && n->type != SL_CFG_NULL)
		rc = sl_diag_error(d, n->pos, "state: expected a map, e.g. {memory_budget: 4GiB}");
	else if (sl_options_parse(sl_state_options, job->doc, n, "state", NULL, sc, d) < 0)
		rc = -EINVAL;
	struct sl_restart_conf *r = sl_cfg_alloc(job->doc, sizeof(*r));
	if (!r)
		return -ENOMEM;
	job->restart = r;
	n = sl_cfg_get(root, "restart");
	if (n && n->type != SL_CFG_MAP && n->type != SL_CFG_NULL)
		return sl_diag_error(d, n->pos,
				     "restart: expected a map, e.g. {strategy: fixed-delay, "
				     "attempts: 10, delay: 5s}");
	if (sl_options_parse(sl_restart_options, job->doc, n, "restart", NULL, r, d) < 0)
		return -EINVAL;
	if (r->strategy == 4)
		r->strategy = SL_RESTART_EXPONENTIAL;
	else if (r->strategy == 5)
		r->strategy = SL_RESTART_NONE;
	if (rc < 0)
		return rc;
	if (r->multiplier < 1) {
		struct sl_cfg_node *m = n ? sl_cfg_get(n, "multiplier") : NULL;
		rc = sl_diag_error(d, m ? m->pos : root->pos, "restart.multiplier: must be >= 1");
	}
	return rc;
}
