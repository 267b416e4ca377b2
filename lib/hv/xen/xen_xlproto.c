/*
 * xl's migration protocol, receiving side, as far as `xl remus` uses it
 * (tools/xl/xl_migrate.c in Xen 4.17): the receiver writes a fixed banner,
 * the sender answers with xl's save-file header carrying the guest's libxl
 * JSON configuration, and the libxl stream follows on the same fd.  Remus
 * has no message after that in either direction.
 *
 * The header is read with remus's stream reader, exactly as many bytes as it
 * wants, so nothing of the libxl stream that follows is consumed.  The bytes
 * come from the peer: the reader bounds and checks them; the configuration
 * must be one NUL-terminated text of at most XEN_XL_JSON_MAX bytes.
 */
#include "hv/xen/xen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream.h"

static const char xl_banner[] = "xl migration receiver ready, send binary domain data.\n";

int xen_xl_send_banner(int fd, struct remus_err *err)
{
	struct stream_buf b;
	int rc;

	stream_buf_init(&b);
	rc = stream_buf_append(&b, xl_banner, sizeof(xl_banner) - 1);
	if (rc == 0)
		rc = stream_buf_flush(&b, fd);
	stream_buf_free(&b);
	return rc < 0 ? remus_err_sys(err, -rc, "writing xl's receiver banner") : 0;
}

/* Check the header item and copy its configuration out. */
static int xl_take_config(const struct stream_rec *rec, char **json, size_t *len,
    struct remus_err *err)
{
	uint32_t n = rec->u.xl.config_len;

	if (rec->item != STREAM_ITEM_XL_HEADER)
		return remus_err_set(err, -EPROTO, "the stream does not start with xl's migration header");
	if (!(rec->u.xl.mandatory & STREAM_XL_MFLAG_STREAMV2) ||
	    !(rec->u.xl.mandatory & STREAM_XL_MFLAG_JSON))
		return remus_err_set(err, -EPROTO,
		    "xl's migration header lacks a v2 stream or a JSON configuration (flags %#x)",
		    rec->u.xl.mandatory);
	if (n == 0 || n > XEN_XL_JSON_MAX || rec->u.xl.config[n - 1] != '\0' ||
	    memchr(rec->u.xl.config, '\0', n - 1) != NULL)
		return remus_err_set(err, -EPROTO,
		    "xl's domain configuration must be one NUL-terminated text of 1..%u bytes (got %u bytes)",
		    XEN_XL_JSON_MAX, n);
	if ((*json = malloc(n)) == NULL)
		return remus_err_sys(err, ENOMEM, "copying the domain configuration");
	memcpy(*json, rec->u.xl.config, n);
	*len = n;
	return 0;
}

int xen_xl_read_header(int fd, char **json, size_t *len, struct remus_err *err)
{
	struct stream_reader_cfg cfg = { .start = STREAM_START_AUTO };
	struct stream_reader rd;
	struct stream_rec rec;
	uint8_t buf[4096];
	size_t want, used;
	ssize_t n;
	int rc;

	*json = NULL;
	*len = 0;
	stream_reader_init(&rd, &cfg);
	for (;;) {
		want = stream_reader_want(&rd);
		if (want > sizeof(buf))
			want = sizeof(buf);
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = remus_err_sys(err, errno, "reading xl's migration header");
			break;
		}
		if (n == 0) {
			rc = remus_err_set(err, -EPIPE, "the sender closed the stream inside xl's migration header");
			break;
		}
		rc = stream_reader_feed(&rd, buf, (size_t)n, &used, &rec);
		if (rc < 0) {
			rc = remus_err_set(err, rc, "xl's migration header: %s", rd.err.msg);
			break;
		}
		if (rc == 1) {
			rc = xl_take_config(&rec, json, len, err);
			break;
		}
	}
	stream_reader_free(&rd);
	return rc;
}
