/* Formats: the registry, option and metadata checking, the decoder, the value
 * converters every format shares (Flink's JsonToRowDataConverters), and Java's
 * number and date-time texts (a port of FloatingDecimal) for Flink-exact output. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "connectors/formats/format_internal.h"
#include "core/value.h"

/* ---- registry -------------------------------------------------------------------- */

static const struct fmt_ops *const all_ops[] = {
	&fmt_json_ops, &fmt_debezium_ops, &fmt_canal_ops, &fmt_maxwell_ops, &fmt_ogg_ops,
};

static const char *const all_names[] = {"json",		"debezium-json", "canal-json",
					"maxwell-json", "ogg-json",	 NULL};
static_assert(SL_ARRAY_LEN(all_names) == SL_ARRAY_LEN(all_ops) + 1, "one name per format");

static const struct fmt_ops *find_ops(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < SL_ARRAY_LEN(all_ops); i++)
		if (strcmp(all_ops[i]->name, name) == 0)
			return all_ops[i];
	return NULL;
}

bool sl_format_known(const char *name)
{
	return find_ops(name) != NULL;
}

const char *const *sl_format_names(void)
{
	return all_names;
}

const char *const *sl_format_option_names(const char *name)
{
	const struct fmt_ops *ops = find_ops(name);
	return ops ? ops->options : NULL;
}

const char *sl_format_name(const struct sl_format *f)
{
	return f->ops->name;
}

bool sl_format_ignore_parse_errors(const struct sl_format *f)
{
	return f->ignore_parse_errors;
}

bool sl_format_is_changelog(const struct sl_format *f)
{
	return f->ops != &fmt_json_ops;
}

const struct sl_schema *sl_format_schema(const struct sl_format *f)
{
	return &f->schema;
}

/* ---- field-name lookup ------------------------------------------------------------ */

static inline uint32_t name_hash(const char *s, size_t len)
{
	uint32_t h = (uint32_t)len * 0x9e3779b1u;
	if (len) {
		h ^= (uint8_t)s[0] * 0x85ebca6bu;
		h ^= (uint8_t)s[len - 1] * 0xc2b2ae35u;
		h ^= (uint8_t)s[len / 2] * 0x27d4eb2fu;
	}
	return (h ^ (h >> 15)) & (FMT_LOOKUP_SLOTS - 1);
}

static inline bool key_eq(const char *a, const char *b, size_t len);

int fmt_lookup(const struct sl_format *f, const char *key, size_t len)
{
	for (uint32_t h = name_hash(key, len);; h = (h + 1) & (FMT_LOOKUP_SLOTS - 1)) {
		uint8_t e = f->lookup[h];
		if (e == 0)
			return -1;
		const struct fmt_col *c = &f->phys[e - 1];
		if (c->name_len == len && key_eq(c->name, key, len))
			return e - 1;
	}
}

/* ---- options ---------------------------------------------------------------------- */

/* Option names compare with '-', '_' and '.' alike. */
static bool same_key(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++) {
		char x = a[i], y = b[i];
		if (x == '_' || x == '.')
			x = '-';
		if (y == '_' || y == '.')
			y = '-';
		if (x != y)
			return false;
	}
	return true;
}

static bool in_list(const char *k, size_t len, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (strlen(list[i]) == len && memcmp(list[i], k, len) == 0)
			return true;
	return false;
}

/* Java regex (Flink's database.include / table.include) to a whole-string
 * POSIX ERE. Returns false with *why for constructs POSIX lacks. */
static bool java_regex_to_ere(const char *in, char *out, size_t cap, const char **why)
{
	size_t o = 0;
	bool in_class = false;
#define PUT(str)                                                                                   \
	do {                                                                                       \
		size_t l_ = strlen(str);                                                           \
		if (o + l_ + 3 > cap) {                                                            \
			*why = "pattern too long";                                                 \
			return false;                                                              \
		}                                                                                  \
		memcpy(out + o, str, l_);                                                          \
		o += l_;                                                                           \
	} while (0)
	PUT("^(");
	for (size_t i = 0; in[i]; i++) {
		char c = in[i], one[2] = {c, 0};
		if (c == '\\') {
			char e = in[++i];
			if (e == '\0') {
				*why = "trailing backslash";
				return false;
			}
			const char *rep = NULL;
			char lit[3] = {'\\', e, 0};
			switch (e) {
			case 'd': rep = in_class ? "0-9" : "[0-9]"; break;
			case 'D': rep = in_class ? NULL : "[^0-9]"; break;
			case 'w': rep = in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]"; break;
			case 'W': rep = in_class ? NULL : "[^A-Za-z0-9_]"; break;
			case 's': rep = in_class ? "[:space:]" : "[[:space:]]"; break;
			case 'S': rep = in_class ? NULL : "[^[:space:]]"; break;
			case 't': rep = "\t"; break;
			case 'n': rep = "\n"; break;
			case 'r': rep = "\r"; break;
			case 'f': rep = "\f"; break;
			default:
				if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') ||
				    (e >= '0' && e <= '9')) {
					*why = "escape not supported (\\d \\w \\s and their negations, "
					       "\\t \\n \\r \\f and escaped punctuation are)";
					return false;
				}
				if (in_class) {
					if (e == ']' || e == '\\' || e == '^' || e == '-') {
						*why = "escaped ] \\ ^ - inside [...] not supported";
						return false;
					}
					lit[0] = e;
					lit[1] = 0;
				}
				rep = lit;
			}
			if (!rep) {
				*why = "negated class escape inside [...] not supported";
				return false;
			}
			PUT(rep);
			continue;
		}
		if (in_class) {
			if (c == '[' || (c == '&' && in[i + 1] == '&')) {
				*why = "nested classes and && intersections not supported";
				return false;
			}
			if (c == ']')
				in_class = false;
			PUT(one);
			continue;
		}
		if (c == '[') {
			in_class = true;
			PUT("[");
			if (in[i + 1] == '^') {
				PUT("^");
				i++;
			}
			if (in[i + 1] == ']') { /* a leading ] is literal in both */
				PUT("]");
				i++;
			}
			continue;
		}
		if (c == '(' && in[i + 1] == '?') {
			if (in[i + 2] == ':') {
				PUT("(");
				i += 2;
				continue;
			}
			*why = "(?...) groups other than (?:...) not supported";
			return false;
		}
		if ((c == '*' || c == '+' || c == '?' || c == '}') && in[i + 1] == '+') {
			*why = "possessive quantifiers not supported";
			return false;
		}
		PUT(one);
		/* Reluctant quantifiers match the same whole strings as greedy ones. */
		if ((c == '*' || c == '+' || c == '?' || c == '}') && in[i + 1] == '?')
			i++;
	}
	if (in_class) {
		*why = "unclosed [";
		return false;
	}
	PUT(")$");
	out[o] = '\0';
	return true;
#undef PUT
}

bool fmt_regex_match(const regex_t *re, const char *s, size_t len)
{
	regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)len}};
	return regexec(re, s, 1, m, REG_STARTEND) == 0;
}

static int compile_regex(struct sl_cfg_node *v, const char *key, regex_t *re, bool *has,
			 struct sl_diag *d)
{
	const char *pat, *why = NULL;
	char ere[1024];
	if (sl_cfg_as_string(v, key, &pat, d) < 0)
		return -EINVAL;
	if (!java_regex_to_ere(pat, ere, sizeof(ere), &why))
		return sl_diag_error(d, v->pos, "%s: cannot use regex '%s': %s", key, pat, why);
	int rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		char msg[256];
		regerror(rc, re, msg, sizeof(msg));
		return sl_diag_error(d, v->pos, "%s: bad regex '%s': %s", key, pat, msg);
	}
	*has = true;
	return 0;
}

static const char *const ts_standards[] = {"SQL", "ISO-8601", NULL};

