/* Unit test of connectors/postgres/pgoutput: hand-built frames and messages of every
 * kind and their edges (every truncation, column and name limits, unknown kinds),
 * the type mapping and PostgreSQL's text values, and two streams captured from a
 * real server (tests/unit/pgoutput/capture.py) decoded into exactly the rows the
 * capture wrote. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "connectors/postgres/pgoutput.h"
#include "core/value.h"

static char ERR[512];
static struct sl_pgo_msg MSG;

/* ---- building messages -------------------------------------------------------------- */

struct buf {
	uint8_t b[1 << 16];
	size_t n;
};

static void u8(struct buf *w, unsigned v)
{
	REQUIRE(w->n < sizeof(w->b));
	w->b[w->n++] = (uint8_t)v;
}
static void u16(struct buf *w, unsigned v)
{
	u8(w, v >> 8);
	u8(w, v);
}
static void u32(struct buf *w, uint32_t v)
{
	u16(w, v >> 16);
	u16(w, v & 0xffff);
}
static void u64(struct buf *w, uint64_t v)
{
	u32(w, (uint32_t)(v >> 32));
	u32(w, (uint32_t)v);
}
static void str(struct buf *w, const char *s)
{
	size_t n = strlen(s) + 1;
	REQUIRE(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, s, n);
	w->n += n;
}
static void bytes(struct buf *w, const void *p, size_t n)
{
	REQUIRE(w->n + n <= sizeof(w->b));
	memcpy(w->b + w->n, p, n);
	w->n += n;
}
static void text_col(struct buf *w, const char *s)
{
	u8(w, 't');
	u32(w, (uint32_t)strlen(s));
	bytes(w, s, strlen(s));
}

/* Parses a copy of w of exactly n bytes (ASan sees any read past it). */
static int parse_n(const struct buf *w, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	REQUIRE(p);
	memcpy(p, w->b, n);
	memset(ERR, 'x', sizeof(ERR));
	ERR[sizeof(ERR) - 1] = '\0';
	int rc = sl_pgo_parse(n ? p : NULL, n, &MSG, ERR, sizeof(ERR));
	/* Pointers into p must not be used after this: the callers only look at
	 * lengths and values copied into MSG. Keep p alive for the content checks. */
	static uint8_t *last;
	free(last);
	last = p;
	return rc;
}
static int parse(const struct buf *w)
{
	return parse_n(w, w->n);
}

/* A one-line error naming the message and an offset. */
static bool err_ok(const char *err)
{
	return err[0] != '\0' && strchr(err, '\n') == NULL && strstr(err, " at offset ") != NULL;
}

/* Every proper prefix of w fails cleanly, and so does w plus a byte. */
static void check_truncations(const struct buf *w, int line)
{
	for (size_t n = 0; n < w->n; n++) {
		int rc = parse_n(w, n);
		if (rc >= 0 || !err_ok(ERR)) {
			check_report(__FILE__, line);
			fprintf(stderr, "prefix of %zu/%zu bytes: rc %d, err \"%s\"\n", n, w->n, rc,
				ERR);
			return;
		}
	}
	struct buf *x = malloc(sizeof(*x));
	REQUIRE(x);
	memcpy(x, w, sizeof(*x));
	u8(x, 0);
	int rc = parse(x);
	if (rc != -EINVAL || !strstr(ERR, "1 unexpected trailing byte")) {
		check_report(__FILE__, line);
		fprintf(stderr, "trailing byte: rc %d, err \"%s\"\n", rc, ERR);
	}
	free(x);
}

/* ---- frames ------------------------------------------------------------------------- */

static void test_copydata(void)
{
	struct buf w = {0};
	struct sl_pgo_copydata cd;
	u8(&w, 'w');
	u64(&w, 0x16B374D848ull);
	u64(&w, 0x16B374D900ull);
	u64(&w, 760000000000000ull);
	bytes(&w, "Bxyz", 4);
	CHECK_EQ_I(sl_pgo_parse_copydata(w.b, w.n, &cd, ERR, sizeof(ERR)), 0);
	CHECK_EQ_I(cd.kind, 'w');
	CHECK_EQ_U(cd.wal_start, 0x16B374D848ull);
	CHECK_EQ_U(cd.wal_end, 0x16B374D900ull);
	CHECK_EQ_I(cd.send_time_us, 760000000000000ll);
	CHECK(cd.payload == w.b + 25 && cd.payload_len == 4);
	/* An empty payload is a valid frame (the message parser rejects it). */
	CHECK_EQ_I(sl_pgo_parse_copydata(w.b, 25, &cd, ERR, sizeof(ERR)), 0);
	CHECK_EQ_U(cd.payload_len, 0);
	for (size_t n = 0; n < 25; n++) {
		uint8_t *p = malloc(n + 1);
		memcpy(p, w.b, n);
		int rc = sl_pgo_parse_copydata(n ? p : NULL, n, &cd, ERR, sizeof(ERR));
		CHECKF(rc == -EINVAL && err_ok(ERR), "w prefix %zu: %d %s", n, rc, ERR);
		free(p);
	}
	CHECK_EQ_I(sl_pgo_parse_copydata(w.b, 10, &cd, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "replication XLogData ('w') at offset 9: truncated: the end LSN needs 4 "
		       "bytes, 1 left (message of 10 bytes)");

	struct buf k = {0};
	u8(&k, 'k');
	u64(&k, 0x10000000Aull);
	u64(&k, (uint64_t)-5);
	u8(&k, 1);
	CHECK_EQ_I(sl_pgo_parse_copydata(k.b, k.n, &cd, ERR, sizeof(ERR)), 0);
	CHECK(cd.kind == 'k' && cd.wal_end == 0x10000000Aull && cd.send_time_us == -5 &&
	      cd.reply_requested && cd.payload == NULL);
	k.b[17] = 0;
	CHECK_EQ_I(sl_pgo_parse_copydata(k.b, k.n, &cd, ERR, sizeof(ERR)), 0);
	CHECK(!cd.reply_requested);
	k.b[17] = 2;
	CHECK_EQ_I(sl_pgo_parse_copydata(k.b, k.n, &cd, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "replication keepalive ('k') at offset 17: reply flag 2 is neither 0 nor 1");
	k.b[17] = 1;
	for (size_t n = 0; n <= k.n + 1; n++) {
		if (n == k.n)
			continue;
		uint8_t *p = calloc(1, n + 1);
		memcpy(p, k.b, n < k.n ? n : k.n);
		int rc = sl_pgo_parse_copydata(n ? p : NULL, n, &cd, ERR, sizeof(ERR));
		CHECKF(rc == -EINVAL && err_ok(ERR), "k length %zu: %d %s", n, rc, ERR);
		free(p);
	}
	CHECK_EQ_I(sl_pgo_parse_copydata((const uint8_t *)"r", 1, &cd, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "replication CopyData at offset 0: unknown message kind 0x72 (want 'w' "
		       "XLogData or 'k' keepalive)");
	/* A small error buffer is cut, and still terminated; none at all is fine. */
	char small[8];
	CHECK_EQ_I(sl_pgo_parse_copydata((const uint8_t *)"z", 1, &cd, small, sizeof(small)),
		   -EINVAL);
	CHECK_STR(small, "replica");
	CHECK_EQ_I(sl_pgo_parse_copydata((const uint8_t *)"z", 1, &cd, NULL, 0), -EINVAL);

	/* Standby status update, as the server reads it. */
	uint8_t st[SL_PGO_STATUS_BYTES];
	CHECK_EQ_U(sl_pgo_put_status(st, 0x0102030405060708ull, 0x1112131415161718ull, 0x21ull,
				     0x3132333435363738ll, true),
		   34);
	/* clang-format off */
	static const uint8_t want[34] = {
		'r',  1,    2,    3,    4,    5,    6,    7,    8,    0x11, 0x12, 0x13,
		0x14, 0x15, 0x16, 0x17, 0x18, 0,    0,    0,    0,    0,    0,    0,
		0x21, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 1};
	/* clang-format on */
	CHECK(memcmp(st, want, 34) == 0);

	char lsn[20];
	uint64_t v;
	CHECK_EQ_I(sl_pg_lsn_format(0x16B374D848ull, lsn), 11);
	CHECK_STR(lsn, "16/B374D848");
	CHECK_EQ_I(sl_pg_lsn_format(0, lsn), 3);
	CHECK_STR(lsn, "0/0");
	CHECK_EQ_I(sl_pg_lsn_format(UINT64_MAX, lsn), 17);
	CHECK_STR(lsn, "FFFFFFFF/FFFFFFFF");
	CHECK_EQ_I(sl_pg_lsn_parse("16/b374D848", 11, &v), 0);
	CHECK_EQ_U(v, 0x16B374D848ull);
	CHECK_EQ_I(sl_pg_lsn_parse("FFFFFFFF/FFFFFFFF", 17, &v), 0);
	CHECK_EQ_U(v, UINT64_MAX);
	/* clang-format off */
	static const char *const bad_lsn[] = {"", "/", "0/", "/0", "0", "1/2/3", "123456789/0",
					      "0/123456789", "g/0", "0/0 ", " 0/0", "-1/0", NULL};
	/* clang-format on */
	for (int i = 0; bad_lsn[i]; i++)
		CHECKF(sl_pg_lsn_parse(bad_lsn[i], strlen(bad_lsn[i]), &v) == -EINVAL, "'%s'",
		       bad_lsn[i]);

	CHECK_EQ_I(sl_pg_time_to_unix_ms(0), 946684800000ll);
	CHECK_EQ_I(sl_pg_time_to_unix_ms(-946684800000001ll), -1); /* 1969-12-31 23:59:59.999999 */
	CHECK_EQ_I(sl_pg_time_to_unix_ms(-946684800000000ll), 0);
	CHECK_EQ_I(sl_pg_time_from_unix_us(946684800000000ll), 0);
}

/* ---- messages ----------------------------------------------------------------------- */

static void test_begin_commit_origin(void)
{
	struct buf w = {0};
	u8(&w, 'B');
	u64(&w, 0x1933CF0);
	u64(&w, 760000000123456ull);
	u32(&w, 733);
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_BEGIN && MSG.begin.final_lsn == 0x1933CF0 &&
	      MSG.begin.commit_time_us == 760000000123456ll && MSG.begin.xid == 733);
	check_truncations(&w, __LINE__);
	CHECK_EQ_I(parse_n(&w, 5), -EINVAL);
	CHECK_STR(ERR, "pgoutput Begin ('B') at offset 5: truncated: the final LSN needs 4 bytes, "
		       "0 left (message of 5 bytes)");

	w.n = 0;
	u8(&w, 'C');
	u8(&w, 0);
	u64(&w, 0x1933CF0);
	u64(&w, 0x1933D20);
	u64(&w, (uint64_t)-1);
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_COMMIT && MSG.commit.flags == 0 &&
	      MSG.commit.commit_lsn == 0x1933CF0 && MSG.commit.end_lsn == 0x1933D20 &&
	      MSG.commit.commit_time_us == -1);
	check_truncations(&w, __LINE__);

	w.n = 0;
	u8(&w, 'O');
	u64(&w, 0x12345678);
	str(&w, "sluice-origin");
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_ORIGIN && MSG.origin.commit_lsn == 0x12345678 &&
	      MSG.origin.name_len == 13 && strcmp(MSG.origin.name, "sluice-origin") == 0);
	check_truncations(&w, __LINE__);
	CHECK_EQ_I(parse_n(&w, 15), -EINVAL);
	CHECK_STR(ERR, "pgoutput Origin ('O') at offset 9: truncated: the origin name has no "
		       "terminating NUL within 6 bytes");
}

