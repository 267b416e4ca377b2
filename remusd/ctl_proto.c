/* Control-protocol codec: one encoder and one decoder per message kind,
 * a table of length rules, and nothing accepted that is not exact. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "remusd/ctl_proto.h"
#include "util/bytes.h"

/* Big-endian field access through memcpy (the buffers are unaligned). */

#define GUEST_BODY    CTL_GUEST_MAX
#define PROTECT_BODY  (CTL_GUEST_MAX + CTL_PEER_MAX + 4)
#define PROGRESS_BODY (CTL_GUEST_MAX + 8 + 16)
#define SET_BODY      (CTL_GUEST_MAX + 8)
#define STORE_HEAD    (CTL_GUEST_MAX + 16)
#define STORE_BODY_MAX (STORE_HEAD + CTL_STORE_PATH_MAX + CTL_STORE_VALUE_MAX)
#define UPGRADE_BODY  (CTL_GUEST_MAX + CTL_PEER_MAX)

struct ctl_rule {
	uint16_t type;
	const char *name;
	uint32_t min, max;
	bool guest_required;
};

static const struct ctl_rule ctl_rules[] = {
	{ CTL_LIST, "LIST", 0, 0, false },
	{ CTL_STATUS, "STATUS", GUEST_BODY, GUEST_BODY, false },
	{ CTL_STATS, "STATS", GUEST_BODY, GUEST_BODY, false },
	{ CTL_PROTECT, "PROTECT", PROTECT_BODY, PROTECT_BODY, true },
	{ CTL_UNPROTECT, "UNPROTECT", GUEST_BODY, GUEST_BODY, true },
	{ CTL_FAILOVER, "FAILOVER", GUEST_BODY, GUEST_BODY, true },
	{ CTL_EVACUATE, "EVACUATE", GUEST_BODY, GUEST_BODY + 4 + CTL_PEER_MAX, true },
	{ CTL_CHECK, "CHECK", GUEST_BODY, GUEST_BODY, true },
	{ CTL_START, "START", GUEST_BODY, GUEST_BODY, true },
	{ CTL_RESUME, "RESUME", GUEST_BODY, GUEST_BODY, true },
	{ CTL_DESTROY, "DESTROY", GUEST_BODY, GUEST_BODY, true },
	{ CTL_SET, "SET", SET_BODY, SET_BODY, true },
	{ CTL_STORE, "STORE", STORE_HEAD + 1, STORE_BODY_MAX, true },
	{ CTL_UPGRADE, "UPGRADE", UPGRADE_BODY, UPGRADE_BODY, false },
	{ CTL_FAILOVER_FORCE, "FAILOVER_FORCE", GUEST_BODY, GUEST_BODY, true },
	{ CTL_STOP, "STOP", GUEST_BODY, GUEST_BODY, true },
	{ CTL_REPLY, "REPLY", 8, CTL_BODY_MAX, false },
	{ CTL_PROGRESS, "PROGRESS", PROGRESS_BODY, PROGRESS_BODY, true },
	{ CTL_CHECK_REPLY, "CHECK_REPLY", 8, 8 + CTL_CHECK_DETAIL_MAX, false },
};

static const struct ctl_rule *ctl_rule_of(uint16_t type)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_rules) / sizeof(ctl_rules[0]); i++)
		if (ctl_rules[i].type == type)
			return &ctl_rules[i];
	return NULL;
}

/* Message name for errors and logs. */
const char *ctl_type_name(uint16_t type)
{
	const struct ctl_rule *r = ctl_rule_of(type);

	return r ? r->name : "unknown";
}

/* Text of one `check` reason bit, from the fixed list. */
const char *ctl_check_reason(uint32_t bit)
{
	static const char *const reasons[] = {
		"no such guest", "guest not running", "already protected",
		"no peer configured", "peer unreachable", "peer refused the handshake",
		"no usable key file", "network buffering unavailable",
		"disk replication unavailable", "hypervisor driver cannot checkpoint",
		"needs --unsafe", "the peer cannot hold this guest",
	};
	unsigned i;

	for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (bit == 1u << i)
			return reasons[i];
	return NULL;
}