/* Reads the format's options from map. */
static int parse_options(struct sl_format *f, struct sl_cfg_node *map,
			 const char *const *connector_keys, struct sl_diag *d)
{
	const char *const *names = f->ops->options;
	struct sl_cfg_node *seen[16] = {0};
	struct sl_pos fail_missing_pos = {0};
	int rc = 0;
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "%s.", f->ops->name);

	if (!map || map->type != SL_CFG_MAP)
		return 0;
	for (uint32_t i = 0; i < map->n; i++) {
		struct sl_cfg_node *k = map->keys[i], *v = map->vals[i];
		const char *key = k->str;
		size_t len = k->len;
		if (in_list(key, len, connector_keys))
			continue;
		size_t skip = 0;
		if (len > plen) {
			bool pre = true;
			for (size_t j = 0; j < plen && pre; j++) {
				char x = key[j], y = prefix[j];
				x = (x == '_' || x == '.') ? '-' : x;
				y = (y == '_' || y == '.') ? '-' : y;
				pre = x == y;
			}
			if (pre)
				skip = plen;
		}
		int o = -1;
		for (int j = 0; names[j]; j++)
			if (same_key(key + skip, len - skip, names[j]))
				o = j;
		if (o < 0) {
			if (connector_keys) {
				const char *all[48];
				size_t n = 0;
				for (size_t j = 0; names[j] && n + 1 < SL_ARRAY_LEN(all); j++)
					all[n++] = names[j];
				for (size_t j = 0; connector_keys[j] && n + 1 < SL_ARRAY_LEN(all); j++)
					all[n++] = connector_keys[j];
				all[n] = NULL;
				const char *near = sl_cfg_suggest(key, len, all);
				if (near)
					sl_diag_error(d, k->pos,
						      "unknown key '%s' for format %s (did you mean "
						      "'%s'?)",
						      key, f->ops->name, near);
				else
					sl_diag_error(d, k->pos, "unknown key '%s' for format %s", key,
						      f->ops->name);
				k->used = v->used = true;
				rc = -EINVAL;
			}
			continue;
		}
		k->used = v->used = true;
		SL_ASSERT((size_t)o < SL_ARRAY_LEN(seen));
		if (seen[o]) {
			rc = sl_diag_error(d, k->pos, "'%s' sets option %s a second time", key,
					   names[o]);
			continue;
		}
		seen[o] = k;
		if (v->type == SL_CFG_NULL)
			continue; /* the default */
		const char *name = names[o];
		if (strcmp(name, "ignore-parse-errors") == 0) {
			if (sl_cfg_as_bool(v, key, &f->ignore_parse_errors, d) < 0)
				rc = -EINVAL;
		} else if (strcmp(name, "fail-on-missing-field") == 0) {
			if (sl_cfg_as_bool(v, key, &f->fail_on_missing_field, d) < 0)
				rc = -EINVAL;
			fail_missing_pos = k->pos;
		} else if (strcmp(name, "schema-include") == 0) {
			if (sl_cfg_as_bool(v, key, &f->schema_include, d) < 0)
				rc = -EINVAL;
		} else if (strcmp(name, "timestamp-format.standard") == 0) {
			int e;
			if (sl_cfg_as_enum(v, key, ts_standards, &e, d) < 0)
				rc = -EINVAL;
			else
				f->ts_standard = e == 0 ? FMT_TS_SQL : FMT_TS_ISO;
		} else if (strcmp(name, "database.include") == 0) {
			if (compile_regex(v, key, &f->db_re, &f->has_db_re, d) < 0)
				rc = -EINVAL;
		} else if (strcmp(name, "table.include") == 0) {
			if (compile_regex(v, key, &f->table_re, &f->has_table_re, d) < 0)
				rc = -EINVAL;
		} else {
			SL_ASSERT(!"option without a reader");
		}
	}
	if (f->fail_on_missing_field && f->ignore_parse_errors)
		rc = sl_diag_error(d, fail_missing_pos,
				   "fail-on-missing-field and ignore-parse-errors shouldn't both be "
				   "true.");
	return rc;
}

/* ---- building a format ------------------------------------------------------------ */

static bool meta_type_fits(enum fmt_mkind kind, enum sl_type t)
{
	switch (kind) {
	case MK_STRING:
	case MK_MAP:
	case MK_ARRAY:
		return t == SL_T_STRING;
	case MK_TIMESTAMP:
		return t == SL_T_TIMESTAMP_LTZ || t == SL_T_TIMESTAMP;
	}
	return false;
}

static int check_metadata(struct sl_format *f, const struct sl_sqlschema *s, struct sl_diag *d)
{
	const struct fmt_ops *ops = f->ops;
	int rc = 0;
	for (uint32_t i = 0; i < s->n_meta; i++) {
		const struct sl_sqlschema_meta *m = &s->meta[i];
		const struct sl_field *fld = &s->schema.fields[m->col];
		const char *key = m->key;
		if (strncmp(key, "value.", 6) == 0)
			key += 6;
		if (ops->n_meta == 0) {
			rc = sl_diag_error(d, m->pos,
					   "column '%s': format %s has no metadata (remove METADATA)",
					   fld->name, ops->name);
			continue;
		}
		const struct fmt_meta_desc *md = NULL;
		for (uint32_t k = 0; k < ops->n_meta; k++)
			if (strcmp(ops->meta[k].key, key) == 0)
				md = &ops->meta[k];
		if (!md) {
			char list[512];
			size_t o = 0;
			list[0] = '\0';
			for (uint32_t k = 0; k < ops->n_meta && o < sizeof(list); k++)
				o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", k ? ", " : "",
						      ops->meta[k].key);
			rc = sl_diag_error(d, m->pos,
					   "column '%s': %s has no metadata key '%s' (it has: %s)",
					   fld->name, ops->name, m->key, list);
			continue;
		}
		if (!meta_type_fits(md->kind, fld->type)) {
			char have[48];
			sl_field_type_text(fld, have, sizeof(have));
			rc = sl_diag_error(
			    d, s->col_pos[m->col],
			    "column '%s': metadata '%s' of %s is %s; declare the column %s, not %s",
			    fld->name, md->key, ops->name, md->flink_type,
			    md->kind == MK_TIMESTAMP ? "TIMESTAMP_LTZ(3) (or TIMESTAMP(3))"
			    : md->kind == MK_STRING  ? "STRING"
						     : "STRING (sluice keeps it as JSON text)",
			    have);
			continue;
		}
		f->mcol[f->n_mcol++] = (struct fmt_mcol){m->col, md->id, fld->type};
		f->meta_need |= 1u << md->id;
	}
	return rc;
}

struct sl_format *sl_format_new(const char *name, const struct sl_sqlschema *schema,
				struct sl_cfg_node *map, const char *const *connector_keys,
				struct sl_diag *d)
{
	SL_ASSERT(schema && d);
	const struct fmt_ops *ops = find_ops(name);
	struct sl_format *f;
	int rc = 0;

	if (!ops) {
		const char *near = name ? sl_cfg_suggest(name, strlen(name), all_names) : NULL;
		sl_diag_error(d, (struct sl_pos){0}, "unknown format '%s'%s%s%s (one of: json, "
						     "debezium-json, canal-json, maxwell-json, "
						     "ogg-json)",
			      name ? name : "(null)", near ? " (did you mean '" : "",
			      near ? near : "", near ? "'?)" : "");
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		sl_diag_error(d, (struct sl_pos){0}, "out of memory");
		return NULL;
	}
	f->ops = ops;
	f->schema = schema->schema;
	if (parse_options(f, map, connector_keys, d) < 0)
		rc = -EINVAL;
	if (check_metadata(f, schema, d) < 0)
		rc = -EINVAL;
	for (uint32_t c = 0; c < f->schema.n_fields; c++) {
		if (sl_sqlschema_meta_of(schema, c) >= 0)
			continue;
		const struct sl_field *fld = &f->schema.fields[c];
		struct fmt_col *pc = &f->phys[f->n_phys];
		pc->col = c;
		pc->type = fld->type;
		pc->precision = fld->precision;
		pc->scale = fld->scale;
		pc->name = f->schema.fields[c].name;
		pc->name_len = (uint32_t)strlen(pc->name);
		if (fld->type == SL_T_NULL || fld->type >= SL_T__COUNT) {
			rc = sl_diag_error(d, schema->col_pos[c], "column '%s': type %s not supported",
					   fld->name, sl_type_name(fld->type));
			continue;
		}
		uint32_t h = name_hash(pc->name, pc->name_len);
		while (f->lookup[h])
			h = (h + 1) & (FMT_LOOKUP_SLOTS - 1);
		f->lookup[h] = (uint8_t)(f->n_phys + 1);
		f->n_phys++;
	}
	f->all_phys = f->n_phys == 64 ? ~0ull : (1ull << f->n_phys) - 1;
	if (rc < 0) {
		sl_format_free(f);
		return NULL;
	}
	return f;
}

void sl_format_free(struct sl_format *f)
{
	if (!f)
		return;
	if (f->has_db_re)
		regfree(&f->db_re);
	if (f->has_table_re)
		regfree(&f->table_re);
	free(f);
}

/* ---- decoder ---------------------------------------------------------------------- */

struct sl_decoder *sl_decoder_new(const struct sl_format *f)
{
	SL_ASSERT(f);
	struct sl_decoder *d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	d->f = f;
	d->json = sl_json_parser_new(SL_RECORD_MAX_BYTES, SL_JSON_MAX_DEPTH);
	if (!d->json)
		goto out_free;
	d->scratch = malloc(FMT_SCRATCH_BYTES);
	if (!d->scratch)
		goto out_free_parser;
	return d;

out_free_parser:
	sl_json_parser_free(d->json);
out_free:
	free(d);
	d = NULL;
out:
	return d;
}

void sl_decoder_free(struct sl_decoder *d)
{
	if (!d)
		return;
	free(d->scratch);
	sl_json_parser_free(d->json);
	free(d);
}

