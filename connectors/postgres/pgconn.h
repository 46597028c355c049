/* What the postgres connectors share: identifier and literal quoting, the
 * password from the environment or a file, and waiting for a libpq socket on
 * the worker's io_uring. */
#ifndef SL_PGCONN_H
#define SL_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "core/diag.h"
#include "core/job.h"
#include "core/worker.h"

/* "name" with embedded quotes doubled, truncated to cap. */
void sl_pg_quote_ident(char *out, size_t cap, const char *name);
/* 'text' with embedded quotes doubled, truncated to cap. */
void sl_pg_quote_literal(char *out, size_t cap, const char *s);

/*
 * The password named by password_env (an environment variable) or
 * password_file (its first line), malloc'd into *out; NULL when neither is
 * set. Errors name the node and point at the option. Never logged.
 */
int sl_pg_read_password(const struct sl_node *n, const char *password_env,
			const char *password_file, char **out, struct sl_diag *d);
/* Frees a password after wiping it. */
void sl_pg_free_password(char *p);

/* "host:port/db" of a connection for messages, never the password. */
void sl_pg_conn_name(PGconn *conn, char *buf, size_t cap);

/* A poll of a connection's socket on the worker's ring. */
struct sl_pg_poll {
	struct sl_io io;
	bool armed;
};

/* Arms a poll of fd for reading (or writing); nothing when one is armed. */
void sl_pg_poll_arm(struct sl_worker *w, struct sl_pg_poll *p, int fd, bool want_write);
/* Waits (driving the worker's ring, so other nodes' service callbacks run)
 * until the armed poll, or a new one of fd, lands; after timeout_ms the
 * poll is cancelled and its cancellation waited for. */
void sl_pg_poll_wait(struct sl_worker *w, struct sl_pg_poll *p, int fd, bool want_write,
		     int64_t timeout_ms);
/* Cancels an armed poll and waits until it landed (before the fd closes). */
void sl_pg_poll_cancel(struct sl_worker *w, struct sl_pg_poll *p);

#endif
