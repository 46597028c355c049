/* Diagnostics: "FILE:LINE:COL: message" errors collected before a job starts. */
#ifndef SL_DIAG_H
#define SL_DIAG_H

#include "core/common.h"

/* A place in an input: file (or "--set", "env NAME"), 1-based line and column. */
struct sl_pos {
	const char *file; /* owned by whoever loaded the document; may be NULL */
	uint32_t line;
	uint32_t col;
};

/*
 * Collects error lines. Not thread-safe: used during validation on the
 * control thread. At most SL_DIAG_MAX_ERRORS lines are kept; the count goes on.
 */
#define SL_DIAG_MAX_ERRORS 100u
struct sl_diag {
	unsigned n_errors;
	char *text; /* "FILE:LINE:COL: message\n" lines, NUL-terminated, malloc'd */
	size_t len;
	size_t cap;
};

void sl_diag_init(struct sl_diag *d);
void sl_diag_fini(struct sl_diag *d);
/* Records "FILE:LINE:COL: message". Returns -EINVAL, so callers can
 * `return sl_diag_error(...)`. */
int sl_diag_error(struct sl_diag *d, struct sl_pos pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The collected text ("" if none). */
const char *sl_diag_text(const struct sl_diag *d);

#endif
