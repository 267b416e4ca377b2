/*
 * Ownership generations (remusd/generation.h): the state file's format,
 * its strict parser (every malformed kind named), the durable store and
 * load round trip, the group message's codec and the verdict when two
 * copies meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/generation.h"
#include "util/bytes.h"

static int parse(const char *text, uint64_t *gen, struct remus_err *err)
{
	return remusd_gen_parse((const uint8_t *)text, strlen(text), "vm1", gen, err);
}

static void test_file_parse(void **state)
{
	static const struct { const char *text, *why; } bad[] = {
		{ "", "header" }, { "remus-generation v2 vm1 1\n", "header" },
		{ "remus-generation v1 vm1\n", "guest name" },
		{ "remus-generation v1 vm2 1\n", "not 'vm1'" },
		{ "remus-generation v1 vm/1 1\n", "guest name" },
		{ "remus-generation v1 vm1 \n", "bad number" },
		{ "remus-generation v1 vm1 01\n", "bad number" },
		{ "remus-generation v1 vm1 -1\n", "bad number" },
		{ "remus-generation v1 vm1 1", "final newline" },
		{ "remus-generation v1 vm1 1\n\n", "junk" },
		{ "remus-generation v1 vm1 1x\n", "junk" },
		{ "remus-generation v1 vm1 9223372036854775808\n", "too large" },
		{ "remus-generation v1 vm1 99999999999999999999999\n", "too large" },
	};
	struct remus_err err = { 0 };
	uint64_t gen = 7;
	char big[REMUSD_GEN_FILE_MAX + 8];

	(void)state;
	assert_int_equal(parse("remus-generation v1 vm1 0\n", &gen, &err), 0);
	assert_int_equal(gen, 0);
	assert_int_equal(parse("remus-generation v1 vm1 9223372036854775807\n", &gen, &err), 0);
	assert_int_equal(gen, INT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		gen = 5;
		if (parse(bad[i].text, &gen, &err) == 0)
			fail_msg("accepted '%s'", bad[i].text);
		if (strstr(err.msg, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' does not say '%s'", bad[i].text, err.msg, bad[i].why);
		assert_int_equal(gen, 5);       /* nothing half-applied */
	}
	memset(big, '1', sizeof(big));
	assert_int_not_equal(remusd_gen_parse((uint8_t *)big, sizeof(big), "vm1", &gen, &err), 0);
	assert_non_null(strstr(err.msg, "at most"));
}

static void test_store_load(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[256], path[384], line[64];
	struct remus_err err = { 0 };
	uint64_t gen = 9;
	int fd;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/remus-gen-XXXXXX", tmp);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(remusd_gen_load(dir, "vm1", &gen, &err), 0);
	assert_int_equal(gen, 0);                        /* none yet */
	assert_int_equal(remusd_gen_store(dir, "vm1", 3, &err), 0);
	assert_int_equal(remusd_gen_load(dir, "vm1", &gen, &err), 0);
	assert_int_equal(gen, 3);
	assert_int_equal(remusd_gen_store(dir, "vm1", 4, &err), 0);
	assert_int_equal(remusd_gen_load(dir, "vm1", &gen, &err), 0);
	assert_int_equal(gen, 4);
	snprintf(path, sizeof(path), "%s/vm1.generation.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);        /* no temporary left */
	/* a damaged record is an error naming the file, never generation 0 */
	snprintf(path, sizeof(path), "%s/vm1.generation", dir);
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "remus-gen", 9), 9);
	close(fd);
	gen = 9;
	assert_int_not_equal(remusd_gen_load(dir, "vm1", &gen, &err), 0);
	assert_non_null(strstr(err.msg, path));
	/* a name that is no guest name is refused before any path is built */
	assert_int_not_equal(remusd_gen_store(dir, "../x", 1, &err), 0);
	assert_int_equal(remusd_gen_format(line, sizeof(line), "vm1", (uint64_t)INT64_MAX + 1), -EINVAL);
	unlink(path);
	rmdir(dir);
}

static void test_message(void **state)
{
	struct remusd_gen_msg m = { .generation = 12, .flags = REMUSD_GEN_RUNS }, got;
	struct remus_err err = { 0 };
	uint8_t b[REMUSD_GEN_MSG_LEN], c[REMUSD_GEN_MSG_LEN];

	(void)state;
	snprintf(m.guest, sizeof(m.guest), "vm1");
	assert_int_equal(remusd_gen_msg_encode(&m, b), 0);
	assert_int_equal(remusd_gen_msg_parse(b, sizeof(b), &got, &err), 0);
	assert_int_equal(got.generation, 12);
	assert_int_equal(got.flags, REMUSD_GEN_RUNS);
	assert_string_equal(got.guest, "vm1");
	/* each kind of damage refused, with its name */
	assert_int_not_equal(remusd_gen_msg_parse(b, sizeof(b) - 1, &got, &err), 0);
	assert_non_null(strstr(err.msg, "bytes"));
	memcpy(c, b, sizeof(c)); c[0] ^= 1;
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "magic"));
	memcpy(c, b, sizeof(c)); c[8] = 0x80;
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "range"));
	memcpy(c, b, sizeof(c)); put_be32(c + 16, 8);
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "flags"));
	memcpy(c, b, sizeof(c)); c[93] = 1;
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "reserved"));
	memcpy(c, b, sizeof(c)); c[24 + 5] = 'x';
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "padding"));
	memcpy(c, b, sizeof(c)); memset(c + 24, 'a', 64);
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
	assert_non_null(strstr(err.msg, "name"));
	memcpy(c, b, sizeof(c)); c[24] = ' ';
	assert_int_not_equal(remusd_gen_msg_parse(c, sizeof(c), &got, &err), 0);
}

/* When two copies meet: the lower generation yields, only between two
 * running copies; the same generation is the operator's. */
static void test_judge(void **state)
{
	struct remusd_gen_msg runs = { .generation = 2, .flags = REMUSD_GEN_RUNS };
	struct remusd_gen_msg idle = { .generation = 5, .flags = 0 };

	(void)state;
	assert_int_equal(remusd_gen_judge(1, true, &runs), GEN_YIELD);
	assert_int_equal(remusd_gen_judge(3, true, &runs), GEN_KEEP);
	assert_int_equal(remusd_gen_judge(2, true, &runs), GEN_CONFLICT);
	assert_int_equal(remusd_gen_judge(1, false, &runs), GEN_KEEP);
	assert_int_equal(remusd_gen_judge(1, true, &idle), GEN_KEEP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file_parse),
		cmocka_unit_test(test_store_load),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_judge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
