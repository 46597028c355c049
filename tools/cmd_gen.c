/* `sluice gen`: writes a generator's stream as NDJSON (Debezium JSON lines) to stdout or a
 * file, for benchmarks, fixtures and feeding other systems. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/generator/customer.h"
#include "core/limits.h"

int sl_cmd_gen(int argc, char **argv);

#define GEN_PROGRESS_INTERVAL_NS 250000000ll

static const char gen_usage[] =
    "usage: sluice gen customer-cdc [--records N] [--keys K] [--seed S]\n"
    "                               [--bad-ratio R] [--output FILE]\n"
    "\n"
    "Writes Debezium JSON change events (one per line) for the table\n"
    "customer_archive(customer_id, name, address, phone, id_number, updated_time).\n"
    "The same arguments always give byte-identical output.\n"
    "\n"
    "  --records N    events to write (default 1000000)\n"
    "  --keys K       distinct customer_ids, 1..K (default 100000)\n"
    "  --seed S       seed, 0..2^64-1 (default 1)\n"
    "  --bad-ratio R  share of row images with one bad value, 0..1 (default 0)\n"
    "  --output FILE  write to FILE instead of stdout\n";

/* Usage error: message, hint; returns exit code 2. */
__attribute__((format(printf, 1, 2))) static int gen_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sluice gen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'sluice gen --help'.\n", stderr);
	va_end(ap);
	return 2;
}

/* Plain decimal digits only (no sign, no spaces), no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (*s == 0)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		uint64_t d = (uint64_t)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static bool parse_ratio(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (*s == 0 || *end != 0 || errno != 0 || !(v >= 0.0 && v <= 1.0))
		return false;
	*out = v;
	return true;
}

/* Writes all of buf; returns 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

struct gen_progress {
	bool is_on;
	int64_t start_ns, last_ns;
	uint64_t total;
};

static void progress_show(struct gen_progress *pr, uint64_t events, uint64_t bytes, bool is_final)
{
	if (!pr->is_on)
		return;
	int64_t now = sl_now_ns();
	if (!is_final && now - pr->last_ns < GEN_PROGRESS_INTERVAL_NS)
		return;
	pr->last_ns = now;
	double sec = (double)(now - pr->start_ns) / 1e9;
	double rate = sec > 0 ? (double)events / sec : 0.0;
	fprintf(stderr, "\rsluice gen: %llu/%llu events (%.0f%%), %.1f MB, %.2fM events/s   %s",
		(unsigned long long)events, (unsigned long long)pr->total,
		pr->total ? 100.0 * (double)events / (double)pr->total : 100.0, (double)bytes / 1e6,
		rate / 1e6, is_final ? "\n" : "");
}

/* Runs the splits round-robin (split 0 event 0, split 1 event 0, ...) into fd. */
static int gen_customer(const struct sl_customer_params *p, int fd, const char *out_name)
{
	struct sl_customer_split *splits[SL_CUSTOMER_MAX_SPLITS] = {0};
	uint32_t n_splits = sl_customer_n_splits(p);
	size_t cap = SL_FILE_WRITE_BYTES + SL_CUSTOMER_JSON_MAX_BYTES;
	int rc = 1;
	char *buf = malloc(cap);
	if (buf == NULL) {
		fprintf(stderr, "sluice gen: out of memory\n");
		return 1;
	}
	for (uint32_t s = 0; s < n_splits; s++) {
		int err = sl_customer_split_init(&splits[s], p, s);
		if (err < 0) {
			fprintf(stderr, "sluice gen: cannot set up split %u: %s\n", s,
				strerror(-err));
			goto out_free_splits;
		}
	}

	struct gen_progress pr = {.is_on = isatty(2) == 1, .total = p->records};
	pr.start_ns = pr.last_ns = sl_now_ns();
	struct sl_customer_event ev;
	uint64_t events = 0, bytes = 0;
	size_t len = 0;
	bool is_more = true;
	while (is_more) {
		is_more = false;
		for (uint32_t s = 0; s < n_splits; s++) {
			if (!sl_customer_split_next(splits[s], &ev))
				continue;
			is_more = true;
			ssize_t n = sl_customer_write_debezium(&ev, buf + len, cap - len);
			SL_ASSERT(n > 0); /* cap - len >= SL_CUSTOMER_JSON_MAX_BYTES */
			len += (size_t)n;
			events++;
			if (len < SL_FILE_WRITE_BYTES)
				continue;
			int err = write_all(fd, buf, len);
			if (err < 0) {
				fprintf(stderr, "sluice gen: write to %s failed: %s\n", out_name,
					strerror(-err));
				goto out_free_splits;
			}
			bytes += len;
			len = 0;
			progress_show(&pr, events, bytes, false);
		}
	}
	int err = write_all(fd, buf, len);
	if (err < 0) {
		fprintf(stderr, "sluice gen: write to %s failed: %s\n", out_name, strerror(-err));
		goto out_free_splits;
	}
	bytes += len;
	progress_show(&pr, events, bytes, true);
	SL_ASSERT(events == p->records);
	rc = 0;

out_free_splits:
	for (uint32_t s = 0; s < n_splits; s++)
		sl_customer_split_free(splits[s]);
	free(buf);
	return rc;
}

