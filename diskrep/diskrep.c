/*
 * diskrep common code: backend lookup, the hypervisor disk-hook adapter and
 * small helpers shared by the backends.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

extern const struct diskrep_ops diskrep_builtin_ops;
extern const struct diskrep_ops diskrep_drbd_ops;

/* The registry: every backend built in. */
static const struct diskrep_ops *const all_backends[] = {
	&diskrep_builtin_ops, &diskrep_drbd_ops,
};

/* Find a backend by the name the configuration uses. */
const struct diskrep_ops *diskrep_backend(const char *name)
{
	for (size_t i = 0; name && i < sizeof(all_backends) / sizeof(all_backends[0]); i++)
		if (strcmp(all_backends[i]->name, name) == 0)
			return all_backends[i];
	return NULL;
}

/* Find a backend by its kind (configuration value, HELLO byte). */
const struct diskrep_ops *diskrep_backend_of(uint32_t kind)
{
	for (size_t i = 0; i < sizeof(all_backends) / sizeof(all_backends[0]); i++)
		if ((uint32_t)all_backends[i]->kind == kind)
			return all_backends[i];
	return NULL;
}

/* Reject I/O that is unaligned or reaches past the image. */
int diskrep_check_range(uint64_t image_bytes, uint64_t off, uint64_t len,
                        struct remus_err *err)
{
	uint64_t end;
	if (off % DISKREP_SECTOR || len % DISKREP_SECTOR || len == 0)
		return remus_err_set(err, DISKREP_ERANGE,
		    "I/O at offset %llu length %llu is not sector (%u) aligned",
		    (unsigned long long)off, (unsigned long long)len, DISKREP_SECTOR);
	if (!ck_add_u64(off, len, &end) || end > image_bytes)
		return remus_err_set(err, DISKREP_ERANGE,
		    "I/O at offset %llu length %llu is beyond the %llu-byte image",
		    (unsigned long long)off, (unsigned long long)len,
		    (unsigned long long)image_bytes);
	return 0;
}

/* ---- hv_disk_hook adapter: the guest's block I/O lands on the primary -- */
static int hook_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct diskrep_hook *h = arg;
	return h->ops->read(h->d, off, buf, len, &h->err);
}

/* Guest write through the hv hook. */
static int hook_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct diskrep_hook *h = arg;
	return h->ops->write(h->d, off, buf, len, &h->err);
}

/* Guest flush through the hv hook. */
static int hook_flush(void *arg)
{
	struct diskrep_hook *h = arg;
	return h->ops->flush(h->d, &h->err);
}

/* Fill `out` so the hypervisor's disk I/O goes through a primary handle. */
void diskrep_hook_init(struct diskrep_hook *h, const struct diskrep_ops *ops,
                       struct diskrep *d, struct hv_disk_hook *out)
{
	h->ops = ops;
	h->d = d;
	remus_err_clear(&h->err);
	out->arg = h;
	out->read = hook_read;
	out->write = hook_write;
	out->flush = hook_flush;
}

/* Test fault point: a non-zero answer fails the step with -EIO. */
int dr_fault(const struct diskrep_fault *f, const char *point,
             struct remus_err *err)
{
	if (f == NULL || f->hit == NULL || f->hit(f->arg, point) == 0)
		return 0;
	return remus_err_set(err, -EIO, "fault injected at %s", point);
}

/* Per-block hash for resync (xxh3, 64 bits). */
uint64_t dr_block_hash(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/* Run a tool (found through PATH: drbd-utils, nbd-client) and wait for
 * it; capture stdout if asked.  A non-zero exit is DISKREP_ETOOL. */
int dr_run_tool(char *const argv[], char *out, size_t cap, struct remus_err *err)
{
	int pfd[2] = { -1, -1 }, status;
	size_t got = 0;
	pid_t pid;

	if (out && pipe2(pfd, O_CLOEXEC) < 0)
		return remus_err_sys(err, errno, "pipe for %s", argv[0]);
	if ((pid = fork()) < 0) {
		int e = errno;
		if (out) { close(pfd[0]); close(pfd[1]); }
		return remus_err_sys(err, e, "fork %s", argv[0]);
	}
	if (pid == 0) {
		if (out && dup2(pfd[1], STDOUT_FILENO) < 0)
			_exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out) {
		close(pfd[1]);
		for (ssize_t n; got + 1 < cap && (n = read(pfd[0], out + got, cap - 1 - got)) != 0; )
			if (n > 0)
				got += (size_t)n;
			else if (errno != EINTR)
				break;
		out[got] = '\0';
		close(pfd[0]);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return remus_err_sys(err, errno, "wait for %s", argv[0]);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char cmd[512] = "";
		for (int i = 0; argv[i]; i++)
			snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "", argv[i]);
		return remus_err_set(err, DISKREP_ETOOL, "'%s' failed (status %d)", cmd,
		    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	return 0;
}
