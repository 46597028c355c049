/* Expressions of filter and map steps: a small SQL (Flink-flavoured) compiled to flat code. */
#ifndef SL_EXPR_H
#define SL_EXPR_H

#include "core/batch.h"
#include "core/diag.h"
#include "core/schema.h"

/*
 * The language
 * ------------
 * Literals   42 (INT if it fits in 32 bits, else BIGINT), 1.5 / 2e3 (DOUBLE),
 *            'it''s' (STRING), TRUE, FALSE, NULL, DATE '2024-01-31',
 *            TIMESTAMP '2024-01-31 12:00:00.123'.
 * Columns    name ([A-Za-z_][A-Za-z0-9_]*, case-sensitive) or `any name`
 *            (`` inside backticks is one backtick). Keywords and function
 *            names are case-insensitive. AND OR NOT IS NULL TRUE FALSE IN LIKE
 *            BETWEEN CASE WHEN THEN ELSE END are reserved: a column with one of
 *            those names needs backticks. A name followed by ( is a function.
 * Operators, loosest first:
 *            OR
 *            AND
 *            NOT
 *            = == != <> < <= > >=, IS [NOT] NULL|TRUE|FALSE|UNKNOWN,
 *            [NOT] IN (v, ...), [NOT] LIKE p [ESCAPE 'c'] (c: one ASCII
 *            character), [NOT] BETWEEN [ASYMMETRIC] a AND b
 *            ||  (string concatenation)
 *            + -
 *            * / %
 *            unary - +
 *            CASE WHEN c THEN v ... [ELSE v] END, CASE x WHEN v THEN r ... END
 * Functions (case-insensitive names):
 *   strings  upper(s), lower(s)            ASCII letters only; other bytes kept
 *            trim(s), ltrim(s), rtrim(s)   spaces only; and
 *            TRIM([BOTH|LEADING|TRAILING] [chars] FROM s) for a character set
 *            length(s), char_length(s), character_length(s)  UTF-8 characters, INT
 *            substr(s, start[, len]), substring(s, start[, len]),
 *            SUBSTRING(s FROM start [FOR len])  1-based, in characters, as Flink:
 *              start 0 acts as 1, a negative start counts from the end, start
 *              past the end gives '', a negative len gives NULL
 *            concat(s, ...)                NULL if any argument is NULL
 *            concat_ws(sep, s, ...)        skips NULL arguments; NULL sep gives NULL
 *            replace(s, from, to)          every occurrence; an empty `from` keeps s
 *            starts_with(s, p), ends_with(s, p)  (also startswith, endswith)
 *            position(sub IN s), locate(sub, s[, from])  1-based character
 *              position of the first match (at or after `from`; from < 1 acts
 *              as 1), 0 if none; an empty sub matches at once. INT.
 *   nulls    coalesce(a, ...), ifnull(a, b), nullif(a, b), if(c, a, b)
 *   numbers  abs(x), round(x[, digits]) (half away from zero, on the shortest
 *            decimal form of a double as Flink's BigDecimal does, so
 *            round(2.675, 2) is 2.68; negative digits round left of the point),
 *            floor(x), ceil(x), ceiling(x), mod(a, b), power(a, b), sqrt(x),
 *            ln(x), log10(x), exp(x).
 *   time     to_timestamp_ltz(epoch[, 0|3]) epoch seconds (0) or milliseconds (3,
 *            the default) as a TIMESTAMP(3) in UTC (Debezium's io.debezium.time.
 *            Timestamp columns arrive as such BIGINTs). abs and round give BIGINT for integers,
 *            DOUBLE otherwise; floor and ceil give an integer back unchanged
 *            (same type) and DOUBLE for FLOAT/DOUBLE; the rest give DOUBLE
 *            (IEEE: sqrt(-1) is NaN, ln(0) -Infinity).
 *   casts    cast(x AS type), try_cast(x AS type); type as sl_type_parse
 *            (INT, BIGINT, FLOAT, DOUBLE, STRING/VARCHAR(n), BOOLEAN, DATE,
 *            TIMESTAMP/TIMESTAMP(3)). Allowed: anything to and from STRING;
 *            numbers and BOOLEAN among themselves; DATE <-> TIMESTAMP.
 *            DOUBLE/FLOAT to an integer truncates toward zero; numbers to BOOLEAN
 *            are TRUE unless zero; BOOLEAN to numbers is 1 or 0.
 *            Strings are trimmed of ASCII white space before parsing; BOOLEAN
 *            accepts true/false/t/f/yes/no/y/n/1/0; DATE 'YYYY-M-D';
 *            TIMESTAMP 'YYYY-M-D[( |T)H:MM[:SS[.fraction]]]' (fraction cut to ms).
 *            Numbers print as Java does (1.0, 1.0E10, NaN, Infinity), BOOLEAN
 *            as TRUE/FALSE, TIMESTAMP as 'YYYY-MM-DD HH:MM:SS.mmm'.
 *
 * Types: arithmetic on integers is 64-bit (BIGINT result, INT / INT truncates
 * like Java); any FLOAT or DOUBLE operand makes it DOUBLE. Comparisons need two
 * numbers, two strings (bytewise), two booleans, or dates and timestamps (a
 * DATE compares as its midnight); a DATE or TIMESTAMP may be compared with a
 * string literal, which is parsed at compile time. Comparing a STRING with a
 * number is a compile error: CAST one side. || and the string functions need
 * STRING arguments (CAST numbers first). NaN is unequal to everything (as in
 * Java): only <> holds. IN, BETWEEN, CASE x WHEN, nullif, coalesce, if and
 * CASE results bring their operands to one common type the same way
 * (INT < BIGINT < DOUBLE, FLOAT < DOUBLE, DATE < TIMESTAMP).
 * NULLs: SQL three-valued logic. Every operator and function yields NULL when
 * an argument is NULL, except AND/OR (NULL AND FALSE is FALSE, NULL OR TRUE is
 * TRUE), IS ..., IN (NULL only if nothing matched and the list held a NULL),
 * coalesce/ifnull/nullif/if/CASE, concat_ws, and try_cast.
 * Evaluation is lazy where SQL says so: AND/OR short-circuit, and CASE, if,
 * coalesce only evaluate the branch they take, so
 * `CASE WHEN b <> 0 THEN a / b END` never divides by zero.
 * Data errors (the row is bad, not the job): integer division or modulo by
 * zero (-EDOM), BIGINT overflow in + - * / abs round and negation (-ERANGE),
 * a CAST that cannot convert its value (-EINVAL; -ERANGE when out of range),
 * an invalid LIKE escape in a non-constant pattern (-EINVAL). try_cast gives
 * NULL instead. DOUBLE arithmetic follows IEEE (1.0 / 0 is Infinity).
 * A data error's message (sl_expr_error_text) ends with the text of the part
 * that failed: "division by zero in `a / b`".
 * Constant subexpressions are computed once at compile time (unless that
 * fails, then every row reports the error).
 * Limits: SL_EXPR_MAX_TEXT_BYTES of text, SL_EXPR_MAX_NODES nodes (literals,
 * columns, operators, calls, IN list items), SL_EXPR_MAX_DEPTH nested
 * parentheses, calls, CASEs and unary operators (a negative number literal
 * is not an operator).
 * Compile errors name the problem and point at it: unknown columns and
 * functions suggest a near name ("unknown column 'nmae' (did you mean
 * 'name'?)"), type errors name the types, syntax errors what was expected.
 */

