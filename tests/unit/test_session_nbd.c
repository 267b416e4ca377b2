/*
 * A Xen guest's disk served over NBD by remusd's sessions (issue 22):
 * `diskrep = builtin` with `nbd_device`, the Xen driver over the fake Xen
 * (a guest of real pages), real image files, and libnbd in the place of
 * dom0's kernel client (the device's own socket; no /dev/nbdN is bound).
 *
 * Primary host: the session routes the served disk through its builtin
 * handle from `start` on; the guest's writes (over NBD) reach the image
 * and the handle; protection resyncs the backup's disk and carries every
 * later write as the epoch's frames.  A recording backup (stream_trial.c)
 * answers it; after more acknowledged checkpoints the guest is unprotected.
 *
 * Backup host: a backup session receives the recording, its served disk
 * refusing writes (EPERM) meanwhile; the primary's link ends and it fails
 * over: the replica's disk is the backup's nbd_device (what libxl was
 * given), its content the primary's, byte for byte, and the device now
 * writes through a primary handle of its own (the guest can be protected
 * from there).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <libxl.h>

#include "diskrep/nbd_device.h"
#include "diskrep_fixture.h"
#include "hv/xen/xen.h"
#include "remusd/session_impl.h"
#include "stream_trial.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"
#include "test_xen_fake_pages.h"

#define PAGES 16u
#define DIRTY 2u
#define BLOCK 4096u
#define NBLOCKS 64u
#define IMAGE ((uint64_t)BLOCK * NBLOCKS)
#define WAIT_MS 10000u

/* The fake host has no libxl state: the guest's configuration is the fake
 * JSON encoder's (one disk). */
int __wrap_libxl_retrieve_domain_configuration(libxl_ctx *ctx, uint32_t domid,
                                               libxl_domain_config *dc, const libxl_asyncop_how *ao);
int __wrap_libxl_retrieve_domain_configuration(libxl_ctx *ctx, uint32_t domid,
                                               libxl_domain_config *dc, const libxl_asyncop_how *ao)
{
	(void)ctx; (void)domid; (void)dc; (void)ao;
	return 0;
}

struct world {
	char dir[64], aimg[96], bimg[96], himg[96], hst[96], asock[96], bsock[96];
	struct tkeys keys;
	struct rnet_key key;
	struct remusd_conf conf;
	struct remusd_env env;
	struct recording rec;
};

static void block_of(unsigned seed, uint8_t *b)
{
	for (unsigned i = 0; i < BLOCK; i++)
		b[i] = (uint8_t)(seed * 37 + i * 11);
}

