/* The control plane on the control thread: health, Prometheus metrics, a
 * Flink-shaped REST API, the dashboard, and alert rules with webhooks. It
 * reads the workers' counters and histograms (relaxed loads) and never
 * stops them. */
#include "core/admin.h"
#include "core/checkpoint.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/job.h"
#include "core/options.h"
#include "core/worker.h"
#include "io/http.h"

/* The dashboard page (core/admin_page.c). */
extern const char sl_admin_page[];
extern const size_t sl_admin_page_len;

#define NS_PER_S 1000000000ll
#define MS_NS 1000000ll
#define N_SNAPS (SL_ADMIN_WINDOW_S + 1u)
/* Latency buckets exported to Prometheus: powers of two nanoseconds, which
 * are exact bucket boundaries of the log-linear histogram: 2^10 ns
 * (1.024 us) to 2^36 ns (68.7 s). */
#define LE_LOW_BIT 10u
#define LE_HIGH_BIT 36u

/* ---- job-file parsing ---- */

struct admin_opts {
	const char *listen;
	const char *token_file;
	int64_t linger_ms;
};

static const struct sl_option admin_options[] = {
    {.name = "listen",
     .type = SL_OPT_STRING,
     .def = SL_ADMIN_LISTEN_DEFAULT,
     .offset = offsetof(struct admin_opts, listen),
     .help = "HOST:PORT of the admin HTTP server (port 0: any free port; off: no server)"},
    {.name = "token_file",
     .type = SL_OPT_STRING,
     .offset = offsetof(struct admin_opts, token_file),
     .help = "file holding a bearer token every request but /health/live must present "
	     "(required off loopback)"},
    {.name = "linger",
     .type = SL_OPT_DURATION_MS,
     .def = "0s",
     .offset = offsetof(struct admin_opts, linger_ms),
     .min = 0,
     .max = 3600000,
     .help = "keep serving the final state this long after the job ends"},
    {0},
};

enum unit { UNIT_SECONDS, UNIT_RATIO, UNIT_RATE };

static const struct {
	const char *name;
	enum sl_alert_metric metric;
	enum unit unit;
} alert_metrics[] = {
    {"latency_p50", SL_ALERT_LATENCY_P50, UNIT_SECONDS},
    {"latency_p95", SL_ALERT_LATENCY_P95, UNIT_SECONDS},
    {"latency_p99", SL_ALERT_LATENCY_P99, UNIT_SECONDS},
    {"backpressure", SL_ALERT_BACKPRESSURE, UNIT_RATIO},
    {"records_per_s", SL_ALERT_RECORDS_PER_S, UNIT_RATE},
    {"records_in_per_s", SL_ALERT_RECORDS_PER_S, UNIT_RATE},
    {"records_out_per_s", SL_ALERT_RECORDS_OUT_PER_S, UNIT_RATE},
    {"bytes_in_per_s", SL_ALERT_BYTES_IN_PER_S, UNIT_RATE},
    {"bytes_out_per_s", SL_ALERT_BYTES_OUT_PER_S, UNIT_RATE},
    {"dead_letter_rate", SL_ALERT_DEAD_LETTER_RATE, UNIT_RATE},
    {"dead_letters_per_s", SL_ALERT_DEAD_LETTER_RATE, UNIT_RATE},
    {"bad_record_rate", SL_ALERT_BAD_RECORD_RATE, UNIT_RATE},
    {"bad_records_per_s", SL_ALERT_BAD_RECORD_RATE, UNIT_RATE},
    {"checkpoint_failure_rate", SL_ALERT_CHECKPOINT_FAILURE_RATE, UNIT_RATIO},
};

static const char *metric_name(enum sl_alert_metric m)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(alert_metrics); i++)
		if (alert_metrics[i].metric == m)
			return alert_metrics[i].name;
	return "?";
}

static const char *skip_ws(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static size_t word_len(const char *p)
{
	size_t n = 0;
	while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') ||
	       (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
		n++;
	return n;
}

/* A decimal number (no sign, hex, inf or nan) at *p; advances *p. */
static bool read_number(const char **p, double *out)
{
	const char *s = *p;
	size_t n = 0;
	bool digits = false;
	while ((s[n] >= '0' && s[n] <= '9') || s[n] == '.') {
		digits |= s[n] != '.';
		n++;
	}
	if (!digits)
		return false;
	if ((s[n] == 'e' || s[n] == 'E') &&
	    ((s[n + 1] >= '0' && s[n + 1] <= '9') ||
	     ((s[n + 1] == '-' || s[n + 1] == '+') && s[n + 2] >= '0' && s[n + 2] <= '9'))) {
		n += 2;
		while (s[n] >= '0' && s[n] <= '9')
			n++;
	}
	char tmp[64];
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	char *end;
	double v = strtod(tmp, &end);
	if (*end || !isfinite(v))
		return false;
	*out = v;
	*p = s + n;
	return true;
}

/* A unit of time after a number: seconds per unit, or 0 if unknown. */
static double time_unit(const char **p, bool bare_ok)
{
	static const struct {
		const char *u;
		double s;
	} units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"\xc2\xb5s", 1e-6}, {"ms", 1e-3},
		     {"s", 1},	   {"m", 60},	 {"h", 3600},	      {"d", 86400}};
	const char *s = *p;
	size_t n = 0;
	while (s[n] && s[n] != ' ' && s[n] != '\t')
		n++;
	if (n == 0)
		return bare_ok ? 1 : 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(units); i++)
		if (strlen(units[i].u) == n && memcmp(units[i].u, s, n) == 0) {
			*p = s + n;
			return units[i].s;
		}
	return 0;
}

int sl_admin_parse_rule(const char *expr, struct sl_alert_rule *r, char *err, size_t cap)
{
	const char *p = skip_ws(expr);
	size_t wl = word_len(p);
	if (!wl) {
		snprintf(err, cap, "expected a metric name, e.g. 'latency_p99 > 5s for 1m'");
		return -EINVAL;
	}
	char name[64];
	snprintf(name, sizeof(name), "%.*s", (int)SL_MIN(wl, sizeof(name) - 1), p);
	p += wl;
	/* "dead_letter rate" reads as dead_letter_rate */
	const char *q = skip_ws(p);
	if (word_len(q) == 4 && strncmp(q, "rate", 4) == 0 && strlen(name) + 6 < sizeof(name)) {
		strcat(name, "_rate");
		p = q + 4;
	}
	int mi = -1;
	for (size_t i = 0; i < SL_ARRAY_LEN(alert_metrics); i++)
		if (strcmp(alert_metrics[i].name, name) == 0)
			mi = (int)i;
	if (mi < 0) {
		const char *known[SL_ARRAY_LEN(alert_metrics) + 1];
		for (size_t i = 0; i < SL_ARRAY_LEN(alert_metrics); i++)
			known[i] = alert_metrics[i].name;
		known[SL_ARRAY_LEN(alert_metrics)] = NULL;
		const char *near = sl_cfg_suggest(name, strlen(name), known);
		if (near)
			snprintf(err, cap, "unknown metric '%s' (did you mean '%s'?)", name, near);
		else
			snprintf(err, cap,
				 "unknown metric '%s' (one of: latency_p50, latency_p95, "
				 "latency_p99, backpressure, records_per_s, records_out_per_s, "
				 "bytes_in_per_s, bytes_out_per_s, dead_letter_rate, "
				 "bad_record_rate, checkpoint_failure_rate)",
				 name);
		return -EINVAL;
	}
	r->metric = alert_metrics[mi].metric;
	enum unit unit = alert_metrics[mi].unit;
	p = skip_ws(p);
	static const struct {
		const char *s;
		enum sl_alert_op op;
	} ops[] = {{">=", SL_ALERT_GE}, {"<=", SL_ALERT_LE}, {"==", SL_ALERT_EQ},
		   {"!=", SL_ALERT_NE}, {">", SL_ALERT_GT},  {"<", SL_ALERT_LT}};
	int oi = -1;
	for (size_t i = 0; i < SL_ARRAY_LEN(ops) && oi < 0; i++)
		if (strncmp(p, ops[i].s, strlen(ops[i].s)) == 0)
			oi = (int)i;
	if (oi < 0) {
		snprintf(err, cap, "expected a comparison (> >= < <= == !=) after '%s'", name);
		return -EINVAL;
	}
	r->op = ops[oi].op;
	p = skip_ws(p + strlen(ops[oi].s));
	double v;
	if (!read_number(&p, &v)) {
		snprintf(err, cap, "expected a number after the comparison");
		return -EINVAL;
	}
	if (unit == UNIT_SECONDS) {
		/* "5s", "5 s", or a bare 5 (seconds) before "for" or the end. */
		const char *w = skip_ws(p);
		bool bare = !*w || (word_len(w) == 3 && strncmp(w, "for", 3) == 0);
		if (!bare)
			p = w;
		double u = bare ? 1 : time_unit(&p, false);
		if (u == 0) {
			snprintf(err, cap, "latency threshold: unit must be ns, us, ms, s, m or h");
			return -EINVAL;
		}
		v *= u;
	} else if (unit == UNIT_RATIO) {
		if (*p == '%') {
			v /= 100;
			p++;
		}
		if (v > 1) {
			snprintf(err, cap, "%s is a ratio between 0 and 1 (or a percentage)", name);
			return -EINVAL;
		}
	} else if (strncmp(p, "/s", 2) == 0) {
		p += 2;
	}
	r->threshold = v;
	r->for_ms = 0;
	p = skip_ws(p);
	if (word_len(p) == 3 && strncmp(p, "for", 3) == 0) {
		p = skip_ws(p + 3);
		double d;
		if (!read_number(&p, &d)) {
			snprintf(err, cap, "expected a duration after 'for', e.g. 'for 5m'");
			return -EINVAL;
		}
		double u = time_unit(&p, false);
		if (u == 0 || d * u > 7 * 86400.0) {
			snprintf(err, cap,
				 "'for' needs a duration with a unit (ms, s, m, h) of at "
				 "most 7d");
			return -EINVAL;
		}
		r->for_ms = (int64_t)llround(d * u * 1000.0);
		p = skip_ws(p);
	}
	if (*p) {
		snprintf(err, cap, "unexpected '%.20s' at the end of the rule", p);
		return -EINVAL;
	}
	snprintf(r->expr, sizeof(r->expr), "%s", skip_ws(expr));
	return 0;
}

