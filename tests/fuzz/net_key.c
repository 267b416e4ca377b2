/* libFuzzer target: the key file's text decoder (hex or base64).  A key
 * it accepts is 32..4096 bytes; hex input re-encodes to itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rnet_key key;
	struct remus_err err = { 0 };
	char hex[3];

	if (rnet_key_parse(data, size, "fuzz", &key, &err) != 0)
		return 0;
	if (key.len < RNET_KEY_MIN || key.len > RNET_KEY_MAX)
		abort();
	if (size >= 2 * key.len && size <= 2 * key.len + 2) {     /* hex form */
		for (size_t i = 0; i < key.len; i++) {
			snprintf(hex, sizeof(hex), "%02x", key.bytes[i]);
			if ((hex[0] != (data[2 * i] | 0x20) && hex[0] != data[2 * i]) ||
			    (hex[1] != (data[2 * i + 1] | 0x20) && hex[1] != data[2 * i + 1]))
				abort();
		}
	}
	return 0;
}
