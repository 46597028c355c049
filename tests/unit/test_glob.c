/* Unit test of io/glob: a file, a directory (hidden files and
 * subdirectories skipped, sorted), glob patterns (*, ?, [..], {a,b}), no
 * match, sizes, and many files, in a fresh mkdtemp directory. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw */
#endif
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/limits.h"
#include "io/glob.h"
#include "tests/unit/check.h"

static char root[256];

/* Creates root/rel with size bytes. */
static void make_file(const char *rel, size_t size)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	char buf[256];
	memset(buf, 'q', sizeof(buf));
	for (size_t done = 0; done < size;) {
		size_t n = SL_MIN(sizeof(buf), size - done);
		REQUIRE(write(fd, buf, n) == (ssize_t)n);
		done += n;
	}
	REQUIRE(close(fd) == 0);
}

static void make_dir(const char *rel)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	REQUIRE(mkdir(path, 0755) == 0);
}

struct want {
	const char *rel; /* under root */
	uint64_t size;
};

/* Expands root/pattern and compares with want (in order), paths exactly. */
static void check_glob(int line, const char *pattern, const struct want *want, uint32_t n)
{
	char pat[512], path[512];
	snprintf(pat, sizeof(pat), "%s/%s", root, pattern);
	struct sl_filelist l;
	memset(&l, 0xab, sizeof(l));
	int rc = sl_glob(pat, &l);
	if (rc != 0 || l.n != n) {
		CHECKF(false, "line %d: sl_glob(\"%s\") = %d with %u files, want 0 with %u", line,
		       pattern, rc, rc == 0 ? l.n : 0, n);
		if (rc == 0)
			for (uint32_t i = 0; i < l.n && i < 20; i++)
				fprintf(stderr, "  got %s\n", l.path[i]);
		if (rc == 0)
			sl_filelist_free(&l);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, want[i].rel);
		CHECKF(strcmp(l.path[i], path) == 0 && l.size[i] == want[i].size,
		       "line %d: \"%s\" [%u] is %s (%llu bytes), want %s (%llu bytes)", line,
		       pattern, i, l.path[i], (unsigned long long)l.size[i], path,
		       (unsigned long long)want[i].size);
	}
	sl_filelist_free(&l);
	CHECK(l.n == 0 && l.path == NULL && l.size == NULL);
}
#define CHECK_GLOB(pattern, ...)                                                                   \
	do {                                                                                       \
		static const struct want w_[] = {__VA_ARGS__};                                     \
		check_glob(__LINE__, pattern, w_, SL_ARRAY_LEN(w_));                               \
	} while (0)
#define CHECK_GLOB_NONE(pattern) check_glob(__LINE__, pattern, NULL, 0)

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Many files created in a scrambled order come back sorted (as strcmp
 * orders them) with their sizes. */
static void test_many(void)
{
	enum { N = 700 };
	static char names[N][32];
	static char *sorted[N];
	make_dir("many");
	for (uint32_t i = 0; i < N; i++) {
		uint32_t k = (i * 389) % N; /* creation order differs from name order */
		snprintf(names[k], sizeof(names[k]), "many/f%u_%c.log", k * 7919 % 1000,
			 'a' + k % 26);
		make_file(names[k], k % 50);
		sorted[k] = names[k];
	}
	qsort(sorted, N, sizeof(sorted[0]), cmp_str);
	char pat[512];
	for (int mode = 0; mode < 2; mode++) {
		snprintf(pat, sizeof(pat), "%s/%s", root, mode ? "many/*.log" : "many");
		struct sl_filelist l;
		REQUIRE(sl_glob(pat, &l) == 0);
		CHECK_EQ_U(l.n, N);
		for (uint32_t i = 0; i < l.n && i < N; i++) {
			char want[512];
			snprintf(want, sizeof(want), "%s/%s", root, sorted[i]);
			uint32_t k = (uint32_t)((char(*)[32])sorted[i] - names);
			CHECKF(strcmp(l.path[i], want) == 0 && l.size[i] == k % 50,
			       "mode %d [%u]: %s (%llu), want %s (%u)", mode, i, l.path[i],
			       (unsigned long long)l.size[i], want, k % 50);
		}
		sl_filelist_free(&l);
	}
}

/* One file past SL_FILE_MAX_FILES: -E2BIG, as a directory and as a glob,
 * with nothing leaked (LSan). */
