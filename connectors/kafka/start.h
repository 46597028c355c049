/* Where a Kafka source starts: the `start:` option's grammar
 * (earliest | latest | group | timestamp:<ms> | offsets:<topic>:<partition>=<offset>,...). */
#ifndef SL_KAFKA_START_H
#define SL_KAFKA_START_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kafka's longest topic name, and the most entries one offsets: spec may list. */
#define SL_KAFKA_TOPIC_MAX 249u
#define SL_KAFKA_START_OFFSETS_MAX 65536u

enum sl_kafka_start_kind {
	SL_KAFKA_START_EARLIEST,
	SL_KAFKA_START_LATEST,
	SL_KAFKA_START_GROUP,
	SL_KAFKA_START_TIMESTAMP,
	SL_KAFKA_START_OFFSETS,
};

struct sl_kafka_start_offset {
	char topic[SL_KAFKA_TOPIC_MAX + 1];
	int32_t partition;
	int64_t offset;
};

struct sl_kafka_start {
	enum sl_kafka_start_kind kind;
	int64_t timestamp_ms;		 /* TIMESTAMP: milliseconds since the epoch */
	uint32_t n;			 /* OFFSETS: entries, each (topic, partition) once */
	struct sl_kafka_start_offset *v; /* malloc'd */
};

/*
 * Parses s into out. Topic names follow Kafka's rules (1..249 characters of
 * [A-Za-z0-9._-]); partitions are 0..2^31-1, offsets and timestamps
 * 0..2^63-1; spaces around items are allowed. Returns 0, -EINVAL with a
 * one-line reason in err (out left empty), or -ENOMEM. Any thread.
 */
int sl_kafka_start_parse(const char *s, struct sl_kafka_start *out, char *err, size_t cap);
void sl_kafka_start_free(struct sl_kafka_start *s);
/* The offset out names for (topic, partition), or -1. */
int64_t sl_kafka_start_offset_of(const struct sl_kafka_start *s, const char *topic,
				 int32_t partition);
/* True if name is a legal Kafka topic name. */
bool sl_kafka_topic_valid(const char *name, size_t len);

#endif
