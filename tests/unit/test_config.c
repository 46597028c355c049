/* Unit test of core/config and core/options: positions, errors, overrides,
 * conversions, limits and option tables, each against exact expected text. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/limits.h"
#include "core/options.h"

static int failures;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want) check_str(__LINE__, (got), (want))
static void check_str(int line, const char *got, const char *want)
{
	if (got && want && strcmp(got, want) == 0)
		return;
	fprintf(stderr, "%s:%d: got\n---\n%s\n---\nwant\n---\n%s\n---\n", __FILE__, line,
		got ? got : "(null)", want ? want : "(null)");
	failures++;
}

#define CHECK_POS(node, l, c) check_pos(__LINE__, (node), "job.yaml", (l), (c))
#define CHECK_POS_IN(node, f, l, c) check_pos(__LINE__, (node), (f), (l), (c))
static void check_pos(int line, const struct sl_cfg_node *n, const char *file, uint32_t l,
		      uint32_t c)
{
	if (n && n->pos.file && strcmp(n->pos.file, file) == 0 && n->pos.line == l &&
	    n->pos.col == c)
		return;
	if (!n)
		fprintf(stderr, "%s:%d: node missing, want %s:%u:%u\n", __FILE__, line, file, l, c);
	else
		fprintf(stderr, "%s:%d: position %s:%u:%u, want %s:%u:%u\n", __FILE__, line,
			n->pos.file ? n->pos.file : "(null)", n->pos.line, n->pos.col, file, l, c);
	failures++;
}

/* Scalar node with exactly this text and quoting. */
#define CHECK_SCALAR(node, text, q) check_scalar(__LINE__, (node), (text), (q))
static void check_scalar(int line, const struct sl_cfg_node *n, const char *text, bool quoted)
{
	if (n && n->type == SL_CFG_SCALAR && n->len == strlen(text) &&
	    memcmp(n->str, text, n->len) == 0 && n->str[n->len] == '\0' && n->quoted == quoted)
		return;
	fprintf(stderr, "%s:%d: want scalar '%s' quoted=%d, got %s '%s' quoted=%d\n", __FILE__,
		line, text, quoted, n ? sl_cfg_type_name(n->type) : "nothing",
		n && n->str ? n->str : "", n ? n->quoted : 0);
	failures++;
}

static struct sl_cfg_doc *load_ok(int line, const char *text)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_cfg_doc *doc = sl_cfg_load_string("job.yaml", text, strlen(text), &d);
	if (!doc || d.n_errors) {
		fprintf(stderr, "%s:%d: unexpected load failure:\n%s", __FILE__, line,
			sl_diag_text(&d));
		exit(1);
	}
	sl_diag_fini(&d);
	return doc;
}
#define LOAD_OK(text) load_ok(__LINE__, (text))

#define LOAD_ERR(text, want) load_err(__LINE__, (text), strlen(text), (want))
static void load_err(int line, const char *text, size_t len, const char *want)
{
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_cfg_doc *doc = sl_cfg_load_string("job.yaml", text, len, &d);
	if (doc) {
		fprintf(stderr, "%s:%d: load succeeded, want error:\n%s", __FILE__, line, want);
		failures++;
		sl_cfg_free(doc);
	} else {
		check_str(line, sl_diag_text(&d), want);
	}
	sl_diag_fini(&d);
}

/* Follows a dotted path: map keys, or decimal indices into sequences.
 * Does not mark anything used (so tests of "unused" stay honest). */
static struct sl_cfg_node *at(struct sl_cfg_node *n, const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *save = NULL, *s = strtok_r(buf, ".", &save); s && n;
	     s = strtok_r(NULL, ".", &save)) {
		struct sl_cfg_node *next = NULL;
		if (n->type == SL_CFG_SEQ) {
			unsigned long i = strtoul(s, NULL, 10);
			next = i < n->n ? n->vals[i] : NULL;
		} else if (n->type == SL_CFG_MAP) {
			for (uint32_t i = 0; i < n->n; i++)
				if (strcmp(n->keys[i]->str, s) == 0)
					next = n->vals[i];
		}
		n = next;
	}
	return n;
}

static struct sl_cfg_node *key_of(struct sl_cfg_node *map, const char *key)
{
	for (uint32_t i = 0; map && map->type == SL_CFG_MAP && i < map->n; i++)
		if (strcmp(map->keys[i]->str, key) == 0)
			return map->keys[i];
	return NULL;
}

static const char SAMPLE[] = "# sample job\n"				  /* 1 */
			     "name: demo\n"				  /* 2 */
			     "sources:\n"				  /* 3 */
			     "  events:\n"				  /* 4 */
			     "    type: generator\n"			  /* 5 */
			     "    rate: 1000\n"				  /* 6 */
			     "    keys: [a, \"b\", 'c']\n"		  /* 7 */
			     "steps:\n"					  /* 8 */
			     "  - name: f\n"				  /* 9 */
			     "    op: filter\n"				  /* 10 */
			     "    where: \"x > 1\"\n"			  /* 11 */
			     "sinks:\n"					  /* 12 */
			     "  out: {type: file, path: /tmp/out.json}\n" /* 13 */
			     "empty:\n"					  /* 14 */
			     "nothing: ~\n"				  /* 15 */
			     "text: |\n"				  /* 16 */
			     "  hello\n"				  /* 17 */
			     "  world\n";				  /* 18 */

static void test_positions(void)
{
	struct sl_cfg_doc *doc = LOAD_OK(SAMPLE);
	struct sl_cfg_node *r = sl_cfg_root(doc);
	CHECK(r->type == SL_CFG_MAP && r->n == 7);
	CHECK_STR(sl_cfg_name(doc), "job.yaml");
	CHECK_POS(r, 2, 1);
	CHECK_POS(key_of(r, "name"), 2, 1);
	CHECK_SCALAR(at(r, "name"), "demo", false);
	CHECK_POS(at(r, "name"), 2, 7);
	CHECK_POS(key_of(r, "sources"), 3, 1);
	CHECK_POS(at(r, "sources"), 4, 3);
	CHECK_POS(at(r, "sources.events"), 5, 5);
	CHECK_SCALAR(at(r, "sources.events.type"), "generator", false);
	CHECK_POS(at(r, "sources.events.type"), 5, 11);
	CHECK_SCALAR(at(r, "sources.events.rate"), "1000", false);
	CHECK_POS(at(r, "sources.events.rate"), 6, 11);
	struct sl_cfg_node *keys = at(r, "sources.events.keys");
	CHECK(keys && keys->type == SL_CFG_SEQ && keys->n == 3 && keys->str == NULL);
	CHECK_POS(keys, 7, 11);
	CHECK_SCALAR(at(r, "sources.events.keys.0"), "a", false);
	CHECK_POS(at(r, "sources.events.keys.0"), 7, 12);
	CHECK_SCALAR(at(r, "sources.events.keys.1"), "b", true);
	CHECK_POS(at(r, "sources.events.keys.1"), 7, 15);
	CHECK_SCALAR(at(r, "sources.events.keys.2"), "c", true);
	CHECK_POS(at(r, "sources.events.keys.2"), 7, 20);
	struct sl_cfg_node *steps = at(r, "steps");
	CHECK(steps && steps->type == SL_CFG_SEQ && steps->n == 1);
	CHECK_POS(steps, 9, 3);
	CHECK_POS(at(r, "steps.0"), 9, 5);
	CHECK_SCALAR(at(r, "steps.0.name"), "f", false);
	CHECK_POS(at(r, "steps.0.name"), 9, 11);
	CHECK_SCALAR(at(r, "steps.0.where"), "x > 1", true);
	CHECK_POS(at(r, "steps.0.where"), 11, 12);
	CHECK_POS(at(r, "sinks.out"), 13, 8);
	CHECK_POS(key_of(at(r, "sinks.out"), "type"), 13, 9);
	CHECK_POS(at(r, "sinks.out.type"), 13, 15);
	CHECK_POS(key_of(at(r, "sinks.out"), "path"), 13, 21);
	CHECK_SCALAR(at(r, "sinks.out.path"), "/tmp/out.json", false);
	CHECK_POS(at(r, "sinks.out.path"), 13, 27);
	CHECK(at(r, "empty") && at(r, "empty")->type == SL_CFG_NULL && !at(r, "empty")->str);
	CHECK(at(r, "nothing") && at(r, "nothing")->type == SL_CFG_NULL);
	CHECK_POS(at(r, "nothing"), 15, 10);
	CHECK_SCALAR(at(r, "text"), "hello\nworld\n", true);
	CHECK_POS(at(r, "text"), 16, 7);
	/* Keys keep document order. */
	const char *order[] = {"name", "sources", "steps", "sinks", "empty", "nothing", "text"};
	for (uint32_t i = 0; i < 7 && i < r->n; i++)
		CHECK_STR(r->keys[i]->str, order[i]);

	/* sl_cfg_get: marks used, NULL on absent or non-map. */
	CHECK(!r->keys[0]->used);
	CHECK(sl_cfg_get(r, "name") == at(r, "name"));
	CHECK(r->keys[0]->used && r->vals[0]->used);
	CHECK(sl_cfg_get(r, "nope") == NULL);
	CHECK(sl_cfg_get(at(r, "name"), "x") == NULL);
	CHECK(sl_cfg_get(NULL, "x") == NULL);
	sl_cfg_free(doc);

	/* Flow style throughout. */
	doc = LOAD_OK("{a: [1, {b: c}], 'd': \"e\"}");
	r = sl_cfg_root(doc);
	CHECK(r->n == 2);
	CHECK_POS(r, 1, 1);
	CHECK_POS(at(r, "a"), 1, 5);
	CHECK_SCALAR(at(r, "a.0"), "1", false);
	CHECK_POS(at(r, "a.1.b"), 1, 13);
	CHECK_SCALAR(at(r, "d"), "e", true);
	CHECK_POS(at(r, "d"), 1, 23);
	CHECK(key_of(r, "d")->quoted);
	sl_cfg_free(doc);

	/* Empty documents are empty maps; so are comments only and "---". */
	const char *empties[] = {"", "# nothing\n", "---\n", "~\n", "--- ~\n...\n"};
	for (size_t i = 0; i < SL_ARRAY_LEN(empties); i++) {
		doc = LOAD_OK(empties[i]);
		r = sl_cfg_root(doc);
		CHECK(r->type == SL_CFG_MAP && r->n == 0);
		sl_cfg_free(doc);
	}
	/* A non-map document loads; the job layer decides what to make of it. */
	doc = LOAD_OK("- a\n- b\n");
	CHECK(sl_cfg_root(doc)->type == SL_CFG_SEQ && sl_cfg_root(doc)->n == 2);
	sl_cfg_free(doc);
}

