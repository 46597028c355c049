/* Option tables: parse a plugin's options map into its config struct, check
 * tables, and print them as help text or Markdown. */
#include "core/options.h"

#include <stdlib.h>
#include <string.h>

static bool has_bounds(const struct sl_option *o)
{
	return o->min < o->max;
}

static int64_t lo_bound(const struct sl_option *o)
{
	if (o->type == SL_OPT_INT)
		return has_bounds(o) ? o->min : INT64_MIN;
	return has_bounds(o) ? SL_MAX(o->min, (int64_t)0) : 0;
}

static int64_t hi_bound(const struct sl_option *o)
{
	if (o->type == SL_OPT_INT)
		return has_bounds(o) ? o->max : INT64_MAX;
	return has_bounds(o) ? SL_MAX(o->max, (int64_t)0) : INT64_MAX;
}

/* Converts v into the field of type o->type at field. */
static int convert(const struct sl_option *o, struct sl_cfg_doc *doc, struct sl_cfg_node *v,
		   void *field, struct sl_diag *d)
{
	switch (o->type) {
	case SL_OPT_STRING:
		return sl_cfg_as_string(v, o->name, (const char **)field, d);
	case SL_OPT_INT:
		return sl_cfg_as_int64(v, o->name, lo_bound(o), hi_bound(o), (int64_t *)field, d);
	case SL_OPT_DOUBLE:
		return sl_cfg_as_double(v, o->name, (double *)field, d);
	case SL_OPT_BOOL:
		return sl_cfg_as_bool(v, o->name, (bool *)field, d);
	case SL_OPT_DURATION_MS:
		return sl_cfg_as_duration_ms(v, o->name, lo_bound(o), hi_bound(o), (int64_t *)field,
					     d);
	case SL_OPT_SIZE_BYTES:
		return sl_cfg_as_size_bytes(v, o->name, lo_bound(o), hi_bound(o), (int64_t *)field,
					    d);
	case SL_OPT_ENUM:
		return sl_cfg_as_enum(v, o->name, o->choices, (int *)field, d);
	case SL_OPT_STRING_LIST:
		return sl_cfg_as_strlist(doc, v, o->name, (struct sl_strlist *)field, d);
	case SL_OPT_NODE:
		*(struct sl_cfg_node **)field = v;
		return 0;
	}
	SL_ASSERT(!"unknown option type");
	return -EINVAL;
}

/* Applies o->def: STRING and ENUM literally, the rest parsed as YAML. */
static int apply_default(const struct sl_option *o, struct sl_cfg_doc *doc, void *field,
			 struct sl_diag *d)
{
	SL_ASSERT(o->def != NULL);
	if (o->type == SL_OPT_STRING) {
		*(const char **)field = o->def;
		return 0;
	}
	if (o->type == SL_OPT_ENUM) {
		for (int i = 0; o->choices && o->choices[i]; i++) {
			if (strcmp(o->choices[i], o->def) == 0) {
				*(int *)field = i;
				return 0;
			}
		}
		return sl_diag_error(d, (struct sl_pos){"(options table)", 0, 0},
				     "%s: default '%s' is not one of its choices", o->name, o->def);
	}
	char origin[96];
	snprintf(origin, sizeof(origin), "default of %s", o->name);
	struct sl_cfg_node *v = sl_cfg_parse_value(doc, origin, o->def, d);
	if (!v)
		return -EINVAL;
	if (v->type == SL_CFG_NULL)
		return 0; /* a "~" default: no value */
	return convert(o, doc, v, field, d);
}

