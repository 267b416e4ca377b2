/* libFuzzer target: the HELLO decoder, the CAPS block decoder and the
 * capability agreement.  A HELLO or caps block that parses must re-encode
 * to the same bytes; a HELLO's caps are complete or neutral, never half. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct rnet_hello h, mine = { .version = RNET_VERSION };
	struct rnet_caps caps;
	uint8_t again[RNET_HELLO_LEN];

	mine.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE);
	strcpy(mine.caps.hv, "pvm");
	strcpy(mine.caps.guest, "kvstore");
	if (rnet_caps_parse(data, size, &caps, &err) == 0) {
		if (rnet_caps_neutral(&caps) || caps.hv[0] == 0 || caps.guest[0] == 0 ||
		    rnet_caps_encode(&caps, again) != 0 || memcmp(again, data, RNET_CAPS_LEN) != 0)
			abort();
		(void)rnet_caps_check(&caps, &mine.caps, &err);
	}
	if (rnet_hello_parse(data, size, &h, &err) != 0)
		return 0;
	if (rnet_hello_encode(&h, again) != 0 || size != RNET_HELLO_LEN ||
	    memcmp(again, data, RNET_HELLO_LEN) != 0)
		abort();
	if (!rnet_caps_neutral(&h.caps) && (h.caps.hv[0] == 0 || h.caps.guest[0] == 0))
		abort();
	(void)rnet_caps_check(&h.caps, &mine.caps, &err);
	(void)rnet_caps_check(&mine.caps, &h.caps, &err);
	return 0;
}
