/* libFuzzer target for the checkpoint building blocks: manifest text, table
 * snapshot blobs and the snapshot reader. The first input byte picks what
 * the rest is (byte % 4):
 *   1 ('M'):    manifest text for sl_manifest_parse; what parses must
 *               format and parse back to the same manifest.
 *   0 ('@'):    the same, but the target appends the end line with the
 *               right checksum (a mutated manifest almost never has it, and
 *               without it nothing gets past the end line).
 *   2 ('R'):    value size byte, workers byte, max_parallelism byte, then a
 *               table snapshot blob for sl_table_restore; restored into each
 *               worker of n, the union must be what one worker gets.
 *   3 ('S'):    a count k, k opcodes, then a blob read by the sl_snapread
 *               API, checked against a model of the reader.
 * Every buffer handed to the code under test is an exact-size heap copy, so
 * reading one byte past it is an ASan report (no NUL after the text).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "core/checkpoint.h"
#include "core/keygroup.h"
#include "core/limits.h"
#include "state/snap.h"
#include "state/table.h"

#define TEXT_CAP (256u << 10)

static uint8_t *copy_exact(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	SL_ASSERT(c != NULL);
	if (n)
		memcpy(c, p, n);
	return c;
}

/* ---- manifests ---- */

static bool token(const char *s, size_t cap, bool allow_empty)
{
	size_t n = strnlen(s, cap);
	if (n == cap || (n == 0 && !allow_empty))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 127)
			return false;
	return true;
}

static void check_valid(const struct sl_manifest *m)
{
	SL_ASSERT(token(m->job, sizeof(m->job), false));
	SL_ASSERT(token(m->nonce, sizeof(m->nonce), true));
	SL_ASSERT(token(m->ended, sizeof(m->ended), true));
	SL_ASSERT(m->workers >= 1 && m->workers <= SL_MAX_WORKERS);
	SL_ASSERT(m->max_parallelism >= 1 && m->max_parallelism <= SL_MAX_PARALLELISM_MAX);
	SL_ASSERT(m->n_files <= SL_CKPT_MAX_FILES);
	for (uint32_t i = 0; i < m->n_files; i++) {
		const char *name = m->files[i].name;
		SL_ASSERT(token(name, sizeof(m->files[i].name), false));
		SL_ASSERT(name[0] != '.' && strchr(name, '/') == NULL);
	}
}

static bool manifest_eq(const struct sl_manifest *a, const struct sl_manifest *b)
{
	if (a->id != b->id || a->savepoint != b->savepoint || a->finished != b->finished ||
	    a->stop != b->stop || strcmp(a->job, b->job) != 0 || a->created_ms != b->created_ms ||
	    a->duration_ms != b->duration_ms || a->workers != b->workers ||
	    a->max_parallelism != b->max_parallelism || strcmp(a->nonce, b->nonce) != 0 ||
	    strcmp(a->ended, b->ended) != 0 || a->n_files != b->n_files)
		return false;
	for (uint32_t i = 0; i < a->n_files; i++)
		if (strcmp(a->files[i].name, b->files[i].name) != 0 ||
		    a->files[i].bytes != b->files[i].bytes ||
		    a->files[i].raw_bytes != b->files[i].raw_bytes ||
		    a->files[i].xxh64 != b->files[i].xxh64)
			return false;
	return true;
}

static struct sl_manifest *m1, *m2;
static char *text1, *text2;

