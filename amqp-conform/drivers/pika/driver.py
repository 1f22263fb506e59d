"""The `amqp-conform client` driver for pika, the Python AMQP 0-9-1 client.

It runs the fixed workload against the broker at ``AMQP_URI`` with one of
pika's adapters:

1. connect, with a handshake (stack) timeout of 10 s, a heartbeat of 2 s and
   no automatic recovery (pika has none);
2. open a channel, declare the queue ``amqp-conform-client`` (default
   options), enable publisher confirms;
3. publish 20 messages (``message 0`` .. ``message 19``) to that queue
   through the default exchange, awaiting each confirmation before the next
   publish (a nack is an error);
4. consume 10 messages with manual acks, acking each, waiting at most 10 s
   for each delivery (none within 10 s is an error);
5. cancel the consumer, close the channel and the connection.

It exits 0 when the workload completed and 1 when pika reported an error
(the error is printed on standard error, after the driver's name).

Usage::

    run.sh --adapter blocking    # BlockingConnection
    run.sh --adapter select      # SelectConnection, callbacks on its ioloop

    amqp-conform client --driver 'amqp-conform/drivers/pika/run.sh --adapter select'

The driver adds no detection of its own (no heartbeat watchdog, no confirm
timeout): whatever goes wrong on the wire is noticed by pika or not at all.
The only timeout it keeps itself is the workload's 10 s wait for a
delivery. On an error it does not close the connection: the process exits
and the socket goes with it, so that what the broker saw is what pika itself
sent in answer to the fault.
"""

import argparse
import logging
import os
import sys

import pika
import pika.exceptions

QUEUE = "amqp-conform-client"
PUBLISHES = 20
CONSUMES = 10
DELIVERY_TIMEOUT = 10.0


def parameters(uri):
    """The connection parameters of the workload."""
    params = pika.URLParameters(uri)
    # The whole opening handshake, TCP connect through connection.open-ok.
    params.stack_timeout = 10
    params.heartbeat = 2
    # socket_timeout bounds the TCP connect alone; its default (10 s) is
    # within the stack timeout, which bounds it anyway, so it is left alone.
    # blocked_connection_timeout is about connection.blocked, which the
    # workload does not bound (nor does any scenario send it): left off.
    # A single connection attempt (connection_attempts defaults to 1): no
    # retry, no recovery.
    return params


# --- BlockingConnection ------------------------------------------------------


def run_blocking(uri):
    """The workload with BlockingConnection; raises on any error."""
    connection = pika.BlockingConnection(parameters(uri))
    channel = connection.channel()
    channel.queue_declare(QUEUE)
    # With confirms on, basic_publish waits for the broker's basic.ack and
    # raises NackError on a basic.nack (UnroutableError on a return).
    channel.confirm_delivery()
    for i in range(PUBLISHES):
        channel.basic_publish("", QUEUE, f"message {i}".encode())
    # Consuming: the consume() generator, pika's blocking way of consuming
    # with a bound on the wait (inactivity_timeout yields (None, None, None)
    # after 10 s without a delivery), where basic_consume + start_consuming
    # has none and would need timers of our own.
    deliveries = channel.consume(QUEUE, auto_ack=False, inactivity_timeout=DELIVERY_TIMEOUT)
    for _ in range(CONSUMES):
        try:
            method, _properties, _body = next(deliveries)
        except StopIteration:
            raise RuntimeError("the consumer ended (cancelled by the broker)") from None
        if method is None:
            raise RuntimeError(f"no delivery within {DELIVERY_TIMEOUT:g} s")
        channel.basic_ack(method.delivery_tag)
    # Cancels the generator's consumer (basic.cancel, requeueing what it
    # holds beyond the 10).
    channel.cancel()
    channel.close()
    connection.close()


# --- SelectConnection --------------------------------------------------------


