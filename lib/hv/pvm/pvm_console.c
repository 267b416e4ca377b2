/*
 * The guest console: a bounded buffer in front of console_fd that never
 * blocks the monitor thread (which must stay free to pause the guest: a
 * console nobody reads used to hang `pvm save`).  What does not fit is
 * dropped and counted.  On a terminal or a log file, control characters
 * are escaped (\xHH) so a guest cannot drive the operator's terminal with
 * escape sequences; to a pipe or socket the bytes go as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"

/* A byte a terminal would act on: C0 controls but newline and tab, DEL. */
static bool console_ctl(uint8_t b)
{
	return (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f;
}

size_t pvm_console_escape(const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                          size_t *consumed)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (!console_ctl(in[i])) {
			if (o + 1 > cap)
				break;
			out[o++] = in[i];
			continue;
		}
		if (o + 4 > cap)
			break;
		out[o++] = '\\';
		out[o++] = 'x';
		out[o++] = (uint8_t)hex[in[i] >> 4];
		out[o++] = (uint8_t)hex[in[i] & 15];
	}
	*consumed = i;
	return o;
}

/* Our own non-blocking description of a pipe or terminal (reopened through
 * /proc, so the O_NONBLOCK flag is not shared with whoever else writes
 * there, e.g. the pvm tool's stdout); -1 when that is not possible. */
static int reopen_nonblocking(int fd)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

int pvm_console_init(struct pvm_console *c, int fd, struct remus_err *err)
{
	struct stat st;

	memset(c, 0, sizeof(*c));
	c->fd = c->own_fd = -1;
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0)
		return remus_err_sys(err, errno, "pvm: console fd");
	c->fd = fd;
	c->escape = isatty(fd) || S_ISREG(st.st_mode);
	if (S_ISSOCK(st.st_mode))
		c->is_socket = true;
	else if ((S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) &&
	         (c->own_fd = reopen_nonblocking(fd)) >= 0)
		c->fd = c->own_fd;
	c->buf = malloc(PVM_CONSOLE_BUF);
	if (c->buf == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: console buffer");
	return 0;
}

/* Write what the buffer holds until the console would block. */
void pvm_console_flush(struct pvm_console *c)
{
	while (c->len > 0) {
		size_t chunk = c->len < PVM_CONSOLE_BUF - c->head ? c->len : PVM_CONSOLE_BUF - c->head;
		ssize_t n = c->is_socket ? send(c->fd, c->buf + c->head, chunk, MSG_DONTWAIT | MSG_NOSIGNAL)
		                         : write(c->fd, c->buf + c->head, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {                   /* a closed console does not stop the guest */
			__atomic_fetch_add(&c->dropped, c->len, __ATOMIC_RELAXED);
			c->len = 0;
			return;
		}
		c->head = (c->head + (size_t)n) % PVM_CONSOLE_BUF;
		c->len -= (size_t)n;
	}
	c->head = 0;
}

/* Queue the guest's bytes (escaped if so), dropping what does not fit. */
void pvm_console_write(struct pvm_console *c, const uint8_t *p, size_t n)
{
	uint8_t tmp[512];
	size_t used, o;

	if (c->fd < 0 || c->buf == NULL)
		return;
	pvm_console_flush(c);
	while (n > 0) {
		size_t room = PVM_CONSOLE_BUF - c->len, tail = (c->head + c->len) % PVM_CONSOLE_BUF;
		if (c->escape) {
			o = pvm_console_escape(p, n, tmp, sizeof(tmp) < room ? sizeof(tmp) : room, &used);
		} else {
			used = o = n < room ? n : room;
			if (o > sizeof(tmp))
				used = o = sizeof(tmp);
			memcpy(tmp, p, o);
		}
		if (used == 0)
			break;
		for (size_t i = 0; i < o; i++)
			c->buf[(tail + i) % PVM_CONSOLE_BUF] = tmp[i];
		c->len += o;
		p += used;
		n -= used;
		if (c->len == PVM_CONSOLE_BUF)
			pvm_console_flush(c);
	}
	__atomic_fetch_add(&c->dropped, n, __ATOMIC_RELAXED);   /* read by info() */
	pvm_console_flush(c);
}

bool pvm_console_pending(const struct pvm_console *c)
{
	return c->len > 0;
}

void pvm_console_free(struct pvm_console *c)
{
	if (c->own_fd >= 0)
		close(c->own_fd);
	free(c->buf);
	memset(c, 0, sizeof(*c));
	c->fd = c->own_fd = -1;
}
