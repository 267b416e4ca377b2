/*
 * The keepalive thread of a connection: answers for an owner that is busy
 * with a large piece of work (staging or applying a big checkpoint,
 * hashing a replica, compressing), so that bulk work on one side is never
 * taken for death by the other.
 *
 * It acts only when the owner has not called into the connection for a
 * heartbeat interval, and only for stall_max of owner silence: an owner
 * wedged for longer must look dead to its peer, or a hung primary would
 * keep its backup from ever taking over.  It writes (heartbeats, queued
 * ACKs, the rest of a frame already begun) and never reads, so message
 * bodies handed to the owner stay valid; the owner judges the peer's
 * silence itself, reading before it does.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "net/conn_impl.h"

struct rnet_keepalive {
	pthread_t th;
	pthread_cond_t wake;
	bool stop;
	uint64_t last_hb_ms;        /* real clock of our last heartbeat */
};

/* One look at the owner: cover for it if it has been away long enough. */
static void keepalive_step(struct rnet_conn *c, struct rnet_keepalive *k, uint64_t now)
{
	struct remus_err err = { 0 };
	uint64_t away = now - c->owner_real_ms;

	if (away < c->hb_interval || away > c->stall_max)
		return;
	if (now - k->last_hb_ms >= c->hb_interval) {
		if (rnet_conn_queue_heartbeat(c, &err) < 0)
			return;
		c->st.heartbeats_ka++;
		k->last_hb_ms = now;
	}
	/* errors are the owner's to see on its next call */
	(void)rnet_conn_flush_locked(c, &err);
}

static void *keepalive_main(void *arg)
{
	struct rnet_conn *c = arg;
	struct rnet_keepalive *k = c->ka;
	uint32_t step = c->hb_interval / 2 ? c->hb_interval / 2 : 1;

	pthread_mutex_lock(&c->lk);
	while (!k->stop) {
		uint64_t t = rnet_now_ms() + step;
		struct timespec ts = { (time_t)(t / 1000), (long)(t % 1000) * 1000000L };

		pthread_cond_timedwait(&k->wake, &c->lk, &ts);
		if (!k->stop)
			keepalive_step(c, k, rnet_now_ms());
	}
	pthread_mutex_unlock(&c->lk);
	return NULL;
}

/* Start the thread (on) or stop and join it (off). */
int rnet_conn_keepalive(struct rnet_conn *c, bool on, struct remus_err *err)
{
	struct rnet_keepalive *k;
	pthread_condattr_t a;
	int rc;

	if (c == NULL)              /* no link (a blackhole run): nothing to keep */
		return 0;
	if (!on) {
		rnet_keepalive_stop(c);
		return 0;
	}
	if (c->ka != NULL)
		return 0;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return remus_err_sys(err, ENOMEM, "keepalive");
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&k->wake, &a);
	pthread_condattr_destroy(&a);
	pthread_mutex_lock(&c->lk);
	c->ka = k;
	c->owner_real_ms = rnet_now_ms();
	k->last_hb_ms = c->owner_real_ms;
	rc = pthread_create(&k->th, NULL, keepalive_main, c);
	if (rc != 0)
		c->ka = NULL;
	pthread_mutex_unlock(&c->lk);
	if (rc != 0) {
		pthread_cond_destroy(&k->wake);
		free(k);
		return remus_err_sys(err, rc, "keepalive thread");
	}
	return 0;
}

/* Stop and join the thread, if running (also from rnet_conn_free). */
void rnet_keepalive_stop(struct rnet_conn *c)
{
	struct rnet_keepalive *k;

	pthread_mutex_lock(&c->lk);
	k = c->ka;
	if (k != NULL) {
		k->stop = true;
		pthread_cond_signal(&k->wake);
	}
	pthread_mutex_unlock(&c->lk);
	if (k == NULL)
		return;
	pthread_join(k->th, NULL);
	pthread_mutex_lock(&c->lk);
	c->ka = NULL;
	pthread_mutex_unlock(&c->lk);
	pthread_cond_destroy(&k->wake);
	free(k);
}
