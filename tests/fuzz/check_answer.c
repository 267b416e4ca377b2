/* libFuzzer target: the backup's answer on a check-only link
 * (remusd/check_proto.h), as the primary's check worker reads it off an
 * RNET_MSG_CHECK frame; an accepted answer must re-encode to the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/check_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[RNET_CHECK_MAX];
	struct remusd_check_answer a;
	struct remus_err err = { 0 };
	size_t n;

	if (remusd_check_answer_parse(data, size, &a, &err) != 0)
		return 0;
	if ((a.problems & ~REMUSD_PEER_ALL) || strlen(a.text) > REMUSD_CHECK_TEXT_MAX)
		abort();
	n = remusd_check_answer_encode(&a, again);
	if (n != size || memcmp(again, data, size) != 0)
		abort();
	return 0;
}
