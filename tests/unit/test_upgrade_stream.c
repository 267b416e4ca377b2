/*
 * The live-update hand-over stream (remusd/upgrade_stream.h): a full
 * stream round-trips field by field; each kind of bad stream is refused
 * with its own code and nothing decoded; the descriptors travel with the
 * stream over a socketpair and name the same open files on arrival.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/session_fsm.h"
#include "remusd/upgrade_stream.h"
#include "util/bytes.h"

static const uint8_t frame_a[60] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
static const uint8_t frame_b[1514] = { 0x02, 0, 0, 0, 0, 1 };
static const uint8_t pvm_blob[] = "pvm hand-off blob";

/* Two sessions (a primary with a guest, held output, disk and stats; a
 * backup), five descriptors. */
static void sample(struct stream_buf *b)
{
	struct lu_header h = { .version = LU_VERSION, .nfds = 5, .old_pid = 4242, .config_gen = 7 };
	struct lu_daemon d = { .listen_fd = 0, .control_fd = 1 };
	struct lu_session p = { .id = 1, .role = LU_ROLE_PRIMARY, .state = RS_PROTECTED,
	                        .flags = LU_SF_REPROTECT,
	                        .epoch = 1001, .acked_epoch = 1000, .link_fd = 2,
	                        .name = "kvstore", .peer = "10.0.0.2:7575" };
	struct lu_session k = { .id = 9, .role = LU_ROLE_BACKUP, .state = RS_REPLICA_READY,
	                        .epoch = 55, .acked_epoch = 55, .link_fd = LU_NO_FD,
	                        .name = "web", .peer = "" };
	struct lu_guest g = { .driver = "pvm", .fd = { 3, 4, LU_NO_FD, LU_NO_FD },
	                      .blob = pvm_blob, .blob_len = sizeof(pvm_blob) };
	struct lu_disk dk = { .journal_seq = 12, .journal_off = 4096, .bitmap_bits = 3 };
	uint64_t stats[LU_STAT_COUNT] = { 1000, 1 << 30, 262144, 5000000, 9000, 0, 14, 12 };

	stream_buf_init(b);
	assert_int_equal(lu_put_header(b, &h), 0);
	assert_int_equal(lu_put_daemon(b, &d), 0);
	assert_int_equal(lu_put_session(b, &p), 0);
	assert_int_equal(lu_put_guest(b, 1, &g), 0);
	assert_int_equal(lu_put_held(b, 1, 1001, frame_a, sizeof(frame_a)), 0);
	assert_int_equal(lu_put_session(b, &k), 0);
	assert_int_equal(lu_put_held(b, 1, 1001, frame_b, sizeof(frame_b)), 0);
	assert_int_equal(lu_put_disk(b, 1, &dk), 0);
	assert_int_equal(lu_put_stats(b, 1, stats, LU_STAT_COUNT), 0);
	assert_int_equal(lu_put_end(b), 0);
}

