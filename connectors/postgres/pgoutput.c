/* pgoutput (logical replication protocol version 1) and copy-both frames from
 * bytes; PostgreSQL text values into batches. Formats: PostgreSQL 15 docs,
 * "Logical Replication Message Formats" and "Streaming Replication Protocol". */
#include "connectors/postgres/pgoutput.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/value.h"

static void set_err(char *err, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t cap, const char *fmt, ...)
{
	if (cap == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

/* A name for an error message: control bytes as '?' (identifiers may hold
 * newlines; errors are one line), at most SL_PGO_NAME_MAX - 1 bytes. */
struct shown_name {
	char s[SL_PGO_NAME_MAX];
};
static struct shown_name shown(const char *name)
{
	struct shown_name o;
	size_t i = 0;
	for (; name[i] && i < sizeof(o.s) - 1; i++)
		o.s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	o.s[i] = '\0';
	return o;
}

/* ---- a bounds-checked reader with a sticky error ------------------------------------ */

struct rd {
	const uint8_t *p;
	size_t len, off;
	const char *msg; /* "pgoutput Insert ('I')" */
	char *err;
	size_t cap;
	int rc; /* first error; later reads do nothing */
};

static void rd_fail(struct rd *r, int rc, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rd_fail(struct rd *r, int rc, size_t at, const char *fmt, ...)
{
	if (r->rc)
		return;
	r->rc = rc;
	if (r->cap == 0)
		return;
	int n = snprintf(r->err, r->cap, "%s at offset %zu: ", r->msg, at);
	if (n >= 0 && (size_t)n < r->cap) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->cap - (size_t)n, fmt, ap);
		va_end(ap);
	}
}

/* True if n more bytes are there; else fails naming what was wanted. */
static bool rd_need(struct rd *r, size_t n, const char *what)
{
	if (r->rc)
		return false;
	if (r->len - r->off >= n)
		return true;
	rd_fail(r, -EINVAL, r->off,
		"truncated: %s needs %zu byte%s, %zu left (message of %zu bytes)", what, n,
		n == 1 ? "" : "s", r->len - r->off, r->len);
	return false;
}

static uint8_t rd_u8(struct rd *r, const char *what)
{
	return rd_need(r, 1, what) ? r->p[r->off++] : 0;
}

static uint16_t rd_u16(struct rd *r, const char *what)
{
	if (!rd_need(r, 2, what))
		return 0;
	const uint8_t *q = r->p + r->off;
	r->off += 2;
	return (uint16_t)(q[0] << 8 | q[1]);
}

static uint32_t rd_u32(struct rd *r, const char *what)
{
	if (!rd_need(r, 4, what))
		return 0;
	const uint8_t *q = r->p + r->off;
	r->off += 4;
	return (uint32_t)q[0] << 24 | (uint32_t)q[1] << 16 | (uint32_t)q[2] << 8 | q[3];
}

static uint64_t rd_u64(struct rd *r, const char *what)
{
	uint64_t hi = rd_u32(r, what);
	uint64_t lo = rd_u32(r, what);
	return hi << 32 | lo;
}

/* A NUL-terminated string in the input; returns it (NULL on error), its length in *n. */
static const char *rd_str(struct rd *r, const char *what, uint32_t *n)
{
	if (r->rc)
		return NULL;
	const uint8_t *s = r->p + r->off;
	const uint8_t *nul = memchr(s, 0, r->len - r->off);
	if (!nul) {
		rd_fail(r, -EINVAL, r->off, "truncated: %s has no terminating NUL within %zu bytes",
			what, r->len - r->off);
		return NULL;
	}
	if ((size_t)(nul - s) > UINT32_MAX) {
		rd_fail(r, -EINVAL, r->off, "%s longer than 4 GiB", what);
		return NULL;
	}
	*n = (uint32_t)(nul - s);
	r->off += *n + 1u;
	return (const char *)s;
}

/* A PostgreSQL identifier (at most 63 bytes) copied into out[SL_PGO_NAME_MAX]. */
static void rd_name(struct rd *r, const char *what, char *out)
{
	size_t at = r->off;
	uint32_t n;
	const char *s = rd_str(r, what, &n);
	out[0] = '\0';
	if (!s)
		return;
	if (n >= SL_PGO_NAME_MAX) {
		rd_fail(r, -EINVAL, at, "%s of %u bytes is longer than PostgreSQL's 63", what, n);
		return;
	}
	memcpy(out, s, n);
	out[n] = '\0';
}

static void rd_end(struct rd *r)
{
	if (!r->rc && r->off != r->len)
		rd_fail(r, -EINVAL, r->off, "%zu unexpected trailing byte%s", r->len - r->off,
			r->len - r->off == 1 ? "" : "s");
}

/* ---- copy-both frames ------------------------------------------------------------------ */

int sl_pgo_parse_copydata(const uint8_t *p, size_t len, struct sl_pgo_copydata *out, char *err,
			  size_t cap)
{
	struct rd r = {.p = p, .len = len, .err = err, .cap = cap};
	SL_ASSERT(p || len == 0);
	if (cap)
		err[0] = '\0';
	memset(out, 0, sizeof(*out));
	if (len == 0) {
		r.msg = "replication CopyData";
		rd_fail(&r, -EINVAL, 0, "empty message");
		return r.rc;
	}
	out->kind = p[0];
	r.off = 1;
	switch (p[0]) {
	case 'w':
		r.msg = "replication XLogData ('w')";
		out->wal_start = rd_u64(&r, "the start LSN");
		out->wal_end = rd_u64(&r, "the end LSN");
		out->send_time_us = (int64_t)rd_u64(&r, "the send time");
		if (r.rc)
			break;
		if (r.len - r.off > UINT32_MAX) {
			rd_fail(&r, -EINVAL, r.off, "payload longer than 4 GiB");
			break;
		}
		out->payload = p + r.off;
		out->payload_len = (uint32_t)(r.len - r.off);
		r.off = r.len;
		break;
	case 'k': {
		r.msg = "replication keepalive ('k')";
		out->wal_end = rd_u64(&r, "the end LSN");
		out->send_time_us = (int64_t)rd_u64(&r, "the send time");
		size_t at = r.off;
		uint8_t reply = rd_u8(&r, "the reply flag");
		if (!r.rc && reply > 1)
			rd_fail(&r, -EINVAL, at, "reply flag %u is neither 0 nor 1", reply);
		out->reply_requested = reply == 1;
		break;
	}
	default:
		r.msg = "replication CopyData";
		rd_fail(&r, -EINVAL, 0,
			"unknown message kind 0x%02x (want 'w' XLogData or 'k' keepalive)", p[0]);
		break;
	}
	rd_end(&r);
	return r.rc;
}

static uint8_t *put_u64(uint8_t *q, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*q++ = (uint8_t)(v >> (8 * i));
	return q;
}

size_t sl_pgo_put_status(uint8_t out[SL_PGO_STATUS_BYTES], uint64_t written, uint64_t flushed,
			 uint64_t applied, int64_t now_pg_us, bool reply_requested)
{
	uint8_t *q = out;
	*q++ = 'r';
	q = put_u64(q, written);
	q = put_u64(q, flushed);
	q = put_u64(q, applied);
	q = put_u64(q, (uint64_t)now_pg_us);
	*q++ = reply_requested;
	SL_ASSERT((size_t)(q - out) == SL_PGO_STATUS_BYTES);
	return SL_PGO_STATUS_BYTES;
}

int sl_pg_lsn_format(uint64_t lsn, char *buf)
{
	return sprintf(buf, "%X/%X", (unsigned)(lsn >> 32), (unsigned)lsn);
}

int sl_pg_lsn_parse(const char *s, size_t len, uint64_t *out)
{
	uint64_t part[2] = {0, 0};
	size_t i = 0;
	for (int k = 0; k < 2; k++) {
		size_t n = 0;
		for (; i < len && n <= 8; i++, n++) {
			char c = s[i];
			unsigned d;
			if (c >= '0' && c <= '9')
				d = (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				d = (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				d = (unsigned)(c - 'A' + 10);
			else
				break;
			part[k] = part[k] << 4 | d;
		}
		if (n == 0 || n > 8)
			return -EINVAL;
		if (k == 0) {
			if (i >= len || s[i] != '/')
				return -EINVAL;
			i++;
		}
	}
	if (i != len)
		return -EINVAL;
	*out = part[0] << 32 | part[1];
	return 0;
}

/* ---- pgoutput messages ----------------------------------------------------------------- */

const char *sl_pgo_type_name(uint8_t type)
{
	switch (type) {
	case 'B':
		return "Begin";
	case 'C':
		return "Commit";
	case 'O':
		return "Origin";
	case 'R':
		return "Relation";
	case 'Y':
		return "Type";
	case 'I':
		return "Insert";
	case 'U':
		return "Update";
	case 'D':
		return "Delete";
	case 'T':
		return "Truncate";
	case 'M':
		return "Message";
	default:
		return "unknown";
	}
}

/* The messages protocol versions 2-4 added: named in the error. */
static const char *later_type_name(uint8_t type)
{
	switch (type) {
	case 'S':
		return "Stream Start ('S', protocol version 2)";
	case 'E':
		return "Stream Stop ('E', protocol version 2)";
	case 'c':
		return "Stream Commit ('c', protocol version 2)";
	case 'A':
		return "Stream Abort ('A', protocol version 2)";
	case 'b':
		return "Begin Prepare ('b', protocol version 3)";
	case 'P':
		return "Prepare ('P', protocol version 3)";
	case 'K':
		return "Commit Prepared ('K', protocol version 3)";
	case 'r':
		return "Rollback Prepared ('r', protocol version 3)";
	case 'p':
		return "Stream Prepare ('p', protocol version 3)";
	default:
		return NULL;
	}
}

static void rd_tuple(struct rd *r, const char *what, struct sl_pgo_tuple *t)
{
	size_t at = r->off;
	uint16_t n = rd_u16(r, "the tuple's column count");
	t->n_cols = 0;
	if (r->rc)
		return;
	if (n > SL_MAX_COLS) {
		rd_fail(r, -E2BIG, at, "%s has %u columns, more than sluice's %u", what, n,
			SL_MAX_COLS);
		return;
	}
	for (uint32_t i = 0; i < n && !r->rc; i++) {
		struct sl_pgo_datum *d = &t->cols[i];
		size_t kat = r->off;
		d->kind = rd_u8(r, "a column kind");
		d->len = 0;
		d->p = NULL;
		switch (d->kind) {
		case 'n':
		case 'u':
			break;
		case 't':
		case 'b': {
			uint32_t len = rd_u32(r, "a column value's length");
			if (r->rc)
				break;
			if (len > INT32_MAX || r->len - r->off < len) {
				rd_fail(r, -EINVAL, r->off - 4,
					"truncated: %s column %u declares %u bytes, %zu left", what,
					i + 1, len, r->len - r->off);
				break;
			}
			d->len = len;
			d->p = (const char *)r->p + r->off;
			r->off += len;
			break;
		}
		default:
			if (!r->rc)
				rd_fail(r, -EINVAL, kat,
					"%s column %u has kind 0x%02x (want 'n', 'u', 't' or 'b')",
					what, i + 1, d->kind);
			break;
		}
	}
	if (!r->rc)
		t->n_cols = n;
}

static void parse_relation(struct rd *r, struct sl_pgo_relation *rel)
{
	rel->oid = rd_u32(r, "the relation OID");
	rd_name(r, "the namespace", rel->nspname);
	rd_name(r, "the relation name", rel->relname);
	size_t at = r->off;
	rel->replident = rd_u8(r, "the replica identity");
	rel->n_cols = 0;
	if (!r->rc && !strchr("dnfi", rel->replident ? rel->replident : '?'))
		rd_fail(r, -EINVAL, at, "replica identity 0x%02x is none of 'd', 'n', 'f', 'i'",
			rel->replident);
	at = r->off;
	uint16_t n = rd_u16(r, "the column count");
	if (!r->rc && n > SL_MAX_COLS)
		rd_fail(r, -E2BIG, at,
			"relation \"%s\".\"%s\" has %u columns, more than sluice's %u",
			shown(rel->nspname).s, shown(rel->relname).s, n, SL_MAX_COLS);
	for (uint32_t i = 0; i < n && !r->rc; i++) {
		struct sl_pgo_column *c = &rel->cols[i];
		c->flags = rd_u8(r, "a column's flags");
		rd_name(r, "a column name", c->name);
		c->type_oid = rd_u32(r, "a column's type OID");
		c->typmod = (int32_t)rd_u32(r, "a column's type modifier");
	}
	if (!r->rc)
		rel->n_cols = n;
}

/* 'K' or 'O' then a tuple. */
static void parse_old(struct rd *r, struct sl_pgo_change *c, uint8_t tag)
{
	c->old_kind = tag;
	rd_tuple(r, tag == 'K' ? "the old key tuple" : "the old tuple", &c->old_tuple);
}

int sl_pgo_parse(const uint8_t *p, size_t len, struct sl_pgo_msg *out, char *err, size_t cap)
{
	SL_ASSERT(p || len == 0);
	struct rd r = {.p = p, .len = len, .err = err, .cap = cap};
	char msgname[48];
	if (cap)
		err[0] = '\0';
	if (len == 0) {
		r.msg = "pgoutput message";
		rd_fail(&r, -EINVAL, 0, "empty message");
		return r.rc;
	}
	uint8_t type = p[0];
	out->type = type;
	snprintf(msgname, sizeof(msgname), "pgoutput %s ('%c')", sl_pgo_type_name(type),
		 type >= 0x20 && type < 0x7f ? type : '?');
	r.msg = msgname;
	r.off = 1;
	switch (type) {
	case 'B':
		out->begin.final_lsn = rd_u64(&r, "the final LSN");
		out->begin.commit_time_us = (int64_t)rd_u64(&r, "the commit time");
		out->begin.xid = rd_u32(&r, "the transaction id");
		break;
	case 'C':
		out->commit.flags = rd_u8(&r, "the flags");
		out->commit.commit_lsn = rd_u64(&r, "the commit LSN");
		out->commit.end_lsn = rd_u64(&r, "the end LSN");
		out->commit.commit_time_us = (int64_t)rd_u64(&r, "the commit time");
		break;
	case 'O':
		out->origin.commit_lsn = rd_u64(&r, "the origin's commit LSN");
		out->origin.name = rd_str(&r, "the origin name", &out->origin.name_len);
		break;
	case 'R':
		parse_relation(&r, &out->relation);
		break;
	case 'Y':
		out->pgtype.oid = rd_u32(&r, "the type OID");
		rd_name(&r, "the namespace", out->pgtype.nspname);
		rd_name(&r, "the type name", out->pgtype.name);
		break;
	case 'I':
	case 'U':
	case 'D': {
		struct sl_pgo_change *c = &out->change;
		c->rel_oid = rd_u32(&r, "the relation OID");
		c->old_kind = 0;
		c->has_new = false;
		c->old_tuple.n_cols = 0;
		c->new_tuple.n_cols = 0;
		size_t at = r.off;
		uint8_t tag = rd_u8(&r, type == 'I' ? "the 'N' tag" : "the tuple tag");
		if (r.rc)
			break;
		if (type == 'D') {
			if (tag != 'K' && tag != 'O')
				rd_fail(&r, -EINVAL, at, "tuple tag 0x%02x (want 'K' or 'O')", tag);
			else
				parse_old(&r, c, tag);
			break;
		}
		if (type == 'U' && (tag == 'K' || tag == 'O')) {
			parse_old(&r, c, tag);
			at = r.off;
			tag = rd_u8(&r, "the 'N' tag");
			if (r.rc)
				break;
		}
		if (tag != 'N') {
			rd_fail(&r, -EINVAL, at, "tuple tag 0x%02x (want %s)", tag,
				type == 'I' || c->old_kind ? "'N'" : "'K', 'O' or 'N'");
			break;
		}
		c->has_new = true;
		rd_tuple(&r, "the new tuple", &c->new_tuple);
		break;
	}
	case 'T': {
		size_t at = r.off;
		uint32_t n = rd_u32(&r, "the relation count");
		out->truncate.n_rels = 0;
		out->truncate.options = rd_u8(&r, "the options");
		if (r.rc)
			break;
		if (n > (r.len - r.off) / 4) {
			rd_fail(&r, -EINVAL, at,
				"truncated: %u relation OIDs need %llu bytes, %zu left", n,
				4ull * n, r.len - r.off);
			break;
		}
		out->truncate.n_rels = n;
		out->truncate.oids = p + r.off;
		r.off += 4ull * n;
		break;
	}
	case 'M': {
		out->message.flags = rd_u8(&r, "the flags");
		out->message.lsn = rd_u64(&r, "the LSN");
		out->message.prefix = rd_str(&r, "the prefix", &out->message.prefix_len);
		uint32_t n = rd_u32(&r, "the content length");
		if (r.rc)
			break;
		if (n > r.len - r.off) {
			rd_fail(&r, -EINVAL, r.off - 4, "truncated: content of %u bytes, %zu left",
				n, r.len - r.off);
			break;
		}
		out->message.content = p + r.off;
		out->message.content_len = n;
		r.off += n;
		break;
	}
	default: {
		const char *later = later_type_name(type);
		r.msg = "pgoutput message";
		if (later)
			rd_fail(&r, -ENOTSUP, 0,
				"%s is not supported: sluice asks for proto_version 1, without "
				"streaming or two_phase",
				later);
		else
			rd_fail(&r, -EINVAL, 0, "unknown message type 0x%02x", type);
		break;
	}
	}
	rd_end(&r);
	return r.rc;
}

/* ---- types ------------------------------------------------------------------------------ */

const char *sl_pg_type_name(uint32_t oid)
{
	switch (oid) {
	case SL_PG_BOOL:
		return "bool";
	case SL_PG_BYTEA:
		return "bytea";
	case SL_PG_CHAR:
		return "char";
	case SL_PG_NAME:
		return "name";
	case SL_PG_INT8:
		return "int8";
	case SL_PG_INT2:
		return "int2";
	case SL_PG_INT4:
		return "int4";
	case SL_PG_TEXT:
		return "text";
	case SL_PG_OID:
		return "oid";
	case SL_PG_JSON:
		return "json";
	case SL_PG_FLOAT4:
		return "float4";
	case SL_PG_FLOAT8:
		return "float8";
	case SL_PG_BPCHAR:
		return "bpchar";
	case SL_PG_VARCHAR:
		return "varchar";
	case SL_PG_DATE:
		return "date";
	case SL_PG_TIME:
		return "time";
	case SL_PG_TIMESTAMP:
		return "timestamp";
	case SL_PG_TIMESTAMPTZ:
		return "timestamptz";
	case SL_PG_INTERVAL:
		return "interval";
	case SL_PG_TIMETZ:
		return "timetz";
	case SL_PG_NUMERIC:
		return "numeric";
	case SL_PG_UUID:
		return "uuid";
	case SL_PG_JSONB:
		return "jsonb";
	default:
		return NULL;
	}
}

void sl_pg_field_of(uint32_t oid, int32_t typmod, struct sl_field *f)
{
	f->precision = 0;
	f->scale = 0;
	switch (oid) {
	case SL_PG_INT2:
	case SL_PG_INT4:
		f->type = SL_T_INT;
		break;
	case SL_PG_INT8:
	case SL_PG_OID:
		f->type = SL_T_BIGINT;
		break;
	case SL_PG_FLOAT4:
		f->type = SL_T_FLOAT;
		break;
	case SL_PG_FLOAT8:
		f->type = SL_T_DOUBLE;
		break;
	case SL_PG_BOOL:
		f->type = SL_T_BOOL;
		break;
	case SL_PG_DATE:
		f->type = SL_T_DATE;
		break;
	case SL_PG_TIMESTAMP:
	case SL_PG_TIMESTAMPTZ:
		f->type = oid == SL_PG_TIMESTAMP ? SL_T_TIMESTAMP : SL_T_TIMESTAMP_LTZ;
		/* typmod is the fractional digits (0-6), -1 for the default 6. */
		f->precision = typmod >= 0 && typmod < 3 ? (uint8_t)typmod : 3;
		break;
	case SL_PG_NUMERIC: {
		/* typmod = (precision << 16 | (scale & 0x7ff)) + VARHDRSZ, the scale an
		 * 11-bit signed number (negative and above precision since 15). */
		f->type = SL_T_DOUBLE;
		if (typmod < 4)
			break;
		int32_t t = typmod - 4;
		int32_t prec = (t >> 16) & 0xffff;
		int32_t scale = ((t & 0x7ff) ^ 0x400) - 0x400;
		if (scale < 0) {
			prec -= scale; /* numeric(3,-2): up to 99900, an integer */
			scale = 0;
		}
		if (scale > prec)
			prec = scale; /* numeric(2,4): below 0.01 */
		if (prec >= 1 && prec <= (int32_t)SL_DECIMAL_MAX_PRECISION) {
			f->type = SL_T_DECIMAL;
			f->precision = (uint8_t)prec;
			f->scale = (uint8_t)scale;
		}
		break;
	}
	default:
		f->type = SL_T_STRING;
		break;
	}
}

enum sl_type sl_pg_type_of(uint32_t oid, int32_t typmod)
{
	struct sl_field f;
	sl_pg_field_of(oid, typmod, &f);
	return f.type;
}

/* ---- text values ------------------------------------------------------------------------ */

/* Up to n digits at s[*i], at least min; false if fewer. */
static bool take_digits(const char *s, size_t len, size_t *i, unsigned min, unsigned max,
			int64_t *out)
{
	int64_t v = 0;
	unsigned n = 0;
	while (*i < len && n < max && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[*i] - '0');
		(*i)++;
		n++;
	}
	*out = v;
	return n >= min;
}

/*
 * PostgreSQL's ISO output of date, timestamp and timestamptz (DateStyle ISO):
 * YYYY-MM-DD (4-7 year digits), then for timestamps " HH:MM:SS[.f{1,6}]", a
 * timestamptz's offset [+-]HH[:MM[:SS]], and " BC". Sets *days, and *ms_of_day
 * (the time minus the offset; 0 for a plain date) unless date_only rejects a
 * time. Returns 0, -EINVAL, or -ERANGE for "infinity" / "-infinity".
 */
static int parse_pg_datetime(const char *s, size_t len, bool date_only, int64_t *days,
			     int64_t *ms_of_day)
{
	if ((len == 8 && memcmp(s, "infinity", 8) == 0) ||
	    (len == 9 && memcmp(s, "-infinity", 9) == 0))
		return -ERANGE;
	size_t i = 0;
	int64_t y, m, d, ms = 0;
	if (!take_digits(s, len, &i, 4, 7, &y) || i >= len || s[i++] != '-' ||
	    !take_digits(s, len, &i, 2, 2, &m) || i >= len || s[i++] != '-' ||
	    !take_digits(s, len, &i, 2, 2, &d))
		return -EINVAL;
	if (!date_only && i + 1 < len && s[i] == ' ' && s[i + 1] >= '0' && s[i + 1] <= '9') {
		int64_t hh, mi, ss;
		i++;
		if (!take_digits(s, len, &i, 2, 2, &hh) || i >= len || s[i++] != ':' ||
		    !take_digits(s, len, &i, 2, 2, &mi) || i >= len || s[i++] != ':' ||
		    !take_digits(s, len, &i, 2, 2, &ss) || hh > 23 || mi > 59 || ss > 60)
			return -EINVAL;
		ms = hh * 3600000 + mi * 60000 + ss * 1000;
		if (i < len && s[i] == '.') {
			int64_t frac;
			size_t f0 = ++i;
			if (!take_digits(s, len, &i, 1, 9, &frac))
				return -EINVAL;
			size_t n = i - f0;
			for (; n > 3; n--)
				frac /= 10; /* truncate to milliseconds */
			for (; n < 3; n++)
				frac *= 10;
			ms += frac;
		}
		if (i < len && (s[i] == '+' || s[i] == '-')) {
			bool neg = s[i++] == '-';
			int64_t oh, om = 0, os = 0;
			if (!take_digits(s, len, &i, 2, 2, &oh))
				return -EINVAL;
			if (i < len && s[i] == ':') {
				i++;
				if (!take_digits(s, len, &i, 2, 2, &om))
					return -EINVAL;
				if (i < len && s[i] == ':') {
					i++;
					if (!take_digits(s, len, &i, 2, 2, &os))
						return -EINVAL;
				}
			}
			if (oh > 15 || om > 59 || os > 59)
				return -EINVAL;
			int64_t off_ms = (oh * 3600 + om * 60 + os) * 1000;
			ms -= neg ? -off_ms : off_ms; /* local = UTC + offset */
		}
	}
	if (i + 3 == len && memcmp(s + i, " BC", 3) == 0) {
		if (y == 0)
			return -EINVAL;
		y = 1 - y; /* 1 BC is year 0 */
		i += 3;
	}
	if (i != len || !sl_civil_valid(y, (unsigned)m, (unsigned)d))
		return -EINVAL;
	*days = sl_days_from_civil(y, (unsigned)m, (unsigned)d);
	*ms_of_day = ms;
	return 0;
}

/* A float's text (decimal, NaN, Infinity, -Infinity), also a long numeric. */
static int parse_double(const char *p, uint32_t len, double *out)
{
	char buf[512];
	if (len == 0 || len >= sizeof(buf))
		return len == 0 ? -EINVAL : -ERANGE;
	memcpy(buf, p, len);
	buf[len] = '\0';
	/* strtod also takes hex, "inf" and spaces: only what PostgreSQL prints. */
	for (uint32_t i = 0; i < len; i++) {
		char c = buf[i];
		if (!((c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' ||
		      c == 'E'))
			goto special;
	}
	char *end;
	*out = strtod(buf, &end);
	return end == buf + len ? 0 : -EINVAL;
special:
	if (strcmp(buf, "NaN") == 0)
		*out = NAN;
	else if (strcmp(buf, "Infinity") == 0)
		*out = INFINITY;
	else if (strcmp(buf, "-Infinity") == 0)
		*out = -INFINITY;
	else
		return -EINVAL;
	return 0;
}

/* The value, cut to 40 bytes and with control bytes shown as '?', for errors. */
static void snippet(const char *p, uint32_t len, char *out, size_t cap)
{
	size_t n = len < 40 ? len : 40, o = 0;
	for (size_t i = 0; i < n && o + 4 < cap; i++)
		out[o++] = (unsigned char)p[i] < 0x20 || p[i] == 0x7f ? '?' : p[i];
	if (n < len && o + 4 < cap) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

int sl_pg_text_value(struct sl_batch *b, uint32_t col, uint32_t row, uint32_t type_oid,
		     const char *p, uint32_t len, char *err, size_t cap)
{
	SL_ASSERT(col < b->n_cols && row < SL_BATCH_ROWS);
	SL_ASSERT(p || len == 0);
	const struct sl_field *f = &b->schema->fields[col];
	union sl_val v;
	int rc = 0;
	const char *why = NULL;
	switch (f->type) {
	case SL_T_STRING:
		if (len > b->heap_cap) {
			set_err(
			    err, cap,
			    "column %s: a value of %u bytes is larger than a batch's string heap "
			    "(%u bytes)",
			    shown(f->name).s, len, b->heap_cap);
			return -E2BIG;
		}
		if (!sl_batch_set_str(b, col, row, p, len)) {
			set_err(err, cap, "column %s: the batch's string heap is full",
				shown(f->name).s);
			return -ENOBUFS;
		}
		return 0;
	case SL_T_INT:
	case SL_T_BIGINT:
		rc = sl_value_parse(f->type, p, len, &v);
		break;
	case SL_T_FLOAT:
	case SL_T_DOUBLE:
		rc = parse_double(p, len, &v.f);
		if (rc == 0 && f->type == SL_T_FLOAT) {
			if (isfinite(v.f) && isinf((float)v.f))
				rc = -ERANGE; /* rounds past FLT_MAX */
			v.f = (double)(float)v.f;
		}
		break;
	case SL_T_DECIMAL:
		if ((len == 3 && memcmp(p, "NaN", 3) == 0) ||
		    (len == 8 && memcmp(p, "Infinity", 8) == 0) ||
		    (len == 9 && memcmp(p, "-Infinity", 9) == 0)) {
			rc = -EINVAL;
			why = "has no DECIMAL value";
			break;
		}
		rc = sl_decimal_parse(p, len, f->precision, f->scale, &v.i);
		break;
	case SL_T_BOOL:
		if (len == 1 && (p[0] == 't' || p[0] == 'f'))
			v.i = p[0] == 't';
		else
			rc = sl_value_parse(SL_T_BOOL, p, len, &v);
		break;
	case SL_T_DATE:
	case SL_T_TIMESTAMP:
	case SL_T_TIMESTAMP_LTZ: {
		int64_t days = 0, ms = 0;
		rc = parse_pg_datetime(p, len, f->type == SL_T_DATE, &days, &ms);
		if (rc == -ERANGE)
			why = "(infinite) has no sluice value";
		v.i = f->type == SL_T_DATE ? days : days * 86400000ll + ms;
		break;
	}
	default:
		rc = -EINVAL;
		break;
	}
	if (rc < 0) {
		char text[48];
		const char *tn = sl_pg_type_name(type_oid);
		char oidbuf[24];
		if (!tn) {
			snprintf(oidbuf, sizeof(oidbuf), "type %u", type_oid);
			tn = oidbuf;
		}
		char typ[32];
		sl_field_type_text(f, typ, sizeof(typ));
		snippet(p, len, text, sizeof(text));
		if (why)
			set_err(err, cap, "column %s (%s): '%s' %s", shown(f->name).s, tn, text,
				why);
		else
			set_err(err, cap, "column %s (%s): '%s' %s %s", shown(f->name).s, tn, text,
				rc == -ERANGE ? "is out of range for" : "is not a value of", typ);
		return rc;
	}
	b->cols[col].v[row] = v;
	sl_batch_set_valid(b, col, row, true);
	return 0;
}

/* ---- relations and tuples --------------------------------------------------------------- */

int sl_pgo_relation_schema(const struct sl_pgo_relation *rel, struct sl_schema *s, char *err,
			   size_t cap)
{
	SL_ASSERT(rel->n_cols <= SL_MAX_COLS);
	s->n_fields = 0;
	for (uint32_t i = 0; i < rel->n_cols; i++) {
		const struct sl_pgo_column *c = &rel->cols[i];
		int rc = sl_schema_add(s, c->name, SL_T_STRING, false);
		if (rc < 0) {
			set_err(err, cap, "relation \"%s\".\"%s\": column \"%s\": %s",
				shown(rel->nspname).s, shown(rel->relname).s, shown(c->name).s,
				rc == -EEXIST ? "named twice" : "not a valid sluice column");
			return -EINVAL;
		}
		sl_pg_field_of(c->type_oid, c->typmod, &s->fields[s->n_fields - 1]);
	}
	return 0;
}

int sl_pgo_tuple_row(struct sl_batch *b, uint32_t row, const struct sl_pgo_relation *rel,
		     const struct sl_pgo_tuple *t, const int16_t *map, uint64_t *unchanged,
		     char *err, size_t cap)
{
	static_assert(SL_MAX_COLS <= 64, "unchanged is a 64-bit column mask");
	SL_ASSERT(row < SL_BATCH_ROWS);
	if (unchanged)
		*unchanged = 0;
	if (t->n_cols != rel->n_cols) {
		set_err(err, cap,
			"relation \"%s\".\"%s\": a tuple of %u columns, the relation has %u",
			shown(rel->nspname).s, shown(rel->relname).s, t->n_cols, rel->n_cols);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < t->n_cols; i++) {
		int c = map ? map[i] : (int)i;
		if (c < 0)
			continue;
		SL_ASSERT((uint32_t)c < b->n_cols);
		const struct sl_pgo_datum *d = &t->cols[i];
		switch (d->kind) {
		case SL_PGO_NULL:
			sl_batch_set_null(b, (uint32_t)c, row);
			break;
		case SL_PGO_UNCHANGED:
			sl_batch_set_null(b, (uint32_t)c, row);
			if (unchanged)
				*unchanged |= 1ull << c;
			break;
		case SL_PGO_TEXT: {
			int rc = sl_pg_text_value(b, (uint32_t)c, row, rel->cols[i].type_oid, d->p,
						  d->len, err, cap);
			if (rc < 0)
				return rc;
			break;
		}
		default:
			set_err(err, cap, "column %s: a binary value (the source asks for text)",
				shown(rel->cols[i].name).s);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* ---- COPY text format ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sl_pg_copy_fields(const char *p, size_t len, struct sl_pg_copy_field *out, uint32_t max,
		      char *scratch, char *err, size_t cap)
{
	if (len && p[len - 1] == '\n')
		len--;
	uint32_t n = 0;
	size_t i = 0, o = 0;
	for (;;) {
		if (n == max) {
			set_err(err, cap, "COPY line: more than %u fields", max);
			return -EINVAL;
		}
		size_t start = i;
		size_t ostart = o;
		bool escaped = false;
		while (i < len && p[i] != '\t') {
			if (p[i] != '\\') {
				if (escaped)
					scratch[o++] = p[i];
				i++;
				continue;
			}
			if (!escaped) {
				memcpy(scratch + o, p + start, i - start);
				o += i - start;
				escaped = true;
			}
			if (i + 1 >= len) {
				set_err(err, cap, "COPY line: a backslash at the end, offset %zu", i);
				return -EINVAL;
			}
			char c = p[i + 1];
			i += 2;
			switch (c) {
			case 'b': scratch[o++] = '\b'; break;
			case 'f': scratch[o++] = '\f'; break;
			case 'n': scratch[o++] = '\n'; break;
			case 'r': scratch[o++] = '\r'; break;
			case 't': scratch[o++] = '\t'; break;
			case 'v': scratch[o++] = '\v'; break;
			case 'N':
				if (i - start != 2 || (i < len && p[i] != '\t')) {
					set_err(err, cap, "COPY line: \\N inside a value, offset %zu",
						i - 2);
					return -EINVAL;
				}
				scratch[o++] = 0; /* placeholder; the field is null */
				break;
			case 'x': {
				int v = i < len ? hexval(p[i]) : -1;
				if (v < 0) {
					scratch[o++] = 'x';
					break;
				}
				i++;
				int v2 = i < len ? hexval(p[i]) : -1;
				if (v2 >= 0) {
					v = v * 16 + v2;
					i++;
				}
				scratch[o++] = (char)v;
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0';
					for (int k = 0; k < 2 && i < len && p[i] >= '0' && p[i] <= '7'; k++)
						v = v * 8 + (p[i++] - '0');
					scratch[o++] = (char)(v & 0xff);
				} else {
					scratch[o++] = c;
				}
			}
		}
		struct sl_pg_copy_field *f = &out[n++];
		if (escaped && i - start == 2 && p[start + 1] == 'N') {
			*f = (struct sl_pg_copy_field){.p = NULL, .len = 0, .null = true};
			o = ostart;
		} else if (escaped) {
			*f = (struct sl_pg_copy_field){.p = scratch + ostart, .len = (uint32_t)(o - ostart)};
		} else {
			*f = (struct sl_pg_copy_field){.p = p + start, .len = (uint32_t)(i - start)};
		}
		if (i >= len)
			return (int)n;
		i++; /* the tab */
	}
}

void sl_pg_notice_log(void *arg, const char *msg)
{
	(void)arg;
	char q[600];
	sl_log(SL_LOG_DEBUG, -1, NULL, "msg=\"PostgreSQL notice\" text=%s",
	       sl_log_quote(msg, strcspn(msg, "\n"), q, sizeof(q)));
}
