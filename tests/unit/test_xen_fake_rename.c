/* The fake Xen host, continued: libxl_domain_rename and the xenstore watch
 * on @releaseDomain, for the replica's rename after failover. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libxl.h>
#include <xenstore.h>

#include "test_xen_fake.h"

static bool fails(const char *fn)
{
	return fake.fail.fn != NULL && strcmp(fake.fail.fn, fn) == 0;
}

/* The domain (other than `self`) whose name node holds `name`, or -1. */
static long holder_of(const char *name, uint32_t self)
{
	unsigned id;
	char tail[8];

	for (int i = 0; i < fake.nnodes; i++)
		if (sscanf(fake.nodes[i].path, "/local/domain/%u/%7s", &id, tail) == 2 &&
		    strcmp(tail, "name") == 0 && id != self && strcmp(fake.nodes[i].value, name) == 0)
			return (long)id;
	return -1;
}

void fake_release_domain(uint32_t id)
{
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "/local/domain/%u", id);
	int k = 0;

	for (int i = 0; i < fake.nnodes; i++)
		if (strncmp(fake.nodes[i].path, prefix, plen) != 0 ||
		    (fake.nodes[i].path[plen] != '\0' && fake.nodes[i].path[plen] != '/'))
			fake.nodes[k++] = fake.nodes[i];
	fake.nnodes = k;
	if (fake.watches > 0 && write(fake.watch_pipe[1], "r", 1) != 1)
		abort();
}

/* Like libxl: the old name must match, a name another domain holds is
 * refused (ERROR_INVAL, as for any bad argument). */
int __wrap_libxl_domain_rename(libxl_ctx *ctx, uint32_t domid, const char *old_name,
    const char *new_name)
{
	char path[48];
	const struct fake_node *n;

	(void)ctx;
	if (fails("libxl_domain_rename"))
		return ERROR_FAIL;
	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	n = fake_get_node(path);
	if (n == NULL || strcmp(n->value, old_name) != 0 || holder_of(new_name, domid) >= 0)
		return ERROR_INVAL;
	fake_set_node(path, new_name, n->owner, n->other_id, n->other_perm);
	fake.renames++;
	return 0;
}

bool __wrap_xs_watch(struct xs_handle *h, const char *path, const char *token)
{
	(void)h; (void)token;
	if (fails("xs_watch") || strcmp(path, "@releaseDomain") != 0)
		return errno = EIO, false;
	if (fake.watches++ == 0 && pipe2(fake.watch_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		abort();
	if (fake.release_on_watch != 0)
		fake_release_domain(fake.release_on_watch);
	return true;
}

bool __wrap_xs_unwatch(struct xs_handle *h, const char *path, const char *token)
{
	(void)h; (void)path; (void)token;
	if (fake.watches > 0 && --fake.watches == 0) {
		close(fake.watch_pipe[0]);
		close(fake.watch_pipe[1]);
	}
	return true;
}

int __wrap_xs_fileno(struct xs_handle *h)
{
	(void)h;
	return fake.watches > 0 ? fake.watch_pipe[0] : (errno = EBADF, -1);
}

/* One event per byte in the pipe, allocated like libxenstore's vector. */
char **__wrap_xs_check_watch(struct xs_handle *h)
{
	char c, **v;

	(void)h;
	if (fake.watches == 0 || read(fake.watch_pipe[0], &c, 1) != 1)
		return errno = EAGAIN, NULL;
	v = malloc(2 * sizeof(char *) + sizeof("@releaseDomain") + sizeof("remus-rename"));
	v[0] = (char *)(v + 2);
	strcpy(v[0], "@releaseDomain");
	v[1] = v[0] + sizeof("@releaseDomain");
	strcpy(v[1], "remus-rename");
	return v;
}
