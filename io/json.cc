/*
 * The simdjson shim (sluice's only C++): io/json.h over simdjson's DOM and On-Demand APIs,
 * using error codes only.
 */
#include "io/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include <simdjson.h>

extern "C" {
#include "core/common.h"
#include "core/limits.h"
}

namespace dom = simdjson::dom;
namespace od = simdjson::ondemand;

/*
 * Elements and iterators travel through C as raw bytes. A dom::element is a
 * tape reference {const document *, size_t index}: 16 bytes whose document
 * pointer is never NULL, so an all-zero sl_json_elem can mean "missing".
 */
static_assert(SL_JSON_PADDING >= simdjson::SIMDJSON_PADDING, "callers pad for simdjson");
static_assert(sizeof(dom::element) == sizeof(struct sl_json_elem), "element fits sl_json_elem");
static_assert(std::is_trivially_copyable<dom::element>::value, "element is copied as bytes");
static_assert(sizeof(dom::array::iterator) == 16 && sizeof(dom::object::iterator) == 16,
	      "container + iterator fit sl_json_iter");
static_assert(std::is_trivially_copyable<dom::array::iterator>::value &&
		  std::is_trivially_copyable<dom::object::iterator>::value,
	      "iterators are copied as bytes");
static_assert(sizeof(struct sl_json_iter) == 2 * sizeof(dom::element), "iter layout");
static_assert(SL_RECORD_MAX_BYTES <= simdjson::SIMDJSON_MAXSIZE_BYTES, "simdjson takes records");
static_assert(SL_JSON_PATH_MAX_SEGS <= UINT8_MAX, "path n is a uint8_t");

struct sl_json_parser {
	dom::parser dom;  /* tape, string buffer, structural indexes: preallocated */
	od::parser od;	  /* sl_json_extract: indexes and string buffer, preallocated */
	char *copy;	  /* max_bytes + SL_JSON_PADDING: unpadded inputs land here */
	size_t max_bytes; /* longer inputs are refused before simdjson sees them */
	unsigned max_depth;
	char err[160]; /* sl_json_error() */

	explicit sl_json_parser(size_t capacity) noexcept : dom(capacity), od(capacity)
	{
	}
};

static inline dom::element elem_in(struct sl_json_elem e)
{
	dom::element d;
	memcpy(static_cast<void *>(&d), &e, sizeof d);
	return d;
}

static inline struct sl_json_elem elem_out(dom::element d)
{
	struct sl_json_elem e;
	memcpy(&e, static_cast<const void *>(&d), sizeof e);
	return e;
}

static inline bool elem_missing(struct sl_json_elem e)
{
	return (e.opaque[0] | e.opaque[1]) == 0;
}

static const struct sl_json_elem k_missing = {{0, 0}};

/* The value of a getter that cannot fail: the element's type was checked. */
template <typename T> static inline T must(simdjson::simdjson_result<T> r)
{
	T v{};
	simdjson::error_code code = std::move(r).get(v);

	SL_ASSERT(code == simdjson::SUCCESS);
	return v;
}

/* ---- UTF-8 ------------------------------------------------------------ */

/*
 * Decodes the sequence at s[0..n) (n >= 1) strictly (no overlongs, no
 * surrogates, at most U+10FFFF). Returns true and its length in *used, or
 * false and in *used the length of the maximal ill-formed subpart (>= 1) that
 * one U+FFFD replaces (Unicode 15, section 3.9, "U+FFFD substitution").
 */
static inline bool utf8_seq(const uint8_t *s, size_t n, size_t *used)
{
	uint8_t c = s[0], lo = 0x80, hi = 0xbf;
	size_t need;

	if (c < 0x80) {
		*used = 1;
		return true;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		need = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		lo = c == 0xe0 ? 0xa0 : 0x80; /* overlong */
		hi = c == 0xed ? 0x9f : 0xbf; /* surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		lo = c == 0xf0 ? 0x90 : 0x80; /* overlong */
		hi = c == 0xf4 ? 0x8f : 0xbf; /* > U+10FFFF */
	} else {
		*used = 1; /* a stray continuation byte, C0, C1 or F5..FF */
		return false;
	}
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*used = i;
			return false;
		}
		lo = 0x80;
		hi = 0xbf;
	}
	*used = need + 1;
	return true;
}

/* ---- escaping ----------------------------------------------------------- */

/* A byte inside a literal: 0 copied, 1 non-ASCII, 'u' as \u00XX, else as '\\' and that char. */
struct esc_table {
	uint8_t v[256];
	constexpr esc_table() : v()
	{
		for (int c = 0; c < 0x20; c++)
			v[c] = 'u';
		v[(unsigned char)'\b'] = 'b';
		v[(unsigned char)'\f'] = 'f';
		v[(unsigned char)'\n'] = 'n';
		v[(unsigned char)'\r'] = 'r';
		v[(unsigned char)'\t'] = 't';
		v[(unsigned char)'"'] = '"';
		v[(unsigned char)'\\'] = '\\';
		for (int c = 0x80; c < 0x100; c++)
			v[c] = 1;
	}
};
static constexpr esc_table k_esc{};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	      "word_special counts bytes from the low end");

/*
 * Flags the bytes of w (8 input bytes, little-endian) that need a closer
 * look: control characters, '"', '\\' and, with ascii_only, bytes with the
 * high bit set. The lowest flag is exact (a borrow only starts at a byte
 * that really matches), flags above it may be false: only use the lowest.
 */
static inline uint64_t word_special(uint64_t w, bool ascii_only)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = w ^ (ones * '"'), bslash = w ^ (ones * '\\');
	uint64_t special = (w - ones * 0x20) & ~w & highs; /* byte < 0x20 */

	special |= (quote - ones) & ~quote & highs;   /* byte == '"' */
	special |= (bslash - ones) & ~bslash & highs; /* byte == '\\' */
	if (ascii_only)
		special |= w & highs;
	return special;
}

/* Copies 1 to 8 bytes with fixed-size moves: a libc memcpy call would cost more than the copy. */
static inline void copy_upto8(char *o, const uint8_t *s, size_t n)
{
	if (n >= 4) {
		memcpy(o, s, 4);
		memcpy(o + n - 4, s + n - 4, 4);
	} else {
		o[0] = (char)s[0];
		o[n / 2] = (char)s[n / 2];
		o[n - 1] = (char)s[n - 1];
	}
}

