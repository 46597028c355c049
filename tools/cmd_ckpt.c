/* `sluice savepoint`, `sluice checkpoints` and `sluice run --supervise`. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/engine.h"
#include "core/job.h"
#include "core/log.h"
#include "tools/sluice.h"

extern char **environ;

#define MAX_SETS 256

struct ckpt_args {
	const char *job;
	bool stop;
	bool json;
	int64_t timeout_ms;
	char *sets[MAX_SETS];
	uint32_t n_sets;
};

static int parse(const char *cmd, int argc, char **argv, struct ckpt_args *a)
{
	memset(a, 0, sizeof(*a));
	a->timeout_ms = 120000;
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (strcmp(s, "--job") == 0 && i + 1 < argc) {
			a->job = argv[++i];
		} else if (strncmp(s, "--job=", 6) == 0) {
			a->job = s + 6;
		} else if (strcmp(s, "--stop") == 0 && strcmp(cmd, "savepoint") == 0) {
			a->stop = true;
		} else if (strcmp(s, "--json") == 0 && strcmp(cmd, "checkpoints") == 0) {
			a->json = true;
		} else if (strcmp(s, "--timeout") == 0 && i + 1 < argc) {
			char *end;
			double sec = strtod(argv[++i], &end);
			if (*end || sec <= 0) {
				fprintf(stderr, "sluice %s: --timeout takes seconds, got '%s'\n",
					cmd, argv[i]);
				return -EINVAL;
			}
			a->timeout_ms = (int64_t)(sec * 1000);
		} else if (strcmp(s, "--set") == 0 && i + 1 < argc && a->n_sets < MAX_SETS) {
			a->sets[a->n_sets++] = argv[++i];
		} else {
			fprintf(stderr, "sluice %s: unknown argument '%s'\n", cmd, s);
			return -EINVAL;
		}
	}
	if (!a->job) {
		fprintf(
		    stderr, "usage: sluice %s --job JOB.yaml%s [--set key.path=value ...]\n", cmd,
		    strcmp(cmd, "savepoint") == 0 ? " [--stop] [--timeout SECONDS]" : " [--json]");
		return -EINVAL;
	}
	return 0;
}

/* The job's checkpoint directory (the job file decides it). */
static int job_dir(const char *cmd, const struct ckpt_args *a, char *dir, size_t cap)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_job *job = NULL;
	sl_log_set_level(SL_LOG_WARN);
	int rc = sl_job_load(a->job, NULL, 0, a->sets, a->n_sets, environ, &d, &job);
	if (rc < 0) {
		fputs(sl_diag_text(&d), stderr);
		sl_diag_fini(&d);
		return rc;
	}
	sl_diag_fini(&d);
	if (!job->ckpt) {
		fprintf(stderr, "sluice %s: %s has no checkpoint: section (or its mode is none)\n",
			cmd, a->job);
		sl_job_free(job);
		return -EINVAL;
	}
	snprintf(dir, cap, "%s", job->ckpt->dir);
	sl_job_free(job);
	return 0;
}

