/* The backup side of a driver-owned loop, shared by its two files:
 * stream_receiver.c (engine thread) and stream_receiver_pump.c (pump). */
#ifndef REMUS_CKPT_STREAM_RECEIVER_IMPL_H
#define REMUS_CKPT_STREAM_RECEIVER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/delta_impl.h"
#include "ckpt/disk_impl.h"
#include "ckpt/stream_link.h"
#include "stream/gate.h"

/* Received but not yet taken by the driver; above this the link is not
 * read until the driver catches up (heartbeats still go out). */
#define PENDING_MAX (16u << 20)

enum recv_end { END_NONE, END_LOST, END_STOPPED, END_BYE, END_HANDOVER, END_DRIVER };

struct ckpt_stream_receiver {
	struct ckpt_stream_receiver_cfg cfg;
	struct hv_guest_config gcfg;
	int sp[2];                  /* [0] the driver reads, [1] the pump writes */
	int wake[2];                /* engine -> pump: an ACK to send, or quit */
	int stop_fd;
	pthread_t pump;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* hdr_done or end */
	char name_buf[80];          /* the replica's name, if prepare set one */
	/* under lock */
	bool hdr_done;
	char *json;
	size_t json_len;
	uint64_t to_ack;
	bool quit;
	bool driver_end;            /* the driver read the stream's END: a hand-over */
	enum recv_end end;
	uint64_t end_us;            /* when the pump noticed the end */
	struct remus_err why;
	struct ckpt_stats stats;
	bool mode_known;            /* forward (or not) decided: bytes may go to the driver */
	bool forward;               /* whole checkpoints only (restore_whole_checkpoints) */
	/* disk channel (builtin backend): the pump delivers the primary's
	 * frames, the engine thread commits; disk_lock orders the two on the
	 * one diskrep handle */
	pthread_mutex_t disk_lock;
	struct disk_channel dl;
	uint64_t disk_ready;        /* last disk epoch staged whole (under disk_lock) */
	/* engine thread only */
	struct remus_err disk_err;  /* why a commit failed */
	/* pump only */
	uint8_t *pend;
	size_t pend_len, pend_off, pend_cap;
	uint64_t acked_sent;
	bool closing;
	bool mode_seen;             /* mode_known, as the pump last read it */
	bool gating;                /* bytes go through the gate, not straight to pend */
	struct stream_gate gate;
	bool delta;                 /* delta negotiated: frames are delta containers */
	struct delta_rx dx;         /* mirror of the primary's page cache */
};

/* Fault point "applying" of checkpoint N; true: stop (the stream ends). */
bool stream_recv_fault(struct ckpt_stream_receiver *r, uint64_t n);

/* The pump thread (pthread start routine; arg: the receiver). */
void *stream_recv_pump_main(void *arg);

#endif