/* Loads s[0..n) (n >= 1) as a word; below 8 bytes the rest is spaces, which need no escaping. */
static inline uint64_t load_word(const uint8_t *s, size_t n)
{
	uint64_t w;
	uint32_t lo, hi;

	if (n >= 8) {
		memcpy(&w, s, 8);
		return w;
	}
	if (n >= 4) { /* two overlapping loads: the shared bytes are equal, so OR is exact */
		memcpy(&lo, s, 4);
		memcpy(&hi, s + n - 4, 4);
		w = (uint64_t)lo | (uint64_t)hi << (8 * (n - 4));
	} else {
		w = (uint64_t)s[0] | (uint64_t)s[n / 2] << (8 * (n / 2)) |
		    (uint64_t)s[n - 1] << (8 * (n - 1));
	}
	return w | 0x2020202020202020ull << (8 * n);
}

/* Below this many bytes, decoding UTF-8 by hand beats a call to simdjson's validator. */
#define UTF8_SIMD_MIN_BYTES 64

/*
 * Writes s[0..len) as a quoted literal at o (before end). utf8_ok says s is
 * known to be valid UTF-8 (it came from a parsed document). Returns the end
 * of what was written, or NULL if it did not fit.
 */
static char *escape_to(const uint8_t *s, size_t len, char *o, char *end, bool utf8_ok)
{
	static const char hex[] = "0123456789abcdef";
	/*
	 * Non-ASCII bytes are copied once the rest of s is known valid; the
	 * first one met decides: validate the rest in one SIMD pass if it is
	 * long, else (or if invalid) decode character by character.
	 */
	enum {
		UTF8_UNCHECKED,
		UTF8_VALID,
		UTF8_DECODE
	} utf8 = utf8_ok ? UTF8_VALID : UTF8_UNCHECKED;
	size_t i = 0;

	if (end - o < 2)
		return NULL;
	*o++ = '"';
	while (i < len) {
		/* Copy the plain bytes up to the next special one, up to 8 at a time. */
		uint64_t special = word_special(load_word(s + i, len - i), utf8 != UTF8_VALID);
		size_t plain = special ? (size_t)__builtin_ctzll(special) / 8 : 8;
		plain = SL_MIN(plain, len - i);
		if (plain > 0) {
			if ((size_t)(end - o) < plain)
				return NULL;
			copy_upto8(o, s + i, plain);
			o += plain;
			i += plain;
			continue;
		}
		uint8_t c = s[i], k = k_esc.v[c];
		if (k == 0 || (k == 1 && utf8 == UTF8_VALID)) {
			if (o == end)
				return NULL;
			*o++ = (char)c;
			i++;
		} else if (k == 1) {
			if (utf8 == UTF8_UNCHECKED) {
				/* i is at a boundary: all before were whole characters. */
				bool valid = len - i >= UTF8_SIMD_MIN_BYTES &&
					     simdjson::validate_utf8(
						 reinterpret_cast<const char *>(s + i), len - i);
				utf8 = valid ? UTF8_VALID : UTF8_DECODE;
				continue;
			}
			do { /* a run of non-ASCII characters */
				size_t n;
				if (utf8_seq(s + i, len - i, &n)) {
					if ((size_t)(end - o) < n)
						return NULL;
					copy_upto8(o, s + i, n);
					o += n;
				} else {
					if (end - o < 3)
						return NULL;
					memcpy(o, "\xef\xbf\xbd", 3); /* U+FFFD */
					o += 3;
				}
				i += n;
			} while (i < len && s[i] >= 0x80);
		} else if (k == 'u') {
			if (end - o < 6)
				return NULL;
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			i++;
		} else {
			if (end - o < 2)
				return NULL;
			o[0] = '\\';
			o[1] = (char)k;
			o += 2;
			i++;
		}
	}
	if (o == end)
		return NULL;
	*o++ = '"';
	return o;
}

extern "C" ssize_t sl_json_escape(const char *s, size_t len, char *buf, size_t cap)
{
	SL_ASSERT(s || len == 0);
	SL_ASSERT(buf || cap == 0);
	SL_ASSERT(cap <= (size_t)SSIZE_MAX);
	char *o = escape_to(reinterpret_cast<const uint8_t *>(s), len, buf, buf + cap, false);
	return o ? o - buf : -ENOSPC;
}

/* ---- parsing ------------------------------------------------------------ */

extern "C" struct sl_json_parser *sl_json_parser_new(size_t max_bytes, unsigned max_depth)
{
	SL_ASSERT(max_bytes > 0 && max_bytes <= simdjson::SIMDJSON_MAXSIZE_BYTES);
	SL_ASSERT(max_depth >= 1 && max_depth <= SL_JSON_MAX_DEPTH);
	/* simdjson never sizes below this, and would allocate on parse if we did. */
	size_t capacity = SL_MAX(max_bytes, simdjson::dom::MINIMAL_DOCUMENT_CAPACITY);
	struct sl_json_parser *p = new (std::nothrow) sl_json_parser(capacity);

	if (!p)
		goto out;
	p->max_bytes = max_bytes;
	p->max_depth = max_depth;
	p->err[0] = '\0';
	p->copy = static_cast<char *>(malloc(max_bytes + SL_JSON_PADDING));
	if (!p->copy)
		goto out_delete_parser;
	/*
	 * simdjson fails when a value sits inside max_depth containers (an
	 * empty container is not entered), so it allows max_depth - 1 of our
	 * levels: add one. allocate() sizes the parser; the document's tape
	 * and string buffer are sized separately, or the first parse would
	 * allocate them.
	 */
	if (p->dom.allocate(capacity, max_depth + 1) != simdjson::SUCCESS)
		goto out_free_copy;
	if (p->dom.doc.allocate(capacity) != simdjson::SUCCESS)
		goto out_free_copy;
	/*
	 * On-Demand checks no depth itself (its max_depth only sizes a
	 * debug-build array indexed by iterator depth, which sl_json_extract
	 * keeps within max_depth + 2): the walk in sl_json_extract does.
	 */
	if (p->od.allocate(capacity, max_depth + 2) != simdjson::SUCCESS)
		goto out_free_copy;
	return p;

out_free_copy:
	free(p->copy);
out_delete_parser:
	delete p;
	p = NULL;
out:
	return p;
}

extern "C" void sl_json_parser_free(struct sl_json_parser *p)
{
	if (!p)
		return;
	free(p->copy);
	delete p;
}

/*
 * Finds where an error simdjson reported without a position lies, by a
 * scalar pass over the input (failure path only). SIZE_MAX if unknown.
 */