/* A relation of n columns named c1.. (int4, key on the first). */
static void relation(struct buf *w, uint32_t oid, const char *rel, unsigned n, uint8_t ident)
{
	u8(w, 'R');
	u32(w, oid);
	str(w, "public");
	str(w, rel);
	u8(w, ident);
	u16(w, n);
	for (unsigned i = 0; i < n; i++) {
		char name[16];
		snprintf(name, sizeof(name), "c%u", i + 1);
		u8(w, i == 0);
		str(w, name);
		u32(w, SL_PG_INT4);
		u32(w, (uint32_t)-1);
	}
}

static void test_relation_type(void)
{
	struct buf w = {0};
	u8(&w, 'R');
	u32(&w, 16393);
	str(&w, "");
	str(&w, "t");
	u8(&w, 'f');
	u16(&w, 3);
	u8(&w, 1);
	str(&w, "id");
	u32(&w, SL_PG_INT8);
	u32(&w, (uint32_t)-1);
	u8(&w, 0);
	str(&w, "amount");
	u32(&w, SL_PG_NUMERIC);
	u32(&w, (12u << 16 | 3u) + 4u);
	u8(&w, 0x81); /* unknown flag bits are kept */
	str(&w, "");
	u32(&w, 99999);
	u32(&w, 0);
	CHECK_EQ_I(parse(&w), 0);
	const struct sl_pgo_relation *r = &MSG.relation;
	CHECK(MSG.type == SL_PGO_RELATION && r->oid == 16393 && r->replident == 'f' &&
	      r->n_cols == 3);
	CHECK_STR(r->nspname, "");
	CHECK_STR(r->relname, "t");
	CHECK(r->cols[0].flags == SL_PGO_COL_KEY && r->cols[0].type_oid == SL_PG_INT8 &&
	      r->cols[0].typmod == -1);
	CHECK_STR(r->cols[0].name, "id");
	CHECK(r->cols[1].flags == 0 && r->cols[1].type_oid == SL_PG_NUMERIC &&
	      r->cols[1].typmod == 786439);
	CHECK_STR(r->cols[1].name, "amount");
	CHECK(r->cols[2].flags == 0x81 && r->cols[2].type_oid == 99999 && r->cols[2].typmod == 0);
	CHECK_STR(r->cols[2].name, "");
	check_truncations(&w, __LINE__);

	/* Replica identities: d n f i, nothing else. */
	for (unsigned c = 0; c < 256; c++) {
		w.b[1 + 4 + 1 + 2] = (uint8_t)c;
		int rc = parse(&w);
		CHECKF(rc == (strchr("dnfi", (int)c) && c ? 0 : -EINVAL), "replident 0x%02x: %d", c,
		       rc);
	}
	w.b[8] = 'i';
	w.b[8] = 'x';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Relation ('R') at offset 8: replica identity 0x78 is none of "
		       "'d', 'n', 'f', 'i'");

	/* Column limits: SL_MAX_COLS is fine, one more is not; none at all is. */
	w.n = 0;
	relation(&w, 1, "wide", SL_MAX_COLS, 'd');
	CHECK_EQ_I(parse(&w), 0);
	CHECK_EQ_U(MSG.relation.n_cols, SL_MAX_COLS);
	CHECK_STR(MSG.relation.cols[SL_MAX_COLS - 1].name, "c64");
	check_truncations(&w, __LINE__);
	w.n = 0;
	relation(&w, 1, "wider", SL_MAX_COLS + 1, 'd');
	CHECK_EQ_I(parse(&w), -E2BIG);
	CHECK_STR(ERR, "pgoutput Relation ('R') at offset 19: relation \"public\".\"wider\" has "
		       "65 columns, more than sluice's 64");
	/* Identifiers may hold any byte but NUL; errors stay one line. */
	w.n = 0;
	relation(&w, 1,
		 "a\nb\x7f\x01"
		 "c",
		 SL_MAX_COLS + 1, 'd');
	CHECK_EQ_I(parse(&w), -E2BIG);
	CHECKF(strstr(ERR, "relation \"public\".\"a?b??c\" has 65 columns") != NULL, "%s", ERR);
	w.n = 0;
	relation(&w, 1, "wide", 0, 'd');
	w.b[w.n - 2] = 0xff, w.b[w.n - 1] = 0xff; /* 65535 columns, none there */
	CHECK_EQ_I(parse(&w), -E2BIG);
	w.n = 0;
	relation(&w, 1, "none", 0, 'n');
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.relation.n_cols == 0 && MSG.relation.replident == 'n');

	/* Names: 63 bytes are PostgreSQL's most, 64 are an error. */
	char n63[64], n64[65];
	memset(n63, 'a', 63);
	n63[63] = '\0';
	memset(n64, 'b', 64);
	n64[64] = '\0';
	w.n = 0;
	relation(&w, 1, n63, 1, 'd');
	CHECK_EQ_I(parse(&w), 0);
	CHECK_STR(MSG.relation.relname, n63);
	w.n = 0;
	relation(&w, 1, n64, 1, 'd');
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Relation ('R') at offset 12: the relation name of 64 bytes is "
		       "longer than PostgreSQL's 63");
	w.n = 0;
	u8(&w, 'R');
	u32(&w, 1);
	str(&w, n64);
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK(strstr(ERR, "the namespace of 64 bytes") != NULL);
	w.n = 0;
	u8(&w, 'R');
	u32(&w, 1);
	str(&w, "s");
	str(&w, "t");
	u8(&w, 'd');
	u16(&w, 1);
	u8(&w, 0);
	str(&w, n64);
	u32(&w, 23);
	u32(&w, 0);
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK(strstr(ERR, "at offset 13: a column name of 64 bytes") != NULL);

	w.n = 0;
	u8(&w, 'Y');
	u32(&w, 16387);
	str(&w, "public");
	str(&w, "mood");
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_TYPE && MSG.pgtype.oid == 16387);
	CHECK_STR(MSG.pgtype.nspname, "public");
	CHECK_STR(MSG.pgtype.name, "mood");
	check_truncations(&w, __LINE__);
}

