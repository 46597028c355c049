/* Key encoding, hashing and key-group assignment. */
#include "core/keygroup.h"

#include <math.h>
#include <string.h>
#include <xxhash.h>

uint64_t sl_key_hash(const void *key, size_t len)
{
	return XXH3_64bits(key, len);
}

uint32_t sl_keygroup_first(uint32_t w, uint32_t max_parallelism, uint32_t n_workers)
{
	/* Smallest kg with kg * n / maxp >= w, i.e. ceil(w * maxp / n). */
	return (uint32_t)(((uint64_t)w * max_parallelism + n_workers - 1) / n_workers);
}

int sl_key_encode(const struct sl_batch *b, uint32_t r, const uint32_t *cols, uint32_t n,
		  uint8_t *buf, size_t cap)
{
	size_t o = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint32_t c = cols[k];
		if (o + 9 > cap)
			return -E2BIG;
		if (!sl_batch_is_valid(b, c, r)) {
			buf[o++] = 0;
			continue;
		}
		buf[o++] = 1;
		enum sl_type t = b->schema->fields[c].type;
		union sl_val v = b->cols[c].v[r];
		if (t == SL_T_STRING) {
			uint32_t len = v.s.len;
			if (o + 4 + len > cap)
				return -E2BIG;
			memcpy(buf + o, &len, 4);
			memcpy(buf + o + 4, b->heap + v.s.off, len);
			o += 4 + len;
		} else {
			if (sl_type_is_float(t)) {
				if (v.f == 0.0)
					v.f = 0.0;
				else if (isnan(v.f))
					v.f = NAN;
			}
			memcpy(buf + o, &v, 8);
			o += 8;
		}
	}
	return (int)o;
}

int sl_key_decode(const uint8_t *key, size_t len, const struct sl_schema *key_schema,
		  const uint32_t *key_cols, uint32_t n, struct sl_batch *out, uint32_t r,
		  const uint32_t *out_cols)
{
	size_t o = 0;
	for (uint32_t k = 0; k < n; k++) {
		SL_ASSERT(o < len);
		uint8_t tag = key[o++];
		if (tag == 0) {
			sl_batch_set_null(out, out_cols[k], r);
			continue;
		}
		enum sl_type t = key_schema->fields[key_cols[k]].type;
		if (t == SL_T_STRING) {
			uint32_t sl;
			memcpy(&sl, key + o, 4);
			if (!sl_batch_set_str(out, out_cols[k], r, (const char *)key + o + 4, sl))
				return -ENOSPC;
			o += 4 + sl;
		} else {
			union sl_val v;
			memcpy(&v, key + o, 8);
			out->cols[out_cols[k]].v[r] = v;
			sl_batch_set_valid(out, out_cols[k], r, true);
			o += 8;
		}
	}
	SL_ASSERT(o == len);
	return 0;
}
