#!/usr/bin/env python3
"""Summarise a captured xl stream (save file, or the receiving side of
`xl migrate` / `xl remus`): xl header, libxl records, libxc records, and
per checkpoint the number of pages sent.  A lab measurement tool, independent
of remus's own stream codec, so the two can be compared.
Usage: stream-stats.py FILE...   (one summary line per file; exit 1 on a
malformed stream)
       stream-stats.py --cut FILE OUT: write to OUT the part of FILE that is a
       whole stream: up to the libxl END (dropping xl's migration messages that
       follow it) or, for a Remus stream cut by a failover, up to the last
       CHECKPOINT_END; print the number of complete checkpoints.
       stream-stats.py --flat FILE OUT: the same whole-stream part in the
       "flat" layout Xen's verify-stream-v2 can follow (it reads a libxc
       CHECKPOINT as one more libxc record, not as the switch to the libxl
       records of the checkpoint): xl and libxl headers, LIBXC_CONTEXT, the
       libxc headers and every libxc record of every complete checkpoint in
       stream order, a libxc END, then every other libxl record in stream
       order (EMULATOR_*, CHECKPOINT_END...) and a libxl END.  Every record
       byte of the capture's whole-stream part is in OUT exactly once; only
       the two END records are added.  A plain stream (with its END) is
       written unchanged.  Prints the number of complete checkpoints, of the
       capture's libxc records and of its libxl records (LIBXC_CONTEXT
       included) that OUT holds, the added END records not counted."""
import struct
import sys

XL_MAGIC = b"Xen saved domain, xl format\n \0 \r"
LIBXL_IDENT = 0x4C6962786C466D74          # "LibxlFmt", big endian header
LIBXC_MARKER, LIBXC_ID = 0xFFFFFFFFFFFFFFFF, 0x58454E46
LIBXL_END, LIBXL_LIBXC_CONTEXT, LIBXL_CHECKPOINT_END = 0, 1, 4
LIBXC_END, LIBXC_PAGE_DATA, LIBXC_CHECKPOINT = 0x0, 0x1, 0xE
PFN_TYPE_SHIFT = 60
NO_DATA_TYPES = (0xD, 0xE, 0xF)             # BROKEN, XALLOC, XTAB: a pfn without page contents
MAX_RECORD = 1 << 30


class Malformed(Exception):
    pass


class Reader:
    """Bounded reads from the captured bytes, naming the offset on error."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n, what):
        if n < 0 or self.pos + n > len(self.data):
            raise EOFError(f"{what} at offset {self.pos}: needs {n} bytes, "
                           f"{len(self.data) - self.pos} left")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def record(self, what):
        rtype, length = struct.unpack("<II", self.take(8, what + " header"))
        if length > MAX_RECORD:
            raise Malformed(f"{what} type {rtype:#x} at offset {self.pos - 8}: length {length} too big")
        body = self.take((length + 7) & ~7, f"{what} type {rtype:#x} body")
        return rtype, body[:length]


def xl_header(r):
    """Skip xl's own header (magic, flags, saved domain configuration)."""
    if r.take(len(XL_MAGIC), "xl magic") != XL_MAGIC:
        raise Malformed("not an xl stream: bad magic at offset 0")
    _order, _mand, _opt, optlen = struct.unpack("<IIII", r.take(16, "xl header"))
    r.take(optlen, "xl saved configuration")


def libxc_header(r):
    """Check the libxc image and domain headers; return the domain type."""
    marker, ident, version, _opts = struct.unpack(">QIIH6x", r.take(24, "libxc image header"))
    if marker != LIBXC_MARKER or ident != LIBXC_ID:
        raise Malformed(f"bad libxc image header at offset {r.pos - 24}")
    dtype, _shift, _res, xmaj, xmin = struct.unpack("<IHHII", r.take(16, "libxc domain header"))
    return version, dtype, f"{xmaj}.{xmin}"


