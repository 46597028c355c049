/* `sluice bench`: the reference workloads, one JSON line per run, each in its own process. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/generator/customer.h"
#include "core/engine.h"
#include "core/job.h"
#include "io/json.h"
#include "tools/sluice.h"

struct bench_opts {
	uint64_t records;
	uint64_t keys;
	uint32_t workers[8];
	uint32_t n_workers;
	const char *only;
	const char *dir;
};

struct result {
	struct sl_summary s;
	double cpu_s;
	int status;
};

static bool wanted(const struct bench_opts *o, const char *name)
{
	if (!o->only)
		return true;
	size_t n = strlen(name);
	for (const char *p = o->only; (p = strstr(p, name)); p += n)
		if ((p == o->only || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* Runs one job in a child process; stop_after_s > 0 sends SIGTERM then.
 * yaml is the job's text, or NULL to load path with the overrides sets. */
static int run_job(const char *yaml, const char *path, char *const *sets, uint32_t n_sets,
		   uint32_t workers, double stop_after_s, struct result *res)
{
	int fd[2];
	if (pipe(fd) < 0)
		return -errno;
	struct rusage before, after;
	getrusage(RUSAGE_CHILDREN, &before);
	int64_t t0 = sl_now_ns();
	pid_t pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		close(fd[0]);
		sl_log_set_level(SL_LOG_WARN);
		struct sl_diag d;
		sl_diag_init(&d);
		struct sl_job *job;
		/* Runs measure the engine, not the admin server (and would fight
		 * over its port): it is off unless a set turns it on. */
		char *all_sets[24];
		uint32_t n_all = 0;
		all_sets[n_all++] = "admin={listen: off}";
		for (uint32_t i = 0; i < n_sets && n_all < 24; i++)
			all_sets[n_all++] = sets[i];
		if (sl_job_load(yaml ? "bench.yaml" : path, yaml, yaml ? strlen(yaml) : 0, all_sets,
				n_all, NULL, &d, &job) < 0) {
			fputs(sl_diag_text(&d), stderr);
			_exit(2);
		}
		struct sl_run_opts opts = {.workers = workers, .quiet = true};
		struct sl_summary s;
		int rc = sl_engine_run(job, &opts, &s);
		ssize_t w = write(fd[1], &s, sizeof(s));
		_exit(rc == 0 && w == (ssize_t)sizeof(s) ? 0 : 1);
	}
	close(fd[1]);
	if (stop_after_s > 0) {
		usleep((useconds_t)(stop_after_s * 1e6));
		kill(pid, SIGTERM);
	}
	ssize_t n = read(fd[0], &res->s, sizeof(res->s));
	close(fd[0]);
	int status;
	waitpid(pid, &status, 0);
	getrusage(RUSAGE_CHILDREN, &after);
	(void)t0;
	res->cpu_s = (double)(after.ru_utime.tv_sec - before.ru_utime.tv_sec) +
		     (double)(after.ru_stime.tv_sec - before.ru_stime.tv_sec) +
		     (double)(after.ru_utime.tv_usec - before.ru_utime.tv_usec) / 1e6 +
		     (double)(after.ru_stime.tv_usec - before.ru_stime.tv_usec) / 1e6;
	res->status = status;
	if (n != (ssize_t)sizeof(res->s) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -EIO;
	return 0;
}

static int run_child(const char *yaml, uint32_t workers, double stop_after_s, struct result *res)
{
	return run_job(yaml, NULL, NULL, 0, workers, stop_after_s, res);
}

/* The reference job (examples/customer-archive.yaml) with its sinks moved
 * under dir (or to blackholes) and its source switched to the file. */