class SelectWorkload:
    """The workload as a callback state machine on SelectConnection's ioloop.

    connect -> channel.open -> queue.declare -> confirm.select -> publish 0,
    its ack -> publish 1 ... -> ack of 19 -> basic.consume -> 10 deliveries,
    each acked -> basic.cancel -> channel.close -> connection.close.

    ``error`` holds the first error reported; the ioloop stops when the
    connection closes (pika's on_close_callback) or on an error that leaves
    it open (a nack, a closed channel, no delivery in time).
    """

    def __init__(self, uri):
        self.error = None
        self.completed = False
        self.channel = None
        self.published = 0
        self.consumed = 0
        self.consumer_tag = None
        self.delivery_timer = None
        self.closing = False
        self.connection = pika.SelectConnection(
            parameters(uri),
            on_open_callback=self.on_connection_open,
            on_open_error_callback=self.on_connection_open_error,
            on_close_callback=self.on_connection_closed,
        )

    def run(self):
        self.connection.ioloop.start()

    def fail(self, error):
        """The workload failed: stop the ioloop, the connection left as it is.

        Not at once: pika writes what it has queued (say, the
        channel.close-ok answering a broker's channel.close) on the ioloop's
        next poll, and a callback added during a poll runs right after that
        poll, before the next one (each iteration polls, then runs the
        callbacks added so far, then the timers). A callback that adds the
        stop as a callback of its own lets one more poll come first.
        """
        if self.error is None:
            self.error = error
        self.cancel_delivery_timer()
        ioloop = self.connection.ioloop
        ioloop.add_callback(lambda: ioloop.add_callback(ioloop.stop))

    # Connection.

    def on_connection_open(self, connection):
        connection.channel(on_open_callback=self.on_channel_open)

    def on_connection_open_error(self, _connection, error):
        self.fail(error)

    def on_connection_closed(self, _connection, reason):
        if self.closing and isinstance(reason, pika.exceptions.ConnectionClosedByClient) \
                and reason.reply_code == 200:
            self.completed = True
            self.cancel_delivery_timer()
            self.connection.ioloop.stop()
        else:
            self.fail(reason)

    # Channel.

    def on_channel_open(self, channel):
        self.channel = channel
        channel.add_on_close_callback(self.on_channel_closed)
        channel.queue_declare(QUEUE, callback=self.on_queue_declared)

    def on_channel_closed(self, _channel, reason):
        if self.closing:
            self.connection.close()
        else:
            self.fail(reason)

    def on_queue_declared(self, _frame):
        self.channel.confirm_delivery(
            ack_nack_callback=self.on_confirm, callback=self.on_confirm_selected)

    # Publishing.

    def on_confirm_selected(self, _frame):
        self.publish()

    def publish(self):
        self.channel.basic_publish("", QUEUE, f"message {self.published}".encode())
        self.published += 1

    def on_confirm(self, frame):
        if self.error is not None:
            return
        method = frame.method
        tag = self.published  # the delivery tag of the one awaited publish
        if not (method.delivery_tag == tag or (method.multiple and method.delivery_tag >= tag)):
            # Not about the awaited publish: nothing to do with it.
            return
        if isinstance(method, pika.spec.Basic.Nack):
            self.fail(RuntimeError(f"publish {tag - 1} nacked: {method}"))
        elif self.published < PUBLISHES:
            self.publish()
        else:
            self.consume()

    # Consuming.

    def consume(self):
        self.consumer_tag = self.channel.basic_consume(
            QUEUE, on_message_callback=self.on_message, auto_ack=False)
        self.arm_delivery_timer()

    def arm_delivery_timer(self):
        self.delivery_timer = self.connection.ioloop.call_later(
            DELIVERY_TIMEOUT, self.on_delivery_timeout)

    def cancel_delivery_timer(self):
        if self.delivery_timer is not None:
            self.connection.ioloop.remove_timeout(self.delivery_timer)
            self.delivery_timer = None

    def on_delivery_timeout(self):
        self.delivery_timer = None
        self.fail(RuntimeError(f"no delivery within {DELIVERY_TIMEOUT:g} s"))

    def on_message(self, channel, method, _properties, _body):
        if self.error is not None:
            return
        if self.consumed >= CONSUMES:
            # Beyond the 10 (a real broker sends what the queue holds): left
            # unacked, requeued when the channel closes.
            return
        self.cancel_delivery_timer()
        channel.basic_ack(method.delivery_tag)
        self.consumed += 1
        if self.consumed < CONSUMES:
            self.arm_delivery_timer()
        else:
            channel.basic_cancel(self.consumer_tag, callback=self.on_cancelled)

    def on_cancelled(self, _frame):
        self.closing = True
        self.channel.close()


def run_select(uri):
    """The workload with SelectConnection; raises on any error."""
    workload = SelectWorkload(uri)
    workload.run()
    if workload.error is not None:
        raise workload.error if isinstance(workload.error, BaseException) \
            else RuntimeError(str(workload.error))
    if not workload.completed:
        raise RuntimeError("the ioloop stopped before the workload completed")


# --- main --------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", choices=["blocking", "select"], required=True)
    args = parser.parse_args()
    name = f"pika-driver ({args.adapter})"
    # pika's own warnings and errors, on standard error.
    logging.basicConfig(level=logging.WARNING, format="pika: %(levelname)s %(name)s: %(message)s")
    uri = os.environ.get("AMQP_URI")
    if not uri:
        print(f"{name}: AMQP_URI is not set", file=sys.stderr)
        return 1
    try:
        if args.adapter == "blocking":
            run_blocking(uri)
        else:
            run_select(uri)
    except Exception as e:  # pylint: disable=broad-except
        print(f"{name}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