static void test_roundtrip(void **state)
{
	struct stream_buf b;
	struct lu_state st;
	struct remus_err err = { 0 };
	(void)state;

	sample(&b);
	assert_int_equal(stream_buf_size(&b) % 8, 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), 0);
	assert_int_equal(st.hdr.nfds, 5);
	assert_int_equal(st.hdr.old_pid, 4242);
	assert_int_equal(st.hdr.config_gen, 7);
	assert_true(st.has_daemon);
	assert_int_equal(st.daemon.listen_fd, 0);
	assert_int_equal(st.daemon.control_fd, 1);
	assert_int_equal(st.nsessions, 2);
	const struct lu_session *p = lu_find_session(&st, 1), *k = lu_find_session(&st, 9);
	assert_non_null(p);
	assert_non_null(k);
	assert_null(lu_find_session(&st, 2));
	assert_string_equal(p->name, "kvstore");
	assert_string_equal(p->peer, "10.0.0.2:7575");
	assert_int_equal(p->state, RS_PROTECTED);
	assert_int_equal(p->epoch, 1001);
	assert_int_equal(p->acked_epoch, 1000);
	assert_int_equal(p->link_fd, 2);
	assert_int_equal(p->flags, LU_SF_REPROTECT);
	assert_int_equal(k->flags, 0);
	assert_true(p->has_guest && p->has_disk && p->has_stats);
	assert_string_equal(p->guest.driver, "pvm");
	assert_int_equal(p->guest.fd[LU_GFD_RAM], 3);
	assert_int_equal(p->guest.fd[LU_GFD_TAP], 4);
	assert_int_equal(p->guest.fd[LU_GFD_DISK], LU_NO_FD);
	assert_int_equal(p->guest.blob_len, sizeof(pvm_blob));
	assert_memory_equal(p->guest.blob, pvm_blob, sizeof(pvm_blob));
	assert_int_equal(p->disk.journal_off, 4096);
	assert_int_equal(p->nstats, LU_STAT_COUNT);
	assert_int_equal(p->stats[LU_STAT_HELD_FRAMES], 14);
	assert_string_equal(k->name, "web");
	assert_string_equal(k->peer, "");
	assert_int_equal(k->role, LU_ROLE_BACKUP);
	assert_false(k->has_guest || k->has_disk || k->has_stats);
	assert_int_equal(st.nheld, 2);
	assert_int_equal(st.held[1].len, sizeof(frame_b));
	assert_int_equal(st.held[1].epoch, 1001);
	assert_memory_equal(st.held[1].frame, frame_b, sizeof(frame_b));

	/* the canonical re-encoding decodes to the same state */
	struct stream_buf b2;
	struct lu_state st2;
	stream_buf_init(&b2);
	assert_int_equal(lu_encode(&b2, &st), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b2), stream_buf_size(&b2), &st2, &err), 0);
	assert_int_equal(st2.nsessions, 2);
	assert_int_equal(st2.nheld, 2);
	assert_memory_equal(&st2.sessions[0].stats, &st.sessions[0].stats, sizeof(st.sessions[0].stats));
	lu_state_free(&st2);
	stream_buf_free(&b2);
	lu_state_free(&st);
	stream_buf_free(&b);
}

/* Decode a copy of the sample with one change applied; return the code. */
static int decode_changed(void (*change)(uint8_t *p, size_t *len), char *msg, size_t cap)
{
	struct stream_buf b;
	struct lu_state st;
	struct remus_err err = { 0 };
	size_t len;
	uint8_t *p;
	int rc;

	sample(&b);
	len = stream_buf_size(&b);
	p = malloc(len + 64);
	assert_non_null(p);
	memcpy(p, stream_buf_flat(&b), len);
	memset(p + len, 0, 64);
	change(p, &len);
	rc = lu_decode(p, len, &st, &err);
	snprintf(msg, cap, "%s", err.msg);
	if (rc < 0) {
		assert_int_equal(st.nsessions, 0);     /* nothing half-decoded */
		assert_null(st.sessions);
		assert_null(st.held);
	}
	lu_state_free(&st);
	free(p);
	stream_buf_free(&b);
	return rc;
}

/* Offsets in the sample: HEADER at 0 (8 + 32), DAEMON at 40 (8 + 8),
 * SESSION 1 at 56. */
static void ch_magic(uint8_t *p, size_t *len) { (void)len; p[8] ^= 1; }
static void ch_version(uint8_t *p, size_t *len) { (void)len; put_le32(p + 16, 2); }
static void ch_cut(uint8_t *p, size_t *len) { (void)p; *len -= 12; }
static void ch_no_end(uint8_t *p, size_t *len) { (void)p; *len -= 8; }
static void ch_after_end(uint8_t *p, size_t *len) { put_le32(p + *len, LU_REC_END); *len += 8; }
static void ch_type(uint8_t *p, size_t *len) { (void)len; put_le32(p + 40, 99); }
static void ch_len(uint8_t *p, size_t *len) { (void)len; put_le32(p + 44, 16); }
static void ch_fd_range(uint8_t *p, size_t *len) { (void)len; put_le32(p + 48, 5); }
static void ch_fd_twice(uint8_t *p, size_t *len) { (void)len; put_le32(p + 52, 0); }
static void ch_fd_unused(uint8_t *p, size_t *len) { (void)len; put_le32(p + 52, (uint32_t)LU_NO_FD); }
static void ch_state(uint8_t *p, size_t *len) { (void)len; put_le32(p + 56 + 8 + 8, RS_COUNT); }
static void ch_acked(uint8_t *p, size_t *len) { (void)len; put_le64(p + 56 + 8 + 24, 2000); }
static void ch_name(uint8_t *p, size_t *len) { (void)len; p[56 + 8 + 40] = ' '; }
static void ch_order(uint8_t *p, size_t *len) { (void)len; put_le32(p + 40, LU_REC_SESSION); }
static void ch_first(uint8_t *p, size_t *len) { (void)len; put_le32(p, LU_REC_DAEMON); }
static void ch_flags(uint8_t *p, size_t *len) { (void)len; put_le32(p + 56 + 8 + 36, 6); }

