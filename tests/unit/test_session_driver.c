/*
 * remusd's session machine with the driver's own loop (Xen) over the fake
 * Xen (test_xen_fake.c).  Primary: a session protects the guest to a backup
 * the test plays on a thread (a real rnet link on loopback), then
 * unprotects it or hands it over.  Backup: a session receives the fake
 * primary's stream and fails over when it dies.  The states walked, what
 * the peer is told (BYE(END), BYE(HANDOVER)) and the guest's fate are those
 * the session machine writes once for every driver.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/xen/xen.h"
#include "remusd/session_impl.h"
#include "stream/stream.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

#define PROLOGUE (16u + 8u)                 /* libxl header + LIBXC_CONTEXT */
#define CKPT_BYTES (FAKE_CHUNK + 8u)        /* libxc chunk + CHECKPOINT_END */
#define WAIT_MS 10000u

/* The backup the test plays: ACKs each whole checkpoint, notes BYEs,
 * answers a hand-over with BYE(RUNNING). */
struct bak {
	int lfd;
	struct rnet_params p;
	uint64_t base;              /* stream bytes before checkpoint 1 */
	uint64_t bytes, acked;
	int hs_rc;
	bool saw_bye, saw_handover, answered;
	uint64_t bye;
	int done;
	pthread_t th;
};

static void bak_send(struct rnet_conn *c, bool ack, uint64_t v)
{
	struct remus_err err = { 0 };

	if (ack)
		rnet_conn_send_ack(c, v, &err);
	else
		rnet_conn_send_bye(c, (uint32_t)v, &err);
	conn_flush_all(c, WAIT_MS);
}

static void *bak_main(void *arg)
{
	struct bak *b = arg;
	struct remus_err err = { 0 };
	struct pollfd lp = { .fd = b->lfd, .events = POLLIN };
	uint64_t until = rnet_now_ms() + WAIT_MS;
	struct rnet_conn *c = NULL;
	struct rnet_msg m;
	int fd;

	if (poll(&lp, 1, WAIT_MS) != 1 || (fd = accept(b->lfd, NULL, NULL)) < 0 ||
	    (b->hs_rc = rnet_handshake_fd(fd, false, &b->p, &c, &err)) < 0) {
		b->hs_rc = b->hs_rc ? b->hs_rc : -1;
		return NULL;
	}
	while (rnet_now_ms() < until && !__atomic_load_n(&b->done, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = rnet_conn_fd(c), .events = POLLIN };

		poll(&p, 1, 20);
		if (rnet_conn_feed(c, rnet_now_ms(), &err) < 0)
			break;
		while (rnet_conn_next(c, &m, &err) == 1) {
			if (m.type == RNET_MSG_STREAM)
				b->bytes += m.len;
			if (m.type == RNET_MSG_BYE && m.u64 == CKPT_BYE_HANDOVER)
				b->saw_handover = true;
			else if (m.type == RNET_MSG_BYE) {
				b->bye = m.u64;
				__atomic_store_n(&b->saw_bye, true, __ATOMIC_RELEASE);
			}
		}
		while (b->bytes >= b->base + (b->acked + 1) * CKPT_BYTES)
			bak_send(c, true, ++b->acked);
		if (b->saw_handover && !b->answered) {
			bak_send(c, false, CKPT_BYE_RUNNING);
			b->answered = true;
		}
		rnet_conn_tick(c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(c))
			rnet_conn_flush(c, &err);
	}
	rnet_conn_free(c);
	return NULL;
}

struct rig {
	struct tkeys keys;
	struct rnet_key key;
	struct remusd_conf conf;
	struct remusd_env env;
	struct remusd_guest_conf gc;
	struct remusd_session *s;
	struct bak b;
	char peer[32];
};

