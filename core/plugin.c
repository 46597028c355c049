/* The registry of built-in plugins: adding a connector or operator is one line here. */
#include "core/plugin.h"

#include <string.h>

extern const struct sl_plugin sl_plugin_generator_source;
extern const struct sl_plugin sl_plugin_file_source;
extern const struct sl_plugin sl_plugin_postgres_cdc_source;
extern const struct sl_plugin sl_plugin_kafka_source;
extern const struct sl_plugin sl_plugin_filter;
extern const struct sl_plugin sl_plugin_map;
extern const struct sl_plugin sl_plugin_key_by;
extern const struct sl_plugin sl_plugin_aggregate;
extern const struct sl_plugin sl_plugin_union;
extern const struct sl_plugin sl_plugin_standardize;
extern const struct sl_plugin sl_plugin_quality;
extern const struct sl_plugin sl_plugin_upsert;
extern const struct sl_plugin sl_plugin_route;
extern const struct sl_plugin sl_plugin_file_sink;
extern const struct sl_plugin sl_plugin_postgres_sink;
extern const struct sl_plugin sl_plugin_kafka_sink;
extern const struct sl_plugin sl_plugin_stdout_sink;
extern const struct sl_plugin sl_plugin_blackhole_sink;
extern const struct sl_plugin sl_plugin_dead_letter_source;

const struct sl_plugin *const sl_plugins[] = {
	&sl_plugin_generator_source,
	&sl_plugin_file_source,
	&sl_plugin_postgres_cdc_source,
	&sl_plugin_kafka_source,
	&sl_plugin_filter,
	&sl_plugin_map,
	&sl_plugin_key_by,
	&sl_plugin_aggregate,
	&sl_plugin_union,
	&sl_plugin_standardize,
	&sl_plugin_quality,
	&sl_plugin_upsert,
	&sl_plugin_route,
	&sl_plugin_file_sink,
	&sl_plugin_postgres_sink,
	&sl_plugin_kafka_sink,
	&sl_plugin_stdout_sink,
	&sl_plugin_blackhole_sink,
	&sl_plugin_dead_letter_source,
	NULL,
};

const struct sl_plugin *sl_plugin_find(enum sl_node_kind kind, const char *name)
{
	for (const struct sl_plugin *const *p = sl_plugins; *p; p++)
		if ((*p)->kind == kind && strcmp((*p)->name, name) == 0)
			return *p;
	return NULL;
}

const char *sl_node_kind_name(enum sl_node_kind k)
{
	switch (k) {
	case SL_NODE_SOURCE:
		return "source";
	case SL_NODE_STEP:
		return "step";
	case SL_NODE_SINK:
		return "sink";
	}
	return "?";
}
