/*
 * JSON for sluice: a C API over simdjson's DOM parser, a fast path that extracts a few fields
 * with its On-Demand parser, and escaping and minifying for sinks.
 */
#ifndef SL_JSON_H
#define SL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Threads: a parser, and every element and iterator read from it,
 * belongs to one thread (one parser per worker). The functions that take no
 * parser (path compile, escape, parse_double) may run on any thread.
 *
 * Lifetimes: an element points into the parser's last document. It, and any
 * string or key pointer read through it, is valid until the next
 * sl_json_parse on that parser (successful or not) or sl_json_parser_free.
 *
 * A zeroed struct sl_json_elem is "missing": sl_json_type() returns
 * SL_JSON_MISSING and every getter returns false. Failed lookups set *out to
 * it, so a caller may skip the bool and test the type instead.
 */

/* Bytes that must be readable past the end of an input parsed with padded == true. */
#define SL_JSON_PADDING 64

enum sl_json_type {
	SL_JSON_MISSING = 0,
	SL_JSON_NULL,
	SL_JSON_BOOL,
	SL_JSON_INT,	/* fits int64_t */
	SL_JSON_UINT,	/* above INT64_MAX, fits uint64_t */
	SL_JSON_DOUBLE, /* has a fraction or an exponent */
	SL_JSON_STRING,
	SL_JSON_ARRAY,
	SL_JSON_OBJECT,
};

/* Opaque; one per worker thread, reused for every document. */
struct sl_json_parser;

/* A value inside the last parsed document (a simdjson dom::element). */
struct sl_json_elem {
	uint64_t opaque[2];
};

/* Iteration state over an array or object; no allocation. */
struct sl_json_iter {
	uint64_t opaque[4];
};

/* Most segments of a dotted path. */
#define SL_JSON_PATH_MAX_SEGS 16

/* A precompiled dotted path ("after.customer_id"): the hot path does not re-split strings. */
struct sl_json_path {
	uint8_t n; /* segments used */
	struct {
		const char *key; /* points into the dotted string given to compile */
		uint32_t len;
	} seg[SL_JSON_PATH_MAX_SEGS];
};

/*
 * Creates a parser for documents of at most max_bytes bytes nested at most
 * max_depth deep (1 <= max_depth <= SL_JSON_MAX_DEPTH). Depth is simdjson's:
 * the most containers around any leaf, a leaf being a scalar or an empty
 * container. So 1 and [] have depth 0, [1] and {"a":[]} depth 1, [[1]]
 * depth 2: a walker that recurses into leaves needs max_depth + 1 frames,
 * and a path of max_depth keys reaches every leaf.
 * All buffers (simdjson's tape, string buffer and indexes, those of its
 * On-Demand parser for sl_json_extract, and a copy buffer of max_bytes +
 * SL_JSON_PADDING) are allocated here so that parsing allocates nothing:
 * about 21 * max_bytes of address space, touched only as documents need
 * it. Returns NULL on ENOMEM. Any thread; the parser is then used by one
 * thread.
 */
struct sl_json_parser *sl_json_parser_new(size_t max_bytes, unsigned max_depth);

/* Frees p and its buffers (NULL is a no-op). Elements from p become invalid. */
void sl_json_parser_free(struct sl_json_parser *p);

/*
 * Parses buf[0..len) as one JSON document (surrounding whitespace allowed).
 * With padded == true, SL_JSON_PADDING bytes past buf + len must be readable
 * (their content does not matter) and the input is not copied; with
 * padded == false it is first copied into the parser's padded buffer.
 * Returns 0 and sets *root, or a negative errno:
 *   -EMSGSIZE  len > max_bytes
 *   -ELOOP     nesting deeper than max_depth
 *   -EINVAL    not JSON: syntax, empty input, trailing garbage, invalid
 *              UTF-8, numbers out of range (integers beyond 64 bits,
 *              doubles beyond +-DBL_MAX)
 * On failure *root is set to missing and sl_json_error() says why. Allocates
 * nothing. Invalidates every element from the previous document.
 */
int sl_json_parse(struct sl_json_parser *p, const char *buf, size_t len, bool padded,
		  struct sl_json_elem *root);

/*
 * The reason of p's last failed parse (sl_json_parse or sl_json_extract),
 * NUL-terminated, owned by p and valid until the next parse: what went wrong
 * (simdjson's message, or the limit exceeded) and the byte offset where it
 * is known, e.g. "nested deeper than 64 levels (at byte 64)". It has no
 * "invalid JSON" prefix, for the caller to add. Never contains the input
 * bytes, so it is safe for logs and dead-letter reasons. "" after a
 * successful parse.
 */
const char *sl_json_error(const struct sl_json_parser *p);

/* The type of e; SL_JSON_MISSING for a missing (zeroed) element. */
enum sl_json_type sl_json_type(struct sl_json_elem e);

