/*
 * Control socket of `pvm run`: one unix stream socket per guest, mode
 * 0600, carrying fixed, versioned messages.  Every received message's type
 * and exact length are checked before use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tools/pvm/pvm_tool.h"
#include "util/bytes.h"

/* Put a little-endian u32/u64 (the protocol is LE on every host). */

size_t pvm_ctl_encode(const struct pvm_ctl_msg *m, uint8_t *buf, size_t cap)
{
	uint32_t plen = m->type == PVM_CTL_REPLY ? PVM_CTL_REPLY_SIZE : 0;

	if (cap < PVM_CTL_HDR_SIZE + plen)
		return 0;
	memset(buf, 0, PVM_CTL_HDR_SIZE + plen);
	put_le32(buf, PVM_CTL_MAGIC);
	put_le32(buf + 4, PVM_CTL_VERSION | m->type << 16);
	put_le32(buf + 8, plen);
	if (plen) {
		put_le32(buf + 16, (uint32_t)m->reply.rc);
		put_le32(buf + 20, m->reply.state);
		put_le64(buf + 24, m->reply.ram_bytes);
		put_le64(buf + 32, m->reply.console_dropped);
		memcpy(buf + 40, m->reply.msg, PVM_CTL_MSG_MAX - 1);
	}
	return PVM_CTL_HDR_SIZE + plen;
}

int pvm_ctl_decode(const uint8_t *buf, size_t len, struct pvm_ctl_msg *m,
                   struct remus_err *err)
{
	uint32_t vt, type, plen;

	memset(m, 0, sizeof(*m));
	if (len < PVM_CTL_HDR_SIZE)
		return remus_err_set(err, -EPROTO, "control: %zu bytes, header needs %u", len, PVM_CTL_HDR_SIZE);
	if (get_le32(buf) != PVM_CTL_MAGIC)
		return remus_err_set(err, -EPROTO, "control: bad magic %#x", get_le32(buf));
	vt = get_le32(buf + 4);
	type = vt >> 16;
	plen = get_le32(buf + 8);
	if ((vt & 0xffff) != PVM_CTL_VERSION)
		return remus_err_set(err, -EPROTO, "control: version %u, expected %u", vt & 0xffff, PVM_CTL_VERSION);
	if (get_le32(buf + 12) != 0)
		return remus_err_set(err, -EPROTO, "control: reserved header word is not zero");
	if (type < PVM_CTL_SAVE || type > PVM_CTL_REPLY)
		return remus_err_set(err, -EPROTO, "control: unknown message type %u", type);
	uint32_t want = type == PVM_CTL_REPLY ? PVM_CTL_REPLY_SIZE : 0;
	if (plen != want || len != PVM_CTL_HDR_SIZE + (size_t)plen)
		return remus_err_set(err, -EPROTO, "control: type %u with %u payload bytes (message %zu), expected %u",
		                     type, plen, len, want);
	m->type = type;
	if (type == PVM_CTL_REPLY) {
		m->reply.rc = (int32_t)get_le32(buf + 16);
		m->reply.state = get_le32(buf + 20);
		m->reply.ram_bytes = get_le64(buf + 24);
		m->reply.console_dropped = get_le64(buf + 32);
		if (m->reply.state > HV_EXITED)
			return remus_err_set(err, -EPROTO, "control: reply state %u unknown", m->reply.state);
		const uint8_t *nul = memchr(buf + 40, 0, PVM_CTL_MSG_MAX);
		if (nul == NULL)
			return remus_err_set(err, -EPROTO, "control: reply message not NUL-terminated");
		for (const uint8_t *q = nul; q < buf + 40 + PVM_CTL_MSG_MAX; q++)
			if (*q != 0)
				return remus_err_set(err, -EPROTO, "control: bytes after the reply message's NUL");
		memcpy(m->reply.msg, buf + 40, PVM_CTL_MSG_MAX);
	}
	return 0;
}

int pvm_ctl_dir(char *buf, size_t cap, struct remus_err *err)
{
	const char *d = getenv("REMUS_RUNDIR");
	int n = snprintf(buf, cap, "%s/pvm", d && *d ? d : "/run/remus");

	if (n < 0 || (size_t)n >= cap)
		return remus_err_set(err, -ENAMETOOLONG, "control: run directory path too long");
	return 0;
}

int pvm_ctl_path(const char *name, char *buf, size_t cap, struct remus_err *err)
{
	char dir[256];
	int rc = pvm_ctl_dir(dir, sizeof(dir), err), n;

	if (rc)
		return rc;
	if (strchr(name, '/') || name[0] == '.' || name[0] == 0)
		return remus_err_set(err, -EINVAL, "control: bad guest name '%s'", name);
	n = snprintf(buf, cap, "%s/%s.sock", dir, name);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return remus_err_set(err, -ENAMETOOLONG, "control: socket path for '%s' too long", name);
	return 0;
}

int pvm_ctl_send(int sock, const struct pvm_ctl_msg *m, int fd, struct remus_err *err)
{
	uint8_t buf[PVM_CTL_HDR_SIZE + PVM_CTL_REPLY_SIZE];
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } c;
	struct iovec iov = { buf, pvm_ctl_encode(m, buf, sizeof(buf)) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (fd >= 0) {
		memset(&c, 0, sizeof(c));
		mh.msg_control = c.b;
		mh.msg_controllen = sizeof(c.b);
		struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
		ch->cmsg_level = SOL_SOCKET;
		ch->cmsg_type = SCM_RIGHTS;
		ch->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(ch), &fd, sizeof(int));
	}
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)iov.iov_len)
		return remus_err_sys(err, errno, "control: send");
	return 0;
}

int pvm_ctl_recv(int sock, struct pvm_ctl_msg *m, int *fd, struct remus_err *err)
{
	uint8_t buf[PVM_CTL_HDR_SIZE + PVM_CTL_REPLY_SIZE + 1];
	union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } c;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b,
	                     .msg_controllen = sizeof(c.b) };
	ssize_t n;

	*fd = -1;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return remus_err_sys(err, errno, "control: receive");
	for (struct cmsghdr *ch = CMSG_FIRSTHDR(&mh); ch; ch = CMSG_NXTHDR(&mh, ch))
		if (ch->cmsg_level == SOL_SOCKET && ch->cmsg_type == SCM_RIGHTS &&
		    ch->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(ch), sizeof(int));
	int rc = pvm_ctl_decode(buf, (size_t)n, m, err);
	if (rc == 0 && (mh.msg_flags & MSG_CTRUNC))
		rc = remus_err_set(err, -EPROTO, "control: truncated ancillary data");
	if (rc < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}
