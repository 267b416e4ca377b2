/* Unit tests of rnet's stream compression (lib/net/compress.c): zstd and
 * delta+zstd negotiated and carried byte-exact, plain frames when a chunk
 * does not compress, the stream_wire_tx counter the engine's wire_bytes
 * comes from, and the STREAM_ZSTD unpacker refusing hostile bodies. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zstd.h>

#include "net/net_impl.h"
#include "test_net_util.h"


struct rx {
	uint8_t *got;
	size_t len, have;
};

static void rx_msg(void *arg, bool at_primary, const struct rnet_msg *m)
{
	struct rx *x = arg;

	if (at_primary || m->type != RNET_MSG_STREAM)
		fail_msg("unexpected message type %u at %s", m->type, at_primary ? "primary" : "backup");
	assert_true(x->have + m->len <= x->len);
	memcpy(x->got + x->have, m->body, m->len);
	x->have += m->len;
}

static bool rx_done(void *arg)
{
	struct rx *x = arg;

	return x->have == x->len;
}

/* A pair that negotiated `kind` (both sides offer every kind). */
static void pair_up(struct side *pri, struct side *bak, uint32_t kind)
{
	side_init(pri, tkeys_group.good, true);
	side_init(bak, tkeys_group.good, false);
	pri->p.caps.compress_mask = bak->p.caps.compress_mask = (1u << RNET_COMPRESS_COUNT) - 1;
	pri->p.caps.compress = kind;
	side_pair_handshake(pri, bak);
	assert_int_equal(pri->rc, 0);
	assert_int_equal(bak->rc, 0);
	assert_int_equal(rnet_conn_compress(bak->conn), kind);
}

/* Send len bytes (compressible: runs of 512 equal bytes; else random),
 * check them at the backup and return the wire bytes their frames took. */
static uint64_t send_check(struct side *pri, struct side *bak, size_t len, bool compressible)
{
	struct remus_err err = { 0 };
	struct rnet_stats a, b;
	struct rx x = { .len = len };
	uint8_t *want = malloc(len);
	int rc;

	x.got = malloc(len);
	assert_non_null(want);
	assert_non_null(x.got);
	for (size_t i = 0; i < len; i++)
		want[i] = compressible ? (uint8_t)(i / 512) : (uint8_t)(rand() >> 7);
	rnet_conn_stats(pri->conn, &a);
	assert_int_equal(rnet_conn_send_stream(pri->conn, want, len, &err), 0);
	rnet_conn_stats(pri->conn, &b);
	assert_true(pump(pri->conn, bak->conn, rx_msg, &x, rx_done, &rc, &err));
	assert_int_equal(rc, 0);
	assert_memory_equal(want, x.got, len);
	assert_int_equal(b.stream_bytes_tx - a.stream_bytes_tx, len);
	free(want);
	free(x.got);
	return b.stream_wire_tx - a.stream_wire_tx;
}

static void test_zstd_roundtrip_and_wire_count(void **state)
{
	struct side pri, bak;
	struct rnet_stats st;
	uint64_t wire;

	(void)state;
	pair_up(&pri, &bak, RNET_COMPRESS_ZSTD);
	wire = send_check(&pri, &bak, (3u << 20) + 5, true);
	assert_true(wire > 0);
	assert_true(wire < ((3u << 20) + 5) / 4);
	/* incompressible: plain frames, so the wire carries the bytes + headers */
	wire = send_check(&pri, &bak, 300000, false);
	assert_int_equal(wire, 300000 + RNET_HDR_LEN);
	/* what was queued is what the socket took (nothing else was sent) */
	conn_flush_all(pri.conn, 5000);
	rnet_conn_stats(pri.conn, &st);
	assert_int_equal(st.bytes_tx, st.stream_wire_tx);
	side_free(&pri);
	side_free(&bak);
}

/* Regression (issue 21): with zlib negotiated the wire counter must see
 * the compressed frames, not the bytes handed in. */
static void test_zlib_wire_count_after_compression(void **state)
{
	struct side pri, bak;
	uint64_t wire;

	(void)state;
	pair_up(&pri, &bak, RNET_COMPRESS_ZLIB);
	wire = send_check(&pri, &bak, 2u << 20, true);
	assert_true(wire > 0);
	assert_true(wire < (2u << 20) / 4);
	side_free(&pri);
	side_free(&bak);
}

static void test_delta_zstd_negotiated(void **state)
{
	struct side pri, bak;

	(void)state;
	assert_true(rnet_compress_delta(RNET_COMPRESS_DELTA));
	assert_true(rnet_compress_delta(RNET_COMPRESS_DELTA_ZSTD));
	assert_false(rnet_compress_delta(RNET_COMPRESS_ZSTD));
	assert_false(rnet_compress_delta(RNET_COMPRESS_ZLIB));
	assert_string_equal(rnet_compress_name(RNET_COMPRESS_DELTA_ZSTD), "delta+zstd");
	pair_up(&pri, &bak, RNET_COMPRESS_DELTA_ZSTD);
	assert_true(send_check(&pri, &bak, 1u << 20, true) < (1u << 20) / 4);
	side_free(&pri);
	side_free(&bak);
}

