/* Job files: libyaml events built into a positioned node tree in one arena,
 * overrides (--set, SLUICE__ environment) and typed scalar conversions. */
#include "core/config.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/limits.h"

/* ---- arena ------------------------------------------------------------- */

#define ARENA_CHUNK_BYTES (64u * 1024u)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used;
	size_t cap;
	_Alignas(max_align_t) unsigned char data[];
};

struct sl_cfg_doc {
	struct arena_chunk *chunks; /* head is the one being filled */
	struct sl_cfg_node *root;
	const char *name; /* in the arena */
	uint32_t n_nodes; /* against SL_CONFIG_MAX_NODES, overrides included */
};

void *sl_cfg_alloc(struct sl_cfg_doc *doc, size_t size_bytes)
{
	const size_t align = _Alignof(max_align_t);
	SL_ASSERT(doc != NULL);
	if (size_bytes > SIZE_MAX / 2)
		return NULL;
	size_t size = size_bytes ? (size_bytes + align - 1) & ~(align - 1) : align;
	struct arena_chunk *c = doc->chunks;
	if (!c || c->cap - c->used < size) {
		size_t cap = SL_MAX(size, (size_t)ARENA_CHUNK_BYTES);
		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		if (doc->chunks && size > ARENA_CHUNK_BYTES / 4) {
			/* A big block gets its own chunk behind the head, so the
			 * head's free space is not thrown away. */
			c->next = doc->chunks->next;
			doc->chunks->next = c;
		} else {
			c->next = doc->chunks;
			doc->chunks = c;
		}
	}
	void *p = c->data + c->used;
	c->used += size;
	SL_DASSERT(c->used <= c->cap);
	memset(p, 0, size);
	return p;
}

static char *arena_strndup(struct sl_cfg_doc *doc, const char *s, size_t len)
{
	char *p = sl_cfg_alloc(doc, len + 1);
	if (p && len)
		memcpy(p, s, len);
	return p;
}

/* Longest document name or override origin kept for positions. */
#define ORIGIN_MAX_BYTES 240u

/* A document name or override origin as positions show it, in buf: control
 * characters replaced so that every diagnostic stays one line, and the middle
 * of a very long one cut out (a diagnostic line has a fixed size). */
