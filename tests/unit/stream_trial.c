/* Shared by the fault trials on the Xen path: see stream_trial.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "stream_trial.h"
#include "test_xen_fake.h"
#include "test_xen_fake_pages.h"

int fault_hit(void *arg, const char *point, uint64_t epoch)
{
	struct fault_at *f = arg;

	if (f->fired || strcmp(point, f->point) != 0 || epoch != f->epoch)
		return 0;
	f->fired++;
	return 1;
}

unsigned find_ckpt_ends(const uint8_t *d, size_t len, size_t *ends, unsigned max)
{
	struct stream_reader_cfg cfg = { .start = STREAM_START_AUTO };
	struct stream_reader rd;
	struct stream_rec rec;
	size_t off = 0, used;
	unsigned n = 0;

	stream_reader_init(&rd, &cfg);
	while (off < len) {
		int rc = stream_reader_feed(&rd, d + off, len - off, &used, &rec);

		off += used;
		if (rc < 0)
			fail_msg("the primary's stream is not valid: %s", rd.err.msg);
		if (rc == 1 && rec.item == STREAM_ITEM_LIBXL_RECORD &&
		    rec.type == STREAM_XL_CHECKPOINT_END && n < max)
			ends[n++] = off;
	}
	stream_reader_free(&rd);
	return n;
}

void backup_host_setup(unsigned pages, unsigned dirty)
{
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	fake_pages_on(pages, dirty);
}
