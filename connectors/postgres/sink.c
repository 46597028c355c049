/* Sink `postgres`: changelog-aware batched upserts with libpq on the worker's io_uring;
 * exactly-once through prepared transactions committed after the checkpoint. */
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <mimalloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "connectors/postgres/pgconn.h"
#include "connectors/postgres/pgoutput.h"
#include "core/checkpoint.h"
#include "core/engine.h"
#include "core/growbuf.h"
#include "core/job.h"
#include "core/keygroup.h"
#include "core/log.h"
#include "core/value.h"
#include "core/worker.h"
#include "state/snap.h"

/*
 * Rows wait in a pending list, each rendered once: upserts as a COPY text
 * line "1\tx\t\\N\n" (copy, unnest) or as an SQL tuple "('1','x',NULL)"
 * (method insert), deletes as a condition "(\"k\" = '1')". A flush keeps the
 * last change per key (a statement may not touch a row twice), then sends,
 * as one simple query and one round trip, one DELETE for the keys whose last
 * change is -D and for the rest either
 *   copy:   COPY stage FROM STDIN (the lines follow as COPY data);
 *           INSERT INTO target SELECT … FROM stage ON CONFLICT (key) DO
 *           UPDATE …
 *   insert: INSERT INTO target VALUES (…), (…) ON CONFLICT (key) DO UPDATE …
 *   unnest: INSERT INTO target SELECT * FROM unnest('{…}'::type[], …) ON
 *           CONFLICT (key) DO UPDATE …, the COPY lines turned into an array
 *           literal per column
 * (append mode copies straight into the target). The stage is made at open
 * from the mapped columns of the target, per worker: a temporary table
 * (at_least_once) or, since PostgreSQL refuses to PREPARE a transaction that
 * touched a temporary table, an UNLOGGED one (exactly_once; see open_copy
 * for how each is emptied). Deletes stay one DELETE … WHERE (k = …) OR …:
 * it keeps the key's own index in the plan whatever the stage's statistics
 * say, and a NULL key deletes the rows whose key IS NULL as before.
 * A failing statement is retried row by row as single-row INSERTs and
 * DELETEs (each under a savepoint in a transaction) and the rows PostgreSQL
 * refuses go to the dead letters with its message.
 *
 * delivery exactly_once: a worker's statements between two barriers run in
 * one transaction; at the barrier it also records (job, sink, worker,
 * checkpoint) in sluice_sink_state and is PREPAREd as
 * 'sluice:<job>:<sink>:<worker>:<checkpoint>'. The checkpoint coordinator
 * COMMITs PREPARED once the checkpoint is durable; a restore commits the
 * restored checkpoint's and rolls back every other prepared transaction of
 * the sink. at_least_once: each flush commits on its own; a barrier waits
 * for every flush to be acknowledged.
 */

enum { MODE_UPSERT, MODE_APPEND };
enum { DELIVERY_AT_LEAST_ONCE, DELIVERY_EXACTLY_ONCE };
enum { METHOD_COPY, METHOD_INSERT, METHOD_UNNEST };
static const char *const modes[] = {"upsert", "append", NULL};
static const char *const deliveries[] = {"at_least_once", "exactly_once", NULL};
static const char *const methods[] = {"copy", "insert", "unnest", NULL};

struct pgsink_conf {
	const char *dsn;
	const char *password_env;
	const char *password_file;
	const char *table;
	struct sl_strlist key;
	int mode;
	struct sl_cfg_node *columns;
	int64_t batch_rows;
	int64_t flush_interval_ms;
	int delivery;
	int method;
	int64_t retry_max_ms;
};

static const struct sl_option pgsink_options[] = {
	{.name = "dsn", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct pgsink_conf, dsn),
	 .help = "libpq connection string (host=… port=… dbname=… user=…); a password here works "
		 "but password_env / password_file keep it out of the job file; never logged"},
	{.name = "password_env", .type = SL_OPT_STRING,
	 .offset = offsetof(struct pgsink_conf, password_env),
	 .help = "environment variable holding the password"},
	{.name = "password_file", .type = SL_OPT_STRING,
	 .offset = offsetof(struct pgsink_conf, password_file),
	 .help = "file holding the password (first line)"},
	{.name = "table", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct pgsink_conf, table),
	 .help = "target table, optionally schema-qualified (schema.table)"},
	{.name = "key", .type = SL_OPT_STRING_LIST, .offset = offsetof(struct pgsink_conf, key),
	 .help = "upsert: the target's primary key (or unique) columns, named as in the table"},
	{.name = "mode", .type = SL_OPT_ENUM, .def = "upsert", .choices = modes,
	 .offset = offsetof(struct pgsink_conf, mode),
	 .help = "upsert: +I/+U become INSERT … ON CONFLICT DO UPDATE, -D deletes, -U is skipped; "
		 "append: +I/+U are inserted, -U/-D skipped"},
	{.name = "columns", .type = SL_OPT_NODE, .offset = offsetof(struct pgsink_conf, columns),
	 .help = "map of table column: input column (default: every input column under its own "
		 "name)"},
	{.name = "batch_rows", .type = SL_OPT_INT, .def = "5000", .min = 1, .max = 1000000,
	 .offset = offsetof(struct pgsink_conf, batch_rows),
	 .help = "rows per statement (a full batch is sent at once)"},
	{.name = "flush_interval", .type = SL_OPT_DURATION_MS, .def = "200ms", .min = 1,
	 .max = 3600000, .offset = offsetof(struct pgsink_conf, flush_interval_ms),
	 .help = "send a partial batch after this long"},
	{.name = "delivery", .type = SL_OPT_ENUM, .def = "at_least_once", .choices = deliveries,
	 .offset = offsetof(struct pgsink_conf, delivery),
	 .help = "exactly_once (needs checkpoint: exactly_once and the server's "
		 "max_prepared_transactions > 0): one prepared transaction per worker and "
		 "checkpoint, committed once the checkpoint is durable; at_least_once: each batch "
		 "commits on its own"},
	{.name = "method", .type = SL_OPT_ENUM, .def = "copy", .choices = methods,
	 .offset = offsetof(struct pgsink_conf, method),
	 .help = "how a batch travels. copy (the fastest in bench/pg.py): COPY into a staging "
		 "table, then one INSERT … SELECT … ON CONFLICT merge; at_least_once stages in a "
		 "temporary table, exactly_once in an UNLOGGED table "
		 "sluice_stage_<job>_<sink>_<worker> next to the target (PREPARE refuses "
		 "temporary tables), made at start: needs CREATE on the schema; append mode "
		 "copies straight into the table. insert: one multi-row INSERT … VALUES … ON "
		 "CONFLICT statement. unnest: one INSERT … SELECT * FROM unnest('{…}'::type[], …) "
		 "ON CONFLICT statement, an array per column (no array columns). Every method "
		 "sends one DELETE for a batch's deletes and retries a failing batch row by row"},
	{.name = "retry_max", .type = SL_OPT_DURATION_MS, .def = "5s", .min = 1, .max = 600000,
	 .offset = offsetof(struct pgsink_conf, retry_max_ms),
	 .help = "longest wait between reconnection attempts (backoff from 100ms)"},
	{0},
};

#define PG_MAX_SQL (64u << 20) /* one statement's text (and one batch's COPY data) */
#define PG_GID_MAX 200u
#define PG_COPY_CHUNK (256u << 10) /* bytes per CopyData message */
#define PG_IDENT_MAX 63u            /* PostgreSQL's NAMEDATALEN - 1 */

struct pg_col {
	char name[SL_NAME_MAX]; /* in the table */
	uint32_t src;           /* input column */
	bool key;
};

struct pgsink_shared {
	uint32_t n_cols;
	struct pg_col cols[SL_MAX_COLS];
	uint32_t n_keys;
	uint32_t key_idx[SL_MAX_KEYS]; /* into cols */
	uint32_t key_src[SL_MAX_KEYS]; /* input columns */
	char qtable[4 * SL_NAME_MAX + 16];
	char qschema[2 * SL_NAME_MAX + 8]; /* "schema". or empty: where stages go */
	char schema[SL_NAME_MAX];          /* the same unquoted, or empty */
	char *col_list;    /* "c1", "c2", … */
	char *insert_head; /* INSERT INTO t (c, …) VALUES */
	char *upsert_tail; /* ON CONFLICT (k) DO UPDATE SET … */
	char *password;    /* resolved at prepare; never logged */
	const char *job;
	char app_name[64]; /* sluice:<job>:<sink> */
	/* The checkpoint coordinator's and the control thread's connection. */
	pthread_mutex_t lock;
	PGconn *ctl;
};

/* One pending change. */
struct pg_row {
	uint8_t op; /* 'u' upsert/insert, 'd' delete, 0 superseded by a later change */
	uint64_t hash;
	uint32_t key_off, key_len; /* encoded key, in keys */
	uint32_t tup_off, tup_len; /* 'u': COPY line (copy) or SQL tuple (insert), in text */
	uint32_t cond_off, cond_len; /* 'd': "(k1 = '…' AND …)", in cond */
};

