/*
 * Event loop for networked guests: receive frames, run timers and the
 * application's idle hook, flush output, then sleep in PVM_HC_WAIT until
 * a frame arrives or the next timer is due.
 */
#include "guest/net/netif.h"
#include "guest/rt/rt.h"

#define NETIF_RX_BATCH 256
#define NETIF_MAX_SLEEP_MS 1000

/* Hand a frame built by the stack to the NIC hypercall. */
static void netif_send(void *ctx, const void *frame, size_t len)
{
	(void)ctx;
	hc_net_send(frame, len);
}

/* Configure the stack from the info hypercall (NULL: no NIC, no IPv4 address
 * or no memory). */
struct net *netif_open(void)
{
	struct pvm_info info;
	struct net_config cfg = { .send = netif_send };
	static const uint8_t zero[6];

	memset(&info, 0, sizeof(info));
	if (hc_info(&info, sizeof(info)) < (int64_t)offsetof(struct pvm_info, boot_count) ||
	    memcmp(info.mac, zero, 6) == 0 || memcmp(info.ipv4_addr, zero, 4) == 0)
		return NULL;
	memcpy(cfg.mac, info.mac, 6);
	memcpy(cfg.ipv4, info.ipv4_addr, 4);
	memcpy(cfg.gw, info.ipv4_gw, 4);
	cfg.prefix = info.ipv4_prefix;
	cfg.seed = (uint32_t)hc_clock(PVM_CLOCK_WALL) ^ (uint32_t)info.boot_count;
	return net_create(&cfg);
}

/* Receive, run timers and the application hook, flush, sleep; forever. */
_Noreturn void netif_run(struct net *n, const struct netif_hooks *hooks)
{
	uint8_t frame[PVM_FRAME_MAX];
	uint32_t ev = PVM_EV_ANNOUNCE;    /* announce ourselves at boot */

	for (;;) {
		uint64_t now = rt_now_ms(), next, app_next = 0;
		int64_t len;

		if (ev & PVM_EV_ANNOUNCE)
			net_announce(n);
		for (int i = 0; i < NETIF_RX_BATCH; i++) {
			len = hc_net_recv(frame, sizeof(frame));
			if (len < 0)
				break;
			net_input(n, frame, (size_t)len, now);
		}
		now = rt_now_ms();
		net_timer(n, now);
		if (hooks && hooks->idle)
			app_next = hooks->idle(hooks->user, n, now);
		net_flush(n, now);
		next = net_next_timer(n);
		if (app_next && (!next || app_next < next))
			next = app_next;
		if (!next || next > now + NETIF_MAX_SLEEP_MS)
			next = now + NETIF_MAX_SLEEP_MS;
		int64_t r = hc_wait(next * 1000000u);
		ev = r < 0 ? 0 : (uint32_t)r;
	}
}