static bool valid_alert_name(const char *s)
{
	if (!*s || strlen(s) >= SL_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' || *p == '.'))
			return false;
	return true;
}

static int parse_webhook(struct sl_cfg_node *n, const char **out, struct sl_diag *d)
{
	const char *url;
	if (sl_cfg_as_string(n, "webhook", &url, d) < 0)
		return -EINVAL;
	struct sl_http_url u;
	char err[200];
	if (sl_http_url_parse(url, &u, err, sizeof(err)) < 0)
		return sl_diag_error(d, n->pos, "webhook: %s", err);
	*out = url;
	return 0;
}

static int parse_alerts(struct sl_job *job, struct sl_admin_conf *c, struct sl_cfg_node *n,
			struct sl_diag *d)
{
	int rc = 0;
	const char *default_webhook = NULL;
	struct sl_cfg_node *list = n;
	if (n->type == SL_CFG_MAP) {
		struct sl_cfg_node *w = sl_cfg_get(n, "webhook");
		if (w && w->type != SL_CFG_NULL && parse_webhook(w, &default_webhook, d) < 0)
			rc = -EINVAL;
		list = sl_cfg_get(n, "rules");
		static const char *const known[] = {"webhook", "rules", NULL};
		if (sl_cfg_unused(n, "alerts", known, d) < 0)
			rc = -EINVAL;
		if (!list)
			return sl_diag_error(d, n->pos,
					     "alerts: expected 'rules:' with a list of "
					     "rules");
	}
	if (list->type == SL_CFG_NULL)
		return rc;
	if (list->type != SL_CFG_SEQ)
		return sl_diag_error(d, list->pos,
				     "alerts: expected a list of rules, e.g. [\"latency_p99 > 5s "
				     "for 1m\"] (or a map with webhook and rules)");
	if (list->n > SL_ADMIN_MAX_ALERTS)
		return sl_diag_error(d, list->pos, "alerts: at most %u rules", SL_ADMIN_MAX_ALERTS);
	c->rules = sl_cfg_alloc(job->doc, (list->n + 1) * sizeof(*c->rules));
	if (!c->rules)
		return -ENOMEM;
	for (uint32_t i = 0; i < list->n; i++) {
		struct sl_cfg_node *item = list->vals[i];
		struct sl_alert_rule *r = &c->rules[c->n_rules];
		memset(r, 0, sizeof(*r));
		r->pos = item->pos;
		r->severity = "warning";
		r->webhook = default_webhook;
		struct sl_cfg_node *when = item;
		const char *explicit_name = NULL;
		if (item->type == SL_CFG_MAP) {
			struct sl_cfg_node *x;
			when = sl_cfg_get(item, "when");
			if (!when)
				when = sl_cfg_get(item, "rule");
			if ((x = sl_cfg_get(item, "name")) &&
			    sl_cfg_as_string(x, "name", &explicit_name, d) < 0)
				rc = -EINVAL;
			if (explicit_name && !valid_alert_name(explicit_name)) {
				rc =
				    sl_diag_error(d, x->pos,
						  "alerts: name '%s' must be 1-%u letters, digits, "
						  "'_', '-' or '.'",
						  explicit_name, SL_NAME_MAX - 1);
				explicit_name = NULL;
			}
			if ((x = sl_cfg_get(item, "severity")) &&
			    sl_cfg_as_string(x, "severity", &r->severity, d) < 0)
				rc = -EINVAL;
			if ((x = sl_cfg_get(item, "webhook")) && x->type != SL_CFG_NULL &&
			    parse_webhook(x, &r->webhook, d) < 0)
				rc = -EINVAL;
			static const char *const known[] = {"name",	"when",	   "rule",
							    "severity", "webhook", NULL};
			if (sl_cfg_unused(item, "an alert rule", known, d) < 0)
				rc = -EINVAL;
			if (!when) {
				rc = sl_diag_error(d, item->pos,
						   "alerts: a rule needs 'when:', e.g. when: "
						   "\"backpressure > 0.8 for 5m\"");
				continue;
			}
		}
		const char *expr;
		if (sl_cfg_as_string(when, "alert rule", &expr, d) < 0) {
			rc = -EINVAL;
			continue;
		}
		char err[256];
		if (sl_admin_parse_rule(expr, r, err, sizeof(err)) < 0) {
			rc = sl_diag_error(d, when->pos, "alert '%s': %s", expr, err);
			continue;
		}
		/* Unique names: the given one, else the metric's (_2, _3 ...). */
		const char *base = explicit_name ? explicit_name : metric_name(r->metric);
		snprintf(r->name, sizeof(r->name), "%s", base);
		for (uint32_t k = 2;; k++) {
			bool clash = false;
			for (uint32_t j = 0; j < c->n_rules; j++)
				clash |= strcmp(c->rules[j].name, r->name) == 0;
			if (!clash)
				break;
			if (explicit_name) {
				rc = sl_diag_error(d, item->pos, "alerts: duplicate rule name '%s'",
						   r->name);
				break;
			}
			snprintf(r->name, sizeof(r->name), "%.50s_%u", base, k);
		}
		c->n_rules++;
	}
	return rc;
}

int sl_admin_parse(struct sl_job *job, struct sl_cfg_node *root, struct sl_diag *d)
{
	struct sl_admin_conf *c = sl_cfg_alloc(job->doc, sizeof(*c));
	if (!c)
		return -ENOMEM;
	job->admin = c;
	c->enabled = true;
	c->listen = SL_ADMIN_LISTEN_DEFAULT;
	c->pos = root->pos;
	int rc = 0;
	struct sl_cfg_node *n = sl_cfg_get(root, "admin");
	struct sl_cfg_node *listen_node = NULL;
	if (n && n->type == SL_CFG_SCALAR && !n->quoted &&
	    (strcmp(n->str, "off") == 0 || strcmp(n->str, "false") == 0)) {
		c->enabled = false;
	} else if (n && n->type != SL_CFG_NULL) {
		c->pos = n->pos;
		if (n->type != SL_CFG_MAP) {
			rc = sl_diag_error(
			    d, n->pos,
			    "admin: expected a map, e.g. {listen: 127.0.0.1:8081}, or "
			    "off");
		} else {
			listen_node = sl_cfg_get(n, "listen");
			struct admin_opts o = {0};
			if (sl_options_parse(admin_options, job->doc, n, "admin", NULL, &o, d) <
			    0) {
				rc = -EINVAL;
			} else {
				c->listen = o.listen;
				c->token_file = o.token_file;
				c->linger_ms = o.linger_ms;
				c->listen_explicit =
				    listen_node && listen_node->type != SL_CFG_NULL;
			}
		}
	}
	if (rc == 0 && c->enabled && strcmp(c->listen, "off") == 0)
		c->enabled = false;
	if (rc == 0 && c->enabled) {
		struct sockaddr_storage ss;
		socklen_t sl;
		char err[256];
		struct sl_pos at = listen_node ? listen_node->pos : c->pos;
		if (sl_http_parse_addr(c->listen, &ss, &sl, err, sizeof(err)) < 0)
			rc = sl_diag_error(d, at, "admin.listen: %s", err);
		else if (!sl_http_addr_is_loopback(&ss) && !c->token_file)
			rc =
			    sl_diag_error(d, at,
					  "admin.listen: %s is not a loopback address: refusing to "
					  "serve job control and metrics to the network without a "
					  "token; set admin.token_file to a file holding a bearer "
					  "token, or listen on 127.0.0.1",
					  c->listen);
	}
	struct sl_cfg_node *al = sl_cfg_get(root, "alerts");
	if (al && parse_alerts(job, c, al, d) < 0)
		rc = -EINVAL;
	return rc;
}

/* ---- runtime state ---- */

struct totals {
	uint64_t rin, rout, bin, bout, bad, dlq, blocked_ns;
};

struct snap {
	int64_t t_ns;
	struct totals tot;
};

/* One second of history, for the dashboard. */
struct hsample {
	int64_t t_ms; /* wall clock */
	double rin_ps, rout_ps, bad_ps, dlq_ps, bp;
	double p50_ms, p99_ms; /* NaN: no records that second */
};

/* Values over the last SL_ADMIN_WINDOW_S seconds. */
struct window {
	double rin_ps, rout_ps, bin_ps, bout_ps, bad_ps, dlq_ps, bp;
	double p50_s, p95_s, p99_s; /* NaN: no records in the window */
};

enum alert_state { ALERT_INACTIVE, ALERT_PENDING, ALERT_FIRING };

struct alert {
	const struct sl_alert_rule *rule;
	enum alert_state state;
	double value; /* NaN: no data */
	int64_t pending_since_ns;
	int64_t active_since_ms, last_fired_ms, last_resolved_ms; /* wall, 0: never */
	uint64_t fired_count;
	uint64_t episode; /* firing episodes so far: part of the dedup key */
	struct sl_http_url url;
	bool has_url;
	int webhook_last_status;
};

struct notif {
	uint32_t alert;
	bool firing;
	uint64_t episode;
	double value;
	int64_t starts_ms, ends_ms;
	uint32_t attempts;
	int64_t next_ns;
};

struct sl_admin {
	struct sl_engine *e;
	struct sl_job *job;
	struct sl_admin_conf conf;
	struct sl_http_server *http;
	bool listening;
	bool cancel_requested;
	bool closing;
	uint32_t n_savepoint_requests; /* POST /savepoints and PATCH mode=stop */
	int64_t start_wall_ms;	       /* the job's start, wall clock */
	double process_start_s;	       /* unix seconds */
	int64_t next_tick_ns;
	int64_t last_scrape_ns; /* how long the last /metrics took */

	/* Window ring: N_SNAPS snapshots a second apart (seq taken so far). */
	struct snap snaps[N_SNAPS];
	struct sl_hist *lat; /* [N_SNAPS] merged latency histograms */
	uint64_t *blocked;   /* [N_SNAPS][n_workers] */
	double *worker_bp;   /* [n_workers] back-pressure over the window */
	uint64_t seq;
	struct sl_hist *scratch;
	struct window win;

	struct hsample hist[SL_ADMIN_HISTORY];
	uint32_t n_hist, hist_head; /* hist_head: next slot */

	struct alert alerts[SL_ADMIN_MAX_ALERTS];
	uint32_t n_alerts;
	struct notif queue[SL_ADMIN_WEBHOOK_QUEUE];
	uint32_t q_head, q_len;
	bool wh_busy;
	uint64_t webhooks_sent, webhooks_failed;
};

static const char *job_state(const struct sl_admin *a)
{
	struct sl_engine *e = a->e;
	bool failed = atomic_load(&e->failed) != 0;
	bool stopping = atomic_load(&e->stop) || a->cancel_requested;
	if (atomic_load(&e->n_done) >= e->n_workers)
		return failed ? "FAILED" : stopping ? "CANCELED" : "FINISHED";
	if (failed)
		return "FAILING";
	return stopping ? "CANCELLING" : "RUNNING";
}

static bool job_running(const struct sl_admin *a)
{
	return strcmp(job_state(a), "RUNNING") == 0;
}

static struct sl_nodeinst *node_inst(struct sl_admin *a, uint32_t w, uint32_t node)
{
	struct sl_nodeinst *ni = a->e->workers[w].ni;
	return ni ? &ni[node] : NULL;
}

static void read_totals(struct sl_admin *a, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < a->e->n_workers; i++) {
		const struct sl_worker_metrics *m = &a->e->metrics[i];
		t->rin += sl_counter_read(&m->records_in);
		t->rout += sl_counter_read(&m->records_out);
		t->bin += sl_counter_read(&m->bytes_in);
		t->bout += sl_counter_read(&m->bytes_out);
		t->bad += sl_counter_read(&m->bad_records);
		t->dlq += sl_counter_read(&m->dead_letters);
		t->blocked_ns += sl_counter_read(&m->blocked_ns);
	}
}

/* dst = newer - older, bucket by bucket (max: the newer's). */
static void hist_delta(struct sl_hist *dst, const struct sl_hist *newer,
		       const struct sl_hist *older)
{
	dst->total = 0;
	for (uint32_t i = 0; i < SL_HIST_BUCKETS; i++) {
		uint64_t n = newer->count[i], o = older->count[i];
		dst->count[i] = n > o ? n - o : 0;
		dst->total += dst->count[i];
	}
	dst->max = newer->max;
}

static double quantile_s(const struct sl_hist *h, double q)
{
	return h->total ? (double)sl_hist_quantile(h, q) / 1e9 : NAN;
}

static double rate(uint64_t newer, uint64_t older, double dt_s)
{
	return dt_s > 0 && newer >= older ? (double)(newer - older) / dt_s : 0;
}

