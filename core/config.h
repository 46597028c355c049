/* Job files: a YAML document loaded as a tree of nodes that remember their
 * file:line:col, plus overrides (--set, environment) and typed conversions. */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include "core/common.h"
#include "core/diag.h"

/*
 * Threading: a document and its nodes are not thread-safe. Load, override and
 * validate on the control thread; afterwards the tree may be read (not
 * changed) from any thread for as long as the document lives.
 *
 * Typing is lazy, as in YAML's core schema but decided by the reader: the
 * loader only resolves plain `~`, `null`, `Null`, `NULL` and the empty plain
 * scalar to SL_CFG_NULL; every other scalar keeps its text and the option
 * type that reads it (sl_cfg_as_*) decides what it means.
 *
 * Every node has one parent (aliases are expanded into copies). Overrides
 * replace values and grow maps: keep no keys/vals array across sl_cfg_set.
 */

enum sl_cfg_type { SL_CFG_NULL, SL_CFG_SCALAR, SL_CFG_MAP, SL_CFG_SEQ };

struct sl_cfg_node {
	enum sl_cfg_type type;
	/* Where the value starts; pos.file is the document's name. */
	struct sl_pos pos;
	/* Scalars: the text, NUL-terminated (it may hold NULs: use len). NULL
	 * for every other type. */
	const char *str;
	size_t len;
	/* Not a plain scalar ('..', "..", | or >, or tagged !!str): a string,
	 * so "123" is not an integer. */
	bool quoted;
	/* Children: map entries or sequence items. */
	uint32_t n;
	/* Maps: key nodes (always SL_CFG_SCALAR) in document order; keys
	 * merged in by `<<` come after the map's own. */
	struct sl_cfg_node **keys;
	/* Maps: the values; sequences: the items. */
	struct sl_cfg_node **vals;
	/* Set by sl_cfg_get on the key and the value; lets validation report
	 * unknown keys. */
	bool used;
};

/* A loaded document. Owns every node and string in one arena: everything a
 * lookup returns lives until sl_cfg_free. */
struct sl_cfg_doc;

/*
 * Loads a YAML job file. Accepts one document of at most SL_CONFIG_MAX_BYTES
 * bytes, SL_CONFIG_MAX_NODES nodes (alias expansions count every time, so an
 * alias bomb is rejected) and SL_CONFIG_MAX_DEPTH levels of nesting.
 * Anchors and aliases are expanded into copies; YAML 1.1 merge keys (`<<: *a`)
 * are applied (explicit keys win). Duplicate keys, non-scalar keys and tags
 * other than the core ones (!!str !!int !!float !!bool !!null !!map !!seq and
 * the non-specific `!`) are errors.
 * Returns the document (free with sl_cfg_free) or NULL with errors in d, each
 * "FILE:LINE:COL: message"; I/O and size errors have line and column 0.
 */
struct sl_cfg_doc *sl_cfg_load_file(const char *path, struct sl_diag *d);

/* Same, from memory; name is what positions call the file (copied). text
 * need not be NUL-terminated. */
struct sl_cfg_doc *sl_cfg_load_string(const char *name, const char *text, size_t len,
				      struct sl_diag *d);

/* Frees the document, its nodes and strings. NULL is allowed. */
void sl_cfg_free(struct sl_cfg_doc *doc);

/* The root node; an empty document (or a plain null) is an empty map. */
struct sl_cfg_node *sl_cfg_root(struct sl_cfg_doc *doc);

/* The document's name as given to the loader, control characters replaced
 * by '?' (owned by the document). */
const char *sl_cfg_name(const struct sl_cfg_doc *doc);

/* Zeroed memory from the document's arena, aligned for any type, freed with
 * the document. Returns NULL when out of memory. */
void *sl_cfg_alloc(struct sl_cfg_doc *doc, size_t size_bytes);

/* Parses text as one YAML value into doc's nodes (as sl_cfg_set does with
 * its value): positions are origin (copied), line, 1-based column within
 * text. Empty text gives a null node. Returns the node (owned by doc) or NULL
 * with errors in d. */
struct sl_cfg_node *sl_cfg_parse_value(struct sl_cfg_doc *doc, const char *origin, const char *text,
				       struct sl_diag *d);

/* The value of key in map (exact, case-sensitive match), or NULL if absent or
 * map is not a map. Marks the key and the value used. */
struct sl_cfg_node *sl_cfg_get(struct sl_cfg_node *map, const char *key);

/* "null", "scalar", "map", "sequence". */
const char *sl_cfg_type_name(enum sl_cfg_type type);

/*
 * Overrides. They are applied after loading and before validation, in this
 * order: sl_cfg_apply_env first, then sl_cfg_set_arg for each --set, so a
 * --set wins over the environment, which wins over the file.
 *
 * sl_cfg_set: path is dotted ("sources.events.rate"; keys containing a dot
 * cannot be addressed) and matched exactly. value_text is parsed as YAML, so
 * `1000`, `/tmp/x`, `[a, b]`, `{k: v}` and `"quoted"` all work; an empty value
 * is null, which options treat as "not set". The value replaces the old one
 * whole (maps are not merged). Missing intermediate maps are created and a
 * null intermediate becomes a map; a scalar or sequence intermediate is an
 * error. New nodes are positioned at file = origin (copied), line 1, col =
 * 1-based column within value_text. Returns 0, or -EINVAL / -ENOMEM with
 * errors in d; on error the tree is unchanged.
 */
