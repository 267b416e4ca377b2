/* remus-stream: shared declarations of the tool's files. */
#ifndef REMUS_TOOLS_REMUS_STREAM_H
#define REMUS_TOOLS_REMUS_STREAM_H

#include <stddef.h>

#include "stream/stream.h"

/* Human summary of one item (empty when there is nothing to add). */
void rs_summary(const struct stream_reader *rd, const struct stream_rec *r, char *s, size_t n);

#endif
