/* HTTP/1.1 on the control thread's own io_uring: multishot accept, multishot
 * recv into a shared provided-buffer ring (an idle connection holds no
 * buffer), send; requests answered in order; a small POST client. */
#include "io/http.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/log.h"

/* ---- buffers ---- */

static int buf_reserve(struct sl_http_buf *b, size_t more)
{
	size_t max = b->max ? b->max : SL_HTTP_RESPONSE_MAX_BYTES;
	if (b->failed)
		return -ENOMEM;
	if (b->len + more <= b->cap)
		return 0;
	if (b->len + more > max) {
		b->failed = true;
		return -E2BIG;
	}
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + more)
		cap *= 2;
	if (cap > max)
		cap = max;
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return -ENOMEM;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

int sl_http_buf_put(struct sl_http_buf *b, const void *p, size_t n)
{
	int rc = buf_reserve(b, n);
	if (rc < 0)
		return rc;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

int sl_http_buf_printf(struct sl_http_buf *b, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (b->failed)
			return -ENOMEM;
		size_t room = b->cap - b->len;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return -EINVAL;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return 0;
		}
		int rc = buf_reserve(b, (size_t)n + 1);
		if (rc < 0)
			return rc;
	}
	return -ENOMEM;
}

int sl_http_buf_json(struct sl_http_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (buf_reserve(b, n + 2) < 0)
		return -ENOMEM;
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t k = 0;
		if (c == '"' || c == '\\') {
			esc[k++] = '\\';
			esc[k++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			esc[k++] = '\\';
			esc[k++] = 'u';
			esc[k++] = '0';
			esc[k++] = '0';
			esc[k++] = hex[c >> 4];
			esc[k++] = hex[c & 15];
		} else {
			esc[k++] = (char)c;
		}
		if (buf_reserve(b, k + 1) < 0)
			return -ENOMEM;
		memcpy(b->p + b->len, esc, k);
		b->len += k;
	}
	b->p[b->len++] = '"';
	return 0;
}

void sl_http_buf_free(struct sl_http_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}

/* ---- parsing ---- */

const char *sl_http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 415:
		return "Unsupported Media Type";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Server Error";
	}
}

/* RFC 9110 tchar. */
static bool is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t sl_http_head_len(const char *buf, size_t len, size_t *resume)
{
	size_t start = 0;
	while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
		start++;
	size_t i = SL_MAX(*resume, start);
	for (; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 >= len)
			break;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r') {
			if (i + 2 >= len)
				break;
			if (buf[i + 2] == '\n')
				return i + 3;
		}
	}
	*resume = i;
	return 0;
}

/* Next line of [p, end): sets *eol to its end (before "\r\n" or "\n") and
 * returns the start of the following line. A CR not before LF is an error
 * (NULL). The head is known complete, so a line end always exists. */
static const char *next_line(const char *p, const char *end, const char **eol)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl)
		return NULL;
	const char *e = (nl > p && nl[-1] == '\r') ? nl - 1 : nl;
	if (memchr(p, '\r', (size_t)(e - p)))
		return NULL;
	*eol = e;
	return nl + 1;
}

static bool ieq(const char *a, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

/* Decodes the raw path into req->path; sets req->reject for what must not
 * reach a handler. */
static void decode_path(const char *p, size_t n, struct sl_http_req *req)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '%') {
			int h = i + 2 < n ? hexval((unsigned char)p[i + 1]) : -1;
			int l = i + 2 < n ? hexval((unsigned char)p[i + 2]) : -1;
			if (i + 2 >= n || h < 0 || l < 0) {
				req->reject = 400;
				break;
			}
			c = (unsigned char)(h * 16 + l);
			i += 2;
			if (c == '/' || c == '\\') { /* encoded separators: traversal tricks */
				req->reject = 404;
				break;
			}
			if (c == 0) {
				req->reject = 400;
				break;
			}
		} else if (c == '\\') {
			req->reject = 404;
			break;
		}
		req->path[o++] = (char)c;
	}
	req->path[o] = '\0';
	if (req->reject)
		return;
	/* "." and ".." segments, decoded: /a/../b, /%2e%2e/, /a/. */
	const char *s = req->path;
	while (*s) {
		const char *seg = s + (*s == '/');
		const char *e = strchr(seg, '/');
		size_t sl = e ? (size_t)(e - seg) : strlen(seg);
		if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
			req->reject = 404;
			return;
		}
		s = seg + sl;
	}
}

static void set_method(struct sl_http_req *req, const char *m, size_t n)
{
	static const struct {
		const char *name;
		enum sl_http_method m;
	} known[] = {{"GET", SL_HTTP_GET},	  {"HEAD", SL_HTTP_HEAD},
		     {"POST", SL_HTTP_POST},	  {"PUT", SL_HTTP_PUT},
		     {"PATCH", SL_HTTP_PATCH},	  {"DELETE", SL_HTTP_DELETE},
		     {"OPTIONS", SL_HTTP_OPTIONS}};
	size_t k = SL_MIN(n, sizeof(req->method_name) - 1);
	memcpy(req->method_name, m, k);
	req->method_name[k] = '\0';
	req->method = SL_HTTP_OTHER;
	for (size_t i = 0; i < SL_ARRAY_LEN(known); i++)
		if (strlen(known[i].name) == n && memcmp(known[i].name, m, n) == 0)
			req->method = known[i].m;
}

