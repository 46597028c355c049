/*
 * Unit tests of io/json: parsing and its limits, lookups, iteration, minify, escape, numbers,
 * and On-Demand extraction (against the DOM, also over the generator's records).
 */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/common.h"
#include "core/limits.h"
#include "io/json.h"

static int n_checks, n_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		n_checks++;                                                                        \
		if (!(cond)) {                                                                     \
			n_failed++;                                                                \
			fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond);           \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_INT(got, want)                                                                    \
	do {                                                                                       \
		long long g_ = (long long)(got), w_ = (long long)(want);                           \
		n_checks++;                                                                        \
		if (g_ != w_) {                                                                    \
			n_failed++;                                                                \
			fprintf(stderr, "%s:%d: FAIL: %s == %lld, want %lld\n", __FILE__,          \
				__LINE__, #got, g_, w_);                                           \
		}                                                                                  \
	} while (0)

/* got[0..got_len) equals want[0..want_len) byte for byte. */
#define CHECK_BYTES(got, got_len, want, want_len)                                                  \
	check_bytes(__FILE__, __LINE__, #got, (got), (got_len), (want), (want_len))
/* got[0..got_len) equals the string literal want (which may contain \0 bytes). */
#define CHECK_LIT(got, got_len, want) CHECK_BYTES(got, got_len, want, sizeof(want) - 1)

static void check_bytes(const char *file, int line, const char *what, const char *got,
			long long got_len, const char *want, size_t want_len)
{
	n_checks++;
	if (got_len >= 0 && (size_t)got_len == want_len &&
	    (want_len == 0 || memcmp(got, want, want_len) == 0))
		return;
	n_failed++;
	fprintf(stderr, "%s:%d: FAIL: %s is %lld bytes [%.*s], want %zu bytes [%.*s]\n", file, line,
		what, got_len, got_len > 0 ? (int)SL_MIN(got_len, 200) : 0, got ? got : "",
		want_len, (int)SL_MIN(want_len, 200), want);
}

static struct sl_json_parser *P; /* SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH */

/* Parses a NUL-terminated document (unpadded) and checks it succeeded. */
static struct sl_json_elem doc(const char *json)
{
	struct sl_json_elem root;
	int rc = sl_json_parse(P, json, strlen(json), false, &root);

	if (rc != 0)
		fprintf(stderr, "parse of [%s] failed: %s\n", json, sl_json_error(P));
	CHECK_EQ_INT(rc, 0);
	return root;
}

static int parse_rc(const char *json, size_t len)
{
	struct sl_json_elem root;
	int rc = sl_json_parse(P, json, len, false, &root);

	if (rc != 0)
		CHECK_EQ_INT(sl_json_type(root), SL_JSON_MISSING);
	return rc;
}

static struct sl_json_elem field(struct sl_json_elem obj, const char *key)
{
	struct sl_json_elem v;

	CHECK(sl_json_get_field(obj, key, strlen(key), &v));
	return v;
}

static struct sl_json_elem path(struct sl_json_elem root, const char *dotted)
{
	struct sl_json_path p;
	struct sl_json_elem v;

	CHECK_EQ_INT(sl_json_path_compile(dotted, &p), 0);
	CHECK(sl_json_get_path(root, &p, &v));
	return v;
}

static void check_string(struct sl_json_elem e, const char *want, size_t want_len)
{
	const char *s = NULL;
	size_t len = 0;

	CHECK_EQ_INT(sl_json_type(e), SL_JSON_STRING);
	CHECK(sl_json_get_string(e, &s, &len));
	CHECK_BYTES(s, (long long)len, want, want_len);
}
#define CHECK_STRING(e, lit) check_string((e), (lit), sizeof(lit) - 1)

static void check_int(struct sl_json_elem e, int64_t want)
{
	int64_t v = 0;
	double d = 0;

	CHECK_EQ_INT(sl_json_type(e), SL_JSON_INT);
	CHECK(sl_json_get_int64(e, &v));
	CHECK_EQ_INT(v, want);
	CHECK(sl_json_get_double(e, &d));
	CHECK(d == (double)want);
}

static void check_minify(struct sl_json_elem e, const char *want)
{
	static char buf[4096];
	ssize_t n = sl_json_minify(e, buf, sizeof buf);

	CHECK_BYTES(buf, n, want, strlen(want));
}

/* ---- scalars -------------------------------------------------------------- */

static void test_scalars(void)
{
	struct sl_json_elem e;
	int64_t i;
	double d;
	bool b;
	const char *s;
	size_t len;

	e = doc("null");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_NULL);
	CHECK(!sl_json_get_bool(e, &b));
	CHECK(!sl_json_get_int64(e, &i));
	CHECK(!sl_json_get_double(e, &d));
	CHECK(!sl_json_get_string(e, &s, &len));

	e = doc(" true ");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_BOOL);
	CHECK(sl_json_get_bool(e, &b) && b == true);
	e = doc("false");
	CHECK(sl_json_get_bool(e, &b) && b == false);
	CHECK(!sl_json_get_int64(e, &i));

	check_int(doc("0"), 0);
	check_int(doc("-0"), 0); /* an integer: the sign is lost, as in simdjson */
	check_int(doc("42"), 42);
	check_int(doc("-42"), -42);
	check_int(doc("9223372036854775807"), INT64_MAX);
	check_int(doc("-9223372036854775808"), INT64_MIN);

	e = doc("9223372036854775808");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_UINT);
	CHECK(!sl_json_get_int64(e, &i));
	CHECK(sl_json_get_double(e, &d) && d == 9223372036854775808.0);
	e = doc("18446744073709551615");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_UINT);
	CHECK(sl_json_get_double(e, &d) && d == 18446744073709551615.0);

	e = doc("3.140000104904175");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_DOUBLE);
	CHECK(sl_json_get_double(e, &d) && d == 3.140000104904175);
	CHECK(d == strtod("3.140000104904175", NULL));
	CHECK(!sl_json_get_int64(e, &i));
	e = doc("1e2");
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_DOUBLE); /* an exponent makes a double */
	CHECK(!sl_json_get_int64(e, &i));
	CHECK(sl_json_get_double(e, &d) && d == 100.0);
	e = doc("-1.5E-3");
	CHECK(sl_json_get_double(e, &d) && d == -1.5e-3);
	e = doc("-0.0");
	CHECK(sl_json_get_double(e, &d) && d == 0.0 && signbit(d));
	e = doc("1e-400"); /* underflow is zero, as simdjson does */
	CHECK(sl_json_get_double(e, &d) && d == 0.0);
	e = doc("1.7976931348623157e308");
	CHECK(sl_json_get_double(e, &d) && d == 1.7976931348623157e308);
	e = doc("9007199254740993"); /* 2^53 + 1: an exact integer, rounded when read as double */
	check_int(e, 9007199254740993ll);
	CHECK(sl_json_get_double(e, &d) && d == 9007199254740992.0);

	/* A missing element. */
	memset(&e, 0, sizeof e);
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_MISSING);
	CHECK(!sl_json_get_bool(e, &b));
	CHECK(!sl_json_get_int64(e, &i));
	CHECK(!sl_json_get_double(e, &d));
	CHECK(!sl_json_get_string(e, &s, &len));
	CHECK_EQ_INT(sl_json_array_size(e), 0);
	CHECK_EQ_INT(sl_json_minify(e, (char[8]){0}, 8), -EINVAL);
}

/* ---- strings ------------------------------------------------------------- */

static void test_strings(void)
{
	CHECK_STRING(doc("\"\""), "");
	CHECK_STRING(doc("\"hello\""), "hello");
	CHECK_STRING(doc("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\""), "a\"b\\c/d\b\f\n\r\t");
	CHECK_STRING(doc("\"\\u00e9\""), "\xc3\xa9");		     /* é */
	CHECK_STRING(doc("\"\\u4E2D\""), "\xe4\xb8\xad");	     /* 中, upper-case hex */
	CHECK_STRING(doc("\"\\ud83d\\ude00\""), "\xf0\x9f\x98\x80"); /* 😀, surrogate pair */
	CHECK_STRING(doc("\"\\uD834\\uDD1E\""), "\xf0\x9d\x84\x9e"); /* 𝄞 */
	CHECK_STRING(doc("\"x\\u0000y\""), "x\0y");		     /* embedded NUL */
	CHECK_STRING(doc("\"\xe5\xbc\xa0\xe4\xb8\x89\""),
		     "\xe5\xbc\xa0\xe4\xb8\x89"); /* raw 张三 */
	CHECK_STRING(doc("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\""),
		     "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf");
}

/* ---- lookups ------------------------------------------------------------- */

static const char *const DEBEZIUM =
    "{\"before\":null,\n"
    " \"after\":{\"customer_id\":1001,\"name\":\"\\u5f20\\u4e09\",\"tags\":[\"a\",\"b\"],"
    "\"score\":98.5,\"active\":true,\"addr\":{\"city\":\"Hangzhou\",\"zip\":\"310000\"}},\n"
    " \"op\":\"u\",\"ts_ms\":1700000000000,\"a.b\":1}";

static void test_lookups(void)
{
	struct sl_json_elem root = doc(DEBEZIUM), v;
	struct sl_json_path p;
	double d;

	CHECK_EQ_INT(sl_json_type(root), SL_JSON_OBJECT);
	CHECK_STRING(field(root, "op"), "u");
	check_int(field(root, "ts_ms"), 1700000000000ll);
	CHECK_EQ_INT(sl_json_type(field(root, "before")), SL_JSON_NULL);
	CHECK_EQ_INT(sl_json_type(field(root, "a.b")), SL_JSON_INT); /* get_field does not split */

	/* Absent keys, prefixes of keys, and non-objects. */
	v = root;
	CHECK(!sl_json_get_field(root, "missing", 7, &v));
	CHECK_EQ_INT(sl_json_type(v), SL_JSON_MISSING);
	CHECK(!sl_json_get_field(root, "o", 1, &v));
	CHECK(!sl_json_get_field(root, "opx", 3, &v));
	CHECK(!sl_json_get_field(root, "", 0, &v));
	CHECK(sl_json_get_field(root, "opx", 2, &v)); /* key_len, not strlen */
	CHECK(!sl_json_get_field(field(root, "op"), "x", 1, &v));
	CHECK(!sl_json_get_field(v = (struct sl_json_elem){{0, 0}}, "x", 1, &v));

	check_int(path(root, "after.customer_id"), 1001);
	CHECK_STRING(path(root, "after.name"), "\xe5\xbc\xa0\xe4\xb8\x89");
	CHECK_STRING(path(root, "after.addr.city"), "Hangzhou");
	CHECK_STRING(path(root, "after.addr.zip"), "310000");
	CHECK(sl_json_get_double(path(root, "after.score"), &d) && d == 98.5);
	CHECK_EQ_INT(sl_json_array_size(path(root, "after.tags")), 2);
	check_int(path(root, "ts_ms"), 1700000000000ll);

	const char *missing[] = {"after.nope",	 "nope.customer_id",  "before.x",     "op.x",
				 "after.tags.0", "after.addr.city.x", "after.addr.c", "a.b"};
	for (size_t i = 0; i < SL_ARRAY_LEN(missing); i++) {
		CHECK_EQ_INT(sl_json_path_compile(missing[i], &p), 0);
		v = root;
		CHECK(!sl_json_get_path(root, &p, &v));
		CHECK_EQ_INT(sl_json_type(v), SL_JSON_MISSING);
	}

	/* Duplicate keys: the first wins. Escaped keys match unescaped. */
	root = doc("{\"k\":1,\"k\":2,\"a\\u0062\":3,\"\":4}");
	check_int(field(root, "k"), 1);
	check_int(field(root, "ab"), 3);
	check_int(field(root, ""), 4);
}

