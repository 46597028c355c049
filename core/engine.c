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

#include <sys/file.h>
#include <sys/stat.h>

#include "core/admin.h"
#include "core/checkpoint.h"
#include "core/progress.h"

static struct sl_engine *volatile running_engine;
static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t savepoint_signalled;

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
	if (e->ckpt_on) /* nothing after this is committed: leave at once */
		atomic_store(&e->exit_now, true);
	for (uint32_t i = 0; i < e->n_workers; i++)
		if (e->workers[i].event_fd > 0)
			sl_worker_kick(&e->workers[i]);
	if (e->ckpt_on)
		sl_ckpt_notify(e);
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
	if (sig == SIGUSR1)
		savepoint_signalled = 1;
	else
		stop_requested = 1;
}

/* Takes DIR/LOCK (one job per state directory) and writes our pid into it. */
static int lock_state_dir(struct sl_engine *e, const char *dir)
{
	int rc = sl_mkdir_p(dir);
	if (rc < 0) {
		sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"cannot create the state directory\" dir=%s reason=\"%s\"",
		       dir, strerror(-rc));
		return rc;
	}
	char path[4200];
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"cannot open the state lock\" path=%s reason=\"%s\"",
		       path, strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "?";
		ssize_t r = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[r > 0 ? r : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		sl_log(SL_LOG_ERROR, -1, NULL,
		       "msg=\"another sluice job uses this state directory\" dir=%s pid=%s", dir, pid);
		close(fd);
		return -EBUSY;
	}
	char pid[32];
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
		rc = -errno;
		close(fd);
		return rc;
	}
	e->lock_fd = fd;
	return 0;
}

/* Before any worker starts: the state directory, the checkpoint to restore,
 * the sinks' leftovers. 1: the restored checkpoint ended the job. */
