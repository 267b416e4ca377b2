/*
 * xl's migration header from a peer: the one strict check (stream.h,
 * stream_xl_header_take).  The Xen driver's xl receiver (xen_xlproto.c)
 * and the engine's stream receiver (stream_receiver_pump.c) both take the
 * guest's configuration through it, so the two can never accept different
 * headers.  The layout rules (magic, byte order, flags, lengths) are the
 * stream reader's; this adds what a peer's header must carry for us: a v2
 * stream with one JSON text, bounded before anything is buffered.
 */
#include "stream/stream.h"

#include <inttypes.h>
#include <string.h>

/* The configuration inside a complete header: one NUL-terminated text. */
static int xl_config_check(const struct stream_rec *rec, struct remus_err *err)
{
	uint32_t n = rec->u.xl.config_len;

	if (!(rec->u.xl.mandatory & STREAM_XL_MFLAG_JSON))
		return remus_err_set(err, STREAM_E_XL_CONFIG, "xl's migration header carries no JSON "
		    "configuration (mandatory flags %#" PRIx32 ")", rec->u.xl.mandatory);
	if (n == 0 || n > STREAM_XL_CONFIG_MAX)
		return remus_err_set(err, STREAM_E_XL_CONFIG, "xl's domain configuration must be "
		    "1..%u bytes (got %" PRIu32 ")", STREAM_XL_CONFIG_MAX, n);
	if (rec->u.xl.config[n - 1] != '\0')
		return remus_err_set(err, STREAM_E_XL_CONFIG, "xl's domain configuration (%" PRIu32
		    " bytes) is not NUL-terminated", n);
	if (memchr(rec->u.xl.config, '\0', n - 1) != NULL)
		return remus_err_set(err, STREAM_E_XL_CONFIG, "xl's domain configuration has a NUL "
		    "at byte %zu of %" PRIu32 ", it must be one text",
		    (size_t)((const uint8_t *)memchr(rec->u.xl.config, '\0', n - 1) - rec->u.xl.config), n);
	return 0;
}

int stream_xl_header_take(const uint8_t *p, size_t len, size_t *hdr_len,
    const char **config, uint32_t *config_len, struct remus_err *err)
{
	struct stream_reader_cfg cfg = {
		.start = STREAM_START_AUTO,
		.lim.max_body = 4u + STREAM_XL_CONFIG_MAX,     /* u32 length + the text */
	};
	size_t have = len < STREAM_XL_MAGIC_LEN ? len : STREAM_XL_MAGIC_LEN, off = 0, used;
	struct stream_reader rd;
	struct stream_rec rec;
	int rc = 0;

	*hdr_len = STREAM_XL_HDR_SIZE;
	*config = NULL;
	*config_len = 0;
	/* another kind of stream (a bare libxl one) is refused, not read */
	if (memcmp(p, STREAM_XL_MAGIC, have) != 0)
		return remus_err_set(err, STREAM_E_MAGIC, "the stream does not start with xl's "
		    "migration header");
	if (len < STREAM_XL_HDR_SIZE)
		return 0;
	stream_reader_init(&rd, &cfg);
	/* the fixed part first: the reader bounds the optional data's length */
	while (off < STREAM_XL_HDR_SIZE && rc == 0) {
		rc = stream_reader_feed(&rd, p + off, STREAM_XL_HDR_SIZE - off, &used, &rec);
		off += used;
	}
	if (rc == 0) {
		*hdr_len = STREAM_XL_HDR_SIZE + stream_reader_want(&rd);
		if (len < *hdr_len)
			goto out;
		while (off < *hdr_len && rc == 0) {
			rc = stream_reader_feed(&rd, p + off, *hdr_len - off, &used, &rec);
			off += used;
		}
	}
	if (rc < 0) {
		rc = remus_err_set(err, rc, "xl's migration header: %s", rd.err.msg);
	} else if (rc == 0 || rec.item != STREAM_ITEM_XL_HEADER || off != *hdr_len) {
		rc = remus_err_set(err, STREAM_E_TRUNCATED, "xl's migration header is incomplete");
	} else if ((rc = xl_config_check(&rec, err)) == 0) {
		/* the text sits right behind its u32 length, in p */
		*config = (const char *)p + STREAM_XL_HDR_SIZE + 4;
		*config_len = rec.u.xl.config_len;
		rc = 1;
	}
out:
	stream_reader_free(&rd);
	return rc;
}
