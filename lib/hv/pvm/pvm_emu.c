/*
 * pvm device state <-> the EMULATOR_CONTEXT blob.  Layout (little-endian):
 *   u32 magic "PVME", u32 version (1), u32 fixed_len (bytes of the fixed
 *   part that follows), u32 rxq_count, fixed fields (u64 each unless noted),
 *   then rxq_count frames: u32 len, len bytes, zero padding to 8.
 * Version 1 has no in-flight block requests: block I/O completes inside
 * the hypercall, so a paused vCPU never has one outstanding.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "util/checked.h"

#define EMU_MAGIC    0x454d5650u   /* "PVME" */
#define EMU_VERSION  1u
#define EMU_NFIELDS  13
#define EMU_FIXED    (EMU_NFIELDS * 8)
#define EMU_HEAD     16

/* The fixed part as an array, in wire order. */
static void emu_fields(const struct pvm_emu *e, uint64_t f[EMU_NFIELDS])
{
	f[0] = e->guest_mono_ns;
	f[1] = e->boot_count;
	f[2] = ((uint64_t)e->waiting << 32) | e->pending_events;
	f[3] = e->wait_deadline_ns;
	f[4] = e->console_bytes;
	f[5] = e->net_tx_frames;
	f[6] = e->net_rx_frames;
	f[7] = e->net_tx_dropped;
	f[8] = e->disk_sectors;
	f[9] = e->disk_reads;
	f[10] = e->disk_writes;
	f[11] = e->disk_flushes;
	f[12] = 0;                  /* in-flight block requests (always 0) */
}

/* Make room for `more` bytes in the blob. */
static int blob_reserve(struct hv_blob *b, size_t more, struct remus_err *err)
{
	size_t need;
	if (!ck_add_size(b->len, more, &need))
		return remus_err_set(err, HV_EBADBLOB, "emulator context: size overflow");
	if (need <= b->cap)
		return 0;
	uint8_t *p = realloc(b->data, need * 2);
	if (p == NULL)
		return remus_err_sys(err, ENOMEM, "emulator context: grow");
	b->data = p;
	b->cap = need * 2;
	return 0;
}

int pvm_emu_encode(const struct pvm_emu *e, struct hv_blob *out,
                   struct remus_err *err)
{
	uint32_t head[4] = { EMU_MAGIC, EMU_VERSION, EMU_FIXED, e->rxq_count };
	uint64_t f[EMU_NFIELDS];
	int rc;

	if (e->rxq_count > PVM_EMU_MAX_RXQ || e->waiting > 1)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: bad state to encode");
	out->len = 0;
	emu_fields(e, f);
	if ((rc = blob_reserve(out, EMU_HEAD + EMU_FIXED, err)))
		return rc;
	memcpy(out->data, head, EMU_HEAD);
	memcpy(out->data + EMU_HEAD, f, EMU_FIXED);
	out->len = EMU_HEAD + EMU_FIXED;
	for (uint32_t i = 0; i < e->rxq_count; i++) {
		uint32_t len = e->rxq[i].len;
		size_t padded = (4 + (size_t)len + 7) & ~(size_t)7;
		if (len == 0 || len > PVM_FRAME_MAX)
			return remus_err_set(err, HV_EBADBLOB, "emulator context: frame %u length %u", i, len);
		if ((rc = blob_reserve(out, padded, err)))
			return rc;
		memset(out->data + out->len, 0, padded);
		memcpy(out->data + out->len, &len, 4);
		memcpy(out->data + out->len + 4, e->rxq[i].data, len);
		out->len += padded;
	}
	return 0;
}

/* Take the fixed fields, checking each that has a constrained range. */
static int emu_take_fixed(const uint64_t f[EMU_NFIELDS], struct pvm_emu *e,
                          struct remus_err *err)
{
	uint32_t known = PVM_EV_TIMER | PVM_EV_NET_RX | PVM_EV_ANNOUNCE;