struct pgsink_state {
	PGconn *conn;
	struct sl_pg_poll poll;
	/* pending rows (kept until their statement is acknowledged, for retries) */
	struct pg_row *rows;
	uint32_t n_rows, cap_rows;
	struct sl_growbuf keys, text, cond;
	int64_t first_ns;
	/* last change per key: open addressing over row index + 1 */
	uint32_t *slots;
	uint32_t cap_slots;
	/* the flush's statement; method copy: its COPY data is text */
	struct sl_growbuf sql;
	/* method copy: "COPY stage FROM STDIN; INSERT … SELECT … FROM stage …;"
	 * (append mode: COPY target FROM STDIN;); the stage's DDL (upsert
	 * mode) and, exactly_once, "TRUNCATE stage;" (see open_copy) */
	char *copy_sql;
	char *stage_ddl;
	char *stage_truncate;
	bool sql_stage; /* the flush's statement fills the stage */
	/* method unnest: "::type[]" per column (NUL-separated, at cast_off),
	 * and a cursor per row into its COPY line */
	struct sl_growbuf casts;
	uint32_t cast_off[SL_MAX_COLS];
	uint32_t *cur;
	uint32_t cap_cur;
	/* exactly_once: the epoch's transaction */
	bool txn_open;
	/* While the barrier's PREPARE TRANSACTION is in flight: its gid (see
	 * reconnect_replay). */
	char prepare_gid[PG_GID_MAX + 1];
	/* The checkpoint whose prepared transaction is not committed yet: no
	 * new transaction starts before (it would not see that one's rows, so a
	 * delete could miss them). */
	uint64_t await_id;
	/* Every statement of the open transaction with its COPY data (replayed
	 * after a reconnect): records of u32 sql length, sql, NUL, u32 data
	 * length, data. */
	struct sl_growbuf epoch;
	uint64_t sent_rows;
	uint64_t dead_rows;
	struct sl_ratelimit rl;
};

/* ---- prepare ---- */

static void pgsink_release(struct sl_node *n)
{
	struct pgsink_shared *s = n->shared;
	if (!s)
		return;
	if (s->ctl)
		PQfinish(s->ctl);
	free(s->col_list);
	free(s->insert_head);
	free(s->upsert_tail);
	sl_pg_free_password(s->password);
	pthread_mutex_destroy(&s->lock);
	free(s);
	n->shared = NULL;
}

static int pgsink_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct pgsink_conf *c = n->conf;
	sl_node_inherit(job, n);
	struct pgsink_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	pthread_mutex_init(&s->lock, NULL);
	s->job = job->name;
	snprintf(s->app_name, sizeof(s->app_name), "sluice:%.28s:%.24s", job->name, n->name);
	int rc = 0;
	const struct sl_schema *in = &n->schema;
	if (c->columns && c->columns->type == SL_CFG_MAP) {
		for (uint32_t k = 0; k < c->columns->n; k++) {
			const struct sl_cfg_node *kn = c->columns->keys[k], *vn = c->columns->vals[k];
			if (s->n_cols == SL_MAX_COLS)
				return sl_diag_error(d, kn->pos, "sink '%s': too many columns", n->name);
			if (!vn || vn->type != SL_CFG_SCALAR) {
				rc = sl_diag_error(d, kn->pos,
						   "sink '%s': columns: %s: expected an input column name",
						   n->name, kn->str);
				continue;
			}
			int src = sl_schema_find(in, vn->str);
			if (src < 0) {
				rc = sl_diag_error(d, vn->pos, "sink '%s': columns: no input column '%s'",
						   n->name, vn->str);
				continue;
			}
			struct pg_col *pc = &s->cols[s->n_cols++];
			snprintf(pc->name, sizeof(pc->name), "%s", kn->str);
			pc->src = (uint32_t)src;
		}
	} else if (c->columns && c->columns->type != SL_CFG_NULL) {
		return sl_diag_error(d, sl_node_pos_of(n, "columns"),
				     "sink '%s': columns: expected a map of table column: input column",
				     n->name);
	} else {
		for (uint32_t i = 0; i < in->n_fields; i++) {
			struct pg_col *pc = &s->cols[s->n_cols++];
			snprintf(pc->name, sizeof(pc->name), "%s", in->fields[i].name);
			pc->src = i;
		}
	}
	if (c->mode == MODE_UPSERT && (c->key.n == 0 || c->key.n > SL_MAX_KEYS))
		return sl_diag_error(d, n->pos, "sink '%s': mode upsert needs key: (1 to %u columns)",
				     n->name, SL_MAX_KEYS);
	for (uint32_t k = 0; k < c->key.n; k++) {
		bool found = false;
		for (uint32_t i = 0; i < s->n_cols; i++)
			if (strcmp(s->cols[i].name, c->key.v[k]) == 0) {
				s->cols[i].key = true;
				s->key_idx[s->n_keys] = i;
				s->key_src[s->n_keys++] = s->cols[i].src;
				found = true;
			}
		if (!found)
			rc = sl_diag_error(d, sl_node_pos_of(n, "key"),
					   "sink '%s': key column '%s' is not among the columns written",
					   n->name, c->key.v[k]);
	}
	if (c->delivery == DELIVERY_EXACTLY_ONCE &&
	    (!job->ckpt || job->ckpt->mode != SL_CKPT_EXACTLY_ONCE))
		rc = sl_diag_error(d, sl_node_pos_of(n, "delivery"),
				   "sink '%s': delivery exactly_once needs checkpoint: {mode: "
				   "exactly_once}",
				   n->name);
	if (sl_pg_read_password(n, c->password_env, c->password_file, &s->password, d) < 0)
		rc = -EINVAL;
	if (rc < 0)
		return rc;
	/* table, maybe schema-qualified */
	char schema[SL_NAME_MAX] = "", table[SL_NAME_MAX];
	const char *dot = strchr(c->table, '.');
	char q1[2 * SL_NAME_MAX + 4], q2[2 * SL_NAME_MAX + 4];
	if (dot) {
		snprintf(schema, sizeof(schema), "%.*s", (int)(dot - c->table), c->table);
		snprintf(table, sizeof(table), "%s", dot + 1);
		sl_pg_quote_ident(q1, sizeof(q1), schema);
		sl_pg_quote_ident(q2, sizeof(q2), table);
		snprintf(s->qtable, sizeof(s->qtable), "%s.%s", q1, q2);
		snprintf(s->qschema, sizeof(s->qschema), "%s.", q1);
		snprintf(s->schema, sizeof(s->schema), "%s", schema);
	} else {
		sl_pg_quote_ident(s->qtable, sizeof(s->qtable), c->table);
	}
	struct sl_growbuf g = {0};
	sl_growbuf_puts(&g, "INSERT INTO ");
	sl_growbuf_puts(&g, s->qtable);
	sl_growbuf_puts(&g, " (");
	for (uint32_t i = 0; i < s->n_cols; i++) {
		sl_pg_quote_ident(q1, sizeof(q1), s->cols[i].name);
		sl_growbuf_puts(&g, i ? ", " : "");
		sl_growbuf_puts(&g, q1);
	}
	sl_growbuf_puts(&g, ") VALUES ");
	s->insert_head = strdup(g.p);
	s->col_list = strndup(g.p + strlen("INSERT INTO  (") + strlen(s->qtable),
			      g.len - strlen("INSERT INTO  () VALUES ") - strlen(s->qtable));
	/* Emptied for the tail, which append mode leaves empty. */
	g.len = 0;
	if (g.p)
		g.p[0] = '\0';
	if (c->mode == MODE_UPSERT) {
		sl_growbuf_puts(&g, " ON CONFLICT (");
		for (uint32_t k = 0; k < s->n_keys; k++) {
			sl_pg_quote_ident(q1, sizeof(q1), s->cols[s->key_idx[k]].name);
			sl_growbuf_puts(&g, k ? ", " : "");
			sl_growbuf_puts(&g, q1);
		}
		bool any = false;
		for (uint32_t i = 0; i < s->n_cols; i++) {
			if (s->cols[i].key)
				continue;
			sl_pg_quote_ident(q1, sizeof(q1), s->cols[i].name);
			sl_growbuf_puts(&g, any ? ", " : ") DO UPDATE SET ");
			sl_growbuf_puts(&g, q1);
			sl_growbuf_puts(&g, " = EXCLUDED.");
			sl_growbuf_puts(&g, q1);
			any = true;
		}
		if (!any)
			sl_growbuf_puts(&g, ") DO NOTHING");
	}
	s->upsert_tail = strdup(g.p ? g.p : "");
	mi_free(g.p);
	if (!s->insert_head || !s->col_list || !s->upsert_tail)
		return -ENOMEM;
	return 0;
}

/* ---- connecting (control thread: blocking; workers: through io_uring) ---- */

/* Every connection names its job and sink (application_name), so a restart
 * can end the backends a killed run left behind; and it has the server check
 * for a vanished client while a statement waits (PostgreSQL 14+). */
static PGconn *start_connect(const struct pgsink_conf *c, const struct pgsink_shared *s)
{
	const char *keys[5] = {"dbname", "application_name", "options", NULL, NULL};
	const char *vals[5] = {c->dsn, s->app_name,
			       "-c client_connection_check_interval=1000 -c TimeZone=UTC "
			       "-c DateStyle=ISO -c standard_conforming_strings=on",
			       NULL, NULL};
	if (s->password) {
		keys[3] = "password";
		vals[3] = s->password;
	}
	PGconn *conn = PQconnectStartParams(keys, vals, 1);
	if (conn)
		PQsetNoticeProcessor(conn, sl_pg_notice_log, NULL);
	return conn;
}

