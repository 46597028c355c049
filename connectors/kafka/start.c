/* The Kafka source's `start:` option: parsed once on the control thread. */
#include "connectors/kafka/start.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"

bool sl_kafka_topic_valid(const char *name, size_t len)
{
	if (len == 0 || len > SL_KAFKA_TOPIC_MAX)
		return false;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* A decimal number in [0, max] spanning s[0..len) exactly. */
static bool parse_uint(const char *s, size_t len, int64_t max, int64_t *out)
{
	if (len == 0 || len > 19)
		return false;
	int64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		int d = s[i] - '0';
		if (v > (max - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* One "topic:partition=offset" item into o. */
static int parse_item(const char *s, size_t len, struct sl_kafka_start_offset *o, char *err,
		      size_t cap)
{
	trim(&s, &len);
	const char *eq = memchr(s, '=', len);
	const char *colon = NULL;
	for (const char *p = s; eq && p < eq; p++)
		if (*p == ':')
			colon = p; /* the last one before '=' */
	if (!eq || !colon) {
		snprintf(err, cap, "offsets: expected TOPIC:PARTITION=OFFSET, got '%.*s'",
			 (int)SL_MIN(len, 80), s);
		return -EINVAL;
	}
	const char *t = s, *p = colon + 1, *v = eq + 1;
	size_t tl = (size_t)(colon - s), pl = (size_t)(eq - p), vl = len - (size_t)(v - s);
	trim(&t, &tl);
	trim(&p, &pl);
	trim(&v, &vl);
	int64_t part, off;
	if (!sl_kafka_topic_valid(t, tl)) {
		snprintf(err, cap,
			 "offsets: '%.*s' is not a topic name (1..%u of A-Z a-z 0-9 . _ -)",
			 (int)SL_MIN(tl, 80), t, SL_KAFKA_TOPIC_MAX);
		return -EINVAL;
	}
	if (!parse_uint(p, pl, INT32_MAX, &part)) {
		snprintf(err, cap, "offsets: partition '%.*s' of topic %.*s is not 0..%d",
			 (int)SL_MIN(pl, 40), p, (int)tl, t, INT32_MAX);
		return -EINVAL;
	}
	if (!parse_uint(v, vl, INT64_MAX, &off)) {
		snprintf(err, cap, "offsets: offset '%.*s' of %.*s:%lld is not a number >= 0",
			 (int)SL_MIN(vl, 40), v, (int)tl, t, (long long)part);
		return -EINVAL;
	}
	memcpy(o->topic, t, tl);
	o->topic[tl] = '\0';
	o->partition = (int32_t)part;
	o->offset = off;
	return 0;
}

int sl_kafka_start_parse(const char *s, struct sl_kafka_start *out, char *err, size_t cap)
{
	memset(out, 0, sizeof(*out));
	if (cap)
		err[0] = '\0';
	if (strcmp(s, "earliest") == 0) {
		out->kind = SL_KAFKA_START_EARLIEST;
		return 0;
	}
	if (strcmp(s, "latest") == 0) {
		out->kind = SL_KAFKA_START_LATEST;
		return 0;
	}
	if (strcmp(s, "group") == 0) {
		out->kind = SL_KAFKA_START_GROUP;
		return 0;
	}
	if (strncmp(s, "timestamp:", 10) == 0) {
		const char *v = s + 10;
		size_t len = strlen(v);
		trim(&v, &len);
		if (!parse_uint(v, len, INT64_MAX, &out->timestamp_ms)) {
			snprintf(err, cap,
				 "timestamp: expected milliseconds since the epoch, got '%.*s'",
				 (int)SL_MIN(len, 40), v);
			return -EINVAL;
		}
		out->kind = SL_KAFKA_START_TIMESTAMP;
		return 0;
	}
	if (strncmp(s, "offsets:", 8) != 0) {
		snprintf(err, cap,
			 "expected earliest, latest, group, timestamp:<ms> or "
			 "offsets:<topic>:<partition>=<offset>,..., got '%.*s'",
			 (int)SL_MIN(strlen(s), 80), s);
		return -EINVAL;
	}
	s += 8;
	uint32_t n = 1;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	if (n > SL_KAFKA_START_OFFSETS_MAX) {
		snprintf(err, cap, "offsets: more than %u entries", SL_KAFKA_START_OFFSETS_MAX);
		return -EINVAL;
	}
	out->v = calloc(n, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	out->kind = SL_KAFKA_START_OFFSETS;
	for (const char *p = s;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		struct sl_kafka_start_offset *o = &out->v[out->n];
		int rc = parse_item(p, len, o, err, cap);
		if (rc < 0) {
			sl_kafka_start_free(out);
			return rc;
		}
		if (sl_kafka_start_offset_of(out, o->topic, o->partition) >= 0) {
			snprintf(err, cap, "offsets: %s:%d is given twice", o->topic,
				 (int)o->partition);
			sl_kafka_start_free(out);
			return -EINVAL;
		}
		out->n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	return 0;
}

void sl_kafka_start_free(struct sl_kafka_start *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int64_t sl_kafka_start_offset_of(const struct sl_kafka_start *s, const char *topic,
				 int32_t partition)
{
	for (uint32_t i = 0; i < s->n; i++)
		if (s->v[i].partition == partition && strcmp(s->v[i].topic, topic) == 0)
			return s->v[i].offset;
	return -1;
}
