/*
 * Live update of remusd (issue 18), the daemon's side: the old daemon
 * pauses every guest, hands each off (hv_ops hand_off), starts the new
 * binary with one end of a socketpair as --upgrade-fd, sends it the
 * hand-over stream (upgrade_stream.h) with every descriptor, and waits a
 * bounded time for its answer: "OK" and the old daemon exits, anything
 * else (a refusal, an exit, silence) and it adopts its guests again and
 * carries on.  The new daemon adopts everything paused, answers, and only
 * then lets the guests run.
 */
#ifndef REMUS_REMUSD_UPGRADE_H
#define REMUS_REMUSD_UPGRADE_H

#include <stdint.h>
#include <sys/types.h>

#include "remusd/daemon.h"

/* How long the old daemon waits for the new one's answer (ms); the
 * environment's REMUSD_UPGRADE_TIMEOUT_MS overrides it (tests). */
#define REMUSD_UPGRADE_CONFIRM_MS 10000u
#define REMUSD_UPGRADE_TIMEOUT_ENV "REMUSD_UPGRADE_TIMEOUT_MS"

/* Old daemon: hand everything over to exec_path (NULL or "": the binary
 * this daemon was started from, as installed now).  0: the new daemon
 * (*new_pid) confirmed and owns every guest and socket: exit at once,
 * touching nothing; *pause_us: from the first guest's pause to the
 * confirmation (the new daemon resumes the guests right after it).  <0: refused or taken back, err says why, everything
 * runs as before. */
int daemon_upgrade(struct daemon *d, const char *exec_path, pid_t *new_pid,
                   uint64_t *pause_us, struct remus_err *err);
/* The control request: the reply, then the exit on success. */
int daemon_handle_upgrade(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m);
/* After a confirmed upgrade: tell systemd the new main pid, log, exit. */
void daemon_upgrade_exit(pid_t new_pid, uint64_t pause_us) __attribute__((noreturn));

/* New daemon (--upgrade-fd): take the sockets and guests the old daemon
 * passed on fd; 0 with d->listen_fd and d->ctl set (the guests run), or
 * <0 after answering the refusal (the old daemon takes everything back). */
int daemon_upgrade_resume(struct daemon *d, int fd, struct remus_err *err);

#endif
