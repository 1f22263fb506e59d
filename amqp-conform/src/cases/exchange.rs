//! Exchange rules (class `exchange`).

use amqp_protocol::{basic, channel, exchange, queue, Frame, FramePayload, Method, ReplyCode};

use super::common::{
    bind, exchange_exists, exclusive_queue, expect_connection_exception, xdeclare,
    CHANNEL_EXCEPTIONS,
};

use crate::case::{fail, Case, CaseResult, Ctx, Level};
use crate::wire::{short, Conn, Event};

fn declare(name: &str, kind: &str, passive: bool) -> Result<exchange::Declare, crate::Check> {
    Ok(exchange::Declare {
        exchange: short(name)?,
        kind: short(kind)?,
        passive,
        ..Default::default()
    })
}

/// Sends `method` on a fresh channel 1; the broker must close that channel
/// with `code`.
pub(super) fn channel_error(
    ctx: &mut Ctx,
    method: impl Into<Method>,
    code: ReplyCode,
) -> CaseResult {
    let mut c = Conn::open(ctx)?;
    c.open_channel(1)?;
    c.send(1, method)?;
    c.expect_channel_close(1, &[code])?;
    c.close()
}

/// The exchange cases.
pub(crate) static CASES: &[Case] = &[
    Case {
        id: "exchange.standard-instances",
        class: "exchange",
        title: "amq.direct and amq.fanout exist (passive declare succeeds)",
        rules: &[("exchange", "required-instances")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            for (name, kind) in [("amq.direct", "direct"), ("amq.fanout", "fanout")] {
                c.call::<exchange::DeclareOk>(1, declare(name, kind, true)?)?;
            }
            c.close()
        },
    },
    Case {
        id: "exchange.declare-passive-missing",
        class: "exchange",
        title: "passive exchange.declare of a missing exchange: channel.close 404 not-found",
        rules: &[("exchange.declare.passive", "not-found")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.name("missing");
            channel_error(ctx, declare(&name, "direct", true)?, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.declare-reserved-name",
        class: "exchange",
        title: "exchange.declare of a new amq.* name: channel.close 403 access-refused",
        rules: &[("exchange.declare.exchange", "reserved")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            // Not registered for cleanup: the broker must refuse to create it.
            let name = format!("amq.{}", ctx.name("reserved"));
            channel_error(
                ctx,
                declare(&name, "direct", false)?,
                ReplyCode::ACCESS_REFUSED,
            )
        },
    },
    Case {
        id: "exchange.declare-unknown-type",
        class: "exchange",
        title: "exchange.declare with an unknown type: connection.close 503 command-invalid",
        rules: &[("exchange.declare.type", "support")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.exchange("unknown-type");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.send(1, declare(&name, "no-such-type", false)?)?;
            c.expect_connection_close(&[ReplyCode::COMMAND_INVALID])
        },
    },
    Case {
        id: "exchange.redeclare-other-type",
        class: "exchange",
        title: "redeclaring a direct exchange as fanout: connection.close 530 not-allowed",
        rules: &[("exchange.declare.type", "typed")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 406 (precondition-failed,
        // "inequivalent arg 'type'") instead.
        run: |ctx| {
            let name = ctx.exchange("typed");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, declare(&name, "direct", false)?)?;
            c.send(1, declare(&name, "fanout", false)?)?;
            c.expect_connection_close(&[ReplyCode::NOT_ALLOWED])
        },
    },
    Case {
        id: "exchange.delete-missing",
        class: "exchange",
        title: "exchange.delete of a missing exchange: channel.close 404 not-found",
        rules: &[("exchange.delete.exchange", "exists")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers delete-ok: deletion is idempotent there.
        run: |ctx| {
            let name = ctx.name("missing");
            let delete = exchange::Delete {
                exchange: short(&name)?,
                ..Default::default()
            };
            channel_error(ctx, delete, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.declare-required-types",
        class: "exchange",
        title: "exchange.declare of a fanout and a direct exchange: declare-ok for each",
        rules: &[("exchange", "required-types")],
        reference: "",
        level: Level::Must,
        run: |ctx| declare_types(ctx, &["fanout", "direct"]),
    },
    Case {
        id: "exchange.declare-recommended-types",
        class: "exchange",
        title: "exchange.declare of a topic and a headers exchange: declare-ok for each",
        rules: &[("exchange", "recommended-types")],
        reference: "",
        level: Level::Should,
        run: |ctx| declare_types(ctx, &["topic", "headers"]),
    },
    Case {
        id: "exchange.default-by-name",
        class: "exchange",
        title: "basic.publish to \"amq.default\" with a queue's name: the message does not reach the queue",
        rules: &[("exchange", "default-access")],
        reference: "",
        level: Level::Must,
        // The default exchange may be reached only by the empty name: a
        // broker that routes through "amq.default" lets clients access it
        // by another name.
        run: |ctx| {
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            let q = exclusive_queue(&mut c, 1)?;
            c.open_channel(2)?;
            c.publish(2, "amq.default", &q, b"by name")?;
            c.send(2, basic::Get { queue: short(&q)?, no_ack: true, ..Default::default() })?;
            // Either the publish closes channel 2 (no such exchange), or it
            // is not routed: channel 1 must find the queue empty.
            let expected = "channel.close on channel 2, or basic.get-empty there";
            match c.recv() {
                Event::Frame(Frame { channel: 2, payload: FramePayload::Method(Method::ChannelClose(_)) }) => {
                    c.send(2, channel::CloseOk)?;
                }
                Event::Frame(Frame { channel: 2, payload: FramePayload::Method(Method::BasicGetEmpty(_)) }) => {}
                other => return Err(fail(expected, other.describe())),
            }
            match c.get(1, &q, true)? {
                None => c.close(),
                Some(_) => Err(fail("the queue empty", "the message published to \"amq.default\" is in the queue")),
            }
        },
    },
    Case {
        id: "exchange.declare-illegal-name",
        class: "exchange",
        title: "exchange.declare of a name with a space and a '!': channel.close 406 precondition-failed",
        rules: &[("exchange.declare.exchange", "syntax")],
        reference: "",
        // The rule states the syntax of the exchange-name domain and names
        // its on-failure code: a requirement, though it has no keyword.
        level: Level::Must,
        // RabbitMQ 3.10 answers declare-ok: it does not enforce the syntax.
        run: |ctx| {
            // Registered for cleanup in case the broker creates it.
            let name = ctx.exchange("illegal name!");
            channel_error(ctx, declare(&name, "direct", false)?, ReplyCode::PRECONDITION_FAILED)
        },
    },
    Case {
        id: "exchange.redeclare-other-durable",
        class: "exchange",
        title: "exchange.declare again, same fields: declare-ok; then durable instead of transient: a channel exception",
        rules: &[("exchange.declare.passive", "equivalent")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.exchange("equivalent");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&name, "direct")?)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&name, "direct")?)?;
            c.send(1, exchange::Declare { durable: true, ..xdeclare(&name, "direct")? })?;
            c.expect_channel_close(1, CHANNEL_EXCEPTIONS)?;
            c.close()
        },
    },
    Case {
        id: "exchange.declare-durable-and-transient",
        class: "exchange",
        title: "exchange.declare of a durable and a transient exchange: declare-ok for each, and both exist",
        rules: &[("exchange.declare.durable", "support")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let durable = ctx.exchange("durable");
            let transient = ctx.exchange("transient");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, exchange::Declare { durable: true, ..xdeclare(&durable, "direct")? })?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&transient, "direct")?)?;
            exchange_exists(&mut c, 1, &durable)?;
            exchange_exists(&mut c, 1, &transient)?;
            c.close()
        },
    },
    Case {
        id: "exchange.auto-delete-delay",
        class: "exchange",
        title: "an auto-delete exchange, then a queue bound to it 200 ms later: bind-ok",
        rules: &[("exchange.declare.auto-delete", "amq_exchange_02")],
        reference: "",
        level: Level::Should,
        run: |ctx| {
            let name = ctx.exchange("auto-delete");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, exchange::Declare { auto_delete: true, ..xdeclare(&name, "direct")? })?;
            std::thread::sleep(std::time::Duration::from_millis(200));
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, &name, "k")?;
            c.close()
        },
    },
    Case {
        id: "exchange.redeclare-other-auto-delete",
        class: "exchange",
        title: "redeclaring an exchange with auto-delete set: declare-ok, and the exchange keeps its first flag",
        rules: &[("exchange.declare.auto-delete", "amq_exchange_25")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 406 ("inequivalent arg 'auto_delete'").
        run: |ctx| {
            let name = ctx.exchange("auto-delete-ignored");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&name, "direct")?)?;
            c.call::<exchange::DeclareOk>(1, exchange::Declare { auto_delete: true, ..xdeclare(&name, "direct")? })?;
            // Had the flag been taken, removing the only binding would
            // delete the exchange.
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, &name, "k")?;
            c.call::<queue::UnbindOk>(1, queue::Unbind { queue: short(&q)?, exchange: short(&name)?, routing_key: short("k")?, ..Default::default() })?;
            exchange_exists(&mut c, 1, &name)?;
            c.close()
        },
    },
    Case {
        id: "exchange.delete-if-unused-bound",
        class: "exchange",
        title: "exchange.delete if-unused of an exchange with a binding: channel.close 406, and it still exists",
        rules: &[("exchange.delete.if-unused", "in-use")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let name = ctx.exchange("in-use");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&name, "direct")?)?;
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, &name, "k")?;
            c.send(1, exchange::Delete { exchange: short(&name)?, if_unused: true, ..Default::default() })?;
            c.expect_channel_close(1, &[ReplyCode::PRECONDITION_FAILED])?;
            c.open_channel(2)?;
            exchange_exists(&mut c, 2, &name)?;
            c.close()
        },
    },
    Case {
        id: "exchange.bind-twice",
        class: "exchange",
        title: "the same exchange.bind twice: bind-ok both times",
        rules: &[("exchange.bind", "duplicates")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let (s, d) = (ctx.exchange("source"), ctx.exchange("destination"));
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&s, "direct")?)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&d, "direct")?)?;
            xbind(&mut c, &d, &s, "k")?;
            xbind(&mut c, &d, &s, "k")?;
            c.close()
        },
    },
    Case {
        id: "exchange.bind-to-itself",
        class: "exchange",
        title: "exchange.bind of an exchange to itself: bind-ok",
        rules: &[("exchange.bind", "cyclical")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let x = ctx.exchange("cycle");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&x, "direct")?)?;
            xbind(&mut c, &x, &x, "k")?;
            c.close()
        },
    },
    Case {
        id: "exchange.bind-single-delivery",
        class: "exchange",
        title: "an exchange bound to a topic exchange three ways, one message matching all: queued once behind it",
        rules: &[("exchange.bind", "unique")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let (s, d) = (ctx.exchange("topic"), ctx.exchange("destination"));
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&s, "topic")?)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&d, "fanout")?)?;
            let q = exclusive_queue(&mut c, 1)?;
            bind(&mut c, 1, &q, &d, "")?;
            for key in ["a.b", "a.*", "#"] {
                xbind(&mut c, &d, &s, key)?;
            }
            c.publish(1, &s, "a.b", b"once")?;
            if c.get(1, &q, true)?.is_none() {
                return Err(fail("the message in the queue", "basic.get-empty"));
            }
            match c.get(1, &q, true)? {
                None => c.close(),
                Some(_) => Err(fail("one copy of the message", "a second copy in the queue")),
            }
        },
    },
    Case {
        id: "exchange.bind-missing-destination",
        class: "exchange",
        title: "exchange.bind of a missing destination exchange: channel.close 404 not-found",
        rules: &[("exchange.bind.destination", "exchange-existence")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let missing = ctx.name("missing");
            let bind = exchange::Bind { destination: short(&missing)?, source: short("amq.direct")?, routing_key: short("k")?, ..Default::default() };
            channel_error(ctx, bind, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.bind-missing-source",
        class: "exchange",
        title: "exchange.bind to a missing source exchange: channel.close 404 not-found",
        rules: &[("exchange.bind.source", "exchange-existence")],
        reference: "",
        level: Level::Must,
        run: |ctx| {
            let missing = ctx.name("missing");
            let bind = exchange::Bind { destination: short("amq.direct")?, source: short(&missing)?, routing_key: short("k")?, ..Default::default() };
            channel_error(ctx, bind, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.bind-default-destination",
        class: "exchange",
        title: "exchange.bind and exchange.unbind with a blank destination (the default exchange): bind-ok, unbind-ok",
        rules: &[
            ("exchange.bind.destination", "default-exchange"),
            ("exchange.unbind.destination", "default-exchange"),
        ],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 403: no bindings to or from the default exchange.
        run: |ctx| {
            let s = ctx.exchange("source");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&s, "direct")?)?;
            xbind(&mut c, "", &s, "k")?;
            xunbind(&mut c, "", &s, "k")?;
            c.close()
        },
    },
    Case {
        id: "exchange.bind-default-source",
        class: "exchange",
        title: "exchange.bind and exchange.unbind with a blank source (the default exchange): bind-ok, unbind-ok",
        rules: &[
            ("exchange.bind.source", "default-exchange"),
            ("exchange.unbind.source", "default-exchange"),
        ],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 closes the channel with 403: no bindings to or from the default exchange.
        run: |ctx| {
            let d = ctx.exchange("destination");
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&d, "direct")?)?;
            xbind(&mut c, &d, "", "k")?;
            xunbind(&mut c, &d, "", "k")?;
            c.close()
        },
    },
    Case {
        id: "exchange.unbind-missing-binding",
        class: "exchange",
        title: "exchange.unbind of a binding that does not exist, between existing exchanges: a connection exception",
        rules: &[("exchange.unbind", "01")],
        reference: "",
        level: Level::Must,
        // A missing source or destination has rules of its own (404, a
        // channel exception); the failure left to this rule is a binding
        // that is not there.
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let (s, d) = (ctx.exchange("source"), ctx.exchange("destination"));
            let mut c = Conn::open(ctx)?;
            c.open_channel(1)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&s, "direct")?)?;
            c.call::<exchange::DeclareOk>(1, xdeclare(&d, "direct")?)?;
            c.send(1, exchange::Unbind { destination: short(&d)?, source: short(&s)?, routing_key: short("never-bound")?, ..Default::default() })?;
            expect_connection_exception(&mut c)
        },
    },
    Case {
        id: "exchange.unbind-missing-destination",
        class: "exchange",
        title: "exchange.unbind of a missing destination exchange: channel.close 404 not-found",
        rules: &[("exchange.unbind.destination", "must-exist")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let missing = ctx.name("missing");
            let unbind = exchange::Unbind { destination: short(&missing)?, source: short("amq.direct")?, routing_key: short("k")?, ..Default::default() };
            channel_error(ctx, unbind, ReplyCode::NOT_FOUND)
        },
    },
    Case {
        id: "exchange.unbind-missing-source",
        class: "exchange",
        title: "exchange.unbind from a missing source exchange: channel.close 404 not-found",
        rules: &[("exchange.unbind.source", "must-exist")],
        reference: "",
        level: Level::Must,
        // RabbitMQ 3.10 answers unbind-ok: unbinding is idempotent there.
        run: |ctx| {
            let missing = ctx.name("missing");
            let unbind = exchange::Unbind { destination: short("amq.direct")?, source: short(&missing)?, routing_key: short("k")?, ..Default::default() };
            channel_error(ctx, unbind, ReplyCode::NOT_FOUND)
        },
    },
];

