/*
 * inline backend: the monitor hands over each guest frame by a plain call
 * (hv_net_hook.guest_tx); frames are copied into the per-epoch FIFO and
 * written to the TAP fd (or the tx callback) when their epoch is released.
 * Every protocol is held, ARP and IPv6 included, since nothing is parsed.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "netbuf/held.h"
#include "netbuf/netbuf.h"

struct nb_inline {
	struct nb_held held;
	int tx_fd;
	netbuf_tx_fn tx;
	void *tx_arg;
};

/* Need somewhere to send released frames: a TAP fd or a callback. */
static int inline_open(struct netbuf *nb, const struct netbuf_config *cfg)
{
	struct nb_inline *in;

	if (cfg->tx_fd < 0 && !cfg->tx)
		return remus_err_set(&nb->err, NETBUF_ECONFIG,
				     "config: neither tx_fd nor tx callback given");
	in = calloc(1, sizeof(*in));
	if (!in)
		return remus_err_sys(&nb->err, ENOMEM, "open");
	nb_held_init(&in->held, cfg);
	in->tx_fd = cfg->tx_fd;
	in->tx = cfg->tx;
	in->tx_arg = cfg->tx_arg;
	nb->priv = in;
	return 0;
}

/* Held frames die with the netbuf: they were never acknowledged. */
static void inline_close(struct netbuf *nb)
{
	struct nb_inline *in = nb->priv;

	nb_held_free(&in->held);
	free(in);
	nb->priv = NULL;
}

/* Put one frame on the wire; a TAP takes exactly one frame per write. */
static int inline_transmit(struct nb_inline *in, const void *frame, size_t len)
{
	ssize_t n;

	if (in->tx_fd < 0)
		return in->tx(in->tx_arg, frame, len);
	do
		n = write(in->tx_fd, frame, len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

/* Queue a guest frame for the open epoch (or send it when unprotected). */
static int inline_guest_tx(struct netbuf *nb, const void *frame, size_t len)
{
	struct nb_inline *in = nb->priv;
	int rc;

	if (len > UINT32_MAX)
		return remus_err_set(&nb->err, -EMSGSIZE, "guest_tx: frame of %zu bytes", len);
	if (nb->mode == NETBUF_UNPROTECTED) {
		rc = inline_transmit(in, frame, len);
		if (rc < 0) {
			in->held.tx_errors++;
			return remus_err_sys(&nb->err, -rc, "guest_tx: unprotected send");
		}
		in->held.released_packets++;
		in->held.released_bytes += len;
		return 0;
	}
	rc = nb_held_push(&in->held, nb->open_epoch, 0, frame, (uint32_t)len);
	if (rc < 0)
		return remus_err_set(&nb->err, rc, "guest_tx: hold limit reached, "
				     "frame of %zu bytes dropped", len);
	return 0;
}

/* Closing needs no work here: frames carry their epoch number. */
static int inline_epoch_close(struct netbuf *nb, uint64_t epoch)
{
	(void)nb;
	(void)epoch;
	return 0;
}

/* Send the head frames up to `upto`, in order; a failed write is counted
 * (tx_errors) and the frame dropped, the rest still go. */
static int inline_flush(struct nb_inline *in, uint64_t upto)
{
	struct nb_item *it;

	while ((it = nb_held_head(&in->held, upto))) {
		bool sent = inline_transmit(in, it->data, it->len) == 0;

		if (!sent)
			in->held.tx_errors++;
		nb_held_pop(&in->held, sent);
	}
	return 0;
}

/* ACK(epoch): every frame of epochs <= epoch goes out. */
static int inline_release(struct netbuf *nb, uint64_t epoch)
{
	return inline_flush(nb->priv, epoch);
}

/* Backup lost: everything goes out (the front end then passes frames on). */
static int inline_release_all(struct netbuf *nb)
{
	return inline_flush(nb->priv, UINT64_MAX);
}

/* Drop every held frame of every epoch. */
static int inline_discard(struct netbuf *nb)
{
	struct nb_inline *in = nb->priv;

	while (in->held.count)
		nb_held_pop(&in->held, false);
	return 0;
}

/* All counters are ours: the FIFO holds the frames. */
static void inline_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct nb_inline *in = nb->priv;

	nb_held_stats(&in->held, st);
}

const struct netbuf_ops netbuf_inline_ops = {
	.name = "inline",
	.open = inline_open,
	.close = inline_close,
	.epoch_close = inline_epoch_close,
	.release = inline_release,
	.release_all = inline_release_all,
	.discard = inline_discard,
	.guest_tx = inline_guest_tx,
	.stats = inline_stats,
};
