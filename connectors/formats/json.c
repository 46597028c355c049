/* json: Flink's JsonRowDataDeserializationSchema for a declared schema. Each
 * message is one JSON object whose top-level fields are the columns, by exact
 * name; every message is an insert (+I). JSON null gives no row. */
#include "connectors/formats/format_internal.h"

static const char *const json_options[] = {
	"ignore-parse-errors",
	"fail-on-missing-field",
	"timestamp-format.standard",
	NULL,
};

static int json_decode(struct sl_decoder *d, struct sl_json_elem root)
{
	uint32_t r;
	int rc = fmt_row(d, root, SL_KIND_INSERT, "the message", &r);
	/* A null row (JSON null, or a non-object with ignore-parse-errors) is
	 * not collected: nothing to emit. */
	return rc == 1 ? 0 : rc;
}

const struct fmt_ops fmt_json_ops = {
	.name = "json",
	.corrupt_pre = "Failed to deserialize JSON '",
	.corrupt_post = "'.",
	.options = json_options,
	.meta = NULL,
	.n_meta = 0,
	.decode = json_decode,
};