/* Connects (or reconnects) with backoff; false once the job is stopping. */
static bool connect_worker(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	int64_t backoff = 100;
	for (int attempt = 0;; attempt++) {
		if (st->conn)
			PQfinish(st->conn);
		st->conn = start_connect(c, s);
		if (st->conn && PQstatus(st->conn) != CONNECTION_BAD) {
			PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
			int64_t deadline = sl_now_ns() + 10000000000ll;
			while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED &&
			       sl_now_ns() < deadline) {
				sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), ps == PGRES_POLLING_WRITING, 1000);
				ps = PQconnectPoll(st->conn);
			}
			if (ps == PGRES_POLLING_OK) {
				PQsetnonblocking(st->conn, 1);
				if (attempt)
					sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
					       "msg=\"reconnected to PostgreSQL\" attempts=%d", attempt + 1);
				return true;
			}
		}
		char where[256], q[600];
		sl_pg_conn_name(st->conn, where, sizeof(where));
		const char *why = st->conn ? PQerrorMessage(st->conn) : "out of memory";
		uint64_t sup;
		if (sl_ratelimit_ok(&st->rl, &sup))
			sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
			       "msg=\"cannot connect to PostgreSQL: retrying\" at=%s reason=%s "
			       "retry_ms=%" PRId64,
			       where, sl_log_quote(why, strcspn(why, "\n"), q, sizeof(q)), backoff);
		if (sl_worker_stopping(w) && atomic_load(&w->eng->exit_now))
			return false;
		sl_worker_pause(w, backoff); /* other nodes keep their connections alive */
		if (atomic_load(&w->eng->exit_now))
			return false;
		backoff = backoff * 2 > c->retry_max_ms ? c->retry_max_ms : backoff * 2;
	}
}

/* ---- results ---- */

/* COPY data for the COPY … FROM STDIN the server now waits on, then its
 * end, flushed. 0 also when the server ended the COPY early (its error
 * comes with the results); -ECONNRESET when the connection broke. */
static int send_copy(struct sl_worker *w, struct pgsink_state *st, const char *data, size_t len,
		     char *err, size_t cap)
{
	SL_ASSERT(data || len == 0);
	int r = 1;
	for (size_t off = 0; off < len && r >= 0;) {
		int n = (int)(len - off > PG_COPY_CHUNK ? PG_COPY_CHUNK : len - off);
		r = PQputCopyData(st->conn, data + off, n);
		if (r == 1)
			off += (size_t)n;
		else if (r == 0)
			sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), true, 1000);
	}
	if (r >= 0)
		while ((r = PQputCopyEnd(st->conn, NULL)) == 0)
			sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), true, 1000);
	int f = 0;
	while (r >= 0 && (f = PQflush(st->conn)) == 1)
		sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), true, 1000);
	if ((r < 0 || f < 0) && PQstatus(st->conn) == CONNECTION_BAD) {
		snprintf(err, cap, "%s", PQerrorMessage(st->conn));
		return -ECONNRESET;
	}
	return 0;
}

/* Sends sql and waits for every result; a COPY … FROM STDIN in it gets
 * copy (len bytes of COPY text; a second one gets none); keep (if not
 * NULL) gets the last result with rows, the caller's to PQclear. 0, or -EIO
 * with PostgreSQL's message in err (sqlstate too); -ECONNRESET when the
 * connection broke. */
static int exec_keep(struct sl_worker *w, struct pgsink_state *st, const char *sql,
		     const char *copy, size_t copy_len, char *err, size_t cap, char *sqlstate,
		     PGresult **keep)
{
	if (sqlstate)
		sqlstate[0] = '\0';
	if (!PQsendQuery(st->conn, sql)) {
		snprintf(err, cap, "%s", PQerrorMessage(st->conn));
		return PQstatus(st->conn) == CONNECTION_BAD ? -ECONNRESET : -EIO;
	}
	int f;
	while ((f = PQflush(st->conn)) == 1)
		sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), true, 1000);
	if (f < 0) {
		snprintf(err, cap, "%s", PQerrorMessage(st->conn));
		return -ECONNRESET;
	}
	int rc = 0;
	for (;;) {
		while (PQisBusy(st->conn)) {
			sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), false, 1000);
			if (!PQconsumeInput(st->conn)) {
				snprintf(err, cap, "%s", PQerrorMessage(st->conn));
				return -ECONNRESET;
			}
		}
		PGresult *r = PQgetResult(st->conn);
		if (!r)
			break;
		ExecStatusType es = PQresultStatus(r);
		if (es == PGRES_COPY_IN) {
			PQclear(r);
			int crc = send_copy(w, st, copy, copy_len, err, cap);
			if (crc < 0)
				return crc;
			copy = NULL;
			copy_len = 0;
			continue;
		}
		if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK && rc == 0) {
			const char *m = PQresultErrorMessage(r);
			snprintf(err, cap, "%.*s", (int)strcspn(m, "\n"), m);
			const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
			if (sqlstate && ss)
				snprintf(sqlstate, 6, "%s", ss);
			rc = PQstatus(st->conn) == CONNECTION_BAD ? -ECONNRESET : -EIO;
		}
		if (keep && es == PGRES_TUPLES_OK) {
			if (*keep)
				PQclear(*keep);
			*keep = r;
		} else {
			PQclear(r);
		}
	}
	if (rc == 0 && PQstatus(st->conn) == CONNECTION_BAD) {
		snprintf(err, cap, "%s", PQerrorMessage(st->conn));
		rc = -ECONNRESET;
	}
	if (rc < 0 && keep && *keep) {
		PQclear(*keep);
		*keep = NULL;
	}
	return rc;
}

static int exec_wait(struct sl_worker *w, struct pgsink_state *st, const char *sql,
		     const char *copy, size_t copy_len, char *err, size_t cap, char *sqlstate)
{
	return exec_keep(w, st, sql, copy, copy_len, err, cap, sqlstate, NULL);
}

/* ---- rendering rows ---- */

/* A value as a quoted literal ('' doubled); false for what PostgreSQL text
 * cannot hold (a NUL byte). */
static bool put_literal(struct sl_growbuf *g, const struct sl_field *f, const struct sl_batch *b,
			uint32_t col, uint32_t r)
{
	if (!sl_batch_is_valid(b, col, r))
		return sl_growbuf_puts(g, "NULL");
	if (f->type == SL_T_STRING) {
		uint32_t len;
		const char *s = sl_batch_str(b, col, r, &len);
		if (memchr(s, '\0', len))
			return false;
		if (!sl_growbuf_reserve(g, 2 * (size_t)len + 3))
			return false;
		char *o = g->p + g->len;
		*o++ = '\'';
		for (uint32_t i = 0; i < len; i++) {
			if (s[i] == '\'')
				*o++ = '\'';
			*o++ = s[i];
		}
		*o++ = '\'';
		g->len = (size_t)(o - g->p);
		g->p[g->len] = '\0';
		return true;
	}
	char buf[64];
	buf[0] = '\'';
	int n = sl_value_format_field(f, b->cols[col].v[r], buf + 1);
	buf[1 + n] = '\'';
	return sl_growbuf_put(g, buf, (size_t)n + 2);
}

/* Bytes COPY's text format escapes (and NUL, which it cannot hold). */
static inline bool copy_special(uint8_t ch)
{
	return ch == '\\' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\0';
}

/* The end of the run of ordinary bytes of s[i, len): the index of the
 * first special one, or len. SSE2 (every x86-64) 16 bytes at a time. */
static inline uint32_t copy_plain_run(const char *s, uint32_t i, uint32_t len)
{
#ifdef __SSE2__
	const __m128i bs = _mm_set1_epi8('\\'), tab = _mm_set1_epi8('\t'),
		      nl = _mm_set1_epi8('\n'), cr = _mm_set1_epi8('\r'), nul = _mm_setzero_si128();
	for (; i + 16 <= len; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i m = _mm_or_si128(
			_mm_or_si128(_mm_cmpeq_epi8(v, bs), _mm_cmpeq_epi8(v, tab)),
			_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, nl), _mm_cmpeq_epi8(v, cr)),
				     _mm_cmpeq_epi8(v, nul)));
		int bits = _mm_movemask_epi8(m);
		if (bits)
			return i + (uint32_t)__builtin_ctz((unsigned)bits);
	}
#endif
	while (i < len && !copy_special((uint8_t)s[i]))
		i++;
	return i;
}

/* A value as a field of COPY's text format: \N for NULL; backslash, tab,
 * newline and carriage return escaped; the text otherwise as put_literal
 * quotes it. false for a NUL byte. */
static bool put_copy_field(struct sl_growbuf *g, const struct sl_field *f, const struct sl_batch *b,
			   uint32_t col, uint32_t r)
{
	if (!sl_batch_is_valid(b, col, r))
		return sl_growbuf_put(g, "\\N", 2);
	if (f->type != SL_T_STRING) {
		/* Numbers, dates, times, booleans: nothing to escape. */
		char buf[64];
		int n = sl_value_format_field(f, b->cols[col].v[r], buf);
		return sl_growbuf_put(g, buf, (size_t)n);
	}
	uint32_t len;
	const char *s = sl_batch_str(b, col, r, &len);
	if (!sl_growbuf_reserve(g, 2 * (size_t)len + 1))
		return false;
	char *o = g->p + g->len;
	for (uint32_t i = 0; i < len;) {
		/* The hot loop of the sink: runs without a special byte are
		 * copied whole. */
		uint32_t j = copy_plain_run(s, i, len);
		memcpy(o, s + i, j - i);
		o += j - i;
		if (j == len)
			break;
		char ch = s[j];
		if (ch == '\0')
			return false;
		*o++ = '\\';
		*o++ = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : '\\';
		i = j + 1;
	}
	g->len = (size_t)(o - g->p);
	g->p[g->len] = '\0';
	return true;
}

/* A COPY line of put_copy_field's (no newline) as the SQL tuple put_literal
 * makes of the same row, for the row-by-row retry and the dead letters. */
