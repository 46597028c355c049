/* Sink `file`: rolling part files per worker, JSON lines or CSV, optionally zstd, written with io_uring. */
#include <dirent.h>
#include <fcntl.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "connectors/file/encode.h"
#include "core/engine.h"
#include "core/job.h"
#include "core/log.h"
#include "core/worker.h"
#include "state/snap.h"

/* In the order of enum sl_enc_format. */
static const char *const sink_formats[] = {"jsonl",      "csv",         "debezium-json",
					   "canal-json", "upsert-json", NULL};
static const char *const compressions[] = {"none", "zstd", NULL};
static const char *const kind_modes[] = {"auto", "always", "never", NULL};
enum { KIND_AUTO, KIND_ALWAYS, KIND_NEVER };

struct fsink_conf {
	const char *path;
	int format;
	int compression;
	int64_t max_bytes;
	int64_t max_age_ms;
	int64_t zstd_level;
	int kind_column;
	const char *delimiter;
	struct sl_strlist key;
};

static const struct sl_option fsink_options[] = {
	{.name = "path", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct fsink_conf, path),
	 .help = "directory for the part files (created if missing)"},
	{.name = "format", .type = SL_OPT_ENUM, .def = "jsonl", .choices = sink_formats,
	 .offset = offsetof(struct fsink_conf, format),
	 .help = "jsonl: one JSON object per row with _kind; csv: header and rows; "
		 "debezium-json / canal-json: change events (an update as a delete and an insert); "
		 "upsert-json: {key, value} with value null for deletes (needs key)"},
	{.name = "key", .type = SL_OPT_STRING_LIST, .offset = offsetof(struct fsink_conf, key),
	 .help = "upsert-json: the key columns"},
	{.name = "compression", .type = SL_OPT_ENUM, .def = "none", .choices = compressions,
	 .offset = offsetof(struct fsink_conf, compression), .help = "zstd adds .zst"},
	{.name = "max_bytes", .type = SL_OPT_SIZE_BYTES, .def = "128MiB", .min = 4096,
	 .max = INT64_MAX, .offset = offsetof(struct fsink_conf, max_bytes),
	 .help = "roll to a new part file after this many (uncompressed) bytes"},
	{.name = "max_age", .type = SL_OPT_DURATION_MS, .def = "0",
	 .offset = offsetof(struct fsink_conf, max_age_ms),
	 .help = "roll a part file this long after it was opened (0: never)"},
	{.name = "zstd_level", .type = SL_OPT_INT, .def = "3", .min = -7, .max = 19,
	 .offset = offsetof(struct fsink_conf, zstd_level), .help = "zstd compression level"},
	{.name = "kind_column", .type = SL_OPT_ENUM, .def = "auto", .choices = kind_modes,
	 .offset = offsetof(struct fsink_conf, kind_column),
	 .help = "csv: a first _kind column (+I/-U/+U/-D); auto: when the input is a changelog"},
	{.name = "delimiter", .type = SL_OPT_STRING, .def = ",",
	 .offset = offsetof(struct fsink_conf, delimiter), .help = "csv: one-byte separator"},
	{0},
};

#define WBUF_BYTES (2u * SL_FILE_WRITE_BYTES)

struct fsink_state;

struct wbuf {
	struct sl_io io;
	struct fsink_state *st;
	char *mem;
	size_t len;
	bool inflight;
};

struct fsink_state {
	struct sl_encoder enc;
	int fd;
	uint64_t seq;
	char tmp_path[4200];
	char final_path[4200];
	uint64_t file_off;    /* bytes submitted to the file */
	uint64_t raw_bytes;   /* uncompressed bytes in this part */
	int64_t opened_ns;
	struct wbuf w[2];
	int cur;              /* buffer being filled */
	char *raw;            /* zstd: rows are encoded here first */
	size_t raw_len;
	ZSTD_CCtx *zstd;
	int write_err;
	uint64_t parts;
	/* Two-phase commit (checkpointing on): closed parts wait, hidden, as
	 * `.part-….pending` until the checkpoint covering them is complete. */
	bool two_phase;
	struct pending_part *pend;
	uint32_t n_pend, cap_pend;
};

struct pending_part {
	char *pending; /* hidden name */
	char *final;   /* published name */
	uint64_t ckpt; /* the first checkpoint that covers it */
};

