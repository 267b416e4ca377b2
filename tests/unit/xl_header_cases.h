/* xl migration headers a peer might send, good and bad, for the tests of
 * every reader of them (stream_xl_header_take directly, the Xen driver's
 * xl receiver, the engine's stream receiver): each must refuse the same
 * bad ones with the same reason. */
#ifndef REMUS_TESTS_XL_HEADER_CASES_H
#define REMUS_TESTS_XL_HEADER_CASES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"

struct xl_case {
	const char *name;
	uint32_t mflags;
	const char *config;         /* the configuration bytes, config_len of them */
	uint32_t config_len;
	uint32_t optlen;            /* 0: 4 + config_len */
	int code;                   /* stream_xl_header_take's result */
	const char *why;            /* a part of the message */
};

#define XL_V2   STREAM_XL_MFLAG_STREAMV2
#define XL_JSON STREAM_XL_MFLAG_JSON

static const struct xl_case xl_bad_cases[] = {
	{ "no STREAMv2", XL_JSON, "{}", 3, 0, STREAM_E_VERSION, "STREAMv2 not set" },
	{ "no JSON", XL_V2, NULL, 0, 4, STREAM_E_XL_CONFIG, "no JSON configuration" },
	{ "embedded NUL", XL_V2 | XL_JSON, "{}\0{}", 6, 0, STREAM_E_XL_CONFIG,
	  "has a NUL at byte 2" },
	{ "no terminator", XL_V2 | XL_JSON, "{}", 2, 0, STREAM_E_XL_CONFIG,
	  "is not NUL-terminated" },
	{ "too big", XL_V2 | XL_JSON, "{}", 3, 4u + STREAM_XL_CONFIG_MAX + 1u, STREAM_E_TOO_BIG,
	  "over the limit" },
};
#define XL_NBAD (sizeof(xl_bad_cases) / sizeof(xl_bad_cases[0]))

/* The header bytes of case c (malloc'ed, *len of them).  A "too big"
 * header is only its fixed 48 bytes: it must be refused on those. */
static inline uint8_t *xl_case_bytes(const struct xl_case *c, size_t *len)
{
	uint32_t opt = c->optlen ? c->optlen : 4u + c->config_len;
	size_t n = STREAM_XL_HDR_SIZE + (opt > 4u + c->config_len ? 0 : opt);
	uint8_t *p = calloc(1, n);

	if (p == NULL)
		abort();
	memcpy(p, STREAM_XL_MAGIC, STREAM_XL_MAGIC_LEN);
	put_le32(p + 32, STREAM_XL_BYTEORDER);
	put_le32(p + 36, c->mflags);
	put_le32(p + 40, 0);
	put_le32(p + 44, opt);
	if (n > STREAM_XL_HDR_SIZE && opt >= 4) {
		put_le32(p + 48, c->config_len);
		if (c->config_len)
			memcpy(p + 52, c->config, c->config_len);
	}
	*len = n;
	return p;
}

#endif