int sl_cfg_set(struct sl_cfg_doc *doc, const char *path, const char *value_text, const char *origin,
	       struct sl_diag *d);

/* Parses "a.b.c=value" (split at the first '=') and calls sl_cfg_set with
 * origin "--set a.b.c". Returns as sl_cfg_set. */
int sl_cfg_set_arg(struct sl_cfg_doc *doc, const char *arg, struct sl_diag *d);

/*
 * Applies every environment variable named SLUICE__<SEG>__<SEG>...=value as an
 * override of path seg.seg... ("__" separates segments; a single "_" stays
 * part of the key). Each segment matches an existing map key
 * case-insensitively (an ambiguous match is an error) and is lower-cased when
 * the key does not exist yet. Names starting with SLUICE_ but not SLUICE__
 * (SLUICE_LOG, ...) are ignored. Variables are applied in sorted name order,
 * with origin "env NAME". envp is a NULL-terminated "NAME=value" array (pass
 * `environ`). Call before any sl_cfg_set_arg. Returns 0 or the first error
 * (all errors are in d).
 */
int sl_cfg_apply_env(struct sl_cfg_doc *doc, char **envp, struct sl_diag *d);

/*
 * Scalar conversions. Each takes the node (not NULL), the key name for
 * messages, and writes *out only on success. Wrong values are reported as
 * "FILE:LINE:COL: <key>: expected <what>, got '<text>'" (quoted scalars show
 * their quotes; non-scalars say "got a map" etc.) and return -EINVAL.
 *
 * Quoted scalars are strings: as_int64/as_double/as_bool reject `"123"`;
 * as_string accepts any scalar (plain `123` is the string "123"); durations,
 * sizes and enum names accept both.
 */

/* The scalar's text (owned by the document). Rejects NUL bytes inside. */
int sl_cfg_as_string(const struct sl_cfg_node *n, const char *key, const char **out,
		     struct sl_diag *d);

/* A decimal integer ([+-]digits) in [min, max]. */
int sl_cfg_as_int64(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
		    int64_t *out, struct sl_diag *d);

/* A finite decimal number: 1, -2.5, .5, 1e3 (no inf, nan or hex). */
int sl_cfg_as_double(const struct sl_cfg_node *n, const char *key, double *out, struct sl_diag *d);

/* true/false, yes/no, on/off, any case. */
int sl_cfg_as_bool(const struct sl_cfg_node *n, const char *key, bool *out, struct sl_diag *d);

/*
 * A duration in milliseconds, in [min, max] (min >= 0): a number with an
 * optional unit ms, s, m, h, d (lower case; a bare number is ms). Fractions
 * are allowed when the result is a whole number of ms ("1.5s" = 1500,
 * "0.5ms" is an error). One number and one unit: "1h30m" is an error.
 */
int sl_cfg_as_duration_ms(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
			  int64_t *out, struct sl_diag *d);

/*
 * A size in bytes, in [min, max] (min >= 0): a number with an optional unit,
 * any case, optionally after spaces: B; KB MB GB TB (powers of 1000); KiB MiB
 * GiB TiB (powers of 1024). A bare number is bytes. Fractions are allowed when
 * the result is a whole number of bytes ("1.5KiB" = 1536). Single letters
 * ("512k", "1M") are rejected as ambiguous.
 */
int sl_cfg_as_size_bytes(const struct sl_cfg_node *n, const char *key, int64_t min, int64_t max,
			 int64_t *out, struct sl_diag *d);

/* The index in choices (NULL-terminated) of the scalar's text, exact match.
 * The error lists the choices and suggests a near one. */
int sl_cfg_as_enum(const struct sl_cfg_node *n, const char *key, const char *const *choices,
		   int *out, struct sl_diag *d);

/* A list of strings; the items live in a document's arena. */
struct sl_strlist {
	uint32_t n;
	const char **v;
};

/* A sequence of scalars, or one scalar as a one-item list (an empty sequence
 * gives n = 0). The array is allocated in doc (the strings are the nodes'). */
int sl_cfg_as_strlist(struct sl_cfg_doc *doc, const struct sl_cfg_node *n, const char *key,
		      struct sl_strlist *out, struct sl_diag *d);

/*
 * Reports every key of map that is neither marked used nor named in known
 * (NULL-terminated; may be NULL) as "FILE:LINE:COL: unknown key 'patth' in
 * <what> (did you mean 'path'?)", or, with no near name, "... (expected one
 * of: a, b, c)". Returns 0 if there were none, else -EINVAL. A map that is not
 * a map has no keys.
 */
int sl_cfg_unused(struct sl_cfg_node *map, const char *what, const char *const *known,
		  struct sl_diag *d);

/* The name in known (NULL-terminated) nearest to word[0..len), or NULL if
 * none is close: optimal string alignment distance, ignoring case, at most 2
 * and at most a third of len ("patth" -> "path", but not "rate" -> "path").
 * The pointer is one of known. */
const char *sl_cfg_suggest(const char *word, size_t len, const char *const *known);

#endif
