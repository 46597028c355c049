/* ogg-json: Flink's OggJsonDeserializationSchema (Oracle GoldenGate). "op_type"
 * I gives +I(after), U gives -U(before) +U(after), D gives -D(before). T
 * (truncate) is declared by Flink but not handled: like any other op_type it
 * is an error ("Unknown "op_type" value"), or a dropped message with
 * ignore-parse-errors. */
#include <string.h>

#include "connectors/formats/format_internal.h"

static const char *const ogg_options[] = {
	"ignore-parse-errors",
	"timestamp-format.standard",
	NULL,
};

/* OggJsonDecodingFormat.ReadableMetadata. */
static const struct fmt_meta_desc ogg_meta[] = {
	{"table", META_TABLE, MK_STRING, "STRING"},
	{"primary-keys", META_PK_NAMES, MK_ARRAY, "ARRAY<STRING>"},
	{"ingestion-timestamp", META_INGESTION_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(6)"},
	{"event-timestamp", META_EVENT_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(6)"},
};

#define REPLICA_IDENTITY_TEXT                                                                      \
	"The \"before\" field of %s message is null, if you are using Ogg Postgres Connector, "   \
	"please check the Postgres table has been set REPLICA IDENTITY to FULL level."

/* current_ts / op_ts are STRING fields parsed by the metadata converter. */
static int read_timestamp(struct sl_decoder *d, struct sl_json_elem v, bool lenient,
			  struct fmt_mval *mv)
{
	enum sl_json_type t = sl_json_type(v);
	size_t len;
	const char *s;
	char tmp[96];
	mv->valid = false;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING)
		return 0;
	if (t == SL_JSON_OBJECT || t == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(v, tmp, sizeof(tmp));
		s = n < 0 ? "" : tmp;
		len = n < 0 ? 0 : (size_t)n;
	} else {
		s = fmt_as_text(d, v, &len);
	}
	if (lenient) {
		/* op_ts: DateTimeUtils.parseTimestampData(String) throws on bad text. */
		if (!fmt_parse_ts_lenient(s, len, &mv->v.i))
			return fmt_fail(d, "op_ts: Text '%.*s' could not be parsed", (int)SL_MIN(len, 64),
					s);
	} else if (!fmt_parse_ts_iso6_fallback(s, len, &mv->v.i)) {
		return 0; /* current_ts: parseTimestampData(String, format) gives null */
	}
	mv->valid = true;
	return 0;
}

static int ogg_decode(struct sl_decoder *d, struct sl_json_elem root)
{
	struct sl_json_elem before = {{0, 0}}, after = {{0, 0}}, op = {{0, 0}}, table = {{0, 0}},
			    pk = {{0, 0}}, current_ts = {{0, 0}}, op_ts = {{0, 0}}, v;
	struct fmt_mval *mv = d->mval;
	struct sl_json_iter it;
	const char *key;
	size_t klen;
	uint32_t r;
	int rc;

	if (sl_json_type(root) != SL_JSON_OBJECT)
		return fmt_fail(d, "the message is not a JSON object");
	sl_json_iter_init(root, &it);
	while (sl_json_iter_next(&it, &key, &klen, &v)) {
		if (klen == 6 && memcmp(key, "before", 6) == 0)
			before = fmt_elem(v);
		else if (klen == 5 && memcmp(key, "after", 5) == 0)
			after = fmt_elem(v);
		else if (klen == 7 && memcmp(key, "op_type", 7) == 0)
			op = fmt_elem(v);
		else if (klen == 5 && memcmp(key, "table", 5) == 0)
			table = fmt_elem(v);
		else if (klen == 12 && memcmp(key, "primary_keys", 12) == 0)
			pk = fmt_elem(v);
		else if (klen == 10 && memcmp(key, "current_ts", 10) == 0)
			current_ts = fmt_elem(v);
		else if (klen == 5 && memcmp(key, "op_ts", 5) == 0)
			op_ts = fmt_elem(v);
	}
	if (fmt_meta_wanted(d, META_TABLE) &&
	    (rc = fmt_meta_string(d, table, "table", &mv[META_TABLE].valid, &mv[META_TABLE].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_PK_NAMES) &&
	    (rc = fmt_meta_array(d, pk, "primary_keys", &mv[META_PK_NAMES].valid,
				 &mv[META_PK_NAMES].v)) < 0)
		return rc;
	/* Flink parses them per emitted row: once per message is the same, as
	 * every message that gets past op_type emits a row. */
	if (fmt_meta_wanted(d, META_INGESTION_TS) &&
	    (rc = read_timestamp(d, current_ts, false, &mv[META_INGESTION_TS])) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_EVENT_TS) &&
	    (rc = read_timestamp(d, op_ts, true, &mv[META_EVENT_TS])) < 0)
		return rc;
	enum sl_json_type ot = sl_json_type(op);
	if (ot == SL_JSON_NULL || ot == SL_JSON_MISSING)
		return fmt_fail(d, "\"op_type\" is %s", ot == SL_JSON_NULL ? "null" : "missing");
	const char *ops;
	size_t olen;
	char obuf[80];
	if (ot == SL_JSON_OBJECT || ot == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(op, obuf, sizeof(obuf));
		ops = n < 0 ? "{...}" : obuf;
		olen = n < 0 ? 5 : (size_t)n;
	} else {
		ops = fmt_as_text(d, op, &olen);
	}
	if (olen == 1 && ops[0] == 'I') {
		if ((rc = fmt_row(d, before, FMT_NO_ROW, "\"before\"", &r)) < 0)
			return rc;
		rc = fmt_row(d, after, SL_KIND_INSERT, "\"after\"", &r);
		if (rc == 1)
			return fmt_fail(d, "\"after\" is null for op_type \"I\"");
		return rc;
	}
	if (olen == 1 && ops[0] == 'U') {
		rc = fmt_row(d, before, SL_KIND_UPDATE_BEFORE, "\"before\"", &r);
		if (rc == 1)
			return fmt_fail(d, REPLICA_IDENTITY_TEXT, "UPDATE");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, after, SL_KIND_UPDATE_AFTER, "\"after\"", &r);
		if (rc == 1)
			return fmt_fail(d, "\"after\" is null for op_type \"U\"");
		return rc;
	}
	if (olen == 1 && ops[0] == 'D') {
		rc = fmt_row(d, before, SL_KIND_DELETE, "\"before\"", &r);
		if (rc == 1)
			return fmt_fail(d, REPLICA_IDENTITY_TEXT, "DELETE");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, after, FMT_NO_ROW, "\"after\"", &r);
		return rc < 0 ? rc : 0;
	}
	if ((rc = fmt_row(d, before, FMT_NO_ROW, "\"before\"", &r)) < 0 ||
	    (rc = fmt_row(d, after, FMT_NO_ROW, "\"after\"", &r)) < 0)
		return rc;
	return fmt_fail(d, "Unknown \"op_type\" value \"%.*s\".", (int)SL_MIN(olen, 64), ops);
}

const struct fmt_ops fmt_ogg_ops = {
	.name = "ogg-json",
	.corrupt_pre = "Corrupt Ogg JSON message '",
	.corrupt_post = "'.",
	.options = ogg_options,
	.meta = ogg_meta,
	.n_meta = SL_ARRAY_LEN(ogg_meta),
	.decode = ogg_decode,
};
