/* Source `kafka`: topics read by one librdkafka consumer per worker, driven through the
 * worker's io_uring (the consumer queue's event fd); positions in checkpoints. */
#include <inttypes.h>
#include <mimalloc.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "connectors/formats/format.h"
#include "connectors/kafka/conf.h"
#include "connectors/kafka/start.h"
#include "core/checkpoint.h"
#include "core/job.h"
#include "core/worker.h"
#include "state/snap.h"

/*
 * Two ways to own partitions (docs/architecture.md, "Kafka source"):
 *
 * Without `group:` the job assigns partitions itself: the topics' partitions
 * are listed once before start, sorted by (topic, partition), and the i-th
 * goes to worker i % workers. Positions (next offset per partition) are in
 * every checkpoint; a restore seeks there, with any worker count. Nothing is
 * committed to Kafka.
 *
 * With `group:` each worker's consumer is a member of the group and the
 * group assigns (eager protocol). With checkpoints on, a revoked partition
 * is handed over only once its final position is in a completed checkpoint
 * and committed to the group: the source stops emitting it, waits for the
 * next checkpoint to complete, commits, and only then unassigns. The next
 * owner starts at that committed offset, so nothing is lost or doubled.
 * After every completed checkpoint the positions it holds are committed
 * (asynchronously). Positions a checkpoint holds are a lower bound on
 * restore: records below them are skipped, whatever the group says.
 */

#define KAFKA_PARTITIONS_MAX 65536u
#define KAFKA_LOG_BURST 5u
/* How often a worker recomputes its lag (one lookup per partition). */
#define KAFKA_LAG_INTERVAL_NS 500000000ll
/* Logical offsets, as librdkafka spells them (a position not known yet). */
#define POS_UNKNOWN RD_KAFKA_OFFSET_INVALID

enum { KFMT_JSON, KFMT_DEBEZIUM, KFMT_CANAL, KFMT_MAXWELL, KFMT_OGG };
static const char *const kafka_formats[] = {"json",         "debezium-json", "canal-json",
					    "maxwell-json", "ogg-json",      NULL};
enum { STOP_NEVER, STOP_END };
static const char *const kafka_stops[] = {"never", "end", NULL};

enum { META_TOPIC, META_PARTITION, META_OFFSET, META_KEY, META_TIMESTAMP, META_HEADERS, META__N };
static const char *const meta_names[] = {"topic", "partition", "offset",
					 "key",   "timestamp", "headers"};
static const char *const meta_cols[] = {"kafka_topic", "kafka_partition", "kafka_offset",
					"kafka_key",   "kafka_timestamp", "kafka_headers"};
static const enum sl_type meta_types[] = {SL_T_STRING, SL_T_INT,	     SL_T_BIGINT,
					  SL_T_STRING, SL_T_TIMESTAMP_LTZ, SL_T_STRING};

struct kafka_conf {
	const char *brokers;
	struct sl_strlist topics;
	const char *group;
	const char *start;
	int stop_at;
	int format;
	const char *schema;
	struct sl_strlist metadata;
	struct sl_cfg_node *properties;
	int64_t startup_timeout_ms;
};

static const struct sl_option kafka_options[] = {
	{.name = "brokers", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct kafka_conf, brokers),
	 .help = "bootstrap servers, host:port[,host:port...]"},
	{.name = "topics", .type = SL_OPT_STRING_LIST, .required = true,
	 .offset = offsetof(struct kafka_conf, topics),
	 .help = "topic names; an item starting with ^ is a regular expression (POSIX ERE, "
		 "matched against every topic not starting with __)"},
	{.name = "group", .type = SL_OPT_STRING, .offset = offsetof(struct kafka_conf, group),
	 .help = "consumer group: the group assigns partitions (processes may join and leave) "
		 "and gets the offsets of every completed checkpoint; without it the job "
		 "assigns every partition itself (partition i of the sorted list to worker i % "
		 "workers) and commits nothing"},
	{.name = "start", .type = SL_OPT_STRING, .offset = offsetof(struct kafka_conf, start),
	 .help = "where a fresh start begins: earliest (default without group), latest, "
		 "timestamp:<ms>, offsets:<topic>:<partition>=<offset>,... (others at "
		 "earliest), or group (the group's committed offsets, else auto.offset.reset; "
		 "the only choice, and the default, with group:)"},
	{.name = "stop_at", .type = SL_OPT_ENUM, .def = "never", .choices = kafka_stops,
	 .offset = offsetof(struct kafka_conf, stop_at),
	 .help = "end: stop at the partitions' ends (high watermarks) as of start, then end "
		 "the source (bounded runs, tests, benchmarks; not with group:)"},
	{.name = "format", .type = SL_OPT_ENUM, .def = "json", .choices = kafka_formats,
	 .offset = offsetof(struct kafka_conf, format),
	 .help = "how message values are read (connectors/formats): json, debezium-json, "
		 "canal-json, maxwell-json, ogg-json; format options (ignore-parse-errors, ...) "
		 "go beside it"},
	{.name = "schema", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct kafka_conf, schema),
	 .help = "Flink SQL columns of the value, e.g. \"id INT NOT NULL, name STRING\" (the "
		 "format's METADATA FROM columns allowed)"},
	{.name = "metadata", .type = SL_OPT_STRING_LIST,
	 .offset = offsetof(struct kafka_conf, metadata),
	 .help = "record metadata as extra columns after the schema's: topic (kafka_topic "
		 "STRING), partition (kafka_partition INT), offset (kafka_offset BIGINT), key "
		 "(kafka_key STRING), timestamp (kafka_timestamp TIMESTAMP_LTZ(3)), headers "
		 "(kafka_headers STRING, a JSON object)"},
	{.name = "properties", .type = SL_OPT_NODE,
	 .offset = offsetof(struct kafka_conf, properties),
	 .help = "librdkafka consumer settings (map); a value may be {env: NAME} or {file: "
		 "PATH}; secrets never appear in logs or messages"},
	{.name = "startup_timeout", .type = SL_OPT_DURATION_MS, .def = "30s",
	 .offset = offsetof(struct kafka_conf, startup_timeout_ms), .min = 100,
	 .max = 3600000,
	 .help = "without group: how long to wait for the brokers' metadata and offsets before "
		 "start"},
	{0},
};

/* One partition a job without a group reads (prepared on the control thread). */
struct kafka_tp {
	char *topic;
	int32_t partition;
	int64_t start; /* first offset on a fresh start */
	int64_t end;   /* stop_at end: the high watermark at start; -1 otherwise */
};

struct kafka_shared {
	struct sl_format *fmt;
	struct sl_kafka_props props;
	bool group_mode;
	bool checkpoints;
	bool stop_at_end;
	uint32_t n_meta;
	uint8_t meta[META__N]; /* META_* in column order */
	uint32_t meta_col0;    /* first metadata column */
	uint32_t n_tps;
	struct kafka_tp *tps; /* without group: every partition */
	char **subscription;  /* with group: the topics list, NULL-terminated */
	uint32_t n_subscription;
};

/* ---- preparing ---- */

