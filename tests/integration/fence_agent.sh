#!/bin/bash
# The fence agent fence_remusns (etc/fence, docs/cluster.md) on a
# throwaway namespace host: metadata is well-formed XML naming every
# action; validate-all refuses a malformed host_netns; status says on (0)
# while the host runs a process; off (options on stdin, as
# pacemaker-fenced passes them) takes its links down and leaves no process
# in it; status then says off (2); on fails; an unknown host fails.
cd "$(dirname "$0")/../.." || exit 1
AGENT=$PWD/etc/fence/fence_remusns
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 77; }
command -v xmllint >/dev/null || { echo "xmllint not installed"; exit 77; }
NS=fence$$
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	local p
	for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	ip netns del "$NS" 2>/dev/null
	ip link del "fv$$" 2>/dev/null
}
trap cleanup EXIT
ip netns add "$NS" || fail "netns"
ip -n "$NS" link set lo up
ip link add "fv$$" type veth peer name eth0 netns "$NS" || fail "veth"
ip -n "$NS" link set eth0 up
ip netns exec "$NS" sleep 300 &
ip netns exec "$NS" sleep 300 &
disown -a
INODE=$(stat -L -c %i "/run/netns/$NS")
MAP="other:1,victim:$INODE"

"$AGENT" -o metadata | xmllint --noout - || fail "metadata is not well-formed XML"
for a in on off reboot status list list-status monitor metadata validate-all; do
	"$AGENT" -o metadata | grep -q "<action name=\"$a\"" || fail "metadata lacks action $a"
done
"$AGENT" -o validate-all --host-netns=victim:xyz 2>"$NS.err" && fail "validate-all took a malformed host_netns"
grep -q "not name:inode" "$NS.err" || fail "validate-all's error: $(cat "$NS.err")"
rm -f "$NS.err"
"$AGENT" -o validate-all --host-netns="$MAP" || fail "validate-all refused a good host_netns"
out=$("$AGENT" -o list --host-netns="$MAP") || fail "list"
[ "$out" = $'other,\nvictim,' ] || fail "list said: $out"
"$AGENT" -o status -n victim --host-netns="$MAP" >/dev/null || fail "status of a running host is not 0"
"$AGENT" -o status -n nobody --host-netns="$MAP" 2>/dev/null && fail "status of an unknown host succeeded"

# off, as pacemaker-fenced asks it (stdin)
printf 'action=off\nport=victim\nnodename=victim\nhost_netns=%s\npcmk_host_list=victim\n' "$MAP" |
	"$AGENT" || fail "off"
[ -z "$(ip netns pids "$NS")" ] || fail "processes left in the fenced host: $(ip netns pids "$NS")"
ip -n "$NS" -o link show eth0 | grep -q "state UP\|,UP" && fail "the fenced host's link is still up"
"$AGENT" -o status -n victim --host-netns="$MAP" >/dev/null
[ $? = 2 ] || fail "status of a fenced host is not 2 (off)"
"$AGENT" -o list-status --host-netns="$MAP" | grep -qx "victim,,off" || fail "list-status"
"$AGENT" -o off -n victim --host-netns="$MAP" >/dev/null || fail "off of an off host is not a success"
"$AGENT" -o on -n victim --host-netns="$MAP" 2>/dev/null && fail "on succeeded"
echo "fence_remusns: metadata, validate-all, list, status, off (links down, 2 processes gone), on refused"
echo PASS
