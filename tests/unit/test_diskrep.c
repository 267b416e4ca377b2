/* Unit tests for diskrep: wire codec, backup staging/commit/rejects,
 * journal validation and the drbd configuration checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/mman.h>

#include "diskrep/internal.h"
#include "diskrep_fixture.h"

static uint8_t frame[DRW_MAX_FRAME];

/* Send with `send`, read back one frame, parse it. */
static void roundtrip(int *sv, struct drw_msg *m)
{
	struct remus_err err = { 0 };
	size_t len;
	assert_int_equal(drw_read_frame(sv[0], frame, sizeof(frame), &len, &err), 0);
	assert_int_equal(drw_parse(frame, len, m, &err), 0);
}

static void test_wire_roundtrip_each_type(void **state)
{
	uint8_t data[1024];
	uint64_t hashes[3] = { 1, 0xdeadbeefcafef00dull, 3 };
	struct remus_err err = { 0 };
	struct drw_msg m;
	int sv[2];
	(void)state;

	memset(data, 0x5a, sizeof(data));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(drw_send_write(sv[1], 7, 4096, data, 1024, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.type, DRW_WRITE);
	assert_int_equal(m.epoch, 7);
	assert_int_equal(m.offset, 4096);
	assert_int_equal(m.len, 1024);
	assert_memory_equal(m.data, data, 1024);
	assert_int_equal(drw_send_epoch_end(sv[1], 9, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.type, DRW_EPOCH_END);
	assert_int_equal(m.epoch, 9);
	assert_int_equal(drw_send_sync_begin(sv[1], 1 << 20, 4096, 0, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.image_bytes, 1 << 20);
	assert_int_equal(m.block_size, 4096);
	assert_int_equal(drw_send_hash_req(sv[1], 5, 3, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.first_block, 5);
	assert_int_equal(m.count, 3);
	assert_int_equal(drw_send_hash_reply(sv[1], 5, hashes, 3, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.type, DRW_HASH_REPLY);
	assert_true(drw_hash_at(&m, 1) == hashes[1]);
	assert_int_equal(drw_send_block(sv[1], 512, data, 512, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.type, DRW_BLOCK);
	assert_int_equal(m.offset, 512);
	assert_int_equal(drw_send_sync_done(sv[1], 11, 42, &err), 0);
	roundtrip(sv, &m);
	assert_int_equal(m.epoch, 11);
	assert_int_equal(m.blocks_sent, 42);
	close(sv[0]);
	close(sv[1]);
}

/* Build a raw frame: header + body. */
static size_t raw(uint8_t *f, unsigned type, const void *body, uint32_t n)
{
	f[0] = (uint8_t)type; f[1] = 0; f[2] = f[3] = 0;
	put_le32(f + 4, n);
	memcpy(f + 8, body, n);
	return 8 + n;
}

static void test_wire_rejects_malformed(void **state)
{
	uint8_t body[64] = { 0 }, f[128] = { 0 };
	struct remus_err err = { 0 };
	struct drw_msg m;
	size_t n;
	(void)state;

	assert_int_equal(drw_parse(f, 4, &m, &err), DISKREP_EPROTO);
	n = raw(f, 99, body, 8);
	assert_int_equal(drw_parse(f, n, &m, &err), DISKREP_EPROTO);
	assert_non_null(strstr(err.msg, "unknown type 99"));
	n = raw(f, DRW_EPOCH_END, body, 8);
	f[3] = 1;                                   /* reserved bits */
	assert_int_equal(drw_parse(f, n, &m, &err), DISKREP_EPROTO);
	n = raw(f, DRW_EPOCH_END, body, 8);
	assert_int_equal(drw_parse(f, n - 1, &m, &err), DISKREP_EPROTO);
	assert_non_null(strstr(err.msg, "header says 8"));
	n = raw(f, DRW_WRITE, body, 16 + 40);       /* payload not sector sized */
	assert_int_equal(drw_parse(f, n, &m, &err), DISKREP_EPROTO);
	assert_non_null(strstr(err.msg, "sectors"));
	put_le32(body + 8, 5);                    /* HASH_REPLY claims 5, holds 1 */
	n = raw(f, DRW_HASH_REPLY, body, 24);
	assert_int_equal(drw_parse(f, n, &m, &err), DISKREP_EPROTO);
	n = raw(f, DRW_EPOCH_END, body, 8);
	put_le32(f + 4, DRW_MAX_BODY + 1);        /* oversized body */
	assert_int_equal(drw_parse(f, n, &m, &err), DISKREP_EPROTO);
}

/* Deliver a WRITE frame to the backup directly. */
static int deliver_write(struct fx *f, uint64_t epoch, uint64_t off, const uint8_t *d, size_t len)
{
	uint8_t *fr = malloc(24 + len);
	struct diskrep_event ev;
	put_le32(fr, DRW_WRITE);
	put_le32(fr + 4, (uint32_t)(16 + len));
	put_le64(fr + 8, epoch);
	put_le64(fr + 16, off);
	memcpy(fr + 24, d, len);
	int rc = f->ops->deliver(f->b, fr, 24 + len, &ev, &f->err);
	free(fr);
	return rc;
}

static int deliver_end(struct fx *f, uint64_t epoch)
{
	uint8_t fr[16];
	struct diskrep_event ev;
	put_le32(fr, DRW_EPOCH_END);
	put_le32(fr + 4, 8);
	put_le64(fr + 8, epoch);
	return f->ops->deliver(f->b, fr, sizeof(fr), &ev, &f->err);
}

/* Backup synced at epoch 0 (state written by a real resync). */
static void synced_backup(struct fx *f, size_t cap)
{
	assert_int_equal(fx_open_backup(f, 4096, cap), 0);
	assert_int_equal(fx_open_primary(f, 4096, 0), 0);
	assert_int_equal(f->ops->resync(f->p, DISKREP_RESYNC_DIRTY, NULL, NULL, &f->err), 0);
	for (;;) {
		struct diskrep_event ev;
		assert_int_equal(f->ops->receive(f->b, &ev, &f->err), 0);
		if (ev.type == DISKREP_EV_SYNC_DONE)
			break;
	}
}

static void expect_reject_keeps_image(int (*bad)(struct fx *), int code, const char *what)
{
	struct fx f;
	uint8_t a[512], b[512], *before = malloc(64 * 1024), *after = malloc(64 * 1024);
	struct diskrep_counters c;

	fx_init(&f, 64 * 1024);
	synced_backup(&f, 1 << 20);
	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	assert_int_equal(deliver_write(&f, 1, 0, a, 512), 0);
	assert_int_equal(deliver_end(&f, 1), 0);
	assert_int_equal(deliver_write(&f, 2, 1024, b, 512), 0);  /* staged, then discarded */
	fx_read(f.bimg, before, f.bytes);
	assert_int_equal(bad(&f), code);
	assert_non_null(strstr(f.err.msg, what));
	assert_non_null(strstr(f.err.msg, "staged epoch 2 discarded"));
	assert_int_equal(deliver_end(&f, 2), DISKREP_ESTATE);     /* refused until discard */
	assert_int_equal(f.ops->commit(f.b, 1, &f.err), 0);       /* complete epoch 1 still commits */
	assert_int_equal(f.ops->commit(f.b, 2, &f.err), DISKREP_EEPOCH);
	fx_read(f.bimg, after, f.bytes);
	memcpy(before, a, 512);
	assert_memory_equal(before, after, f.bytes);              /* epoch 2 never applied */
	f.ops->counters(f.b, &c);
	assert_int_equal(c.rejects, 1);
	assert_int_equal(c.committed_epoch, 1);
	assert_int_equal(f.ops->discard_uncommitted(f.b, &f.err), 0);
	assert_int_equal(deliver_write(&f, 2, 0, b, 512), 0);     /* usable again */
	free(before);
	free(after);
	fx_fini(&f);
}

static int bad_offset(struct fx *f)
{
	uint8_t d[1024] = { 0 };
	return deliver_write(f, 2, 64 * 1024 - 512, d, 1024);
}

static int bad_length(struct fx *f)
{
	uint8_t d[700] = { 0 };
	return deliver_write(f, 2, 0, d, 700);
}

static int bad_epoch(struct fx *f)
{
	uint8_t d[512] = { 0 };
	return deliver_write(f, 1, 0, d, 512);
}

static void test_reject_offset_beyond_image(void **s) { (void)s; expect_reject_keeps_image(bad_offset, DISKREP_ERANGE, "beyond the 65536-byte image"); }
static void test_reject_unaligned_length(void **s) { (void)s; expect_reject_keeps_image(bad_length, DISKREP_EPROTO, "sectors"); }
static void test_reject_epoch_backwards(void **s) { (void)s; expect_reject_keeps_image(bad_epoch, DISKREP_EEPOCH, "goes backwards"); }

/* Commit order: only complete epochs, never twice; spilled data commits. */
static void test_commit_order_and_spill(void **state)
{
	struct fx f;
	uint8_t d[4096], *img = malloc(64 * 1024);
	struct diskrep_counters c;
	(void)state;

	fx_init(&f, 64 * 1024);
	synced_backup(&f, 1024);                    /* tiny cap: everything spills */
	memset(d, 0x33, sizeof(d));
	assert_int_equal(deliver_write(&f, 1, 8192, d, 4096), 0);
	assert_int_equal(f.ops->commit(f.b, 1, &f.err), DISKREP_EEPOCH);  /* not complete */
	assert_non_null(strstr(f.err.msg, "complete up to 0"));
	assert_int_equal(deliver_end(&f, 1), 0);
	assert_int_equal(deliver_end(&f, 2), 0);    /* an epoch without writes */
	assert_int_equal(f.ops->commit(f.b, 2, &f.err), 0);
	assert_int_equal(f.ops->commit(f.b, 2, &f.err), DISKREP_EEPOCH);
	f.ops->counters(f.b, &c);
	assert_int_equal(c.epochs_committed, 2);
	assert_true(c.spilled_bytes >= 4096);
	fx_read(f.bimg, img, f.bytes);
	assert_memory_equal(img + 8192, d, 4096);
	assert_int_equal(deliver_write(&f, 3, 0, d, 512), 0);
	assert_int_equal(f.ops->promote(f.b, &f.err), DISKREP_ESTATE);  /* staged writes left */
	assert_int_equal(f.ops->discard_uncommitted(f.b, &f.err), 0);
	assert_int_equal(f.ops->promote(f.b, &f.err), 0);
	fx_read(f.bimg, img, f.bytes);
	assert_memory_equal(img + 8192, d, 4096);
	free(img);
	fx_fini(&f);
}

/* A commit step that fails leaves the handle refusing; reopening recovers
 * epoch N from the durable journal. */
static int fail_after_journal(void *arg, const char *point)
{
	(void)arg;
	return strcmp(point, "commit:apply-record") == 0;
}

static void test_failed_commit_recovers_on_reopen(void **state)
{
	struct fx f;
	uint8_t d[512], *img = malloc(64 * 1024);
	struct diskrep_counters c;
	(void)state;

	fx_init(&f, 64 * 1024);
	synced_backup(&f, 1 << 20);
	f.ops->close(f.b);
	struct diskrep_config bc = { .role = DISKREP_BACKUP, .image = f.bimg, .state_dir = f.bst,
	                             .peer_fd = -1, .block_size = 4096,
	                             .fault = { NULL, fail_after_journal } };
	assert_int_equal(f.ops->open(&bc, &f.b, &f.err), 0);
	memset(d, 0x77, sizeof(d));
	assert_int_equal(deliver_write(&f, 1, 512, d, 512), 0);
	assert_int_equal(deliver_end(&f, 1), 0);
	assert_int_equal(f.ops->commit(f.b, 1, &f.err), -EIO);
	assert_non_null(strstr(f.err.msg, "fault injected at commit:apply-record"));
	assert_int_equal(f.ops->commit(f.b, 1, &f.err), DISKREP_ESTATE);
	f.ops->close(f.b);
	assert_int_equal(fx_open_backup(&f, 4096, 0), 0);
	f.ops->counters(f.b, &c);
	assert_int_equal(c.committed_epoch, 1);
	assert_true(c.consistent);
	fx_read(f.bimg, img, f.bytes);
	assert_memory_equal(img + 512, d, 512);
	free(img);
	fx_fini(&f);
}

/* Journal scan: a torn or altered journal is refused as a whole. */
static void test_journal_scan_rejects_torn_and_altered(void **state)
{
	uint8_t j[DR_JHDR_LEN + DR_JREC_LEN + 512 + DR_JTRL_LEN] = "RMSDJRNL";
	struct dr_journal_info info;
	struct remus_err err = { 0 };
	int fd = memfd_create("j", 0);
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(dr_journal_scan(fd, 65536, &info, NULL, NULL, &err), 1);   /* empty */
	put_le32(j + 8, 1);
	put_le64(j + 16, 4);
	put_le64(j + 24, 1);
	put_le64(j + 32, 512);
	put_le64(j + 40, 65536);
	put_le64(j + 48, 1024);
	put_le32(j + 56, 512);
	memcpy(j + sizeof(j) - 16, "RMSDJEND", 8);
	assert_int_equal(write(fd, j, sizeof(j) - 3), (ssize_t)sizeof(j) - 3);     /* torn */
	assert_int_equal(dr_journal_scan(fd, 65536, &info, NULL, NULL, &err), DISKREP_ECORRUPT);
	assert_non_null(strstr(err.msg, "do not fill"));
	assert_int_equal(pwrite(fd, j, sizeof(j), 0), (ssize_t)sizeof(j));         /* bad sum */
	assert_int_equal(dr_journal_scan(fd, 65536, &info, NULL, NULL, &err), DISKREP_ECORRUPT);
	assert_non_null(strstr(err.msg, "checksum"));
	put_le64(j + 48, 65536 - 256);                                           /* out of image */
	assert_int_equal(pwrite(fd, j, sizeof(j), 0), (ssize_t)sizeof(j));
	assert_int_equal(dr_journal_scan(fd, 65536, &info, NULL, NULL, &err), DISKREP_ECORRUPT);
	assert_non_null(strstr(err.msg, "record 0"));
	close(fd);
}

static void test_drbd_refused_without_unsafe(void **state)
{
	const struct diskrep_ops *ops = diskrep_backend("drbd");
	struct diskrep_config c = { .role = DISKREP_PRIMARY, .drbd = {
		.resource = "g1", .backing_disk = "/dev/vg/g1", .conf_dir = ".",
		.local_host = "a", .local_addr = "10.0.0.1:7789",
		.peer_host = "b", .peer_addr = "10.0.0.2:7789" } };
	struct remus_err err = { 0 };
	struct diskrep *d = NULL;
	(void)state;

	assert_non_null(ops);
	assert_int_equal(ops->open(&c, &d, &err), DISKREP_EUNSAFE);
	assert_non_null(strstr(err.msg, "ahead of the restored memory checkpoint"));
	c.drbd.resource = "g1;rm";
	c.unsafe = true;
	assert_int_equal(ops->open(&c, &d, &err), -EINVAL);
	c.drbd.resource = "g1";
	c.drbd.protocol = 'X';
	assert_int_equal(ops->open(&c, &d, &err), -EINVAL);
	assert_null(d);
	assert_null(diskrep_backend("nope"));
}

/* `drbdsetup show` (8.4): the endpoints in drbdsetup 8.4's argument form,
 * allow-two-primaries read; malformed output refused with the reason. */
static void test_drbd_show_reader(void **state)
{
	static const char ok[] =
	    "resource r {\n    net {\n        allow-two-primaries\tyes;\n    }\n"
	    "    _remote_host {\n        address\t\t\tipv4 127.0.0.1:7792;\n    }\n"
	    "    _this_host {\n        address\t\t\tipv6 [fd00::1]:7791;\n"
	    "        volume 0 {\n            device\t\t\tminor 11;\n        }\n    }\n}\n";
	static const struct { const char *text, *why; } bad[] = {
		{ "_this_host { address ipv4 1.2.3.4:1; }", "no _remote_host address" },
		{ "_this_host { address sdp 1.2.3.4:1; } _remote_host { address ipv4 1.2.3.4:2; }",
		  "address family 'sdp'" },
		{ "_this_host { address ipv4 1.2.3.4;rm:1; } _remote_host { address ipv4 1.2.3.4:2; }",
		  "is not addr:port" },
		{ "_this_host { address ipv4 1.2.3.4:1; } _this_host { address ipv4 1.2.3.4:3; }",
		  "two addresses" },
		{ "_remote_host { address", "without 'af addr:port'" },
		{ "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		  "a word longer than 63" },
	};
	struct diskrep_drbd_conn c;
	struct remus_err err = { 0 };

	(void)state;
	assert_int_equal(diskrep_drbd_parse_show(ok, strlen(ok), &c, &err), 0);
	assert_string_equal(c.local, "ipv6:[fd00::1]:7791");
	assert_string_equal(c.peer, "ipv4:127.0.0.1:7792");
	assert_true(c.allow_two);
	/* the length bounds the text: cut before the remote host's address */
	assert_int_equal(diskrep_drbd_parse_show(ok, 60, &c, &err), DISKREP_EPROTO);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(diskrep_drbd_parse_show(bad[i].text, strlen(bad[i].text), &c, &err),
		                 DISKREP_EPROTO);
		if (strstr(err.msg, bad[i].why) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].why);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wire_roundtrip_each_type),
		cmocka_unit_test(test_wire_rejects_malformed),
		cmocka_unit_test(test_reject_offset_beyond_image),
		cmocka_unit_test(test_reject_unaligned_length),
		cmocka_unit_test(test_reject_epoch_backwards),
		cmocka_unit_test(test_commit_order_and_spill),
		cmocka_unit_test(test_failed_commit_recovers_on_reopen),
		cmocka_unit_test(test_journal_scan_rejects_torn_and_altered),
		cmocka_unit_test(test_drbd_refused_without_unsafe),
		cmocka_unit_test(test_drbd_show_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
