/* Columnar record batches: the unit that flows between operators and workers. */
#ifndef SL_BATCH_H
#define SL_BATCH_H

#include <string.h>

#include "core/schema.h"

/* Change kind of a row, as Flink's RowKind. */
enum sl_kind {
	SL_KIND_INSERT = 0,        /* +I */
	SL_KIND_UPDATE_BEFORE = 1, /* -U */
	SL_KIND_UPDATE_AFTER = 2,  /* +U */
	SL_KIND_DELETE = 3,        /* -D */
};
/* "+I", "-U", "+U", "-D". */
const char *sl_kind_str(enum sl_kind k);
/* Rows that add to a key (+I, +U) versus rows that retract (-U, -D). */
static inline bool sl_kind_is_add(uint8_t k)
{
	return k == SL_KIND_INSERT || k == SL_KIND_UPDATE_AFTER;
}

struct sl_col {
	uint64_t *valid; /* bit r set: row r is not null */
	union sl_val *v; /* SL_BATCH_ROWS slots */
};

/*
 * A batch is one fixed-size block from its owning worker's pool: header,
 * per-row metadata, SL_MAX_COLS column slots sized for the job's widest
 * schema, and a string heap. It is filled by one worker and read by at most
 * one other (after an exchange), then returned to its owner's pool through
 * the return ring, never freed by a foreign thread.
 */
struct sl_batch {
	struct sl_batch *next; /* pool free list / pending FIFO link */
	const struct sl_schema *schema;
	uint16_t owner;   /* worker whose pool it came from */
	uint16_t n_cols;  /* schema->n_fields, cached */
	uint32_t n_rows;
	uint32_t heap_len;
	uint32_t heap_cap;
	uint32_t max_cols; /* columns this block has room for */
	char *heap;
	uint8_t kind[SL_BATCH_ROWS];
	int64_t ingest_ns[SL_BATCH_ROWS]; /* when the source read the record */
	int64_t event_ms[SL_BATCH_ROWS];  /* event time, or INT64_MIN */
	/* Key hashes a key_by computed (hash_src = its node id + 1; 0: none),
	 * so the keyed step right after it does not hash again. */
	uint32_t hash_src;
	uint64_t key_hash[SL_BATCH_ROWS];
	struct sl_col cols[SL_MAX_COLS];
};

/* Bytes of one block for schemas of at most max_cols columns. */
size_t sl_batch_block_bytes(uint32_t max_cols);
/* Lays a batch out in block (of sl_batch_block_bytes(max_cols) bytes). */
struct sl_batch *sl_batch_format(void *block, uint32_t max_cols, uint16_t owner);
/* Empties b and gives it schema s (s->n_fields <= b->max_cols). */
void sl_batch_reset(struct sl_batch *b, const struct sl_schema *s);

static inline bool sl_batch_full(const struct sl_batch *b)
{
	return b->n_rows == SL_BATCH_ROWS;
}
static inline bool sl_batch_is_valid(const struct sl_batch *b, uint32_t col, uint32_t row)
{
	return (b->cols[col].valid[row >> 6] >> (row & 63)) & 1u;
}
static inline void sl_batch_set_valid(struct sl_batch *b, uint32_t col, uint32_t row, bool v)
{
	uint64_t bit = 1ull << (row & 63);
	if (v)
		b->cols[col].valid[row >> 6] |= bit;
	else
		b->cols[col].valid[row >> 6] &= ~bit;
}
static inline const char *sl_batch_str(const struct sl_batch *b, uint32_t col, uint32_t row,
				       uint32_t *len)
{
	union sl_val v = b->cols[col].v[row];
	*len = v.s.len;
	return b->heap + v.s.off;
}
/* Bytes left in the string heap. */
static inline uint32_t sl_batch_heap_free(const struct sl_batch *b)
{
	return b->heap_cap - b->heap_len;
}

/*
 * Starts row n_rows (not yet counted): all columns null. The caller sets
 * values, then sl_batch_commit_row(). Returns the row index.
 */
static inline uint32_t sl_batch_begin_row(struct sl_batch *b, uint8_t kind, int64_t ingest_ns,
					  int64_t event_ms)
{
	uint32_t r = b->n_rows;
	SL_DASSERT(r < SL_BATCH_ROWS);
	if ((r & 63) == 0)
		for (uint32_t c = 0; c < b->n_cols; c++)
			b->cols[c].valid[r >> 6] = 0;
	b->kind[r] = kind;
	b->ingest_ns[r] = ingest_ns;
	b->event_ms[r] = event_ms;
	return r;
}
static inline void sl_batch_commit_row(struct sl_batch *b)
{
	b->n_rows++;
}
/* Forgets a begun (uncommitted) row: its string bytes and its values, so
 * the next sl_batch_begin_row finds every column null again. */
static inline void sl_batch_rollback(struct sl_batch *b, uint32_t heap_mark)
{
	b->heap_len = heap_mark;
	for (uint32_t c = 0; c < b->n_cols; c++)
		sl_batch_set_valid(b, c, b->n_rows, false);
}
static inline void sl_batch_set_i(struct sl_batch *b, uint32_t col, uint32_t row, int64_t i)
{
	b->cols[col].v[row].i = i;
	sl_batch_set_valid(b, col, row, true);
}
static inline void sl_batch_set_f(struct sl_batch *b, uint32_t col, uint32_t row, double f)
{
	b->cols[col].v[row].f = f;
	sl_batch_set_valid(b, col, row, true);
}
static inline void sl_batch_set_null(struct sl_batch *b, uint32_t col, uint32_t row)
{
	sl_batch_set_valid(b, col, row, false);
}
/* Copies a string into the heap; false if the heap is full (nothing set). */
static inline bool sl_batch_set_str(struct sl_batch *b, uint32_t col, uint32_t row, const char *s,
				    size_t len)
{
	if (SL_UNLIKELY(len > sl_batch_heap_free(b)))
		return false;
	memcpy(b->heap + b->heap_len, s, len);
	b->cols[col].v[row].s.off = b->heap_len;
	b->cols[col].v[row].s.len = (uint32_t)len;
	b->heap_len += (uint32_t)len;
	sl_batch_set_valid(b, col, row, true);
	return true;
}
/* Reserves len heap bytes for a string built in place; NULL if full. */
static inline char *sl_batch_str_reserve(struct sl_batch *b, uint32_t col, uint32_t row,
					 uint32_t len)
{
	if (SL_UNLIKELY(len > sl_batch_heap_free(b)))
		return NULL;
	char *p = b->heap + b->heap_len;
	b->cols[col].v[row].s.off = b->heap_len;
	b->cols[col].v[row].s.len = len;
	b->heap_len += len;
	sl_batch_set_valid(b, col, row, true);
	return p;
}

/*
 * Appends rows src[rows[0..n)] (same schema) to dst, column by column, as
 * many as fit (row slots and string heap). Returns how many were appended
 * (a prefix of rows). Also copies key hashes when src carries them.
 */
uint32_t sl_batch_append_rows(struct sl_batch *dst, const struct sl_batch *src,
			      const uint16_t *rows, uint32_t n);

/*
 * Copies row r of src (same schema) to the end of dst. Returns false if dst
 * is full or its heap has no room; dst is then unchanged.
 */
bool sl_batch_copy_row(struct sl_batch *dst, const struct sl_batch *src, uint32_t r);

#endif
