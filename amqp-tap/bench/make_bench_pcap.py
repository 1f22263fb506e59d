#!/usr/bin/env python3
"""Writes the decoding benchmark's capture: CONNS interleaved AMQP 0-9-1
connections over Ethernet/IPv4, each publishing MESSAGES small messages in
confirm mode (the broker acks every 16th publish with multiple=true), a
consumer receiving them and acking them. Deterministic, standard library only
(frames are encoded here, by hand).

  python3 make_bench_pcap.py OUT.pcap [MESSAGES_PER_CONN] [CONNS]

With the defaults (20000 messages, 4 connections) the file is about 33 MB.
"""
import struct
import sys


def frame(ftype, ch, payload):
    return struct.pack(">BHI", ftype, ch, len(payload)) + payload + b"\xce"


def shortstr(s):
    return struct.pack(">B", len(s)) + s


def method(ch, class_id, method_id, args=b""):
    return frame(1, ch, struct.pack(">HH", class_id, method_id) + args)


def table(entries):
    body = b"".join(shortstr(k) + b"S" + struct.pack(">I", len(v)) + v for k, v in entries)
    return struct.pack(">I", len(body)) + body


HANDSHAKE_C = [
    b"AMQP\x00\x00\x09\x01",
    method(0, 10, 11, table([(b"product", b"bench")]) + shortstr(b"PLAIN")
           + struct.pack(">I", 12) + b"\x00guest\x00guest" + shortstr(b"en_US")),
    method(0, 10, 31, struct.pack(">HIH", 2047, 131072, 60)) + method(0, 10, 40, shortstr(b"/") + b"\x00\x00"),
    method(1, 20, 10, b"\x00"),
    method(1, 85, 10, b"\x00"),
    method(1, 50, 10, b"\x00\x00" + shortstr(b"bench.q") + b"\x00" + table([])),
    method(1, 60, 20, b"\x00\x00" + shortstr(b"bench.q") + shortstr(b"ctag") + b"\x02" + table([])),
]
HANDSHAKE_S = [
    method(0, 10, 10, b"\x00\x09" + table([(b"product", b"RabbitMQ")]) + struct.pack(">I", 5) + b"PLAIN"
           + struct.pack(">I", 5) + b"en_US"),
    method(0, 10, 30, struct.pack(">HIH", 2047, 131072, 60)),
    method(0, 10, 41, b"\x00"),
    method(1, 20, 11, struct.pack(">I", 0)),
    method(1, 85, 11),
    method(1, 50, 11, shortstr(b"bench.q") + struct.pack(">II", 0, 0)),
    method(1, 60, 21, shortstr(b"ctag")),
]


def header(ch, size):
    # basic properties: content-type and delivery-mode
    props = struct.pack(">H", 0x9000) + shortstr(b"text/plain") + b"\x02"
    return frame(2, ch, struct.pack(">HHQ", 60, 0, size) + props)


def publish(i):
    body = b"message %08d" % i
    return (method(1, 60, 40, b"\x00\x00" + shortstr(b"") + shortstr(b"bench.q") + b"\x00")
            + header(1, len(body)) + frame(3, 1, body))


def deliver(i):
    body = b"message %08d" % i
    return (method(1, 60, 60, shortstr(b"ctag") + struct.pack(">Q", i) + b"\x00" + shortstr(b"")
                   + shortstr(b"bench.q"))
            + header(1, len(body)) + frame(3, 1, body))


def ack(tag, multiple):
    return method(1, 60, 80, struct.pack(">QB", tag, 1 if multiple else 0))


class Conn:
    def __init__(self, port):
        self.ends = {"c": (b"\x7f\x00\x00\x01", port), "s": (b"\x7f\x00\x00\x01", 5672)}
        self.seq = {"c": 1000, "s": 9000}

    def packet(self, d, payload, flags=0x18):
        o = "s" if d == "c" else "c"
        src, dst = self.ends[d], self.ends[o]
        tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], self.seq[d] & 0xFFFFFFFF, self.seq[o] & 0xFFFFFFFF,
                          5 << 4, flags, 65535, 0, 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0, src[0], dst[0])
        self.seq[d] += len(payload) + (1 if flags & 0x03 else 0)
        return b"\x00" * 12 + b"\x08\x00" + ip + tcp + payload

    def packets(self, messages):
        self.seq["c"] -= 1
        self.seq["s"] -= 1
        yield self.packet("c", b"", 0x02)
        yield self.packet("s", b"", 0x12)
        yield self.packet("c", b"", 0x10)
        for c, s in zip(HANDSHAKE_C, [b""] + HANDSHAKE_S):
            if s:
                yield self.packet("s", s)
            yield self.packet("c", c)
        yield self.packet("s", HANDSHAKE_S[-1])
        for i in range(1, messages + 1):
            yield self.packet("c", publish(i))
            if i % 16 == 0 or i == messages:
                yield self.packet("s", ack(i, True))
            yield self.packet("s", deliver(i))
            yield self.packet("c", ack(i, False))
        yield self.packet("c", method(0, 10, 50, struct.pack(">H", 200) + shortstr(b"bye") + b"\x00\x00\x00\x00"))
        yield self.packet("s", method(0, 10, 51))
        yield self.packet("c", b"", 0x11)
        yield self.packet("s", b"", 0x11)


def main(out, messages, conns):
    gens = [Conn(40000 + k).packets(messages) for k in range(conns)]
    n = 0
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while gens:
            for g in list(gens):
                try:
                    p = next(g)
                except StopIteration:
                    gens.remove(g)
                    continue
                f.write(struct.pack("<IIII", 1700000000 + n // 100000, (n % 100000) * 10, len(p), len(p)) + p)
                n += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000, int(sys.argv[3]) if len(sys.argv) > 3 else 4)
