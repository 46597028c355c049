/* Unit test of the checkpoint building blocks: the manifest text format
 * (round trip, and rejection of every kind of damage with a "line N: why"
 * message), the snapshot writer and reader of state/snap.h, table snapshots
 * redistributed over 1, 2 and 3 workers by key group, and the listing of a
 * state directory (sl_ckpt_list, sl_ckpt_latest). */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/checkpoint.h"
#include "core/keygroup.h"
#include "core/limits.h"
#include "state/snap.h"
#include "state/table.h"
#include "tests/unit/check.h"


/* ---- manifest helpers --------------------------------------------------- */

#define TEXT_CAP (256u << 10)

static struct sl_manifest *manifest_new(void)
{
	struct sl_manifest *m = calloc(1, sizeof(*m));
	REQUIRE(m);
	return m;
}

static void fill_manifest(struct sl_manifest *m)
{
	memset(m, 0, sizeof(*m));
	m->id = 42;
	m->savepoint = true;
	m->finished = true;
	m->stop = true;
	snprintf(m->job, sizeof(m->job), "orders-v2");
	m->created_ms = 1700000000123;
	m->duration_ms = 57;
	m->workers = 3;
	m->max_parallelism = 128;
	snprintf(m->nonce, sizeof(m->nonce), "c0ffee-17");
	snprintf(m->ended, sizeof(m->ended), "src,map,sink_a");
	m->n_files = 3;
	const uint64_t sums[3] = {0, 0x0123456789abcdefull, UINT64_MAX};
	for (uint32_t i = 0; i < 3; i++) {
		snprintf(m->files[i].name, sizeof(m->files[i].name), "w%u.snap.zst", i);
		m->files[i].bytes = 1000u * (i + 1) + i;
		m->files[i].raw_bytes = i == 2 ? UINT64_MAX : 5000u * (i + 1);
		m->files[i].xxh64 = sums[i];
	}
}

static void check_manifest_eq(const struct sl_manifest *a, const struct sl_manifest *b,
			      const char *what)
{
	CHECKF(a->id == b->id, "%s", what);
	CHECKF(a->savepoint == b->savepoint, "%s", what);
	CHECKF(a->finished == b->finished, "%s", what);
	CHECKF(a->stop == b->stop, "%s", what);
	CHECKF(strcmp(a->job, b->job) == 0, "%s: job '%s' vs '%s'", what, a->job, b->job);
	CHECKF(a->created_ms == b->created_ms, "%s", what);
	CHECKF(a->duration_ms == b->duration_ms, "%s", what);
	CHECKF(a->workers == b->workers, "%s", what);
	CHECKF(a->max_parallelism == b->max_parallelism, "%s", what);
	CHECKF(strcmp(a->nonce, b->nonce) == 0, "%s: nonce '%s' vs '%s'", what, a->nonce, b->nonce);
	CHECKF(strcmp(a->ended, b->ended) == 0, "%s: ended '%s' vs '%s'", what, a->ended, b->ended);
	CHECKF(a->n_files == b->n_files, "%s: %u vs %u files", what, a->n_files, b->n_files);
	for (uint32_t i = 0; i < a->n_files && i < b->n_files; i++) {
		CHECKF(strcmp(a->files[i].name, b->files[i].name) == 0, "%s: file %u", what, i);
		CHECKF(a->files[i].bytes == b->files[i].bytes, "%s: file %u", what, i);
		CHECKF(a->files[i].raw_bytes == b->files[i].raw_bytes, "%s: file %u", what, i);
		CHECKF(a->files[i].xxh64 == b->files[i].xxh64, "%s: file %u", what, i);
	}
}

/* Parses exactly len bytes from a heap copy of that size (no NUL after it),
 * so reading one byte too far is an ASan report. */
static int parse_exact(const char *text, size_t len, struct sl_manifest *m, char *err, size_t cap)
{
	char *copy = malloc(len ? len : 1);
	REQUIRE(copy);
	if (len)
		memcpy(copy, text, len);
	int rc = sl_manifest_parse(copy, len, m, err, cap);
	free(copy);
	return rc;
}

/* Formats m, parses it back, checks every field, and formats again: the
 * same bytes. */
static void round_trip(const struct sl_manifest *m, const char *what)
{
	char *text = malloc(TEXT_CAP), *again = malloc(TEXT_CAP);
	struct sl_manifest *back = manifest_new();
	REQUIRE(text && again);
	int n = sl_manifest_format(m, text, TEXT_CAP);
	REQUIRE(n > 0);
	CHECKF((size_t)n == strlen(text), "%s", what);
	char err[256] = "";
	int rc = parse_exact(text, (size_t)n, back, err, sizeof(err));
	CHECKF(rc == 0, "%s: %s", what, err);
	if (rc == 0) {
		check_manifest_eq(m, back, what);
		int n2 = sl_manifest_format(back, again, TEXT_CAP);
		CHECKF(n2 == n && memcmp(text, again, (size_t)n) == 0, "%s: not the same text",
		       what);
	}
	free(text);
	free(again);
	free(back);
}

/* A manifest body from lines (each without '\n'); NULL lines are skipped.
 * seal() appends the end line with the checksum of everything before it. */
static size_t join(char *out, size_t cap, const char *const *lines, size_t n)
{
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		if (!lines[i])
			continue;
		int k = snprintf(out + len, cap - len, "%s\n", lines[i]);
		REQUIRE(k > 0 && (size_t)k < cap - len);
		len += (size_t)k;
	}
	return len;
}

static size_t seal(char *text, size_t len, size_t cap)
{
	uint64_t sum = XXH64(text, len, 0);
	int k = snprintf(text + len, cap - len, "end %016" PRIx64 "\n", sum);
	REQUIRE(k > 0 && (size_t)k < cap - len);
	return len + (size_t)k;
}

enum {
	L_MAGIC,
	L_ID,
	L_KIND,
	L_JOB,
	L_CREATED,
	L_DURATION,
	L_WORKERS,
	L_MAXP,
	L_FINISHED,
	L_STOP,
	L_NONCE,
	L_ENDED,
	L_FILE,
	N_BASE
};

static const char *const BASE[N_BASE] = {
    "sluice-checkpoint 1",
    "id 7",
    "kind checkpoint",
    "job j",
    "created_ms 1",
    "duration_ms 2",
    "workers 2",
    "max_parallelism 128",
    "finished 0",
    "stop 0",
    "nonce -",
    "ended -",
    "file w0.snap.zst 10 20 00000000000000ff",
};

/* BASE with line `at` replaced by `with` (NULL: dropped; at == N_BASE:
 * `with` appended), sealed. Parses it; returns the rc, err holds the message. */
static int parse_variant(int at, const char *with, char *err, size_t cap, struct sl_manifest *m)
{
	const char *lines[N_BASE + 1];
	memcpy(lines, BASE, sizeof(BASE));
	lines[N_BASE] = NULL;
	lines[at] = with;
	char text[4096];
	size_t len = join(text, sizeof(text), lines, N_BASE + 1);
	len = seal(text, len, sizeof(text));
	err[0] = '\0';
	return parse_exact(text, len, m, err, cap);
}

/* Sealed variant must be rejected with a message "line N: ...want...". */
static void reject_variant(int at, const char *with, const char *want)
{
	struct sl_manifest *m = manifest_new();
	char err[256];
	int rc = parse_variant(at, with, err, sizeof(err), m);
	CHECKF(rc == -EINVAL, "'%s' at line %d: accepted", with ? with : "(dropped)", at + 1);
	if (rc == -EINVAL) {
		CHECKF(strncmp(err, "line ", 5) == 0 && strstr(err, want),
		       "'%s': message '%s', want '%s'", with ? with : "(dropped)", err, want);
	}
	free(m);
}