static int run_reference(const char *dir, const char *input, const char *sink_kind,
			 uint64_t records, uint32_t workers, struct result *res)
{
	static const char *const sinks[] = {"id_check", "phone_check", "address_fix", "cleaning",
					    "anomaly",  "standard",    "archive"};
	static const char *const ports[] = {"routed.id_check", "routed.phone_check",
					    "routed.address_fix", "routed.cleaning",
					    "routed.anomaly", "routed.default", "latest"};
	static char buf[16][2600];
	char *sets[16];
	uint32_t n = 0;
	char rm[700];
	snprintf(rm, sizeof(rm), "rm -rf '%s/ref'", dir);
	if (system(rm) != 0)
		return -EIO;
	for (size_t i = 0; i < SL_ARRAY_LEN(sinks); i++) {
		if (strcmp(sink_kind, "blackhole") == 0)
			snprintf(buf[n], sizeof(buf[n]), "sinks.%s={from: %s, type: blackhole}", sinks[i],
				 ports[i]);
		else
			snprintf(buf[n], sizeof(buf[n]),
				 "sinks.%s={from: %s, type: file, path: '%s/ref/%s', compression: %s%s}",
				 sinks[i], ports[i], dir, sinks[i], sink_kind,
				 strcmp(sinks[i], "archive") == 0
					 ? ", format: upsert-json, key: [customer_id]"
					 : "");
		sets[n] = buf[n];
		n++;
	}
	snprintf(buf[n], sizeof(buf[n]), "dead_letter={type: file, path: '%s/ref/dead'}", dir);
	sets[n] = buf[n];
	n++;
	if (input)
		snprintf(buf[n], sizeof(buf[n]),
			 "sources.customers={type: file, path: '%s', format: debezium-json, schema: "
			 "'customer_id BIGINT NOT NULL, name STRING, address STRING, phone STRING, "
			 "id_number STRING, updated_time BIGINT'}",
			 input);
	else
		snprintf(buf[n], sizeof(buf[n]), "sources.customers.records=%" PRIu64, records);
	sets[n] = buf[n];
	n++;
	return run_job(NULL, "examples/customer-archive.yaml", sets, n, workers, 0, res);
}

static void print_result(const char *workload, uint32_t workers, const struct result *r,
			 const char *extra)
{
	const struct sl_summary *s = &r->s;
	printf("{\"workload\":\"%s\",\"workers\":%u,\"records\":%" PRIu64 ",\"records_per_s\":%.0f,"
	       "\"records_per_s_per_worker\":%.0f,\"mb_per_s\":%.1f,\"latency_p50_us\":%.1f,"
	       "\"latency_p99_us\":%.1f,\"peak_rss_mb\":%.1f,\"elapsed_s\":%.3f,\"cpu_s\":%.3f%s}\n",
	       workload, s->workers, s->records_in, s->records_per_s,
	       s->records_per_s / (s->workers ? s->workers : 1),
	       s->elapsed_s > 0 ? (double)s->bytes_in / 1e6 / s->elapsed_s : 0, s->latency_p50_us,
	       s->latency_p99_us, (double)s->peak_rss_kb / 1024.0, s->elapsed_s, r->cpu_s,
	       extra ? extra : "");
	(void)workers;
	fflush(stdout);
}

/* Writes the benchmark input once: records generated events as NDJSON. */
static int make_input(const char *path, uint64_t records, uint64_t keys)
{
	struct stat st;
	if (stat(path, &st) == 0 && st.st_size > 0)
		return 0;
	fprintf(stderr, "bench: writing %" PRIu64 " events to %s\n", records, path);
	struct sl_customer_params p = {.records = records, .keys = keys, .seed = 1, .bad_ratio = 0};
	uint32_t n = sl_customer_n_splits(&p);
	struct sl_customer_split **sp = calloc(n, sizeof(*sp));
	char *buf = malloc(1 << 22);
	FILE *f = fopen(path, "w");
	if (!sp || !buf || !f)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		if (sl_customer_split_init(&sp[i], &p, i) < 0)
			return -EINVAL;
	struct sl_customer_event ev;
	size_t len = 0;
	for (bool any = true; any;) {
		any = false;
		for (uint32_t i = 0; i < n; i++) {
			if (!sl_customer_split_next(sp[i], &ev))
				continue;
			any = true;
			len += (size_t)sl_customer_write_debezium(&ev, buf + len, (1 << 22) - len);
			if (len > (1 << 22) - SL_CUSTOMER_JSON_MAX_BYTES) {
				fwrite(buf, 1, len, f);
				len = 0;
			}
		}
	}
	fwrite(buf, 1, len, f);
	for (uint32_t i = 0; i < n; i++)
		sl_customer_split_free(sp[i]);
	free(sp);
	free(buf);
	return fclose(f) == 0 ? 0 : -errno;
}