static void test_path_compile(void)
{
	struct sl_json_path p;
	const char *dotted = "after.customer_id";
	char long_path[64];

	CHECK_EQ_INT(sl_json_path_compile(dotted, &p), 0);
	CHECK_EQ_INT(p.n, 2);
	CHECK(p.seg[0].key == dotted && p.seg[0].len == 5);
	CHECK(p.seg[1].key == dotted + 6 && p.seg[1].len == 11);
	CHECK_EQ_INT(sl_json_path_compile("a", &p), 0);
	CHECK_EQ_INT(p.n, 1);

	const char *bad[] = {"", ".", "a..b", ".a", "a.", "a.b."};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		CHECK_EQ_INT(sl_json_path_compile(bad[i], &p), -EINVAL);
		CHECK_EQ_INT(p.n, 0);
	}

	/* 16 segments fit, 17 do not. */
	strcpy(long_path, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p");
	CHECK_EQ_INT(sl_json_path_compile(long_path, &p), 0);
	CHECK_EQ_INT(p.n, 16);
	CHECK(p.seg[15].key[0] == 'p' && p.seg[15].len == 1);
	strcat(long_path, ".q");
	CHECK_EQ_INT(sl_json_path_compile(long_path, &p), -EINVAL);

	/* The path with no segments is the root itself. */
	struct sl_json_elem root = doc("[1]"), v;
	p.n = 0;
	CHECK(sl_json_get_path(root, &p, &v));
	CHECK(memcmp(&v, &root, sizeof v) == 0);
}

/* ---- iteration ----------------------------------------------------------- */

static void test_iteration(void)
{
	struct sl_json_elem root = doc(DEBEZIUM), v;
	struct sl_json_iter it;
	const char *key;
	size_t key_len, n;

	static const char *const keys[] = {"before", "after", "op", "ts_ms", "a.b"};
	static const enum sl_json_type types[] = {SL_JSON_NULL, SL_JSON_OBJECT, SL_JSON_STRING,
						  SL_JSON_INT, SL_JSON_INT};
	CHECK(sl_json_iter_init(root, &it));
	for (n = 0; sl_json_iter_next(&it, &key, &key_len, &v); n++) {
		if (n >= SL_ARRAY_LEN(keys))
			break;
		CHECK_BYTES(key, (long long)key_len, keys[n], strlen(keys[n]));
		CHECK_EQ_INT(sl_json_type(v), types[n]);
	}
	CHECK_EQ_INT(n, 5);
	CHECK(!sl_json_iter_next(&it, &key, &key_len, &v)); /* stays done */

	/* Nested object, keys only. */
	CHECK(sl_json_iter_init(path(root, "after.addr"), &it));
	CHECK(sl_json_iter_next(&it, &key, &key_len, &v));
	CHECK_LIT(key, (long long)key_len, "city");
	CHECK(sl_json_iter_next(&it, NULL, NULL, &v));
	CHECK_STRING(v, "310000");
	CHECK(!sl_json_iter_next(&it, NULL, NULL, &v));

	root = doc("[1,\"two\",3.5,null,[],{},true,[[0]]]");
	static const enum sl_json_type atypes[] = {SL_JSON_INT,	 SL_JSON_STRING, SL_JSON_DOUBLE,
						   SL_JSON_NULL, SL_JSON_ARRAY,	 SL_JSON_OBJECT,
						   SL_JSON_BOOL, SL_JSON_ARRAY};
	CHECK_EQ_INT(sl_json_array_size(root), 8);
	CHECK(sl_json_iter_init(root, &it));
	for (n = 0; sl_json_iter_next(&it, &key, &key_len, &v); n++) {
		if (n >= SL_ARRAY_LEN(atypes))
			break;
		CHECK(key == NULL && key_len == 0);
		CHECK_EQ_INT(sl_json_type(v), atypes[n]);
		if (n == 0)
			check_int(v, 1);
		if (n == 1)
			CHECK_STRING(v, "two");
		if (n == 7)
			CHECK_EQ_INT(sl_json_array_size(v), 1);
	}
	CHECK_EQ_INT(n, 8);

	/* Duplicates are all visited. */
	root = doc("{\"k\":1,\"k\":2}");
	CHECK(sl_json_iter_init(root, &it));
	CHECK(sl_json_iter_next(&it, &key, &key_len, &v));
	check_int(v, 1);
	CHECK(sl_json_iter_next(&it, &key, &key_len, &v));
	check_int(v, 2);
	CHECK_LIT(key, (long long)key_len, "k");
	CHECK(!sl_json_iter_next(&it, &key, &key_len, &v));

	/* Empty containers and non-containers. */
	CHECK(sl_json_iter_init(doc("[]"), &it));
	CHECK(!sl_json_iter_next(&it, NULL, NULL, &v));
	CHECK_EQ_INT(sl_json_type(v), SL_JSON_MISSING);
	CHECK(sl_json_iter_init(doc(" { } "), &it));
	CHECK(!sl_json_iter_next(&it, NULL, NULL, &v));
	CHECK(!sl_json_iter_init(doc("\"s\""), &it));
	CHECK(!sl_json_iter_next(&it, NULL, NULL, &v));
	CHECK(!sl_json_iter_init((struct sl_json_elem){{0, 0}}, &it));
	CHECK_EQ_INT(sl_json_array_size(doc("{\"a\":1}")), 0);
	CHECK_EQ_INT(sl_json_array_size(doc("[]")), 0);

	/* A large array: count and sum. */
	static char big[700000];
	size_t o = 0;
	long long want = 0;
	big[o++] = '[';
	for (int k = 0; k < 100000; k++) {
		o += (size_t)snprintf(big + o, sizeof big - o, k ? ",%d" : "%d", k * 3 - 7);
		want += k * 3 - 7;
	}
	big[o++] = ']';
	big[o] = '\0';
	root = doc(big);
	CHECK_EQ_INT(sl_json_array_size(root), 100000);
	long long sum = 0;
	int64_t x;
	CHECK(sl_json_iter_init(root, &it));
	for (n = 0; sl_json_iter_next(&it, NULL, NULL, &v); n++)
		if (sl_json_get_int64(v, &x))
			sum += x;
	CHECK_EQ_INT(n, 100000);
	CHECK_EQ_INT(sum, want);
}

/* ---- minify -------------------------------------------------------------- */

static void test_minify(void)
{
	static char buf[4096], buf2[4096];
	struct sl_json_elem root;
	ssize_t n, n2;

	root =
	    doc(" { \"a\" : [ 1 , 2.5 , -3 , \"x\\ny\" , true , false , null , { } , [ ] ] ,\n"
		"\t\"b\" : { \"c\" : \"\\u00e9\\ud83d\\ude00\\/\\u0001\\u001F\" } , \"\" : 0 } ");
	check_minify(root, "{\"a\":[1,2.5,-3,\"x\\ny\",true,false,null,{},[]],"
			   "\"b\":{\"c\":\"\xc3\xa9\xf0\x9f\x98\x80/\\u0001\\u001f\"},\"\":0}");
	check_minify(field(root, "b"), "{\"c\":\"\xc3\xa9\xf0\x9f\x98\x80/\\u0001\\u001f\"}");
	check_minify(field(root, "a"), "[1,2.5,-3,\"x\\ny\",true,false,null,{},[]]");

	/* Numbers: integers exact, doubles shortest round-trip (simdjson's to_chars). */
	check_minify(doc("1e2"), "100.0");
	check_minify(doc("3.140000104904175"), "3.140000104904175");
	check_minify(doc("0.1"), "0.1");
	check_minify(doc("1E+100"), "1e+100");
	check_minify(doc("-0.0"), "-0.0");
	check_minify(doc("-0"), "0");
	check_minify(doc("2.5e-7"), "2.5e-07");
	check_minify(doc("18446744073709551615"), "18446744073709551615");
	check_minify(doc("-9223372036854775808"), "-9223372036854775808");
	check_minify(doc("[\"\\\"\\\\\\b\\f\\n\\r\\t\"]"), "[\"\\\"\\\\\\b\\f\\n\\r\\t\"]");
	check_minify(doc("{\"k\":1,\"k\":2}"), "{\"k\":1,\"k\":2}"); /* duplicates kept */
	check_minify(doc("\"\\u0000\""), "\"\\u0000\"");

	/* Round trip: minified output parses to a document that minifies identically. */
	root = doc(DEBEZIUM);
	n = sl_json_minify(root, buf, sizeof buf);
	CHECK(n > 0);
	CHECK_EQ_INT(sl_json_parse(P, buf, (size_t)n, false, &root), 0);
	n2 = sl_json_minify(root, buf2, sizeof buf2);
	CHECK_BYTES(buf2, n2, buf, (size_t)n);
	CHECK(memchr(buf, ' ', (size_t)n) == NULL && memchr(buf, '\n', (size_t)n) == NULL);

	/* -ENOSPC at every capacity short of the exact size; never writes past cap. */
	for (size_t cap = 0; cap <= (size_t)n; cap++) {
		memset(buf2, '#', sizeof buf2);
		ssize_t r = sl_json_minify(root, buf2, cap);
		if (cap < (size_t)n)
			CHECK_EQ_INT(r, -ENOSPC);
		else
			CHECK_BYTES(buf2, r, buf, (size_t)n);
		CHECK(buf2[cap] == '#');
	}
}

/* ---- escape -------------------------------------------------------------- */

/* An independent reference for valid UTF-8 input: byte by byte, snprintf for \u. */
static size_t ref_escape(const char *s, size_t len, char *out)
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *short_esc = NULL;
		switch (c) {
		case '"':
			short_esc = "\\\"";
			break;
		case '\\':
			short_esc = "\\\\";
			break;
		case '\b':
			short_esc = "\\b";
			break;
		case '\f':
			short_esc = "\\f";
			break;
		case '\n':
			short_esc = "\\n";
			break;
		case '\r':
			short_esc = "\\r";
			break;
		case '\t':
			short_esc = "\\t";
			break;
		}
		if (short_esc) {
			memcpy(out + o, short_esc, 2);
			o += 2;
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o++] = '"';
	return o;
}

