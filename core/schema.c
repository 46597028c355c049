/* Column types and schemas. */
#include "core/schema.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const type_names[SL_T__COUNT] = {
	[SL_T_NULL] = "NULL",     [SL_T_BOOL] = "BOOLEAN", [SL_T_INT] = "INT",
	[SL_T_BIGINT] = "BIGINT", [SL_T_FLOAT] = "FLOAT",  [SL_T_DOUBLE] = "DOUBLE",
	[SL_T_STRING] = "STRING", [SL_T_DATE] = "DATE",    [SL_T_TIMESTAMP] = "TIMESTAMP(3)",
	[SL_T_DECIMAL] = "DECIMAL", [SL_T_TIMESTAMP_LTZ] = "TIMESTAMP_LTZ(3)",
};

const char *sl_type_name(enum sl_type t)
{
	return (unsigned)t < SL_T__COUNT ? type_names[t] : "?";
}

bool sl_type_parse(const char *s, size_t len, enum sl_type *out)
{
	uint8_t p, sc;
	return sl_type_parse_ps(s, len, out, &p, &sc);
}

/* s[0..len) starts with word (any case); *rest is what follows it. */
static bool starts_with(const char *s, size_t len, const char *word, size_t *rest)
{
	size_t n = strlen(word);
	if (len < n || strncasecmp(s, word, n) != 0)
		return false;
	*rest = n;
	return true;
}

static bool equals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && strncasecmp(s, word, len) == 0;
}

/*
 * Reads "(n)" or "(n,m)" / "(n, m)" at s[0..len), each 1 to 3 digits. Returns
 * the bytes used, or 0 if s does not start with such a list. *m is -1 if absent.
 */