static void test_changes(void)
{
	struct buf w = {0};
	/* Insert: a tuple of every kind. */
	u8(&w, 'I');
	u32(&w, 16393);
	u8(&w, 'N');
	u16(&w, 5);
	text_col(&w, "42");
	u8(&w, 'n');
	u8(&w, 'u');
	text_col(&w, "");
	u8(&w, 'b');
	u32(&w, 3);
	bytes(&w, "\0\1\2", 3);
	CHECK_EQ_I(parse(&w), 0);
	const struct sl_pgo_change *c = &MSG.change;
	CHECK(MSG.type == SL_PGO_INSERT && c->rel_oid == 16393 && c->old_kind == 0 && c->has_new &&
	      c->old_tuple.n_cols == 0 && c->new_tuple.n_cols == 5);
	const struct sl_pgo_datum *d = c->new_tuple.cols;
	CHECK(d[0].kind == 't' && d[0].len == 2 && memcmp(d[0].p, "42", 2) == 0);
	CHECK(d[1].kind == 'n' && d[1].len == 0 && d[1].p == NULL);
	CHECK(d[2].kind == 'u' && d[2].len == 0 && d[2].p == NULL);
	CHECK(d[3].kind == 't' && d[3].len == 0 && d[3].p != NULL);
	CHECK(d[4].kind == 'b' && d[4].len == 3 && memcmp(d[4].p, "\0\1\2", 3) == 0);
	check_truncations(&w, __LINE__);
	w.b[5] = 'K';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Insert ('I') at offset 5: tuple tag 0x4b (want 'N')");
	w.b[5] = 'N';
	w.b[15] = 'x';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Insert ('I') at offset 15: the new tuple column 2 has kind 0x78 "
		       "(want 'n', 'u', 't' or 'b')");
	w.b[15] = 'n';
	/* A length past the end, and one past INT32_MAX. */
	w.b[12] = 200;
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Insert ('I') at offset 9: truncated: the new tuple column 1 "
		       "declares 200 bytes, 17 left");
	w.b[9] = 0x80, w.b[12] = 0;
	CHECK_EQ_I(parse(&w), -EINVAL);
	w.b[9] = 0, w.b[12] = 2;
	CHECK_EQ_I(parse(&w), 0);

	/* Tuple column limits. */
	struct buf *big = calloc(1, sizeof(*big));
	REQUIRE(big);
	u8(big, 'I');
	u32(big, 1);
	u8(big, 'N');
	u16(big, SL_MAX_COLS);
	for (unsigned i = 0; i < SL_MAX_COLS; i++)
		text_col(big, i % 2 ? "x" : "");
	CHECK_EQ_I(parse(big), 0);
	CHECK_EQ_U(MSG.change.new_tuple.n_cols, SL_MAX_COLS);
	check_truncations(big, __LINE__);
	big->b[6] = 0, big->b[7] = SL_MAX_COLS + 1;
	text_col(big, "y");
	CHECK_EQ_I(parse(big), -E2BIG);
	CHECK_STR(ERR, "pgoutput Insert ('I') at offset 6: the new tuple has 65 columns, more "
		       "than sluice's 64");
	big->n = 0;
	u8(big, 'I');
	u32(big, 1);
	u8(big, 'N');
	u16(big, 0);
	CHECK_EQ_I(parse(big), 0);
	CHECK_EQ_U(MSG.change.new_tuple.n_cols, 0);
	free(big);

	/* Update without an old image, with the old key, with the old row. */
	w.n = 0;
	u8(&w, 'U');
	u32(&w, 7);
	u8(&w, 'N');
	u16(&w, 2);
	text_col(&w, "1");
	text_col(&w, "new");
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_UPDATE && MSG.change.old_kind == 0 && MSG.change.has_new &&
	      MSG.change.new_tuple.n_cols == 2 && MSG.change.new_tuple.cols[1].len == 3);
	check_truncations(&w, __LINE__);
	for (int k = 0; k < 2; k++) {
		w.n = 0;
		u8(&w, 'U');
		u32(&w, 7);
		u8(&w, k ? 'O' : 'K');
		u16(&w, 2);
		text_col(&w, "5");
		k ? text_col(&w, "old") : u8(&w, 'n');
		u8(&w, 'N');
		u16(&w, 2);
		text_col(&w, "50");
		u8(&w, 'u');
		CHECK_EQ_I(parse(&w), 0);
		c = &MSG.change;
		CHECK(c->old_kind == (k ? 'O' : 'K') && c->has_new && c->old_tuple.n_cols == 2 &&
		      c->new_tuple.n_cols == 2);
		CHECK(c->old_tuple.cols[0].len == 1 && c->old_tuple.cols[0].p[0] == '5');
		CHECK(c->old_tuple.cols[1].kind == (k ? 't' : 'n'));
		CHECK(c->new_tuple.cols[0].len == 2 && c->new_tuple.cols[1].kind == 'u');
		check_truncations(&w, __LINE__);
	}
	w.b[5] = 'X';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Update ('U') at offset 5: tuple tag 0x58 (want 'K', 'O' or 'N')");
	w.b[5] = 'O';
	w.b[22] = 'K';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Update ('U') at offset 22: tuple tag 0x4b (want 'N')");

	/* Delete: old key or old row, never a new tuple. */
	for (int k = 0; k < 2; k++) {
		w.n = 0;
		u8(&w, 'D');
		u32(&w, 9);
		u8(&w, k ? 'O' : 'K');
		u16(&w, 1);
		text_col(&w, "4");
		CHECK_EQ_I(parse(&w), 0);
		CHECK(MSG.type == SL_PGO_DELETE && MSG.change.rel_oid == 9 &&
		      MSG.change.old_kind == (k ? 'O' : 'K') && !MSG.change.has_new &&
		      MSG.change.old_tuple.n_cols == 1 && MSG.change.new_tuple.n_cols == 0);
		check_truncations(&w, __LINE__);
	}
	w.b[5] = 'N';
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Delete ('D') at offset 5: tuple tag 0x4e (want 'K' or 'O')");
}

static void test_truncate_message_other(void)
{
	struct buf w = {0};
	u8(&w, 'T');
	u32(&w, 3);
	u8(&w, SL_PGO_TRUNCATE_CASCADE | SL_PGO_TRUNCATE_RESTART_IDENTITY);
	u32(&w, 16393);
	u32(&w, 16401);
	u32(&w, 0xfffffffe);
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_TRUNCATE && MSG.truncate.n_rels == 3 && MSG.truncate.options == 3);
	CHECK_EQ_U(sl_pgo_truncate_oid(&MSG, 0), 16393);
	CHECK_EQ_U(sl_pgo_truncate_oid(&MSG, 1), 16401);
	CHECK_EQ_U(sl_pgo_truncate_oid(&MSG, 2), 0xfffffffe);
	check_truncations(&w, __LINE__);
	/* A count far past the bytes there (4 * n overflows 32 bits). */
	w.b[1] = 0x40, w.b[2] = 0, w.b[3] = 0, w.b[4] = 1;
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR, "pgoutput Truncate ('T') at offset 1: truncated: 1073741825 relation OIDs "
		       "need 4294967300 bytes, 12 left");
	w.n = 0;
	u8(&w, 'T');
	u32(&w, 0);
	u8(&w, 0);
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.truncate.n_rels == 0 && MSG.truncate.options == 0);

	w.n = 0;
	u8(&w, 'M');
	u8(&w, 1);
	u64(&w, 0x194BEB0);
	str(&w, "sluice-capture");
	u32(&w, 4);
	bytes(&w, "e\0d!", 4);
	CHECK_EQ_I(parse(&w), 0);
	CHECK(MSG.type == SL_PGO_MESSAGE && MSG.message.flags == 1 &&
	      MSG.message.lsn == 0x194BEB0 && MSG.message.prefix_len == 14 &&
	      MSG.message.content_len == 4 && memcmp(MSG.message.content, "e\0d!", 4) == 0);
	CHECK_STR(MSG.message.prefix, "sluice-capture");
	check_truncations(&w, __LINE__);
	w.b[w.n - 5] = 5;
	CHECK_EQ_I(parse(&w), -EINVAL);
	CHECK_STR(ERR,
		  "pgoutput Message ('M') at offset 25: truncated: content of 5 bytes, 4 left");

	/* Unknown types, and the later protocol versions' messages. */
	w.n = 0;
	u8(&w, 'S');
	u32(&w, 1);
	u8(&w, 1);
	CHECK_EQ_I(parse(&w), -ENOTSUP);
	CHECK_STR(ERR, "pgoutput message at offset 0: Stream Start ('S', protocol version 2) is "
		       "not supported: sluice asks for proto_version 1, without streaming or "
		       "two_phase");
	static const char later[] = "SEcAbPKrp";
	for (const char *t = later; *t; t++) {
		w.b[0] = (uint8_t)*t;
		CHECKF(parse(&w) == -ENOTSUP, "%c", *t);
	}
	for (unsigned t = 0; t < 256; t++) {
		w.b[0] = (uint8_t)t;
		int rc = parse_n(&w, 1);
		if (strchr("BCORYIUDTM", (int)t) && t)
			CHECKF(rc == -EINVAL && strstr(ERR, "truncated"), "0x%02x: %s", t, ERR);
		else if (strchr(later, (int)t) && t)
			CHECKF(rc == -ENOTSUP, "0x%02x: %s", t, ERR);
		else
			CHECKF(rc == -EINVAL && strstr(ERR, "unknown message type"), "0x%02x: %s",
			       t, ERR);
	}
	w.b[0] = 0x01;
	CHECK_EQ_I(parse_n(&w, 1), -EINVAL);
	CHECK_STR(ERR, "pgoutput message at offset 0: unknown message type 0x01");
	CHECK_EQ_I(parse_n(&w, 0), -EINVAL);
	CHECK_STR(ERR, "pgoutput message at offset 0: empty message");
}

/* ---- types and values ----------------------------------------------------------------- */

/* numeric(p,s)'s typmod (the scale an 11-bit two's complement number). */
#define NUMERIC_TYPMOD(p, s) ((int32_t)((((uint32_t)(p) << 16) | ((uint32_t)(s)&0x7ffu)) + 4u))