static void test_refused(void **state)
{
	static const struct {
		void (*change)(uint8_t *, size_t *);
		int code;
		const char *says;
	} c[] = {
		{ ch_magic, LU_E_MAGIC, "magic" },
		{ ch_version, LU_E_VERSION, "version 2" },
		{ ch_cut, LU_E_TRUNCATED, "left" },
		{ ch_no_end, LU_E_TRUNCATED, "no END" },
		{ ch_after_end, LU_E_ORDER, "after END" },
		{ ch_type, LU_E_TYPE, "type 99" },
		{ ch_len, LU_E_LENGTH, "DAEMON record of 16 bytes" },
		{ ch_fd_range, LU_E_FD, "index 5" },
		{ ch_fd_twice, LU_E_FD, "named twice" },
		{ ch_fd_unused, LU_E_FD, "descriptor 1 passed but named by no record" },
		{ ch_state, LU_E_VALUE, "state" },
		{ ch_acked, LU_E_VALUE, "acked epoch 2000" },
		{ ch_name, LU_E_VALUE, "name" },
		{ ch_order, LU_E_LENGTH, "SESSION" },
		{ ch_first, LU_E_MAGIC, "not HEADER" },
		{ ch_flags, LU_E_VALUE, "flags 0x6 unknown" },
	};
	char msg[REMUS_ERR_MSG_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc = decode_changed(c[i].change, msg, sizeof(msg));
		if (rc != c[i].code || strstr(msg, c[i].says) == NULL)
			fail_msg("case %zu: rc %d (want %d), \"%s\" (want \"%s\")", i, rc, c[i].code,
			         msg, c[i].says);
	}
}

/* A HELD frame of an epoch already acknowledged, a GUEST before its session. */
static void test_refused_semantics(void **state)
{
	struct lu_header h = { .version = LU_VERSION, .nfds = 0, .old_pid = 1 };
	struct lu_session s = { .id = 3, .state = RS_PROTECTED, .epoch = 10, .acked_epoch = 9,
	                        .link_fd = LU_NO_FD, .name = "g" };
	struct lu_guest g = { .driver = "pvm", .fd = { -1, -1, -1, -1 } };
	struct remus_err err = { 0 };
	struct stream_buf b;
	struct lu_state st;
	(void)state;

	stream_buf_init(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_held(&b, 3, 9, frame_a, sizeof(frame_a)), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_VALUE);
	assert_non_null(strstr(err.msg, "already acknowledged"));

	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_guest(&b, 3, &g), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_ORDER);
	assert_non_null(strstr(err.msg, "no earlier SESSION"));
	stream_buf_free(&b);
}

