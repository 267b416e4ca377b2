# Shared by remusd_store.sh and remusd_store_fault.sh: the storewatch
# guest (guest/apps/storewatch.c) on the namespace LAN and the client that
# records its reports.  Sourced after remusd_lib.sh and remusd_lan.sh.

# store_guest_conf MAC: remus.conf on both hosts for the storewatch
# guest, protected A -> B with inline netbuf.
store_guest_conf() {
	local lines=("[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/storewatch.elf"
		"mem = 16M" "tap = tap0" "mac = $1" "ip = $GUEST_IP/24" "interval = 20"
		"netbuf = inline" "diskrep = none")
	write_conf a "${lines[@]}" "peer = $IP_B:7575"
	write_conf b "${lines[@]}" "peer = $IP_A:7575"
}

# start_store_client: a client on the LAN subscribes until the first
# report comes, then appends every report to $TMPD/reports (CLIENT_PID).
start_store_client() {
	ip netns exec "$CLI" python3 - "$GUEST_IP" "$TMPD/reports" <<'PY' >"$TMPD/client.log" 2>&1 &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
got = False
with open(sys.argv[2], "a") as out:
    while True:
        if not got:
            s.sendto(b"SUBSCRIBE", (sys.argv[1], 7002))
        try:
            d = s.recv(2048)
        except socket.timeout:
            continue
        got = True
        out.write(d.decode(errors="replace"))
        out.flush()
PY
	CLIENT_PID=$!
	PIDS+=($CLIENT_PID)
}
