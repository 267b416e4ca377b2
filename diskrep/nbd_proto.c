/*
 * NBD: the byte formats and the option haggling (fixed newstyle) before
 * transmission.  nbd_serve.c runs the transmission phase.
 */
#include <errno.h>
#include <string.h>

#include "diskrep/diskrep.h"
#include "diskrep/nbd.h"
#include "diskrep/nbd_impl.h"
#include "util/checked.h"

#define NBD_FLAG_FIXED_NEWSTYLE  (1u << 0)
#define NBD_FLAG_NO_ZEROES       (1u << 1)
#define NBD_FLAG_C_KNOWN         (NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES)

enum nbd_reply_type {
	NBD_REP_ACK = 1, NBD_REP_SERVER = 2, NBD_REP_INFO = 3,
	NBD_REP_ERR_UNSUP = 0x80000001u, NBD_REP_ERR_INVALID = 0x80000003u,
	NBD_REP_ERR_UNKNOWN = 0x80000006u,
};
enum nbd_info_type { NBD_INFO_EXPORT = 0, NBD_INFO_BLOCK_SIZE = 3 };

/* Transmission flags: flags, FLUSH and FUA; read-only when asked. */
#define NBD_TFLAG_HAS_FLAGS      (1u << 0)
#define NBD_TFLAG_READ_ONLY      (1u << 1)
#define NBD_TFLAG_SEND_FLUSH     (1u << 2)
#define NBD_TFLAG_SEND_FUA       (1u << 3)

uint16_t nbd_get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
uint32_t nbd_get32(const uint8_t *p) { return (uint32_t)nbd_get16(p) << 16 | nbd_get16(p + 2); }
uint64_t nbd_get64(const uint8_t *p) { return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4); }

void nbd_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
void nbd_put32(uint8_t *p, uint32_t v) { nbd_put16(p, (uint16_t)(v >> 16)); nbd_put16(p + 2, (uint16_t)v); }
void nbd_put64(uint8_t *p, uint64_t v) { nbd_put32(p, (uint32_t)(v >> 32)); nbd_put32(p + 4, (uint32_t)v); }

int nbd_parse_option(const uint8_t p[16], struct nbd_option_hdr *out, struct remus_err *err)
{
	uint64_t magic = nbd_get64(p);

	if (magic != NBD_OPTS_MAGIC)
		return remus_err_set(err, DISKREP_ENBD, "NBD option: magic %#llx, expected IHAVEOPT",
		                     (unsigned long long)magic);
	out->option = nbd_get32(p + 8);
	out->length = nbd_get32(p + 12);
	if (out->length > NBD_OPT_DATA_MAX)
		return remus_err_set(err, DISKREP_ENBD, "NBD option %u: %u bytes of data (bound %u)",
		                     out->option, out->length, NBD_OPT_DATA_MAX);
	return 0;
}

int nbd_parse_request(const uint8_t p[28], struct nbd_request *out, struct remus_err *err)
{
	uint32_t magic = nbd_get32(p);

	if (magic != NBD_REQ_MAGIC)
		return remus_err_set(err, DISKREP_ENBD, "NBD request: magic %#x, expected %#x", magic,
		                     NBD_REQ_MAGIC);
	out->flags = nbd_get16(p + 4);
	out->type = nbd_get16(p + 6);
	out->cookie = nbd_get64(p + 8);
	out->offset = nbd_get64(p + 16);
	out->length = nbd_get32(p + 24);
	if (out->flags & ~NBDC_FLAG_FUA)
		return remus_err_set(err, DISKREP_ENBD, "NBD request: flags %#x (only FUA is offered)",
		                     out->flags);
	/* a WRITE's payload follows: one too long to take ends the connection */
	if (out->type == NBDC_WRITE && out->length > NBD_IO_MAX)
		return remus_err_set(err, DISKREP_ENBD, "NBD write of %u bytes (bound %u)",
		                     out->length, NBD_IO_MAX);
	return 0;
}

uint32_t nbd_request_error(const struct nbd_request *r, const struct nbd_export *ex)
{
	uint64_t end;

	switch (r->type) {
	case NBDC_READ:
	case NBDC_WRITE:
		if (r->type == NBDC_WRITE && ex->read_only)
			return EPERM;
		if (r->length == 0 || r->length > NBD_IO_MAX || r->offset % NBD_SECTOR ||
		    r->length % NBD_SECTOR || !ck_add_u64(r->offset, r->length, &end) || end > ex->size)
			return EINVAL;
		return 0;
	case NBDC_FLUSH:
		return r->offset || r->length ? EINVAL : 0;
	default:
		return EINVAL;
	}
}

static bool name_matches(const struct nbd_export *ex, const char *name, size_t len)
{
	const char *want = ex->name ? ex->name : "";

	return len == 0 || (strlen(want) == len && memcmp(want, name, len) == 0);
}

static uint16_t tflags(const struct nbd_export *ex)
{
	return NBD_TFLAG_HAS_FLAGS | NBD_TFLAG_SEND_FLUSH | NBD_TFLAG_SEND_FUA |
	       (ex->read_only ? NBD_TFLAG_READ_ONLY : 0);
}

static int opt_reply(const struct nbd_io *io, uint32_t option, uint32_t type, const void *data,
                     uint32_t len)
{
	uint8_t h[20];
	int rc;

	nbd_put64(h, NBD_REP_MAGIC);
	nbd_put32(h + 8, option);
	nbd_put32(h + 12, type);
	nbd_put32(h + 16, len);
	if ((rc = io->write(io->arg, h, sizeof(h))) < 0 || len == 0)
		return rc;
	return io->write(io->arg, data, len);
}

