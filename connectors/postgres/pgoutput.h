/* PostgreSQL logical replication without libpq: the copy-both stream's frames
 * (XLogData, keepalive, standby status) and the pgoutput plugin's messages
 * (protocol version 1) decoded from bytes, and PostgreSQL's text output of
 * values parsed into batches. */
#ifndef SL_PGOUTPUT_H
#define SL_PGOUTPUT_H

#include "core/batch.h"

/*
 * Everything here is pure and thread-safe: bytes in, structs out. Decoded
 * structs point into the input (strings of tuples, message contents), so
 * the input must outlive them. Nothing reads past p + len: every length and
 * count is checked first, and errors say which message, which field and at
 * which offset ("pgoutput Insert ('I') at offset 7: ...") in one line.
 *
 * Integers on the wire are big-endian. LSNs are 64-bit WAL positions
 * (printed "X/X"); PostgreSQL times are microseconds since 2000-01-01 UTC.
 */

/* NAMEDATALEN: a PostgreSQL identifier is at most 63 bytes, plus NUL. */
#define SL_PGO_NAME_MAX 64u
static_assert(SL_PGO_NAME_MAX <= SL_NAME_MAX, "a PostgreSQL column name fits a sluice field name");

/* 2000-01-01 00:00:00 UTC in Unix microseconds. */
#define SL_PG_EPOCH_UNIX_US 946684800000000ll

/* Milliseconds since the Unix epoch of a PostgreSQL time (rounded down). */
static inline int64_t sl_pg_time_to_unix_ms(int64_t pg_us)
{
	int64_t us = pg_us + SL_PG_EPOCH_UNIX_US;
	return us >= 0 ? us / 1000 : -((-us + 999) / 1000);
}
/* PostgreSQL time of a Unix time in microseconds (for standby status). */
static inline int64_t sl_pg_time_from_unix_us(int64_t unix_us)
{
	return unix_us - SL_PG_EPOCH_UNIX_US;
}

/* ---- copy-both framing ------------------------------------------------------------ */

/*
 * The payload of one CopyData message of START_REPLICATION:
 *   'w' XLogData: wal_start (the WAL position of the payload's record),
 *       wal_end (the server's current end of WAL), send_time_us, then the
 *       pgoutput message in payload[0..payload_len);
 *   'k' primary keepalive: wal_end, send_time_us, reply_requested (the
 *       server wants a standby status update now, or it will time the
 *       connection out after wal_sender_timeout).
 */
struct sl_pgo_copydata {
	uint8_t kind; /* 'w' or 'k' */
	bool reply_requested;
	uint64_t wal_start;
	uint64_t wal_end;
	int64_t send_time_us;
	const uint8_t *payload;
	uint32_t payload_len;
};

/*
 * Decodes p[0..len), one CopyData payload. Returns 0, or -EINVAL (an
 * unknown kind, a truncated or overlong frame) with a one-line reason in err
 * (cap bytes, always NUL-terminated when cap > 0). Any thread.
 */
int sl_pgo_parse_copydata(const uint8_t *p, size_t len, struct sl_pgo_copydata *out, char *err,
			  size_t cap);

/* Bytes of a standby status update ('r'). */
#define SL_PGO_STATUS_BYTES 34u
/*
 * Writes a standby status update into out: WAL positions written, flushed
 * (the slot may discard WAL before this; send only what is durable
 * downstream) and applied, the client's clock (PostgreSQL time) and whether
 * the server should answer with a keepalive. Returns SL_PGO_STATUS_BYTES.
 * The caller sends it as one CopyData message.
 */
size_t sl_pgo_put_status(uint8_t out[SL_PGO_STATUS_BYTES], uint64_t written, uint64_t flushed,
			 uint64_t applied, int64_t now_pg_us, bool reply_requested);

/* "16/B374D848" into buf (at least 18 bytes); returns the length. */
int sl_pg_lsn_format(uint64_t lsn, char *buf);
/* Parses "X/X" (1-8 hex digits each, as PostgreSQL prints them); 0 or -EINVAL. */
int sl_pg_lsn_parse(const char *s, size_t len, uint64_t *out);