static void accept_variant(int at, const char *with, struct sl_manifest *m)
{
	char err[256];
	int rc = parse_variant(at, with, err, sizeof(err), m);
	CHECKF(rc == 0, "'%s' rejected: %s", with ? with : "(dropped)", err);
}

/* Rejects text (raw, not sealed) with a message containing want. */
static void reject_text(const char *text, size_t len, const char *want)
{
	struct sl_manifest *m = manifest_new();
	char err[256] = "";
	int rc = parse_exact(text, len, m, err, sizeof(err));
	CHECKF(rc == -EINVAL, "accepted: %.*s", (int)len, text);
	if (rc == -EINVAL)
		CHECKF(strncmp(err, "line ", 5) == 0 && strstr(err, want),
		       "message '%s', want '%s'", err, want);
	free(m);
}

/* ---- manifest tests ----------------------------------------------------- */

static void test_manifest_round_trip(void)
{
	struct sl_manifest *m = manifest_new();

	fill_manifest(m);
	round_trip(m, "savepoint, finished, stop, 3 files");

	/* The other kind, no flags, empty lists: '-' on disk, empty in memory. */
	fill_manifest(m);
	m->savepoint = false;
	m->finished = false;
	m->stop = false;
	m->nonce[0] = '\0';
	m->ended[0] = '\0';
	round_trip(m, "checkpoint, no flags, empty lists");
	{
		char text[4096];
		int n = sl_manifest_format(m, text, sizeof(text));
		REQUIRE(n > 0);
		CHECK(strstr(text, "\nnonce -\n") != NULL);
		CHECK(strstr(text, "\nended -\n") != NULL);
		CHECK(strstr(text, "\nkind checkpoint\n") != NULL);
		CHECK(strncmp(text, "sluice-checkpoint 1\n", 20) == 0);
		/* The end line: XXH64 (seed 0) of all before it, 16 lowercase hex digits. */
		const char *end = strstr(text, "\nend ");
		REQUIRE(end);
		char want[64];
		snprintf(want, sizeof(want), "\nend %016" PRIx64 "\n",
			 XXH64(text, (size_t)(end + 1 - text), 0));
		CHECK_STR(end, want);
	}
	/* Only one flag at a time: each lands in its own field. */
	for (int f = 0; f < 3; f++) {
		fill_manifest(m);
		m->savepoint = f == 0;
		m->finished = f == 1;
		m->stop = f == 2;
		round_trip(m, f == 0 ? "savepoint only" : f == 1 ? "finished only" : "stop only");
	}

	/* No files; extremes of every number. */
	fill_manifest(m);
	m->n_files = 0;
	m->id = UINT64_MAX;
	m->created_ms = INT64_MAX;
	m->duration_ms = 0;
	m->workers = SL_MAX_WORKERS;
	m->max_parallelism = SL_MAX_PARALLELISM_MAX;
	round_trip(m, "no files, largest numbers");
	m->workers = 1;
	m->max_parallelism = 1;
	m->id = 0;
	m->created_ms = 0;
	round_trip(m, "smallest numbers");

	/* Longest names the fields hold (63 bytes + NUL, 1023 for ended). */
	fill_manifest(m);
	memset(m->job, 'j', sizeof(m->job) - 1);
	m->job[sizeof(m->job) - 1] = '\0';
	memset(m->nonce, 'n', sizeof(m->nonce) - 1);
	m->nonce[sizeof(m->nonce) - 1] = '\0';
	memset(m->ended, 'e', sizeof(m->ended) - 1);
	m->ended[sizeof(m->ended) - 1] = '\0';
	memset(m->files[0].name, 'f', sizeof(m->files[0].name) - 1);
	m->files[0].name[sizeof(m->files[0].name) - 1] = '\0';
	round_trip(m, "longest strings");

	/* As many files as a manifest may hold. */
	fill_manifest(m);
	m->n_files = SL_CKPT_MAX_FILES;
	uint64_t seed = 1;
	for (uint32_t i = 0; i < m->n_files; i++) {
		snprintf(m->files[i].name, sizeof(m->files[i].name), "w%u.snap.zst", i);
		m->files[i].bytes = check_rand(&seed);
		m->files[i].raw_bytes = check_rand(&seed) >> (i % 64);
		m->files[i].xxh64 = check_rand(&seed);
	}
	round_trip(m, "SL_CKPT_MAX_FILES files");
	/* One more file line than that is rejected. */
	{
		char *text = malloc(TEXT_CAP);
		REQUIRE(text);
		int n = sl_manifest_format(m, text, TEXT_CAP);
		REQUIRE(n > 0);
		char *end = strstr(text, "\nend ") + 1;
		size_t len = (size_t)(end - text);
		len += (size_t)snprintf(text + len, TEXT_CAP - len, "file extra 1 1 1\n");
		len = seal(text, len, TEXT_CAP);
		reject_text(text, len, "more than 1024 files");
		free(text);
	}

	/* Too small a buffer: -ENOSPC at every size short of the text, never
	 * a write past cap (ASan); text length + 1 is enough. */
	fill_manifest(m);
	{
		char full[4096];
		int n = sl_manifest_format(m, full, sizeof(full));
		REQUIRE(n > 0);
		for (size_t cap = 0; cap <= (size_t)n; cap++) {
			char *buf = malloc(cap ? cap : 1);
			REQUIRE(buf);
			int rc = sl_manifest_format(m, buf, cap);
			CHECKF(rc == -ENOSPC, "cap %zu: %d", cap, rc);
			free(buf);
		}
		char *buf = malloc((size_t)n + 1);
		REQUIRE(buf);
		CHECK_EQ_I(sl_manifest_format(m, buf, (size_t)n + 1), n);
		CHECK(memcmp(buf, full, (size_t)n + 1) == 0);
		free(buf);
	}
	free(m);
}

