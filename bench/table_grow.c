/*
 * Micro-benchmark: the longest single sl_table_upsert while a table grows to
 * N keys (the index doubles on the way), and the mean. A worker's record
 * waits that long. JSON on stdout (bench/RESULTS.md, "State store").
 *   build/bench_table_grow [N]     default 20000000
 */
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "core/common.h"
#include "state/table.h"

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000;
	struct sl_table *t = sl_table_new(16);
	if (!t)
		return 1;
	int64_t worst = 0, t0 = sl_now_ns();
	uint64_t worst_at = 0, over_1ms = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t k = i * 0x9e3779b97f4a7c15ull;
		uint64_t h = XXH3_64bits(&k, 8);
		int64_t a = sl_now_ns();
		bool created;
		uint64_t *v = sl_table_upsert(t, &k, 8, h, &created);
		int64_t d = sl_now_ns() - a;
		if (!v)
			return 1;
		v[0] = i;
		if (d > worst) {
			worst = d;
			worst_at = i;
		}
		over_1ms += d > 1000000;
	}
	int64_t total = sl_now_ns() - t0;
	printf("{\"bench\": \"table_grow\", \"keys\": %llu, \"seconds\": %.3f, \"mean_ns\": %.1f, "
	       "\"worst_upsert_ms\": %.3f, \"worst_at_key\": %llu, \"upserts_over_1ms\": %llu}\n",
	       (unsigned long long)n, total / 1e9, (double)total / (double)n, worst / 1e6,
	       (unsigned long long)worst_at, (unsigned long long)over_1ms);
	sl_table_free(t);
	return 0;
}
