/* Sink `blackhole`: takes every row and writes nothing (benchmarks, dry runs). */
#include "core/job.h"
#include "core/worker.h"

static int blackhole_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	(void)d;
	sl_node_inherit(job, n);
	return 0;
}

static int blackhole_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	sl_worker_sink_rows(w, ni, in, 0);
	return 0;
}

static uint64_t blackhole_uses(const struct sl_node *n, uint32_t input, uint64_t out_used)
{
	(void)n;
	(void)input;
	(void)out_used;
	return 0; /* counts rows, reads no column */
}

const struct sl_plugin sl_plugin_blackhole_sink = {
	.uses = blackhole_uses,
	.name = "blackhole",
	.kind = SL_NODE_SINK,
	.summary = "counts rows and latency, writes nothing",
	.prepare = blackhole_prepare,
	.process = blackhole_process,
};
