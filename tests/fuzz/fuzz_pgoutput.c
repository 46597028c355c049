/* libFuzzer target for connectors/postgres/pgoutput: any bytes as a replication
 * CopyData frame and the pgoutput message inside it, as a bare pgoutput message,
 * the tuples of changes into a batch of every column type, and as PostgreSQL text
 * values, LSNs and COPY text lines. Checks the decoder's contract: nothing read outside the input,
 * decoded pointers inside it, counts within limits, or a one-line error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/postgres/pgoutput.h"
#include "core/common.h"
#include "core/limits.h"

/* The column types of the captured test table, cycled to SL_MAX_COLS columns:
 * a change of any width has a relation to be read with. */
static const struct {
	uint32_t oid;
	int32_t typmod;
} TYPES[] = {
	{SL_PG_INT4, -1},      {SL_PG_INT2, -1},        {SL_PG_INT8, -1},
	{SL_PG_NUMERIC, (12 << 16 | 3) + 4},            {SL_PG_NUMERIC, -1},
	{SL_PG_NUMERIC, (30 << 16 | 5) + 4},            {SL_PG_FLOAT4, -1},
	{SL_PG_FLOAT8, -1},    {SL_PG_TEXT, -1},        {SL_PG_VARCHAR, 24},
	{SL_PG_BPCHAR, 9},     {SL_PG_NAME, -1},        {SL_PG_BOOL, -1},
	{SL_PG_DATE, -1},      {SL_PG_TIMESTAMP, 3},    {SL_PG_TIMESTAMP, -1},
	{SL_PG_TIMESTAMPTZ, -1}, {SL_PG_JSON, -1},      {SL_PG_JSONB, -1},
	{SL_PG_UUID, -1},      {SL_PG_BYTEA, -1},       {16387, -1},
	{1007, -1},            {SL_PG_OID, -1},
};

static struct sl_pgo_relation REL;
static struct sl_schema SCHEMA, SCHEMA_R;
static struct sl_batch *B;
static struct sl_pgo_msg MSG;
static char ERR[1024];

static void init(void)
{
	REL.oid = 1;
	REL.replident = 'd';
	strcpy(REL.nspname, "public");
	strcpy(REL.relname, "t");
	REL.n_cols = SL_MAX_COLS;
	for (uint32_t i = 0; i < SL_MAX_COLS; i++) {
		struct sl_pgo_column *c = &REL.cols[i];
		snprintf(c->name, sizeof(c->name), "c%u", i);
		c->type_oid = TYPES[i % SL_ARRAY_LEN(TYPES)].oid;
		c->typmod = TYPES[i % SL_ARRAY_LEN(TYPES)].typmod;
		c->flags = i == 0;
	}
	SL_ASSERT(sl_pgo_relation_schema(&REL, &SCHEMA, ERR, sizeof(ERR)) == 0);
	void *block = aligned_alloc(4096, sl_batch_block_bytes(SL_MAX_COLS));
	SL_ASSERT(block);
	B = sl_batch_format(block, SL_MAX_COLS, 0);
	sl_batch_reset(B, &SCHEMA);
}

static bool inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
	const uint8_t *q = p;
	return q >= data && n <= size && q - data <= (ptrdiff_t)(size - n);
}

static void check_err(int rc, bool want_offset)
{
	SL_ASSERT(ERR[0] != '\0' && strchr(ERR, '\n') == NULL);
	SL_ASSERT(strlen(ERR) < sizeof(ERR));
	if (want_offset)
		SL_ASSERT(strstr(ERR, " at offset ") != NULL);
	(void)rc;
}

static void check_tuple(const struct sl_pgo_tuple *t, const uint8_t *data, size_t size)
{
	SL_ASSERT(t->n_cols <= SL_MAX_COLS);
	for (uint32_t i = 0; i < t->n_cols; i++) {
		const struct sl_pgo_datum *d = &t->cols[i];
		if (d->kind == 't' || d->kind == 'b')
			SL_ASSERT(inside(d->p, d->len, data, size));
		else
			SL_ASSERT((d->kind == 'n' || d->kind == 'u') && d->p == NULL &&
				  d->len == 0);
	}
}

