/*
 * Ownership generations (generation.h): the state file, the group
 * message, the verdict when two copies meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "remusd/generation.h"
#include "util/bytes.h"

#define GEN_PREFIX "remus-generation v1 "
#define GEN_MAGIC  "RMSGEN01"

/* Guest names as remus.conf allows them: [A-Za-z0-9_.-], 1..63. */
static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || n >= REMUSD_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

int remusd_gen_format(char *buf, size_t cap, const char *guest, uint64_t gen)
{
	int n;

	if (!name_ok(guest, strlen(guest)) || gen > REMUSD_GEN_MAX)
		return -EINVAL;
	n = snprintf(buf, cap, GEN_PREFIX "%s %" PRIu64 "\n", guest, gen);
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}

int remusd_gen_parse(const uint8_t *buf, size_t len, const char *guest, uint64_t *gen,
                     struct remus_err *err)
{
	const char *p = (const char *)buf, *end = p + len, *sp;
	size_t plen = sizeof(GEN_PREFIX) - 1;
	uint64_t v = 0;

	if (len > REMUSD_GEN_FILE_MAX)
		return remus_err_set(err, -EINVAL, "generation file: %zu bytes, at most %u",
		                     len, REMUSD_GEN_FILE_MAX);
	if (len < plen || memcmp(p, GEN_PREFIX, plen) != 0)
		return remus_err_set(err, -EINVAL, "generation file: no '%.*s' header",
		                     (int)plen - 1, GEN_PREFIX);
	p += plen;
	if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL || !name_ok(p, (size_t)(sp - p)))
		return remus_err_set(err, -EINVAL, "generation file: bad guest name");
	if ((size_t)(sp - p) != strlen(guest) || memcmp(p, guest, (size_t)(sp - p)) != 0)
		return remus_err_set(err, -EINVAL, "generation file names guest '%.*s', not '%s'",
		                     (int)(sp - p), p, guest);
	p = sp + 1;
	if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] != '\n'))
		return remus_err_set(err, -EINVAL, "generation file: bad number");
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (v > (REMUSD_GEN_MAX - (uint64_t)(*p - '0')) / 10)
			return remus_err_set(err, -ERANGE, "generation file: number too large");
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p + 1 != end || *p != '\n')
		return remus_err_set(err, -EINVAL, "generation file: junk after the number "
		                     "(or no final newline)");
	*gen = v;
	return 0;
}

static int gen_path(char *buf, size_t cap, const char *dir, const char *guest, const char *sfx)
{
	int n = snprintf(buf, cap, "%s/%s.generation%s", dir, guest, sfx);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int remusd_gen_load(const char *dir, const char *guest, uint64_t *gen, struct remus_err *err)
{
	char path[REMUSD_PATH_MAX + REMUSD_NAME_MAX + 32];
	uint8_t buf[REMUSD_GEN_FILE_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	*gen = 0;
	if (!name_ok(guest, strlen(guest)) || gen_path(path, sizeof(path), dir, guest, "") < 0)
		return remus_err_set(err, -EINVAL, "generation of '%s': bad name or path", guest);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return errno == ENOENT ? 0 : remus_err_sys(err, errno, "%s", path);
	while (len < sizeof(buf) && (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = remus_err_sys(err, errno, "%s", path);
			close(fd);
			return rc;
		}
		len += (size_t)n;
	}
	close(fd);
	if ((rc = remusd_gen_parse(buf, len, guest, gen, err)) < 0)
		return remus_err_wrap(err, "%s", path);
	return 0;
}

int remusd_gen_store(const char *dir, const char *guest, uint64_t gen, struct remus_err *err)
{
	char path[REMUSD_PATH_MAX + REMUSD_NAME_MAX + 32], tmp[sizeof(path)];
	char line[REMUSD_GEN_FILE_MAX];
	int n = remusd_gen_format(line, sizeof(line), guest, gen), fd, dfd, rc = 0;

	if (n < 0 || gen_path(path, sizeof(path), dir, guest, "") < 0 ||
	    gen_path(tmp, sizeof(tmp), dir, guest, ".tmp") < 0)
		return remus_err_set(err, -EINVAL, "generation of '%s': bad name or path", guest);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return remus_err_sys(err, errno, "%s", tmp);
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		rc = remus_err_sys(err, errno ? errno : EIO, "%s", tmp);
	if (close(fd) < 0 && rc == 0)
		rc = remus_err_sys(err, errno, "%s", tmp);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = remus_err_sys(err, errno, "rename to %s", path);
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	/* the rename itself must survive a crash */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return remus_err_sys(err, errno, "%s", dir);
	if (fsync(dfd) < 0)
		rc = remus_err_sys(err, errno, "fsync %s", dir);
	close(dfd);
	return rc;
}

int remusd_gen_msg_encode(const struct remusd_gen_msg *m, uint8_t out[REMUSD_GEN_MSG_LEN])
{
	size_t n = strnlen(m->guest, sizeof(m->guest));

	if (!name_ok(m->guest, n) || m->generation > REMUSD_GEN_MAX ||
	    (m->flags & ~REMUSD_GEN_FLAGS))
		return -EINVAL;
	memset(out, 0, REMUSD_GEN_MSG_LEN);
	memcpy(out, GEN_MAGIC, 8);
	put_be64(out + 8, m->generation);
	put_be32(out + 16, m->flags);
	memcpy(out + 24, m->guest, n);
	return 0;
}

int remusd_gen_msg_parse(const uint8_t *b, size_t len, struct remusd_gen_msg *m,
                         struct remus_err *err)
{
	size_t n;

	memset(m, 0, sizeof(*m));
	if (len != REMUSD_GEN_MSG_LEN)
		return remus_err_set(err, -EINVAL, "generation message: %zu bytes, expected %u",
		                     len, REMUSD_GEN_MSG_LEN);
	if (memcmp(b, GEN_MAGIC, 8) != 0)
		return remus_err_set(err, -EINVAL, "generation message: bad magic");
	m->generation = get_be64(b + 8);
	if (m->generation > REMUSD_GEN_MAX)
		return remus_err_set(err, -ERANGE, "generation message: generation out of range");
	m->flags = get_be32(b + 16);
	if (m->flags & ~REMUSD_GEN_FLAGS)
		return remus_err_set(err, -EINVAL, "generation message: unknown flags 0x%x", m->flags);
	if (get_be32(b + 20) != 0 || get_be32(b + 88) != 0 || get_be32(b + 92) != 0)
		return remus_err_set(err, -EINVAL, "generation message: reserved bytes not zero");
	n = strnlen((const char *)b + 24, REMUSD_NAME_MAX);
	if (!name_ok((const char *)b + 24, n))
		return remus_err_set(err, -EINVAL, "generation message: bad guest name");
	for (size_t i = 24 + n; i < 88; i++)
		if (b[i] != 0)
			return remus_err_set(err, -EINVAL, "generation message: name padding not zero");
	memcpy(m->guest, b + 24, n);
	return 0;
}

enum remusd_gen_verdict remusd_gen_judge(uint64_t ours, bool ours_runs,
                                         const struct remusd_gen_msg *peer)
{
	if (!ours_runs || !(peer->flags & REMUSD_GEN_RUNS))
		return GEN_KEEP;
	if (ours < peer->generation)
		return GEN_YIELD;
	if (ours == peer->generation)
		return GEN_CONFLICT;
	return GEN_KEEP;
}
