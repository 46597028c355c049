/* Customer-record rules: cleaning, phone numbers, GB 11643 ID numbers, addresses against
 * the table of province-level divisions, names. Pure, allocation-free, any thread. */
#include "operators/rules.h"

#include <string.h>

#include "core/value.h"

/* ---- Reasons ------------------------------------------------------------------------------ */

static const char *const reason_names[SL_REASON__COUNT] = {
	[SL_REASON_OK] = "ok",
	[SL_REASON_NULL] = "null",
	[SL_REASON_EMPTY] = "empty",
	[SL_REASON_BAD_LENGTH] = "bad_length",
	[SL_REASON_BAD_CHAR] = "bad_char",
	[SL_REASON_BAD_CHECK_DIGIT] = "bad_check_digit",
	[SL_REASON_BAD_BIRTH_DATE] = "bad_birth_date",
	[SL_REASON_BAD_REGION] = "bad_region",
	[SL_REASON_CONVERTED_15] = "converted_15",
	[SL_REASON_NO_PROVINCE] = "no_province",
	[SL_REASON_LANDLINE] = "landline",
	[SL_REASON_BAD_PREFIX] = "bad_prefix",
};

const char *sl_rules_reason_name(enum sl_rules_reason r)
{
	return (unsigned)r < SL_REASON__COUNT ? reason_names[r] : "?";
}

int sl_rules_reason_parse(const char *name, size_t len)
{
	for (int r = 0; r < (int)SL_REASON__COUNT; r++)
		if (strlen(reason_names[r]) == len && memcmp(reason_names[r], name, len) == 0)
			return r;
	return -1;
}

const char *sl_rules_phone_type_name(enum sl_phone_type t)
{
	switch (t) {
	case SL_PHONE_MOBILE:
		return "mobile";
	case SL_PHONE_LANDLINE:
		return "landline";
	default:
		return "invalid";
	}
}

static inline struct sl_rules_result result(uint32_t len, enum sl_rules_reason reason)
{
	return (struct sl_rules_result){
		.len = len,
		.reason = (uint8_t)reason,
		.valid = reason == SL_REASON_OK || reason == SL_REASON_CONVERTED_15 ||
			 reason == SL_REASON_LANDLINE,
	};
}

/* Values too long to look at (and numbers with broken bytes) are passed on unchanged. */
static struct sl_rules_result unchanged(const char *in, size_t len, char *out,
				       enum sl_rules_reason why)
{
	memcpy(out, in, len);
	return result((uint32_t)len, why);
}

/* ---- Cleaning ----------------------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s (2..4), or 0 if it is broken. s[0] >= 0x80. */
static inline size_t utf8_seq(const uint8_t *s, size_t avail)
{
	uint8_t c = s[0];
	if (c >= 0xC2 && c <= 0xDF)
		return avail >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
		    (s[3] & 0xC0) != 0x80)
			return 0;
		if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
			return 0; /* overlong, past U+10FFFF */
		return 4;
	}
	return 0;
}

/* What a cleaning pass does besides folding full-width characters. */
enum {
	FOLD_COLLAPSE = 1, /* whitespace: runs -> one space, trimmed (text); else dropped */
	FOLD_DROP_SEP = 2, /* '-', '(' and ')' dropped (phones) */
	FOLD_UPPER_X = 4,  /* 'x' -> 'X' (ID numbers) */
};

