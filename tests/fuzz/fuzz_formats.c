/* libFuzzer target for connectors/formats and core/sqlschema: every format's decoder
 * (strict and ignore-parse-errors, with metadata columns of every kind) over any
 * bytes, checking the decoder's contract: rows appended or the batch unchanged, a
 * one-line reason, rows that print; and the column-list parser over the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/formats/format.h"
#include "core/common.h"
#include "core/limits.h"
#include "core/value.h"
#include "io/json.h"

struct target {
	const char *format, *schema, *yaml;
	struct sl_format *f;
	struct sl_decoder *d;
	struct sl_batch *b;
};

/* Physical columns of every type; the JSON fields the seeds use. */
#define PHYS                                                                                       \
	"id INT, name STRING, description STRING, weight FLOAT, b BOOLEAN, l BIGINT, "             \
	"d DOUBLE, dt DATE, ts TIMESTAMP(3), lz TIMESTAMP_LTZ(3), dec DECIMAL(10, 3)"

static struct target T[] = {
	{"json", PHYS, ""},
	{"json", PHYS, "ignore-parse-errors: true\ntimestamp-format.standard: ISO-8601"},
	{"json", "id INT, name STRING", "fail-on-missing-field: true"},
	{"debezium-json",
	 PHYS ", m1 STRING METADATA FROM 'schema', m2 TIMESTAMP_LTZ(3) METADATA FROM "
	      "'ingestion-timestamp', m3 TIMESTAMP(3) METADATA FROM 'source.timestamp', m4 STRING "
	      "METADATA FROM 'source.database', m5 STRING METADATA FROM 'source.schema', m6 STRING "
	      "METADATA FROM 'source.table', m7 STRING METADATA FROM 'source.properties'",
	 ""},
	{"debezium-json", PHYS ", m1 STRING METADATA FROM 'schema'",
	 "schema-include: true\nignore-parse-errors: true"},
	{"canal-json",
	 PHYS ", m1 STRING METADATA FROM 'database', m2 STRING METADATA FROM 'table', m3 STRING "
	      "METADATA FROM 'sql-type', m4 STRING METADATA FROM 'pk-names', m5 TIMESTAMP_LTZ(3) "
	      "METADATA FROM 'ingestion-timestamp', m6 TIMESTAMP_LTZ(3) METADATA FROM "
	      "'event-timestamp'",
	 ""},
	{"canal-json", PHYS, "ignore-parse-errors: true\ndatabase.include: 'd.*'\ntable.include: "
			     "'[a-z]+\\d?'"},
	{"maxwell-json",
	 PHYS ", m1 STRING METADATA FROM 'database', m2 STRING METADATA FROM 'table', m3 STRING "
	      "METADATA FROM 'primary-key-columns', m4 TIMESTAMP_LTZ(3) METADATA FROM "
	      "'ingestion-timestamp'",
	 ""},
	{"maxwell-json", PHYS, "ignore-parse-errors: true"},
	{"ogg-json",
	 PHYS ", m1 STRING METADATA FROM 'table', m2 STRING METADATA FROM 'primary-keys', m3 "
	      "TIMESTAMP_LTZ(3) METADATA FROM 'ingestion-timestamp', m4 TIMESTAMP_LTZ(3) METADATA "
	      "FROM 'event-timestamp'",
	 ""},
	{"ogg-json", PHYS, "ignore-parse-errors: true"},
};

static char *err, *row, *padded;
#define ERR_BYTES (SL_RECORD_MAX_BYTES + 4096)
#define ROW_BYTES (SL_BATCH_HEAP_BYTES + SL_MAX_COLS * 64)

static void init(void)
{
	struct sl_diag d;
	sl_diag_init(&d);
	for (size_t i = 0; i < SL_ARRAY_LEN(T); i++) {
		static struct sl_sqlschema s;
		struct target *t = &T[i];
		SL_ASSERT(sl_sqlschema_parse(t->schema, strlen(t->schema), (struct sl_pos){0}, false,
					     &s, &d) == 0);
		struct sl_cfg_doc *doc = sl_cfg_load_string("fuzz", t->yaml, strlen(t->yaml), &d);
		SL_ASSERT(doc);
		t->f = sl_format_new(t->format, &s, sl_cfg_root(doc), NULL, &d);
		if (!t->f)
			fprintf(stderr, "%s", sl_diag_text(&d));
		SL_ASSERT(t->f);
		sl_cfg_free(doc);
		t->d = sl_decoder_new(t->f);
		void *block = aligned_alloc(4096, sl_batch_block_bytes(SL_MAX_COLS));
		SL_ASSERT(t->d && block);
		t->b = sl_batch_format(block, SL_MAX_COLS, 0);
		sl_batch_reset(t->b, sl_format_schema(t->f));
	}
	sl_diag_fini(&d);
	err = malloc(ERR_BYTES);
	row = malloc(ROW_BYTES);
	padded = malloc(SL_RECORD_MAX_BYTES + SL_JSON_PADDING);
	SL_ASSERT(err && row && padded);
}