static int fsink_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct fsink_conf *c = n->conf;
	sl_node_inherit(job, n);
	if (strlen(c->delimiter) != 1)
		return sl_diag_error(d, sl_node_pos_of(n, "delimiter"),
				     "sink '%s': delimiter must be one byte", n->name);
	if (c->format == SL_ENC_UPSERT) {
		uint32_t cols[SL_MAX_KEYS];
		char what[SL_NAME_MAX + 16];
		snprintf(what, sizeof(what), "sink '%s': key", n->name);
		if (c->key.n == 0 || c->key.n > SL_MAX_KEYS)
			return sl_diag_error(d, n->pos, "sink '%s': upsert-json needs key: (1 to %u columns)",
					     n->name, SL_MAX_KEYS);
		if (sl_node_resolve_cols(&n->schema, &c->key, n, "key", what, cols, d) < 0)
			return -EINVAL;
	} else if (c->key.n) {
		return sl_diag_error(d, sl_node_pos_of(n, "key"),
				     "sink '%s': key is for format upsert-json", n->name);
	}
	int rc = sl_mkdir_p(c->path);
	if (rc < 0)
		return sl_diag_error(d, sl_node_pos_of(n, "path"), "sink '%s': cannot create %s: %s",
				     n->name, c->path, strerror(-rc));
	struct stat st;
	if (stat(c->path, &st) < 0 || !S_ISDIR(st.st_mode))
		return sl_diag_error(d, sl_node_pos_of(n, "path"), "sink '%s': %s is not a directory",
				     n->name, c->path);
	return 0;
}

static void write_done(struct sl_worker *w, struct sl_io *io, int res)
{
	struct wbuf *b = (struct wbuf *)io;
	w->inflight_io--;
	b->inflight = false;
	if (res < 0)
		b->st->write_err = res;
	else if ((size_t)res != b->len)
		b->st->write_err = -EIO; /* regular files do not write short unless full */
	b->len = 0;
}

static const char *ext_of(const struct fsink_conf *c)
{
	/* Every JSON-based format is JSON lines. */
	return c->format == SL_ENC_CSV ? (c->compression ? "csv.zst" : "csv")
				       : (c->compression ? "jsonl.zst" : "jsonl");
}

/* Next sequence number: after any part this worker left in the directory. */
static uint64_t first_seq(const char *dir, uint32_t worker)
{
	DIR *d = opendir(dir);
	uint64_t next = 0;
	if (!d)
		return 0;
	struct dirent *e;
	char prefix[32];
	int pl = snprintf(prefix, sizeof(prefix), "part-%u-", worker);
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		if (name[0] == '.')
			name++;
		if (strncmp(name, prefix, (size_t)pl) == 0) {
			uint64_t s = strtoull(name + pl, NULL, 10);
			if (s + 1 > next)
				next = s + 1;
		}
	}
	closedir(d);
	return next;
}

static int fsink_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct fsink_conf *c = ni->node->conf;
	struct fsink_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->fd = -1;
	bool kind = c->format == SL_ENC_JSONL || c->kind_column == KIND_ALWAYS ||
		    (c->kind_column == KIND_AUTO && ni->node->changelog);
	sl_encoder_init(&st->enc, (enum sl_enc_format)c->format, &ni->node->schema, kind,
			c->delimiter[0]);
	for (uint32_t k = 0; k < c->key.n; k++)
		st->enc.key_cols[st->enc.n_keys++] =
			(uint32_t)sl_schema_find(&ni->node->schema, c->key.v[k]);
	size_t wcap = c->compression ? ZSTD_compressBound(WBUF_BYTES) + 4096 : WBUF_BYTES;
	for (int k = 0; k < 2; k++) {
		st->w[k].mem = mi_malloc_aligned(wcap, 4096);
		st->w[k].st = st;
		st->w[k].io.done = write_done;
		if (!st->w[k].mem)
			return -ENOMEM;
	}
	if (c->compression) {
		st->raw = mi_malloc(WBUF_BYTES);
		st->zstd = ZSTD_createCCtx();
		if (!st->raw || !st->zstd)
			return -ENOMEM;
		ZSTD_CCtx_setParameter(st->zstd, ZSTD_c_compressionLevel, (int)c->zstd_level);
	}
	st->seq = first_seq(c->path, w->id);
	st->two_phase = w->eng->ckpt_on;
	return 0;
}