static inline bool is_ascii_space(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * One pass over in: U+FF01..U+FF5E -> ASCII, whitespace (ASCII, U+3000, U+00A0)
 * collapsed (FOLD_COLLAPSE) or dropped, then the flags' extras on the ASCII result. Writes at
 * most len bytes. *bad: broken UTF-8 or an ASCII control character was seen.
 * Inlined with constant flags, so each field gets its own specialised loop.
 */
static inline __attribute__((always_inline)) size_t fold(const char *in_, size_t len, char *out,
							 unsigned flags, bool *bad)
{
	const uint8_t *in = (const uint8_t *)in_;
	size_t o = 0, i = 0;
	bool space = false, broken = false;
	while (i < len) {
		uint8_t c = in[i];
		size_t n = 1;
		/* Most of an address: CJK ideographs (lead E4..E9), copied as they are. */
		if (c >= 0xE4 && c <= 0xE9 && i + 3 <= len && (in[i + 1] & 0xC0) == 0x80 &&
		    (in[i + 2] & 0xC0) == 0x80) {
			if (SL_UNLIKELY(space)) {
				if ((flags & FOLD_COLLAPSE) && o)
					out[o++] = ' ';
				space = false;
			}
			out[o] = (char)c;
			out[o + 1] = (char)in[i + 1];
			out[o + 2] = (char)in[i + 2];
			o += 3;
			i += 3;
			continue;
		}
		if (c >= 0x80) {
			n = utf8_seq(in + i, len - i);
			if (SL_UNLIKELY(n == 0)) {
				broken = true;
				n = 1;
			} else if (c == 0xEF && n == 3) {
				uint8_t b1 = in[i + 1], b2 = in[i + 2];
				if (b1 == 0xBC && b2 >= 0x81) {
					c = (uint8_t)(b2 - 0x81 + 0x21); /* U+FF01..U+FF3F */
					n = 0;
				} else if (b1 == 0xBD && b2 <= 0x9E) {
					c = (uint8_t)(b2 - 0x80 + 0x60); /* U+FF40..U+FF5E */
					n = 0;
				}
				if (n == 0) {
					i += 3;
					goto ascii;
				}
			} else if ((c == 0xE3 && n == 3 && in[i + 1] == 0x80 &&
				    in[i + 2] == 0x80) ||
				   (c == 0xC2 && n == 2 && in[i + 1] == 0xA0)) {
				i += n;
				space = true;
				continue;
			}
			if (space) {
				if ((flags & FOLD_COLLAPSE) && o)
					out[o++] = ' ';
				space = false;
			}
			/* n is 1..4: byte moves, not a memcpy call. */
			out[o] = (char)in[i];
			if (n > 1)
				out[o + 1] = (char)in[i + 1];
			if (n > 2)
				out[o + 2] = (char)in[i + 2];
			if (n > 3)
				out[o + 3] = (char)in[i + 3];
			o += n;
			i += n;
			continue;
		}
		i++;
	ascii:
		if (is_ascii_space(c)) {
			space = true;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			broken = true;
		if ((flags & FOLD_DROP_SEP) && (c == '-' || c == '(' || c == ')'))
			continue;
		if ((flags & FOLD_UPPER_X) && c == 'x')
			c = 'X';
		if (space) {
			if ((flags & FOLD_COLLAPSE) && o)
				out[o++] = ' ';
			space = false;
		}
		out[o++] = (char)c;
	}
	SL_DASSERT(o <= len);
	*bad = broken;
	return o;
}

size_t sl_rules_clean_text(const char *in, size_t len, char *out, bool *bad_utf8)
{
	return fold(in, len, out, FOLD_COLLAPSE, bad_utf8);
}

bool sl_rules_is_blank(const char *s_, size_t len)
{
	const uint8_t *s = (const uint8_t *)s_;
	for (size_t i = 0; i < len;) {
		if (is_ascii_space(s[i]))
			i++;
		else if (i + 3 <= len && s[i] == 0xE3 && s[i + 1] == 0x80 && s[i + 2] == 0x80)
			i += 3;
		else if (i + 2 <= len && s[i] == 0xC2 && s[i + 1] == 0xA0)
			i += 2;
		else
			return false;
	}
	return true;
}

static inline bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static inline bool all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* ---- Provinces ---------------------------------------------------------------------------- */

/* clang-format off */
const struct sl_rules_province sl_rules_provinces[SL_RULES_N_PROVINCES] = {
	{11, true,  "北京市", "北京", NULL},
	{12, true,  "天津市", "天津", NULL},
	{13, false, "河北省", "河北", NULL},
	{14, false, "山西省", "山西", NULL},
	{15, false, "内蒙古自治区", "内蒙古", NULL},
	{21, false, "辽宁省", "辽宁", NULL},
	{22, false, "吉林省", "吉林", NULL},
	{23, false, "黑龙江省", "黑龙江", NULL},
	{31, true,  "上海市", "上海", NULL},
	{32, false, "江苏省", "江苏", NULL},
	{33, false, "浙江省", "浙江", NULL},
	{34, false, "安徽省", "安徽", NULL},
	{35, false, "福建省", "福建", NULL},
	{36, false, "江西省", "江西", NULL},
	{37, false, "山东省", "山东", NULL},
	{41, false, "河南省", "河南", NULL},
	{42, false, "湖北省", "湖北", NULL},
	{43, false, "湖南省", "湖南", NULL},
	{44, false, "广东省", "广东", NULL},
	{45, false, "广西壮族自治区", "广西", "广西自治区"},
	{46, false, "海南省", "海南", NULL},
	{50, true,  "重庆市", "重庆", NULL},
	{51, false, "四川省", "四川", NULL},
	{52, false, "贵州省", "贵州", NULL},
	{53, false, "云南省", "云南", NULL},
	{54, false, "西藏自治区", "西藏", NULL},
	{61, false, "陕西省", "陕西", NULL},
	{62, false, "甘肃省", "甘肃", NULL},
	{63, false, "青海省", "青海", NULL},
	{64, false, "宁夏回族自治区", "宁夏", "宁夏自治区"},
	{65, false, "新疆维吾尔自治区", "新疆", "新疆自治区"},
	{71, false, "台湾省", "台湾", NULL},
	{81, false, "香港特别行政区", "香港", "香港特区"},
	{82, false, "澳门特别行政区", "澳门", "澳门特区"},
};
/* clang-format on */

const struct sl_rules_province *sl_rules_province_by_code(unsigned code)
{
	/* Indexed by code: 0 = none, else 1 + index in sl_rules_provinces. */
	static const uint8_t by_code[100] = {
		[11] = 1,  [12] = 2,  [13] = 3,  [14] = 4,  [15] = 5,  [21] = 6,  [22] = 7,
		[23] = 8,  [31] = 9,  [32] = 10, [33] = 11, [34] = 12, [35] = 13, [36] = 14,
		[37] = 15, [41] = 16, [42] = 17, [43] = 18, [44] = 19, [45] = 20, [46] = 21,
		[50] = 22, [51] = 23, [52] = 24, [53] = 25, [54] = 26, [61] = 27, [62] = 28,
		[63] = 29, [64] = 30, [65] = 31, [71] = 32, [81] = 33, [82] = 34,
		[83] = 32, /* Taiwan residents' residence permits */
	};
	if (code >= 100 || by_code[code] == 0)
		return NULL;
	return &sl_rules_provinces[by_code[code] - 1];
}

/*
 * Every spelling (full, short, variant) grouped by a hash of its first
 * character, longest first within a bucket so the first hit is the longest
 * match. Built once at load time from the table above; read-only afterwards.
 */
#define NAME_BUCKETS 64u
#define MAX_NAMES (3u * SL_RULES_N_PROVINCES)
struct name_ref {
	const char *s;
	uint8_t len;
	uint8_t province;
	bool is_full;
};
static struct name_ref names[MAX_NAMES];
static uint8_t bucket_first[NAME_BUCKETS + 1];
static uint8_t full_len[SL_RULES_N_PROVINCES]; /* strlen of each full name */

static inline unsigned bucket_of(const uint8_t *s)
{
	return (unsigned)(s[0] * 7u + s[1] * 31u + s[2]) % NAME_BUCKETS;
}

__attribute__((constructor)) static void build_name_index(void)
{
	struct name_ref all[MAX_NAMES];
	unsigned n = 0;
	for (unsigned p = 0; p < SL_RULES_N_PROVINCES; p++) {
		const struct sl_rules_province *pr = &sl_rules_provinces[p];
		const char *sp[3] = {pr->name, pr->short_name, pr->variant};
		full_len[p] = (uint8_t)strlen(pr->name);
		for (unsigned k = 0; k < 3; k++)
			if (sp[k])
				all[n++] = (struct name_ref){sp[k], (uint8_t)strlen(sp[k]),
							     (uint8_t)p, k == 0};
	}
	/* Counting sort by bucket, then insertion sort by length within each. */
	unsigned count[NAME_BUCKETS] = {0};
	for (unsigned i = 0; i < n; i++)
		count[bucket_of((const uint8_t *)all[i].s)]++;
	unsigned at = 0;
	for (unsigned b = 0; b < NAME_BUCKETS; b++) {
		bucket_first[b] = (uint8_t)at;
		at += count[b];
	}
	bucket_first[NAME_BUCKETS] = (uint8_t)at;
	unsigned fill[NAME_BUCKETS];
	for (unsigned b = 0; b < NAME_BUCKETS; b++)
		fill[b] = bucket_first[b];
	for (unsigned i = 0; i < n; i++) {
		unsigned b = bucket_of((const uint8_t *)all[i].s);
		unsigned j = fill[b]++;
		while (j > bucket_first[b] && names[j - 1].len < all[i].len) {
			names[j] = names[j - 1];
			j--;
		}
		names[j] = all[i];
	}
}

/* As sl_rules_province_match, also telling whether the full name matched. */
static const struct sl_rules_province *province_match(const char *s, size_t len, size_t *matched,
						      bool *is_full)
{
	if (len < 6)
		return NULL;
	unsigned b = bucket_of((const uint8_t *)s);
	for (unsigned i = bucket_first[b]; i < bucket_first[b + 1]; i++) {
		const struct name_ref *nr = &names[i];
		/* Every name has two characters or more: the second one filters. */
		if (nr->len <= len && memcmp(nr->s, s, 6) == 0 &&
		    memcmp(nr->s + 6, s + 6, nr->len - 6u) == 0) {
			*matched = nr->len;
			*is_full = nr->is_full;
			return &sl_rules_provinces[nr->province];
		}
	}
	return NULL;
}

const struct sl_rules_province *sl_rules_province_match(const char *s, size_t len, size_t *matched)
{
	bool is_full;
	return province_match(s, len, matched, &is_full);
}

/* ---- Dates -------------------------------------------------------------------------------- */

static inline bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool sl_rules_date_days(int64_t y, unsigned m, unsigned d, int64_t *days)
{
	static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1 || m < 1 || m > 12 || d < 1)
		return false;
	unsigned max = m == 2 && is_leap(y) ? 29u : dim[m - 1];
	if (d > max)
		return false;
	*days = sl_days_from_civil(y, m, d);
	return true;
}

/* ---- Phone numbers ------------------------------------------------------------------------ */

static inline struct sl_rules_result phone_bad(const char *clean, size_t len, char *out,
					       enum sl_rules_reason why)
{
	if (clean != out)
		memmove(out, clean, len);
	return result((uint32_t)len, why);
}

struct sl_rules_result sl_rules_phone(const char *in, size_t len, char *out,
				      enum sl_phone_type *type)
{
	*type = SL_PHONE_INVALID;
	if (SL_UNLIKELY(len > SL_RULES_IN_MAX_BYTES))
		return unchanged(in, len, out, SL_REASON_BAD_LENGTH);
	if (len == 11 && in[0] == '1' && in[1] >= '3' && in[1] <= '9' && all_digits(in + 2, 9)) {
		memcpy(out, in, 11); /* the common case: a clean mobile number */
		*type = SL_PHONE_MOBILE;
		return result(11, SL_REASON_OK);
	}
	bool bad;
	/* Cleaned into out; a valid number is rebuilt from a copy of its digits. */
	size_t n = fold(in, len, out, FOLD_DROP_SEP, &bad);
	if (n == 0)
		return result(0, SL_REASON_EMPTY);
	if (bad) /* unchanged: dropping separators could join broken bytes */
		return unchanged(in, len, out, SL_REASON_BAD_CHAR);
	const char *d = out;
	size_t dl = n;
	bool intl = false;
	if (dl >= 3 && memcmp(d, "+86", 3) == 0) {
		d += 3, dl -= 3, intl = true;
	} else if (dl >= 4 && memcmp(d, "0086", 4) == 0) {
		d += 4, dl -= 4, intl = true;
	} else if (dl == 13 && memcmp(d, "861", 3) == 0 && d[3] >= '3' && d[3] <= '9') {
		d += 2, dl -= 2, intl = true; /* 86 in front of a mobile number */
	} else if (d[0] == '+') {
		return phone_bad(out, n, out, all_digits(d + 1, dl - 1) ? SL_REASON_BAD_PREFIX
									 : SL_REASON_BAD_CHAR);
	}
	if (!all_digits(d, dl))
		return phone_bad(out, n, out, SL_REASON_BAD_CHAR);
	if (dl == 0)
		return phone_bad(out, n, out, SL_REASON_BAD_LENGTH);
	char num[SL_RULES_PHONE_MAX_BYTES + 1];
	/* After a country code a landline drops its trunk 0 (+86 755 …, +86 10 …). */
	bool mobile_like = d[0] == '1' && dl >= 2 && d[1] >= '3' && d[1] <= '9';
	if (intl && d[0] != '0' && !mobile_like) {
		if (dl + 1 > 12)
			return phone_bad(out, n, out, SL_REASON_BAD_LENGTH);
		num[0] = '0';
		memcpy(num + 1, d, dl);
		d = num;
		dl++;
	}
	if (d[0] == '1') {
		if (dl != 11)
			return phone_bad(out, n, out, SL_REASON_BAD_LENGTH);
		if (d[1] < '3' || d[1] > '9')
			return phone_bad(out, n, out, SL_REASON_BAD_PREFIX);
		memmove(out, d, 11);
		*type = SL_PHONE_MOBILE;
		return result(11, SL_REASON_OK);
	}
	if (d[0] != '0')
		return phone_bad(out, n, out, SL_REASON_BAD_PREFIX); /* no area code */
	if (dl < 2 || d[1] == '0' || (d[1] == '1' && (dl < 3 || d[2] != '0')))
		return phone_bad(out, n, out,
				 dl < 3 ? SL_REASON_BAD_LENGTH : SL_REASON_BAD_PREFIX);
	/* 010 and 02x are the three-digit area codes (8-digit local numbers);
	 * every other area code has four digits (7- or 8-digit local numbers). */
	size_t area = d[1] <= '2' ? 3 : 4;
	size_t local = dl > area ? dl - area : 0;
	if (!(local == 8 || (local == 7 && area == 4)))
		return phone_bad(out, n, out, SL_REASON_BAD_LENGTH);
	if (d[area] == '0') /* a local number never starts with the trunk prefix */
		return phone_bad(out, n, out, SL_REASON_BAD_PREFIX);
	char tmp[SL_RULES_PHONE_MAX_BYTES];
	memcpy(tmp, d, area);
	tmp[area] = '-';
	memcpy(tmp + area + 1, d + area, local);
	memcpy(out, tmp, area + 1 + local);
	*type = SL_PHONE_LANDLINE;
	return result((uint32_t)(area + 1 + local), SL_REASON_LANDLINE);
}

/* ---- ID numbers --------------------------------------------------------------------------- */

static const char id_check_chars[] = "10X98765432";
static const uint8_t id_weights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};

