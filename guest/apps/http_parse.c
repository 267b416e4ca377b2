/*
 * HTTP/1.x request-head parsing for httpd (see http_parse.h).
 */
#include "guest/apps/http_parse.h"
#include "guest/rt/rt.h"

/* Case-insensitive comparison of n bytes against a lower-case literal. */
static bool http_ieq(const char *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i]; i++) {
		char c = s[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return i == n && !lit[i];
}

/* Find "\r\n" in s[0..n); returns its offset or n. */
static size_t http_eol(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if (s[i] == '\r' && s[i + 1] == '\n')
			return i;
	return n;
}

/* Parse "METHOD SP PATH SP HTTP/1.x". */
static const char *http_request_line(const char *s, size_t n, struct http_req *r)
{
	size_t i = 0, j;

	while (i < n && s[i] != ' ')
		i++;
	if (i == 0 || i == n)
		return "request line has no method";
	r->method = s;
	r->method_len = i;
	j = ++i;
	while (i < n && s[i] != ' ')
		i++;
	if (i == j || i == n || s[j] != '/')
		return "request line has no absolute path";
	r->path = s + j;
	r->path_len = i - j;
	i++;
	if (n - i != 8 || memcmp(s + i, "HTTP/1.", 7) || s[i + 7] < '0' || s[i + 7] > '9')
		return "request line has no HTTP/1.x version";
	r->minor = s[i + 7] - '0';
	r->close = r->minor == 0;
	return NULL;
}

/* Interpret one "Name: value" header line. */
static const char *http_header(const char *s, size_t n, struct http_req *r)
{
	size_t colon = 0, v;

	while (colon < n && s[colon] != ':')
		colon++;
	if (colon == 0 || colon == n)
		return "header line without a name and colon";
	v = colon + 1;
	while (v < n && (s[v] == ' ' || s[v] == '\t'))
		v++;
	while (n > v && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (http_ieq(s, colon, "content-length")) {
		if (r->has_length || !rt_parse_u64(s + v, n - v, &r->content_length))
			return "bad or repeated Content-Length";
		r->has_length = true;
	} else if (http_ieq(s, colon, "connection")) {
		if (http_ieq(s + v, n - v, "close"))
			r->close = true;
		else if (http_ieq(s + v, n - v, "keep-alive"))
			r->close = false;
	} else if (http_ieq(s, colon, "transfer-encoding")) {
		return "Transfer-Encoding is not supported";
	}
	return NULL;
}

/* Parse the request head line by line (see http_parse.h). */
int http_parse_head(const char *buf, size_t len, struct http_req *r, const char **why)
{
	size_t off, eol;
	bool first = true;

	memset(r, 0, sizeof(*r));
	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;
	for (off = 0;; off = eol + 2) {
		eol = off + http_eol(buf + off, len - off);
		if (eol >= len) {
			if (len == HTTP_HEAD_MAX) {
				*why = "request head larger than 4096 bytes";
				return -1;
			}
			return 0;
		}
		if (eol == off && !first) {
			r->head_len = eol + 2;
			return 1;
		}
		*why = first ? http_request_line(buf + off, eol - off, r)
			     : http_header(buf + off, eol - off, r);
		if (*why)
			return -1;
		first = false;
	}
}
