/* Small things every sluice file uses: assertions, branch hints, clocks. */
#ifndef SL_COMMON_H
#define SL_COMMON_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define SL_CACHELINE 64
#define SL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SL_MAX(a, b) ((a) > (b) ? (a) : (b))

void sl_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn, cold));

/* Always on: cheap invariants. */
#define SL_ASSERT(x) \
	do { \
		if (SL_UNLIKELY(!(x))) \
			sl_assert_fail(#x, __FILE__, __LINE__); \
	} while (0)

/* Debug builds only: expensive invariants. */
#ifdef NDEBUG
#define SL_DASSERT(x) ((void)0)
#else
#define SL_DASSERT(x) SL_ASSERT(x)
#endif

static inline int64_t sl_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static inline int64_t sl_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

/* mkdir -p: path and any missing parents (0755). 0 or a negative errno. */
int sl_mkdir_p(const char *path);
/* fsync of a file or (dir) a directory by path. 0 or a negative errno. */
int sl_fsync_path(const char *path, bool dir);

#endif
