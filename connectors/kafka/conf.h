/* Kafka connectors' shared configuration: `properties:` for librdkafka, secrets, logging. */
#ifndef SL_KAFKA_CONF_H
#define SL_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "core/config.h"
#include "core/diag.h"

/* One librdkafka setting from a job file. */
struct sl_kafka_prop {
	const char *key; /* the document's string */
	char *val;       /* resolved value, malloc'd (wiped on free) */
	struct sl_pos pos;
	bool secret;
};

struct sl_kafka_props {
	uint32_t n;
	struct sl_kafka_prop *v;
};

/*
 * Reads a `properties:` map (props may be NULL: none). A value is a scalar,
 * `{env: NAME}` (the environment variable, which must be set) or
 * `{file: PATH}` (the file's contents, one trailing newline stripped).
 * Every key is tried against librdkafka so that a misspelt or invalid
 * setting is refused before start as FILE:LINE:COL; `who` names the node in
 * messages ("source 'orders'"). No message ever holds a secret's value.
 */
int sl_kafka_props_read(struct sl_cfg_doc *doc, struct sl_cfg_node *props, const char *who,
			struct sl_kafka_props *out, struct sl_diag *d);
void sl_kafka_props_free(struct sl_kafka_props *p);
/* The value of key in p, or NULL. */
const char *sl_kafka_props_get(const struct sl_kafka_props *p, const char *key);

/* Keys whose values are secrets: *.password, *secret*, sasl.oauthbearer.config,
 * ssl.key.pem, ssl_key (and the like). */
bool sl_kafka_secret_key(const char *key);

/*
 * A new librdkafka configuration: bootstrap.servers = brokers (unless NULL),
 * then `first` (key, value pairs, NULL-terminated; the connector's defaults,
 * which the user's properties may override), then p, then `last` (settings
 * the connector depends on, which override the user's). librdkafka's log
 * lines go to sluice's log under `node`, which must outlive the handle.
 * NULL with the reason in err (never a secret's value).
 */
rd_kafka_conf_t *sl_kafka_conf(const char *brokers, const struct sl_kafka_props *p,
			       const char *const *first, const char *const *last, const char *node,
			       char *err, size_t cap);

#endif
