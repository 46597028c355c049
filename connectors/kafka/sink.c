/* Sink `kafka`: rows encoded as the file sink encodes them, produced with librdkafka driven from
 * the worker's io_uring; at-least-once (idempotent) or exactly-once (one transaction per worker
 * and checkpoint, committed once the checkpoint is durable). */
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <mimalloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "connectors/file/encode.h"
#include "connectors/kafka/conf.h"
#include "core/checkpoint.h"
#include "core/engine.h"
#include "core/growbuf.h"
#include "core/job.h"
#include "core/log.h"
#include "core/value.h"
#include "core/worker.h"
#include "io/json.h"
#include "state/snap.h"

/*
 * Threads. Each worker owns one producer. Its delivery reports and errors
 * are events on the producer's main queue (rd_kafka_conf_set_events), whose
 * io-event fd (a pipe) is polled on the worker's io_uring; the worker serves
 * the queue with rd_kafka_queue_poll(q, 0), never waiting inside librdkafka
 * once its loop runs. When librdkafka's queue is full (queue.buffering.max.*)
 * or a barrier must wait for every delivery report, the sink waits on that
 * fd through the ring (sl_worker_wait_io), which keeps other I/O moving.
 *
 * delivery exactly_once: transactional.id "<job>-<sink>-<worker>". The first
 * record after a commit begins a transaction (local in librdkafka). At the
 * barrier of checkpoint N the worker produces what it holds, waits for every
 * delivery report, writes (worker, transactional.id, N, records) into the
 * snapshot and stops producing: later rows wait in a bounded buffer, and
 * past its bound the worker pauses its sources (sl_worker_hold). The
 * checkpoint coordinator calls rd_kafka_commit_transaction on that producer
 * in the PUBLISH phase, after the manifest is durable; the worker begins the
 * next transaction only once it sees checkpoint N committed. So the
 * producer's transactional calls never race with produce: the worker's last
 * produce and its snapshot happen before its barrier acknowledgement
 * (release) which the coordinator reads (acquire) before committing, and the
 * coordinator's commit happens before it publishes ckpt_committed (release)
 * which the worker reads (acquire) before its next begin_transaction. Both
 * threads poll nothing of each other's: in event mode librdkafka's internal
 * flush in commit_transaction waits without serving our queue.
 *
 * A checkpoint that fails after the barrier leaves the transaction open;
 * the next barrier extends it (it then covers both epochs). If a
 * transaction grows older than 90 % of transaction.timeout.ms (e.g. a long
 * broker outage) the job fails rather than let the broker abort it.
 *
 * The snapshot also records where the epoch's records landed: per topic and
 * partition, the runs of consecutive offsets from the delivery reports.
 * The coordinator journals "committing N" (fdatasync) before
 * commit_transaction and "committed N" (fdatasync) after it.
 *
 * Restore: the coordinator's PUBLISH of the restored checkpoint runs before
 * the workers start, without producers; for each pre-committed transaction
 * it fences the transactional.id with init_transactions (the broker finishes
 * a commit it accepted, aborts anything open). librdkafka cannot resume a
 * transaction of an earlier producer instance, so unless the journal says
 * "committed N" the sink reads the epoch's exact offsets back with a
 * read_uncommitted consumer (aborted records stay readable) and produces
 * the same records (topic, partition, key, value, timestamp, headers) in
 * one transaction of "<tid>-recover", commits it, and journals "committed
 * N". The rule: committed >= N: done; committing < N: never attempted, so
 * aborted by the fencing: re-produced, exactly once; committing >= N >
 * committed (died inside the commit call) is the one ambiguous case: it is
 * re-produced too, with a WARN — a duplicate (same event ids) if the broker
 * had committed, never a loss. Not verifiable on librdkafka's mock (it
 * enforces no transactions): read_committed hiding the aborted originals,
 * and the ambiguous case's outcome on a real broker. See
 * docs/architecture.md.
 */

enum { DELIVERY_AT_LEAST_ONCE, DELIVERY_EXACTLY_ONCE };
static const char *const deliveries[] = {"at_least_once", "exactly_once", NULL};
/* In the order of enum sl_enc_format. */
static const char *const formats[] = {"json", "csv", "debezium-json", "canal-json", "upsert-json",
				      NULL};
static const char *const kind_modes[] = {"auto", "always", "never", NULL};
enum { KIND_AUTO, KIND_ALWAYS, KIND_NEVER };

struct ksink_conf {
	const char *brokers;
	const char *topic;
	const char *topic_column;
	struct sl_strlist key;
	int format;
	int kind_column;
	const char *delimiter;
	int delivery;
	struct sl_cfg_node *properties;
	struct sl_cfg_node *event_id;
	int64_t linger_ms;
	int64_t max_inflight_bytes;
	int64_t max_inflight_messages;
	int64_t max_message_bytes;
	int64_t delivery_timeout_ms;
	int64_t transaction_timeout_ms;
	int64_t hold_bytes;
};

static const struct sl_option ksink_options[] = {
	{.name = "brokers", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct ksink_conf, brokers),
	 .help = "bootstrap servers, host:port[,host:port…]"},
	{.name = "topic", .type = SL_OPT_STRING, .offset = offsetof(struct ksink_conf, topic),
	 .help = "topic every row goes to (or topic_column)"},
	{.name = "topic_column", .type = SL_OPT_STRING,
	 .offset = offsetof(struct ksink_conf, topic_column),
	 .help = "string column naming each row's topic; a null or invalid name is a dead letter"},
	{.name = "key", .type = SL_OPT_STRING_LIST, .offset = offsetof(struct ksink_conf, key),
	 .help = "columns of the message key, as a JSON object {\"col\":value,…} in this order "
		 "(none: no key; librdkafka's partitioner hashes the key)"},
	{.name = "format", .type = SL_OPT_ENUM, .def = "json", .choices = formats,
	 .offset = offsetof(struct ksink_conf, format),
	 .help = "message value: json ({\"_kind\":\"+I\",col:…}), csv (one line), debezium-json / "
		 "canal-json (change events), upsert-json ({key, value}; needs key) — the file "
		 "sink's encodings, without the newline"},
	{.name = "kind_column", .type = SL_OPT_ENUM, .def = "auto", .choices = kind_modes,
	 .offset = offsetof(struct ksink_conf, kind_column),
	 .help = "csv: a first _kind field; auto: when the input is a changelog"},
	{.name = "delimiter", .type = SL_OPT_STRING, .def = ",",
	 .offset = offsetof(struct ksink_conf, delimiter), .help = "csv: one-byte separator"},
	{.name = "delivery", .type = SL_OPT_ENUM, .def = "at_least_once", .choices = deliveries,
	 .offset = offsetof(struct ksink_conf, delivery),
	 .help = "at_least_once: idempotent producer, a checkpoint waits for every delivery "
		 "report; exactly_once (needs checkpoint mode exactly_once): a transaction per "
		 "worker and checkpoint, transactional.id <job>-<sink>-<worker>, committed once the "
		 "checkpoint is durable"},
	{.name = "properties", .type = SL_OPT_NODE, .offset = offsetof(struct ksink_conf, properties),
	 .help = "librdkafka producer settings (values may be {env: NAME} or {file: PATH}; "
		 "secrets never logged); they override the options below"},
	{.name = "event_id", .type = SL_OPT_NODE, .offset = offsetof(struct ksink_conf, event_id),
	 .help = "{columns: [c…], as: header|field, name: _event_id}: a deterministic id "
		 "\"<job>/<values joined by '/'>\" on every message, for consumers that "
		 "deduplicate; the column _kind is the row's change kind"},
	{.name = "linger", .type = SL_OPT_DURATION_MS, .def = "5ms", .max = 900000,
	 .offset = offsetof(struct ksink_conf, linger_ms),
	 .help = "librdkafka linger.ms: how long a batch may wait to fill"},
	{.name = "max_inflight_bytes", .type = SL_OPT_SIZE_BYTES, .def = "16MiB", .min = 1048576,
	 .max = 2147483647LL * 1024, .offset = offsetof(struct ksink_conf, max_inflight_bytes),
	 .help = "bytes queued in librdkafka per worker (queue.buffering.max.kbytes); when full "
		 "the sink waits for deliveries (back-pressure); a barrier waits for all of them, so "
		 "this also bounds a checkpoint's flush"},
	{.name = "max_inflight_messages", .type = SL_OPT_INT, .def = "100000", .min = 1,
	 .max = 2147483647, .offset = offsetof(struct ksink_conf, max_inflight_messages),
	 .help = "messages queued in librdkafka per worker (queue.buffering.max.messages)"},
	{.name = "max_message_bytes", .type = SL_OPT_SIZE_BYTES, .def = "1000000", .min = 1000,
	 .max = 1000000000, .offset = offsetof(struct ksink_conf, max_message_bytes),
	 .help = "largest message (message.max.bytes); a larger row is a dead letter"},
	{.name = "delivery_timeout", .type = SL_OPT_DURATION_MS, .def = "5m", .min = 1000,
	 .max = 2147483647, .offset = offsetof(struct ksink_conf, delivery_timeout_ms),
	 .help = "message.timeout.ms: a message not delivered by then fails the job (it is "
		 "replayed from the last checkpoint)"},
	{.name = "transaction_timeout", .type = SL_OPT_DURATION_MS, .def = "60s", .min = 1000,
	 .max = 900000, .offset = offsetof(struct ksink_conf, transaction_timeout_ms),
	 .help = "exactly_once: transaction.timeout.ms; must exceed twice the checkpoint "
		 "interval; a transaction older than 90 % of it fails the job"},
	{.name = "hold_bytes", .type = SL_OPT_SIZE_BYTES, .def = "64MiB", .min = 65536,
	 .max = 1LL << 34, .offset = offsetof(struct ksink_conf, hold_bytes),
	 .help = "exactly_once: rows encoded while a checkpoint's commit is pending wait in a "
		 "buffer of this size; beyond it the worker's sources pause"},
	{0},
};

#define KS_VALUE_BYTES (SL_RECORD_MAX_BYTES * 2u) /* one encoded row */
#define KS_KEY_BYTES (64u * 1024u)
#define KS_EID_BYTES (16u * 1024u)
#define KS_TOPIC_MAX 249u
#define KS_TID_MAX (3u * SL_NAME_MAX + 16u)
#define KS_WAIT_MS 20
#define KS_COMMIT_ATTEMPTS 20
#define KS_EPOCH_TOPICS_MAX 4096u  /* distinct topics one epoch may write (topic_column) */
#define KS_EPOCH_RUNS_MAX (1u << 24) /* offset runs of one epoch in the snapshot */
#define EID_KIND 0xffffu /* event_id column `_kind`: the row's change kind (+I, -U, +U, -D) */

struct ksink_shared {
	struct sl_kafka_props props;
	const char *job;
	struct sl_encoder enc;
	int topic_col; /* -1: conf->topic */
	uint32_t n_keys;
	uint32_t key_cols[SL_MAX_KEYS];
	char key_names[SL_MAX_KEYS][SL_NAME_MAX * 6 + 4]; /* `"name":` escaped */
	uint32_t n_eid;
	uint32_t eid_cols[SL_MAX_KEYS];
	bool eid_header;
	char eid_name[SL_NAME_MAX];
	char ckpt_dir[4096]; /* the commit journal lives here */
	/* Producers of the workers (exactly_once), for the coordinator's
	 * commit; set in open, cleared in close, under lock. */
	pthread_mutex_t lock;
	rd_kafka_t *rk[SL_MAX_WORKERS];
	uint64_t await[SL_MAX_WORKERS]; /* checkpoint a worker's producer pre-committed */
	int txn_log; /* SLUICE_KAFKA_TXN_LOG, or -1 */
};