/* Lay out a header; -ENOSPC if the message would not fit in cap. */
static int ctl_put_header(uint8_t *buf, size_t cap, uint16_t type, uint32_t seq, size_t body)
{
	if (body > CTL_BODY_MAX || cap < CTL_HDR_LEN + body)
		return -ENOSPC;
	memset(buf, 0, CTL_HDR_LEN + body);
	put_be32(buf, CTL_MAGIC);
	put_be16(buf + 4, CTL_VERSION);
	put_be16(buf + 6, type);
	put_be32(buf + 8, (uint32_t)body);
	put_be32(buf + 12, seq);
	return (int)(CTL_HDR_LEN + body);
}

/* Copy a string into a zero-padded field; -EINVAL when it does not fit. */
static int ctl_put_field(uint8_t *f, size_t cap, const char *s)
{
	size_t n = s ? strnlen(s, cap) : 0;

	if (n == cap)
		return -EINVAL;
	if (n)
		memcpy(f, s, n);
	return 0;
}

/* LIST: no body. */
int ctl_encode_list(uint8_t *buf, size_t cap, uint32_t seq)
{
	return ctl_put_header(buf, cap, CTL_LIST, seq, 0);
}

/* The requests whose body is only a guest name. */
int ctl_encode_guest_req(uint8_t *buf, size_t cap, uint16_t type, uint32_t seq,
			 const char *guest)
{
	const struct ctl_rule *r = ctl_rule_of(type);
	int n;

	/* EVACUATE's flags are optional: its short form is a guest request */
	if (r == NULL || (r->max != GUEST_BODY && r->type != CTL_EVACUATE) ||
	    r->type == CTL_PROGRESS)
		return -EINVAL;
	n = ctl_put_header(buf, cap, type, seq, GUEST_BODY);
	if (n < 0 || ctl_put_field(buf + CTL_HDR_LEN, CTL_GUEST_MAX, guest) < 0)
		return n < 0 ? n : -EINVAL;
	return n;
}

/* PROTECT: guest, peer and the unsafe options the user accepted. */
int ctl_encode_protect(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
		       const char *peer, uint32_t unsafe)
{
	uint8_t *b = buf + CTL_HDR_LEN;
	int n = ctl_put_header(buf, cap, CTL_PROTECT, seq, PROTECT_BODY);

	if (n < 0)
		return n;
	if (ctl_put_field(b, CTL_GUEST_MAX, guest) < 0 ||
	    ctl_put_field(b + CTL_GUEST_MAX, CTL_PEER_MAX, peer) < 0)
		return -EINVAL;
	put_be32(b + CTL_GUEST_MAX + CTL_PEER_MAX, unsafe);
	return n;
}

/* UPGRADE: no guest (the whole daemon), the new binary's path ("": the
 * installed remusd). */
int ctl_encode_upgrade(uint8_t *buf, size_t cap, uint32_t seq, const char *path)
{
	uint8_t *b = buf + CTL_HDR_LEN;
	int n = ctl_put_header(buf, cap, CTL_UPGRADE, seq, UPGRADE_BODY);

	if (n < 0)
		return n;
	if (ctl_put_field(b, CTL_GUEST_MAX, "") < 0 ||
	    ctl_put_field(b + CTL_GUEST_MAX, CTL_PEER_MAX, path) < 0)
		return -EINVAL;
	return n;
}

/* The final answer to a request: code plus text or JSON. */
int ctl_encode_reply(uint8_t *buf, size_t cap, uint32_t seq, int32_t code,
		     uint32_t format, const char *payload, size_t len)
{
	int n;

	if (len > CTL_BODY_MAX - 8)
		return -ENOSPC;
	n = ctl_put_header(buf, cap, CTL_REPLY, seq, 8 + len);
	if (n < 0)
		return n;
	put_be32(buf + CTL_HDR_LEN, (uint32_t)code);
	put_be32(buf + CTL_HDR_LEN + 4, format);
	if (len)
		memcpy(buf + CTL_HDR_LEN + 8, payload, len);
	return n;
}

