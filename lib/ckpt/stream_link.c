/* Helpers shared by the driver-owned loops' sender and receiver. */
#include "ckpt/stream_link_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

void cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_us)
{
	struct timespec ts = { (time_t)(deadline_us / 1000000u),
	                       (long)(deadline_us % 1000000u) * 1000L };

	pthread_cond_timedwait(c, m, &ts);
}

int wake_pair_open(int sp[2], struct remus_err *err)
{
	int big = 4 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		sp[0] = sp[1] = -1;
		return remus_err_sys(err, errno, "stream link: socketpair");
	}
	for (int i = 0; i < 2; i++) {
		setsockopt(sp[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sp[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	if (fcntl(sp[1], F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;

		wake_pair_close(sp);
		return remus_err_sys(err, e, "stream link: non-blocking pump end");
	}
	return 0;
}

void wake_pair_close(int sp[2])
{
	for (int i = 0; i < 2; i++) {
		if (sp[i] >= 0)
			close(sp[i]);
		sp[i] = -1;
	}
}