static int ckpt_prepare(struct sl_engine *e, const struct sl_run_opts *opts)
{
	struct sl_job *job = e->job;
	const struct sl_ckpt_conf *c = job->ckpt;
	if (!c) {
		if (opts->restore) {
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"--restore needs checkpoints: the job has no checkpoint: "
			       "section (or its mode is none)\"");
			return -EINVAL;
		}
		return 0;
	}
	e->ckpt_on = true;
	e->ckpt_aligned = c->mode == SL_CKPT_EXACTLY_ONCE;
	int rc = lock_state_dir(e, c->dir);
	if (rc < 0)
		return rc;
	const char *from = NULL;
	e->restore_t0_ns = sl_now_ns(); /* restore_ms counts finding "latest" too */
	char err[1400], q[1500], chosen[4200];
	if (opts->restore && strcmp(opts->restore, "latest") == 0) {
		/* The newest complete checkpoint whose files all verify; a
		 * damaged one is skipped, loudly. */
		struct sl_ckpt_entry *v;
		uint32_t n;
		rc = sl_ckpt_list(c->dir, &v, &n);
		if (rc < 0)
			return rc;
		uint32_t complete = 0, damaged = 0;
		for (uint32_t i = n; i-- > 0 && !from;) {
			if (!v[i].complete) {
				sl_log(SL_LOG_INFO, -1, NULL,
				       "msg=\"skipping an incomplete checkpoint (no valid manifest)\" "
				       "path=%s",
				       v[i].path);
				continue;
			}
			complete++;
			e->load_t0_ns = sl_now_ns();
			rc = sl_restore_load(job, v[i].path, &e->restore, err, sizeof(err));
			e->load_t1_ns = sl_now_ns();
			if (rc == 0) {
				from = v[i].path;
				break;
			}
			damaged++;
			sl_log(SL_LOG_WARN, -1, NULL,
			       "msg=\"checkpoint cannot be restored: trying the one before (output "
			       "it had published may come again)\" path=%s reason=%s",
			       v[i].path, sl_log_quote(err, strlen(err), q, sizeof(q)));
		}
		if (from) {
			snprintf(chosen, sizeof(chosen), "%s", from);
			from = chosen;
		}
		free(v);
		if (!complete) {
			sl_log(SL_LOG_INFO, -1, NULL,
			       "msg=\"no complete checkpoint to restore: starting fresh\" dir=%s",
			       c->dir);
		} else if (!from) {
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"cannot restore: every complete checkpoint is damaged; refusing to "
			       "start (move the directory aside to start fresh)\" dir=%s damaged=%u",
			       c->dir, damaged);
			return -EIO;
		}
	} else if (opts->restore) {
		from = opts->restore;
		e->load_t0_ns = sl_now_ns();
		rc = sl_restore_load(job, from, &e->restore, err, sizeof(err));
		e->load_t1_ns = sl_now_ns();
		if (rc < 0) {
			sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"cannot restore\" reason=%s",
			       sl_log_quote(err, strlen(err), q, sizeof(q)));
			return rc;
		}
	}
	if (from)
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"restoring\" from=%s id=%llu workers_then=%u workers_now=%u "
		       "load_ms=%.1f",
		       from, (unsigned long long)e->restore->m.id, e->restore->n_old, e->n_workers,
		       (double)(e->load_t1_ns - e->load_t0_ns) / 1e6);
	rc = sl_ckpt_recover_sinks(job, e->restore);
	if (rc < 0)
		return rc;
	if (e->restore && e->restore->m.finished) {
		sl_log(SL_LOG_INFO, -1, NULL,
		       "msg=\"the restored checkpoint is the job's last: nothing left to do\" "
		       "id=%llu",
		       (unsigned long long)e->restore->m.id);
		return 1;
	}
	e->ckpt_snap = mi_zalloc(e->n_workers * sizeof(*e->ckpt_snap));
	e->ckpt_defer = mi_zalloc(e->n_workers * sizeof(*e->ckpt_defer));
	e->ckpt_n_defer = mi_zalloc(e->n_workers * sizeof(*e->ckpt_n_defer));
	if (!e->ckpt_snap || !e->ckpt_defer || !e->ckpt_n_defer)
		return -ENOMEM;
	for (uint32_t i = 0; i < e->n_workers; i++)
		if (!(e->ckpt_defer[i] = mi_zalloc((job->n_nodes + 1) * sizeof(**e->ckpt_defer))))
			return -ENOMEM;
	return 0;
}