enum { TXN_NONE, TXN_OPEN, TXN_AWAIT };

/* Runs of offsets and the names of their topics. */
struct run_set {
	struct sl_growbuf runs;   /* struct epoch_run, in delivery order until normalized */
	struct sl_growbuf topics; /* topic names, NUL-terminated, in a row */
	uint32_t n_topics;
	uint32_t last_topic; /* index of the last noted topic */
};

static void run_set_reset(struct run_set *rs)
{
	rs->runs.len = rs->topics.len = 0;
	rs->n_topics = rs->last_topic = 0;
}

static void run_set_free(struct run_set *rs)
{
	mi_free(rs->runs.p);
	mi_free(rs->topics.p);
	memset(rs, 0, sizeof(*rs));
}

/* A row held while a commit is pending: header, then topic, key, value, id. */
struct held {
	uint32_t topic_len, key_len, val_len, eid_len;
	uint8_t has_key;
};

/* A run of consecutive offsets the epoch's transaction wrote to one
 * partition; topic indexes the epoch's topic names (struct ksink_state). */
struct epoch_run {
	uint32_t topic;
	int32_t partition;
	int64_t first, last;
};

struct ksink_state {
	struct sl_nodeinst *ni; /* owner, for I/O completions */
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	rd_kafka_topic_t *rkt; /* conf->topic */
	int pipe[2];
	struct sl_io poll_io;
	bool poll_armed;
	bool in_serve;
	struct sl_io tmo_io;
	bool tmo_armed;
	struct __kernel_timespec tmo;
	char *val;  /* KS_VALUE_BYTES */
	char *kbuf; /* KS_KEY_BYTES */
	char *ebuf; /* KS_EID_BYTES */
	char topic[KS_TOPIC_MAX + 1];
	uint64_t inflight; /* produced, delivery report not served yet */
	uint64_t produced, delivered;
	int fatal; /* a delivery failure that fails the job (negative errno) */
	/* exactly_once */
	char tid[KS_TID_MAX];
	int txn;
	uint64_t await_id;
	uint64_t epoch_records;
	uint64_t epoch_seq;
	int64_t txn_began_ns;
	struct sl_growbuf hold; /* struct held + bytes, in order */
	uint32_t n_held;
	bool holding; /* counted in w->holds */
	/* exactly_once: where the epoch's records landed, for a restore that
	 * must produce them again (snapshot blob) */
	struct run_set ep;
	struct sl_ratelimit rl;
};

/* ---- transaction event log (tests) ---- */

