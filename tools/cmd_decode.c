/* `sluice decode`: decodes a file of messages, one per line, with a format and
 * prints each row in Flink's GenericRowData notation, to check sluice's formats
 * against Flink's own expectations (and to measure decoding speed). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/formats/format.h"
#include "core/limits.h"
#include "io/json.h"

int sl_cmd_decode(int argc, char **argv);

static const char decode_usage[] =
    "usage: sluice decode --format FORMAT (--schema COLUMNS | --schema-file FILE)\n"
    "                     [--option KEY=VALUE ...] [--count] FILE\n"
    "\n"
    "Decodes FILE (one message per line; '-' reads stdin) as Flink does and prints\n"
    "one row per line in Flink's notation, e.g. +I(101,scooter,null,3.14).\n"
    "\n"
    "  --format F        json, debezium-json, canal-json, maxwell-json, ogg-json\n"
    "  --schema S        Flink SQL columns: 'id INT NOT NULL, name STRING,\n"
    "                    ts TIMESTAMP_LTZ(3) METADATA FROM 'source.timestamp''\n"
    "  --schema-file P   the columns, read from file P\n"
    "  --option K=V      a format option: ignore-parse-errors=true,\n"
    "                    schema-include=true, database.include=REGEX, ...\n"
    "                    (the last --option for a key wins)\n"
    "  --count           print no rows: counts and the decoding rate on stderr\n"
    "\n"
    "An empty line is a tombstone (no row). A corrupt message stops with\n"
    "FILE:LINE: reason and exit code 1, unless ignore-parse-errors=true: then it\n"
    "is skipped and counted.\n";

__attribute__((format(printf, 1, 2))) static int decode_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sluice decode: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\nTry 'sluice decode --help'.\n", stderr);
	va_end(ap);
	return 2;
}

/* The whole input, with SL_JSON_PADDING readable bytes after it. */
struct input {
	char *data;
	size_t len;
	size_t map_len; /* > 0: mmap'ed */
};

static int read_input(const char *path, struct input *in)
{
	int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	int rc = 0;
	memset(in, 0, sizeof(*in));
	if (fd < 0)
		return -errno;
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		/* Mapped with a page of slack past the end: the padding reads there. */
		size_t page = (size_t)sysconf(_SC_PAGESIZE);
		size_t len = (size_t)st.st_size, map_len = (len + SL_JSON_PADDING + page) / page * page;
		char *p = mmap(NULL, map_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
			goto out;
		}
		if (mmap(p, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0) == MAP_FAILED) {
			rc = -errno;
			munmap(p, map_len);
			goto out;
		}
		madvise(p, len, MADV_SEQUENTIAL);
		in->data = p;
		in->len = len;
		in->map_len = map_len;
		goto out;
	}
	size_t cap = 1 << 20;
	in->data = malloc(cap + SL_JSON_PADDING);
	for (;;) {
		if (!in->data) {
			rc = -ENOMEM;
			break;
		}
		if (in->len == cap) {
			char *n = realloc(in->data, cap * 2 + SL_JSON_PADDING);
			if (!n) {
				rc = -ENOMEM;
				break;
			}
			in->data = n;
			cap *= 2;
		}
		ssize_t k = read(fd, in->data + in->len, cap - in->len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			rc = -errno;
			break;
		}
		if (k == 0)
			break;
		in->len += (size_t)k;
	}
	if (in->data)
		memset(in->data + in->len, 0, SL_JSON_PADDING);
out:
	if (fd != STDIN_FILENO)
		close(fd);
	return rc;
}

static void free_input(struct input *in)
{
	if (in->map_len)
		munmap(in->data, in->map_len);
	else
		free(in->data);
}

/* A YAML scalar for an --option value: plain when that reads back the same. */
static void yaml_scalar(const char *s, char *out, size_t cap)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p && plain; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.';
	if (plain) {
		snprintf(out, cap, "%s", s);
		return;
	}
	size_t o = 0;
	out[o++] = '\'';
	for (; *s && o + 3 < cap; s++) {
		if (*s == '\'')
			out[o++] = '\'';
		out[o++] = *s;
	}
	out[o++] = '\'';
	out[o] = '\0';
}

struct printer {
	char *row;
	size_t cap;
	bool quiet;
	uint64_t n_rows;
};

