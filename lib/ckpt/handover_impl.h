/*
 * The parts of a planned hand-over (handover.c) shared by the engine's two
 * ways of running a primary: its own epoch loop (ckpt_sender_handover) and
 * a driver-owned loop (ckpt_stream_sender with a hand-over requested).
 * Both take the final checkpoint their own way; what follows its ACK —
 * BYE(HANDOVER), the backup's answer, cancel or in doubt — is this code.
 */
#ifndef REMUS_CKPT_HANDOVER_IMPL_H
#define REMUS_CKPT_HANDOVER_IMPL_H

#include <stdint.h>

#include "ckpt/ckpt.h"

/* Cancel: resume the guest if it is paused/suspended, release what netbuf
 * (may be NULL) holds; err says which phase failed.  Returns rc if it is
 * negative, else CKPT_EPEER. */
int handover_cancel(const struct hv_ops *hv, struct hv_guest *g, struct netbuf *nb, int rc,
               const char *phase, struct remus_err *err);
/* In doubt after final checkpoint `epoch`: nothing resumed nor released;
 * err (which says why) is rewritten into CKPT_EINDOUBT's message. */
int handover_in_doubt_error(uint64_t epoch, struct remus_err *err);
/* The backup's BYE on conn within confirm_ms: 0 BYE(RUNNING), 1 BYE(REFUSED)
 * (err says so), <0 none (link lost, timeout, another reason). */
int handover_wait_confirm(struct rnet_conn *c, uint32_t confirm_ms, struct remus_err *err);
/* A BYE already received (by a pump thread) mapped like handover_wait_confirm. */
int handover_answer(uint64_t bye, struct remus_err *err);

#endif
