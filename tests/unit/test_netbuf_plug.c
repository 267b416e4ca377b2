/* Unit tests of the plug backend's netlink messages, with libnl's
 * sending functions wrapped (-Wl,--wrap): each wrapper builds the real
 * request with libnl's own builder and records it, so the tests check the
 * bytes the kernel would get (kinds, parents, handles, TCQ_PLUG_* actions,
 * the mirred redirect) without touching any interface. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/route/link.h>
#include <netlink/route/qdisc.h>
#include <netlink/route/classifier.h>
#include <cmocka.h>

#include "netbuf/netbuf.h"

#define VIF_INDEX 7
#define IFB_INDEX 8
#define MAX_CALLS 32

struct call {
	int type;            /* RTM_* */
	int flags;           /* nlmsg flags as built */
	struct nl_msg *msg;
};

static struct {
	struct call calls[MAX_CALLS];
	int n;
	bool ifb_exists;
	int fail_plug_create;   /* errcode for the next plug creation */
} mock;

static void record(struct nl_msg *msg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);

	assert_true(mock.n < MAX_CALLS);
	mock.calls[mock.n].type = nlh->nlmsg_type;
	mock.calls[mock.n].flags = nlh->nlmsg_flags;
	mock.calls[mock.n].msg = msg;
	mock.n++;
}

static void mock_reset(void)
{
	for (int i = 0; i < mock.n; i++)
		nlmsg_free(mock.calls[i].msg);
	memset(&mock, 0, sizeof(mock));
}

int __wrap_nl_connect(struct nl_sock *sk, int proto)
{
	(void)sk;
	assert_int_equal(proto, NETLINK_ROUTE);
	return 0;
}

int __wrap_rtnl_link_get_kernel(struct nl_sock *sk, int ifindex, const char *name,
				struct rtnl_link **out)
{
	int idx = 0;

	(void)sk;
	(void)ifindex;
	if (!strcmp(name, "vif3.0"))
		idx = VIF_INDEX;
	else if (!strcmp(name, "ifb-g1") && mock.ifb_exists)
		idx = IFB_INDEX;
	if (!idx)
		return -NLE_OBJ_NOTFOUND;
	*out = rtnl_link_alloc();
	rtnl_link_set_ifindex(*out, idx);
	return 0;
}

int __wrap_rtnl_link_add(struct nl_sock *sk, struct rtnl_link *link, int flags)
{
	struct nl_msg *msg;

	(void)sk;
	assert_int_equal(rtnl_link_build_add_request(link, flags, &msg), 0);
	record(msg);
	mock.ifb_exists = true;
	return 0;
}

int __wrap_rtnl_link_delete(struct nl_sock *sk, const struct rtnl_link *link)
{
	struct nl_msg *msg;

	(void)sk;
	assert_int_equal(rtnl_link_build_delete_request(link, &msg), 0);
	record(msg);
	if (!mock.ifb_exists)
		return -NLE_OBJ_NOTFOUND;
	mock.ifb_exists = false;
	return 0;
}

int __wrap_rtnl_qdisc_add(struct nl_sock *sk, struct rtnl_qdisc *q, int flags)
{
	struct nl_msg *msg;

	(void)sk;
	assert_int_equal(rtnl_qdisc_build_add_request(q, flags, &msg), 0);
	record(msg);
	if (mock.fail_plug_create && (flags & NLM_F_CREATE) &&
	    !strcmp(rtnl_tc_get_kind(TC_CAST(q)), "plug"))
		return mock.fail_plug_create;
	return 0;
}

int __wrap_rtnl_qdisc_delete(struct nl_sock *sk, struct rtnl_qdisc *q)
{
	struct nl_msg *msg;

	(void)sk;
	assert_int_equal(rtnl_qdisc_build_delete_request(q, &msg), 0);
	record(msg);
	return -NLE_OBJ_NOTFOUND;
}

int __wrap_rtnl_cls_add(struct nl_sock *sk, struct rtnl_cls *cls, int flags)
{
	struct nl_msg *msg;

	(void)sk;
	assert_int_equal(rtnl_cls_build_add_request(cls, flags, &msg), 0);
	record(msg);
	return 0;
}

/* Parse a recorded tc message: header and top-level attributes. */
static struct tcmsg *tc_parse(int i, int type, struct nlattr **tb)
{
	struct nlmsghdr *nlh;

	assert_true(i < mock.n);
	assert_int_equal(mock.calls[i].type, type);
	nlh = nlmsg_hdr(mock.calls[i].msg);
	assert_int_equal(nlmsg_parse(nlh, sizeof(struct tcmsg), tb, TCA_MAX, NULL), 0);
	return nlmsg_data(nlh);
}