/* The pid holding DIR/LOCK, or 0 when no job runs there. */
static long running_pid(const char *dir)
{
	char path[4200], buf[32];
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	long pid = 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		pid = atol(buf);
	}
	close(fd);
	return pid;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int sl_cmd_savepoint(int argc, char **argv)
{
	struct ckpt_args a;
	if (parse("savepoint", argc, argv, &a) < 0)
		return 2;
	char dir[4096];
	if (job_dir("savepoint", &a, dir, sizeof(dir)) < 0)
		return 2;
	long pid = running_pid(dir);
	if (pid <= 0) {
		fprintf(stderr, "sluice savepoint: no running job holds %s/LOCK\n", dir);
		return 1;
	}
	char nonce[64];
	snprintf(nonce, sizeof(nonce), "sp%ld-%lld", (long)getpid(), (long long)sl_wall_ms());
	char tmp[4300], fin[4300];
	snprintf(tmp, sizeof(tmp), "%s/%s.tmp%ld", dir, SL_SAVEPOINT_REQUEST, (long)getpid());
	snprintf(fin, sizeof(fin), "%s/%s", dir, SL_SAVEPOINT_REQUEST);
	FILE *f = fopen(tmp, "w");
	if (!f || fprintf(f, "%s %d\n", nonce, a.stop ? 1 : 0) < 0 || fclose(f) != 0 ||
	    rename(tmp, fin) < 0) {
		fprintf(stderr, "sluice savepoint: cannot write %s: %s\n", fin, strerror(errno));
		return 1;
	}
	if (kill((pid_t)pid, SIGUSR1) < 0) {
		fprintf(stderr, "sluice savepoint: cannot signal pid %ld: %s\n", pid,
			strerror(errno));
		unlink(fin);
		return 1;
	}
	int64_t deadline = sl_wall_ms() + a.timeout_ms;
	while (sl_wall_ms() < deadline) {
		struct sl_ckpt_entry *v;
		uint32_t n;
		if (sl_ckpt_list(dir, &v, &n) == 0) {
			for (uint32_t i = 0; i < n; i++) {
				if (!v[i].savepoint || !v[i].complete ||
				    strcmp(v[i].nonce, nonce) != 0)
					continue;
				printf("%s\n", v[i].path);
				fflush(stdout);
				free(v);
				if (a.stop) {
					while (running_pid(dir) == pid && sl_wall_ms() < deadline)
						sleep_ms(50);
					if (running_pid(dir) == pid) {
						fprintf(stderr,
							"sluice savepoint: savepoint taken, but "
							"the job "
							"(pid %ld) has not stopped yet\n",
							pid);
						return 1;
					}
				}
				return 0;
			}
			free(v);
		}
		if (running_pid(dir) != pid) {
			fprintf(stderr,
				"sluice savepoint: the job (pid %ld) ended before the savepoint "
				"completed\n",
				pid);
			return 1;
		}
		sleep_ms(50);
	}
	fprintf(stderr, "sluice savepoint: no savepoint within %.0f s (see the job's log)\n",
		(double)a.timeout_ms / 1000);
	return 1;
}