static void check_escape(const char *s, size_t len, const char *want, size_t want_len)
{
	static char buf[8192];

	ssize_t n = sl_json_escape(s, len, buf, sizeof buf);
	CHECK_BYTES(buf, n, want, want_len);
	if (n < 0)
		return;
	CHECK((size_t)n <= 2 + 6 * len);
	/* Exactly enough space works; one byte less fails; nothing is written past cap. */
	memset(buf, '#', (size_t)n + 1);
	CHECK_EQ_INT(sl_json_escape(s, len, buf, (size_t)n), n);
	CHECK(buf[n] == '#');
	memset(buf, '#', (size_t)n + 1);
	CHECK_EQ_INT(sl_json_escape(s, len, buf, (size_t)n - 1), -ENOSPC);
	CHECK(buf[n - 1] == '#');
	/* The output is a JSON string literal. */
	struct sl_json_elem e;
	CHECK_EQ_INT(sl_json_parse(P, want, want_len, false, &e), 0);
	CHECK_EQ_INT(sl_json_type(e), SL_JSON_STRING);
}
#define CHECK_ESCAPE(s, want) check_escape((s), sizeof(s) - 1, (want), sizeof(want) - 1)

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_escape(void)
{
	static char s[4096], want[8192], got[8192];

	CHECK_ESCAPE("", "\"\"");
	CHECK_ESCAPE("plain text", "\"plain text\"");
	CHECK_ESCAPE("a\"b\\c/d", "\"a\\\"b\\\\c/d\"");
	CHECK_ESCAPE("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
	CHECK_ESCAPE("\x01\x1f\x00\x7f", "\"\\u0001\\u001f\\u0000\x7f\"");
	CHECK_ESCAPE("\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80",
		     "\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\"");
	/* 8-byte runs around the escapes (the word-at-a-time path). */
	CHECK_ESCAPE("0123456789abcdef\"0123456789abcdef\n01234567",
		     "\"0123456789abcdef\\\"0123456789abcdef\\n01234567\"");
	CHECK_ESCAPE(
	    "\xe5\xbc\xa0\xe4\xb8\x89\xe5\xbc\xa0\xe4\xb8\x89\t\xe5\xbc\xa0\xe4\xb8\x89",
	    "\"\xe5\xbc\xa0\xe4\xb8\x89\xe5\xbc\xa0\xe4\xb8\x89\\t\xe5\xbc\xa0\xe4\xb8\x89\"");

	/* Ill-formed UTF-8: one U+FFFD per maximal ill-formed subpart (Unicode 3.9). */
#define FFFD "\xef\xbf\xbd"
	CHECK_ESCAPE("\xff", "\"" FFFD "\"");
	CHECK_ESCAPE("a\xe4\xb8", "\"a" FFFD "\"");		/* truncated at the end */
	CHECK_ESCAPE("a\xe4\xb8z", "\"a" FFFD "z\"");		/* truncated in the middle */
	CHECK_ESCAPE("\xc0\xaf", "\"" FFFD FFFD "\"");		/* overlong */
	CHECK_ESCAPE("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""); /* surrogate */
	CHECK_ESCAPE("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
	CHECK_ESCAPE("\x80\xbf", "\"" FFFD FFFD "\"");			 /* stray continuations */
	CHECK_ESCAPE("\xf0\x9f\x98", "\"" FFFD "\"");
	CHECK_ESCAPE("ok\xc3\xa9\xff\xc3\xa9", "\"ok\xc3\xa9" FFFD "\xc3\xa9\"");
	CHECK_ESCAPE("0123456789\xc3\xa9\xff\"0123456789",
		     "\"0123456789\xc3\xa9" FFFD "\\\"0123456789\"");

	/* Random valid strings against the reference, and back through the parser. */
	static const char *const alphabet[] = {"a",
					       "Z",
					       " ",
					       "\"",
					       "\\",
					       "/",
					       "\n",
					       "\t",
					       "\x01",
					       "\x1f",
					       "\x7f",
					       "\xc3\xa9",
					       "\xe4\xb8\xad",
					       "\xf0\x9f\x98\x80",
					       "0123456789"};
	for (int round = 0; round < 2000; round++) {
		size_t len = 0, target = (size_t)(next_rand() % 300);
		while (len < target) {
			const char *a = alphabet[next_rand() % SL_ARRAY_LEN(alphabet)];
			memcpy(s + len, a, strlen(a));
			len += strlen(a);
		}
		size_t want_len = ref_escape(s, len, want);
		ssize_t n = sl_json_escape(s, len, got, sizeof got);
		CHECK_BYTES(got, n, want, want_len);
		struct sl_json_elem e;
		const char *back;
		size_t back_len;
		CHECK_EQ_INT(sl_json_parse(P, got, (size_t)SL_MAX(n, 0), false, &e), 0);
		CHECK(sl_json_get_string(e, &back, &back_len));
		CHECK_BYTES(back, (long long)back_len, s, len);
	}
	/* Random bytes: always a valid string literal. */
	for (int round = 0; round < 2000; round++) {
		size_t len = (size_t)(next_rand() % 64);
		for (size_t i = 0; i < len; i++)
			s[i] = (char)next_rand();
		ssize_t n = sl_json_escape(s, len, got, sizeof got);
		struct sl_json_elem e;
		CHECK(n >= 2 && (size_t)n <= 2 + 6 * len);
		CHECK_EQ_INT(sl_json_parse(P, got, (size_t)SL_MAX(n, 0), false, &e), 0);
		CHECK_EQ_INT(sl_json_type(e), SL_JSON_STRING);
	}
}

/* ---- invalid input and limits -------------------------------------------- */

static void test_invalid(void)
{
	static const char *const bad[] = {
	    "{\"a\":",
	    "{\"a\":1} x",
	    "{\"a\":1}}",
	    "[1,]",
	    "{'a':1}",
	    "tru",
	    "nul",
	    "01",
	    "1.",
	    "-",
	    ".5",
	    "+1",
	    "NaN",
	    "[NaN]",
	    "Infinity",
	    "\"abc",
	    "[1 2]",
	    "{\"a\" 1}",
	    "{\"a\":1,}",
	    "1 2",
	    "\"\\x\"",
	    "\"\\ud800\"",
	    "123456789012345678901234567890",
	    "18446744073709551616",
	    "-9223372036854775809",
	    "1e400",
	    "-1e400",
	    "[",
	    "]",
	    "}",
	    "\"\\u12\"",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		int rc = parse_rc(bad[i], strlen(bad[i]));
		if (rc != -EINVAL)
			fprintf(stderr, "input [%s]: ", bad[i]);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(strlen(sl_json_error(P)) > 10);
	}
	CHECK_EQ_INT(parse_rc("", 0), -EINVAL);
	CHECK_EQ_INT(parse_rc(NULL, 0), -EINVAL);
	CHECK_EQ_INT(parse_rc(" \n\t ", 4), -EINVAL);
	CHECK_EQ_INT(parse_rc("[1]\0", 4), -EINVAL); /* a NUL is trailing garbage */

	/* The message says where, when it can, and never quotes the input. */
	CHECK_EQ_INT(parse_rc("{\"secret\":\"hunter2\x01\"}", 21), -EINVAL);
	CHECK(strstr(sl_json_error(P), "(at byte 18)") != NULL);
	CHECK(strstr(sl_json_error(P), "hunter2") == NULL);
	CHECK_EQ_INT(parse_rc("[\"ok\",\"\xff\"]", 10), -EINVAL);
	CHECK(strstr(sl_json_error(P), "UTF-8") != NULL ||
	      strstr(sl_json_error(P), "UTF8") != NULL);
	CHECK(strstr(sl_json_error(P), "(at byte 7)") != NULL);
	CHECK_EQ_INT(parse_rc("{\"secret\":\"hunter2\"", 19), -EINVAL);
	CHECK(strstr(sl_json_error(P), "hunter2") == NULL);

	/* Success clears the message. */
	doc("1");
	CHECK(strcmp(sl_json_error(P), "") == 0);
}

/* leaf inside depth arrays ("[[leaf]]") or objects ({"a":{"a":leaf}}). */
static size_t nest(char *buf, unsigned depth, bool objects, const char *leaf)
{
	size_t o = 0;

	for (unsigned i = 0; i < depth; i++) {
		memcpy(buf + o, objects ? "{\"a\":" : "[", objects ? 5 : 1);
		o += objects ? 5 : 1;
	}
	memcpy(buf + o, leaf, strlen(leaf));
	o += strlen(leaf);
	for (unsigned i = 0; i < depth; i++)
		buf[o++] = objects ? '}' : ']';
	buf[o] = '\0';
	return o;
}

static void test_depth(void)
{
	static char buf[8192];
	struct sl_json_elem root, v;
	size_t len;

	for (int objects = 0; objects <= 1; objects++) {
		len = nest(buf, SL_JSON_MAX_DEPTH, objects, "1");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), 0);
		check_minify(root, buf);
		len = nest(buf, SL_JSON_MAX_DEPTH + 1, objects, "1");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), -ELOOP);
		CHECK_EQ_INT(sl_json_type(root), SL_JSON_MISSING);
		CHECK(strstr(sl_json_error(P), "deeper than 64") != NULL);
		char at[32];
		snprintf(at, sizeof at, "(at byte %u)",
			 objects ? 5 * SL_JSON_MAX_DEPTH : SL_JSON_MAX_DEPTH);
		CHECK(strstr(sl_json_error(P), at) != NULL);
		/* An empty container is a leaf: it adds no depth. */
		len = nest(buf, SL_JSON_MAX_DEPTH, objects, "[]");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), 0);
		check_minify(root, buf);
		len = nest(buf, SL_JSON_MAX_DEPTH, objects, "{}");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), 0);
		len = nest(buf, SL_JSON_MAX_DEPTH + 1, objects, "[]");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), -ELOOP);
		len = nest(buf, SL_JSON_MAX_DEPTH, objects, "[{}]");
		CHECK_EQ_INT(sl_json_parse(P, buf, len, false, &root), -ELOOP);
	}
	/* Mixed nesting, and a deep path. */
	len = (size_t)snprintf(buf, sizeof buf, "{\"a\":[{\"b\":[[{\"c\":true}]]}]}");
	struct sl_json_parser *p5 = sl_json_parser_new(1024, 6);
	struct sl_json_parser *p4 = sl_json_parser_new(1024, 5);
	CHECK(p5 && p4);
	CHECK_EQ_INT(sl_json_parse(p5, buf, len, false, &root), 0);
	CHECK_EQ_INT(sl_json_parse(p4, buf, len, false, &root), -ELOOP);
	sl_json_parser_free(p5);
	sl_json_parser_free(p4);

	/* Depth counts containers around leaves; an empty container is a leaf. */
	struct sl_json_parser *p1 = sl_json_parser_new(64, 1);
	CHECK(p1);
	const char *depth0_or_1[] = {"1",	   "[]",	  "{}",
				     "[1,2]",	   "[1,{}]",	  "[[]]",
				     "{\"a\":{}}", "[[],{},[ ]]", "{\"a\":\"[[[\"}"};
	const char *depth2[] = {"[[1]]",  "[{\"a\":1}]",   "{\"a\":[null]}",
				"[[[]]]", "[[],[{}],[0]]", "[1,[ 2]]"};
	for (size_t i = 0; i < SL_ARRAY_LEN(depth0_or_1); i++) {
		int rc = sl_json_parse(p1, depth0_or_1[i], strlen(depth0_or_1[i]), false, &root);
		if (rc != 0)
			fprintf(stderr, "depth <= 1: [%s]: ", depth0_or_1[i]);
		CHECK_EQ_INT(rc, 0);
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(depth2); i++) {
		int rc = sl_json_parse(p1, depth2[i], strlen(depth2[i]), false, &root);
		if (rc != -ELOOP)
			fprintf(stderr, "depth 2: [%s]: ", depth2[i]);
		CHECK_EQ_INT(rc, -ELOOP);
	}
	/* The offset names the container that holds a too-deep value, not an earlier empty one. */
	CHECK_EQ_INT(sl_json_parse(p1, "[[ ],[0]]", 9, false, &root), -ELOOP);
	CHECK(strstr(sl_json_error(p1), "(at byte 5)") != NULL);
	CHECK_EQ_INT(sl_json_parse(p1, "{\"a\":\"[[[\"}", 11, false, &root), 0);
	CHECK(sl_json_get_field(root, "a", 1, &v));
	CHECK_STRING(v, "[[[");
	sl_json_parser_free(p1);
}

