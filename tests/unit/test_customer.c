/* Tests of the customer-cdc generator: ID/phone rules against known values, the split
 * and changelog model, bad-value shares, determinism, and the JSON checked by Python. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "connectors/generator/customer.h"

static int n_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			n_failed++;                                                                \
		}                                                                                  \
	} while (0)

/* Stops a test at its first failure inside a loop over many events. */
#define CHECK_OR(cond, action)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);   \
			n_failed++;                                                                \
			action;                                                                    \
		}                                                                                  \
	} while (0)

static bool id_ok(const char *s)
{
	return sl_id_number_valid(s, strlen(s));
}

static bool phone_ok(const char *s)
{
	return sl_phone_valid(s, strlen(s));
}

/* ---- ID numbers and phones against values known from elsewhere --------------------------- */

static void test_id_numbers(void)
{
	/* The GB 11643 example and values checked with an independent implementation. */
	CHECK(id_ok("11010519491231002X"));
	CHECK(id_ok("11010519491231002x"));
	CHECK(id_ok("440524188001010014"));
	CHECK(id_ok("11010119900307803X"));
	CHECK(id_ok("320102198001010008"));
	CHECK(id_ok("510107197712315126"));
	CHECK(id_ok("650103200002290016")); /* 2000-02-29: a leap day */

	CHECK(!id_ok("110105194912310021"));  /* wrong check digit */
	CHECK(!id_ok("440524188001010015"));  /* wrong check digit */
	CHECK(!id_ok("44052418800101001X"));  /* X where 4 belongs */
	CHECK(!id_ok("11010519491231002"));   /* 17 chars */
	CHECK(!id_ok("11010519491231002X0")); /* 19 chars */
	CHECK(!id_ok(""));
	CHECK(!id_ok("1101051949123100AX")); /* letter inside */
	CHECK(!id_ok("11010519491231 02X")); /* space inside */
	CHECK(!id_ok("X10105194912310020")); /* X not last */
	CHECK(!id_ok("110105194913310021")); /* month 13, check digit right */
	CHECK(!id_ok("110105190002290017")); /* 1900-02-29 does not exist, check right */
	CHECK(!id_ok("110105194901000018")); /* day 00, check digit right */
	CHECK(!id_ok("110105194904310011")); /* April 31, check digit right */
	CHECK(sl_id_number_valid("11010519491231002X-trailing", 18));
	CHECK(!sl_id_number_valid("11010519491231002X", 17));

	CHECK(sl_id_number_check_char("11010519491231002") == 'X');
	CHECK(sl_id_number_check_char("44052418800101001") == '4');
	CHECK(sl_id_number_check_char("44030519850612123") == '7');
	CHECK(sl_id_number_check_char("11010119900307803") == 'X');
	CHECK(sl_id_number_check_char("32010219800101000") == '8');
	CHECK(sl_id_number_check_char("51010719771231512") == '6');
	CHECK(sl_id_number_check_char("65010320000229001") == '6');
	CHECK(sl_id_number_check_char("1101051949123100a") == 0);
}

static void test_phones(void)
{
	CHECK(phone_ok("13812345678"));
	CHECK(phone_ok("15000000000"));
	CHECK(phone_ok("17012345678"));
	CHECK(phone_ok("18999999999"));
	CHECK(phone_ok("19912345678"));
	CHECK(!phone_ok("12812345678")); /* 12x is no mobile prefix */
	CHECK(!phone_ok("10012345678"));
	CHECK(!phone_ok("23812345678"));
	CHECK(!phone_ok("1381234567"));	  /* 10 digits */
	CHECK(!phone_ok("138123456789")); /* 12 digits */
	CHECK(!phone_ok("1381234567a"));
	CHECK(!phone_ok("138-1234-567"));
	CHECK(!phone_ok("+8613812345"));
	CHECK(!phone_ok(""));
}

/* ---- Parameters ---------------------------------------------------------------------------- */

