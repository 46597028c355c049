/* Sink `stdout`: rows as JSON lines or CSV on standard output (for looking, not for speed). */
#include <mimalloc.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "connectors/file/encode.h"
#include "core/job.h"
#include "core/worker.h"

static const char *const stdout_formats[] = {"jsonl", "csv", NULL};

struct stdout_conf {
	int format;
};

static const struct sl_option stdout_options[] = {
	{.name = "format", .type = SL_OPT_ENUM, .def = "jsonl", .choices = stdout_formats,
	 .offset = offsetof(struct stdout_conf, format),
	 .help = "jsonl (with _kind) or csv (with a _kind column)"},
	{0},
};

#define STDOUT_BUF (256u * 1024u)

/* Workers share the descriptor: whole buffers go out under one lock so
 * lines never interleave. */
static pthread_mutex_t stdout_lock = PTHREAD_MUTEX_INITIALIZER;

struct stdout_state {
	struct sl_encoder enc;
	char *buf;
	size_t len;
};

static int stdout_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	(void)d;
	sl_node_inherit(job, n);
	return 0;
}

static int flush_out(struct stdout_state *st)
{
	int rc = 0;
	pthread_mutex_lock(&stdout_lock);
	for (size_t o = 0; o < st->len;) {
		ssize_t n = write(STDOUT_FILENO, st->buf + o, st->len - o);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		o += (size_t)n;
	}
	pthread_mutex_unlock(&stdout_lock);
	st->len = 0;
	return rc;
}

static int stdout_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct stdout_conf *c = ni->node->conf;
	struct stdout_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->buf = mi_malloc(STDOUT_BUF);
	if (!st->buf)
		return -ENOMEM;
	sl_encoder_init(&st->enc, (enum sl_enc_format)c->format, &ni->node->schema, true, ',');
	/* One header for the whole output, written by worker 0. */
	if (w->id == 0) {
		ssize_t n = sl_encode_header(&st->enc, st->buf, STDOUT_BUF);
		st->len = n > 0 ? (size_t)n : 0;
	}
	return 0;
}

static int stdout_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	struct stdout_state *st = ni->state;
	uint64_t bytes = 0;
	int rc = 0;
	for (uint32_t r = 0; r < in->n_rows && rc == 0; r++) {
		ssize_t n = sl_encode_row(&st->enc, in, r, st->buf + st->len, STDOUT_BUF - st->len);
		if (n < 0 && st->len > 0) {
			rc = flush_out(st);
			n = sl_encode_row(&st->enc, in, r, st->buf, STDOUT_BUF);
		}
		if (n < 0) {
			sl_worker_bad_row(w, ni, "stdout", "row larger than 256 KiB", in, r);
			continue;
		}
		st->len += (size_t)n;
		bytes += (uint64_t)n;
	}
	/* Flush per batch: stdout is for watching, so rows should show up. */
	if (rc == 0)
		rc = flush_out(st);
	sl_worker_sink_rows(w, ni, in, bytes);
	return rc;
}

static int stdout_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	return flush_out(ni->state);
}

static void stdout_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct stdout_state *st = ni->state;
	if (!st)
		return;
	mi_free(st->buf);
	mi_free(st);
	ni->state = NULL;
}

const struct sl_plugin sl_plugin_stdout_sink = {
	.name = "stdout",
	.kind = SL_NODE_SINK,
	.summary = "rows on standard output (jsonl or csv)",
	.options = stdout_options,
	.conf_bytes = sizeof(struct stdout_conf),
	.prepare = stdout_prepare,
	.open = stdout_open,
	.close = stdout_close,
	.process = stdout_process,
	.finish = stdout_finish,
};