static size_t error_offset(const uint8_t *s, size_t len, simdjson::error_code code,
			   unsigned max_depth)
{
	size_t i = 0, n;
	unsigned depth = 0;
	bool in_string = false;

	if (code == simdjson::UTF8_ERROR) {
		for (; i < len; i += n)
			if (!utf8_seq(s + i, len - i, &n))
				return i;
		return SIZE_MAX;
	}
	if (code != simdjson::UNESCAPED_CHARS && code != simdjson::DEPTH_ERROR)
		return SIZE_MAX;
	for (; i < len; i++) {
		uint8_t c = s[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			else if (c < 0x20 && code == simdjson::UNESCAPED_CHARS)
				return i;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth && code == simdjson::DEPTH_ERROR) {
				/* Too deep only if it holds a value: an empty one is a leaf. */
				size_t j = i + 1;
				while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' ||
						   s[j] == '\r'))
					j++;
				if (j < len && s[j] != ']' && s[j] != '}')
					return i;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return SIZE_MAX;
}

/*
 * Maps a simdjson failure at byte `at` (SIZE_MAX if unknown) to an errno and
 * a message that quotes no input: simdjson's own, or ours for the limits;
 * callers prefix "invalid JSON: ".
 */
static int report_failure(struct sl_json_parser *p, simdjson::error_code code, size_t at)
{
	int n, rc;

	switch (code) {
	case simdjson::DEPTH_ERROR:
		rc = -ELOOP;
		n = snprintf(p->err, sizeof p->err, "nested deeper than %u levels", p->max_depth);
		break;
	case simdjson::MEMALLOC: /* cannot happen: everything is preallocated */
		rc = -ENOMEM;
		n = snprintf(p->err, sizeof p->err, "out of memory");
		break;
	case simdjson::CAPACITY: /* cannot happen: length is checked first */
		rc = -EMSGSIZE;
		n = snprintf(p->err, sizeof p->err, "document too large");
		break;
	default:
		rc = -EINVAL;
		n = snprintf(p->err, sizeof p->err, "%s", simdjson::error_message(code));
		break;
	}
	if (at != SIZE_MAX && n >= 0 && (size_t)n < sizeof p->err)
		snprintf(p->err + n, sizeof p->err - (size_t)n, " (at byte %zu)", at);
	return rc;
}

/* A failed parse of in[0..len): report_failure, at the offset found by a scan where needed. */
static int parse_failed(struct sl_json_parser *p, const char *in, size_t len,
			simdjson::error_code code)
{
	return report_failure(
	    p, code, error_offset(reinterpret_cast<const uint8_t *>(in), len, code, p->max_depth));
}

/*
 * Points *in at the input to hand simdjson: *in itself if padded, else
 * p's copy of it, zero-padded. False, with the error set, if len is above
 * p's limit.
 */
static inline bool input_padded(struct sl_json_parser *p, const char **in, size_t len, bool padded)
{
	if (SL_UNLIKELY(len > p->max_bytes)) {
		snprintf(p->err, sizeof p->err, "document of %zu bytes exceeds the %zu-byte limit",
			 len, p->max_bytes);
		return false;
	}
	if (!padded || len == 0) {
		if (len > 0)
			memcpy(p->copy, *in, len);
		/* simdjson does not need the padding's content, but it must be defined. */
		memset(p->copy + len, 0, SL_JSON_PADDING);
		*in = p->copy;
	}
	return true;
}

extern "C" int sl_json_parse(struct sl_json_parser *p, const char *buf, size_t len, bool padded,
			     struct sl_json_elem *root)
{
	SL_ASSERT(p && root);
	SL_ASSERT(buf || len == 0);
	const char *in = buf;
	dom::element doc;
	simdjson::error_code code;

	*root = k_missing;
	p->err[0] = '\0';
	if (SL_UNLIKELY(!input_padded(p, &in, len, padded)))
		return -EMSGSIZE;
	/* realloc_if_needed = false: parse in place. Capacity covers len: nothing is allocated. */
	code = p->dom.parse(in, len, false).get(doc);
	if (SL_UNLIKELY(code != simdjson::SUCCESS))
		return parse_failed(p, in, len, code);
	*root = elem_out(doc);
	return 0;
}

extern "C" const char *sl_json_error(const struct sl_json_parser *p)
{
	SL_ASSERT(p);
	return p->err;
}

/* ---- access ------------------------------------------------------------- */

extern "C" enum sl_json_type sl_json_type(struct sl_json_elem e)
{
	if (elem_missing(e))
		return SL_JSON_MISSING;
	switch (elem_in(e).type()) {
	case dom::element_type::NULL_VALUE:
		return SL_JSON_NULL;
	case dom::element_type::BOOL:
		return SL_JSON_BOOL;
	case dom::element_type::INT64:
		return SL_JSON_INT;
	case dom::element_type::UINT64:
		return SL_JSON_UINT;
	case dom::element_type::DOUBLE:
		return SL_JSON_DOUBLE;
	case dom::element_type::STRING:
		return SL_JSON_STRING;
	case dom::element_type::ARRAY:
		return SL_JSON_ARRAY;
	case dom::element_type::OBJECT:
		return SL_JSON_OBJECT;
	}
	SL_ASSERT(!"unknown simdjson element type");
	return SL_JSON_MISSING;
}

/* Looks key up in e if it is an object; NO_SUCH_FIELD / INCORRECT_TYPE otherwise. */
static inline simdjson::error_code field(dom::element e, std::string_view key, dom::element *out)
{
	dom::object obj;
	simdjson::error_code code = e.get_object().get(obj);

	if (code == simdjson::SUCCESS)
		code = obj.at_key(key).get(*out);
	return code;
}

extern "C" bool sl_json_get_field(struct sl_json_elem obj, const char *key, size_t key_len,
				  struct sl_json_elem *out)
{
	SL_ASSERT(out);
	SL_ASSERT(key || key_len == 0);
	dom::element v;

	*out = k_missing;
	if (elem_missing(obj) ||
	    field(elem_in(obj), std::string_view(key ? key : "", key_len), &v) != simdjson::SUCCESS)
		return false;
	*out = elem_out(v);
	return true;
}

extern "C" int sl_json_path_compile(const char *dotted, struct sl_json_path *out)
{
	SL_ASSERT(dotted && out);
	const char *seg = dotted;

	out->n = 0;
	for (;;) {
		const char *dot = strchr(seg, '.');
		size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
		if (len == 0 || len > UINT32_MAX || out->n == SL_JSON_PATH_MAX_SEGS) {
			out->n = 0;
			return -EINVAL;
		}
		out->seg[out->n].key = seg;
		out->seg[out->n].len = (uint32_t)len;
		out->n++;
		if (!dot)
			return 0;
		seg = dot + 1;
	}
}

extern "C" bool sl_json_get_path(struct sl_json_elem root, const struct sl_json_path *path,
				 struct sl_json_elem *out)
{
	SL_ASSERT(path && out);
	SL_ASSERT(path->n <= SL_JSON_PATH_MAX_SEGS);
	dom::element e = elem_in(root);

