/*
 * Internal: the iptables/ip6tables (nf_tables backend) rules that send one
 * guest interface's IPv4 and IPv6 ingress to an NFQUEUE.  One chain per
 * guest ("RNB-<tag>" in table mangle), jumped to from PREROUTING for
 * packets coming in on the guest interface; no --queue-bypass, so without
 * a listener the packets are dropped, never leaked.
 */
#ifndef REMUS_NETBUF_NFQ_RULES_H
#define REMUS_NETBUF_NFQ_RULES_H

#include <stdint.h>

#include "util/err.h"

/* Check tag/ifname are safe names (they end up in argv and chain names). */
int nfq_rules_check(const char *ifname, const char *tag, struct remus_err *err);
/* Install (after removing any leftovers of the same tag) for v4 and v6. */
int nfq_rules_install(const char *ifname, const char *tag, uint16_t queue_num,
		      struct remus_err *err);
/* Remove; succeeds when nothing of the tag is left (idempotent). */
int nfq_rules_remove(const char *ifname, const char *tag, struct remus_err *err);

#endif
