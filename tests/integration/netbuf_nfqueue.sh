#!/bin/bash
# netbuf nfqueue backend in network namespaces: iptables/ip6tables NFQUEUE
# rules hold IPv4 and IPv6 per epoch; ARP passes; discard; a killed daemon
# drops (never leaks); idempotent setup/teardown.
. "$(dirname "$0")/../netbuf/lib.sh"
run_scenario nfqueue