static void sample(struct sl_admin *a, int64_t now)
{
	uint32_t n = a->e->n_workers;
	uint32_t cur = (uint32_t)(a->seq % N_SNAPS);
	struct snap *s = &a->snaps[cur];
	s->t_ns = now;
	read_totals(a, &s->tot);
	struct sl_hist *h = &a->lat[cur];
	memset(h, 0, sizeof(*h));
	for (uint32_t i = 0; i < n; i++) {
		sl_hist_merge(h, &a->e->latency[i]);
		a->blocked[(size_t)cur * n + i] = sl_counter_read(&a->e->metrics[i].blocked_ns);
	}
	a->seq++;
	if (a->seq < 2)
		return;
	/* Over the window (or since the start when younger). */
	uint32_t old = (uint32_t)((a->seq > N_SNAPS ? a->seq - N_SNAPS : 0) % N_SNAPS);
	const struct snap *o = &a->snaps[old];
	double dt = (double)(now - o->t_ns) / 1e9;
	struct window *w = &a->win;
	w->rin_ps = rate(s->tot.rin, o->tot.rin, dt);
	w->rout_ps = rate(s->tot.rout, o->tot.rout, dt);
	w->bin_ps = rate(s->tot.bin, o->tot.bin, dt);
	w->bout_ps = rate(s->tot.bout, o->tot.bout, dt);
	w->bad_ps = rate(s->tot.bad, o->tot.bad, dt);
	w->dlq_ps = rate(s->tot.dlq, o->tot.dlq, dt);
	w->bp = dt > 0 ? SL_MIN(1.0, rate(s->tot.blocked_ns, o->tot.blocked_ns, dt) / 1e9 / n) : 0;
	for (uint32_t i = 0; i < n; i++)
		a->worker_bp[i] = dt > 0 ? SL_MIN(1.0, rate(a->blocked[(size_t)cur * n + i],
							    a->blocked[(size_t)old * n + i], dt) /
							   1e9)
					 : 0;
	hist_delta(a->scratch, h, &a->lat[old]);
	w->p50_s = quantile_s(a->scratch, 0.50);
	w->p95_s = quantile_s(a->scratch, 0.95);
	w->p99_s = quantile_s(a->scratch, 0.99);

	/* The last second, for the dashboard. */
	uint32_t prev = (uint32_t)((a->seq - 2) % N_SNAPS);
	const struct snap *p = &a->snaps[prev];
	double dt1 = (double)(now - p->t_ns) / 1e9;
	hist_delta(a->scratch, h, &a->lat[prev]);
	struct hsample *hs = &a->hist[a->hist_head];
	hs->t_ms = sl_wall_ms();
	hs->rin_ps = rate(s->tot.rin, p->tot.rin, dt1);
	hs->rout_ps = rate(s->tot.rout, p->tot.rout, dt1);
	hs->bad_ps = rate(s->tot.bad, p->tot.bad, dt1);
	hs->dlq_ps = rate(s->tot.dlq, p->tot.dlq, dt1);
	hs->bp =
	    dt1 > 0 ? SL_MIN(1.0, rate(s->tot.blocked_ns, p->tot.blocked_ns, dt1) / 1e9 / n) : 0;
	hs->p50_ms = quantile_s(a->scratch, 0.50) * 1e3;
	hs->p99_ms = quantile_s(a->scratch, 0.99) * 1e3;
	a->hist_head = (a->hist_head + 1) % SL_ADMIN_HISTORY;
	if (a->n_hist < SL_ADMIN_HISTORY)
		a->n_hist++;
}

/* ---- alerts ---- */

/* Share of the checkpoints of the last minute that failed (0: none tried). */
static double ckpt_failure_rate(const struct sl_admin *a)
{
	static struct sl_ckpt_hist h[SL_CKPT_HISTORY];
	uint64_t inp;
	uint32_t n = sl_ckpt_history(a->e, h, SL_CKPT_HISTORY, &inp);
	int64_t since = sl_wall_ms() - 60000;
	uint32_t tried = 0, failed = 0;
	for (uint32_t i = 0; i < n; i++)
		if (h[i].trigger_ms >= since) {
			tried++;
			failed += !h[i].ok;
		}
	return tried ? (double)failed / tried : 0;
}

static double alert_value(const struct sl_admin *a, enum sl_alert_metric m)
{
	const struct window *w = &a->win;
	switch (m) {
	case SL_ALERT_LATENCY_P50:
		return w->p50_s;
	case SL_ALERT_LATENCY_P95:
		return w->p95_s;
	case SL_ALERT_LATENCY_P99:
		return w->p99_s;
	case SL_ALERT_BACKPRESSURE:
		return w->bp;
	case SL_ALERT_RECORDS_PER_S:
		return w->rin_ps;
	case SL_ALERT_RECORDS_OUT_PER_S:
		return w->rout_ps;
	case SL_ALERT_BYTES_IN_PER_S:
		return w->bin_ps;
	case SL_ALERT_BYTES_OUT_PER_S:
		return w->bout_ps;
	case SL_ALERT_DEAD_LETTER_RATE:
		return w->dlq_ps;
	case SL_ALERT_BAD_RECORD_RATE:
		return w->bad_ps;
	case SL_ALERT_CHECKPOINT_FAILURE_RATE:
		return ckpt_failure_rate(a);
	}
	return NAN;
}

static bool compare(double v, enum sl_alert_op op, double t)
{
	switch (op) {
	case SL_ALERT_GT:
		return v > t;
	case SL_ALERT_GE:
		return v >= t;
	case SL_ALERT_LT:
		return v < t;
	case SL_ALERT_LE:
		return v <= t;
	case SL_ALERT_EQ:
		return v == t;
	case SL_ALERT_NE:
		return v != t;
	}
	return false;
}

static void enqueue_notif(struct sl_admin *a, uint32_t ai, bool firing)
{
	struct alert *al = &a->alerts[ai];
	if (!al->has_url)
		return;
	/* De-duplication: one notification per (rule, episode, status). */
	for (uint32_t k = 0; k < a->q_len; k++) {
		const struct notif *q = &a->queue[(a->q_head + k) % SL_ADMIN_WEBHOOK_QUEUE];
		if (q->alert == ai && q->episode == al->episode && q->firing == firing)
			return;
	}
	if (a->q_len == SL_ADMIN_WEBHOOK_QUEUE) {
		const struct notif *q = &a->queue[a->q_head];
		if (a->wh_busy) {
			sl_log(SL_LOG_WARN, -1, NULL,
			       "msg=\"alert webhook queue full: notification dropped\" alert=%s",
			       al->rule->name);
			return;
		}
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"alert webhook queue full: oldest notification dropped\" alert=%s",
		       a->alerts[q->alert].rule->name);
		a->q_head = (a->q_head + 1) % SL_ADMIN_WEBHOOK_QUEUE;
		a->q_len--;
		a->webhooks_failed++;
	}
	struct notif *q = &a->queue[(a->q_head + a->q_len) % SL_ADMIN_WEBHOOK_QUEUE];
	a->q_len++;
	*q = (struct notif){.alert = ai,
			    .firing = firing,
			    .episode = al->episode,
			    .value = al->value,
			    .starts_ms = al->active_since_ms,
			    .ends_ms = firing ? 0 : al->last_resolved_ms,
			    .next_ns = 0};
}

/* A job that is no longer running is not slow or stuck: its alerts
 * resolve (as Prometheus' do when a target's series go stale). */
static void resolve_all(struct sl_admin *a)
{
	for (uint32_t i = 0; i < a->n_alerts; i++) {
		struct alert *al = &a->alerts[i];
		if (al->state == ALERT_FIRING) {
			al->last_resolved_ms = sl_wall_ms();
			sl_log(SL_LOG_INFO, -1, NULL,
			       "msg=\"alert resolved\" alert=%s rule=\"%s\" reason=\"job %s\" "
			       "firing_s=%.1f job=%s",
			       al->rule->name, al->rule->expr, job_state(a),
			       (double)(al->last_resolved_ms - al->last_fired_ms) / 1e3,
			       a->job->name);
			al->state = ALERT_INACTIVE;
			enqueue_notif(a, i, false);
		}
		al->state = ALERT_INACTIVE;
	}
}

static void evaluate_alerts(struct sl_admin *a, int64_t now)
{
	if (!job_running(a)) {
		resolve_all(a);
		return;
	}
	for (uint32_t i = 0; i < a->n_alerts; i++) {
		struct alert *al = &a->alerts[i];
		const struct sl_alert_rule *r = al->rule;
		double v = alert_value(a, r->metric);
		al->value = v;
		bool cond = !isnan(v) && compare(v, r->op, r->threshold);
		if (cond && al->state == ALERT_INACTIVE) {
			al->state = ALERT_PENDING;
			al->pending_since_ns = now;
			al->active_since_ms = sl_wall_ms();
		}
		if (cond && al->state == ALERT_PENDING &&
		    now - al->pending_since_ns >= r->for_ms * MS_NS) {
			al->state = ALERT_FIRING;
			al->episode++;
			al->fired_count++;
			al->last_fired_ms = sl_wall_ms();
			sl_log(SL_LOG_WARN, -1, NULL,
			       "msg=\"alert firing\" alert=%s severity=%s rule=\"%s\" value=%.6g "
			       "job=%s",
			       r->name, r->severity, r->expr, v, a->job->name);
			enqueue_notif(a, i, true);
		} else if (!cond && al->state == ALERT_FIRING) {
			al->state = ALERT_INACTIVE;
			al->last_resolved_ms = sl_wall_ms();
			sl_log(
			    SL_LOG_INFO, -1, NULL,
			    "msg=\"alert resolved\" alert=%s rule=\"%s\" value=%.6g firing_s=%.1f "
			    "job=%s",
			    r->name, r->expr, v,
			    (double)(al->last_resolved_ms - al->last_fired_ms) / 1e3, a->job->name);
			enqueue_notif(a, i, false);
		} else if (!cond && al->state == ALERT_PENDING) {
			al->state = ALERT_INACTIVE;
		}
	}
}

static void iso_time(int64_t wall_ms, char *buf, size_t cap)
{
	if (wall_ms <= 0) {
		snprintf(buf, cap, "0001-01-01T00:00:00Z");
		return;
	}
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(wall_ms % 1000));
}

static void json_num(struct sl_http_buf *b, double v)
{
	if (isnan(v) || isinf(v))
		sl_http_buf_puts(b, "null");
	else
		sl_http_buf_printf(b, "%.6g", v);
}

static void json_s(struct sl_http_buf *b, const char *s)
{
	sl_http_buf_json(b, s, strlen(s));
}

/* Alertmanager's webhook shape, so existing receivers understand it. */
static void notif_body(struct sl_admin *a, const struct notif *q, struct sl_http_buf *b, char *key,
		       size_t key_cap)
{
	const struct alert *al = &a->alerts[q->alert];
	const char *status = q->firing ? "firing" : "resolved";
	char starts[80], ends[80];
	iso_time(q->starts_ms, starts, sizeof(starts));
	iso_time(q->ends_ms, ends, sizeof(ends));
	/* The fingerprint names the episode; retries carry the same key. */
	uint64_t fp = 1469598103934665603ull;
	const char *parts[] = {a->job->name, al->rule->name};
	for (size_t i = 0; i < 2; i++)
		for (const char *p = parts[i]; *p; p++)
			fp = (fp ^ (unsigned char)*p) * 1099511628211ull;
	fp = (fp ^ q->episode) * 1099511628211ull;
	fp = (fp ^ (uint64_t)q->starts_ms) * 1099511628211ull;
	snprintf(key, key_cap, "%016" PRIx64 "-%s", fp, status);
	sl_http_buf_puts(b, "{\"version\":\"4\",\"receiver\":\"sluice\",\"status\":");
	json_s(b, status);
	sl_http_buf_puts(b, ",\"groupKey\":");
	char gk[200];
	snprintf(gk, sizeof(gk), "sluice/%s/%s", a->job->name, al->rule->name);
	json_s(b, gk);
	sl_http_buf_puts(b, ",\"alerts\":[{\"status\":");
	json_s(b, status);
	sl_http_buf_puts(b, ",\"labels\":{\"alertname\":");
	json_s(b, al->rule->name);
	sl_http_buf_puts(b, ",\"job\":");
	json_s(b, a->job->name);
	sl_http_buf_puts(b, ",\"severity\":");
	json_s(b, al->rule->severity);
	sl_http_buf_puts(b, "},\"annotations\":{\"rule\":");
	json_s(b, al->rule->expr);
	sl_http_buf_puts(b, ",\"metric\":");
	json_s(b, metric_name(al->rule->metric));
	sl_http_buf_printf(b,
			   ",\"value\":\"%.6g\"},\"startsAt\":\"%s\",\"endsAt\":\"%s\","
			   "\"fingerprint\":\"%016" PRIx64 "\"}],",
			   q->value, starts, ends, fp);
	sl_http_buf_printf(b, "\"commonLabels\":{\"alertname\":");
	json_s(b, al->rule->name);
	sl_http_buf_puts(b, ",\"job\":");
	json_s(b, a->job->name);
	sl_http_buf_printf(b, "},\"sequence\":%" PRIu64 "}", q->episode);
}

