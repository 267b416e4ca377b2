/* What remusd's session files (session.c, session_primary.c,
 * session_backup.c) share beyond the public session.h. */
#ifndef REMUS_REMUSD_SESSION_IMPL_H
#define REMUS_REMUSD_SESSION_IMPL_H

#include "remusd/session.h"

/* Ask the engine thread to stop and join it (no-op if none runs). */
void session_join_engine(struct remusd_session *s);
/* Open the guest's disk replication handle (builtin backend) with its
 * state next to the image ("IMAGE.remus/"), not attached to a peer. */
int  session_open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err);
/* Attach the handle to a fresh socketpair for a new run (disk_sp[0]
 * diskrep's end, disk_sp[1] the engine's, non-blocking). */
int  session_disk_channel(struct remusd_session *s, struct remus_err *err);
/* Stop a netbuf's nfqueue pump thread (no-op if none runs); before
 * netbuf_close. */
void session_nb_pump_stop(struct remusd_session *s);
/* Detach the handle and close the channel (end of a run). */
void session_disk_detach(struct remusd_session *s);
/* A fresh netbuf for a new protection run (the old one closed); `what`
 * names the backend and device in the error. */
int  session_netbuf_open(struct remusd_session *s, const struct netbuf_config *nc,
                         const char *what, struct remus_err *err);
/* An evacuation left in doubt: state in-doubt with what to check and do. */
void session_set_in_doubt(struct remusd_session *s, const char *why);
/* Driver-owned loops (session_stream.c): the next engine stop is a
 * hand-over; and the end of the primary's copy once the backup runs it
 * (Xen: the domain destroyed through libxl, not only forgotten). */
void session_stream_request_handover(struct remusd_session *s);
/* After an evacuation confirmed and the copy here destroyed: diskrep =
 * drbd demotes this side and closes the dual-primary window. */
void session_stream_after_evacuation(struct remusd_session *s);
/* A driver-owned loop is protected from ACK(1) on (no separate sync):
 * update a state still "syncing" (status does it too). */
void session_stream_sync_state(struct remusd_session *s);
void session_destroy_copy(struct remusd_session *s, struct hv_guest *g);

#endif
