#!/usr/bin/env python3
"""Writes the synthetic captures of amqp-tap's tests: AMQP conversations whose
frames are encoded by pika (an independent codec), wrapped in TCP/IP packets
that exercise what live loopback captures rarely show. Deterministic: the same
bytes on every run.

  python3 make_synthetic.py [OUT_DIR]     (pip install pika)

  reorder.pcap     two interleaved IPv4 connections over Ethernet; frames split
                   across segments at odd places, segments out of order,
                   retransmitted whole and overlapping
  ipv6.pcapng      pcapng, IPv6 over Ethernet, nanosecond timestamps
  sll.pcap         Linux cooked capture (SLL) of IPv4, as `tcpdump -i any` writes
  loopback.pcap    BSD loopback link type (DLT_NULL), as a capture on lo0 has
  midstream.pcap   starts mid-connection, the client's side inside a frame
  gap.pcap         one segment lost from the capture
  rawip.pcap       raw IP link type; exchange.bind, a broker nack, blocked and
                   unblocked, update-secret
  errors.pcap      malformed frames between good ones: bad frame-end octet,
                   unknown frame type, truncated arguments, unknown table tag,
                   a header without a method, a body longer than declared
"""
import decimal
import os
import struct
import sys

from pika import frame, spec

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD


def method(ch, m):
    return frame.Method(ch, m).marshal()


def content(ch, body, **props):
    p = spec.BasicProperties(**props)
    out = frame.Header(ch, len(body), p).marshal()
    for i in range(0, len(body), 4088):
        out += frame.Body(ch, body[i:i + 4088]).marshal()
    return out


def handshake_c():
    return b"AMQP\x00\x00\x09\x01"


def session(queue, n, tag=b"msg"):
    """(direction, bytes) of a short but complete session: handshake, a
    channel in confirm mode, declare, n publishes with confirms (the last two
    acked together), a consumer receiving them, acks, close."""
    s = [("c", handshake_c()),
         ("s", method(0, spec.Connection.Start(server_properties={"product": "synthetic", "version": "1"},
                                               mechanisms="PLAIN AMQPLAIN", locales="en_US"))),
         ("c", method(0, spec.Connection.StartOk(client_properties={"product": "make_synthetic.py"},
                                                 mechanism="PLAIN", response="\0guest\0guest"))),
         ("s", method(0, spec.Connection.Tune(channel_max=2047, frame_max=4096, heartbeat=60))),
         ("c", method(0, spec.Connection.TuneOk(channel_max=2047, frame_max=4096, heartbeat=60))
          + method(0, spec.Connection.Open(virtual_host="/"))),
         ("s", method(0, spec.Connection.OpenOk())),
         ("c", method(1, spec.Channel.Open())),
         ("s", method(1, spec.Channel.OpenOk())),
         ("c", method(1, spec.Confirm.Select())),
         ("s", method(1, spec.Confirm.SelectOk())),
         ("c", method(1, spec.Queue.Declare(queue=queue, arguments={"x-max-length": 100, "x-queue-type": "classic"}))),
         ("s", method(1, spec.Queue.DeclareOk(queue=queue, message_count=0, consumer_count=0)))]
    for i in range(1, n + 1):
        body = tag + b"-%d " % i + bytes(range(32)) * (i * 40)  # several body frames for larger i
        s.append(("c", method(1, spec.Basic.Publish(exchange="", routing_key=queue))
                  + content(1, body, content_type="application/octet-stream", delivery_mode=2,
                            headers={"i": i, "s": "x" * i, "f": decimal.Decimal("1.5"), "b": b"\xff\x00", "t": True, "n": None,
                                     "l": [1, "two"], "d": {"k": "v"}},
                            message_id="m%d" % i, timestamp=1700000000 + i, priority=i % 10)))
        if i < n - 1:
            s.append(("s", method(1, spec.Basic.Ack(delivery_tag=i))))
    s.append(("s", method(1, spec.Basic.Ack(delivery_tag=n, multiple=True))))
    s.append(("c", method(1, spec.Basic.Consume(queue=queue, consumer_tag="ctag"))))
    s.append(("s", method(1, spec.Basic.ConsumeOk(consumer_tag="ctag"))))
    for i in range(1, n + 1):
        s.append(("s", method(1, spec.Basic.Deliver(consumer_tag="ctag", delivery_tag=i, exchange="",
                                                    routing_key=queue)) + content(1, tag + b"-%d" % i)))
    s.append(("c", method(1, spec.Basic.Ack(delivery_tag=n, multiple=True))))
    s.append(("c", frame.Heartbeat().marshal()))
    s.append(("s", frame.Heartbeat().marshal()))
    s.append(("c", method(1, spec.Channel.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))))
    s.append(("s", method(1, spec.Channel.CloseOk())))
    s.append(("c", method(0, spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))))
    s.append(("s", method(0, spec.Connection.CloseOk())))
    return s


