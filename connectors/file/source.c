/* Source `file`: NDJSON or CSV files (path, directory or glob), split over workers, read with io_uring. */
#include <fcntl.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "connectors/formats/format.h"
#include "core/job.h"
#include "core/value.h"
#include "core/worker.h"
#include "io/glob.h"
#include "io/json.h"
#include "state/snap.h"

/* json and csv with `fields:` are read here; the changelog formats (and
 * json with a `schema:`) go through connectors/formats. */
enum { FMT_JSON, FMT_CSV, FMT_DEBEZIUM, FMT_CANAL, FMT_MAXWELL, FMT_OGG };
static const char *const formats[] = {"json",       "csv",          "debezium-json",
				      "canal-json", "maxwell-json", "ogg-json", NULL};

struct file_conf {
	const char *path;
	int format;
	struct sl_cfg_node *fields;
	const char *delimiter;
	bool header;
	const char *schema;
};

static const struct sl_option file_options[] = {
	{.name = "path", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct file_conf, path),
	 .help = "a file, a directory (its files), or a glob such as in/*.ndjson"},
	{.name = "format", .type = SL_OPT_ENUM, .def = "json", .choices = formats,
	 .offset = offsetof(struct file_conf, format),
	 .help = "json: one JSON object per line (NDJSON); csv: comma-separated with a header"},
	{.name = "fields", .type = SL_OPT_NODE, .offset = offsetof(struct file_conf, fields),
	 .help = "columns: name: TYPE, or name: {path: a.b, type: TYPE} (json), name: {column: "
		 "header-name, type: TYPE} (csv); csv default: every header column as STRING"},
	{.name = "delimiter", .type = SL_OPT_STRING, .def = ",",
	 .offset = offsetof(struct file_conf, delimiter), .help = "csv: one-byte separator"},
	{.name = "header", .type = SL_OPT_BOOL, .def = "true",
	 .offset = offsetof(struct file_conf, header),
	 .help = "csv: the first line of each file names the columns"},
	{.name = "schema", .type = SL_OPT_STRING,
	 .offset = offsetof(struct file_conf, schema),
	 .help = "the changelog formats and json: Flink SQL columns, e.g. \"id INT NOT NULL, name "
		 "STRING, ts TIMESTAMP(3) METADATA FROM 'source.timestamp'\"; format options "
		 "(schema-include, ignore-parse-errors, database.include, ...) go beside it"},
	{0},
};

/* The chosen format's option names, as the job file may spell them: Flink's
 * hyphens, underscores, or with the "<format>." prefix. Control thread. */
static const char *const *file_extra_keys(struct sl_cfg_node *map)
{
	static char names[64][96];
	static const char *list[65];
	uint32_t n = 0;
	struct sl_cfg_node *f = map ? sl_cfg_get(map, "format") : NULL;
	const char *const *opts =
		f && f->type == SL_CFG_SCALAR ? sl_format_option_names(f->str) : NULL;
	for (; opts && *opts && n + 3 <= 64; opts++) {
		snprintf(names[n], sizeof(names[n]), "%s", *opts);
		snprintf(names[n + 1], sizeof(names[n + 1]), "%s", *opts);
		for (char *p = names[n + 1]; *p; p++)
			if (*p == '-')
				*p = '_';
		snprintf(names[n + 2], sizeof(names[n + 2]), "%s.%s", f->str, *opts);
		for (uint32_t k = 0; k < 3; k++, n++)
			list[n] = names[n];
	}
	list[n] = NULL;
	return list;
}

struct file_field {
	enum sl_type type;
	struct sl_json_path path; /* json */
	char *path_text;
	uint32_t csv_col; /* csv: 0-based column */
};

struct file_split {
	uint32_t file;
	uint64_t start, end;
};

struct file_shared {
	struct sl_format *fmt; /* changelog formats, json with a schema */
	struct sl_filelist files;
	uint32_t n_splits;
	struct file_split *splits;
	int format;
	char delim;
	bool header;
	uint32_t n_fields;
	uint32_t n_csv_cols; /* columns a csv line must have */
	struct file_field f[SL_MAX_COLS];
};

#define BUF_RESERVE SL_RECORD_MAX_BYTES
#define BUF_BYTES (BUF_RESERVE + SL_FILE_READ_BYTES + SL_JSON_PADDING)

struct file_state;

/* Where a restored split goes on: the start of its next line. */
struct file_resume {
	uint64_t off;
	uint64_t line_no;
	int64_t line_base;
	bool skip_line;
};

struct rbuf {
	struct sl_io io; /* first: the completion finds the buffer */
	struct file_state *st;
	char *mem;
	uint64_t off; /* file offset of mem[BUF_RESERVE] */
	uint32_t len; /* bytes read */
	bool inflight;
	bool ready;
	bool eof; /* short read: the file ends in this buffer */
	int err;
};

