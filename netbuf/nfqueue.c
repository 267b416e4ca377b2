/*
 * nfqueue backend: rules send the guest interface's IPv4/IPv6 ingress to
 * an NFQUEUE; each queued packet's id is held in the per-epoch FIFO and
 * its ACCEPT verdict given on release (one batch verdict per release).
 * ARP is not an IP packet, cannot be queued and passes: see docs/netbuf.md.
 * The queue has no fail-open flag and the rules no bypass, so a full queue
 * or a dead daemon drops packets, never lets them out early.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "netbuf/held.h"
#include "netbuf/netbuf.h"
#include "netbuf/nfq_rules.h"

#define NFQ_RCVBUF (8 << 20)
#define NFQ_DISPATCH_MAX 1024   /* messages per dispatch call */

struct nb_nfq {
	struct nb_held held;
	struct nfq_handle *h;
	struct nfq_q_handle *qh;
	struct netbuf *nb;
	int fd;
	uint16_t queue_num;
	uint64_t enobufs;          /* socket overflows: the kernel dropped */
	char ifname[16], tag[32];
	char buf[0x10000 + 4096];
};

/* One queued packet: hold it for the open epoch (or pass it, unprotected). */
static int nfq_on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
			 struct nfq_data *nfa, void *arg)
{
	struct nb_nfq *q = arg;
	struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
	unsigned char *payload;
	int len = nfq_get_payload(nfa, &payload);
	uint32_t id;

	(void)msg;
	if (!ph)
		return 0;
	id = ntohl(ph->packet_id);
	if (len < 0)
		len = 0;
	if (q->nb->mode == NETBUF_UNPROTECTED) {
		q->held.released_packets++;
		q->held.released_bytes += (uint64_t)len;
		return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
	}
	if (nb_held_push(&q->held, q->nb->open_epoch, id, NULL, (uint32_t)len) < 0)
		return nfq_set_verdict(qh, id, NF_DROP, 0, NULL);
	return 0;
}

