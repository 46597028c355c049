/* Source `postgres-cdc`: logical replication (pgoutput) with a consistent initial snapshot,
 * positions in checkpoints, the slot confirmed only after a checkpoint is durable. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <mimalloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connectors/postgres/pgconn.h"
#include "connectors/postgres/pgoutput.h"
#include "core/engine.h"
#include "core/job.h"
#include "core/log.h"
#include "core/worker.h"
#include "state/snap.h"

/*
 * One replication connection per source, on one worker (the split owner);
 * the other workers end the source at once and get its rows through a
 * key_by. The owner:
 *
 *   setup   publication created for `tables` if missing; the slot checked
 *           (a leftover of a run that never completed a checkpoint is
 *           dropped: its snapshot is gone);
 *   copy    snapshot: initial on a fresh start — in one REPEATABLE READ
 *           transaction, CREATE_REPLICATION_SLOT … USE_SNAPSHOT makes the
 *           slot and gives the transaction the snapshot its consistent point
 *           starts after, then COPY … TO STDOUT reads every table in it (rows
 *           as +I). Checkpoints are declined meanwhile: a snapshot cannot be
 *           resumed, only taken again;
 *   stream  START_REPLICATION from the consistent point (or the restored
 *           position) with proto_version 1.
 *
 * Position: the end LSN of the last transaction emitted whole, plus, when a
 * barrier falls inside a transaction, that transaction's commit LSN and how
 * many of its changes were emitted. A restore (or a reconnect) starts the
 * stream at that LSN and skips what was emitted: every transaction is
 * resent whole, in commit order. The slot is told the position (flush LSN)
 * only after the checkpoint holding it is complete, so the server keeps
 * every change a restore can need.
 */

#define CDC_MAX_TABLES 64u
#define CDC_MAX_RELS 128u
#define CDC_STATUS_BYTES SL_PGO_STATUS_BYTES
#define CDC_PENDING 64u /* checkpoints taken, not yet committed */
#define CDC_QUEUE 1024u /* messages read ahead while another node waits */

enum { SNAP_INITIAL, SNAP_NEVER };
static const char *const snapshot_modes[] = {"initial", "never", NULL};
static const char *const metadata_names[] = {"table", "lsn", "commit_time", NULL};
enum { META_TABLE = 1, META_LSN = 2, META_COMMIT_TIME = 4 };

struct cdc_conf {
	const char *dsn;
	const char *password_env;
	const char *password_file;
	const char *slot;
	const char *publication;
	struct sl_strlist tables;
	int snapshot;
	bool create_slot;
	bool create_publication;
	struct sl_strlist metadata;
	const char *stop_on_message;
	int64_t status_interval_ms;
	int64_t retry_max_ms;
};

static const struct sl_option cdc_options[] = {
	{.name = "dsn", .type = SL_OPT_STRING, .required = true,
	 .offset = offsetof(struct cdc_conf, dsn),
	 .help = "libpq connection string of the database (host=… port=… dbname=… user=…); the "
		 "role needs the REPLICATION attribute; never logged"},
	{.name = "password_env", .type = SL_OPT_STRING,
	 .offset = offsetof(struct cdc_conf, password_env),
	 .help = "environment variable holding the password"},
	{.name = "password_file", .type = SL_OPT_STRING,
	 .offset = offsetof(struct cdc_conf, password_file),
	 .help = "file holding the password (first line)"},
	{.name = "tables", .type = SL_OPT_STRING_LIST, .required = true,
	 .offset = offsetof(struct cdc_conf, tables),
	 .help = "tables to capture (schema.table; public when unqualified); their columns make "
		 "the source's schema (several tables: the union by column name, plus _table)"},
	{.name = "slot", .type = SL_OPT_STRING, .offset = offsetof(struct cdc_conf, slot),
	 .help = "logical replication slot (default sluice_<job>_<source>); created if missing, "
		 "reused otherwise"},
	{.name = "publication", .type = SL_OPT_STRING,
	 .offset = offsetof(struct cdc_conf, publication),
	 .help = "publication (default sluice_<job>_<source>); created FOR TABLE `tables` if "
		 "missing, reused otherwise (it must publish every table)"},
	{.name = "snapshot", .type = SL_OPT_ENUM, .def = "initial", .choices = snapshot_modes,
	 .offset = offsetof(struct cdc_conf, snapshot),
	 .help = "initial: a fresh start reads every table (as +I rows) in the snapshot the slot "
		 "starts after, then streams; never: streams from the slot's position only"},
	{.name = "create_slot", .type = SL_OPT_BOOL, .def = "true",
	 .offset = offsetof(struct cdc_conf, create_slot),
	 .help = "create the slot if it does not exist (false: a missing slot is an error)"},
	{.name = "create_publication", .type = SL_OPT_BOOL, .def = "true",
	 .offset = offsetof(struct cdc_conf, create_publication),
	 .help = "create the publication if it does not exist"},
	{.name = "metadata", .type = SL_OPT_STRING_LIST,
	 .offset = offsetof(struct cdc_conf, metadata),
	 .help = "extra columns: table (_table, schema.table), lsn (_lsn BIGINT: the commit's "
		 "LSN; snapshot rows: the slot's consistent point), commit_time (_commit_time)"},
	{.name = "stop_on_message", .type = SL_OPT_STRING,
	 .offset = offsetof(struct cdc_conf, stop_on_message),
	 .help = "end the source after a transaction that emitted a logical decoding message "
		 "with this prefix (pg_logical_emit_message(true, prefix, '')): a clean, "
		 "checkpointed end of an otherwise endless stream"},
	{.name = "status_interval", .type = SL_OPT_DURATION_MS, .def = "10s", .min = 100,
	 .max = 3600000, .offset = offsetof(struct cdc_conf, status_interval_ms),
	 .help = "how often the server hears the positions (keep below wal_sender_timeout)"},
	{.name = "retry_max", .type = SL_OPT_DURATION_MS, .def = "5s", .min = 1, .max = 600000,
	 .offset = offsetof(struct cdc_conf, retry_max_ms),
	 .help = "longest wait between reconnection attempts (backoff from 100ms)"},
	{0},
};

struct cdc_table {
	char nsp[SL_PGO_NAME_MAX];
	char rel[SL_PGO_NAME_MAX];
	char qname[2 * 2 * SL_PGO_NAME_MAX + 8]; /* "nsp"."rel" */
	char shown[2 * SL_PGO_NAME_MAX + 2];     /* nsp.rel */
	bool full;                               /* REPLICA IDENTITY FULL */
	uint32_t n_cols;
	char cols[SL_MAX_COLS][SL_PGO_NAME_MAX];
	uint32_t type_oid[SL_MAX_COLS];
	int32_t typmod[SL_MAX_COLS];
	int16_t map[SL_MAX_COLS]; /* column -> output column */
	uint32_t n_pk;
	uint16_t pk[SL_MAX_KEYS]; /* table columns */
	char *copy_sql;
};

struct cdc_shared {
	uint32_t n_tables;
	struct cdc_table *t; /* [n_tables] */
	char slot[SL_PGO_NAME_MAX];
	char publication[SL_PGO_NAME_MAX];
	char app_name[64];
	char *password;
	int col_table, col_lsn, col_commit_time; /* output columns, -1: none */
};

/* A relation as the stream describes it, mapped to a table of the job. */
struct cdc_rel {
	uint32_t oid;
	int table; /* -1: not one of ours */
	struct sl_pgo_relation r;
	int16_t map[SL_MAX_COLS];
	uint16_t pk[SL_MAX_KEYS]; /* relation columns of the table's primary key */
	uint32_t n_pk;
};

enum { PHASE_SETUP, PHASE_COPY, PHASE_STREAM, PHASE_DONE };

struct cdc_state {
	bool owner;
	int phase;
	PGconn *conn;
	struct sl_pg_poll poll;
	struct sl_ratelimit rl;
	/* copy */
	uint32_t copy_table;
	uint64_t copy_rows;
	uint64_t consistent_lsn;
	/* stream */
	uint64_t done_lsn;     /* end of the last transaction emitted whole */
	uint64_t txn_lsn;      /* commit LSN of the open transaction (0: none) */
	uint64_t txn_changes;  /* its changes emitted */
	int64_t txn_time_ms;
	uint64_t skip_lsn;     /* resent transaction: skip its first skip_changes */
	uint64_t skip_changes;
	bool stop_at_commit;
	bool eof;
	bool hold; /* checkpoints are held until the stream starts */
	bool in_call; /* inside its own libpq calls: service leaves the connection alone */
	uint64_t wal_end;    /* the server's end of WAL, as it last said */
	int64_t emitted_ms;  /* commit time of the last transaction emitted */
	/* CopyData buffers read but not decoded yet, oldest first: one whose
	 * rows did not fit the batch, and what service read past to reach the
	 * server's keepalives. */
	struct {
		char *buf;
		int len;
	} q[CDC_QUEUE];
	uint32_t q_head, q_n;
	uint64_t ka_end; /* the position in the server's last keepalive */
	/* feedback */
	uint64_t pend_id[CDC_PENDING], pend_lsn[CDC_PENDING];
	uint32_t n_pend;
	uint64_t confirmed_lsn;
	uint64_t sent_confirmed;
	int64_t last_status_ns;
	bool ckpt_on;
	/* decoding */
	struct sl_pgo_msg *msg;
	struct cdc_rel *rels; /* [CDC_MAX_RELS] */
	uint32_t n_rels;
	char *scratch;
	size_t scratch_cap;
	struct sl_pg_copy_field *fields;
	uint64_t changes;
};

