/*
 * libFuzzer target for io/json: parse any bytes, walk every value, check the API's invariants,
 * and check that On-Demand extraction agrees with the DOM.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/limits.h"
#include "io/json.h"

/* Inputs above this are skipped: the walk's checks are quadratic in places. */
#define FUZZ_MAX_BYTES (256u * 1024u)
/* Minified output is at most this many times the input ("1e15" -> "1000000000000000.0"). */
#define MINIFY_GROWTH 5u

static struct sl_json_parser *P; /* the document under test */
static struct sl_json_parser *Q; /* re-parses outputs while P's elements stay valid */
static char *out, *out2;	 /* MINIFY_GROWTH * FUZZ_MAX_BYTES + 64 */
static char *padded;		 /* FUZZ_MAX_BYTES + SL_JSON_PADDING */

static void init(void)
{
	size_t cap = MINIFY_GROWTH * FUZZ_MAX_BYTES + 64;

	P = sl_json_parser_new(FUZZ_MAX_BYTES, SL_JSON_MAX_DEPTH);
	Q = sl_json_parser_new(MINIFY_GROWTH * FUZZ_MAX_BYTES + 64, SL_JSON_MAX_DEPTH);
	out = malloc(cap);
	out2 = malloc(cap);
	padded = malloc(FUZZ_MAX_BYTES + SL_JSON_PADDING);
	SL_ASSERT(P && Q && out && out2 && padded);
}

static void init_extract(void);

/* An oracle independent of io/json: strict UTF-8 (RFC 3629) validity. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i], cp;
		size_t len = 0;
		if (c < 0x80)
			len = 1;
		else if ((c >> 5) == 6)
			len = 2;
		else if ((c >> 4) == 14)
			len = 3;
		else if ((c >> 3) == 30)
			len = 4;
		if (len == 0 || i + len > n)
			return false;
		cp = len == 1 ? c : c & (0x7f >> len);
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += len;
	}
	return true;
}

/* Escapes s, re-parses the literal with Q, and checks what comes back. */
static void check_escape(const char *s, size_t len)
{
	struct sl_json_elem e;
	const char *back;
	size_t back_len;
	ssize_t n = sl_json_escape(s, len, out2, 6 * len + 2);

	SL_ASSERT(n >= 2 && (size_t)n <= 6 * len + 2);
	SL_ASSERT(sl_json_escape(s, len, out2, (size_t)n - 1) == -ENOSPC);
	SL_ASSERT(sl_json_escape(s, len, out2, (size_t)n) == n);
	SL_ASSERT(sl_json_parse(Q, out2, (size_t)n, false, &e) == 0);
	SL_ASSERT(sl_json_get_string(e, &back, &back_len));
	if (utf8_valid((const uint8_t *)s, len))
		SL_ASSERT(back_len == len && memcmp(back, s, len) == 0);
	else
		SL_ASSERT(back_len != len || memcmp(back, s, len) != 0);
}

static void walk(struct sl_json_elem e, unsigned depth)
{
	enum sl_json_type t = sl_json_type(e);
	bool b;
	int64_t i;
	double d;
	const char *s;
	size_t len;

	SL_ASSERT(depth <= SL_JSON_MAX_DEPTH);
	SL_ASSERT(t != SL_JSON_MISSING);
	SL_ASSERT(sl_json_get_bool(e, &b) == (t == SL_JSON_BOOL));
	SL_ASSERT(sl_json_get_int64(e, &i) == (t == SL_JSON_INT));
	SL_ASSERT(sl_json_get_double(e, &d) ==
		  (t == SL_JSON_INT || t == SL_JSON_UINT || t == SL_JSON_DOUBLE));
	if (t == SL_JSON_INT || t == SL_JSON_UINT || t == SL_JSON_DOUBLE)
		SL_ASSERT(isfinite(d));
	SL_ASSERT(sl_json_get_string(e, &s, &len) == (t == SL_JSON_STRING));
	if (t == SL_JSON_STRING) {
		SL_ASSERT(s[len] == '\0');
		SL_ASSERT(utf8_valid((const uint8_t *)s, len));
		check_escape(s, len);
	}

	struct sl_json_iter it;
	struct sl_json_elem v, f;
	const char *key;
	size_t key_len, n = 0;
	SL_ASSERT(sl_json_iter_init(e, &it) == (t == SL_JSON_ARRAY || t == SL_JSON_OBJECT));
	while (sl_json_iter_next(&it, &key, &key_len, &v)) {
		if (t == SL_JSON_OBJECT) {
			SL_ASSERT(key != NULL && key[key_len] == '\0');
			SL_ASSERT(utf8_valid((const uint8_t *)key, key_len));
			SL_ASSERT(sl_json_get_field(e, key, key_len, &f));
		} else {
			SL_ASSERT(key == NULL && key_len == 0);
		}
		walk(v, depth + 1);
		n++;
	}
	SL_ASSERT(!sl_json_iter_next(&it, &key, &key_len, &v));
	SL_ASSERT(sl_json_array_size(e) == (t == SL_JSON_ARRAY ? n : 0));
	if (t != SL_JSON_OBJECT)
		SL_ASSERT(!sl_json_get_field(e, "a", 1, &f) && sl_json_type(f) == SL_JSON_MISSING);
}

