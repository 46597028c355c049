/* Message formats: Flink's json, debezium-json, canal-json, maxwell-json and
 * ogg-json decoders, byte for byte the rows Flink produces, into columnar batches. */
#ifndef SL_FORMAT_H
#define SL_FORMAT_H

#include <sys/types.h>

#include "core/batch.h"
#include "core/config.h"
#include "core/sqlschema.h"

/*
 * Threads: a format is built on the control thread, is immutable after and
 * is shared by every worker; each worker makes its own decoder (a JSON parser
 * and scratch, allocated once) and decodes on its own thread. Decoding
 * allocates nothing.
 *
 * Semantics are those of Flink's *JsonDeserializationSchema classes and
 * JsonToRowDataConverters (the comments in each format's file say what each
 * does): op/type mapping, the canal/maxwell "old" rules, tombstones,
 * ignore-parse-errors (a field that does not convert becomes NULL, a message
 * that cannot be read is dropped whole), error texts, metadata keys.
 */

struct sl_format;  /* compiled, immutable, shared by workers */
struct sl_decoder; /* per worker */

/* True for "json", "debezium-json", "canal-json", "maxwell-json", "ogg-json". */
bool sl_format_known(const char *name);

/* Every format name, NULL-terminated (for help and did-you-mean). */
const char *const *sl_format_names(void);

/*
 * The options format name understands, in canonical form (hyphens, Flink's
 * names without the "<format>." prefix), NULL-terminated; NULL for an unknown
 * name. A connector lists them as known keys of its own map.
 */
const char *const *sl_format_option_names(const char *name);

/*
 * Compiles a format. schema is the declared column list (physical columns are
 * the JSON fields of a row image, by exact name; metadata columns take the
 * format's metadata, keys as in Flink, "value." prefix allowed). map is the
 * node's option map (NULL or a null node: no options): the format reads its
 * options from it, as "ignore-parse-errors", "ignore_parse_errors" or
 * "debezium-json.ignore-parse-errors" alike, and marks them used. Keys named
 * in connector_keys (NULL-terminated) are left to the connector; any other
 * key is reported as unknown (with a did-you-mean) and marked used so the
 * connector does not report it again; with connector_keys NULL, unknown
 * keys are left to the caller. Checks option values, metadata keys and the
 * column types they allow, and compiles the database/table regexes.
 * Errors go to d with positions. Returns the format (free with
 * sl_format_free), or NULL (errors in d; -ENOMEM leaves "out of memory").
 * Control thread; map must outlive the call only.
 */
struct sl_format *sl_format_new(const char *name, const struct sl_sqlschema *schema,
				struct sl_cfg_node *map, const char *const *connector_keys,
				struct sl_diag *d);
void sl_format_free(struct sl_format *f);

/* The format's name ("canal-json"). */
const char *sl_format_name(const struct sl_format *f);
/* ignore-parse-errors: the caller drops messages the decoder rejects with
 * -EINVAL instead of failing (Flink skips them silently). */
bool sl_format_ignore_parse_errors(const struct sl_format *f);
/* False for plain json (insert-only), true for the changelog formats. */
bool sl_format_is_changelog(const struct sl_format *f);
/* The declared schema the decoder fills (metadata columns included). */
const struct sl_schema *sl_format_schema(const struct sl_format *f);

/* A decoder for one worker: its JSON parser (records up to
 * SL_RECORD_MAX_BYTES) and scratch. NULL on ENOMEM. Any thread; then used by one. */
struct sl_decoder *sl_decoder_new(const struct sl_format *f);
void sl_decoder_free(struct sl_decoder *d);

/*
 * Decodes one message msg[0..len) into rows appended to b, whose schema is
 * sl_format_schema(f), or starts with its columns (a connector's own columns,
 * e.g. Kafka metadata, follow; they are left null and rolled back with the
 * row). padded: SL_JSON_PADDING bytes after msg + len are readable (no copy).
 * Every row gets ingest_ns and event time INT64_MIN.
 * Returns the number of rows appended: 0 for a tombstone (len 0 or msg
 * NULL), a JSON null (plain json), a DDL or CREATE message, or one filtered
 * out. On failure b is unchanged (rows of the message rolled back) and err
 * gets a one-line reason (NUL-terminated, truncated to errcap):
 *   -EINVAL  the message is corrupt: "Corrupt Debezium JSON message
 *            '<msg>'. Caused by: <cause>" (plain json: "Failed to
 *            deserialize JSON '<msg>'. ..."); <msg> is cut with "..." if
 *            err is short, control characters shown as '?'
 *   -ENOBUFS b lacks room (rows or string heap) for all rows of the
 *            message: emit b and call again with an empty batch
 *   -E2BIG   even an empty batch cannot hold them (more than SL_BATCH_ROWS
 *            rows or SL_BATCH_HEAP_BYTES of strings in one message)
 * Allocates nothing.
 */
int sl_decoder_decode(struct sl_decoder *d, const char *msg, size_t len, bool padded,
		      struct sl_batch *b, int64_t ingest_ns, char *err, size_t errcap);

/*
 * Writes row r of b in Flink's GenericRowData.toString() notation:
 * "+I(101,scooter,null,3.14)" — kind, then the fields comma-separated: NULL as
 * null, strings raw (unquoted, unescaped), INT/BIGINT in decimal, FLOAT as
 * Java's Float.toString and DOUBLE as Double.toString ("3.14", "1.0",
 * "1.0E10" outside [1e-3, 1e7)), BOOLEAN true/false, DECIMAL as
 * BigDecimal.toPlainString, TIMESTAMP and TIMESTAMP_LTZ as LocalDateTime
 * ("2020-07-30T10:08:22.123", seconds and millis only when not zero), DATE as
 * the day number (GenericRowData holds an int). No NUL is appended. Returns
 * the length, or -ENOSPC if cap is too small. Any thread.
 */
ssize_t sl_row_format_flink(const struct sl_batch *b, uint32_t r, char *buf, size_t cap);

/* Java's Float.toString / Double.toString, digit for digit as the JDKs Flink
 * runs on (8 to 18: FloatingDecimal) print them: "3.14", "1.0", "1.0E-5",
 * "2.28195488E8" (big integers keep their digits), "NaN", "-Infinity". buf
 * holds at least 32 bytes; returns the length. Any thread. */
int sl_java_float_to_string(float v, char *buf);
int sl_java_double_to_string(double v, char *buf);

#endif
