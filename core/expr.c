/* Expressions of filter and map steps: a recursive-descent parser that type-checks and folds
 * as it builds nodes, a code generator to a flat register program, and its interpreter. */
#include "core/expr.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/value.h"

/* ------------------------------------------------------------------------------------------ */
/* Program: instructions over a register file                                                  */
/* ------------------------------------------------------------------------------------------ */

/*
 * Registers [0, n_const) hold the expression's constants (copied from the program at the
 * start of an evaluation, never written); the rest are a stack the code generator hands out.
 */
struct reg {
	union {
		int64_t i;
		double f;
		const char *p;
	};
	uint32_t len; /* strings */
	bool null;
};

/* Registers in a scratch: constants plus stack. Generous: a node takes at most two. */
#define REGS_MAX (4u * SL_EXPR_MAX_NODES + 64u)
#define NONE 0xFFFFu
#define ERR_BYTES 256u

static_assert(REGS_MAX < NONE, "register numbers are 16-bit with NONE free");
static_assert(SL_T__COUNT < 256, "types fit a byte (nodes, CAST operands)");

enum op {
	OP_END,
	OP_COL,     /* dst = column imm (numbers, booleans, dates) */
	OP_COL_STR, /* dst = string column imm */
	OP_MOVE,
	OP_NULL,
	OP_JMP,      /* to imm */
	OP_JFALSE,   /* if a is FALSE */
	OP_JTRUE,    /* if a is TRUE */
	OP_JNOTTRUE, /* if a is FALSE or NULL */
	OP_JNOTNULL,
	OP_I2F,  /* integer to DOUBLE */
	OP_D2TS, /* DATE to TIMESTAMP */
	OP_CAST, /* imm: from | to << 8 | try << 16 */
	OP_ADD_I,
	OP_SUB_I,
	OP_MUL_I,
	OP_DIV_I,
	OP_MOD_I,
	OP_NEG_I,
	OP_ADD_F,
	OP_SUB_F,
	OP_MUL_F,
	OP_DIV_F,
	OP_MOD_F,
	OP_NEG_F,
	OP_CMP_I, /* aux: enum cmp */
	OP_CMP_F,
	OP_CMP_S,
	OP_BETWEEN_I,
	OP_BETWEEN_F,
	OP_BETWEEN_S,
	OP_IN_I, /* argv: x, items */
	OP_IN_F,
	OP_IN_S,
	OP_NOT,
	OP_AND,
	OP_OR,
	OP_IS_NULL,
	OP_IS_NOT_NULL,
	OP_IS_TRUE,
	OP_IS_NOT_TRUE,
	OP_IS_FALSE,
	OP_IS_NOT_FALSE,
	OP_NULLIF, /* dst = b is TRUE ? NULL : a */
	OP_LIKE,   /* aux: enum like_kind, imm: escape byte or NO_ESCAPE */
	OP_CONCAT, /* argv */
	OP_CONCAT_WS,
	OP_UPPER,
	OP_LOWER,
	OP_TRIM, /* aux: TRIM_*; b: characters or NONE for spaces */
	OP_LENGTH,
	OP_SUBSTR, /* a s, b start, c len or NONE */
	OP_REPLACE,
	OP_STARTS,
	OP_ENDS,
	OP_POSITION, /* a sub, b s, c from or NONE */
	OP_ABS_I,
	OP_ABS_F,
	OP_ROUND_I, /* b digits or NONE */
	OP_ROUND_F,
	OP_FLOOR,
	OP_CEIL,
	OP_POWER,
	OP_SQRT,
	OP_LN,
	OP_LOG10,
	OP_EXP,
	OP_MS_TO_TS, /* a BIGINT of epoch milliseconds read as a TIMESTAMP */
	OP__COUNT
};

enum cmp { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
/* cmp_tab[kind][sign + 1]: whether a comparison holds when a <=> b is sign. */
static const bool cmp_tab[6][3] = {
	{0, 1, 0}, {1, 0, 1}, {1, 0, 0}, {1, 1, 0}, {0, 0, 1}, {0, 1, 1},
};

enum like_kind { LK_GENERAL, LK_EXACT, LK_PREFIX, LK_SUFFIX, LK_CONTAINS };
#define NO_ESCAPE 256u

enum trim_mode { TRIM_BOTH, TRIM_LEADING, TRIM_TRAILING };

struct insn {
	uint8_t op;
	uint8_t aux;
	uint16_t dst, a, b, c;
	uint16_t n; /* argv count */
	uint32_t imm;
};

struct span {
	uint32_t start, end;
};

struct prog {
	struct insn *code;
	struct span *spans; /* text of the node each instruction belongs to, for messages */
	uint32_t n_code, cap_code;
	struct reg *k;    /* constants */
	uint32_t *k_off;  /* string constants: offset in the pool, else UINT32_MAX */
	uint32_t n_k, cap_k;
	uint16_t *argv;
	uint32_t n_argv, cap_argv;
	uint32_t n_regs;
	uint16_t result;
	bool oom;
	const char *text; /* the expression, for messages */
};

struct sl_expr {
	struct prog pg;
	enum sl_type type;
	bool nullable;
	bool is_const;
	int column;
	char *pool; /* string constants */
	char *text;
	size_t text_len;
};

struct sl_expr_scratch {
	struct reg regs[REGS_MAX];
	char err[ERR_BYTES];
	size_t cap, used;
	char *bytes;
};

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */
/* ------------------------------------------------------------------------------------------ */

/* Bytes of the UTF-8 character at s[i] (a lead byte and its continuation bytes, at most 4;
 * a stray byte is one character), never past n. */
static inline size_t u8len(const char *s, size_t i, size_t n)
{
	size_t k = 1;
	if ((unsigned char)s[i] < 0x80)
		return 1;
	while (k < 4 && i + k < n && ((unsigned char)s[i + k] & 0xC0) == 0x80)
		k++;
	return k;
}

static size_t u8count(const char *s, size_t n)
{
	size_t c = 0;
	for (size_t i = 0; i < n; c++) {
		uint64_t w;
		if (i + 8 <= n && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) {
			/* Eight ASCII characters (no character before them extends into them). */
			c += 7;
			i += 8;
		} else if ((unsigned char)s[i] < 0x80) {
			i++;
		} else {
			i += u8len(s, i, n);
		}
	}
	return c;
}

/* Byte offset of character k (or n if the string is shorter). */
static size_t u8skip(const char *s, size_t n, uint64_t k)
{
	size_t i = 0;
	while (k > 0 && i < n) {
		i += u8len(s, i, n);
		k--;
	}
	return i;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim_ws(const char **s, size_t *n)
{
	while (*n && is_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && is_space((*s)[*n - 1]))
		(*n)--;
}

static int digits_at(const char *s, size_t n, size_t *i, unsigned min, unsigned max,
		     unsigned *out)
{
	unsigned v = 0, k = 0;
	while (*i < n && k < max && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (unsigned)(s[*i] - '0');
		(*i)++;
		k++;
	}
	*out = v;
	return k >= min ? 0 : -EINVAL;
}

/* 'YYYY-M-D' at s[*i]: days since the epoch. */
static int parse_date_at(const char *s, size_t n, size_t *i, int64_t *days)
{
	unsigned y, m, d;
	if (digits_at(s, n, i, 4, 4, &y) || *i >= n || s[(*i)++] != '-' ||
	    digits_at(s, n, i, 1, 2, &m) || *i >= n || s[(*i)++] != '-' ||
	    digits_at(s, n, i, 1, 2, &d) || !sl_civil_valid(y, m, d))
		return -EINVAL;
	*days = sl_days_from_civil(y, m, d);
	return 0;
}

static int parse_date(const char *s, size_t n, int64_t *days)
{
	size_t i = 0;
	trim_ws(&s, &n);
	if (parse_date_at(s, n, &i, days) < 0 || i != n)
		return -EINVAL;
	return 0;
}

/* 'YYYY-M-D[( |T)H:MM[:SS[.fraction]]]': milliseconds since the epoch. */
static int parse_timestamp(const char *s, size_t n, int64_t *ms)
{
	size_t i = 0;
	int64_t days;
	unsigned hh = 0, mi = 0, ss = 0, frac = 0;
	trim_ws(&s, &n);
	if (parse_date_at(s, n, &i, &days) < 0)
		return -EINVAL;
	if (i < n) {
		if (s[i] != ' ' && s[i] != 'T')
			return -EINVAL;
		i++;
		if (digits_at(s, n, &i, 1, 2, &hh) || i >= n || s[i++] != ':' ||
		    digits_at(s, n, &i, 2, 2, &mi))
			return -EINVAL;
		if (i < n && s[i] == ':') {
			i++;
			if (digits_at(s, n, &i, 2, 2, &ss))
				return -EINVAL;
			if (i < n && s[i] == '.') {
				unsigned k = 0;
				i++;
				while (i < n && s[i] >= '0' && s[i] <= '9' && k < 9) {
					if (k < 3)
						frac = frac * 10 + (unsigned)(s[i] - '0');
					k++;
					i++;
				}
				if (k == 0)
					return -EINVAL;
				for (; k < 3; k++)
					frac *= 10;
			}
		}
		if (i != n || hh > 23 || mi > 59 || ss > 59)
			return -EINVAL;
	}
	*ms = days * 86400000ll + hh * 3600000ll + mi * 60000ll + ss * 1000ll + frac;
	return 0;
}

static int parse_bool(const char *s, size_t n, int64_t *out)
{
	static const char *const yes[] = {"true", "t", "yes", "y", "1"};
	static const char *const no[] = {"false", "f", "no", "n", "0"};
	trim_ws(&s, &n);
	for (size_t k = 0; k < SL_ARRAY_LEN(yes); k++) {
		if (strlen(yes[k]) == n && strncasecmp(s, yes[k], n) == 0) {
			*out = 1;
			return 0;
		}
		if (strlen(no[k]) == n && strncasecmp(s, no[k], n) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}

/* Text of a STRING as a value of type t (not STRING). */
static int parse_as(enum sl_type t, const char *s, size_t n, union sl_val *out)
{
	switch (t) {
	case SL_T_BOOL:
		return parse_bool(s, n, &out->i);
	case SL_T_DATE:
		return parse_date(s, n, &out->i);
	case SL_T_TIMESTAMP:
		return parse_timestamp(s, n, &out->i);
	default:
		return sl_value_parse(t, s, n, out);
	}
}

/* Shortest decimal digits that read back as v (as a float when is_float): v = d.ddd x 10^e.
 * Returns the digit count; trailing zeros dropped. v finite and not zero. */
static int shortest_digits(double v, bool is_float, char dig[20], int *e10)
{
	char tmp[40];
	int max = is_float ? 9 : 17;
	for (int p = 1; p <= max; p++) {
		snprintf(tmp, sizeof(tmp), "%.*e", p - 1, fabs(v));
		if (is_float ? strtof(tmp, NULL) == (float)fabs(v) : strtod(tmp, NULL) == fabs(v))
			break;
	}
	int n = 0;
	const char *c = tmp;
	for (; *c && *c != 'e'; c++)
		if (*c >= '0' && *c <= '9')
			dig[n++] = *c;
	*e10 = *c == 'e' ? atoi(c + 1) : 0;
	while (n > 1 && dig[n - 1] == '0')
		n--;
	dig[n] = '\0';
	return n;
}

/* Java's Double.toString / Float.toString: plain from 1e-3 to 1e7, else 1.0E10. */
static int format_java(double v, bool is_float, char *buf)
{
	if (isnan(v))
		return sprintf(buf, "NaN");
	if (isinf(v))
		return sprintf(buf, v > 0 ? "Infinity" : "-Infinity");
	if (v == 0)
		return sprintf(buf, signbit(v) ? "-0.0" : "0.0");
	char dig[20];
	int e10, o = 0;
	int nd = shortest_digits(v, is_float, dig, &e10);
	double a = fabs(v);
	if (v < 0)
		buf[o++] = '-';
	if (a >= 1e-3 && a < 1e7) {
		if (e10 >= 0) {
			for (int i = 0; i <= e10; i++)
				buf[o++] = i < nd ? dig[i] : '0';
			buf[o++] = '.';
			if (nd <= e10 + 1)
				buf[o++] = '0';
			for (int i = e10 + 1; i < nd; i++)
				buf[o++] = dig[i];
		} else {
			buf[o++] = '0';
			buf[o++] = '.';
			for (int i = 0; i < -e10 - 1; i++)
				buf[o++] = '0';
			for (int i = 0; i < nd; i++)
				buf[o++] = dig[i];
		}
		buf[o] = '\0';
		return o;
	}
	buf[o++] = dig[0];
	buf[o++] = '.';
	if (nd == 1)
		buf[o++] = '0';
	for (int i = 1; i < nd; i++)
		buf[o++] = dig[i];
	return o + sprintf(buf + o, "E%d", e10);
}

/* Days past which a DATE is not printed (some 3 billion years: far beyond any real date,
 * near enough that the civil calendar arithmetic cannot overflow). */
#define DATE_PRINT_MAX_DAYS (1ll << 40)

/* YYYY-MM-DD of a DATE; -ERANGE when too far out. */
static int format_date(int64_t days, char *buf)
{
	int64_t y;
	unsigned m, d;
	if (days > DATE_PRINT_MAX_DAYS || days < -DATE_PRINT_MAX_DAYS)
		return -ERANGE;
	sl_civil_from_days(days, &y, &m, &d);
	return sprintf(buf, "%04lld-%02u-%02u", (long long)y, m, d);
}

/* YYYY-MM-DD HH:MM:SS.mmm of a TIMESTAMP (every int64 value fits). */
static int format_timestamp(int64_t ms, char *buf)
{
	int64_t days = ms / 86400000, rem = ms % 86400000;
	if (rem < 0) {
		rem += 86400000;
		days--;
	}
	int n = format_date(days, buf);
	SL_ASSERT(n > 0); /* |days| < 2^37 */
	return n + sprintf(buf + n, " %02u:%02u:%02u.%03u", (unsigned)(rem / 3600000),
			   (unsigned)(rem / 60000 % 60), (unsigned)(rem / 1000 % 60),
			   (unsigned)(rem % 1000));
}

/* round(v, d) half away from zero on the shortest decimal form of v (BigDecimal-like). */
static double round_double(double v, int64_t d)
{
	if (!isfinite(v) || v == 0)
		return v;
	d = d > 400 ? 400 : d < -400 ? -400 : d; /* beyond any double's digits either way */
	char dig[24], tmp[48];
	int e10;
	int nd = shortest_digits(v, false, dig + 1, &e10);
	/* Digits kept: those before position e10 + 1 + d. */
	int64_t keep = (int64_t)e10 + 1 + d;
	if (keep >= nd)
		return v;
	if (keep < 0)
		return 0.0;
	dig[0] = '0'; /* room for a carry */
	bool up = dig[1 + keep] >= '5';
	int last = (int)keep; /* index in dig of the last kept digit */
	if (up) {
		int i = last;
		while (dig[i] == '9')
			dig[i--] = '0';
		dig[i]++;
	}
	dig[last + 1] = '\0';
	/* dig is 0.d0 d1 ... x 10^(e10 + 2) with the leading carry digit. */
	snprintf(tmp, sizeof(tmp), "%s0.%se%d", v < 0 ? "-" : "", dig, e10 + 2);
	return strtod(tmp, NULL);
}

/* round(x, d) for integers: -ERANGE on overflow. */
static int round_int(int64_t x, int64_t d, int64_t *out)
{
	if (d >= 0) {
		*out = x;
		return 0;
	}
	if (d < -18) {
		/* 10^19 and more: only values of at least 5 x 10^18 round away (and overflow). */
		if (x >= 5000000000000000000ll || x <= -5000000000000000000ll)
			return -ERANGE;
		*out = 0;
		return 0;
	}
	int64_t p = 1;
	for (int64_t k = 0; k < -d; k++)
		p *= 10;
	int64_t q = x / p, r = x % p;
	if (r >= p - r)
		q++;
	else if (-r >= p + r && r < 0)
		q--;
	if (__builtin_mul_overflow(q, p, out))
		return -ERANGE;
	return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* LIKE                                                                                        */
/* ------------------------------------------------------------------------------------------ */

/* Whether every escape character in p is followed by %, _ or itself. */
static bool like_valid(const char *p, size_t n, unsigned esc)
{
	if (esc == NO_ESCAPE)
		return true;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] != esc)
			continue;
		if (i + 1 >= n || (p[i + 1] != '%' && p[i + 1] != '_' && (unsigned char)p[i + 1] != esc))
			return false;
		i++;
	}
	return true;
}

/* SQL LIKE of s against p (valid for esc): % any characters, _ one UTF-8 character. */
static bool like_match(const char *s, size_t sn, const char *p, size_t pn, unsigned esc)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;
	while (si < sn) {
		if (pi < pn) {
			unsigned char c = (unsigned char)p[pi];
			if (c == esc) {
				if ((unsigned char)s[si] == (unsigned char)p[pi + 1]) {
					si++;
					pi += 2;
					continue;
				}
			} else if (c == '%') {
				star_p = ++pi;
				star_s = si;
				continue;
			} else if (c == '_') {
				si += u8len(s, si, sn);
				pi++;
				continue;
			} else if ((unsigned char)s[si] == c) {
				si++;
				pi++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		star_s += u8len(s, star_s, sn);
		si = star_s;
		pi = star_p;
	}
	while (pi < pn && p[pi] == '%' && (unsigned char)p[pi] != esc)
		pi++;
	return pi == pn;
}

/* How a constant pattern can be matched without the general matcher. */
static enum like_kind like_classify(const char *p, size_t n, unsigned esc)
{
	size_t pct = 0;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)p[i] == esc || p[i] == '_')
			return LK_GENERAL;
		pct += p[i] == '%';
	}
	if (pct == 0)
		return LK_EXACT;
	if (pct == 1 && p[n - 1] == '%')
		return LK_PREFIX;
	if (pct == 1 && p[0] == '%')
		return LK_SUFFIX;
	if (pct == 2 && n >= 2 && p[0] == '%' && p[n - 1] == '%')
		return LK_CONTAINS;
	return LK_GENERAL;
}

