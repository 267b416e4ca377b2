/* Hold points for integration tests (see hold.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "remusd/hold.h"
#include "util/log.h"

int remusd_hold_parse(const char *spec, struct remusd_hold *h, struct remus_err *err)
{
	const char *colon = strchr(spec, ':');
	size_t plen = colon ? (size_t)(colon - spec) : 0;
	struct stat st;

	memset(h, 0, sizeof(*h));
	if (colon == NULL || plen == 0 || plen >= sizeof(h->point))
		return remus_err_set(err, -EINVAL, "REMUSD_HOLD '%.100s': want POINT:DIR", spec);
	memcpy(h->point, spec, plen);
	if (colon[1] != '/' || strlen(colon + 1) >= sizeof(h->dir) - sizeof(h->point) - 8)
		return remus_err_set(err, -EINVAL, "REMUSD_HOLD: DIR must be an absolute path "
		                     "shorter than %zu bytes", sizeof(h->dir) - sizeof(h->point) - 8);
	snprintf(h->dir, sizeof(h->dir), "%s", colon + 1);
	if (stat(h->dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return remus_err_set(err, -ENOTDIR, "REMUSD_HOLD: %s is not a folder", h->dir);
	return 0;
}

int remusd_hold_hit(void *arg, const char *point, uint64_t epoch)
{
	const struct remusd_hold *h = arg;
	char reached[sizeof(h->dir) + sizeof(h->point) + 16];
	char go[sizeof(reached)];
	uint64_t deadline = rnet_now_ms() + REMUSD_HOLD_MAX_MS;
	int fd;

	if (strcmp(point, h->point) != 0)
		return 0;
	snprintf(reached, sizeof(reached), "%s/%s.reached", h->dir, h->point);
	snprintf(go, sizeof(go), "%s/%s.go", h->dir, h->point);
	log_info("hold point %s (epoch %" PRIu64 "): waiting for %s", point, epoch, go);
	if ((fd = open(reached, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_warn("hold point %s: %s", point, reached);
		return 0;
	}
	close(fd);
	/* a test hook: poll the file, bounded */
	while (access(go, F_OK) < 0 && rnet_now_ms() < deadline)
		nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
	log_info("hold point %s: going on", point);
	return 0;
}