int sl_options_parse(const struct sl_option *table, struct sl_cfg_doc *doc, struct sl_cfg_node *map,
		     const char *what, const char *const *extra_known, void *dst, struct sl_diag *d)
{
	SL_ASSERT(table && doc && dst && what);
	struct sl_pos where = map ? map->pos : sl_cfg_root(doc)->pos;
	if (map && map->type != SL_CFG_MAP && map->type != SL_CFG_NULL)
		return sl_diag_error(d, map->pos, "%s: expected a map of options, got a %s", what,
				     sl_cfg_type_name(map->type));
	int rc = 0;
	size_t n_table = 0, n_extra = 0;
	for (const struct sl_option *o = table; o->name; o++, n_table++) {
		void *field = (char *)dst + o->offset;
		struct sl_cfg_node *v = sl_cfg_get(map, o->name);
		int r = 0;
		if (v && v->type == SL_CFG_NULL)
			v = NULL; /* `key:` or `key: ~` means "not set" */
		if (v)
			r = convert(o, doc, v, field, d);
		else if (o->required)
			r = sl_diag_error(d, where, "%s: missing required option '%s'", what,
					  o->name);
		else if (o->def)
			r = apply_default(o, doc, field, d);
		if (r && !rc)
			rc = r;
	}
	for (; extra_known && extra_known[n_extra]; n_extra++)
		;
	const char **known = malloc((n_table + n_extra + 1) * sizeof(*known));
	if (!known) {
		sl_diag_error(d, where, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_table; i++)
		known[i] = table[i].name;
	for (size_t i = 0; i < n_extra; i++)
		known[n_table + i] = extra_known[i];
	known[n_table + n_extra] = NULL;
	int r = sl_cfg_unused(map, what, known, d);
	if (r && !rc)
		rc = r;
	free(known);
	return rc;
}

int sl_options_check(const struct sl_option *table, struct sl_diag *d)
{
	int rc = 0;
	struct sl_cfg_doc *doc = sl_cfg_load_string("(options table)", "", 0, d);
	if (!doc)
		return -ENOMEM;
	for (const struct sl_option *o = table; o->name; o++) {
		struct sl_pos pos = {"(options table)", (uint32_t)(o - table) + 1, 0};
		union {
			const char *s;
			int64_t i;
			double f;
			bool b;
			int e;
			struct sl_strlist l;
			struct sl_cfg_node *n;
		} scratch;
		if (!o->name[0])
			rc = sl_diag_error(d, pos, "option with an empty name");
		for (const struct sl_option *p = table; p < o; p++)
			if (strcmp(p->name, o->name) == 0)
				rc = sl_diag_error(d, pos, "%s: declared twice", o->name);
		if ((unsigned)o->type > SL_OPT_NODE) {
			rc = sl_diag_error(d, pos, "%s: unknown option type %d", o->name,
					   (int)o->type);
			continue;
		}
		if (o->type == SL_OPT_ENUM && (!o->choices || !o->choices[0]))
			rc = sl_diag_error(d, pos, "%s: enum without choices", o->name);
		if (o->required && o->def)
			rc = sl_diag_error(d, pos, "%s: required option with a default", o->name);
		if (o->min > o->max)
			rc = sl_diag_error(d, pos, "%s: min > max", o->name);
		if (has_bounds(o) && o->type != SL_OPT_INT && o->type != SL_OPT_DURATION_MS &&
		    o->type != SL_OPT_SIZE_BYTES)
			rc = sl_diag_error(d, pos, "%s: bounds on a type that has none", o->name);
		if (has_bounds(o) && o->type != SL_OPT_INT && o->min < 0)
			rc = sl_diag_error(d, pos, "%s: negative lower bound", o->name);
		if (o->def && (o->type != SL_OPT_ENUM || (o->choices && o->choices[0])) &&
		    apply_default(o, doc, &scratch, d))
			rc = -EINVAL;
	}
	sl_cfg_free(doc);
	return rc;
}

/* "integer in [1, 100]", "one of: json, csv", ... */
static const char *type_text(const struct sl_option *o, char *buf, size_t cap, bool md)
{
	static const char *const names[] = {
	    [SL_OPT_STRING] = "string",	       [SL_OPT_INT] = "integer",
	    [SL_OPT_DOUBLE] = "number",	       [SL_OPT_BOOL] = "boolean",
	    [SL_OPT_DURATION_MS] = "duration", [SL_OPT_SIZE_BYTES] = "size",
	    [SL_OPT_ENUM] = "one of:",	       [SL_OPT_STRING_LIST] = "list of strings",
	    [SL_OPT_NODE] = "YAML value",
	};
	size_t len = 0;
	const char *q = md ? "`" : "";
	len += (size_t)snprintf(buf, cap, "%s",
				(unsigned)o->type <= SL_OPT_NODE ? names[o->type] : "?");
	if (o->type == SL_OPT_ENUM) {
		for (int i = 0; o->choices && o->choices[i] && len < cap; i++)
			len += (size_t)snprintf(buf + len, cap - len, "%s %s%s%s", i ? "," : "", q,
						o->choices[i], q);
	} else if (has_bounds(o) && len < cap) {
		long long lo = o->min, hi = o->max;
		if (o->type == SL_OPT_DURATION_MS)
			snprintf(buf + len, cap - len, " in [%lldms, %lldms]", lo, hi);
		else if (o->type == SL_OPT_SIZE_BYTES)
			snprintf(buf + len, cap - len, " in [%lld, %lld] bytes", lo, hi);
		else
			snprintf(buf + len, cap - len, " in [%lld, %lld]", lo, hi);
	}
	return buf;
}

void sl_options_help(const struct sl_option *table, FILE *f)
{
	for (const struct sl_option *o = table; o->name; o++) {
		char type[512];
		type_text(o, type, sizeof(type), false);
		if (o->required)
			fprintf(f, "  %s (%s; required)\n", o->name, type);
		else if (o->def)
			fprintf(f, "  %s (%s; default %s)\n", o->name, type,
				o->def[0] ? o->def : "\"\"");
		else
			fprintf(f, "  %s (%s)\n", o->name, type);
		if (o->help)
			fprintf(f, "      %s\n", o->help);
	}
}

/* Writes s with '|' escaped, so it stays in its Markdown table cell. */
static void md_cell(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|')
			fputc('\\', f);
		fputc(*s == '\n' ? ' ' : *s, f);
	}
}

void sl_options_markdown(const struct sl_option *table, FILE *f)
{
	fputs("| Option | Type | Default | Description |\n", f);
	fputs("| --- | --- | --- | --- |\n", f);
	for (const struct sl_option *o = table; o->name; o++) {
		char type[512];
		fputs("| `", f);
		md_cell(f, o->name);
		fputs("` | ", f);
		md_cell(f, type_text(o, type, sizeof(type), true));
		fputs(" | ", f);
		if (o->required) {
			fputs("**required**", f);
		} else if (o->def) {
			fputc('`', f);
			md_cell(f, o->def[0] ? o->def : "\"\"");
			fputc('`', f);
		} else {
			fputs("-", f);
		}
		fputs(" | ", f);
		md_cell(f, o->help ? o->help : "");
		fputs(" |\n", f);
	}
}
