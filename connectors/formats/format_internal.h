/* Internals shared by the format implementations (format.c and one file per
 * format): the compiled format, the per-worker decoder and the row converter
 * that turns one JSON object into one batch row as Flink's JsonToRowDataConverters. */
#ifndef SL_FORMAT_INTERNAL_H
#define SL_FORMAT_INTERNAL_H

#include <regex.h>

#include "connectors/formats/format.h"
#include "io/json.h"

/* What Flink's metadata value is; decides which declared column types fit. */
enum fmt_mkind {
	MK_STRING,    /* STRING */
	MK_TIMESTAMP, /* TIMESTAMP_LTZ(3) (or (6)): stored as ms */
	MK_MAP,	      /* MAP<...>: kept as JSON object text in a STRING column */
	MK_ARRAY,     /* ARRAY<STRING>: kept as JSON array text in a STRING column */
};

/* Every metadata value any format reads (ids are shared, tables per format). */
enum fmt_meta_id {
	META_SCHEMA,	   /* debezium: root "schema" as JSON text */
	META_INGESTION_TS, /* debezium ts_ms, canal ts, maxwell ts*1000, ogg current_ts */
	META_SOURCE_TS,	   /* debezium source.ts_ms */
	META_SOURCE_DB,	   /* debezium source.db */
	META_SOURCE_SCHEMA,
	META_SOURCE_TABLE,
	META_SOURCE_PROPS, /* debezium source as MAP<STRING,STRING> */
	META_DATABASE,	   /* canal, maxwell "database" */
	META_TABLE,	   /* canal, maxwell, ogg "table" */
	META_SQL_TYPE,	   /* canal sqlType MAP<STRING,INT> */
	META_PK_NAMES,	   /* canal pkNames, maxwell primary_key_columns, ogg primary_keys */
	META_EVENT_TS,	   /* canal es, ogg op_ts */
	META__COUNT
};

struct fmt_meta_desc {
	const char *key; /* Flink's metadata key */
	enum fmt_meta_id id;
	enum fmt_mkind kind;
	const char *flink_type; /* for messages */
};

struct sl_decoder;

struct fmt_ops {
	const char *name;	    /* "debezium-json" */
	const char *corrupt_pre;    /* "Corrupt Debezium JSON message '" */
	const char *corrupt_post;   /* "'." */
	const char *const *options; /* canonical option names, NULL-terminated */
	const struct fmt_meta_desc *meta;
	uint32_t n_meta;
	/* Decodes the parsed message root into d->b; returns 0 or -EINVAL (cause
	 * set with fmt_fail) or -ENOBUFS. Rows it began are rolled back by the caller. */
	int (*decode)(struct sl_decoder *d, struct sl_json_elem root);
};

extern const struct fmt_ops fmt_json_ops, fmt_debezium_ops, fmt_canal_ops, fmt_maxwell_ops,
    fmt_ogg_ops;

/* A physical column: a JSON field of the row images. */
struct fmt_col {
	uint32_t col; /* batch column */
	enum sl_type type;
	uint8_t precision, scale;
	uint32_t name_len;
	const char *name; /* points into sl_format.schema */
};

/* A metadata column. */
struct fmt_mcol {
	uint32_t col;
	enum fmt_meta_id id;
	enum sl_type type;
};

/* Hash slots for the field-name lookup: a power of two above twice SL_MAX_COLS. */
#define FMT_LOOKUP_SLOTS 256u
static_assert(FMT_LOOKUP_SLOTS >= 2 * SL_MAX_COLS, "lookup table load below one half");
static_assert(SL_MAX_COLS <= 64, "a uint64_t marks the columns of a row");

enum fmt_ts_standard { FMT_TS_SQL, FMT_TS_ISO };

