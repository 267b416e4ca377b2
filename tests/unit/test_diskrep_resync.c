/* Unit tests for diskrep resync (hash compare, dirty bitmap), the primary's
 * bitmap/ack bookkeeping and the hypervisor disk-hook adapter. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "diskrep_fixture.h"

/* The backup's loop while a resync runs: until SYNC_DONE or an error. */
static void *backup_loop(void *arg)
{
	struct fx *f = arg;
	struct diskrep_event ev;
	static int rc;
	while ((rc = f->ops->receive(f->b, &ev, &f->err)) == 0 && ev.type != DISKREP_EV_SYNC_DONE)
		;
	return &rc;
}

static void run_resync(struct fx *f, enum diskrep_resync_mode mode, diskrep_progress_fn fn,
                       void *arg)
{
	struct remus_err perr = { 0 };
	pthread_t t;
	void *res;
	assert_int_equal(pthread_create(&t, NULL, backup_loop, f), 0);
	int rc = f->ops->resync(f->p, mode, fn, arg, &perr);
	assert_int_equal(pthread_join(t, &res), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(*(int *)res, 0);
}

/* Overwrite k distinct blocks of the backup image with junk. */
static void diverge(struct fx *f, uint32_t block, unsigned k, unsigned seed)
{
	uint64_t nblocks = (f->bytes + block - 1) / block;
	uint8_t *seen = calloc(nblocks, 1), junk[512];
	int fd = open(f->bimg, O_WRONLY);
	for (unsigned done = 0; done < k; ) {
		uint64_t b = (seed = seed * 1103515245u + 12345u) % nblocks;
		if (seen[b])
			continue;
		seen[b] = 1;
		memset(junk, (int)(done + 1), sizeof(junk));
		assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(b * block)), 512);
		done++;
	}
	close(fd);
	free(seen);
}

struct prog { int calls; struct diskrep_progress last; };
static void on_progress(void *arg, const struct diskrep_progress *p)
{
	struct prog *pr = arg;
	assert_true(p->done_bytes <= p->total_bytes);
	pr->calls++;
	pr->last = *p;
}

/* After divergence of k blocks a full resync sends exactly k blocks. */
static void test_full_resync_sends_exactly_k(void **state)
{
	static const unsigned ks[] = { 0, 1, 7, 40 };
	(void)state;
	for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
		struct fx f;
		struct prog pr = { 0 };
		struct diskrep_counters pc, bc;
		/* 4097 blocks of 512 bytes: two hash chunks, the second of 1 block */
		fx_init(&f, (2u << 20) + 512);
		diverge(&f, 512, ks[i], 17 + (unsigned)i);
		assert_int_equal(fx_open_primary(&f, 512, 3), 0);
		assert_int_equal(fx_open_backup(&f, 512, 0), 0);
		assert_int_equal(fx_same(&f), ks[i] == 0);
		run_resync(&f, DISKREP_RESYNC_FULL, on_progress, &pr);
		f.ops->counters(f.p, &pc);
		f.ops->counters(f.b, &bc);
		assert_int_equal(pc.resync_blocks_sent, ks[i]);
		assert_int_equal(bc.resync_blocks_applied, ks[i]);
		assert_int_equal(pc.dirty_blocks, 0);
		assert_true(bc.consistent);
		assert_int_equal(bc.committed_epoch, 3);
		assert_int_equal(pr.calls, 2);
		assert_int_equal(pr.last.done_bytes, f.bytes);
		assert_int_equal(pr.last.total_bytes, f.bytes);
		assert_int_equal(pr.last.blocks_sent, ks[i]);
		assert_true(fx_same(&f));
		fx_fini(&f);
	}
}

/* Writes made while the link is down are remembered in the bitmap (also
 * across a restart of the primary) and a DIRTY resync sends only them. */