/* A tuple into a row of the cycled relation: set, or an error and rolled back. */
static void tuple_row(const struct sl_pgo_tuple *t)
{
	if (B->n_rows >= SL_BATCH_ROWS - 1 || sl_batch_heap_free(B) < 64 * 1024)
		sl_batch_reset(B, &SCHEMA);
	uint32_t heap0 = B->heap_len, n0 = B->n_rows;
	struct sl_pgo_relation *rel = &REL;
	rel->n_cols = t->n_cols;
	uint32_t r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	uint64_t unchanged = 0;
	int rc = sl_pgo_tuple_row(B, r, rel, t, NULL, &unchanged, ERR, sizeof(ERR));
	rel->n_cols = SL_MAX_COLS;
	if (rc < 0) {
		SL_ASSERT(rc == -EINVAL || rc == -ERANGE || rc == -ENOBUFS || rc == -E2BIG ||
			  rc == -ENOTSUP);
		check_err(rc, false);
		sl_batch_rollback(B, heap0);
		SL_ASSERT(B->heap_len == heap0 && B->n_rows == n0);
		return;
	}
	for (uint32_t c = 0; c < t->n_cols; c++) {
		if (unchanged >> c & 1) {
			SL_ASSERT(t->cols[c].kind == 'u' && !sl_batch_is_valid(B, c, r));
			continue;
		}
		SL_ASSERT(sl_batch_is_valid(B, c, r) == (t->cols[c].kind == 't'));
		if (!sl_batch_is_valid(B, c, r))
			continue;
		union sl_val v = B->cols[c].v[r];
		switch (SCHEMA.fields[c].type) {
		case SL_T_STRING:
			SL_ASSERT(v.s.len == t->cols[c].len &&
				  (uint64_t)v.s.off + v.s.len <= B->heap_len &&
				  memcmp(B->heap + v.s.off, t->cols[c].p, v.s.len) == 0);
			break;
		case SL_T_INT:
			SL_ASSERT(v.i >= INT32_MIN && v.i <= INT32_MAX);
			break;
		case SL_T_FLOAT:
			SL_ASSERT(v.f != v.f || v.f == (double)(float)v.f);
			break;
		case SL_T_BOOL:
			SL_ASSERT(v.i == 0 || v.i == 1);
			break;
		case SL_T_DECIMAL:
			/* DECIMAL(12,3) */
			SL_ASSERT(v.i > -1000000000000ll && v.i < 1000000000000ll);
			break;
		case SL_T_DATE:
			/* At most 7 year digits. */
			SL_ASSERT(v.i > -3700000000ll && v.i < 3700000000ll);
			break;
		default:
			break;
		}
	}
	sl_batch_commit_row(B);
}

static void check_msg(const uint8_t *data, size_t size)
{
	int rc = sl_pgo_parse(data, size, &MSG, ERR, sizeof(ERR));
	if (rc < 0) {
		SL_ASSERT(rc == -EINVAL || rc == -E2BIG || rc == -ENOTSUP);
		check_err(rc, true);
		return;
	}
	SL_ASSERT(ERR[0] == '\0' && size >= 1 && MSG.type == data[0]);
	switch (MSG.type) {
	case 'O':
		SL_ASSERT(inside(MSG.origin.name, MSG.origin.name_len + 1u, data, size));
		SL_ASSERT(MSG.origin.name[MSG.origin.name_len] == '\0');
		break;
	case 'R': {
		const struct sl_pgo_relation *r = &MSG.relation;
		SL_ASSERT(r->n_cols <= SL_MAX_COLS && strchr("dnfi", r->replident));
		SL_ASSERT(strlen(r->nspname) < SL_PGO_NAME_MAX &&
			  strlen(r->relname) < SL_PGO_NAME_MAX);
		for (uint32_t i = 0; i < r->n_cols; i++)
			SL_ASSERT(strlen(r->cols[i].name) < SL_PGO_NAME_MAX);
		/* A schema for it, or a reason (names twice, empty names). */
		if (sl_pgo_relation_schema(r, &SCHEMA_R, ERR, sizeof(ERR)) == 0)
			SL_ASSERT(SCHEMA_R.n_fields == r->n_cols);
		else
			check_err(-EINVAL, false);
		break;
	}
	case 'Y':
		SL_ASSERT(strlen(MSG.pgtype.nspname) < SL_PGO_NAME_MAX &&
			  strlen(MSG.pgtype.name) < SL_PGO_NAME_MAX);
		break;
	case 'I':
	case 'U':
	case 'D': {
		const struct sl_pgo_change *c = &MSG.change;
		SL_ASSERT(c->has_new == (MSG.type != 'D'));
		SL_ASSERT(c->old_kind == 0 || c->old_kind == 'K' || c->old_kind == 'O');
		SL_ASSERT(MSG.type != 'D' || c->old_kind != 0);
		SL_ASSERT(MSG.type != 'I' || c->old_kind == 0);
		if (c->old_kind) {
			check_tuple(&c->old_tuple, data, size);
			tuple_row(&c->old_tuple);
		}
		if (c->has_new) {
			check_tuple(&c->new_tuple, data, size);
			tuple_row(&c->new_tuple);
		}
		break;
	}
	case 'T':
		SL_ASSERT(inside(MSG.truncate.oids, 4ull * MSG.truncate.n_rels, data, size));
		for (uint32_t i = 0; i < MSG.truncate.n_rels; i++)
			(void)sl_pgo_truncate_oid(&MSG, i);
		break;
	case 'M':
		SL_ASSERT(inside(MSG.message.prefix, MSG.message.prefix_len + 1u, data, size));
		SL_ASSERT(inside(MSG.message.content, MSG.message.content_len, data, size));
		break;
	default:
		SL_ASSERT(strchr("BC", MSG.type));
		break;
	}
}