/*
 * Looks up key[0..key_len) (compared after unescaping, byte for byte) in
 * object obj; with duplicate keys the first wins. Linear in the object's size.
 * Returns false, with *out missing, if obj is not an object or lacks the key.
 */
bool sl_json_get_field(struct sl_json_elem obj, const char *key, size_t key_len,
		       struct sl_json_elem *out);

/*
 * Splits dotted ("after.customer_id") at '.' into out. Keys point into
 * dotted, which the caller keeps alive as long as out is used; no key can
 * contain a '.'. Returns 0, or -EINVAL for an empty string, an empty segment
 * ("a..b", ".a", "a.") or more than SL_JSON_PATH_MAX_SEGS segments.
 */
int sl_json_path_compile(const char *dotted, struct sl_json_path *out);

/*
 * Follows path from root through nested objects (a path with n == 0 is root
 * itself). Returns false, with *out missing, if any segment is absent or
 * traverses a non-object.
 */
bool sl_json_get_path(struct sl_json_elem root, const struct sl_json_path *path,
		      struct sl_json_elem *out);

/* JSON true/false only. */
bool sl_json_get_bool(struct sl_json_elem e, bool *out);
/* JSON integers that fit int64_t only (not 1.0, not 1e2). */
bool sl_json_get_int64(struct sl_json_elem e, int64_t *out);
/* Any JSON number; integers are converted, rounding to nearest above 2^53. */
bool sl_json_get_double(struct sl_json_elem e, double *out);
/*
 * A JSON string: *s points into the parser's string buffer (unescaped,
 * valid UTF-8, NUL-terminated, may contain NUL bytes: use *len).
 */
bool sl_json_get_string(struct sl_json_elem e, const char **s, size_t *len);

/* Elements of array arr; 0 if arr is not an array. */
size_t sl_json_array_size(struct sl_json_elem arr);

/* Starts iterating an array or object, in document order. False (and it missing) otherwise. */
bool sl_json_iter_init(struct sl_json_elem container, struct sl_json_iter *it);

/*
 * Next member: *val, and for objects the key (unescaped, into the parser's
 * string buffer; *key = NULL and *key_len = 0 for arrays). key and key_len
 * may be NULL if the caller does not want them. False when done.
 */
bool sl_json_iter_next(struct sl_json_iter *it, const char **key, size_t *key_len,
		       struct sl_json_elem *val);

/*
 * Writes e as minified JSON into buf[0..cap): no whitespace, object members
 * in document order (duplicates kept), strings escaped as sl_json_escape,
 * integers exactly, doubles in the shortest form that reads back to the same
 * double ("1.0", "3.140000104904175", "1e+100"). No NUL is appended.
 * Returns the bytes written, or -ENOSPC if cap is too small (buf then holds
 * unspecified bytes), or -EINVAL if e is missing.
 */
ssize_t sl_json_minify(struct sl_json_elem e, char *buf, size_t cap);

/*
 * Writes s[0..len) as a JSON string literal, quotes included, into
 * buf[0..cap): '"' and '\\' are escaped, control characters become \b \f \n
 * \r \t or \u00XX (lower-case hex), valid UTF-8 is copied as is and each
 * maximal ill-formed UTF-8 subsequence becomes U+FFFD, so the output is
 * always valid JSON. No NUL is appended. At most 2 + 6 * len bytes.
 * Returns the bytes written, or -ENOSPC (buf then holds unspecified bytes).
 */
ssize_t sl_json_escape(const char *s, size_t len, char *buf, size_t cap);

/*
 * Parses s[0..len), which must be exactly a JSON number (no whitespace, no
 * leading '+', no hex, no NaN/Infinity), to the double the parser would give
 * for it with sl_json_get_double: integers beyond 64 bits and doubles beyond
 * +-DBL_MAX are rejected as the parser does, "-0" gives +0.0 (it is an
 * integer). Returns false, leaving *out untouched, if s is not such a number.
 */
bool sl_json_parse_double(const char *s, size_t len, double *out);

/* ---- field extraction (simdjson On-Demand) -------------------------------- */

/* Most paths one extractor takes. */
#define SL_JSON_EXTRACT_MAX 64

/*
 * A compiled set of dotted paths, extracted together from one document by a
 * single forward walk with simdjson's On-Demand API: no DOM tape is built,
 * and only the objects on the way to a wanted path are entered. Immutable
 * after creation: one extractor may be shared by every worker thread, each
 * with its own parser.
 */
struct sl_json_extractor;

/*
 * Compiles paths[0..n) (the keys are copied: the paths and their dotted
 * strings may be freed afterwards). Paths may repeat, share prefixes or be
 * prefixes of one another ("after" and "after.name" both work); a path with
 * n == 0 is the root object itself. Returns NULL on ENOMEM or
 * n > SL_JSON_EXTRACT_MAX. Any thread.
 */
