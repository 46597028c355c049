/* Checkpoints: the coordinator thread, snapshot files, manifests, listing and restore. */
#include "core/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <mimalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "core/engine.h"
#include "core/job.h"
#include "core/log.h"

#define SNAP_MAGIC "SLSNAP01"
#define SNAP_HEADER_BYTES 28u
#define WRITE_CHUNK (4u << 20)
#define MANIFEST_MAX_BYTES (256u << 10)

/* ---- manifest ---- */

int sl_manifest_format(const struct sl_manifest *m, char *buf, size_t cap)
{
	size_t n = 0;
#define OUT(...)                                                                                   \
	do {                                                                                       \
		int k_ = snprintf(buf + n, cap - n, __VA_ARGS__);                                  \
		if (k_ < 0 || (size_t)k_ >= cap - n)                                               \
			return -ENOSPC;                                                            \
		n += (size_t)k_;                                                                   \
	} while (0)
	OUT("sluice-checkpoint 1\n");
	OUT("id %" PRIu64 "\n", m->id);
	OUT("kind %s\n", m->savepoint ? "savepoint" : "checkpoint");
	OUT("job %s\n", m->job);
	OUT("created_ms %" PRId64 "\n", m->created_ms);
	OUT("duration_ms %" PRId64 "\n", m->duration_ms);
	OUT("workers %u\n", m->workers);
	OUT("max_parallelism %u\n", m->max_parallelism);
	OUT("finished %d\n", m->finished ? 1 : 0);
	OUT("stop %d\n", m->stop ? 1 : 0);
	OUT("nonce %s\n", m->nonce[0] ? m->nonce : "-");
	OUT("ended %s\n", m->ended[0] ? m->ended : "-");
	for (uint32_t i = 0; i < m->n_files; i++)
		OUT("file %s %" PRIu64 " %" PRIu64 " %016" PRIx64 "\n", m->files[i].name,
		    m->files[i].bytes, m->files[i].raw_bytes, m->files[i].xxh64);
	uint64_t sum = XXH64(buf, n, 0);
	OUT("end %016" PRIx64 "\n", sum);
#undef OUT
	return (int)n;
}

/* A token of printable non-space bytes, at most cap-1 long. */
static bool token_ok(const char *s, size_t len, size_t cap)
{
	if (len == 0 || len >= cap)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
			return false;
	return true;
}