	e->guest_mono_ns = f[0];
	e->boot_count = f[1];
	e->pending_events = (uint32_t)f[2];
	e->waiting = (uint32_t)(f[2] >> 32);
	if (e->pending_events & ~known)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: unknown pending events %#x at offset %d",
		                     e->pending_events, EMU_HEAD + 16);
	if (e->waiting > 1)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: waiting flag %u at offset %d",
		                     e->waiting, EMU_HEAD + 20);
	e->wait_deadline_ns = f[3];
	e->console_bytes = f[4];
	e->net_tx_frames = f[5];
	e->net_rx_frames = f[6];
	e->net_tx_dropped = f[7];
	e->disk_sectors = f[8];
	e->disk_reads = f[9];
	e->disk_writes = f[10];
	e->disk_flushes = f[11];
	if (f[12] != 0)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: %llu in-flight block requests (version 1 has none)",
		                     (unsigned long long)f[12]);
	return 0;
}

/* Take one queued frame at *off. */
static int emu_take_frame(const uint8_t *buf, size_t len, size_t *off, uint32_t i,
                          struct pvm_frame *fr, struct remus_err *err)
{
	uint32_t flen;
	size_t padded, end;

	if (len - *off < 4)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: frame %u truncated at offset %zu", i, *off);
	memcpy(&flen, buf + *off, 4);
	if (flen == 0 || flen > PVM_FRAME_MAX)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: frame %u at offset %zu has length %u",
		                     i, *off, flen);
	padded = (4 + (size_t)flen + 7) & ~(size_t)7;
	if (!ck_add_size(*off, padded, &end) || end > len)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: frame %u at offset %zu overruns blob",
		                     i, *off);
	for (size_t p = *off + 4 + flen; p < end; p++)
		if (buf[p] != 0)
			return remus_err_set(err, HV_EBADBLOB, "emulator context: non-zero padding at offset %zu", p);
	fr->len = (uint16_t)flen;
	memcpy(fr->data, buf + *off + 4, flen);
	*off = end;
	return 0;
}

int pvm_emu_decode(const uint8_t *buf, size_t len, struct pvm_emu *e,
                   struct remus_err *err)
{
	uint32_t head[4];
	uint64_t f[EMU_NFIELDS];
	size_t off;
	int rc;

	memset(e, 0, sizeof(*e));
	if (len < EMU_HEAD)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: %zu bytes, too short for the header", len);
	memcpy(head, buf, EMU_HEAD);
	if (head[0] != EMU_MAGIC)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: bad magic %#x (not a pvm blob)", head[0]);
	if (head[1] != EMU_VERSION)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: version %u, this monitor reads %u",
		                     head[1], EMU_VERSION);
	if (head[2] != EMU_FIXED)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: fixed part %u bytes, expected %u",
		                     head[2], EMU_FIXED);
	if (head[3] > PVM_EMU_MAX_RXQ)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: %u queued frames, limit %u",
		                     head[3], PVM_EMU_MAX_RXQ);
	if (len - EMU_HEAD < EMU_FIXED)
		return remus_err_set(err, HV_EBADBLOB, "emulator context: fixed part truncated");
	memcpy(f, buf + EMU_HEAD, EMU_FIXED);
	if ((rc = emu_take_fixed(f, e, err)))
		return rc;
	if (head[3] && (e->rxq = calloc(head[3], sizeof(*e->rxq))) == NULL)
		return remus_err_sys(err, ENOMEM, "emulator context: frame queue");
	off = EMU_HEAD + EMU_FIXED;
	for (uint32_t i = 0; i < head[3]; i++) {
		if ((rc = emu_take_frame(buf, len, &off, i, &e->rxq[i], err)))
			goto err;
		e->rxq_count = i + 1;
	}
	if (off != len) {
		rc = remus_err_set(err, HV_EBADBLOB, "emulator context: %zu trailing bytes", len - off);
		goto err;
	}
	return 0;
err:
	pvm_emu_free(e);
	return rc;
}

void pvm_emu_free(struct pvm_emu *e)
{
	free(e->rxq);
	e->rxq = NULL;
	e->rxq_count = 0;
}