static void txn_log(const struct ksink_shared *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void txn_log(const struct ksink_shared *s, const char *fmt, ...)
{
	if (s->txn_log < 0)
		return;
	struct timespec mono, wall;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	char line[2048];
	int n = snprintf(line, sizeof(line), "{\"t_mono_ns\":%" PRId64 ",\"t_wall_ns\":%" PRId64
			 ",\"pid\":%d,",
			 (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec,
			 (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec, (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 2, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	line[n++] = '}';
	line[n++] = '\n';
	ssize_t wr = write(s->txn_log, line, (size_t)n);
	(void)wr;
}

/* An event of any length (txn_log's are short): g holds its fields. */
static void txn_log_long(const struct ksink_shared *s, const struct sl_growbuf *g)
{
	struct timespec mono, wall;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	char head[128];
	int l = snprintf(head, sizeof(head),
			 "{\"t_mono_ns\":%" PRId64 ",\"t_wall_ns\":%" PRId64 ",\"pid\":%d,",
			 (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec,
			 (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec, (int)getpid());
	struct sl_growbuf line = {0};
	if (sl_growbuf_put(&line, head, (size_t)l) && sl_growbuf_put(&line, g->p, g->len) &&
	    sl_growbuf_put(&line, "}\n", 2)) {
		ssize_t wr = write(s->txn_log, line.p, line.len); /* one write: lines never mix */
		(void)wr;
	}
	mi_free(line.p);
}

static int cmp_run(const void *a, const void *b)
{
	const struct epoch_run *x = a, *y = b;
	if (x->topic != y->topic)
		return x->topic < y->topic ? -1 : 1;
	if (x->partition != y->partition)
		return x->partition < y->partition ? -1 : 1;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* The epoch's runs sorted by (topic, partition, offset), adjacent runs merged. */
static void runs_normalize(struct run_set *rs)
{
	size_t n = rs->runs.len / sizeof(struct epoch_run);
	struct epoch_run *a = (struct epoch_run *)rs->runs.p;
	if (n < 2)
		return;
	qsort(a, n, sizeof(*a), cmp_run);
	size_t o = 0;
	for (size_t i = 1; i < n; i++) {
		if (a[i].topic == a[o].topic && a[i].partition == a[o].partition &&
		    a[i].first == a[o].last + 1)
			a[o].last = a[i].last;
		else
			a[++o] = a[i];
	}
	rs->runs.len = (o + 1) * sizeof(struct epoch_run);
}

/* The idx-th name of a list of NUL-terminated names. */
static const char *name_at(const char *names, size_t len, uint32_t idx)
{
	size_t off = 0;
	for (uint32_t i = 0; i < idx && off < len; i++)
		off += strlen(names + off) + 1;
	SL_ASSERT(off < len);
	return names + off;
}

/* Appends one partition's runs as "key":[[a,b],…] (key: the partition, or
 * "topic:partition" when the epoch wrote several topics). */
static bool put_offsets(struct sl_growbuf *g, const struct epoch_run *a, size_t n, const char *topics,
			size_t topics_len, uint32_t n_topics)
{
	char tmp[512];
	bool ok = true;
	for (size_t i = 0; i < n && ok;) {
		int l;
		if (n_topics > 1)
			l = snprintf(tmp, sizeof(tmp), "%s\"%.249s:%d\":[", i ? "]," : "",
				     name_at(topics, topics_len, a[i].topic), (int)a[i].partition);
		else
			l = snprintf(tmp, sizeof(tmp), "%s\"%d\":[", i ? "]," : "",
				     (int)a[i].partition);
		ok &= sl_growbuf_put(g, tmp, (size_t)l);
		size_t j = i;
		for (; j < n && a[j].topic == a[i].topic && a[j].partition == a[i].partition; j++) {
			l = snprintf(tmp, sizeof(tmp), "%s[%" PRId64 ",%" PRId64 "]",
				     j > i ? "," : "", a[j].first, a[j].last);
			ok &= sl_growbuf_put(g, tmp, (size_t)l);
		}
		i = j;
	}
	if (n)
		ok &= sl_growbuf_put(g, "]", 1);
	return ok;
}

/* The pre-commit event with the epoch's offsets as runs per partition:
 * "offsets":{"3":[[10,19],[25,25]],…}. One write, so lines never mix.
 * The runs are normalized (runs_normalize) already. */
static void txn_log_precommit(const struct ksink_shared *s, struct ksink_state *st, uint32_t worker,
			      uint64_t id)
{
	if (s->txn_log < 0)
		return;
	size_t n = st->ep.runs.len / sizeof(struct epoch_run);
	const struct epoch_run *a = (const struct epoch_run *)st->ep.runs.p;
	struct sl_growbuf g = {0};
	char tmp[256];
	struct timespec mono, wall;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &wall);
	int l = snprintf(tmp, sizeof(tmp),
			 "{\"t_mono_ns\":%" PRId64 ",\"t_wall_ns\":%" PRId64
			 ",\"pid\":%d,\"ev\":\"precommit\",\"worker\":%u,\"tid\":\"",
			 (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec,
			 (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec, (int)getpid(), worker);
	bool ok = sl_growbuf_put(&g, tmp, (size_t)l) && sl_growbuf_put(&g, st->tid, strlen(st->tid));
	l = snprintf(tmp, sizeof(tmp),
		     "\",\"ckpt\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"records\":%" PRIu64
		     ",\"offsets\":{",
		     id, st->epoch_seq, st->epoch_records);
	ok &= sl_growbuf_put(&g, tmp, (size_t)l);
	ok &= put_offsets(&g, a, n, st->ep.topics.p, st->ep.topics.len, st->ep.n_topics);
	ok &= sl_growbuf_put(&g, "}}\n", 3);
	if (ok) {
		ssize_t wr = write(s->txn_log, g.p, g.len);
		(void)wr;
	}
	mi_free(g.p);
}

/* ---- prepare ---- */

static bool topic_name_ok(const char *t, size_t len)
{
	if (len == 0 || len > KS_TOPIC_MAX)
		return false;
	if ((len == 1 && t[0] == '.') || (len == 2 && t[0] == '.' && t[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static void ksink_release(struct sl_node *n)
{
	struct ksink_shared *s = n->shared;
	if (!s)
		return;
	sl_kafka_props_free(&s->props);
	if (s->txn_log >= 0)
		close(s->txn_log);
	pthread_mutex_destroy(&s->lock);
	free(s);
	n->shared = NULL;
}

static int parse_event_id(struct sl_node *n, struct ksink_shared *s, struct sl_diag *d)
{
	const struct ksink_conf *c = n->conf;
	struct sl_cfg_node *e = c->event_id;
	if (!e || e->type == SL_CFG_NULL)
		return 0;
	if (e->type != SL_CFG_MAP)
		return sl_diag_error(d, e->pos,
				     "sink '%s': event_id: expected {columns: [...], as: header|field}",
				     n->name);
	snprintf(s->eid_name, sizeof(s->eid_name), "_event_id");
	s->eid_header = true;
	int rc = 0;
	bool have_cols = false;
	for (uint32_t i = 0; i < e->n; i++) {
		struct sl_cfg_node *k = e->keys[i], *v = e->vals[i];
		k->used = v->used = true;
		if (strcmp(k->str, "columns") == 0) {
			struct sl_cfg_node one = *v;
			uint32_t nv = v->type == SL_CFG_SEQ ? v->n : 1;
			if ((v->type != SL_CFG_SEQ && v->type != SL_CFG_SCALAR) || nv == 0 ||
			    nv > SL_MAX_KEYS) {
				rc = sl_diag_error(d, v->pos,
						   "sink '%s': event_id: columns: 1 to %u column names",
						   n->name, SL_MAX_KEYS);
				continue;
			}
			for (uint32_t j = 0; j < nv; j++) {
				struct sl_cfg_node *cn = v->type == SL_CFG_SEQ ? v->vals[j] : &one;
				cn->used = true;
				int col = cn->type == SL_CFG_SCALAR ? sl_schema_find(&n->schema, cn->str)
								     : -1;
				if (col < 0 && cn->type == SL_CFG_SCALAR && strcmp(cn->str, "_kind") == 0)
					col = (int)EID_KIND;
				if (col < 0) {
					rc = sl_diag_error(d, cn->pos,
							   "sink '%s': event_id: no input column '%s'",
							   n->name,
							   cn->type == SL_CFG_SCALAR ? cn->str : "?");
					continue;
				}
				s->eid_cols[s->n_eid++] = (uint32_t)col;
			}
			have_cols = true;
		} else if (strcmp(k->str, "as") == 0) {
			if (v->type == SL_CFG_SCALAR && strcmp(v->str, "header") == 0)
				s->eid_header = true;
			else if (v->type == SL_CFG_SCALAR && strcmp(v->str, "field") == 0)
				s->eid_header = false;
			else
				rc = sl_diag_error(d, v->pos,
						   "sink '%s': event_id: as: header or field", n->name);
		} else if (strcmp(k->str, "name") == 0) {
			if (v->type != SL_CFG_SCALAR || !v->str[0] ||
			    strlen(v->str) >= sizeof(s->eid_name) || strpbrk(v->str, "\"\\"))
				rc = sl_diag_error(d, v->pos, "sink '%s': event_id: name: a plain name",
						   n->name);
			else
				snprintf(s->eid_name, sizeof(s->eid_name), "%s", v->str);
		} else {
			rc = sl_diag_error(d, k->pos,
					   "sink '%s': event_id: unknown key '%s' (columns, as, name)",
					   n->name, k->str);
		}
	}
	if (!have_cols && rc == 0)
		rc = sl_diag_error(d, e->pos, "sink '%s': event_id needs columns", n->name);
	if (rc == 0 && !s->eid_header && c->format == SL_ENC_CSV)
		rc = sl_diag_error(d, e->pos,
				   "sink '%s': event_id as a field needs a JSON format (csv: use "
				   "as: header)",
				   n->name);
	return rc;
}

static int ksink_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct ksink_conf *c = n->conf;
	sl_node_inherit(job, n);
	struct ksink_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->txn_log = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->job = job->name;
	s->topic_col = -1;
	int rc = 0;
	char who[SL_NAME_MAX + 16];
	snprintf(who, sizeof(who), "sink '%s'", n->name);
	if (!!c->topic == !!c->topic_column)
		rc = sl_diag_error(d, n->pos, "sink '%s': set exactly one of topic and topic_column",
				   n->name);
	if (c->topic && !topic_name_ok(c->topic, strlen(c->topic)))
		rc = sl_diag_error(d, sl_node_pos_of(n, "topic"),
				   "sink '%s': topic '%s' is not a valid Kafka topic name "
				   "([a-zA-Z0-9._-], at most 249)",
				   n->name, c->topic);
	if (c->topic_column) {
		s->topic_col = sl_schema_find(&n->schema, c->topic_column);
		if (s->topic_col < 0)
			rc = sl_diag_error(d, sl_node_pos_of(n, "topic_column"),
					   "sink '%s': no input column '%s'", n->name, c->topic_column);
		else if (n->schema.fields[s->topic_col].type != SL_T_STRING)
			rc = sl_diag_error(d, sl_node_pos_of(n, "topic_column"),
					   "sink '%s': topic_column '%s' must be a string column",
					   n->name, c->topic_column);
	}
	if (c->key.n > SL_MAX_KEYS)
		rc = sl_diag_error(d, sl_node_pos_of(n, "key"), "sink '%s': at most %u key columns",
				   n->name, SL_MAX_KEYS);
	else if (c->key.n &&
		 sl_node_resolve_cols(&n->schema, &c->key, n, "key", who, s->key_cols, d) < 0)
		rc = -EINVAL;
	else
		s->n_keys = c->key.n;
	for (uint32_t k = 0; k < s->n_keys; k++) {
		char *o = s->key_names[k];
		ssize_t l = sl_json_escape(c->key.v[k], strlen(c->key.v[k]), o,
					   sizeof(s->key_names[k]) - 2);
		if (l > 0) {
			o[l] = ':';
			o[l + 1] = '\0';
		}
	}
	if (c->format == SL_ENC_UPSERT && s->n_keys == 0)
		rc = sl_diag_error(d, sl_node_pos_of(n, "format"),
				   "sink '%s': upsert-json needs key: (1 to %u columns)", n->name,
				   SL_MAX_KEYS);
	if (strlen(c->delimiter) != 1)
		rc = sl_diag_error(d, sl_node_pos_of(n, "delimiter"),
				   "sink '%s': delimiter must be one byte", n->name);
	if (parse_event_id(n, s, d) < 0)
		rc = -EINVAL;
	if (sl_kafka_props_read(job->doc, c->properties, who, &s->props, d) < 0)
		rc = -EINVAL;
	/* Settings the sink's own checks depend on: refused here rather than
	 * by librdkafka when the workers start. */
	const char *acks = sl_kafka_props_get(&s->props, "acks");
	if (!acks)
		acks = sl_kafka_props_get(&s->props, "request.required.acks");
	if (acks && strcmp(acks, "all") != 0 && strcmp(acks, "-1") != 0)
		rc = sl_diag_error(d, sl_node_pos_of(n, "properties"),
				   "sink '%s': acks must be all (the producer is idempotent)", n->name);
	if (sl_kafka_props_get(&s->props, "transaction.timeout.ms"))
		rc = sl_diag_error(d, sl_node_pos_of(n, "properties"),
				   "sink '%s': set transaction.timeout.ms with transaction_timeout",
				   n->name);
	const char *mt = sl_kafka_props_get(&s->props, "message.timeout.ms");
	if (!mt)
		mt = sl_kafka_props_get(&s->props, "delivery.timeout.ms");
	if (mt && c->delivery == DELIVERY_EXACTLY_ONCE &&
	    (strtoll(mt, NULL, 10) > c->transaction_timeout_ms || strtoll(mt, NULL, 10) == 0))
		rc = sl_diag_error(d, sl_node_pos_of(n, "properties"),
				   "sink '%s': message.timeout.ms (%s) must be at most transaction_timeout "
				   "(%" PRId64 " ms)",
				   n->name, mt, c->transaction_timeout_ms);
	if (c->delivery == DELIVERY_EXACTLY_ONCE) {
		if (!job->ckpt || job->ckpt->mode != SL_CKPT_EXACTLY_ONCE)
			rc = sl_diag_error(d, sl_node_pos_of(n, "delivery"),
					   "sink '%s': delivery exactly_once needs checkpoint: {mode: "
					   "exactly_once}",
					   n->name);
		else if (c->transaction_timeout_ms <= 2 * job->ckpt->interval_ms)
			rc = sl_diag_error(d, sl_node_pos_of(n, "transaction_timeout"),
					   "sink '%s': transaction_timeout (%" PRId64
					   " ms) must exceed twice the checkpoint interval (%" PRId64
					   " ms)",
					   n->name, c->transaction_timeout_ms, job->ckpt->interval_ms);
		if (sl_kafka_props_get(&s->props, "transactional.id"))
			rc = sl_diag_error(d, sl_node_pos_of(n, "properties"),
					   "sink '%s': transactional.id is set by the sink "
					   "(<job>-<sink>-<worker>)",
					   n->name);
		if (job->ckpt && job->ckpt->dir)
			snprintf(s->ckpt_dir, sizeof(s->ckpt_dir), "%s", job->ckpt->dir);
	}
	if (rc < 0)
		return rc;
	bool kind = c->kind_column == KIND_ALWAYS || (c->kind_column == KIND_AUTO && n->changelog);
	sl_encoder_init(&s->enc, (enum sl_enc_format)c->format, &n->schema, kind, c->delimiter[0]);
	if (c->format == SL_ENC_UPSERT) {
		s->enc.n_keys = s->n_keys;
		memcpy(s->enc.key_cols, s->key_cols, sizeof(s->key_cols));
	}
	const char *logp = getenv("SLUICE_KAFKA_TXN_LOG");
	if (logp && *logp && c->delivery == DELIVERY_EXACTLY_ONCE) {
		s->txn_log = open(logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (s->txn_log < 0)
			return sl_diag_error(d, n->pos, "sink '%s': SLUICE_KAFKA_TXN_LOG %s: %s",
					     n->name, logp, strerror(errno));
	}
	return 0;
}

/* ---- producers ---- */

static void tid_of(char *out, size_t cap, const char *job, const char *sink, uint32_t worker)
{
	snprintf(out, cap, "%s-%s-%u", job, sink, worker);
}

/* A producer configured for this sink; tid NULL: idempotent only. NULL
 * with the reason in err. */
static rd_kafka_t *new_producer(const struct sl_node *n, const char *tid, char *err, size_t cap)
{
	const struct ksink_conf *c = n->conf;
	const struct ksink_shared *s = n->shared;
	char linger[32], kbytes[32], msgs[32], maxb[32], tmo[32], ttmo[32];
	snprintf(linger, sizeof(linger), "%" PRId64, c->linger_ms);
	snprintf(kbytes, sizeof(kbytes), "%" PRId64, c->max_inflight_bytes / 1024);
	snprintf(msgs, sizeof(msgs), "%" PRId64, c->max_inflight_messages);
	snprintf(maxb, sizeof(maxb), "%" PRId64, c->max_message_bytes);
	/* librdkafka wants message.timeout.ms <= transaction.timeout.ms. */
	snprintf(tmo, sizeof(tmo), "%" PRId64,
		 tid && c->delivery_timeout_ms > c->transaction_timeout_ms ? c->transaction_timeout_ms
									   : c->delivery_timeout_ms);
	snprintf(ttmo, sizeof(ttmo), "%" PRId64, c->transaction_timeout_ms);
	const char *first[] = {"linger.ms", linger,
			       "queue.buffering.max.kbytes", kbytes,
			       "queue.buffering.max.messages", msgs,
			       "message.max.bytes", maxb,
			       "message.timeout.ms", tmo,
			       "transaction.timeout.ms", ttmo,
			       "acks", "all",
			       "retry.backoff.ms", "100",
			       "reconnect.backoff.max.ms", "1000",
			       NULL};
	const char *last_idem[] = {"enable.idempotence", "true", NULL};
	const char *last_txn[] = {"enable.idempotence", "true", "transactional.id", tid, NULL};
	rd_kafka_conf_t *conf = sl_kafka_conf(c->brokers, &s->props, first,
					      tid ? last_txn : last_idem, n->name, err, cap);
	if (!conf)
		return NULL;
	rd_kafka_conf_set_events(conf, RD_KAFKA_EVENT_DR | RD_KAFKA_EVENT_ERROR);
	char msg[512];
	rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, msg, sizeof(msg));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		snprintf(err, cap, "cannot create the producer: %s", msg);
	}
	return rk;
}

/* Blocking, for the control thread and a worker's start only: runs
 * init_transactions until it succeeds, fails for good, or the job stops. */
static int init_txn(rd_kafka_t *rk, struct sl_engine *eng, int64_t timeout_ms, char *err,
		    size_t cap)
{
	int64_t until = sl_now_ns() + timeout_ms * 1000000;
	for (;;) {
		rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 2000);
		if (!e)
			return 0;
		bool retry = rd_kafka_error_is_retriable(e) ||
			     rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
		snprintf(err, cap, "init_transactions: %s", rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		if (!retry || sl_now_ns() > until || (eng && atomic_load(&eng->exit_now)))
			return -EIO;
	}
}

static void ksink_serve(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st);

static void poll_fired(struct sl_worker *w, struct sl_io *io, int res)
{
	(void)res;
	struct ksink_state *st = (struct ksink_state *)((char *)io -
							offsetof(struct ksink_state, poll_io));
	st->poll_armed = false;
	ksink_serve(w, st->ni, st);
}

static void arm_poll(struct sl_worker *w, struct ksink_state *st)
{
	if (st->poll_armed)
		return;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_poll_add(sqe, st->pipe[0], POLLIN);
	io_uring_sqe_set_data(sqe, &st->poll_io);
	st->poll_armed = true;
}

static void tmo_fired(struct sl_worker *w, struct sl_io *io, int res)
{
	(void)res;
	struct ksink_state *st = (struct ksink_state *)((char *)io -
							offsetof(struct ksink_state, tmo_io));
	st->tmo_armed = false;
	w->inflight_io--;
}

/* Waits on the ring until the queue's fd fires or ms pass, then serves the
 * queue. The caller loops on its own condition. */
static void wait_events(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st,
			int64_t ms)
{
	arm_poll(w, st);
	if (!st->tmo_armed) {
		st->tmo.tv_sec = ms / 1000;
		st->tmo.tv_nsec = (ms % 1000) * 1000000;
		struct io_uring_sqe *sqe = sl_worker_sqe(w);
		io_uring_prep_timeout(sqe, &st->tmo, 0, 0);
		io_uring_sqe_set_data(sqe, &st->tmo_io);
		st->tmo_armed = true;
		w->inflight_io++;
	}
	sl_worker_wait_io(w);
	ksink_serve(w, ni, st);
}

static bool must_quit(struct sl_worker *w)
{
	return atomic_load_explicit(&w->eng->exit_now, memory_order_relaxed) ||
	       atomic_load_explicit(&w->eng->failed, memory_order_relaxed);
}

/* ---- delivery reports ---- */

/* Errors that concern one record (it goes to the dead letters in
 * at_least_once); anything else fails the job. */
static bool per_record(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
	case RD_KAFKA_RESP_ERR__INVALID_ARG:
		return true;
	default:
		return false;
	}
}

/* Records a delivered message's (topic, partition, offset) in the epoch's
 * runs, merged with the previous run when it continues it (reports come in
 * batches per partition). 0, -ENOMEM or -E2BIG past the limits. */
static int note_offset(struct run_set *rs, const rd_kafka_message_t *m)
{
	const char *name = rd_kafka_topic_name(m->rkt);
	uint32_t t = rs->last_topic;
	if (t >= rs->n_topics || strcmp(name_at(rs->topics.p, rs->topics.len, t), name) != 0) {
		size_t off = 0;
		for (t = 0; t < rs->n_topics; t++, off += strlen(rs->topics.p + off) + 1)
			if (strcmp(rs->topics.p + off, name) == 0)
				break;
		if (t == rs->n_topics) {
			if (rs->n_topics == KS_EPOCH_TOPICS_MAX)
				return -E2BIG;
			if (!sl_growbuf_put(&rs->topics, name, strlen(name) + 1))
				return -ENOMEM;
			rs->n_topics++;
		}
		rs->last_topic = t;
	}
	size_t n = rs->runs.len / sizeof(struct epoch_run);
	struct epoch_run *a = (struct epoch_run *)rs->runs.p;
	if (n && a[n - 1].topic == t && a[n - 1].partition == m->partition &&
	    a[n - 1].last + 1 == m->offset) {
		a[n - 1].last = m->offset;
		return 0;
	}
	if (n >= KS_EPOCH_RUNS_MAX)
		return -E2BIG;
	struct epoch_run r = {t, m->partition, m->offset, m->offset};
	return sl_growbuf_put(&rs->runs, &r, sizeof(r)) ? 0 : -ENOMEM;
}

static void delivered(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st,
		      const rd_kafka_message_t *m)
{
	const struct ksink_conf *c = ni->node->conf;
	SL_ASSERT(st->inflight > 0);
	st->inflight--;
	if (!m->err) {
		st->delivered++;
		if (c->delivery == DELIVERY_EXACTLY_ONCE) {
			int rc = note_offset(&st->ep, m);
			if (rc < 0 && !st->fatal) {
				st->fatal = rc;
				sl_worker_fail(w, ni, rc,
					       "cannot record where the epoch's records landed (%u "
					       "topics, %u runs at most)",
					       KS_EPOCH_TOPICS_MAX, KS_EPOCH_RUNS_MAX);
			}
		}
		return;
	}
	const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "?";
	char why[512];
	snprintf(why, sizeof(why), "Kafka %s [%d]: %s", topic, (int)m->partition,
		 rd_kafka_err2str(m->err));
	if (c->delivery == DELIVERY_AT_LEAST_ONCE && per_record(m->err)) {
		sl_worker_bad_input(w, ni, topic, why, m->payload, m->len);
		return;
	}
	/* exactly_once: the transaction can only be aborted; the restore
	 * replays its rows. at_least_once: nothing to do but restore either. */
	if (!st->fatal) {
		st->fatal = -EIO;
		sl_worker_fail(w, ni, -EIO, "delivery failed: %s%s", why,
			       c->delivery == DELIVERY_EXACTLY_ONCE
				   ? " (the transaction is abandoned; restore from the last "
				     "checkpoint replays it)"
				   : " (restore from the last checkpoint replays it)");
	}
}

static void ksink_serve(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st)
{
	char drain[256];
	/* A report may feed the dead letters, whose sink may wait on the ring,
	 * which may complete our own poll: never serve the queue twice at once. */
	if (st->in_serve) {
		arm_poll(w, st);
		return;
	}
	st->in_serve = true;
	/* The fd first: an event queued after the queue was emptied rings it again. */
	while (read(st->pipe[0], drain, sizeof(drain)) > 0)
		;
	rd_kafka_event_t *ev;
	while ((ev = rd_kafka_queue_poll(st->q, 0)) != NULL) {
		switch (rd_kafka_event_type(ev)) {
		case RD_KAFKA_EVENT_DR: {
			const rd_kafka_message_t *m;
			while ((m = rd_kafka_event_message_next(ev)) != NULL)
				delivered(w, ni, st, m);
			break;
		}
		case RD_KAFKA_EVENT_ERROR: {
			char q[600];
			const char *why = rd_kafka_event_error_string(ev);
			if (rd_kafka_event_error_is_fatal(ev)) {
				char buf[512];
				rd_kafka_fatal_error(st->rk, buf, sizeof(buf));
				if (!st->fatal) {
					st->fatal = -EIO;
					sl_worker_fail(w, ni, -EIO, "Kafka producer: fatal error: %s",
						       buf);
				}
			} else {
				uint64_t sup;
				if (sl_ratelimit_ok(&st->rl, &sup))
					sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
					       "msg=\"Kafka: retrying\" reason=%s",
					       sl_log_quote(why, strlen(why), q, sizeof(q)));
			}
			break;
		}
		default:
			break;
		}
		rd_kafka_event_destroy(ev);
	}
	st->in_serve = false;
	arm_poll(w, st);
}

/* ---- producing ---- */

static void hold_on(struct sl_worker *w, struct ksink_state *st, bool on)
{
	if (on != st->holding) {
		st->holding = on;
		if (on)
			w->holds++;
		else
			w->holds--;
	}
}

static int begin_txn(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st)
{
	const struct ksink_shared *s = ni->node->shared;
	rd_kafka_error_t *e = rd_kafka_begin_transaction(st->rk);
	if (e) {
		sl_worker_fail(w, ni, -EIO, "Kafka begin_transaction (%s): %s", st->tid,
			       rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return -EIO;
	}
	st->txn = TXN_OPEN;
	st->epoch_records = 0;
	st->epoch_seq++;
	run_set_reset(&st->ep);
	st->txn_began_ns = sl_now_ns();
	txn_log(s, "\"ev\":\"begin\",\"worker\":%u,\"tid\":\"%s\",\"seq\":%" PRIu64
		   ",\"after\":%" PRIu64,
		w->id, st->tid, st->epoch_seq, w->committed_seen);
	return 0;
}

/*
 * Hands one message to librdkafka (copied). 0; 1 when the record was
 * refused for itself (a dead letter: reason in why); <0 fails the job.
 * Waits (through the ring) while librdkafka's queue is full.
 */
static int produce(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st,
		   const char *topic, const char *key, size_t klen, bool has_key, const char *val,
		   size_t vlen, const char *eid, size_t elen, char *why, size_t cap)
{
	const struct ksink_conf *c = ni->node->conf;
	const struct ksink_shared *s = ni->node->shared;
	if (c->delivery == DELIVERY_EXACTLY_ONCE && st->txn == TXN_NONE) {
		int rc = begin_txn(w, ni, st);
		if (rc < 0)
			return rc;
	}
	for (;;) {
		if (st->fatal)
			return st->fatal;
		/* A named topic's handle is librdkafka's cached one (looked up, not made). */
		rd_kafka_topic_t *rkt = topic ? rd_kafka_topic_new(st->rk, topic, NULL) : st->rkt;
		if (!rkt) {
			snprintf(why, cap, "Kafka %s: %s", topic,
				 rd_kafka_err2str(rd_kafka_last_error()));
			return 1;
		}
		rd_kafka_resp_err_t e;
		if (elen)
			e = rd_kafka_producev(st->rk, RD_KAFKA_V_RKT(rkt),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_VALUE((void *)val, vlen),
					      RD_KAFKA_V_KEY(has_key ? key : NULL, has_key ? klen : 0),
					      RD_KAFKA_V_HEADER(s->eid_name, eid, (ssize_t)elen),
					      RD_KAFKA_V_END);
		else
			e = rd_kafka_producev(st->rk, RD_KAFKA_V_RKT(rkt),
					      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					      RD_KAFKA_V_VALUE((void *)val, vlen),
					      RD_KAFKA_V_KEY(has_key ? key : NULL, has_key ? klen : 0),
					      RD_KAFKA_V_END);
		if (topic)
			rd_kafka_topic_destroy(rkt);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
			st->inflight++;
			st->produced++;
			st->epoch_records++;
			return 0;
		}
		if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			/* Back-pressure: librdkafka holds max_inflight_* already. */
			if (must_quit(w))
				return -ECANCELED;
			wait_events(w, ni, st, KS_WAIT_MS);
			continue;
		}
		snprintf(why, cap, "Kafka %s: %s", topic ? topic : c->topic, rd_kafka_err2str(e));
		if (per_record(e))
			return 1;
		sl_worker_fail(w, ni, -EIO, "produce: %s", why);
		return -EIO;
	}
}

/* The rows held while a commit was pending go out (a transaction is open or begins). */
static int release_held(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st)
{
	size_t off = 0;
	char why[512];
	int rc = 0;
	while (off < st->hold.len && rc >= 0) {
		struct held h;
		memcpy(&h, st->hold.p + off, sizeof(h));
		const char *p = st->hold.p + off + sizeof(h);
		char topic[KS_TOPIC_MAX + 1];
		const char *t = NULL;
		if (h.topic_len) {
			memcpy(topic, p, h.topic_len);
			topic[h.topic_len] = '\0';
			t = topic;
		}
		const char *key = p + h.topic_len;
		const char *val = key + h.key_len;
		const char *eid = val + h.val_len;
		rc = produce(w, ni, st, t, key, h.key_len, h.has_key, val, h.val_len, eid, h.eid_len,
			     why, sizeof(why));
		if (rc == 1) {
			sl_worker_bad_input(w, ni, t ? t : "kafka", why, val, h.val_len);
			rc = 0;
		}
		off += sizeof(h) + h.topic_len + h.key_len + h.val_len + h.eid_len;
	}
	st->hold.len = 0;
	st->n_held = 0;
	hold_on(w, st, false);
	return rc < 0 ? rc : 0;
}

static int hold_row(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st,
		    const char *topic, const char *key, size_t klen, bool has_key, const char *val,
		    size_t vlen, const char *eid, size_t elen)
{
	const struct ksink_conf *c = ni->node->conf;
	struct held h = {topic ? (uint32_t)strlen(topic) : 0, (uint32_t)klen, (uint32_t)vlen,
			 (uint32_t)elen, has_key};
	if (!sl_growbuf_reserve(&st->hold, sizeof(h) + h.topic_len + klen + vlen + elen))
		return -ENOMEM;
	sl_growbuf_put(&st->hold, &h, sizeof(h));
	sl_growbuf_put(&st->hold, topic, h.topic_len);
	sl_growbuf_put(&st->hold, key, klen);
	sl_growbuf_put(&st->hold, val, vlen);
	sl_growbuf_put(&st->hold, eid, elen);
	st->n_held++;
	if (st->hold.len >= (uint64_t)c->hold_bytes)
		hold_on(w, st, true); /* sources pause until the commit */
	return 0;
}

/* ---- encoding ---- */

/* One value as text, for keys and event ids; JSON-quoted when json. */
static ssize_t put_value(const struct sl_schema *sch, const struct sl_batch *b, uint32_t col,
			 uint32_t r, bool json, char *o, size_t cap)
{
	if (cap < 72)
		return -ENOSPC;
	if (!sl_batch_is_valid(b, col, r)) {
		memcpy(o, "null", 4);
		return 4;
	}
	const struct sl_field *f = &sch->fields[col];
	if (f->type == SL_T_STRING) {
		uint32_t len;
		const char *str = sl_batch_str(b, col, r, &len);
		if (json)
			return sl_json_escape(str, len, o, cap);
		if (len > cap)
			return -ENOSPC;
		memcpy(o, str, len);
		return len;
	}
	bool quote = json && (f->type == SL_T_DATE || f->type == SL_T_TIMESTAMP ||
			      f->type == SL_T_TIMESTAMP_LTZ ||
			      (sl_type_is_float(f->type) &&
			       (b->cols[col].v[r].f != b->cols[col].v[r].f ||
				b->cols[col].v[r].f - b->cols[col].v[r].f != 0)));
	size_t n = 0;
	if (quote)
		o[n++] = '"';
	n += (size_t)sl_value_format_field(f, b->cols[col].v[r], o + n);
	if (quote)
		o[n++] = '"';
	return (ssize_t)n;
}

/* {"a":1,"b":"x"} of the key columns. */
static ssize_t encode_key(const struct ksink_shared *s, const struct sl_schema *sch,
			  const struct sl_batch *b, uint32_t r, char *o, size_t cap)
{
	size_t n = 0;
	o[n++] = '{';
	for (uint32_t k = 0; k < s->n_keys; k++) {
		size_t nl = strlen(s->key_names[k]);
		if (n + nl + 2 > cap)
			return -ENOSPC;
		if (k)
			o[n++] = ',';
		memcpy(o + n, s->key_names[k], nl);
		n += nl;
		ssize_t v = put_value(sch, b, s->key_cols[k], r, true, o + n, cap - n - 1);
		if (v < 0)
			return v;
		n += (size_t)v;
	}
	o[n++] = '}';
	return (ssize_t)n;
}

/* "<job>/<v1>/<v2>…" */
static ssize_t encode_eid(const struct ksink_shared *s, const struct sl_schema *sch,
			  const struct sl_batch *b, uint32_t r, char *o, size_t cap)
{
	size_t n = strlen(s->job);
	if (n + 1 > cap)
		return -ENOSPC;
	memcpy(o, s->job, n);
	for (uint32_t k = 0; k < s->n_eid; k++) {
		if (n + 1 >= cap)
			return -ENOSPC;
		o[n++] = '/';
		if (s->eid_cols[k] == EID_KIND) {
			if (n + 2 > cap)
				return -ENOSPC;
			memcpy(o + n, sl_kind_str(b->kind[r]), 2);
			n += 2;
			continue;
		}
		ssize_t v = put_value(sch, b, s->eid_cols[k], r, false, o + n, cap - n);
		if (v < 0)
			return v;
		n += (size_t)v;
	}
	return (ssize_t)n;
}

static int ksink_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct ksink_conf *c = ni->node->conf;
	const struct ksink_shared *s = ni->node->shared;
	struct ksink_state *st = ni->state;
	const struct sl_schema *sch = &ni->node->schema;
	const char *where = c->topic ? c->topic : c->topic_column;
	uint64_t bytes = 0;
	char why[512];
	for (uint32_t r = 0; r < in->n_rows; r++) {
		ssize_t vl = sl_encode_row(&s->enc, in, r, st->val, KS_VALUE_BYTES - KS_EID_BYTES - 64);
		if (vl == 0)
			continue; /* not written in this format (upsert-json: -U) */
		if (vl < 0) {
			sl_worker_bad_row(w, ni, where, "row too large to encode", in, r);
			continue;
		}
		if (st->val[vl - 1] == '\n')
			vl--;
		ssize_t el = 0;
		if (s->n_eid) {
			el = encode_eid(s, sch, in, r, st->ebuf, KS_EID_BYTES);
			if (el < 0) {
				sl_worker_bad_row(w, ni, where, "event id longer than 16 KiB", in, r);
				continue;
			}
			if (!s->eid_header && vl > 0 && st->val[vl - 1] == '}') {
				/* …,"_event_id":"job/1/2"} */
				size_t o = (size_t)vl - 1;
				o += (size_t)snprintf(st->val + o, 64 + SL_NAME_MAX, ",\"%s\":",
						      s->eid_name);
				ssize_t q = sl_json_escape(st->ebuf, (size_t)el, st->val + o,
							   KS_VALUE_BYTES - o - 2);
				if (q < 0) {
					sl_worker_bad_row(w, ni, where, "row too large to encode", in,
							  r);
					continue;
				}
				o += (size_t)q;
				st->val[o++] = '}';
				vl = (ssize_t)o;
				el = 0;
			}
		}
		ssize_t kl = 0;
		if (s->n_keys) {
			kl = encode_key(s, sch, in, r, st->kbuf, KS_KEY_BYTES);
			if (kl < 0) {
				sl_worker_bad_row(w, ni, where, "key longer than 64 KiB", in, r);
				continue;
			}
		}
		const char *topic = NULL;
		if (s->topic_col >= 0) {
			uint32_t tl = 0;
			const char *t = sl_batch_is_valid(in, (uint32_t)s->topic_col, r)
					    ? sl_batch_str(in, (uint32_t)s->topic_col, r, &tl)
					    : NULL;
			if (!t || !topic_name_ok(t, tl)) {
				sl_worker_bad_row(w, ni, where,
						  t ? "not a valid Kafka topic name"
						    : "topic column is null",
						  in, r);
				continue;
			}
			memcpy(st->topic, t, tl);
			st->topic[tl] = '\0';
			topic = st->topic;
		}
		bool hold = c->delivery == DELIVERY_EXACTLY_ONCE && st->txn == TXN_AWAIT;
		if (hold && (size_t)vl + (size_t)kl + (size_t)el + strlen(s->eid_name) >
				(uint64_t)c->max_message_bytes) {
			/* librdkafka checks when it is produced; a held row is
			 * checked now, while the row is at hand for the dead letter. */
			snprintf(why, sizeof(why), "Kafka %s: %s (held row of %zd bytes)",
				 topic ? topic : c->topic,
				 rd_kafka_err2str(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE), vl + kl + el);
			sl_worker_bad_row(w, ni, where, why, in, r);
			continue;
		}
		bytes += (uint64_t)vl;
		int rc;
		if (hold)
			rc = hold_row(w, ni, st, topic, st->kbuf, (size_t)kl, s->n_keys > 0, st->val,
				      (size_t)vl, st->ebuf, (size_t)el);
		else
			rc = produce(w, ni, st, topic, st->kbuf, (size_t)kl, s->n_keys > 0, st->val,
				     (size_t)vl, st->ebuf, (size_t)el, why, sizeof(why));
		if (rc == 1) {
			sl_worker_bad_row(w, ni, where, why, in, r);
			continue;
		}
		if (rc < 0)
			return rc == -ECANCELED ? 0 : rc;
	}
	sl_worker_sink_rows(w, ni, in, bytes);
	return 0;
}

/* Waits (through the ring) until every produced message was reported. */
static int flush_wait(struct sl_worker *w, struct sl_nodeinst *ni, struct ksink_state *st,
		      bool txn_guard)
{
	const struct ksink_conf *c = ni->node->conf;
	/* Never rd_kafka_poll here: in event mode it would swallow the
	 * delivery reports meant for our queue. */
	ksink_serve(w, ni, st);
	while (st->inflight && !st->fatal) {
		if (must_quit(w))
			return -ECANCELED;
		if (txn_guard && st->txn == TXN_OPEN &&
		    sl_now_ns() - st->txn_began_ns > c->transaction_timeout_ms * 900000) {
			st->fatal = -ETIMEDOUT;
			sl_worker_fail(w, ni, -ETIMEDOUT,
				       "Kafka transaction %s is older than 90%% of "
				       "transaction_timeout (%" PRId64
				       " ms) with %" PRIu64 " messages still undelivered (broker "
				       "unreachable?): failing before the broker aborts it; restore "
				       "from the last checkpoint replays its rows",
				       st->tid, c->transaction_timeout_ms, st->inflight);
			break;
		}
		wait_events(w, ni, st, KS_WAIT_MS);
	}
	return st->fatal;
}

static void ksink_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	(void)now_ns;
	struct ksink_state *st = ni->state;
	ksink_serve(w, ni, st);
}

static int ksink_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct ksink_conf *c = ni->node->conf;
	struct ksink_state *st = ni->state;
	if (c->delivery == DELIVERY_EXACTLY_ONCE) {
		if (w->eng->ckpt_on)
			return 0; /* the final checkpoint pre-commits and commits the rest */
		int rc = flush_wait(w, ni, st, true);
		if (rc == 0 && st->txn == TXN_OPEN) {
			rd_kafka_error_t *e = rd_kafka_commit_transaction(st->rk, -1);
			if (e) {
				sl_worker_fail(w, ni, -EIO, "Kafka commit_transaction: %s",
					       rd_kafka_error_string(e));
				rd_kafka_error_destroy(e);
				return -EIO;
			}
			st->txn = TXN_NONE;
		}
		return rc;
	}
	int rc = flush_wait(w, ni, st, false);
	return rc == -ECANCELED ? 0 : rc;
}

/* ---- open / close ---- */

static int ksink_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct ksink_conf *c = ni->node->conf;
	struct ksink_shared *s = ni->node->shared;
	struct ksink_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->ni = ni;
	st->pipe[0] = st->pipe[1] = -1;
	st->rl.burst = 2;
	st->poll_io.done = poll_fired;
	st->tmo_io.done = tmo_fired;
	st->val = mi_malloc(KS_VALUE_BYTES);
	st->kbuf = mi_malloc(KS_KEY_BYTES);
	st->ebuf = mi_malloc(KS_EID_BYTES);
	if (!st->val || !st->kbuf || !st->ebuf)
		return -ENOMEM;
	if (pipe2(st->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	bool eo = c->delivery == DELIVERY_EXACTLY_ONCE;
	if (eo)
		tid_of(st->tid, sizeof(st->tid), s->job, ni->node->name, w->id);
	char err[1024];
	st->rk = new_producer(ni->node, eo ? st->tid : NULL, err, sizeof(err));
	if (!st->rk) {
		sl_worker_fail(w, ni, -EINVAL, "%s", err);
		return -EINVAL;
	}
	st->q = rd_kafka_queue_get_main(st->rk);
	rd_kafka_queue_io_event_enable(st->q, st->pipe[1], "1", 1);
	if (c->topic) {
		st->rkt = rd_kafka_topic_new(st->rk, c->topic, NULL);
		if (!st->rkt) {
			sl_worker_fail(w, ni, -EINVAL, "topic %s: %s", c->topic,
				       rd_kafka_err2str(rd_kafka_last_error()));
			return -EINVAL;
		}
	}
	if (eo) {
		/* Fences earlier instances of this transactional.id and aborts
		 * what they left open. Start-up only: the loop is not running. */
		int rc = init_txn(st->rk, w->eng, c->transaction_timeout_ms, err, sizeof(err));
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "Kafka %s: %s", st->tid, err);
			return rc;
		}
		txn_log(s, "\"ev\":\"init\",\"worker\":%u,\"tid\":\"%s\"", w->id, st->tid);
		pthread_mutex_lock(&s->lock);
		s->rk[w->id] = st->rk;
		s->await[w->id] = 0;
		pthread_mutex_unlock(&s->lock);
	}
	arm_poll(w, st);
	return 0;
}

static void ksink_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct ksink_shared *s = ni->node->shared;
	struct ksink_state *st = ni->state;
	if (!st)
		return;
	if (st->rk) {
		pthread_mutex_lock(&s->lock);
		if (s->rk[w->id] == st->rk)
			s->rk[w->id] = NULL;
		pthread_mutex_unlock(&s->lock);
		if (st->txn == TXN_OPEN && !st->fatal) {
			/* Nothing of it is covered by a checkpoint: abort now, so
			 * read_committed consumers need not wait for the timeout. */
			rd_kafka_error_t *e = rd_kafka_abort_transaction(st->rk, 5000);
			txn_log(s, "\"ev\":\"abort\",\"worker\":%u,\"tid\":\"%s\",\"seq\":%" PRIu64
				   ",\"records\":%" PRIu64 ",\"ok\":%s",
				w->id, st->tid, st->epoch_seq, st->epoch_records, e ? "false" : "true");
			if (e)
				rd_kafka_error_destroy(e);
		}
		if (st->holding)
			hold_on(w, st, false);
		if (st->rkt)
			rd_kafka_topic_destroy(st->rkt);
		if (st->q)
			rd_kafka_queue_destroy(st->q);
		rd_kafka_destroy_flags(st->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	}
	if (st->pipe[0] >= 0)
		close(st->pipe[0]);
	if (st->pipe[1] >= 0)
		close(st->pipe[1]);
	mi_free(st->val);
	mi_free(st->kbuf);
	mi_free(st->ebuf);
	mi_free(st->hold.p);
	run_set_free(&st->ep);
	mi_free(st);
	ni->state = NULL;
}

/* ---- checkpoints ---- */

static int ksink_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	const struct ksink_conf *c = ni->node->conf;
	struct ksink_shared *s = ni->node->shared;
	struct ksink_state *st = ni->state;
	if (c->delivery == DELIVERY_AT_LEAST_ONCE) {
		/* The checkpoint must not cover a row that is not delivered. */
		int rc = flush_wait(w, ni, st, false);
		return rc == -ECANCELED ? -EIO : rc;
	}
	if (st->txn == TXN_AWAIT) {
		/* Checkpoint await_id failed after the barrier: its transaction
		 * was never committed and stays open; this checkpoint extends it. */
		txn_log(s, "\"ev\":\"extend\",\"worker\":%u,\"tid\":\"%s\",\"failed_ckpt\":%" PRIu64
			   ",\"ckpt\":%" PRIu64,
			w->id, st->tid, st->await_id, w->ckpt_id);
		sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
		       "msg=\"checkpoint failed before its Kafka transaction was committed: the "
		       "transaction goes on into the next checkpoint\" failed=%" PRIu64,
		       st->await_id);
		st->txn = TXN_OPEN;
		st->await_id = 0;
	}
	if (st->n_held) {
		int rc = release_held(w, ni, st);
		if (rc < 0)
			return rc;
	}
	int rc = flush_wait(w, ni, st, true);
	if (rc < 0)
		return rc == -ECANCELED ? -EIO : rc;
	sl_snap_u32(out, w->id);
	if (st->txn != TXN_OPEN) {
		sl_snap_u8(out, 0);
		return 0;
	}
	if (sl_now_ns() - st->txn_began_ns > c->transaction_timeout_ms * 900000) {
		sl_worker_fail(w, ni, -ETIMEDOUT,
			       "Kafka transaction %s is older than 90%% of transaction_timeout "
			       "(%" PRId64 " ms): failing before the broker aborts it; restore "
			       "from the last checkpoint replays its rows",
			       st->tid, c->transaction_timeout_ms);
		return -ETIMEDOUT;
	}
	sl_snap_u8(out, 1);
	sl_snap_str(out, st->tid);
	sl_snap_u64(out, w->ckpt_id);
	sl_snap_u64(out, st->epoch_records);
	sl_snap_u64(out, (uint64_t)st->txn_began_ns);
	/* Where the records are, for a restore that finds this transaction
	 * aborted and produces them again (recover_txn). */
	runs_normalize(&st->ep);
	size_t n_runs = st->ep.runs.len / sizeof(struct epoch_run);
	const struct epoch_run *runs = (const struct epoch_run *)st->ep.runs.p;
	sl_snap_u32(out, st->ep.n_topics);
	for (size_t off = 0; off < st->ep.topics.len; off += strlen(st->ep.topics.p + off) + 1)
		sl_snap_str(out, st->ep.topics.p + off);
	sl_snap_u32(out, (uint32_t)n_runs);
	for (size_t i = 0; i < n_runs; i++) {
		sl_snap_u32(out, runs[i].topic);
		sl_snap_u32(out, (uint32_t)runs[i].partition);
		sl_snap_u64(out, (uint64_t)runs[i].first);
		sl_snap_u64(out, (uint64_t)runs[i].last);
	}
	st->txn = TXN_AWAIT;
	st->await_id = w->ckpt_id;
	pthread_mutex_lock(&s->lock);
	s->await[w->id] = w->ckpt_id;
	pthread_mutex_unlock(&s->lock);
	txn_log_precommit(s, st, w->id, w->ckpt_id);
	return 0;
}

static void ksink_committed(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	struct ksink_state *st = ni->state;
	if (st->txn != TXN_AWAIT || id < st->await_id)
		return;
	st->txn = TXN_NONE;
	st->await_id = 0;
	if (st->n_held) /* the next transaction begins with what waited */
		release_held(w, ni, st);
}

/*
 * The commit journal of a worker's transactional.id (coordinator or control
 * thread), two lines rewritten in place and fdatasync'ed before the caller
 * goes on: "committing <id>" is written before rd_kafka_commit_transaction
 * of checkpoint id is called, "committed <id>" once it returned. So at a
 * restore of checkpoint N:
 *   committed >= N             the commit surely happened;
 *   committing < N             it was never attempted, fencing aborted it;
 *   committing >= N > committed the process died inside the commit call:
 *                              the broker may or may not have committed.
 * A journal of an earlier version holds one number (the committed id).
 */
struct journal {
	uint64_t committing, committed;
};

static void journal_path(const struct ksink_shared *s, const char *sink, uint32_t worker, char *out,
			 size_t cap)
{
	snprintf(out, cap, "%.4000s/kafka-%s-w%u.committed", s->ckpt_dir, sink, worker);
}

static int journal_write(const struct ksink_shared *s, const char *sink, uint32_t worker,
			 const struct journal *j, char *err, size_t cap)
{
	char path[4200], line[96];
	journal_path(s, sink, worker, path, sizeof(path));
	int n =
	    snprintf(line, sizeof(line), "committing %020" PRIu64 "\ncommitted  %020" PRIu64 "\n",
		     j->committing, j->committed);
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	int rc = 0;
	/* Durable before the caller acts on it: the restore trusts both lines. */
	if (fd < 0 || pwrite(fd, line, (size_t)n, 0) != n || fdatasync(fd) < 0) {
		rc = errno ? -errno : -EIO;
		snprintf(err, cap, "writing %s: %s", path, strerror(-rc));
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

static struct journal journal_read(const struct ksink_shared *s, const char *sink, uint32_t worker)
{
	char path[4200], buf[128] = "";
	struct journal j = {0, 0};
	journal_path(s, sink, worker, path, sizeof(path));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return j;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return j;
	buf[n] = '\0';
	unsigned long long a, b;
	if (sscanf(buf, "committing %llu committed %llu", &a, &b) == 2) {
		j.committing = a;
		j.committed = b;
	} else {
		j.committing = j.committed = strtoull(buf, NULL, 10);
	}
	return j;
}

/* Where a restored transaction's records are (from its snapshot blob). */
struct restored_txn {
	uint32_t worker;
	const char *tid;
	uint64_t id, records;
	bool have_runs; /* false: a blob of an earlier version */
	struct run_set rs;
};

/* One (topic, partition) to read back: its runs are rs.runs[first..end). */
struct rpart {
	const char *topic;
	int32_t partition;
	size_t first, end, cur;
	uint64_t n_read;
	bool done;
};

/* Drains the recovery producer's queue (waiting up to wait_ms for a first event): delivery reports
 * go to out; a failed one sets *fail. */
static void drain_reports(rd_kafka_queue_t *q, int wait_ms, struct run_set *out,
			  uint64_t *delivered, int *fail, char *err, size_t cap)
{
	rd_kafka_event_t *ev;
	while ((ev = rd_kafka_queue_poll(q, wait_ms)) != NULL) {
		wait_ms = 0;
		if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DR) {
			const rd_kafka_message_t *m;
			while ((m = rd_kafka_event_message_next(ev)) != NULL) {
				if (m->err) {
					if (!*fail)
						snprintf(err, cap, "delivery failed: %s",
							 rd_kafka_err2str(m->err));
					*fail = -EIO;
				} else {
					(*delivered)++;
					if (note_offset(out, m) < 0)
						*fail = -ENOMEM;
				}
			}
		} else if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_ERROR &&
			   rd_kafka_event_error_is_fatal(ev)) {
			if (!*fail)
				snprintf(err, cap, "producer: %s", rd_kafka_event_error_string(ev));
			*fail = -EIO;
		}
		rd_kafka_event_destroy(ev);
	}
}

/* Produces one record read back, as it was, in the recovery transaction. */
static int reproduce_one(rd_kafka_t *rk, rd_kafka_queue_t *q, const rd_kafka_message_t *m,
			 struct run_set *out, uint64_t *delivered, int *fail, char *err, size_t cap)
{
	rd_kafka_headers_t *hdrs = NULL, *copy = NULL;
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
		copy = rd_kafka_headers_copy(hdrs);
	rd_kafka_timestamp_type_t tt;
	int64_t ts = rd_kafka_message_timestamp(m, &tt);
	for (;;) {
		rd_kafka_resp_err_t e = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(rd_kafka_topic_name(m->rkt)),
		    RD_KAFKA_V_PARTITION(m->partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
		    RD_KAFKA_V_TIMESTAMP(ts > 0 ? ts : 0), RD_KAFKA_V_HEADERS(copy),
		    RD_KAFKA_V_END);
		if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
			return 0; /* the headers belong to librdkafka now */
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			snprintf(err, cap, "produce: %s", rd_kafka_err2str(e));
			break;
		}
		/* Full: reports free room. */
		drain_reports(q, 100, out, delivered, fail, err, cap);
		if (*fail)
			break;
	}
	if (copy)
		rd_kafka_headers_destroy(copy);
	return -EIO;
}

/* Reads the restored transaction's records back (read_uncommitted: an
 * aborted transaction's records stay visible, control records are skipped)
 * and produces them in one transaction of "<tid>-recover", committed before
 * returning. The journal then says the checkpoint is committed. Control
 * thread, before the workers start. 0 or a negative errno with err. */
static int reproduce(const struct sl_node *n, const struct restored_txn *t, char *err, size_t cap)
{
	const struct ksink_conf *c = n->conf;
	struct ksink_shared *s = n->shared;
	size_t n_runs = t->rs.runs.len / sizeof(struct epoch_run);
	const struct epoch_run *runs = (const struct epoch_run *)t->rs.runs.p;
	char rtid[KS_TID_MAX + 16];
	snprintf(rtid, sizeof(rtid), "%s-recover", t->tid);
	int rc = 0;
	struct rpart *parts = mi_calloc(n_runs ? n_runs : 1, sizeof(*parts));
	struct run_set out = {0};
	rd_kafka_topic_partition_list_t *tpl = rd_kafka_topic_partition_list_new((int)n_runs + 1);
	rd_kafka_t *rkc = NULL, *rk = NULL;
	rd_kafka_queue_t *q = NULL;
	uint64_t n_read = 0, delivered = 0;
	int fail = 0;
	if (!parts) {
		rc = -ENOMEM;
		goto out;
	}
	size_t n_parts = 0;
	for (size_t i = 0; i < n_runs;) {
		struct rpart *p = &parts[n_parts++];
		p->topic = name_at(t->rs.topics.p, t->rs.topics.len, runs[i].topic);
		p->partition = runs[i].partition;
		p->first = p->cur = i;
		while (i < n_runs && runs[i].topic == runs[p->first].topic &&
		       runs[i].partition == p->partition)
			i++;
		p->end = i;
		rd_kafka_topic_partition_list_add(tpl, p->topic, p->partition)->offset =
		    runs[p->first].first;
	}
	char group[SL_NAME_MAX + 32];
	snprintf(group, sizeof(group), "sluice-recover-%s", n->name);
	const char *first[] = {"auto.offset.reset", "error", NULL};
	const char *last[] = {"group.id", group,
			      "enable.auto.commit", "false",
			      "enable.auto.offset.store", "false",
			      "enable.partition.eof", "true",
			      "isolation.level", "read_uncommitted",
			      NULL};
	rd_kafka_conf_t *cconf =
	    sl_kafka_conf(c->brokers, &s->props, first, last, n->name, err, cap);
	if (!cconf) {
		rc = -EINVAL;
		goto out;
	}
	char msg[512];
	rkc = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, msg, sizeof(msg));
	if (!rkc) {
		rd_kafka_conf_destroy(cconf);
		snprintf(err, cap, "cannot create the recovery consumer: %s", msg);
		rc = -EINVAL;
		goto out;
	}
	rd_kafka_poll_set_consumer(rkc);
	rd_kafka_resp_err_t ae = rd_kafka_assign(rkc, tpl);
	if (ae) {
		snprintf(err, cap, "recovery consumer: assign: %s", rd_kafka_err2str(ae));
		rc = -EIO;
		goto out;
	}
	rk = new_producer(n, rtid, err, cap);
	if (!rk) {
		rc = -EINVAL;
		goto out;
	}
	q = rd_kafka_queue_get_main(rk);
	/* Fences (aborts) what an earlier, interrupted recovery left open. */
	rc = init_txn(rk, NULL, c->transaction_timeout_ms, err, cap);
	if (rc < 0)
		goto out;
	rd_kafka_error_t *e = rd_kafka_begin_transaction(rk);
	if (e) {
		snprintf(err, cap, "begin_transaction (%s): %s", rtid, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		rc = -EIO;
		goto out;
	}
	/* Within the transaction's lifetime, with room for the commit. */
	int64_t until = sl_now_ns() + c->transaction_timeout_ms * 700000;
	size_t n_done = 0;
	while (n_done < n_parts && rc == 0) {
		if (sl_now_ns() > until) {
			snprintf(err, cap,
				 "reading the records back took too long (%" PRIu64 " of %" PRIu64
				 " read)",
				 n_read, t->records);
			rc = -ETIMEDOUT;
			break;
		}
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rkc, 200);
		drain_reports(q, 0, &out, &delivered, &fail, err, cap);
		if (fail) {
			rc = fail;
			if (m)
				rd_kafka_message_destroy(m);
			break;
		}
		if (!m)
			continue;
		struct rpart *p = NULL;
		if (m->rkt) {
			const char *tn = rd_kafka_topic_name(m->rkt);
			for (size_t i = 0; i < n_parts && !p; i++)
				if (parts[i].partition == m->partition &&
				    strcmp(parts[i].topic, tn) == 0)
					p = &parts[i];
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (p && !p->done) {
				snprintf(err, cap,
					 "%s [%d]: the log ends at %" PRId64
					 " before offset %" PRId64 " of the transaction",
					 p->topic, (int)p->partition, m->offset, runs[p->cur].last);
				rc = -ENODATA;
			}
		} else if (m->err) {
			/* Offsets gone (retention) or a fatal error end it; others are retried
			 * by librdkafka. */
			if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
			    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
			    m->err == RD_KAFKA_RESP_ERR__FATAL ||
			    m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
			    m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
				snprintf(err, cap, "reading %s [%d] back: %s", p ? p->topic : "?",
					 (int)m->partition, rd_kafka_message_errstr(m));
				rc = -EIO;
			}
		} else if (p && !p->done) {
			while (p->cur < p->end && runs[p->cur].last < m->offset)
				p->cur++;
			if (p->cur < p->end && m->offset >= runs[p->cur].first) {
				rc = reproduce_one(rk, q, m, &out, &delivered, &fail, err, cap);
				p->n_read++;
				n_read++;
			}
			if (p->cur == p->end ||
			    (p->cur == p->end - 1 && m->offset >= runs[p->cur].last)) {
				p->done = true;
				n_done++;
			}
		}
		rd_kafka_message_destroy(m);
	}
	if (rc == 0 && n_read != t->records) {
		snprintf(err, cap,
			 "read %" PRIu64 " records back where the transaction had %" PRIu64, n_read,
			 t->records);
		rc = -EIO;
	}
	/* Every delivery report served before the commit: in event mode its
	 * flush waits for the queue to empty without serving it. */
	while (rc == 0 && delivered < n_read) {
		if (sl_now_ns() > until) {
			snprintf(err, cap,
				 "waiting for delivery reports took too long (%" PRIu64
				 " of %" PRIu64 ")",
				 delivered, n_read);
			rc = -ETIMEDOUT;
			break;
		}
		drain_reports(q, 100, &out, &delivered, &fail, err, cap);
		rc = fail;
	}
	if (rc == 0) {
		for (int attempt = 0; attempt < KS_COMMIT_ATTEMPTS; attempt++) {
			e = rd_kafka_commit_transaction(rk, 10000);
			if (!e) {
				rc = 0;
				break;
			}
			snprintf(err, cap, "commit_transaction (%s): %s", rtid,
				 rd_kafka_error_string(e));
			bool retry = rd_kafka_error_is_retriable(e) ||
				     rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
			rd_kafka_error_destroy(e);
			rc = -EIO;
			if (!retry)
				break;
		}
	} else if (rk) {
		e = rd_kafka_abort_transaction(rk, 5000);
		if (e)
			rd_kafka_error_destroy(e);
	}
	if (rc == 0) {
		runs_normalize(&out);
		if (s->txn_log >= 0) {
			struct sl_growbuf g = {0};
			char tmp[512];
			int l =
			    snprintf(tmp, sizeof(tmp),
				     "\"ev\":\"reproduce\",\"worker\":%u,\"tid\":\"%s\",\"rtid\":"
				     "\"%s\",\"ckpt\":%" PRIu64 ",\"records\":%" PRIu64
				     ",\"delivered\":%" PRIu64 ",\"partitions\":{",
				     t->worker, t->tid, rtid, t->id, n_read, delivered);
			bool ok = sl_growbuf_put(&g, tmp, (size_t)l);
			for (size_t i = 0; i < n_parts; i++) {
				l = snprintf(tmp, sizeof(tmp), "%s\"%s%s%d\":%" PRIu64,
					     i ? "," : "", t->rs.n_topics > 1 ? parts[i].topic : "",
					     t->rs.n_topics > 1 ? ":" : "", (int)parts[i].partition,
					     parts[i].n_read);
				ok &= sl_growbuf_put(&g, tmp, (size_t)l);
			}
			ok &= sl_growbuf_put(&g, "},\"offsets\":{", 13);
			ok &= put_offsets(&g, (const struct epoch_run *)out.runs.p,
					  out.runs.len / sizeof(struct epoch_run), out.topics.p,
					  out.topics.len, out.n_topics);
			ok &= sl_growbuf_put(&g, "}", 1);
			if (ok)
				txn_log_long(s, &g);
			mi_free(g.p);
		}
		struct journal j = {t->id, t->id};
		char jerr[4400];
		int jrc = journal_write(s, n->name, t->worker, &j, jerr, sizeof(jerr));
		txn_log(s,
			"\"ev\":\"recover_commit\",\"worker\":%u,\"tid\":\"%s\",\"rtid\":\"%s\","
			"\"ckpt\":%" PRIu64 ",\"records\":%" PRIu64 ",\"journal\":%s",
			t->worker, t->tid, rtid, t->id, n_read, jrc == 0 ? "true" : "false");
		if (jrc < 0) {
			/* Committed, but a later restore would produce the rows again. */
			snprintf(err, cap, "%s", jerr);
			rc = jrc;
		}
	}
