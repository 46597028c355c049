/* Process-wide helpers: the assertion handler. */
#include <stdio.h>
#include <stdlib.h>

#include "core/common.h"

void sl_assert_fail(const char *expr, const char *file, int line)
{
	fprintf(stderr, "sluice: assertion failed: %s (%s:%d)\n", expr, file, line);
	abort();
}
