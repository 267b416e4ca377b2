/*
 * The HELLO message (version 2, 136 bytes, big-endian):
 *   magic[8] "REMUSRPL" | u16 version | caps[94] | u8 nonce[32]
 * where caps (also the body of CAPS before its MAC) is
 *   u16 flags (RNET_CAP_*) | u32 compress_mask | u32 compress
 *   | u8 diskrep | u8 pad[3] = 0 | char hv[16] | char guest[64] (NUL-padded)
 * and the capability agreement between primary and backup.  The layout is
 * version 1's; version 2 only adds that the backup's HELLO carries neutral
 * caps (all zero) and its real ones follow in CAPS after authentication.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diskrep/kind.h"
#include "net/net_impl.h"

#define HELLO_OFF_VERSION  8
#define HELLO_OFF_CAPS     10
#define HELLO_OFF_NONCE    (HELLO_OFF_CAPS + RNET_CAPS_LEN)
#define CAPS_OFF_FLAGS     0
#define CAPS_OFF_CMASK     2
#define CAPS_OFF_CKIND     6
#define CAPS_OFF_DISKREP   10
#define CAPS_OFF_HV        14
#define CAPS_OFF_GUEST     (CAPS_OFF_HV + RNET_HV_MAX)
_Static_assert(CAPS_OFF_GUEST + RNET_NAME_MAX == RNET_CAPS_LEN, "caps layout");
_Static_assert(HELLO_OFF_NONCE + RNET_NONCE_LEN == RNET_HELLO_LEN, "HELLO layout");

/* A name field must be NUL-terminated inside the field, printable, and
 * all-zero after the terminator (so two encodings of a name are equal). */
static int hello_name_ok(const uint8_t *f, size_t cap, const char *what,
			 bool allow_empty, struct remus_err *err)
{
	size_t n = strnlen((const char *)f, cap), i;

	if (n == cap)
		return remus_err_set(err, RNET_EPROTO, "HELLO %s field not terminated", what);
	if (n == 0 && !allow_empty)
		return remus_err_set(err, RNET_EPROTO, "HELLO %s field empty", what);
	for (i = 0; i < n; i++)
		if (f[i] < 0x21 || f[i] > 0x7e)
			return remus_err_set(err, RNET_EPROTO,
					     "HELLO %s has a non-printable byte at %zu", what, i);
	for (; i < cap; i++)
		if (f[i] != 0)
			return remus_err_set(err, RNET_EPROTO, "HELLO %s padding not zero", what);
	return 0;
}

/* Copy a C string into a fixed NUL-padded field; refuse what does not fit. */
static int hello_put_name(uint8_t *f, size_t cap, const char *s)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		return -EINVAL;
	memset(f, 0, cap);
	memcpy(f, s, n);
	return 0;
}

/* Serialise a caps block; -EINVAL if a name does not fit its field. */
static int caps_put(uint8_t *f, const struct rnet_caps *c)
{
	memset(f, 0, RNET_CAPS_LEN);
	put_be16(f + CAPS_OFF_FLAGS, (uint16_t)c->flags);
	put_be32(f + CAPS_OFF_CMASK, c->compress_mask);
	put_be32(f + CAPS_OFF_CKIND, c->compress);
	f[CAPS_OFF_DISKREP] = c->diskrep;
	if (hello_put_name(f + CAPS_OFF_HV, RNET_HV_MAX, c->hv) < 0 ||
	    hello_put_name(f + CAPS_OFF_GUEST, RNET_NAME_MAX, c->guest) < 0)
		return -EINVAL;
	return 0;
}

/* Decode a caps block; empty names only when `neutral_ok` and then every
 * other field must be zero too (a neutral block, nothing disclosed). */
static int caps_get(const uint8_t *f, struct rnet_caps *c, bool neutral_ok,
		    struct remus_err *err)
{
	uint16_t flags;
	int rc;

	memset(c, 0, sizeof(*c));
	flags = get_be16(f + CAPS_OFF_FLAGS);
	if (flags & ~(RNET_CAP_XENSTORE | RNET_CAP_CHECK | RNET_CAP_RESUME))
		return remus_err_set(err, RNET_EPROTO, "HELLO has unknown flags 0x%04x", flags);
	c->flags = flags;
	c->compress_mask = get_be32(f + CAPS_OFF_CMASK);
	if (c->compress_mask >> RNET_COMPRESS_COUNT)
		return remus_err_set(err, RNET_EPROTO, "HELLO compression mask 0x%x unknown",
				     c->compress_mask);
	c->compress = get_be32(f + CAPS_OFF_CKIND);
	if (c->compress >= RNET_COMPRESS_COUNT)
		return remus_err_set(err, RNET_EPROTO, "HELLO compression kind %u unknown",
				     c->compress);
	c->diskrep = f[CAPS_OFF_DISKREP];
	if (!diskrep_kind_valid(c->diskrep))
		return remus_err_set(err, RNET_EPROTO, "HELLO diskrep backend %u unknown",
				     c->diskrep);
	if (f[CAPS_OFF_DISKREP + 1] | f[CAPS_OFF_DISKREP + 2] | f[CAPS_OFF_DISKREP + 3])
		return remus_err_set(err, RNET_EPROTO, "HELLO reserved bytes not zero");
	rc = hello_name_ok(f + CAPS_OFF_HV, RNET_HV_MAX, "hypervisor driver", neutral_ok, err);
	if (rc < 0)
		return rc;
	rc = hello_name_ok(f + CAPS_OFF_GUEST, RNET_NAME_MAX, "guest", neutral_ok, err);
	if (rc < 0)
		return rc;
	memcpy(c->hv, f + CAPS_OFF_HV, RNET_HV_MAX);
	memcpy(c->guest, f + CAPS_OFF_GUEST, RNET_NAME_MAX);
	if ((c->hv[0] == 0 || c->guest[0] == 0) && !rnet_caps_neutral(c))
		return remus_err_set(err, RNET_EPROTO,
				     "HELLO capabilities half empty: hv '%.15s', guest '%.63s'",
				     c->hv, c->guest);
	return 0;
}

