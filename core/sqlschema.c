/* Flink SQL column lists: a small lexer and a recursive-descent reader with
 * recovery at commas, so one pass reports every bad column. */
#include "core/sqlschema.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum tok_kind {
	TOK_END,
	TOK_WORD,   /* bare word: a name or a keyword */
	TOK_QNAME,  /* `back-quoted` name */
	TOK_STRING, /* 'string' */
	TOK_NUMBER,
	TOK_PUNCT, /* one of ( ) , < > and anything else unexpected */
	TOK_BAD,   /* unterminated quote */
};

struct tok {
	enum tok_kind kind;
	size_t off, len; /* the token's text in the input (quotes included) */
};

struct parser {
	const char *s;
	size_t len, i;
	struct sl_pos pos;
	bool quoted;
	struct sl_diag *d;
	struct tok t; /* current token */
	int errors;
};

static bool is_word_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_word_char(char c)
{
	return is_word_start(c) || (c >= '0' && c <= '9') || c == '$';
}

/* Where byte off of the text is in the document. */
static struct sl_pos pos_at(const struct parser *p, size_t off)
{
	struct sl_pos at = p->pos;
	size_t line_start = 0;
	uint32_t lines = 0;
	for (size_t k = 0; k < off && k < p->len; k++)
		if (p->s[k] == '\n') {
			lines++;
			line_start = k + 1;
		}
	if (lines == 0) {
		at.col = p->pos.col + (uint32_t)off + (p->quoted ? 1 : 0);
	} else {
		at.line = p->pos.line + lines;
		at.col = (uint32_t)(off - line_start) + 1;
	}
	return at;
}

__attribute__((format(printf, 3, 4))) static void error_at(struct parser *p, size_t off,
							   const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_diag_error(p->d, pos_at(p, off), "schema: %s", msg);
	p->errors++;
}