char sl_rules_id_check_char(const char *first17)
{
	uint32_t sum = 0;
	for (int i = 0; i < 17; i++) {
		if (!is_digit(first17[i]))
			return 0;
		sum += (uint32_t)(first17[i] - '0') * id_weights[i];
	}
	return id_check_chars[sum % 11];
}

static inline unsigned digits2(const char *s)
{
	return (unsigned)(s[0] - '0') * 10u + (unsigned)(s[1] - '0');
}

/* Checks the birth date (YYYYMMDD at s) and the region of an 18-digit number. */
static enum sl_rules_reason id_date_region(const char *id, int64_t today_days,
					   struct sl_rules_id_info *info)
{
	int64_t y = (int64_t)digits2(id + 6) * 100 + digits2(id + 8);
	int64_t days;
	if (y < SL_RULES_MIN_BIRTH_YEAR || !sl_rules_date_days(y, digits2(id + 10),
							       digits2(id + 12), &days) ||
	    days > today_days)
		return SL_REASON_BAD_BIRTH_DATE;
	const struct sl_rules_province *p = sl_rules_province_by_code(digits2(id));
	if (!p)
		return SL_REASON_BAD_REGION;
	info->birth_days = days;
	info->gender = (id[16] - '0') % 2 ? 'M' : 'F';
	info->province = (uint8_t)(p - sl_rules_provinces);
	return SL_REASON_OK;
}

