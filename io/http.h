/* HTTP/1.1 for the control plane: a keep-alive server (pipelining, limits on
 * everything) and a small POST client for webhooks, on one io_uring that the
 * control thread runs between its other duties. */
#ifndef SL_HTTP_H
#define SL_HTTP_H

#include <assert.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "core/common.h"

/* Request line + headers + the blank line. Past it: 431 (414 without a line end). */
#define SL_HTTP_HEADER_MAX_BYTES (8u * 1024u)
/* Request body (Content-Length). Past it: 413. */
#define SL_HTTP_BODY_MAX_BYTES (64u * 1024u)
/* Path of the request target as sent (before percent-decoding). Past it: 414. */
#define SL_HTTP_PATH_MAX 1024u
/* Header lines in one request. Past it: 431. */
#define SL_HTTP_MAX_HEADERS 100u
/* Open connections. At the limit the oldest idle keep-alive connection is
 * closed to make room; with none idle, a new one gets 503 and is closed. */
#define SL_HTTP_MAX_CONNS 1024u
/* First byte of a request to its last; also the longest a response may stall
 * because the client does not read. A slower client is dropped. */
#define SL_HTTP_REQUEST_TIMEOUT_MS 10000
/* A keep-alive connection with nothing asked is closed after this. */
#define SL_HTTP_IDLE_TIMEOUT_MS 60000
/* After a final response, unread input is drained this long before close
 * (so the client reads the response instead of a reset). */
#define SL_HTTP_LINGER_MS 2000
/* One response body (a /metrics page of 256 workers x 128 nodes fits). */
#define SL_HTTP_RESPONSE_MAX_BYTES (64u * 1024u * 1024u)
/* Pipelining: a connection with this much unsent output has its next
 * requests wait (and its reading paused once SL_HTTP_IN_MAX_BYTES wait). */
#define SL_HTTP_OUT_HIGH_BYTES (1024u * 1024u)
/* Buffered input of one connection: one whole request plus slack. */
#define SL_HTTP_IN_MAX_BYTES (SL_HTTP_HEADER_MAX_BYTES + SL_HTTP_BODY_MAX_BYTES + 8192u)
/* Bearer token length. */
#define SL_HTTP_TOKEN_MAX 256u
/* Outgoing requests (webhooks) in flight at once. */
#define SL_HTTP_MAX_CLIENTS 8u

static_assert(SL_HTTP_PATH_MAX < SL_HTTP_HEADER_MAX_BYTES, "a path fits in the head");
static_assert(SL_HTTP_IN_MAX_BYTES >= SL_HTTP_HEADER_MAX_BYTES + SL_HTTP_BODY_MAX_BYTES,
	      "a connection buffers at least one whole request");
static_assert(SL_HTTP_MAX_CONNS < (1u << 16), "connection index fits user_data");

enum sl_http_method {
	SL_HTTP_GET = 1,
	SL_HTTP_HEAD,
	SL_HTTP_POST,
	SL_HTTP_PUT,
	SL_HTTP_PATCH,
	SL_HTTP_DELETE,
	SL_HTTP_OPTIONS,
	SL_HTTP_OTHER, /* a valid token we do not serve: 405 */
};

/* One parsed request. Pointers point into the buffer given to
 * sl_http_parse and live as long as it does. */
struct sl_http_req {
	enum sl_http_method method;
	char method_name[16]; /* as sent (truncated), for logs */
	/* Percent-decoded path, NUL-terminated. Never holds "." or ".."
	 * segments, an encoded '/' or '\\', or a NUL (those requests get
	 * reject = 404 or 400). */
	char path[SL_HTTP_PATH_MAX + 1];
	const char *query; /* raw, after '?' (not decoded); query_len 0 if none */
	size_t query_len;
	const char *body;
	size_t body_len;
	const char *authorization; /* header value, or NULL */
	size_t authorization_len;
	const char *content_type; /* header value, or NULL */
	size_t content_type_len;
	uint32_t minor_version; /* HTTP/1.0 or HTTP/1.1 */
	bool keep_alive;	/* the connection may serve another request */
	/* Well framed but refused: the server answers with this status
	 * itself (404 traversal, 400 bad escape) and the handler is not
	 * called. 0 for a request to hand to the handler. */
	int reject;
	uint32_t head_bytes; /* request line + headers + blank line */
};

/*
 * Length of the head (request line, headers, blank line) at the start of
 * buf[0..len), leading empty lines included; 0 while incomplete. *resume
 * (0 at first) remembers where to look next time, so a head arriving a byte
 * at a time is scanned once. Any thread.
 */
size_t sl_http_head_len(const char *buf, size_t len, size_t *resume);

/*
 * Parses one request at the start of buf[0..len). Returns its length in bytes
 * (head + body) when complete, 0 when more bytes are needed, or -STATUS when
 * it cannot be framed or served (400, 405 never, 413, 414, 431, 501, 505):
 * answer that status and close the connection. A complete request may still
 * carry req->reject. Never reads past len. Any thread.
 */
int sl_http_parse(const char *buf, size_t len, struct sl_http_req *req);

/* Value of query parameter `name` (percent-decoded, '+' as space) into out
 * (NUL-terminated). Returns its length, or -ENOENT if absent, or -EINVAL
 * when it does not fit or is badly encoded. */
int sl_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap);

/* The reason phrase of a status ("Not Found"). */
const char *sl_http_status_text(int status);

/* A growable byte buffer with a size cap; a failed append marks it failed
 * (later appends do nothing), so builders check once at the end. */
