/* io/http: request parsing edge cases, addresses and URLs, and a live
 * server on loopback driven by a client thread (keep-alive, pipelining,
 * limits, traversal, tokens, the POST client). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "check.h"
#include "io/http.h"

/* ---- parser ---- */

static int parse(const char *s, struct sl_http_req *r)
{
	return sl_http_parse(s, strlen(s), r);
}

static void test_head_len(void)
{
	const char *req = "GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
	size_t resume = 0;
	CHECK_EQ_I(sl_http_head_len(req, strlen(req), &resume), strlen(req) - 4);
	/* A byte at a time: found exactly when the blank line completes, and
	 * resume never moves backwards by more than the CRLF it waits on. */
	size_t full = strlen(req) - 4;
	resume = 0;
	for (size_t n = 1; n <= strlen(req); n++) {
		size_t prev = resume;
		size_t h = sl_http_head_len(req, n, &resume);
		if (n < full)
			CHECKF(h == 0, "n=%zu", n);
		else
			CHECKF(h == full, "n=%zu h=%zu", n, h);
		CHECK(h || resume + 3 >= prev);
	}
	resume = 0;
	CHECK_EQ_I(sl_http_head_len("GET / HTTP/1.0\n\n", 16, &resume), 16);
	resume = 0;
	CHECK_EQ_I(sl_http_head_len("\r\n\r\nGET / HTTP/1.0\n\n", 20, &resume), 20);
	resume = 0;
	CHECK_EQ_I(sl_http_head_len("GET / HTTP/1.1\r\nHost: x\r\n", 25, &resume), 0);
}

