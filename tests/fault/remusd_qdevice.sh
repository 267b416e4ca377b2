#!/bin/bash
# The two-host witness of docs/cluster.md run for real: corosync on host-a
# and host-b with corosync-qdevice (model net, algorithm ffsplit), and
# corosync-qnetd in the witness namespace (tests/fault/remusd_quorum.sh
# with WITNESS=qnetd).  isolate-a: host-b keeps the witness's vote and
# fails over, host-a fences; isolate-b: host-a keeps it and carries on,
# host-b waits for quorum; isolate-w: both hosts keep quorum with 2 of 3
# votes and report the witness lost.
cd "$(dirname "$0")/../.." || exit 1
WITNESS=qnetd SCENARIOS=${SCENARIOS:-"isolate_a isolate_b isolate_w"} TAG=${TAG:-rqd$$} \
	exec tests/fault/remusd_quorum.sh