/* ---- helpers ---- */

/* Blocking connection for the control thread (prepare). */
/* Connection keywords: the dsn, our application_name (stale walsenders
 * are found by it), settings that make values' text unambiguous, the
 * password. keys and vals hold 6. */
static void conn_params(const struct cdc_conf *c, const struct cdc_shared *s, bool replication,
			const char **keys, const char **vals)
{
	int k = 0;
	keys[k] = "dbname";
	vals[k++] = c->dsn;
	keys[k] = "application_name";
	vals[k++] = s->app_name;
	keys[k] = "options";
	vals[k++] = "-c TimeZone=UTC -c DateStyle=ISO -c extra_float_digits=3 "
		    "-c bytea_output=hex -c IntervalStyle=postgres";
	if (replication) {
		keys[k] = "replication";
		vals[k++] = "database";
	}
	if (s->password) {
		keys[k] = "password";
		vals[k++] = s->password;
	}
	keys[k] = vals[k] = NULL;
}

static PGconn *connect_blocking(const struct cdc_conf *c, const struct cdc_shared *s,
				bool replication)
{
	const char *keys[6], *vals[6];
	conn_params(c, s, replication, keys, vals);
	PGconn *conn = PQconnectdbParams(keys, vals, 1);
	if (conn)
		PQsetNoticeProcessor(conn, sl_pg_notice_log, NULL);
	return conn;
}

static void first_line(char *out, size_t cap, const char *m)
{
	snprintf(out, cap, "%.*s", (int)strcspn(m, "\n"), m);
}

/* One-row, one-column query on the control thread; NULL value: no row. */
static int query1(PGconn *conn, const char *sql, int np, const char *const *params, char *val,
		  size_t cap, bool *found, char *err, size_t ecap)
{
	PGresult *r = PQexecParams(conn, sql, np, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		first_line(err, ecap, PQresultErrorMessage(r));
		PQclear(r);
		return -EIO;
	}
	*found = PQntuples(r) > 0;
	if (val && cap)
		snprintf(val, cap, "%s", *found ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return 0;
}

/* ---- prepare: checks and the schema (control thread; nothing is created) ---- */

static int load_table(PGconn *conn, const struct sl_node *n, struct sl_pos pos, const char *name,
		      struct cdc_table *t, struct sl_diag *d)
{
	const char *params[1] = {name};
	PGresult *r = PQexecParams(conn,
				   "SELECT c.oid, n.nspname, c.relname, c.relreplident, c.relkind "
				   "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
				   "WHERE c.oid = to_regclass($1)",
				   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char m[512];
		first_line(m, sizeof(m), PQresultErrorMessage(r));
		PQclear(r);
		return sl_diag_error(d, pos, "source '%s': table %s: %s", n->name, name, m);
	}
	if (PQntuples(r) == 0) {
		PQclear(r);
		return sl_diag_error(d, pos, "source '%s': no table %s in the database", n->name,
				     name);
	}
	char oid[16];
	snprintf(oid, sizeof(oid), "%s", PQgetvalue(r, 0, 0));
	snprintf(t->nsp, sizeof(t->nsp), "%s", PQgetvalue(r, 0, 1));
	snprintf(t->rel, sizeof(t->rel), "%s", PQgetvalue(r, 0, 2));
	char replident = PQgetvalue(r, 0, 3)[0];
	char relkind = PQgetvalue(r, 0, 4)[0];
	PQclear(r);
	if (relkind != 'r' && relkind != 'p')
		return sl_diag_error(d, pos, "source '%s': %s is not a table", n->name, name);
	t->full = replident == 'f';
	char qn[SL_PGO_NAME_MAX * 2 + 4], qr[SL_PGO_NAME_MAX * 2 + 4];
	sl_pg_quote_ident(qn, sizeof(qn), t->nsp);
	sl_pg_quote_ident(qr, sizeof(qr), t->rel);
	snprintf(t->qname, sizeof(t->qname), "%s.%s", qn, qr);
	snprintf(t->shown, sizeof(t->shown), "%s.%s", t->nsp, t->rel);
	if (replident == 'n')
		sl_log(SL_LOG_WARN, -1, n->name,
		       "msg=\"table has REPLICA IDENTITY NOTHING: its updates and deletes cannot be "
		       "captured (PostgreSQL refuses them while it is published)\" table=%s",
		       t->shown);
	const char *p2[1] = {oid};
	r = PQexecParams(conn,
			 "SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull, "
			 "  coalesce(a.attnum = ANY(i.indkey), false) "
			 "FROM pg_attribute a LEFT JOIN pg_index i "
			 "  ON i.indrelid = a.attrelid AND i.indisprimary "
			 "WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped "
			 "  AND a.attgenerated = '' ORDER BY a.attnum",
			 1, NULL, p2, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		char m[512];
		first_line(m, sizeof(m), PQresultErrorMessage(r));
		PQclear(r);
		return sl_diag_error(d, pos, "source '%s': columns of %s: %s", n->name, name, m);
	}
	int rows = PQntuples(r);
	if (rows > (int)SL_MAX_COLS) {
		PQclear(r);
		return sl_diag_error(d, pos, "source '%s': %s has %d columns (at most %u)", n->name,
				     name, rows, SL_MAX_COLS);
	}
	t->n_cols = (uint32_t)rows;
	for (int i = 0; i < rows; i++) {
		snprintf(t->cols[i], sizeof(t->cols[i]), "%s", PQgetvalue(r, i, 0));
		t->type_oid[i] = (uint32_t)strtoul(PQgetvalue(r, i, 1), NULL, 10);
		t->typmod[i] = (int32_t)strtol(PQgetvalue(r, i, 2), NULL, 10);
		if (PQgetvalue(r, i, 4)[0] == 't' && t->n_pk < SL_MAX_KEYS)
			t->pk[t->n_pk++] = (uint16_t)i;
	}
	PQclear(r);
	if (t->n_pk == 0 && !t->full)
		sl_log(SL_LOG_WARN, -1, n->name,
		       "msg=\"table has no primary key and REPLICA IDENTITY is not FULL: deletes "
		       "carry no key\" table=%s",
		       t->shown);
	return 0;
}

static int cdc_prepare(struct sl_job *job, struct sl_node *n, struct sl_diag *d)
{
	const struct cdc_conf *c = n->conf;
	struct cdc_shared *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	n->shared = s;
	s->col_table = s->col_lsn = s->col_commit_time = -1;
	snprintf(s->app_name, sizeof(s->app_name), "sluice:%.28s:%.24s", job->name, n->name);
	char def[SL_PGO_NAME_MAX];
	snprintf(def, sizeof(def), "sluice_%.28s_%.24s", job->name, n->name);
	for (char *p = def; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			*p = (*p >= 'A' && *p <= 'Z') ? (char)(*p - 'A' + 'a') : '_';
	snprintf(s->slot, sizeof(s->slot), "%s", c->slot ? c->slot : def);
	snprintf(s->publication, sizeof(s->publication), "%s", c->publication ? c->publication : def);
	for (const char *p = s->slot; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return sl_diag_error(d, sl_node_pos_of(n, "slot"),
					     "source '%s': slot names are lower-case letters, digits "
					     "and _ (got '%s')",
					     n->name, s->slot);
	if (c->slot && strlen(c->slot) >= SL_PGO_NAME_MAX)
		return sl_diag_error(d, sl_node_pos_of(n, "slot"), "source '%s': slot name too long",
				     n->name);
	if (c->tables.n == 0 || c->tables.n > CDC_MAX_TABLES)
		return sl_diag_error(d, sl_node_pos_of(n, "tables"),
				     "source '%s': tables: 1 to %u tables", n->name, CDC_MAX_TABLES);
	uint32_t meta = 0;
	for (uint32_t i = 0; i < c->metadata.n; i++) {
		int k = -1;
		for (int m = 0; metadata_names[m]; m++)
			if (strcmp(c->metadata.v[i], metadata_names[m]) == 0)
				k = m;
		if (k < 0)
			return sl_diag_error(d, sl_node_pos_of(n, "metadata"),
					     "source '%s': metadata: unknown '%s' (expected table, "
					     "lsn or commit_time)",
					     n->name, c->metadata.v[i]);
		meta |= 1u << k;
	}
	if (c->tables.n > 1)
		meta |= META_TABLE;
	int rc = sl_pg_read_password(n, c->password_env, c->password_file, &s->password, d);
	if (rc)
		return rc;
	s->t = calloc(c->tables.n, sizeof(*s->t));
	if (!s->t)
		return -ENOMEM;
	s->n_tables = c->tables.n;

	PGconn *conn = connect_blocking(c, s, false);
	if (PQstatus(conn) != CONNECTION_OK) {
		char m[512];
		first_line(m, sizeof(m), PQerrorMessage(conn));
		PQfinish(conn);
		return sl_diag_error(d, sl_node_pos_of(n, "dsn"),
				     "source '%s': cannot connect to PostgreSQL: %s", n->name, m);
	}
	char val[128], err[512];
	bool found;
	if (query1(conn, "SELECT current_setting('wal_level')", 0, NULL, val, sizeof(val), &found,
		   err, sizeof(err)) == 0 &&
	    strcmp(val, "logical") != 0) {
		PQfinish(conn);
		return sl_diag_error(d, sl_node_pos_of(n, "dsn"),
				     "source '%s': the server's wal_level is '%s': logical "
				     "replication needs wal_level = logical in postgresql.conf (and a "
				     "server restart)",
				     n->name, val);
	}
	if (query1(conn,
		   "SELECT rolname FROM pg_roles WHERE rolname = current_user AND NOT rolreplication "
		   "AND NOT rolsuper",
		   0, NULL, val, sizeof(val), &found, err, sizeof(err)) == 0 &&
	    found) {
		PQfinish(conn);
		return sl_diag_error(d, sl_node_pos_of(n, "dsn"),
				     "source '%s': role %s lacks the REPLICATION attribute (ALTER ROLE "
				     "%s REPLICATION)",
				     n->name, val, val);
	}
	struct sl_pos tpos = sl_node_pos_of(n, "tables");
	for (uint32_t i = 0; i < c->tables.n && rc == 0; i++)
		rc = load_table(conn, n, tpos, c->tables.v[i], &s->t[i], d);
	for (uint32_t i = 0; i < s->n_tables && rc == 0; i++)
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(s->t[i].shown, s->t[j].shown) == 0)
				rc = sl_diag_error(d, tpos, "source '%s': table %s listed twice",
						   n->name, s->t[i].shown);
	/* The publication, if it exists, must publish every table. */
	const char *pp[1] = {s->publication};
	if (rc == 0 &&
	    query1(conn, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, pp, NULL, 0, &found,
		   err, sizeof(err)) == 0) {
		if (!found && !c->create_publication)
			rc = sl_diag_error(d, sl_node_pos_of(n, "publication"),
					   "source '%s': publication %s does not exist and "
					   "create_publication is false",
					   n->name, s->publication);
		for (uint32_t i = 0; found && rc == 0 && i < s->n_tables; i++) {
			const char *p3[3] = {s->publication, s->t[i].nsp, s->t[i].rel};
			bool has;
			if (query1(conn,
				   "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND "
				   "schemaname = $2 AND tablename = $3",
				   3, p3, NULL, 0, &has, err, sizeof(err)) == 0 &&
			    !has)
				rc = sl_diag_error(d, sl_node_pos_of(n, "publication"),
						   "source '%s': publication %s does not publish %s "
						   "(ALTER PUBLICATION %s ADD TABLE %s)",
						   n->name, s->publication, s->t[i].shown,
						   s->publication, s->t[i].qname);
		}
	}
	/* The slot, if it exists, must be a pgoutput slot of this database. */
	const char *ps[1] = {s->slot};
	PGresult *r = rc ? NULL
			 : PQexecParams(conn,
					"SELECT plugin, database = current_database() FROM "
					"pg_replication_slots WHERE slot_name = $1",
					1, NULL, ps, NULL, NULL, 0);
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK) {
		if (PQntuples(r) == 0 && !c->create_slot)
			rc = sl_diag_error(d, sl_node_pos_of(n, "slot"),
					   "source '%s': replication slot %s does not exist and "
					   "create_slot is false",
					   n->name, s->slot);
		else if (PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), "pgoutput") != 0)
			rc = sl_diag_error(d, sl_node_pos_of(n, "slot"),
					   "source '%s': replication slot %s uses plugin %s, not pgoutput",
					   n->name, s->slot, PQgetvalue(r, 0, 0));
		else if (PQntuples(r) && PQgetvalue(r, 0, 1)[0] != 't')
			rc = sl_diag_error(d, sl_node_pos_of(n, "slot"),
					   "source '%s': replication slot %s belongs to another database",
					   n->name, s->slot);
	}
	PQclear(r);
	PQfinish(conn);
	if (rc)
		return rc;

	/* The schema: the tables' columns by name, then the metadata. */
	struct sl_schema *sc = &n->schema;
	for (uint32_t i = 0; i < s->n_tables; i++) {
		struct cdc_table *t = &s->t[i];
		for (uint32_t k = 0; k < t->n_cols; k++) {
			struct sl_field f = {0};
			sl_pg_field_of(t->type_oid[k], t->typmod[k], &f);
			int at = sl_schema_find(sc, t->cols[k]);
			if (at >= 0) {
				const struct sl_field *g = &sc->fields[at];
				if (g->type != f.type || g->precision != f.precision ||
				    g->scale != f.scale)
					return sl_diag_error(
					    d, tpos,
					    "source '%s': column %s has type %s in %s but another "
					    "type in an earlier table",
					    n->name, t->cols[k], sl_pg_type_name(t->type_oid[k])
								     ? sl_pg_type_name(t->type_oid[k])
								     : "(other)",
					    t->shown);
				t->map[k] = (int16_t)at;
				continue;
			}
			if (sl_schema_add(sc, t->cols[k], f.type, false) < 0)
				return sl_diag_error(d, tpos,
						     "source '%s': column %s of %s: too many columns "
						     "or not a valid column name",
						     n->name, t->cols[k], t->shown);
			struct sl_field *nf = &sc->fields[sc->n_fields - 1];
			nf->precision = f.precision;
			nf->scale = f.scale;
			t->map[k] = (int16_t)(sc->n_fields - 1);
		}
		/* COPY in table order, every column. */
		size_t cap = 64 + strlen(t->qname) + t->n_cols * (2 * SL_PGO_NAME_MAX + 4);
		t->copy_sql = malloc(cap);
		if (!t->copy_sql)
			return -ENOMEM;
		size_t len = (size_t)snprintf(t->copy_sql, cap, "COPY %s (", t->qname);
		for (uint32_t k = 0; k < t->n_cols; k++) {
			char q[2 * SL_PGO_NAME_MAX + 4];
			sl_pg_quote_ident(q, sizeof(q), t->cols[k]);
			len += (size_t)snprintf(t->copy_sql + len, cap - len, "%s%s", k ? ", " : "", q);
		}
		snprintf(t->copy_sql + len, cap - len, ") TO STDOUT");
	}
	struct {
		uint32_t bit;
		const char *name;
		enum sl_type type;
		int *col;
	} metas[] = {{META_TABLE, "_table", SL_T_STRING, &s->col_table},
		     {META_LSN, "_lsn", SL_T_BIGINT, &s->col_lsn},
		     {META_COMMIT_TIME, "_commit_time", SL_T_TIMESTAMP_LTZ, &s->col_commit_time}};
	for (size_t i = 0; i < sizeof(metas) / sizeof(metas[0]); i++) {
		if (!(meta & metas[i].bit))
			continue;
		if (sl_schema_find(sc, metas[i].name) >= 0 ||
		    sl_schema_add(sc, metas[i].name, metas[i].type, false) < 0)
			return sl_diag_error(d, sl_node_pos_of(n, "metadata"),
					     "source '%s': cannot add column %s (a table has one of "
					     "that name, or too many columns)",
					     n->name, metas[i].name);
		*metas[i].col = (int)sc->n_fields - 1;
	}
	n->changelog = true;
	return 0;
}