int sl_http_parse(const char *buf, size_t len, struct sl_http_req *req)
{
	memset(req, 0, sizeof(*req));
	size_t start = 0;
	while (start < len && (buf[start] == '\r' || buf[start] == '\n'))
		start++;
	size_t resume = 0;
	size_t head = sl_http_head_len(buf, len, &resume);
	if (!head) {
		if (len - start > SL_HTTP_HEADER_MAX_BYTES)
			return memchr(buf + start, '\n', len - start) ? -431 : -414;
		return 0;
	}
	if (head - start > SL_HTTP_HEADER_MAX_BYTES)
		return -431;
	req->head_bytes = (uint32_t)(head - start);
	const char *p = buf + start, *end = buf + head, *eol;

	/* Request line: METHOD SP target SP HTTP/1.x */
	const char *next = next_line(p, end, &eol);
	if (!next)
		return -400;
	const char *sp = memchr(p, ' ', (size_t)(eol - p));
	if (!sp || sp == p)
		return -400;
	for (const char *q = p; q < sp; q++)
		if (!is_tchar((unsigned char)*q))
			return -400;
	if (sp - p > 15)
		return -400; /* no method we could serve is that long */
	set_method(req, p, (size_t)(sp - p));
	const char *t = sp + 1;
	const char *sp2 = memchr(t, ' ', (size_t)(eol - t));
	if (!sp2 || sp2 == t)
		return -400;
	const char *v = sp2 + 1;
	size_t vl = (size_t)(eol - v);
	if (vl != 8 || memcmp(v, "HTTP/", 5) != 0 || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
	    v[7] < '0' || v[7] > '9')
		return -400;
	if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
		return -505;
	req->minor_version = (uint32_t)(v[7] - '0');
	for (const char *q = t; q < sp2; q++) {
		unsigned char c = (unsigned char)*q;
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return -400;
	}
	/* absolute-form: http://authority/path -> /path */
	if ((size_t)(sp2 - t) >= 7 &&
	    (strncasecmp(t, "http://", 7) == 0 ||
	     ((size_t)(sp2 - t) >= 8 && strncasecmp(t, "https://", 8) == 0))) {
		const char *a = memchr(t, ':', (size_t)(sp2 - t)) + 3;
		const char *slash = memchr(a, '/', (size_t)(sp2 - a));
		const char *qm = memchr(a, '?', (size_t)(sp2 - a));
		if (!slash || (qm && qm < slash))
			return -400; /* origin-form path required after the authority */
		t = slash;
	}
	if (*t != '/') {
		if (!(req->method == SL_HTTP_OPTIONS && sp2 - t == 1 && *t == '*'))
			return -400;
	}
	const char *qmark = memchr(t, '?', (size_t)(sp2 - t));
	const char *pend = qmark ? qmark : sp2;
	if ((size_t)(pend - t) > SL_HTTP_PATH_MAX)
		return -414;
	if (qmark) {
		req->query = qmark + 1;
		req->query_len = (size_t)(sp2 - qmark - 1);
	}
	decode_path(t, (size_t)(pend - t), req);

	/* Headers. */
	uint32_t n_headers = 0, n_host = 0;
	bool have_cl = false, close = false, keep = false;
	uint64_t cl = 0;
	p = next;
	for (;;) {
		next = next_line(p, end, &eol);
		if (!next)
			return -400;
		if (eol == p)
			break; /* the blank line */
		if (*p == ' ' || *p == '\t')
			return -400; /* obsolete line folding */
		if (++n_headers > SL_HTTP_MAX_HEADERS)
			return -431;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		if (!colon || colon == p)
			return -400;
		for (const char *q = p; q < colon; q++)
			if (!is_tchar((unsigned char)*q))
				return -400; /* includes space before ':' */
		const char *val = colon + 1, *vend = eol;
		while (val < vend && (*val == ' ' || *val == '\t'))
			val++;
		while (vend > val && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		for (const char *q = val; q < vend; q++) {
			unsigned char c = (unsigned char)*q;
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return -400;
		}
		size_t nl = (size_t)(colon - p), vlen = (size_t)(vend - val);
		if (ieq(p, nl, "content-length")) {
			if (vlen == 0 || vlen > 10)
				return vlen > 10 ? -413 : -400;
			uint64_t x = 0;
			for (size_t i = 0; i < vlen; i++) {
				if (val[i] < '0' || val[i] > '9')
					return -400;
				x = x * 10 + (uint64_t)(val[i] - '0');
			}
			if (have_cl && x != cl)
				return -400;
			have_cl = true;
			cl = x;
		} else if (ieq(p, nl, "transfer-encoding")) {
			return -501; /* chunked request bodies: not served */
		} else if (ieq(p, nl, "host")) {
			n_host++;
		} else if (ieq(p, nl, "connection")) {
			const char *s = val;
			while (s < vend) {
				const char *c = memchr(s, ',', (size_t)(vend - s));
				const char *te = c ? c : vend, *ts = s;
				while (ts < te && (*ts == ' ' || *ts == '\t'))
					ts++;
				while (te > ts && (te[-1] == ' ' || te[-1] == '\t'))
					te--;
				if (ieq(ts, (size_t)(te - ts), "close"))
					close = true;
				else if (ieq(ts, (size_t)(te - ts), "keep-alive"))
					keep = true;
				s = c ? c + 1 : vend;
			}
		} else if (ieq(p, nl, "authorization")) {
			req->authorization = val;
			req->authorization_len = vlen;
		} else if (ieq(p, nl, "content-type")) {
			req->content_type = val;
			req->content_type_len = vlen;
		}
		p = next;
	}
	if (req->minor_version == 1 ? n_host != 1 : n_host > 1)
		return -400; /* RFC 9112 3.2: exactly one Host in HTTP/1.1 */
	if (cl > SL_HTTP_BODY_MAX_BYTES)
		return -413;
	req->keep_alive = req->minor_version == 1 ? !close : (keep && !close);
	if (len - head < cl)
		return 0;
	req->body = buf + head;
	req->body_len = (size_t)cl;
	return (int)(head + cl);
}

int sl_http_query_get(const char *query, size_t query_len, const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	const char *p = query, *end = query + query_len;
	while (p && p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(pe - p));
		const char *ke = eq ? eq : pe;
		if ((size_t)(ke - p) == nlen && memcmp(p, name, nlen) == 0) {
			size_t o = 0;
			for (const char *v = eq ? eq + 1 : pe; v < pe; v++) {
				int c = (unsigned char)*v;
				if (c == '+') {
					c = ' ';
				} else if (c == '%') {
					int h = v + 2 < pe ? hexval((unsigned char)v[1]) : -1;
					int l = v + 2 < pe ? hexval((unsigned char)v[2]) : -1;
					if (h < 0 || l < 0 || (h == 0 && l == 0))
						return -EINVAL;
					c = h * 16 + l;
					v += 2;
				}
				if (o + 1 >= cap)
					return -EINVAL;
				out[o++] = (char)c;
			}
			if (cap == 0)
				return -EINVAL;
			out[o] = '\0';
			return (int)o;
		}
		p = amp ? amp + 1 : NULL;
	}
	return -ENOENT;
}

/* ---- addresses ---- */