static void test_size_limit(void)
{
	static char buf[256];
	struct sl_json_parser *p = sl_json_parser_new(100, 8);
	struct sl_json_elem root;

	CHECK(p != NULL);
	/* Exactly 100 bytes: a string of 98. */
	buf[0] = '"';
	memset(buf + 1, 'x', 98);
	buf[99] = '"';
	CHECK_EQ_INT(sl_json_parse(p, buf, 100, false, &root), 0);
	CHECK_EQ_INT(sl_json_parse(p, buf, 100, true, &root), 0); /* buf has the padding */
	buf[99] = 'x';
	buf[100] = '"';
	CHECK_EQ_INT(sl_json_parse(p, buf, 101, false, &root), -EMSGSIZE);
	CHECK_EQ_INT(sl_json_type(root), SL_JSON_MISSING);
	CHECK(strstr(sl_json_error(p), "101") != NULL);
	CHECK_EQ_INT(sl_json_parse(p, buf, 101, true, &root), -EMSGSIZE);
	sl_json_parser_free(p);

	/* Tiny limits still work (simdjson's own minimum capacity is 32). */
	p = sl_json_parser_new(1, 1);
	CHECK(p != NULL);
	CHECK_EQ_INT(sl_json_parse(p, "7", 1, false, &root), 0);
	check_int(root, 7);
	CHECK_EQ_INT(sl_json_parse(p, "[]", 2, false, &root), -EMSGSIZE);
	sl_json_parser_free(p);
}

static void test_huge(void)
{
	const size_t n = 900 * 1024;
	char *in = malloc(n + 16 + SL_JSON_PADDING), *out = malloc(n + 64);
	struct sl_json_elem root, v;
	size_t len;

	CHECK(in && out);
	if (!in || !out)
		goto out;
	len = (size_t)sprintf(in, "{\"s\":\"");
	for (size_t i = 0; i < n; i++)
		in[len + i] = (char)('a' + i % 26);
	len += n;
	len += (size_t)sprintf(in + len, "\"}");
	CHECK_EQ_INT(sl_json_parse(P, in, len, false, &root), 0);
	CHECK(sl_json_get_field(root, "s", 1, &v));
	const char *s;
	size_t s_len;
	CHECK(sl_json_get_string(v, &s, &s_len));
	CHECK_EQ_INT(s_len, n);
	CHECK(s_len == n && memcmp(s, in + 6, n) == 0);
	CHECK_BYTES(out, sl_json_minify(root, out, n + 64), in, len);
	CHECK_EQ_INT(sl_json_minify(root, out, n), -ENOSPC);
	/* The same, padded in place. */
	memset(in + len, 'x', SL_JSON_PADDING);
	CHECK_EQ_INT(sl_json_parse(P, in, len, true, &root), 0);
	CHECK(sl_json_get_field(root, "s", 1, &v) && sl_json_get_string(v, &s, &s_len));
	CHECK_EQ_INT(s_len, n);
	/* A whole record-sized document. */
	char *max = malloc(SL_RECORD_MAX_BYTES + 1);
	CHECK(max != NULL);
	if (max) {
		memset(max, ' ', SL_RECORD_MAX_BYTES + 1);
		max[0] = '[';
		max[SL_RECORD_MAX_BYTES - 1] = ']';
		CHECK_EQ_INT(sl_json_parse(P, max, SL_RECORD_MAX_BYTES, false, &root), 0);
		CHECK_EQ_INT(sl_json_parse(P, max, SL_RECORD_MAX_BYTES + 1, false, &root),
			     -EMSGSIZE);
		free(max);
	}
out:
	free(in);
	free(out);
}

/* Unpadded inputs are copied (ASan would see an over-read); padded ones use only len bytes. */
static void test_padding(void)
{
	struct sl_json_elem root;
	int64_t i;
	bool b;

	/* Exactly-sized heap buffers: reading past them is an ASan error. */
	const char *docs[] = {"{\"a\":[1,2,3]}", "12345", "\"str\"", "true", "[]"};
	for (size_t k = 0; k < SL_ARRAY_LEN(docs); k++) {
		size_t len = strlen(docs[k]);
		char *exact = malloc(len);
		memcpy(exact, docs[k], len);
		CHECK_EQ_INT(sl_json_parse(P, exact, len, false, &root), 0);
		free(exact);
	}

	/* What follows len in the padding must not change the result. */
	char buf[8 + SL_JSON_PADDING];
	memset(buf, '9', sizeof buf);
	memcpy(buf, "12", 2);
	CHECK_EQ_INT(sl_json_parse(P, buf, 1, true, &root), 0);
	CHECK(sl_json_get_int64(root, &i) && i == 1);
	CHECK_EQ_INT(sl_json_parse(P, buf, 2, true, &root), 0);
	CHECK(sl_json_get_int64(root, &i) && i == 12);
	memcpy(buf, "true", 4);
	CHECK_EQ_INT(sl_json_parse(P, buf, 3, true, &root), -EINVAL);
	CHECK_EQ_INT(sl_json_parse(P, buf, 4, true, &root), 0);
	CHECK(sl_json_get_bool(root, &b) && b);
	memset(buf, '}', sizeof buf);
	memcpy(buf, "{\"a\":{}", 7);
	CHECK_EQ_INT(sl_json_parse(P, buf, 7, true, &root), -EINVAL);
	CHECK_EQ_INT(sl_json_parse(P, buf, 8, true, &root), 0);
	/* Unpadded parse of the same bytes. */
	CHECK_EQ_INT(sl_json_parse(P, buf, 7, false, &root), -EINVAL);
	memcpy(buf, "12", 2);
	CHECK_EQ_INT(sl_json_parse(P, buf, 1, false, &root), 0);
	CHECK(sl_json_get_int64(root, &i) && i == 1);
}

/* ---- numbers ------------------------------------------------------------- */

static bool parse_double_lit(const char *s, double *out)
{
	return sl_json_parse_double(s, strlen(s), out);
}

static void test_parse_double(void)
{
	double d;

	CHECK(parse_double_lit("0", &d) && d == 0.0 && !signbit(d));
	CHECK(parse_double_lit("-0", &d) && d == 0.0 && !signbit(d)); /* integer, as the parser */
	CHECK(parse_double_lit("-0.0", &d) && d == 0.0 && signbit(d));
	CHECK(parse_double_lit("3.140000104904175", &d) && d == 3.140000104904175);
	CHECK(parse_double_lit("1e2", &d) && d == 100.0);
	CHECK(parse_double_lit("1E-2", &d) && d == 0.01);
	CHECK(parse_double_lit("-12.5e+1", &d) && d == -125.0);
	CHECK(parse_double_lit("9007199254740993", &d) && d == 9007199254740992.0);
	CHECK(parse_double_lit("18446744073709551615", &d) && d == 18446744073709551616.0);
	CHECK(parse_double_lit("-9223372036854775808", &d) && d == -9223372036854775808.0);
	CHECK(parse_double_lit("1e-400", &d) && d == 0.0);
	CHECK(parse_double_lit("4.9406564584124654e-324", &d) && d == 4.9406564584124654e-324);
	CHECK(parse_double_lit("1.7976931348623157e308", &d) && d == 1.7976931348623157e308);
	CHECK(parse_double_lit("0.30000000000000004441", &d) && d == 0.30000000000000004);

	static const char *const bad[] = {"",
					  "-",
					  "+1",
					  "01",
					  "-01",
					  "1.",
					  ".5",
					  "1e",
					  "1e+",
					  " 1",
					  "1 ",
					  "0x10",
					  "NaN",
					  "inf",
					  "1.5x",
					  "--1",
					  "1..2",
					  "1e1.5",
					  "1e400",
					  "-1e400",
					  "18446744073709551616",
					  "-9223372036854775809",
					  "123456789012345678901234567890"};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad); i++) {
		d = 42.0;
		bool ok = sl_json_parse_double(bad[i], strlen(bad[i]), &d);
		if (ok)
			fprintf(stderr, "parse_double accepted [%s]\n", bad[i]);
		CHECK(!ok && d == 42.0);
	}
	CHECK(!sl_json_parse_double("12", 0, &d));
	CHECK(sl_json_parse_double("123", 2, &d) && d == 12.0); /* len, not NUL */

	/* Differential: random numbers via sl_json_parse_double, the parser and strtod. */
	char s[64];
	for (int round = 0; round < 20000; round++) {
		int len;
		/* Drawn up front: argument order of evaluation varies by compiler. */
		uint64_t r = next_rand(), r2 = next_rand(), r3 = next_rand(), r4 = next_rand();
		switch (round % 4) {
		case 0: /* integers of every size */
			len = snprintf(s, sizeof s, "%s%llu", r & 1 ? "-" : "",
				       (unsigned long long)(r2 >> (r3 % 64)));
			break;
		case 1: /* shortest doubles from random bits */
		{
			double x;
			memcpy(&x, &r, sizeof x);
			if (!isfinite(x))
				x = 1.5;
			len = snprintf(s, sizeof s, "%.17g", x);
			break;
		}
		case 2: /* long mantissas, wide exponents */
			len = snprintf(s, sizeof s, "%llu.%llue%d",
				       (unsigned long long)(r % 100000000000ull),
				       (unsigned long long)r2, (int)(r3 % 700) - 350);
			break;
		default: /* the hard halfway cases around 2^53 */
			len = snprintf(s, sizeof s, "%llu.5",
				       (unsigned long long)(9007199254740992ull + r4 % 1000));
			break;
		}
		struct sl_json_elem root;
		double via_api = 0, via_doc = 0;
		bool ok = sl_json_parse_double(s, (size_t)len, &via_api);
		int rc = sl_json_parse(P, s, (size_t)len, false, &root);
		CHECK_EQ_INT(ok, rc == 0);
		if (!ok || rc != 0)
			continue;
		CHECK(sl_json_get_double(root, &via_doc));
		if (memcmp(&via_api, &via_doc, sizeof via_api) != 0) {
			fprintf(stderr, "[%s]: parse_double %.17g, parser %.17g\n", s, via_api,
				via_doc);
			CHECK(!"parse_double agrees with the parser");
		}
		if (round % 4 != 0) {
			double want = strtod(s, NULL);
			CHECK(memcmp(&via_api, &want, sizeof want) == 0);
		}
	}
}

/* ---- extraction (On-Demand) ---------------------------------------------- */

static struct sl_json_parser *Q; /* re-parses extracted texts while P's document stays valid */

/* Compiles dotted[0..n) into an extractor (the strings must outlive only this call). */
static struct sl_json_extractor *extractor(const char *const *dotted, uint32_t n)
{
	struct sl_json_path paths[SL_JSON_EXTRACT_MAX];

	SL_ASSERT(n <= SL_JSON_EXTRACT_MAX);
	for (uint32_t k = 0; k < n; k++)
		CHECK_EQ_INT(sl_json_path_compile(dotted[k], &paths[k]), 0);
	struct sl_json_extractor *x = sl_json_extractor_new(paths, n);
	CHECK(x != NULL);
	return x;
}

