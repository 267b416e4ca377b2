/*
 * storewatch: watches one node of its store and reports every watch event
 * it sees, for the store's namespace test (tests/integration/
 * remusd_store.sh).  At boot it watches "control/value" (relative to its
 * home) with token "cv"; a client sends "SUBSCRIBE" to UDP port 7002 and
 * gets, for each event, in order, one datagram
 *
 *     storewatch seq=S boot=B path=P token=T value=V
 *
 * S counts events from 1 and lives in RAM, like the queue of reports not
 * yet sent, so a replica continues from its checkpoint: through netbuf a
 * report leaves only once the checkpoint holding the guest after it is
 * acknowledged, so across a failover no report is repeated or lost.  V is
 * the node's value when the event was read ("-" if the node is gone).
 * The same lines go to the console.
 */
#include "guest/net/netif.h"
#include "guest/rt/rt.h"

#define SW_PORT 7002
#define SW_QUEUE 64
#define SW_LINE 256

struct storewatch {
	struct net_udp_peer sub;
	bool subscribed;
	uint64_t seq;                   /* reports made */
	uint64_t sent;                  /* reports sent to the subscriber */
	char q[SW_QUEUE][SW_LINE];      /* report seq s is q[(s - 1) % SW_QUEUE] */
	int qlen[SW_QUEUE];
};

static void sw_rx(struct net *n, void *user, const struct net_udp_peer *from, uint16_t port,
		  const uint8_t *data, size_t len)
{
	struct storewatch *w = user;

	(void)n;
	(void)port;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	if (len == 9 && memcmp(data, "SUBSCRIBE", 9) == 0) {
		w->sub = *from;
		w->subscribed = true;
	}
}

/* One report per pending event (while the queue has room), then send. */
static uint64_t sw_idle(void *user, struct net *n, uint64_t now_ms)
{
	struct storewatch *w = user;
	char path[128], token[64], value[96];
	struct pvm_info info;

	(void)now_ms;
	while (w->seq - w->sent < SW_QUEUE && store_event(path, sizeof(path), token,
	                                                  sizeof(token)) == 0) {
		int64_t v = store_read("control/value", value, sizeof(value) - 1);
		if (v < 0)
			rt_snprintf(value, sizeof(value), "-");
		else
			value[v] = '\0';
		memset(&info, 0, sizeof(info));
		hc_info(&info, sizeof(info));
		w->seq++;
		size_t i = (w->seq - 1) % SW_QUEUE;
		w->qlen[i] = rt_snprintf(w->q[i], SW_LINE, "storewatch seq=%llu boot=%llu path=%s "
		                         "token=%s value=%s\n", (unsigned long long)w->seq,
		                         (unsigned long long)info.boot_count, path, token, value);
		rt_printf("%s", w->q[i]);
	}
	while (w->subscribed && w->sent < w->seq) {
		size_t i = w->sent % SW_QUEUE;
		net_udp_send(n, &w->sub, SW_PORT, w->q[i], (size_t)w->qlen[i]);
		w->sent++;
	}
	return 0;
}

int main(void)
{
	static struct storewatch w;
	struct netif_hooks hooks = { sw_idle, &w };
	struct net *n = netif_open();
	int64_t rc;

	if (n == NULL) {
		rt_printf("storewatch: no NIC or no IPv4 address in PVM_HC_INFO\n");
		return 1;
	}
	if ((rc = store_watch("control/value", "cv")) < 0) {
		rt_printf("storewatch: watch: error %lld\n", (long long)rc);
		return 1;
	}
	if (net_udp_bind(n, SW_PORT, sw_rx, &w))
		return 1;
	rt_printf("storewatch: ready on port %d\n", SW_PORT);
	netif_run(n, &hooks);
}