static void webhook_done(void *ctx, int status)
{
	struct sl_admin *a = ctx;
	SL_ASSERT(a->wh_busy && a->q_len > 0);
	a->wh_busy = false;
	struct notif *q = &a->queue[a->q_head];
	struct alert *al = &a->alerts[q->alert];
	al->webhook_last_status = status;
	char origin[300];
	sl_http_url_origin(&al->url, origin, sizeof(origin));
	bool ok = status >= 200 && status < 300;
	bool permanent = status >= 400 && status < 500 && status != 408 && status != 429;
	q->attempts++;
	if (ok || permanent || q->attempts >= SL_ADMIN_WEBHOOK_ATTEMPTS || a->closing) {
		if (ok) {
			a->webhooks_sent++;
			sl_log(
			    SL_LOG_INFO, -1, NULL,
			    "msg=\"alert webhook delivered\" alert=%s status=%s to=%s attempts=%u",
			    al->rule->name, q->firing ? "firing" : "resolved", origin, q->attempts);
		} else {
			a->webhooks_failed++;
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"alert webhook failed: giving up\" alert=%s to=%s result=%d "
			       "attempts=%u",
			       al->rule->name, origin, status, q->attempts);
		}
		a->q_head = (a->q_head + 1) % SL_ADMIN_WEBHOOK_QUEUE;
		a->q_len--;
		return;
	}
	int64_t backoff_s = 1ll << (q->attempts - 1);
	q->next_ns = sl_now_ns() + backoff_s * NS_PER_S;
	sl_log(SL_LOG_WARN, -1, NULL,
	       "msg=\"alert webhook failed: will retry\" alert=%s to=%s result=%d attempt=%u "
	       "retry_in_s=%" PRId64,
	       al->rule->name, origin, status, q->attempts, backoff_s);
}

static void webhook_pump(struct sl_admin *a, int64_t now)
{
	if (a->wh_busy || a->q_len == 0 || !a->http)
		return;
	struct notif *q = &a->queue[a->q_head];
	if (now < q->next_ns)
		return;
	struct alert *al = &a->alerts[q->alert];
	struct sl_http_buf b = {0};
	char key[64], hdr[128];
	notif_body(a, q, &b, key, sizeof(key));
	snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s\r\n", key);
	int rc = b.failed ? -ENOMEM
			  : sl_http_post(a->http, &al->url, "application/json", hdr, b.p, b.len,
					 SL_ADMIN_WEBHOOK_TIMEOUT_MS, webhook_done, a);
	sl_http_buf_free(&b);
	if (rc == 0) {
		a->wh_busy = true;
	} else {
		a->wh_busy = true; /* webhook_done expects it */
		webhook_done(a, rc);
	}
}

/* ---- HTTP: helpers ---- */

static void json_error(struct sl_http_resp *r, int status, const char *msg)
{
	sl_http_resp_status(r, status);
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	sl_http_buf_puts(b, "{\"errors\":[");
	json_s(b, msg);
	sl_http_buf_puts(b, "]}");
}

static void method_not_allowed(struct sl_http_resp *r, const char *allow)
{
	sl_http_resp_header(r, "Allow", allow);
	json_error(r, 405, "method not allowed");
}

static double uptime_s(const struct sl_admin *a)
{
	int64_t end = a->e->end_ns ? a->e->end_ns : sl_now_ns();
	return (double)(end - a->e->start_ns) / 1e9;
}

static uint64_t node_sum(struct sl_admin *a, uint32_t node, bool out)
{
	uint64_t s = 0;
	for (uint32_t w = 0; w < a->e->n_workers; w++) {
		struct sl_nodeinst *ni = node_inst(a, w, node);
		if (ni)
			s += sl_counter_read(out ? &ni->rows_out : &ni->rows_in);
	}
	return s;
}

/* RUNNING while any worker's instance of node has not ended. */
static const char *node_status(struct sl_admin *a, uint32_t node)
{
	for (uint32_t w = 0; w < a->e->n_workers; w++) {
		struct sl_nodeinst *ni = node_inst(a, w, node);
		/* ended is a plain bool the worker sets once; a stale read
		 * only delays FINISHED by one request. */
		if (ni && !__atomic_load_n(&ni->ended, __ATOMIC_RELAXED))
			return strcmp(job_state(a), "RUNNING") == 0 ? "RUNNING" : "CANCELLING";
	}
	return "FINISHED";
}

/* ---- endpoints ---- */

static void health_nodes(struct sl_admin *a, struct sl_http_buf *b, enum sl_node_kind kind,
			 bool failed)
{
	bool first = true;
	for (uint32_t i = 0; i < a->job->n_nodes; i++) {
		const struct sl_node *n = a->job->nodes[i];
		if (n->kind != kind || n->is_dead_letter)
			continue;
		sl_http_buf_puts(b, first ? "{" : ",{");
		first = false;
		sl_http_buf_puts(b, "\"name\":");
		json_s(b, n->name);
		sl_http_buf_puts(b, ",\"type\":");
		json_s(b, n->plugin ? n->plugin->name : "?");
		sl_http_buf_printf(b,
				   ",\"status\":\"%s\",\"state\":\"%s\",\"records\":%" PRIu64 "}",
				   failed ? "DOWN" : "UP", node_status(a, i),
				   node_sum(a, i, kind == SL_NODE_SOURCE));
	}
}

static void ep_health(struct sl_admin *a, struct sl_http_resp *r)
{
	struct sl_http_buf *b = sl_http_resp_body(r);
	const char *state = job_state(a);
	bool failed = strcmp(state, "FAILED") == 0 || strcmp(state, "FAILING") == 0;
	sl_http_resp_type(r, "application/json");
	if (failed)
		sl_http_resp_status(r, 503);
	uint32_t firing = 0;
	for (uint32_t i = 0; i < a->n_alerts; i++)
		firing += a->alerts[i].state == ALERT_FIRING;
	sl_http_buf_printf(b, "{\"status\":\"%s\",\"job\":{\"id\":", failed ? "DOWN" : "UP");
	json_s(b, a->job->name);
	sl_http_buf_puts(b, ",\"name\":");
	json_s(b, a->job->name);
	sl_http_buf_printf(b, ",\"state\":\"%s\",\"uptime_ms\":%" PRId64 ",\"workers\":%u", state,
			   (int64_t)(uptime_s(a) * 1e3), a->e->n_workers);
	if (failed) {
		char msg[sizeof(a->e->error)];
		pthread_mutex_lock(&a->e->error_lock);
		snprintf(msg, sizeof(msg), "%s", a->e->error);
		pthread_mutex_unlock(&a->e->error_lock);
		sl_http_buf_puts(b, ",\"error\":");
		json_s(b, msg);
	}
	sl_http_buf_puts(b, "},\"sources\":[");
	health_nodes(a, b, SL_NODE_SOURCE, failed);
	sl_http_buf_puts(b, "],\"sinks\":[");
	health_nodes(a, b, SL_NODE_SINK, failed);
	if (!a->e->ckpt_on) {
		sl_http_buf_puts(b, "],\"checkpoints\":{\"status\":\"not configured\",\"detail\":"
				    "\"checkpointing is not configured for this job\"}");
	} else {
		struct sl_ckpt_stats cs;
		sl_ckpt_get_stats(a->e, &cs);
		static struct sl_ckpt_hist h[4];
		uint64_t inp;
		uint32_t n = sl_ckpt_history(a->e, h, 4, &inp);
		bool last_failed = n && !h[n - 1].ok;
		int64_t age = cs.last_completed_ms ? sl_wall_ms() - cs.last_completed_ms : -1;
		sl_http_buf_printf(b,
				   "],\"checkpoints\":{\"status\":\"%s\",\"completed\":%" PRIu64
				   ",\"failed\":%" PRIu64 ",\"last_id\":%" PRIu64
				   ",\"last_age_ms\":%" PRId64 ",\"restored_from\":%" PRIu64
				   ",\"detail\":",
				   last_failed ? "FAILING" : "UP", cs.completed, cs.failed,
				   cs.last_id, age, cs.restored_id);
		json_s(b, last_failed ? h[n - 1].error
				      : (cs.completed ? "the last checkpoint completed"
						      : "no checkpoint completed yet"));
		sl_http_buf_puts(b, "}");
	}
	sl_http_buf_printf(b, ",\"alerts\":{\"rules\":%u,\"firing\":%u}}", a->n_alerts, firing);
}

static void ep_ready(struct sl_admin *a, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	const char *state = job_state(a);
	bool ready = strcmp(state, "RUNNING") == 0;
	for (uint32_t w = 0; w < a->e->n_workers; w++)
		ready &= a->e->workers[w].ni != NULL;
	if (ready) {
		sl_http_buf_puts(b, "{\"status\":\"UP\"}");
		return;
	}
	sl_http_resp_status(r, 503);
	sl_http_buf_printf(b, "{\"status\":\"DOWN\",\"reason\":\"job is %s\"}", state);
}

static void ep_overview(struct sl_admin *a, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	const char *s = job_state(a);
	bool running =
	    strcmp(s, "RUNNING") == 0 || strcmp(s, "CANCELLING") == 0 || strcmp(s, "FAILING") == 0;
	sl_http_buf_printf(sl_http_resp_body(r),
			   "{\"sluice-version\":\"%s\",\"taskmanagers\":1,\"slots-total\":%u,"
			   "\"slots-available\":0,\"jobs-running\":%d,\"jobs-finished\":%d,"
			   "\"jobs-cancelled\":%d,\"jobs-failed\":%d,\"uptime_ms\":%" PRId64 "}",
			   SLUICE_VERSION, a->e->n_workers, running, strcmp(s, "FINISHED") == 0,
			   strcmp(s, "CANCELED") == 0, strcmp(s, "FAILED") == 0,
			   (int64_t)(uptime_s(a) * 1e3));
}

static void ep_jobs(struct sl_admin *a, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	sl_http_buf_puts(b, "{\"jobs\":[{\"id\":");
	json_s(b, a->job->name);
	sl_http_buf_printf(b, ",\"status\":\"%s\"}]}", job_state(a));
}