struct file_state {
	struct sl_json_parser *json;
	uint32_t *mine;
	uint32_t n_mine;
	uint32_t next; /* next of mine to open */
	bool in_split;
	const struct file_split *sp;
	int fd;
	uint64_t read_off;
	struct rbuf buf[2];
	int active;
	char *p, *end; /* unparsed bytes of the active buffer (end NULL: not yet set) */
	bool skip_line;
	bool split_done;
	uint64_t line_no;   /* lines started in this split */
	int64_t line_base;  /* lines before the split's start, -1 if not counted */
	char *unescape;     /* csv: room for one unescaped line */
	struct sl_decoder *dec;
	/* Checkpoints: per split of mine, where it stands. */
	uint8_t *status;         /* SPLIT_* */
	struct file_resume *resume;
	uint32_t cur;            /* index in mine of the split being read */
	struct file_resume cur_start; /* where reading it began (a resumed split: not its start) */
};

enum { SPLIT_TODO = 0, SPLIT_READING = 1, SPLIT_DONE = 2 };

/* ---- preparing ---- */

static int read_header_line(const char *path, char *buf, size_t cap, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, cap - 1, 0);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = '\0';
	char *nl = memchr(buf, '\n', (size_t)n);
	*len = nl ? (size_t)(nl - buf) : (size_t)n;
	if (*len && buf[*len - 1] == '\r')
		(*len)--;
	return nl || n < (ssize_t)cap - 1 ? 0 : -E2BIG;
}

/* Splits a csv line into fields (quotes, "" escapes). Unescaped text of
 * quoted fields goes to scratch (at least len bytes). Returns the count or
 * -EINVAL for a stray quote. */
static int csv_split(const char *s, size_t len, char delim, const char **fp, uint32_t *fl,
		     uint32_t max, char *scratch)
{
	uint32_t n = 0;
	size_t i = 0;
	for (;;) {
		if (n == max)
			return -E2BIG;
		if (i < len && s[i] == '"') {
			char *o = scratch;
			i++;
			for (;;) {
				if (i >= len)
					return -EINVAL; /* unterminated quote */
				if (s[i] == '"') {
					if (i + 1 < len && s[i + 1] == '"') {
						*o++ = '"';
						i += 2;
						continue;
					}
					i++;
					break;
				}
				*o++ = s[i++];
			}
			fp[n] = scratch;
			fl[n++] = (uint32_t)(o - scratch);
			scratch = o;
			if (i < len && s[i] != delim)
				return -EINVAL;
		} else {
			size_t j = i;
			while (j < len && s[j] != delim)
				j++;
			fp[n] = s + i;
			fl[n++] = (uint32_t)(j - i);
			i = j;
		}
		if (i >= len)
			return (int)n;
		i++; /* the delimiter */
		if (i == len) { /* trailing delimiter: one more empty field */
			if (n == max)
				return -E2BIG;
			fp[n] = s + i;
			fl[n++] = 0;
			return (int)n;
		}
	}
}