/* ---- pgoutput messages -------------------------------------------------------------- */

enum sl_pgo_type {
	SL_PGO_BEGIN = 'B',
	SL_PGO_COMMIT = 'C',
	SL_PGO_ORIGIN = 'O',
	SL_PGO_RELATION = 'R',
	SL_PGO_TYPE = 'Y',
	SL_PGO_INSERT = 'I',
	SL_PGO_UPDATE = 'U',
	SL_PGO_DELETE = 'D',
	SL_PGO_TRUNCATE = 'T',
	SL_PGO_MESSAGE = 'M',
};

/* One column of a tuple. */
enum sl_pgo_kind {
	SL_PGO_NULL = 'n',
	SL_PGO_UNCHANGED = 'u', /* an unchanged TOASTed value the server did not send */
	SL_PGO_TEXT = 't',      /* PostgreSQL's text output of the value */
	SL_PGO_BINARY = 'b',    /* binary send format (only with the "binary" option) */
};
struct sl_pgo_datum {
	uint8_t kind;  /* enum sl_pgo_kind */
	uint32_t len;  /* 't', 'b': bytes at p (not NUL-terminated); 0 otherwise */
	const char *p; /* into the input; NULL for 'n', 'u' */
};
/* Only cols[0..n_cols) are set. */
struct sl_pgo_tuple {
	uint32_t n_cols;
	struct sl_pgo_datum cols[SL_MAX_COLS];
};

/* Column flag: the column is part of the replica identity (every column with FULL). */
#define SL_PGO_COL_KEY 1u
struct sl_pgo_column {
	uint8_t flags;
	char name[SL_PGO_NAME_MAX];
	uint32_t type_oid;
	int32_t typmod; /* -1: none */
};
/*
 * A relation's shape, sent before the first change to it in a session and
 * again after it changed (ALTER TABLE). Columns in table order, without
 * dropped or generated ones; tuples of its changes have exactly n_cols
 * columns in this order. replident: 'd' default (primary key), 'n' nothing,
 * 'f' full, 'i' index. nspname is "" for pg_catalog.
 */
struct sl_pgo_relation {
	uint32_t oid;
	uint8_t replident;
	uint32_t n_cols;
	char nspname[SL_PGO_NAME_MAX];
	char relname[SL_PGO_NAME_MAX];
	struct sl_pgo_column cols[SL_MAX_COLS];
};

/*
 * Insert: new_tuple. Update: new_tuple, and old_kind 'K' (the old replica
 * identity key, when the key changed; non-key columns 'n') or 'O' (the
 * whole old row, REPLICA IDENTITY FULL) with old_tuple, or old_kind 0 (no
 * old image: REPLICA IDENTITY DEFAULT and the key is unchanged). Delete:
 * old_kind 'K' or 'O' with old_tuple, no new_tuple (has_new false).
 */
struct sl_pgo_change {
	uint32_t rel_oid;
	uint8_t old_kind; /* 0, 'K' or 'O' */
	bool has_new;
	struct sl_pgo_tuple old_tuple;
	struct sl_pgo_tuple new_tuple;
};

/* Truncate option bits. */
#define SL_PGO_TRUNCATE_CASCADE 1u
#define SL_PGO_TRUNCATE_RESTART_IDENTITY 2u

struct sl_pgo_msg {
	uint8_t type; /* enum sl_pgo_type */
	union {
		struct { /* 'B' */
			uint64_t final_lsn; /* the commit's LSN */
			int64_t commit_time_us;
			uint32_t xid;
		} begin;
		struct { /* 'C' */
			uint8_t flags;      /* unused, 0 */
			uint64_t commit_lsn;
			uint64_t end_lsn;   /* past the commit record: the position to confirm */
			int64_t commit_time_us;
		} commit;
		struct { /* 'O': the transaction was replicated from elsewhere */
			uint64_t commit_lsn; /* on the origin server */
			const char *name;    /* NUL-terminated, in the input */
			uint32_t name_len;
		} origin;
		struct sl_pgo_relation relation; /* 'R' */
		struct {                         /* 'Y': a non-built-in type's name */
			uint32_t oid;
			char nspname[SL_PGO_NAME_MAX];
			char name[SL_PGO_NAME_MAX];
		} pgtype;
		struct sl_pgo_change change; /* 'I', 'U', 'D' */
		struct {                     /* 'T' */
			uint8_t options;     /* SL_PGO_TRUNCATE_* */
			uint32_t n_rels;
			const uint8_t *oids; /* n_rels big-endian OIDs: sl_pgo_truncate_oid */
		} truncate;
		struct { /* 'M': pg_logical_emit_message (with the "messages" option) */
			uint8_t flags; /* 1: transactional */
			uint64_t lsn;
			const char *prefix; /* NUL-terminated, in the input */
			uint32_t prefix_len;
			const uint8_t *content;
			uint32_t content_len;
		} message;
	};
};