static void ep_job(struct sl_admin *a, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	struct sl_engine *e = a->e;
	struct sl_job *job = a->job;
	struct totals t;
	read_totals(a, &t);
	int64_t now_ms = sl_wall_ms();
	int64_t end_ms = e->end_ns ? a->start_wall_ms + (e->end_ns - e->start_ns) / MS_NS : -1;
	struct sl_hist *all = a->scratch;
	memset(all, 0, sizeof(*all));
	for (uint32_t w = 0; w < e->n_workers; w++)
		sl_hist_merge(all, &e->latency[w]);

	sl_http_buf_puts(b, "{\"jid\":");
	json_s(b, job->name);
	sl_http_buf_puts(b, ",\"name\":");
	json_s(b, job->name);
	sl_http_buf_printf(b,
			   ",\"state\":\"%s\",\"start-time\":%" PRId64 ",\"end-time\":%" PRId64
			   ",\"duration\":%" PRId64 ",\"now\":%" PRId64 ",\"parallelism\":%u,"
			   "\"maxParallelism\":%u",
			   job_state(a), a->start_wall_ms, end_ms, (int64_t)(uptime_s(a) * 1e3),
			   now_ms, e->n_workers, job->max_parallelism);
	const struct window *w = &a->win;
	sl_http_buf_printf(b,
			   ",\"metrics\":{\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64
			   ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			   ",\"bad_records\":%" PRIu64 ",\"dead_letters\":%" PRIu64,
			   t.rin, t.rout, t.bin, t.bout, t.bad, t.dlq);
	sl_http_buf_puts(b, ",\"records_in_per_s\":");
	json_num(b, w->rin_ps);
	sl_http_buf_puts(b, ",\"records_out_per_s\":");
	json_num(b, w->rout_ps);
	sl_http_buf_puts(b, ",\"backpressure\":");
	json_num(b, w->bp);
	sl_http_buf_puts(b, ",\"latency_window_s\":");
	sl_http_buf_printf(b, "%u", SL_ADMIN_WINDOW_S);
	sl_http_buf_puts(b, ",\"latency_p50_ms\":");
	json_num(b, w->p50_s * 1e3);
	sl_http_buf_puts(b, ",\"latency_p95_ms\":");
	json_num(b, w->p95_s * 1e3);
	sl_http_buf_puts(b, ",\"latency_p99_ms\":");
	json_num(b, w->p99_s * 1e3);
	sl_http_buf_puts(b, ",\"latency_all_p99_ms\":");
	json_num(b, all->total ? (double)sl_hist_quantile(all, 0.99) / 1e6 : NAN);
	sl_http_buf_puts(b, ",\"latency_all_max_ms\":");
	json_num(b, all->total ? (double)all->max / 1e6 : NAN);
	sl_http_buf_puts(b, "},\"vertices\":[");
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		const struct sl_node *n = job->nodes[i];
		sl_http_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
		json_s(b, n->name);
		sl_http_buf_puts(b, ",\"name\":");
		json_s(b, n->name);
		sl_http_buf_printf(b, ",\"kind\":\"%s\",\"type\":", sl_node_kind_name(n->kind));
		json_s(b, n->plugin ? n->plugin->name : "?");
		sl_http_buf_printf(b,
				   ",\"parallelism\":%u,\"status\":\"%s\",\"exchange\":%s,"
				   "\"inserted\":%s,\"inputs\":[",
				   e->n_workers, node_status(a, i),
				   n->is_exchange ? "true" : "false", n->cfg ? "false" : "true");
		for (uint32_t k = 0; k < n->n_inputs; k++) {
			if (k)
				sl_http_buf_puts(b, ",");
			json_s(b, sl_node_input(job, n, k)->name);
		}
		sl_http_buf_puts(b, "],\"outputs\":[");
		for (uint32_t k = 0; k < n->n_outputs; k++) {
			if (k)
				sl_http_buf_puts(b, ",");
			json_s(b, job->nodes[n->outputs[k]]->name);
		}
		uint64_t in = node_sum(a, i, false), out = node_sum(a, i, true);
		sl_http_buf_printf(b,
				   "],\"metrics\":{\"read-records\":%" PRIu64
				   ",\"write-records\":%" PRIu64 "},\"subtasks\":[",
				   in, out);
		for (uint32_t wk = 0; wk < e->n_workers; wk++) {
			struct sl_nodeinst *ni = node_inst(a, wk, i);
			sl_http_buf_printf(b,
					   "%s{\"worker\":%u,\"read-records\":%" PRIu64
					   ",\"write-records\":%" PRIu64 "}",
					   wk ? "," : "", wk,
					   ni ? sl_counter_read(&ni->rows_in) : 0,
					   ni ? sl_counter_read(&ni->rows_out) : 0);
		}
		sl_http_buf_puts(b, "]}");
	}
	/* Flink's plan: nodes with their inputs and how rows travel. */
	sl_http_buf_puts(b, "],\"plan\":{\"jid\":");
	json_s(b, job->name);
	sl_http_buf_puts(b, ",\"name\":");
	json_s(b, job->name);
	sl_http_buf_puts(b, ",\"nodes\":[");
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		const struct sl_node *n = job->nodes[i];
		sl_http_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
		json_s(b, n->name);
		sl_http_buf_printf(b, ",\"parallelism\":%u,\"operator\":", e->n_workers);
		json_s(b, n->plugin ? n->plugin->name : "?");
		sl_http_buf_puts(b, ",\"description\":");
		json_s(b, n->name);
		sl_http_buf_puts(b, ",\"inputs\":[");
		for (uint32_t k = 0; k < n->n_inputs; k++) {
			const struct sl_node *in = sl_node_input(job, n, k);
			sl_http_buf_printf(b, "%s{\"num\":%u,\"id\":", k ? "," : "", k);
			json_s(b, in->name);
			sl_http_buf_printf(b,
					   ",\"ship_strategy\":\"%s\",\"exchange\":\"pipelined\"}",
					   in->is_exchange ? "HASH" : "FORWARD");
		}
		sl_http_buf_puts(b, "]}");
	}
	sl_http_buf_puts(b, "]}}");
}

static void hist_json(struct sl_http_buf *b, const struct sl_ckpt_hist *h)
{
	sl_http_buf_printf(b,
			   "{\"id\":%" PRIu64 ",\"status\":\"%s\",\"is_savepoint\":%s,"
			   "\"trigger_timestamp\":%" PRId64 ",\"end_to_end_duration\":%" PRId64
			   ",\"checkpointed_size\":%" PRIu64 ",\"max_stall_ns\":%" PRIu64
			   ",\"final\":%s,\"external_path\":",
			   h->id, h->ok ? "COMPLETED" : "FAILED", h->savepoint ? "true" : "false",
			   h->trigger_ms, h->duration_ms, h->bytes, h->stall_ns,
			   h->final ? "true" : "false");
	json_s(b, h->path);
	sl_http_buf_puts(b, ",\"failure_message\":");
	if (h->ok)
		sl_http_buf_puts(b, "null");
	else
		json_s(b, h->error);
	sl_http_buf_puts(b, "}");
}

static void ep_checkpoints(struct sl_admin *a, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	if (!a->e->ckpt_on) {
		sl_http_buf_puts(
		    b, "{\"counts\":{\"restored\":0,\"total\":0,\"in_progress\":0,\"completed\":0,"
		       "\"failed\":0},\"summary\":{\"checkpointed_size\":{\"min\":0,\"max\":0,"
		       "\"avg\":0},\"end_to_end_duration\":{\"min\":0,\"max\":0,\"avg\":0}},"
		       "\"latest\":{\"completed\":null,\"savepoint\":null,\"failed\":null,"
		       "\"restored\":null},\"history\":[],\"status\":\"not configured\"}");
		return;
	}
	static struct sl_ckpt_hist h[SL_CKPT_HISTORY];
	uint64_t inp;
	uint32_t n = sl_ckpt_history(a->e, h, SL_CKPT_HISTORY, &inp);
	struct sl_ckpt_stats st;
	sl_ckpt_get_stats(a->e, &st);
	uint64_t smin = UINT64_MAX, smax = 0, ssum = 0;
	int64_t dmin = INT64_MAX, dmax = 0, dsum = 0;
	uint32_t ok = 0;
	int latest_ok = -1, latest_sp = -1, latest_failed = -1;
	for (uint32_t i = 0; i < n; i++) {
		if (!h[i].ok) {
			latest_failed = (int)i;
			continue;
		}
		ok++;
		smin = h[i].bytes < smin ? h[i].bytes : smin;
		smax = h[i].bytes > smax ? h[i].bytes : smax;
		ssum += h[i].bytes;
		dmin = h[i].duration_ms < dmin ? h[i].duration_ms : dmin;
		dmax = h[i].duration_ms > dmax ? h[i].duration_ms : dmax;
		dsum += h[i].duration_ms;
		if (h[i].savepoint)
			latest_sp = (int)i;
		else
			latest_ok = (int)i;
	}
	if (!ok)
		smin = 0, dmin = 0;
	sl_http_buf_printf(
	    b,
	    "{\"status\":\"%s\",\"counts\":{\"restored\":%d,\"total\":%" PRIu64
	    ",\"in_progress\":%d,\"completed\":%" PRIu64 ",\"failed\":%" PRIu64 "},"
	    "\"summary\":{\"checkpointed_size\":{\"min\":%" PRIu64 ",\"max\":%" PRIu64
	    ",\"avg\":%" PRIu64 "},\"end_to_end_duration\":{\"min\":%" PRId64 ",\"max\":%" PRId64
	    ",\"avg\":%" PRId64 "}},\"latest\":{\"completed\":",
	    a->e->ckpt_aligned ? "exactly_once" : "at_least_once", st.restored_id ? 1 : 0,
	    st.completed + st.failed + (inp ? 1 : 0), inp ? 1 : 0, st.completed, st.failed, smin,
	    smax, ok ? ssum / ok : 0, dmin, dmax, ok ? dsum / (int64_t)ok : 0);
	if (latest_ok >= 0)
		hist_json(b, &h[latest_ok]);
	else
		sl_http_buf_puts(b, "null");
	sl_http_buf_puts(b, ",\"savepoint\":");
	if (latest_sp >= 0)
		hist_json(b, &h[latest_sp]);
	else
		sl_http_buf_puts(b, "null");
	sl_http_buf_puts(b, ",\"failed\":");
	if (latest_failed >= 0)
		hist_json(b, &h[latest_failed]);
	else
		sl_http_buf_puts(b, "null");
	if (st.restored_id)
		sl_http_buf_printf(b, ",\"restored\":{\"id\":%" PRIu64 "}", st.restored_id);
	else
		sl_http_buf_puts(b, ",\"restored\":null");
	sl_http_buf_puts(b, "},\"history\":[");
	for (uint32_t i = n; i-- > 0;) {
		hist_json(b, &h[i]);
		if (i)
			sl_http_buf_puts(b, ",");
	}
	sl_http_buf_puts(b, "]}");
}

/* POST /jobs/<id>/savepoints ({"cancel-job": true} stops after it). */
static void ep_savepoint_post(struct sl_admin *a, const struct sl_http_req *req,
			      struct sl_http_resp *r)
{
	if (!a->e->ckpt_on) {
		json_error(r, 409,
			   "savepoints need checkpoints; checkpointing is not configured for this "
			   "job");
		return;
	}
	bool stop = false;
	if (req->body_len) {
		char body[256];
		size_t n = req->body_len < sizeof(body) - 1 ? req->body_len : sizeof(body) - 1;
		memcpy(body, req->body, n);
		body[n] = '\0';
		char *c = strstr(body, "\"cancel-job\"");
		if (c && (c = strchr(c, ':'))) {
			while (*++c == ' ')
				;
			stop = strncmp(c, "true", 4) == 0;
		}
	}
	char nonce[64];
	snprintf(nonce, sizeof(nonce), "api-%lld-%u", (long long)a->start_wall_ms,
		 ++a->n_savepoint_requests);
	sl_log(SL_LOG_INFO, -1, NULL,
	       "msg=\"savepoint requested through the admin API\" "
	       "request=%s stop=%d",
	       nonce, stop);
	sl_ckpt_request_savepoint(a->e, nonce, stop);
	sl_http_resp_status(r, 202);
	sl_http_resp_type(r, "application/json");
	sl_http_buf_printf(sl_http_resp_body(r), "{\"request-id\":\"%s\"}", nonce);
}

/* GET /jobs/<id>/savepoints/<request-id>. */
static void ep_savepoint_get(struct sl_admin *a, const char *rid, struct sl_http_resp *r)
{
	static struct sl_ckpt_hist h[SL_CKPT_HISTORY];
	uint64_t inp;
	uint32_t n = sl_ckpt_history(a->e, h, SL_CKPT_HISTORY, &inp);
	for (uint32_t i = n; i-- > 0;) {
		if (strcmp(h[i].nonce, rid) != 0)
			continue;
		sl_http_resp_type(r, "application/json");
		struct sl_http_buf *b = sl_http_resp_body(r);
		if (h[i].ok) {
			sl_http_buf_printf(b,
					   "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":"
					   "{\"id\":%" PRIu64 ",\"location\":",
					   h[i].id);
			json_s(b, h[i].path);
			sl_http_buf_puts(b, "}}");
		} else {
			sl_http_buf_puts(b, "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":"
					    "{\"failure-cause\":{\"stack-trace\":");
			json_s(b, h[i].error);
			sl_http_buf_puts(b, "}}}");
		}
		return;
	}
	/* Asked for by this server and not in the history yet: still going. */
	const char *pre = "api-";
	if (strncmp(rid, pre, 4) == 0 && a->e->ckpt_on) {
		char mine[32];
		int ml = snprintf(mine, sizeof(mine), "api-%lld-", (long long)a->start_wall_ms);
		if (strncmp(rid, mine, (size_t)ml) == 0 &&
		    (uint32_t)strtoul(rid + ml, NULL, 10) <= a->n_savepoint_requests &&
		    job_running(a)) {
			sl_http_resp_type(r, "application/json");
			sl_http_buf_puts(
			    sl_http_resp_body(r),
			    "{\"status\":{\"id\":\"IN_PROGRESS\"},\"operation\":null}");
			return;
		}
	}
	json_error(r, 404, "no such savepoint request");
}

