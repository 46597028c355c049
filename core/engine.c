/* The engine: CPUs, workers, rings, supervision, progress and the summary. */
#include "core/engine.h"

#include <inttypes.h>
#include <mimalloc.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/progress.h"

static struct sl_engine *volatile running_engine;
static volatile sig_atomic_t stop_requested;

static int read_small_file(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	size_t n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (int)n;
}

/* CPUs allowed by a cgroup quota (v2 cpu.max, v1 cfs), or 0 if none. */
static uint32_t cgroup_quota_cpus(void)
{
	char buf[4096], path[4200];
	if (read_small_file("/proc/self/cgroup", buf, sizeof(buf)) <= 0)
		return 0;
	uint32_t best = 0;
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *p = strchr(line, ':');
		char *q = p ? strchr(p + 1, ':') : NULL;
		if (!q)
			continue;
		char quota_s[128];
		const char *rel = q + 1;
		long long quota = -1, period = 0;
		if (p[1] == ':') { /* v2: "0::/path" */
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cpu.max", rel);
			if (read_small_file(path, quota_s, sizeof(quota_s)) > 0 &&
			    strncmp(quota_s, "max", 3) != 0)
				sscanf(quota_s, "%lld %lld", &quota, &period);
		} else if (strstr(p, "cpu")) { /* v1 */
			snprintf(path, sizeof(path), "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_quota_us",
				 strcmp(rel, "/") ? rel : "");
			char per[64];
			if (read_small_file(path, quota_s, sizeof(quota_s)) > 0) {
				quota = atoll(quota_s);
				snprintf(path, sizeof(path),
					 "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_period_us",
					 strcmp(rel, "/") ? rel : "");
				if (read_small_file(path, per, sizeof(per)) > 0)
					period = atoll(per);
			}
		}
		if (quota > 0 && period > 0) {
			uint32_t n = (uint32_t)((quota + period - 1) / period);
			if (!best || n < best)
				best = n;
		}
	}
	return best;
}

uint32_t sl_engine_cpus(int *cpus, uint32_t max, uint32_t *n_cpus)
{
	cpu_set_t set;
	uint32_t n = 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int c = 0; c < CPU_SETSIZE && n < max; c++)
			if (CPU_ISSET(c, &set))
				cpus[n++] = c;
	}
	if (n == 0) {
		long k = sysconf(_SC_NPROCESSORS_ONLN);
		for (long c = 0; c < k && n < max; c++)
			cpus[n++] = (int)c;
	}
	*n_cpus = n;
	uint32_t quota = cgroup_quota_cpus();
	uint32_t workers = n;
	if (quota && quota < workers)
		workers = quota;
	return workers ? workers : 1;
}

int sl_engine_probe_uring(char *msg, size_t cap)
{
	struct io_uring r;
	int rc = io_uring_queue_init(4, &r, 0);
	if (rc == 0) {
		io_uring_queue_exit(&r);
		return 0;
	}
	const char *why, *fix;
	switch (-rc) {
	case EPERM:
	case EACCES:
		why = "io_uring_setup is not permitted: a container seccomp profile blocks it, "
		      "or the sysctl kernel.io_uring_disabled is set";
		fix = "allow io_uring_setup, io_uring_enter and io_uring_register in the seccomp "
		      "profile (e.g. docker run --security-opt seccomp=<profile allowing "
		      "io_uring>) or set kernel.io_uring_disabled=0";
		break;
	case ENOSYS:
		why = "this kernel has no io_uring (or a sandbox hides it)";
		fix = "run on Linux 5.19 or newer with io_uring enabled";
		break;
	case ENOMEM:
		why = "not enough locked memory for the io_uring rings";
		fix = "raise RLIMIT_MEMLOCK (ulimit -l) or use a kernel >= 5.12";
		break;
	default:
		why = "io_uring could not be set up";
		fix = "check the kernel and container settings";
	}
	snprintf(msg, cap, "sluice: cannot start: %s (%s). Fix: %s.", why, strerror(-rc), fix);
	return rc;
}

void sl_engine_fail(struct sl_engine *e, int err, const char *msg)
{
	int expected = 0;
	if (atomic_compare_exchange_strong(&e->failed, &expected, err ? err : -EIO)) {
		pthread_mutex_lock(&e->error_lock);
		snprintf(e->error, sizeof(e->error), "%s", msg);
		pthread_mutex_unlock(&e->error_lock);
		char q[1600];
		sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"job failed\" reason=%s",
		       sl_log_quote(msg, strlen(msg), q, sizeof(q)));
	}
	atomic_store(&e->stop, true);
	for (uint32_t i = 0; i < e->n_workers; i++)
		if (e->workers[i].event_fd > 0)
			sl_worker_kick(&e->workers[i]);
}

