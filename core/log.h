/* Structured one-line logs (logfmt) to stderr, with a rate limit for repeats. */
#ifndef SL_LOG_H
#define SL_LOG_H

#include "core/common.h"

enum sl_log_level { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR };

/* Level from SLUICE_LOG (debug|info|warn|error) or the job's log_level. */
void sl_log_set_level(enum sl_log_level l);
bool sl_log_parse_level(const char *s, enum sl_log_level *out);
bool sl_log_enabled(enum sl_log_level l);

/*
 * Writes `ts=… level=… [worker=…] [node=…] msg="…" k=v …` as one write(2).
 * fmt formats the rest of the line after msg: callers pass "msg=%s ..." with
 * values already quoted through sl_log_quote when they may hold spaces.
 * Thread-safe. worker < 0 or node NULL omit the field.
 */
void sl_log(enum sl_log_level l, int worker, const char *node, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* At most burst lines per second per limiter; the rest are counted and
 * reported as suppressed=N on the next line that passes. One writer thread. */
struct sl_ratelimit {
	int64_t window_start_ns;
	uint32_t in_window;
	uint32_t burst;
	uint64_t suppressed;
};
/* true: log now (and *suppressed tells how many were skipped before). */
bool sl_ratelimit_ok(struct sl_ratelimit *rl, uint64_t *suppressed);

/* Quotes s for logfmt into buf ("..." with \" \\ \n escaped; bytes < 0x20
 * as \xNN), truncating to fit; returns buf. */
const char *sl_log_quote(const char *s, size_t len, char *buf, size_t cap);

#endif