static void ep_history(struct sl_admin *a, const struct sl_http_req *req, struct sl_http_resp *r)
{
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	char v[32];
	int64_t since = 0;
	if (sl_http_query_get(req->query, req->query_len, "since", v, sizeof(v)) > 0)
		since = strtoll(v, NULL, 10);
	sl_http_buf_printf(b, "{\"interval_ms\":1000,\"window_s\":%u,\"samples\":[",
			   SL_ADMIN_WINDOW_S);
	bool first = true;
	for (uint32_t k = 0; k < a->n_hist; k++) {
		uint32_t i = (a->hist_head + SL_ADMIN_HISTORY - a->n_hist + k) % SL_ADMIN_HISTORY;
		const struct hsample *h = &a->hist[i];
		if (h->t_ms <= since)
			continue;
		sl_http_buf_printf(
		    b, "%s{\"t\":%" PRId64 ",\"records_in_per_s\":", first ? "" : ",", h->t_ms);
		first = false;
		json_num(b, h->rin_ps);
		sl_http_buf_puts(b, ",\"records_out_per_s\":");
		json_num(b, h->rout_ps);
		sl_http_buf_puts(b, ",\"latency_p50_ms\":");
		json_num(b, h->p50_ms);
		sl_http_buf_puts(b, ",\"latency_p99_ms\":");
		json_num(b, h->p99_ms);
		sl_http_buf_puts(b, ",\"backpressure\":");
		json_num(b, h->bp);
		sl_http_buf_puts(b, ",\"bad_records_per_s\":");
		json_num(b, h->bad_ps);
		sl_http_buf_puts(b, ",\"dead_letters_per_s\":");
		json_num(b, h->dlq_ps);
		sl_http_buf_puts(b, "}");
	}
	sl_http_buf_puts(b, "]}");
}

static void ep_alerts(struct sl_admin *a, struct sl_http_resp *r)
{
	static const char *const states[] = {"inactive", "pending", "firing"};
	sl_http_resp_type(r, "application/json");
	struct sl_http_buf *b = sl_http_resp_body(r);
	uint32_t firing = 0;
	sl_http_buf_puts(b, "{\"alerts\":[");
	for (uint32_t i = 0; i < a->n_alerts; i++) {
		const struct alert *al = &a->alerts[i];
		firing += al->state == ALERT_FIRING;
		sl_http_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		json_s(b, al->rule->name);
		sl_http_buf_puts(b, ",\"rule\":");
		json_s(b, al->rule->expr);
		sl_http_buf_puts(b, ",\"metric\":");
		json_s(b, metric_name(al->rule->metric));
		sl_http_buf_puts(b, ",\"severity\":");
		json_s(b, al->rule->severity);
		sl_http_buf_printf(b, ",\"state\":\"%s\",\"value\":", states[al->state]);
		json_num(b, al->value);
		sl_http_buf_puts(b, ",\"threshold\":");
		json_num(b, al->rule->threshold);
		sl_http_buf_printf(b, ",\"for_ms\":%" PRId64, al->rule->for_ms);
		sl_http_buf_puts(b, ",\"active_since\":");
		if (al->state != ALERT_INACTIVE)
			sl_http_buf_printf(b, "%" PRId64, al->active_since_ms);
		else
			sl_http_buf_puts(b, "null");
		sl_http_buf_puts(b, ",\"last_fired\":");
		if (al->last_fired_ms)
			sl_http_buf_printf(b, "%" PRId64, al->last_fired_ms);
		else
			sl_http_buf_puts(b, "null");
		sl_http_buf_puts(b, ",\"last_resolved\":");
		if (al->last_resolved_ms)
			sl_http_buf_printf(b, "%" PRId64, al->last_resolved_ms);
		else
			sl_http_buf_puts(b, "null");
		sl_http_buf_printf(b, ",\"fired_count\":%" PRIu64 ",\"webhook\":", al->fired_count);
		if (al->has_url) {
			char origin[300];
			json_s(b, sl_http_url_origin(&al->url, origin, sizeof(origin)));
			sl_http_buf_printf(b, ",\"webhook_last_status\":%d",
					   al->webhook_last_status);
		} else {
			sl_http_buf_puts(b, "null");
		}
		sl_http_buf_puts(b, "}");
	}
	sl_http_buf_printf(b,
			   "],\"firing\":%u,\"evaluating\":%s,\"webhooks\":{\"queued\":%u,"
			   "\"delivered\":%" PRIu64 ",\"failed\":%" PRIu64 "}}",
			   firing, job_running(a) ? "true" : "false", a->q_len, a->webhooks_sent,
			   a->webhooks_failed);
}

static void ep_cancel(struct sl_admin *a, const struct sl_http_req *req, struct sl_http_resp *r)
{
	char mode[16] = "cancel";
	int rc = sl_http_query_get(req->query, req->query_len, "mode", mode, sizeof(mode));
	if (rc == -EINVAL ||
	    (rc >= 0 && strcmp(mode, "cancel") != 0 && strcmp(mode, "stop") != 0)) {
		json_error(r, 400, "mode must be cancel or stop");
		return;
	}
	if (strcmp(mode, "stop") == 0 && !a->e->ckpt_on) {
		json_error(r, 409,
			   "stop takes a savepoint, which needs checkpoints; checkpointing is not "
			   "configured for this job (use mode=cancel)");
		return;
	}
	if (strcmp(mode, "stop") == 0) {
		if (!job_running(a)) {
			json_error(r, 409, "the job is not running");
			return;
		}
		char nonce[64];
		snprintf(nonce, sizeof(nonce), "api-%lld-%u", (long long)a->start_wall_ms,
			 ++a->n_savepoint_requests);
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"stop with savepoint requested through the admin API\" request=%s",
		       nonce);
		sl_ckpt_request_savepoint(a->e, nonce, true);
		sl_http_resp_status(r, 202);
		sl_http_resp_type(r, "application/json");
		sl_http_buf_printf(sl_http_resp_body(r), "{\"request-id\":\"%s\"}", nonce);
		return;
	}
	const char *state = job_state(a);
	if (strcmp(state, "RUNNING") != 0 && strcmp(state, "CANCELLING") != 0) {
		char msg[96];
		snprintf(msg, sizeof(msg), "the job is %s", state);
		json_error(r, 409, msg);
		return;
	}
	if (!a->cancel_requested)
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"cancel requested through the admin API\" job=%s", a->job->name);
	a->cancel_requested = true;
	sl_engine_request_stop();
	sl_http_resp_status(r, 202);
	sl_http_resp_type(r, "application/json");
	sl_http_buf_puts(sl_http_resp_body(r), "{}");
}

/* ---- /metrics ---- */

static void family(struct sl_http_buf *b, const char *name, const char *type, const char *help)
{
	sl_http_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: \ " and newline escaped. */
static void label(struct sl_http_buf *b, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\' || *p == '"')
			sl_http_buf_printf(b, "\\%c", *p);
		else if (*p == '\n')
			sl_http_buf_puts(b, "\\n");
		else
			sl_http_buf_put(b, p, 1);
	}
}

static void worker_counter(struct sl_admin *a, struct sl_http_buf *b, const char *name,
			   const char *help, size_t offset, double scale)
{
	family(b, name, "counter", help);
	for (uint32_t w = 0; w < a->e->n_workers; w++) {
		const uint64_t *c = (const uint64_t *)((const char *)&a->e->metrics[w] + offset);
		sl_http_buf_printf(b, "%s{job=\"", name);
		label(b, a->job->name);
		if (scale == 1)
			sl_http_buf_printf(b, "\",worker=\"%u\"} %" PRIu64 "\n", w,
					   sl_counter_read(c));
		else
			sl_http_buf_printf(b, "\",worker=\"%u\"} %.9g\n", w,
					   (double)sl_counter_read(c) * scale);
	}
}

static void latency_histogram(struct sl_admin *a, struct sl_http_buf *b)
{
	family(b, "sluice_latency_seconds", "histogram",
	       "End-to-end latency, source ingest to sink write (buckets are powers of two "
	       "nanoseconds).");
	uint32_t edge[LE_HIGH_BIT - LE_LOW_BIT + 1];
	for (uint32_t k = LE_LOW_BIT; k <= LE_HIGH_BIT; k++)
		edge[k - LE_LOW_BIT] = sl_hist_index(1ull << k);
	for (uint32_t w = 0; w < a->e->n_workers; w++) {
		const struct sl_hist *h = &a->e->latency[w];
		uint64_t cum = 0;
		uint32_t i = 0;
		for (uint32_t k = 0; k <= LE_HIGH_BIT - LE_LOW_BIT; k++) {
			for (; i < edge[k]; i++) {
				uint64_t c = __atomic_load_n(&h->count[i], __ATOMIC_RELAXED);
				if (!c)
					continue;
				cum += c;
			}
			sl_http_buf_puts(b, "sluice_latency_seconds_bucket{job=\"");
			label(b, a->job->name);
			sl_http_buf_printf(b, "\",worker=\"%u\",le=\"%.12g\"} %" PRIu64 "\n", w,
					   (double)(1ull << (k + LE_LOW_BIT)) / 1e9, cum);
		}
		for (; i < SL_HIST_BUCKETS; i++) {
			uint64_t c = __atomic_load_n(&h->count[i], __ATOMIC_RELAXED);
			if (!c)
				continue;
			cum += c;
		}
		double sum_ns = (double)__atomic_load_n(&h->sum, __ATOMIC_RELAXED);
		sl_http_buf_puts(b, "sluice_latency_seconds_bucket{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\",le=\"+Inf\"} %" PRIu64 "\n", w, cum);
		sl_http_buf_puts(b, "sluice_latency_seconds_sum{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\"} %.9g\n", w, sum_ns / 1e9);
		sl_http_buf_puts(b, "sluice_latency_seconds_count{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\"} %" PRIu64 "\n", w, cum);
	}
}

static void node_counter(struct sl_admin *a, struct sl_http_buf *b, bool out)
{
	const char *name = out ? "sluice_node_records_out_total" : "sluice_node_records_in_total";
	family(b, name, "counter",
	       out ? "Rows a node emitted (sources: rows read)."
		   : "Rows a node was handed (sinks: rows written).");
	for (uint32_t i = 0; i < a->job->n_nodes; i++) {
		const struct sl_node *n = a->job->nodes[i];
		for (uint32_t w = 0; w < a->e->n_workers; w++) {
			struct sl_nodeinst *ni = node_inst(a, w, i);
			sl_http_buf_printf(b, "%s{job=\"", name);
			label(b, a->job->name);
			sl_http_buf_printf(b, "\",worker=\"%u\",node=\"", w);
			label(b, n->name);
			sl_http_buf_printf(
			    b, "\",kind=\"%s\"} %" PRIu64 "\n", sl_node_kind_name(n->kind),
			    ni ? sl_counter_read(out ? &ni->rows_out : &ni->rows_in) : 0);
		}
	}
}