/*
 * Decodes one pgoutput message (protocol version 1; the payload of a 'w'
 * frame) into *out, which is large (relation and tuples): keep one per
 * source. Returns 0; -EINVAL for malformed bytes (truncated, trailing
 * bytes, an unknown message type or tuple column kind, a name without NUL,
 * longer than 63 bytes); -E2BIG for a relation or tuple of more than
 * SL_MAX_COLS columns; -ENOTSUP for the messages of later protocol versions
 * (streaming, two-phase). err as sl_pgo_parse_copydata; *out is unspecified
 * after an error. Any thread.
 */
int sl_pgo_parse(const uint8_t *p, size_t len, struct sl_pgo_msg *out, char *err, size_t cap);

/* OID i (< n_rels) of a truncate message. */
static inline uint32_t sl_pgo_truncate_oid(const struct sl_pgo_msg *m, uint32_t i)
{
	const uint8_t *q = m->truncate.oids + 4u * i;
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

/* "Insert" for 'I' and so on; "unknown" for anything else. */
const char *sl_pgo_type_name(uint8_t type);

/* ---- PostgreSQL types and text values -------------------------------------------- */

/* OIDs of the built-in types the mapping knows (pg_type.dat). */
enum {
	SL_PG_BOOL = 16,
	SL_PG_BYTEA = 17,
	SL_PG_CHAR = 18,
	SL_PG_NAME = 19,
	SL_PG_INT8 = 20,
	SL_PG_INT2 = 21,
	SL_PG_INT4 = 23,
	SL_PG_TEXT = 25,
	SL_PG_OID = 26,
	SL_PG_JSON = 114,
	SL_PG_FLOAT4 = 700,
	SL_PG_FLOAT8 = 701,
	SL_PG_BPCHAR = 1042,
	SL_PG_VARCHAR = 1043,
	SL_PG_DATE = 1082,
	SL_PG_TIME = 1083,
	SL_PG_TIMESTAMP = 1114,
	SL_PG_TIMESTAMPTZ = 1184,
	SL_PG_INTERVAL = 1186,
	SL_PG_TIMETZ = 1266,
	SL_PG_NUMERIC = 1700,
	SL_PG_UUID = 2950,
	SL_PG_JSONB = 3802,
};

/* "int4", "timestamptz", ... for the OIDs above; NULL for others. */
const char *sl_pg_type_name(uint32_t oid);

/*
 * The sluice column type of a PostgreSQL column (f's type, precision and
 * scale; name and not_null untouched): int2, int4 INT; int8, oid BIGINT;
 * numeric(p,s) DECIMAL(p,s) when it fits DECIMAL(18) (a negative scale or a
 * scale above p widen it), else and unconstrained numeric DOUBLE; float4
 * FLOAT; float8 DOUBLE; bool BOOLEAN; date DATE; timestamp(p) TIMESTAMP
 * and timestamptz(p) TIMESTAMP_LTZ with min(p, 3) digits (values are
 * truncated to milliseconds); everything else STRING in PostgreSQL's text
 * form (text, varchar, char(n) with its padding, name, json, jsonb, uuid,
 * bytea as \x hex, time, interval, arrays, enums, domains).
 */
void sl_pg_field_of(uint32_t oid, int32_t typmod, struct sl_field *f);
/* sl_pg_field_of's type alone. */
enum sl_type sl_pg_type_of(uint32_t oid, int32_t typmod);

/*
 * Sets row `row`, column `col` of b from PostgreSQL's text output p[0..len)
 * of a value of type oid, converted to the column's type in b->schema:
 * STRING takes the text as is (into the heap); INT/BIGINT decimal integers
 * (range-checked); FLOAT/DOUBLE decimal plus NaN, Infinity, -Infinity;
 * DECIMAL(p,s) rounded half-up to s digits; BOOLEAN t/f (and true/false);
 * DATE YYYY-MM-DD [BC]; TIMESTAMP and TIMESTAMP_LTZ a date or
 * "YYYY-MM-DD HH:MM:SS[.ffffff][+-HH[:MM[:SS]]][ BC]" (any UTC offset, as a
 * timestamptz prints in the server's TimeZone; the result is UTC; digits
 * past milliseconds are dropped). Needs DateStyle ISO (the default).
 * Returns 0; -EINVAL (not a value of the column's type, numeric NaN into a
 * DECIMAL) or -ERANGE (out of range, infinite dates and timestamps) with
 * a one-line reason naming the column; -ENOBUFS when the string does not
 * fit the heap's free bytes, -E2BIG when it would not fit even an empty
 * heap. On error the cell is unchanged. The worker owning b.
 */
int sl_pg_text_value(struct sl_batch *b, uint32_t col, uint32_t row, uint32_t type_oid,
		     const char *p, uint32_t len, char *err, size_t cap);

/*
 * A schema for a relation: its columns in order, named as in PostgreSQL,
 * typed by sl_pg_field_of, nullable. Returns 0, or -EINVAL with the reason
 * (two columns of the same name cannot happen in PostgreSQL, but the bytes
 * came from the network). The caller's thread.
 */
int sl_pgo_relation_schema(const struct sl_pgo_relation *rel, struct sl_schema *s, char *err,
			   size_t cap);

/*
 * Sets the cells of begun row `row` of b from tuple t of relation rel:
 * tuple column i goes to batch column map[i] (map NULL: column i, b's
 * schema then has rel's columns, as sl_pgo_relation_schema makes; a negative
 * entry: skipped). 'n' sets null; 't' goes through
 * sl_pg_text_value; 'u' leaves the cell null and sets bit c of *unchanged
 * (the caller decides: an old image, its own state, or an error); 'b' is
 * an error (-ENOTSUP: the source asks for text). t must have rel's column
 * count (else -EINVAL: the relation changed without a Relation message).
 * Returns 0 or the first error of sl_pg_text_value; the caller rolls the
 * row back on error (sl_batch_rollback) and commits it otherwise. The
 * worker owning b.
 */
int sl_pgo_tuple_row(struct sl_batch *b, uint32_t row, const struct sl_pgo_relation *rel,
		     const struct sl_pgo_tuple *t, const int16_t *map, uint64_t *unchanged,
		     char *err, size_t cap);

/* A libpq notice processor (PQsetNoticeProcessor): server notices such as
 * "relation … already exists, skipping" go to the debug log, not stderr. */
void sl_pg_notice_log(void *arg, const char *msg);

/* ---- COPY text format ---------------------------------------------------------------- */

/* One field of a line of COPY … TO STDOUT. */
struct sl_pg_copy_field {
	const char *p; /* into the line or the scratch buffer; NULL when null */
	uint32_t len;
	bool null;
};

/*
 * Splits one line of COPY's text format (tab-separated, \N for null, the
 * line's '\n' optional) p[0..len) into at most max fields. Backslash
 * escapes (\b \f \n \r \t \v \\, octal \NNN, hex \xHH, \c for any other
 * c) are undone into scratch, which must hold len bytes; fields without
 * escapes point into p. Returns the number of fields, or -EINVAL (more
 * than max fields, an escape at the end of the line, \N next to other
 * bytes) with a one-line reason in err. Any thread.
 */
int sl_pg_copy_fields(const char *p, size_t len, struct sl_pg_copy_field *out, uint32_t max,
		      char *scratch, char *err, size_t cap);

#endif