int sl_http_parse_addr(const char *addr_port, struct sockaddr_storage *ss, socklen_t *len,
		       char *err, size_t cap)
{
	memset(ss, 0, sizeof(*ss));
	const char *colon = strrchr(addr_port, ':');
	if (!colon) {
		snprintf(err, cap, "'%s' is not HOST:PORT (e.g. 127.0.0.1:8081)", addr_port);
		return -EINVAL;
	}
	char host[128];
	size_t hl = (size_t)(colon - addr_port);
	if (hl >= sizeof(host)) {
		snprintf(err, cap, "host part of '%s' is too long", addr_port);
		return -EINVAL;
	}
	memcpy(host, addr_port, hl);
	host[hl] = '\0';
	const char *ps = colon + 1;
	char *pe;
	if (!*ps || strspn(ps, "0123456789") != strlen(ps) || strlen(ps) > 5 ||
	    strtol(ps, &pe, 10) > 65535) {
		snprintf(err, cap, "'%s': port must be a number 0-65535", addr_port);
		return -EINVAL;
	}
	uint16_t port = (uint16_t)strtol(ps, &pe, 10);
	if (host[0] == '[') {
		size_t l = strlen(host);
		if (l < 3 || host[l - 1] != ']') {
			snprintf(err, cap, "'%s': IPv6 addresses go in brackets, e.g. [::1]:8081",
				 addr_port);
			return -EINVAL;
		}
		host[l - 1] = '\0';
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1) {
			snprintf(err, cap, "'%s': not an IPv6 address", addr_port);
			return -EINVAL;
		}
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		*len = sizeof(*a6);
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(port);
	*len = sizeof(*a4);
	if (host[0] == '\0' || strcmp(host, "*") == 0) {
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (strcmp(host, "localhost") == 0) {
		a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
		snprintf(
		    err, cap,
		    "'%s': host must be an IPv4 address, [IPv6], localhost or * (no DNS names)",
		    addr_port);
		return -EINVAL;
	}
	return 0;
}

bool sl_http_addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		if (IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static void format_addr(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		snprintf(buf, cap, "%s:%u", host, ntohs(a4->sin_port));
	} else {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		snprintf(buf, cap, "[%s]:%u", host, ntohs(a6->sin6_port));
	}
}

/* ---- server ---- */

/* Provided receive buffers, shared by every connection. */
#define RECV_BUF_BYTES 4096u
#define RECV_BUFS 64u
#define RECV_BGID 7
/* Slots beyond the connection limit: closing connections hold theirs until
 * their last completion arrives. */
#define CONN_SLOTS (SL_HTTP_MAX_CONNS + 64u)
#define SWEEP_NS (250 * 1000000ll)
#define MS_NS 1000000ll

enum op { OP_ACCEPT = 1, OP_RECV, OP_SEND, OP_CANCEL, OP_CLI };

static inline uint64_t ud(enum op op, uint32_t idx, uint32_t gen)
{
	return ((uint64_t)op << 56) | ((uint64_t)(gen & 0xffffffu) << 32) | idx;
}
static inline enum op ud_op(uint64_t u)
{
	return (enum op)(u >> 56);
}
static inline uint32_t ud_idx(uint64_t u)
{
	return (uint32_t)u;
}
static inline uint32_t ud_gen(uint64_t u)
{
	return (uint32_t)(u >> 32) & 0xffffffu;
}

enum conn_state { CONN_FREE, CONN_OPEN, CONN_LINGER, CONN_CLOSING };

struct conn {
	int fd;
	uint32_t idx, gen;
	enum conn_state state;
	bool recv_armed;  /* a multishot recv is in flight */
	bool cancel_sent; /* ... and we asked the kernel to end it */
	bool rearm;	  /* on the re-arm list */
	bool send_busy;
	bool close_after; /* the last response is queued: linger, then close */
	bool peer_eof;
	char *in; /* bytes of the request(s) being read; NULL when none */
	uint32_t in_len, in_cap;
	size_t head_resume;
	struct sl_http_buf out;	 /* being sent (frozen while send_busy) */
	struct sl_http_buf next; /* responses queued behind it */
	size_t sent;
	int64_t req_start_ns, last_ns, send_ns, linger_until_ns;
	struct conn *next_free;
};

enum cli_state { CLI_FREE, CLI_CONNECT, CLI_SEND, CLI_RECV, CLI_DONE };

struct client {
	int fd;
	uint32_t gen;
	enum cli_state state;
	bool busy; /* an operation in flight */
	int result;
	char *req;
	size_t req_len, sent;
	char resp[512];
	size_t resp_len;
	int64_t deadline_ns;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	sl_http_done_fn done;
	void *ctx;
};

struct sl_http_resp {
	int status;
	const char *type;
	char extra[512];
	size_t extra_len;
	bool close;
	struct sl_http_buf *body;
};

struct sl_http_server {
	struct io_uring ring;
	bool ring_ready;
	int listen_fd;
	bool accept_armed;
	int64_t accept_retry_ns;
	sl_http_handler_fn handler;
	void *ctx;

	struct conn *conns; /* [CONN_SLOTS] */
	struct conn *free_list;
	uint32_t n_active; /* OPEN or LINGER */
	uint32_t *rearm;   /* connections whose recv ended and must be re-armed */
	uint32_t n_rearm;

	struct io_uring_buf_ring *br;
	char *bufs;
	bool br_registered;

	struct client clients[SL_HTTP_MAX_CLIENTS];

	char token[SL_HTTP_TOKEN_MAX];
	size_t token_len;
	bool has_token;
	const char *const *public_paths;

	char addr[80];
	int64_t next_sweep_ns;
	int64_t now_ns;
	struct sl_http_buf body; /* handlers build here; reused */
	struct sl_http_stats stats;
	struct sl_ratelimit rl;
};

static struct io_uring_sqe *get_sqe(struct sl_http_server *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
	if (!sqe) {
		io_uring_submit(&s->ring);
		sqe = io_uring_get_sqe(&s->ring);
	}
	SL_ASSERT(sqe); /* the submit just emptied the queue */
	return sqe;
}

static void arm_accept(struct sl_http_server *s)
{
	struct io_uring_sqe *sqe = get_sqe(s);
	io_uring_prep_multishot_accept(sqe, s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud(OP_ACCEPT, 0, 0));
	s->accept_armed = true;
}

static void arm_recv(struct sl_http_server *s, struct conn *c)
{
	SL_ASSERT(!c->recv_armed && c->fd >= 0);
	struct io_uring_sqe *sqe = get_sqe(s);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RECV_BGID;
	io_uring_sqe_set_data64(sqe, ud(OP_RECV, c->idx, c->gen));
	c->recv_armed = true;
	c->cancel_sent = false;
}

static void cancel_recv(struct sl_http_server *s, struct conn *c)
{
	if (!c->recv_armed || c->cancel_sent)
		return;
	struct io_uring_sqe *sqe = get_sqe(s);
	io_uring_prep_cancel64(sqe, ud(OP_RECV, c->idx, c->gen), 0);
	io_uring_sqe_set_data64(sqe, ud(OP_CANCEL, 0, 0));
	c->cancel_sent = true;
}

static void buf_return(struct sl_http_server *s, uint32_t bid)
{
	io_uring_buf_ring_add(s->br, s->bufs + (size_t)bid * RECV_BUF_BYTES, RECV_BUF_BYTES,
			      (unsigned short)bid, io_uring_buf_ring_mask(RECV_BUFS), 0);
	io_uring_buf_ring_advance(s->br, 1);
}

static void conn_release_bufs(struct conn *c)
{
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	c->head_resume = 0;
	sl_http_buf_free(&c->out);
	sl_http_buf_free(&c->next);
	c->sent = 0;
}

/* Frees c's slot once no send of its buffers is in flight. A recv may still
 * be armed: its completions carry the old generation and are dropped (their
 * buffers given back), so an idle connection's slot is free at once. */
static void conn_maybe_free(struct sl_http_server *s, struct conn *c)
{
	if (c->state != CONN_CLOSING || c->send_busy)
		return;
	close(c->fd);
	conn_release_bufs(c);
	c->fd = -1;
	c->gen++;
	c->recv_armed = c->cancel_sent = false;
	c->state = CONN_FREE;
	c->next_free = s->free_list;
	s->free_list = c;
	s->stats.connections_open--;
}

/* Starts closing c: no more reading or writing. */
static void conn_close(struct sl_http_server *s, struct conn *c, bool dropped)
{
	if (c->state == CONN_CLOSING || c->state == CONN_FREE)
		return;
	if (dropped)
		s->stats.connections_dropped++;
	SL_ASSERT(s->n_active > 0);
	s->n_active--;
	c->state = CONN_CLOSING;
	/* Ends a pending recv (EOF) and send (EPIPE) promptly; the cancel
	 * covers a recv the shutdown does not wake. The file stays open in
	 * the kernel until those operations end, whatever the fd does. */
	shutdown(c->fd, SHUT_RDWR);
	cancel_recv(s, c);
	conn_maybe_free(s, c);
}

static void want_rearm(struct sl_http_server *s, struct conn *c)
{
	if (c->rearm)
		return;
	c->rearm = true;
	s->rearm[s->n_rearm++] = c->idx;
	SL_ASSERT(s->n_rearm <= CONN_SLOTS);
}

static void maybe_arm_recv(struct sl_http_server *s, struct conn *c)
{
	if ((c->state == CONN_OPEN || c->state == CONN_LINGER) && !c->recv_armed && !c->peer_eof &&
	    c->in_len < SL_HTTP_IN_MAX_BYTES)
		arm_recv(s, c);
}

static void start_linger(struct sl_http_server *s, struct conn *c)
{
	/* Our side is done; reading on until EOF (or a short while) lets the
	 * client see the response instead of a reset caused by unread input. */
	c->state = CONN_LINGER;
	c->linger_until_ns = s->now_ns + SL_HTTP_LINGER_MS * MS_NS;
	free(c->in);
	c->in = NULL;
	c->in_len = c->in_cap = 0;
	shutdown(c->fd, SHUT_WR);
	if (c->peer_eof)
		conn_close(s, c, false);
	else
		maybe_arm_recv(s, c);
}

static void flush_send(struct sl_http_server *s, struct conn *c)
{
	if (c->send_busy || c->state != CONN_OPEN)
		return;
	if (c->sent == c->out.len) {
		c->out.len = 0;
		c->sent = 0;
		if (c->next.len) {
			struct sl_http_buf t = c->out;
			c->out = c->next;
			c->next = t;
		}
	}
	if (c->out.len > c->sent) {
		struct io_uring_sqe *sqe = get_sqe(s);
		io_uring_prep_send(sqe, c->fd, c->out.p + c->sent, c->out.len - c->sent,
				   MSG_NOSIGNAL);
		io_uring_sqe_set_data64(sqe, ud(OP_SEND, c->idx, c->gen));
		c->send_busy = true;
		c->send_ns = s->now_ns;
		return;
	}
	/* Nothing left to send: an idle connection keeps no buffers. */
	sl_http_buf_free(&c->out);
	sl_http_buf_free(&c->next);
	if (c->close_after)
		start_linger(s, c);
	else if (c->peer_eof)
		conn_close(s, c, false); /* what is left can never complete */
}

static bool auth_ok(const struct sl_http_server *s, const struct sl_http_req *req)
{
	if (!s->has_token)
		return true;
	for (const char *const *p = s->public_paths; p && *p; p++)
		if (strcmp(req->path, *p) == 0)
			return true;
	if (!req->authorization || req->authorization_len < 7 ||
	    strncasecmp(req->authorization, "Bearer ", 7) != 0)
		return false;
	const char *t = req->authorization + 7;
	size_t n = req->authorization_len - 7;
	while (n && *t == ' ') {
		t++;
		n--;
	}
	if (n > SL_HTTP_TOKEN_MAX)
		return false;
	/* Constant time in the token's bytes: every byte of both padded
	 * copies is compared whatever matches. */
	unsigned char pad[SL_HTTP_TOKEN_MAX] = {0};
	memcpy(pad, t, n);
	unsigned diff = (unsigned)(n ^ s->token_len);
	for (size_t i = 0; i < SL_HTTP_TOKEN_MAX; i++)
		diff |= (unsigned)(pad[i] ^ (unsigned char)s->token[i]);
	return diff == 0;
}

/* Appends the response (head, then body unless HEAD) to c's queue. */
static void queue_response(struct sl_http_server *s, struct conn *c, struct sl_http_resp *r,
			   bool head_only, bool keep_alive)
{
	if (r->body->failed) {
		r->status = 500;
		r->type = "text/plain; charset=utf-8";
		r->body->failed = false;
		r->body->len = 0;
		r->extra_len = 0;
		sl_http_buf_puts(r->body, "response too large\n");
	}
	if (!keep_alive || r->close)
		c->close_after = true;
	s->stats.requests++;
	if (r->status >= 400 && r->status < 500)
		s->stats.responses_4xx++;
	else if (r->status >= 500)
		s->stats.responses_5xx++;
	struct sl_http_buf *o = &c->next;
	o->max = SL_HTTP_RESPONSE_MAX_BYTES + 4096;
	sl_http_buf_printf(o,
			   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			   "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
			   "%.*sConnection: %s\r\n\r\n",
			   r->status, sl_http_status_text(r->status), r->type, r->body->len,
			   (int)r->extra_len, r->extra, c->close_after ? "close" : "keep-alive");
	if (!head_only)
		sl_http_buf_put(o, r->body->p, r->body->len);
	if (o->failed) {
		sl_log(SL_LOG_WARN, -1, NULL, "msg=\"admin: response dropped: out of memory\"");
		conn_close(s, c, true);
	}
}

static void resp_init(struct sl_http_server *s, struct sl_http_resp *r)
{
	r->status = 200;
	r->type = "text/plain; charset=utf-8";
	r->extra_len = 0;
	r->close = false;
	r->body = &s->body;
	s->body.len = 0;
	s->body.failed = false;
}

/* A response the server writes itself: status text as the body. */
static void respond_status(struct sl_http_server *s, struct conn *c, int status, bool close)
{
	struct sl_http_resp r;
	resp_init(s, &r);
	r.status = status;
	r.close = close;
	if (status == 401)
		sl_http_resp_header(&r, "WWW-Authenticate", "Bearer realm=\"sluice\"");
	if (status == 405)
		sl_http_resp_header(&r, "Allow", "GET, HEAD, PATCH, POST");
	sl_http_buf_printf(r.body, "%d %s\n", status, sl_http_status_text(status));
	queue_response(s, c, &r, false, !close);
}

static void handle(struct sl_http_server *s, struct conn *c, const struct sl_http_req *req)
{
	if (req->reject) {
		respond_status(s, c, req->reject, !req->keep_alive);
	} else if (req->method == SL_HTTP_OTHER) {
		respond_status(s, c, 405, !req->keep_alive);
	} else if (!auth_ok(s, req)) {
		respond_status(s, c, 401, !req->keep_alive);
	} else {
		struct sl_http_resp r;
		resp_init(s, &r);
		if (s->handler)
			s->handler(s->ctx, req, &r);
		else
			r.status = 404;
		queue_response(s, c, &r, req->method == SL_HTTP_HEAD, req->keep_alive);
	}
	if (sl_log_enabled(SL_LOG_DEBUG)) {
		char q[256];
		sl_log(SL_LOG_DEBUG, -1, NULL, "msg=\"admin request\" method=%s path=%s",
		       req->method_name, sl_log_quote(req->path, strlen(req->path), q, sizeof(q)));
	}
}

static size_t unsent(const struct conn *c)
{
	return c->out.len - c->sent + c->next.len;
}

/* Answers every complete request buffered on c, in order, while the
 * output queue is short. */
static void conn_process(struct sl_http_server *s, struct conn *c)
{
	while (c->state == CONN_OPEN && c->in_len > 0 && !c->close_after) {
		if (unsent(c) > SL_HTTP_OUT_HIGH_BYTES)
			break;
		size_t head = sl_http_head_len(c->in, c->in_len, &c->head_resume);
		if (!head && c->in_len <= SL_HTTP_HEADER_MAX_BYTES)
			break;
		struct sl_http_req req;
		int n = sl_http_parse(c->in, c->in_len, &req);
		if (n == 0)
			break; /* the body is on its way */
		if (n < 0) {
			respond_status(s, c, -n, true);
			c->in_len = 0;
			break;
		}
		handle(s, c, &req);
		if (c->state != CONN_OPEN)
			return; /* closed while answering (out of memory) */
		SL_ASSERT((uint32_t)n <= c->in_len);
		memmove(c->in, c->in + n, c->in_len - (uint32_t)n);
		c->in_len -= (uint32_t)n;
		c->head_resume = 0;
		c->req_start_ns = s->now_ns;
		/* Leading empty lines between requests are skipped. */
		uint32_t skip = 0;
		while (skip < c->in_len && (c->in[skip] == '\r' || c->in[skip] == '\n'))
			skip++;
		if (skip) {
			memmove(c->in, c->in + skip, c->in_len - skip);
			c->in_len -= skip;
		}
	}
	if (c->in_len == 0 && c->in) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
		c->head_resume = 0;
	}
	flush_send(s, c);
	if (c->state == CONN_OPEN && !c->recv_armed && !c->rearm)
		maybe_arm_recv(s, c);
}

