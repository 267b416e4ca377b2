/* libFuzzer target: remus.conf parsing of arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "remusd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;
	int rc;

	rc = remusd_conf_parse("fuzz.conf", (const char *)data, size, &c, &err);
	if ((rc == 0) != (c != NULL))
		abort();
	if (c != NULL && (c->nguests > REMUSD_MAX_GUESTS || c->key_file[0] == '\0'))
		abort();
	remusd_conf_free(c);
	return 0;
}