/* The bytes as the text of a value into every column type. */
static void check_text(const uint8_t *data, size_t size)
{
	if (size > 4096)
		return;
	if (B->n_rows >= SL_BATCH_ROWS - 1 || sl_batch_heap_free(B) < 64 * 1024)
		sl_batch_reset(B, &SCHEMA);
	uint32_t mark = B->heap_len;
	uint32_t r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	for (uint32_t c = 0; c < SL_ARRAY_LEN(TYPES); c++) {
		uint32_t heap0 = B->heap_len;
		int rc = sl_pg_text_value(B, c, r, REL.cols[c].type_oid, (const char *)data,
					  (uint32_t)size, ERR, sizeof(ERR));
		if (rc < 0) {
			SL_ASSERT(rc == -EINVAL || rc == -ERANGE);
			check_err(rc, false);
			SL_ASSERT(!sl_batch_is_valid(B, c, r) && B->heap_len == heap0);
		} else {
			SL_ASSERT(sl_batch_is_valid(B, c, r));
		}
	}
	sl_batch_rollback(B, mark);
	uint64_t lsn, again;
	char buf[24];
	if (sl_pg_lsn_parse((const char *)data, size, &lsn) == 0) {
		int n = sl_pg_lsn_format(lsn, buf);
		SL_ASSERT(n >= 3 && n <= 17);
		SL_ASSERT(sl_pg_lsn_parse(buf, (size_t)n, &again) == 0 && again == lsn);
	}
}

/* A COPY text line: fields inside the line or the scratch, each no longer
 * than the line. */
static void check_copy_line(const char *p, size_t size)
{
	static struct sl_pg_copy_field f[SL_MAX_COLS];
	char *scratch = malloc(size ? size : 1);
	SL_ASSERT(scratch);
	int n = sl_pg_copy_fields(size ? p : "", size, f, SL_MAX_COLS, scratch, ERR, sizeof(ERR));
	if (n < 0) {
		SL_ASSERT(n == -EINVAL);
		check_err(n, false);
	} else {
		SL_ASSERT(n >= 1 && (uint32_t)n <= SL_MAX_COLS);
		for (int i = 0; i < n; i++) {
			if (f[i].null) {
				SL_ASSERT(f[i].p == NULL && f[i].len == 0);
				continue;
			}
			SL_ASSERT(f[i].len <= size);
			SL_ASSERT(f[i].len == 0 || inside(f[i].p, f[i].len, (const uint8_t *)p, size) ||
				  (f[i].p >= scratch && f[i].p + f[i].len <= scratch + size));
		}
	}
	free(scratch);
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
	/* An exact-size copy: ASan catches a read one byte past the end. */
	uint8_t *copy = malloc(size ? size : 1);
	SL_ASSERT(copy);
	memcpy(copy, data, size);

	struct sl_pgo_copydata cd;
	int rc = sl_pgo_parse_copydata(size ? copy : NULL, size, &cd, ERR, sizeof(ERR));
	if (rc == 0) {
		SL_ASSERT(cd.kind == 'w' || cd.kind == 'k');
		if (cd.kind == 'w') {
			SL_ASSERT(size >= 25 && cd.payload == copy + 25 &&
				  cd.payload_len == size - 25);
			check_msg(cd.payload, cd.payload_len);
		} else {
			SL_ASSERT(size == 18 && cd.payload == NULL);
		}
	} else {
		SL_ASSERT(rc == -EINVAL);
		check_err(rc, true);
	}
	check_msg(size ? copy : NULL, size);
	check_text(copy, size);
	check_copy_line((const char *)copy, size);
	free(copy);
	return 0;
}