/* A backup session's REPLICA: round trip, then what is refused by name. */
static void test_replica_record(void **state)
{
	static const uint8_t blob[40] = { 7, 7, 7 };
	struct lu_header h = { .version = LU_VERSION, .nfds = 1, .old_pid = 1 };
	struct lu_session s = { .id = 4, .role = LU_ROLE_BACKUP, .state = RS_REPLICA_READY,
	                        .epoch = 9, .acked_epoch = 9, .link_fd = LU_NO_FD, .name = "g" };
	struct lu_replica r = { .ram_fd = 0, .state = blob, .state_len = sizeof(blob) };
	struct lu_guest g = { .driver = "pvm", .fd = { -1, -1, -1, -1 } };
	struct remus_err err = { 0 };
	struct stream_buf b;
	struct lu_state st;
	(void)state;

	stream_buf_init(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), 0);
	assert_int_equal(st.nsessions, 1);
	assert_true(st.sessions[0].has_replica);
	assert_int_equal(st.sessions[0].replica.ram_fd, 0);
	assert_int_equal(st.sessions[0].replica.state_len, sizeof(blob));
	assert_memory_equal(st.sessions[0].replica.state, blob, sizeof(blob));
	lu_state_free(&st);

	/* no RAM descriptor; two of them; a primary's; one next to a GUEST */
	r.ram_fd = LU_NO_FD;
	assert_int_equal(lu_put_replica(&b, 4, &r), -EINVAL);     /* the writer refuses too */
	r.ram_fd = 0;
	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_ORDER);
	assert_non_null(strstr(err.msg, "a second REPLICA"));

	s.role = LU_ROLE_PRIMARY;
	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_VALUE);
	assert_non_null(strstr(err.msg, "is a primary"));
	s.role = LU_ROLE_BACKUP;

	h.nfds = 0;
	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_guest(&b, 4, &g), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), 0);
	lu_state_free(&st);
	h.nfds = 1;
	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_guest(&b, 4, &g), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_VALUE);
	assert_non_null(strstr(err.msg, "holds a REPLICA"));

	/* a descriptor index beyond those passed */
	r.ram_fd = 1;
	stream_buf_reset(&b);
	assert_int_equal(lu_put_header(&b, &h), 0);
	assert_int_equal(lu_put_session(&b, &s), 0);
	assert_int_equal(lu_put_replica(&b, 4, &r), 0);
	assert_int_equal(lu_put_end(&b), 0);
	assert_int_equal(lu_decode(stream_buf_flat(&b), stream_buf_size(&b), &st, &err), LU_E_FD);
	assert_non_null(strstr(err.msg, "replica RAM descriptor index 1"));
	stream_buf_free(&b);
}

/* A memfd passed with the stream is the same file on arrival. */
static void test_transport(void **state)
{
	int sv[2], fds[LU_MAX_FDS], mfd;
	unsigned n = 0;
	struct stream_buf b;
	struct remus_err err = { 0 };
	struct stat a, z;
	uint8_t *got;
	size_t len;
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	mfd = memfd_create("lu-test", MFD_CLOEXEC);
	assert_true(mfd >= 0);
	assert_int_equal(write(mfd, "ram", 3), 3);
	int send_fds[5] = { mfd, mfd, mfd, mfd, mfd };
	sample(&b);
	size_t want = stream_buf_size(&b);
	uint8_t *copy = malloc(want);
	stream_buf_copy_out(&b, copy);
	assert_int_equal(lu_send(sv[0], &b, send_fds, 5, &err), 0);
	assert_int_equal(lu_recv(sv[1], &got, &len, fds, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(len, want);
	assert_memory_equal(got, copy, want);
	assert_int_equal(fstat(mfd, &a), 0);
	assert_int_equal(fstat(fds[3], &z), 0);
	assert_int_equal(a.st_ino, z.st_ino);
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	free(got);
	free(copy);

	/* a preamble that announces more descriptors than came: refused, none kept */
	uint8_t pre[8];
	put_le32(pre, 8);
	put_le32(pre + 4, 3);
	assert_int_equal(write(sv[0], pre, 8), 8);
	assert_int_equal(lu_recv(sv[1], &got, &len, fds, &n, &err), LU_E_FD);
	assert_int_equal(n, 0);
	assert_null(got);
	/* the stream cut short: the peer went away after the preamble */
	put_le32(pre + 4, 0);
	put_le32(pre, 64);
	assert_int_equal(write(sv[0], pre, 8), 8);
	close(sv[0]);
	assert_int_equal(lu_recv(sv[1], &got, &len, fds, &n, &err), LU_E_TRUNCATED);
	close(sv[1]);
	close(mfd);
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_refused_semantics),
		cmocka_unit_test(test_replica_record),
		cmocka_unit_test(test_transport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