static const char *const *kafka_extra_keys(struct sl_cfg_node *map)
{
	static char names[64][96];
	static const char *list[65];
	uint32_t n = 0;
	struct sl_cfg_node *f = map ? sl_cfg_get(map, "format") : NULL;
	const char *const *opts =
		sl_format_option_names(f && f->type == SL_CFG_SCALAR ? f->str : "json");
	for (; opts && *opts && n + 3 <= 64; opts++) {
		snprintf(names[n], sizeof(names[n]), "%s", *opts);
		snprintf(names[n + 1], sizeof(names[n + 1]), "%s", *opts);
		for (char *p = names[n + 1]; *p; p++)
			if (*p == '-')
				*p = '_';
		snprintf(names[n + 2], sizeof(names[n + 2]), "%s.%s",
			 f && f->type == SL_CFG_SCALAR ? f->str : "json", *opts);
		for (uint32_t k = 0; k < 3; k++, n++)
			list[n] = names[n];
	}
	list[n] = NULL;
	return list;
}

static void kafka_release(struct sl_node *n)
{
	struct kafka_shared *s = n->shared;
	if (!s)
		return;
	sl_format_free(s->fmt);
	sl_kafka_props_free(&s->props);
	for (uint32_t i = 0; i < s->n_tps; i++)
		free(s->tps[i].topic);
	free(s->tps);
	for (uint32_t i = 0; i < s->n_subscription; i++)
		free(s->subscription[i]);
	free(s->subscription);
	free(s);
	n->shared = NULL;
}

/* Position of item i of `topics:` (or of the key). */
static struct sl_pos topic_pos(const struct sl_node *n, uint32_t i)
{
	struct sl_cfg_node *t = n->cfg ? sl_cfg_get(n->cfg, "topics") : NULL;
	if (t && t->type == SL_CFG_SEQ && i < t->n)
		return t->vals[i]->pos;
	return sl_node_pos_of(n, "topics");
}

static int tp_cmp(const void *a, const void *b)
{
	const struct kafka_tp *x = a, *y = b;
	int c = strcmp(x->topic, y->topic);
	return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

/* Without a group: lists the partitions of the matching topics and resolves
 * where each starts (and ends, for stop_at). Blocking calls to the brokers,
 * bounded by startup_timeout; control thread, before start. */
static int list_partitions(struct sl_node *n, struct kafka_shared *s, const struct kafka_conf *c,
			   const struct sl_kafka_start *start, struct sl_diag *d)
{
	char err[512];
	int rc = -EINVAL;
	int timeout = (int)c->startup_timeout_ms;
	struct sl_pos bpos = sl_node_pos_of(n, "brokers");
	regex_t *rx = calloc(c->topics.n, sizeof(*rx));
	bool *rx_ok = calloc(c->topics.n, sizeof(*rx_ok));
	bool *matched = calloc(c->topics.n, sizeof(*matched));
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_t *rk = NULL;
	if (!rx || !rx_ok || !matched) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < c->topics.n; i++) {
		const char *t = c->topics.v[i];
		if (t[0] == '^') {
			int e = regcomp(&rx[i], t, REG_EXTENDED | REG_NOSUB);
			if (e) {
				regerror(e, &rx[i], err, sizeof(err));
				rc = sl_diag_error(d, topic_pos(n, i),
						   "source '%s': bad topic pattern '%s': %s", n->name, t,
						   err);
				goto out;
			}
			rx_ok[i] = true;
		}
	}
	static const char *const last[] = {"enable.auto.commit", "false", NULL};
	rd_kafka_conf_t *conf = sl_kafka_conf(c->brokers, &s->props, NULL, last, n->name, err,
					      sizeof(err));
	if (!conf) {
		rc = sl_diag_error(d, sl_node_pos_of(n, "properties"), "source '%s': %s", n->name,
				   err);
		goto out;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(conf);
		rc = sl_diag_error(d, n->pos, "source '%s': cannot create a Kafka client: %s",
				   n->name, err);
		goto out;
	}
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout);
	if (e) {
		md = NULL;
		rc = sl_diag_error(d, bpos,
				   "source '%s': cannot read the topics from %s within %" PRId64
				   " ms (startup_timeout): %s",
				   n->name, c->brokers, c->startup_timeout_ms, rd_kafka_err2str(e));
		goto out;
	}
	uint32_t total = 0;
	for (int i = 0; i < md->topic_cnt; i++)
		total += (uint32_t)md->topics[i].partition_cnt;
	if (total > KAFKA_PARTITIONS_MAX)
		total = KAFKA_PARTITIONS_MAX;
	s->tps = calloc(total ? total : 1, sizeof(*s->tps));
	if (!s->tps) {
		rc = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < md->topic_cnt; i++) {
		const struct rd_kafka_metadata_topic *t = &md->topics[i];
		bool want = false;
		for (uint32_t k = 0; k < c->topics.n; k++) {
			bool m = rx_ok[k] ? strncmp(t->topic, "__", 2) != 0 &&
						    regexec(&rx[k], t->topic, 0, NULL, 0) == 0
					  : strcmp(t->topic, c->topics.v[k]) == 0;
			if (m)
				matched[k] = want = true;
		}
		if (!want)
			continue;
		if (t->err) {
			rc = sl_diag_error(d, bpos, "source '%s': topic %s: %s", n->name, t->topic,
					   rd_kafka_err2str(t->err));
			goto out;
		}
		for (int p = 0; p < t->partition_cnt; p++) {
			if (s->n_tps == total) {
				rc = sl_diag_error(d, sl_node_pos_of(n, "topics"),
						   "source '%s': more than %u partitions", n->name,
						   KAFKA_PARTITIONS_MAX);
				goto out;
			}
			struct kafka_tp *tp = &s->tps[s->n_tps++];
			tp->topic = strdup(t->topic);
			if (!tp->topic) {
				rc = -ENOMEM;
				goto out;
			}
			tp->partition = t->partitions[p].id;
			tp->end = -1;
		}
	}
	for (uint32_t k = 0; k < c->topics.n; k++) {
		if (!matched[k]) {
			rc = sl_diag_error(d, topic_pos(n, k),
					   rx_ok[k] ? "source '%s': no topic on %s matches '%s'"
						    : "source '%s': %s has no topic '%s'",
					   n->name, c->brokers, c->topics.v[k]);
			goto out;
		}
	}
	qsort(s->tps, s->n_tps, sizeof(*s->tps), tp_cmp);
	/* Every offsets: entry must name a partition that is read. */
	for (uint32_t k = 0; start->kind == SL_KAFKA_START_OFFSETS && k < start->n; k++) {
		bool found = false;
		for (uint32_t i = 0; i < s->n_tps && !found; i++)
			found = s->tps[i].partition == start->v[k].partition &&
				strcmp(s->tps[i].topic, start->v[k].topic) == 0;
		if (!found) {
			rc = sl_diag_error(d, sl_node_pos_of(n, "start"),
					   "source '%s': start names %s:%d, which the source does not "
					   "read",
					   n->name, start->v[k].topic, (int)start->v[k].partition);
			goto out;
		}
	}
	/* Concrete offsets for every partition, so a checkpoint never holds a
	 * logical one ("latest" must not move on a restore). */
	rd_kafka_topic_partition_list_t *times = NULL;
	if (start->kind == SL_KAFKA_START_TIMESTAMP) {
		times = rd_kafka_topic_partition_list_new((int)s->n_tps);
		for (uint32_t i = 0; i < s->n_tps; i++)
			rd_kafka_topic_partition_list_add(times, s->tps[i].topic,
							  s->tps[i].partition)
				->offset = start->timestamp_ms;
		e = rd_kafka_offsets_for_times(rk, times, timeout);
		if (e) {
			rd_kafka_topic_partition_list_destroy(times);
			rc = sl_diag_error(d, sl_node_pos_of(n, "start"),
					   "source '%s': cannot look up offsets by timestamp: %s",
					   n->name, rd_kafka_err2str(e));
			goto out;
		}
	}
	for (uint32_t i = 0; i < s->n_tps; i++) {
		struct kafka_tp *tp = &s->tps[i];
		int64_t lo, hi;
		e = rd_kafka_query_watermark_offsets(rk, tp->topic, tp->partition, &lo, &hi,
						     timeout);
		if (e) {
			if (times)
				rd_kafka_topic_partition_list_destroy(times);
			rc = sl_diag_error(d, bpos,
					   "source '%s': cannot read the offsets of %s/%d: %s",
					   n->name, tp->topic, (int)tp->partition, rd_kafka_err2str(e));
			goto out;
		}
		switch (start->kind) {
		case SL_KAFKA_START_LATEST:
			tp->start = hi;
			break;
		case SL_KAFKA_START_TIMESTAMP: {
			rd_kafka_topic_partition_t *r =
				rd_kafka_topic_partition_list_find(times, tp->topic, tp->partition);
			tp->start = r && r->offset >= 0 && !r->err ? r->offset : hi;
			break;
		}
		case SL_KAFKA_START_OFFSETS: {
			int64_t o = sl_kafka_start_offset_of(start, tp->topic, tp->partition);
			tp->start = o < 0 ? lo : o;
			break;
		}
		default:
			tp->start = lo;
			break;
		}
		if (s->stop_at_end)
			tp->end = hi;
	}
	if (times)
		rd_kafka_topic_partition_list_destroy(times);
	rc = 0;
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	if (rk)
		rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
	for (uint32_t i = 0; rx && rx_ok && i < c->topics.n; i++)
		if (rx_ok[i])
			regfree(&rx[i]);
	free(rx);
	free(rx_ok);
	free(matched);
	return rc;
}

