/* Diagnostics collected while loading and validating a job. */
#include "core/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sl_diag_init(struct sl_diag *d)
{
	memset(d, 0, sizeof(*d));
}

void sl_diag_fini(struct sl_diag *d)
{
	free(d->text);
	memset(d, 0, sizeof(*d));
}

static void diag_append(struct sl_diag *d, const char *s, size_t n)
{
	if (d->len + n + 1 > d->cap) {
		size_t cap = d->cap ? d->cap : 256;
		while (cap < d->len + n + 1)
			cap *= 2;
		char *t = realloc(d->text, cap);
		if (!t)
			return; /* out of memory: lose the message, keep the count */
		d->text = t;
		d->cap = cap;
	}
	memcpy(d->text + d->len, s, n);
	d->len += n;
	d->text[d->len] = '\0';
}

int sl_diag_error(struct sl_diag *d, struct sl_pos pos, const char *fmt, ...)
{
	d->n_errors++;
	if (d->n_errors > SL_DIAG_MAX_ERRORS)
		return -EINVAL;
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "%s:%u:%u: ", pos.file ? pos.file : "<input>", pos.line,
			 pos.col);
	/* A very long file name leaves no room: keep what fits. */
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	diag_append(d, buf, (size_t)n);
	return -EINVAL;
}

const char *sl_diag_text(const struct sl_diag *d)
{
	return d->text ? d->text : "";
}
