/*
 * Internal to lib/net: the per-chunk stream codecs (compress.c) the
 * connection calls from conn_stream_chunk (send) and conn_deliver (receive).
 */
#ifndef REMUS_NET_COMPRESS_IMPL_H
#define REMUS_NET_COMPRESS_IMPL_H

#include "net/net_impl.h"

struct rnet_codec;

/* One packed chunk: frame type, then hdr[0..hlen) and body[0..len). */
struct rnet_packed {
	uint32_t type;
	uint8_t hdr[4];
	size_t hlen;
	const uint8_t *body;
	size_t len;
};

/* Frame type the kind compresses into (RNET_MSG_STREAM: it does not). */
uint32_t rnet_compress_frame(uint32_t kind);
/* *cdp is made on first use and freed by rnet_codec_free. */
int rnet_codec_pack(struct rnet_codec **cdp, uint32_t kind, const uint8_t *p, size_t n,
		    struct rnet_packed *out, struct remus_err *err);
void rnet_codec_free(struct rnet_codec *cd);
/* Unpack a STREAM_ZLIB/STREAM_ZSTD frame, refused unless it is the type
 * the negotiated kind sends. */
int rnet_stream_unpack(uint32_t kind, const struct rnet_msg *m, uint8_t *out, size_t out_cap,
		       size_t *out_len, struct remus_err *err);

#endif