static void conn_input(struct sl_http_server *s, struct conn *c, const char *data, size_t n)
{
	c->last_ns = s->now_ns;
	if (c->close_after)
		return; /* a final response is queued: the rest is not read */
	if (c->in_len == 0) {
		while (n && (*data == '\r' || *data == '\n')) {
			data++;
			n--;
		}
		if (!n)
			return;
		c->req_start_ns = s->now_ns;
	}
	/* Past the limit only when many pipelined requests wait for their
	 * output; the recv was paused then, and what was still in flight is
	 * bounded by the provided buffers. */
	if (c->in_len + n > SL_HTTP_IN_MAX_BYTES + RECV_BUFS * RECV_BUF_BYTES) {
		conn_close(s, c, true);
		return;
	}
	if (c->in_len + n > c->in_cap) {
		uint32_t cap = c->in_cap ? c->in_cap : 1024;
		while (cap < c->in_len + n)
			cap *= 2;
		char *p = realloc(c->in, cap);
		if (!p) {
			conn_close(s, c, true);
			return;
		}
		c->in = p;
		c->in_cap = cap;
	}
	memcpy(c->in + c->in_len, data, n);
	c->in_len += (uint32_t)n;
	conn_process(s, c);
	if (c->state == CONN_OPEN && c->in_len >= SL_HTTP_IN_MAX_BYTES)
		cancel_recv(s, c); /* pause reading until the output drains */
}