static int flush_rows(struct printer *pr, struct sl_batch *b)
{
	for (uint32_t r = 0; r < b->n_rows; r++) {
		pr->n_rows++;
		if (pr->quiet)
			continue;
		ssize_t n = sl_row_format_flink(b, r, pr->row, pr->cap - 1);
		if (n < 0)
			return (int)n;
		pr->row[n] = '\n';
		if (fwrite(pr->row, 1, (size_t)n + 1, stdout) != (size_t)n + 1)
			return -EIO;
	}
	sl_batch_reset(b, b->schema);
	return 0;
}

int sl_cmd_decode(int argc, char **argv)
{
	const char *format = NULL, *schema_text = NULL, *schema_file = NULL, *path = NULL;
	const char *opts[64];
	unsigned n_opts = 0;
	bool quiet = false;
	int exit_code = 2;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		const char *names[] = {"--format", "--schema", "--schema-file", "--option"};
		int which = -1;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(decode_usage, stdout);
			return 0;
		}
		if (strcmp(a, "--count") == 0) {
			quiet = true;
			continue;
		}
		for (int k = 0; k < 4; k++) {
			size_t n = strlen(names[k]);
			if (strncmp(a, names[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
				which = k;
				if (a[n] == '=')
					val = a + n + 1;
				else if (i + 1 < argc)
					val = argv[++i];
				else
					return decode_usage_error("%s needs a value", names[k]);
			}
		}
		if (which < 0) {
			if (a[0] == '-' && a[1] != '\0')
				return decode_usage_error("unknown option '%s'", a);
			if (path)
				return decode_usage_error("one input file only ('%s', '%s')", path, a);
			path = a;
			continue;
		}
		switch (which) {
		case 0:
			format = val;
			break;
		case 1:
			schema_text = val;
			break;
		case 2:
			schema_file = val;
			break;
		default:
			if (n_opts == SL_ARRAY_LEN(opts))
				return decode_usage_error("too many --option");
			if (!strchr(val, '='))
				return decode_usage_error("--option wants KEY=VALUE, got '%s'", val);
			opts[n_opts++] = val;
		}
	}
	if (!format)
		return decode_usage_error("--format is required");
	if (!sl_format_known(format))
		return decode_usage_error("unknown format '%s' (json, debezium-json, canal-json, "
					  "maxwell-json, ogg-json)",
					  format);
	if (!schema_text == !schema_file)
		return decode_usage_error("give one of --schema and --schema-file");
	if (!path)
		return decode_usage_error("no input file");

	struct sl_diag diag;
	struct sl_sqlschema *schema = calloc(1, sizeof(*schema));
	struct sl_cfg_doc *doc = NULL;
	struct sl_format *fmt = NULL;
	struct sl_decoder *dec = NULL;
	struct input in = {0}, sin = {0};
	void *block = NULL;
	char *err = NULL, *yaml = NULL;
	struct printer pr = {.quiet = quiet};
	sl_diag_init(&diag);
	if (!schema)
		goto out_oom;

	/* The schema. */
	struct sl_pos spos = {"--schema", 1, 1};
	if (schema_file) {
		int rc = read_input(schema_file, &sin);
		if (rc < 0) {
			fprintf(stderr, "sluice decode: cannot read %s: %s\n", schema_file,
				strerror(-rc));
			goto out;
		}
		schema_text = sin.data;
		spos = (struct sl_pos){schema_file, 1, 1};
	}
	size_t slen = schema_file ? sin.len : strlen(schema_text);
	if (sl_sqlschema_parse(schema_text, slen, spos, false, schema, &diag) < 0)
		goto out_diag;

	/* The options, as a YAML map (one line per --option). */
	size_t ycap = 64;
	for (unsigned k = 0; k < n_opts; k++)
		ycap += 2 * strlen(opts[k]) + 16;
	yaml = malloc(ycap);
	if (!yaml)
		goto out_oom;
	size_t yo = 0;
	for (unsigned k = 0; k < n_opts; k++) {
		const char *eq = strchr(opts[k], '=');
		/* A later --option for the same key wins. */
		bool later = false;
		for (unsigned j = k + 1; j < n_opts && !later; j++)
			later = strncmp(opts[j], opts[k], (size_t)(eq - opts[k]) + 1) == 0;
		if (later)
			continue;
		char key[256], kq[560], vq[4200];
		snprintf(key, sizeof(key), "%.*s", (int)(eq - opts[k]), opts[k]);
		yaml_scalar(key, kq, sizeof(kq));
		yaml_scalar(eq + 1, vq, sizeof(vq));
		yo += (size_t)snprintf(yaml + yo, ycap - yo, "%s: %s\n", kq, vq);
	}
	doc = sl_cfg_load_string("--option", yaml, yo, &diag);
	if (!doc)
		goto out_diag;
	static const char *const no_keys[] = {NULL};
	fmt = sl_format_new(format, schema, sl_cfg_root(doc), no_keys, &diag);
	if (!fmt)
		goto out_diag;
	dec = sl_decoder_new(fmt);
	const struct sl_schema *s = sl_format_schema(fmt);
	uint32_t n_cols = s->n_fields ? s->n_fields : 1;
	block = aligned_alloc(4096, sl_batch_block_bytes(n_cols));
	size_t errcap = SL_RECORD_MAX_BYTES + 4096;
	err = malloc(errcap);
	pr.cap = SL_BATCH_HEAP_BYTES + SL_MAX_COLS * 64 + 64;
	pr.row = malloc(pr.cap);
	if (!dec || !block || !err || !pr.row)
		goto out_oom;
	struct sl_batch *b = sl_batch_format(block, n_cols, 0);
	sl_batch_reset(b, s);

	int rc = read_input(path, &in);
	if (rc < 0) {
		fprintf(stderr, "sluice decode: cannot read %s: %s\n", path, strerror(-rc));
		goto out;
	}
	static char outbuf[1 << 20];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));

	/* Lines as Java's readAllLines: ends at \n, \r or \r\n; no empty last line. */
	bool ignore = sl_format_ignore_parse_errors(fmt);
	uint64_t line_no = 0, n_msgs = 0, n_skipped = 0;
	const char *p = in.data, *end = in.data + in.len, *next_cr = NULL;
	int64_t t0 = sl_now_ns();
	exit_code = 1;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		/* A lone \r ends a line too; find the next one once, not per line. */
		if (next_cr < p)
			next_cr = (next_cr = memchr(p, '\r', (size_t)(end - p))) ? next_cr : end;
		if (next_cr < eol)
			eol = next_cr;
		size_t len = (size_t)(eol - p);
		const char *next = eol < end ? eol + 1 : end;
		if (eol < end && *eol == '\r' && next < end && *next == '\n')
			next++;
		line_no++;
		n_msgs++;
		/* Every byte up to the end of the input plus its padding is readable. */
		rc = sl_decoder_decode(dec, p, len, true, b, 0, err, errcap);
		if (rc == -ENOBUFS) {
			if ((rc = flush_rows(&pr, b)) < 0)
				goto out_write;
			rc = sl_decoder_decode(dec, p, len, true, b, 0, err, errcap);
		}
		if (rc == -EINVAL && ignore) {
			n_skipped++;
		} else if (rc < 0) {
			if (flush_rows(&pr, b) < 0)
				goto out_write;
			fflush(stdout);
			fprintf(stderr, "%s:%llu: %s\n", path, (unsigned long long)line_no, err);
			goto out;
		}
		p = next;
	}
	if ((rc = flush_rows(&pr, b)) < 0)
		goto out_write;
	if (fflush(stdout) != 0)
		goto out_write;
	double secs = (double)(sl_now_ns() - t0) / 1e9;
	if (ignore)
		fprintf(stderr, "sluice decode: %llu corrupt message(s) skipped (ignore-parse-errors)\n",
			(unsigned long long)n_skipped);
	if (quiet)
		fprintf(stderr,
			"sluice decode: %llu messages, %llu rows in %.3f s: %.0f messages/s, %.1f "
			"MB/s\n",
			(unsigned long long)n_msgs, (unsigned long long)pr.n_rows, secs,
			secs > 0 ? (double)n_msgs / secs : 0.0,
			secs > 0 ? (double)in.len / secs / 1e6 : 0.0);
	exit_code = 0;
	goto out;

out_write:
	fprintf(stderr, "sluice decode: writing rows: %s\n", strerror(errno ? errno : EIO));
	exit_code = 1;
	goto out;
out_oom:
	fprintf(stderr, "sluice decode: out of memory\n");
	exit_code = 1;
	goto out;
out_diag:
	fputs(sl_diag_text(&diag), stderr);
	exit_code = 2;
out:
	free(pr.row);
	free(err);
	free(block);
	free(yaml);
	sl_decoder_free(dec);
	sl_format_free(fmt);
	sl_cfg_free(doc);
	free_input(&in);
	free_input(&sin);
	free(schema);
	sl_diag_fini(&diag);
	return exit_code;
}