/* The shim alone over the same bytes, one core: the ceiling for parsing. */
static void limit_run(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return;
	size_t len = (size_t)st.st_size;
	char *buf = malloc(len + SL_JSON_PADDING);
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	memset(buf + got, 0, SL_JSON_PADDING);
	uint64_t docs = 0;
	int64_t t0 = sl_now_ns();
	int rc = sl_json_bench_parse_lines(buf, got, &docs);
	double s = (double)(sl_now_ns() - t0) / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"workload\":\"limit-simdjson-parse\",\"workers\":1,\"records\":%" PRIu64
	       ",\"records_per_s\":%.0f,\"records_per_s_per_worker\":%.0f,\"mb_per_s\":%.1f,"
	       "\"latency_p50_us\":0,\"latency_p99_us\":0,\"peak_rss_mb\":%.1f,\"elapsed_s\":%.3f,"
	       "\"ok\":%s}\n",
	       docs, (double)docs / s, (double)docs / s, (double)got / 1e6 / s,
	       (double)ru.ru_maxrss / 1024, s, rc == 0 ? "true" : "false");
	fflush(stdout);
	free(buf);
}

static int usage(void)
{
	fputs("usage: sluice bench [--records N] [--keys K] [--workers 1,2] [--only NAMES] "
	      "[--dir DIR]\n"
	      "workloads: gen-keyby-count, file-parse, file-parse-keyby-count-file, limit, "
	      "latency-100k, idle, reference-gen-blackhole, reference-file-plain, "
	      "reference-file-zstd\n",
	      stderr);
	return 2;
}

