/* Micro-benchmark: ns per row of sl_expr_select for typical filters (bench/expr; not a test). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core/expr.h"
int main(void) {
	struct sl_schema s = {0};
	sl_schema_add(&s, "id", SL_T_BIGINT, true);
	sl_schema_add(&s, "phone", SL_T_STRING, false);
	sl_schema_add(&s, "name", SL_T_STRING, false);
	sl_schema_add(&s, "score", SL_T_DOUBLE, false);
	void *blk = aligned_alloc(64, sl_batch_block_bytes(8));
	struct sl_batch *b = sl_batch_format(blk, 8, 0);
	sl_batch_reset(b, &s);
	char ph[16], nm[16];
	srand(1);
	for (uint32_t r = 0; r < SL_BATCH_ROWS; r++) {
		uint32_t o = sl_batch_begin_row(b, 0, 0, 0);
		sl_batch_set_i(b, 0, o, rand() % 2000);
		int n = rand() % 4 ? 11 : 8;
		for (int k = 0; k < n; k++) ph[k] = '0' + rand() % 10;
		if (rand() % 10) sl_batch_set_str(b, 1, o, ph, n);
		int m = rand() % 8;
		for (int k = 0; k < m; k++) nm[k] = 'a' + rand() % 26;
		if (rand() % 10) sl_batch_set_str(b, 2, o, nm, m);
		sl_batch_set_f(b, 3, o, rand() / (double)RAND_MAX);
		sl_batch_commit_row(b);
	}
	const char *exprs[] = {
		"id > 1000",
		"score < 0.5",
		"phone IS NOT NULL",
		"phone IS NOT NULL AND length(phone) = 11",
		"phone IS NOT NULL AND length(phone) = 11 AND NOT (name = '' OR name IS NULL)",
		"name LIKE 'a%'",
		"id BETWEEN 100 AND 900 AND score > 0.25",
		"id IN (1, 5, 7, 100, 200, 300, 1999)",
		"upper(trim(name)) = 'ABC'",
	};
	struct sl_expr_scratch *sc = sl_expr_scratch_new(SL_EXPR_SCRATCH_BYTES_DEFAULT);
	for (size_t k = 0; k < sizeof exprs / sizeof *exprs; k++) {
		struct sl_diag d; sl_diag_init(&d);
		struct sl_expr *e = sl_expr_compile(exprs[k], strlen(exprs[k]), &s, (struct sl_pos){"b",1,1}, false, &d);
		if (!e) { printf("%s", sl_diag_text(&d)); return 1; }
		uint16_t sel[SL_BATCH_ROWS]; uint32_t n = 0, bad;
		int iters = 20000; int64_t best = INT64_MAX; uint32_t kept = 0;
		for (int rep = 0; rep < 5; rep++) {
			int64_t t0 = sl_now_ns();
			for (int it = 0; it < iters / 5; it++) { n = 0; sl_expr_select(e, b, 0, sc, sel, &n, &bad); }
			int64_t t = sl_now_ns() - t0; if (t < best) best = t; kept = n;
		}
		printf("{\"expr\": \"%s\", \"ns_per_row\": %.2f, \"selected\": %u}\n", exprs[k], (double)best / (iters / 5) / SL_BATCH_ROWS, kept);
		sl_expr_free(e); sl_diag_fini(&d);
	}
	return 0;
}