static void test_manifest_damage(void)
{
	struct sl_manifest *m = manifest_new(), *back = manifest_new();
	fill_manifest(m);
	char text[4096];
	int n = sl_manifest_format(m, text, sizeof(text));
	REQUIRE(n > 0);
	size_t len = (size_t)n;
	char err[256];

	/* A flipped byte anywhere, each of several ways: rejected, always with
	 * a "line N:" message (mostly the checksum on the end line). */
	static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff};
	unsigned checksum_msgs = 0, total = 0;
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < SL_ARRAY_LEN(masks); k++) {
			char copy[4096];
			memcpy(copy, text, len);
			copy[i] ^= (char)masks[k];
			err[0] = '\0';
			int rc = parse_exact(copy, len, back, err, sizeof(err));
			total++;
			CHECKF(rc == -EINVAL, "byte %zu ^ 0x%02x accepted", i, masks[k]);
			CHECKF(strncmp(err, "line ", 5) == 0, "byte %zu ^ 0x%02x: message '%s'", i,
			       masks[k], err);
			checksum_msgs += strstr(err, "checksum mismatch") != NULL;
		}
	}
	/* Most flips break the syntax of their line; the others are caught by
	 * the checksum. */
	CHECKF(checksum_msgs > 0, "%u of %u", checksum_msgs, total);
	/* Every digit (past line 1) changed to a smaller one (1 for 0: no
	 * overflow, no range error) keeps the syntax: only the checksum can
	 * tell, and it does. */
	{
		/* (No UINT64_MAX in it: 0 -> 1 would overflow there.) */
		m->files[2].raw_bytes = 1234567890;
		char digits[4096];
		int dn = sl_manifest_format(m, digits, sizeof(digits));
		REQUIRE(dn > 0);
		fill_manifest(m);
		for (size_t i = strlen("sluice-checkpoint 1\n"); i < (size_t)dn; i++) {
			if (digits[i] < '0' || digits[i] > '9')
				continue;
			char copy[4096];
			memcpy(copy, digits, (size_t)dn);
			copy[i] = digits[i] == '0' ? '1' : (char)(digits[i] - 1);
			err[0] = '\0';
			int rc = parse_exact(copy, (size_t)dn, back, err, sizeof(err));
			CHECKF(rc == -EINVAL && strstr(err, "checksum mismatch (manifest damaged)"),
			       "digit at %zu: %d '%s'", i, rc, err);
		}
	}
	/* A changed value in the body is named as damage. */
	{
		char copy[4096];
		memcpy(copy, text, len);
		char *id = strstr(copy, "\nid 42\n");
		REQUIRE(id);
		id[5] = '3';
		reject_text(copy, len, "checksum mismatch (manifest damaged)");
	}

	/* Cut short at every length: rejected, never a crash or an over-read. */
	for (size_t cut = 0; cut < len; cut++) {
		err[0] = '\0';
		int rc = parse_exact(text, cut, back, err, sizeof(err));
		CHECKF(rc == -EINVAL, "prefix of %zu bytes accepted", cut);
		CHECKF(strncmp(err, "line ", 5) == 0, "prefix %zu: '%s'", cut, err);
	}
	reject_text(text, 0, "no end line");
	reject_text(text, len - 1, "no newline at the end");
	/* Cut at a line boundary before the end line. */
	reject_text(text, (size_t)(strstr(text, "\nend ") + 1 - text), "no end line");

	/* Data after the end line. */
	{
		char copy[4200];
		memcpy(copy, text, len);
		memcpy(copy + len, "x\n", 2);
		reject_text(copy, len + 2, "data after the end line");
		copy[len] = '\n';
		reject_text(copy, len + 1, "data after the end line");
		memcpy(copy + len, text + len - 21, 21); /* the end line twice */
		reject_text(copy, len + 21, "data after the end line");
		copy[len] = 'x'; /* not even a full line */
		reject_text(copy, len + 1, "data after the end line");
	}
	free(m);
	free(back);
}

