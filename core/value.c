/* Typed values as text. */
#include "core/value.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* Howard Hinnant's days_from_civil. */
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	const unsigned doe = (unsigned)(z - era * 146097);
	const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static void trim(const char **s, size_t *len)
{
	while (*len && (**s == ' ' || **s == '\t' || **s == '\r' || **s == '\n')) {
		(*s)++;
		(*len)--;
	}
	while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' ||
			(*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
		(*len)--;
}

static int parse_int(const char *s, size_t len, int64_t *out)
{
	if (len == 0 || len > 20)
		return -EINVAL;
	size_t i = 0;
	bool neg = false;
	if (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-';
		i = 1;
		if (len == 1)
			return -EINVAL;
	}
	uint64_t v = 0;
	for (; i < len; i++) {
		unsigned dgt = (unsigned)(s[i] - '0');
		if (dgt > 9)
			return -EINVAL;
		if (v > (UINT64_MAX - dgt) / 10)
			return -ERANGE;
		v = v * 10 + dgt;
	}
	if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
		return -ERANGE;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned dgt = (unsigned)(s[i] - '0');
		if (dgt > 9)
			return -EINVAL;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

bool sl_civil_valid(int64_t y, unsigned m, unsigned d)
{
	static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m < 1 || m > 12 || d < 1)
		return false;
	unsigned max = mdays[m - 1];
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		max = 29;
	return d <= max;
}

static int parse_date(const char *s, size_t len, int64_t *days)
{
	unsigned y, m, d;
	if (len != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) || digits(s + 5, 2, &m) ||
	    digits(s + 8, 2, &d) || !sl_civil_valid(y, m, d))
		return -EINVAL;
	*days = sl_days_from_civil(y, m, d);
	return 0;
}

static int parse_timestamp(const char *s, size_t len, int64_t *ms)
{
	int64_t days;
	if (len < 10 || parse_date(s, 10, &days) < 0)
		return parse_int(s, len, ms); /* epoch milliseconds */
	int64_t t = days * 86400000ll;
	if (len == 10) {
		*ms = t;
		return 0;
	}
	if (len < 19 || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':')
		return -EINVAL;
	unsigned hh, mi, ss;
	if (digits(s + 11, 2, &hh) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &ss) ||
	    hh > 23 || mi > 59 || ss > 60)
		return -EINVAL;
	t += (int64_t)hh * 3600000 + mi * 60000 + ss * 1000;
	size_t i = 19;
	if (i < len && s[i] == '.') {
		i++;
		unsigned frac = 0, n = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9') {
			if (n < 3)
				frac = frac * 10 + (unsigned)(s[i] - '0');
			n++;
			i++;
		}
		if (n == 0 || n > 9)
			return -EINVAL;
		while (n < 3) {
			frac *= 10;
			n++;
		}
		t += frac;
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
		i++;
	if (i != len)
		return -EINVAL;
	*ms = t;
	return 0;
}

int sl_value_parse(enum sl_type t, const char *s, size_t len, union sl_val *out)
{
	trim(&s, &len);
	int rc;
	char buf[64];
	switch (t) {
	case SL_T_INT:
	case SL_T_BIGINT:
		rc = parse_int(s, len, &out->i);
		if (rc == 0 && t == SL_T_INT && (out->i < INT32_MIN || out->i > INT32_MAX))
			rc = -ERANGE;
		return rc;
	case SL_T_FLOAT:
	case SL_T_DOUBLE: {
		if (len == 0 || len >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, s, len);
		buf[len] = '\0';
		char *end;
		double v = strtod(buf, &end);
		if (end != buf + len)
			return -EINVAL;
		/* strtod takes hex and "inf"; accept only decimal plus NaN/Infinity. */
		for (size_t i = 0; i < len; i++)
			if (buf[i] == 'x' || buf[i] == 'X')
				return -EINVAL;
		out->f = t == SL_T_FLOAT ? (double)(float)v : v;
		return 0;
	}
	case SL_T_BOOL:
		if (len == 4 && strncasecmp(s, "true", 4) == 0)
			out->i = 1;
		else if (len == 5 && strncasecmp(s, "false", 5) == 0)
			out->i = 0;
		else
			return -EINVAL;
		return 0;
	case SL_T_DATE:
		return parse_date(s, len, &out->i);
	case SL_T_TIMESTAMP:
	case SL_T_TIMESTAMP_LTZ:
		return parse_timestamp(s, len, &out->i);
	case SL_T_DECIMAL:
		return sl_decimal_parse(s, len, SL_DECIMAL_MAX_PRECISION, 0, &out->i);
	default:
		return -EINVAL;
	}
}

int sl_value_parse_field(const struct sl_field *f, const char *s, size_t len, union sl_val *out)
{
	if (f->type != SL_T_DECIMAL)
		return sl_value_parse(f->type, s, len, out);
	trim(&s, &len);
	return sl_decimal_parse(s, len, f->precision, f->scale, &out->i);
}