/* Sources' lag, per unit, for the sources that report one. */
static void source_lag(struct sl_admin *a, struct sl_http_buf *b)
{
	static const struct {
		const char *name, *help;
		double scale;
	} units[] = {
	    [SL_LAG_RECORDS] = {"sluice_source_lag_records",
				"Records the source is behind its input (e.g. Kafka offsets).", 1},
	    [SL_LAG_BYTES] = {"sluice_source_lag_bytes",
			      "Bytes the source is behind its input (e.g. PostgreSQL WAL).", 1},
	    [SL_LAG_MS] = {"sluice_source_lag_seconds",
			   "Age of the last change the source emitted while behind (0: caught up).",
			   1e-3},
	};
	for (uint32_t u = 0; u < SL_ARRAY_LEN(units); u++) {
		bool any = false;
		for (uint32_t i = 0; i < a->job->n_nodes; i++) {
			const struct sl_node *n = a->job->nodes[i];
			if (n->kind != SL_NODE_SOURCE)
				continue;
			for (uint32_t w = 0; w < a->e->n_workers; w++) {
				struct sl_nodeinst *ni = node_inst(a, w, i);
				if (!ni || !(__atomic_load_n(&ni->lag_set, __ATOMIC_RELAXED) >> u & 1))
					continue;
				if (!any)
					family(b, units[u].name, "gauge", units[u].help);
				any = true;
				sl_http_buf_printf(b, "%s{job=\"", units[u].name);
				label(b, a->job->name);
				sl_http_buf_printf(b, "\",worker=\"%u\",node=\"", w);
				label(b, n->name);
				sl_http_buf_printf(
				    b, "\"} %.10g\n",
				    (double)__atomic_load_n(&ni->lag[u], __ATOMIC_RELAXED) * units[u].scale);
			}
		}
	}
}

static void job_gauge(struct sl_admin *a, struct sl_http_buf *b, const char *name, const char *help,
		      double v)
{
	family(b, name, "gauge", help);
	sl_http_buf_printf(b, "%s{job=\"", name);
	label(b, a->job->name);
	sl_http_buf_printf(b, "\"} %.15g\n", v);
}

/* One job-labelled metric with its HELP and TYPE lines. */
static void job_metric(struct sl_admin *a, struct sl_http_buf *b, const char *name,
		       const char *type, const char *help, double v)
{
	family(b, name, type, help);
	sl_http_buf_printf(b, "%s{job=\"", name);
	label(b, a->job->name);
	sl_http_buf_printf(b, "\"} %.10g\n", v);
}

static void process_metrics(struct sl_admin *a, struct sl_http_buf *b)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	family(b, "sluice_process_cpu_seconds_total", "counter",
	       "User and system CPU time of the process.");
	sl_http_buf_printf(b, "sluice_process_cpu_seconds_total %.6f\n", cpu);
	long page = sysconf(_SC_PAGESIZE);
	unsigned long long vm = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "re");
	if (f) {
		if (fscanf(f, "%llu %llu", &vm, &rss) != 2)
			vm = rss = 0;
		fclose(f);
	}
	family(b, "sluice_process_resident_memory_bytes", "gauge", "Resident set size.");
	sl_http_buf_printf(b, "sluice_process_resident_memory_bytes %llu\n",
			   rss * (unsigned long long)page);
	family(b, "sluice_process_virtual_memory_bytes", "gauge", "Virtual memory size.");
	sl_http_buf_printf(b, "sluice_process_virtual_memory_bytes %llu\n",
			   vm * (unsigned long long)page);
	family(b, "sluice_process_start_time_seconds", "gauge",
	       "Start of the process, seconds since the Unix epoch.");
	sl_http_buf_printf(b, "sluice_process_start_time_seconds %.3f\n", a->process_start_s);
	uint64_t fds = 0;
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			fds += de->d_name[0] != '.';
		closedir(d);
		fds--; /* the directory's own */
	}
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	family(b, "sluice_process_open_fds", "gauge", "Open file descriptors.");
	sl_http_buf_printf(b, "sluice_process_open_fds %" PRIu64 "\n", fds);
	family(b, "sluice_process_max_fds", "gauge", "Limit on open file descriptors.");
	sl_http_buf_printf(b, "sluice_process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
}

static void ep_metrics(struct sl_admin *a, struct sl_http_resp *r)
{
	int64_t t0 = sl_now_ns();
	struct sl_engine *e = a->e;
	sl_http_resp_type(r, "text/plain; version=0.0.4; charset=utf-8");
	struct sl_http_buf *b = sl_http_resp_body(r);
	family(b, "sluice_build_info", "gauge", "sluice version.");
	sl_http_buf_printf(b, "sluice_build_info{version=\"%s\"} 1\n", SLUICE_VERSION);
	job_gauge(a, b, "sluice_job_running", "1 while the job runs, else 0.", job_running(a));
	job_gauge(a, b, "sluice_job_start_time_seconds", "Job start, seconds since the Unix epoch.",
		  (double)a->start_wall_ms / 1e3);
	job_gauge(a, b, "sluice_job_uptime_seconds", "Seconds since the job started.", uptime_s(a));
	job_gauge(a, b, "sluice_workers", "Worker threads.", e->n_workers);

	worker_counter(a, b, "sluice_records_in_total", "Rows the sources read.",
		       offsetof(struct sl_worker_metrics, records_in), 1);
	worker_counter(a, b, "sluice_records_out_total", "Rows the sinks wrote.",
		       offsetof(struct sl_worker_metrics, records_out), 1);
	worker_counter(a, b, "sluice_bytes_in_total", "Bytes the sources read.",
		       offsetof(struct sl_worker_metrics, bytes_in), 1);
	worker_counter(a, b, "sluice_bytes_out_total", "Bytes the sinks wrote.",
		       offsetof(struct sl_worker_metrics, bytes_out), 1);
	worker_counter(a, b, "sluice_bad_records_total", "Rows that could not be read or computed.",
		       offsetof(struct sl_worker_metrics, bad_records), 1);
	worker_counter(a, b, "sluice_dead_letter_records_total",
		       "Bad rows the dead-letter sink took.",
		       offsetof(struct sl_worker_metrics, dead_letters), 1);
	worker_counter(a, b, "sluice_backpressure_blocked_seconds_total",
		       "Time sources waited on back-pressure.",
		       offsetof(struct sl_worker_metrics, blocked_ns), 1e-9);
	worker_counter(a, b, "sluice_busy_seconds_total", "Time the worker was not asleep.",
		       offsetof(struct sl_worker_metrics, busy_ns), 1e-9);
	worker_counter(a, b, "sluice_batches_sent_total", "Batches sent to other workers.",
		       offsetof(struct sl_worker_metrics, batches_sent), 1);

	family(b, "sluice_backpressure_ratio", "gauge",
	       "Share of the last 10 s the worker's sources waited on back-pressure.");
	for (uint32_t w = 0; w < e->n_workers; w++) {
		sl_http_buf_puts(b, "sluice_backpressure_ratio{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\"} %.6g\n", w, a->worker_bp[w]);
	}
	family(b, "sluice_exchange_queued_batches", "gauge",
	       "Batches waiting in the exchange rings towards the worker (ring occupancy).");
	for (uint32_t w = 0; w < e->n_workers; w++) {
		uint64_t q = 0;
		for (uint32_t from = 0; from < e->n_workers; from++) {
			struct sl_ring *ring = sl_engine_ring(e, from, w);
			uint32_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
			uint32_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
			uint32_t n = head - tail;
			q += n <= SL_RING_SLOTS ? n : 0; /* a torn pair of reads */
		}
		sl_http_buf_puts(b, "sluice_exchange_queued_batches{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\"} %" PRIu64 "\n", w, q);
	}
	latency_histogram(a, b);
	node_counter(a, b, false);
	node_counter(a, b, true);
	source_lag(a, b);

	if (a->n_alerts) {
		family(b, "sluice_alert_firing", "gauge", "1 while the alert rule fires.");
		for (uint32_t i = 0; i < a->n_alerts; i++) {
			sl_http_buf_puts(b, "sluice_alert_firing{job=\"");
			label(b, a->job->name);
			sl_http_buf_puts(b, "\",alert=\"");
			label(b, a->alerts[i].rule->name);
			sl_http_buf_printf(b, "\"} %d\n", a->alerts[i].state == ALERT_FIRING);
		}
	}
	family(b, "sluice_state_bytes", "gauge",
	       "Memory held by keyed state per worker (reported with state.memory_budget).");
	for (uint32_t i = 0; i < a->e->n_workers; i++) {
		sl_http_buf_puts(b, "sluice_state_bytes{job=\"");
		label(b, a->job->name);
		sl_http_buf_printf(b, "\",worker=\"%u\"} %" PRIu64 "\n", i,
				   sl_counter_read(&a->e->metrics[i].state_bytes));
	}
	if (a->e->ckpt_on) {
		struct sl_ckpt_stats cs;
		sl_ckpt_get_stats(a->e, &cs);
		job_metric(a, b, "sluice_checkpoints_completed_total", "counter",
			   "Checkpoints completed.", cs.completed);
		job_metric(a, b, "sluice_checkpoints_failed_total", "counter",
			   "Checkpoints failed or aborted (timeout, I/O error).", cs.failed);
		job_metric(a, b, "sluice_checkpoints_declined_total", "counter",
			   "Checkpoints a source declined (e.g. during an initial database snapshot).",
			   cs.declined);
		job_metric(a, b, "sluice_checkpoint_duration_seconds", "gauge",
			   "Duration of the last completed checkpoint, trigger to publish.",
			   (double)cs.last_duration_ms / 1e3);
		job_metric(a, b, "sluice_checkpoint_size_bytes", "gauge",
			   "Bytes written by the last completed checkpoint.", cs.last_bytes);
		job_metric(a, b, "sluice_checkpoint_last_completed_timestamp_seconds", "gauge",
			   "Wall-clock time the last checkpoint completed (0: none yet).",
			   (double)cs.last_completed_ms / 1e3);
		job_metric(a, b, "sluice_checkpoint_age_seconds", "gauge",
			   "Time since the last completed checkpoint (since start if none).",
			   (double)(sl_wall_ms() - (cs.last_completed_ms ? cs.last_completed_ms
									 : a->start_wall_ms)) /
			       1e3);
		job_metric(a, b, "sluice_checkpoint_stall_seconds_max", "gauge",
			   "Longest time a worker's sources paused at a checkpoint barrier.",
			   (double)cs.max_stall_ns / 1e9);
		job_metric(a, b, "sluice_restores_total", "counter",
			   "Restores from a checkpoint or savepoint at start (0 or 1 per process).",
			   cs.restored_id ? 1 : 0);
	}
	if (a->http) {
		const struct sl_http_stats *st = sl_http_stats(a->http);
		family(b, "sluice_admin_connections", "gauge", "Open admin HTTP connections.");
		sl_http_buf_printf(b, "sluice_admin_connections %" PRIu64 "\n",
				   st->connections_open);
		family(b, "sluice_admin_requests_total", "counter",
		       "Admin HTTP requests answered.");
		sl_http_buf_printf(b, "sluice_admin_requests_total %" PRIu64 "\n", st->requests);
		family(b, "sluice_admin_connections_dropped_total", "counter",
		       "Admin connections dropped: slow, idle too long, over a limit.");
		sl_http_buf_printf(b, "sluice_admin_connections_dropped_total %" PRIu64 "\n",
				   st->connections_dropped);
		family(b, "sluice_admin_scrape_duration_seconds", "gauge",
		       "Time the previous /metrics page took to build.");
		sl_http_buf_printf(b, "sluice_admin_scrape_duration_seconds %.9f\n",
				   (double)a->last_scrape_ns / 1e9);
	}
	process_metrics(a, b);
	a->last_scrape_ns = sl_now_ns() - t0;
}

/* ---- routing ---- */

