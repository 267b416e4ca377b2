#!/bin/bash
# netbuf inline backend in network namespaces: epochs held until release
# (IPv4, IPv6, ARP), order, no duplicates, discard, crash, release_all,
# setup/teardown twice.
. "$(dirname "$0")/../netbuf/lib.sh"
run_scenario inline