	*out = k_missing;
	if (elem_missing(root))
		return false;
	for (unsigned i = 0; i < path->n; i++) {
		std::string_view key(path->seg[i].key, path->seg[i].len);
		if (field(e, key, &e) != simdjson::SUCCESS)
			return false;
	}
	*out = elem_out(e);
	return true;
}

extern "C" bool sl_json_get_bool(struct sl_json_elem e, bool *out)
{
	SL_ASSERT(out);
	return !elem_missing(e) && elem_in(e).get_bool().get(*out) == simdjson::SUCCESS;
}

extern "C" bool sl_json_get_int64(struct sl_json_elem e, int64_t *out)
{
	SL_ASSERT(out);
	int64_t v;

	/* get_int64 takes INT64 and UINT64 <= INT64_MAX, never a DOUBLE. */
	if (elem_missing(e) || elem_in(e).get_int64().get(v) != simdjson::SUCCESS)
		return false;
	*out = v;
	return true;
}

extern "C" bool sl_json_get_double(struct sl_json_elem e, double *out)
{
	SL_ASSERT(out);
	double v;

	if (elem_missing(e) || elem_in(e).get_double().get(v) != simdjson::SUCCESS)
		return false;
	*out = v;
	return true;
}

extern "C" bool sl_json_get_string(struct sl_json_elem e, const char **s, size_t *len)
{
	SL_ASSERT(s && len);
	std::string_view v;

	if (elem_missing(e) || elem_in(e).get_string().get(v) != simdjson::SUCCESS)
		return false;
	*s = v.data();
	*len = v.size();
	return true;
}

extern "C" size_t sl_json_array_size(struct sl_json_elem arr)
{
	dom::array a;

	if (elem_missing(arr) || elem_in(arr).get_array().get(a) != simdjson::SUCCESS)
		return 0;
	return a.size();
}

/* ---- iteration ---------------------------------------------------------- */

/*
 * it->opaque[0..1] holds the container element, [2..3] the position (a
 * dom::array::iterator or dom::object::iterator, as the container's type
 * says). The end is recomputed from the container: one tape read.
 */
extern "C" bool sl_json_iter_init(struct sl_json_elem container, struct sl_json_iter *it)
{
	SL_ASSERT(it);
	dom::element c = elem_in(container);
	dom::array arr;
	dom::object obj;

	memset(it, 0, sizeof *it);
	if (elem_missing(container))
		return false;
	if (c.get_array().get(arr) == simdjson::SUCCESS) {
		dom::array::iterator pos = arr.begin();
		memcpy(&it->opaque[2], static_cast<const void *>(&pos), sizeof pos);
	} else if (c.get_object().get(obj) == simdjson::SUCCESS) {
		dom::object::iterator pos = obj.begin();
		memcpy(&it->opaque[2], static_cast<const void *>(&pos), sizeof pos);
	} else {
		return false;
	}
	memcpy(&it->opaque[0], static_cast<const void *>(&c), sizeof c);
	return true;
}

extern "C" bool sl_json_iter_next(struct sl_json_iter *it, const char **key, size_t *key_len,
				  struct sl_json_elem *val)
{
	SL_ASSERT(it && val);
	struct sl_json_elem ce = {{it->opaque[0], it->opaque[1]}};
	dom::element c = elem_in(ce);
	dom::array arr;
	dom::object obj;
	const char *k = NULL;
	size_t k_len = 0;

	*val = k_missing;
	if (elem_missing(ce))
		return false; /* a failed init */
	if (c.get_array().get(arr) == simdjson::SUCCESS) {
		dom::array::iterator pos;
		memcpy(static_cast<void *>(&pos), &it->opaque[2], sizeof pos);
		if (!(pos != arr.end()))
			return false;
		*val = elem_out(*pos);
		++pos;
		memcpy(&it->opaque[2], static_cast<const void *>(&pos), sizeof pos);
	} else {
		obj = must(c.get_object()); /* init accepted only arrays and objects */
		dom::object::iterator pos;
		memcpy(static_cast<void *>(&pos), &it->opaque[2], sizeof pos);
		if (!(pos != obj.end()))
			return false;
		k = pos.key_c_str();
		k_len = pos.key_length();
		*val = elem_out(pos.value());
		++pos;
		memcpy(&it->opaque[2], static_cast<const void *>(&pos), sizeof pos);
	}
	if (key)
		*key = k;
	if (key_len)
		*key_len = k_len;
	return true;
}

/* ---- minify ------------------------------------------------------------- */

struct writer {
	char *o;
	char *end;
};

static inline bool put(struct writer *w, const char *s, size_t n)
{
	if ((size_t)(w->end - w->o) < n)
		return false;
	memcpy(w->o, s, n);
	w->o += n;
	return true;
}

static inline bool put_char(struct writer *w, char c)
{
	if (w->o == w->end)
		return false;
	*w->o++ = c;
	return true;
}

/* "00".."99": two digits per division. */
static constexpr char k_digits[] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static bool put_uint(struct writer *w, uint64_t v, bool negative)
{
	char tmp[24], *t = tmp + sizeof tmp;

	while (v >= 100) {
		t -= 2;
		memcpy(t, k_digits + 2 * (v % 100), 2);
		v /= 100;
	}
	if (v >= 10) {
		t -= 2;
		memcpy(t, k_digits + 2 * v, 2);
	} else {
		*--t = (char)('0' + v);
	}
	if (negative)
		*--t = '-';
	return put(w, t, (size_t)(tmp + sizeof tmp - t));
}

static inline bool put_string(struct writer *w, std::string_view s)
{
	/* Strings of a parsed document are valid UTF-8: skip the validation pass. */
	char *o =
	    escape_to(reinterpret_cast<const uint8_t *>(s.data()), s.size(), w->o, w->end, true);
	if (!o)
		return false;
	w->o = o;
	return true;
}

