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
        Broker(&["basic.consume-no-ack", "basic.consume-ack"]),
    ),
    (
        "redelivered",
        "implementation",
        Broker(&["basic.redelivered-after-close"]),
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
        Broker(&["basic.consume-no-ack"]),
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
        Broker(&["exchange.declare-required-types"]),
    ),
    (
        "exchange",
        "recommended-types",
        Broker(&["exchange.declare-recommended-types"]),
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
        Broker(&["exchange.default-by-name"]),
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
        Broker(&["exchange.declare-illegal-name"]),
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
        Broker(&["exchange.redeclare-other-durable"]),
    ),
    (
        "exchange.declare.durable",
        "support",
        Broker(&["exchange.declare-durable-and-transient"]),
    ),
    (
        "exchange.declare.auto-delete",
        "amq_exchange_02",
        Broker(&["exchange.auto-delete-delay"]),
    ),
    (
        "exchange.declare.auto-delete",
        "amq_exchange_25",
        Broker(&["exchange.redeclare-other-auto-delete"]),
    ),
    (
        "exchange.delete.exchange",
        "exists",
        Broker(&["exchange.delete-missing"]),
    ),
    (
        "exchange.delete.if-unused",
        "in-use",
        Broker(&["exchange.delete-if-unused-bound"]),
    ),
    (
        "exchange.bind",
        "duplicates",
        Broker(&["exchange.bind-twice"]),
    ),
    (
        "exchange.bind",
        "cyclical",
        Broker(&["exchange.bind-to-itself"]),
    ),
    (
        "exchange.bind",
        "unique",
        Broker(&["exchange.bind-single-delivery"]),
    ),
    (
        "exchange.bind.destination",
        "exchange-existence",
        Broker(&["exchange.bind-missing-destination"]),
    ),
    (
        "exchange.bind.destination",
        "default-exchange",
        Broker(&["exchange.bind-default-destination"]),
    ),
    (
        "exchange.bind.source",
        "exchange-existence",
        Broker(&["exchange.bind-missing-source"]),
    ),
    (
        "exchange.bind.source",
        "default-exchange",
        Broker(&["exchange.bind-default-source"]),
    ),
    (
        "exchange.unbind",
        "01",
        Broker(&["exchange.unbind-missing-binding"]),
    ),
    (
        "exchange.unbind.destination",
        "must-exist",
        Broker(&["exchange.unbind-missing-destination"]),
    ),
    (
        "exchange.unbind.destination",
        "default-exchange",
        Broker(&["exchange.bind-default-destination"]),
    ),
    (
        "exchange.unbind.source",
        "must-exist",
        Broker(&["exchange.unbind-missing-source"]),
    ),
    (
        "exchange.unbind.source",
        "default-exchange",
        Broker(&["exchange.bind-default-source"]),
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
        Broker(&["queue.declare-illegal-name"]),
    ),
    (
        "queue.declare.passive",
        "passive",
        Broker(&["queue.declare-passive-missing"]),
    ),
    (
        "queue.declare.passive",
        "equivalent",
        Broker(&["queue.redeclare-other-durable"]),
    ),
    ("queue.declare.durable", "persistence", NotTestable(RESTART)),
    (
        "queue.declare.durable",
        "types",
        Broker(&["queue.declare-durable-and-transient"]),
    ),
    (
        "queue.declare.exclusive",
        "types",
        Broker(&["queue.declare-exclusive-and-shared"]),
    ),
    (
        "queue.declare.exclusive",
        "exclusive",
        Broker(&["queue.exclusive-other-connection"]),
    ),
    (
        "queue.declare.auto-delete",
        "pre-existence",
        Broker(&["queue.redeclare-other-auto-delete"]),
    ),
    ("queue.bind", "duplicates", Broker(&["queue.bind-twice"])),
    (
        "queue.bind",
        "unique",
        Broker(&["queue.bind-single-delivery"]),
    ),
    (
        "queue.bind",
        "transient-exchange",
        Broker(&["queue.bind-durable-to-transient"]),
    ),
    ("queue.bind", "durable-exchange", NotTestable(RESTART)),
    ("queue.bind", "binding-count", NotTestable(NO_LIMIT)),
    (
        "queue.bind.queue",
        "queue-known",
        Broker(&["queue.blank-name-fresh-channel"]),
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
        Broker(&["queue.bind-default-exchange"]),
    ),
    (
        "queue.bind.routing-key",
        "direct-exchange-key-matching",
        Broker(&["queue.direct-key-matching"]),
    ),
    (
        "queue.unbind",
        "01",
        Broker(&["queue.unbind-missing-binding"]),
    ),
    (
        "queue.unbind.queue",
        "queue-known",
        Broker(&["queue.blank-name-fresh-channel"]),
    ),
    (
        "queue.unbind.queue",
        "must-exist",
        Broker(&["queue.unbind-missing-queue"]),
    ),
    (
        "queue.unbind.exchange",
        "must-exist",
        Broker(&["queue.unbind-missing-exchange"]),
    ),
    (
        "queue.unbind.exchange",
        "default-exchange",
        Broker(&["queue.bind-default-exchange"]),
    ),
    ("queue.purge", "02", Broker(&["queue.purge-keeps-unacked"])),
    ("queue.purge", "03", NotTestable(INTERNAL)),
    ("queue.delete", "01", NotTestable(INTERNAL)),
    (
        "queue.purge.queue",
        "queue-known",
        Broker(&["queue.blank-name-fresh-channel"]),
    ),
    (
        "queue.purge.queue",
        "must-exist",
        Broker(&["queue.purge-missing"]),
    ),
    (
        "queue.delete.queue",
        "queue-known",
        Broker(&["queue.blank-name-fresh-channel"]),
    ),
    (
        "queue.delete.queue",
        "must-exist",
        Broker(&["queue.delete-missing"]),
    ),
    (
        "queue.delete.if-unused",
        "in-use",
        Broker(&["queue.delete-if-unused-consumed"]),
    ),
    (
        "queue.delete.if-empty",
        "not-empty",
        Broker(&["queue.delete-if-empty-not-empty"]),
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
    ("basic", "06", Broker(&["basic.priority-levels"])),
    ("basic", "07", NotTestable(MAY)),
    ("basic", "08", Broker(&["basic.order-mixed-persistence"])),
    ("basic", "09", Broker(&["basic.consume-no-ack"])),
    ("basic", "10", Broker(&["basic.consume-ack"])),
    (
        "basic.qos.prefetch-size",
        "01",
        Broker(&["basic.qos-prefetch-size-single-message"]),
    ),
    (
        "basic.qos.prefetch-count",
        "01",
        Broker(&["basic.qos-prefetch-count"]),
    ),
    ("basic.consume", "01", NotTestable(NO_LIMIT)),
    (
        "basic.consume.consumer-tag",
        "01",
        Broker(&["basic.consume-duplicate-tag"]),
    ),
    (
        "basic.consume.consumer-tag",
        "02",
        Client("cancel a consumer on the channel that created it"),
    ),
    (
        "basic.consume.exclusive",
        "01",
        Broker(&["basic.consume-exclusive-consumed"]),
    ),
    (
        "basic.cancel",
        "01",
        Broker(&["basic.cancel-deleted-queue"]),
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
        Broker(&["basic.publish-internal-exchange"]),
    ),
    (
        "basic.publish.exchange",
        "03",
        NotTestable("a broker that accepts basic content has nothing to show"),
    ),
    (
        "basic.publish.mandatory",
        "01",
        Broker(&["basic.publish-mandatory-unroutable"]),
    ),
    (
        "basic.publish.immediate",
        "01",
        Broker(&["basic.publish-immediate-no-consumer"]),
    ),
    (
        "basic.deliver",
        "01",
        NotTestable(
            "the number of redeliveries that makes a message unprocessable is the broker's choice, and the dead letter queue it moves to is not defined by the protocol: nothing to look at, and no point at which its absence is a failure",
        ),
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
        Broker(&["basic.reject-requeue-not-same-channel"]),
    ),
    (
        "basic.recover-async",
        "01",
        Broker(&["basic.recover-async-redelivered"]),
    ),
    (
        "basic.recover",
        "01",
        Broker(&["basic.recover-redelivered"]),
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
        Broker(&["basic.nack-unknown-tag"]),
    ),
    (
        "basic.nack.requeue",
        "01",
        Broker(&["basic.nack-requeue-not-same-channel"]),
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
        Broker(&["confirm.publishes-acked"]),
    ),
    (
        "confirm",
        "all queues",
        NotTestable("needs to observe queue internals at the moment of the ack"),
    ),
    (
        "confirm",
        "unroutable messages",
        Broker(&["confirm.unroutable-return-before-ack"]),
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