static void test_type_map(void)
{
	/* clang-format off */
	static const struct {
		uint32_t oid;
		int32_t typmod;
		enum sl_type t;
		uint8_t p, s;
	} cases[] = {
		{SL_PG_INT2, -1, SL_T_INT, 0, 0},
		{SL_PG_INT4, -1, SL_T_INT, 0, 0},
		{SL_PG_INT8, -1, SL_T_BIGINT, 0, 0},
		{SL_PG_OID, -1, SL_T_BIGINT, 0, 0},
		{SL_PG_FLOAT4, -1, SL_T_FLOAT, 0, 0},
		{SL_PG_FLOAT8, -1, SL_T_DOUBLE, 0, 0},
		{SL_PG_BOOL, -1, SL_T_BOOL, 0, 0},
		{SL_PG_DATE, -1, SL_T_DATE, 0, 0},
		{SL_PG_TIMESTAMP, -1, SL_T_TIMESTAMP, 3, 0},
		{SL_PG_TIMESTAMP, 0, SL_T_TIMESTAMP, 0, 0},
		{SL_PG_TIMESTAMP, 2, SL_T_TIMESTAMP, 2, 0},
		{SL_PG_TIMESTAMP, 6, SL_T_TIMESTAMP, 3, 0},
		{SL_PG_TIMESTAMPTZ, -1, SL_T_TIMESTAMP_LTZ, 3, 0},
		{SL_PG_TIMESTAMPTZ, 1, SL_T_TIMESTAMP_LTZ, 1, 0},
		{SL_PG_NUMERIC, -1, SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(12, 3), SL_T_DECIMAL, 12, 3},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(18, 18), SL_T_DECIMAL, 18, 18},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(1, 0), SL_T_DECIMAL, 1, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(19, 2), SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(30, 5), SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(1000, 0), SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(5, -2), SL_T_DECIMAL, 7, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(17, -2), SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(2, 4), SL_T_DECIMAL, 4, 4},
		{SL_PG_NUMERIC, NUMERIC_TYPMOD(2, 19), SL_T_DOUBLE, 0, 0},
		{SL_PG_NUMERIC, 3, SL_T_DOUBLE, 0, 0},
		{SL_PG_TEXT, -1, SL_T_STRING, 0, 0},
		{SL_PG_VARCHAR, 24, SL_T_STRING, 0, 0},
		{SL_PG_BPCHAR, 9, SL_T_STRING, 0, 0},
		{SL_PG_NAME, -1, SL_T_STRING, 0, 0},
		{SL_PG_CHAR, -1, SL_T_STRING, 0, 0},
		{SL_PG_JSON, -1, SL_T_STRING, 0, 0},
		{SL_PG_JSONB, -1, SL_T_STRING, 0, 0},
		{SL_PG_UUID, -1, SL_T_STRING, 0, 0},
		{SL_PG_BYTEA, -1, SL_T_STRING, 0, 0},
		{SL_PG_TIME, -1, SL_T_STRING, 0, 0},
		{SL_PG_TIMETZ, -1, SL_T_STRING, 0, 0},
		{SL_PG_INTERVAL, -1, SL_T_STRING, 0, 0},
		{1007, -1, SL_T_STRING, 0, 0}, /* int4[] */
		{16387, -1, SL_T_STRING, 0, 0}, /* an enum */
		{0, -1, SL_T_STRING, 0, 0},
	};
	/* clang-format on */
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		struct sl_field f = {.name = "x", .not_null = true, .precision = 99, .scale = 99};
		sl_pg_field_of(cases[i].oid, cases[i].typmod, &f);
		CHECKF(f.type == cases[i].t && f.precision == cases[i].p && f.scale == cases[i].s &&
			   f.not_null && strcmp(f.name, "x") == 0,
		       "oid %u typmod %d: %s(%u,%u)", cases[i].oid, cases[i].typmod,
		       sl_type_name(f.type), f.precision, f.scale);
		CHECK(sl_pg_type_of(cases[i].oid, cases[i].typmod) == cases[i].t);
	}
	CHECK_STR(sl_pg_type_name(SL_PG_TIMESTAMPTZ), "timestamptz");
	CHECK(sl_pg_type_name(16387) == NULL);
	CHECK_STR(sl_pgo_type_name('Y'), "Type");
	CHECK_STR(sl_pgo_type_name('x'), "unknown");
}

static struct sl_batch *B;
static struct sl_schema VS;

/* Parses text into column col (row 0) of B; returns the rc. */
static int val(uint32_t col, uint32_t oid, const char *text)
{
	B->n_rows = 0;
	sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	sl_batch_set_null(B, col, 0);
	ERR[0] = '\0';
	size_t n = strlen(text);
	/* An exact-size copy: nothing may read past it. */
	char *p = malloc(n ? n : 1);
	memcpy(p, text, n);
	int rc = sl_pg_text_value(B, col, 0, oid, p, (uint32_t)n, ERR, sizeof(ERR));
	free(p);
	if (rc == 0)
		CHECK(sl_batch_is_valid(B, col, 0));
	else
		CHECKF(!sl_batch_is_valid(B, col, 0) && ERR[0] && !strchr(ERR, '\n'), "%s: %s",
		       text, ERR);
	return rc;
}

#define V_I(col, oid, text, want)                                                                  \
	do {                                                                                       \
		int rc_ = val(col, oid, text);                                                     \
		CHECKF(rc_ == 0 && B->cols[col].v[0].i == (int64_t)(want), "'%s': rc %d %s, %lld", \
		       text, rc_, ERR, (long long)B->cols[col].v[0].i);                            \
	} while (0)
#define V_F(col, oid, text, want)                                                                  \
	do {                                                                                       \
		int rc_ = val(col, oid, text);                                                     \
		double g_ = B->cols[col].v[0].f, w_ = (want);                                      \
		CHECKF(rc_ == 0 && (g_ == w_ || (isnan(g_) && isnan(w_))) &&                       \
			   signbit(g_) == signbit(w_),                                             \
		       "'%s': rc %d %s, %.17g", text, rc_, ERR, g_);                               \
	} while (0)
#define V_ERR(col, oid, text, want_rc, want_err)                                                   \
	do {                                                                                       \
		int rc_ = val(col, oid, text);                                                     \
		CHECKF(rc_ == (want_rc) && strcmp(ERR, want_err) == 0, "'%s': rc %d \"%s\"", text, \
		       rc_, ERR);                                                                  \
	} while (0)

enum { C_INT, C_BIG, C_F4, C_F8, C_DEC, C_BOOL, C_DATE, C_TS, C_LTZ, C_STR, C_DEC0 };

/* Milliseconds since the epoch of a UTC civil time. */
static int64_t ms_of(int64_t y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s,
		     unsigned ms)
{
	return sl_days_from_civil(y, mo, d) * 86400000ll + h * 3600000ll + mi * 60000ll +
	       s * 1000ll + ms;
}

