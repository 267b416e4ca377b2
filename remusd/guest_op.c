/* Long guest operations on worker threads: see guest_op.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

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
		return "failover";
	case CTL_RESUME:
		return "resume";
	case CTL_DESTROY:
		return "destroy";
	case CTL_CHECK:
		return "check";
	case GUEST_OP_RECEIVE:
		return "a new replication run";
	default:
		return ctl_type_name(type);
	}
}

const struct guest_op *guest_ops_busy(const struct guest_ops *g, const struct remusd_session *s)
{
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (g->op[i].s == s)
			return &g->op[i];
	return NULL;
}

/* Protect once the driver's and the disk's own probes find nothing that
 * forbids it (they run tools: here, not on the loop). */
static int protect_checked(struct guest_op *op)
{
	uint32_t r = remusd_session_driver_check(op->s, op->unsafe | op->s->gc.unsafe);
	char why[512];

	if (r != 0) {
		ctl_check_reasons_text(r, why, sizeof(why));
		return remus_err_set(&op->err, -EPERM, "cannot protect %s: %s", op->s->name, why);
	}
	return remusd_session_protect(op->s, &op->env, op->peer, &op->err);
}

/* The worker: the operation itself, then "done" to the loop. */
static void *guest_op_main(void *arg)
{
	struct guest_op *op = arg;

	switch (op->type) {
	case CTL_PROTECT:
		op->rc = protect_checked(op);
		break;
	case CTL_CHECK:
		op->check_bits |= remusd_session_driver_check(op->s, op->s->gc.unsafe);
		op->rc = 0;
		break;
	case CTL_UNPROTECT:
		op->rc = remusd_session_unprotect(op->s, &op->err);
		break;
	case CTL_EVACUATE:
		op->rc = remusd_session_evacuate(op->s, &op->err);
		break;
	case CTL_RESUME:
	case CTL_DESTROY:
		op->rc = remusd_session_resolve(op->s, op->type == CTL_RESUME, &op->err);
		break;
	case GUEST_OP_RECEIVE:
		op->rc = remusd_session_receive(op->s, op->conn, &op->err);   /* owns conn */
		op->conn = NULL;
		break;
	default:
		op->rc = remusd_session_failover(op->s, &op->err);
		break;
	}
	__atomic_store_n(&op->done, true, __ATOMIC_RELEASE);
	/* the pipe only wakes the loop: a full pipe has woken it already */
	if (write(op->notify_fd, "x", 1) < 0 && errno != EAGAIN)
		log_warn("guest %s: operation done, cannot wake the loop", op->s->name);
	return NULL;
}

/* A free slot for an operation on s, or NULL (err says why). */
static struct guest_op *guest_ops_slot(struct guest_ops *g, struct remusd_session *s,
                                       struct remus_err *err)
{
	if (guest_ops_busy(g, s) != NULL) {
		remus_err_set(err, -EBUSY, "guest %s: %s in progress", s->name,
		              guest_op_name(guest_ops_busy(g, s)->type));
		return NULL;
	}
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (g->op[i].s == NULL) {
			memset(&g->op[i], 0, sizeof(g->op[i]));
			g->op[i].notify_fd = g->pipe[1];
			return &g->op[i];
		}
	remus_err_set(err, -EBUSY, "guest %s: too many operations in progress", s->name);
	return NULL;
}

/* Run a filled slot's operation on its worker. */
static int guest_ops_run(struct guest_ops *g, struct guest_op *op, struct remusd_session *s,
                         struct remus_err *err)
{
	int rc;

	op->s = s;
	if ((rc = pthread_create(&op->th, NULL, guest_op_main, op)) != 0) {
		op->s = NULL;
		return remus_err_sys(err, rc, "guest %s: %s thread", s->name, guest_op_name(op->type));
	}
	g->running++;
	log_debug("guest %s: %s runs on a worker thread", s->name, guest_op_name(op->type));
	return 0;
}

int guest_ops_start(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                    const struct ctl_msg *m, const struct remusd_env *env,
                    uint32_t check_base, struct remus_err *err)
{
	struct guest_op *op = guest_ops_slot(g, s, err);

	if (op == NULL)
		return err->code;
	op->c = c;
	op->seq = m->seq;
	op->type = m->type;
	op->unsafe = m->unsafe;
	op->check_bits = check_base;
	op->env = *env;
	memcpy(op->peer, m->peer, strnlen(m->peer, sizeof(op->peer) - 1));
	return guest_ops_run(g, op, s, err);
}

int guest_ops_start_receive(struct guest_ops *g, struct remusd_session *s,
                            struct rnet_conn *conn, const char *addr, struct remus_err *err)
{
	struct guest_op *op = guest_ops_slot(g, s, err);
	int rc;

	if (op == NULL) {
		rnet_conn_free(conn);
		return err->code;
	}
	op->type = GUEST_OP_RECEIVE;
	op->conn = conn;
	memcpy(op->peer, addr, strnlen(addr, sizeof(op->peer) - 1));
	if ((rc = guest_ops_run(g, op, s, err)) < 0)
		rnet_conn_free(conn);
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
		if (op->s == NULL || !__atomic_load_n(&op->done, __ATOMIC_ACQUIRE))
			continue;
		pthread_join(op->th, NULL);
		done(arg, op);
		op->s = NULL;
		g->running--;
	}
}

void guest_ops_free(struct guest_ops *g)
{
	for (size_t i = 0; i < REMUSD_MAX_GUESTS; i++)
		if (g->op[i].s != NULL) {
			log_info("guest %s: waiting for its %s to end", g->op[i].s->name,
			         guest_op_name(g->op[i].type));
			pthread_join(g->op[i].th, NULL);
			g->op[i].s = NULL;
		}
	g->running = 0;
	close(g->pipe[0]);
	close(g->pipe[1]);
}
