/* Expanding a file source's path: a file, a directory, or a glob pattern. */
#ifndef SL_GLOB_H
#define SL_GLOB_H

#include "core/common.h"

struct sl_filelist {
	uint32_t n;
	char **path;    /* malloc'd, sorted */
	uint64_t *size; /* bytes at expansion time */
};

/*
 * Expands pattern: a regular file; a directory (its regular files, not
 * hidden ones, sorted); or a glob (*, ?, [..], {a,b}) of regular files,
 * sorted. Returns 0 (n may be 0 when nothing matches), -E2BIG past
 * SL_FILE_MAX_FILES, or -errno of a failing stat/opendir.
 */
int sl_glob(const char *pattern, struct sl_filelist *out);
void sl_filelist_free(struct sl_filelist *l);

#endif