static void route_job(struct sl_admin *a, const struct sl_http_req *req, struct sl_http_resp *r,
		      const char *rest)
{
	const char *slash = strchr(rest, '/');
	size_t idl = slash ? (size_t)(slash - rest) : strlen(rest);
	const char *sub = slash ? slash : "";
	if (idl != strlen(a->job->name) || memcmp(rest, a->job->name, idl) != 0) {
		char msg[SL_HTTP_PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "job %.*s not found", (int)idl, rest);
		json_error(r, 404, msg);
		return;
	}
	bool get = req->method == SL_HTTP_GET || req->method == SL_HTTP_HEAD;
	if (!*sub) {
		if (get)
			ep_job(a, r);
		else if (req->method == SL_HTTP_PATCH)
			ep_cancel(a, req, r);
		else
			method_not_allowed(r, "GET, HEAD, PATCH");
	} else if (strcmp(sub, "/checkpoints") == 0) {
		get ? ep_checkpoints(a, r) : method_not_allowed(r, "GET, HEAD");
	} else if (strcmp(sub, "/history") == 0) {
		get ? ep_history(a, req, r) : method_not_allowed(r, "GET, HEAD");
	} else if (strcmp(sub, "/savepoints") == 0) {
		if (req->method == SL_HTTP_POST)
			ep_savepoint_post(a, req, r);
		else
			method_not_allowed(r, "POST");
	} else if (strncmp(sub, "/savepoints/", 12) == 0 && sub[12]) {
		get ? ep_savepoint_get(a, sub + 12, r) : method_not_allowed(r, "GET, HEAD");
	} else {
		char msg[SL_HTTP_PATH_MAX + 32];
		snprintf(msg, sizeof(msg), "Not found: %s", req->path);
		json_error(r, 404, msg);
	}
}

static void handle(void *ctx, const struct sl_http_req *req, struct sl_http_resp *r)
{
	struct sl_admin *a = ctx;
	const char *p = req->path;
	bool get = req->method == SL_HTTP_GET || req->method == SL_HTTP_HEAD;
	static const struct {
		const char *path;
		void (*fn)(struct sl_admin *, struct sl_http_resp *);
	} gets[] = {
	    {"/health", ep_health},	{"/health/ready", ep_ready}, {"/metrics", ep_metrics},
	    {"/overview", ep_overview}, {"/jobs", ep_jobs},	     {"/alerts", ep_alerts},
	};
	if (strcmp(p, "/") == 0) {
		if (!get) {
			method_not_allowed(r, "GET, HEAD");
			return;
		}
		sl_http_resp_type(r, "text/html; charset=utf-8");
		sl_http_resp_header(r, "Content-Security-Policy",
				    "default-src 'none'; script-src 'unsafe-inline'; style-src "
				    "'unsafe-inline'; connect-src 'self'; img-src data:; base-uri "
				    "'none'; form-action 'none'; frame-ancestors 'none'");
		sl_http_buf_put(sl_http_resp_body(r), sl_admin_page, sl_admin_page_len);
		return;
	}
	if (strcmp(p, "/health/live") == 0) {
		if (!get) {
			method_not_allowed(r, "GET, HEAD");
			return;
		}
		sl_http_resp_type(r, "application/json");
		sl_http_buf_puts(sl_http_resp_body(r), "{\"status\":\"UP\"}");
		return;
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(gets); i++) {
		if (strcmp(p, gets[i].path) != 0)
			continue;
		if (get)
			gets[i].fn(a, r);
		else
			method_not_allowed(r, "GET, HEAD");
		return;
	}
	if (strncmp(p, "/jobs/", 6) == 0 && p[6]) {
		route_job(a, req, r, p + 6);
		return;
	}
	char msg[SL_HTTP_PATH_MAX + 32];
	snprintf(msg, sizeof(msg), "Not found: %s", p);
	json_error(r, 404, msg);
}

/* ---- lifecycle ---- */

static double read_process_start(void)
{
	/* /proc/self/stat field 22 (start, clock ticks after boot) + btime. */
	char buf[1024];
	double start = 0;
	FILE *f = fopen("/proc/self/stat", "re");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		char *p = strrchr(buf, ')');
		unsigned long long ticks = 0;
		for (int field = 2; p && field < 22; field++)
			p = strchr(p + 1, ' ');
		if (p && sscanf(p + 1, "%llu", &ticks) == 1)
			start = (double)ticks / (double)sysconf(_SC_CLK_TCK);
	}
	unsigned long long btime = 0;
	f = fopen("/proc/stat", "re");
	if (f) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "btime %llu", &btime) == 1)
				break;
		fclose(f);
	}
	return btime ? (double)btime + start : (double)sl_wall_ms() / 1e3;
}

/* Reads the bearer token (trailing whitespace trimmed). */
static int read_token(const char *path, char *tok, size_t cap, size_t *len, char *err,
		      size_t errcap)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(err, errcap, "admin.token_file %s: %s", path, strerror(errno));
		return -errno;
	}
	size_t n = fread(tok, 1, cap, f);
	bool more = fgetc(f) != EOF;
	fclose(f);
	while (n && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' ' ||
		     tok[n - 1] == '\t'))
		n--;
	if (more || n > SL_HTTP_TOKEN_MAX) {
		snprintf(err, errcap, "admin.token_file %s: the token is longer than %u bytes",
			 path, SL_HTTP_TOKEN_MAX);
		return -EINVAL;
	}
	if (n == 0) {
		snprintf(err, errcap, "admin.token_file %s is empty", path);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)tok[i] <= 0x20 || (unsigned char)tok[i] >= 0x7f) {
			snprintf(err, errcap,
				 "admin.token_file %s: the token must be printable ASCII without "
				 "spaces",
				 path);
			return -EINVAL;
		}
	*len = n;
	return 0;
}

static void admin_free(struct sl_admin *a)
{
	sl_http_close(a->http);
	free(a->lat);
	free(a->scratch);
	free(a->blocked);
	free(a->worker_bp);
	free(a);
}

struct sl_admin *sl_admin_start(struct sl_engine *e, struct sl_job *job)
{
	static const char *const public_paths[] = {"/health/live", "/", NULL};
	struct sl_admin_conf defaults = {.enabled = true, .listen = SL_ADMIN_LISTEN_DEFAULT};
	const struct sl_admin_conf *conf = job->admin ? job->admin : &defaults;
	if (!conf->enabled && conf->n_rules == 0)
		return NULL;
	struct sl_admin *a = calloc(1, sizeof(*a));
	if (!a)
		goto out_nomem;
	a->e = e;
	a->job = job;
	a->conf = *conf;
	uint32_t n = e->n_workers;
	a->lat = calloc(N_SNAPS, sizeof(*a->lat));
	a->scratch = calloc(1, sizeof(*a->scratch));
	a->blocked = calloc((size_t)N_SNAPS * n, sizeof(*a->blocked));
	a->worker_bp = calloc(n, sizeof(*a->worker_bp));
	if (!a->lat || !a->scratch || !a->blocked || !a->worker_bp)
		goto out_nomem;
	int64_t now = sl_now_ns();
	a->start_wall_ms = sl_wall_ms() - (now - e->start_ns) / MS_NS;
	a->process_start_s = read_process_start();
	a->win.p50_s = a->win.p95_s = a->win.p99_s = NAN;

	char err[512];
	char tok[SL_HTTP_TOKEN_MAX + 1];
	size_t tok_len = 0;
	if (conf->enabled && conf->token_file &&
	    read_token(conf->token_file, tok, sizeof(tok), &tok_len, err, sizeof(err)) < 0) {
		sl_engine_fail(e, -EINVAL, err);
		goto out_fail;
	}
	a->http = sl_http_listen(conf->enabled ? conf->listen : NULL, handle, a, err, sizeof(err));
	if (!a->http && conf->enabled && (conf->listen_explicit || conf->token_file)) {
		sl_engine_fail(e, -EADDRNOTAVAIL, err);
		goto out_fail;
	}
	if (!a->http && conf->enabled) {
		/* The default address is taken (another sluice?): run without. */
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"admin server not started: set admin.listen (port 0 picks a free "
		       "one) or admin: {listen: off}\" reason=\"%s\"",
		       err);
		a->http = sl_http_listen(NULL, handle, a, err, sizeof(err));
	}
	if (a->http && *sl_http_addr(a->http)) {
		a->listening = true;
		if (tok_len)
			sl_http_set_token(a->http, tok, tok_len, public_paths);
		sl_log(SL_LOG_INFO, -1, NULL, "msg=\"admin listening\" addr=%s job=%s auth=%s",
		       sl_http_addr(a->http), job->name, tok_len ? "bearer" : "none");
	}
	memset(tok, 0, sizeof(tok));
	__asm__ volatile("" ::"r"(tok) : "memory"); /* keep the wipe */

	for (uint32_t i = 0; i < conf->n_rules; i++) {
		struct alert *al = &a->alerts[a->n_alerts++];
		al->rule = &conf->rules[i];
		al->value = NAN;
		if (!al->rule->webhook)
			continue;
		if (!a->http) {
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"alert webhook disabled: no io_uring\" alert=%s",
			       al->rule->name);
			continue;
		}
		if (sl_http_url_parse(al->rule->webhook, &al->url, err, sizeof(err)) < 0 ||
		    sl_http_url_resolve(&al->url, err, sizeof(err)) < 0) {
			/* The URL's path may hold a secret: it is not logged. */
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"alert webhook disabled\" alert=%s reason=\"%s\"",
			       al->rule->name, err);
			continue;
		}
		al->has_url = true;
	}
	/* Counters were zero when the engine started: the first window
	 * reaches back to then. */
	a->snaps[0].t_ns = e->start_ns;
	a->seq = 1;
	sample(a, now);
	a->next_tick_ns = now + NS_PER_S;
	return a;
out_nomem:
	sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"admin: out of memory\"");
out_fail:
	if (a)
		admin_free(a);
	return NULL;
}

static void tick(struct sl_admin *a, int64_t now, int64_t scheduled)
{
	sample(a, now);
	evaluate_alerts(a, scheduled);
}

void sl_admin_poll(struct sl_admin *a, int timeout_ms)
{
	if (!a) {
		usleep((useconds_t)timeout_ms * 1000u);
		return;
	}
	int64_t end = sl_now_ns() + (int64_t)timeout_ms * MS_NS;
	for (;;) {
		int64_t now = sl_now_ns();
		if (now >= a->next_tick_ns) {
			/* Alerts run on the tick's schedule, so 'for 2s' is two
			 * evaluations apart, not two and a bit. */
			tick(a, now, a->next_tick_ns);
			a->next_tick_ns += NS_PER_S;
			if (a->next_tick_ns <= now)
				a->next_tick_ns = now + NS_PER_S;
		}
		webhook_pump(a, now);
		if (now >= end)
			break;
		int64_t until = SL_MIN(end, a->next_tick_ns) - now;
		int wait_ms = (int)((until + MS_NS - 1) / MS_NS);
		if (a->http)
			sl_http_poll(a->http, wait_ms);
		else
			usleep((useconds_t)wait_ms * 1000u);
	}
}

static volatile sig_atomic_t linger_cut;

static void on_linger_signal(int sig)
{
	(void)sig;
	linger_cut = 1;
}

void sl_admin_stop(struct sl_admin *a)
{
	if (!a)
		return;
	sample(a, sl_now_ns()); /* the final counts, for the lingering reader */
	resolve_all(a);
	if (a->listening && a->conf.linger_ms > 0) {
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"job ended: admin serving the final state\" linger_s=%.1f state=%s",
		       (double)a->conf.linger_ms / 1e3, job_state(a));
		struct sigaction sa = {0}, old_int, old_term;
		sa.sa_handler = on_linger_signal;
		sigemptyset(&sa.sa_mask);
		linger_cut = 0;
		sigaction(SIGINT, &sa, &old_int);
		sigaction(SIGTERM, &sa, &old_term);
		int64_t end = sl_now_ns() + a->conf.linger_ms * MS_NS;
		while (!linger_cut && sl_now_ns() < end)
			sl_admin_poll(a, (int)SL_MIN(100, (end - sl_now_ns()) / MS_NS + 1));
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
	}
	/* Up to a second for notifications already due (a resolve at the
	 * end, say); later retries are given up. */
	int64_t end = sl_now_ns() + NS_PER_S;
	while (a->q_len && a->http && sl_now_ns() < end &&
	       (a->wh_busy || a->queue[a->q_head].next_ns <= sl_now_ns())) {
		webhook_pump(a, sl_now_ns());
		sl_http_poll(a->http, 20);
	}
	a->closing = true;
	if (a->q_len)
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"alert webhook notifications not delivered at exit\" count=%u",
		       a->q_len);
	admin_free(a);
}