static struct conn *conn_alloc(struct sl_http_server *s)
{
	if (s->n_active >= SL_HTTP_MAX_CONNS) {
		/* Make room: close the connection idle the longest. */
		struct conn *old = NULL;
		for (uint32_t i = 0; i < CONN_SLOTS; i++) {
			struct conn *c = &s->conns[i];
			if (c->state == CONN_OPEN && c->in_len == 0 && !c->send_busy &&
			    unsent(c) == 0 && (!old || c->last_ns < old->last_ns))
				old = c;
		}
		if (!old)
			return NULL;
		conn_close(s, old, true);
	}
	struct conn *c = s->free_list;
	if (!c)
		return NULL;
	s->free_list = c->next_free;
	SL_ASSERT(c->state == CONN_FREE && !c->recv_armed && !c->send_busy);
	return c;
}

static void on_accept(struct sl_http_server *s, struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		s->accept_armed = false;
		s->accept_retry_ns = s->now_ns + (cqe->res < 0 ? 100 * MS_NS : 0);
	}
	if (cqe->res < 0) {
		uint64_t supp;
		if (cqe->res != -ECANCELED && sl_ratelimit_ok(&s->rl, &supp))
			sl_log(SL_LOG_WARN, -1, NULL,
			       "msg=\"admin: accept failed\" error=\"%s\" suppressed=%" PRIu64,
			       strerror(-cqe->res), supp);
		return;
	}
	int fd = cqe->res;
	struct conn *c = conn_alloc(s);
	if (!c) {
		static const char busy[] =
		    "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
		    "Connection: close\r\n\r\n";
		ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		(void)w;
		close(fd);
		s->stats.connections_dropped++;
		return;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = CONN_OPEN;
	c->close_after = c->peer_eof = false; /* rearm: a list entry may outlive a connection */
	c->last_ns = c->req_start_ns = s->now_ns;
	s->n_active++;
	s->stats.connections_open++;
	s->stats.connections_accepted++;
	arm_recv(s, c);
}

static void on_recv(struct sl_http_server *s, struct conn *c, struct io_uring_cqe *cqe)
{
	int res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (res > 0) {
		SL_ASSERT(cqe->flags & IORING_CQE_F_BUFFER);
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		SL_ASSERT(bid < RECV_BUFS);
		if (c->state == CONN_OPEN)
			conn_input(s, c, s->bufs + (size_t)bid * RECV_BUF_BYTES, (size_t)res);
		buf_return(s, bid);
	} else if (res == 0) {
		c->peer_eof = true;
		if (c->state == CONN_LINGER)
			conn_close(s, c, false);
		else if (c->state == CONN_OPEN && !c->send_busy && unsent(c) == 0)
			conn_close(s, c, false);
		/* else: answer what was asked (a half-closed client), then close */
	} else if (res != -ENOBUFS && res != -ECANCELED) {
		conn_close(s, c, false);
	}
	if (!c->recv_armed && (c->state == CONN_OPEN || c->state == CONN_LINGER))
		want_rearm(s, c); /* after this batch: the buffers are back then */
}

