/* `sluice run` and `sluice validate`: load, check and run a job file. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/engine.h"
#include "core/job.h"
#include "core/progress.h"
#include "tools/sluice.h"

extern char **environ;

#define MAX_SETS 256

struct run_args {
	const char *job;
	int64_t workers;
	char *sets[MAX_SETS];
	uint32_t n_sets;
	const char *summary_json;
	bool quiet;
	const char *restore;
	bool supervise;
};

static int parse_args(const char *cmd, int argc, char **argv, struct run_args *a)
{
	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char *val = NULL;
#define OPT(name)                                                                     \
	((strcmp(s, name) == 0 && i + 1 < argc && (val = argv[++i])) ||                \
	 (strncmp(s, name "=", sizeof(name)) == 0 && (val = s + sizeof(name))))
		if (OPT("--workers")) {
			char *end;
			long long n = strtoll(val, &end, 10);
			if (*end || n < 1 || n > SL_MAX_WORKERS) {
				fprintf(stderr, "sluice %s: --workers must be 1..%u, got '%s'\n", cmd,
					SL_MAX_WORKERS, val);
				return -EINVAL;
			}
			a->workers = n;
		} else if (OPT("--set")) {
			if (a->n_sets == MAX_SETS) {
				fprintf(stderr, "sluice %s: more than %d --set\n", cmd, MAX_SETS);
				return -EINVAL;
			}
			a->sets[a->n_sets++] = (char *)val;
		} else if (OPT("--summary-json")) {
			a->summary_json = val;
		} else if (OPT("--restore")) {
			a->restore = val;
		} else if (strcmp(s, "--supervise") == 0) {
			a->supervise = true;
		} else if (strcmp(s, "--quiet") == 0 || strcmp(s, "-q") == 0) {
			a->quiet = true;
		} else if (s[0] == '-' && s[1]) {
			fprintf(stderr, "sluice %s: unknown option '%s'\n", cmd, s);
			return -EINVAL;
		} else if (!a->job) {
			a->job = s;
		} else {
			fprintf(stderr, "sluice %s: one job file only (got '%s' and '%s')\n", cmd,
				a->job, s);
			return -EINVAL;
		}
#undef OPT
	}
	if (!a->job) {
		fprintf(stderr, "usage: sluice %s JOB.yaml [--workers N] [--set key.path=value ...]%s\n",
			cmd,
			strcmp(cmd, "run") == 0
				? " [--summary-json FILE] [--restore latest|PATH] [--supervise]"
				: "");
		return -EINVAL;
	}
	return 0;
}

static struct sl_job *load(const char *cmd, const struct run_args *a)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_job *job = NULL;
	int rc = sl_job_load(a->job, NULL, 0, a->sets, a->n_sets, environ, &d, &job);
	if (rc < 0) {
		fputs(sl_diag_text(&d), stderr);
		if (d.n_errors > SL_DIAG_MAX_ERRORS)
			fprintf(stderr, "(%u more errors)\n", d.n_errors - SL_DIAG_MAX_ERRORS);
		if (d.n_errors == 0)
			fprintf(stderr, "sluice %s: %s: %s\n", cmd, a->job, strerror(-rc));
	}
	sl_diag_fini(&d);
	return job;
}

static void apply_log_level(const struct sl_job *job)
{
	enum sl_log_level lv = job ? job->log_level : SL_LOG_INFO;
	const char *env = getenv("SLUICE_LOG");
	if (env && *env && !sl_log_parse_level(env, &lv))
		fprintf(stderr, "sluice: SLUICE_LOG='%s' is not debug, info, warn or error; "
				"using info\n",
			env);
	sl_log_set_level(lv);
}

static void print_graph(const struct sl_job *job, FILE *f)
{
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		const struct sl_node *n = job->nodes[i];
		fprintf(f, "  %-6s %-20s %-10s", sl_node_kind_name(n->kind), n->name,
			n->plugin->name);
		if (n->n_inputs) {
			fputs(" from ", f);
			for (uint32_t k = 0; k < n->n_inputs; k++) {
				const struct sl_node *in = job->nodes[n->inputs[k]];
				fprintf(f, "%s%s%s%s", k ? "," : "", in->name, in->n_ports ? "." : "",
					in->n_ports ? in->ports[n->in_port[k]] : "");
			}
		}
		fputs("\n         (", f);
		for (uint32_t c = 0; c < n->schema.n_fields; c++)
			fprintf(f, "%s%s %s%s", c ? ", " : "", n->schema.fields[c].name,
				sl_type_name(n->schema.fields[c].type),
				n->schema.fields[c].not_null ? " NOT NULL" : "");
		fprintf(f, ")%s\n", n->changelog ? " changelog" : "");
	}
}

int sl_cmd_validate(int argc, char **argv)
{
	struct run_args a;
	if (parse_args("validate", argc, argv, &a) < 0)
		return 2;
	sl_log_set_level(SL_LOG_WARN);
	struct sl_job *job = load("validate", &a);
	if (!job)
		return 2;
	printf("%s: ok: job '%s', %u nodes\n", a.job, job->name, job->n_nodes);
	print_graph(job, stdout);
	sl_job_free(job);
	return 0;
}

static void human_summary(const struct sl_job *job, const struct sl_summary *s, FILE *f)
{
	char a[32], b[32], c[32];
	fprintf(f, "\nsluice: job '%s' finished on %u worker%s in %.2f s\n", job->name, s->workers,
		s->workers == 1 ? "" : "s", s->elapsed_s);
	fprintf(f, "  records in   %s (%s/s)\n", sl_human_count((double)s->records_in, a, sizeof(a)),
		sl_human_count(s->records_per_s, b, sizeof(b)));
	fprintf(f, "  records out  %s\n", sl_human_count((double)s->records_out, c, sizeof(c)));
	if (s->bad_records)
		fprintf(f, "  bad records  %" PRIu64 " (see the warnings above)\n", s->bad_records);
	fprintf(f, "  latency      p50 %.2f ms, p99 %.2f ms (ingest -> sink)\n",
		s->latency_p50_us / 1000, s->latency_p99_us / 1000);
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		const struct sl_node *n = job->nodes[i];
		if (n->kind != SL_NODE_SINK)
			continue;
		char where[4300];
		const char *w = n->plugin->describe ? n->plugin->describe(n, where, sizeof(where))
						    : n->plugin->name;
		fprintf(f, "  output       %s -> %s\n", n->name, w);
	}
}

int sl_cmd_run(int argc, char **argv)
{
	struct run_args a;
	if (parse_args("run", argc, argv, &a) < 0)
		return 2;
	struct sl_job *job = load("run", &a);
	if (!job)
		return 2;
	apply_log_level(job);
	char msg[600];
	if (sl_engine_probe_uring(msg, sizeof(msg)) < 0) {
		fprintf(stderr, "%s\n", msg);
		sl_job_free(job);
		return 1;
	}
	if (a.supervise) {
		int src = sl_supervise(job, argc, argv);
		sl_job_free(job);
		return src;
	}
	struct sl_run_opts opts = {
		.restore = a.restore,
		.workers = a.workers,
		.progress = !a.quiet && sl_progress_wanted(),
		.summary_json = a.summary_json,
		.quiet = a.quiet,
	};
	struct sl_summary s;
	int rc = sl_engine_run(job, &opts, &s);
	if (a.summary_json) {
		FILE *f = fopen(a.summary_json, "w");
		if (!f) {
			fprintf(stderr, "sluice run: cannot write %s: %s\n", a.summary_json,
				strerror(errno));
		} else {
			sl_summary_write_json(&s, f);
			fclose(f);
		}
	}
	if (!a.quiet && isatty(STDERR_FILENO) && rc == 0 && !s.already_complete)
		human_summary(job, &s, stderr);
	sl_job_free(job);
	return rc == 0 ? 0 : 1;
}
