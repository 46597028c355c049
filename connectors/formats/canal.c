/* canal-json: Flink's CanalJsonDeserializationSchema. A message carries rows in
 * its "data" array; "type" INSERT (and INIT, Alibaba DTS) gives +I per row,
 * UPDATE gives -U(before) +U(after) per row, DELETE -D per row, CREATE is a DDL
 * message and gives nothing; any other type is an error. database.include and
 * table.include drop messages whose "database"/"table" do not match, before any
 * conversion. */
#include <string.h>

#include "connectors/formats/format_internal.h"

static const char *const canal_options[] = {
	"ignore-parse-errors",
	"timestamp-format.standard",
	"database.include",
	"table.include",
	NULL,
};

/* CanalJsonDecodingFormat.ReadableMetadata. */
static const struct fmt_meta_desc canal_meta[] = {
	{"database", META_DATABASE, MK_STRING, "STRING"},
	{"table", META_TABLE, MK_STRING, "STRING"},
	{"sql-type", META_SQL_TYPE, MK_MAP, "MAP<STRING, INT>"},
	{"pk-names", META_PK_NAMES, MK_ARRAY, "ARRAY<STRING>"},
	{"ingestion-timestamp", META_INGESTION_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(3)"},
	{"event-timestamp", META_EVENT_TS, MK_TIMESTAMP, "TIMESTAMP_LTZ(3)"},
};

struct canal_msg {
	struct sl_json_elem data, old, type, database, table, ts, es, sql_type, pk_names;
};

/*
 * The filter reads root.get("database").asText() on the raw message: a
 * missing field fails (NullPointerException), null reads "null", containers
 * read "", numbers read as Java prints them. Returns 1 if the message is
 * kept, 0 if it is dropped, or -EINVAL.
 */
static int filter(struct sl_decoder *d, const regex_t *re, struct sl_json_elem v,
		  const char *what)
{
	size_t len;
	if (sl_json_type(v) == SL_JSON_MISSING)
		return fmt_fail(d, "the message has no \"%s\" to filter on", what);
	const char *s = fmt_as_text(d, v, &len);
	return fmt_regex_match(re, s, len) ? 1 : 0;
}

static int read_metadata(struct sl_decoder *d, const struct canal_msg *m)
{
	struct fmt_mval *mv = d->mval;
	int rc = 0;
	if (fmt_meta_wanted(d, META_DATABASE) &&
	    (rc = fmt_meta_string(d, m->database, "database", &mv[META_DATABASE].valid,
				  &mv[META_DATABASE].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_TABLE) &&
	    (rc = fmt_meta_string(d, m->table, "table", &mv[META_TABLE].valid,
				  &mv[META_TABLE].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_SQL_TYPE) &&
	    (rc = fmt_meta_map(d, m->sql_type, SL_T_INT, "sqlType", &mv[META_SQL_TYPE].valid,
			       &mv[META_SQL_TYPE].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_PK_NAMES) &&
	    (rc = fmt_meta_array(d, m->pk_names, "pkNames", &mv[META_PK_NAMES].valid,
				 &mv[META_PK_NAMES].v)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_INGESTION_TS) &&
	    (rc = fmt_meta_bigint(d, m->ts, "ts", &mv[META_INGESTION_TS].valid,
				  &mv[META_INGESTION_TS].v.i)) < 0)
		return rc;
	if (fmt_meta_wanted(d, META_EVENT_TS) &&
	    (rc = fmt_meta_bigint(d, m->es, "es", &mv[META_EVENT_TS].valid,
				  &mv[META_EVENT_TS].v.i)) < 0)
		return rc;
	return 0;
}

/*
 * "data"/"old" convert as ARRAY<ROW>: null or missing is a null array, a
 * non-array an error (null with ignore-parse-errors). Returns 1 if arr is an
 * array, 0 if it is null, or -EINVAL.
 */
static int array_of_rows(struct sl_decoder *d, struct sl_json_elem arr, const char *what)
{
	enum sl_json_type t = sl_json_type(arr);
	if (t == SL_JSON_ARRAY)
		return 1;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING || d->f->ignore_parse_errors)
		return 0;
	return fmt_fail(d, "\"%s\" is not a JSON array", what);
}

/* Checks every row image of an array that is not emitted. */
static int check_rows(struct sl_decoder *d, struct sl_json_elem arr, const char *what)
{
	struct sl_json_iter it;
	struct sl_json_elem v;
	uint32_t r;
	int rc = array_of_rows(d, arr, what);
	if (rc <= 0)
		return rc;
	sl_json_iter_init(arr, &it);
	while (sl_json_iter_next(&it, NULL, NULL, &v))
		if ((rc = fmt_row(d, v, FMT_NO_ROW, what, &r)) < 0)
			return rc;
	return 0;
}

/* INSERT, INIT, DELETE: one row of kind per element of "data". */
static int emit_rows(struct sl_decoder *d, const struct canal_msg *m, uint8_t kind)
{
	struct sl_json_iter it;
	struct sl_json_elem v;
	uint32_t r;
	int rc = array_of_rows(d, m->data, "data");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return fmt_fail(d, "\"data\" is null");
	if ((rc = check_rows(d, m->old, "old")) < 0)
		return rc;
	sl_json_iter_init(m->data, &it);
	while (sl_json_iter_next(&it, NULL, NULL, &v)) {
		rc = fmt_row(d, v, kind, "an element of \"data\"", &r);
		if (rc == 1)
			return fmt_fail(d, "an element of \"data\" is null");
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * UPDATE: for each data[i], -U(before) then +U(after). The before image is
 * old[i]; a column NULL there whose name appears nowhere in "old" (Jackson's
 * findValue: any element, any depth) is unchanged and copied from data[i].
 */
static int emit_updates(struct sl_decoder *d, const struct canal_msg *m)
{
	struct sl_json_iter di, oi;
	struct sl_json_elem dv, ov;
	uint32_t rb, ra;
	int rc = array_of_rows(d, m->data, "data");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return fmt_fail(d, "\"data\" is null");
	rc = array_of_rows(d, m->old, "old");
	if (rc < 0)
		return rc;
	if (rc == 0)
		return fmt_fail(d, "\"old\" is null in an UPDATE");
	size_t n_data = sl_json_array_size(m->data), n_old = sl_json_array_size(m->old);
	uint64_t in_old = fmt_names_anywhere(d->f, m->old);
	sl_json_iter_init(m->data, &di);
	sl_json_iter_init(m->old, &oi);
	for (size_t i = 0; i < n_old; i++) {
		sl_json_iter_next(&oi, NULL, NULL, &ov);
		if (i >= n_data) {
			/* Elements past "data" are converted, not used. */
			if ((rc = fmt_row(d, ov, FMT_NO_ROW, "an element of \"old\"", &rb)) < 0)
				return rc;
			continue;
		}
		sl_json_iter_next(&di, NULL, NULL, &dv);
		rc = fmt_row(d, ov, SL_KIND_UPDATE_BEFORE, "an element of \"old\"", &rb);
		if (rc == 1)
			return fmt_fail(d, "an element of \"old\" is null");
		if (rc < 0)
			return rc;
		rc = fmt_row(d, dv, SL_KIND_UPDATE_AFTER, "an element of \"data\"", &ra);
		if (rc == 1)
			return fmt_fail(d, "an element of \"data\" is null");
		if (rc < 0)
			return rc;
		fmt_fill_unchanged(d, rb, ra, in_old);
	}
	if (n_data > n_old)
		return fmt_fail(d, "\"old\" has %zu elements for %zu in \"data\" (Index %zu out of "
				   "bounds for length %zu)",
				n_old, n_data, n_old, n_old);
	return 0;
}

static int canal_decode(struct sl_decoder *d, struct sl_json_elem root)
{
	const struct sl_format *f = d->f;
	struct canal_msg m;
	struct sl_json_iter it;
	struct sl_json_elem v;
	const char *key;
	size_t klen;
	int rc;

	memset(&m, 0, sizeof(m));
	if (sl_json_type(root) != SL_JSON_OBJECT)
		return fmt_fail(d, "the message is not a JSON object");
	sl_json_iter_init(root, &it);
	while (sl_json_iter_next(&it, &key, &klen, &v)) {
		switch (klen) {
		case 2:
			if (memcmp(key, "ts", 2) == 0)
				m.ts = fmt_elem(v);
			else if (memcmp(key, "es", 2) == 0)
				m.es = fmt_elem(v);
			break;
		case 3:
			if (memcmp(key, "old", 3) == 0)
				m.old = fmt_elem(v);
			break;
		case 4:
			if (memcmp(key, "data", 4) == 0)
				m.data = fmt_elem(v);
			else if (memcmp(key, "type", 4) == 0)
				m.type = fmt_elem(v);
			break;
		case 5:
			if (memcmp(key, "table", 5) == 0)
				m.table = fmt_elem(v);
			break;
		case 7:
			if (memcmp(key, "sqlType", 7) == 0)
				m.sql_type = fmt_elem(v);
			else if (memcmp(key, "pkNames", 7) == 0)
				m.pk_names = fmt_elem(v);
			break;
		case 8:
			if (memcmp(key, "database", 8) == 0)
				m.database = fmt_elem(v);
			break;
		}
	}
	if (f->has_db_re && (rc = filter(d, &f->db_re, m.database, "database")) <= 0)
		return rc;
	if (f->has_table_re && (rc = filter(d, &f->table_re, m.table, "table")) <= 0)
		return rc;
	if (f->meta_need && (rc = read_metadata(d, &m)) < 0)
		return rc;
	enum sl_json_type tt = sl_json_type(m.type);
	if (tt == SL_JSON_NULL || tt == SL_JSON_MISSING)
		return fmt_fail(d, "\"type\" is %s", tt == SL_JSON_NULL ? "null" : "missing");
	const char *ty;
	size_t tlen;
	char tbuf[80];
	if (tt == SL_JSON_OBJECT || tt == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(m.type, tbuf, sizeof(tbuf));
		ty = n < 0 ? "{...}" : tbuf;
		tlen = n < 0 ? 5 : (size_t)n;
	} else {
		ty = fmt_as_text(d, m.type, &tlen);
	}
#define IS(lit) (tlen == sizeof(lit) - 1 && memcmp(ty, lit, tlen) == 0)
	if (IS("INSERT") || IS("INIT"))
		return emit_rows(d, &m, SL_KIND_INSERT);
	if (IS("UPDATE"))
		return emit_updates(d, &m);
	if (IS("DELETE"))
		return emit_rows(d, &m, SL_KIND_DELETE);
	/* Flink converts "data" and "old" before looking at the type. */
	if ((rc = check_rows(d, m.data, "data")) < 0 || (rc = check_rows(d, m.old, "old")) < 0)
		return rc;
	if (IS("CREATE"))
		return 0; /* DDL: skipped */
#undef IS
	return fmt_fail(d, "Unknown \"type\" value \"%.*s\".", (int)SL_MIN(tlen, 64), ty);
}

const struct fmt_ops fmt_canal_ops = {
	.name = "canal-json",
	.corrupt_pre = "Corrupt Canal JSON message '",
	.corrupt_post = "'.",
	.options = canal_options,
	.meta = canal_meta,
	.n_meta = SL_ARRAY_LEN(canal_meta),
	.decode = canal_decode,
};