int fmt_fail(struct sl_decoder *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->cause, sizeof(d->cause), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Forgets every row the message began, its string bytes and its validity bits. */
static void rollback(struct sl_decoder *d)
{
	struct sl_batch *b = d->b;
	for (uint32_t r = d->n0; r < d->hi; r++)
		for (uint32_t c = 0; c < b->n_cols; c++)
			sl_batch_set_valid(b, c, r, false);
	b->n_rows = d->n0;
	b->heap_len = d->heap0;
}

/* Appends s[0..n) to buf at *o (cap bytes, one kept for the NUL). */
static void put(char *buf, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o + 1 >= cap)
		return;
	n = SL_MIN(n, cap - 1 - *o);
	memcpy(buf + *o, s, n);
	*o += n;
	buf[*o] = '\0';
}

/* "Corrupt <Fmt> JSON message '<msg>'. Caused by: <cause>", msg cut to fit. */
static void corrupt_text(const struct sl_decoder *d, const char *msg, size_t len, char *err,
			 size_t cap)
{
	static const char by[] = " Caused by: ";
	const char *pre = d->f->ops->corrupt_pre, *post = d->f->ops->corrupt_post;
	size_t o = 0, fixed = strlen(pre) + strlen(post) + sizeof(by) - 1 + strlen(d->cause) + 1;
	size_t room = cap > fixed ? cap - fixed : 0, show = len;
	bool cut = false;
	if (cap == 0)
		return;
	err[0] = '\0';
	if (show > room) {
		show = room > 3 ? room - 3 : 0;
		while (show > 0 && ((unsigned char)msg[show] & 0xc0) == 0x80)
			show--; /* not inside a UTF-8 character */
		cut = true;
	}
	put(err, cap, &o, pre, strlen(pre));
	for (size_t i = 0; i < show && o + 1 < cap; i++) {
		char c = msg[i];
		if ((unsigned char)c < 0x20 || c == 0x7f)
			c = '?';
		put(err, cap, &o, &c, 1);
	}
	if (cut)
		put(err, cap, &o, "...", 3);
	put(err, cap, &o, post, strlen(post));
	put(err, cap, &o, by, sizeof(by) - 1);
	put(err, cap, &o, d->cause, strlen(d->cause));
}

int sl_decoder_decode(struct sl_decoder *d, const char *msg, size_t len, bool padded,
		      struct sl_batch *b, int64_t ingest_ns, char *err, size_t errcap)
{
	SL_ASSERT(d && b);
	SL_ASSERT(b->n_cols >= d->f->schema.n_fields); /* a connector's columns may follow */
	struct sl_json_elem root;
	int rc;

	if (errcap)
		err[0] = '\0';
	if (!msg || len == 0)
		return 0; /* a tombstone */
	d->b = b;
	d->n0 = d->hi = b->n_rows;
	d->heap0 = b->heap_len;
	d->ingest_ns = ingest_ns;
	d->cause[0] = '\0';
	rc = sl_json_parse(d->json, msg, len, padded, &root);
	if (rc < 0)
		rc = fmt_fail(d, "invalid JSON: %s", sl_json_error(d->json));
	else
		rc = d->f->ops->decode(d, root);
	if (rc >= 0) {
		if (b->n_rows == d->n0)
			b->heap_len = d->heap0; /* metadata text of a message without rows */
		return (int)(b->n_rows - d->n0);
	}
	rollback(d);
	if (rc == -ENOBUFS && d->n0 == 0) {
		rc = -E2BIG;
		snprintf(err, errcap,
			 "message yields more rows or string bytes than one batch holds (%u rows, "
			 "%u bytes)",
			 SL_BATCH_ROWS, b->heap_cap);
	} else if (rc == -ENOBUFS) {
		snprintf(err, errcap, "batch full");
	} else {
		rc = -EINVAL;
		corrupt_text(d, msg, len, err, errcap);
	}
	return rc;
}

/* ---- Java's texts: numbers (FloatingDecimal) and date-times ------------------------ */

/*
 * Java's Float.toString / Double.toString as the JDKs Flink runs on (8 to
 * 18) compute them: a port of sun.misc/jdk.internal.math.FloatingDecimal's
 * BinaryToASCIIBuffer.dtoa and getChars, quirks included (big integers
 * print their exact digits: Float.toString(2.28195488E8f) is
 * "2.28195488E8"; the digit loop's fixed-width arithmetic wraps as Java's
 * does). Checked against JDK 17 on millions of random values. JDK 19+
 * prints the shortest digits instead, which differs for such values.
 */

/* A small unsigned big integer, little-endian 32-bit words. */
struct bn {
	int n;
	uint32_t w[80];
};

static void bn_set_u64(struct bn *a, uint64_t v)
{
	a->n = 0;
	while (v) {
		a->w[a->n++] = (uint32_t)v;
		v >>= 32;
	}
}

static void bn_mul_small(struct bn *a, uint32_t m)
{
	uint64_t carry = 0;
	for (int i = 0; i < a->n; i++) {
		uint64_t t = (uint64_t)a->w[i] * m + carry;
		a->w[i] = (uint32_t)t;
		carry = t >> 32;
	}
	if (carry && a->n < (int)SL_ARRAY_LEN(a->w))
		a->w[a->n++] = (uint32_t)carry;
}

static void bn_mul_pow5(struct bn *a, int p5)
{
	for (; p5 >= 13; p5 -= 13)
		bn_mul_small(a, 1220703125u); /* 5^13 */
	uint32_t m = 1;
	while (p5-- > 0)
		m *= 5;
	if (m > 1)
		bn_mul_small(a, m);
}

static void bn_shl(struct bn *a, int bits)
{
	int words = bits / 32, sh = bits % 32;
	if (a->n == 0)
		return;
	SL_ASSERT(a->n + words + 1 <= (int)SL_ARRAY_LEN(a->w));
	a->w[a->n + words] = 0;
	for (int i = a->n - 1; i >= 0; i--) {
		uint64_t t = (uint64_t)a->w[i] << sh;
		a->w[i + words + 1] |= (uint32_t)(t >> 32);
		a->w[i + words] = (uint32_t)t;
	}
	for (int i = 0; i < words; i++)
		a->w[i] = 0;
	a->n += words + 1;
	while (a->n && a->w[a->n - 1] == 0)
		a->n--;
}

/* 5^p5 * 2^p2 times v. */
static void bn_set_mul_pow52(struct bn *a, uint64_t v, int p5, int p2)
{
	bn_set_u64(a, v);
	bn_mul_pow5(a, p5);
	bn_shl(a, p2);
}

static int bn_cmp(const struct bn *a, const struct bn *b)
{
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	for (int i = a->n - 1; i >= 0; i--)
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	return 0;
}

static void bn_add(struct bn *r, const struct bn *a, const struct bn *b)
{
	uint64_t carry = 0;
	int n = SL_MAX(a->n, b->n);
	for (int i = 0; i < n; i++) {
		uint64_t t = carry + (i < a->n ? a->w[i] : 0) + (i < b->n ? b->w[i] : 0);
		r->w[i] = (uint32_t)t;
		carry = t >> 32;
	}
	r->n = n;
	if (carry)
		r->w[r->n++] = (uint32_t)carry;
}

/* a -= b, a >= b. */
static void bn_sub(struct bn *a, const struct bn *b)
{
	int64_t borrow = 0;
	for (int i = 0; i < a->n; i++) {
		int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
		borrow = t < 0;
		a->w[i] = (uint32_t)(t + (borrow << 32));
	}
	while (a->n && a->w[a->n - 1] == 0)
		a->n--;
}

/* FDBigInteger.quoRemIteration: q = b / s, b = (b % s) * 10. */
static int bn_quo_rem(struct bn *b, const struct bn *s)
{
	int q = 0;
	while (q < 10 && bn_cmp(b, s) >= 0) {
		bn_sub(b, s);
		q++;
	}
	bn_mul_small(b, 10);
	return q;
}

static const uint8_t n_5_bits[] = {0,  3,  5,  7,  10, 12, 14, 17, 19, 21, 24, 26, 28, 31,
				   33, 35, 38, 40, 42, 45, 47, 49, 52, 54, 56, 59, 61};

/* FloatingDecimal's insignificantDigitsNumber. */
static const uint8_t insignificant_digits[] = {
	0,  0,	0,  0,	1,  1,	1,  2,	2,  2,	3,  3,	3,  3,	4,  4,	4,  5,  5,  5,	6,  6,
	6,  6,	7,  7,	7,  8,	8,  8,	9,  9,	9,  9,	10, 10, 10, 11, 11, 11, 12, 12, 12, 12,
	13, 13, 13, 14, 14, 14, 15, 15, 15, 15, 16, 16, 16, 17, 17, 17, 18, 18, 18, 19,
};

static uint64_t pow5_u64(int p)
{
	uint64_t v = 1;
	while (p-- > 0)
		v *= 5;
	return v;
}

