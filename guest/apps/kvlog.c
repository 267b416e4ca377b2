/*
 * kvstore log encoding and replay.  The replay side parses bytes from the
 * disk: every length is bounded and checked before use.
 */
#include "guest/apps/kvlog.h"
#include "guest/rt/rt.h"

#define KVLOG_MAGIC 0x314c564bu   /* "KVL1" little endian */
#define KVLOG_REC_HDR 4u

/* Little-endian field access. */
static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}
static void wle32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}
static void wle64(uint8_t *p, uint64_t v)
{
	wle32(p, (uint32_t)v);
	wle32(p + 4, (uint32_t)(v >> 32));
}

/* Start an empty batch whose first record gets first_seq. */
void kvlog_batch_reset(struct kvlog_batch *b, uint64_t first_seq)
{
	b->len = KVLOG_HDR;
	b->nrec = 0;
	b->first_seq = first_seq;
}

/* Append one PUT record; false if it is out of bounds or the batch is full. */
bool kvlog_batch_add(struct kvlog_batch *b, const uint8_t *key, size_t klen,
		     const uint8_t *val, size_t vlen)
{
	size_t need = KVLOG_REC_HDR + klen + vlen;
	uint8_t *p;

	if (klen == 0 || klen > KVLOG_KEY_MAX || vlen > KVLOG_VAL_MAX ||
	    need > KVLOG_BATCH_MAX - b->len)
		return false;
	p = b->buf + b->len;
	p[0] = (uint8_t)klen;
	p[1] = (uint8_t)(klen >> 8);
	p[2] = (uint8_t)vlen;
	p[3] = (uint8_t)(vlen >> 8);
	memcpy(p + KVLOG_REC_HDR, key, klen);
	memcpy(p + KVLOG_REC_HDR + klen, val, vlen);
	b->len += (uint32_t)need;
	b->nrec++;
	return true;
}

/* Write the header (with both CRCs) and pad to a whole sector. */
uint32_t kvlog_batch_seal(struct kvlog_batch *b)
{
	uint32_t total = (b->len + KVLOG_SECTOR - 1) / KVLOG_SECTOR * KVLOG_SECTOR;
	uint8_t *h = b->buf;

	memset(b->buf + b->len, 0, total - b->len);
	wle32(h, KVLOG_MAGIC);
	wle32(h + 4, b->nrec);
	wle32(h + 8, b->len - KVLOG_HDR);
	wle32(h + 12, rt_crc32(0, b->buf + KVLOG_HDR, b->len - KVLOG_HDR));
	wle64(h + 16, b->first_seq);
	wle32(h + 24, rt_crc32(0, h, 24));
	wle32(h + 28, 0);
	return total / KVLOG_SECTOR;
}

/* Validate a batch header from disk before trusting any of its fields. */
const char *kvlog_parse_hdr(const uint8_t *p, uint64_t expect_seq, struct kvlog_hdr *out)
{
	struct kvlog_hdr h;

	if (le32(p) != KVLOG_MAGIC)
		return "no batch magic";
	if (le32(p + 24) != rt_crc32(0, p, 24))
		return "batch header checksum mismatch";
	h.nrec = le32(p + 4);
	h.bytes = le32(p + 8);
	h.crc = le32(p + 12);
	h.first_seq = le64(p + 16);
	if (h.bytes > KVLOG_BATCH_MAX - KVLOG_HDR)
		return "batch payload length beyond the maximum";
	if (h.nrec == 0 || h.nrec > h.bytes / (KVLOG_REC_HDR + 1))
		return "batch record count impossible for its length";
	if (h.first_seq != expect_seq)
		return "batch sequence does not continue the log";
	*out = h;
	return NULL;
}

/* Walk the records; apply them only when apply is true. */
static const char *kvlog_walk(const uint8_t *p, const struct kvlog_hdr *h, bool apply,
			      kvlog_apply_fn fn, void *user)
{
	size_t off = 0;

	for (uint32_t i = 0; i < h->nrec; i++) {
		size_t klen, vlen;
		if (h->bytes - off < KVLOG_REC_HDR)
			return "record header beyond the payload";
		klen = (size_t)p[off] | (size_t)p[off + 1] << 8;
		vlen = (size_t)p[off + 2] | (size_t)p[off + 3] << 8;
		if (klen == 0 || klen > KVLOG_KEY_MAX || vlen > KVLOG_VAL_MAX)
			return "record key or value length out of range";
		if (h->bytes - off - KVLOG_REC_HDR < klen + vlen)
			return "record body beyond the payload";
		if (apply)
			fn(user, h->first_seq + i, p + off + KVLOG_REC_HDR, klen,
			   p + off + KVLOG_REC_HDR + klen, vlen);
		off += KVLOG_REC_HDR + klen + vlen;
	}
	return off == h->bytes ? NULL : "payload has bytes after the last record";
}

/* Check the payload CRC and every record, then apply all (never half). */
const char *kvlog_apply(const uint8_t *payload, const struct kvlog_hdr *h,
			kvlog_apply_fn fn, void *user)
{
	const char *why;

	if (rt_crc32(0, payload, h->bytes) != h->crc)
		return "batch payload checksum mismatch";
	if ((why = kvlog_walk(payload, h, false, fn, user)))
		return why;
	return kvlog_walk(payload, h, true, fn, user);
}

/* Rebuild state from the log; reports where and why replay stopped. */
int kvlog_replay(kvlog_read_fn rd, void *rd_user, uint64_t nsectors, uint8_t *buf,
		 kvlog_apply_fn fn, void *user, struct kvlog_replay *out)
{
	memset(out, 0, sizeof(*out));
	out->next_seq = 1;
	while (out->next_sector < nsectors) {
		struct kvlog_hdr h;
		uint64_t nsec;
		int rc = rd(rd_user, out->next_sector, buf, 1);
		if (rc)
			return rc;
		if ((out->stop = kvlog_parse_hdr(buf, out->next_seq, &h)))
			return 0;
		nsec = (KVLOG_HDR + (uint64_t)h.bytes + KVLOG_SECTOR - 1) / KVLOG_SECTOR;
		if (nsec > nsectors - out->next_sector) {
			out->stop = "batch extends beyond the disk";
			return 0;
		}
		if (nsec > 1 && (rc = rd(rd_user, out->next_sector + 1, buf + KVLOG_SECTOR,
					 nsec - 1)))
			return rc;
		if ((out->stop = kvlog_apply(buf + KVLOG_HDR, &h, fn, user)))
			return 0;
		out->next_sector += nsec;
		out->next_seq += h.nrec;
		out->batches++;
		out->records += h.nrec;
	}
	return 0;
}
