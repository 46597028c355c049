/* Column types and schemas: the shape of the rows a node produces. */
#ifndef SL_SCHEMA_H
#define SL_SCHEMA_H

#include "core/common.h"
#include "core/limits.h"

/*
 * Every value occupies one 8-byte slot (union sl_val): integers, booleans,
 * dates and timestamps in .i, FLOAT and DOUBLE in .f (a FLOAT is kept
 * rounded to float precision), strings as an offset/length into the batch's
 * string heap.
 */
enum sl_type {
	SL_T_NULL = 0, /* only the type of the literal NULL in expressions */
	SL_T_BOOL,
	SL_T_INT,       /* 32-bit range, kept in .i */
	SL_T_BIGINT,
	SL_T_FLOAT,     /* 32-bit precision, kept in .f */
	SL_T_DOUBLE,
	SL_T_STRING,
	SL_T_DATE,      /* days since 1970-01-01 */
	SL_T_TIMESTAMP, /* milliseconds since the epoch, TIMESTAMP(3) */
	SL_T__COUNT
};

union sl_val {
	int64_t i;
	double f;
	struct {
		uint32_t off;
		uint32_t len;
	} s;
};
static_assert(sizeof(union sl_val) == 8, "one slot per value");

struct sl_field {
	char name[SL_NAME_MAX];
	enum sl_type type;
	bool not_null;
};

struct sl_schema {
	uint32_t n_fields;
	struct sl_field fields[SL_MAX_COLS];
};

/* Name of a type as written in job files ("BIGINT"). */
const char *sl_type_name(enum sl_type t);
/* Parses a type name (case-insensitive; INTEGER, VARCHAR, TEXT, BOOLEAN,
 * TIMESTAMP(3) and friends accepted). Returns false if unknown. */
bool sl_type_parse(const char *s, size_t len, enum sl_type *out);
static inline bool sl_type_is_numeric(enum sl_type t)
{
	return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_FLOAT || t == SL_T_DOUBLE;
}
static inline bool sl_type_is_integral(enum sl_type t)
{
	return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_DATE || t == SL_T_TIMESTAMP ||
	       t == SL_T_BOOL;
}
static inline bool sl_type_is_float(enum sl_type t)
{
	return t == SL_T_FLOAT || t == SL_T_DOUBLE;
}

/* Index of the column called name, or -1. */
int sl_schema_find(const struct sl_schema *s, const char *name);
/* Appends a column; -ENOSPC past SL_MAX_COLS, -EEXIST on a duplicate name,
 * -ENAMETOOLONG past SL_NAME_MAX. */
int sl_schema_add(struct sl_schema *s, const char *name, enum sl_type t, bool not_null);
bool sl_schema_equal(const struct sl_schema *a, const struct sl_schema *b);

#endif