static void test_too_many(void)
{
	char path[512];
	make_dir("huge");
	for (uint32_t i = 0; i <= SL_FILE_MAX_FILES; i++) {
		snprintf(path, sizeof(path), "%s/huge/%u", root, i);
		int fd = open(path, O_WRONLY | O_CREAT, 0644);
		REQUIRE(fd >= 0);
		close(fd);
	}
	struct sl_filelist l;
	snprintf(path, sizeof(path), "%s/huge", root);
	CHECK_EQ_I(sl_glob(path, &l), -E2BIG);
	CHECK(l.n == 0 && l.path == NULL);
	snprintf(path, sizeof(path), "%s/huge/*", root);
	CHECK_EQ_I(sl_glob(path, &l), -E2BIG);
	CHECK(l.n == 0 && l.path == NULL);
	/* Exactly the limit is fine. */
	snprintf(path, sizeof(path), "%s/huge/0", root);
	REQUIRE(unlink(path) == 0);
	snprintf(path, sizeof(path), "%s/huge", root);
	CHECK_EQ_I(sl_glob(path, &l), 0);
	CHECK_EQ_U(l.n, SL_FILE_MAX_FILES);
	sl_filelist_free(&l);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(root, sizeof(root), "%s/sluice_test_glob_XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root))
		CHECK_SKIP("cannot create a temporary directory under %s", tmp ? tmp : "/tmp");

	/* Created out of order; sizes all different. */
	make_file("c.json", 123);
	make_file("a.csv", 10);
	make_file("b.csv", 0);
	make_file("ab2.txt", 2);
	make_file("abc.txt", 3);
	make_file("ab1.txt", 1);
	make_file("B.csv", 7);
	make_file(".hidden.csv", 5);
	make_file("x y.csv", 4);
	make_dir("sub");
	make_file("sub/d.csv", 44);
	make_file("sub/.e.csv", 6);
	make_dir("sub/deeper");
	make_file("sub/deeper/f.csv", 8);
	make_dir("dir.csv"); /* a directory that matches *.csv */
	make_dir("empty");
	char fifo[512];
	snprintf(fifo, sizeof(fifo), "%s/pipe.csv", root);
	bool have_fifo = mkfifo(fifo, 0644) == 0;

	/* A single file, as given. */
	CHECK_GLOB("c.json", {"c.json", 123});
	CHECK_GLOB("b.csv", {"b.csv", 0});
	CHECK_GLOB(".hidden.csv", {".hidden.csv", 5}); /* named explicitly: taken */
	CHECK_GLOB("x y.csv", {"x y.csv", 4});
	/* A directory: regular files only, no hidden ones, no recursion, sorted
	 * by byte ("B" < "a"). */
	CHECK_GLOB(".", {"./B.csv", 7}, {"./a.csv", 10}, {"./ab1.txt", 1}, {"./ab2.txt", 2},
		   {"./abc.txt", 3}, {"./b.csv", 0}, {"./c.json", 123}, {"./x y.csv", 4});
	CHECK_GLOB("sub", {"sub/d.csv", 44});
	CHECK_GLOB_NONE("empty");
	/* Globs. */
	CHECK_GLOB("*.csv", {"B.csv", 7}, {"a.csv", 10}, {"b.csv", 0}, {"x y.csv", 4});
	CHECK_GLOB("ab?.txt", {"ab1.txt", 1}, {"ab2.txt", 2}, {"abc.txt", 3});
	CHECK_GLOB("ab[12].txt", {"ab1.txt", 1}, {"ab2.txt", 2});
	CHECK_GLOB("ab[!12].txt", {"abc.txt", 3});
	CHECK_GLOB("[a-b].csv", {"a.csv", 10}, {"b.csv", 0});
	CHECK_GLOB("{c,a}.*", {"a.csv", 10}, {"c.json", 123});
	CHECK_GLOB("{ab1,abc}.txt", {"ab1.txt", 1}, {"abc.txt", 3});
	CHECK_GLOB("*/d.csv", {"sub/d.csv", 44});
	CHECK_GLOB("*/*.csv", {"sub/d.csv", 44});
	CHECK_GLOB("s*/*/*.csv", {"sub/deeper/f.csv", 8});
	CHECK_GLOB("*", {"B.csv", 7}, {"a.csv", 10}, {"ab1.txt", 1}, {"ab2.txt", 2}, {"abc.txt", 3},
		   {"b.csv", 0}, {"c.json", 123}, {"x y.csv", 4});
	/* No match: success with no files. */
	CHECK_GLOB_NONE("*.parquet");
	CHECK_GLOB_NONE("nope.csv");
	CHECK_GLOB_NONE("nodir/*.csv");
	CHECK_GLOB_NONE("ab[xyz].txt");
	CHECK_GLOB_NONE("dir.csv"); /* a directory with no files */
	if (have_fifo)
		CHECK_GLOB_NONE("pipe.csv"); /* not a regular file */
	else
		printf("note: mkfifo failed, FIFO case not tested\n");

	test_many();
	test_too_many();

	/* An unreadable directory: -EACCES (root reads anything: not tested). */
	if (geteuid() != 0) {
		char locked[512];
		snprintf(locked, sizeof(locked), "%s/locked", root);
		REQUIRE(mkdir(locked, 0) == 0);
		struct sl_filelist l;
		CHECK_EQ_I(sl_glob(locked, &l), -EACCES);
		chmod(locked, 0755);
	}

	if (nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "note: could not remove %s\n", root);
	return check_exit("test_glob");
}
