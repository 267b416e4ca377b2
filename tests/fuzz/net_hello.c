/* libFuzzer target: the HELLO decoder and the capability agreement.  A
 * HELLO that parses must re-encode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct rnet_hello h, mine = { .version = RNET_VERSION };
	uint8_t again[RNET_HELLO_LEN];

	if (rnet_hello_parse(data, size, &h, &err) != 0)
		return 0;
	if (rnet_hello_encode(&h, again) != 0 || size != RNET_HELLO_LEN ||
	    memcmp(again, data, RNET_HELLO_LEN) != 0)
		abort();
	mine.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE);
	strcpy(mine.caps.hv, "pvm");
	strcpy(mine.caps.guest, "kvstore");
	(void)rnet_caps_check(&h.caps, &mine.caps, &err);
	(void)rnet_caps_check(&mine.caps, &h.caps, &err);
	return 0;
}