struct fd_digits {
	char d[32];
	int n;
	int dec_exp; /* value = 0.d x 10^dec_exp */
};

static void fd_roundup(struct fd_digits *fd)
{
	int i = fd->n - 1;
	char q = fd->d[i];
	if (q == '9') {
		while (q == '9' && i > 0) {
			fd->d[i] = '0';
			q = fd->d[--i];
		}
		if (q == '9') {
			fd->dec_exp += 1;
			fd->d[0] = '1';
			return;
		}
	}
	fd->d[i] = (char)(q + 1);
}

/* developLongDigits(0, lvalue, insignificant). */
static void fd_long_digits(struct fd_digits *fd, uint64_t lv, int insig)
{
	int dec_exp = 0;
	if (insig) {
		uint64_t pow10 = pow5_u64(insig) << insig;
		uint64_t residue = lv % pow10;
		lv /= pow10;
		dec_exp += insig;
		if (residue >= (pow10 >> 1))
			lv++;
	}
	char rev[24];
	int k = 0;
	while (lv % 10 == 0) {
		dec_exp++;
		lv /= 10;
	}
	while (lv) {
		rev[k++] = (char)('0' + lv % 10);
		lv /= 10;
	}
	for (int j = 0; j < k; j++)
		fd->d[j] = rev[k - 1 - j];
	fd->n = k;
	fd->dec_exp = dec_exp + k;
}

/* estimateDecExp: floor of an estimate of log10 of the value. */
static int fd_estimate_dec_exp(uint64_t fract_bits, int bin_exp)
{
	uint64_t bits = 0x3ff0000000000000ull | (fract_bits & 0x000fffffffffffffull);
	double d2;
	memcpy(&d2, &bits, 8);
	double d = (d2 - 1.5) * 0.289529654 + 0.176091259 + (double)bin_exp * 0.301029995663981;
	return (int)floor(d);
}

/* BinaryToASCIIBuffer.dtoa (isCompatibleFormat true): fract_bits has its
 * high-order bit at bit 52. */
static void fd_dtoa(struct fd_digits *fd, int bin_exp, uint64_t fract_bits, int n_sig_bits)
{
	const int tail_zeros = __builtin_ctzll(fract_bits);
	const int n_fract_bits = 53 - tail_zeros;
	int n_tiny_bits = SL_MAX(0, n_fract_bits - bin_exp - 1);
	if (bin_exp <= 62 && bin_exp >= -21 && n_tiny_bits < 27 &&
	    n_fract_bits + n_5_bits[n_tiny_bits] < 64 && n_tiny_bits == 0) {
		int insig = 0;
		if (bin_exp > n_sig_bits) {
			int p2 = bin_exp - n_sig_bits - 1;
			if (p2 > 1 && p2 < (int)sizeof(insignificant_digits))
				insig = insignificant_digits[p2];
		}
		uint64_t lv = bin_exp >= 52 ? fract_bits << (bin_exp - 52) : fract_bits >> (52 - bin_exp);
		fd_long_digits(fd, lv, insig);
		return;
	}
	int dec_exp = fd_estimate_dec_exp(fract_bits, bin_exp);
	int b5 = SL_MAX(0, -dec_exp), b2 = b5 + n_tiny_bits + bin_exp;
	int s5 = SL_MAX(0, dec_exp), s2 = s5 + n_tiny_bits;
	int m5 = b5, m2 = b2 - n_sig_bits;
	fract_bits >>= tail_zeros;
	b2 -= n_fract_bits - 1;
	int common2 = SL_MIN(b2, s2);
	b2 -= common2;
	s2 -= common2;
	m2 -= common2;
	if (n_fract_bits == 1)
		m2 -= 1;
	if (m2 < 0) {
		b2 -= m2;
		s2 -= m2;
		m2 = 0;
	}
	int ndigit = 0, q;
	bool low, high;
	int64_t low_digit_difference;
	int b_bits = n_fract_bits + b2 + (b5 < (int)sizeof(n_5_bits) ? n_5_bits[b5] : b5 * 3);
	int ten_s_bits =
	    s2 + 1 + (s5 + 1 < (int)sizeof(n_5_bits) ? n_5_bits[s5 + 1] : (s5 + 1) * 3);
	if (b_bits < 64 && ten_s_bits < 64) {
		/* Java int (below 32 bits) or long arithmetic, wrapping as Java's. */
		bool ints = b_bits < 32 && ten_s_bits < 32;
#define WRAP(x) (ints ? (int64_t)(int32_t)(uint32_t)(uint64_t)(x) : (int64_t)(uint64_t)(x))
		int64_t b = WRAP((uint64_t)WRAP((uint64_t)fract_bits * pow5_u64(b5)) << b2);
		int64_t s = WRAP(pow5_u64(s5) << s2);
		int64_t m = WRAP(pow5_u64(m5) << m2);
		int64_t tens = WRAP((uint64_t)s * 10u);
		q = (int)(b / s);
		b = WRAP((uint64_t)(b % s) * 10u);
		m = WRAP((uint64_t)m * 10u);
		low = b < m;
		high = WRAP((uint64_t)b + (uint64_t)m) > tens;
		if (q == 0 && !high)
			dec_exp--;
		else
			fd->d[ndigit++] = (char)('0' + q);
		if (dec_exp < -3 || dec_exp >= 8)
			high = low = false;
		while (!low && !high && ndigit < (int)sizeof(fd->d)) {
			q = (int)(b / s);
			b = WRAP((uint64_t)(b % s) * 10u);
			m = WRAP((uint64_t)m * 10u);
			if (m > 0) {
				low = b < m;
				high = WRAP((uint64_t)b + (uint64_t)m) > tens;
			} else {
				low = high = true; /* Java's "m might overflow" hack */
			}
			fd->d[ndigit++] = (char)('0' + q);
		}
		low_digit_difference = WRAP((uint64_t)WRAP((uint64_t)b << 1) - (uint64_t)tens);
#undef WRAP
	} else {
		static _Thread_local struct bn sv, bv, mv, tsv, sum;
		bn_set_mul_pow52(&sv, 1, s5, s2);
		bn_set_mul_pow52(&bv, fract_bits, b5, b2);
		bn_set_mul_pow52(&mv, 1, m5 + 1, m2 + 1);
		bn_set_mul_pow52(&tsv, 1, s5 + 1, s2 + 1);
		q = bn_quo_rem(&bv, &sv);
		low = bn_cmp(&bv, &mv) < 0;
		bn_add(&sum, &bv, &mv);
		high = bn_cmp(&tsv, &sum) <= 0;
		if (q == 0 && !high)
			dec_exp--;
		else
			fd->d[ndigit++] = (char)('0' + q);
		if (dec_exp < -3 || dec_exp >= 8)
			high = low = false;
		while (!low && !high && ndigit < (int)sizeof(fd->d)) {
			q = bn_quo_rem(&bv, &sv);
			bn_mul_small(&mv, 10);
			low = bn_cmp(&bv, &mv) < 0;
			bn_add(&sum, &bv, &mv);
			high = bn_cmp(&tsv, &sum) <= 0;
			fd->d[ndigit++] = (char)('0' + q);
		}
		low_digit_difference = 0;
		if (high && low) {
			bn_shl(&bv, 1);
			low_digit_difference = bn_cmp(&bv, &tsv);
		}
	}
	fd->dec_exp = dec_exp + 1;
	fd->n = ndigit;
	if (high) {
		if (low) {
			if (low_digit_difference == 0) {
				if ((fd->d[fd->n - 1] & 1) != 0)
					fd_roundup(fd);
			} else if (low_digit_difference > 0) {
				fd_roundup(fd);
			}
		} else {
			fd_roundup(fd);
		}
	}
}

/* getChars. */
static int fd_chars(const struct fd_digits *fd, bool neg, char *buf)
{
	int i = 0, de = fd->dec_exp, n = fd->n;
	if (neg)
		buf[i++] = '-';
	if (de > 0 && de < 8) {
		int len = SL_MIN(n, de);
		memcpy(buf + i, fd->d, (size_t)len);
		i += len;
		if (len < de) {
			memset(buf + i, '0', (size_t)(de - len));
			i += de - len;
			buf[i++] = '.';
			buf[i++] = '0';
		} else {
			buf[i++] = '.';
			if (len < n) {
				memcpy(buf + i, fd->d + len, (size_t)(n - len));
				i += n - len;
			} else {
				buf[i++] = '0';
			}
		}
	} else if (de <= 0 && de > -3) {
		buf[i++] = '0';
		buf[i++] = '.';
		memset(buf + i, '0', (size_t)-de);
		i += -de;
		memcpy(buf + i, fd->d, (size_t)n);
		i += n;
	} else {
		buf[i++] = fd->d[0];
		buf[i++] = '.';
		if (n > 1) {
			memcpy(buf + i, fd->d + 1, (size_t)(n - 1));
			i += n - 1;
		} else {
			buf[i++] = '0';
		}
		i += sprintf(buf + i, "E%d", de <= 0 ? -(-de + 1) : de - 1);
	}
	buf[i] = '\0';
	return i;
}