struct sl_http_buf {
	char *p;
	size_t len, cap;
	size_t max; /* 0: SL_HTTP_RESPONSE_MAX_BYTES */
	bool failed;
};
int sl_http_buf_put(struct sl_http_buf *b, const void *p, size_t n);
static inline int sl_http_buf_puts(struct sl_http_buf *b, const char *s)
{
	return sl_http_buf_put(b, s, __builtin_strlen(s));
}
int sl_http_buf_printf(struct sl_http_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* s[0..n) as a JSON string, quotes included. */
int sl_http_buf_json(struct sl_http_buf *b, const char *s, size_t n);
void sl_http_buf_free(struct sl_http_buf *b);

/* A response being built by a handler. Defaults: 200, text/plain, empty. */
struct sl_http_resp;
void sl_http_resp_status(struct sl_http_resp *r, int status);
/* content_type must outlive the handler call (a literal). */
void sl_http_resp_type(struct sl_http_resp *r, const char *content_type);
/* An extra header; name and value must not hold CR or LF (-EINVAL). */
int sl_http_resp_header(struct sl_http_resp *r, const char *name, const char *value);
/* The body being built (append with sl_http_buf_*). */
struct sl_http_buf *sl_http_resp_body(struct sl_http_resp *r);
/* Close the connection after this response. */
void sl_http_resp_close(struct sl_http_resp *r);

/* Called on the polling thread for each request, in order per connection.
 * Must not block. HEAD requests get the GET response without its body. */
typedef void (*sl_http_handler_fn)(void *ctx, const struct sl_http_req *req,
				   struct sl_http_resp *resp);

struct sl_http_server;

/*
 * Parses "HOST:PORT" (HOST: an IPv4 address, [IPv6], localhost, or "*" / ""
 * for every interface; PORT 0-65535, 0 = any free port) into ss. Returns 0
 * or -EINVAL with the reason in err. Does no DNS.
 */
int sl_http_parse_addr(const char *addr_port, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t cap);
/* True for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104. */
bool sl_http_addr_is_loopback(const struct sockaddr_storage *ss);

/*
 * Sets up the io_uring and, when addr_port is not NULL, listens there and
 * starts accepting. addr_port NULL: a client-only instance (webhooks with
 * the admin server off). Raises the soft RLIMIT_NOFILE towards the hard one
 * when it is too low for SL_HTTP_MAX_CONNS. Returns the server, or NULL with
 * a message in err (bind failures name the address and the reason).
 * Control thread; the server must then be polled from the same thread.
 */
struct sl_http_server *sl_http_listen(const char *addr_port, sl_http_handler_fn handler, void *ctx,
				      char *err, size_t cap);
/*
 * Requires "Authorization: Bearer <token>" on every request whose path is
 * not one of public_paths (NULL-terminated, exact, static), else 401. The
 * token is copied; comparison is constant-time. The token never appears in
 * logs or responses. Returns 0 or -EINVAL (empty or longer than
 * SL_HTTP_TOKEN_MAX).
 */
int sl_http_set_token(struct sl_http_server *s, const char *token, size_t len,
		      const char *const *public_paths);
/* The bound address as "127.0.0.1:43567" ("" for client-only). */
const char *sl_http_addr(const struct sl_http_server *s);
/*
 * Runs the ring for timeout_ms (0: only what is ready): accepts, reads,
 * calls the handler, sends, drops slow or idle clients, drives outgoing
 * requests. Returns the number of requests served, or a negative errno if
 * the ring failed. Control thread.
 */
int sl_http_poll(struct sl_http_server *s, int timeout_ms);
/* Closes every connection, fails pending outgoing requests with
 * -ECANCELED (their callbacks run now), frees everything. NULL is fine. */
void sl_http_close(struct sl_http_server *s);

struct sl_http_stats {
	uint64_t connections_open;     /* now */
	uint64_t connections_accepted; /* since start */
	uint64_t connections_dropped;  /* timeouts, limits, evictions */
	uint64_t requests;	       /* answered, any status */
	uint64_t responses_4xx;
	uint64_t responses_5xx;
};
const struct sl_http_stats *sl_http_stats(const struct sl_http_server *s);

/* ---- client ---- */

/* An http:// URL, parsed once and resolved at start-up. */
struct sl_http_url {
	char host[256]; /* for the Host header */
	uint16_t port;
	char path[1024]; /* path and query, at least "/" */
	struct sockaddr_storage addr;
	socklen_t addr_len; /* 0 until resolved */
};
/* Parses "http://host[:port][/path]". https is refused (-ENOTSUP) with a
 * message. Returns 0 or a negative errno with the reason in err. */
int sl_http_url_parse(const char *url, struct sl_http_url *u, char *err, size_t cap);
/* Resolves u->host (blocking DNS unless it is a literal): call at start-up,
 * never from a handler. Returns 0 or a negative errno with the reason. */
int sl_http_url_resolve(struct sl_http_url *u, char *err, size_t cap);
/* "http://host:port" without the path (paths of webhooks hold secrets). */
const char *sl_http_url_origin(const struct sl_http_url *u, char *buf, size_t cap);

/* Result of an outgoing request: the response status (e.g. 200), or a
 * negative errno (-ETIMEDOUT, -ECONNREFUSED, -ECANCELED, -EPROTO). */
typedef void (*sl_http_done_fn)(void *ctx, int status);
/*
 * POSTs body to u (resolved) with the content type and extra header lines
 * (each "Name: value\r\n"; may be NULL), giving up after timeout_ms. The
 * bytes are copied. done runs exactly once, later, from sl_http_poll or
 * sl_http_close. Returns 0, or -EBUSY when SL_HTTP_MAX_CLIENTS are in flight
 * (done is then not called), or another negative errno.
 */
int sl_http_post(struct sl_http_server *s, const struct sl_http_url *u, const char *content_type,
		 const char *extra_headers, const void *body, size_t len, int timeout_ms,
		 sl_http_done_fn done, void *ctx);

#endif