/* Extracts dotted[0..n) from json[0..len) (unpadded) with P. */
static int extract_n(const char *json, size_t len, const char *const *dotted, uint32_t n,
		     struct sl_json_value *out)
{
	struct sl_json_extractor *x = extractor(dotted, n);
	int rc = sl_json_extract(P, x, json, len, false, out);

	if (rc != 0)
		for (uint32_t k = 0; k < n; k++)
			CHECK_EQ_INT(out[k].type, SL_JSON_MISSING);
	sl_json_extractor_free(x);
	return rc;
}

/* Extracts one path from a NUL-terminated document, which must succeed. */
static struct sl_json_value extract1(const char *json, const char *dotted)
{
	struct sl_json_value v;
	int rc = extract_n(json, strlen(json), &dotted, 1, &v);

	if (rc != 0)
		fprintf(stderr, "extract %s from [%s] failed: %s\n", dotted, json,
			sl_json_error(P));
	CHECK_EQ_INT(rc, 0);
	return v;
}

/* The rc of extracting one path from json[0..len), with the same rc padded. */
static int extract_rc(const char *json, size_t len, const char *dotted)
{
	struct sl_json_value v;
	char *padded = malloc(len + SL_JSON_PADDING);
	int rc = extract_n(json, len, &dotted, 1, &v), rc2;

	memcpy(padded, json, len);
	memset(padded + len, '}', SL_JSON_PADDING); /* the padding byte simdjson treats specially */
	struct sl_json_extractor *x = extractor(&dotted, 1);
	rc2 = sl_json_extract(P, x, padded, len, true, &v);
	CHECK_EQ_INT(rc2, rc);
	sl_json_extractor_free(x);
	free(padded);
	return rc;
}
#define EXTRACT_RC(lit, dotted) extract_rc((lit), sizeof(lit) - 1, (dotted))

/* v is of type t and its text (or unescaped string) is exactly want. */
static void check_value(struct sl_json_value v, enum sl_json_type t, const char *want,
			size_t want_len)
{
	CHECK_EQ_INT(v.type, t);
	CHECK_BYTES(v.s, v.s ? (long long)v.len : -1, want, want_len);
}
#define CHECK_VALUE(v, t, lit) check_value((v), (t), (lit), sizeof(lit) - 1)

static void check_x_int(struct sl_json_value v, int64_t want, const char *text)
{
	check_value(v, SL_JSON_INT, text, strlen(text));
	CHECK_EQ_INT(v.i, want);
	CHECK(v.f == (double)want);
}

static void check_x_double(struct sl_json_value v, double want, const char *text)
{
	check_value(v, SL_JSON_DOUBLE, text, strlen(text));
	CHECK(memcmp(&v.f, &want, sizeof want) == 0);
	CHECK_EQ_INT(v.i, 0);
}

static void check_missing(struct sl_json_value v)
{
	CHECK_EQ_INT(v.type, SL_JSON_MISSING);
	CHECK(v.s == NULL && v.len == 0 && v.i == 0 && v.f == 0 && !v.b);
}

/*
 * The extracted v agrees with what sl_json_get_path finds in the DOM root
 * (an element of P's document): same type (UINT as DOUBLE), same value, and
 * for containers the same minified JSON. Prints what differs.
 */
static bool agrees_with_dom(struct sl_json_elem root, const struct sl_json_path *path,
			    const struct sl_json_value *v, const char *what)
{
	static char a[1 << 16], b[1 << 16];
	struct sl_json_elem e, again;
	enum sl_json_type t;
	const char *s;
	size_t len;
	int64_t i;
	double d, text;
	bool bv, ok = true;

	if (!sl_json_get_path(root, path, &e)) {
		ok = v->type == SL_JSON_MISSING && v->s == NULL;
		goto out;
	}
	t = sl_json_type(e);
	ok = v->type == (t == SL_JSON_UINT ? SL_JSON_DOUBLE : t) && v->s != NULL;
	if (!ok)
		goto out;
	switch (t) {
	case SL_JSON_NULL:
		ok = v->len == 4 && memcmp(v->s, "null", 4) == 0;
		break;
	case SL_JSON_BOOL:
		ok = sl_json_get_bool(e, &bv) && bv == v->b && v->len == (bv ? 4u : 5u) &&
		     memcmp(v->s, bv ? "true" : "false", v->len) == 0;
		break;
	case SL_JSON_INT:
		ok = sl_json_get_int64(e, &i) && i == v->i && v->f == (double)i &&
		     sl_json_parse_double(v->s, v->len, &text) && text == (double)i;
		break;
	case SL_JSON_UINT:
	case SL_JSON_DOUBLE:
		ok = sl_json_get_double(e, &d) && memcmp(&d, &v->f, sizeof d) == 0 &&
		     sl_json_parse_double(v->s, v->len, &text) && memcmp(&text, &d, sizeof d) == 0;
		break;
	case SL_JSON_STRING:
		ok = sl_json_get_string(e, &s, &len) && len == v->len && memcmp(s, v->s, len) == 0;
		break;
	case SL_JSON_ARRAY:
	case SL_JSON_OBJECT: {
		ssize_t na = sl_json_minify(e, a, sizeof a), nb;
		ok = na > 0 && sl_json_parse(Q, v->s, v->len, false, &again) == 0 &&
		     (nb = sl_json_minify(again, b, sizeof b)) == na &&
		     memcmp(a, b, (size_t)na) == 0;
		break;
	}
	case SL_JSON_MISSING:
		ok = false;
		break;
	}
out:
	if (!ok)
		fprintf(stderr, "%s: extraction disagrees with the DOM (type %d, [%.*s])\n", what,
			v->type, v->s ? (int)SL_MIN(v->len, 200) : 0, v->s ? v->s : "");
	return ok;
}

static void test_extract_values(void)
{
	static const char *const paths[] = {"after.customer_id",
					    "after.name",
					    "op",
					    "ts_ms",
					    "before",
					    "after.tags",
					    "after.addr",
					    "after.addr.city",
					    "after.score",
					    "after.active",
					    "after.nope",
					    "nope.customer_id",
					    "before.x",
					    "op.x",
					    "after.tags.0",
					    "after.addr.city.x",
					    "a.b",
					    "op",
					    "after.addr.zip",
					    "after"};
	struct sl_json_value v[SL_ARRAY_LEN(paths)];
	size_t len = strlen(DEBEZIUM);

	CHECK_EQ_INT(extract_n(DEBEZIUM, len, paths, SL_ARRAY_LEN(paths), v), 0);
	check_x_int(v[0], 1001, "1001");
	CHECK_VALUE(v[1], SL_JSON_STRING, "\xe5\xbc\xa0\xe4\xb8\x89"); /* from \u escapes */
	CHECK_VALUE(v[2], SL_JSON_STRING, "u");
	check_x_int(v[3], 1700000000000ll, "1700000000000");
	CHECK_VALUE(v[4], SL_JSON_NULL, "null");
	CHECK_VALUE(v[5], SL_JSON_ARRAY, "[\"a\",\"b\"]");
	CHECK_VALUE(v[6], SL_JSON_OBJECT, "{\"city\":\"Hangzhou\",\"zip\":\"310000\"}");
	CHECK_VALUE(v[7], SL_JSON_STRING, "Hangzhou");
	check_x_double(v[8], 98.5, "98.5");
	CHECK_VALUE(v[9], SL_JSON_BOOL, "true");
	CHECK(v[9].b);
	for (size_t k = 10; k <= 16; k++)
		check_missing(v[k]);
	CHECK_VALUE(v[17], SL_JSON_STRING, "u"); /* a repeated path */
	CHECK_VALUE(v[18], SL_JSON_STRING, "310000");
	/* "after" and paths inside it, at once. */
	CHECK_VALUE(v[19], SL_JSON_OBJECT,
		    "{\"customer_id\":1001,\"name\":\"\\u5f20\\u4e09\",\"tags\":[\"a\",\"b\"],"
		    "\"score\":98.5,\"active\":true,\"addr\":{\"city\":\"Hangzhou\",\"zip\":"
		    "\"310000\"}}");
	CHECK(sl_json_error(P)[0] == '\0');

	/* The same through the DOM, path by path. */
	struct sl_json_elem root = doc(DEBEZIUM);
	CHECK_EQ_INT(extract_n(DEBEZIUM, len, paths, SL_ARRAY_LEN(paths), v), 0);
	for (size_t k = 0; k < SL_ARRAY_LEN(paths); k++) {
		struct sl_json_path p;
		CHECK_EQ_INT(sl_json_path_compile(paths[k], &p), 0);
		CHECK(agrees_with_dom(root, &p, &v[k], paths[k]));
	}

	/* The root itself: a path with no segments; whitespace around it is not part of it. */
	struct sl_json_path none = {.n = 0};
	struct sl_json_extractor *x = sl_json_extractor_new(&none, 1);
	CHECK(x != NULL);
	CHECK_EQ_INT(sl_json_extract(P, x, " \n{ \"a\" : [ 1 ] }\t", 18, false, v), 0);
	CHECK_VALUE(v[0], SL_JSON_OBJECT, "{ \"a\" : [ 1 ] }");
	sl_json_extractor_free(x);

	/* Every type, with the text as written, without the whitespace around it. */
	static const char TYPES[] =
	    "{ \"n\" : null , \"t\":true,\"f\" :false ,\"i\": -42 ,\"z\":-0,\"big\":"
	    "9223372036854775807,\"min\":-9223372036854775808,\"u\":9223372036854775808,"
	    "\"umax\":18446744073709551615 , \"d\":-1.5E-3,\"e\":1e2,\"nz\":-0.0,\"tiny\":1e-400,"
	    "\"s\":\"\",\"a\":[ 1 , [ ] , {} ] ,\"o\":{ \"x\" : { } }, \"ea\":[],\"eo\":{ }\n}";
	static const char *const tp[] = {"n", "t", "f",	 "i",	 "z", "big", "min", "u",  "umax",
					 "d", "e", "nz", "tiny", "s", "a",   "o",   "ea", "eo"};
	struct sl_json_value tv[SL_ARRAY_LEN(tp)];
	CHECK_EQ_INT(extract_n(TYPES, sizeof TYPES - 1, tp, SL_ARRAY_LEN(tp), tv), 0);
	CHECK_VALUE(tv[0], SL_JSON_NULL, "null");
	CHECK_VALUE(tv[1], SL_JSON_BOOL, "true");
	CHECK(tv[1].b);
	CHECK_VALUE(tv[2], SL_JSON_BOOL, "false");
	CHECK(!tv[2].b);
	check_x_int(tv[3], -42, "-42");
	check_x_int(tv[4], 0, "-0"); /* an integer, as in the DOM */
	check_x_int(tv[5], INT64_MAX, "9223372036854775807");
	check_x_int(tv[6], INT64_MIN, "-9223372036854775808");
	check_x_double(tv[7], 9223372036854775808.0, "9223372036854775808");
	check_x_double(tv[8], 18446744073709551615.0, "18446744073709551615");
	check_x_double(tv[9], -1.5e-3, "-1.5E-3");
	check_x_double(tv[10], 100.0, "1e2");
	check_x_double(tv[11], -0.0, "-0.0");
	CHECK(signbit(tv[11].f));
	check_x_double(tv[12], 0.0, "1e-400");
	CHECK_VALUE(tv[13], SL_JSON_STRING, "");
	CHECK(tv[13].s != NULL);
	CHECK_VALUE(tv[14], SL_JSON_ARRAY, "[ 1 , [ ] , {} ]");
	CHECK_VALUE(tv[15], SL_JSON_OBJECT, "{ \"x\" : { } }");
	CHECK_VALUE(tv[16], SL_JSON_ARRAY, "[]");
	CHECK_VALUE(tv[17], SL_JSON_OBJECT, "{ }");
	root = doc(TYPES);
	for (size_t k = 0; k < SL_ARRAY_LEN(tp); k++) {
		struct sl_json_path p;
		CHECK_EQ_INT(sl_json_path_compile(tp[k], &p), 0);
		CHECK(agrees_with_dom(root, &p, &tv[k], tp[k]));
	}

	/* Strings: escapes of every kind, unicode, embedded NUL, raw UTF-8, long runs. */
	CHECK_VALUE(extract1("{\"s\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}", "s"), SL_JSON_STRING,
		    "a\"b\\c/d\b\f\n\r\t");
	CHECK_VALUE(extract1("{\"s\":\"\\u00e9\\u4E2D\\ud83d\\ude00\"}", "s"), SL_JSON_STRING,
		    "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80");
	CHECK_VALUE(extract1("{\"s\":\"x\\u0000y\"}", "s"), SL_JSON_STRING, "x\0y");
	CHECK_VALUE(extract1("{\"s\":\"\xe5\xbc\xa0\xe4\xb8\x89 \xf0\x9f\x98\x80\"}", "s"),
		    SL_JSON_STRING, "\xe5\xbc\xa0\xe4\xb8\x89 \xf0\x9f\x98\x80");
	CHECK_VALUE(extract1("{\"s\":\"0123456789abcdef0123456789\\n\"}", "s"), SL_JSON_STRING,
		    "0123456789abcdef0123456789\n");
	CHECK_VALUE(extract1("{\"s\":\"0123456789abcdef0123456789\"}", "s"), SL_JSON_STRING,
		    "0123456789abcdef0123456789");
	CHECK_VALUE(extract1("{\"s\":\"\xc3\xa9\\\"\"}", "s"), SL_JSON_STRING, "\xc3\xa9\"");
	/* Keys are compared unescaped, whichever side has the escapes. */
	check_x_int(extract1("{\"a\\u0062\":3}", "ab"), 3, "3");
	check_x_int(extract1("{\"x\":{\"\\u00e9t\\u00e9\":5}}", "x.\xc3\xa9t\xc3\xa9"), 5, "5");
	check_x_int(extract1("{\"a\\\"b\":7}", "a\"b"), 7, "7");
	check_missing(extract1("{\"ab\":3}", "a"));
	check_missing(extract1("{\"a\":3}", "ab"));
	check_missing(extract1("{\"A\":3}", "a"));
}

