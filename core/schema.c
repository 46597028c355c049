/* Column types and schemas. */
#include "core/schema.h"

#include <string.h>
#include <strings.h>

static const char *const type_names[SL_T__COUNT] = {
	[SL_T_NULL] = "NULL",     [SL_T_BOOL] = "BOOLEAN", [SL_T_INT] = "INT",
	[SL_T_BIGINT] = "BIGINT", [SL_T_FLOAT] = "FLOAT",  [SL_T_DOUBLE] = "DOUBLE",
	[SL_T_STRING] = "STRING", [SL_T_DATE] = "DATE",    [SL_T_TIMESTAMP] = "TIMESTAMP(3)",
};

const char *sl_type_name(enum sl_type t)
{
	return (unsigned)t < SL_T__COUNT ? type_names[t] : "?";
}

bool sl_type_parse(const char *s, size_t len, enum sl_type *out)
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
		{"DATE", SL_T_DATE},         {"TIMESTAMP", SL_T_TIMESTAMP},
		{"TIMESTAMP(3)", SL_T_TIMESTAMP},
	};
	/* VARCHAR(n) / CHAR(n): the length is not enforced. */
	size_t base = len;
	if (len > 0 && s[len - 1] == ')') {
		const char *p = memchr(s, '(', len);
		if (p && (strncasecmp(s, "VARCHAR(", 8) == 0 || strncasecmp(s, "CHAR(", 5) == 0))
			base = (size_t)(p - s);
	}
	for (size_t i = 0; i < SL_ARRAY_LEN(names); i++) {
		if (strlen(names[i].name) == base && strncasecmp(names[i].name, s, base) == 0) {
			*out = names[i].t;
			return true;
		}
	}
	return false;
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
	for (uint32_t i = 0; i < a->n_fields; i++)
		if (a->fields[i].type != b->fields[i].type ||
		    strcmp(a->fields[i].name, b->fields[i].name) != 0)
			return false;
	return true;
}
