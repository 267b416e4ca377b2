/*
 * Unit tests for lib/net over real sockets (socketpairs and loopback TCP):
 * handshake, authentication, refusals with named reasons, framing,
 * compression, back-pressure, heartbeats under an injected clock, TLS.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <zlib.h>

#include "diskrep/kind.h"
#include "net/net_impl.h"
#include "test_net_util.h"


/* ---- a transfer checked byte for byte ----------------------------- */
struct xfer {
	uint8_t *want, *got;
	size_t len, have;
	uint64_t acked;
	uint64_t disk_bytes;
	bool bye;
};

static void xfer_msg(void *arg, bool at_primary, const struct rnet_msg *m)
{
	struct xfer *x = arg;

	if (m->type == RNET_MSG_STREAM && !at_primary) {
		assert_true(x->have + m->len <= x->len);
		memcpy(x->got + x->have, m->body, m->len);
		x->have += m->len;
	} else if (m->type == RNET_MSG_ACK && at_primary) {
		x->acked = m->u64;
	} else if (m->type == RNET_MSG_DISK && !at_primary) {
		x->disk_bytes += m->len;
	} else if (m->type == RNET_MSG_BYE) {
		x->bye = true;
	} else {
		fail_msg("unexpected message type %u at %s", m->type,
			 at_primary ? "primary" : "backup");
	}
}

static bool xfer_done(void *arg)
{
	struct xfer *x = arg;

	return x->have == x->len;
}

static bool bye_done(void *arg)
{
	return ((struct xfer *)arg)->bye;
}

static bool ack_done(void *arg)
{
	return ((struct xfer *)arg)->acked != 0;
}

/* Send `len` bytes of (compressible if asked) data and check them. */
static void xfer_check(struct side *pri, struct side *bak, size_t len, bool compressible)
{
	struct remus_err err = { 0 };
	struct xfer x = { .len = len };
	size_t i;
	int rc;

	x.want = malloc(len);
	x.got = malloc(len);
	assert_non_null(x.want);
	assert_non_null(x.got);
	for (i = 0; i < len; i++)
		x.want[i] = compressible ? (uint8_t)(i / 512) : (uint8_t)(rand() >> 7);
	assert_int_equal(rnet_conn_send_stream(pri->conn, x.want, len, &err), 0);
	assert_true(pump(pri->conn, bak->conn, xfer_msg, &x, xfer_done, &rc, &err));
	assert_int_equal(rc, 0);
	assert_memory_equal(x.want, x.got, len);
	assert_int_equal(rnet_conn_send_ack(bak->conn, 42, &err), 0);
	assert_true(pump(pri->conn, bak->conn, xfer_msg, &x, ack_done, &rc, &err));
	assert_int_equal(x.acked, 42);
	free(x.want);
	free(x.got);
}

static void test_handshake_ok_and_stream_exact(void **state)
{
	struct side pri, bak;
	struct rnet_stats st;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	assert_int_equal(bak.rc, 0);
	assert_string_equal(rnet_conn_peer_caps(pri.conn)->guest, "kvstore");
	assert_string_equal(rnet_conn_peer_caps(bak.conn)->hv, "pvm");
	xfer_check(&pri, &bak, 3u << 20 | 123, false);
	rnet_conn_stats(bak.conn, &st);
	assert_int_equal(st.stream_bytes_rx, 3u << 20 | 123);
	assert_true(st.frames_rx >= 4);    /* split into frames of <= 1 MiB */
	side_free(&pri);
	side_free(&bak);
}

static void test_zlib_negotiated_roundtrip(void **state)
{
	struct side pri, bak;
	struct rnet_stats st;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.caps.compress = RNET_COMPRESS_ZLIB;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	assert_int_equal(bak.rc, 0);
	assert_int_equal(rnet_conn_compress(bak.conn), RNET_COMPRESS_ZLIB);
	xfer_check(&pri, &bak, 2u << 20, true);
	rnet_conn_stats(pri.conn, &st);
	assert_int_equal(st.stream_bytes_tx, 2u << 20);
	assert_true(st.bytes_tx < st.stream_bytes_tx / 4);
	/* incompressible data still arrives exactly (as plain frames) */
	xfer_check(&pri, &bak, 300000, false);
	side_free(&pri);
	side_free(&bak);
}

/* remusctl set compression: a zlib link may send plain (and zlib again),
 * never a kind it did not negotiate; a none link stays none. */
