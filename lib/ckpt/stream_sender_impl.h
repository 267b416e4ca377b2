/* The primary side of a driver-owned loop, shared by its two files:
 * stream_sender.c (engine thread: the driver's hooks) and
 * stream_sender_pump.c (the pump thread: driver bytes to the link). */
#ifndef REMUS_CKPT_STREAM_SENDER_IMPL_H
#define REMUS_CKPT_STREAM_SENDER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/disk_impl.h"
#include "ckpt/stream_delta_impl.h"
#include "ckpt/stream_link.h"

#define SEND_CHUNK (256u * 1024u)

struct ckpt_stream_sender {
	struct ckpt_stream_sender_cfg cfg;
	int sp[2];                  /* [0] the driver writes, [1] the pump reads */
	int stop_fd;
	pthread_t pump;
	bool pump_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* under lock: written by the pump, read by the engine thread */
	uint64_t acked;
	bool peer_lost, stop_requested, pump_done;
	bool handover;              /* a stop request means: hand over */
	bool got_bye;               /* the backup's BYE (peer_bye) arrived */
	uint64_t peer_bye;
	struct remus_err peer_err;
	struct ckpt_stats stats;
	bool drained;               /* test builds: the pump forwarded all it read */
	bool killed;                /* test builds: stopped at a fault point, send nothing more */
	/* engine thread only */
	uint64_t epoch, max_epochs, t_epoch_us, t_suspended_us;
	bool reached_max, stopped;
	bool final;                 /* the next / last checkpoint is the hand-over's final one */
	bool handed;                /* the final checkpoint was acknowledged */
	bool window;                /* the disk's dual-primary window is open */
	bool fault_stopped;         /* a fault point said stop (hook_err says which) */
	struct remus_err hook_err;
	struct disk_channel dl;     /* disk_channel: the builtin backend's frames (pump) */
	/* pump only */
	uint8_t *chunk;
	size_t chunk_len;
	bool eof;
	bool delta;                 /* delta negotiated: pages through the encoder */
	struct stream_delta_tx dtx;
};

/* The pump thread (pthread start routine; arg: the sender). */
void *stream_send_pump_main(void *arg);

#endif
