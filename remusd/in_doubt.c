/*
 * An evacuation in doubt resolves itself when the backup can be asked
 * (issue 17): the hand-over's final checkpoint was acknowledged but the
 * backup's confirmation never came, so the guest is paused here and may
 * run there.  The loop asks the backup's remusd over a check-only link
 * (check_peer.h; on a worker, bounded, every 1 s backing off to 10 s)
 * whether a copy runs there:
 *   - it runs (or is paused) there: the confirmation was only late; the
 *     copy here is destroyed (state evacuated);
 *   - a backup run there may still take the guest over: ask again later;
 *   - neither (its daemon restarted, its take-over failed): nothing can
 *     run there; the guest resumes here (state unprotected).
 * An unreachable backup decides nothing: the guest stays paused and the
 * operator's `remusctl destroy` / `resume --force` keep working (a probe
 * owns no session, so they are never refused because of it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/check_proto.h"
#include "remusd/daemon.h"
#include "util/log.h"

#define DOUBT_FIRST_MS 1000u
#define DOUBT_MAX_MS   10000u

void remusd_in_doubt_probe(struct remusd_check *c)
{
	struct remusd_check_answer a = { 0 };
	struct remus_err err = { 0 };
	char host[REMUSD_HOST_MAX];
	uint16_t port = REMUSD_DEFAULT_PORT;
	const char *why;
	bool linked;

	if ((why = remusd_split_hostport(c->probe_peer, true, host, sizeof(host), &port)) != NULL) {
		c->probe_rc = -EINVAL;
		snprintf(c->probe_text, sizeof(c->probe_text), "peer '%.64s'%s", c->probe_peer, why);
		return;
	}
	c->probe_rc = remusd_check_contact(&c->env, &c->gc, host, port, &a, &linked, &err);
	c->probe_problems = a.problems;
	snprintf(c->probe_text, sizeof(c->probe_text), "%.159s",
	         c->probe_rc < 0 ? err.msg : a.problems ? a.text : "no copy of it there");
}

void daemon_in_doubt_tick(struct daemon *d)
{
	uint64_t now = rnet_now_ms();

	for (size_t i = 0; i < d->nsessions; i++) {
		struct remusd_session *s = d->sessions[i];
		struct remus_err err = { 0 };
		struct remusd_check *chk;
		bool doubt;

		pthread_mutex_lock(&s->lock);
		doubt = s->primary && s->state == RS_IN_DOUBT && s->guest != NULL;
		pthread_mutex_unlock(&s->lock);
		if (!doubt) {
			s->doubt_wait_ms = 0;       /* the next doubt starts afresh */
			continue;
		}
		if (s->doubt_probing || now < s->doubt_next_ms || guest_ops_busy(&d->ops, s) != NULL)
			continue;
		s->doubt_wait_ms = s->doubt_wait_ms == 0 ? DOUBT_FIRST_MS
		                   : s->doubt_wait_ms * 2 > DOUBT_MAX_MS ? DOUBT_MAX_MS
		                   : s->doubt_wait_ms * 2;
		s->doubt_next_ms = now + s->doubt_wait_ms;
		if ((chk = calloc(1, sizeof(*chk))) == NULL)
			continue;
		chk->gc = s->gc;
		chk->env = d->env;
		pthread_mutex_lock(&s->lock);
		snprintf(chk->probe_peer, sizeof(chk->probe_peer), "%.*s",
		         (int)sizeof(chk->probe_peer) - 1, s->peer);
		pthread_mutex_unlock(&s->lock);
		if (guest_ops_start_probe(&d->ops, chk, &err) < 0)
			log_warnx("guest %s: in doubt: cannot ask the backup: %s", s->name, err.msg);
		else
			s->doubt_probing = true;
	}
}

void daemon_in_doubt_answered(struct daemon *d, const struct remusd_check *chk)
{
	struct remusd_session *s = daemon_find_session(d, chk->gc.name);
	struct remus_err err = { 0 };
	char why[REMUS_ERR_MSG_MAX];
	bool doubt, resume;

	if (s == NULL)
		return;
	s->doubt_probing = false;
	pthread_mutex_lock(&s->lock);
	doubt = s->state == RS_IN_DOUBT && s->guest != NULL;
	pthread_mutex_unlock(&s->lock);
	if (!doubt || guest_ops_busy(&d->ops, s) != NULL)
		return;                 /* resolved meanwhile (the operator) */
	if (chk->probe_rc < 0) {
		log_about(LOG_INFO, &(struct log_about){ .guest = s->name },
		          "guest %s: in doubt, the backup %s cannot be asked (%s); asking again in %u ms",
		          s->name, chk->probe_peer, chk->probe_text, s->doubt_wait_ms);
		return;
	}
	if (!(chk->probe_problems & REMUSD_PEER_RUNS) && (chk->probe_problems & REMUSD_PEER_TAKING)) {
		log_about(LOG_INFO, &(struct log_about){ .guest = s->name },
		          "guest %s: in doubt, the backup %s may still take it over (%s); asking again",
		          s->name, chk->probe_peer, chk->probe_text);
		return;
	}
	resume = !(chk->probe_problems & REMUSD_PEER_RUNS);
	snprintf(why, sizeof(why), resume ?
	         "evacuation in doubt resolved: the backup %s answered that no copy runs there "
	         "(%.120s): resumed here" :
	         "evacuation in doubt resolved: the backup %s answered that it runs the guest "
	         "(%.120s): copy here destroyed", chk->probe_peer, chk->probe_text);
	log_about(LOG_WARNING, &(struct log_about){ .guest = s->name }, "guest %s: %s", s->name, why);
	if (guest_ops_start_resolve(&d->ops, s, resume, why, &err) < 0)
		log_warnx("guest %s: in doubt: %s", s->name, err.msg);
}
