/* maxwell-json: Flink's MaxwellJsonDeserializationSchema. One row per message in
 * "data"; "type" insert gives +I, update gives -U(before) +U(data) where the
 * before image is "old" with the columns it lacks copied from "data", delete
 * gives -D; any other type is an error. */
#include <string.h>

#include "connectors/formats/format_internal.h"

static const char *const maxwell_options[] = {
	"ignore-parse-errors",
	"timestamp-format.standard",
	NULL,
};

/* MaxwellJsonDecodingFormat.ReadableMetadata. */
static const struct fmt_meta_desc maxwell_meta[] = {
	{"database", META_DATABASE, MK_STRING, "STRING"},
	{"table", META_TABLE, MK_STRING, "STRING"},
	{"primary-key-columns", META_PK_NAMES, MK_ARRAY, "ARRAY<STRING>"},
	{"ingestion-timestamp", META_INGESTION_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(3)"},
};

static int maxwell_decode(struct sl_decoder *d, struct sl_json_elem root)
{
	struct sl_json_elem data = {{0, 0}}, old = {{0, 0}}, type = {{0, 0}}, database = {{0, 0}},
			    table = {{0, 0}}, pk = {{0, 0}}, ts = {{0, 0}}, v;
	struct fmt_mval *mv = d->mval;
	struct sl_json_iter it;
	const char *key;
	size_t klen;
	uint32_t rb, ra;
	int rc;

	if (sl_json_type(root) != SL_JSON_OBJECT)
		return fmt_fail(d, "the message is not a JSON object");
	sl_json_iter_init(root, &it);
	while (sl_json_iter_next(&it, &key, &klen, &v)) {
		if (klen == 4 && memcmp(key, "data", 4) == 0)
			data = fmt_elem(v);
		else if (klen == 3 && memcmp(key, "old", 3) == 0)
			old = fmt_elem(v);
		else if (klen == 4 && memcmp(key, "type", 4) == 0)
			type = fmt_elem(v);
		else if (klen == 8 && memcmp(key, "database", 8) == 0)
			database = fmt_elem(v);
		else if (klen == 5 && memcmp(key, "table", 5) == 0)
			table = fmt_elem(v);
		else if (klen == 19 && memcmp(key, "primary_key_columns", 19) == 0)
			pk = fmt_elem(v);
		else if (klen == 2 && memcmp(key, "ts", 2) == 0)
			ts = fmt_elem(v);
	}
	if (fmt_meta_wanted(d, META_DATABASE) &&
	    (rc = fmt_meta_string(d, database, "database", &mv[META_DATABASE].valid,
				  &mv[META_DATABASE].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_TABLE) &&
	    (rc = fmt_meta_string(d, table, "table", &mv[META_TABLE].valid, &mv[META_TABLE].v)) <
		0)
		return rc;
	if (fmt_meta_wanted(d, META_PK_NAMES) &&
	    (rc = fmt_meta_array(d, pk, "primary_key_columns", &mv[META_PK_NAMES].valid,
				 &mv[META_PK_NAMES].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_INGESTION_TS)) {
		struct fmt_mval *t = &mv[META_INGESTION_TS];
		if ((rc = fmt_meta_bigint(d, ts, "ts", &t->valid, &t->v.i)) < 0)
			return rc;
		/* Maxwell's ts is in seconds; Java's long product wraps. */
		if (t->valid)
			t->v.i = (int64_t)((uint64_t)t->v.i * 1000u);
	}
	enum sl_json_type tt = sl_json_type(type);
	if (tt == SL_JSON_NULL || tt == SL_JSON_MISSING)
		return fmt_fail(d, "\"type\" is %s", tt == SL_JSON_NULL ? "null" : "missing");
	const char *ty;
	size_t tlen;
	char tbuf[80];
	if (tt == SL_JSON_OBJECT || tt == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(type, tbuf, sizeof(tbuf));
		ty = n < 0 ? "{...}" : tbuf;
		tlen = n < 0 ? 5 : (size_t)n;
	} else {
		ty = fmt_as_text(d, type, &tlen);
	}
#define IS(lit) (tlen == sizeof(lit) - 1 && memcmp(ty, lit, tlen) == 0)
	if (IS("insert") || IS("delete")) {
		uint8_t kind = IS("insert") ? SL_KIND_INSERT : SL_KIND_DELETE;
		if ((rc = fmt_row(d, old, FMT_NO_ROW, "\"old\"", &rb)) < 0)
			return rc;
		rc = fmt_row(d, data, kind, "\"data\"", &ra);
		if (rc == 1)
			return fmt_fail(d, "\"data\" is null");
		return rc;
	}
	if (IS("update")) {
		rc = fmt_row(d, old, SL_KIND_UPDATE_BEFORE, "\"old\"", &rb);
		if (rc == 1)
			return fmt_fail(d, "\"old\" is null in an update");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, data, SL_KIND_UPDATE_AFTER, "\"data\"", &ra);
		if (rc == 1)
			return fmt_fail(d, "\"data\" is null");
		if (rc < 0)
			return rc;
		fmt_fill_unchanged(d, rb, ra, fmt_names_anywhere(d->f, old));
		return 0;
	}
#undef IS
	if ((rc = fmt_row(d, data, FMT_NO_ROW, "\"data\"", &ra)) < 0 ||
	    (rc = fmt_row(d, old, FMT_NO_ROW, "\"old\"", &rb)) < 0)
		return rc;
	return fmt_fail(d, "Unknown \"type\" value \"%.*s\".", (int)SL_MIN(tlen, 64), ty);
}

const struct fmt_ops fmt_maxwell_ops = {
	.name = "maxwell-json",
	.corrupt_pre = "Corrupt Maxwell JSON message '",
	.corrupt_post = "'.",
	.options = maxwell_options,
	.meta = maxwell_meta,
	.n_meta = SL_ARRAY_LEN(maxwell_meta),
	.decode = maxwell_decode,
};
