/*
 * The hosted hypercall backend: runs guest code as a Linux program so the
 * network stack and the sample guests can be tested before (and besides)
 * pvm.  The "machine" is described by the environment:
 *   GUEST_TAP=ifname      TAP device (IFF_TAP|IFF_NO_PI) as the NIC
 *   GUEST_MAC=02:..:..    NIC MAC (default 02:00:00:00:00:02)
 *   GUEST_IPV4=a.b.c.d/n  address and prefix;  GUEST_GW=a.b.c.d
 *   GUEST_DISK=path       disk image (size a multiple of 512)
 *   GUEST_NAME=name       guest name; GUEST_BOOT_COUNT=n
 * SIGUSR1 raises PVM_EV_ANNOUNCE (as the monitor does after a failover).
 * Setup errors are fatal: they are the test harness's configuration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest/rt/rt.h"

struct hosted_machine {
	bool ready;
	int tap_fd;      /* -1: no NIC */
	int disk_fd;     /* -1: no disk */
	int sig_fd;      /* SIGUSR1 -> announce */
	struct pvm_info info;
};

/* The emulated machine: hypercalls are global functions, so is their state. */
static struct hosted_machine machine = { .tap_fd = -1, .disk_fd = -1, .sig_fd = -1 };

/* Stop with a message: the environment describing the machine is wrong. */
static _Noreturn void hosted_die(const char *what, const char *arg)
{
	fprintf(stderr, "hosted guest: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
	exit(2);
}

/* Parse GUEST_MAC into info.mac. */
static void hosted_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5], &tail) != 6)
		hosted_die("bad GUEST_MAC", s);
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			hosted_die("bad GUEST_MAC", s);
		mac[i] = (uint8_t)v[i];
	}
}

/* Parse GUEST_IPV4 ("a.b.c.d/n") into address and prefix. */
static void hosted_parse_ipv4(const char *s, struct pvm_info *in)
{
	char addr[32];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	long prefix = 24;

	if (n >= sizeof(addr))
		hosted_die("bad GUEST_IPV4", s);
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (inet_pton(AF_INET, addr, in->ipv4_addr) != 1)
		hosted_die("bad GUEST_IPV4", s);
	if (slash) {
		char *end;
		prefix = strtol(slash + 1, &end, 10);
		if (*end || prefix < 0 || prefix > 32)
			hosted_die("bad GUEST_IPV4 prefix", s);
	}
	in->ipv4_prefix = (uint8_t)prefix;
}

/* Attach to the TAP device named by GUEST_TAP. */
static int hosted_open_tap(const char *name)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		hosted_die("open /dev/net/tun", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (strlen(name) >= sizeof(ifr.ifr_name))
		hosted_die("GUEST_TAP name too long", name);
	memcpy(ifr.ifr_name, name, strlen(name));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		hosted_die("TUNSETIFF", strerror(errno));
	return fd;
}

/* Build the machine from the environment on the first hypercall. */
static struct hosted_machine *hosted(void)
{
	struct hosted_machine *m = &machine;
	struct pvm_info *in = &m->info;
	const char *s;
	sigset_t set;

	if (m->ready)
		return m;
	m->ready = true;
	in->abi_version = PVM_ABI_VERSION;
	in->size = sizeof(*in);
	snprintf(in->name, sizeof(in->name), "%s",
		 getenv("GUEST_NAME") ? getenv("GUEST_NAME") : "hosted");
	if ((s = getenv("GUEST_BOOT_COUNT")))
		in->boot_count = strtoull(s, NULL, 10);
	if ((s = getenv("GUEST_TAP")) && *s) {
		m->tap_fd = hosted_open_tap(s);
		hosted_parse_mac(getenv("GUEST_MAC") ? getenv("GUEST_MAC")
						     : "02:00:00:00:00:02", in->mac);
		hosted_parse_ipv4(getenv("GUEST_IPV4") ? getenv("GUEST_IPV4")
						       : "10.0.0.2/24", in);
		if ((s = getenv("GUEST_GW")) && inet_pton(AF_INET, s, in->ipv4_gw) != 1)
			hosted_die("bad GUEST_GW", s);
	}
	if ((s = getenv("GUEST_DISK")) && *s) {
		struct stat st;
		m->disk_fd = open(s, O_RDWR | O_CLOEXEC);
		if (m->disk_fd < 0 || fstat(m->disk_fd, &st) < 0)
			hosted_die("cannot open GUEST_DISK", s);
		in->disk_sectors = (uint64_t)st.st_size / PVM_SECTOR_SIZE;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->sig_fd < 0)
		hosted_die("signalfd", strerror(errno));
	return m;
}

/* Console output goes to stdout. */
int64_t hc_console_write(const char *buf, uint64_t len)
{
	hosted();
	ssize_t n = write(STDOUT_FILENO, buf, len);
	return n < 0 ? -errno : n;
}

