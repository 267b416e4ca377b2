/* Pre-shared key file loading and key derivation for rnet. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net/net_impl.h"

/* Refuse key files anyone but the owner could read or swap, so a leaked
 * or planted key cannot authenticate a rogue peer. */
static int key_check_stat(const char *path, const struct stat *st,
			  struct remus_err *err)
{
	if (!S_ISREG(st->st_mode))
		return remus_err_set(err, RNET_EKEY, "key file %s: not a regular file", path);
	if (st->st_uid != geteuid())
		return remus_err_set(err, RNET_EKEY,
				     "key file %s: owned by uid %u, not by us (uid %u)",
				     path, (unsigned)st->st_uid, (unsigned)geteuid());
	if ((st->st_mode & 0077) != 0)
		return remus_err_set(err, RNET_EKEY,
				     "key file %s: mode %04o is too open; run chmod 600 %s",
				     path, (unsigned)(st->st_mode & 07777), path);
	if (st->st_size < (off_t)RNET_KEY_MIN || st->st_size > (off_t)RNET_KEY_MAX + 2)
		return remus_err_set(err, RNET_EKEY,
				     "key file %s: size %lld outside %u..%u bytes",
				     path, (long long)st->st_size, RNET_KEY_MIN, RNET_KEY_MAX);
	return 0;
}

/* Load the key: the file's bytes minus one trailing newline (so a key made
 * with `openssl rand -hex 32 > key` and one of raw random bytes both work). */
int rnet_key_load(const char *path, struct rnet_key *key, struct remus_err *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, rc;

	memset(key, 0, sizeof(*key));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return remus_err_sys(err, errno, "key file %s", path);
	if (fstat(fd, &st) < 0) {
		rc = remus_err_sys(err, errno, "key file %s: fstat", path);
		goto out;
	}
	rc = key_check_stat(path, &st, err);
	if (rc < 0)
		goto out;
	while (got < sizeof(key->bytes)) {
		n = read(fd, key->bytes + got, sizeof(key->bytes) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = remus_err_sys(err, errno, "key file %s: read", path);
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > 0 && key->bytes[got - 1] == '\n')
		got--;
	if (got > 0 && key->bytes[got - 1] == '\r')
		got--;
	if (got < RNET_KEY_MIN || got > RNET_KEY_MAX) {
		rc = remus_err_set(err, RNET_EKEY, "key file %s: key is %zu bytes, need %u..%u",
				   path, got, RNET_KEY_MIN, RNET_KEY_MAX);
		goto out;
	}
	key->len = got;
	rc = 0;
out:
	if (rc < 0)
		OPENSSL_cleanse(key, sizeof(*key));
	close(fd);
	return rc;
}

/* HMAC-SHA256(key, label || NUL || data): the one keyed primitive rnet
 * uses, for the challenge responses and the TLS PSK, each under its own
 * label so one can never stand in for another. */
int rnet_key_derive(const struct rnet_key *key, const char *label,
		    const uint8_t *data, size_t data_len,
		    uint8_t out[RNET_MAC_LEN], struct remus_err *err)
{
	uint8_t msg[64 + 2 * RNET_HELLO_LEN + RNET_CAPS_LEN];
	size_t llen = strlen(label) + 1;
	unsigned int outlen = 0;

	if (key->len == 0)
		return remus_err_set(err, RNET_EKEY, "no key loaded");
	if (llen > 64 || data_len > sizeof(msg) - llen)
		return remus_err_set(err, RNET_EKEY, "key derivation input too long");
	memcpy(msg, label, llen);
	if (data_len > 0)
		memcpy(msg + llen, data, data_len);
	if (HMAC(EVP_sha256(), key->bytes, (int)key->len, msg, llen + data_len,
		 out, &outlen) == NULL || outlen != RNET_MAC_LEN)
		return remus_err_set(err, RNET_EKEY, "HMAC-SHA256 failed");
	return 0;
}
