/* Customer-record rules: standardise and validate Chinese phone numbers, resident ID
 * numbers, addresses and names. Pure functions over bytes (any thread, no allocation);
 * the `standardize` and `quality` steps are built on them. */
#ifndef SL_RULES_H
#define SL_RULES_H

#include <assert.h>

#include "core/common.h"

/*
 * Every rule reads in[0..len) (arbitrary bytes, need not be UTF-8 or
 * NUL-terminated) and writes the standardised value to out, which must hold
 * sl_rules_out_cap(len) bytes. The value written is:
 *   - valid input: the standard form (mobile "13812345678", landline
 *     "0755-12345678", an 18-character ID number, a cleaned address that starts
 *     with the province's full name, a cleaned name);
 *   - invalid input: the input as cleaned (full-width folded, separators or
 *     whitespace handled as for that field), so a value can be inspected and
 *     standardising it again gives the same bytes;
 *   - input longer than SL_RULES_IN_MAX_BYTES: the input unchanged (bad_length).
 * Every rule is idempotent: standardising the value written gives the same
 * value, the same validity, and (except converted_15, which becomes ok) the same
 * reason.
 */

/* Longest value a rule looks at; longer values are bad_length and copied as they are. */
#define SL_RULES_IN_MAX_BYTES 4096u
/* Most bytes a rule adds to its input: a short province name replaced by the full
 * one (新疆 -> 新疆维吾尔自治区: 18), a 15-digit ID number converted (3), a landline's dash. */
#define SL_RULES_GROWTH_BYTES 32u
/* Longest valid name, in bytes after cleaning (about 32 Chinese characters). */
#define SL_RULES_NAME_MAX_BYTES 96u
/* Longest standardised phone number: "0755-12345678". */
#define SL_RULES_PHONE_MAX_BYTES 13u
/* Characters scanned for a city (…市, …自治州, …地区, …盟) or a district (…区, …县, …市). */
#define SL_RULES_CITY_MAX_CHARS 10u
#define SL_RULES_DISTRICT_MAX_CHARS 8u
/* Earliest birth year an ID number may encode (GB 11643's own example is 1880). */
#define SL_RULES_MIN_BIRTH_YEAR 1800
/* Province-level divisions: 23 provinces (incl. Taiwan), 5 autonomous regions,
 * 4 municipalities, 2 special administrative regions. */
#define SL_RULES_N_PROVINCES 34u

static_assert(SL_RULES_GROWTH_BYTES >= 18u + 3u, "the longest short->full province growth fits");
static_assert(SL_RULES_IN_MAX_BYTES + SL_RULES_GROWTH_BYTES < (1u << 16), "lengths fit 16 bits");

static inline size_t sl_rules_out_cap(size_t in_len)
{
	return in_len + SL_RULES_GROWTH_BYTES;
}

/* Why a value is (in)valid. Valid: ok, converted_15, landline. */
enum sl_rules_reason {
	SL_REASON_OK = 0,
	SL_REASON_NULL,            /* SQL NULL */
	SL_REASON_EMPTY,           /* nothing left after cleaning */
	SL_REASON_BAD_LENGTH,      /* wrong number of digits / characters, or too long */
	SL_REASON_BAD_CHAR,        /* a character the field may not hold (or broken UTF-8) */
	SL_REASON_BAD_CHECK_DIGIT, /* ID number: ISO 7064 MOD 11-2 check character */
	SL_REASON_BAD_BIRTH_DATE,  /* ID number: no such date, before 1800, or in the future */
	SL_REASON_BAD_REGION,      /* ID number: first two digits are no province's code */
	SL_REASON_CONVERTED_15,    /* ID number: a valid 15-digit legacy number, now 18 */
	SL_REASON_NO_PROVINCE,     /* address: does not start with a province-level division */
	SL_REASON_LANDLINE,        /* phone: a valid landline with area code */
	SL_REASON_BAD_PREFIX,      /* phone: no mobile 1[3-9] nor area code, bad local number */
	SL_REASON__COUNT
};

/* "ok", "null", "empty", "bad_length", … (the names the steps write). */
const char *sl_rules_reason_name(enum sl_rules_reason r);
/* The reason called name (len bytes), or -1. */
int sl_rules_reason_parse(const char *name, size_t len);

/* What one rule found. */
struct sl_rules_result {
	uint32_t len;   /* bytes written to out */
	uint8_t reason; /* enum sl_rules_reason */
	bool valid;
};

/* ---- Phone numbers ---- */

enum sl_phone_type { SL_PHONE_INVALID = 0, SL_PHONE_MOBILE, SL_PHONE_LANDLINE };
/* "invalid", "mobile", "landline". */
const char *sl_rules_phone_type_name(enum sl_phone_type t);

/*
 * A Chinese phone number. Cleaning folds full-width characters and drops
 * whitespace (ASCII, U+3000, U+00A0), '-', '(' and ')'. Then a country code
 * +86 or 0086 (or a bare 86 in front of an 11-digit mobile) is dropped; after
 * it a landline may omit the trunk 0 (+86 755 …, +86 10 …).
 *   mobile:   1[3-9] and 9 more digits            -> "13812345678"
 *   landline: area code 010 / 02x (then 8 digits) or 0[3-9]xx (then 7 or 8
 *             digits); the local number does not start with 0 -> "0755-1234567"
 * Reasons: ok (mobile), landline, null/empty, bad_char (anything but digits
 * after cleaning, or a '+' not followed by 86), bad_length, bad_prefix (1[012],
 * 00 other than 0086, 01[1-9], no area code, a local number starting with 0).
 * *type is SL_PHONE_INVALID unless valid.
 */
