/*
 * netbuf — network output buffering ("output commit") for remus.
 *
 * Every packet a protected guest sends during epoch N is held on the
 * primary until the backup has acknowledged checkpoint N; only then may it
 * leave the host.  One `struct netbuf` per guest interface; the behaviour
 * lives behind `struct netbuf_ops`, one file per backend:
 *   inline   frames handed over by a plain call (pvm's hv_net_hook.guest_tx),
 *            queued per epoch in memory, written to a TAP fd (or a callback)
 *            on release.  Holds every protocol, ARP and IPv6 included.
 *   nfqueue  any Linux guest interface: iptables/ip6tables (nf_tables) rules
 *            send the interface's IPv4/IPv6 ingress to an NFQUEUE; verdicts
 *            are held per epoch.  ARP is not queueable and passes.
 *   plug     Xen hosts with sch_plug: ifb device, ingress redirect of the
 *            vif, plug qdisc driven over netlink (libnl-route-3).
 *
 * Epoch numbering: the open epoch starts at `netbuf_config.first_epoch`;
 * netbuf_epoch_close(N) closes every epoch <= N (packets from then on belong
 * to N+1); netbuf_release(N) lets every packet of the closed epochs <= N
 * leave, in order.  Every call returns 0 or a negative code (-errno or a
 * NETBUF_E* below) and leaves the message in nb->err.  A netbuf is safe to
 * use from several threads (guest_tx on a vCPU thread, release on the
 * checkpoint thread): the front end serialises the calls.
 */
#ifndef REMUS_NETBUF_NETBUF_H
#define REMUS_NETBUF_NETBUF_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define NETBUF_ERRORS(X) \
	X(NETBUF_EEPOCH,   -1001, "epoch number out of order (what, which)") \
	X(NETBUF_EBACKEND, -1002, "the backend does not support this call") \
	X(NETBUF_ECONFIG,  -1003, "bad configuration (which field)") \
	X(NETBUF_EFULL,    -1004, "hold limit reached: the packet was dropped") \
	X(NETBUF_EPENDING, -1005, "plug: one closed epoch is still unreleased")
enum netbuf_error { NETBUF_ERRORS(REMUS_ERR_ENUM) };

enum netbuf_mode {
	NETBUF_PROTECTED = 0,    /* hold per epoch (after open) */
	NETBUF_UNPROTECTED,      /* after release_all(): packets pass at once */
};

/* A frame leaves through this when the inline backend has no tx_fd. */
typedef int (*netbuf_tx_fn)(void *arg, const void *frame, size_t len);

struct netbuf_config {
	const char *backend;     /* "inline" (default), "nfqueue", "plug" */
	const char *ifname;      /* nfqueue/plug: the guest's interface */
	const char *tag;         /* unique per guest: names rules, chains, ifb */
	uint64_t first_epoch;    /* number of the first open epoch */
	uint32_t max_held_packets; /* 0: default 65536; beyond it: dropped */
	uint64_t max_held_bytes;   /* 0: default 64 MiB (inline only) */
	/* inline */
	int tx_fd;               /* TAP fd to write released frames to; -1: tx */
	netbuf_tx_fn tx;
	void *tx_arg;
	/* nfqueue */
	uint16_t queue_num;      /* NFQUEUE number, unique per guest */
};

/* Held packets of one closed or open epoch. */
struct netbuf_epoch_stats {
	uint64_t epoch;
	uint64_t packets;
	uint64_t bytes;
};

#define NETBUF_STATS_EPOCHS 8

/* Counters, flat and JSON-friendly (netbuf_stats_json prints them). */
struct netbuf_stats {
	const char *backend;
	enum netbuf_mode mode;
	uint64_t open_epoch;
	uint64_t held_packets, held_bytes;       /* all epochs now */
	uint64_t released_packets, released_bytes;
	uint64_t dropped_packets, dropped_bytes; /* discard() + hold limit */
	uint64_t full_drops;                     /* of those: hold limit/queue full */
	uint64_t tx_errors;                      /* release: the write failed */
	uint64_t max_held_packets, max_held_bytes;
	bool counts_exact;                       /* plug: the kernel holds them */
	uint32_t nr_epochs;                      /* oldest first, at most 8 */
	struct netbuf_epoch_stats epochs[NETBUF_STATS_EPOCHS];
};

struct netbuf;

/* One backend.  `open` fills nb->priv; the front end checks epoch order
 * and locking, so backends only move packets. */
struct netbuf_ops {
	const char *name;
	int (*open)(struct netbuf *nb, const struct netbuf_config *cfg);
	void (*close)(struct netbuf *nb);
	int (*epoch_close)(struct netbuf *nb, uint64_t epoch);
	int (*release)(struct netbuf *nb, uint64_t epoch);
	int (*release_all)(struct netbuf *nb);
	int (*discard)(struct netbuf *nb);
	/* inline only: a frame from the guest (NULL elsewhere) */
	int (*guest_tx)(struct netbuf *nb, const void *frame, size_t len);
	/* nfqueue: fd to poll and its handler (NULL elsewhere) */
	int (*get_fd)(struct netbuf *nb);
	int (*dispatch)(struct netbuf *nb);
	void (*stats)(struct netbuf *nb, struct netbuf_stats *st);
	/* remove what open installed, also for a dead process (idempotent) */
	int (*teardown)(const struct netbuf_config *cfg, struct remus_err *err);
};

struct netbuf {
	const struct netbuf_ops *ops;
	void *priv;
	pthread_mutex_t lock;
	uint64_t open_epoch;
	uint64_t released_upto;    /* highest released epoch + 1 */
	enum netbuf_mode mode;
	struct remus_err err;
};

extern const struct netbuf_ops netbuf_inline_ops;
extern const struct netbuf_ops netbuf_nfqueue_ops;
extern const struct netbuf_ops netbuf_plug_ops;

/* Find a backend by name ("inline", "nfqueue", "plug"); NULL if unknown. */
const struct netbuf_ops *netbuf_backend(const char *name);

/* Attach to the guest's output (installs rules/qdiscs where needed). */
int netbuf_open(struct netbuf *nb, const struct netbuf_config *cfg);
/* Detach; held packets are dropped (never released), and whatever open
 * installed is removed. */
void netbuf_close(struct netbuf *nb);

int netbuf_epoch_close(struct netbuf *nb, uint64_t epoch);
int netbuf_release(struct netbuf *nb, uint64_t epoch);
int netbuf_release_all(struct netbuf *nb);
int netbuf_discard(struct netbuf *nb);

/* inline: hand over one guest frame.  Matches hv_net_hook.guest_tx with
 * arg = the struct netbuf. */
int netbuf_guest_tx(void *nb, const void *frame, size_t len);

/* nfqueue: fd to poll for input (-1 if none) and what to call when it is
 * readable. */
int netbuf_fd(struct netbuf *nb);
int netbuf_dispatch(struct netbuf *nb);

void netbuf_get_stats(struct netbuf *nb, struct netbuf_stats *st);
/* Render stats as one JSON object into buf (truncated to len; returns the
 * length it needed, like snprintf). */
int netbuf_stats_json(const struct netbuf_stats *st, char *buf, size_t len);

/* Remove what a (possibly dead) process with this backend/tag/ifname left
 * behind: rules, chains, ifb, qdiscs.  Idempotent. */
int netbuf_teardown(const struct netbuf_config *cfg, struct remus_err *err);

#endif
