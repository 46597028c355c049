/* Typed values as text: parsing (sources, casts) and formatting (sinks). */
#ifndef SL_VALUE_H
#define SL_VALUE_H

#include "core/schema.h"

/*
 * Parses text (surrounding spaces trimmed) as a value of type t into *out:
 * integers in decimal (INT range-checked), FLOAT/DOUBLE as JSON numbers plus
 * NaN/Infinity, BOOLEAN true/false (any case), DATE "YYYY-MM-DD", TIMESTAMP
 * "YYYY-MM-DD[ T]HH:MM:SS[.fff][Z]" (UTC) or integer milliseconds. STRING is
 * not handled here. Returns 0 or -EINVAL (-ERANGE when out of range).
 */
int sl_value_parse(enum sl_type t, const char *s, size_t len, union sl_val *out);
/*
 * sl_value_parse for a column: DECIMAL takes f's precision and scale (with
 * sl_value_parse, DECIMAL is DECIMAL(18,0)). TIMESTAMP_LTZ reads as TIMESTAMP
 * (UTC). Returns as sl_value_parse.
 */
int sl_value_parse_field(const struct sl_field *f, const char *s, size_t len, union sl_val *out);

/*
 * Parses s[0..len) (no spaces) as Java's BigDecimal(String) does: [+-]
 * digits with an optional point ("1.", ".5" allowed) and an optional
 * exponent [eE][+-]digits; then rounds it to scale fractional digits,
 * half away from zero (RoundingMode.HALF_UP) and stores value * 10^scale in
 * *out. Returns 0, -EINVAL if s is not such a number, -ERANGE if the rounded
 * value needs more than precision digits (Flink's DecimalData.fromBigDecimal
 * gives NULL then). precision <= SL_DECIMAL_MAX_PRECISION, scale <= precision.
 */
int sl_decimal_parse(const char *s, size_t len, unsigned precision, unsigned scale, int64_t *out);
/* Writes v / 10^scale in plain notation with exactly scale fractional digits
 * ("-0.50", "12", as BigDecimal.toPlainString); returns the length (< 24). */
int sl_decimal_format(int64_t v, unsigned scale, char *buf);

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* True if y-m-d is a real day of the proleptic Gregorian calendar. */
bool sl_civil_valid(int64_t y, unsigned m, unsigned d);

/*
 * Formats a non-string value as text into buf (at least 40 bytes): integers
 * in decimal, DOUBLE in the shortest form that reads back to the same
 * double, FLOAT likewise at float precision (whole numbers get ".0", so 1
 * prints as 1.0 and 3.140000104904175 as a FLOAT prints 3.14), BOOLEAN
 * true/false, DATE
 * YYYY-MM-DD, TIMESTAMP and TIMESTAMP_LTZ "YYYY-MM-DD HH:MM:SS.fff" (UTC),
 * DECIMAL its unscaled integer. Returns the length.
 */
int sl_value_format(enum sl_type t, union sl_val v, char *buf);
/* sl_value_format for a column: DECIMAL with f's scale (sl_value_format
 * prints DECIMAL's unscaled integer); TIMESTAMP_LTZ as TIMESTAMP (UTC). */
int sl_value_format_field(const struct sl_field *f, union sl_val v, char *buf);
/* Shortest round-trip text of a double / of a float; ".0" added to whole numbers. */
int sl_format_double(double v, char *buf);
int sl_format_float(float v, char *buf);

#endif