/* Eight ASCII digits in x (bytes in '0'..'9'): a borrow or carry can only start at a
 * lane that is itself flagged, so the test is exact. */
static inline bool digits8(uint64_t x)
{
	return (((x - 0x3030303030303030ull) | (x + 0x4646464646464646ull)) &
		0x8080808080808080ull) == 0;
}

/* 17 digits and a digit or 'X': an 18-character ID number as it should be. */
static inline bool plain_id18(const char *s)
{
	uint64_t a, b;
	memcpy(&a, s, 8);
	memcpy(&b, s + 8, 8);
	return digits8(a) && digits8(b) && is_digit(s[16]) && (is_digit(s[17]) || s[17] == 'X');
}

struct sl_rules_result sl_rules_id_number(const char *in, size_t len, char *out, int64_t today_days,
					  struct sl_rules_id_info *info)
{
	struct sl_rules_id_info dummy;
	if (!info)
		info = &dummy;
	if (SL_UNLIKELY(len > SL_RULES_IN_MAX_BYTES))
		return unchanged(in, len, out, SL_REASON_BAD_LENGTH);
	bool bad = false;
	size_t n;
	if (len == 18 && plain_id18(in)) { /* the common case: nothing to clean */
		memcpy(out, in, 18);
		n = 18;
	} else {
		n = fold(in, len, out, FOLD_UPPER_X, &bad);
	}
	if (n == 0)
		return result(0, SL_REASON_EMPTY);
	if (bad) /* unchanged: dropping whitespace could join broken bytes */
		return unchanged(in, len, out, SL_REASON_BAD_CHAR);
	if (n == 18) {
		if (!all_digits(out, 17) || !(is_digit(out[17]) || out[17] == 'X'))
			return result(18, SL_REASON_BAD_CHAR);
		if (sl_rules_id_check_char(out) != out[17])
			return result(18, SL_REASON_BAD_CHECK_DIGIT);
		return result(18, id_date_region(out, today_days, info));
	}
	if (n == 15) {
		if (!all_digits(out, 15))
			return result(15, SL_REASON_BAD_CHAR);
		char id[18];
		memcpy(id, out, 6);
		id[6] = '1';
		id[7] = '9';
		memcpy(id + 8, out + 6, 9);
		id[17] = sl_rules_id_check_char(id);
		enum sl_rules_reason why = id_date_region(id, today_days, info);
		if (why != SL_REASON_OK)
			return result(15, why);
		memcpy(out, id, 18);
		return result(18, SL_REASON_CONVERTED_15);
	}
	return result((uint32_t)n, SL_REASON_BAD_LENGTH);
}

