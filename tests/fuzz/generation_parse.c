/* libFuzzer target: ownership generations (remusd/generation.h), both
 * hostile inputs: the state file as read from disk and the group message
 * as another node's daemon sent it.  The first byte chooses which; an
 * accepted input must re-encode to itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/generation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct remusd_gen_msg m;
	uint8_t again[REMUSD_GEN_MSG_LEN];
	char line[REMUSD_GEN_FILE_MAX + 1];
	uint64_t gen;
	int n;

	if (size < 1)
		return 0;
	if (data[0] & 1) {
		if (remusd_gen_msg_parse(data + 1, size - 1, &m, &err) != 0)
			return 0;
		if (m.generation > REMUSD_GEN_MAX || remusd_gen_msg_encode(&m, again) != 0 ||
		    size - 1 != REMUSD_GEN_MSG_LEN || memcmp(again, data + 1, size - 1) != 0)
			abort();
		return 0;
	}
	/* the file names guest "g" (the seed corpus' name) */
	if (remusd_gen_parse(data + 1, size - 1, "g", &gen, &err) != 0)
		return 0;
	n = remusd_gen_format(line, sizeof(line), "g", gen);
	if (n < 0 || (size_t)n != size - 1 || memcmp(line, data + 1, size - 1) != 0)
		abort();
	return 0;
}