static void test_manifest_reject(void)
{
	struct sl_manifest *m = manifest_new();

	/* The sealed base is valid: the variants below differ in one line. */
	accept_variant(N_BASE, NULL, m);
	CHECK_EQ_U(m->id, 7);
	CHECK_EQ_U(m->n_files, 1);
	CHECK_STR(m->files[0].name, "w0.snap.zst");
	CHECK_EQ_U(m->files[0].xxh64, 0xff);
	CHECK(m->nonce[0] == '\0' && m->ended[0] == '\0');

	/* Wrong first line. */
	static const char *const first[] = {
	    "sluice-checkpoint 2",   "sluice-checkpoint 10",
	    "sluice-checkpoint  1",  "sluice-checkpoint 1 ",
	    "sluice-checkpoint",     "Sluice-checkpoint 1",
	    "sluice-checkpoint\t1",  "id 7",
	    "sluice-checkpoint 1\r",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(first); i++)
		reject_variant(L_MAGIC, first[i],
			       strchr(first[i], ' ') ? "line 1: not a sluice checkpoint manifest"
						     : "line 1: expected 'key value'");
	/* Not a manifest at all. */
	reject_text("{\"id\": 7}\n", 10, "line 1:");

	/* Unknown keys (and known keys spelled differently). */
	reject_variant(N_BASE, "colour red", "line 14: unknown key 'colour'");
	reject_variant(L_ID, "ID 7", "line 2: unknown key 'ID'");
	reject_variant(L_ID, " id 7", "line 2: unknown key ''");
	reject_variant(L_ID, "id", "line 2: expected 'key value'");
	reject_variant(L_ID, "", "line 2: expected 'key value'");
	{
		char longkey[200];
		memset(longkey, 'k', 120);
		memcpy(longkey + 120, " 1", 3);
		/* The message quotes at most 40 bytes of it. */
		char want[64];
		snprintf(want, sizeof(want), "unknown key '%.40s'", longkey);
		reject_variant(L_ID, longkey, want);
	}

	/* Every required key missing in turn (the file lines are optional). */
	for (int at = L_ID; at <= L_ENDED; at++)
		reject_variant(at, NULL, "missing before the end");
	accept_variant(L_FILE, NULL, m);
	CHECK_EQ_U(m->n_files, 0);

	/* File names: no '/', no leading '.', a token of 1..63 printable bytes. */
	static const char *const bad_files[] = {
	    "file a/b 1 1 1",
	    "file /abs 1 1 1",
	    "file ../w0 1 1 1",
	    "file . 1 1 1",
	    "file .. 1 1 1",
	    "file .hidden 1 1 1",
	    "file w0/ 1 1 1",
	    "file  1 1 1",
	    "file w0 1 1",
	    "file w0 1 1 1 1",
	    "file w0 1  1 1",
	    "file w0 1 1 1  ",
	    "file w0 -1 1 1",
	    "file w0 1 x 1",
	    "file w0 1 1 FF",
	    "file w0 1 1 0x1",
	    "file w\x01 1 1 1",
	    "file w\x7f 1 1 1",
	    "file w\xc3\xa9 1 1 1",
	    "file",
	    "file ",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_files); i++)
		reject_variant(L_FILE, bad_files[i],
			       !strcmp(bad_files[i], "file")
				   ? "expected 'key value'"
				   : "expected 'file NAME BYTES RAW_BYTES XXH64'");
	{
		char name[128];
		snprintf(name, sizeof(name), "file %.*s 1 1 1", 64,
			 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
		reject_variant(L_FILE, name, "expected 'file NAME"); /* 64 bytes: too long */
		snprintf(name, sizeof(name), "file %.*s 1 1 1", 63,
			 "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
		accept_variant(L_FILE, name, m);
		CHECK_EQ_U(strlen(m->files[0].name), 63);
		char err[256];
		int rc = parse_variant(L_FILE, "file w0 1 1 1 ", err, sizeof(err), m);
		CHECKF(rc == -EINVAL, "a file line with a trailing space is accepted");
		accept_variant(L_FILE, "file w.0 1 1 1", m); /* a dot inside is fine */
		CHECK_STR(m->files[0].name, "w.0");
	}

	/* Numbers: decimal digits only, no sign or space, no overflow. */
	accept_variant(L_ID, "id 18446744073709551615", m);
	CHECK_EQ_U(m->id, UINT64_MAX);
	static const char *const bad_ids[] = {
	    "id 18446744073709551616",
	    "id 18446744073709551620",
	    "id 99999999999999999999",
	    "id 184467440737095516150",
	    "id 000000000000000000007",
	    "id -1",
	    "id +1",
	    "id 1 ",
	    "id  1",
	    "id 0x10",
	    "id 1e3",
	    "id ",
	    "id 7\r",
	    "id ７",
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(bad_ids); i++)
		reject_variant(L_ID, bad_ids[i], "line 2: id: not a number");
	reject_variant(L_FILE, "file w0 18446744073709551616 1 1", "expected 'file NAME");
	reject_variant(L_FILE, "file w0 1 18446744073709551616 1", "expected 'file NAME");
	reject_variant(L_FILE, "file w0 1 1 10000000000000000", "expected 'file NAME");
	accept_variant(L_FILE, "file w0 18446744073709551615 0 ffffffffffffffff", m);
	CHECK_EQ_U(m->files[0].bytes, UINT64_MAX);
	CHECK_EQ_U(m->files[0].xxh64, UINT64_MAX);
	reject_variant(L_CREATED, "created_ms 18446744073709551616", "created_ms: not a number");
	reject_variant(L_CREATED, "created_ms -5", "created_ms: not a number");
	reject_variant(L_DURATION, "duration_ms 99999999999999999999", "duration_ms: not a number");
	reject_variant(L_WORKERS, "workers 4294967297", "workers out of range");
	reject_variant(L_WORKERS, "workers 0", "workers out of range");
	reject_variant(L_WORKERS, "workers 257", "workers out of range");
	accept_variant(L_WORKERS, "workers 256", m);
	reject_variant(L_MAXP, "max_parallelism 0", "max_parallelism out of range");
	reject_variant(L_MAXP, "max_parallelism 32769", "max_parallelism out of range");
	reject_variant(L_MAXP, "max_parallelism 4294967424", "max_parallelism out of range");
	accept_variant(L_MAXP, "max_parallelism 32768", m);
	/* The signed fields hold at most INT64_MAX. */
	accept_variant(L_CREATED, "created_ms 9223372036854775807", m);
	CHECK(m->created_ms == INT64_MAX);
	{
		char err[256];
		int rc =
		    parse_variant(L_CREATED, "created_ms 9223372036854775808", err, sizeof(err), m);
		CHECKF(rc == -EINVAL, "created_ms 2^63 accepted as %" PRId64, m->created_ms);
		rc = parse_variant(L_DURATION, "duration_ms 18446744073709551615", err, sizeof(err),
				   m);
		CHECKF(rc == -EINVAL, "duration_ms 2^64-1 accepted as %" PRId64, m->duration_ms);
		/* The flags are 0 or 1 on disk. */
		rc = parse_variant(L_FINISHED, "finished 2", err, sizeof(err), m);
		CHECKF(rc == -EINVAL, "finished 2 accepted (as %d)", m->finished);
	}
	{
		/* A key given twice: ambiguous, should be rejected. Today the
		 * later line wins, except that "kind checkpoint" after "kind
		 * savepoint" leaves it a savepoint. */
		char err[256];
		int rc = parse_variant(N_BASE, "id 8", err, sizeof(err), m);
		CHECKF(rc == -EINVAL, "a second id line accepted (id %" PRIu64 ")", m->id);
		const char *lines[N_BASE + 1];
		memcpy(lines, BASE, sizeof(BASE));
		lines[L_KIND] = "kind savepoint";
		lines[N_BASE] = "kind checkpoint";
		char text[4096];
		size_t len = seal(text, join(text, sizeof(text), lines, N_BASE + 1), sizeof(text));
		rc = parse_exact(text, len, m, err, sizeof(err));
		CHECKF(rc == -EINVAL, "kind savepoint, then kind checkpoint: accepted as %s",
			  m->savepoint ? "a savepoint" : "a checkpoint");
	}
	reject_variant(L_FINISHED, "finished yes", "finished: not a number");
	reject_variant(L_STOP, "stop -", "stop: not a number");

	/* Strings: one token of printable bytes that fits. */
	reject_variant(L_KIND, "kind Savepoint", "kind: checkpoint or savepoint");
	reject_variant(L_KIND, "kind savepoints", "kind: checkpoint or savepoint");
	reject_variant(L_KIND, "kind ", "kind: checkpoint or savepoint");
	reject_variant(L_JOB, "job ", "bad job name");
	reject_variant(L_JOB, "job a b", "bad job name");
	reject_variant(L_JOB, "job a\tb", "bad job name");
	reject_variant(L_NONCE, "nonce ", "bad nonce");
	reject_variant(L_ENDED, "ended a, b", "bad ended list");
	{
		char big[1100];
		memcpy(big, "job ", 4);
		memset(big + 4, 'j', 64);
		big[68] = '\0';
		reject_variant(L_JOB, big, "bad job name");
		big[67] = '\0';
		accept_variant(L_JOB, big, m);
		CHECK_EQ_U(strlen(m->job), 63);
		memcpy(big, "ended ", 6);
		memset(big + 6, 'e', 1024);
		big[1030] = '\0';
		reject_variant(L_ENDED, big, "bad ended list");
		big[1029] = '\0';
		accept_variant(L_ENDED, big, m);
		CHECK_EQ_U(strlen(m->ended), 1023);
	}
	accept_variant(L_NONCE, "nonce --", m);
	CHECK_STR(m->nonce, "--");

	/* The end line itself. */
	{
		char text[4096];
		const char *lines[N_BASE];
		memcpy(lines, BASE, sizeof(BASE));
		size_t len = join(text, sizeof(text), lines, N_BASE);
		uint64_t sum = XXH64(text, len, 0);
		char tail[64];
		snprintf(tail, sizeof(tail), "end %016" PRIX64 "\n", sum); /* upper case */
		memcpy(text + len, tail, strlen(tail) + 1);
		if (strcmp(tail + 4, "0000000000000000\n") != 0 && strpbrk(tail + 4, "ABCDEF"))
			reject_text(text, strlen(text), "checksum mismatch");
		snprintf(text + len, sizeof(text) - len, "end %" PRIx64 "0\n", sum);
		reject_text(text, strlen(text), "checksum mismatch"); /* 17 digits */
		snprintf(text + len, sizeof(text) - len, "end  %016" PRIx64 "\n", sum);
		reject_text(text, strlen(text), "checksum mismatch");
		snprintf(text + len, sizeof(text) - len, "end %016" PRIx64 "\r\n", sum);
		reject_text(text, strlen(text), "checksum mismatch");
		snprintf(text + len, sizeof(text) - len, "end %016" PRIx64, sum);
		reject_text(text, strlen(text), "no newline at the end");
		snprintf(text + len, sizeof(text) - len, "end %016" PRIx64 "\n", sum);
		struct sl_manifest *ok = manifest_new();
		char err[256];
		CHECKF(parse_exact(text, strlen(text), ok, err, sizeof(err)) == 0, "%s", err);
		free(ok);
		/* An end line right after the first line: the keys are missing. */
		snprintf(text, sizeof(text), "sluice-checkpoint 1\n");
		seal(text, strlen(text), sizeof(text));
		reject_text(text, strlen(text), "line 2: key 'id' missing before the end");
	}
	/* CRLF line ends (a manifest that went through a text-mode copy). */
	{
		char text[4096], crlf[8192];
		const char *lines[N_BASE];
		memcpy(lines, BASE, sizeof(BASE));
		size_t len = seal(text, join(text, sizeof(text), lines, N_BASE), sizeof(text));
		size_t j = 0;
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '\n')
				crlf[j++] = '\r';
			crlf[j++] = text[i];
		}
		reject_text(crlf, j, "line 1: not a sluice checkpoint manifest");
	}

	/* Small and zero-size error buffers are never overrun. */
	for (size_t cap = 0; cap < 12; cap++) {
		char *err = malloc(cap ? cap : 1);
		REQUIRE(err);
		CHECK(parse_variant(L_ID, "id x", err, cap, m) == -EINVAL);
		if (cap)
			CHECK(strlen(err) < cap);
		free(err);
	}
	free(m);
}