static void test_values(void)
{
	/* clang-format off */
	static const struct {
		const char *name;
		enum sl_type t;
		uint8_t p, s;
	} cols[] = {{"i", SL_T_INT},      {"l", SL_T_BIGINT},  {"f4", SL_T_FLOAT},
		    {"f8", SL_T_DOUBLE},  {"dec", SL_T_DECIMAL, 12, 3}, {"b", SL_T_BOOL},
		    {"d", SL_T_DATE},     {"ts", SL_T_TIMESTAMP, 3}, {"ltz", SL_T_TIMESTAMP_LTZ, 3},
		    {"s", SL_T_STRING},   {"dec0", SL_T_DECIMAL, 18, 0}};
	/* clang-format on */
	VS.n_fields = 0;
	for (size_t i = 0; i < SL_ARRAY_LEN(cols); i++) {
		REQUIRE(sl_schema_add(&VS, cols[i].name, cols[i].t, false) == 0);
		VS.fields[i].precision = cols[i].p;
		VS.fields[i].scale = cols[i].s;
	}
	sl_batch_reset(B, &VS);

	V_I(C_INT, SL_PG_INT4, "-2147483648", INT32_MIN);
	V_I(C_INT, SL_PG_INT2, "32767", 32767);
	V_ERR(C_INT, SL_PG_INT4, "2147483648", -ERANGE,
	      "column i (int4): '2147483648' is out of range for INT");
	V_ERR(C_INT, SL_PG_INT4, "12a", -EINVAL, "column i (int4): '12a' is not a value of INT");
	V_ERR(C_INT, SL_PG_INT4, "", -EINVAL, "column i (int4): '' is not a value of INT");
	V_I(C_BIG, SL_PG_INT8, "-9223372036854775808", INT64_MIN);
	V_I(C_BIG, SL_PG_INT8, "9223372036854775807", INT64_MAX);
	V_ERR(C_BIG, SL_PG_INT8, "9223372036854775808", -ERANGE,
	      "column l (int8): '9223372036854775808' is out of range for BIGINT");
	V_I(C_BIG, SL_PG_OID, "4294967295", 4294967295ll);
	V_ERR(C_BIG, SL_PG_NUMERIC, "1.5", -EINVAL,
	      "column l (numeric): '1.5' is not a value of BIGINT");

	V_F(C_F8, SL_PG_FLOAT8, "0.1", 0.1);
	V_F(C_F8, SL_PG_FLOAT8, "-1.7976931348623157e+308", -1.7976931348623157e308);
	V_F(C_F8, SL_PG_FLOAT8, "4.9e-324", 4.9e-324);
	V_F(C_F8, SL_PG_FLOAT8, "-0", -0.0);
	V_F(C_F8, SL_PG_FLOAT8, "Infinity", INFINITY);
	V_F(C_F8, SL_PG_FLOAT8, "-Infinity", -INFINITY);
	V_F(C_F8, SL_PG_FLOAT8, "NaN", NAN);
	V_F(C_F8, SL_PG_NUMERIC, "NaN", NAN);
	V_F(C_F8, SL_PG_NUMERIC, "1234567890123456789012345.12345",
	    1234567890123456789012345.12345);
	V_F(C_F8, SL_PG_NUMERIC, "0.00000000000000000001", 1e-20);
	V_ERR(C_F8, SL_PG_FLOAT8, "inf", -EINVAL,
	      "column f8 (float8): 'inf' is not a value of DOUBLE");
	V_ERR(C_F8, SL_PG_FLOAT8, "0x10", -EINVAL,
	      "column f8 (float8): '0x10' is not a value of DOUBLE");
	V_ERR(C_F8, SL_PG_FLOAT8, " 1", -EINVAL,
	      "column f8 (float8): ' 1' is not a value of DOUBLE");
	V_ERR(C_F8, SL_PG_FLOAT8, "1e", -EINVAL,
	      "column f8 (float8): '1e' is not a value of DOUBLE");
	{
		/* A numeric of 600 digits is no DOUBLE (out of range of the reader). */
		char many[601];
		memset(many, '9', 600);
		many[600] = '\0';
		CHECK_EQ_I(val(C_F8, SL_PG_NUMERIC, many), -ERANGE);
		CHECK(strstr(ERR, "'9999999999999999999999999999999999999999...' is out of range"));
	}
	V_F(C_F4, SL_PG_FLOAT4, "3.4028235e+38", (double)3.4028235e38f);
	V_F(C_F4, SL_PG_FLOAT4, "0.1", (double)0.1f);
	V_F(C_F4, SL_PG_FLOAT4, "-Infinity", -INFINITY);
	V_ERR(C_F4, SL_PG_FLOAT8, "1e39", -ERANGE,
	      "column f4 (float8): '1e39' is out of range for FLOAT");

	V_I(C_DEC, SL_PG_NUMERIC, "12345.678", 12345678);
	V_I(C_DEC, SL_PG_NUMERIC, "-999999999.999", -999999999999ll);
	V_I(C_DEC, SL_PG_NUMERIC, "1.0005", 1001); /* half up */
	V_I(C_DEC, SL_PG_INT4, "7", 7000);
	V_ERR(C_DEC, SL_PG_NUMERIC, "1000000000.000", -ERANGE,
	      "column dec (numeric): '1000000000.000' is out of range for DECIMAL(12,3)");
	V_ERR(C_DEC, SL_PG_NUMERIC, "NaN", -EINVAL,
	      "column dec (numeric): 'NaN' has no DECIMAL value");
	V_ERR(C_DEC, SL_PG_NUMERIC, "-Infinity", -EINVAL,
	      "column dec (numeric): '-Infinity' has no DECIMAL value");
	V_ERR(C_DEC, SL_PG_NUMERIC, "1,5", -EINVAL,
	      "column dec (numeric): '1,5' is not a value of DECIMAL(12,3)");
	V_I(C_DEC0, SL_PG_NUMERIC, "999999999999999999", 999999999999999999ll);

	V_I(C_BOOL, SL_PG_BOOL, "t", 1);
	V_I(C_BOOL, SL_PG_BOOL, "f", 0);
	V_I(C_BOOL, SL_PG_TEXT, "TRUE", 1);
	V_ERR(C_BOOL, SL_PG_BOOL, "y", -EINVAL, "column b (bool): 'y' is not a value of BOOLEAN");

	V_I(C_DATE, SL_PG_DATE, "1970-01-01", 0);
	V_I(C_DATE, SL_PG_DATE, "2024-02-29", 19782);
	V_I(C_DATE, SL_PG_DATE, "0001-01-01", -719162);
	V_I(C_DATE, SL_PG_DATE, "0001-12-31 BC", -719163);    /* year 0 */
	V_I(C_DATE, SL_PG_DATE, "0044-03-15 BC", -735160);    /* year -43 */
	V_I(C_DATE, SL_PG_DATE, "4714-11-24 BC", -2440588);   /* PostgreSQL's first day */
	V_I(C_DATE, SL_PG_DATE, "5874897-12-31", 2145042905); /* and its last */
	V_I(C_DATE, SL_PG_DATE, "0005-02-29 BC", -720930);    /* year -4 is a leap year */
	V_ERR(C_DATE, SL_PG_DATE, "0004-02-29 BC", -EINVAL,
	      "column d (date): '0004-02-29 BC' is not a value of DATE");
	V_ERR(C_DATE, SL_PG_DATE, "infinity", -ERANGE,
	      "column d (date): 'infinity' (infinite) has no sluice value");
	V_ERR(C_DATE, SL_PG_DATE, "-infinity", -ERANGE,
	      "column d (date): '-infinity' (infinite) has no sluice value");
	V_ERR(C_DATE, SL_PG_DATE, "2023-02-29", -EINVAL,
	      "column d (date): '2023-02-29' is not a value of DATE");
	V_ERR(C_DATE, SL_PG_DATE, "0000-01-01 BC", -EINVAL,
	      "column d (date): '0000-01-01 BC' is not a value of DATE");
	V_ERR(C_DATE, SL_PG_TIMESTAMP, "2024-01-01 00:00:00", -EINVAL,
	      "column d (timestamp): '2024-01-01 00:00:00' is not a value of DATE");
	static const char *const bad_dates[] = {"24-01-01",
						"2024-1-01",
						"2024-01-1",
						"2024/01/01",
						"2024-01-01 ",
						"2024-01-01 bc",
						"12345678-01-01",
						"2024-13-01",
						"2024-00-10",
						"2024-01-00",
						"",
						NULL};
	for (int i = 0; bad_dates[i]; i++)
		CHECKF(val(C_DATE, SL_PG_DATE, bad_dates[i]) == -EINVAL, "'%s'", bad_dates[i]);

	V_I(C_TS, SL_PG_TIMESTAMP, "2024-01-31 12:34:56.789", ms_of(2024, 1, 31, 12, 34, 56, 789));
	V_I(C_TS, SL_PG_TIMESTAMP, "2024-01-31 12:34:56.789999",
	    ms_of(2024, 1, 31, 12, 34, 56, 789));
	V_I(C_TS, SL_PG_TIMESTAMP, "2024-01-31 12:34:56.7", ms_of(2024, 1, 31, 12, 34, 56, 700));
	V_I(C_TS, SL_PG_TIMESTAMP, "2024-01-31 12:34:56", ms_of(2024, 1, 31, 12, 34, 56, 0));
	V_I(C_TS, SL_PG_DATE, "2024-01-31", ms_of(2024, 1, 31, 0, 0, 0, 0));
	V_I(C_TS, SL_PG_TIMESTAMP, "1969-12-31 23:59:59.999999", -1);
	V_I(C_TS, SL_PG_TIMESTAMP, "0044-03-15 12:00:00 BC", ms_of(-43, 3, 15, 12, 0, 0, 0));
	V_I(C_TS, SL_PG_TIMESTAMP, "294276-12-31 23:59:59.999999",
	    ms_of(294276, 12, 31, 23, 59, 59, 999));
	/* timestamptz: any offset, the result in UTC. */
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "2024-01-31 12:34:56.789+00",
	    ms_of(2024, 1, 31, 12, 34, 56, 789));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "2024-01-31 18:04:56.789+05:30",
	    ms_of(2024, 1, 31, 12, 34, 56, 789));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "2024-01-31 09:34:56-03", ms_of(2024, 1, 31, 12, 34, 56, 0));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "2024-01-31 09:04:56.5-03:30",
	    ms_of(2024, 1, 31, 12, 34, 56, 500));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "1900-01-01 05:53:28+05:53:28",
	    ms_of(1900, 1, 1, 0, 0, 0, 0));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "2000-01-01 00:30:00+01", ms_of(1999, 12, 31, 23, 30, 0, 0));
	V_I(C_LTZ, SL_PG_TIMESTAMPTZ, "0044-03-15 12:00:00+00:53:28 BC",
	    ms_of(-43, 3, 15, 11, 6, 32, 0));
	V_I(C_TS, SL_PG_TIMESTAMPTZ, "2024-06-01 00:00:00+02", ms_of(2024, 5, 31, 22, 0, 0, 0));
	V_ERR(C_TS, SL_PG_TIMESTAMP, "infinity", -ERANGE,
	      "column ts (timestamp): 'infinity' (infinite) has no sluice value");
	V_ERR(C_LTZ, SL_PG_TIMESTAMPTZ, "-infinity", -ERANGE,
	      "column ltz (timestamptz): '-infinity' (infinite) has no sluice value");
	static const char *const bad_ts[] = {"2024-01-31T12:34:56",
					     "2024-01-31 12:34",
					     "2024-01-31 24:00:00",
					     "2024-01-31 12:60:00",
					     "2024-01-31 12:34:56.",
					     "2024-01-31 12:34:56.1234567890",
					     "2024-01-31 12:34:56+",
					     "2024-01-31 12:34:56+5",
					     "2024-01-31 12:34:56+05:3",
					     "2024-01-31 12:34:56+16",
					     "2024-01-31 12:34:56+05:60",
					     "2024-01-31 12:34:56Z",
					     "2024-01-31 12:34:56 +00",
					     "2024-01-31 12:34:56+00 BC ",
					     "2024-01-31 1:34:56",
					     "Wed Jan 31 12:34:56 2024",
					     "1706704496789",
					     NULL};
	for (int i = 0; bad_ts[i]; i++)
		CHECKF(val(C_LTZ, SL_PG_TIMESTAMPTZ, bad_ts[i]) == -EINVAL, "'%s': %s", bad_ts[i],
		       ERR);
	V_ERR(C_LTZ, SL_PG_TIMESTAMPTZ, "2024-01-31 12:34\n", -EINVAL,
	      "column ltz (timestamptz): '2024-01-31 12:34?' is not a value of TIMESTAMP_LTZ(3)");

	/* Strings as they are, any type; the heap's limits. */
	CHECK_EQ_I(val(C_STR, SL_PG_BYTEA, "\\x00ff"), 0);
	uint32_t n;
	const char *s = sl_batch_str(B, C_STR, 0, &n);
	CHECK(n == 6 && memcmp(s, "\\x00ff", 6) == 0);
	CHECK_EQ_I(val(C_STR, SL_PG_INT4, ""), 0);
	sl_batch_str(B, C_STR, 0, &n);
	CHECK_EQ_U(n, 0);
	B->heap_len = B->heap_cap - 3;
	CHECK_EQ_I(val(C_STR, SL_PG_TEXT, "abc"), 0);
	CHECK_EQ_U(B->heap_len, B->heap_cap);
	V_ERR(C_STR, SL_PG_TEXT, "d", -ENOBUFS, "column s: the batch's string heap is full");
	CHECK_EQ_U(B->heap_len, B->heap_cap);
	B->heap_len = 0;
	{
		uint32_t cap = B->heap_cap;
		char *huge = malloc(cap + 1);
		memset(huge, 'h', cap + 1);
		sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
		CHECK_EQ_I(
		    sl_pg_text_value(B, C_STR, 0, SL_PG_TEXT, huge, cap + 1, ERR, sizeof(ERR)),
		    -E2BIG);
		CHECK_STR(ERR, "column s: a value of 262145 bytes is larger than a batch's string "
			       "heap (262144 bytes)");
		CHECK_EQ_I(sl_pg_text_value(B, C_STR, 0, SL_PG_TEXT, huge, cap, ERR, sizeof(ERR)),
			   0);
		CHECK_EQ_U(B->heap_len, cap);
		free(huge);
		B->heap_len = 0;
	}
	/* A value of an unknown type into a typed column names the OID. */
	V_ERR(C_INT, 16387, "happy", -EINVAL,
	      "column i (type 16387): 'happy' is not a value of INT");
	/* Every prefix of a good timestamp is handled (ASan checks the reads). */
	const char *full = "294276-12-31 23:59:59.999999+05:53:28 BC";
	for (size_t k = 0; k <= strlen(full); k++) {
		char pre[64];
		memcpy(pre, full, k);
		pre[k] = '\0';
		(void)val(C_LTZ, SL_PG_TIMESTAMPTZ, pre);
	}
}