static void cdc_release(struct sl_node *n)
{
	struct cdc_shared *s = n->shared;
	if (!s)
		return;
	for (uint32_t i = 0; s->t && i < s->n_tables; i++)
		free(s->t[i].copy_sql);
	free(s->t);
	sl_pg_free_password(s->password);
	free(s);
	n->shared = NULL;
}

/* ---- the worker's connection ---- */

/* Drops the connection; a read poll still armed on its socket lands first. */
static void drop_conn(struct sl_worker *w, struct cdc_state *st)
{
	sl_pg_poll_cancel(w, &st->poll);
	while (st->q_n) {
		PQfreemem(st->q[st->q_head].buf);
		st->q_head = (st->q_head + 1) % CDC_QUEUE;
		st->q_n--;
	}
	if (st->conn)
		PQfinish(st->conn);
	st->conn = NULL;
}

static bool exiting(struct sl_worker *w)
{
	return atomic_load(&w->eng->exit_now) || atomic_load(&w->eng->failed);
}

/* Connects the replication connection with backoff; false once the job is
 * exiting. */
static bool connect_repl(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st)
{
	const struct cdc_conf *c = ni->node->conf;
	const struct cdc_shared *s = ni->node->shared;
	int64_t backoff = 100;
	for (int attempt = 0;; attempt++) {
		drop_conn(w, st);
		const char *keys[6], *vals[6];
		conn_params(c, s, true, keys, vals);
		st->conn = PQconnectStartParams(keys, vals, 1);
		if (st->conn)
			PQsetNoticeProcessor(st->conn, sl_pg_notice_log, NULL);
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
					       "msg=\"reconnected to PostgreSQL\" attempts=%d",
					       attempt + 1);
				return true;
			}
		}
		const char *why = st->conn ? PQerrorMessage(st->conn) : "out of memory";
		char q[600];
		uint64_t sup;
		if (sl_ratelimit_ok(&st->rl, &sup))
			sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
			       "msg=\"cannot connect to PostgreSQL: retrying\" reason=%s "
			       "retry_ms=%" PRId64,
			       sl_log_quote(why, strcspn(why, "\n"), q, sizeof(q)), backoff);
		sl_worker_pause(w, backoff);
		if (exiting(w))
			return false;
		backoff = backoff * 2 > c->retry_max_ms ? c->retry_max_ms : backoff * 2;
	}
}

/* Runs one command and waits for its results: the last result is returned
 * (the caller clears it) when it has status want; else NULL with the
 * server's message in err. *broken: the connection died. */