static void test_params(void)
{
	struct sl_customer_split *s = (void *)1;
	struct sl_customer_params p = {.records = 100, .keys = 0, .seed = 1};
	CHECK(sl_customer_n_splits(&p) == 0);
	CHECK(sl_customer_split_init(&s, &p, 0) == -EINVAL && s == NULL);
	p.keys = 10;
	CHECK(sl_customer_n_splits(&p) == 10);
	CHECK(sl_customer_split_init(&s, &p, 10) == -EINVAL);
	p.keys = 1000;
	CHECK(sl_customer_n_splits(&p) == 64);
	CHECK(sl_customer_split_init(&s, &p, 64) == -EINVAL);
	p.bad_ratio = 1.5;
	CHECK(sl_customer_split_init(&s, &p, 0) == -EINVAL);
	p.bad_ratio = -0.1;
	CHECK(sl_customer_split_init(&s, &p, 0) == -EINVAL);
	p.bad_ratio = NAN;
	CHECK(sl_customer_split_init(&s, &p, 0) == -EINVAL);
	p.bad_ratio = 0;
	p.keys = 1;
	p.records = (uint64_t)SL_CUSTOMER_SPLIT_MAX_EVENTS + 1;
	CHECK(sl_customer_split_init(&s, &p, 0) == -EINVAL);
	p.records = 100;
	CHECK(sl_customer_split_init(&s, &p, 0) == 0 && s != NULL);
	CHECK(sl_customer_split_records(s) == 100);
	sl_customer_split_free(s);
	sl_customer_split_free(NULL);
}

/* ---- The split and changelog model ---------------------------------------------------------- */

static bool row_equal(const struct sl_customer_row *a, const struct sl_customer_row *b)
{
	return a->customer_id == b->customer_id && a->name_null == b->name_null &&
	       a->address_null == b->address_null && a->phone_null == b->phone_null &&
	       a->id_number_null == b->id_number_null && a->name_len == b->name_len &&
	       a->address_len == b->address_len && a->phone_len == b->phone_len &&
	       a->id_number_len == b->id_number_len && memcmp(a->name, b->name, a->name_len) == 0 &&
	       memcmp(a->address, b->address, a->address_len) == 0 &&
	       memcmp(a->phone, b->phone, a->phone_len) == 0 &&
	       memcmp(a->id_number, b->id_number, a->id_number_len) == 0 &&
	       a->updated_time_ms == b->updated_time_ms;
}

static bool row_terminated(const struct sl_customer_row *r)
{
	return r->name[r->name_len] == 0 && r->address[r->address_len] == 0 &&
	       r->phone[r->phone_len] == 0 && r->id_number[r->id_number_len] == 0 &&
	       strlen(r->name) == r->name_len && strlen(r->address) == r->address_len &&
	       strlen(r->phone) == r->phone_len && strlen(r->id_number) == r->id_number_len;
}

/*
 * Runs every split (one after the other, as separate workers would) and checks each
 * key's changelog: first r/c, no u/d while dead, no r/c while alive, before-image
 * of u/d byte-equal to the key's previous after-image, times increasing.
 */