static void fuzz_manifest(const uint8_t *data, size_t size, bool seal)
{
	if (!m1) {
		m1 = malloc(sizeof(*m1));
		m2 = malloc(sizeof(*m2));
		text1 = malloc(TEXT_CAP);
		text2 = malloc(TEXT_CAP);
		SL_ASSERT(m1 && m2 && text1 && text2);
	}
	char *text;
	if (seal) {
		char end[32];
		int k = snprintf(end, sizeof(end), "end %016" PRIx64 "\n", XXH64(data, size, 0));
		text = malloc(size + (size_t)k);
		SL_ASSERT(text != NULL);
		if (size)
			memcpy(text, data, size);
		memcpy(text + size, end, (size_t)k);
		size += (size_t)k;
	} else {
		text = (char *)copy_exact(data, size);
	}
	char err[128];
	err[0] = 'x';
	int rc = sl_manifest_parse(text, size, m1, err, sizeof(err));
	/* A tiny error buffer is cut, never overrun. */
	char small[5];
	int rc_small = sl_manifest_parse(text, size, m2, small, sizeof(small));
	free(text);
	SL_ASSERT(rc == rc_small);
	if (rc < 0) {
		SL_ASSERT(rc == -EINVAL);
		SL_ASSERT(strnlen(err, sizeof(err)) < sizeof(err));
		SL_ASSERT(strncmp(err, "line ", 5) == 0);
		SL_ASSERT(strnlen(small, sizeof(small)) < sizeof(small));
		return;
	}
	SL_ASSERT(rc == 0);
	check_valid(m1);
	SL_ASSERT(m1->created_ms >= 0 && m1->duration_ms >= 0);
	/* What parses formats, and that parses back to the same manifest, and
	 * formats to the same text again. */
	int n1 = sl_manifest_format(m1, text1, TEXT_CAP);
	SL_ASSERT(n1 > 0 && (size_t)n1 < TEXT_CAP);
	uint8_t *exact = copy_exact((const uint8_t *)text1, (size_t)n1);
	rc = sl_manifest_parse((const char *)exact, (size_t)n1, m2, err, sizeof(err));
	free(exact);
	if (rc != 0) {
		fprintf(stderr, "formatted manifest does not parse: %s\n%.*s", err, n1, text1);
		SL_ASSERT(rc == 0);
	}
	SL_ASSERT(manifest_eq(m1, m2));
	int n2 = sl_manifest_format(m2, text2, TEXT_CAP);
	SL_ASSERT(n2 == n1 && memcmp(text1, text2, (size_t)n1) == 0);
	/* One byte short of room: -ENOSPC, no overrun. */
	char *tight = malloc((size_t)n1);
	SL_ASSERT(tight != NULL);
	SL_ASSERT(sl_manifest_format(m1, tight, (size_t)n1) == -ENOSPC);
	free(tight);
}

/* ---- table blobs ---- */

static void check_owned(struct sl_table *t, uint32_t mp, uint32_t n, uint32_t w)
{
	struct sl_table_iter it = {0};
	const void *key;
	uint32_t len;
	void *value;
	uint64_t hash;
	uint64_t seen = 0;
	while (sl_table_next_h(t, &it, &key, &len, &value, &hash)) {
		SL_ASSERT(len <= SL_KEY_MAX_BYTES);
		SL_ASSERT(sl_table_owns(hash, mp, n, w));
		SL_ASSERT(sl_table_find(t, key, len, hash) == value);
		seen++;
	}
	SL_ASSERT(seen == sl_table_count(t));
}

static void fuzz_table(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	uint32_t vb = data[0] % 72;
	uint32_t n_workers = 1 + data[1] % 8;
	static const uint32_t mps[] = {1, 2, 3, 7, 128, 128, 256, SL_MAX_PARALLELISM_MAX};
	uint32_t mp = mps[data[2] % SL_ARRAY_LEN(mps)];
	uint8_t *blob = copy_exact(data + 3, size - 3);
	struct sl_blob b = {blob, size - 3};

	struct sl_table *all = sl_table_new(vb);
	SL_ASSERT(all != NULL);
	int rc_all = sl_table_restore(all, &b, mp, 1, 0);
	SL_ASSERT(rc_all == 0 || rc_all == -EINVAL);
	if (rc_all == 0)
		check_owned(all, mp, 1, 0);

	uint64_t total = 0;
	for (uint32_t w = 0; w < n_workers; w++) {
		struct sl_table *t = sl_table_new(vb);
		SL_ASSERT(t != NULL);
		int rc = sl_table_restore(t, &b, mp, n_workers, w);
		/* Damage is found the same way whichever worker reads. */
		SL_ASSERT(rc == rc_all);
		if (rc == 0) {
			check_owned(t, mp, n_workers, w);
			total += sl_table_count(t);
			/* Everything w holds, the one-worker table holds the same. */
			struct sl_table_iter it = {0};
			const void *key;
			uint32_t len;
			void *value;
			uint64_t hash;
			while (sl_table_next_h(t, &it, &key, &len, &value, &hash)) {
				void *v = sl_table_find(all, key, len, hash);
				SL_ASSERT(v != NULL);
				SL_ASSERT(memcmp(v, value, (vb + 7) & ~7u) == 0);
			}
		}
		sl_table_free(t);
	}
	if (rc_all == 0) {
		SL_ASSERT(total == sl_table_count(all));
		/* A snapshot of what was restored restores to the same table. */
		struct sl_snapbuf s;
		sl_snap_init(&s);
		sl_table_snapshot(all, &s);
		SL_ASSERT(s.err == 0 && s.len >= 4);
		uint8_t *again = copy_exact(s.p, s.len);
		struct sl_blob b2 = {again, s.len};
		struct sl_table *t2 = sl_table_new(vb);
		SL_ASSERT(t2 != NULL);
		SL_ASSERT(sl_table_restore(t2, &b2, mp, 1, 0) == 0);
		SL_ASSERT(sl_table_count(t2) == sl_table_count(all));
		struct sl_table_iter it = {0};
		const void *key;
		uint32_t len;
		void *value;
		uint64_t hash;
		while (sl_table_next_h(t2, &it, &key, &len, &value, &hash)) {
			void *v = sl_table_find(all, key, len, hash);
			SL_ASSERT(v != NULL && memcmp(v, value, (vb + 7) & ~7u) == 0);
		}
		sl_table_free(t2);
		free(again);
		sl_snap_free(&s);
	}
	sl_table_free(all);
	free(blob);
}

