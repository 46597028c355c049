/* libFuzzer target for core/config and core/options: load a job file, apply
 * overrides, convert every scalar every way and parse an options table.
 * Input: YAML, then optionally a NUL and override lines ("a.b=value" for
 * --set, "SLUICE__A__B=value" for the environment). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/limits.h"
#include "core/options.h"

struct fuzz_conf {
	const char *path;
	int64_t n;
	double ratio;
	bool on;
	int64_t every_ms;
	int64_t buf_bytes;
	int format;
	struct sl_strlist keys;
	struct sl_cfg_node *fields;
};

static const char *const FORMATS[] = {"json", "csv", NULL};

static const struct sl_option OPTS[] = {
    {"path", SL_OPT_STRING, NULL, false, offsetof(struct fuzz_conf, path), "", NULL, 0, 0},
    {"n", SL_OPT_INT, "1", false, offsetof(struct fuzz_conf, n), "", NULL, -5, 1000},
    {"ratio", SL_OPT_DOUBLE, "0.5", false, offsetof(struct fuzz_conf, ratio), "", NULL, 0, 0},
    {"on", SL_OPT_BOOL, "on", false, offsetof(struct fuzz_conf, on), "", NULL, 0, 0},
    {"every", SL_OPT_DURATION_MS, "1s", false, offsetof(struct fuzz_conf, every_ms), "", NULL, 1,
     86400000},
    {"buf", SL_OPT_SIZE_BYTES, "1MiB", false, offsetof(struct fuzz_conf, buf_bytes), "", NULL, 0,
     0},
    {"format", SL_OPT_ENUM, "csv", false, offsetof(struct fuzz_conf, format), "", FORMATS, 0, 0},
    {"keys", SL_OPT_STRING_LIST, "[a, b]", false, offsetof(struct fuzz_conf, keys), "", NULL, 0, 0},
    {"fields", SL_OPT_NODE, NULL, false, offsetof(struct fuzz_conf, fields), "", NULL, 0, 0},
    {0},
};

static const char *const EXTRA[] = {"type", "from", NULL};

static void check_node(const struct sl_cfg_node *n)
{
	SL_ASSERT(n->pos.file != NULL);
	switch (n->type) {
	case SL_CFG_NULL:
		SL_ASSERT(n->str == NULL && n->n == 0);
		break;
	case SL_CFG_SCALAR:
		SL_ASSERT(n->str != NULL && n->str[n->len] == '\0' && n->n == 0);
		break;
	case SL_CFG_MAP:
		for (uint32_t i = 0; i < n->n; i++)
			SL_ASSERT(n->keys[i]->type == SL_CFG_SCALAR);
		break;
	case SL_CFG_SEQ:
		SL_ASSERT(n->keys == NULL);
		break;
	}
}

static void convert_all(struct sl_cfg_doc *doc, struct sl_cfg_node *n, struct sl_diag *d)
{
	const char *s;
	int64_t i, ms, bytes;
	double f;
	bool b;
	int e;
	struct sl_strlist l;
	int ri = sl_cfg_as_int64(n, "k", INT64_MIN, INT64_MAX, &i, d);
	int rf = sl_cfg_as_double(n, "k", &f, d);
	/* Every integer is also a number, and converts to the same double. */
	SL_ASSERT(ri != 0 || (rf == 0 && f == (double)i));
	(void)sl_cfg_as_string(n, "k", &s, d);
	(void)sl_cfg_as_bool(n, "k", &b, d);
	(void)sl_cfg_as_int64(n, "k", -10, 10, &i, d);
	if (sl_cfg_as_duration_ms(n, "k", 0, INT64_MAX, &ms, d) == 0)
		SL_ASSERT(ms >= 0);
	if (sl_cfg_as_size_bytes(n, "k", 0, INT64_MAX, &bytes, d) == 0)
		SL_ASSERT(bytes >= 0);
	(void)sl_cfg_as_duration_ms(n, "k", 100, 1000, &ms, d);
	(void)sl_cfg_as_size_bytes(n, "k", 1, 1024, &bytes, d);
	(void)sl_cfg_as_enum(n, "k", FORMATS, &e, d);
	if (sl_cfg_as_strlist(doc, n, "k", &l, d) == 0)
		for (uint32_t k = 0; k < l.n; k++)
			SL_ASSERT(l.v[k] != NULL);
}

/* Option parsing re-parses the defaults: do it for the first maps only. */
#define FUZZ_MAX_OPTION_MAPS 64

static void walk(struct sl_cfg_doc *doc, struct sl_cfg_node *n, uint32_t depth, unsigned *n_maps,
		 struct sl_diag *d)
{
	SL_ASSERT(depth <= SL_CONFIG_MAX_DEPTH + 1);
	check_node(n);
	convert_all(doc, n, d);
	if (n->type == SL_CFG_MAP && (*n_maps)++ < FUZZ_MAX_OPTION_MAPS) {
		struct fuzz_conf c = {0};
		(void)sl_options_parse(OPTS, doc, n, "fuzz", EXTRA, &c, d);
	}
	for (uint32_t i = 0; n->type == SL_CFG_MAP && i < n->n; i++)
		walk(doc, n->keys[i], depth + 1, n_maps, d);
	for (uint32_t i = 0; (n->type == SL_CFG_MAP || n->type == SL_CFG_SEQ) && i < n->n; i++)
		walk(doc, n->vals[i], depth + 1, n_maps, d);
}

static void apply_overrides(struct sl_cfg_doc *doc, const uint8_t *data, size_t size,
			    struct sl_diag *d)
{
	char *text = malloc(size + 1);
	char *envp[17];
	size_t n_env = 0;
	if (!text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	/* Lines up to the first NUL; environment first, then --set, as sluice does. */
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "SLUICE", 6) == 0 && n_env + 1 < SL_ARRAY_LEN(envp))
			envp[n_env++] = line;
	envp[n_env] = NULL;
	(void)sl_cfg_apply_env(doc, envp, d);
	memcpy(text, data, size);
	text[size] = '\0';
	/* A command line has a few --set, not thousands (lookups are linear). */
	unsigned n_set = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && n_set < 64;
	     line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "SLUICE", 6) != 0 && ++n_set)
			(void)sl_cfg_set_arg(doc, line, d);
	free(text);
}

/* Every message is one line: nothing from the input may break it. */
static void check_diag(const struct sl_diag *d)
{
	size_t lines = 0;
	for (const char *p = sl_diag_text(d); *p; p++)
		lines += *p == '\n';
	SL_ASSERT(lines == SL_MIN(d->n_errors, SL_DIAG_MAX_ERRORS) || d->text == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_diag d;
	sl_diag_init(&d);
	const uint8_t *nul = memchr(data, '\0', size);
	size_t yaml_len = nul ? (size_t)(nul - data) : size;
	struct sl_cfg_doc *doc = sl_cfg_load_string("fuzz", (const char *)data, yaml_len, &d);
	SL_ASSERT(doc != NULL || d.n_errors > 0);
	if (doc) {
		if (nul)
			apply_overrides(doc, nul + 1, size - yaml_len - 1, &d);
		struct sl_cfg_node *root = sl_cfg_root(doc);
		unsigned n_maps = 0;
		walk(doc, root, 1, &n_maps, &d);
		(void)sl_cfg_unused(root, "fuzz", EXTRA, &d);
	}
	check_diag(&d);
	sl_cfg_free(doc);
	sl_diag_fini(&d);
	return 0;
}
