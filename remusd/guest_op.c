/* Long guest operations on worker threads: see guest_op.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remusd/evacuate_to.h"
#include "remusd/guest_op.h"
#include "util/log.h"

int guest_ops_init(struct guest_ops *g, struct remus_err *err)
{
	memset(g, 0, sizeof(*g));
	if (pipe2(g->pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "guest operations: pipe");
	return 0;
}

const char *guest_op_name(uint32_t type)
{
	switch (type) {
	case CTL_PROTECT:
		return "protect";
	case CTL_UNPROTECT:
		return "unprotect";
	case CTL_EVACUATE:
		return "evacuate";
	case CTL_FAILOVER:
	case CTL_FAILOVER_FORCE:
		return "failover";
	case CTL_RESUME:
		return "resume";
	case CTL_DESTROY:
		return "destroy";
	case CTL_STOP:
		return "halt";
	case CTL_CHECK:
		return "check";
	case GUEST_OP_RECEIVE:
		return "a new replication run";
	case GUEST_OP_PROBE:
		return "a probe of the backup";
	case GUEST_OP_YIELD:
		return "yielding to a newer copy";
	default:
		return ctl_type_name(type);
	}
}

const struct guest_op *guest_ops_busy(const struct guest_ops *g, const struct remusd_session *s)
{
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (g->op[i].used && g->op[i].s == s && s != NULL)
			return &g->op[i];
	return NULL;
}

/* Protect once the driver's and the disk's own probes find nothing that
 * forbids it (they run tools: here, not on the loop). */
static int protect_checked(struct guest_op *op)
{
	uint32_t r = remusd_session_driver_check(op->s, op->unsafe | op->s->gc.unsafe, NULL, 0);
	char why[512];

	if (r != 0) {
		ctl_check_reasons_text(r, why, sizeof(why));
		return remus_err_set(&op->err, -EPERM, "cannot protect %s: %s", op->s->name, why);
	}
	return remusd_session_protect(op->s, &op->env, op->peer, op->unsafe, &op->err);
}

/* The worker: the operation itself, then "done" to the loop. */
static void *guest_op_main(void *arg)
{
	struct guest_op *op = arg;

	switch (op->type) {
	case CTL_CHECK:
		remusd_check_run(op->check);
		break;
	case CTL_PROTECT:
		op->rc = protect_checked(op);
		break;
	case CTL_UNPROTECT:
		op->rc = remusd_session_unprotect(op->s, &op->err);
		break;
	case CTL_EVACUATE:
		op->s->evac_reverse = !(op->evac_flags & CTL_EVAC_NO_REPROTECT);
		op->rc = (op->evac_flags & CTL_EVAC_TO) ?
		         remusd_session_evacuate_to(op->s, &op->env, op->peer, &op->err) :
		         remusd_session_evacuate(op->s, &op->err);
		break;
	case CTL_RESUME:
	case CTL_DESTROY:
		op->rc = op->why[0] ? remusd_session_resolve_auto(op->s, op->type == CTL_RESUME,
		                                                  op->why, &op->err)
		                    : remusd_session_resolve(op->s, op->type == CTL_RESUME, &op->err);
		break;
	case GUEST_OP_PROBE:
		remusd_in_doubt_probe(op->check);
		break;
	case CTL_STOP:
		op->rc = remusd_session_stop(op->s, &op->err);
		break;
	case GUEST_OP_YIELD:
		op->rc = remusd_session_yield(op->s, op->generation, op->peer, &op->err);
		break;
	case GUEST_OP_RECEIVE:
		op->rc = remusd_session_receive(op->s, op->conn, &op->err);   /* owns conn */
		op->conn = NULL;
		break;
	default:
		op->rc = remusd_session_failover(op->s, op->type == CTL_FAILOVER_FORCE, &op->err);
		break;
	}
	__atomic_store_n(&op->done, true, __ATOMIC_RELEASE);
	/* the pipe only wakes the loop: a full pipe has woken it already */
	if (write(op->notify_fd, "x", 1) < 0 && errno != EAGAIN)
		log_warn("guest %s: operation done, cannot wake the loop", op->name);
	return NULL;
}

/* A free slot for an operation on the guest `name`, or NULL (err set). */
static struct guest_op *op_slot(struct guest_ops *g, struct remusd_session *s, const char *name,
                                struct remus_err *err)
{
	if (guest_ops_busy(g, s) != NULL) {
		remus_err_set(err, -EBUSY, "guest %s: %s in progress", name,
		              guest_op_name(guest_ops_busy(g, s)->type));
		return NULL;
	}
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (!g->op[i].used)
			return &g->op[i];
	remus_err_set(err, -EBUSY, "guest %s: too many operations in progress", name);
	return NULL;
}

/* Run a filled slot on its worker thread. */
static int op_run(struct guest_ops *g, struct guest_op *op, struct remus_err *err)
{
	int rc;

	op->notify_fd = g->pipe[1];
	op->used = true;
	if ((rc = pthread_create(&op->th, NULL, guest_op_main, op)) != 0) {
		op->used = false;
		return remus_err_sys(err, rc, "guest %s: %s thread", op->name, guest_op_name(op->type));
	}
	g->running++;
	log_debug("guest %s: %s runs on a worker thread", op->name, guest_op_name(op->type));
	return 0;
}

