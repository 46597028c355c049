/* What the postgres connectors share: quoting, passwords, socket polls on the worker ring. */
#include "connectors/postgres/pgconn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void quote(char *out, size_t cap, const char *s, char q)
{
	size_t n = 0;
	out[n++] = q;
	for (const char *p = s; *p && n + 3 < cap; p++) {
		if (*p == q)
			out[n++] = q;
		out[n++] = *p;
	}
	out[n++] = q;
	out[n] = '\0';
}

void sl_pg_quote_ident(char *out, size_t cap, const char *name)
{
	quote(out, cap, name, '"');
}

void sl_pg_quote_literal(char *out, size_t cap, const char *s)
{
	quote(out, cap, s, '\'');
}

int sl_pg_read_password(const struct sl_node *n, const char *password_env,
			const char *password_file, char **out, struct sl_diag *d)
{
	const char *kind = sl_node_kind_name(n->kind);
	*out = NULL;
	if (password_env) {
		const char *v = getenv(password_env);
		if (!v)
			return sl_diag_error(d, sl_node_pos_of(n, "password_env"),
					     "%s '%s': environment variable %s is not set", kind,
					     n->name, password_env);
		*out = strdup(v);
	} else if (password_file) {
		FILE *f = fopen(password_file, "re");
		if (!f)
			return sl_diag_error(d, sl_node_pos_of(n, "password_file"),
					     "%s '%s': cannot read %s: %s", kind, n->name,
					     password_file, strerror(errno));
		char buf[1024];
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		*out = strdup(buf);
		explicit_bzero(buf, sizeof(buf));
	} else {
		return 0;
	}
	return *out ? 0 : -ENOMEM;
}

void sl_pg_free_password(char *p)
{
	if (p) {
		explicit_bzero(p, strlen(p));
		free(p);
	}
}

void sl_pg_conn_name(PGconn *conn, char *buf, size_t cap)
{
	if (!conn) {
		snprintf(buf, cap, "(no connection)");
		return;
	}
	snprintf(buf, cap, "%s:%s/%s", PQhost(conn) ? PQhost(conn) : "?",
		 PQport(conn) ? PQport(conn) : "?", PQdb(conn) ? PQdb(conn) : "?");
}

static void poll_landed(struct sl_worker *w, struct sl_io *io, int res)
{
	(void)res;
	struct sl_pg_poll *p = (struct sl_pg_poll *)((char *)io - offsetof(struct sl_pg_poll, io));
	w->inflight_io--;
	p->armed = false;
}

void sl_pg_poll_arm(struct sl_worker *w, struct sl_pg_poll *p, int fd, bool want_write)
{
	if (fd < 0 || p->armed)
		return;
	p->armed = true;
	p->io.done = poll_landed;
	struct io_uring_sqe *sqe = sl_worker_sqe(w);
	io_uring_prep_poll_add(sqe, fd, want_write ? POLLOUT : POLLIN);
	io_uring_sqe_set_data(sqe, &p->io);
	w->inflight_io++;
}

static void cancel(struct sl_worker *w, struct sl_pg_poll *p)
{
	struct io_uring_sqe *c = sl_worker_sqe(w);
	io_uring_prep_poll_remove(c, (__u64)(uintptr_t)&p->io);
	io_uring_sqe_set_data(c, NULL);
}

void sl_pg_poll_wait(struct sl_worker *w, struct sl_pg_poll *p, int fd, bool want_write,
		     int64_t timeout_ms)
{
	sl_pg_poll_arm(w, p, fd, want_write);
	int64_t until = sl_now_ns() + timeout_ms * 1000000;
	bool cancelled = false;
	while (p->armed) {
		if (!cancelled && sl_now_ns() > until) {
			cancel(w, p); /* give up waiting: the poll lands cancelled */
			cancelled = true;
		}
		if (sl_worker_wait_io(w) < 0)
			break;
	}
}

void sl_pg_poll_cancel(struct sl_worker *w, struct sl_pg_poll *p)
{
	if (!p->armed)
		return;
	cancel(w, p);
	while (p->armed)
		if (sl_worker_wait_io(w) < 0)
			break;
}