/*
 * sluice gen GENERATOR [options]. argv[0] is "gen". Returns the exit code: 0 done,
 * 1 failed (I/O, memory), 2 usage error. Runs on the main thread.
 */
int sl_cmd_gen(int argc, char **argv)
{
	struct sl_customer_params p = {.records = 1000000, .keys = 100000, .seed = 1};
	const char *generator = NULL, *output = NULL;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			fputs(gen_usage, stdout);
			return 0;
		}
		if (strncmp(arg, "--", 2) != 0 || arg[2] == 0) {
			if (generator != NULL)
				return gen_usage_error("unexpected argument '%s'", arg);
			generator = arg;
			continue;
		}
		/* --name VALUE or --name=VALUE */
		const char *name = arg + 2, *value;
		size_t name_len;
		const char *eq = strchr(name, '=');
		if (eq != NULL) {
			name_len = (size_t)(eq - name);
			value = eq + 1;
		} else {
			name_len = strlen(name);
			if (i + 1 >= argc)
				return gen_usage_error("%s needs a value", arg);
			value = argv[++i];
		}
#define IS_OPT(s) (name_len == sizeof(s) - 1 && memcmp(name, s, name_len) == 0)
		if (IS_OPT("records")) {
			if (!parse_u64(value, &p.records))
				return gen_usage_error(
				    "--records must be a non-negative integer, got '%s'", value);
		} else if (IS_OPT("keys")) {
			if (!parse_u64(value, &p.keys) || p.keys == 0)
				return gen_usage_error(
				    "--keys must be a positive integer, got '%s'", value);
		} else if (IS_OPT("seed")) {
			if (!parse_u64(value, &p.seed))
				return gen_usage_error("--seed must be an integer in "
						       "0..18446744073709551615, got '%s'",
						       value);
		} else if (IS_OPT("bad-ratio")) {
			if (!parse_ratio(value, &p.bad_ratio))
				return gen_usage_error(
				    "--bad-ratio must be a number between 0 and 1, got '%s'",
				    value);
		} else if (IS_OPT("output")) {
			if (*value == 0)
				return gen_usage_error("--output needs a file name");
			output = value;
		} else {
			return gen_usage_error("unknown option '%s'", arg);
		}
#undef IS_OPT
	}
	if (generator == NULL)
		return gen_usage_error("missing generator name (known: customer-cdc)");
	if (strcmp(generator, "customer-cdc") != 0)
		return gen_usage_error("unknown generator '%s' (known: customer-cdc)", generator);
	uint64_t n_splits = sl_customer_n_splits(&p);
	if (p.records / n_splits + (p.records % n_splits != 0) > SL_CUSTOMER_SPLIT_MAX_EVENTS)
		return gen_usage_error(
		    "--records %llu is too large for --keys %llu: the stream has %llu "
		    "splits of at most %llu events each",
		    (unsigned long long)p.records, (unsigned long long)p.keys,
		    (unsigned long long)n_splits, (unsigned long long)SL_CUSTOMER_SPLIT_MAX_EVENTS);

	int fd = 1;
	if (output != NULL) {
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "sluice gen: cannot open '%s': %s\n", output,
				strerror(errno));
			return 1;
		}
	}
	int rc = gen_customer(&p, fd, output != NULL ? output : "stdout");
	if (output != NULL && close(fd) != 0 && rc == 0) {
		fprintf(stderr, "sluice gen: closing '%s' failed: %s\n", output, strerror(errno));
		rc = 1;
	}
	return rc;
}