/* INFO/GO: u32 name length, name, u16 count, count x u16 info requests. */
static int opt_go(const struct nbd_io *io, const struct nbd_export *ex, uint32_t option,
                  const uint8_t *d, uint32_t len)
{
	uint8_t info[12], bs[14];
	uint32_t nlen;
	uint16_t nreq;
	bool want_bs = false;
	int rc;

	if (len < 6 || (nlen = nbd_get32(d)) > len - 6 || nlen > NBD_NAME_MAX ||
	    (nreq = nbd_get16(d + 4 + nlen), (size_t)nreq * 2 != len - 6 - nlen))
		return opt_reply(io, option, NBD_REP_ERR_INVALID, NULL, 0);
	for (uint16_t i = 0; i < nreq; i++)
		want_bs |= nbd_get16(d + 6 + nlen + 2u * i) == NBD_INFO_BLOCK_SIZE;
	if (!name_matches(ex, (const char *)d + 4, nlen))
		return opt_reply(io, option, NBD_REP_ERR_UNKNOWN, NULL, 0);
	nbd_put16(info, NBD_INFO_EXPORT);
	nbd_put64(info + 2, ex->size);
	nbd_put16(info + 10, tflags(ex));
	if ((rc = opt_reply(io, option, NBD_REP_INFO, info, sizeof(info))) < 0)
		return rc;
	if (want_bs) {
		nbd_put16(bs, NBD_INFO_BLOCK_SIZE);
		nbd_put32(bs + 2, NBD_SECTOR);       /* minimum */
		nbd_put32(bs + 6, 4096);             /* preferred */
		nbd_put32(bs + 10, NBD_IO_MAX);      /* maximum */
		if ((rc = opt_reply(io, option, NBD_REP_INFO, bs, sizeof(bs))) < 0)
			return rc;
	}
	if ((rc = opt_reply(io, option, NBD_REP_ACK, NULL, 0)) < 0)
		return rc;
	return option == NBD_OPT_GO ? 1 : 0;
}

static int opt_list(const struct nbd_io *io, const struct nbd_export *ex)
{
	const char *name = ex->name ? ex->name : "";
	size_t n = strnlen(name, NBD_NAME_MAX);
	uint8_t d[4 + NBD_NAME_MAX];
	int rc;

	nbd_put32(d, (uint32_t)n);
	memcpy(d + 4, name, n);
	if ((rc = opt_reply(io, NBD_OPT_LIST, NBD_REP_SERVER, d, (uint32_t)(4 + n))) < 0)
		return rc;
	return opt_reply(io, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* EXPORT_NAME: no error reply exists; an unknown name closes. */
static int opt_export_name(const struct nbd_io *io, const struct nbd_export *ex,
                           const uint8_t *d, uint32_t len, bool zeroes, struct remus_err *err)
{
	uint8_t r[10 + 124] = { 0 };

	if (len > NBD_NAME_MAX || !name_matches(ex, (const char *)d, len))
		return remus_err_set(err, DISKREP_ENBD, "NBD client asked for an export named "
		                     "'%.*s', this server has '%s'", (int)(len < 64 ? len : 64),
		                     (const char *)d, ex->name ? ex->name : "");
	nbd_put64(r, ex->size);
	nbd_put16(r + 8, tflags(ex));
	return io->write(io->arg, r, zeroes ? sizeof(r) : 10);
}

int nbd_negotiate(const struct nbd_io *io, const struct nbd_export *ex, struct remus_err *err)
{
	uint8_t hello[18], cf[4], oh[16], data[NBD_OPT_DATA_MAX];
	struct nbd_option_hdr o;
	uint32_t cflags;
	int rc;

	nbd_put64(hello, NBD_INIT_MAGIC);
	nbd_put64(hello + 8, NBD_OPTS_MAGIC);
	nbd_put16(hello + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
	if ((rc = io->write(io->arg, hello, sizeof(hello))) < 0 ||
	    (rc = io->read(io->arg, cf, sizeof(cf))) < 0)
		return remus_err_sys(err, -rc, "NBD handshake");
	if ((cflags = nbd_get32(cf)) & ~NBD_FLAG_C_KNOWN)
		return remus_err_set(err, DISKREP_ENBD, "NBD client flags %#x: unknown bits", cflags);
	for (unsigned n = 0; n < NBD_OPTS_MAX; n++) {
		if ((rc = io->read(io->arg, oh, sizeof(oh))) < 0)
			return remus_err_sys(err, -rc, "NBD option");
		if ((rc = nbd_parse_option(oh, &o, err)) < 0)
			return rc;
		if (o.length && (rc = io->read(io->arg, data, o.length)) < 0)
			return remus_err_sys(err, -rc, "NBD option %u data", o.option);
		switch (o.option) {
		case NBD_OPT_EXPORT_NAME:
			rc = opt_export_name(io, ex, data, o.length, !(cflags & NBD_FLAG_NO_ZEROES), err);
			return rc < 0 ? (err->msg[0] ? rc : remus_err_sys(err, -rc, "NBD export")) : 1;
		case NBD_OPT_ABORT:
			opt_reply(io, o.option, NBD_REP_ACK, NULL, 0);   /* the client may be gone */
			return 0;
		case NBD_OPT_LIST:
			rc = o.length ? opt_reply(io, o.option, NBD_REP_ERR_INVALID, NULL, 0) : opt_list(io, ex);
			break;
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			rc = opt_go(io, ex, o.option, data, o.length);
			if (rc == 1)
				return 1;
			break;
		default:
			rc = opt_reply(io, o.option, NBD_REP_ERR_UNSUP, NULL, 0);
		}
		if (rc < 0)
			return remus_err_sys(err, -rc, "NBD option %u reply", o.option);
	}
	return remus_err_set(err, DISKREP_ENBD, "NBD client sent %u options without starting",
	                     NBD_OPTS_MAX);
}
