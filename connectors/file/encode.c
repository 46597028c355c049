/* JSON-lines and CSV row encoders. */
#include "connectors/file/encode.h"

#include <string.h>

#include "core/value.h"
#include "io/json.h"

void sl_encoder_init(struct sl_encoder *e, enum sl_enc_format f, const struct sl_schema *s,
		     bool kind_column, char delim)
{
	memset(e, 0, sizeof(*e));
	e->format = f;
	e->schema = s;
	e->kind_column = kind_column;
	e->delim = delim;
	uint32_t o = 0;
	for (uint32_t c = 0; c < s->n_fields; c++) {
		const char *name = s->fields[c].name;
		ssize_t n = sl_json_escape(name, strlen(name), e->keys + o, sizeof(e->keys) - o - 1);
		SL_ASSERT(n > 0);
		e->key_off[c] = o;
		e->keys[o + (uint32_t)n] = ':';
		e->key_len[c] = (uint32_t)n + 1;
		o += (uint32_t)n + 1;
	}
}

static bool csv_needs_quotes(const char *s, size_t len, char delim)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == delim || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
			return true;
	return false;
}

static ssize_t csv_field(const char *s, size_t len, char delim, char *buf, size_t cap)
{
	if (!csv_needs_quotes(s, len, delim)) {
		if (len > cap)
			return -ENOSPC;
		memcpy(buf, s, len);
		return (ssize_t)len;
	}
	size_t o = 0;
	if (cap < 2 * len + 2)
		return -ENOSPC;
	buf[o++] = '"';
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			buf[o++] = '"';
		buf[o++] = s[i];
	}
	buf[o++] = '"';
	return (ssize_t)o;
}

ssize_t sl_encode_header(const struct sl_encoder *e, char *buf, size_t cap)
{
	if (e->format != SL_ENC_CSV)
		return 0;
	size_t o = 0;
	if (e->kind_column) {
		if (cap < 6)
			return -ENOSPC;
		memcpy(buf, "_kind", 5);
		o = 5;
	}
	for (uint32_t c = 0; c < e->schema->n_fields; c++) {
		if (o || c) {
			if (o + 1 > cap)
				return -ENOSPC;
			buf[o++] = e->delim;
		}
		const char *name = e->schema->fields[c].name;
		ssize_t n = csv_field(name, strlen(name), e->delim, buf + o, cap - o);
		if (n < 0)
			return n;
		o += (size_t)n;
	}
	if (o + 1 > cap)
		return -ENOSPC;
	buf[o++] = '\n';
	return (ssize_t)o;
}

/* Appends the row's columns (only cols when n_cols is not all) as a JSON
 * object body "\"a\":1,\"b\":\"x\"" — no braces. Returns the new offset or -ENOSPC. */
static ssize_t json_fields(const struct sl_encoder *e, const struct sl_batch *b, uint32_t r,
			   const uint32_t *cols, uint32_t n_cols, char *buf, size_t o, size_t cap)
{
	const struct sl_schema *s = e->schema;
	char num[64];
	for (uint32_t k = 0; k < n_cols; k++) {
		uint32_t c = cols ? cols[k] : k;
		if (o + e->key_len[c] + 2 + 48 > cap)
			return -ENOSPC;
		if (k)
			buf[o++] = ',';
		memcpy(buf + o, e->keys + e->key_off[c], e->key_len[c]);
		o += e->key_len[c];
		if (!sl_batch_is_valid(b, c, r)) {
			memcpy(buf + o, "null", 4);
			o += 4;
			continue;
		}
		enum sl_type t = s->fields[c].type;
		union sl_val v = b->cols[c].v[r];
		if (t == SL_T_STRING) {
			ssize_t n = sl_json_escape(b->heap + v.s.off, v.s.len, buf + o, cap - o - 2);
			if (n < 0)
				return n;
			o += (size_t)n;
		} else if (t == SL_T_DATE || t == SL_T_TIMESTAMP || t == SL_T_TIMESTAMP_LTZ ||
			   (sl_type_is_float(t) && (v.f != v.f || v.f - v.f != 0))) {
			/* Dates, times and non-finite numbers are JSON strings. */
			int n = sl_value_format_field(&s->fields[c], v, num);
			buf[o++] = '"';
			memcpy(buf + o, num, (size_t)n);
			o += (size_t)n;
			buf[o++] = '"';
		} else {
			o += (size_t)sl_value_format_field(&s->fields[c], v, buf + o);
		}
	}
	return (ssize_t)o;
}

