/* The customer-cdc generator: deterministic Debezium-style change events for the
 * reference user's `customer_archive` table, split so any worker count replays it. */
#ifndef SL_GENERATOR_CUSTOMER_H
#define SL_GENERATOR_CUSTOMER_H

#include <assert.h>
#include <sys/types.h>

#include "core/common.h"

/*
 * Stream model (see DESIGN.md, "generator key ranges"):
 * - S = min(64, keys) splits; split s owns keys {k : (k - 1) % S == s} and
 *   produces records / S events (+1 if s < records % S).
 * - A split first reads a snapshot (op 'r' for its keys in order, at most a
 *   quarter of its events), then streams: a uniformly chosen key of the split
 *   is created ('c') if dead, else updated ('u', ~85 %) or deleted ('d', ~15 %).
 * - The image of key k at version v is a pure function of (seed, k, v), so a
 *   split keeps only 8 bytes per key (alive bit, version, index of last change).
 *   Each update changes one thing: the phone, the street address, or (1 in 8)
 *   the owner (name, ID number, district); bad values come on top of that.
 * - Event time = 2026-01-01T00:00:00Z + split-local index * 1000 ms + split,
 *   so the round-robin interleaving of the splits is strictly increasing in time.
 */

/* Most splits, whatever the key count. */
#define SL_CUSTOMER_MAX_SPLITS 64u
/* Most events one split may produce (per-key state stores indexes in 32 bits). */
#define SL_CUSTOMER_SPLIT_MAX_EVENTS UINT32_MAX
/* Event time of a split's first event: 2026-01-01T00:00:00Z in ms. */
#define SL_CUSTOMER_BASE_TIME_MS 1767225600000ll
/* Event time step between consecutive events of one split. */
#define SL_CUSTOMER_STEP_MS 1000ll
/* A buffer this big always holds one Debezium line (strings escaped at worst \u00XX). */
#define SL_CUSTOMER_JSON_MAX_BYTES 8192u

struct sl_customer_params {
	uint64_t records; /* total events over all splits */
	uint64_t keys;	  /* distinct customer_ids, 1..keys; must be > 0 */
	uint64_t seed;
	double bad_ratio; /* 0..1: share of images with one deliberately bad value */
};

/* One image of a row. Strings are NUL-terminated in fixed buffers; a null column
 * has its *_null flag set and an empty string. */
struct sl_customer_row {
	int64_t customer_id;
	bool name_null, address_null, phone_null, id_number_null;
	char name[64];
	uint32_t name_len;
	char address[192];
	uint32_t address_len;
	char phone[24];
	uint32_t phone_len;
	char id_number[24];
	uint32_t id_number_len;
	int64_t updated_time_ms; /* TIMESTAMP(3), ms since epoch */
};

/* One change. ts_ms is the change's commit time (Debezium source.ts_ms): the
 * after-image's updated_time, or for a delete the time of the delete. */
struct sl_customer_event {
	char op; /* 'r', 'c', 'u', 'd' */
	int64_t ts_ms;
	struct sl_customer_row before, after; /* valid only if has_before / has_after */
	bool has_before, has_after;
};

static_assert(SL_CUSTOMER_JSON_MAX_BYTES >=
		  1024 + 2 * 6 *
			     (sizeof(((struct sl_customer_row *)0)->name) +
			      sizeof(((struct sl_customer_row *)0)->address) +
			      sizeof(((struct sl_customer_row *)0)->phone) +
			      sizeof(((struct sl_customer_row *)0)->id_number)),
	      "a line with two fully escaped images fits");

/* Split count for these parameters: min(64, keys); 0 if keys == 0. Any thread. */
uint32_t sl_customer_n_splits(const struct sl_customer_params *p);

/* Opaque: per-key state of one split. Owned by one worker; not thread-safe. */
struct sl_customer_split;

/*
 * Creates the state of split `split` (allocates 8 bytes per key of the split).
 * Returns 0, -EINVAL (keys == 0, split out of range, bad_ratio not in [0, 1],
 * more than SL_CUSTOMER_SPLIT_MAX_EVENTS events in the split) or -ENOMEM.
 * The caller owns *out and frees it with sl_customer_split_free.
 */
int sl_customer_split_init(struct sl_customer_split **out, const struct sl_customer_params *p,
			   uint32_t split);
/* Fields an image carries (customer_id and updated_time always). */
enum {
	SL_CUSTOMER_F_NAME = 1u << 0,
	SL_CUSTOMER_F_ADDRESS = 1u << 1,
	SL_CUSTOMER_F_PHONE = 1u << 2,
	SL_CUSTOMER_F_ID_NUMBER = 1u << 3,
	SL_CUSTOMER_F_ALL = 15u,
};
/* Builds only these fields from now on (default all): the others come out
 * empty. The fields that are built are the same whatever the mask, and so
 * are the events (keys, ops, times, which images are bad). */
void sl_customer_split_set_fields(struct sl_customer_split *s, uint32_t fields);
/* Frees a split made by sl_customer_split_init; NULL is fine. */
void sl_customer_split_free(struct sl_customer_split *s);
/* Events this split produces in total (not the ones left). */
uint64_t sl_customer_split_records(const struct sl_customer_split *s);

/*
 * Writes the split's next event into *ev and returns true, or returns false
 * when the split is exhausted. No allocation, no system calls: the hot path of
 * the generator source. Run it on the worker that owns the split.
 */
bool sl_customer_split_next(struct sl_customer_split *s, struct sl_customer_event *ev);

/*
 * Formats ev as one line of Debezium JSON (MySQL connector envelope without
 * schema), ending in '\n', into buf: before, after (columns as in the table,
 * updated_time as integer ms, null columns as null), source {version, connector
 * "mysql", name "sluice", ts_ms = ev->ts_ms, snapshot "true" for 'r' else
 * "false", db "archive", table "customer_archive", server_id, file, pos, row},
 * op, ts_ms (ev->ts_ms + a deterministic 1..500 ms capture lag), transaction null. Returns the
 * length written (no NUL is added), or -ENOSPC if cap is too small; cap >=
 * SL_CUSTOMER_JSON_MAX_BYTES always suffices. Pure function of ev; any thread.
 */
ssize_t sl_customer_write_debezium(const struct sl_customer_event *ev, char *buf, size_t cap);

/* Validation helpers (pure, any thread). */

/* An 18-character PRC resident ID: 17 digits, a check char ('0'-'9', 'X' or 'x')
 * matching ISO 7064 MOD 11-2, and a real calendar birth date in 1800..2099. */
bool sl_id_number_valid(const char *s, size_t len);
/* The check char for 17 leading digits: '0'..'9' or 'X'; 0 if first17 holds a
 * non-digit. Reads exactly 17 bytes. */
char sl_id_number_check_char(const char *first17);
/* A mainland mobile number: exactly 11 digits starting with 1[3-9]. */
bool sl_phone_valid(const char *s, size_t len);

#endif