class Conn:
    """One TCP connection: builds its packets with consistent sequence numbers."""

    def __init__(self, client, server, v6=False, isn=(1000, 5000)):
        self.ends = {"c": client, "s": server}
        self.v6 = v6
        self.seq = {"c": isn[0], "s": isn[1]}

    def packet(self, d, payload=b"", flags=0x18, seq=None):
        o = "s" if d == "c" else "c"
        src, dst = self.ends[d], self.ends[o]
        seq = self.seq[d] if seq is None else seq
        tcp = struct.pack(">HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, self.seq[o] & 0xFFFFFFFF,
                          5 << 4, flags, 65535, 0, 0)
        if self.v6:
            ip = struct.pack(">IHBB16s16s", 6 << 28, len(tcp) + len(payload), 6, 64, src[0], dst[0])
        else:
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + len(payload), 0, 0x4000, 64, 6, 0,
                             src[0], dst[0])
        return ip + tcp + payload

    def open(self):
        c, s = self.seq["c"], self.seq["s"]
        self.seq["c"], self.seq["s"] = c - 1, s - 1
        p = [self.packet("c", flags=0x02)]
        self.seq["c"] = c
        p.append(self.packet("s", flags=0x12))
        self.seq["s"] = s
        p.append(self.packet("c", flags=0x10))
        return p

    def send(self, d, data):
        """The packet carrying data, advancing the sequence number."""
        p = self.packet(d, data)
        self.seq[d] += len(data)
        return p

    def close(self):
        p = [self.packet("c", flags=0x11)]
        self.seq["c"] += 1
        p.append(self.packet("s", flags=0x11))
        self.seq["s"] += 1
        p.append(self.packet("c", flags=0x10))
        return p


def eth(ip, ethertype):
    return b"\x00" * 12 + struct.pack(">H", ethertype) + ip


def sll(ip):
    # packet type 0 (to us), ARPHRD_LOOPBACK 772, address length 6, address, protocol
    return struct.pack(">HHH8sH", 0, 772, 6, b"\x00" * 8, ETH_IPV4) + ip


def null_loopback(ip):
    # BSD loopback (DLT_NULL): the address family in host byte order (AF_INET = 2)
    return struct.pack("<I", 2) + ip


def write_pcap(path, packets, linktype=1, t0=1700000000):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", t0 + i // 1000, (i % 1000) * 1000, len(p), len(p)) + p)


def pcapng_block(btype, body):
    pad = (-len(body)) % 4
    total = 12 + len(body) + pad
    return struct.pack("<II", btype, total) + body + b"\x00" * pad + struct.pack("<I", total)


def write_pcapng(path, packets, t0_ns=1700000000_123456789):
    with open(path, "wb") as f:
        f.write(pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        # if_tsresol = 9 (nanoseconds), then end of options
        opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
        f.write(pcapng_block(1, struct.pack("<HHI", 1, 0, 262144) + opts))
        for i, p in enumerate(packets):
            ts = t0_ns + i * 1500
            body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(p), len(p)) + p
            f.write(pcapng_block(6, body))


V4_C1, V4_C2, V4_S = (b"\x7f\x00\x00\x01", 40001), (b"\x7f\x00\x00\x01", 40002), (b"\x7f\x00\x00\x01", 5672)
V6_C, V6_S = (b"\x00" * 15 + b"\x01", 40003), (b"\x00" * 15 + b"\x01", 5672)