/* ---- the reader ---- */

static void fuzz_snapread(const uint8_t *data, size_t size)
{
	if (size < 1)
		return;
	size_t k = data[0];
	if (k > size - 1)
		k = size - 1;
	const uint8_t *ops = data + 1;
	size_t len = size - 1 - k;
	uint8_t *blob = copy_exact(data + 1 + k, len);

	struct sl_snapread r;
	sl_snapread_init(&r, blob, len);
	/* The model: an offset and a flag. What is read while all is well is
	 * written again, and must give the bytes read. */
	size_t off = 0;
	bool bad = false;
	struct sl_snapbuf w;
	sl_snap_init(&w);
	for (size_t i = 0; i < k; i++) {
		uint32_t op = ops[i] % 7, arg = ops[i] / 7;
		size_t left = len - off;
		switch (op) {
		case 0: {
			uint8_t v = sl_snapread_u8(&r);
			if (left >= 1) {
				SL_ASSERT(v == blob[off]);
				if (!bad)
					sl_snap_u8(&w, v);
				off += 1;
			} else {
				SL_ASSERT(v == 0);
				bad = true;
				off = len;
			}
			break;
		}
		case 1: {
			uint32_t v = sl_snapread_u32(&r);
			if (left >= 4) {
				uint32_t want;
				memcpy(&want, blob + off, 4);
				SL_ASSERT(v == want);
				if (!bad)
					sl_snap_u32(&w, v);
				off += 4;
			} else {
				SL_ASSERT(v == 0);
				bad = true;
				off = len;
			}
			break;
		}
		case 2: {
			uint64_t v = sl_snapread_u64(&r);
			if (left >= 8) {
				uint64_t want;
				memcpy(&want, blob + off, 8);
				SL_ASSERT(v == want);
				if (!bad)
					sl_snap_u64(&w, v);
				off += 8;
			} else {
				SL_ASSERT(v == 0);
				bad = true;
				off = len;
			}
			break;
		}
		case 3: {
			const void *q = sl_snapread_get(&r, arg);
			if (left >= arg) {
				SL_ASSERT(q == blob + off);
				if (!bad)
					sl_snap_put(&w, q, arg);
				off += arg;
			} else {
				SL_ASSERT(q == NULL);
				bad = true;
				off = len;
			}
			break;
		}
		case 4: {
			size_t cap = 1 + arg;
			char *buf = malloc(cap); /* exact: a write past cap is a report */
			SL_ASSERT(buf != NULL);
			memset(buf, 'z', cap);
			sl_snapread_str(&r, buf, cap);
			if (left < 4) {
				SL_ASSERT(buf[0] == '\0');
				bad = true;
				off = len;
			} else {
				uint32_t n;
				memcpy(&n, blob + off, 4);
				off += 4;
				if (n >= cap) {
					/* Too long for buf: the bytes are not consumed. */
					SL_ASSERT(buf[0] == '\0');
					bad = true;
				} else if (len - off < n) {
					SL_ASSERT(buf[0] == '\0');
					bad = true;
					off = len;
				} else {
					SL_ASSERT(memcmp(buf, blob + off, n) == 0 &&
						  buf[n] == '\0');
					if (!bad) {
						sl_snap_u32(&w, n);
						sl_snap_put(&w, buf, n);
					}
					off += n;
				}
			}
			free(buf);
			break;
		}
		case 5:
			SL_ASSERT(sl_snapread_done(&r) == (!bad && off == len));
			break;
		case 6: {
			/* Absurd lengths never wrap the pointer. */
			size_t n = SIZE_MAX - arg;
			SL_ASSERT(sl_snapread_get(&r, n) == NULL);
			bad = true;
			off = len;
			break;
		}
		}
		SL_ASSERT(r.bad == bad);
		SL_ASSERT(r.p == blob + off && r.end == blob + len);
		SL_ASSERT(off <= len);
	}
	SL_ASSERT(w.err == 0);
	if (!bad) {
		SL_ASSERT(w.len == off);
		SL_ASSERT(off == 0 || memcmp(w.p, blob, off) == 0);
	}
	sl_snap_free(&w);
	free(blob);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fuzz_manifest(data + 1, size - 1, true);
		break;
	case 1:
		fuzz_manifest(data + 1, size - 1, false);
		break;
	case 2:
		fuzz_table(data + 1, size - 1);
		break;
	case 3:
		fuzz_snapread(data + 1, size - 1);
		break;
	}
	return 0;
}
