/* The engine's named fault points (test builds: struct ckpt_fault), one
 * mechanism for every loop: pvm's (sender.c, receiver.c, handover.c) and
 * the driver-owned ones (stream_sender.c, stream_receiver*.c) name the same
 * moments the same way, so a fault trial means the same on either path. */
#ifndef REMUS_CKPT_FAULT_IMPL_H
#define REMUS_CKPT_FAULT_IMPL_H

#include <stdint.h>

#include "ckpt/ckpt.h"

/* primary: the guest is suspended for checkpoint N, nothing of N sent */
#define CKPT_FAULT_PAUSED          "paused"
/* primary: the guest's store of checkpoint N is saved (quiesced), the guest
 * still paused, nothing of N sent */
#define CKPT_FAULT_STORE_SAVED     "store-saved"
/* primary (copy-on-write capture): the guest runs while N is copied out */
#define CKPT_FAULT_COPY_OUT        "copy-out"
/* primary: CHECKPOINT of N is on the wire, CHECKPOINT_END is not */
#define CKPT_FAULT_SENT_CHECKPOINT "sent-checkpoint"
/* primary: all of N is on the wire, no ACK yet */
#define CKPT_FAULT_SENT            "sent"
/* primary: the hand-over's final checkpoint was acknowledged */
#define CKPT_FAULT_FINAL_ACKED     "final-acked"
/* backup: N arrived complete, not committed or acknowledged yet */
#define CKPT_FAULT_APPLYING        "applying"

/* Call fault point `point` for epoch N: 0 to go on; CKPT_ESTOPPED (err
 * names the point) when the hook says stop here, as if killed. */
int ckpt_fault(const struct ckpt_fault *f, const char *point, uint64_t epoch,
               struct remus_err *err);

#endif