/* Longest expression text. */
#define SL_EXPR_MAX_TEXT_BYTES (64u * 1024u)
/* A reasonable scratch size for sl_expr_scratch_new: the longest string an
 * expression may build for one row (intermediates included). */
#define SL_EXPR_SCRATCH_BYTES_DEFAULT (256u * 1024u)

/* A compiled expression: immutable after compile, shared read-only by all
 * worker threads. */
struct sl_expr;

/*
 * Compiles text (len bytes, not NUL-terminated) against the input schema `in`
 * (which must outlive the expression). Errors go to d as `FILE:LINE:COL:
 * message`: pos is the position of the expression's first character in the
 * job file, or of the opening quote when `quoted` (YAML quoted scalar), and
 * the column of an error adds the number of characters before it. For text
 * spanning lines, later lines count from column 1 (exact for plain text, not
 * for indented block scalars or YAML escapes). Returns NULL on error. Control
 * thread; allocates.
 */
struct sl_expr *sl_expr_compile(const char *text, size_t len, const struct sl_schema *in,
				struct sl_pos pos, bool quoted, struct sl_diag *d);
void sl_expr_free(struct sl_expr *e);
/* Result type (SL_T_NULL when the result is always NULL with no other type,
 * e.g. the bare literal NULL). */
enum sl_type sl_expr_type(const struct sl_expr *e);
/* Whether the result may be NULL. */
bool sl_expr_nullable(const struct sl_expr *e);
/* If the expression is just a column reference, its index, else -1 (lets map
 * copy columns fast). */