struct sl_format {
	const struct fmt_ops *ops;
	struct sl_schema schema; /* declared columns, metadata included */
	uint32_t n_phys;
	struct fmt_col phys[SL_MAX_COLS];
	uint64_t all_phys; /* n_phys low bits set */
	uint32_t n_mcol;
	struct fmt_mcol mcol[SL_MAX_COLS];
	uint32_t meta_need; /* bit per enum fmt_meta_id requested */
	bool ignore_parse_errors;
	bool fail_on_missing_field; /* json */
	bool schema_include;	    /* debezium */
	enum fmt_ts_standard ts_standard;
	bool has_db_re, has_table_re; /* canal */
	regex_t db_re, table_re;
	uint8_t lookup[FMT_LOOKUP_SLOTS]; /* physical index + 1, 0 = empty */
};

/* A metadata value of the current message, ready to copy into each row. */
struct fmt_mval {
	bool valid;
	union sl_val v;
};

/* Bytes of the decoder's text scratch: any string of a message fits. */
#define FMT_SCRATCH_BYTES (SL_RECORD_MAX_BYTES + 64u)

struct sl_decoder {
	const struct sl_format *f;
	struct sl_json_parser *json;
	char *scratch; /* FMT_SCRATCH_BYTES: trimmed numbers, Java text of values */
	/* The message being decoded. */
	struct sl_batch *b;
	uint32_t n0;	 /* b->n_rows before it */
	uint32_t heap0;	 /* b->heap_len before it */
	uint32_t hi;	 /* one past the highest row begun */
	int64_t ingest_ns;
	struct fmt_mval mval[META__COUNT];
	struct sl_json_elem slot[SL_MAX_COLS]; /* one row's fields, by physical index */
	char cause[512];
};

/* fmt_row's kind for a row image that is converted and checked, not emitted. */
#define FMT_NO_ROW (-1)

/*
 * A copy of an element the JSON layer just stored through a pointer, made
 * with two 8-byte moves through registers: a 16-byte load of two 8-byte
 * stores cannot be store-forwarded and stalls (it was fmt_row's hottest
 * instruction, a third of its samples).
 */
static inline struct sl_json_elem fmt_elem(struct sl_json_elem v)
{
	uint64_t lo = v.opaque[0], hi = v.opaque[1];
	__asm__("" : "+r"(lo), "+r"(hi));
	return (struct sl_json_elem){{lo, hi}};
}

