/* libFuzzer target: every rule of operators/rules on arbitrary bytes, checking the promises
 * rules.h makes: bounded output, the shape of valid values, and idempotence (standardising
 * a standardised value changes nothing). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/value.h"
#include "operators/rules.h"

#define CAP (SL_RULES_IN_MAX_BYTES + 64u + SL_RULES_GROWTH_BYTES)
static char out[CAP], again[CAP];

#define MUST(cond)                                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_rules: %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool is_valid_reason(uint8_t r)
{
	return r == SL_REASON_OK || r == SL_REASON_CONVERTED_15 || r == SL_REASON_LANDLINE;
}

/* Same value, same validity, same reason (converted_15 becomes ok). */
static void same(struct sl_rules_result a, struct sl_rules_result b)
{
	MUST(b.len == a.len && memcmp(out, again, a.len) == 0);
	MUST(b.valid == a.valid);
	MUST(b.reason == (a.reason == SL_REASON_CONVERTED_15 ? SL_REASON_OK : a.reason));
}

static void common(struct sl_rules_result r, size_t size)
{
	MUST(r.len <= sl_rules_out_cap(size));
	MUST(r.reason < SL_REASON__COUNT && r.reason != SL_REASON_NULL);
	MUST(r.valid == is_valid_reason(r.reason));
	MUST(r.reason != SL_REASON_EMPTY || r.len == 0);
	if (size > SL_RULES_IN_MAX_BYTES)
		MUST(r.reason == SL_REASON_BAD_LENGTH && r.len == size);
}

static void phone(const char *in, size_t size)
{
	enum sl_phone_type t, t2;
	struct sl_rules_result r = sl_rules_phone(in, size, out, &t);
	common(r, size);
	MUST((t != SL_PHONE_INVALID) == r.valid);
	if (r.valid) {
		MUST(r.len <= SL_RULES_PHONE_MAX_BYTES);
		if (t == SL_PHONE_MOBILE) {
			MUST(r.len == 11 && out[0] == '1' && out[1] >= '3' && out[1] <= '9');
			MUST(r.reason == SL_REASON_OK);
		} else {
			MUST(r.reason == SL_REASON_LANDLINE && out[0] == '0' && out[1] != '0');
			const char *dash = memchr(out, '-', r.len);
			MUST(dash && (dash - out == 3 || dash - out == 4));
			MUST(dash[1] != '0');
		}
		for (uint32_t i = 0; i < r.len; i++)
			MUST((out[i] >= '0' && out[i] <= '9') || out[i] == '-');
	}
	struct sl_rules_result r2 = sl_rules_phone(out, r.len, again, &t2);
	same(r, r2);
	MUST(t2 == t);
}

static void id_number(const char *in, size_t size, int64_t today)
{
	struct sl_rules_id_info info, info2;
	struct sl_rules_result r = sl_rules_id_number(in, size, out, today, &info);
	common(r, size);
	if (r.valid) {
		MUST(r.len == 18);
		MUST(sl_rules_id_check_char(out) == out[17]);
		MUST(info.birth_days <= today);
		MUST(info.gender == 'M' || info.gender == 'F');
		MUST(info.province < SL_RULES_N_PROVINCES);
		int64_t y;
		unsigned m, d;
		sl_civil_from_days(info.birth_days, &y, &m, &d);
		char date[9];
		snprintf(date, sizeof(date), "%04lld%02u%02u", (long long)y, m, d);
		MUST(memcmp(out + 6, date, 8) == 0);
	}
	struct sl_rules_result r2 = sl_rules_id_number(out, r.len, again, today, &info2);
	same(r, r2);
	if (r.valid)
		MUST(info2.birth_days == info.birth_days && info2.gender == info.gender &&
		     info2.province == info.province);
}

static void address(const char *in, size_t size)
{
	struct sl_rules_address_info info, info2;
	struct sl_rules_result r = sl_rules_address(in, size, out, &info);
	common(r, size);
	MUST(r.valid == (info.province >= 0));
	if (r.valid) {
		const char *full = sl_rules_provinces[info.province].name;
		MUST(r.len >= strlen(full) && memcmp(out, full, strlen(full)) == 0);
		MUST(info.city_off + info.city_len <= r.len);
		MUST(info.district_off + info.district_len <= r.len);
		MUST(info.district_len == 0 || info.district_off >= info.city_off + info.city_len);
	} else {
		MUST(info.city_len == 0 && info.district_len == 0);
	}
	struct sl_rules_result r2 = sl_rules_address(out, r.len, again, &info2);
	same(r, r2);
	MUST(info2.province == info.province && info2.city_off == info.city_off &&
	     info2.city_len == info.city_len && info2.district_off == info.district_off &&
	     info2.district_len == info.district_len);
}

static void name(const char *in, size_t size)
{
	struct sl_rules_result r = sl_rules_name(in, size, out);
	common(r, size);
	MUST(r.len <= size);
	if (r.valid)
		MUST(r.len <= SL_RULES_NAME_MAX_BYTES && out[0] != ' ' && out[r.len - 1] != ' ');
	struct sl_rules_result r2 = sl_rules_name(out, r.len, again);
	same(r, r2);
}

/* in[0..m) is the spelling s. */
static bool spelt(const char *in, size_t m, const char *s)
{
	return s && strlen(s) == m && memcmp(in, s, m) == 0;
}

static void clean(const char *in, size_t size)
{
	bool bad, bad2;
	size_t n = sl_rules_clean_text(in, size, out, &bad);
	MUST(n <= size);
	MUST((n == 0) == sl_rules_is_blank(in, size));
	size_t n2 = sl_rules_clean_text(out, n, again, &bad2);
	MUST(n2 == n && memcmp(out, again, n) == 0 && bad2 == bad);
	for (size_t i = 0; i + 1 < n; i++)
		MUST(!(out[i] == ' ' && out[i + 1] == ' '));
	size_t m;
	const struct sl_rules_province *p = sl_rules_province_match(in, size, &m);
	if (p)
		MUST(m <= size && (spelt(in, m, p->name) || spelt(in, m, p->short_name) ||
				   spelt(in, m, p->variant)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > SL_RULES_IN_MAX_BYTES + 64)
		return 0;
	const char *in = (const char *)data;
	/* "Today" from 2026-01-01, or earlier so future birth dates are reachable. */
	int64_t today = sl_days_from_civil(2026, 1, 1) - (size ? data[0] % 4 : 0) * 20000;
	phone(in, size);
	id_number(in, size, today);
	address(in, size);
	name(in, size);
	clean(in, size);
	return 0;
}