static bool copy_line_to_tuple(struct sl_growbuf *g, const char *line, size_t len)
{
	/* At most 2 bytes per byte of text, 3 per tab (an empty field becomes
	 * '',), 4 for the parentheses and the NUL. */
	if (!sl_growbuf_reserve(g, 3 * len + 8))
		return false;
	char *o = g->p + g->len;
	*o++ = '(';
	size_t i = 0;
	for (bool first = true;; first = false) {
		if (!first)
			*o++ = ',';
		size_t end = i;
		while (end < len && line[end] != '\t')
			end++;
		if (end - i == 2 && line[i] == '\\' && line[i + 1] == 'N') {
			memcpy(o, "NULL", 4);
			o += 4;
		} else {
			*o++ = '\'';
			for (size_t k = i; k < end; k++) {
				char ch = line[k];
				if (ch == '\\' && k + 1 < end) {
					ch = line[++k];
					ch = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch;
				}
				if (ch == '\'')
					*o++ = '\'';
				*o++ = ch;
			}
			*o++ = '\'';
		}
		if (end >= len)
			break;
		i = end + 1;
	}
	*o++ = ')';
	g->len = (size_t)(o - g->p);
	SL_ASSERT(g->len < g->cap);
	g->p[g->len] = '\0';
	return true;
}

/* ---- open and close ---- */

static int run_sql(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st,
		   const char *sql, const char *copy, size_t copy_len, char *err, size_t cap,
		   char *sqlstate);

/* The worker's staging table, quoted: sluice_stage_<job>_<sink>_<worker>,
 * or with a hash of job and sink when that is longer than an identifier
 * may be; next to the target, or in pg_temp (where a temporary one is the
 * only one the name may find: a DROP must not reach a table elsewhere). */
static void stage_name(char *out, size_t cap, const struct pgsink_shared *s, const char *sink,
		       uint32_t worker, bool temp)
{
	char name[256], q[2 * sizeof(name) + 4];
	int n = snprintf(name, sizeof(name), "sluice_stage_%s_%s_%u", s->job, sink, worker);
	if (n < 0 || (size_t)n > PG_IDENT_MAX) {
		char js[2 * SL_NAME_MAX + 2];
		int jl = snprintf(js, sizeof(js), "%s:%s", s->job, sink);
		snprintf(name, sizeof(name), "sluice_stage_%016" PRIx64 "_%u",
			 sl_key_hash(js, jl < 0 ? 0 : (size_t)jl), worker);
	}
	sl_pg_quote_ident(q, sizeof(q), name);
	/* Both parts are short (identifiers of at most 63 bytes, quoted). */
	const char *pre = temp ? "pg_temp." : s->qschema;
	size_t a = strlen(pre), b = strlen(q);
	SL_ASSERT(a + b < cap);
	memcpy(out, pre, a);
	memcpy(out + a, q, b + 1);
}

/* Creates the staging table (again: a temporary one goes with its
 * connection). 0 or -EIO/-ECONNRESET with the server's message in err. */
static int make_stage(struct sl_worker *w, struct pgsink_state *st, char *err, size_t cap)
{
	SL_ASSERT(st->stage_ddl);
	return exec_wait(w, st, st->stage_ddl, NULL, 0, err, cap, NULL);
}

/*
 * Method copy: the statements that carry a batch of upserts and, in upsert
 * mode, the staging table, with the target's types for the mapped columns
 * (CREATE TABLE AS: no constraints). at_least_once: a temporary table ON
 * COMMIT DELETE ROWS, emptied in place by each batch's commit (local
 * buffers, no WAL, no lock). exactly_once: PREPARE refuses temporary
 * tables, so an UNLOGGED one, emptied by a TRUNCATE after each batch at
 * the transaction's top level: only the epoch's first makes a new file,
 * the later ones truncate that file in place (inside the batch's savepoint
 * each would make a new file).
 */
static int open_copy(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	bool temp = c->delivery == DELIVERY_AT_LEAST_ONCE;
	char stage[sizeof(s->qschema) + 2 * PG_IDENT_MAX + 8], err[1024];
	struct sl_growbuf g = {0}, ddl = {0}, trunc = {0};
	bool ok = true;
	int rc = 0;
	if (c->mode == MODE_APPEND) {
		ok &= sl_growbuf_puts(&g, "COPY ");
		ok &= sl_growbuf_puts(&g, s->qtable);
		ok &= sl_growbuf_puts(&g, " (");
		ok &= sl_growbuf_puts(&g, s->col_list);
		ok &= sl_growbuf_puts(&g, ") FROM STDIN;\n");
		goto out_done;
	}
	stage_name(stage, sizeof(stage), s, ni->node->name, w->id, temp);
	/* Dropped first: the target's columns may have changed since. */
	ok &= sl_growbuf_puts(&ddl, "DROP TABLE IF EXISTS ");
	ok &= sl_growbuf_puts(&ddl, stage);
	ok &= sl_growbuf_puts(&ddl, temp ? "; CREATE TEMPORARY TABLE " : "; CREATE UNLOGGED TABLE ");
	ok &= sl_growbuf_puts(&ddl, stage);
	ok &= sl_growbuf_puts(&ddl, temp ? " ON COMMIT DELETE ROWS AS SELECT " : " AS SELECT ");
	ok &= sl_growbuf_puts(&ddl, s->col_list);
	ok &= sl_growbuf_puts(&ddl, " FROM ");
	ok &= sl_growbuf_puts(&ddl, s->qtable);
	ok &= sl_growbuf_puts(&ddl, " WITH NO DATA");
	if (!temp) {
		ok &= sl_growbuf_puts(&trunc, "TRUNCATE ");
		ok &= sl_growbuf_puts(&trunc, stage);
		ok &= sl_growbuf_puts(&trunc, ";\n");
	}
	ok &= sl_growbuf_puts(&g, "COPY ");
	ok &= sl_growbuf_puts(&g, stage);
	ok &= sl_growbuf_puts(&g, " (");
	ok &= sl_growbuf_puts(&g, s->col_list);
	ok &= sl_growbuf_puts(&g, ") FROM STDIN;\nINSERT INTO ");
	ok &= sl_growbuf_puts(&g, s->qtable);
	ok &= sl_growbuf_puts(&g, " (");
	ok &= sl_growbuf_puts(&g, s->col_list);
	ok &= sl_growbuf_puts(&g, ") SELECT ");
	ok &= sl_growbuf_puts(&g, s->col_list);
	ok &= sl_growbuf_puts(&g, " FROM ");
	ok &= sl_growbuf_puts(&g, stage);
	ok &= sl_growbuf_puts(&g, s->upsert_tail);
	ok &= sl_growbuf_puts(&g, ";\n");
	if (!ok) {
		rc = -ENOMEM;
		goto out_free;
	}
	st->stage_ddl = ddl.p;
	st->stage_truncate = trunc.p;
	ddl.p = trunc.p = NULL;
	/* Through run_sql: a server restarting now costs a reconnect, not
	 * the job. */
	rc = run_sql(w, ni, st, st->stage_ddl, NULL, 0, err, sizeof(err), NULL);
	if (rc < 0) {
		sl_worker_fail(w, ni, rc, "creating the staging table %s: %s", stage, err);
		goto out_free;
	}
out_done:
	if (!ok) {
		rc = -ENOMEM;
		goto out_free;
	}
	st->copy_sql = g.p;
	return 0;
out_free:
	mi_free(g.p);
	mi_free(ddl.p);
	mi_free(trunc.p);
	return rc;
}

/* Method unnest: each mapped column's type, without its modifier (an
 * explicit cast to varchar(n) would cut a long value short; the INSERT's
 * own assignment checks it). */
static int open_unnest(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_shared *s = ni->node->shared;
	struct sl_growbuf q = {0};
	char err[1024];
	bool ok = sl_growbuf_puts(&q, "SELECT a.attname, format_type(a.atttypid, NULL), a.attndims > 0 OR "
			      "t.typcategory = 'A' FROM pg_attribute a JOIN pg_type t ON t.oid = "
			      "a.atttypid WHERE a.attrelid = '");
	for (const char *p = s->qtable; *p && ok; p++) {
		ok &= sl_growbuf_put(&q, p, 1);
		if (*p == '\'')
			ok &= sl_growbuf_put(&q, p, 1);
	}
	ok &= sl_growbuf_puts(&q, "'::regclass AND a.attnum > 0 AND NOT a.attisdropped");
	if (!ok) {
		mi_free(q.p);
		return -ENOMEM;
	}
	PGresult *res = NULL;
	int rc;
	while ((rc = exec_keep(w, st, q.p, NULL, 0, err, sizeof(err), NULL, &res)) == -ECONNRESET) {
		/* The server is restarting: connect again, as run_sql would. */
		if (!connect_worker(w, ni, st)) {
			rc = -ECONNABORTED;
			snprintf(err, sizeof(err), "the job is stopping");
			break;
		}
	}
	mi_free(q.p);
	if (rc < 0 || !res) {
		sl_worker_fail(w, ni, rc < 0 ? rc : -EIO, "reading the columns of %s: %s", s->qtable,
			       rc < 0 ? err : "no result");
		return rc < 0 ? rc : -EIO;
	}
	st->casts.len = 0;
	for (uint32_t i = 0; i < s->n_cols && rc == 0; i++) {
		int row = -1;
		for (int k = 0; k < PQntuples(res); k++)
			if (strcmp(PQgetvalue(res, k, 0), s->cols[i].name) == 0)
				row = k;
		if (row < 0 || PQgetvalue(res, row, 2)[0] == 't') {
			sl_worker_fail(w, ni, -EINVAL,
				       row < 0 ? "%s has no column %s"
					       : "%s: column %s is an array, which method unnest cannot "
						 "carry (use copy or insert)",
				       s->qtable, s->cols[i].name);
			rc = -EINVAL;
			break;
		}
		st->cast_off[i] = (uint32_t)st->casts.len;
		if (!sl_growbuf_puts(&st->casts, "::") || !sl_growbuf_puts(&st->casts, PQgetvalue(res, row, 1)) ||
		    !sl_growbuf_put(&st->casts, "[]", 3)) /* the NUL too */
			rc = -ENOMEM;
	}
	PQclear(res);
	return rc;
}