/* `sluice savepoint` left a request in the state directory. */
static void take_savepoint_request(struct sl_engine *e)
{
	char path[4200], buf[160];
	snprintf(path, sizeof(path), "%s/%s", e->job->ckpt->dir, SL_SAVEPOINT_REQUEST);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char nonce[64] = "";
	int stop = 0;
	if (sscanf(buf, "%63s %d", nonce, &stop) < 1)
		return;
	for (char *p = nonce; *p; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127)
			*p = '_';
	sl_log(SL_LOG_INFO, -1, NULL, "msg=\"savepoint requested\" nonce=%s stop=%d", nonce, stop);
	sl_ckpt_request_savepoint(e, nonce, stop != 0);
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
	e->lock_fd = -1;
	memset(out, 0, sizeof(*out));
	rc = ckpt_prepare(e, opts);
	if (rc != 0) {
		if (rc == 1) {
			out->already_complete = true;
			out->restored_from = e->restore->m.id;
			out->workers = n;
			rc = 0;
		}
		goto out_free;
	}
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
	struct sigaction old_usr1;
	savepoint_signalled = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGUSR1, &sa, &old_usr1);
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
	int64_t ready_ns = sl_now_ns(); /* every worker set up (and restored) */
	if (e->ckpt_on && !atomic_load(&e->failed)) {
		int crc = sl_ckpt_start(e);
		if (crc < 0) {
			char m[200];
			snprintf(m, sizeof(m), "cannot start the checkpoint coordinator: %s",
				 strerror(-crc));
			sl_engine_fail(e, crc, m);
		}
	} else if (e->ckpt_on) {
		atomic_store(&e->exit_now, true);
		for (uint32_t i = 0; i < n; i++)
			sl_worker_kick(&e->workers[i]);
	}

	struct sl_progress prog;
	sl_progress_init(&prog, opts->progress);
	bool stop_sent = false;
	struct sl_admin *admin = sl_admin_start(e, job);
	while (atomic_load(&e->n_done) < n) {
		sl_admin_poll(admin, 20);
		if (stop_requested && !stop_sent) {
			if (e->ckpt_on) {
				/* Stop with a checkpoint: a restore goes on from there. */
				sl_log(SL_LOG_INFO, -1, NULL,
				       "msg=\"stop requested: taking a final checkpoint\"");
				sl_ckpt_request_savepoint(e, NULL, true);
			} else {
				sl_log(SL_LOG_INFO, -1, NULL, "msg=\"stop requested: draining\"");
				atomic_store(&e->stop, true);
				for (uint32_t i = 0; i < n; i++)
					sl_worker_kick(&e->workers[i]);
			}
			stop_sent = true;
		}
		if (savepoint_signalled) {
			savepoint_signalled = 0;
			if (e->ckpt_on)
				take_savepoint_request(e);
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
	struct sl_ckpt_stats cs;
	sl_ckpt_get_stats(e, &cs);
	if (opts->ckpt_history && opts->ckpt_history_n) {
		uint64_t inp;
		*opts->ckpt_history_n =
		    sl_ckpt_history(e, opts->ckpt_history, SL_CKPT_HISTORY, &inp);
	}
	sl_ckpt_join(e);
	sl_ckpt_free(e);
	sl_progress_done(&prog);
	running_engine = NULL;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGUSR1, &old_usr1, NULL);

	struct sl_hist *merged = mi_zalloc(sizeof(*merged));
	collect(e, out, merged);
	mi_free(merged);
	out->checkpoints = cs.completed;
	out->checkpoint_stall_max_us = (double)cs.max_stall_ns / 1e3;
	out->checkpoint_last_ms = (double)cs.last_duration_ms;
	out->checkpoint_last_bytes = cs.last_bytes;
	out->checkpoints_failed = cs.failed;
	out->restored_from = e->restore ? e->restore->m.id : 0;
	if (e->restore) {
		out->restore_load_ms = (double)(e->load_t1_ns - e->load_t0_ns) / 1e6;
		out->restore_ms = (double)(ready_ns - e->restore_t0_ns) / 1e6;
	}
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
	if (e->ckpt_snap)
		for (uint32_t i = 0; i < e->n_workers; i++)
			sl_snap_free(&e->ckpt_snap[i]);
	mi_free(e->ckpt_snap);
	if (e->ckpt_defer)
		for (uint32_t i = 0; i < e->n_workers; i++)
			mi_free(e->ckpt_defer[i]);
	mi_free(e->ckpt_defer);
	mi_free(e->ckpt_n_defer);
	sl_restore_free(e->restore);
	if (e->lock_fd >= 0)
		close(e->lock_fd);
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
		"\"workers\":%u,\"peak_rss_mb\":%.1f,\"checkpoints\":%" PRIu64
		",\"checkpoints_failed\":%" PRIu64 ",\"restored_from\":%" PRIu64
		",\"already_complete\":%s,\"checkpoint_stall_max_us\":%.1f,\"checkpoint_last_ms\":%.0f"
		",\"checkpoint_last_bytes\":%" PRIu64 "}\n",
		s->records_in, s->records_out, s->bad_records, s->dead_letters, s->bytes_in, s->bytes_out,
		s->elapsed_s, s->records_per_s, s->latency_p50_us, s->latency_p99_us,
		s->latency_max_us, s->backpressure_ratio, s->workers, (double)s->peak_rss_kb / 1024.0,
		s->checkpoints, s->checkpoints_failed, s->restored_from,
		s->already_complete ? "true" : "false", s->checkpoint_stall_max_us, s->checkpoint_last_ms,
		s->checkpoint_last_bytes);
}