static size_t read_params(const char *s, size_t len, int *n, int *m)
{
	size_t i = 0;
	int *dst = n;
	*m = -1;
	if (len == 0 || s[0] != '(')
		return 0;
	i = 1;
	for (int k = 0; k < 2; k++) {
		int v = 0, digits = 0;
		while (i < len && s[i] >= '0' && s[i] <= '9' && digits < 4) {
			v = v * 10 + (s[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
		*dst = v;
		if (i < len && s[i] == ')')
			return i + 1;
		if (k == 1 || i >= len || s[i] != ',')
			return 0;
		i++;
		if (i < len && s[i] == ' ')
			i++;
		dst = m;
	}
	return 0;
}

bool sl_type_parse_ps(const char *s, size_t len, enum sl_type *out, uint8_t *precision,
		      uint8_t *scale)
{
	static const struct {
		const char *name;
		enum sl_type t;
	} names[] = {
		{"BOOLEAN", SL_T_BOOL},      {"BOOL", SL_T_BOOL},
		{"INT", SL_T_INT},           {"INTEGER", SL_T_INT},
		{"TINYINT", SL_T_INT},       {"SMALLINT", SL_T_INT},
		{"BIGINT", SL_T_BIGINT},     {"LONG", SL_T_BIGINT},
		{"FLOAT", SL_T_FLOAT},       {"REAL", SL_T_FLOAT},
		{"DOUBLE", SL_T_DOUBLE},     {"DOUBLE PRECISION", SL_T_DOUBLE},
		{"STRING", SL_T_STRING},     {"VARCHAR", SL_T_STRING},
		{"TEXT", SL_T_STRING},       {"CHAR", SL_T_STRING},
		{"DATE", SL_T_DATE},
	};
	size_t rest;
	int n, m;
	*precision = 0;
	*scale = 0;
	/* VARCHAR(n) / CHAR(n): the length is not enforced. */
	size_t base = len;
	if (len > 0 && s[len - 1] == ')') {
		const char *p = memchr(s, '(', len);
		if (p && (strncasecmp(s, "VARCHAR(", 8) == 0 || strncasecmp(s, "CHAR(", 5) == 0)) {
			base = (size_t)(p - s);
			if (read_params(p, len - base, &n, &m) != len - base || m >= 0 || n < 1)
				return false;
		}
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
		if (strlen(names[i].name) == base && strncasecmp(names[i].name, s, base) == 0) {
			*out = names[i].t;
			return true;
		}
	}
	/* DECIMAL, DEC, NUMERIC [(p[,s])] */
	if (starts_with(s, len, "DECIMAL", &rest) || starts_with(s, len, "NUMERIC", &rest) ||
	    starts_with(s, len, "DEC", &rest)) {
		n = SL_DECIMAL_DEFAULT_PRECISION;
		m = 0;
		if (rest < len) {
			if (read_params(s + rest, len - rest, &n, &m) != len - rest)
				return false;
			if (m < 0)
				m = 0;
		}
		if (n < 1 || n > (int)SL_DECIMAL_MAX_PRECISION || m > n)
			return false;
		*out = SL_T_DECIMAL;
		*precision = (uint8_t)n;
		*scale = (uint8_t)m;
		return true;
	}
	/* TIMESTAMP_LTZ[(p)] */
	if (starts_with(s, len, "TIMESTAMP_LTZ", &rest)) {
		n = 3;
		if (rest < len && (read_params(s + rest, len - rest, &n, &m) != len - rest || m >= 0))
			return false;
		if (n > 3)
			return false;
		*out = SL_T_TIMESTAMP_LTZ;
		*precision = (uint8_t)n;
		return true;
	}
	/* TIMESTAMP[(p)] [WITHOUT TIME ZONE | WITH LOCAL TIME ZONE] */
	if (starts_with(s, len, "TIMESTAMP", &rest)) {
		size_t used;
		n = 3;
		if (rest < len && s[rest] == '(') {
			used = read_params(s + rest, len - rest, &n, &m);
			if (used == 0 || m >= 0)
				return false;
			rest += used;
		}
		if (n > 3)
			return false;
		*precision = (uint8_t)n;
		if (rest == len) {
			*out = SL_T_TIMESTAMP;
			return true;
		}
		if (equals(s + rest, len - rest, " WITHOUT TIME ZONE")) {
			*out = SL_T_TIMESTAMP;
			return true;
		}
		if (equals(s + rest, len - rest, " WITH LOCAL TIME ZONE")) {
			*out = SL_T_TIMESTAMP_LTZ;
			return true;
		}
		return false;
	}
	return false;
}

int sl_field_type_text(const struct sl_field *f, char *buf, size_t cap)
{
	int n;
	if (f->type == SL_T_DECIMAL)
		n = snprintf(buf, cap, "DECIMAL(%u,%u)", f->precision, f->scale);
	else
		n = snprintf(buf, cap, "%s", sl_type_name(f->type));
	return n;
}

int sl_schema_find(const struct sl_schema *s, const char *name)
{
	for (uint32_t i = 0; i < s->n_fields; i++)
		if (strcmp(s->fields[i].name, name) == 0)
			return (int)i;
	return -1;
}

int sl_schema_add(struct sl_schema *s, const char *name, enum sl_type t, bool not_null)
{
	if (s->n_fields >= SL_MAX_COLS)
		return -ENOSPC;
	if (strlen(name) >= SL_NAME_MAX)
		return -ENAMETOOLONG;
	if (sl_schema_find(s, name) >= 0)
		return -EEXIST;
	struct sl_field *f = &s->fields[s->n_fields++];
	memset(f, 0, sizeof(*f));
	strcpy(f->name, name);
	f->type = t;
	f->not_null = not_null;
	return 0;
}

bool sl_schema_equal(const struct sl_schema *a, const struct sl_schema *b)
{
	if (a->n_fields != b->n_fields)
		return false;
	for (uint32_t i = 0; i < a->n_fields; i++) {
		if (a->fields[i].type != b->fields[i].type ||
		    strcmp(a->fields[i].name, b->fields[i].name) != 0)
			return false;
		if (a->fields[i].type == SL_T_DECIMAL &&
		    (a->fields[i].precision != b->fields[i].precision ||
		     a->fields[i].scale != b->fields[i].scale))
			return false;
	}
	return true;
}
