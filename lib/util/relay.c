/*
 * One-way relay with a silence watchdog (relay.h).  splice(2) moves the
 * bytes without copying them through user space when either end is a pipe
 * (xl's stdin pipe under TCG: every copy costs); read/write otherwise.
 */
#include "util/relay.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#define RELAY_CHUNK (1u << 20)

static uint64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

const char *relay_end_name(enum relay_end end)
{
	switch (end) {
	case RELAY_EOF: return "end of stream";
	case RELAY_SILENCE: return "silence";
	case RELAY_STOPPED: return "stopped";
	case RELAY_OUT_CLOSED: return "reader gone";
	default: return "error";
	}
}

/* Pass one chunk of available input on; blocks while out_fd is full.
 * >0 bytes moved, 0 end of input, <0 -errno. */
static ssize_t relay_move(const struct relay_cfg *cfg, bool *use_splice, uint8_t *buf)
{
	ssize_t n, w, off;

	if (*use_splice) {
		do
			n = splice(cfg->in_fd, NULL, cfg->out_fd, NULL, RELAY_CHUNK, SPLICE_F_MOVE);
		while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		if (errno != EINVAL)
			return -errno;
		*use_splice = false;    /* neither end a pipe: copy */
	}
	do
		n = read(cfg->in_fd, buf, 65536);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	for (off = 0; off < n; off += w) {
		w = write(cfg->out_fd, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR) {
			w = 0;
			continue;
		}
		if (w < 0)
			return -errno;
	}
	return n;
}

static int relay_finish(struct relay_result *res, const struct relay_cfg *cfg, enum relay_end end)
{
	res->end = end;
	res->end_us = cfg->clock_us();
	return end == RELAY_ERROR ? res->err.code : (int)end;
}

int relay_run(const struct relay_cfg *c, struct relay_result *res)
{
	struct relay_cfg cfg = *c;
	uint8_t buf[65536];
	bool use_splice = true;
	ssize_t n;

	if (cfg.clock_us == NULL)
		cfg.clock_us = mono_us;
	*res = (struct relay_result){ .last_in_us = cfg.clock_us() };
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = cfg.in_fd, .events = POLLIN },
			{ .fd = cfg.stop_fd, .events = POLLIN },
		};
		int timeout = -1, rc;

		if (cfg.silence_ms > 0) {
			uint64_t now = cfg.clock_us(), deadline = res->last_in_us + cfg.silence_ms * 1000ull;

			timeout = now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
		}
		rc = poll(p, 2, timeout);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			remus_err_sys(&res->err, errno, "relay: poll");
			return relay_finish(res, &cfg, RELAY_ERROR);
		}
		if (p[1].revents & (POLLIN | POLLHUP))
			return relay_finish(res, &cfg, RELAY_STOPPED);
		if (rc == 0)
			return relay_finish(res, &cfg, RELAY_SILENCE);
		if (p[0].revents & POLLNVAL) {
			remus_err_set(&res->err, -EBADF, "relay: the input is not open");
			return relay_finish(res, &cfg, RELAY_ERROR);
		}
		n = relay_move(&cfg, &use_splice, buf);
		if (n == -EPIPE)
			return relay_finish(res, &cfg, RELAY_OUT_CLOSED);
		if (n < 0) {
			remus_err_sys(&res->err, (int)-n, "relay: passing the stream on");
			return relay_finish(res, &cfg, RELAY_ERROR);
		}
		if (n == 0)
			return relay_finish(res, &cfg, RELAY_EOF);
		res->bytes += (uint64_t)n;
		/* the clock restarts once the bytes are handed over: time blocked
		 * on the reader is ours, not the sender's silence */
		res->last_in_us = cfg.clock_us();
	}
}
