/* Flink SQL column lists ("id INT NOT NULL, ts TIMESTAMP_LTZ(3) METADATA FROM
 * 'source.timestamp' VIRTUAL, PRIMARY KEY (id) NOT ENFORCED") read into a schema,
 * the metadata columns and the primary key: how formats are given their rows. */
#ifndef SL_SQLSCHEMA_H
#define SL_SQLSCHEMA_H

#include "core/diag.h"
#include "core/schema.h"

/* Longest metadata key ('value.source.timestamp' and the like), NUL included. */
#define SL_META_KEY_MAX 64u

struct sl_sqlschema_meta {
	uint32_t col;		   /* column index in schema */
	char key[SL_META_KEY_MAX]; /* FROM 'key', else the column name */
	bool is_virtual;	   /* VIRTUAL: read-only (sinks skip it) */
	struct sl_pos pos;	   /* where the key (or the column name) is written */
};

struct sl_sqlschema {
	/* Every column in declaration order, metadata columns included. */
	struct sl_schema schema;
	uint32_t n_meta;
	struct sl_sqlschema_meta meta[SL_MAX_COLS];
	/* PRIMARY KEY columns (column indexes, in key order); they are NOT NULL. */
	uint32_t n_pk;
	uint32_t pk[SL_MAX_KEYS];
	/* Where each column's name is written. pos.file points at the caller's string. */
	struct sl_pos col_pos[SL_MAX_COLS];
};

/*
 * Parses text[0..len), a Flink SQL column list:
 *
 *   name TYPE [NOT NULL | NULL] [PRIMARY KEY NOT ENFORCED] [COMMENT '...']
 *   name TYPE [NOT NULL | NULL] METADATA [FROM 'key'] [VIRTUAL] [COMMENT '...']
 *   [CONSTRAINT name] PRIMARY KEY (col, ...) NOT ENFORCED
 *
 * separated by commas (a trailing comma is allowed). Names are plain
 * ([A-Za-z_][A-Za-z0-9_$]*, case kept) or `back-quoted` (`` is a quote);
 * keywords and types are case-insensitive; strings are '...' with '' for a
 * quote; -- comments run to the end of the line. Types are those of
 * sl_type_parse_ps, written as in Flink SQL (spaces allowed: "DECIMAL(10, 2)",
 * "TIMESTAMP(3)  WITH LOCAL TIME ZONE"). Computed columns (AS) and WATERMARK
 * are rejected with a clear message. Flink's rules are kept: PRIMARY KEY needs
 * NOT ENFORCED, names physical columns only, is declared once, and makes its
 * columns NOT NULL.
 *
 * text is where a document's value starts at pos (quoted: one column after
 * pos, past the opening quote); errors are reported through d at the
 * position of the offending word ("FILE:LINE:COL: schema: ..."), all of them.
 * Returns 0, or -EINVAL with out partially filled. Any thread; allocates
 * nothing.
 */
int sl_sqlschema_parse(const char *text, size_t len, struct sl_pos pos, bool quoted,
		       struct sl_sqlschema *out, struct sl_diag *d);

/* Index in s->meta of column col's entry, or -1 if col is a physical column. */
int sl_sqlschema_meta_of(const struct sl_sqlschema *s, uint32_t col);

#endif
