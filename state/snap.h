/* Snapshot blobs: a growable little-endian writer and a bounds-checked reader. */
#ifndef SL_SNAP_H
#define SL_SNAP_H

#include <string.h>

#include "core/common.h"

/*
 * A node's part of a checkpoint is one blob it writes at the barrier and
 * reads back at restore. Writers append; an allocation failure sticks in
 * err (checked once at the end, so callers need not test every put).
 * Readers never read past the end: a short or corrupt blob sets bad and
 * yields zeros.
 */
struct sl_snapbuf {
	uint8_t *p;
	size_t len, cap;
	int err; /* -ENOMEM after a failed growth */
};

void sl_snap_init(struct sl_snapbuf *b);
void sl_snap_free(struct sl_snapbuf *b);
/* Makes room for n more bytes; false (and err set) if memory ran out. */
bool sl_snap_reserve(struct sl_snapbuf *b, size_t n);
void sl_snap_put(struct sl_snapbuf *b, const void *p, size_t n);

static inline void sl_snap_u8(struct sl_snapbuf *b, uint8_t v)
{
	sl_snap_put(b, &v, 1);
}
static inline void sl_snap_u32(struct sl_snapbuf *b, uint32_t v)
{
	sl_snap_put(b, &v, 4); /* every supported target is little-endian */
}
static inline void sl_snap_u64(struct sl_snapbuf *b, uint64_t v)
{
	sl_snap_put(b, &v, 8);
}
/* A string as a u32 length and its bytes. */
static inline void sl_snap_str(struct sl_snapbuf *b, const char *s)
{
	uint32_t n = (uint32_t)strlen(s);
	sl_snap_u32(b, n);
	sl_snap_put(b, s, n);
}

struct sl_snapread {
	const uint8_t *p, *end;
	bool bad;
};

static inline void sl_snapread_init(struct sl_snapread *r, const void *p, size_t len)
{
	r->p = p;
	r->end = len ? r->p + len : r->p;
	r->bad = false;
}
/* n bytes in place, or NULL (bad set) when fewer are left. */
static inline const void *sl_snapread_get(struct sl_snapread *r, size_t n)
{
	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		r->p = r->end;
		return NULL;
	}
	const void *q = r->p;
	r->p += n;
	return q;
}
static inline uint8_t sl_snapread_u8(struct sl_snapread *r)
{
	const uint8_t *q = sl_snapread_get(r, 1);
	return q ? *q : 0;
}
static inline uint32_t sl_snapread_u32(struct sl_snapread *r)
{
	uint32_t v = 0;
	const void *q = sl_snapread_get(r, 4);
	if (q)
		memcpy(&v, q, 4);
	return v;
}
static inline uint64_t sl_snapread_u64(struct sl_snapread *r)
{
	uint64_t v = 0;
	const void *q = sl_snapread_get(r, 8);
	if (q)
		memcpy(&v, q, 8);
	return v;
}
/* A string written by sl_snap_str into buf (NUL-terminated); bad if it does
 * not fit cap. */
static inline void sl_snapread_str(struct sl_snapread *r, char *buf, size_t cap)
{
	uint32_t n = sl_snapread_u32(r);
	const char *q = n < cap ? sl_snapread_get(r, n) : NULL;
	if (!q) {
		r->bad = true;
		if (cap)
			buf[0] = '\0';
		return;
	}
	memcpy(buf, q, n);
	buf[n] = '\0';
}
static inline bool sl_snapread_done(const struct sl_snapread *r)
{
	return !r->bad && r->p == r->end;
}

/*
 * Where a deferred snapshot goes (the checkpoint coordinator's thread): the
 * serializer appends to buf and calls flush once buf holds at least
 * flush_at bytes (SL_SNAPSINK_FLUSH_BYTES when streaming); flush consumes buf (compresses and writes it)
 * and leaves it empty, or returns a negative errno. err keeps the first.
 */
#define SL_SNAPSINK_FLUSH_BYTES (4u << 20)
struct sl_snapsink {
	struct sl_snapbuf buf;
	int (*flush)(struct sl_snapsink *s);
	size_t flush_at; /* call flush once buf.len reaches it (SIZE_MAX: never) */
	int err;
};

/* One old worker's blob of one node, handed to the plugin's restore. */
struct sl_blob {
	const uint8_t *p;
	size_t len;
};

#endif
