/* A growable byte buffer (mimalloc), kept NUL-terminated so text can be read in place. */
#ifndef SL_GROWBUF_H
#define SL_GROWBUF_H

#include <mimalloc.h>
#include <stdbool.h>
#include <string.h>

struct sl_growbuf {
	char *p;
	size_t len, cap;
};

/* Room for n more bytes (doubling from 64 KiB); false when memory ran out. */
static inline bool sl_growbuf_reserve(struct sl_growbuf *g, size_t n)
{
	if (g->cap - g->len >= n)
		return true;
	size_t cap = g->cap ? g->cap : 64 * 1024;
	while (cap - g->len < n)
		cap *= 2;
	char *p = mi_realloc(g->p, cap);
	if (!p)
		return false;
	g->p = p;
	g->cap = cap;
	return true;
}

/* Appends n bytes (s may be NULL when n is 0) and a NUL after them. */
static inline bool sl_growbuf_put(struct sl_growbuf *g, const void *s, size_t n)
{
	if (!sl_growbuf_reserve(g, n + 1))
		return false;
	if (n)
		memcpy(g->p + g->len, s, n);
	g->len += n;
	g->p[g->len] = '\0';
	return true;
}

static inline bool sl_growbuf_puts(struct sl_growbuf *g, const char *s)
{
	return sl_growbuf_put(g, s, strlen(s));
}

#endif