static int java_number(double v, bool is_float, char *buf)
{
	struct fd_digits fd;
	uint64_t fract;
	int bin_exp, n_sig;
	bool neg;
	if (isnan(v))
		return sprintf(buf, "NaN");
	if (isinf(v))
		return sprintf(buf, v > 0 ? "Infinity" : "-Infinity");
	if (v == 0)
		return sprintf(buf, signbit(v) ? "-0.0" : "0.0");
	neg = signbit(v);
	if (is_float) {
		float f = (float)v;
		uint32_t bits;
		memcpy(&bits, &f, 4);
		uint32_t fb = bits & 0x7fffffu;
		bin_exp = (int)((bits >> 23) & 0xff);
		if (bin_exp == 0) {
			int lz = __builtin_clz(fb), shift = lz - (31 - 23);
			fb <<= shift;
			bin_exp = 1 - shift;
			n_sig = 32 - lz;
		} else {
			fb |= 0x800000u;
			n_sig = 24;
		}
		bin_exp -= 127;
		fract = (uint64_t)fb << (52 - 23);
	} else {
		uint64_t bits;
		memcpy(&bits, &v, 8);
		fract = bits & 0x000fffffffffffffull;
		bin_exp = (int)((bits >> 52) & 0x7ff);
		if (bin_exp == 0) {
			int lz = __builtin_clzll(fract), shift = lz - (63 - 52);
			fract <<= shift;
			bin_exp = 1 - shift;
			n_sig = 64 - lz;
		} else {
			fract |= 1ull << 52;
			n_sig = 53;
		}
		bin_exp -= 1023;
	}
	fd_dtoa(&fd, bin_exp, fract, n_sig);
	return fd_chars(&fd, neg, buf);
}

int sl_java_float_to_string(float v, char *buf)
{
	return java_number((double)v, true, buf);
}

int sl_java_double_to_string(double v, char *buf)
{
	return java_number(v, false, buf);
}

/* ---- Java number parsing ---------------------------------------------------------- */

/* String.trim(): drops chars <= ' ' at both ends. */
void fmt_java_trim(const char **s, size_t *len)
{
	while (*len && (unsigned char)**s <= ' ') {
		(*s)++;
		(*len)--;
	}
	while (*len && (unsigned char)(*s)[*len - 1] <= ' ')
		(*len)--;
}