/* Clocks from clock_gettime. */
int64_t hc_clock(uint32_t which)
{
	struct timespec ts;

	if (which > PVM_CLOCK_WALL)
		return -PVM_EINVAL;
	clock_gettime(which == PVM_CLOCK_WALL ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Drain pending SIGUSR1s; true if there was one (an announce request). */
static bool hosted_take_announce(struct hosted_machine *m)
{
	struct signalfd_siginfo si;
	bool any = false;

	while (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		any = true;
	return any;
}

/* Wait with poll() on the TAP and the announce signal until the deadline. */
int64_t hc_wait(uint64_t deadline_mono_ns)
{
	struct hosted_machine *m = hosted();
	struct pollfd p[2] = { { m->sig_fd, POLLIN, 0 }, { m->tap_fd, POLLIN, 0 } };
	int64_t now = hc_clock(PVM_CLOCK_MONOTONIC);
	int timeout = -1;
	uint32_t ev = 0;

	if (deadline_mono_ns) {
		if ((uint64_t)now >= deadline_mono_ns)
			timeout = 0;
		else
			timeout = (int)((deadline_mono_ns - (uint64_t)now + 999999) / 1000000);
	}
	if (poll(p, m->tap_fd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
		return -PVM_EIO;
	if (hosted_take_announce(m))
		ev |= PVM_EV_ANNOUNCE;
	if (m->tap_fd >= 0 && (p[1].revents & POLLIN))
		ev |= PVM_EV_NET_RX;
	if (deadline_mono_ns && (uint64_t)hc_clock(PVM_CLOCK_MONOTONIC) >= deadline_mono_ns)
		ev |= PVM_EV_TIMER;
	return ev;
}

/* Send one frame on the TAP. */
int64_t hc_net_send(const void *frame, uint64_t len)
{
	struct hosted_machine *m = hosted();

	if (m->tap_fd < 0)
		return -PVM_ENODEV;
	if (len > PVM_FRAME_MAX)
		return -PVM_EMSGSIZE;
	if (write(m->tap_fd, frame, len) < 0 && errno != EAGAIN)
		return -PVM_EIO;
	return 0;   /* a full TAP queue drops the frame, like a wire */
}

/* Receive one frame from the TAP. */
int64_t hc_net_recv(void *buf, uint64_t cap)
{
	struct hosted_machine *m = hosted();
	ssize_t n;

	if (m->tap_fd < 0)
		return -PVM_ENODEV;
	n = read(m->tap_fd, buf, cap);
	if (n < 0)
		return errno == EAGAIN ? -PVM_EAGAIN : -PVM_EIO;
	return n;
}

/* Check a sector range against the disk. */
static int hosted_blk_range(struct hosted_machine *m, uint64_t sector, uint64_t n)
{
	if (m->disk_fd < 0)
		return -PVM_ENODEV;
	if (sector > m->info.disk_sectors || n > m->info.disk_sectors - sector ||
	    n > (1u << 20))
		return -PVM_EINVAL;
	return 0;
}

/* Transfer whole sectors between buf and the image (pread/pwrite). */
static int64_t hosted_blk_io(uint64_t sector, void *buf, uint64_t nsectors, bool write)
{
	struct hosted_machine *m = hosted();
	int rc = hosted_blk_range(m, sector, nsectors);
	size_t len = nsectors * PVM_SECTOR_SIZE;
	off_t off = (off_t)(sector * PVM_SECTOR_SIZE);
	ssize_t n;

	if (rc)
		return rc;
	n = write ? pwrite(m->disk_fd, buf, len, off) : pread(m->disk_fd, buf, len, off);
	return n == (ssize_t)len ? 0 : -PVM_EIO;
}

/* Read sectors. */
int64_t hc_blk_read(uint64_t sector, void *buf, uint64_t nsectors)
{
	return hosted_blk_io(sector, buf, nsectors, false);
}

/* Write sectors. */
int64_t hc_blk_write(uint64_t sector, const void *buf, uint64_t nsectors)
{
	return hosted_blk_io(sector, (void *)buf, nsectors, true);
}

/* Flush with fdatasync. */
int64_t hc_blk_flush(void)
{
	struct hosted_machine *m = hosted();

	if (m->disk_fd < 0)
		return -PVM_ENODEV;
	return fdatasync(m->disk_fd) < 0 ? -PVM_EIO : 0;
}

/* Copy out the machine description. */
int64_t hc_info(struct pvm_info *out, uint64_t size)
{
	struct hosted_machine *m = hosted();
	size_t n = size < sizeof(m->info) ? size : sizeof(m->info);

	memcpy(out, &m->info, n);
	return (int64_t)n;
}

/* Exit the process. */
_Noreturn void hc_exit(int64_t code)
{
	exit((int)code);
}

/* A hosted guest has no store. */
int64_t hc_store(uint32_t op, uint32_t txn, const void *arg, uint64_t len, void *out,
                 uint64_t cap)
{
	(void)op; (void)txn; (void)arg; (void)len; (void)out; (void)cap;
	return -PVM_ENODEV;
}
