/*
 * plug backend (Xen hosts): the vif's ingress (= the guest's output) is
 * redirected by a u32 match-all filter with a mirred action to an ifb
 * device whose root qdisc is sch_plug; epoch_close inserts a plug
 * (TCQ_PLUG_BUFFER), release lets out up to the oldest plug
 * (TCQ_PLUG_RELEASE_ONE), release_all unplugs for good.  All over netlink
 * with libnl-route-3; every protocol (ARP and IPv6 too) is held.
 * sch_plug tracks one closed epoch besides the open one, so a second
 * epoch_close before the release is refused (NETBUF_EPENDING).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/qdisc/plug.h>
#include <netlink/route/classifier.h>
#include <netlink/route/cls/u32.h>
#include <netlink/route/action.h>
#include <netlink/route/act/mirred.h>

#include "netbuf/netbuf.h"

#define PLUG_HANDLE_A 0x00010000u   /* 1: */
#define PLUG_HANDLE_B 0x00020000u   /* 2: used to swap on discard */
#define PLUG_DEFAULT_LIMIT (16u << 20)

struct nb_plug {
	struct nl_sock *sk;
	struct rtnl_qdisc *plug;   /* our plug qdisc on the ifb */
	int vif_index, ifb_index;
	uint32_t limit;
	bool pending;              /* a closed epoch awaits its release */
	uint64_t epochs_closed, epochs_released;
	char vif[IFNAMSIZ], ifb[IFNAMSIZ];
};

/* ifb name from the tag: "ifb-" + tag must fit IFNAMSIZ. */
static int plug_names(const struct netbuf_config *cfg, char *ifb, struct remus_err *err)
{
	if (!cfg->ifname || !*cfg->ifname || strlen(cfg->ifname) >= IFNAMSIZ)
		return remus_err_set(err, NETBUF_ECONFIG, "config: bad ifname '%s'",
				     cfg->ifname ? cfg->ifname : "");
	if (!cfg->tag || !*cfg->tag || strlen(cfg->tag) > IFNAMSIZ - 1 - 4 ||
	    strpbrk(cfg->tag, "/ :\t\n"))
		return remus_err_set(err, NETBUF_ECONFIG,
				     "config: tag '%s' must be 1-11 plain characters",
				     cfg->tag ? cfg->tag : "");
	snprintf(ifb, IFNAMSIZ, "ifb-%s", cfg->tag);
	return 0;
}

/* A connected NETLINK_ROUTE socket. */
static int plug_socket(struct nl_sock **skp, struct remus_err *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int rc;

	if (!sk)
		return remus_err_sys(err, ENOMEM, "netlink socket");
	rc = nl_connect(sk, NETLINK_ROUTE);
	if (rc < 0) {
		nl_socket_free(sk);
		return remus_err_set(err, NETBUF_EBACKEND, "netlink connect: %s", nl_geterror(rc));
	}
	*skp = sk;
	return 0;
}

/* Interface index by name; -ENODEV when absent. */
static int plug_ifindex(struct nl_sock *sk, const char *name, struct remus_err *err)
{
	struct rtnl_link *link = NULL;
	int rc, idx;

	rc = rtnl_link_get_kernel(sk, 0, name, &link);
	if (rc < 0)
		return remus_err_set(err, -ENODEV, "interface %s: %s", name, nl_geterror(rc));
	idx = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return idx;
}

/* A qdisc object of `kind` at parent/handle on ifindex. */
static struct rtnl_qdisc *plug_qdisc_obj(int ifindex, uint32_t parent, uint32_t handle,
					 const char *kind)
{
	struct rtnl_qdisc *q = rtnl_qdisc_alloc();

	if (!q)
		return NULL;
	rtnl_tc_set_ifindex(TC_CAST(q), ifindex);
	rtnl_tc_set_parent(TC_CAST(q), parent);
	rtnl_tc_set_handle(TC_CAST(q), handle);
	if (rtnl_tc_set_kind(TC_CAST(q), kind) < 0) {
		rtnl_qdisc_put(q);
		return NULL;
	}
	return q;
}