static void next(struct parser *p)
{
	const char *s = p->s;
	size_t i = p->i;
	for (;;) {
		while (i < p->len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
		if (i + 1 < p->len && s[i] == '-' && s[i + 1] == '-') {
			while (i < p->len && s[i] != '\n')
				i++;
			continue;
		}
		break;
	}
	struct tok t = {TOK_END, i, 0};
	if (i >= p->len) {
		p->t = t;
		p->i = i;
		return;
	}
	char c = s[i];
	size_t j = i + 1;
	if (is_word_start(c)) {
		while (j < p->len && is_word_char(s[j]))
			j++;
		t.kind = TOK_WORD;
	} else if (c >= '0' && c <= '9') {
		while (j < p->len && s[j] >= '0' && s[j] <= '9')
			j++;
		t.kind = TOK_NUMBER;
	} else if (c == '`' || c == '\'') {
		t.kind = TOK_BAD;
		while (j < p->len) {
			if (s[j] == c) {
				if (j + 1 < p->len && s[j + 1] == c) {
					j += 2;
					continue;
				}
				j++;
				t.kind = c == '`' ? TOK_QNAME : TOK_STRING;
				break;
			}
			j++;
		}
	} else {
		t.kind = TOK_PUNCT;
		/* One UTF-8 character, so messages quote it whole. */
		if ((unsigned char)c >= 0xc0)
			while (j < p->len && ((unsigned char)s[j] & 0xc0) == 0x80)
				j++;
	}
	t.len = j - i;
	p->t = t;
	p->i = j;
}

static bool is_kw(const struct parser *p, const char *kw)
{
	return p->t.kind == TOK_WORD && strlen(kw) == p->t.len &&
	       strncasecmp(p->s + p->t.off, kw, p->t.len) == 0;
}

static bool is_punct(const struct parser *p, char c)
{
	return p->t.kind == TOK_PUNCT && p->s[p->t.off] == c;
}

/* The current token's text for a message, shortened. */
static const char *tok_text(const struct parser *p, char *buf, size_t cap)
{
	if (p->t.kind == TOK_END)
		snprintf(buf, cap, "end of schema");
	else
		snprintf(buf, cap, "'%.*s'", (int)SL_MIN(p->t.len, 40), p->s + p->t.off);
	return buf;
}

/* Unquotes a `name` or 'string' token into buf (cap bytes, NUL-terminated).
 * Returns false if it does not fit. */
static bool unquote(const struct parser *p, char *buf, size_t cap)
{
	const char *s = p->s + p->t.off;
	size_t n = p->t.len, o = 0;
	if (p->t.kind == TOK_WORD) {
		if (n >= cap)
			return false;
		memcpy(buf, s, n);
		buf[n] = '\0';
		return true;
	}
	char q = s[0];
	for (size_t k = 1; k + 1 < n; k++) {
		if (s[k] == q)
			k++; /* a doubled quote */
		if (o + 1 >= cap)
			return false;
		buf[o++] = s[k];
	}
	buf[o] = '\0';
	return true;
}

/* Skips to the next comma at depth 0 (or the end) after an error. */
static void recover(struct parser *p)
{
	int depth = 0;
	while (p->t.kind != TOK_END) {
		if (is_punct(p, '(') || is_punct(p, '<'))
			depth++;
		else if ((is_punct(p, ')') || is_punct(p, '>')) && depth > 0)
			depth--;
		else if (is_punct(p, ',') && depth == 0)
			return;
		next(p);
	}
}

/* Words that end a type. */
static bool ends_type(const struct parser *p)
{
	static const char *const kws[] = {"NOT",     "NULL",       "METADATA", "COMMENT",
					  "PRIMARY", "CONSTRAINT", "VIRTUAL",  NULL};
	if (p->t.kind == TOK_END || is_punct(p, ','))
		return true;
	for (size_t k = 0; kws[k]; k++)
		if (is_kw(p, kws[k]))
			return true;
	return false;
}

/*
 * Reads a type into f (type, precision, scale): the words and parameter
 * lists up to a keyword that follows types, normalised to single spaces and
 * "(p, s)" for sl_type_parse_ps. Returns false after reporting.
 */
static bool parse_type(struct parser *p, struct sl_field *f)
{
	char text[128];
	size_t n = 0, start = p->t.off, end = p->t.off;
	int depth = 0;
	bool too_long = false;
	while (!ends_type(p) || depth > 0) {
		if (p->t.kind == TOK_END)
			break;
		if (p->t.kind == TOK_BAD || p->t.kind == TOK_STRING || p->t.kind == TOK_QNAME)
			break;
		const char *w = p->s + p->t.off;
		size_t wl = p->t.len;
		bool open = is_punct(p, '(') || is_punct(p, '<');
		bool close = is_punct(p, ')') || is_punct(p, '>');
		bool comma = is_punct(p, ',');
		/* A space goes between two words only. */
		bool space = n > 0 && text[n - 1] != '(' && text[n - 1] != '<' && !open && !close &&
			     !comma && text[n - 1] != ' ';
		if (n > 0 && text[n - 1] == ',')
			space = true; /* "(10, 2)" */
		if (n + wl + 2 >= sizeof(text)) {
			too_long = true;
		} else {
			if (space)
				text[n++] = ' ';
			memcpy(text + n, w, wl);
			n += wl;
		}
		depth += open ? 1 : close ? -1 : 0;
		end = p->t.off + p->t.len;
		next(p);
		if (depth < 0)
			break;
	}
	text[n] = '\0';
	if (n == 0) {
		char tb[64];
		error_at(p, p->t.off, "expected a column type, got %s", tok_text(p, tb, sizeof(tb)));
		return false;
	}
	if (too_long || !sl_type_parse_ps(text, n, &f->type, &f->precision, &f->scale)) {
		int pr = -1;
		const char *paren = strchr(text, '(');
		if (paren)
			pr = atoi(paren + 1);
		if (!too_long && pr > 3 && strncasecmp(text, "TIMESTAMP", 9) == 0)
			error_at(p, start,
				 "type '%s': sluice keeps timestamps in milliseconds, precision at most 3",
				 text);
		else if (!too_long && pr > (int)SL_DECIMAL_MAX_PRECISION &&
			 (strncasecmp(text, "DEC", 3) == 0 || strncasecmp(text, "NUMERIC", 7) == 0))
			error_at(p, start, "type '%s': DECIMAL precision is at most %u", text,
				 SL_DECIMAL_MAX_PRECISION);
		else
			error_at(p, start,
				 "unknown type '%.*s' (BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, "
				 "DECIMAL(p,s), STRING, VARCHAR(n), DATE, TIMESTAMP(3), "
				 "TIMESTAMP_LTZ(3))",
				 (int)SL_MIN(end - start, 60), p->s + start);
		return false;
	}
	return true;
}

static int find_col(const struct sl_sqlschema *s, const char *name)
{
	return sl_schema_find(&s->schema, name);
}

/* Reads a name token (word or `quoted`) into buf; reports and returns false otherwise. */
static bool read_name(struct parser *p, char *buf, const char *what)
{
	char tb[64];
	if (p->t.kind != TOK_WORD && p->t.kind != TOK_QNAME) {
		error_at(p, p->t.off, "expected %s, got %s", what, tok_text(p, tb, sizeof(tb)));
		return false;
	}
	if (!unquote(p, buf, SL_NAME_MAX)) {
		error_at(p, p->t.off, "name '%.*s' is longer than %u bytes",
			 (int)SL_MIN(p->t.len, 80), p->s + p->t.off, SL_NAME_MAX - 1);
		return false;
	}
	if (buf[0] == '\0') {
		error_at(p, p->t.off, "empty name");
		return false;
	}
	next(p);
	return true;
}

/* PRIMARY KEY (a, b) NOT ENFORCED; the current token is PRIMARY. */
/* The "NOT ENFORCED" every Flink PRIMARY KEY needs (the constraint starts
 * at `at`), and the rule that there is only one. */
static bool pk_not_enforced(struct parser *p, bool *seen_pk, size_t at)
{
	char tb[64];
	if (!is_kw(p, "NOT")) {
		error_at(p, at,
			 "PRIMARY KEY must be declared NOT ENFORCED (Flink supports only NOT "
			 "ENFORCED)");
		return false;
	}
	next(p);
	if (!is_kw(p, "ENFORCED")) {
		error_at(p, p->t.off, "expected ENFORCED after NOT, got %s",
			 tok_text(p, tb, sizeof(tb)));
		return false;
	}
	next(p);
	if (*seen_pk) {
		error_at(p, at, "more than one PRIMARY KEY");
		return false;
	}
	*seen_pk = true;
	return true;
}

static bool parse_table_pk(struct parser *p, bool *seen_pk, size_t at, uint32_t *pending_cols,
			   uint32_t *n_pending)
{
	char tb[64];
	next(p);
	if (!is_kw(p, "KEY")) {
		error_at(p, p->t.off, "expected KEY after PRIMARY, got %s",
			 tok_text(p, tb, sizeof(tb)));
		return false;
	}
	next(p);
	if (!is_punct(p, '(')) {
		error_at(p, p->t.off, "expected '(' and the key columns, got %s",
			 tok_text(p, tb, sizeof(tb)));
		return false;
	}
	next(p);
	*n_pending = 0;
	for (;;) {
		char name[SL_NAME_MAX];
		size_t name_off = p->t.off;
		if (!read_name(p, name, "a key column"))
			return false;
		if (*n_pending == SL_MAX_KEYS) {
			error_at(p, name_off, "PRIMARY KEY has more than %u columns", SL_MAX_KEYS);
			return false;
		}
		/* Columns may be declared after the constraint: resolved at the end. */
		pending_cols[(*n_pending)++] = (uint32_t)name_off;
		(void)name;
		if (is_punct(p, ',')) {
			next(p);
			continue;
		}
		if (is_punct(p, ')')) {
			next(p);
			break;
		}
		error_at(p, p->t.off, "expected ',' or ')' in the key columns, got %s",
			 tok_text(p, tb, sizeof(tb)));
		return false;
	}
	return pk_not_enforced(p, seen_pk, at);
}

static bool parse_column(struct parser *p, struct sl_sqlschema *out, bool *seen_pk,
			 uint32_t *pending, uint32_t *n_pending)
{
	char tb[64];
	char name[SL_NAME_MAX];
	size_t name_off = p->t.off;
	if (!read_name(p, name, "a column name"))
		return false;
	if (is_kw(p, "AS")) {
		error_at(p, p->t.off, "column '%s': computed columns (AS ...) are not supported",
			 name);
		return false;
	}
	struct sl_field f;
	memset(&f, 0, sizeof(f));
	if (!parse_type(p, &f))
		return false;
	bool not_null = false, is_meta = false, is_virtual = false, col_pk = false;
	char key[SL_META_KEY_MAX];
	size_t key_off = name_off;
	snprintf(key, sizeof(key), "%s", name);
	if (is_kw(p, "NOT")) {
		next(p);
		if (!is_kw(p, "NULL")) {
			error_at(p, p->t.off, "expected NULL after NOT, got %s",
				 tok_text(p, tb, sizeof(tb)));
			return false;
		}
		next(p);
		not_null = true;
	} else if (is_kw(p, "NULL")) {
		next(p);
	}
	if (is_kw(p, "METADATA")) {
		is_meta = true;
		next(p);
		if (is_kw(p, "FROM")) {
			next(p);
			if (p->t.kind != TOK_STRING) {
				error_at(p, p->t.off,
					 "column '%s': METADATA FROM expects a quoted key such as "
					 "'source.timestamp', got %s",
					 name, tok_text(p, tb, sizeof(tb)));
				return false;
			}
			key_off = p->t.off + 1;
			if (!unquote(p, key, sizeof(key)) || key[0] == '\0') {
				error_at(p, p->t.off, "column '%s': metadata key is empty or longer "
						      "than %u bytes",
					 name, SL_META_KEY_MAX - 1);
				return false;
			}
			next(p);
		}
		if (is_kw(p, "VIRTUAL")) {
			is_virtual = true;
			next(p);
		}
	} else if (is_kw(p, "CONSTRAINT") || is_kw(p, "PRIMARY")) {
		size_t at = p->t.off;
		if (is_kw(p, "CONSTRAINT")) {
			char cname[SL_NAME_MAX];
			next(p);
			if (!read_name(p, cname, "a constraint name"))
				return false;
		}
		if (!is_kw(p, "PRIMARY")) {
			error_at(p, p->t.off, "expected PRIMARY KEY, got %s",
				 tok_text(p, tb, sizeof(tb)));
			return false;
		}
		next(p);
		if (!is_kw(p, "KEY")) {
			error_at(p, p->t.off, "expected KEY after PRIMARY, got %s",
				 tok_text(p, tb, sizeof(tb)));
			return false;
		}
		next(p);
		if (!pk_not_enforced(p, seen_pk, at))
			return false;
		col_pk = true;
	} else if (is_kw(p, "VIRTUAL")) {
		error_at(p, p->t.off, "column '%s': VIRTUAL needs METADATA", name);
		return false;
	}
	if (is_kw(p, "COMMENT")) {
		next(p);
		if (p->t.kind != TOK_STRING) {
			error_at(p, p->t.off, "COMMENT expects a quoted string, got %s",
				 tok_text(p, tb, sizeof(tb)));
			return false;
		}
		next(p);
	}
	if (p->t.kind != TOK_END && !is_punct(p, ',')) {
		if (is_kw(p, "METADATA") || is_kw(p, "NOT") || is_kw(p, "NULL"))
			error_at(p, p->t.off,
				 "column '%s': write NOT NULL before METADATA, and each clause "
				 "once",
				 name);
		else
			error_at(p, p->t.off, "column '%s': expected ',' after the column, got %s",
				 name, tok_text(p, tb, sizeof(tb)));
		return false;
	}
	int rc = sl_schema_add(&out->schema, name, f.type, not_null);
	if (rc < 0) {
		error_at(p, name_off, "column '%s' %s", name,
			 rc == -EEXIST	  ? "is declared twice"
			 : rc == -ENOSPC ? "is one column too many"
					 : "has too long a name");
		return false;
	}
	uint32_t c = out->schema.n_fields - 1;
	out->schema.fields[c].precision = f.precision;
	out->schema.fields[c].scale = f.scale;
	out->col_pos[c] = pos_at(p, name_off);
	if (is_meta) {
		struct sl_sqlschema_meta *m = &out->meta[out->n_meta++];
		m->col = c;
		memcpy(m->key, key, sizeof(key));
		m->is_virtual = is_virtual;
		m->pos = pos_at(p, key_off);
	}
	if (col_pk) {
		*n_pending = 1;
		pending[0] = (uint32_t)name_off;
	}
	return true;
}

int sl_sqlschema_parse(const char *text, size_t len, struct sl_pos pos, bool quoted,
		       struct sl_sqlschema *out, struct sl_diag *d)
{
	SL_ASSERT(out && d);
	SL_ASSERT(text || len == 0);
	struct parser p = {.s = text, .len = len, .pos = pos, .quoted = quoted, .d = d};
	bool seen_pk = false;
	uint32_t pending[SL_MAX_KEYS]; /* offsets of the key names, resolved at the end */
	uint32_t n_pending = 0;

	memset(out, 0, sizeof(*out));
	next(&p);
	if (p.t.kind == TOK_END) {
		error_at(&p, 0, "no columns");
		return -EINVAL;
	}
	while (p.t.kind != TOK_END) {
		bool ok;
		if (is_kw(&p, "WATERMARK")) {
			error_at(&p, p.t.off,
				 "WATERMARK is not supported here (declare event time on the "
				 "source)");
			ok = false;
		} else if (is_kw(&p, "PRIMARY") || is_kw(&p, "CONSTRAINT")) {
			size_t at = p.t.off;
			ok = true;
			if (is_kw(&p, "CONSTRAINT")) {
				char cname[SL_NAME_MAX];
				next(&p);
				ok = read_name(&p, cname, "a constraint name");
				if (ok && !is_kw(&p, "PRIMARY")) {
					char tb[64];
					error_at(&p, p.t.off, "expected PRIMARY KEY, got %s",
						 tok_text(&p, tb, sizeof(tb)));
					ok = false;
				}
			}
			if (ok)
				ok = parse_table_pk(&p, &seen_pk, at, pending, &n_pending);
			if (ok && p.t.kind != TOK_END && !is_punct(&p, ',')) {
				char tb[64];
				error_at(&p, p.t.off, "expected ',' after PRIMARY KEY, got %s",
					 tok_text(&p, tb, sizeof(tb)));
				ok = false;
			}
		} else {
			ok = parse_column(&p, out, &seen_pk, pending, &n_pending);
		}
		if (!ok)
			recover(&p);
		if (is_punct(&p, ','))
			next(&p);
	}
	/* The primary key, now that every column is known. */
	if (p.errors)
		n_pending = 0;
	for (uint32_t k = 0; k < n_pending; k++) {
		struct parser q = p;
		char name[SL_NAME_MAX];
		q.i = pending[k];
		next(&q);
		unquote(&q, name, sizeof(name));
		int c = find_col(out, name);
		if (c < 0) {
			error_at(&p, pending[k], "PRIMARY KEY column '%s' is not declared", name);
			continue;
		}
		if (sl_sqlschema_meta_of(out, (uint32_t)c) >= 0) {
			error_at(&p, pending[k],
				 "PRIMARY KEY column '%s' is a METADATA column; a primary key must "
				 "be declared on physical columns",
				 name);
			continue;
		}
		for (uint32_t j = 0; j < out->n_pk; j++)
			if (out->pk[j] == (uint32_t)c) {
				error_at(&p, pending[k], "PRIMARY KEY names column '%s' twice", name);
				c = -1;
				break;
			}
		if (c < 0)
			continue;
		out->pk[out->n_pk++] = (uint32_t)c;
		out->schema.fields[c].not_null = true;
	}
	return p.errors ? -EINVAL : 0;
}

int sl_sqlschema_meta_of(const struct sl_sqlschema *s, uint32_t col)
{
	for (uint32_t i = 0; i < s->n_meta; i++)
		if (s->meta[i].col == col)
			return (int)i;
	return -1;
}
