/* Shared fixture for the diskrep unit tests: a temp dir with a primary and
 * a backup image joined by a socketpair. */
#ifndef TEST_DISKREP_FIXTURE_H
#define TEST_DISKREP_FIXTURE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskrep/diskrep.h"

struct fx {
	char dir[256], pimg[300], bimg[300], pst[300], bst[300];
	int sv[2];                  /* sv[0] backup end, sv[1] primary end */
	const struct diskrep_ops *ops;
	struct diskrep *p, *b;
	struct remus_err err;
	uint64_t bytes;
};

static inline void fx_fill(const char *path, uint64_t bytes, unsigned seed)
{
	uint8_t *buf = malloc(bytes);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	for (uint64_t i = 0; i < bytes; i++)
		buf[i] = (uint8_t)((i * 2654435761u) >> 13 ^ seed);
	if (fd < 0 || write(fd, buf, bytes) != (ssize_t)bytes)
		abort();
	close(fd);
	free(buf);
}

/* Both images equal; nothing opened yet. */
static inline void fx_init(struct fx *f, uint64_t bytes)
{
	memset(f, 0, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/test_diskrep.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(f->dir) == NULL)
		abort();
	snprintf(f->pimg, sizeof(f->pimg), "%s/p.img", f->dir);
	snprintf(f->bimg, sizeof(f->bimg), "%s/b.img", f->dir);
	snprintf(f->pst, sizeof(f->pst), "%s/pst", f->dir);
	snprintf(f->bst, sizeof(f->bst), "%s/bst", f->dir);
	mkdir(f->pst, 0700);
	mkdir(f->bst, 0700);
	fx_fill(f->pimg, bytes, 1);
	fx_fill(f->bimg, bytes, 1);
	f->bytes = bytes;
	f->ops = diskrep_backend("builtin");
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f->sv) < 0)
		abort();
}

static inline int fx_open_primary(struct fx *f, uint32_t block, uint64_t start)
{
	struct diskrep_config c = { .role = DISKREP_PRIMARY, .image = f->pimg, .state_dir = f->pst,
	                            .peer_fd = f->sv[1], .block_size = block, .start_epoch = start };
	return f->ops->open(&c, &f->p, &f->err);
}

static inline int fx_open_backup(struct fx *f, uint32_t block, size_t cap)
{
	struct diskrep_config c = { .role = DISKREP_BACKUP, .image = f->bimg, .state_dir = f->bst,
	                            .peer_fd = f->sv[0], .block_size = block, .stage_mem_cap = cap };
	return f->ops->open(&c, &f->b, &f->err);
}

static inline void fx_read(const char *path, uint8_t *buf, uint64_t bytes)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || read(fd, buf, bytes) != (ssize_t)bytes)
		abort();
	close(fd);
}

/* Do the two images hold the same bytes? */
static inline int fx_same(struct fx *f)
{
	uint8_t *a = malloc(f->bytes), *b = malloc(f->bytes);
	fx_read(f->pimg, a, f->bytes);
	fx_read(f->bimg, b, f->bytes);
	int same = memcmp(a, b, f->bytes) == 0;
	free(a);
	free(b);
	return same;
}

static inline void fx_fini(struct fx *f)
{
	char cmd[300];
	if (f->p)
		f->ops->close(f->p);
	if (f->b)
		f->ops->close(f->b);
	close(f->sv[0]);
	close(f->sv[1]);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		abort();
}

#endif
