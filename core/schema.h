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
	SL_T_DECIMAL,   /* DECIMAL(p,s), p <= 18: the value times 10^s in .i */
	SL_T_TIMESTAMP_LTZ, /* TIMESTAMP_LTZ(3): an instant, milliseconds since the epoch */
	SL_T__COUNT
};

/* Largest DECIMAL precision: an unscaled value below 10^18 fits int64_t. */
#define SL_DECIMAL_MAX_PRECISION 18u
/* DECIMAL without (p,s), as in Flink. */
#define SL_DECIMAL_DEFAULT_PRECISION 10u

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
	/* DECIMAL: digits in all and after the point (scale <= precision <=
	 * SL_DECIMAL_MAX_PRECISION); TIMESTAMP, TIMESTAMP_LTZ: fractional
	 * digits declared (<= 3); 0 for other types. */
	uint8_t precision, scale;
};

struct sl_schema {
	uint32_t n_fields;
	struct sl_field fields[SL_MAX_COLS];
};

/* Name of a type as written in job files ("BIGINT"). */
const char *sl_type_name(enum sl_type t);
/* Parses a type name (case-insensitive; INTEGER, VARCHAR, TEXT, BOOLEAN,
 * TIMESTAMP(3) and friends accepted). Returns false if unknown. DECIMAL's
 * precision and scale are dropped: use sl_type_parse_ps for them. */
bool sl_type_parse(const char *s, size_t len, enum sl_type *out);
/*
 * sl_type_parse plus the type's parameters: DECIMAL[(p[,s])] (also DEC,
 * NUMERIC; DECIMAL alone is DECIMAL(10,0), 1 <= p <= 18, 0 <= s <= p),
 * TIMESTAMP[(p)] [WITHOUT TIME ZONE], TIMESTAMP_LTZ[(p)] and TIMESTAMP[(p)]
 * WITH LOCAL TIME ZONE (p <= 3: values are kept in milliseconds; no p is 3).
 * Words are separated by single spaces; no spaces around parentheses except
 * after a comma ("DECIMAL(10, 2)"). *precision and *scale are set as
 * struct sl_field holds them (0 when the type has none).
 */
bool sl_type_parse_ps(const char *s, size_t len, enum sl_type *out, uint8_t *precision,
		      uint8_t *scale);
/* The declared type of f as text ("DECIMAL(10,2)", "INT"); returns the length. */
int sl_field_type_text(const struct sl_field *f, char *buf, size_t cap);
static inline bool sl_type_is_numeric(enum sl_type t)
{
	return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_FLOAT || t == SL_T_DOUBLE;
}
static inline bool sl_type_is_integral(enum sl_type t)
{
	return t == SL_T_INT || t == SL_T_BIGINT || t == SL_T_DATE || t == SL_T_TIMESTAMP ||
	       t == SL_T_BOOL || t == SL_T_DECIMAL || t == SL_T_TIMESTAMP_LTZ;
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
/* Same column names and types (DECIMAL: and precision and scale). */
bool sl_schema_equal(const struct sl_schema *a, const struct sl_schema *b);

#endif
