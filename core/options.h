/* Option tables: each plugin's options declared once, driving job-file
 * parsing, validation, `sluice help <plugin>` and docs (Fluent Bit's config_map). */
#ifndef SL_OPTIONS_H
#define SL_OPTIONS_H

#include <stdio.h>

#include "core/config.h"

/* Option type, and the type of the field it fills (at `offset` in dst). */
enum sl_opt_type {
	SL_OPT_STRING,	    /* const char * (into the doc, or the static default) */
	SL_OPT_INT,	    /* int64_t */
	SL_OPT_DOUBLE,	    /* double */
	SL_OPT_BOOL,	    /* bool */
	SL_OPT_DURATION_MS, /* int64_t, milliseconds ("250ms", "1.5s", "5m") */
	SL_OPT_SIZE_BYTES,  /* int64_t, bytes ("64KiB", "1MB") */
	SL_OPT_ENUM,	    /* int: index in choices */
	SL_OPT_STRING_LIST, /* struct sl_strlist (a scalar is a one-item list) */
	SL_OPT_NODE,	    /* struct sl_cfg_node * (raw, for plugin-specific structures) */
};

/* One option. A table is a `const struct sl_option[]` ended by `{0}`. */
struct sl_option {
	const char *name;
	enum sl_opt_type type;
	/* Default, parsed like a job-file value (STRING and ENUM defaults are
	 * taken literally); NULL = no default. */
	const char *def;
	/* Must be set in the job file; a required option has no default. */
	bool required;
	/* offsetof(struct my_conf, field). */
	size_t offset;
	/* One line, for `sluice help` and the docs. */
	const char *help;
	/* SL_OPT_ENUM: the names, NULL-terminated. */
	const char *const *choices;
	/* INT / DURATION_MS / SIZE_BYTES bounds, used when min < max
	 * (DURATION_MS and SIZE_BYTES are never negative). */
	int64_t min, max;
};

/*
 * Fills dst from map (a map, a null node or NULL for "no options") using
 * table. For each option: an absent key or an explicit null takes the
 * default, or is reported if required, or leaves the field untouched (so zero
 * or pre-fill dst). Wrong types, out-of-range numbers and unknown enum values
 * are reported at the value's position; every key of map that is neither in
 * table nor in extra_known (NULL-terminated names the caller reads itself,
 * e.g. "type", "from"; may be NULL) nor marked used is reported with a
 * did-you-mean. what names the map in messages ("sink 'out'"). Strings and
 * lists point into doc (or the table's static defaults): dst is valid as long
 * as doc is. All errors are collected; returns 0 or -EINVAL (-ENOMEM).
 * Control thread only.
 */
int sl_options_parse(const struct sl_option *table, struct sl_cfg_doc *doc, struct sl_cfg_node *map,
		     const char *what, const char *const *extra_known, void *dst,
		     struct sl_diag *d);

/*
 * Checks a table itself, for plugin unit tests: names set and unique, enum
 * choices present, defaults valid for their type and bounds, no default on
 * required options, sane bounds. Errors name the table entry as
 * "(options table):ENTRY:0". Returns 0 or -EINVAL.
 */
int sl_options_check(const struct sl_option *table, struct sl_diag *d);

/* Writes the help text of a table to f: per option, its name, type (with
 * choices and bounds), default or "required", and help line. */
void sl_options_help(const struct sl_option *table, FILE *f);

/* Writes the table as a Markdown table (Option | Type | Default |
 * Description) to f, for docs/job-file.md. */
void sl_options_markdown(const struct sl_option *table, FILE *f);

#endif