/* ---- Addresses ---------------------------------------------------------------------------- */

/* Characters that matter to the city and district scan, as their three UTF-8
 * bytes in one integer (see han_at). */
enum {
	CH_SHI = 0xE5B882,   /* 市 */
	CH_MENG = 0xE79B9F,  /* 盟 */
	CH_QU = 0xE58CBA,    /* 区 */
	CH_XIAN = 0xE58EBF,  /* 县 */
	CH_DI = 0xE59CB0,    /* 地 */
	CH_ZHOU = 0xE5B79E,  /* 州 */
	CH_ZI = 0xE887AA,    /* 自 */
	CH_ZHI = 0xE6B2BB,   /* 治 */
	CH_LU = 0xE8B7AF,    /* 路 */
	CH_JIE = 0xE8A197,   /* 街 */
	CH_HAO = 0xE58FB7,   /* 号 */
	CH_XIANG = 0xE5B7B7, /* 巷 */
	CH_NONG = 0xE5BC84,  /* 弄 */
};

/* The CJK unified ideograph (U+4E00..U+9FFF: lead byte E4..E9, two continuation
 * bytes) at s as its three bytes in one integer, or 0 if there is none. */
static inline uint32_t han_at(const char *s, size_t avail)
{
	if (avail < 3)
		return 0;
	const uint8_t *u = (const uint8_t *)s;
	if (u[0] < 0xE4 || u[0] > 0xE9 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80)
		return 0;
	return (uint32_t)u[0] << 16 | (uint32_t)u[1] << 8 | u[2];
}