/*
 * Numbers: as the DOM, bit for bit, over the shapes of test_parse_double
 * (random integers, shortest doubles, long mantissas, halfway cases).
 */
static void test_extract_numbers(void)
{
	static const char *const a = "a";
	struct sl_json_extractor *x = extractor(&a, 1);
	struct sl_json_value v;
	struct sl_json_elem root;
	struct sl_json_path p;
	char s[96];

	/* More than 19 significant digits: simdjson 3.0.1's get_number() gives 0 for these. */
	check_x_double(extract1("{\"a\":1844670.073709551615}", "a"), 1844670.073709551615,
		       "1844670.073709551615");
	check_x_double(extract1("{\"a\":1000000000.000000001}", "a"), 1e9, "1000000000.000000001");
	check_x_double(extract1("{\"a\":-123456789012345678.5}", "a"), -123456789012345678.5,
		       "-123456789012345678.5");
	check_x_double(extract1("{\"a\":100000000000000000000e-5}", "a"), 1e15,
		       "100000000000000000000e-5");
	static const char *const bad[] = {"-01",
					  "00",
					  "1.5x",
					  "1e5x",
					  "--1",
					  "-x",
					  "1.0.0",
					  "1ee2",
					  "0x10",
					  "-",
					  "1e+",
					  "2.",
					  "123456789012345678901234567890"};
	for (size_t k = 0; k < SL_ARRAY_LEN(bad); k++) {
		int n = snprintf(s, sizeof s, "{\"a\":%s}", bad[k]);
		CHECK_EQ_INT(sl_json_extract(P, x, s, (size_t)n, false, &v), -EINVAL);
		CHECK_EQ_INT(parse_rc(s, (size_t)n), -EINVAL);
	}

	CHECK_EQ_INT(sl_json_path_compile("a", &p), 0);
	for (int round = 0; round < 20000; round++) {
		uint64_t r = next_rand(), r2 = next_rand(), r3 = next_rand(), r4 = next_rand();
		int n = 0;
		switch (round % 4) {
		case 0:
			n = snprintf(s, sizeof s, "{\"a\":%s%llu}", r & 1 ? "-" : "",
				     (unsigned long long)(r2 >> (r3 % 64)));
			break;
		case 1: {
			double d;
			memcpy(&d, &r, sizeof d);
			if (!isfinite(d))
				d = 1.5;
			n = snprintf(s, sizeof s, "{\"a\":%.17g}", d);
			break;
		}
		case 2:
			n = snprintf(s, sizeof s, "{\"a\":%llu.%llue%d}",
				     (unsigned long long)(r % 100000000000ull),
				     (unsigned long long)r2, (int)(r3 % 700) - 350);
			break;
		default:
			n = snprintf(s, sizeof s, "{\"a\":%llu.5}",
				     (unsigned long long)(9007199254740992ull + r4 % 1000));
			break;
		}
		int drc = sl_json_parse(P, s, (size_t)n, false, &root);
		int xrc = sl_json_extract(P, x, s, (size_t)n, false, &v);
		CHECK_EQ_INT(xrc, drc);
		if (drc == 0 && xrc == 0 && !agrees_with_dom(root, &p, &v, s))
			CHECK(!"extracted numbers agree with the DOM");
	}
	sl_json_extractor_free(x);
}

static void test_extract_structure(void)
{
	struct sl_json_value v[4];

	/* Duplicate keys: the first wins, also for the prefixes of paths (as sl_json_get_path). */
	check_x_int(extract1("{\"k\":1,\"k\":2}", "k"), 1, "1");
	check_x_int(extract1("{\"a\":{\"x\":1},\"a\":{\"x\":2,\"y\":3}}", "a.x"), 1, "1");
	check_missing(extract1("{\"a\":{\"x\":1},\"a\":{\"x\":2,\"y\":3}}", "a.y"));
	check_missing(extract1("{\"a\":1,\"a\":{\"b\":2}}", "a.b"));
	CHECK_VALUE(extract1("{\"a\":{\"k\":1,\"k\":2},\"a\":[]}", "a"), SL_JSON_OBJECT,
		    "{\"k\":1,\"k\":2}");
	/* An escaped duplicate is a duplicate. */
	check_x_int(extract1("{\"k\":1,\"\\u006b\":2}", "k"), 1, "1");
	check_x_int(extract1("{\"\\u006b\":1,\"k\":2}", "k"), 1, "1");

	/* Paths through non-objects are missing; the containers are still checked if wanted. */
	static const char *const pp[] = {"a.b", "a", "c.d", "c"};
	CHECK_EQ_INT(extract_n("{\"a\":[{\"b\":1}],\"c\":\"d\"}", 23, pp, 4, v), 0);
	check_missing(v[0]);
	CHECK_VALUE(v[1], SL_JSON_ARRAY, "[{\"b\":1}]");
	check_missing(v[2]);
	CHECK_VALUE(v[3], SL_JSON_STRING, "d");

	/* A path that is a prefix of another, in both orders, and a deep one. */
	static const char *const deep[] = {"a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", "a.b", "a.b.c"};
	static const char DEEP[] =
	    "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":"
	    "{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":\"leaf\"}}}}}}}}"
	    "}}}}}}}}";
	CHECK_EQ_INT(extract_n(DEEP, sizeof DEEP - 1, deep, 3, v), 0);
	CHECK_VALUE(v[0], SL_JSON_STRING, "leaf");
	/* a.b is DEEP without {"a":{"b": (10 bytes) and the last two braces. */
	check_value(v[1], SL_JSON_OBJECT, DEEP + 10, sizeof DEEP - 1 - 12);
	check_value(v[2], SL_JSON_OBJECT, DEEP + 15, sizeof DEEP - 1 - 18);

	/* An empty key (no dotted path can say it). */
	struct sl_json_path empty = {.n = 2, .seg = {{"a", 1}, {"", 0}}};
	struct sl_json_extractor *x = sl_json_extractor_new(&empty, 1);
	CHECK(x != NULL);
	CHECK_EQ_INT(sl_json_extract(P, x, "{\"\":4,\"a\":{\"\":5}}", 17, false, v), 0);
	check_x_int(v[0], 5, "5");
	sl_json_extractor_free(x);

	/* Extractors: up to SL_JSON_EXTRACT_MAX paths, none, the same path many times. */
	struct sl_json_path many[SL_JSON_EXTRACT_MAX + 1];
	struct sl_json_value mv[SL_JSON_EXTRACT_MAX];
	static char names[SL_JSON_EXTRACT_MAX][40];
	for (unsigned k = 0; k <= SL_JSON_EXTRACT_MAX; k++) {
		snprintf(names[k % SL_JSON_EXTRACT_MAX], sizeof names[0],
			 "p%u.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o", k % SL_JSON_EXTRACT_MAX);
		CHECK_EQ_INT(sl_json_path_compile(names[k % SL_JSON_EXTRACT_MAX], &many[k]), 0);
	}
	CHECK(sl_json_extractor_new(many, SL_JSON_EXTRACT_MAX + 1) == NULL);
	x = sl_json_extractor_new(many, SL_JSON_EXTRACT_MAX); /* the most trie nodes there can be */
	CHECK(x != NULL);
	CHECK_EQ_INT(sl_json_extract(P, x, "{\"p7\":{\"a\":1}}", 14, false, mv), 0);
	for (unsigned k = 0; k < SL_JSON_EXTRACT_MAX; k++)
		check_missing(mv[k]);
	sl_json_extractor_free(x);
	for (unsigned k = 0; k < SL_JSON_EXTRACT_MAX; k++)
		CHECK_EQ_INT(sl_json_path_compile("p.q", &many[k]), 0);
	x = sl_json_extractor_new(many, SL_JSON_EXTRACT_MAX);
	CHECK_EQ_INT(sl_json_extract(P, x, "{\"p\":{\"q\":\"r\"}}", 15, false, mv), 0);
	for (unsigned k = 0; k < SL_JSON_EXTRACT_MAX; k++)
		CHECK_VALUE(mv[k], SL_JSON_STRING, "r");
	sl_json_extractor_free(x);
	x = sl_json_extractor_new(NULL, 0);
	CHECK(x != NULL);
	CHECK_EQ_INT(sl_json_extract(P, x, "{\"a\":1}", 7, false, NULL), 0);
	CHECK_EQ_INT(sl_json_extract(P, x, "[1]", 3, false, NULL), -EINVAL);
	sl_json_extractor_free(x);
	sl_json_extractor_free(NULL);

	/* The dotted strings and paths may go once the extractor is made. */
	char *dotted = strdup("after.name");
	struct sl_json_path dp;
	CHECK_EQ_INT(sl_json_path_compile(dotted, &dp), 0);
	x = sl_json_extractor_new(&dp, 1);
	memset(dotted, 'z', strlen(dotted));
	free(dotted);
	memset(&dp, 0, sizeof dp);
	CHECK_EQ_INT(sl_json_extract(P, x, DEBEZIUM, strlen(DEBEZIUM), false, v), 0);
	CHECK_VALUE(v[0], SL_JSON_STRING, "\xe5\xbc\xa0\xe4\xb8\x89");
	sl_json_extractor_free(x);
}