static int kafka_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct kafka_conf *c = n->conf;
	struct kafka_shared *s = calloc(1, sizeof(*s));
	struct sl_kafka_start start = {0};
	char err[512];
	int rc = 0;
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->group_mode = c->group != NULL;
	s->checkpoints = job->ckpt != NULL;
	s->stop_at_end = c->stop_at == STOP_END;

	struct sl_pos spos = sl_node_pos_of(n, "start");
	const char *start_text = c->start ? c->start : s->group_mode ? "group" : "earliest";
	rc = sl_kafka_start_parse(start_text, &start, err, sizeof(err));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return sl_diag_error(d, spos, "source '%s': start: %s", n->name, err);
	if (c->group && (c->group[0] == '\0' || strlen(c->group) > 255)) {
		rc = sl_diag_error(d, sl_node_pos_of(n, "group"),
				   "source '%s': group must be 1..255 characters", n->name);
		goto out;
	}
	if (s->group_mode && start.kind != SL_KAFKA_START_GROUP) {
		rc = sl_diag_error(d, spos,
				   "source '%s': with group:, partitions start at the group's "
				   "committed offsets (start: group; set auto.offset.reset under "
				   "properties: for partitions without one)",
				   n->name);
		goto out;
	}
	if (!s->group_mode && start.kind == SL_KAFKA_START_GROUP) {
		rc = sl_diag_error(d, spos, "source '%s': start: group needs group:", n->name);
		goto out;
	}
	if (s->group_mode && s->stop_at_end) {
		rc = sl_diag_error(d, sl_node_pos_of(n, "stop_at"),
				   "source '%s': stop_at: end needs the job to assign partitions "
				   "(remove group:): a group's assignment changes while it runs",
				   n->name);
		goto out;
	}
	if (c->topics.n == 0) {
		rc = sl_diag_error(d, sl_node_pos_of(n, "topics"), "source '%s': no topics",
				   n->name);
		goto out;
	}
	for (uint32_t i = 0; i < c->topics.n; i++) {
		const char *t = c->topics.v[i];
		if (t[0] != '^' && !sl_kafka_topic_valid(t, strlen(t))) {
			rc = sl_diag_error(d, topic_pos(n, i),
					   "source '%s': '%s' is not a topic name (1..249 of A-Z a-z "
					   "0-9 . _ -; a pattern starts with ^)",
					   n->name, t);
			goto out;
		}
		if (t[0] == '^') {
			regex_t rx;
			int e = regcomp(&rx, t, REG_EXTENDED | REG_NOSUB);
			if (e) {
				regerror(e, &rx, err, sizeof(err));
				rc = sl_diag_error(d, topic_pos(n, i),
						   "source '%s': bad topic pattern '%s': %s", n->name, t,
						   err);
				goto out;
			}
			regfree(&rx);
		}
	}

	/* The value's columns, then the metadata the job asked for. */
	struct sl_sqlschema sq;
	struct sl_cfg_node *sn = sl_cfg_get(n->cfg, "schema");
	if (sl_sqlschema_parse(c->schema, strlen(c->schema), sl_node_pos_of(n, "schema"),
			       sn && sn->quoted, &sq, d) < 0) {
		rc = -EINVAL;
		goto out;
	}
	s->fmt = sl_format_new(kafka_formats[c->format], &sq, n->cfg, NULL, d);
	if (!s->fmt) {
		rc = -EINVAL;
		goto out;
	}
	n->schema = *sl_format_schema(s->fmt);
	n->changelog = sl_format_is_changelog(s->fmt);
	s->meta_col0 = n->schema.n_fields;
	for (uint32_t i = 0; i < c->metadata.n; i++) {
		uint32_t k;
		for (k = 0; k < META__N && strcmp(c->metadata.v[i], meta_names[k]) != 0; k++)
			;
		struct sl_pos mpos = sl_node_pos_of(n, "metadata");
		if (k == META__N) {
			rc = sl_diag_error(d, mpos,
					   "source '%s': metadata: unknown '%s' (topic, partition, "
					   "offset, key, timestamp, headers)",
					   n->name, c->metadata.v[i]);
			goto out;
		}
		int ar = sl_schema_add(&n->schema, meta_cols[k], meta_types[k], k != META_KEY &&
						     k != META_HEADERS);
		if (ar < 0) {
			rc = sl_diag_error(d, mpos, "source '%s': metadata: %s: %s", n->name,
					   meta_names[k],
					   ar == -EEXIST ? "listed twice, or the schema has a column "
							   "of that name"
					   : ar == -ENOSPC ? "too many columns"
							   : "cannot add the column");
			goto out;
		}
		if (k == META_TIMESTAMP)
			n->schema.fields[n->schema.n_fields - 1].precision = 3;
		s->meta[s->n_meta++] = (uint8_t)k;
	}

	char who[SL_NAME_MAX + 16];
	snprintf(who, sizeof(who), "source '%s'", n->name);
	rc = sl_kafka_props_read(job->doc, c->properties, who, &s->props, d);
	if (rc < 0)
		goto out;
	for (uint32_t i = 0; i < s->props.n; i++) {
		static const char *const owned[] = {"group.id", "bootstrap.servers",
						    "enable.partition.eof",
						    "partition.assignment.strategy", NULL};
		for (const char *const *o = owned; *o; o++)
			if (strcmp(s->props.v[i].key, *o) == 0) {
				rc = sl_diag_error(d, s->props.v[i].pos,
						   "source '%s': properties: %s is set by the source "
						   "(brokers:, group:, stop_at:, its rebalance protocol)",
						   n->name, *o);
				goto out;
			}
	}
	if (s->group_mode && job->ckpt) {
		/* A revoked partition waits for the next checkpoint; the group waits
		 * for the member that long, up to max.poll.interval.ms. */
		const char *v = sl_kafka_props_get(&s->props, "max.poll.interval.ms");
		int64_t mpi = v ? strtoll(v, NULL, 10) : 300000;
		int64_t need = 2 * job->ckpt->interval_ms + 10000;
		if (mpi < need) {
			rc = sl_diag_error(d, sl_node_pos_of(n, "group"),
					   "source '%s': a revoked partition is handed over after the "
					   "next checkpoint: max.poll.interval.ms (%" PRId64
					   ") must be at least twice the checkpoint interval plus 10 s "
					   "(%" PRId64 ")",
					   n->name, mpi, need);
			goto out;
		}
	}
	if (s->group_mode) {
		s->subscription = calloc(c->topics.n, sizeof(char *));
		if (!s->subscription) {
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < c->topics.n; i++) {
			s->subscription[i] = strdup(c->topics.v[i]);
			if (!s->subscription[i]) {
				rc = -ENOMEM;
				goto out;
			}
			s->n_subscription++;
		}
	} else {
		rc = list_partitions(n, s, c, &start, d);
	}