static void test_quoting_and_tags(void)
{
	struct sl_cfg_doc *doc = LOAD_OK("a: \"123\"\n"
					 "b: 123\n"
					 "c: 'null'\n"
					 "d: null\n"
					 "e: \"\"\n"
					 "f: !!str 42\n"
					 "g: !!int \"7\"\n"
					 "h: !!null x\n"
					 "i: ! 5\n"
					 "j: NULL\n"
					 "k: >\n  folded\n  text\n"
					 "l: \"esc\\tx\\u00e9\"\n"
					 "~: tilde key\n");
	struct sl_cfg_node *r = sl_cfg_root(doc);
	CHECK_SCALAR(at(r, "a"), "123", true);
	CHECK_SCALAR(at(r, "b"), "123", false);
	CHECK_SCALAR(at(r, "c"), "null", true);
	CHECK(at(r, "d")->type == SL_CFG_NULL);
	CHECK_SCALAR(at(r, "e"), "", true);
	CHECK_SCALAR(at(r, "f"), "42", true);
	CHECK_SCALAR(at(r, "g"), "7", false);
	CHECK(at(r, "h")->type == SL_CFG_NULL);
	CHECK_SCALAR(at(r, "i"), "5", true);
	CHECK(at(r, "j")->type == SL_CFG_NULL);
	CHECK_SCALAR(at(r, "k"), "folded text\n", true);
	CHECK_SCALAR(at(r, "l"), "esc\tx\xc3\xa9", true);
	CHECK_SCALAR(at(r, "~"), "tilde key", false); /* keys are never null */

	struct sl_diag d;
	int64_t i64 = -1;
	const char *s = NULL;
	sl_diag_init(&d);
	CHECK(sl_cfg_as_int64(at(r, "a"), "a", INT64_MIN, INT64_MAX, &i64, &d) == -EINVAL);
	CHECK(i64 == -1);
	CHECK(sl_cfg_as_int64(at(r, "g"), "g", INT64_MIN, INT64_MAX, &i64, &d) == 0 && i64 == 7);
	CHECK(sl_cfg_as_string(at(r, "b"), "b", &s, &d) == 0 && strcmp(s, "123") == 0);
	CHECK(sl_cfg_as_string(at(r, "d"), "d", &s, &d) == -EINVAL);
	CHECK_STR(sl_diag_text(&d), "job.yaml:1:4: a: expected integer, got '\"123\"'\n"
				    "job.yaml:4:4: d: expected string, got null\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	LOAD_ERR("a: !foo bar\nb: !!binary aGk=\nc: !!str [x]\n",
		 "job.yaml:1:4: unsupported tag '!foo' on a scalar (allowed: !!str !!int !!float "
		 "!!bool !!null !!map !!seq)\n"
		 "job.yaml:2:4: unsupported tag '!!binary' on a scalar (allowed: !!str !!int "
		 "!!float !!bool !!null !!map !!seq)\n"
		 "job.yaml:3:4: unsupported tag '!!str' on a sequence (allowed: !!str !!int "
		 "!!float !!bool !!null !!map !!seq)\n");
	doc = LOAD_OK("!!map {a: !!seq [x]}");
	CHECK(at(sl_cfg_root(doc), "a")->type == SL_CFG_SEQ);
	sl_cfg_free(doc);
}

static void test_load_errors(void)
{
	LOAD_ERR("a: 1\nb: 2\na: 3\n", "job.yaml:3:1: duplicate key 'a' (first at 1:1)\n");
	LOAD_ERR("s:\n  x: {k: 1, k: 2}\n  y: 1\n  y: 2\n",
		 "job.yaml:2:13: duplicate key 'k' (first at 2:7)\n"
		 "job.yaml:4:3: duplicate key 'y' (first at 3:3)\n");
	/* Quoted and plain spellings are the same key. */
	LOAD_ERR("a: 1\n\"a\": 2\n", "job.yaml:2:1: duplicate key 'a' (first at 1:1)\n");
	LOAD_ERR(
	    "a: b: c\n",
	    "job.yaml:1:5: YAML syntax error: mapping values are not allowed in this context\n");
	LOAD_ERR("a: [1, 2\nb: 3\n",
		 "job.yaml:2:2: YAML syntax error: did not find expected ',' or ']' (while parsing "
		 "a flow sequence at 1:4)\n");
	LOAD_ERR("a:\n  b: 1\n c: 2\n",
		 "job.yaml:3:2: YAML syntax error: did not find expected key (while parsing a "
		 "block mapping at 1:1)\n");
	LOAD_ERR("a: \"unterminated\n",
		 "job.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning "
		 "a quoted scalar at 1:4)\n");
	LOAD_ERR("a: 1\n---\nb: 2\n", "job.yaml:2:1: only one YAML document is allowed\n");
	LOAD_ERR("a: *nope\n",
		 "job.yaml:1:4: alias '*nope' refers to no anchor defined before it\n");
	LOAD_ERR("? [a, b]\n: c\n", "job.yaml:1:3: a map key must be a scalar, got a sequence\n");
	LOAD_ERR("a: 1\n<<: 5\n",
		 "job.yaml:2:5: merge key '<<' needs a map or a sequence of maps, got a scalar\n");
	/* Invalid UTF-8 and control characters: reader errors, positioned. */
	LOAD_ERR("a: ok\nb: \xff\n",
		 "job.yaml:2:4: invalid input: invalid leading UTF-8 octet (0xff)\n");
	static const char nul[] = "a: x\0y\n";
	load_err(__LINE__, nul, sizeof(nul) - 1,
		 "job.yaml:1:5: invalid input: control characters are not allowed (0x0)\n");
}