static int pgsink_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct pgsink_conf *c = ni->node->conf;
	struct pgsink_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->rl.burst = 1;
	if (!connect_worker(w, ni, st))
		return -ECONNREFUSED;
	if (c->method == METHOD_COPY)
		return open_copy(w, ni, st);
	if (c->method == METHOD_UNNEST)
		return open_unnest(w, ni, st);
	return 0;
}

static void pgsink_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	(void)w;
	struct pgsink_state *st = ni->state;
	if (!st)
		return;
	if (st->conn)
		PQfinish(st->conn); /* an open or prepared-but-not-committed transaction stays with the server */
	mi_free(st->rows);
	mi_free(st->keys.p);
	mi_free(st->text.p);
	mi_free(st->cond.p);
	mi_free(st->slots);
	mi_free(st->sql.p);
	mi_free(st->copy_sql);
	mi_free(st->stage_ddl);
	mi_free(st->stage_truncate);
	mi_free(st->casts.p);
	mi_free(st->cur);
	mi_free(st->epoch.p);
	mi_free(st);
	ni->state = NULL;
}

/* ---- sending ---- */

static int reconnect_replay(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st);

/* Runs sql (with copy as its COPY data, if any); on a broken connection
 * reconnects (replaying the open transaction) and tries again. Statement
 * errors come back as -EIO; -EALREADY when the barrier's PREPARE turned
 * out done while reconnecting (see reconnect_replay). */
static int run_sql(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st,
		   const char *sql, const char *copy, size_t copy_len, char *err, size_t cap,
		   char *sqlstate)
{
	for (;;) {
		int rc = exec_wait(w, st, sql, copy, copy_len, err, cap, sqlstate);
		if (rc != -ECONNRESET)
			return rc;
		char q[600];
		sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
		       "msg=\"PostgreSQL connection lost: reconnecting\" reason=%s",
		       sl_log_quote(err, strlen(err), q, sizeof(q)));
		if ((rc = reconnect_replay(w, ni, st)) < 0)
			return rc;
	}
}

/* Appends a statement and its COPY data to the epoch (see pgsink_state). */
static bool epoch_add(struct pgsink_state *st, const char *sql, const char *copy, size_t copy_len)
{
	uint32_t sl = (uint32_t)strlen(sql), cl = (uint32_t)copy_len;
	SL_ASSERT(copy_len <= PG_MAX_SQL);
	if (!sl_growbuf_reserve(&st->epoch, 2 * sizeof(uint32_t) + sl + 1 + cl + 1))
		return false;
	char *o = st->epoch.p + st->epoch.len;
	memcpy(o, &sl, sizeof(sl));
	memcpy(o + sizeof(sl), sql, (size_t)sl + 1);
	o += sizeof(sl) + sl + 1;
	memcpy(o, &cl, sizeof(cl));
	if (cl)
		memcpy(o + sizeof(cl), copy, cl);
	st->epoch.len += 2 * sizeof(uint32_t) + sl + 1 + cl;
	return true;
}

static int reconnect_replay(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	if (!connect_worker(w, ni, st))
		return -ECONNABORTED;
	char err[1024];
	if (st->stage_ddl && !st->stage_truncate) {
		/* The temporary stage went with the old connection. */
		int rc = make_stage(w, st, err, sizeof(err));
		if (rc == -ECONNRESET)
			return reconnect_replay(w, ni, st);
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "creating the staging table again: %s", err);
			return rc;
		}
	}
	if (!st->txn_open || st->epoch.len == 0)
		return 0;
	if (st->prepare_gid[0]) {
		/* The connection went during the PREPARE: the server may have
		 * prepared the transaction before it went. Replaying it then
		 * would wait forever on the prepared one's locks (which only
		 * the checkpoint this barrier belongs to commits). */
		char q[PG_GID_MAX + 80];
		snprintf(q, sizeof(q), "SELECT 1 FROM pg_prepared_xacts WHERE gid = '%s'",
			 st->prepare_gid);
		PGresult *res = NULL;
		int rc = exec_keep(w, st, q, NULL, 0, err, sizeof(err), NULL, &res);
		bool prepared = res && PQntuples(res) > 0;
		if (res)
			PQclear(res);
		if (rc == -ECONNRESET)
			return reconnect_replay(w, ni, st);
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "looking for prepared transaction %s: %s",
				       st->prepare_gid, err);
			return rc;
		}
		if (prepared)
			return -EALREADY;
	}
	/* The transaction died with the connection: run it again. */
	for (size_t off = 0; off < st->epoch.len;) {
		uint32_t sl, cl;
		memcpy(&sl, st->epoch.p + off, sizeof(sl));
		const char *sql = st->epoch.p + off + sizeof(sl);
		off += sizeof(sl) + sl + 1;
		memcpy(&cl, st->epoch.p + off, sizeof(cl));
		const char *copy = st->epoch.p + off + sizeof(cl);
		off += sizeof(cl) + cl;
		SL_ASSERT(off <= st->epoch.len);
		int rc = exec_wait(w, st, sql, copy, cl, err, sizeof(err), NULL);
		if (rc == -ECONNRESET)
			return reconnect_replay(w, ni, st);
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "replaying the transaction after a reconnect: %s",
				       err);
			return rc;
		}
	}
	/* The epoch ends with the PREPARE: it ran now, not to be sent again. */
	return st->prepare_gid[0] ? -EALREADY : 0;
}

static void dead_row(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st,
		     const char *tuple, size_t len, const char *why)
{
	const struct pgsink_conf *c = ni->node->conf;
	st->dead_rows++;
	sl_worker_bad_input(w, ni, c->table, why, tuple, len);
}

/* Marks every pending row but the last change of its key superseded (op 0):
 * open addressing over row indexes, newest first. */