/* The ifb device the vif's ingress is redirected to, created up. */
static int plug_add_ifb(struct nb_plug *p, struct remus_err *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int rc;

	if (!link)
		return remus_err_sys(err, ENOMEM, "ifb link");
	rtnl_link_set_name(link, p->ifb);
	rc = rtnl_link_set_type(link, "ifb");
	rtnl_link_set_flags(link, IFF_UP);
	if (rc == 0)
		rc = rtnl_link_add(p->sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(link);
	if (rc < 0)
		return remus_err_set(err, NETBUF_EBACKEND, "create %s: %s", p->ifb, nl_geterror(rc));
	rc = plug_ifindex(p->sk, p->ifb, err);
	if (rc < 0)
		return rc;
	p->ifb_index = rc;
	return 0;
}

/* ingress qdisc on the vif plus a match-all u32 filter redirecting
 * every protocol to the ifb (mirred egress redirect, packet stolen). */
static int plug_add_redirect(struct nb_plug *p, struct remus_err *err)
{
	struct rtnl_qdisc *ing = plug_qdisc_obj(p->vif_index, TC_H_INGRESS, 0xffff0000u, "ingress");
	struct rtnl_cls *cls = rtnl_cls_alloc();
	struct rtnl_act *act = rtnl_act_alloc();
	int rc = -NLE_NOMEM;

	if (!ing || !cls || !act)
		goto out;
	rc = rtnl_qdisc_add(p->sk, ing, NLM_F_CREATE | NLM_F_EXCL);
	if (rc < 0)
		goto out;
	rtnl_tc_set_ifindex(TC_CAST(cls), p->vif_index);
	rtnl_tc_set_parent(TC_CAST(cls), 0xffff0000u);
	rtnl_cls_set_protocol(cls, ETH_P_ALL);
	rtnl_cls_set_prio(cls, 1);
	if ((rc = rtnl_tc_set_kind(TC_CAST(cls), "u32")) < 0 ||
	    (rc = rtnl_u32_add_key_uint32(cls, 0, 0, 0, 0)) < 0 ||
	    /* without TC_U32_TERMINAL a matching key counts as a link to
	     * another hash table and the action never runs (seen in the lab) */
	    (rc = rtnl_u32_set_cls_terminal(cls)) < 0 ||
	    (rc = rtnl_tc_set_kind(TC_CAST(act), "mirred")) < 0 ||
	    (rc = rtnl_mirred_set_action(act, TCA_EGRESS_REDIR)) < 0 ||
	    (rc = rtnl_mirred_set_policy(act, TC_ACT_STOLEN)) < 0 ||
	    (rc = rtnl_mirred_set_ifindex(act, (uint32_t)p->ifb_index)) < 0 ||
	    (rc = rtnl_u32_add_action(cls, act)) < 0)
		goto out;
	rc = rtnl_cls_add(p->sk, cls, NLM_F_CREATE | NLM_F_EXCL);
out:
	if (act)
		rtnl_act_put(act);
	if (cls)
		rtnl_cls_put(cls);
	if (ing)
		rtnl_qdisc_put(ing);
	if (rc < 0)
		return remus_err_set(err, NETBUF_EBACKEND, "redirect %s ingress to %s: %s",
				     p->vif, p->ifb, nl_geterror(rc));
	return 0;
}

/* Send one plug action (TCQ_PLUG_*) to our plug qdisc. */
static int plug_action(struct netbuf *nb, int (*set)(struct rtnl_qdisc *), const char *what)
{
	struct nb_plug *p = nb->priv;
	int rc = set(p->plug);

	if (rc == 0)
		rc = rtnl_qdisc_add(p->sk, p->plug, 0);
	if (rc < 0)
		return remus_err_set(&nb->err, NETBUF_EBACKEND, "plug %s on %s: %s",
				     what, p->ifb, nl_geterror(rc));
	return 0;
}

/* Install a fresh (buffering) plug qdisc as the ifb's root; `flags` is
 * CREATE|EXCL on open, CREATE|REPLACE to swap it (dropping the old queue). */
static int plug_add_plug(struct nb_plug *p, uint32_t handle, int flags, struct remus_err *err)
{
	struct rtnl_qdisc *q = plug_qdisc_obj(p->ifb_index, TC_H_ROOT, handle, "plug");
	int rc = -NLE_NOMEM;

	if (q && (rc = rtnl_qdisc_plug_set_limit(q, (int)p->limit)) == 0)
		rc = rtnl_qdisc_add(p->sk, q, flags);
	if (rc < 0) {
		if (q)
			rtnl_qdisc_put(q);
		return remus_err_set(err, NETBUF_EBACKEND, "plug qdisc on %s: %s%s", p->ifb,
				     nl_geterror(rc), rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NOATTR ?
				     " (sch_plug not available?)" : "");
	}
	if (p->plug)
		rtnl_qdisc_put(p->plug);
	p->plug = q;
	return 0;
}

/* Remove our ifb (dropping what it holds) and the vif's ingress qdisc
 * (with its filter); absent pieces are fine. */
static int plug_remove(struct nl_sock *sk, const char *vif, const char *ifb,
		       struct remus_err *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	struct rtnl_qdisc *ing = NULL;
	int rc = 0, idx;

	if (!link)
		return remus_err_sys(err, ENOMEM, "teardown");
	rtnl_link_set_name(link, ifb);
	rc = rtnl_link_delete(sk, link);
	rtnl_link_put(link);
	if (rc < 0 && rc != -NLE_NODEV && rc != -NLE_OBJ_NOTFOUND)
		return remus_err_set(err, NETBUF_EBACKEND, "delete %s: %s", ifb, nl_geterror(rc));
	idx = plug_ifindex(sk, vif, err);
	if (idx < 0)
		return 0;   /* the vif is gone, and its qdiscs with it */
	ing = plug_qdisc_obj(idx, TC_H_INGRESS, 0xffff0000u, "ingress");
	if (!ing)
		return remus_err_sys(err, ENOMEM, "teardown");
	rc = rtnl_qdisc_delete(sk, ing);
	rtnl_qdisc_put(ing);
	if (rc < 0 && rc != -NLE_OBJ_NOTFOUND && rc != -NLE_INVAL && rc != -NLE_NODEV)
		return remus_err_set(err, NETBUF_EBACKEND, "delete ingress of %s: %s", vif,
				     nl_geterror(rc));
	remus_err_clear(err);
	return 0;
}

/* Detach: the ifb goes, and the packets it still holds with it. */
static void plug_close(struct netbuf *nb)
{
	struct nb_plug *p = nb->priv;
	struct remus_err scratch;

	if (p->sk) {
		plug_remove(p->sk, p->vif, p->ifb, &scratch);
		nl_socket_free(p->sk);
	}
	if (p->plug)
		rtnl_qdisc_put(p->plug);
	free(p);
	nb->priv = NULL;
}

/* Leftovers of the same tag go first, then ifb, plug, redirect (the
 * redirect last so nothing reaches the ifb before the plug is in place). */
static int plug_open(struct netbuf *nb, const struct netbuf_config *cfg)
{
	struct nb_plug *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return remus_err_sys(&nb->err, ENOMEM, "open");
	nb->priv = p;
	p->limit = cfg->max_held_bytes && cfg->max_held_bytes < INT32_MAX ?
		   (uint32_t)cfg->max_held_bytes : PLUG_DEFAULT_LIMIT;
	if ((rc = plug_names(cfg, p->ifb, &nb->err)) < 0 ||
	    (rc = plug_socket(&p->sk, &nb->err)) < 0)
		goto err;
	snprintf(p->vif, sizeof(p->vif), "%s", cfg->ifname);
	if ((rc = plug_ifindex(p->sk, p->vif, &nb->err)) < 0)
		goto err;
	p->vif_index = rc;
	if ((rc = plug_remove(p->sk, p->vif, p->ifb, &nb->err)) < 0 ||
	    (rc = plug_add_ifb(p, &nb->err)) < 0 ||
	    (rc = plug_add_plug(p, PLUG_HANDLE_A, NLM_F_CREATE | NLM_F_EXCL, &nb->err)) < 0 ||
	    (rc = plug_add_redirect(p, &nb->err)) < 0)
		goto err;
	return 0;
err:
	plug_close(nb);
	return rc;
}

/* Insert a plug: what arrives from now on belongs to the next epoch. */
static int plug_epoch_close(struct netbuf *nb, uint64_t epoch)
{
	struct nb_plug *p = nb->priv;
	int rc;

	(void)epoch;
	if (p->pending)
		return remus_err_set(&nb->err, NETBUF_EPENDING,
				     "sch_plug holds one closed epoch at a time: release it first");
	rc = plug_action(nb, rtnl_qdisc_plug_buffer, "buffer");
	if (rc == 0) {
		p->pending = true;
		p->epochs_closed++;
	}
	return rc;
}

/* ACK: release up to the oldest plug (the one closed epoch). */
static int plug_release(struct netbuf *nb, uint64_t epoch)
{
	struct nb_plug *p = nb->priv;
	int rc;

	(void)epoch;
	if (!p->pending)
		return 0;
	rc = plug_action(nb, rtnl_qdisc_plug_release_one, "release_one");
	if (rc == 0) {
		p->pending = false;
		p->epochs_released++;
	}
	return rc;
}

/* Backup lost: unplug for good. */
static int plug_release_all(struct netbuf *nb)
{
	int rc = plug_action(nb, rtnl_qdisc_plug_release_indefinite, "release_indefinite");

	if (rc == 0)
		((struct nb_plug *)nb->priv)->pending = false;
	return rc;
}

/* sch_plug cannot drop its queue: swap in a fresh plug qdisc instead. */
static int plug_discard(struct netbuf *nb)
{
	struct nb_plug *p = nb->priv;
	uint32_t handle = rtnl_tc_get_handle(TC_CAST(p->plug)) == PLUG_HANDLE_A ?
			  PLUG_HANDLE_B : PLUG_HANDLE_A;
	int rc = plug_add_plug(p, handle, NLM_F_CREATE | NLM_F_REPLACE, &nb->err);

	if (rc == 0)
		p->pending = false;
	return rc;
}

/* The kernel holds the packets: only epoch counts are known here. */
static void plug_stats(struct netbuf *nb, struct netbuf_stats *st)
{
	struct nb_plug *p = nb->priv;

	st->counts_exact = false;
	st->nr_epochs = p->pending ? 1 : 0;
	if (p->pending)
		st->epochs[0].epoch = nb->open_epoch - 1;
}

/* Remove ifb and redirect of a tag, also after the owner died. */
static int plug_teardown(const struct netbuf_config *cfg, struct remus_err *err)
{
	char ifb[IFNAMSIZ];
	struct nl_sock *sk;
	int rc;

	if ((rc = plug_names(cfg, ifb, err)) < 0 || (rc = plug_socket(&sk, err)) < 0)
		return rc;
	rc = plug_remove(sk, cfg->ifname, ifb, err);
	nl_socket_free(sk);
	return rc;
}

const struct netbuf_ops netbuf_plug_ops = {
	.name = "plug",
	.open = plug_open,
	.close = plug_close,
	.epoch_close = plug_epoch_close,
	.release = plug_release,
	.release_all = plug_release_all,
	.discard = plug_discard,
	.stats = plug_stats,
	.teardown = plug_teardown,
};
