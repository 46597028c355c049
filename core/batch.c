/* Columnar record batches: block layout and row copies. */
#include "core/batch.h"

const char *sl_kind_str(enum sl_kind k)
{
	static const char *const s[] = {"+I", "-U", "+U", "-D"};
	return (unsigned)k < 4 ? s[k] : "??";
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) & ~(a - 1);
}

/* Layout: [struct sl_batch][validity words][value slots][string heap]. */
size_t sl_batch_block_bytes(uint32_t max_cols)
{
	SL_ASSERT(max_cols >= 1 && max_cols <= SL_MAX_COLS);
	size_t n = align_up(sizeof(struct sl_batch), SL_CACHELINE);
	n += (size_t)max_cols * (SL_BATCH_ROWS / 64) * sizeof(uint64_t);
	n += (size_t)max_cols * SL_BATCH_ROWS * sizeof(union sl_val);
	n += SL_BATCH_HEAP_BYTES;
	return align_up(n, 4096);
}

struct sl_batch *sl_batch_format(void *block, uint32_t max_cols, uint16_t owner)
{
	SL_ASSERT(((uintptr_t)block & (SL_CACHELINE - 1)) == 0);
	struct sl_batch *b = block;
	char *p = (char *)block + align_up(sizeof(struct sl_batch), SL_CACHELINE);
	b->next = NULL;
	b->schema = NULL;
	b->owner = owner;
	b->n_cols = 0;
	b->n_rows = 0;
	b->max_cols = max_cols;
	for (uint32_t c = 0; c < SL_MAX_COLS; c++) {
		b->cols[c].valid = NULL;
		b->cols[c].v = NULL;
	}
	for (uint32_t c = 0; c < max_cols; c++) {
		b->cols[c].valid = (uint64_t *)p;
		p += (SL_BATCH_ROWS / 64) * sizeof(uint64_t);
	}
	for (uint32_t c = 0; c < max_cols; c++) {
		b->cols[c].v = (union sl_val *)p;
		p += SL_BATCH_ROWS * sizeof(union sl_val);
	}
	b->heap = p;
	b->heap_len = 0;
	b->heap_cap = SL_BATCH_HEAP_BYTES;
	return b;
}

void sl_batch_reset(struct sl_batch *b, const struct sl_schema *s)
{
	SL_ASSERT(s->n_fields <= b->max_cols);
	b->schema = s;
	b->n_cols = (uint16_t)s->n_fields;
	b->n_rows = 0;
	b->heap_len = 0;
	b->hash_src = 0;
	b->next = NULL;
}

uint32_t sl_batch_append_rows(struct sl_batch *dst, const struct sl_batch *src,
			      const uint16_t *rows, uint32_t n)
{
	SL_DASSERT(dst->n_cols == src->n_cols);
	const struct sl_schema *s = src->schema;
	uint32_t room = SL_BATCH_ROWS - dst->n_rows;
	if (n > room)
		n = room;
	/* How many fit the heap: the strings of a prefix of rows. */
	uint32_t free_bytes = sl_batch_heap_free(dst), k = 0;
	bool has_str = false;
	for (uint32_t c = 0; c < s->n_fields; c++)
		has_str |= s->fields[c].type == SL_T_STRING;
	if (has_str) {
		uint64_t need = 0;
		for (; k < n; k++) {
			uint32_t r = rows[k];
			for (uint32_t c = 0; c < s->n_fields; c++)
				if (s->fields[c].type == SL_T_STRING && sl_batch_is_valid(src, c, r))
					need += src->cols[c].v[r].s.len;
			if (need > free_bytes)
				break;
		}
	} else {
		k = n;
	}
	uint32_t base = dst->n_rows;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t r = rows[i];
		dst->kind[base + i] = src->kind[r];
		dst->ingest_ns[base + i] = src->ingest_ns[r];
		dst->event_ms[base + i] = src->event_ms[r];
		dst->key_hash[base + i] = src->key_hash[r];
	}
	for (uint32_t c = 0; c < s->n_fields; c++) {
		const struct sl_col *sc = &src->cols[c];
		struct sl_col *dc = &dst->cols[c];
		bool str = s->fields[c].type == SL_T_STRING;
		for (uint32_t i = 0; i < k; i++) {
			uint32_t r = rows[i], o = base + i;
			uint64_t bit = 1ull << (o & 63);
			if ((o & 63) == 0 || i == 0) /* first use of this word in dst */
				dc->valid[o >> 6] &= (o & 63) ? (bit - 1) : 0;
			if (!((sc->valid[r >> 6] >> (r & 63)) & 1))
				continue;
			dc->valid[o >> 6] |= bit;
			if (str) {
				uint32_t len = sc->v[r].s.len;
				memcpy(dst->heap + dst->heap_len, src->heap + sc->v[r].s.off, len);
				dc->v[o].s.off = dst->heap_len;
				dc->v[o].s.len = len;
				dst->heap_len += len;
			} else {
				dc->v[o] = sc->v[r];
			}
		}
	}
	dst->n_rows += k;
	return k;
}

bool sl_batch_copy_row(struct sl_batch *dst, const struct sl_batch *src, uint32_t r)
{
	SL_DASSERT(dst->n_cols == src->n_cols);
	if (sl_batch_full(dst))
		return false;
	uint32_t need = 0;
	for (uint32_t c = 0; c < src->n_cols; c++)
		if (src->schema->fields[c].type == SL_T_STRING && sl_batch_is_valid(src, c, r))
			need += src->cols[c].v[r].s.len;
	if (need > sl_batch_heap_free(dst))
		return false;
	uint32_t o = sl_batch_begin_row(dst, src->kind[r], src->ingest_ns[r], src->event_ms[r]);
	for (uint32_t c = 0; c < src->n_cols; c++) {
		if (!sl_batch_is_valid(src, c, r))
			continue;
		if (src->schema->fields[c].type == SL_T_STRING) {
			uint32_t len;
			const char *s = sl_batch_str(src, c, r, &len);
			sl_batch_set_str(dst, c, o, s, len);
		} else {
			dst->cols[c].v[o] = src->cols[c].v[r];
			sl_batch_set_valid(dst, c, o, true);
		}
	}
	sl_batch_commit_row(dst);
	return true;
}
