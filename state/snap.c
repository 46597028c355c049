/* Snapshot blobs: growth of the writer. */
#include "state/snap.h"

#include <mimalloc.h>

void sl_snap_init(struct sl_snapbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void sl_snap_free(struct sl_snapbuf *b)
{
	mi_free(b->p);
	memset(b, 0, sizeof(*b));
}

bool sl_snap_reserve(struct sl_snapbuf *b, size_t n)
{
	if (b->err)
		return false;
	if (b->cap - b->len >= n)
		return true;
	size_t cap = b->cap ? b->cap : 4096;
	while (cap - b->len < n) {
		if (cap > SIZE_MAX / 2) {
			b->err = -ENOMEM;
			return false;
		}
		cap *= 2;
	}
	uint8_t *p = mi_realloc(b->p, cap);
	if (!p) {
		b->err = -ENOMEM;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sl_snap_put(struct sl_snapbuf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (!sl_snap_reserve(b, n))
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}
