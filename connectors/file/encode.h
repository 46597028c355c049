/* Row encoders shared by the text sinks: JSON lines and CSV. */
#ifndef SL_ENCODE_H
#define SL_ENCODE_H

#include <sys/types.h>

#include "core/batch.h"

/*
 * jsonl     {"_kind":"+I","col":v,...}
 * csv       [_kind,]col,...
 * debezium  {"before":…,"after":…,"op":"c"|"d"}: +I/+U as c (after), -U/-D
 *           as d (before) — an update becomes a delete and an insert, as
 *           Flink's debezium-json serialization does
 * canal     {"data":[{…}],"old":null,"type":"INSERT"|"DELETE"}, same mapping
 * upsert    {"key":{…},"value":{…}} for +I/+U, {"key":{…},"value":null} for
 *           -D, nothing for -U: replaying it keeps the latest image per key
 */
enum sl_enc_format { SL_ENC_JSONL, SL_ENC_CSV, SL_ENC_DEBEZIUM, SL_ENC_CANAL, SL_ENC_UPSERT };

/* Prepared once per sink: column keys pre-escaped so rows are encoded with
 * memcpy and a few conversions, no printf. */
struct sl_encoder {
	enum sl_enc_format format;
	bool kind_column; /* jsonl: always "_kind"; csv: a first "_kind" column */
	char delim;
	const struct sl_schema *schema;
	uint32_t n_keys; /* upsert: key columns */
	uint32_t key_cols[SL_MAX_KEYS];
	uint32_t key_off[SL_MAX_COLS]; /* jsonl: `"name":` in keys[] */
	uint32_t key_len[SL_MAX_COLS];
	char keys[SL_MAX_COLS * (SL_NAME_MAX * 6 + 4)];
};

void sl_encoder_init(struct sl_encoder *e, enum sl_enc_format f, const struct sl_schema *s,
		     bool kind_column, char delim);
/* Encodes row r of b plus '\n' into buf. Returns the length (0: the row is
 * not written in this format, e.g. -U for upsert) or -ENOSPC. */
ssize_t sl_encode_row(const struct sl_encoder *e, const struct sl_batch *b, uint32_t r, char *buf,
		      size_t cap);
/* CSV header line (with '\n'); 0 for jsonl. Returns the length or -ENOSPC. */
ssize_t sl_encode_header(const struct sl_encoder *e, char *buf, size_t cap);

#endif
