#!/usr/bin/env python3
"""Clients for the guest kit's integration tests (run in the client netns).

  kvclient.py roundtrip HOST          TCP and UDP PUT/GET/STATS round trips
  kvclient.py load HOST CLIENTS OPS   concurrent TCP clients, each OPS PUT+GET
  kvclient.py fill HOST N FILE        PUT N keys, record them in FILE (json)
  kvclient.py verify HOST FILE        every key in FILE reads back its value
  kvclient.py stats HOST              print the STATS line
Exit status 0 on success; a failure prints what differed.
"""
import json
import os
import socket
import sys
import threading

PORT = 7000
TIMEOUT = 20.0


class Conn:
    """A line-oriented kvstore TCP connection."""

    def __init__(self, host):
        self.s = socket.create_connection((host, PORT), timeout=TIMEOUT)
        self.buf = b""

    def cmd(self, line):
        self.s.sendall(line.encode() + b"\n")
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError("connection closed by the guest after %r" % line)
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n", 1)
        return reply.decode()

    def close(self):
        self.s.close()


def expect(got, want, what):
    if got != want:
        raise RuntimeError("%s: got %r, want %r" % (what, got, want))


def udp_cmd(host, reqid, line):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2.0)
    try:
        for _ in range(5):           # UDP: retry on loss
            s.sendto(("%s %s" % (reqid, line)).encode(), (host, PORT))
            try:
                data, _ = s.recvfrom(4096)
            except socket.timeout:
                continue
            reply = data.decode()
            if reply.split(" ", 1)[0] == reqid:
                return reply.split(" ", 1)[1]
        raise RuntimeError("no UDP reply for %r" % line)
    finally:
        s.close()


def roundtrip(host):
    c = Conn(host)
    r = c.cmd("PUT alpha one two")
    if not r.startswith("OK "):
        raise RuntimeError("PUT reply %r" % r)
    seq = int(r.split()[1])
    expect(c.cmd("GET alpha"), "VALUE one two", "TCP GET")
    expect(c.cmd("GET missing-key"), "NOTFOUND", "TCP GET missing")
    expect(c.cmd("BOGUS"), "ERR unknown command", "unknown command")
    r = c.cmd("PUT alpha three")
    expect(r, "OK %d" % (seq + 1), "second PUT sequence")
    c.close()
    r = udp_cmd(host, "id42", "PUT beta udp-value")
    if not r.startswith("OK "):
        raise RuntimeError("UDP PUT reply %r" % r)
    expect(udp_cmd(host, "id43", "GET beta"), "VALUE udp-value", "UDP GET")
    expect(udp_cmd(host, "x", "GET alpha"), "VALUE three", "UDP GET of TCP key")
    c = Conn(host)
    expect(c.cmd("GET beta"), "VALUE udp-value", "TCP GET of UDP key")
    stats = c.cmd("STATS")
    if not stats.startswith("STATS keys=2 "):
        raise RuntimeError("STATS %r" % stats)
    c.close()
    print("roundtrip ok:", stats)


def load(host, nclients, nops):
    errors = []

    def client(i):
        try:
            c = Conn(host)
            for j in range(nops):
                key = "c%d-k%d" % (i, j % 97)
                val = "v%d-%d-%s" % (i, j, "x" * (j % 50))
                r = c.cmd("PUT %s %s" % (key, val))
                if not r.startswith("OK "):
                    raise RuntimeError("client %d op %d: PUT reply %r" % (i, j, r))
                expect(c.cmd("GET " + key), "VALUE " + val, "client %d op %d GET" % (i, j))
            c.close()
        except Exception as e:       # collected and reported by the main thread
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("%d clients failed, first: %s" % (len(errors), errors[0]))
    print("load ok: %d clients x %d PUT/GET" % (nclients, nops))


def fill(host, n, path):
    c = Conn(host)
    data = {}
    for i in range(n):
        key, val = "persist-%d" % (i % 300), "value-%d-%s" % (i, os.urandom(4).hex())
        r = c.cmd("PUT %s %s" % (key, val))
        if not r.startswith("OK "):
            raise RuntimeError("PUT reply %r" % r)
        data[key] = val
    c.close()
    with open(path, "w") as f:
        json.dump(data, f)
    print("filled %d keys" % len(data))


def verify(host, path):
    with open(path) as f:
        data = json.load(f)
    c = Conn(host)
    for key, val in data.items():
        expect(c.cmd("GET " + key), "VALUE " + val, "GET %s after restart" % key)
    c.close()
    print("verified %d keys" % len(data))


def run(main_fn):
    """Run a test client's main: any exception is a reported failure (exit 1)."""
    try:
        sys.exit(main_fn())
    except Exception as e:  # the message is the test's diagnosis
        print("FAIL:", e)
        sys.exit(1)


def main():
    cmd, host = sys.argv[1], sys.argv[2]
    if cmd == "roundtrip":
        roundtrip(host)
    elif cmd == "load":
        load(host, int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "fill":
        fill(host, int(sys.argv[3]), sys.argv[4])
    elif cmd == "verify":
        verify(host, sys.argv[3])
    elif cmd == "stats":
        c = Conn(host)
        print(c.cmd("STATS"))
        c.close()
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    run(main)
