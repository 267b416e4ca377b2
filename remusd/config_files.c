/*
 * remus.conf chooses the images, disks and key that root opens: the file
 * and every file it names must be safe from other users — owned by root
 * or by us, writable by nobody else.  `unsafe = file-permissions` in
 * [global] turns the refusal into a warning the daemon logs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/config.h"

/* One file: NULL if safe (or absent: whoever opens it reports that),
 * else why not, in buf. */
static const char *file_issue(const char *what, const char *path, char *buf, size_t cap)
{
	struct stat st;

	if (path[0] == 0 || stat(path, &st) < 0)
		return NULL;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		snprintf(buf, cap, "%s %s is owned by uid %u (neither root nor us)", what, path,
		         (unsigned)st.st_uid);
	else if (st.st_mode & (S_IWGRP | S_IWOTH))
		snprintf(buf, cap, "%s %s is writable by %s (mode %04o): chmod go-w %s", what, path,
		         (st.st_mode & S_IWOTH) ? "others" : "its group",
		         (unsigned)(st.st_mode & 07777), path);
	else
		return NULL;
	return buf;
}

int remusd_conf_check_files(const char *conf_path, struct remusd_conf *c, struct remus_err *err)
{
	char buf[REMUSD_PATH_MAX + 160];
	const char *why = file_issue("config", conf_path, buf, sizeof(buf));

	if (why == NULL)
		why = file_issue("key_file", c->key_file, buf, sizeof(buf));
	for (size_t i = 0; why == NULL && i < c->nguests; i++) {
		why = file_issue("image", c->guests[i].image, buf, sizeof(buf));
		if (why == NULL)
			why = file_issue("disk", c->guests[i].disk, buf, sizeof(buf));
	}
	c->file_warning[0] = 0;
	if (why == NULL)
		return 0;
	if (c->unsafe_files) {
		snprintf(c->file_warning, sizeof(c->file_warning),
		         "unsafe = file-permissions: %s (accepted)", why);
		return 0;
	}
	return remus_err_set(err, REMUSD_ECONF, "%s: refused, another user could choose what we "
	                     "open; fix it, or set 'unsafe = file-permissions' in [global]", why);
}