/* ---- snap writer and reader --------------------------------------------- */

static void test_snap(void)
{
	struct sl_snapbuf b;
	sl_snap_init(&b);
	CHECK(b.p == NULL && b.len == 0 && b.err == 0);
	sl_snap_u8(&b, 0xab);
	sl_snap_u32(&b, 0x11223344u);
	sl_snap_u64(&b, 0x0102030405060708ull);
	sl_snap_str(&b, "hello");
	sl_snap_str(&b, "");
	sl_snap_put(&b, "xyz", 3);
	sl_snap_u64(&b, UINT64_MAX);
	REQUIRE(b.err == 0);
	CHECK_EQ_U(b.len, 1 + 4 + 8 + 4 + 5 + 4 + 3 + 8);
	/* Little-endian on disk. */
	static const uint8_t want[] = {0xab, 0x44, 0x33, 0x22, 0x11, 8, 7,   6,	  5,   4,
				       3,    2,	   1,	 5,    0,    0, 0,   'h', 'e', 'l',
				       'l',  'o',  0,	 0,    0,    0, 'x', 'y', 'z'};
	CHECK(memcmp(b.p, want, sizeof(want)) == 0);

	struct sl_snapread r;
	sl_snapread_init(&r, b.p, b.len);
	CHECK_EQ_U(sl_snapread_u8(&r), 0xab);
	CHECK_EQ_U(sl_snapread_u32(&r), 0x11223344u);
	CHECK_EQ_U(sl_snapread_u64(&r), 0x0102030405060708ull);
	char s[16];
	sl_snapread_str(&r, s, sizeof(s));
	CHECK_STR(s, "hello");
	memset(s, 'z', sizeof(s));
	sl_snapread_str(&r, s, 1); /* "" fits a 1-byte buffer */
	CHECK_STR(s, "");
	const char *q = sl_snapread_get(&r, 3);
	CHECK(q && memcmp(q, "xyz", 3) == 0);
	CHECK(!sl_snapread_done(&r));
	CHECK_EQ_U(sl_snapread_u64(&r), UINT64_MAX);
	CHECK(!r.bad);
	CHECK(sl_snapread_done(&r));
	/* Zero bytes at the end are there. */
	CHECK(sl_snapread_get(&r, 0) != NULL && !r.bad);

	/* Past the end: bad, zeros, and it stays so. */
	CHECK_EQ_U(sl_snapread_u8(&r), 0);
	CHECK(r.bad && !sl_snapread_done(&r));
	CHECK_EQ_U(sl_snapread_u32(&r), 0);
	CHECK_EQ_U(sl_snapread_u64(&r), 0);
	CHECK(sl_snapread_get(&r, 1) == NULL);
	strcpy(s, "junk");
	sl_snapread_str(&r, s, sizeof(s));
	CHECK_STR(s, "");
	CHECK(r.p == r.end);

	/* A short read in the middle: zeros, and later reads do not resume. */
	sl_snapread_init(&r, b.p, 3);
	CHECK_EQ_U(sl_snapread_u8(&r), 0xab);
	CHECK_EQ_U(sl_snapread_u32(&r), 0); /* only 2 bytes left */
	CHECK(r.bad);
	CHECK_EQ_U(sl_snapread_u8(&r), 0);
	sl_snapread_init(&r, b.p + 1, 7);
	CHECK_EQ_U(sl_snapread_u64(&r), 0);
	CHECK(r.bad);

	/* A string larger than the buffer: bad, empty, nothing written past cap. */
	for (size_t cap = 1; cap <= 6; cap++) {
		char *buf = malloc(cap);
		REQUIRE(buf);
		memset(buf, 'z', cap);
		sl_snapread_init(&r, b.p + 13, b.len - 13); /* at "hello" */
		sl_snapread_str(&r, buf, cap);
		if (cap <= 5) {
			CHECKF(r.bad && buf[0] == '\0', "cap %zu", cap);
		} else {
			CHECKF(!r.bad && strcmp(buf, "hello") == 0, "cap %zu", cap);
		}
		free(buf);
	}
	/* cap 0: nothing may be written (a 2-byte buffer shows whether it is). */
	{
		char two[2] = {'z', 'z'};
		sl_snapread_init(&r, b.p + 13, b.len - 13);
		sl_snapread_str(&r, two, 0);
		CHECK(r.bad);
		CHECKF(two[0] == 'z', "sl_snapread_str(cap 0) writes buf[0]");
	}
	/* A length larger than what is left. */
	{
		uint8_t raw[8] = {5, 0, 0, 0, 'a', 'b', 'c', 'd'};
		sl_snapread_init(&r, raw, sizeof(raw));
		strcpy(s, "junk");
		sl_snapread_str(&r, s, sizeof(s));
		CHECK(r.bad);
		CHECK_STR(s, "");
		uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
		sl_snapread_init(&r, huge, sizeof(huge));
		sl_snapread_str(&r, s, sizeof(s));
		CHECK(r.bad);
	}
	/* Empty input. */
	sl_snapread_init(&r, b.p, 0);
	CHECK(sl_snapread_done(&r));
	CHECK_EQ_U(sl_snapread_u32(&r), 0);
	CHECK(r.bad);
	sl_snap_free(&b);
	CHECK(b.p == NULL && b.len == 0);

	/* Growth keeps every byte. */
	sl_snap_init(&b);
	for (uint32_t i = 0; i < 300000; i++)
		sl_snap_u32(&b, i * 2654435761u);
	REQUIRE(b.err == 0 && b.len == 1200000);
	sl_snapread_init(&r, b.p, b.len);
	uint32_t wrong = 0;
	for (uint32_t i = 0; i < 300000; i++)
		wrong += sl_snapread_u32(&r) != i * 2654435761u;
	CHECK_EQ_U(wrong, 0);
	CHECK(sl_snapread_done(&r));
	/* An impossible reservation sticks in err; later puts do nothing. */
	size_t len = b.len;
	CHECK(!sl_snap_reserve(&b, SIZE_MAX));
	CHECK_EQ_I(b.err, -ENOMEM);
	sl_snap_u64(&b, 1);
	CHECK_EQ_U(b.len, len);
	CHECK(!sl_snap_reserve(&b, 1));
	sl_snap_free(&b);
	CHECK(b.err == 0);
}

/* ---- table snapshot and restore ----------------------------------------- */

#define MAXP 128u

struct tkey {
	uint8_t k[48];
	uint32_t len;
	uint64_t hash;
	bool live;
};

/* Keys of 0..47 bytes: text keys and binary ones (with NULs). */
static void make_key(struct tkey *k, uint32_t i)
{
	if (i % 3 == 0) {
		k->len = (uint32_t)snprintf((char *)k->k, sizeof(k->k), "customer-%u", i);
	} else {
		uint64_t s = i;
		k->len = i % 48;
		for (uint32_t b = 0; b < k->len; b++)
			k->k[b] = (uint8_t)(check_rand(&s) & (i % 2 ? 0xff : 0x03));
		/* Make it unique whatever the random bytes: the index at the end. */
		if (k->len >= 4)
			memcpy(k->k + k->len - 4, &i, 4);
		else
			k->len = 0; /* the tiny ones all collapse into one empty key */
	}
	k->hash = sl_key_hash(k->k, k->len);
	k->live = false;
}