/// Declares an exchange of each kind, checks it exists, and leaves it for
/// the cleanup.
fn declare_types(ctx: &mut Ctx, kinds: &[&str]) -> CaseResult {
    let names: Vec<String> = kinds.iter().map(|k| ctx.exchange(k)).collect();
    let mut c = Conn::open(ctx)?;
    c.open_channel(1)?;
    for (name, kind) in names.iter().zip(kinds) {
        c.call::<exchange::DeclareOk>(1, xdeclare(name, kind)?)?;
        exchange_exists(&mut c, 1, name)?;
    }
    c.close()
}

/// `exchange.bind` of `destination` to `source` on channel 1, and its `bind-ok`.
fn xbind(c: &mut Conn, destination: &str, source: &str, key: &str) -> Result<(), crate::Check> {
    c.call::<exchange::BindOk>(
        1,
        exchange::Bind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(key)?,
            ..Default::default()
        },
    )
    .map(drop)
}

/// `exchange.unbind` on channel 1, and its `unbind-ok`.
fn xunbind(c: &mut Conn, destination: &str, source: &str, key: &str) -> Result<(), crate::Check> {
    c.call::<exchange::UnbindOk>(
        1,
        exchange::Unbind {
            destination: short(destination)?,
            source: short(source)?,
            routing_key: short(key)?,
            ..Default::default()
        },
    )
    .map(drop)
}