/* Minify is exact about its size and idempotent through the parser. */
static void check_minify(struct sl_json_elem root, size_t in_len)
{
	struct sl_json_elem again;
	size_t cap = MINIFY_GROWTH * in_len + 64;
	ssize_t n = sl_json_minify(root, out, cap), n2;

	SL_ASSERT(n > 0 && (size_t)n <= cap);
	SL_ASSERT(sl_json_minify(root, out2, (size_t)n) == n);
	SL_ASSERT(sl_json_minify(root, out2, (size_t)n - 1) == -ENOSPC);
	SL_ASSERT(sl_json_parse(Q, out, (size_t)n, false, &again) == 0);
	SL_ASSERT(sl_json_type(again) == sl_json_type(root));
	n2 = sl_json_minify(again, out2, cap);
	SL_ASSERT(n2 == n && memcmp(out, out2, (size_t)n) == 0);
}

static bool is_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* ---- extraction ---------------------------------------------------------- */

/* Fixed paths: short keys the fuzzer finds, prefixes of one another, the generator's fields. */
static const char *const X_DOTTED[] = {"a",
				       "b",
				       "a.b",
				       "a.a",
				       "a.b.c",
				       "b.a",
				       "a.a.a.a",
				       "k",
				       "after",
				       "after.name",
				       "after.customer_id",
				       "op",
				       "ts_ms",
				       "source",
				       "source.ts_ms"};
#define X_FIXED (sizeof X_DOTTED / sizeof X_DOTTED[0])
#define X_PATHS (X_FIXED + 2) /* + the root (no segments) + a path from the input */

static struct sl_json_path X_paths[X_FIXED + 1]; /* X_DOTTED and the root (no segments) */
static struct sl_json_extractor *X_fixed;	 /* of X_paths */

/* A copy of an extracted value that survives the next extraction. */
struct saved_value {
	struct sl_json_value v;
	size_t at; /* its text in saved_text */
};
static char *saved_text; /* FUZZ_MAX_BYTES * X_PATHS: strings unescape no longer than their input */

static void init_extract(void)
{
	for (size_t k = 0; k < X_FIXED; k++)
		SL_ASSERT(sl_json_path_compile(X_DOTTED[k], &X_paths[k]) == 0);
	X_paths[X_FIXED].n = 0;
	X_fixed = sl_json_extractor_new(X_paths, X_FIXED + 1);
	saved_text = malloc(FUZZ_MAX_BYTES * X_PATHS);
	SL_ASSERT(X_fixed && saved_text);
}

/*
 * v, extracted for path from the document whose DOM root is root (P's),
 * agrees with sl_json_get_path: same type (UINT as DOUBLE) and value, the
 * text of a number reads back to the same double, a container's text
 * parses (with Q) and minifies to the same bytes.
 */
