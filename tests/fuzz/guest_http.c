/*
 * Fuzz target for httpd's request-head parser.
 */
#include <stdint.h>
#include <stdlib.h>

#include "guest/apps/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req r;
	const char *why = NULL;
	int rc = http_parse_head((const char *)data, size, &r, &why);

	if (rc == 1 && (r.head_len > size || r.path_len == 0 || r.method_len == 0))
		abort();
	if (rc < 0 && !why)
		abort();
	return 0;
}
