/* Expanding a path, directory or glob into a sorted list of regular files. */
#include "io/glob.h"

#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/limits.h"

static int add(struct sl_filelist *l, const char *path, uint64_t size)
{
	if (l->n >= SL_FILE_MAX_FILES)
		return -E2BIG;
	if ((l->n & (l->n - 1)) == 0) { /* grow at powers of two */
		uint32_t cap = l->n ? l->n * 2 : 8;
		char **p = realloc(l->path, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		l->path = p;
		uint64_t *s = realloc(l->size, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		l->size = s;
	}
	l->path[l->n] = strdup(path);
	if (!l->path[l->n])
		return -ENOMEM;
	l->size[l->n++] = size;
	return 0;
}

struct pair {
	char *path;
	uint64_t size;
};

static int cmp_pair(const void *a, const void *b)
{
	return strcmp(((const struct pair *)a)->path, ((const struct pair *)b)->path);
}

int sl_glob(const char *pattern, struct sl_filelist *out)
{
	memset(out, 0, sizeof(*out));
	struct stat st;
	int rc = 0;
	if (stat(pattern, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return add(out, pattern, (uint64_t)st.st_size);
		if (S_ISDIR(st.st_mode)) {
			DIR *d = opendir(pattern);
			if (!d)
				return -errno;
			struct dirent *e;
			char path[4096];
			while ((e = readdir(d)) && rc == 0) {
				if (e->d_name[0] == '.')
					continue;
				size_t pl = strlen(pattern);
				snprintf(path, sizeof(path), "%s%s%s", pattern,
					 pl && pattern[pl - 1] == '/' ? "" : "/", e->d_name);
				if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
					rc = add(out, path, (uint64_t)st.st_size);
			}
			closedir(d);
			goto out_sort;
		}
	}
	glob_t g;
	int gr = glob(pattern, GLOB_BRACE | GLOB_NOSORT, NULL, &g);
	if (gr == GLOB_NOMATCH)
		return 0;
	if (gr != 0)
		return gr == GLOB_NOSPACE ? -ENOMEM : -EIO;
	for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
		if (stat(g.gl_pathv[i], &st) == 0 && S_ISREG(st.st_mode))
			rc = add(out, g.gl_pathv[i], (uint64_t)st.st_size);
	globfree(&g);
out_sort:
	if (rc < 0) {
		sl_filelist_free(out);
		return rc;
	}
	/* Sort paths and sizes together. */
	if (out->n > 1) {
		struct pair *p = malloc(out->n * sizeof(*p));
		if (!p) {
			sl_filelist_free(out);
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < out->n; i++)
			p[i] = (struct pair){out->path[i], out->size[i]};
		qsort(p, out->n, sizeof(*p), cmp_pair);
		for (uint32_t i = 0; i < out->n; i++) {
			out->path[i] = p[i].path;
			out->size[i] = p[i].size;
		}
		free(p);
	}
	return 0;
}

void sl_filelist_free(struct sl_filelist *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		free(l->path[i]);
	free(l->path);
	free(l->size);
	memset(l, 0, sizeof(*l));
}