out:
	sl_kafka_start_free(&start);
	return rc;
}

/* ---- per worker ---- */

struct kafka_part {
	char *topic; /* mi_malloc'd */
	int32_t partition;
	int64_t pos;     /* next offset to emit, or POS_UNKNOWN */
	int64_t start;   /* without group: where this run began (progress) */
	int64_t end;     /* stop_at: the end; -1: none */
	int64_t ck_pos;  /* pos at the last snapshot */
	bool assigned;
	bool revoking; /* group: handed over once a checkpoint holds pos */
	bool done;     /* stop_at: reached the end */
};

struct kafka_state {
	struct sl_worker *w;
	struct sl_nodeinst *ni;
	rd_kafka_t *rk;
	rd_kafka_queue_t *q;
	struct sl_decoder *dec;

	int efd; /* the consumer queue's wake-up: readable when it gets something */
	uint64_t ebuf;
	struct sl_io ev_io;
	bool ev_armed;
	bool ev_fired;

	struct kafka_part *parts;
	uint32_t n_parts, cap_parts;
	uint32_t n_done;
	const rd_kafka_topic_t *cache_rkt; /* last message's partition */
	int32_t cache_partition;
	uint32_t cache_idx;

	rd_kafka_message_t *msgs[SL_BATCH_ROWS]; /* fetched, not yet taken */
	uint32_t m_head, m_n;
	bool need_assign;

	uint64_t ck_id; /* checkpoint whose positions ck_pos are */
	/* Group: a revocation waits for a checkpoint newer than revoke_after,
	 * then for the commit of its positions (commit number revoke_commit). */
	bool revoke_pending;
	uint64_t revoke_after;
	uint64_t revoke_commit;
	uint64_t commits_sent, commits_done;
	bool closing;

	int fatal;
	char fatal_msg[768];
	struct sl_ratelimit rl;
	int64_t lag_at_ns; /* last lag update */
	char errbuf[1024];
};

static struct kafka_part *part_find(struct kafka_state *st, const char *topic, int32_t partition)
{
	for (uint32_t i = 0; i < st->n_parts; i++)
		if (st->parts[i].partition == partition && strcmp(st->parts[i].topic, topic) == 0)
			return &st->parts[i];
	return NULL;
}

/* Adds a partition this worker knows of (at open, restore or assignment: never per record). */
static struct kafka_part *part_add(struct kafka_state *st, const char *topic, int32_t partition)
{
	SL_ASSERT(topic && partition >= 0);
	struct kafka_part *p = part_find(st, topic, partition);
	if (p)
		return p;
	if (st->n_parts == st->cap_parts) {
		uint32_t cap = st->cap_parts ? st->cap_parts * 2 : 16;
		if (cap > KAFKA_PARTITIONS_MAX)
			return NULL;
		struct kafka_part *v = mi_realloc(st->parts, cap * sizeof(*v));
		if (!v)
			return NULL;
		st->parts = v;
		st->cap_parts = cap;
	}
	p = &st->parts[st->n_parts];
	memset(p, 0, sizeof(*p));
	p->topic = mi_strdup(topic);
	if (!p->topic)
		return NULL;
	p->partition = partition;
	p->pos = p->ck_pos = POS_UNKNOWN;
	p->end = -1;
	st->n_parts++;
	st->cache_rkt = NULL; /* parts may have moved */
	return p;
}

static struct kafka_part *part_of(struct kafka_state *st, const rd_kafka_message_t *m)
{
	if (m->rkt == st->cache_rkt && m->partition == st->cache_partition)
		return &st->parts[st->cache_idx];
	struct kafka_part *p = part_find(st, rd_kafka_topic_name(m->rkt), m->partition);
	if (p) {
		st->cache_rkt = m->rkt;
		st->cache_partition = m->partition;
		st->cache_idx = (uint32_t)(p - st->parts);
	}
	return p;
}

static void kafka_log_warn(struct kafka_state *st, const char *what, const char *reason)
{
	uint64_t sup;
	char q[600];
	if (sl_ratelimit_ok(&st->rl, &sup))
		sl_log(SL_LOG_WARN, (int)st->w->id, st->ni->node->name,
		       "msg=\"%s\" reason=%s suppressed=%" PRIu64, what,
		       sl_log_quote(reason, strlen(reason), q, sizeof(q)), sup);
}

static void set_fatal(struct kafka_state *st, const char *fmt, const char *reason)
{
	if (st->fatal)
		return;
	st->fatal = -EIO;
	snprintf(st->fatal_msg, sizeof(st->fatal_msg), fmt, reason);
}

/* librdkafka callbacks: served on the worker thread, inside consume calls
 * (or inside rd_kafka_consumer_close at the end). */
static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kafka_state *st = opaque;
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		char why[512];
		rd_kafka_fatal_error(rk, why, sizeof(why));
		set_fatal(st, "Kafka consumer failed: %s", why);
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
		/* librdkafka would retry forever; a wrong credential is a
		 * configuration error (reason: librdkafka's, never the secret). */
		set_fatal(st, "Kafka authentication failed: %s", reason);
		return;
	}
	/* Brokers down, timeouts: librdkafka reconnects; we wait. */
	kafka_log_warn(st,
		       err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN
			       ? "every Kafka broker is unreachable: waiting, librdkafka reconnects"
			       : "Kafka client error: waiting, librdkafka retries",
		       reason);
}