static int parse_fields(struct sl_node *n, struct file_shared *s, const struct file_conf *c,
			const char **hdr, const uint32_t *hdr_len, uint32_t n_hdr,
			struct sl_diag *d)
{
	struct sl_cfg_node *f = c->fields;
	int rc = 0;
	if (!f || f->type == SL_CFG_NULL) {
		if (s->format == FMT_JSON)
			return sl_diag_error(d, n->pos,
					     "source '%s': format json needs fields: (column: "
					     "{path: a.b, type: TYPE})",
					     n->name);
		for (uint32_t i = 0; i < n_hdr; i++) {
			char name[SL_NAME_MAX];
			snprintf(name, sizeof(name), "%.*s", (int)hdr_len[i], hdr[i]);
			if (sl_schema_add(&n->schema, name, SL_T_STRING, false) < 0)
				return sl_diag_error(d, n->pos,
						     "source '%s': header column %u ('%s') is empty, "
						     "repeated or too long; declare fields:",
						     n->name, i + 1, name);
			s->f[s->n_fields].type = SL_T_STRING;
			s->f[s->n_fields++].csv_col = i;
		}
		return 0;
	}
	if (f->type != SL_CFG_MAP)
		return sl_diag_error(d, f->pos, "source '%s': fields: expected a map", n->name);
	for (uint32_t i = 0; i < f->n; i++) {
		const char *name = f->keys[i]->str;
		struct sl_cfg_node *v = f->vals[i];
		const char *type_text = NULL, *path = name;
		struct sl_cfg_node *tnode = v, *pnode = NULL;
		if (v->type == SL_CFG_MAP) {
			tnode = sl_cfg_get(v, "type");
			pnode = sl_cfg_get(v, s->format == FMT_JSON ? "path" : "column");
			static const char *const kj[] = {"type", "path", NULL};
			static const char *const kc[] = {"type", "column", NULL};
			char what[SL_NAME_MAX * 2 + 32];
			snprintf(what, sizeof(what), "source '%s' field '%s'", n->name, name);
			if (sl_cfg_unused(v, what, s->format == FMT_JSON ? kj : kc, d) < 0)
				rc = -EINVAL;
			if (pnode && sl_cfg_as_string(pnode, "path", &path, d) < 0) {
				rc = -EINVAL;
				continue;
			}
		}
		if (!tnode) {
			type_text = "STRING";
		} else if (tnode->type != SL_CFG_SCALAR) {
			rc = sl_diag_error(d, tnode->pos, "source '%s': field '%s': expected a type",
					   n->name, name);
			continue;
		} else {
			type_text = tnode->str;
		}
		struct file_field *ff = &s->f[s->n_fields];
		uint8_t prec = 0, scale = 0;
		if (!sl_type_parse_ps(type_text, strlen(type_text), &ff->type, &prec, &scale)) {
			rc = sl_diag_error(d, tnode->pos,
					   "source '%s': field '%s': unknown type '%s' (INT, BIGINT, "
					   "FLOAT, DOUBLE, STRING, BOOLEAN, DATE, TIMESTAMP)",
					   n->name, name, type_text);
			continue;
		}
		int ar = sl_schema_add(&n->schema, name, ff->type, false);
		if (ar == 0) {
			n->schema.fields[n->schema.n_fields - 1].precision = prec;
			n->schema.fields[n->schema.n_fields - 1].scale = scale;
		}
		if (ar < 0) {
			rc = sl_diag_error(d, f->keys[i]->pos, "source '%s': field '%s': %s", n->name,
					   name,
					   ar == -EEXIST ? "defined twice"
					   : ar == -ENOSPC ? "too many columns"
							   : "name too long");
			continue;
		}
		if (s->format == FMT_JSON) {
			ff->path_text = strdup(path);
			if (!ff->path_text || sl_json_path_compile(ff->path_text, &ff->path) < 0) {
				rc = sl_diag_error(d, pnode ? pnode->pos : f->keys[i]->pos,
						   "source '%s': field '%s': bad JSON path '%s' (dotted "
						   "keys, at most %u)",
						   n->name, name, path, SL_JSON_PATH_MAX_SEGS);
				continue;
			}
		} else if (s->header) {
			uint32_t k;
			for (k = 0; k < n_hdr; k++)
				if (hdr_len[k] == strlen(path) && memcmp(hdr[k], path, hdr_len[k]) == 0)
					break;
			if (k == n_hdr) {
				rc = sl_diag_error(d, pnode ? pnode->pos : f->keys[i]->pos,
						   "source '%s': field '%s': no column '%s' in the header "
						   "of %s",
						   n->name, name, path, s->files.path[0]);
				continue;
			}
			ff->csv_col = k;
		} else {
			int64_t col = s->n_fields + 1;
			if (pnode && sl_cfg_as_int64(pnode, "column", 1, 4096, &col, d) < 0) {
				rc = -EINVAL;
				continue;
			}
			ff->csv_col = (uint32_t)(col - 1);
		}
		if (ff->csv_col + 1 > s->n_csv_cols)
			s->n_csv_cols = ff->csv_col + 1;
		s->n_fields++;
	}
	return rc;
}

static void file_release(struct sl_node *n)
{
	struct file_shared *s = n->shared;
	if (!s)
		return;
	for (uint32_t i = 0; i < s->n_fields; i++)
		free(s->f[i].path_text);
	sl_format_free(s->fmt);
	sl_filelist_free(&s->files);
	free(s->splits);
	free(s);
	n->shared = NULL;
}