static void test_anchors_and_merge(void)
{
	struct sl_cfg_doc *doc = LOAD_OK("base: &b {type: file, path: /a}\n"
					 "one: *b\n"
					 "two:\n"
					 "  <<: *b\n"
					 "  path: /two\n"
					 "three:\n"
					 "  <<: [{x: 1}, {x: 2, y: 2}]\n"
					 "name: &n demo\n"
					 "alias: *n\n");
	struct sl_cfg_node *r = sl_cfg_root(doc);
	/* Aliases are copies: marking one used leaves the other alone. */
	CHECK(at(r, "one") != at(r, "base"));
	CHECK_SCALAR(at(r, "one.path"), "/a", false);
	CHECK_POS(at(r, "one.path"), 1, 29); /* where the text is written */
	CHECK(sl_cfg_get(at(r, "one"), "type") != NULL);
	CHECK(key_of(at(r, "one"), "type")->used && !key_of(at(r, "base"), "type")->used);
	/* Merge: explicit keys win wherever they are, merged keys come after. */
	struct sl_cfg_node *two = at(r, "two");
	CHECK(two->n == 2);
	CHECK_STR(two->keys[0]->str, "path");
	CHECK_SCALAR(two->vals[0], "/two", false);
	CHECK_STR(two->keys[1]->str, "type");
	CHECK_SCALAR(at(r, "three.x"), "1", false); /* earlier maps in the list win */
	CHECK_SCALAR(at(r, "three.y"), "2", false);
	CHECK(at(r, "three")->n == 2);
	CHECK_SCALAR(at(r, "alias"), "demo", false);
	sl_cfg_free(doc);
}

static void test_limits(void)
{
	/* Billion laughs: each level 9 copies of the one before. */
	LOAD_ERR("a: &a [x, x, x, x, x, x, x, x, x]\n"
		 "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		 "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		 "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		 "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		 "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
		 "job.yaml:5:36: more than 65536 nodes in the document (SL_CONFIG_MAX_NODES; each "
		 "alias expansion counts)\n");
	/* Plain width: one more node than allowed (the sequence itself counts). */
	size_t n_items = SL_CONFIG_MAX_NODES;
	char *big = malloc(n_items * 2 + 8);
	size_t o = 0;
	big[o++] = '[';
	for (size_t i = 0; i < n_items; i++) {
		big[o++] = '0';
		big[o++] = i + 1 < n_items ? ',' : ']';
	}
	big[o] = '\0';
	char want[200];
	snprintf(want, sizeof(want),
		 "job.yaml:1:%zu: more than 65536 nodes in the document (SL_CONFIG_MAX_NODES; "
		 "each alias expansion counts)\n",
		 o - 1);
	LOAD_ERR(big, want);
	big[o - 3] = ']'; /* one item fewer fits exactly */
	big[o - 2] = '\0';
	struct sl_cfg_doc *doc = LOAD_OK(big);
	CHECK(sl_cfg_root(doc)->n == SL_CONFIG_MAX_NODES - 1);
	sl_cfg_free(doc);
	free(big);

	/* Depth: 32 levels load, 33 do not. */
	char deep[128];
	memset(deep, '[', SL_CONFIG_MAX_DEPTH);
	memset(deep + SL_CONFIG_MAX_DEPTH, ']', SL_CONFIG_MAX_DEPTH);
	deep[2 * SL_CONFIG_MAX_DEPTH] = '\0';
	doc = LOAD_OK(deep);
	sl_cfg_free(doc);
	memset(deep, '[', SL_CONFIG_MAX_DEPTH + 1);
	memset(deep + SL_CONFIG_MAX_DEPTH + 1, ']', SL_CONFIG_MAX_DEPTH + 1);
	deep[2 * SL_CONFIG_MAX_DEPTH + 2] = '\0';
	LOAD_ERR(deep, "job.yaml:1:33: nesting deeper than 32 levels (SL_CONFIG_MAX_DEPTH)\n");
	/* Depth reached through an alias: a 31-deep value under a key is 32. */
	char aliased[256];
	snprintf(aliased, sizeof(aliased), "a: &a %.31s%.31s\nb: [*a]\n", deep,
		 deep + SL_CONFIG_MAX_DEPTH + 1);
	LOAD_ERR(aliased, "job.yaml:2:5: nesting deeper than 32 levels (SL_CONFIG_MAX_DEPTH) after "
			  "expanding this alias\n");

	/* Size: exactly the limit loads, one byte more does not. */
	char *huge = malloc(SL_CONFIG_MAX_BYTES + 2);
	memset(huge, ' ', SL_CONFIG_MAX_BYTES + 1);
	memcpy(huge, "a: 1\n#", 6);
	huge[SL_CONFIG_MAX_BYTES + 1] = '\0';
	load_err(__LINE__, huge, SL_CONFIG_MAX_BYTES + 1,
		 "job.yaml:0:0: larger than 4194304 bytes (SL_CONFIG_MAX_BYTES)\n");
	struct sl_diag d;
	sl_diag_init(&d);
	doc = sl_cfg_load_string("job.yaml", huge, SL_CONFIG_MAX_BYTES, &d);
	CHECK(doc && d.n_errors == 0);
	CHECK(doc && at(sl_cfg_root(doc), "a") && sl_cfg_root(doc)->n == 1);
	sl_cfg_free(doc);
	sl_diag_fini(&d);

	/* Files: the same limit, I/O errors name the file. */
	char path[] = "/tmp/test_config_XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, huge, SL_CONFIG_MAX_BYTES + 1) == SL_CONFIG_MAX_BYTES + 1);
	close(fd);
	sl_diag_init(&d);
	CHECK(sl_cfg_load_file(path, &d) == NULL);
	snprintf(want, sizeof(want), "%s:0:0: larger than 4194304 bytes (SL_CONFIG_MAX_BYTES)\n",
		 path);
	CHECK_STR(sl_diag_text(&d), want);
	sl_diag_fini(&d);
	CHECK(truncate(path, 0) == 0);
	fd = open(path, O_WRONLY);
	CHECK(write(fd, SAMPLE, sizeof(SAMPLE) - 1) == (ssize_t)sizeof(SAMPLE) - 1);
	close(fd);
	sl_diag_init(&d);
	doc = sl_cfg_load_file(path, &d);
	CHECK(doc && d.n_errors == 0);
	if (doc) {
		CHECK_POS_IN(at(sl_cfg_root(doc), "sinks.out.path"), path, 13, 27);
		sl_cfg_free(doc);
	}
	unlink(path);
	CHECK(sl_cfg_load_file("/nonexistent/job.yaml", &d) == NULL);
	CHECK(sl_cfg_load_file("/tmp", &d) == NULL);
	CHECK_STR(sl_diag_text(&d),
		  "/nonexistent/job.yaml:0:0: cannot open: No such file or directory\n"
		  "/tmp:0:0: cannot read: Is a directory\n");
	sl_diag_fini(&d);
	free(huge);
}

/* Converts the value of key in a one-line document; returns rc and the diag. */
static struct sl_cfg_doc *conv_doc;
static struct sl_diag conv_d;
static struct sl_cfg_node *val(const char *text)
{
	sl_cfg_free(conv_doc);
	conv_doc = LOAD_OK(text);
	return at(sl_cfg_root(conv_doc), "v");
}

#define CHECK_DIAG(want)                                                                           \
	do {                                                                                       \
		CHECK_STR(sl_diag_text(&conv_d), (want));                                          \
		sl_diag_fini(&conv_d);                                                             \
	} while (0)