/* ------------------------------------------------------------------------------------------ */
/* Interpreter                                                                                 */
/* ------------------------------------------------------------------------------------------ */

static char *salloc(struct sl_expr_scratch *s, size_t n)
{
	if (SL_UNLIKELY(n > s->cap - s->used))
		return NULL;
	char *p = s->bytes + s->used;
	s->used += n;
	return p;
}

/* Records a data error; the message ends with the part of the expression that failed. */
static int __attribute__((format(printf, 5, 6)))
fail(struct sl_expr_scratch *s, const struct prog *pg, const struct insn *pc, int rc,
     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	const struct span *sp = &pg->spans[pc - pg->code];
	if (pg->text && n > 0 && (size_t)n < sizeof(s->err) - 8 && sp->end > sp->start) {
		uint32_t len = sp->end - sp->start;
		const char *dots = "";
		if (len > 60) {
			len = 60;
			dots = "...";
		}
		snprintf(s->err + n, sizeof(s->err) - (size_t)n, " in `%.*s%s`", (int)len,
			 pg->text + sp->start, dots);
	}
	return rc;
}

/* 'text' for a message: at most 40 bytes, control bytes shown as '?'. */
static void show(char *buf, size_t cap, const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (n > cap - 4 && o >= 3)
		memcpy(buf + o - 3, "...", 3);
	buf[o] = '\0';
}

/* A CAST that may fail: NULL instead for try_cast. */
static int do_cast(struct sl_expr_scratch *s, const struct prog *pg, const struct insn *pc)
{
	struct reg *R = s->regs;
	struct reg a = R[pc->a];
	struct reg *d = &R[pc->dst];
	enum sl_type from = (enum sl_type)(pc->imm & 0xff), to = (enum sl_type)((pc->imm >> 8) & 0xff);
	bool try = (pc->imm >> 16) & 1;
	int rc = 0;
	const char *why = NULL;
	char tmp[48];
	if (a.null) {
		d->null = true;
		return 0;
	}
	d->null = false;
	if (to == SL_T_STRING) {
		int n;
		union sl_val v = {.i = a.i};
		if (from == SL_T_BOOL)
			n = sprintf(tmp, a.i ? "TRUE" : "FALSE");
		else if (sl_type_is_float(from))
			n = format_java(a.f, from == SL_T_FLOAT, tmp);
		else if (from == SL_T_DATE)
			n = format_date(a.i, tmp);
		else if (from == SL_T_TIMESTAMP)
			n = format_timestamp(a.i, tmp);
		else
			n = sl_value_format(from, v, tmp);
		if (n < 0) {
			if (try)
				goto out_null;
			return fail(s, pg, pc, n, "cannot CAST DATE %lld (days) to STRING: out of range",
				    (long long)a.i);
		}
		char *o = salloc(s, (size_t)n);
		if (!o)
			return fail(s, pg, pc, -E2BIG, "string result larger than the scratch (%zu bytes)",
				    s->cap);
		memcpy(o, tmp, (size_t)n);
		d->p = o;
		d->len = (uint32_t)n;
		return 0;
	}
	if (from == SL_T_STRING) {
		union sl_val v;
		rc = parse_as(to, a.p, a.len, &v);
		if (rc == 0) {
			d->i = v.i;
			return 0;
		}
		if (try)
			goto out_null;
		char sh[48];
		show(sh, sizeof(sh), a.p, a.len);
		return fail(s, pg, pc, rc, rc == -ERANGE ? "'%s' is out of range for %s in CAST"
							 : "cannot CAST '%s' to %s",
			    sh, sl_type_name(to));
	}
	switch (to) {
	case SL_T_BOOL:
		d->i = sl_type_is_float(from) ? a.f != 0 : a.i != 0;
		return 0;
	case SL_T_INT:
	case SL_T_BIGINT:
		if (sl_type_is_float(from)) {
			double f = trunc(a.f);
			if (isnan(f)) {
				rc = -EINVAL;
				why = "NaN";
			} else if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0)) {
				rc = -ERANGE;
			} else {
				d->i = (int64_t)f;
			}
		} else {
			d->i = a.i;
		}
		if (rc == 0 && to == SL_T_INT && (d->i < INT32_MIN || d->i > INT32_MAX))
			rc = -ERANGE;
		break;
	case SL_T_FLOAT:
		d->f = (double)(float)(sl_type_is_float(from) ? a.f : (double)a.i);
		return 0;
	case SL_T_DOUBLE:
		d->f = sl_type_is_float(from) ? a.f : (double)a.i;
		return 0;
	case SL_T_DATE: /* from TIMESTAMP */
		d->i = a.i >= 0 ? a.i / 86400000 : -((-(a.i + 1)) / 86400000) - 1;
		return 0;
	case SL_T_TIMESTAMP: /* from DATE */
		if (__builtin_mul_overflow(a.i, 86400000ll, &d->i))
			rc = -ERANGE;
		break;
	default:
		SL_ASSERT(false && "cast checked at compile time");
	}
	if (rc == 0)
		return 0;
	if (try)
		goto out_null;
	if (sl_type_is_float(from))
		format_java(a.f, false, tmp);
	else if (from == SL_T_DATE) {
		if (format_date(a.i, tmp) < 0)
			sprintf(tmp, "%lld (days)", (long long)a.i);
	} else
		sl_value_format(from, (union sl_val){.i = a.i}, tmp);
	return fail(s, pg, pc, rc, "cannot CAST %s %s to %s%s", sl_type_name(from), tmp,
		    sl_type_name(to), why ? "" : ": out of range");
out_null:
	d->null = true;
	return 0;
}

static inline int cmp_str(const struct reg *a, const struct reg *b)
{
	uint32_t n = SL_MIN(a->len, b->len);
	int c = n ? memcmp(a->p, b->p, n) : 0;
	if (c == 0)
		return (a->len > b->len) - (a->len < b->len);
	return (c > 0) - (c < 0);
}

/* 3-valued results: -1 NULL, 0 FALSE, 1 TRUE. */
static inline void set3(struct reg *d, int v)
{
	d->null = v < 0;
	d->i = v > 0;
}
static inline int get3(const struct reg *r)
{
	return r->null ? -1 : r->i != 0;
}
static inline int and3(int a, int b)
{
	return (a == 0 || b == 0) ? 0 : (a < 0 || b < 0) ? -1 : 1;
}
static inline int or3(int a, int b)
{
	return (a == 1 || b == 1) ? 1 : (a < 0 || b < 0) ? -1 : 0;
}