static void test_extract_invalid(void)
{
	/* Not an object. */
	static const char *const not_objects[] = {"[1]",  "1",	"\"s\"", "null",
						  "true", "[]", " [ ] "};
	for (size_t k = 0; k < SL_ARRAY_LEN(not_objects); k++) {
		CHECK_EQ_INT(extract_rc(not_objects[k], strlen(not_objects[k]), "a"), -EINVAL);
		CHECK(strstr(sl_json_error(P), "not an object") != NULL);
	}
	/* Empty, truncated, trailing content. */
	CHECK_EQ_INT(EXTRACT_RC("", "a"), -EINVAL);
	CHECK_EQ_INT(EXTRACT_RC(" \n\t ", "a"), -EINVAL);
	static const char *const broken[] = {"{",
					     "{\"a\"",
					     "{\"a\":",
					     "{\"a\":1",
					     "{\"a\":1,",
					     "{\"a\":{\"b\":1}",
					     "{\"a\":\"x",
					     "{\"a\":\"x}",
					     "{\"a\":[1,2}",
					     "{\"a\":[1,2]",
					     "{\"a\":1}}",
					     "{\"a\":1} x",
					     "{\"a\":1}]",
					     "{} {}",
					     "{}{}",
					     "{\"a\":1},",
					     "{\"a\":1}\"",
					     "{\"a\":{}}}",
					     "{\"a\":[{}]]}",
					     "{\"x\":[{\"a\":1}}"};
	for (size_t k = 0; k < SL_ARRAY_LEN(broken); k++) {
		/* Whether or not the path is there. */
		int rc = extract_rc(broken[k], strlen(broken[k]), "a"),
		    rc2 = extract_rc(broken[k], strlen(broken[k]), "zz");
		if (rc != -EINVAL || rc2 != -EINVAL)
			fprintf(stderr, "accepted broken [%s]: %d %d\n", broken[k], rc, rc2);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK_EQ_INT(rc2, -EINVAL);
		CHECK(sl_json_error(P)[0] != '\0');
	}
	CHECK_EQ_INT(extract_rc("{\"a\":1}\0", 8, "a"), -EINVAL); /* a NUL is trailing garbage */
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1}  x", "a"), -EINVAL);
	CHECK(strstr(sl_json_error(P), "(at byte 9)") != NULL);
	CHECK_EQ_INT(EXTRACT_RC(" {\"a\":1} \n", "a"), 0);

	/* Invalid anywhere, visited or not: stage 1 checks the whole input. */
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1,\"b\":\"\xff\"}", "a"), -EINVAL);
	CHECK(strstr(sl_json_error(P), "(at byte 12)") != NULL);
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1,\"b\":[\"\xc3\"]}", "a"), -EINVAL);
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1,\"b\":{\"c\":\"hunter2\x01\"}}", "a"), -EINVAL);
	CHECK(strstr(sl_json_error(P), "(at byte 24)") != NULL);
	CHECK(strstr(sl_json_error(P), "hunter2") == NULL);
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1,\"b\":[\"x]}", "a"), -EINVAL); /* unclosed string */

	/* Invalid in the values visited: as strict as the DOM. */
	static const struct {
		const char *json, *path;
	} bad[] = {
	    {"{\"a\":tru}", "a"},
	    {"{\"a\":nul}", "a"},
	    {"{\"a\":nullx}", "a"},
	    {"{\"a\":falsey}", "a"},
	    {"{\"a\":01}", "a"},
	    {"{\"a\":1.}", "a"},
	    {"{\"a\":-}", "a"},
	    {"{\"a\":.5}", "a"},
	    {"{\"a\":1e}", "a"},
	    {"{\"a\":+1}", "a"},
	    {"{\"a\":1x}", "a"},
	    {"{\"a\":1e400}", "a"},
	    {"{\"a\":-1e400}", "a"},
	    {"{\"a\":18446744073709551616}", "a"},
	    {"{\"a\":-9223372036854775809}", "a"},
	    {"{\"a\":\"\\x\"}", "a"},
	    {"{\"a\":\"\\ud800\"}", "a"},
	    {"{\"a\":\"\\u12\"}", "a"},
	    {"{\"a\":x}", "a"},
	    {"{\"a\":}", "a"},
	    {"{\"a\":,\"b\":1}", "b"},
	    {"{\"a\":[1 2]}", "a"},
	    {"{\"a\":[1,]}", "a"},
	    {"{\"a\":[,1]}", "a"},
	    {"{\"a\":[}", "a"},
	    {"{\"a\":[tru]}", "a"},
	    {"{\"a\":{\"b\":01}}", "a"},
	    {"{\"a\":{1:2}}", "a"},
	    {"{\"a\":{\"b\" 2}}", "a"},
	    {"{\"a\":{\"b\":}}", "a"},
	    {"{\"a\":{\"b\":1,}}", "a"},
	    {"{\"a\":{\"\\x\":1}}", "a"},
	    {"{\"a\":[1]]}", "b"},
	    {"{\"a\":{\"b\":1 \"c\":2}}", "a.c"},
	    {"{\"a\":{\"b\":[1 2],\"c\":1}}", "a.b"},
	    {"{\"a\":{\"\\q\":1}}", "a.b"},
	    {"{\"\\q\":1}", "b"},
	    {"{\"a\":1 \"b\":2}", "b"},
	    {"{\"a\" 1}", "b"},
	    {"{\"a\":1,,\"b\":2}", "b"},
	    {"{1:2}", "b"},
	    {"{\"a\":1,}", "b"},
	    {"{,}", "b"},
	    {"{\"a\":[1}", "a"},
	};
	for (size_t k = 0; k < SL_ARRAY_LEN(bad); k++) {
		int rc = extract_rc(bad[k].json, strlen(bad[k].json), bad[k].path);
		if (rc != -EINVAL)
			fprintf(stderr, "extract %s accepted [%s]\n", bad[k].path, bad[k].json);
		CHECK_EQ_INT(rc, -EINVAL);
		/* The DOM rejects all of them too. */
		CHECK_EQ_INT(parse_rc(bad[k].json, strlen(bad[k].json)), -EINVAL);
	}
	/* The offset points at the bad value. */
	CHECK_EQ_INT(EXTRACT_RC("{\"a\":1, \"b\": 01}", "b"), -EINVAL);
	CHECK(strstr(sl_json_error(P), "(at byte 13)") != NULL);

	/*
	 * Not visited, not checked (documented in io/json.h): the DOM rejects
	 * these, extraction of other paths accepts them.
	 */
	static const char *const lazy[] = {
	    "{\"a\":[1 2],\"b\":tru,\"c\":{\"d\":},\"e\":\"\\x\",\"x\":1}",
	    "{\"a\":01,\"x\":1}",
	    "{\"a\":1e400,\"x\":1}",
	    "{\"a\":{1:2},\"x\":1}",
	    "{\"a\":[}, \"x\":1}",
	    "{\"a\":bare,\"x\":1}",
	    "{\"a\":\"\\ud800\",\"x\":1}",
	    "{\"y\":{\"a\":[1,,]},\"x\":1}",
	    "{\"a\":\"x\":1},\"x\":1}", /* "a" swallows "x":1} and the root goes on */
	};
	for (size_t k = 0; k < SL_ARRAY_LEN(lazy); k++) {
		struct sl_json_value v = extract1(lazy[k], "x");
		check_x_int(v, 1, "1");
		CHECK_EQ_INT(parse_rc(lazy[k], strlen(lazy[k])), -EINVAL);
		/* The same with a '}' after the input (which makes simdjson check balance). */
		CHECK_EQ_INT(extract_rc(lazy[k], strlen(lazy[k]), "x"), 0);
		/* Asking for the bad value catches it. */
		CHECK_EQ_INT(extract_rc(lazy[k], strlen(lazy[k]), lazy[k][2] == 'y' ? "y" : "a"),
			     -EINVAL);
	}
}

static void test_extract_limits(void)
{
	static char buf[8192];
	struct sl_json_value v;
	size_t len;

	/* The nesting limit, for the values visited: as the DOM. */
	len = nest(buf, SL_JSON_MAX_DEPTH, true, "1");
	CHECK_EQ_INT(extract_rc(buf, len, "a"), 0);
	CHECK_EQ_INT(extract_rc(buf, len, "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"), 0);
	len = nest(buf, SL_JSON_MAX_DEPTH, true, "[[]]");
	CHECK_EQ_INT(extract_rc(buf, len, "a"), -ELOOP);
	CHECK(strstr(sl_json_error(P), "deeper than 64") != NULL);
	CHECK(strstr(sl_json_error(P), "(at byte 320)") != NULL); /* the array holding [] */
	CHECK_EQ_INT(extract_rc(buf, len, "b"), 0);		  /* not visited: not checked */
	len = nest(buf, SL_JSON_MAX_DEPTH, true, "[{}]");
	CHECK_EQ_INT(extract_rc(buf, len, "a"), -ELOOP);
	len = nest(buf, SL_JSON_MAX_DEPTH, true, "[]");
	CHECK_EQ_INT(extract_rc(buf, len, "a"), 0);
	len = nest(buf, SL_JSON_MAX_DEPTH, true, "{}");
	CHECK_EQ_INT(extract_rc(buf, len, "a"), 0);

	struct sl_json_parser *p1 = sl_json_parser_new(64, 1);
	const char *one = "a";
	struct sl_json_extractor *xa = extractor(&one, 1);
	const char *two = "a.b";
	struct sl_json_extractor *xab = extractor(&two, 1);
	CHECK(p1 != NULL);
	CHECK_EQ_INT(sl_json_extract(p1, xa, "{\"a\":1}", 7, false, &v), 0);
	CHECK_EQ_INT(sl_json_extract(p1, xa, "{\"a\":{}}", 8, false, &v), 0);
	CHECK_EQ_INT(sl_json_extract(p1, xa, "{\"a\":[ ]}", 9, false, &v), 0);
	CHECK_EQ_INT(sl_json_extract(p1, xa, "{\"a\":[1]}", 9, false, &v), -ELOOP);
	CHECK(strstr(sl_json_error(p1), "(at byte 5)") != NULL);
	CHECK_EQ_INT(sl_json_extract(p1, xab, "{\"a\":{\"b\":1}}", 13, false, &v), -ELOOP);
	CHECK_EQ_INT(sl_json_extract(p1, xab, "{\"a\":{}}", 8, false, &v), 0);
	CHECK_EQ_INT(sl_json_extract(p1, xab, "{\"a\":[[1]]}", 11, false, &v), 0); /* skipped */
	CHECK_EQ_INT(sl_json_extract(p1, xab, "{\"c\":{\"b\":1}}", 13, false, &v), 0);

	/* The size limit: 64 bytes pass, 65 do not. */
	memset(buf, '7', 65);
	buf[0] = '{';
	memcpy(buf + 1, "\"a\":\"", 5);
	memcpy(buf + 62, "\"}", 2);
	CHECK_EQ_INT(sl_json_extract(p1, xa, buf, 64, false, &v), 0);
	check_value(v, SL_JSON_STRING, buf + 6, 56);
	memcpy(buf + 62, "7\"}", 3);
	CHECK_EQ_INT(sl_json_extract(p1, xa, buf, 65, false, &v), -EMSGSIZE);
	CHECK_EQ_INT(sl_json_extract(p1, xa, buf, 65, true, &v), -EMSGSIZE);
	CHECK(strstr(sl_json_error(p1), "65") != NULL);
	CHECK_EQ_INT(v.type, SL_JSON_MISSING);
	sl_json_parser_free(p1);
	sl_json_extractor_free(xa);
	sl_json_extractor_free(xab);
}