static void test_request_line(void)
{
	struct sl_http_req r;
	CHECK_EQ_I(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), 34);
	CHECK_EQ_I(r.method, SL_HTTP_GET);
	CHECK_STR(r.path, "/metrics");
	CHECK_EQ_I(r.minor_version, 1);
	CHECK(r.keep_alive);
	CHECK_EQ_I(r.reject, 0);
	CHECK_EQ_I(r.query_len, 0);

	CHECK(parse("GET /jobs/x?mode=cancel&a=%41+b HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_STR(r.path, "/jobs/x");
	CHECK_EQ_I(r.query_len, 19);
	char v[32];
	CHECK_EQ_I(sl_http_query_get(r.query, r.query_len, "mode", v, sizeof(v)), 6);
	CHECK_STR(v, "cancel");
	CHECK_EQ_I(sl_http_query_get(r.query, r.query_len, "a", v, sizeof(v)), 3);
	CHECK_STR(v, "A b");
	CHECK_EQ_I(sl_http_query_get(r.query, r.query_len, "mod", v, sizeof(v)), -ENOENT);
	CHECK_EQ_I(sl_http_query_get(r.query, r.query_len, "mode", v, 4), -EINVAL);
	CHECK_EQ_I(sl_http_query_get("x=%0", 4, "x", v, sizeof(v)), -EINVAL);
	CHECK_EQ_I(sl_http_query_get("x=%00", 5, "x", v, sizeof(v)), -EINVAL);
	CHECK_EQ_I(sl_http_query_get("x", 1, "x", v, sizeof(v)), 0);

	/* Methods: unknown tokens are served a 405, junk is a 400. */
	CHECK(parse("FOO / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ_I(r.method, SL_HTTP_OTHER);
	CHECK_STR(r.method_name, "FOO");
	CHECK(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ_I(r.method, SL_HTTP_OTHER);
	CHECK(parse("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ_I(r.method, SL_HTTP_PATCH);
	CHECK(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ_I(r.method, SL_HTTP_HEAD);
	CHECK_EQ_I(parse("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("VERYLONGMETHODNAMEX / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse(" / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET /\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", &r), -400);

	/* Versions. */
	CHECK_EQ_I(parse("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r), -505);
	CHECK_EQ_I(parse("GET / HTTP/1.2\r\nHost: a\r\n\r\n", &r), -505);
	CHECK_EQ_I(parse("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / http/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);
	CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK(r.keep_alive);
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n", &r) > 0);
	CHECK(!r.keep_alive);

	/* Targets. */
	CHECK_EQ_I(parse("GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK(parse("GET http://h:1/metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_STR(r.path, "/metrics");
	CHECK_EQ_I(r.query_len, 3);
	CHECK_EQ_I(parse("GET http://h:1 HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
	CHECK(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ_I(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n", &r), -400);
}

static void test_traversal(void)
{
	static const struct {
		const char *target;
		int reject;
		const char *path;
	} cases[] = {
	    {"/", 0, "/"},
	    {"/jobs/a.b", 0, "/jobs/a.b"},
	    {"/a/..b/c", 0, "/a/..b/c"},
	    {"/%41%62", 0, "/Ab"},
	    {"/..", 404, NULL},
	    {"/../etc/passwd", 404, NULL},
	    {"/jobs/../metrics", 404, NULL},
	    {"/a/.", 404, NULL},
	    {"/./a", 404, NULL},
	    {"/%2e%2e/x", 404, NULL},
	    {"/%2E%2E", 404, NULL},
	    {"/.%2e/", 404, NULL},
	    {"/a%2fb", 404, NULL},
	    {"/a%2F..%2Fb", 404, NULL},
	    {"/a%5cb", 404, NULL},
	    {"/a\\..\\b", 404, NULL},
	    {"/a%00b", 400, NULL},
	    {"/a%zz", 400, NULL},
	    {"/a%4", 400, NULL},
	    {"/a%", 400, NULL},
	    {"/%252e%252e/", 0, "/%2e%2e/"}, /* decoded once: a literal name */
	};
	for (size_t i = 0; i < SL_ARRAY_LEN(cases); i++) {
		char req[256];
		snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].target);
		struct sl_http_req r;
		int n = parse(req, &r);
		CHECKF(n == (int)strlen(req), "%s: %d", cases[i].target, n);
		CHECKF(r.reject == cases[i].reject, "%s: reject %d want %d", cases[i].target,
		       r.reject, cases[i].reject);
		if (cases[i].path)
			CHECKF(strcmp(r.path, cases[i].path) == 0, "%s: path %s", cases[i].target,
			       r.path);
	}
}

static void test_limits(void)
{
	struct sl_http_req r;
	char *big = malloc(40000);
	REQUIRE(big);
	/* Path of exactly the limit, then one more. */
	for (int extra = 0; extra <= 1; extra++) {
		int k = snprintf(big, 40000, "GET /");
		memset(big + k, 'a', SL_HTTP_PATH_MAX - 1 + extra);
		k += SL_HTTP_PATH_MAX - 1 + extra;
		k += snprintf(big + k, 40000 - k, " HTTP/1.1\r\nHost: a\r\n\r\n");
		int n = sl_http_parse(big, (size_t)k, &r);
		CHECKF(extra ? n == -414 : n == k, "extra=%d n=%d", extra, n);
	}
	/* A request line longer than the head limit, with no line end yet. */
	memcpy(big, "GET /", 5);
	memset(big + 5, 'a', SL_HTTP_HEADER_MAX_BYTES + 10);
	CHECK_EQ_I(sl_http_parse(big, SL_HTTP_HEADER_MAX_BYTES + 15, &r), -414);
	CHECK_EQ_I(sl_http_parse(big, SL_HTTP_HEADER_MAX_BYTES - 10, &r), 0);
	/* Headers past the limit: complete or not. */
	int k = snprintf(big, 40000, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(big + k, 'v', SL_HTTP_HEADER_MAX_BYTES);
	k += SL_HTTP_HEADER_MAX_BYTES;
	CHECK_EQ_I(sl_http_parse(big, (size_t)k, &r), -431);
	k += snprintf(big + k, 40000 - k, "\r\n\r\n");
	CHECK_EQ_I(sl_http_parse(big, (size_t)k, &r), -431);
	/* Just under: fine. */
	k = snprintf(big, 40000, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	int fill = (int)SL_HTTP_HEADER_MAX_BYTES - k - 4;
	memset(big + k, 'v', (size_t)fill);
	k += fill;
	k += snprintf(big + k, 40000 - k, "\r\n\r\n");
	CHECK_EQ_I(k, (int)SL_HTTP_HEADER_MAX_BYTES);
	CHECK_EQ_I(sl_http_parse(big, (size_t)k, &r), k);
	/* Too many header lines. */
	k = snprintf(big, 40000, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (unsigned i = 0; i < SL_HTTP_MAX_HEADERS; i++)
		k += snprintf(big + k, 40000 - k, "X%u: y\r\n", i);
	k += snprintf(big + k, 40000 - k, "\r\n");
	CHECK_EQ_I(sl_http_parse(big, (size_t)k, &r), -431);
	free(big);
}

static void test_headers_and_body(void)
{
	struct sl_http_req r;
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\n\r\n", &r), -400); /* no Host */
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost : a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\rHost: a\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
		   -501);
	/* Bare LF line ends and leading empty lines are accepted. */
	CHECK_EQ_I(parse("\r\n\nGET / HTTP/1.1\nHost: a\n\n", &r), 27);
	CHECK_STR(r.path, "/");
	/* Authorization, Content-Type. */
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer xyz \r\n"
		    "Content-Type: application/json\r\n\r\n",
		    &r) > 0);
	CHECK(r.authorization && r.authorization_len == 10 &&
	      memcmp(r.authorization, "Bearer xyz", 10) == 0);
	CHECK(r.content_type && r.content_type_len == 16);
	/* Bodies. */
	const char *post = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
			   "GET /y HTTP/1.1\r\nHost: a\r\n\r\n";
	size_t first = strlen(post) - strlen("GET /y HTTP/1.1\r\nHost: a\r\n\r\n");
	for (size_t n = 0; n < first; n++)
		CHECKF(sl_http_parse(post, n, &r) == 0, "n=%zu", n);
	CHECK_EQ_I(sl_http_parse(post, strlen(post), &r), (int)first);
	CHECK(r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
	CHECK_EQ_I(r.method, SL_HTTP_POST);
	CHECK_EQ_I(sl_http_parse(post + first, strlen(post) - first, &r),
		   (int)(strlen(post) - first));
	CHECK_STR(r.path, "/y");
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n", &r), -413);
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n", &r),
		   -413);
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", &r), -400);
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx", &r), -400);
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
			 "Content-Length: 2\r\n\r\nxx",
			 &r),
		   -400);
	CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		    &r) > 0);
	CHECK_EQ_I(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", &r), -400);
}

static void test_addr_url(void)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[256];
	CHECK_EQ_I(sl_http_parse_addr("127.0.0.1:8081", &ss, &sl, err, sizeof(err)), 0);
	CHECK(sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("127.1.2.3:0", &ss, &sl, err, sizeof(err)), 0);
	CHECK(sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("localhost:1", &ss, &sl, err, sizeof(err)), 0);
	CHECK(sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("[::1]:8081", &ss, &sl, err, sizeof(err)), 0);
	CHECK(sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("[::ffff:127.0.0.1]:80", &ss, &sl, err, sizeof(err)), 0);
	CHECK(sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("0.0.0.0:8081", &ss, &sl, err, sizeof(err)), 0);
	CHECK(!sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr(":8081", &ss, &sl, err, sizeof(err)), 0);
	CHECK(!sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("[::]:8081", &ss, &sl, err, sizeof(err)), 0);
	CHECK(!sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("10.0.0.1:80", &ss, &sl, err, sizeof(err)), 0);
	CHECK(!sl_http_addr_is_loopback(&ss));
	CHECK_EQ_I(sl_http_parse_addr("8081", &ss, &sl, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_parse_addr("127.0.0.1:65536", &ss, &sl, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_parse_addr("127.0.0.1:", &ss, &sl, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_parse_addr("127.0.0.1:-1", &ss, &sl, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_parse_addr("example.com:80", &ss, &sl, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_parse_addr("[::1:80", &ss, &sl, err, sizeof(err)), -EINVAL);

	struct sl_http_url u;
	CHECK_EQ_I(sl_http_url_parse("http://127.0.0.1:9/hook?x=1", &u, err, sizeof(err)), 0);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_EQ_I(u.port, 9);
	CHECK_STR(u.path, "/hook?x=1");
	CHECK_EQ_I(sl_http_url_parse("http://h", &u, err, sizeof(err)), 0);
	CHECK_EQ_I(u.port, 80);
	CHECK_STR(u.path, "/");
	CHECK_EQ_I(sl_http_url_parse("http://[::1]:8/x", &u, err, sizeof(err)), 0);
	CHECK_STR(u.host, "[::1]");
	CHECK_EQ_I(sl_http_url_parse("https://h/x", &u, err, sizeof(err)), -ENOTSUP);
	CHECK_EQ_I(sl_http_url_parse("ftp://h/x", &u, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_url_parse("http:///x", &u, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_url_parse("http://u:p@h/x", &u, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_url_parse("http://h:0/x", &u, err, sizeof(err)), -EINVAL);
	CHECK_EQ_I(sl_http_url_parse("http://h/a b", &u, err, sizeof(err)), -EINVAL);
	char o[300];
	sl_http_url_parse("http://127.0.0.1:9/secret-token", &u, err, sizeof(err));
	CHECK_STR(sl_http_url_origin(&u, o, sizeof(o)), "http://127.0.0.1:9");
}

/* ---- live server ---- */

static _Atomic bool client_done;
static _Atomic int posted_status;
static uint16_t port;
static uint64_t posted_bodies;

static void handler(void *ctx, const struct sl_http_req *req, struct sl_http_resp *r)
{
	(void)ctx;
	struct sl_http_buf *b = sl_http_resp_body(r);
	if (strcmp(req->path, "/hook") == 0 && req->method == SL_HTTP_POST) {
		posted_bodies++;
		sl_http_resp_status(r, req->body_len == 11 ? 204 : 400);
		return;
	}
	if (strcmp(req->path, "/big") == 0) {
		sl_http_resp_type(r, "application/octet-stream");
		for (int i = 0; i < 300000; i++)
			sl_http_buf_put(b, "0123456789", 10); /* 3 MB */
		return;
	}
	if (strcmp(req->path, "/k16") == 0) {
		for (int i = 0; i < 1024; i++)
			sl_http_buf_put(b, "0123456789abcdef", 16);
		return;
	}
	if (strcmp(req->path, "/missing") == 0) {
		sl_http_resp_status(r, 404);
		return;
	}
	sl_http_buf_printf(b, "%s %s body=%zu", req->method_name, req->path, req->body_len);
}

static int connect_srv(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Reads one response: status, body into body (NUL-terminated, cut at cap).
 * Returns the status, 0 on EOF before a response, -1 on error. */
static int read_resp(int fd, char *body, size_t cap, bool *closing, bool head_only)
{
	static char buf[1 << 16];
	size_t len = 0;
	char *end = NULL;
	while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
		ssize_t r = recv(fd, buf + len, 1, 0); /* byte by byte: no over-read */
		if (r <= 0)
			return len ? -1 : 0;
		len += (size_t)r;
		if (len == sizeof(buf))
			return -1;
	}
	buf[len] = '\0';
	int status = atoi(buf + 9);
	char *cl = strcasestr(buf, "Content-Length: ");
	size_t n = cl ? strtoul(cl + 16, NULL, 10) : 0;
	if (closing)
		*closing = strcasestr(buf, "Connection: close") != NULL;
	if (head_only)
		n = 0;
	size_t got = 0;
	while (got < n) {
		char tmp[65536];
		ssize_t r = recv(fd, tmp, SL_MIN(sizeof(tmp), n - got), 0);
		if (r <= 0)
			return -1;
		if (got < cap) {
			size_t k = SL_MIN((size_t)r, cap - 1 - got);
			memcpy(body + got, tmp, k);
		}
		got += (size_t)r;
	}
	if (cap)
		body[SL_MIN(got, cap - 1)] = '\0';
	return status;
}

struct sender {
	int fd;
	char *p;
	size_t n;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	send_all(s->fd, s->p, s->n);
	return NULL;
}

static bool at_eof(int fd)
{
	char c;
	return recv(fd, &c, 1, 0) == 0;
}

static void *client(void *arg)
{
	(void)arg;
	char body[512];
	bool closing;
	int fd = connect_srv();
	REQUIRE(fd >= 0);
	/* Keep-alive: three requests on one connection, auth required. */
	const char *get = "GET /x HTTP/1.1\r\nHost: t\r\n\r\n";
	send_all(fd, get, strlen(get));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 401);
	CHECK(!closing);
	CHECK(strstr(body, "sekrit") == NULL);
	const char *authed = "GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n\r\n";
	send_all(fd, authed, strlen(authed));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
	CHECK_STR(body, "GET /x body=0");
	const char *wrong = "GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekriT\r\n\r\n";
	send_all(fd, wrong, strlen(wrong));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 401);
	const char *prefix = "GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekri\r\n\r\n";
	send_all(fd, prefix, strlen(prefix));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 401);
	const char *live = "GET /health/live HTTP/1.1\r\nHost: t\r\n\r\n";
	send_all(fd, live, strlen(live));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);

	/* Pipelined: five requests in one write, answered in order. */
	char pipe[2048];
	size_t k = 0;
	for (int i = 0; i < 5; i++)
		k += (size_t)snprintf(
		    pipe + k, sizeof(pipe) - k,
		    "%s /p%d HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n"
		    "%s\r\n%s",
		    i == 3 ? "POST" : "GET", i, i == 3 ? "Content-Length: 3\r\n" : "",
		    i == 3 ? "abc" : "");
	send_all(fd, pipe, k);
	for (int i = 0; i < 5; i++) {
		char want[64];
		snprintf(want, sizeof(want), "%s /p%d body=%d", i == 3 ? "POST" : "GET", i,
			 i == 3 ? 3 : 0);
		CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
		CHECK_STR(body, want);
	}
	/* HEAD: headers only. A traversal gets 404 and the connection stays. */
	const char *head = "HEAD /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n\r\n";
	send_all(fd, head, strlen(head));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, true), 200);
	const char *trav = "GET /a/%2e%2e/x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit"
			   "\r\n\r\n";
	send_all(fd, trav, strlen(trav));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 404);
	CHECK(!closing);
	const char *bad = "BREW /x HTTP/1.1\r\nHost: t\r\n\r\n";
	send_all(fd, bad, strlen(bad));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 405);
	/* A big response (several sends) then a small one, in order. */
	const char *big = "GET /big HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n\r\n"
			  "GET /after HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n\r\n";
	send_all(fd, big, strlen(big));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
	CHECK(strncmp(body, "0123456789", 10) == 0);
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
	CHECK_STR(body, "GET /after body=0");
	/* Connection: close is honoured. */
	const char *cl = "GET /x HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n"
			 "Connection: close\r\n\r\n";
	send_all(fd, cl, strlen(cl));
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
	CHECK(closing);
	CHECK(at_eof(fd));
	close(fd);

	/* Oversized head: 431, then the connection closes. */
	fd = connect_srv();
	REQUIRE(fd >= 0);
	char *huge = malloc(20000);
	int n = snprintf(huge, 20000, "GET / HTTP/1.1\r\nHost: t\r\nX: ");
	memset(huge + n, 'a', 12000);
	send_all(fd, huge, (size_t)n + 12000);
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 431);
	CHECK(closing);
	CHECK(at_eof(fd));
	close(fd);
	/* Garbage: 400 and close; the server goes on. */
	fd = connect_srv();
	send_all(fd, "\x16\x03\x01\x02\x00\r\n\r\n", 9);
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 400);
	CHECK(closing);
	close(fd);
	/* A half-closed client still gets its answer. */
	fd = connect_srv();
	send_all(fd, authed, strlen(authed));
	shutdown(fd, SHUT_WR);
	CHECK_EQ_I(read_resp(fd, body, sizeof(body), &closing, false), 200);
	CHECK(at_eof(fd));
	close(fd);
	/* Many connections at once, each asking once. */
	int fds[200];
	for (int i = 0; i < 200; i++) {
		fds[i] = connect_srv();
		CHECK(fds[i] >= 0);
	}
	for (int i = 0; i < 200; i++)
		send_all(fds[i], authed, strlen(authed));
	for (int i = 0; i < 200; i++) {
		CHECK_EQ_I(read_resp(fds[i], body, sizeof(body), &closing, false), 200);
		close(fds[i]);
	}
	/* Pipelining past the output limit: 3000 requests (about 190 KB)
	 * sent before reading any of the 48 MB of answers; the server stops
	 * reading, then catches up as the client reads, in order. */
	fd = connect_srv();
	{
		const char *one =
		    "GET /k16 HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer sekrit\r\n\r\n";
		size_t ol = strlen(one);
		struct sender snd = {fd, malloc(ol * 3000), ol * 3000};
		for (int i = 0; i < 3000; i++)
			memcpy(snd.p + (size_t)i * ol, one, ol);
		pthread_t st;
		pthread_create(&st, NULL, sender_main, &snd);
		usleep(300000); /* let the server fill its output and stop reading */
		static char k16[16384 + 1];
		int good = 0;
		for (int i = 0; i < 3000; i++)
			good += read_resp(fd, k16, sizeof(k16), &closing, false) == 200 &&
				strlen(k16) == 16384;
		CHECK_EQ_I(good, 3000);
		pthread_join(st, NULL);
		free(snd.p);
	}
	close(fd);
	free(huge);
	atomic_store(&client_done, true);
	return NULL;
}

static void post_done(void *ctx, int status)
{
	(void)ctx;
	atomic_store(&posted_status, status);
}

static void test_live(void)
{
	char err[256];
	struct sl_http_server *s = sl_http_listen("127.0.0.1:0", handler, NULL, err, sizeof(err));
	if (!s) {
		if (strstr(err, "io_uring"))
			CHECK_SKIP("%s", err);
		REQUIRE(s);
	}
	static const char *const pub[] = {"/health/live", "/hook", NULL};
	CHECK_EQ_I(sl_http_set_token(s, "sekrit", 6, pub), 0);
	const char *addr = sl_http_addr(s);
	CHECK(strncmp(addr, "127.0.0.1:", 10) == 0);
	port = (uint16_t)atoi(strchr(addr, ':') + 1);
	CHECK(port > 0);

	pthread_t t;
	pthread_create(&t, NULL, client, NULL);
	int64_t deadline = sl_now_ns() + 60 * 1000000000ll;
	while (!atomic_load(&client_done) && sl_now_ns() < deadline)
		CHECK(sl_http_poll(s, 20) >= 0);
	CHECK(atomic_load(&client_done));
	pthread_join(t, NULL);

	/* The POST client, against this very server (same ring). */
	struct sl_http_url u;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", port);
	REQUIRE(sl_http_url_parse(url, &u, err, sizeof(err)) == 0);
	REQUIRE(sl_http_url_resolve(&u, err, sizeof(err)) == 0);
	atomic_store(&posted_status, 0);
	CHECK_EQ_I(sl_http_post(s, &u, "application/json", "X-A: b\r\n", "{\"a\":\"xyz\"}", 11,
				2000, post_done, NULL),
		   0);
	deadline = sl_now_ns() + 5 * 1000000000ll;
	while (!atomic_load(&posted_status) && sl_now_ns() < deadline)
		sl_http_poll(s, 20);
	CHECK_EQ_I(atomic_load(&posted_status), 204);
	CHECK_EQ_I(posted_bodies, 1);
	/* Refused and timed out. */
	struct sl_http_url dead = u;
	((struct sockaddr_in *)&dead.addr)->sin_port = htons(1);
	atomic_store(&posted_status, 0);
	CHECK_EQ_I(sl_http_post(s, &dead, "text/plain", NULL, "x", 1, 2000, post_done, NULL), 0);
	while (!atomic_load(&posted_status))
		sl_http_poll(s, 20);
	CHECK_EQ_I(atomic_load(&posted_status), -ECONNREFUSED);
	int lfd = socket(AF_INET, SOCK_STREAM, 0); /* accepts nothing, answers nothing */
	struct sockaddr_in la = {.sin_family = AF_INET};
	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t ll = sizeof(la);
	bind(lfd, (struct sockaddr *)&la, sizeof(la));
	listen(lfd, 4);
	getsockname(lfd, (struct sockaddr *)&la, &ll);
	struct sl_http_url mute = u;
	((struct sockaddr_in *)&mute.addr)->sin_port = la.sin_port;
	atomic_store(&posted_status, 0);
	CHECK_EQ_I(sl_http_post(s, &mute, "text/plain", NULL, "x", 1, 300, post_done, NULL), 0);
	while (!atomic_load(&posted_status))
		sl_http_poll(s, 20);
	CHECK_EQ_I(atomic_load(&posted_status), -ETIMEDOUT);
	/* Pending at close: the callback runs with -ECANCELED. */
	atomic_store(&posted_status, 0);
	CHECK_EQ_I(sl_http_post(s, &mute, "text/plain", NULL, "x", 1, 5000, post_done, NULL), 0);
	sl_http_poll(s, 10);
	const struct sl_http_stats *st = sl_http_stats(s);
	CHECK(st->requests >= 200);
	CHECK(st->connections_accepted >= 200);
	sl_http_close(s);
	CHECK_EQ_I(atomic_load(&posted_status), -ECANCELED);
	close(lfd);
}

int main(void)
{
	test_head_len();
	test_request_line();
	test_traversal();
	test_limits();
	test_headers_and_body();
	test_addr_url();
	test_live();
	return check_exit("test_http");
}
