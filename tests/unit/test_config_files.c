/*
 * remus.conf and every file it names (key, image, disk) are refused when
 * writable by group/others or owned by a user other than root or us, each
 * refusal naming the file; `unsafe = file-permissions` in [global] lets
 * them pass with a warning for the daemon to log.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/config.h"

static char dir[256], conf[320], key[320], image[320], disk[320];

static void touch(const char *path, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(path, mode), 0);
}

/* remus.conf naming the three files, with `extra` in [global]. */
static void write_conf(const char *extra)
{
	FILE *f;

	unlink(conf);               /* a fresh file: ours, whatever a test did */
	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[global]\nkey_file = %s\n%s\n[guest g]\ntype = pvm\nimage = %s\nmem = 16M\n"
	        "disk = %s\nnetbuf = none\nunsafe = no-netbuf\n", key, extra, image, disk);
	fclose(f);
	assert_int_equal(chmod(conf, 0644), 0);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	(void)state;
	snprintf(dir, sizeof(dir), "%s/conf-files-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	snprintf(conf, sizeof(conf), "%s/remus.conf", dir);
	snprintf(key, sizeof(key), "%s/remus.key", dir);
	snprintf(image, sizeof(image), "%s/guest.elf", dir);
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(conf);
	unlink(key);
	unlink(image);
	unlink(disk);
	rmdir(dir);
	return 0;
}

/* Fresh, safe files: the configuration loads with no warning. */
static void reset(void)
{
	touch(key, 0600);
	touch(image, 0755);
	touch(disk, 0600);
	write_conf("");
}

static void refused(const char *why)
{
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	assert_int_equal(remusd_conf_load(conf, &c, &err), REMUSD_ECONF);
	assert_null(c);
	if (strstr(err.msg, why) == NULL)
		fail_msg("expected '%s' in '%s'", why, err.msg);
	assert_non_null(strstr(err.msg, "unsafe = file-permissions"));
}

static void test_safe_files_load(void **state)
{
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	(void)state;
	reset();
	assert_int_equal(remusd_conf_load(conf, &c, &err), 0);
	assert_string_equal(c->file_warning, "");
	remusd_conf_free(c);
}

static void test_writable_refused(void **state)
{
	char want[400];

	(void)state;
	reset();
	assert_int_equal(chmod(conf, 0666), 0);
	snprintf(want, sizeof(want), "config %s is writable by others (mode 0666)", conf);
	refused(want);
	reset();
	assert_int_equal(chmod(key, 0620), 0);
	snprintf(want, sizeof(want), "key_file %s is writable by its group (mode 0620)", key);
	refused(want);
	reset();
	assert_int_equal(chmod(image, 0757), 0);
	snprintf(want, sizeof(want), "image %s is writable by others", image);
	refused(want);
	reset();
	assert_int_equal(chmod(disk, 0660), 0);
	snprintf(want, sizeof(want), "disk %s is writable by its group", disk);
	refused(want);
}

static void test_foreign_owner_refused(void **state)
{
	char want[400];

	(void)state;
	if (geteuid() != 0)
		skip();                 /* chown to another user needs root */
	reset();
	assert_int_equal(chown(image, 4321, (gid_t)-1), 0);
	snprintf(want, sizeof(want), "image %s is owned by uid 4321 (neither root nor us)", image);
	refused(want);
	reset();
	assert_int_equal(chown(conf, 4321, (gid_t)-1), 0);
	snprintf(want, sizeof(want), "config %s is owned by uid 4321", conf);
	refused(want);
}

/* The override: loads, and says what it let through. */
static void test_override_warns(void **state)
{
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	(void)state;
	reset();
	write_conf("unsafe = file-permissions");
	assert_int_equal(chmod(disk, 0666), 0);
	assert_int_equal(remusd_conf_load(conf, &c, &err), 0);
	if (strstr(c->file_warning, "unsafe = file-permissions: disk ") == NULL)
		fail_msg("warning: '%s'", c->file_warning);
	assert_non_null(strstr(c->file_warning, "writable by others (mode 0666)"));
	remusd_conf_free(c);
	/* a bad value for the override is a configuration error, named */
	write_conf("unsafe = everything");
	assert_int_equal(remusd_conf_load(conf, &c, &err), REMUSD_ECONF);
	assert_non_null(strstr(err.msg, "'everything' is not one of file-permissions|none"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_safe_files_load),
		cmocka_unit_test(test_writable_refused),
		cmocka_unit_test(test_foreign_owner_refused),
		cmocka_unit_test(test_override_warns),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