/* Index of the first recorded call of `type` at or after `from`. */
static int find_call(int from, int type, const char *kind)
{
	for (int i = from; i < mock.n; i++) {
		struct nlattr *tb[TCA_MAX + 1];

		if (mock.calls[i].type != type)
			continue;
		if (!kind)
			return i;
		tc_parse(i, type, tb);
		if (tb[TCA_KIND] && !strcmp(nla_get_string(tb[TCA_KIND]), kind))
			return i;
	}
	fail_msg("no message of type %d kind %s", type, kind ? kind : "-");
	return -1;
}

/* Check a plug qdisc message and return its TCQ_PLUG_* action. */
static int plug_msg_action(int i, uint32_t handle, uint32_t *limit)
{
	struct nlattr *tb[TCA_MAX + 1];
	struct tcmsg *tcm = tc_parse(i, RTM_NEWQDISC, tb);
	struct tc_plug_qopt opt;

	assert_int_equal(tcm->tcm_ifindex, IFB_INDEX);
	assert_int_equal(tcm->tcm_parent, TC_H_ROOT);
	assert_int_equal(tcm->tcm_handle, handle);
	assert_string_equal(nla_get_string(tb[TCA_KIND]), "plug");
	assert_non_null(tb[TCA_OPTIONS]);
	assert_int_equal(nla_len(tb[TCA_OPTIONS]), sizeof(opt));
	memcpy(&opt, nla_data(tb[TCA_OPTIONS]), sizeof(opt));
	if (limit)
		*limit = opt.limit;
	return opt.action;
}

static void open_plug(struct netbuf *nb)
{
	struct netbuf_config cfg = { .backend = "plug", .ifname = "vif3.0", .tag = "g1",
				     .first_epoch = 1, .max_held_bytes = 1 << 20 };

	mock_reset();
	assert_int_equal(netbuf_open(nb, &cfg), 0);
}

static void test_open_builds_ifb_plug_and_redirect(void **state)
{
	struct nlattr *tb[TCA_MAX + 1], *ltb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	struct nlattr *u32[TCA_U32_MAX + 1], *act[TCA_ACT_MAX_PRIO + 1];
	struct nlattr *a[TCA_ACT_MAX + 1], *mir[TCA_MIRRED_MAX + 1];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	struct tcmsg *tcm;
	struct tc_mirred parms;
	struct netbuf nb;
	uint32_t limit;
	int i_link, i_plug, i_ing, i_cls;

	(void)state;
	open_plug(&nb);
	/* ifb "ifb-g1", created up, of kind ifb */
	i_link = find_call(0, RTM_NEWLINK, NULL);
	nlh = nlmsg_hdr(mock.calls[i_link].msg);
	assert_true(nlh->nlmsg_flags & NLM_F_CREATE);
	assert_true(nlh->nlmsg_flags & NLM_F_EXCL);
	ifi = nlmsg_data(nlh);
	assert_true(ifi->ifi_flags & IFF_UP);
	assert_int_equal(nlmsg_parse(nlh, sizeof(*ifi), ltb, IFLA_MAX, NULL), 0);
	assert_string_equal(nla_get_string(ltb[IFLA_IFNAME]), "ifb-g1");
	assert_int_equal(nla_parse_nested(info, IFLA_INFO_MAX, ltb[IFLA_LINKINFO], NULL), 0);
	assert_string_equal(nla_get_string(info[IFLA_INFO_KIND]), "ifb");
	/* plug root qdisc on the ifb with our limit, before the redirect */
	i_plug = find_call(i_link, RTM_NEWQDISC, "plug");
	assert_int_equal(plug_msg_action(i_plug, 0x10000, &limit), TCQ_PLUG_LIMIT);
	assert_int_equal(limit, 1 << 20);
	assert_true(mock.calls[i_plug].flags & NLM_F_CREATE);
	/* ingress qdisc on the vif */
	i_ing = find_call(i_plug, RTM_NEWQDISC, "ingress");
	tcm = tc_parse(i_ing, RTM_NEWQDISC, tb);
	assert_int_equal(tcm->tcm_ifindex, VIF_INDEX);
	assert_int_equal(tcm->tcm_parent, TC_H_INGRESS);
	/* u32 match-all, every protocol, mirred egress redirect to the ifb */
	i_cls = find_call(i_ing, RTM_NEWTFILTER, "u32");
	tcm = tc_parse(i_cls, RTM_NEWTFILTER, tb);
	assert_int_equal(tcm->tcm_ifindex, VIF_INDEX);
	assert_int_equal(tcm->tcm_parent, 0xffff0000u);
	assert_int_equal(TC_H_MIN(tcm->tcm_info), htons(ETH_P_ALL));
	assert_int_equal(nla_parse_nested(u32, TCA_U32_MAX, tb[TCA_OPTIONS], NULL), 0);
	assert_non_null(u32[TCA_U32_SEL]);
	assert_int_equal(nla_parse_nested(act, TCA_ACT_MAX_PRIO, u32[TCA_U32_ACT], NULL), 0);
	assert_non_null(act[1]);
	assert_int_equal(nla_parse_nested(a, TCA_ACT_MAX, act[1], NULL), 0);
	assert_string_equal(nla_get_string(a[TCA_ACT_KIND]), "mirred");
	assert_int_equal(nla_parse_nested(mir, TCA_MIRRED_MAX, a[TCA_ACT_OPTIONS], NULL), 0);
	assert_non_null(mir[TCA_MIRRED_PARMS]);
	memcpy(&parms, nla_data(mir[TCA_MIRRED_PARMS]), sizeof(parms));
	assert_int_equal(parms.eaction, TCA_EGRESS_REDIR);
	assert_int_equal(parms.action, TC_ACT_STOLEN);
	assert_int_equal(parms.ifindex, IFB_INDEX);
	netbuf_close(&nb);
	mock_reset();
}