/* Neutral caps: what a v2 backup says before authentication. */
bool rnet_caps_neutral(const struct rnet_caps *c)
{
	return c->flags == 0 && c->compress_mask == 0 && c->compress == 0 &&
	       c->diskrep == 0 && c->hv[0] == 0 && c->guest[0] == 0;
}

/* Serialise our HELLO; -EINVAL if a name does not fit its field. */
int rnet_hello_encode(const struct rnet_hello *h, uint8_t out[RNET_HELLO_LEN])
{
	memset(out, 0, RNET_HELLO_LEN);
	memcpy(out, RNET_MAGIC, 8);
	put_be16(out + HELLO_OFF_VERSION, h->version);
	if (caps_put(out + HELLO_OFF_CAPS, &h->caps) < 0)
		return -EINVAL;
	memcpy(out + HELLO_OFF_NONCE, h->nonce, RNET_NONCE_LEN);
	return 0;
}

/* Decode a peer's HELLO body.  Magic and version are judged before the
 * exact length so a future version gets "version mismatch", not "length". */
int rnet_hello_parse(const uint8_t *b, size_t len, struct rnet_hello *h,
		     struct remus_err *err)
{
	int rc;

	memset(h, 0, sizeof(*h));
	if (len < 10 || memcmp(b, RNET_MAGIC, 8) != 0)
		return remus_err_set(err, RNET_EVERSION,
				     "peer is not a remus replication endpoint (bad magic)");
	h->version = get_be16(b + HELLO_OFF_VERSION);
	if (h->version != RNET_VERSION)
		return remus_err_set(err, RNET_EVERSION,
				     "protocol version mismatch: peer speaks %u, we speak %u",
				     h->version, RNET_VERSION);
	if (len != RNET_HELLO_LEN)
		return remus_err_set(err, RNET_EPROTO, "HELLO length %zu, expected %u",
				     len, RNET_HELLO_LEN);
	rc = caps_get(b + HELLO_OFF_CAPS, &h->caps, true, err);
	if (rc < 0)
		return rc;
	memcpy(h->nonce, b + HELLO_OFF_NONCE, RNET_NONCE_LEN);
	return 0;
}

/* The caps block of a CAPS frame (complete caps, names required). */
int rnet_caps_encode(const struct rnet_caps *caps, uint8_t out[RNET_CAPS_LEN])
{
	return caps_put(out, caps);
}

int rnet_caps_parse(const uint8_t *b, size_t len, struct rnet_caps *caps,
		    struct remus_err *err)
{
	if (len != RNET_CAPS_LEN)
		return remus_err_set(err, RNET_EPROTO, "capabilities block length %zu, expected %u",
				     len, RNET_CAPS_LEN);
	return caps_get(b, caps, false, err);
}

/* Render a compression mask as "none,zlib" for mismatch messages. */
static void compress_mask_str(uint32_t mask, char *buf, size_t cap)
{
	size_t off = 0;
	uint32_t k;

	buf[0] = '\0';
	for (k = 0; k < RNET_COMPRESS_COUNT && off < cap; k++)
		if (mask & RNET_COMPRESS_BIT(k))
			off += (size_t)snprintf(buf + off, cap - off, "%s%s",
						off ? "," : "", rnet_compress_name(k));
	if (buf[0] == '\0')
		snprintf(buf, cap, "nothing");
}

/* The agreement rule, the same on both ends so they reach the same verdict:
 * same guest, same hv driver, same diskrep backend, same xenstore-record
 * use, and the primary's compression kind understood by the backup. */
int rnet_caps_check(const struct rnet_caps *pri, const struct rnet_caps *bak,
		    struct remus_err *err)
{
	char mask[64];

	if (strncmp(pri->guest, bak->guest, RNET_NAME_MAX) != 0)
		return remus_err_set(err, RNET_ECAPS,
				     "guest identity mismatch: primary replicates '%.63s', backup expects '%.63s'",
				     pri->guest, bak->guest);
	if (strncmp(pri->hv, bak->hv, RNET_HV_MAX) != 0)
		return remus_err_set(err, RNET_ECAPS,
				     "hypervisor driver mismatch: primary '%.15s', backup '%.15s'",
				     pri->hv, bak->hv);
	if (pri->diskrep != bak->diskrep)
		return remus_err_set(err, RNET_ECAPS,
				     "diskrep backend mismatch: primary %s, backup %s",
				     diskrep_kind_name(pri->diskrep), diskrep_kind_name(bak->diskrep));
	if ((pri->flags ^ bak->flags) & RNET_CAP_XENSTORE)
		return remus_err_set(err, RNET_ECAPS,
				     "xenstore records mismatch: primary %s them, backup %s",
				     (pri->flags & RNET_CAP_XENSTORE) ? "sends" : "does not send",
				     (bak->flags & RNET_CAP_XENSTORE) ? "expects them" : "does not support them");
	if (!(bak->compress_mask & RNET_COMPRESS_BIT(pri->compress))) {
		compress_mask_str(bak->compress_mask, mask, sizeof(mask));
		return remus_err_set(err, RNET_ECAPS,
				     "compression mismatch: primary wants %s, backup supports %s",
				     rnet_compress_name(pri->compress), mask);
	}
	return 0;
}