struct sl_json_extractor *sl_json_extractor_new(const struct sl_json_path *paths, uint32_t n);

/* Frees x (NULL is a no-op). No extraction may be running with it. */
void sl_json_extractor_free(struct sl_json_extractor *x);

/*
 * One extracted value. Every field is set: the ones the type does not use
 * are zero (s NULL).
 *   MISSING  the path is absent or crosses a non-object (as sl_json_get_path)
 *   NULL, BOOL (b)
 *   INT      an integer that fits int64_t: i, and f = (double)i
 *   DOUBLE   a number with a fraction or exponent, or an integer above
 *            INT64_MAX (the DOM's SL_JSON_UINT: f rounds it, s keeps it exact)
 *   STRING   s[0..len): unescaped, valid UTF-8, NOT NUL-terminated (may
 *            contain NUL bytes)
 *   ARRAY, OBJECT  s[0..len): the value's JSON text as it appears in the
 *            input (not minified), validated as a whole like sl_json_parse
 * For every type but STRING and MISSING, s[0..len) is the value's text in
 * the input ("-1.50e3", "true", "null", "[1, 2]"), without the whitespace
 * around it. s points into the input (buf if padded, else the parser's copy
 * of it) or into the parser's string buffer: valid while buf is unchanged
 * and until the next sl_json_extract or sl_json_parse on the same parser.
 */
struct sl_json_value {
	enum sl_json_type type; /* never SL_JSON_UINT */
	bool b;
	int64_t i;
	double f;
	const char *s;
	size_t len;
};

/*
 * Parses buf[0..len) (padded as for sl_json_parse) and fills out[0..n) for
 * x's n paths, out[k] for paths[k]. With duplicate keys the first wins, as in
 * sl_json_get_field (later duplicates are skipped, also for the prefixes of
 * paths: "a.b" looks only inside the first "a"). Returns 0, or a negative
 * errno with every out[k] missing and sl_json_error() saying why:
 *   -EMSGSIZE  len > the parser's max_bytes
 *   -EINVAL    invalid JSON (see below), or the document is not an object
 *   -ELOOP     a visited value nested deeper than the parser's max_depth
 * Allocates nothing. Does not invalidate elements from sl_json_parse; the
 * next sl_json_parse invalidates the values of this call (see above). Runs
 * on p's thread; x may be in use by other threads at the same time.
 *
 * What is validated. On-Demand is lazy: an object document that
 * sl_json_parse accepts is always accepted here, with the values
 * sl_json_get_path finds in it, but some that it rejects are accepted here.
 * The bytes past len never change the return value or the values (at most
 * the error text). Checked in the whole input, as by sl_json_parse
 * (simdjson's stage 1): it is not empty, it is valid UTF-8, and its strings
 * are closed and hold no unescaped control characters. Checked where the
 * walk goes, as by sl_json_parse:
 *   - the root object: it is the document's first token and its closing
 *     '}' the last, its members are string keys, ':' and values, separated
 *     by ','. So a valid document cut short, or followed by anything but
 *     whitespace, is rejected;
 *   - the keys of the root object and of each object a wanted path goes
 *     through, up to the last wanted key found (escapes checked by
 *     unescaping); after it, a nested object is left to be skipped;
 *   - every wanted value in full: numbers and literals parsed, strings
 *     unescaped, arrays and objects walked entirely with the nesting limit.
 * NOT checked in the values skipped over (all other values, and the rest of
 * a nested object after its last wanted key): simdjson skips a value by
 * counting its brackets and reads nothing else. So {"a":[1 2],"b":tru,
 * "c":{"d":}} is accepted when no path starts with "a", "b" or "c": invalid
 * scalars (tru, 01, 1., -, bare words), numbers out of range, invalid
 * escapes ("\x", lone surrogates), missing or extra commas and colons,
 * non-string keys, mismatched or unbalanced brackets and nesting depth, all
 * inside skipped values, and invalid escapes in keys after the last wanted
 * one. A malformed skipped value can even swallow what follows it:
 * {"a":"x":1},"b":2} gives b = 2. Use sl_json_parse when a record must be
 * rejected for those.
 */
int sl_json_extract(struct sl_json_parser *p, const struct sl_json_extractor *x, const char *buf,
		    size_t len, bool padded, struct sl_json_value *out);

/*
 * Benchmark helper for `sluice bench`: parses every non-empty '\n'-separated
 * line of buf[0..len) (padded: SL_JSON_PADDING readable bytes past len) with
 * one parser of SL_RECORD_MAX_BYTES / SL_JSON_MAX_DEPTH and counts them in
 * *n_docs. Returns 0, or the first line's error (*n_docs then counts the
 * lines parsed before it), or -ENOMEM.
 */
int sl_json_bench_parse_lines(const char *buf, size_t len, uint64_t *n_docs);

#ifdef __cplusplus
}
#endif

#endif