static const int64_t pow10_i64[19] = {
	1ll,
	10ll,
	100ll,
	1000ll,
	10000ll,
	100000ll,
	1000000ll,
	10000000ll,
	100000000ll,
	1000000000ll,
	10000000000ll,
	100000000000ll,
	1000000000000ll,
	10000000000000ll,
	100000000000000ll,
	1000000000000000ll,
	10000000000000000ll,
	100000000000000000ll,
	1000000000000000000ll,
};

int sl_decimal_parse(const char *s, size_t len, unsigned precision, unsigned scale, int64_t *out)
{
	SL_ASSERT(precision >= 1 && precision <= SL_DECIMAL_MAX_PRECISION && scale <= precision);
	/*
	 * value = 0.D x 10^e, D the significant digits. Only D's first
	 * precision + 2 digits matter: the result has at most precision + 1
	 * (more is out of range) and HALF_UP rounding looks at one more.
	 */
	char dig[SL_DECIMAL_MAX_PRECISION + 2];
	unsigned n_dig = 0;
	int64_t int_sig = 0;    /* significant digits before the point */
	int64_t frac_zeros = 0; /* zeros between the point and the first significant digit */
	bool neg = false, any_digit = false, seen_point = false, seen_sig = false;
	size_t i = 0;

	if (i < len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	for (; i < len; i++) {
		char c = s[i];
		if (c == '.' && !seen_point) {
			seen_point = true;
		} else if (c >= '0' && c <= '9') {
			any_digit = true;
			if (c == '0' && !seen_sig) {
				frac_zeros += seen_point;
				continue;
			}
			seen_sig = true;
			if (n_dig < sizeof(dig))
				dig[n_dig++] = c;
			int_sig += !seen_point;
		} else {
			break;
		}
	}
	if (!any_digit)
		return -EINVAL;
	int64_t exp10 = 0;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		bool eneg = false;
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		if (i == len)
			return -EINVAL;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (exp10 < 1000000000)
				exp10 = exp10 * 10 + (s[i] - '0');
		if (eneg)
			exp10 = -exp10;
	}
	if (i != len)
		return -EINVAL;
	if (!seen_sig) {
		*out = 0;
		return 0;
	}
	int64_t e = (int_sig > 0 ? int_sig : -frac_zeros) + exp10;
	/* The unscaled result is D's first k digits (zero-padded), rounded on D[k]. */
	int64_t k = e + (int64_t)scale;
	if (k > (int64_t)precision)
		return -ERANGE; /* D[0] is not 0: at least precision + 1 digits */
	uint64_t v = 0;
	for (int64_t d = 0; d < k; d++)
		v = v * 10 + (uint64_t)(d < (int64_t)n_dig ? dig[d] - '0' : 0);
	if (k >= 0 && k < (int64_t)n_dig && dig[k] >= '5')
		v++;
	if (v >= (uint64_t)pow10_i64[precision])
		return -ERANGE;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

int sl_decimal_format(int64_t v, unsigned scale, char *buf)
{
	SL_ASSERT(scale <= SL_DECIMAL_MAX_PRECISION);
	char tmp[24];
	int n = 0, o = 0;
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	while (n <= (int)scale)
		tmp[n++] = '0'; /* at least one integer digit */
	if (v < 0)
		buf[o++] = '-';
	while (n > (int)scale)
		buf[o++] = tmp[--n];
	if (scale > 0) {
		buf[o++] = '.';
		while (n > 0)
			buf[o++] = tmp[--n];
	}
	buf[o] = '\0';
	return o;
}

static inline void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* YYYY-MM-DD for years 0..9999, no NUL. */
static inline void put_date(char *p, unsigned y, unsigned m, unsigned d)
{
	put2(p, y / 100);
	put2(p + 2, y % 100);
	p[4] = '-';
	put2(p + 5, m);
	p[7] = '-';
	put2(p + 8, d);
	p[10] = '\0';
}

/* A whole number printed without '.' or exponent still reads as a float. */
static int whole_suffix(char *buf, int n)
{
	if (!memchr(buf, '.', (size_t)n) && !memchr(buf, 'e', (size_t)n)) {
		memcpy(buf + n, ".0", 3);
		n += 2;
	}
	return n;
}

int sl_format_double(double v, char *buf)
{
	if (isnan(v))
		return sprintf(buf, "NaN");
	if (isinf(v))
		return sprintf(buf, v > 0 ? "Infinity" : "-Infinity");
	if (fabs(v) < 1e15 && v == (double)(int64_t)v) {
		int o = 0;
		if (signbit(v))
			buf[o++] = '-';
		char ip[24];
		int ni = 0;
		for (uint64_t u = (uint64_t)fabs(v); ni == 0 || u; u /= 10)
			ip[ni++] = (char)('0' + u % 10);
		while (ni)
			buf[o++] = ip[--ni];
		memcpy(buf + o, ".0", 3);
		return o + 2;
	}
	/* Short decimals (0.35, 12.5): the fewest fraction digits k whose
	 * integer v * 10^k reads back as v — without printf. */
	if (fabs(v) < 1e9) {
		static const double p10[] = {1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
		for (int k = 0; k < 6; k++) {
			double x = nearbyint(v * p10[k]);
			if (x / p10[k] != v)
				continue;
			int64_t u = (int64_t)fabs(x);
			char tmp[32];
			int t = 0;
			for (int i = 0; i <= k; i++, u /= 10) /* k + 1 fraction digits */
				tmp[t++] = (char)('0' + u % 10);
			int o = 0;
			if (v < 0)
				buf[o++] = '-';
			if (u == 0)
				buf[o++] = '0';
			char ip[24];
			int ni = 0;
			for (; u; u /= 10)
				ip[ni++] = (char)('0' + u % 10);
			while (ni)
				buf[o++] = ip[--ni];
			buf[o++] = '.';
			while (t)
				buf[o++] = tmp[--t];
			buf[o] = '\0';
			return o;
		}
	}
	int n = 0;
	for (int p = 15; p <= 17; p++) {
		n = sprintf(buf, "%.*g", p, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return whole_suffix(buf, n);
}

int sl_format_float(float v, char *buf)
{
	if (isnan(v))
		return sprintf(buf, "NaN");
	if (isinf(v))
		return sprintf(buf, v > 0 ? "Infinity" : "-Infinity");
	if (fabsf(v) < 1e7f && v == (float)(int64_t)v)
		return sprintf(buf, "%s%lld.0", signbit(v) && v == 0 ? "-" : "", (long long)v);
	int n = 0;
	for (int p = 6; p <= 9; p++) {
		n = sprintf(buf, "%.*g", p, (double)v);
		if (strtof(buf, NULL) == v)
			break;
	}
	return whole_suffix(buf, n);
}

int sl_value_format(enum sl_type t, union sl_val v, char *buf)
{
	switch (t) {
	case SL_T_BOOL:
		return sprintf(buf, v.i ? "true" : "false");
	case SL_T_INT:
	case SL_T_BIGINT:
	case SL_T_DECIMAL: {
		/* Hot in sinks: no printf. */
		char tmp[24];
		int n = 0;
		uint64_t u = v.i < 0 ? 0 - (uint64_t)v.i : (uint64_t)v.i;
		do {
			tmp[n++] = (char)('0' + u % 10);
			u /= 10;
		} while (u);
		int o = 0;
		if (v.i < 0)
			buf[o++] = '-';
		while (n)
			buf[o++] = tmp[--n];
		buf[o] = '\0';
		return o;
	}
	case SL_T_FLOAT:
		return sl_format_float((float)v.f, buf);
	case SL_T_DOUBLE:
		return sl_format_double(v.f, buf);
	case SL_T_DATE: {
		int64_t y;
		unsigned m, d;
		sl_civil_from_days(v.i, &y, &m, &d);
		if (y < 0 || y > 9999)
			return sprintf(buf, "%04lld-%02u-%02u", (long long)y, m, d);
		put_date(buf, (unsigned)y, m, d);
		return 10;
	}
	case SL_T_TIMESTAMP:
	case SL_T_TIMESTAMP_LTZ: {
		int64_t ms = v.i;
		/* Floor division without negating (INT64_MIN has no negation). */
		int64_t days = ms / 86400000 - (ms % 86400000 < 0);
		int64_t rem = ms - days * 86400000;
		int64_t y;
		unsigned m, d;
		sl_civil_from_days(days, &y, &m, &d);
		if (y < 0 || y > 9999)
			return sprintf(buf, "%04lld-%02u-%02u %02u:%02u:%02u.%03u", (long long)y, m,
				       d, (unsigned)(rem / 3600000), (unsigned)(rem / 60000 % 60),
				       (unsigned)(rem / 1000 % 60), (unsigned)(rem % 1000));
		/* Sinks print many of these: digits by hand, no printf. */
		put_date(buf, (unsigned)y, m, d);
		buf[10] = ' ';
		put2(buf + 11, (unsigned)(rem / 3600000));
		buf[13] = ':';
		put2(buf + 14, (unsigned)(rem / 60000 % 60));
		buf[16] = ':';
		put2(buf + 17, (unsigned)(rem / 1000 % 60));
		buf[19] = '.';
		unsigned msec = (unsigned)(rem % 1000);
		buf[20] = (char)('0' + msec / 100);
		put2(buf + 21, msec % 100);
		buf[23] = '\0';
		return 23;
	}
	default:
		buf[0] = '\0';
		return 0;
	}
}

int sl_value_format_field(const struct sl_field *f, union sl_val v, char *buf)
{
	if (f->type == SL_T_DECIMAL)
		return sl_decimal_format(v.i, f->scale, buf);
	return sl_value_format(f->type, v, buf);
}
