/*
 * Driver-owned checkpoint loops over the replication link.
 *
 * A driver with `save_stream`/`restore_stream` (Xen: libxc's Remus loop)
 * reads and writes a plain byte stream on a file descriptor and calls the
 * engine back at each epoch boundary.  These engine parts give it one end
 * of a socketpair and pump the other end to and from the rnet connection
 * on a thread of their own (the driver blocks inside the platform library):
 *
 *  primary: bytes the driver writes -> RNET_MSG_STREAM frames; ACK frames
 *    -> the `wait_checkpoint` hook, which also waits for the next tick and
 *    releases the netbuf epoch; `suspended` closes the netbuf epoch.
 *  backup:  RNET_MSG_STREAM frames -> bytes the driver reads; its
 *    `checkpoint` hook (a complete checkpoint staged) queues ACK(N); its
 *    `stream_end` hook says the stream ended with END (a hand-over).  When
 *    the primary is lost (heartbeat timeout, closed link, error) or on a
 *    stop request, the pump ends the driver's input: libxc then fails over
 *    to the last complete checkpoint and restore_stream builds the replica.
 *
 * Disk (optional, a diskrep handle: drbd adopted under a Xen guest's disk,
 * or builtin with its frames carried on the link as RNET_MSG_DISK):
 *  primary: epoch_mark(N) while the guest is suspended for checkpoint N,
 *    before any byte of N is written (so before N can be acknowledged);
 *    epoch_acked(N) once ACK(N) arrived.
 *  backup:  commit(N) for each complete checkpoint, before ACK(N); when a
 *    replica is built: discard_uncommitted() and promote(), then `finish`
 *    (the caller's device attach), in that order; a failure of either
 *    destroys the paused replica: it never runs on a disk it cannot own.
 *
 * The rnet connection is only touched by the pump thread while a loop runs.
 */
#ifndef REMUS_CKPT_STREAM_LINK_H
#define REMUS_CKPT_STREAM_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "diskrep/diskrep.h"

struct ckpt_stream_sender_cfg {
	const struct hv_ops *hv;      /* must have save_stream */
	struct hv_guest *guest;
	struct rnet_conn *conn;       /* handshaken, not owned */
	struct netbuf *nb;            /* NULL: no output buffering (unsafe) */
	/* A lost backup leaves nb holding what it holds (the caller decides
	 * whether this copy may release it: remusd's quorum); false: released
	 * at once, the guest runs on unprotected. */
	bool hold_on_loss;
	uint32_t interval_ms;         /* epoch length from suspend to suspend; 0: 25 ms */
	uint32_t ack_timeout_ms;      /* ACK(N) later than this: peer lost; 0: 2000 */
	uint32_t confirm_ms;          /* hand-over: the backup's answer within; 0: 5000 */
	/* Sent before the driver's stream (Xen: xl's migration header with the
	 * guest's configuration, which the backup needs for its devices). */
	const void *preamble;         /* copied by _new */
	size_t preamble_len;
	/* Disk epochs (NULL: none); not owned. */
	const struct diskrep_ops *dr_ops;
	struct diskrep *dr;
	/* A backend whose frames the engine carries (builtin; not one that
	 * adopts a device): disk_fd is our end of its peer socketpair.  The
	 * run first brings the backup's disk to ours (a full resync by block
	 * hashes, the guest running, its writes travelling as epoch 1), and
	 * everything diskrep wrote before epoch_mark(N) returned goes on the
	 * link before any byte of checkpoint N's end. */
	bool disk_channel;
	int disk_fd;
	/* Test builds: the engine's fault points at the pvm sender's moments
	 * ("paused", "sent-checkpoint", "sent", "final-acked"; fault_impl.h).
	 * A stop there ends the run with CKPT_ESTOPPED as if killed: nothing
	 * more is sent, netbuf keeps what it holds. */
	struct ckpt_fault fault;
};

struct ckpt_stream_sender;

int  ckpt_stream_sender_new(const struct ckpt_stream_sender_cfg *cfg,
                            struct ckpt_stream_sender **out, struct remus_err *err);
void ckpt_stream_sender_free(struct ckpt_stream_sender *s);
/* Run the driver's save loop until stop_fd (-1: none) becomes readable
 * (CKPT_ESTOPPED, the guest runs on), `max_epochs` checkpoints were
 * acknowledged (0: no limit; returns 0), the guest fails (CKPT_EGUEST) or
 * the backup is lost (CKPT_EPEER: held output released, the guest keeps
 * running unprotected).  The connection is free for the caller afterwards. */
