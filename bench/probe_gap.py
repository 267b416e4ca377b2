#!/usr/bin/env python3
"""The client's view of a switch from the UDP probe's record (one datagram
a line: arrival us, boot id, ...; boot 0 is the old copy, any other the
new one).  Prints the gap in ms from the old copy's last datagram to the
new copy's first; with T_US (a moment in the record's clock, e.g. the
kill), first "from T_US to the new copy's first" then the gap, or
"early early" if the new copy spoke before T_US."""
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: probe_gap.py RECORD [T_US]")
    last_old = first_new = None
    for line in open(sys.argv[1]):
        f = line.split()
        if len(f) < 5:
            continue
        t, boot = int(f[0]), int(f[1])
        if boot == 0:
            last_old = t
        elif first_new is None:
            first_new = t
    if last_old is None or first_new is None:
        sys.exit("the probe's record lacks datagrams of the old copy or the new one")
    gap = "%.1f" % ((first_new - last_old) / 1000.0)
    if len(sys.argv) == 2:
        print(gap)
        return
    t = int(sys.argv[2])
    if first_new <= t:
        print("early early")    # the new copy spoke before the moment
        return
    print("%.1f %s" % ((first_new - t) / 1000.0, gap))


main()