/* Compress raw bytes into a STREAM_ZSTD body declaring `declared`. */
static size_t zbody(uint8_t *out, size_t cap, const uint8_t *raw, size_t n, uint32_t declared)
{
	size_t z = ZSTD_compress(out + 4, cap - 4, raw, n, 1);

	assert_false(ZSTD_isError(z));
	put_be32(out, declared);
	return z + 4;
}

static void test_zstd_unpack_refuses_hostile_bodies(void **state)
{
	static uint8_t raw[8192], body[16384], out[RNET_BODY_MAX];
	struct remus_err err = { 0 };
	size_t len, got = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i / 100);
	len = zbody(body, sizeof(body), raw, sizeof(raw), sizeof(raw));
	assert_int_equal(rnet_zstd_unpack(body, len, out, sizeof(out), &got, &err), 0);
	assert_int_equal(got, sizeof(raw));
	assert_memory_equal(out, raw, sizeof(raw));

	assert_int_equal(rnet_zstd_unpack(body, 4, out, sizeof(out), &got, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "STREAM_ZSTD body of 4 bytes"));
	put_be32(body, 0);
	assert_int_equal(rnet_zstd_unpack(body, len, out, sizeof(out), &got, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "raw length 0 outside"));
	put_be32(body, RNET_BODY_MAX + 1);
	assert_int_equal(rnet_zstd_unpack(body, len, out, sizeof(out), &got, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "raw length"));
	/* header declares less than the frame holds */
	put_be32(body, sizeof(raw) - 1);
	assert_int_equal(rnet_zstd_unpack(body, len, out, sizeof(out), &got, &err), RNET_EPROTO);
	assert_non_null(strstr(err.msg, "frame holds 8192 bytes, header says 8191"));
	/* more than the caller's buffer */
	put_be32(body, sizeof(raw));
	assert_int_equal(rnet_zstd_unpack(body, len, out, 100, &got, &err), RNET_EPROTO);
	/* not a zstd frame at all */
	memset(body + 4, 0xa5, 64);
	assert_int_equal(rnet_zstd_unpack(body, 68, out, sizeof(out), &got, &err), RNET_EPROTO);
	/* a valid frame cut short, and one with garbage after it */
	len = zbody(body, sizeof(body), raw, sizeof(raw), sizeof(raw));
	assert_int_equal(rnet_zstd_unpack(body, len - 3, out, sizeof(out), &got, &err), RNET_EPROTO);
	memset(body + len, 0x42, 16);
	assert_int_equal(rnet_zstd_unpack(body, len + 16, out, sizeof(out), &got, &err), RNET_EPROTO);
	/* the frame's payload flipped: zstd's checks or the length catch it */
	len = zbody(body, sizeof(body), raw, sizeof(raw), sizeof(raw));
	body[len / 2] ^= 0xff;
	if (rnet_zstd_unpack(body, len, out, sizeof(out), &got, &err) == 0)
		assert_int_equal(got, sizeof(raw));      /* never another length */
}

/* A STREAM_ZSTD frame on a session that agreed on zlib is refused. */
static void test_zstd_frame_without_zstd_refused(void **state)
{
	static uint8_t raw[4096], body[8192];
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_msg m;
	uint8_t hdr[RNET_HDR_LEN];
	size_t len;
	int rc;

	(void)state;
	pair_up(&pri, &bak, RNET_COMPRESS_ZLIB);
	len = zbody(body, sizeof(body), raw, sizeof(raw), sizeof(raw));
	rnet_frame_header(hdr, RNET_MSG_STREAM_ZSTD, (uint32_t)len);
	assert_int_equal(write(rnet_conn_fd(pri.conn), hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(write(rnet_conn_fd(pri.conn), body, len), (ssize_t)len);
	assert_int_equal(rnet_wait_fd(rnet_conn_fd(bak.conn), POLLIN, rnet_now_ms() + 5000, &err), 0);
	assert_int_equal(rnet_conn_feed(bak.conn, 0, &err), 0);
	rc = rnet_conn_next(bak.conn, &m, &err);
	assert_int_equal(rc, RNET_EPROTO);
	assert_non_null(strstr(err.msg, "zstd stream frame, but zlib compression was negotiated"));
	side_free(&pri);
	side_free(&bak);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zstd_roundtrip_and_wire_count),
		cmocka_unit_test(test_zlib_wire_count_after_compression),
		cmocka_unit_test(test_delta_zstd_negotiated),
		cmocka_unit_test(test_zstd_unpack_refuses_hostile_bodies),
		cmocka_unit_test(test_zstd_frame_without_zstd_refused),
	};

	return cmocka_run_group_tests(tests, tkeys_group_setup, tkeys_group_teardown);
}
