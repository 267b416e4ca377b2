#!/usr/bin/env python3
"""Unauthenticated flood of a replication port (remusd_hs_flood.sh).

usage: hs_flood.py HOST PORT STATEFILE RATE SRC-IP...

From each source address keep PER_SRC connections open that never
authenticate: half silent (connect, say nothing), half slow (drip a HELLO
header one byte every 100 ms).  Whenever the server closes one (evicted,
timed out), open a new one at once, up to RATE connects per second in
total.  Runs until SIGTERM; STATEFILE gets "connects closed" once a second
(and "up" appears in it after the first 20 connects).
"""
import errno, os, selectors, signal, socket, struct, sys, time

PER_SRC = 16
host, port, state, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
sources = sys.argv[5:]
hello_hdr = struct.pack(">II", 1, 136) + b"REMUSRPL"

sel = selectors.DefaultSelector()
stop = False
connects = closed = 0
tokens, last = rate / 10, time.monotonic()

def on_term(*_):
    global stop
    stop = True

signal.signal(signal.SIGTERM, on_term)

class Conn:
    def __init__(self, slot):
        src, slow = want[slot]
        self.slot, self.slow, self.sent = slot, slow, 0
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.s.setblocking(False)
        self.s.bind((src, 0))
        self.next_drip = time.monotonic() + 0.1
        err = self.s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            raise OSError(err, os.strerror(err))
        sel.register(self.s, selectors.EVENT_READ, self)

want = [(src, i % 2 == 1) for src in sources for i in range(PER_SRC)]
free = list(range(len(want)))       # slots with no connection
live = []

def refill():
    global tokens, last, connects
    now = time.monotonic()
    tokens = min(rate / 10, tokens + (now - last) * rate)
    last = now
    while free and tokens >= 1:
        try:
            live.append(Conn(free[0]))
        except OSError:
            return
        free.pop(0)
        tokens -= 1
        connects += 1

def drop(c):
    global closed
    sel.unregister(c.s)
    c.s.close()
    live.remove(c)
    free.append(c.slot)
    closed += 1

last_report = 0.0
while not stop:
    refill()
    for key, _ in sel.select(timeout=0.02):
        c = key.data
        try:
            if c.s.recv(4096) == b"":
                drop(c)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            drop(c)
    now = time.monotonic()
    for c in list(live):
        if c.slow and now >= c.next_drip and c.sent < len(hello_hdr):
            try:
                c.s.send(hello_hdr[c.sent:c.sent + 1])
                c.sent += 1
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                drop(c)
                continue
            c.next_drip = now + 0.1
    if now - last_report >= 1.0 or (connects >= 20 and last_report == 0.0):
        with open(state + ".tmp", "w") as f:
            f.write("%d %d%s\n" % (connects, closed, " up" if connects >= 20 else ""))
        os.rename(state + ".tmp", state)
        last_report = now
with open(state + ".tmp", "w") as f:
    f.write("%d %d done\n" % (connects, closed))
os.rename(state + ".tmp", state)
