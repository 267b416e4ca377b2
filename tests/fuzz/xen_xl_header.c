/* libFuzzer target: xl's migration header as remus-xl-receive reads it from
 * the sender (xen_xl_read_header on a memfd).  Whatever it accepts is a
 * NUL-terminated configuration inside the input, and never more bytes are
 * consumed than the header holds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/xen/xen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	char *json = NULL;
	size_t len = 0;
	off_t pos;
	int fd = memfd_create("xl-header", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	if (xen_xl_read_header(fd, &json, &len, &err) == 0) {
		pos = lseek(fd, 0, SEEK_CUR);
		if (len == 0 || json[len - 1] != '\0' || strlen(json) != len - 1 ||
		    pos < 0 || (size_t)pos > size || (size_t)pos < len)
			abort();
		free(json);
	} else if (json != NULL || err.msg[0] == '\0') {
		abort();
	}
	close(fd);
	return 0;
}
