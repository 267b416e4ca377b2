/*
 * udpseq: streams numbered UDP datagrams to a subscriber, for the
 * namespace fault trials (tests/fault/remusd_trials.sh, tests/fault/
 * udp_probe.c).  A client sends "SUBSCRIBE" to UDP port 7001; from then on
 * the guest sends one datagram every UDPSEQ_PERIOD_MS:
 *
 *     udpseq boot=B seq=S resume=R ok=K
 *
 * S counts up by one per datagram and lives only in RAM, so a guest
 * restored from checkpoint N continues from the number checkpoint N holds.
 * B is the monitor's boot_count (incremented on every restore); when the
 * guest sees it change it records the number it is about to send as R, so
 * R is exactly the sequence recorded in the checkpoint it was restored
 * from (0: never restored).  K is 1 when the UDPSEQ_COPIES pages holding a
 * copy of S all agree with S; a replica mixing pages of two checkpoints
 * (a partial checkpoint applied) shows up as ok=0.
 */
#include "guest/net/netif.h"
#include "guest/rt/rt.h"

#define UDPSEQ_PORT 7001
#define UDPSEQ_PERIOD_MS 2
#define UDPSEQ_COPIES 64
#define UDPSEQ_PAGE_WORDS 512

struct udpseq {
	struct net *net;
	struct net_udp_peer sub;
	bool subscribed;
	uint64_t seq;        /* the next number to send */
	uint64_t boot;       /* boot_count this state last ran under */
	uint64_t resume;     /* first number sent after the last restore */
	uint64_t next_ms;
};

/* One copy of seq per page, spread over 256 KiB: each update dirties them all. */
static volatile uint64_t copies[UDPSEQ_COPIES][UDPSEQ_PAGE_WORDS] __attribute__((aligned(4096)));

static void set_copies(uint64_t v)
{
	for (unsigned i = 0; i < UDPSEQ_COPIES; i++)
		copies[i][i % UDPSEQ_PAGE_WORDS] = v;
}

static bool copies_agree(uint64_t v)
{
	for (unsigned i = 0; i < UDPSEQ_COPIES; i++)
		if (copies[i][i % UDPSEQ_PAGE_WORDS] != v)
			return false;
	return true;
}

/* "SUBSCRIBE" (optionally newline-terminated): stream to the sender. */
static void udpseq_rx(struct net *n, void *user, const struct net_udp_peer *from,
		      uint16_t port, const uint8_t *data, size_t len)
{
	struct udpseq *u = user;

	(void)n;
	(void)port;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len != 9 || memcmp(data, "SUBSCRIBE", 9) != 0)
		return;
	u->sub = *from;
	u->subscribed = true;
}

/* Once per loop turn: send the next datagram when it is due. */
static uint64_t udpseq_idle(void *user, struct net *n, uint64_t now_ms)
{
	struct udpseq *u = user;
	struct pvm_info info;
	char msg[128];
	bool ok;
	int len;

	if (!u->subscribed)
		return 0;
	if (now_ms < u->next_ms)
		return u->next_ms;
	memset(&info, 0, sizeof(info));
	hc_info(&info, sizeof(info));
	if (info.boot_count != u->boot) {
		u->boot = info.boot_count;
		u->resume = u->seq;
	}
	ok = copies_agree(u->seq);
	len = rt_snprintf(msg, sizeof(msg), "udpseq boot=%llu seq=%llu resume=%llu ok=%d\n",
			  (unsigned long long)u->boot, (unsigned long long)u->seq,
			  (unsigned long long)u->resume, ok ? 1 : 0);
	net_udp_send(n, &u->sub, UDPSEQ_PORT, msg, (size_t)len);
	u->seq++;
	set_copies(u->seq);
	u->next_ms = now_ms + UDPSEQ_PERIOD_MS;
	return u->next_ms;
}

int main(void)
{
	static struct udpseq u;
	struct netif_hooks hooks = { udpseq_idle, &u };
	struct pvm_info info;

	memset(&info, 0, sizeof(info));
	hc_info(&info, sizeof(info));
	u.net = netif_open();
	if (u.net == NULL) {
		rt_printf("udpseq: no NIC or no IPv4 address in PVM_HC_INFO\n");
		return 1;
	}
	u.seq = 1;
	u.boot = info.boot_count;
	set_copies(u.seq);
	if (net_udp_bind(u.net, UDPSEQ_PORT, udpseq_rx, &u))
		return 1;
	rt_printf("udpseq: ready on port %d\n", UDPSEQ_PORT);
	netif_run(u.net, &hooks);
}