static PGresult *exec_wait(struct sl_worker *w, struct cdc_state *st, const char *sql,
			   ExecStatusType want, char *err, size_t cap, bool *broken)
{
	*broken = false;
	err[0] = '\0';
	if (!PQsendQuery(st->conn, sql)) {
		first_line(err, cap, PQerrorMessage(st->conn));
		*broken = PQstatus(st->conn) == CONNECTION_BAD;
		return NULL;
	}
	int f;
	while ((f = PQflush(st->conn)) == 1)
		sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), true, 1000);
	PGresult *last = NULL;
	bool bad = f < 0;
	for (;;) {
		while (!bad && PQisBusy(st->conn)) {
			sl_pg_poll_wait(w, &st->poll, PQsocket(st->conn), false, 1000);
			if (!PQconsumeInput(st->conn))
				bad = true;
		}
		if (bad) {
			first_line(err, cap, PQerrorMessage(st->conn));
			*broken = true;
			PQclear(last);
			return NULL;
		}
		PGresult *r = PQgetResult(st->conn);
		if (!r)
			break;
		ExecStatusType es = PQresultStatus(r);
		if (es == PGRES_COPY_OUT || es == PGRES_COPY_BOTH) {
			/* The caller reads the copy data. */
			PQclear(last);
			return es == want ? r : (PQclear(r), NULL);
		}
		if (es != want && !err[0])
			first_line(err, cap, PQresultErrorMessage(r));
		PQclear(last);
		last = r;
	}
	if (!last || PQresultStatus(last) != want) {
		if (!err[0])
			snprintf(err, cap, "unexpected result");
		*broken = PQstatus(st->conn) == CONNECTION_BAD;
		PQclear(last);
		return NULL;
	}
	return last;
}

/* ---- setup (the owner, in open) ---- */

/* Ends walsenders of earlier runs of this source still holding the slot
 * (a killed process's connection lingers until the server notices). */
static int free_slot(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		     char *err, size_t cap)
{
	const struct cdc_shared *s = ni->node->shared;
	char ql[2 * SL_PGO_NAME_MAX + 4], qa[160], sql[1024];
	sl_pg_quote_literal(ql, sizeof(ql), s->slot);
	sl_pg_quote_literal(qa, sizeof(qa), s->app_name);
	for (int i = 0; i < 100; i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT s.active_pid, coalesce(a.application_name, '') = %s FROM "
			 "pg_replication_slots s LEFT JOIN pg_stat_activity a ON a.pid = "
			 "s.active_pid WHERE s.slot_name = %s AND s.active",
			 qa, ql);
		bool broken;
		PGresult *r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
		if (!r)
			return -EIO;
		if (PQntuples(r) == 0) {
			PQclear(r);
			return 0;
		}
		bool ours = PQgetvalue(r, 0, 1)[0] == 't';
		char pid[32];
		snprintf(pid, sizeof(pid), "%s", PQgetvalue(r, 0, 0));
		PQclear(r);
		if (!ours) {
			snprintf(err, cap,
				 "replication slot %s is in use by another connection (pid %s)",
				 s->slot, pid);
			return -EBUSY;
		}
		if (i == 0)
			sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
			       "msg=\"ending an earlier run's connection that still holds the slot\" "
			       "slot=%s pid=%s",
			       s->slot, pid);
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%s)", pid);
		r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
		if (!r)
			return -EIO;
		PQclear(r);
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
	}
	snprintf(err, cap, "replication slot %s stays in use", s->slot);
	return -EBUSY;
}

static int ensure_publication(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
			      char *err, size_t cap)
{
	const struct cdc_conf *c = ni->node->conf;
	const struct cdc_shared *s = ni->node->shared;
	char ql[2 * SL_PGO_NAME_MAX + 4];
	sl_pg_quote_literal(ql, sizeof(ql), s->publication);
	char sql[512];
	snprintf(sql, sizeof(sql), "SELECT 1 FROM pg_publication WHERE pubname = %s", ql);
	bool broken;
	PGresult *r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
	if (!r)
		return -EIO;
	bool found = PQntuples(r) > 0;
	PQclear(r);
	if (found)
		return 0;
	if (!c->create_publication) {
		snprintf(err, cap, "publication %s does not exist and create_publication is false",
			 s->publication);
		return -ENOENT;
	}
	size_t scap = 64 + s->n_tables * (4 * SL_PGO_NAME_MAX + 16);
	char *ddl = malloc(scap);
	if (!ddl)
		return -ENOMEM;
	char qp[2 * SL_PGO_NAME_MAX + 4];
	sl_pg_quote_ident(qp, sizeof(qp), s->publication);
	size_t len = (size_t)snprintf(ddl, scap, "CREATE PUBLICATION %s FOR TABLE ", qp);
	for (uint32_t i = 0; i < s->n_tables; i++)
		len += (size_t)snprintf(ddl + len, scap - len, "%s%s", i ? ", " : "", s->t[i].qname);
	r = exec_wait(w, st, ddl, PGRES_COMMAND_OK, err, cap, &broken);
	free(ddl);
	if (!r)
		return -EIO;
	PQclear(r);
	sl_log(SL_LOG_INFO, (int)w->id, ni->node->name, "msg=\"publication created\" publication=%s",
	       s->publication);
	return 0;
}

/* The slot's confirmed position (0 when it does not exist: *exists false). */
static int slot_state(struct sl_worker *w, struct cdc_state *st, const char *slot, bool *exists,
		      uint64_t *confirmed, char *err, size_t cap)
{
	char ql[2 * SL_PGO_NAME_MAX + 4], sql[512];
	sl_pg_quote_literal(ql, sizeof(ql), slot);
	snprintf(sql, sizeof(sql),
		 "SELECT coalesce(confirmed_flush_lsn::text, '0/0') FROM pg_replication_slots "
		 "WHERE slot_name = %s",
		 ql);
	bool broken;
	PGresult *r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
	if (!r)
		return -EIO;
	*exists = PQntuples(r) > 0;
	*confirmed = 0;
	if (*exists)
		sl_pg_lsn_parse(PQgetvalue(r, 0, 0), strlen(PQgetvalue(r, 0, 0)), confirmed);
	PQclear(r);
	return 0;
}

static int start_copy(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		      char *err, size_t cap);

/* Publication, slot, and either the snapshot's first COPY or the stream. */
static int start_stream(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
			char *err, size_t cap);

static int setup(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st, bool restored,
		 char *err, size_t cap)
{
	const struct cdc_conf *c = ni->node->conf;
	const struct cdc_shared *s = ni->node->shared;
	int rc = ensure_publication(w, ni, st, err, cap);
	if (rc)
		return rc;
	bool exists;
	uint64_t confirmed;
	if ((rc = slot_state(w, st, s->slot, &exists, &confirmed, err, cap)))
		return rc;
	if (exists && (rc = free_slot(w, ni, st, err, cap)))
		return rc;
	char qs[2 * SL_PGO_NAME_MAX + 4], sql[512], lsn[24];
	sl_pg_quote_ident(qs, sizeof(qs), s->slot);
	bool broken;
	if (restored) {
		if (!exists) {
			sl_pg_lsn_format(st->done_lsn, lsn);
			snprintf(err, cap,
				 "replication slot %s is gone: the checkpoint's position %s cannot be "
				 "resumed (start without --restore for a new snapshot)",
				 s->slot, lsn);
			return -ENOENT;
		}
		if (confirmed > st->done_lsn) {
			char l2[24];
			sl_pg_lsn_format(st->done_lsn, lsn);
			sl_pg_lsn_format(confirmed, l2);
			snprintf(err, cap,
				 "replication slot %s was confirmed up to %s, past the restored "
				 "position %s: the changes between are gone from the slot (restore "
				 "the latest checkpoint)",
				 s->slot, l2, lsn);
			return -ESTALE;
		}
		st->phase = PHASE_STREAM;
		return start_stream(w, ni, st, err, cap);
	}
	if (c->snapshot == SNAP_NEVER) {
		if (!exists) {
			if (!c->create_slot) {
				snprintf(err, cap, "replication slot %s does not exist and create_slot is false",
					 s->slot);
				return -ENOENT;
			}
			snprintf(sql, sizeof(sql),
				 "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput NOEXPORT_SNAPSHOT", qs);
			PGresult *r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
			if (!r)
				return -EIO;
			sl_pg_lsn_parse(PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)), &confirmed);
			PQclear(r);
			sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
			       "msg=\"replication slot created\" slot=%s", s->slot);
		}
		st->done_lsn = confirmed;
		st->phase = PHASE_STREAM;
		return start_stream(w, ni, st, err, cap);
	}
	/* snapshot: initial on a fresh start: a slot from an earlier run that
	 * never completed a checkpoint has no snapshot any more. */
	if (exists) {
		if (!c->create_slot) {
			snprintf(err, cap,
				 "replication slot %s exists but a fresh start with snapshot: initial "
				 "needs a new one, and create_slot is false",
				 s->slot);
			return -EEXIST;
		}
		sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
		       "msg=\"dropping the replication slot of a run that completed no checkpoint: "
		       "a new snapshot needs a new slot\" slot=%s",
		       s->slot);
		snprintf(sql, sizeof(sql), "DROP_REPLICATION_SLOT %s WAIT", qs);
		PGresult *r = exec_wait(w, st, sql, PGRES_COMMAND_OK, err, cap, &broken);
		if (!r)
			return -EIO;
		PQclear(r);
	} else if (!c->create_slot) {
		snprintf(err, cap, "replication slot %s does not exist and create_slot is false",
			 s->slot);
		return -ENOENT;
	}
	PGresult *r = exec_wait(w, st, "BEGIN ISOLATION LEVEL REPEATABLE READ", PGRES_COMMAND_OK, err,
				cap, &broken);
	if (!r)
		return -EIO;
	PQclear(r);
	snprintf(sql, sizeof(sql), "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput USE_SNAPSHOT", qs);
	r = exec_wait(w, st, sql, PGRES_TUPLES_OK, err, cap, &broken);
	if (!r)
		return -EIO;
	sl_pg_lsn_parse(PQgetvalue(r, 0, 1), strlen(PQgetvalue(r, 0, 1)), &st->consistent_lsn);
	PQclear(r);
	sl_pg_lsn_format(st->consistent_lsn, lsn);
	sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
	       "msg=\"replication slot created; initial snapshot begins\" slot=%s "
	       "consistent_point=%s tables=%u",
	       s->slot, lsn, s->n_tables);
	st->done_lsn = st->consistent_lsn;
	st->phase = PHASE_COPY;
	st->copy_table = 0;
	return start_copy(w, ni, st, err, cap);
}