static void unassign_all(struct kafka_state *st)
{
	rd_kafka_resp_err_t e = rd_kafka_assign(st->rk, NULL);
	if (e)
		kafka_log_warn(st, "cannot give up the assignment", rd_kafka_err2str(e));
	for (uint32_t i = 0; i < st->n_parts; i++)
		st->parts[i].assigned = st->parts[i].revoking = false;
	st->revoke_pending = false;
	st->cache_rkt = NULL;
}

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
			 rd_kafka_topic_partition_list_t *parts, void *opaque)
{
	struct kafka_state *st = opaque;
	SL_ASSERT(st && st->w && st->ni);
	const struct kafka_shared *s = st->ni->node->shared;
	SL_ASSERT(s->group_mode);
	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		for (int i = 0; i < parts->cnt; i++) {
			struct kafka_part *p = part_add(st, parts->elems[i].topic,
							parts->elems[i].partition);
			if (!p) {
				set_fatal(st, "%s", "too many partitions (or out of memory)");
				return;
			}
			p->assigned = true;
			p->revoking = false;
			/* The group's committed offset; records below a position a
			 * restored checkpoint holds are skipped as they arrive. */
			parts->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
		}
		st->cache_rkt = NULL;
		rd_kafka_resp_err_t e = rd_kafka_assign(rk, parts);
		if (e)
			set_fatal(st, "cannot take the group's assignment: %s", rd_kafka_err2str(e));
		/* A partition paused at its last revocation stays paused otherwise. */
		rd_kafka_resume_partitions(rk, parts);
		sl_log(SL_LOG_INFO, (int)st->w->id, st->ni->node->name,
		       "msg=\"partitions assigned by the group\" partitions=%d", parts->cnt);
		return;
	}
	if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || st->closing || !s->checkpoints) {
		/* Without checkpoints auto commit covers what was read; when
		 * closing, the final checkpoint's commit already went out. */
		unassign_all(st);
		return;
	}
	if (rd_kafka_assignment_lost(rk)) {
		/* Kicked out (session or poll timeout): the group gave the
		 * partitions away already and would refuse our commit. */
		kafka_log_warn(st, "the group took the partitions away without a hand-over",
			       "their next owner starts at the last committed offsets and may "
			       "read records this process emitted after them again");
		unassign_all(st);
		return;
	}
	/* Stop emitting the revoked partitions now; hand them over once a
	 * checkpoint taken from here on holds their positions and they are
	 * committed (kafka_committed, then on_commit). */
	for (int i = 0; i < parts->cnt; i++) {
		struct kafka_part *p = part_find(st, parts->elems[i].topic, parts->elems[i].partition);
		if (p)
			p->revoking = true;
	}
	rd_kafka_pause_partitions(rk, parts);
	st->revoke_pending = true;
	st->revoke_after = st->w->ckpt_seen;
	st->revoke_commit = 0;
	sl_log(SL_LOG_INFO, (int)st->w->id, st->ni->node->name,
	       "msg=\"partitions revoked: handed over after the next checkpoint\" partitions=%d",
	       parts->cnt);
}

static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
		      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
	(void)rk;
	(void)offsets;
	struct kafka_state *st = opaque;
	const struct kafka_shared *s = st->ni->node->shared;
	st->commits_done++;
	if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET)
		kafka_log_warn(st, st->revoke_pending && st->revoke_commit
					   ? "cannot commit the revoked partitions' offsets: their next "
					     "owner may read records again"
				   : s->checkpoints
					   ? "cannot commit offsets to the group (the next checkpoint "
					     "commits again; the checkpoint holds the positions)"
					   : "cannot commit offsets to the group (auto commit retries)",
			       rd_kafka_err2str(err));
	if (st->revoke_pending && st->revoke_commit && st->commits_done >= st->revoke_commit)
		unassign_all(st);
}

static void ev_done(struct sl_worker *w, struct sl_io *io, int res)
{
	(void)res;
	struct kafka_state *st = (struct kafka_state *)((char *)io - offsetof(struct kafka_state,
									       ev_io));
	w->inflight_io--;
	st->ev_armed = false;
	st->ev_fired = true;
}

/* Sleeps on the consumer queue: its event fd becomes readable when the
 * queue gets anything (records, errors, rebalances, commit results). */
static void ev_arm(struct sl_worker *w, struct kafka_state *st)
{
	if (st->ev_armed)
		return;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_poll_add(sqe, st->efd, POLLIN);
	io_uring_sqe_set_data(sqe, &st->ev_io);
	w->inflight_io++;
	st->ev_armed = true;
}

static void ev_cancel(struct sl_worker *w, struct kafka_state *st)
{
	if (!st->ev_armed)
		return;
	struct io_uring_sqe *c = sl_worker_sqe(w);
	io_uring_prep_poll_remove(c, (__u64)(uintptr_t)&st->ev_io);
	io_uring_sqe_set_data(c, NULL);
	while (st->ev_armed)
		if (sl_worker_wait_io(w) < 0)
			break;
}

