/*
 * rnet byte transport over TLS 1.3 with an external PSK (no certificates):
 * both ends derive the PSK from the key file, so only holders of the key
 * complete the TLS handshake; (EC)DHE key exchange keeps forward secrecy.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/net_impl.h"

#define TLS_PSK_IDENTITY "remus-psk-v1"
static const unsigned char tls_aes128gcm_sha256[2] = { 0x13, 0x01 };

struct tls_state {
	SSL_CTX *ctx;
	SSL *ssl;
	bool server, peeked, done;
	uint8_t psk[RNET_MAC_LEN];
};

/* Turn the OpenSSL error queue into one line of context. */
static int tls_err(struct remus_err *err, int code, const char *what)
{
	char buf[160];
	unsigned long e = ERR_get_error();

	if (e == 0)
		snprintf(buf, sizeof(buf), "no detail");
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return remus_err_set(err, code, "TLS %s failed: %s", what, buf);
}

/* A TLS 1.3 session object standing for our PSK. */
static SSL_SESSION *tls_psk_session(SSL *ssl, const struct tls_state *st)
{
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, tls_aes128gcm_sha256);
	SSL_SESSION *s;

	if (cipher == NULL)
		return NULL;
	s = SSL_SESSION_new();
	if (s == NULL)
		return NULL;
	if (SSL_SESSION_set1_master_key(s, st->psk, sizeof(st->psk)) != 1 ||
	    SSL_SESSION_set_cipher(s, cipher) != 1 ||
	    SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION) != 1) {
		SSL_SESSION_free(s);
		return NULL;
	}
	return s;
}

/* Client: offer our PSK under the fixed identity. */
static int tls_psk_use_cb(SSL *ssl, const EVP_MD *md, const unsigned char **id,
			  size_t *idlen, SSL_SESSION **sess)
{
	const struct tls_state *st = SSL_get_app_data(ssl);
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, tls_aes128gcm_sha256);

	*sess = NULL;
	if (cipher == NULL)
		return 0;
	if (md != NULL && md != SSL_CIPHER_get_handshake_digest(cipher))
		return 1;
	*sess = tls_psk_session(ssl, st);
	if (*sess == NULL)
		return 0;
	*id = (const unsigned char *)TLS_PSK_IDENTITY;
	*idlen = strlen(TLS_PSK_IDENTITY);
	return 1;
}

/* Server: accept only our identity; the binder check proves the key. */
static int tls_psk_find_cb(SSL *ssl, const unsigned char *id, size_t idlen,
			   SSL_SESSION **sess)
{
	const struct tls_state *st = SSL_get_app_data(ssl);

	*sess = NULL;
	if (idlen != strlen(TLS_PSK_IDENTITY) || memcmp(id, TLS_PSK_IDENTITY, idlen) != 0)
		return 1;
	*sess = tls_psk_session(ssl, st);
	return *sess != NULL;
}

/* Map an SSL_read/SSL_write result to the io contract. */
static ssize_t tls_result(struct rnet_io *io, int ok, size_t n, const char *what,
			  struct remus_err *err)
{
	struct tls_state *st = io->priv;
	int e;

	if (ok == 1)
		return (ssize_t)n;
	e = SSL_get_error(st->ssl, ok);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (errno == EAGAIN || errno == EINTR)
			return -EAGAIN;
		return remus_err_set(err, RNET_ECLOSED, "peer closed the TLS connection");
	default:
		return tls_err(err, RNET_ETLS, what);
	}
}

/* Decrypted bytes, if a whole record is in. */
static ssize_t tls_read(struct rnet_io *io, void *buf, size_t len, struct remus_err *err)
{
	struct tls_state *st = io->priv;
	size_t n = 0;
	int ok;

	ERR_clear_error();
	ok = SSL_read_ex(st->ssl, buf, len, &n);
	return tls_result(io, ok, n, "read", err);
}

/* Encrypt and send; partial writes allowed (one record at a time). */
static ssize_t tls_write(struct rnet_io *io, const void *buf, size_t len,
			 struct remus_err *err)
{
	struct tls_state *st = io->priv;
	size_t n = 0;
	int ok;

	ERR_clear_error();
	ok = SSL_write_ex(st->ssl, buf, len, &n);
	return tls_result(io, ok, n, "write", err);
}

/* Decrypted bytes buffered in OpenSSL that poll() cannot see. */
static size_t tls_pending(struct rnet_io *io)
{
	struct tls_state *st = io->priv;

	return (size_t)SSL_pending(st->ssl);
}

