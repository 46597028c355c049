/* A live progress line for people at a terminal; silent otherwise. */
#ifndef SL_PROGRESS_H
#define SL_PROGRESS_H

#include "core/common.h"

struct sl_progress {
	bool enabled;
	int64_t last_ns;
	uint64_t last_in;
	double last_elapsed;
	bool drawn;
};

/* enabled: draw (the caller decides: stderr is a terminal and CI is unset). */
void sl_progress_init(struct sl_progress *p, bool enabled);
/* Redraws at most 4 times a second: records, rate, % and ETA of a bounded input. */
void sl_progress_update(struct sl_progress *p, uint64_t records_in, uint64_t records_out,
			uint64_t done, uint64_t total, double elapsed_s);
void sl_progress_done(struct sl_progress *p);
/* Formats n with a k/M/G suffix into buf. */
const char *sl_human_count(double n, char *buf, size_t cap);
/* True when progress should be drawn: stderr is a terminal and CI is unset. */
bool sl_progress_wanted(void);

#endif
