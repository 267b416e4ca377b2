/* libFuzzer target: the rnet frame parser over a receive buffer, and the
 * zlib / zstd unpackers for STREAM_ZLIB / STREAM_ZSTD bodies, as a
 * connection would use them. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[RNET_BODY_MAX];
	struct remus_err err = { 0 };
	struct rnet_msg m;
	size_t off = 0, used = 0, raw = 0;
	int rc;

	while (off < size) {
		rc = rnet_frame_parse(data + off, size - off, &m, &used, &err);
		if (rc <= 0)
			break;
		if (used < RNET_HDR_LEN || used > size - off)
			abort();
		if (m.type == RNET_MSG_STREAM_ZLIB &&
		    rnet_zlib_unpack(m.body, m.len, out, sizeof(out), &raw, &err) == 0 &&
		    (raw == 0 || raw > RNET_BODY_MAX))
			abort();
		if (m.type == RNET_MSG_STREAM_ZSTD &&
		    rnet_zstd_unpack(m.body, m.len, out, sizeof(out), &raw, &err) == 0 &&
		    (raw == 0 || raw > RNET_BODY_MAX))
			abort();
		off += used;
	}
	return 0;
}