struct sl_rules_result sl_rules_phone(const char *in, size_t len, char *out,
				      enum sl_phone_type *type);

/* ---- Resident ID numbers (GB 11643-1999) ---- */

/* What a valid ID number encodes. */
struct sl_rules_id_info {
	int64_t birth_days; /* days since 1970-01-01 */
	char gender;        /* 'M' (17th digit odd) or 'F' */
	uint8_t province;   /* index in sl_rules_provinces */
};

/*
 * An 18-character resident ID number. Cleaning folds full-width characters,
 * drops whitespace anywhere and upper-cases x. Checks, in order: length (15 or
 * 18), characters (digits; the 18th may be X), the check character (ISO 7064
 * MOD 11-2), the birth date (a real date, year >= SL_RULES_MIN_BIRTH_YEAR, not
 * after today_days, days since 1970-01-01), the region (first two digits a
 * province-level code; 83, the code of Taiwan residents' residence permits,
 * counts as Taiwan). A valid 15-digit number is converted (19 inserted before
 * its YYMMDD, check character computed): reason converted_15. info is filled
 * when valid (may be NULL).
 */
struct sl_rules_result sl_rules_id_number(const char *in, size_t len, char *out, int64_t today_days,
					  struct sl_rules_id_info *info);
/* The check character ('0'-'9' or 'X') for 17 digits; 0 if one is not a digit. */
char sl_rules_id_check_char(const char *first17);

/* ---- Addresses ---- */

struct sl_rules_address_info {
	int province; /* index in sl_rules_provinces, or -1 */
	/* City and district as byte ranges of out (len 0: none). A municipality's
	 * city is the municipality (北京市). */
	uint32_t city_off, city_len;
	uint32_t district_off, district_len;
};

/*
 * A postal address. Cleaning folds full-width characters (U+FF01..U+FF5E to
 * ASCII), turns whitespace runs (ASCII, U+3000, U+00A0) into one space, trims.
 * The address must start with a province-level division, by full name
 * (广东省), short name (广东) or a common variant (广西自治区): the value
 * written starts with the full name. Then a city (…市, …自治州, …地区, …盟,
 * at most SL_RULES_CITY_MAX_CHARS characters) and a district (…区, …县, …市,
 * at most SL_RULES_DISTRICT_MAX_CHARS) are recognised when they follow, one
 * space allowed before each; a name holding 路 街 号 巷 弄 (or 区 县 for a
 * city) is not taken. A short name followed by 市 is a prefecture city of
 * that province (吉林市 -> 吉林省吉林市). Reasons: ok, null/empty, bad_char
 * (broken UTF-8, control characters), no_province.
 */
struct sl_rules_result sl_rules_address(const char *in, size_t len, char *out,
					struct sl_rules_address_info *info);

/* ---- Names ---- */

/*
 * A person's name: cleaned as an address. Reasons: ok, null/empty, bad_char
 * (broken UTF-8, control characters, digits), bad_length (more than
 * SL_RULES_NAME_MAX_BYTES after cleaning).
 */
struct sl_rules_result sl_rules_name(const char *in, size_t len, char *out);

/* ---- Shared pieces ---- */

/*
 * Folds full-width characters U+FF01..U+FF5E to ASCII, turns runs of
 * whitespace (ASCII, U+3000 ideographic space, U+00A0) into one ' ' and trims
 * both ends; every other byte is copied. out holds len bytes (the result is
 * never longer). *bad_utf8 tells whether in held broken UTF-8 (overlong forms,
 * surrogates, truncated or stray bytes) or ASCII control characters. Returns
 * the length written.
 */
size_t sl_rules_clean_text(const char *in, size_t len, char *out, bool *bad_utf8);
/* True if s holds nothing but whitespace (as sl_rules_clean_text counts it). */
bool sl_rules_is_blank(const char *s, size_t len);

/* A province-level division. */
struct sl_rules_province {
	uint8_t code;       /* first two digits of its ID numbers and area codes: 11..82 */
	bool municipality;  /* 直辖市: no prefecture level, the city is itself */
	const char *name;   /* full name: 广东省, 北京市, 广西壮族自治区, 香港特别行政区 */
	const char *short_name; /* 广东, 北京, 广西, 香港 */
	const char *variant;    /* another common spelling (广西自治区), or NULL */
};
extern const struct sl_rules_province sl_rules_provinces[SL_RULES_N_PROVINCES];
/* The province with two-digit code (11..82, 83 = Taiwan), or NULL. */
const struct sl_rules_province *sl_rules_province_by_code(unsigned code);
/* The province whose name (full, short or variant: the longest that matches)
 * starts s; *matched = bytes of that name. NULL if none. */
const struct sl_rules_province *sl_rules_province_match(const char *s, size_t len, size_t *matched);

/* Days since 1970-01-01 of the calendar date in China Standard Time (UTC+8) at
 * wall-clock time wall_ms (ms since the epoch): "today" for birth dates. */
static inline int64_t sl_rules_today_days(int64_t wall_ms)
{
	int64_t t = wall_ms + 8 * 3600000ll;
	return t >= 0 ? t / 86400000ll : -((-t + 86399999ll) / 86400000ll);
}

/* Days since 1970-01-01 of a valid date (y >= 1, 1 <= m <= 12, d within the month);
 * false if there is no such date. */
bool sl_rules_date_days(int64_t y, unsigned m, unsigned d, int64_t *days);

#endif
