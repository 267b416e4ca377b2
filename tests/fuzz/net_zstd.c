/* libFuzzer target: the STREAM_ZSTD unpacker over hostile bodies (u32 raw
 * length + one zstd frame): it must fail cleanly or yield exactly the
 * declared length, never more than the buffer. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[RNET_BODY_MAX];
	struct remus_err err = { 0 };
	size_t raw = 0;

	if (rnet_zstd_unpack(data, size, out, sizeof(out), &raw, &err) == 0 &&
	    (raw == 0 || raw > RNET_BODY_MAX || size < 5 ||
	     raw != ((size_t)data[0] << 24 | (size_t)data[1] << 16 | (size_t)data[2] << 8 | data[3])))
		abort();
	return 0;
}