/* A character that ends a place name's scan: a street, a number. */
static inline bool ch_street(uint32_t c)
{
	return c == CH_LU || c == CH_JIE || c == CH_HAO || c == CH_XIANG || c == CH_NONG;
}

/* Bytes of a city name starting at s (…市, …盟, …地区, …自治州), or 0. */
static size_t scan_city(const char *s, size_t len)
{
	uint32_t prev = 0, prev2 = 0, c;
	for (size_t k = 0, at = 0; k < SL_RULES_CITY_MAX_CHARS && (c = han_at(s + at, len - at));
	     k++, at += 3) {
		if (k >= 1 && (c == CH_SHI || c == CH_MENG))
			return at + 3;
		if (k >= 2 && c == CH_QU && prev == CH_DI)
			return at + 3;
		if (k >= 3 && c == CH_ZHOU && prev == CH_ZHI && prev2 == CH_ZI)
			return at + 3;
		if (c == CH_QU || c == CH_XIAN || c == CH_SHI || ch_street(c))
			return 0;
		prev2 = prev;
		prev = c;
	}
	return 0;
}

/* Bytes of a district name starting at s (…区, …县, …市), or 0. */
static size_t scan_district(const char *s, size_t len)
{
	uint32_t c;
	for (size_t k = 0, at = 0;
	     k < SL_RULES_DISTRICT_MAX_CHARS && (c = han_at(s + at, len - at)); k++, at += 3) {
		if (c == CH_QU || c == CH_XIAN || c == CH_SHI)
			return k >= 1 ? at + 3 : 0;
		if (ch_street(c))
			return 0;
	}
	return 0;
}

