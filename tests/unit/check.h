/* Tiny check macros shared by the unit tests: a failed check prints
 * "FAIL file:line: what" and is counted; check_exit() turns the count into
 * the exit code (0 passed, 1 failed; 77 is a skip, see CHECK_SKIP). */
#ifndef SL_TEST_CHECK_H
#define SL_TEST_CHECK_H

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Atomic: the threaded tests check from several threads. */
static _Atomic unsigned check_failures;
/* Only the first failures are printed: a broken loop would flood stderr. */
#define CHECK_PRINT_MAX 40u

static inline bool check_report(const char *file, int line)
{
	unsigned n = atomic_fetch_add(&check_failures, 1);
	if (n < CHECK_PRINT_MAX)
		fprintf(stderr, "FAIL %s:%d: ", file, line);
	else if (n == CHECK_PRINT_MAX)
		fprintf(stderr, "(further failures not printed)\n");
	return n < CHECK_PRINT_MAX;
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond) && check_report(__FILE__, __LINE__))                                   \
			fprintf(stderr, "%s\n", #cond);                                            \
	} while (0)

/* CHECK with a printf-style explanation (values, the input that failed). */
#define CHECKF(cond, ...)                                                                          \
	do {                                                                                       \
		if (!(cond) && check_report(__FILE__, __LINE__)) {                                 \
			fprintf(stderr, "%s: ", #cond);                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#define CHECK_EQ_I(got, want)                                                                      \
	do {                                                                                       \
		long long got_ = (long long)(got), want_ = (long long)(want);                      \
		if (got_ != want_ && check_report(__FILE__, __LINE__))                             \
			fprintf(stderr, "%s == %lld, want %lld\n", #got, got_, want_);             \
	} while (0)

#define CHECK_EQ_U(got, want)                                                                      \
	do {                                                                                       \
		unsigned long long got_ = (unsigned long long)(got);                               \
		unsigned long long want_ = (unsigned long long)(want);                             \
		if (got_ != want_ && check_report(__FILE__, __LINE__))                             \
			fprintf(stderr, "%s == %llu, want %llu\n", #got, got_, want_);             \
	} while (0)

#define CHECK_STR(got, want)                                                                       \
	do {                                                                                       \
		const char *got_ = (got), *want_ = (want);                                         \
		if ((!got_ || strcmp(got_, want_) != 0) && check_report(__FILE__, __LINE__))       \
			fprintf(stderr, "%s == \"%s\", want \"%s\"\n", #got,                       \
				got_ ? got_ : "(null)", want_);                                    \
	} while (0)

/* A check the rest of the test cannot go on without. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			check_report(__FILE__, __LINE__);                                          \
			fprintf(stderr, "%s (fatal)\n", #cond);                                    \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

#define CHECK_SKIP(...)                                                                            \
	do {                                                                                       \
		printf("SKIP: ");                                                                  \
		printf(__VA_ARGS__);                                                               \
		putchar('\n');                                                                     \
		exit(77);                                                                          \
	} while (0)

static inline int check_exit(const char *name)
{
	unsigned n = atomic_load(&check_failures);
	if (n) {
		fprintf(stderr, "%s: %u check(s) failed\n", name, n);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

/* splitmix64: a small deterministic generator for reproducible tests. */
static inline uint64_t check_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Sanitizer builds run fewer iterations (they are 5-20x slower). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHECK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHECK_SANITIZED 1
#endif
#endif
#ifndef CHECK_SANITIZED
#define CHECK_SANITIZED 0
#endif

#endif
