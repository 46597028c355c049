/* Unit test of connectors/kafka/start: the Kafka source's `start:` grammar — the plain
 * choices, timestamp:, offsets: lists (spaces, limits, duplicates) and the errors. */
#include <errno.h>

#include "connectors/kafka/start.h"
#include "tests/unit/check.h"

static void ok_case(const char *s, enum sl_kafka_start_kind kind, uint32_t n)
{
	struct sl_kafka_start st;
	char err[256];
	int rc = sl_kafka_start_parse(s, &st, err, sizeof(err));
	CHECKF(rc == 0, "'%s': %d %s", s, rc, err);
	CHECKF(rc != 0 || st.kind == kind, "'%s': kind %d", s, (int)st.kind);
	CHECKF(rc != 0 || st.n == n, "'%s': %u entries", s, st.n);
	sl_kafka_start_free(&st);
}

static void bad_case(const char *s, const char *text)
{
	struct sl_kafka_start st;
	char err[256];
	int rc = sl_kafka_start_parse(s, &st, err, sizeof(err));
	CHECKF(rc == -EINVAL, "'%s': rc %d", s, rc);
	CHECKF(strstr(err, text) != NULL, "'%s': error '%s' lacks '%s'", s, err, text);
	CHECK(st.n == 0 && st.v == NULL);
}

int main(void)
{
	ok_case("earliest", SL_KAFKA_START_EARLIEST, 0);
	ok_case("latest", SL_KAFKA_START_LATEST, 0);
	ok_case("group", SL_KAFKA_START_GROUP, 0);
	ok_case("timestamp:0", SL_KAFKA_START_TIMESTAMP, 0);
	ok_case("timestamp: 1700000000000", SL_KAFKA_START_TIMESTAMP, 0);
	ok_case("offsets:orders:0=42", SL_KAFKA_START_OFFSETS, 1);
	ok_case("offsets:orders:0=42,orders:1=7", SL_KAFKA_START_OFFSETS, 2);
	ok_case("offsets: orders:0 = 42 , my.topic-1_x:2147483647=9223372036854775807",
		SL_KAFKA_START_OFFSETS, 2);

	struct sl_kafka_start st;
	char err[256];
	CHECK(sl_kafka_start_parse("offsets:a:1=5,b.c:0=0,a:0=3", &st, err, sizeof(err)) == 0);
	CHECK_EQ_I(sl_kafka_start_offset_of(&st, "a", 1), 5);
	CHECK_EQ_I(sl_kafka_start_offset_of(&st, "b.c", 0), 0);
	CHECK_EQ_I(sl_kafka_start_offset_of(&st, "a", 0), 3);
	CHECK_EQ_I(sl_kafka_start_offset_of(&st, "a", 2), -1);
	CHECK_EQ_I(sl_kafka_start_offset_of(&st, "b", 0), -1);
	sl_kafka_start_free(&st);
	CHECK(sl_kafka_start_parse("timestamp:1234", &st, err, sizeof(err)) == 0);
	CHECK_EQ_I(st.timestamp_ms, 1234);
	sl_kafka_start_free(&st);

	bad_case("", "expected earliest");
	bad_case("Earliest", "expected earliest");
	bad_case("timestamp:", "milliseconds");
	bad_case("timestamp:-5", "milliseconds");
	bad_case("timestamp:9223372036854775808", "milliseconds");
	bad_case("timestamp:12x", "milliseconds");
	bad_case("offsets:", "TOPIC:PARTITION=OFFSET");
	bad_case("offsets:orders", "TOPIC:PARTITION=OFFSET");
	bad_case("offsets:orders=1", "TOPIC:PARTITION=OFFSET");
	bad_case("offsets:orders:0=", "offset ''");
	bad_case("offsets:orders:0=x", "offset 'x'");
	bad_case("offsets:orders:0=-1", "offset '-1'");
	bad_case("offsets:orders:-1=0", "partition '-1'");
	bad_case("offsets:orders:2147483648=0", "partition '2147483648'");
	bad_case("offsets:orders:0=1,", "TOPIC:PARTITION=OFFSET");
	bad_case("offsets:orders:0=1,,x:1=1", "TOPIC:PARTITION=OFFSET");
	bad_case("offsets::0=1", "not a topic name");
	bad_case("offsets:or/ders:0=1", "not a topic name");
	bad_case("offsets:..:0=1", "not a topic name");
	bad_case("offsets:orders:0=1,orders:0=2", "given twice");

	/* Longest legal topic name, and one longer. */
	char spec[400];
	char name[260];
	memset(name, 't', 249);
	name[249] = '\0';
	snprintf(spec, sizeof(spec), "offsets:%s:3=4", name);
	CHECK(sl_kafka_start_parse(spec, &st, err, sizeof(err)) == 0 && st.n == 1 &&
	      strlen(st.v[0].topic) == 249);
	sl_kafka_start_free(&st);
	snprintf(spec, sizeof(spec), "offsets:%st:3=4", name);
	bad_case(spec, "not a topic name");

	/* A small error buffer truncates, never overflows. */
	char tiny[8];
	CHECK(sl_kafka_start_parse("offsets:x:y=z", &st, tiny, sizeof(tiny)) == -EINVAL);
	CHECK(strlen(tiny) < sizeof(tiny));
	return check_exit("kafka_start");
}