static int kafka_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct kafka_shared *s = ni->node->shared;
	const struct kafka_conf *c = ni->node->conf;
	struct kafka_state *st = mi_zalloc(sizeof(*st));
	char err[512];
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->w = w;
	st->ni = ni;
	st->efd = -1;
	st->rl.burst = KAFKA_LOG_BURST;
	st->ev_io.done = ev_done;
	sl_worker_source_lag(ni, SL_LAG_RECORDS, 0);
	st->dec = sl_decoder_new(s->fmt);
	if (!st->dec)
		return -ENOMEM;
	st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (st->efd < 0)
		return -errno;

	/* The consumer. */
	/* queued.min.messages: librdkafka 2.0 counts the consumer queue that every
	 * partition forwards to against this per-partition threshold, so with
	 * many partitions fetching stalled at the default (100000) while the
	 * worker sat idle; memory stays bounded by queued.max.messages.kbytes. */
	static const char *const first[] = {"auto.offset.reset",    "earliest",
					    "log.connection.close", "false",
					    "queued.min.messages",  "1000000", NULL};
	/* Without a group, a group.id all the same: librdkafka's consumer queue and
	 * assign() need one; it never joins (no subscribe) and commits nothing. */
	char static_group[SL_NAME_MAX + 32];
	snprintf(static_group, sizeof(static_group), "sluice-assign-%s", ni->node->name);
	const char *last_static[] = {"group.id", static_group,
				     "enable.auto.commit",   "false",
				     "enable.auto.offset.store", "false",
				     "enable.partition.eof", s->stop_at_end ? "true" : "false",
				     NULL};
	const char *last_group[] = {"group.id",
				    c->group,
				    "enable.auto.commit",
				    s->checkpoints ? "false" : "true",
				    "enable.partition.eof",
				    "false",
				    "partition.assignment.strategy",
				    "range,roundrobin",
				    NULL};
	rd_kafka_conf_t *conf =
		sl_kafka_conf(c->brokers, &s->props, first,
			      s->group_mode ? last_group : last_static, ni->node->name, err,
			      sizeof(err));
	if (!conf) {
		sl_worker_fail(w, ni, -EINVAL, "Kafka configuration: %s", err);
		return -EINVAL;
	}
	rd_kafka_conf_set_opaque(conf, st);
	rd_kafka_conf_set_error_cb(conf, on_error);
	if (s->group_mode) {
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
		rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
	}
	st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (!st->rk) {
		rd_kafka_conf_destroy(conf);
		sl_worker_fail(w, ni, -EINVAL, "cannot create a Kafka consumer: %s", err);
		return -EINVAL;
	}
	/* Everything (errors, rebalances, commit results) through one queue. */
	rd_kafka_poll_set_consumer(st->rk);
	st->q = rd_kafka_queue_get_consumer(st->rk);
	if (!st->q) {
		sl_worker_fail(w, ni, -EINVAL, "the Kafka consumer has no queue");
		return -EINVAL;
	}
	static const uint64_t one = 1;
	rd_kafka_queue_io_event_enable(st->q, st->efd, &one, sizeof(one));

	if (s->group_mode) {
		rd_kafka_topic_partition_list_t *sub =
			rd_kafka_topic_partition_list_new((int)s->n_subscription);
		for (uint32_t i = 0; i < s->n_subscription; i++)
			rd_kafka_topic_partition_list_add(sub, s->subscription[i],
							  RD_KAFKA_PARTITION_UA);
		rd_kafka_resp_err_t e = rd_kafka_subscribe(st->rk, sub);
		rd_kafka_topic_partition_list_destroy(sub);
		if (e) {
			sl_worker_fail(w, ni, -EINVAL, "cannot subscribe: %s", rd_kafka_err2str(e));
			return -EINVAL;
		}
		return 0;
	}
	/* Without a group: partition i of the sorted list is worker i % n's. */
	uint64_t total = 0;
	for (uint32_t i = w->id; i < s->n_tps; i += w->n_workers) {
		const struct kafka_tp *tp = &s->tps[i];
		struct kafka_part *p = part_add(st, tp->topic, tp->partition);
		if (!p)
			return -ENOMEM;
		p->pos = p->ck_pos = p->start = tp->start;
		p->end = tp->end;
		if (tp->end > tp->start)
			total += (uint64_t)(tp->end - tp->start);
	}
	if (s->stop_at_end)
		sl_counter_add(&w->m->progress_total, total);
	st->need_assign = true; /* at the first poll: a restore may move positions */
	return 0;
}

static void kafka_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct kafka_state *st = ni->state;
	const struct kafka_shared *s = ni->node->shared;
	if (!st)
		return;
	ev_cancel(w, st);
	for (uint32_t i = st->m_head; i < st->m_n; i++)
		rd_kafka_message_destroy(st->msgs[i]);
	st->m_head = st->m_n = 0;
	if (st->q) {
		rd_kafka_queue_io_event_enable(st->q, -1, NULL, 0);
		rd_kafka_queue_destroy(st->q);
	}
	if (st->rk) {
		st->closing = true;
		if (s->group_mode) {
			/* Leaves the group (serving the revocation here) after the
			 * commits in flight. */
			rd_kafka_consumer_close(st->rk);
			rd_kafka_destroy(st->rk);
		} else {
			rd_kafka_destroy_flags(st->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
		}
	}
	if (st->efd >= 0)
		close(st->efd);
	sl_decoder_free(st->dec);
	for (uint32_t i = 0; i < st->n_parts; i++)
		mi_free(st->parts[i].topic);
	mi_free(st->parts);
	mi_free(st);
	ni->state = NULL;
}

/* Without a group: seeks this worker's partitions to their positions. */
static int assign_static(struct sl_worker *w, struct sl_nodeinst *ni, struct kafka_state *st)
{
	SL_ASSERT(!((const struct kafka_shared *)ni->node->shared)->group_mode);
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)st->n_parts);
	for (uint32_t i = 0; i < st->n_parts; i++) {
		struct kafka_part *p = &st->parts[i];
		if (p->end >= 0 && p->pos >= p->end) {
			p->done = true;
			st->n_done++;
			continue;
		}
		rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset = p->pos;
		p->assigned = true;
	}
	rd_kafka_resp_err_t e = rd_kafka_assign(st->rk, l);
	rd_kafka_topic_partition_list_destroy(l);
	if (e) {
		sl_worker_fail(w, ni, -EIO, "cannot assign partitions: %s", rd_kafka_err2str(e));
		return -EIO;
	}
	return 0;
}

static void part_finished(struct kafka_state *st, struct kafka_part *p)
{
	if (p->done)
		return;
	p->done = true;
	st->n_done++;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
	rd_kafka_pause_partitions(st->rk, l); /* stop fetching what we would drop */
	rd_kafka_topic_partition_list_destroy(l);
}

/* Writes s as the inside of a JSON string into dst; -1 if cap is too small. */
static ssize_t json_escape(char *dst, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			if (o + 2 > cap)
				return -1;
			dst[o++] = '\\';
			dst[o++] = (char)ch;
		} else if (ch < 0x20) {
			if (o + 6 > cap)
				return -1;
			memcpy(dst + o, "\\u00", 4);
			dst[o + 4] = hex[ch >> 4];
			dst[o + 5] = hex[ch & 15];
			o += 6;
		} else {
			if (o + 1 > cap)
				return -1;
			dst[o++] = (char)ch;
		}
	}
	return (ssize_t)o;
}

/* The headers as a JSON object into the batch heap; false if it is full. */
static bool set_headers(struct sl_batch *b, uint32_t col, uint32_t r, rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs = NULL;
	if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs)
		return true; /* none: null */
	char *out = b->heap + b->heap_len;
	size_t cap = sl_batch_heap_free(b), o = 0;
	const char *name;
	const void *val;
	size_t size;
	if (cap < 2)
		return false;
	out[o++] = '{';
	for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
		if (i && o < cap)
			out[o++] = ',';
		if (o + 1 > cap)
			return false;
		out[o++] = '"';
		ssize_t k = json_escape(out + o, cap - o, name, strlen(name));
		if (k < 0 || o + (size_t)k + 2 > cap)
			return false;
		o += (size_t)k;
		out[o++] = '"';
		out[o++] = ':';
		if (!val) {
			if (o + 4 > cap)
				return false;
			memcpy(out + o, "null", 4);
			o += 4;
			continue;
		}
		if (o + 1 > cap)
			return false;
		out[o++] = '"';
		k = json_escape(out + o, cap - o, val, size);
		if (k < 0 || o + (size_t)k + 1 > cap)
			return false;
		o += (size_t)k;
		out[o++] = '"';
	}
	if (o + 1 > cap)
		return false;
	out[o++] = '}';
	b->cols[col].v[r].s.off = b->heap_len;
	b->cols[col].v[r].s.len = (uint32_t)o;
	b->heap_len += (uint32_t)o;
	sl_batch_set_valid(b, col, r, true);
	return true;
}

