/* Shared by the fault trials on the Xen path: see stream_trial.h. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "stream_trial.h"
#include "test_net_util.h"
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

void rec_add(struct recording *r, uint32_t type, const uint8_t *p, size_t len)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 64;
		r->f = realloc(r->f, r->cap * sizeof(*r->f));
		assert_non_null(r->f);
	}
	r->f[r->n].type = type;
	r->f[r->n].data = malloc(len ? len : 1);
	assert_non_null(r->f[r->n].data);
	memcpy(r->f[r->n].data, p, len);
	r->f[r->n].len = len;
	if (type == RNET_MSG_STREAM)
		assert_int_equal(stream_buf_append(&r->stream, p, len), 0);
	r->f[r->n].stream_end = stream_buf_size(&r->stream);
	r->n++;
}

void rec_free(struct recording *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->f[i].data);
	free(r->f);
	stream_buf_free(&r->stream);
}

void *rec_backup_main(void *arg)
{
	struct rec_backup *b = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + b->wait_ms, ready = 0;
	size_t ends[FAKE_PAGES_MAX_CKPT];
	struct rnet_msg m;

	while (rnet_now_ms() < until) {
		struct pollfd p[2] = { { .fd = rnet_conn_fd(b->c), .events = POLLIN },
		                       { .fd = b->dl.fd, .events = POLLIN } };
		bool more = false, gone;

		poll(p, 2, 20);
		gone = rnet_conn_feed(b->c, rnet_now_ms(), &err) < 0;
		while (rnet_conn_next(b->c, &m, &err) == 1) {
			if (m.type == RNET_MSG_BYE)     /* the primary ended the run */
				gone = true;
			if (m.type != RNET_MSG_STREAM && m.type != RNET_MSG_DISK)
				continue;
			rec_add(b->rec, m.type, m.body, m.len);
			more |= m.type == RNET_MSG_STREAM;
			if (m.type == RNET_MSG_DISK &&
			    disk_channel_deliver_in(&b->dl, b->ops, b->d, m.body, m.len, &ready, &err) < 0)
				fail_msg("helper backup: %s", err.msg);
		}
		if (more && !gone) {
			unsigned n = find_ckpt_ends(stream_buf_flat(&b->rec->stream),
			                            stream_buf_size(&b->rec->stream), ends,
			                            FAKE_PAGES_MAX_CKPT);

			while (b->acked < n)
				assert_int_equal(rnet_conn_send_ack(b->c, ++b->acked, &err), 0);
		}
		if (gone)
			break;
		if (disk_channel_forward_out(&b->dl, b->c, &err) < 0)   /* resync answers */
			fail_msg("helper backup: %s", err.msg);
		rnet_conn_tick(b->c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(b->c))
			rnet_conn_flush(b->c, &err);
	}
	return NULL;
}

void *replayer_main(void *arg)
{
	struct replayer *p = arg;
	struct remus_err err = { 0 };
	size_t ends[FAKE_PAGES_MAX_CKPT];
	unsigned n = find_ckpt_ends(stream_buf_flat(&p->rec->stream), stream_buf_size(&p->rec->stream),
	                            ends, FAKE_PAGES_MAX_CKPT), next = 0;

	for (size_t i = 0; i < p->rec->n; i++) {
		const struct frame *f = &p->rec->f[i];

		assert_int_equal(f->type == RNET_MSG_STREAM ?
		                 rnet_conn_send_stream(p->c, f->data, f->len, &err) :
		                 rnet_conn_send_disk(p->c, f->data, f->len, &err), 0);
		conn_flush_all(p->c, p->wait_ms);
		while (next < n && next < p->wait_upto && f->stream_end >= ends[next])
			conn_wait_ack(p->c, &p->acks, ++next, p->wait_ms);
	}
	shutdown(rnet_conn_fd(p->c), SHUT_WR);
	return NULL;
}