static bool parse_u64(const char *s, size_t len, int base, uint64_t *out)
{
	if (len == 0 || len > 20)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		int d;
		char c = s[i];
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (base == 16 && c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else
			return false;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return true;
}

int sl_manifest_parse(const char *text, size_t len, struct sl_manifest *m, char *err, size_t cap)
{
	memset(m, 0, sizeof(*m));
	uint32_t line = 0, seen = 0;
	bool ended_ok = false;
	size_t pos = 0;
	while (pos < len) {
		const char *l = text + pos;
		const char *nl = memchr(l, '\n', len - pos);
		if (!nl) {
			snprintf(err, cap, "line %u: no newline at the end (cut short?)", line + 1);
			return -EINVAL;
		}
		size_t ll = (size_t)(nl - l);
		line++;
		const char *sp = memchr(l, ' ', ll);
		if (!sp) {
			snprintf(err, cap, "line %u: expected 'key value'", line);
			return -EINVAL;
		}
		size_t kl = (size_t)(sp - l);
		const char *v = sp + 1;
		size_t vl = ll - kl - 1;
		uint64_t u = 0;
#define KEY(k) (kl == sizeof(k) - 1 && memcmp(l, k, kl) == 0)
#define ONCE(bit)                                                                         \
	do {                                                                              \
		if (seen & (bit)) {                                                       \
			snprintf(err, cap, "line %u: %.*s given twice", line, (int)kl, l); \
			return -EINVAL;                                                   \
		}                                                                         \
		seen |= (bit);                                                            \
	} while (0)
#define NUM(dst)                                                                                   \
	do {                                                                                       \
		if (!parse_u64(v, vl, 10, &u)) {                                                   \
			snprintf(err, cap, "line %u: %.*s: not a number", line, (int)kl, l);       \
			return -EINVAL;                                                            \
		}                                                                                  \
		dst = u;                                                                           \
	} while (0)
		if (line == 1) {
			if (!(KEY("sluice-checkpoint") && vl == 1 && v[0] == '1')) {
				snprintf(err, cap,
					 "line 1: not a sluice checkpoint manifest (version 1)");
				return -EINVAL;
			}
		} else if (KEY("end")) {
			uint64_t want = XXH64(text, (size_t)(l - text), 0);
			if (!parse_u64(v, vl, 16, &u) || u != want) {
				snprintf(err, cap, "line %u: checksum mismatch (manifest damaged)",
					 line);
				return -EINVAL;
			}
			if (nl + 1 != text + len) {
				snprintf(err, cap, "line %u: data after the end line", line + 1);
				return -EINVAL;
			}
			if ((seen & 0x7ff) != 0x7ff || !ended_ok) {
				static const char *const names[] = {
				    "id",	"kind",		   "job",      "created_ms",
				    "duration_ms", "workers",	   "max_parallelism", "finished",
				    "stop",	"nonce",	   "ended"};
				uint32_t b = 0;
				while (b < 11 && (seen >> b & 1))
					b++;
				snprintf(err, cap, "line %u: key '%s' missing before the end", line,
					 names[b < 11 ? b : 10]);
				return -EINVAL;
			}
			return 0;
		} else if (KEY("id")) {
			ONCE(1);
			NUM(m->id);
		} else if (KEY("kind")) {
			ONCE(2);
			if (vl == 9 && memcmp(v, "savepoint", 9) == 0)
				m->savepoint = true;
			else if (!(vl == 10 && memcmp(v, "checkpoint", 10) == 0)) {
				snprintf(err, cap, "line %u: kind: checkpoint or savepoint", line);
				return -EINVAL;
			}
		} else if (KEY("job")) {
			ONCE(4);
			if (!token_ok(v, vl, sizeof(m->job))) {
				snprintf(err, cap, "line %u: bad job name", line);
				return -EINVAL;
			}
			memcpy(m->job, v, vl);
		} else if (KEY("created_ms")) {
			ONCE(8);
			NUM(m->created_ms);
			if (u > INT64_MAX) {
				snprintf(err, cap, "line %u: created_ms out of range", line);
				return -EINVAL;
			}
		} else if (KEY("duration_ms")) {
			ONCE(16);
			NUM(m->duration_ms);
			if (u > INT64_MAX) {
				snprintf(err, cap, "line %u: duration_ms out of range", line);
				return -EINVAL;
			}
		} else if (KEY("workers")) {
			ONCE(32);
			NUM(m->workers);
			if (u == 0 || u > SL_MAX_WORKERS) {
				snprintf(err, cap, "line %u: workers out of range", line);
				return -EINVAL;
			}
		} else if (KEY("max_parallelism")) {
			ONCE(64);
			NUM(m->max_parallelism);
			if (u == 0 || u > SL_MAX_PARALLELISM_MAX) {
				snprintf(err, cap, "line %u: max_parallelism out of range", line);
				return -EINVAL;
			}
		} else if (KEY("finished")) {
			ONCE(128);
			NUM(m->finished);
			if (u > 1) {
				snprintf(err, cap, "line %u: finished: 0 or 1", line);
				return -EINVAL;
			}
		} else if (KEY("stop")) {
			ONCE(256);
			NUM(m->stop);
			if (u > 1) {
				snprintf(err, cap, "line %u: stop: 0 or 1", line);
				return -EINVAL;
			}
		} else if (KEY("nonce")) {
			ONCE(512);
			if (!token_ok(v, vl, sizeof(m->nonce))) {
				snprintf(err, cap, "line %u: bad nonce", line);
				return -EINVAL;
			}
			if (!(vl == 1 && v[0] == '-'))
				memcpy(m->nonce, v, vl);
		} else if (KEY("ended")) {
			ONCE(1024);
			if (!token_ok(v, vl, sizeof(m->ended))) {
				snprintf(err, cap, "line %u: bad ended list", line);
				return -EINVAL;
			}
			if (!(vl == 1 && v[0] == '-'))
				memcpy(m->ended, v, vl);
			ended_ok = true;
		} else if (KEY("file")) {
			if (m->n_files == SL_CKPT_MAX_FILES) {
				snprintf(err, cap, "line %u: more than %u files", line,
					 SL_CKPT_MAX_FILES);
				return -EINVAL;
			}
			struct sl_manifest_file *f = &m->files[m->n_files];
			const char *p = v, *e = v + vl;
			const char *fld[4];
			size_t fl[4];
			for (int k = 0; k < 4; k++) {
				const char *q = memchr(p, ' ', (size_t)(e - p));
				if (!q)
					q = e;
				fld[k] = p;
				fl[k] = (size_t)(q - p);
				p = q < e ? q + 1 : e;
			}
			if (p != e || fld[3] + fl[3] != e || !token_ok(fld[0], fl[0], sizeof(f->name)) ||
			    memchr(fld[0], '/', fl[0]) || fld[0][0] == '.' ||
			    !parse_u64(fld[1], fl[1], 10, &f->bytes) ||
			    !parse_u64(fld[2], fl[2], 10, &f->raw_bytes) ||
			    !parse_u64(fld[3], fl[3], 16, &f->xxh64)) {
				snprintf(err, cap,
					 "line %u: expected 'file NAME BYTES RAW_BYTES XXH64'",
					 line);
				return -EINVAL;
			}
			memcpy(f->name, fld[0], fl[0]);
			m->n_files++;
		} else {
			snprintf(err, cap, "line %u: unknown key '%.*s'", line,
				 (int)(kl > 40 ? 40 : kl), l);
			return -EINVAL;
		}
#undef KEY
#undef NUM
#undef ONCE
		pos += ll + 1;
	}
	snprintf(err, cap, "line %u: no end line (cut short?)", line);
	return -EINVAL;
}

static int read_file(const char *path, char **out, size_t *len, size_t max)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if ((uint64_t)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	size_t n = (size_t)st.st_size;
	char *buf = mi_malloc(n + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? -errno : -EIO;
			mi_free(buf);
			close(fd);
			return e;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

int sl_manifest_read(const char *ckpt_dir, struct sl_manifest *m, char *err, size_t cap)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", ckpt_dir, SL_CKPT_MANIFEST);
	char *text;
	size_t len;
	int rc = read_file(path, &text, &len, MANIFEST_MAX_BYTES);
	if (rc < 0) {
		snprintf(err, cap, "%s: %s", path, strerror(-rc));
		return rc;
	}
	char why[256];
	rc = sl_manifest_parse(text, len, m, why, sizeof(why));
	mi_free(text);
	if (rc < 0)
		snprintf(err, cap, "%s: %s", path, why);
	return rc;
}

/* ---- listing ---- */

static bool parse_entry_name(const char *name, uint64_t *id, bool *sp)
{
	const char *num;
	if (strncmp(name, "chk-", 4) == 0) {
		*sp = false;
		num = name + 4;
	} else if (strncmp(name, "sp-", 3) == 0) {
		*sp = true;
		num = name + 3;
	} else {
		return false;
	}
	return parse_u64(num, strlen(num), 10, id) && *id > 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct sl_ckpt_entry *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

int sl_ckpt_list(const char *dir, struct sl_ckpt_entry **out, uint32_t *n)
{
	*out = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	uint32_t cap = 0;
	struct sl_ckpt_entry *v = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t id;
		bool sp;
		if (!parse_entry_name(de->d_name, &id, &sp))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			struct sl_ckpt_entry *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		struct sl_ckpt_entry *e = &v[(*n)++];
		memset(e, 0, sizeof(*e));
		snprintf(e->path, sizeof(e->path), "%s/%s", dir, de->d_name);
		e->id = id;
		e->savepoint = sp;
		struct sl_manifest *m = malloc(sizeof(*m));
		char err[512];
		if (m && sl_manifest_read(e->path, m, err, sizeof(err)) == 0 && m->id == id) {
			e->complete = true;
			e->created_ms = m->created_ms;
			e->duration_ms = m->duration_ms;
			e->finished = m->finished;
			snprintf(e->nonce, sizeof(e->nonce), "%s", m->nonce);
			for (uint32_t i = 0; i < m->n_files; i++)
				e->bytes += m->files[i].bytes;
		}
		free(m);
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_entry);
	*out = v;
	return 0;
}

int sl_ckpt_latest(const char *dir, char *path, size_t cap)
{
	struct sl_ckpt_entry *v;
	uint32_t n;
	int rc = sl_ckpt_list(dir, &v, &n);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (uint32_t i = n; i-- > 0;)
		if (v[i].complete) {
			snprintf(path, cap, "%s", v[i].path);
			rc = 0;
			break;
		}
	free(v);
	return rc;
}

/* ---- snapshot files ---- */

/* Calls fn for each node record of a worker's snapshot; -EINVAL if damaged. */
static int snap_records(const uint8_t *p, size_t len, uint32_t *worker, uint32_t *n_workers,
			uint64_t *id,
			int (*fn)(void *ctx, uint32_t node, const char *name, uint8_t flags,
				  const uint8_t *blob, size_t blen),
			void *ctx)
{
	struct sl_snapread r;
	sl_snapread_init(&r, p, len);
	const void *magic = sl_snapread_get(&r, 8);
	if (!magic || memcmp(magic, SNAP_MAGIC, 8) != 0)
		return -EINVAL;
	*worker = sl_snapread_u32(&r);
	*n_workers = sl_snapread_u32(&r);
	*id = sl_snapread_u64(&r);
	uint32_t n = sl_snapread_u32(&r);
	for (uint32_t i = 0; i < n && !r.bad; i++) {
		uint32_t node = sl_snapread_u32(&r);
		char name[SL_NAME_MAX];
		sl_snapread_str(&r, name, sizeof(name));
		uint8_t flags = sl_snapread_u8(&r);
		uint64_t bl = sl_snapread_u64(&r);
		const uint8_t *blob =
		    bl <= (uint64_t)(r.end - r.p) ? sl_snapread_get(&r, bl) : NULL;
		if (r.bad || !blob)
			return -EINVAL;
		int rc = fn(ctx, node, name, flags, blob, bl);
		if (rc < 0)
			return rc;
	}
	return sl_snapread_done(&r) ? 0 : -EINVAL;
}

/* ---- restore ---- */

struct restore_ctx {
	struct sl_job *job;
	struct sl_restore *r;
	uint32_t k;
	uint32_t *ended_count;
	char *err;
	size_t cap;
};

static int restore_record(void *ctx, uint32_t node, const char *name, uint8_t flags,
			  const uint8_t *blob, size_t blen)
{
	struct restore_ctx *c = ctx;
	bool ended = flags & 1;
	if (flags & 2) { /* the node's state is a file of its own */
		char fname[64];
		snprintf(fname, sizeof(fname), "w%u-n%u.state.zst", c->k, node);
		blob = NULL;
		for (uint32_t i = c->r->n_old; i < c->r->m.n_files; i++)
			if (strcmp(c->r->m.files[i].name, fname) == 0) {
				blob = c->r->raw[i];
				blen = c->r->m.files[i].raw_bytes;
			}
		if (!blob) {
			snprintf(c->err, c->cap, "%s: the manifest lacks %s", c->r->path, fname);
			return -EINVAL;
		}
	}
	struct sl_node *n = sl_job_find(c->job, name);
	if (!n) {
		if (blen == 0)
			return 0;
		snprintf(c->err, c->cap,
			 "%s holds state of node '%s', which the job does not have (restore "
			 "into the job that took it, or remove the node's state by starting "
			 "fresh)",
			 c->r->path, name);
		return -ENOENT;
	}
	struct sl_blob *b = &c->r->blobs[(size_t)n->id * c->r->n_old + c->k];
	b->p = blob;
	b->len = blen;
	if (ended)
		c->ended_count[n->id]++;
	return 0;
}

void sl_restore_free(struct sl_restore *r)
{
	if (!r)
		return;
	for (uint32_t k = 0; r->raw && k < r->m.n_files; k++)
		mi_free(r->raw[k]);
	mi_free(r->raw);
	mi_free(r->blobs);
	mi_free(r->ended);
	mi_free(r);
}

static int load_file(const char *dir, const struct sl_manifest_file *f, uint8_t **out, char *err,
		     size_t cap)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", dir, f->name);
	char *data;
	size_t len;
	int rc = read_file(path, &data, &len, SIZE_MAX / 2);
	if (rc < 0) {
		snprintf(err, cap, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (len != f->bytes || XXH64(data, len, 0) != f->xxh64) {
		snprintf(err, cap,
			 "%s: checksum or size does not match the manifest (damaged file)", path);
		mi_free(data);
		return -EBADMSG;
	}
	uint8_t *raw = mi_malloc(f->raw_bytes ? f->raw_bytes : 1);
	if (!raw) {
		mi_free(data);
		snprintf(err, cap, "%s: out of memory for %" PRIu64 " bytes", path, f->raw_bytes);
		return -ENOMEM;
	}
	size_t got = ZSTD_decompress(raw, f->raw_bytes, data, len);
	mi_free(data);
	if (ZSTD_isError(got) || got != f->raw_bytes) {
		snprintf(err, cap, "%s: cannot decompress: %s", path,
			 ZSTD_isError(got) ? ZSTD_getErrorName(got) : "size differs from manifest");
		mi_free(raw);
		return -EBADMSG;
	}
	*out = raw;
	return 0;
}

int sl_restore_load(struct sl_job *job, const char *path, struct sl_restore **out, char *err,
		    size_t cap)
{
	*out = NULL;
	struct sl_restore *r = mi_zalloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	snprintf(r->path, sizeof(r->path), "%s", path);
	int rc = sl_manifest_read(path, &r->m, err, cap);
	if (rc < 0)
		goto fail;
	if (r->m.max_parallelism != job->max_parallelism) {
		snprintf(err, cap,
			 "%s was taken with max_parallelism %u, the job has %u: key groups would "
			 "not match (set max_parallelism: %u)",
			 path, r->m.max_parallelism, job->max_parallelism, r->m.max_parallelism);
		rc = -EINVAL;
		goto fail;
	}
	if (r->m.n_files < r->m.workers) {
		snprintf(err, cap, "%s: manifest lists %u files for %u workers", path, r->m.n_files,
			 r->m.workers);
		rc = -EINVAL;
		goto fail;
	}
	for (uint32_t k = 0; k < r->m.workers; k++) {
		char want[64];
		snprintf(want, sizeof(want), "w%u.snap.zst", k);
		if (strcmp(r->m.files[k].name, want) != 0) {
			snprintf(err, cap, "%s: file %u of the manifest is %s, expected %s", path, k,
				 r->m.files[k].name, want);
			rc = -EINVAL;
			goto fail;
		}
	}
	r->n_old = r->m.workers;
	r->raw = mi_zalloc(r->m.n_files * sizeof(*r->raw));
	r->blobs = mi_zalloc((size_t)job->n_nodes * r->n_old * sizeof(*r->blobs));
	r->ended = mi_zalloc(job->n_nodes * sizeof(*r->ended));
	uint32_t *ended_count = mi_zalloc(job->n_nodes * sizeof(*ended_count));
	if (!r->raw || !r->blobs || !r->ended || !ended_count) {
		mi_free(ended_count);
		rc = -ENOMEM;
		goto fail;
	}
	/* Every file first (the records name the deferred ones), verified. */
	for (uint32_t k = 0; k < r->m.n_files && rc == 0; k++)
		rc = load_file(path, &r->m.files[k], &r->raw[k], err, cap);
	for (uint32_t k = 0; k < r->n_old && rc == 0; k++) {
		const struct sl_manifest_file *f = &r->m.files[k];
		uint32_t wk, nw;
		uint64_t id;
		struct restore_ctx c = {job, r, k, ended_count, err, cap};
		err[0] = '\0';
		rc = snap_records(r->raw[k], f->raw_bytes, &wk, &nw, &id, restore_record, &c);
		if (rc == 0 && (wk != k || nw != r->n_old || id != r->m.id)) {
			snprintf(err, cap, "%s/%s: belongs to worker %u of %u, checkpoint %" PRIu64,
				 path, f->name, wk, nw, id);
			rc = -EINVAL;
		}
		if (rc < 0) {
			if (!err[0])
				snprintf(err, cap, "%s/%s: damaged snapshot records", path,
					 f->name);
			break;
		}
	}
	for (uint32_t i = 0; i < job->n_nodes; i++)
		r->ended[i] = ended_count[i] == r->n_old;
	mi_free(ended_count);
	if (rc < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	sl_restore_free(r);
	return rc;
}

/* ---- sinks: publish and recover ---- */

int sl_ckpt_recover_sinks(struct sl_job *job, const struct sl_restore *r)
{
	for (uint32_t i = 0; i < job->n_nodes; i++) {
		const struct sl_node *n = job->nodes[i];
		if (n->kind != SL_NODE_SINK)
			continue;
		const struct sl_blob *blobs = r ? &r->blobs[(size_t)i * r->n_old] : NULL;
		uint32_t nb = r ? r->n_old : 0;
		for (uint32_t k = 0; k < nb && n->plugin->commit; k++) {
			char err[1024] = "";
			int rc =
			    n->plugin->commit(n, &blobs[k], SL_COMMIT_PUBLISH, err, sizeof(err));
			if (rc < 0) {
				sl_log(SL_LOG_ERROR, -1, n->name,
				       "msg=\"cannot commit the restored checkpoint's output\" "
				       "reason=\"%s\"",
				       err);
				return rc;
			}
		}
		if (n->plugin->recover) {
			int rc = n->plugin->recover(n, blobs, nb);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* ---- the coordinator ---- */

enum { REQ_NONE, REQ_SAVEPOINT };

struct sl_ckpt {
	struct sl_engine *e;
	const struct sl_ckpt_conf *c;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool quit;
	bool sp_req;
	bool sp_stop;
	bool sp_is_savepoint;
	char sp_nonce[64];
	struct sl_ckpt_stats stats;		   /* under mu */
	struct sl_ckpt_hist hist[SL_CKPT_HISTORY]; /* under mu */
	uint32_t n_hist;
	uint64_t in_progress; /* under mu */
	uint64_t next_id;
	uint32_t failures_in_row;
	int64_t last_end_ms; /* monotonic ms */
	int64_t last_start_ms;
	struct io_uring ring;
	bool ring_ready;
	ZSTD_CCtx *zc;
	uint8_t *wbuf[2];
};

static int64_t mono_ms(void)
{
	return sl_now_ns() / 1000000;
}

static void add_hist(struct sl_ckpt *k, const struct sl_ckpt_hist *h)
{
	pthread_mutex_lock(&k->mu);
	k->hist[k->n_hist % SL_CKPT_HISTORY] = *h;
	k->n_hist++;
	k->in_progress = 0;
	pthread_mutex_unlock(&k->mu);
}

uint32_t sl_ckpt_history(struct sl_engine *e, struct sl_ckpt_hist *out, uint32_t max,
			 uint64_t *in_progress)
{
	struct sl_ckpt *k = e->ckpt;
	*in_progress = 0;
	if (!k)
		return 0;
	pthread_mutex_lock(&k->mu);
	uint32_t n = k->n_hist < SL_CKPT_HISTORY ? k->n_hist : SL_CKPT_HISTORY;
	if (n > max)
		n = max;
	for (uint32_t i = 0; i < n; i++)
		out[i] = k->hist[(k->n_hist - n + i) % SL_CKPT_HISTORY];
	*in_progress = k->in_progress;
	pthread_mutex_unlock(&k->mu);
	return n;
}

/* Longest barrier stall of the last checkpoint over the workers. */
static uint64_t last_stall(struct sl_engine *e)
{
	uint64_t m = 0;
	for (uint32_t i = 0; i < e->n_workers; i++) {
		uint64_t v = sl_counter_read(&e->metrics[i].barrier_ns_last);
		if (v > m)
			m = v;
	}
	return m;
}

void sl_ckpt_notify(struct sl_engine *e)
{
	struct sl_ckpt *k = e->ckpt;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

void sl_ckpt_request_savepoint(struct sl_engine *e, const char *nonce, bool stop)
{
	struct sl_ckpt *k = e->ckpt;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->sp_req = true;
	k->sp_stop = k->sp_stop || stop;
	k->sp_is_savepoint = k->sp_is_savepoint || nonce != NULL;
	snprintf(k->sp_nonce, sizeof(k->sp_nonce), "%s", nonce ? nonce : "");
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

void sl_ckpt_get_stats(struct sl_engine *e, struct sl_ckpt_stats *s)
{
	struct sl_ckpt *k = e->ckpt;
	if (!k) {
		memset(s, 0, sizeof(*s));
		return;
	}
	pthread_mutex_lock(&k->mu);
	*s = k->stats;
	pthread_mutex_unlock(&k->mu);
	for (uint32_t i = 0; i < e->n_workers; i++) {
		uint64_t v = sl_counter_read(&e->metrics[i].barrier_ns_max);
		if (v > s->max_stall_ns)
			s->max_stall_ns = v;
	}
}

static void kick_all(struct sl_engine *e)
{
	for (uint32_t i = 0; i < e->n_workers; i++)
		if (e->workers[i].event_fd > 0)
			sl_worker_kick(&e->workers[i]);
}

/* Waits for one completion of the coordinator's ring; its result. */
static int ring_wait(struct sl_ckpt *k)
{
	struct io_uring_cqe *cqe;
	int rc;
	do
		rc = io_uring_wait_cqe(&k->ring, &cqe);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	rc = cqe->res;
	io_uring_cqe_seen(&k->ring, cqe);
	return rc;
}

/* A zstd stream into one file through the coordinator's io_uring: at most
 * one write in flight while the other buffer fills; fsync at the end. */
struct zwriter {
	struct sl_ckpt *k;
	const char *path;
	int fd;
	uint64_t off;
	uint64_t raw;
	int cur;
	bool inflight;
	XXH64_state_t *h;
	int rc;
	char *err;
	size_t cap;
};

static int zw_open(struct zwriter *z, struct sl_ckpt *k, const char *path, char *err, size_t cap)
{
	memset(z, 0, sizeof(*z));
	z->k = k;
	z->path = path;
	z->err = err;
	z->cap = cap;
	z->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (z->fd < 0) {
		snprintf(err, cap, "cannot create %s: %s", path, strerror(errno));
		return -errno;
	}
	ZSTD_CCtx_reset(k->zc, ZSTD_reset_session_only);
	ZSTD_CCtx_setParameter(k->zc, ZSTD_c_compressionLevel, (int)k->c->zstd_level);
	z->h = XXH64_createState();
	if (!z->h) {
		close(z->fd);
		return -ENOMEM;
	}
	XXH64_reset(z->h, 0);
	return 0;
}

static void zw_wait(struct zwriter *z)
{
	if (!z->inflight)
		return;
	int r = ring_wait(z->k);
	z->inflight = false;
	if (r < 0 && !z->rc) {
		z->rc = r;
		snprintf(z->err, z->cap, "writing %s: %s", z->path, strerror(-r));
	}
}

/* Compresses len bytes of src (end: and closes the frame). */
static int zw_push(struct zwriter *z, const void *src, size_t len, bool end)
{
	struct sl_ckpt *k = z->k;
	ZSTD_inBuffer in = {src, len, 0};
	size_t left;
	z->raw += len;
	do {
		ZSTD_outBuffer out = {k->wbuf[z->cur], WRITE_CHUNK, 0};
		left = ZSTD_compressStream2(k->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
		if (ZSTD_isError(left)) {
			snprintf(z->err, z->cap, "zstd: %s", ZSTD_getErrorName(left));
			return z->rc = -EIO;
		}
		if (out.pos == 0)
			continue;
		XXH64_update(z->h, k->wbuf[z->cur], out.pos);
		zw_wait(z); /* the other buffer's write */
		if (z->rc)
			return z->rc;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&k->ring);
		io_uring_prep_write(sqe, z->fd, k->wbuf[z->cur], (unsigned)out.pos, z->off);
		io_uring_submit(&k->ring);
		z->inflight = true;
		z->off += out.pos;
		z->cur = !z->cur;
	} while (end ? left != 0 : in.pos < in.size);
	return z->rc;
}

static int zw_close(struct zwriter *z, struct sl_manifest_file *f)
{
	zw_wait(z);
	if (z->rc == 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&z->k->ring);
		io_uring_prep_fsync(sqe, z->fd, 0);
		io_uring_submit(&z->k->ring);
		int r = ring_wait(z->k);
		if (r < 0) {
			z->rc = r;
			snprintf(z->err, z->cap, "fsync %s: %s", z->path, strerror(-r));
		}
	}
	close(z->fd);
	f->bytes = z->off;
	f->raw_bytes = z->raw;
	f->xxh64 = XXH64_digest(z->h);
	XXH64_freeState(z->h);
	return z->rc;
}

static int write_snapshot(struct sl_ckpt *k, const char *path, const uint8_t *src, size_t len,
			  struct sl_manifest_file *f, char *err, size_t cap)
{
	struct zwriter z;
	int rc = zw_open(&z, k, path, err, cap);
	if (rc < 0)
		return rc;
	ZSTD_CCtx_setPledgedSrcSize(k->zc, len);
	zw_push(&z, src, len, true);
	return zw_close(&z, f);
}

/* Deferred parts run here, on this thread, in two steps: each serializer
 * copies its node's frozen state into memory (fast: the workers thaw right
 * after, so copy-on-write lasts as short as possible), then the copies are
 * compressed and written. */
static int capture_deferred(const struct sl_deferred *df, struct sl_snapbuf *out, char *err,
			    size_t cap)
{
	struct sl_snapsink s = {.flush_at = SIZE_MAX};
	sl_snap_init(&s.buf);
	int rc = df->fn(df->ctx, &s);
	if (rc == 0 && s.err)
		rc = s.err;
	if (rc == 0 && s.buf.err)
		rc = s.buf.err;
	if (rc < 0) {
		snprintf(err, cap, "snapshot of node %u: %s", df->node,
			 rc == -ENOMEM ? "out of memory for the copy of its state" : strerror(-rc));
		sl_snap_free(&s.buf);
		return rc;
	}
	*out = s.buf;
	return 0;
}

static void remove_dir(const char *path)
{
	/* The manifest first: a directory half removed is never "complete". */
	char mp[4500];
	snprintf(mp, sizeof(mp), "%s/%s", path, SL_CKPT_MANIFEST);
	unlink(mp);
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	char p[4500];
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' &&
		    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(path);
}

/* Keeps the newest `retained` complete checkpoints; drops older ones and
 * incomplete leftovers below the newest complete id. Savepoints stay. */
static void retain(struct sl_ckpt *k)
{
	struct sl_ckpt_entry *v;
	uint32_t n;
	if (sl_ckpt_list(k->c->dir, &v, &n) < 0)
		return;
	int64_t keep = k->c->retained;
	uint64_t newest = 0;
	for (uint32_t i = n; i-- > 0;) {
		if (v[i].savepoint)
			continue;
		if (v[i].complete && !newest)
			newest = v[i].id;
		if (v[i].complete && keep > 0) {
			keep--;
			continue;
		}
		if (v[i].id < newest || (v[i].complete && keep <= 0))
			remove_dir(v[i].path);
	}
	free(v);
}

struct collect_ctx {
	struct sl_ckpt *k;
	const struct sl_job *job;
	uint32_t *ended_count;
	int phase;
	int rc;
	char err[1024];
};

static int sink_record(void *ctx, uint32_t node, const char *name, uint8_t flags,
		       const uint8_t *blob, size_t blen)
{
	(void)name;
	struct collect_ctx *c = ctx;
	bool ended = flags & 1;
	if (node >= c->job->n_nodes)
		return -EINVAL;
	if (c->ended_count && ended)
		c->ended_count[node]++;
	const struct sl_node *n = c->job->nodes[node];
	if (c->phase < 0 || n->kind != SL_NODE_SINK || !n->plugin->commit)
		return 0;
	struct sl_blob b = {blob, blen};
	int rc = n->plugin->commit(n, &b, c->phase, c->err, sizeof(c->err));
	if (rc < 0) {
		c->rc = rc;
		return rc;
	}
	return 0;
}

static int for_each_record(struct sl_ckpt *k, struct collect_ctx *c)
{
	struct sl_engine *e = k->e;
	for (uint32_t w = 0; w < e->n_workers; w++) {
		uint32_t wk, nw;
		uint64_t id;
		int rc = snap_records(e->ckpt_snap[w].p, e->ckpt_snap[w].len, &wk, &nw, &id,
				      sink_record, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void log_failure(struct sl_ckpt *k, uint64_t id, const char *why)
{
	char q[1200];
	sl_log(SL_LOG_WARN, -1, NULL, "msg=\"checkpoint failed\" id=%" PRIu64 " reason=%s", id,
	       sl_log_quote(why, strlen(why), q, sizeof(q)));
	pthread_mutex_lock(&k->mu);
	k->stats.failed++;
	pthread_mutex_unlock(&k->mu);
	k->failures_in_row++;
	if ((int64_t)k->failures_in_row > k->c->tolerable_failures) {
		char msg[1400];
		snprintf(msg, sizeof(msg),
			 "%u checkpoints failed in a row (tolerable_failures: %" PRId64
			 "); last: %s",
			 k->failures_in_row, k->c->tolerable_failures, why);
		sl_engine_fail(k->e, -EIO, msg);
	}
}

/* Takes one checkpoint end to end. Returns 0 when it is complete and
 * published, 1 when it failed (counted), 2 when a source declined it, <0
 * when the job is failing. */
static int take(struct sl_ckpt *k, bool savepoint, bool stop, bool final, const char *nonce)
{
	struct sl_engine *e = k->e;
	const struct sl_job *job = e->job;
	uint64_t id = k->next_id++;
	int64_t t0 = mono_ms();
	k->last_start_ms = t0;
	struct sl_ckpt_hist hr = {
	    .id = id, .savepoint = savepoint, .final = final || stop, .trigger_ms = sl_wall_ms()};
	snprintf(hr.nonce, sizeof(hr.nonce), "%s", nonce ? nonce : "");
	if (atomic_load_explicit(&e->ckpt_holds, memory_order_seq_cst)) {
		/* A node cannot take part yet: no barrier goes out. */
		const struct sl_node *n = atomic_load_explicit(&e->ckpt_hold_node,
							       memory_order_relaxed);
		const char *why = atomic_load_explicit(&e->ckpt_hold_why, memory_order_relaxed);
		char msg[400];
		snprintf(msg, sizeof(msg), "%s '%s': %s", n ? sl_node_kind_name(n->kind) : "node",
			 n ? n->name : "?", why ? why : "busy");
		char q[600];
		sl_log(SL_LOG_INFO, -1, NULL, "msg=\"%s declined\" id=%" PRIu64 " reason=%s",
		       savepoint ? "savepoint" : "checkpoint", id,
		       sl_log_quote(msg, strlen(msg), q, sizeof(q)));
		pthread_mutex_lock(&k->mu);
		k->stats.declined++;
		pthread_mutex_unlock(&k->mu);
		k->last_end_ms = mono_ms();
		hr.duration_ms = k->last_end_ms - t0;
		snprintf(hr.error, sizeof(hr.error), "declined: %.240s", msg);
		add_hist(k, &hr);
		return 2;
	}
	pthread_mutex_lock(&k->mu);
	k->in_progress = id;
	pthread_mutex_unlock(&k->mu);
	atomic_store_explicit(&e->ckpt_acks, 0, memory_order_relaxed);
	atomic_store_explicit(&e->ckpt_pause, stop || final, memory_order_release);
	atomic_store_explicit(&e->ckpt_req, id, memory_order_release);
	kick_all(e);
	/* Barriers: every worker hands over its part. */
	bool timed_out = false;
	pthread_mutex_lock(&k->mu);
	while (atomic_load_explicit(&e->ckpt_acks, memory_order_acquire) < e->n_workers &&
	       !atomic_load(&e->failed)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&k->cv, &k->mu, &ts);
		if (!timed_out && mono_ms() - t0 > k->c->timeout_ms)
			timed_out = true; /* still wait: workers hold the barrier */
	}
	pthread_mutex_unlock(&k->mu);
	if (atomic_load(&e->failed))
		return -EIO;
	char err[9000] = "";
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s-%" PRIu64, k->c->dir, savepoint ? "sp" : "chk", id);
	struct sl_manifest *m = mi_zalloc(sizeof(*m));
	uint32_t *ended_count = mi_zalloc(job->n_nodes * sizeof(*ended_count));
	int rc = 0;
	if (!m || !ended_count) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	}
	if (rc == 0 && timed_out) {
		rc = -ETIMEDOUT;
		snprintf(err, sizeof(err), "barriers took longer than timeout (%" PRId64 " ms)",
			 k->c->timeout_ms);
	}
	/* Copy the deferred parts, then let the workers thaw. */
	uint32_t n_captured = 0, n_def = 0;
	for (uint32_t w = 0; w < e->n_workers; w++)
		n_def += e->ckpt_n_defer[w];
	struct sl_snapbuf *captured = mi_zalloc((n_def + 1) * sizeof(*captured));
	if (rc == 0 && !captured) {
		rc = -ENOMEM;
		snprintf(err, sizeof(err), "out of memory");
	}
	for (uint32_t w = 0; rc == 0 && w < e->n_workers; w++)
		for (uint32_t i = 0; rc == 0 && i < e->ckpt_n_defer[w]; i++, n_captured++)
			rc = capture_deferred(&e->ckpt_defer[w][i], &captured[n_captured], err,
					      sizeof(err));
	atomic_store_explicit(&e->ckpt_written, id, memory_order_release);
	kick_all(e);
	if (rc == 0 && mkdir(dir, 0755) < 0) {
		rc = -errno;
		snprintf(err, sizeof(err), "cannot create %s: %s", dir, strerror(errno));
	}
	for (uint32_t w = 0; rc == 0 && w < e->n_workers; w++) {
		struct sl_manifest_file *f = &m->files[w];
		snprintf(f->name, sizeof(f->name), "w%u.snap.zst", w);
		char path[4300];
		snprintf(path, sizeof(path), "%s/%s", dir, f->name);
		rc = write_snapshot(k, path, e->ckpt_snap[w].p, e->ckpt_snap[w].len, f, err,
				    sizeof(err));
		m->n_files++;
	}
	for (uint32_t w = 0; rc == 0 && w < e->n_workers; w++) {
		for (uint32_t i = 0; rc == 0 && i < e->ckpt_n_defer[w]; i++) {
			const struct sl_deferred *df = &e->ckpt_defer[w][i];
			if (m->n_files == SL_CKPT_MAX_FILES) {
				rc = -E2BIG;
				snprintf(err, sizeof(err), "more than %u snapshot files", SL_CKPT_MAX_FILES);
				break;
			}
			struct sl_manifest_file *f = &m->files[m->n_files];
			snprintf(f->name, sizeof(f->name), "w%u-n%u.state.zst", w, df->node);
			char path[4300];
			snprintf(path, sizeof(path), "%s/%s", dir, f->name);
			rc = write_snapshot(k, path, captured[m->n_files - e->n_workers].p,
					    captured[m->n_files - e->n_workers].len, f, err, sizeof(err));
			m->n_files++;
		}
	}
	for (uint32_t i = 0; i < n_captured; i++)
		sl_snap_free(&captured[i]);
	mi_free(captured);
	/* Sinks make their pre-committed output durable. */
	if (rc == 0) {
		struct collect_ctx c = {
		    .k = k, .job = job, .ended_count = ended_count, .phase = SL_COMMIT_SYNC};
		rc = for_each_record(k, &c);
		if (rc < 0)
			snprintf(err, sizeof(err), "%s", c.err[0] ? c.err : "damaged snapshot");
	}
	if (rc == 0 && (rc = sl_fsync_path(dir, true)) < 0)
		snprintf(err, sizeof(err), "fsync %s: %s", dir, strerror(-rc));
	if (rc == 0 && mono_ms() - t0 > k->c->timeout_ms) {
		rc = -ETIMEDOUT;
		snprintf(err, sizeof(err), "writing took longer than timeout (%" PRId64 " ms)",
			 k->c->timeout_ms);
	}
	if (rc == 0) {
		m->id = id;
		m->savepoint = savepoint;
		m->finished = final;
		m->stop = stop;
		snprintf(m->job, sizeof(m->job), "%s", job->name);
		m->created_ms = sl_wall_ms();
		m->duration_ms = mono_ms() - t0;
		m->workers = e->n_workers;
		m->max_parallelism = job->max_parallelism;
		snprintf(m->nonce, sizeof(m->nonce), "%s", nonce ? nonce : "");
		size_t el = 0;
		for (uint32_t i = 0; i < job->n_nodes; i++) {
			if (ended_count[i] != e->n_workers)
				continue;
			size_t nl = strlen(job->nodes[i]->name);
			if (el + nl + 2 >= sizeof(m->ended))
				break; /* only informative: restore reads the records */
			if (el)
				m->ended[el++] = ',';
			memcpy(m->ended + el, job->nodes[i]->name, nl + 1);
			el += nl;
		}
		char *text = mi_malloc(MANIFEST_MAX_BYTES);
		int tl = text ? sl_manifest_format(m, text, MANIFEST_MAX_BYTES) : -ENOMEM;
		char tmp[4400], fin[4400];
		snprintf(tmp, sizeof(tmp), "%s/%s.tmp", dir, SL_CKPT_MANIFEST);
		snprintf(fin, sizeof(fin), "%s/%s", dir, SL_CKPT_MANIFEST);
		int fd = tl < 0 ? -1 : open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			rc = tl < 0 ? tl : -errno;
			snprintf(err, sizeof(err), "cannot write %s: %s", tmp, strerror(-rc));
		} else {
			ssize_t wr = write(fd, text, (size_t)tl);
			if (wr != tl)
				rc = wr < 0 ? -errno : -EIO;
			else if (fsync(fd) < 0)
				rc = -errno;
			close(fd);
			if (rc == 0 && rename(tmp, fin) < 0)
				rc = -errno;
			if (rc == 0)
				rc = sl_fsync_path(dir, true);
			if (rc == 0)
				rc = sl_fsync_path(k->c->dir, true);
			if (rc < 0)
				snprintf(err, sizeof(err), "writing the manifest %s: %s", fin,
					 strerror(-rc));
		}
		mi_free(text);
	}
	if (rc < 0) {
		/* Never retried in place: the next checkpoint writes new files. */
		remove_dir(dir);
		mi_free(m);
		mi_free(ended_count);
		for (uint32_t w = 0; w < e->n_workers; w++)
			sl_snap_free(&e->ckpt_snap[w]);
		log_failure(k, id, err);
		k->last_end_ms = mono_ms();
		hr.duration_ms = k->last_end_ms - t0;
		hr.stall_ns = last_stall(e);
		snprintf(hr.error, sizeof(hr.error), "%.250s", err);
		add_hist(k, &hr);
		return 1;
	}
	/* Durable: the sinks publish. A failure here cannot be undone; the
	 * job fails and a restore repeats the publishing. */
	struct collect_ctx c = {.k = k, .job = job, .phase = SL_COMMIT_PUBLISH};
	int prc = for_each_record(k, &c);
	uint64_t bytes = 0, raw_bytes = 0;
	for (uint32_t i = 0; i < m->n_files; i++) {
		bytes += m->files[i].bytes;
		raw_bytes += m->files[i].raw_bytes;
	}
	int64_t dur = mono_ms() - t0;
	for (uint32_t w = 0; w < e->n_workers; w++)
		sl_snap_free(&e->ckpt_snap[w]);
	mi_free(m);
	mi_free(ended_count);
	hr.ok = prc >= 0;
	hr.duration_ms = dur;
	hr.bytes = bytes;
	hr.raw_bytes = raw_bytes;
	hr.stall_ns = last_stall(e);
	snprintf(hr.path, sizeof(hr.path), "%.250s", dir);
	if (prc < 0)
		snprintf(hr.error, sizeof(hr.error), "publishing failed: %.200s", c.err);
	add_hist(k, &hr);
	if (prc < 0) {
		char msg[1600];
		snprintf(msg, sizeof(msg),
			 "checkpoint %" PRIu64 " is complete but publishing failed: %s", id,
			 c.err[0] ? c.err : strerror(-prc));
		sl_engine_fail(e, prc, msg);
		return -EIO;
	}
	atomic_store_explicit(&e->ckpt_committed, id, memory_order_release);
	kick_all(e);
	k->failures_in_row = 0;
	k->last_end_ms = mono_ms();
	pthread_mutex_lock(&k->mu);
	k->stats.completed++;
	k->stats.last_id = id;
	k->stats.last_duration_ms = dur;
	k->stats.last_bytes = bytes;
	k->stats.last_completed_ms = sl_wall_ms();
	pthread_mutex_unlock(&k->mu);
	sl_log(savepoint || stop || final ? SL_LOG_INFO : SL_LOG_DEBUG, -1, NULL,
	       "msg=\"%s complete\" id=%" PRIu64 " path=%s bytes=%" PRIu64 " duration_ms=%" PRId64
	       "%s",
	       savepoint ? "savepoint" : "checkpoint", id, dir, bytes, dur,
	       final ? " final=1" : (stop ? " stop=1" : ""));
	if (!savepoint)
		retain(k);
	return 0;
}

static void *coordinator(void *arg)
{
	struct sl_ckpt *k = arg;
	struct sl_engine *e = k->e;
	k->last_end_ms = k->last_start_ms = mono_ms();
	for (;;) {
		pthread_mutex_lock(&k->mu);
		int64_t now = mono_ms();
		int64_t due = k->last_start_ms + k->c->interval_ms;
		if (due < k->last_end_ms + k->c->min_pause_ms)
			due = k->last_end_ms + k->c->min_pause_ms;
		if (!k->quit && !k->sp_req && now < due &&
		    atomic_load(&e->n_finished) < e->n_workers && !atomic_load(&e->failed)) {
			int64_t wait = due - now;
			if (wait > 100)
				wait = 100;
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += (long)(wait * 1000000);
			ts.tv_sec += ts.tv_nsec / 1000000000;
			ts.tv_nsec %= 1000000000;
			pthread_cond_timedwait(&k->cv, &k->mu, &ts);
		}
		bool quit = k->quit, sp = k->sp_req, stop = k->sp_stop, is_sp = k->sp_is_savepoint;
		char nonce[64];
		snprintf(nonce, sizeof(nonce), "%s", k->sp_nonce);
		pthread_mutex_unlock(&k->mu);
		if (quit)
			break;
		if (atomic_load(&e->failed)) {
			atomic_store(&e->exit_now, true);
			kick_all(e);
			break;
		}
		now = mono_ms();
		bool final = atomic_load(&e->n_finished) == e->n_workers;
		if (!final && !sp && now < due)
			continue;
		if (sp) {
			pthread_mutex_lock(&k->mu);
			k->sp_req = false;
			k->sp_is_savepoint = false;
			k->sp_nonce[0] = '\0';
			pthread_mutex_unlock(&k->mu);
		}
		int rc = take(k, sp && is_sp, sp && stop, final && !(sp && stop),
			      sp && is_sp ? nonce : NULL);
		if (rc < 0) {
			atomic_store(&e->exit_now, true);
			kick_all(e);
			break;
		}
		if (rc == 0 && (final || (sp && stop))) {
			atomic_store(&e->exit_now, true);
			kick_all(e);
			break;
		}
		if (rc == 2 && ((sp && stop) || final)) {
			/* Declined: nothing to restore from covers what a stop
			 * would keep, so stop without a checkpoint. */
			sl_log(SL_LOG_WARN, -1, NULL,
			       "msg=\"stopping without a checkpoint: a source declined it\"");
			atomic_store(&e->exit_now, true);
			kick_all(e);
			break;
		}
		if (rc == 1 && sp && stop) {
			/* Keep the stop request: the next attempt stops too. */
			pthread_mutex_lock(&k->mu);
			k->sp_req = true;
			k->sp_stop = true;
			pthread_mutex_unlock(&k->mu);
		}
	}
	return NULL;
}

/* Next id: above every checkpoint and savepoint already in the directory. */
static uint64_t first_id(const char *dir)
{
	struct sl_ckpt_entry *v;
	uint32_t n;
	uint64_t id = 1;
	if (sl_ckpt_list(dir, &v, &n) == 0) {
		for (uint32_t i = 0; i < n; i++)
			if (v[i].id >= id)
				id = v[i].id + 1;
		free(v);
	}
	return id;
}

int sl_ckpt_start(struct sl_engine *e)
{
	struct sl_ckpt *k = mi_zalloc(sizeof(*k));
	if (!k)
		return -ENOMEM;
	k->e = e;
	k->c = e->job->ckpt;
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->next_id = first_id(k->c->dir);
	k->zc = ZSTD_createCCtx();
	k->wbuf[0] = mi_malloc(WRITE_CHUNK);
	k->wbuf[1] = mi_malloc(WRITE_CHUNK);
	int rc = io_uring_queue_init(8, &k->ring, 0);
	if (rc == 0)
		k->ring_ready = true;
	if (rc < 0 || !k->zc || !k->wbuf[0] || !k->wbuf[1]) {
		if (k->ring_ready)
			io_uring_queue_exit(&k->ring);
		ZSTD_freeCCtx(k->zc);
		mi_free(k->wbuf[0]);
		mi_free(k->wbuf[1]);
		mi_free(k);
		return rc < 0 ? rc : -ENOMEM;
	}
	if (e->restore)
		k->stats.restored_id = e->restore->m.id;
	e->ckpt = k;
	rc = pthread_create(&k->thread, NULL, coordinator, k);
	if (rc != 0) {
		e->ckpt = NULL;
		io_uring_queue_exit(&k->ring);
		ZSTD_freeCCtx(k->zc);
		mi_free(k->wbuf[0]);
		mi_free(k->wbuf[1]);
		mi_free(k);
		return -rc;
	}
	return 0;
}

void sl_ckpt_join(struct sl_engine *e)
{
	struct sl_ckpt *k = e->ckpt;
	if (!k)
		return;
	pthread_mutex_lock(&k->mu);
	k->quit = true;
	pthread_cond_signal(&k->cv);
	pthread_mutex_unlock(&k->mu);
	pthread_join(k->thread, NULL);
}

void sl_ckpt_free(struct sl_engine *e)
{
	struct sl_ckpt *k = e->ckpt;
	if (!k)
		return;
	io_uring_queue_exit(&k->ring);
	ZSTD_freeCCtx(k->zc);
	mi_free(k->wbuf[0]);
	mi_free(k->wbuf[1]);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	mi_free(k);
	e->ckpt = NULL;
}