static void test_dirty_resync_after_link_cut(void **state)
{
	struct fx f;
	struct diskrep_counters pc;
	uint8_t d[8192];
	(void)state;

	fx_init(&f, 256 * 1024);
	assert_int_equal(fx_open_primary(&f, 4096, 0), 0);
	assert_int_equal(fx_open_backup(&f, 4096, 0), 0);
	run_resync(&f, DISKREP_RESYNC_FULL, NULL, NULL);
	close(f.sv[0]);                             /* the link is cut */
	f.ops->set_peer(f.b, -1, &f.err);
	memset(d, 0x42, sizeof(d));
	assert_int_equal(f.ops->write(f.p, 0, d, 512, &f.err), 0);
	assert_int_equal(f.ops->epoch_mark(f.p, 1, &f.err), DISKREP_EPEER);
	assert_non_null(strstr(f.err.msg, "resync needed"));
	assert_int_equal(f.ops->write(f.p, 4096 * 10 + 2048, d, 4096, &f.err), 0);  /* 2 blocks */
	assert_int_equal(f.ops->write(f.p, 4096 * 40, d, 8192, &f.err), 0);         /* 2 blocks */
	assert_int_equal(f.ops->flush(f.p, &f.err), 0);
	f.ops->close(f.p);                          /* remusd restarts */
	f.p = NULL;
	close(f.sv[1]);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, f.sv), 0);
	assert_int_equal(fx_open_primary(&f, 4096, 1), 0);
	f.ops->set_peer(f.b, f.sv[0], &f.err);
	f.ops->counters(f.p, &pc);
	assert_int_equal(pc.dirty_blocks, 5);
	assert_false(fx_same(&f));
	run_resync(&f, DISKREP_RESYNC_DIRTY, NULL, NULL);
	f.ops->counters(f.p, &pc);
	assert_int_equal(pc.resync_blocks_sent, 5);
	assert_int_equal(pc.dirty_blocks, 0);
	assert_true(fx_same(&f));
	fx_fini(&f);
}

/* An ack clears blocks of acked epochs, not blocks rewritten later. */
static void test_ack_clears_only_acked_blocks(void **state)
{
	struct fx f;
	struct diskrep_counters pc;
	struct diskrep_event ev;
	uint8_t d[512] = { 1 };
	(void)state;

	fx_init(&f, 64 * 1024);
	assert_int_equal(fx_open_primary(&f, 4096, 0), 0);
	assert_int_equal(fx_open_backup(&f, 4096, 0), 0);
	run_resync(&f, DISKREP_RESYNC_FULL, NULL, NULL);
	assert_int_equal(f.ops->write(f.p, 0, d, 512, &f.err), 0);         /* block 0, epoch 1 */
	assert_int_equal(f.ops->write(f.p, 4096, d, 512, &f.err), 0);      /* block 1, epoch 1 */
	assert_int_equal(f.ops->epoch_mark(f.p, 1, &f.err), 0);
	assert_int_equal(f.ops->epoch_mark(f.p, 3, &f.err), DISKREP_EEPOCH);
	assert_int_equal(f.ops->write(f.p, 4096, d, 512, &f.err), 0);      /* block 1, epoch 2 */
	assert_int_equal(f.ops->epoch_mark(f.p, 2, &f.err), 0);
	f.ops->counters(f.p, &pc);
	assert_int_equal(pc.dirty_blocks, 2);
	assert_int_equal(f.ops->epoch_acked(f.p, 1, &f.err), 0);
	f.ops->counters(f.p, &pc);
	assert_int_equal(pc.dirty_blocks, 1);
	assert_int_equal(f.ops->epoch_acked(f.p, 2, &f.err), 0);
	assert_int_equal(f.ops->epoch_acked(f.p, 3, &f.err), DISKREP_EEPOCH);
	f.ops->counters(f.p, &pc);
	assert_int_equal(pc.dirty_blocks, 0);
	for (int n = 0; n < 5; n++)                 /* 3 writes + 2 epoch ends */
		assert_int_equal(f.ops->receive(f.b, &ev, &f.err), 0);
	assert_int_equal(ev.type, DISKREP_EV_EPOCH_READY);
	assert_int_equal(ev.epoch, 2);
	assert_int_equal(f.ops->commit(f.b, 2, &f.err), 0);
	assert_true(fx_same(&f));
	fx_fini(&f);
}

/* Guest writes made while a resync runs (from its progress callback, i.e.
 * after the first hash chunk was compared and before the second) */
struct midsync { struct fx *f; int calls; uint8_t data[1024]; };
static void write_midsync(void *arg, const struct diskrep_progress *p)
{
	struct midsync *m = arg;
	(void)p;
	if (m->calls++ != 0)
		return;
	memset(m->data, 0x5a, sizeof(m->data));
	/* block 3 (compared already), block 4000 + 4001 (not yet), block 4096 */
	assert_int_equal(m->f->ops->write(m->f->p, 3 * 512, m->data, 512, &m->f->err), 0);
	assert_int_equal(m->f->ops->write(m->f->p, 4000 * 512 + 512, m->data, 1024, &m->f->err), 0);
	assert_int_equal(m->f->ops->write(m->f->p, 4096 * 512, m->data, 512, &m->f->err), 0);
}