/* SET: one setting of a running guest. */
int ctl_encode_set(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
		   uint32_t setting, uint32_t value)
{
	uint8_t *b = buf + CTL_HDR_LEN;
	int n = ctl_put_header(buf, cap, CTL_SET, seq, SET_BODY);

	if (n < 0)
		return n;
	if (ctl_put_field(b, CTL_GUEST_MAX, guest) < 0)
		return -EINVAL;
	put_be32(b + CTL_GUEST_MAX, setting);
	put_be32(b + CTL_GUEST_MAX + 4, value);
	return n;
}

/* STORE: one request on the guest's store. */
int ctl_encode_store(uint8_t *buf, size_t cap, uint32_t seq, const char *guest, uint32_t op,
		     const char *path, size_t path_len, const void *value, size_t value_len)
{
	uint8_t *b = buf + CTL_HDR_LEN;
	int n;

	if (path_len == 0 || path_len > CTL_STORE_PATH_MAX || value_len > CTL_STORE_VALUE_MAX ||
	    memchr(path, '\0', path_len) != NULL || (op != CTL_STORE_WRITE && value_len))
		return -EINVAL;
	n = ctl_put_header(buf, cap, CTL_STORE, seq, STORE_HEAD + path_len + value_len);
	if (n < 0)
		return n;
	if (ctl_put_field(b, CTL_GUEST_MAX, guest) < 0)
		return -EINVAL;
	put_be32(b + CTL_GUEST_MAX, op);
	put_be32(b + CTL_GUEST_MAX + 4, (uint32_t)path_len);
	put_be32(b + CTL_GUEST_MAX + 8, (uint32_t)value_len);
	memcpy(b + STORE_HEAD, path, path_len);
	if (value_len)
		memcpy(b + STORE_HEAD + path_len, value, value_len);
	return n;
}

/* Sync progress for protect's progress bar. */
int ctl_encode_progress(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
			uint32_t phase, uint64_t done, uint64_t total)
{
	uint8_t *b = buf + CTL_HDR_LEN;
	int n = ctl_put_header(buf, cap, CTL_PROGRESS, seq, PROGRESS_BODY);

	if (n < 0)
		return n;
	if (ctl_put_field(b, CTL_GUEST_MAX, guest) < 0)
		return -EINVAL;
	put_be32(b + CTL_GUEST_MAX, phase);
	put_be64(b + CTL_GUEST_MAX + 8, done);
	put_be64(b + CTL_GUEST_MAX + 16, total);
	return n;
}

/* The reasons a guest cannot be protected. */
int ctl_encode_check_reply(uint8_t *buf, size_t cap, uint32_t seq, uint32_t reasons)
{
	return ctl_encode_check_detail(buf, cap, seq, reasons, NULL);
}

int ctl_encode_check_detail(uint8_t *buf, size_t cap, uint32_t seq, uint32_t reasons,
			    const char *detail)
{
	size_t len = detail ? strnlen(detail, CTL_CHECK_DETAIL_MAX) : 0;
	int n = ctl_put_header(buf, cap, CTL_CHECK_REPLY, seq, 8 + len);

	if (n < 0)
		return n;
	put_be32(buf + CTL_HDR_LEN, reasons);
	put_be32(buf + CTL_HDR_LEN + 4, (uint32_t)len);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)detail[i];
		buf[CTL_HDR_LEN + 8 + i] = (ch == '\n' || (ch >= 0x20 && ch < 0x7f)) ? ch : '?';
	}
	return n;
}

/* Judge a header before reading any body: magic, version, type, length. */
int ctl_parse_header(const uint8_t *buf, size_t len, uint16_t *type, uint32_t *body_len,
		     struct remus_err *err)
{
	const struct ctl_rule *r;
	uint32_t blen;