int sl_expr_column(const struct sl_expr *e);
/* If the expression is constant (folded at compile time), true (and not
 * otherwise); map may then compute it once per batch. */
bool sl_expr_is_constant(const struct sl_expr *e);

/*
 * Per-worker scratch: registers and `bytes` bytes for string intermediates.
 * No allocation while evaluating. One scratch serves any number of
 * expressions, one evaluation at a time. NULL on out of memory.
 */
struct sl_expr_scratch;
struct sl_expr_scratch *sl_expr_scratch_new(size_t bytes);
void sl_expr_scratch_free(struct sl_expr_scratch *s);

/*
 * Evaluates e on row `row` of `in` (whose schema is the one e was compiled
 * against). Sets *is_null, and the value in *out; for a STRING result
 * out->s is not usable: *str / *str_len point into the input batch heap, the
 * expression's constants or the scratch, valid until the next evaluation with
 * the same scratch or until `in` is reset (for other types *str is NULL).
 * Returns 0, a negative errno for a data error (message via
 * sl_expr_error_text(scratch)), or -E2BIG when the scratch is too small for a
 * string. Any thread; reads e, writes only scratch.
 */
int sl_expr_eval(const struct sl_expr *e, const struct sl_batch *in, uint32_t row,
		 struct sl_expr_scratch *scratch, union sl_val *out, bool *is_null, const char **str,
		 uint32_t *str_len);

/*
 * Like sl_expr_eval, and stores the result in column `col` of row `out_row`
 * of `out` (column type: sl_expr_type, or anything for SL_T_NULL), copying a
 * string into out's heap. Returns -ENOBUFS, with out unchanged, when out's
 * heap has no room (flush out and retry the row), else as sl_expr_eval.
 */
int sl_expr_eval_to(const struct sl_expr *e, const struct sl_batch *in, uint32_t row,
		    struct sl_expr_scratch *scratch, struct sl_batch *out, uint32_t col,
		    uint32_t out_row);

/*
 * Filter helper: evaluates a BOOLEAN expression on rows first_row .. n_rows-1
 * of `in` and appends the indices of the rows where it is TRUE (NULL counts as
 * false) to sel, starting at sel[*n_sel]: set *n_sel = 0 before the first call
 * on a batch. sel must have room for in->n_rows entries. Returns *n_sel, the
 * total selected so far, or a negative errno at the first row whose
 * evaluation failed, with *bad_row set and the rows before it already
 * appended (the caller logs the row with sl_expr_error_text(scratch), then
 * calls again with first_row = bad_row + 1 to continue).
 */
int sl_expr_select(const struct sl_expr *e, const struct sl_batch *in, uint32_t first_row,
		   struct sl_expr_scratch *scratch, uint16_t *sel, uint32_t *n_sel,
		   uint32_t *bad_row);

/* Message of the last data error evaluated with s ("" if none). */
const char *sl_expr_error_text(const struct sl_expr_scratch *s);

#endif