def straight(conn, conv):
    pkts = conn.open()
    for d, data in conv:
        pkts.append(conn.send(d, data))
    return pkts + conn.close()


def reorder():
    """Two connections interleaved; connection 1's stream split at odd places,
    with segments swapped, repeated and overlapping."""
    a, b = Conn(V4_C1, V4_S), Conn(V4_C2, V4_S, isn=(0xFFFFFF00, 0x7FFFFFF0))  # b wraps around 2^32
    pa, pb = a.open(), b.open()
    for i, (d, data) in enumerate(session("reorder.a", 4, b"A")):
        if d == "c" and len(data) > 40:
            # split in three at odd offsets; send 3rd, 1st, 2nd; retransmit 1st;
            # then an overlapping retransmission of the 2nd and 3rd together
            cut1, cut2 = 7, len(data) // 2 + 3
            s0 = a.seq["c"]
            p1 = a.packet("c", data[:cut1], seq=s0)
            p2 = a.packet("c", data[cut1:cut2], seq=s0 + cut1)
            p3 = a.packet("c", data[cut2:], seq=s0 + cut2)
            over = a.packet("c", data[cut1 - 3:], seq=s0 + cut1 - 3)
            a.seq["c"] += len(data)
            pa += [p3, p1, p1, p2, over]
        else:
            pa.append(a.send(d, data))
    for d, data in session("reorder.b", 3, b"B"):
        pb.append(b.send(d, data))
    pa += a.close()
    pb += b.close()
    out = []
    while pa or pb:
        out += pa[:3]
        out += pb[:2]
        pa, pb = pa[3:], pb[2:]
    return [eth(p, ETH_IPV4) for p in out]


def ipv6():
    c = Conn(V6_C, V6_S, v6=True)
    return [eth(p, ETH_IPV6) for p in straight(c, session("ipv6.q", 3, b"six"))]


def sll_capture():
    c = Conn(V4_C1, V4_S)
    return [sll(p) for p in straight(c, session("sll.q", 2, b"cooked"))]


def loopback():
    c = Conn(V4_C2, V4_S)
    return [null_loopback(p) for p in straight(c, session("loopback.q", 2, b"lo0"))]


def midstream():
    """The capture starts mid-connection: the server's side at a frame
    boundary (basic.ack 2), the client's side 9 bytes before the end of a
    content header frame. amqp-tap must skip those 9 bytes. Wireshark's
    dissector cannot resynchronise; the cut is placed where it lands back on a
    boundary by itself, reading the 9 bytes as a frame of unknown type 9 with a
    1-byte payload (publish 3 carries one property, a timestamp chosen for
    that: 0x0900010000000100), so that the two can be compared from the next
    frame on."""
    c = Conn(V4_C1, V4_S)
    conv = session("mid.q", 4, b"M")
    for k, (d, data) in enumerate(conv):
        if d == "c" and b"M-3 " in data:
            pub = method(1, spec.Basic.Publish(exchange="", routing_key="mid.q"))
            body = b"M-3 " + bytes(range(32)) * 120
            conv[k] = ("c", pub + content(1, body, timestamp=0x0900010000000100))
            cut = len(pub) + 7 + 14  # into the header frame, at the timestamp
            three = k
    pkts = []
    for k, (d, data) in enumerate(conv):
        if k < three - 1:
            c.seq[d] += len(data)  # before the capture started
        elif k == three:
            c.seq["c"] += cut
            pkts.append(c.send("c", data[cut:]))
        else:
            pkts.append(c.send(d, data))
    return [eth(p, ETH_IPV4) for p in pkts + c.close()]


def gap():
    """The segment with publish 2 never reaches the capture."""
    c = Conn(V4_C1, V4_S)
    pkts = c.open()
    for d, data in session("gap.q", 4, b"G"):
        if d == "c" and b"G-2 " in data:
            c.seq["c"] += len(data)
            continue
        pkts.append(c.send(d, data))
    return [eth(p, ETH_IPV4) for p in pkts + c.close()]


