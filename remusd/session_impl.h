/* What remusd's session files (session.c, session_primary.c,
 * session_backup.c) share beyond the public session.h. */
#ifndef REMUS_REMUSD_SESSION_IMPL_H
#define REMUS_REMUSD_SESSION_IMPL_H

#include "remusd/session.h"

/* Ask the engine thread to stop and join it (no-op if none runs). */
void session_join_engine(struct remusd_session *s);
/* Open the guest's disk replication handle (builtin backend) with its
 * state next to the image ("IMAGE.remus/") and the frame socketpair. */
int  session_open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err);

#endif