static void check_model(uint64_t records, uint64_t keys, double bad_ratio)
{
	struct sl_customer_params p = {
	    .records = records, .keys = keys, .seed = 7, .bad_ratio = bad_ratio};
	uint32_t n_splits = sl_customer_n_splits(&p);
	CHECK(n_splits == (keys < 64 ? keys : 64));
	struct sl_customer_row *last = calloc(keys + 1, sizeof(*last));
	bool *is_alive = calloc(keys + 1, sizeof(*is_alive));
	bool *is_seen = calloc(keys + 1, sizeof(*is_seen));
	struct sl_customer_event *ev = malloc(sizeof(*ev));
	SL_ASSERT(last && is_alive && is_seen && ev);
	uint64_t total = 0;
	for (uint32_t s = 0; s < n_splits; s++) {
		struct sl_customer_split *sp;
		CHECK_OR(sl_customer_split_init(&sp, &p, s) == 0, goto out);
		uint64_t expect = records / n_splits + (s < records % n_splits);
		uint64_t split_keys = (keys - s - 1) / n_splits + 1;
		uint64_t n_snapshot = split_keys < expect / 4 ? split_keys : expect / 4;
		CHECK(sl_customer_split_records(sp) == expect);
		uint64_t n = 0;
		int64_t prev_ts = INT64_MIN;
		while (sl_customer_split_next(sp, ev)) {
			const struct sl_customer_row *img =
			    ev->has_after ? &ev->after : &ev->before;
			int64_t k = img->customer_id;
			CHECK_OR(k >= 1 && (uint64_t)k <= keys, break);
			CHECK_OR((uint64_t)(k - 1) % n_splits == s, break);
			CHECK_OR(ev->ts_ms > prev_ts, break);
			prev_ts = ev->ts_ms;
			/* The snapshot reads the split's keys in order, then streaming starts. */
			if (n < n_snapshot)
				CHECK_OR(ev->op == 'r' && (uint64_t)k == s + 1 + n * n_splits,
					 break);
			else
				CHECK_OR(ev->op != 'r', break);
			switch (ev->op) {
			case 'r':
			case 'c':
				CHECK_OR(!ev->has_before && ev->has_after, goto stop);
				CHECK_OR(!is_alive[k], goto stop);
				break;
			case 'u':
			case 'd':
				CHECK_OR(ev->has_before && ev->has_after == (ev->op == 'u'),
					 goto stop);
				CHECK_OR(is_alive[k], goto stop);
				CHECK_OR(row_equal(&ev->before, &last[k]), goto stop);
				CHECK_OR(ev->before.customer_id == k, goto stop);
				CHECK_OR(row_terminated(&ev->before), goto stop);
				break;
			default:
				CHECK_OR(false && "unknown op", goto stop);
			}
			if (ev->has_after) {
				CHECK_OR(ev->after.customer_id == k, break);
				CHECK_OR(ev->after.updated_time_ms == ev->ts_ms, break);
				CHECK_OR(!is_seen[k] ||
					     ev->after.updated_time_ms > last[k].updated_time_ms,
					 break);
				CHECK_OR(row_terminated(&ev->after), break);
				last[k] = ev->after;
			}
			is_alive[k] = ev->op != 'd';
			is_seen[k] = true;
			n++;
		}
	stop:
		CHECK(n == expect);
		CHECK(!sl_customer_split_next(sp, ev)); /* stays exhausted */
		total += n;
		sl_customer_split_free(sp);
	}
	CHECK(total == records);
out:
	free(ev);
	free(is_seen);
	free(is_alive);
	free(last);
}

static void test_model(void)
{
	/* Edge shapes: no events, fewer events than splits, one key, keys < 64, remainders. */
	static const uint64_t shapes[][2] = {
	    {0, 5},	 {1, 1},      {3, 100},	     {1000, 1},	     {1000, 7},
	    {12345, 64}, {12345, 65}, {12345, 5000}, {100000, 1000},
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(shapes); i++)
		check_model(shapes[i][0], shapes[i][1], 0.2);
	check_model(100000, 1000, 0.0);
	check_model(20000, 300, 1.0);
}

/* ---- Streams: round-robin over splits, as `sluice gen` writes them ------------------------ */

/* Calls fn on each line of the round-robin stream; returns the event count. */
static uint64_t for_each_line(const struct sl_customer_params *p,
			      void (*fn)(void *ctx, const struct sl_customer_event *ev,
					 const char *line, size_t len),
			      void *ctx)
{
	struct sl_customer_split *splits[SL_CUSTOMER_MAX_SPLITS];
	uint32_t n_splits = sl_customer_n_splits(p);
	for (uint32_t s = 0; s < n_splits; s++)
		SL_ASSERT(sl_customer_split_init(&splits[s], p, s) == 0);
	static char line[SL_CUSTOMER_JSON_MAX_BYTES];
	struct sl_customer_event ev;
	uint64_t n = 0;
	for (bool is_more = true; is_more;) {
		is_more = false;
		for (uint32_t s = 0; s < n_splits; s++) {
			if (!sl_customer_split_next(splits[s], &ev))
				continue;
			is_more = true;
			ssize_t len = sl_customer_write_debezium(&ev, line, sizeof(line));
			SL_ASSERT(len > 0 && line[len - 1] == '\n');
			SL_ASSERT(memchr(line, '\n', (size_t)len) == line + len - 1);
			fn(ctx, &ev, line, (size_t)len);
			n++;
		}
	}
	for (uint32_t s = 0; s < n_splits; s++)
		sl_customer_split_free(splits[s]);
	return n;
}

static void digest_line(void *ctx, const struct sl_customer_event *ev, const char *line, size_t len)
{
	(void)ev;
	XXH64_update(ctx, line, len);
}

static uint64_t stream_digest(uint64_t records, uint64_t keys, uint64_t seed, double bad_ratio)
{
	struct sl_customer_params p = {records, keys, seed, bad_ratio};
	XXH64_state_t *st = XXH64_createState();
	XXH64_reset(st, 0);
	CHECK(for_each_line(&p, digest_line, st) == records);
	uint64_t d = XXH64_digest(st);
	XXH64_freeState(st);
	return d;
}