static int wait_buf(struct sl_worker *w, struct wbuf *b)
{
	while (b->inflight) {
		int rc = sl_worker_wait_io(w);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int open_part(struct sl_worker *w, struct sl_nodeinst *ni, struct fsink_state *st)
{
	const struct fsink_conf *c = ni->node->conf;
	snprintf(st->final_path, sizeof(st->final_path), "%s/part-%u-%llu.%s", c->path, w->id,
		 (unsigned long long)st->seq, ext_of(c));
	snprintf(st->tmp_path, sizeof(st->tmp_path), "%s/.part-%u-%llu.%s.inprogress", c->path,
		 w->id, (unsigned long long)st->seq, ext_of(c));
	st->seq++;
	st->fd = open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (st->fd < 0) {
		sl_worker_fail(w, ni, -errno, "cannot create %s: %s", st->tmp_path, strerror(errno));
		return -errno;
	}
	st->file_off = 0;
	st->raw_bytes = 0;
	st->opened_ns = w->now_ns;
	if (st->zstd)
		ZSTD_CCtx_reset(st->zstd, ZSTD_reset_session_only);
	ssize_t n = sl_encode_header(&st->enc, st->zstd ? st->raw : st->w[st->cur].mem, WBUF_BYTES);
	if (n > 0) {
		if (st->zstd)
			st->raw_len = (size_t)n;
		else
			st->w[st->cur].len = (size_t)n;
		st->raw_bytes += (uint64_t)n;
	}
	return 0;
}

/* Sends the current buffer to the file and switches to the other one.
 * With zstd, compresses the raw rows first (end=true closes the frame). */
static int submit_cur(struct sl_worker *w, struct sl_nodeinst *ni, struct fsink_state *st,
		      bool end)
{
	struct wbuf *b = &st->w[st->cur];
	if (st->zstd) {
		ZSTD_inBuffer in = {st->raw, st->raw_len, 0};
		ZSTD_outBuffer out = {b->mem, ZSTD_compressBound(WBUF_BYTES) + 4096, b->len};
		size_t left;
		do {
			left = ZSTD_compressStream2(st->zstd, &out, &in,
						    end ? ZSTD_e_end : ZSTD_e_continue);
			if (ZSTD_isError(left)) {
				sl_worker_fail(w, ni, -EIO, "zstd: %s", ZSTD_getErrorName(left));
				return -EIO;
			}
		} while (end ? left != 0 : in.pos < in.size);
		b->len = out.pos;
		st->raw_len = 0;
	}
	if (b->len == 0)
		return 0;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_write(sqe, st->fd, b->mem, (unsigned)b->len, st->file_off);
	io_uring_sqe_set_data(sqe, &b->io);
	b->inflight = true;
	w->inflight_io++;
	st->file_off += b->len;
	st->cur = !st->cur;
	/* Back-pressure: the next buffer must be free before we fill it. */
	int rc = wait_buf(w, &st->w[st->cur]);
	if (rc == 0 && st->write_err) {
		sl_worker_fail(w, ni, st->write_err, "writing %s: %s", st->tmp_path,
			       strerror(-st->write_err));
		return st->write_err;
	}
	return rc;
}

/* A closed part becomes pending: renamed to its hidden .pending name and
 * listed until a checkpoint covering it is published. */
static int add_pending(struct sl_worker *w, struct sl_nodeinst *ni, struct fsink_state *st)
{
	size_t tl = strlen(st->tmp_path);
	const size_t suffix = sizeof(".inprogress") - 1;
	SL_ASSERT(tl > suffix);
	char pending[4200];
	snprintf(pending, sizeof(pending), "%.*s.pending", (int)(tl - suffix), st->tmp_path);
	if (st->n_pend == st->cap_pend) {
		uint32_t cap = st->cap_pend ? st->cap_pend * 2 : 8;
		struct pending_part *np = mi_realloc(st->pend, cap * sizeof(*np));
		if (!np)
			return -ENOMEM;
		st->pend = np;
		st->cap_pend = cap;
	}
	struct pending_part *p = &st->pend[st->n_pend];
	p->pending = mi_strdup(pending);
	p->final = mi_strdup(st->final_path);
	/* Closed at barrier n: covered by n; later: by the next one. */
	p->ckpt = w->ckpt_active ? w->ckpt_id : w->ckpt_seen + 1;
	if (!p->pending || !p->final) {
		mi_free(p->pending);
		mi_free(p->final);
		return -ENOMEM;
	}
	if (rename(st->tmp_path, pending) < 0) {
		int rc = -errno;
		mi_free(p->pending);
		mi_free(p->final);
		sl_worker_fail(w, ni, rc, "renaming %s: %s", st->tmp_path, strerror(errno));
		return rc;
	}
	st->n_pend++;
	st->parts++;
	return 0;
}

static int close_part(struct sl_worker *w, struct sl_nodeinst *ni, struct fsink_state *st)
{
	if (st->fd < 0)
		return 0;
	int rc = submit_cur(w, ni, st, true);
	if (rc == 0)
		rc = wait_buf(w, &st->w[0]);
	if (rc == 0)
		rc = wait_buf(w, &st->w[1]);
	if (rc == 0 && st->write_err)
		rc = st->write_err;
	if (close(st->fd) < 0 && rc == 0)
		rc = -errno;
	st->fd = -1;
	if (rc < 0) {
		sl_worker_fail(w, ni, rc, "writing %s: %s", st->tmp_path, strerror(-rc));
		return rc;
	}
	if (st->two_phase)
		return add_pending(w, ni, st);
	if (rename(st->tmp_path, st->final_path) < 0) {
		rc = -errno;
		sl_worker_fail(w, ni, rc, "renaming %s: %s", st->tmp_path, strerror(errno));
		return rc;
	}
	st->parts++;
	return 0;
}

static int fsink_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct fsink_conf *c = ni->node->conf;
	struct fsink_state *st = ni->state;
	int rc = 0;
	uint64_t bytes = 0;
	if (st->fd < 0 && (rc = open_part(w, ni, st)) < 0)
		return rc;
	for (uint32_t r = 0; r < in->n_rows; r++) {
		for (int attempt = 0;; attempt++) {
			char *base = st->zstd ? st->raw : st->w[st->cur].mem;
			size_t *len = st->zstd ? &st->raw_len : &st->w[st->cur].len;
			ssize_t n = sl_encode_row(&st->enc, in, r, base + *len, WBUF_BYTES - *len);
			if (n >= 0) {
				*len += (size_t)n;
				bytes += (uint64_t)n;
				st->raw_bytes += (uint64_t)n;
				break;
			}
			if (attempt > 0 || *len == 0) {
				sl_worker_bad_row(w, ni, st->final_path,
						  "row larger than the 2 MiB write buffer", in, r);
				break;
			}
			if ((rc = submit_cur(w, ni, st, false)) < 0)
				return rc;
		}
		size_t filled = st->zstd ? st->raw_len : st->w[st->cur].len;
		if (filled >= SL_FILE_WRITE_BYTES && (rc = submit_cur(w, ni, st, false)) < 0)
			return rc;
		if (st->raw_bytes >= (uint64_t)c->max_bytes) {
			if ((rc = close_part(w, ni, st)) < 0 || (rc = open_part(w, ni, st)) < 0)
				return rc;
		}
	}
	sl_worker_sink_rows(w, ni, in, bytes);
	return 0;
}

static void fsink_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	const struct fsink_conf *c = ni->node->conf;
	struct fsink_state *st = ni->state;
	if (c->max_age_ms <= 0 || st->fd < 0)
		return;
	int64_t due = st->opened_ns + c->max_age_ms * 1000000ll;
	if (now_ns >= due)
		close_part(w, ni, st);
	else
		sl_worker_wake_at(w, due);
}