static void on_send(struct sl_http_server *s, struct conn *c, struct io_uring_cqe *cqe)
{
	c->send_busy = false;
	if (c->state == CONN_CLOSING) {
		conn_maybe_free(s, c);
		return;
	}
	if (cqe->res < 0) {
		conn_close(s, c, false);
		return;
	}
	c->sent += (size_t)cqe->res;
	SL_ASSERT(c->sent <= c->out.len);
	c->send_ns = s->now_ns;
	flush_send(s, c);
	conn_process(s, c); /* requests held back by a full output queue */
}

/* ---- client ---- */

static void cli_submit(struct sl_http_server *s, struct client *k)
{
	uint32_t idx = (uint32_t)(k - s->clients);
	struct io_uring_sqe *sqe = get_sqe(s);
	switch (k->state) {
	case CLI_CONNECT:
		io_uring_prep_connect(sqe, k->fd, (struct sockaddr *)&k->addr, k->addr_len);
		break;
	case CLI_SEND:
		io_uring_prep_send(sqe, k->fd, k->req + k->sent, k->req_len - k->sent,
				   MSG_NOSIGNAL);
		break;
	case CLI_RECV:
		io_uring_prep_recv(sqe, k->fd, k->resp + k->resp_len,
				   sizeof(k->resp) - 1 - k->resp_len, 0);
		break;
	default:
		SL_ASSERT(!"client state with no operation");
	}
	io_uring_sqe_set_data64(sqe, ud(OP_CLI, idx, k->gen));
	k->busy = true;
}

/* Ends k with result; the callback runs once no operation is in flight. */
static void cli_finish(struct sl_http_server *s, struct client *k, int result)
{
	if (k->state != CLI_DONE) {
		k->state = CLI_DONE;
		k->result = result;
		shutdown(k->fd, SHUT_RDWR);
		if (k->busy) {
			uint32_t idx = (uint32_t)(k - s->clients);
			struct io_uring_sqe *sqe = get_sqe(s);
			io_uring_prep_cancel64(sqe, ud(OP_CLI, idx, k->gen), 0);
			io_uring_sqe_set_data64(sqe, ud(OP_CANCEL, 0, 0));
		}
	}
	if (k->busy)
		return;
	close(k->fd);
	free(k->req);
	k->req = NULL;
	k->fd = -1;
	k->gen++;
	k->state = CLI_FREE;
	sl_http_done_fn done = k->done;
	k->done = NULL;
	if (done)
		done(k->ctx, k->result);
}

static int parse_status_line(const char *p, size_t n)
{
	/* "HTTP/1.x NNN" */
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
		return -EPROTO;
	int st = 0;
	for (int i = 9; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -EPROTO;
		st = st * 10 + (p[i] - '0');
	}
	return st;
}

static void on_client(struct sl_http_server *s, struct client *k, struct io_uring_cqe *cqe)
{
	k->busy = false;
	int res = cqe->res;
	if (k->state == CLI_DONE) {
		cli_finish(s, k, k->result);
		return;
	}
	if (res < 0) {
		cli_finish(s, k, res);
		return;
	}
	switch (k->state) {
	case CLI_CONNECT:
		k->state = CLI_SEND;
		cli_submit(s, k);
		break;
	case CLI_SEND:
		k->sent += (size_t)res;
		if (k->sent == k->req_len)
			k->state = CLI_RECV;
		cli_submit(s, k);
		break;
	case CLI_RECV:
		k->resp_len += (size_t)res;
		if (res == 0 || memchr(k->resp, '\n', k->resp_len) ||
		    k->resp_len + 1 >= sizeof(k->resp)) {
			cli_finish(s, k, parse_status_line(k->resp, k->resp_len));
			return;
		}
		cli_submit(s, k);
		break;
	default:
		break;
	}
}

int sl_http_url_parse(const char *url, struct sl_http_url *u, char *err, size_t cap)
{
	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0) {
		snprintf(err, cap,
			 "https webhooks are not supported yet: use http:// (e.g. a local "
			 "relay)");
		return -ENOTSUP;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, cap, "expected an http:// URL");
		return -EINVAL;
	}
	const char *a = url + 7;
	size_t al = strcspn(a, "/?#");
	if (a[al] == '#' || strchr(a, '#')) {
		snprintf(err, cap, "a webhook URL has no #fragment");
		return -EINVAL;
	}
	if (al == 0 || al >= sizeof(u->host) || memchr(a, '@', al)) {
		snprintf(err, cap, "expected http://HOST[:PORT]/PATH (no user info)");
		return -EINVAL;
	}
	char auth[256];
	memcpy(auth, a, al);
	auth[al] = '\0';
	char *portp = NULL;
	if (auth[0] == '[') {
		char *rb = strchr(auth, ']');
		if (!rb) {
			snprintf(err, cap, "unclosed [ in the host");
			return -EINVAL;
		}
		if (rb[1] == ':')
			portp = rb + 2;
		else if (rb[1]) {
			snprintf(err, cap, "expected :PORT after ]");
			return -EINVAL;
		}
		rb[1] = '\0';
	} else if ((portp = strchr(auth, ':'))) {
		*portp++ = '\0';
	}
	u->port = 80;
	if (portp) {
		if (!*portp || strspn(portp, "0123456789") != strlen(portp) || strlen(portp) > 5 ||
		    atoi(portp) < 1 || atoi(portp) > 65535) {
			snprintf(err, cap, "port must be a number 1-65535");
			return -EINVAL;
		}
		u->port = (uint16_t)atoi(portp);
	}
	if (!auth[0]) {
		snprintf(err, cap, "the URL has no host");
		return -EINVAL;
	}
	snprintf(u->host, sizeof(u->host), "%s", auth);
	const char *path = a + al;
	if (strlen(path) + 2 > sizeof(u->path)) {
		snprintf(err, cap, "the URL path is too long");
		return -EINVAL;
	}
	for (const char *q = path; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f) {
			snprintf(err, cap, "the URL holds a space or control character");
			return -EINVAL;
		}
	snprintf(u->path, sizeof(u->path), "%s%s", *path == '/' ? "" : "/", path);
	return 0;
}

