#!/usr/bin/env python3
"""The demo's kvstore client (runs in the client namespace).

  demo_client.py put HOST OUT      PUT numbered keys until SIGTERM; append
                                   each acknowledged key to OUT (flushed)
  demo_client.py verify HOST FILE  GET every key in FILE; print
                                   "acknowledged writes: N checked, M lost"
Connection errors: reconnect (bounded) and go on; a PUT whose reply never
came is not recorded (it was not acknowledged).
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "guest"))
from kvclient import Conn  # noqa: E402  (the guest kit's line client)

stop = False


def on_term(_sig, _frm):
    global stop
    stop = True


def connect(host, deadline):
    while True:
        try:
            return Conn(host)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def put(host, out):
    signal.signal(signal.SIGTERM, on_term)
    i, reconnects = 0, 0
    c = connect(host, time.monotonic() + 20)
    with open(out, "a") as f:
        while not stop:
            key, val = "k%06d" % i, "v%06d-%s" % (i, "x" * (i % 40))
            try:
                r = c.cmd("PUT %s %s" % (key, val))
            except (OSError, RuntimeError):   # RuntimeError: closed by the guest
                if stop:
                    break
                reconnects += 1
                c = connect(host, time.monotonic() + 20)
                continue
            if not r.startswith("OK"):
                print("PUT %s: %r" % (key, r), file=sys.stderr)
                return 1
            f.write("%s %s\n" % (key, val))
            f.flush()
            i += 1
    print("client: %d PUTs acknowledged, %d reconnects" % (i, reconnects))
    return 0


def verify(host, path):
    pairs = [l.split() for l in open(path) if l.strip()]
    c = connect(host, time.monotonic() + 20)
    lost = 0
    for key, val in pairs:
        r = c.cmd("GET %s" % key)
        if r != "VALUE %s" % val:
            lost += 1
            if lost <= 5:
                print("lost %s: got %r" % (key, r))
    print("acknowledged writes: %d checked, %d lost" % (len(pairs), lost))
    return 1 if lost or not pairs else 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "put":
        sys.exit(put(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 4 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