static void value_of(const struct tkey *k, uint8_t *v, uint32_t vb)
{
	uint64_t s = k->hash ^ k->len;
	for (uint32_t b = 0; b < vb; b++)
		v[b] = (uint8_t)check_rand(&s);
}

/* Restores blob into k fresh tables (worker w of k for each w) and checks
 * that their union is exactly the live keys of keys[], each on its owner. */
static void check_redistribution(const struct sl_snapbuf *blob, struct tkey *keys, uint32_t n,
				 uint32_t vb, uint32_t k, uint64_t live)
{
	struct sl_table *t[3];
	struct sl_blob bl = {blob->p, blob->len};
	uint64_t total = 0;
	for (uint32_t w = 0; w < k; w++) {
		t[w] = sl_table_new(vb);
		REQUIRE(t[w]);
		int rc = sl_table_restore(t[w], &bl, MAXP, k, w);
		CHECKF(rc == 0, "vb %u, worker %u of %u: %d", vb, w, k, rc);
		total += sl_table_count(t[w]);
		/* 128 key groups over k workers: each gets about its share. */
		CHECKF(sl_table_count(t[w]) * 2 * k > live,
		       "vb %u, worker %u of %u: %" PRIu64 " of %" PRIu64 " keys", vb, w, k,
		       sl_table_count(t[w]), live);
		/* Everything restored into w is owned by w. */
		struct sl_table_iter it = {0};
		const void *key;
		uint32_t len;
		void *value;
		uint64_t hash;
		uint32_t foreign = 0;
		while (sl_table_next_h(t[w], &it, &key, &len, &value, &hash))
			foreign += sl_keygroup_worker(sl_keygroup_of(hash, MAXP), MAXP, k) != w ||
				   hash != sl_key_hash(key, len);
		CHECKF(foreign == 0, "vb %u, worker %u of %u: %u foreign keys", vb, w, k, foreign);
	}
	CHECKF(total == live, "vb %u, %u workers: %" PRIu64 " keys restored, want %" PRIu64, vb, k,
	       total, live);
	uint8_t want[64];
	uint32_t missing = 0, misplaced = 0, wrong_value = 0, resurrected = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct tkey *key = &keys[i];
		uint32_t owner = sl_keygroup_worker(sl_keygroup_of(key->hash, MAXP), MAXP, k);
		CHECK(sl_table_owns(key->hash, MAXP, k, owner));
		for (uint32_t w = 0; w < k; w++) {
			void *v = sl_table_find(t[w], key->k, key->len, key->hash);
			if (!key->live) {
				resurrected += v != NULL;
				continue;
			}
			if (w != owner) {
				misplaced += v != NULL;
				continue;
			}
			if (!v) {
				missing++;
				continue;
			}
			value_of(key, want, vb);
			wrong_value += memcmp(v, want, vb) != 0;
		}
	}
	CHECKF(missing == 0 && misplaced == 0 && wrong_value == 0 && resurrected == 0,
	       "vb %u, %u workers: %u missing, %u misplaced, %u wrong values, %u deleted keys back",
	       vb, k, missing, misplaced, wrong_value, resurrected);
	for (uint32_t w = 0; w < k; w++)
		sl_table_free(t[w]);
}

/* Fills a table with n keys, deletes some, and returns the live count. */
static uint64_t fill_table(struct sl_table *t, struct tkey *keys, uint32_t n, uint32_t vb,
			   uint32_t delete_every)
{
	uint64_t live = 0;
	uint8_t v[64];
	for (uint32_t i = 0; i < n; i++) {
		make_key(&keys[i], i);
		bool created;
		uint8_t *p = sl_table_upsert(t, keys[i].k, keys[i].len, keys[i].hash, &created);
		REQUIRE(p);
		value_of(&keys[i], v, vb);
		memcpy(p, v, vb);
		/* Duplicate keys (the collapsed empty key) are one entry. */
		if (created)
			live++;
		keys[i].live = true;
	}
	for (uint32_t i = 0; delete_every && i < n; i += delete_every) {
		if (!keys[i].live)
			continue;
		sl_table_delete(t, keys[i].k, keys[i].len, keys[i].hash);
		live--;
		/* Every other copy of the same key is gone too. */
		for (uint32_t j = 0; j < n; j++)
			if (keys[j].live && keys[j].len == keys[i].len &&
			    memcmp(keys[j].k, keys[i].k, keys[i].len) == 0)
				keys[j].live = false;
	}
	CHECK_EQ_U(sl_table_count(t), live);
	return live;
}

/*
 * The bytes before the first record: 4 (the value size; records run to the
 * end of the blob) or, in the older layout, 12 (the value size and the
 * number of records). Whatever is not records is header.
 */
static size_t header_bytes(struct sl_table *t, const struct sl_snapbuf *b)
{
	uint32_t vbr = 0;
	memcpy(&vbr, b->p, 4);
	uint64_t records = 0;
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	while (sl_table_next(t, &it, &key, &len, &value))
		records += 12 + len + vbr;
	REQUIRE(b->len >= records);
	size_t h = b->len - records;
	CHECKF(h == 4 || h == 12, "header of %zu bytes", h);
	return h;
}