/* Unpadded inputs are copied; padded ones read nothing meaningful past len. */
static void test_extract_padding(void)
{
	static const char *const paths[] = {"after.name", "after.addr", "op", "ts_ms", "after"};
	struct sl_json_extractor *x = extractor(paths, SL_ARRAY_LEN(paths));
	struct sl_json_value want[SL_ARRAY_LEN(paths)], got[SL_ARRAY_LEN(paths)];
	size_t len = strlen(DEBEZIUM);
	char *exact = malloc(len), *padded = malloc(len + SL_JSON_PADDING);
	static const char fills[] = "}],\"{[: \n0tx\\";

	static char texts[SL_ARRAY_LEN(paths)][256]; /* want[k].s, kept past the next extraction */

	memcpy(exact, DEBEZIUM, len); /* exactly sized: ASan sees any over-read */
	CHECK_EQ_INT(sl_json_extract(P, x, exact, len, false, want), 0);
	for (size_t k = 0; k < SL_ARRAY_LEN(paths); k++) {
		/* Outputs of an unpadded input point into the parser, not into exact. */
		CHECK(want[k].s != NULL && (want[k].s < exact || want[k].s >= exact + len));
		CHECK(want[k].len <= sizeof texts[k]);
		memcpy(texts[k], want[k].s, SL_MIN(want[k].len, sizeof texts[k]));
		want[k].s = texts[k];
	}
	memcpy(padded, DEBEZIUM, len);
	for (size_t f = 0; f < sizeof fills - 1; f++) {
		memset(padded + len, fills[f], SL_JSON_PADDING);
		CHECK_EQ_INT(sl_json_extract(P, x, padded, len, true, got), 0);
		for (size_t k = 0; k < SL_ARRAY_LEN(paths); k++) {
			CHECK_EQ_INT(got[k].type, want[k].type);
			CHECK_BYTES(got[k].s, (long long)got[k].len, want[k].s, want[k].len);
		}
		/* Zero-copy: raw texts point into the padded input (copied if a '}' follows). */
		if (fills[f] != '}')
			CHECK(got[1].s >= padded && got[1].s < padded + len);
		/* Every truncation of it fails, whatever the padding. */
		for (size_t cut = 0; cut < len; cut++) {
			int rc = sl_json_extract(P, x, padded, cut, true, got);
			if (rc != -EINVAL)
				fprintf(stderr, "truncated at %zu, padding '%c': %d\n", cut,
					fills[f], rc);
			CHECK_EQ_INT(rc, -EINVAL);
		}
	}
	free(exact);
	free(padded);
	sl_json_extractor_free(x);
}

/*
 * Extraction agrees with the DOM on the generator's change events: every
 * field, the row images and the whole record, line by line. Needs the
 * sluice binary (built by meson); skipped without it.
 */
static void test_extract_generated(void)
{
	static const char *const paths[] = {"after.customer_id",
					    "after.name",
					    "after.address",
					    "after.phone",
					    "after.id_number",
					    "after.updated_time",
					    "before.customer_id",
					    "before.name",
					    "before.phone",
					    "op",
					    "ts_ms",
					    "transaction",
					    "source.ts_ms",
					    "source.snapshot",
					    "source.pos",
					    "source.version",
					    "after",
					    "before",
					    "source",
					    "after.nope",
					    "nope"};
	enum { N = SL_ARRAY_LEN(paths) };
	/* $SLUICE (as the integration tests get it), else the build dir from the source or itself.
	 */
	static const char *const bins[] = {"./build/sluice", "./sluice", "../sluice"};
	const char *bin = getenv("SLUICE");
	char tmp[] = "/tmp/test_json_genXXXXXX", cmd[512];
	struct sl_json_path cp[N];
	struct sl_json_value v[N];
	struct sl_json_elem root;
	uint64_t n_lines = 0, n_bad = 0, n_null = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	FILE *f;
	int fd;

	for (size_t k = 0; k < SL_ARRAY_LEN(bins) && !(bin && access(bin, X_OK) == 0); k++)
		bin = bins[k];
	if (access(bin, X_OK) != 0) {
		fprintf(stderr, "test_json: generator differential skipped: no sluice binary "
				"(set SLUICE to its path)\n");
		return;
	}
	fd = mkstemp(tmp);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	close(fd);
	snprintf(cmd, sizeof cmd,
		 "%s gen customer-cdc --records 20000 --keys 1000 --bad-ratio 0.2 --output %s", bin,
		 tmp);
	CHECK_EQ_INT(system(cmd), 0);
	struct sl_json_extractor *x = extractor(paths, N);
	for (size_t k = 0; k < N; k++)
		CHECK_EQ_INT(sl_json_path_compile(paths[k], &cp[k]), 0);
	f = fopen(tmp, "r");
	CHECK(f != NULL);
	while (f && (got = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)got;
		if (line[len - 1] == '\n')
			len--;
		n_lines++;
		/* The DOM document stays valid through the extraction (unpadded: it copies). */
		int drc = sl_json_parse(P, line, len, false, &root);
		int xrc = sl_json_extract(P, x, line, len, false, v);
		CHECK_EQ_INT(xrc, drc);
		if (drc != 0 || xrc != 0)
			continue;
		for (size_t k = 0; k < N; k++) {
			if (!agrees_with_dom(root, &cp[k], &v[k], paths[k])) {
				n_bad++;
				CHECK(!"extraction agrees with the DOM on generated lines");
			}
		}
		for (size_t k = 1; k <= 4; k++)
			n_null += v[k].type == SL_JSON_NULL;
	}
	CHECK_EQ_INT(n_lines, 20000);
	CHECK_EQ_INT(n_bad, 0);
	CHECK(n_null > 0); /* --bad-ratio did put nulls in the row images */
	free(line);
	if (f)
		fclose(f);
	unlink(tmp);
	sl_json_extractor_free(x);
}

/* ---- benchmark helper and allocation ------------------------------------- */

static void test_bench_lines(void)
{
	static char buf[256];
	uint64_t n = 99;

	strcpy(buf, "{\"a\":1}\n[1,2]\n\n\"x\"\n  7  \n");
	CHECK_EQ_INT(sl_json_bench_parse_lines(buf, strlen(buf), &n), 0);
	CHECK_EQ_INT(n, 4);
	strcpy(buf, "{\"a\":1}\n[1,2]"); /* no final newline */
	CHECK_EQ_INT(sl_json_bench_parse_lines(buf, strlen(buf), &n), 0);
	CHECK_EQ_INT(n, 2);
	strcpy(buf, "{\"a\":1}\n[1,\n3\n");
	CHECK_EQ_INT(sl_json_bench_parse_lines(buf, strlen(buf), &n), -EINVAL);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(sl_json_bench_parse_lines(buf, 0, &n), 0);
	CHECK_EQ_INT(n, 0);
}

static void *volatile probe; /* volatile: the probe allocation must not be optimised away */

/*
 * Parsing and everything that reads the document allocate nothing, by
 * glibc's counters. Skipped when malloc is not glibc's (mimalloc overriding
 * it, a sanitizer): a probe allocation tells.
 */
static void test_no_allocation(void)
{
	static char out[8192];
	struct sl_json_elem root, v;
	struct sl_json_iter it;
	struct sl_json_path p;
	const char *key;
	size_t key_len;
	double d;
	size_t len = strlen(DEBEZIUM);
	char *padded = malloc(len + SL_JSON_PADDING);
	struct mallinfo2 before = mallinfo2(), after;

	probe = malloc(4000);
	after = mallinfo2();
	free(probe);
	if (after.uordblks == before.uordblks) {
		fprintf(stderr, "test_json: no-allocation check skipped: malloc is not glibc's\n");
		free(padded);
		return;
	}
	memcpy(padded, DEBEZIUM, len);
	CHECK_EQ_INT(sl_json_path_compile("after.addr.city", &p), 0);
	static const char *const xp[] = {"after.customer_id", "after.name", "op", "after"};
	struct sl_json_extractor *x = extractor(xp, SL_ARRAY_LEN(xp));
	struct sl_json_value xv[SL_ARRAY_LEN(xp)];
	before = mallinfo2();
	for (int k = 0; k < 1000; k++) {
		CHECK(sl_json_parse(P, DEBEZIUM, len, false, &root) == 0);
		CHECK(sl_json_parse(P, padded, len, true, &root) == 0);
		CHECK(sl_json_get_path(root, &p, &v));
		CHECK(sl_json_iter_init(root, &it));
		while (sl_json_iter_next(&it, &key, &key_len, &v))
			(void)sl_json_get_double(v, &d);
		CHECK(sl_json_minify(root, out, sizeof out) > 0);
		CHECK(sl_json_escape(DEBEZIUM, len, out, sizeof out) > 0);
		CHECK(sl_json_parse(P, "{\"a\":", 5, false, &root) == -EINVAL);
		CHECK(sl_json_parse(P, "[\"\xff\"]", 4, false, &root) == -EINVAL);
		CHECK(sl_json_extract(P, x, DEBEZIUM, len, false, xv) == 0);
		CHECK(sl_json_extract(P, x, padded, len, true, xv) == 0);
		CHECK(sl_json_extract(P, x, "{\"a\\u0062\":\"\\n\"}", 16, false, xv) == 0);
		CHECK(sl_json_extract(P, x, "{\"op\":tru}", 10, false, xv) == -EINVAL);
		CHECK(sl_json_extract(P, x, "[1]", 3, false, xv) == -EINVAL);
	}
	after = mallinfo2();
	CHECK_EQ_INT(after.uordblks, before.uordblks);
	CHECK_EQ_INT(after.hblkhd, before.hblkhd);
	CHECK_EQ_INT(after.hblks, before.hblks);
	sl_json_extractor_free(x);
	free(padded);
}

int main(void)
{
	P = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);
	Q = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);
	if (!P || !Q) {
		fprintf(stderr, "test_json: cannot allocate a parser\n");
		return 1;
	}
	test_no_allocation(); /* first: the parser is fresh, nothing has been parsed yet */
	test_scalars();
	test_strings();
	test_lookups();
	test_path_compile();
	test_iteration();
	test_minify();
	test_escape();
	test_invalid();
	test_depth();
	test_size_limit();
	test_huge();
	test_padding();
	test_parse_double();
	test_bench_lines();
	test_extract_values();
	test_extract_numbers();
	test_extract_structure();
	test_extract_invalid();
	test_extract_limits();
	test_extract_padding();
	test_extract_generated();
	sl_json_parser_free(P);
	sl_json_parser_free(Q);

	if (n_failed) {
		fprintf(stderr, "test_json: %d of %d checks FAILED\n", n_failed, n_checks);
		return 1;
	}
	printf("test_json: all %d checks passed\n", n_checks);
	return 0;
}