static int start_copy(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		      char *err, size_t cap)
{
	const struct cdc_shared *s = ni->node->shared;
	bool broken;
	while (st->copy_table < s->n_tables) {
		PGresult *r = exec_wait(w, st, s->t[st->copy_table].copy_sql, PGRES_COPY_OUT, err,
					cap, &broken);
		if (!r)
			return -EIO;
		PQclear(r);
		return 0;
	}
	/* Every table read: end the snapshot's transaction, stream. */
	PGresult *r = exec_wait(w, st, "COMMIT", PGRES_COMMAND_OK, err, cap, &broken);
	if (!r)
		return -EIO;
	PQclear(r);
	char lsn[24];
	sl_pg_lsn_format(st->consistent_lsn, lsn);
	sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
	       "msg=\"initial snapshot read; streaming\" rows=%" PRIu64 " from=%s", st->copy_rows,
	       lsn);
	st->phase = PHASE_STREAM;
	return start_stream(w, ni, st, err, cap);
}

static int start_stream(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
			char *err, size_t cap)
{
	const struct cdc_conf *c = ni->node->conf;
	const struct cdc_shared *s = ni->node->shared;
	char qs[2 * SL_PGO_NAME_MAX + 4], qp[2 * SL_PGO_NAME_MAX + 4], sql[1024], lsn[24];
	sl_pg_quote_ident(qs, sizeof(qs), s->slot);
	/* publication_names is a list of identifiers inside a literal. */
	char ident[2 * SL_PGO_NAME_MAX + 4];
	sl_pg_quote_ident(ident, sizeof(ident), s->publication);
	sl_pg_quote_literal(qp, sizeof(qp), ident);
	sl_pg_lsn_format(st->done_lsn, lsn);
	snprintf(sql, sizeof(sql),
		 "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s%s)",
		 qs, lsn, qp, c->stop_on_message ? ", messages 'true'" : "");
	bool broken;
	PGresult *r = exec_wait(w, st, sql, PGRES_COPY_BOTH, err, cap, &broken);
	if (!r)
		return -EIO;
	PQclear(r);
	st->n_rels = 0; /* the server describes every relation again */
	if (st->hold) {
		st->hold = false;
		sl_worker_ckpt_release(w, ni);
	}
	st->last_status_ns = sl_now_ns();
	sl_log(SL_LOG_INFO, (int)w->id, ni->node->name, "msg=\"streaming\" slot=%s from=%s",
	       s->slot, lsn);
	return 0;
}

/* ---- standby status ---- */

/*
 * Written: what was emitted. Flushed: with confirm, the position of the
 * last complete checkpoint (the slot may discard WAL before it); otherwise
 * none (InvalidXLogRecPtr), which confirms nothing. Most updates confirm
 * nothing on purpose: a server shutting down waits until the client's flush
 * position — or, when that is unset, its write position — reaches what it
 * sent, and a checkpointed flush position lags by design; an update with
 * only the write position lets it finish.
 */
static void send_status(struct sl_worker *w, struct cdc_state *st, bool confirm)
{
	if (!st->conn || st->phase != PHASE_STREAM)
		return;
	uint8_t buf[CDC_STATUS_BYTES];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	uint64_t flushed = confirm ? st->confirmed_lsn : 0;
	/* Written: what was read, as far as the server's keepalives say it
	 * sent (exactly that far: a server shutting down compares). Writing
	 * confirms nothing for a logical slot. */
	uint64_t written = st->done_lsn > st->ka_end ? st->done_lsn : st->ka_end;
	if (st->confirmed_lsn > written)
		written = st->confirmed_lsn;
	size_t n = sl_pgo_put_status(buf, written, flushed, flushed, sl_pg_time_from_unix_us(now_us),
				     false);
	if (PQputCopyData(st->conn, (const char *)buf, (int)n) == 1)
		PQflush(st->conn);
	if (confirm)
		st->sent_confirmed = flushed;
	st->last_status_ns = w->now_ns ? w->now_ns : sl_now_ns();
}

/* ---- decoding into rows ---- */

static struct cdc_rel *rel_find(struct cdc_state *st, uint32_t oid)
{
	for (uint32_t i = 0; i < st->n_rels; i++)
		if (st->rels[i].oid == oid)
			return &st->rels[i];
	return NULL;
}

static int rel_learn(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		     const struct sl_pgo_relation *r)
{
	const struct cdc_shared *s = ni->node->shared;
	struct cdc_rel *cr = rel_find(st, r->oid);
	if (!cr) {
		if (st->n_rels == CDC_MAX_RELS)
			st->n_rels = 0; /* forget them all: the server resends on use */
		cr = &st->rels[st->n_rels++];
	}
	cr->oid = r->oid;
	cr->r = *r;
	cr->table = -1;
	cr->n_pk = 0;
	const char *nsp = r->nspname[0] ? r->nspname : "pg_catalog";
	for (uint32_t i = 0; i < s->n_tables; i++)
		if (strcmp(s->t[i].nsp, nsp) == 0 && strcmp(s->t[i].rel, r->relname) == 0)
			cr->table = (int)i;
	if (cr->table < 0)
		return 0;
	const struct cdc_table *t = &s->t[cr->table];
	for (uint32_t k = 0; k < r->n_cols; k++) {
		cr->map[k] = -1;
		for (uint32_t j = 0; j < t->n_cols; j++)
			if (strcmp(t->cols[j], r->cols[k].name) == 0)
				cr->map[k] = t->map[j];
		if (cr->map[k] < 0)
			sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
			       "msg=\"column not in the job's schema (added after start?): "
			       "ignored\" table=%s column=%s",
			       t->shown, r->cols[k].name);
	}
	for (uint32_t p = 0; p < t->n_pk; p++)
		for (uint32_t k = 0; k < r->n_cols; k++)
			if (strcmp(t->cols[t->pk[p]], r->cols[k].name) == 0 && cr->n_pk < SL_MAX_KEYS)
				cr->pk[cr->n_pk++] = (uint16_t)k;
	return 0;
}

/* Text of a tuple for the dead letters: col=value, tab-separated. */
static size_t render_tuple(char *out, size_t cap, const struct sl_pgo_relation *r,
			   const struct sl_pgo_tuple *t)
{
	size_t n = 0;
	for (uint32_t i = 0; i < t->n_cols && i < r->n_cols && n + 1 < cap; i++) {
		const struct sl_pgo_datum *d = &t->cols[i];
		int k = snprintf(out + n, cap - n, "%s%s=", i ? "\t" : "", r->cols[i].name);
		if (k < 0 || (size_t)k >= cap - n)
			break;
		n += (size_t)k;
		if (d->kind == SL_PGO_TEXT) {
			size_t m = d->len < cap - n - 1 ? d->len : cap - n - 1;
			memcpy(out + n, d->p, m);
			n += m;
		} else {
			k = snprintf(out + n, cap - n, "%s", d->kind == SL_PGO_NULL ? "NULL" : "(unchanged)");
			if (k > 0)
				n += (size_t)k < cap - n ? (size_t)k : cap - n - 1;
		}
	}
	out[n] = '\0';
	return n;
}

static void set_meta(struct sl_batch *b, const struct cdc_shared *s, const struct cdc_table *t,
		     uint32_t row, uint64_t lsn, int64_t commit_ms)
{
	if (s->col_table >= 0)
		sl_batch_set_str(b, (uint32_t)s->col_table, row, t->shown, strlen(t->shown));
	if (s->col_lsn >= 0)
		sl_batch_set_i(b, (uint32_t)s->col_lsn, row, (int64_t)lsn);
	if (s->col_commit_time >= 0 && commit_ms != INT64_MIN)
		sl_batch_set_i(b, (uint32_t)s->col_commit_time, row, commit_ms);
}

static void where_of(char *out, size_t cap, const struct cdc_shared *s, const char *table,
		     uint64_t lsn)
{
	char l[24];
	sl_pg_lsn_format(lsn, l);
	snprintf(out, cap, "slot %s, table %s, commit %s", s->slot, table, l);
}

/* One image of a change as a row; false with the reason in err (the row is
 * rolled back). */
