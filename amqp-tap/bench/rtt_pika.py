#!/usr/bin/env python3
"""The proxy benchmark's round trip with a typical client library (pika):
publish a message to an exclusive queue and wait for its delivery, N times.

  python3 rtt_pika.py HOST:PORT N        prints the median in microseconds
"""
import sys
import time

import pika


def main(addr, n):
    host, port = addr.rsplit(":", 1)
    conn = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=int(port)))
    ch = conn.channel()
    q = ch.queue_declare("", exclusive=True, auto_delete=True).method.queue
    got = []
    ch.basic_consume(q, lambda c, m, p, b: got.append(b), auto_ack=True)
    times = []
    body = b"x" * 32
    for _ in range(n):
        start = time.perf_counter()
        ch.basic_publish("", q, body)
        while not got:
            conn.process_data_events(time_limit=None)
        got.clear()
        times.append((time.perf_counter() - start) * 1e6)
    conn.close()
    times.sort()
    print("%.1f" % times[len(times) // 2])


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