static int file_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	(void)job;
	const struct file_conf *c = n->conf;
	struct file_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->format = c->format;
	s->header = c->header;
	struct sl_pos ppos = sl_node_pos_of(n, "path");
	if (strlen(c->delimiter) != 1)
		return sl_diag_error(d, sl_node_pos_of(n, "delimiter"),
				     "source '%s': delimiter must be one byte", n->name);
	s->delim = c->delimiter[0];
	int rc = sl_glob(c->path, &s->files);
	if (rc < 0)
		return sl_diag_error(d, ppos, "source '%s': cannot list '%s': %s", n->name, c->path,
				     strerror(-rc));
	if (s->files.n == 0)
		return sl_diag_error(d, ppos, "source '%s': no file matches '%s'", n->name, c->path);
	memset(&n->schema, 0, sizeof(n->schema));
	const char *hdr[SL_MAX_COLS * 4];
	uint32_t hdr_len[SL_MAX_COLS * 4];
	uint32_t n_hdr = 0;
	static char line[65536], scratch[65536];
	if (s->format == FMT_CSV && s->header) {
		size_t len;
		rc = read_header_line(s->files.path[0], line, sizeof(line), &len);
		if (rc < 0)
			return sl_diag_error(d, ppos, "source '%s': cannot read the header of %s: %s",
					     n->name, s->files.path[0],
					     rc == -E2BIG ? "line longer than 64 KiB" : strerror(-rc));
		int k = csv_split(line, len, s->delim, hdr, hdr_len, SL_ARRAY_LEN(hdr), scratch);
		if (k <= 0)
			return sl_diag_error(d, ppos, "source '%s': %s:1: cannot read the header line",
					     n->name, s->files.path[0]);
		n_hdr = (uint32_t)k;
	}
	bool via_format = s->format >= FMT_DEBEZIUM || (s->format == FMT_JSON && c->schema);
	if (via_format) {
		struct sl_pos spos = sl_node_pos_of(n, "schema");
		if (!c->schema)
			return sl_diag_error(d, n->pos,
					     "source '%s': format %s needs schema: (Flink SQL columns, "
					     "e.g. \"id INT NOT NULL, name STRING\")",
					     n->name, formats[s->format]);
		if (c->fields)
			return sl_diag_error(d, sl_node_pos_of(n, "fields"),
					     "source '%s': give either schema: or fields:, not both",
					     n->name);
		struct sl_sqlschema sq;
		struct sl_cfg_node *sn = sl_cfg_get(n->cfg, "schema");
		if (sl_sqlschema_parse(c->schema, strlen(c->schema), spos, sn && sn->quoted, &sq, d) <
		    0)
			return -EINVAL;
		s->fmt = sl_format_new(formats[s->format], &sq, n->cfg, NULL, d);
		if (!s->fmt)
			return -EINVAL;
		n->schema = *sl_format_schema(s->fmt);
	} else if (parse_fields(n, s, c, hdr, hdr_len, n_hdr, d) < 0) {
		return -EINVAL;
	}
	if (s->format == FMT_CSV && s->header && s->n_csv_cols < n_hdr)
		s->n_csv_cols = n_hdr;
	/* Every other file's header must agree with the first's. */
	for (uint32_t i = 1; s->format == FMT_CSV && s->header && i < s->files.n; i++) {
		static char other[65536];
		size_t len, len0;
		read_header_line(s->files.path[0], line, sizeof(line), &len0);
		if (read_header_line(s->files.path[i], other, sizeof(other), &len) < 0 || len != len0 ||
		    memcmp(line, other, len) != 0)
			return sl_diag_error(d, ppos,
					     "source '%s': %s:1: header differs from the one of %s",
					     n->name, s->files.path[i], s->files.path[0]);
	}
	/* Splits: whole files, and line-aligned ranges of big ones. */
	uint64_t n_splits = 0;
	for (uint32_t i = 0; i < s->files.n; i++)
		n_splits += s->files.size[i] / SL_FILE_SPLIT_MIN_BYTES + 1;
	s->splits = calloc(n_splits, sizeof(*s->splits));
	if (!s->splits)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->files.n; i++) {
		uint64_t size = s->files.size[i];
		uint64_t parts = size / SL_FILE_SPLIT_MIN_BYTES + 1;
		uint64_t step = (size + parts - 1) / parts;
		for (uint64_t k = 0; k < parts; k++) {
			uint64_t a = k * step, b = SL_MIN(size, (k + 1) * step);
			if (a >= b && !(k == 0 && size == 0))
				continue;
			s->splits[s->n_splits++] = (struct file_split){i, a, b};
		}
	}
	n->changelog = s->fmt && sl_format_is_changelog(s->fmt);
	n->n_part = 0;
	return 0;
}

/* ---- reading ---- */

static void read_done(struct sl_worker *w, struct sl_io *io, int res)
{
	struct rbuf *b = (struct rbuf *)io;
	w->inflight_io--;
	b->inflight = false;
	b->ready = true;
	if (res < 0) {
		b->err = res;
		b->len = 0;
		b->eof = true;
	} else {
		b->len = (uint32_t)res;
		b->eof = (uint32_t)res < SL_FILE_READ_BYTES;
	}
}

static void submit_read(struct sl_worker *w, struct file_state *st, struct rbuf *b)
{
	SL_ASSERT(!b->inflight);
	b->off = st->read_off;
	b->ready = false;
	b->eof = false;
	b->err = 0;
	b->len = 0;
	b->inflight = true;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_read(sqe, st->fd, b->mem + BUF_RESERVE, SL_FILE_READ_BYTES, b->off);
	io_uring_sqe_set_data(sqe, &b->io);
	w->inflight_io++;
	st->read_off += SL_FILE_READ_BYTES;
}

static int file_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct file_shared *s = ni->node->shared;
	struct file_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->fd = -1;
	if (s->fmt) {
		st->dec = sl_decoder_new(s->fmt);
		if (!st->dec)
			return -ENOMEM;
	} else if (s->format == FMT_JSON) {
		st->json = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);
		if (!st->json)
			return -ENOMEM;
	} else {
		st->unescape = mi_malloc(SL_RECORD_MAX_BYTES);
		if (!st->unescape)
			return -ENOMEM;
	}
	st->mine = mi_zalloc((s->n_splits / w->n_workers + 1) * sizeof(*st->mine));
	st->status = mi_zalloc(s->n_splits / w->n_workers + 1);
	st->resume = mi_zalloc((s->n_splits / w->n_workers + 1) * sizeof(*st->resume));
	if (!st->mine || !st->status || !st->resume)
		return -ENOMEM;
	uint64_t total = 0;
	for (uint32_t i = w->id; i < s->n_splits; i += w->n_workers) {
		st->mine[st->n_mine++] = i;
		total += s->splits[i].end - s->splits[i].start;
	}
	for (int k = 0; k < 2; k++) {
		st->buf[k].mem = mi_malloc_aligned(BUF_BYTES, 4096);
		if (!st->buf[k].mem)
			return -ENOMEM;
		st->buf[k].st = st;
		st->buf[k].io.done = read_done;
		memset(st->buf[k].mem + BUF_BYTES - SL_JSON_PADDING, 0, SL_JSON_PADDING);
	}
	sl_counter_add(&w->m->progress_total, total);
	return 0;
}