struct sl_rules_result sl_rules_address(const char *in, size_t len, char *out,
					struct sl_rules_address_info *info)
{
	*info = (struct sl_rules_address_info){.province = -1};
	if (SL_UNLIKELY(len > SL_RULES_IN_MAX_BYTES))
		return unchanged(in, len, out, SL_REASON_BAD_LENGTH);
	bool bad;
	size_t n = fold(in, len, out, FOLD_COLLAPSE, &bad);
	if (n == 0)
		return result(0, SL_REASON_EMPTY);
	if (bad)
		return result((uint32_t)n, SL_REASON_BAD_CHAR);
	size_t matched;
	bool is_full;
	const struct sl_rules_province *p = province_match(out, n, &matched, &is_full);
	if (!p)
		return result((uint32_t)n, SL_REASON_NO_PROVINCE);
	size_t full = full_len[p - sl_rules_provinces];
	/* A short name followed by 市 names the prefecture city (吉林市): keep it and
	 * put the province's full name in front. */
	if (!is_full && !p->municipality && han_at(out + matched, n - matched) == CH_SHI)
		matched = 0;
	if (!is_full || matched == 0) {
		SL_ASSERT(full + n - matched <= n + SL_RULES_GROWTH_BYTES);
		/* Standardising again must see the same length class. */
		if (full + n - matched > SL_RULES_IN_MAX_BYTES)
			return result((uint32_t)n, SL_REASON_BAD_LENGTH);
		memmove(out + full, out + matched, n - matched);
		memcpy(out, p->name, full);
		n = full + n - matched;
	}
	info->province = (int)(p - sl_rules_provinces);
	size_t at = full;
	if (at < n && out[at] == ' ')
		at++;
	if (p->municipality) {
		info->city_off = 0;
		info->city_len = (uint32_t)full;
	} else {
		size_t c = scan_city(out + at, n - at);
		if (c) {
			info->city_off = (uint32_t)at;
			info->city_len = (uint32_t)c;
			at += c;
			if (at < n && out[at] == ' ')
				at++;
		}
	}
	size_t dl = scan_district(out + at, n - at);
	if (dl) {
		info->district_off = (uint32_t)at;
		info->district_len = (uint32_t)dl;
	}
	return result((uint32_t)n, SL_REASON_OK);
}

/* ---- Names -------------------------------------------------------------------------------- */

struct sl_rules_result sl_rules_name(const char *in, size_t len, char *out)
{
	if (SL_UNLIKELY(len > SL_RULES_IN_MAX_BYTES))
		return unchanged(in, len, out, SL_REASON_BAD_LENGTH);
	bool bad;
	size_t n = fold(in, len, out, FOLD_COLLAPSE, &bad);
	if (n == 0)
		return result(0, SL_REASON_EMPTY);
	for (size_t i = 0; i < n && !bad; i++)
		bad = is_digit(out[i]);
	if (bad)
		return result((uint32_t)n, SL_REASON_BAD_CHAR);
	if (n > SL_RULES_NAME_MAX_BYTES)
		return result((uint32_t)n, SL_REASON_BAD_LENGTH);
	return result((uint32_t)n, SL_REASON_OK);
}
