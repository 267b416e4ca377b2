/*
 * netbuf front end: picks the backend, checks the epoch protocol (numbers
 * only move forward, an open epoch is never released) and serialises calls
 * so the guest's tx path and the checkpoint thread can share one netbuf.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "netbuf/netbuf.h"

static const struct netbuf_ops *const backends[] = {
	&netbuf_inline_ops, &netbuf_nfqueue_ops, &netbuf_plug_ops,
};

/* Backend table lookup; NULL/empty selects the default (inline). */
const struct netbuf_ops *netbuf_backend(const char *name)
{
	if (!name || !*name)
		return &netbuf_inline_ops;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

/* Attach: validate, then let the backend install what it needs. */
int netbuf_open(struct netbuf *nb, const struct netbuf_config *cfg)
{
	int rc;

	memset(nb, 0, sizeof(*nb));
	nb->ops = netbuf_backend(cfg->backend);
	if (!nb->ops)
		return remus_err_set(&nb->err, NETBUF_ECONFIG,
				     "netbuf: unknown backend '%s' (inline, nfqueue, plug)",
				     cfg->backend);
	nb->open_epoch = cfg->first_epoch;
	nb->released_upto = cfg->first_epoch;
	rc = pthread_mutex_init(&nb->lock, NULL);
	if (rc)
		return remus_err_sys(&nb->err, rc, "netbuf: mutex");
	rc = nb->ops->open(nb, cfg);
	if (rc < 0) {
		remus_err_wrap(&nb->err, "netbuf %s: ", nb->ops->name);
		pthread_mutex_destroy(&nb->lock);
		nb->ops = NULL;
	}
	return rc;
}

/* Detach and drop whatever is still held (never release on close). */
void netbuf_close(struct netbuf *nb)
{
	if (!nb->ops)
		return;
	nb->ops->close(nb);
	pthread_mutex_destroy(&nb->lock);
	nb->ops = NULL;
}

/* Run one backend call under the lock, naming the call on error. */
static int nb_call(struct netbuf *nb, const char *what,
		   int (*fn)(struct netbuf *, uint64_t), uint64_t epoch)
{
	int rc;

	if (!nb->ops)
		return remus_err_set(&nb->err, NETBUF_ECONFIG, "netbuf %s: not open", what);
	rc = fn(nb, epoch);
	if (rc < 0)
		remus_err_wrap(&nb->err, "netbuf %s %s: ", nb->ops->name, what);
	return rc;
}

/* Close every epoch <= epoch: later packets belong to epoch + 1. */
int netbuf_epoch_close(struct netbuf *nb, uint64_t epoch)
{
	int rc = 0;

	pthread_mutex_lock(&nb->lock);
	if (epoch < nb->open_epoch || epoch == UINT64_MAX) {
		rc = remus_err_set(&nb->err, NETBUF_EEPOCH,
				   "netbuf epoch_close(%" PRIu64 "): epoch %" PRIu64
				   " is already closed", epoch, epoch);
		goto out;
	}
	if (nb->mode == NETBUF_PROTECTED)
		rc = nb_call(nb, "epoch_close", nb->ops->epoch_close, epoch);
	if (rc == 0)
		nb->open_epoch = epoch + 1;
out:
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* Let every packet of closed epochs <= epoch leave, oldest first. */
int netbuf_release(struct netbuf *nb, uint64_t epoch)
{
	int rc = 0;

	pthread_mutex_lock(&nb->lock);
	if (epoch >= nb->open_epoch) {
		rc = remus_err_set(&nb->err, NETBUF_EEPOCH,
				   "netbuf release(%" PRIu64 "): epoch %" PRIu64
				   " is still open (close it first)", epoch, nb->open_epoch);
		goto out;
	}
	if (epoch < nb->released_upto)
		goto out;   /* already released: idempotent */
	if (nb->mode == NETBUF_PROTECTED)
		rc = nb_call(nb, "release", nb->ops->release, epoch);
	if (rc == 0)
		nb->released_upto = epoch + 1;
out:
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* Adapter so the epoch-less calls share nb_call. */
static int call_release_all(struct netbuf *nb, uint64_t unused)
{
	(void)unused;
	return nb->ops->release_all(nb);
}

/* Adapter for nb_call, as call_release_all. */
static int call_discard(struct netbuf *nb, uint64_t unused)
{
	(void)unused;
	return nb->ops->discard(nb);
}

/* Backup lost: release everything and let later packets pass at once. */
int netbuf_release_all(struct netbuf *nb)
{
	int rc;

	pthread_mutex_lock(&nb->lock);
	rc = nb_call(nb, "release_all", call_release_all, 0);
	if (rc == 0) {
		nb->mode = NETBUF_UNPROTECTED;
		nb->released_upto = nb->open_epoch;
	}
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* Drop everything held, of every epoch (nothing of it may ever leave). */
int netbuf_discard(struct netbuf *nb)
{
	int rc;

	pthread_mutex_lock(&nb->lock);
	rc = nb_call(nb, "discard", call_discard, 0);
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* inline: a frame from the guest, in hv_net_hook.guest_tx form. */
int netbuf_guest_tx(void *arg, const void *frame, size_t len)
{
	struct netbuf *nb = arg;
	int rc;

	pthread_mutex_lock(&nb->lock);
	if (!nb->ops || !nb->ops->guest_tx)
		rc = remus_err_set(&nb->err, NETBUF_EBACKEND,
				   "netbuf guest_tx: backend has no frame input");
	else
		rc = nb->ops->guest_tx(nb, frame, len);
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* fd to poll for backend input, -1 if the backend needs none. */
int netbuf_fd(struct netbuf *nb)
{
	return nb->ops && nb->ops->get_fd ? nb->ops->get_fd(nb) : -1;
}

/* Handle input on netbuf_fd (nfqueue: receive and hold packets). */
int netbuf_dispatch(struct netbuf *nb)
{
	int rc = 0;

	pthread_mutex_lock(&nb->lock);
	if (nb->ops && nb->ops->dispatch)
		rc = nb->ops->dispatch(nb);
	pthread_mutex_unlock(&nb->lock);
	return rc;
}

/* Snapshot of the counters. */
void netbuf_get_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&nb->lock);
	st->backend = nb->ops ? nb->ops->name : "closed";
	st->mode = nb->mode;
	st->open_epoch = nb->open_epoch;
	if (nb->ops)
		nb->ops->stats(nb, st);
	pthread_mutex_unlock(&nb->lock);
}

/* Counters as one JSON object (the form remusctl stats --json shows). */
int netbuf_stats_json(const struct netbuf_stats *st, char *buf, size_t len)
{
	size_t off = 0;
	int n;

#define NB_PUT(...) do { \
	n = snprintf(buf + (off < len ? off : len), off < len ? len - off : 0, __VA_ARGS__); \
	if (n < 0) return n; \
	off += (size_t)n; } while (0)
	NB_PUT("{\"backend\":\"%s\",\"mode\":\"%s\",\"open_epoch\":%" PRIu64
	       ",\"held_packets\":%" PRIu64 ",\"held_bytes\":%" PRIu64
	       ",\"released_packets\":%" PRIu64 ",\"released_bytes\":%" PRIu64
	       ",\"dropped_packets\":%" PRIu64 ",\"dropped_bytes\":%" PRIu64
	       ",\"full_drops\":%" PRIu64 ",\"tx_errors\":%" PRIu64
	       ",\"max_held_packets\":%" PRIu64 ",\"max_held_bytes\":%" PRIu64
	       ",\"counts_exact\":%s,\"epochs\":[",
	       st->backend ? st->backend : "", st->mode == NETBUF_PROTECTED ?
	       "protected" : "unprotected", st->open_epoch,
	       st->held_packets, st->held_bytes, st->released_packets,
	       st->released_bytes, st->dropped_packets, st->dropped_bytes,
	       st->full_drops, st->tx_errors, st->max_held_packets,
	       st->max_held_bytes, st->counts_exact ? "true" : "false");
	for (uint32_t i = 0; i < st->nr_epochs && i < NETBUF_STATS_EPOCHS; i++)
		NB_PUT("%s{\"epoch\":%" PRIu64 ",\"packets\":%" PRIu64
		       ",\"bytes\":%" PRIu64 "}", i ? "," : "", st->epochs[i].epoch,
		       st->epochs[i].packets, st->epochs[i].bytes);
	NB_PUT("]}");
#undef NB_PUT
	return off > INT32_MAX ? -EOVERFLOW : (int)off;
}

/* Clean up after a guest whose netbuf process may be gone. */
int netbuf_teardown(const struct netbuf_config *cfg, struct remus_err *err)
{
	const struct netbuf_ops *ops = netbuf_backend(cfg->backend);

	if (!ops)
		return remus_err_set(err, NETBUF_ECONFIG, "netbuf teardown: unknown backend '%s'",
				     cfg->backend);
	return ops->teardown ? ops->teardown(cfg, err) : 0;
}