static void check_agrees(struct sl_json_elem root, const struct sl_json_path *path,
			 const struct sl_json_value *v)
{
	struct sl_json_elem e, again;
	const char *s;
	size_t len;
	int64_t i;
	double d, text;
	bool b;

	if (!sl_json_get_path(root, path, &e)) {
		SL_ASSERT(v->type == SL_JSON_MISSING && v->s == NULL && v->len == 0);
		return;
	}
	enum sl_json_type t = sl_json_type(e);
	SL_ASSERT(v->type == (t == SL_JSON_UINT ? SL_JSON_DOUBLE : t));
	SL_ASSERT(v->s != NULL);
	switch (t) {
	case SL_JSON_NULL:
		SL_ASSERT(v->len == 4 && memcmp(v->s, "null", 4) == 0);
		break;
	case SL_JSON_BOOL:
		SL_ASSERT(sl_json_get_bool(e, &b) && b == v->b);
		SL_ASSERT(v->len == (b ? 4u : 5u) &&
			  memcmp(v->s, b ? "true" : "false", v->len) == 0);
		break;
	case SL_JSON_INT:
		SL_ASSERT(sl_json_get_int64(e, &i) && i == v->i && v->f == (double)i);
		SL_ASSERT(sl_json_parse_double(v->s, v->len, &text) && text == (double)i);
		break;
	case SL_JSON_UINT:
	case SL_JSON_DOUBLE:
		SL_ASSERT(sl_json_get_double(e, &d) && memcmp(&d, &v->f, sizeof d) == 0);
		SL_ASSERT(sl_json_parse_double(v->s, v->len, &text));
		SL_ASSERT(memcmp(&text, &d, sizeof d) == 0);
		break;
	case SL_JSON_STRING:
		SL_ASSERT(sl_json_get_string(e, &s, &len));
		SL_ASSERT(len == v->len && memcmp(s, v->s, len) == 0);
		break;
	case SL_JSON_ARRAY:
	case SL_JSON_OBJECT: {
		ssize_t n = sl_json_minify(e, out, MINIFY_GROWTH * FUZZ_MAX_BYTES + 64), n2;
		SL_ASSERT(n > 0);
		SL_ASSERT(sl_json_parse(Q, v->s, v->len, false, &again) == 0);
		n2 = sl_json_minify(again, out2, MINIFY_GROWTH * FUZZ_MAX_BYTES + 64);
		SL_ASSERT(n2 == n && memcmp(out, out2, (size_t)n) == 0);
		break;
	}
	case SL_JSON_MISSING:
		SL_ASSERT(!"a found path is never missing");
		break;
	}
}

/* Invariants of any extraction result, DOM or not. */
static void check_value(const struct sl_json_value *v)
{
	switch (v->type) {
	case SL_JSON_MISSING:
		SL_ASSERT(v->s == NULL && v->len == 0 && v->i == 0 && v->f == 0 && !v->b);
		break;
	case SL_JSON_STRING:
		SL_ASSERT(v->s != NULL && utf8_valid((const uint8_t *)v->s, v->len));
		break;
	case SL_JSON_UINT:
		SL_ASSERT(!"extraction never gives UINT");
		break;
	default:
		SL_ASSERT(v->s != NULL && v->len > 0 && !is_space((uint8_t)v->s[0]) &&
			  !is_space((uint8_t)v->s[v->len - 1]));
		break;
	}
}

/*
 * Extracts the fixed paths and the input's own dotted path (if it compiles)
 * from data, unpadded and padded with a fill the fuzzer picks, and checks
 * them against each other and against the DOM result: rc (0 or the DOM's
 * error) and root (P's, when rc == 0). Leaves P's DOM document valid.
 */
