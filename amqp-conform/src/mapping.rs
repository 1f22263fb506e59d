//! Where each rule of the specification is tested: by broker cases, by the
//! client mode (what a client must do), or nowhere, and why.

use Mapping::{Broker, Client, NotTestable, Pending};

/// How one rule is covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// Broker cases that test it.
    Broker(&'static [&'static str]),
    /// Testable against a broker, but no case is written yet: what it would do.
    Pending(&'static str),
    /// A requirement on clients: what the client must do (for the client mode).
    Client(&'static str),
    /// Not testable over the wire: why.
    NotTestable(&'static str),
}

impl Mapping {
    /// `broker`, `pending`, `client` or `untestable`.
    pub fn category(&self) -> &'static str {
        match self {
            Broker(_) => "broker",
            Pending(_) => "pending",
            Client(_) => "client",
            NotTestable(_) => "untestable",
        }
    }
}

const RESTART: &str = "needs a broker restart, which a client cannot cause";
const NO_LIMIT: &str = "a resource minimum: testing it means creating the resources, and a SHOULD with \"ideally no limit\" has no failure to observe";
const INTERNAL: &str = "about the broker's internal storage or policy, invisible on the wire";
const MAY: &str = "a permission (MAY): nothing to fail";

/// Every rule of [`RULES`](amqp_protocol::RULES), by (path, name).
pub static MAPPING: &[(&str, &str, Mapping)] = &[
    (
        "delivery-tag",
        "channel-local",
        Client("acknowledge a delivery only on the channel it arrived on"),
    ),
    (
        "delivery-tag",
        "non-zero",
        Pending("deliveries and get-oks carry non-zero delivery tags"),
    ),
    (
        "redelivered",
        "implementation",
        Pending("a rejected, requeued message comes back with redelivered set"),
    ),
    (
        "redelivered",
        "hinting",
        Client("treat redelivered as a hint, never as proof of a duplicate"),
    ),
    (
        "connection.start",
        "protocol-name",
        Broker(&[
            "framing.header-wrong-version",
            "framing.header-wrong-protocol-id",
            "framing.header-garbage",
        ]),
    ),
    (
        "connection.start",
        "server-support",
        Broker(&[
            "connection.start-version",
            "framing.header-wrong-version",
            "framing.header-wrong-protocol-id",
            "framing.header-garbage",
        ]),
    ),
    (
        "connection.start",
        "client-support",
        Client(
            "close the socket, sending nothing, when the broker's version is not one it handles",
        ),
    ),
    (
        "connection.start.server-properties",
        "required-fields",
        Broker(&["connection.start-server-properties"]),
    ),
    (
        "connection.start.locales",
        "required-support",
        Broker(&["connection.start-locales"]),
    ),
    (
        "connection.start-ok.client-properties",
        "required-fields",
        Client("send product, version, platform, copyright and information"),
    ),
    (
        "connection.start-ok.mechanism",
        "security",
        Client("choose the strongest mechanism it supports among those offered"),
    ),
    (
        "connection.start-ok.mechanism",
        "validity",
        Broker(&["connection.unknown-mechanism"]),
    ),
    (
        "connection.tune.frame-max",
        "minimum",
        Broker(&["connection.frame-min-size-accepted"]),
    ),
    (
        "connection.tune-ok.channel-max",
        "upper-limit",
        Broker(&["connection.tune-ok-channel-max-above"]),
    ),
    (
        "connection.tune-ok.frame-max",
        "minimum",
        Broker(&[
            "connection.frame-min-size-accepted",
            "connection.tune-ok-frame-max-below-minimum",
        ]),
    ),
    (
        "connection.tune-ok.frame-max",
        "upper-limit",
        Broker(&["connection.tune-ok-frame-max-above"]),
    ),
    (
        "connection.open.virtual-host",
        "separation",
        NotTestable(
            "needs two virtual hosts and permissions on both, which the protocol cannot create",
        ),
    ),
    (
        "connection.open.virtual-host",
        "security",
        Broker(&["connection.unknown-vhost"]),
    ),
    (
        "connection.close",
        "stability",
        Broker(&["connection.close-by-server", "connection.close-crossed"]),
    ),
    (
        "connection.close-ok",
        "reporting",
        NotTestable("about the peer's logging"),
    ),
    ("channel.open", "state", Broker(&["channel.open-twice"])),
    (
        "channel.flow",
        "initial-state",
        Pending(
            "a message published to a consumer on a new channel is delivered without channel.flow",
        ),
    ),
    (
        "channel.flow",
        "bidirectional",
        Client("answer the broker's channel.flow promptly while publishing"),
    ),
    ("channel.flow", "throttling", NotTestable(MAY)),
    ("channel.flow", "expected-behaviour", NotTestable(MAY)),
    (
        "channel.close",
        "stability",
        Broker(&["channel.close-by-server"]),
    ),
    (
        "channel.close-ok",
        "reporting",
        NotTestable("about the peer's logging"),
    ),
    (
        "exchange",
        "required-types",
        Pending("declaring fanout and direct exchanges succeeds"),
    ),
    (
        "exchange",
        "recommended-types",
        Pending("declaring topic and headers exchanges succeeds"),
    ),
    (
        "exchange",
        "required-instances",
        Broker(&["exchange.standard-instances"]),
    ),
    (
        "exchange",
        "default-exchange",
        Broker(&["queue.default-binding"]),
    ),
    (
        "exchange",
        "default-access",
        Pending("queue.bind to the default exchange is refused"),
    ),
    ("exchange", "extensions", NotTestable(MAY)),
    ("exchange.declare", "minimum", NotTestable(NO_LIMIT)),
    (
        "exchange.declare.exchange",
        "reserved",
        Broker(&["exchange.declare-reserved-name"]),
    ),
    (
        "exchange.declare.exchange",
        "syntax",
        Pending("declaring an exchange named with a space is refused with 406"),
    ),
    (
        "exchange.declare.type",
        "typed",
        Broker(&["exchange.redeclare-other-type"]),
    ),
    (
        "exchange.declare.type",
        "support",
        Broker(&["exchange.declare-unknown-type"]),
    ),
    (
        "exchange.declare.passive",
        "not-found",
        Broker(&["exchange.declare-passive-missing"]),
    ),
    (
        "exchange.declare.passive",
        "equivalent",
        Pending("redeclaring with another durable flag closes the channel"),
    ),
    (
        "exchange.declare.durable",
        "support",
        Pending("declaring a durable and a transient exchange succeeds"),
    ),
    (
        "exchange.declare.auto-delete",
        "amq_exchange_02",
        Pending("an auto-delete exchange survives until a queue is bound to it"),
    ),
    (
        "exchange.declare.auto-delete",
        "amq_exchange_25",
        Pending("redeclaring an exchange with another auto-delete flag succeeds"),
    ),
    (
        "exchange.delete.exchange",
        "exists",
        Broker(&["exchange.delete-missing"]),
    ),
    (
        "exchange.delete.if-unused",
        "in-use",
        Pending("exchange.delete if-unused of a bound exchange closes the channel with 406"),
    ),
    (
        "exchange.bind",
        "duplicates",
        Pending("the same exchange.bind twice succeeds"),
    ),
    (
        "exchange.bind",
        "cyclical",
        Pending("an exchange bound to itself succeeds"),
    ),
    (
        "exchange.bind",
        "unique",
        Pending("a message reaches a destination exchange once over two routes"),
    ),
    (
        "exchange.bind.destination",
        "exchange-existence",
        Pending("binding a missing destination exchange closes the channel with 404"),
    ),
    (
        "exchange.bind.destination",
        "default-exchange",
        Pending("a blank destination means the default exchange"),
    ),
    (
        "exchange.bind.source",
        "exchange-existence",
        Pending("binding from a missing source exchange closes the channel with 404"),
    ),
    (
        "exchange.bind.source",
        "default-exchange",
        Pending("a blank source means the default exchange"),
    ),
    (
        "exchange.unbind",
        "01",
        Pending("a failed exchange.unbind raises a connection exception"),
    ),
    (
        "exchange.unbind.destination",
        "must-exist",
        Pending("unbinding a missing destination closes the channel with 404"),
    ),
    (
        "exchange.unbind.destination",
        "default-exchange",
        Pending("a blank destination means the default exchange"),
    ),
    (
        "exchange.unbind.source",
        "must-exist",
        Pending("unbinding from a missing source closes the channel with 404"),
    ),
    (
        "exchange.unbind.source",
        "default-exchange",
        Pending("a blank source means the default exchange"),
    ),
    (
        "queue.declare",
        "default-binding",
        Broker(&["queue.default-binding"]),
    ),
    ("queue.declare", "minimum-queues", NotTestable(NO_LIMIT)),
    (
        "queue.declare.queue",
        "default-name",
        Broker(&["queue.declare-generated-name"]),
    ),
    (
        "queue.declare.queue",
        "reserved",
        Broker(&["queue.declare-reserved-name"]),
    ),
    (
        "queue.declare.queue",
        "syntax",
        Pending("declaring a queue named with a space is refused with 406"),
    ),
    (
        "queue.declare.passive",
        "passive",
        Broker(&["queue.declare-passive-missing"]),
    ),
    (
        "queue.declare.passive",
        "equivalent",
        Pending("redeclaring with another durable flag closes the channel"),
    ),
    ("queue.declare.durable", "persistence", NotTestable(RESTART)),
    (
        "queue.declare.durable",
        "types",
        Pending("declaring a durable and a transient queue succeeds"),
    ),
    (
        "queue.declare.exclusive",
        "types",
        Pending("declaring an exclusive and a shared queue succeeds"),
    ),
    (
        "queue.declare.exclusive",
        "exclusive",
        Pending("using another connection's exclusive queue closes the channel with 405"),
    ),
    (
        "queue.declare.auto-delete",
        "pre-existence",
        Pending("redeclaring a queue with another auto-delete flag succeeds"),
    ),
    (
        "queue.bind",
        "duplicates",
        Pending("the same queue.bind twice succeeds"),
    ),
    (
        "queue.bind",
        "unique",
        Pending("a message matching two bindings is queued once"),
    ),
    (
        "queue.bind",
        "transient-exchange",
        Pending("binding a durable queue to a transient exchange succeeds"),
    ),
    ("queue.bind", "durable-exchange", NotTestable(RESTART)),
    ("queue.bind", "binding-count", NotTestable(NO_LIMIT)),
    (
        "queue.bind.queue",
        "queue-known",
        Pending("queue.bind with a blank queue on a fresh channel closes it with 404"),
    ),
    (
        "queue.bind.queue",
        "must-exist",
        Broker(&["queue.bind-missing-queue"]),
    ),
    (
        "queue.bind.exchange",
        "exchange-existence",
        Broker(&["queue.bind-missing-exchange"]),
    ),
    (
        "queue.bind.exchange",
        "default-exchange",
        Pending("binding to the blank exchange name means the default exchange"),
    ),
    (
        "queue.bind.routing-key",
        "direct-exchange-key-matching",
        Pending("a message published with the binding key reaches the queue"),
    ),
    (
        "queue.unbind",
        "01",
        Pending("a failed queue.unbind raises a connection exception"),
    ),
    (
        "queue.unbind.queue",
        "queue-known",
        Pending("queue.unbind with a blank queue on a fresh channel closes it with 404"),
    ),
    (
        "queue.unbind.queue",
        "must-exist",
        Pending("unbinding a missing queue closes the channel with 404"),
    ),
    (
        "queue.unbind.exchange",
        "must-exist",
        Pending("unbinding from a missing exchange closes the channel with 404"),
    ),
    (
        "queue.unbind.exchange",
        "default-exchange",
        Pending("a blank exchange name means the default exchange"),
    ),
    (
        "queue.purge",
        "02",
        Pending("a message got but not acknowledged survives a purge"),
    ),
    ("queue.purge", "03", NotTestable(INTERNAL)),
    ("queue.delete", "01", NotTestable(INTERNAL)),
    (
        "queue.purge.queue",
        "queue-known",
        Pending("queue.purge with a blank queue on a fresh channel closes it with 404"),
    ),
    (
        "queue.purge.queue",
        "must-exist",
        Broker(&["queue.purge-missing"]),
    ),
    (
        "queue.delete.queue",
        "queue-known",
        Pending("queue.delete with a blank queue on a fresh channel closes it with 404"),
    ),
    (
        "queue.delete.queue",
        "must-exist",
        Broker(&["queue.delete-missing"]),
    ),
    (
        "queue.delete.if-unused",
        "in-use",
        Pending("queue.delete if-unused of a consumed queue closes the channel with 406"),
    ),
    (
        "queue.delete.if-empty",
        "not-empty",
        Pending("queue.delete if-empty of a queue holding a message closes the channel with 406"),
    ),
    ("basic", "01", NotTestable(INTERNAL)),
    (
        "basic",
        "02",
        NotTestable("needs a queue overflow policy, which the protocol cannot configure"),
    ),
    ("basic", "03", NotTestable(MAY)),
    ("basic", "04", NotTestable(MAY)),
    ("basic", "05", NotTestable(MAY)),
    (
        "basic",
        "06",
        Pending("two messages of priority 1 and 7 are delivered highest first"),
    ),
    ("basic", "07", NotTestable(MAY)),
    (
        "basic",
        "08",
        Pending("persistent and transient messages of one priority keep their order"),
    ),
    (
        "basic",
        "09",
        Pending("a no-ack consumer receives a message"),
    ),
    (
        "basic",
        "10",
        Pending("an acknowledging consumer receives a message and acks it"),
    ),
    (
        "basic.qos.prefetch-size",
        "01",
        Pending("a message larger than prefetch-size is still delivered"),
    ),
    (
        "basic.qos.prefetch-count",
        "01",
        Pending("with prefetch-count 1, a second message waits for the first ack"),
    ),
    ("basic.consume", "01", NotTestable(NO_LIMIT)),
    (
        "basic.consume.consumer-tag",
        "01",
        Pending("a second consume with the same tag closes the connection with 530"),
    ),
    (
        "basic.consume.consumer-tag",
        "02",
        Client("cancel a consumer on the channel that created it"),
    ),
    (
        "basic.consume.exclusive",
        "01",
        Pending("an exclusive consume on a consumed queue closes the channel with 403"),
    ),
    (
        "basic.cancel",
        "01",
        Pending("cancelling a consumer of a deleted queue gets cancel-ok"),
    ),
    (
        "basic.publish.exchange",
        "must-exist",
        Broker(&["basic.publish-missing-exchange"]),
    ),
    (
        "basic.publish.exchange",
        "default-exchange",
        Broker(&["queue.default-binding"]),
    ),
    (
        "basic.publish.exchange",
        "02",
        Pending("publishing to an internal exchange closes the channel with 403"),
    ),
    (
        "basic.publish.exchange",
        "03",
        NotTestable("a broker that accepts basic content has nothing to show"),
    ),
    (
        "basic.publish.mandatory",
        "01",
        Pending("an unroutable mandatory message comes back in basic.return 312"),
    ),
    (
        "basic.publish.immediate",
        "01",
        Pending("an immediate message to a queue without consumers comes back in basic.return 313"),
    ),
    (
        "basic.deliver",
        "01",
        Pending("a message rejected with requeue again and again is eventually dead-lettered"),
    ),
    (
        "basic.ack.multiple",
        "exists",
        Broker(&["basic.ack-unknown-tag"]),
    ),
    (
        "basic.reject",
        "01",
        NotTestable(
            "needs a delivery in progress, which a broker sends too fast to interrupt reliably",
        ),
    ),
    (
        "basic.reject",
        "02",
        NotTestable("about the broker's interpretation, not observable"),
    ),
    (
        "basic.reject",
        "03",
        Client("never reject as a way to pick messages"),
    ),
    (
        "basic.reject.requeue",
        "01",
        Pending("a rejected message is not delivered again to the same consumer on the channel"),
    ),
    (
        "basic.recover-async",
        "01",
        Pending("messages resent by recover-async have redelivered set"),
    ),
    (
        "basic.recover",
        "01",
        Pending("messages resent by recover have redelivered set"),
    ),
    (
        "basic.nack",
        "01",
        NotTestable(
            "needs a delivery in progress, which a broker sends too fast to interrupt reliably",
        ),
    ),
    (
        "basic.nack",
        "02",
        NotTestable("about the broker's interpretation, not observable"),
    ),
    (
        "basic.nack",
        "03",
        Client("never nack as a way to pick messages"),
    ),
    (
        "basic.nack",
        "04",
        Client("handle a basic.nack in confirm mode"),
    ),
    (
        "basic.nack.multiple",
        "exists",
        Pending("nacking an unknown delivery tag closes the channel with 406"),
    ),
    (
        "basic.nack.requeue",
        "01",
        Pending("a nacked message is not delivered again to the same consumer on the channel"),
    ),
    (
        "tx",
        "not multiple queues",
        Client("do not rely on atomic transactions across queues"),
    ),
    (
        "tx",
        "not immediate",
        Client("do not rely on transactions with immediate messages"),
    ),
    (
        "tx",
        "not mandatory",
        Client("do not rely on transactions with mandatory messages"),
    ),
    (
        "tx.commit",
        "transacted",
        Broker(&["tx.commit-not-transacted"]),
    ),
    (
        "tx.rollback",
        "transacted",
        Broker(&["tx.rollback-not-transacted"]),
    ),
    (
        "confirm",
        "all messages acknowledged",
        Pending("every publish after confirm.select is acknowledged"),
    ),
    (
        "confirm",
        "all queues",
        NotTestable("needs to observe queue internals at the moment of the ack"),
    ),
    (
        "confirm",
        "unroutable messages",
        Pending("an unroutable mandatory message: basic.return before basic.ack"),
    ),
    (
        "confirm",
        "time guarantees",
        Client("make no assumption about how soon a publish is confirmed"),
    ),
];

/// The mapping of the rule at `path` named `name`.
pub fn mapping(path: &str, name: &str) -> Option<Mapping> {
    MAPPING
        .iter()
        .find(|(p, n, _)| *p == path && *n == name)
        .map(|(_, _, m)| *m)
}