static void image_at(const char *path, uint8_t *buf, size_t len, uint64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static struct nbd_handle *nbd_client(const char *sock)
{
	struct nbd_handle *h = nbd_create();

	assert_non_null(h);
	assert_int_equal(nbd_set_export_name(h, "web"), 0);
	if (nbd_connect_unix(h, sock) < 0)
		fail_msg("connect %s: %s", sock, nbd_get_error());
	return h;
}

static struct nbd_device *serve(const char *image, const char *sock)
{
	struct nbd_device_config c = { .name = "web", .image = image, .socket = sock };
	struct remus_err err = { 0 };
	struct nbd_device *d = NULL;

	if (nbd_device_open(&c, &d, &err) < 0)
		fail_msg("nbd device: %s", err.msg);
	return d;
}

static enum nbd_device_mode route_of(struct nbd_device *d)
{
	struct nbd_device_status st;

	nbd_device_status(d, &st);
	return st.mode;
}

static uint64_t handle_writes(struct remusd_session *s)
{
	struct diskrep_counters dc;

	assert_non_null(s->disk);
	s->dr->counters(s->disk, &dc);
	return dc.writes;
}

static uint64_t acked(struct remusd_session *s)
{
	struct ckpt_stats st;

	pthread_mutex_lock(&s->lock);
	remusd_session_stats_locked(s, &st);
	pthread_mutex_unlock(&s->lock);
	return st.acked;
}

static void wait_state(struct remusd_session *s, enum remusd_state st)
{
	for (uint64_t until = rnet_now_ms() + WAIT_MS;
	     session_state(s) != st && rnet_now_ms() < until;) {
		poll(NULL, 0, 10);
		remusd_session_refresh(s);
	}
	if (session_state(s) != st)
		fail_msg("%s, not %s: %s", remusd_state_name(session_state(s)),
		         remusd_state_name(st), s->error);
}

static void guest_conf(struct remusd_guest_conf *gc, const char *image, const char *dev)
{
	memset(gc, 0, sizeof(*gc));
	snprintf(gc->name, sizeof(gc->name), "web");
	gc->type = REMUSD_GUEST_XEN;
	gc->mem_mb = 128;
	gc->interval_ms = 50;
	gc->netbuf = REMUSD_NETBUF_NONE;
	gc->diskrep = DISKREP_KIND_BUILTIN;
	snprintf(gc->disk, sizeof(gc->disk), "%s", image);
	snprintf(gc->nbd_device, sizeof(gc->nbd_device), "%s", dev);
}

/* The recording backup behind a listening socket: accept, handshake, record. */
struct listener {
	int lfd, hs_rc;
	struct rnet_params p;
	struct rec_backup b;
	pthread_t th;
};

static void *listener_main(void *arg)
{
	struct listener *L = arg;
	struct remus_err err = { 0 };
	struct pollfd lp = { .fd = L->lfd, .events = POLLIN };
	int fd;

	if (poll(&lp, 1, WAIT_MS) != 1 || (fd = accept(L->lfd, NULL, NULL)) < 0 ||
	    (L->hs_rc = rnet_handshake_fd(fd, false, &L->p, &L->b.c, &err)) < 0) {
		L->hs_rc = L->hs_rc ? L->hs_rc : -1;
		return NULL;
	}
	rec_backup_main(&L->b);
	rnet_conn_free(L->b.c);
	return NULL;
}

/* ---- the primary host ---------------------------------------------------- */

static void primary_host(struct world *w)
{
	struct remusd_guest_conf gc;
	struct remus_err err = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct listener L = { .b = { .rec = &w->rec, .wait_ms = WAIT_MS } };
	struct remusd_session *s;
	struct nbd_handle *h;
	uint8_t blk[BLOCK], img[BLOCK];
	char peer[32];
	int hchan[2];
	uint64_t n;

	xt_setup_host();
	fake_pages_on(PAGES, DIRTY);
	guest_conf(&gc, w->aimg, "/dev/nbd7");
	s = remusd_session_new(&gc, true, &err);
	assert_non_null(s);
	s->nbd = serve(w->aimg, w->asock);
	assert_int_equal(route_of(s->nbd), NBD_DEVICE_DIRECT);     /* before any session */
	if (remusd_session_start_guest(s, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_int_equal(route_of(s->nbd), NBD_DEVICE_HOOK);       /* through the handle */

	/* a write before protection: in the image, and seen by the handle */
	h = nbd_client(w->asock);
	block_of(1, blk);
	assert_int_equal(nbd_pwrite(h, blk, BLOCK, 3 * BLOCK, 0), 0);
	image_at(w->aimg, img, BLOCK, 3 * BLOCK);
	assert_memory_equal(img, blk, BLOCK);
	assert_int_equal(handle_writes(s), 1);

	/* protected to the recording backup, its disk answered by a helper
	 * backup handle on a copy of the backup host's image */
	{
		const struct diskrep_ops *ops = diskrep_backend("builtin");
		struct diskrep_config hc = { .role = DISKREP_BACKUP, .image = w->himg,
		                             .state_dir = w->hst, .peer_fd = -1 };

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hchan), 0);
		assert_int_equal(fcntl(hchan[1], F_SETFL, O_NONBLOCK), 0);
		hc.peer_fd = hchan[0];
		L.b.ops = ops;
		if (ops->open(&hc, &L.b.d, &err) < 0)
			fail_msg("helper backup: %s", err.msg);
		disk_channel_init(&L.b.dl, hchan[1]);
	}
	remusd_rnet_params(&w->env, &gc, &L.p);
	L.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(L.lfd >= 0);
	assert_int_equal(bind(L.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(L.lfd, 1), 0);
	assert_int_equal(getsockname(L.lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(peer, sizeof(peer), "127.0.0.1:%u", ntohs(sa.sin_port));
	stream_buf_init(&w->rec.stream);
	assert_int_equal(pthread_create(&L.th, NULL, listener_main, &L), 0);
	if (remusd_session_protect(s, &w->env, peer, 0, &err) < 0)
		fail_msg("protect: %s", err.msg);
	wait_state(s, RS_PROTECTED);

	/* the guest writes while protected, FUA and flush included */
	block_of(2, blk);
	assert_int_equal(nbd_pwrite(h, blk, BLOCK, 10 * BLOCK, LIBNBD_CMD_FLAG_FUA), 0);
	block_of(3, blk);
	assert_int_equal(nbd_pwrite(h, blk, BLOCK, 3 * BLOCK, 0), 0);   /* over the first */
	assert_int_equal(nbd_flush(h, 0), 0);
	assert_int_equal(handle_writes(s), 3);
	/* two more checkpoints: those writes' epochs are acknowledged */
	n = acked(s) + 2;
	for (uint64_t until = rnet_now_ms() + WAIT_MS; acked(s) < n && rnet_now_ms() < until;)
		poll(NULL, 0, 10);
	assert_true(acked(s) >= n);
	assert_int_equal(remusd_session_unprotect(s, &err), 0);
	pthread_join(L.th, NULL);
	assert_int_equal(L.hs_rc, 0);
	{
		size_t disk_frames = 0;

		for (size_t i = 0; i < w->rec.n; i++)
			disk_frames += w->rec.f[i].type == RNET_MSG_DISK;
		assert_true(disk_frames > 0);   /* the resync and the epochs rode the link */
	}
	/* unprotected: the device still writes through the handle */
	assert_int_equal(route_of(s->nbd), NBD_DEVICE_HOOK);
	nbd_close(h);
	{
		struct nbd_device *dev = s->nbd;

		remusd_session_free(s);
		assert_int_equal(route_of(dev), NBD_DEVICE_READ_ONLY);  /* no handle: nothing writes */
		nbd_device_close(dev);
	}
	L.b.ops->close(L.b.d);
	disk_channel_free(&L.b.dl);
	close(hchan[0]);
	close(hchan[1]);
	close(L.lfd);
	fake_pages_off();
}

/* ---- the backup host ----------------------------------------------------- */

static void backup_host(struct world *w)
{
	struct remusd_guest_conf gc;
	struct remus_err err = { 0 };
	struct replayer p = { .rec = &w->rec, .wait_ms = WAIT_MS, .wait_upto = 2 };
	struct remusd_session *s;
	struct nbd_handle *h;
	uint8_t blk[BLOCK], *a, *b;
	struct tlink l;

	backup_host_setup(PAGES, DIRTY);
	guest_conf(&gc, w->bimg, "/dev/nbd9");
	s = remusd_session_new(&gc, false, &err);
	assert_non_null(s);
	s->nbd = serve(w->bimg, w->bsock);
	tlink_up(&l);
	if (remusd_session_receive(s, l.bak.conn, &err) < 0)
		fail_msg("receive: %s", err.msg);
	l.bak.conn = NULL;
	/* this host holds the replica: the device refuses every write */
	assert_int_equal(route_of(s->nbd), NBD_DEVICE_READ_ONLY);
	h = nbd_client(w->bsock);
	block_of(9, blk);
	assert_int_equal(nbd_pwrite(h, blk, BLOCK, 0, 0), -1);
	assert_int_equal(nbd_get_errno(), EPERM);
	/* the primary's frames, then its link ends: fail over */
	p.c = l.pri.conn;
	assert_int_equal(pthread_create(&p.th, NULL, replayer_main, &p), 0);
	wait_state(s, RS_ACTIVE);
	pthread_join(p.th, NULL);
	assert_true(s->primary);
	assert_string_equal(fake.disk_path_added, "/dev/nbd9");    /* libxl's disk */
	assert_int_equal(route_of(s->nbd), NBD_DEVICE_HOOK);
	/* the replica's disk is the primary's, read through the device */
	a = malloc(IMAGE);
	b = malloc(IMAGE);
	assert_non_null(a);
	assert_non_null(b);
	fx_read(w->aimg, a, IMAGE);
	assert_int_equal(nbd_pread(h, b, IMAGE, 0, 0), 0);
	for (unsigned i = 0; i < NBLOCKS; i++)
		if (memcmp(a + (size_t)i * BLOCK, b + (size_t)i * BLOCK, BLOCK) != 0)
			fail_msg("block %u of the replica's disk is not the primary's", i);
	/* and the restored guest writes through a primary handle of its own */
	assert_int_equal(nbd_pwrite(h, blk, BLOCK, 0, 0), 0);
	assert_int_equal(handle_writes(s), 1);
	image_at(w->bimg, a, BLOCK, 0);
	assert_memory_equal(a, blk, BLOCK);
	free(a);
	free(b);
	nbd_close(h);
	{
		struct nbd_device *dev = s->nbd;

		remusd_session_free(s);
		nbd_device_close(dev);
	}
	tlink_down(&l);
	fake_pages_off();
}

static void test_served_disk_fails_over_epoch_exact(void **state)
{
	struct world w = { 0 };
	char cmd[256];

	(void)state;
	snprintf(w.dir, sizeof(w.dir), "/tmp/sessnbd.XXXXXX");
	assert_non_null(mkdtemp(w.dir));
	snprintf(w.aimg, sizeof(w.aimg), "%s/a.img", w.dir);
	snprintf(w.bimg, sizeof(w.bimg), "%s/b.img", w.dir);
	snprintf(w.himg, sizeof(w.himg), "%s/h.img", w.dir);
	snprintf(w.hst, sizeof(w.hst), "%s/hst", w.dir);
	snprintf(w.asock, sizeof(w.asock), "%s/a.sock", w.dir);
	snprintf(w.bsock, sizeof(w.bsock), "%s/b.sock", w.dir);
	fx_fill(w.aimg, IMAGE, 1);
	fx_fill(w.bimg, IMAGE, 2);              /* the backup's differs: resynced */
	fx_fill(w.himg, IMAGE, 2);
	assert_int_equal(mkdir(w.hst, 0700), 0);
	tkeys_setup(&w.keys);
	assert_int_equal(rnet_key_load(w.keys.good, &w.key, &(struct remus_err){ 0 }), 0);
	w.conf.hb_interval_ms = 100;
	w.conf.hb_timeout_ms = 30000;
	w.env = (struct remusd_env){ &w.conf, &w.key };

	primary_host(&w);
	backup_host(&w);

	rec_free(&w.rec);
	tkeys_cleanup(&w.keys);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w.dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_served_disk_fails_over_epoch_exact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