static void file_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct file_state *st = ni->state;
	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd);
	sl_json_parser_free(st->json);
	sl_decoder_free(st->dec);
	mi_free(st->unescape);
	mi_free(st->mine);
	mi_free(st->status);
	mi_free(st->resume);
	mi_free(st->buf[0].mem);
	mi_free(st->buf[1].mem);
	mi_free(st);
	ni->state = NULL;
}

/* Lines before the split's start: counted once, on the first error. */
static uint64_t line_of(struct file_state *st)
{
	if (st->line_base < 0) {
		uint64_t lines = 0, off = 0;
		char tmp[65536];
		while (off < st->sp->start) {
			size_t want = SL_MIN(sizeof(tmp), st->sp->start - off);
			ssize_t n = pread(st->fd, tmp, want, (off_t)off);
			if (n <= 0)
				break;
			for (ssize_t i = 0; i < n; i++)
				lines += tmp[i] == '\n';
			off += (uint64_t)n;
		}
		st->line_base = (int64_t)lines;
	}
	return (uint64_t)st->line_base + st->line_no;
}

static void bad_line(struct sl_worker *w, struct sl_nodeinst *ni, struct file_state *st,
		     const char *reason, const char *raw, size_t raw_len)
{
	const struct file_shared *s = ni->node->shared;
	char where[4200];
	snprintf(where, sizeof(where), "%s:%llu", s->files.path[st->sp->file],
		 (unsigned long long)line_of(st));
	sl_worker_bad_input(w, ni, where, reason, raw, raw_len);
}

/* Stores a value given as text in column c of row r. */
static int set_text(struct sl_batch *b, uint32_t c, uint32_t r, enum sl_type t, const char *v,
		    size_t len, char *err, size_t cap, const char *name)
{
	if (t == SL_T_STRING) {
		sl_batch_set_str(b, c, r, v, len); /* room was checked per line */
		return 0;
	}
	if (len == 0) {
		sl_batch_set_null(b, c, r);
		return 0;
	}
	union sl_val val;
	int rc = sl_value_parse_field(&b->schema->fields[c], v, len, &val);
	if (rc < 0) {
		snprintf(err, cap, "field '%s': '%.*s' is not a valid %s", name, (int)SL_MIN(len, 64),
			 v, sl_type_name(t));
		return rc;
	}
	b->cols[c].v[r] = val;
	sl_batch_set_valid(b, c, r, true);
	return 0;
}

static int set_json(struct sl_batch *b, uint32_t c, uint32_t r, enum sl_type t,
		    struct sl_json_elem e, char *err, size_t cap, const char *name)
{
	enum sl_json_type jt = sl_json_type(e);
	const char *s;
	size_t len;
	if (jt == SL_JSON_NULL || jt == SL_JSON_MISSING) {
		sl_batch_set_null(b, c, r);
		return 0;
	}
	if (jt == SL_JSON_STRING) {
		sl_json_get_string(e, &s, &len);
		return set_text(b, c, r, t, s, len, err, cap, name);
	}
	switch (t) {
	case SL_T_STRING: {
		/* Numbers, booleans, objects and arrays as their JSON text. */
		ssize_t n = sl_json_minify(e, b->heap + b->heap_len, sl_batch_heap_free(b));
		if (n < 0) {
			snprintf(err, cap, "field '%s': value too large", name);
			return -E2BIG;
		}
		b->cols[c].v[r].s.off = b->heap_len;
		b->cols[c].v[r].s.len = (uint32_t)n;
		b->heap_len += (uint32_t)n;
		sl_batch_set_valid(b, c, r, true);
		return 0;
	}
	case SL_T_INT:
	case SL_T_BIGINT:
	case SL_T_DATE:
	case SL_T_TIMESTAMP: {
		int64_t i;
		double f;
		if (sl_json_get_int64(e, &i)) {
		} else if (sl_json_get_double(e, &f) && f >= -9.2e18 && f <= 9.2e18 &&
			   f == (double)(int64_t)f) {
			i = (int64_t)f;
		} else {
			snprintf(err, cap, "field '%s': expected %s, got %s", name, sl_type_name(t),
				 jt == SL_JSON_BOOL ? "a boolean"
				 : jt == SL_JSON_DOUBLE ? "a fraction"
							: "an object or array");
			return -EINVAL;
		}
		if (t == SL_T_INT && (i < INT32_MIN || i > INT32_MAX)) {
			snprintf(err, cap, "field '%s': %lld is out of range for INT", name,
				 (long long)i);
			return -ERANGE;
		}
		sl_batch_set_i(b, c, r, i);
		return 0;
	}
	case SL_T_FLOAT:
	case SL_T_DOUBLE: {
		double f;
		if (!sl_json_get_double(e, &f)) {
			snprintf(err, cap, "field '%s': expected %s, got %s", name, sl_type_name(t),
				 jt == SL_JSON_BOOL ? "a boolean" : "an object or array");
			return -EINVAL;
		}
		sl_batch_set_f(b, c, r, t == SL_T_FLOAT ? (double)(float)f : f);
		return 0;
	}
	case SL_T_BOOL: {
		bool v;
		if (!sl_json_get_bool(e, &v)) {
			snprintf(err, cap, "field '%s': expected BOOLEAN", name);
			return -EINVAL;
		}
		sl_batch_set_i(b, c, r, v);
		return 0;
	}
	default:
		snprintf(err, cap, "field '%s': unsupported type", name);
		return -EINVAL;
	}
}

