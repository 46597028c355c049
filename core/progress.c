/* Terminal progress line. */
#include "core/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

const char *sl_human_count(double n, char *buf, size_t cap)
{
	if (n >= 1e9)
		snprintf(buf, cap, "%.2fG", n / 1e9);
	else if (n >= 1e6)
		snprintf(buf, cap, "%.2fM", n / 1e6);
	else if (n >= 1e3)
		snprintf(buf, cap, "%.1fk", n / 1e3);
	else
		snprintf(buf, cap, "%.0f", n);
	return buf;
}

bool sl_progress_wanted(void)
{
	const char *ci = getenv("CI");
	return isatty(STDERR_FILENO) && !(ci && *ci && *ci != '0');
}

void sl_progress_init(struct sl_progress *p, bool enabled)
{
	p->enabled = enabled;
	p->last_ns = 0;
	p->last_in = 0;
	p->last_elapsed = 0;
	p->drawn = false;
}

void sl_progress_update(struct sl_progress *p, uint64_t records_in, uint64_t records_out,
			uint64_t done, uint64_t total, double elapsed_s)
{
	if (!p->enabled)
		return;
	int64_t now = sl_now_ns();
	if (now - p->last_ns < 250000000ll)
		return;
	double dt = elapsed_s - p->last_elapsed;
	double rate = dt > 0 ? (double)(records_in - p->last_in) / dt : 0;
	p->last_ns = now;
	p->last_in = records_in;
	p->last_elapsed = elapsed_s;
	char a[32], b[32], c[32], line[200];
	int n = snprintf(line, sizeof(line), "\r  %s in, %s out, %s/s", sl_human_count((double)records_in, a, sizeof(a)),
			 sl_human_count((double)records_out, b, sizeof(b)),
			 sl_human_count(rate, c, sizeof(c)));
	if (total > 0 && done <= total) {
		double frac = (double)done / (double)total;
		double eta = frac > 0.001 ? elapsed_s * (1 - frac) / frac : 0;
		n += snprintf(line + n, sizeof(line) - (size_t)n, ", %.1f%%, ETA %.0fs", 100 * frac,
			      eta);
	}
	n += snprintf(line + n, sizeof(line) - (size_t)n, ", %.1fs   ", elapsed_s);
	fwrite(line, 1, (size_t)n, stderr);
	p->drawn = true;
}

void sl_progress_done(struct sl_progress *p)
{
	if (p->enabled && p->drawn)
		fputs("\r\033[K", stderr);
}
