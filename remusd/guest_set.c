/*
 * remusctl set GUEST KEY=VALUE: the epoch length and the stream's
 * compression of a guest, changed while it runs.  A protected guest's
 * engine takes them when its next epoch starts (ckpt_sender_set_*); an
 * unprotected one keeps them for its next protect.  Compression cannot
 * leave what the link negotiated (the backup decodes only that): on a
 * zlib link zlib or none, on a delta or none link only that one.
 */
#include <errno.h>
#include <stdio.h>

#include "remusd/ctl_proto.h"
#include "remusd/session_impl.h"

int remusd_session_set(struct remusd_session *s, uint32_t setting, uint32_t value,
                       char *done, size_t cap, struct remus_err *err)
{
	const char *when = "from its next protect";
	bool running;
	int rc = 0;

	if (!s->primary)
		return remus_err_set(err, -EINVAL, "guest %s: set acts on the primary, this host "
		                     "holds its replica", s->name);
	pthread_mutex_lock(&s->lock);   /* the engine pointers change under it */
	running = (s->state == RS_SYNCING || s->state == RS_PROTECTED) &&
	          s->eng->stats(s, &(struct ckpt_stats){ 0 });
	if (running)
		when = "from the next epoch";
	if (setting == CTL_SET_INTERVAL) {
		if (running)
			rc = s->eng->set_interval(s, value, err);
		if (rc == 0) {
			s->gc.interval_ms = value;
			snprintf(done, cap, "%s: interval = %u ms %s", s->name, value, when);
		}
	} else if (setting == CTL_SET_COMPRESSION && value < RNET_COMPRESS_COUNT) {
		if (running && s->eng->set_compress != NULL)
			rc = s->eng->set_compress(s, value, err);
		else if (running && value != s->gc.compress)
			rc = remus_err_set(err, RNET_ECAPS, "compression %s: a driver-owned loop (%s) "
			                   "keeps %s for the whole protection",
			                   rnet_compress_name(value), remusd_guest_type_name(s->gc.type),
			                   rnet_compress_name(s->gc.compress));
		if (rc == 0) {
			s->gc.compress = value;   /* and what a later protect asks for */
			snprintf(done, cap, "%s: compression = %s %s", s->name,
			         rnet_compress_name(value), when);
		}
	} else {
		rc = remus_err_set(err, -EINVAL, "guest %s: setting %u = %u unknown", s->name, setting,
		                   value);
	}
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		remus_err_wrap(err, "guest %s", s->name);
	return rc;
}
