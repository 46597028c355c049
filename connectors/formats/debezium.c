/* debezium-json: Flink's DebeziumJsonDeserializationSchema. The row images are
 * "before" and "after" of the message (of its "payload" with schema-include);
 * "op" c and r give +I(after), u gives -U(before) +U(after), d gives -D(before). */
#include <string.h>

#include "connectors/formats/format_internal.h"

static const char *const debezium_options[] = {
	"ignore-parse-errors",
	"schema-include",
	"timestamp-format.standard",
	NULL,
};

/* DebeziumJsonDecodingFormat.ReadableMetadata. */
static const struct fmt_meta_desc debezium_meta[] = {
	{"schema", META_SCHEMA, MK_STRING, "STRING"},
	{"ingestion-timestamp", META_INGESTION_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(3)"},
	{"source.timestamp", META_SOURCE_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(3)"},
	{"source.database", META_SOURCE_DB, MK_STRING, "STRING"},
	{"source.schema", META_SOURCE_SCHEMA, MK_STRING, "STRING"},
	{"source.table", META_SOURCE_TABLE, MK_STRING, "STRING"},
	{"source.properties", META_SOURCE_PROPS, MK_MAP, "MAP<STRING, STRING>"},
};

/* The text DebeziumJsonDeserializationSchema throws for an update or delete
 * without a before image (a Postgres table without REPLICA IDENTITY FULL). */
#define REPLICA_IDENTITY_TEXT                                                                      \
	"The \"before\" field of %s message is null, if you are using Debezium Postgres "          \
	"Connector, please check the Postgres table has been set REPLICA IDENTITY to FULL level."

/* source[key] as Flink's MAP<STRING, STRING> holds it: the STRING text of the value. */
static int source_property(struct sl_decoder *d, struct sl_json_elem source, const char *key,
			   enum fmt_meta_id id)
{
	struct sl_json_elem v;
	struct fmt_mval *mv = &d->mval[id];
	mv->valid = false;
	if (sl_json_type(source) != SL_JSON_OBJECT)
		return 0; /* a non-object converts to an empty map */
	/* A HashMap keeps the last of duplicate keys: scan them all. */
	struct sl_json_iter it;
	const char *k;
	size_t klen;
	struct sl_json_elem val, last = {{0, 0}};
	sl_json_iter_init(source, &it);
	while (sl_json_iter_next(&it, &k, &klen, &val))
		if (klen == strlen(key) && memcmp(k, key, klen) == 0)
			last = val;
	v = last;
	return fmt_meta_string(d, v, key, &mv->valid, &mv->v);
}

/* The metadata the format was asked for, from root (schema) and payload. */
static int read_metadata(struct sl_decoder *d, struct sl_json_elem schema, struct sl_json_elem ts,
			 struct sl_json_elem source)
{
	struct fmt_mval *mv;
	int rc = 0;
	if (fmt_meta_wanted(d, META_SCHEMA)) {
		mv = &d->mval[META_SCHEMA];
		rc = fmt_meta_string(d, schema, "schema", &mv->valid, &mv->v);
		if (rc < 0)
			return rc;
	}
	if (fmt_meta_wanted(d, META_INGESTION_TS)) {
		mv = &d->mval[META_INGESTION_TS];
		rc = fmt_meta_bigint(d, ts, "ts_ms", &mv->valid, &mv->v.i);
		if (rc < 0)
			return rc;
	}
	/* source is MAP<STRING, STRING>: its values convert as STRING, which never fails. */
	if (fmt_meta_wanted(d, META_SOURCE_TS)) {
		mv = &d->mval[META_SOURCE_TS];
		uint32_t mark = d->b->heap_len;
		rc = source_property(d, source, "ts_ms", META_SOURCE_TS);
		if (rc < 0)
			return rc;
		if (mv->valid) {
			/* Long.parseLong(ts_ms as text): no trim, a failure is an error. */
			const char *s = d->b->heap + mv->v.s.off;
			size_t len = mv->v.s.len;
			int64_t ms;
			d->b->heap_len = mark;
			if (!fmt_java_parse_long(s, len, &ms)) {
				mv->valid = false;
				return fmt_fail(d, "source.ts_ms: For input string: \"%.*s\"",
						(int)SL_MIN(len, 64), s);
			}
			mv->v.i = ms;
		}
	}
	if (fmt_meta_wanted(d, META_SOURCE_DB) &&
	    (rc = source_property(d, source, "db", META_SOURCE_DB)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_SOURCE_SCHEMA) &&
	    (rc = source_property(d, source, "schema", META_SOURCE_SCHEMA)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_SOURCE_TABLE) &&
	    (rc = source_property(d, source, "table", META_SOURCE_TABLE)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_SOURCE_PROPS)) {
		mv = &d->mval[META_SOURCE_PROPS];
		rc = fmt_meta_map(d, source, SL_T_STRING, "source", &mv->valid, &mv->v);
	}
	return rc;
}

static int debezium_decode(struct sl_decoder *d, struct sl_json_elem root)
{
	const struct sl_format *f = d->f;
	struct sl_json_elem payload = root, schema = {{0, 0}}, before = {{0, 0}}, after = {{0, 0}},
			    op = {{0, 0}}, ts = {{0, 0}}, source = {{0, 0}}, v;
	struct sl_json_iter it;
	const char *key;
	size_t klen;
	uint32_t r;
	int rc;

	/* The root converts as a ROW: it must be an object (a null root gives a
	 * null row, and reading it fails the same way). */
	if (sl_json_type(root) != SL_JSON_OBJECT)
		return fmt_fail(d, "the message is not a JSON object");
	if (f->schema_include || fmt_meta_wanted(d, META_SCHEMA)) {
		payload = (struct sl_json_elem){{0, 0}};
		sl_json_iter_init(root, &it);
		while (sl_json_iter_next(&it, &key, &klen, &v)) {
			if (klen == 7 && memcmp(key, "payload", 7) == 0)
				payload = fmt_elem(v);
			else if (klen == 6 && memcmp(key, "schema", 6) == 0)
				schema = fmt_elem(v);
		}
		if (f->schema_include) {
			enum sl_json_type pt = sl_json_type(payload);
			if (pt != SL_JSON_OBJECT)
				return fmt_fail(d, "\"payload\" is %s (schema-include is true)",
						pt == SL_JSON_MISSING ? "missing"
						: pt == SL_JSON_NULL  ? "null"
								      : "not a JSON object");
		} else {
			payload = root;
		}
	}
	/* One pass over the payload; a later duplicate key wins, as in Jackson. */
	sl_json_iter_init(payload, &it);
	while (sl_json_iter_next(&it, &key, &klen, &v)) {
		switch (klen) {
		case 2:
			if (key[0] == 'o' && key[1] == 'p')
				op = fmt_elem(v);
			break;
		case 5:
			if (memcmp(key, "after", 5) == 0)
				after = fmt_elem(v);
			else if (memcmp(key, "ts_ms", 5) == 0)
				ts = fmt_elem(v);
			break;
		case 6:
			if (memcmp(key, "before", 6) == 0)
				before = fmt_elem(v);
			else if (memcmp(key, "source", 6) == 0)
				source = fmt_elem(v);
			break;
		}
	}
	if (f->meta_need && (rc = read_metadata(d, schema, ts, source)) < 0)
		return rc;
	/* "op" is a STRING field: null or missing fails (op.toString()). */
	enum sl_json_type ot = sl_json_type(op);
	if (ot == SL_JSON_NULL || ot == SL_JSON_MISSING)
		return fmt_fail(d, "\"op\" is %s", ot == SL_JSON_NULL ? "null" : "missing");
	const char *ops = "";
	size_t olen = 0;
	char optext[80];
	if (ot == SL_JSON_STRING) {
		sl_json_get_string(op, &ops, &olen);
	} else if (ot == SL_JSON_OBJECT || ot == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(op, optext, sizeof(optext) - 1);
		ops = n < 0 ? "{...}" : optext;
		olen = n < 0 ? 5 : (size_t)n;
	} else {
		ops = fmt_as_text(d, op, &olen);
	}
	if (olen == 1 && (ops[0] == 'c' || ops[0] == 'r')) {
		if ((rc = fmt_row(d, before, FMT_NO_ROW, "\"before\"", &r)) < 0)
			return rc;
		rc = fmt_row(d, after, SL_KIND_INSERT, "\"after\"", &r);
		if (rc == 1)
			return fmt_fail(d, "\"after\" is null for op \"%c\"", ops[0]);
		return rc;
	}
	if (olen == 1 && ops[0] == 'u') {
		rc = fmt_row(d, before, SL_KIND_UPDATE_BEFORE, "\"before\"", &r);
		if (rc == 1)
			return fmt_fail(d, REPLICA_IDENTITY_TEXT, "UPDATE");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, after, SL_KIND_UPDATE_AFTER, "\"after\"", &r);
		if (rc == 1)
			return fmt_fail(d, "\"after\" is null for op \"u\"");
		return rc;
	}
	if (olen == 1 && ops[0] == 'd') {
		rc = fmt_row(d, before, SL_KIND_DELETE, "\"before\"", &r);
		if (rc == 1)
			return fmt_fail(d, REPLICA_IDENTITY_TEXT, "DELETE");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, after, FMT_NO_ROW, "\"after\"", &r);
		return rc < 0 ? rc : 0;
	}
	/* Flink converts the whole message before looking at op: check the images. */
	if ((rc = fmt_row(d, before, FMT_NO_ROW, "\"before\"", &r)) < 0 ||
	    (rc = fmt_row(d, after, FMT_NO_ROW, "\"after\"", &r)) < 0)
		return rc;
	return fmt_fail(d, "Unknown \"op\" value \"%.*s\".", (int)SL_MIN(olen, 64), ops);
}

const struct fmt_ops fmt_debezium_ops = {
	.name = "debezium-json",
	.corrupt_pre = "Corrupt Debezium JSON message '",
	.corrupt_post = "'.",
	.options = debezium_options,
	.meta = debezium_meta,
	.n_meta = SL_ARRAY_LEN(debezium_meta),
	.decode = debezium_decode,
};