/* Records why the message is corrupt (printf-style); returns -EINVAL. */
int fmt_fail(struct sl_decoder *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The physical index of field key[0..len), or -1. */
int fmt_lookup(const struct sl_format *f, const char *key, size_t len);

/*
 * Converts the row image v (Flink's nullable row converter): JSON null or a
 * missing element is a null row (returns 1, nothing emitted); an object is
 * converted field by field into a new row of kind (FMT_NO_ROW: converted
 * and checked, not emitted) with the message's metadata columns, its index
 * in *row (returns 0); anything else is an error ("<what> is not a JSON
 * object"), or a null row with ignore-parse-errors. Field values that do
 * not convert are errors, or NULL with ignore-parse-errors. -ENOBUFS when
 * the batch has no room.
 */
int fmt_row(struct sl_decoder *d, struct sl_json_elem v, int kind, const char *what,
	    uint32_t *row);

/*
 * Canal's and Maxwell's before image: every physical column of row before
 * that is NULL and whose name is not in names_in_old (bits by physical
 * index) takes the value of row after.
 */
void fmt_fill_unchanged(struct sl_decoder *d, uint32_t before, uint32_t after,
			uint64_t names_in_old);

/* Bits (by physical index) of the column names used as object keys anywhere
 * inside v, at any depth (Jackson's findValue over "old"). */
uint64_t fmt_names_anywhere(const struct sl_format *f, struct sl_json_elem v);

/*
 * Flink's converters for message-level fields. Each returns 0 with *valid
 * false for JSON null or a missing field. On a value that does not convert:
 * -EINVAL with the cause set, or with ignore-parse-errors 0 and *valid false.
 */
/* STRING (containers as their JSON text, numbers as Java prints them) into
 * d->b's heap (off/len in *out); -ENOBUFS if it is full. */
int fmt_meta_string(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		    union sl_val *out);
/* BIGINT (Jackson canConvertToLong / Long.parseLong(trim)). */
int fmt_meta_bigint(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		    int64_t *out);
/* MAP<STRING, vtype> as JSON object text with converted values (a
 * non-object is an empty map, as Jackson's fields()); vtype STRING or INT. */
int fmt_meta_map(struct sl_decoder *d, struct sl_json_elem v, enum sl_type vtype,
		 const char *what, bool *valid, union sl_val *out);
/* ARRAY<STRING> as JSON array text of strings; a non-array is an error
 * (ClassCastException), or NULL with ignore-parse-errors. */
int fmt_meta_array(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		   union sl_val *out);

/* True if the schema asked for metadata id (then the format fills d->mval[id]). */
static inline bool fmt_meta_wanted(const struct sl_decoder *d, enum fmt_meta_id id)
{
	return (d->f->meta_need >> id) & 1u;
}

/* Text of a scalar as Jackson's asText() gives it (strings as they are,
 * numbers as Java prints them, true/false, "null"; containers ""). Points
 * into the document or d->scratch. */
const char *fmt_as_text(struct sl_decoder *d, struct sl_json_elem v, size_t *len);

/* ---- Java's texts (format.c) ---- */

/* String.trim(): drops bytes <= ' ' at both ends. */
void fmt_java_trim(const char **s, size_t *len);
/* Java's Long.parseLong(s): [+-]digits in range, nothing else (no trim). */
bool fmt_java_parse_long(const char *s, size_t len, int64_t *out);
/* Integer/Long.parseLong after trim, range-checked to [lo, hi]. */
bool fmt_java_parse_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out);
/*
 * Float/Double.parseFloat/parseDouble (trimmed): [+-] (NaN | Infinity |
 * digits[.digits] | .digits) [e[+-]digits] [fFdD], or a hex float 0x...p...;
 * correctly rounded to a float (is_float) or double. buf: len + 1 bytes of
 * scratch.
 */
bool fmt_java_parse_fp(const char *s, size_t len, bool is_float, char *buf, double *out);

/* ISO_LOCAL_DATE "yyyy-MM-dd" (four-digit years, strict) to days since the epoch. */
bool fmt_parse_iso_date(const char *s, size_t n, int64_t *days);
/*
 * Flink's json TIMESTAMP / TIMESTAMP_LTZ text: SQL "yyyy-MM-dd HH:mm:ss[.f]"
 * or ISO-8601 "yyyy-MM-ddTHH:mm[:ss[.f]]", with a trailing 'Z' for LTZ; to
 * ms since the epoch (UTC), sub-ms digits dropped (TimestampData keeps them,
 * sluice keeps ms).
 */
bool fmt_parse_flink_ts(const char *s, size_t n, enum fmt_ts_standard std, bool ltz, int64_t *out);
/*
 * Timestamps as Flink's DateTimeUtils parses them, to epoch ms (sub-ms
 * digits dropped): lenient "yyyy-M-d[ H:m:s[.fffffffff]]"
 * (parseTimestampData(String)), and the pattern "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"
 * with its fallback to java.sql.Timestamp/Date.valueOf
 * (parseTimestampData(String, format)).
 */
bool fmt_parse_ts_lenient(const char *s, size_t len, int64_t *ms);
bool fmt_parse_ts_iso6_fallback(const char *s, size_t len, int64_t *ms);
/* LocalDateTime.toString() of ms since the epoch (UTC): "2020-07-30T10:08",
 * seconds and millis only when not zero. buf holds 32 bytes; returns the length. */
int fmt_local_date_time(int64_t ms, char *buf);

/* Whole-string POSIX match of s[0..len) (REG_STARTEND: s may hold NULs). */
bool fmt_regex_match(const regex_t *re, const char *s, size_t len);

#endif