/* A Xen guest "web" running under its session, and a backup listening. */
static void rig_up(struct rig *r)
{
	struct remus_err err = { 0 };
	struct hv_guest_config cfg = { .name = "web" };
	struct hv_guest *g = NULL;
	struct hv_blob pre = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	memset(r, 0, sizeof(*r));
	xt_setup_host();
	tkeys_setup(&r->keys);
	assert_int_equal(rnet_key_load(r->keys.good, &r->key, &err), 0);
	r->conf.hb_interval_ms = 100;
	r->conf.hb_timeout_ms = 30000;
	r->env = (struct remusd_env){ &r->conf, &r->key };
	snprintf(r->gc.name, sizeof(r->gc.name), "web");
	r->gc.type = REMUSD_GUEST_XEN;
	r->gc.mem_mb = 16;
	r->gc.interval_ms = 60000;          /* checkpoint 1, then only the final one */
	r->gc.netbuf = REMUSD_NETBUF_NONE;
	r->s = remusd_session_new(&r->gc, true, &err);
	assert_non_null(r->s);
	assert_ptr_equal(r->s->eng, &session_driver_engine);
	if (remusd_session_start_guest(r->s, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_int_equal(r->s->state, RS_IDLE);
	/* the stream starts with xl's header: as long as the driver's preamble */
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_int_equal(xen_hv_ops.preamble(g, &pre, &err), 0);
	r->b.base = pre.len + PROLOGUE;
	hv_blob_free(&pre);
	xen_hv_ops.destroy(g);              /* attached: the domain stays */
	remusd_rnet_params(&r->env, &r->gc, &r->b.p);
	r->b.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(r->b.lfd >= 0);
	assert_int_equal(bind(r->b.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(r->b.lfd, 1), 0);
	assert_int_equal(getsockname(r->b.lfd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(r->peer, sizeof(r->peer), "127.0.0.1:%u", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&r->b.th, NULL, bak_main, &r->b), 0);
}

/* Protect, and wait (bounded) until checkpoint 1 is acknowledged. */
static void rig_protect(struct rig *r)
{
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + WAIT_MS;

	if (remusd_session_protect(r->s, &r->env, r->peer, 0, &err) < 0)
		fail_msg("protect: %s", err.msg);
	assert_int_equal(r->s->state, RS_SYNCING);
	while (session_state(r->s) != RS_PROTECTED && rnet_now_ms() < until) {
		poll(NULL, 0, 10);
		remusd_session_refresh(r->s);
	}
	assert_int_equal(session_state(r->s), RS_PROTECTED);
	assert_int_equal(fake.save_checkpoints, 1);
}

static void rig_down(struct rig *r)
{
	__atomic_store_n(&r->b.done, 1, __ATOMIC_RELEASE);
	pthread_join(r->b.th, NULL);
	assert_int_equal(r->b.hs_rc, 0);
	close(r->b.lfd);
	remusd_session_free(r->s);
	assert_int_equal(fake.xc_open, 0);
	tkeys_cleanup(&r->keys);
}

/* Unprotect: the backup is told BYE(END) (keep the replica, do not fail
 * over), the guest runs on, unprotected. */
static void test_unprotect(void **state)
{
	struct remus_err err = { 0 };
	struct rig r;

	(void)state;
	rig_up(&r);
	rig_protect(&r);
	assert_int_equal(remusd_session_unprotect(r.s, &err), 0);
	assert_int_equal(r.s->state, RS_UNPROTECTED);
	assert_string_equal(r.s->error, "unprotected on request");
	for (uint64_t until = rnet_now_ms() + WAIT_MS;
	     !__atomic_load_n(&r.b.saw_bye, __ATOMIC_ACQUIRE) && rnet_now_ms() < until;)
		poll(NULL, 0, 10);
	assert_true(r.b.saw_bye);
	assert_int_equal(r.b.bye, CKPT_BYE_END);
	assert_false(r.b.saw_handover);
	assert_false(fake.suspended);
	assert_true(fake.exists);
	assert_non_null(r.s->guest);
	/* a second evacuate or unprotect has nothing to act on */
	assert_true(remusd_session_evacuate(r.s, &err) < 0);
	assert_non_null(strstr(err.msg, "is not protected (unprotected"));
	rig_down(&r);
}

/* Evacuate: the session is evacuating while the driver's loop hands over
 * (final checkpoint 2, BYE(HANDOVER)), the backup confirms, the copy here
 * is destroyed and the session ends evacuated; start is refused then. */
static void test_evacuate_confirmed(void **state)
{
	struct remus_err err = { 0 };
	struct rig r;

	(void)state;
	rig_up(&r);
	rig_protect(&r);
	if (remusd_session_evacuate(r.s, &err) < 0)
		fail_msg("evacuate: %s", err.msg);
	assert_int_equal(r.s->state, RS_EVACUATED);
	assert_true(r.b.saw_handover);
	assert_int_equal(r.b.acked, 2);
	assert_int_equal(fake.save_checkpoints, 2);
	assert_null(r.s->guest);
	assert_false(fake.exists);          /* the handed-over copy ends for good */
	assert_true(remusd_session_start_guest(r.s, &err) < 0);
	assert_non_null(strstr(err.msg, "was evacuated"));
	rig_down(&r);
}

/* A blackhole run needs an engine that checkpoints with no backup: the
 * driver's loop is refused before anything is connected. */
static void test_blackhole_refused(void **state)
{
	struct remus_err err = { 0 };
	struct rig r;

	(void)state;
	rig_up(&r);
	assert_int_equal(remusd_session_protect(r.s, &r.env, NULL, REMUSD_UNSAFE_BLACKHOLE, &err),
	                 -ENOTSUP);
	assert_non_null(strstr(err.msg, "needs a backup"));
	assert_int_equal(r.s->state, RS_IDLE);
	/* the backup's accept would wait in vain: connect it once to end it */
	{
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);

		getsockname(r.b.lfd, (struct sockaddr *)&sa, &sl);
		connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
	}
	pthread_join(r.b.th, NULL);
	close(r.b.lfd);
	remusd_session_free(r.s);
	tkeys_cleanup(&r.keys);
}

/* The primary's stream of the fake guest: xl's header, then the driver's
 * 3 checkpoints; the fake host becomes the backup host (dom0 only). */
static uint8_t *primary_stream(size_t *hl)
{
	static const char json[] = "{\"c_info\":{}}";
	struct engine e = { 0 };
	struct stream_buf b;
	int fd = xt_memfd();
	uint8_t *all;
	off_t n;

	xt_setup_host();
	assert_int_equal(xt_save(&e, fd, false), 0);
	n = lseek(fd, 0, SEEK_END);
	stream_buf_init(&b);
	assert_int_equal(stream_put_xl_header(&b, json, sizeof(json)), 0);
	*hl = b.len;
	all = malloc(b.len + (size_t)n);
	assert_non_null(all);
	memcpy(all, b.data, b.len);
	assert_int_equal(pread(fd, all + b.len, (size_t)n, 0), n);
	stream_buf_free(&b);
	close(fd);
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	return all;
}

/* The fake primary (the test): send `len` stream bytes, then wait
 * (bounded) for ACK(want); BYEs seen are noted in *bye (UINT64_MAX: none). */
static uint64_t prim_send(struct rnet_conn *c, const uint8_t *p, size_t len, uint64_t want,
                          uint64_t *bye)
{
	struct remus_err err = { 0 };
	uint64_t acks = 0, until = rnet_now_ms() + WAIT_MS;
	struct rnet_msg m;

	if (len > 0)
		assert_int_equal(rnet_conn_send_stream(c, p, len, &err), 0);
	conn_flush_all(c, WAIT_MS);
	while ((acks < want || (bye != NULL && *bye == UINT64_MAX)) && rnet_now_ms() < until) {
		struct pollfd pf = { .fd = rnet_conn_fd(c), .events = POLLIN };

		poll(&pf, 1, 20);
		if (rnet_conn_feed(c, rnet_now_ms(), &err) < 0)
			break;
		while (rnet_conn_next(c, &m, &err) == 1)
			if (m.type == RNET_MSG_ACK)
				acks = m.u64;
			else if (m.type == RNET_MSG_BYE && bye != NULL)
				*bye = m.u64;
	}
	return acks;
}

/* Wait (bounded) until the session is in state st. */
static void wait_state(struct remusd_session *s, enum remusd_state st)
{
	for (uint64_t until = rnet_now_ms() + WAIT_MS;
	     session_state(s) != st && rnet_now_ms() < until;)
		poll(NULL, 0, 10);
	if (session_state(s) != st)
		fail_msg("%s, not %s: %s", remusd_state_name(s->state), remusd_state_name(st),
		         s->error);
}

/* Backup: checkpoints 1 and 2 arrive and are acknowledged, then the
 * primary dies: the session fails over by itself (receiving ->
 * replica-ready -> active), the replica built from checkpoint 2 runs
 * under the guest's own name. */
static void test_backup_fails_over(void **state)
{
	struct remusd_guest_conf gc = { .name = "web", .type = REMUSD_GUEST_XEN, .mem_mb = 128,
	                                .netbuf = REMUSD_NETBUF_NONE };
	struct remus_err err = { 0 };
	struct remusd_session *s;
	struct tlink l;
	uint64_t acks;
	size_t hl;
	uint8_t *all;

	(void)state;
	all = primary_stream(&hl);
	tlink_up(&l);
	s = remusd_session_new(&gc, false, &err);
	assert_non_null(s);
	assert_int_equal(remusd_session_receive(s, l.bak.conn, &err), 0);   /* owns it */
	l.bak.conn = NULL;
	acks = prim_send(l.pri.conn, all, hl + PROLOGUE + 2 * CKPT_BYTES, 2, NULL);
	assert_int_equal(acks, 2);
	remusd_session_refresh(s);
	assert_int_equal(session_state(s), RS_REPLICA_READY);
	shutdown(rnet_conn_fd(l.pri.conn), SHUT_RDWR);      /* the primary dies */
	wait_state(s, RS_ACTIVE);
	assert_true(s->primary);        /* promoted: the guest's primary now */
	assert_non_null(s->guest);
	assert_true(s->failover_done);
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_true(fake.exists);
	assert_false(fake.paused);
	/* a new run is refused while the guest runs here */
	tlink_down(&l);
	tlink_up(&l);
	assert_int_equal(remusd_session_receive(s, l.bak.conn, &err), -EBUSY);
	l.bak.conn = NULL;
	remusd_session_free(s);
	tlink_down(&l);
	free(all);
}

/* Backup, a planned hand-over: after checkpoint 2 the primary ends the
 * stream with END and says BYE(HANDOVER): the session takes over and
 * answers BYE(RUNNING). */
static void test_backup_handover(void **state)
{
	static const uint8_t end[16];           /* libxc END + libxl END */
	struct remusd_guest_conf gc = { .name = "web", .type = REMUSD_GUEST_XEN, .mem_mb = 128,
	                                .netbuf = REMUSD_NETBUF_NONE };
	struct remus_err err = { 0 };
	struct remusd_session *s;
	uint64_t bye = UINT64_MAX;
	struct tlink l;
	size_t hl;
	uint8_t *all;

	(void)state;
	all = primary_stream(&hl);
	tlink_up(&l);
	s = remusd_session_new(&gc, false, &err);
	assert_non_null(s);
	assert_int_equal(remusd_session_receive(s, l.bak.conn, &err), 0);
	l.bak.conn = NULL;
	assert_int_equal(prim_send(l.pri.conn, all, hl + PROLOGUE + 2 * CKPT_BYTES, 2, NULL), 2);
	assert_int_equal(rnet_conn_send_stream(l.pri.conn, end, sizeof(end), &err), 0);
	assert_int_equal(rnet_conn_send_bye(l.pri.conn, CKPT_BYE_HANDOVER, &err), 0);
	prim_send(l.pri.conn, NULL, 0, 0, &bye);
	assert_int_equal(bye, CKPT_BYE_RUNNING);
	wait_state(s, RS_ACTIVE);
	assert_true(s->primary);
	assert_string_equal(s->error, "planned hand-over from the primary");
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_true(fake.exists);
	remusd_session_free(s);
	tlink_down(&l);
	free(all);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unprotect),
		cmocka_unit_test(test_evacuate_confirmed),
		cmocka_unit_test(test_blackhole_refused),
		cmocka_unit_test(test_backup_fails_over),
		cmocka_unit_test(test_backup_handover),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
