#!/usr/bin/env python3
"""Wait for a gratuitous ARP from the guest (client netns).

  garp.py IFACE GUEST_MAC GUEST_IP TIMEOUT

Prints "listening" once the socket is bound (so the caller can then ask
the guest to announce), exits 0 when a broadcast ARP whose sender and
target address are both GUEST_IP arrives from GUEST_MAC, 1 on timeout.
"""
import socket
import struct
import sys
import time


def main():
    iface, mac, ip, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    want_mac = bytes.fromhex(mac.replace(":", ""))
    want_ip = socket.inet_aton(ip)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
    s.bind((iface, 0))
    print("listening", flush=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        s.settimeout(max(0.01, end - time.monotonic()))
        try:
            f = s.recv(2048)
        except socket.timeout:
            break
        a = f[14:42]
        if len(a) < 28 or f[0:6] != b"\xff" * 6:
            continue
        if a[8:14] == want_mac and a[14:18] == want_ip and a[24:28] == want_ip:
            print("gratuitous ARP op %d from %s" % (struct.unpack("!H", a[6:8])[0], mac))
            return 0
    print("FAIL: no gratuitous ARP within %.0f s" % timeout)
    return 1


if __name__ == "__main__":
    sys.exit(main())
