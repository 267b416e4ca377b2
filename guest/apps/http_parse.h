/*
 * A strict parser for the head of an HTTP/1.x request (request line and
 * headers) as httpd needs it.  Input is hostile: bounded, no allocation.
 */
#ifndef GUEST_HTTP_PARSE_H
#define GUEST_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 4096u

struct http_req {
	const char *method, *path;
	size_t method_len, path_len;
	int minor;                 /* HTTP/1.<minor> */
	bool has_length;
	uint64_t content_length;
	bool close;                /* Connection: close (or HTTP/1.0) */
	size_t head_len;           /* bytes up to and including the blank line */
};

/*
 * Parse buf[0..len).  Returns 1 with *r filled when a complete head is
 * present, 0 if more bytes are needed, -1 if the request is malformed
 * (*why names the problem).
 */
int http_parse_head(const char *buf, size_t len, struct http_req *r, const char **why);

#endif