/* Receive until epoch `e` is ready on the backup. */
static void backup_until_ready(struct fx *f, uint64_t e)
{
	struct diskrep_event ev = { 0 };
	while (!(ev.type == DISKREP_EV_EPOCH_READY && ev.epoch == e))
		assert_int_equal(f->ops->receive(f->b, &ev, &f->err), 0);
}

/* A new run restarts the numbering (restart), the resync carries the base,
 * and writes made during the resync reach the backup as epoch base + 1:
 * after that epoch commits the images are equal; a second run works too. */
static void test_writes_during_resync_and_restarted_runs(void **state)
{
	struct fx f;
	struct midsync m = { .f = &f };
	struct diskrep_counters bc;
	uint8_t d[512];
	(void)state;

	fx_init(&f, (2u << 20) + 512);
	diverge(&f, 512, 25, 5);
	assert_int_equal(fx_open_primary(&f, 512, 110), 0);   /* an earlier run got to 110 */
	assert_int_equal(fx_open_backup(&f, 512, 0), 0);
	for (int run = 0; run < 2; run++) {
		assert_int_equal(f.ops->restart(f.p, 0, &f.err), 0);
		m.calls = 0;
		run_resync(&f, DISKREP_RESYNC_FULL, write_midsync, &m);
		f.ops->counters(f.b, &bc);
		assert_false(bc.consistent);            /* fuzzy until epoch 1 commits */
		assert_int_equal(bc.committed_epoch, 0);
		assert_int_equal(f.ops->epoch_mark(f.p, 1, &f.err), 0);
		backup_until_ready(&f, 1);
		assert_int_equal(f.ops->commit(f.b, 1, &f.err), 0);
		f.ops->counters(f.b, &bc);
		assert_true(bc.consistent);
		assert_true(fx_same(&f));
		/* the run goes on a little, then ends (backup lost) */
		memset(d, 0x30 + run, sizeof(d));
		assert_int_equal(f.ops->write(f.p, 7 * 512, d, 512, &f.err), 0);
		assert_int_equal(f.ops->epoch_mark(f.p, 2, &f.err), 0);
		backup_until_ready(&f, 2);
		assert_int_equal(f.ops->commit(f.b, 2, &f.err), 0);
		assert_true(fx_same(&f));
		assert_int_equal(f.ops->write(f.p, 9 * 512, d, 512, &f.err), 0);   /* never sent */
		assert_int_equal(f.ops->epoch_mark(f.p, 3, &f.err), 0);
		assert_int_equal(f.ops->discard_uncommitted(f.b, &f.err), 0);
	}
	fx_fini(&f);
}

/* The hv disk hook lands on the primary; role and range are enforced. */
static void test_hv_hook_and_role_checks(void **state)
{
	struct fx f;
	struct diskrep_hook h;
	struct hv_disk_hook hook;
	uint8_t d[1024], back[1024];
	(void)state;

	fx_init(&f, 64 * 1024);
	assert_int_equal(fx_open_primary(&f, 4096, 0), 0);
	assert_int_equal(fx_open_backup(&f, 4096, 0), 0);
	diskrep_hook_init(&h, f.ops, f.p, &hook);
	memset(d, 0x99, sizeof(d));
	assert_int_equal(hook.write(hook.arg, 2048, d, sizeof(d)), 0);
	assert_int_equal(hook.flush(hook.arg), 0);
	assert_int_equal(hook.read(hook.arg, 2048, back, sizeof(back)), 0);
	assert_memory_equal(d, back, sizeof(d));
	assert_int_equal(hook.write(hook.arg, 100, d, 512), DISKREP_ERANGE);
	assert_non_null(strstr(h.err.msg, "not sector"));
	assert_int_equal(hook.read(hook.arg, 64 * 1024, back, 512), DISKREP_ERANGE);
	assert_int_equal(f.ops->write(f.b, 0, d, 512, &f.err), DISKREP_EUNSUPP);
	assert_int_equal(f.ops->commit(f.p, 1, &f.err), DISKREP_ESTATE);
	assert_int_equal(f.ops->promote(f.b, &f.err), DISKREP_ESTATE);   /* never synced */
	fx_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_resync_sends_exactly_k),
		cmocka_unit_test(test_dirty_resync_after_link_cut),
		cmocka_unit_test(test_ack_clears_only_acked_blocks),
		cmocka_unit_test(test_hv_hook_and_role_checks),
		cmocka_unit_test(test_writes_during_resync_and_restarted_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
