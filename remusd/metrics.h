/*
 * remusd's Prometheus endpoint (`metrics_listen = ADDR:PORT` in [global]):
 * the text exposition format over HTTP, served by libmicrohttpd on its own
 * thread.  A scrape never runs on (or waits for) the daemon's loop: the
 * loop only registers each new session and counts handshakes; the thread
 * copies each session's counters under that session's own locks (as
 * `remusctl status` does) and renders the copy.  Sessions live until the
 * daemon exits, after remusd_metrics_stop().
 */
#ifndef REMUS_REMUSD_METRICS_H
#define REMUS_REMUSD_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "remusd/config.h"
#include "remusd/session.h"

struct remusd_metrics;

/* Daemon-wide counters the loop bumps (atomic; read by the scrape). */
enum remusd_metric_event {
	REMUSD_M_HS_ACCEPTED,      /* a replication peer's handshake succeeded */
	REMUSD_M_HS_REFUSED,       /* refused: bad key, version, caps, garbage, limit */
	REMUSD_M_EVENTS
};

/* Start serving if conf->metrics_port != 0 (else *out = NULL, 0). */
int  remusd_metrics_start(const struct remusd_conf *conf, struct remusd_metrics **out,
                          struct remus_err *err);
/* Stop the server and wait for a scrape in progress (NULL: nothing). */
void remusd_metrics_stop(struct remusd_metrics *m);
/* A session the daemon created (m may be NULL: metrics off). */
void remusd_metrics_add_session(struct remusd_metrics *m, struct remusd_session *s);
void remusd_metrics_count(struct remusd_metrics *m, enum remusd_metric_event ev);

/* The exposition text of these sessions and counters (metrics_text.c). */
int  remusd_metrics_render(FILE *out, struct remusd_session *const *sessions, size_t n,
                           const uint64_t events[REMUSD_M_EVENTS]);

#endif