static void test_converters(void)
{
	struct sl_diag *d = &conv_d;
	int64_t i = 0;
	double f = 0;
	bool b = false;
	const char *s = NULL;
	sl_diag_init(d);

	/* Integers. */
	CHECK(sl_cfg_as_int64(val("v: 42"), "v", INT64_MIN, INT64_MAX, &i, d) == 0 && i == 42);
	CHECK(sl_cfg_as_int64(val("v: -7"), "v", INT64_MIN, INT64_MAX, &i, d) == 0 && i == -7);
	CHECK(sl_cfg_as_int64(val("v: +7"), "v", INT64_MIN, INT64_MAX, &i, d) == 0 && i == 7);
	CHECK(sl_cfg_as_int64(val("v: 9223372036854775807"), "v", INT64_MIN, INT64_MAX, &i, d) ==
		  0 &&
	      i == INT64_MAX);
	CHECK(sl_cfg_as_int64(val("v: -9223372036854775808"), "v", INT64_MIN, INT64_MAX, &i, d) ==
		  0 &&
	      i == INT64_MIN);
	CHECK(sl_cfg_as_int64(val("v: 1000000"), "v", 1, 1000000, &i, d) == 0 && i == 1000000);
	CHECK_DIAG("");
	CHECK(sl_cfg_as_int64(val("v: 9223372036854775808"), "v", INT64_MIN, INT64_MAX, &i, d) ==
	      -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 12abc"), "rate", INT64_MIN, INT64_MAX, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 1.5"), "rate", INT64_MIN, INT64_MAX, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 0x10"), "rate", INT64_MIN, INT64_MAX, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 0"), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 1000001"), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: -1"), "rate", 0, INT64_MAX, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: 11"), "rate", INT64_MIN, 10, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: [1]"), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: {}"), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: "), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_int64(val("v: \"line\\none\""), "rate", 1, 1000000, &i, d) == -EINVAL);
	CHECK(i == 1000000);
	CHECK_DIAG("job.yaml:1:4: v: expected integer, got '9223372036854775808'\n"
		   "job.yaml:1:4: rate: expected integer, got '12abc'\n"
		   "job.yaml:1:4: rate: expected integer, got '1.5'\n"
		   "job.yaml:1:4: rate: expected integer, got '0x10'\n"
		   "job.yaml:1:4: rate: expected integer in [1, 1000000], got '0'\n"
		   "job.yaml:1:4: rate: expected integer in [1, 1000000], got '1000001'\n"
		   "job.yaml:1:4: rate: expected integer >= 0, got '-1'\n"
		   "job.yaml:1:4: rate: expected integer <= 10, got '11'\n"
		   "job.yaml:1:4: rate: expected integer in [1, 1000000], got a sequence\n"
		   "job.yaml:1:4: rate: expected integer in [1, 1000000], got a map\n"
		   "job.yaml:1:3: rate: expected integer in [1, 1000000], got null\n"
		   "job.yaml:1:4: rate: expected integer in [1, 1000000], got '\"line\\none\"'\n");

	/* Doubles. */
	CHECK(sl_cfg_as_double(val("v: 2.5"), "v", &f, d) == 0 && f == 2.5);
	CHECK(sl_cfg_as_double(val("v: -3"), "v", &f, d) == 0 && f == -3.0);
	CHECK(sl_cfg_as_double(val("v: .5"), "v", &f, d) == 0 && f == 0.5);
	CHECK(sl_cfg_as_double(val("v: 1e3"), "v", &f, d) == 0 && f == 1000.0);
	CHECK(sl_cfg_as_double(val("v: 5."), "v", &f, d) == 0 && f == 5.0);
	CHECK_DIAG("");
	CHECK(sl_cfg_as_double(val("v: 1e999"), "ratio", &f, d) == -EINVAL);
	CHECK(sl_cfg_as_double(val("v: .inf"), "ratio", &f, d) == -EINVAL);
	CHECK(sl_cfg_as_double(val("v: nan"), "ratio", &f, d) == -EINVAL);
	CHECK(sl_cfg_as_double(val("v: 0x1p3"), "ratio", &f, d) == -EINVAL);
	CHECK(sl_cfg_as_double(val("v: '2.5'"), "ratio", &f, d) == -EINVAL);
	CHECK(sl_cfg_as_double(val("v: 1e"), "ratio", &f, d) == -EINVAL);
	CHECK(f == 5.0);
	CHECK_DIAG("job.yaml:1:4: ratio: expected finite number, got '1e999'\n"
		   "job.yaml:1:4: ratio: expected number, got '.inf'\n"
		   "job.yaml:1:4: ratio: expected number, got 'nan'\n"
		   "job.yaml:1:4: ratio: expected number, got '0x1p3'\n"
		   "job.yaml:1:4: ratio: expected number, got '\"2.5\"'\n"
		   "job.yaml:1:4: ratio: expected number, got '1e'\n");

	/* Booleans. */
	const char *yes[] = {"v: true", "v: YES", "v: On", "v: True"};
	const char *no[] = {"v: false", "v: no", "v: OFF", "v: FALSE"};
	for (size_t k = 0; k < 4; k++) {
		b = false;
		CHECK(sl_cfg_as_bool(val(yes[k]), "v", &b, d) == 0 && b);
		CHECK(sl_cfg_as_bool(val(no[k]), "v", &b, d) == 0 && !b);
	}
	CHECK_DIAG("");
	CHECK(sl_cfg_as_bool(val("v: 1"), "enabled", &b, d) == -EINVAL);
	CHECK(sl_cfg_as_bool(val("v: \"true\""), "enabled", &b, d) == -EINVAL);
	CHECK(sl_cfg_as_bool(val("v: yess"), "enabled", &b, d) == -EINVAL);
	CHECK_DIAG("job.yaml:1:4: enabled: expected boolean (true/false, yes/no, on/off), got '1'\n"
		   "job.yaml:1:4: enabled: expected boolean (true/false, yes/no, on/off), got "
		   "'\"true\"'\n"
		   "job.yaml:1:4: enabled: expected boolean (true/false, yes/no, on/off), got "
		   "'yess'\n");

	/* Strings. */
	CHECK(sl_cfg_as_string(val("v: /tmp/x"), "v", &s, d) == 0 && strcmp(s, "/tmp/x") == 0);
	CHECK(sl_cfg_as_string(val("v: 2024"), "v", &s, d) == 0 && strcmp(s, "2024") == 0);
	CHECK(sl_cfg_as_string(val("v: ''"), "v", &s, d) == 0 && strcmp(s, "") == 0);
	CHECK_DIAG("");
	CHECK(sl_cfg_as_string(val("v: [a]"), "path", &s, d) == -EINVAL);
	CHECK(sl_cfg_as_string(val("v: \"a\\0b\""), "path", &s, d) == -EINVAL);
	/* Long texts are cut, quotes kept. */
	CHECK(sl_cfg_as_int64(val("v: \"0123456789012345678901234567890123456789012345678901234567"
				  "89012345678901234567890123456789\""),
			      "path", 0, 1, &i, d) == -EINVAL);
	CHECK_DIAG("job.yaml:1:4: path: expected string, got a sequence\n"
		   "job.yaml:1:4: path: expected string, got '\"a\\x00b\"'\n"
		   "job.yaml:1:4: path: expected integer in [0, 1], got "
		   "'\"012345678901234567890123456789012345678901234567890123456789...\"'\n");

	/* Durations. */
	struct {
		const char *text;
		int64_t ms;
	} durs[] = {{"v: 1500", 1500},	 {"v: 250ms", 250},
		    {"v: 1s", 1000},	 {"v: 5m", 300000},
		    {"v: 1h", 3600000},	 {"v: 2d", 172800000},
		    {"v: 1.5s", 1500},	 {"v: 0.001s", 1},
		    {"v: '30s'", 30000}, {"v: 0", 0},
		    {"v: 1.10s", 1100},	 {"v: 0.5m", 30000},
		    {"v: 10 s", 10000},	 {"v: 1.000000000000000000000s", 1000}};
	for (size_t k = 0; k < SL_ARRAY_LEN(durs); k++) {
		i = -1;
		CHECK(sl_cfg_as_duration_ms(val(durs[k].text), "v", 0, INT64_MAX, &i, d) == 0);
		if (i != durs[k].ms)
			fprintf(stderr, "duration %s: got %lld\n", durs[k].text, (long long)i);
		CHECK(i == durs[k].ms);
	}
	CHECK_DIAG("");
	const char *bad_durs[] = {"v: 5x",  "v: -1s",  "v: 0.5ms", "v: 1h30m", "v: s",
				  "v: 1.5", "v: '1 '", "v: 1S",	   "v: 1e3ms"};
	for (size_t k = 0; k < SL_ARRAY_LEN(bad_durs); k++)
		CHECK(sl_cfg_as_duration_ms(val(bad_durs[k]), "interval", 0, INT64_MAX, &i, d) ==
		      -EINVAL);
	CHECK(sl_cfg_as_duration_ms(val("v: 99ms"), "interval", 100, 60000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_duration_ms(val("v: 2m"), "interval", 100, 60000, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_duration_ms(val("v: 999999999999d"), "interval", 0, INT64_MAX, &i, d) ==
	      -EINVAL);
	CHECK(sl_cfg_as_duration_ms(val("v: 1s"), "interval", 0, 999, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_duration_ms(val("v: 1s"), "interval", 2000, INT64_MAX, &i, d) == -EINVAL);
	const char *dur_syntax = "duration (ms, or a number with unit ms, s, m, h, d)";
	char want[4096];
	size_t o = 0;
	for (size_t k = 0; k < SL_ARRAY_LEN(bad_durs); k++) {
		const char *t = bad_durs[k] + 3;
		o += (size_t)snprintf(want + o, sizeof(want) - o,
				      "job.yaml:1:4: interval: expected %s, got '%s%s%s'\n",
				      dur_syntax, t[0] == '\'' ? "\"" : "", t[0] == '\'' ? "1 " : t,
				      t[0] == '\'' ? "\"" : "");
	}
	snprintf(want + o, sizeof(want) - o,
		 "job.yaml:1:4: interval: expected duration in [100ms, 60000ms], got '99ms'\n"
		 "job.yaml:1:4: interval: expected duration in [100ms, 60000ms], got '2m'\n"
		 "job.yaml:1:4: interval: expected duration <= 9223372036854775807ms, got "
		 "'999999999999d'\n"
		 "job.yaml:1:4: interval: expected duration <= 999ms, got '1s'\n"
		 "job.yaml:1:4: interval: expected duration >= 2000ms, got '1s'\n");
	CHECK_DIAG(want);

	/* Sizes. */
	struct {
		const char *text;
		int64_t bytes;
	} sizes[] = {{"v: 1024", 1024},	      {"v: 64KiB", 65536},	  {"v: 64KB", 64000},
		     {"v: 64kb", 64000},      {"v: 1MiB", 1048576},	  {"v: 1MB", 1000000},
		     {"v: 1GiB", 1073741824}, {"v: 2TiB", 2199023255552}, {"v: 1.5KiB", 1536},
		     {"v: 10 B", 10},	      {"v: '4 MiB'", 4194304},	  {"v: 0", 0}};
	for (size_t k = 0; k < SL_ARRAY_LEN(sizes); k++) {
		i = -1;
		CHECK(sl_cfg_as_size_bytes(val(sizes[k].text), "v", 0, INT64_MAX, &i, d) == 0);
		if (i != sizes[k].bytes)
			fprintf(stderr, "size %s: got %lld\n", sizes[k].text, (long long)i);
		CHECK(i == sizes[k].bytes);
	}
	CHECK_DIAG("");
	const char *bad_sizes[] = {"v: 512k", "v: 1M", "v: -1", "v: 1.1B", "v: KiB", "v: 1 KiBs"};
	for (size_t k = 0; k < SL_ARRAY_LEN(bad_sizes); k++)
		CHECK(sl_cfg_as_size_bytes(val(bad_sizes[k]), "buffer", 0, INT64_MAX, &i, d) ==
		      -EINVAL);
	CHECK(sl_cfg_as_size_bytes(val("v: 2MiB"), "buffer", 1, 1048576, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_size_bytes(val("v: 10000000TB"), "buffer", 0, INT64_MAX, &i, d) == -EINVAL);
	CHECK(sl_cfg_as_size_bytes(val("v: 99999999999999999999"), "buffer", 0, INT64_MAX, &i, d) ==
	      -EINVAL);
	o = 0;
	for (size_t k = 0; k < SL_ARRAY_LEN(bad_sizes); k++)
		o +=
		    (size_t)snprintf(want + o, sizeof(want) - o,
				     "job.yaml:1:4: buffer: expected size (bytes, or a number with "
				     "unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB), got '%s'\n",
				     bad_sizes[k] + 3);
	snprintf(want + o, sizeof(want) - o,
		 "job.yaml:1:4: buffer: expected size in [1, 1048576] bytes, got '2MiB'\n"
		 "job.yaml:1:4: buffer: expected size <= 9223372036854775807 bytes, got "
		 "'10000000TB'\n"
		 "job.yaml:1:4: buffer: expected size <= 9223372036854775807 bytes, got "
		 "'99999999999999999999'\n");
	CHECK_DIAG(want);

	/* Enums. */
	static const char *const formats[] = {"json", "csv", NULL};
	int e = -1;
	CHECK(sl_cfg_as_enum(val("v: csv"), "format", formats, &e, d) == 0 && e == 1);
	CHECK(sl_cfg_as_enum(val("v: \"json\""), "format", formats, &e, d) == 0 && e == 0);
	CHECK(sl_cfg_as_enum(val("v: jsno"), "format", formats, &e, d) == -EINVAL);
	CHECK(sl_cfg_as_enum(val("v: parquet"), "format", formats, &e, d) == -EINVAL);
	CHECK(sl_cfg_as_enum(val("v: JSON"), "format", formats, &e, d) == -EINVAL);
	CHECK(e == 0);
	CHECK_DIAG("job.yaml:1:4: format: expected one of json, csv, got 'jsno' (did you mean "
		   "'json'?)\n"
		   "job.yaml:1:4: format: expected one of json, csv, got 'parquet'\n"
		   "job.yaml:1:4: format: expected one of json, csv, got 'JSON' (did you mean "
		   "'json'?)\n");

	/* String lists (val() replaces conv_doc: call it first). */
	struct sl_strlist l = {0};
	struct sl_cfg_node *v;
	v = val("v: [a, \"b\", 3]");
	CHECK(sl_cfg_as_strlist(conv_doc, v, "keys", &l, d) == 0);
	CHECK(l.n == 3 && strcmp(l.v[0], "a") == 0 && strcmp(l.v[1], "b") == 0 &&
	      strcmp(l.v[2], "3") == 0);
	v = val("v: one");
	CHECK(sl_cfg_as_strlist(conv_doc, v, "keys", &l, d) == 0);
	CHECK(l.n == 1 && strcmp(l.v[0], "one") == 0);
	v = val("v: []");
	CHECK(sl_cfg_as_strlist(conv_doc, v, "keys", &l, d) == 0);
	CHECK(l.n == 0 && l.v == NULL);
	CHECK_DIAG("");
	v = val("v: [a, [b], {c: d}]");
	CHECK(sl_cfg_as_strlist(conv_doc, v, "keys", &l, d) == -EINVAL);
	v = val("v: {a: b}");
	CHECK(sl_cfg_as_strlist(conv_doc, v, "keys", &l, d) == -EINVAL);
	CHECK(l.n == 0);
	CHECK_DIAG("job.yaml:1:8: keys[1]: expected string, got a sequence\n"
		   "job.yaml:1:13: keys[2]: expected string, got a map\n"
		   "job.yaml:1:4: keys: expected string or list of strings, got a map\n");
	sl_cfg_free(conv_doc);
	conv_doc = NULL;
}

static void test_unused_and_suggest(void)
{
	static const char *const known[] = {"path", "format", "type", "compression", NULL};
	CHECK_STR(sl_cfg_suggest("patth", 5, known), "path");
	CHECK_STR(sl_cfg_suggest("fromat", 6, known), "format");
	CHECK_STR(sl_cfg_suggest("PATH", 4, known), "path");
	CHECK_STR(sl_cfg_suggest("compresion", 10, known), "compression");
	CHECK(sl_cfg_suggest("x", 1, known) == NULL);
	CHECK(sl_cfg_suggest("tp", 2, known) == NULL); /* 2 edits of a 2-letter word is noise */
	CHECK(sl_cfg_suggest("rate", 4, known) == NULL);
	CHECK(sl_cfg_suggest("path", 4, NULL) == NULL);

	struct sl_cfg_doc *doc = LOAD_OK("sink:\n"
					 "  type: file\n"
					 "  patth: /tmp/x\n"
					 "  format: json\n"
					 "  bogus: 1\n"
					 "  compression: zstd\n");
	struct sl_cfg_node *m = at(sl_cfg_root(doc), "sink");
	struct sl_diag d;
	sl_diag_init(&d);
	CHECK(sl_cfg_get(m, "type") != NULL);
	CHECK(sl_cfg_get(m, "format") != NULL);
	/* compression is known but was not read: not "unknown". */
	CHECK(sl_cfg_unused(m, "sink 'out'", known, &d) == -EINVAL);
	CHECK(sl_cfg_unused(m, "sink 'out'", NULL, &d) == -EINVAL);
	CHECK(sl_cfg_unused(at(sl_cfg_root(doc), "sink.type"), "x", known, &d) == 0);
	CHECK_STR(sl_diag_text(&d),
		  "job.yaml:3:3: unknown key 'patth' in sink 'out' (did you mean 'path'?)\n"
		  "job.yaml:5:3: unknown key 'bogus' in sink 'out' (expected one of: path, format, "
		  "type, compression)\n"
		  "job.yaml:3:3: unknown key 'patth' in sink 'out'\n"
		  "job.yaml:5:3: unknown key 'bogus' in sink 'out'\n"
		  "job.yaml:6:3: unknown key 'compression' in sink 'out'\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);
}

static const char *const FORMATS[] = {"json", "csv", "parquet", NULL};

struct sink_conf {
	const char *path;
	int64_t batch;
	double ratio;
	bool append;
	int64_t flush_ms;
	int64_t buffer_bytes;
	int format;
	struct sl_strlist keys;
	struct sl_cfg_node *fields;
	const char *label;
};

static const struct sl_option SINK_OPTS[] = {
    {"path", SL_OPT_STRING, NULL, true, offsetof(struct sink_conf, path), "File to write.", NULL, 0,
     0},
    {"batch", SL_OPT_INT, "100", false, offsetof(struct sink_conf, batch), "Records per write.",
     NULL, 1, 10000},
    {"ratio", SL_OPT_DOUBLE, "0.5", false, offsetof(struct sink_conf, ratio), "Sample ratio.", NULL,
     0, 0},
    {"append", SL_OPT_BOOL, "yes", false, offsetof(struct sink_conf, append),
     "Append | do not truncate.", NULL, 0, 0},
    {"flush_interval", SL_OPT_DURATION_MS, "1s", false, offsetof(struct sink_conf, flush_ms),
     "Flush at least this often.", NULL, 10, 3600000},
    {"buffer", SL_OPT_SIZE_BYTES, "64KiB", false, offsetof(struct sink_conf, buffer_bytes),
     "Write buffer.", NULL, 0, 0},
    {"format", SL_OPT_ENUM, "json", false, offsetof(struct sink_conf, format), "Encoding.", FORMATS,
     0, 0},
    {"keys", SL_OPT_STRING_LIST, "[id]", false, offsetof(struct sink_conf, keys), "Key columns.",
     NULL, 0, 0},
    {"fields", SL_OPT_NODE, NULL, false, offsetof(struct sink_conf, fields), "Field map.", NULL, 0,
     0},
    {"label", SL_OPT_STRING, "", false, offsetof(struct sink_conf, label), NULL, NULL, 0, 0},
    {0},
};

static const char *const EXTRA[] = {"type", "from", NULL};

static void test_options(void)
{
	struct sl_diag d;
	sl_diag_init(&d);
	CHECK(sl_options_check(SINK_OPTS, &d) == 0);
	CHECK_STR(sl_diag_text(&d), "");

	/* All defaults. */
	struct sl_cfg_doc *doc = LOAD_OK("out:\n  type: file\n  path: /tmp/o\n");
	struct sl_cfg_node *m = at(sl_cfg_root(doc), "out");
	struct sink_conf c = {0};
	CHECK(sl_options_parse(SINK_OPTS, doc, m, "sink 'out'", EXTRA, &c, &d) == 0);
	CHECK_STR(sl_diag_text(&d), "");
	CHECK_STR(c.path, "/tmp/o");
	CHECK(c.batch == 100 && c.ratio == 0.5 && c.append && c.flush_ms == 1000 &&
	      c.buffer_bytes == 65536 && c.format == 0 && c.fields == NULL);
	CHECK(c.keys.n == 1 && strcmp(c.keys.v[0], "id") == 0);
	CHECK(c.label == SINK_OPTS[9].def); /* string defaults point at the table */
	sl_cfg_free(doc);

	/* Every option set; explicit null means "use the default". */
	doc = LOAD_OK("out:\n"
		      "  type: file\n"
		      "  from: f\n"
		      "  path: /tmp/p\n"
		      "  batch: 5000\n"
		      "  ratio: 0.25\n"
		      "  append: off\n"
		      "  flush_interval: 250ms\n"
		      "  buffer: 1MiB\n"
		      "  format: parquet\n"
		      "  keys: user\n"
		      "  fields: {a: int, b: string}\n"
		      "  label: ~\n");
	m = at(sl_cfg_root(doc), "out");
	memset(&c, 0, sizeof(c));
	CHECK(sl_options_parse(SINK_OPTS, doc, m, "sink 'out'", EXTRA, &c, &d) == 0);
	CHECK_STR(sl_diag_text(&d), "");
	CHECK_STR(c.path, "/tmp/p");
	CHECK(c.batch == 5000 && c.ratio == 0.25 && !c.append && c.flush_ms == 250 &&
	      c.buffer_bytes == 1048576 && c.format == 2);
	CHECK(c.keys.n == 1 && strcmp(c.keys.v[0], "user") == 0);
	CHECK(c.fields && c.fields->type == SL_CFG_MAP && c.fields->n == 2);
	CHECK_POS(c.fields, 12, 11);
	CHECK_STR(c.label, "");
	sl_cfg_free(doc);

	/* Every kind of error at once, each at its position. */
	doc = LOAD_OK("out:\n"
		      "  type: file\n"
		      "  patth: /tmp/p\n"
		      "  batch: 0\n"
		      "  ratio: lots\n"
		      "  append: maybe\n"
		      "  flush_interval: 1ms\n"
		      "  buffer: 1q\n"
		      "  format: jsn\n"
		      "  keys: {a: b}\n"
		      "  colour: red\n");
	m = at(sl_cfg_root(doc), "out");
	memset(&c, 0, sizeof(c));
	CHECK(sl_options_parse(SINK_OPTS, doc, m, "sink 'out'", EXTRA, &c, &d) == -EINVAL);
	CHECK_STR(
	    sl_diag_text(&d),
	    "job.yaml:2:3: sink 'out': missing required option 'path'\n"
	    "job.yaml:4:10: batch: expected integer in [1, 10000], got '0'\n"
	    "job.yaml:5:10: ratio: expected number, got 'lots'\n"
	    "job.yaml:6:11: append: expected boolean (true/false, yes/no, on/off), got "
	    "'maybe'\n"
	    "job.yaml:7:19: flush_interval: expected duration in [10ms, 3600000ms], got "
	    "'1ms'\n"
	    "job.yaml:8:11: buffer: expected size (bytes, or a number with unit B, KB, MB, "
	    "GB, TB, KiB, MiB, GiB, TiB), got '1q'\n"
	    "job.yaml:9:11: format: expected one of json, csv, parquet, got 'jsn' (did you "
	    "mean 'json'?)\n"
	    "job.yaml:10:9: keys: expected string or list of strings, got a map\n"
	    "job.yaml:3:3: unknown key 'patth' in sink 'out' (did you mean 'path'?)\n"
	    "job.yaml:11:3: unknown key 'colour' in sink 'out' (expected one of: path, batch, "
	    "ratio, append, flush_interval, buffer, format, keys, fields, label, type, "
	    "from)\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	/* No map at all, a null map, and a map that is not a map. */
	doc = LOAD_OK("a: ~\nb: 5\n");
	sl_diag_init(&d);
	memset(&c, 0, sizeof(c));
	CHECK(sl_options_parse(SINK_OPTS, doc, NULL, "sink 'x'", NULL, &c, &d) == -EINVAL);
	CHECK(sl_options_parse(SINK_OPTS, doc, at(sl_cfg_root(doc), "a"), "sink 'a'", NULL, &c,
			       &d) == -EINVAL);
	CHECK(c.batch == 100);
	CHECK(sl_options_parse(SINK_OPTS, doc, at(sl_cfg_root(doc), "b"), "sink 'b'", NULL, &c,
			       &d) == -EINVAL);
	CHECK_STR(sl_diag_text(&d),
		  "job.yaml:1:1: sink 'x': missing required option 'path'\n"
		  "job.yaml:1:4: sink 'a': missing required option 'path'\n"
		  "job.yaml:2:4: sink 'b': expected a map of options, got a scalar\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	/* Broken tables are caught by sl_options_check. */
	static const char *const none[] = {NULL};
	struct bad_conf {
		int64_t i;
		int e;
		const char *s;
	};
	static const struct sl_option BAD[] = {
	    {"n", SL_OPT_INT, "abc", false, offsetof(struct bad_conf, i), "", NULL, 0, 0},
	    {"n", SL_OPT_INT, NULL, false, offsetof(struct bad_conf, i), "", NULL, 0, 0},
	    {"m", SL_OPT_INT, "50", false, offsetof(struct bad_conf, i), "", NULL, 1, 10},
	    {"e", SL_OPT_ENUM, "x", false, offsetof(struct bad_conf, e), "", none, 0, 0},
	    {"f", SL_OPT_ENUM, "z", false, offsetof(struct bad_conf, e), "", FORMATS, 0, 0},
	    {"r", SL_OPT_STRING, "a", true, offsetof(struct bad_conf, s), "", NULL, 0, 0},
	    {"s", SL_OPT_STRING, NULL, false, offsetof(struct bad_conf, s), "", NULL, 1, 5},
	    {"t", SL_OPT_DURATION_MS, NULL, false, offsetof(struct bad_conf, i), "", NULL, -5, 5},
	    {"u", SL_OPT_INT, NULL, false, offsetof(struct bad_conf, i), "", NULL, 5, 1},
	    {0},
	};
	sl_diag_init(&d);
	CHECK(sl_options_check(BAD, &d) == -EINVAL);
	CHECK_STR(sl_diag_text(&d),
		  "default of n:1:1: n: expected integer, got 'abc'\n"
		  "(options table):2:0: n: declared twice\n"
		  "default of m:1:1: m: expected integer in [1, 10], got '50'\n"
		  "(options table):4:0: e: enum without choices\n"
		  "(options table):0:0: f: default 'z' is not one of its choices\n"
		  "(options table):6:0: r: required option with a default\n"
		  "(options table):7:0: s: bounds on a type that has none\n"
		  "(options table):8:0: t: negative lower bound\n"
		  "(options table):9:0: u: min > max\n");
	sl_diag_fini(&d);
}

static void test_help(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	sl_options_help(SINK_OPTS, f);
	fclose(f);
	CHECK_STR(buf, "  path (string; required)\n"
		       "      File to write.\n"
		       "  batch (integer in [1, 10000]; default 100)\n"
		       "      Records per write.\n"
		       "  ratio (number; default 0.5)\n"
		       "      Sample ratio.\n"
		       "  append (boolean; default yes)\n"
		       "      Append | do not truncate.\n"
		       "  flush_interval (duration in [10ms, 3600000ms]; default 1s)\n"
		       "      Flush at least this often.\n"
		       "  buffer (size; default 64KiB)\n"
		       "      Write buffer.\n"
		       "  format (one of: json, csv, parquet; default json)\n"
		       "      Encoding.\n"
		       "  keys (list of strings; default [id])\n"
		       "      Key columns.\n"
		       "  fields (YAML value)\n"
		       "      Field map.\n"
		       "  label (string; default \"\")\n");
	free(buf);
	f = open_memstream(&buf, &len);
	sl_options_markdown(SINK_OPTS, f);
	fclose(f);
	CHECK_STR(buf, "| Option | Type | Default | Description |\n"
		       "| --- | --- | --- | --- |\n"
		       "| `path` | string | **required** | File to write. |\n"
		       "| `batch` | integer in [1, 10000] | `100` | Records per write. |\n"
		       "| `ratio` | number | `0.5` | Sample ratio. |\n"
		       "| `append` | boolean | `yes` | Append \\| do not truncate. |\n"
		       "| `flush_interval` | duration in [10ms, 3600000ms] | `1s` | Flush at least "
		       "this often. |\n"
		       "| `buffer` | size | `64KiB` | Write buffer. |\n"
		       "| `format` | one of: `json`, `csv`, `parquet` | `json` | Encoding. |\n"
		       "| `keys` | list of strings | `[id]` | Key columns. |\n"
		       "| `fields` | YAML value | - | Field map. |\n"
		       "| `label` | string | `\"\"` |  |\n");
	free(buf);
}

static void test_set(void)
{
	struct sl_cfg_doc *doc = LOAD_OK(SAMPLE);
	struct sl_cfg_node *r = sl_cfg_root(doc);
	struct sl_diag d;
	sl_diag_init(&d);

	/* Existing key: the key keeps its place, the value is new. */
	CHECK(sl_cfg_set_arg(doc, "sinks.out.path=/tmp/x", &d) == 0);
	CHECK_SCALAR(at(r, "sinks.out.path"), "/tmp/x", false);
	CHECK_POS_IN(at(r, "sinks.out.path"), "--set sinks.out.path", 1, 1);
	CHECK_POS(key_of(at(r, "sinks.out"), "path"), 13, 21);
	CHECK(at(r, "sinks.out")->n == 2);
	/* Plain numbers stay plain, quoted stay strings. */
	CHECK(sl_cfg_set_arg(doc, "sources.events.rate=5000", &d) == 0);
	CHECK_SCALAR(at(r, "sources.events.rate"), "5000", false);
	CHECK(sl_cfg_set_arg(doc, "name=\"123\"", &d) == 0);
	CHECK_SCALAR(at(r, "name"), "123", true);
	/* Flow values: sequences and maps; columns within the value. */
	CHECK(sl_cfg_set_arg(doc, "sources.events.keys=[x, y]", &d) == 0);
	struct sl_cfg_node *k = at(r, "sources.events.keys");
	CHECK(k && k->type == SL_CFG_SEQ && k->n == 2);
	CHECK_POS_IN(k, "--set sources.events.keys", 1, 1);
	CHECK_SCALAR(at(r, "sources.events.keys.1"), "y", false);
	CHECK_POS_IN(at(r, "sources.events.keys.1"), "--set sources.events.keys", 1, 5);
	CHECK(sl_cfg_set(doc, "sinks.out", "{type: stdout}", "--set", &d) == 0);
	CHECK(at(r, "sinks.out")->n == 1); /* replaced whole, not merged */
	CHECK_SCALAR(at(r, "sinks.out.type"), "stdout", false);
	CHECK_POS_IN(at(r, "sinks.out.type"), "--set", 1, 8);
	/* New paths: intermediate maps are created; a null one becomes a map. */
	CHECK(sl_cfg_set_arg(doc, "admin.http.port=8081", &d) == 0);
	CHECK_SCALAR(at(r, "admin.http.port"), "8081", false);
	CHECK_POS_IN(at(r, "admin"), "--set admin.http.port", 1, 1);
	CHECK_POS_IN(key_of(r, "admin"), "--set admin.http.port", 1, 1);
	CHECK(r->n == 8);
	CHECK_STR(r->keys[7]->str, "admin");
	CHECK(sl_cfg_set_arg(doc, "empty.x=1", &d) == 0);
	CHECK(at(r, "empty")->type == SL_CFG_MAP);
	CHECK_SCALAR(at(r, "empty.x"), "1", false);
	CHECK(sl_cfg_set_arg(doc, "steps=", &d) == 0);
	CHECK(at(r, "steps")->type == SL_CFG_NULL);
	CHECK(sl_cfg_set_arg(doc, "text=a=b", &d) == 0); /* split at the first '=' */
	CHECK_SCALAR(at(r, "text"), "a=b", false);
	CHECK_STR(sl_diag_text(&d), "");

	/* Errors leave the tree unchanged. */
	uint32_t n_root = r->n;
	CHECK(sl_cfg_set_arg(doc, "noequals", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "=1", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "a..b=1", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, ".a=1", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "name.x=1", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "sources.events.keys.0=1", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "newtop.x=[1, 2", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "newtop.y=*a", &d) == -EINVAL);
	CHECK(sl_cfg_set_arg(doc, "newtop.z=a: b: c", &d) == -EINVAL);
	CHECK(r->n == n_root && at(r, "newtop") == NULL);
	CHECK_STR(sl_diag_text(&d),
		  "--set:1:1: expected --set KEY.PATH=VALUE, got 'noequals'\n"
		  "--set:1:1: expected --set KEY.PATH=VALUE, got '=1'\n"
		  "--set a..b:1:1: invalid override path 'a..b': empty key\n"
		  "--set .a:1:1: invalid override path '.a': empty key\n"
		  "--set name.x:1:1: cannot set 'name.x': 'name' is a scalar (--set name:1:1), not "
		  "a map\n"
		  "--set sources.events.keys.0:1:1: cannot set 'sources.events.keys.0': "
		  "'sources.events.keys' is a sequence (--set sources.events.keys:1:1), not a map\n"
		  "--set newtop.x:1:6: YAML syntax error: did not find expected ',' or ']' (while "
		  "parsing a flow sequence at 1:1)\n"
		  "--set newtop.y:1:1: alias '*a' refers to no anchor defined before it\n"
		  "--set newtop.z:1:5: YAML syntax error: mapping values are not allowed in this "
		  "context\n");
	sl_diag_fini(&d);

	/* Depth: a path plus its value must fit SL_CONFIG_MAX_DEPTH. */
	sl_diag_init(&d);
	char path[256] = "p";
	for (unsigned i = 1; i < SL_CONFIG_MAX_DEPTH; i++)
		strcat(path, ".p");
	CHECK(sl_cfg_set(doc, path, "1", "--set", &d) == 0);
	CHECK(sl_cfg_set(doc, path, "[1]", "--set", &d) == -EINVAL);
	strcat(path, ".p");
	CHECK(sl_cfg_set(doc, path, "1", "--set", &d) == -EINVAL);
	CHECK_STR(
	    sl_diag_text(&d),
	    "--set:1:1: nesting deeper than 32 levels (SL_CONFIG_MAX_DEPTH)\n"
	    "--set:1:1: invalid override path 'p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p.p."
	    "p.p.p.p.p.p....': more than 32 levels\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	/* A document that is not a map cannot take overrides. */
	doc = LOAD_OK("[1, 2]");
	sl_diag_init(&d);
	CHECK(sl_cfg_set(doc, "a", "1", "--set", &d) == -EINVAL);
	CHECK_STR(sl_diag_text(&d),
		  "--set:1:1: cannot set 'a': the document is a sequence, not a map\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	/* A very long override (or file name) is cut in the middle, so that the
	 * fixed-size diagnostic line holds it (fuzzer finding). */
	doc = LOAD_OK("name: demo\n");
	sl_diag_init(&d);
	char arg[1200], want[1024];
	snprintf(arg, sizeof(arg), "name.%01100d=1", 0);
	CHECK(sl_cfg_set_arg(doc, arg, &d) == -EINVAL);
	snprintf(want, sizeof(want),
		 "--set name.%0107d...%0118d:1:1: cannot set 'name.%055d...': 'name' is a scalar "
		 "(job.yaml:1:7), not a map\n",
		 0, 0, 0);
	CHECK_STR(sl_diag_text(&d), want);
	sl_diag_fini(&d);
	sl_cfg_free(doc);

	/* Control characters and broken UTF-8 from the command line stay on one line. */
	doc = LOAD_OK("name: demo\n");
	sl_diag_init(&d);
	CHECK(sl_cfg_set_arg(doc, "name.\xc3\n\x01\xc3\xa9=1", &d) == -EINVAL);
	CHECK_STR(sl_diag_text(&d),
		  "--set name.\xc3??\xc3\xa9:1:1: cannot set "
		  "'name.\\xc3\\n\\x01\xc3\xa9': 'name' is a scalar (job.yaml:1:7), "
		  "not a map\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);
}

static void test_env(void)
{
	struct sl_cfg_doc *doc = LOAD_OK("sources:\n"
					 "  Events:\n"
					 "    rate: 1\n"
					 "sinks:\n"
					 "  out: {path: /file}\n"
					 "  dup: {a: 1}\n"
					 "  DUP: {a: 2}\n");
	struct sl_cfg_node *r = sl_cfg_root(doc);
	struct sl_diag d;
	sl_diag_init(&d);
	char *envp[] = {
	    "SLUICE__SOURCES__EVENTS__RATE=5",
	    "SLUICE_LOG=debug",
	    "SLUICE=1",
	    "PATH=/usr/bin",
	    "SLUICE__SINKS__OUT__PATH=/env/path",
	    "SLUICE__SINKS__OUT__FLUSH_INTERVAL=2s",
	    "SLUICE__NEW__Deep__KEY=[1, 2]",
	    NULL,
	};
	CHECK(sl_cfg_apply_env(doc, envp, &d) == 0);
	CHECK_STR(sl_diag_text(&d), "");
	/* Matched "Events" case-insensitively instead of creating "events". */
	CHECK(at(r, "sources")->n == 1);
	CHECK_SCALAR(at(r, "sources.Events.rate"), "5", false);
	CHECK_POS_IN(at(r, "sources.Events.rate"), "env SLUICE__SOURCES__EVENTS__RATE", 1, 1);
	CHECK_SCALAR(at(r, "sinks.out.path"), "/env/path", false);
	CHECK_SCALAR(at(r, "sinks.out.flush_interval"), "2s", false);
	CHECK(at(r, "new.deep.key") && at(r, "new.deep.key")->n == 2);
	CHECK_POS_IN(at(r, "new.deep.key.1"), "env SLUICE__NEW__Deep__KEY", 1, 5);
	/* --set after the environment wins. */
	CHECK(sl_cfg_set_arg(doc, "sinks.out.path=/set/path", &d) == 0);
	CHECK_SCALAR(at(r, "sinks.out.path"), "/set/path", false);
	CHECK_STR(sl_diag_text(&d), "");

	char *bad[] = {
	    "SLUICE__SINKS__Dup__A=3", "SLUICE__=x",
	    "SLUICE__A____B=1",	       "SLUICE__SOURCES__EVENTS__RATE__X=1",
	    "SLUICE__SINKS__dup__A=9", NULL,
	};
	CHECK(sl_cfg_apply_env(doc, bad, &d) == -EINVAL);
	CHECK_SCALAR(at(r, "sinks.dup.a"), "9", false); /* exact case wins */
	CHECK_SCALAR(at(r, "sinks.DUP.a"), "2", false);
	CHECK_STR(
	    sl_diag_text(&d),
	    "env SLUICE__:1:1: environment override has an empty path segment (segments are "
	    "separated by '__')\n"
	    "env SLUICE__A____B:1:1: environment override has an empty path segment "
	    "(segments are separated by '__')\n"
	    "env SLUICE__SINKS__Dup__A:1:1: cannot set 'sinks.dup.a': 'Dup' matches several "
	    "keys that differ only in case (job.yaml:5:3)\n"
	    "env SLUICE__SOURCES__EVENTS__RATE__X:1:1: cannot set 'sources.events.rate.x': "
	    "'sources.events.rate' is a scalar (env SLUICE__SOURCES__EVENTS__RATE:1:1), not a "
	    "map\n");
	sl_diag_fini(&d);
	CHECK(sl_cfg_apply_env(doc, NULL, &d) == 0);
	sl_cfg_free(doc);
}

static void test_parse_value(void)
{
	struct sl_cfg_doc *doc = LOAD_OK("");
	struct sl_diag d;
	sl_diag_init(&d);
	struct sl_cfg_node *n = sl_cfg_parse_value(doc, "here", "[a, b]", &d);
	CHECK(n && n->type == SL_CFG_SEQ && n->n == 2);
	CHECK_POS_IN(n->vals[1], "here", 1, 5);
	n = sl_cfg_parse_value(doc, "here", "", &d);
	CHECK(n && n->type == SL_CFG_NULL);
	CHECK(sl_cfg_parse_value(doc, "here", "[", &d) == NULL);
	CHECK_STR(sl_diag_text(&d),
		  "here:1:2: YAML syntax error: did not find expected node content "
		  "(while parsing a flow node at 2:1)\n");
	sl_diag_fini(&d);
	sl_cfg_free(doc);
}

int main(void)
{
	test_positions();
	test_quoting_and_tags();
	test_load_errors();
	test_anchors_and_merge();
	test_limits();
	test_converters();
	test_unused_and_suggest();
	test_options();
	test_help();
	test_set();
	test_env();
	test_parse_value();
	if (failures) {
		fprintf(stderr, "test_config: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_config: all checks passed\n");
	return 0;
}