int sl_cmd_bench(int argc, char **argv)
{
	struct bench_opts o = {.records = 5000000, .keys = 1000000, .dir = "bench/data"};
	uint32_t all = sl_engine_cpus((int[SL_MAX_WORKERS]){0}, SL_MAX_WORKERS, &(uint32_t){0});
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (strcmp(a, "--records") == 0)
			o.records = strtoull(v, NULL, 10);
		else if (strcmp(a, "--keys") == 0)
			o.keys = strtoull(v, NULL, 10);
		else if (strcmp(a, "--only") == 0)
			o.only = v;
		else if (strcmp(a, "--dir") == 0)
			o.dir = v;
		else if (strcmp(a, "--workers") == 0) {
			char *s = strdup(v);
			for (char *t = strtok(s, ","); t && o.n_workers < 8; t = strtok(NULL, ","))
				o.workers[o.n_workers++] = (uint32_t)atoi(t);
			free(s);
		} else
			return usage();
		i++;
	}
	if (o.records == 0 || o.keys == 0)
		return usage();
	if (o.n_workers == 0) {
		o.workers[o.n_workers++] = 1;
		if (all > 1)
			o.workers[o.n_workers++] = all;
	}
	char msg[600];
	if (sl_engine_probe_uring(msg, sizeof(msg)) < 0) {
		fprintf(stderr, "%s\n", msg);
		return 1;
	}
	mkdir(o.dir, 0755);
	char input[2048], out[2100], yaml[16384];
	snprintf(input, sizeof(input), "%s/events-%" PRIu64 ".ndjson", o.dir, o.records);
	snprintf(out, sizeof(out), "%s/out", o.dir);
	bool file_runs = wanted(&o, "file-parse") || wanted(&o, "file-parse-keyby-count-file") ||
			 wanted(&o, "limit") || wanted(&o, "reference-file-plain") ||
			 wanted(&o, "reference-file-zstd");
	if (file_runs && make_input(input, o.records, o.keys) < 0) {
		fprintf(stderr, "bench: cannot write %s\n", input);
		return 1;
	}
	struct result r;
	int failures = 0;
	for (uint32_t k = 0; k < o.n_workers; k++) {
		uint32_t w = o.workers[k];
		if (wanted(&o, "gen-keyby-count")) {
			snprintf(yaml, sizeof(yaml),
				 "job: bench\nsources:\n  g: {type: generator, records: %" PRIu64
				 ", keys: %" PRIu64 "}\n"
				 "steps:\n  k: {from: g, op: key_by, key: [customer_id]}\n"
				 "  c: {from: k, op: aggregate, key: [customer_id], aggregates: {n: count}}\n"
				 "sinks:\n  b: {from: c, type: blackhole}\n",
				 o.records, o.keys);
			if (run_child(yaml, w, 0, &r) == 0)
				print_result("gen-keyby-count-blackhole", w, &r, NULL);
			else
				failures++;
		}
		const char *fields = "fields: {customer_id: {path: after.customer_id, type: BIGINT}, "
				     "op: {path: op, type: STRING}, ts: {path: ts_ms, type: BIGINT}}";
		if (wanted(&o, "file-parse")) {
			snprintf(yaml, sizeof(yaml),
				 "job: bench\nsources:\n  f: {type: file, path: '%s', format: json, %s}\n"
				 "sinks:\n  b: {from: f, type: blackhole}\n",
				 input, fields);
			if (run_child(yaml, w, 0, &r) == 0)
				print_result("file-parse-blackhole", w, &r, NULL);
			else
				failures++;
		}
		if (wanted(&o, "file-parse-keyby-count-file")) {
			char rm[4300];
			snprintf(rm, sizeof(rm), "rm -rf '%s'", out);
			if (system(rm) != 0)
				failures++;
			snprintf(yaml, sizeof(yaml),
				 "job: bench\nsources:\n  f: {type: file, path: '%s', format: json, %s}\n"
				 "steps:\n  k: {from: f, op: key_by, key: [customer_id]}\n"
				 "  c: {from: k, op: aggregate, key: [customer_id], aggregates: {n: count}}\n"
				 "sinks:\n  o: {from: c, type: file, path: '%s'}\n",
				 input, fields, out);
			if (run_child(yaml, w, 0, &r) == 0)
				print_result("file-parse-keyby-count-file", w, &r, NULL);
			else
				failures++;
		}
	}
	for (uint32_t k = 0; k < o.n_workers; k++) {
		uint32_t w = o.workers[k];
		static const struct {
			const char *name, *sinks;
			bool file;
		} refs[] = {{"reference-gen-blackhole", "blackhole", false},
			    {"reference-file-plain", "none", true},
			    {"reference-file-zstd", "zstd", true}};
		for (size_t i = 0; i < SL_ARRAY_LEN(refs); i++) {
			if (!wanted(&o, refs[i].name))
				continue;
			if (run_reference(o.dir, refs[i].file ? input : NULL, refs[i].sinks, o.records,
					  w, &r) == 0)
				print_result(refs[i].name, w, &r, NULL);
			else
				failures++;
		}
	}
	if (wanted(&o, "limit"))
		limit_run(input);
	if (wanted(&o, "latency-100k")) {
		snprintf(yaml, sizeof(yaml),
			 "job: bench\nsources:\n  g: {type: generator, records: 1000000, keys: %" PRIu64
			 ", rate: 100000}\n"
			 "steps:\n  k: {from: g, op: key_by, key: [customer_id]}\n"
			 "  c: {from: k, op: aggregate, key: [customer_id], aggregates: {n: count}}\n"
			 "sinks:\n  b: {from: c, type: blackhole}\n",
			 o.keys);
		if (run_child(yaml, all, 0, &r) == 0)
			print_result("latency-100k-offered", all, &r, NULL);
		else
			failures++;
	}
	if (wanted(&o, "idle")) {
		snprintf(yaml, sizeof(yaml),
			 "job: bench\nsources:\n  g: {type: generator, rate: 0}\n"
			 "steps:\n  k: {from: g, op: key_by, key: [customer_id]}\n"
			 "sinks:\n  b: {from: k, type: blackhole}\n");
		if (run_child(yaml, all, 5.0, &r) == 0) {
			char extra[64];
			snprintf(extra, sizeof(extra), ",\"cpu_pct\":%.3f",
				 100.0 * r.cpu_s / (r.s.elapsed_s > 0 ? r.s.elapsed_s : 1));
			print_result("idle", all, &r, extra);
		} else {
			failures++;
		}
	}
	return failures ? 1 : 0;
}