/* sl_pgo_relation_schema and sl_pgo_tuple_row. */
static void test_tuple_row(void)
{
	struct buf w = {0};
	u8(&w, 'R');
	u32(&w, 5);
	str(&w, "public");
	str(&w, "t");
	u8(&w, 'd');
	u16(&w, 4);
	static const struct {
		const char *name;
		uint32_t oid;
		int32_t typmod;
	} c[] = {{"id", SL_PG_INT8, -1},
		 {"amount", SL_PG_NUMERIC, (10 << 16 | 2) + 4},
		 {"note", SL_PG_TEXT, -1},
		 {"at", SL_PG_TIMESTAMPTZ, -1}};
	for (int i = 0; i < 4; i++) {
		u8(&w, i == 0);
		str(&w, c[i].name);
		u32(&w, c[i].oid);
		u32(&w, (uint32_t)c[i].typmod);
	}
	REQUIRE(parse(&w) == 0);
	static struct sl_pgo_relation rel;
	rel = MSG.relation;
	static struct sl_schema s;
	CHECK_EQ_I(sl_pgo_relation_schema(&rel, &s, ERR, sizeof(ERR)), 0);
	CHECK_EQ_U(s.n_fields, 4);
	char typ[32];
	sl_field_type_text(&s.fields[1], typ, sizeof(typ));
	CHECK_STR(typ, "DECIMAL(10,2)");
	sl_field_type_text(&s.fields[3], typ, sizeof(typ));
	CHECK_STR(typ, "TIMESTAMP_LTZ(3)");
	CHECK_STR(s.fields[2].name, "note");
	CHECK(!s.fields[0].not_null);

	w.n = 0;
	u8(&w, 'U');
	u32(&w, 5);
	u8(&w, 'N');
	u16(&w, 4);
	text_col(&w, "7");
	text_col(&w, "12.345");
	u8(&w, 'u');
	u8(&w, 'n');
	REQUIRE(parse(&w) == 0);
	sl_batch_reset(B, &s);
	uint32_t r = sl_batch_begin_row(B, SL_KIND_UPDATE_AFTER, 0, 0);
	uint64_t unchanged = 99;
	CHECK_EQ_I(
	    sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, NULL, &unchanged, ERR, sizeof(ERR)),
	    0);
	sl_batch_commit_row(B);
	CHECK_EQ_U(unchanged, 1u << 2);
	CHECK(sl_batch_is_valid(B, 0, 0) && B->cols[0].v[0].i == 7);
	CHECK(sl_batch_is_valid(B, 1, 0) && B->cols[1].v[0].i == 1235);
	CHECK(!sl_batch_is_valid(B, 2, 0) && !sl_batch_is_valid(B, 3, 0));

	/* A map: tuple column i to batch column map[i], -1 skipped. */
	static struct sl_schema s2;
	s2.n_fields = 0;
	REQUIRE(sl_schema_add(&s2, "note", SL_T_STRING, false) == 0);
	REQUIRE(sl_schema_add(&s2, "id", SL_T_STRING, false) == 0);
	sl_batch_reset(B, &s2);
	w.b[w.n - 2] = 't';
	w.b[w.n - 1] = 0;
	u8(&w, 0), u8(&w, 0), u8(&w, 2), bytes(&w, "hi", 2), u8(&w, 'n');
	REQUIRE(parse(&w) == 0);
	static const int16_t map[4] = {1, -1, 0, -1};
	r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	CHECK_EQ_I(sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, map, NULL, ERR, sizeof(ERR)),
		   0);
	uint32_t n;
	const char *p = sl_batch_str(B, 0, r, &n);
	CHECK(n == 2 && memcmp(p, "hi", 2) == 0);
	p = sl_batch_str(B, 1, r, &n);
	CHECK(n == 1 && p[0] == '7');

	/* Errors: a bad value names the column; binary; a tuple of the wrong width. */
	sl_batch_reset(B, &s);
	MSG.change.new_tuple.cols[1].p = "x";
	MSG.change.new_tuple.cols[1].len = 1;
	r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	CHECK_EQ_I(
	    sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, NULL, NULL, ERR, sizeof(ERR)),
	    -EINVAL);
	CHECK_STR(ERR, "column amount (numeric): 'x' is not a value of DECIMAL(10,2)");
	MSG.change.new_tuple.cols[1].kind = 'b';
	CHECK_EQ_I(
	    sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, NULL, NULL, ERR, sizeof(ERR)),
	    -ENOTSUP);
	CHECK_STR(ERR, "column amount: a binary value (the source asks for text)");
	MSG.change.new_tuple.n_cols = 3;
	CHECK_EQ_I(
	    sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, NULL, NULL, ERR, sizeof(ERR)),
	    -EINVAL);
	CHECK_STR(ERR, "relation \"public\".\"t\": a tuple of 3 columns, the relation has 4");

	/* Duplicate column names from the wire. */
	strcpy(rel.cols[1].name, "id");
	CHECK_EQ_I(sl_pgo_relation_schema(&rel, &s, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "relation \"public\".\"t\": column \"id\": named twice");
	/* A column name with a newline, in a value's error. */
	strcpy(rel.cols[1].name, "am\nount");
	CHECK_EQ_I(sl_pgo_relation_schema(&rel, &s, ERR, sizeof(ERR)), 0);
	sl_batch_reset(B, &s);
	MSG.change.new_tuple.n_cols = 4;
	MSG.change.new_tuple.cols[1].kind = 't';
	r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	CHECK_EQ_I(
	    sl_pgo_tuple_row(B, r, &rel, &MSG.change.new_tuple, NULL, NULL, ERR, sizeof(ERR)),
	    -EINVAL);
	CHECK_STR(ERR, "column am?ount (numeric): 'x' is not a value of DECIMAL(10,2)");
}

/* ---- streams captured from a real server ---------------------------------------------- */

/* capture.py's big TOASTed value: BIG_LEN letters from a 64-bit LCG. */
#define BIG_LEN 20000u
static char BIG[BIG_LEN];

static void make_big(void)
{
	uint64_t s = 42;
	for (uint32_t i = 0; i < BIG_LEN; i++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		BIG[i] = (char)('a' + (s >> 33) % 26);
	}
}

struct frames {
	uint32_t n;
	uint8_t *p[256];
	size_t len[256];
	uint32_t oid_all, oid_full, oid_mood;
};

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Reads a capture: '#' lines (the "# oids:" one parsed), then one hex frame per line. */
static bool load_frames(const char *dir, const char *name, struct frames *f)
{
	char path[4300];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return false;
	static char line[1 << 17];
	memset(f, 0, sizeof(*f));
	while (fgets(line, sizeof(line), fp)) {
		size_t n = strcspn(line, "\r\n");
		line[n] = '\0';
		if (line[0] == '#') {
			if (strncmp(line, "# oids: ", 8) == 0)
				REQUIRE(sscanf(line, "# oids: t_all=%u t_full=%u mood=%u",
					       &f->oid_all, &f->oid_full, &f->oid_mood) == 3);
			continue;
		}
		REQUIRE(n % 2 == 0 && f->n < SL_ARRAY_LEN(f->p));
		uint8_t *b = malloc(n / 2 ? n / 2 : 1);
		REQUIRE(b);
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
			REQUIRE(hi >= 0 && lo >= 0);
			b[i] = (uint8_t)(hi << 4 | lo);
		}
		f->p[f->n] = b;
		f->len[f->n++] = n / 2;
	}
	fclose(fp);
	REQUIRE(f->oid_all && f->oid_full && f->oid_mood);
	return true;
}

static void free_frames(struct frames *f)
{
	for (uint32_t i = 0; i < f->n; i++)
		free(f->p[i]);
}

/* Appends printf output to a growing transcript. */
struct text {
	char *s;
	size_t n, cap;
};
static void out(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		va_start(ap, fmt);
		int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
		va_end(ap);
		REQUIRE(k >= 0);
		if ((size_t)k < t->cap - t->n) {
			t->n += (size_t)k;
			return;
		}
		t->cap = t->cap * 2 + (size_t)k + 64;
		t->s = realloc(t->s, t->cap);
		REQUIRE(t->s);
	}
}

struct rel_cache {
	uint32_t n;
	struct sl_pgo_relation rel[4];
	struct sl_schema schema[4];
};

static int find_rel(const struct rel_cache *rc, uint32_t oid)
{
	for (uint32_t i = 0; i < rc->n; i++)
		if (rc->rel[i].oid == oid)
			return (int)i;
	return -1;
}