static int fsink_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	return close_part(w, ni, ni->state);
}

static void fsink_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct fsink_state *st = ni->state;
	if (!st)
		return;
	if (st->fd >= 0)
		close(st->fd); /* failed job: the .inprogress file stays hidden */
	for (uint32_t i = 0; i < st->n_pend; i++) {
		mi_free(st->pend[i].pending);
		mi_free(st->pend[i].final);
	}
	mi_free(st->pend);
	mi_free(st->w[0].mem);
	mi_free(st->w[1].mem);
	mi_free(st->raw);
	ZSTD_freeCCtx(st->zstd);
	mi_free(st);
	ni->state = NULL;
}

/* ---- two-phase commit ---- */

/* At the barrier: the part being written is closed and becomes pending; the
 * blob lists every pending part not yet published. */
static int fsink_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	struct fsink_state *st = ni->state;
	int rc = close_part(w, ni, st);
	if (rc < 0)
		return rc;
	sl_snap_u32(out, st->n_pend);
	for (uint32_t i = 0; i < st->n_pend; i++) {
		sl_snap_str(out, st->pend[i].pending);
		sl_snap_str(out, st->pend[i].final);
	}
	return 0;
}

static void fsink_committed(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	(void)w;
	struct fsink_state *st = ni->state;
	uint32_t k = 0;
	for (uint32_t i = 0; i < st->n_pend; i++) {
		if (st->pend[i].ckpt <= id) {
			mi_free(st->pend[i].pending);
			mi_free(st->pend[i].final);
		} else {
			st->pend[k++] = st->pend[i];
		}
	}
	st->n_pend = k;
}