/* Runs the program for one row; constants must already be in the registers. */
static int run(const struct prog *pg, const struct sl_batch *in, uint32_t row,
	       struct sl_expr_scratch *s)
{
	struct reg *R = s->regs;
	const struct insn *code = pg->code, *pc = code;
	s->used = 0;
#define D (R[pc->dst])
#define A (R[pc->a])
#define B (R[pc->b])
#define C (R[pc->c])
#define NULL1                          \
	if (SL_UNLIKELY(A.null)) {     \
		D.null = true;         \
		break;                 \
	}                              \
	D.null = false
#define NULL2                                  \
	if (SL_UNLIKELY(A.null | B.null)) {    \
		D.null = true;                 \
		break;                         \
	}                                      \
	D.null = false
#define E2BIG_FAIL() \
	fail(s, pg, pc, -E2BIG, "string result larger than the scratch (%zu bytes)", s->cap)
	for (;; pc++) {
		switch ((enum op)pc->op) {
		case OP_END:
			return 0;
		case OP_COL: {
			const struct sl_col *c = &in->cols[pc->imm];
			D.null = !((c->valid[row >> 6] >> (row & 63)) & 1);
			D.i = c->v[row].i;
			break;
		}
		case OP_COL_STR: {
			const struct sl_col *c = &in->cols[pc->imm];
			if ((c->valid[row >> 6] >> (row & 63)) & 1) {
				D.null = false;
				D.p = in->heap + c->v[row].s.off;
				D.len = c->v[row].s.len;
			} else {
				D.null = true;
				D.p = "";
				D.len = 0;
			}
			break;
		}
		case OP_MOVE:
			D = A;
			break;
		case OP_NULL:
			D.null = true;
			break;
		case OP_JMP:
			pc = code + pc->imm - 1;
			break;
		case OP_JFALSE:
			if (!A.null && !A.i)
				pc = code + pc->imm - 1;
			break;
		case OP_JTRUE:
			if (!A.null && A.i)
				pc = code + pc->imm - 1;
			break;
		case OP_JNOTTRUE:
			if (A.null || !A.i)
				pc = code + pc->imm - 1;
			break;
		case OP_JNOTNULL:
			if (!A.null)
				pc = code + pc->imm - 1;
			break;
		case OP_I2F:
			D.null = A.null;
			D.f = (double)A.i;
			break;
		case OP_D2TS: {
			NULL1;
			int64_t x = A.i;
			if (__builtin_mul_overflow(x, 86400000ll, &D.i))
				return fail(s, pg, pc, -ERANGE, "DATE out of TIMESTAMP range");
			break;
		}
		case OP_CAST: {
			int rc = do_cast(s, pg, pc);
			if (rc < 0)
				return rc;
			break;
		}
		case OP_ADD_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			if (SL_UNLIKELY(__builtin_add_overflow(x, y, &D.i)))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in +");
			break;
		}
		case OP_SUB_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			if (SL_UNLIKELY(__builtin_sub_overflow(x, y, &D.i)))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in -");
			break;
		}
		case OP_MUL_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			if (SL_UNLIKELY(__builtin_mul_overflow(x, y, &D.i)))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in *");
			break;
		}
		case OP_DIV_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			if (SL_UNLIKELY(y == 0))
				return fail(s, pg, pc, -EDOM, "division by zero");
			if (SL_UNLIKELY(y == -1 && x == INT64_MIN))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in /");
			D.i = x / y;
			break;
		}
		case OP_MOD_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			if (SL_UNLIKELY(y == 0))
				return fail(s, pg, pc, -EDOM, "modulo by zero");
			D.i = y == -1 ? 0 : x % y;
			break;
		}
		case OP_NEG_I: {
			NULL1;
			int64_t x = A.i;
			if (SL_UNLIKELY(x == INT64_MIN))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in unary -");
			D.i = -x;
			break;
		}
		case OP_ADD_F: {
			NULL2;
			D.f = A.f + B.f;
			break;
		}
		case OP_SUB_F: {
			NULL2;
			D.f = A.f - B.f;
			break;
		}
		case OP_MUL_F: {
			NULL2;
			D.f = A.f * B.f;
			break;
		}
		case OP_DIV_F: {
			NULL2;
			D.f = A.f / B.f;
			break;
		}
		case OP_MOD_F: {
			NULL2;
			D.f = fmod(A.f, B.f);
			break;
		}
		case OP_NEG_F: {
			NULL1;
			D.f = -A.f;
			break;
		}
		case OP_CMP_I: {
			NULL2;
			int64_t x = A.i, y = B.i;
			D.i = cmp_tab[pc->aux][(x > y) - (x < y) + 1];
			break;
		}
		case OP_CMP_F: {
			NULL2;
			double x = A.f, y = B.f;
			if (SL_UNLIKELY(isnan(x) || isnan(y)))
				D.i = pc->aux == CMP_NE;
			else
				D.i = cmp_tab[pc->aux][(x > y) - (x < y) + 1];
			break;
		}
		case OP_CMP_S: {
			NULL2;
			D.i = cmp_tab[pc->aux][cmp_str(&A, &B) + 1];
			break;
		}
		case OP_BETWEEN_I: {
			int ge = A.null || B.null ? -1 : A.i >= B.i;
			int le = A.null || C.null ? -1 : A.i <= C.i;
			set3(&D, and3(ge, le));
			break;
		}
		case OP_BETWEEN_F: {
			int ge = A.null || B.null ? -1 : A.f >= B.f;
			int le = A.null || C.null ? -1 : A.f <= C.f;
			set3(&D, and3(ge, le));
			break;
		}
		case OP_BETWEEN_S: {
			int ge = A.null || B.null ? -1 : cmp_str(&A, &B) >= 0;
			int le = A.null || C.null ? -1 : cmp_str(&A, &C) <= 0;
			set3(&D, and3(ge, le));
			break;
		}
		case OP_IN_I:
		case OP_IN_F:
		case OP_IN_S: {
			const uint16_t *v = pg->argv + pc->imm;
			const struct reg *x = &R[v[0]];
			bool found = false, any_null = x->null;
			for (uint32_t k = 1; k < pc->n && !x->null && !found; k++) {
				const struct reg *y = &R[v[k]];
				if (y->null)
					any_null = true;
				else if (pc->op == OP_IN_I)
					found = x->i == y->i;
				else if (pc->op == OP_IN_F)
					found = x->f == y->f;
				else
					found = x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
			}
			set3(&D, found ? 1 : any_null ? -1 : 0);
			break;
		}
		case OP_NOT:
			NULL1;
			D.i = !A.i;
			break;
		case OP_AND:
			set3(&D, and3(get3(&A), get3(&B)));
			break;
		case OP_OR:
			set3(&D, or3(get3(&A), get3(&B)));
			break;
		case OP_IS_NULL:
			D.i = A.null;
			D.null = false;
			break;
		case OP_IS_NOT_NULL:
			D.i = !A.null;
			D.null = false;
			break;
		case OP_IS_TRUE:
			D.i = !A.null && A.i;
			D.null = false;
			break;
		case OP_IS_NOT_TRUE:
			D.i = A.null || !A.i;
			D.null = false;
			break;
		case OP_IS_FALSE:
			D.i = !A.null && !A.i;
			D.null = false;
			break;
		case OP_IS_NOT_FALSE:
			D.i = A.null || A.i;
			D.null = false;
			break;
		case OP_NULLIF:
			if (!B.null && B.i)
				D.null = true;
			else
				D = A;
			break;
		case OP_LIKE: {
			NULL2;
			const char *x = A.p, *p = B.p;
			uint32_t xn = A.len, pn = B.len;
			bool m;
			switch ((enum like_kind)pc->aux) {
			case LK_EXACT:
				m = xn == pn && memcmp(x, p, pn) == 0;
				break;
			case LK_PREFIX:
				m = xn >= pn - 1 && memcmp(x, p, pn - 1) == 0;
				break;
			case LK_SUFFIX:
				m = xn >= pn - 1 && memcmp(x + xn - (pn - 1), p + 1, pn - 1) == 0;
				break;
			case LK_CONTAINS:
				m = pn == 2 || memmem(x, xn, p + 1, pn - 2) != NULL;
				break;
			default:
				if (!like_valid(p, pn, pc->imm))
					return fail(s, pg, pc, -EINVAL,
						    "invalid escape sequence in LIKE pattern");
				m = like_match(x, xn, p, pn, pc->imm);
			}
			D.i = m;
			break;
		}
		case OP_CONCAT: {
			const uint16_t *v = pg->argv + pc->imm;
			size_t total = 0;
			bool null = false;
			for (uint32_t k = 0; k < pc->n; k++) {
				null |= R[v[k]].null;
				total += R[v[k]].len;
			}
			if (null) {
				D.null = true;
				break;
			}
			char *o = salloc(s, total);
			if (!o)
				return E2BIG_FAIL();
			size_t at = 0;
			for (uint32_t k = 0; k < pc->n; k++) {
				if (R[v[k]].len)
					memcpy(o + at, R[v[k]].p, R[v[k]].len);
				at += R[v[k]].len;
			}
			D.null = false;
			D.p = o;
			D.len = (uint32_t)total;
			break;
		}
		case OP_CONCAT_WS: {
			const uint16_t *v = pg->argv + pc->imm;
			const struct reg sep = R[v[0]];
			if (sep.null) {
				D.null = true;
				break;
			}
			size_t total = 0, parts = 0;
			for (uint32_t k = 1; k < pc->n; k++) {
				if (!R[v[k]].null) {
					total += R[v[k]].len;
					parts++;
				}
			}
			if (parts > 1)
				total += (parts - 1) * sep.len;
			char *o = salloc(s, total);
			if (!o)
				return E2BIG_FAIL();
			size_t at = 0;
			parts = 0;
			for (uint32_t k = 1; k < pc->n; k++) {
				const struct reg *r = &R[v[k]];
				if (r->null)
					continue;
				if (parts++ && sep.len) {
					memcpy(o + at, sep.p, sep.len);
					at += sep.len;
				}
				if (r->len)
					memcpy(o + at, r->p, r->len);
				at += r->len;
			}
			D.null = false;
			D.p = o;
			D.len = (uint32_t)total;
			break;
		}
		case OP_UPPER:
		case OP_LOWER: {
			NULL1;
			const char *x = A.p;
			uint32_t n = A.len;
			char *o = salloc(s, n);
			if (!o)
				return E2BIG_FAIL();
			bool up = pc->op == OP_UPPER;
			for (uint32_t k = 0; k < n; k++) {
				char c = x[k];
				if (up && c >= 'a' && c <= 'z')
					c = (char)(c - 32);
				else if (!up && c >= 'A' && c <= 'Z')
					c = (char)(c + 32);
				o[k] = c;
			}
			D.p = o;
			D.len = n;
			break;
		}
		case OP_TRIM: {
			if (A.null || (pc->b != NONE && B.null)) {
				D.null = true;
				break;
			}
			const char *x = A.p, *set = " ";
			size_t n = A.len, set_n = 1;
			if (pc->b != NONE) {
				set = B.p;
				set_n = B.len;
			}
			if (pc->aux != TRIM_TRAILING) {
				while (n > 0) {
					size_t k = u8len(x, 0, n), j = 0;
					for (; j < set_n; j += u8len(set, j, set_n))
						if (u8len(set, j, set_n) == k && memcmp(set + j, x, k) == 0)
							break;
					if (j >= set_n)
						break;
					x += k;
					n -= k;
				}
			}
			if (pc->aux != TRIM_LEADING) {
				while (n > 0) {
					size_t st = n - 1;
					while (st > 0 && n - st < 4 && ((unsigned char)x[st] & 0xC0) == 0x80)
						st--;
					size_t k = n - st, j = 0;
					if (u8len(x, st, n) != k) {
						st = n - 1;
						k = 1;
					}
					for (; j < set_n; j += u8len(set, j, set_n))
						if (u8len(set, j, set_n) == k && memcmp(set + j, x + st, k) == 0)
							break;
					if (j >= set_n)
						break;
					n = st;
				}
			}
			D.null = false;
			D.p = x;
			D.len = (uint32_t)n;
			break;
		}
		case OP_LENGTH:
			NULL1;
			D.i = (int64_t)u8count(A.p, A.len);
			break;
		case OP_SUBSTR: {
			if (A.null || B.null || (pc->c != NONE && C.null)) {
				D.null = true;
				break;
			}
			const char *x = A.p;
			size_t n = A.len;
			int64_t pos = B.i, len = pc->c != NONE ? C.i : INT64_MAX;
			if (len < 0) {
				D.null = true;
				break;
			}
			int64_t nchars = (int64_t)u8count(x, n), start, end;
			D.null = false;
			D.p = x;
			D.len = 0;
			if (pos > 0) {
				start = pos - 1;
				if (start >= nchars)
					break;
			} else if (pos < 0) {
				if (pos < -nchars)
					break;
				start = nchars + pos;
			} else {
				start = 0;
			}
			end = nchars - start < len ? nchars : start + len;
			size_t b0 = u8skip(x, n, (uint64_t)start);
			size_t b1 = b0 + u8skip(x + b0, n - b0, (uint64_t)(end - start));
			D.p = x + b0;
			D.len = (uint32_t)(b1 - b0);
			break;
		}
		case OP_REPLACE: {
			if (A.null || B.null || C.null) {
				D.null = true;
				break;
			}
			struct reg x = A, f = B, t = C;
			D.null = false;
			if (f.len == 0 || f.len > x.len) {
				D = x;
				break;
			}
			size_t hits = 0;
			for (const char *q = x.p, *e = x.p + x.len;
			     (q = memmem(q, (size_t)(e - q), f.p, f.len)); q += f.len)
				hits++;
			size_t total = x.len + hits * t.len - hits * f.len;
			char *o = salloc(s, total);
			if (!o)
				return E2BIG_FAIL();
			size_t at = 0;
			const char *q = x.p, *e = x.p + x.len;
			for (const char *h; (h = memmem(q, (size_t)(e - q), f.p, f.len)); q = h + f.len) {
				memcpy(o + at, q, (size_t)(h - q));
				at += (size_t)(h - q);
				if (t.len)
					memcpy(o + at, t.p, t.len);
				at += t.len;
			}
			if (e > q)
				memcpy(o + at, q, (size_t)(e - q));
			D.p = o;
			D.len = (uint32_t)total;
			break;
		}
		case OP_STARTS:
			NULL2;
			D.i = A.len >= B.len && memcmp(A.p, B.p, B.len) == 0;
			break;
		case OP_ENDS:
			NULL2;
			D.i = A.len >= B.len && memcmp(A.p + A.len - B.len, B.p, B.len) == 0;
			break;
		case OP_POSITION: {
			if (A.null || B.null || (pc->c != NONE && C.null)) {
				D.null = true;
				break;
			}
			int64_t from = pc->c != NONE ? C.i : 1;
			if (from < 1)
				from = 1;
			const char *x = B.p;
			size_t n = B.len;
			size_t b0 = u8skip(x, n, (uint64_t)(from - 1));
			int64_t r = 0;
			if (b0 < n || (b0 == n && (int64_t)u8count(x, n) >= from - 1)) {
				const char *h = A.len ? memmem(x + b0, n - b0, A.p, A.len) : x + b0;
				if (h)
					r = (int64_t)u8count(x, (size_t)(h - x)) + 1;
			}
			D.null = false;
			D.i = r;
			break;
		}
		case OP_ABS_I: {
			NULL1;
			int64_t x = A.i;
			if (SL_UNLIKELY(x == INT64_MIN))
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in abs");
			D.i = x < 0 ? -x : x;
			break;
		}
		case OP_ABS_F:
			NULL1;
			D.f = fabs(A.f);
			break;
		case OP_ROUND_I: {
			if (A.null || (pc->b != NONE && B.null)) {
				D.null = true;
				break;
			}
			int64_t r;
			if (round_int(A.i, pc->b != NONE ? B.i : 0, &r) < 0)
				return fail(s, pg, pc, -ERANGE, "BIGINT overflow in round");
			D.null = false;
			D.i = r;
			break;
		}
		case OP_ROUND_F:
			if (A.null || (pc->b != NONE && B.null)) {
				D.null = true;
				break;
			}
			D.f = round_double(A.f, pc->b != NONE ? B.i : 0);
			D.null = false;
			break;
		case OP_FLOOR:
			NULL1;
			D.f = floor(A.f);
			break;
		case OP_CEIL:
			NULL1;
			D.f = ceil(A.f);
			break;
		case OP_POWER:
			NULL2;
			D.f = pow(A.f, B.f);
			break;
		case OP_SQRT:
			NULL1;
			D.f = sqrt(A.f);
			break;
		case OP_LN:
			NULL1;
			D.f = log(A.f);
			break;
		case OP_LOG10:
			NULL1;
			D.f = log10(A.f);
			break;
		case OP_EXP:
			NULL1;
			D.f = exp(A.f);
			break;
		case OP_MS_TO_TS:
			NULL1;
			D.i = A.i;
			break;
		case OP__COUNT:
		default:
			SL_ASSERT(false && "bad opcode");
		}
	}
#undef D
#undef A
#undef B
#undef C
#undef NULL1
#undef NULL2
#undef E2BIG_FAIL
}

static inline void load_consts(const struct prog *pg, struct sl_expr_scratch *s)
{
	if (pg->n_k)
		memcpy(s->regs, pg->k, pg->n_k * sizeof(struct reg));
}

/* ------------------------------------------------------------------------------------------ */
/* Nodes                                                                                       */
/* ------------------------------------------------------------------------------------------ */

enum nk {
	N_LIT,
	N_COL,
	N_OP,       /* strict: kids into a, b, c (or argv) then one instruction */
	N_AND,
	N_OR,
	N_CASE,     /* aux: 1 has operand, 2 has ELSE; op: comparison for the operand form */
	N_IF,
	N_COALESCE,
	N_NULLIF,   /* op: comparison */
};

struct node {
	uint8_t kind;
	uint8_t op;
	uint8_t type; /* enum sl_type */
	uint8_t aux;
	bool nullable;
	bool is_null; /* literal NULL */
	uint16_t slot;
	uint32_t n_kids;
	uint32_t off;        /* where errors about this node point */
	uint32_t start, end; /* its text */
	uint32_t imm;
	union sl_val v; /* literal; strings as offset/length in the pool */
	struct node **kids;
};

#define ARENA_NODES (2u * SL_EXPR_MAX_NODES + 16u)
#define TMP_NODES (4u * ARENA_NODES)

struct tok {
	uint8_t k;
	uint32_t off, len;
	uint64_t u; /* integer literal */
	double f;   /* decimal literal */
};

enum tk {
	T_EOF,
	T_INT,
	T_DOUBLE,
	T_STR,
	T_IDENT,
	T_QIDENT,
	T_LP,
	T_RP,
	T_COMMA,
	T_EQ,
	T_NE,
	T_LT,
	T_LE,
	T_GT,
	T_GE,
	T_CONCAT,
	T_PLUS,
	T_MINUS,
	T_STAR,
	T_SLASH,
	T_PERCENT,
};

/* Compiler state: one per sl_expr_compile call. */
struct cc {
	const char *text;
	uint32_t len;
	const struct sl_schema *in;
	struct sl_pos pos;
	bool quoted;
	struct sl_diag *d;
	struct tok t;      /* current token */
	uint32_t depth;
	uint32_t n_user;   /* nodes counted against SL_EXPR_MAX_NODES */
	uint32_t n_nodes;  /* arena use */
	struct node nodes[ARENA_NODES];
	struct node *kidpool[ARENA_NODES];
	uint32_t n_kidpool;
	struct node *tmp[TMP_NODES]; /* a stack for argument lists being parsed */
	uint32_t n_tmp;
	char *pool;
	size_t pool_len, pool_cap;
	struct sl_expr_scratch *fold;
	bool failed;
};

/* FILE:LINE:COL of text offset off: columns count UTF-8 characters. */
static struct sl_pos pos_at(const struct cc *cc, uint32_t off)
{
	struct sl_pos p = cc->pos;
	p.col += cc->quoted;
	for (uint32_t i = 0; i < off && i < cc->len;) {
		if (cc->text[i] == '\n') {
			p.line++;
			p.col = 1;
			i++;
		} else {
			p.col++;
			i += (uint32_t)u8len(cc->text, i, cc->len);
		}
	}
	return p;
}

static void *__attribute__((format(printf, 3, 4)))
err(struct cc *cc, uint32_t off, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!cc->failed)
		sl_diag_error(cc->d, pos_at(cc, off), "%s", msg);
	cc->failed = true;
	return NULL;
}

/* Appends bytes to the constant pool; UINT32_MAX when out of memory. */
static uint32_t pool_add(struct cc *cc, const char *s, size_t n)
{
	if (cc->pool_len + n + 1 > cc->pool_cap) {
		size_t cap = cc->pool_cap ? cc->pool_cap : 256;
		while (cap < cc->pool_len + n + 1)
			cap *= 2;
		if (cap > UINT32_MAX)
			return UINT32_MAX;
		char *p = realloc(cc->pool, cap);
		if (!p)
			return UINT32_MAX;
		cc->pool = p;
		cc->pool_cap = cap;
	}
	uint32_t off = (uint32_t)cc->pool_len;
	if (n)
		memcpy(cc->pool + off, s, n);
	cc->pool_len += n;
	return off;
}