static void test_table_snapshot(void)
{
	static const uint32_t vbs[] = {0, 8, 12, 24, 64};
	const uint32_t n = CHECK_SANITIZED ? 3000 : 12000;
	struct tkey *keys = calloc(n, sizeof(*keys));
	REQUIRE(keys);
	for (size_t v = 0; v < SL_ARRAY_LEN(vbs); v++) {
		uint32_t vb = vbs[v];
		struct sl_table *t = sl_table_new(vb);
		REQUIRE(t);
		uint64_t live = fill_table(t, keys, n, vb, 5);
		struct sl_snapbuf b;
		sl_snap_init(&b);
		sl_table_snapshot(t, &b);
		REQUIRE(b.err == 0);
		/* Header: the (rounded) value size (and the live count). */
		size_t hb = header_bytes(t, &b);
		struct sl_snapread r;
		sl_snapread_init(&r, b.p, b.len);
		CHECK_EQ_U(sl_snapread_u32(&r), (vb + 7) & ~7u);
		if (hb == 12)
			CHECK_EQ_U(sl_snapread_u64(&r), live);
		/* Then (hash, key length, key, value) per live entry: no deleted
		 * key, none twice, each with its routing hash and current value. */
		uint64_t records = 0, stale = 0;
		uint32_t vbr = (vb + 7) & ~7u;
		struct sl_table *dup = sl_table_new(0);
		REQUIRE(dup);
		while (!r.bad && r.p < r.end) {
			uint64_t hash = sl_snapread_u64(&r);
			uint32_t kl = sl_snapread_u32(&r);
			const void *key = sl_snapread_get(&r, kl);
			const void *val = sl_snapread_get(&r, vbr);
			if (r.bad)
				break;
			records++;
			void *v = sl_table_find(t, key, kl, hash);
			bool created;
			REQUIRE(sl_table_upsert(dup, key, kl, hash, &created));
			stale += !v || !created || hash != sl_key_hash(key, kl) ||
				 memcmp(v, val, vbr) != 0;
		}
		CHECK(sl_snapread_done(&r));
		CHECK_EQ_U(records, live);
		CHECKF(stale == 0, "vb %u: %" PRIu64 " records deleted, twice or wrong", vb, stale);
		for (uint32_t i = 0; i < n; i++)
			if (!keys[i].live &&
			    sl_table_find(dup, keys[i].k, keys[i].len, keys[i].hash)) {
				CHECKF(false, "vb %u: deleted key %u in the snapshot", vb, i);
				break;
			}
		sl_table_free(dup);
		/* A table of value size 12 and one of 16 hold the same blobs. */
		for (uint32_t k = 1; k <= 3; k++)
			check_redistribution(&b, keys, n, vb, k, live);
		sl_snap_free(&b);
		sl_table_free(t);
	}

	/* Snapshot after a compaction (the entries moved; deleted ones gone). */
	{
		const uint32_t vb = 24, nn = 60000;
		struct tkey *kk = calloc(nn, sizeof(*kk));
		REQUIRE(kk);
		struct sl_table *t = sl_table_new(vb);
		REQUIRE(t);
		uint64_t live = fill_table(t, kk, nn / 4, vb, 0);
		/* Many more keys, most deleted again: dead bytes pile up. */
		uint8_t val[64];
		for (uint32_t i = nn / 4; i < nn; i++) {
			make_key(&kk[i], i);
			bool created;
			uint8_t *p = sl_table_upsert(t, kk[i].k, kk[i].len, kk[i].hash, &created);
			REQUIRE(p);
			value_of(&kk[i], val, vb);
			memcpy(p, val, vb);
			if (!created) {
				kk[i].live = true; /* a copy of a key still there (the empty key) */
			} else if (i % 7 == 0) {
				live++;
				kk[i].live = true;
			} else {
				sl_table_delete(t, kk[i].k, kk[i].len, kk[i].hash);
			}
		}
		uint64_t before = sl_table_bytes(t);
		sl_table_maybe_compact(t);
		CHECKF(sl_table_bytes(t) < before, "no compaction (%" PRIu64 " bytes)", before);
		CHECK_EQ_U(sl_table_count(t), live);
		struct sl_snapbuf b;
		sl_snap_init(&b);
		sl_table_snapshot(t, &b);
		REQUIRE(b.err == 0);
		for (uint32_t k = 1; k <= 3; k++)
			check_redistribution(&b, kk, nn, vb, k, live);
		sl_snap_free(&b);
		sl_table_free(t);
		free(kk);
	}

	/* An empty table: a header only, which restores to nothing; an empty
	 * blob (a worker without state) restores to nothing too. */
	{
		struct sl_table *t = sl_table_new(16), *u = sl_table_new(16);
		REQUIRE(t && u);
		struct sl_snapbuf b;
		sl_snap_init(&b);
		sl_table_snapshot(t, &b);
		CHECKF(b.len == 4 || b.len == 12, "%zu bytes", b.len);
		struct sl_blob bl = {b.p, b.len};
		CHECK_EQ_I(sl_table_restore(u, &bl, MAXP, 1, 0), 0);
		struct sl_blob none = {NULL, 0};
		CHECK_EQ_I(sl_table_restore(u, &none, MAXP, 1, 0), 0);
		CHECK_EQ_U(sl_table_count(u), 0);
		sl_snap_free(&b);
		sl_table_free(t);
		sl_table_free(u);
	}
	free(keys);
}

static int restore_copy_n(uint32_t vb, const uint8_t *p, size_t len, uint32_t k, uint32_t w,
			  uint64_t *count)
{
	/* An exact-size heap copy: reading past it is an ASan report. */
	uint8_t *copy = malloc(len ? len : 1);
	REQUIRE(copy);
	memcpy(copy, p, len);
	struct sl_table *t = sl_table_new(vb);
	REQUIRE(t);
	struct sl_blob bl = {copy, len};
	int rc = sl_table_restore(t, &bl, MAXP, k, w);
	if (count)
		*count = sl_table_count(t);
	sl_table_free(t);
	free(copy);
	return rc;
}

static int restore_copy(uint32_t vb, const uint8_t *p, size_t len, uint32_t k, uint32_t w)
{
	return restore_copy_n(vb, p, len, k, w, NULL);
}

static void test_table_damage(void)
{
	const uint32_t vb = 16, n = 60;
	struct tkey keys[60];
	struct sl_table *t = sl_table_new(vb);
	REQUIRE(t);
	fill_table(t, keys, n, vb, 7);
	struct sl_snapbuf b;
	sl_snap_init(&b);
	sl_table_snapshot(t, &b);
	REQUIRE(b.err == 0);
	CHECK_EQ_I(restore_copy(vb, b.p, b.len, 1, 0), 0);
	const size_t hb = header_bytes(t, &b);

	/* Where each record starts (and the end): records[i] bytes hold i. */
	size_t starts[64], n_starts = 0;
	for (size_t at = hb; at < b.len && n_starts < 64;) {
		starts[n_starts++] = at;
		uint32_t kl;
		memcpy(&kl, b.p + at + 8, 4);
		at += 12 + kl + vb;
	}
	REQUIRE(n_starts < 64);
	starts[n_starts] = b.len;

	/* Cut short at every length, for both workers of two (each skips the
	 * other's records but must still see the damage): -EINVAL, except 0
	 * bytes ("no state") and, when records run to the end of the blob
	 * (header of 4), a cut between records: a shorter valid blob, which
	 * restores exactly the records before the cut. */
	size_t next = 0;
	for (size_t cut = 1; cut < b.len; cut++) {
		while (next <= n_starts && starts[next] < cut)
			next++;
		bool boundary = hb == 4 && next <= n_starts && starts[next] == cut;
		uint64_t total = 0;
		for (uint32_t w = 0; w < 2; w++) {
			uint64_t got = 0;
			int rc = restore_copy_n(vb, b.p, cut, 2, w, &got);
			CHECKF(rc == (boundary ? 0 : -EINVAL), "cut at %zu of %zu, worker %u: %d",
			       cut, b.len, w, rc);
			total += got;
		}
		if (boundary)
			CHECKF(total == next, "cut at %zu: %" PRIu64 " entries, want %zu", cut,
			       total, next);
	}
	CHECK_EQ_I(restore_copy(vb, b.p, 0, 1, 0), 0);

	/* Another value size than the table's. */
	CHECK_EQ_I(restore_copy(8, b.p, b.len, 1, 0), -EINVAL);
	CHECK_EQ_I(restore_copy(24, b.p, b.len, 1, 0), -EINVAL);
	CHECK_EQ_I(restore_copy(0, b.p, b.len, 1, 0), -EINVAL);
	CHECK_EQ_I(restore_copy(12, b.p, b.len, 1, 0), 0); /* rounds up to 16 */

	uint8_t *m = malloc(b.len + 16);
	REQUIRE(m);
	/* The header's value size changed. */
	memcpy(m, b.p, b.len);
	m[0] = 8;
	CHECK_EQ_I(restore_copy(vb, m, b.len, 1, 0), -EINVAL);
	/* The count (older layout) one too high, one too low, huge. */
	if (hb == 12) {
		uint64_t count;
		memcpy(&count, b.p + 4, 8);
		REQUIRE(count > 1);
		const uint64_t counts[] = {count + 1, count - 1, 0, UINT64_MAX};
		for (size_t i = 0; i < SL_ARRAY_LEN(counts); i++) {
			memcpy(m, b.p, b.len);
			memcpy(m + 4, &counts[i], 8);
			CHECKF(restore_copy(vb, m, b.len, 1, 0) == -EINVAL, "count %" PRIu64,
			       counts[i]);
		}
	}
	/* A byte too many. */
	memcpy(m, b.p, b.len);
	m[b.len] = 0;
	CHECK_EQ_I(restore_copy(vb, m, b.len + 1, 1, 0), -EINVAL);
	/* The first key's length: too long for the blob, or for any key. */
	const uint32_t lens[] = {UINT32_MAX, SL_KEY_MAX_BYTES + 1, (uint32_t)b.len};
	for (size_t i = 0; i < SL_ARRAY_LEN(lens); i++) {
		memcpy(m, b.p, b.len);
		memcpy(m + hb + 8, &lens[i], 4);
		CHECKF(restore_copy(vb, m, b.len, 1, 0) == -EINVAL, "key length %u", lens[i]);
	}
	/* Garbage of every small size. */
	uint64_t s = 99;
	for (size_t len = 1; len < 200; len++) {
		for (size_t i = 0; i < len; i++)
			m[i % (b.len + 16)] = (uint8_t)check_rand(&s);
		(void)restore_copy(vb, m, len < b.len ? len : b.len, 1, 0);
	}
	free(m);
	sl_snap_free(&b);
	sl_table_free(t);
}

