/*
 * Micro-benchmark (not a test): records/s on one core of getting a few fields out of the
 * generator's Debezium lines, DOM parse + path lookups vs On-Demand sl_json_extract.
 *   json_extract [FILE] [REPS]   FILE: JSON lines (default: generated with build/sluice gen)
 * Prints one JSON object per case. Rates are per CPU second of this thread (best of REPS
 * passes, the methods interleaved), so a busy machine shares the core but not the figure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/common.h"
#include "core/limits.h"
#include "io/json.h"

#define MAX_PATHS 8
#define MINIFY_BYTES 65536

struct bench_case {
	const char *name;
	const char *dotted[MAX_PATHS];
};

static const struct bench_case cases[] = {
    {"3 fields in after and root", {"after.customer_id", "after.name", "op"}},
    {"3 fields in after, source and root", {"after.updated_time", "source.ts_ms", "ts_ms"}},
    {"row image as JSON text + 2 fields", {"after", "op", "ts_ms"}},
    {"all 6 fields of after",
     {"after.customer_id", "after.name", "after.address", "after.phone", "after.id_number",
      "after.updated_time"}},
};

struct line {
	const char *s;
	size_t len;
};

/* Reads path whole, with SL_JSON_PADDING readable bytes after it; every line is then padded. */
static char *read_padded(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	char *buf = NULL;

	if (!f || fstat(fileno(f), &st) != 0)
		goto out;
	buf = malloc((size_t)st.st_size + SL_JSON_PADDING);
	if (!buf || fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		buf = NULL;
		goto out;
	}
	memset(buf + st.st_size, 0, SL_JSON_PADDING);
	*len = (size_t)st.st_size;
out:
	if (f)
		fclose(f);
	return buf;
}

/* Folds what a consumer would read from a value into a checksum the compiler cannot drop. */
static uint64_t fold_elem(struct sl_json_elem e, char *scratch)
{
	const char *s;
	size_t len;
	int64_t i;
	double d;

	switch (sl_json_type(e)) {
	case SL_JSON_INT:
		return sl_json_get_int64(e, &i) ? (uint64_t)i : 0;
	case SL_JSON_UINT:
	case SL_JSON_DOUBLE:
		return sl_json_get_double(e, &d) ? (uint64_t)d : 0;
	case SL_JSON_STRING:
		return sl_json_get_string(e, &s, &len) ? len + (uint8_t)s[0] : 0;
	case SL_JSON_ARRAY:
	case SL_JSON_OBJECT: /* a JSON column needs text: the DOM has to write it */
		return (uint64_t)sl_json_minify(e, scratch, MINIFY_BYTES);
	default:
		return (uint64_t)sl_json_type(e);
	}
}

static uint64_t fold_value(const struct sl_json_value *v)
{
	switch (v->type) {
	case SL_JSON_INT:
		return (uint64_t)v->i;
	case SL_JSON_DOUBLE:
		return (uint64_t)v->f;
	case SL_JSON_STRING:
	case SL_JSON_ARRAY:
	case SL_JSON_OBJECT:
		return v->len + (v->len ? (uint8_t)v->s[0] : 0);
	default:
		return (uint64_t)v->type;
	}
}