static bool put_image(struct sl_batch *b, const struct cdc_shared *s, const struct cdc_rel *cr,
		      const struct sl_pgo_tuple *t, const struct sl_pgo_tuple *fill, uint8_t kind,
		      int64_t ingest, int64_t commit_ms, uint64_t lsn, char *err, size_t cap)
{
	uint32_t heap = b->heap_len;
	uint32_t r = sl_batch_begin_row(b, kind, ingest, commit_ms);
	uint64_t unchanged = 0;
	int rc = sl_pgo_tuple_row(b, r, &cr->r, t, cr->map, &unchanged, err, cap);
	if (rc == 0 && unchanged) {
		/* Unchanged TOASTed values: the old image has them with FULL. */
		if (fill && fill->n_cols == t->n_cols) {
			for (uint32_t i = 0; i < t->n_cols && rc == 0; i++) {
				int c = cr->map[i];
				if (c < 0 || !(unchanged >> c & 1))
					continue;
				const struct sl_pgo_datum *d = &fill->cols[i];
				if (d->kind == SL_PGO_TEXT)
					rc = sl_pg_text_value(b, (uint32_t)c, r, cr->r.cols[i].type_oid,
							      d->p, d->len, err, cap);
				else if (d->kind != SL_PGO_NULL)
					rc = -EINVAL;
			}
		} else {
			rc = -EINVAL;
		}
		if (rc == -EINVAL && !err[0]) {
			uint32_t i = 0;
			while (i < t->n_cols && !(cr->map[i] >= 0 && (unchanged >> cr->map[i] & 1)))
				i++;
			snprintf(err, cap,
				 "column %s: an unchanged TOASTed value the server did not send (the "
				 "new row image is incomplete; ALTER TABLE … REPLICA IDENTITY FULL "
				 "sends the whole old row)",
				 i < cr->r.n_cols ? cr->r.cols[i].name : "?");
		}
	}
	if (rc < 0) {
		sl_batch_rollback(b, heap);
		return false;
	}
	set_meta(b, s, &s->t[cr->table], r, lsn, commit_ms);
	sl_batch_commit_row(b);
	return true;
}

static bool key_changed(const struct cdc_rel *cr, const struct sl_pgo_tuple *o,
			const struct sl_pgo_tuple *n)
{
	for (uint32_t k = 0; k < cr->n_pk; k++) {
		const struct sl_pgo_datum *a = &o->cols[cr->pk[k]], *b = &n->cols[cr->pk[k]];
		if (a->kind != b->kind || a->len != b->len || (a->len && memcmp(a->p, b->p, a->len)))
			return true;
	}
	return false;
}

/* Rows of one change; false with the reason when it cannot be emitted. */
static bool put_change(struct sl_batch *b, const struct cdc_shared *s, const struct cdc_rel *cr,
		       const struct sl_pgo_msg *m, int64_t ingest, int64_t commit_ms, uint64_t lsn,
		       char *err, size_t cap)
{
	const struct sl_pgo_change *ch = &m->change;
	uint32_t n0 = b->n_rows, h0 = b->heap_len;
	bool ok = true;
	err[0] = '\0';
	switch (m->type) {
	case SL_PGO_INSERT:
		ok = put_image(b, s, cr, &ch->new_tuple, NULL, SL_KIND_INSERT, ingest, commit_ms, lsn,
			       err, cap);
		break;
	case SL_PGO_DELETE:
		ok = put_image(b, s, cr, &ch->old_tuple, NULL, SL_KIND_DELETE, ingest, commit_ms, lsn,
			       err, cap);
		break;
	case SL_PGO_UPDATE:
		if (ch->old_kind == 'K' || (ch->old_kind == 'O' && key_changed(cr, &ch->old_tuple,
									       &ch->new_tuple))) {
			/* The key changed: the old key goes away. */
			ok = put_image(b, s, cr, &ch->old_tuple, NULL, SL_KIND_DELETE, ingest,
				       commit_ms, lsn, err, cap) &&
			     put_image(b, s, cr, &ch->new_tuple,
				       ch->old_kind == 'O' ? &ch->old_tuple : NULL, SL_KIND_INSERT,
				       ingest, commit_ms, lsn, err, cap);
		} else if (ch->old_kind == 'O') {
			ok = put_image(b, s, cr, &ch->old_tuple, NULL, SL_KIND_UPDATE_BEFORE, ingest,
				       commit_ms, lsn, err, cap) &&
			     put_image(b, s, cr, &ch->new_tuple, &ch->old_tuple, SL_KIND_UPDATE_AFTER,
				       ingest, commit_ms, lsn, err, cap);
		} else {
			/* REPLICA IDENTITY DEFAULT: no old image; +U is an upsert. */
			ok = put_image(b, s, cr, &ch->new_tuple, NULL, SL_KIND_UPDATE_AFTER, ingest,
				       commit_ms, lsn, err, cap);
		}
		break;
	default:
		break;
	}
	if (!ok) {
		b->n_rows = n0;
		b->heap_len = h0;
	}
	return ok;
}

/* ---- open / close ---- */

static int cdc_open(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct cdc_state *st = mi_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	ni->state = st;
	st->rl.burst = 1;
	/* One replication connection: the worker the node's id picks. */
	st->owner = w->id == ni->node->id % w->n_workers;
	st->ckpt_on = w->eng->ckpt_on;
	if (!st->owner) {
		st->phase = PHASE_DONE;
		return 0;
	}
	st->msg = mi_malloc(sizeof(*st->msg));
	st->rels = mi_zalloc(CDC_MAX_RELS * sizeof(*st->rels));
	st->fields = mi_malloc(SL_MAX_COLS * sizeof(*st->fields));
	st->scratch_cap = 1u << 16;
	st->scratch = mi_malloc(st->scratch_cap);
	if (!st->msg || !st->rels || !st->fields || !st->scratch)
		return -ENOMEM;
	/* Until the stream starts there is no position a restore could use
	 * (a snapshot is taken again, never resumed): checkpoints wait. A
	 * restored position releases the hold at once. */
	if (st->ckpt_on) {
		st->hold = true;
		sl_worker_ckpt_hold(w, ni, "connecting, or reading the initial snapshot");
	}
	return 0;
}

static void cdc_close(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct cdc_state *st = ni->state;
	if (!st)
		return;
	if (st->conn && st->confirmed_lsn > st->sent_confirmed)
		send_status(w, st, true);
	drop_conn(w, st);
	mi_free(st->msg);
	mi_free(st->rels);
	mi_free(st->fields);
	mi_free(st->scratch);
	mi_free(st);
	ni->state = NULL;
}

/* First poll of the owner: connect and set up (after restore ran). */
static int begin(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st)
{
	bool restored = st->phase == PHASE_STREAM; /* restore set the position */
	for (;;) {
		if (!connect_repl(w, ni, st))
			return -ECONNABORTED;
		char err[1024];
		int rc = setup(w, ni, st, restored, err, sizeof(err));
		if (rc == 0)
			return 0;
		if (PQstatus(st->conn) != CONNECTION_BAD || st->phase == PHASE_COPY) {
			char q[1200];
			sl_worker_fail(w, ni, rc, "PostgreSQL: %s",
				       sl_log_quote(err, strlen(err), q, sizeof(q)));
			return rc;
		}
		/* The connection broke during setup: again, from the top. */
		st->phase = restored ? PHASE_STREAM : PHASE_SETUP;
	}
}

/* ---- poll ---- */

/* Puts back a buffer next_data gave (it goes first again). */
static void unread(struct cdc_state *st, char *buf, int len)
{
	SL_ASSERT(st->q_n < CDC_QUEUE);
	st->q_head = (st->q_head + CDC_QUEUE - 1) % CDC_QUEUE;
	st->q[st->q_head].buf = buf;
	st->q[st->q_head].len = len;
	st->q_n++;
}

/* The next CopyData buffer: 1 with *buf and *len, 0 when none is ready (a
 * read poll is armed), -1 when the stream ended or broke. */
static int next_data(struct sl_worker *w, struct cdc_state *st, char **buf, int *len)
{
	if (st->q_n) {
		*buf = st->q[st->q_head].buf;
		*len = st->q[st->q_head].len;
		st->q_head = (st->q_head + 1) % CDC_QUEUE;
		st->q_n--;
		return 1;
	}
	for (int tries = 0; tries < 2; tries++) {
		int n = PQgetCopyData(st->conn, buf, 1);
		if (n > 0) {
			*len = n;
			return 1;
		}
		if (n < 0)
			return -1;
		if (st->poll.armed)
			return 0; /* the socket was not readable yet */
		if (tries == 0 && !PQconsumeInput(st->conn))
			return -1;
	}
	sl_pg_poll_arm(w, &st->poll, PQsocket(st->conn), false);
	return 0;
}

/* The stream broke: reconnect and resume after what was emitted. */
static int resume(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st)
{
	const char *why = st->conn ? PQerrorMessage(st->conn) : "";
	char q[600];
	sl_log(SL_LOG_WARN, (int)w->id, ni->node->name,
	       "msg=\"replication connection lost: reconnecting\" reason=%s",
	       sl_log_quote(why, strcspn(why, "\n"), q, sizeof(q)));
	if (st->phase == PHASE_COPY) {
		sl_worker_fail(w, ni, -ECONNRESET,
			       "the connection broke during the initial snapshot (a snapshot "
			       "cannot be resumed; a restart takes it again)");
		return -ECONNRESET;
	}
	/* The open transaction comes again whole: skip what went out. */
	if (st->txn_lsn) {
		st->skip_lsn = st->txn_lsn;
		st->skip_changes = st->txn_changes;
		st->txn_lsn = 0;
	}
	for (;;) {
		if (!connect_repl(w, ni, st))
			return -ECONNABORTED;
		char err[1024];
		int rc = setup(w, ni, st, true, err, sizeof(err));
		if (rc == 0)
			return 0;
		if (PQstatus(st->conn) != CONNECTION_BAD) {
			sl_worker_fail(w, ni, rc, "PostgreSQL: %s", err);
			return rc;
		}
	}
}

