/* Structured logfmt logging. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static enum sl_log_level log_level = SL_LOG_INFO;

void sl_log_set_level(enum sl_log_level l)
{
	__atomic_store_n(&log_level, l, __ATOMIC_RELAXED);
}

bool sl_log_enabled(enum sl_log_level l)
{
	return l >= __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

bool sl_log_parse_level(const char *s, enum sl_log_level *out)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum sl_log_level)i;
			return true;
		}
	if (strcasecmp(s, "warning") == 0) {
		*out = SL_LOG_WARN;
		return true;
	}
	return false;
}

void sl_log(enum sl_log_level l, int worker, const char *node, const char *fmt, ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	if (!sl_log_enabled(l))
		return;
	char line[4096];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, names[l]);
	if (worker >= 0)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " worker=%d", worker);
	if (node)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " node=%s", node);
	line[n++] = ' ';
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (m < 0) ? n : SL_MIN(n + m, (int)sizeof(line) - 2);
	line[n++] = '\n';
	/* One write per line so lines from several threads never interleave. */
	ssize_t w = write(STDERR_FILENO, line, (size_t)n);
	(void)w;
}

bool sl_ratelimit_ok(struct sl_ratelimit *rl, uint64_t *suppressed)
{
	int64_t now = sl_now_ns();
	if (rl->burst == 0)
		rl->burst = 10;
	if (now - rl->window_start_ns >= 1000000000ll) {
		rl->window_start_ns = now;
		rl->in_window = 0;
	}
	if (rl->in_window < rl->burst) {
		rl->in_window++;
		*suppressed = rl->suppressed;
		rl->suppressed = 0;
		return true;
	}
	rl->suppressed++;
	return false;
}

const char *sl_log_quote(const char *s, size_t len, char *buf, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	SL_ASSERT(cap >= 8);
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < len && o + 6 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