static void test_tx_compress_within_negotiated(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats st0, st1;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.caps.compress = RNET_COMPRESS_ZLIB;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	assert_int_equal(rnet_conn_set_tx_compress(pri.conn, RNET_COMPRESS_NONE, &err), 0);
	rnet_conn_stats(pri.conn, &st0);
	xfer_check(&pri, &bak, 1u << 20, true);     /* compressible, yet sent plain */
	rnet_conn_stats(pri.conn, &st1);
	assert_true(st1.bytes_tx - st0.bytes_tx >= 1u << 20);
	assert_int_equal(rnet_conn_compress(pri.conn), RNET_COMPRESS_ZLIB);   /* negotiated */
	assert_int_equal(rnet_conn_set_tx_compress(pri.conn, RNET_COMPRESS_DELTA, &err), RNET_ECAPS);
	assert_non_null(strstr(err.msg, "this link negotiated zlib"));
	assert_int_equal(rnet_conn_set_tx_compress(pri.conn, RNET_COMPRESS_ZLIB, &err), 0);
	xfer_check(&pri, &bak, 1u << 20, true);
	rnet_conn_stats(pri.conn, &st0);
	assert_true(st0.bytes_tx - st1.bytes_tx < (1u << 20) / 4);   /* zlib again */
	side_free(&pri);
	side_free(&bak);

	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	side_pair_handshake(&pri, &bak);
	assert_int_equal(rnet_conn_set_tx_compress(pri.conn, RNET_COMPRESS_ZLIB, &err), RNET_ECAPS);
	assert_non_null(strstr(err.msg, "compression zlib: this link negotiated none"));
	side_free(&pri);
	side_free(&bak);
}

static void test_wrong_key_refused_both_sides(void **state)
{
	struct side pri, bak;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.other, false);
	side_pair_handshake(&pri, &bak);
	assert_int_equal(bak.rc, RNET_EAUTH);
	assert_non_null(strstr(bak.err.msg, "authentication failed"));
	assert_int_equal(pri.rc, RNET_EAUTH);
	assert_non_null(strstr(pri.err.msg, "peer refused: authentication failed"));
	assert_null(pri.conn);
	assert_null(bak.conn);
}

static void test_no_key_refused(void **state)
{
	struct side pri;
	struct rnet_conn *c = NULL;
	struct remus_err err = { 0 };
	int sv[2];

	(void)state;
	side_init(&pri, NULL, true);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rnet_handshake_fd(sv[0], true, &pri.p, &c, &err), RNET_EKEY);
	assert_non_null(strstr(err.msg, "authentication is mandatory"));
	assert_null(c);
	close(sv[1]);
}

static void test_key_file_checks(void **state)
{
	struct rnet_key k;
	struct remus_err err = { 0 };
	char path[256], missing[256];

	(void)state;
	tkeys_write(&tkeys_group, "open.key", "0123456789abcdef0123456789abcdef", 0644,
		    path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &k, &err), RNET_EKEY);
	assert_non_null(strstr(err.msg, "mode 0644 is too open"));
	assert_int_equal(k.len, 0);
	tkeys_write(&tkeys_group, "short.key", "tooshort\n", 0600, path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &k, &err), RNET_EKEY);
	assert_non_null(strstr(err.msg, "short.key"));
	snprintf(missing, sizeof(missing), "%s/none.key", tkeys_group.dir);
	assert_int_equal(rnet_key_load(missing, &k, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "none.key: No such file"));
	assert_int_equal(rnet_key_load(tkeys_group.good, &k, &err), 0);
	assert_int_equal(k.len, 32);   /* trailing newline dropped */
	/* a key file planted by someone else, even with the right mode */
	tkeys_write(&tkeys_group, "theirs.key", "0123456789abcdef0123456789abcdef", 0600,
		    path, sizeof(path));
	assert_int_equal(chown(path, geteuid() + 1, (gid_t)-1), 0);
	assert_int_equal(rnet_key_load(path, &k, &err), RNET_EKEY);
	assert_non_null(strstr(err.msg, "not by us"));
	/* a symlink to a good key is not followed */
	snprintf(missing, sizeof(missing), "%s/link.key", tkeys_group.dir);
	assert_int_equal(symlink(tkeys_group.good, missing), 0);
	assert_int_equal(rnet_key_load(missing, &k, &err), -ELOOP);
}

/* ---- a hand-driven primary, for refusals and replays ---------------- */
struct rawp {
	int fd;
	struct side bak;
	uint8_t transcript[2 * RNET_HELLO_LEN];
};

