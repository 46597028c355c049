/* The dead-letter source: rows of bad records, fed by the workers, not polled. */
#include <string.h>

#include "core/job.h"
#include "core/worker.h"

static int dlq_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	(void)job;
	(void)d;
	struct sl_schema *s = &n->schema;
	memset(s, 0, sizeof(*s));
	sl_schema_add(s, "source", SL_T_STRING, true);   /* node that rejected it */
	sl_schema_add(s, "position", SL_T_STRING, false); /* file:line, step field, ... */
	sl_schema_add(s, "reason", SL_T_STRING, true);
	sl_schema_add(s, "raw", SL_T_STRING, false);      /* the bytes, or the row as JSON */
	sl_schema_add(s, "time", SL_T_TIMESTAMP, true);   /* when it was rejected */
	n->is_dead_letter = true;
	n->changelog = false;
	return 0;
}

/* Never polled: the worker ends it after every other node ended. */
static int dlq_poll(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	(void)ni;
	return SL_POLL_IDLE;
}

const struct sl_plugin sl_plugin_dead_letter_source = {
	.name = "dead_letter",
	.kind = SL_NODE_SOURCE,
	.summary = "records that could not be read or failed a step (internal; see dead_letter:)",
	.prepare = dlq_prepare,
	.poll = dlq_poll,
};