/* Recursion is bounded by the parser's max_depth <= SL_JSON_MAX_DEPTH. */
static bool minify_to(dom::element e, struct writer *w, unsigned depth)
{
	SL_ASSERT(depth <= SL_JSON_MAX_DEPTH);
	bool first = true;

	switch (e.type()) {
	case dom::element_type::ARRAY: {
		dom::array arr = must(e.get_array());
		if (!put_char(w, '['))
			return false;
		for (dom::element v : arr) {
			if ((!first && !put_char(w, ',')) || !minify_to(v, w, depth + 1))
				return false;
			first = false;
		}
		return put_char(w, ']');
	}
	case dom::element_type::OBJECT: {
		dom::object obj = must(e.get_object());
		if (!put_char(w, '{'))
			return false;
		for (dom::key_value_pair kv : obj) {
			if ((!first && !put_char(w, ',')) || !put_string(w, kv.key) ||
			    !put_char(w, ':') || !minify_to(kv.value, w, depth + 1))
				return false;
			first = false;
		}
		return put_char(w, '}');
	}
	case dom::element_type::INT64: {
		int64_t v = must(e.get_int64());
		/* 0 - (uint64_t)v is |v| even for INT64_MIN. */
		return put_uint(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
	}
	case dom::element_type::UINT64: {
		return put_uint(w, must(e.get_uint64()), false);
	}
	case dom::element_type::DOUBLE: {
		/* simdjson's shortest round-trip form, as its own serializer; at most 24 chars. */
		char tmp[40];
		char *t = simdjson::internal::to_chars(tmp, tmp + sizeof tmp, must(e.get_double()));
		SL_ASSERT(t > tmp && t <= tmp + sizeof tmp);
		return put(w, tmp, (size_t)(t - tmp));
	}
	case dom::element_type::STRING: {
		return put_string(w, must(e.get_string()));
	}
	case dom::element_type::BOOL: {
		return must(e.get_bool()) ? put(w, "true", 4) : put(w, "false", 5);
	}
	case dom::element_type::NULL_VALUE:
		return put(w, "null", 4);
	}
	SL_ASSERT(!"unknown simdjson element type");
	return false;
}

extern "C" ssize_t sl_json_minify(struct sl_json_elem e, char *buf, size_t cap)
{
	SL_ASSERT(buf || cap == 0);
	SL_ASSERT(cap <= (size_t)SSIZE_MAX);
	struct writer w = {buf, buf + cap};

	if (elem_missing(e))
		return -EINVAL;
	if (!minify_to(elem_in(e), &w, 0))
		return -ENOSPC;
	return w.o - buf;
}

/* ---- numbers ------------------------------------------------------------ */

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * The parser keeps an integer (no '.', no exponent) as int64 or uint64 and
 * converts it when asked for a double; it parses anything else to the
 * correctly rounded double, failing beyond DBL_MAX. simdjson's from_chars is
 * the correctly rounded fallback of that same parser, so the two agree.
 */
extern "C" bool sl_json_parse_double(const char *s, size_t len, double *out)
{
	SL_ASSERT(s || len == 0);
	SL_ASSERT(out);
	const char *p = s, *end = s + len, *digits;
	bool negative = false, integer = true;

	if (p < end && *p == '-') {
		negative = true;
		p++;
	}
	digits = p;
	if (p == end || !is_digit(*p))
		return false;
	if (*p == '0')
		p++; /* no leading zeros */
	else
		while (p < end && is_digit(*p))
			p++;
	if (p < end && *p == '.') {
		integer = false;
		if (++p == end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		integer = false;
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
	}
	if (p != end)
		return false;

	if (integer) {
		uint64_t v = 0;
		for (p = digits; p < end; p++) {
			unsigned d = (unsigned)(*p - '0');
			if (v > (UINT64_MAX - d) / 10)
				return false; /* beyond uint64: the parser's NUMBER_ERROR */
			v = v * 10 + d;
		}
		if (!negative) {
			*out = (double)v;
		} else {
			if (v > (uint64_t)INT64_MAX + 1)
				return false; /* below INT64_MIN */
			*out =
			    v == (uint64_t)INT64_MAX + 1 ? (double)INT64_MIN : (double)-(int64_t)v;
		}
		return true;
	}
	double d = simdjson::internal::from_chars(s, end);
	if (!std::isfinite(d))
		return false;
	*out = d;
	return true;
}

/* ---- extraction (On-Demand) --------------------------------------------- */

/*
 * An extractor is a trie of its paths' keys, laid out breadth first so that
 * the children of a node are contiguous: node[0] is the root object, and a
 * member of the object reached through node k is looked up among node k's
 * children. At most one node per path segment, plus the root.
 */
#define X_MAX_NODES (1u + SL_JSON_EXTRACT_MAX * SL_JSON_PATH_MAX_SEGS)
static_assert(X_MAX_NODES <= UINT16_MAX, "node indexes are 16-bit");
static_assert(SL_JSON_EXTRACT_MAX <= INT16_MAX, "path indexes are 16-bit");

struct xnode {
	const char *key; /* into the extractor's own copy; NULL for the root */
	uint32_t len;
	uint16_t child0; /* the children are node[child0 .. child0 + n_child) */
	uint16_t n_child;
	int16_t out;	     /* the first path that ends here, or -1 */
	uint64_t child_lens; /* bit (len % 64) of each child's key: most keys are rejected by it */
};

struct sl_json_extractor {
	uint32_t n_paths;
	uint32_t n_nodes;
	int16_t same_as[SL_JSON_EXTRACT_MAX]; /* path k repeats path same_as[k] < k, or -1 */
	struct xnode *node;		      /* n_nodes, in the same allocation */
};

/* A trie node while building: its parent instead of its children. */
struct xbuild {
	const char *key;
	uint32_t len;
	uint16_t parent;
	int16_t out;
};

extern "C" struct sl_json_extractor *sl_json_extractor_new(const struct sl_json_path *paths,
							   uint32_t n)
{
	SL_ASSERT(paths || n == 0);
	struct sl_json_extractor *x = NULL;
	struct xbuild *t = NULL;
	uint16_t *order = NULL, *index = NULL;
	size_t max_nodes = 1, n_nodes = 1, key_bytes = 0, n_order = 1, nodes_at;
	char *keys;

	if (n > SL_JSON_EXTRACT_MAX)
		goto out;
	for (uint32_t k = 0; k < n; k++) {
		SL_ASSERT(paths[k].n <= SL_JSON_PATH_MAX_SEGS);
		max_nodes += paths[k].n;
	}
	SL_ASSERT(max_nodes <= X_MAX_NODES);
	t = static_cast<struct xbuild *>(malloc(max_nodes * sizeof *t));
	order = static_cast<uint16_t *>(malloc(max_nodes * sizeof *order));
	index = static_cast<uint16_t *>(malloc(max_nodes * sizeof *index));
	if (!t || !order || !index)
		goto out_free_build;

	/* Insert every path; quadratic, but in at most 1025 nodes, once per job. */
	t[0] = {NULL, 0, 0, -1};
	int16_t same_as[SL_JSON_EXTRACT_MAX];
	for (uint32_t k = 0; k < n; k++) {
		size_t cur = 0;
		for (unsigned s = 0; s < paths[k].n; s++) {
			const char *key = paths[k].seg[s].key;
			uint32_t len = paths[k].seg[s].len;
			size_t j;
			SL_ASSERT(key || len == 0);
			for (j = 1; j < n_nodes; j++)
				if (t[j].parent == cur && t[j].len == len &&
				    (len == 0 || memcmp(t[j].key, key, len) == 0))
					break;
			if (j == n_nodes) {
				t[n_nodes++] = {key, len, (uint16_t)cur, -1};
				key_bytes += len;
			}
			cur = j;
		}
		same_as[k] = t[cur].out;
		if (t[cur].out < 0)
			t[cur].out = (int16_t)k;
	}

	/* Breadth first: each node's children are appended together. */
	order[0] = 0;
	for (size_t i = 0; i < n_order; i++)
		for (size_t j = 1; j < n_nodes; j++)
			if (t[j].parent == order[i])
				order[n_order++] = (uint16_t)j;
	SL_ASSERT(n_order == n_nodes);
	for (size_t i = 0; i < n_nodes; i++)
		index[order[i]] = (uint16_t)i;

	nodes_at =
	    (sizeof *x + alignof(struct xnode) - 1) / alignof(struct xnode) * alignof(struct xnode);
	x = static_cast<struct sl_json_extractor *>(
	    malloc(nodes_at + n_nodes * sizeof(struct xnode) + key_bytes + 1));
	if (!x)
		goto out_free_build;
	x->n_paths = n;
	x->n_nodes = (uint32_t)n_nodes;
	memcpy(x->same_as, same_as, n * sizeof *same_as);
	x->node = reinterpret_cast<struct xnode *>(reinterpret_cast<char *>(x) + nodes_at);
	keys = reinterpret_cast<char *>(x->node + n_nodes);
	for (size_t i = 0; i < n_nodes; i++) {
		const struct xbuild *b = &t[order[i]];
		struct xnode *d = &x->node[i];
		d->key = i == 0 ? NULL : keys;
		d->len = b->len;
		if (b->len > 0)
			memcpy(keys, b->key, b->len);
		keys += b->len;
		d->out = b->out;
		d->child0 = 0;
		d->n_child = 0;
		d->child_lens = 0;
	}
	for (size_t i = 1; i < n_nodes; i++) {
		struct xnode *parent = &x->node[index[t[order[i]].parent]];
		if (parent->n_child == 0)
			parent->child0 = (uint16_t)i;
		SL_ASSERT(parent->child0 + parent->n_child == i); /* contiguous */
		parent->n_child++;
		parent->child_lens |= 1ull << (x->node[i].len % 64);
	}

out_free_build:
	free(index);
	free(order);
	free(t);
out:
	return x;
}

extern "C" void sl_json_extractor_free(struct sl_json_extractor *x)
{
	free(x);
}

/* One extraction: where the outputs go and which trie nodes have met their key. */
struct xwalk {
	const struct sl_json_extractor *x;
	struct sl_json_value *out;
	unsigned max_depth;
	const char *err_at; /* where a failure is, when the walk knows better than simdjson */
	uint64_t seen[(X_MAX_NODES + 63) / 64];
};

static inline bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The offset of the first '"', '\\' or control character at s, which is
 * inside a string that stage 1 found closed. Reads up to 7 bytes past that
 * character: the input's padding covers them.
 */
static inline size_t string_scan(const char *s)
{
	for (size_t i = 0;; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, sizeof w);
		uint64_t special = word_special(w, false);
		if (special)
			return i + (size_t)__builtin_ctzll(special) / 8;
	}
}

/*
 * The key of f, unescaped. Stage 1 validated the whole input's UTF-8 and
 * control characters, so a key without a backslash is its raw bytes and
 * needs no copy; one with a backslash goes through simdjson's unescaping
 * (into the parser's string buffer), which checks its escapes.
 */
static inline simdjson::error_code key_of(od::field &f, std::string_view *key)
{
	const char *k = f.key().raw(); /* just past the opening quote */
	size_t n = string_scan(k);

	if (SL_LIKELY(k[n] == '"')) {
		*key = std::string_view(k, n);
		return simdjson::SUCCESS;
	}
	return f.unescaped_key().get(*key);
}

/*
 * The string value v (its first byte is '"'), unescaped: as key_of. Either
 * way v is consumed, so that the token after it is checked as what follows a
 * value (a value left unconsumed is skipped, and simdjson's skip takes a
 * string followed by ':' for a key).
 */
static inline simdjson::error_code string_of(od::value &v, std::string_view *s)
{
	const char *q = v.raw_json_token().data();
	size_t n = string_scan(q + 1);
	od::raw_json_string raw;
	simdjson::error_code code;

	SL_ASSERT(q[0] == '"');
	if (SL_UNLIKELY(q[1 + n] != '"'))
		return v.get_string().get(*s);
	code = v.get_raw_json_string().get(raw);
	SL_ASSERT(code != simdjson::SUCCESS || raw.raw() == q + 1);
	*s = std::string_view(q + 1, n);
	return code;
}

/*
 * The child of node whose key is key, unless an earlier member with that key
 * claimed it (duplicates: the first wins, as dom::object::at_key). NULL if
 * none. Marks it seen.
 */
static inline const struct xnode *match(struct xwalk *w, const struct xnode *node,
					std::string_view key)
{
	if (!(node->child_lens >> (key.size() % 64) & 1))
		return NULL;
	for (unsigned c = node->child0; c < node->child0 + node->n_child; c++) {
		const struct xnode *child = &w->x->node[c];
		if (child->len != key.size() || memcmp(child->key, key.data(), key.size()) != 0)
			continue;
		uint64_t bit = 1ull << (c % 64);
		if (w->seen[c / 64] & bit)
			return NULL;
		w->seen[c / 64] |= bit;
		return child;
	}
	return NULL;
}

/*
 * The container v's text in the input, from start (its first byte) to where
 * its walk ended, trimmed. Inside the root object a token follows it; if
 * none does, the root's '}' was v's own: the document is cut short.
 */
static inline simdjson::error_code raw_text(od::value &v, const char *start,
					    struct sl_json_value *o)
{
	const char *end;

	if (v.current_location().get(end) != simdjson::SUCCESS)
		return simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
	SL_ASSERT(end > start);
	while (is_space(end[-1]))
		end--;
	o->s = start;
	o->len = (size_t)(end - start);
	return simdjson::SUCCESS;
}

/* A number's token (and what follows it up to the next token) has a '.', 'e' or 'E'. */
static inline bool is_float_text(std::string_view tok)
{
	for (char c : tok)
		if (c == '.' || (c | 0x20) == 'e')
			return true;
	return false;
}

/* A scalar of type t into *o: parsed in full, as the DOM would. On failure the caller clears *o. */
static simdjson::error_code scalar(struct xwalk *w, od::value &v, od::json_type t,
				   struct sl_json_value *o)
{
	std::string_view tok = v.raw_json_token(); /* up to the next token: trimmed below */
	simdjson::error_code code = simdjson::SUCCESS;
	std::string_view s;
	uint64_t u = 0;
	bool is_null = false;

	switch (t) {
	case od::json_type::string:
		code = string_of(v, &s);
		if (code == simdjson::SUCCESS) {
			o->type = SL_JSON_STRING;
			o->s = s.data();
			o->len = s.size();
		}
		break;
	case od::json_type::number:
		/*
		 * Not get_number(): in simdjson 3.0.1 it gives 0.0 for floats of
		 * more than 19 significant digits (simdjson issue #2099). As the
		 * DOM: an integer (no '.', 'e', 'E') must fit int64 or uint64.
		 */
		if (is_float_text(tok)) {
			code = v.get_double().get(o->f);
			if (code == simdjson::SUCCESS)
				o->type = SL_JSON_DOUBLE;
		} else if (tok[0] == '-') {
			code = v.get_int64().get(o->i);
			if (code == simdjson::SUCCESS)
				o->type = SL_JSON_INT;
			o->f = (double)o->i;
		} else {
			code = v.get_uint64().get(u);
			if (code == simdjson::SUCCESS && u <= (uint64_t)INT64_MAX) {
				o->type = SL_JSON_INT;
				o->i = (int64_t)u;
				o->f = (double)o->i;
			} else if (code == simdjson::SUCCESS) { /* f rounds it, the text keeps it */
				o->type = SL_JSON_DOUBLE;
				o->f = (double)u;
			}
		}
		break;
	case od::json_type::boolean:
		if (v.get_bool().get(o->b) != simdjson::SUCCESS)
			code = tok[0] == 't' ? simdjson::T_ATOM_ERROR : simdjson::F_ATOM_ERROR;
		else
			o->type = SL_JSON_BOOL;
		break;
	case od::json_type::null:
		if (v.is_null().get(is_null) != simdjson::SUCCESS || !is_null)
			code = simdjson::N_ATOM_ERROR;
		else
			o->type = SL_JSON_NULL;
		break;
	default:
		SL_ASSERT(!"not a scalar");
		break;
	}
	if (code != simdjson::SUCCESS) {
		w->err_at = tok.data();
		return code;
	}
	if (t != od::json_type::string) {
		size_t n = tok.size();
		while (n > 0 && is_space(tok[n - 1]))
			n--;
		o->s = tok.data();
		o->len = n;
	}
	return simdjson::SUCCESS;
}

static simdjson::error_code walk_object(struct xwalk *w, od::object &obj, const struct xnode *node,
					unsigned depth, bool validate, const char *start);

/*
 * Checks v in full, as the DOM parser would (every token, escape, number,
 * and the depth limit), keeping nothing. depth: the containers around v.
 * Recursion is bounded by max_depth <= SL_JSON_MAX_DEPTH.
 */
static simdjson::error_code validate_value(struct xwalk *w, od::value &v, unsigned depth)
{
	SL_ASSERT(depth <= SL_JSON_MAX_DEPTH);
	const char *start = v.raw_json_token().data();
	simdjson::error_code code;
	struct sl_json_value scratch;
	od::json_type t;
	od::object obj;
	od::array arr;

	code = v.type().get(t);
	if (code != simdjson::SUCCESS) {
		w->err_at = start;
		return code;
	}
	switch (t) {
	case od::json_type::object:
		code = v.get_object().get(obj);
		if (code == simdjson::SUCCESS)
			code = walk_object(w, obj, NULL, depth + 1, true, start);
		return code;
	case od::json_type::array:
		code = v.get_array().get(arr);
		if (code != simdjson::SUCCESS)
			return code;
		for (auto r : arr) {
			od::value elem;
			code = std::move(r).get(elem);
			if (code != simdjson::SUCCESS)
				return code;
			if (depth + 1 > w->max_depth) {
				w->err_at = start;
				return simdjson::DEPTH_ERROR;
			}
			code = validate_value(w, elem, depth + 1);
			if (code != simdjson::SUCCESS)
				return code;
		}
		return simdjson::SUCCESS;
	default:
		return scalar(w, v, t, &scratch);
	}
}

/*
 * v, the value at trie node `node`: fills the output of a path ending here,
 * descends for the paths going through. depth: the containers around v.
 * validate: v is inside a wanted array or object, so all of it is checked.
 */
static simdjson::error_code walk_value(struct xwalk *w, od::value &v, const struct xnode *node,
				       unsigned depth, bool validate)
{
	SL_ASSERT(node != &w->x->node[0] && node->out < (int)w->x->n_paths);
	SL_ASSERT(depth >= 1 && depth <= w->max_depth);
	const char *start = v.raw_json_token().data();
	simdjson::error_code code;
	od::json_type t;
	od::object obj;

	code = v.type().get(t);
	if (code != simdjson::SUCCESS) {
		w->err_at = start;
		return code;
	}
	if (node->out < 0) { /* on the way only: a non-object holds none of the paths */
		if (t == od::json_type::object) {
			code = v.get_object().get(obj);
			if (code == simdjson::SUCCESS)
				code = walk_object(w, obj, node, depth + 1, validate, start);
			return code;
		}
		return validate ? validate_value(w, v, depth) : simdjson::SUCCESS;
	}
	struct sl_json_value *o = &w->out[node->out];
	switch (t) {
	case od::json_type::object:
		code = v.get_object().get(obj);
		if (code == simdjson::SUCCESS)
			code = walk_object(w, obj, node, depth + 1, true, start);
		if (code == simdjson::SUCCESS)
			code = raw_text(v, start, o);
		if (code == simdjson::SUCCESS)
			o->type = SL_JSON_OBJECT;
		return code;
	case od::json_type::array:
		code = validate_value(w, v, depth);
		if (code == simdjson::SUCCESS)
			code = raw_text(v, start, o);
		if (code == simdjson::SUCCESS)
			o->type = SL_JSON_ARRAY;
		return code;
	default:
		return scalar(w, v, t, o);
	}
}

/*
 * The members of obj, reached through trie node `node` (NULL: none wanted
 * inside). depth: the containers around the members (1: obj is the root);
 * start: obj's '{'. Members no path wants are skipped unread unless
 * validate says to check them. Keys are read only to be matched or checked:
 * once every child of node is found, the root's remaining members are only
 * skipped, and a nested object is left at once for its parent to skip.
 */
static simdjson::error_code walk_object(struct xwalk *w, od::object &obj, const struct xnode *node,
					unsigned depth, bool validate, const char *start)
{
	SL_ASSERT(depth >= 1 && depth <= SL_JSON_MAX_DEPTH + 1);
	bool match_keys = node && node->n_child > 0, done = false;
	/* Each node's object is walked at most once a document: its key is matched once. */
	unsigned left = match_keys ? node->n_child : 0;
	simdjson::error_code code;

	for (auto r : obj) {
		const struct xnode *child = NULL;
		std::string_view key;
		code = simdjson::SUCCESS;
		if (r.error() != simdjson::SUCCESS)
			return r.error();
		/* By reference: moving the field out costs a store-forwarding stall per member. */
		od::field &f = r.value_unsafe();
		if (SL_UNLIKELY(depth > w->max_depth)) {
			w->err_at = start;
			return simdjson::DEPTH_ERROR;
		}
		if (match_keys || validate) {
			const char *quote = f.key().raw() - 1; /* key_of may consume the key */
			code = key_of(f, &key);
			if (code != simdjson::SUCCESS) {
				w->err_at = quote;
				return code;
			}
			if (match_keys)
				child = match(w, node, key);
			if (child && --left == 0 && !validate) {
				match_keys = false;
				done = depth > 1;
			}
		}
		if (child)
			code = walk_value(w, f.value(), child, depth, validate);
		else if (validate)
			code = validate_value(w, f.value(), depth);
		if (code != simdjson::SUCCESS)
			return code;
		if (done)
			break;
	}
	return simdjson::SUCCESS;
}

extern "C" int sl_json_extract(struct sl_json_parser *p, const struct sl_json_extractor *x,
			       const char *buf, size_t len, bool padded, struct sl_json_value *out)
{
	SL_ASSERT(p && x);
	SL_ASSERT(out || x->n_paths == 0);
	SL_ASSERT(buf || len == 0);
	const struct xnode *root = &x->node[0];
	const char *in = buf, *start, *end;
	simdjson::error_code code;
	struct xwalk w;
	od::document doc;
	od::object obj;
	size_t at = SIZE_MAX;
	int rc = 0;

	if (x->n_paths > 0)
		memset(out, 0, x->n_paths * sizeof *out); /* all missing */
	p->err[0] = '\0';
	if (SL_UNLIKELY(!input_padded(p, &in, len, padded)))
		return -EMSGSIZE;
	/*
	 * On-Demand reads past the last token only when the document is
	 * malformed, and then fails, except that a '}' right after len makes
	 * simdjson check bracket balance, which it otherwise never does: so
	 * whether a malformed document passed would depend on the byte after
	 * it (the next record). Never show it a '}' there.
	 */
	if (SL_UNLIKELY(padded && len > 0 && buf[len] == '}'))
		(void)input_padded(p, &in, len, false);
	/* Stage 1 over the whole input: UTF-8, control characters, closed strings. */
	code = p->od.iterate(simdjson::padded_string_view(in, len, len + SL_JSON_PADDING)).get(doc);
	if (SL_UNLIKELY(code != simdjson::SUCCESS))
		return parse_failed(p, in, len, code);

	w.x = x;
	w.out = out;
	w.max_depth = p->max_depth;
	w.err_at = NULL;
	memset(w.seen, 0, (x->n_nodes + 63) / 64 * sizeof w.seen[0]);
	start = in;
	while (is_space(*start)) /* stage 1 found a token: this stops inside in */
		start++;
	end = in + len;
	while (is_space(end[-1]))
		end--;

	/* simdjson checks that the last token is '}' (and balance, if the padding starts with one).
	 */
	code = doc.get_object().get(obj);
	if (SL_UNLIKELY(code == simdjson::INCORRECT_TYPE)) {
		snprintf(p->err, sizeof p->err, "the document is not an object (at byte %zu)",
			 (size_t)(start - in));
		rc = -EINVAL;
		goto out_missing;
	}
	if (SL_UNLIKELY(code == simdjson::INCOMPLETE_ARRAY_OR_OBJECT)) {
		/* Cut short or followed by more: simdjson cannot tell which, nor can we cheaply. */
		snprintf(p->err, sizeof p->err,
			 "the document does not end with its object's closing brace (at byte %zu)",
			 (size_t)(end - 1 - in));
		rc = -EINVAL;
		goto out_missing;
	}
	if (code == simdjson::SUCCESS)
		code = walk_object(&w, obj, root, 1, root->out >= 0, start);
	if (code == simdjson::SUCCESS && doc.current_location().get(w.err_at) == simdjson::SUCCESS)
		code = simdjson::TRAILING_CONTENT; /* a token after the root's '}' */
	if (SL_UNLIKELY(code != simdjson::SUCCESS)) {
		/* Else the token where simdjson stopped, if its iterator still knows. */
		const char *loc = w.err_at;
		if (loc || doc.current_location().get(loc) == simdjson::SUCCESS)
			if (loc >= in && loc <= in + len)
				at = (size_t)(loc - in);
		rc = report_failure(p, code, at);
		goto out_missing;
	}
	if (root->out >= 0) {
		struct sl_json_value *o = &out[root->out];
		o->type = SL_JSON_OBJECT;
		o->s = start;
		o->len = (size_t)(end - start);
	}
	for (uint32_t k = 0; k < x->n_paths; k++)
		if (x->same_as[k] >= 0)
			out[k] = out[x->same_as[k]];
	return 0;

out_missing:
	if (x->n_paths > 0)
		memset(out, 0, x->n_paths * sizeof *out);
	return rc;
}

/* ---- benchmark ---------------------------------------------------------- */

extern "C" int sl_json_bench_parse_lines(const char *buf, size_t len, uint64_t *n_docs)
{
	SL_ASSERT(buf || len == 0);
	SL_ASSERT(n_docs);
	struct sl_json_parser *p = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);
	const char *line = buf, *end = buf + len;
	struct sl_json_elem root;
	int rc = 0;

	*n_docs = 0;
	if (!p)
		return -ENOMEM;
	while (line < end) {
		const char *nl =
		    static_cast<const char *>(memchr(line, '\n', (size_t)(end - line)));
		const char *eol = nl ? nl : end;
		/* Every line is padded: the rest of buf and its padding follow it. */
		if (eol > line) {
			rc = sl_json_parse(p, line, (size_t)(eol - line), true, &root);
			if (rc != 0)
				break;
			(*n_docs)++;
		}
		line = eol + 1;
	}
	sl_json_parser_free(p);
	return rc;
}
