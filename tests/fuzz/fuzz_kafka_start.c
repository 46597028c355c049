/* libFuzzer target: the Kafka source's `start:` parser on arbitrary text. It either
 * accepts (every entry a legal topic, partition and offset, no (topic, partition) twice)
 * or refuses with a reason; it never reads or writes out of bounds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/kafka/start.h"

#define MUST(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_kafka_start: %s:%d: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	struct sl_kafka_start st;
	char err[128];
	int rc = sl_kafka_start_parse(s, &st, err, sizeof(err));
	if (rc == 0) {
		for (uint32_t i = 0; i < st.n; i++) {
			MUST(sl_kafka_topic_valid(st.v[i].topic, strlen(st.v[i].topic)));
			MUST(st.v[i].partition >= 0 && st.v[i].offset >= 0);
			MUST(sl_kafka_start_offset_of(&st, st.v[i].topic, st.v[i].partition) ==
			     st.v[i].offset);
			for (uint32_t j = 0; j < i; j++)
				MUST(st.v[j].partition != st.v[i].partition ||
				     strcmp(st.v[j].topic, st.v[i].topic) != 0);
		}
	} else {
		MUST(rc == -EINVAL || rc == -ENOMEM);
		MUST(st.n == 0 && st.v == NULL);
		MUST(rc == -ENOMEM || strlen(err) > 0);
	}
	sl_kafka_start_free(&st);
	free(s);
	return 0;
}
