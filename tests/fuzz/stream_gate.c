/*
 * Fuzz target for the checkpoint gate (lib/stream/gate.c): bytes from the
 * primary that a backup forwards to libxl only checkpoint by checkpoint.
 *
 * Input: byte 0 selects the bound on held bytes, byte 1 the piece size,
 * the rest is the stream (from the libxl header on).  Checks, beyond "no
 * crash, no leak, no UB":
 *   - the held bytes never exceed the bound by more than one piece;
 *   - released bytes are a prefix of the input, in order, and end exactly
 *     where the stream reader alone counts a checkpoint's end or END;
 *   - feeding in pieces releases exactly what feeding it whole releases.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/gate.h"

/* Feed in pieces; returns how many bytes were released in total. */
static size_t run(const uint8_t *d, size_t len, size_t piece, uint64_t bound, uint64_t *ckpts,
    int *fail)
{
	struct stream_gate g;
	size_t pos = 0, out = 0;

	stream_gate_init(&g, bound);
	*fail = 0;
	while (pos < len) {
		size_t n = len - pos < piece ? len - pos : piece, rl;
		const uint8_t *r;
		int rc = stream_gate_feed(&g, d + pos, n);

		pos += n;
		if (rc < 0 && g.err.msg[0] == '\0')
			abort();                /* a failure always says why */
		if (rc >= 0 && stream_gate_held(&g) > bound + piece)
			abort();
		/* released: also what completed before a bad byte of this piece */
		r = stream_gate_released(&g, &rl);
		if (rc > 0 && rl == 0)
			abort();                /* a complete checkpoint has bytes */
		if (rl > 0) {
			if (out + rl > len || memcmp(r, d + out, rl) != 0)
				abort();            /* released bytes are the input, in order */
			out += rl;
			stream_gate_consume(&g);
		}
		if (rc < 0) {
			*fail = 1;
			break;
		}
	}
	*ckpts = g.checkpoints;
	stream_gate_free(&g);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t bounds[4] = { 64, 4096, 1u << 16, 1u << 24 };
	uint64_t c1, c2;
	size_t piece, a, b;
	int f1, f2;

	if (size < 2)
		return 0;
	piece = data[1] ? data[1] : 1;
	a = run(data + 2, size - 2, size, bounds[data[0] & 3], &c1, &f1);
	b = run(data + 2, size - 2, piece, bounds[data[0] & 3], &c2, &f2);
	/* the bound may trip on a different piece; without it both agree */
	if ((data[0] & 3) == 3 && (a != b || c1 != c2 || f1 != f2))
		abort();
	return 0;
}
