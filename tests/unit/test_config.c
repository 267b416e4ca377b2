/* Unit tests for remus.conf parsing: a full valid file, every refusal with
 * its file:line and key, and all-or-nothing reload. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "diskrep/kind.h"
#include "net/net.h"
#include "remusd/config.h"

#define GLOBAL "[global]\nkey_file = /etc/remus/remus.key\n"

static void test_example_file_parses(void **state)
{
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;
	const struct remusd_guest_conf *g;

	(void)state;
	if (remusd_conf_load("etc/remus.conf.example", &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c->listen_addr, "*");
	assert_int_equal(c->listen_port, 7575);
	assert_string_equal(c->key_file, "/etc/remus/remus.key");
	assert_false(c->tls);
	assert_int_equal(c->hb_interval_ms, 20);
	assert_int_equal(c->hb_timeout_ms, 200);
	assert_int_equal(c->nguests, 1);
	g = remusd_conf_guest(c, "kvstore");
	assert_non_null(g);
	assert_int_equal(g->type, REMUSD_GUEST_PVM);
	assert_int_equal(g->mem_mb, 64);
	assert_string_equal(g->tap, "tap-kv0");
	assert_true(g->has_mac);
	assert_int_equal(g->mac[5], 1);
	assert_string_equal(g->ip, "10.77.0.10/24");
	assert_string_equal(g->peer_host, "host-b");
	assert_int_equal(g->peer_port, 7575);
	assert_int_equal(g->interval_ms, 25);
	assert_int_equal(g->netbuf, REMUSD_NETBUF_INLINE);
	assert_int_equal(g->diskrep, DISKREP_KIND_BUILTIN);
	assert_int_equal(g->compress, RNET_COMPRESS_ZLIB);
	assert_int_equal(g->unsafe, 0);
	assert_null(remusd_conf_guest(c, "nope"));
	remusd_conf_free(c);
}

/* metrics_listen: a numeric v4 or v6 address and a port. */
static void test_metrics_listen(void **state)
{
	static const char *const text[] = {
		"[global]\nkey_file = k\nmetrics_listen = 127.0.0.1:9475\n",
		"[global]\nkey_file = k\nmetrics_listen = [::1]:9476\n",
	};
	static const char *const host[] = { "127.0.0.1", "::1" };
	struct remus_err err = { 0 };

	(void)state;
	for (unsigned i = 0; i < 2; i++) {
		struct remusd_conf *c = NULL;
		if (remusd_conf_parse("t.conf", text[i], strlen(text[i]), &c, &err) != 0)
			fail_msg("%s", err.msg);
		assert_string_equal(c->metrics_host, host[i]);
		assert_int_equal(c->metrics_port, 9475 + i);
		remusd_conf_free(c);
	}
}