/* Read every queued-packet message waiting on the socket. */
static int nfq_drain(struct netbuf *nb)
{
	struct nb_nfq *q = nb->priv;

	for (int i = 0; i < NFQ_DISPATCH_MAX; i++) {
		ssize_t n = recv(q->fd, q->buf, sizeof(q->buf), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			q->enobufs++;   /* kernel counted those as user_dropped */
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return remus_err_sys(&nb->err, errno, "recv from queue %u", q->queue_num);
		nfq_handle_packet(q->h, q->buf, (int)n);
	}
	return 0;
}

/* Bind the queue first, then install the rules that feed it. */
static int nfq_open_queue(struct netbuf *nb, struct nb_nfq *q, uint32_t maxlen)
{
	int sz = NFQ_RCVBUF;

	q->h = nfq_open();
	if (!q->h)
		return remus_err_sys(&nb->err, errno, "nfq_open");
	q->qh = nfq_create_queue(q->h, q->queue_num, nfq_on_packet, q);
	if (!q->qh)
		return remus_err_sys(&nb->err, errno ? errno : EBUSY,
				     "queue %u: bind (in use by another guest?)", q->queue_num);
	if (nfq_set_mode(q->qh, NFQNL_COPY_PACKET, 0xffff) < 0)
		return remus_err_sys(&nb->err, errno, "queue %u: set mode", q->queue_num);
	if (nfq_set_queue_maxlen(q->qh, maxlen) < 0)
		return remus_err_sys(&nb->err, errno, "queue %u: set maxlen", q->queue_num);
	q->fd = nfq_fd(q->h);
	if (setsockopt(q->fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(q->fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return 0;
}

/* Release the queue (the kernel drops what it still holds) and the rules. */
static void nbq_close(struct netbuf *nb)
{
	struct nb_nfq *q = nb->priv;
	struct remus_err scratch;

	if (q->qh)
		nfq_destroy_queue(q->qh);
	if (q->h)
		nfq_close(q->h);
	nfq_rules_remove(q->ifname, q->tag, &scratch);
	nb_held_free(&q->held);
	free(q);
	nb->priv = NULL;
}

/* Validate names, bind the queue, then install the rules feeding it. */
static int nfq_open_backend(struct netbuf *nb, const struct netbuf_config *cfg)
{
	struct nb_nfq *q;
	int rc;

	rc = nfq_rules_check(cfg->ifname, cfg->tag, &nb->err);
	if (rc < 0)
		return rc;
	q = calloc(1, sizeof(*q));
	if (!q)
		return remus_err_sys(&nb->err, ENOMEM, "open");
	nb->priv = q;
	q->nb = nb;
	q->fd = -1;
	q->queue_num = cfg->queue_num;
	snprintf(q->ifname, sizeof(q->ifname), "%s", cfg->ifname);
	snprintf(q->tag, sizeof(q->tag), "%s", cfg->tag);
	nb_held_init(&q->held, cfg);
	q->held.max_bytes = UINT64_MAX;   /* the kernel holds the bytes */
	rc = nfq_open_queue(nb, q, q->held.max_packets);
	if (rc == 0)
		rc = nfq_rules_install(q->ifname, q->tag, q->queue_num, &nb->err);
	if (rc < 0) {
		nbq_close(nb);
		return rc;
	}
	return 0;
}

/* Tag what already arrived with the closing epoch before it closes. */
static int nfq_epoch_close(struct netbuf *nb, uint64_t epoch)
{
	(void)epoch;
	return nfq_drain(nb);
}

/* One batch verdict for every held packet of epochs <= upto (ids grow in
 * queue order, so "all ids <= last" is exactly those). */
static int nfq_verdict_upto(struct netbuf *nb, uint64_t upto, uint32_t verdict)
{
	struct nb_nfq *q = nb->priv;
	struct nb_item *it;
	uint32_t last = 0;
	bool any = false;

	while ((it = nb_held_head(&q->held, upto))) {
		last = it->id;
		any = true;
		nb_held_pop(&q->held, verdict == NF_ACCEPT);
	}
	if (any && nfq_set_verdict_batch(q->qh, last, verdict) < 0)
		return remus_err_sys(&nb->err, errno, "verdict up to packet %" PRIu32, last);
	return 0;
}

/* ACK(epoch): read what is pending, then accept epochs <= epoch. */
static int nfq_release(struct netbuf *nb, uint64_t epoch)
{
	int rc = nfq_drain(nb);

	return rc < 0 ? rc : nfq_verdict_upto(nb, epoch, NF_ACCEPT);
}

/* Backup lost: accept everything held (later packets: see nfq_on_packet). */
static int nfq_release_all(struct netbuf *nb)
{
	return nfq_release(nb, UINT64_MAX);
}

/* Drop every held packet, including ones not read yet. */
static int nfq_discard(struct netbuf *nb)
{
	int rc = nfq_drain(nb);

	return rc < 0 ? rc : nfq_verdict_upto(nb, UINT64_MAX, NF_DROP);
}

/* The netlink socket the caller polls; readable = packets to hold. */
static int nfq_get_fd(struct netbuf *nb)
{
	return ((struct nb_nfq *)nb->priv)->fd;
}

/* Kernel-side drops of our queue from /proc (queue full, socket overflow). */
static uint64_t nfq_kernel_drops(uint16_t queue_num)
{
	FILE *f = fopen("/proc/net/netfilter/nfnetlink_queue", "r");
	unsigned qn, portid, total, mode, range, qdrop, udrop;
	uint64_t drops = 0;
	char line[256];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%u %u %u %u %u %u %u", &qn, &portid, &total, &mode,
			   &range, &qdrop, &udrop) == 7 && qn == queue_num)
			drops = (uint64_t)qdrop + udrop;
	fclose(f);
	return drops;
}

/* Our FIFO counters plus what the kernel dropped on a full queue. */
static void nfq_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct nb_nfq *q = nb->priv;
	uint64_t kdrops = nfq_kernel_drops(q->queue_num);

	nb_held_stats(&q->held, st);
	st->full_drops += kdrops;
	st->dropped_packets += kdrops;
}

/* After a crash the rules stay (and drop): remove them by name. */
static int nfq_teardown(const struct netbuf_config *cfg, struct remus_err *err)
{
	return nfq_rules_remove(cfg->ifname, cfg->tag, err);
}

const struct netbuf_ops netbuf_nfqueue_ops = {
	.name = "nfqueue",
	.open = nfq_open_backend,
	.close = nbq_close,
	.epoch_close = nfq_epoch_close,
	.release = nfq_release,
	.release_all = nfq_release_all,
	.discard = nfq_discard,
	.get_fd = nfq_get_fd,
	.dispatch = nfq_drain,
	.stats = nfq_stats,
	.teardown = nfq_teardown,
};