static ssize_t lit(char *buf, size_t o, size_t cap, const char *s)
{
	size_t n = strlen(s);
	if (o + n > cap)
		return -ENOSPC;
	memcpy(buf + o, s, n);
	return (ssize_t)(o + n);
}

#define STEP(expr)                                                                                 \
	do {                                                                                       \
		ssize_t step_ = (expr);                                                            \
		if (step_ < 0)                                                                     \
			return step_;                                                              \
		o = (size_t)step_;                                                                 \
	} while (0)

ssize_t sl_encode_row(const struct sl_encoder *e, const struct sl_batch *b, uint32_t r, char *buf,
		      size_t cap)
{
	const struct sl_schema *s = e->schema;
	size_t o = 0;
	uint32_t n = s->n_fields;
	bool add = sl_kind_is_add(b->kind[r]);
	if (cap < 64)
		return -ENOSPC;
	switch (e->format) {
	case SL_ENC_JSONL:
		memcpy(buf, "{\"_kind\":\"", 10);
		memcpy(buf + 10, sl_kind_str(b->kind[r]), 2);
		buf[12] = '"';
		o = 13;
		if (n) {
			buf[o++] = ',';
			STEP(json_fields(e, b, r, NULL, n, buf, o, cap));
		}
		STEP(lit(buf, o, cap, "}\n"));
		return (ssize_t)o;
	case SL_ENC_DEBEZIUM:
		STEP(lit(buf, o, cap, add ? "{\"before\":null,\"after\":{" : "{\"before\":{"));
		STEP(json_fields(e, b, r, NULL, n, buf, o, cap));
		STEP(lit(buf, o, cap, add ? "},\"op\":\"c\"}\n" : "},\"after\":null,\"op\":\"d\"}\n"));
		return (ssize_t)o;
	case SL_ENC_CANAL:
		STEP(lit(buf, o, cap, "{\"data\":[{"));
		STEP(json_fields(e, b, r, NULL, n, buf, o, cap));
		STEP(lit(buf, o, cap, add ? "}],\"old\":null,\"type\":\"INSERT\"}\n"
					  : "}],\"old\":null,\"type\":\"DELETE\"}\n"));
		return (ssize_t)o;
	case SL_ENC_UPSERT:
		if (b->kind[r] == SL_KIND_UPDATE_BEFORE)
			return 0;
		STEP(lit(buf, o, cap, "{\"key\":{"));
		STEP(json_fields(e, b, r, e->key_cols, e->n_keys, buf, o, cap));
		if (b->kind[r] == SL_KIND_DELETE) {
			STEP(lit(buf, o, cap, "},\"value\":null}\n"));
			return (ssize_t)o;
		}
		STEP(lit(buf, o, cap, "},\"value\":{"));
		STEP(json_fields(e, b, r, NULL, n, buf, o, cap));
		STEP(lit(buf, o, cap, "}}\n"));
		return (ssize_t)o;
	case SL_ENC_CSV:
		break;
	}
	if (e->kind_column) {
		memcpy(buf, sl_kind_str(b->kind[r]), 2);
		o = 2;
	}
	for (uint32_t c = 0; c < s->n_fields; c++) {
		if (o || c) {
			if (o + 1 > cap)
				return -ENOSPC;
			buf[o++] = e->delim;
		}
		if (!sl_batch_is_valid(b, c, r))
			continue;
		enum sl_type t = s->fields[c].type;
		union sl_val v = b->cols[c].v[r];
		if (t == SL_T_STRING) {
			ssize_t n = csv_field(b->heap + v.s.off, v.s.len, e->delim, buf + o, cap - o);
			if (n < 0)
				return n;
			o += (size_t)n;
		} else {
			if (o + 48 > cap)
				return -ENOSPC;
			o += (size_t)sl_value_format_field(&s->fields[c], v, buf + o);
		}
	}
	if (o + 1 > cap)
		return -ENOSPC;
	buf[o++] = '\n';
	return (ssize_t)o;
}
