/* The control plane: health, Prometheus metrics, a Flink-shaped REST API,
 * the dashboard and alert rules, served on the control thread. */
#ifndef SL_ADMIN_H
#define SL_ADMIN_H

#include "core/common.h"
#include "core/config.h"
#include "core/diag.h"
#include "core/limits.h"

struct sl_job;
struct sl_engine;

/* Default `admin: listen`. */
#define SL_ADMIN_LISTEN_DEFAULT "127.0.0.1:8081"
/* Alert rules in one job. */
#define SL_ADMIN_MAX_ALERTS 64u
/* Seconds of per-second history kept for the dashboard (10 minutes). */
#define SL_ADMIN_HISTORY 600u
/* Window of the rates and quantiles that alerts and gauges use. */
#define SL_ADMIN_WINDOW_S 10u
/* Webhook notifications waiting for delivery, attempts, request timeout. */
#define SL_ADMIN_WEBHOOK_QUEUE 64u
#define SL_ADMIN_WEBHOOK_ATTEMPTS 5u
#define SL_ADMIN_WEBHOOK_TIMEOUT_MS 5000

/* What an alert rule watches. Rates are per second over the last
 * SL_ADMIN_WINDOW_S seconds; latencies are quantiles (seconds) over the same
 * window; backpressure is the share of time sources waited. */
enum sl_alert_metric {
	SL_ALERT_LATENCY_P50,
	SL_ALERT_LATENCY_P95,
	SL_ALERT_LATENCY_P99,
	SL_ALERT_BACKPRESSURE,
	SL_ALERT_RECORDS_PER_S,
	SL_ALERT_RECORDS_OUT_PER_S,
	SL_ALERT_BYTES_IN_PER_S,
	SL_ALERT_BYTES_OUT_PER_S,
	SL_ALERT_DEAD_LETTER_RATE,
	SL_ALERT_BAD_RECORD_RATE,
	SL_ALERT_CHECKPOINT_FAILURE_RATE,
};

enum sl_alert_op { SL_ALERT_GT, SL_ALERT_GE, SL_ALERT_LT, SL_ALERT_LE, SL_ALERT_EQ, SL_ALERT_NE };

struct sl_alert_rule {
	char name[SL_NAME_MAX];
	char expr[192]; /* as written, for logs and /alerts */
	enum sl_alert_metric metric;
	enum sl_alert_op op;
	double threshold; /* in the metric's unit (seconds for latencies) */
	int64_t for_ms;	  /* true this long before firing (0: at once) */
	const char *severity;
	const char *webhook; /* URL, or NULL (owned by the job's document) */
	struct sl_pos pos;
};

/* `admin:` and `alerts:` of a job file, after validation. Lives in the job's
 * document arena. */
struct sl_admin_conf {
	bool enabled;	      /* listen is not `off` */
	bool listen_explicit; /* listen was set: failing to bind fails the job */
	const char *listen;   /* HOST:PORT */
	const char *token_file;
	int64_t linger_ms; /* keep serving the final state this long after the job ends */
	struct sl_pos pos;
	uint32_t n_rules;
	struct sl_alert_rule *rules;
};

/*
 * Validates `admin:` and `alerts:` of root and stores the result in
 * job->admin (allocated in job->doc). Errors go to d as FILE:LINE:COL lines;
 * a non-loopback listen address without token_file is one. Returns 0 or
 * -EINVAL. Control thread, while the job loads.
 */
int sl_admin_parse(struct sl_job *job, struct sl_cfg_node *root, struct sl_diag *d);

/* Parses one alert expression ("latency_p99 > 5s for 1m") into r (metric,
 * op, threshold, for_ms). Returns 0, or -EINVAL with the reason in err. */
int sl_admin_parse_rule(const char *expr, struct sl_alert_rule *r, char *err, size_t cap);

struct sl_admin;

/*
 * Starts the control plane of a running engine: listens (logging
 * `msg="admin listening" addr=HOST:PORT`), resolves webhooks. Call on the
 * control thread once the workers run. Returns the admin, or NULL when there
 * is nothing to do (admin off and no alerts) or it could not start; a
 * failure to serve an explicitly configured address fails the job through
 * sl_engine_fail. sl_admin_poll and sl_admin_stop accept NULL.
 */
struct sl_admin *sl_admin_start(struct sl_engine *e, struct sl_job *job);
/* Serves requests, samples metrics and evaluates alerts (once a second) for
 * timeout_ms; with admin NULL it just sleeps. Control thread. */
void sl_admin_poll(struct sl_admin *a, int timeout_ms);
/* After the workers ended: serves the final state for admin.linger (cut
 * short by SIGINT/SIGTERM), sends what webhooks it can within a second,
 * then closes everything. NULL is fine. Control thread. */
void sl_admin_stop(struct sl_admin *a);

#endif