/* Decodes one line into a new row of b. Returns 0, or -EINVAL with err set
 * (the row is rolled back). */
static int decode_line(const struct file_shared *s, struct file_state *st,
		       const struct sl_schema *schema, uint64_t used, struct sl_batch *b,
		       const char *line, size_t len, int64_t now, char *err, size_t cap)
{
	uint32_t mark = b->heap_len;
	uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, now, INT64_MIN);
	int rc = 0;
	if (s->format == FMT_JSON) {
		struct sl_json_elem root, v;
		rc = sl_json_parse(st->json, line, len, true, &root);
		if (rc < 0) {
			snprintf(err, cap, "invalid JSON: %s", sl_json_error(st->json));
			goto out_bad;
		}
		if (sl_json_type(root) != SL_JSON_OBJECT) {
			snprintf(err, cap, "expected a JSON object");
			rc = -EINVAL;
			goto out_bad;
		}
		for (uint32_t c = 0; c < s->n_fields; c++) {
			/* Columns nobody downstream reads stay null (column pruning). */
			if (!((used >> c) & 1) || !sl_json_get_path(root, &s->f[c].path, &v)) {
				sl_batch_set_null(b, c, r);
				continue;
			}
			rc = set_json(b, c, r, s->f[c].type, v, err, cap, schema->fields[c].name);
			if (rc < 0)
				goto out_bad;
		}
	} else {
		const char *fp[SL_MAX_COLS * 4];
		uint32_t fl[SL_MAX_COLS * 4];
		int k = csv_split(line, len, s->delim, fp, fl, SL_ARRAY_LEN(fp), st->unescape);
		if (k < 0) {
			snprintf(err, cap, k == -E2BIG ? "too many columns" : "unbalanced quotes");
			rc = -EINVAL;
			goto out_bad;
		}
		if ((uint32_t)k != s->n_csv_cols) {
			snprintf(err, cap, "expected %u columns, got %d", s->n_csv_cols, k);
			rc = -EINVAL;
			goto out_bad;
		}
		for (uint32_t c = 0; c < s->n_fields; c++) {
			uint32_t col = s->f[c].csv_col;
			if (!((used >> c) & 1))
				continue;
			rc = set_text(b, c, r, s->f[c].type, fp[col], fl[col], err, cap,
				      schema->fields[c].name);
			if (rc < 0)
				goto out_bad;
		}
	}
	sl_batch_commit_row(b);
	return 0;
out_bad:
	sl_batch_rollback(b, mark);
	return rc;
}

/* Starts the next split of this worker; false when there is none. */
static bool start_split(struct sl_worker *w, struct sl_nodeinst *ni, struct file_state *st)
{
	const struct file_shared *s = ni->node->shared;
	while (st->next < st->n_mine && st->status[st->next] == SPLIT_DONE)
		st->next++; /* finished before the restored checkpoint */
	if (st->next == st->n_mine)
		return false;
	st->cur = st->next;
	st->sp = &s->splits[st->mine[st->next++]];
	const char *path = s->files.path[st->sp->file];
	st->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (st->fd < 0) {
		sl_worker_fail(w, ni, -errno, "cannot open %s: %s", path, strerror(errno));
		return false;
	}
	st->in_split = true;
	st->split_done = false;
	st->line_no = 0;
	st->line_base = st->sp->start == 0 ? 0 : -1;
	/* A range that starts inside a file begins after the first newline at
	 * or after start-1: the line in progress belongs to the previous range. */
	st->read_off = st->sp->start ? st->sp->start - 1 : 0;
	st->skip_line = st->sp->start > 0 || (s->format == FMT_CSV && s->header);
	if (s->format == FMT_CSV && s->header && st->sp->start == 0)
		st->line_no = 1; /* the header is line 1 */
	if (st->status[st->cur] == SPLIT_READING) {
		const struct file_resume *rs = &st->resume[st->cur];
		st->read_off = rs->off;
		st->skip_line = rs->skip_line;
		st->line_no = rs->line_no;
		st->line_base = rs->line_base;
	}
	st->status[st->cur] = SPLIT_READING;
	st->cur_start = (struct file_resume){st->read_off, st->line_no, st->line_base, st->skip_line};
	st->active = 0;
	submit_read(w, st, &st->buf[0]);
	submit_read(w, st, &st->buf[1]);
	st->p = st->end = NULL;
	return true;
}

