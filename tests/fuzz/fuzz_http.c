/* libFuzzer target for io/http's request parser: any bytes, checked against
 * the parser's promises (bounds, limits, no traversal reaching a handler,
 * the same answer however the bytes arrive), plus query, address and URL
 * parsing. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "io/http.h"

static void check_path(const struct sl_http_req *r)
{
	size_t n = strlen(r->path);
	SL_ASSERT(n <= SL_HTTP_PATH_MAX);
	if (r->reject)
		return;
	SL_ASSERT(r->path[0] == '/' || (r->method == SL_HTTP_OPTIONS && strcmp(r->path, "*") == 0));
	SL_ASSERT(!strchr(r->path, '\\'));
	/* No "." or ".." segment survives decoding. */
	const char *s = r->path;
	while (*s) {
		const char *seg = s + (*s == '/');
		size_t sl = strcspn(seg, "/");
		SL_ASSERT(!(sl == 1 && seg[0] == '.'));
		SL_ASSERT(!(sl == 2 && seg[0] == '.' && seg[1] == '.'));
		s = seg + sl;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct sl_http_req r;
	int rc = sl_http_parse(buf, size, &r);
	SL_ASSERT(rc <= (int)size);
	if (rc < 0) {
		int st = -rc;
		SL_ASSERT(st == 400 || st == 413 || st == 414 || st == 431 || st == 501 ||
			  st == 505);
	}
	if (rc > 0) {
		SL_ASSERT(r.head_bytes <= SL_HTTP_HEADER_MAX_BYTES);
		SL_ASSERT(r.body_len <= SL_HTTP_BODY_MAX_BYTES);
		SL_ASSERT(r.reject == 0 || r.reject == 400 || r.reject == 404);
		if (r.body_len)
			SL_ASSERT(r.body >= buf && r.body + r.body_len == buf + rc);
		if (r.query_len)
			SL_ASSERT(r.query > buf && r.query + r.query_len < buf + rc);
		if (r.authorization)
			SL_ASSERT(r.authorization >= buf &&
				  r.authorization + r.authorization_len <= buf + rc);
		check_path(&r);
		/* Shorter prefixes are never complete requests. */
		struct sl_http_req p;
		size_t cuts[] = {(size_t)rc - 1, (size_t)rc / 2,
				 r.head_bytes ? r.head_bytes - 1 : 0};
		for (size_t i = 0; i < SL_ARRAY_LEN(cuts); i++)
			if (cuts[i] < (size_t)rc)
				SL_ASSERT(sl_http_parse(buf, cuts[i], &p) <= 0);
		char v[64];
		int q = sl_http_query_get(r.query, r.query_len, "mode", v, sizeof(v));
		SL_ASSERT(q == -ENOENT || q == -EINVAL || (q >= 0 && (size_t)q < sizeof(v)));
	}
	/* The head found a byte at a time (with resume) is the one found at once. */
	size_t resume = 0, at_once = sl_http_head_len(buf, size, &resume);
	size_t step = size > 4096 ? size / 512 : 1, got = 0;
	resume = 0;
	for (size_t n = 0; n <= size && !got; n += step)
		got = sl_http_head_len(buf, n, &resume);
	if (!got)
		got = sl_http_head_len(buf, size, &resume);
	SL_ASSERT(got == at_once);

	/* Addresses and URLs from the same bytes (NUL-terminated, short). */
	char s[512];
	size_t k = SL_MIN(size, sizeof(s) - 1);
	memcpy(s, buf, k);
	s[k] = '\0';
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[256];
	if (sl_http_parse_addr(s, &ss, &sl, err, sizeof(err)) == 0)
		(void)sl_http_addr_is_loopback(&ss);
	struct sl_http_url u;
	if (sl_http_url_parse(s, &u, err, sizeof(err)) == 0) {
		SL_ASSERT(u.path[0] == '/');
		SL_ASSERT(u.port > 0);
	}
	return 0;
}
