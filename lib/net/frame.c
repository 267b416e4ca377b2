/*
 * rnet frame codec: u32 type, u32 length, body (big-endian).  Pure
 * functions over byte buffers, shared by the connection and the fuzzers.
 */
#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "net/net_impl.h"

/* Length rule of one frame type: bodies outside [min, max] are refused. */
struct frame_rule {
	uint32_t type;
	const char *name;
	uint32_t min, max;
};

static const struct frame_rule frame_rules[] = {
	{ RNET_MSG_HELLO,       "HELLO",       10, RNET_HELLO_LEN },
	{ RNET_MSG_AUTH,        "AUTH",        RNET_MAC_LEN, RNET_MAC_LEN },
	{ RNET_MSG_ERROR,       "ERROR",       5, 4 + RNET_ERRTEXT_MAX },
	{ RNET_MSG_CAPS,        "CAPS",        RNET_CAPS_MSG_LEN, RNET_CAPS_MSG_LEN },
	{ RNET_MSG_STREAM,      "STREAM",      1, RNET_BODY_MAX },
	{ RNET_MSG_STREAM_ZLIB, "STREAM_ZLIB", 5, RNET_BODY_MAX },
	{ RNET_MSG_ACK,         "ACK",         8, 8 },
	{ RNET_MSG_HEARTBEAT,   "HEARTBEAT",   8, 8 },
	{ RNET_MSG_DISK,        "DISK",        1, RNET_BODY_MAX },
	{ RNET_MSG_BYE,         "BYE",         4, 4 },
	{ RNET_MSG_CHECK,       "CHECK",       RNET_CHECK_MIN, RNET_CHECK_MAX },
	{ RNET_MSG_STREAM_ZSTD, "STREAM_ZSTD", 5, RNET_BODY_MAX },
};

/* Look up the rule of a frame type; NULL for a type we do not speak. */
static const struct frame_rule *frame_rule_of(uint32_t type)
{
	size_t i;

	for (i = 0; i < sizeof(frame_rules) / sizeof(frame_rules[0]); i++)
		if (frame_rules[i].type == type)
			return &frame_rules[i];
	return NULL;
}

/* Header encoder so every writer lays out frames the same way. */
void rnet_frame_header(uint8_t hdr[RNET_HDR_LEN], uint32_t type, uint32_t len)
{
	put_be32(hdr, type);
	put_be32(hdr + 4, len);
}

/* Split one frame off the front of a receive buffer, refusing unknown types
 * and lengths outside the type's rule as soon as the header is in. */
int rnet_frame_parse(const uint8_t *buf, size_t len, struct rnet_msg *msg,
		     size_t *consumed, struct remus_err *err)
{
	const struct frame_rule *rule;
	uint32_t type, blen;

	if (len < RNET_HDR_LEN)
		return 0;
	type = get_be32(buf);
	blen = get_be32(buf + 4);
	rule = frame_rule_of(type);
	if (rule == NULL) {
		if (buf[0] == 0x16 && buf[1] == 0x03)
			return remus_err_set(err, RNET_EPROTO,
					     "peer speaks TLS but tls is off here: set tls on both sides");
		return remus_err_set(err, RNET_EPROTO, "unknown frame type 0x%08x (length %u)",
				     type, blen);
	}
	if (blen < rule->min || blen > rule->max)
		return remus_err_set(err, RNET_EPROTO,
				     "%s frame length %u outside %u..%u",
				     rule->name, blen, rule->min, rule->max);
	if (len - RNET_HDR_LEN < blen)
		return 0;
	memset(msg, 0, sizeof(*msg));
	msg->type = type;
	msg->len = blen;
	msg->body = buf + RNET_HDR_LEN;
	if (type == RNET_MSG_ACK || type == RNET_MSG_HEARTBEAT)
		msg->u64 = get_be64(msg->body);
	else if (type == RNET_MSG_BYE)
		msg->u64 = get_be32(msg->body);
	*consumed = RNET_HDR_LEN + (size_t)blen;
	return 1;
}

/* Inflate a STREAM_ZLIB body (u32 raw length, zlib data) and insist that
 * it yields exactly the declared length: a short or long result is a
 * corrupt or hostile frame, never a partial success. */
int rnet_zlib_unpack(const uint8_t *body, size_t len, uint8_t *out,
		     size_t out_cap, size_t *out_len, struct remus_err *err)
{
	z_stream zs;
	uint32_t raw;
	int zrc, rc;

	if (len < 5)
		return remus_err_set(err, RNET_EPROTO, "STREAM_ZLIB body of %zu bytes", len);
	raw = get_be32(body);
	if (raw == 0 || raw > RNET_BODY_MAX || raw > out_cap)
		return remus_err_set(err, RNET_EPROTO,
				     "STREAM_ZLIB raw length %u outside 1..%u", raw, RNET_BODY_MAX);
	memset(&zs, 0, sizeof(zs));
	if (inflateInit(&zs) != Z_OK)
		return remus_err_set(err, -ENOMEM, "zlib inflateInit failed");
	zs.next_in = (Bytef *)(uintptr_t)(body + 4);
	zs.avail_in = (uInt)(len - 4);
	zs.next_out = out;
	zs.avail_out = raw;
	zrc = inflate(&zs, Z_FINISH);
	if (zrc != Z_STREAM_END || zs.total_out != raw || zs.avail_in != 0) {
		rc = remus_err_set(err, RNET_EPROTO,
				   "STREAM_ZLIB frame corrupt (zlib %d, %lu of %u bytes, %u trailing)",
				   zrc, (unsigned long)zs.total_out, raw, zs.avail_in);
		goto out;
	}
	*out_len = raw;
	rc = 0;
out:
	inflateEnd(&zs);
	return rc;
}

/* Printable name of a compression kind, for messages and config. */
const char *rnet_compress_name(uint32_t kind)
{
	static const char *const names[] = { "none", "zlib", "delta", "zstd", "delta+zstd" };

	return kind < RNET_COMPRESS_COUNT ? names[kind] : "unknown";
}
