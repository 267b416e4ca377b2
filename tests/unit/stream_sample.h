/*
 * Deterministic sample streams for the stream tests, fuzz seeds and golden
 * fixtures: a small x86 HVM guest (a few pages, one vCPU), written in Xen's
 * plain layout or in the checkpointed (Remus) layout.
 */
#ifndef REMUS_TESTS_STREAM_SAMPLE_H
#define REMUS_TESTS_STREAM_SAMPLE_H

#include <stdint.h>

#include "stream/stream.h"

#define SAMPLE_PAGES 6   /* RAM pages of the sample guest */

/* Page content of pfn in checkpoint `gen` (0 = first). */
void sample_page(uint8_t *page, uint64_t pfn, unsigned gen);

/* HVM_CONTEXT blob of checkpoint `gen`: header, one CPU, END. */
int sample_hvm_blob(struct stream_buf *b, unsigned gen);

/* Start of a stream: libxl header, LIBXC_CONTEXT, libxc headers, static data. */
int sample_stream_start(struct stream_buf *b);
/*
 * The libxc records of one checkpoint's end state (PAGE_DATA of the pages
 * dirtied in `gen`, TSC_INFO, HVM_CONTEXT, HVM_PARAMS).
 */
int sample_checkpoint_body(struct stream_buf *b, unsigned gen);
/* The libxl records that follow a CHECKPOINT (emulator records). */
int sample_libxl_records(struct stream_buf *b, unsigned gen, int with_xenstore);

/* A complete plain stream (libxc END, libxl END). */
int sample_plain_stream(struct stream_buf *b);
/*
 * A checkpointed stream of `n` checkpoints; `clean_end`: libxc END + libxl
 * END after them, else it stops after the last CHECKPOINT_END (failover).
 */
int sample_checkpointed_stream(struct stream_buf *b, unsigned n, int clean_end, int with_xenstore);

/* Copy a buffer's content into a new allocation (caller frees). */
uint8_t *sample_flatten(const struct stream_buf *b, size_t *len);

#endif