/* SYNC: each pending part and the directory reach the disk. PUBLISH: each
 * is renamed to its final name (already renamed: fine). */
static int fsink_commit(const struct sl_node *n, const struct sl_blob *blob, int phase, char *err,
			size_t cap)
{
	const struct fsink_conf *c = n->conf;
	struct sl_snapread r;
	sl_snapread_init(&r, blob->p, blob->len);
	uint32_t cnt = blob->len ? sl_snapread_u32(&r) : 0;
	char pending[4200], final[4200];
	struct stat sb;
	for (uint32_t i = 0; i < cnt; i++) {
		sl_snapread_str(&r, pending, sizeof(pending));
		sl_snapread_str(&r, final, sizeof(final));
		if (r.bad)
			break;
		if (phase == SL_COMMIT_SYNC) {
			int rc = sl_fsync_path(pending, false);
			if (rc == -ENOENT && stat(final, &sb) == 0)
				continue; /* published by an earlier checkpoint */
			if (rc < 0) {
				snprintf(err, cap, "sink '%s': fsync %s: %s", n->name, pending,
					 strerror(-rc));
				return rc;
			}
		} else if (rename(pending, final) < 0) {
			int rc = -errno;
			if (rc == -ENOENT && stat(final, &sb) == 0)
				continue;
			snprintf(err, cap, "sink '%s': renaming %s to %s: %s", n->name, pending,
				 final, strerror(errno));
			return rc;
		}
	}
	if (!sl_snapread_done(&r) && blob->len) {
		snprintf(err, cap, "sink '%s': damaged list of pending parts", n->name);
		return -EINVAL;
	}
	if (cnt == 0)
		return 0;
	int rc = sl_fsync_path(c->path, true);
	if (rc < 0)
		snprintf(err, cap, "sink '%s': fsync %s: %s", n->name, c->path, strerror(-rc));
	return rc;
}

/* Before the workers start: what the restored checkpoint covered is
 * published; every other hidden part is output no checkpoint covers. */
static int fsink_recover(const struct sl_node *n, const struct sl_blob *keep, uint32_t n_keep)
{
	(void)keep;
	(void)n_keep;
	const struct fsink_conf *c = n->conf;
	DIR *d = opendir(c->path);
	if (!d)
		return 0;
	struct dirent *e;
	char p[4400];
	uint32_t removed = 0;
	while ((e = readdir(d))) {
		const char *name = e->d_name;
		size_t l = strlen(name);
		if (strncmp(name, ".part-", 6) != 0)
			continue;
		bool inprog = l > 11 && strcmp(name + l - 11, ".inprogress") == 0;
		bool pend = l > 8 && strcmp(name + l - 8, ".pending") == 0;
		if (!inprog && !pend)
			continue;
		snprintf(p, sizeof(p), "%s/%s", c->path, name);
		if (unlink(p) == 0)
			removed++;
	}
	closedir(d);
	if (removed)
		sl_log(SL_LOG_INFO, -1, n->name,
		       "msg=\"removed uncommitted part files of an earlier run\" files=%u dir=%s",
		       removed, c->path);
	return 0;
}

static const char *fsink_describe(const struct sl_node *n, char *buf, size_t cap)
{
	const struct fsink_conf *c = n->conf;
	snprintf(buf, cap, "%s/part-*.%s", c->path, ext_of(c));
	return buf;
}

const struct sl_plugin sl_plugin_file_sink = {
	.describe = fsink_describe,
	.name = "file",
	.kind = SL_NODE_SINK,
	.summary = "rolling part files per worker (jsonl or csv, optionally zstd)",
	.options = fsink_options,
	.conf_bytes = sizeof(struct fsink_conf),
	.prepare = fsink_prepare,
	.open = fsink_open,
	.close = fsink_close,
	.process = fsink_process,
	.tick = fsink_tick,
	.finish = fsink_finish,
	.snapshot = fsink_snapshot,
	.committed = fsink_committed,
	.commit = fsink_commit,
	.recover = fsink_recover,
};
