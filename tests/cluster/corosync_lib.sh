# Shared by the tests that run a real corosync in namespace hosts
# (tests/fault/remusd_quorum.sh, tests/cluster/cluster_check.sh; sourced
# after remusd_lib.sh and remusd_lan.sh, with CSUB set): host-a and host-b
# are remusd_lib's namespaces, the witness host-w is NS_W; a cluster
# network of their own (a bridge in NS_C, one veth cl0 per host, CSUB.1-3);
# each host's folders under $TMPD/node-H, bind-mounted over the system's in
# a private mount and UTS namespace by oncmd (../shared design notes: libqb
# IPC needs the node's network namespace *and* its /dev/shm).
NS_W=${TAG}-w
NS_C=${TAG}-cl

nsof() { case $1 in a) echo "$NS_A" ;; b) echo "$NS_B" ;; w) echo "$NS_W" ;; esac; }

# corosync_net_setup: the witness namespace, the cluster network, and each
# host's folders (etc, lib, run, shm).
corosync_net_setup() {
	local n=1 h d
	ip netns add "$NS_W" && ip netns add "$NS_C" || fail "cannot create namespaces"
	ip -n "$NS_W" link set lo up
	ip -n "$NS_C" link set lo up
	bridge "$NS_C" brc
	for h in a b w; do
		ip -n "$(nsof $h)" link add cl0 type veth peer name cl-$h netns "$NS_C" || fail "cluster link $h"
		ip -n "$(nsof $h)" addr add "$CSUB.$n/24" dev cl0
		ip -n "$(nsof $h)" link set cl0 up
		ip -n "$NS_C" link set cl-$h master brc
		ip -n "$NS_C" link set cl-$h up
		d=$TMPD/node-$h
		mkdir -p "$d"/{etc,lib,run,shm}
		chmod 1777 "$d/shm"   # or pacemaker-based refuses its own daemons
		n=$(( n + 1 ))
	done
}

corosync_net_cleanup() {
	ip netns del "$NS_W" 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
}

# corosync_conf NAME TOKEN_MS WITNESS: every host's corosync.conf (knet, no
# crypto on the private network).  WITNESS: corosync (host-w a third node)
# or qnetd (two nodes and a quorum device, model net, ffsplit, TLS off,
# qnetd at CSUB.3).  Nothing may follow an opening '{' on its line.
corosync_conf() {
	local name=$1 token=$2 witness= device= h
	if [ "$3" = qnetd ]; then
		device="device {
	        model: net
	        votes: 1
	        timeout: $(( token * 2 ))
	        sync_timeout: $(( token * 4 ))
	        net {
	            host: $CSUB.3
	            algorithm: ffsplit
	            tls: off
	        }
	    }"
	else
		witness="node {
	        nodeid: 3
	        name: host-w
	        ring0_addr: $CSUB.3
	    }"
	fi
	for h in a b w; do
		cat >"$TMPD/node-$h/etc/corosync.conf" <<-EOF
		totem {
		    version: 2
		    cluster_name: $name
		    transport: knet
		    token: $token
		    crypto_cipher: none
		    crypto_hash: none
		}
		nodelist {
		    node {
		        nodeid: 1
		        name: host-a
		        ring0_addr: $CSUB.1
		    }
		    node {
		        nodeid: 2
		        name: host-b
		        ring0_addr: $CSUB.2
		    }
		    $witness
		}
		quorum {
		    provider: corosync_votequorum
		    $device
		}
		logging {
		    to_stderr: yes
		    to_syslog: no
		    to_logfile: no
		    timestamp: on
		}
		EOF
	done
}

# oncmd HOST: ONC, the prefix running a command as that host: its network
# namespace, hostname host-HOST, its corosync folders, /run and /dev/shm,
# and, when the host has them ($TMPD/node-H/pcmk ...), Pacemaker's folders,
# its OCF agents and its fence agents over /usr/sbin (an overlay).  Every
# step execs: a command started in the background with it has $! = its pid.
oncmd() {
	ONC=(ip netns exec "$(nsof "$1")" unshare -m -u --propagation private sh -c '
		d=$1 h=$2; shift 2
		hostname "$h" &&
		mount --bind "$d/etc" /etc/corosync && mount --bind "$d/lib" /var/lib/corosync &&
		mount --bind "$d/run" /run && mount --bind "$d/shm" /dev/shm || exit 97
		if [ -d "$d/pcmk" ]; then
			mount --bind "$d/pcmk" /var/lib/pacemaker &&
			mount --bind "$d/pcmklog" /var/log/pacemaker &&
			mount --bind "$d/ocf" /usr/lib/ocf/resource.d &&
			mount -t overlay overlay -o lowerdir="$d/fence":/usr/sbin /usr/sbin || exit 97
		fi
		exec "$@"' sh "$TMPD/node-$1" "host-$1")
}

# on HOST CMD...: run CMD as that host (foreground).
on() { oncmd "$1"; shift; "${ONC[@]}" "$@"; }