static void test_determinism(void)
{
	uint64_t a = stream_digest(30000, 2000, 1, 0.1);
	CHECK(a == stream_digest(30000, 2000, 1, 0.1));
	CHECK(a != stream_digest(30000, 2000, 2, 0.1));
	CHECK(a != stream_digest(30000, 2000, 1, 0.2));
	CHECK(a != stream_digest(30000, 2001, 1, 0.1));
	/* The data is the benchmark's reference input and must not drift across
	 * compilers, flags or platforms: changing the generator changes this value,
	 * which must then be updated on purpose. */
	uint64_t golden = stream_digest(10000, 1000, 42, 0.1);
	if (golden != 0xeda57a4893d8ba3eull)
		fprintf(stderr, "stream digest (10000, 1000, 42, 0.1) = 0x%016llx\n",
			(unsigned long long)golden);
	CHECK(golden == 0xeda57a4893d8ba3eull);
}

/*
 * Worker-count independence: worker w of W runs splits w, w + W, ... round-robin
 * among themselves; each key's changelog (its lines, in order) must not depend on W.
 */
struct key_digests {
	uint64_t *h;
	uint64_t keys;
};

static void hash_key_line(struct key_digests *kd, const struct sl_customer_event *ev,
			  const char *line, size_t len)
{
	int64_t k = ev->has_after ? ev->after.customer_id : ev->before.customer_id;
	SL_ASSERT(k >= 1 && (uint64_t)k <= kd->keys);
	kd->h[k] = XXH64(line, len, kd->h[k]);
}

static void per_key_digests(const struct sl_customer_params *p, uint32_t n_workers,
			    struct key_digests *kd)
{
	uint32_t n_splits = sl_customer_n_splits(p);
	static char line[SL_CUSTOMER_JSON_MAX_BYTES];
	struct sl_customer_event ev;
	for (uint32_t w = 0; w < n_workers; w++) {
		struct sl_customer_split *mine[SL_CUSTOMER_MAX_SPLITS];
		uint32_t n_mine = 0;
		for (uint32_t s = w; s < n_splits; s += n_workers)
			SL_ASSERT(sl_customer_split_init(&mine[n_mine++], p, s) == 0);
		for (bool is_more = true; is_more;) {
			is_more = false;
			for (uint32_t i = 0; i < n_mine; i++) {
				if (!sl_customer_split_next(mine[i], &ev))
					continue;
				is_more = true;
				ssize_t len = sl_customer_write_debezium(&ev, line, sizeof(line));
				SL_ASSERT(len > 0);
				hash_key_line(kd, &ev, line, (size_t)len);
			}
		}
		for (uint32_t i = 0; i < n_mine; i++)
			sl_customer_split_free(mine[i]);
	}
}

static void test_worker_independence(void)
{
	struct sl_customer_params p = {.records = 50000, .keys = 777, .seed = 3, .bad_ratio = 0.2};
	struct key_digests one = {calloc(p.keys + 1, 8), p.keys};
	struct key_digests many = {calloc(p.keys + 1, 8), p.keys};
	SL_ASSERT(one.h && many.h);
	per_key_digests(&p, 1, &one);
	static const uint32_t workers[] = {2, 3, 7, 64};
	for (size_t i = 0; i < SL_ARRAY_LEN(workers); i++) {
		memset(many.h, 0, (p.keys + 1) * 8);
		per_key_digests(&p, workers[i], &many);
		CHECK(memcmp(one.h, many.h, (p.keys + 1) * 8) == 0);
	}
	free(many.h);
	free(one.h);
}

/* ---- Data quality: good images are valid, bad ones have exactly one bad value ------------- */

/* GB/T 2260 provinces and their codes: the ID's first two digits. */
/* clang-format off */
static const struct {
	const char *name;
	const char *code;
} provinces[] = {
	{"北京市", "11"}, {"天津市", "12"}, {"河北省", "13"}, {"山西省", "14"},
	{"内蒙古自治区", "15"}, {"辽宁省", "21"}, {"吉林省", "22"}, {"黑龙江省", "23"},
	{"上海市", "31"}, {"江苏省", "32"}, {"浙江省", "33"}, {"安徽省", "34"},
	{"福建省", "35"}, {"江西省", "36"}, {"山东省", "37"}, {"河南省", "41"},
	{"湖北省", "42"}, {"湖南省", "43"}, {"广东省", "44"}, {"广西壮族自治区", "45"},
	{"海南省", "46"}, {"重庆市", "50"}, {"四川省", "51"}, {"贵州省", "52"},
	{"云南省", "53"}, {"西藏自治区", "54"}, {"陕西省", "61"}, {"甘肃省", "62"},
	{"青海省", "63"}, {"宁夏回族自治区", "64"}, {"新疆维吾尔自治区", "65"},
};
/* clang-format on */

