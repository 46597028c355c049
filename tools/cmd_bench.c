/* `sluice bench`: the reference workloads, one JSON line per run, each in its own process. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connectors/generator/customer.h"
#include "core/checkpoint.h"
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
	double ckpt_seconds; /* checkpoint-1m/-10m: run length (0: by key count) */
};

struct result {
	struct sl_summary s;
	double cpu_s;
	int status;
	double pre_ms;             /* fork to sl_engine_run: process start, job load */
	struct sl_ckpt_hist *hist; /* [SL_CKPT_HISTORY] the run's checkpoints, when asked for */
	uint32_t n_hist;
};

/* What a run does beyond the job: restore, stop itself, report checkpoints. */
struct run_extra {
	const char *restore;  /* sl_run_opts.restore */
	double stop_in_s;     /* >0: the child asks itself to stop then (and every 50 ms after) */
	bool want_hist;       /* fill res->hist, res->n_hist (caller frees hist) */
};

/* Workloads that run only when --only names them (or the group name): each
 * takes well over 30 s. */
static const char *const opt_in[] = {"checkpoint-1m", "checkpoint-10m", "checkpoint-reference",
				     NULL};
#define OPT_IN_GROUP "checkpoints"

static bool named(const char *list, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static bool wanted(const struct bench_opts *o, const char *name)
{
	bool optional = false;
	for (const char *const *q = opt_in; *q; q++)
		optional = optional || strcmp(*q, name) == 0;
	if (!o->only)
		return !optional;
	return named(o->only, name) || (optional && named(o->only, OPT_IN_GROUP));
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		got += (size_t)n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	size_t put = 0;
	while (put < len) {
		ssize_t n = write(fd, (const char *)buf + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		put += (size_t)n;
	}
	return 0;
}

/* In the child: asks the engine to stop after a delay, then again every
 * 50 ms (a request before sl_engine_run installed its handlers, e.g. while a
 * restore loads, is reset there; the next one lands). A signal from the
 * parent could arrive before the handlers and kill the child. */
static void *self_stop(void *arg)
{
	double s = *(const double *)arg;
	usleep((useconds_t)(s * 1e6));
	for (;;) {
		sl_engine_request_stop();
		usleep(50000);
	}
	return NULL;
}

/* Runs one job in a child process; stop_after_s > 0 sends SIGTERM then.
 * yaml is the job's text, or NULL to load path with the overrides sets. */
static int run_job(const char *yaml, const char *path, char *const *sets, uint32_t n_sets,
		   uint32_t workers, double stop_after_s, const struct run_extra *x,
		   struct result *res)
{
	static const struct run_extra none;
	if (!x)
		x = &none;
	res->hist = NULL;
	res->n_hist = 0;
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
		struct sl_ckpt_hist *h = x->want_hist ? calloc(SL_CKPT_HISTORY, sizeof(*h)) : NULL;
		uint32_t nh = 0;
		struct sl_run_opts opts = {.workers = workers, .quiet = true, .restore = x->restore,
					   .ckpt_history = h, .ckpt_history_n = &nh};
		pthread_t stopper;
		if (x->stop_in_s > 0 &&
		    pthread_create(&stopper, NULL, self_stop, (void *)&x->stop_in_s) != 0)
			_exit(3);
		double pre_ms = (double)(sl_now_ns() - t0) / 1e6;
		struct sl_summary s;
		int rc = sl_engine_run(job, &opts, &s);
		int wrc = write_full(fd[1], &s, sizeof(s));
		if (wrc == 0)
			wrc = write_full(fd[1], &pre_ms, sizeof(pre_ms));
		if (wrc == 0 && h)
			wrc = write_full(fd[1], &nh, sizeof(nh));
		if (wrc == 0 && h)
			wrc = write_full(fd[1], h, SL_CKPT_HISTORY * sizeof(*h));
		_exit(rc == 0 && wrc == 0 ? 0 : 1);
	}
	close(fd[1]);
	if (stop_after_s > 0) {
		usleep((useconds_t)(stop_after_s * 1e6));
		kill(pid, SIGTERM);
	}
	int rrc = read_full(fd[0], &res->s, sizeof(res->s));
	if (rrc == 0)
		rrc = read_full(fd[0], &res->pre_ms, sizeof(res->pre_ms));
	if (rrc == 0 && x->want_hist) {
		res->hist = calloc(SL_CKPT_HISTORY, sizeof(*res->hist));
		if (!res->hist || read_full(fd[0], &res->n_hist, sizeof(res->n_hist)) < 0 ||
		    read_full(fd[0], res->hist, SL_CKPT_HISTORY * sizeof(*res->hist)) < 0)
			rrc = -EIO;
	}
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
	if (rrc < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(res->hist);
		res->hist = NULL;
		res->n_hist = 0;
		return -EIO;
	}
	return 0;
}

static int run_child(const char *yaml, uint32_t workers, double stop_after_s, struct result *res)
{
	return run_job(yaml, NULL, NULL, 0, workers, stop_after_s, NULL, res);
}

/* The reference job (examples/customer-archive.yaml) with its sinks moved
 * under dir (or to blackholes) and its source switched to the file. */
static int run_reference(const char *dir, const char *input, const char *sink_kind,
			 uint64_t records, uint32_t workers, const char *ckpt_dir, struct result *res)
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
	if (ckpt_dir) {
		snprintf(buf[n], sizeof(buf[n]),
			 "checkpoint={interval: 1s, dir: '%s', mode: exactly_once}", ckpt_dir);
		sets[n] = buf[n];
		n++;
	}
	struct run_extra x = {.want_hist = ckpt_dir != NULL};
	return run_job(NULL, "examples/customer-archive.yaml", sets, n, workers, 0, &x, res);
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

/* ---- checkpoints ---- */

static int rm_rf(const char *path)
{
	char cmd[4400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd) == 0 ? 0 : -EIO;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the values at or below it. */
static int64_t quantile(const int64_t *sorted, uint32_t n, double q)
{
	if (n == 0)
		return 0;
	uint32_t k = (uint32_t)ceil(q * n);
	return sorted[(k ? k : 1) - 1];
}

/*
 * Appends the checkpoint figures of a run's history (h[n], oldest first) to
 * out as JSON fields. full_share > 0: only completed checkpoints whose
 * serialized state is at least that share of the largest, i.e. those taken
 * once the state was built up (the keyed runs start empty).
 */
static void ckpt_figures(const struct sl_ckpt_hist *h, uint32_t nh, double full_share, char *out,
			 size_t cap)
{
	uint64_t max_raw = 0, max_stall_all = 0;
	uint32_t failed = 0;
	for (uint32_t i = 0; i < nh; i++) {
		if (h[i].raw_bytes > max_raw)
			max_raw = h[i].raw_bytes;
		if (h[i].stall_ns > max_stall_all)
			max_stall_all = h[i].stall_ns;
		failed += !h[i].ok;
	}
	int64_t dur[SL_CKPT_HISTORY], stall[SL_CKPT_HISTORY];
	uint32_t n = 0;
	double bytes = 0, raw = 0;
	for (uint32_t i = 0; i < nh; i++) {
		if (!h[i].ok || (full_share > 0 && (double)h[i].raw_bytes < full_share * (double)max_raw))
			continue;
		dur[n] = h[i].duration_ms;
		stall[n] = (int64_t)h[i].stall_ns;
		bytes += (double)h[i].bytes;
		raw += (double)h[i].raw_bytes;
		n++;
	}
	qsort(dur, n, sizeof(*dur), cmp_i64);
	qsort(stall, n, sizeof(*stall), cmp_i64);
	snprintf(out, cap,
		 ",\"checkpoints_seen\":%u,\"checkpoints_failed_seen\":%u,\"checkpoints_measured\":%u,"
		 "\"ckpt_p50_ms\":%" PRId64 ",\"ckpt_p99_ms\":%" PRId64 ",\"ckpt_max_ms\":%" PRId64
		 ",\"stall_p50_ms\":%.3f,\"stall_p99_ms\":%.3f,\"stall_max_ms\":%.3f,"
		 "\"stall_max_all_ms\":%.3f,\"bytes_per_ckpt\":%.0f,\"raw_bytes_per_ckpt\":%.0f",
		 nh, failed, n, quantile(dur, n, 0.5), quantile(dur, n, 0.99), n ? dur[n - 1] : 0,
		 (double)quantile(stall, n, 0.5) / 1e6, (double)quantile(stall, n, 0.99) / 1e6,
		 n ? (double)stall[n - 1] / 1e6 : 0.0, (double)max_stall_all / 1e6,
		 n ? bytes / n : 0.0, n ? raw / n : 0.0);
}

/* Bytes of one aggregate-count entry in a snapshot (state/table.c): hash 8,
 * key length 4, the encoded BIGINT key 9, the value 32 (row count and epoch,
 * one count accumulator). */
#define CKPT_ENTRY_BYTES 53.0

/*
 * checkpoint-1m / checkpoint-10m: generator (customer-cdc, unbounded, `keys`
 * ids) -> key_by -> aggregate count -> blackhole, a checkpoint every 1 s,
 * stopped after `secs` (the stop takes one more checkpoint). The generator
 * first emits every key once (its snapshot phase), so the table reaches
 * `keys` entries; deletes afterwards keep ~87 % of them alive. Figures count
 * the checkpoints taken with at least 80 % of the largest state seen.
 * Then restore-1m / restore-10m: the same job restored from that last
 * checkpoint (stopped again as soon as it runs).
 */
static int checkpoint_keyed(const struct bench_opts *o, const char *label, uint64_t keys,
			    uint32_t w)
{
	char dir[2100], yaml[4096], name[64], extra[1400], fig[1024];
	snprintf(dir, sizeof(dir), "%s/ckpt-state", o->dir);
	if (rm_rf(dir) < 0)
		return -EIO;
	snprintf(yaml, sizeof(yaml),
		 "job: bench-ckpt\nsources:\n  g: {type: generator, keys: %" PRIu64 "}\n"
		 "steps:\n  k: {from: g, op: key_by, key: [customer_id]}\n"
		 "  c: {from: k, op: aggregate, key: [customer_id], aggregates: {n: count}}\n"
		 "sinks:\n  b: {from: c, type: blackhole}\n"
		 "checkpoint: {interval: 1s, dir: '%s', mode: exactly_once}\n",
		 keys, dir);
	double secs = o->ckpt_seconds > 0 ? o->ckpt_seconds : (keys >= 5000000 ? 45.0 : 12.0);
	struct run_extra x = {.stop_in_s = secs, .want_hist = true};
	struct result r;
	int rc = run_job(yaml, NULL, NULL, 0, w, 0, &x, &r);
	if (rc < 0) {
		rm_rf(dir);
		return rc;
	}
	ckpt_figures(r.hist, r.n_hist, 0.8, fig, sizeof(fig));
	uint64_t last_raw = r.n_hist ? r.hist[r.n_hist - 1].raw_bytes : 0;
	snprintf(extra, sizeof(extra),
		 ",\"keys\":%" PRIu64 ",\"state_keys_last\":%.0f,\"run_s\":%.0f%s", keys,
		 (double)last_raw / CKPT_ENTRY_BYTES, secs, fig);
	snprintf(name, sizeof(name), "checkpoint-%s", label);
	print_result(name, w, &r, extra);
	free(r.hist);
	/* Restore: process start, job load, then the engine's restore_ms
	 * (finding and loading the checkpoint, then every worker restoring its
	 * nodes' state) up to the point its sources start. */
	struct run_extra y = {.restore = "latest", .stop_in_s = 0.05};
	rc = run_job(yaml, NULL, NULL, 0, w, 0, &y, &r);
	if (rc == 0 && r.s.restored_from == 0)
		rc = -ENOENT;
	if (rc == 0) {
		snprintf(extra, sizeof(extra),
			 ",\"keys\":%" PRIu64 ",\"restored_from\":%" PRIu64
			 ",\"restore_ms\":%.1f,\"restore_load_ms\":%.1f,\"restore_workers_ms\":%.1f,"
			 "\"process_to_ready_ms\":%.1f",
			 keys, r.s.restored_from, r.s.restore_ms, r.s.restore_load_ms,
			 r.s.restore_ms - r.s.restore_load_ms, r.pre_ms + r.s.restore_ms);
		snprintf(name, sizeof(name), "restore-%s", label);
		print_result(name, w, &r, extra);
	}
	rm_rf(dir);
	return rc;
}

/* checkpoint-reference: the reference job (generator -> ... -> blackholes)
 * without checkpoints, then with one every 1 s (exactly-once). */
static int checkpoint_reference(const struct bench_opts *o, uint32_t w)
{
	char dir[2100], extra[1400], fig[1024];
	snprintf(dir, sizeof(dir), "%s/ckpt-ref", o->dir);
	struct result a, b;
	int rc = run_reference(o->dir, NULL, "blackhole", o->records, w, NULL, &a);
	if (rc < 0)
		return rc;
	print_result("reference-gen-blackhole-no-ckpt", w, &a, NULL);
	if (rm_rf(dir) < 0)
		return -EIO;
	rc = run_reference(o->dir, NULL, "blackhole", o->records, w, dir, &b);
	rm_rf(dir);
	if (rc < 0)
		return rc;
	ckpt_figures(b.hist, b.n_hist, 0, fig, sizeof(fig));
	free(b.hist);
	/* Throughput against the run before; on a shared machine the CPU time
	 * per run (same records) is the steadier measure of the cost. */
	snprintf(extra, sizeof(extra),
		 ",\"checkpoints_failed\":%" PRIu64 ",\"vs_no_ckpt\":%.3f,\"cpu_vs_no_ckpt\":%.3f%s",
		 b.s.checkpoints_failed,
		 a.s.records_per_s > 0 ? b.s.records_per_s / a.s.records_per_s : 0.0,
		 a.cpu_s > 0 ? b.cpu_s / a.cpu_s : 0.0, fig);
	print_result("reference-gen-blackhole-ckpt-1s", w, &b, extra);
	return 0;
}

static int usage(void)
{
	fputs("usage: sluice bench [--records N] [--keys K] [--workers 1,2] [--only NAMES] "
	      "[--dir DIR] [--ckpt-seconds S]\n"
	      "workloads: gen-keyby-count, file-parse, file-parse-keyby-count-file, limit, "
	      "latency-100k, idle, reference-gen-blackhole, reference-file-plain, "
	      "reference-file-zstd\n"
	      "not run by default (15 s to a few minutes each; 'checkpoints' names all three):\n"
	      "  checkpoint-1m, checkpoint-10m  generator -> key_by -> count with 1 M / 10 M keys,\n"
	      "      a checkpoint every 1 s for S seconds (default 12 / 45), then a restore\n"
	      "  checkpoint-reference  the reference job (generator, blackholes) without and\n"
	      "      with 1 s checkpoints (--records events)\n",
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
		else if (strcmp(a, "--ckpt-seconds") == 0)
			o.ckpt_seconds = strtod(v, NULL);
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
					  w, NULL, &r) == 0)
				print_result(refs[i].name, w, &r, NULL);
			else
				failures++;
		}
	}
	for (uint32_t k = 0; k < o.n_workers; k++) {
		uint32_t w = o.workers[k];
		if (wanted(&o, "checkpoint-1m") && checkpoint_keyed(&o, "1m", 1000000, w) < 0)
			failures++;
		if (wanted(&o, "checkpoint-10m") && checkpoint_keyed(&o, "10m", 10000000, w) < 0)
			failures++;
		if (wanted(&o, "checkpoint-reference") && checkpoint_reference(&o, w) < 0)
			failures++;
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
