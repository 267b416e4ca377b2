/*
 * One error space (lib/util/err.h): every module's named codes, taken from
 * the MODULE_ERRORS lists their enums are made from (a driver's own, like
 * the Xen driver's QMP code, in hv's range), lie in the module's
 * own range below the errno values, no two are equal, and each has a name
 * and a text of its own.  The checker is shown to fail on a table that
 * breaks each rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ckpt/ckpt.h"
#include "diskrep/diskrep.h"
#include "hv/hv.h"
#include "hv/xen/xen_qmp.h"
#include "net/net.h"
#include "netbuf/netbuf.h"
#include "remusd/config.h"
#include "remusd/ctl_proto.h"
#include "remusd/upgrade_stream.h"
#include "stream/stream.h"
#include "util/err.h"

struct code {
	int enumerator, listed;     /* the enum's value, the list's value */
	const char *name, *text;
	int base;                   /* the module's REMUS_ERR_BASE_* */
};

#define X_NETBUF(n, v, t)  { n, v, #n, t, REMUS_ERR_BASE_NETBUF },
#define X_HV(n, v, t)      { n, v, #n, t, REMUS_ERR_BASE_HV },
#define X_RNET(n, v, t)    { n, v, #n, t, REMUS_ERR_BASE_RNET },
#define X_REMUSD(n, v, t)  { n, v, #n, t, REMUS_ERR_BASE_REMUSD },
#define X_CTL(n, v, t)     { n, v, #n, t, REMUS_ERR_BASE_CTL },
#define X_STREAM(n, v, t)  { n, v, #n, t, REMUS_ERR_BASE_STREAM },
#define X_DISKREP(n, v, t) { n, v, #n, t, REMUS_ERR_BASE_DISKREP },
#define X_CKPT(n, v, t)    { n, v, #n, t, REMUS_ERR_BASE_CKPT },

static const struct code all_codes[] = {
	NETBUF_ERRORS(X_NETBUF)
	HV_ERRORS(X_HV)
	XEN_QMP_ERRORS(X_HV)        /* a driver's own codes: in hv's range */
	RNET_ERRORS(X_RNET)
	REMUSD_ERRORS(X_REMUSD)
	CTL_ERRORS(X_CTL)
	STREAM_ERRORS(X_STREAM)
	DISKREP_ERRORS(X_DISKREP)
	CKPT_ERRORS(X_CKPT)
	REMUSD_LU_ERRORS(X_REMUSD)  /* remusd's hand-over stream */
};
#define NCODES (sizeof(all_codes) / sizeof(all_codes[0]))

/* 0 if the table keeps every rule of the space, else -1 and why. */
static int check_space(const struct code *c, size_t n, char *why, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if (c[i].enumerator != c[i].listed) {
			snprintf(why, cap, "%s is %d, its list says %d", c[i].name, c[i].enumerator,
			         c[i].listed);
			return -1;
		}
		if (c[i].listed > c[i].base || c[i].listed <= c[i].base - REMUS_ERR_SPAN ||
		    c[i].listed > -REMUS_ERR_SPAN) {
			snprintf(why, cap, "%s = %d is outside its module's range (%d, %d]",
			         c[i].name, c[i].listed, c[i].base - REMUS_ERR_SPAN, c[i].base);
			return -1;
		}
		if (c[i].name == NULL || c[i].name[0] == '\0' || c[i].text == NULL ||
		    c[i].text[0] == '\0') {
			snprintf(why, cap, "code %d has no name or no text", c[i].listed);
			return -1;
		}
		for (size_t j = 0; j < i; j++) {
			if (c[j].listed == c[i].listed) {
				snprintf(why, cap, "%s and %s are both %d", c[j].name, c[i].name,
				         c[i].listed);
				return -1;
			}
			if (strcmp(c[j].name, c[i].name) == 0 ||
			    (c[j].base == c[i].base && strcmp(c[j].text, c[i].text) == 0)) {
				snprintf(why, cap, "%s and %s share a name or a text", c[j].name,
				         c[i].name);
				return -1;
			}
		}
	}
	return 0;
}

static void test_space_is_kept(void **state)
{
	char why[256] = "";

	(void)state;
	if (check_space(all_codes, NCODES, why, sizeof(why)) < 0)
		fail_msg("%s", why);
	assert_true(NCODES >= 60);   /* every module's list is in the table */
}

/* The stream's texts are what stream_strerror says. */
static void test_stream_texts(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++)
		if (all_codes[i].base == REMUS_ERR_BASE_STREAM)
			assert_string_equal(stream_strerror(all_codes[i].listed), all_codes[i].text);
}

/* The checker fails where it must: a collision across modules (the
 * stream's codes used to share -1000.. with netbuf's), a code out of its
 * range or in errno's, a code without text, and a shared name. */
static void test_checker_can_fail(void **state)
{
	const struct code collide[] = {
		{ -1001, -1001, "NETBUF_EEPOCH", "epoch", REMUS_ERR_BASE_NETBUF },
		{ -1001, -1001, "STREAM_E_MAGIC", "magic", REMUS_ERR_BASE_NETBUF },
	};
	const struct code outside[] = {
		{ -1000, -1000, "STREAM_E_MAGIC", "bad magic", REMUS_ERR_BASE_STREAM },
	};
	const struct code errno_range[] = {
		{ -5, -5, "X_EIO", "io", 0 },
	};
	const struct code no_text[] = {
		{ -2001, -2001, "HV_EBADSTATE", "", REMUS_ERR_BASE_HV },
	};
	const struct code mismatch[] = {
		{ -2001, -2002, "HV_EBADSTATE", "bad state", REMUS_ERR_BASE_HV },
	};
	char why[256];

	(void)state;
	assert_int_equal(check_space(collide, 2, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "are both -1001"));
	assert_int_equal(check_space(outside, 1, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "outside"));
	assert_int_equal(check_space(errno_range, 1, why, sizeof(why)), -1);
	assert_int_equal(check_space(no_text, 1, why, sizeof(why)), -1);
	assert_int_equal(check_space(mismatch, 1, why, sizeof(why)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_space_is_kept),
		cmocka_unit_test(test_stream_texts),
		cmocka_unit_test(test_checker_can_fail),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
