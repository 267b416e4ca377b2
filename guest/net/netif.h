/*
 * The guest's network interface and event loop: configure a stack from
 * the info hypercall and run it on the wait hypercall, so an idle guest
 * sleeps in the monitor.
 */
#ifndef GUEST_NETIF_H
#define GUEST_NETIF_H

#include "guest/net/net.h"

struct netif_hooks {
	/* Called once per loop turn before sleeping (e.g. group commit);
	 * returns the next deadline the application needs in ms (0: none). */
	uint64_t (*idle)(void *user, struct net *n, uint64_t now_ms);
	void *user;
};

/* Create the stack from the machine's NIC config; NULL if there is no NIC
 * or no IPv4 address. */
struct net *netif_open(void);
/* Run the loop forever. */
_Noreturn void netif_run(struct net *n, const struct netif_hooks *hooks);

#endif