static void *bak_thread(void *arg)
{
	struct side *s = arg;

	s->rc = rnet_handshake_fd(s->fd, false, &s->p, &s->conn, &s->err);
	return NULL;
}

static void rawp_start(struct rawp *r)
{
	int sv[2];

	side_init(&r->bak, tkeys_group.good, false);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->fd = sv[0];
	r->bak.fd = sv[1];
	assert_int_equal(pthread_create(&r->bak.th, NULL, bak_thread, &r->bak), 0);
}

static void rawp_send(struct rawp *r, uint32_t type, const void *body, size_t len)
{
	uint8_t hdr[RNET_HDR_LEN];

	rnet_frame_header(hdr, type, (uint32_t)len);
	assert_int_equal(write(r->fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	if (len)
		assert_int_equal(write(r->fd, body, len), (ssize_t)len);
}

/* Read one whole frame from the backup (blocking); returns its type. */
static uint32_t rawp_recv(struct rawp *r, uint8_t *body, size_t cap, size_t *len)
{
	uint8_t hdr[RNET_HDR_LEN];
	size_t got = 0, n;
	ssize_t k;

	while (got < sizeof(hdr)) {
		k = read(r->fd, hdr + got, sizeof(hdr) - got);
		assert_true(k > 0);
		got += (size_t)k;
	}
	n = get_be32(hdr + 4);
	assert_true(n <= cap);
	for (got = 0; got < n; got += (size_t)k) {
		k = read(r->fd, body + got, n - got);
		assert_true(k > 0);
	}
	*len = n;
	return get_be32(hdr);
}

static int rawp_finish(struct rawp *r)
{
	pthread_join(r->bak.th, NULL);
	close(r->fd);
	side_free(&r->bak);
	return r->bak.rc;
}

static void rawp_hello(struct rawp *r, uint16_t version, const uint8_t nonce[32])
{
	struct rnet_hello h = { .version = version };

	h.caps = r->bak.p.caps;
	memcpy(h.nonce, nonce, RNET_NONCE_LEN);
	assert_int_equal(rnet_hello_encode(&h, r->transcript), 0);
	rawp_send(r, RNET_MSG_HELLO, r->transcript, RNET_HELLO_LEN);
}

static void test_version_mismatch_named(void **state)
{
	uint8_t nonce[32] = { 1 }, body[512];
	struct rawp r;
	size_t len;

	(void)state;
	rawp_start(&r);
	rawp_hello(&r, RNET_VERSION + 1, nonce);   /* 3 */
	assert_int_equal(rawp_recv(&r, body, sizeof(body), &len), RNET_MSG_ERROR);
	assert_int_equal(get_be32(body), (uint32_t)-RNET_EVERSION);
	assert_non_null(memmem(body, len, "version mismatch: peer speaks 3, we speak 2", 43));
	assert_int_equal(rawp_finish(&r), RNET_EVERSION);
	assert_non_null(strstr(r.bak.err.msg, "peer speaks 3"));
}

static void test_garbage_refused(void **state)
{
	static const char junk[] = "GET / HTTP/1.0\r\n\r\n";
	struct rawp r;

	(void)state;
	rawp_start(&r);
	assert_int_equal(write(r.fd, junk, sizeof(junk) - 1), (ssize_t)sizeof(junk) - 1);
	assert_int_equal(rawp_finish(&r), RNET_EPROTO);
	assert_non_null(strstr(r.bak.err.msg, "unknown frame type 0x47455420"));
}

static void test_oversized_handshake_frame_refused(void **state)
{
	struct rawp r;
	uint8_t hdr[RNET_HDR_LEN];

	(void)state;
	rawp_start(&r);
	rnet_frame_header(hdr, RNET_MSG_HELLO, 0x7fffffff);
	assert_int_equal(write(r.fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(rawp_finish(&r), RNET_EPROTO);
	assert_non_null(strstr(r.bak.err.msg, "HELLO frame length 2147483647 outside"));
}

/* Start a backup, send our HELLO with `nonce`, and compute a proof over
 * the transcript under `label` into mac. */
static void rawp_prove(struct rawp *r, uint8_t nonce_byte, const char *label,
		       uint8_t mac[RNET_MAC_LEN])
{
	uint8_t nonce[32] = { nonce_byte, nonce_byte }, body[512];
	struct remus_err err = { 0 };
	size_t len;

	rawp_start(r);
	rawp_hello(r, RNET_VERSION, nonce);
	assert_int_equal(rawp_recv(r, body, sizeof(body), &len), RNET_MSG_HELLO);
	memcpy(r->transcript + RNET_HELLO_LEN, body, RNET_HELLO_LEN);
	assert_int_equal(rnet_key_derive(&r->bak.key, label, r->transcript,
					 sizeof(r->transcript), mac, &err), 0);
}

/* Send a proof and expect the backup's answer of type `want`. */
static void rawp_auth_expect(struct rawp *r, const uint8_t mac[RNET_MAC_LEN], uint32_t want)
{
	uint8_t body[512];
	size_t len;

	rawp_send(r, RNET_MSG_AUTH, mac, RNET_MAC_LEN);
	assert_int_equal(rawp_recv(r, body, sizeof(body), &len), want);
}

/* A recorded AUTH answer does not open a second connection: the backup's
 * nonce is fresh each time. */
static void test_replayed_auth_refused(void **state)
{
	uint8_t mac[RNET_MAC_LEN], unused[RNET_MAC_LEN];
	struct rawp r;

	(void)state;
	rawp_prove(&r, 7, "remus auth primary v1", mac);
	rawp_auth_expect(&r, mac, RNET_MSG_AUTH);
	assert_int_equal(rawp_finish(&r), 0);   /* the honest run succeeds */
	rawp_prove(&r, 7, "remus auth primary v1", unused);   /* same HELLO and nonce */
	rawp_auth_expect(&r, mac, RNET_MSG_ERROR);              /* replayed proof */
	assert_int_equal(rawp_finish(&r), RNET_EAUTH);
}

/* A backup's proof under the primary's label (reflection) is refused. */
static void test_reflected_auth_refused(void **state)
{
	uint8_t mac[RNET_MAC_LEN];
	struct rawp r;

	(void)state;
	rawp_prove(&r, 9, "remus auth backup v1", mac);
	rawp_auth_expect(&r, mac, RNET_MSG_ERROR);
	assert_int_equal(rawp_finish(&r), RNET_EAUTH);
	assert_non_null(strstr(r.bak.err.msg, "authentication failed"));
}

/* ---- capability mismatches, each named ---------------------------- */
static void caps_mismatch_case(void (*tweak)(struct rnet_params *), const char *named)
{
	struct side pri, bak;

	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	tweak(&pri.p);
	side_pair_handshake(&pri, &bak);
	assert_int_equal(bak.rc, RNET_ECAPS);
	assert_int_equal(pri.rc, RNET_ECAPS);
	if (strstr(bak.err.msg, named) == NULL || strstr(pri.err.msg, named) == NULL)
		fail_msg("expected '%s' in '%s' / '%s'", named, bak.err.msg, pri.err.msg);
	assert_null(pri.conn);
	assert_null(bak.conn);
}

static void tw_guest(struct rnet_params *p) { snprintf(p->caps.guest, RNET_NAME_MAX, "web1"); }
static void tw_hv(struct rnet_params *p) { snprintf(p->caps.hv, RNET_HV_MAX, "xen"); }
static void tw_diskrep(struct rnet_params *p) { p->caps.diskrep = DISKREP_KIND_DRBD; }
static void tw_xs(struct rnet_params *p) { p->caps.flags = 0; }
static void tw_delta(struct rnet_params *p) { p->caps.compress = RNET_COMPRESS_DELTA; }

static void test_caps_mismatch_named(void **state)
{
	(void)state;
	caps_mismatch_case(tw_guest, "guest identity mismatch: primary replicates 'web1', backup expects 'kvstore'");
	caps_mismatch_case(tw_hv, "hypervisor driver mismatch: primary 'xen', backup 'pvm'");
	caps_mismatch_case(tw_diskrep, "diskrep backend mismatch: primary drbd, backup builtin");
	caps_mismatch_case(tw_xs, "xenstore records mismatch");
	caps_mismatch_case(tw_delta, "compression mismatch: primary wants delta, backup supports none,zlib");
}

/* ---- the frame layer after the handshake --------------------------- */
static void established(struct side *pri, struct side *bak)
{
	side_init(pri, tkeys_group.good, true);
	side_init(bak, tkeys_group.good, false);
	side_pair_handshake(pri, bak);
	assert_int_equal(pri->rc, 0);
	assert_int_equal(bak->rc, 0);
}

/* Write a raw frame header (and body) under the primary's connection. */
static void inject(struct side *pri, uint32_t type, uint32_t len, const void *body, size_t n)
{
	uint8_t hdr[RNET_HDR_LEN];

	rnet_frame_header(hdr, type, len);
	assert_int_equal(write(rnet_conn_fd(pri->conn), hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	if (n)
		assert_int_equal(write(rnet_conn_fd(pri->conn), body, n), (ssize_t)n);
}

static int backup_reads(struct side *bak, struct remus_err *err)
{
	struct rnet_msg m;
	int rc;

	assert_int_equal(rnet_wait_fd(rnet_conn_fd(bak->conn), POLLIN, rnet_now_ms() + 5000, err), 0);
	rc = rnet_conn_feed(bak->conn, 0, err);
	return rc < 0 ? rc : rnet_conn_next(bak->conn, &m, err);
}

static void test_bad_frames_refused(void **state)
{
	uint8_t zeros[16] = { 0 }, hello[RNET_HELLO_LEN] = { 0 };
	struct remus_err err = { 0 };
	struct side pri, bak;

	(void)state;
	established(&pri, &bak);
	inject(&pri, RNET_MSG_STREAM, RNET_BODY_MAX + 1, NULL, 0);
	assert_int_equal(backup_reads(&bak, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "STREAM frame length 1048577 outside 1..1048576"));
	side_free(&pri);
	side_free(&bak);

	established(&pri, &bak);
	inject(&pri, RNET_MSG_ACK, 7, zeros, 7);
	assert_int_equal(backup_reads(&bak, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "ACK frame length 7 outside 8..8"));
	side_free(&pri);
	side_free(&bak);

	established(&pri, &bak);   /* zlib frame although none was agreed */
	inject(&pri, RNET_MSG_STREAM_ZLIB, 16, zeros, 16);
	assert_int_equal(backup_reads(&bak, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "none compression was negotiated"));
	side_free(&pri);
	side_free(&bak);

	/* zlib agreed: a frame that inflates to more than it declares */
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.caps.compress = RNET_COMPRESS_ZLIB;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(bak.rc, 0);
	{
		static uint8_t zeros_big[1 << 20], z[8192];
		uLongf zlen = sizeof(z) - 4;

		assert_int_equal(compress2(z + 4, &zlen, zeros_big, sizeof(zeros_big), 9), Z_OK);
		put_be32(z, 1000);
		inject(&pri, RNET_MSG_STREAM_ZLIB, (uint32_t)zlen + 4, z, zlen + 4);
		assert_int_equal(backup_reads(&bak, &err), RNET_EPROTO);
		assert_non_null(strstr(err.msg, "STREAM_ZLIB frame corrupt"));
	}
	side_free(&pri);
	side_free(&bak);

	established(&pri, &bak);
	inject(&pri, RNET_MSG_HELLO, RNET_HELLO_LEN, hello, sizeof(hello));
	assert_int_equal(backup_reads(&bak, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "handshake frame 1 after the handshake"));
	side_free(&pri);
	side_free(&bak);
}

static void test_disk_channel_and_bye(void **state)
{
	static uint8_t blob[70000];
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct xfer x = { 0 };
	int rc;

	(void)state;
	established(&pri, &bak);
	memset(blob, 0xab, sizeof(blob));
	assert_int_equal(rnet_conn_send_disk(pri.conn, blob, sizeof(blob), &err), 0);
	assert_int_equal(rnet_conn_send_bye(pri.conn, 3, &err), 0);
	assert_true(pump(pri.conn, bak.conn, xfer_msg, &x, bye_done, &rc, &err));
	assert_int_equal(rc, 0);
	assert_int_equal(x.disk_bytes, sizeof(blob));
	side_free(&pri);
	side_free(&bak);
}

static void test_output_bound_enobufs(void **state)
{
	static uint8_t blob[200000];
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats before, after;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.outq_max = 100000;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	rnet_conn_stats(pri.conn, &before);
	assert_int_equal(rnet_conn_send_stream(pri.conn, blob, sizeof(blob), &err), RNET_ENOBUFS);
	rnet_conn_stats(pri.conn, &after);
	assert_int_equal(after.frames_tx, before.frames_tx);   /* nothing half-queued */
	assert_false(rnet_conn_want_write(pri.conn));
	/* within the bound it is accepted whole: queued, or (nothing queued
	 * before it) written straight to the socket */
	assert_int_equal(rnet_conn_send_stream(pri.conn, blob, 90000, &err), 0);
	rnet_conn_stats(pri.conn, &after);
	assert_int_equal(after.stream_bytes_tx, before.stream_bytes_tx + 90000);
	assert_true(after.frames_tx > before.frames_tx);
	side_free(&pri);
	side_free(&bak);
}

/* ---- heartbeats under an injected clock ----------------------------- */
static void test_heartbeat_timeout_detected(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct side pri, bak;
	struct rnet_msg m;

	(void)state;
	established(&pri, &bak);
	/* clock origin 1000 on both sides; defaults 20 ms / 200 ms */
	assert_int_equal(rnet_conn_tick(pri.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_next_tick_ms(pri.conn, 1000), 20);
	assert_int_equal(rnet_conn_tick(bak.conn, 1019, &err), 0);
	rnet_conn_stats(bak.conn, &st);
	assert_int_equal(st.heartbeats_tx, 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 1020, &err), 0);
	rnet_conn_stats(bak.conn, &st);
	assert_int_equal(st.heartbeats_tx, 1);
	/* the backup's heartbeat reaches the primary at t=1100 */
	assert_int_equal(rnet_conn_flush(bak.conn, &err), 0);
	assert_int_equal(rnet_wait_fd(rnet_conn_fd(pri.conn), POLLIN, rnet_now_ms() + 5000, &err), 0);
	assert_int_equal(rnet_conn_feed(pri.conn, 1100, &err), 0);
	assert_int_equal(rnet_conn_next(pri.conn, &m, &err), 0);   /* swallowed */
	rnet_conn_stats(pri.conn, &st);
	assert_int_equal(st.heartbeats_rx, 1);
	assert_int_equal(rnet_conn_tick(pri.conn, 1300, &err), 0);   /* 200 ms: still ok */
	assert_int_equal(rnet_conn_tick(pri.conn, 1301, &err), RNET_ETIMEOUT);
	assert_non_null(strstr(err.msg, "peer silent for 201 ms (timeout 200 ms)"));
	/* the backup heard nothing since t=1000: it times out too */
	assert_int_equal(rnet_conn_tick(bak.conn, 1201, &err), RNET_ETIMEOUT);
	side_free(&pri);
	side_free(&bak);
}

/* A receiver that stops reading on purpose (back-pressure: its consumer
 * is slow) does not take the unread peer for a silent one; its own
 * heartbeats keep going out, and once it reads again the timeout runs from
 * the release. */
static void test_heartbeat_rx_hold(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct side pri, bak;

	(void)state;
	established(&pri, &bak);
	assert_int_equal(rnet_conn_tick(bak.conn, 1000, &err), 0);
	rnet_conn_rx_hold(bak.conn, true, 1100);
	assert_int_equal(rnet_conn_tick(bak.conn, 1199, &err), 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 60000, &err), 0);   /* held: no timeout */
	assert_int_equal(rnet_conn_next_tick_ms(bak.conn, 60000), 20);  /* the next heartbeat only */
	rnet_conn_stats(bak.conn, &st);
	assert_int_equal(st.heartbeats_tx, 2);
	rnet_conn_rx_hold(bak.conn, true, 60001);
	rnet_conn_rx_hold(bak.conn, false, 60005);
	assert_int_equal(rnet_conn_next_tick_ms(bak.conn, 60005), 15);
	assert_int_equal(rnet_conn_tick(bak.conn, 60205, &err), 0);     /* 200 ms since release */
	assert_int_equal(rnet_conn_tick(bak.conn, 60206, &err), RNET_ETIMEOUT);
	side_free(&pri);
	side_free(&bak);
}

/* The caller itself stalled (its thread did not run for longer than the
 * timeout) while the peer's heartbeat waited in the socket: tick reads it
 * before judging, so only real silence times out. */
static void test_heartbeat_own_stall_not_silence(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct side pri, bak;

	(void)state;
	established(&pri, &bak);
	assert_int_equal(rnet_conn_tick(pri.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 1020, &err), 0);   /* queues a heartbeat */
	assert_int_equal(rnet_conn_flush(bak.conn, &err), 0);
	assert_int_equal(rnet_wait_fd(rnet_conn_fd(pri.conn), POLLIN, rnet_now_ms() + 5000, &err), 0);
	/* the primary's next look comes 4 s late: not the backup's fault */
	assert_int_equal(rnet_conn_tick(pri.conn, 5000, &err), 0);
	rnet_conn_stats(pri.conn, &st);
	assert_int_equal(st.last_rx_ms, 5000);
	assert_int_equal(rnet_conn_tick(pri.conn, 5200, &err), 0);
	assert_int_equal(rnet_conn_tick(pri.conn, 5201, &err), RNET_ETIMEOUT);   /* now it is */
	side_free(&pri);
	side_free(&bak);
}

static void test_heartbeat_custom_interval(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct side pri, bak;
	uint64_t t;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.hb_interval_ms = 50;
	pri.p.hb_timeout_ms = 500;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	for (t = 0; t <= 400; t += 10)
		assert_int_equal(rnet_conn_tick(pri.conn, t, &err), 0);
	rnet_conn_stats(pri.conn, &st);
	assert_int_equal(st.heartbeats_tx, 8);     /* at 50, 100, ... 400 */
	assert_int_equal(rnet_conn_tick(pri.conn, 501, &err), RNET_ETIMEOUT);
	side_free(&pri);
	side_free(&bak);
}

/* ---- TLS ------------------------------------------------------------ */
static void test_tls_handshake_and_stream(void **state)
{
	struct side pri, bak;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.tls = bak.p.tls = true;
	pri.p.caps.compress = RNET_COMPRESS_ZLIB;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	assert_int_equal(bak.rc, 0);
	xfer_check(&pri, &bak, (2u << 20) + 77, false);
	xfer_check(&pri, &bak, 1u << 20, true);
	side_free(&pri);
	side_free(&bak);
}

static void test_tls_wrong_key_refused(void **state)
{
	struct side pri, bak;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.other, false);
	pri.p.tls = bak.p.tls = true;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, RNET_EAUTH);
	assert_int_equal(bak.rc, RNET_EAUTH);
	assert_non_null(strstr(bak.err.msg, "TLS"));
}

static void test_tls_on_one_side_only(void **state)
{
	struct side pri, bak;

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	bak.p.tls = true;
	pri.p.handshake_ms = 2000;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(bak.rc, RNET_ETLS);
	assert_non_null(strstr(bak.err.msg, "peer does not speak TLS"));
	assert_true(pri.rc < 0);

	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.tls = true;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(bak.rc, RNET_EPROTO);
	assert_non_null(strstr(bak.err.msg, "peer speaks TLS but tls is off here"));
	assert_true(pri.rc < 0);
}

/* ---- the non-blocking handshake ------------------------------------- */
/* Both ends stepped alternately from one thread: neither step may block. */
static void nonblocking_case(bool tls)
{
	struct remus_err err = { 0 };
	struct rnet_hs *hp = NULL, *hb = NULL;
	struct side pri, bak;
	struct pollfd pfd[2];
	int sv[2], rp = 0, rb = 0, rounds;

	side_init(&pri, tkeys_group.good, true);
	side_init(&bak, tkeys_group.good, false);
	pri.p.tls = bak.p.tls = tls;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rnet_hs_start(sv[0], true, &pri.p, 0, &hp, &err), 0);
	assert_int_equal(rnet_hs_start(sv[1], false, &bak.p, 0, &hb, &err), 0);
	for (rounds = 0; rounds < 1000 && (rp == 0 || rb == 0); rounds++) {
		if (rp == 0)
			rp = rnet_hs_step(hp, 1, &pri.conn, &pri.err);
		if (rb == 0)
			rb = rnet_hs_step(hb, 1, &bak.conn, &bak.err);
		assert_true(rp >= 0);
		assert_true(rb >= 0);
		/* a finished side polls nothing (fd -1 is ignored by poll) */
		pfd[0] = (struct pollfd){ .fd = rp ? -1 : rnet_hs_fd(hp), .events = rnet_hs_events(hp) };
		pfd[1] = (struct pollfd){ .fd = rb ? -1 : rnet_hs_fd(hb), .events = rnet_hs_events(hb) };
		if (rp == 0 || rb == 0)
			(void)poll(pfd, 2, 1000);
	}
	assert_int_equal(rp, 1);
	assert_int_equal(rb, 1);
	rnet_hs_free(hp);
	rnet_hs_free(hb);
	xfer_check(&pri, &bak, 200000, false);
	side_free(&pri);
	side_free(&bak);
}

static void test_nonblocking_handshake(void **state)
{
	(void)state;
	nonblocking_case(false);
	nonblocking_case(true);
}

/* A connection that never speaks costs the daemon nothing but a timeout. */
static void test_silent_peer_times_out(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_conn *c = NULL;
	struct rnet_hs *hs = NULL;
	struct side bak;
	int sv[2];

	(void)state;
	side_init(&bak, tkeys_group.good, false);
	bak.p.handshake_ms = 3000;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rnet_hs_start(sv[1], false, &bak.p, 500, &hs, &err), 0);
	assert_int_equal(rnet_hs_step(hs, 500, &c, &err), 0);
	assert_int_equal(rnet_hs_events(hs), POLLIN);
	assert_int_equal(rnet_hs_next_ms(hs, 1500), 2000);
	assert_int_equal(rnet_hs_step(hs, 3499, &c, &err), 0);
	assert_int_equal(rnet_hs_step(hs, 3500, &c, &err), RNET_ETIMEOUT);
	assert_non_null(strstr(err.msg, "handshake timed out"));
	assert_null(c);
	rnet_hs_free(hs);
	close(sv[0]);
}

/* ---- real TCP over loopback ---------------------------------------- */
struct tcp_client {
	struct side s;
	uint16_t port;
	pthread_t th;
};

static void *tcp_client_thread(void *arg)
{
	struct tcp_client *c = arg;

	c->s.rc = rnet_connect("127.0.0.1", c->port, &c->s.p, &c->s.conn, &c->s.err);
	return NULL;
}

static void tcp_case(bool tls)
{
	struct remus_err err = { 0 };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct tcp_client cl;
	struct side bak;
	int lfd, rc;

	side_init(&bak, tkeys_group.good, false);
	side_init(&cl.s, tkeys_group.good, true);
	bak.p.tls = cl.s.p.tls = tls;
	lfd = rnet_listen("127.0.0.1", 0, &err);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	cl.port = ntohs(sin.sin_port);
	assert_int_equal(rnet_accept(lfd, &bak.p, &bak.conn, &err), -EAGAIN);
	assert_int_equal(pthread_create(&cl.th, NULL, tcp_client_thread, &cl), 0);
	assert_int_equal(rnet_wait_fd(lfd, POLLIN, rnet_now_ms() + 5000, &err), 0);
	rc = rnet_accept(lfd, &bak.p, &bak.conn, &bak.err);
	pthread_join(cl.th, NULL);
	assert_int_equal(rc, 0);
	assert_int_equal(cl.s.rc, 0);
	xfer_check(&cl.s, &bak, 1500000, false);
	side_free(&cl.s);
	side_free(&bak);
	close(lfd);
}

static void test_tcp_loopback(void **state)
{
	(void)state;
	tcp_case(false);
	tcp_case(true);
}

static void test_connect_refused_named(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_conn *c = NULL;
	struct side pri;
	int lfd;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	(void)state;
	side_init(&pri, tkeys_group.good, true);
	lfd = rnet_listen("127.0.0.1", 0, &err);   /* find a free port, then free it */
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	close(lfd);
	assert_int_equal(rnet_connect("127.0.0.1", ntohs(sin.sin_port), &pri.p, &c, &err),
			 -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "peer 127.0.0.1:"));
	assert_null(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_ok_and_stream_exact),
		cmocka_unit_test(test_zlib_negotiated_roundtrip),
		cmocka_unit_test(test_tx_compress_within_negotiated),
		cmocka_unit_test(test_wrong_key_refused_both_sides),
		cmocka_unit_test(test_no_key_refused),
		cmocka_unit_test(test_key_file_checks),
		cmocka_unit_test(test_version_mismatch_named),
		cmocka_unit_test(test_garbage_refused),
		cmocka_unit_test(test_oversized_handshake_frame_refused),
		cmocka_unit_test(test_replayed_auth_refused),
		cmocka_unit_test(test_reflected_auth_refused),
		cmocka_unit_test(test_caps_mismatch_named),
		cmocka_unit_test(test_bad_frames_refused),
		cmocka_unit_test(test_disk_channel_and_bye),
		cmocka_unit_test(test_output_bound_enobufs),
		cmocka_unit_test(test_heartbeat_timeout_detected),
		cmocka_unit_test(test_heartbeat_rx_hold),
		cmocka_unit_test(test_heartbeat_own_stall_not_silence),
		cmocka_unit_test(test_heartbeat_custom_interval),
		cmocka_unit_test(test_tls_handshake_and_stream),
		cmocka_unit_test(test_tls_wrong_key_refused),
		cmocka_unit_test(test_tls_on_one_side_only),
		cmocka_unit_test(test_nonblocking_handshake),
		cmocka_unit_test(test_silent_peer_times_out),
		cmocka_unit_test(test_tcp_loopback),
		cmocka_unit_test(test_connect_refused_named),
	};

	return cmocka_run_group_tests(tests, tkeys_group_setup, tkeys_group_teardown);
}