int sl_cmd_checkpoints(int argc, char **argv)
{
	struct ckpt_args a;
	if (parse("checkpoints", argc, argv, &a) < 0)
		return 2;
	char dir[4096];
	if (job_dir("checkpoints", &a, dir, sizeof(dir)) < 0)
		return 2;
	struct sl_ckpt_entry *v;
	uint32_t n;
	int rc = sl_ckpt_list(dir, &v, &n);
	if (rc < 0) {
		fprintf(stderr, "sluice checkpoints: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	if (!a.json)
		printf("%-8s %-10s %-24s %12s %10s %-9s %s\n", "ID", "KIND", "TIME (UTC)", "BYTES",
		       "DURATION", "COMPLETE", "PATH");
	for (uint32_t i = 0; i < n; i++) {
		char when[32] = "-";
		if (v[i].complete) {
			time_t t = (time_t)(v[i].created_ms / 1000);
			struct tm tm;
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		}
		const char *kind = v[i].savepoint ? "savepoint" : "checkpoint";
		if (a.json)
			printf("{\"id\":%" PRIu64
			       ",\"kind\":\"%s\",\"complete\":%s,\"created_ms\":%" PRId64
			       ",\"bytes\":%" PRIu64 ",\"duration_ms\":%" PRId64
			       ",\"finished\":%s,\"path\":\"%s\"}\n",
			       v[i].id, kind, v[i].complete ? "true" : "false", v[i].created_ms,
			       v[i].bytes, v[i].duration_ms, v[i].finished ? "true" : "false",
			       v[i].path);
		else
			printf("%-8" PRIu64 " %-10s %-24s %12" PRIu64 " %8" PRId64 "ms %-9s %s\n",
			       v[i].id, kind, when, v[i].bytes, v[i].duration_ms,
			       v[i].complete ? "yes" : "no", v[i].path);
	}
	free(v);
	return 0;
}

/* ---- --supervise ---- */

static volatile sig_atomic_t sup_signal;
static volatile pid_t sup_child;

static void sup_on_signal(int sig)
{
	sup_signal = sig;
	if (sup_child > 0)
		kill(sup_child, sig);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sl_supervise(const struct sl_job *job, int argc, char **argv)
{
	const struct sl_restart_conf *r = job->restart;
	static const char *const names[] = {"fixed-delay", "exponential", "failure-rate", "none"};
	/* The child's argv: ours without --supervise and --restore (restarts
	 * add --restore latest; the first run keeps a --restore given). */
	char **cargv = calloc((size_t)argc + 6, sizeof(*cargv));
	char **first_restore = NULL;
	if (!cargv)
		return 1;
	int n = 0;
	cargv[n++] = "sluice";
	cargv[n++] = "run";
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--supervise") == 0)
			continue;
		if (strcmp(argv[i], "--restore") == 0 && i + 1 < argc) {
			first_restore = &argv[++i];
			continue;
		}
		if (strncmp(argv[i], "--restore=", 10) == 0) {
			static char *eq;
			eq = argv[i] + 10;
			first_restore = &eq;
			continue;
		}
		cargv[n++] = argv[i];
	}
	int base = n;
	if (!job->ckpt)
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"--supervise without checkpoint: restarts begin from the start of "
		       "the input\"");
	struct sigaction sa = {0};
	sa.sa_handler = sup_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int64_t delay = r->strategy == SL_RESTART_EXPONENTIAL ? r->initial_delay_ms : r->delay_ms;
	int64_t *fails = calloc((size_t)r->max_failures + 2, sizeof(*fails));
	uint32_t n_fails = 0;
	int64_t restarts = 0;
	int exit_code = 1;
	for (int attempt = 0;; attempt++) {
		n = base;
		if (attempt > 0 && job->ckpt) {
			cargv[n++] = "--restore";
			cargv[n++] = "latest";
		} else if (attempt == 0 && first_restore) {
			cargv[n++] = "--restore";
			cargv[n++] = *first_restore;
		}
		cargv[n] = NULL;
		int64_t started = mono_ms();
		pid_t pid = fork();
		if (pid < 0) {
			sl_log(SL_LOG_ERROR, -1, NULL, "msg=\"cannot fork\" reason=\"%s\"",
			       strerror(errno));
			break;
		}
		if (pid == 0) {
			execv("/proc/self/exe", cargv);
			fprintf(stderr, "sluice: cannot run /proc/self/exe: %s\n", strerror(errno));
			_exit(127);
		}
		sup_child = pid;
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		sup_child = 0;
		int64_t ran = mono_ms() - started;
		char cause[128];
		if (WIFEXITED(status)) {
			exit_code = WEXITSTATUS(status);
			if (exit_code == 0) {
				sl_log(SL_LOG_INFO, -1, NULL,
				       "msg=\"job finished\" restarts=%" PRId64, restarts);
				break;
			}
			if (exit_code == 2) {
				sl_log(SL_LOG_ERROR, -1, NULL,
				       "msg=\"configuration error: not restarting\"");
				break;
			}
			snprintf(cause, sizeof(cause), "exit code %d", exit_code);
		} else {
			int sig = WTERMSIG(status);
			snprintf(cause, sizeof(cause), "killed by signal %d (%s)", sig,
				 strsignal(sig));
			exit_code = 128 + sig;
		}
		if (sup_signal) {
			sl_log(
			    SL_LOG_INFO, -1, NULL,
			    "msg=\"supervisor stopped by a signal: not restarting\" cause=\"%s\"",
			    cause);
			break;
		}
		/* The strategy decides. */
		bool give_up = false;
		int64_t wait = 0;
		switch (r->strategy) {
		case SL_RESTART_NONE:
			give_up = true;
			break;
		case SL_RESTART_FIXED_DELAY:
			give_up = r->attempts >= 0 && restarts >= r->attempts;
			wait = r->delay_ms;
			break;
		case SL_RESTART_EXPONENTIAL:
			if (ran >= r->reset_after_ms)
				delay = r->initial_delay_ms;
			give_up = r->attempts >= 0 && restarts >= r->attempts;
			wait = delay;
			delay = (int64_t)((double)delay * r->multiplier);
			if (delay > r->max_delay_ms)
				delay = r->max_delay_ms;
			break;
		case SL_RESTART_FAILURE_RATE: {
			int64_t now = mono_ms();
			uint32_t k = 0;
			for (uint32_t i = 0; i < n_fails; i++)
				if (now - fails[i] < r->interval_ms)
					fails[k++] = fails[i];
			n_fails = k;
			if (fails)
				fails[n_fails++] = now;
			give_up = (int64_t)n_fails > r->max_failures;
			wait = r->delay_ms;
			break;
		}
		}
		if (give_up) {
			sl_log(SL_LOG_ERROR, -1, NULL,
			       "msg=\"job crashed: restart strategy gives up\" cause=\"%s\" "
			       "strategy=%s restarts=%" PRId64,
			       cause, names[r->strategy], restarts);
			break;
		}
		restarts++;
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"job crashed: restarting from the latest checkpoint\" cause=\"%s\" "
		       "strategy=%s restart=%" PRId64 " delay_ms=%" PRId64 " ran_ms=%" PRId64,
		       cause, names[r->strategy], restarts, wait, ran);
		int64_t until = mono_ms() + wait;
		while (!sup_signal && mono_ms() < until)
			sleep_ms(until - mono_ms() > 50 ? 50 : until - mono_ms());
		if (sup_signal)
			break;
	}
	free(fails);
	free(cargv);
	return exit_code;
}
