/*
 * Stream compression codecs of rnet, per chunk: the send side packs a chunk
 * of migration-stream bytes as the kind negotiated at the handshake asks
 * (zlib or zstd; delta is the engine's own and rides in plain frames unless
 * combined with zstd), and falls back to a plain STREAM frame whenever
 * compression does not pay.  The receive side's unpack functions are
 * hostile-input code: the declared raw length is bounded first and the
 * result must have exactly that length.
 *
 * Frame bodies: STREAM_ZLIB and STREAM_ZSTD are u32 raw length (big-endian)
 * followed by one zlib stream / one zstd frame of exactly that many bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#include "net/compress_impl.h"

#define ZSTD_LEVEL 1   /* fastest regular level: the stream's hot path */

struct rnet_codec {
	uint8_t *buf;              /* compressed body, RNET_BODY_MAX */
	ZSTD_CCtx *zc;             /* zstd compressor, made on first use */
};

/* Does the negotiated kind compress stream frames with zstd? */
static bool kind_zstd(uint32_t kind)
{
	return kind == RNET_COMPRESS_ZSTD || kind == RNET_COMPRESS_DELTA_ZSTD;
}

/* Whether the engine's delta encoding is on for this kind. */
bool rnet_compress_delta(uint32_t kind)
{
	return kind == RNET_COMPRESS_DELTA || kind == RNET_COMPRESS_DELTA_ZSTD;
}

/* The compressed frame type the kind sends (RNET_MSG_STREAM: none). */
uint32_t rnet_compress_frame(uint32_t kind)
{
	if (kind == RNET_COMPRESS_ZLIB)
		return RNET_MSG_STREAM_ZLIB;
	if (kind_zstd(kind))
		return RNET_MSG_STREAM_ZSTD;
	return RNET_MSG_STREAM;
}

void rnet_codec_free(struct rnet_codec *cd)
{
	if (cd == NULL)
		return;
	ZSTD_freeCCtx(cd->zc);
	free(cd->buf);
	free(cd);
}

/* Make the connection's codec state on its first compressed chunk. */
static int codec_get(struct rnet_codec **cdp, uint32_t kind, struct remus_err *err)
{
	struct rnet_codec *cd = *cdp;

	if (cd == NULL) {
		if ((cd = calloc(1, sizeof(*cd))) == NULL ||
		    (cd->buf = malloc(RNET_BODY_MAX)) == NULL) {
			free(cd);
			return remus_err_sys(err, ENOMEM, "rnet compression buffer");
		}
		*cdp = cd;
	}
	if (kind_zstd(kind) && cd->zc == NULL) {
		if ((cd->zc = ZSTD_createCCtx()) == NULL)
			return remus_err_sys(err, ENOMEM, "zstd compression context");
		ZSTD_CCtx_setParameter(cd->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL);
	}
	return 0;
}

/* Pack one chunk (1..RNET_BODY_MAX bytes) for the kind.  On return out
 * describes the frame: type RNET_MSG_STREAM with body = p when the kind
 * does not compress or compressing did not make the chunk smaller. */
int rnet_codec_pack(struct rnet_codec **cdp, uint32_t kind, const uint8_t *p, size_t n,
		    struct rnet_packed *out, struct remus_err *err)
{
	size_t room = n > 5 ? n - 5 : 0;      /* a frame that pays: 4 + body < n */
	struct rnet_codec *cd;
	int rc;

	out->type = RNET_MSG_STREAM;
	out->body = p;
	out->len = n;
	out->hlen = 0;
	if (rnet_compress_frame(kind) == RNET_MSG_STREAM || room == 0 || n > RNET_BODY_MAX)
		return 0;
	if ((rc = codec_get(cdp, kind, err)) < 0)
		return rc;
	cd = *cdp;
	if (kind == RNET_COMPRESS_ZLIB) {
		uLongf zlen = (uLongf)room;
		if (compress2(cd->buf, &zlen, p, (uLong)n, 1) != Z_OK)
			return 0;                 /* Z_BUF_ERROR: would not pay */
		out->len = zlen;
	} else {
		size_t zlen = ZSTD_compress2(cd->zc, cd->buf, room, p, n);
		if (ZSTD_isError(zlen))
			return 0;                 /* dstSize_tooSmall: would not pay */
		out->len = zlen;
	}
	out->type = rnet_compress_frame(kind);
	put_be32(out->hdr, (uint32_t)n);
	out->hlen = 4;
	out->body = cd->buf;
	return 0;
}

/* Inflate a STREAM_ZSTD body (u32 raw length, one zstd frame) and insist
 * that it yields exactly the declared length, like rnet_zlib_unpack. */
int rnet_zstd_unpack(const uint8_t *body, size_t len, uint8_t *out,
		     size_t out_cap, size_t *out_len, struct remus_err *err)
{
	unsigned long long content;
	uint32_t raw;
	size_t got;

	if (len < 5)
		return remus_err_set(err, RNET_EPROTO, "STREAM_ZSTD body of %zu bytes", len);
	raw = get_be32(body);
	if (raw == 0 || raw > RNET_BODY_MAX || raw > out_cap)
		return remus_err_set(err, RNET_EPROTO,
				     "STREAM_ZSTD raw length %u outside 1..%u", raw, RNET_BODY_MAX);
	/* A frame that declares its size must declare ours; one that does not
	 * is still bounded by the output capacity we pass (raw). */
	content = ZSTD_getFrameContentSize(body + 4, len - 4);
	if (content == ZSTD_CONTENTSIZE_ERROR)
		return remus_err_set(err, RNET_EPROTO, "STREAM_ZSTD frame header corrupt");
	if (content != ZSTD_CONTENTSIZE_UNKNOWN && content != raw)
		return remus_err_set(err, RNET_EPROTO,
				     "STREAM_ZSTD frame holds %llu bytes, header says %u", content, raw);
	got = ZSTD_decompress(out, raw, body + 4, len - 4);
	if (ZSTD_isError(got))
		return remus_err_set(err, RNET_EPROTO, "STREAM_ZSTD frame corrupt (%s)",
				     ZSTD_getErrorName(got));
	if (got != raw)
		return remus_err_set(err, RNET_EPROTO, "STREAM_ZSTD frame yields %zu of %u bytes",
				     got, raw);
	*out_len = raw;
	return 0;
}

/* Unpack a compressed stream frame of the type the kind sends. */
int rnet_stream_unpack(uint32_t kind, const struct rnet_msg *m, uint8_t *out, size_t out_cap,
		       size_t *out_len, struct remus_err *err)
{
	if (m->type != rnet_compress_frame(kind))
		return remus_err_set(err, RNET_EPROTO,
				     "%s stream frame, but %s compression was negotiated",
				     m->type == RNET_MSG_STREAM_ZLIB ? "zlib" : "zstd",
				     rnet_compress_name(kind));
	if (m->type == RNET_MSG_STREAM_ZLIB)
		return rnet_zlib_unpack(m->body, m->len, out, out_cap, out_len, err);
	return rnet_zstd_unpack(m->body, m->len, out, out_cap, out_len, err);
}
