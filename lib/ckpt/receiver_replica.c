/*
 * What becomes of the receiver's replica: kept for another run of the same
 * guest (restart; resume, numbering on), seeded from a hand-over's RAM,
 * moved to another process (export/import: live update), and restored as
 * the running guest at failover.  The run itself is receiver.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/receiver_impl.h"
#include "diskrep/diskrep.h"

int ckpt_receiver_restart(struct ckpt_receiver *r, const struct ckpt_receiver_cfg *cfg,
                          struct remus_err *err)
{
	bool delta = cfg->conn && rnet_compress_delta(rnet_conn_compress(cfg->conn));

	if (cfg->hv != r->cfg.hv || cfg->ram_bytes != r->cfg.ram_bytes)
		return remus_err_set(err, CKPT_ECONFIG, "receiver restart: the guest's driver or RAM "
		                     "size changed (%" PRIu64 " -> %" PRIu64 " bytes)",
		                     r->cfg.ram_bytes, cfg->ram_bytes);
	delta_rx_free(&r->dx);
	if (delta && delta_rx_init(&r->dx, cfg->ram_bytes, err) < 0)
		return err->code;
	r->has_replica = r->has_replica || r->applied > 0;
	r->cfg = *cfg;
	r->delta = delta;
	r->applied = 0;
	r->stop_us = 0;
	r->bye_reason = 0;
	r->disk_ready = 0;
	stream_asm_free(&r->as);
	receiver_asm_start(r);
	disk_channel_free(&r->dl);
	disk_channel_init(&r->dl, cfg->dr ? cfg->disk_fd : -1);
	pthread_mutex_lock(&r->lock);
	memset(&r->st, 0, sizeof(r->st));
	r->st.started_ms = rnet_now_ms();
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int ckpt_receiver_resume(struct ckpt_receiver *r, const struct ckpt_receiver_cfg *cfg,
                         struct remus_err *err)
{
	uint64_t n = r->applied;
	struct ckpt_stats st;
	int rc;

	if (n == 0)
		return remus_err_set(err, CKPT_ENOREPLICA, "resume: no checkpoint applied here");
	pthread_mutex_lock(&r->lock);
	st = r->st;
	pthread_mutex_unlock(&r->lock);
	if ((rc = ckpt_receiver_restart(r, cfg, err)) < 0)
		return rc;
	r->applied = r->disk_ready = n;
	r->resume_ack = true;
	stream_asm_free(&r->as);
	receiver_asm_start(r);
	pthread_mutex_lock(&r->lock);
	r->st.epoch = st.epoch;
	r->st.acked = st.acked;
	r->st.checkpoints = st.checkpoints;
	r->st.pages = st.pages;
	r->st.started_ms = st.started_ms;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

void ckpt_receiver_seed(struct ckpt_receiver *r, const uint8_t *ram)
{
	memcpy(r->ram, ram, r->cfg.ram_bytes);
	r->has_replica = true;
}

void ckpt_receiver_release_disk(struct ckpt_receiver *r)
{
	r->cfg.dr = NULL;
	r->cfg.disk = NULL;
}

int ckpt_receiver_failover(struct ckpt_receiver *r, const struct hv_guest_config *gcfg,
                           struct hv_guest **out, struct ckpt_failover_times *t,
                           struct remus_err *err)
{
	struct hv_checkpoint ck = {
		.ram_fd = r->ram_fd, .ram_bytes = r->cfg.ram_bytes,
		.hvm_context = r->hvm.data, .hvm_context_len = r->hvm.len,
		.emu_context = r->emu.data, .emu_context_len = r->emu.len,
		.store = r->cfg.xenstore ? r->store.data : NULL, .store_len = r->store.len,
	};
	const struct hv_ops *hv = r->cfg.hv;
	uint64_t t0 = ckpt_now_us(), t1, t2, t3;
	struct hv_guest *g = NULL;
	int rc;

	*out = NULL;
	memset(t, 0, sizeof(*t));
	if (r->stop_us == 0)
		r->stop_us = t0;
	if (r->applied == 0)
		return remus_err_set(err, CKPT_ENOREPLICA, "failover: no complete checkpoint received");
	if (hv->restore == NULL)
		return remus_err_set(err, CKPT_ECONFIG, "failover: driver %s cannot restore", hv->name);
	if (r->cfg.dr && ((rc = r->cfg.dr->discard_uncommitted(r->cfg.disk, err)) < 0 ||
	                  (r->cfg.dr->promote && (rc = r->cfg.dr->promote(r->cfg.disk, err)) < 0 &&
	                   rc != DISKREP_EUNSUPP)))
		return remus_err_wrap(err, "failover disk");
	if ((rc = hv->restore(gcfg, &ck, &g, err)) < 0)
		return remus_err_wrap(err, "failover from checkpoint %" PRIu64 "", r->applied);
	t1 = ckpt_now_us();
	if (hv->announce && (rc = hv->announce(g, err)) < 0 && rc != HV_EUNSUPP) {
		hv->destroy(g);
		return remus_err_wrap(err, "failover announce");
	}
	t2 = ckpt_now_us();
	if ((rc = hv->start(g, err)) < 0) {
		hv->destroy(g);
		return remus_err_wrap(err, "failover start");
	}
	t3 = ckpt_now_us();
	t->detect_to_restore_us = t0 - r->stop_us;
	t->restore_us = t1 - t0;
	t->announce_us = t2 - t1;
	t->total_us = t3 - r->stop_us;
	t->checkpoint = r->applied;
	*out = g;
	return 0;
}

int ckpt_receiver_export(struct ckpt_receiver *r, int *ram_fd, uint8_t **state, size_t *len,
                         struct remus_err *err)
{
	struct ckpt_replica_state s = { .ram_bytes = r->cfg.ram_bytes, .applied = r->applied,
	                                .hvm = r->hvm.data, .hvm_len = (uint32_t)r->hvm.len,
	                                .emu = r->emu.data, .emu_len = (uint32_t)r->emu.len,
	                                .store = r->store.data,
	                                .store_len = (uint32_t)r->store.len };
	int rc;

	*ram_fd = -1;
	if (r->applied == 0)
		return remus_err_set(err, CKPT_ENOREPLICA, "replica export: no checkpoint applied");
	pthread_mutex_lock(&r->lock);
	s.checkpoints = r->st.checkpoints;
	s.pages = r->st.pages;
	pthread_mutex_unlock(&r->lock);
	if ((rc = ckpt_replica_encode(&s, state, len, err)) < 0)
		return rc;
	if ((*ram_fd = fcntl(r->ram_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
		free(*state);
		*state = NULL;
		return remus_err_sys(err, errno, "replica export: dup of its RAM");
	}
	return 0;
}

int ckpt_receiver_import(const struct ckpt_receiver_cfg *cfg, int ram_fd, const uint8_t *state,
                         size_t len, struct ckpt_receiver **out, struct remus_err *err)
{
	struct ckpt_replica_state s;
	struct ckpt_receiver *r = NULL;
	struct stat sb;
	uint8_t *ram;
	int rc;

	*out = NULL;
	if ((rc = ckpt_replica_decode(state, len, &s, err)) < 0)
		return rc;
	if (s.ram_bytes != cfg->ram_bytes)
		return remus_err_set(err, CKPT_ECONFIG, "replica import: a %" PRIu64 "-byte RAM, the "
		                     "guest has %" PRIu64, s.ram_bytes, cfg->ram_bytes);
	if (fstat(ram_fd, &sb) < 0 || (uint64_t)sb.st_size != cfg->ram_bytes)
		return remus_err_set(err, CKPT_ECONFIG, "replica import: its RAM descriptor is not "
		                     "%" PRIu64 " bytes", cfg->ram_bytes);
	ram = mmap(NULL, cfg->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
	if (ram == MAP_FAILED)
		return remus_err_sys(err, errno, "replica import: map its RAM");
	if ((rc = ckpt_receiver_new(cfg, &r, err)) < 0 ||
	    (rc = receiver_keep_blob(&r->hvm, s.hvm, s.hvm_len, err)) < 0 ||
	    (rc = receiver_keep_blob(&r->emu, s.emu, s.emu_len, err)) < 0 ||
	    (s.store_len && (rc = receiver_keep_blob(&r->store, s.store, s.store_len, err)) < 0)) {
		munmap(ram, cfg->ram_bytes);
		ckpt_receiver_free(r);
		return rc;
	}
	munmap(r->ram, cfg->ram_bytes);         /* its own, empty: the imported one instead */
	close(r->ram_fd);
	r->ram = ram;
	r->ram_fd = ram_fd;
	r->applied = r->disk_ready = s.applied;
	r->has_replica = true;
	stream_asm_free(&r->as);
	receiver_asm_start(r);
	r->st.epoch = r->st.acked = s.applied;
	r->st.checkpoints = s.checkpoints;
	r->st.pages = s.pages;
	*out = r;
	return 0;
}