/* The cluster keys: defaults (quorum = none, auto failover) and values. */
static void test_quorum_keys(void **state)
{
	static const char text[] = "[global]\nkey_file = k\nquorum = corosync\n"
		"quorum_settle_ms = 12000\nfailover = cluster\nstate_dir = /srv/remus\n";
	static const char plain[] = "[global]\nkey_file = k\n";
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	(void)state;
	if (remusd_conf_parse("t.conf", plain, sizeof(plain) - 1, &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c->quorum, REMUSD_QUORUM_NONE);
	assert_int_equal(c->quorum_settle_ms, REMUSD_QUORUM_SETTLE_DEFAULT);
	assert_int_equal(c->failover, REMUSD_FAILOVER_AUTO);
	assert_string_equal(c->state_dir, REMUSD_DEFAULT_STATE_DIR);
	remusd_conf_free(c);
	if (remusd_conf_parse("t.conf", text, sizeof(text) - 1, &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(c->quorum, REMUSD_QUORUM_COROSYNC);
	assert_int_equal(c->quorum_settle_ms, 12000);
	assert_int_equal(c->failover, REMUSD_FAILOVER_CLUSTER);
	assert_string_equal(c->state_dir, "/srv/remus");
	remusd_conf_free(c);
}

static void test_defaults_and_variants(void **state)
{
	static const char text[] =
		"# comment\n"
		"[global]\r\n"
		"key_file = k\n"
		"tls = yes\n"
		"[guest a]\n"
		"image = a.elf\n"
		"mem = 1G\n"
		"peer = [fd00::2]:9000\n"
		"netbuf = none\n"
		"unsafe = no-netbuf, blackhole\n"
		"capture = cow\n"
		"compression = delta+zstd\n"
		"reprotect = auto\n"
		"[guest b]\n"
		"type = xen\n"
		"[guest c]\n"
		"type = xen\n"
		"disk = /dev/drbd2\n"
		"diskrep = drbd\n"
		"drbd_resource = remus-b\n"
		"unsafe = drbd-disk-ahead\n"
		"[guest d]\n"
		"type = xen\n"
		"disk = /srv/d.img\n"
		"nbd_device = /dev/nbd3\n";
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	(void)state;
	if (remusd_conf_parse("t.conf", text, sizeof(text) - 1, &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_true(c->tls);
	assert_int_equal(c->metrics_port, 0);    /* metrics off by default */
	assert_int_equal(c->nguests, 4);
	assert_int_equal(c->guests[0].mem_mb, 1024);
	assert_string_equal(c->guests[0].peer_host, "fd00::2");
	assert_int_equal(c->guests[0].peer_port, 9000);
	assert_int_equal(c->guests[0].unsafe, REMUSD_UNSAFE_NO_NETBUF | REMUSD_UNSAFE_BLACKHOLE);
	assert_int_equal(c->guests[0].diskrep, DISKREP_KIND_NONE);
	assert_int_equal(c->guests[0].interval_ms, 25);
	assert_int_equal(c->guests[0].capture, REMUSD_CAPTURE_COW);
	assert_int_equal(c->guests[0].compress, RNET_COMPRESS_DELTA_ZSTD);
	assert_int_equal(c->guests[1].capture, REMUSD_CAPTURE_COPY);   /* default */
	assert_int_equal(c->guests[0].reprotect, REMUSD_REPROTECT_AUTO);
	assert_int_equal(c->guests[1].reprotect, REMUSD_REPROTECT_OFF);  /* default */
	assert_int_equal(c->guests[1].netbuf, REMUSD_NETBUF_PLUG);   /* xen default */
	assert_int_equal(c->guests[1].peer_port, 0);
	assert_string_equal(c->guests[1].drbd_resource, "");
	assert_int_equal(c->guests[2].diskrep, DISKREP_KIND_DRBD);
	assert_string_equal(c->guests[2].drbd_resource, "remus-b");
	assert_string_equal(c->guests[2].disk, "/dev/drbd2");
	assert_int_equal(c->guests[2].unsafe, REMUSD_UNSAFE_DRBD_DISK_AHEAD);
	assert_string_equal(c->guests[2].nbd_device, "");
	assert_int_equal(c->guests[3].diskrep, DISKREP_KIND_BUILTIN);   /* with a disk */
	assert_string_equal(c->guests[3].nbd_device, "/dev/nbd3");
	remusd_conf_free(c);
}

struct bad_case {
	const char *text;
	const char *msg;
};

static const struct bad_case bad_cases[] = {
	{ GLOBAL "colour = blue\n", "t.conf:3: [global] colour: unknown key" },
	{ GLOBAL "quorum = pacemaker\n", "t.conf:3: [global] quorum: 'pacemaker' is not one of none|corosync" },
	{ GLOBAL "failover = manual\n", "[global] failover: 'manual' is not one of auto|cluster" },
	{ GLOBAL "quorum_settle_ms = 600001\n", "[global] quorum_settle_ms: 600001 out of range 0..600000 ms" },
	{ GLOBAL "listen_port = 70000\n", "t.conf:3: [global] listen_port: 70000 out of range 1..65535" },
	{ GLOBAL "listen_port = 12x\n", "t.conf:3: [global] listen_port: '12x' has trailing characters" },
	{ GLOBAL "listen_port = -1\n", "t.conf:3: [global] listen_port: '-1' is not a number" },
	{ GLOBAL "listen_port = 99999999999999999999999\n", "is not a number" },
	{ GLOBAL "tls = maybe\n", "t.conf:3: [global] tls: 'maybe' is not on|off" },
	{ GLOBAL "log_level = loud\n", "'loud' is not one of warn|info|debug" },
	{ GLOBAL "tls = on\ntls = off\n", "t.conf:4: [global] tls: repeated (first set at line 3)" },
	{ GLOBAL "heartbeat_interval_ms = 0\n", "t.conf:3: [global] heartbeat_interval_ms: 0 out of range 1..10000 ms" },
	{ GLOBAL "heartbeat_interval_ms = 300\n", "t.conf:1: [global] heartbeat_timeout_ms: 200 ms must exceed the interval (300 ms)" },
	{ GLOBAL "metrics_listen = localhost:9100\n", "t.conf:3: [global] metrics_listen: 'localhost:9100': 'localhost' is not a numeric IPv4 address" },
	{ GLOBAL "metrics_listen = 127.0.0.1\n", "t.conf:3: [global] metrics_listen: '127.0.0.1' lacks :port" },
	{ GLOBAL "metrics_listen = [::1]:0\n", "metrics_listen: '[::1]:0': port out of range 1..65535" },
	{ "[global]\nlisten_port = 1\n", "t.conf:1: [global] key_file: missing: authentication is mandatory" },
	{ "key_file = x\n" GLOBAL, "t.conf:1: 'key_file' outside any section" },
	{ GLOBAL "[global]\n", "t.conf:3: [global] repeated (first at line 1)" },
	{ GLOBAL "[server]\n", "t.conf:3: unknown section [server]" },
	{ GLOBAL "[guest]\n", "t.conf:3: unknown section [guest]" },
	{ GLOBAL "[guest bad/name]\n", "t.conf:3: guest name 'bad/name' has invalid character '/'" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\n[guest a]\n", "t.conf:6: [guest a] repeated (first at line 3)" },
	{ GLOBAL "this is not ini\n", "t.conf:3: syntax error" },
	{ GLOBAL "[guest a\n", "t.conf:3: syntax error" },
	{ GLOBAL "[guest a]\nmem = 1\n", "t.conf:3: [guest a]: a pvm guest needs image and mem" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 0\n", "t.conf:5: [guest a] mem: 0 out of range 1..65536 MiB" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 65G\n", "t.conf:5: [guest a] mem: 65G out of range" },
	{ GLOBAL "[guest a]\ntype = kvm\n", "t.conf:4: [guest a] type: 'kvm' is not one of pvm|xen" },
	{ GLOBAL "[guest a]\nmac = 01:00:5e:00:00:01\n", "[guest a] mac: '01:00:5e:00:00:01' is a multicast address" },
	{ GLOBAL "[guest a]\nmac = 00:16:3e:00:00\n", "is not a MAC address" },
	{ GLOBAL "[guest a]\nmac = 00:16:3e:00:00:0g\n", "is not a MAC address" },
	{ GLOBAL "[guest a]\nip = 10.0.0.300\n", "t.conf:4: [guest a] ip: '10.0.0.300' is not an IP address" },
	{ GLOBAL "[guest a]\nip = 10.0.0.1/33\n", "has a bad prefix length" },
	{ GLOBAL "[guest a]\npeer = hostb\n", "[guest a] peer: 'hostb' lacks :port" },
	{ GLOBAL "[guest a]\npeer = hostb:0\n", "port out of range 1..65535" },
	{ GLOBAL "[guest a]\ntap = way-too-long-tap-name\n", "[guest a] tap: 'way-too-long-tap-name' must be 1..15 characters" },
	{ GLOBAL "[guest a]\ninterval = 20000\n", "interval: 20000 out of range 1..10000 ms" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\nnetbuf = nfqueue\n", "t.conf:3: [guest a]: netbuf = nfqueue needs tap" },
	{ GLOBAL "[guest a]\ntype = xen\nnetbuf = nfqueue\n", "t.conf:3: [guest a]: netbuf = nfqueue is wired for pvm guests only" },
	{ GLOBAL "[guest a]\nunsafe = yolo\n", "'yolo' is not one of no-netbuf|no-diskrep|blackhole|drbd-disk-ahead|none" },
#define XEN_DRBD "[guest x]\ntype = xen\ndiskrep = drbd\n"
	{ GLOBAL XEN_DRBD "disk = /dev/drbd1\nunsafe = drbd-disk-ahead\n",
	  "t.conf:3: [guest x]: diskrep = drbd needs drbd_resource" },
	{ GLOBAL XEN_DRBD "disk = /dev/drbd1\ndrbd_resource = r0\n",
	  "t.conf:3: [guest x]: diskrep = drbd: stock DRBD writes the backup's disk at once, so after a failover the disk may be one epoch ahead of the restored memory; add 'unsafe = drbd-disk-ahead'" },
	{ GLOBAL XEN_DRBD "disk = drbd1\ndrbd_resource = r0\nunsafe = drbd-disk-ahead\n",
	  "t.conf:3: [guest x]: diskrep = drbd: disk 'drbd1' must be this host's DRBD device" },
	{ GLOBAL XEN_DRBD "drbd_resource = r0\n", "[guest x]: diskrep = drbd but no disk" },
	{ GLOBAL XEN_DRBD "disk = /dev/drbd1\ndrbd_resource = r0.a\n",
	  "t.conf:7: [guest x] drbd_resource: 'r0.a' has invalid character '.'" },
	{ GLOBAL XEN_DRBD "disk = /dev/drbd1\ndrbd_resource = \n", "t.conf:7: [guest x] drbd_resource: '' must be 1..64 characters" },
	{ GLOBAL XEN_DRBD "drbd_resource = r01234567890123456789012345678901234567890123456789012345678901234\n",
	  "t.conf:6: [guest x] drbd_resource: 'r01234567890123456789012345678901234567890123456789012345678901234' must be 1..64 characters" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /dev/drbd1\ndrbd_resource = r0\nunsafe = no-diskrep\n",
	  "t.conf:3: [guest x]: drbd_resource needs diskrep = drbd" },
	{ GLOBAL "[guest x]\nimage = x\nmem = 1\ndiskrep = drbd\ndisk = /dev/drbd1\ndrbd_resource = r0\nunsafe = drbd-disk-ahead\n",
	  "t.conf:3: [guest x]: diskrep = drbd needs type = xen" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\nnetbuf = none\n", "t.conf:3: [guest a]: netbuf = none weakens the guarantee; add 'unsafe = no-netbuf'" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\ndisk = d\ndiskrep = none\n", "add 'unsafe = no-diskrep'" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\ndiskrep = drbd\n", "[guest a]: diskrep = drbd but no disk" },
	{ GLOBAL "[guest a]\ntype = xen\nnetbuf = inline\n", "netbuf = inline needs type = pvm" },
	{ GLOBAL "[guest a]\ntype = xen\ncapture = cow\n", "capture = cow needs type = pvm" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /srv/x.img\n",
	  "t.conf:3: [guest x]: diskrep = builtin for a xen guest needs nbd_device (the /dev/nbdN remusd serves the disk on" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /dev/nbd0\nnbd_device = /dev/nbd0\n",
	  "t.conf:3: [guest x]: disk '/dev/nbd0' is an NBD device: disk is the image remusd serves as nbd_device" },
	{ GLOBAL "[guest x]\nimage = x\nmem = 1\ndisk = d\nnbd_device = /dev/nbd0\n",
	  "t.conf:3: [guest x]: nbd_device needs type = xen and diskrep = builtin" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /srv/x.img\nnbd_device = /dev/sda\n",
	  "t.conf:6: [guest x] nbd_device: '/dev/sda' is not an NBD device (/dev/nbdN)" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /srv/x.img\nnbd_device = /dev/nbd12345\n",
	  "'/dev/nbd12345' is not an NBD device" },
	{ GLOBAL "[guest x]\ntype = xen\ndisk = /srv/x.img\nnbd_device = /dev/nbd1x\n",
	  "'/dev/nbd1x' is not an NBD device" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\ncapture = lazy\n", "'lazy' is not one of copy|cow" },
	{ GLOBAL "[guest a]\nimage = x\nmem = 1\nreprotect = yes\n", "'yes' is not one of off|auto" },
	{ GLOBAL "[guest a]\nimage = x\nimage = y\n", "t.conf:5: [guest a] image: repeated (first set at line 4)" },
	{ GLOBAL "[guest a]\nimage = x\n  continued\n", "image: repeated" },
	{ GLOBAL "control_socket = /a/very/long/path/that/does/not/fit/into/the/sun_path/field/of/a/unix/socket/address/really/it/is/too/long/xxxxxxxxxx\n",
	  "control_socket: value is 117 bytes, at most 107 allowed" },
};

static void test_bad_configs_refused(void **state)
{
	struct remus_err err;
	struct remusd_conf *c;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		memset(&err, 0, sizeof(err));
		c = (struct remusd_conf *)1;
		if (remusd_conf_parse("t.conf", bad_cases[i].text, strlen(bad_cases[i].text),
				      &c, &err) != REMUSD_ECONF)
			fail_msg("case %zu accepted: %s", i, bad_cases[i].text);
		assert_null(c);
		if (strstr(err.msg, bad_cases[i].msg) == NULL)
			fail_msg("case %zu: expected '%s', got '%s'", i, bad_cases[i].msg, err.msg);
	}
}

static void test_hostile_bytes_refused(void **state)
{
	static const char nul[] = GLOBAL "tls = on\0\n";
	char longline[400];
	struct remus_err err = { 0 };
	struct remusd_conf *c = NULL;

	(void)state;
	assert_int_equal(remusd_conf_parse("t.conf", nul, sizeof(nul) - 1, &c, &err), REMUSD_ECONF);
	assert_non_null(strstr(err.msg, "t.conf:3: NUL byte"));
	snprintf(longline, sizeof(longline), GLOBAL "listen_address = %0300d\n", 1);
	assert_int_equal(remusd_conf_parse("t.conf", longline, strlen(longline), &c, &err), REMUSD_ECONF);
	assert_non_null(strstr(err.msg, "t.conf:3: line longer than 198 characters"));
	assert_null(c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	fclose(f);
}

static void test_reload_all_or_nothing(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[256];
	struct remus_err err = { 0 };
	struct remusd_conf *cur = NULL, *before;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/remus-conf-XXXXXX", tmp);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, GLOBAL "[guest a]\nimage = x\nmem = 8\n");
	assert_int_equal(remusd_conf_load(path, &cur, &err), 0);
	before = cur;
	/* a new file whose first guest is fine but whose second is not */
	write_file(path, GLOBAL "listen_port = 9\n[guest a]\nimage = y\nmem = 16\n"
			 "[guest b]\nmem = 3\n");
	assert_int_equal(remusd_conf_reload(path, &cur, &err), REMUSD_ECONF);
	assert_ptr_equal(cur, before);
	assert_int_equal(cur->listen_port, REMUSD_DEFAULT_PORT);
	assert_int_equal(cur->guests[0].mem_mb, 8);
	assert_int_equal(cur->nguests, 1);
	assert_non_null(strstr(err.msg, ":7: [guest b]: a pvm guest needs image and mem"));
	write_file(path, GLOBAL "listen_port = 9\n[guest a]\nimage = y\nmem = 16\n");
	assert_int_equal(remusd_conf_reload(path, &cur, &err), 0);
	assert_int_equal(cur->listen_port, 9);
	assert_int_equal(cur->guests[0].mem_mb, 16);
	unlink(path);
	assert_int_equal(remusd_conf_reload(path, &cur, &err), -2);   /* ENOENT */
	assert_int_equal(cur->listen_port, 9);
	remusd_conf_free(cur);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_file_parses),
		cmocka_unit_test(test_defaults_and_variants),
		cmocka_unit_test(test_metrics_listen),
		cmocka_unit_test(test_quorum_keys),
		cmocka_unit_test(test_bad_configs_refused),
		cmocka_unit_test(test_hostile_bytes_refused),
		cmocka_unit_test(test_reload_all_or_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
