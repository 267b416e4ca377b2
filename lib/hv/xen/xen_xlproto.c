/*
 * xl's migration protocol, receiving side, as far as `xl remus` uses it
 * (tools/xl/xl_migrate.c in Xen 4.17): the receiver writes a fixed banner,
 * the sender answers with xl's save-file header carrying the guest's libxl
 * JSON configuration, and the libxl stream follows on the same fd.  Remus
 * has no message after that in either direction.
 *
 * The header is read exactly as many bytes as it announces, so nothing of
 * the libxl stream that follows is consumed.  The bytes come from the peer:
 * they go through lib/stream's one strict check (stream_xl_header_take),
 * the same the engine's stream receiver uses: bounded before anything is
 * buffered, the configuration one NUL-terminated text of at most
 * XEN_XL_JSON_MAX (= STREAM_XL_CONFIG_MAX) bytes.
 */
#include "hv/xen/xen.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stream/stream.h"

_Static_assert(XEN_XL_JSON_MAX == STREAM_XL_CONFIG_MAX, "one bound for xl's configuration");

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

/* Read exactly len bytes (never more: libxl's stream follows on fd). */
static int xl_read_exact(int fd, uint8_t *p, size_t len, struct remus_err *err)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, p + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "reading xl's migration header");
		if (n == 0)
			return remus_err_set(err, -EPIPE, "the sender closed the stream inside xl's "
			    "migration header");
		off += (size_t)n;
	}
	return 0;
}

int xen_xl_read_header(int fd, char **json, size_t *len, struct remus_err *err)
{
	uint8_t *buf = NULL, *nb;
	const char *config;
	uint32_t config_len;
	size_t have = 0, need = STREAM_XL_HDR_SIZE;
	int rc;

	*json = NULL;
	*len = 0;
	/* the fixed part, then the length it announces (bounded by the check) */
	for (;;) {
		if ((nb = realloc(buf, need)) == NULL) {
			rc = remus_err_sys(err, ENOMEM, "xl's migration header of %zu bytes", need);
			break;
		}
		buf = nb;
		if ((rc = xl_read_exact(fd, buf + have, need - have, err)) < 0)
			break;
		have = need;
		rc = stream_xl_header_take(buf, have, &need, &config, &config_len, err);
		if (rc < 0) {
			rc = err->code = -EPROTO;       /* the peer broke xl's protocol */
			break;
		}
		if (rc == 1) {
			/* one text with its NUL: move it to the front, hand the buffer over */
			memmove(buf, config, config_len);
			*json = (char *)buf;
			*len = config_len;
			return 0;
		}
		if (need <= have) {     /* cannot happen: the check wants more each time */
			rc = remus_err_set(err, -EPROTO, "xl's migration header: no progress");
			break;
		}
	}
	free(buf);
	return rc;
}