static void check_extract(const uint8_t *data, size_t size, int rc, struct sl_json_elem root,
			  const struct sl_json_path *own)
{
	static const char fills[] = "}],\"{[: \\0";
	static struct saved_value saved[X_PATHS];
	struct sl_json_value v[X_PATHS];
	const struct sl_json_extractor *xs[2] = {X_fixed, NULL};
	uint32_t ns[2] = {X_FIXED + 1, 1};
	struct sl_json_extractor *x_own = own ? sl_json_extractor_new(own, 1) : NULL;
	bool is_object = rc == 0 && sl_json_type(root) == SL_JSON_OBJECT;

	SL_ASSERT(!own || x_own);
	xs[1] = x_own;
	for (int e = 0; e < 2 && xs[e]; e++) {
		int xrc = sl_json_extract(P, xs[e], (const char *)data, size, false, v);
		size_t at = 0;

		SL_ASSERT(xrc == 0 || xrc == -EINVAL || xrc == -ELOOP);
		/* When the DOM accepts an object, so does extraction. */
		if (rc == 0)
			SL_ASSERT(xrc == (is_object ? 0 : -EINVAL));
		if (xrc != 0) {
			const char *msg = sl_json_error(P);
			SL_ASSERT(msg[0] != '\0' && strlen(msg) < 160);
		} else {
			SL_ASSERT(sl_json_error(P)[0] == '\0');
		}
		for (uint32_t k = 0; k < ns[e]; k++) {
			check_value(&v[k]);
			if (xrc != 0)
				SL_ASSERT(v[k].type == SL_JSON_MISSING);
			else if (rc == 0)
				check_agrees(root, e == 0 ? &X_paths[k] : own, &v[k]);
			saved[k].v = v[k];
			saved[k].at = at;
			if (v[k].s) {
				memcpy(saved_text + at, v[k].s, v[k].len);
				at += v[k].len;
			}
		}

		/* Padded, with look-alike padding: the same result. */
		memcpy(padded, data, size);
		memset(padded + size, fills[size ? data[0] % (sizeof fills - 1) : 0],
		       SL_JSON_PADDING);
		SL_ASSERT(sl_json_extract(P, xs[e], padded, size, true, v) == xrc);
		for (uint32_t k = 0; k < ns[e]; k++) {
			SL_ASSERT(v[k].type == saved[k].v.type && v[k].len == saved[k].v.len);
			SL_ASSERT(v[k].b == saved[k].v.b && v[k].i == saved[k].v.i);
			SL_ASSERT(memcmp(&v[k].f, &saved[k].v.f, sizeof v[k].f) == 0);
			SL_ASSERT(v[k].len == 0 ||
				  memcmp(v[k].s, saved_text + saved[k].at, v[k].len) == 0);
		}
	}
	sl_json_extractor_free(x_own);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_json_elem root, proot;
	const char *in = (const char *)data;
	int rc, prc;

	if (!P) {
		init();
		init_extract();
	}
	if (size > FUZZ_MAX_BYTES)
		return 0;

	/* Any bytes escape to a valid literal. */
	check_escape(in, size);

	/* Padded parsing reads nothing meaningful past len: fill the padding with look-alikes. */
	memcpy(padded, data, size);
	memset(padded + size, size ? data[size - 1] : '1', SL_JSON_PADDING);
	prc = sl_json_parse(P, padded, size, true, &proot);
	SL_ASSERT(prc == 0 || prc == -EINVAL || prc == -ELOOP);
	SL_ASSERT(sl_json_error(P)[0] == '\0' || prc != 0);
	if (prc == 0)
		(void)sl_json_minify(proot, out, MINIFY_GROWTH * size + 64);

	/* The main event: unpadded parse, which must agree. */
	rc = sl_json_parse(P, in, size, false, &root);
	SL_ASSERT(rc == prc);
	if (rc != 0) {
		const char *msg = sl_json_error(P);
		SL_ASSERT(msg[0] != '\0' && strlen(msg) < 160);
		SL_ASSERT(sl_json_type(root) == SL_JSON_MISSING);
	} else {
		SL_ASSERT(sl_json_error(P)[0] == '\0');
		walk(root, 0);
		check_minify(root, size);
	}

	/* sl_json_parse_double agrees with the parser on exact number texts. */
	double d = 0, want = 0;
	bool ok = sl_json_parse_double(in, size, &d);
	if (ok) {
		SL_ASSERT(rc == 0 && sl_json_get_double(root, &want));
		SL_ASSERT(memcmp(&d, &want, sizeof d) == 0);
	} else if (rc == 0 && size > 0 && !is_space(data[0]) && !is_space(data[size - 1])) {
		enum sl_json_type t = sl_json_type(root);
		SL_ASSERT(t != SL_JSON_INT && t != SL_JSON_UINT && t != SL_JSON_DOUBLE);
	}

	/* Dotted paths from the input (as a C string), applied to the document. */
	char dotted[128];
	struct sl_json_path path;
	struct sl_json_elem v;
	size_t n = SL_MIN(size, sizeof dotted - 1);
	memcpy(dotted, data, n);
	dotted[n] = '\0';
	bool compiled = sl_json_path_compile(dotted, &path) == 0;
	if (compiled) {
		SL_ASSERT(path.n >= 1 && path.n <= SL_JSON_PATH_MAX_SEGS);
		for (unsigned k = 0; k < path.n; k++)
			SL_ASSERT(path.seg[k].len > 0 &&
				  memchr(path.seg[k].key, '.', path.seg[k].len) == NULL);
		if (rc == 0 && sl_json_get_path(root, &path, &v))
			walk(v, 0);
	}

	/* On-Demand extraction of fixed paths and of that one agrees with the DOM. */
	check_extract(data, size, rc, root, compiled ? &path : NULL);

	/* Now and then, the line benchmark over the padded copy. */
	if (size > 0 && data[0] % 32 == 0) {
		uint64_t n_docs = 0;
		int brc = sl_json_bench_parse_lines(padded, size, &n_docs);
		SL_ASSERT(brc == 0 || brc == -EINVAL || brc == -ELOOP);
		SL_ASSERT(n_docs <= size);
	}
	return 0;
}