static void check_rows(const struct sl_batch *b, uint32_t from)
{
	for (uint32_t r = from; r < b->n_rows; r++) {
		SL_ASSERT(b->kind[r] <= SL_KIND_DELETE);
		ssize_t n = sl_row_format_flink(b, r, row, ROW_BYTES);
		SL_ASSERT(n >= 4);
		SL_ASSERT(row[2] == '(' && row[n - 1] == ')');
		for (uint32_t c = 0; c < b->n_cols; c++) {
			if (!sl_batch_is_valid(b, c, r))
				continue;
			const struct sl_field *f = &b->schema->fields[c];
			if (f->type == SL_T_STRING)
				SL_ASSERT((uint64_t)b->cols[c].v[r].s.off + b->cols[c].v[r].s.len <=
					  b->heap_len);
			if (f->type == SL_T_INT)
				SL_ASSERT(b->cols[c].v[r].i >= INT32_MIN && b->cols[c].v[r].i <= INT32_MAX);
			if (f->type == SL_T_FLOAT) {
				double v = b->cols[c].v[r].f;
				SL_ASSERT(v != v || v == (double)(float)v);
			}
		}
	}
}

static void decode_into(struct target *t, const char *msg, size_t len, bool pad)
{
	struct sl_batch *b = t->b;
	uint32_t n0 = b->n_rows, heap0 = b->heap_len;
	int rc = sl_decoder_decode(t->d, msg, len, pad, b, 1, err, ERR_BYTES);
	if (rc >= 0) {
		SL_ASSERT(b->n_rows == n0 + (uint32_t)rc);
		SL_ASSERT(err[0] == '\0');
		check_rows(b, n0);
		if (rc == 0)
			SL_ASSERT(b->heap_len == heap0);
		return;
	}
	SL_ASSERT(rc == -EINVAL || rc == -ENOBUFS || rc == -E2BIG);
	SL_ASSERT(b->n_rows == n0 && b->heap_len == heap0);
	SL_ASSERT(err[0] != '\0' && strchr(err, '\n') == NULL);
	/* Rolled back: the next row starts with every column NULL (at a 64-row
	 * boundary sl_batch_begin_row clears the bits itself, stale ones may stay). */
	for (uint32_t c = 0; c < b->n_cols && n0 < SL_BATCH_ROWS && (n0 & 63) != 0; c++)
		SL_ASSERT(!sl_batch_is_valid(b, c, n0));
	if (rc == -EINVAL)
		SL_ASSERT(strstr(err, " Caused by: ") != NULL);
	if (rc == -E2BIG)
		SL_ASSERT(n0 == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	if (!ready) {
		init();
		ready = true;
	}
	if (size > SL_RECORD_MAX_BYTES)
		return 0;
	const char *msg = (const char *)data;
	for (size_t i = 0; i < SL_ARRAY_LEN(T); i++) {
		struct target *t = &T[i];
		/* Batches fill up over runs: ENOBUFS and rollback get exercised too. */
		if (t->b->n_rows > SL_BATCH_ROWS - 4 || sl_batch_heap_free(t->b) < size)
			sl_batch_reset(t->b, t->b->schema);
		decode_into(t, msg, size, false);
		/* The same, read in place with padding: identical outcome. */
		memcpy(padded, data, size);
		memset(padded + size, 'x', SL_JSON_PADDING);
		decode_into(t, padded, size, true);
	}

	/* The same bytes as a column list. */
	struct sl_diag d;
	static struct sl_sqlschema s;
	sl_diag_init(&d);
	int rc = sl_sqlschema_parse(msg, size, (struct sl_pos){"fuzz", 1, 1}, false, &s, &d);
	SL_ASSERT(rc == 0 ? d.n_errors == 0 : (rc == -EINVAL && d.n_errors > 0));
	if (rc == 0) {
		SL_ASSERT(s.schema.n_fields >= 1 && s.schema.n_fields <= SL_MAX_COLS);
		SL_ASSERT(s.n_meta <= s.schema.n_fields && s.n_pk <= SL_MAX_KEYS);
		for (uint32_t i = 0; i < s.n_meta; i++)
			SL_ASSERT(s.meta[i].col < s.schema.n_fields && s.meta[i].key[0] != '\0');
		for (uint32_t i = 0; i < s.n_pk; i++)
			SL_ASSERT(s.schema.fields[s.pk[i]].not_null);
		/* A format over any schema builds or reports why. */
		struct sl_format *f = sl_format_new("debezium-json", &s, NULL, NULL, &d);
		sl_format_free(f);
	}
	sl_diag_fini(&d);

	/* And as a DECIMAL(18,4) literal: within range when it parses. */
	int64_t v;
	char buf[32];
	if (size < 64 && sl_decimal_parse(msg, size, 18, 4, &v) == 0) {
		SL_ASSERT(v > -1000000000000000000ll && v < 1000000000000000000ll);
		SL_ASSERT(sl_decimal_format(v, 4, buf) < 24);
	}
	return 0;
}