/* The metadata columns of rows [r0, b->n_rows); false if the heap is full. */
static bool set_meta(const struct kafka_shared *s, struct sl_batch *b, uint32_t r0,
		     rd_kafka_message_t *m, const struct kafka_part *p, int64_t ts)
{
	for (uint32_t r = r0; r < b->n_rows; r++) {
		b->event_ms[r] = ts;
		for (uint32_t k = 0; k < s->n_meta; k++) {
			uint32_t col = s->meta_col0 + k;
			bool ok = true;
			switch (s->meta[k]) {
			case META_TOPIC:
				ok = sl_batch_set_str(b, col, r, p->topic, strlen(p->topic));
				break;
			case META_PARTITION:
				sl_batch_set_i(b, col, r, m->partition);
				break;
			case META_OFFSET:
				sl_batch_set_i(b, col, r, m->offset);
				break;
			case META_KEY:
				if (m->key)
					ok = sl_batch_set_str(b, col, r, m->key, m->key_len);
				break;
			case META_TIMESTAMP:
				sl_batch_set_i(b, col, r, ts);
				break;
			case META_HEADERS:
				ok = set_headers(b, col, r, m);
				break;
			}
			if (!ok)
				return false;
		}
	}
	return true;
}

/* Rolls rows [r0, n_rows) back (metadata did not fit). */
static void drop_rows(struct sl_batch *b, uint32_t r0, uint32_t heap0)
{
	for (uint32_t r = r0; r < b->n_rows; r++)
		for (uint32_t c = 0; c < b->n_cols; c++)
			sl_batch_set_valid(b, c, r, false);
	b->n_rows = r0;
	b->heap_len = heap0;
}

static void bad_record(struct sl_worker *w, struct sl_nodeinst *ni, const struct kafka_part *p,
		       const rd_kafka_message_t *m, const char *reason)
{
	char where[SL_KAFKA_TOPIC_MAX + 48];
	snprintf(where, sizeof(where), "%s/%d@%" PRId64, p->topic, (int)m->partition, m->offset);
	sl_worker_bad_input(w, ni, where, reason, m->payload ? m->payload : "",
			    m->payload ? m->len : 0);
}

/* Takes one fetched message into b. 0: taken (or skipped), -ENOBUFS: b is
 * full, send it and call again with this message. */
static int take(struct sl_worker *w, struct sl_nodeinst *ni, struct kafka_state *st,
		struct sl_batch *b, rd_kafka_message_t *m)
{
	const struct kafka_shared *s = ni->node->shared;
	SL_ASSERT(m && b->n_rows < SL_BATCH_ROWS);
	if (m->err) {
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			struct kafka_part *p = m->rkt ? part_of(st, m) : NULL;
			if (p && p->assigned && p->end >= 0 && m->offset >= p->end)
				part_finished(st, p);
			return 0;
		}
		const char *why = rd_kafka_message_errstr(m);
		bool fatal = m->err == RD_KAFKA_RESP_ERR__FATAL ||
			     m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
			     m->err == RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED ||
			     m->err == RD_KAFKA_RESP_ERR__AUTHENTICATION;
		if (fatal)
			set_fatal(st, "Kafka consumer failed: %s", why);
		else
			kafka_log_warn(st, "Kafka consumer error: waiting, librdkafka retries", why);
		return 0;
	}
	struct kafka_part *p = part_of(st, m);
	if (SL_UNLIKELY(!p || !p->assigned || p->revoking || p->done))
		return 0; /* fetched before a pause or hand-over: its next owner reads it */
	if (p->pos >= 0 && m->offset < p->pos)
		return 0; /* a checkpoint says it was emitted already */
	if (p->end >= 0 && m->offset >= p->end) {
		part_finished(st, p);
		return 0;
	}
	if (!s->group_mode && p->pos >= 0 && m->offset > p->pos) {
		char why[160];
		snprintf(why, sizeof(why), "%s/%d: offsets %" PRId64 "..%" PRId64 " are gone",
			 p->topic, (int)p->partition, p->pos, m->offset - 1);
		kafka_log_warn(st, "records deleted by retention before they were read", why);
	}
	uint32_t r0 = b->n_rows, heap0 = b->heap_len;
	int dr = sl_decoder_decode(st->dec, m->payload, m->payload ? m->len : 0, false, b,
				   w->now_ns, st->errbuf, sizeof(st->errbuf));
	if (dr == -ENOBUFS && r0 > 0)
		return -ENOBUFS;
	rd_kafka_timestamp_type_t tst;
	int64_t ts = rd_kafka_message_timestamp(m, &tst);
	if (tst == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
		ts = INT64_MIN;
	if (dr > 0 && !set_meta(s, b, r0, m, p, ts)) {
		drop_rows(b, r0, heap0);
		if (r0 > 0)
			return -ENOBUFS;
		dr = -E2BIG;
		snprintf(st->errbuf, sizeof(st->errbuf), "record with its metadata larger than a batch");
	}
	if (dr == -EINVAL && sl_format_ignore_parse_errors(s->fmt))
		dr = 0; /* as Flink: dropped */
	else if (dr < 0)
		bad_record(w, ni, p, m,
			   dr == -ENOBUFS ? "message yields more rows than one batch holds"
					  : st->errbuf);
	if (s->stop_at_end)
		sl_counter_add(&w->m->progress_done, (uint64_t)(m->offset + 1 - SL_MAX(p->pos, 0)));
	p->pos = m->offset + 1;
	if (p->end >= 0 && p->pos >= p->end)
		part_finished(st, p);
	return 0;
}

