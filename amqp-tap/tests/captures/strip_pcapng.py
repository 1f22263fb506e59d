#!/usr/bin/env python3
"""Rewrites a little-endian pcapng capture without the options that describe
the machine it was taken on (hardware, OS, application, interface name and
filter): the section and interface blocks keep only what decoding needs, the
link type, snap length and timestamp resolution. Packet blocks are copied as
they are.

  python3 strip_pcapng.py IN OUT
"""
import struct
import sys


def blocks(data):
    at = 0
    while at < len(data):
        btype, total = struct.unpack_from("<II", data, at)
        yield btype, data[at + 8:at + total - 4]
        at += total


def block(btype, body):
    body += b"\x00" * ((-len(body)) % 4)
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def options(body):
    at = 0
    while at + 4 <= len(body):
        code, length = struct.unpack_from("<HH", body, at)
        if code == 0:
            return
        yield code, body[at + 4:at + 4 + length]
        at += 4 + length + (-length) % 4


def main(src, dst):
    data = open(src, "rb").read()
    out = []
    for btype, body in blocks(data):
        if btype == 0x0A0D0D0A:  # section header: magic, version, length; no options
            out.append(block(btype, body[:16]))
        elif btype == 1:  # interface description: keep if_tsresol (9) only
            kept = b"".join(struct.pack("<HH", c, len(v)) + v + b"\x00" * ((-len(v)) % 4)
                            for c, v in options(body[8:]) if c == 9)
            out.append(block(btype, body[:8] + kept + (struct.pack("<HH", 0, 0) if kept else b"")))
        elif btype in (3, 6):  # simple and enhanced packets
            out.append(block(btype, body))
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
