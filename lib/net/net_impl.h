/*
 * Internal to lib/net: the byte transport under a connection (plain TCP or
 * TLS, one file each) and the helpers the handshake and conn share.
 */
#ifndef REMUS_NET_IMPL_H
#define REMUS_NET_IMPL_H

#include <sys/types.h>
#include <sys/uio.h>

#include "net/net.h"
#include "util/bytes.h"

struct rnet_io;

/* read/write return >0 bytes, 0 on EOF (read only), -EAGAIN when the
 * socket would block, or another negative error with err set. */
struct rnet_io_ops {
	const char *name;
	ssize_t (*read)(struct rnet_io *io, void *buf, size_t len, struct remus_err *err);
	ssize_t (*write)(struct rnet_io *io, const void *buf, size_t len, struct remus_err *err);
	/* Optional gathered write (same returns); NULL: not offered (TLS). */
	ssize_t (*writev)(struct rnet_io *io, const struct iovec *iov, int n, struct remus_err *err);
	/* Bytes already decrypted and buffered inside the layer. */
	size_t (*pending)(struct rnet_io *io);
	void (*free)(struct rnet_io *io);
};

struct rnet_io {
	const struct rnet_io_ops *ops;
	int fd;
	void *priv;                 /* backend state (SSL *) */
};

/* Both take ownership of fd only on success. */
int rnet_io_plain_new(int fd, struct rnet_io **out, struct remus_err *err);
/* Sets up TLS 1.3 with the PSK; rnet_io_tls_step then runs its handshake
 * without blocking: 1 done, 0 wait for *events (POLLIN/POLLOUT), <0 error. */
int rnet_io_tls_new(int fd, bool server, const struct rnet_key *key,
		    struct rnet_io **out, struct remus_err *err);
int rnet_io_tls_step(struct rnet_io *io, short *events, struct remus_err *err);
void rnet_io_free(struct rnet_io *io);

/* Wait until fd is ready for `events` or the deadline passes. */
int rnet_wait_fd(int fd, short events, uint64_t deadline_ms, struct remus_err *err);

/* Derive a purpose-bound 32-byte secret from the PSK (HMAC(key, label)). */
int rnet_key_derive(const struct rnet_key *key, const char *label,
		    const uint8_t *data, size_t data_len,
		    uint8_t out[RNET_MAC_LEN], struct remus_err *err);

/* Wrap an authenticated io into a connection (takes ownership of io, also
 * on failure); `compress` is the session's agreed kind. */
int rnet_conn_new(struct rnet_io *io, const struct rnet_params *p,
		  const struct rnet_caps *peer, uint32_t compress, struct rnet_conn **out,
		  struct remus_err *err);


#endif