bool fmt_java_parse_long(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	uint64_t v = 0, lim;
	if (len == 0)
		return false;
	if (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-';
		if (++i == len)
			return false;
	}
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < len; i++) {
		unsigned dg = (unsigned)(s[i] - '0');
		if (dg > 9 || v > (lim - dg) / 10)
			return false;
		v = v * 10 + dg;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

/*
 * Java's Float/Double.parseFloat/parseDouble grammar after trim: [+-]
 * (NaN | Infinity | digits[.digits] | .digits) [e[+-]digits] [fFdD], or a
 * hex float 0x...p... Converts with strtof/strtod (both round correctly).
 * buf is scratch of at least len + 1 bytes.
 */
bool fmt_java_parse_fp(const char *s, size_t len, bool is_float, char *buf, double *out)
{
	size_t i = 0, n;
	bool neg = false;
	fmt_java_trim(&s, &len);
	if (len == 0)
		return false;
	if (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-';
		i = 1;
	}
	if (len - i == 3 && memcmp(s + i, "NaN", 3) == 0) {
		*out = NAN;
		return true;
	}
	if (len - i == 8 && memcmp(s + i, "Infinity", 8) == 0) {
		*out = neg ? -INFINITY : INFINITY;
		return true;
	}
	size_t j = i;
	if (len - j > 2 && s[j] == '0' && (s[j + 1] == 'x' || s[j + 1] == 'X')) {
		size_t digits = 0;
		j += 2;
		while (j < len && isxdigit((unsigned char)s[j]))
			j++, digits++;
		if (j < len && s[j] == '.') {
			j++;
			while (j < len && isxdigit((unsigned char)s[j]))
				j++, digits++;
		}
		if (digits == 0 || j >= len || (s[j] != 'p' && s[j] != 'P'))
			return false;
		j++;
	} else {
		size_t digits = 0;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++, digits++;
		if (j < len && s[j] == '.') {
			j++;
			while (j < len && s[j] >= '0' && s[j] <= '9')
				j++, digits++;
		}
		if (digits == 0)
			return false;
		if (j < len && (s[j] == 'e' || s[j] == 'E'))
			j++;
		else
			goto suffix;
	}
	/* exponent digits */
	if (j < len && (s[j] == '+' || s[j] == '-'))
		j++;
	{
		size_t ed = 0;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++, ed++;
		if (ed == 0)
			return false;
	}
suffix:
	n = j;
	if (j < len && (s[j] == 'f' || s[j] == 'F' || s[j] == 'd' || s[j] == 'D'))
		j++;
	if (j != len)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = is_float ? (double)strtof(buf, NULL) : strtod(buf, NULL);
	return true;
}

/* Integer.parseInt / Long.parseLong after trim, range-checked to [lo, hi]. */
bool fmt_java_parse_int(const char *s, size_t len, int64_t lo, int64_t hi, int64_t *out)
{
	int64_t v;
	fmt_java_trim(&s, &len);
	if (!fmt_java_parse_long(s, len, &v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* ---- dates and times -------------------------------------------------------------- */

static bool digits_n(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

/* ISO_LOCAL_DATE, four-digit years: "yyyy-MM-dd". */
bool fmt_parse_iso_date(const char *s, size_t n, int64_t *days)
{
	int y, m, d;
	if (n != 10 || s[4] != '-' || s[7] != '-' || !digits_n(s, 4, &y) || !digits_n(s + 5, 2, &m) ||
	    !digits_n(s + 8, 2, &d) || !sl_civil_valid(y, (unsigned)m, (unsigned)d))
		return false;
	*days = sl_days_from_civil(y, (unsigned)m, (unsigned)d);
	return true;
}

/* An optional fraction ".fffffffff" (0 to 9 digits, the point alone allowed,
 * as appendFraction(NANO_OF_SECOND, 0, 9, true)) at s[*i]: adds its ms. */
static bool parse_fraction(const char *s, size_t n, size_t *i, int64_t *ms)
{
	if (*i == n || s[*i] != '.')
		return true;
	(*i)++;
	int k = 0, frac = 0;
	while (*i < n && s[*i] >= '0' && s[*i] <= '9' && k < 9) {
		if (k < 3)
			frac = frac * 10 + (s[*i] - '0');
		(*i)++;
		k++;
	}
	for (int j = k; j < 3; j++)
		frac *= 10;
	*ms += k ? frac : 0;
	return true;
}

/*
 * Flink's json TIMESTAMP / TIMESTAMP_LTZ text: SQL "yyyy-MM-dd HH:mm:ss[.f]"
 * or ISO-8601 "yyyy-MM-ddTHH:mm[:ss[.f]]", with a trailing 'Z' for LTZ;
 * to ms since the epoch (UTC), sub-ms digits dropped.
 */
bool fmt_parse_flink_ts(const char *s, size_t n, enum fmt_ts_standard std, bool ltz,
			   int64_t *out)
{
	int64_t days, ms = 0;
	int hh, mi, ss = 0;
	size_t i;
	if (n < 16 || !fmt_parse_iso_date(s, 10, &days) || s[10] != (std == FMT_TS_SQL ? ' ' : 'T'))
		return false;
	if (!digits_n(s + 11, 2, &hh) || s[13] != ':' || !digits_n(s + 14, 2, &mi) || hh > 23 ||
	    mi > 59)
		return false;
	i = 16;
	if (std == FMT_TS_SQL || (i < n && s[i] == ':')) {
		if (i + 3 > n || s[i] != ':' || !digits_n(s + i + 1, 2, &ss) || ss > 59)
			return false;
		i += 3;
		if (!parse_fraction(s, n, &i, &ms))
			return false;
	}
	if (ltz) {
		if (i == n || s[i] != 'Z')
			return false;
		i++;
	}
	if (i != n)
		return false;
	*out = days * 86400000 + (int64_t)hh * 3600000 + (int64_t)mi * 60000 + ss * 1000 + ms;
	return true;
}

/* 1 or 2 digits at s[*i]. */
static bool digits_12(const char *s, size_t n, size_t *i, int *out)
{
	size_t k = 0;
	int v = 0;
	while (*i < n && k < 2 && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (s[(*i)++] - '0');
		k++;
	}
	*out = v;
	return k > 0;
}

bool fmt_parse_ts_lenient(const char *s, size_t n, int64_t *out)
{
	int y, m, d, hh = 0, mi = 0, ss = 0;
	int64_t ms = 0;
	size_t i = 4;
	if (n < 8 || !digits_n(s, 4, &y) || s[i++] != '-' || !digits_12(s, n, &i, &m) || i >= n ||
	    s[i++] != '-' || !digits_12(s, n, &i, &d) || !sl_civil_valid(y, (unsigned)m, (unsigned)d))
		return false;
	if (i < n) {
		if (s[i++] != ' ' || !digits_12(s, n, &i, &hh) || i >= n || s[i++] != ':' ||
		    !digits_12(s, n, &i, &mi) || i >= n || s[i++] != ':' ||
		    !digits_12(s, n, &i, &ss) || hh > 23 || mi > 59 || ss > 59)
			return false;
		if (!parse_fraction(s, n, &i, &ms) || i != n)
			return false;
	}
	*out = sl_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400000 + (int64_t)hh * 3600000 +
	       (int64_t)mi * 60000 + ss * 1000 + ms;
	return true;
}

bool fmt_parse_ts_iso6_fallback(const char *s, size_t n, int64_t *out)
{
	int64_t days;
	int hh, mi, ss, us;
	/* The pattern: exactly "yyyy-MM-ddTHH:mm:ss.SSSSSS". */
	if (n == 26 && fmt_parse_iso_date(s, 10, &days) && s[10] == 'T' && digits_n(s + 11, 2, &hh) &&
	    s[13] == ':' && digits_n(s + 14, 2, &mi) && s[16] == ':' && digits_n(s + 17, 2, &ss) &&
	    s[19] == '.' && digits_n(s + 20, 6, &us) && hh < 24 && mi < 60 && ss < 60) {
		*out = days * 86400000 + (int64_t)hh * 3600000 + (int64_t)mi * 60000 + ss * 1000 +
		       us / 1000;
		return true;
	}
	/* Fallback: trimmed, Timestamp.valueOf("yyyy-[m]m-[d]d hh:mm:ss[.f...]")
	 * if it has a space, else Date.valueOf("yyyy-[m]m-[d]d"). */
	fmt_java_trim(&s, &n);
	const char *sp = memchr(s, ' ', n);
	size_t i = 4, date_end = sp ? (size_t)(sp - s) : n;
	int y, m, d;
	int64_t ms = 0;
	if (date_end < 8 || !digits_n(s, 4, &y) || s[i++] != '-' ||
	    !digits_12(s, date_end, &i, &m) || i >= date_end || s[i++] != '-' ||
	    !digits_12(s, date_end, &i, &d) || i != date_end || !sl_civil_valid(y, (unsigned)m, (unsigned)d))
		return false;
	hh = mi = ss = 0;
	if (sp) {
		i = date_end + 1;
		if (i + 8 > n || !digits_n(s + i, 2, &hh) || s[i + 2] != ':' ||
		    !digits_n(s + i + 3, 2, &mi) || s[i + 5] != ':' || !digits_n(s + i + 6, 2, &ss) ||
		    hh > 23 || mi > 59 || ss > 59)
			return false;
		i += 8;
		if (i < n) {
			if (s[i] != '.' || i + 1 == n)
				return false;
			if (!parse_fraction(s, n, &i, &ms) || i != n)
				return false;
		}
	}
	*out = sl_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400000 + (int64_t)hh * 3600000 +
	       (int64_t)mi * 60000 + ss * 1000 + ms;
	return true;
}

/* LocalDateTime.toString() of ms since the epoch (UTC). */
int fmt_local_date_time(int64_t ms, char *buf)
{
	int64_t days = ms / 86400000 - (ms % 86400000 < 0);
	int64_t rem = ms - days * 86400000, y;
	unsigned m, d;
	int o = 0;
	sl_civil_from_days(days, &y, &m, &d);
	if (y > -1000 && y < 1000)
		o = sprintf(buf, "%s%04lld", y < 0 ? "-" : "", (long long)(y < 0 ? -y : y));
	else
		o = sprintf(buf, "%s%lld", y > 9999 ? "+" : "", (long long)y);
	unsigned hh = (unsigned)(rem / 3600000), mi = (unsigned)(rem / 60000 % 60);
	unsigned ss = (unsigned)(rem / 1000 % 60), mss = (unsigned)(rem % 1000);
	o += sprintf(buf + o, "-%02u-%02uT%02u:%02u", m, d, hh, mi);
	if (ss || mss)
		o += sprintf(buf + o, ":%02u", ss);
	if (mss)
		o += sprintf(buf + o, ".%03u", mss);
	return o;
}


/* ---- value conversion ------------------------------------------------------------- */

const char *fmt_as_text(struct sl_decoder *d, struct sl_json_elem v, size_t *len)
{
	const char *s = "";
	int64_t i;
	double f;
	bool bo;
	*len = 0;
	switch (sl_json_type(v)) {
	case SL_JSON_STRING:
		sl_json_get_string(v, &s, len);
		return s;
	case SL_JSON_INT:
		sl_json_get_int64(v, &i);
		*len = (size_t)sprintf(d->scratch, "%lld", (long long)i);
		return d->scratch;
	case SL_JSON_UINT:
		/* The only way to read it exactly is its JSON text. */
		*len = (size_t)sl_json_minify(v, d->scratch, 32);
		return d->scratch;
	case SL_JSON_DOUBLE:
		sl_json_get_double(v, &f);
		*len = (size_t)sl_java_double_to_string(f, d->scratch);
		return d->scratch;
	case SL_JSON_BOOL:
		sl_json_get_bool(v, &bo);
		s = bo ? "true" : "false";
		*len = strlen(s);
		return s;
	case SL_JSON_NULL:
		*len = 4;
		return "null";
	default:
		return ""; /* containers and missing: asText() is "" */
	}
}

/* A field value for a message: quoted and cut for one line. */
static const char *show_text(const char *s, size_t len, char *buf, size_t cap)
{
	size_t n = SL_MIN(len, cap - 6), o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < n; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
	if (n < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *json_kind(enum sl_json_type t)
{
	switch (t) {
	case SL_JSON_BOOL:
		return "a boolean";
	case SL_JSON_ARRAY:
		return "an array";
	case SL_JSON_OBJECT:
		return "an object";
	case SL_JSON_INT:
	case SL_JSON_UINT:
	case SL_JSON_DOUBLE:
		return "a number";
	default:
		return "a string";
	}
}

/* A value that does not convert: an error, or NULL with ignore-parse-errors
 * (Flink's wrapIntoNullableConverter). */
static int bad_value(struct sl_decoder *d, const struct fmt_col *c, struct sl_json_elem v,
		     const char *text, size_t len, bool *null)
{
	char tb[96], ty[48];
	struct sl_field fld = {.type = c->type, .precision = c->precision, .scale = c->scale};
	if (d->f->ignore_parse_errors) {
		*null = true;
		return 0;
	}
	sl_field_type_text(&fld, ty, sizeof(ty));
	enum sl_json_type jt = sl_json_type(v);
	if (jt == SL_JSON_OBJECT || jt == SL_JSON_ARRAY || jt == SL_JSON_BOOL)
		return fmt_fail(d, "Fail to deserialize at field: %s: %s is not a valid %s",
				c->name, json_kind(jt), ty);
	return fmt_fail(d, "Fail to deserialize at field: %s: %s is not a valid %s", c->name,
			show_text(text, len, tb, sizeof(tb)), ty);
}

/*
 * One non-STRING field value v (not null, not missing) of column c: Flink's
 * converters, type by type. Sets *out, or *null when the value becomes NULL
 * (ignore-parse-errors, a DECIMAL with too many digits). Returns 0 or
 * -EINVAL with the cause set.
 */
static int convert_scalar(struct sl_decoder *d, const struct fmt_col *c, struct sl_json_elem v,
			  union sl_val *out, bool *null)
{
	enum sl_json_type jt = sl_json_type(v);
	const char *s;
	size_t len;
	int64_t i;
	double f;
	bool bo;

	*null = false;
	switch (c->type) {
	case SL_T_INT:
	case SL_T_BIGINT: {
		int64_t lo = c->type == SL_T_INT ? INT32_MIN : INT64_MIN;
		int64_t hi = c->type == SL_T_INT ? INT32_MAX : INT64_MAX;
		if (jt == SL_JSON_INT) {
			sl_json_get_int64(v, &i);
			if (i < lo || i > hi)
				goto bad_text;
		} else if (jt == SL_JSON_DOUBLE) {
			/* canConvertToInt/Long: in range, then truncated (asInt). */
			sl_json_get_double(v, &f);
			if (!(f >= (double)lo && f <= (double)hi))
				goto bad_text;
			i = f >= 9223372036854775807.0 ? INT64_MAX : (int64_t)f;
		} else if (jt == SL_JSON_STRING) {
			sl_json_get_string(v, &s, &len);
			if (!fmt_java_parse_int(s, len, lo, hi, &i))
				return bad_value(d, c, v, s, len, null);
		} else {
			goto bad_text;
		}
		out->i = i;
		return 0;
	}
	case SL_T_FLOAT:
	case SL_T_DOUBLE: {
		bool is_float = c->type == SL_T_FLOAT;
		if (jt == SL_JSON_DOUBLE) {
			sl_json_get_double(v, &f);
			if (is_float)
				f = (double)(float)f;
		} else if (jt == SL_JSON_INT) {
			sl_json_get_int64(v, &i);
			f = is_float ? (double)(float)i : (double)i;
		} else if (jt == SL_JSON_UINT) {
			/* Float.parseFloat of its text: round the integer once. */
			s = fmt_as_text(d, v, &len);
			fmt_java_parse_fp(s, len, is_float, d->scratch + 64, &f);
		} else if (jt == SL_JSON_STRING) {
			sl_json_get_string(v, &s, &len);
			if (len >= FMT_SCRATCH_BYTES || !fmt_java_parse_fp(s, len, is_float, d->scratch, &f))
				return bad_value(d, c, v, s, len, null);
		} else {
			goto bad_text;
		}
		out->f = f;
		return 0;
	}
	case SL_T_BOOL:
		if (jt == SL_JSON_BOOL) {
			sl_json_get_bool(v, &bo);
		} else {
			/* Boolean.parseBoolean(asText().trim()): never fails. */
			s = fmt_as_text(d, v, &len);
			fmt_java_trim(&s, &len);
			bo = len == 4 && strncasecmp(s, "true", 4) == 0;
		}
		out->i = bo;
		return 0;
	case SL_T_DECIMAL: {
		/* new BigDecimal(asText()) (no trim); too many digits: NULL. */
		if (jt == SL_JSON_OBJECT || jt == SL_JSON_ARRAY || jt == SL_JSON_BOOL)
			goto bad_text;
		s = fmt_as_text(d, v, &len);
		int rc = sl_decimal_parse(s, len, c->precision, c->scale, &i);
		if (rc == -EINVAL)
			return bad_value(d, c, v, s, len, null);
		if (rc < 0)
			*null = true;
		else
			out->i = i;
		return 0;
	}
	case SL_T_DATE:
		if (jt != SL_JSON_STRING)
			goto bad_text;
		sl_json_get_string(v, &s, &len);
		if (!fmt_parse_iso_date(s, len, &i))
			return bad_value(d, c, v, s, len, null);
		out->i = i;
		return 0;
	case SL_T_TIMESTAMP:
	case SL_T_TIMESTAMP_LTZ:
		if (jt != SL_JSON_STRING)
			goto bad_text;
		sl_json_get_string(v, &s, &len);
		if (!fmt_parse_flink_ts(s, len, d->f->ts_standard, c->type == SL_T_TIMESTAMP_LTZ, &i))
			return bad_value(d, c, v, s, len, null);
		out->i = i;
		return 0;
	default:
		SL_ASSERT(!"type checked in sl_format_new");
		return -EINVAL;
	}
bad_text:
	s = fmt_as_text(d, v, &len);
	return bad_value(d, c, v, s, len, null);
}

/* Copies s into the batch as column c of row r; -ENOBUFS when the heap is full. */
static inline int put_str(struct sl_batch *b, uint32_t col, uint32_t r, const char *s, size_t len)
{
	return sl_batch_set_str(b, col, r, s, len) ? 0 : -ENOBUFS;
}

/* Bytes a[0..len) == b[0..len), inlined: keys are short and a libc call costs more. */
static inline bool key_eq(const char *a, const char *b, size_t len)
{
	uint64_t x, y;
	while (len >= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return false;
		a += 8;
		b += 8;
		len -= 8;
	}
	while (len--)
		if (*a++ != *b++)
			return false;
	return true;
}

/*
 * One field value v (JSON null allowed: the column stays NULL) into column c
 * of row r of b, or only checked when b is NULL. The common cases (a string
 * for STRING, an integer in range for INT/BIGINT) take one call into the
 * JSON layer.
 * Returns 0, -EINVAL (cause set) or -ENOBUFS.
 */
static inline int convert(struct sl_decoder *d, const struct fmt_col *c, struct sl_json_elem v,
			  struct sl_batch *b, uint32_t r)
{
	const char *s;
	size_t len;
	int64_t i;
	if (c->type == SL_T_STRING) {
		if (SL_LIKELY(sl_json_get_string(v, &s, &len)))
			return b ? put_str(b, c->col, r, s, len) : 0;
		enum sl_json_type jt = sl_json_type(v);
		if (!b || jt == SL_JSON_NULL)
			return 0; /* anything converts to a STRING */
		if (jt == SL_JSON_OBJECT || jt == SL_JSON_ARRAY) {
			ssize_t n = sl_json_minify(v, b->heap + b->heap_len, sl_batch_heap_free(b));
			if (n < 0)
				return -ENOBUFS;
			sl_batch_str_reserve(b, c->col, r, (uint32_t)n);
			return 0;
		}
		s = fmt_as_text(d, v, &len);
		return put_str(b, c->col, r, s, len);
	}
	if ((c->type == SL_T_BIGINT || c->type == SL_T_INT) && SL_LIKELY(sl_json_get_int64(v, &i)) &&
	    (c->type == SL_T_BIGINT || (i >= INT32_MIN && i <= INT32_MAX))) {
		if (b)
			sl_batch_set_i(b, c->col, r, i);
		return 0;
	}
	if (sl_json_type(v) == SL_JSON_NULL)
		return 0;
	union sl_val val;
	bool null;
	int rc = convert_scalar(d, c, v, &val, &null);
	if (rc < 0 || !b || null)
		return rc;
	b->cols[c->col].v[r] = val;
	sl_batch_set_valid(b, c->col, r, true);
	return 0;
}

int fmt_row(struct sl_decoder *d, struct sl_json_elem v, int kind, const char *what,
	    uint32_t *row)
{
	const struct sl_format *f = d->f;
	enum sl_json_type jt = sl_json_type(v);
	struct sl_json_iter it;
	struct sl_json_elem val;
	const char *key;
	size_t klen;
	uint64_t present = 0;
	uint32_t guess = 0, r = 0;
	struct sl_batch *b = kind == FMT_NO_ROW ? NULL : d->b;
	int rc;

	if (jt == SL_JSON_NULL || jt == SL_JSON_MISSING)
		return 1;
	if (jt != SL_JSON_OBJECT) {
		if (f->ignore_parse_errors)
			return 1;
		return fmt_fail(d, "%s is %s, not a JSON object", what, json_kind(jt));
	}
	/* One pass over the members; a later duplicate wins, as in Jackson. */
	sl_json_iter_init(v, &it);
	while (sl_json_iter_next(&it, &key, &klen, &val)) {
		int idx;
		if (guess < f->n_phys && f->phys[guess].name_len == klen &&
		    key_eq(f->phys[guess].name, key, klen))
			idx = (int)guess;
		else
			idx = fmt_lookup(f, key, klen);
		if (idx < 0)
			continue;
		guess = (uint32_t)idx + 1;
		d->slot[idx] = fmt_elem(val);
		present |= 1ull << idx;
	}
	if (f->fail_on_missing_field && present != f->all_phys) {
		uint64_t missing = f->all_phys & ~present;
		return fmt_fail(d, "Could not find field with name '%s'.",
				f->phys[__builtin_ctzll(missing)].name);
	}
	if (b) {
		if (b->n_rows >= SL_BATCH_ROWS)
			return -ENOBUFS;
		r = sl_batch_begin_row(b, (uint8_t)kind, d->ingest_ns, INT64_MIN);
		if (r + 1 > d->hi)
			d->hi = r + 1;
	}
	for (uint64_t m = present; m; m &= m - 1) {
		uint32_t idx = (uint32_t)__builtin_ctzll(m);
		rc = convert(d, &f->phys[idx], d->slot[idx], b, r);
		if (rc < 0)
			return rc;
	}
	if (b) {
		for (uint32_t k = 0; k < f->n_mcol; k++) {
			const struct fmt_mval *mv = &d->mval[f->mcol[k].id];
			if (!mv->valid)
				continue;
			b->cols[f->mcol[k].col].v[r] = mv->v;
			sl_batch_set_valid(b, f->mcol[k].col, r, true);
		}
		sl_batch_commit_row(b);
		*row = r;
	}
	return 0;
}

void fmt_fill_unchanged(struct sl_decoder *d, uint32_t before, uint32_t after,
			uint64_t names_in_old)
{
	const struct sl_format *f = d->f;
	struct sl_batch *b = d->b;
	for (uint32_t i = 0; i < f->n_phys; i++) {
		uint32_t c = f->phys[i].col;
		if (sl_batch_is_valid(b, c, before) || ((names_in_old >> i) & 1u))
			continue;
		if (!sl_batch_is_valid(b, c, after))
			continue;
		/* A string shares the after row's heap bytes: rows only read them. */
		b->cols[c].v[before] = b->cols[c].v[after];
		sl_batch_set_valid(b, c, before, true);
	}
}

static uint64_t names_anywhere(const struct sl_format *f, struct sl_json_elem v, unsigned depth)
{
	struct sl_json_iter it;
	struct sl_json_elem val;
	const char *key;
	size_t klen;
	uint64_t mask = 0;
	enum sl_json_type t = sl_json_type(v);
	if ((t != SL_JSON_OBJECT && t != SL_JSON_ARRAY) || depth > SL_JSON_MAX_DEPTH + 1)
		return 0;
	sl_json_iter_init(v, &it);
	while (sl_json_iter_next(&it, &key, &klen, &val)) {
		if (key) {
			int idx = fmt_lookup(f, key, klen);
			if (idx >= 0)
				mask |= 1ull << idx;
		}
		mask |= names_anywhere(f, val, depth + 1);
	}
	return mask;
}

uint64_t fmt_names_anywhere(const struct sl_format *f, struct sl_json_elem v)
{
	return names_anywhere(f, v, 0);
}

/* ---- message-level converters ------------------------------------------------------- */

/* Appends bytes to the batch heap as part of one string being built. */
struct heap_w {
	struct sl_batch *b;
	uint32_t start;
	bool full;
};

static void hw_put(struct heap_w *w, const char *s, size_t n)
{
	if (w->full || n > sl_batch_heap_free(w->b)) {
		w->full = true;
		return;
	}
	memcpy(w->b->heap + w->b->heap_len, s, n);
	w->b->heap_len += (uint32_t)n;
}

static void hw_escape(struct heap_w *w, const char *s, size_t n)
{
	if (w->full)
		return;
	ssize_t k = sl_json_escape(s, n, w->b->heap + w->b->heap_len, sl_batch_heap_free(w->b));
	if (k < 0)
		w->full = true;
	else
		w->b->heap_len += (uint32_t)k;
}

/* STRING conversion text of v as a JSON string literal (containers as their text). */
static void hw_string_value(struct sl_decoder *d, struct heap_w *w, struct sl_json_elem v)
{
	enum sl_json_type t = sl_json_type(v);
	if (t == SL_JSON_OBJECT || t == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(v, d->scratch, FMT_SCRATCH_BYTES);
		if (n < 0) {
			w->full = true;
			return;
		}
		hw_escape(w, d->scratch, (size_t)n);
		return;
	}
	size_t len;
	const char *s = fmt_as_text(d, v, &len);
	hw_escape(w, s, len);
}

static int hw_done(struct heap_w *w, bool *valid, union sl_val *out)
{
	if (w->full)
		return -ENOBUFS;
	out->s.off = w->start;
	out->s.len = w->b->heap_len - w->start;
	*valid = true;
	return 0;
}

int fmt_meta_string(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		    union sl_val *out)
{
	(void)what;
	enum sl_json_type t = sl_json_type(v);
	struct heap_w w = {d->b, d->b->heap_len, false};
	*valid = false;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING)
		return 0;
	if (t == SL_JSON_OBJECT || t == SL_JSON_ARRAY) {
		ssize_t n = sl_json_minify(v, d->b->heap + d->b->heap_len, sl_batch_heap_free(d->b));
		if (n < 0)
			return -ENOBUFS;
		d->b->heap_len += (uint32_t)n;
		return hw_done(&w, valid, out);
	}
	size_t len;
	const char *s = fmt_as_text(d, v, &len);
	hw_put(&w, s, len);
	return hw_done(&w, valid, out);
}

int fmt_meta_bigint(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		    int64_t *out)
{
	struct fmt_col c = {.type = SL_T_BIGINT, .name = what, .name_len = (uint32_t)strlen(what)};
	enum sl_json_type t = sl_json_type(v);
	union sl_val val;
	bool null;
	*valid = false;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING)
		return 0;
	int rc = convert_scalar(d, &c, v, &val, &null);
	if (rc == 0 && !null) {
		*valid = true;
		*out = val.i;
	}
	return rc;
}

int fmt_meta_map(struct sl_decoder *d, struct sl_json_elem v, enum sl_type vtype,
		 const char *what, bool *valid, union sl_val *out)
{
	enum sl_json_type t = sl_json_type(v);
	struct heap_w w = {d->b, d->b->heap_len, false};
	struct sl_json_iter it;
	struct sl_json_elem val;
	const char *key;
	size_t klen;
	bool first = true;
	*valid = false;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING)
		return 0;
	hw_put(&w, "{", 1);
	if (t == SL_JSON_OBJECT) {
		sl_json_iter_init(v, &it);
		while (sl_json_iter_next(&it, &key, &klen, &val)) {
			enum sl_json_type vt = sl_json_type(val);
			if (!first)
				hw_put(&w, ",", 1);
			first = false;
			hw_escape(&w, key, klen);
			hw_put(&w, ":", 1);
			if (vt == SL_JSON_NULL) {
				hw_put(&w, "null", 4);
			} else if (vtype == SL_T_STRING) {
				hw_string_value(d, &w, val);
			} else {
				struct fmt_col c = {.type = SL_T_INT, .name = what};
				union sl_val iv;
				bool null;
				int rc = convert_scalar(d, &c, val, &iv, &null);
				if (rc < 0)
					return rc;
				char num[24];
				int n = null ? sprintf(num, "null")
					     : sprintf(num, "%lld", (long long)iv.i);
				hw_put(&w, num, (size_t)n);
			}
		}
	}
	hw_put(&w, "}", 1);
	return hw_done(&w, valid, out);
}

int fmt_meta_array(struct sl_decoder *d, struct sl_json_elem v, const char *what, bool *valid,
		   union sl_val *out)
{
	enum sl_json_type t = sl_json_type(v);
	struct heap_w w = {d->b, d->b->heap_len, false};
	struct sl_json_iter it;
	struct sl_json_elem val;
	bool first = true;
	*valid = false;
	if (t == SL_JSON_NULL || t == SL_JSON_MISSING)
		return 0;
	if (t != SL_JSON_ARRAY) {
		if (d->f->ignore_parse_errors)
			return 0;
		return fmt_fail(d, "%s is %s, not a JSON array", what, json_kind(t));
	}
	hw_put(&w, "[", 1);
	sl_json_iter_init(v, &it);
	while (sl_json_iter_next(&it, NULL, NULL, &val)) {
		if (!first)
			hw_put(&w, ",", 1);
		first = false;
		if (sl_json_type(val) == SL_JSON_NULL)
			hw_put(&w, "null", 4);
		else
			hw_string_value(d, &w, val);
	}
	hw_put(&w, "]", 1);
	return hw_done(&w, valid, out);
}

/* ---- Flink row notation ------------------------------------------------------------ */

ssize_t sl_row_format_flink(const struct sl_batch *b, uint32_t r, char *buf, size_t cap)
{
	SL_ASSERT(b && b->schema && r < b->n_rows);
	size_t o = 0;
	char tmp[64];
#define EMIT(p, n)                                                                                 \
	do {                                                                                       \
		size_t n_ = (n);                                                                   \
		if (o + n_ > cap)                                                                  \
			return -ENOSPC;                                                            \
		memcpy(buf + o, (p), n_);                                                          \
		o += n_;                                                                           \
	} while (0)
	EMIT(sl_kind_str((enum sl_kind)b->kind[r]), 2);
	EMIT("(", 1);
	for (uint32_t c = 0; c < b->n_cols; c++) {
		const struct sl_field *fld = &b->schema->fields[c];
		union sl_val v = b->cols[c].v[r];
		int n = 0;
		if (c)
			EMIT(",", 1);
		if (!sl_batch_is_valid(b, c, r)) {
			EMIT("null", 4);
			continue;
		}
		switch (fld->type) {
		case SL_T_STRING: {
			uint32_t len;
			const char *s = sl_batch_str(b, c, r, &len);
			EMIT(s, len);
			continue;
		}
		case SL_T_BOOL:
			n = sprintf(tmp, "%s", v.i ? "true" : "false");
			break;
		case SL_T_FLOAT:
			n = sl_java_float_to_string((float)v.f, tmp);
			break;
		case SL_T_DOUBLE:
			n = sl_java_double_to_string(v.f, tmp);
			break;
		case SL_T_DECIMAL:
			n = sl_decimal_format(v.i, fld->scale, tmp);
			break;
		case SL_T_TIMESTAMP:
		case SL_T_TIMESTAMP_LTZ:
			n = fmt_local_date_time(v.i, tmp);
			break;
		default: /* INT, BIGINT, DATE (GenericRowData keeps a DATE as its day number) */
			n = sprintf(tmp, "%lld", (long long)v.i);
			break;
		}
		EMIT(tmp, (size_t)n);
	}
	EMIT(")", 1);
	return (ssize_t)o;
#undef EMIT
}