static void test_epoch_ops_send_plug_actions(void **state)
{
	struct netbuf nb;
	int before;

	(void)state;
	open_plug(&nb);
	before = mock.n;
	assert_int_equal(netbuf_epoch_close(&nb, 1), 0);
	assert_int_equal(mock.n, before + 1);
	assert_int_equal(plug_msg_action(before, 0x10000, NULL), TCQ_PLUG_BUFFER);
	assert_false(mock.calls[before].flags & NLM_F_CREATE);
	/* sch_plug knows one closed epoch: a second close must wait */
	assert_int_equal(netbuf_epoch_close(&nb, 2), NETBUF_EPENDING);
	assert_int_equal(mock.n, before + 1);
	assert_int_equal(netbuf_release(&nb, 1), 0);
	assert_int_equal(plug_msg_action(before + 1, 0x10000, NULL), TCQ_PLUG_RELEASE_ONE);
	assert_int_equal(netbuf_epoch_close(&nb, 2), 0);
	assert_int_equal(plug_msg_action(before + 2, 0x10000, NULL), TCQ_PLUG_BUFFER);
	/* discard swaps in a fresh plug (other handle), dropping the queue */
	assert_int_equal(netbuf_discard(&nb), 0);
	assert_int_equal(plug_msg_action(before + 3, 0x20000, NULL), TCQ_PLUG_LIMIT);
	assert_true(mock.calls[before + 3].flags & NLM_F_REPLACE);
	assert_int_equal(netbuf_release_all(&nb), 0);
	assert_int_equal(plug_msg_action(before + 4, 0x20000, NULL), TCQ_PLUG_RELEASE_INDEFINITE);
	netbuf_close(&nb);
	mock_reset();
}

static void test_close_and_teardown_remove_everything(void **state)
{
	struct netbuf_config cfg = { .backend = "plug", .ifname = "vif3.0", .tag = "g1" };
	struct remus_err err = { 0 };
	struct nlattr *tb[TCA_MAX + 1];
	struct netbuf nb;
	int before, i;

	(void)state;
	open_plug(&nb);
	before = mock.n;
	netbuf_close(&nb);
	i = find_call(before, RTM_DELLINK, NULL);
	assert_false(mock.ifb_exists);
	i = find_call(i, RTM_DELQDISC, NULL);
	assert_int_equal(tc_parse(i, RTM_DELQDISC, tb)->tcm_parent, TC_H_INGRESS);
	/* twice more, for a process that died: idempotent */
	assert_int_equal(netbuf_teardown(&cfg, &err), 0);
	assert_int_equal(netbuf_teardown(&cfg, &err), 0);
	mock_reset();
}

static void test_missing_sch_plug_fails_cleanly(void **state)
{
	struct netbuf_config cfg = { .backend = "plug", .ifname = "vif3.0", .tag = "g1" };
	struct netbuf nb;

	(void)state;
	mock_reset();
	mock.fail_plug_create = -NLE_OBJ_NOTFOUND;
	assert_int_equal(netbuf_open(&nb, &cfg), NETBUF_EBACKEND);
	assert_non_null(strstr(nb.err.msg, "sch_plug not available"));
	assert_false(mock.ifb_exists);   /* the ifb it made is gone again */
	for (int i = 0; i < mock.n; i++)   /* no redirect into a missing plug */
		assert_int_not_equal(mock.calls[i].type, RTM_NEWTFILTER);
	mock_reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_builds_ifb_plug_and_redirect),
		cmocka_unit_test(test_epoch_ops_send_plug_actions),
		cmocka_unit_test(test_close_and_teardown_remove_everything),
		cmocka_unit_test(test_missing_sch_plug_fails_cleanly),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
