/* Pre-shared key file loading and key derivation for rnet. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "net/net_impl.h"

/* Refuse key files anyone but the owner could read or swap, so a leaked
 * or planted key cannot authenticate a rogue peer; and anything but a
 * regular file (a FIFO would hang us, a device never end). */
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
	if (st->st_size < 1 || st->st_size > (off_t)RNET_KEY_FILE_MAX)
		return remus_err_set(err, RNET_EKEY,
				     "key file %s: size %lld outside 1..%u bytes",
				     path, (long long)st->st_size, RNET_KEY_FILE_MAX);
	return 0;
}

/* Read exactly the file's size (fstat), and make sure nothing follows:
 * a file that grew meanwhile is refused, never cut short. */
static int key_read_exact(int fd, const char *path, uint8_t *buf, size_t size,
			  struct remus_err *err)
{
	size_t got = 0;
	uint8_t extra;
	ssize_t n;

	while (got <= size) {
		n = got < size ? read(fd, buf + got, size - got) : read(fd, &extra, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "key file %s: read", path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got != size)
		return remus_err_set(err, RNET_EKEY, "key file %s: %zu bytes read, its size is %zu "
				     "(changed while read)", path, got, size);
	return 0;
}

/* Hex: only hex digits, an even count. */
static bool key_is_hex(const uint8_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isxdigit(t[i]))
			return false;
	return n % 2 == 0;
}

/* Decode the key text: hex if it is only hex digits, else base64 (RFC
 * 4648, padded, no line breaks).  The secret is the decoded bytes. */
static int key_decode(const char *path, const uint8_t *t, size_t n, struct rnet_key *key,
		      struct remus_err *err)
{
	size_t i, pad = 0;
	int out;

	if (n == 0)
		return remus_err_set(err, RNET_EKEY, "key file %s: empty", path);
	if (key_is_hex(t, n)) {
		if (n / 2 > RNET_KEY_MAX)
			return remus_err_set(err, RNET_EKEY, "key file %s: key longer than %u bytes",
					     path, RNET_KEY_MAX);
		for (i = 0; i < n / 2; i++) {
			char h[3] = { (char)t[2 * i], (char)t[2 * i + 1], 0 };
			key->bytes[i] = (uint8_t)strtoul(h, NULL, 16);
		}
		key->len = n / 2;
		return 0;
	}
	for (i = 0; i < n; i++)
		if (!isalnum(t[i]) && t[i] != '+' && t[i] != '/' && !(t[i] == '=' && i >= n - 2))
			return remus_err_set(err, RNET_EKEY, "key file %s: neither hex nor base64 "
					     "(byte %zu is %#x)", path, i, t[i]);
	if (n % 4 != 0)
		return remus_err_set(err, RNET_EKEY, "key file %s: base64 length %zu is not a "
				     "multiple of 4", path, n);
	if (n / 4 * 3 > RNET_KEY_MAX)
		return remus_err_set(err, RNET_EKEY, "key file %s: key longer than %u bytes",
				     path, RNET_KEY_MAX);
	pad = (t[n - 1] == '=') + (t[n - 2] == '=');
	if (t[n - 1] != '=' && t[n - 2] == '=')
		return remus_err_set(err, RNET_EKEY, "key file %s: bad base64 padding", path);
	out = EVP_DecodeBlock(key->bytes, t, (int)n);
	if (out < 0 || (size_t)out < pad)
		return remus_err_set(err, RNET_EKEY, "key file %s: bad base64", path);
	key->len = (size_t)out - pad;
	return 0;
}

int rnet_key_parse(const uint8_t *text, size_t n, const char *path, struct rnet_key *key,
		   struct remus_err *err)
{
	int rc;

	memset(key, 0, sizeof(*key));
	if (n > RNET_KEY_FILE_MAX)
		return remus_err_set(err, RNET_EKEY, "key file %s: %zu bytes, at most %u",
				     path, n, RNET_KEY_FILE_MAX);
	if (n > 0 && text[n - 1] == '\n')
		n--;
	if (n > 0 && text[n - 1] == '\r')
		n--;
	rc = key_decode(path, text, n, key, err);
	if (rc == 0 && key->len < RNET_KEY_MIN)
		rc = remus_err_set(err, RNET_EKEY, "key file %s: key is %zu bytes (%zu bits), need at "
				   "least %u (256 bits), as hex or base64: openssl rand -hex 32",
				   path, key->len, key->len * 8, RNET_KEY_MIN);
	if (rc < 0)
		OPENSSL_cleanse(key, sizeof(*key));
	return rc;
}

/* Load the key: a regular file holding hex or base64 text of at least
 * RNET_KEY_MIN (32) bytes, one trailing newline allowed (`openssl rand
 * -hex 32 > key`, `openssl rand -base64 32 > key`). */
int rnet_key_load(const char *path, struct rnet_key *key, struct remus_err *err)
{
	uint8_t text[RNET_KEY_FILE_MAX];
	struct stat st;
	size_t n = 0;
	int fd, rc;

	memset(key, 0, sizeof(*key));
	/* O_NONBLOCK: a FIFO planted at the path must not hang us in open() */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return remus_err_sys(err, errno, "key file %s", path);
	if (fstat(fd, &st) < 0) {
		rc = remus_err_sys(err, errno, "key file %s: fstat", path);
		goto out;
	}
	if ((rc = key_check_stat(path, &st, err)) < 0)
		goto out;
	n = (size_t)st.st_size;
	if ((rc = key_read_exact(fd, path, text, n, err)) < 0)
		goto out;
	rc = rnet_key_parse(text, n, path, key, err);
out:
	OPENSSL_cleanse(text, sizeof(text));
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