static int copy_poll(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		     struct sl_batch *b)
{
	const struct cdc_shared *s = ni->node->shared;
	const struct cdc_table *t = &s->t[st->copy_table];
	for (;;) {
		if (sl_batch_full(b))
			return 1;
		char *buf;
		int len;
		int got = next_data(w, st, &buf, &len);
		if (got == 0)
			return 0;
		if (got < 0) {
			/* End of this table's COPY (or an error). */
			PGresult *r;
			bool ok = true;
			char m[512] = "";
			while ((r = PQgetResult(st->conn)) != NULL) {
				if (PQresultStatus(r) != PGRES_COMMAND_OK) {
					ok = false;
					first_line(m, sizeof(m), PQresultErrorMessage(r));
				}
				PQclear(r);
			}
			if (!ok || PQstatus(st->conn) == CONNECTION_BAD) {
				if (PQstatus(st->conn) == CONNECTION_BAD)
					return resume(w, ni, st);
				sl_worker_fail(w, ni, -EIO, "COPY %s: %s", t->shown, m);
				return -EIO;
			}
			st->copy_table++;
			char err[1024];
			int rc = start_copy(w, ni, st, err, sizeof(err));
			if (rc) {
				sl_worker_fail(w, ni, rc, "PostgreSQL: %s", err);
				return rc;
			}
			return 1;
		}
		if ((size_t)len > sl_batch_heap_free(b) && b->n_rows) {
			unread(st, buf, len);
			return 1;
		}
		if ((size_t)len > st->scratch_cap) {
			size_t cap = st->scratch_cap;
			while (cap < (size_t)len)
				cap *= 2;
			char *p = mi_realloc(st->scratch, cap);
			if (!p) {
				PQfreemem(buf);
				return -ENOMEM;
			}
			st->scratch = p;
			st->scratch_cap = cap;
		}
		char err[512] = "";
		int nf = sl_pg_copy_fields(buf, (size_t)len, st->fields, SL_MAX_COLS, st->scratch,
					   err, sizeof(err));
		bool ok = nf == (int)t->n_cols;
		if (nf >= 0 && !ok)
			snprintf(err, sizeof(err), "COPY row of %d fields, the table has %u", nf,
				 t->n_cols);
		uint32_t heap = b->heap_len;
		uint32_t r = sl_batch_begin_row(b, SL_KIND_INSERT, w->now_ns, INT64_MIN);
		for (uint32_t i = 0; ok && i < t->n_cols; i++) {
			const struct sl_pg_copy_field *f = &st->fields[i];
			if (f->null)
				continue;
			ok = sl_pg_text_value(b, (uint32_t)t->map[i], r, t->type_oid[i], f->p, f->len,
					      err, sizeof(err)) == 0;
		}
		st->copy_rows++;
		if (ok) {
			set_meta(b, s, t, r, st->consistent_lsn, INT64_MIN);
			sl_batch_commit_row(b);
		} else {
			sl_batch_rollback(b, heap);
			char where[300];
			snprintf(where, sizeof(where), "slot %s, snapshot of %s, row %" PRIu64, s->slot,
				 t->shown, st->copy_rows);
			sl_worker_bad_input(w, ni, where, err, buf, (size_t)len);
		}
		PQfreemem(buf);
	}
}

static void keepalive(struct sl_worker *w, struct cdc_state *st, const struct sl_pgo_copydata *cd)
{
	if (cd->wal_end > st->wal_end)
		st->wal_end = cd->wal_end;
	if (cd->wal_end > st->ka_end)
		st->ka_end = cd->wal_end;
	/* Between transactions: everything before the server's position was
	 * sent, so it is ours (it moves the slot on while other tables change). */
	if (!st->txn_lsn && cd->wal_end > st->done_lsn)
		st->done_lsn = cd->wal_end;
	if (!st->ckpt_on)
		st->confirmed_lsn = st->done_lsn;
	if (cd->reply_requested)
		send_status(w, st, false);
}

/* One message of the stream. 1: consumed; 0: the batch has no room (buf
 * goes back to the queue); <0 fatal. */
static int stream_msg(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		      struct sl_batch *b, char *buf, int len)
{
	const struct cdc_conf *c = ni->node->conf;
	const struct cdc_shared *s = ni->node->shared;
	struct sl_pgo_copydata cd;
	char err[1024];
	if (sl_pgo_parse_copydata((const uint8_t *)buf, (size_t)len, &cd, err, sizeof(err)) < 0) {
		sl_worker_fail(w, ni, -EPROTO, "replication stream: %s", err);
		return -EPROTO;
	}
	if (cd.kind == 'k') {
		keepalive(w, st, &cd);
		return 1;
	}
	if (cd.wal_end > st->wal_end)
		st->wal_end = cd.wal_end;
	struct sl_pgo_msg *m = st->msg;
	int rc = sl_pgo_parse(cd.payload, cd.payload_len, m, err, sizeof(err));
	if (rc < 0) {
		char where[128], l[24];
		sl_pg_lsn_format(cd.wal_start, l);
		snprintf(where, sizeof(where), "slot %s, WAL %s", s->slot, l);
		sl_worker_fail(w, ni, rc, "replication stream at %s: %s", where, err);
		return rc;
	}
	switch (m->type) {
	case SL_PGO_BEGIN:
		st->txn_lsn = m->begin.final_lsn;
		st->txn_changes = 0;
		st->txn_time_ms = sl_pg_time_to_unix_ms(m->begin.commit_time_us);
		return 1;
	case SL_PGO_COMMIT:
		st->txn_lsn = 0;
		st->skip_lsn = 0;
		if (m->commit.end_lsn > st->done_lsn)
			st->done_lsn = m->commit.end_lsn;
		st->emitted_ms = sl_pg_time_to_unix_ms(m->commit.commit_time_us);
		if (!st->ckpt_on)
			st->confirmed_lsn = st->done_lsn;
		if (st->stop_at_commit)
			st->eof = true;
		return 1;
	case SL_PGO_RELATION:
		return rel_learn(w, ni, st, &m->relation) == 0 ? 1 : -ENOMEM;
	case SL_PGO_MESSAGE:
		if (c->stop_on_message && m->message.prefix_len == strlen(c->stop_on_message) &&
		    memcmp(m->message.prefix, c->stop_on_message, m->message.prefix_len) == 0) {
			if (m->message.flags & 1)
				st->stop_at_commit = true;
			else
				st->eof = true;
			sl_log(SL_LOG_INFO, (int)w->id, ni->node->name,
			       "msg=\"stop message seen: the source ends after this transaction\"");
		}
		return 1;
	case SL_PGO_TYPE:
	case SL_PGO_ORIGIN:
		return 1;
	default:
		break;
	}
	/* A change (I, U, D, T): counted in its transaction for resumes. */
	bool skip = st->skip_lsn && st->txn_lsn == st->skip_lsn &&
		    st->txn_changes < st->skip_changes;
	bool old_txn = st->txn_lsn && st->txn_lsn < st->done_lsn;
	if (skip || old_txn) {
		st->txn_changes++;
		return 1;
	}
	if (m->type == SL_PGO_TRUNCATE) {
		char where[256], what[512], names[256] = "";
		size_t nl = 0;
		for (uint32_t i = 0; i < m->truncate.n_rels && nl + 1 < sizeof(names); i++) {
			const struct cdc_rel *tr = rel_find(st, sl_pgo_truncate_oid(m, i));
			int k = snprintf(names + nl, sizeof(names) - nl, "%s%s", nl ? "," : "",
					 tr && tr->table >= 0 ? s->t[tr->table].shown : "?");
			nl += k > 0 ? (size_t)k : 0;
		}
		snprintf(what, sizeof(what),
			 "TRUNCATE of %s: not propagated (the rows stay downstream; truncate the "
			 "targets by hand)",
			 names);
		where_of(where, sizeof(where), s, names, st->txn_lsn);
		sl_worker_bad_input(w, ni, where, what, what, strlen(what));
		st->txn_changes++;
		return 1;
	}
	const struct cdc_rel *cr = rel_find(st, m->change.rel_oid);
	if (!cr) {
		sl_worker_fail(w, ni, -EPROTO,
			       "replication stream: a change to relation %u before its Relation "
			       "message",
			       m->change.rel_oid);
		return -EPROTO;
	}
	if (cr->table < 0) {
		st->txn_changes++;
		return 1; /* published for someone else */
	}
	if (b->n_rows + 2 > SL_BATCH_ROWS || (uint32_t)len > sl_batch_heap_free(b))
		if (b->n_rows)
			return 0;
	if (put_change(b, s, cr, m, w->now_ns, st->txn_time_ms, st->txn_lsn, err, sizeof(err))) {
		st->changes++;
	} else {
		char where[256], raw[4096];
		where_of(where, sizeof(where), s, s->t[cr->table].shown, st->txn_lsn);
		const struct sl_pgo_tuple *t =
		    m->change.has_new ? &m->change.new_tuple : &m->change.old_tuple;
		size_t rl = render_tuple(raw, sizeof(raw), &cr->r, t);
		sl_worker_bad_input(w, ni, where, err, raw, rl);
	}
	st->txn_changes++;
	return 1;
}