int sl_http_url_resolve(struct sl_http_url *u, char *err, size_t cap)
{
	char host[256];
	snprintf(host, sizeof(host), "%s", u->host);
	if (host[0] == '[') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", u->port);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(err, cap, "cannot resolve '%s': %s", host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	memcpy(&u->addr, res->ai_addr, res->ai_addrlen);
	u->addr_len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *sl_http_url_origin(const struct sl_http_url *u, char *buf, size_t cap)
{
	snprintf(buf, cap, "http://%s:%u", u->host, u->port);
	return buf;
}

int sl_http_post(struct sl_http_server *s, const struct sl_http_url *u, const char *content_type,
		 const char *extra_headers, const void *body, size_t len, int timeout_ms,
		 sl_http_done_fn done, void *ctx)
{
	if (!u->addr_len)
		return -EDESTADDRREQ;
	struct client *k = NULL;
	for (uint32_t i = 0; i < SL_HTTP_MAX_CLIENTS && !k; i++)
		if (s->clients[i].state == CLI_FREE)
			k = &s->clients[i];
	if (!k)
		return -EBUSY;
	struct sl_http_buf b = {.max = SL_HTTP_BODY_MAX_BYTES * 16};
	sl_http_buf_printf(&b,
			   "POST %s HTTP/1.1\r\nHost: %s:%u\r\nUser-Agent: sluice/%s\r\n"
			   "Content-Type: %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n",
			   u->path, u->host, u->port, SLUICE_VERSION, content_type, len,
			   extra_headers ? extra_headers : "");
	sl_http_buf_put(&b, body, len);
	if (b.failed) {
		sl_http_buf_free(&b);
		return -ENOMEM;
	}
	int fd = socket(u->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sl_http_buf_free(&b);
		return -errno;
	}
	k->fd = fd;
	k->req = b.p;
	k->req_len = b.len;
	k->sent = 0;
	k->resp_len = 0;
	k->result = 0;
	memcpy(&k->addr, &u->addr, u->addr_len);
	k->addr_len = u->addr_len;
	k->deadline_ns = sl_now_ns() + (int64_t)timeout_ms * MS_NS;
	k->done = done;
	k->ctx = ctx;
	k->state = CLI_CONNECT;
	cli_submit(s, k);
	return 0;
}

/* ---- setup, poll, close ---- */

static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want = SL_HTTP_MAX_CONNS + 512;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want)
		sl_log(SL_LOG_WARN, -1, NULL,
		       "msg=\"admin: open-file limit is low; fewer connections will be served\" "
		       "nofile=%llu",
		       (unsigned long long)rl.rlim_cur);
}

static int setup_ring(struct sl_http_server *s, char *err, size_t cap)
{
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	p.cq_entries = 4096;
	int rc = io_uring_queue_init_params(256, &s->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE;
		p.cq_entries = 4096;
		rc = io_uring_queue_init_params(256, &s->ring, &p);
	}
	if (rc < 0) {
		snprintf(err, cap, "admin: io_uring setup failed: %s", strerror(-rc));
		return rc;
	}
	s->ring_ready = true;
	if (posix_memalign((void **)&s->br, 4096, RECV_BUFS * sizeof(struct io_uring_buf)) != 0 ||
	    !(s->bufs = malloc((size_t)RECV_BUFS * RECV_BUF_BYTES))) {
		snprintf(err, cap, "admin: out of memory");
		return -ENOMEM;
	}
	struct io_uring_buf_reg reg = {
	    .ring_addr = (unsigned long)s->br, .ring_entries = RECV_BUFS, .bgid = RECV_BGID};
	rc = io_uring_register_buf_ring(&s->ring, &reg, 0);
	if (rc < 0) {
		snprintf(err, cap,
			 "admin: io_uring provided buffers unavailable (kernel >= 5.19 "
			 "needed): %s",
			 strerror(-rc));
		return rc;
	}
	s->br_registered = true;
	io_uring_buf_ring_init(s->br);
	for (uint32_t i = 0; i < RECV_BUFS; i++)
		io_uring_buf_ring_add(s->br, s->bufs + (size_t)i * RECV_BUF_BYTES, RECV_BUF_BYTES,
				      (unsigned short)i, io_uring_buf_ring_mask(RECV_BUFS), (int)i);
	io_uring_buf_ring_advance(s->br, RECV_BUFS);
	return 0;
}

struct sl_http_server *sl_http_listen(const char *addr_port, sl_http_handler_fn handler, void *ctx,
				      char *err, size_t cap)
{
	struct sl_http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, cap, "admin: out of memory");
		return NULL;
	}
	s->listen_fd = -1;
	s->handler = handler;
	s->ctx = ctx;
	s->rl.burst = 5;
	s->now_ns = sl_now_ns();
	for (uint32_t i = 0; i < SL_HTTP_MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	s->conns = calloc(CONN_SLOTS, sizeof(*s->conns));
	s->rearm = calloc(CONN_SLOTS, sizeof(*s->rearm));
	if (!s->conns || !s->rearm) {
		snprintf(err, cap, "admin: out of memory");
		goto out_fail;
	}
	for (uint32_t i = CONN_SLOTS; i-- > 0;) {
		struct conn *c = &s->conns[i];
		c->fd = -1;
		c->idx = i;
		c->next_free = s->free_list;
		s->free_list = c;
	}
	if (setup_ring(s, err, cap) < 0)
		goto out_fail;
	if (!addr_port)
		return s;

	struct sockaddr_storage ss;
	socklen_t sl;
	char why[256];
	if (sl_http_parse_addr(addr_port, &ss, &sl, why, sizeof(why)) < 0) {
		snprintf(err, cap, "admin: %s", why);
		goto out_fail;
	}
	raise_nofile();
	s->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (s->listen_fd < 0 ||
	    setsockopt(s->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s->listen_fd, (struct sockaddr *)&ss, sl) < 0 || listen(s->listen_fd, 511) < 0) {
		snprintf(err, cap, "admin: cannot listen on %s: %s", addr_port, strerror(errno));
		goto out_fail;
	}
	sl = sizeof(ss);
	getsockname(s->listen_fd, (struct sockaddr *)&ss, &sl);
	format_addr(&ss, s->addr, sizeof(s->addr));
	arm_accept(s);
	io_uring_submit(&s->ring);
	return s;
out_fail:
	sl_http_close(s);
	return NULL;
}

int sl_http_set_token(struct sl_http_server *s, const char *token, size_t len,
		      const char *const *public_paths)
{
	if (len == 0 || len > SL_HTTP_TOKEN_MAX)
		return -EINVAL;
	memset(s->token, 0, sizeof(s->token));
	memcpy(s->token, token, len);
	s->token_len = len;
	s->has_token = true;
	s->public_paths = public_paths;
	return 0;
}

const char *sl_http_addr(const struct sl_http_server *s)
{
	return s->addr;
}

const struct sl_http_stats *sl_http_stats(const struct sl_http_server *s)
{
	return &s->stats;
}