	if (len < CTL_HDR_LEN)
		return remus_err_set(err, CTL_EPROTO, "control message of %zu bytes: header is %u",
				     len, CTL_HDR_LEN);
	if (get_be32(buf) != CTL_MAGIC)
		return remus_err_set(err, CTL_EPROTO, "not a remus control message (bad magic)");
	if (get_be16(buf + 4) != CTL_VERSION)
		return remus_err_set(err, CTL_EPROTO,
				     "control protocol version %u, this side speaks %u",
				     get_be16(buf + 4), CTL_VERSION);
	*type = get_be16(buf + 6);
	r = ctl_rule_of(*type);
	if (r == NULL)
		return remus_err_set(err, CTL_EPROTO, "unknown control message type %u", *type);
	blen = get_be32(buf + 8);
	if (blen < r->min || blen > r->max)
		return remus_err_set(err, CTL_EPROTO, "%s body of %u bytes, allowed %u..%u",
				     r->name, blen, r->min, r->max);
	*body_len = blen;
	return 0;
}

/* A name field: NUL-terminated inside, identifier characters, zero tail. */
static int ctl_get_field(const uint8_t *f, size_t cap, bool ident, bool required,
			 const char *what, char *out, struct remus_err *err)
{
	size_t n = strnlen((const char *)f, cap), i;

	if (n == cap)
		return remus_err_set(err, CTL_EPROTO, "%s field not terminated", what);
	if (n == 0 && required)
		return remus_err_set(err, CTL_EPROTO, "%s field empty", what);
	for (i = 0; i < n; i++) {
		char c = (char)f[i];
		bool ok = ident ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				   (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
				: (f[i] > 0x20 && f[i] < 0x7f);
		if (!ok)
			return remus_err_set(err, CTL_EPROTO, "%s has a bad character at %zu", what, i);
	}
	for (; i < cap; i++)
		if (f[i] != 0)
			return remus_err_set(err, CTL_EPROTO, "%s padding not zero", what);
	memcpy(out, f, n + 1);
	return 0;
}

int ctl_encode_evacuate_to(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
			   uint32_t flags, const char *to)
{
	int n;

	if (to == NULL || to[0] == 0)
		return (flags & CTL_EVAC_TO) ? -EINVAL : ctl_encode_evacuate(buf, cap, seq, guest, flags);
	flags |= CTL_EVAC_TO;
	if (flags & ~CTL_EVAC_ALL)
		return -EINVAL;
	n = ctl_put_header(buf, cap, CTL_EVACUATE, seq, GUEST_BODY + 4 + CTL_PEER_MAX);
	if (n < 0 || ctl_put_field(buf + CTL_HDR_LEN, CTL_GUEST_MAX, guest) < 0 ||
	    ctl_put_field(buf + CTL_HDR_LEN + CTL_GUEST_MAX + 4, CTL_PEER_MAX, to) < 0)
		return n < 0 ? n : -EINVAL;
	put_be32(buf + CTL_HDR_LEN + CTL_GUEST_MAX, flags);
	return n;
}

int ctl_encode_evacuate(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
			uint32_t flags)
{
	int n;

	if (flags & ~CTL_EVAC_ALL)
		return -EINVAL;
	if (flags == 0)
		return ctl_encode_guest_req(buf, cap, CTL_EVACUATE, seq, guest);
	n = ctl_put_header(buf, cap, CTL_EVACUATE, seq, GUEST_BODY + 4);
	if (n < 0 || ctl_put_field(buf + CTL_HDR_LEN, CTL_GUEST_MAX, guest) < 0)
		return n < 0 ? n : -EINVAL;
	put_be32(buf + CTL_HDR_LEN + CTL_GUEST_MAX, flags);
	return n;
}

/* Decode the body of the types that carry more than a guest name. */
static int ctl_parse_body(const uint8_t *b, uint32_t blen, struct ctl_msg *m,
			  struct remus_err *err)
{
	switch (m->type) {
	case CTL_EVACUATE:
		m->evac_flags = blen >= GUEST_BODY + 4 ? get_be32(b + CTL_GUEST_MAX) : 0;
		if (blen != GUEST_BODY && blen != GUEST_BODY + 4 &&
		    blen != GUEST_BODY + 4 + CTL_PEER_MAX)
			return remus_err_set(err, CTL_EPROTO, "EVACUATE body of %u bytes", blen);
		if (m->evac_flags & ~CTL_EVAC_ALL)
			return remus_err_set(err, CTL_EPROTO, "EVACUATE flags 0x%x unknown",
					     m->evac_flags);
		/* --to and its destination come together, or neither */
		if (!(m->evac_flags & CTL_EVAC_TO) != (blen != GUEST_BODY + 4 + CTL_PEER_MAX))
			return remus_err_set(err, CTL_EPROTO, "EVACUATE: the to flag %s a destination",
					     (m->evac_flags & CTL_EVAC_TO) ? "without" : "missing for");
		if (!(m->evac_flags & CTL_EVAC_TO))
			return 0;
		return ctl_get_field(b + CTL_GUEST_MAX + 4, CTL_PEER_MAX, false, true,
				     "destination", m->peer, err);
	case CTL_PROTECT:
		m->unsafe = get_be32(b + CTL_GUEST_MAX + CTL_PEER_MAX);
		if (m->unsafe & ~CTL_UNSAFE_ALL)
			return remus_err_set(err, CTL_EPROTO, "PROTECT unsafe flags 0x%x unknown",
					     m->unsafe);
		return ctl_get_field(b + CTL_GUEST_MAX, CTL_PEER_MAX, false, false, "peer",
				     m->peer, err);
	case CTL_UPGRADE:
		if (m->guest[0])
			return remus_err_set(err, CTL_EPROTO, "UPGRADE names a guest");
		return ctl_get_field(b + CTL_GUEST_MAX, CTL_PEER_MAX, false, false, "path",
				     m->peer, err);
	case CTL_REPLY:
		m->code = (int32_t)get_be32(b);
		m->format = get_be32(b + 4);
		if (m->format > CTL_FMT_JSON)
			return remus_err_set(err, CTL_EPROTO, "REPLY format %u unknown", m->format);
		m->payload = (const char *)b + 8;
		m->payload_len = blen - 8;
		if (memchr(m->payload, '\0', m->payload_len) != NULL)
			return remus_err_set(err, CTL_EPROTO, "REPLY payload contains a NUL byte");
		return 0;
	case CTL_SET:
		m->setting = get_be32(b + CTL_GUEST_MAX);
		m->value = get_be32(b + CTL_GUEST_MAX + 4);
		if (m->setting == CTL_SET_INTERVAL && (m->value < 1 || m->value > 10000))
			return remus_err_set(err, CTL_EPROTO, "SET interval %u ms out of range 1..10000",
					     m->value);
		if (m->setting == CTL_SET_COMPRESSION && m->value > 2)
			return remus_err_set(err, CTL_EPROTO, "SET compression %u unknown", m->value);
		if (m->setting != CTL_SET_INTERVAL && m->setting != CTL_SET_COMPRESSION)
			return remus_err_set(err, CTL_EPROTO, "SET setting %u unknown", m->setting);
		return 0;
	case CTL_STORE: {
		uint32_t pl = get_be32(b + CTL_GUEST_MAX + 4), vl = get_be32(b + CTL_GUEST_MAX + 8);
		m->store_op = get_be32(b + CTL_GUEST_MAX);
		if (m->store_op < CTL_STORE_READ || m->store_op > CTL_STORE_RM)
			return remus_err_set(err, CTL_EPROTO, "STORE op %u unknown", m->store_op);
		if (get_be32(b + CTL_GUEST_MAX + 12) != 0)
			return remus_err_set(err, CTL_EPROTO, "STORE reserved field not zero");
		if (pl == 0 || pl > CTL_STORE_PATH_MAX || vl > CTL_STORE_VALUE_MAX ||
		    (uint64_t)STORE_HEAD + pl + vl != blen)
			return remus_err_set(err, CTL_EPROTO, "STORE path of %u and value of %u bytes "
					     "in a body of %u", pl, vl, blen);
		if (vl && m->store_op != CTL_STORE_WRITE)
			return remus_err_set(err, CTL_EPROTO, "STORE value with an op that takes none");
		m->path = (const char *)b + STORE_HEAD;
		m->path_len = pl;
		if (memchr(m->path, '\0', pl) != NULL)
			return remus_err_set(err, CTL_EPROTO, "STORE path contains a NUL byte");
		m->store_value = b + STORE_HEAD + pl;
		m->store_value_len = vl;
		return 0;
	}
	case CTL_PROGRESS:
		m->phase = get_be32(b + CTL_GUEST_MAX);
		m->done = get_be64(b + CTL_GUEST_MAX + 8);
		m->total = get_be64(b + CTL_GUEST_MAX + 16);
		if (m->phase < CTL_PHASE_MEMORY || m->phase > CTL_PHASE_FIRST_CKPT ||
		    get_be32(b + CTL_GUEST_MAX + 4) != 0 || m->done > m->total)
			return remus_err_set(err, CTL_EPROTO,
					     "PROGRESS phase %u, %llu of %llu: inconsistent", m->phase,
					     (unsigned long long)m->done, (unsigned long long)m->total);
		return 0;
	case CTL_CHECK_REPLY:
		m->reasons = get_be32(b);
		if (m->reasons & ~CTL_CHECK_ALL)
			return remus_err_set(err, CTL_EPROTO, "CHECK_REPLY reasons 0x%x unknown",
					     m->reasons);
		if (get_be32(b + 4) != blen - 8)
			return remus_err_set(err, CTL_EPROTO, "CHECK_REPLY detail of %u bytes in a "
					     "body of %u", get_be32(b + 4), blen);
		m->payload = (const char *)b + 8;
		m->payload_len = blen - 8;
		for (size_t i = 0; i < m->payload_len; i++)
			if (m->payload[i] != '\n' && (m->payload[i] < 0x20 || m->payload[i] > 0x7e))
				return remus_err_set(err, CTL_EPROTO, "CHECK_REPLY detail byte %zu "
						     "is not printable", i);
		return 0;
	default:
		return 0;
	}
}

/* Decode one whole message, checking every field. */
int ctl_parse(const uint8_t *buf, size_t len, struct ctl_msg *m, struct remus_err *err)
{
	const struct ctl_rule *r;
	uint32_t blen = 0;
	uint16_t type = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = ctl_parse_header(buf, len, &type, &blen, err);
	if (rc < 0)
		return rc;
	if (len != CTL_HDR_LEN + (size_t)blen)
		return remus_err_set(err, CTL_EPROTO, "%s message is %zu bytes, header says %u",
				     ctl_type_name(type), len, CTL_HDR_LEN + blen);
	r = ctl_rule_of(type);
	m->type = type;
	m->seq = get_be32(buf + 12);
	if (r->max >= GUEST_BODY && type != CTL_REPLY && type != CTL_CHECK_REPLY) {
		rc = ctl_get_field(buf + CTL_HDR_LEN, CTL_GUEST_MAX, true, r->guest_required,
				   "guest", m->guest, err);
		if (rc < 0)
			return remus_err_wrap(err, "%s", r->name);
	}
	rc = ctl_parse_body(buf + CTL_HDR_LEN, blen, m, err);
	return rc < 0 ? remus_err_wrap(err, "%s", r->name) : 0;
}

/* Reasons as one line of text ("r1; r2"), for refusals. */
void ctl_check_reasons_text(uint32_t r, char *buf, size_t cap)
{
	size_t off = 0;

	if (cap == 0)
		return;
	buf[0] = 0;
	for (uint32_t bit = 1; bit & CTL_CHECK_ALL; bit <<= 1)
		if ((r & bit) && off < cap)
			off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? "; " : "",
			                        ctl_check_reason(bit));
}