def rawip():
    """Raw IP records (no link header), with the methods few sessions show:
    exchange.bind, basic.nack from the broker, connection.blocked/unblocked,
    connection.update-secret."""
    c = Conn(V4_C1, V4_S)
    hello = content(1, b"hello", content_type="text/plain", delivery_mode=2,
                    headers={"x-int": 7, "x-str": "v", "x-list": [1, "a"]})
    conv = session("raw.q", 1, b"R")[:12] + [
        ("c", method(1, spec.Exchange.Declare(exchange="ex", type="topic", auto_delete=True))),
        ("s", method(1, spec.Exchange.DeclareOk())),
        ("c", method(1, spec.Exchange.Bind(destination="ex", source="amq.topic", routing_key="#"))),
        ("s", method(1, spec.Exchange.BindOk())),
        ("c", method(1, spec.Basic.Publish(exchange="ex", routing_key="k")) + hello),
        ("c", method(1, spec.Basic.Publish(exchange="ex", routing_key="k")) + hello),
        ("s", method(1, spec.Basic.Ack(delivery_tag=1)) + method(1, spec.Basic.Nack(delivery_tag=2, multiple=True))),
        ("s", method(0, spec.Connection.Blocked(reason="low on memory")) + method(0, spec.Connection.Unblocked())),
        ("c", method(0, spec.Connection.UpdateSecret(new_secret=b"token", reason="refresh"))),
        ("s", method(0, spec.Connection.UpdateSecretOk())),
        ("c", method(0, spec.Connection.Close(reply_code=200, reply_text="bye", class_id=0, method_id=0))),
        ("s", method(0, spec.Connection.CloseOk())),
    ]
    return straight(c, conv)


def errors():
    c = Conn(V4_C1, V4_S)
    pub = method(1, spec.Basic.Publish(exchange="", routing_key="q"))
    good = method(1, spec.Basic.Qos(prefetch_count=7))
    bad_end = bytearray(good)
    bad_end[-1] = 0x00
    # queue.declare whose arguments table holds tag 'Z'
    args = b"\x01kZ"
    decl = struct.pack(">HHH", 50, 10, 0) + b"\x01q" + b"\x00" + struct.pack(">I", len(args)) + args
    bad_tag = struct.pack(">BHI", 1, 1, len(decl)) + decl + b"\xce"
    conv = session("errors.q", 1, b"E")[:10]  # up to confirm.select-ok
    conv += [
        ("c", bytes(bad_end) + good),                                   # bad frame end, then a good frame
        ("c", b"\x09\x00\x01\x00\x00\x00\x00\xce" + good),             # unknown frame type 9
        ("c", bytes([1, 0, 1, 0, 0, 0, 8, 0, 60, 0, 40, 0, 0, 0, 9, 0xCE]) + good),  # truncated routing-key
        ("c", bad_tag + good),                                          # unknown table tag
        ("c", content(1, b"orphan")[:-14] + good),                       # header without a method (body dropped)
        ("c", pub + frame.Header(1, 2, spec.BasicProperties()).marshal()
              + frame.Body(1, b"toolong").marshal() + good),             # body longer than declared
        ("s", method(0, spec.Connection.Close(reply_code=501, reply_text="FRAME_ERROR", class_id=0, method_id=0))),
        ("c", method(0, spec.Connection.CloseOk())),
    ]
    return [eth(p, ETH_IPV4) for p in straight(c, conv)]


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    write_pcap(os.path.join(out, "reorder.pcap"), reorder())
    write_pcapng(os.path.join(out, "ipv6.pcapng"), ipv6())
    write_pcap(os.path.join(out, "sll.pcap"), sll_capture(), linktype=113)
    write_pcap(os.path.join(out, "loopback.pcap"), loopback(), linktype=0)
    write_pcap(os.path.join(out, "midstream.pcap"), midstream())
    write_pcap(os.path.join(out, "gap.pcap"), gap())
    write_pcap(os.path.join(out, "errors.pcap"), errors())
    write_pcap(os.path.join(out, "rawip.pcap"), rawip(), linktype=101)