static int province_of(const char *address)
{
	for (size_t i = 0; i < SL_ARRAY_LEN(provinces); i++)
		if (strncmp(address, provinces[i].name, strlen(provinces[i].name)) == 0)
			return (int)i;
	return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

enum bad_seen {
	SEEN_NAME_EMPTY,
	SEEN_NAME_NULL,
	SEEN_PHONE_10,
	SEEN_PHONE_12,
	SEEN_PHONE_NULL,
	SEEN_ID_CHECK,
	SEEN_ID_NULL,
	SEEN_ADDR_NO_PROVINCE,
	SEEN_ADDR_GARBAGE,
	SEEN_ADDR_NULL,
	SEEN_KINDS
};

struct quality {
	uint64_t n_images, n_bad, n_multi, n_other;
	uint64_t seen[SEEN_KINDS];
	uint64_t n_id_province_match;
};

/* Classifies one image's values independently of how the generator made them. */
static void classify(struct quality *q, const struct sl_customer_row *r)
{
	int n_bad = 0;
	q->n_images++;
#define BAD(kind) (q->seen[kind]++, n_bad++)
	if (r->name_null)
		BAD(SEEN_NAME_NULL);
	else if (r->name_len == 0)
		BAD(SEEN_NAME_EMPTY);
	else if (r->name_len % 3 != 0 || r->name_len < 6 || r->name_len > 12)
		q->n_other++;

	if (r->phone_null)
		BAD(SEEN_PHONE_NULL);
	else if (!sl_phone_valid(r->phone, r->phone_len)) {
		if (r->phone_len == 10 && sl_phone_valid(r->phone, 11) == false &&
		    r->phone[0] == '1')
			BAD(SEEN_PHONE_10);
		else if (r->phone_len == 12 && sl_phone_valid(r->phone, 11))
			BAD(SEEN_PHONE_12);
		else
			q->n_other++;
	}

	if (r->id_number_null)
		BAD(SEEN_ID_NULL);
	else if (!sl_id_number_valid(r->id_number, r->id_number_len)) {
		/* Only the check char may be wrong. */
		if (r->id_number_len == 18 && sl_id_number_check_char(r->id_number) != 0 &&
		    sl_id_number_check_char(r->id_number) != r->id_number[17])
			BAD(SEEN_ID_CHECK);
		else
			q->n_other++;
	}

	int prov = -1;
	if (r->address_null)
		BAD(SEEN_ADDR_NULL);
	else if ((prov = province_of(r->address)) < 0) {
		if (ends_with(r->address, "室") && strstr(r->address, "区") != NULL)
			BAD(SEEN_ADDR_NO_PROVINCE);
		else
			BAD(SEEN_ADDR_GARBAGE);
	} else if (!ends_with(r->address, "室") || strstr(r->address, "号") == NULL) {
		q->n_other++;
	}
	if (prov >= 0 && !r->id_number_null && r->id_number_len == 18 &&
	    memcmp(r->id_number, provinces[prov].code, 2) == 0)
		q->n_id_province_match++;
#undef BAD
	if (n_bad == 1)
		q->n_bad++;
	if (n_bad > 1)
		q->n_multi++;
}

static void quality_of(uint64_t records, uint64_t keys, double bad_ratio, struct quality *q)
{
	struct sl_customer_params p = {records, keys, 11, bad_ratio};
	memset(q, 0, sizeof(*q));
	struct sl_customer_event ev;
	for (uint32_t s = 0; s < sl_customer_n_splits(&p); s++) {
		struct sl_customer_split *sp;
		SL_ASSERT(sl_customer_split_init(&sp, &p, s) == 0);
		/* Count each image once: after-images are all the images there are. */
		while (sl_customer_split_next(sp, &ev))
			if (ev.has_after)
				classify(q, &ev.after);
		sl_customer_split_free(sp);
	}
}

static void test_quality(void)
{
	struct quality q;
	quality_of(100000, 5000, 0.0, &q);
	CHECK(q.n_images > 80000);
	CHECK(q.n_bad == 0 && q.n_multi == 0 && q.n_other == 0);
	/* Good ID numbers carry the address's province. */
	CHECK(q.n_id_province_match == q.n_images);

	quality_of(100000, 5000, 0.2, &q);
	double share = (double)q.n_bad / (double)q.n_images;
	fprintf(stderr, "bad_ratio 0.2: %.4f of %llu images bad\n", share,
		(unsigned long long)q.n_images);
	CHECK(share > 0.17 && share < 0.23);
	CHECK(q.n_multi == 0 && q.n_other == 0);
	for (int i = 0; i < SEEN_KINDS; i++)
		CHECK(q.seen[i] > 0);

	quality_of(20000, 500, 1.0, &q);
	CHECK(q.n_bad == q.n_images && q.n_multi == 0 && q.n_other == 0);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void test_escaping(void)
{
	struct sl_customer_event ev = {
	    .op = 'u', .ts_ms = 1767225600000, .has_before = true, .has_after = true};
	struct sl_customer_row *b = &ev.before, *a = &ev.after;
	b->customer_id = -5;
	strcpy(b->name, "a\"b\\c\x01\n\t\x1f\xe7\x8e\x8b"); /* ...王 */
	b->name_len = (uint32_t)strlen(b->name);
	b->address_null = true;
	strcpy(b->phone, "1234567\"");
	b->phone_len = 8;
	strcpy(b->id_number, "");
	b->id_number_len = 0;
	b->updated_time_ms = 0;
	a->customer_id = INT64_MAX;
	strcpy(a->name, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\\");
	a->name_len = 63;
	strcpy(a->address, "plain");
	a->address_len = 5;
	a->phone_null = a->id_number_null = true;
	a->updated_time_ms = INT64_MIN;

	char buf[SL_CUSTOMER_JSON_MAX_BYTES];
	ssize_t len = sl_customer_write_debezium(&ev, buf, sizeof(buf));
	CHECK(len > 0);
	buf[len > 0 ? len : 0] = 0;
	const char *want_before =
	    "{\"before\":{\"customer_id\":-5,\"name\":\"a\\\"b\\\\c\\u0001\\n\\t"
	    "\\u001f\xe7\x8e\x8b\",\"address\":null,\"phone\":\"1234567\\\"\","
	    "\"id_number\":\"\",\"updated_time\":0},";
	CHECK(strncmp(buf, want_before, strlen(want_before)) == 0);
	const char *want_after = "\"after\":{\"customer_id\":9223372036854775807,\"name\":\""
				 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
				 "\\\\\",\"address\":\"plain\",\"phone\":null,\"id_number\":null,"
				 "\"updated_time\":-9223372036854775808},";
	CHECK(strstr(buf, want_after) != NULL);
	CHECK(strstr(buf, "\"op\":\"u\"") != NULL);
	CHECK(buf[len - 1] == '\n' && strlen(buf) == (size_t)len);

	/* Too small: -ENOSPC; exactly enough: the same bytes. */
	char small[SL_CUSTOMER_JSON_MAX_BYTES];
	CHECK(sl_customer_write_debezium(&ev, small, (size_t)len - 1) == -ENOSPC);
	CHECK(sl_customer_write_debezium(&ev, small, (size_t)len) == len);
	CHECK(memcmp(small, buf, (size_t)len) == 0);
}

struct line_file {
	FILE *f;
	uint64_t bytes;
};

static void write_line(void *ctx, const struct sl_customer_event *ev, const char *line, size_t len)
{
	struct line_file *lf = ctx;
	(void)ev;
	SL_ASSERT(fwrite(line, 1, len, lf->f) == len);
	lf->bytes += len;
}

/* Checks every line with Python's json module and an independent ID/phone check. */
static const char json_checker[] =
    "import json, re, sys\n"
    "path, n_expect, strict = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1'\n"
    "W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]\n"
    "def id_ok(s):\n"
    "    return (isinstance(s, str) and re.fullmatch(r'\\d{17}[\\dX]', s) is not None and\n"
    "            '10X98765432'[sum(int(c) * w for c, w in zip(s, W)) % 11] == s[17])\n"
    "TOP = ['before', 'after', 'source', 'op', 'ts_ms', 'transaction']\n"
    "SRC = ['version', 'connector', 'name', 'ts_ms', 'snapshot', 'db', 'table',\n"
    "       'server_id', 'file', 'pos', 'row']\n"
    "COLS = ['customer_id', 'name', 'address', 'phone', 'id_number', 'updated_time']\n"
    "last, alive, n = {}, {}, 0\n"
    "with open(path, 'rb') as f:\n"
    "    for raw in f:\n"
    "        assert raw.endswith(b'\\n'), n\n"
    "        e = json.loads(raw.decode('utf-8'))\n"
    "        assert list(e) == TOP, e\n"
    "        s, op = e['source'], e['op']\n"
    "        assert list(s) == SRC, s\n"
    "        assert (s['connector'], s['name'], s['db'], s['table']) == \\\n"
    "            ('mysql', 'sluice', 'archive', 'customer_archive'), s\n"
    "        assert s['snapshot'] == ('true' if op == 'r' else 'false'), e\n"
    "        assert e['transaction'] is None and e['ts_ms'] > s['ts_ms']\n"
    "        b, a = e['before'], e['after']\n"
    "        assert (b is None) == (op in 'rc') and (a is None) == (op == 'd'), e\n"
    "        for img in (b, a):\n"
    "            if img is None: continue\n"
    "            assert list(img) == COLS, img\n"
    "            assert type(img['customer_id']) is int and type(img['updated_time']) is int\n"
    "            for c in COLS[1:5]: assert img[c] is None or type(img[c]) is str, img\n"
    "            if strict:\n"
    "                assert id_ok(img['id_number']), img\n"
    "                assert re.fullmatch(r'1[3-9]\\d{9}', img['phone']), img\n"
    "                assert img['name'] and img['address'], img\n"
    "        k = (a or b)['customer_id']\n"
    "        if op in 'rc':\n"
    "            assert not alive.get(k), e\n"
    "        else:\n"
    "            assert alive.get(k) and b == last[k], (e, last.get(k))\n"
    "        if a is not None:\n"
    "            assert a['updated_time'] == s['ts_ms'], e\n"
    "            last[k] = a\n"
    "        alive[k] = op != 'd'\n"
    "        n += 1\n"
    "assert n == n_expect, (n, n_expect)\n"
    "print('python json check: %d lines ok' % n)\n";

static void check_json_with_python(uint64_t records, uint64_t keys, double bad_ratio)
{
	char data[] = "/tmp/sluice_test_customer_XXXXXX";
	char script[] = "/tmp/sluice_test_customer_py_XXXXXX";
	int fd = mkstemp(data), sfd = mkstemp(script);
	SL_ASSERT(fd >= 0 && sfd >= 0);
	SL_ASSERT(write(sfd, json_checker, sizeof(json_checker) - 1) ==
		  (ssize_t)(sizeof(json_checker) - 1));
	close(sfd);
	struct line_file lf = {fdopen(fd, "w"), 0};
	SL_ASSERT(lf.f != NULL);
	struct sl_customer_params p = {records, keys, 5, bad_ratio};
	CHECK(for_each_line(&p, write_line, &lf) == records);
	fclose(lf.f);
	if (records > 0)
		fprintf(stderr, "bad_ratio %.1f: %.1f bytes/event\n", bad_ratio,
			(double)lf.bytes / (double)records);

	char cmd[256];
	snprintf(cmd, sizeof(cmd), "python3 %s %s %llu %d", script, data,
		 (unsigned long long)records, bad_ratio == 0.0);
	int status = system(cmd);
	CHECK(status == 0);
	unlink(data);
	unlink(script);
}

static void test_json(void)
{
	if (system("python3 -c 'import json' >/dev/null 2>&1") != 0) {
		fprintf(stderr, "skipping the JSON check: python3 is not available\n");
		return;
	}
	check_json_with_python(20000, 700, 0.0);
	check_json_with_python(20000, 700, 0.2);
	check_json_with_python(3000, 40, 1.0);
}

int main(void)
{
	test_id_numbers();
	test_phones();
	test_params();
	test_model();
	test_determinism();
	test_worker_independence();
	test_quality();
	test_escaping();
	test_json();
	if (n_failed != 0) {
		fprintf(stderr, "test_customer: %d checks failed\n", n_failed);
		return 1;
	}
	fprintf(stderr, "test_customer: ok\n");
	return 0;
}