/* Release the TLS session and wipe the derived PSK. */
static void tls_free(struct rnet_io *io)
{
	struct tls_state *st = io->priv;

	if (st == NULL)
		return;
	SSL_free(st->ssl);
	SSL_CTX_free(st->ctx);
	OPENSSL_cleanse(st->psk, sizeof(st->psk));
	free(st);
	io->priv = NULL;
}

static const struct rnet_io_ops tls_ops = {
	.name = "tls",
	.read = tls_read,
	.write = tls_write,
	.pending = tls_pending,
	.free = tls_free,
};

/* The server peeks at the first byte so a plain-mode peer gets a clear
 * "tls is off there" instead of an opaque TLS alert.  1 when judged,
 * 0 when nothing has arrived yet. */
static int tls_peek_plain_peer(struct tls_state *st, int fd, struct remus_err *err)
{
	uint8_t b = 0;
	ssize_t n = recv(fd, &b, 1, MSG_PEEK);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	if (n < 0)
		return remus_err_sys(err, errno, "recv");
	if (n == 0)
		return remus_err_set(err, RNET_ECLOSED, "peer closed before the TLS handshake");
	if (b != 0x16)
		return remus_err_set(err, RNET_ETLS,
				     "peer does not speak TLS: set tls on both sides");
	st->peeked = true;
	return 1;
}

/* One non-blocking step of SSL_connect/SSL_accept: 1 done, 0 wait for
 * *events, <0 failed (a wrong key shows up here). */
int rnet_io_tls_step(struct rnet_io *io, short *events, struct remus_err *err)
{
	struct tls_state *st = io->priv;
	int ok, e;

	if (st->done)
		return 1;
	if (st->server && !st->peeked) {
		ok = tls_peek_plain_peer(st, io->fd, err);
		if (ok <= 0) {
			*events = POLLIN;
			return ok;
		}
	}
	ERR_clear_error();
	ok = st->server ? SSL_accept(st->ssl) : SSL_connect(st->ssl);
	if (ok == 1) {
		st->done = true;
		return 1;
	}
	e = SSL_get_error(st->ssl, ok);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return 0;
	}
	if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		return remus_err_set(err, RNET_EAUTH,
				     "TLS handshake: peer closed the connection (wrong key?)");
	return tls_err(err, RNET_EAUTH, "handshake (wrong key?)");
}

/* Build the PSK-only TLS 1.3 context for one connection. */
static int tls_setup(struct tls_state *st, int fd, bool server, struct remus_err *err)
{
	st->ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (st->ctx == NULL)
		return tls_err(err, RNET_ETLS, "context");
	if (SSL_CTX_set_min_proto_version(st->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(st->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_ciphersuites(st->ctx, "TLS_AES_128_GCM_SHA256") != 1 ||
	    SSL_CTX_set_num_tickets(st->ctx, 0) != 1)
		return tls_err(err, RNET_ETLS, "configuration");
	SSL_CTX_set_mode(st->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (server)
		SSL_CTX_set_psk_find_session_callback(st->ctx, tls_psk_find_cb);
	else
		SSL_CTX_set_psk_use_session_callback(st->ctx, tls_psk_use_cb);
	st->ssl = SSL_new(st->ctx);
	if (st->ssl == NULL || SSL_set_fd(st->ssl, fd) != 1)
		return tls_err(err, RNET_ETLS, "session");
	SSL_set_app_data(st->ssl, st);
	return 0;
}

/* Wrap fd in TLS; the handshake itself runs through rnet_io_tls_step. */
int rnet_io_tls_new(int fd, bool server, const struct rnet_key *key,
		    struct rnet_io **out, struct remus_err *err)
{
	struct tls_state *st = calloc(1, sizeof(*st));
	struct rnet_io *io = NULL;
	int rc;

	if (st == NULL)
		return remus_err_sys(err, ENOMEM, "rnet tls");
	st->server = server;
	rc = rnet_key_derive(key, "remus tls psk v1", NULL, 0, st->psk, err);
	if (rc < 0)
		goto err;
	rc = tls_setup(st, fd, server, err);
	if (rc < 0)
		goto err;
	io = calloc(1, sizeof(*io));
	if (io == NULL) {
		rc = remus_err_sys(err, ENOMEM, "rnet tls io");
		goto err;
	}
	io->ops = &tls_ops;
	io->fd = fd;
	io->priv = st;
	*out = io;
	return 0;
err:
	SSL_free(st->ssl);
	SSL_CTX_free(st->ctx);
	OPENSSL_cleanse(st->psk, sizeof(st->psk));
	free(st);
	return rc;
}