static int dedup_rows(struct pgsink_state *st)
{
	uint32_t cap = 1024;
	while (cap < 2 * st->n_rows)
		cap *= 2;
	if (cap > st->cap_slots) {
		uint32_t *p = mi_realloc(st->slots, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		st->slots = p;
		st->cap_slots = cap;
	}
	memset(st->slots, 0, cap * sizeof(*st->slots));
	uint32_t mask = cap - 1;
	for (uint32_t i = st->n_rows; i-- > 0;) {
		struct pg_row *r = &st->rows[i];
		for (uint32_t h = (uint32_t)r->hash & mask;; h = (h + 1) & mask) {
			uint32_t slot = st->slots[h];
			if (slot == 0) {
				st->slots[h] = i + 1;
				break;
			}
			const struct pg_row *o = &st->rows[slot - 1];
			if (o->hash == r->hash && o->key_len == r->key_len &&
			    memcmp(st->keys.p + o->key_off, st->keys.p + r->key_off, r->key_len) == 0) {
				r->op = 0;
				break;
			}
		}
	}
	return 0;
}

/* Method unnest: the upserts of the pending rows, their COPY lines turned
 * column by column into array literals, as one INSERT … SELECT * FROM
 * unnest('{"a","b",NULL}'::text[], …) ON CONFLICT …, appended to st->sql. */
static bool build_unnest(struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_shared *s = ni->node->shared;
	if (st->n_rows > st->cap_cur) {
		uint32_t *p = mi_realloc(st->cur, st->n_rows * sizeof(*p));
		if (!p)
			return false;
		st->cur = p;
		st->cap_cur = st->n_rows;
	}
	for (uint32_t i = 0; i < st->n_rows; i++)
		st->cur[i] = st->rows[i].tup_off;
	bool ok = sl_growbuf_puts(&st->sql, "INSERT INTO ") && sl_growbuf_puts(&st->sql, s->qtable) &&
		  sl_growbuf_puts(&st->sql, " (") && sl_growbuf_puts(&st->sql, s->col_list) &&
		  sl_growbuf_puts(&st->sql, ") SELECT * FROM unnest(");
	for (uint32_t c = 0; c < s->n_cols && ok; c++) {
		ok &= sl_growbuf_puts(&st->sql, c ? ", '{" : "'{");
		bool first = true;
		for (uint32_t i = 0; i < st->n_rows && ok; i++) {
			if (st->rows[i].op != 'u')
				continue;
			const char *f = st->text.p + st->cur[i];
			size_t n = strcspn(f, "\t\n");
			st->cur[i] += (uint32_t)n + 1;
			if (!sl_growbuf_reserve(&st->sql, 3 * n + 8)) {
				ok = false;
				break;
			}
			char *o = st->sql.p + st->sql.len;
			if (!first)
				*o++ = ',';
			first = false;
			if (n == 2 && f[0] == '\\' && f[1] == 'N') {
				memcpy(o, "NULL", 4);
				o += 4;
			} else {
				*o++ = '"';
				for (size_t k = 0; k < n; k++) {
					char ch = f[k];
					if (ch == '\\' && k + 1 < n) {
						ch = f[++k];
						ch = ch == 't' ? '\t' : ch == 'n' ? '\n' : ch == 'r' ? '\r' : ch;
					}
					if (ch == '"' || ch == '\\')
						*o++ = '\\';
					else if (ch == '\'')
						*o++ = '\'';
					*o++ = ch;
				}
				*o++ = '"';
			}
			st->sql.len = (size_t)(o - st->sql.p);
			st->sql.p[st->sql.len] = '\0';
		}
		ok &= sl_growbuf_puts(&st->sql, "}'") && sl_growbuf_puts(&st->sql, st->casts.p + st->cast_off[c]);
	}
	ok &= sl_growbuf_puts(&st->sql, ")") && sl_growbuf_puts(&st->sql, s->upsert_tail) &&
	      sl_growbuf_puts(&st->sql, ";\n");
	return ok;
}

/* The statement of the pending rows (last change per key) into st->sql;
 * method copy: their COPY lines are then st->text, in row order. The rows
 * stay until the flush is done. */
static int build_sql(struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	st->sql.len = 0;
	if (c->mode == MODE_UPSERT) {
		int rc = dedup_rows(st);
		if (rc < 0)
			return rc;
	}
	bool ok = true;
	uint32_t n_up = 0, n_del = 0;
	size_t text_len = 0;
	for (uint32_t i = 0; i < st->n_rows; i++) {
		struct pg_row *r = &st->rows[i];
		if (r->op == 'd') {
			n_del++;
		} else if (r->op == 'u') {
			n_up++;
			/* Method copy sends text as it is: close the gaps the
			 * superseded rows leave. */
			if (c->method == METHOD_COPY && r->tup_off != text_len) {
				memmove(st->text.p + text_len, st->text.p + r->tup_off, r->tup_len);
				r->tup_off = (uint32_t)text_len;
			}
			text_len += r->tup_len;
		}
	}
	if (c->method == METHOD_COPY)
		st->text.len = text_len;
	if (n_del) {
		ok &= sl_growbuf_puts(&st->sql, "DELETE FROM ");
		ok &= sl_growbuf_puts(&st->sql, s->qtable);
		ok &= sl_growbuf_puts(&st->sql, " WHERE ");
		bool first = true;
		for (uint32_t i = 0; i < st->n_rows; i++) {
			struct pg_row *r = &st->rows[i];
			if (r->op != 'd')
				continue;
			ok &= sl_growbuf_puts(&st->sql, first ? "" : " OR ");
			ok &= sl_growbuf_put(&st->sql, st->cond.p + r->cond_off, r->cond_len);
			first = false;
		}
		ok &= sl_growbuf_puts(&st->sql, ";\n");
	}
	st->sql_stage = false;
	if (n_up && c->method == METHOD_UNNEST) {
		ok &= build_unnest(ni, st);
	} else if (n_up && c->method == METHOD_COPY) {
		ok &= sl_growbuf_puts(&st->sql, st->copy_sql);
		st->sql_stage = st->stage_ddl != NULL;
	} else if (n_up) {
		ok &= sl_growbuf_puts(&st->sql, s->insert_head);
		bool first = true;
		for (uint32_t i = 0; i < st->n_rows; i++) {
			struct pg_row *r = &st->rows[i];
			if (r->op != 'u')
				continue;
			ok &= sl_growbuf_puts(&st->sql, first ? "" : ",");
			ok &= sl_growbuf_put(&st->sql, st->text.p + r->tup_off, r->tup_len);
			first = false;
		}
		ok &= sl_growbuf_puts(&st->sql, s->upsert_tail);
		ok &= sl_growbuf_puts(&st->sql, ";\n");
	}
	return ok ? 0 : -ENOMEM;
}

static void drop_rows(struct pgsink_state *st)
{
	st->n_rows = 0;
	st->keys.len = 0;
	st->text.len = 0;
	st->cond.len = 0;
}

/* The batch failed: every row on its own as a single-row INSERT or DELETE
 * (under a savepoint inside a transaction); the refused ones are dead
 * letters with the server's reason and the row as an SQL tuple. */
static int retry_rows(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	struct sl_growbuf one = {0}, tup = {0};
	char err[1024];
	int rc = 0;
	for (uint32_t i = 0; rc == 0 && i < st->n_rows; i++) {
		const struct pg_row *r = &st->rows[i];
		if (r->op == 0)
			continue;
		one.len = 0;
		tup.len = 0;
		bool ok = true;
		if (r->op == 'd') {
			ok &= sl_growbuf_put(&tup, st->cond.p + r->cond_off, r->cond_len);
		} else if (c->method != METHOD_INSERT) {
			/* The line without its newline. */
			ok &= copy_line_to_tuple(&tup, st->text.p + r->tup_off, r->tup_len - 1);
		} else {
			ok &= sl_growbuf_put(&tup, st->text.p + r->tup_off, r->tup_len);
		}
		if (st->txn_open)
			ok &= sl_growbuf_puts(&one, "SAVEPOINT sluice_row;\n");
		if (r->op == 'd') {
			ok &= sl_growbuf_puts(&one, "DELETE FROM ");
			ok &= sl_growbuf_puts(&one, s->qtable);
			ok &= sl_growbuf_puts(&one, " WHERE ");
			ok &= sl_growbuf_put(&one, tup.p, tup.len);
		} else {
			ok &= sl_growbuf_puts(&one, s->insert_head);
			ok &= sl_growbuf_put(&one, tup.p, tup.len);
			ok &= sl_growbuf_puts(&one, s->upsert_tail);
		}
		ok &= sl_growbuf_puts(&one, ";\n");
		if (!ok) {
			rc = -ENOMEM;
			break;
		}
		rc = run_sql(w, ni, st, one.p, NULL, 0, err, sizeof(err), NULL);
		if (rc == -EIO) {
			dead_row(w, ni, st, tup.p, tup.len, err);
			rc = 0;
			if (st->txn_open) {
				rc = run_sql(w, ni, st, "ROLLBACK TO SAVEPOINT sluice_row;", NULL, 0,
					     err, sizeof(err), NULL);
				if (rc < 0)
					sl_worker_fail(w, ni, rc, "rolling back a row: %s", err);
			}
		} else if (rc == 0 && st->txn_open) {
			if (!epoch_add(st, one.p, NULL, 0))
				rc = -ENOMEM;
			else
				rc = run_sql(w, ni, st, "RELEASE SAVEPOINT sluice_row;", NULL, 0, err,
					     sizeof(err), NULL);
		}
	}
	mi_free(one.p);
	mi_free(tup.p);
	return rc;
}

/* Sends the pending rows and waits for the answer; the rows are gone after
 * (written, dead letters, or the job failed). */
static int flush_rows(struct sl_worker *w, struct sl_nodeinst *ni, struct pgsink_state *st)
{
	const struct pgsink_conf *c = ni->node->conf;
	if (st->n_rows == 0 || st->await_id)
		return 0;
	int rc = build_sql(ni, st);
	if (rc < 0)
		goto out_drop;
	if (st->sql.len == 0)
		goto out_drop;
	const char *copy = c->method == METHOD_COPY ? st->text.p : NULL;
	size_t copy_len = c->method == METHOD_COPY ? st->text.len : 0;
	char err[1024];
	if (c->delivery == DELIVERY_EXACTLY_ONCE && !st->txn_open) {
		rc = run_sql(w, ni, st, "BEGIN", NULL, 0, err, sizeof(err), NULL);
		if (rc < 0) {
			sl_worker_fail(w, ni, rc, "BEGIN: %s", err);
			goto out_drop;
		}
		st->txn_open = true;
		st->epoch.len = 0;
		if (!epoch_add(st, "BEGIN;\n", NULL, 0)) {
			rc = -ENOMEM;
			goto out_drop;
		}
	}
	if (st->txn_open) {
		/* A savepoint, so a failing batch can be retried row by row. */
		/* One round trip: an error skips the rest, RELEASE included. */
		/* The stage is emptied outside it (see open_copy). */
		const char *trunc = st->sql_stage && st->stage_truncate ? st->stage_truncate : "";
		size_t cap = st->sql.len + strlen(trunc) + 96;
		char *batch = mi_malloc(cap);
		if (!batch) {
			rc = -ENOMEM;
			goto out_drop;
		}
		snprintf(batch, cap, "SAVEPOINT sluice_batch;\n%sRELEASE SAVEPOINT sluice_batch;\n%s",
			 st->sql.p, trunc);
		rc = run_sql(w, ni, st, batch, copy, copy_len, err, sizeof(err), NULL);
		mi_free(batch);
		if (rc == 0) {
			if (!sl_growbuf_puts(&st->sql, trunc) || !epoch_add(st, st->sql.p, copy, copy_len))
				rc = -ENOMEM;
		} else if (rc == -EIO) {
			rc = run_sql(w, ni, st, "ROLLBACK TO SAVEPOINT sluice_batch;", NULL, 0, err,
				     sizeof(err), NULL);
			if (rc == 0)
				rc = retry_rows(w, ni, st);
		}
	} else {
		rc = run_sql(w, ni, st, st->sql.p, copy, copy_len, err, sizeof(err), NULL);
		if (rc == -EIO)
			rc = retry_rows(w, ni, st);
	}
	if (rc < 0 && rc != -ECONNABORTED)
		sl_worker_fail(w, ni, rc, "writing to PostgreSQL: %s", err);
out_drop:
	drop_rows(st);
	return rc == -ECONNABORTED ? 0 : rc;
}

/* ---- process ---- */

static int pgsink_process(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_batch *in)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	struct pgsink_state *st = ni->state;
	const struct sl_schema *sch = &ni->node->schema;
	uint8_t key[SL_KEY_MAX_BYTES];
	for (uint32_t r = 0; r < in->n_rows; r++) {
		uint8_t kind = in->kind[r];
		uint8_t op;
		if (kind == SL_KIND_UPDATE_BEFORE)
			continue;
		if (kind == SL_KIND_DELETE) {
			if (c->mode == MODE_APPEND)
				continue;
			op = 'd';
		} else {
			op = 'u';
		}
		if (st->n_rows == st->cap_rows) {
			uint32_t cap = st->cap_rows ? st->cap_rows * 2 : 1024;
			struct pg_row *nr = mi_realloc(st->rows, cap * sizeof(*nr));
			if (!nr)
				return -ENOMEM;
			st->rows = nr;
			st->cap_rows = cap;
		}
		struct pg_row *pr = &st->rows[st->n_rows];
		pr->op = op;
		pr->key_off = (uint32_t)st->keys.len;
		pr->key_len = 0;
		pr->hash = 0;
		if (s->n_keys) {
			int kl = sl_key_encode(in, r, s->key_src, s->n_keys, key, sizeof(key));
			if (kl < 0) {
				sl_worker_bad_row(w, ni, c->table, "key longer than 4 KiB", in, r);
				continue;
			}
			if (!sl_growbuf_put(&st->keys, (const char *)key, (size_t)kl))
				return -ENOMEM;
			pr->key_len = (uint32_t)kl;
			pr->hash = sl_key_hash(key, (size_t)kl);
		}
		size_t text_mark = st->text.len, cond_mark = st->cond.len;
		bool ok = true;
		pr->tup_off = (uint32_t)st->text.len;
		pr->cond_off = (uint32_t)st->cond.len;
		pr->tup_len = pr->cond_len = 0;
		if (op == 'u' && c->method != METHOD_INSERT) {
			for (uint32_t i = 0; i < s->n_cols && ok; i++) {
				if (i)
					ok &= sl_growbuf_put(&st->text, "\t", 1);
				ok &= put_copy_field(&st->text, &sch->fields[s->cols[i].src], in,
						     s->cols[i].src, r);
			}
			ok &= sl_growbuf_put(&st->text, "\n", 1);
			pr->tup_len = (uint32_t)(st->text.len - pr->tup_off);
		} else if (op == 'u') {
			ok &= sl_growbuf_puts(&st->text, "(");
			for (uint32_t i = 0; i < s->n_cols && ok; i++) {
				if (i)
					ok &= sl_growbuf_puts(&st->text, ",");
				ok &= put_literal(&st->text, &sch->fields[s->cols[i].src], in,
						  s->cols[i].src, r);
			}
			ok &= sl_growbuf_puts(&st->text, ")");
			pr->tup_len = (uint32_t)(st->text.len - pr->tup_off);
		} else {
			ok &= sl_growbuf_puts(&st->cond, "(");
			for (uint32_t k = 0; k < s->n_keys && ok; k++) {
				char q[2 * SL_NAME_MAX + 4];
				sl_pg_quote_ident(q, sizeof(q), s->cols[s->key_idx[k]].name);
				if (k)
					ok &= sl_growbuf_puts(&st->cond, " AND ");
				ok &= sl_growbuf_puts(&st->cond, q);
				if (!sl_batch_is_valid(in, s->key_src[k], r)) {
					ok &= sl_growbuf_puts(&st->cond, " IS NULL");
				} else {
					ok &= sl_growbuf_puts(&st->cond, " = ");
					ok &= put_literal(&st->cond, &sch->fields[s->key_src[k]], in,
							  s->key_src[k], r);
				}
			}
			ok &= sl_growbuf_puts(&st->cond, ")");
			pr->cond_len = (uint32_t)(st->cond.len - pr->cond_off);
		}
		if (!ok) {
			st->text.len = text_mark;
			st->cond.len = cond_mark;
			st->keys.len = pr->key_off;
			sl_worker_bad_row(w, ni, c->table,
					  "a string holds a NUL byte, which PostgreSQL text cannot store",
					  in, r);
			continue;
		}
		if (st->n_rows++ == 0)
			st->first_ns = w->now_ns;
		if (st->n_rows >= (uint64_t)c->batch_rows || st->text.len >= PG_MAX_SQL / 2 ||
		    st->cond.len >= PG_MAX_SQL / 2) {
			int rc = flush_rows(w, ni, st);
			if (rc < 0)
				return rc;
		}
	}
	sl_worker_sink_rows(w, ni, in, 0);
	if (st->n_rows)
		sl_worker_wake_at(w, st->first_ns + c->flush_interval_ms * 1000000);
	return 0;
}

