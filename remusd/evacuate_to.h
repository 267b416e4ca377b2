/*
 * remusctl evacuate GUEST --to HOST[:PORT]: move a guest to a host that
 * is not its backup, in libvirt's four migration steps (prepare, perform,
 * finish, confirm), on the primary's operation worker (guest_op.h).
 *  prepare  the destination's remusd is asked over a check-only link
 *           (check_peer.h: key, configuration, memory, disk and kernel
 *           image, no copy there); a refusal ends it, nothing changed;
 *  perform  protection moves from the backup to the destination (the
 *           backup is told END and keeps its replica, passive), which is
 *           synchronised by the usual pre-copy until checkpoint 1 is
 *           acknowledged; then the planned hand-over's final checkpoint;
 *  finish   the destination restores it and runs the guest (the
 *           hand-over's take-over), output held until it confirms;
 *  confirm  BYE(RUNNING): the copy here is destroyed, or kept as the
 *           destination's new backup (role reversal, the default).
 * Fault points (hold.h, fault.h): "evacto-prepared" (the destination
 * agreed, nothing changed yet), "evacto-perform" (the backup let go, the
 * pre-copy not started), "evacto-synced" (the destination holds
 * checkpoint 1, no hand-over yet); the hand-over's own points follow.
 */
#ifndef REMUS_REMUSD_EVACUATE_TO_H
#define REMUS_REMUSD_EVACUATE_TO_H

#include "remusd/session.h"

/* How long perform waits for the destination's initial synchronisation. */
#define REMUSD_EVACUATE_TO_SYNC_MS 240000u

/* Worker: evacuate s to `to` (HOST[:PORT]); 0 once the destination runs
 * the guest, <0 with err naming the step that refused or failed and what
 * became of the guest here. */
int remusd_session_evacuate_to(struct remusd_session *s, const struct remusd_env *env,
                               const char *to, struct remus_err *err);

#endif
