/*
 * udp-probe: the client end of the namespace fault trials.  Subscribes to
 * the udpseq guest (guest/apps/udpseq.c), records every datagram it
 * receives and checks, datagram by datagram, that no output of an
 * unacknowledged epoch ever reached the client:
 *
 *   - a restored guest (higher boot count) resumes at the sequence R its
 *     checkpoint holds; every number received from an earlier boot must be
 *     < R (a number >= R left the old primary before the checkpoint
 *     holding it was committed on the backup);
 *   - within one boot the numbers strictly increase, and never fall below
 *     that boot's resume point;
 *   - no datagram of an older boot arrives once a newer one was seen (the
 *     old primary is dead);
 *   - ok=1 on every datagram (the guest's redundant copies agree: no mix
 *     of two checkpoints in the replica).
 *
 * usage: udp-probe GUEST-IP PORT STATE-FILE LOG-FILE
 * STATE-FILE is rewritten (rename) as datagrams arrive:
 *   "total=N boot=B boot_datagrams=C violations=V"
 * LOG-FILE gets one line per datagram: "arrival_us boot seq resume ok",
 * arrival_us on CLOCK_MONOTONIC, taken from the kernel's receive stamp
 * (SO_TIMESTAMPNS) so that a probe kept off the CPU on a loaded machine
 * still records when each datagram arrived, not when it was read.
 * SIGTERM/SIGINT: print the verdict; exit 0 if no violation, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MAX_BOOTS 16
#define PROBE_MAX_REPORTED 8
#define PROBE_SUBSCRIBE_MS 100
#define PROBE_STATE_MS 10

struct boot_seen {
	uint64_t count, first, last, max, resume;
	uint64_t first_us, last_us;
};

struct probe {
	struct boot_seen boot[PROBE_MAX_BOOTS];
	uint64_t total, violations, latest;   /* latest: highest boot seen */
	bool any;
	char reported[PROBE_MAX_REPORTED][200];
	FILE *log;
	const char *state_path;
};

struct datagram {
	uint64_t boot, seq, resume;
	unsigned ok;
};

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The kernel's receive time of a datagram (SO_TIMESTAMPNS, realtime) on
 * CLOCK_MONOTONIC, from realtime - monotonic now (the two clocks do not
 * drift apart within the read); the read time when there is no stamp. */
static uint64_t arrival_us(struct msghdr *msg)
{
	struct timespec real, mono;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS ||
		    c->cmsg_len < CMSG_LEN(sizeof(struct timespec)))
			continue;
		struct timespec ts;
		memcpy(&ts, CMSG_DATA(c), sizeof(ts));
		clock_gettime(CLOCK_REALTIME, &real);
		clock_gettime(CLOCK_MONOTONIC, &mono);
		int64_t off_ns = ((int64_t)real.tv_sec - mono.tv_sec) * 1000000000 +
		                 (real.tv_nsec - mono.tv_nsec);
		int64_t t_ns = ((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec) - off_ns;
		return t_ns > 0 ? (uint64_t)t_ns / 1000u : 0;
	}
	return now_us();
}

static void violation(struct probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct probe *p, const char *fmt, ...)
{
	va_list ap;

	if (p->violations < PROBE_MAX_REPORTED) {
		va_start(ap, fmt);
		vsnprintf(p->reported[p->violations], sizeof(p->reported[0]), fmt, ap);
		va_end(ap);
	}
	p->violations++;
}

/* One decimal field "NAME=digits" at *s; advances past it and one separator. */
static bool field(const char **s, const char *name, uint64_t *out)
{
	size_t nl = strlen(name);
	uint64_t v = 0;
	const char *q = *s;

	if (strncmp(q, name, nl) != 0 || q[nl] != '=')
		return false;
	q += nl + 1;
	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*q - '0');
	}
	if (*q != ' ' && *q != '\n' && *q != 0)
		return false;
	*s = *q ? q + 1 : q;
	*out = v;
	return true;
}

/* "udpseq boot=B seq=S resume=R ok=K\n" — exactly that, nothing else. */
static bool parse(const char *buf, size_t len, struct datagram *d)
{
	const char *s = buf;
	uint64_t ok;

	if (len == 0 || memchr(buf, 0, len) != NULL || strncmp(s, "udpseq ", 7) != 0)
		return false;
	s += 7;
	if (!field(&s, "boot", &d->boot) || !field(&s, "seq", &d->seq) ||
	    !field(&s, "resume", &d->resume) || !field(&s, "ok", &ok) || ok > 1 || *s != 0)
		return false;
	d->ok = (unsigned)ok;
	return true;
}

