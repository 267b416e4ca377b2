/*
 * quorum = none: no cluster is asked, every answer is "quorate" and the
 * peer unknown-absent — today's behaviour, where a partition can make two
 * copies (remusd warns at start).  Sessions do not consult the view then.
 */
#include <stdlib.h>

#include "remusd/quorum.h"

struct quorum_backend {
	int unused;
};

static int none_open(struct quorum_backend **out, struct remus_err *err)
{
	(void)err;
	*out = NULL;
	return 0;
}

static unsigned none_pollfds(struct quorum_backend *q, struct pollfd *pfd, unsigned max)
{
	(void)q;
	(void)pfd;
	(void)max;
	return 0;
}

static int none_dispatch(struct quorum_backend *q, const struct pollfd *pfd,
                         struct remusd_quorum_state *st, struct remus_err *err)
{
	(void)q;
	(void)pfd;
	(void)err;
	*st = (struct remusd_quorum_state){ .known = true, .quorate = true };
	return 0;
}

static void none_close(struct quorum_backend *q)
{
	(void)q;
}

const struct quorum_ops quorum_none_ops = {
	.name = "none",
	.open = none_open,
	.pollfds = none_pollfds,
	.dispatch = none_dispatch,
	.close = none_close,
};