void sl_engine_request_stop(void)
{
	stop_requested = 1;
}

static void *worker_main(void *arg)
{
	struct sl_worker *w = arg;
	int rc = sl_worker_init(w);
	if (rc < 0) {
		char msg[600];
		if (!w->uring_ready)
			sl_engine_probe_uring(msg, sizeof(msg));
		else
			snprintf(msg, sizeof(msg), "worker %u could not start: %s", w->id,
				 strerror(-rc));
		sl_engine_fail(w->eng, rc, msg);
	}
	/* Nobody starts until every worker is set up: a failure anywhere
	 * (io_uring refused, a file that will not open) stops the job before
	 * any record moves. */
	pthread_barrier_wait(&w->eng->ready);
	if (atomic_load(&w->eng->failed) == 0)
		sl_worker_run(w);
	atomic_fetch_add(&w->eng->n_done, 1);
	return NULL;
}

static void collect(struct sl_engine *e, struct sl_summary *s, struct sl_hist *merged)
{
	memset(s, 0, sizeof(*s));
	memset(merged, 0, sizeof(*merged));
	uint64_t blocked = 0, busy = 0;
	for (uint32_t i = 0; i < e->n_workers; i++) {
		const struct sl_worker_metrics *m = &e->metrics[i];
		s->records_in += sl_counter_read(&m->records_in);
		s->records_out += sl_counter_read(&m->records_out);
		s->bytes_in += sl_counter_read(&m->bytes_in);
		s->bytes_out += sl_counter_read(&m->bytes_out);
		s->bad_records += sl_counter_read(&m->bad_records);
		s->dead_letters += sl_counter_read(&m->dead_letters);
		blocked += sl_counter_read(&m->blocked_ns);
		busy += sl_counter_read(&m->busy_ns);
		sl_hist_merge(merged, &e->latency[i]);
	}
	s->workers = e->n_workers;
	s->latency_p50_us = (double)sl_hist_quantile(merged, 0.50) / 1000.0;
	s->latency_p99_us = (double)sl_hist_quantile(merged, 0.99) / 1000.0;
	s->latency_max_us = (double)merged->max / 1000.0;
	int64_t end = e->end_ns ? e->end_ns : sl_now_ns();
	s->elapsed_s = (double)(end - e->start_ns) / 1e9;
	s->records_per_s = s->elapsed_s > 0 ? (double)s->records_in / s->elapsed_s : 0;
	s->backpressure_ratio =
		s->elapsed_s > 0 ? (double)blocked / 1e9 / (s->elapsed_s * e->n_workers) : 0;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	s->peak_rss_kb = ru.ru_maxrss;
}

static void progress_of(struct sl_engine *e, uint64_t *done, uint64_t *total)
{
	*done = *total = 0;
	for (uint32_t i = 0; i < e->n_workers; i++) {
		*done += sl_counter_read(&e->metrics[i].progress_done);
		*total += sl_counter_read(&e->metrics[i].progress_total);
	}
}

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