enum method { DOM_PARSE_ONLY, DOM_LOOKUPS, EXTRACT };

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One pass over all lines; returns the CPU ns taken, adds to *sum, counts failures in *n_failed. */
static int64_t run(enum method m, struct sl_json_parser *p, const struct sl_json_extractor *x,
		   const struct sl_json_path *paths, uint32_t n_paths, const struct line *lines,
		   size_t n_lines, char *scratch, uint64_t *sum, uint64_t *n_failed)
{
	struct sl_json_value out[MAX_PATHS];
	struct sl_json_elem root, e;
	int64_t t0 = thread_cpu_ns();

	for (size_t k = 0; k < n_lines; k++) {
		if (m == EXTRACT) {
			if (sl_json_extract(p, x, lines[k].s, lines[k].len, true, out) != 0) {
				(*n_failed)++;
				continue;
			}
			for (uint32_t j = 0; j < n_paths; j++)
				*sum += fold_value(&out[j]);
			continue;
		}
		if (sl_json_parse(p, lines[k].s, lines[k].len, true, &root) != 0) {
			(*n_failed)++;
			continue;
		}
		if (m == DOM_PARSE_ONLY) {
			*sum += (uint64_t)sl_json_type(root);
			continue;
		}
		for (uint32_t j = 0; j < n_paths; j++) {
			sl_json_get_path(root, &paths[j], &e);
			*sum += fold_elem(e, scratch);
		}
	}
	return thread_cpu_ns() - t0;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/bench_json_extractXXXXXX";
	const char *path = argc > 1 ? argv[1] : NULL;
	int reps = argc > 2 ? atoi(argv[2]) : 7;
	size_t len = 0, n_lines = 0, cap = 1024;
	struct line *lines = malloc(cap * sizeof *lines);
	char *buf, *scratch = malloc(MINIFY_BYTES);
	struct sl_json_parser *p = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);

	if (!path) {
		char cmd[256];
		int fd = mkstemp(tmp);
		if (fd < 0 || access("build/sluice", X_OK) != 0) {
			fprintf(stderr, "json_extract: give a file of JSON lines, or run from the "
					"source root after building build/sluice\n");
			return 1;
		}
		close(fd);
		snprintf(cmd, sizeof cmd,
			 "build/sluice gen customer-cdc --records 200000 --keys 1000 "
			 "--bad-ratio 0.2 --output %s",
			 tmp);
		if (system(cmd) != 0)
			return 1;
		path = tmp;
	}
	buf = read_padded(path, &len);
	if (!buf || !lines || !scratch || !p || reps < 1) {
		fprintf(stderr, "json_extract: cannot read %s or allocate\n", path);
		return 1;
	}
	if (path == tmp)
		unlink(tmp);
	for (const char *s = buf, *end = buf + len; s < end;) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *eol = nl ? nl : end;
		if (eol > s) {
			if (n_lines == cap) {
				cap *= 2;
				lines = realloc(lines, cap * sizeof *lines);
				SL_ASSERT(lines);
			}
			lines[n_lines++] = (struct line){s, (size_t)(eol - s)};
		}
		s = eol + 1;
	}

	for (size_t c = 0; c < SL_ARRAY_LEN(cases); c++) {
		struct sl_json_path paths[MAX_PATHS];
		uint32_t n_paths = 0;
		while (n_paths < MAX_PATHS && cases[c].dotted[n_paths]) {
			SL_ASSERT(sl_json_path_compile(cases[c].dotted[n_paths], &paths[n_paths]) ==
				  0);
			n_paths++;
		}
		struct sl_json_extractor *x = sl_json_extractor_new(paths, n_paths);
		SL_ASSERT(x);
		int64_t best[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
		uint64_t sums[3] = {0}, failed[3] = {0};
		/* Interleaved, best of reps: the methods see the same machine state. */
		for (int r = 0; r < reps; r++) {
			for (int m = 0; m < 3; m++) {
				uint64_t sum = 0, n_failed = 0;
				int64_t ns = run((enum method)m, p, x, paths, n_paths, lines,
						 n_lines, scratch, &sum, &n_failed);
				best[m] = SL_MIN(best[m], ns);
				sums[m] = sum;
				failed[m] = n_failed;
			}
		}
		printf("{\"case\":\"%s\",\"paths\":[", cases[c].name);
		for (uint32_t j = 0; j < n_paths; j++)
			printf("%s\"%s\"", j ? "," : "", cases[c].dotted[j]);
		printf("],\"records\":%zu,\"bytes_per_record\":%.0f,"
		       "\"dom_parse_only_records_per_s\":%.0f,"
		       "\"dom_parse_lookups_records_per_s\":%.0f,\"extract_records_per_s\":%.0f,"
		       "\"speedup\":%.2f,\"failed\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
		       "],\"checksum\":%" PRIu64 "}\n",
		       n_lines, (double)len / (double)n_lines, n_lines * 1e9 / (double)best[0],
		       n_lines * 1e9 / (double)best[1], n_lines * 1e9 / (double)best[2],
		       (double)best[1] / (double)best[2], failed[0], failed[1], failed[2],
		       sums[1] ^ sums[2]);
		sl_json_extractor_free(x);
	}
	sl_json_parser_free(p);
	free(buf);
	free(lines);
	free(scratch);
	return 0;
}