out:
	if (q)
		rd_kafka_queue_destroy(q);
	if (rk)
		rd_kafka_destroy(rk);
	if (rkc) {
		rd_kafka_consumer_close(rkc);
		rd_kafka_destroy(rkc);
	}
	rd_kafka_topic_partition_list_destroy(tpl);
	run_set_free(&out);
	mi_free(parts);
	return rc;
}

/* Restore, control thread: the restored checkpoint's pre-committed
 * transaction of an earlier run. librdkafka cannot take over another
 * instance's transaction, so its transactional.id is fenced, which ends it:
 * committed if the broker got that far, aborted otherwise. Unless the
 * journal says it committed, its records are read back and produced again in
 * a recovery transaction (reproduce); see the rule at struct journal and in
 * the file's header. */
static int recover_txn(const struct sl_node *n, const struct restored_txn *t, char *err, size_t cap)
{
	const struct ksink_conf *c = n->conf;
	struct ksink_shared *s = n->shared;
	struct journal j = journal_read(s, n->name, t->worker);
	bool sure = j.committed >= t->id;
	bool unsure = !sure && j.committing >= t->id; /* died inside the commit call */
	rd_kafka_t *rk = new_producer(n, t->tid, err, cap);
	if (!rk)
		return -EINVAL;
	int rc = init_txn(rk, NULL, c->transaction_timeout_ms, err, cap);
	rd_kafka_destroy(rk);
	txn_log(s,
		"\"ev\":\"fence\",\"worker\":%u,\"tid\":\"%s\",\"ckpt\":%" PRIu64
		",\"records\":%" PRIu64 ",\"journal\":%" PRIu64 ",\"committing\":%" PRIu64
		",\"committed\":%s,\"ambiguous\":%s,\"ok\":%s",
		t->worker, t->tid, t->id, t->records, j.committed, j.committing,
		sure ? "true" : "false", unsure ? "true" : "false", rc == 0 ? "true" : "false");
	if (rc < 0 || sure || t->records == 0)
		return rc;
	if (!t->have_runs) {
		sl_log(SL_LOG_ERROR, -1, n->name,
		       "msg=\"the restored checkpoint's Kafka transaction was not known to be "
		       "committed and its snapshot (an earlier version) does not say where its "
		       "records are: they are NOT written again\" transactional_id=%s "
		       "checkpoint=%" PRIu64 " rows=%" PRIu64,
		       t->tid, t->id, t->records);
		return 0;
	}
	if (unsure)
		sl_log(SL_LOG_WARN, -1, n->name,
		       "msg=\"the earlier run died inside the commit of the restored checkpoint's "
		       "Kafka transaction; whether the broker committed it cannot be known here, "
		       "so its rows are produced again: if it had committed, read_committed "
		       "consumers see them twice (same event ids)\" transactional_id=%s "
		       "checkpoint=%" PRIu64 " rows=%" PRIu64,
		       t->tid, t->id, t->records);
	else
		sl_log(SL_LOG_WARN, -1, n->name,
		       "msg=\"the restored checkpoint's Kafka transaction was never committed "
		       "(fencing aborted it): producing its rows again\" transactional_id=%s "
		       "checkpoint=%" PRIu64 " rows=%" PRIu64,
		       t->tid, t->id, t->records);
	rc = reproduce(n, t, err, cap);
	if (rc < 0) {
		char e2[1024];
		snprintf(e2, sizeof(e2), "%s", err);
		snprintf(err, cap,
			 "sink '%s': checkpoint %" PRIu64 "'s Kafka transaction %s (%" PRIu64
			 " rows) was aborted by fencing and could not be produced again: %s",
			 n->name, t->id, t->tid, t->records, e2);
		txn_log(s,
			"\"ev\":\"recover_failed\",\"worker\":%u,\"tid\":\"%s\",\"ckpt\":%" PRIu64,
			t->worker, t->tid, t->id);
		return rc;
	}
	sl_log(SL_LOG_INFO, -1, n->name,
	       "msg=\"the restored checkpoint's Kafka rows were produced again and committed\" "
	       "transactional_id=%s-recover checkpoint=%" PRIu64 " rows=%" PRIu64,
	       t->tid, t->id, t->records);
	return 0;
}

