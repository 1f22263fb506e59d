#!/usr/bin/env python3
"""The client side of amqp-tap's live captures: real sessions with the local
RabbitMQ (127.0.0.1:5672, guest/guest), run by make_live.sh while tshark
records the loopback interface. Every queue and exchange it declares is
deleted before it exits.

  python3 live_session.py PORT1 PORT2     (pip install pika)

Its two connections leave from these local ports, so that a capture filter
can keep them apart from whatever else talks to the broker.

Connection 1 (channel per feature):
  ch 1  declare an exchange, a queue with arguments, bind; confirm mode;
        publishes with rich properties, one body larger than frame-max
  ch 2  confirm mode on a queue that rejects publishes when full (x-overflow
        reject-publish, x-max-length 1): the broker nacks
  ch 3  basic.get, basic.get-empty, qos, consume, ack, reject, nack
        (multiple), cancel
  ch 4  tx.select, publish + commit, publish + rollback
  ch 5  a channel error: queue.declare passive on a missing queue (404)
  ch 6  pipelined confirms (raw frames through pika's channel): the broker
        acknowledges several publishes with multiple=true
  heartbeats every second while idle, both ways
Connection 2, interleaved with 1: a consumer that receives what ch 1 publishes.
"""
import socket
import sys
import time

import pika
from pika import spec

PREFIX = "amqp-tap.live"
EX, Q, FULL, TXQ, PIPE = (PREFIX + ".x", PREFIX + ".q", PREFIX + ".full",
                          PREFIX + ".tx", PREFIX + ".pipe")


class _BoundSocket(socket.socket):
    """A TCP socket that, connecting to the broker, binds to the next of
    SOURCE_PORTS first (pika has no option for the source port; its other
    sockets, such as its internal socket pair, are left alone)."""

    def _bind_next(self, address):
        if self.type == socket.SOCK_STREAM and address[1] == 5672 and SOURCE_PORTS:
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.bind(("127.0.0.1", SOURCE_PORTS.pop(0)))

    def connect(self, address):
        self._bind_next(address)
        return super().connect(address)

    def connect_ex(self, address):
        self._bind_next(address)
        return super().connect_ex(address)


SOURCE_PORTS = []


def params(name):
    return pika.ConnectionParameters(
        host="127.0.0.1", port=5672, heartbeat=1, frame_max=4096,
        credentials=pika.PlainCredentials("guest", "guest"),
        client_properties={"connection_name": name})


def cleanup():
    """Deletes what a session declares, whatever state it ended in."""
    c = pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=5672))
    ch = c.channel()
    for q in (Q, FULL, TXQ, PIPE):
        ch.queue_delete(q)
    ch.exchange_delete(EX)
    c.close()


def main(ports):
    try:
        session(ports)
    finally:
        cleanup()


def session(ports):
    SOURCE_PORTS[:] = ports
    socket.socket = _BoundSocket
    c1 = pika.BlockingConnection(params("amqp-tap.live.1"))
    c2 = pika.BlockingConnection(params("amqp-tap.live.2"))
    socket.socket = _BoundSocket.__mro__[1]

    ch1 = c1.channel()
    ch1.exchange_declare(EX, "direct", auto_delete=False)
    ch1.queue_declare(Q, arguments={"x-max-priority": 5, "x-queue-type": "classic",
                                    "x-message-ttl": 60000})
    ch1.queue_bind(Q, EX, routing_key="k")
    ch1.confirm_delivery()

    # connection 2 consumes from Q while connection 1 publishes
    ch2 = c2.channel()
    ch2.basic_qos(prefetch_count=10)
    got = []
    ch2.basic_consume(Q, lambda ch, m, p, b: (got.append(b), ch.basic_ack(m.delivery_tag)),
                      consumer_tag="amqp-tap-consumer")
    props = pika.BasicProperties(
        content_type="text/plain", content_encoding="utf-8", delivery_mode=2, priority=3,
        correlation_id="corr-1", reply_to="amqp-tap.replies", expiration="60000",
        message_id="msg-1", timestamp=1700000000, type="greeting", user_id="guest",
        app_id="live_session.py",
        headers={"int": 42, "str": "héllo", "neg": -7, "bool": True, "list": [1, "a"],
                 "table": {"nested": 1}, "bytes": b"\xff\xfe", "void": None})
    for i in range(3):
        ch1.basic_publish(EX, "k", b"hello %d" % i, props)
    ch1.basic_publish(EX, "k", b"B" * 10000, pika.BasicProperties(content_type="application/octet-stream"))
    while len(got) < 4:
        c2.process_data_events(time_limit=0.2)
        c1.process_data_events(time_limit=0)

    # channel 2: the broker nacks publishes to a full queue
    chn = c1.channel()
    chn.queue_declare(FULL, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    chn.confirm_delivery()
    for i in range(3):
        try:
            chn.basic_publish("", FULL, b"full %d" % i)
        except pika.exceptions.NackError:
            pass

    # channel 3: get, get-empty, consume, ack, reject, nack
    ch3 = c1.channel()
    ch3.queue_purge(Q)
    for i in range(6):
        ch1.basic_publish(EX, "k", b"work %d" % i)
    ch2.basic_cancel("amqp-tap-consumer")
    m, _, body = ch3.basic_get(FULL)
    ch3.basic_ack(m.delivery_tag)
    ch3.basic_get(FULL)  # empty now
    ch3.basic_qos(prefetch_count=6)
    deliveries = []
    ch3.basic_consume(Q, lambda ch, m, p, b: deliveries.append(m.delivery_tag),
                      consumer_tag="amqp-tap-worker")
    while len(deliveries) < 6:
        c1.process_data_events(time_limit=0.2)
    ch3.basic_ack(deliveries[0])
    ch3.basic_reject(deliveries[1], requeue=False)
    ch3.basic_nack(deliveries[3], multiple=True, requeue=False)
    ch3.basic_nack(deliveries[5], multiple=True, requeue=False)
    ch3.basic_cancel("amqp-tap-worker")

    # channel 4: transactions
    ch4 = c1.channel()
    ch4.queue_declare(TXQ, auto_delete=True)
    ch4.tx_select()
    ch4.basic_publish("", TXQ, b"committed")
    ch4.tx_commit()
    ch4.basic_publish("", TXQ, b"rolled back")
    ch4.tx_rollback()

    # channel 5: a channel error
    ch5 = c1.channel()
    try:
        ch5.queue_declare(PREFIX + ".missing", passive=True)
    except pika.exceptions.ChannelClosedByBroker:
        pass

    # channel 6: pipelined confirms, so that the broker acks several at once
    ch6 = c1.channel()
    ch6.queue_declare(PIPE, auto_delete=True)
    impl = ch6._impl
    acked = []
    impl.confirm_delivery(lambda frame: acked.append(frame.method))
    c1.process_data_events(time_limit=0.2)
    for i in range(50):
        impl.basic_publish("", PIPE, b"p%d" % i)
    deadline = time.time() + 5
    while (not acked or max(m.delivery_tag for m in acked) < 50) and time.time() < deadline:
        c1.process_data_events(time_limit=0.1)

    # heartbeats: idle for a while, both connections
    end = time.time() + 2.6
    while time.time() < end:
        c1.process_data_events(time_limit=0.1)
        c2.process_data_events(time_limit=0.1)

    # cleanup, on the wire too
    for q in (Q, FULL, TXQ, PIPE):
        ch1.queue_delete(q)
    ch1.exchange_delete(EX)
    c2.close()
    c1.close()


if __name__ == "__main__":
    main([int(p) for p in sys.argv[1:3]])