int sl_engine_run(struct sl_job *job, const struct sl_run_opts *opts, struct sl_summary *out)
{
	struct sl_engine *e = mi_zalloc_aligned(sizeof(*e), SL_CACHELINE);
	if (!e)
		return -ENOMEM;
	int rc = 0;
	e->job = job;
	pthread_mutex_init(&e->error_lock, NULL);
	uint32_t auto_workers = sl_engine_cpus(e->cpus, SL_MAX_WORKERS, &e->n_cpus);
	int64_t nw = opts->workers > 0 ? opts->workers : (job->workers > 0 ? job->workers : 0);
	e->n_workers = nw > 0 ? (uint32_t)nw : auto_workers;
	if (e->n_workers > SL_MAX_WORKERS)
		e->n_workers = SL_MAX_WORKERS;
	if (e->n_workers > job->max_parallelism) {
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"more workers than key groups; lowering\" workers=%u max_parallelism=%u",
		       e->n_workers, job->max_parallelism);
		e->n_workers = job->max_parallelism;
	}
	uint32_t n = e->n_workers;
	e->workers = mi_zalloc_aligned(n * sizeof(*e->workers), SL_CACHELINE);
	e->rings = mi_zalloc_aligned((size_t)n * n * sizeof(*e->rings), SL_CACHELINE);
	e->rets = mi_zalloc_aligned((size_t)n * n * sizeof(*e->rets), SL_CACHELINE);
	e->metrics = mi_zalloc_aligned(n * sizeof(*e->metrics), SL_CACHELINE);
	e->latency = mi_zalloc_aligned(n * sizeof(*e->latency), SL_CACHELINE);
	if (!e->workers || !e->rings || !e->rets || !e->metrics || !e->latency) {
		rc = -ENOMEM;
		goto out_free;
	}
	for (size_t i = 0; i < (size_t)n * n; i++) {
		sl_ring_init(&e->rings[i]);
		sl_ring_init(&e->rets[i]);
	}
	pthread_barrier_init(&e->ready, NULL, n + 1);

	struct sigaction sa = {0}, old_int, old_term;
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	stop_requested = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	running_engine = e;

	sl_log(SL_LOG_INFO, -1, NULL, "msg=\"starting job\" job=%s workers=%u cpus=%u nodes=%u",
	       job->name, n, e->n_cpus, job->n_nodes);
	e->start_ns = sl_now_ns();
	uint32_t started = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct sl_worker *w = &e->workers[i];
		w->id = i;
		w->n_workers = n;
		w->eng = e;
		w->job = job;
		w->cpu = e->n_cpus ? e->cpus[i % e->n_cpus] : -1;
		w->m = &e->metrics[i];
		w->latency = &e->latency[i];
		w->event_fd = -1;
		int err = pthread_create(&w->thread, NULL, worker_main, w);
		if (err != 0) {
			rc = -err;
			break;
		}
		started++;
	}
	if (started < n) {
		/* Started threads wait at a barrier sized for all: nothing sane
		 * is left to do but say why and stop the process. */
		fprintf(stderr, "sluice: could not create worker thread %u of %u: %s\n", started,
			n, strerror(-rc));
		exit(1);
	}
	pthread_barrier_wait(&e->ready);

	struct sl_progress prog;
	sl_progress_init(&prog, opts->progress);
	bool stop_sent = false;
	struct sl_admin *admin = sl_admin_start(e, job);
	while (atomic_load(&e->n_done) < n) {
		sl_admin_poll(admin, 20);
		if (stop_requested && !stop_sent) {
			sl_log(SL_LOG_INFO, -1, NULL, "msg=\"stop requested: draining\"");
			atomic_store(&e->stop, true);
			for (uint32_t i = 0; i < n; i++)
				sl_worker_kick(&e->workers[i]);
			stop_sent = true;
		}
		if (prog.enabled) {
			struct sl_summary s;
			struct sl_hist h;
			uint64_t done, total;
			collect(e, &s, &h);
			progress_of(e, &done, &total);
			sl_progress_update(&prog, s.records_in, s.records_out, done, total,
					   s.elapsed_s);
		}
	}
	e->end_ns = sl_now_ns();
	sl_admin_stop(admin);
	for (uint32_t i = 0; i < n; i++)
		pthread_join(e->workers[i].thread, NULL);
	sl_progress_done(&prog);
	running_engine = NULL;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);

	struct sl_hist *merged = mi_zalloc(sizeof(*merged));
	collect(e, out, merged);
	mi_free(merged);
	rc = atomic_load(&e->failed);
	if (rc)
		sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"job failed\" job=%s", job->name);
	else
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"job finished\" job=%s records_in=%" PRIu64 " records_out=%" PRIu64
		       " bad_records=%" PRIu64 " elapsed_s=%.3f",
		       job->name, out->records_in, out->records_out, out->bad_records,
		       out->elapsed_s);
	for (uint32_t i = 0; i < n; i++)
		sl_worker_fini(&e->workers[i]);
	for (uint32_t i = 0; i < n; i++)
		sl_pool_fini(&e->workers[i].pool);
	pthread_barrier_destroy(&e->ready);
out_free:
	mi_free(e->workers);
	mi_free(e->rings);
	mi_free(e->rets);
	mi_free(e->metrics);
	mi_free(e->latency);
	pthread_mutex_destroy(&e->error_lock);
	mi_free(e);
	return rc;
}

void sl_summary_write_json(const struct sl_summary *s, FILE *f)
{
	fprintf(f,
		"{\"records_in\":%" PRIu64 ",\"records_out\":%" PRIu64 ",\"bad_records\":%" PRIu64
		",\"dead_letters\":%" PRIu64
		",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
		",\"elapsed_s\":%.6f,\"records_per_s\":%.1f,\"latency_p50_us\":%.1f,"
		"\"latency_p99_us\":%.1f,\"latency_max_us\":%.1f,\"backpressure_ratio\":%.4f,"
		"\"workers\":%u,\"peak_rss_mb\":%.1f}\n",
		s->records_in, s->records_out, s->bad_records, s->dead_letters, s->bytes_in, s->bytes_out,
		s->elapsed_s, s->records_per_s, s->latency_p50_us, s->latency_p99_us,
		s->latency_max_us, s->backpressure_ratio, s->workers, (double)s->peak_rss_kb / 1024.0);
}