/* The runs of a snapshot blob into t (have_runs false for a blob of an
 * earlier version, which ends before them). 0 or -EINVAL. */
static int read_runs(struct restored_txn *t, struct sl_snapread r)
{
	if (sl_snapread_done(&r))
		return 0;
	uint32_t n_topics = sl_snapread_u32(&r);
	if (r.bad || n_topics > KS_EPOCH_TOPICS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n_topics && !r.bad; i++) {
		char name[KS_TOPIC_MAX + 1];
		sl_snapread_str(&r, name, sizeof(name));
		if (!sl_growbuf_put(&t->rs.topics, name, strlen(name) + 1))
			return -ENOMEM;
	}
	t->rs.n_topics = n_topics;
	uint32_t n_runs = sl_snapread_u32(&r);
	if (r.bad || n_runs > KS_EPOCH_RUNS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n_runs && !r.bad; i++) {
		struct epoch_run run;
		run.topic = sl_snapread_u32(&r);
		run.partition = (int32_t)sl_snapread_u32(&r);
		run.first = (int64_t)sl_snapread_u64(&r);
		run.last = (int64_t)sl_snapread_u64(&r);
		if (run.topic >= n_topics || run.first > run.last || run.first < 0)
			return -EINVAL;
		if (!sl_growbuf_put(&t->rs.runs, &run, sizeof(run)))
			return -ENOMEM;
	}
	if (!sl_snapread_done(&r))
		return -EINVAL;
	t->have_runs = true;
	return 0;
}

