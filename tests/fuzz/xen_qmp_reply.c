/* libFuzzer target: what QEMU sends on the device model's QMP socket, as
 * the driver's reply parser frames and classifies it.  The first byte picks
 * the read size (framing must not depend on it); every message accepted is
 * one of the four QMP kinds with its fields in place, no more bytes are
 * consumed than given, and a rejection always says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hv/xen/xen_qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct xen_qmp_parser p;
	struct xen_qmp_msg m;
	size_t step, off = 1, used, n;
	int rc = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 64 + 1;
	if (xen_qmp_parser_init(&p, &err) < 0)
		abort();
	while (off < size) {
		n = size - off < step ? size - off : step;
		rc = xen_qmp_parser_feed(&p, (const char *)data + off, n, &used, &m, &err);
		if (used > n)
			abort();
		off += used;
		if (rc < 0) {
			if (err.msg[0] == '\0' || m.obj != NULL)
				abort();
			break;
		}
		if (rc == 1) {
			if (m.obj == NULL || (m.kind == XEN_QMP_EVENT && m.event == NULL) ||
			    (m.kind == XEN_QMP_ERROR && (m.err_class == NULL || m.err_desc == NULL)))
				abort();
			xen_qmp_msg_free(&m);
		} else if (used != n) {
			abort();
		}
	}
	xen_qmp_parser_free(&p);
	return 0;
}