static int stream_poll(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st,
		       struct sl_batch *b)
{
	for (uint32_t msgs = 0; msgs < 4 * SL_BATCH_ROWS; msgs++) {
		if (st->eof)
			return 1;
		if (sl_batch_full(b))
			return 1;
		char *buf;
		int len;
		int got = next_data(w, st, &buf, &len);
		if (got == 0)
			return 0;
		if (got < 0) {
			int rc = resume(w, ni, st);
			return rc < 0 ? rc : 1;
		}
		int rc = stream_msg(w, ni, st, b, buf, len);
		if (rc == 0) {
			unread(st, buf, len);
			return 1;
		}
		PQfreemem(buf);
		if (rc < 0)
			return rc;
	}
	return 1;
}

static int poll_stream(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st);

static int cdc_poll(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct cdc_state *st = ni->state;
	if (!st->owner || st->phase == PHASE_DONE)
		return SL_POLL_EOF;
	return poll_stream(w, ni, st);
}

/*
 * While another node on this worker waits (a sink reconnecting to the same
 * database, say), the server still expects answers to its keepalives: a
 * server shutting down waits for one before it lets anybody reconnect.
 * Reads what arrived, answers keepalives ahead of any change, and keeps the
 * first change for poll.
 */
static void cdc_service(struct sl_worker *w, struct sl_nodeinst *ni)
{
	struct cdc_state *st = ni->state;
	if (!st->owner || st->in_call || st->phase != PHASE_STREAM || !st->conn || st->poll.armed)
		return;
	if (!PQconsumeInput(st->conn))
		return; /* poll sees the broken connection */
	while (st->q_n < CDC_QUEUE) {
		char *buf;
		int n = PQgetCopyData(st->conn, &buf, 1);
		if (n == 0) {
			sl_pg_poll_arm(w, &st->poll, PQsocket(st->conn), false);
			return;
		}
		if (n < 0)
			return;
		struct sl_pgo_copydata cd = {0};
		char err[256];
		if (sl_pgo_parse_copydata((const uint8_t *)buf, (size_t)n, &cd, err, sizeof(err)) < 0 ||
		    cd.kind != 'k' || st->q_n) {
			/* A change (or garbage), or anything behind one: poll's,
			 * in order. A keepalive is still answered. */
			if (cd.kind == 'k' && cd.reply_requested) {
				if (cd.wal_end > st->ka_end)
					st->ka_end = cd.wal_end;
				send_status(w, st, false);
			}
			st->q[(st->q_head + st->q_n) % CDC_QUEUE].buf = buf;
			st->q[(st->q_head + st->q_n) % CDC_QUEUE].len = n;
			st->q_n++;
			continue;
		}
		keepalive(w, st, &cd);
		PQfreemem(buf);
	}
}

static int poll_stream(struct sl_worker *w, struct sl_nodeinst *ni, struct cdc_state *st)
{
	if (st->poll.armed)
		return SL_POLL_IDLE;
	/* The connection is ours alone until the rows go out: a sink
	 * downstream on this worker may wait (a reconnect) inside sl_emit,
	 * and then service answers the server's keepalives meanwhile. */
	st->in_call = true;
	int rc = 0;
	if (!st->conn)
		rc = begin(w, ni, st);
	if (rc < 0) {
		st->in_call = false;
		return rc;
	}
	struct sl_batch *b = sl_worker_batch(w, &ni->node->schema);
	rc = st->phase == PHASE_COPY ? copy_poll(w, ni, st, b) : stream_poll(w, ni, st, b);
	st->in_call = false;
	uint32_t rows = b->n_rows;
	int erc = 0;
	if (rows) {
		sl_worker_source_rows(w, ni, rows, 0);
		erc = sl_emit(w, ni, b);
	}
	sl_worker_put(w, b);
	if (rc < 0)
		return rc;
	if (erc < 0)
		return erc;
	if (st->eof) {
		st->phase = PHASE_DONE;
		return SL_POLL_EOF;
	}
	return rows || rc > 0 ? SL_POLL_MORE : SL_POLL_IDLE;
}

static void cdc_tick(struct sl_worker *w, struct sl_nodeinst *ni, int64_t now_ns)
{
	struct cdc_state *st = ni->state;
	const struct cdc_conf *c = ni->node->conf;
	if (!st->owner || st->phase != PHASE_STREAM || !st->conn)
		return;
	/* Lag: WAL the server has that the source has not emitted, and how
	 * old the last emitted change is while there is such WAL. */
	uint64_t behind = st->wal_end > st->done_lsn ? st->wal_end - st->done_lsn : 0;
	sl_worker_source_lag(ni, SL_LAG_BYTES, behind);
	int64_t age = behind && st->emitted_ms ? sl_wall_ms() - st->emitted_ms : 0;
	sl_worker_source_lag(ni, SL_LAG_MS, age > 0 ? (uint64_t)age : 0);
	if (st->confirmed_lsn > st->sent_confirmed)
		send_status(w, st, true);
	else if (now_ns - st->last_status_ns >= c->status_interval_ms * 1000000)
		send_status(w, st, false);
}

/* ---- checkpoints ---- */

static int cdc_snapshot(struct sl_worker *w, struct sl_nodeinst *ni, struct sl_snapbuf *out)
{
	struct cdc_state *st = ni->state;
	const struct cdc_shared *s = ni->node->shared;
	if (!st->owner)
		return 0;
	if (st->phase != PHASE_STREAM && st->phase != PHASE_DONE) {
		/* The hold taken in open keeps barriers away until streaming. */
		sl_worker_fail(w, ni, -EINVAL, "a checkpoint barrier reached the source before "
			       "it streams (phase %d)", st->phase);
		return -EINVAL;
	}
	sl_snap_u8(out, 1); /* version */
	sl_snap_str(out, s->slot);
	sl_snap_u64(out, st->done_lsn);
	sl_snap_u64(out, st->txn_lsn);
	sl_snap_u64(out, st->txn_lsn ? st->txn_changes : 0);
	if (st->n_pend == CDC_PENDING) {
		memmove(st->pend_id, st->pend_id + 1, (CDC_PENDING - 1) * sizeof(st->pend_id[0]));
		memmove(st->pend_lsn, st->pend_lsn + 1, (CDC_PENDING - 1) * sizeof(st->pend_lsn[0]));
		st->n_pend--;
	}
	st->pend_id[st->n_pend] = w->ckpt_id;
	/* What the slot may forget once this checkpoint is complete: every
	 * transaction before the open one. */
	st->pend_lsn[st->n_pend] = st->done_lsn;
	st->n_pend++;
	return 0;
}

static int cdc_restore(struct sl_worker *w, struct sl_nodeinst *ni, const struct sl_blob *blobs,
		       uint32_t n)
{
	struct cdc_state *st = ni->state;
	const struct cdc_shared *s = ni->node->shared;
	uint32_t found = 0;
	for (uint32_t k = 0; k < n; k++) {
		if (blobs[k].len == 0)
			continue;
		struct sl_snapread r;
		sl_snapread_init(&r, blobs[k].p, blobs[k].len);
		uint8_t ver = sl_snapread_u8(&r);
		char slot[SL_PGO_NAME_MAX];
		sl_snapread_str(&r, slot, sizeof(slot));
		uint64_t done = sl_snapread_u64(&r);
		uint64_t txn = sl_snapread_u64(&r);
		uint64_t changes = sl_snapread_u64(&r);
		if (ver != 1 || !sl_snapread_done(&r))
			return -EINVAL;
		if (strcmp(slot, s->slot) != 0) {
			sl_log(SL_LOG_ERROR, (int)w->id, ni->node->name,
			       "msg=\"the checkpoint was taken with another slot\" checkpoint_slot=%s "
			       "slot=%s",
			       slot, s->slot);
			return -EINVAL;
		}
		found++;
		if (!st->owner)
			continue;
		st->done_lsn = done;
		st->skip_lsn = txn;
		st->skip_changes = changes;
		st->confirmed_lsn = 0;
		st->phase = PHASE_STREAM;
		if (st->hold) {
			st->hold = false;
			sl_worker_ckpt_release(w, ni);
		}
	}
	return found > 1 ? -EINVAL : 0;
}

static void cdc_committed(struct sl_worker *w, struct sl_nodeinst *ni, uint64_t id)
{
	struct cdc_state *st = ni->state;
	if (!st->owner)
		return;
	uint32_t keep = 0;
	for (uint32_t i = 0; i < st->n_pend; i++) {
		if (st->pend_id[i] <= id) {
			if (st->pend_lsn[i] > st->confirmed_lsn)
				st->confirmed_lsn = st->pend_lsn[i];
		} else {
			st->pend_id[keep] = st->pend_id[i];
			st->pend_lsn[keep++] = st->pend_lsn[i];
		}
	}
	st->n_pend = keep;
	if (st->confirmed_lsn > st->sent_confirmed)
		send_status(w, st, true);
}

static const char *cdc_describe(const struct sl_node *n, char *buf, size_t cap)
{
	const struct cdc_shared *s = n->shared;
	snprintf(buf, cap, "slot %s", s ? s->slot : "?");
	return buf;
}

const struct sl_plugin sl_plugin_postgres_cdc_source = {
	.name = "postgres-cdc",
	.kind = SL_NODE_SOURCE,
	.summary = "PostgreSQL logical replication (pgoutput): initial snapshot, then every change",
	.options = cdc_options,
	.conf_bytes = sizeof(struct cdc_conf),
	.prepare = cdc_prepare,
	.release = cdc_release,
	.open = cdc_open,
	.close = cdc_close,
	.poll = cdc_poll,
	.tick = cdc_tick,
	.service = cdc_service,
	.describe = cdc_describe,
	.snapshot = cdc_snapshot,
	.restore = cdc_restore,
	.committed = cdc_committed,
};