/* ---- the state directory ------------------------------------------------ */

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

static void make_ckpt(const char *root, const char *name, const struct sl_manifest *m, bool damage)
{
	char dir[4200];
	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	REQUIRE(mkdir(dir, 0755) == 0);
	write_file(dir, "w0.snap.zst", "x", 1);
	if (!m)
		return;
	char text[4096];
	int n = sl_manifest_format(m, text, sizeof(text));
	REQUIRE(n > 0);
	if (damage)
		text[n / 2] ^= 1;
	write_file(dir, SL_CKPT_MANIFEST, text, (size_t)n);
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	if (!d) {
		unlink(path);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char sub[4300];
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}

static const struct sl_ckpt_entry *entry(const struct sl_ckpt_entry *v, uint32_t n, uint64_t id)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i].id == id)
			return &v[i];
	return NULL;
}

static void test_listing(void)
{
	char root[] = "/tmp/test_checkpoint_XXXXXX";
	REQUIRE(mkdtemp(root));
	struct sl_ckpt_entry *v;
	uint32_t n;
	char path[4200];

	/* Nothing there yet. */
	CHECK_EQ_I(sl_ckpt_list(root, &v, &n), 0);
	CHECK_EQ_U(n, 0);
	free(v);
	CHECK_EQ_I(sl_ckpt_latest(root, path, sizeof(path)), -ENOENT);
	char missing[4300];
	snprintf(missing, sizeof(missing), "%s/none", root);
	CHECK_EQ_I(sl_ckpt_list(missing, &v, &n), 0);
	CHECK_EQ_U(n, 0);
	free(v);
	CHECK_EQ_I(sl_ckpt_latest(missing, path, sizeof(path)), -ENOENT);

	struct sl_manifest *m = manifest_new();
	fill_manifest(m);
	m->id = 1;
	m->savepoint = false;
	m->finished = false;
	m->nonce[0] = '\0';
	m->created_ms = 1000;
	m->duration_ms = 11;
	make_ckpt(root, "chk-1", m, false);
	make_ckpt(root, "chk-3", NULL, false); /* in progress or crashed */
	fill_manifest(m);
	m->id = 2;
	m->created_ms = 2000;
	m->duration_ms = 22;
	snprintf(m->nonce, sizeof(m->nonce), "req-77");
	make_ckpt(root, "sp-2", m, false);
	/* Manifest of another id (copied by hand?) and a damaged one: not complete. */
	m->id = 4;
	make_ckpt(root, "chk-5", m, false);
	m->id = 6;
	make_ckpt(root, "chk-6", m, true);
	/* Not checkpoints: ignored. */
	make_ckpt(root, "chk-0", m, false);
	make_ckpt(root, "chk-", NULL, false);
	make_ckpt(root, "chk-7x", NULL, false);
	make_ckpt(root, "sp-", NULL, false);
	make_ckpt(root, "other", NULL, false);
	write_file(root, "LOCK", "123\n", 4);

	REQUIRE(sl_ckpt_list(root, &v, &n) == 0);
	CHECK_EQ_U(n, 5);
	for (uint32_t i = 1; i < n; i++)
		CHECKF(v[i - 1].id < v[i].id, "not sorted at %u", i);
	const struct sl_ckpt_entry *e1 = entry(v, n, 1), *e2 = entry(v, n, 2), *e3 = entry(v, n, 3),
				   *e5 = entry(v, n, 5), *e6 = entry(v, n, 6);
	REQUIRE(e1 && e2 && e3 && e5 && e6);
	char want[4300];
	snprintf(want, sizeof(want), "%s/chk-1", root);
	CHECK_STR(e1->path, want);
	CHECK(e1->complete && !e1->savepoint && !e1->finished);
	CHECK_EQ_I(e1->created_ms, 1000);
	CHECK_EQ_I(e1->duration_ms, 11);
	CHECK_EQ_U(e1->bytes, 1000 + 2001 + 3002);
	CHECK_STR(e1->nonce, "");
	snprintf(want, sizeof(want), "%s/sp-2", root);
	CHECK_STR(e2->path, want);
	CHECK(e2->complete && e2->savepoint && e2->finished);
	CHECK_EQ_I(e2->created_ms, 2000);
	CHECK_EQ_I(e2->duration_ms, 22);
	CHECK_STR(e2->nonce, "req-77");
	CHECK(!e3->complete && !e3->savepoint);
	CHECK(e3->bytes == 0 && e3->created_ms == 0 && e3->nonce[0] == '\0');
	CHECK(!e5->complete);
	CHECK(!e6->complete);
	free(v);

	/* The newest complete one: sp-2 (chk-3, chk-5 and chk-6 are not). */
	CHECK_EQ_I(sl_ckpt_latest(root, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/sp-2", root);
	CHECK_STR(path, want);

	/* Reading the manifests directly: the error names the file. */
	char err[512];
	CHECK_EQ_I(sl_manifest_read(want, m, err, sizeof(err)), 0);
	CHECK_EQ_U(m->id, 2);
	snprintf(want, sizeof(want), "%s/chk-3", root);
	CHECK(sl_manifest_read(want, m, err, sizeof(err)) == -ENOENT);
	CHECKF(strstr(err, "chk-3/_manifest") != NULL, "'%s'", err);
	snprintf(want, sizeof(want), "%s/chk-6", root);
	CHECK(sl_manifest_read(want, m, err, sizeof(err)) == -EINVAL);
	CHECKF(strstr(err, "chk-6/_manifest: line ") != NULL, "'%s'", err);

	/* chk-3 completes: now it is the latest. */
	fill_manifest(m);
	m->id = 3;
	m->savepoint = false;
	char text[4096];
	int tn = sl_manifest_format(m, text, sizeof(text));
	REQUIRE(tn > 0);
	snprintf(want, sizeof(want), "%s/chk-3", root);
	write_file(want, SL_CKPT_MANIFEST, text, (size_t)tn);
	CHECK_EQ_I(sl_ckpt_latest(root, path, sizeof(path)), 0);
	CHECK_STR(path, want);
	/* A path buffer too small is cut, not overrun. */
	char small[8];
	memset(small, 'z', sizeof(small));
	CHECK_EQ_I(sl_ckpt_latest(root, small, sizeof(small)), 0);
	CHECK(small[7] == '\0');

	free(m);
	remove_tree(root);
}

int main(void)
{
	test_manifest_round_trip();
	test_manifest_damage();
	test_manifest_reject();
	test_snap();
	test_table_snapshot();
	test_table_damage();
	test_listing();
	return check_exit("test_checkpoint");
}