static int kafka_poll(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct kafka_shared *s = ni->node->shared;
	struct kafka_state *st = ni->state;
	if (st->need_assign) {
		st->need_assign = false;
		int rc = assign_static(w, ni, st);
		if (rc < 0)
			return rc;
	}
	if (st->fatal) {
		sl_worker_fail(w, ni, st->fatal, "%s", st->fatal_msg);
		return st->fatal;
	}
	if (!s->group_mode && st->n_done == st->n_parts && (s->stop_at_end || !st->n_parts)) {
		sl_worker_source_lag(ni, SL_LAG_RECORDS, 0); /* nothing left to read */
		return SL_POLL_EOF;
	}
	if (st->ev_fired) {
		uint64_t v;
		st->ev_fired = false;
		if (read(st->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	if (st->m_head == st->m_n) {
		st->m_head = st->m_n = 0;
		ssize_t k = rd_kafka_consume_batch_queue(st->q, 0, st->msgs, SL_BATCH_ROWS);
		if (k < 0) {
			rd_kafka_resp_err_t e = rd_kafka_last_error();
			sl_worker_fail(w, ni, -EIO, "reading from Kafka: %s", rd_kafka_err2str(e));
			return -EIO;
		}
		st->m_n = (uint32_t)k;
		if (st->fatal) {
			sl_worker_fail(w, ni, st->fatal, "%s", st->fatal_msg);
			return st->fatal;
		}
		if (k == 0) {
			if (!s->group_mode && st->n_done == st->n_parts && s->stop_at_end) {
				sl_worker_source_lag(ni, SL_LAG_RECORDS, 0);
				return SL_POLL_EOF;
			}
			ev_arm(w, st);
			return SL_POLL_IDLE;
		}
	}
	SL_ASSERT(st->m_head < st->m_n && st->m_n <= SL_BATCH_ROWS);
	struct sl_batch *b = sl_worker_batch(w, &ni->node->schema);
	uint64_t bytes = 0;
	while (st->m_head < st->m_n && !sl_batch_full(b)) {
		rd_kafka_message_t *m = st->msgs[st->m_head];
		if (take(w, ni, st, b, m) == -ENOBUFS)
			break;
		bytes += m->len;
		rd_kafka_message_destroy(m);
		st->m_head++;
	}
	sl_worker_source_rows(w, ni, b->n_rows, bytes);
	int rc = b->n_rows ? sl_emit(w, ni, b) : 0;
	sl_worker_put(w, b);
	return rc < 0 ? rc : SL_POLL_MORE;
}

/* Every tick: how far behind the partitions' ends this worker is, from the
 * high watermarks librdkafka last saw (cached, no request). */
static void kafka_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	(void)w;
	struct kafka_state *st = ni->state;
	if (!st || !st->rk || now_ns - st->lag_at_ns < KAFKA_LAG_INTERVAL_NS)
		return;
	st->lag_at_ns = now_ns;
	uint64_t lag = 0;
	for (uint32_t i = 0; i < st->n_parts; i++) {
		const struct kafka_part *p = &st->parts[i];
		int64_t lo, hi;
		if (!p->assigned || p->done ||
		    rd_kafka_get_watermark_offsets(st->rk, p->topic, p->partition, &lo, &hi) ||
		    hi < 0)
			continue;
		int64_t from = p->pos >= 0 ? p->pos : lo;
		if (from >= 0 && hi > from)
			lag += (uint64_t)(hi - from);
	}
	sl_worker_source_lag(ni, SL_LAG_RECORDS, lag);
}

static int kafka_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct kafka_state *st = ni->state;
	ev_cancel(w, st);
	return 0;
}

/* ---- checkpoints ---- */

/* Per partition this worker knows: topic, partition, next offset. At a batch
 * boundary: every record below the position was emitted. */
static int kafka_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	struct kafka_state *st = ni->state;
	SL_ASSERT(st && w->ckpt_id > 0);
	uint32_t n = 0;
	for (uint32_t i = 0; i < st->n_parts; i++)
		n += st->parts[i].pos >= 0;
	sl_snap_u32(out, n);
	for (uint32_t i = 0; i < st->n_parts; i++) {
		struct kafka_part *p = &st->parts[i];
		p->ck_pos = p->pos;
		if (p->pos < 0)
			continue;
		sl_snap_str(out, p->topic);
		sl_snap_u32(out, (uint32_t)p->partition);
		sl_snap_u64(out, (uint64_t)p->pos);
	}
	st->ck_id = w->ckpt_id;
	return 0;
}

static int kafka_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *blobs,
			 uint32_t n_blobs)
{
	const struct kafka_shared *s = ni->node->shared;
	struct kafka_state *st = ni->state;
	bool *seen = st->n_parts ? mi_zalloc(st->n_parts * sizeof(bool)) : NULL;
	if (st->n_parts && !seen)
		return -ENOMEM;
	int rc = 0;
	for (uint32_t k = 0; k < n_blobs && rc == 0; k++) {
		if (blobs[k].len == 0)
			continue;
		struct sl_snapread r;
		sl_snapread_init(&r, blobs[k].p, blobs[k].len);
		uint32_t cnt = sl_snapread_u32(&r);
		for (uint32_t i = 0; i < cnt && !r.bad; i++) {
			char topic[SL_KAFKA_TOPIC_MAX + 1];
			sl_snapread_str(&r, topic, sizeof(topic));
			int32_t partition = (int32_t)sl_snapread_u32(&r);
			int64_t pos = (int64_t)sl_snapread_u64(&r);
			if (r.bad || pos < 0 || partition < 0)
				break;
			struct kafka_part *p = part_find(st, topic, partition);
			if (s->group_mode) {
				/* Any of the group's partitions may come to this
				 * worker: keep every position, the highest. */
				if (!p)
					p = part_add(st, topic, partition);
				if (!p) {
					rc = -ENOMEM;
					break;
				}
				if (pos > p->pos)
					p->pos = p->ck_pos = pos;
				continue;
			}
			if (!p)
				continue; /* another worker's, or a topic no longer read */
			uint32_t idx = (uint32_t)(p - st->parts);
			if (!seen[idx] || pos > p->pos)
				p->pos = p->ck_pos = pos;
			seen[idx] = true;
		}
		if (rc == 0 && !sl_snapread_done(&r))
			rc = -EINVAL;
	}
	mi_free(seen);
	if (rc == 0 && s->stop_at_end) {
		uint64_t done = 0;
		for (uint32_t i = 0; i < st->n_parts; i++) {
			const struct kafka_part *p = &st->parts[i];
			if (p->end > p->start)
				done += (uint64_t)(SL_MIN(SL_MAX(p->pos, p->start), p->end) - p->start);
		}
		sl_counter_add(&w->m->progress_done, done);
	}
	if (rc == -EINVAL)
		sl_log(SL_LOG_ERROR, (int)w->id, ni->node->name,
		       "msg=\"the checkpoint's Kafka positions are corrupt\"");
	return rc;
}

/* A checkpoint is complete: with a group, commit the positions it holds
 * (for lag monitoring and hand-over), and finish a pending hand-over. */
static void kafka_committed(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	(void)w;
	const struct kafka_shared *s = ni->node->shared;
	struct kafka_state *st = ni->state;
	if (!s->group_mode || !st || !st->rk || st->ck_id == 0 || st->ck_id > id)
		return;
	rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)st->n_parts);
	for (uint32_t i = 0; i < st->n_parts; i++) {
		const struct kafka_part *p = &st->parts[i];
		if (p->assigned && p->ck_pos >= 0)
			rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
				p->ck_pos;
	}
	bool handover = st->revoke_pending && st->ck_id > st->revoke_after;
	if (l->cnt) {
		rd_kafka_resp_err_t e = rd_kafka_commit(st->rk, l, 1);
		if (e) {
			kafka_log_warn(st, "cannot commit offsets to the group", rd_kafka_err2str(e));
			if (handover)
				unassign_all(st);
		} else {
			st->commits_sent++;
			if (handover)
				st->revoke_commit = st->commits_sent;
		}
	} else if (handover) {
		unassign_all(st);
	}
	rd_kafka_topic_partition_list_destroy(l);
	st->ck_id = 0; /* committed once */
}

const struct sl_plugin sl_plugin_kafka_source = {
	.name = "kafka",
	.kind = SL_NODE_SOURCE,
	.summary = "Kafka topics: one consumer per worker, positions in checkpoints, optional "
		   "consumer group",
	.options = kafka_options,
	.conf_bytes = sizeof(struct kafka_conf),
	.extra_keys = kafka_extra_keys,
	.prepare = kafka_prepare,
	.release = kafka_release,
	.open = kafka_open,
	.close = kafka_close,
	.poll = kafka_poll,
	.finish = kafka_finish,
	.tick = kafka_tick,
	.snapshot = kafka_snapshot,
	.restore = kafka_restore,
	.committed = kafka_committed,
};
