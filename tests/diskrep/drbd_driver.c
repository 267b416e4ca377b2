/*
 * Test driver for the drbd backend: opens it in a role with the tools found
 * through PATH (the test puts fake drbdadm/drbdsetup first), writes through
 * it, marks an epoch, promotes, closes, and prints what happened.
 *   diskrep-drbd-driver [adopt-]primary|[adopt-]backup|refuse CONF_DIR DEVICE_FILE
 * adopt-*: the resource is the operator's (remusd's Xen guests).
 *   diskrep-drbd-driver handover-primary|handover-refused CONF_DIR DEVICE_FILE
 * a planned hand-over's dual-primary window on an adopted resource: the
 * primary opens it, demotes and closes it; a backup that promoted inside it
 * but refuses demotes and closes it.
 *   diskrep-drbd-driver report CONF_DIR DEVICE_FILE
 * what remusd asks without a handle: status (with the hand-over window) and
 * check of the resource named the generic way (cfg.resource, cfg.image).
 */
#include "diskrep/diskrep.h"

#include <stdio.h>
#include <string.h>

static int fail(const char *what, const struct remus_err *err)
{
	printf("FAIL %s: %s\n", what, err->msg);
	return 1;
}

/* The dual-primary window of a hand-over, one side of it. */
static int handover(const struct diskrep_ops *ops, struct diskrep_config *cfg, bool primary)
{
	struct remus_err err = { 0 };
	struct diskrep *d;

	cfg->drbd.adopt = true;
	cfg->role = primary ? DISKREP_PRIMARY : DISKREP_BACKUP;
	if (ops->open(cfg, &d, &err) < 0)
		return fail("open", &err);
	if (ops->dual_primary(d, true, &err) < 0 ||
	    (!primary && ops->promote(d, &err) < 0) ||
	    ops->demote(d, &err) < 0 || ops->dual_primary(d, false, &err) < 0) {
		ops->close(d);
		return fail("hand-over window", &err);
	}
	/* demoted: the device is closed, guest I/O goes nowhere */
	if (ops->flush(d, &err) != DISKREP_EUNSUPP) {
		ops->close(d);
		return fail("flush after demote", &err);
	}
	printf("window opened and closed\n");
	ops->close(d);
	return 0;
}

/* status and check without a handle, as remusctl status/check ask. */
static int report(const struct diskrep_ops *ops, const char *device)
{
	struct diskrep_config cfg = { .role = DISKREP_PRIMARY, .peer_fd = -1,
	                              .image = device, .resource = "remus-g1" };
	struct remus_err err = { 0 };
	struct diskrep_status st;
	int rc;

	if (diskrep_backend_of(DISKREP_KIND_DRBD) != ops || ops->kind != DISKREP_KIND_DRBD ||
	    !ops->adopts_device || ops->status == NULL || ops->check == NULL)
		return fail("registry", &err);
	rc = ops->status(&cfg, true, &st, &err);
	printf("status rc=%d", rc);
	for (unsigned i = 0; i < st.n; i++) {
		if (st.f[i].is_bool)
			printf(" %s=%d", st.f[i].key, st.f[i].b);
		else
			printf(" %s=%s", st.f[i].key, st.f[i].text);
	}
	printf("%s%s\n", rc < 0 ? " error=" : "", rc < 0 ? err.msg : "");
	rc = ops->check(&cfg, &err);
	printf("check rc=%s: %s\n", rc == 0 ? "ready" : rc == DISKREP_ESTATE ? "not-ready" : "unknown",
	       err.msg);
	return 0;
}

int main(int argc, char **argv)
{
	const struct diskrep_ops *ops = diskrep_backend("drbd");
	struct diskrep_config cfg = { .unsafe = true, .drbd = {
		.resource = "remus-g1", .minor = 3, .backing_disk = "/dev/vg0/g1",
		.local_host = "hostA", .local_addr = "10.0.0.1:7789",
		.peer_host = "hostB", .peer_addr = "10.0.0.2:7789" } };
	struct remus_err err = { 0 };
	struct diskrep_counters c;
	struct diskrep *d;
	char buf[512];

	if (argc != 4)
		return 2;
	cfg.drbd.conf_dir = argv[2];
	cfg.drbd.device = argv[3];
	if (strncmp(argv[1], "adopt-", 6) == 0) {
		cfg.drbd.adopt = true;
		argv[1] += 6;
	}
	if (strcmp(argv[1], "report") == 0)
		return report(ops, argv[3]);
	if (strcmp(argv[1], "handover-primary") == 0 || strcmp(argv[1], "handover-refused") == 0)
		return handover(ops, &cfg, strcmp(argv[1], "handover-primary") == 0);
	if (strcmp(argv[1], "refuse") == 0) {
		cfg.unsafe = false;
		if (ops->open(&cfg, &d, &err) != DISKREP_EUNSAFE)
			return fail("open without unsafe was not refused", &err);
		printf("refused: %s\n", err.msg);
		return 0;
	}
	cfg.role = strcmp(argv[1], "primary") == 0 ? DISKREP_PRIMARY : DISKREP_BACKUP;
	if (ops->open(&cfg, &d, &err) < 0)
		return fail("open", &err);
	if (cfg.role == DISKREP_PRIMARY) {
		memset(buf, 0x5c, sizeof(buf));
		if (ops->write(d, 1024, buf, sizeof(buf), &err) < 0 ||
		    ops->epoch_mark(d, 1, &err) < 0 || ops->epoch_mark(d, 3, &err) != DISKREP_EEPOCH)
			return fail("primary I/O", &err);
	} else {
		if (ops->commit(d, 1, &err) < 0 || ops->discard_uncommitted(d, &err) < 0 ||
		    ops->promote(d, &err) < 0 || ops->write(d, 0, buf, sizeof(buf), &err) < 0)
			return fail("backup failover", &err);
	}
	ops->counters(d, &c);
	printf("consistent=%d peer_lost=%d writes=%llu marked=%llu\n", c.consistent, c.peer_lost,
	    (unsigned long long)c.writes, (unsigned long long)c.epochs_marked);
	ops->close(d);
	return 0;
}