int guest_ops_start(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                    const struct ctl_msg *m, const struct remusd_env *env,
                    struct remus_err *err)
{
	struct guest_op *op = op_slot(g, s, s->name, err);

	if (op == NULL)
		return -EBUSY;
	memset(op, 0, sizeof(*op));
	op->c = c;
	op->seq = m->seq;
	op->type = m->type;
	op->env = *env;
	memcpy(op->peer, m->peer, strnlen(m->peer, sizeof(op->peer) - 1));
	op->unsafe = m->unsafe;
	op->evac_flags = m->evac_flags;
	op->s = s;
	snprintf(op->name, sizeof(op->name), "%s", s->name);
	return op_run(g, op, err);
}

int guest_ops_start_receive(struct guest_ops *g, struct remusd_session *s,
                            struct rnet_conn *conn, const char *addr, struct remus_err *err)
{
	struct guest_op *op = op_slot(g, s, s->name, err);
	int rc;

	if (op == NULL) {
		rnet_conn_free(conn);
		return -EBUSY;
	}
	memset(op, 0, sizeof(*op));
	op->type = GUEST_OP_RECEIVE;
	op->conn = conn;
	memcpy(op->peer, addr, strnlen(addr, sizeof(op->peer) - 1));
	op->s = s;
	snprintf(op->name, sizeof(op->name), "%s", s->name);
	if ((rc = op_run(g, op, err)) < 0) {
		op->conn = NULL;
		rnet_conn_free(conn);
	}
	return rc;
}

int guest_ops_start_yield(struct guest_ops *g, struct remusd_session *s, uint64_t generation,
                          const char *why, struct remus_err *err)
{
	struct guest_op *op = op_slot(g, s, s->name, err);

	if (op == NULL)
		return -EBUSY;
	memset(op, 0, sizeof(*op));
	op->type = GUEST_OP_YIELD;
	op->generation = generation;
	snprintf(op->peer, sizeof(op->peer), "%s", why);
	op->s = s;
	snprintf(op->name, sizeof(op->name), "%s", s->name);
	return op_run(g, op, err);
}

int guest_ops_start_check(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                          const struct ctl_msg *m, struct remusd_check *chk,
                          struct remus_err *err)
{
	struct guest_op *op = op_slot(g, s, chk->gc.name, err);
	int rc;

	if (op == NULL) {
		free(chk);
		return -EBUSY;
	}
	memset(op, 0, sizeof(*op));
	op->c = c;
	op->seq = m->seq;
	op->type = CTL_CHECK;
	op->env = chk->env;
	op->s = s;
	op->check = chk;
	snprintf(op->name, sizeof(op->name), "%s", chk->gc.name);
	if ((rc = op_run(g, op, err)) < 0) {
		free(chk);
		op->check = NULL;
	}
	return rc;
}

int guest_ops_start_resolve(struct guest_ops *g, struct remusd_session *s, bool resume_here,
                            const char *why, struct remus_err *err)
{
	struct guest_op *op = op_slot(g, s, s->name, err);

	if (op == NULL)
		return -EBUSY;
	memset(op, 0, sizeof(*op));
	op->type = resume_here ? CTL_RESUME : CTL_DESTROY;
	snprintf(op->why, sizeof(op->why), "%s", why);
	op->s = s;
	snprintf(op->name, sizeof(op->name), "%s", s->name);
	return op_run(g, op, err);
}

int guest_ops_start_probe(struct guest_ops *g, struct remusd_check *chk, struct remus_err *err)
{
	struct guest_op *op = op_slot(g, NULL, chk->gc.name, err);
	int rc;

	if (op == NULL) {
		free(chk);
		return -EBUSY;
	}
	memset(op, 0, sizeof(*op));
	op->type = GUEST_OP_PROBE;
	op->env = chk->env;
	op->check = chk;
	snprintf(op->name, sizeof(op->name), "%s", chk->gc.name);
	if ((rc = op_run(g, op, err)) < 0) {
		free(chk);
		op->check = NULL;
	}
	return rc;
}

int guest_ops_fd(const struct guest_ops *g)
{
	return g->pipe[0];
}

void guest_ops_reap(struct guest_ops *g, void (*done)(void *arg, struct guest_op *op), void *arg)
{
	char buf[64];

	while (read(g->pipe[0], buf, sizeof(buf)) > 0)
		;
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++) {
		struct guest_op *op = &g->op[i];
		if (!op->used || !__atomic_load_n(&op->done, __ATOMIC_ACQUIRE))
			continue;
		pthread_join(op->th, NULL);
		done(arg, op);
		free(op->check);
		op->check = NULL;
		op->used = false;
		op->s = NULL;
		g->running--;
	}
}

void guest_ops_free(struct guest_ops *g)
{
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (g->op[i].used) {
			log_info("guest %s: waiting for its %s to end", g->op[i].name,
			         guest_op_name(g->op[i].type));
			pthread_join(g->op[i].th, NULL);
			free(g->op[i].check);
			g->op[i].check = NULL;
			g->op[i].used = false;
			g->op[i].s = NULL;
		}
	g->running = 0;
	close(g->pipe[0]);
	close(g->pipe[1]);
}