static int file_poll(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct file_shared *s = ni->node->shared;
	struct file_state *st = ni->state;
	if (!st->in_split) {
		if (!start_split(w, ni, st))
			return w->error ? w->error : SL_POLL_EOF;
	}
	if (st->split_done) {
		/* Let reads in flight land before the buffers are reused. */
		if (st->buf[0].inflight || st->buf[1].inflight)
			return SL_POLL_IDLE;
		close(st->fd);
		st->fd = -1;
		st->in_split = false;
		st->status[st->cur] = SPLIT_DONE;
		return SL_POLL_MORE;
	}
	struct rbuf *cur = &st->buf[st->active];
	if (!cur->ready)
		return SL_POLL_IDLE; /* the completion wakes the loop */
	if (cur->err) {
		sl_worker_fail(w, ni, cur->err, "reading %s: %s", s->files.path[st->sp->file],
			       strerror(-cur->err));
		return cur->err;
	}
	if (!st->end) {
		st->end = cur->mem + BUF_RESERVE + cur->len;
		if (!st->p)
			st->p = cur->mem + BUF_RESERVE;
	}
	struct sl_batch *b = sl_worker_batch(w, &ni->node->schema);
	int64_t now = w->now_ns;
	uint64_t consumed = 0;
	char err[1024];
	while (!sl_batch_full(b)) {
		char *p = st->p;
		uint64_t off = cur->off + (uint64_t)(p - (cur->mem + BUF_RESERVE)) - 0;
		char *nl = memchr(p, '\n', (size_t)(st->end - p));
		if (!nl) {
			size_t carry = (size_t)(st->end - p);
			if (cur->eof) {
				/* The last line may lack its newline. */
				if (carry == 0 || off >= st->sp->end) {
					st->split_done = true;
					break;
				}
				nl = st->end;
			} else {
				struct rbuf *other = &st->buf[!st->active];
				if (carry > BUF_RESERVE) {
					bad_line(w, ni, st, "line longer than the record limit (1 MiB)",
						 p, carry);
					st->line_no++;
					st->skip_line = true;
					carry = 0;
				}
				memcpy(other->mem + BUF_RESERVE - carry, p, carry);
				consumed += (uint64_t)(st->end - p) - carry;
				submit_read(w, st, cur);
				st->active = !st->active;
				st->p = other->mem + BUF_RESERVE - carry;
				st->end = NULL;
				break;
			}
		}
		if (off >= st->sp->end && !st->skip_line) {
			st->split_done = true;
			break;
		}
		size_t len = (size_t)(nl - p);
		if (len && p[len - 1] == '\r')
			len--;
		if (st->skip_line) {
			st->skip_line = false;
			st->p = nl + (nl < st->end);
			consumed += (uint64_t)(st->p - p);
			continue;
		}
		if (st->dec) {
			/* A changelog message may be several rows: the decoder says
			 * when they do not fit, and the line waits for the next batch. */
			int dr = len ? sl_decoder_decode(st->dec, p, len, true, b, now, err, sizeof(err))
				     : 0;
			if (dr == -ENOBUFS && b->n_rows > 0)
				break;
			st->line_no++;
			st->p = nl + (nl < st->end);
			consumed += (uint64_t)(st->p - p);
			if (dr == -EINVAL && !sl_format_ignore_parse_errors(s->fmt)) {
				/* As Flink: a corrupt message fails the job unless
				 * ignore-parse-errors is set. */
				sl_worker_fail(w, ni, -EINVAL, "%s:%llu: %s", s->files.path[st->sp->file],
					       (unsigned long long)line_of(st), err);
				st->split_done = true;
				break;
			}
			if (dr < 0)
				bad_line(w, ni, st, dr == -ENOBUFS || dr == -E2BIG
							    ? "message larger than a batch"
							    : err,
					 p, len);
		} else {
			if (len + 64 > sl_batch_heap_free(b) && b->n_rows > 0)
				break; /* the row may not fit: send this batch first */
			st->line_no++;
			st->p = nl + (nl < st->end);
			consumed += (uint64_t)(st->p - p);
			if (len == 0)
				continue; /* blank lines carry no record */
			if (decode_line(s, st, &ni->node->schema, ni->node->out_used, b, p, len, now, err,
					sizeof(err)) <
			    0)
				bad_line(w, ni, st, err, p, len);
		}
		if (nl == st->end) {
			st->split_done = true;
			break;
		}
	}
	sl_worker_source_rows(w, ni, b->n_rows, consumed);
	sl_counter_add(&w->m->progress_done, consumed);
	int rc = sl_emit(w, ni, b);
	sl_worker_put(w, b);
	return rc < 0 ? rc : SL_POLL_MORE;
}

