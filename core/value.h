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

/* Days since 1970-01-01 of a civil date, and back (proleptic Gregorian). */
int64_t sl_days_from_civil(int64_t y, unsigned m, unsigned d);
void sl_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/*
 * Formats a non-string value as text into buf (at least 40 bytes): integers
 * in decimal, DOUBLE in the shortest form that reads back to the same
 * double, FLOAT likewise at float precision (whole numbers get ".0", so 1
 * prints as 1.0 and 3.140000104904175 as a FLOAT prints 3.14), BOOLEAN
 * true/false, DATE
 * YYYY-MM-DD, TIMESTAMP "YYYY-MM-DD HH:MM:SS.fff". Returns the length.
 */
int sl_value_format(enum sl_type t, union sl_val v, char *buf);
/* Shortest round-trip text of a double / of a float; ".0" added to whole numbers. */
int sl_format_double(double v, char *buf);
int sl_format_float(float v, char *buf);

#endif