def summarise(data, spans=None):
    """Walk the interleaved libxl/libxc records; count checkpoints and pages.
    SPANS, if a list, gets (layer, start, end) for every item read: the
    headers up to the libxl header ("headers"), each libxl record ("libxl",
    LIBXC_CONTEXT and the libxc headers after it: "libxc_context") and each
    libxc record ("libxc")."""
    r = Reader(data)
    xl_header(r)
    ident, version, _opts = struct.unpack(">QII", r.take(16, "libxl header"))
    if ident != LIBXL_IDENT:
        raise Malformed(f"bad libxl header at offset {r.pos - 16}")
    s = {"libxl_version": version, "checkpoints": 0, "pages": [], "complete": False,
         "checkpoints_complete": 0, "valid_end": None}
    span = spans.append if spans is not None else (lambda _item: None)
    span(("headers", 0, r.pos))
    pages, mode = 0, "libxl"
    try:
        while True:
            start = r.pos
            if mode == "libxl":
                rtype, _ = r.record("libxl record")
                if rtype == LIBXL_LIBXC_CONTEXT:
                    s["libxc_version"], s["domain_type"], s["xen"] = libxc_header(r)
                    span(("libxc_context", start, r.pos))
                    mode = "libxc"
                    continue
                span(("libxl", start, r.pos))
                if rtype == LIBXL_END:
                    s["complete"] = True
                    s["valid_end"] = r.pos
                    break
                if rtype == LIBXL_CHECKPOINT_END:
                    s["checkpoints_complete"] += 1
                    s["valid_end"] = r.pos
                    mode = "libxc"
            else:
                rtype, body = r.record("libxc record")
                span(("libxc", start, r.pos))
                if rtype == LIBXC_PAGE_DATA:
                    if len(body) < 8:
                        raise Malformed(f"short PAGE_DATA at offset {r.pos}")
                    count = struct.unpack_from("<I", body)[0]
                    if len(body) < 8 + 8 * count:
                        raise Malformed(f"PAGE_DATA at offset {r.pos}: {count} pfns do not fit")
                    pfns = struct.unpack_from(f"<{count}Q", body, 8)
                    pages += sum(1 for p in pfns if (p >> PFN_TYPE_SHIFT) not in NO_DATA_TYPES)
                elif rtype == LIBXC_CHECKPOINT:
                    s["checkpoints"] += 1
                    s["pages"].append(pages)
                    pages, mode = 0, "libxl"
                elif rtype == LIBXC_END:
                    s["pages"].append(pages)
                    pages, mode = 0, "libxl"
    except EOFError as e:
        s["truncated"] = str(e)        # a Remus stream ends when the sender dies
    s["bytes"] = r.pos
    return s


def cut(path, out):
    """Write the whole-stream prefix of PATH to OUT (see the usage)."""
    with open(path, "rb") as f:
        data = f.read()
    s = summarise(data)
    if s["valid_end"] is None:
        raise Malformed("no END and no complete checkpoint")
    with open(out, "wb") as f:
        f.write(data[:s["valid_end"]])
    print(s["checkpoints_complete"])


def flat(path, out):
    """Write the flat layout of PATH's whole-stream part to OUT (see the usage)."""
    with open(path, "rb") as f:
        data = f.read()
    spans = []
    s = summarise(data, spans)
    end = s["valid_end"]
    if end is None:
        raise Malformed("no END and no complete checkpoint")
    inside = [(layer, a, b) for layer, a, b in spans if b <= end]
    if s["complete"]:
        parts = [data[:end]]
    else:
        if not any(layer == "libxc_context" for layer, _a, _b in inside):
            raise Malformed("no LIBXC_CONTEXT before the last CHECKPOINT_END")
        record_end = struct.pack("<II", 0, 0)      # END: type 0, no body (libxc and libxl alike)
        parts = [data[a:b] for layer, a, b in inside if layer in ("headers", "libxc_context", "libxc")]
        parts.append(record_end)
        parts += [data[a:b] for layer, a, b in inside if layer == "libxl"]
        parts.append(record_end)
    with open(out, "wb") as f:
        for part in parts:
            f.write(part)
    kept = [layer for layer, _a, b in spans if b <= end]
    print(s["checkpoints_complete"], kept.count("libxc"), kept.count("libxl") + kept.count("libxc_context"))


def main(paths):
    rc = 0
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read()
            s = summarise(data)
        except (Malformed, EOFError, struct.error) as e:
            print(f"{path}: MALFORMED: {e}")
            rc = 1
            continue
        p = s["pages"]
        later = p[1:]
        mean = f"{sum(later) / len(later):.1f}" if later else "-"
        print(f"{path}: ok bytes={s['bytes']} libxc_v{s.get('libxc_version')} xen={s.get('xen')} "
              f"domain_type={s.get('domain_type')} checkpoints={s['checkpoints']} "
              f"first_pages={p[0] if p else 0} mean_pages_after_first={mean} "
              f"complete={'yes' if s['complete'] else 'no (sender stopped)'} "
              f"complete_checkpoints={s['checkpoints_complete']} trailing_bytes={len(data) - (s['valid_end'] or 0)}")
    return rc


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] in ("--cut", "--flat"):
        try:
            (cut if sys.argv[1] == "--cut" else flat)(sys.argv[2], sys.argv[3])
        except (Malformed, EOFError, struct.error) as e:
            sys.exit(f"{sys.argv[2]}: MALFORMED: {e}")
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