static int file_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct file_state *st = ni->state;
	/* Stopped early: reads in flight target our buffers. */
	while (st->buf[0].inflight || st->buf[1].inflight)
		sl_worker_wait_io(w);
	return 0;
}

/* ---- checkpoints ---- */

/* Per split of this worker: its identity and where it stands, at a batch
 * boundary (every line before the position was emitted). */
static int file_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	(void)w;
	const struct file_shared *s = ni->node->shared;
	struct file_state *st = ni->state;
	sl_snap_u32(out, st->n_mine);
	for (uint32_t k = 0; k < st->n_mine; k++) {
		const struct file_split *sp = &s->splits[st->mine[k]];
		uint8_t status = st->status[k];
		struct file_resume rs = {0};
		if (status == SPLIT_READING && st->in_split && st->cur == k) {
			if (st->split_done) {
				status = SPLIT_DONE;
			} else if (!st->p) {
				rs = st->cur_start; /* nothing parsed yet: where it began */
			} else {
				const struct rbuf *b = &st->buf[st->active];
				rs.off = b->off + (uint64_t)(st->p - (b->mem + BUF_RESERVE));
				rs.skip_line = st->skip_line;
				rs.line_no = st->line_no;
				rs.line_base = st->line_base;
			}
		} else if (status == SPLIT_READING) {
			rs = st->resume[k]; /* restored, not reopened yet */
		}
		sl_snap_u32(out, st->mine[k]);
		sl_snap_u32(out, sp->file);
		sl_snap_u64(out, sp->start);
		sl_snap_u64(out, sp->end);
		sl_snap_u8(out, status);
		sl_snap_u64(out, rs.off);
		sl_snap_u8(out, rs.skip_line);
		sl_snap_u64(out, rs.line_no);
		sl_snap_u64(out, (uint64_t)rs.line_base);
	}
	return 0;
}

static int file_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *b,
			uint32_t n)
{
	const struct file_shared *s = ni->node->shared;
	struct file_state *st = ni->state;
	uint64_t done_bytes = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (b[k].len == 0)
			continue;
		struct sl_snapread r;
		sl_snapread_init(&r, b[k].p, b[k].len);
		uint32_t cnt = sl_snapread_u32(&r);
		for (uint32_t i = 0; i < cnt && !r.bad; i++) {
			uint32_t idx = sl_snapread_u32(&r);
			uint32_t file = sl_snapread_u32(&r);
			uint64_t start = sl_snapread_u64(&r);
			uint64_t end = sl_snapread_u64(&r);
			uint8_t status = sl_snapread_u8(&r);
			struct file_resume rs;
			rs.off = sl_snapread_u64(&r);
			rs.skip_line = sl_snapread_u8(&r) != 0;
			rs.line_no = sl_snapread_u64(&r);
			rs.line_base = (int64_t)sl_snapread_u64(&r);
			if (r.bad)
				break;
			if (idx >= s->n_splits || s->splits[idx].file != file ||
			    s->splits[idx].start != start || s->splits[idx].end != end) {
				sl_log(SL_LOG_ERROR, (int)w->id, ni->node->name,
				       "msg=\"the input files differ from when the checkpoint was "
				       "taken (a split moved): cannot resume them\" split=%u",
				       idx);
				return -ESTALE;
			}
			for (uint32_t m = 0; m < st->n_mine; m++) {
				if (st->mine[m] != idx)
					continue;
				if (status == SPLIT_DONE) {
					st->status[m] = SPLIT_DONE;
					done_bytes += end - start;
				} else if (status == SPLIT_READING) {
					if (rs.off < (start ? start - 1 : 0) || rs.off > end + SL_RECORD_MAX_BYTES)
						return -EINVAL;
					st->status[m] = SPLIT_READING;
					st->resume[m] = rs;
					done_bytes += rs.off > start ? rs.off - start : 0;
				}
			}
		}
		if (!sl_snapread_done(&r))
			return -EINVAL;
	}
	sl_counter_add(&w->m->progress_done, done_bytes);
	return 0;
}

const struct sl_plugin sl_plugin_file_source = {
	.extra_keys = file_extra_keys,
	.name = "file",
	.kind = SL_NODE_SOURCE,
	.summary = "NDJSON or CSV files: a path, a directory or a glob, split over workers",
	.options = file_options,
	.conf_bytes = sizeof(struct file_conf),
	.prepare = file_prepare,
	.release = file_release,
	.open = file_open,
	.close = file_close,
	.poll = file_poll,
	.finish = file_finish,
	.snapshot = file_snapshot,
	.restore = file_restore,
};