/* Check one datagram against everything received before it. */
static void take(struct probe *p, const struct datagram *d, uint64_t t)
{
	struct boot_seen *b;

	p->total++;
	if (d->boot >= PROBE_MAX_BOOTS) {
		violation(p, "boot %" PRIu64 " out of range (restored more than %d times?)", d->boot,
		          PROBE_MAX_BOOTS - 1);
		return;
	}
	b = &p->boot[d->boot];
	if (!d->ok)
		violation(p, "boot %" PRIu64 " seq %" PRIu64 ": the guest's copies of its counter "
		          "disagree (replica mixes two checkpoints)", d->boot, d->seq);
	if (p->any && d->boot < p->latest)
		violation(p, "boot %" PRIu64 " seq %" PRIu64 " arrived after boot %" PRIu64
		          " began: the old primary still sends", d->boot, d->seq, p->latest);
	if (b->count == 0) {
		b->first = d->seq;
		b->resume = d->resume;
		b->first_us = t;
		if (d->boot > 0 && d->resume == 0)
			violation(p, "boot %" PRIu64 ": restored but no resume point", d->boot);
		for (uint64_t o = 0; o < d->boot; o++)
			if (p->boot[o].count && p->boot[o].max >= d->resume)
				violation(p, "escaped output: boot %" PRIu64 " sent seq %" PRIu64 " but boot %"
				          PRIu64 " resumes at %" PRIu64 " (output released before its "
				          "checkpoint was committed)", o, p->boot[o].max, d->boot, d->resume);
	} else {
		if (d->seq <= b->last)
			violation(p, "boot %" PRIu64 ": seq %" PRIu64 " after %" PRIu64
			          " (duplicate or reordered)", d->boot, d->seq, b->last);
		if (d->resume != b->resume)
			violation(p, "boot %" PRIu64 ": resume point changed %" PRIu64 " -> %" PRIu64,
			          d->boot, b->resume, d->resume);
	}
	if (d->boot > 0 && d->seq < d->resume)
		violation(p, "boot %" PRIu64 ": seq %" PRIu64 " below its resume point %" PRIu64,
		          d->boot, d->seq, d->resume);
	b->count++;
	b->last = d->seq;
	if (d->seq > b->max)
		b->max = d->seq;
	b->last_us = t;
	if (!p->any || d->boot > p->latest)
		p->latest = d->boot;
	p->any = true;
}

static void write_state(const struct probe *p)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", p->state_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "total=%" PRIu64 " boot=%" PRIu64 " boot_datagrams=%" PRIu64
	        " violations=%" PRIu64 "\n", p->total, p->latest,
	        p->any ? p->boot[p->latest].count : 0, p->violations);
	if (fclose(f) == 0)
		rename(tmp, p->state_path);
}

/* The verdict: per boot, the gap between boots, the violations. */
static int verdict(const struct probe *p)
{
	printf("probe: datagrams=%" PRIu64, p->total);
	for (unsigned i = 0; i < PROBE_MAX_BOOTS; i++) {
		const struct boot_seen *b = &p->boot[i];
		if (b->count == 0)
			continue;
		printf(" | boot%u: n=%" PRIu64 " seq=%" PRIu64 "..%" PRIu64 " resume=%" PRIu64, i,
		       b->count, b->first, b->max, b->resume);
		if (i > 0 && p->boot[i - 1].count)
			printf(" gap_ms=%.1f", (double)(b->first_us - p->boot[i - 1].last_us) / 1000.0);
	}
	printf(" | violations=%" PRIu64 "\n", p->violations);
	for (uint64_t i = 0; i < p->violations && i < PROBE_MAX_REPORTED; i++)
		printf("probe: VIOLATION %s\n", p->reported[i]);
	return p->violations ? 1 : 0;
}

int main(int argc, char **argv)
{
	static struct probe p;
	struct sockaddr_in guest = { .sin_family = AF_INET };
	struct sigaction sa = { .sa_handler = on_stop };
	uint64_t last_sub = 0, last_state = 0;
	bool dirty = true;
	char *end;
	long port;
	int fd, big = 4 << 20, on = 1;

	if (argc != 5) {
		fprintf(stderr, "usage: udp-probe GUEST-IP PORT STATE-FILE LOG-FILE\n");
		return 2;
	}
	port = strtol(argv[2], &end, 10);
	if (inet_pton(AF_INET, argv[1], &guest.sin_addr) != 1 || *end || port <= 0 || port > 65535) {
		fprintf(stderr, "udp-probe: bad address %s:%s\n", argv[1], argv[2]);
		return 2;
	}
	guest.sin_port = htons((uint16_t)port);
	p.state_path = argv[3];
	if ((p.log = fopen(argv[4], "w")) == NULL) {
		perror(argv[4]);
		return 2;
	}
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
		perror("socket");
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	while (!stop_requested) {
		struct pollfd pf = { fd, POLLIN, 0 };
		uint64_t t = now_us();
		char buf[256];
		union {
			char b[CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct datagram d;
		ssize_t n;

		/* subscribe until the guest streams (ARP and the guest's start) */
		if (!p.any && t - last_sub >= PROBE_SUBSCRIBE_MS * 1000u) {
			sendto(fd, "SUBSCRIBE", 9, 0, (struct sockaddr *)&guest, sizeof(guest));
			last_sub = t;
		}
		if (dirty && t - last_state >= PROBE_STATE_MS * 1000u) {
			fflush(p.log);
			write_state(&p);
			last_state = t;
			dirty = false;
		}
		if (poll(&pf, 1, PROBE_STATE_MS) <= 0)
			continue;
		for (;;) {
			msg.msg_control = ctl.b;
			msg.msg_controllen = sizeof(ctl.b);
			if ((n = recvmsg(fd, &msg, MSG_DONTWAIT)) < 0)
				break;
			t = arrival_us(&msg);
			buf[n] = 0;
			dirty = true;
			if (!parse(buf, (size_t)n, &d)) {
				p.total++;
				violation(&p, "malformed datagram of %zd bytes", n);
				continue;
			}
			fprintf(p.log, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %u\n", t, d.boot,
			        d.seq, d.resume, d.ok);
			take(&p, &d, t);
		}
		if (errno != EAGAIN && errno != EINTR) {
			perror("recv");
			break;
		}
	}
	fflush(p.log);
	write_state(&p);
	fclose(p.log);
	close(fd);
	return verdict(&p);
}