static void pgsink_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	const struct pgsink_conf *c = ni->node->conf;
	struct pgsink_state *st = ni->state;
	if (!st->n_rows)
		return;
	int64_t due = st->first_ns + c->flush_interval_ms * 1000000;
	if (now_ns >= due)
		flush_rows(w, ni, st);
	else
		sl_worker_wake_at(w, due);
}

static int pgsink_finish(struct sl_worker *w, struct sl_nodeinst *ni)
{
	const struct pgsink_conf *c = ni->node->conf;
	struct pgsink_state *st = ni->state;
	int rc = flush_rows(w, ni, st);
	/* exactly_once: the final checkpoint prepares and commits the rest. */
	if (rc == 0 && c->delivery == DELIVERY_EXACTLY_ONCE && !w->eng->ckpt_on && st->txn_open) {
		char err[1024];
		rc = run_sql(w, ni, st, "COMMIT", NULL, 0, err, sizeof(err), NULL);
		st->txn_open = false;
	}
	return rc;
}

/* ---- two-phase commit ---- */

static void gid_of(char *out, size_t cap, const char *job, const char *sink, uint32_t worker,
		   uint64_t id)
{
	snprintf(out, cap, "sluice:%s:%s:%u:%" PRIu64, job, sink, worker, id);
}

static const char *const STATE_TABLE_DDL =
	"CREATE TABLE IF NOT EXISTS sluice_sink_state (job text NOT NULL, sink text NOT NULL, "
	"worker int NOT NULL, checkpoint_id bigint NOT NULL, updated timestamptz NOT NULL "
	"DEFAULT now(), PRIMARY KEY (job, sink, worker))";

/* At the barrier: everything sent, then (exactly_once) the epoch's
 * transaction records the checkpoint and is prepared. */
static int pgsink_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	const struct pgsink_conf *c = ni->node->conf;
	const struct pgsink_shared *s = ni->node->shared;
	struct pgsink_state *st = ni->state;
	if (st->await_id) {
		/* The previous checkpoint failed after this sink prepared its
		 * transaction: going on would break exactly-once. */
		sl_worker_fail(w, ni, -EIO,
			       "checkpoint %" PRIu64 " did not complete while its PostgreSQL "
			       "transaction was prepared; restart from the latest checkpoint "
			       "(--restore latest, or --supervise)",
			       st->await_id);
		return -EIO;
	}
	int rc = flush_rows(w, ni, st);
	if (rc < 0 || c->delivery != DELIVERY_EXACTLY_ONCE)
		return rc;
	sl_snap_u32(out, w->id);
	if (!st->txn_open) {
		sl_snap_u8(out, 0); /* nothing written in this epoch */
		return 0;
	}
	char gid[PG_GID_MAX + 1], sql[4 * PG_GID_MAX + 512], err[1024];
	gid_of(gid, sizeof(gid), s->job, ni->node->name, w->id, w->ckpt_id);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO sluice_sink_state (job, sink, worker, checkpoint_id) VALUES ('%s', "
		 "'%s', %u, %" PRIu64 ") ON CONFLICT (job, sink, worker) DO UPDATE SET "
		 "checkpoint_id = EXCLUDED.checkpoint_id, updated = now();\nPREPARE TRANSACTION "
		 "'%s';",
		 s->job, ni->node->name, w->id, w->ckpt_id, gid);
	if (!epoch_add(st, sql, NULL, 0))
		return -ENOMEM;
	/* The PREPARE is part of the replayable epoch: after a reconnect
	 * reconnect_replay runs it all again, or finds it prepared already;
	 * either way -EALREADY says it is done. */
	snprintf(st->prepare_gid, sizeof(st->prepare_gid), "%s", gid);
	rc = run_sql(w, ni, st, sql, NULL, 0, err, sizeof(err), NULL);
	st->prepare_gid[0] = '\0';
	if (rc == -EALREADY)
		rc = 0;
	if (rc < 0) {
		sl_worker_fail(w, ni, rc, "PREPARE TRANSACTION %s: %s", gid, err);
		return rc;
	}
	st->txn_open = false;
	st->epoch.len = 0;
	st->await_id = w->ckpt_id;
	sl_snap_u8(out, 1);
	sl_snap_str(out, gid);
	sl_snap_u64(out, w->ckpt_id);
	return 0;
}

static void pgsink_committed(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	struct pgsink_state *st = ni->state;
	if (st->await_id && id >= st->await_id) {
		st->await_id = 0;
		if (st->n_rows) /* what waited goes out on the next tick */
			sl_worker_wake_at(w, w->now_ns);
	}
}

/* Control side: a connection of the sink's own, made on demand. */
static PGconn *ctl_conn(const struct sl_node *n, char *err, size_t cap)
{
	const struct pgsink_conf *c = n->conf;
	struct pgsink_shared *s = n->shared;
	if (s->ctl && PQstatus(s->ctl) == CONNECTION_OK)
		return s->ctl;
	if (s->ctl)
		PQfinish(s->ctl);
	s->ctl = start_connect(c, s);
	if (s->ctl) {
		PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
		int64_t deadline = sl_now_ns() + 10000000000ll;
		while (ps != PGRES_POLLING_OK && ps != PGRES_POLLING_FAILED && sl_now_ns() < deadline) {
			struct pollfd p = {PQsocket(s->ctl), ps == PGRES_POLLING_WRITING ? POLLOUT : POLLIN,
					   0};
			poll(&p, 1, 1000);
			ps = PQconnectPoll(s->ctl);
		}
	}
	if (!s->ctl || PQstatus(s->ctl) != CONNECTION_OK) {
		snprintf(err, cap, "sink '%s': cannot connect to PostgreSQL: %s", n->name,
			 s->ctl ? PQerrorMessage(s->ctl) : "out of memory");
		if (s->ctl)
			PQfinish(s->ctl);
		s->ctl = NULL;
		return NULL;
	}
	return s->ctl;
}

