/* Internal state of the sender, shared by sender.c (the epoch) and
 * sender_io.c (the wire and the loop). */
#ifndef REMUS_CKPT_SENDER_IMPL_H
#define REMUS_CKPT_SENDER_IMPL_H

#include <pthread.h>

#include "ckpt/ckpt.h"
#include "ckpt/delta_impl.h"
#include "ckpt/disk_impl.h"
#include "ckpt/pagehash_impl.h"
#include "stream/stream.h"

#define CKPT_MAX_PRECOPY_ROUNDS 8u
/* Pre-copy PAGE_DATA records are cut to fit one rnet frame (header, pfn
 * list and pages within RNET_BODY_MAX), and each goes out as one frame:
 * the backup's stream reader then parses them in place, no copy. */
#define CKPT_RECORD_PAGES 255u

/* The disk resync of the initial synchronisation (helper thread). */
struct resync_job {
	pthread_t th;
	bool running;           /* started, not joined */
	int done;               /* atomic: the thread finished */
	int rc;
	struct remus_err err;
};

struct ckpt_sender {
	struct ckpt_sender_cfg cfg;
	struct hv_info info;
	unsigned max_rounds;
	uint64_t stop_pages;
	uint32_t interval_ms, ack_timeout_ms;
	struct stream_buf out;        /* records being queued */
	struct hv_pfn_list dirty;
	uint8_t *pages;               /* copied pages (pre-faulted, reused) */
	const uint8_t *live;          /* the driver's view of guest RAM, or NULL */
	size_t pages_cap;
	struct hv_blob hvm, emu;
	struct hv_blob store;         /* REMUS_XENSTORE body (cfg.xenstore) */
	uint64_t epoch;               /* last checkpoint taken */
	uint64_t acked;               /* last checkpoint acknowledged */
	uint64_t peer_acked;          /* highest ACK heard (resume: the replica's checkpoint) */
	uint64_t resumed_ms;          /* ckpt_sender_resume began */
	uint64_t sent_ms;             /* when the oldest unacked one was taken */
	pthread_mutex_t lock;         /* guards st */
	struct ckpt_stats st;
	struct disk_channel dl;           /* disk channel */
	bool delta;                   /* delta compression negotiated */
	uint32_t want_compress;       /* atomic: ckpt_sender_set_compress, +1 (0: none asked) */
	struct delta_tx dx;
	bool final;                   /* hand-over: the guest stays paused */
	bool reverse;                 /* hand-over: ask to be protected back */
	uint32_t peer_bye;            /* backup's BYE reason + 1; 0: none */
	const uint64_t *cur_pfns;     /* pfns of the pages in s->pages being queued */
	struct ckpt_progress prog;    /* initial sync (guarded by lock) */
	pthread_mutex_t prog_lock;    /* orders progress reports */
	struct resync_job rs;
	struct pagehash_offer offer;      /* what the backup's replica RAM holds */
};

void sender_report(struct ckpt_sender *s);
/* PAGE_DATA records for pfns[0..n): copied into s->pages, or (live) the
 * guest's own pages, referenced; copy_paused copies them out of the
 * paused guest into s->pages (sender.c, used by sender_sync.c too). */
int  sender_put_pages_from(struct ckpt_sender *s, const uint64_t *pfns, size_t n, bool live,
                           struct remus_err *err);
int  sender_put_pages(struct ckpt_sender *s, const uint64_t *pfns, size_t n,
                      struct remus_err *err);
int  sender_copy_paused(struct ckpt_sender *s, const uint64_t *pfns, size_t n,
                        struct remus_err *err);
int  sender_fault(struct ckpt_sender *s, const char *point, uint64_t epoch, struct remus_err *err);
int  sender_take_checkpoint(struct ckpt_sender *s, struct remus_err *err);
/* Checkpoint n is acknowledged (by the backup, or at once: blackhole). */
int  sender_handle_ack(struct ckpt_sender *s, uint64_t n, struct remus_err *err);
int  sender_send_out(struct ckpt_sender *s, struct remus_err *err);
int  sender_pump(struct ckpt_sender *s, int stop_fd, int timeout_ms, struct remus_err *err);
int  sender_forward_disk(struct ckpt_sender *s, struct remus_err *err);
int  sender_drain(struct ckpt_sender *s, struct remus_err *err);
/* The backup may take long to apply the whole first checkpoint. */
#define CKPT_FIRST_ACK_MS 60000u
int  sender_wait_ack(struct ckpt_sender *s, uint64_t n, uint32_t timeout_ms, struct remus_err *err);
int  sender_guest_alive(struct ckpt_sender *s, struct remus_err *err);
int  sender_lost(struct ckpt_sender *s, int rc, struct remus_err *err);
void sender_note_memory(struct ckpt_sender *s);
void sender_lock(struct ckpt_sender *s);
void sender_unlock(struct ckpt_sender *s);

#endif