static struct node *new_node(struct cc *cc, enum nk kind, uint32_t off, bool counted)
{
	if (counted && ++cc->n_user > SL_EXPR_MAX_NODES)
		return err(cc, off, "expression too large: more than %u nodes", SL_EXPR_MAX_NODES);
	SL_ASSERT(cc->n_nodes < ARENA_NODES);
	struct node *n = &cc->nodes[cc->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->off = n->start = off;
	n->end = off;
	n->slot = NONE;
	return n;
}

/* Pushes n on the temp stack (NULL passes through as a failure). */
static bool push(struct cc *cc, struct node *n)
{
	if (!n)
		return false;
	if (cc->n_tmp >= TMP_NODES) {
		err(cc, n->off, "expression too large: more than %u nodes", SL_EXPR_MAX_NODES);
		return false;
	}
	cc->tmp[cc->n_tmp++] = n;
	return true;
}

static bool set_kids(struct cc *cc, struct node *n, struct node *const *kids, uint32_t k)
{
	SL_ASSERT(cc->n_kidpool + k <= ARENA_NODES);
	n->kids = &cc->kidpool[cc->n_kidpool];
	cc->n_kidpool += k;
	n->n_kids = k;
	memcpy(n->kids, kids, k * sizeof(*kids));
	n->nullable = false;
	for (uint32_t i = 0; i < k; i++)
		n->nullable |= kids[i]->nullable;
	if (k) {
		n->start = SL_MIN(n->start, kids[0]->start);
		n->end = SL_MAX(n->end, kids[k - 1]->end);
	}
	return true;
}

static struct node *lit_int(struct cc *cc, uint32_t off, int64_t v, enum sl_type t)
{
	struct node *n = new_node(cc, N_LIT, off, true);
	if (n) {
		n->type = (uint8_t)t;
		n->v.i = v;
	}
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Code generation                                                                             */
/* ------------------------------------------------------------------------------------------ */

static bool grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	uint32_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * elem);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

static void prog_free(struct prog *pg)
{
	free(pg->code);
	free(pg->spans);
	free(pg->k);
	free(pg->k_off);
	free(pg->argv);
	memset(pg, 0, sizeof(*pg));
}

static uint32_t emit(struct prog *pg, const struct node *n, enum op op, unsigned aux, uint16_t dst,
		     uint16_t a, uint16_t b, uint16_t c, uint32_t imm, uint16_t cnt)
{
	uint32_t cap = pg->cap_code;
	if (!grow((void **)&pg->code, &cap, pg->n_code + 1, sizeof(*pg->code)) ||
	    !grow((void **)&pg->spans, &pg->cap_code, pg->n_code + 1, sizeof(*pg->spans)) ||
	    cap != pg->cap_code) {
		pg->oom = true;
		return 0;
	}
	struct insn *i = &pg->code[pg->n_code];
	*i = (struct insn){.op = (uint8_t)op, .aux = (uint8_t)aux, .dst = dst, .a = a, .b = b,
			   .c = c, .n = cnt, .imm = imm};
	pg->spans[pg->n_code] = (struct span){n ? n->start : 0, n ? n->end : 0};
	return pg->n_code++;
}

static void patch(struct prog *pg, uint32_t at)
{
	if (!pg->oom)
		pg->code[at].imm = pg->n_code;
}

/* Patches a chain of forward jumps (each one's imm holds the previous one) to here. */
static void patch_chain(struct prog *pg, uint32_t at)
{
	while (!pg->oom && at != UINT32_MAX) {
		uint32_t prev = pg->code[at].imm;
		pg->code[at].imm = pg->n_code;
		at = prev;
	}
}

/* Gives every literal under n a constant register. */
static void assign_slots(struct cc *cc, struct prog *pg, struct node *n)
{
	if (n->kind == N_LIT) {
		uint32_t cap = pg->cap_k;
		if (!grow((void **)&pg->k, &cap, pg->n_k + 1, sizeof(*pg->k)) ||
		    !grow((void **)&pg->k_off, &pg->cap_k, pg->n_k + 1, sizeof(*pg->k_off)) ||
		    cap != pg->cap_k) {
			pg->oom = true;
			return;
		}
		struct reg *r = &pg->k[pg->n_k];
		memset(r, 0, sizeof(*r));
		r->null = n->is_null;
		pg->k_off[pg->n_k] = UINT32_MAX;
		if (n->type == SL_T_STRING && !n->is_null) {
			pg->k_off[pg->n_k] = n->v.s.off;
			r->len = n->v.s.len;
			r->p = cc->pool + n->v.s.off;
		} else {
			r->i = n->v.i;
		}
		n->slot = (uint16_t)pg->n_k++;
		return;
	}
	for (uint32_t i = 0; i < n->n_kids; i++)
		assign_slots(cc, pg, n->kids[i]);
}

static bool op_uses_argv(unsigned op)
{
	return op == OP_IN_I || op == OP_IN_F || op == OP_IN_S || op == OP_CONCAT ||
	       op == OP_CONCAT_WS;
}

static uint16_t gen(struct prog *pg, const struct node *n, uint16_t sp);

/* gen, with the result moved to sp. */
static void gen_at(struct prog *pg, const struct node *n, uint16_t sp)
{
	uint16_t r = gen(pg, n, sp);
	if (r != sp)
		emit(pg, n, OP_MOVE, 0, sp, r, NONE, NONE, 0, 0);
}

static uint16_t gen(struct prog *pg, const struct node *n, uint16_t sp)
{
	if (n->kind == N_LIT)
		return n->slot;
	if ((uint32_t)sp + 3 > pg->n_regs)
		pg->n_regs = (uint32_t)sp + 3;
	if (sp + 3u >= REGS_MAX) {
		pg->oom = true;
		return sp;
	}
	switch ((enum nk)n->kind) {
	case N_COL:
		emit(pg, n, n->type == SL_T_STRING ? OP_COL_STR : OP_COL, 0, sp, NONE, NONE, NONE, n->imm,
		     0);
		break;
	case N_OP:
		if (op_uses_argv(n->op)) {
			uint32_t at = pg->n_argv, cap = pg->cap_argv;
			if (!grow((void **)&pg->argv, &cap, at + n->n_kids, sizeof(*pg->argv))) {
				pg->oom = true;
				return sp;
			}
			pg->cap_argv = cap;
			pg->n_argv += n->n_kids;
			for (uint32_t i = 0; i < n->n_kids; i++) {
				uint16_t r = gen(pg, n->kids[i], (uint16_t)(sp + i));
				pg->argv[at + i] = r;
			}
			emit(pg, n, n->op, n->aux, sp, NONE, NONE, NONE, at, (uint16_t)n->n_kids);
		} else {
			uint16_t r[3] = {NONE, NONE, NONE};
			SL_ASSERT(n->n_kids <= 3);
			for (uint32_t i = 0; i < n->n_kids; i++)
				r[i] = n->kids[i] ? gen(pg, n->kids[i], (uint16_t)(sp + i)) : NONE;
			emit(pg, n, n->op, n->aux, sp, r[0], r[1], r[2], n->imm, 0);
		}
		break;
	case N_AND:
	case N_OR: {
		gen_at(pg, n->kids[0], sp);
		uint32_t j = emit(pg, n, n->kind == N_AND ? OP_JFALSE : OP_JTRUE, 0, 0, sp, NONE, NONE, 0,
				  0);
		uint16_t rb = gen(pg, n->kids[1], (uint16_t)(sp + 1));
		emit(pg, n, n->kind == N_AND ? OP_AND : OP_OR, 0, sp, sp, rb, NONE, 0, 0);
		patch(pg, j);
		break;
	}
	case N_CASE: {
		bool has_x = n->aux & 1, has_else = n->aux & 2;
		uint32_t i = 0, end = n->n_kids - has_else, jumps = UINT32_MAX;
		uint16_t rx = NONE;
		if (has_x)
			rx = gen(pg, n->kids[i++], (uint16_t)(sp + 1));
		for (; i + 1 < end; i += 2) {
			uint16_t cond;
			if (has_x) {
				uint16_t rw = gen(pg, n->kids[i], (uint16_t)(sp + 2));
				cond = (uint16_t)(sp + 2);
				emit(pg, n->kids[i], n->op, CMP_EQ, cond, rx, rw, NONE, 0, 0);
			} else {
				cond = gen(pg, n->kids[i], sp);
			}
			uint32_t j = emit(pg, n, OP_JNOTTRUE, 0, 0, cond, NONE, NONE, 0, 0);
			if (has_x) {
				uint16_t rv = gen(pg, n->kids[i + 1], (uint16_t)(sp + 2));
				emit(pg, n, OP_MOVE, 0, sp, rv, NONE, NONE, 0, 0);
			} else {
				gen_at(pg, n->kids[i + 1], sp);
			}
			jumps = emit(pg, n, OP_JMP, 0, 0, NONE, NONE, NONE, jumps, 0);
			patch(pg, j);
		}
		if (has_else)
			gen_at(pg, n->kids[n->n_kids - 1], sp);
		else
			emit(pg, n, OP_NULL, 0, sp, NONE, NONE, NONE, 0, 0);
		patch_chain(pg, jumps);
		break;
	}
	case N_IF: {
		uint16_t rc = gen(pg, n->kids[0], sp);
		uint32_t j = emit(pg, n, OP_JNOTTRUE, 0, 0, rc, NONE, NONE, 0, 0);
		gen_at(pg, n->kids[1], sp);
		uint32_t je = emit(pg, n, OP_JMP, 0, 0, NONE, NONE, NONE, 0, 0);
		patch(pg, j);
		gen_at(pg, n->kids[2], sp);
		patch(pg, je);
		break;
	}
	case N_COALESCE: {
		uint32_t jumps = UINT32_MAX;
		for (uint32_t i = 0; i < n->n_kids; i++) {
			gen_at(pg, n->kids[i], sp);
			if (i + 1 < n->n_kids)
				jumps = emit(pg, n, OP_JNOTNULL, 0, 0, sp, NONE, NONE, jumps, 0);
		}
		patch_chain(pg, jumps);
		break;
	}
	case N_NULLIF: {
		uint16_t ra = gen(pg, n->kids[0], sp);
		uint16_t rb = gen(pg, n->kids[1], (uint16_t)(sp + 1));
		emit(pg, n, n->op, CMP_EQ, (uint16_t)(sp + 1), ra, rb, NONE, 0, 0);
		emit(pg, n, OP_NULLIF, 0, sp, ra, (uint16_t)(sp + 1), NONE, 0, 0);
		break;
	}
	case N_LIT:
		break;
	}
	return sp;
}

/* Generates the whole program for n; false when out of memory. */
static bool gen_prog(struct cc *cc, struct prog *pg, struct node *n)
{
	memset(pg, 0, sizeof(*pg));
	pg->text = cc->text;
	assign_slots(cc, pg, n);
	if (pg->n_k + 4 >= REGS_MAX)
		pg->oom = true;
	if (pg->oom)
		return false;
	pg->n_regs = pg->n_k;
	pg->result = gen(pg, n, (uint16_t)pg->n_k);
	emit(pg, n, OP_END, 0, 0, NONE, NONE, NONE, 0, 0);
	return !pg->oom && pg->n_regs <= REGS_MAX;
}

/* Evaluates n, all of whose operands are literals, at compile time, turning it into a
 * literal. Leaves it as is when that fails: every row then reports the error. */
static struct node *fold(struct cc *cc, struct node *n)
{
	if (!n || n->kind == N_LIT || n->kind == N_COL)
		return n;
	for (uint32_t i = 0; i < n->n_kids; i++)
		if (n->kids[i] && n->kids[i]->kind != N_LIT)
			return n;
	if (!cc->fold) {
		cc->fold = sl_expr_scratch_new(SL_EXPR_SCRATCH_BYTES_DEFAULT);
		if (!cc->fold)
			return n;
	}
	struct prog pg;
	if (gen_prog(cc, &pg, n)) {
		load_consts(&pg, cc->fold);
		if (run(&pg, NULL, 0, cc->fold) == 0) {
			struct reg r = cc->fold->regs[pg.result];
			n->kind = N_LIT;
			n->n_kids = 0;
			n->is_null = r.null;
			n->nullable = r.null;
			n->v.i = r.null ? 0 : r.i;
			if (n->type == SL_T_STRING && !r.null) {
				uint32_t off;
				if (r.len == 0)
					off = 0;
				else if (r.p >= cc->pool && r.p < cc->pool + cc->pool_len)
					off = (uint32_t)(r.p - cc->pool);
				else
					off = pool_add(cc, r.p, r.len);
				if (off == UINT32_MAX) {
					err(cc, n->off, "out of memory");
					n = NULL;
				} else {
					n->v.s.off = off;
					n->v.s.len = r.len;
				}
			}
		}
	}
	prog_free(&pg);
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Types                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static const char *tname(unsigned t)
{
	return t == SL_T_NULL ? "NULL" : sl_type_name((enum sl_type)t);
}

static bool t_num(unsigned t)
{
	return t == SL_T_NULL || sl_type_is_numeric((enum sl_type)t);
}
static bool t_int(unsigned t)
{
	return t == SL_T_NULL || t == SL_T_INT || t == SL_T_BIGINT;
}
static bool t_str(unsigned t)
{
	return t == SL_T_NULL || t == SL_T_STRING;
}
static bool t_bool(unsigned t)
{
	return t == SL_T_NULL || t == SL_T_BOOL;
}
static bool t_float(unsigned t)
{
	return t == SL_T_FLOAT || t == SL_T_DOUBLE;
}
static bool t_time(unsigned t)
{
	return t == SL_T_DATE || t == SL_T_TIMESTAMP;
}
/* Types the language computes with. A column of a later type (appended to enum sl_type)
 * may only be projected as is or tested with IS [NOT] NULL. */
static bool t_known(unsigned t)
{
	return t <= SL_T_TIMESTAMP;
}

static void *unsupported(struct cc *cc, const struct node *n)
{
	return err(cc, n->off, "%s values are not supported in expressions yet (only projected as "
			       "is or tested with IS NULL)", tname(n->type));
}

/* Common type of a and b (neither NULL), or SL_T__COUNT if there is none. */
static unsigned merge(unsigned a, unsigned b)
{
	if (!t_known(a) || !t_known(b))
		return SL_T__COUNT;
	if (a == b)
		return a;
	if (sl_type_is_numeric((enum sl_type)a) && sl_type_is_numeric((enum sl_type)b)) {
		if (t_float(a) || t_float(b))
			return SL_T_DOUBLE;
		return SL_T_BIGINT;
	}
	if (t_time(a) && t_time(b))
		return SL_T_TIMESTAMP;
	return SL_T__COUNT;
}

/* n as a value of type t (a type merge() gave for it). */
static struct node *coerce(struct cc *cc, struct node *n, unsigned t)
{
	if (!n || n->type == t)
		return n;
	if (n->type == SL_T_NULL || (n->kind == N_LIT && n->is_null)) {
		n->type = (uint8_t)t; /* always NULL: any type will do */
		return n;
	}
	if (n->type == SL_T_STRING && t_time(t)) {
		/* A string literal compared with a date or timestamp. */
		union sl_val v;
		SL_ASSERT(n->kind == N_LIT);
		if (parse_as((enum sl_type)t, cc->pool + n->v.s.off, n->v.s.len, &v) < 0)
			return err(cc, n->off, "cannot read '%.*s' as %s", (int)SL_MIN(n->v.s.len, 64u),
				   cc->pool + n->v.s.off, tname(t));
		n->type = (uint8_t)t;
		n->v = v;
		return n;
	}
	unsigned op;
	if (t_float(t) && !t_float(n->type))
		op = OP_I2F;
	else if (t == SL_T_TIMESTAMP && n->type == SL_T_DATE)
		op = OP_D2TS;
	else {
		/* Same representation (INT as BIGINT, FLOAT as DOUBLE): no code depends on the
		 * difference, so the node is retyped in place. */
		n->type = (uint8_t)t;
		return n;
	}
	struct node *c = new_node(cc, N_OP, n->off, false);
	c->op = (uint8_t)op;
	c->type = (uint8_t)t;
	set_kids(cc, c, &n, 1);
	return fold(cc, c);
}

enum unify_why { U_COMPARE, U_RESULT };

/*
 * Gives v[0..n) a common type (*out) for comparing them (U_COMPARE) or for one result
 * (U_RESULT), coercing them in place. A string literal compared with dates or timestamps is
 * read as one. Errors point at off.
 */
static bool unify(struct cc *cc, struct node **v, uint32_t n, enum unify_why why, uint32_t off,
		  const char *what, unsigned *out)
{
	unsigned t = SL_T_NULL, a, b;
	bool str_lit = false;
	for (uint32_t i = 0; i < n; i++) {
		unsigned vt = v[i]->type;
		if (!t_known(vt)) {
			unsupported(cc, v[i]);
			return false;
		}
		if (vt == SL_T_NULL || (v[i]->kind == N_LIT && v[i]->is_null))
			continue; /* NULL, or a constant folded to NULL: goes with anything */
		if (vt == SL_T_STRING && v[i]->kind == N_LIT) {
			str_lit = true;
			continue;
		}
		unsigned m = t == SL_T_NULL ? vt : merge(t, vt);
		if (m == SL_T__COUNT) {
			a = t;
			b = vt;
			goto out_mismatch;
		}
		t = m;
	}
	if (str_lit) {
		if (t == SL_T_NULL || t == SL_T_STRING) {
			t = SL_T_STRING;
		} else if (!t_time(t)) {
			a = t;
			b = SL_T_STRING;
			goto out_mismatch;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		v[i] = coerce(cc, v[i], t);
		if (!v[i])
			return false;
	}
	*out = t;
	return true;
out_mismatch:;
	bool str_num = a == SL_T_STRING || b == SL_T_STRING;
	if (why == U_COMPARE)
		err(cc, off, "cannot compare %s with %s%s", tname(a), tname(b),
		    str_num ? " (CAST one side)" : "");
	else
		err(cc, off, "%s: incompatible types %s and %s%s", what, tname(a), tname(b),
		    str_num ? " (CAST one of them)" : "");
	return false;
}

static unsigned cmp_op(unsigned t)
{
	return t_float(t) ? OP_CMP_F : t == SL_T_STRING ? OP_CMP_S : OP_CMP_I;
}

/* A strict operator node over kids (which it coerces nothing of). */
static struct node *op_node(struct cc *cc, unsigned op, unsigned aux, unsigned type, uint32_t off,
			    struct node *const *kids, uint32_t k)
{
	struct node *n = new_node(cc, N_OP, off, true);
	if (!n)
		return NULL;
	n->op = (uint8_t)op;
	n->aux = (uint8_t)aux;
	n->type = (uint8_t)type;
	set_kids(cc, n, kids, k);
	return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Lexer                                                                                       */
/* ------------------------------------------------------------------------------------------ */

static bool id_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool id_char(char c)
{
	return id_start(c) || (c >= '0' && c <= '9');
}

/* Lexes the token at text[at] into *t; false (reported) on a bad one. */
static bool lex_at(struct cc *cc, uint32_t at, struct tok *t)
{
	const char *s = cc->text;
	uint32_t n = cc->len, i = at;
	while (i < n && is_space(s[i]))
		i++;
	memset(t, 0, sizeof(*t));
	t->off = i;
	if (i >= n) {
		t->k = T_EOF;
		return true;
	}
	char c = s[i];
	uint32_t st = i;
	if ((c >= '0' && c <= '9') || (c == '.' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')) {
		bool dec = false;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i < n && s[i] == '.') {
			dec = true;
			i++;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		}
		if (i < n && (s[i] == 'e' || s[i] == 'E')) {
			uint32_t j = i + 1;
			if (j < n && (s[j] == '+' || s[j] == '-'))
				j++;
			if (j < n && s[j] >= '0' && s[j] <= '9') {
				dec = true;
				i = j;
				while (i < n && s[i] >= '0' && s[i] <= '9')
					i++;
			}
		}
		if (i < n && (id_char(s[i]) || s[i] == '.')) {
			err(cc, st, "syntax error: bad number '%.*s'", (int)SL_MIN(i + 1 - st, 40u), s + st);
			return false;
		}
		t->len = i - st;
		if (dec) {
			char buf[128];
			if (t->len >= sizeof(buf)) {
				err(cc, st, "number too long");
				return false;
			}
			memcpy(buf, s + st, t->len);
			buf[t->len] = '\0';
			t->k = T_DOUBLE;
			t->f = strtod(buf, NULL);
		} else {
			uint64_t v = 0;
			for (uint32_t k = st; k < i; k++) {
				unsigned d = (unsigned)(s[k] - '0');
				if (v > (UINT64_MAX - d) / 10 || v * 10 + d > (uint64_t)INT64_MAX + 1) {
					err(cc, st, "integer literal %.*s is out of BIGINT range",
					    (int)SL_MIN(t->len, 40u), s + st);
					return false;
				}
				v = v * 10 + d;
			}
			t->k = T_INT;
			t->u = v;
		}
		return true;
	}
	if (id_start(c)) {
		while (i < n && id_char(s[i]))
			i++;
		t->k = T_IDENT;
		t->len = i - st;
		return true;
	}
	if (c == '\'' || c == '`') {
		for (i++;; i++) {
			if (i >= n) {
				err(cc, st, c == '\'' ? "syntax error: unterminated string"
						      : "syntax error: unterminated `name`");
				return false;
			}
			if (s[i] == c) {
				if (i + 1 < n && s[i + 1] == c) {
					i++;
					continue;
				}
				break;
			}
		}
		t->k = c == '\'' ? T_STR : T_QIDENT;
		t->len = i + 1 - st;
		return true;
	}
	static const struct {
		const char *s;
		uint8_t k;
	} ops[] = {
		{"||", T_CONCAT}, {"<>", T_NE}, {"!=", T_NE}, {"<=", T_LE}, {">=", T_GE}, {"==", T_EQ},
		{"(", T_LP},      {")", T_RP},  {",", T_COMMA}, {"=", T_EQ}, {"<", T_LT},  {">", T_GT},
		{"+", T_PLUS},    {"-", T_MINUS}, {"*", T_STAR}, {"/", T_SLASH}, {"%", T_PERCENT},
	};
	for (size_t k = 0; k < SL_ARRAY_LEN(ops); k++) {
		size_t l = strlen(ops[k].s);
		if (i + l <= n && memcmp(s + i, ops[k].s, l) == 0) {
			t->k = ops[k].k;
			t->len = (uint32_t)l;
			return true;
		}
	}
	size_t cl = u8len(s, i, n);
	if (c == '"')
		err(cc, st, "syntax error: unexpected '\"' (strings use 'single quotes', names "
			    "`backticks`)");
	else if ((unsigned char)c < 0x20 || c == 0x7f)
		err(cc, st, "syntax error: unexpected byte 0x%02x", (unsigned)(unsigned char)c);
	else
		err(cc, st, "syntax error: unexpected character '%.*s'%s", (int)cl, s + i,
		    (unsigned char)c >= 0x80 ? " (write names with other characters in `backticks`)"
					     : "");
	return false;
}

static bool next(struct cc *cc)
{
	return lex_at(cc, cc->t.off + cc->t.len, &cc->t);
}

/* The token after the current one (T_EOF when it does not lex; the error shows later). */
static struct tok peek(struct cc *cc)
{
	struct tok t;
	bool failed = cc->failed;
	cc->failed = true; /* quiet */
	if (!lex_at(cc, cc->t.off + cc->t.len, &t))
		t.k = T_EOF;
	cc->failed = failed;
	return t;
}

static bool is_kw(const struct cc *cc, const struct tok *t, const char *kw)
{
	return t->k == T_IDENT && strlen(kw) == t->len && strncasecmp(cc->text + t->off, kw, t->len) == 0;
}

static bool kw(struct cc *cc, const char *w)
{
	return is_kw(cc, &cc->t, w);
}

static const char *const reserved[] = {"AND",  "OR",   "NOT",  "IS",   "NULL", "TRUE",
				       "FALSE", "IN",  "LIKE", "BETWEEN", "CASE", "WHEN",
				       "THEN", "ELSE", "END",  NULL};

static bool is_reserved(const struct cc *cc, const struct tok *t)
{
	for (size_t k = 0; reserved[k]; k++)
		if (is_kw(cc, t, reserved[k]))
			return true;
	return false;
}

/* "'x'" or "end of expression", for syntax errors. */
static const char *tok_desc(const struct cc *cc, const struct tok *t, char *buf, size_t cap)
{
	if (t->k == T_EOF)
		return "end of expression";
	uint32_t l = SL_MIN(t->len, 30u);
	const char *q = t->k == T_STR ? "" : "'";
	snprintf(buf, cap, "%s%.*s%s%s", q, (int)l, cc->text + t->off, l < t->len ? "..." : "", q);
	return buf;
}

static void *expected(struct cc *cc, const char *what)
{
	char b[48];
	return err(cc, cc->t.off, "syntax error: expected %s, found %s", what,
		   tok_desc(cc, &cc->t, b, sizeof(b)));
}

static bool expect(struct cc *cc, enum tk k, const char *what)
{
	if (cc->t.k != k) {
		expected(cc, what);
		return false;
	}
	return next(cc);
}

static bool expect_kw(struct cc *cc, const char *w)
{
	if (!kw(cc, w)) {
		char b[32];
		snprintf(b, sizeof(b), "%s", w);
		expected(cc, b);
		return false;
	}
	return next(cc);
}

static bool enter(struct cc *cc, uint32_t off)
{
	if (++cc->depth > SL_EXPR_MAX_DEPTH) {
		err(cc, off, "expression nested too deeply (more than %u levels)", SL_EXPR_MAX_DEPTH);
		return false;
	}
	return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Parser                                                                                      */
/* ------------------------------------------------------------------------------------------ */

static struct node *parse_or(struct cc *cc);
static struct node *parse_concat(struct cc *cc);
static struct node *parse_unary(struct cc *cc);

/* Optimal string alignment distance, ignoring case, of short words. */
static unsigned osa(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned d[SL_NAME_MAX + 1][SL_NAME_MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (unsigned)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			char ca = (char)(a[i - 1] | 0x20), cb = (char)(b[j - 1] | 0x20);
			unsigned c = ca != cb;
			unsigned v = SL_MIN(SL_MIN(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + c);
			if (i > 1 && j > 1 && ca == (char)(b[j - 2] | 0x20) &&
			    (char)(a[i - 2] | 0x20) == cb)
				v = SL_MIN(v, d[i - 2][j - 2] + 1);
			d[i][j] = v;
		}
	}
	return d[la][lb];
}

/* The name among names (n of them, stride bytes apart) nearest to w, or NULL. */
static const char *suggest(const char *w, size_t len, const char *names, size_t n, size_t stride)
{
	const char *best = NULL;
	unsigned best_d = UINT32_MAX, limit = (unsigned)SL_MIN((size_t)2, len / 3);
	if (len == 0 || len > SL_NAME_MAX)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *k = *(const char *const *)(names + i * stride);
		size_t kl = strlen(k);
		if (kl > SL_NAME_MAX || (kl > len ? kl - len : len - kl) > limit)
			continue;
		unsigned dist = osa(w, len, k, kl);
		if (dist <= limit && dist < best_d) {
			best = k;
			best_d = dist;
		}
	}
	return best;
}

static struct node *column(struct cc *cc, const char *name, size_t len, uint32_t off,
			   uint32_t end)
{
	int idx = -1;
	for (uint32_t i = 0; i < cc->in->n_fields && idx < 0; i++)
		if (strlen(cc->in->fields[i].name) == len &&
		    memcmp(cc->in->fields[i].name, name, len) == 0)
			idx = (int)i;
	if (idx < 0) {
		const char *names[SL_MAX_COLS];
		for (uint32_t i = 0; i < cc->in->n_fields; i++)
			names[i] = cc->in->fields[i].name;
		const char *near = suggest(name, len, (const char *)names, cc->in->n_fields,
					   sizeof(names[0]));
		return err(cc, off, "unknown column '%.*s'%s%s%s", (int)SL_MIN(len, 64u), name,
			   near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
	}
	struct node *n = new_node(cc, N_COL, off, true);
	if (!n)
		return NULL;
	n->imm = (uint32_t)idx;
	n->type = (uint8_t)cc->in->fields[idx].type;
	n->nullable = !cc->in->fields[idx].not_null;
	n->end = end;
	return n;
}

/* Unescaped text of a quoted token ('it''s' or `a``b`) into the pool. */
static bool unquote(struct cc *cc, const struct tok *t, uint32_t *off, uint32_t *len)
{
	const char *s = cc->text + t->off + 1;
	char q = cc->text[t->off];
	size_t n = t->len - 2;
	*off = (uint32_t)cc->pool_len;
	for (size_t i = 0; i < n; i++) {
		if (pool_add(cc, s + i, 1) == UINT32_MAX) {
			err(cc, t->off, "out of memory");
			return false;
		}
		if (s[i] == q)
			i++;
	}
	*len = (uint32_t)(cc->pool_len - *off);
	return true;
}

static struct node *lit_str(struct cc *cc, const struct tok *t)
{
	struct node *n = new_node(cc, N_LIT, t->off, true);
	uint32_t off, len;
	if (!n || !unquote(cc, t, &off, &len))
		return NULL;
	n->type = SL_T_STRING;
	n->v.s.off = off;
	n->v.s.len = len;
	n->end = t->off + t->len;
	return n;
}

static bool need(struct cc *cc, struct node *n, bool ok, const char *fn, unsigned argno,
		 const char *want)
{
	if (ok)
		return true;
	bool str_num = !strcmp(want, "STRING") && sl_type_is_numeric((enum sl_type)n->type);
	if (argno)
		err(cc, n->off, "%s: argument %u must be %s, got %s%s", fn, argno, want, tname(n->type),
		    str_num ? " (CAST it first)" : "");
	else
		err(cc, n->off, "%s needs %s, got %s%s", fn, want, tname(n->type),
		    str_num ? " (CAST it first)" : "");
	return false;
}

/* a op b for + - * / %. */
static struct node *arith(struct cc *cc, unsigned tk, uint32_t off, struct node *a, struct node *b)
{
	static const char *const sym[] = {[T_PLUS] = "+", [T_MINUS] = "-", [T_STAR] = "*",
					  [T_SLASH] = "/", [T_PERCENT] = "%"};
	if (!t_num(a->type) || !t_num(b->type)) {
		bool strs = t_str(a->type) && t_str(b->type) && tk == T_PLUS;
		return err(cc, off, "operator %s needs numbers, got %s and %s%s", sym[tk], tname(a->type),
			   tname(b->type), strs ? " (use || to concatenate strings)" : "");
	}
	unsigned t = (a->type == SL_T_NULL && b->type == SL_T_NULL) ? SL_T_NULL
		     : (t_float(a->type) || t_float(b->type)) ? SL_T_DOUBLE
							      : SL_T_BIGINT;
	bool f = t == SL_T_DOUBLE;
	if (t != SL_T_NULL) {
		a = coerce(cc, a, t);
		b = coerce(cc, b, t);
		if (!a || !b)
			return NULL;
	}
	unsigned op = tk == T_PLUS	? (f ? OP_ADD_F : OP_ADD_I)
		      : tk == T_MINUS	? (f ? OP_SUB_F : OP_SUB_I)
		      : tk == T_STAR	? (f ? OP_MUL_F : OP_MUL_I)
		      : tk == T_SLASH	? (f ? OP_DIV_F : OP_DIV_I)
					: (f ? OP_MOD_F : OP_MOD_I);
	struct node *k[2] = {a, b};
	return fold(cc, op_node(cc, op, 0, t, off, k, 2));
}

/* Comparison a op b. */
static struct node *compare(struct cc *cc, enum cmp c, uint32_t off, struct node *a,
			    struct node *b)
{
	struct node *k[2] = {a, b};
	unsigned t;
	if (!unify(cc, k, 2, U_COMPARE, off, NULL, &t))
		return NULL;
	return fold(cc, op_node(cc, cmp_op(t), c, SL_T_BOOL, off, k, 2));
}

static struct node *not_node(struct cc *cc, uint32_t off, struct node *a)
{
	if (!t_bool(a->type))
		return err(cc, off, "NOT needs a BOOLEAN, got %s", tname(a->type));
	return fold(cc, op_node(cc, OP_NOT, 0, SL_T_BOOL, off, &a, 1));
}

static struct node *parse_not(struct cc *cc);

/* A left-associative chain `a WORD b WORD c` of BOOLEAN operands parsed by
 * operand: OR over ANDs, AND over NOTs. */
static struct node *parse_chain(struct cc *cc, const char *word, enum nk kind,
				struct node *(*operand)(struct cc *))
{
	struct node *l = operand(cc);
	while (l && kw(cc, word)) {
		uint32_t off = cc->t.off;
		if (!next(cc))
			return NULL;
		struct node *r = operand(cc);
		if (!r)
			return NULL;
		if (!t_bool(l->type) || !t_bool(r->type))
			return err(cc, off, "%s needs BOOLEAN operands, got %s and %s", word,
				   tname(l->type), tname(r->type));
		struct node *n = new_node(cc, kind, off, true), *k[2] = {l, r};
		if (!n)
			return NULL;
		n->type = SL_T_BOOL;
		set_kids(cc, n, k, 2);
		l = fold(cc, n);
	}
	return l;
}

static struct node *parse_and(struct cc *cc)
{
	return parse_chain(cc, "AND", N_AND, parse_not);
}

static struct node *parse_or(struct cc *cc)
{
	return parse_chain(cc, "OR", N_OR, parse_and);
}

static struct node *parse_cmp(struct cc *cc);

static struct node *parse_not(struct cc *cc)
{
	if (!kw(cc, "NOT"))
		return parse_cmp(cc);
	uint32_t off = cc->t.off;
	if (!enter(cc, off) || !next(cc))
		return NULL;
	struct node *a = parse_not(cc);
	cc->depth--;
	if (!a)
		return NULL;
	struct node *n = not_node(cc, off, a);
	if (n)
		n->start = off;
	return n;
}

/* x [NOT] IN (items), the current token being '('. */
static struct node *parse_in(struct cc *cc, struct node *x, uint32_t off, bool neg)
{
	uint32_t base = cc->n_tmp;
	struct node **items = &cc->tmp[base];
	if (!push(cc, x) || !expect(cc, T_LP, "'(' after IN"))
		return NULL;
	for (;;) {
		if (!push(cc, parse_or(cc)))
			return NULL;
		if (cc->t.k == T_RP)
			break;
		if (!expect(cc, T_COMMA, "',' or ')' in the IN list"))
			return NULL;
	}
	uint32_t end = cc->t.off + 1;
	if (!next(cc))
		return NULL;
	unsigned t;
	uint32_t k = cc->n_tmp - base;
	cc->n_tmp = base;
	if (!unify(cc, items, k, U_COMPARE, off, NULL, &t))
		return NULL;
	unsigned op = t_float(t) ? OP_IN_F : t == SL_T_STRING ? OP_IN_S : OP_IN_I;
	struct node *n = op_node(cc, op, 0, SL_T_BOOL, off, items, k);
	if (!n)
		return NULL;
	n->end = end;
	n = fold(cc, n);
	return neg && n ? not_node(cc, off, n) : n;
}

static struct node *parse_like(struct cc *cc, struct node *x, uint32_t off, bool neg)
{
	struct node *p = parse_concat(cc);
	if (!p)
		return NULL;
	unsigned esc = NO_ESCAPE;
	if (kw(cc, "ESCAPE")) {
		if (!next(cc))
			return NULL;
		if (cc->t.k != T_STR)
			return expected(cc, "a one-character string after ESCAPE");
		uint32_t eo, el;
		if (!unquote(cc, &cc->t, &eo, &el))
			return NULL;
		if (el != 1)
			return err(cc, cc->t.off, "ESCAPE must be one (ASCII) character");
		esc = (unsigned char)cc->pool[eo];
		p->end = cc->t.off + cc->t.len;
		if (!next(cc))
			return NULL;
	}
	if (!need(cc, x, t_str(x->type), "LIKE", 0, "STRING") ||
	    !need(cc, p, t_str(p->type), "LIKE pattern", 0, "STRING"))
		return NULL;
	unsigned kind = LK_GENERAL;
	if (p->kind == N_LIT && !p->is_null && p->type == SL_T_STRING) {
		const char *ps = cc->pool + p->v.s.off;
		if (!like_valid(ps, p->v.s.len, esc))
			return err(cc, p->off, "invalid escape sequence in LIKE pattern");
		kind = like_classify(ps, p->v.s.len, esc);
	}
	struct node *k[2] = {x, p};
	struct node *n = op_node(cc, OP_LIKE, kind, SL_T_BOOL, off, k, 2);
	if (!n)
		return NULL;
	n->imm = esc;
	n = fold(cc, n);
	return neg && n ? not_node(cc, off, n) : n;
}

static struct node *parse_cmp(struct cc *cc)
{
	struct node *l = parse_concat(cc);
	while (l) {
		uint32_t off = cc->t.off;
		enum cmp c;
		switch (cc->t.k) {
		case T_EQ:
			c = CMP_EQ;
			goto binary;
		case T_NE:
			c = CMP_NE;
			goto binary;
		case T_LT:
			c = CMP_LT;
			goto binary;
		case T_LE:
			c = CMP_LE;
			goto binary;
		case T_GT:
			c = CMP_GT;
			goto binary;
		case T_GE:
			c = CMP_GE;
			goto binary;
		default:
			break;
		}
		if (kw(cc, "IS")) {
			bool neg = false;
			if (!next(cc))
				return NULL;
			if (kw(cc, "NOT")) {
				neg = true;
				if (!next(cc))
					return NULL;
			}
			unsigned op;
			if (kw(cc, "NULL") || kw(cc, "UNKNOWN")) {
				if (kw(cc, "UNKNOWN") && !t_bool(l->type))
					return err(cc, off, "IS UNKNOWN needs a BOOLEAN, got %s",
						   tname(l->type));
				op = neg ? OP_IS_NOT_NULL : OP_IS_NULL;
			} else if (kw(cc, "TRUE") || kw(cc, "FALSE")) {
				if (!t_bool(l->type))
					return err(cc, off, "IS %s needs a BOOLEAN, got %s",
						   kw(cc, "TRUE") ? "TRUE" : "FALSE", tname(l->type));
				op = kw(cc, "TRUE") ? (neg ? OP_IS_NOT_TRUE : OP_IS_TRUE)
						    : (neg ? OP_IS_NOT_FALSE : OP_IS_FALSE);
			} else {
				return expected(cc, "NULL, TRUE, FALSE or UNKNOWN after IS");
			}
			uint32_t end = cc->t.off + cc->t.len;
			if (!next(cc))
				return NULL;
			struct node *n = op_node(cc, op, 0, SL_T_BOOL, off, &l, 1);
			if (!n)
				return NULL;
			n->nullable = false;
			n->end = end;
			l = fold(cc, n);
			continue;
		}
		bool neg = false;
		if (kw(cc, "NOT")) {
			neg = true;
			if (!next(cc))
				return NULL;
			if (!kw(cc, "IN") && !kw(cc, "LIKE") && !kw(cc, "BETWEEN"))
				return expected(cc, "IN, LIKE or BETWEEN after NOT");
		}
		if (kw(cc, "IN")) {
			if (!next(cc))
				return NULL;
			l = parse_in(cc, l, off, neg);
		} else if (kw(cc, "LIKE")) {
			if (!next(cc))
				return NULL;
			l = parse_like(cc, l, off, neg);
		} else if (kw(cc, "BETWEEN")) {
			if (!next(cc))
				return NULL;
			if (kw(cc, "SYMMETRIC"))
				return err(cc, cc->t.off, "BETWEEN SYMMETRIC is not supported");
			if (kw(cc, "ASYMMETRIC") && !next(cc))
				return NULL;
			struct node *k[3] = {l, parse_concat(cc), NULL};
			if (!k[1] || !expect_kw(cc, "AND") || !(k[2] = parse_concat(cc)))
				return NULL;
			unsigned t;
			if (!unify(cc, k, 3, U_COMPARE, off, NULL, &t))
				return NULL;
			unsigned op = t_float(t) ? OP_BETWEEN_F : t == SL_T_STRING ? OP_BETWEEN_S
										   : OP_BETWEEN_I;
			l = fold(cc, op_node(cc, op, 0, SL_T_BOOL, off, k, 3));
			if (neg && l)
				l = not_node(cc, off, l);
		} else {
			break;
		}
		continue;
binary:
		if (!next(cc))
			return NULL;
		struct node *r = parse_concat(cc);
		if (!r)
			return NULL;
		l = compare(cc, c, off, l, r);
	}
	return l;
}

static struct node *parse_add(struct cc *cc);

static struct node *parse_concat(struct cc *cc)
{
	struct node *l = parse_add(cc);
	while (l && cc->t.k == T_CONCAT) {
		uint32_t off = cc->t.off;
		if (!next(cc))
			return NULL;
		struct node *r = parse_add(cc);
		if (!r)
			return NULL;
		if (!t_str(l->type) || !t_str(r->type))
			return err(cc, off, "operator || needs STRING operands, got %s and %s%s",
				   tname(l->type), tname(r->type), " (CAST the other types)");
		struct node *k[2] = {l, r};
		l = fold(cc, op_node(cc, OP_CONCAT, 0, SL_T_STRING, off, k, 2));
	}
	return l;
}

static struct node *parse_mul(struct cc *cc);

static struct node *parse_add(struct cc *cc)
{
	struct node *l = parse_mul(cc);
	while (l && (cc->t.k == T_PLUS || cc->t.k == T_MINUS)) {
		unsigned tk = cc->t.k;
		uint32_t off = cc->t.off;
		if (!next(cc))
			return NULL;
		struct node *r = parse_mul(cc);
		if (!r)
			return NULL;
		l = arith(cc, tk, off, l, r);
	}
	return l;
}

static struct node *parse_mul(struct cc *cc)
{
	struct node *l = parse_unary(cc);
	while (l && (cc->t.k == T_STAR || cc->t.k == T_SLASH || cc->t.k == T_PERCENT)) {
		unsigned tk = cc->t.k;
		uint32_t off = cc->t.off;
		if (!next(cc))
			return NULL;
		struct node *r = parse_unary(cc);
		if (!r)
			return NULL;
		l = arith(cc, tk, off, l, r);
	}
	return l;
}

static struct node *parse_primary(struct cc *cc);

static struct node *parse_unary(struct cc *cc)
{
	if (cc->t.k != T_MINUS && cc->t.k != T_PLUS)
		return parse_primary(cc);
	bool minus = cc->t.k == T_MINUS;
	uint32_t off = cc->t.off;
	if (!next(cc))
		return NULL;
	if (minus && (cc->t.k == T_INT || cc->t.k == T_DOUBLE)) {
		/* A negative literal: -9223372036854775808 is a BIGINT. */
		struct node *n;
		if (cc->t.k == T_INT) {
			int64_t v = (int64_t)(0 - cc->t.u);
			n = lit_int(cc, off, v, v >= INT32_MIN ? SL_T_INT : SL_T_BIGINT);
		} else {
			n = lit_int(cc, off, 0, SL_T_DOUBLE);
			if (n)
				n->v.f = -cc->t.f;
		}
		if (!n)
			return NULL;
		n->end = cc->t.off + cc->t.len;
		return next(cc) ? n : NULL;
	}
	if (!enter(cc, off))
		return NULL;
	struct node *a = parse_unary(cc);
	cc->depth--;
	if (!a)
		return NULL;
	if (!t_num(a->type))
		return err(cc, off, "unary %c needs a number, got %s", minus ? '-' : '+', tname(a->type));
	if (!minus)
		return a;
	unsigned t = a->type == SL_T_NULL ? SL_T_NULL : t_float(a->type) ? SL_T_DOUBLE : SL_T_BIGINT;
	struct node *n = op_node(cc, t == SL_T_DOUBLE ? OP_NEG_F : OP_NEG_I, 0, t, off, &a, 1);
	if (n)
		n->start = off;
	return fold(cc, n);
}

/* Functions: name, arity, id. */
enum fn {
	F_UPPER,
	F_LOWER,
	F_TRIM,
	F_LTRIM,
	F_RTRIM,
	F_LENGTH,
	F_SUBSTR,
	F_CONCAT,
	F_CONCAT_WS,
	F_REPLACE,
	F_STARTS,
	F_ENDS,
	F_POSITION,
	F_LOCATE,
	F_COALESCE,
	F_IFNULL,
	F_NULLIF,
	F_IF,
	F_ABS,
	F_ROUND,
	F_FLOOR,
	F_CEIL,
	F_MOD,
	F_POWER,
	F_SQRT,
	F_LN,
	F_LOG10,
	F_EXP,
	F_TO_TS_LTZ,
	F_CAST,
	F_TRY_CAST,
};

struct fn_def {
	const char *name;
	uint8_t id, min, max; /* max 255: any number */
};

static const struct fn_def fns[] = {
	{"upper", F_UPPER, 1, 1},
	{"lower", F_LOWER, 1, 1},
	{"trim", F_TRIM, 1, 1},
	{"ltrim", F_LTRIM, 1, 1},
	{"rtrim", F_RTRIM, 1, 1},
	{"length", F_LENGTH, 1, 1},
	{"char_length", F_LENGTH, 1, 1},
	{"character_length", F_LENGTH, 1, 1},
	{"substr", F_SUBSTR, 2, 3},
	{"substring", F_SUBSTR, 2, 3},
	{"concat", F_CONCAT, 1, 255},
	{"concat_ws", F_CONCAT_WS, 2, 255},
	{"replace", F_REPLACE, 3, 3},
	{"starts_with", F_STARTS, 2, 2},
	{"startswith", F_STARTS, 2, 2},
	{"ends_with", F_ENDS, 2, 2},
	{"endswith", F_ENDS, 2, 2},
	{"position", F_POSITION, 2, 2},
	{"locate", F_LOCATE, 2, 3},
	{"coalesce", F_COALESCE, 1, 255},
	{"ifnull", F_IFNULL, 2, 2},
	{"nullif", F_NULLIF, 2, 2},
	{"if", F_IF, 3, 3},
	{"abs", F_ABS, 1, 1},
	{"round", F_ROUND, 1, 2},
	{"floor", F_FLOOR, 1, 1},
	{"ceil", F_CEIL, 1, 1},
	{"ceiling", F_CEIL, 1, 1},
	{"mod", F_MOD, 2, 2},
	{"power", F_POWER, 2, 2},
	{"sqrt", F_SQRT, 1, 1},
	{"ln", F_LN, 1, 1},
	{"log10", F_LOG10, 1, 1},
	{"exp", F_EXP, 1, 1},
	{"to_timestamp_ltz", F_TO_TS_LTZ, 1, 2},
	{"cast", F_CAST, 1, 1},
	{"try_cast", F_TRY_CAST, 1, 1},
};

static bool cast_allowed(unsigned from, unsigned to)
{
	if (from == to || from == SL_T_NULL || from == SL_T_STRING || to == SL_T_STRING)
		return true;
	bool fa = sl_type_is_numeric((enum sl_type)from) || from == SL_T_BOOL;
	bool ta = sl_type_is_numeric((enum sl_type)to) || to == SL_T_BOOL;
	return (fa && ta) || (t_time(from) && t_time(to));
}

static bool cast_can_fail(unsigned from, unsigned to)
{
	if (from == to || to == SL_T_STRING || from == SL_T_NULL)
		return false;
	if (from == SL_T_STRING)
		return true;
	if (to == SL_T_INT)
		return from != SL_T_BOOL;
	if (to == SL_T_BIGINT)
		return t_float(from);
	return to == SL_T_TIMESTAMP;
}

/* cast(x AS type): the current token is the one after '('. */
static struct node *parse_cast(struct cc *cc, uint32_t off, bool try)
{
	struct node *x = parse_or(cc);
	if (!x || !expect_kw(cc, "AS"))
		return NULL;
	if (cc->t.k != T_IDENT)
		return expected(cc, "a type name after AS");
	char name[64];
	uint32_t toff = cc->t.off;
	int nl = snprintf(name, sizeof(name), "%.*s", (int)SL_MIN(cc->t.len, 40u), cc->text + cc->t.off);
	if (!next(cc))
		return NULL;
	if (kw(cc, "PRECISION")) {
		nl += snprintf(name + nl, sizeof(name) - (size_t)nl, " PRECISION");
		if (!next(cc))
			return NULL;
	}
	if (cc->t.k == T_LP) {
		nl += snprintf(name + nl, sizeof(name) - (size_t)nl, "(");
		if (!next(cc))
			return NULL;
		for (int k = 0; cc->t.k == T_INT && k < 2; k++) {
			nl += snprintf(name + nl, sizeof(name) - (size_t)nl, "%s%llu", k ? "," : "",
				       (unsigned long long)SL_MIN(cc->t.u, 999999999ull));
			if (!next(cc))
				return NULL;
			if (cc->t.k != T_COMMA)
				break;
			if (!next(cc))
				return NULL;
		}
		if (!expect(cc, T_RP, "')' after the type's length"))
			return NULL;
		nl += snprintf(name + nl, sizeof(name) - (size_t)nl, ")");
	}
	enum sl_type to;
	if (!sl_type_parse(name, (size_t)SL_MIN(nl, (int)sizeof(name) - 1), &to))
		return err(cc, toff, "unknown type '%s' (expected INT, BIGINT, FLOAT, DOUBLE, STRING, "
				     "BOOLEAN, DATE or TIMESTAMP)", name);
	unsigned from = x->type;
	if (!t_known(from))
		return unsupported(cc, x);
	if (!t_known(to))
		return err(cc, toff, "CAST to %s is not supported yet", sl_type_name(to));
	if (!cast_allowed(from, to))
		return err(cc, off, "cannot CAST %s to %s", tname(from), sl_type_name(to));
	if (from == SL_T_NULL) {
		x->type = (uint8_t)to;
		return x;
	}
	bool same_repr = from == to || (t_int(from) && t_int(to) && to == SL_T_BIGINT) ||
			 (from == SL_T_FLOAT && to == SL_T_DOUBLE);
	if (same_repr) {
		x->type = (uint8_t)to; /* as in coerce() */
		return x;
	}
	struct node *n;
	if ((t_int(from) || from == SL_T_BOOL) && to == SL_T_DOUBLE) {
		n = op_node(cc, OP_I2F, 0, to, off, &x, 1);
	} else {
		n = op_node(cc, OP_CAST, 0, to, off, &x, 1);
		if (n) {
			n->imm = from | (unsigned)to << 8 | (unsigned)try << 16;
			n->nullable = x->nullable || (try && cast_can_fail(from, to));
		}
	}
	return fold(cc, n);
}

/* TRIM([BOTH|LEADING|TRAILING] [chars] FROM s) or trim(s): the token after '('. */
static struct node *parse_trim(struct cc *cc, uint32_t off, unsigned mode_default)
{
	unsigned mode = mode_default;
	bool mode_given = false;
	struct node *chars = NULL, *s;
	if (mode_default == TRIM_BOTH) {
		struct tok t2 = peek(cc);
		if ((kw(cc, "BOTH") || kw(cc, "LEADING") || kw(cc, "TRAILING")) &&
		    t2.k != T_RP && t2.k != T_COMMA) {
			mode = kw(cc, "BOTH") ? TRIM_BOTH : kw(cc, "LEADING") ? TRIM_LEADING : TRIM_TRAILING;
			mode_given = true;
			if (!next(cc))
				return NULL;
		}
	}
	if (kw(cc, "FROM") && mode_given) {
		if (!next(cc))
			return NULL;
		s = parse_or(cc);
	} else {
		s = parse_or(cc);
		if (s && mode_default == TRIM_BOTH && kw(cc, "FROM")) {
			chars = s;
			if (!next(cc))
				return NULL;
			s = parse_or(cc);
		} else if (s && mode_given) {
			return expected(cc, "FROM");
		}
	}
	if (!s)
		return NULL;
	const char *fn = mode == TRIM_BOTH ? "trim" : mode == TRIM_LEADING ? "ltrim" : "rtrim";
	if (!need(cc, s, t_str(s->type), fn, chars ? 2 : 1, "STRING") ||
	    (chars && !need(cc, chars, t_str(chars->type), fn, 1, "STRING")))
		return NULL;
	struct node *k[2] = {s, chars};
	return fold(cc, op_node(cc, OP_TRIM, mode, SL_T_STRING, off, k, chars ? 2 : 1));
}

static struct node *call(struct cc *cc, const struct fn_def *f, uint32_t off, struct node **a,
			 uint32_t na);

/* name( ... ): the current token is '('. */
static struct node *parse_call(struct cc *cc, const struct tok *name)
{
	uint32_t off = name->off;
	const struct fn_def *f = NULL;
	for (size_t i = 0; i < SL_ARRAY_LEN(fns) && !f; i++)
		if (is_kw(cc, name, fns[i].name))
			f = &fns[i];
	if (!f) {
		char lower[SL_NAME_MAX];
		size_t l = SL_MIN(name->len, sizeof(lower) - 1);
		for (size_t i = 0; i < l; i++)
			lower[i] = (char)(cc->text[name->off + i] | 0x20);
		const char *near = suggest(lower, l, (const char *)fns, SL_ARRAY_LEN(fns), sizeof(fns[0]));
		return err(cc, off, "unknown function '%.*s'%s%s%s", (int)SL_MIN(name->len, 64u),
			   cc->text + name->off, near ? " (did you mean '" : "", near ? near : "",
			   near ? "'?)" : "");
	}
	if (!enter(cc, off) || !next(cc))
		return NULL;
	struct node *n = NULL;
	uint32_t base = cc->n_tmp, na = 0;
	struct node **args = &cc->tmp[base];
	if (f->id == F_CAST || f->id == F_TRY_CAST) {
		n = parse_cast(cc, off, f->id == F_TRY_CAST);
	} else if (f->id == F_TRIM) {
		n = parse_trim(cc, off, TRIM_BOTH);
	} else if (f->id == F_POSITION) {
		/* position(sub IN s): sub stops before IN. */
		if (push(cc, parse_concat(cc)) && expect_kw(cc, "IN") && push(cc, parse_or(cc)))
			n = call(cc, f, off, args, 2);
	} else if (cc->t.k != T_RP) {
		for (;;) {
			if (!push(cc, parse_or(cc)))
				return NULL;
			if (f->id == F_SUBSTR && cc->n_tmp - base == 1 && kw(cc, "FROM")) {
				/* SUBSTRING(s FROM start [FOR len]) */
				if (!next(cc) || !push(cc, parse_or(cc)))
					return NULL;
				if (kw(cc, "FOR") && (!next(cc) || !push(cc, parse_or(cc))))
					return NULL;
				break;
			}
			if (cc->t.k != T_COMMA)
				break;
			if (!next(cc))
				return NULL;
		}
		na = cc->n_tmp - base;
		if (!cc->failed)
			n = call(cc, f, off, args, na);
	} else {
		n = call(cc, f, off, args, 0);
	}
	cc->n_tmp = base;
	if (!n)
		return NULL;
	uint32_t end = cc->t.off + 1;
	if (!expect(cc, T_RP, "')'"))
		return NULL;
	cc->depth--;
	n->start = SL_MIN(n->start, off);
	n->end = SL_MAX(n->end, end);
	return n;
}

/* A checked call of f on a[0..na). */
static struct node *call(struct cc *cc, const struct fn_def *f, uint32_t off, struct node **a,
			 uint32_t na)
{
	const char *fn = f->name;
	if (na < f->min || na > f->max) {
		if (f->min == f->max)
			return err(cc, off, "%s takes %u argument%s, got %u", fn, f->min,
				   f->min == 1 ? "" : "s", na);
		if (f->max == 255)
			return err(cc, off, "%s takes at least %u argument%s, got %u", fn, f->min,
				   f->min == 1 ? "" : "s", na);
		return err(cc, off, "%s takes %u to %u arguments, got %u", fn, f->min, f->max, na);
	}
	for (uint32_t i = 0; i < na; i++) {
		bool ok = true;
		switch (f->id) {
		case F_UPPER:
		case F_LOWER:
		case F_TRIM:
		case F_LTRIM:
		case F_RTRIM:
		case F_LENGTH:
		case F_CONCAT:
		case F_CONCAT_WS:
		case F_REPLACE:
		case F_STARTS:
		case F_ENDS:
		case F_POSITION:
			ok = need(cc, a[i], t_str(a[i]->type), fn, i + 1, "STRING");
			break;
		case F_SUBSTR:
		case F_LOCATE:
			if (i < (f->id == F_SUBSTR ? 1u : 2u))
				ok = need(cc, a[i], t_str(a[i]->type), fn, i + 1, "STRING");
			else
				ok = need(cc, a[i], t_int(a[i]->type), fn, i + 1, "an integer");
			break;
		case F_ABS:
		case F_ROUND:
		case F_FLOOR:
		case F_CEIL:
		case F_MOD:
		case F_POWER:
		case F_SQRT:
		case F_LN:
		case F_LOG10:
		case F_EXP:
			if (f->id == F_ROUND && i == 1)
				ok = need(cc, a[i], t_int(a[i]->type), fn, i + 1, "an integer");
			else
				ok = need(cc, a[i], t_num(a[i]->type), fn, i + 1, "a number");
			break;
		case F_IF:
			if (i == 0)
				ok = need(cc, a[i], t_bool(a[i]->type), fn, i + 1, "BOOLEAN");
			break;
		case F_TO_TS_LTZ:
			if (i == 0)
				ok = need(cc, a[i], t_int(a[i]->type), fn, i + 1, "an integer");
			else
				ok = need(cc, a[i],
					  a[i]->kind == N_LIT && !a[i]->is_null &&
						  (a[i]->v.i == 0 || a[i]->v.i == 3),
					  fn, i + 1, "the constant 0 (seconds) or 3 (milliseconds)");
			break;
		default:
			break;
		}
		if (!ok)
			return NULL;
	}
	struct node *n = NULL;
	unsigned t, op;
	switch (f->id) {
	case F_UPPER:
	case F_LOWER:
		n = op_node(cc, f->id == F_UPPER ? OP_UPPER : OP_LOWER, 0, SL_T_STRING, off, a, 1);
		break;
	case F_TRIM:
	case F_LTRIM:
	case F_RTRIM:
		n = op_node(cc, OP_TRIM,
			    f->id == F_TRIM ? TRIM_BOTH : f->id == F_LTRIM ? TRIM_LEADING : TRIM_TRAILING,
			    SL_T_STRING, off, a, 1);
		break;
	case F_LENGTH:
		n = op_node(cc, OP_LENGTH, 0, SL_T_INT, off, a, 1);
		break;
	case F_SUBSTR:
		n = op_node(cc, OP_SUBSTR, 0, SL_T_STRING, off, a, na);
		if (n && na == 3 && !(a[2]->kind == N_LIT && !a[2]->is_null && a[2]->v.i >= 0))
			n->nullable = true; /* a negative length gives NULL */
		break;
	case F_CONCAT:
		n = op_node(cc, OP_CONCAT, 0, SL_T_STRING, off, a, na);
		break;
	case F_CONCAT_WS:
		n = op_node(cc, OP_CONCAT_WS, 0, SL_T_STRING, off, a, na);
		if (n)
			n->nullable = a[0]->nullable;
		break;
	case F_REPLACE:
		n = op_node(cc, OP_REPLACE, 0, SL_T_STRING, off, a, 3);
		break;
	case F_STARTS:
	case F_ENDS:
		n = op_node(cc, f->id == F_STARTS ? OP_STARTS : OP_ENDS, 0, SL_T_BOOL, off, a, 2);
		break;
	case F_POSITION:
	case F_LOCATE:
		n = op_node(cc, OP_POSITION, 0, SL_T_INT, off, a, na);
		break;
	case F_COALESCE:
	case F_IFNULL:
		if (!unify(cc, a, na, U_RESULT, off, fn, &t))
			return NULL;
		n = new_node(cc, N_COALESCE, off, true);
		if (!n)
			return NULL;
		n->type = (uint8_t)t;
		set_kids(cc, n, a, na);
		n->nullable = true;
		for (uint32_t i = 0; i < na; i++)
			n->nullable &= a[i]->nullable;
		break;
	case F_NULLIF:
		if (!unify(cc, a, 2, U_COMPARE, off, fn, &t))
			return NULL;
		n = new_node(cc, N_NULLIF, off, true);
		if (!n)
			return NULL;
		n->type = (uint8_t)t;
		n->op = (uint8_t)cmp_op(t);
		set_kids(cc, n, a, 2);
		n->nullable = true;
		break;
	case F_IF: {
		if (!unify(cc, a + 1, 2, U_RESULT, off, fn, &t))
			return NULL;
		n = new_node(cc, N_IF, off, true);
		if (!n)
			return NULL;
		n->type = (uint8_t)t;
		set_kids(cc, n, a, 3);
		n->nullable = a[1]->nullable || a[2]->nullable;
		break;
	}
	case F_ABS:
		t = a[0]->type == SL_T_NULL ? SL_T_NULL : t_float(a[0]->type) ? SL_T_DOUBLE : SL_T_BIGINT;
		n = op_node(cc, t == SL_T_DOUBLE ? OP_ABS_F : OP_ABS_I, 0, t, off, a, 1);
		break;
	case F_ROUND:
		t = a[0]->type == SL_T_NULL ? SL_T_NULL : t_float(a[0]->type) ? SL_T_DOUBLE : SL_T_BIGINT;
		n = op_node(cc, t == SL_T_DOUBLE ? OP_ROUND_F : OP_ROUND_I, 0, t, off, a, na);
		break;
	case F_FLOOR:
	case F_CEIL:
		if (!t_float(a[0]->type)) {
			n = a[0]; /* an integer (or NULL) is its own floor */
			break;
		}
		n = op_node(cc, f->id == F_FLOOR ? OP_FLOOR : OP_CEIL, 0, SL_T_DOUBLE, off, a, 1);
		break;
	case F_MOD:
		return arith(cc, T_PERCENT, off, a[0], a[1]);
	case F_POWER:
	case F_SQRT:
	case F_LN:
	case F_LOG10:
	case F_EXP:
		for (uint32_t i = 0; i < na; i++)
			if (!(a[i] = coerce(cc, a[i], SL_T_DOUBLE)))
				return NULL;
		op = f->id == F_POWER ? OP_POWER : f->id == F_SQRT ? OP_SQRT : f->id == F_LN ? OP_LN
		     : f->id == F_LOG10				      ? OP_LOG10
									      : OP_EXP;
		n = op_node(cc, op, 0, SL_T_DOUBLE, off, a, na);
		break;
	case F_TO_TS_LTZ: {
		/* Flink's TO_TIMESTAMP_LTZ(epoch, 0|3); the instant as TIMESTAMP(3) (UTC). */
		struct node *ms = coerce(cc, a[0], SL_T_BIGINT);
		if (!ms)
			return NULL;
		if (na == 1 || a[1]->v.i == 3) {
		} else if (!(ms = arith(cc, T_STAR, off, ms, lit_int(cc, off, 1000, SL_T_BIGINT)))) {
			return NULL;
		}
		n = op_node(cc, OP_MS_TO_TS, 0, SL_T_TIMESTAMP, off, &ms, 1);
		break;
	}
	default:
		SL_ASSERT(false && "special forms are parsed elsewhere");
	}
	return fold(cc, n);
}

/* CASE ... END: the current token is the one after CASE. */
static struct node *parse_case(struct cc *cc, uint32_t off)
{
	uint32_t base = cc->n_tmp;
	struct node **k = &cc->tmp[base];
	bool has_x = false, has_else = false;
	if (!kw(cc, "WHEN")) {
		if (!push(cc, parse_or(cc)))
			return NULL;
		has_x = true;
	}
	if (!kw(cc, "WHEN"))
		return expected(cc, "WHEN");
	while (kw(cc, "WHEN")) {
		if (!next(cc) || !push(cc, parse_or(cc)) || !expect_kw(cc, "THEN") ||
		    !push(cc, parse_or(cc)))
			return NULL;
	}
	if (kw(cc, "ELSE")) {
		if (!next(cc) || !push(cc, parse_or(cc)))
			return NULL;
		has_else = true;
	}
	uint32_t nk = cc->n_tmp - base;
	uint32_t end = cc->t.off + cc->t.len;
	if (!expect_kw(cc, "END"))
		return NULL;
	/* Conditions: BOOLEAN, or comparable with the operand. */
	unsigned cmp_t = SL_T_NULL;
	uint32_t first = has_x ? 1 : 0, last = nk - has_else;
	if (has_x) {
		struct node **c = &cc->tmp[cc->n_tmp];
		uint32_t nc = 0;
		if (!push(cc, k[0]))
			return NULL;
		for (uint32_t i = first; i < last; i += 2)
			if (!push(cc, k[i]))
				return NULL;
		nc = cc->n_tmp - base - nk;
		cc->n_tmp = base + nk;
		if (!unify(cc, c, nc, U_COMPARE, off, NULL, &cmp_t))
			return NULL;
		k[0] = c[0];
		nc = 1;
		for (uint32_t i = first; i < last; i += 2)
			k[i] = c[nc++];
	} else {
		for (uint32_t i = first; i < last; i += 2)
			if (!t_bool(k[i]->type))
				return err(cc, k[i]->off, "WHEN condition must be BOOLEAN, got %s",
					   tname(k[i]->type));
	}
	/* Results: one type. */
	struct node **r = &cc->tmp[cc->n_tmp];
	uint32_t nr = 0;
	for (uint32_t i = first + 1; i < last; i += 2)
		if (!push(cc, k[i]))
			return NULL;
	if (has_else && !push(cc, k[nk - 1]))
		return NULL;
	nr = cc->n_tmp - base - nk;
	cc->n_tmp = base;
	unsigned t;
	if (!unify(cc, r, nr, U_RESULT, off, "CASE results", &t))
		return NULL;
	nr = 0;
	for (uint32_t i = first + 1; i < last; i += 2)
		k[i] = r[nr++];
	if (has_else)
		k[nk - 1] = r[nr++];
	struct node *n = new_node(cc, N_CASE, off, true);
	if (!n)
		return NULL;
	n->type = (uint8_t)t;
	n->aux = (uint8_t)(has_x | has_else << 1);
	n->op = (uint8_t)cmp_op(cmp_t);
	set_kids(cc, n, k, nk);
	n->nullable = !has_else;
	for (uint32_t i = 0; i < nr; i++)
		n->nullable |= r[i]->nullable;
	n->end = end;
	return fold(cc, n);
}

static struct node *parse_primary(struct cc *cc)
{
	struct tok t = cc->t;
	struct node *n;
	char b[48];
	switch (t.k) {
	case T_INT:
		if (t.u > (uint64_t)INT64_MAX)
			return err(cc, t.off, "integer literal %.*s is out of BIGINT range", (int)t.len,
				   cc->text + t.off);
		n = lit_int(cc, t.off, (int64_t)t.u, t.u <= INT32_MAX ? SL_T_INT : SL_T_BIGINT);
		break;
	case T_DOUBLE:
		n = lit_int(cc, t.off, 0, SL_T_DOUBLE);
		if (n)
			n->v.f = t.f;
		break;
	case T_STR:
		n = lit_str(cc, &t);
		break;
	case T_QIDENT: {
		uint32_t off, len;
		if (!unquote(cc, &t, &off, &len))
			return NULL;
		n = column(cc, cc->pool + off, len, t.off, t.off + t.len);
		cc->pool_len = off; /* the name is not needed */
		break;
	}
	case T_LP: {
		if (!enter(cc, t.off) || !next(cc))
			return NULL;
		n = parse_or(cc);
		if (!n)
			return NULL;
		uint32_t end = cc->t.off + 1;
		if (!expect(cc, T_RP, "')'"))
			return NULL;
		cc->depth--;
		n->start = SL_MIN(n->start, t.off);
		n->end = SL_MAX(n->end, end);
		return n;
	}
	case T_IDENT: {
		struct tok t2 = peek(cc);
		if (kw(cc, "TRUE") || kw(cc, "FALSE")) {
			n = lit_int(cc, t.off, kw(cc, "TRUE"), SL_T_BOOL);
		} else if (kw(cc, "NULL")) {
			n = lit_int(cc, t.off, 0, SL_T_NULL);
			if (n)
				n->is_null = n->nullable = true;
		} else if (kw(cc, "CASE")) {
			if (!enter(cc, t.off) || !next(cc))
				return NULL;
			n = parse_case(cc, t.off);
			cc->depth--;
			return n;
		} else if ((kw(cc, "DATE") || kw(cc, "TIMESTAMP")) && t2.k == T_STR) {
			enum sl_type ty = kw(cc, "DATE") ? SL_T_DATE : SL_T_TIMESTAMP;
			if (!next(cc) || !(n = lit_str(cc, &cc->t)))
				return NULL;
			n->start = t.off;
			if (!coerce(cc, n, ty))
				return NULL;
		} else if (t2.k == T_LP && !is_reserved(cc, &t)) {
			if (!next(cc))
				return NULL;
			return parse_call(cc, &t);
		} else if (is_reserved(cc, &t)) {
			return err(cc, t.off, "syntax error: expected an expression, found keyword '%.*s'",
				   (int)t.len, cc->text + t.off);
		} else {
			n = column(cc, cc->text + t.off, t.len, t.off, t.off + t.len);
		}
		break;
	}
	default:
		return err(cc, t.off, "syntax error: expected an expression, found %s",
			   tok_desc(cc, &t, b, sizeof(b)));
	}
	if (!n)
		return NULL;
	n->end = SL_MAX(n->end, cc->t.off + cc->t.len);
	return next(cc) ? n : NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Public API                                                                                  */
/* ------------------------------------------------------------------------------------------ */

struct sl_expr *sl_expr_compile(const char *text, size_t len, const struct sl_schema *in,
				struct sl_pos pos, bool quoted, struct sl_diag *d)
{
	struct sl_expr *e = NULL;
	struct cc *cc = calloc(1, sizeof(*cc));
	if (!cc) {
		sl_diag_error(d, pos, "out of memory");
		return NULL;
	}
	cc->text = text;
	cc->len = (uint32_t)SL_MIN(len, (size_t)UINT32_MAX);
	cc->in = in;
	cc->pos = pos;
	cc->quoted = quoted;
	cc->d = d;
	SL_ASSERT(in && d && (text || len == 0));
	if (len > SL_EXPR_MAX_TEXT_BYTES) {
		err(cc, 0, "expression longer than %u bytes", SL_EXPR_MAX_TEXT_BYTES);
		goto out_free_cc;
	}
	if (pool_add(cc, "", 0) == UINT32_MAX) {
		err(cc, 0, "out of memory");
		goto out_free_cc;
	}
	cc->t.off = 0;
	cc->t.len = 0;
	if (!next(cc))
		goto out_free_cc;
	if (cc->t.k == T_EOF) {
		err(cc, 0, "empty expression");
		goto out_free_cc;
	}
	struct node *root = parse_or(cc);
	if (!root)
		goto out_free_cc;
	if (cc->t.k != T_EOF) {
		char b[48];
		err(cc, cc->t.off, "syntax error: unexpected %s after the expression",
		    tok_desc(cc, &cc->t, b, sizeof(b)));
		goto out_free_cc;
	}
	SL_ASSERT(cc->depth == 0);
	e = calloc(1, sizeof(*e));
	if (!e || !gen_prog(cc, &e->pg, root)) {
		err(cc, 0, "out of memory");
		goto out_free_e;
	}
	e->type = (enum sl_type)root->type;
	e->nullable = root->nullable;
	e->is_const = root->kind == N_LIT;
	e->column = root->kind == N_COL && root->type == in->fields[root->imm].type ? (int)root->imm
										   : -1;
	e->pool = malloc(cc->pool_len + 1);
	e->text = malloc(len + 1);
	if (!e->pool || !e->text) {
		err(cc, 0, "out of memory");
		goto out_free_e;
	}
	if (cc->pool_len)
		memcpy(e->pool, cc->pool, cc->pool_len);
	if (len)
		memcpy(e->text, text, len);
	e->text_len = len;
	e->pg.text = e->text;
	for (uint32_t i = 0; i < e->pg.n_k; i++)
		if (e->pg.k_off[i] != UINT32_MAX)
			e->pg.k[i].p = e->pool + e->pg.k_off[i];
	SL_ASSERT(e->pg.n_regs <= REGS_MAX);
	goto out_free_cc;
out_free_e:
	sl_expr_free(e);
	e = NULL;
out_free_cc:
	sl_expr_scratch_free(cc->fold);
	free(cc->pool);
	free(cc);
	return e;
}

void sl_expr_free(struct sl_expr *e)
{
	if (!e)
		return;
	prog_free(&e->pg);
	free(e->pool);
	free(e->text);
	free(e);
}

enum sl_type sl_expr_type(const struct sl_expr *e)
{
	return e->type;
}

bool sl_expr_nullable(const struct sl_expr *e)
{
	return e->nullable;
}

int sl_expr_column(const struct sl_expr *e)
{
	return e->column;
}

bool sl_expr_is_constant(const struct sl_expr *e)
{
	return e->is_const;
}

struct sl_expr_scratch *sl_expr_scratch_new(size_t bytes)
{
	struct sl_expr_scratch *s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	s->bytes = malloc(bytes ? bytes : 1);
	if (!s->bytes) {
		free(s);
		return NULL;
	}
	s->cap = bytes;
	s->used = 0;
	s->err[0] = '\0';
	return s;
}

void sl_expr_scratch_free(struct sl_expr_scratch *s)
{
	if (!s)
		return;
	free(s->bytes);
	free(s);
}

int sl_expr_eval(const struct sl_expr *e, const struct sl_batch *in, uint32_t row,
		 struct sl_expr_scratch *scratch, union sl_val *out, bool *is_null, const char **str,
		 uint32_t *str_len)
{
	SL_DASSERT(row < in->n_rows || e->is_const);
	load_consts(&e->pg, scratch);
	int rc = run(&e->pg, in, row, scratch);
	if (rc < 0)
		return rc;
	const struct reg *r = &scratch->regs[e->pg.result];
	*is_null = r->null || e->type == SL_T_NULL;
	*str = NULL;
	*str_len = 0;
	out->i = 0;
	if (*is_null)
		return 0;
	if (e->type == SL_T_STRING) {
		*str = r->p;
		*str_len = r->len;
	} else {
		out->i = r->i;
	}
	return 0;
}

int sl_expr_eval_to(const struct sl_expr *e, const struct sl_batch *in, uint32_t row,
		    struct sl_expr_scratch *scratch, struct sl_batch *out, uint32_t col,
		    uint32_t out_row)
{
	union sl_val v;
	bool is_null;
	const char *s;
	uint32_t n;
	SL_DASSERT(col < out->n_cols);
	int rc = sl_expr_eval(e, in, row, scratch, &v, &is_null, &s, &n);
	if (rc < 0)
		return rc;
	if (is_null)
		sl_batch_set_null(out, col, out_row);
	else if (e->type == SL_T_STRING)
		rc = sl_batch_set_str(out, col, out_row, s, n) ? 0 : -ENOBUFS;
	else
		sl_batch_set_i(out, col, out_row, v.i);
	return rc;
}

int sl_expr_select(const struct sl_expr *e, const struct sl_batch *in, uint32_t first_row,
		   struct sl_expr_scratch *scratch, uint16_t *sel, uint32_t *n_sel,
		   uint32_t *bad_row)
{
	const struct prog *pg = &e->pg;
	const struct reg *res = &scratch->regs[pg->result];
	uint32_t n = *n_sel;
	SL_ASSERT(e->type == SL_T_BOOL || e->type == SL_T_NULL);
	SL_ASSERT(in->n_rows <= SL_BATCH_ROWS && n <= in->n_rows);
	load_consts(pg, scratch);
	if (e->is_const) {
		if (!res->null && res->i)
			for (uint32_t r = first_row; r < in->n_rows; r++)
				sel[n++] = (uint16_t)r;
		*n_sel = n;
		return (int)n;
	}
	for (uint32_t r = first_row; r < in->n_rows; r++) {
		int rc = run(pg, in, r, scratch);
		if (SL_UNLIKELY(rc < 0)) {
			*n_sel = n;
			*bad_row = r;
			return rc;
		}
		sel[n] = (uint16_t)r;
		n += !res->null & (res->i != 0);
	}
	*n_sel = n;
	return (int)n;
}

const char *sl_expr_error_text(const struct sl_expr_scratch *s)
{
	return s->err;
}
