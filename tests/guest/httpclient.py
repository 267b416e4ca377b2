#!/usr/bin/env python3
"""HTTP checks against the httpd guest (run in the client netns).

  httpclient.py download HOST N     GET /bytes/N, compare with the pattern
  httpclient.py upload HOST N       POST N random bytes to /sum, compare CRC-32
  httpclient.py churn HOST N        N sequential Connection: close requests
  httpclient.py reset HOST          abort a download with RST, then GET /
  httpclient.py parallel HOST K N   K concurrent downloads and uploads of N bytes
"""
import http.client
import os
import socket
import struct
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import kvclient  # noqa: E402

MASK = (1 << 64) - 1
TIMEOUT = 30


def pattern(n):
    words = (n + 7) // 8
    return b"".join(struct.pack("<Q", (k * 0x9E3779B97F4A7C15) & MASK)
                    for k in range(words))[:n]


def request(host, method, path, body=None, headers=None):
    c = http.client.HTTPConnection(host, 80, timeout=TIMEOUT)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def download(host, n):
    t0 = time.monotonic()
    status, data = request(host, "GET", "/bytes/%d" % n)
    secs = time.monotonic() - t0
    if status != 200 or len(data) != n:
        raise RuntimeError("download: status %d, %d bytes of %d" % (status, len(data), n))
    if zlib.crc32(data) != zlib.crc32(pattern(n)):
        raise RuntimeError("download: content differs from the pattern")
    print("download ok: %d bytes crc32 %08x (%.1f MB/s, informational)"
          % (n, zlib.crc32(data), n / secs / 1e6))


def upload(host, n):
    body = os.urandom(n)
    t0 = time.monotonic()
    status, data = request(host, "POST", "/sum", body=body)
    secs = time.monotonic() - t0
    want = "crc32 %08x length %d\n" % (zlib.crc32(body), n)
    if status != 200 or data.decode() != want:
        raise RuntimeError("upload: got %d %r, want %r" % (status, data, want))
    print("upload ok: %s (%.1f MB/s, informational)" % (want.strip(), n / secs / 1e6))


def churn(host, n):
    for i in range(n):
        status, data = request(host, "GET", "/", headers={"Connection": "close"})
        if status != 200 or b"requests" not in data:
            raise RuntimeError("churn request %d: %d %r" % (i, status, data))
    print("churn ok: %d closed connections" % n)


def reset(host):
    s = socket.create_connection((host, 80), timeout=TIMEOUT)
    s.sendall(b"GET /bytes/100000000 HTTP/1.1\r\nHost: g\r\n\r\n")
    got = 0
    while got < 200000:
        got += len(s.recv(65536))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()                       # RST in the middle of the stream
    status, data = request(host, "GET", "/")
    if status != 200:
        raise RuntimeError("after reset: status %d" % status)
    print("reset ok")


def parallel(host, k, n):
    import threading
    errors = []

    def one(fn):
        try:
            fn(host, n)
        except Exception as e:      # reported by the main thread
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(download if i % 2 else upload,))
               for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("%d of %d transfers failed, first: %s" % (len(errors), k, errors[0]))
    print("parallel ok: %d concurrent transfers of %d bytes" % (k, n))


def main():
    cmd, host = sys.argv[1], sys.argv[2]
    if cmd == "download":
        download(host, int(sys.argv[3]))
    elif cmd == "upload":
        upload(host, int(sys.argv[3]))
    elif cmd == "churn":
        churn(host, int(sys.argv[3]))
    elif cmd == "reset":
        reset(host)
    elif cmd == "parallel":
        parallel(host, int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    kvclient.run(main)