static int ksink_commit(const struct sl_node *n, const struct sl_blob *blob, int phase, char *err,
			size_t cap)
{
	const struct ksink_conf *c = n->conf;
	struct ksink_shared *s = n->shared;
	if (c->delivery != DELIVERY_EXACTLY_ONCE || phase != SL_COMMIT_PUBLISH || blob->len == 0)
		return 0;
	struct sl_snapread r;
	sl_snapread_init(&r, blob->p, blob->len);
	uint32_t worker = sl_snapread_u32(&r);
	char tid[KS_TID_MAX];
	if (!sl_snapread_u8(&r)) {
		/* No transaction at that barrier. On a restore (no producer of
		 * this run yet) the id is still fenced: the earlier run may have
		 * opened one after the barrier, and with fewer workers now no
		 * worker's own init_transactions would end it. */
		if (r.bad || worker >= SL_MAX_WORKERS)
			return 0;
		pthread_mutex_lock(&s->lock);
		bool restoring = s->rk[worker] == NULL;
		pthread_mutex_unlock(&s->lock);
		if (!restoring)
			return 0;
		tid_of(tid, sizeof(tid), s->job, n->name, worker);
		struct restored_txn t = {.worker = worker, .tid = tid};
		return recover_txn(n, &t, err, cap);
	}
	sl_snapread_str(&r, tid, sizeof(tid));
	uint64_t id = sl_snapread_u64(&r);
	uint64_t records = sl_snapread_u64(&r);
	int64_t began_ns = (int64_t)sl_snapread_u64(&r);
	if (r.bad || worker >= SL_MAX_WORKERS) {
		snprintf(err, cap, "sink '%s': damaged transaction record", n->name);
		return -EINVAL;
	}
	const struct sl_snapread where = r; /* the runs (read on a restore only) */
	pthread_mutex_lock(&s->lock);
	rd_kafka_t *rk = s->rk[worker];
	if (!rk || s->await[worker] != id) {
		/* No producer of this run holds it: a restore. */
		pthread_mutex_unlock(&s->lock);
		if (rk) {
			snprintf(err, cap,
				 "sink '%s': worker %u's producer does not hold checkpoint %" PRIu64
				 "'s transaction",
				 n->name, worker, id);
			return -EINVAL;
		}
		struct restored_txn t = {.worker = worker, .tid = tid, .id = id, .records = records};
		int rc = read_runs(&t, where);
		if (rc == 0)
			rc = recover_txn(n, &t, err, cap);
		else
			snprintf(err, cap, "sink '%s': damaged transaction record (its offsets)",
				 n->name);
		run_set_free(&t.rs);
		return rc;
	}
	/* Durable before the call: a restore that finds "committing" without
	 * "committed" knows the process died inside it (the ambiguous case);
	 * without it, that the commit was never attempted. */
	struct journal j = journal_read(s, n->name, worker);
	j.committing = id;
	char jerr[4400];
	if (journal_write(s, n->name, worker, &j, jerr, sizeof(jerr)) < 0) {
		pthread_mutex_unlock(&s->lock);
		snprintf(err, cap,
			 "sink '%s': checkpoint %" PRIu64 ": cannot journal the commit of Kafka "
			 "transaction %s, so it is not committed (a restore produces its rows "
			 "again): %.3000s",
			 n->name, id, tid, jerr);
		return -EIO;
	}
	int rc = 0;
	char why[512] = "";
	for (int attempt = 0; attempt < KS_COMMIT_ATTEMPTS; attempt++) {
		if (sl_now_ns() - began_ns > c->transaction_timeout_ms * 1000000) {
			snprintf(why, sizeof(why),
				 "the transaction is older than transaction_timeout (%" PRId64
				 " ms): the broker may have aborted it",
				 c->transaction_timeout_ms);
			rc = -ETIMEDOUT;
			break;
		}
		rd_kafka_error_t *e = rd_kafka_commit_transaction(rk, 10000);
		if (!e) {
			rc = 0;
			break;
		}
		snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
		bool retry = rd_kafka_error_is_retriable(e) ||
			     rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__TIMED_OUT;
		rd_kafka_error_destroy(e);
		rc = -EIO;
		if (!retry)
			break;
	}
	if (rc == 0) {
		s->await[worker] = 0;
		txn_log(s, "\"ev\":\"commit\",\"worker\":%u,\"tid\":\"%s\",\"ckpt\":%" PRIu64
			   ",\"records\":%" PRIu64,
			worker, tid, id, records);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		txn_log(s, "\"ev\":\"commit_failed\",\"worker\":%u,\"tid\":\"%s\",\"ckpt\":%" PRIu64
			   ",\"records\":%" PRIu64,
			worker, tid, id, records);
		snprintf(err, cap,
			 "sink '%s': checkpoint %" PRIu64 " is durable but Kafka transaction %s "
			 "(%" PRIu64 " rows) could not be committed: %s — those rows are lost for "
			 "read_committed consumers",
			 n->name, id, tid, records, why);
		return rc;
	}
	/* The commit happened: a journal that cannot be written makes a later
	 * restore of this checkpoint treat the commit as uncertain (it then
	 * produces the rows again: duplicates, reported). */
	j.committed = id;
	if (journal_write(s, n->name, worker, &j, jerr, sizeof(jerr)) < 0) {
		char q[600];
		sl_log(SL_LOG_WARN, -1, n->name,
		       "msg=\"cannot record the commit in the journal\" reason=%s",
		       sl_log_quote(jerr, strlen(jerr), q, sizeof(q)));
	}
	return 0;
}

static const char *ksink_describe(const struct sl_node *n, char *buf, size_t cap)
{
	const struct ksink_conf *c = n->conf;
	snprintf(buf, cap, "Kafka %s%s (%s, %s)", c->topic ? "topic " : "topics from column ",
		 c->topic ? c->topic : c->topic_column, formats[c->format],
		 deliveries[c->delivery]);
	return buf;
}

const struct sl_plugin sl_plugin_kafka_sink = {
	.name = "kafka",
	.kind = SL_NODE_SINK,
	.summary = "Kafka topic(s): rows as JSON/CSV/change events, at-least-once (idempotent) "
		   "or exactly-once (a transaction per worker and checkpoint)",
	.options = ksink_options,
	.conf_bytes = sizeof(struct ksink_conf),
	.prepare = ksink_prepare,
	.release = ksink_release,
	.open = ksink_open,
	.close = ksink_close,
	.process = ksink_process,
	.tick = ksink_tick,
	.finish = ksink_finish,
	.describe = ksink_describe,
	.snapshot = ksink_snapshot,
	.commit = ksink_commit,
	.committed = ksink_committed,
};