/* A tuple as sluice values: (1, 'a', NULL, UNCHANGED, ...). */
static void out_tuple(struct text *t, const struct sl_pgo_relation *rel, const struct sl_schema *s,
		      const struct sl_pgo_tuple *tu)
{
	sl_batch_reset(B, s);
	uint32_t r = sl_batch_begin_row(B, SL_KIND_INSERT, 0, 0);
	uint64_t unchanged;
	int rc = sl_pgo_tuple_row(B, r, rel, tu, NULL, &unchanged, ERR, sizeof(ERR));
	if (rc < 0) {
		out(t, "ERROR %s", ERR);
		return;
	}
	out(t, "(");
	for (uint32_t c = 0; c < s->n_fields; c++) {
		if (c)
			out(t, ", ");
		if (unchanged >> c & 1) {
			out(t, "UNCHANGED");
		} else if (!sl_batch_is_valid(B, c, r)) {
			out(t, "NULL");
		} else if (s->fields[c].type == SL_T_STRING) {
			uint32_t n;
			const char *p = sl_batch_str(B, c, r, &n);
			if (n == BIG_LEN && memcmp(p, BIG, BIG_LEN) == 0) {
				out(t, "BIG");
				continue;
			}
			out(t, "'");
			for (uint32_t i = 0; i < n; i++) {
				char ch = p[i];
				if (ch == '\t')
					out(t, "\\t");
				else if (ch == '\n')
					out(t, "\\n");
				else if (ch == '\\' || ch == '\'')
					out(t, "\\%c", ch);
				else
					out(t, "%c", ch);
			}
			out(t, "'");
		} else {
			char buf[64];
			sl_value_format_field(&s->fields[c], B->cols[c].v[r], buf);
			out(t, "%s", buf);
		}
	}
	out(t, ")");
}

/* Decodes a captured stream into a transcript, one line per message, checking
 * what holds for every frame on the way. */
static void replay(const struct frames *f, struct text *t, unsigned *n_keepalive, bool *last_reply)
{
	static struct rel_cache rc;
	struct sl_pgo_copydata cd;
	uint64_t begin_lsn = 0, last_end = 0;
	int64_t begin_time = 0;
	uint32_t last_xid = 0;
	bool in_txn = false;
	char typ[32];
	rc.n = 0;
	for (uint32_t i = 0; i < f->n; i++) {
		int r = sl_pgo_parse_copydata(f->p[i], f->len[i], &cd, ERR, sizeof(ERR));
		CHECKF(r == 0, "frame %u: %s", i, ERR);
		if (r < 0)
			continue;
		if (cd.kind == 'k') {
			CHECKF(cd.wal_end >= last_end, "frame %u: keepalive went back", i);
			last_end = cd.wal_end;
			/* How many the server sends depends on timing: counted, not printed. */
			(*n_keepalive)++;
			*last_reply = cd.reply_requested;
			continue;
		}
		r = sl_pgo_parse(cd.payload, cd.payload_len, &MSG, ERR, sizeof(ERR));
		CHECKF(r == 0, "frame %u: %s", i, ERR);
		if (r < 0)
			continue;
		/* Only the last message a callback writes carries the LSNs. */
		if (MSG.type == 'R' || MSG.type == 'Y')
			CHECKF(cd.wal_start == 0 && cd.wal_end == 0, "frame %u", i);
		else if (MSG.type != 'B')
			CHECKF(cd.wal_start != 0 && cd.wal_end >= cd.wal_start, "frame %u", i);
		switch (MSG.type) {
		case 'B':
			CHECK(!in_txn && MSG.begin.xid > last_xid);
			in_txn = true;
			last_xid = MSG.begin.xid;
			begin_lsn = MSG.begin.final_lsn;
			begin_time = MSG.begin.commit_time_us;
			out(t, "B\n");
			break;
		case 'C':
			CHECKF(in_txn && MSG.commit.flags == 0 &&
				   MSG.commit.commit_lsn == begin_lsn &&
				   MSG.commit.end_lsn > begin_lsn &&
				   MSG.commit.commit_time_us == begin_time &&
				   cd.wal_start == MSG.commit.end_lsn,
			       "frame %u", i);
			/* 2024-01-01 or later (the origin's is 2024-02-01 exactly). */
			CHECK(MSG.commit.commit_time_us >= 757382400000000ll);
			in_txn = false;
			out(t, "C%s\n", begin_time == 760060800000000ll ? " at 2024-02-01" : "");
			break;
		case 'O':
			CHECK(in_txn);
			out(t, "O %s %llX\n", MSG.origin.name,
			    (unsigned long long)MSG.origin.commit_lsn);
			break;
		case 'Y':
			CHECK(MSG.pgtype.oid == f->oid_mood);
			out(t, "Y %s.%s\n", MSG.pgtype.nspname, MSG.pgtype.name);
			break;
		case 'R': {
			const struct sl_pgo_relation *rel = &MSG.relation;
			CHECK(rel->oid == f->oid_all || rel->oid == f->oid_full);
			int k = find_rel(&rc, rel->oid);
			if (k < 0) {
				REQUIRE(rc.n < SL_ARRAY_LEN(rc.rel));
				k = (int)rc.n++;
			}
			rc.rel[k] = *rel;
			CHECK(sl_pgo_relation_schema(rel, &rc.schema[k], ERR, sizeof(ERR)) == 0);
			out(t, "R %s.%s %c", rel->nspname, rel->relname, rel->replident);
			for (uint32_t c = 0; c < rel->n_cols; c++) {
				sl_field_type_text(&rc.schema[k].fields[c], typ, sizeof(typ));
				out(t, "%s%s%s %s", c ? ", " : " ", rel->cols[c].name,
				    rel->cols[c].flags & SL_PGO_COL_KEY ? "*" : "", typ);
			}
			out(t, "\n");
			break;
		}
		case 'I':
		case 'U':
		case 'D': {
			const struct sl_pgo_change *c = &MSG.change;
			int k = find_rel(&rc, c->rel_oid);
			CHECK(in_txn && k >= 0);
			if (k < 0)
				break;
			out(t, "%c %s", MSG.type, rc.rel[k].relname);
			if (c->old_kind) {
				out(t, " %c", c->old_kind);
				out_tuple(t, &rc.rel[k], &rc.schema[k], &c->old_tuple);
			}
			if (c->has_new) {
				out(t, " N");
				out_tuple(t, &rc.rel[k], &rc.schema[k], &c->new_tuple);
			}
			out(t, "\n");
			break;
		}
		case 'T':
			out(t, "T %u", MSG.truncate.options);
			for (uint32_t k = 0; k < MSG.truncate.n_rels; k++) {
				uint32_t oid = sl_pgo_truncate_oid(&MSG, k);
				out(t, " %s",
				    oid == f->oid_all	 ? "t_all"
				    : oid == f->oid_full ? "t_full"
							 : "?");
			}
			out(t, "\n");
			break;
		case 'M':
			out(t, "M %u %s '%.*s'\n", MSG.message.flags, MSG.message.prefix,
			    (int)MSG.message.content_len, (const char *)MSG.message.content);
			CHECK(cd.wal_start == MSG.message.lsn);
			break;
		default:
			CHECKF(false, "frame %u: type %c", i, MSG.type);
		}
		/* Every prefix of a real message fails cleanly (all of them for small
		 * messages, the ends and a stride of the middle for the big ones). */
		struct buf *w = malloc(sizeof(*w));
		REQUIRE(w && cd.payload_len <= sizeof(w->b));
		memcpy(w->b, cd.payload, cd.payload_len);
		for (size_t n = 0; n < cd.payload_len;
		     n += (n < 512 || n + 512 > cd.payload_len) ? 1 : 97) {
			int rc2 = parse_n(w, n);
			CHECKF(rc2 < 0 && err_ok(ERR), "frame %u prefix %zu: %d %s", i, n, rc2,
			       ERR);
		}
		free(w);
	}
	CHECK(!in_txn);
}

/* What the capture wrote (capture.py CHANGES), as sluice values: timestamps in UTC
 * whatever the walsender's TimeZone, numeric(30,5) and numeric as DOUBLE, bpchar
 * padded, jsonb normalised, bytea in hex, the TOASTed value BIG and, where the
 * server did not send it, UNCHANGED; key-only old images have NULLs elsewhere. */
/* clang-format off */
#define NULL1 "NULL"
#define NULL3 NULL1 ", " NULL1 ", " NULL1
#define NULL7 NULL3 ", " NULL3 ", " NULL1
#define NULL15 NULL7 ", " NULL7 ", " NULL1
#define NULL21 NULL7 ", " NULL7 ", " NULL7
#define NULL22 NULL21 ", " NULL1
#define NULL23 NULL22 ", " NULL1
#define ROW1_A "1, 12, 9000000000, 12345.678, 3.141592653589793, 1.2345678901234568e+24, 1.5, "
#define ROW1_B \
	", 'varchar', 'ab   ', 'pg_name', true, 2024-01-31, 2024-01-31 12:34:56.789, " \
	"2024-01-31 12:34:56.789, 2024-01-31 12:34:56.789, '{\"a\": [1, 2]}', " \
	"'{\"a\": 1, \"b\": {\"c\": null}}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', " \
	"'\\\\x00ff10', 'happy', '{1,2,3}', "
#define ROW3 \
	"3, -32768, -9223372036854775808, -999999999.999, NaN, -0.00001, Infinity, -Infinity, " \
	"'tab\\there\\nnewline \\'quote\\' \"dq\" \\\\ \u00e4\u20ac\U0001F600', '', 'abcde', " \
	"'', false, -043-03-15, 1900-01-01 00:00:00.000, 1969-12-31 23:59:59.999, " \
	"1900-01-01 00:00:00.000, '[]', '[]', '00000000-0000-0000-0000-000000000000', " \
	"'\\\\x', 'sad', '{}', ''"
