/* The check-only link's answer codec: see check_proto.h. */
#include <string.h>

#include "remusd/check_proto.h"
#include "util/bytes.h"

size_t remusd_check_answer_encode(const struct remusd_check_answer *a, uint8_t *buf)
{
	size_t n = strnlen(a->text, REMUSD_CHECK_TEXT_MAX);

	put_be32(buf, a->problems);
	put_be32(buf + 4, a->mem_mb);
	put_be64(buf + 8, a->disk_bytes);
	put_be16(buf + 16, (uint16_t)n);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a->text[i];
		buf[RNET_CHECK_MIN + i] = ch >= 0x20 && ch < 0x7f ? ch : '?';
	}
	return RNET_CHECK_MIN + n;
}

int remusd_check_answer_parse(const uint8_t *body, size_t len, struct remusd_check_answer *a,
                              struct remus_err *err)
{
	size_t n;

	memset(a, 0, sizeof(*a));
	if (len < RNET_CHECK_MIN || len > RNET_CHECK_MAX)
		return remus_err_set(err, RNET_EPROTO, "CHECK answer of %zu bytes, allowed %u..%u",
		                     len, RNET_CHECK_MIN, RNET_CHECK_MAX);
	n = get_be16(body + 16);
	if (n != len - RNET_CHECK_MIN)
		return remus_err_set(err, RNET_EPROTO, "CHECK answer text of %zu bytes in a body "
		                     "of %zu", n, len);
	a->problems = get_be32(body);
	if (a->problems & ~REMUSD_PEER_ALL)
		return remus_err_set(err, RNET_EPROTO, "CHECK answer problems 0x%x unknown",
		                     a->problems);
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = body[RNET_CHECK_MIN + i];
		if (ch < 0x20 || ch > 0x7e)
			return remus_err_set(err, RNET_EPROTO, "CHECK answer text byte %zu is 0x%02x, "
			                     "not printable", i, ch);
	}
	a->mem_mb = get_be32(body + 4);
	a->disk_bytes = get_be64(body + 8);
	memcpy(a->text, body + RNET_CHECK_MIN, n);
	a->text[n] = 0;
	return 0;
}
