/* libFuzzer target: the backup side of the handshake state machine fed
 * arbitrary bytes from a "primary" over a socketpair.  Whatever arrives,
 * it must end in a refusal, a timeout or (never, without the key) a conn. */
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rnet_key key = { .len = 32 };
	struct rnet_params p = { .key = &key, .handshake_ms = 1000 };
	struct remus_err err = { 0 };
	struct rnet_conn *conn = NULL;
	struct rnet_hs *hs = NULL;
	uint8_t sink[4096];
	int sv[2], rc, steps;

	if (size > 65536 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return 0;
	memset(key.bytes, 0x42, key.len);
	p.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE);
	strcpy(p.caps.hv, "pvm");
	strcpy(p.caps.guest, "kvstore");
	if (size > 0 && write(sv[0], data, size) < 0)
		abort();
	shutdown(sv[0], SHUT_WR);      /* the peer says nothing more */
	if (rnet_hs_start(sv[1], false, &p, 0, &hs, &err) != 0)
		abort();
	for (steps = 0, rc = 0; rc == 0 && steps < 64; steps++) {
		rc = rnet_hs_step(hs, 1, &conn, &err);
		while (read(sv[0], sink, sizeof(sink)) > 0)
			;
	}
	/* input is finite and the peer shut down: the machine must have ended */
	if (rc == 0 || (rc == 1 && conn == NULL))
		abort();
	rnet_conn_free(conn);
	rnet_hs_free(hs);
	close(sv[0]);
	return 0;
}