#define ROW4 \
	"4, 32767, 9223372036854775807, 0.000, 1e-20, 0.0, 3.4028235e+38, " \
	"-1.7976931348623157e+308, 'four', 'x', 'a    ', 'n', true, 294276-12-31, " \
	"294276-12-31 23:59:59.999, 2000-02-29 00:00:00.000, 2000-06-15 06:30:00.500, 'null', " \
	"'null', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\\\\xdeadbeef', 'ok', '{NULL,-1}', " \
	"'four'"
#define COLS_A(k) \
	"id* INT, c_i2" k " INT, c_i8" k " BIGINT, c_num" k " DECIMAL(12,3), c_numu" k \
	" DOUBLE, c_numbig" k " DOUBLE, c_f4" k " FLOAT, c_f8" k " DOUBLE, c_text" k \
	" STRING, c_vc" k " STRING, c_bpc" k " STRING, c_name" k " STRING, c_bool" k \
	" BOOLEAN, c_date" k " DATE, c_ts" k " TIMESTAMP(3), c_ts6" k " TIMESTAMP(3), c_tstz" k \
	" TIMESTAMP_LTZ(3), c_json" k " STRING, c_jsonb" k " STRING, c_uuid" k " STRING, " \
	"c_bytea" k " STRING, c_mood" k " STRING"
#define R_ALL "R public.t_all d " COLS_A("") ", c_arr STRING, c_big STRING"
#define R_FULL "R public.t_full f " COLS_A("*") ", c_arr* STRING, c_big* STRING"
#define R_ALL_ALTERED "R public.t_all d " COLS_A("") ", c_big STRING, c_added INT"

static const char *const WANT[] = {
	"M 0 sluice-capture 'nontx'",
	"B", "Y public.mood", R_ALL, "I t_all N(" ROW1_A "0.1, 'hello'" ROW1_B "'small')", "C",
	"B", "I t_all N(2, " NULL23 ")", "C",
	"B", "I t_all N(" ROW3 ")", "C",
	"B",
	"I t_all N(" ROW4 ")",
	"I t_all N(5, " NULL7 ", 'five', " NULL15 ")",
	"U t_all N(" ROW1_A "0.1, 'hello, world'" ROW1_B "'small')",
	"U t_all K(5, " NULL23 ") N(50, " NULL7 ", 'five', " NULL15 ")",
	"D t_all K(4, " NULL23 ")",
	"C",
	"B", "I t_all N(6, " NULL22 ", BIG)", "C",
	"B", "U t_all N(6, 7, " NULL21 ", UNCHANGED)", "C",
	"B", "Y public.mood", R_FULL,
	"I t_full N(" ROW1_A "0.1, 'hello'" ROW1_B "BIG)",
	"U t_full O(" ROW1_A "0.1, 'hello'" ROW1_B "BIG) N(" ROW1_A "2.5, 'hello'" ROW1_B
	"UNCHANGED)",
	"D t_full O(" ROW1_A "2.5, 'hello'" ROW1_B "BIG)",
	"C",
	"B", "I t_all NERROR column c_date (date): '-infinity' (infinite) has no sluice value", "C",
	"B", "Y public.mood", R_ALL, "Y public.mood", R_FULL, "T 3 t_all t_full", "C",
	"B", "O sluice-origin 12345678", "Y public.mood", R_FULL,
	"I t_full N(100, " NULL7 ", 'from origin', " NULL15 ")", "C at 2024-02-01",
	"B", "Y public.mood", R_ALL_ALTERED, "I t_all N(8, " NULL22 ", 42)", "C",
	"B", "M 1 sluice-capture 'end'", "C",
	NULL,
};
/* clang-format on */

/* The transcript against WANT, line by line. */
static void check_transcript(const char *name, const char *t)
{
	int i = 0;
	for (const char *line = t; *line; i++) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line);
		if (!WANT[i]) {
			check_report(__FILE__, __LINE__);
			fprintf(stderr, "%s: extra line %d: %.*s\n", name, i + 1, (int)n, line);
			return;
		}
		if (strlen(WANT[i]) != n || memcmp(WANT[i], line, n) != 0) {
			check_report(__FILE__, __LINE__);
			fprintf(stderr, "%s: line %d\n  got:  %.*s\n  want: %s\n", name, i + 1,
				(int)n, line, WANT[i]);
			return;
		}
		line += n + (nl != NULL);
	}
	CHECKF(WANT[i] == NULL, "%s: %d lines, want more: %s", name, i, WANT[i]);
}

static const char *fixture_dir(const char *arg)
{
	static char dir[4200];
	const char *env = getenv("SLUICE_SRC");
	char probe[4300];
	if (arg)
		return arg;
	if (env) {
		snprintf(dir, sizeof(dir), "%s/tests/unit/pgoutput", env);
		return dir;
	}
	/* __FILE__ is relative to the build directory, which holds this binary's directory. */
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	const char *src = __FILE__;
	const char *slash = strrchr(src, '/');
	int srclen = slash ? (int)(slash - src) : 0;
	if (src[0] == '/') {
		snprintf(dir, sizeof(dir), "%.*s/pgoutput", srclen, src);
		return dir;
	}
	if (n > 0) {
		exe[n] = '\0';
		char *e = strrchr(exe, '/');
		for (int up = 0; e && up < 3; up++) {
			*e = '\0';
			snprintf(dir, sizeof(dir), "%s/%.*s/pgoutput", exe, srclen, src);
			snprintf(probe, sizeof(probe), "%s/stream-utc.hex", dir);
			if (access(probe, R_OK) == 0)
				return dir;
			e = strrchr(exe, '/');
		}
	}
	return "tests/unit/pgoutput";
}

static void test_captured(const char *dir)
{
	static const char *const names[] = {"stream-utc.hex", "stream-kolkata.hex"};
	struct text first = {0};
	make_big();
	for (int i = 0; i < 2; i++) {
		static struct frames f;
		struct text t = {0};
		if (!load_frames(dir, names[i], &f)) {
			check_report(__FILE__, __LINE__);
			fprintf(stderr, "cannot read %s/%s (pass the directory as argv[1])\n", dir,
				names[i]);
			return;
		}
		unsigned n_keepalive = 0;
		bool last_reply = false;
		replay(&f, &t, &n_keepalive, &last_reply);
		/* capture.py stops after a keepalive that asks for a reply. */
		CHECKF(n_keepalive >= 2 && last_reply, "%s: %u keepalives", names[i], n_keepalive);
		if (getenv("PGOUTPUT_PRINT"))
			fputs(t.s, stdout);
		check_transcript(names[i], t.s);
		if (i == 0)
			first = t;
		else
			CHECKF(strcmp(first.s, t.s) == 0, "the %s transcript differs from UTC's",
			       names[i]);
		free_frames(&f);
		if (i)
			free(t.s);
	}
	free(first.s);
}

static void test_copy_fields(void)
{
	struct sl_pg_copy_field f[8];
	char scratch[128];
	const char *line = "1\tplain\t\\N\ta\\tb\\\\c\\nd\t\\101\\x41\\x4g\t\n";
	int n = sl_pg_copy_fields(line, strlen(line), f, 8, scratch, ERR, sizeof(ERR));
	CHECK_EQ_I(n, 6);
	CHECK(f[0].len == 1 && memcmp(f[0].p, "1", 1) == 0 && !f[0].null);
	CHECK(f[1].len == 5 && memcmp(f[1].p, "plain", 5) == 0 && f[1].p == line + 2);
	CHECK(f[2].null && f[2].p == NULL);
	CHECK(f[3].len == 7 && memcmp(f[3].p, "a\tb\\c\nd", 7) == 0);
	CHECK(f[4].len == 4 && memcmp(f[4].p, "AA\x04g", 4) == 0);
	CHECK(f[5].len == 0 && !f[5].null);
	/* without the newline, one field, an empty line */
	n = sl_pg_copy_fields("x", 1, f, 8, scratch, ERR, sizeof(ERR));
	CHECK(n == 1 && f[0].len == 1);
	n = sl_pg_copy_fields("", 0, f, 8, scratch, ERR, sizeof(ERR));
	CHECK(n == 1 && f[0].len == 0 && !f[0].null);
	/* errors */
	CHECK_EQ_I(sl_pg_copy_fields("a\tb\tc", 5, f, 2, scratch, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "COPY line: more than 2 fields");
	CHECK_EQ_I(sl_pg_copy_fields("ab\\", 3, f, 2, scratch, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "COPY line: a backslash at the end, offset 2");
	CHECK_EQ_I(sl_pg_copy_fields("a\\N", 3, f, 2, scratch, ERR, sizeof(ERR)), -EINVAL);
	CHECK_EQ_I(sl_pg_copy_fields("\\Nx", 3, f, 2, scratch, ERR, sizeof(ERR)), -EINVAL);
	CHECK_STR(ERR, "COPY line: \\N inside a value, offset 0");
}

int main(int argc, char **argv)
{
	void *block = aligned_alloc(4096, sl_batch_block_bytes(SL_MAX_COLS));
	REQUIRE(block);
	B = sl_batch_format(block, SL_MAX_COLS, 0);
	test_copydata();
	test_begin_commit_origin();
	test_relation_type();
	test_changes();
	test_truncate_message_other();
	test_type_map();
	test_values();
	test_tuple_row();
	test_copy_fields();
	test_captured(fixture_dir(argc > 1 ? argv[1] : NULL));
	free(block);
	return check_exit("test_pgoutput");
}