int  ckpt_stream_sender_run(struct ckpt_stream_sender *s, int stop_fd, uint64_t max_epochs,
                            struct remus_err *err);
void ckpt_stream_sender_stats(struct ckpt_stream_sender *s, struct ckpt_stats *out);
/* Epoch length from the next epoch on (any thread; 1..10000 ms). */
int  ckpt_stream_sender_set_interval(struct ckpt_stream_sender *s, uint32_t ms,
                                     struct remus_err *err);
/* Make the next stop request (stop_fd) a planned hand-over (evacuation) with
 * ckpt_sender_handover's guarantees; call it before writing stop_fd (any
 * thread).  ckpt_stream_sender_run then waits for every checkpoint's ACK
 * (prepare), has the driver take a final checkpoint with the guest left
 * suspended (perform; hv_stream_hooks.final), and once that is acknowledged
 * ends the driver's stream with END (HV_STREAM_HANDED_OVER) and sends
 * BYE(HANDOVER) (finish).  It returns 0 when the backup confirmed
 * (BYE(RUNNING)): the guest is left suspended for the caller to destroy.
 * CKPT_EINDOUBT: the final checkpoint was acknowledged but no answer came:
 * the guest stays suspended, its later output held.  Other <0: cancelled
 * (before the final ACK, or BYE(REFUSED)): the guest runs here again,
 * unprotected, held output released, err names the phase. */
void ckpt_stream_sender_request_handover(struct ckpt_stream_sender *s);

struct ckpt_stream_receiver_cfg {
	const struct hv_ops *hv;      /* must have restore_stream */
	const struct hv_guest_config *guest_cfg;   /* copied by _new (not the strings) */
	struct rnet_conn *conn;       /* handshaken, not owned */
	/* The stream starts with xl's migration header (the guest's libxl JSON
	 * configuration): it is taken off before the driver reads, checked,
	 * and handed to `prepare`, which may adjust the guest config (name,
	 * memory) through `name_buf` before the driver starts. */
	bool xl_header;
	int (*prepare)(void *arg, const char *json, size_t len, struct hv_guest_config *gcfg,
	               char *name_buf, size_t name_cap, struct remus_err *err);
	/* A replica was built (paused) and its disk promoted: attach its
	 * devices.  Optional; on error the replica is destroyed. */
	int (*finish)(void *arg, struct hv_guest *replica, struct remus_err *err);
	void *arg;
	/* Disk commits and the failover's promote (NULL: none); not owned. */
	const struct diskrep_ops *dr_ops;
	struct diskrep *dr;
	/* The backend's frames come over the link (builtin): disk_fd is our end
	 * of its peer socketpair; checkpoint N commits only with disk epoch N
	 * staged whole. */
	bool disk_channel;
	int disk_fd;
	/* Test builds: "applying" (checkpoint N complete, not committed or
	 * acknowledged); a stop there fails over without N (CKPT_ESTOPPED). */
	struct ckpt_fault fault;
};

struct ckpt_stream_receiver;

int  ckpt_stream_receiver_new(const struct ckpt_stream_receiver_cfg *cfg,
                              struct ckpt_stream_receiver **out, struct remus_err *err);
void ckpt_stream_receiver_free(struct ckpt_stream_receiver *r);
/* Receive until the stream stops, then let the driver build the replica
 * from the last complete checkpoint.  CKPT_EPEER (primary lost),
 * CKPT_ESTOPPED (stop_fd), CKPT_HANDOVER (the primary handed over): *out
 * is the paused replica, the caller starts it.  0: the primary ended
 * protection (BYE END), no replica is kept (*out NULL).  Other negative:
 * no replica could be built (CKPT_ENOREPLICA before any checkpoint). */
int  ckpt_stream_receiver_run(struct ckpt_stream_receiver *r, int stop_fd,
                              struct hv_guest **out, struct remus_err *err);
void ckpt_stream_receiver_stats(struct ckpt_stream_receiver *r, struct ckpt_stats *out);
/* When the pump noticed the stream stop (ckpt_now_us clock; 0: not yet):
 * the start of the backup's failover. */
uint64_t ckpt_stream_receiver_end_us(struct ckpt_stream_receiver *r);
/* The configuration from xl's header (NULL before it arrived). */
const char *ckpt_stream_receiver_config(const struct ckpt_stream_receiver *r, size_t *len);
/* From the replica's finish hook: the caller takes the disk handle back
 * (to reopen the image as the running guest's); the receiver forgets it. */
void ckpt_stream_receiver_release_disk(struct ckpt_stream_receiver *r);

#endif
