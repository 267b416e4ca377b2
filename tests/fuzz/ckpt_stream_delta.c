/*
 * libFuzzer target: delta compression of a driver's stream (the Xen path,
 * lib/ckpt/stream_delta.c) and the backup's mirror (delta.c).
 * Byte 0 selects the mode, byte 1 the piece size, the rest is:
 *  - mode even: a driver's stream (the stream reader follows it, a refused
 *    one goes RAW from there): encoded in pieces, decoded by a mirror sized
 *    from the CACHE item, the rebuilt bytes must equal the input exactly;
 *  - mode odd: container bytes from a hostile primary into the mirror: never
 *    a crash or a leak, and a mirror that failed hands on nothing more.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/delta_impl.h"
#include "ckpt/stream_delta_impl.h"

static void roundtrip(const uint8_t *d, size_t size, size_t piece)
{
	struct remus_err err = { 0 };
	struct stream_delta_tx tx;
	struct delta_rx rx;
	uint8_t *got = malloc(size ? size : 1);
	size_t got_len = 0;

	if (got == NULL || stream_delta_init(&tx, delta_slots(64), &err) < 0)
		abort();
	delta_rx_init_announced(&rx, STREAM_PFN_MASK + 1);
	for (size_t off = 0; off <= size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		if (n > 0 && stream_delta_feed(&tx, d + off, n, &err) < 0)
			abort();
		if (off + n == size && stream_delta_finish(&tx, &err) < 0)
			abort();
		if (delta_rx_feed(&rx, tx.out + tx.out_off, stream_delta_pending(&tx), &err) < 0)
			abort();        /* our own encoding always decodes */
		tx.out_off = tx.out_len;
		if (got_len + rx.plain_len > size)
			abort();
		if (rx.plain_len > 0)
			memcpy(got + got_len, rx.plain, rx.plain_len);
		got_len += rx.plain_len;
		if (off + n == size)
			break;
	}
	if (got_len != size || (size && memcmp(got, d, size) != 0) || rx.in_len != 0)
		abort();        /* byte for byte, nothing left over */
	stream_delta_free(&tx);
	delta_rx_free(&rx);
	free(got);
}

static void hostile(const uint8_t *d, size_t size, size_t piece)
{
	struct remus_err err = { 0 };
	struct delta_rx rx;

	delta_rx_init_announced(&rx, STREAM_PFN_MASK + 1);
	for (size_t off = 0; off < size; off += piece) {
		size_t n = size - off < piece ? size - off : piece;

		if (delta_rx_feed(&rx, d + off, n, &err) < 0) {
			if (err.msg[0] == '\0')
				abort();
			break;
		}
		if (rx.plain_len > 0 && rx.slots == 0)
			abort();        /* nothing decoded before the cache size */
	}
	delta_rx_free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece;

	if (size < 2)
		return 0;
	piece = data[1] ? (size_t)data[1] * 37u : 1;
	if (data[0] & 1)
		hostile(data + 2, size - 2, piece);
	else
		roundtrip(data + 2, size - 2, piece);
	return 0;
}
