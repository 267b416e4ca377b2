#!/usr/bin/env python3
"""Send malformed and fuzzed Ethernet frames at the guest (client netns).

  badframes.py IFACE GUEST_MAC GUEST_IP COUNT

Crafts frames with bad checksums, impossible lengths and offsets,
fragments and random mutations of valid packets, then checks that the
kvstore still serves, counted the drops, and did not apply a PUT that
arrived in an IPv4 fragment.
"""
import random
import socket
import struct
import sys

sys.path.insert(0, __import__("os").path.dirname(__file__))
import kvclient  # noqa: E402


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ip_hdr(src, dst, proto, plen, frag=0, ihl=5, tlen=None, bad=False):
    h = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, tlen if tlen is not None else 20 + plen,
                    0x1234, frag, 64, proto, 0, src, dst)
    c = csum(h)
    if bad:
        c ^= 0x5555
    return h[:10] + struct.pack("!H", c) + h[12:]


def udp(src, dst, sport, dport, payload, bad=False, ulen=None):
    u = struct.pack("!HHHH", sport, dport, ulen if ulen is not None else 8 + len(payload), 0)
    ph = src + dst + struct.pack("!BBH", 0, 17, 8 + len(payload))
    c = csum(ph + u + payload) or 0xffff
    if bad:
        c ^= 0x00ff
    return u[:6] + struct.pack("!H", c) + payload


def tcp(src, dst, sport, dport, flags, payload=b"", doff=5, bad=False, seq=1000):
    t = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, doff << 4, flags, 65535, 0, 0)
    t += b"\0" * max(0, doff * 4 - 20)
    ph = src + dst + struct.pack("!BBH", 0, 6, len(t) + len(payload))
    c = csum(ph + t + payload)
    if bad:
        c ^= 0x0f0f
    return t[:16] + struct.pack("!H", c) + t[18:] + payload


def main():
    iface, gmac, gip, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rnd = random.Random(5)
    dst_mac = bytes.fromhex(gmac.replace(":", ""))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    me = socket.inet_aton("10.77.0.1")
    him = socket.inet_aton(gip)
    eth = dst_mac + src_mac

    def send(ethertype, payload):
        s.send(eth + struct.pack("!H", ethertype) + payload)

    put = b"f1 PUT fragkey should-not-exist"
    good_udp = udp(me, him, 4000, 7000, b"g1 GET x")
    good_syn = tcp(me, him, 4001, 7000, 0x02)
    crafted = [
        ip_hdr(me, him, 17, len(good_udp), bad=True) + good_udp,            # IP checksum
        ip_hdr(me, him, 17, len(good_udp), tlen=1400) + good_udp,           # length > frame
        ip_hdr(me, him, 17, len(good_udp), ihl=3) + good_udp,               # ihl < 5
        ip_hdr(me, him, 17, len(good_udp), ihl=15, tlen=28) + good_udp,     # ihl > total
        ip_hdr(me, him, 17, 8 + len(put), frag=0x2000) + udp(me, him, 4000, 7000, put),
        ip_hdr(me, him, 17, 8 + len(put), frag=0x0010) + udp(me, him, 4000, 7000, put),
        ip_hdr(me, him, 17, len(good_udp)) + udp(me, him, 4000, 7000, b"g1 GET x", bad=True),
        ip_hdr(me, him, 17, len(good_udp)) + udp(me, him, 4000, 7000, b"g1 GET x", ulen=900),
        ip_hdr(me, him, 6, 20) + tcp(me, him, 4001, 7000, 0x02, bad=True),
        ip_hdr(me, him, 6, 20) + tcp(me, him, 4001, 7000, 0x02, doff=2),
        ip_hdr(me, him, 6, 20) + tcp(me, him, 4001, 7000, 0x02, doff=15)[:20],
        ip_hdr(me, him, 1, 8) + struct.pack("!BBHHH", 8, 0, 0xdead, 1, 1),  # ICMP checksum
        b"\x45",                                                            # runt IP
    ]
    for p in crafted:
        send(0x0800, p)
    send(0x0806, b"\x00\x01\x08\x00\x06")                                   # runt ARP
    send(0x0806, struct.pack("!HHBBH", 1, 0x0800, 9, 4, 1) + b"\0" * 20)    # bad hlen
    valid = [ip_hdr(me, him, 17, len(good_udp)) + good_udp,
             ip_hdr(me, him, 6, len(good_syn)) + good_syn]
    for i in range(count):
        if i % 200 == 199:              # let the guest drain its queue
            kvclient.udp_cmd(gip, "sync", "GET x")
        kind = i % 3
        if kind == 0:                   # random bytes
            send(rnd.choice([0x0800, 0x0806, 0x86dd, 0x8100]),
                 bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 200))))
        else:                           # bit flips of a valid packet
            p = bytearray(valid[kind - 1])
            for _ in range(rnd.randrange(1, 4)):
                p[rnd.randrange(len(p))] ^= 1 << rnd.randrange(8)
            send(0x0800, bytes(p[:rnd.randrange(1, len(p) + 1)]))
    s.close()

    kvclient.roundtrip(gip)
    kvclient.expect(kvclient.udp_cmd(gip, "q", "GET fragkey"), "NOTFOUND", "fragment applied")
    c = kvclient.Conn(gip)
    stats = dict(kv.split("=") for kv in c.cmd("STATS").split()[1:])
    c.close()
    for key in ("drop_short", "drop_checksum", "drop_malformed", "drop_fragment"):
        if int(stats[key]) == 0:
            raise RuntimeError("%s not counted: %s" % (key, stats))
    if int(stats["rx"]) < count:
        raise RuntimeError("guest saw only %s frames of %d sent" % (stats["rx"], count))
    print("badframes ok: %d fuzzed + %d crafted frames; %s" % (count, len(crafted) + 2, stats))


if __name__ == "__main__":
    kvclient.run(main)