static void sweep(struct sl_http_server *s)
{
	int64_t now = s->now_ns;
	for (uint32_t i = 0; i < CONN_SLOTS; i++) {
		struct conn *c = &s->conns[i];
		if (c->state == CONN_OPEN) {
			if (c->send_busy || unsent(c)) {
				if (now - c->send_ns > SL_HTTP_REQUEST_TIMEOUT_MS * MS_NS)
					conn_close(s, c, true); /* not reading its responses */
			} else if (c->in_len > 0) {
				if (now - c->req_start_ns > SL_HTTP_REQUEST_TIMEOUT_MS * MS_NS) {
					c->in_len = 0; /* too slow: 408, then close */
					respond_status(s, c, 408, true);
					s->stats.connections_dropped++;
					flush_send(s, c);
				}
			} else if (now - c->last_ns > SL_HTTP_IDLE_TIMEOUT_MS * MS_NS) {
				conn_close(s, c, false);
			}
		} else if (c->state == CONN_LINGER && now > c->linger_until_ns) {
			conn_close(s, c, false);
		}
	}
	for (uint32_t i = 0; i < SL_HTTP_MAX_CLIENTS; i++) {
		struct client *k = &s->clients[i];
		if (k->state != CLI_FREE && k->state != CLI_DONE && now > k->deadline_ns)
			cli_finish(s, k, -ETIMEDOUT);
	}
}

static void dispatch(struct sl_http_server *s, struct io_uring_cqe *cqe)
{
	uint64_t u = io_uring_cqe_get_data64(cqe);
	if (u == LIBURING_UDATA_TIMEOUT)
		return;
	uint32_t idx = ud_idx(u);
	switch (ud_op(u)) {
	case OP_ACCEPT:
		on_accept(s, cqe);
		break;
	case OP_RECV:
	case OP_SEND: {
		SL_ASSERT(idx < CONN_SLOTS);
		struct conn *c = &s->conns[idx];
		if ((c->gen & 0xffffffu) != ud_gen(u)) {
			/* The last words of a recv on a connection already freed. */
			SL_ASSERT(ud_op(u) == OP_RECV);
			if (cqe->flags & IORING_CQE_F_BUFFER)
				buf_return(s, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
			break;
		}
		if (ud_op(u) == OP_RECV)
			on_recv(s, c, cqe);
		else
			on_send(s, c, cqe);
		break;
	}
	case OP_CLI: {
		SL_ASSERT(idx < SL_HTTP_MAX_CLIENTS);
		struct client *k = &s->clients[idx];
		SL_ASSERT((k->gen & 0xffffffu) == ud_gen(u));
		on_client(s, k, cqe);
		break;
	}
	case OP_CANCEL:
		break;
	default:
		SL_ASSERT(!"unknown io_uring completion");
	}
}

/* Recvs ended by a batch that ran out of buffers: the batch gave them all
 * back, so they are re-armed after it. */
static void flush_rearm(struct sl_http_server *s)
{
	for (uint32_t i = 0; i < s->n_rearm; i++) {
		struct conn *c = &s->conns[s->rearm[i]];
		c->rearm = false;
		maybe_arm_recv(s, c);
	}
	s->n_rearm = 0;
}

int sl_http_poll(struct sl_http_server *s, int timeout_ms)
{
	uint64_t served = s->stats.requests;
	int64_t end = sl_now_ns() + (int64_t)SL_MAX(timeout_ms, 0) * MS_NS;
	int rc = 0;
	for (;;) {
		s->now_ns = sl_now_ns();
		flush_rearm(s);
		if (s->listen_fd >= 0 && !s->accept_armed && s->now_ns >= s->accept_retry_ns)
			arm_accept(s);
		if (s->now_ns >= s->next_sweep_ns) {
			sweep(s);
			s->next_sweep_ns = s->now_ns + SWEEP_NS;
		}
		int64_t wait = SL_MIN(end, s->next_sweep_ns) - s->now_ns;
		if (wait < 0)
			wait = 0;
		struct __kernel_timespec ts = {.tv_sec = wait / 1000000000ll,
					       .tv_nsec = wait % 1000000000ll};
		struct io_uring_cqe *cqe;
		rc = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
		if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN)
			break;
		rc = 0;
		s->now_ns = sl_now_ns();
		unsigned head, n = 0;
		io_uring_for_each_cqe(&s->ring, head, cqe)
		{
			dispatch(s, cqe);
			n++;
		}
		io_uring_cq_advance(&s->ring, n);
		if (s->now_ns >= end && n == 0)
			break;
		if (s->now_ns >= end + 50 * MS_NS)
			break; /* a flood of completions does not hold the caller */
	}
	flush_rearm(s);
	io_uring_submit(&s->ring);
	if (rc < 0)
		return rc;
	return (int)(s->stats.requests - served);
}

void sl_http_close(struct sl_http_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < SL_HTTP_MAX_CLIENTS; i++)
		if (s->clients[i].state != CLI_FREE && s->clients[i].fd >= 0)
			close(s->clients[i].fd);
	if (s->conns)
		for (uint32_t i = 0; i < CONN_SLOTS; i++)
			if (s->conns[i].state != CONN_FREE)
				close(s->conns[i].fd);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	/* Exiting the ring cancels whatever was in flight; only then may the
	 * buffers it points at go. */
	if (s->ring_ready)
		io_uring_queue_exit(&s->ring);
	for (uint32_t i = 0; i < SL_HTTP_MAX_CLIENTS; i++) {
		struct client *k = &s->clients[i];
		if (k->state == CLI_FREE)
			continue;
		free(k->req);
		k->state = CLI_FREE;
		if (k->done)
			k->done(k->ctx, -ECANCELED);
	}
	if (s->conns)
		for (uint32_t i = 0; i < CONN_SLOTS; i++)
			conn_release_bufs(&s->conns[i]);
	free(s->br);
	free(s->bufs);
	free(s->conns);
	free(s->rearm);
	sl_http_buf_free(&s->body);
	free(s);
}

/* ---- response builder ---- */

void sl_http_resp_status(struct sl_http_resp *r, int status)
{
	SL_ASSERT(status >= 100 && status <= 599);
	r->status = status;
}

void sl_http_resp_type(struct sl_http_resp *r, const char *content_type)
{
	r->type = content_type;
}

int sl_http_resp_header(struct sl_http_resp *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return -EINVAL;
	int n = snprintf(r->extra + r->extra_len, sizeof(r->extra) - r->extra_len, "%s: %s\r\n",
			 name, value);
	if (n < 0 || (size_t)n >= sizeof(r->extra) - r->extra_len) {
		r->extra[r->extra_len] = '\0';
		return -E2BIG;
	}
	r->extra_len += (size_t)n;
	return 0;
}

struct sl_http_buf *sl_http_resp_body(struct sl_http_resp *r)
{
	return r->body;
}

void sl_http_resp_close(struct sl_http_resp *r)
{
	r->close = true;
}