static const char *short_name(char buf[ORIGIN_MAX_BYTES + 1], const char *s)
{
	size_t len = strlen(s), half = (ORIGIN_MAX_BYTES - 3) / 2;
	if (len <= ORIGIN_MAX_BYTES) {
		memcpy(buf, s, len + 1);
	} else {
		memcpy(buf, s, half);
		memcpy(buf + half, "...", 3);
		memcpy(buf + half + 3, s + len - half, half);
		len = 2 * half + 3;
		buf[len] = '\0';
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

static const char *arena_origin(struct sl_cfg_doc *doc, const char *s)
{
	char buf[ORIGIN_MAX_BYTES + 1];
	short_name(buf, s);
	return arena_strndup(doc, buf, strlen(buf));
}

static struct sl_cfg_doc *doc_new(const char *name)
{
	struct sl_cfg_doc *doc = calloc(1, sizeof(*doc));
	if (!doc)
		return NULL;
	doc->name = arena_origin(doc, name);
	if (!doc->name) {
		free(doc);
		return NULL;
	}
	return doc;
}

void sl_cfg_free(struct sl_cfg_doc *doc)
{
	if (!doc)
		return;
	struct arena_chunk *c = doc->chunks;
	while (c) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(doc);
}

struct sl_cfg_node *sl_cfg_root(struct sl_cfg_doc *doc)
{
	SL_ASSERT(doc != NULL && doc->root != NULL);
	return doc->root;
}

const char *sl_cfg_name(const struct sl_cfg_doc *doc)
{
	return doc->name;
}

const char *sl_cfg_type_name(enum sl_cfg_type type)
{
	switch (type) {
	case SL_CFG_NULL:
		return "null";
	case SL_CFG_SCALAR:
		return "scalar";
	case SL_CFG_MAP:
		return "map";
	case SL_CFG_SEQ:
		return "sequence";
	}
	return "?";
}

/* "a map", "a sequence", "null" — for "got ..." messages. */
static const char *type_with_article(enum sl_cfg_type type)
{
	switch (type) {
	case SL_CFG_MAP:
		return "a map";
	case SL_CFG_SEQ:
		return "a sequence";
	case SL_CFG_SCALAR:
		return "a scalar";
	default:
		return "null";
	}
}

/*
 * Maps' key and value arrays always hold map_cap(n) slots, so overrides can
 * append in amortised O(1) without a capacity field in the public node.
 */
static size_t map_cap(size_t n)
{
	size_t cap = 1;
	while (cap < n)
		cap *= 2;
	return n ? cap : 0;
}

/* A new node counted against SL_CONFIG_MAX_NODES. */
static int node_new(struct sl_cfg_doc *doc, enum sl_cfg_type type, struct sl_pos pos,
		    struct sl_diag *d, struct sl_cfg_node **out)
{
	if (doc->n_nodes >= SL_CONFIG_MAX_NODES)
		return sl_diag_error(d, pos,
				     "more than %u nodes in the document (SL_CONFIG_MAX_NODES; "
				     "each alias expansion counts)",
				     SL_CONFIG_MAX_NODES);
	struct sl_cfg_node *n = sl_cfg_alloc(doc, sizeof(*n));
	if (!n) {
		sl_diag_error(d, pos, "out of memory");
		return -ENOMEM;
	}
	doc->n_nodes++;
	n->type = type;
	n->pos = pos;
	*out = n;
	return 0;
}

/* ---- small helpers ----------------------------------------------------- */

/* Writes s[0..len) into buf (cap >= 16) as one printable line: control bytes
 * and invalid UTF-8 escaped, cut at about 60 bytes with "..." between
 * characters. */
static const char *show(char *buf, size_t cap, const char *s, size_t len)
{
	size_t limit = SL_MIN(cap - 4, (size_t)60), o = 0, i = 0;
	SL_ASSERT(cap >= 16);
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		size_t seq = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		bool valid = seq > 0 && i + seq <= len;
		for (size_t k = 1; valid && k < seq; k++)
			valid = ((unsigned char)s[i + k] & 0xc0) == 0x80;
		bool ctl = c < 0x20 || c == 0x7f;
		bool short_esc = c == '\n' || c == '\t' || c == '\r';
		size_t need = !valid || (ctl && !short_esc) ? 4 : ctl ? 2 : seq;
		if (o + need > limit)
			break;
		if (short_esc) {
			buf[o++] = '\\';
			buf[o++] = c == '\n' ? 'n' : c == '\t' ? 't' : 'r';
			i++;
		} else if (!valid || ctl) {
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
			i++;
		} else {
			memcpy(buf + o, s + i, seq);
			o += seq;
			i += seq;
		}
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	SL_DASSERT(o < cap);
	return buf;
}

#define SHOW_BYTES 80

static bool mem_ieq(const char *a, const char *b, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		if (x >= 'A' && x <= 'Z')
			x = (unsigned char)(x + 32);
		if (y >= 'A' && y <= 'Z')
			y = (unsigned char)(y + 32);
		if (x != y)
			return false;
	}
	return true;
}

static bool text_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

/* ---- string hash table (anchors, duplicate keys) ----------------------- */

struct strtab_entry {
	const char *s; /* not owned; must outlive the table */
	size_t len;
	void *val;
};

struct strtab {
	struct strtab_entry *e;
	size_t cap; /* a power of two, or 0 */
	size_t n;
};

static uint64_t str_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static struct strtab_entry *strtab_find(const struct strtab *t, const char *s, size_t len)
{
	if (!t->cap)
		return NULL;
	size_t mask = t->cap - 1;
	for (size_t i = str_hash(s, len) & mask;; i = (i + 1) & mask) {
		struct strtab_entry *e = &t->e[i];
		if (!e->s)
			return e;
		if (e->len == len && memcmp(e->s, s, len) == 0)
			return e;
	}
}

/* The slot for s: *found tells whether it held s already. NULL when out of
 * memory. The table is at most half full, so probing ends. */
static struct strtab_entry *strtab_slot(struct strtab *t, const char *s, size_t len, bool *found)
{
	if ((t->n + 1) * 2 > t->cap) {
		struct strtab old = *t;
		size_t cap = t->cap ? t->cap * 2 : 16;
		t->e = calloc(cap, sizeof(*t->e));
		if (!t->e) {
			*t = old;
			return NULL;
		}
		t->cap = cap;
		for (size_t i = 0; i < old.cap; i++)
			if (old.e[i].s)
				*strtab_find(t, old.e[i].s, old.e[i].len) = old.e[i];
		free(old.e);
	}
	struct strtab_entry *e = strtab_find(t, s, len);
	*found = e->s != NULL;
	if (!*found) {
		e->s = s;
		e->len = len;
		t->n++;
	}
	return e;
}

static void strtab_fini(struct strtab *t)
{
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* ---- loader: libyaml events -> nodes ----------------------------------- */

struct frame {
	struct sl_cfg_node *node;   /* the map or sequence being built */
	struct sl_cfg_node **items; /* maps: key, value, key, value...; malloc'd */
	uint32_t n;
	uint32_t cap;
	const char *anchor; /* registered when the collection ends; in the arena */
	size_t anchor_len;
};

struct loader {
	struct sl_cfg_doc *doc;
	const char *name; /* positions' file, in the arena */
	struct sl_diag *d;
	const char *text;
	size_t len;
	uint32_t base_depth; /* nesting of the parent of this text's root */
	int top;	     /* innermost open frame, -1 for none */
	struct frame stack[SL_CONFIG_MAX_DEPTH];
	struct strtab anchors; /* name -> node */
	struct sl_cfg_node *root;
	int n_docs;
	bool failed; /* an error was reported but parsing went on to find more */
};

static struct sl_pos mark_pos(const struct loader *L, yaml_mark_t m)
{
	struct sl_pos p = {L->name, m.line + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)m.line + 1,
			   m.column + 1 > UINT32_MAX ? UINT32_MAX : (uint32_t)m.column + 1};
	return p;
}

/* Line and column of a byte offset, for reader errors that carry no mark. */
static struct sl_pos offset_pos(const struct loader *L, size_t off)
{
	struct sl_pos p = {L->name, 1, 1};
	off = SL_MIN(off, L->len);
	for (size_t i = 0; i < off; i++) {
		unsigned char c = (unsigned char)L->text[i];
		if (c == '\n') {
			p.line++;
			p.col = 1;
		} else if ((c & 0xc0) != 0x80) {
			p.col++;
		}
	}
	return p;
}

static int yaml_error(struct loader *L, const yaml_parser_t *p)
{
	switch (p->error) {
	case YAML_MEMORY_ERROR:
		sl_diag_error(L->d, (struct sl_pos){L->name, 0, 0}, "out of memory parsing YAML");
		return -ENOMEM;
	case YAML_READER_ERROR:
		if (p->problem_value != -1)
			return sl_diag_error(L->d, offset_pos(L, p->problem_offset),
					     "invalid input: %s (0x%x)", p->problem,
					     (unsigned)p->problem_value);
		return sl_diag_error(L->d, offset_pos(L, p->problem_offset), "invalid input: %s",
				     p->problem);
	default:
		break;
	}
	/* At the end of the input libyaml moves to a new line; point at the
	 * end of the text instead (a one-line --set value stays on line 1). */
	struct sl_pos pos = mark_pos(L, p->problem_mark), end = offset_pos(L, L->len);
	if (pos.line > end.line || (pos.line == end.line && pos.col > end.col))
		pos = end;
	if (p->context)
		return sl_diag_error(L->d, pos, "YAML syntax error: %s (%s at %zu:%zu)",
				     p->problem ? p->problem : "unknown", p->context,
				     p->context_mark.line + 1, p->context_mark.column + 1);
	return sl_diag_error(L->d, pos, "YAML syntax error: %s",
			     p->problem ? p->problem : "unknown");
}

enum tag_effect { TAG_NONE, TAG_STR, TAG_PLAIN, TAG_NULL };

#define CORE_TAG "tag:yaml.org,2002:"

/* Accepts core tags that fit the node kind; reports the rest (not fatal). */
static enum tag_effect check_tag(struct loader *L, const yaml_char_t *tag, enum sl_cfg_type kind,
				 struct sl_pos pos)
{
	if (!tag)
		return TAG_NONE;
	const char *t = (const char *)tag;
	if (strcmp(t, "!") == 0)
		return kind == SL_CFG_SCALAR ? TAG_STR : TAG_NONE;
	size_t pl = strlen(CORE_TAG);
	if (strncmp(t, CORE_TAG, pl) == 0) {
		const char *c = t + pl;
		if (kind == SL_CFG_SCALAR) {
			if (strcmp(c, "str") == 0)
				return TAG_STR;
			if (strcmp(c, "null") == 0)
				return TAG_NULL;
			if (strcmp(c, "int") == 0 || strcmp(c, "float") == 0 ||
			    strcmp(c, "bool") == 0)
				return TAG_PLAIN;
		} else if ((kind == SL_CFG_MAP && strcmp(c, "map") == 0) ||
			   (kind == SL_CFG_SEQ && strcmp(c, "seq") == 0)) {
			return TAG_NONE;
		}
	}
	char buf[SHOW_BYTES];
	bool core = strncmp(t, CORE_TAG, pl) == 0;
	const char *shown = core ? t + pl : t;
	show(buf, sizeof(buf), shown, strlen(shown));
	sl_diag_error(L->d, pos,
		      "unsupported tag '%s%s' on a %s (allowed: !!str !!int !!float !!bool "
		      "!!null !!map !!seq)",
		      core ? "!!" : "", buf, sl_cfg_type_name(kind));
	L->failed = true;
	return TAG_NONE;
}

static bool at_key(const struct loader *L)
{
	return L->top >= 0 && L->stack[L->top].node->type == SL_CFG_MAP &&
	       L->stack[L->top].n % 2 == 0;
}

static uint32_t depth_of_next(const struct loader *L)
{
	return L->base_depth + (uint32_t)(L->top + 2);
}

static int add_child(struct loader *L, struct sl_cfg_node *node)
{
	if (L->top < 0) {
		SL_ASSERT(L->root == NULL);
		L->root = node;
		return 0;
	}
	struct frame *f = &L->stack[L->top];
	if (at_key(L) && node->type != SL_CFG_SCALAR)
		return sl_diag_error(L->d, node->pos, "a map key must be a scalar, got %s",
				     type_with_article(node->type));
	if (f->n == f->cap) {
		uint32_t cap = f->cap ? f->cap * 2 : 8;
		struct sl_cfg_node **items = realloc(f->items, cap * sizeof(*items));
		if (!items) {
			sl_diag_error(L->d, node->pos, "out of memory");
			return -ENOMEM;
		}
		f->items = items;
		f->cap = cap;
	}
	f->items[f->n++] = node;
	return 0;
}

static int register_anchor(struct loader *L, const char *name, size_t len, struct sl_cfg_node *node)
{
	bool found;
	struct strtab_entry *e = strtab_slot(&L->anchors, name, len, &found);
	if (!e) {
		sl_diag_error(L->d, node->pos, "out of memory");
		return -ENOMEM;
	}
	e->val = node; /* a redefined anchor names the newest node */
	return 0;
}

static const char *copy_anchor(struct loader *L, const yaml_char_t *anchor, size_t *len)
{
	*len = strlen((const char *)anchor);
	return arena_strndup(L->doc, (const char *)anchor, *len);
}

/* A deep copy of src for an alias; depth is the copy's nesting if it is a
 * collection. Node and depth limits apply to the copy. */
static int node_copy(struct loader *L, const struct sl_cfg_node *src, uint32_t depth,
		     struct sl_pos alias_pos, struct sl_cfg_node **out)
{
	struct sl_cfg_node *n = NULL;
	bool coll = src->type == SL_CFG_MAP || src->type == SL_CFG_SEQ;
	if (coll && depth > SL_CONFIG_MAX_DEPTH)
		return sl_diag_error(L->d, alias_pos,
				     "nesting deeper than %u levels (SL_CONFIG_MAX_DEPTH) after "
				     "expanding this alias",
				     SL_CONFIG_MAX_DEPTH);
	if (L->doc->n_nodes >= SL_CONFIG_MAX_NODES)
		return sl_diag_error(L->d, alias_pos,
				     "more than %u nodes in the document (SL_CONFIG_MAX_NODES; "
				     "each alias expansion counts)",
				     SL_CONFIG_MAX_NODES);
	int rc = node_new(L->doc, src->type, src->pos, L->d, &n);
	if (rc)
		return rc;
	n->str = src->str;
	n->len = src->len;
	n->quoted = src->quoted;
	if (coll && src->n) {
		size_t cap = src->type == SL_CFG_MAP ? map_cap(src->n) : src->n;
		n->vals = sl_cfg_alloc(L->doc, cap * sizeof(*n->vals));
		if (src->type == SL_CFG_MAP)
			n->keys = sl_cfg_alloc(L->doc, cap * sizeof(*n->keys));
		if (!n->vals || (src->type == SL_CFG_MAP && !n->keys)) {
			sl_diag_error(L->d, alias_pos, "out of memory");
			return -ENOMEM;
		}
		for (uint32_t i = 0; i < src->n; i++) {
			if (src->keys) {
				rc = node_copy(L, src->keys[i], depth + 1, alias_pos, &n->keys[i]);
				if (rc)
					return rc;
			}
			rc = node_copy(L, src->vals[i], depth + 1, alias_pos, &n->vals[i]);
			if (rc)
				return rc;
			n->n = i + 1;
		}
	}
	*out = n;
	return 0;
}

static bool is_null_text(const char *s, size_t len)
{
	return len == 0 || text_is(s, len, "~") || text_is(s, len, "null") ||
	       text_is(s, len, "Null") || text_is(s, len, "NULL");
}

static int on_scalar(struct loader *L, const yaml_event_t *ev)
{
	struct sl_pos pos = mark_pos(L, ev->start_mark);
	const char *text = (const char *)ev->data.scalar.value;
	size_t len = ev->data.scalar.length;
	bool plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	enum tag_effect eff = check_tag(L, ev->data.scalar.tag, SL_CFG_SCALAR, pos);
	bool key = at_key(L);
	bool null =
	    !key && (eff == TAG_NULL || (plain && eff == TAG_NONE && is_null_text(text, len)));
	struct sl_cfg_node *n = NULL;
	int rc = node_new(L->doc, null ? SL_CFG_NULL : SL_CFG_SCALAR, pos, L->d, &n);
	if (rc)
		return rc;
	if (!null) {
		char *s = arena_strndup(L->doc, text, len);
		if (!s) {
			sl_diag_error(L->d, pos, "out of memory");
			return -ENOMEM;
		}
		n->str = s;
		n->len = len;
		n->quoted = eff == TAG_STR || (!plain && eff != TAG_PLAIN);
	}
	if (ev->data.scalar.anchor) {
		size_t alen;
		const char *a = copy_anchor(L, ev->data.scalar.anchor, &alen);
		if (!a) {
			sl_diag_error(L->d, pos, "out of memory");
			return -ENOMEM;
		}
		rc = register_anchor(L, a, alen, n);
		if (rc)
			return rc;
	}
	return add_child(L, n);
}

static int on_alias(struct loader *L, const yaml_event_t *ev)
{
	struct sl_pos pos = mark_pos(L, ev->start_mark);
	const char *name = (const char *)ev->data.alias.anchor;
	struct strtab_entry *e = strtab_find(&L->anchors, name, strlen(name));
	if (!e || !e->s) {
		char buf[SHOW_BYTES];
		return sl_diag_error(L->d, pos, "alias '*%s' refers to no anchor defined before it",
				     show(buf, sizeof(buf), name, strlen(name)));
	}
	struct sl_cfg_node *n = NULL;
	int rc = node_copy(L, e->val, depth_of_next(L), pos, &n);
	if (rc)
		return rc;
	if (at_key(L) && n->type == SL_CFG_NULL)
		return sl_diag_error(L->d, pos, "a map key must be a scalar, got null");
	return add_child(L, n);
}

static int on_start(struct loader *L, const yaml_event_t *ev, enum sl_cfg_type type)
{
	struct sl_pos pos = mark_pos(L, ev->start_mark);
	if (depth_of_next(L) > SL_CONFIG_MAX_DEPTH)
		return sl_diag_error(L->d, pos,
				     "nesting deeper than %u levels (SL_CONFIG_MAX_DEPTH)",
				     SL_CONFIG_MAX_DEPTH);
	SL_ASSERT(L->top + 1 < (int)SL_ARRAY_LEN(L->stack));
	const yaml_char_t *tag, *anchor;
	if (type == SL_CFG_MAP) {
		tag = ev->data.mapping_start.tag;
		anchor = ev->data.mapping_start.anchor;
	} else {
		tag = ev->data.sequence_start.tag;
		anchor = ev->data.sequence_start.anchor;
	}
	check_tag(L, tag, type, pos);
	struct sl_cfg_node *n = NULL;
	int rc = node_new(L->doc, type, pos, L->d, &n);
	if (rc)
		return rc;
	rc = add_child(L, n);
	if (rc)
		return rc;
	struct frame *f = &L->stack[++L->top];
	memset(f, 0, sizeof(*f));
	f->node = n;
	if (anchor) {
		f->anchor = copy_anchor(L, anchor, &f->anchor_len);
		if (!f->anchor) {
			sl_diag_error(L->d, pos, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

static bool is_merge_key(const struct sl_cfg_node *k)
{
	return !k->quoted && text_is(k->str, k->len, "<<");
}

/* Entries a merge value contributes, or -1 if it is not a map or a
 * sequence of maps. */
static int64_t merge_size(const struct sl_cfg_node *v)
{
	if (v->type == SL_CFG_MAP)
		return v->n;
	if (v->type != SL_CFG_SEQ)
		return -1;
	int64_t n = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		if (v->vals[i]->type != SL_CFG_MAP)
			return -1;
		n += v->vals[i]->n;
	}
	return n;
}

static int merge_from(struct loader *L, struct sl_cfg_node *node, struct strtab *seen,
		      const struct sl_cfg_node *src)
{
	for (uint32_t j = 0; j < src->n; j++) {
		bool found;
		struct strtab_entry *e =
		    strtab_slot(seen, src->keys[j]->str, src->keys[j]->len, &found);
		if (!e) {
			sl_diag_error(L->d, node->pos, "out of memory");
			return -ENOMEM;
		}
		if (found)
			continue; /* explicit keys and earlier merges win */
		e->val = src->keys[j];
		node->keys[node->n] = src->keys[j];
		node->vals[node->n] = src->vals[j];
		node->n++;
	}
	return 0;
}

/* Moves a finished map's pairs into the arena: duplicate keys reported,
 * merge keys (<<) applied after the explicit keys. */
static int finish_map(struct loader *L, struct frame *f)
{
	struct sl_cfg_node *node = f->node;
	SL_ASSERT(f->n % 2 == 0);
	size_t cap = 0;
	for (uint32_t i = 0; i < f->n; i += 2) {
		if (!is_merge_key(f->items[i])) {
			cap++;
			continue;
		}
		int64_t m = merge_size(f->items[i + 1]);
		if (m < 0)
			return sl_diag_error(
			    L->d, f->items[i + 1]->pos,
			    "merge key '<<' needs a map or a sequence of maps, got %s",
			    type_with_article(f->items[i + 1]->type));
		cap += (size_t)m;
	}
	if (cap == 0)
		return 0;
	node->keys = sl_cfg_alloc(L->doc, map_cap(cap) * sizeof(*node->keys));
	node->vals = sl_cfg_alloc(L->doc, map_cap(cap) * sizeof(*node->vals));
	if (!node->keys || !node->vals) {
		sl_diag_error(L->d, node->pos, "out of memory");
		return -ENOMEM;
	}
	struct strtab seen = {0};
	int rc = 0;
	for (uint32_t i = 0; i < f->n && rc != -ENOMEM; i += 2) {
		struct sl_cfg_node *k = f->items[i];
		bool found;
		struct strtab_entry *e = strtab_slot(&seen, k->str, k->len, &found);
		if (!e) {
			sl_diag_error(L->d, k->pos, "out of memory");
			rc = -ENOMEM;
		} else if (found) {
			const struct sl_cfg_node *first = e->val;
			char buf[SHOW_BYTES];
			sl_diag_error(L->d, k->pos, "duplicate key '%s' (first at %u:%u)",
				      show(buf, sizeof(buf), k->str, k->len), first->pos.line,
				      first->pos.col);
			L->failed = true; /* keep the first, go on to find more */
		} else {
			e->val = k;
			if (!is_merge_key(k)) {
				node->keys[node->n] = k;
				node->vals[node->n] = f->items[i + 1];
				node->n++;
			}
		}
	}
	for (uint32_t i = 0; i < f->n && rc == 0; i += 2) {
		if (!is_merge_key(f->items[i]))
			continue;
		const struct sl_cfg_node *v = f->items[i + 1];
		if (v->type == SL_CFG_MAP) {
			rc = merge_from(L, node, &seen, v);
		} else {
			for (uint32_t j = 0; j < v->n && rc == 0; j++)
				rc = merge_from(L, node, &seen, v->vals[j]);
		}
	}
	SL_ASSERT(node->n <= cap);
	strtab_fini(&seen);
	return rc;
}

static int on_end(struct loader *L)
{
	SL_ASSERT(L->top >= 0);
	struct frame *f = &L->stack[L->top];
	int rc = 0;
	if (f->node->type == SL_CFG_MAP) {
		rc = finish_map(L, f);
	} else if (f->n) {
		f->node->vals = sl_cfg_alloc(L->doc, f->n * sizeof(*f->node->vals));
		if (f->node->vals) {
			memcpy(f->node->vals, f->items, f->n * sizeof(*f->items));
			f->node->n = f->n;
		} else {
			sl_diag_error(L->d, f->node->pos, "out of memory");
			rc = -ENOMEM;
		}
	}
	if (rc == 0 && f->anchor)
		rc = register_anchor(L, f->anchor, f->anchor_len, f->node);
	free(f->items);
	f->items = NULL;
	L->top--;
	return rc;
}

/* Parses text into nodes of doc. *out is the root node, or NULL for an empty
 * stream. Positions name `name` (which must live in doc's arena). */
static int cfg_parse(struct sl_cfg_doc *doc, const char *name, const char *text, size_t len,
		     uint32_t base_depth, struct sl_cfg_node **out, struct sl_diag *d)
{
	struct loader L = {.doc = doc,
			   .name = name,
			   .d = d,
			   .text = text,
			   .len = len,
			   .base_depth = base_depth,
			   .top = -1};
	yaml_parser_t p;
	int rc = 0;
	*out = NULL;
	if (len > SL_CONFIG_MAX_BYTES)
		return sl_diag_error(d, (struct sl_pos){name, 0, 0},
				     "larger than %u bytes (SL_CONFIG_MAX_BYTES)",
				     SL_CONFIG_MAX_BYTES);
	if (!yaml_parser_initialize(&p)) {
		sl_diag_error(d, (struct sl_pos){name, 0, 0}, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = yaml_error(&L, &p);
			break;
		}
		yaml_event_type_t type = ev.type;
		switch (type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++L.n_docs > 1)
				rc = sl_diag_error(d, mark_pos(&L, ev.start_mark),
						   "only one YAML document is allowed");
			break;
		case YAML_SCALAR_EVENT:
			rc = on_scalar(&L, &ev);
			break;
		case YAML_ALIAS_EVENT:
			rc = on_alias(&L, &ev);
			break;
		case YAML_SEQUENCE_START_EVENT:
			rc = on_start(&L, &ev, SL_CFG_SEQ);
			break;
		case YAML_MAPPING_START_EVENT:
			rc = on_start(&L, &ev, SL_CFG_MAP);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			rc = on_end(&L);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (rc || type == YAML_STREAM_END_EVENT)
			break;
	}
	for (; L.top >= 0; L.top--)
		free(L.stack[L.top].items);
	strtab_fini(&L.anchors);
	yaml_parser_delete(&p);
	if (rc == 0 && L.failed)
		rc = -EINVAL;
	if (rc == 0)
		*out = L.root;
	return rc;
}

/* ---- loading ----------------------------------------------------------- */

struct sl_cfg_doc *sl_cfg_load_string(const char *name, const char *text, size_t len,
				      struct sl_diag *d)
{
	struct sl_cfg_node *root = NULL;
	struct sl_cfg_doc *doc = doc_new(name ? name : "<input>");
	if (!doc) {
		sl_diag_error(d, (struct sl_pos){NULL, 0, 0}, "out of memory");
		return NULL;
	}
	if (cfg_parse(doc, doc->name, text, len, 0, &root, d))
		goto out_free;
	if (!root && node_new(doc, SL_CFG_MAP, (struct sl_pos){doc->name, 1, 1}, d, &root))
		goto out_free;
	if (root->type == SL_CFG_NULL)
		root->type = SL_CFG_MAP; /* "---" alone or "~": an empty job */
	doc->root = root;
	return doc;
out_free:
	sl_cfg_free(doc);
	return NULL;
}

struct sl_cfg_doc *sl_cfg_load_file(const char *path, struct sl_diag *d)
{
	char name[ORIGIN_MAX_BYTES + 1];
	struct sl_pos pos = {short_name(name, path), 0, 0};
	struct sl_cfg_doc *doc = NULL;
	char *buf = NULL;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		sl_diag_error(d, pos, "cannot open: %s", strerror(errno));
		return NULL;
	}
	/* Read at most one byte past the limit, whatever the file claims to be
	 * (pipes and /dev/stdin have no size). */
	buf = malloc(SL_CONFIG_MAX_BYTES + 1);
	if (!buf) {
		sl_diag_error(d, pos, "out of memory");
		goto out_close_fd;
	}
	while (len < SL_CONFIG_MAX_BYTES + 1) {
		ssize_t r = read(fd, buf + len, SL_CONFIG_MAX_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			sl_diag_error(d, pos, "cannot read: %s", strerror(errno));
			goto out_free_buf;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (len > SL_CONFIG_MAX_BYTES) {
		sl_diag_error(d, pos, "larger than %u bytes (SL_CONFIG_MAX_BYTES)",
			      SL_CONFIG_MAX_BYTES);
		goto out_free_buf;
	}
	doc = sl_cfg_load_string(path, buf, len, d);
out_free_buf:
	free(buf);
out_close_fd:
	close(fd);
	return doc;
}

struct sl_cfg_node *sl_cfg_parse_value(struct sl_cfg_doc *doc, const char *origin, const char *text,
				       struct sl_diag *d)
{
	struct sl_cfg_node *n = NULL;
	SL_ASSERT(doc && origin && text);
	const char *o = arena_origin(doc, origin);
	if (!o) {
		sl_diag_error(d, (struct sl_pos){NULL, 1, 1}, "out of memory");
		return NULL;
	}
	if (cfg_parse(doc, o, text, strlen(text), 0, &n, d))
		return NULL;
	if (!n && node_new(doc, SL_CFG_NULL, (struct sl_pos){o, 1, 1}, d, &n))
		return NULL;
	return n;
}

/* ---- lookups and unknown keys ------------------------------------------ */

struct sl_cfg_node *sl_cfg_get(struct sl_cfg_node *map, const char *key)
{
	if (!map || map->type != SL_CFG_MAP || !key)
		return NULL;
	size_t len = strlen(key);
	for (uint32_t i = 0; i < map->n; i++) {
		struct sl_cfg_node *k = map->keys[i];
		if (k->len == len && memcmp(k->str, key, len) == 0) {
			k->used = true;
			map->vals[i]->used = true;
			return map->vals[i];
		}
	}
	return NULL;
}

#define SUGGEST_MAX_LEN 64

static unsigned fold(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + 32u : c;
}

/* Optimal string alignment distance (adjacent transpositions count 1),
 * ignoring ASCII case. Both lengths are at most SUGGEST_MAX_LEN. */
static unsigned osa_distance(const char *a, size_t la, const char *b, size_t lb)
{
	unsigned rows[3][SUGGEST_MAX_LEN + 1];
	unsigned *pp = rows[0], *p = rows[1], *c = rows[2];
	SL_ASSERT(la <= SUGGEST_MAX_LEN && lb <= SUGGEST_MAX_LEN);
	for (size_t j = 0; j <= lb; j++)
		p[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		c[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			unsigned cost =
			    fold((unsigned char)a[i - 1]) != fold((unsigned char)b[j - 1]);
			unsigned v = SL_MIN(p[j] + 1, c[j - 1] + 1);
			v = SL_MIN(v, p[j - 1] + cost);
			if (i > 1 && j > 1 &&
			    fold((unsigned char)a[i - 1]) == fold((unsigned char)b[j - 2]) &&
			    fold((unsigned char)a[i - 2]) == fold((unsigned char)b[j - 1]))
				v = SL_MIN(v, pp[j - 2] + 1);
			c[j] = v;
		}
		unsigned *t = pp;
		pp = p;
		p = c;
		c = t;
	}
	return p[lb];
}

const char *sl_cfg_suggest(const char *word, size_t len, const char *const *known)
{
	const char *best = NULL;
	unsigned best_d = UINT32_MAX;
	unsigned limit = (unsigned)SL_MIN((size_t)2, len / 3);
	if (!known || len == 0 || len > SUGGEST_MAX_LEN)
		return NULL;
	for (size_t i = 0; known[i]; i++) {
		size_t kl = strlen(known[i]);
		if (kl > SUGGEST_MAX_LEN || (kl > len ? kl - len : len - kl) > limit)
			continue;
		unsigned dist = osa_distance(word, len, known[i], kl);
		if (dist <= limit && dist < best_d) {
			best = known[i];
			best_d = dist;
		}
	}
	return best;
}

static bool in_list(const char *s, size_t len, const char *const *list)
{
	for (size_t i = 0; list && list[i]; i++)
		if (text_is(s, len, list[i]))
			return true;
	return false;
}

/* "a, b, c" from a NULL-terminated list, duplicates dropped, cut to fit. */
static void join_list(char *buf, size_t cap, const char *const *list)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; list && list[i]; i++) {
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = strcmp(list[i], list[j]) == 0;
		if (dup)
			continue;
		int w = snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", list[i]);
		if (w < 0 || (size_t)w >= cap - o) {
			memcpy(buf + SL_MIN(o, cap - 6), ", ...", 6);
			return;
		}
		o += (size_t)w;
	}
}

int sl_cfg_unused(struct sl_cfg_node *map, const char *what, const char *const *known,
		  struct sl_diag *d)
{
	int rc = 0;
	if (!map || map->type != SL_CFG_MAP)
		return 0;
	for (uint32_t i = 0; i < map->n; i++) {
		const struct sl_cfg_node *k = map->keys[i];
		if (k->used || in_list(k->str, k->len, known))
			continue;
		char kb[SHOW_BYTES], list[512];
		show(kb, sizeof(kb), k->str, k->len);
		const char *near = sl_cfg_suggest(k->str, k->len, known);
		if (near) {
			sl_diag_error(d, k->pos, "unknown key '%s' in %s (did you mean '%s'?)", kb,
				      what, near);
		} else if (known && known[0]) {
			join_list(list, sizeof(list), known);
			sl_diag_error(d, k->pos, "unknown key '%s' in %s (expected one of: %s)", kb,
				      what, list);
		} else {
			sl_diag_error(d, k->pos, "unknown key '%s' in %s", kb, what);
		}
		rc = -EINVAL;
	}
	return rc;
}

/* ---- overrides --------------------------------------------------------- */

struct seg {
	const char *s;
	size_t len;
};

/* Index of seg's key in map, or -1. With icase, an exact match wins over
 * case-insensitive ones; several of those only are ambiguous (-2). */
static int64_t find_key(const struct sl_cfg_node *map, struct seg seg, bool icase)
{
	int64_t hit = -1;
	for (uint32_t i = 0; i < map->n; i++) {
		const struct sl_cfg_node *k = map->keys[i];
		if (k->len == seg.len && memcmp(k->str, seg.s, seg.len) == 0)
			return i;
	}
	if (!icase)
		return -1;
	for (uint32_t i = 0; i < map->n; i++) {
		const struct sl_cfg_node *k = map->keys[i];
		if (k->len == seg.len && mem_ieq(k->str, seg.s, seg.len)) {
			if (hit >= 0)
				return -2;
			hit = i;
		}
	}
	return hit;
}

static int map_append(struct sl_cfg_doc *doc, struct sl_cfg_node *map, struct sl_cfg_node *k,
		      struct sl_cfg_node *v, struct sl_diag *d)
{
	SL_ASSERT(map->type == SL_CFG_MAP);
	if (map->n == map_cap(map->n)) { /* full: double */
		size_t cap = map_cap(map->n + 1);
		struct sl_cfg_node **keys = sl_cfg_alloc(doc, cap * sizeof(*keys));
		struct sl_cfg_node **vals = sl_cfg_alloc(doc, cap * sizeof(*vals));
		if (!keys || !vals) {
			sl_diag_error(d, k->pos, "out of memory");
			return -ENOMEM;
		}
		if (map->n) {
			memcpy(keys, map->keys, map->n * sizeof(*keys));
			memcpy(vals, map->vals, map->n * sizeof(*vals));
		}
		map->keys = keys;
		map->vals = vals;
	}
	map->keys[map->n] = k;
	map->vals[map->n] = v;
	map->n++;
	return 0;
}

static int new_key(struct sl_cfg_doc *doc, struct seg seg, bool lower, struct sl_pos pos,
		   struct sl_diag *d, struct sl_cfg_node **out)
{
	int rc = node_new(doc, SL_CFG_SCALAR, pos, d, out);
	if (rc)
		return rc;
	char *s = arena_strndup(doc, seg.s, seg.len);
	if (!s) {
		sl_diag_error(d, pos, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; lower && i < seg.len; i++)
		s[i] = (char)fold((unsigned char)s[i]);
	(*out)->str = s;
	(*out)->len = seg.len;
	return 0;
}

/* Sets segs[0..n) to the YAML value text. origin is in doc's arena. The tree
 * is only changed once the path and the value are known to be good. */
static int set_segs(struct sl_cfg_doc *doc, const struct seg *segs, uint32_t n, bool icase,
		    const char *shown_path, const char *value, const char *origin,
		    struct sl_diag *d)
{
	struct sl_pos opos = {origin, 1, 1};
	struct sl_cfg_node *cur = doc->root, *val = NULL;
	uint32_t missing = 0;
	char full[SHOW_BYTES], part[SHOW_BYTES];
	SL_ASSERT(n >= 1 && n <= SL_CONFIG_MAX_DEPTH);
	show(full, sizeof(full), shown_path, strlen(shown_path));
	for (uint32_t i = 0; i < n; i++) {
		if (cur->type == SL_CFG_NULL) {
			missing = n - i;
			break;
		}
		if (cur->type != SL_CFG_MAP) {
			size_t plen = 0;
			for (uint32_t j = 0; j < i; j++)
				plen += segs[j].len + (j > 0);
			if (i == 0)
				return sl_diag_error(
				    d, opos, "cannot set '%s': the document is %s, not a map", full,
				    type_with_article(cur->type));
			return sl_diag_error(d, opos,
					     "cannot set '%s': '%s' is %s (%s:%u:%u), not a map",
					     full, show(part, sizeof(part), shown_path, plen),
					     type_with_article(cur->type), cur->pos.file,
					     cur->pos.line, cur->pos.col);
		}
		int64_t k = find_key(cur, segs[i], icase);
		if (k == -2)
			return sl_diag_error(
			    d, opos,
			    "cannot set '%s': '%s' matches several keys that differ "
			    "only in case (%s:%u:%u)",
			    full, show(part, sizeof(part), segs[i].s, segs[i].len), cur->pos.file,
			    cur->pos.line, cur->pos.col);
		if (k < 0) {
			missing = n - i;
			break;
		}
		if (i + 1 < n)
			cur = cur->vals[k];
	}
	/* Each missing segment needs a key and a map (the last one: a value). */
	if (doc->n_nodes + 2 * missing > SL_CONFIG_MAX_NODES)
		return sl_diag_error(d, opos,
				     "more than %u nodes in the document (SL_CONFIG_MAX_NODES)",
				     SL_CONFIG_MAX_NODES);
	int rc = cfg_parse(doc, origin, value, strlen(value), n, &val, d);
	if (rc)
		return rc;
	if (!val) {
		rc = node_new(doc, SL_CFG_NULL, opos, d, &val);
		if (rc)
			return rc;
	}
	cur = doc->root;
	for (uint32_t i = 0; i < n; i++) {
		if (cur->type == SL_CFG_NULL)
			cur->type = SL_CFG_MAP; /* a null parent becomes a map */
		SL_ASSERT(cur->type == SL_CFG_MAP);
		int64_t k = find_key(cur, segs[i], icase);
		SL_ASSERT(k >= -1);
		if (k >= 0) {
			if (i + 1 == n)
				cur->vals[k] = val;
			else
				cur = cur->vals[k];
			continue;
		}
		struct sl_cfg_node *key = NULL, *child = val;
		rc = new_key(doc, segs[i], icase, opos, d, &key);
		if (rc == 0 && i + 1 < n)
			rc = node_new(doc, SL_CFG_MAP, opos, d, &child);
		if (rc == 0)
			rc = map_append(doc, cur, key, child, d);
		if (rc)
			return rc;
		cur = child;
	}
	return 0;
}

int sl_cfg_set(struct sl_cfg_doc *doc, const char *path, const char *value_text, const char *origin,
	       struct sl_diag *d)
{
	struct seg segs[SL_CONFIG_MAX_DEPTH];
	uint32_t n = 0;
	SL_ASSERT(doc && path && value_text);
	const char *o = arena_origin(doc, origin ? origin : "--set");
	if (!o) {
		sl_diag_error(d, (struct sl_pos){NULL, 1, 1}, "out of memory");
		return -ENOMEM;
	}
	struct sl_pos opos = {o, 1, 1};
	char buf[SHOW_BYTES];
	for (const char *s = path;;) {
		const char *dot = strchr(s, '.');
		size_t len = dot ? (size_t)(dot - s) : strlen(s);
		if (len == 0)
			return sl_diag_error(d, opos, "invalid override path '%s': empty key",
					     show(buf, sizeof(buf), path, strlen(path)));
		if (n == SL_CONFIG_MAX_DEPTH)
			return sl_diag_error(
			    d, opos, "invalid override path '%s': more than %u levels",
			    show(buf, sizeof(buf), path, strlen(path)), SL_CONFIG_MAX_DEPTH);
		segs[n++] = (struct seg){s, len};
		if (!dot)
			break;
		s = dot + 1;
	}
	return set_segs(doc, segs, n, false, path, value_text, o, d);
}

int sl_cfg_set_arg(struct sl_cfg_doc *doc, const char *arg, struct sl_diag *d)
{
	const char *eq = strchr(arg, '=');
	char buf[SHOW_BYTES];
	if (!eq || eq == arg)
		return sl_diag_error(d, (struct sl_pos){"--set", 1, 1},
				     "expected --set KEY.PATH=VALUE, got '%s'",
				     show(buf, sizeof(buf), arg, strlen(arg)));
	size_t plen = (size_t)(eq - arg);
	char *mem = malloc(2 * plen + 8);
	if (!mem) {
		sl_diag_error(d, (struct sl_pos){"--set", 1, 1}, "out of memory");
		return -ENOMEM;
	}
	char *path = mem, *origin = mem + plen + 1;
	memcpy(path, arg, plen);
	path[plen] = '\0';
	memcpy(origin, "--set ", 6);
	memcpy(origin + 6, arg, plen);
	origin[6 + plen] = '\0';
	int rc = sl_cfg_set(doc, path, eq + 1, origin, d);
	free(mem);
	return rc;
}

#define ENV_PREFIX "SLUICE__"

static int env_cmp(const void *a, const void *b)
{
	const unsigned char *x = *(const unsigned char *const *)a;
	const unsigned char *y = *(const unsigned char *const *)b;
	for (;; x++, y++) {
		unsigned cx = *x == '=' ? 0 : *x, cy = *y == '=' ? 0 : *y;
		if (cx != cy || cx == 0)
			return (int)cx - (int)cy;
	}
}

static int apply_env_one(struct sl_cfg_doc *doc, const char *entry, struct sl_diag *d)
{
	const char *eq = strchr(entry, '=');
	size_t nlen = (size_t)(eq - entry);
	char *origin = sl_cfg_alloc(doc, nlen + 5);
	char *shown = sl_cfg_alloc(doc, nlen + 1);
	if (!origin || !shown) {
		sl_diag_error(d, (struct sl_pos){"env", 1, 1}, "out of memory");
		return -ENOMEM;
	}
	memcpy(origin, "env ", 4);
	for (size_t i = 0; i < nlen; i++)
		origin[4 + i] = (unsigned char)entry[i] < 0x20 || entry[i] == 0x7f ? '?' : entry[i];
	struct sl_pos opos = {origin, 1, 1};
	struct seg segs[SL_CONFIG_MAX_DEPTH];
	uint32_t n = 0;
	size_t o = 0;
	const char *s = entry + strlen(ENV_PREFIX);
	for (;;) {
		const char *sep = strstr(s, "__");
		if (sep && sep > eq)
			sep = NULL;
		size_t len = sep ? (size_t)(sep - s) : (size_t)(eq - s);
		if (len == 0)
			return sl_diag_error(d, opos,
					     "environment override has an empty path segment "
					     "(segments are separated by '__')");
		if (n == SL_CONFIG_MAX_DEPTH)
			return sl_diag_error(d, opos,
					     "environment override path has more than %u levels",
					     SL_CONFIG_MAX_DEPTH);
		segs[n++] = (struct seg){s, len};
		if (o)
			shown[o++] = '.';
		for (size_t i = 0; i < len; i++)
			shown[o++] = (char)fold((unsigned char)s[i]);
		if (!sep)
			break;
		s = sep + 2;
	}
	SL_ASSERT(o <= nlen);
	return set_segs(doc, segs, n, true, shown, eq + 1, origin, d);
}

int sl_cfg_apply_env(struct sl_cfg_doc *doc, char **envp, struct sl_diag *d)
{
	size_t n = 0, plen = strlen(ENV_PREFIX);
	int rc = 0;
	for (size_t i = 0; envp && envp[i]; i++)
		n += strncmp(envp[i], ENV_PREFIX, plen) == 0 && strchr(envp[i], '=');
	if (n == 0)
		return 0;
	const char **vars = malloc(n * sizeof(*vars));
	if (!vars) {
		sl_diag_error(d, (struct sl_pos){"env", 1, 1}, "out of memory");
		return -ENOMEM;
	}
	n = 0;
	for (size_t i = 0; envp[i]; i++)
		if (strncmp(envp[i], ENV_PREFIX, plen) == 0 && strchr(envp[i], '='))
			vars[n++] = envp[i];
	/* Sorted, so the result does not depend on the environment's order. */
	qsort(vars, n, sizeof(*vars), env_cmp);
	for (size_t i = 0; i < n; i++) {
		int r = apply_env_one(doc, vars[i], d);
		if (r && !rc)
			rc = r;
	}
	free(vars);
	return rc;
}

/* ---- conversions ------------------------------------------------------- */

/* "'text'", "'\"text\"'" for quoted scalars, or "a map" etc. */
static const char *got(const struct sl_cfg_node *n, char *buf, size_t cap)
{
	char s[SHOW_BYTES];
	if (n->type != SL_CFG_SCALAR)
		return type_with_article(n->type);
	show(s, sizeof(s), n->str, n->len);
	snprintf(buf, cap, n->quoted ? "'\"%s\"'" : "'%s'", s);
	return buf;
}

static int bad(const struct sl_cfg_node *n, const char *key, const char *what, struct sl_diag *d)
{
	char buf[SHOW_BYTES + 8];
	return sl_diag_error(d, n->pos, "%s: expected %s, got %s", key, what,
			     got(n, buf, sizeof(buf)));
}

/* "in [min, max]", ">= min", "<= max" or "" for the full range. */
static const char *range_text(char *buf, size_t cap, int64_t min, int64_t max, const char *unit)
{
	if (min == INT64_MIN && max == INT64_MAX)
		buf[0] = '\0';
	else if (max == INT64_MAX)
		snprintf(buf, cap, " >= %lld%s", (long long)min, unit);
	else if (min == INT64_MIN)
		snprintf(buf, cap, " <= %lld%s", (long long)max, unit);
	else
		snprintf(buf, cap, " in [%lld%s, %lld%s]", (long long)min, unit, (long long)max,
			 unit);
	return buf;
}

int sl_cfg_as_string(const struct sl_cfg_node *n, const char *key, const char **out,
		     struct sl_diag *d)
{
	SL_ASSERT(n != NULL);
	if (n->type != SL_CFG_SCALAR || strlen(n->str) != n->len)
		return bad(n, key, "string", d);
	*out = n->str;
	return 0;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
	size_t i = 0;
	bool neg = false;
	int64_t acc = 0; /* accumulated negative, so INT64_MIN fits */
	if (i < len && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (__builtin_mul_overflow(acc, 10, &acc) ||
		    __builtin_sub_overflow(acc, s[i] - '0', &acc))
			return false;
	}
	if (!neg && acc == INT64_MIN)
		return false;
	*out = neg ? acc : -acc;
	return true;
}

int sl_cfg_as_int64(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
		    int64_t *out, struct sl_diag *d)
{
	char what[96], r[80];
	int64_t v;
	SL_ASSERT(n != NULL && min <= max);
	if (n->type != SL_CFG_SCALAR || n->quoted || !parse_i64(n->str, n->len, &v) || v < min ||
	    v > max) {
		snprintf(what, sizeof(what), "integer%s", range_text(r, sizeof(r), min, max, ""));
		return bad(n, key, what, d);
	}
	*out = v;
	return 0;
}

static size_t digits(const char *s, size_t len, size_t i)
{
	size_t j = i;
	while (j < len && s[j] >= '0' && s[j] <= '9')
		j++;
	return j - i;
}

/* [+-] digits [. digits] [e [+-] digits], or [+-] . digits [...] */
static bool is_decimal(const char *s, size_t len)
{
	size_t i = 0;
	if (i < len && (s[i] == '+' || s[i] == '-'))
		i++;
	size_t a = digits(s, len, i), b = 0;
	i += a;
	if (i < len && s[i] == '.') {
		b = digits(s, len, ++i);
		i += b;
	}
	if (a + b == 0)
		return false;
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t e = digits(s, len, i);
		if (e == 0)
			return false;
		i += e;
	}
	return i == len;
}

int sl_cfg_as_double(const struct sl_cfg_node *n, const char *key, double *out, struct sl_diag *d)
{
	SL_ASSERT(n != NULL);
	if (n->type != SL_CFG_SCALAR || n->quoted || !is_decimal(n->str, n->len))
		return bad(n, key, "number", d);
	double v = strtod(n->str, NULL); /* str is NUL-terminated right after len */
	if (!isfinite(v))
		return bad(n, key, "finite number", d);
	*out = v;
	return 0;
}

int sl_cfg_as_bool(const struct sl_cfg_node *n, const char *key, bool *out, struct sl_diag *d)
{
	static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no",
									       "off"};
	SL_ASSERT(n != NULL);
	if (n->type == SL_CFG_SCALAR && !n->quoted) {
		for (size_t i = 0; i < SL_ARRAY_LEN(yes); i++) {
			if (n->len == strlen(yes[i]) && mem_ieq(n->str, yes[i], n->len)) {
				*out = true;
				return 0;
			}
			if (n->len == strlen(no[i]) && mem_ieq(n->str, no[i], n->len)) {
				*out = false;
				return 0;
			}
		}
	}
	return bad(n, key, "boolean (true/false, yes/no, on/off)", d);
}

struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit duration_units[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}, {NULL, 0},
};

static const struct unit size_units[] = {
    {"", 1},
    {"b", 1},
    {"kb", 1000ull},
    {"mb", 1000000ull},
    {"gb", 1000000000ull},
    {"tb", 1000000000000ull},
    {"kib", 1ull << 10},
    {"mib", 1ull << 20},
    {"gib", 1ull << 30},
    {"tib", 1ull << 40},
    {NULL, 0},
};

enum amount_rc { AMOUNT_OK, AMOUNT_BAD, AMOUNT_RANGE };

/*
 * "<digits>[.<digits>][ *]<unit>" -> value. The number is kept exact as
 * mantissa / 10^scale (trailing fraction zeros dropped), so "1.1s" is 1100,
 * not 1100.0000000000002 rounded somewhere.
 */
static enum amount_rc parse_amount(const char *s, size_t len, const struct unit *units, bool icase,
				   uint64_t *out)
{
	static const uint64_t pow10[] = {1ull,
					 10ull,
					 100ull,
					 1000ull,
					 10000ull,
					 100000ull,
					 1000000ull,
					 10000000ull,
					 100000000ull,
					 1000000000ull,
					 10000000000ull,
					 100000000000ull,
					 1000000000000ull,
					 10000000000000ull,
					 100000000000000ull,
					 1000000000000000ull,
					 10000000000000000ull,
					 100000000000000000ull,
					 1000000000000000000ull};
	uint64_t mant = 0;
	uint32_t scale = 0, zeros = 0;
	bool range = false;
	size_t i = 0, a = digits(s, len, 0), b = 0;
	for (; i < a; i++)
		range |= __builtin_mul_overflow(mant, 10, &mant) ||
			 __builtin_add_overflow(mant, (uint64_t)(s[i] - '0'), &mant);
	if (i < len && s[i] == '.') {
		b = digits(s, len, ++i);
		for (size_t j = 0; j < b; j++, i++) {
			if (s[i] == '0') {
				zeros++; /* applied only if a non-zero digit follows */
				continue;
			}
			for (; zeros; zeros--, scale++)
				range |= __builtin_mul_overflow(mant, 10, &mant);
			range |= __builtin_mul_overflow(mant, 10, &mant) ||
				 __builtin_add_overflow(mant, (uint64_t)(s[i] - '0'), &mant);
			scale++;
		}
	}
	if (a + b == 0)
		return AMOUNT_BAD;
	while (i < len && s[i] == ' ')
		i++;
	if (i > 0 && s[i - 1] == ' ' && i == len)
		return AMOUNT_BAD; /* spaces only before a unit */
	const struct unit *u = units;
	for (; u->name; u++) {
		size_t ul = strlen(u->name);
		if (ul == len - i &&
		    (icase ? mem_ieq(s + i, u->name, ul) : memcmp(s + i, u->name, ul) == 0))
			break;
	}
	if (!u->name)
		return AMOUNT_BAD;
	if (range || scale >= SL_ARRAY_LEN(pow10))
		return range ? AMOUNT_RANGE : AMOUNT_BAD;
	uint64_t v;
	if (__builtin_mul_overflow(mant, u->mult, &v))
		return AMOUNT_RANGE;
	if (v % pow10[scale])
		return AMOUNT_BAD; /* not a whole number of the base unit */
	v /= pow10[scale];
	if (v > INT64_MAX)
		return AMOUNT_RANGE;
	*out = v;
	return AMOUNT_OK;
}

static int as_amount(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
		     const struct unit *units, bool is_size, const char *syntax, int64_t *out,
		     struct sl_diag *d)
{
	char what[160];
	uint64_t v = 0;
	SL_ASSERT(n != NULL && min >= 0 && min <= max);
	enum amount_rc rc = n->type == SL_CFG_SCALAR
				? parse_amount(n->str, n->len, units, is_size, &v)
				: AMOUNT_BAD;
	if (rc == AMOUNT_BAD)
		return bad(n, key, syntax, d);
	if (rc == AMOUNT_RANGE || (int64_t)v < min || (int64_t)v > max) {
		long long lo = min, hi = max;
		if (is_size && min == 0)
			snprintf(what, sizeof(what), "size <= %lld bytes", hi);
		else if (is_size && max == INT64_MAX)
			snprintf(what, sizeof(what), "size >= %lld bytes", lo);
		else if (is_size)
			snprintf(what, sizeof(what), "size in [%lld, %lld] bytes", lo, hi);
		else if (min == 0)
			snprintf(what, sizeof(what), "duration <= %lldms", hi);
		else if (max == INT64_MAX)
			snprintf(what, sizeof(what), "duration >= %lldms", lo);
		else
			snprintf(what, sizeof(what), "duration in [%lldms, %lldms]", lo, hi);
		return bad(n, key, what, d);
	}
	*out = (int64_t)v;
	return 0;
}

int sl_cfg_as_duration_ms(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
			  int64_t *out, struct sl_diag *d)
{
	return as_amount(n, key, min, max, duration_units, false,
			 "duration (ms, or a number with unit ms, s, m, h, d)", out, d);
}

int sl_cfg_as_size_bytes(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
			 int64_t *out, struct sl_diag *d)
{
	return as_amount(n, key, min, max, size_units, true,
			 "size (bytes, or a number with unit B, KB, MB, GB, TB, KiB, MiB, GiB, "
			 "TiB)",
			 out, d);
}

int sl_cfg_as_enum(const struct sl_cfg_node *n, const char *key, const char *const *choices,
		   int *out, struct sl_diag *d)
{
	char what[512], list[400], vb[SHOW_BYTES + 8];
	SL_ASSERT(n != NULL && choices != NULL);
	if (n->type == SL_CFG_SCALAR) {
		for (int i = 0; choices[i]; i++) {
			if (text_is(n->str, n->len, choices[i])) {
				*out = i;
				return 0;
			}
		}
	}
	join_list(list, sizeof(list), choices);
	snprintf(what, sizeof(what), "one of %s", list);
	const char *near =
	    n->type == SL_CFG_SCALAR ? sl_cfg_suggest(n->str, n->len, choices) : NULL;
	if (!near)
		return bad(n, key, what, d);
	return sl_diag_error(d, n->pos, "%s: expected %s, got %s (did you mean '%s'?)", key, what,
			     got(n, vb, sizeof(vb)), near);
}

int sl_cfg_as_strlist(struct sl_cfg_doc *doc, const struct sl_cfg_node *n, const char *key,
		      struct sl_strlist *out, struct sl_diag *d)
{
	SL_ASSERT(doc != NULL && n != NULL);
	if (n->type == SL_CFG_SCALAR) {
		const char **v = sl_cfg_alloc(doc, sizeof(*v));
		if (!v) {
			sl_diag_error(d, n->pos, "out of memory");
			return -ENOMEM;
		}
		int rc = sl_cfg_as_string(n, key, &v[0], d);
		if (rc)
			return rc;
		*out = (struct sl_strlist){1, v};
		return 0;
	}
	if (n->type != SL_CFG_SEQ)
		return bad(n, key, "string or list of strings", d);
	const char **v = sl_cfg_alloc(doc, SL_MAX(n->n, 1u) * sizeof(*v));
	if (!v) {
		sl_diag_error(d, n->pos, "out of memory");
		return -ENOMEM;
	}
	int rc = 0;
	for (uint32_t i = 0; i < n->n; i++) {
		char item_key[96];
		snprintf(item_key, sizeof(item_key), "%s[%u]", key, i);
		int r = sl_cfg_as_string(n->vals[i], item_key, &v[i], d);
		if (r && !rc)
			rc = r;
	}
	if (rc == 0)
		*out = (struct sl_strlist){n->n, n->n ? v : NULL};
	return rc;
}