static int ctl_exec(PGconn *conn, const char *sql, char *err, size_t cap, char *sqlstate,
		    PGresult **keep)
{
	PGresult *r = PQexec(conn, sql);
	ExecStatusType es = PQresultStatus(r);
	int rc = 0;
	if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
		const char *m = PQresultErrorMessage(r);
		snprintf(err, cap, "%.*s", (int)strcspn(m, "\n"), m);
		const char *ss = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		if (sqlstate)
			snprintf(sqlstate, 6, "%s", ss ? ss : "");
		rc = -EIO;
	}
	if (keep && rc == 0)
		*keep = r;
	else
		PQclear(r);
	return rc;
}

static int pgsink_commit(const struct sl_node *n, const struct sl_blob *blob, int phase, char *err,
			 size_t cap)
{
	const struct pgsink_conf *c = n->conf;
	struct pgsink_shared *s = n->shared;
	if (c->delivery != DELIVERY_EXACTLY_ONCE || phase != SL_COMMIT_PUBLISH || blob->len == 0)
		return 0; /* SYNC: a prepared transaction is durable already */
	struct sl_snapread r;
	sl_snapread_init(&r, blob->p, blob->len);
	uint32_t worker = sl_snapread_u32(&r);
	if (!sl_snapread_u8(&r))
		return 0;
	char gid[PG_GID_MAX + 1];
	sl_snapread_str(&r, gid, sizeof(gid));
	uint64_t id = sl_snapread_u64(&r);
	if (r.bad) {
		snprintf(err, cap, "sink '%s': damaged transaction record", n->name);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	int rc = -EIO;
	/* A server restarting: try again for a while (backoff up to 2 s). */
	for (int attempt = 0, wait_ms = 100; attempt < 25; attempt++) {
		PGconn *conn = ctl_conn(n, err, cap);
		if (!conn || PQstatus(conn) == CONNECTION_BAD) {
			struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
			nanosleep(&ts, NULL);
			wait_ms = wait_ms * 2 > 2000 ? 2000 : wait_ms * 2;
			continue;
		}
		char sql[PG_GID_MAX + 64], state[8], why[512];
		snprintf(sql, sizeof(sql), "COMMIT PREPARED '%s'", gid);
		rc = ctl_exec(conn, sql, why, sizeof(why), state, NULL);
		if (rc < 0 && strcmp(state, "42704") == 0) {
			/* Not prepared (any more): committed before, if the state
			 * table says this checkpoint (or a later one) is in. */
			PGresult *res = NULL;
			snprintf(sql, sizeof(sql),
				 "SELECT checkpoint_id FROM sluice_sink_state WHERE job = '%s' AND "
				 "sink = '%s' AND worker = %u",
				 s->job, n->name, worker);
			if (ctl_exec(conn, sql, why, sizeof(why), NULL, &res) == 0) {
				if (PQntuples(res) == 1 &&
				    strtoull(PQgetvalue(res, 0, 0), NULL, 10) >= id)
					rc = 0;
				PQclear(res);
			}
			if (rc < 0)
				snprintf(why, sizeof(why),
					 "prepared transaction %s is gone and sluice_sink_state does not "
					 "show checkpoint %" PRIu64 ": its rows are lost",
					 gid, id);
		}
		if (rc < 0)
			snprintf(err, cap, "sink '%s': COMMIT PREPARED: %s", n->name, why);
		if (rc == 0 || PQstatus(conn) != CONNECTION_BAD)
			break;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Control thread, before the workers open (each makes its own stage
 * again): drops every UNLOGGED staging table of this sink, so a run with
 * fewer workers than an earlier one leaves none behind. Names as in
 * stage_name: sluice_stage_<job>_<sink>_<n> or sluice_stage_<hash>_<n>. */
static int drop_stages(const struct sl_node *n, PGconn *conn, uint32_t *dropped, char *err,
		       size_t cap)
{
	const struct pgsink_shared *s = n->shared;
	char p1[256], p2[64], js[2 * SL_NAME_MAX + 2];
	snprintf(p1, sizeof(p1), "sluice_stage_%s_%s_", s->job, n->name);
	int jl = snprintf(js, sizeof(js), "%s:%s", s->job, n->name);
	snprintf(p2, sizeof(p2), "sluice_stage_%016" PRIx64 "_",
		 sl_key_hash(js, jl < 0 ? 0 : (size_t)jl));
	char *l1 = PQescapeLiteral(conn, p1, strlen(p1));
	char *l2 = PQescapeLiteral(conn, p2, strlen(p2));
	char *ls = s->schema[0] ? PQescapeLiteral(conn, s->schema, strlen(s->schema)) : NULL;
	int rc = -ENOMEM;
	PGresult *res = NULL;
	if (!l1 || !l2 || (s->schema[0] && !ls)) {
		snprintf(err, cap, "%s", PQerrorMessage(conn));
		goto out_free;
	}
	char sql[2048];
	snprintf(sql, sizeof(sql),
		 "SELECT format('%%I.%%I', ns.nspname, c.relname) FROM pg_class c JOIN pg_namespace "
		 "ns ON ns.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence = 'u' "
		 "AND ns.nspname = %s AND ((left(c.relname, %zu) = %s AND substr(c.relname, %zu) ~ "
		 "'^[0-9]+$') OR (left(c.relname, %zu) = %s AND substr(c.relname, %zu) ~ "
		 "'^[0-9]+$'))",
		 ls ? ls : "current_schema()", strlen(p1), l1, strlen(p1) + 1, strlen(p2), l2,
		 strlen(p2) + 1);
	rc = ctl_exec(conn, sql, err, cap, NULL, &res);
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		char q[4 * SL_NAME_MAX + 32];
		snprintf(q, sizeof(q), "DROP TABLE IF EXISTS %s", PQgetvalue(res, i, 0));
		rc = ctl_exec(conn, q, err, cap, NULL, NULL);
		*dropped += rc == 0;
	}
	if (res)
		PQclear(res);
out_free:
	PQfreemem(l1);
	PQfreemem(l2);
	PQfreemem(ls);
	return rc;
}

/* Before start: the state table exists; prepared transactions of this sink
 * that no restored checkpoint committed are rolled back; stages of earlier
 * runs are dropped (drop_stages). */
static int pgsink_recover(const struct sl_node *n, const struct sl_blob *keep, uint32_t n_keep)
{
	(void)keep;
	(void)n_keep;
	const struct pgsink_conf *c = n->conf;
	struct pgsink_shared *s = n->shared;
	if (c->delivery != DELIVERY_EXACTLY_ONCE)
		return 0;
	char err[1024];
	pthread_mutex_lock(&s->lock);
	PGconn *conn = ctl_conn(n, err, sizeof(err));
	int rc = conn ? 0 : -ECONNREFUSED;
	if (conn)
		rc = ctl_exec(conn, STATE_TABLE_DDL, err, sizeof(err), NULL, NULL);
	PGresult *res = NULL;
	char sql[512];
	if (rc == 0) {
		/* Backends of a killed run may still wait inside a statement,
		 * holding row locks: end them (one job per state directory, so
		 * every other connection under our name is stale). */
		snprintf(sql, sizeof(sql),
			 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
			 "application_name = '%s' AND pid <> pg_backend_pid()",
			 s->app_name);
		rc = ctl_exec(conn, sql, err, sizeof(err), NULL, NULL);
	}
	if (rc == 0) {
		snprintf(sql, sizeof(sql),
			 "SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'sluice:%s:%s:%%' AND "
			 "database = current_database()",
			 s->job, n->name);
		rc = ctl_exec(conn, sql, err, sizeof(err), NULL, &res);
	}
	uint32_t rolled = 0;
	for (int i = 0; rc == 0 && res && i < PQntuples(res); i++) {
		char q[PG_GID_MAX + 64];
		snprintf(q, sizeof(q), "ROLLBACK PREPARED '%s'", PQgetvalue(res, i, 0));
		rc = ctl_exec(conn, q, err, sizeof(err), NULL, NULL);
		rolled++;
	}
	if (res)
		PQclear(res);
	uint32_t dropped = 0;
	if (rc == 0 && c->method == METHOD_COPY && c->mode == MODE_UPSERT)
		rc = drop_stages(n, conn, &dropped, err, sizeof(err));
	pthread_mutex_unlock(&s->lock);
	if (rc < 0) {
		char q[1200];
		sl_log(SL_LOG_ERROR, -1, n->name, "msg=\"cannot recover the sink\" reason=%s",
		       sl_log_quote(err, strlen(err), q, sizeof(q)));
		return rc;
	}
	if (rolled)
		sl_log(SL_LOG_INFO, -1, n->name,
		       "msg=\"rolled back prepared transactions no checkpoint covers\" count=%u",
		       rolled);
	if (dropped)
		sl_log(SL_LOG_INFO, -1, n->name,
		       "msg=\"dropped the staging tables of an earlier run\" count=%u", dropped);
	return 0;
}

static const char *pgsink_describe(const struct sl_node *n, char *buf, size_t cap)
{
	const struct pgsink_conf *c = n->conf;
	snprintf(buf, cap, "PostgreSQL table %s (%s, %s, %s)", c->table, modes[c->mode],
		 deliveries[c->delivery], methods[c->method]);
	return buf;
}

const struct sl_plugin sl_plugin_postgres_sink = {
	.name = "postgres",
	.kind = SL_NODE_SINK,
	.summary = "PostgreSQL table: changelog upserts/deletes in batches, exactly-once with "
		   "prepared transactions",
	.options = pgsink_options,
	.conf_bytes = sizeof(struct pgsink_conf),
	.prepare = pgsink_prepare,
	.release = pgsink_release,
	.open = pgsink_open,
	.close = pgsink_close,
	.process = pgsink_process,
	.tick = pgsink_tick,
	.finish = pgsink_finish,
	.describe = pgsink_describe,
	.snapshot = pgsink_snapshot,
	.commit = pgsink_commit,
	.committed = pgsink_committed,
	.recover = pgsink_recover,
};
